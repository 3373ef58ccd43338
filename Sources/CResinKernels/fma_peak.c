// The processor's measured arithmetic limit, for tools/bench-kernels: a loop of fused multiply-adds on
// registers only (no loads or stores), one per instruction set, so a convolution's GFLOP/s can be read
// against what the cores can do at all. Twelve independent accumulators: a core with two FMA units of
// four cycles' latency needs eight chains in flight to issue every cycle, and twelve leave room for
// longer latencies while fitting in AVX2's sixteen registers. These entry points are not in the kernel
// table: the benchmark names the set it measures.

#include "resin_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define FMA_CHAINS 12

// Multiplying by just under one and adding a small constant keeps every value finite and normal however
// many iterations run, and the seed comes from the caller so nothing is folded at compile time.
static const float fma_multiplier = 0.99999988f;

// Plain C as the portable kernels are written: independent lanes in arrays that the compiler vectorises
// with the baseline instructions of the target (SSE2 on x86-64: a multiply and an add, no FMA; NEON on
// arm64), four lanes per chain.
#define PORTABLE_LANES (FMA_CHAINS * 4)

static float fma_loop_portable(long iterations, float seed) {
    float x[PORTABLE_LANES];
    const float add = seed * 1e-7f;
    for (int lane = 0; lane < PORTABLE_LANES; lane++) x[lane] = seed + (float)lane;
    for (long i = 0; i < iterations; i++) {
        for (int lane = 0; lane < PORTABLE_LANES; lane++) x[lane] = x[lane] * fma_multiplier + add;
    }
    float sum = 0;
    for (int lane = 0; lane < PORTABLE_LANES; lane++) sum += x[lane];
    return sum;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static float fma_loop_avx2(long iterations, float seed) {
    const __m256 m = _mm256_set1_ps(fma_multiplier), a = _mm256_set1_ps(seed * 1e-7f);
    __m256 x0 = _mm256_set1_ps(seed), x1 = _mm256_set1_ps(seed + 1), x2 = _mm256_set1_ps(seed + 2);
    __m256 x3 = _mm256_set1_ps(seed + 3), x4 = _mm256_set1_ps(seed + 4), x5 = _mm256_set1_ps(seed + 5);
    __m256 x6 = _mm256_set1_ps(seed + 6), x7 = _mm256_set1_ps(seed + 7), x8 = _mm256_set1_ps(seed + 8);
    __m256 x9 = _mm256_set1_ps(seed + 9), x10 = _mm256_set1_ps(seed + 10), x11 = _mm256_set1_ps(seed + 11);
    for (long i = 0; i < iterations; i++) {
        x0 = _mm256_fmadd_ps(x0, m, a); x1 = _mm256_fmadd_ps(x1, m, a); x2 = _mm256_fmadd_ps(x2, m, a);
        x3 = _mm256_fmadd_ps(x3, m, a); x4 = _mm256_fmadd_ps(x4, m, a); x5 = _mm256_fmadd_ps(x5, m, a);
        x6 = _mm256_fmadd_ps(x6, m, a); x7 = _mm256_fmadd_ps(x7, m, a); x8 = _mm256_fmadd_ps(x8, m, a);
        x9 = _mm256_fmadd_ps(x9, m, a); x10 = _mm256_fmadd_ps(x10, m, a); x11 = _mm256_fmadd_ps(x11, m, a);
    }
    __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                               _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7)));
    sum = _mm256_add_ps(sum, _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

__attribute__((target("avx512f")))
static float fma_loop_avx512(long iterations, float seed) {
    const __m512 m = _mm512_set1_ps(fma_multiplier), a = _mm512_set1_ps(seed * 1e-7f);
    __m512 x0 = _mm512_set1_ps(seed), x1 = _mm512_set1_ps(seed + 1), x2 = _mm512_set1_ps(seed + 2);
    __m512 x3 = _mm512_set1_ps(seed + 3), x4 = _mm512_set1_ps(seed + 4), x5 = _mm512_set1_ps(seed + 5);
    __m512 x6 = _mm512_set1_ps(seed + 6), x7 = _mm512_set1_ps(seed + 7), x8 = _mm512_set1_ps(seed + 8);
    __m512 x9 = _mm512_set1_ps(seed + 9), x10 = _mm512_set1_ps(seed + 10), x11 = _mm512_set1_ps(seed + 11);
    for (long i = 0; i < iterations; i++) {
        x0 = _mm512_fmadd_ps(x0, m, a); x1 = _mm512_fmadd_ps(x1, m, a); x2 = _mm512_fmadd_ps(x2, m, a);
        x3 = _mm512_fmadd_ps(x3, m, a); x4 = _mm512_fmadd_ps(x4, m, a); x5 = _mm512_fmadd_ps(x5, m, a);
        x6 = _mm512_fmadd_ps(x6, m, a); x7 = _mm512_fmadd_ps(x7, m, a); x8 = _mm512_fmadd_ps(x8, m, a);
        x9 = _mm512_fmadd_ps(x9, m, a); x10 = _mm512_fmadd_ps(x10, m, a); x11 = _mm512_fmadd_ps(x11, m, a);
    }
    __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(x2, x3)),
                               _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(x6, x7)));
    sum = _mm512_add_ps(sum, _mm512_add_ps(_mm512_add_ps(x8, x9), _mm512_add_ps(x10, x11)));
    return _mm512_reduce_add_ps(sum);
}
#endif

long resin_fma_peak_flops_per_iteration(enum resin_isa isa) {
    // A fused multiply-add is two floating-point operations per lane.
    switch (isa) {
    case RESIN_ISA_AVX512: return FMA_CHAINS * 16 * 2;
    case RESIN_ISA_AVX2: return FMA_CHAINS * 8 * 2;
    default: return PORTABLE_LANES * 2;
    }
}

float resin_fma_peak_loop(enum resin_isa isa, long iterations, float seed) {
#if defined(__x86_64__)
    if (isa == RESIN_ISA_AVX512) return fma_loop_avx512(iterations, seed);
    if (isa == RESIN_ISA_AVX2) return fma_loop_avx2(iterations, seed);
#endif
    (void)isa;
    return fma_loop_portable(iterations, seed);
}
