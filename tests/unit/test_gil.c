/* The GIL (runtime/gil.c): CPU-bound threads share it, a waiter gets it by
 * asking the holder to drop (forced switching), the switch interval, and the
 * counters GvGIL_GetStats reports.
 *
 * Every test gets a fresh interpreter. Nothing here asserts a duration: the
 * tests wait for an event (with a watchdog) and then check what happened. */
#include "gvtest.h"

/* counters[i] counts the iterations of spin(i); stop ends every spinner. */
static const char *SPIN_SRC =
    ".func spin i\n"
    "top:\n"
    " LOAD_GLOBAL stop\n POP_JUMP_IF_TRUE done\n"
    " LOAD_GLOBAL counters\n LOAD_FAST i\n LOAD_INDEX\n LOAD_CONST 1\n BINARY_ADD\n"
    " LOAD_GLOBAL counters\n LOAD_FAST i\n STORE_INDEX\n"
    " JUMP top\n"
    "done:\n LOAD_CONST none\n RETURN_VALUE\n.end\n"
    /* starts spin(0) and spin(1) on two VM threads */
    ".func start\n"
    " LOAD_CONST false\n STORE_GLOBAL stop\n"
    " LOAD_CONST 0\n LOAD_CONST 0\n BUILD_LIST 2\n STORE_GLOBAL counters\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL spin\n LOAD_CONST 0\n CALL 2\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL spin\n LOAD_CONST 1\n CALL 2\n"
    " BUILD_LIST 2\n STORE_GLOBAL handles\n"
    " LOAD_CONST none\n RETURN_VALUE\n.end\n"
    ".func sample i\n LOAD_GLOBAL counters\n LOAD_FAST i\n LOAD_INDEX\n RETURN_VALUE\n.end\n"
    ".func finish\n"
    " LOAD_CONST true\n STORE_GLOBAL stop\n"
    " LOAD_GLOBAL thread_join\n LOAD_GLOBAL handles\n LOAD_CONST 0\n LOAD_INDEX\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL thread_join\n LOAD_GLOBAL handles\n LOAD_CONST 1\n LOAD_INDEX\n CALL 1\n POP_TOP\n"
    " LOAD_CONST none\n RETURN_VALUE\n.end\n"
    /* spins until stop, returns how many times it went round */
    ".func spin_until_stop\n.local n\n"
    " LOAD_CONST 0\n STORE_FAST n\n"
    "top:\n LOAD_GLOBAL stop\n POP_JUMP_IF_TRUE done\n"
    " LOAD_FAST n\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST n\n JUMP top\n"
    "done:\n LOAD_FAST n\n RETURN_VALUE\n.end\n";

static int64_t sample(int i) {
    GvValue arg = gv_int(i);
    return gvt_call_int("sample", 1, &arg);
}

/* Lets the other threads run for about ms milliseconds. */
static void allow_threads_for(long ms) {
    Gv_BEGIN_ALLOW_THREADS
    gvt_msleep(ms);
    Gv_END_ALLOW_THREADS
}

static void test_two_spinning_threads_both_make_progress(void **state) {
    (void)state;
    gvt_load(SPIN_SRC);
    GvGILStats before, after;
    GvGIL_GetStats(&before);
    gvt_call_ok("start", 0, NULL);
    gvt_watchdog_arm(60, "two spinning threads");
    /* The main thread is the third observer: every few milliseconds it takes
     * the GIL and looks at both counters. Neither spinner ends before `stop`,
     * so a window in which a counter moved is a window in which that thread
     * held the GIL while the other was alive and spinning too. */
    int64_t last[2] = {sample(0), sample(1)};
    int moved[2] = {0, 0};
    double end = gvt_now() + 30;
    while ((moved[0] < 3 || moved[1] < 3) && gvt_now() < end) {
        allow_threads_for(3);
        for (int i = 0; i < 2; i++) {
            int64_t now = sample(i);
            assert_true(now >= last[i]);
            if (now > last[i]) moved[i]++;
            last[i] = now;
        }
    }
    gvt_call_ok("finish", 0, NULL);
    gvt_watchdog_disarm();
    if (moved[0] < 3 || moved[1] < 3)
        fail_msg("a spinner starved: spin(0) moved in %d windows, spin(1) in %d", moved[0], moved[1]);
    assert_true(last[0] > 0 && last[1] > 0);
    GvGIL_GetStats(&after);
    /* Every window hands the GIL from main to a spinner and back, and the
     * spinners to each other: many switches, some forced. */
    assert_true(after.switches - before.switches >= 6);
    assert_true(after.forced_drops > before.forced_drops);
}

/* Two CPU-bound threads (plus the main thread looking in now and then).
 * Every drop a spinner makes is forced (it never blocks), and every forced
 * drop happens because some thread is waiting for the GIL. CPython's forced
 * switching guarantees that this waiter, not the dropper, takes the GIL next:
 * so every acquisition by a spinner is a switch (the previous holder was
 * another thread). acquisitions - switches counts the times a dropper took
 * the GIL straight back. */
static void check_forced_switching(long min_forced_drops) {
    gvt_load(SPIN_SRC);
    gvt_set_global("stop", gv_bool(false));
    GvInterpreterState *interp = GvInterpreterState_Get();
    GvtSpinner sp[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        memset(&sp[i], 0, sizeof sp[i]);
        sp[i].ts = GvThreadState_New(interp);
        assert_non_null(sp[i].ts);
    }
    gvt_watchdog_arm(60, "forced switching");
    for (int i = 0; i < 2; i++) th[i] = gvt_start_thread(gvt_spinner_main, &sp[i]);
    GvGILStats st[2];
    double end = gvt_now() + 30;
    for (;;) {
        allow_threads_for(5);
        /* Both thread states are alive until stop: their counters can be read
         * with the GIL held. */
        for (int i = 0; i < 2; i++) GvThreadState_GetGILStats(sp[i].ts, &st[i]);
        if (st[0].forced_drops >= (unsigned long long)min_forced_drops &&
            st[1].forced_drops >= (unsigned long long)min_forced_drops)
            break;
        if (gvt_now() > end) break;
    }
    gvt_set_global("stop", gv_bool(true));
    Gv_BEGIN_ALLOW_THREADS
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    Gv_END_ALLOW_THREADS
    gvt_watchdog_disarm();
    for (int i = 0; i < 2; i++) {
        GvGILStats *s = &sp[i].stats;
        print_message("spinner %d: %llu acquisitions, %llu switches, %llu forced drops, %llu drop requests, %lld iterations\n", i,
                      s->acquisitions, s->switches, s->forced_drops, s->drop_requests, (long long)sp[i].iterations);
        if (s->forced_drops < (unsigned long long)min_forced_drops)
            fail_msg("spinner %d made only %llu forced drops in 30 s", i, s->forced_drops);
        assert_true(sp[i].iterations > 0);
        /* No voluntary drop before the stats were taken: it never blocked. */
        assert_int_equal(s->voluntary_drops, 0);
        if (s->acquisitions != s->switches)
            fail_msg("spinner %d took the GIL back right after dropping it %llu times "
                     "(%llu acquisitions, %llu switches, %llu forced drops)",
                     i, s->acquisitions - s->switches, s->acquisitions, s->switches, s->forced_drops);
    }
}

static void test_forced_drop_hands_gil_to_the_waiter(void **state) {
    (void)state;
    check_forced_switching(20);
}

/* The same with the shortest interval there is (1 ns): drop requests come
 * all the time and a waiter needs far longer than an interval just to wake
 * up. Forced switching must still hand over, whatever the interval. */
static void test_forced_drop_hands_gil_to_the_waiter_with_tiny_interval(void **state) {
    (void)state;
    assert_int_equal(Gv_SetSwitchInterval(1e-9), 0);
    check_forced_switching(200);
}

static const char *INTERVAL_SRC =
    ".func get\n LOAD_GLOBAL get_switch_interval\n CALL 0\n RETURN_VALUE\n.end\n"
    ".func set s\n LOAD_GLOBAL set_switch_interval\n LOAD_FAST s\n CALL 1\n RETURN_VALUE\n.end\n";

static double get_from_program(void) {
    GvValue v = gvt_call_ok("get", 0, NULL);
    if (gv_is_float(v)) return v.as.f;
    assert_true(gv_is_int(v));
    return (double)v.as.i;
}

static void test_switch_interval_set_and_get_through_c_api_and_builtins(void **state) {
    (void)state;
    gvt_load(INTERVAL_SRC);
    GvInterpreterState *interp = GvInterpreterState_Get();
    /* Default: 5 ms, in both views and in the GIL itself. */
    assert_true(Gv_GetSwitchInterval() == 0.005);
    assert_true(get_from_program() == 0.005);
    assert_int_equal(atomic_load(&interp->gil->interval_ns), 5000000);

    /* C sets, the program and the GIL see it. */
    assert_int_equal(Gv_SetSwitchInterval(0.001), 0);
    assert_true(Gv_GetSwitchInterval() == 0.001);
    assert_true(get_from_program() == 0.001);
    assert_int_equal(atomic_load(&interp->gil->interval_ns), 1000000);

    /* The program sets, C and the GIL see it; an int is kept as an int. */
    GvValue arg = gv_float(0.25);
    gv_vdecref(gvt_call_ok("set", 1, &arg));
    assert_true(Gv_GetSwitchInterval() == 0.25);
    assert_int_equal(atomic_load(&interp->gil->interval_ns), 250000000);
    arg = gv_int(2);
    gv_vdecref(gvt_call_ok("set", 1, &arg));
    GvValue v = gvt_call_ok("get", 0, NULL);
    assert_true(gv_is_int(v) && v.as.i == 2);
    assert_true(Gv_GetSwitchInterval() == 2.0);

    /* Refused values change nothing. */
    assert_int_equal(Gv_SetSwitchInterval(0), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_ValueError);
    GvErr_Clear();
    assert_int_equal(Gv_SetSwitchInterval(-0.5), -1);
    GvErr_Clear();
    arg = gv_float(0.0);
    gvt_call_raises("set", 1, &arg, &gv_type_ValueError);
    arg = gv_int(-1);
    gvt_call_raises("set", 1, &arg, &gv_type_ValueError);
    assert_true(Gv_GetSwitchInterval() == 2.0);
    assert_int_equal(atomic_load(&interp->gil->interval_ns), 2000000000);
}

static unsigned long long hist_sum(const GvGILStats *s) {
    unsigned long long n = 0;
    for (int i = 0; i < GV_GIL_HIST_BUCKETS; i++) n += s->wait_hist[i];
    return n;
}

/* whole: the interpreter's counters (a thread's own may be forced to drop
 * more often than it asked others to). */
static void check_consistent(const GvGILStats *s, bool held, bool whole) {
    assert_true(s->acquisitions >= s->switches);
    assert_int_equal(hist_sum(s), s->acquisitions);
    assert_true(s->wait_ns_max <= s->wait_ns_total);
    /* A bit set by one or more requests makes at most one forced drop. */
    if (whole) assert_true(s->forced_drops <= s->drop_requests);
    /* Every acquisition ends in exactly one drop, except the current one. */
    assert_int_equal(s->acquisitions, s->forced_drops + s->voluntary_drops + (held ? 1 : 0));
}

static void test_gil_stats_are_consistent(void **state) {
    (void)state;
    GvGILStats s;
    GvGIL_GetStats(&s);
    check_consistent(&s, true, true);
    assert_true(s.acquisitions >= 1); /* the main thread's, at Gv_Initialize */

    gvt_load(SPIN_SRC);
    gvt_call_ok("start", 0, NULL);
    gvt_watchdog_arm(60, "stats run");
    /* Run until there has been real contention. */
    double end = gvt_now() + 30;
    do {
        allow_threads_for(5);
        GvGIL_GetStats(&s);
    } while ((s.forced_drops < 10 || s.switches < 10) && gvt_now() < end);
    gvt_call_ok("finish", 0, NULL);
    gvt_watchdog_disarm();

    GvGIL_GetStats(&s);
    check_consistent(&s, true, true);
    assert_true(s.forced_drops >= 10);
    assert_true(s.drop_requests >= s.forced_drops);
    assert_true(s.wait_ns_total > 0);

    /* The main thread's own counters obey the same rules and are part of the
     * interpreter's. */
    GvGILStats m;
    GvThreadState_GetGILStats(GvThreadState_Get(), &m);
    check_consistent(&m, true, false);
    assert_true(m.acquisitions <= s.acquisitions);
    assert_true(m.switches <= s.switches);
    assert_true(m.voluntary_drops >= 1);
}

/* ---- a voluntary drop hands the GIL over at once ----
 *
 * A thread that releases the GIL because it blocks (Gv_BEGIN_ALLOW_THREADS,
 * a wait in a builtin) must wake a thread waiting for it. The switch
 * interval is set to 5 s: a drop that forgot to wake the waiter leaves it
 * asleep until its timed wait ends, a whole interval later, since nobody is
 * there to ask for a switch. "Promptly" is 1 s, well under that. */

#define LONG_INTERVAL_S 5.0
#define PROMPT_HANDOFF_S 1.0

static const char *HANDOFF_SRC =
    ".func put_item\n LOAD_GLOBAL queue_put\n LOAD_GLOBAL q\n LOAD_CONST 1\n CALL 2\n RETURN_VALUE\n.end\n"
    ".func wait_item\n LOAD_GLOBAL queue_get\n LOAD_GLOBAL q\n LOAD_CONST 30\n CALL 2\n RETURN_VALUE\n.end\n"
    ".func make_queue\n LOAD_GLOBAL queue_new\n CALL 0\n STORE_GLOBAL q\n LOAD_CONST none\n RETURN_VALUE\n.end\n";

typedef struct Waiter {
    bool put_item;        /* once it has the GIL, run put_item() */
    pthread_mutex_t m;
    pthread_cond_t c;
    bool acquired;
    double acquired_at;   /* gvt_now() right after GvGILState_Ensure returned */
} Waiter;

static void *waiter_main(void *p) {
    Waiter *w = p;
    GvGILState_STATE s = GvGILState_Ensure(); /* waits: main holds the GIL */
    double now = gvt_now();
    if (w->put_item) gv_vdecref(gvt_call_ok("put_item", 0, NULL));
    pthread_mutex_lock(&w->m);
    w->acquired = true;
    w->acquired_at = now;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
    GvGILState_Release(s);
    return NULL;
}

/* Starts a waiter for the GIL (which the caller holds) and gives it time to
 * be asleep in its wait, with the GIL held all along. */
static void start_waiter(Waiter *w, pthread_t *t) {
    pthread_mutex_init(&w->m, NULL);
    pthread_cond_init(&w->c, NULL);
    assert_int_equal(Gv_SetSwitchInterval(LONG_INTERVAL_S), 0);
    *t = gvt_start_thread(waiter_main, w);
    gvt_msleep(200);
}

static void check_prompt(const Waiter *w, double released_at, const char *how) {
    double took = w->acquired_at - released_at;
    print_message("%s: the waiter had the GIL %.1f ms after the release\n", how, took * 1e3);
    if (took > PROMPT_HANDOFF_S)
        fail_msg("%s: the thread waiting for the GIL got it %.2f s after it was released "
                 "(switch interval %.0f s): the drop did not wake it", how, took, LONG_INTERVAL_S);
}

static void test_waiter_gets_gil_promptly_after_allow_threads(void **state) {
    (void)state;
    gvt_load(HANDOFF_SRC);
    Waiter w;
    memset(&w, 0, sizeof w);
    pthread_t t;
    gvt_watchdog_arm(60, "handoff at Gv_BEGIN_ALLOW_THREADS");
    start_waiter(&w, &t);
    double released_at = gvt_now();
    Gv_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&w.m);
    while (!w.acquired) pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
    pthread_join(t, NULL);
    Gv_END_ALLOW_THREADS
    gvt_watchdog_disarm();
    check_prompt(&w, released_at, "Gv_BEGIN_ALLOW_THREADS");
}

/* The same with the holder blocking in a builtin (queue_get): the waiter,
 * once it has the GIL, puts the item the holder waits for. */
static void test_waiter_gets_gil_promptly_when_holder_blocks_in_queue_get(void **state) {
    (void)state;
    gvt_load(HANDOFF_SRC);
    gv_vdecref(gvt_call_ok("make_queue", 0, NULL));
    Waiter w;
    memset(&w, 0, sizeof w);
    w.put_item = true;
    pthread_t t;
    gvt_watchdog_arm(60, "handoff at a blocking queue_get");
    start_waiter(&w, &t);
    double released_at = gvt_now();
    GvValue got = gvt_call_ok("wait_item", 0, NULL);
    assert_true(gv_is_int(got) && got.as.i == 1);
    gvt_join_releasing_gil(t);
    gvt_watchdog_disarm();
    assert_true(w.acquired);
    check_prompt(&w, released_at, "queue_get");
}

/* ---- a drop request that went stale ----
 * A waiter asks the holder to drop; the holder gives the GIL up on its own
 * instead (it blocks) before it saw the request. When it takes the GIL back
 * later, nobody is waiting: the old request must not make it drop again. In
 * the classic mode such a forced drop waits for a successor that does not
 * come, up to 1 s, so running a little bytecode takes a second instead of
 * microseconds. */
static const char *STALE_SRC =
    ".func work k\n"
    "top:\n LOAD_FAST k\n POP_JUMP_IF_FALSE done\n"
    " LOAD_FAST k\n LOAD_CONST 1\n BINARY_SUB\n STORE_FAST k\n JUMP top\n"
    "done:\n LOAD_CONST none\n RETURN_VALUE\n.end\n";

typedef struct Stale {
    pthread_mutex_t m;
    pthread_cond_t c;
    int stage;
    double work_took;
} Stale;

static void stale_step(Stale *s, int stage) {
    pthread_mutex_lock(&s->m);
    s->stage = stage;
    pthread_cond_broadcast(&s->c);
    pthread_mutex_unlock(&s->m);
}

static void stale_wait(Stale *s, int stage) {
    pthread_mutex_lock(&s->m);
    while (s->stage < stage) pthread_cond_wait(&s->c, &s->m);
    pthread_mutex_unlock(&s->m);
}

static void *stale_main(void *p) {
    Stale *s = p;
    GvGILState_STATE st = GvGILState_Ensure();
    stale_step(s, 1);
    gvt_msleep(50); /* holding the GIL in C code: main, waiting for it, asks for a drop */
    Gv_BEGIN_ALLOW_THREADS
    stale_wait(s, 2);
    Gv_END_ALLOW_THREADS /* nobody waits for the GIL now */
    double t0 = gvt_now();
    GvValue k = gv_int(1000);
    gv_vdecref(gvt_call_ok("work", 1, &k));
    s->work_took = gvt_now() - t0;
    GvGILState_Release(st);
    stale_step(s, 3);
    return NULL;
}

static void test_stale_drop_request_does_not_make_a_returning_thread_drop(void **state) {
    (void)state;
    gvt_load(STALE_SRC);
    assert_int_equal(Gv_SetSwitchInterval(0.001), 0);
    Stale s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    GvGILStats before, after;
    GvGIL_GetStats(&before);
    pthread_t t;
    gvt_watchdog_arm(60, "a thread with a stale drop request");
    t = gvt_start_thread(stale_main, &s);
    Gv_BEGIN_ALLOW_THREADS
    stale_wait(&s, 1);
    Gv_END_ALLOW_THREADS /* waits while the thread holds the GIL: asks it to drop */
    GvGIL_GetStats(&after);
    Gv_BEGIN_ALLOW_THREADS
    stale_step(&s, 2);
    stale_wait(&s, 3);
    pthread_join(t, NULL);
    Gv_END_ALLOW_THREADS
    gvt_watchdog_disarm();
    assert_true(after.drop_requests > before.drop_requests); /* the request was made */
    print_message("1000 loop iterations after coming back took %.2f ms\n", s.work_took * 1e3);
    if (s.work_took > 0.5)
        fail_msg("a thread that came back to an idle GIL took %.2f s to run 1000 loop iterations: a drop request "
                 "made before it blocked made it drop the GIL again and wait for a successor", s.work_took);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_spinning_threads_both_make_progress, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_forced_drop_hands_gil_to_the_waiter, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_forced_drop_hands_gil_to_the_waiter_with_tiny_interval, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_switch_interval_set_and_get_through_c_api_and_builtins, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_gil_stats_are_consistent, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_waiter_gets_gil_promptly_after_allow_threads, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_waiter_gets_gil_promptly_when_holder_blocks_in_queue_get, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_stale_drop_request_does_not_make_a_returning_thread_drop, gvt_setup,
                                        gvt_teardown),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
