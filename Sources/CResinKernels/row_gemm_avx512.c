// The classifier's row product for AVX-512F, 16 floats of k per register; the loops are in row_gemm_body.h.
#include "resin_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define RG_NAME(x) x##_avx512
#define RG_TARGET __attribute__((target("avx512f")))
#define RG_W 16
typedef __m512 vf;
#define VZERO _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VFMA(a, b, acc) _mm512_fmadd_ps((a), (b), (acc))
#define VSUM(v) _mm512_reduce_add_ps(v)

#include "row_gemm_body.h"
#endif
