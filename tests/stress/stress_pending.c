/* Pending calls from raw pthreads (no thread state, no GIL).
 *
 * Part 1, the full queue: while the main thread holds the GIL and runs no
 * bytecode (so nothing drains the queue), a raw pthread adds calls until the
 * queue refuses: exactly GV_PENDING_CALLS_MAX are accepted, and every later
 * add returns -1 at once (the main thread is blocked in pthread_join holding
 * the GIL: an add that waited for the GIL would hang, and the watchdog fail
 * the test). Then Gv_MakePendingCalls runs each accepted call once.
 *
 * Part 2, the hammer: PRODUCERS raw pthreads each try ATTEMPTS adds, half to
 * the main thread (Gv_AddPendingCall) and half to a VM worker thread
 * (Gv_AddPendingCallToThread), while both run bytecode (loops, sleeps, queue
 * waits). Every attempt has its own slot: accepted or not, and how many
 * times it ran, on which thread, with the GIL or not. At the end: every
 * accepted call ran exactly once, on its target thread, with the GIL; no
 * refused call ran; and no add took long (it never blocks). */
#include "gvtest.h"

#include <sched.h>
#include <stdatomic.h>

#define PRODUCERS 4

static const char *SRC =
    /* work(n): n iterations of a loop (a checkpoint each), with a short
     * sleep and an empty-queue wait every 256: pending calls run at
     * checkpoints and during waits. */
    ".func work n q\n.local i\n"
    " LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE out\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n"
    " LOAD_FAST i\n LOAD_CONST 256\n BINARY_MOD\n LOAD_CONST 0\n COMPARE_EQ\n POP_JUMP_IF_FALSE top\n"
    " LOAD_GLOBAL sleep\n LOAD_CONST 0.00005\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL queue_get\n LOAD_FAST q\n LOAD_CONST 0.00005\n CALL 2\n POP_TOP\n"
    " JUMP top\n"
    "out:\n LOAD_FAST i\n RETURN_VALUE\n.end\n"
    /* vworker(q): work until the global STOP is true; returns its rounds */
    ".func vworker q\n.local rounds\n"
    " LOAD_CONST 0\n STORE_FAST rounds\n"
    "top:\n LOAD_GLOBAL STOP\n POP_JUMP_IF_TRUE out\n"
    " LOAD_GLOBAL work\n LOAD_CONST 1000\n LOAD_FAST q\n CALL 2\n POP_TOP\n"
    " LOAD_FAST rounds\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST rounds\n JUMP top\n"
    "out:\n LOAD_FAST rounds\n RETURN_VALUE\n.end\n"
    ".func start_worker q\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL vworker\n LOAD_FAST q\n CALL 2\n RETURN_VALUE\n.end\n"
    ".func tid h\n LOAD_GLOBAL thread_id\n LOAD_FAST h\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func join h\n LOAD_GLOBAL thread_join\n LOAD_FAST h\n CALL 1\n RETURN_VALUE\n.end\n";

typedef struct Slot {
    _Atomic int accepted; /* set by the producer after the add returned 0 */
    _Atomic int runs;
    _Atomic int bad_thread; /* ran on another thread than its target */
    _Atomic int no_gil;
    unsigned long target; /* 0: the main thread */
} Slot;

static unsigned long main_id, worker_id;

static int run_slot(void *arg) {
    Slot *s = arg;
    atomic_fetch_add(&s->runs, 1);
    GvThreadState *ts = GvThreadState_Get();
    unsigned long want = s->target ? s->target : main_id;
    if (!ts || GvThreadState_GetID(ts) != want) atomic_fetch_add(&s->bad_thread, 1);
    if (!GvGILState_Check()) atomic_fetch_add(&s->no_gil, 1);
    return 0;
}

/* ---- part 1 ---- */

typedef struct Fill {
    Slot slots[GV_PENDING_CALLS_MAX + 1000];
    int accepted, refused_after_full;
    double slowest;
} Fill;

static void *fill_main(void *p) {
    Fill *f = p;
    int n = (int)(sizeof f->slots / sizeof f->slots[0]);
    for (int i = 0; i < n; i++) {
        double t0 = gvt_now();
        int rc = Gv_AddPendingCall(run_slot, &f->slots[i]);
        double took = gvt_now() - t0;
        if (took > f->slowest) f->slowest = took;
        if (rc == 0) {
            atomic_store(&f->slots[i].accepted, 1);
            f->accepted++;
        } else if (f->accepted == GV_PENDING_CALLS_MAX) {
            f->refused_after_full++;
        }
    }
    return NULL;
}

static void part1_full_queue(void) {
    static Fill f;
    memset(&f, 0, sizeof f);
    pthread_t t;
    gvt_watchdog_arm(30, "filling the pending-call queue while main holds the GIL");
    t = gvt_start_thread(fill_main, &f);
    pthread_join(t, NULL); /* holding the GIL on purpose */
    gvt_watchdog_disarm();
    int n = (int)(sizeof f.slots / sizeof f.slots[0]);
    GVT_CHECK(f.accepted == GV_PENDING_CALLS_MAX, "full queue: %d accepted, expected %d", f.accepted,
              GV_PENDING_CALLS_MAX);
    GVT_CHECK(f.refused_after_full == n - GV_PENDING_CALLS_MAX, "full queue: %d refused, expected %d",
              f.refused_after_full, n - GV_PENDING_CALLS_MAX);
    GVT_CHECK(f.slowest < 1.0, "an add to the full queue took %.3f s (it must never block)", f.slowest);
    GVT_CHECK(Gv_MakePendingCalls() == 0, "Gv_MakePendingCalls failed");
    for (int i = 0; i < n; i++) {
        int want = atomic_load(&f.slots[i].accepted);
        GVT_CHECK(atomic_load(&f.slots[i].runs) == want, "full queue: slot %d (accepted %d) ran %d times", i,
                  want, atomic_load(&f.slots[i].runs));
        GVT_CHECK(!atomic_load(&f.slots[i].bad_thread) && !atomic_load(&f.slots[i].no_gil),
                  "full queue: slot %d ran on the wrong thread or without the GIL", i);
    }
    printf("FIGURES stress_pending/full_queue: capacity %d attempts %d accepted %d refused %d slowest_add_us %.1f\n",
           GV_PENDING_CALLS_MAX, n, f.accepted, f.refused_after_full, f.slowest * 1e6);
}

/* ---- part 2 ---- */

static long attempts;
static Slot *slots;               /* PRODUCERS * attempts */
static _Atomic long accepted_total, refused_total;
static _Atomic int producers_done;
static double slowest_add[PRODUCERS];

static void *producer_main(void *p) {
    long me = (long)(intptr_t)p;
    Slot *mine = slots + me * attempts;
    unsigned r = (unsigned)me * 2654435761u + 1;
    for (long i = 0; i < attempts; i++) {
        Slot *s = &mine[i];
        r = r * 1103515245u + 12345u;
        s->target = (r >> 16) & 1 ? worker_id : 0;
        double t0 = gvt_now();
        int rc = s->target ? Gv_AddPendingCallToThread(s->target, run_slot, s) : Gv_AddPendingCall(run_slot, s);
        double took = gvt_now() - t0;
        if (took > slowest_add[me]) slowest_add[me] = took;
        if (rc == 0) {
            atomic_store(&s->accepted, 1);
            atomic_fetch_add(&accepted_total, 1);
        } else {
            atomic_fetch_add(&refused_total, 1);
            if ((r >> 8) % 4 == 0) sched_yield(); /* let the queue drain now and then */
        }
    }
    atomic_fetch_add(&producers_done, 1);
    return NULL;
}

static long total_runs(void) {
    long n = 0;
    for (long i = 0; i < PRODUCERS * attempts; i++) n += atomic_load(&slots[i].runs);
    return n;
}

static void part2_hammer(void) {
    attempts = gvt_scaled(150000, 500);
    slots = calloc((size_t)(PRODUCERS * attempts), sizeof *slots);
    GVT_CHECK(slots != NULL, "out of memory");
    GvValue q = gvt_call_ok("queue_new_", 0, NULL);
    gvt_set_global("STOP", gv_bool(false));
    GvValue h = gvt_call_ok("start_worker", 1, &q);
    worker_id = (unsigned long)gvt_call_int("tid", 1, &h);
    main_id = GvThreadState_GetID(GvThreadState_Get());

    double t0 = gvt_now();
    gvt_watchdog_arm(120 / gvt_stress_scale() > 600 ? 600 : 120, "pending-call hammer");
    pthread_t t[PRODUCERS];
    for (long i = 0; i < PRODUCERS; i++)
        t[i] = gvt_start_thread(producer_main, (void *)(intptr_t)i);
    long main_rounds = 0;
    GvValue args[2] = {gv_int(2000), q};
    while (atomic_load(&producers_done) < PRODUCERS) {
        gv_vdecref(gvt_call_ok("work", 2, args));
        main_rounds++;
    }
    /* Every accepted call must now run: keep both threads running until
     * they have (bounded: the watchdog). */
    double drain0 = gvt_now();
    while (total_runs() < atomic_load(&accepted_total)) {
        gv_vdecref(gvt_call_ok("work", 2, args));
        main_rounds++;
        GVT_CHECK(gvt_now() - drain0 < 30, "accepted calls never ran: %ld accepted, %ld ran",
                  atomic_load(&accepted_total), total_runs());
    }
    gvt_set_global("STOP", gv_bool(true));
    int64_t worker_rounds = gvt_call_int("join", 1, &h);
    for (long i = 0; i < PRODUCERS; i++) pthread_join(t[i], NULL);
    /* Nothing may be left to run now, nothing may run twice. */
    GVT_CHECK(Gv_MakePendingCalls() == 0, "Gv_MakePendingCalls failed");
    gvt_watchdog_disarm();
    double took = gvt_now() - t0;

    long runs = 0, to_worker = 0, worst = 0;
    double slowest = 0;
    for (long i = 0; i < PRODUCERS * attempts; i++) {
        Slot *s = &slots[i];
        int a = atomic_load(&s->accepted), n = atomic_load(&s->runs);
        GVT_CHECK(n == a, "slot %ld (producer %ld, target %lu, accepted %d) ran %d times", i, i / attempts,
                  s->target, a, n);
        GVT_CHECK(!atomic_load(&s->bad_thread), "slot %ld ran on another thread than its target %lu", i, s->target);
        GVT_CHECK(!atomic_load(&s->no_gil), "slot %ld ran without the GIL", i);
        runs += n;
        if (a && s->target) to_worker++;
        if (n > worst) worst = n;
    }
    for (int i = 0; i < PRODUCERS; i++)
        if (slowest_add[i] > slowest) slowest = slowest_add[i];
    GVT_CHECK(runs == atomic_load(&accepted_total), "accepted %ld, ran %ld", atomic_load(&accepted_total), runs);
    GVT_CHECK(atomic_load(&accepted_total) + atomic_load(&refused_total) == PRODUCERS * attempts,
              "attempts do not add up");
    GVT_CHECK(atomic_load(&accepted_total) > 0, "no call was ever accepted");
    /* Generous: an add takes a mutex or two, it never waits for the GIL. */
    GVT_CHECK(slowest < 1.0, "an add took %.3f s: it must not block", slowest);
    printf("FIGURES stress_pending/hammer: producers %d attempts %ld accepted %ld (to_worker %ld) refused %ld "
           "ran %ld max_runs_per_call %ld main_rounds %ld worker_rounds %lld slowest_add_us %.1f seconds %.2f\n",
           PRODUCERS, PRODUCERS * attempts, atomic_load(&accepted_total), to_worker, atomic_load(&refused_total),
           runs, worst, main_rounds, (long long)worker_rounds, slowest * 1e6, took);
    gv_vdecref(h);
    gv_vdecref(q);
    free(slots);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    GVT_CHECK(Gv_Initialize() != NULL, "Gv_Initialize failed");
    gvt_load(SRC);
    gvt_load(".func queue_new_\n LOAD_GLOBAL queue_new\n CALL 0\n RETURN_VALUE\n.end\n");
    main_id = GvThreadState_GetID(GvThreadState_Get());
    part1_full_queue();
    part2_hammer();
    Gv_Finalize();
    printf("stress_pending: OK\n");
    return 0;
}
