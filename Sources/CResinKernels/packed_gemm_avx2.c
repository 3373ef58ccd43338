// The packed matrix product for AVX2 with FMA (packed_gemm_portable.c has the layout and the reference loop),
// with the convolution epilogue (bias, residual, clamp) applied before each store.
//
// The panel of 32 output channels is four 8-float registers per step of the inner dimension. A full panel
// by n columns would need 4n accumulators plus 4 filter registers and a broadcast: beyond the 16 ymm
// registers for n >= 3. So a tile is half a panel (16 channels, two registers) by 6 columns: 12
// accumulators, 2 filter registers and 1 broadcast, 15 registers; each step loads 2 filter vectors and 6
// inputs for 12 fused multiply-adds, which keeps the two FMA pipes busier than the two load ports. A
// partial panel of at most 16 channels skips its empty half. Registers hold columns of channels, so the
// store (with the epilogue) transposes through a small buffer.
//
// This one tile serves every column count. A column-vectorised tile as on AVX-512 (4 channels by 24
// columns, 12 accumulators, inputs copied to a stack buffer) was measured against it on ResNet-50's
// products (one core, both alternating in one process, machine shared): 26 to 56 GFLOPS against 25 to 79,
// equal at 3136 columns and slower from 784 down (its 16 registers leave the compiler one short, so it
// spills an accumulator every step).
//
// Every function carries its own target attribute, so the file builds without global flags and runs only
// where the kernel table chose it.
#include "resin_kernels.h"

#if defined(__x86_64__)
#include "gemm_epilogue.h"

#include <immintrin.h>
#include <stddef.h>

#define PANEL RESIN_PACKED_PANEL
#define HALF 16
#define TILE 6
#define KBLOCK 512

// One tile: `rows` (<= 16) channels of a half panel by `cols` (<= 6, a constant after inlining) columns over
// `kc` steps; `w` points at the half panel's first lane, and a step advances a whole panel.
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile(long kc, const float *w, const float *b, long ldb, float *c, long ldc, long rows, const struct resin_tile_store *s,
     const int cols) {
    __m256 low[TILE], high[TILE];
    for (int j = 0; j < cols; j++) {
        low[j] = _mm256_setzero_ps();
        high[j] = _mm256_setzero_ps();
    }
    for (long kk = 0; kk < kc; kk++) {
        __m256 w0 = _mm256_loadu_ps(w);
        __m256 w1 = _mm256_loadu_ps(w + 8);
        const float *row = b + kk * ldb;
        for (int j = 0; j < cols; j++) {
            __m256 x = _mm256_broadcast_ss(row + j);
            low[j] = _mm256_fmadd_ps(w0, x, low[j]);
            high[j] = _mm256_fmadd_ps(w1, x, high[j]);
        }
        w += PANEL;
    }
    // Registers hold columns of channels; the output rows are channels: transpose through a small buffer.
    float t[TILE][HALF] __attribute__((aligned(32)));
    for (int j = 0; j < cols; j++) {
        _mm256_store_ps(t[j], low[j]);
        _mm256_store_ps(t[j] + 8, high[j]);
    }
    for (long r = 0; r < rows; r++) {
        float *out = c + r * ldc;
        for (int j = 0; j < cols; j++) resin_store_element(out + j, t[j][r], s, r, j, ldc);
    }
}

__attribute__((target("avx2,fma"))) static void
tile_any(long kc, const float *w, const float *b, long ldb, float *c, long ldc, long rows, const struct resin_tile_store *s,
         long cols) {
    switch (cols) {
    case 6: tile(kc, w, b, ldb, c, ldc, rows, s, 6); break;
    case 5: tile(kc, w, b, ldb, c, ldc, rows, s, 5); break;
    case 4: tile(kc, w, b, ldb, c, ldc, rows, s, 4); break;
    case 3: tile(kc, w, b, ldb, c, ldc, rows, s, 3); break;
    case 2: tile(kc, w, b, ldb, c, ldc, rows, s, 2); break;
    default: tile(kc, w, b, ldb, c, ldc, rows, s, 1); break;
    }
}

// The channel-vectorised product over a range of panels and columns.
__attribute__((target("avx2,fma"))) static void
panel_product(const struct resin_gemm_problem *p, long panel_begin, long panel_end, long column_begin, long column_end) {
    // Blocks of the inner dimension keep the input rows a tile reads within the L2 cache.
    for (long k0 = 0; k0 < p->k; k0 += KBLOCK) {
        long kc = p->k - k0 < KBLOCK ? p->k - k0 : KBLOCK;
        for (long panel = panel_begin; panel < panel_end; panel++) {
            long rows = p->m - panel * PANEL < PANEL ? p->m - panel * PANEL : PANEL;
            const float *w = p->packed + (panel * p->k + k0) * PANEL;
            for (long j = column_begin; j < column_end; j += TILE) {
                long cols = column_end - j < TILE ? column_end - j : TILE;
                for (long half = 0; half * HALF < rows; half++) {
                    long half_rows = rows - half * HALF < HALF ? rows - half * HALF : HALF;
                    long row = panel * PANEL + half * HALF;
                    struct resin_tile_store s = resin_tile_store_for(p, k0, kc, row, j);
                    tile_any(kc, w + half * HALF, p->b + k0 * p->ldb + j, p->ldb, p->c + row * p->ldc + j, p->ldc, half_rows, &s,
                             cols);
                }
            }
        }
    }
}

__attribute__((target("avx2,fma"))) void
resin_fused_gemm_avx2(const struct resin_gemm_problem *problem, long panel_begin, long panel_end, long column_begin,
                      long column_end) {
    panel_product(problem, panel_begin, panel_end, column_begin, column_end);
}

__attribute__((target("avx2,fma"))) void
resin_packed_gemm_avx2(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
                       const float *b, long ldb, float *c, long ldc, int accumulate) {
    struct resin_gemm_problem problem = resin_plain_problem(m, n, k, packed, b, ldb, c, ldc, accumulate);
    panel_product(&problem, panel_begin, panel_end, 0, n);
}
#endif
