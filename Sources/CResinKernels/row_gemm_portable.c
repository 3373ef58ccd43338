// The classifier's row product in plain C over clang's vector extension (four floats, SSE or NEON, whatever
// the target has); the loops are in row_gemm_body.h. An array of structs of four floats in their place kept
// the sixteen accumulators in memory: 30 times slower than AVX2 at batch 4.
#include "resin_kernels.h"

#include <string.h>

#define RG_NAME(x) x##_portable
#define RG_TARGET
#define RG_W 4
typedef float vf __attribute__((vector_size(16)));
static inline vf vzero(void) { vf v = {0, 0, 0, 0}; return v; }
static inline vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline vf vfma(vf a, vf b, vf acc) { return acc + a * b; }
static inline float vsum(vf v) { return (v[0] + v[2]) + (v[1] + v[3]); }
#define VZERO vzero()
#define VLOAD(p) vload(p)
#define VFMA(a, b, acc) vfma((a), (b), (acc))
#define VSUM(v) vsum(v)

#include "row_gemm_body.h"
