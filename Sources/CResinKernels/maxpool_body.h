// The 2-D max pool, written once over a vector type and compiled by each instruction set's file
// (maxpool_portable.c, maxpool_avx2.c, maxpool_avx512.c) with its own width, loads and target attribute.
//
// The including file defines: MP_NAME(x) (appends the set's suffix), MP_TARGET (its target attribute, empty for
// the portable one), vf and MP_W (the vector type and its floats), VLOAD(p), VSTORE(p, v), VMAX(acc, x) (the
// maximum, NaN in either giving NaN), VEVEN(p) (the even floats of the 2 MP_W floats at p) and smax(acc, x),
// the scalar VMAX.
//
// One output row at a time, in two passes. First the vertical maximum of the window's input rows, column by
// column, into a stack row that holds -infinity in the padding on both sides; then each output is the maximum
// of its kernel_width taps along that row, which needs no bounds test. Every input float is loaded once per
// output row that reads it, in whole vectors along the row; stride 2 (ResNet's stem pool) takes the even
// floats of two vectors per tap. ResNet-50's pool, 64 planes of 112x112 to 56x56, took 0.69 ms in the Swift
// loop that updates a row per tap (2 threads).
//
// The maximum is taken column by column, then along the row, so among equal values (only +0 and -0 differ)
// the one kept may differ from a row-major scan's first; NaN propagates whatever the order.

static MP_TARGET void MP_NAME(vertical)(const float *plane, long width, const long *rows, long count, float *line) {
    if (count == 0) {
        for (long x = 0; x < width; x++) line[x] = -INFINITY;
        return;
    }
    const float *first = plane + rows[0] * width;
    long x = 0;
    for (; x + MP_W <= width; x += MP_W) {
        vf acc = VLOAD(first + x);
        for (long r = 1; r < count; r++) acc = VMAX(acc, VLOAD(plane + rows[r] * width + x));
        VSTORE(line + x, acc);
    }
    for (; x < width; x++) {
        float acc = first[x];
        for (long r = 1; r < count; r++) acc = smax(acc, plane[rows[r] * width + x]);
        line[x] = acc;
    }
}

// out[o] = max over taps t of padded[o * stride + t * dilation], o < count.
static MP_TARGET void MP_NAME(horizontal)(const float *padded, long count, long stride, long taps, long dilation, float *out) {
    long o = 0;
    if (stride == 1) {
        for (; o + MP_W <= count; o += MP_W) {
            vf acc = VLOAD(padded + o);
            for (long t = 1; t < taps; t++) acc = VMAX(acc, VLOAD(padded + o + t * dilation));
            VSTORE(out + o, acc);
        }
    } else if (stride == 2) {
        // Reads one float past the last tap of the last output; the stack row is sized for it.
        for (; o + MP_W <= count; o += MP_W) {
            vf acc = VEVEN(padded + 2 * o);
            for (long t = 1; t < taps; t++) acc = VMAX(acc, VEVEN(padded + 2 * o + t * dilation));
            VSTORE(out + o, acc);
        }
    }
    for (; o < count; o++) {
        const float *at = padded + o * stride;
        float acc = at[0];
        for (long t = 1; t < taps; t++) acc = smax(acc, at[t * dilation]);
        out[o] = acc;
    }
}

MP_TARGET void MP_NAME(resin_maxpool)(const struct resin_maxpool_shape *s, const float *input, float *output, long row_begin,
                                      long row_end) {
    float padded[RESIN_MAXPOOL_ROW_FLOATS] __attribute__((aligned(64)));
    long rows[RESIN_MAXPOOL_MAX_KERNEL_ROWS];
    const long width = s->input_width, height = s->input_height, out_height = s->output_height;
    const long out_width = s->output_width, left = s->pad_left;
    const long span = resin_maxpool_row_span(s);
    // The padding never changes: only the input's columns are rewritten for each output row.
    for (long x = 0; x < left; x++) padded[x] = -INFINITY;
    for (long x = left + width; x < span; x++) padded[x] = -INFINITY;
    for (long r = row_begin; r < row_end; r++) {
        const long plane = r / out_height, oy = r % out_height;
        const float *x = input + plane * height * width;
        long count = 0;
        for (long t = 0; t < s->kernel_height; t++) {
            const long iy = oy * s->stride_height + t * s->dilation_height - s->pad_top;
            if (iy >= 0 && iy < height) rows[count++] = iy;
        }
        MP_NAME(vertical)(x, width, rows, count, padded + left);
        MP_NAME(horizontal)(padded, out_width, s->stride_width, s->kernel_width, s->dilation_width, output + r * out_width);
    }
}
