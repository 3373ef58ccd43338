// The Winograd transforms, F(2x2, 3x3), F(4x4, 3x3) and the stride-2 F(2x2, 3x3), written once over a vector
// type and compiled by each instruction set's file (winograd_portable.c, winograd_avx2.c, winograd_avx512.c)
// with its own vector width, loads, stores and target attribute, so every set runs its own machine code from
// one statement of the arithmetic. Each file includes this three times: WG_M (the output tile side) 2 and 4,
// and WG_M 2 with WG_S (the stride, 1 when undefined) 2.
//
// The including file defines: WG_NAME(x) (appends the set's suffix), WG_TARGET (its target attribute, empty
// for the portable one), vf and WG_W (the vector type and its floats), VSPLAT(s), VLOAD(p), VSTORE(p, v),
// VLOADN(p, n), VSTOREN(p, v, n) (the first n <= WG_W lanes) and VCLAMP(v, lo, hi) (Clip's NaN rules).
//
// F(2x2): B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
// F(4x4) on the points 0, 1, -1, 1/2, -1/2 and infinity, rows of B^T scaled to integers (G scaled to match,
// Kernels+Winograd4x4.swift):
//   B^T = [[1, 0, -5, 0, 4, 0], [0, -1, -1, 4, 4, 0], [0, 1, -1, -4, 4, 0],
//          [0, -1, -2, 1, 2, 0], [0, 1, -2, -1, 2, 0], [0, 1, 0, -5, 0, 4]]
//   A^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 1/2, -1/2, 0], [0, 1, 1, 1/4, 1/4, 0], [0, 1, -1, 1/8, -1/8, 1]]
// The points 1/2 and -1/2 (rather than 2 and -2) keep A^T's entries at most 1 in magnitude, so the output
// transform does not amplify the products' rounding.
//
// Stride 2 (Kernels+WinogradStride2.swift): a 3x3 filter g at stride 2 over a row x gives y_i = g0 x_{2i} +
// g2 x_{2i+2} + g1 x_{2i+1}: the even inputs meet the two-tap filter (g0, g2), which F(2, 2) on the points 0,
// 1 and infinity computes in 3 products, and the odd ones the one-tap g1, 2 products. An input tile of 5
// (outputs 2, stepping 4) has
//   B^T = [[1, 0, -1, 0, 0], [0, 0, 1, 0, 0], [0, 0, -1, 0, 1], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0]],
//   A^T = [[1, 1, 0, 1, 0], [0, 1, 1, 0, 1]], G = [[1, 0, 0], [1, 0, 1], [0, 0, 1], [0, 1, 0], [0, 1, 0]],
// 25 products per 2x2 outputs for 36 direct ones, every coefficient 0 or 1. G's last two rows are equal, so
// the 25 positions share 16 distinct filters: positions (i, j) with i, j in {3, 4} map to 3, and each distinct
// filter's positions sit side by side in the transformed input and the products (`WG_POSITION`), so one product
// per distinct filter multiplies all of them (1, 2 or 4 runs of tiles).
//
// Both transforms are vectorised across the tiles of a tile row. Tile t reads input columns M t .. M t + M + 1,
// so the input rows are first split by column phase (x mod M) into stack rows: column M t + k is then phase
// k mod M at index t + k / M, and every load is contiguous. The outputs are gathered back from phases the same
// way, and the epilogue runs on whole output rows.

#ifndef WG_S
#define WG_S 1
#endif
// WG_STEP input columns (and rows) per tile, WG_N of them read.
#define WG_STEP (WG_M * WG_S)
#if WG_S == 1
#define WG_N (WG_M + 2)
#else
#define WG_N (2 * WG_M + 1)
#endif
#define WG_Q (RESIN_WINOGRAD_MAX_TILE_COLUMNS + 1)
// Stack rows padded so a full-vector load at any index below WG_Q stays inside them.
#define WG_QP (((WG_Q + WG_W - 1) / WG_W + 1) * WG_W)
// Floats of the output transform's stage for non-temporal stores (`resin_winograd_band.stream`).
#define WG_STREAM_FLOATS 4096

#ifndef WG_STRIDE2_POSITION
#define WG_STRIDE2_POSITION
// Where position (i, j) of channel (or filter) c of `total` starts, in rows of `tiles` floats, for the stride-2
// transform: distinct filter u = 4 min(i, 3) + min(j, 3) holds count(u) = (1 or 2) x (1 or 2) positions, its
// block of `total` rows of count(u) runs of tiles after the blocks of u' < u.
static inline __attribute__((always_inline)) long resin_winograd_s2_position(int i, int j, long c, long total) {
    const int a = i < 3 ? i : 3, b = j < 3 ? j : 3;
    const int rows = a == 3 ? 2 : 1, columns = b == 3 ? 2 : 1;
    const long first = 5 * a + rows * b;  // the runs of the blocks before u: 5 per row of distinct filters
    return first * total + c * rows * columns + (i - a) * columns + (j - b);
}
#endif
#if WG_S == 1
#define WG_POSITION(i, j, c, total) (((long)WG_N * (i) + (j)) * (total) + (c))
#else
#define WG_POSITION(i, j, c, total) resin_winograd_s2_position((i), (j), (c), (total))
#endif

// Splits a padded row into its STEP phases: out[p][q] = padded[STEP q + p] for q < phases. An instruction set's
// file may define WG_SPLIT4 (for a step of 4) with permutes; otherwise a plain loop, which compilers turned into
// gathers that took a quarter of the F(4x4) input transform's time (56x56 layer, AVX-512, one core).
#if WG_STEP == 4 && defined(WG_SPLIT4)
#define WG_SPLIT(padded, out, phases) WG_SPLIT4(padded, out, phases)
#else
#define WG_SPLIT(padded, out, phases)                                                                           \
    do {                                                                                                        \
        for (int p_ = 0; p_ < WG_STEP; p_++)                                                                    \
            for (long q_ = 0; q_ < (phases); q_++) (out)[p_][q_] = (padded)[WG_STEP * q_ + p_];                 \
    } while (0)
#endif

// VNEXT(a, b): lanes 1 .. W-1 of a then lane 0 of b, the vector one float on from a when b follows it.
// The reverse for one output row: line[x] = phases[x % M][x / M] for x < width; WG_MERGE4 likewise.
#if WG_M == 4 && defined(WG_MERGE4)
#define WG_MERGE(phases, line, width) WG_MERGE4(&(phases)[0][0], WG_QP, (line), (width))
#else
#define WG_MERGE(phases, line, width)                                                                           \
    do {                                                                                                        \
        for (long x_ = 0; x_ < (width); x_++) (line)[x_] = (phases)[x_ % WG_M][x_ / WG_M];                      \
    } while (0)
#endif

#if WG_M == 4
#define WG_FN(x) WG_NAME(resin_winograd4_##x)
// B^T applied to d[0..5], into o[0..5].
#define WG_BT(d, o)                                                                                             \
    do {                                                                                                        \
        const vf four_ = VSPLAT(4.0f), five_ = VSPLAT(5.0f), two_ = VSPLAT(2.0f);                               \
        o[0] = d[0] - five_ * d[2] + four_ * d[4];                                                              \
        o[1] = four_ * (d[3] + d[4]) - (d[1] + d[2]);                                                           \
        o[2] = four_ * (d[4] - d[3]) + (d[1] - d[2]);                                                           \
        o[3] = two_ * (d[4] - d[2]) + (d[3] - d[1]);                                                            \
        o[4] = two_ * (d[4] - d[2]) + (d[1] - d[3]);                                                            \
        o[5] = d[1] - five_ * d[3] + four_ * d[5];                                                              \
    } while (0)
// A^T applied to m[0..5], into o[0..3].
#define WG_AT(m, o)                                                                                             \
    do {                                                                                                        \
        const vf sum12_ = m[1] + m[2], diff12_ = m[1] - m[2], sum34_ = m[3] + m[4], diff34_ = m[3] - m[4];      \
        o[0] = sum12_ + sum34_ + m[0];                                                                          \
        o[1] = diff12_ + VSPLAT(0.5f) * diff34_;                                                                \
        o[2] = sum12_ + VSPLAT(0.25f) * sum34_;                                                                 \
        o[3] = diff12_ + VSPLAT(0.125f) * diff34_ + m[5];                                                       \
    } while (0)
#elif WG_M == 2 && WG_S == 2
#define WG_FN(x) WG_NAME(resin_winograd2s2_##x)
#define WG_BT(d, o)                                                                                             \
    do {                                                                                                        \
        o[0] = d[0] - d[2];                                                                                     \
        o[1] = d[2];                                                                                            \
        o[2] = d[4] - d[2];                                                                                     \
        o[3] = d[1];                                                                                            \
        o[4] = d[3];                                                                                            \
    } while (0)
#define WG_AT(m, o)                                                                                             \
    do {                                                                                                        \
        o[0] = m[0] + m[1] + m[3];                                                                              \
        o[1] = m[1] + m[2] + m[4];                                                                              \
    } while (0)
#elif WG_M == 2
#define WG_FN(x) WG_NAME(resin_winograd2_##x)
#define WG_BT(d, o)                                                                                             \
    do {                                                                                                        \
        o[0] = d[0] - d[2];                                                                                     \
        o[1] = d[1] + d[2];                                                                                     \
        o[2] = d[2] - d[1];                                                                                     \
        o[3] = d[1] - d[3];                                                                                     \
    } while (0)
#define WG_AT(m, o)                                                                                             \
    do {                                                                                                        \
        o[0] = m[0] + m[1] + m[2];                                                                              \
        o[1] = m[1] - m[2] - m[3];                                                                              \
    } while (0)
#else
#error "WG_M must be 2 or 4, WG_S 1 or 2 (2 only with WG_M 2)"
#endif

WG_TARGET void WG_FN(input)(const struct resin_winograd_band *band, const float *input, long channel_begin, long channel_end,
                            float *transformed) {
    const long width = band->width, height = band->height, columns = band->tile_columns;
    const long tiles = band->tile_rows * columns;
    const long phases = columns + 1;
    float split_rows[WG_N][WG_STEP][WG_QP];
    float rows[WG_N][WG_STEP][WG_QP];
    float padded[WG_STEP * (WG_QP + 16)] __attribute__((aligned(64)));
    // Splits read whole blocks of 16 phases.
    const long padded_end = WG_STEP * ((phases + 15) / 16 * 16);
    for (long channel = channel_begin; channel < channel_end; channel++) {
        const float *plane = input + channel * height * width;
        // Consecutive tile rows overlap by N - STEP input rows: keep their split forms and split only STEP new ones.
        float (*split[WG_N])[WG_QP];
        for (int r = 0; r < WG_N; r++) split[r] = split_rows[r];
        for (long tile_row = 0; tile_row < band->tile_rows; tile_row++) {
            const long top = (band->first_tile_row + tile_row) * WG_STEP - band->pad_top;
            int first_new = 0;
            if (tile_row > 0) {
                float (*previous[WG_N])[WG_QP];
                for (int r = 0; r < WG_N; r++) previous[r] = split[r];
                for (int r = 0; r < WG_N; r++) split[r] = previous[(r + WG_STEP) % WG_N];
                first_new = WG_N - WG_STEP;
            }
            for (int r = first_new; r < WG_N; r++) {
                const long y = top + r;
                if (y < 0 || y >= height) {
                    for (int p = 0; p < WG_STEP; p++)
                        for (long q = 0; q < phases; q++) split[r][p][q] = 0.0f;
                    continue;
                }
                // The row shifted by the left pad, zeros around it, so phase p's element q is padded[STEP q + p].
                const float *line = plane + y * width;
                const long pad = band->pad_left < WG_STEP * phases ? band->pad_left : WG_STEP * phases;
                const long copied = width < WG_STEP * phases - pad ? width : WG_STEP * phases - pad;
                for (long x = 0; x < pad; x++) padded[x] = 0.0f;
                for (long x = 0; x < copied; x++) padded[pad + x] = line[x];
                for (long x = pad + copied; x < padded_end; x++) padded[x] = 0.0f;
                WG_SPLIT(padded, split[r], phases);
            }
            // Columns of B^T d: combine the rows, phase by phase.
            for (int p = 0; p < WG_STEP; p++) {
                for (long q = 0; q < phases; q += WG_W) {
                    vf d[WG_N], o[WG_N];
                    for (int r = 0; r < WG_N; r++) d[r] = VLOAD(&split[r][p][q]);
                    WG_BT(d, o);
                    for (int r = 0; r < WG_N; r++) VSTORE(&rows[r][p][q], o[r]);
                }
            }
            // Then (B^T d) B along each row: tile t's columns are phases 0 .. STEP-1 at t, then the first N - STEP
            // phases at t + 1.
            float *base = transformed + tile_row * columns;
            for (int i = 0; i < WG_N; i++) {
                for (long q = 0; q < columns; q += WG_W) {
                    const long n = columns - q < WG_W ? columns - q : WG_W;
                    vf d[WG_N], o[WG_N];
                    for (int k = 0; k < WG_STEP; k++) d[k] = VLOAD(&rows[i][k][q]);
                    // Phases one tile on: the stores just made, shifted in registers (VNEXT), since loads one float
                    // past a store cannot be forwarded from it and stalled this loop (28x28 layer, AVX-512: half
                    // the input transform's time).
                    for (int k = WG_STEP; k < WG_N; k++) d[k] = VNEXT(d[k - WG_STEP], VLOAD(&rows[i][k - WG_STEP][q + WG_W]));
                    WG_BT(d, o);
                    for (int k = 0; k < WG_N; k++) VSTOREN(base + WG_POSITION(i, k, channel, band->channels) * tiles + q, o[k], n);
                }
            }
        }
    }
}

WG_TARGET void WG_FN(output)(const struct resin_winograd_band *band, const float *products, long filter_begin, long filter_end,
                             float *output, const float *bias, const float *skip, int accumulate, float min, float max) {
    const long columns = band->tile_columns, tiles = band->tile_rows * columns;
    const long out_height = band->out_height, out_width = band->out_width;
    const vf lo = VSPLAT(min), hi = VSPLAT(max);
    // Outputs of one tile row by (row in tile, column in tile, tile), then one output row in order.
    float outputs[WG_M][WG_M][WG_QP];
    float line[WG_M * WG_QP];
    // With `band->stream` (and not in place), each filter's rows of the band go to `stage` first, as many filters
    // as it holds (several whole planes, or one filter's rows of a part of the image), then out in whole cache
    // lines with non-temporal stores: writing lines another core holds then needs no round trip per line.
    float stage[WG_STREAM_FLOATS] __attribute__((aligned(64)));
    const long plane_size = out_height * out_width, first_row = band->first_tile_row * WG_M;
    const long last_row = (band->first_tile_row + band->tile_rows) * WG_M < out_height
        ? (band->first_tile_row + band->tile_rows) * WG_M : out_height;
    const long span = (last_row - first_row) * out_width;
    const long per_stage = !band->stream || accumulate || span > WG_STREAM_FLOATS ? 0
        : first_row == 0 && last_row == out_height ? WG_STREAM_FLOATS / plane_size : 1;
    long staged = 0;
    for (long filter = filter_begin; filter < filter_end; filter++) {
        const vf shift = VSPLAT(bias ? bias[filter] : 0.0f);
        float *plane = output + filter * plane_size;
        const float *residual = skip ? skip + filter * plane_size : 0;
        for (long tile_row = 0; tile_row < band->tile_rows; tile_row++) {
            const float *m = products + tile_row * columns;
            for (long q = 0; q < columns; q += WG_W) {
                const long n = columns - q < WG_W ? columns - q : WG_W;
                // M A, row by row of the products: h[i][b].
                vf h[WG_N][WG_M];
                for (int i = 0; i < WG_N; i++) {
                    vf row[WG_N];
                    for (int j = 0; j < WG_N; j++) row[j] = VLOADN(m + WG_POSITION(i, j, filter, band->filters) * tiles + q, n);
                    WG_AT(row, h[i]);
                }
                // A^T (M A), column by column.
                for (int b = 0; b < WG_M; b++) {
                    vf column[WG_N], y[WG_M];
                    for (int i = 0; i < WG_N; i++) column[i] = h[i][b];
                    WG_AT(column, y);
                    for (int a = 0; a < WG_M; a++) VSTORE(&outputs[a][b][q], y[a] + shift);
                }
            }
            const long top = (band->first_tile_row + tile_row) * WG_M;
            for (int a = 0; a < WG_M && top + a < out_height; a++) {
                WG_MERGE(outputs[a], line, out_width);
                float *target = per_stage ? stage + staged * span + (top + a - first_row) * out_width : plane + (top + a) * out_width;
                const float *add = accumulate ? target : residual ? residual + (top + a) * out_width : 0;
                for (long x = 0; x < out_width; x += WG_W) {
                    const long n = out_width - x < WG_W ? out_width - x : WG_W;
                    vf value = VLOAD(&line[x]);
                    if (add) value = value + VLOADN(add + x, n);
                    VSTOREN(target + x, VCLAMP(value, lo, hi), n);
                }
            }
        }
        if (per_stage && (++staged == per_stage || filter + 1 == filter_end)) {
            WG_STREAM_COPY(output + (filter + 1 - staged) * plane_size + first_row * out_width, stage, staged * span);
            staged = 0;
        }
    }
    if (per_stage) WG_STREAM_FENCE();
}

#undef WG_N
#undef WG_S
#undef WG_STEP
#undef WG_POSITION
#undef WG_Q
#undef WG_QP
#undef WG_FN
#undef WG_BT
#undef WG_AT
#undef WG_SPLIT
#undef WG_MERGE
