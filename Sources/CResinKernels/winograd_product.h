// The Winograd products M[p] = U[p] V[p] over a range of positions p, written once over a vector type and
// compiled by each instruction set's file (winograd_portable.c, winograd_avx2.c, winograd_avx512.c), which
// defines, besides winograd_body.h's macros, VFMA(a, b, c) (a * b + c), WP_ROWS (filters per tile) and
// WP_VECTORS (registers of tiles per tile).
//
// U[p] is packed as the packed product's filters (`[ceil(M / 32)][C][32]`, PackedFilters.packWinograd), V[p]
// is `[C][tiles]` and M[p] `[M][tiles]`: the transforms' own layout, vectorised along tiles as they are. A tile
// of the product is WP_ROWS filters by WP_VECTORS registers of tiles; each step broadcasts WP_ROWS filter
// values and loads WP_VECTORS input vectors, read in place (a fused block's V[p] is C rows of at most 48 tiles,
// 10 to 100 KiB, already in the core's cache, so unlike the packed product nothing is copied), and the
// results are stored straight into rows of M. It runs the fused schedule's blocks (at most 48 tiles); the
// phased bands' wider products run on the packed product's channel-vectorised tile (WinogradBand.multiply in
// Kernels+Winograd.swift has the measurements). On the fused blocks that tile lost: it transposes every tile
// through a buffer, which made the products 65% of the convolution's time on ResNet-50's 56x56 layer (64
// channels, one core, AVX-512, when it stored with scalar stores).

#define WP_COLUMNS (WP_VECTORS * WG_W)
#define WP_KBLOCK 128

// One tile: `rows` (<= WP_ROWS) filters by `columns` (<= WP_COLUMNS) tiles, `vectors` registers (a constant
// after inlining) over `channels` steps.
WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(wp_tile)(long channels, const float *w, const float *v, long tiles, float *m, long rows, long columns, int adds,
                 const int vectors) {
    vf acc[WP_ROWS][WP_VECTORS];
    const long last = columns - (vectors - 1) * WG_W;
    for (int r = 0; r < WP_ROWS; r++) {
        for (int q = 0; q < vectors; q++) acc[r][q] = VSPLAT(0.0f);
        if (adds && r < rows) {
            for (int q = 0; q < vectors - 1; q++) acc[r][q] = VLOAD(m + r * tiles + q * WG_W);
            acc[r][vectors - 1] = VLOADN(m + r * tiles + (vectors - 1) * WG_W, last);
        }
    }
    for (long k = 0; k < channels; k++) {
        vf in[WP_VECTORS];
        for (int q = 0; q < vectors - 1; q++) in[q] = VLOAD(v + q * WG_W);
        in[vectors - 1] = VLOADN(v + (vectors - 1) * WG_W, last);
        for (int r = 0; r < WP_ROWS; r++) {
            const vf weight = VSPLAT(w[r]);
            for (int q = 0; q < vectors; q++) acc[r][q] = VFMA(in[q], weight, acc[r][q]);
        }
        w += RESIN_PACKED_PANEL;
        v += tiles;
    }
    for (int r = 0; r < WP_ROWS; r++) {
        if (r >= rows) break;
        for (int q = 0; q < vectors - 1; q++) VSTORE(m + r * tiles + q * WG_W, acc[r][q]);
        VSTOREN(m + r * tiles + (vectors - 1) * WG_W, acc[r][vectors - 1], last);
    }
}

WG_TARGET void WG_NAME(resin_winograd_product)(const struct resin_winograd_band *band, const float *packed, long packed_stride,
                                               long position_begin, long position_end, const float *transformed, float *products) {
    const long channels = band->channels, filters = band->filters;
    const long tiles = band->tile_rows * band->tile_columns;
    for (long p = position_begin; p < position_end; p++) {
        const float *u = packed + p * packed_stride;
        const float *v = transformed + p * channels * tiles;
        float *m = products + p * filters * tiles;
        // Blocks of tiles, then of channels (the partial sums stay in M), then every filter: each filter tile
        // reads the same block of V, at most WP_KBLOCK rows of WP_COLUMNS tiles (24 KiB for AVX-512), from L1.
        // Whole rows of 256 channels (50 KiB at 49 tiles) went back to L2 for every filter tile: ResNet-50's 14x14
        // F(2x2) layer took 1.11 ms against the packed product's 1.03, and 1.04 against 1.05 with the blocks (one
        // core, AVX-512, alternating runs, minimum of 500).
        for (long j = 0; j < tiles; j += WP_COLUMNS) {
            const long columns = tiles - j < WP_COLUMNS ? tiles - j : WP_COLUMNS;
            const int vectors = (int)((columns + WG_W - 1) / WG_W);
            for (long k = 0; k < channels; k += WP_KBLOCK) {
                const long kc = channels - k < WP_KBLOCK ? channels - k : WP_KBLOCK;
                const int adds = k > 0;
                for (long f = 0; f < filters; f += WP_ROWS) {
                    // Filter f is lane f % 32 of panel f / 32; WP_ROWS divides 32, so a tile stays in one panel.
                    const float *w = u + ((f / RESIN_PACKED_PANEL) * channels + k) * RESIN_PACKED_PANEL + f % RESIN_PACKED_PANEL;
                    const long rows = filters - f < WP_ROWS ? filters - f : WP_ROWS;
                    const float *x = v + k * tiles + j;
                    float *out = m + f * tiles + j;
#if WP_VECTORS >= 4
                    if (vectors == 4) { WG_NAME(wp_tile)(kc, w, x, tiles, out, rows, columns, adds, 4); continue; }
#endif
                    switch (vectors) {
                    case 3: WG_NAME(wp_tile)(kc, w, x, tiles, out, rows, columns, adds, 3); break;
                    case 2: WG_NAME(wp_tile)(kc, w, x, tiles, out, rows, columns, adds, 2); break;
                    default: WG_NAME(wp_tile)(kc, w, x, tiles, out, rows, columns, adds, 1); break;
                    }
                }
            }
        }
    }
}

#undef WP_COLUMNS
#undef WP_KBLOCK
