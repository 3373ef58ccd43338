// The packed matrix product for AVX2 with FMA (packed_gemm_portable.c has the layout and the reference loop).
//
// The panel of 32 output channels is four 8-float registers per step of the inner dimension. A full panel
// by n columns would need 4n accumulators plus 4 filter registers and a broadcast: beyond the 16 ymm
// registers for n >= 3. So a tile is half a panel (16 channels, two registers) by 6 columns: 12
// accumulators, 2 filter registers and 1 broadcast, 15 registers; each step loads 2 filter vectors and 6
// inputs for 12 fused multiply-adds, which keeps the two FMA pipes busier than the two load ports. A
// partial panel of at most 16 channels skips its empty half. Every function carries its own target
// attribute, so the file builds without global flags and runs only where the kernel table chose it.
#include "resin_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>

#define PANEL RESIN_PACKED_PANEL
#define HALF 16
#define TILE 6
#define KBLOCK 512

// One tile: `rows` (<= 16) channels of a half panel by `cols` (<= 6, a constant after inlining) columns over
// `kc` steps; `w` points at the half panel's first lane, and a step advances a whole panel.
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile(long kc, const float *w, const float *b, long ldb, float *c, long ldc, long rows, int accumulate, const int cols) {
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
        if (accumulate) {
            for (int j = 0; j < cols; j++) out[j] += t[j][r];
        } else {
            for (int j = 0; j < cols; j++) out[j] = t[j][r];
        }
    }
}

__attribute__((target("avx2,fma"))) static void
tile_any(long kc, const float *w, const float *b, long ldb, float *c, long ldc, long rows, int accumulate, long cols) {
    switch (cols) {
    case 6: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 6); break;
    case 5: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 5); break;
    case 4: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 4); break;
    case 3: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 3); break;
    case 2: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 2); break;
    default: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 1); break;
    }
}

__attribute__((target("avx2,fma"))) void
resin_packed_gemm_avx2(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
                       const float *b, long ldb, float *c, long ldc, int accumulate) {
    // Blocks of the inner dimension keep the input rows a tile reads within the L2 cache.
    for (long k0 = 0; k0 < k; k0 += KBLOCK) {
        long kc = k - k0 < KBLOCK ? k - k0 : KBLOCK;
        int adds = accumulate || k0 > 0;
        for (long p = panel_begin; p < panel_end; p++) {
            long rows = m - p * PANEL < PANEL ? m - p * PANEL : PANEL;
            const float *w = packed + (p * k + k0) * PANEL;
            float *cp = c + p * PANEL * ldc;
            for (long j = 0; j < n; j += TILE) {
                long cols = n - j < TILE ? n - j : TILE;
                for (long half = 0; half * HALF < rows; half++) {
                    long halfRows = rows - half * HALF < HALF ? rows - half * HALF : HALF;
                    tile_any(kc, w + half * HALF, b + k0 * ldb + j, ldb, cp + half * HALF * ldc + j, ldc, halfRows, adds, cols);
                }
            }
        }
    }
}
#endif
