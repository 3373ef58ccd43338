// What every instruction set's grouped convolution shares (plain C, inlined into each kernel file): the
// band of input rows copied into a stack buffer, and the offsets of the filter taps in it.
//
// The kernels are vectorised along output width. Reading the input in place would need a mask at every
// padded border and a gather for stride 2, so each band of output rows first copies the input rows it reads
// into the buffer with the padding written as zeros and each row split into `stride_width` phases (phase p
// holds padded columns p, p + s, p + 2s, ...). Output column `ow` at kernel column `kw` then reads phase
// `(kw * dilation) % s` at index `ow + (kw * dilation) / s`: for every tap, a vector of consecutive outputs
// is one contiguous load, whatever the stride, pad or dilation. The copy touches each input element once per
// band, against `filters x kernel taps` multiply-adds per element, so it costs little (2% of the 56x56
// ResNeXt layer's operations).
#ifndef RESIN_GROUPED_CONV_BAND_H
#define RESIN_GROUPED_CONV_BAND_H

#include "resin_kernels.h"

#include <string.h>

/// Where a band's rows sit in the buffer, for vectors of `vector` floats.
struct grouped_band_layout {
    /// Floats of one phase of a row: every vector of outputs plus the furthest kernel shift, zero past the input.
    long phase_length;
    /// Floats of one input row (all its phases), and of one channel's rows.
    long row_stride, channel_stride;
    /// Output rows per band: as many as the buffer holds.
    long band_rows;
};

/// Input rows `rows` output rows read.
static inline long grouped_input_rows(const struct resin_grouped_conv_shape *s, long rows) {
    return (rows - 1) * s->stride_height + (s->kernel_height - 1) * s->dilation_height + 1;
}

/// The layout for vectors of `vector` floats; returns 0 when not even one output row's input fits the buffer.
static inline int grouped_band_layout(const struct resin_grouped_conv_shape *s, long vector, struct grouped_band_layout *layout) {
    if (s->output_width <= 0 || s->output_height <= 0) return 0;
    long vectors = (s->output_width + vector - 1) / vector;
    layout->phase_length = vectors * vector + (s->kernel_width - 1) * s->dilation_width / s->stride_width;
    layout->row_stride = s->stride_width * layout->phase_length;
    long per_row_band = s->channels * layout->row_stride;
    long rows = 1;
    if (per_row_band * grouped_input_rows(s, 1) > RESIN_GROUPED_SCRATCH_FLOATS) return 0;
    while (rows < s->output_height && per_row_band * grouped_input_rows(s, rows + 1) <= RESIN_GROUPED_SCRATCH_FLOATS) rows++;
    layout->band_rows = rows;
    layout->channel_stride = grouped_input_rows(s, rows) * layout->row_stride;
    return 1;
}

/// Fills `offsets[tap]` with where tap `(channel, kh, kw)` (ONNX's filter order) reads, relative to the first
/// output row's vector at column 0.
static inline void grouped_tap_offsets(const struct resin_grouped_conv_shape *s, const struct grouped_band_layout *layout,
                                       int *offsets) {
    long tap = 0;
    for (long c = 0; c < s->channels; c++) {
        for (long kh = 0; kh < s->kernel_height; kh++) {
            for (long kw = 0; kw < s->kernel_width; kw++) {
                long shift = kw * s->dilation_width;
                offsets[tap++] = (int)(c * layout->channel_stride + kh * s->dilation_height * layout->row_stride
                                       + (shift % s->stride_width) * layout->phase_length + shift / s->stride_width);
            }
        }
    }
}

/// The indices `begin ..< end` of a phase row of `length` that hold input columns (padded column
/// `phase + stride * i` is input column `phase - pad_left + stride * i`); zeros lie outside them.
static inline void grouped_inside(const struct resin_grouped_conv_shape *s, long phase, long length, long *begin, long *end) {
    long stride = s->stride_width;
    long last = s->input_width - 1 + s->pad_left - phase;
    long b = s->pad_left > phase ? (s->pad_left - phase + stride - 1) / stride : 0;
    long e = last < 0 ? 0 : last / stride + 1;
    if (b > length) b = length;
    if (e > length) e = length;
    if (e < b) e = b;
    *begin = b;
    *end = e;
}

/// One input row split into its two stride-2 phases. Where both phases lie inside the row, one loop writes
/// both from consecutive input pairs, which the compiler turns into vector loads and shuffles: the scalar
/// per-phase copy took as long as the multiply-adds of ResNeXt's stride-2 layers.
static inline void grouped_fill_pair(const struct resin_grouped_conv_shape *s, long length, const float *source,
                                     float *restrict even, float *restrict odd) {
    long even_begin, even_end, odd_begin, odd_end;
    grouped_inside(s, 0, length, &even_begin, &even_end);
    grouped_inside(s, 1, length, &odd_begin, &odd_end);
    const float *restrict padded = source - s->pad_left;
    long begin = even_begin > odd_begin ? even_begin : odd_begin;
    long end = even_end < odd_end ? even_end : odd_end;
    if (end < begin) end = begin;
    for (long i = 0; i < begin; i++) {
        even[i] = i >= even_begin && i < even_end ? padded[2 * i] : 0;
        odd[i] = i >= odd_begin && i < odd_end ? padded[2 * i + 1] : 0;
    }
    for (long i = begin; i < end; i++) {
        even[i] = padded[2 * i];
        odd[i] = padded[2 * i + 1];
    }
    for (long i = end; i < length; i++) {
        even[i] = i >= even_begin && i < even_end ? padded[2 * i] : 0;
        odd[i] = i >= odd_begin && i < odd_end ? padded[2 * i + 1] : 0;
    }
}

/// Copies the input rows output rows `first ..< first + rows` read into `band`, padding as zeros, rows split
/// into phases.
static inline void grouped_fill_band(const struct resin_grouped_conv_shape *s, const struct grouped_band_layout *layout,
                                     const float *input, long first, long rows, float *band) {
    long input_rows = grouped_input_rows(s, rows);
    long stride = s->stride_width;
    long width = s->input_width;
    for (long c = 0; c < s->channels; c++) {
        const float *plane = input + c * s->input_height * width;
        for (long r = 0; r < input_rows; r++) {
            float *row = band + c * layout->channel_stride + r * layout->row_stride;
            long ih = first * s->stride_height - s->pad_top + r;
            if (ih < 0 || ih >= s->input_height) {
                memset(row, 0, (size_t)layout->row_stride * sizeof(float));
                continue;
            }
            const float *source = plane + ih * width;
            if (stride == 2) {
                grouped_fill_pair(s, layout->phase_length, source, row, row + layout->phase_length);
                continue;
            }
            for (long phase = 0; phase < stride; phase++) {
                float *out = row + phase * layout->phase_length;
                long begin, end;
                grouped_inside(s, phase, layout->phase_length, &begin, &end);
                const float *first_column = source + phase - s->pad_left;
                long i = 0;
                for (; i < begin; i++) out[i] = 0;
                if (stride == 1) {
                    memcpy(out + i, first_column + i, (size_t)(end - i) * sizeof(float));
                    i = end;
                } else {
                    for (; i < end; i++) out[i] = first_column[i * stride];
                }
                for (; i < layout->phase_length; i++) out[i] = 0;
            }
        }
    }
}

/// One tile of a kernel: `filters` filters of the group by `vectors` vectors of outputs over `taps` taps.
/// `inputs[v]` is where vector v reads tap 0 in `band`, `outputs[v]` its offset in an output plane and
/// `lanes[v]` how many of its outputs exist (the rest are neither read nor written); `weight`, `bias` and
/// `skip` start at the tile's first filter, `output` at its plane. The epilogue is applied before the store.
typedef void (*grouped_tile_fn)(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets,
                                long taps, const float *weight, const float *bias, const float *skip, float *output,
                                long plane, const long *inputs, const long *outputs, const long *lanes, int filters,
                                int vectors);

/// Most vectors a tile takes, over every instruction set.
#define GROUPED_MAX_VECTORS 6

/// Output rows `row_begin ..< row_end` (resin_grouped_conv_fn's contract), band by band: copy the band's
/// input rows, then run `tile` over chunks of `vectors` vectors of `lanes` outputs (continuing on the next
/// row, so narrow maps fill tiles too) times blocks of `filters` filters. Inlined into each instruction
/// set's file, where `tile` becomes a direct call. `packed`: the filters are panels of the packed product
/// (`resin_pack_filters`, the direct convolution of few channels), and `filters` divides a panel, so each
/// block's `weight` is its first lane in its panel; else ONNX's layout, `weight` the block's first filter.
static inline void grouped_conv_rows_of(const struct resin_grouped_conv_shape *s, const float *input, const float *weight,
                                        const float *bias, const float *skip, float *output, long row_begin, long row_end,
                                        long lanes, int vectors, int filters, grouped_tile_fn tile, int packed) {
    struct grouped_band_layout layout;
    if (!grouped_band_layout(s, lanes, &layout)) return;
    _Alignas(64) float band[RESIN_GROUPED_SCRATCH_FLOATS];
    int offsets[RESIN_GROUPED_MAX_TAPS];
    grouped_tap_offsets(s, &layout, offsets);
    long taps = s->channels * s->kernel_height * s->kernel_width;
    long plane = s->output_height * s->output_width;
    long per_row = (s->output_width + lanes - 1) / lanes;
    for (long first = row_begin; first < row_end; first += layout.band_rows) {
        long rows = row_end - first < layout.band_rows ? row_end - first : layout.band_rows;
        grouped_fill_band(s, &layout, input, first, rows, band);
        long positions = rows * per_row;
        for (long p = 0; p < positions; p += vectors) {
            int count = positions - p < vectors ? (int)(positions - p) : vectors;
            long inputs[GROUPED_MAX_VECTORS], outputs[GROUPED_MAX_VECTORS], valid[GROUPED_MAX_VECTORS];
            for (int v = 0; v < count; v++) {
                long row = (p + v) / per_row, column = (p + v) % per_row * lanes;
                inputs[v] = row * s->stride_height * layout.row_stride + column;
                outputs[v] = (first + row) * s->output_width + column;
                valid[v] = s->output_width - column < lanes ? s->output_width - column : lanes;
            }
            for (long f = 0; f < s->filters; f += filters) {
                int block = s->filters - f < filters ? (int)(s->filters - f) : filters;
                const float *block_weight = packed ? weight + (f - f % RESIN_PACKED_PANEL) * taps + f % RESIN_PACKED_PANEL
                                                   : weight + f * taps;
                tile(s, band, offsets, taps, block_weight, bias ? bias + f : 0, skip ? skip + f * plane : 0,
                     output + f * plane, plane, inputs, outputs, valid, block, count);
            }
        }
    }
}

/// `grouped_conv_rows_of` on filters in ONNX's layout.
static inline void grouped_conv_rows(const struct resin_grouped_conv_shape *s, const float *input, const float *weight,
                                     const float *bias, const float *skip, float *output, long row_begin, long row_end,
                                     long lanes, int vectors, int filters, grouped_tile_fn tile) {
    grouped_conv_rows_of(s, input, weight, bias, skip, output, row_begin, row_end, lanes, vectors, filters, tile, 0);
}

#endif
