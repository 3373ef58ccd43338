// The packed layout and the packed matrix product in plain C: the reference every instruction set's kernel
// must agree with, and the kernel on processors Resin has no vector code for (arm64 until a NEON file).
//
// The layout serves convolutions with few output columns (ResNet's 7x7 and 14x14 stages at batch 1): the
// filters are packed once, at convert or load time, into panels of 32 output channels read as one
// sequential stream, so each step of the inner dimension loads 32 filter values and reuses them across a
// tile of columns.
#include "resin_kernels.h"

#include "gemm_epilogue.h"
#include "gemm_gather.h"

#include <stddef.h>

#define PANEL RESIN_PACKED_PANEL
// A tile is a slice of 8 channels of a panel by 4 columns: 32 accumulators, which a compiler vectorising
// the lane loop keeps in eight 4-float or four 8-float registers (SSE2, NEON, or wider), with room for the
// filter values and the broadcast input. A whole panel's 32 x n accumulators would spill.
#define SLICE 8
#define TILE RESIN_CHANNEL_TILE_COLUMNS_PORTABLE
#define KBLOCK 512
// An implicit B is gathered per block of 48 columns by 128 steps (24 KiB of stack).
#define GATHER_COLUMNS RESIN_FUSED_COLUMN_BLOCK
#define GATHER_KBLOCK 128

long resin_packed_filter_floats(long m, long k) { return (m + PANEL - 1) / PANEL * PANEL * k; }

void resin_pack_filters(const float *w, long m, long k, float *out) {
    long panels = (m + PANEL - 1) / PANEL;
    for (long p = 0; p < panels; p++) {
        for (long kk = 0; kk < k; kk++) {
            float *dst = out + (p * k + kk) * PANEL;
            for (long r = 0; r < PANEL; r++) {
                long row = p * PANEL + r;
                dst[r] = row < m ? w[row * k + kk] : 0.0f;
            }
        }
    }
}

// One tile: `rows` (<= 8) channels of a slice by `cols` (<= 4) columns over `kc` steps of the inner
// dimension; `w` points at the slice's first lane, and a step advances a whole panel. Every loop over lanes
// and columns has a constant trip count, so the accumulators can live in registers (an array indexed by a
// variable would have to live in memory); columns past `cols` read column 0 and are never stored.
static void tile(long kc, const float *w, const float *b, long ldb, float *c, long ldc, long rows,
                 const struct resin_tile_store *s, long cols) {
    float acc[TILE][SLICE];
    for (int j = 0; j < TILE; j++) {
        for (int r = 0; r < SLICE; r++) acc[j][r] = 0.0f;
    }
    long at[TILE];
    for (int j = 0; j < TILE; j++) at[j] = j < cols ? j : 0;
    for (long kk = 0; kk < kc; kk++) {
        const float *row = b + kk * ldb;
        for (int j = 0; j < TILE; j++) {
            float x = row[at[j]];
            for (int r = 0; r < SLICE; r++) acc[j][r] += w[r] * x;
        }
        w += PANEL;
    }
    for (int r = 0; r < SLICE; r++) {
        if (r < rows) {
            float *out = c + r * ldc;
            for (int j = 0; j < TILE; j++) {
                if (j < cols) resin_store_element(out + j, acc[j][r], s, r, j, ldc);
            }
        }
    }
}

// Copies `count` inputs `stride` apart into consecutive floats, or writes zeros when `source` is NULL.
static void gather_copy(float *target, const float *source, long count, long stride) {
    for (long t = 0; t < count; t++) target[t] = source ? source[t * stride] : 0.0f;
}

// The product of an implicit B (`struct resin_gemm_gather`): blocks of columns, cut where an image ends so
// that a block's outputs lie consecutively, are gathered per block of steps into a stack buffer, which the
// tile reads as a plain B.
static void gathered_product(const struct resin_gemm_problem *p, long panel_begin, long panel_end, long column_begin,
                             long column_end) {
    float x[GATHER_KBLOCK * GATHER_COLUMNS];
    struct resin_gather_piece pieces[RESIN_GATHER_MAX_PIECES];
    for (long j = column_begin; j < column_end;) {
        struct resin_column_layout layout = resin_column_layout_at(p, j);
        long cols = column_end - j < GATHER_COLUMNS ? column_end - j : GATHER_COLUMNS;
        if (layout.boundary < cols) cols = layout.boundary;
        int count = resin_gather_pieces(p->gather, j, cols, cols, GATHER_COLUMNS, 0, pieces);
        for (long k0 = 0; k0 < p->k; k0 += GATHER_KBLOCK) {
            long kc = p->k - k0 < GATHER_KBLOCK ? p->k - k0 : GATHER_KBLOCK;
            resin_gather_rows(p->gather, pieces, count, k0, kc, x, GATHER_COLUMNS, gather_copy);
            for (long panel = panel_begin; panel < panel_end; panel++) {
                long rows = p->m - panel * PANEL < PANEL ? p->m - panel * PANEL : PANEL;
                const float *w = p->packed + (panel * p->k + k0) * PANEL;
                for (long t = 0; t < cols; t += TILE) {
                    long tile_cols = cols - t < TILE ? cols - t : TILE;
                    for (long slice = 0; slice * SLICE < rows; slice++) {
                        long slice_rows = rows - slice * SLICE < SLICE ? rows - slice * SLICE : SLICE;
                        long row = panel * PANEL + slice * SLICE;
                        struct resin_tile_store s = resin_tile_store_for(p, k0, kc, row, layout.offset + t);
                        tile(kc, w + slice * SLICE, x + t, GATHER_COLUMNS, p->c + row * p->ldc + layout.offset + t, p->ldc,
                             slice_rows, &s, tile_cols);
                    }
                }
            }
        }
        j += cols;
    }
}

// The product over a range of panels and columns, with the epilogue in each tile's store.
void resin_fused_gemm_portable(const struct resin_gemm_problem *p, long panel_begin, long panel_end, long column_begin,
                               long column_end) {
    if (p->gather) {
        gathered_product(p, panel_begin, panel_end, column_begin, column_end);
        return;
    }
    // Blocks of the inner dimension keep the input rows a tile reads within the L2 cache.
    for (long k0 = 0; k0 < p->k; k0 += KBLOCK) {
        long kc = p->k - k0 < KBLOCK ? p->k - k0 : KBLOCK;
        for (long panel = panel_begin; panel < panel_end; panel++) {
            long rows = p->m - panel * PANEL < PANEL ? p->m - panel * PANEL : PANEL;
            const float *w = p->packed + (panel * p->k + k0) * PANEL;
            for (long j = column_begin; j < column_end; j += TILE) {
                long cols = column_end - j < TILE ? column_end - j : TILE;
                for (long slice = 0; slice * SLICE < rows; slice++) {
                    long slice_rows = rows - slice * SLICE < SLICE ? rows - slice * SLICE : SLICE;
                    long row = panel * PANEL + slice * SLICE;
                    struct resin_tile_store s = resin_tile_store_for(p, k0, kc, row, j);
                    tile(kc, w + slice * SLICE, p->b + k0 * p->ldb + j, p->ldb, p->c + row * p->ldc + j, p->ldc, slice_rows, &s,
                         cols);
                }
            }
        }
    }
}

void resin_packed_gemm_portable(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
                                const float *b, long ldb, float *c, long ldc, int accumulate,
                                const float *next_packed) {
    struct resin_gemm_problem problem = resin_plain_problem(m, n, k, packed, b, ldb, c, ldc, accumulate, next_packed);
    resin_fused_gemm_portable(&problem, panel_begin, panel_end, 0, n);
}

// An im2col band gathered by position (`resin_gather_by_position`), a column at a time: the vector sets' loop
// without the vectors.
static void position_im2col(const struct resin_gemm_gather *g, long column, long cols, long k0, long kc, float *out, long ldo) {
    enum { BLOCK = 256 };
    for (long c0 = 0; c0 < cols; c0 += BLOCK) {
        long count = cols - c0 < BLOCK ? cols - c0 : BLOCK;
        int rows[BLOCK], columns[BLOCK], offsets[BLOCK];
        resin_band_lanes(g, column + c0, count, rows, columns, offsets);
        struct resin_band_walk walk = resin_band_walk_start(g, k0);
        for (long kk = 0; kk < kc; kk++) {
            const float *source = resin_band_walk_source(g, &walk);
            float *target = out + kk * ldo + c0;
            for (long t = 0; t < count; t++) {
                long ih = rows[t] + walk.rows, iw = columns[t] + walk.columns;
                target[t] = ih >= 0 && ih < g->input_height && iw >= 0 && iw < g->input_width ? source[offsets[t]] : 0.0f;
            }
            resin_band_walk_next(g, &walk);
        }
    }
}

// An im2col band (`resin_im2col_fn`) with this set's copy.
void resin_im2col_portable(const struct resin_gemm_gather *gather, long column, long cols, long k0, long kc, float *out, long ldo) {
    if (resin_gather_by_position(gather, column, cols)) {
        position_im2col(gather, column, cols, k0, kc, out, ldo);
    } else {
        resin_gather_matrix(gather, column, cols, k0, kc, out, ldo, gather_copy);
    }
}

int resin_padded_direct_supported(const struct resin_gemm_gather *g) {
    long taps = g->kernel_height * g->kernel_width;
    return g->padded_direct != 0 && g->stride_width == 2 && g->stride_height >= 1 && g->dilation_height == 1
        && g->dilation_width == 1 && g->pad_top == 0 && g->pad_left == 0 && taps >= 1 && taps <= RESIN_PADDED_DIRECT_MAX_TAPS
        && g->output_height >= 1 && g->output_width >= 1
        && (g->output_height - 1) * g->stride_height + g->kernel_height <= g->input_height
        && (g->output_width - 1) * g->stride_width + g->kernel_width <= g->input_width;
}
