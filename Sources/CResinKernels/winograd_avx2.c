// Winograd F(2x2, 3x3), F(4x4, 3x3) and stride-2 F(2x2, 3x3) transforms for AVX2 with FMA: 8 tiles per register; the arithmetic is in
// winograd_body.h. Row ends use masked loads and partial plain stores (store_avx2.h), so nothing past a row is
// touched.
#include "resin_kernels.h"
#include "store_avx2.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define WG_NAME(x) x##_avx2
#define WG_TARGET __attribute__((target("avx2,fma")))
#define WG_W 8
typedef __m256 vf;

__attribute__((target("avx2,fma"), always_inline)) static inline __m256i lanes(long n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 load_n(const float *p, long n) {
    return n == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes(n));
}
// MAXPS and MINPS return their second operand when either is NaN: a NaN value passes, a NaN bound clamps nothing.
#define VSPLAT(s) _mm256_set1_ps(s)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VLOADN(p, n) load_n((p), (n))
#define VSTOREN(p, v, n) resin_store_first8((p), (v), (n))
#define VCLAMP(v, lo, hi) _mm256_min_ps((hi), _mm256_max_ps((lo), (v)))

// Copies n floats to `to` with non-temporal stores for its whole 32-byte blocks, plain ones at the ragged ends.
__attribute__((target("avx2,fma"), always_inline)) static inline void stream_copy(float *to, const float *from, long n) {
    long i = 0;
    while (i < n && ((unsigned long)(to + i) & 31)) { to[i] = from[i]; i++; }
    for (; i + 8 <= n; i += 8) _mm256_stream_ps(to + i, _mm256_loadu_ps(from + i));
    for (; i < n; i++) to[i] = from[i];
}
#define WG_STREAM_COPY(to, from, n) stream_copy((to), (from), (n))
#define WG_STREAM_FENCE() _mm_sfence()

// The upper half of a and lower of b, then each 128-bit lane shifted by one float across the pair.
#define VNEXT(a, b)                                                                                                    \
    _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(_mm256_permute2f128_ps((a), (b), 0x21)),             \
                                           _mm256_castps_si256(a), 4))

#define WG_M 2
#include "winograd_body.h"
#undef WG_M
#define WG_M 4
#include "winograd_body.h"
#undef WG_M
#define WG_M 2
#define WG_S 2
#include "winograd_body.h"
#undef WG_M
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
// 4 filters by 3 registers: 12 accumulators of the 16 registers, 3 loads and 4 broadcasts for 12 multiply-adds.
// With the mask of a partial last register that is one register too many, and clang keeps an accumulator on the
// stack (a load and a store every step), so convolutions leave AVX2's products to the packed product's channel
// tile (`WinogradBand.multiply` in Kernels+Winograd.swift); this one is kept and tested like the plain C one.
#define WP_ROWS 4
#define WP_VECTORS 3
#include "winograd_product.h"
#endif
