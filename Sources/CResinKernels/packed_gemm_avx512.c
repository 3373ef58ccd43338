// The packed matrix product for AVX-512F (packed_gemm_portable.c has the layout and the reference loop).
//
// With 49 columns, OpenBLAS repacks every call's filters (2 to 9 MiB, cold from memory) and reaches 60 to
// 75 GFLOPS per core here; this kernel reads the packed panels as one sequential stream. It is vectorised
// along output channels: a tile is 32 channels (two 16-float registers) by 7 columns, so 49 columns are 7
// full tiles and nothing is wasted; each step of the inner loop loads 32 filter values, broadcasts 7 inputs
// and does 14 fused multiply-adds into 14 accumulators. Every function carries its own target attribute, so
// the file builds without global flags and runs only where the kernel table chose it.
#include "resin_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>

#define PANEL RESIN_PACKED_PANEL
#define TILE 7
#define KBLOCK 512

// One tile: `rows` (<= 32) channels by `cols` (<= 7, a constant after inlining) columns over `kc` steps.
__attribute__((target("avx512f"), always_inline)) static inline void
tile(long kc, const float *w, const float *b, long ldb, float *c, long ldc, long rows, int accumulate, const int cols) {
    __m512 low[TILE], high[TILE];
    for (int j = 0; j < cols; j++) {
        low[j] = _mm512_setzero_ps();
        high[j] = _mm512_setzero_ps();
    }
    for (long kk = 0; kk < kc; kk++) {
        __m512 w0 = _mm512_loadu_ps(w);
        __m512 w1 = _mm512_loadu_ps(w + 16);
        const float *row = b + kk * ldb;
        for (int j = 0; j < cols; j++) {
            __m512 x = _mm512_set1_ps(row[j]);
            low[j] = _mm512_fmadd_ps(w0, x, low[j]);
            high[j] = _mm512_fmadd_ps(w1, x, high[j]);
        }
        w += PANEL;
    }
    // Registers hold columns of channels; the output rows are channels: transpose through a small buffer.
    float t[TILE][PANEL] __attribute__((aligned(64)));
    for (int j = 0; j < cols; j++) {
        _mm512_store_ps(t[j], low[j]);
        _mm512_store_ps(t[j] + 16, high[j]);
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

__attribute__((target("avx512f"))) static void
tile_any(long kc, const float *w, const float *b, long ldb, float *c, long ldc, long rows, int accumulate, long cols) {
    switch (cols) {
    case 7: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 7); break;
    case 6: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 6); break;
    case 5: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 5); break;
    case 4: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 4); break;
    case 3: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 3); break;
    case 2: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 2); break;
    default: tile(kc, w, b, ldb, c, ldc, rows, accumulate, 1); break;
    }
}

__attribute__((target("avx512f"))) void
resin_packed_gemm_avx512(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
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
                tile_any(kc, w, b + k0 * ldb + j, ldb, cp + j, ldc, rows, adds, cols);
            }
        }
    }
}
#endif
