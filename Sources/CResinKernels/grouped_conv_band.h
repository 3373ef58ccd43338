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
/// output row's vector at column 0. The phase and shift are divided out once per kernel column, not per tap:
/// a division a tap was 3 to 4% of a 14x14 ResNeXt layer (`perf`).
static inline void grouped_tap_offsets(const struct resin_grouped_conv_shape *s, const struct grouped_band_layout *layout,
                                       int *offsets) {
    for (long kw = 0; kw < s->kernel_width; kw++) {
        long shift = kw * s->dilation_width;
        long column = (shift % s->stride_width) * layout->phase_length + shift / s->stride_width;
        int *tap = offsets + kw;
        for (long c = 0; c < s->channels; c++) {
            for (long kh = 0; kh < s->kernel_height; kh++, tap += s->kernel_width)
                *tap = (int)(c * layout->channel_stride + kh * s->dilation_height * layout->row_stride + column);
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

/// Writes input row `source` split into its `stride_width` phases of `length` floats, phase p at `out + p *
/// phase_stride`: its float i is padded column `p + i * stride_width`, zero outside the input. Each instruction
/// set's file may pass its own (masked vector loads, and a permute for stride 2) to the band fills below;
/// `grouped_split_row` is the plain C one.
typedef void (*grouped_split_fn)(const struct resin_grouped_conv_shape *s, long length, const float *source, float *out,
                                 long phase_stride);

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

/// The plain C `grouped_split_fn`.
static inline void grouped_split_row(const struct resin_grouped_conv_shape *s, long length, const float *source, float *out,
                                     long phase_stride) {
    long stride = s->stride_width;
    if (stride == 2) {
        grouped_fill_pair(s, length, source, out, out + phase_stride);
        return;
    }
    for (long phase = 0; phase < stride; phase++, out += phase_stride) {
        long begin, end;
        grouped_inside(s, phase, length, &begin, &end);
        const float *first_column = source + phase - s->pad_left;
        long i = 0;
        for (; i < begin; i++) out[i] = 0;
        if (stride == 1) {
            memcpy(out + i, first_column + i, (size_t)(end - i) * sizeof(float));
            i = end;
        } else {
            for (; i < end; i++) out[i] = first_column[i * stride];
        }
        for (; i < length; i++) out[i] = 0;
    }
}

/// Copies the input rows output rows `first ..< first + rows` read into `band`, padding as zeros, rows split
/// into phases by `split`.
static inline void grouped_fill_band(const struct resin_grouped_conv_shape *s, const struct grouped_band_layout *layout,
                                     const float *input, long first, long rows, float *band, grouped_split_fn split) {
    long input_rows = grouped_input_rows(s, rows);
    long width = s->input_width;
    for (long c = 0; c < s->channels; c++) {
        const float *plane = input + c * s->input_height * width;
        for (long r = 0; r < input_rows; r++) {
            float *row = band + c * layout->channel_stride + r * layout->row_stride;
            long ih = first * s->stride_height - s->pad_top + r;
            if (ih < 0 || ih >= s->input_height) {
                memset(row, 0, (size_t)layout->row_stride * sizeof(float));
            } else {
                split(s, layout->phase_length, plane + ih * width, row, layout->phase_length);
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

/// The next of `parts` near-equal parts of the `left` items still to share (the larger parts first): with
/// `parts` = ceil(items / most) no part passes `most`, and a tile of few vectors or filters, which loads more
/// per multiply-add, comes only where the sizes force it (14 vectors of at most 6 as 5 + 5 + 4, not 6 + 6 + 2).
static inline long grouped_even_part(long left, long parts) {
    return (left + parts - 1) / parts;
}

/// Output rows `row_begin ..< row_end` (resin_grouped_conv_fn's contract), band by band: copy the band's
/// input rows (split into phases by `split`), then run `tile` over chunks of at most `vectors` vectors of `lanes`
/// outputs (continuing on the next row, so narrow maps fill tiles too) times blocks of `filters` filters.
/// Inlined into each instruction set's file, where `tile` and `split` become direct calls. `packed`: the
/// filters are panels of the packed product (`resin_pack_filters`, the direct convolution of few channels),
/// and `filters` divides a panel, so each block's `weight` is its first lane in its panel; else ONNX's
/// layout, `weight` the block's first filter.
static inline void grouped_conv_rows_of(const struct resin_grouped_conv_shape *s, const float *input, const float *weight,
                                        const float *bias, const float *skip, float *output, long row_begin, long row_end,
                                        long lanes, int vectors, int filters, grouped_tile_fn tile, grouped_split_fn split,
                                        int packed) {
    struct grouped_band_layout layout;
    if (!grouped_band_layout(s, lanes, &layout)) return;
    _Alignas(64) float band[RESIN_GROUPED_SCRATCH_FLOATS];
    int offsets[RESIN_GROUPED_MAX_TAPS];
    grouped_tap_offsets(s, &layout, offsets);
    long taps = s->channels * s->kernel_height * s->kernel_width;
    long plane = s->output_height * s->output_width;
    long per_row = (s->output_width + lanes - 1) / lanes;
    long filter_blocks = (s->filters + filters - 1) / filters;
    for (long first = row_begin; first < row_end; first += layout.band_rows) {
        long rows = row_end - first < layout.band_rows ? row_end - first : layout.band_rows;
        grouped_fill_band(s, &layout, input, first, rows, band, split);
        // The band's vectors, and the filters, shared evenly over as few tiles as hold them.
        long positions = rows * per_row, tiles = (positions + vectors - 1) / vectors;
        for (long p = 0, t = 0, count; p < positions; p += count, t++) {
            count = grouped_even_part(positions - p, tiles - t);
            long inputs[GROUPED_MAX_VECTORS], outputs[GROUPED_MAX_VECTORS], valid[GROUPED_MAX_VECTORS];
            for (int v = 0; v < count; v++) {
                long row = (p + v) / per_row, column = (p + v) % per_row * lanes;
                inputs[v] = row * s->stride_height * layout.row_stride + column;
                outputs[v] = (first + row) * s->output_width + column;
                valid[v] = s->output_width - column < lanes ? s->output_width - column : lanes;
            }
            // Packed panels keep whole blocks of `filters`, which must not straddle two panels.
            for (long f = 0, b = 0, block; f < s->filters; f += block, b++) {
                block = packed ? (s->filters - f < filters ? s->filters - f : filters)
                               : grouped_even_part(s->filters - f, filter_blocks - b);
                const float *block_weight = packed ? weight + (f - f % RESIN_PACKED_PANEL) * taps + f % RESIN_PACKED_PANEL
                                                   : weight + f * taps;
                tile(s, band, offsets, taps, block_weight, bias ? bias + f : 0, skip ? skip + f * plane : 0,
                     output + f * plane, plane, inputs, outputs, valid, (int)block, (int)count);
            }
        }
    }
}

/// `grouped_conv_rows_of` on filters in ONNX's layout.
static inline void grouped_conv_rows(const struct resin_grouped_conv_shape *s, const float *input, const float *weight,
                                     const float *bias, const float *skip, float *output, long row_begin, long row_end,
                                     long lanes, int vectors, int filters, grouped_tile_fn tile, grouped_split_fn split) {
    grouped_conv_rows_of(s, input, weight, bias, skip, output, row_begin, row_end, lanes, vectors, filters, tile, split, 0);
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
/// The divisions are per kernel row and column (`grouped_tap_offsets`), not per tap.
static inline void grouped_flat_offsets(const struct resin_grouped_conv_shape *s, const struct grouped_flat_layout *l, int *offsets) {
    long taps = s->kernel_height * s->kernel_width;
    for (long kh = 0; kh < s->kernel_height; kh++) {
        long dy = kh * s->dilation_height;
        long row = dy % s->stride_height * l->row_phase_stride + dy / s->stride_height * l->length;
        for (long kw = 0; kw < s->kernel_width; kw++) {
            long dx = kw * s->dilation_width;
            long tap = row + dx % s->stride_width * l->column_phase_stride + dx / s->stride_width;
            for (long c = 0; c < s->channels; c++)
                offsets[c * taps + kh * s->kernel_width + kw] = (int)(c * l->channel_stride + tap);
        }
    }
}

/// Copies what output rows `first ..< first + band_rows` read into `band` as flat phase planes (all of the
/// layout's rows, zeros past the input, so every lane reads a number), each input row split by `split`. Rows
/// are a few floats long, so the split should cost a few instructions: the plain C one (its inside range worked
/// out, memcpy and memset called, for every row) took about a quarter of the time of ResNeXt's 7x7 layers (perf,
/// one thread), AVX-512's (the only set that takes this layout) one masked load and store a row.
static inline void grouped_fill_flat(const struct resin_grouped_conv_shape *s, const struct grouped_flat_layout *l,
                                     const float *input, long first, float *band, grouped_split_fn split) {
    long rows = l->band_rows + l->extra_rows, length = l->length;
    for (long c = 0; c < s->channels; c++) {
        const float *plane = input + c * s->input_height * s->input_width;
        for (long row_phase = 0; row_phase < s->stride_height; row_phase++) {
            for (long r = 0; r < rows; r++) {
                long ih = (first + r) * s->stride_height + row_phase - s->pad_top;
                float *row = band + c * l->channel_stride + row_phase * l->row_phase_stride + r * length;
                if (ih >= 0 && ih < s->input_height) {
                    split(s, length, plane + ih * s->input_width, row, l->column_phase_stride);
                } else {
                    for (long phase = 0; phase < s->stride_width; phase++)
                        for (long i = 0; i < length; i++) row[phase * l->column_phase_stride + i] = 0;
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
                                          grouped_flat_tile_fn tile, grouped_split_fn split) {
    _Alignas(64) float band[RESIN_GROUPED_SCRATCH_FLOATS];
    int offsets[RESIN_GROUPED_MAX_TAPS];
    grouped_flat_offsets(s, l, offsets);
    memset(band + s->channels * l->channel_stride, 0, (size_t)lanes * sizeof(float));
    long taps = s->channels * s->kernel_height * s->kernel_width;
    long plane = s->output_height * s->output_width, width = s->output_width;
    long filter_blocks = (s->filters + filters - 1) / filters;
    for (long first = row_begin; first < row_end; first += l->band_rows) {
        long rows = row_end - first < l->band_rows ? row_end - first : l->band_rows;
        grouped_fill_flat(s, l, input, first, band, split);
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
            for (long f = 0, b = 0, block; f < s->filters; f += block, b++) {
                block = grouped_even_part(s->filters - f, filter_blocks - b);
                tile(s, band, offsets, taps, weight + f * taps, bias ? bias + f : 0, skip ? skip + f * plane : 0,
                     output + f * plane, plane, inputs, runs, (int)block, count);
            }
        }
    }
}

#endif
