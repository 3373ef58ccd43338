// Grouped 2-D convolution for AVX2 with FMA, direct (no im2col). grouped_conv_avx512.c explains the tile and
// grouped_conv_band.h the band buffer the kernel reads.
//
// With 16 ymm registers, a tile is 6 filters by 2 vectors of 8 consecutive outputs: 12 accumulators, 2 input
// vectors and the broadcast filter scalar (15 registers), so each tap does 12 fused multiply-adds for 2 loads
// and 6 broadcasts. A group's filters are shared evenly over the blocks (8 as 4 + 4, 16 as 6 + 5 + 5). Against
// 4 filters by 2 vectors, ResNeXt-50's grouped layers of 16 and 32 filters a group took 0.313 against 0.322 ms
// (14x14), 0.363 against 0.372 (stride 2 from 28x28) and 0.337 against 0.35 to 0.39 (7x7), and groups of 8
// as 4 + 4 0.41 to 0.43 against 0.43 (one core, AMD EPYC Zen 5, alternating medians; 6 + 2 had taken 0.44). A
// tile of 3 vectors by 4 filters would need all 16 registers, and the compiler then kept one accumulator on
// the stack, a store and reload in every step of the inner loop: ResNeXt-50's grouped layers took 12.0 ms
// against 10.1 ms with 2 vectors (one thread, thread CPU time). The last vector of a row is masked (maskload
// does not touch masked-off lanes) and stored in parts (store_avx2.h: no VMASKMOVPS store).
#include "grouped_split_x86.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 8
#define FILTERS 6
#define VECTORS 2

__attribute__((target("avx2,fma"), always_inline)) static inline void
tile(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
     const float *bias, const float *skip, float *output, long plane, const long *inputs, const long *outputs,
     const long *lanes, const int filters, const int vectors) {
    __m256 sum[FILTERS][VECTORS];
    for (int f = 0; f < filters; f++)
        for (int v = 0; v < vectors; v++) sum[f][v] = _mm256_setzero_ps();
    const float *source[VECTORS];
    for (int v = 0; v < vectors; v++) source[v] = band + inputs[v];
    for (long tap = 0; tap < taps; tap++) {
        long offset = offsets[tap];
        __m256 x[VECTORS];
        for (int v = 0; v < vectors; v++) x[v] = _mm256_loadu_ps(source[v] + offset);
        for (int f = 0; f < filters; f++) {
            __m256 w = _mm256_set1_ps(weight[f * taps + tap]);
            for (int v = 0; v < vectors; v++) sum[f][v] = _mm256_fmadd_ps(w, x[v], sum[f][v]);
        }
    }
    // max(minimum, y) and min(maximum, y) return y when either is NaN: Clip's rules.
    __m256 minimum = _mm256_set1_ps(s->activation_min), maximum = _mm256_set1_ps(s->activation_max);
    for (int f = 0; f < filters; f++) {
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

#define TILE(F, V) tile(s, band, offsets, taps, weight, bias, skip, output, plane, inputs, outputs, lanes, F, V)
#define TILE_VECTORS(F)                                                                                              \
    switch (vectors) {                                                                                              \
    case 2: TILE(F, 2); break;                                                                                      \
    default: TILE(F, 1); break;                                                                                     \
    }

__attribute__((target("avx2,fma"))) static void
tile_any(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
         const float *bias, const float *skip, float *output, long plane, const long *inputs, const long *outputs,
         const long *lanes, int filters, int vectors) {
    switch (filters) {
    case 6: TILE_VECTORS(6); break;
    case 5: TILE_VECTORS(5); break;
    case 4: TILE_VECTORS(4); break;
    case 3: TILE_VECTORS(3); break;
    case 2: TILE_VECTORS(2); break;
    default: TILE_VECTORS(1); break;
    }
}

__attribute__((target("avx2,fma"))) void
resin_grouped_conv_avx2(const struct resin_grouped_conv_shape *s, const float *input, const float *weight,
                        const float *bias, const float *skip, float *output, long row_begin, long row_end) {
    grouped_conv_rows(s, input, weight, bias, skip, output, row_begin, row_end, LANES, VECTORS, FILTERS, tile_any,
                      grouped_split_avx2);
}
#endif
