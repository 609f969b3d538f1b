/* Finalization with threads (Gv_Finalize, runtime/thread.c "Shutdown"):
 * daemon threads in every state do not hang or crash the exit, non-daemon
 * threads are waited for, Gv_IsFinalizing, and what a thread that tries to
 * take the GIL during finalization gets (GvEval_AcquireThread ends it,
 * GvEval_AcquireThreadOrFail returns -1).
 *
 * These tests make and finalize their own interpreters. "Promptly" is a
 * generous bound: the finalizer gives up waiting for threads after 2 s (and
 * then leaks the interpreter), so a finalization that takes 1.5 s means a
 * thread did not come back. */
#include "gvtest.h"
#include "../../runtime/sync.h"
#include "../../runtime/thread.h"

#define PROMPT_S 1.5

static const char *DAEMONS_SRC =
    ".func spin r\n LOAD_GLOBAL queue_put\n LOAD_FAST r\n LOAD_CONST 1\n CALL 2\n POP_TOP\n"
    "top:\n JUMP top\n.end\n"
    ".func sleeper r\n LOAD_GLOBAL queue_put\n LOAD_FAST r\n LOAD_CONST 1\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL sleep\n LOAD_CONST 1000\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func locker r l\n LOAD_GLOBAL queue_put\n LOAD_FAST r\n LOAD_CONST 1\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func getter r q\n LOAD_GLOBAL queue_put\n LOAD_FAST r\n LOAD_CONST 1\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL queue_get\n LOAD_FAST q\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func joiner r h\n LOAD_GLOBAL queue_put\n LOAD_FAST r\n LOAD_CONST 1\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL thread_join\n LOAD_FAST h\n CALL 1\n RETURN_VALUE\n.end\n"
    /* start_all(): 16 daemon threads: 4 spinning, 3 sleeping, 3 blocked on a
     * lock main holds, 3 in queue_get of an empty queue, 3 joining a
     * spinner; returns when each has said it is about to block */
    ".func start_all\n.local r l q spinners i\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_FAST r\n"
    " LOAD_GLOBAL lock_new\n CALL 0\n STORE_FAST l\n"
    " LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_FAST q\n"
    " BUILD_LIST 0\n STORE_FAST spinners\n"
    " LOAD_CONST 0\n STORE_FAST i\n"
    "s:\n LOAD_FAST i\n LOAD_CONST 4\n COMPARE_LT\n POP_JUMP_IF_FALSE s_done\n"
    " LOAD_GLOBAL append\n LOAD_FAST spinners\n"
    " LOAD_GLOBAL thread_start_daemon\n LOAD_GLOBAL spin\n LOAD_FAST r\n CALL 2\n CALL 2\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP s\n"
    "s_done:\n LOAD_CONST 0\n STORE_FAST i\n"
    "b:\n LOAD_FAST i\n LOAD_CONST 3\n COMPARE_LT\n POP_JUMP_IF_FALSE b_done\n"
    " LOAD_GLOBAL thread_start_daemon\n LOAD_GLOBAL sleeper\n LOAD_FAST r\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL thread_start_daemon\n LOAD_GLOBAL locker\n LOAD_FAST r\n LOAD_FAST l\n CALL 3\n POP_TOP\n"
    " LOAD_GLOBAL thread_start_daemon\n LOAD_GLOBAL getter\n LOAD_FAST r\n LOAD_FAST q\n CALL 3\n POP_TOP\n"
    " LOAD_GLOBAL thread_start_daemon\n LOAD_GLOBAL joiner\n LOAD_FAST r\n"
    " LOAD_FAST spinners\n LOAD_FAST i\n LOAD_INDEX\n CALL 3\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP b\n"
    "b_done:\n LOAD_CONST 0\n STORE_FAST i\n"
    "w:\n LOAD_FAST i\n LOAD_CONST 16\n COMPARE_LT\n POP_JUMP_IF_FALSE w_done\n"
    " LOAD_GLOBAL queue_get\n LOAD_FAST r\n CALL 1\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP w\n"
    "w_done:\n LOAD_CONST 16\n RETURN_VALUE\n.end\n";

static void test_finalize_with_16_daemon_threads_returns_promptly_every_round(void **state) {
    (void)state;
    int rounds = (int)gvt_scale_tsan(100, 10);
    double worst = 0;
    gvt_watchdog_arm(rounds * 3.0 + 30, "finalization rounds");
    for (int round = 0; round < rounds; round++) {
        double t0 = gvt_now();
        assert_non_null(Gv_Initialize());
        assert_false(Gv_IsFinalizing());
        /* Spinners hold the GIL an interval at a time: a short one gets the
         * other threads started sooner. */
        assert_int_equal(Gv_SetSwitchInterval(0.0005), 0);
        gvt_load(DAEMONS_SRC);
        assert_int_equal(gvt_call_int("start_all", 0, NULL), 16);
        assert_int_equal(gvt_count_tstates(), 17);
        double t1 = gvt_now();
        Gv_Finalize();
        double t2 = gvt_now();
        assert_null(GvInterpreterState_Get());
        assert_null(GvThreadState_Get());
        if (t2 - t1 > worst) worst = t2 - t1;
        if (t2 - t1 > PROMPT_S || t2 - t0 > 10.0) /* the round: a bound against hangs only */
            fail_msg("round %d: Gv_Finalize took %.3f s (the whole round %.3f s)", round, t2 - t1, t2 - t0);
    }
    gvt_watchdog_disarm();
    print_message("%d rounds, slowest Gv_Finalize %.1f ms\n", rounds, worst * 1e3);
}

/* ---- a raw thread meeting finalization ---- */

typedef struct Late {
    GvThreadState *ts;
    bool or_fail;          /* use GvEval_AcquireThreadOrFail */
    bool linger;           /* after it failed, stay alive until Gv_Finalize returned */
    _Atomic bool finalize_returned;
    _Atomic bool saw_finalizing_during;
    _Atomic bool returned_from_acquire;
    _Atomic int rc;
    pthread_mutex_t m;
    pthread_cond_t c;
    bool ready;            /* it has used ts once and given the GIL back */
    bool may_exit;
} Late;

static void *late_main(void *p) {
    Late *l = p;
    /* Use the thread state once, as a worker thread would. */
    GvEval_AcquireThread(l->ts);
    GvEval_ReleaseThread(l->ts);
    pthread_mutex_lock(&l->m);
    l->ready = true;
    pthread_cond_broadcast(&l->c);
    pthread_mutex_unlock(&l->m);
    /* Wait (outside the VM) until finalization starts. */
    double end = gvt_now() + 20;
    while (!Gv_IsFinalizing() && gvt_now() < end) gvt_msleep(1);
    /* Finalization does not wait for a thread that left the VM through the
     * public API, so it may be over already: what matters is that the
     * thread comes back before the next Gv_Initialize. */
    atomic_store(&l->saw_finalizing_during, Gv_IsFinalizing());
    if (l->or_fail) {
        atomic_store(&l->rc, GvEval_AcquireThreadOrFail(l->ts));
    } else {
        GvEval_AcquireThread(l->ts); /* must not come back */
    }
    atomic_store(&l->returned_from_acquire, true);
    if (l->linger) {
        pthread_mutex_lock(&l->m);
        while (!l->may_exit) pthread_cond_wait(&l->c, &l->m);
        pthread_mutex_unlock(&l->m);
    }
    return NULL;
}

/* Starts the raw thread, lets it use its thread state, then finalizes;
 * returns how long Gv_Finalize took. The thread is joined. */
static double finalize_with_late_thread(Late *l) {
    pthread_mutex_init(&l->m, NULL);
    pthread_cond_init(&l->c, NULL);
    atomic_store(&l->rc, 12345);
    assert_non_null(Gv_Initialize());
    l->ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(l->ts);
    pthread_t t;
    gvt_watchdog_arm(30, "finalization with a raw thread");
    t = gvt_start_thread(late_main, l);
    Gv_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&l->m);
    while (!l->ready) pthread_cond_wait(&l->c, &l->m);
    pthread_mutex_unlock(&l->m);
    Gv_END_ALLOW_THREADS
    double t0 = gvt_now();
    Gv_Finalize();
    double took = gvt_now() - t0;
    atomic_store(&l->finalize_returned, true);
    /* Finalization stays visible until the next Gv_Initialize. */
    assert_true(Gv_IsFinalizing());
    pthread_mutex_lock(&l->m);
    l->may_exit = true;
    pthread_cond_broadcast(&l->c);
    pthread_mutex_unlock(&l->m);
    pthread_join(t, NULL);
    gvt_watchdog_disarm();
    assert_non_null(Gv_Initialize());
    assert_false(Gv_IsFinalizing());
    Gv_Finalize();
    return took;
}

static void test_acquire_thread_or_fail_returns_minus_1_during_finalization(void **state) {
    (void)state;
    Late l;
    memset(&l, 0, sizeof l);
    l.or_fail = true;
    double took = finalize_with_late_thread(&l);
    assert_true(atomic_load(&l.saw_finalizing_during));
    assert_true(atomic_load(&l.returned_from_acquire));
    assert_int_equal(atomic_load(&l.rc), -1);
    if (took > PROMPT_S) fail_msg("Gv_Finalize took %.2f s", took);
}

/* The same, but the thread goes on with work of its own after the refusal:
 * it was refused, so finalization has nothing to wait for. */
static void test_thread_refused_by_acquire_or_fail_does_not_delay_finalization(void **state) {
    (void)state;
    Late l;
    memset(&l, 0, sizeof l);
    l.or_fail = true;
    l.linger = true;
    double took = finalize_with_late_thread(&l);
    assert_true(atomic_load(&l.saw_finalizing_during));
    assert_int_equal(atomic_load(&l.rc), -1);
    if (took > PROMPT_S)
        fail_msg("Gv_Finalize took %.2f s: it waited for a thread that GvEval_AcquireThreadOrFail had refused", took);
}

static void test_acquire_thread_during_finalization_ends_the_thread(void **state) {
    (void)state;
    Late l;
    memset(&l, 0, sizeof l);
    double took = finalize_with_late_thread(&l);
    assert_true(atomic_load(&l.saw_finalizing_during));
    assert_false(atomic_load(&l.returned_from_acquire));
    if (took > PROMPT_S) fail_msg("Gv_Finalize took %.2f s", took);
}

/* A thread that asked for the GIL with GvEval_AcquireThreadOrFail before
 * finalization started, and is still waiting for it (main holds it) when it
 * starts: it is refused (-1) and must not stay counted, or Gv_Finalize waits
 * for it until its timeout and leaks the interpreter. */
typedef struct Waiting {
    GvThreadState *ts;
    _Atomic int rc;
    _Atomic bool called;
} Waiting;

static void *acquire_or_fail_waiting(void *p) {
    Waiting *w = p;
    atomic_store(&w->called, true);
    atomic_store(&w->rc, GvEval_AcquireThreadOrFail(w->ts)); /* waits: main holds the GIL */
    if (atomic_load(&w->rc) == 0) GvEval_ReleaseThread(w->ts);
    return NULL;
}

static void test_acquire_or_fail_waiting_for_gil_when_finalization_starts(void **state) {
    (void)state;
    int64_t baseline = gv_mem_in_use();
    assert_non_null(Gv_Initialize());
    Waiting w;
    memset(&w, 0, sizeof w);
    atomic_store(&w.rc, 12345);
    w.ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(w.ts);
    gvt_watchdog_arm(30, "AcquireThreadOrFail waiting when finalization starts");
    pthread_t t = gvt_start_thread(acquire_or_fail_waiting, &w);
    while (!atomic_load(&w.called)) gvt_msleep(1);
    gvt_msleep(200); /* holding the GIL: the thread is counted and waits for it */
    double t0 = gvt_now();
    Gv_Finalize();
    double took = gvt_now() - t0;
    pthread_join(t, NULL);
    gvt_watchdog_disarm();
    assert_int_equal(atomic_load(&w.rc), -1);
    if (took > PROMPT_S)
        fail_msg("Gv_Finalize took %.2f s: it waited for a thread that GvEval_AcquireThreadOrFail refused", took);
    if (gv_mem_in_use() != baseline)
        fail_msg("%lld bytes still counted after Gv_Finalize", (long long)(gv_mem_in_use() - baseline));
}

/* A thread the VM never saw calls GvGILState_Ensure once finalization has
 * started (or ended): it does not come back. */
static _Atomic bool ensure_returned;

static void *ensure_late(void *p) {
    (void)p;
    double end = gvt_now() + 20;
    while (!Gv_IsFinalizing() && gvt_now() < end) gvt_msleep(1);
    GvGILState_Ensure();
    atomic_store(&ensure_returned, true);
    return NULL;
}

static void test_gilstate_ensure_during_finalization_ends_the_thread(void **state) {
    (void)state;
    atomic_store(&ensure_returned, false);
    assert_non_null(Gv_Initialize());
    pthread_t t;
    gvt_watchdog_arm(30, "Ensure during finalization");
    t = gvt_start_thread(ensure_late, NULL);
    Gv_Finalize();
    pthread_join(t, NULL);
    gvt_watchdog_disarm();
    assert_false(atomic_load(&ensure_returned));
    assert_non_null(Gv_Initialize());
    Gv_Finalize();
}

/* The same, checking what the refused thread leaves behind: nothing. The
 * call happens while finalization is still waiting for another thread (one
 * that holds a counted thread state with the GIL released, as a thread parked
 * in a VM wait does), so the interpreter is there to make a state in if
 * Ensure did not look at the finalizing flag first. That other thread counts
 * the thread states once the refused thread has ended, then comes back and is
 * refused in its turn. */
typedef struct Window {
    GvThreadState *ts; /* the waited-for thread's */
    pthread_t ensurer;
    pthread_mutex_t m;
    pthread_cond_t c;
    bool ready;
    int tstates_before, tstates_after;
    _Atomic bool ensure_returned, blocker_returned;
} Window;

static void wait_finalizing(void) {
    double end = gvt_now() + 20;
    while (!Gv_IsFinalizing() && gvt_now() < end) gvt_msleep(1);
}

static void *window_ensurer(void *p) {
    Window *w = p;
    wait_finalizing();
    w->tstates_before = gvt_count_tstates();
    GvGILState_Ensure();
    atomic_store(&w->ensure_returned, true);
    return NULL;
}

static void *window_blocker(void *p) {
    Window *w = p;
    GvEval_AcquireThread(w->ts);
    /* Gives the GIL back but stays counted: Gv_Finalize waits for it. */
    gv_tstate_detach(w->ts);
    pthread_mutex_lock(&w->m);
    w->ready = true;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
    wait_finalizing();
    pthread_join(w->ensurer, NULL);
    w->tstates_after = gvt_count_tstates();
    gv_tstate_attach_or_exit(w->ts); /* refused: ends this thread */
    atomic_store(&w->blocker_returned, true);
    return NULL;
}

static void test_gilstate_ensure_during_finalization_makes_no_thread_state(void **state) {
    (void)state;
    int64_t baseline = gv_mem_in_use();
    Window w;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.m, NULL);
    pthread_cond_init(&w.c, NULL);
    assert_non_null(Gv_Initialize());
    w.ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(w.ts);
    gvt_watchdog_arm(30, "Ensure while finalization waits for a thread");
    pthread_t blocker;
    w.ensurer = gvt_start_thread(window_ensurer, &w);
    blocker = gvt_start_thread(window_blocker, &w);
    Gv_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&w.m);
    while (!w.ready) pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
    Gv_END_ALLOW_THREADS
    double t0 = gvt_now();
    Gv_Finalize();
    double took = gvt_now() - t0;
    pthread_join(blocker, NULL);
    gvt_watchdog_disarm();
    assert_false(atomic_load(&w.ensure_returned));
    assert_false(atomic_load(&w.blocker_returned));
    if (w.tstates_after != w.tstates_before)
        fail_msg("GvGILState_Ensure during finalization left %d thread states (%d before the call): it made one",
                 w.tstates_after, w.tstates_before);
    if (took > PROMPT_S) fail_msg("Gv_Finalize took %.2f s", took);
    assert_int_equal(gv_mem_in_use(), baseline);
    assert_non_null(Gv_Initialize());
    Gv_Finalize();
}

/* ---- non-daemon threads ---- */

static const char *WORKERS_SRC =
    ".func worker\n LOAD_GLOBAL sleep\n LOAD_CONST 0.2\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL print\n LOAD_CONST \"worker done\"\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func daemon\n LOAD_GLOBAL sleep\n LOAD_CONST 100\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL print\n LOAD_CONST \"daemon woke\"\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func start\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL worker\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL thread_start_daemon\n LOAD_GLOBAL daemon\n CALL 1\n POP_TOP\n"
    " LOAD_CONST none\n RETURN_VALUE\n.end\n";

static void test_finalize_waits_for_non_daemon_threads_only(void **state) {
    (void)state;
    assert_non_null(Gv_Initialize());
    gvt_load(WORKERS_SRC);
    GvtCapture cap;
    gvt_capture_begin(&cap, 1);
    gv_vdecref(gvt_call_ok("start", 0, NULL));
    gvt_watchdog_arm(30, "waiting for a non-daemon thread");
    double t0 = gvt_now();
    Gv_Finalize();
    double took = gvt_now() - t0;
    gvt_watchdog_disarm();
    char *out = gvt_capture_end(&cap);
    /* The worker finished its sleep and printed; the daemon was dropped. */
    if (strcmp(out, "worker done\n") != 0) fail_msg("stdout: \"%s\", expected \"worker done\\n\"", out);
    free(out);
    if (took > 0.2 + PROMPT_S) fail_msg("Gv_Finalize took %.2f s", took);
}

/* Two non-daemon threads ending at different times (0.1 s and 0.4 s after
 * the start, while Gv_Finalize already waits): it waits for both, not just
 * until the first one ends. */
static const char *TWO_WORKERS_SRC =
    ".func worker delay name\n LOAD_GLOBAL sleep\n LOAD_FAST delay\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL print\n LOAD_FAST name\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func start_two\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL worker\n LOAD_CONST 0.1\n LOAD_CONST \"first done\"\n CALL 3\n POP_TOP\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL worker\n LOAD_CONST 0.4\n LOAD_CONST \"second done\"\n CALL 3\n POP_TOP\n"
    " LOAD_CONST none\n RETURN_VALUE\n.end\n";

static void test_finalize_waits_for_two_non_daemon_threads_ending_apart(void **state) {
    (void)state;
    assert_non_null(Gv_Initialize());
    gvt_load(TWO_WORKERS_SRC);
    GvtCapture cap;
    gvt_capture_begin(&cap, 1);
    gv_vdecref(gvt_call_ok("start_two", 0, NULL));
    gvt_watchdog_arm(30, "waiting for two non-daemon threads");
    Gv_Finalize();
    gvt_watchdog_disarm();
    char *out = gvt_capture_end(&cap);
    bool ok = strcmp(out, "first done\nsecond done\n") == 0;
    if (!ok) print_message("stdout: \"%s\"\n", out);
    free(out);
    if (!ok) fail_msg("Gv_Finalize did not wait for both non-daemon threads (expected \"first done\\nsecond done\\n\")");
}

/* ---- cycles through native objects ----
 * A queue that contains itself, or a thread that returns its own handle,
 * is a reference cycle no count ever frees; finalization clears queues and
 * handles like lists, so all the memory the interpreter counted comes back.
 * (LSan, in the sanitizer suites, checks the malloc side as well.) */

static const char *CYCLES_SRC =
    /* own_handle(q): returns the handle main puts in q, its own */
    ".func own_handle q\n LOAD_GLOBAL queue_get\n LOAD_FAST q\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func queue_in_itself\n.local q\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_FAST q\n"
    " LOAD_GLOBAL queue_put\n LOAD_FAST q\n LOAD_FAST q\n CALL 2\n POP_TOP\n"
    " LOAD_CONST none\n RETURN_VALUE\n.end\n"
    /* a list holding a queue holding the list */
    ".func list_and_queue\n.local q l\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_FAST q\n"
    " LOAD_FAST q\n BUILD_LIST 1\n STORE_FAST l\n"
    " LOAD_GLOBAL queue_put\n LOAD_FAST q\n LOAD_FAST l\n CALL 2\n POP_TOP\n"
    " LOAD_CONST none\n RETURN_VALUE\n.end\n"
    ".func handle_is_result\n.local q h\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_FAST q\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL own_handle\n LOAD_FAST q\n CALL 2\n STORE_FAST h\n"
    " LOAD_GLOBAL queue_put\n LOAD_FAST q\n LOAD_FAST h\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL thread_join\n LOAD_FAST h\n CALL 1\n LOAD_FAST h\n COMPARE_EQ\n RETURN_VALUE\n.end\n";

static void run_and_finalize(const char *fn, GvValue want) {
    int64_t before = gv_mem_in_use();
    assert_non_null(Gv_Initialize());
    gvt_load(CYCLES_SRC);
    GvValue got = gvt_call_ok(fn, 0, NULL);
    assert_int_equal(gv_equal(got, want), 1);
    gv_vdecref(got);
    Gv_Finalize();
    if (gv_mem_in_use() != before)
        fail_msg("%s: %lld bytes still counted after Gv_Finalize", fn, (long long)(gv_mem_in_use() - before));
}

static void test_queue_that_contains_itself_is_freed_at_finalization(void **state) {
    (void)state;
    run_and_finalize("queue_in_itself", gv_none());
}

static void test_cycle_through_a_list_and_a_queue_is_freed_at_finalization(void **state) {
    (void)state;
    run_and_finalize("list_and_queue", gv_none());
}

static void test_thread_that_returns_its_own_handle_is_freed_at_finalization(void **state) {
    (void)state;
    run_and_finalize("handle_is_result", gv_bool(true));
}

static void test_queues_nested_a_million_deep_are_freed_without_recursion(void **state) {
    (void)state;
    assert_non_null(Gv_Initialize());
    GvObject *outer = gv_queue_new();
    assert_non_null(outer);
    GvThreadState *ts = GvThreadState_Get();
    for (int i = 0; i < 1000000; i++) {
        GvObject *q = gv_queue_new();
        assert_non_null(q);
        assert_int_equal(gv_queue_put(ts, q, gv_obj(outer)), 0);
        gv_decref(outer);
        outer = q;
    }
    gv_decref(outer); /* the trashcan: a recursive free would overflow the C stack */
    Gv_Finalize();
}

/* ---- an asynchronous exception never delivered ----
 * A thread state deleted while it still holds an asynchronous exception (not
 * yet raised, or held back by async_mask) owns the last reference to it:
 * deleting the state frees it, and memory returns to its baseline. */

static const char *UNDELIVERED_SRC =
    ".func make_exc\n LOAD_GLOBAL ValueError\n LOAD_CONST \"never delivered\"\n CALL 1\n RETURN_VALUE\n.end\n"
    /* masked_worker(ready, go): masks, says its id on ready, waits for go (the
     * exception arrives meanwhile and is held back) and returns, masked */
    ".func masked_worker ready go\n"
    " LOAD_GLOBAL async_mask\n CALL 0\n POP_TOP\n"
    " LOAD_GLOBAL queue_put\n LOAD_FAST ready\n LOAD_GLOBAL thread_id\n CALL 0\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL queue_get\n LOAD_FAST go\n CALL 1\n POP_TOP\n"
    " LOAD_CONST \"ended masked\"\n RETURN_VALUE\n.end\n"
    /* returns [async_raise's count, the worker's result] */
    ".func exc_pending_at_thread_end\n.local ready go h n\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_FAST ready\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_FAST go\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL masked_worker\n LOAD_FAST ready\n LOAD_FAST go\n CALL 3\n STORE_FAST h\n"
    " LOAD_GLOBAL async_raise\n LOAD_GLOBAL queue_get\n LOAD_FAST ready\n CALL 1\n"
    " LOAD_GLOBAL make_exc\n CALL 0\n CALL 2\n STORE_FAST n\n"
    " LOAD_GLOBAL queue_put\n LOAD_FAST go\n LOAD_CONST 1\n CALL 2\n POP_TOP\n"
    " LOAD_FAST n\n LOAD_GLOBAL thread_join\n LOAD_FAST h\n CALL 1\n BUILD_LIST 2\n RETURN_VALUE\n.end\n";

static void test_deleting_thread_state_with_undelivered_async_exc_frees_it(void **state) {
    (void)state;
    int64_t baseline = gv_mem_in_use();
    assert_non_null(Gv_Initialize());
    gvt_load(UNDELIVERED_SRC);
    gv_vdecref(gvt_call_ok("make_exc", 0, NULL)); /* whatever the first call allocates for good */
    int64_t before = gv_mem_in_use();
    GvValue exc = gvt_call_ok("make_exc", 0, NULL);
    GvThreadState *ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(ts);
    assert_int_equal(GvThreadState_SetAsyncExc(GvThreadState_GetID(ts), exc.as.o), 1);
    gv_vdecref(exc); /* ts holds the only reference now */
    GvThreadState_Delete(ts);
    int64_t left = gv_mem_in_use() - before;
    Gv_Finalize(); /* first: a failure must not leave the interpreter to the next test */
    if (left != 0)
        fail_msg("%lld bytes still counted after GvThreadState_Delete of a thread state holding an "
                 "undelivered asynchronous exception", (long long)left);
    assert_int_equal(gv_mem_in_use(), baseline);
}

static void test_thread_ending_with_masked_async_exc_pending_frees_it(void **state) {
    (void)state;
    int64_t baseline = gv_mem_in_use();
    assert_non_null(Gv_Initialize());
    gvt_load(UNDELIVERED_SRC);
    gvt_watchdog_arm(30, "a thread ending with a masked asynchronous exception");
    GvValue r = gvt_call_ok("exc_pending_at_thread_end", 0, NULL);
    GvList *l = (GvList *)r.as.o;
    assert_int_equal(l->size, 2);
    assert_true(gv_is_int(l->items[0]) && l->items[0].as.i == 1); /* it reached the thread */
    assert_true(gv_is_kind(l->items[1], GV_KSTR) && strcmp(gv_str_cstr(l->items[1].as.o), "ended masked") == 0);
    gv_vdecref(r);
    Gv_Finalize(); /* waits until the thread state is freed */
    gvt_watchdog_disarm();
    if (gv_mem_in_use() != baseline)
        fail_msg("%lld bytes still counted after Gv_Finalize: the asynchronous exception pending (masked) "
                 "when the thread ended was not freed with its thread state",
                 (long long)(gv_mem_in_use() - baseline));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finalize_with_16_daemon_threads_returns_promptly_every_round),
        cmocka_unit_test(test_acquire_thread_or_fail_returns_minus_1_during_finalization),
        cmocka_unit_test(test_thread_refused_by_acquire_or_fail_does_not_delay_finalization),
        cmocka_unit_test(test_acquire_thread_during_finalization_ends_the_thread),
        cmocka_unit_test(test_acquire_or_fail_waiting_for_gil_when_finalization_starts),
        cmocka_unit_test(test_gilstate_ensure_during_finalization_ends_the_thread),
        cmocka_unit_test(test_gilstate_ensure_during_finalization_makes_no_thread_state),
        cmocka_unit_test(test_finalize_waits_for_non_daemon_threads_only),
        cmocka_unit_test(test_finalize_waits_for_two_non_daemon_threads_ending_apart),
        cmocka_unit_test(test_queue_that_contains_itself_is_freed_at_finalization),
        cmocka_unit_test(test_cycle_through_a_list_and_a_queue_is_freed_at_finalization),
        cmocka_unit_test(test_thread_that_returns_its_own_handle_is_freed_at_finalization),
        cmocka_unit_test(test_queues_nested_a_million_deep_are_freed_without_recursion),
        cmocka_unit_test(test_deleting_thread_state_with_undelivered_async_exc_frees_it),
        cmocka_unit_test(test_thread_ending_with_masked_async_exc_pending_frees_it),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
