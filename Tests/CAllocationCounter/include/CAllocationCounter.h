#ifndef RESIN_ALLOCATION_COUNTER_H
#define RESIN_ALLOCATION_COUNTER_H

/// Starts counting heap allocations made by the calling thread.
void resin_allocation_counting_begin(void);

/// Stops counting and returns how many allocations (malloc, calloc, realloc, aligned forms) the calling
/// thread made since the matching begin.
long resin_allocation_counting_end(void);

#endif
