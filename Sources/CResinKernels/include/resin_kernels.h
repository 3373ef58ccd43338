#ifndef RESIN_KERNELS_H
#define RESIN_KERNELS_H

#include <stddef.h>

// Resin's own kernels, one implementation per instruction set, reached through one table of function
// pointers. The table is filled once, from the processor's features and the environment variable
// RESIN_ISA; callers never ask the processor themselves.

/// Output channels per panel of packed filters (one layout for every instruction set).
#define RESIN_PACKED_PANEL 32

/// The instruction sets Resin has kernels for, lowest first; a set's value is its bit in a support mask.
enum resin_isa {
    RESIN_ISA_PORTABLE = 0,
    RESIN_ISA_AVX2 = 1,
    RESIN_ISA_AVX512 = 2,
};
#define RESIN_ISA_COUNT 3

/// What choosing an instruction set from a RESIN_ISA value gave.
enum resin_isa_status {
    RESIN_ISA_OK = 0,
    /// The value names no instruction set Resin knows.
    RESIN_ISA_UNKNOWN = 1,
    /// The value names a set this processor does not run.
    RESIN_ISA_UNSUPPORTED = 2,
};

/// `C[m x n] = W * B` (or `C += W * B` when `accumulate`), W given packed (`resin_pack_filters`), B row-major
/// `k x n` with row stride `ldb`, C row-major with row stride `ldc`; only the output channels of panels
/// `panel_begin ..< panel_end` are computed, so threads can split the panels. `next_packed`, when not NULL, is
/// the packed W of the product the caller runs next on this thread (the same `m`, `k` and panels: the next
/// Winograd position), whose first block the vector sets fetch into L2 while this one's last computes.
typedef void (*resin_packed_gemm_fn)(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
                                     const float *b, long ldb, float *c, long ldc, int accumulate, const float *next_packed);

// --- Grouped convolution (ResNeXt, depthwise): direct, no im2col (grouped_conv_*.c) ---

/// One group of one image of a grouped 2-D convolution, and the epilogue applied before the store.
struct resin_grouped_conv_shape {
    /// Input channels and filters of the group.
    long channels, filters;
    long input_height, input_width, output_height, output_width;
    long kernel_height, kernel_width, stride_height, stride_width, dilation_height, dilation_width;
    /// Leading pads; the trailing ones follow from the output size.
    long pad_top, pad_left;
    /// `y = min(max(y, activation_min), activation_max)` with Clip's rules: a NaN passes, a NaN bound clamps
    /// nothing (+-infinity for none, 0 and +infinity for Relu).
    float activation_min, activation_max;
    /// Nonzero when the output holds the residual on entry and the convolution adds onto it.
    int accumulate;
};

/// Floats of the stack buffer a grouped convolution copies its input rows into (64 KiB).
#define RESIN_GROUPED_SCRATCH_FLOATS 16384
/// Most filter taps (channels x kernel height x kernel width) of one group the kernels take.
#define RESIN_GROUPED_MAX_TAPS 4096

/// Whether the grouped kernels take this shape (whatever the instruction set): at least one output row's
/// input must fit the stack buffer and the taps must fit RESIN_GROUPED_MAX_TAPS. Other shapes use im2col.
int resin_grouped_conv_supported(const struct resin_grouped_conv_shape *shape);

/// Output rows per band when vectors of `lanes` floats run this shape on flat phase planes (narrow maps,
/// grouped_conv_band.h), else 0. For tests: AVX-512's kernel takes the flat layout wherever this is nonzero for 16.
long resin_grouped_conv_flat_band_rows(const struct resin_grouped_conv_shape *shape, long lanes);

/// Output rows `row_begin ..< row_end` of one group of one image: `input` the group's first input channel
/// `[channels, input_height, input_width]`, `weight` its filters in ONNX's layout `[filters, channels,
/// kernel_height, kernel_width]`, `bias` its `filters` biases or NULL, `skip` a residual shaped like `output`
/// or NULL, `output` `[filters, output_height, output_width]`. `output` = activation(conv + bias + skip), or
/// activation(output + conv + bias) when `accumulate`. Requires `resin_grouped_conv_supported`.
typedef void (*resin_grouped_conv_fn)(const struct resin_grouped_conv_shape *shape, const float *input,
                                      const float *weight, const float *bias, const float *skip, float *output,
                                      long row_begin, long row_end);

void resin_grouped_conv_portable(const struct resin_grouped_conv_shape *shape, const float *input, const float *weight,
                                 const float *bias, const float *skip, float *output, long row_begin, long row_end);
#if defined(__x86_64__)
void resin_grouped_conv_avx2(const struct resin_grouped_conv_shape *shape, const float *input, const float *weight,
                             const float *bias, const float *skip, float *output, long row_begin, long row_end);
void resin_grouped_conv_avx512(const struct resin_grouped_conv_shape *shape, const float *input, const float *weight,
                               const float *bias, const float *skip, float *output, long row_begin, long row_end);
#endif

// --- end of grouped convolution ---

// ---- Direct convolution of few input channels (direct_conv_*.c; the stem of ResNets) ----
// An ungrouped convolution whose filters have few taps (channels x kernel height x kernel width; ResNet's
// 7x7 stride-2 stem has 147) runs as the grouped kernels' one group: its band of input rows is split into
// stride phases once (grouped_conv_band.h), and a tile of filters by vectors of consecutive outputs reads
// each tap as one contiguous load, its filters broadcast from the packed product's panels
// (`resin_pack_filters`; the file's filters are unchanged).

/// Most taps the direct convolution of few channels takes; more go to the packed product.
#define RESIN_DIRECT_MAX_TAPS 256

/// Whether `resin_direct_conv_fn` takes this shape (`filters` the convolution's output channels, `channels`
/// its input channels), whatever the instruction set: at most RESIN_DIRECT_MAX_TAPS taps, stride 2 along
/// rows, and one output row's input fits the band buffer (`resin_grouped_conv_supported`).
int resin_direct_conv_supported(const struct resin_grouped_conv_shape *shape);

/// Output rows `row_begin ..< row_end` of one image, as `resin_grouped_conv_fn` says, with `weight` the
/// filters packed (`[ceil(filters / 32)][taps][32]`). Requires `resin_direct_conv_supported`.
typedef resin_grouped_conv_fn resin_direct_conv_fn;

void resin_direct_conv_portable(const struct resin_grouped_conv_shape *shape, const float *input, const float *packed,
                                const float *bias, const float *skip, float *output, long row_begin, long row_end);
#if defined(__x86_64__)
void resin_direct_conv_avx2(const struct resin_grouped_conv_shape *shape, const float *input, const float *packed,
                            const float *bias, const float *skip, float *output, long row_begin, long row_end);
void resin_direct_conv_avx512(const struct resin_grouped_conv_shape *shape, const float *input, const float *packed,
                              const float *bias, const float *skip, float *output, long row_begin, long row_end);
#endif
// ---- end of the direct convolution of few channels ----
// ---- Fused packed product (every ungrouped convolution that is not Winograd) ----

/// What the fused product applies to each result before storing it: `clamp(result + bias[row] + skip)`.
/// Clamping follows ONNX Clip as Resin's Swift epilogue does: a NaN result passes, a NaN bound clamps
/// nothing; -INFINITY and INFINITY clamp nothing.
struct resin_gemm_epilogue {
    /// `[m]`, or NULL.
    const float *bias;
    /// Laid out like C (row stride `ldc`), or NULL. It may be C itself: C then holds the residual on entry
    /// and the product accumulates onto it.
    const float *skip;
    float min, max;
};

/// One product `C[m x n] = clamp(W * B + bias + skip)`: W packed (`resin_pack_filters`), B row-major
/// `k x n` with row stride `ldb`, C row-major with row stride `ldc` (C must not overlap W or B).
struct resin_gemm_problem {
    long m, n, k;
    const float *packed;
    const float *b;
    long ldb;
    float *c;
    long ldc;
    struct resin_gemm_epilogue epilogue;
    /// NULL for the plain B above; else B is implicit (`b` and `ldb` unused) and C spans images, as
    /// `struct resin_gemm_gather` says.
    const struct resin_gemm_gather *gather;
    /// The packed W of the product this thread runs next (same `m`, `k` and panels), or NULL
    /// (`resin_packed_gemm_fn`).
    const float *next_packed;
};

// ---- Implicit columns (gemm_gather.h, the column-vectorised product of packed_gemm_*.c) ----

/// B of a 2-D convolution over a whole batch, read straight from the NCHW input instead of an im2col copy:
/// column `j` is output position `j % plane` of image `j / plane` (`plane = output_height * output_width`),
/// row `k` is input channel `k / (kernel_height * kernel_width)` at kernel tap `k % (kernel_height *
/// kernel_width)`; taps in the padding read 0. C and the residual are addressed per image: element (row `r`,
/// column `j`) is at `c + (j / plane) * output_image_stride + r * ldc + j % plane`, so one product covers
/// every image of a batch and reads its filters once. Any `n` takes the column-vectorised tile.
struct resin_gemm_gather {
    /// `[images][channels][input_height][input_width]`, images `input_image_stride` floats apart.
    const float *input;
    long channels, input_height, input_width, output_height, output_width;
    long kernel_height, kernel_width, stride_height, stride_width, dilation_height, dilation_width;
    /// Leading pads; the trailing ones follow from the output size.
    long pad_top, pad_left;
    long input_image_stride, output_image_stride;
    /// Nonzero when the input was copied with its padding (pads 0, every tap inside the input) for the
    /// channel-vectorised tile to read in place (AVX-512 and AVX2); the portable kernel gathers it.
    long padded_direct;
};

/// The padded inputs the channel-vectorised tiles read in place (`padded_direct`): stride 2 along
/// rows, no dilation, at most this many kernel taps.
#define RESIN_PADDED_DIRECT_MAX_TAPS 49
/// Whether `gather` may be read in place by the channel-vectorised tile (`padded_direct` set, and a shape
/// that tile takes); the same answer on every set.
int resin_padded_direct_supported(const struct resin_gemm_gather *gather);
// ---- end of implicit columns ----

// ---- Im2col bands of strided convolutions (gemm_gather.h's resin_gather_matrix, one per set) ----

/// Writes rows `k0 ..< k0 + kc` of columns `column ..< column + cols` of the implicit B that `gather` describes
/// as a plain row-major matrix: row `kk` at `out + kk * ldo` (an im2col band, cut by rows so that threads can
/// split it). Stride-2 rows are deinterleaved in registers, padding written as zeros.
typedef void (*resin_im2col_fn)(const struct resin_gemm_gather *gather, long column, long cols, long k0, long kc, float *out,
                                long ldo);
void resin_im2col_portable(const struct resin_gemm_gather *gather, long column, long cols, long k0, long kc, float *out,
                           long ldo);
#if defined(__x86_64__)
void resin_im2col_avx2(const struct resin_gemm_gather *gather, long column, long cols, long k0, long kc, float *out, long ldo);
void resin_im2col_avx512(const struct resin_gemm_gather *gather, long column, long cols, long k0, long kc, float *out,
                         long ldo);
#endif
// ---- end of im2col bands ----

/// Computes the output channels of panels `panel_begin ..< panel_end` and the columns `column_begin ..<
/// column_end` of `problem`, so that threads can split both. Which microkernel runs depends on the problem's
/// shape only (never on the split), so every split gives the same bits.
typedef void (*resin_fused_gemm_fn)(const struct resin_gemm_problem *problem, long panel_begin, long panel_end,
                                    long column_begin, long column_end);

/// Columns a split of the fused product should keep together (a multiple of every column tile).
#define RESIN_FUSED_COLUMN_BLOCK 48
/// Columns of each set's channel-vectorised tile (the product of at most 256 plain columns): a thread's share
/// of that product's columns starts on a tile, so only the last share can end in a partial one.
#define RESIN_CHANNEL_TILE_COLUMNS_PORTABLE 4
#define RESIN_CHANNEL_TILE_COLUMNS_AVX2 6
#define RESIN_CHANNEL_TILE_COLUMNS_AVX512 14
// ---- Winograd transforms (winograd_*.c, arithmetic in winograd_body.h) ----
// Lavin and Gray's F(2x2, 3x3) and F(4x4, 3x3) (the latter on the points 0, 1, -1, 1/2, -1/2 and infinity):
// an (M+2)x(M+2) input tile d becomes V = B^T d B, the (M+2)^2 positions are multiplied by the transformed
// filters over channels (the packed product, or sgemm for F(2x2)), and each product tile becomes the MxM
// outputs A^T M A; the stride-2 F(2x2, 3x3) likewise over 5x5 input tiles stepping 4 (winograd_body.h). The
// functions below are named resin_winograd{2,4,2s2}_{input,output}_<set>.

/// Widest row of tiles the transforms handle (their scratch rows live on the stack, about 100 KiB for F(4x4)).
#define RESIN_WINOGRAD_MAX_TILE_COLUMNS 512

/// One band of tile rows of one image. Transformed input is `[positions][channels][tiles]`, products
/// `[positions][filters][tiles]`, with `tiles = tile_rows * tile_columns` and tile (r, c) at `r * tile_columns + c`
/// (the stride-2 transforms group the positions that share a filter: `[16 filters][channels][runs][tiles]`, 1, 2
/// or 4 runs, winograd_body.h).
struct resin_winograd_band {
    long channels, filters;
    long height, width;          // input plane
    long pad_top, pad_left;
    long out_height, out_width;  // output plane
    long first_tile_row, tile_rows, tile_columns;
    // Nonzero: the output transform writes through a stack buffer and stores whole cache lines of the output
    // with non-temporal stores (not when it accumulates in place); the phased schedule sets it on several threads.
    int stream;
};

/// Writes `V` for channels `channel_begin ..< channel_end` of `input` (one image, `[C][H][W]`); cells outside
/// the input read 0.
typedef void (*resin_winograd_input_fn)(const struct resin_winograd_band *band, const float *input, long channel_begin,
                                        long channel_end, float *transformed);
/// Writes the band's outputs of filters `filter_begin ..< filter_end` from the products, with the epilogue:
/// `y = clamp(A^T M A + bias[f] + r, min, max)`, where r is `skip` (shaped like the output) when given, the
/// output's own value when `accumulate` (in-place residual), else 0; `bias` may be null. The clamp follows
/// Clip: NaN passes, a NaN bound clamps nothing.
typedef void (*resin_winograd_output_fn)(const struct resin_winograd_band *band, const float *products, long filter_begin,
                                         long filter_end, float *output, const float *bias, const float *skip, int accumulate,
                                         float min, float max);

/// The products `M[p] = U[p] V[p]` of positions `position_begin ..< position_end` of a band (winograd_product.h):
/// `packed` holds every position's transformed filters packed as the packed product's, `packed_stride` floats
/// apart; `transformed` is V, `products` M, laid out as above.
typedef void (*resin_winograd_product_fn)(const struct resin_winograd_band *band, const float *packed, long packed_stride,
                                          long position_begin, long position_end, const float *transformed, float *products);

#define RESIN_WINOGRAD_DECLARE(tile, set)                                                                              \
    void resin_winograd##tile##_input_##set(const struct resin_winograd_band *, const float *, long, long, float *);     \
    void resin_winograd##tile##_output_##set(const struct resin_winograd_band *, const float *, long, long, float *,    \
                                             const float *, const float *, int, float, float);
#define RESIN_WINOGRAD_PRODUCT_DECLARE(set)                                                                            \
    void resin_winograd_product_##set(const struct resin_winograd_band *, const float *, long, long, long, const float *, \
                                      float *);
RESIN_WINOGRAD_PRODUCT_DECLARE(portable)
RESIN_WINOGRAD_DECLARE(2, portable)
RESIN_WINOGRAD_DECLARE(4, portable)
RESIN_WINOGRAD_DECLARE(2s2, portable)
#if defined(__x86_64__)
RESIN_WINOGRAD_PRODUCT_DECLARE(avx2)
RESIN_WINOGRAD_PRODUCT_DECLARE(avx512)
RESIN_WINOGRAD_DECLARE(2, avx2)
RESIN_WINOGRAD_DECLARE(4, avx2)
RESIN_WINOGRAD_DECLARE(2s2, avx2)
RESIN_WINOGRAD_DECLARE(2, avx512)
RESIN_WINOGRAD_DECLARE(4, avx512)
RESIN_WINOGRAD_DECLARE(2s2, avx512)
#endif
// ---- end of the Winograd block ----

// ---- Small operators: 2-D max pooling and the classifier's row product (maxpool_*.c, row_gemm_*.c) ----

/// A 2-D max pool over NCHW planes; the output sizes already hold ceil_mode, the trailing pads follow from them.
struct resin_maxpool_shape {
    long input_height, input_width, output_height, output_width;
    long kernel_height, kernel_width, stride_height, stride_width, dilation_height, dilation_width;
    long pad_top, pad_left;
};

/// Floats of the stack row a max pool keeps (64 KiB): the column maxima of one output row's input rows,
/// with -infinity in the padding on both sides.
#define RESIN_MAXPOOL_ROW_FLOATS 16384
/// Most kernel rows the max pool kernels take.
#define RESIN_MAXPOOL_MAX_KERNEL_ROWS 64

/// Whether the max pool kernels take this shape (whatever the instruction set): positive kernel, strides and
/// dilations, non-negative pads, at most RESIN_MAXPOOL_MAX_KERNEL_ROWS kernel rows, and a padded input row that fits
/// RESIN_MAXPOOL_ROW_FLOATS. Other shapes take Swift's loop.
int resin_maxpool_supported(const struct resin_maxpool_shape *shape);

/// Floats of the stack row for this shape: the padded input row, or the last output's last tap plus one
/// float (the stride-2 vector loads read one past it), whichever is longer.
long resin_maxpool_row_span(const struct resin_maxpool_shape *shape);

/// Output rows `row_begin ..< row_end` of a max pool, counting rows over every plane (row `r` is output row
/// `r % output_height` of plane `r / output_height`): `input` is `[planes][input_height][input_width]`,
/// `output` `[planes][output_height][output_width]`. Taps in the padding are -infinity; a window holding NaN
/// gives NaN. Requires `resin_maxpool_supported`.
typedef void (*resin_maxpool_fn)(const struct resin_maxpool_shape *shape, const float *input, float *output, long row_begin,
                                 long row_end);

/// `y[b][r] = alpha * (a[b] . w[r]) (+ y[b][r] when accumulate)` for the batch rows `b < batch` of `a` (row stride
/// `lda`) and the rows `r` of `w` (`[rows][k]`, row stride `ldw`): a Gemm with transB whose A has few rows, the
/// classifier of a CNN. It streams W once per four batch rows, so it is bound by reading W.
struct resin_row_gemm_problem {
    long batch, rows, k;
    const float *a;
    long lda;
    const float *w;
    long ldw;
    float *y;
    long ldy;
    float alpha;
    int accumulate;
};

/// Rows `row_begin ..< row_end` of W (outputs `y[.][row_begin ..< row_end]`), so threads can split W.
typedef void (*resin_row_gemm_fn)(const struct resin_row_gemm_problem *problem, long row_begin, long row_end);

#define RESIN_SMALL_OPS_DECLARE(set)                                                                                   \
    void resin_maxpool_##set(const struct resin_maxpool_shape *, const float *, float *, long, long);                 \
    void resin_row_gemm_##set(const struct resin_row_gemm_problem *, long, long);
RESIN_SMALL_OPS_DECLARE(portable)
#if defined(__x86_64__)
RESIN_SMALL_OPS_DECLARE(avx2)
RESIN_SMALL_OPS_DECLARE(avx512)
#endif
// ---- end of the small operators ----

/// Every kernel of one instruction set.
struct resin_kernel_table {
    enum resin_isa isa;
    resin_packed_gemm_fn packed_gemm;
    // Grouped convolution (grouped_conv_*.c).
    resin_grouped_conv_fn grouped_conv;
    /// The fused packed product (packed_gemm_*.c).
    resin_fused_gemm_fn fused_gemm;
    // Winograd transforms, F(2x2, 3x3) and F(4x4, 3x3).
    resin_winograd_input_fn winograd2_input;
    resin_winograd_output_fn winograd2_output;
    resin_winograd_input_fn winograd4_input;
    resin_winograd_output_fn winograd4_output;
    resin_winograd_input_fn winograd2s2_input;
    resin_winograd_output_fn winograd2s2_output;
    resin_winograd_product_fn winograd_product;
    // Small operators (maxpool_*.c, row_gemm_*.c).
    resin_maxpool_fn maxpool;
    resin_row_gemm_fn row_gemm;
    // Im2col bands (strided convolutions).
    resin_im2col_fn im2col;
    // Direct convolution of few input channels (direct_conv_*.c).
    resin_direct_conv_fn direct_conv;
};

/// Bit `1 << isa` for every set this processor runs (the portable one always).
unsigned resin_isa_supported_mask(void);

/// The set a RESIN_ISA value asks for, given the sets the processor runs (`supported_mask`): a null or empty
/// value asks for the best one. Writes the set to `chosen` and returns RESIN_ISA_OK, or returns why not.
enum resin_isa_status resin_isa_choose(const char *requested, unsigned supported_mask, enum resin_isa *chosen);

/// The lower-case name of a set ("portable", "avx2", "avx512").
const char *resin_isa_name(enum resin_isa isa);

/// The kernels in use, chosen once from the processor and RESIN_ISA. When RESIN_ISA is unknown or above what
/// the processor runs, the best supported set is used and `resin_isa_request_status` says why (the command
/// line refuses to run then).
const struct resin_kernel_table *resin_kernels(void);

/// What choosing from RESIN_ISA gave when `resin_kernels` was filled.
enum resin_isa_status resin_isa_request_status(void);

/// The kernels of one set, for tests that run every set in one process. Requires the processor to run it.
const struct resin_kernel_table *resin_kernels_for(enum resin_isa isa);

/// The processor's model name (CPUID's brand string on x86-64), or an empty string when it has none.
const char *resin_processor_name(void);

/// Floats of the packed form of `m x k` filters: `ceil(m / 32)` panels of `k x 32`, rows past `m` zero.
long resin_packed_filter_floats(long m, long k);

/// Packs row-major `m x k` filters: `out[p][kk][r] = w[p * 32 + r][kk]`, zero where the row is past `m`.
/// A permutation in plain C, so the packed form is the same bytes on every processor.
void resin_pack_filters(const float *w, long m, long k, float *out);

// The packed product per instruction set; call them through the table.
void resin_packed_gemm_portable(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
                                const float *b, long ldb, float *c, long ldc, int accumulate, const float *next_packed);
void resin_fused_gemm_portable(const struct resin_gemm_problem *problem, long panel_begin, long panel_end,
                               long column_begin, long column_end);
#if defined(__x86_64__)
void resin_fused_gemm_avx2(const struct resin_gemm_problem *problem, long panel_begin, long panel_end,
                           long column_begin, long column_end);
void resin_fused_gemm_avx512(const struct resin_gemm_problem *problem, long panel_begin, long panel_end,
                             long column_begin, long column_end);
void resin_packed_gemm_avx2(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
                            const float *b, long ldb, float *c, long ldc, int accumulate, const float *next_packed);
void resin_packed_gemm_avx512(long m, long n, long k, long panel_begin, long panel_end, const float *packed,
                              const float *b, long ldb, float *c, long ldc, int accumulate, const float *next_packed);
#endif

// ---- Machine limits (fma_peak.c, core_round_trip.c; tools/bench-kernels) ------------------------------------
// A register-only loop of fused multiply-adds per instruction set, outside the kernel table: the benchmark
// times it on every thread to learn the processor's measured limit. `isa` must be one the processor runs.
// And the time two threads take to pass a cache line back and forth.

/// Floating-point operations one iteration of `resin_fma_peak_loop` performs under `isa` (two per FMA lane).
long resin_fma_peak_flops_per_iteration(enum resin_isa isa);

/// Runs `iterations` iterations of the loop under `isa`; the result depends on `seed` so nothing is folded.
float resin_fma_peak_loop(enum resin_isa isa, long iterations, float seed);

/// Nanoseconds of a cache line's round trip between two threads (core_round_trip.c): the mean over
/// `iterations` hand-overs or as many as fit in about `seconds`; -1 when no second thread could start.
double resin_core_round_trip_ns(long iterations, double seconds);

/// Round trips the pool's probe times: batches of trips, the fastest batch's mean kept.
#define RESIN_CORE_PROBE_BATCHES 4
#define RESIN_CORE_PROBE_TRIPS 4

/// The round trip between two of a worker pool's threads, measured from inside two of its tasks
/// (core_round_trip.c): `turn` starts at 0; task 0 calls `resin_core_probe_task` with role 0 and sets
/// `nanoseconds` (-1 when the other side did not answer within `timeout_seconds`), task 1 with role 1. `turn` is
/// read and written only atomically (core_round_trip.c), a plain `long` here so that Swift can hold the struct.
struct resin_core_probe {
    long turn;
    double nanoseconds;
};
void resin_core_probe_task(struct resin_core_probe *probe, long role, double timeout_seconds);

// ---- Weights on huge pages (huge_pages.c) ----

/// Moves the whole 2 MiB pieces of the read-only mapping at `base` (2 MiB aligned, `bytes` long) that this
/// process has read onto anonymous transparent huge pages in place, piece by piece: the addresses and bytes stay
/// the same, so readers may run meanwhile. Returns the pieces moved: 0 when `base` is not aligned, the kernel
/// gives no huge pages to regions that ask, or RESIN_HUGE_PAGES is "off"; it stops at the first piece it cannot
/// move.
long resin_move_to_huge_pages(const void *base, size_t bytes);

// ---- Spin-waiting (the worker pool) ----

/// A hint to the processor that the thread is spin-waiting: `pause` on x86 (it also leaves the core's other
/// hardware thread the issue slots), `yield` on arm64, nothing elsewhere.
static inline void resin_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
