// The classifier's product `y[b][r] = alpha * (a[b] . w[r])`, written once over a vector type and compiled by
// each instruction set's file (row_gemm_portable.c, row_gemm_avx2.c, row_gemm_avx512.c).
//
// The including file defines: RG_NAME(x) (appends the set's suffix), RG_TARGET (its target attribute), vf and
// RG_W (the vector type and its floats), VZERO, VLOAD(p), VFMA(a, b, acc) (acc + a * b) and VSUM(v) (the sum of
// the lanes).
//
// With few batch rows the product is bound by reading W (ResNet's 1000 x 2048 floats, 8 MiB), which a GEMM
// packs before using and a GEMV per batch row reads again for each. Here each tile of 4 rows of W is read
// once per 4 batch rows, straight from its original layout along k, with 16 accumulators at most; the rows
// of a tile are 4 sequential streams the hardware prefetcher follows (a single batch row takes W a row at a
// time instead, below). Each output is summed in the same order whatever the tile or the split, so threads
// splitting the rows give the same bits.

__attribute__((always_inline)) static inline RG_TARGET void RG_NAME(tile)(const struct resin_row_gemm_problem *p, long r0,
                                                                          const int rows, long b0, const int batch) {
    vf acc[4][4];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < batch; j++) acc[i][j] = VZERO;
    const float *w = p->w + r0 * p->ldw, *a = p->a + b0 * p->lda;
    const long k = p->k, ldw = p->ldw, lda = p->lda;
    long kk = 0;
    for (; kk + RG_W <= k; kk += RG_W) {
        vf av[4];
        for (int j = 0; j < batch; j++) av[j] = VLOAD(a + j * lda + kk);
        for (int i = 0; i < rows; i++) {
            const vf wv = VLOAD(w + i * ldw + kk);
            for (int j = 0; j < batch; j++) acc[i][j] = VFMA(wv, av[j], acc[i][j]);
        }
    }
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < batch; j++) {
            float sum = VSUM(acc[i][j]);
            for (long t = kk; t < k; t++) sum += w[i * ldw + t] * a[j * lda + t];
            float *y = p->y + (b0 + j) * p->ldy + r0 + i;
            *y = p->alpha * sum + (p->accumulate ? *y : 0.0f);
        }
    }
}

// One tile of `rows` (1 or 4) rows of W against every batch row, four at a time.
__attribute__((always_inline)) static inline RG_TARGET void RG_NAME(rows)(const struct resin_row_gemm_problem *p, long r0,
                                                                          const int rows) {
    long b = 0;
    for (; b + 4 <= p->batch; b += 4) RG_NAME(tile)(p, r0, rows, b, 4);
    switch (p->batch - b) {
    case 3: RG_NAME(tile)(p, r0, rows, b, 3); break;
    case 2: RG_NAME(tile)(p, r0, rows, b, 2); break;
    case 1: RG_NAME(tile)(p, r0, rows, b, 1); break;
    default: break;
    }
}

RG_TARGET void RG_NAME(resin_row_gemm)(const struct resin_row_gemm_problem *p, long row_begin, long row_end) {
    long r = row_begin;
    // With one batch row, a tile of 4 rows of W shares only its loads of a (in L1), and taking W a row at a
    // time reads it as one sequential stream: ResNet-50's classifier took 0.38 to 0.40 ms against 0.43 to 0.46
    // (its 8 MiB from memory; AVX-512, Zen 4, 1 and 2 threads, the two alternating run by run in one process).
    if (p->batch > 1) {
        for (; r + 4 <= row_end; r += 4) RG_NAME(rows)(p, r, 4);
    }
    for (; r < row_end; r++) RG_NAME(rows)(p, r, 1);
}
