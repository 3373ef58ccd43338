// The row split of grouped_conv_band.h (`grouped_split_fn`) with AVX2 and AVX-512 vectors, for the grouped and
// direct convolution kernels of those sets: stride-1 and stride-2 rows (other strides take the plain C split).
//
// The plain C split works out each row's inside range again and writes its borders and the short vector loop's
// remainder one float at a time: on ResNeXt-50's stride-2 grouped layers (rows of 14 to 56 outputs a phase) it
// took about half of the layer's time (`perf`, one thread). Here a vector of outputs of both phases costs two
// masked loads of the padded columns it needs (lanes outside the input read as zeros, and do not touch memory),
// one permute per phase and two stores (masked on AVX-512, in plain parts on AVX2: store_avx2.h); a vector of a
// stride-1 row one masked load and one store.
#ifndef RESIN_GROUPED_SPLIT_X86_H
#define RESIN_GROUPED_SPLIT_X86_H

#include "grouped_conv_band.h"
#include "store_avx2.h"

#if defined(__x86_64__)
#include <immintrin.h>

/// The lanes `l` of a 16-float vector whose input column `first + l` lies in `0 ..< width`: one unsigned compare
/// (a column left of the input wraps to a huge number). Columns are far below 2^31: the rows fit the stack buffer.
__attribute__((target("avx512f"), always_inline)) static inline __mmask16 grouped_split_inside16(long first, __m512i width) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_cmplt_epu32_mask(_mm512_add_epi32(lane, _mm512_set1_epi32((int)first)), width);
}

__attribute__((target("avx512f"), always_inline)) static inline void
grouped_split_avx512(const struct resin_grouped_conv_shape *s, long length, const float *source, float *out, long phase_stride) {
    __m512i width = _mm512_set1_epi32((int)s->input_width), length_lanes = _mm512_set1_epi32((int)length);
    if (s->stride_width == 1) {
        for (long i = 0; i < length; i += 16) {
            long first = i - s->pad_left;
            __mmask16 store = grouped_split_inside16(i, length_lanes);
            _mm512_mask_storeu_ps(out + i, store, _mm512_maskz_loadu_ps(grouped_split_inside16(first, width), source + first));
        }
        return;
    }
    if (s->stride_width != 2) {
        grouped_split_row(s, length, source, out, phase_stride);
        return;
    }
    const __m512i even_index = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd_index = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    float *restrict even = out, *restrict odd = out + phase_stride;
    for (long i = 0; i < length; i += 16) {
        // Output i of either phase reads padded columns 2i and 2i + 1, input columns 2i - pad_left and on.
        long first = 2 * i - s->pad_left;
        __m512 low = _mm512_maskz_loadu_ps(grouped_split_inside16(first, width), source + first);
        __m512 high = _mm512_maskz_loadu_ps(grouped_split_inside16(first + 16, width), source + first + 16);
        __mmask16 store = grouped_split_inside16(i, length_lanes);
        _mm512_mask_storeu_ps(even + i, store, _mm512_permutex2var_ps(low, even_index, high));
        _mm512_mask_storeu_ps(odd + i, store, _mm512_permutex2var_ps(low, odd_index, high));
    }
}

/// The lanes of an 8-float vector whose input column `first + l` lies in `0 ..< width`, as AVX2's mask (all ones).
__attribute__((target("avx2"), always_inline)) static inline __m256i grouped_split_inside8(long first, long width) {
    // Columns are far below 2^31: the shape's product fits the stack buffer.
    __m256i column = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)first));
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), column),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32((int)width), column));
}

__attribute__((target("avx2"), always_inline)) static inline void
grouped_split_avx2(const struct resin_grouped_conv_shape *s, long length, const float *source, float *out, long phase_stride) {
    long width = s->input_width;
    if (s->stride_width == 1) {
        for (long i = 0; i < length; i += 8) {
            long first = i - s->pad_left;
            resin_store_first8(out + i, _mm256_maskload_ps(source + first, grouped_split_inside8(first, width)), length - i);
        }
        return;
    }
    if (s->stride_width != 2) {
        grouped_split_row(s, length, source, out, phase_stride);
        return;
    }
    float *restrict even = out, *restrict odd = out + phase_stride;
    for (long i = 0; i < length; i += 8) {
        long first = 2 * i - s->pad_left;
        __m256 low = _mm256_maskload_ps(source + first, grouped_split_inside8(first, width));
        __m256 high = _mm256_maskload_ps(source + first + 8, grouped_split_inside8(first + 8, width));
        // shuffle_ps picks within 128-bit halves: (low 0 2, high 0 2 | low 4 6, high 4 6); the 64-bit permute
        // puts the pairs in order.
        __m256 e = _mm256_shuffle_ps(low, high, 0x88), o = _mm256_shuffle_ps(low, high, 0xdd);
        e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8));
        o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xd8));
        resin_store_first8(even + i, e, length - i);
        resin_store_first8(odd + i, o, length - i);
    }
}
#endif

#endif
