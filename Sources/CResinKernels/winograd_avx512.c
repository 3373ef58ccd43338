// Winograd F(2x2, 3x3), F(4x4, 3x3) and stride-2 F(2x2, 3x3) transforms for AVX-512F: 16 tiles per register; the arithmetic is in
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

// Splits a padded row into 4 phases, 64 floats (16 of each phase) at a time: two-source permutes pick every
// fourth float of each half, one 256-bit shuffle joins the halves. `padded` holds whole blocks of 64.
__attribute__((target("avx512f"), always_inline)) static inline void split4(const float *padded, float *out, long stride, long phases) {
    for (long q = 0; q < phases; q += 16) {
        const float *x = padded + 4 * q;
        const __m512 a = _mm512_load_ps(x), b = _mm512_load_ps(x + 16), c = _mm512_load_ps(x + 32), d = _mm512_load_ps(x + 48);
        for (int p = 0; p < 4; p++) {
            const __m512i index = _mm512_setr_epi32(p, p + 4, p + 8, p + 12, p + 16, p + 20, p + 24, p + 28, 0, 0, 0, 0, 0, 0, 0, 0);
            const __m512 low = _mm512_permutex2var_ps(a, index, b), high = _mm512_permutex2var_ps(c, index, d);
            _mm512_storeu_ps(out + p * stride + q, _mm512_shuffle_f32x4(low, high, 0x44));
        }
    }
}
// Merges 4 phases back into a row, 64 floats at a time: unpacks interleave the phases within each 128-bit
// lane (four floats of one tile), then a 4x4 transpose of the lanes puts the tiles in order.
__attribute__((target("avx512f"), always_inline)) static inline void merge4(const float *phases, long stride, float *line, long width) {
    for (long q = 0; 4 * q < width; q += 16) {
        const __m512 p0 = _mm512_loadu_ps(phases + q), p1 = _mm512_loadu_ps(phases + stride + q);
        const __m512 p2 = _mm512_loadu_ps(phases + 2 * stride + q), p3 = _mm512_loadu_ps(phases + 3 * stride + q);
        const __m512 t0 = _mm512_unpacklo_ps(p0, p2), t1 = _mm512_unpacklo_ps(p1, p3);
        const __m512 t2 = _mm512_unpackhi_ps(p0, p2), t3 = _mm512_unpackhi_ps(p1, p3);
        // Tiles q + 4 l (a), + 1 (b), + 2 (c), + 3 (d) in lane l.
        const __m512 a = _mm512_unpacklo_ps(t0, t1), b = _mm512_unpackhi_ps(t0, t1);
        const __m512 c = _mm512_unpacklo_ps(t2, t3), d = _mm512_unpackhi_ps(t2, t3);
        const __m512 ab_low = _mm512_shuffle_f32x4(a, b, 0x44), cd_low = _mm512_shuffle_f32x4(c, d, 0x44);
        const __m512 ab_high = _mm512_shuffle_f32x4(a, b, 0xEE), cd_high = _mm512_shuffle_f32x4(c, d, 0xEE);
        float *x = line + 4 * q;
        _mm512_storeu_ps(x, _mm512_shuffle_f32x4(ab_low, cd_low, 0x88));
        _mm512_storeu_ps(x + 16, _mm512_shuffle_f32x4(ab_low, cd_low, 0xDD));
        _mm512_storeu_ps(x + 32, _mm512_shuffle_f32x4(ab_high, cd_high, 0x88));
        _mm512_storeu_ps(x + 48, _mm512_shuffle_f32x4(ab_high, cd_high, 0xDD));
    }
}
#define WG_MERGE4(phases, stride, line, width) merge4((phases), (stride), (line), (width))
#define WG_SPLIT4(padded, out, phases) split4((padded), &(out)[0][0], WG_QP, (phases))

// Copies n floats to `to` with non-temporal stores for its whole cache lines, plain ones at the ragged ends.
__attribute__((target("avx512f"), always_inline)) static inline void stream_copy(float *to, const float *from, long n) {
    long i = 0;
    while (i < n && ((unsigned long)(to + i) & 63)) { to[i] = from[i]; i++; }
    for (; i + 16 <= n; i += 16) _mm512_stream_ps(to + i, _mm512_loadu_ps(from + i));
    for (; i < n; i++) to[i] = from[i];
}
#define WG_STREAM_COPY(to, from, n) stream_copy((to), (from), (n))
#define WG_STREAM_FENCE() _mm_sfence()

#define VNEXT(a, b) _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(b), _mm512_castps_si512(a), 1))

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
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
// 8 filters by 3 registers: 24 accumulators, 3 loads and 8 broadcasts a step for 24 fused multiply-adds.
#define WP_ROWS 8
#define WP_VECTORS 3
#include "winograd_product.h"
#endif
