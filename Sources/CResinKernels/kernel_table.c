// The one place that asks the processor what it runs, and the table of kernels chosen from that and from
// RESIN_ISA. Filled once per process (pthread_once), so every caller sees the same kernels.
#include "resin_kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

// Designated fields, one block per kernel family, so each family's entries read on their own.
#define RESIN_TABLE(isa_value, suffix)                                                                    \
    {.isa = isa_value, .packed_gemm = resin_packed_gemm_##suffix, .grouped_conv = resin_grouped_conv_##suffix, \
     .fused_gemm = resin_fused_gemm_##suffix, WINOGRAD(suffix), SMALL_OPS(suffix), IM2COL(suffix),   \
     DIRECT_CONV(suffix)}
// The Winograd block's fields of one set.
#define WINOGRAD(set)                                                                                                  \
    .winograd2_input = resin_winograd2_input_##set, .winograd2_output = resin_winograd2_output_##set,                 \
    .winograd4_input = resin_winograd4_input_##set, .winograd4_output = resin_winograd4_output_##set,         \
    .winograd2s2_input = resin_winograd2s2_input_##set, .winograd2s2_output = resin_winograd2s2_output_##set,   \
    .winograd_product = resin_winograd_product_##set
// The small operators' fields of one set.
#define SMALL_OPS(set) .maxpool = resin_maxpool_##set, .row_gemm = resin_row_gemm_##set
// The im2col block's field of one set.
#define IM2COL(set) .im2col = resin_im2col_##set
// The direct convolution of few channels' field of one set.
#define DIRECT_CONV(set) .direct_conv = resin_direct_conv_##set
static const struct resin_kernel_table tables[RESIN_ISA_COUNT] = {
    RESIN_TABLE(RESIN_ISA_PORTABLE, portable),
#if defined(__x86_64__)
    RESIN_TABLE(RESIN_ISA_AVX2, avx2),
    RESIN_TABLE(RESIN_ISA_AVX512, avx512),
#else
    // Not built here; resin_isa_supported_mask never offers them.
    RESIN_TABLE(RESIN_ISA_AVX2, portable),
    RESIN_TABLE(RESIN_ISA_AVX512, portable),
#endif
};

static const char *const names[RESIN_ISA_COUNT] = {"portable", "avx2", "avx512"};

unsigned resin_isa_supported_mask(void) {
    unsigned mask = 1u << RESIN_ISA_PORTABLE;
#if defined(__x86_64__)
    // __builtin_cpu_supports also checks that the operating system saves the wider registers (XGETBV).
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) mask |= 1u << RESIN_ISA_AVX2;
    if (__builtin_cpu_supports("avx512f") && (mask & (1u << RESIN_ISA_AVX2))) mask |= 1u << RESIN_ISA_AVX512;
#endif
    return mask;
}

enum resin_isa_status resin_isa_choose(const char *requested, unsigned supported_mask, enum resin_isa *chosen) {
    if (requested == NULL || requested[0] == '\0') {
        enum resin_isa best = RESIN_ISA_PORTABLE;
        for (int isa = 0; isa < RESIN_ISA_COUNT; isa++) {
            if (supported_mask & (1u << isa)) best = (enum resin_isa)isa;
        }
        *chosen = best;
        return RESIN_ISA_OK;
    }
    for (int isa = 0; isa < RESIN_ISA_COUNT; isa++) {
        if (strcmp(requested, names[isa]) != 0) continue;
        if (!(supported_mask & (1u << isa))) return RESIN_ISA_UNSUPPORTED;
        *chosen = (enum resin_isa)isa;
        return RESIN_ISA_OK;
    }
    return RESIN_ISA_UNKNOWN;
}

const char *resin_isa_name(enum resin_isa isa) {
    return (unsigned)isa < RESIN_ISA_COUNT ? names[isa] : "unknown";
}

static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;
static const struct resin_kernel_table *active;
static enum resin_isa_status request_status;

static void choose_active(void) {
    unsigned mask = resin_isa_supported_mask();
    enum resin_isa isa = RESIN_ISA_PORTABLE;
    request_status = resin_isa_choose(getenv("RESIN_ISA"), mask, &isa);
    if (request_status != RESIN_ISA_OK) resin_isa_choose(NULL, mask, &isa);
    active = &tables[isa];
}

const struct resin_kernel_table *resin_kernels(void) {
    pthread_once(&chosen_once, choose_active);
    return active;
}

enum resin_isa_status resin_isa_request_status(void) {
    pthread_once(&chosen_once, choose_active);
    return request_status;
}

const struct resin_kernel_table *resin_kernels_for(enum resin_isa isa) {
    if ((unsigned)isa >= RESIN_ISA_COUNT || !(resin_isa_supported_mask() & (1u << isa))) abort();
    return &tables[isa];
}

static pthread_once_t name_once = PTHREAD_ONCE_INIT;
static char processor_name[49];

static void read_processor_name(void) {
#if defined(__x86_64__)
    unsigned words[12];
    unsigned highest = __get_cpuid_max(0x80000000u, NULL);
    if (highest < 0x80000004u) return;
    for (unsigned leaf = 0; leaf < 3; leaf++) {
        __get_cpuid(0x80000002u + leaf, &words[4 * leaf], &words[4 * leaf + 1], &words[4 * leaf + 2], &words[4 * leaf + 3]);
    }
    memcpy(processor_name, words, 48);
    processor_name[48] = '\0';
    // The brand string is padded with spaces on either side.
    size_t start = 0;
    while (processor_name[start] == ' ') start++;
    memmove(processor_name, processor_name + start, 49 - start);
    size_t end = strlen(processor_name);
    while (end > 0 && processor_name[end - 1] == ' ') processor_name[--end] = '\0';
#endif
}

const char *resin_processor_name(void) {
    pthread_once(&name_once, read_processor_name);
    return processor_name;
}
