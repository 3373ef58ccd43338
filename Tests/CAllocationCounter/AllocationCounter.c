// Counts heap allocations per thread by interposing the allocator: the test executable defines malloc
// and friends, which the dynamic linker then binds for every library in the process, and forwards them
// to glibc's own entry points. Counting is per thread so that tests running in parallel on other
// threads do not disturb the count.
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include "CAllocationCounter.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

// Under address or thread sanitizer the sanitizer's own allocator must serve every call: interposing here
// would hand its blocks to glibc's free. The counter is then absent and reports -1, which no allocation
// test accepts (tools/sanitize skips those tests).
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RESIN_SANITIZED 1
#endif
#endif

static __thread int counting;
static __thread long allocations;

void resin_allocation_counting_begin(void) {
    allocations = 0;
    counting = 1;
}

long resin_allocation_counting_end(void) {
    counting = 0;
#ifdef RESIN_SANITIZED
    return -1;
#else
    return allocations;
#endif
}

#ifndef RESIN_SANITIZED

void *malloc(size_t size) {
    if (counting) allocations++;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    if (counting) allocations++;
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    if (counting) allocations++;
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    __libc_free(pointer);
}

void *memalign(size_t alignment, size_t size) {
    if (counting) allocations++;
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    if (counting) allocations++;
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (counting) allocations++;
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *result = pointer;
    return 0;
}
#endif
