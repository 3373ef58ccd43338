// The direct convolution of few input channels for AVX2 with FMA; direct_conv_avx512.c explains it. With 16
// ymm registers a tile is 4 filters by 2 vectors of 8 outputs (8 accumulators; the grouped AVX2 kernel's
// 3-vector tile spilled an accumulator): each tap loads 2 input vectors and broadcasts 4 filters. Blocks of 4
// divide the packed panels, which the grouped kernel's 6-filter blocks would not.
#include "grouped_split_x86.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 8
#define FILTERS 4
#define VECTORS 2

__attribute__((target("avx2,fma"), always_inline)) static inline void
tile(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
     const float *bias, const float *skip, float *output, long plane, const long *inputs, const long *outputs,
     const long *lanes, int filters, const int vectors) {
    __m256 sum[FILTERS][VECTORS];
    for (int f = 0; f < FILTERS; f++)
        for (int v = 0; v < vectors; v++) sum[f][v] = _mm256_setzero_ps();
    const float *source[VECTORS];
    for (int v = 0; v < vectors; v++) source[v] = band + inputs[v];
    // Every filter of the block is computed (lanes past the last filter are zero in the panel).
    const float *w = weight;
    for (long tap = 0; tap < taps; tap++, w += RESIN_PACKED_PANEL) {
        long offset = offsets[tap];
        __m256 x[VECTORS];
        for (int v = 0; v < vectors; v++) x[v] = _mm256_loadu_ps(source[v] + offset);
        for (int f = 0; f < FILTERS; f++) {
            __m256 scalar = _mm256_broadcast_ss(w + f);
            for (int v = 0; v < vectors; v++) sum[f][v] = _mm256_fmadd_ps(scalar, x[v], sum[f][v]);
        }
    }
    // max(minimum, y) and min(maximum, y) return y when either is NaN: Clip's rules.
    __m256 minimum = _mm256_set1_ps(s->activation_min), maximum = _mm256_set1_ps(s->activation_max);
    for (int f = 0; f < FILTERS && f < filters; f++) {
        __m256 b = _mm256_set1_ps(bias ? bias[f] : 0.0f);
        for (int v = 0; v < vectors; v++) {
            __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)lanes[v]), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            float *y = output + f * plane + outputs[v];
            __m256 value = sum[f][v];
            if (s->accumulate) value = _mm256_add_ps(value, _mm256_maskload_ps(y, mask));
            value = _mm256_add_ps(value, b);
            if (skip) value = _mm256_add_ps(value, _mm256_maskload_ps(skip + f * plane + outputs[v], mask));
            value = _mm256_min_ps(maximum, _mm256_max_ps(minimum, value));
            resin_store_first8(y, value, lanes[v]);
        }
    }
}

__attribute__((target("avx2,fma"))) static void
tile_any(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
         const float *bias, const float *skip, float *output, long plane, const long *inputs, const long *outputs,
         const long *lanes, int filters, int vectors) {
    if (vectors == 2) {
        tile(s, band, offsets, taps, weight, bias, skip, output, plane, inputs, outputs, lanes, filters, 2);
    } else {
        tile(s, band, offsets, taps, weight, bias, skip, output, plane, inputs, outputs, lanes, filters, 1);
    }
}

__attribute__((target("avx2,fma"))) void
resin_direct_conv_avx2(const struct resin_grouped_conv_shape *s, const float *input, const float *packed, const float *bias,
                       const float *skip, float *output, long row_begin, long row_end) {
    grouped_conv_rows_of(s, input, packed, bias, skip, output, row_begin, row_end, LANES, VECTORS, FILTERS, tile_any,
                         grouped_split_avx2, 1);
}
#endif
