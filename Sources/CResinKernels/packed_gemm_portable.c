// The packed layout and the packed matrix product in plain C: the reference every instruction set's kernel
// must agree with, and the kernel on processors Resin has no vector code for (arm64 until a NEON file).
//
// The layout serves convolutions with few output columns (ResNet's 7x7 and 14x14 stages at batch 1): the
// filters are packed once, at convert or load time, into panels of 32 output channels read as one
// sequential stream, so each step of the inner dimension loads 32 filter values and reuses them across a
// tile of columns.
#include "resin_kernels.h"

#include <stddef.h>

#define PANEL RESIN_PACKED_PANEL
// Columns per tile: 32 x 8 accumulators fit in the registers of any compiler's vectorisation of the lane loop.
#define TILE 8
#define KBLOCK 512

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

// One tile: `rows` (<= 32) channels by `cols` (<= 8) columns over `kc` steps of the inner dimension.
static void tile(long kc, const float *w, const float *b, long ldb, float *c, long ldc, long rows, int accumulate,
                 long cols) {
    float acc[TILE][PANEL];
    for (long j = 0; j < cols; j++) {
        for (long r = 0; r < PANEL; r++) acc[j][r] = 0.0f;
    }
    for (long kk = 0; kk < kc; kk++) {
        const float *row = b + kk * ldb;
        for (long j = 0; j < cols; j++) {
            float x = row[j];
            for (long r = 0; r < PANEL; r++) acc[j][r] += w[r] * x;
        }
        w += PANEL;
    }
    for (long r = 0; r < rows; r++) {
        float *out = c + r * ldc;
        if (accumulate) {
            for (long j = 0; j < cols; j++) out[j] += acc[j][r];
        } else {
            for (long j = 0; j < cols; j++) out[j] = acc[j][r];
        }
    }
}

void resin_packed_gemm_portable(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
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
                tile(kc, w, b + k0 * ldb + j, ldb, cp + j, ldc, rows, adds, cols);
            }
        }
    }
}
