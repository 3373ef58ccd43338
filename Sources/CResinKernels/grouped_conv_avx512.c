// Grouped 2-D convolution for AVX-512F, direct (no im2col): ResNeXt's 3x3 convolutions of 32 groups of 4 to
// 32 channels, and depthwise ones. grouped_conv_band.h has the band buffer the kernel reads.
//
// im2col + one sgemm per group multiplies matrices of only 4 to 32 rows, far below what OpenBLAS's blocking
// is for, and then passes over the output again for the epilogue. Here a tile is 4 filters by 6 vectors of
// 16 consecutive outputs (24 accumulators of the 32 registers): each tap loads 6 input vectors and
// broadcasts 4 filter scalars (read from ONNX's own layout, nothing repacked) for 24 fused multiply-adds.
// The vectors run along output rows and continue on the next row, so 14- and 28-wide maps fill tiles too;
// the last vector of a row is masked. Rows of 8 or fewer outputs (ResNeXt's 7x7 stage) would leave more than
// half of every 16-float vector empty, so they run on the AVX2 kernel's 8-float vectors (the kernel table
// offers AVX-512 only where AVX2 runs): 0.76 against 0.91 ms on the 14x14 to 7x7 stride-2 layer, one thread. The epilogue is applied to the registers before the store.
#include "grouped_conv_band.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 16
#define FILTERS 4
#define VECTORS 6

__attribute__((target("avx512f"), always_inline)) static inline void
tile(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
     const float *bias, const float *skip, float *output, long plane, const long *inputs, const long *outputs,
     const long *lanes, const int filters, const int vectors) {
    __m512 sum[FILTERS][VECTORS];
    for (int f = 0; f < filters; f++)
        for (int v = 0; v < vectors; v++) sum[f][v] = _mm512_setzero_ps();
    const float *source[VECTORS];
    for (int v = 0; v < vectors; v++) source[v] = band + inputs[v];
    for (long tap = 0; tap < taps; tap++) {
        long offset = offsets[tap];
        __m512 x[VECTORS];
        for (int v = 0; v < vectors; v++) x[v] = _mm512_loadu_ps(source[v] + offset);
        for (int f = 0; f < filters; f++) {
            __m512 w = _mm512_set1_ps(weight[f * taps + tap]);
            for (int v = 0; v < vectors; v++) sum[f][v] = _mm512_fmadd_ps(w, x[v], sum[f][v]);
        }
    }
    // max(minimum, y) and min(maximum, y) return y when either is NaN: Clip's rules.
    __m512 minimum = _mm512_set1_ps(s->activation_min), maximum = _mm512_set1_ps(s->activation_max);
    for (int f = 0; f < filters; f++) {
        __m512 b = _mm512_set1_ps(bias ? bias[f] : 0.0f);
        for (int v = 0; v < vectors; v++) {
            __mmask16 mask = (__mmask16)((1u << lanes[v]) - 1);
            float *y = output + f * plane + outputs[v];
            __m512 value = sum[f][v];
            if (s->accumulate) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, y));
            value = _mm512_add_ps(value, b);
            if (skip) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, skip + f * plane + outputs[v]));
            value = _mm512_min_ps(maximum, _mm512_max_ps(minimum, value));
            _mm512_mask_storeu_ps(y, mask, value);
        }
    }
}

#define TILE(F, V) tile(s, band, offsets, taps, weight, bias, skip, output, plane, inputs, outputs, lanes, F, V)
#define TILE_VECTORS(F)                                                                                              \
    switch (vectors) {                                                                                              \
    case 6: TILE(F, 6); break;                                                                                      \
    case 5: TILE(F, 5); break;                                                                                      \
    case 4: TILE(F, 4); break;                                                                                      \
    case 3: TILE(F, 3); break;                                                                                      \
    case 2: TILE(F, 2); break;                                                                                      \
    default: TILE(F, 1); break;                                                                                     \
    }

__attribute__((target("avx512f"))) static void
tile_any(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
         const float *bias, const float *skip, float *output, long plane, const long *inputs, const long *outputs,
         const long *lanes, int filters, int vectors) {
    switch (filters) {
    case 4: TILE_VECTORS(4); break;
    case 3: TILE_VECTORS(3); break;
    case 2: TILE_VECTORS(2); break;
    default: TILE_VECTORS(1); break;
    }
}

// Not inlined into the entry point: its 80 KiB of stack buffers would then sit under the AVX2 kernel's too.
__attribute__((target("avx512f"), noinline)) static void
rows(const struct resin_grouped_conv_shape *s, const float *input, const float *weight, const float *bias,
     const float *skip, float *output, long row_begin, long row_end) {
    grouped_conv_rows(s, input, weight, bias, skip, output, row_begin, row_end, LANES, VECTORS, FILTERS, tile_any);
}
__attribute__((target("avx512f"))) void
resin_grouped_conv_avx512(const struct resin_grouped_conv_shape *s, const float *input, const float *weight,
                          const float *bias, const float *skip, float *output, long row_begin, long row_end) {
    if (s->output_width <= 8) {
        resin_grouped_conv_avx2(s, input, weight, bias, skip, output, row_begin, row_end);
    } else {
        rows(s, input, weight, bias, skip, output, row_begin, row_end);
    }
}
#endif
