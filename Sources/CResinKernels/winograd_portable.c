// Winograd F(2x2, 3x3), F(4x4, 3x3) and stride-2 F(2x2, 3x3) transforms in plain C (one float per "vector"), for processors Resin has no vector code
// for; the arithmetic is in winograd_body.h.
#include "resin_kernels.h"

#define WG_NAME(x) x##_portable
#define WG_TARGET
#define WG_W 1
typedef float vf;
#define VSPLAT(s) ((float)(s))
#define VLOAD(p) (*(p))
#define VSTORE(p, v) (*(p) = (v))
#define VLOADN(p, n) ((void)(n), *(p))
#define VSTOREN(p, v, n) ((void)(n), *(p) = (v))

static inline float clamp(float value, float lo, float hi) {
    if (value < lo) value = lo;
    if (value > hi) value = hi;
    return value;
}
#define VCLAMP(v, lo, hi) clamp((v), (lo), (hi))

// Plain C has no non-temporal store: the output transform's stage is copied out plainly.
#include <string.h>
#define WG_STREAM_COPY(to, from, n) memcpy((to), (from), (size_t)(n) * sizeof(float))
#define WG_STREAM_FENCE() ((void)0)

#define VNEXT(a, b) ((void)(a), (b))

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
#define VFMA(a, b, c) ((a) * (b) + (c))
#define WP_ROWS 4
#define WP_VECTORS 4
#include "winograd_product.h"
