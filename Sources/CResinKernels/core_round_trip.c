// How long a cache line takes to go from one core to another and back, for tools/bench-kernels: two threads
// hand a counter back and forth, each waiting for the other's increment, so every increment moves the line
// to the other core. Threads splitting one layer hand each other their outputs the same way (the next layer
// reads what the other core wrote, and a core writing a line the other core has read must first take it
// back), so when this round trip is long those hand-overs, not the FMA peak, limit them. On this project's
// 2-core KVM guest (AMD EPYC Zen 5) it measured about 50 ns at some times and 330 to 370 at others, for
// minutes each (as if the host moved the guest's cores between core complexes, which share no L3 cache):
// ResNet-50 on 2 threads ran 14.1 to 14.4 ms in the first state and 16.6 to 17.5 in the second, on one
// thread 27.0 to 27.3 in both (Docs/PERFORMANCE.md, "Two threads and the distance between the cores").

#include "resin_kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

struct round_trip {
    // Odd: the measuring thread's turn has passed the counter over; even: the answer came back. -1: stop.
    _Atomic long turn;
};

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *answer(void *context) {
    struct round_trip *trip = context;
    for (;;) {
        long turn = atomic_load_explicit(&trip->turn, memory_order_acquire);
        if (turn < 0) return NULL;
        if (turn & 1) {
            atomic_store_explicit(&trip->turn, turn + 1, memory_order_release);
        } else {
            resin_spin_pause();
        }
    }
}

double resin_core_round_trip_ns(long iterations, double seconds) {
    if (iterations <= 0 || seconds <= 0) return -1;
    struct round_trip trip;
    atomic_init(&trip.turn, 0);
    pthread_t thread;
    if (pthread_create(&thread, NULL, answer, &trip) != 0) return -1;
    // Wait for the other thread to run before timing: its first answer.
    atomic_store_explicit(&trip.turn, 1, memory_order_release);
    while (atomic_load_explicit(&trip.turn, memory_order_acquire) != 2) resin_spin_pause();
    const double start = now_seconds(), deadline = start + seconds;
    long done = 0;
    while (done < iterations) {
        const long sent = 2 * done + 3;
        atomic_store_explicit(&trip.turn, sent, memory_order_release);
        while (atomic_load_explicit(&trip.turn, memory_order_acquire) != sent + 1) resin_spin_pause();
        done++;
        // Two threads sharing one core take a scheduler time slice per hand-over: stop at the deadline.
        if ((done & 63) == 0 && now_seconds() > deadline) break;
    }
    const double elapsed = now_seconds() - start;
    atomic_store_explicit(&trip.turn, -1, memory_order_release);
    pthread_join(thread, NULL);
    return elapsed * 1e9 / (double)done;
}

// The probe a session runs on its own two pool threads before each inference (WorkerPool.probeCoreDistance):
// the same hand-over, a few round trips timed in batches, the fastest batch's mean kept, so one preemption
// does not read as distance. Both roles give up when the other stops answering for `timeout_seconds` (the
// pool may run both tasks on one thread, one after the other), so the probe never hangs.
// Waits until `turn` holds `expected` (1) or a stop (-1, 0), or until `deadline` (0).
static int wait_for(_Atomic long *turn, long expected, double deadline) {
    for (long spins = 1;; spins++) {
        const long value = atomic_load_explicit(turn, memory_order_acquire);
        if (value == expected || value < 0) return value == expected;
        resin_spin_pause();
        if ((spins & 63) == 0 && now_seconds() > deadline) return 0;
    }
}

void resin_core_probe_task(struct resin_core_probe *probe, long role, double timeout_seconds) {
    _Atomic long *turn = (_Atomic long *)&probe->turn;
    if (role != 0) {
        // The answering side: turns every odd value into the next even one, until told to stop or left waiting.
        for (long expected = 1;; expected += 2) {
            if (!wait_for(turn, expected, now_seconds() + timeout_seconds)) return;
            long odd = expected;
            if (!atomic_compare_exchange_strong_explicit(turn, &odd, expected + 1, memory_order_acq_rel, memory_order_acquire)) return;
        }
    }
    probe->nanoseconds = -1;
    // The first hand-over waits for the other side to start.
    atomic_store_explicit(turn, 1, memory_order_release);
    if (!wait_for(turn, 2, now_seconds() + timeout_seconds)) {
        atomic_store_explicit(turn, -1, memory_order_release);
        return;
    }
    long sent = 1;
    double fastest = -1;
    for (int batch = 0; batch < RESIN_CORE_PROBE_BATCHES; batch++) {
        const double start = now_seconds();
        for (int trip = 0; trip < RESIN_CORE_PROBE_TRIPS; trip++) {
            sent += 2;
            atomic_store_explicit(turn, sent, memory_order_release);
            if (!wait_for(turn, sent + 1, start + timeout_seconds)) {
                atomic_store_explicit(turn, -1, memory_order_release);
                return;
            }
        }
        const double mean = (now_seconds() - start) * 1e9 / RESIN_CORE_PROBE_TRIPS;
        if (fastest < 0 || mean < fastest) fastest = mean;
    }
    atomic_store_explicit(turn, -1, memory_order_release);
    probe->nanoseconds = fastest;
}
