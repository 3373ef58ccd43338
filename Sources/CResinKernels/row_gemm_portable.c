// The classifier's row product in plain C, four floats per "vector" so the compiler may vectorise it; the
// loops are in row_gemm_body.h.
#include "resin_kernels.h"

#define RG_NAME(x) x##_portable
#define RG_TARGET
#define RG_W 4
typedef struct { float lane[4]; } vf;
static inline vf vzero(void) { vf v = {{0, 0, 0, 0}}; return v; }
static inline vf vload(const float *p) { vf v = {{p[0], p[1], p[2], p[3]}}; return v; }
static inline vf vfma(vf a, vf b, vf acc) {
    for (int l = 0; l < 4; l++) acc.lane[l] += a.lane[l] * b.lane[l];
    return acc;
}
static inline float vsum(vf v) { return (v.lane[0] + v.lane[2]) + (v.lane[1] + v.lane[3]); }
#define VZERO vzero()
#define VLOAD(p) vload(p)
#define VFMA(a, b, acc) vfma((a), (b), (acc))
#define VSUM(v) vsum(v)

#include "row_gemm_body.h"
