/* limit.c: the physical limit of a thread handoff on this machine.
 *
 * Two OS threads hand a token back and forth, ROUND_TRIPS times, the way
 * bench/programs/pingpong.gva does through the VM's queues and GIL, but with
 * nothing in between but one synchronization primitive:
 *
 *   futex    the waiter sleeps in futex(FUTEX_WAIT) on the turn word; the other
 *            thread flips it and calls FUTEX_WAKE: one kernel wakeup per
 *            handoff, the least any blocking handoff can cost (Linux only).
 *   condvar  a pthread mutex and two condition variables, the textbook
 *            handoff and what a naive GIL does (CPython's is built on this).
 *   spin     both threads busy-wait on an atomic turn word: no kernel at all,
 *            the cost of moving a cache line between two cores. It needs two
 *            free cores; on a busy machine a spinner that waits too long calls
 *            sched_yield() so the run cannot stall for a whole time slice.
 *
 * Every GIL figure in bench/ stands beside these: a GIL switch cannot beat
 * `futex` for a blocked thread, nor `spin` for a spinning one.
 *
 *   limit MODE [ROUND_TRIPS]     (MODE: futex, condvar or spin; default 100000)
 *
 * Prints what pingpong.gva prints: `round_trips N`, `elapsed SECONDS` and
 * `samples [...]` (every round trip in seconds, timed by the first thread).
 *
 * A fourth mode is the floor of bench/programs/latency.gva (the convoy test):
 *
 *   limit wakeup CPU_THREADS [DURATION [TURN]]     (defaults: 2.0 s, 0.005 s)
 *
 *   wakeup   the main thread sleeps (clock_nanosleep) to deadlines 0.5-1.5 ms
 *            ahead, on latency.gva's schedule, and records how late it runs,
 *            while CPU_THREADS threads spin in turns of TURN seconds, one at a
 *            time, handing a token round with a condition variable: what
 *            CPU-bound threads under a GIL look like to the kernel, without
 *            a GIL. Whatever tail this shows, no GIL can remove: it is the
 *            kernel's placement of the woken thread (on a VM with two vCPUs
 *            the thread can wait behind the spinner on its core for a tick
 *            while the other core idles). Prints what latency.gva prints:
 *            `events N` and `samples [...]`.
 *
 * Standalone C11 + POSIX threads; it does not link gilvm. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#define HAVE_FUTEX 1
#else
#define HAVE_FUTEX 0
#endif

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* Spins this many times before a spinner yields its core (see above). */
#define SPIN_BEFORE_YIELD (1L << 16)

enum mode { MODE_FUTEX, MODE_CONDVAR, MODE_SPIN };

/* The token: 1 when it is the second thread's turn, 0 when the first's. */
static struct {
    enum mode mode;
    long n;
    _Atomic int turn;
    pthread_mutex_t mu;
    pthread_cond_t to_first, to_second;
} shared = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .to_first = PTHREAD_COND_INITIALIZER,
    .to_second = PTHREAD_COND_INITIALIZER,
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#if HAVE_FUTEX
static void futex_wait(_Atomic int *word, int expected) {
    /* Returns at once (EAGAIN) if *word != expected: no lost wakeup. */
    syscall(SYS_futex, (int *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic int *word) {
    syscall(SYS_futex, (int *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
#endif

/* Gives the token to the other side (`to` is the value that means its turn). */
static void give(int to) {
    switch (shared.mode) {
    case MODE_FUTEX:
#if HAVE_FUTEX
        atomic_store_explicit(&shared.turn, to, memory_order_release);
        futex_wake(&shared.turn);
#endif
        break;
    case MODE_CONDVAR:
        pthread_mutex_lock(&shared.mu);
        atomic_store_explicit(&shared.turn, to, memory_order_relaxed);
        pthread_cond_signal(to ? &shared.to_second : &shared.to_first);
        pthread_mutex_unlock(&shared.mu);
        break;
    case MODE_SPIN:
        atomic_store_explicit(&shared.turn, to, memory_order_release);
        break;
    }
}

/* Waits until the token is ours (`mine` is the value that means our turn). */
static void take(int mine) {
    switch (shared.mode) {
    case MODE_FUTEX:
#if HAVE_FUTEX
        for (;;) {
            int t = atomic_load_explicit(&shared.turn, memory_order_acquire);
            if (t == mine) break;
            futex_wait(&shared.turn, t);
        }
#endif
        break;
    case MODE_CONDVAR:
        pthread_mutex_lock(&shared.mu);
        while (atomic_load_explicit(&shared.turn, memory_order_relaxed) != mine)
            pthread_cond_wait(mine ? &shared.to_second : &shared.to_first, &shared.mu);
        pthread_mutex_unlock(&shared.mu);
        break;
    case MODE_SPIN: {
        long spins = 0;
        while (atomic_load_explicit(&shared.turn, memory_order_acquire) != mine) {
            CPU_RELAX();
            if (++spins == SPIN_BEFORE_YIELD) {
                sched_yield();
                spins = 0;
            }
        }
        break;
    }
    }
}

static void *second(void *arg) {
    (void)arg;
    for (long i = 0; i < shared.n; i++) {
        take(1);
        give(0);
    }
    return NULL;
}

static int usage(void) {
    fprintf(stderr, "usage: limit futex|condvar|spin [ROUND_TRIPS]\n"
                    "       limit wakeup CPU_THREADS [DURATION [TURN]]\n");
    return 2;
}

/* ---- wakeup: the floor of the convoy test ---- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t changed;
    int turn, threads;
    double turn_s;
    atomic_bool stop;
} spin_turns = {.mu = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

/* One CPU-bound thread: waits for its turn, spins for turn_s, passes on. */
static void *spin_in_turns(void *arg) {
    int me = (int)(intptr_t)arg;
    while (!atomic_load(&spin_turns.stop)) {
        pthread_mutex_lock(&spin_turns.mu);
        while (spin_turns.turn != me && !atomic_load(&spin_turns.stop))
            pthread_cond_wait(&spin_turns.changed, &spin_turns.mu);
        pthread_mutex_unlock(&spin_turns.mu);
        double end = now() + spin_turns.turn_s;
        while (now() < end && !atomic_load(&spin_turns.stop))
            CPU_RELAX();
        pthread_mutex_lock(&spin_turns.mu);
        spin_turns.turn = (me + 1) % spin_turns.threads;
        pthread_cond_broadcast(&spin_turns.changed);
        pthread_mutex_unlock(&spin_turns.mu);
    }
    return NULL;
}

static int parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return !errno && end != s && !*end && *out >= lo && *out <= hi;
}

static int wakeup_main(int argc, char **argv) {
    /* latency.gva's sleeps, in the same order */
    static const double periods[] = {0.0005, 0.0011, 0.0007, 0.0014, 0.0009, 0.0015,
                                     0.0006, 0.0010, 0.0013, 0.0008, 0.0012};
    const int nperiods = (int)(sizeof periods / sizeof periods[0]);
    double threads, duration = 2.0, turn = 0.005;
    if (argc < 3 || argc > 5 || !parse_double(argv[2], 0, 64, &threads) ||
        threads != (int)threads || (argc > 3 && !parse_double(argv[3], 0.001, 3600, &duration)) ||
        (argc > 4 && !parse_double(argv[4], 1e-6, 10, &turn)))
        return usage();
    spin_turns.threads = (int)threads;
    spin_turns.turn_s = turn;
    pthread_t t[64];
    for (int i = 0; i < spin_turns.threads; i++)
        if (pthread_create(&t[i], NULL, spin_in_turns, (void *)(intptr_t)i) != 0) {
            fprintf(stderr, "limit: cannot start a thread\n");
            return 1;
        }
    size_t cap = (size_t)(duration / periods[0]) + 1, n = 0;
    double *samples = malloc(cap * sizeof *samples);
    if (!samples) {
        fprintf(stderr, "limit: out of memory\n");
        return 1;
    }
    double end = now() + duration;
    for (int k = 0; now() < end && n < cap; k = (k + 1) % nperiods) {
        double deadline = now() + periods[k];
        struct timespec ts = {(time_t)deadline, (long)((deadline - (double)(time_t)deadline) * 1e9)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
        samples[n++] = now() - deadline;
    }
    atomic_store(&spin_turns.stop, true);
    pthread_mutex_lock(&spin_turns.mu);
    pthread_cond_broadcast(&spin_turns.changed);
    pthread_mutex_unlock(&spin_turns.mu);
    for (int i = 0; i < spin_turns.threads; i++) pthread_join(t[i], NULL);
    printf("events %zu\nsamples [", n);
    for (size_t i = 0; i < n; i++) printf(i ? ", %.6g" : "%.6g", samples[i]);
    printf("]\n");
    free(samples);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "wakeup") == 0) return wakeup_main(argc, argv);
    if (argc < 2 || argc > 3) return usage();
    if (strcmp(argv[1], "futex") == 0) shared.mode = MODE_FUTEX;
    else if (strcmp(argv[1], "condvar") == 0) shared.mode = MODE_CONDVAR;
    else if (strcmp(argv[1], "spin") == 0) shared.mode = MODE_SPIN;
    else return usage();
    shared.n = 100000;
    if (argc == 3) {
        char *end;
        errno = 0;
        shared.n = strtol(argv[2], &end, 10);
        if (errno || *end || shared.n < 1) return usage();
    }
    if (shared.mode == MODE_FUTEX && !HAVE_FUTEX) {
        /* bench/run reads this line as a skip, not a failure. */
        printf("skipped: futex is Linux-only\n");
        return 0;
    }

    double *samples = malloc((size_t)shared.n * sizeof *samples);
    if (!samples) {
        fprintf(stderr, "limit: out of memory\n");
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, second, NULL) != 0) {
        fprintf(stderr, "limit: cannot start a thread\n");
        return 1;
    }
    double start = now();
    for (long i = 0; i < shared.n; i++) {
        double t0 = now();
        give(1);
        take(0);
        samples[i] = now() - t0;
    }
    double elapsed = now() - start;
    pthread_join(t, NULL);

    printf("round_trips %ld\nelapsed %.9g\nsamples [", shared.n, elapsed);
    for (long i = 0; i < shared.n; i++) printf(i ? ", %.6g" : "%.6g", samples[i]);
    printf("]\n");
    free(samples);
    return 0;
}
