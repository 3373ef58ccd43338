// Partial stores of an AVX2 register without VMASKMOVPS (private to CResinKernels).
//
// VMASKMOVPS's store form is microcoded on AMD processors: on a Zen 4 guest (AMD EPYC, family 25 model 17) a
// loop of them took 4.5 ns a store against 0.27 for VMOVUPS and 0.28 for AVX-512's masked store (the load form
// costs as much as a plain load). The AVX2 kernels stored every row of the channel tile, every output vector
// of the direct and grouped kernels and every partial row of the Winograd transforms that way, and ran ResNet-50
// 1.6 times as long as the AVX-512 ones on a core whose AVX2 and AVX-512 FMA peaks are equal. Here a partial
// register goes out as at most three plain stores (4, 2 and 1 floats), each touching only the lanes stored.
#ifndef RESIN_STORE_AVX2_H
#define RESIN_STORE_AVX2_H

#if defined(__x86_64__)
#include <immintrin.h>

/// Stores the first `count` lanes of `x` at `to` (all 8 from 8 on, none at 0 or below); nothing past them is
/// written or read.
__attribute__((target("avx2"), always_inline)) static inline void resin_store_first8(float *to, __m256 x, long count) {
    if (count >= 8) {
        _mm256_storeu_ps(to, x);
        return;
    }
    if (count <= 0) return;
    __m128 part = _mm256_castps256_ps128(x);
    if (count & 4) {
        _mm_storeu_ps(to, part);
        to += 4;
        part = _mm256_extractf128_ps(x, 1);
    }
    if (count & 2) {
        _mm_storel_pi((__m64 *)to, part);
        to += 2;
        part = _mm_movehl_ps(part, part);
    }
    if (count & 1) _mm_store_ss(to, part);
}

/// Stores lanes `from ..< to` of `x` at `base + from ..< base + to` (0 <= from, to <= 8): the lanes are moved
/// down to the register's start by one permute, then stored as by resin_store_first8.
__attribute__((target("avx2"), always_inline)) static inline void resin_store_lanes8(float *base, __m256 x, long from, long to) {
    if (to <= from) return;
    if (from > 0) {
        const __m256i index = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)from));
        x = _mm256_permutevar8x32_ps(x, index);
    }
    resin_store_first8(base + from, x, to - from);
}

#endif
#endif
