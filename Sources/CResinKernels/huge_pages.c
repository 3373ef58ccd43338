// Moving a read-only file mapping's whole 2 MiB pieces onto anonymous transparent huge pages, in place: each
// piece is copied into a fresh huge page, made read-only and moved over the file's pages with mremap, so every
// pointer into the mapping stays valid and reads before, during and after the move see the same bytes.
//
// Why: a native file's weights are read straight from its mapping, and on a 2-core KVM guest (AMD EPYC Zen 4,
// Linux 6.18, 2026-12-02) a cold 8 MiB read ran 17.4 to 17.8 GB/s from the page cache's 4 KiB pages against
// 33 to 34 GB/s from anonymous huge pages (best of 60, caches flushed between). ResNet-50 from a .resin whose
// bytes sat on huge pages ran 0.95 (1 thread) and 0.96 (2 threads) of the time from the mapping. The page
// cache cannot hold huge pages of an ext4 file there (MADV_COLLAPSE: EINVAL), so the bytes are copied; copying
// all of them at load took 130 to 180 ms where a load takes 7, hence a thread of the session's after its first run.
#define _GNU_SOURCE  // mremap, before any header
#include "resin_kernels.h"

#if defined(__linux__)
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE (2L << 20)

// Whether the kernel gives huge pages to a region that asks (`[always]` or `[madvise]`), and RESIN_HUGE_PAGES
// is not "off". Read with open/read, not stdio: the thread this runs on allocates nothing.
static int huge_pages_available(void) {
    const char *setting = getenv("RESIN_HUGE_PAGES");
    if (setting && strcmp(setting, "off") == 0) return 0;
    int descriptor = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) return 0;
    char text[128];
    ssize_t length = read(descriptor, text, sizeof text - 1);
    close(descriptor);
    if (length <= 0) return 0;
    text[length] = '\0';
    return strstr(text, "[always]") != NULL || strstr(text, "[madvise]") != NULL;
}

// Whether this process has any page of the piece at `piece` mapped (/proc/self/pagemap's present bit, open
// as `pagemap`; every piece counts as touched when it could not be opened): pieces no run read stay unmapped,
// as they were, instead of becoming memory the process holds.
static int piece_touched(int pagemap, const char *piece) {
    if (pagemap < 0) return 1;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || HUGE_PAGE % page != 0) return 1;
    uint64_t entries[512];
    long pages = HUGE_PAGE / page;
    for (long first = 0; first < pages; first += 512) {
        long count = pages - first < 512 ? pages - first : 512;
        off_t at = (off_t)(((uintptr_t)piece / (uintptr_t)page + (uintptr_t)first) * sizeof(uint64_t));
        if (pread(pagemap, entries, (size_t)count * sizeof(uint64_t), at) != (ssize_t)(count * sizeof(uint64_t))) return 1;
        for (long i = 0; i < count; i++) {
            if (entries[i] >> 63) return 1;
        }
    }
    return 0;
}

long resin_move_to_huge_pages(const void *base, size_t bytes) {
    if (((uintptr_t)base & (HUGE_PAGE - 1)) != 0 || !huge_pages_available()) return 0;
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    long moved = 0;
    for (size_t offset = 0; offset + HUGE_PAGE <= bytes; offset += HUGE_PAGE) {
        char *target = (char *)base + offset;
        if (!piece_touched(pagemap, target)) continue;
        // Twice a huge page, so that an aligned one lies inside; the rest is returned at once.
        char *raw = mmap(NULL, 2 * HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) break;
        char *piece = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
        if (piece > raw) munmap(raw, (size_t)(piece - raw));
        if (raw + 2 * HUGE_PAGE > piece + HUGE_PAGE) munmap(piece + HUGE_PAGE, (size_t)(raw + 2 * HUGE_PAGE - (piece + HUGE_PAGE)));
        madvise(piece, HUGE_PAGE, MADV_HUGEPAGE);
        memcpy(piece, target, HUGE_PAGE);
        if (mprotect(piece, HUGE_PAGE, PROT_READ) != 0 ||
            mremap(piece, HUGE_PAGE, HUGE_PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target) == MAP_FAILED) {
            // The file's pages are still in place: nothing changed for this piece or the ones after it.
            munmap(piece, HUGE_PAGE);
            break;
        }
        moved++;
    }
    if (pagemap >= 0) close(pagemap);
    return moved;
}

#else
long resin_move_to_huge_pages(const void *base, size_t bytes) {
    (void)base;
    (void)bytes;
    return 0;
}

#endif
