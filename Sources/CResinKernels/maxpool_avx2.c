// The 2-D max pool for AVX2: 8 columns per register; the loops are in maxpool_body.h.
#include "resin_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define MP_NAME(x) x##_avx2
#define MP_TARGET __attribute__((target("avx2,fma")))
#define MP_W 8
typedef __m256 vf;

static inline float smax(float acc, float x) { return x > acc || x != x ? x : acc; }
// MAXPS returns its second operand when either is NaN: acc keeps a NaN it holds, and a NaN x is put back by
// the blend.
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 vmax(__m256 acc, __m256 x) {
    return _mm256_blendv_ps(_mm256_max_ps(x, acc), x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
// Floats 0, 2, .. 14 of p: SHUFPS takes the even pairs of each 128-bit lane, then the 64-bit quarters are
// put in order.
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 even(const float *p) {
    const __m256 mixed = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), 0x88);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mixed), 0xD8));
}
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VMAX(acc, x) vmax((acc), (x))
#define VEVEN(p) even(p)

#include "maxpool_body.h"
#endif
