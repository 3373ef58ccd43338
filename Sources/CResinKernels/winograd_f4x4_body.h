// The Winograd F(4x4, 3x3) transforms, written once over a vector type and compiled by each instruction set's
// file (winograd_portable.c, winograd_avx2.c, winograd_avx512.c) with its own vector width, loads, stores and
// target attribute, so every set runs its own machine code from one statement of the arithmetic.
//
// The including file defines: WG_NAME(x) (the set's suffix), WG_TARGET (its target attribute, empty for the
// portable one), vf and WG_W (the vector type and its floats), VSPLAT(s), VLOAD(p), VSTORE(p, v),
// VLOADN(p, n), VSTOREN(p, v, n) (the first n <= WG_W lanes) and VCLAMP(v, lo, hi) (Clip's NaN rules).
//
// Points 0, 1, -1, 1/2, -1/2, infinity (the brief's choice; tools-free check: the tests compare with a
// double-precision direct convolution). Rows of B^T scaled to integers, G scaled to match (Swift side):
//   B^T = [[1, 0, -5, 0, 4, 0], [0, -1, -1, 4, 4, 0], [0, 1, -1, -4, 4, 0],
//          [0, -1, -2, 1, 2, 0], [0, 1, -2, -1, 2, 0], [0, 1, 0, -5, 0, 4]]
//   A^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 1/2, -1/2, 0], [0, 1, 1, 1/4, 1/4, 0], [0, 1, -1, 1/8, -1/8, 1]]
//
// Both transforms are vectorised across the tiles of a tile row. Tile t reads input columns 4t .. 4t+5, so
// the input rows are first split by column phase (x mod 4) into stack rows: then column 4t + k is phase k mod 4
// at index t + k / 4, and every load is contiguous. The outputs are gathered back from phases the same way.

#define WG_Q (RESIN_WINOGRAD_MAX_TILE_COLUMNS + 1)
// Stack rows padded so a full-vector load at any index below WG_Q stays inside them.
#define WG_QP (((WG_Q + WG_W - 1) / WG_W + 1) * WG_W)

// One row of B^T applied to six vectors.
#define WG_BT(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5)                                                   \
    do {                                                                                                        \
        vf four_ = VSPLAT(4.0f), five_ = VSPLAT(5.0f), two_ = VSPLAT(2.0f);                                     \
        o0 = (d0) - five_ * (d2) + four_ * (d4);                                                                \
        o1 = four_ * ((d3) + (d4)) - ((d1) + (d2));                                                             \
        o2 = four_ * ((d4) - (d3)) + ((d1) - (d2));                                                             \
        o3 = two_ * ((d4) - (d2)) + ((d3) - (d1));                                                              \
        o4 = two_ * ((d4) - (d2)) + ((d1) - (d3));                                                              \
        o5 = (d1) - five_ * (d3) + four_ * (d5);                                                                \
    } while (0)

// One row of A^T applied to six vectors.
#define WG_AT(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)                                                           \
    do {                                                                                                        \
        vf sum12_ = (m1) + (m2), diff12_ = (m1) - (m2), sum34_ = (m3) + (m4), diff34_ = (m3) - (m4);             \
        o0 = sum12_ + sum34_ + (m0);                                                                            \
        o1 = diff12_ + VSPLAT(0.5f) * diff34_;                                                                  \
        o2 = sum12_ + VSPLAT(0.25f) * sum34_;                                                                   \
        o3 = diff12_ + VSPLAT(0.125f) * diff34_ + (m5);                                                         \
    } while (0)

WG_TARGET void WG_NAME(resin_winograd4_input)(const struct resin_winograd_band *band, const float *input, long channel_begin,
                                               long channel_end, float *transformed) {
    const long width = band->width, height = band->height, columns = band->tile_columns;
    const long tiles = band->tile_rows * columns;
    const long position_stride = band->channels * tiles;
    const long phases = columns + 1;
    float split_rows[6][4][WG_QP];
    float rows[6][4][WG_QP];
    for (long channel = channel_begin; channel < channel_end; channel++) {
        const float *plane = input + channel * height * width;
        // Consecutive tile rows overlap by two input rows: keep their split forms and split only four new ones.
        float (*split[6])[WG_QP];
        for (int r = 0; r < 6; r++) split[r] = split_rows[r];
        for (long tile_row = 0; tile_row < band->tile_rows; tile_row++) {
            const long top = (band->first_tile_row + tile_row) * 4 - band->pad_top;
            int first_new = 0;
            if (tile_row > 0) {
                float (*old0)[WG_QP] = split[0], (*old1)[WG_QP] = split[1];
                split[0] = split[4];
                split[1] = split[5];
                split[4] = old0;
                split[5] = old1;
                first_new = 2;
            }
            for (int r = first_new; r < 6; r++) {
                const long y = top + r;
                for (int p = 0; p < 4; p++) {
                    float *out = split[r][p];
                    if (y < 0 || y >= height) {
                        for (long q = 0; q < phases; q++) out[q] = 0.0f;
                        continue;
                    }
                    const float *line = plane + y * width;
                    // Column 4q + p - pad_left lies inside the row for q in [begin, end).
                    const long offset = p - band->pad_left;
                    long begin = offset >= 0 ? 0 : (-offset + 3) / 4;
                    long end = width - offset > 0 ? (width - offset + 3) / 4 : 0;
                    if (begin > phases) begin = phases;
                    if (end > phases) end = phases;
                    if (end < begin) end = begin;
                    long q = 0;
                    for (; q < begin; q++) out[q] = 0.0f;
                    for (; q < end; q++) out[q] = line[4 * q + offset];
                    for (; q < phases; q++) out[q] = 0.0f;
                }
            }
            // Columns of B^T d: combine the six rows, phase by phase.
            for (int p = 0; p < 4; p++) {
                for (long q = 0; q < phases; q += WG_W) {
                    vf o0, o1, o2, o3, o4, o5;
                    WG_BT(VLOAD(&split[0][p][q]), VLOAD(&split[1][p][q]), VLOAD(&split[2][p][q]), VLOAD(&split[3][p][q]),
                          VLOAD(&split[4][p][q]), VLOAD(&split[5][p][q]), o0, o1, o2, o3, o4, o5);
                    VSTORE(&rows[0][p][q], o0);
                    VSTORE(&rows[1][p][q], o1);
                    VSTORE(&rows[2][p][q], o2);
                    VSTORE(&rows[3][p][q], o3);
                    VSTORE(&rows[4][p][q], o4);
                    VSTORE(&rows[5][p][q], o5);
                }
            }
            // Then (B^T d) B along each row: tile t's six columns are phases 0..3 at t and phases 0, 1 at t + 1.
            float *base = transformed + channel * tiles + tile_row * columns;
            for (int i = 0; i < 6; i++) {
                float *position = base + 6 * i * position_stride;
                for (long q = 0; q < columns; q += WG_W) {
                    const long n = columns - q < WG_W ? columns - q : WG_W;
                    vf o0, o1, o2, o3, o4, o5;
                    WG_BT(VLOAD(&rows[i][0][q]), VLOAD(&rows[i][1][q]), VLOAD(&rows[i][2][q]), VLOAD(&rows[i][3][q]),
                          VLOAD(&rows[i][0][q + 1]), VLOAD(&rows[i][1][q + 1]), o0, o1, o2, o3, o4, o5);
                    VSTOREN(position + q, o0, n);
                    VSTOREN(position + position_stride + q, o1, n);
                    VSTOREN(position + 2 * position_stride + q, o2, n);
                    VSTOREN(position + 3 * position_stride + q, o3, n);
                    VSTOREN(position + 4 * position_stride + q, o4, n);
                    VSTOREN(position + 5 * position_stride + q, o5, n);
                }
            }
        }
    }
}

WG_TARGET void WG_NAME(resin_winograd4_output)(const struct resin_winograd_band *band, const float *products, long filter_begin,
                                                long filter_end, float *output, const float *bias, const float *skip,
                                                int accumulate, float min, float max) {
    const long columns = band->tile_columns, tiles = band->tile_rows * columns;
    const long position_stride = band->filters * tiles;
    const long out_height = band->out_height, out_width = band->out_width;
    const vf lo = VSPLAT(min), hi = VSPLAT(max);
    // Outputs of one tile row by (row in tile, column in tile, tile), then one output row in order.
    float outputs[4][4][WG_QP];
    float line[4 * WG_QP];
    for (long filter = filter_begin; filter < filter_end; filter++) {
        const vf shift = VSPLAT(bias ? bias[filter] : 0.0f);
        float *plane = output + filter * out_height * out_width;
        const float *residual = skip ? skip + filter * out_height * out_width : 0;
        for (long tile_row = 0; tile_row < band->tile_rows; tile_row++) {
            const float *m = products + filter * tiles + tile_row * columns;
            for (long q = 0; q < columns; q += WG_W) {
                const long n = columns - q < WG_W ? columns - q : WG_W;
                // M A, row by row of the 6x6 products: h[i][b].
                vf h[6][4];
                for (int i = 0; i < 6; i++) {
                    const float *row = m + 6 * i * position_stride + q;
                    WG_AT(VLOADN(row, n), VLOADN(row + position_stride, n), VLOADN(row + 2 * position_stride, n),
                          VLOADN(row + 3 * position_stride, n), VLOADN(row + 4 * position_stride, n),
                          VLOADN(row + 5 * position_stride, n), h[i][0], h[i][1], h[i][2], h[i][3]);
                }
                // A^T (M A), column by column.
                for (int b = 0; b < 4; b++) {
                    vf y0, y1, y2, y3;
                    WG_AT(h[0][b], h[1][b], h[2][b], h[3][b], h[4][b], h[5][b], y0, y1, y2, y3);
                    VSTORE(&outputs[0][b][q], y0 + shift);
                    VSTORE(&outputs[1][b][q], y1 + shift);
                    VSTORE(&outputs[2][b][q], y2 + shift);
                    VSTORE(&outputs[3][b][q], y3 + shift);
                }
            }
            const long top = (band->first_tile_row + tile_row) * 4;
            for (int a = 0; a < 4 && top + a < out_height; a++) {
                for (long x = 0; x < out_width; x++) line[x] = outputs[a][x & 3][x >> 2];
                float *target = plane + (top + a) * out_width;
                const float *add = accumulate ? target : residual ? residual + (top + a) * out_width : 0;
                for (long x = 0; x < out_width; x += WG_W) {
                    const long n = out_width - x < WG_W ? out_width - x : WG_W;
                    vf value = VLOAD(&line[x]);
                    if (add) value = value + VLOADN(add + x, n);
                    VSTOREN(target + x, VCLAMP(value, lo, hi), n);
                }
            }
        }
    }
}
