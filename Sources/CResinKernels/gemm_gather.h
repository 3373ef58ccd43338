#ifndef RESIN_GEMM_GATHER_H
#define RESIN_GEMM_GATHER_H

// The index logic every instruction set's column-vectorised product shares to read an implicit B
// (`struct resin_gemm_gather`, private to CResinKernels): which input a block of columns reads, and where
// its outputs go. Each set supplies only the copy of one run of inputs (contiguous, or every second one).
#include "resin_kernels.h"

#include <limits.h>
#include <stddef.h>

/// Most pieces a block of columns breaks into: one per column at worst (output rows one column wide).
#define RESIN_GATHER_MAX_PIECES RESIN_FUSED_COLUMN_BLOCK

/// Kernel widths up to this keep each piece's inside range per kernel column in a table (ResNet's 1, 3, 7):
/// computing it per step with two divisions made the stride-2 3x3 convolution's copy cost more than the
/// im2col it replaced.
#define RESIN_GATHER_TABLE_WIDTH 8

/// Consecutive columns of a block that read consecutive input positions of one output row of one image, and
/// land consecutively in the block's buffer (`image` NULL: columns past the block's end, which read 0).
struct resin_gather_piece {
    /// Offset of the piece's first column in a row of the buffer.
    long offset;
    long count;
    /// The image's first input channel.
    const float *image;
    /// Input row and column of the piece's first column at kernel tap (0, 0), pads included.
    long row, column;
    /// Per kernel column `kw` (narrow kernels): the piece's columns `low[kw] ..< high[kw]` read inside the input.
    int low[RESIN_GATHER_TABLE_WIDTH], high[RESIN_GATHER_TABLE_WIDTH];
};

/// Copies `count` inputs `stride` floats apart from `source` to `count` consecutive floats at `target`, or
/// writes `count` zeros when `source` is NULL.
typedef void (*resin_gather_copy_fn)(float *target, const float *source, long count, long stride);

/// The columns `t` of a piece whose input column `column + t * stride` lies inside [0, width).
static inline void resin_gather_inside(long column, long count, long stride, long width, long *low, long *high) {
    long first = column >= 0 ? 0 : (-column + stride - 1) / stride;
    long end = column >= width ? 0 : (width - 1 - column) / stride + 1;
    if (end > count) end = count;
    if (first > end) first = end;
    *low = first;
    *high = end;
}

/// Breaks columns `column ..< column + cols` of the problem into pieces, and pads them with zero pieces up to
/// `width` columns. Column `c` of the block lands at `(c / slab) * slab_stride + c % slab` of a buffer row
/// (slabs: AVX2's buffer keeps 16 columns of every step together). Returns the piece count.
static inline int resin_gather_pieces(const struct resin_gemm_gather *g, long column, long cols, long width, long slab,
                                      long slab_stride, struct resin_gather_piece *pieces) {
    long plane = g->output_height * g->output_width;
    int count = 0;
    for (long c = 0; c < width;) {
        long run = slab - c % slab;
        struct resin_gather_piece *piece = &pieces[count++];
        piece->offset = (c / slab) * slab_stride + c % slab;
        piece->image = NULL;
        if (c < cols) {
            long j = column + c;
            long image = j / plane, position = j % plane;
            long oh = position / g->output_width, ow = position % g->output_width;
            long left = g->output_width - ow;
            if (left < run) run = left;
            if (cols - c < run) run = cols - c;
            piece->image = g->input + image * g->input_image_stride;
            piece->row = oh * g->stride_height - g->pad_top;
            piece->column = ow * g->stride_width - g->pad_left;
            for (long kw = 0; kw < g->kernel_width && kw < RESIN_GATHER_TABLE_WIDTH; kw++) {
                long low, high;
                resin_gather_inside(piece->column + kw * g->dilation_width, run, g->stride_width, g->input_width, &low, &high);
                piece->low[kw] = (int)low;
                piece->high[kw] = (int)high;
            }
        } else if (width - c < run) {
            run = width - c;
        }
        piece->count = run;
        c += run;
    }
    return count;
}

/// Kernels of at most this many taps, in blocks of at most RESIN_GATHER_RECIPE_PIECES pieces, gather from a
/// recipe (`resin_gather_rows`).
#define RESIN_GATHER_RECIPE_TAPS 9
#define RESIN_GATHER_RECIPE_PIECES 8

/// One run of a recipe: `count` columns at `target` in a buffer row, copied from `source` floats past the
/// channel's plane of the first image (every `stride_width`-th input), or zeros when `source` is negative.
struct resin_gather_run {
    long source;
    int target, count;
};

/// Appends a run to `runs` (`*count` of them), merging zeros into zeros that end where they start.
static inline void resin_gather_add_run(struct resin_gather_run *runs, int *count, long source, long target, long columns) {
    if (columns <= 0) return;
    struct resin_gather_run *last = *count > 0 ? &runs[*count - 1] : NULL;
    if (source < 0 && last != NULL && last->source < 0 && last->target + last->count == target) {
        last->count += (int)columns;
        return;
    }
    runs[(*count)++] = (struct resin_gather_run){source, (int)target, (int)columns};
}

/// Writes rows `k0 ..< k0 + kc` of the pieces' columns, row `kk` at `buffer + kk * row_stride`. Inlined into
/// each set's product, so `copy` becomes a direct call to that set's copy.
///
/// Rows of one kernel tap differ only in their channel, so for kernels of at most RESIN_GATHER_RECIPE_TAPS taps
/// the pieces are worked out once per call and tap into runs of copies and zeros (a recipe), and each row
/// then runs its tap's recipe from its channel's plane. Working each piece out for every row (its input
/// row's bounds, its inside columns, up to three copies) cost about 20 cycles a piece: on ResNet-50's 3x3
/// stride-2 56x56 layer the gather took a quarter of the time.
__attribute__((always_inline)) static inline void resin_gather_rows(const struct resin_gemm_gather *g,
                                                                    const struct resin_gather_piece *pieces, int piece_count,
                                                                    long k0, long kc, float *buffer, long row_stride,
                                                                    resin_gather_copy_fn copy) {
    long taps = g->kernel_height * g->kernel_width;
    long channel = k0 / taps, kh = k0 % taps / g->kernel_width, kw = k0 % g->kernel_width;
    long height = g->input_height, width = g->input_width, stride = g->stride_width;
    int table = g->kernel_width <= RESIN_GATHER_TABLE_WIDTH;
    if (taps <= RESIN_GATHER_RECIPE_TAPS && piece_count <= RESIN_GATHER_RECIPE_PIECES && kc >= taps) {
        struct resin_gather_run runs[RESIN_GATHER_RECIPE_TAPS][3 * RESIN_GATHER_RECIPE_PIECES];
        int run_counts[RESIN_GATHER_RECIPE_TAPS];
        for (long tap = 0; tap < taps; tap++) {
            long tap_kh = tap / g->kernel_width, tap_kw = tap % g->kernel_width;
            int *count = &run_counts[tap];
            *count = 0;
            for (int i = 0; i < piece_count; i++) {
                const struct resin_gather_piece *p = &pieces[i];
                long ih = p->row + tap_kh * g->dilation_height;
                if (p->image == NULL || ih < 0 || ih >= height) {
                    resin_gather_add_run(runs[tap], count, -1, p->offset, p->count);
                    continue;
                }
                long iw = p->column + tap_kw * g->dilation_width, low, high;
                if (table) {
                    low = p->low[tap_kw];
                    high = p->high[tap_kw];
                } else {
                    resin_gather_inside(iw, p->count, stride, width, &low, &high);
                }
                // Zeros, the inside columns, zeros (`resin_gather_inside` gives low <= high; empty runs add nothing).
                long start = (p->image - g->input) + ih * width + iw;
                resin_gather_add_run(runs[tap], count, -1, p->offset, low);
                resin_gather_add_run(runs[tap], count, start + low * stride, p->offset + low, high - low);
                resin_gather_add_run(runs[tap], count, -1, p->offset + high, p->count - high);
            }
        }
        long tap = k0 % taps;
        for (long kk = 0; kk < kc; kk++) {
            float *row = buffer + kk * row_stride;
            const float *plane = g->input + channel * height * width;
            const struct resin_gather_run *run = runs[tap];
            for (int i = 0; i < run_counts[tap]; i++) {
                if (run[i].source < 0) {
                    copy(row + run[i].target, NULL, run[i].count, 1);
                } else {
                    copy(row + run[i].target, plane + run[i].source, run[i].count, stride);
                }
            }
            if (++tap == taps) {
                tap = 0;
                channel++;
            }
        }
        return;
    }
    for (long kk = 0; kk < kc; kk++) {
        float *row = buffer + kk * row_stride;
        long dy = kh * g->dilation_height, dx = kw * g->dilation_width;
        for (int i = 0; i < piece_count; i++) {
            const struct resin_gather_piece *p = &pieces[i];
            float *target = row + p->offset;
            long ih = p->row + dy;
            if (p->image == NULL || ih < 0 || ih >= height) {
                copy(target, NULL, p->count, 1);
                continue;
            }
            const float *channel_start = p->image + channel * height * width;
            long iw = p->column + dx, low, high;
            if (table) {
                low = p->low[kw];
                high = p->high[kw];
            } else {
                resin_gather_inside(iw, p->count, stride, width, &low, &high);
            }
            if (low > 0) copy(target, NULL, low, 1);
            if (high > low) copy(target + low, channel_start + ih * width + iw + low * stride, high - low, stride);
            if (high < p->count) copy(target + high, NULL, p->count - high, 1);
        }
        if (++kw == g->kernel_width) {
            kw = 0;
            if (++kh == g->kernel_height) {
                kh = 0;
                channel++;
            }
        }
    }
}

/// Writes rows `k0 ..< k0 + kc` of columns `column ..< column + cols` of the implicit B as a plain matrix (an
/// im2col band), row `kk` at `out + kk * ldo`, copying whole output rows at a time (`resin_im2col_fn`).
/// Blocks of whole output rows keep the pieces of each call within RESIN_GATHER_MAX_PIECES.
__attribute__((always_inline)) static inline void resin_gather_matrix(const struct resin_gemm_gather *g, long column, long cols,
                                                                      long k0, long kc, float *out, long ldo,
                                                                      resin_gather_copy_fn copy) {
    struct resin_gather_piece pieces[RESIN_GATHER_MAX_PIECES];
    // A block starting inside an output row and ending inside another breaks into its rows plus 2 pieces.
    long block = (RESIN_GATHER_MAX_PIECES - 2) * g->output_width;
    for (long c = 0; c < cols; c += block) {
        long width = cols - c < block ? cols - c : block;
        int count = resin_gather_pieces(g, column + c, width, width, width, 0, pieces);
        resin_gather_rows(g, pieces, count, k0, kc, out + c, ldo, copy);
    }
}

/// Whether columns `column ..< column + cols` of `g` can be gathered by position: they lie in one image and
/// every index fits a 32-bit lane. Each row of the band then reads, for output position `t`, the input at
/// `position[t] + rows * width + columns` of its channel's plane (`resin_band_lanes`, `resin_band_walk`) where
/// that lies inside the input, and 0 elsewhere, which a vector set does a register at a time. The
/// piece-by-piece copy of `resin_gather_matrix` works out seven runs of 7 columns and their borders for every
/// row on ResNet-50's 7x7 maps; gathered by position, layer4's stride-1 3x3 convolutions took 1.02 to 1.07 ms
/// in the model against 1.10 to 1.17, the stride-2 one 1.12 to 1.13 against 1.14 to 1.15 (AVX-512, one core,
/// three alternating profiles each).
static inline int resin_gather_by_position(const struct resin_gemm_gather *g, long column, long cols) {
    const long limit = INT_MAX / 4;
    long plane = g->output_height * g->output_width;
    if (g->output_width <= 0 || column < 0 || column + cols > plane || plane > limit) return 0;
    // The farthest input row and column any window reaches from the padded origin, and its flat offset.
    long rows = (g->output_height - 1) * g->stride_height + (g->kernel_height - 1) * g->dilation_height + g->pad_top + 1;
    long columns = (g->output_width - 1) * g->stride_width + (g->kernel_width - 1) * g->dilation_width + g->pad_left + 1;
    return rows <= limit && columns <= limit && g->input_width <= limit && g->input_height <= limit
        && rows <= limit / (g->input_width > 0 ? g->input_width : 1) - 1;
}

/// Whether a band gathered by position reads consecutive inputs for consecutive positions: stride 1 and output
/// rows as wide as the input's (the padding "same" along rows, as on every 3x3 stride-1 convolution of a
/// ResNet), so each row is the channel's plane shifted, some lanes zeroed.
static inline int resin_gather_is_contiguous(const struct resin_gemm_gather *g) {
    return g->stride_height == 1 && g->stride_width == 1 && g->output_width == g->input_width;
}

/// A walk over the rows of a band gathered by position: row `kk`'s input channel, its kernel tap, and the
/// tap's distance in input rows and columns from the window's corner (pads included).
struct resin_band_walk {
    long channel, kh, kw, rows, columns;
};

static inline void resin_band_walk_place(const struct resin_gemm_gather *g, struct resin_band_walk *walk) {
    walk->rows = walk->kh * g->dilation_height - g->pad_top;
    walk->columns = walk->kw * g->dilation_width - g->pad_left;
}

/// The walk at row `k0`.
static inline struct resin_band_walk resin_band_walk_start(const struct resin_gemm_gather *g, long k0) {
    long taps = g->kernel_height * g->kernel_width;
    struct resin_band_walk walk = {k0 / taps, k0 % taps / g->kernel_width, k0 % g->kernel_width, 0, 0};
    resin_band_walk_place(g, &walk);
    return walk;
}

/// The walk moved to the next row: the next tap, or the next channel's first.
static inline void resin_band_walk_next(const struct resin_gemm_gather *g, struct resin_band_walk *walk) {
    if (++walk->kw == g->kernel_width) {
        walk->kw = 0;
        if (++walk->kh == g->kernel_height) {
            walk->kh = 0;
            walk->channel++;
        }
    }
    resin_band_walk_place(g, walk);
}

/// Where the row's inputs are counted from: the input a window cornered at the plane's origin reads at the
/// row's tap (possibly outside the plane; only lanes inside it are read).
static inline const float *resin_band_walk_source(const struct resin_gemm_gather *g, const struct resin_band_walk *walk) {
    return g->input + walk->channel * g->input_height * g->input_width + walk->rows * g->input_width + walk->columns;
}

/// For `count` consecutive output positions from `position`: each window corner's input row and column, and
/// (unless `offsets` is NULL) its offset in the plane, as 32-bit lanes for the sets' compares and gathers
/// (`resin_gather_by_position`).
static inline void resin_band_lanes(const struct resin_gemm_gather *g, long position, long count, int *rows, int *columns,
                                    int *offsets) {
    long oh = position / g->output_width, ow = position % g->output_width;
    for (long t = 0; t < count; t++) {
        rows[t] = (int)(oh * g->stride_height);
        columns[t] = (int)(ow * g->stride_width);
        if (offsets) offsets[t] = (int)(oh * g->stride_height * g->input_width + ow * g->stride_width);
        if (++ow == g->output_width) {
            ow = 0;
            oh++;
        }
    }
}

/// Steps per block of the column product's inner dimension: `k` split evenly into blocks of at most `limit`.
/// The stem's 147 steps ran as 128 and 19, and the short block paid a whole load and store of C for 19 steps.
static inline long resin_even_block(long k, long limit) {
    long blocks = (k + limit - 1) / limit;
    return blocks > 0 ? (k + blocks - 1) / blocks : limit;
}

/// Whether the column product reads full blocks of a plain B in place rather than copying them: when its rows
/// start on cache lines (`ldb` a multiple of 16 floats) a line-aligned step apart that spreads a block's rows
/// over the 64 sets of the L1 cache (the step in lines shares at most a factor of 4 with 64, so a block's 128
/// rows of 3 lines leave at most 8 lines to a set). The copy is then saved: a 64x256x3136 product (ResNet-50's
/// 256-to-64 1x1 on 56x56 maps, 12,544-byte rows, 196 lines) ran 1.06 to 1.12 times as fast and 128x512x784
/// (28x28, 49 lines) 1.05 to 1.07 (one core, alternating, minimums and medians of 100 runs). A gathered B
/// (implicit columns) is always copied. AVX-512 only: AVX2's tile, reading slabs of 16 columns, measured the
/// same either way (ResNet-50 on one thread, three alternating profiles).
static inline int resin_column_reads_b_in_place(const struct resin_gemm_problem *p) {
    if (p->gather != NULL || p->ldb % 16 != 0 || p->ldb == 0) return 0;
    long lines = p->ldb / 16, sets = 64;
    while (sets > 1 && lines % 2 == 0) {
        lines /= 2;
        sets /= 2;
    }
    return 64 / sets <= 4;
}

/// Where the tiles of a chunk of the channel-vectorised product (packed_gemm_avx512.c has the reasons) prefetch
/// the next chunk's filters into L2: `left` more steps from `next`, one step (a panel's two lines) every
/// `every` steps of tile work, `countdown` steps from the next one.
struct resin_filter_stream {
    const float *next;
    long left, every, countdown;
};

/// The stream for the chunk after `c0 ..< c0 + chunk` of panel `panel` (its block of `kc` steps from `k0`,
/// blocks `step` steps apart; the thread's panels `panel_begin ..< panel_end`), spread over `work` steps of tile
/// work: this panel's next chunk, else the next panel's first, else the first panel's in the next block, else
/// the first chunk of the product the thread runs next (`next_packed`). Each Winograd position is a product of
/// its own: with the next position's first chunk fetched, ResNet-50's 28x28 F(4x4) layers took 0.40 to 0.43 ms
/// against 0.42 to 0.44, its 14x14 F(2x2) ones 0.56 to 0.59 against 0.58 to 0.60 (one core, six alternating
/// profiles).
static inline struct resin_filter_stream resin_next_chunk(const struct resin_gemm_problem *p, long panel, long panel_begin,
                                                          long panel_end, long k0, long kc, long step, long c0, long chunk,
                                                          long work) {
    struct resin_filter_stream stream = {NULL, 0, 1, 1};
    if (c0 + chunk < kc) {
        stream.next = p->packed + (panel * p->k + k0 + c0 + chunk) * RESIN_PACKED_PANEL;
        stream.left = kc - c0 - chunk < chunk ? kc - c0 - chunk : chunk;
    } else if (panel + 1 < panel_end) {
        stream.next = p->packed + ((panel + 1) * p->k + k0) * RESIN_PACKED_PANEL;
        stream.left = kc < chunk ? kc : chunk;
    } else if (k0 + step < p->k) {
        stream.next = p->packed + (panel_begin * p->k + k0 + step) * RESIN_PACKED_PANEL;
        stream.left = p->k - k0 - step < chunk ? p->k - k0 - step : chunk;
    } else if (p->next_packed != NULL) {
        stream.next = p->next_packed + panel_begin * p->k * RESIN_PACKED_PANEL;
        stream.left = p->k < chunk ? p->k : chunk;
    }
    if (stream.left > 0 && work > stream.left) stream.every = work / stream.left;
    stream.countdown = stream.every;
    return stream;
}

/// Where a tile of C starting at column `j` stores: `offset` (column `j`'s place in a row of C, image
/// offset included), `boundary` (columns from `j` to the next image; LONG_MAX for a plain B), `plane` and
/// `shift` (floats a later image's columns move by, `output_image_stride - plane`).
struct resin_column_layout {
    long offset, boundary, plane, shift;
};

static inline struct resin_column_layout resin_column_layout_at(const struct resin_gemm_problem *p, long j) {
    struct resin_column_layout layout = {j, LONG_MAX / 2, 0, 0};
    const struct resin_gemm_gather *g = p->gather;
    if (g != NULL) {
        long plane = g->output_height * g->output_width;
        long image = j / plane;
        layout.offset = image * g->output_image_stride + j % plane;
        layout.boundary = plane - j % plane;
        layout.plane = plane;
        layout.shift = g->output_image_stride - plane;
    }
    return layout;
}

/// For a register of lanes `lane0 ..< end` of a tile whose columns straddle images (`l`): the lane where the
/// next image starts (`end` when none does inside it), and in `shift` how far the first image's lanes move.
/// Planes at least a register wide put at most two images in a register, so each register then loads and
/// stores with two masked accesses, worked out once per block.
static inline long resin_straddle_split(const struct resin_column_layout *l, long lane0, long end, long *shift) {
    long edge = l->boundary;
    *shift = 0;
    while (edge <= lane0) {
        edge += l->plane;
        *shift += l->shift;
    }
    return edge < end ? edge : end;
}

/// Blocks of columns one pass of the column product takes at most (its inputs for them, 24 KiB a block, are
/// copied together, and each panel's filters for a block of the inner dimension serve all of them).
#define RESIN_COLUMN_PASS_BLOCKS 5
/// Filter bytes of a thread's panels above which a pass takes several blocks: half the 2 MiB L2 cache. Below
/// it the filters stay in L2 between blocks and a pass of one block keeps its inputs in L1.
#define RESIN_COLUMN_PASS_FILTER_BYTES (1L << 20)

/// How many of a thread's `blocks` blocks of columns a pass of the column product over `panels` panels of `p`
/// takes: one when the panels' filters fit in L2, else as few passes as RESIN_COLUMN_PASS_BLOCKS allows, of
/// even sizes, since every pass streams all the filters from memory. ResNet-50 at batch 8 (AVX-512, 2 threads,
/// alternating, minimums of 2, machine shared): passes of four blocks against one took its layer4 products to
/// 0.91 to 0.96 of their time (9.4 MiB of filters for each 3x3) and its layer3 ones to 0.89 to 0.98. Its 7x7
/// maps at batch 8 are 392 columns, 9 blocks, so one thread has 5: with at most 4 a pass, that thread read the
/// filters twice for one block, and with 5 layer4's 3x3 and downsampling products took 0.92 to 0.94 of their
/// time (two runs each, alternating). AVX2's product takes the same passes.
static inline long resin_column_blocks_per_pass(const struct resin_gemm_problem *p, long panels, long blocks) {
    long bytes = panels * p->k * RESIN_PACKED_PANEL * (long)sizeof(float);
    if (bytes <= RESIN_COLUMN_PASS_FILTER_BYTES || blocks <= 1) return 1;
    long passes = (blocks + RESIN_COLUMN_PASS_BLOCKS - 1) / RESIN_COLUMN_PASS_BLOCKS;
    return (blocks + passes - 1) / passes;
}

/// The rows of a plain B that the column product's next block copy reads, for prefetching while the current
/// block computes: the next block of the inner dimension at columns `j`, else the first rows of the next
/// block of columns (`columns` wide, before `column_end`); at most `step` rows. None for a gathered B.
static inline const float *resin_next_b_rows(const struct resin_gemm_problem *p, long k0, long kc, long j, long columns,
                                             long column_end, long step, long *rows) {
    *rows = 0;
    if (p->gather != NULL) return NULL;
    if (k0 + kc < p->k) {
        *rows = p->k - k0 - kc < step ? p->k - k0 - kc : step;
        return p->b + (k0 + kc) * p->ldb + j;
    }
    if (j + columns < column_end) {
        *rows = p->k < step ? p->k : step;
        return p->b + j + columns;
    }
    return NULL;
}

/// The filters the column product reads after panel `panel`'s block of `kc` steps from `k0` (blocks `step`
/// steps apart; the thread's panels `panel_begin ..< panel_end`), for prefetching into L2 while that block
/// computes: the next panel's block, else the first panel's next block, else, when the filters stream
/// (`streams`: too large to stay in L2 between passes, which then take several blocks each) and another pass
/// over the columns follows (`more_passes`), the first panel's first block; in `lines`, their count in
/// 64-byte lines. Only where they come from memory: in the first pass (`first_pass`), or in every pass when
/// the filters stream. The first pass reads each
/// block of filters from memory with a few microseconds of multiply-adds to hide it behind: ResNet-50's
/// 28x28 1x1 convolutions (256 KiB of filters) took 0.43 against 0.45 ms in the model (AVX-512, one core,
/// three alternating profiles); prefetching lines L2 already holds, in every pass, cost AVX2 as much.
static inline const float *resin_next_filter_block(const struct resin_gemm_problem *p, long panel, long panel_begin,
                                                   long panel_end, long k0, long kc, long step, int first_pass, int streams,
                                                   int more_passes, long *lines) {
    const long floats_per_line = 64 / (long)sizeof(float);
    *lines = 0;
    if (!first_pass && !streams) return NULL;
    if (panel + 1 < panel_end) {
        *lines = kc * RESIN_PACKED_PANEL / floats_per_line;
        return p->packed + ((panel + 1) * p->k + k0) * RESIN_PACKED_PANEL;
    }
    if (k0 + kc < p->k) {
        long next = p->k - k0 - kc < step ? p->k - k0 - kc : step;
        *lines = next * RESIN_PACKED_PANEL / floats_per_line;
        return p->packed + (panel_begin * p->k + k0 + kc) * RESIN_PACKED_PANEL;
    }
    if (streams && more_passes) {
        *lines = (p->k < step ? p->k : step) * RESIN_PACKED_PANEL / floats_per_line;
        return p->packed + panel_begin * p->k * RESIN_PACKED_PANEL;
    }
    return NULL;
}

// ---- The padded direct product's walk (the channel-vectorised tiles of packed_gemm_avx512.c and _avx2.c) ----

/// Where the steps of a padded input read in place are (`padded_direct`): tap t of a channel at `offset[t]`
/// from its window's corner, and the next step's input `delta[t]` floats on (the next tap, or the next
/// channel's first); output j of a tile reads its window's corner `2 j` floats on (stride 2 along rows).
struct resin_direct_walk {
    const float *input;
    long row_stride, plane, image_stride, output_width, output_plane, stride_height, output_image_stride;
    long taps;
    long offset[RESIN_PADDED_DIRECT_MAX_TAPS];
    long delta[RESIN_PADDED_DIRECT_MAX_TAPS];
};

/// The walk of a gather that `resin_padded_direct_supported` takes.
static inline void resin_direct_walk_for(const struct resin_gemm_gather *g, struct resin_direct_walk *d) {
    d->input = g->input;
    d->row_stride = g->input_width;
    d->plane = g->input_height * g->input_width;
    d->image_stride = g->input_image_stride;
    d->output_width = g->output_width;
    d->output_plane = g->output_height * g->output_width;
    d->stride_height = g->stride_height;
    d->output_image_stride = g->output_image_stride;
    d->taps = g->kernel_height * g->kernel_width;
    for (long t = 0; t < d->taps; t++) d->offset[t] = t / g->kernel_width * d->row_stride + t % g->kernel_width;
    for (long t = 0; t < d->taps; t++) d->delta[t] = (t + 1 < d->taps ? d->offset[t + 1] : d->plane) - d->offset[t];
}

/// Columns of the channel tile from column `j`: at most `tile` and `end - j`, and on a padded input (`d` not
/// NULL) no further than the end of j's output row. With `even`, the columns left (to `end`, or to the row's
/// end) are shared evenly among the fewest tiles that hold them, so no tile is left with a column or two:
/// 14 as 5, 5, 4 rather than 6, 6, 2 (bits are the same either way: each column's sum runs alone).
static inline long resin_tile_width(const struct resin_direct_walk *d, long j, long end, long tile, int even) {
    long left = end - j;
    if (d != NULL) {
        long row_left = d->output_width - j % d->output_plane % d->output_width;
        if (left > row_left) left = row_left;
    }
    if (left <= tile) return left;
    if (!even) return tile;
    long tiles = (left + tile - 1) / tile;
    return (left + tiles - 1) / tiles;
}

/// A tile from column `j`: its place in C (`offset`) and, on a padded input, its first window's corner
/// (NULL on a plain B, whose column j is at offset j).
static inline void resin_direct_tile_place(const struct resin_direct_walk *d, long j, const float **corner, long *offset) {
    *corner = NULL;
    *offset = j;
    if (d == NULL) return;
    long image = j / d->output_plane, position = j % d->output_plane;
    long y = position / d->output_width, x = position % d->output_width;
    *corner = d->input + image * d->image_stride + y * d->stride_height * d->row_stride + 2 * x;
    *offset = image * d->output_image_stride + position;
}

/// The channel-vectorised product of a set: `group` computes a range of panels for `tiles` tiles, tile t
/// covering columns `first[t] ..< first[t] + width[t]`, of a plain B (`d` NULL) or of the padded input `d` walks.
typedef void (*resin_channel_group_fn)(const struct resin_gemm_problem *p, const struct resin_direct_walk *d, long panel_begin,
                                       long panel_end, const long *first, const long *width, long tiles);

/// Most tiles a group takes (every set's group keeps at most this many tiles' partial sums).
#define RESIN_CHANNEL_GROUP_MAX_TILES 64

/// Runs a range of panels and columns in groups of `group_tiles` (<= RESIN_CHANNEL_GROUP_MAX_TILES) tiles of up
/// to `tile` columns (shared `even`ly, `resin_tile_width`): of a plain B, or, when the problem has a gather (one
/// `resin_padded_direct_supported` takes), of its padded input read in place, each tile then ending with its
/// output row.
static inline void resin_channel_tiles(const struct resin_gemm_problem *p, long panel_begin, long panel_end, long column_begin,
                                       long column_end, long tile, int even, long group_tiles, resin_channel_group_fn group) {
    struct resin_direct_walk walk;
    const struct resin_direct_walk *d = NULL;
    if (p->gather != NULL) {
        resin_direct_walk_for(p->gather, &walk);
        d = &walk;
    }
    long first[RESIN_CHANNEL_GROUP_MAX_TILES], width[RESIN_CHANNEL_GROUP_MAX_TILES], tiles = 0;
    for (long j = column_begin; j < column_end;) {
        long cols = resin_tile_width(d, j, column_end, tile, even);
        first[tiles] = j;
        width[tiles] = cols;
        tiles++;
        j += cols;
        if (tiles == group_tiles || j >= column_end) {
            group(p, d, panel_begin, panel_end, first, width, tiles);
            tiles = 0;
        }
    }
}

#endif
