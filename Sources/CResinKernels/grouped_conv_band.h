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


// ---- Narrow maps: the band as flat phase planes ----
// On maps at most half a vector wide (AVX-512's 16 floats on ResNeXt's 7x7 stage), vectors along one output row
// leave most lanes empty. There the band splits rows into stride phases as well as columns, and keeps each
// phase's rows `length` floats apart, `length` being the output width plus the furthest kernel shift. Output
// (y, x) at tap (c, kh, kw) then reads flat position `y * length + x` plus the tap's offset, so a vector of
// consecutive flat positions covers several output rows: the lanes past each row's outputs read finite
// neighbours and are not stored. A 7x7 map with a 3x3 kernel takes 4 vectors (61 or 55 positions) where
// one vector per row takes 7.

/// Most output rows one vector's lanes cover: rows at least a quarter of a vector long (`grouped_flat_layout`).
#define GROUPED_FLAT_SEGMENTS 5
/// Widest column stride the flat layout takes.
#define GROUPED_FLAT_MAX_STRIDE 4

/// Where a flat band's phase rows sit in the buffer.
struct grouped_flat_layout {
    /// Floats per phase row, and phase rows past a band's output rows (the furthest kernel row shift).
    long length, extra_rows;
    /// Floats between column phases, row phases and channels.
    long column_phase_stride, row_phase_stride, channel_stride;
    /// Output rows per band: as many as the buffer holds.
    long band_rows;
};

/// Floats a flat band of `rows` output rows takes, with `lanes` of zeros after it for the last vector's lanes.
static inline long grouped_flat_floats(const struct resin_grouped_conv_shape *s, long length, long extra_rows, long rows,
                                       long lanes) {
    return s->channels * s->stride_height * s->stride_width * (rows + extra_rows) * length + lanes;
}

/// The flat layout for vectors of `lanes` floats; returns 0 when the map is wider than half a vector, when its
/// column stride passes GROUPED_FLAT_MAX_STRIDE, when its
/// rows are shorter than a quarter of one (a vector would cover too many rows), or when not even one output
/// row's input fits the buffer.
static inline int grouped_flat_layout(const struct resin_grouped_conv_shape *s, long lanes, struct grouped_flat_layout *l) {
    if (s->output_width <= 0 || s->output_height <= 0 || 2 * s->output_width > lanes) return 0;
    if (s->stride_width > GROUPED_FLAT_MAX_STRIDE) return 0;
    l->length = s->output_width + (s->kernel_width - 1) * s->dilation_width / s->stride_width;
    if (4 * l->length < lanes) return 0;
    l->extra_rows = (s->kernel_height - 1) * s->dilation_height / s->stride_height;
    if (grouped_flat_floats(s, l->length, l->extra_rows, 1, lanes) > RESIN_GROUPED_SCRATCH_FLOATS) return 0;
    long rows = 1;
    while (rows < s->output_height && grouped_flat_floats(s, l->length, l->extra_rows, rows + 1, lanes) <= RESIN_GROUPED_SCRATCH_FLOATS)
        rows++;
    l->band_rows = rows;
    l->column_phase_stride = (rows + l->extra_rows) * l->length;
    l->row_phase_stride = s->stride_width * l->column_phase_stride;
    l->channel_stride = s->stride_height * l->row_phase_stride;
    return 1;
}

/// Fills `offsets[tap]` with where tap `(channel, kh, kw)` reads relative to flat position 0.
static inline void grouped_flat_offsets(const struct resin_grouped_conv_shape *s, const struct grouped_flat_layout *l, int *offsets) {
    long tap = 0;
    for (long c = 0; c < s->channels; c++) {
        for (long kh = 0; kh < s->kernel_height; kh++) {
            long dy = kh * s->dilation_height;
            for (long kw = 0; kw < s->kernel_width; kw++) {
                long dx = kw * s->dilation_width;
                offsets[tap++] = (int)(c * l->channel_stride + dy % s->stride_height * l->row_phase_stride
                                       + dx % s->stride_width * l->column_phase_stride + dy / s->stride_height * l->length
                                       + dx / s->stride_width);
            }
        }
    }
}

/// Copies what output rows `first ..< first + band_rows` read into `band` as flat phase planes (all of the
/// layout's rows, zeros past the input, so every lane reads a number). Rows are a few floats long, so each
/// phase is written by plain loops over ranges worked out once: a row copy like `grouped_fill_band`'s (its
/// inside range worked out, memcpy and memset called, for every row) took about a quarter of the time of
/// ResNeXt's 7x7 layers (perf, one thread).
static inline void grouped_fill_flat(const struct resin_grouped_conv_shape *s, const struct grouped_flat_layout *l,
                                     const float *input, long first, float *band) {
    long rows = l->band_rows + l->extra_rows, length = l->length, stride = s->stride_width;
    long begin[GROUPED_FLAT_MAX_STRIDE], end[GROUPED_FLAT_MAX_STRIDE];
    for (long phase = 0; phase < stride; phase++) grouped_inside(s, phase, length, &begin[phase], &end[phase]);
    for (long c = 0; c < s->channels; c++) {
        const float *plane = input + c * s->input_height * s->input_width;
        for (long row_phase = 0; row_phase < s->stride_height; row_phase++) {
            for (long r = 0; r < rows; r++) {
                long ih = (first + r) * s->stride_height + row_phase - s->pad_top;
                float *row = band + c * l->channel_stride + row_phase * l->row_phase_stride + r * length;
                int inside = ih >= 0 && ih < s->input_height;
                const float *padded = plane + ih * s->input_width - s->pad_left;
                for (long phase = 0; phase < stride; phase++) {
                    float *out = row + phase * l->column_phase_stride;
                    long i = 0, b = inside ? begin[phase] : length, e = inside ? end[phase] : length;
                    for (; i < b; i++) out[i] = 0;
                    for (; i < e; i++) out[i] = padded[phase + i * stride];
                    for (; i < length; i++) out[i] = 0;
                }
            }
        }
    }
}

/// Which lanes of a flat vector hold outputs: `count` runs, run `i` the lanes in `masks[i]` (bit per lane),
/// whose lane 0 would land at `offsets[i]` in an output plane (a run's lanes are consecutive outputs of one row).
struct grouped_flat_runs {
    int count;
    unsigned masks[GROUPED_FLAT_SEGMENTS];
    long offsets[GROUPED_FLAT_SEGMENTS];
};

/// A tile of the flat layout: as `grouped_tile_fn`, with each vector's outputs given as runs.
typedef void (*grouped_flat_tile_fn)(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets,
                                     long taps, const float *weight, const float *bias, const float *skip, float *output,
                                     long plane, const long *inputs, const struct grouped_flat_runs *runs, int filters,
                                     int vectors);

/// Output rows `row_begin ..< row_end` on the flat layout `l` (`grouped_conv_rows`'s contract, filters in ONNX's
/// layout): band by band, tiles of `vectors` vectors of `lanes` flat positions by blocks of `filters` filters.
static inline void grouped_conv_flat_rows(const struct resin_grouped_conv_shape *s, const struct grouped_flat_layout *l,
                                          const float *input, const float *weight, const float *bias, const float *skip,
                                          float *output, long row_begin, long row_end, long lanes, int vectors, int filters,
                                          grouped_flat_tile_fn tile) {
    _Alignas(64) float band[RESIN_GROUPED_SCRATCH_FLOATS];
    int offsets[RESIN_GROUPED_MAX_TAPS];
    grouped_flat_offsets(s, l, offsets);
    memset(band + s->channels * l->channel_stride, 0, (size_t)lanes * sizeof(float));
    long taps = s->channels * s->kernel_height * s->kernel_width;
    long plane = s->output_height * s->output_width, width = s->output_width;
    for (long first = row_begin; first < row_end; first += l->band_rows) {
        long rows = row_end - first < l->band_rows ? row_end - first : l->band_rows;
        grouped_fill_flat(s, l, input, first, band);
        // Flat positions up to the band's last output.
        long vectors_in_band = ((rows - 1) * l->length + width + lanes - 1) / lanes;
        for (long p = 0; p < vectors_in_band; p += vectors) {
            int count = vectors_in_band - p < vectors ? (int)(vectors_in_band - p) : vectors;
            long inputs[GROUPED_MAX_VECTORS];
            struct grouped_flat_runs runs[GROUPED_MAX_VECTORS];
            for (int v = 0; v < count; v++) {
                long q0 = (p + v) * lanes;
                inputs[v] = q0;
                runs[v].count = 0;
                for (long y = q0 / l->length; y < rows && y * l->length < q0 + lanes; y++) {
                    long low = y * l->length > q0 ? y * l->length : q0;
                    long high = y * l->length + width < q0 + lanes ? y * l->length + width : q0 + lanes;
                    if (high <= low) continue;
                    int i = runs[v].count++;
                    runs[v].masks[i] = (unsigned)(((1ul << (high - q0)) - 1) & ~((1ul << (low - q0)) - 1));
                    runs[v].offsets[i] = (first + y) * width + q0 - y * l->length;
                }
            }
            for (long f = 0; f < s->filters; f += filters) {
                int block = s->filters - f < filters ? (int)(s->filters - f) : filters;
                tile(s, band, offsets, taps, weight + f * taps, bias ? bias + f : 0, skip ? skip + f * plane : 0,
                     output + f * plane, plane, inputs, runs, block, count);
            }
        }
    }
}

#endif
