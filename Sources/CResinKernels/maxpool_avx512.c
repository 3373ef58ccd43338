// The 2-D max pool for AVX-512F: 16 columns per register; the loops are in maxpool_body.h.
#include "resin_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define MP_NAME(x) x##_avx512
#define MP_TARGET __attribute__((target("avx512f")))
#define MP_W 16
typedef __m512 vf;

static inline float smax(float acc, float x) { return x > acc || x != x ? x : acc; }
// MAXPS returns its second operand when either is NaN: acc keeps a NaN it holds, and a NaN x is put back
// under the unordered mask.
__attribute__((target("avx512f"), always_inline)) static inline __m512 vmax(__m512 acc, __m512 x) {
    return _mm512_mask_mov_ps(_mm512_max_ps(x, acc), _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}
// Floats 0, 2, .. 30 of p, by one two-source permute.
__attribute__((target("avx512f"), always_inline)) static inline __m512 even(const float *p) {
    const __m512i index = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(p), index, _mm512_loadu_ps(p + 16));
}
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VMAX(acc, x) vmax((acc), (x))
#define VEVEN(p) even(p)

#include "maxpool_body.h"
#endif
