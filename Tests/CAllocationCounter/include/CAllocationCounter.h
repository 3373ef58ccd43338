#ifndef RESIN_ALLOCATION_COUNTER_H
#define RESIN_ALLOCATION_COUNTER_H

/// 1 when allocations are counted; 0 in a sanitizer build, whose runtime owns malloc and pthread_create.
int resin_allocation_counting_available(void);

/// Puts the calling thread in a fresh group; threads it starts from now on (a session's worker pool,
/// say) join the same group. Call before making what is measured.
void resin_allocation_group_join(void);

/// Takes the calling thread out of its group; threads it starts afterwards belong to none.
void resin_allocation_group_leave(void);

/// Starts counting heap allocations made by every thread of the caller's group (joining a fresh group
/// first if the caller has none). Counting sections of different tests run one at a time.
void resin_allocation_counting_begin(void);

/// Stops counting and returns how many allocations (malloc, calloc, realloc, aligned forms) the group's
/// threads made since the matching begin (-1 when counting is unavailable).
long resin_allocation_counting_end(void);

#endif
