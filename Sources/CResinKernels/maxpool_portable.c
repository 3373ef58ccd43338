// The 2-D max pool in plain C (maxpool_body.h over eight-float structs), and the shape checks every
// instruction set shares.
#include "resin_kernels.h"

#include <math.h>

int resin_maxpool_supported(const struct resin_maxpool_shape *s) {
    if (s->input_height < 1 || s->input_width < 1 || s->output_height < 1 || s->output_width < 1) return 0;
    if (s->kernel_height < 1 || s->kernel_width < 1 || s->stride_height < 1 || s->stride_width < 1) return 0;
    if (s->dilation_height < 1 || s->dilation_width < 1 || s->pad_top < 0 || s->pad_left < 0) return 0;
    if (s->kernel_height > RESIN_MAXPOOL_MAX_KERNEL_ROWS) return 0;
    // Bounded before the products below, so they cannot overflow.
    const long limit = RESIN_MAXPOOL_ROW_FLOATS;
    if (s->input_width > limit || s->output_width > limit || s->kernel_width > limit || s->stride_width > limit ||
        s->dilation_width > limit || s->pad_left > limit) return 0;
    return resin_maxpool_row_span(s) <= limit;
}

long resin_maxpool_row_span(const struct resin_maxpool_shape *s) {
    const long padded = s->pad_left + s->input_width;
    const long last_tap = (s->output_width - 1) * s->stride_width + (s->kernel_width - 1) * s->dilation_width;
    return padded > last_tap + 2 ? padded : last_tap + 2;
}

#define MP_NAME(x) x##_portable
#define MP_TARGET
// Eight lanes in a struct, so the compiler turns each lane loop into its vector instructions (the same loops
// one float at a time ran 25 times slower than AVX2 on ResNet-50's pool).
#define MP_W 8
typedef struct { float lane[8]; } vf;
// A NaN x replaces; a NaN acc stays (x > NaN is false).
static inline float smax(float acc, float x) { return x > acc || x != x ? x : acc; }
static inline vf vload(const float *p) {
    vf v;
    for (int l = 0; l < 8; l++) v.lane[l] = p[l];
    return v;
}
static inline void vstore(float *p, vf v) {
    for (int l = 0; l < 8; l++) p[l] = v.lane[l];
}
static inline vf vmax(vf acc, vf x) {
    for (int l = 0; l < 8; l++) acc.lane[l] = smax(acc.lane[l], x.lane[l]);
    return acc;
}
static inline vf veven(const float *p) {
    vf v;
    for (int l = 0; l < 8; l++) v.lane[l] = p[2 * l];
    return v;
}
#define VLOAD(p) vload(p)
#define VSTORE(p, v) vstore((p), (v))
#define VMAX(acc, x) vmax((acc), (x))
#define VEVEN(p) veven(p)

#include "maxpool_body.h"
