#ifndef RESIN_KERNELS_H
#define RESIN_KERNELS_H

/// Output channels per panel of packed filters.
#define RESIN_PACKED_PANEL 32

/// 1 when this processor runs the packed kernel (AVX-512F); 0 means use the plain sgemm path.
int resin_packed_gemm_supported(void);

/// Floats of the packed form of `m x k` filters: `ceil(m / 32)` panels of `k x 32`, rows past `m` zero.
long resin_packed_filter_floats(long m, long k);

/// Packs row-major `m x k` filters: `out[p][kk][r] = w[p * 32 + r][kk]`, zero where the row is past `m`.
/// Portable C; any processor may write the packed form (a native file's converter does).
void resin_pack_filters(const float *w, long m, long k, float *out);

/// `C[m x n] = W * B` (or `C += W * B` when `accumulate`), W given packed, B row-major `k x n` with row
/// stride `ldb`, C row-major with row stride `ldc`; only the output channels of panels
/// `panel_begin ..< panel_end` are computed, so threads can split the panels. Requires
/// resin_packed_gemm_supported().
void resin_packed_gemm(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
                       const float *b, long ldb, float *c, long ldc, int accumulate);

#endif
