// Grouped 2-D convolution for AVX-512F, direct (no im2col): ResNeXt's 3x3 convolutions of 32 groups of 4 to
// 32 channels, and depthwise ones. grouped_conv_band.h has the band buffer the kernel reads.
//
// im2col + one sgemm per group multiplies matrices of only 4 to 32 rows, far below what OpenBLAS's blocking
// is for, and then passes over the output again for the epilogue. Here a tile is 4 filters by 6 vectors of
// 16 consecutive outputs (24 accumulators of the 32 registers): each tap loads 6 input vectors and
// broadcasts 4 filter scalars (read from ONNX's own layout, nothing repacked) for 24 fused multiply-adds.
// The vectors run along output rows and continue on the next row, so 14- and 28-wide maps fill tiles too;
// the last vector of a row is masked. Rows of 8 or fewer outputs (ResNeXt's 7x7 stage) would leave more than
// half of every 16-float vector empty. They run on flat phase planes (grouped_conv_band.h), a vector covering
// about two rows, each row's lanes stored with their own mask: ResNeXt-50's 1024-channel 7x7 layer took 0.21
// ms against 0.36 on the AVX2 kernel's 8-float vectors (one thread, AMD EPYC Zen 5, medians of 300), and the
// whole model 19.7 against 20.6 ms (2 threads, alternating). Shapes the flat layout does not take still run
// on the AVX2 kernel (the kernel table offers AVX-512 only where AVX2 runs). The epilogue is applied to the
// registers before the store.
#include "grouped_split_x86.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 16
#define FILTERS 4
#define VECTORS 6

// The tile's multiply-adds: `sum[f][v]` over every tap, vector v reading from `band + inputs[v]`.
__attribute__((target("avx512f"), always_inline)) static inline void
products(__m512 sum[FILTERS][VECTORS], const float *band, const int *offsets, long taps, const float *weight,
         const long *inputs, const int filters, const int vectors) {
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
}

__attribute__((target("avx512f"), always_inline)) static inline void
tile(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
     const float *bias, const float *skip, float *output, long plane, const long *inputs, const long *outputs,
     const long *lanes, const int filters, const int vectors) {
    __m512 sum[FILTERS][VECTORS];
    products(sum, band, offsets, taps, weight, inputs, filters, vectors);
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
#define FLAT_TILE(F, V) flat_tile(s, band, offsets, taps, weight, bias, skip, output, plane, inputs, runs, F, V)
// The tile `T` (TILE or FLAT_TILE) of `F` filters for the run-time `vectors`, and of the run-time `filters`.
#define TILE_VECTORS(T, F)                                                                                           \
    switch (vectors) {                                                                                              \
    case 6: T(F, 6); break;                                                                                         \
    case 5: T(F, 5); break;                                                                                         \
    case 4: T(F, 4); break;                                                                                         \
    case 3: T(F, 3); break;                                                                                         \
    case 2: T(F, 2); break;                                                                                         \
    default: T(F, 1); break;                                                                                        \
    }
#define TILE_FILTERS(T)                                                                                              \
    switch (filters) {                                                                                              \
    case 4: TILE_VECTORS(T, 4); break;                                                                              \
    case 3: TILE_VECTORS(T, 3); break;                                                                              \
    case 2: TILE_VECTORS(T, 2); break;                                                                              \
    default: TILE_VECTORS(T, 1); break;                                                                             \
    }

__attribute__((target("avx512f"))) static void
tile_any(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
         const float *bias, const float *skip, float *output, long plane, const long *inputs, const long *outputs,
         const long *lanes, int filters, int vectors) {
    TILE_FILTERS(TILE)
}

// A flat vector's outputs from `from` (an output plane), zero in the lanes that hold none.
__attribute__((target("avx512f"), always_inline)) static inline __m512 runs_load(const struct grouped_flat_runs *r, const float *from) {
    __m512 value = _mm512_setzero_ps();
    for (int i = 0; i < r->count; i++) value = _mm512_mask_loadu_ps(value, (__mmask16)r->masks[i], from + r->offsets[i]);
    return value;
}

// A tile on the flat layout of narrow maps (grouped_conv_band.h): each vector's outputs are runs of lanes in
// up to GROUPED_FLAT_SEGMENTS rows, each loaded and stored with its own mask and shift.
__attribute__((target("avx512f"), always_inline)) static inline void
flat_tile(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
          const float *bias, const float *skip, float *output, long plane, const long *inputs,
          const struct grouped_flat_runs *runs, const int filters, const int vectors) {
    __m512 sum[FILTERS][VECTORS];
    products(sum, band, offsets, taps, weight, inputs, filters, vectors);
    __m512 minimum = _mm512_set1_ps(s->activation_min), maximum = _mm512_set1_ps(s->activation_max);
    for (int f = 0; f < filters; f++) {
        __m512 b = _mm512_set1_ps(bias ? bias[f] : 0.0f);
        for (int v = 0; v < vectors; v++) {
            const struct grouped_flat_runs *r = &runs[v];
            float *y = output + f * plane;
            __m512 value = sum[f][v];
            if (s->accumulate) value = _mm512_add_ps(value, runs_load(r, y));
            value = _mm512_add_ps(value, b);
            if (skip) value = _mm512_add_ps(value, runs_load(r, skip + f * plane));
            value = _mm512_min_ps(maximum, _mm512_max_ps(minimum, value));
            for (int i = 0; i < r->count; i++) _mm512_mask_storeu_ps(y + r->offsets[i], (__mmask16)r->masks[i], value);
        }
    }
}

__attribute__((target("avx512f"))) static void
flat_tile_any(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps, const float *weight,
              const float *bias, const float *skip, float *output, long plane, const long *inputs,
              const struct grouped_flat_runs *runs, int filters, int vectors) {
    TILE_FILTERS(FLAT_TILE)
}

// Not inlined into the entry point: its 80 KiB of stack buffers would then sit under the AVX2 kernel's too.
__attribute__((target("avx512f"), noinline)) static void
rows(const struct resin_grouped_conv_shape *s, const float *input, const float *weight, const float *bias,
     const float *skip, float *output, long row_begin, long row_end) {
    grouped_conv_rows(s, input, weight, bias, skip, output, row_begin, row_end, LANES, VECTORS, FILTERS, tile_any,
                      grouped_split_avx512);
}
__attribute__((target("avx512f"), noinline)) static void
flat_rows(const struct resin_grouped_conv_shape *s, const struct grouped_flat_layout *flat, const float *input,
          const float *weight, const float *bias, const float *skip, float *output, long row_begin, long row_end) {
    grouped_conv_flat_rows(s, flat, input, weight, bias, skip, output, row_begin, row_end, LANES, VECTORS, FILTERS, flat_tile_any,
                           grouped_split_avx512);
}
__attribute__((target("avx512f"))) void
resin_grouped_conv_avx512(const struct resin_grouped_conv_shape *s, const float *input, const float *weight,
                          const float *bias, const float *skip, float *output, long row_begin, long row_end) {
    struct grouped_flat_layout flat;
    if (grouped_flat_layout(s, LANES, &flat)) {
        flat_rows(s, &flat, input, weight, bias, skip, output, row_begin, row_end);
    } else if (s->output_width <= 8) {
        resin_grouped_conv_avx2(s, input, weight, bias, skip, output, row_begin, row_end);
    } else {
        rows(s, input, weight, bias, skip, output, row_begin, row_end);
    }
}
#endif
