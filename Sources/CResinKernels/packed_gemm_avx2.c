// The packed matrix product for AVX2 with FMA (packed_gemm_portable.c has the layout and the reference loop),
// with the convolution epilogue (bias, residual, clamp) applied before each store.
//
// Two microkernels read the one packed layout, as on AVX-512 (packed_gemm_avx512.c):
// - Few columns: vectorised along output channels. A full panel by n columns would need 4n accumulators
//   plus 4 filter registers and a broadcast: beyond the 16 ymm registers for n >= 3. So a tile is half a
//   panel (16 channels, two registers) by 6 columns: 12 accumulators, 2 filter registers and 1 broadcast;
//   each step loads 2 filter vectors and 6 inputs for 12 fused multiply-adds. A partial panel of at most 16
//   channels skips its empty half. Prefetching the filters 16 steps ahead and storing each output row of a
//   tile as one masked vector (then gathered from a transposing buffer, now transposed in registers) made
//   ResNet-50's 49-column products 1.03 to 1.09 times as fast (one core, alternating in one process, machine
//   shared).
// - Many columns: vectorised along columns, a tile is 6 channels (broadcast from the panel) by 16 columns
//   (two registers): 12 accumulators, 2 input registers and 1 broadcast, 15 registers, so nothing spills
//   (the earlier 4 x 24 tile needed all 16 and kept one accumulator in memory); each step loads 2 input
//   vectors and broadcasts 6 filter values for 12 fused multiply-adds. A 32-channel panel is two such
//   tiles and four of 5 channels (column_panel). The inputs are copied per block of 48 columns and 128 steps into
//   a stack buffer as three slabs of 16 columns, each read sequentially by a tile (8 KiB a slab, with the
//   panel's 16 KiB of filters for the block, in the L1 cache). Measured on ResNet-50's products (one core,
//   both tiles alternating in one process, load average near 2 on 2 cores): 1.3 to 1.5 times the 4 x 24 tile's
//   GFLOPS, 62 to 83 against AVX-512's 96 to 162 (this core's AVX2 peak is 96 GFLOPS, its AVX-512 peak 195).
// Every function carries its own target attribute, so the file builds without global flags and runs only
// where the kernel table chose it.
#include "resin_kernels.h"

#if defined(__x86_64__)
#include "gemm_epilogue.h"
#include "gemm_gather.h"
#include "store_avx2.h"

#include <immintrin.h>
#include <stddef.h>

#define PANEL RESIN_PACKED_PANEL
#define HALF 16
#define TILE RESIN_CHANNEL_TILE_COLUMNS_AVX2
#define KBLOCK 512
#define ROWS 6
#define SLAB 16
#define COLUMNS 48
#define COLUMN_KBLOCK 128
// Up to this many columns the channel-vectorised tile runs. Measured on ResNet-50's products against the
// 6 x 16 column tile (one core, alternating in one process, load average near 6 on 2 cores, so the figures
// move): at 49 columns 58 to 77 GFLOPS for it against 30 to 76, at 196 78 to 82 against 72 to 77, at 784 28
// to 68 against 76 to 83.
// Measured again with the prefetching tile: at 196 columns 79 to 87 GFLOPS against the column tile's 69 to
// 85; at 392 both 81.
#define PANEL_TILE_COLUMNS 256
// Loops over a tile's rows and registers unroll fully, so the accumulators stay in registers (without it the
// three-register tile kept them in memory, stored after every multiply-add).
#define UNROLL _Pragma("clang loop unroll(full)")

// Filter lines are prefetched this many steps ahead (a half panel's 64 bytes a step, one line) by the first
// tile of each chunk.
#define PREFETCH_STEPS 16
// A panel's filters are taken in chunks of this many steps, every tile of both halves computing one chunk
// before the next, the partial sums kept in a stack buffer, while the tiles fetch the next chunk into L2
// spread over their steps: memory then delivers the filters at an even rate, as on AVX-512
// (packed_gemm_avx512.c has the reasons and the figures). A chunk of 256 steps is 32 KiB of filters (both
// halves of a panel), as large as the L1 data cache of AVX2 machines and of Zen 4, so every tile after the
// first read them from L2; at 128 steps (16 KiB) one thread on a Zen 4 guest (AMD EPYC, family 25 model 17,
// 32 KiB L1d, RESIN_ISA=avx2, one-convolution models, minimums of 8 rounds in random order) ran layer4's
// 512x7x7 3x3 convolution in 2.35 against 2.78 ms, its 2048-to-512 1x1 in 1.00 against 1.09, the 14x14 3x3
// (Winograd products) in 1.18 against 1.29, the 14x14 1x1s alike (0.97 to 0.98). 64 steps ran ResNet-50
// slower. AVX-512 keeps 256: 128 measured alike or slower there.
#define CHUNK 128

// Transposes the 8 x 8 block `r` in registers: afterwards r[i] holds lane i of every input register, in
// order. Unpacks pair lanes, shuffles pair the pairs, then the 128-bit halves are exchanged.
__attribute__((target("avx2,fma"), always_inline)) static inline void transpose8(__m256 *r) {
    __m256 t[8], u[8];
    UNROLL for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    UNROLL for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    UNROLL for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

// Stores 8 output rows from 8 sums of channels `first ..< first + 8` by `cols` columns (one register a
// column): transposed in registers, so each row is one vector stored in parts (store_avx2.h), with the epilogue in
// resin_store_element's order, so every instruction set's kernel rounds alike. Rows at and past `rows` are
// not stored. (A gather per row from a buffer took several times as long, as on AVX-512.)
__attribute__((target("avx2,fma"), always_inline)) static inline void
store_rows(const __m256 *sums, long first, float *c, long ldc, long rows, const struct resin_tile_store *s, const int cols) {
    __m256 r[8];
    UNROLL for (int j = 0; j < 8; j++) r[j] = j < cols ? sums[j] : _mm256_setzero_ps();
    transpose8(r);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 low_bound = _mm256_set1_ps(s->min), high_bound = _mm256_set1_ps(s->max);
    UNROLL for (int i = 0; i < 8; i++) {
        const long row = first + i;
        if (row >= rows) break;
        float *out = c + row * ldc;
        __m256 value = r[i];
        if (s->adds) value = _mm256_add_ps(value, _mm256_maskload_ps(out, mask));
        if (s->last) {
            if (s->bias) value = _mm256_add_ps(value, _mm256_set1_ps(s->bias[row]));
            if (s->skip) value = _mm256_add_ps(value, _mm256_maskload_ps(s->skip + row * ldc, mask));
            // max(min, value) returns value unless min > value, and value when either is NaN: Clip's rule.
            value = _mm256_min_ps(high_bound, _mm256_max_ps(low_bound, value));
        }
        resin_store_first8(out, value, cols);
    }
}

// One step of a channel-vectorised tile: the half panel's 16 filters at `w` against the inputs `row[stride j]`.
__attribute__((target("avx2,fma"), always_inline)) static inline void
channel_step(const float *w, const float *row, const int stride, __m256 *low, __m256 *high, const int cols) {
    __m256 w0 = _mm256_loadu_ps(w);
    __m256 w1 = _mm256_loadu_ps(w + 8);
    UNROLL for (int j = 0; j < cols; j++) {
        __m256 x = _mm256_broadcast_ss(row + stride * j);
        low[j] = _mm256_fmadd_ps(w0, x, low[j]);
        high[j] = _mm256_fmadd_ps(w1, x, high[j]);
    }
}

// One tile: `rows` (<= 16) channels of a half panel by `cols` (<= 6, a constant after inlining) columns over
// `kc` steps of a chunk; `w` points at the half panel's first lane, and a step advances a whole panel. Its
// sums start at zero (`starts`) or from `partial`, and end in `partial` unless the chunk is the last
// (`finishes`). `streams` when the tile is its chunk's first, which prefetches its own filters into L1; every
// tile takes its share of `stream`. The inputs of step kk are row kk of a plain B (`ldb` floats apart), or,
// when `direct` (a constant), `row[2 j]` on the padded input `d` walks (packed_gemm_avx512.c has the reasons),
// `row` starting at `b` and moving by tap `tap`'s delta after each step.
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile(long kc, const float *w, const float *b, long ldb, const struct resin_direct_walk *d, long tap, float *c, long ldc, long rows,
     const struct resin_tile_store *s, float *partial, int starts, int finishes, int streams, struct resin_filter_stream *stream,
     const int cols, const int direct) {
    __m256 low[TILE], high[TILE];
    UNROLL for (int j = 0; j < cols; j++) {
        low[j] = starts ? _mm256_setzero_ps() : _mm256_load_ps(partial + j * HALF);
        high[j] = starts ? _mm256_setzero_ps() : _mm256_load_ps(partial + j * HALF + 8);
    }
    const float *next = stream->next;
    long left = stream->left, countdown = stream->countdown;
    // Runs of steps up to the next line of the stream, with the stream's bookkeeping and the test of `streams`
    // outside them: 24 instructions a step for 12 multiply-adds on a plain B instead of about 31, 30 on a
    // padded input instead of about 33. AVX2 loops lose time in proportion to their instructions in this host's
    // slow spells, where AVX-512 ones do not (Docs/PERFORMANCE.md, Zen 4): ResNet-50's pointwise convolutions
    // (with the column tile's loop below) took 0.99 of their time at their minimums and 0.92 to 0.985 at their
    // medians; its 3x3 stride-2 convolution from 56x56 (padded input) 0.98 to 1.02 and 0.82 to 0.90, the 7x7
    // stage's 3x3s (padded input too) 0.98 to 1.02 and 0.93 to 1.04 (one and two threads, alternating run by
    // run in one process).
    const float *row = b;
    long kk = 0;
    while (kk < kc) {
        long run = kc - kk;
        if (left > 0 && countdown > 0 && countdown <= run) run = countdown;
        for (long i = 0; i < run; i++) {
            if (streams) _mm_prefetch((const char *)(w + PREFETCH_STEPS * PANEL), _MM_HINT_T0);
            channel_step(w, row, direct ? 2 : 1, low, high, cols);
            w += PANEL;
            if (direct) {
                row += d->delta[tap];
                tap = tap + 1 == d->taps ? 0 : tap + 1;
            } else {
                row += ldb;
            }
        }
        kk += run;
        if (left > 0) {
            countdown -= run;
            if (countdown == 0) {
                countdown = stream->every;
                _mm_prefetch((const char *)next, _MM_HINT_T1);
                _mm_prefetch((const char *)(next + 16), _MM_HINT_T1);
                next += PANEL;
                left--;
            }
        }
    }
    stream->next = next;
    stream->left = left;
    stream->countdown = countdown;
    if (!finishes) {
        UNROLL for (int j = 0; j < cols; j++) {
            _mm256_store_ps(partial + j * HALF, low[j]);
            _mm256_store_ps(partial + j * HALF + 8, high[j]);
        }
        return;
    }
    store_rows(low, 0, c, ldc, rows, s, cols);
    if (rows > 8) store_rows(high, 8, c, ldc, rows, s, cols);
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
__attribute__((target("avx2,fma"))) static void
tile_any(long kc, const float *w, const float *b, long ldb, const struct resin_direct_walk *d, long tap, float *c, long ldc,
         long rows, const struct resin_tile_store *s, float *partial, int starts, int finishes, int streams,
         struct resin_filter_stream *stream, long cols) {
    switch (cols) {
    TILE_CASE(6) TILE_CASE(5) TILE_CASE(4) TILE_CASE(3) TILE_CASE(2)
    default: TILE_CASE(1)
    }
}
#undef TILE_CASE

// Tiles per half panel whose partial sums a chunk keeps: a group of columns of at least PANEL_TILE_COLUMNS (a
// wider range, from resin_packed_gemm_avx2, runs as several groups).
#define GROUP_TILES ((PANEL_TILE_COLUMNS + TILE - 1) / TILE)
_Static_assert(GROUP_TILES <= RESIN_CHANNEL_GROUP_MAX_TILES, "resin_channel_tiles keeps at most 64 tiles a group");

// The channel-vectorised product of a range of panels and of `tiles` (<= GROUP_TILES) tiles, tile t covering
// columns `first[t] ..< first[t] + width[t]`: of a plain B when `d` is NULL, else of the padded input `d` walks
// (each tile then within one output row).
__attribute__((target("avx2,fma"))) static void
panel_group(const struct resin_gemm_problem *p, const struct resin_direct_walk *d, long panel_begin, long panel_end,
            const long *first, const long *width, long tiles) {
    float partials[2][GROUP_TILES][TILE * HALF] __attribute__((aligned(32)));
    // Each tile's place in C and, on a padded input, its first window's corner.
    const float *corner[GROUP_TILES];
    long offset[GROUP_TILES];
    for (long t = 0; t < tiles; t++) resin_direct_tile_place(d, first[t], &corner[t], &offset[t]);
    // Blocks of the inner dimension keep the input rows a tile reads within the L2 cache.
    for (long k0 = 0; k0 < p->k; k0 += KBLOCK) {
        long kc = p->k - k0 < KBLOCK ? p->k - k0 : KBLOCK;
        long chunk = resin_even_block(kc, CHUNK);
        for (long panel = panel_begin; panel < panel_end; panel++) {
            long rows = p->m - panel * PANEL < PANEL ? p->m - panel * PANEL : PANEL;
            long halves = (rows + HALF - 1) / HALF;
            const float *w = p->packed + (panel * p->k + k0) * PANEL;
            for (long c0 = 0; c0 < kc; c0 += chunk) {
                long cc = kc - c0 < chunk ? kc - c0 : chunk;
                struct resin_filter_stream stream =
                    resin_next_chunk(p, panel, panel_begin, panel_end, k0, kc, KBLOCK, c0, chunk, halves * tiles * cc);
                // A padded input's step k0 + c0: its tap, and its offset from a window's corner.
                long tap = d ? (k0 + c0) % d->taps : 0;
                long step_offset = d ? (k0 + c0) / d->taps * d->plane + d->offset[tap] : 0;
                for (long half = 0; half < halves; half++) {
                    long half_rows = rows - half * HALF < HALF ? rows - half * HALF : HALF;
                    long row = panel * PANEL + half * HALF;
                    for (long t = 0; t < tiles; t++) {
                        struct resin_tile_store s = resin_tile_store_for(p, k0, kc, row, offset[t]);
                        const float *b = d ? corner[t] + step_offset : p->b + (k0 + c0) * p->ldb + first[t];
                        // The rows the next tile stores to: this half's next tile's, else the next half's first
                        // (the next panel's when this is the second: only the last panel has one half).
                        if (c0 + cc >= kc && t + 1 < tiles) {
                            resin_fetch_tile_rows(p, k0, kc, row, half_rows, offset[t + 1], width[t + 1]);
                        } else if (c0 + cc >= kc && (half + 1 < halves || panel + 1 < panel_end)) {
                            long next_row = row + HALF;
                            long next_rows = p->m - next_row < HALF ? p->m - next_row : HALF;
                            resin_fetch_tile_rows(p, k0, kc, next_row, next_rows, offset[0], width[0]);
                        }
                        tile_any(cc, w + c0 * PANEL + half * HALF, b, p->ldb, d, tap, p->c + row * p->ldc + offset[t], p->ldc, half_rows,
                                 &s, partials[half][t], c0 == 0, c0 + cc >= kc, half == 0 && t == 0, &stream, width[t]);
                    }
                }
            }
        }
    }
}

// The channel-vectorised product, of a plain B or of a padded input read in place, in groups of GROUP_TILES
// tiles, the columns shared evenly: a tile of 2 columns has 4 accumulators, too few to cover the multiply-add's
// latency, and the 14-output rows of ResNet's stride-2 3x3 convolutions were tiled 6 + 6 + 2. As 5 + 5 + 4 those
// convolutions ran 4 to 6% faster (one core, RESIN_ISA=avx2, alternating); the 49-column products, 8 x 6 + 1
// before, ran as fast either way.
__attribute__((target("avx2,fma"))) static void
panel_product(const struct resin_gemm_problem *p, long panel_begin, long panel_end, long column_begin, long column_end) {
    resin_channel_tiles(p, panel_begin, panel_end, column_begin, column_end, TILE, 1, GROUP_TILES, panel_group);
}

// Lanes below `left` set (all of them from 8 on).
__attribute__((target("avx2,fma"), always_inline)) static inline __m256i lanes_below(long left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left < 8 ? left : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The register of lanes `lane0 ..< lane0 + 8` of a tile row starting at `base` (columns past `cols` left
// alone): loaded into `value` or stored from it, one access per image the lanes fall in (one unless a
// batch's image ends inside the register).
__attribute__((target("avx2,fma"), always_inline)) static inline __m256
access_lanes(float *base, const float *source, __m256 value, long lane0, long cols, const struct resin_column_layout *l,
             int store) {
    long end = cols < lane0 + 8 ? cols : lane0 + 8;
    long from = lane0, edge = l->boundary, shift = 0;
    while (edge <= from) {
        edge += l->plane;
        shift += l->shift;
    }
    while (from < end) {
        long to = edge < end ? edge : end;
        __m256i mask = _mm256_andnot_si256(lanes_below(from - lane0), lanes_below(to - lane0));
        if (store) {
            resin_store_lanes8(base + lane0 + shift, value, from - lane0, to - lane0);
        } else {
            value = _mm256_blendv_ps(value, _mm256_maskload_ps(source + lane0 + shift, mask), _mm256_castsi256_ps(mask));
        }
        from = to;
        edge += l->plane;
        shift += l->shift;
    }
    return value;
}

// Where a straddling tile's two registers load and store when neither spans more than two images (planes of at
// least 8 columns): per register, the lanes of its first image and of the next, and the offsets they move by.
// Two masked accesses per register replace access_lanes' loop, whose branches change with every slab (as in
// packed_gemm_avx512.c, where it took a 49-column-image product from 112 to 136 GFLOP/s).
struct straddle_lanes {
    __m256i first[2], second[2];
    long first_shift[2], second_shift[2];
    // The lanes of the first image are `0 ..< split`, those of the next `split ..< end` (stores take counts;
    // `end <= split` when no lane of the register is stored).
    long split[2], end[2];
};

__attribute__((target("avx2,fma"), always_inline)) static inline struct straddle_lanes
straddle_lanes_for(const struct resin_column_layout *l, long cols) {
    struct straddle_lanes t;
    for (int v = 0; v < 2; v++) {
        long lane0 = 8 * v, end = cols < lane0 + 8 ? cols : lane0 + 8;
        long split = resin_straddle_split(l, lane0, end, &t.first_shift[v]);
        t.first[v] = lanes_below(split - lane0);
        t.second[v] = _mm256_andnot_si256(lanes_below(split - lane0), lanes_below(end - lane0));
        t.second_shift[v] = t.first_shift[v] + l->shift;
        t.split[v] = split > lane0 ? split - lane0 : 0;
        t.end[v] = end - lane0;
    }
    return t;
}

// One step of a column-vectorised tile: `height` filters broadcast from `w` against the inputs at `x`.
__attribute__((target("avx2,fma"), always_inline)) static inline void
column_step(const float *w, const float *x, __m256 acc[][2], const int height, const int vectors) {
    __m256 in[2];
    UNROLL for (int v = 0; v < vectors; v++) in[v] = _mm256_load_ps(x + 8 * v);
    UNROLL for (int r = 0; r < height; r++) {
        __m256 weight = _mm256_broadcast_ss(w + r);
        UNROLL for (int v = 0; v < vectors; v++) acc[r][v] = _mm256_fmadd_ps(in[v], weight, acc[r][v]);
    }
}

// One column-vectorised tile: `height` channels (`rows` of them stored) by `vectors` (a constant after inlining)
// registers of 8 columns, `cols` of them stored, over `kc` steps. `w` is the tile's first lane in the panel,
// `x` the copied inputs of the tile's 16 columns (`SLAB` floats a step). `straddles` (a constant) when a
// batch's image ends inside the tile: `layout` then says where the later image's columns go, each access
// masked per image (a separate copy of the tile, so the common one stays as it was). `height` (6, 5 or 4,
// column_panel's split) is a constant after inlining, so the accumulators stay in registers.
__attribute__((target("avx2,fma"), always_inline)) static inline void
column_tile(long kc, const float *w, const float *x, float *c, long ldc, long rows, long cols, const struct resin_tile_store *s,
            const struct resin_column_layout *layout, const struct straddle_lanes *two, const float *next_w, long w_lines,
            const int height, const int vectors, const int straddles) {
    __m256 acc[ROWS][2];
    UNROLL for (int r = 0; r < height; r++) {
        // C holds a partial sum or the residual; else a separate residual starts the sum.
        UNROLL for (int v = 0; v < vectors; v++) {
            __m256 start = _mm256_setzero_ps();
            const float *from = s->adds ? c + r * ldc : s->skip ? s->skip + r * ldc : NULL;
            if (r < rows && from) {
                if (straddles == 2) {
                    start = _mm256_maskload_ps(from + 8 * v + two->first_shift[v], two->first[v]);
                    start = _mm256_blendv_ps(start, _mm256_maskload_ps(from + 8 * v + two->second_shift[v], two->second[v]),
                                             _mm256_castsi256_ps(two->second[v]));
                } else {
                    start = straddles ? access_lanes(NULL, from, start, 8 * v, cols, layout, 0)
                                      : _mm256_maskload_ps(from + 8 * v, lanes_below(cols - 8 * v));
                }
            }
            acc[r][v] = start;
        }
    }
    // Its share of the filters the next panel reads, into L2, spread over its first steps; the steps after
    // those run without the test (the channel tile's loop has the reason).
    const long w_per_step = (w_lines + kc - 1) / (kc > 0 ? kc : 1);
    long kk = 0;
    for (; kk < kc && w_lines > 0; kk++, w += PANEL, x += SLAB) {
        for (long q = 0; q < w_per_step && w_lines > 0; q++, w_lines--, next_w += 16) {
            _mm_prefetch((const char *)next_w, _MM_HINT_T1);
        }
        column_step(w, x, acc, height, vectors);
    }
    for (; kk < kc; kk++, w += PANEL, x += SLAB) column_step(w, x, acc, height, vectors);
    // max(min, value) returns value unless min > value, and value when either is NaN; min(max, ...) likewise.
    __m256 low = _mm256_set1_ps(s->min), high = _mm256_set1_ps(s->max);
    UNROLL for (int r = 0; r < height; r++) {
        if (r >= rows) continue;
        __m256 bias = _mm256_set1_ps(s->bias && s->last ? s->bias[r] : 0.0f);
        UNROLL for (int v = 0; v < vectors; v++) {
            __m256 value = acc[r][v];
            if (s->last) value = _mm256_min_ps(high, _mm256_max_ps(low, _mm256_add_ps(value, bias)));
            if (straddles == 2) {
                resin_store_first8(c + r * ldc + 8 * v + two->first_shift[v], value, two->split[v]);
                resin_store_lanes8(c + r * ldc + 8 * v + two->second_shift[v], value, two->split[v], two->end[v]);
            } else if (straddles) {
                access_lanes(c + r * ldc, NULL, value, 8 * v, cols, layout, 1);
            } else {
                resin_store_first8(c + r * ldc + 8 * v, value, cols - 8 * v);
            }
        }
    }
}

// A column tile of `rows` channels (at most ROWS) with its height a constant: 6, 5 or 4 (fewer than 4 rows, only in
// a panel of at most 7 channels, run as 4 and store their own; the panel's lanes past its channels are zero).
#define HEIGHT_CASES(vectors, straddles)                                                                              \
    switch (rows) {                                                                                                    \
    case 6: column_tile(kc, w + r0, x, out, ldc, rows, cols, &s, layout, two, tile_w, tile_w_lines, 6, vectors, straddles); break; \
    case 5: column_tile(kc, w + r0, x, out, ldc, rows, cols, &s, layout, two, tile_w, tile_w_lines, 5, vectors, straddles); break; \
    default: column_tile(kc, w + r0, x, out, ldc, rows, cols, &s, layout, two, tile_w, tile_w_lines, 4, vectors, straddles); break; \
    }

// The tiles of one panel over one slab of 16 (or `cols`) columns: as few tiles as hold at most ROWS channels
// each, their heights differing by at most one (resin_even_block), so a 32-channel panel is 6 + 6 + 5 + 5 + 5
// + 5. (Five tiles of 6 and one of the 2 left gave the last tile 4 accumulators, too few to cover the
// multiply-add's latency: it took as long as a tile of 4.) `c` is the slab's first column in the panel's first
// row of C, `layout` that column's layout.
__attribute__((target("avx2,fma"))) static void
column_panel(long kc, const float *w, const float *x, float *c, long ldc, long panel_rows, long cols,
             const struct resin_gemm_problem *p, long k0, long row0, const struct resin_column_layout *layout,
             const struct straddle_lanes *two, const float *next_w, long w_lines) {
    long tiles = (panel_rows + ROWS - 1) / ROWS;
    // The slab's share of the next panel's filters, shared over its tiles.
    long w_per_tile = (w_lines + tiles - 1) / tiles;
    for (long r0 = 0, rows; r0 < panel_rows; r0 += rows) {
        rows = resin_even_block(panel_rows - r0, ROWS);
        long tile_w_lines = w_lines < w_per_tile ? w_lines : w_per_tile;
        const float *tile_w = next_w;
        w_lines -= tile_w_lines;
        next_w += tile_w_lines * 16;
        struct resin_tile_store s = resin_tile_store_for(p, k0, kc, row0 + r0, layout->offset);
        float *out = c + r0 * ldc;
        // The next tile's rows of C (and of a separate residual) into L1 while this one computes: rows 3 to 12
        // KiB apart, which the hardware prefetchers do not follow. With the prefetch of B below, ResNet-50's
        // 56x56 products with a residual ran 1.05 to 1.3 times as fast, the others within the noise (one core,
        // alternating in one process, load average near 6 on 2 cores).
        if (layout->boundary >= cols) {
            long next_rows = r0 + rows < panel_rows ? resin_even_block(panel_rows - r0 - rows, ROWS) : 0;
            const float *skip = s.skip ? s.skip + rows * ldc : NULL;
            // C's lines for writing, never past the slab's columns (resin_fetch_tile_rows).
            long last = (cols < SLAB ? cols : SLAB) - 1;
            for (long r = 0; r < next_rows; r++) {
                resin_prefetch_for_writing(out + (rows + r) * ldc);
                resin_prefetch_for_writing(out + (rows + r) * ldc + last);
                if (skip) {
                    _mm_prefetch((const char *)(skip + r * ldc), _MM_HINT_T0);
                    _mm_prefetch((const char *)(skip + r * ldc + last), _MM_HINT_T0);
                }
            }
        }
        if (layout->boundary < cols && layout->plane >= 8) {
            HEIGHT_CASES(2, 2)
        } else if (layout->boundary < cols) {
            HEIGHT_CASES(2, 1)
        } else if (cols > 8) {
            HEIGHT_CASES(2, 0)
        } else {
            HEIGHT_CASES(1, 0)
        }
    }
}
#undef HEIGHT_CASES

// Copies `count` inputs `stride` apart into consecutive floats, or writes zeros when `source` is NULL; every
// second one (stride 2, the strided convolutions) is deinterleaved from pairs of registers. Tails are masked
// and no lane past the last input is read.
__attribute__((target("avx2,fma"))) static void
gather_copy(float *target, const float *source, long count, long stride) {
    if (source == NULL) {
        for (long t = 0; t < count; t += 8) resin_store_first8(target + t, _mm256_setzero_ps(), count - t);
        return;
    }
    if (stride == 1) {
        for (long t = 0; t < count; t += 8) {
            resin_store_first8(target + t, _mm256_maskload_ps(source + t, lanes_below(count - t)), count - t);
        }
        return;
    }
    if (stride == 2) {
        for (long t = 0; t < count; t += 8) {
            // Inputs 2t ..< 2t + 2 * left - 1 are read.
            long reads = 2 * (count - t < 8 ? count - t : 8) - 1;
            const float *from = source + 2 * t;
            __m256 a = _mm256_maskload_ps(from, lanes_below(reads)), b = _mm256_maskload_ps(from + 8, lanes_below(reads - 8));
            // a0 a2 b0 b2 | a4 a6 b4 b6, then the middle quarters swapped.
            __m256 even = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
            resin_store_first8(target + t, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0))),
                               count - t);
        }
        return;
    }
    for (long t = 0; t < count; t++) target[t] = source[t * stride];
}

// The column-vectorised product over a range of panels and columns. Blocks of COLUMNS columns are taken
// `per_pass` at a time (resin_column_blocks_per_pass): each block of the inner dimension copies the pass's
// blocks of inputs, then each panel's filters for that block serve all of them while they are in L1.
__attribute__((target("avx2,fma"))) static void
column_product(const struct resin_gemm_problem *p, long panel_begin, long panel_end, long column_begin, long column_end) {
    // No panels: nothing to do (and the prefetch below shares rows of B among the panels).
    if (panel_begin >= panel_end) return;
    // Per block, slabs of 16 columns by `kc` steps, one after another, so a tile reads its inputs sequentially.
    float x[RESIN_COLUMN_PASS_BLOCKS][COLUMN_KBLOCK * COLUMNS] __attribute__((aligned(32)));
    struct resin_gather_piece pieces[RESIN_GATHER_MAX_PIECES];
    // Per block and slab: where its tiles store, and (straddling an image) the lanes of each image.
    struct resin_column_layout layouts[RESIN_COLUMN_PASS_BLOCKS][COLUMNS / SLAB];
    struct straddle_lanes straddles[RESIN_COLUMN_PASS_BLOCKS][COLUMNS / SLAB];
    long per_pass = resin_column_blocks_per_pass(p, panel_end - panel_begin, (column_end - column_begin + COLUMNS - 1) / COLUMNS);
    long step = resin_even_block(p->k, COLUMN_KBLOCK);
    for (long j0 = column_begin; j0 < column_end; j0 += per_pass * COLUMNS) {
        long blocks = (column_end - j0 + COLUMNS - 1) / COLUMNS;
        if (blocks > per_pass) blocks = per_pass;
        long pass_end = j0 + blocks * COLUMNS < column_end ? j0 + blocks * COLUMNS : column_end;
        long pass_slabs = 0;
        for (long b = 0; b < blocks; b++) {
            long j = j0 + b * COLUMNS;
            long cols = column_end - j < COLUMNS ? column_end - j : COLUMNS;
            pass_slabs += (cols + SLAB - 1) / SLAB;
            for (long slab = 0; slab * SLAB < cols; slab++) {
                long slab_cols = cols - slab * SLAB < SLAB ? cols - slab * SLAB : SLAB;
                layouts[b][slab] = resin_column_layout_at(p, j + slab * SLAB);
                if (layouts[b][slab].boundary < slab_cols && layouts[b][slab].plane >= 8) {
                    straddles[b][slab] = straddle_lanes_for(&layouts[b][slab], slab_cols);
                }
            }
        }
        for (long k0 = 0; k0 < p->k; k0 += step) {
            long kc = p->k - k0 < step ? p->k - k0 : step;
            // Copy the blocks of inputs, zero past each block's columns so every register lane reads a number.
            for (long b = 0; b < blocks; b++) {
                long j = j0 + b * COLUMNS;
                long cols = column_end - j < COLUMNS ? column_end - j : COLUMNS;
                long slabs = (cols + SLAB - 1) / SLAB;
                if (p->gather) {
                    int count = resin_gather_pieces(p->gather, j, cols, slabs * SLAB, SLAB, kc * SLAB, pieces);
                    resin_gather_rows(p->gather, pieces, count, k0, kc, x[b], SLAB, gather_copy);
                    continue;
                }
                for (long slab = 0; slab < slabs; slab++) {
                    float *dst = x[b] + slab * kc * SLAB;
                    for (long kk = 0; kk < kc; kk++) {
                        const float *row = p->b + (k0 + kk) * p->ldb + j + slab * SLAB;
                        for (int v = 0; v < 2; v++) {
                            __m256i mask = lanes_below(cols - slab * SLAB - 8 * v);
                            _mm256_store_ps(dst + kk * SLAB + 8 * v, _mm256_maskload_ps(row + 8 * v, mask));
                        }
                    }
                }
            }
            // The rows of B the next copy reads (a plain B: the next block of the inner dimension, else the
            // next pass's columns) into L2, a share of them before each panel's tiles, each block's columns.
            long next_rows;
            const float *next_b = resin_next_b_rows(p, k0, kc, j0, pass_end - j0, column_end, step, &next_rows);
            long per_panel = (next_rows + (panel_end - panel_begin) - 1) / (panel_end - panel_begin);
            for (long panel = panel_begin; panel < panel_end; panel++) {
                long panel_rows = p->m - panel * PANEL < PANEL ? p->m - panel * PANEL : PANEL;
                const float *w = p->packed + (panel * p->k + k0) * PANEL;
                long row = panel * PANEL;
                // The filters the next panel reads, shared over this panel's slabs.
                long next_w_lines;
                const float *next_w = resin_next_filter_block(p, panel, panel_begin, panel_end, k0, kc, step, j0 == column_begin,
                                                              per_pass > 1, pass_end < column_end, &next_w_lines);
                long w_per_slab = (next_w_lines + pass_slabs - 1) / pass_slabs;
                for (long kk = (panel - panel_begin) * per_panel; kk < next_rows && kk < (panel - panel_begin + 1) * per_panel; kk++) {
                    for (long b = 0; b < blocks; b++) {
                        const float *from = next_b + kk * p->ldb + b * COLUMNS;
                        _mm_prefetch((const char *)from, _MM_HINT_T1);
                        _mm_prefetch((const char *)(from + 16), _MM_HINT_T1);
                        _mm_prefetch((const char *)(from + 32), _MM_HINT_T1);
                        _mm_prefetch((const char *)(from + COLUMNS - 1), _MM_HINT_T1);
                    }
                }
                for (long b = 0; b < blocks; b++) {
                    long j = j0 + b * COLUMNS;
                    long cols = column_end - j < COLUMNS ? column_end - j : COLUMNS;
                    for (long slab = 0; slab * SLAB < cols; slab++) {
                        long slab_cols = cols - slab * SLAB < SLAB ? cols - slab * SLAB : SLAB;
                        const struct resin_column_layout *layout = &layouts[b][slab];
                        long slab_w_lines = next_w_lines < w_per_slab ? next_w_lines : w_per_slab;
                        column_panel(kc, w, x[b] + slab * kc * SLAB, p->c + row * p->ldc + layout->offset, p->ldc, panel_rows,
                                     slab_cols, p, k0, row, layout, &straddles[b][slab], next_w, slab_w_lines);
                        next_w += slab_w_lines * 16;
                        next_w_lines -= slab_w_lines;
                    }
                }
            }
        }
    }
}

__attribute__((target("avx2,fma"))) void
resin_fused_gemm_avx2(const struct resin_gemm_problem *problem, long panel_begin, long panel_end, long column_begin,
                      long column_end) {
    // The channel-vectorised tile reads a plain B of few columns, or a padded input in place.
    if (problem->gather == NULL ? problem->n <= PANEL_TILE_COLUMNS : resin_padded_direct_supported(problem->gather)) {
        panel_product(problem, panel_begin, panel_end, column_begin, column_end);
    } else {
        column_product(problem, panel_begin, panel_end, column_begin, column_end);
    }
}

__attribute__((target("avx2,fma"))) void
resin_packed_gemm_avx2(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
                       const float *b, long ldb, float *c, long ldc, int accumulate,
                       const float *next_packed) {
    struct resin_gemm_problem problem = resin_plain_problem(m, n, k, packed, b, ldb, c, ldc, accumulate, next_packed);
    panel_product(&problem, panel_begin, panel_end, 0, n);
}

// A contiguous im2col band gathered by position (`resin_gather_is_contiguous`), as on AVX-512
// (packed_gemm_avx512.c) with registers of 8 columns: AVX2 compares only signed, so the unsigned "inside"
// compare flips the sign bit of both sides first. Strided bands keep the piece-by-piece copy.
__attribute__((target("avx2,fma"))) static void
contiguous_im2col(const struct resin_gemm_gather *g, long column, long cols, long k0, long kc, float *out, long ldo) {
    enum { VECTORS = 32 };
    const __m256i sign = _mm256_set1_epi32(INT_MIN);
    const __m256i height = _mm256_xor_si256(_mm256_set1_epi32((int)g->input_height), sign);
    const __m256i width = _mm256_xor_si256(_mm256_set1_epi32((int)g->input_width), sign);
    for (long c0 = 0; c0 < cols; c0 += VECTORS * 8) {
        long count = cols - c0 < VECTORS * 8 ? cols - c0 : VECTORS * 8, vectors = (count + 7) / 8;
        int row_lanes[VECTORS * 8], column_lanes[VECTORS * 8];
        resin_band_lanes(g, column + c0, count, row_lanes, column_lanes, NULL);
        // Lanes past the band's columns get the row and column INT_MIN: 0 once its sign bit is flipped, above
        // every flipped bound whatever the tap adds, so they read nothing.
        for (long t = count; t < vectors * 8; t++) row_lanes[t] = column_lanes[t] = INT_MIN;
        __m256i rows[VECTORS], columns[VECTORS];
        for (long v = 0; v < vectors; v++) {
            rows[v] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(row_lanes + 8 * v)), sign);
            columns[v] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(column_lanes + 8 * v)), sign);
        }
        struct resin_band_walk walk = resin_band_walk_start(g, k0);
        for (long kk = 0; kk < kc; kk++) {
            const float *source = resin_band_walk_source(g, &walk) + column + c0;
            float *target = out + kk * ldo + c0;
            const __m256i up = _mm256_set1_epi32((int)walk.rows), across = _mm256_set1_epi32((int)walk.columns);
            for (long v = 0; v < vectors; v++) {
                // (x + up) with its sign bit flipped is rows[v] + up, rows[v] holding x with its bit flipped.
                __m256i inside = _mm256_and_si256(_mm256_cmpgt_epi32(height, _mm256_add_epi32(rows[v], up)),
                                                  _mm256_cmpgt_epi32(width, _mm256_add_epi32(columns[v], across)));
                __m256 value = _mm256_maskload_ps(source + 8 * v, inside);
                resin_store_first8(target + 8 * v, value, count - 8 * v);
            }
            resin_band_walk_next(g, &walk);
        }
    }
}

// An im2col band (`resin_im2col_fn`) with this set's copy.
__attribute__((target("avx2,fma")))
void resin_im2col_avx2(const struct resin_gemm_gather *gather, long column, long cols, long k0, long kc, float *out, long ldo) {
    if (resin_gather_by_position(gather, column, cols) && resin_gather_is_contiguous(gather)) {
        contiguous_im2col(gather, column, cols, k0, kc, out, ldo);
    } else {
        resin_gather_matrix(gather, column, cols, k0, kc, out, ldo, gather_copy);
    }
}
#endif
