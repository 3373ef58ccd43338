// Counts heap allocations by interposing the allocator: the test executable defines malloc and friends,
// which the dynamic linker then binds for every library in the process, and forwards them to glibc's own
// entry points.
//
// A session runs on several threads (its worker pool), so the count must include threads other than
// the caller; but the test runner runs other tests in parallel, whose allocations must not be counted.
// Threads therefore belong to groups: a test joins a fresh group, every thread it starts afterwards
// (pthread_create is interposed too, so a session's pool threads included) inherits it, and while
// counting is armed every allocation on any thread of the armed group increments one process-wide
// atomic counter. Arming is serialized by a mutex, so two counting tests never share the counter.
//
// Under a sanitizer (thread or address), whose runtime intercepts malloc and pthread_create itself, nothing
// is interposed: counting is unavailable (resin_allocation_counting_available() is 0) and the allocation
// checks are skipped by the tests that make them.
#define _GNU_SOURCE
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define RESIN_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define RESIN_SANITIZED 1
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include "CAllocationCounter.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

/// The calling thread's group; 0 for threads no test enrolled.
static __thread unsigned long thread_group;
static atomic_ulong next_group = 1;
/// The group being counted; 0 while nothing is.
static atomic_ulong armed_group;
static atomic_long allocations;
static pthread_mutex_t arming = PTHREAD_MUTEX_INITIALIZER;

#ifdef RESIN_SANITIZED

int resin_allocation_counting_available(void) { return 0; }
void resin_allocation_group_join(void) {}
void resin_allocation_group_leave(void) {}
void resin_allocation_counting_begin(void) {}
long resin_allocation_counting_end(void) { return -1; }

#else

int resin_allocation_counting_available(void) { return 1; }

void resin_allocation_group_join(void) {
    thread_group = atomic_fetch_add(&next_group, 1);
}

void resin_allocation_group_leave(void) {
    thread_group = 0;
}

void resin_allocation_counting_begin(void) {
    if (thread_group == 0) resin_allocation_group_join();
    pthread_mutex_lock(&arming);
    atomic_store(&allocations, 0);
    atomic_store(&armed_group, thread_group);
}

long resin_allocation_counting_end(void) {
    atomic_store(&armed_group, 0);
    long count = atomic_load(&allocations);
    pthread_mutex_unlock(&arming);
    return count;
}

static inline void count(void) {
    unsigned long group = thread_group;
    if (group != 0 && group == atomic_load_explicit(&armed_group, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    }
}

void *malloc(size_t size) {
    count();
    return __libc_malloc(size);
}

void *calloc(size_t number, size_t size) {
    count();
    return __libc_calloc(number, size);
}

void *realloc(void *pointer, size_t size) {
    count();
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    __libc_free(pointer);
}

void *memalign(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    count();
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *result = pointer;
    return 0;
}

/// What a started thread needs to join its creator's group before it runs.
struct start {
    void *(*routine)(void *);
    void *argument;
    unsigned long group;
};

static void *start_in_group(void *raw) {
    struct start start = *(struct start *)raw;
    __libc_free(raw);
    thread_group = start.group;
    return start.routine(start.argument);
}

typedef int (*create_function)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int pthread_create(pthread_t *thread, const pthread_attr_t *attributes, void *(*routine)(void *), void *argument) {
    static _Atomic(create_function) real;
    create_function create = atomic_load(&real);
    if (create == NULL) {
        create = (create_function)dlsym(RTLD_NEXT, "pthread_create");
        atomic_store(&real, create);
    }
    if (thread_group == 0) return create(thread, attributes, routine, argument);
    // The start record is the runtime's own allocation, not the test's: it bypasses the count.
    struct start *start = __libc_malloc(sizeof *start);
    if (start == NULL) return EAGAIN;
    start->routine = routine;
    start->argument = argument;
    start->group = thread_group;
    int result = create(thread, attributes, start_in_group, start);
    if (result != 0) __libc_free(start);
    return result;
}

#endif
