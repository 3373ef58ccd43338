// The direct convolution of few input channels for AVX-512F (the ResNet stem; resin_kernels.h's block says
// when it runs). grouped_conv_band.h copies each band of input rows once, split into stride phases, so that
// every tap of a vector of consecutive outputs is one contiguous load.
//
// The implicit-column product it replaces for the stem gathered (deinterleaved) 147 rows of inputs for every
// block of 48 columns, then reused each block for only 64 filters. Here a tile is 8 filters by 3 vectors of 16
// outputs (24 accumulators): each tap loads 3 input vectors and broadcasts 8 filters from one step of their
// packed panel for 24 fused multiply-adds. Stem alone, C benchmark, one core, minimums of 60 runs alternating
// in one process, machine shared: 8 x 3 ran 147-159 GFLOP/s where 4 x 6 and 4 x 3 ran 98-151; the implicit
// product 105-123. The inner loop is 24 multiply-adds, 11 loads and the tap's offset (perf: 95% of the time).
#include "grouped_split_x86.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 16
#define DIRECT_FILTERS 8
#define DIRECT_VECTORS 3

__attribute__((target("avx512f"), always_inline)) static inline void
tile(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
     const float *bias, const float *skip, float *output, long plane, const long *inputs, const long *outputs,
     const long *lanes, int filters, const int vectors) {
    __m512 sum[DIRECT_FILTERS][DIRECT_VECTORS];
    for (int f = 0; f < DIRECT_FILTERS; f++)
        for (int v = 0; v < vectors; v++) sum[f][v] = _mm512_setzero_ps();
    const float *source[DIRECT_VECTORS];
    for (int v = 0; v < vectors; v++) source[v] = band + inputs[v];
    // The next block of filters' outputs (the driver's next tile), into the cache while this one computes: at
    // batch 8 the stem's 25 MiB of outputs miss every cache, and it then ran 1.05 to 1.08 times as fast.
    for (int f = 0; f < DIRECT_FILTERS; f++)
        for (int v = 0; v < vectors; v++) _mm_prefetch((const char *)(output + (DIRECT_FILTERS + f) * plane + outputs[v]), _MM_HINT_T0);
    // Every filter of the block is computed (lanes past the last filter are zero in the panel); only
    // `filters` are stored.
    const float *w = weight;
    for (long tap = 0; tap < taps; tap++, w += RESIN_PACKED_PANEL) {
        long offset = offsets[tap];
        __m512 x[DIRECT_VECTORS];
        for (int v = 0; v < vectors; v++) x[v] = _mm512_loadu_ps(source[v] + offset);
        for (int f = 0; f < DIRECT_FILTERS; f++) {
            __m512 scalar = _mm512_set1_ps(w[f]);
            for (int v = 0; v < vectors; v++) sum[f][v] = _mm512_fmadd_ps(scalar, x[v], sum[f][v]);
        }
    }
    // max(minimum, y) and min(maximum, y) return y when either is NaN: Clip's rules.
    __m512 minimum = _mm512_set1_ps(s->activation_min), maximum = _mm512_set1_ps(s->activation_max);
    for (int f = 0; f < DIRECT_FILTERS; f++) {
        if (f >= filters) break;
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

#define TILE(V) tile(s, band, offsets, taps, weight, bias, skip, output, plane, inputs, outputs, lanes, filters, V)

__attribute__((target("avx512f"))) static void
tile_any(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
         const float *bias, const float *skip, float *output, long plane, const long *inputs, const long *outputs,
         const long *lanes, int filters, int vectors) {
    switch (vectors) {
    case 3: TILE(3); break;
    case 2: TILE(2); break;
    default: TILE(1); break;
    }
}

__attribute__((target("avx512f"))) void
resin_direct_conv_avx512(const struct resin_grouped_conv_shape *s, const float *input, const float *packed,
                         const float *bias, const float *skip, float *output, long row_begin, long row_end) {
    grouped_conv_rows_of(s, input, packed, bias, skip, output, row_begin, row_end, LANES, DIRECT_VECTORS, DIRECT_FILTERS,
                         tile_any, grouped_split_avx512, 1);
}
#endif
