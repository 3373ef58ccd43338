// Grouped 2-D convolution, direct (no im2col), in plain C for any processor; also the shape check every
// instruction set shares. grouped_conv_band.h has the band buffer the kernels read.
//
// The structure is the vector kernels' (grouped_conv_avx512.c): a tile is a few filters of the group by
// vectors of consecutive outputs, here 4 filters by one vector of 8 floats held in arrays that the compiler
// vectorises; each tap loads the tile's input once and multiplies it by one filter scalar per filter. The
// epilogue (bias, residual, activation) is applied to the tile before it is stored. The tile's sizes must be
// constants (tile_any) for its sums to stay in registers: with them, ResNeXt-50's grouped layers run 1.65x
// faster than im2col + OpenBLAS on x86-64's baseline SSE2 (0.7x without); 2 vectors per tile ran 1.48x,
// their 16 sums filling all 16 SSE registers.
#include "grouped_conv_band.h"

#define LANES 8
#define FILTERS 4
#define VECTORS 1

int resin_grouped_conv_supported(const struct resin_grouped_conv_shape *shape) {
    struct grouped_band_layout layout;
    // The widest vectors (AVX-512's 16 floats) need the longest rows: what fits them fits every set.
    return shape->channels * shape->kernel_height * shape->kernel_width <= RESIN_GROUPED_MAX_TAPS
        && grouped_band_layout(shape, 16, &layout);
}

long resin_grouped_conv_flat_band_rows(const struct resin_grouped_conv_shape *shape, long lanes) {
    struct grouped_flat_layout layout;
    return grouped_flat_layout(shape, lanes, &layout) ? layout.band_rows : 0;
}

/// Clip's rules, as the Swift epilogue writes them: a NaN value passes, a NaN bound clamps nothing.
static inline float clamp(float value, float minimum, float maximum) {
    if (value < minimum) value = minimum;
    if (value > maximum) value = maximum;
    return value;
}

/// `filters` filters by `vectors` vectors of outputs over `taps` taps; `inputs[v]` is where vector v reads tap
/// 0, `outputs[v]` its offset in an output plane and `lanes[v]` how many of its outputs exist.
__attribute__((always_inline)) static inline void tile(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps,
                        const float *weight, const float *bias, const float *skip, float *output, long plane,
                        const long *inputs, const long *outputs, const long *lanes, const int filters, const int vectors) {
    float sum[FILTERS][VECTORS][LANES];
    for (int f = 0; f < filters; f++)
        for (int v = 0; v < vectors; v++)
            for (int l = 0; l < LANES; l++) sum[f][v][l] = 0;
    for (long tap = 0; tap < taps; tap++) {
        float x[VECTORS][LANES];
        for (int v = 0; v < vectors; v++) {
            const float *source = band + inputs[v] + offsets[tap];
            for (int l = 0; l < LANES; l++) x[v][l] = source[l];
        }
        for (int f = 0; f < filters; f++) {
            float w = weight[f * taps + tap];
            for (int v = 0; v < vectors; v++)
                for (int l = 0; l < LANES; l++) sum[f][v][l] += w * x[v][l];
        }
    }
    for (int f = 0; f < filters; f++) {
        float b = bias ? bias[f] : 0;
        for (int v = 0; v < vectors; v++) {
            float *y = output + f * plane + outputs[v];
            const float *r = skip ? skip + f * plane + outputs[v] : 0;
            for (long l = 0; l < lanes[v]; l++) {
                float value = sum[f][v][l];
                if (s->accumulate) value += y[l];
                value += b;
                if (r) value += r[l];
                y[l] = clamp(value, s->activation_min, s->activation_max);
            }
        }
    }
}

#define TILE(F, V) tile(s, band, offsets, taps, weight, bias, skip, output, plane, inputs, outputs, lanes, F, V)
#define TILE_VECTORS(F) TILE(F, 1)

// The tile with constant sizes, so that the compiler keeps its sums in registers.
static void tile_any(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps,
                     const float *weight, const float *bias, const float *skip, float *output, long plane,
                     const long *inputs, const long *outputs, const long *lanes, int filters, int vectors) {
    (void)vectors;  // always 1 (VECTORS)
    switch (filters) {
    case 4: TILE_VECTORS(4); break;
    case 3: TILE_VECTORS(3); break;
    case 2: TILE_VECTORS(2); break;
    default: TILE_VECTORS(1); break;
    }
}

void resin_grouped_conv_portable(const struct resin_grouped_conv_shape *s, const float *input, const float *weight,
                                 const float *bias, const float *skip, float *output, long row_begin, long row_end) {
    grouped_conv_rows(s, input, weight, bias, skip, output, row_begin, row_end, LANES, VECTORS, FILTERS, tile_any,
                      grouped_split_row);
}
