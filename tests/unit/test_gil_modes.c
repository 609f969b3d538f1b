/* The FIFO GIL modes (runtime/gil_priority.c, gil_spin.c, gil_adaptive.c): direct
 * handoff through two FIFO queues, a thread back from a blocking wait served
 * first, round robin among CPU-bound threads, the starvation bound, and the
 * spin telemetry.
 *
 * Nothing here asserts a duration. Where a test shows that a thread did not
 * wait for the switch interval, it sets the interval to 1000 s: a thread that
 * needed it would hang, and the watchdog (60 s) turns the hang into a failure
 * with a message. */
#include <sched.h>

#include "gvtest.h"

/* spin_until_stop(): spins in bytecode until the global `stop` is true and
 * returns how many times it went round. bump(i): counters[i] += 1. */
static const char *SRC =
    ".func spin_until_stop\n.local n\n"
    " LOAD_CONST 0\n STORE_FAST n\n"
    "top:\n LOAD_GLOBAL stop\n POP_JUMP_IF_TRUE done\n"
    " LOAD_FAST n\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST n\n JUMP top\n"
    "done:\n LOAD_FAST n\n RETURN_VALUE\n.end\n"
    ".func bump i\n"
    " LOAD_GLOBAL counters\n LOAD_FAST i\n LOAD_INDEX\n LOAD_CONST 1\n BINARY_ADD\n"
    " LOAD_GLOBAL counters\n LOAD_FAST i\n STORE_INDEX\n"
    " LOAD_CONST none\n RETURN_VALUE\n.end\n"
    ".func count i\n LOAD_GLOBAL counters\n LOAD_FAST i\n LOAD_INDEX\n RETURN_VALUE\n.end\n"
    ".func init\n LOAD_CONST 0\n BUILD_LIST 1\n STORE_GLOBAL counters\n LOAD_CONST none\n RETURN_VALUE\n.end\n"
    /* work(k): a short burst of bytecode (k loop iterations) */
    ".func work k\n"
    "top:\n LOAD_FAST k\n POP_JUMP_IF_FALSE done\n"
    " LOAD_FAST k\n LOAD_CONST 1\n BINARY_SUB\n STORE_FAST k\n JUMP top\n"
    "done:\n LOAD_CONST none\n RETURN_VALUE\n.end\n";

static int setup_mode(GvGILMode mode) {
    if (!Gv_Initialize()) return -1;
    return Gv_SetGILMode(mode);
}
static int setup_priority(void **state) {
    (void)state;
    return setup_mode(GV_GIL_PRIORITY);
}
static int setup_spin(void **state) {
    (void)state;
    return setup_mode(GV_GIL_PRIORITY_SPIN);
}
static int setup_adaptive(void **state) {
    (void)state;
    return setup_mode(GV_GIL_ADAPTIVE);
}

/* Lets the other threads run for about ms milliseconds. */
static void allow_threads_for(long ms) {
    Gv_BEGIN_ALLOW_THREADS
    gvt_msleep(ms);
    Gv_END_ALLOW_THREADS
}

static void start_spinners(GvtSpinner *sp, int n) {
    GvInterpreterState *interp = GvInterpreterState_Get();
    for (int i = 0; i < n; i++) {
        memset(&sp[i], 0, sizeof sp[i]);
        sp[i].ts = GvThreadState_New(interp);
        assert_non_null(sp[i].ts);
    }
    for (int i = 0; i < n; i++) sp[i].th = gvt_start_thread(gvt_spinner_main, &sp[i]);
}

/* Two CPU-bound threads under a 1000 s switch interval, so no turn ends by
 * the interval; the watchdog says `why` if the test hangs. */
static void start_two_spinners_without_intervals(GvtSpinner sp[2], const char *why) {
    gvt_load(SRC);
    gvt_set_global("stop", gv_bool(false));
    assert_int_equal(Gv_SetSwitchInterval(1000.0), 0);
    gvt_watchdog_arm(60, why);
    start_spinners(sp, 2);
}

static void stop_spinners(GvtSpinner *sp, int n) {
    gvt_set_global("stop", gv_bool(true));
    Gv_BEGIN_ALLOW_THREADS
    for (int i = 0; i < n; i++) pthread_join(sp[i].th, NULL);
    Gv_END_ALLOW_THREADS
}

/* The main thread comes back from a blocking wait (Gv_BEGIN/END_ALLOW_THREADS)
 * 20 times while two CPU-bound threads share the GIL. With a 1000 s switch
 * interval, only the priority path can give it the GIL back: it asks the
 * holder to drop at once instead of after an interval. */
static void check_back_from_wait_does_not_wait_for_the_interval(void) {
    GvtSpinner sp[2];
    start_two_spinners_without_intervals(sp, "a thread back from a wait needed the 1000 s switch interval");
    GvThreadState *me = GvThreadState_Get();
    GvGILStats before, after;
    GvThreadState_GetGILStats(me, &before);
    int rounds = (int)gvt_scale_tsan(20, 4);
    for (int i = 0; i < rounds; i++) allow_threads_for(1);
    GvThreadState_GetGILStats(me, &after);
    stop_spinners(sp, 2);
    gvt_watchdog_disarm();
    /* Each return took the GIL (no exit, no refusal) and asked for it. */
    assert_true(after.acquisitions - before.acquisitions >= (unsigned long long)rounds);
    assert_true(after.drop_requests - before.drop_requests >= 1);
    /* The spinners were forced to drop for main. They never asked for the
     * GIL after an interval (1000 s): each asked at most once, when its new
     * thread state first entered (an entering thread counts as coming back
     * from outside the VM). */
    unsigned long long forced = sp[0].stats.forced_drops + sp[1].stats.forced_drops;
    assert_true(forced >= 1);
    assert_true(sp[0].stats.drop_requests <= 1 && sp[1].stats.drop_requests <= 1);
}

static void test_priority_thread_back_from_wait_does_not_wait_for_the_interval(void **state) {
    (void)state;
    check_back_from_wait_does_not_wait_for_the_interval();
}

static void test_spin_thread_back_from_wait_does_not_wait_for_the_interval(void **state) {
    (void)state;
    check_back_from_wait_does_not_wait_for_the_interval();
}

/* An embedder's thread entering with GvGILState_Ensure (a new thread state)
 * counts as coming back from outside: it too is served first. */
typedef struct Enterer {
    int rounds;
    int entered;
} Enterer;

static void *enterer_main(void *p) {
    Enterer *e = p;
    for (int i = 0; i < e->rounds; i++) {
        GvGILState_STATE st = GvGILState_Ensure();
        GvValue arg = gv_int(0);
        gvt_call_ok("bump", 1, &arg);
        e->entered++;
        GvGILState_Release(st);
        gvt_msleep(1);
    }
    return NULL;
}

static void test_priority_gilstate_ensure_does_not_wait_for_the_interval(void **state) {
    (void)state;
    gvt_load(SRC);
    gvt_set_global("stop", gv_bool(false));
    gvt_call_ok("init", 0, NULL);
    assert_int_equal(Gv_SetSwitchInterval(1000.0), 0);
    GvtSpinner sp[2];
    gvt_watchdog_arm(60, "GvGILState_Ensure needed the 1000 s switch interval");
    start_spinners(sp, 2);
    Enterer e = {(int)gvt_scale_tsan(20, 4), 0};
    pthread_t th = gvt_start_thread(enterer_main, &e);
    gvt_join_releasing_gil(th);
    assert_int_equal(e.entered, e.rounds);
    GvValue arg = gv_int(0);
    assert_int_equal(gvt_call_int("count", 1, &arg), e.rounds);
    stop_spinners(sp, 2);
    gvt_watchdog_disarm();
}

/* Three CPU-bound threads and nobody else (main waits in pthread_join,
 * detached): the norm queue is FIFO and a forced dropper goes to its tail,
 * so they take turns A B C A B C... Their acquisition counts can then differ
 * by at most one turn (plus the stopper's visits when the window opens and at
 * the stop, which may each cost one spinner a turn). Classic mode gives no such
 * guarantee: whoever wins the race for the mutex gets the GIL. */
typedef struct Stopper {
    long ms;
    GvtSpinner *sp;
    GvGILStats start[3]; /* each spinner's counters once all three run */
} Stopper;

/* Counts turns only from the moment all three spinners have taken the GIL:
 * on a loaded machine one thread can start tens of milliseconds after the
 * others, which then take turns between themselves meanwhile (a start-up
 * skew, not a fairness failure). */
static void *stopper_main(void *p) {
    Stopper *s = p;
    for (int tries = 0;; tries++) {
        gvt_msleep(10);
        GvGILState_STATE st = GvGILState_Ensure();
        bool all = true;
        for (int i = 0; i < 3; i++) {
            GvThreadState_GetGILStats(s->sp[i].ts, &s->start[i]);
            all = all && s->start[i].acquisitions > 0;
        }
        GvGILState_Release(st);
        if (all || tries > 1000) break;
    }
    gvt_msleep(s->ms);
    GvGILState_STATE st = GvGILState_Ensure();
    gvt_set_global("stop", gv_bool(true));
    GvGILState_Release(st);
    return NULL;
}

static void check_round_robin(void) {
    gvt_load(SRC);
    gvt_set_global("stop", gv_bool(false));
    assert_int_equal(Gv_SetSwitchInterval(0.0005), 0);
    GvtSpinner sp[3];
    gvt_watchdog_arm(60, "round robin");
    start_spinners(sp, 3);
    Stopper s = {.ms = gvt_scale_tsan(300, 1), .sp = sp};
    pthread_t th = gvt_start_thread(stopper_main, &s);
    Gv_BEGIN_ALLOW_THREADS
    pthread_join(th, NULL);
    for (int i = 0; i < 3; i++) pthread_join(sp[i].th, NULL);
    Gv_END_ALLOW_THREADS
    gvt_watchdog_disarm();
    unsigned long long lo = ~0ull, hi = 0;
    for (int i = 0; i < 3; i++) {
        GvGILStats *st = &sp[i].stats;
        assert_true(s.start[i].acquisitions > 0); /* all three ran before the window */
        unsigned long long turns = st->acquisitions - s.start[i].acquisitions;
        print_message("spinner %d: %llu acquisitions (%llu in the window), %llu switches, %llu forced, %llu requests\n",
                      i, st->acquisitions, turns, st->switches, st->forced_drops, st->drop_requests);
        if (turns < lo) lo = turns;
        if (turns > hi) hi = turns;
        /* Never took it straight back: every take was a switch. */
        assert_int_equal(st->acquisitions, st->switches);
        assert_true(sp[i].iterations > 0);
    }
    /* Enough turns to tell round robin from luck. */
    if (lo < 5) fail_msg("a spinner got only %llu turns in %ld ms", lo, s.ms);
    if (hi - lo > 3) fail_msg("turns differ by %llu: not round robin", hi - lo);
}

static void test_priority_cpu_bound_threads_take_turns(void **state) {
    (void)state;
    check_round_robin();
}

static void test_spin_cpu_bound_threads_take_turns(void **state) {
    (void)state;
    check_round_robin();
}

/* Who goes first when the holder drops, with the queues set up by hand: the
 * main thread holds the GIL in C code (it never reaches an eval-breaker
 * check, so it drops only when it chooses to) while one thread waits in the
 * normal queue (a CPU-bound thread forced to drop waits there; here a thread
 * state told so by hand) and K threads entering through GvGILState_Ensure
 * wait in the priority queue. Each notes the GIL's switch number as soon as
 * it holds the GIL, before running anything: the order of the handoffs. */
typedef struct Entrant {
    bool norm;
    GvThreadState *ts; /* norm: its own thread state */
    uint64_t switch_number;
} Entrant;

static uint64_t switch_number(void) {
    GvGIL *gil = GvInterpreterState_Get()->gil;
    pthread_mutex_lock(&gil->mutex);
    uint64_t n = gil->switch_number;
    pthread_mutex_unlock(&gil->mutex);
    return n;
}

static void *entrant_main(void *p) {
    Entrant *e = p;
    if (e->norm) {
        GvEval_AcquireThread(e->ts);
        e->switch_number = switch_number();
        GvThreadState_Clear(e->ts);
        GvThreadState_DeleteCurrent();
    } else {
        GvGILState_STATE st = GvGILState_Ensure();
        e->switch_number = switch_number();
        GvGILState_Release(st);
    }
    return NULL;
}

typedef struct Queues {
    int prio, norm;
    bool norm_head_starving;
} Queues;

static Queues queues(void) {
    GvGIL *gil = GvInterpreterState_Get()->gil;
    Queues q = {0, 0, false};
    pthread_mutex_lock(&gil->mutex);
    for (GvThreadState *t = gil->prio_head; t; t = t->gil_next) q.prio++;
    for (GvThreadState *t = gil->norm_head; t; t = t->gil_next) q.norm++;
    q.norm_head_starving = gil->norm_head && gil->norm_head->gil_starving;
    pthread_mutex_unlock(&gil->mutex);
    return q;
}

/* Sets up the queues (entrant 0 in norm, 1..k in prio) and waits, holding
 * the GIL, until they are as wanted; then drops the GIL. Returns the place
 * (0 = first) at which the norm entrant got the GIL. */
static int norm_place(int k, double interval, bool want_starving) {
    assert_int_equal(Gv_SetSwitchInterval(interval), 0);
    gvt_watchdog_arm(60, "who goes first");
    Entrant e[4];
    pthread_t th[4];
    memset(e, 0, sizeof e);
    e[0].norm = true;
    e[0].ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(e[0].ts);
    e[0].ts->gil_after_wait = false; /* as after a forced drop */
    th[0] = gvt_start_thread(entrant_main, &e[0]);
    while (queues().norm < 1) gvt_msleep(1); /* holding the GIL: nobody else runs */
    for (int i = 1; i <= k; i++) th[i] = gvt_start_thread(entrant_main, &e[i]);
    for (;;) {
        Queues q = queues();
        if (q.prio == k && q.norm == 1 && q.norm_head_starving == want_starving) break;
        if (!want_starving) assert_false(q.norm_head_starving);
        gvt_msleep(1);
    }
    Gv_BEGIN_ALLOW_THREADS
    for (int i = 0; i <= k; i++) pthread_join(th[i], NULL);
    Gv_END_ALLOW_THREADS
    gvt_watchdog_disarm();
    int place = 0;
    for (int i = 1; i <= k; i++) {
        assert_true(e[i].switch_number != e[0].switch_number);
        if (e[i].switch_number < e[0].switch_number) place++;
    }
    return place;
}

/* Nobody has waited an interval (1000 s): the threads entering from outside
 * go before the CPU-bound one. */
static void test_priority_queue_goes_before_normal_queue(void **state) {
    (void)state;
    assert_int_equal(norm_place(3, 1000.0, false), 3);
}

/* The bound on waiting: once the normal queue's head has waited a whole
 * interval (2 ms) it is starving and goes before the priority queue, so a
 * stream of threads back from I/O cannot starve a CPU-bound thread. */
static void test_priority_starving_waiter_goes_before_priority_queue(void **state) {
    (void)state;
    assert_int_equal(norm_place(3, 0.002, true), 0);
}

static void test_spin_priority_queue_goes_before_normal_queue(void **state) {
    test_priority_queue_goes_before_normal_queue(state);
}

static void test_spin_starving_waiter_goes_before_priority_queue(void **state) {
    test_priority_starving_waiter_goes_before_priority_queue(state);
}

/* Spin telemetry: waits that found the GIL taken spun first (spins), in
 * spin mode only, and only with more than one usable core. */
static void run_two_spinners_briefly(void) {
    gvt_load(SRC);
    gvt_set_global("stop", gv_bool(false));
    assert_int_equal(Gv_SetSwitchInterval(0.0005), 0);
    GvtSpinner sp[2];
    gvt_watchdog_arm(60, "two spinners");
    start_spinners(sp, 2);
    for (int i = 0; i < 10; i++) allow_threads_for(5);
    stop_spinners(sp, 2);
    gvt_watchdog_disarm();
}

static int usable_cpus(void) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

static void test_spin_waiters_spin_before_sleeping(void **state) {
    (void)state;
    if (usable_cpus() < 2) skip();
    GvGILStats before, after;
    GvGIL_GetStats(&before);
    run_two_spinners_briefly();
    GvGIL_GetStats(&after);
    assert_true(after.spins > before.spins);
    assert_true(after.spin_hits <= after.spins);
}

/* The adaptive mode spins only where a handoff is due or imminent: after a
 * drop request (its own, or one it follows), or, as the holder's successor,
 * behind a thread back from a wait that was itself spinning for the GIL
 * (it will soon block again). Two CPU-bound threads at a 0.5 ms interval
 * and the main thread coming back from 10 waits: at most one spin per
 * request and one per return of the main thread; a forced dropper queueing
 * behind a CPU-bound holder does not spin (spin mode spins there too: about
 * twice as many spins as requests). */
static void test_adaptive_spins_only_for_a_due_handoff(void **state) {
    (void)state;
    if (usable_cpus() < 2) skip();
    GvGILStats before, after;
    GvGIL_GetStats(&before);
    run_two_spinners_briefly();
    GvGIL_GetStats(&after);
    unsigned long long spins = after.spins - before.spins, requests = after.drop_requests - before.drop_requests;
    print_message("spins %llu, requests %llu\n", spins, requests);
    assert_true(requests > 0);
    assert_true(after.spin_hits <= after.spins);
    assert_true(spins <= requests + 10);
    /* Whether it spins at all depends on where the kernel puts the threads
     * (not on the holder's core) and on a loaded machine may be never; the
     * time spun is counted when it does. */
    if (spins > 0) assert_true(after.spin_ns > before.spin_ns);
}

static void test_priority_never_spins(void **state) {
    (void)state;
    run_two_spinners_briefly();
    GvGILStats st;
    GvGIL_GetStats(&st);
    assert_true(st.switches > 0);
    assert_int_equal(st.spins, 0);
    assert_int_equal(st.spin_hits, 0);
}

/* On one core the holder cannot run while a waiter spins: spinning would only
 * delay the handoff. The interpreter created while this process may run on a
 * single CPU must not spin. */
static cpu_set_t saved_affinity;

static int restrict_to_one_core(void) {
    if (sched_getaffinity(0, sizeof saved_affinity, &saved_affinity) != 0) return -1;
    int first = -1;
    for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
        if (CPU_ISSET(i, &saved_affinity)) first = i;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    return sched_setaffinity(0, sizeof one, &one);
}

static int setup_spin_one_core(void **state) {
    (void)state;
    if (restrict_to_one_core() != 0) return -1;
    return setup_mode(GV_GIL_PRIORITY_SPIN);
}

static int setup_adaptive_one_core(void **state) {
    (void)state;
    if (restrict_to_one_core() != 0) return -1;
    return setup_mode(GV_GIL_ADAPTIVE);
}

static int teardown_restore_affinity(void **state) {
    gvt_teardown(state);
    return sched_setaffinity(0, sizeof saved_affinity, &saved_affinity);
}

static void test_spin_mode_does_not_spin_on_one_core(void **state) {
    (void)state;
    run_two_spinners_briefly();
    GvGILStats st;
    GvGIL_GetStats(&st);
    assert_true(st.switches > 0);
    assert_int_equal(st.spins, 0);
    assert_int_equal(st.wake_spins, 0);
    assert_int_equal(st.spin_ns, 0);
}

/* Who runs after a thread back from a wait has interrupted a CPU-bound
 * holder: two CPU-bound threads at a 1000 s switch interval (so no turn ends
 * by the interval), and the main thread coming back from short waits 20
 * times. Returns the two spinners' acquisitions in that window, fewer first. */
static void interrupted_turns(unsigned long long *fewer, unsigned long long *more) {
    GvtSpinner sp[2];
    start_two_spinners_without_intervals(sp, "interrupted turns");
    allow_threads_for(20); /* both have entered: one holds, one waits */
    GvGILStats before[2], after[2];
    for (int i = 0; i < 2; i++) GvThreadState_GetGILStats(sp[i].ts, &before[i]);
    int rounds = (int)gvt_scale_tsan(20, 4);
    for (int i = 0; i < rounds; i++) allow_threads_for(1);
    for (int i = 0; i < 2; i++) GvThreadState_GetGILStats(sp[i].ts, &after[i]);
    stop_spinners(sp, 2);
    gvt_watchdog_disarm();
    unsigned long long d0 = after[0].acquisitions - before[0].acquisitions;
    unsigned long long d1 = after[1].acquisitions - before[1].acquisitions;
    print_message("acquisitions in the window: %llu and %llu (%d interruptions)\n", d0, d1, rounds);
    *fewer = d0 < d1 ? d0 : d1;
    *more = d0 < d1 ? d1 : d0;
    /* The main thread interrupted someone each time. */
    assert_true(*more >= 1);
}

/* Adaptive: the interrupted holder resumes its turn (it queues at the front
 * of `norm`): the other CPU-bound thread never runs in the window, because
 * its turn comes only after an interval. */
static void test_adaptive_interrupted_holder_resumes_its_turn(void **state) {
    (void)state;
    unsigned long long fewer, more;
    interrupted_turns(&fewer, &more);
    assert_int_equal(fewer, 0);
}

/* Priority: each interruption ends the holder's turn (it queues at the tail):
 * both CPU-bound threads run in the window. */
static void test_priority_interruption_ends_the_holders_turn(void **state) {
    (void)state;
    unsigned long long fewer, more;
    interrupted_turns(&fewer, &more);
    assert_true(fewer >= 1);
}

/* The adaptive mode keeps every guarantee of the priority mode. */
static void test_adaptive_thread_back_from_wait_does_not_wait_for_the_interval(void **state) {
    (void)state;
    check_back_from_wait_does_not_wait_for_the_interval();
}
static void test_adaptive_gilstate_ensure_does_not_wait_for_the_interval(void **state) {
    test_priority_gilstate_ensure_does_not_wait_for_the_interval(state);
}
static void test_adaptive_cpu_bound_threads_take_turns(void **state) {
    test_priority_cpu_bound_threads_take_turns(state);
}
static void test_adaptive_priority_queue_goes_before_normal_queue(void **state) {
    test_priority_queue_goes_before_normal_queue(state);
}
static void test_adaptive_starving_waiter_goes_before_priority_queue(void **state) {
    test_priority_starving_waiter_goes_before_priority_queue(state);
}
static void test_adaptive_mode_does_not_spin_on_one_core(void **state) {
    test_spin_mode_does_not_spin_on_one_core(state);
}

#define PRIO(t) cmocka_unit_test_setup_teardown(t, setup_priority, gvt_teardown)
#define SPIN(t) cmocka_unit_test_setup_teardown(t, setup_spin, gvt_teardown)
#define ADAPT(t) cmocka_unit_test_setup_teardown(t, setup_adaptive, gvt_teardown)

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        PRIO(test_priority_thread_back_from_wait_does_not_wait_for_the_interval),
        SPIN(test_spin_thread_back_from_wait_does_not_wait_for_the_interval),
        PRIO(test_priority_gilstate_ensure_does_not_wait_for_the_interval),
        PRIO(test_priority_cpu_bound_threads_take_turns),
        SPIN(test_spin_cpu_bound_threads_take_turns),
        PRIO(test_priority_queue_goes_before_normal_queue),
        PRIO(test_priority_starving_waiter_goes_before_priority_queue),
        SPIN(test_spin_priority_queue_goes_before_normal_queue),
        SPIN(test_spin_starving_waiter_goes_before_priority_queue),
        SPIN(test_spin_waiters_spin_before_sleeping),
        PRIO(test_priority_never_spins),
        cmocka_unit_test_setup_teardown(test_spin_mode_does_not_spin_on_one_core, setup_spin_one_core,
                                        teardown_restore_affinity),
        ADAPT(test_adaptive_thread_back_from_wait_does_not_wait_for_the_interval),
        ADAPT(test_adaptive_gilstate_ensure_does_not_wait_for_the_interval),
        ADAPT(test_adaptive_cpu_bound_threads_take_turns),
        ADAPT(test_adaptive_priority_queue_goes_before_normal_queue),
        ADAPT(test_adaptive_starving_waiter_goes_before_priority_queue),
        ADAPT(test_adaptive_spins_only_for_a_due_handoff),
        ADAPT(test_adaptive_interrupted_holder_resumes_its_turn),
        cmocka_unit_test_setup_teardown(test_priority_interruption_ends_the_holders_turn, setup_priority, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_adaptive_mode_does_not_spin_on_one_core, setup_adaptive_one_core,
                                        teardown_restore_affinity),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
