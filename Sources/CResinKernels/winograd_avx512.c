// Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms for AVX-512F: 16 tiles per register; the arithmetic is in
// winograd_body.h. Row ends use masked loads and stores, so nothing past a row is touched.
#include "resin_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define WG_NAME(x) x##_avx512
#define WG_TARGET __attribute__((target("avx512f")))
#define WG_W 16
typedef __m512 vf;

__attribute__((target("avx512f"), always_inline)) static inline __m512 load_n(const float *p, long n) {
    return n == 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}
__attribute__((target("avx512f"), always_inline)) static inline void store_n(float *p, __m512 v, long n) {
    if (n == 16) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v);
}
// MAXPS and MINPS return their second operand when either is NaN: a NaN value passes, a NaN bound clamps nothing.
#define VSPLAT(s) _mm512_set1_ps(s)
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VLOADN(p, n) load_n((p), (n))
#define VSTOREN(p, v, n) store_n((p), (v), (n))
#define VCLAMP(v, lo, hi) _mm512_min_ps((hi), _mm512_max_ps((lo), (v)))

#define WG_M 2
#include "winograd_body.h"
#undef WG_M
#define WG_M 4
#include "winograd_body.h"
#undef WG_M
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
// 8 filters by 3 registers: 24 accumulators, 3 loads and 8 broadcasts a step for 24 fused multiply-adds.
#define WP_ROWS 8
#define WP_VECTORS 3
#include "winograd_product.h"
#endif
