#ifndef RESIN_GEMM_EPILOGUE_H
#define RESIN_GEMM_EPILOGUE_H

// What every instruction set's packed product shares about the epilogue (private to CResinKernels).
#include "resin_kernels.h"

#include <math.h>
#include <stddef.h>

/// How one block of the inner dimension stores a tile: `adds` when C already holds a partial sum or the
/// residual (in place), `last` on the final block, which then adds the bias and a separate residual and
/// clamps. `bias` points at the tile's first row, `skip` at the tile's first element (NULL when none or in
/// place).
struct resin_tile_store {
    int adds, last;
    const float *bias;
    const float *skip;
    float min, max;
};

/// Clip's rule, as the Swift epilogue: compare-and-replace, so a NaN value or a NaN bound changes nothing.
static inline float resin_clamp(float value, float min, float max) {
    if (value < min) value = min;
    if (value > max) value = max;
    return value;
}

/// One stored element: `value` is the tile's product at row `r`, column `j`; `out` its place in C.
static inline void resin_store_element(float *out, float value, const struct resin_tile_store *s, long r, long j, long ldc) {
    if (s->adds) value += *out;
    if (s->last) {
        if (s->bias) value += s->bias[r];
        if (s->skip) value += s->skip[r * ldc + j];
        value = resin_clamp(value, s->min, s->max);
    }
    *out = value;
}

/// The store of block `k0 ..< k0 + kc` of a problem's rows from `row` on, at column `column`.
static inline struct resin_tile_store resin_tile_store_for(const struct resin_gemm_problem *p, long k0, long kc, long row,
                                                           long column) {
    const struct resin_gemm_epilogue *e = &p->epilogue;
    int in_place = e->skip == p->c;
    struct resin_tile_store s;
    s.adds = k0 > 0 || (in_place && e->skip != NULL);
    s.last = k0 + kc >= p->k;
    s.bias = e->bias ? e->bias + row : NULL;
    s.skip = e->skip && !in_place ? e->skip + row * p->ldc + column : NULL;
    s.min = e->min;
    s.max = e->max;
    return s;
}

#if defined(__x86_64__)
/// Fetches the cache line holding `address` for writing (PREFETCHW, which every x86-64 processor runs: those
/// without it take it as a no-op), where a read prefetch would leave another core's copy to be taken at the store.
static inline void resin_prefetch_for_writing(const float *address) { __asm__ volatile("prefetchw %0" ::"m"(*address)); }

/// Fetches the rows the channel-vectorised tile of `rows` rows from `row` at column `column`, `cols` wide, reads
/// back when it stores block `k0 ..< k0 + kc`: C when it adds to it, for writing, and a separate residual on the
/// last block, for reading.
/// Two lines a row: its first column's and its last's. The x86 kernels call it for the tile they store next,
/// before the one they run: an in-place residual's lines were read by both threads in the block's first
/// convolution, so each store waited for the other core to give its copy up. ResNet-50's 14x14 and 7x7
/// last 1x1 convolutions of each block took 0.04 to 0.055 ms less each (0.27 against 0.32 ms at 14x14) with the
/// cores apart, and as long as before with them close (AMD EPYC Zen 5, 2 threads, alternating profiles
/// classified by round-trip probes). A read prefetch of the same lines changed nothing. The column tiles fetch
/// their next tile's rows of C for writing likewise.
static inline void resin_fetch_tile_rows(const struct resin_gemm_problem *p, long k0, long kc, long row, long rows, long column,
                                         long cols) {
    struct resin_tile_store s = resin_tile_store_for(p, k0, kc, row, column);
    const float *c = p->c + row * p->ldc + column;
    for (long r = 0; r < rows; r++) {
        if (s.adds) {
            resin_prefetch_for_writing(c + r * p->ldc);
            resin_prefetch_for_writing(c + r * p->ldc + cols - 1);
        }
        if (s.last && s.skip) {
            __builtin_prefetch(s.skip + r * p->ldc, 0, 3);
            __builtin_prefetch(s.skip + r * p->ldc + cols - 1, 0, 3);
        }
    }
}
#endif

/// The fused form of the plain packed product (`C = W B`, or `C += W B` when accumulating).
static inline struct resin_gemm_problem resin_plain_problem(long m, long n, long k, const float *packed, const float *b,
                                                            long ldb, float *c, long ldc, int accumulate,
                                                            const float *next_packed) {
    struct resin_gemm_problem p = {m, n, k, packed, b, ldb, c, ldc, {NULL, accumulate ? c : NULL, -INFINITY, INFINITY}, NULL,
                                   next_packed};
    return p;
}

#endif
