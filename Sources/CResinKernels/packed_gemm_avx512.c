// The packed matrix product for AVX-512F (packed_gemm_portable.c has the layout and the reference loop),
// with the convolution epilogue (bias, residual, clamp) applied before each store.
//
// Two microkernels read the one packed layout:
// - Few columns (ResNet's 7x7 and 14x14 maps at batch 1): vectorised along output channels, a tile is a
//   panel's 32 channels (two registers) by 14 columns; each step loads 32 filter values, broadcasts 14
//   inputs and does 28 fused multiply-adds. Its registers hold columns of channels, so the store transposes
//   them into output rows in registers. With 49 columns OpenBLAS repacks the cold filters on every call and
//   reaches 60 to 75 GFLOPS per core here against 85 to 91 for the earlier 32 x 7 tile.
// - Many columns: vectorised along columns, the way NCHW output rows lie: a tile is 8 channels (broadcast
//   from the panel) by 48 columns (three registers), 24 accumulators; each step loads 3 input vectors and
//   broadcasts 8 filter values for 24 fused multiply-adds. The inputs are first copied per block of columns
//   and of the inner dimension into a stack buffer read sequentially by every tile of the thread's panels,
//   unless B is plain and its rows sit on cache lines spread over the L1 sets: full blocks are then read in
//   place (`resin_column_reads_b_in_place`).
// Every function carries its own target attribute, so the file builds without global flags and runs only
// where the kernel table chose it.
#include "resin_kernels.h"

#if defined(__x86_64__)
#include "gemm_epilogue.h"
#include "gemm_gather.h"

#include <immintrin.h>
#include <stddef.h>

#define PANEL RESIN_PACKED_PANEL
// The channel-vectorised product's blocks of the inner dimension: as long as B's rows for the block fit in
// KBLOCK_BYTES (half the 2 MiB L2 cache), at least KBLOCK steps. Unblocked (one block of 2048 where it was four
// of 512) ran ResNet-50's 7x7 2048-to-512 product 1.2 times as fast with its filters from memory (one core,
// alternating in one process; the other 14x14 and 7x7 products within the noise): each block after the first
// stores and reloads every tile and restarts the stream of filters.
#define KBLOCK 512
#define KBLOCK_BYTES (1L << 20)
// The column microkernel: 8 channels by up to 48 columns; inner blocks of 128 steps keep the copied
// inputs (24 KiB) and the panel's filters for the block (16 KiB) in the 48 KiB L1 cache.
#define ROWS 8
#define COLUMNS 48
#define COLUMN_KBLOCK 128
// Up to this many columns the channel-vectorised tile runs. Measured on ResNet-50's products (one core, both
// tiles alternating in one process, machine shared, so figures move by 10%): with the 32 x 14 tile, at 196
// columns 140 to 173 GFLOPS hot (filters in L3) and 140 to 157 cold (rotating through 160 MiB of filters)
// against the column tile's 105 to 137 and 105 to 120; at 392 columns 126 against 139, at 784 97 against
// 147. (With the earlier 32 x 7 tile the column tile won at 196.)
#define PANEL_TILE_COLUMNS 256
// Loops over a tile's rows and registers unroll fully, so the accumulators stay in registers (without it the
// three-register tile kept them in memory, stored after every multiply-add).
#define UNROLL _Pragma("clang loop unroll(full)")

// The channel-vectorised tile's columns: two groups of 7 (28 accumulators, 2 filter registers and the
// broadcast: 31 of the 32 registers), so 49 columns are 14 + 14 + 14 + 7 and a panel's filters are read 4
// times instead of 7 per block. With software prefetch of the filters and the row-vector store (below) this
// ran ResNet-50's 49-column products 1.2 to 1.4 times as fast as the 32 x 7 tile, filters hot or cold (one
// core, alternating in one process).
#define TILE_COLUMNS RESIN_CHANNEL_TILE_COLUMNS_AVX512
// Filter lines are prefetched this many steps ahead (128 bytes a step, two lines) by the first tile of each
// chunk (below), which reads them from L2; 8 and 16 steps measured alike, 1.1 to 1.2 times no prefetch.
#define PREFETCH_STEPS 16
// A panel's filters are taken in chunks of this many steps (32 KiB), every tile of the panel's columns
// computing one chunk before the next, the partial sums kept in a stack buffer between chunks; meanwhile the
// tiles fetch the next chunk into L2, spread evenly over their steps (`resin_next_chunk`). So memory delivers the
// filters at an even rate through the whole panel, instead of in a burst while the first tile runs (when
// each tile took the whole panel, the later ones computed from L2 with the memory bus idle, and the next
// panel's prefetch, with this panel and B, overflowed the 2 MiB L2 on ResNet-50's 4608-step products).
// Measured on ResNet-50's 49-column products with filters from memory (2 threads splitting the panels,
// rotating through 20 copies of the filters, alternating builds, minimum and median of medians): the
// 512x4608 product (layer4's 3x3 as im2col) 0.70 and 0.82 ms against 1.01 and 1.15; one thread 1.47 and 1.86
// against 2.13 and 2.80; 512x2048 on one thread 0.63 and 0.73 against 0.76 and 0.87. 128 and 512 steps
// measured like 256.
#define CHUNK 256

// The padded direct product: a stride-2 convolution with many columns (ResNet-50's 3x3 from 56x56 to 28x28)
// ran on the column tile, whose every block of every panel task gathers its inputs from the image and
// deinterleaves them: at 69% of the FMA peak against 94% with that copy skipped. Swift now copies the input
// once with its padding (`Kernels.paddedDirectConvolution`), and the channel-vectorised tile reads that copy
// in place: a tile is 32 channels by up to 14 outputs of one output row, and step k (input channel k / taps
// at tap k % taps) broadcasts output j's input from `x[2 j]`, `x` moving by the tap's delta after each step
// (`struct resin_direct_walk` and `resin_channel_tiles` in gemm_gather.h; `tile` and `panel_group` below).

// The prefetches of one step of a channel-vectorised tile: its own filters `PREFETCH_STEPS` ahead into L1
// when it `streams`, and its share of the next chunk's into L2 (`resin_filter_stream`).
__attribute__((target("avx512f"), always_inline)) static inline void
prefetch_step(const float *w, int streams, const float **next, long *left, long *countdown, long every) {
    if (streams) {
        _mm_prefetch((const char *)(w + PREFETCH_STEPS * PANEL), _MM_HINT_T0);
        _mm_prefetch((const char *)(w + PREFETCH_STEPS * PANEL + 16), _MM_HINT_T0);
    }
    if (*left > 0 && --*countdown == 0) {
        *countdown = every;
        _mm_prefetch((const char *)*next, _MM_HINT_T1);
        _mm_prefetch((const char *)(*next + 16), _MM_HINT_T1);
        *next += PANEL;
        --*left;
    }
}

// The start of a channel-vectorised tile's chunk: its sums at zero (`starts`) or from `partial`.
__attribute__((target("avx512f"), always_inline)) static inline void
start_tile(__m512 *low, __m512 *high, const float *partial, int starts, const int cols) {
    UNROLL for (int j = 0; j < cols; j++) {
        low[j] = starts ? _mm512_setzero_ps() : _mm512_load_ps(partial + j * PANEL);
        high[j] = starts ? _mm512_setzero_ps() : _mm512_load_ps(partial + j * PANEL + 16);
    }
}

// Transposes the 16 x 16 block `r` in registers: afterwards r[i] holds lane i of every input register, in
// order. Unpacks pair lanes, then pairs of pairs, then the shuffles move 128-bit quarters twice.
__attribute__((target("avx512f"), always_inline)) static inline void transpose16(__m512 *r) {
    __m512 t[16];
    UNROLL for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    UNROLL for (int i = 0; i < 16; i += 4) {
        const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    UNROLL for (int i = 0; i < 16; i += 8) {
        UNROLL for (int k = 0; k < 4; k++) {
            t[i + k] = _mm512_shuffle_f32x4(r[i + k], r[i + k + 4], 0x88);
            t[i + k + 4] = _mm512_shuffle_f32x4(r[i + k], r[i + k + 4], 0xdd);
        }
    }
    UNROLL for (int k = 0; k < 8; k++) {
        r[k] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0x88);
        r[k + 8] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0xdd);
    }
}

// Stores 16 output rows from 16 sums of channels `first ..< first + 16` by `cols` columns (one register a
// column): transposed in registers, so each row is one vector, then stored with the epilogue in
// resin_store_element's order, so every instruction set's kernel rounds alike. Rows at and past `rows` are
// not stored. (The earlier store through a buffer, one gather per row, took about 7 times as long: 140 against
// 20 ns a 32 x 14 tile, a tenth of a 256-step tile's time.)
__attribute__((target("avx512f"), always_inline)) static inline void
store_rows(const __m512 *sums, long first, float *c, long ldc, long rows, const struct resin_tile_store *s, const int cols) {
    __m512 r[16];
    UNROLL for (int j = 0; j < 16; j++) r[j] = j < cols ? sums[j] : _mm512_setzero_ps();
    transpose16(r);
    const __mmask16 mask = (__mmask16)((1u << cols) - 1);
    const __m512 low_bound = _mm512_set1_ps(s->min), high_bound = _mm512_set1_ps(s->max);
    UNROLL for (int i = 0; i < 16; i++) {
        const long row = first + i;
        if (row >= rows) break;
        float *out = c + row * ldc;
        __m512 value = r[i];
        if (s->adds) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, out));
        if (s->last) {
            if (s->bias) value = _mm512_add_ps(value, _mm512_set1_ps(s->bias[row]));
            if (s->skip) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, s->skip + row * ldc));
            // max(min, value) returns value unless min > value, and value when either is NaN: Clip's rule.
            value = _mm512_min_ps(high_bound, _mm512_max_ps(low_bound, value));
        }
        _mm512_mask_storeu_ps(out, mask, value);
    }
}

// The end of a channel-vectorised tile's chunk: its sums into `partial` unless the chunk is the last
// (`finishes`); else each output row stored as one vector with the epilogue (`store_rows`).
__attribute__((target("avx512f"), always_inline)) static inline void
finish_tile(const __m512 *low, const __m512 *high, float *c, long ldc, long rows, const struct resin_tile_store *s,
            float *partial, int finishes, const int cols) {
    if (!finishes) {
        UNROLL for (int j = 0; j < cols; j++) {
            _mm512_store_ps(partial + j * PANEL, low[j]);
            _mm512_store_ps(partial + j * PANEL + 16, high[j]);
        }
        return;
    }
    store_rows(low, 0, c, ldc, rows, s, cols);
    if (rows > 16) store_rows(high, 16, c, ldc, rows, s, cols);
}

// One channel-vectorised tile: `rows` (<= 32) channels by `cols` (<= 14, a constant after inlining) columns
// over `kc` steps of a chunk. Its sums start at zero (`starts`) or from `partial`, and end in `partial` unless
// the chunk is the last (`finishes`). `streams` when the tile is its chunk's first, which prefetches its
// own filters ahead into L1; every tile takes its share of `stream`. Registers hold columns of channels and
// the output rows are channels (`finish_tile` stores them). The inputs of step kk are row kk of a plain B
// (`ldb` floats apart), or, when `direct` (a constant), `b[2 j]` on the padded input `d` walks, `b` moving
// by tap `tap`'s delta after each step.
__attribute__((target("avx512f"), always_inline)) static inline void
tile(long kc, const float *w, const float *b, long ldb, const struct resin_direct_walk *d, long tap, float *c, long ldc, long rows,
     const struct resin_tile_store *s, float *partial, int starts, int finishes, int streams, struct resin_filter_stream *stream,
     const int cols, const int direct) {
    __m512 low[TILE_COLUMNS], high[TILE_COLUMNS];
    start_tile(low, high, partial, starts, cols);
    const float *next = stream->next;
    long left = stream->left, countdown = stream->countdown;
    for (long kk = 0; kk < kc; kk++) {
        prefetch_step(w, streams, &next, &left, &countdown, stream->every);
        __m512 w0 = _mm512_loadu_ps(w);
        __m512 w1 = _mm512_loadu_ps(w + 16);
        const float *row = direct ? b : b + kk * ldb;
        UNROLL for (int j = 0; j < cols; j++) {
            __m512 x = _mm512_set1_ps(row[direct ? 2 * j : j]);
            low[j] = _mm512_fmadd_ps(w0, x, low[j]);
            high[j] = _mm512_fmadd_ps(w1, x, high[j]);
        }
        w += PANEL;
        if (direct) {
            b += d->delta[tap];
            tap = tap + 1 == d->taps ? 0 : tap + 1;
        }
    }
    stream->next = next;
    stream->left = left;
    stream->countdown = countdown;
    finish_tile(low, high, c, ldc, rows, s, partial, finishes, cols);
}

#define TILE_CASE(n)                                                                                                  \
    case n:                                                                                                            \
        if (d) {                                                                                                       \
            tile(kc, w, b, ldb, d, tap, c, ldc, rows, s, partial, starts, finishes, streams, stream, n, 1);              \
        } else {                                                                                                       \
            tile(kc, w, b, ldb, d, tap, c, ldc, rows, s, partial, starts, finishes, streams, stream, n, 0);              \
        }                                                                                                              \
        break;

// A tile of any width: on the padded input `d` walks (from tap `tap`), or on a plain B when `d` is NULL.
__attribute__((target("avx512f"))) static void
tile_any(long kc, const float *w, const float *b, long ldb, const struct resin_direct_walk *d, long tap, float *c, long ldc, long rows,
         const struct resin_tile_store *s, float *partial, int starts, int finishes, int streams, struct resin_filter_stream *stream,
         long cols) {
    switch (cols) {
    TILE_CASE(14) TILE_CASE(13) TILE_CASE(12) TILE_CASE(11) TILE_CASE(10) TILE_CASE(9) TILE_CASE(8)
    TILE_CASE(7) TILE_CASE(6) TILE_CASE(5) TILE_CASE(4) TILE_CASE(3) TILE_CASE(2)
    default: TILE_CASE(1)
    }
}
#undef TILE_CASE

// Tiles whose partial sums a chunk keeps: a group of columns of at least PANEL_TILE_COLUMNS (a wider range,
// from resin_packed_gemm_avx512, runs as several groups).
#define GROUP_TILES ((PANEL_TILE_COLUMNS + TILE_COLUMNS - 1) / TILE_COLUMNS)
_Static_assert(GROUP_TILES <= RESIN_CHANNEL_GROUP_MAX_TILES, "resin_channel_tiles keeps at most 64 tiles a group");

// The channel-vectorised product of a range of panels and of `tiles` (<= GROUP_TILES) tiles, tile t covering
// columns `first[t] ..< first[t] + width[t]`: of a plain B when `d` is NULL, else of the padded input `d` walks
// (each tile then within one output row).
__attribute__((target("avx512f"))) static void
panel_group(const struct resin_gemm_problem *p, const struct resin_direct_walk *d, long panel_begin, long panel_end,
            const long *first, const long *width, long tiles) {
    // Blocks of the inner dimension keep the input rows a tile reads within the L2 cache (KBLOCK_BYTES above);
    // from the problem's shape, not the split's columns, so every split adds in the same order.
    long limit = KBLOCK_BYTES / (long)sizeof(float) / (p->n > 0 ? p->n : 1);
    long step = resin_even_block(p->k, limit > KBLOCK ? limit : KBLOCK);
    float partials[GROUP_TILES][TILE_COLUMNS * PANEL] __attribute__((aligned(64)));
    // Each tile's place in C and, on a padded input, its first window's corner.
    const float *corner[GROUP_TILES];
    long offset[GROUP_TILES];
    for (long t = 0; t < tiles; t++) resin_direct_tile_place(d, first[t], &corner[t], &offset[t]);
    for (long k0 = 0; k0 < p->k; k0 += step) {
        long kc = p->k - k0 < step ? p->k - k0 : step;
        long chunk = resin_even_block(kc, CHUNK);
        for (long panel = panel_begin; panel < panel_end; panel++) {
            long rows = p->m - panel * PANEL < PANEL ? p->m - panel * PANEL : PANEL;
            const float *w = p->packed + (panel * p->k + k0) * PANEL;
            for (long c0 = 0; c0 < kc; c0 += chunk) {
                long cc = kc - c0 < chunk ? kc - c0 : chunk;
                struct resin_filter_stream stream =
                    resin_next_chunk(p, panel, panel_begin, panel_end, k0, kc, step, c0, chunk, tiles * cc);
                // A padded input's step k0 + c0: its tap, and its offset from a window's corner.
                long tap = d ? (k0 + c0) % d->taps : 0;
                long step_offset = d ? (k0 + c0) / d->taps * d->plane + d->offset[tap] : 0;
                for (long t = 0; t < tiles; t++) {
                    struct resin_tile_store s = resin_tile_store_for(p, k0, kc, panel * PANEL, offset[t]);
                    float *c = p->c + panel * PANEL * p->ldc + offset[t];
                    const float *b = d ? corner[t] + step_offset : p->b + (k0 + c0) * p->ldb + first[t];
                    // The rows the next tile stores to: this panel's next tile's, else the next panel's first.
                    if (c0 + cc >= kc && t + 1 < tiles) {
                        resin_fetch_tile_rows(p, k0, kc, panel * PANEL, rows, offset[t + 1], width[t + 1]);
                    } else if (c0 + cc >= kc && panel + 1 < panel_end) {
                        long next_rows = p->m - (panel + 1) * PANEL < PANEL ? p->m - (panel + 1) * PANEL : PANEL;
                        resin_fetch_tile_rows(p, k0, kc, (panel + 1) * PANEL, next_rows, offset[0], width[0]);
                    }
                    tile_any(cc, w + c0 * PANEL, b, p->ldb, d, tap, c, p->ldc, rows, &s, partials[t], c0 == 0, c0 + cc >= kc, t == 0,
                             &stream, width[t]);
                }
            }
        }
    }
}

// The channel-vectorised product, of a plain B or of a padded input read in place, in groups of GROUP_TILES
// tiles of 14 columns but the last (49 as 14 + 14 + 14 + 7, whose last still has 14 accumulators; AVX2 shares
// its columns evenly instead, packed_gemm_avx2.c).
__attribute__((target("avx512f"))) static void
panel_product(const struct resin_gemm_problem *p, long panel_begin, long panel_end, long column_begin, long column_end) {
    resin_channel_tiles(p, panel_begin, panel_end, column_begin, column_end, TILE_COLUMNS, 0, GROUP_TILES, panel_group);
}

// Lanes `from ..< to` of a register (clipped to its 16).
__attribute__((target("avx512f"), always_inline)) static inline __mmask16 lanes_between(long from, long to) {
    if (from < 0) from = 0;
    if (to > 16) to = 16;
    if (to <= from) return 0;
    return (__mmask16)(((1u << (to - from)) - 1) << from);
}

// The register of lanes `lane0 ..< lane0 + 16` of a tile row starting at `base` (columns past `cols` left
// alone): loaded into `value` or stored from it, one masked access per image the lanes fall in (one unless a
// batch's image ends inside the register).
__attribute__((target("avx512f"), always_inline)) static inline __m512
access_lanes(float *base, const float *source, __m512 value, long lane0, long cols, const struct resin_column_layout *l,
             int store) {
    long end = cols < lane0 + 16 ? cols : lane0 + 16;
    long from = lane0, edge = l->boundary, shift = 0;
    while (edge <= from) {
        edge += l->plane;
        shift += l->shift;
    }
    while (from < end) {
        long to = edge < end ? edge : end;
        __mmask16 mask = lanes_between(from - lane0, to - lane0);
        if (store) {
            _mm512_mask_storeu_ps(base + lane0 + shift, mask, value);
        } else {
            value = _mm512_mask_loadu_ps(value, mask, source + lane0 + shift);
        }
        from = to;
        edge += l->plane;
        shift += l->shift;
    }
    return value;
}

// Where a straddling tile's three registers load and store when none spans more than two images (planes of at
// least 16 columns, as every ResNet map is): per register, the lanes of its first image and of the next, and
// the offsets they move by. Two masked accesses per register then replace access_lanes' loop, whose branches
// change with every block: ResNet-50's 7x7 products at batch 8 (49-column planes, so nearly every tile
// straddles): a 512x2048 one ran at 113 GFLOP/s with that loop and 136 with these, 157 on a plain B (one core).
struct straddle_lanes {
    __mmask16 first[3], second[3];
    long first_shift[3], second_shift[3];
};

__attribute__((target("avx512f"), always_inline)) static inline struct straddle_lanes
straddle_lanes_for(const struct resin_column_layout *l, long cols) {
    struct straddle_lanes t;
    for (int v = 0; v < 3; v++) {
        long lane0 = 16 * v, end = cols < lane0 + 16 ? cols : lane0 + 16;
        long split = resin_straddle_split(l, lane0, end, &t.first_shift[v]);
        t.first[v] = lanes_between(0, split - lane0);
        t.second[v] = lanes_between(split - lane0, end - lane0);
        t.second_shift[v] = t.first_shift[v] + l->shift;
    }
    return t;
}

// What a column tile prefetches while it computes: the next tile's `c_rows` rows of C at `c` (and of a
// separate residual at `skip`), and `b_rows` rows (`ldb` apart) of the block of B the next copy reads. Both
// are rows 3 to 12 KiB apart, a page each at 56x56, which the hardware prefetchers do not follow: ResNet-50's
// 56x56 and 28x28 products ran 1.02 to 1.08 times as fast with it (one core, alternating in one process).
struct column_prefetch {
    const float *c, *skip;
    long c_rows, c_cols;
    const float *b;
    long b_rows, ldb;
    // Lines of the filters the next panel (or block of the inner dimension) reads, `w_per_step` a step.
    const float *w;
    long w_lines, w_per_step;
};

// Line `line` of the next tile's rows of C (and of its separate residual), four lines a row: columns 0, 16,
// 32 and the last of its `c_cols`, which is a fourth line when the row does not start on one; C's for writing
// (resin_fetch_tile_rows), never past the tile's columns, which may be another thread's. Issued one a step
// rather than all at the tile's start, ResNet-50's pointwise convolutions took 1.2% less time (AVX-512, Zen 4,
// one thread, the two ways alternating run by run in one process; the 3x3 convolutions, unchanged, within
// 0.1%). Fetched for writing rather than reading, its 56x56 and 28x28 last 1x1s of each block took 0.03 to
// 0.06 ms less each with the cores apart, and as long with them close (Zen 5, 2 threads, alternating profiles).
__attribute__((target("avx512f"), always_inline)) static inline void
prefetch_c_line(const struct column_prefetch *ahead, long ldc, long line) {
    long part = line & 3, column = part == 3 ? ahead->c_cols - 1 : 16 * part;
    if (column >= ahead->c_cols) return;
    long offset = (line >> 2) * ldc + column;
    resin_prefetch_for_writing(ahead->c + offset);
    if (ahead->skip) _mm_prefetch((const char *)(ahead->skip + offset), _MM_HINT_T0);
}

// One column-vectorised tile: 8 channels (`rows` of them stored) by `vectors` (a constant after inlining)
// registers of 16 columns, `cols` of them stored, over `kc` steps. `w` is the tile's first lane in the panel,
// `x` its inputs, `ldx` floats a step: the copied block (`COLUMNS`), or a plain B read in place (`ldb`,
// `resin_column_reads_b_in_place`). `straddles` (a constant) when a batch's image ends inside
// the tile: `layout` then says where the later image's columns go, each access masked per image. A separate
// copy of the tile for that keeps the common one as it was: with both in one, 1x1 products lost 10 to 30%.
__attribute__((target("avx512f"), always_inline)) static inline void
column_tile(long kc, const float *w, const float *x, long ldx, float *c, long ldc, long rows, long cols,
            const struct resin_tile_store *s, const struct resin_column_layout *layout, const struct straddle_lanes *two,
            const struct column_prefetch *ahead, const int vectors, const int straddles) {
    // The next tile's rows of C (and of a separate residual), into L1 while this one computes: one line a
    // step when the tile has the steps, else all at once here.
    long c_lines = 4 * ahead->c_rows;
    if (kc < c_lines) {
        for (long line = 0; line < c_lines; line++) prefetch_c_line(ahead, ldc, line);
        c_lines = 0;
    }
    __mmask16 mask[3];
    UNROLL for (int v = 0; v < vectors; v++) mask[v] = lanes_between(0, cols - 16 * v);
    __m512 acc[ROWS][3];
    UNROLL for (int r = 0; r < ROWS; r++) {
        // C holds a partial sum or the residual; else a separate residual starts the sum.
        UNROLL for (int v = 0; v < vectors; v++) {
            __m512 start = _mm512_setzero_ps();
            const float *from = s->adds ? c + r * ldc : s->skip ? s->skip + r * ldc : NULL;
            if (r < rows && from) {
                if (straddles == 2) {
                    start = _mm512_maskz_loadu_ps(two->first[v], from + 16 * v + two->first_shift[v]);
                    start = _mm512_mask_loadu_ps(start, two->second[v], from + 16 * v + two->second_shift[v]);
                } else {
                    start = straddles ? access_lanes(NULL, from, start, 16 * v, cols, layout, 0)
                                      : _mm512_maskz_loadu_ps(mask[v], from + 16 * v);
                }
            }
            acc[r][v] = start;
        }
    }
    const float *next_b = ahead->b, *next_w = ahead->w;
    long w_left = ahead->w_lines;
    for (long kk = 0; kk < kc; kk++) {
        for (long q = 0; q < ahead->w_per_step && w_left > 0; q++, w_left--, next_w += 16) {
            _mm_prefetch((const char *)next_w, _MM_HINT_T1);
        }
        if (kk < c_lines) prefetch_c_line(ahead, ldc, kk);
        if (kk < ahead->b_rows) {
            _mm_prefetch((const char *)next_b, _MM_HINT_T1);
            _mm_prefetch((const char *)(next_b + 16), _MM_HINT_T1);
            _mm_prefetch((const char *)(next_b + 32), _MM_HINT_T1);
            _mm_prefetch((const char *)(next_b + COLUMNS - 1), _MM_HINT_T1);
            next_b += ahead->ldb;
        }
        __m512 in[3];
        UNROLL for (int v = 0; v < vectors; v++) in[v] = _mm512_loadu_ps(x + 16 * v);
        UNROLL for (int r = 0; r < ROWS; r++) {
            __m512 weight = _mm512_set1_ps(w[r]);
            UNROLL for (int v = 0; v < vectors; v++) acc[r][v] = _mm512_fmadd_ps(in[v], weight, acc[r][v]);
        }
        w += PANEL;
        x += ldx;
    }
    // max(min, value) returns value unless min > value, and value when either is NaN; min(max, ...) likewise.
    __m512 low = _mm512_set1_ps(s->min), high = _mm512_set1_ps(s->max);
    UNROLL for (int r = 0; r < ROWS; r++) {
        if (r >= rows) continue;
        __m512 bias = _mm512_set1_ps(s->bias && s->last ? s->bias[r] : 0.0f);
        UNROLL for (int v = 0; v < vectors; v++) {
            __m512 value = acc[r][v];
            if (s->last) value = _mm512_min_ps(high, _mm512_max_ps(low, _mm512_add_ps(value, bias)));
            if (straddles == 2) {
                _mm512_mask_storeu_ps(c + r * ldc + 16 * v + two->first_shift[v], two->first[v], value);
                _mm512_mask_storeu_ps(c + r * ldc + 16 * v + two->second_shift[v], two->second[v], value);
            } else if (straddles) {
                access_lanes(c + r * ldc, NULL, value, 16 * v, cols, layout, 1);
            } else {
                _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mask[v], value);
            }
        }
    }
}

// Copies `count` inputs `stride` apart into consecutive floats, or writes zeros when `source` is NULL; every
// second one (stride 2, the strided convolutions) is deinterleaved from pairs of registers. Tails are masked
// (ResNet's rows of 7, 14, 28 and 56 leave them everywhere) and no lane past the last input is read.
__attribute__((target("avx512f"))) static void
gather_copy(float *target, const float *source, long count, long stride) {
    if (source == NULL) {
        for (long t = 0; t < count; t += 16) _mm512_mask_storeu_ps(target + t, lanes_between(0, count - t), _mm512_setzero_ps());
        return;
    }
    if (stride == 1) {
        for (long t = 0; t < count; t += 16) {
            __mmask16 mask = lanes_between(0, count - t);
            _mm512_mask_storeu_ps(target + t, mask, _mm512_maskz_loadu_ps(mask, source + t));
        }
        return;
    }
    if (stride == 2) {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        for (long t = 0; t < count; t += 16) {
            // Inputs 2t ..< 2t + 2 * left - 1 are read.
            long reads = 2 * (count - t < 16 ? count - t : 16) - 1;
            const float *from = source + 2 * t;
            __m512 a = _mm512_maskz_loadu_ps(lanes_between(0, reads), from);
            __m512 b = _mm512_maskz_loadu_ps(lanes_between(0, reads - 16), from + 16);
            _mm512_mask_storeu_ps(target + t, lanes_between(0, count - t), _mm512_permutex2var_ps(a, even, b));
        }
        return;
    }
    for (long t = 0; t < count; t++) target[t] = source[t * stride];
}

// The column-vectorised product over a range of panels and columns. Blocks of COLUMNS columns are taken
// `per_pass` at a time (resin_column_blocks_per_pass): each block of the inner dimension copies the pass's
// blocks of inputs, then each panel's filters for that block serve all of them while they are in L1.
__attribute__((target("avx512f"))) static void
column_product(const struct resin_gemm_problem *p, long panel_begin, long panel_end, long column_begin, long column_end) {
    // No panels: nothing to do (and the prefetch below shares rows of B among the panels).
    if (panel_begin >= panel_end) return;
    float x[RESIN_COLUMN_PASS_BLOCKS][COLUMN_KBLOCK * COLUMNS] __attribute__((aligned(64)));
    struct resin_gather_piece pieces[RESIN_COLUMN_PASS_BLOCKS][RESIN_GATHER_MAX_PIECES];
    struct resin_column_layout layouts[RESIN_COLUMN_PASS_BLOCKS];
    struct straddle_lanes straddles[RESIN_COLUMN_PASS_BLOCKS];
    int piece_counts[RESIN_COLUMN_PASS_BLOCKS];
    int in_place = resin_column_reads_b_in_place(p);
    long per_pass = resin_column_blocks_per_pass(p, panel_end - panel_begin, (column_end - column_begin + COLUMNS - 1) / COLUMNS);
    long step = resin_even_block(p->k, COLUMN_KBLOCK);
    long row_end = panel_end * PANEL < p->m ? panel_end * PANEL : p->m;
    long tiles = (row_end - panel_begin * PANEL + ROWS - 1) / ROWS;
    for (long j0 = column_begin; j0 < column_end; j0 += per_pass * COLUMNS) {
        long blocks = (column_end - j0 + COLUMNS - 1) / COLUMNS;
        if (blocks > per_pass) blocks = per_pass;
        long pass_end = j0 + blocks * COLUMNS < column_end ? j0 + blocks * COLUMNS : column_end;
        for (long b = 0; b < blocks; b++) {
            long j = j0 + b * COLUMNS;
            long cols = column_end - j < COLUMNS ? column_end - j : COLUMNS;
            layouts[b] = resin_column_layout_at(p, j);
            if (layouts[b].boundary < cols && layouts[b].plane >= 16) straddles[b] = straddle_lanes_for(&layouts[b], cols);
            // All 48 columns: a tile an image ends in runs three registers whatever `cols`, so every lane it
            // reads must hold a number (stale stack could hold denormals, which slow the multiply-adds).
            piece_counts[b] = p->gather ? resin_gather_pieces(p->gather, j, cols, COLUMNS, COLUMNS, 0, pieces[b]) : 0;
        }
        for (long k0 = 0; k0 < p->k; k0 += step) {
            long kc = p->k - k0 < step ? p->k - k0 : step;
            // Copy the blocks of inputs, zero past each block's columns so every register lane reads a number.
            for (long b = 0; b < blocks; b++) {
                long j = j0 + b * COLUMNS;
                long cols = column_end - j < COLUMNS ? column_end - j : COLUMNS;
                if (p->gather) {
                    resin_gather_rows(p->gather, pieces[b], piece_counts[b], k0, kc, x[b], COLUMNS, gather_copy);
                    continue;
                }
                if (in_place && cols == COLUMNS) continue;  // read in place by its tiles (below)
                int vectors = (int)((cols + 15) / 16);
                for (long kk = 0; kk < kc; kk++) {
                    const float *row = p->b + (k0 + kk) * p->ldb + j;
                    for (int v = 0; v < vectors; v++) {
                        long left = cols - 16 * v;
                        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
                        _mm512_store_ps(x[b] + kk * COLUMNS + 16 * v, _mm512_maskz_loadu_ps(mask, row + 16 * v));
                    }
                }
            }
            // The rows of B the next copy reads (a plain B: the next block of the inner dimension, else the
            // next pass's columns), each block's rows spread over the tiles that compute on that block.
            long next_rows;
            const float *next_b = resin_next_b_rows(p, k0, kc, j0, pass_end - j0, column_end, step, &next_rows);
            long per_tile = (next_rows + tiles - 1) / tiles;
            long tile_index = 0;
            for (long panel = panel_begin; panel < panel_end; panel++) {
                long panel_rows = p->m - panel * PANEL < PANEL ? p->m - panel * PANEL : PANEL;
                const float *w = p->packed + (panel * p->k + k0) * PANEL;
                long panel_tiles = (panel_rows + ROWS - 1) / ROWS;
                long next_w_lines;
                const float *next_w = resin_next_filter_block(p, panel, panel_begin, panel_end, k0, kc, step, j0 == column_begin,
                                                              per_pass > 1, pass_end < column_end, &next_w_lines);
                long w_per_tile = (next_w_lines + blocks * panel_tiles - 1) / (blocks * panel_tiles);
                for (long b = 0; b < blocks; b++) {
                    long j = j0 + b * COLUMNS;
                    long cols = column_end - j < COLUMNS ? column_end - j : COLUMNS;
                    int vectors = (int)((cols + 15) / 16);
                    const struct resin_column_layout *layout = &layouts[b];
                    // A full block of a B read in place, else its copy.
                    int direct = in_place && cols == COLUMNS;
                    const float *source = direct ? p->b + k0 * p->ldb + j : x[b];
                    long ldx = direct ? p->ldb : COLUMNS;
                    for (long r0 = 0, t = 0; r0 < panel_rows; r0 += ROWS, t++) {
                        long rows = panel_rows - r0 < ROWS ? panel_rows - r0 : ROWS;
                        long row = panel * PANEL + r0;
                        struct resin_tile_store s = resin_tile_store_for(p, k0, kc, row, layout->offset);
                        float *c = p->c + row * p->ldc + layout->offset;
                        struct column_prefetch ahead = {NULL, NULL, 0, 0, NULL, 0, p->ldb, NULL, 0, 1};
                        // This tile's share of the filters the next panel reads.
                        long w_first = (b * panel_tiles + t) * w_per_tile;
                        if (w_first < next_w_lines) {
                            ahead.w = next_w + w_first * 16;
                            ahead.w_lines = next_w_lines - w_first < w_per_tile ? next_w_lines - w_first : w_per_tile;
                            ahead.w_per_step = (ahead.w_lines + kc - 1) / kc;
                        }
                        // The next tile's C: the next rows of this block, else this panel's first rows of the
                        // next block, else the next panel's first rows of the first block.
                        long next_row = -1, next_block = b;
                        if (r0 + ROWS < panel_rows) {
                            next_row = row + ROWS;
                        } else if (b + 1 < blocks) {
                            next_row = panel * PANEL;
                            next_block = b + 1;
                        } else if (panel + 1 < panel_end) {
                            next_row = (panel + 1) * PANEL;
                            next_block = 0;
                        }
                        long next_offset = layouts[next_block].offset, next_j = j0 + next_block * COLUMNS;
                        // Its columns in C's rows: the block's, up to the end of its first image when it straddles.
                        long next_cols = column_end - next_j < COLUMNS ? column_end - next_j : COLUMNS;
                        ahead.c_cols = layouts[next_block].boundary < next_cols ? layouts[next_block].boundary : next_cols;
                        if (next_row >= 0) {
                            struct resin_tile_store t_next = resin_tile_store_for(p, k0, kc, next_row, next_offset);
                            ahead.c = p->c + next_row * p->ldc + next_offset;
                            ahead.skip = t_next.skip;
                            ahead.c_rows = row_end - next_row < ROWS ? row_end - next_row : ROWS;
                        }
                        // Block `b`'s share of the rows of B the next copy reads (prefetching never faults,
                        // so a block the next copy does not have costs nothing wrong).
                        long first = (tile_index + t) * per_tile;
                        if (first < next_rows) {
                            ahead.b = next_b + first * p->ldb + b * COLUMNS;
                            ahead.b_rows = next_rows - first < per_tile ? next_rows - first : per_tile;
                        }
                        const struct straddle_lanes *two = &straddles[b];
                        if (layout->boundary < cols) {
                            if (layout->plane >= 16) {
                                column_tile(kc, w + r0, source, ldx, c, p->ldc, rows, cols, &s, layout, two, &ahead, 3, 2);
                            } else {
                                column_tile(kc, w + r0, source, ldx, c, p->ldc, rows, cols, &s, layout, two, &ahead, 3, 1);
                            }
                            continue;
                        }
                        switch (vectors) {
                        case 3: column_tile(kc, w + r0, source, ldx, c, p->ldc, rows, cols, &s, layout, two, &ahead, 3, 0); break;
                        case 2: column_tile(kc, w + r0, source, ldx, c, p->ldc, rows, cols, &s, layout, two, &ahead, 2, 0); break;
                        default: column_tile(kc, w + r0, source, ldx, c, p->ldc, rows, cols, &s, layout, two, &ahead, 1, 0); break;
                        }
                    }
                }
                tile_index += panel_tiles;
            }
        }
    }
}

__attribute__((target("avx512f"))) void
resin_fused_gemm_avx512(const struct resin_gemm_problem *problem, long panel_begin, long panel_end, long column_begin,
                        long column_end) {
    // The channel-vectorised tile reads a plain B of few columns, or a padded input in place.
    if (problem->gather == NULL ? problem->n <= PANEL_TILE_COLUMNS : resin_padded_direct_supported(problem->gather)) {
        panel_product(problem, panel_begin, panel_end, column_begin, column_end);
    } else {
        column_product(problem, panel_begin, panel_end, column_begin, column_end);
    }
}

__attribute__((target("avx512f"))) void
resin_packed_gemm_avx512(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
                         const float *b, long ldb, float *c, long ldc, int accumulate,
                         const float *next_packed) {
    struct resin_gemm_problem problem = resin_plain_problem(m, n, k, packed, b, ldb, c, ldc, accumulate, next_packed);
    panel_product(&problem, panel_begin, panel_end, 0, n);
}

// An im2col band gathered by position (`resin_gather_by_position`): per row and register of 16 columns, one
// load from the channel's plane, masked to the lanes whose input row and column lie inside the input
// (compared unsigned, so a row or column left of the input wraps out; the padding's lanes read zeros and
// touch no memory). Consecutive positions reading consecutive inputs (stride 1, `resin_gather_is_contiguous`)
// load a register; strided ones gather its lanes where output rows are shorter than a register (ResNet-50's
// stride-2 3x3 to 7x7; `resin_gather_by_position` has the figures). Longer rows keep the piece copy, a permute
// per register: gathered, its 1x1 stride-2 convolution from 56x56 took 1.02 to 1.05 ms against 0.98 to 1.00
// (one core, three alternating profiles each).
__attribute__((target("avx512f"))) static void
position_im2col(const struct resin_gemm_gather *g, long column, long cols, long k0, long kc, float *out, long ldo) {
    enum { VECTORS = 16 };
    const int contiguous = resin_gather_is_contiguous(g);
    const __m512i height = _mm512_set1_epi32((int)g->input_height), width = _mm512_set1_epi32((int)g->input_width);
    for (long c0 = 0; c0 < cols; c0 += VECTORS * 16) {
        long count = cols - c0 < VECTORS * 16 ? cols - c0 : VECTORS * 16, vectors = (count + 15) / 16;
        int row_lanes[VECTORS * 16], column_lanes[VECTORS * 16], offset_lanes[VECTORS * 16];
        resin_band_lanes(g, column + c0, count, row_lanes, column_lanes, offset_lanes);
        __m512i rows[VECTORS], columns[VECTORS], offsets[VECTORS];
        __mmask16 live[VECTORS];
        for (long v = 0; v < vectors; v++) {
            live[v] = lanes_between(0, count - 16 * v);
            rows[v] = _mm512_maskz_loadu_epi32(live[v], row_lanes + 16 * v);
            columns[v] = _mm512_maskz_loadu_epi32(live[v], column_lanes + 16 * v);
            offsets[v] = _mm512_maskz_loadu_epi32(live[v], offset_lanes + 16 * v);
        }
        struct resin_band_walk walk = resin_band_walk_start(g, k0);
        for (long kk = 0; kk < kc; kk++) {
            const float *source = resin_band_walk_source(g, &walk);
            float *target = out + kk * ldo + c0;
            const __m512i up = _mm512_set1_epi32((int)walk.rows), across = _mm512_set1_epi32((int)walk.columns);
            for (long v = 0; v < vectors; v++) {
                __mmask16 inside = _mm512_mask_cmplt_epu32_mask(live[v], _mm512_add_epi32(rows[v], up), height);
                inside = _mm512_mask_cmplt_epu32_mask(inside, _mm512_add_epi32(columns[v], across), width);
                __m512 value = contiguous ? _mm512_maskz_loadu_ps(inside, source + column + c0 + 16 * v)
                                          : _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside, offsets[v], source, 4);
                _mm512_mask_storeu_ps(target + 16 * v, live[v], value);
            }
            resin_band_walk_next(g, &walk);
        }
    }
}

// An im2col band (`resin_im2col_fn`) with this set's copy.
__attribute__((target("avx512f")))
void resin_im2col_avx512(const struct resin_gemm_gather *gather, long column, long cols, long k0, long kc, float *out, long ldo) {
    if (resin_gather_by_position(gather, column, cols) && (resin_gather_is_contiguous(gather) || gather->output_width < 16)) {
        position_im2col(gather, column, cols, k0, kc, out, ldo);
    } else {
        resin_gather_matrix(gather, column, cols, k0, kc, out, ldo, gather_copy);
    }
}
#endif
