// The classifier's row product for AVX2 with FMA, 8 floats of k per register; the loops are in row_gemm_body.h.
#include "resin_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define RG_NAME(x) x##_avx2
#define RG_TARGET __attribute__((target("avx2,fma")))
#define RG_W 8
typedef __m256 vf;
__attribute__((target("avx2,fma"), always_inline)) static inline float vsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#define VZERO _mm256_setzero_ps()
#define VLOAD(p) _mm256_loadu_ps(p)
#define VFMA(a, b, acc) _mm256_fmadd_ps((a), (b), (acc))
#define VSUM(v) vsum(v)

#include "row_gemm_body.h"
#endif
