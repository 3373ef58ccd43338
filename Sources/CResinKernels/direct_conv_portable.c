// The direct convolution of few input channels in plain C for any processor, and the shape check every
// instruction set shares; direct_conv_avx512.c explains the kernel. As the portable grouped kernel, a tile
// is 4 filters by one vector of 8 outputs in arrays the compiler vectorises, its filters read from the
// packed panels.
#include "grouped_conv_band.h"

#define LANES 8
#define FILTERS 4

int resin_direct_conv_supported(const struct resin_grouped_conv_shape *shape) {
    return shape->channels * shape->kernel_height * shape->kernel_width <= RESIN_DIRECT_MAX_TAPS
        && shape->stride_width == 2 && resin_grouped_conv_supported(shape);
}

/// `FILTERS` filters (`filters` of them stored) by one vector of outputs; grouped_tile_fn's contract, with
/// `weight` the block's first lane in its panel.
static void tile(const struct resin_grouped_conv_shape *s, const float *band, const int *offsets, long taps,
                 const float *weight, const float *bias, const float *skip, float *output, long plane, const long *inputs,
                 const long *outputs, const long *lanes, int filters, int vectors) {
    (void)vectors;  // always 1
    float sum[FILTERS][LANES] = {{0}};
    const float *w = weight;
    for (long tap = 0; tap < taps; tap++, w += RESIN_PACKED_PANEL) {
        const float *x = band + inputs[0] + offsets[tap];
        for (int f = 0; f < FILTERS; f++)
            for (int l = 0; l < LANES; l++) sum[f][l] += w[f] * x[l];
    }
    for (int f = 0; f < filters && f < FILTERS; f++) {
        float *y = output + f * plane + outputs[0];
        const float *r = skip ? skip + f * plane + outputs[0] : 0;
        for (long l = 0; l < lanes[0]; l++) {
            float value = sum[f][l];
            if (s->accumulate) value += y[l];
            value += bias ? bias[f] : 0;
            if (r) value += r[l];
            // Clip's rules: a NaN value passes, a NaN bound clamps nothing.
            if (value < s->activation_min) value = s->activation_min;
            if (value > s->activation_max) value = s->activation_max;
            y[l] = value;
        }
    }
}

void resin_direct_conv_portable(const struct resin_grouped_conv_shape *s, const float *input, const float *packed,
                                const float *bias, const float *skip, float *output, long row_begin, long row_end) {
    grouped_conv_rows_of(s, input, packed, bias, skip, output, row_begin, row_end, LANES, 1, FILTERS, tile,
                         grouped_split_row, 1);
}
