/* Threads the VM did not create: GvGILState_Ensure/Release (nesting, the
 * thread state it makes and deletes, running bytecode), releasing the GIL
 * around blocking C code (Gv_BEGIN/END_ALLOW_THREADS), a thread that ends
 * while holding the GIL, and a thread state made by one thread and used by
 * another (GvThreadState_New + GvEval_AcquireThread/ReleaseThread).
 *
 * "Raw" threads here are plain pthreads. While one of them needs the GIL the
 * main thread waits for it inside Gv_BEGIN/END_ALLOW_THREADS. Every wait has a
 * watchdog: a bug fails the run instead of hanging it. */
#include "gvtest.h"

static const char *SRC =
    /* bump(): counter += 1; returns thread_id() */
    ".func bump\n"
    " LOAD_GLOBAL counter\n LOAD_CONST 1\n BINARY_ADD\n STORE_GLOBAL counter\n"
    " LOAD_GLOBAL thread_id\n CALL 0\n RETURN_VALUE\n.end\n"
    ".func set_flag v\n LOAD_FAST v\n STORE_GLOBAL flag\n LOAD_CONST none\n RETURN_VALUE\n.end\n"
    /* start_setter(): a VM thread that sets flag = 1 */
    ".func start_setter\n"
    " LOAD_GLOBAL thread_start_daemon\n LOAD_GLOBAL set_flag\n LOAD_CONST 1\n CALL 2\n RETURN_VALUE\n.end\n";

static void load(void) {
    gvt_load(SRC);
    gvt_set_global("counter", gv_int(0));
    gvt_set_global("flag", gv_int(0));
}

/* Runs fn on a raw pthread while the main thread waits for it with the GIL
 * released. */
static void run_raw_thread(void *(*fn)(void *), void *arg, const char *what) {
    gvt_watchdog_arm(30, what);
    gvt_join_releasing_gil(gvt_start_thread(fn, arg));
    gvt_watchdog_disarm();
}

/* ---- GvGILState_Ensure from a raw thread, three deep ---- */

typedef struct Nested {
    int tstates_before, tstates_inside, tstates_after;
    bool check_before, check_after;
    bool check_at[3], check_after_release[3];
    GvGILState_STATE states[3];
    GvThreadState *ts_at[3];
    int64_t id_from_bytecode;
    unsigned long id_of_ts;
    bool current_after;
} Nested;

static void *nested_main(void *p) {
    Nested *n = p;
    n->check_before = GvGILState_Check();
    n->tstates_before = gvt_count_tstates();
    for (int i = 0; i < 3; i++) {
        n->states[i] = GvGILState_Ensure();
        n->check_at[i] = GvGILState_Check();
        n->ts_at[i] = GvThreadState_Get();
    }
    n->tstates_inside = gvt_count_tstates();
    /* It may run bytecode: through the eval loop, with its own thread id. */
    n->id_from_bytecode = gvt_call_int("bump", 0, NULL);
    n->id_of_ts = GvThreadState_GetID(GvThreadState_Get());
    for (int i = 2; i >= 0; i--) {
        GvGILState_Release(n->states[i]);
        n->check_after_release[i] = GvGILState_Check();
    }
    n->check_after = GvGILState_Check();
    n->current_after = GvThreadState_Get() != NULL;
    n->tstates_after = gvt_count_tstates();
    return NULL;
}

static void test_ensure_from_raw_thread_nests_three_deep(void **state) {
    (void)state;
    load();
    Nested n;
    memset(&n, 0, sizeof n);
    int main_before = gvt_count_tstates();
    run_raw_thread(nested_main, &n, "nested GvGILState_Ensure");

    assert_false(n.check_before);
    assert_int_equal(n.tstates_before, main_before);
    /* The first Ensure made a thread state; the inner ones reuse it. */
    assert_int_equal(n.states[0], GvGILState_UNLOCKED);
    assert_int_equal(n.states[1], GvGILState_LOCKED);
    assert_int_equal(n.states[2], GvGILState_LOCKED);
    for (int i = 0; i < 3; i++) {
        assert_true(n.check_at[i]);
        assert_non_null(n.ts_at[i]);
        assert_ptr_equal(n.ts_at[i], n.ts_at[0]);
    }
    assert_int_equal(n.tstates_inside, main_before + 1);
    /* It ran bytecode as itself. */
    assert_int_equal(gvt_global_int("counter"), 1);
    assert_int_equal(n.id_from_bytecode, (int64_t)n.id_of_ts);
    assert_int_not_equal(n.id_of_ts, GvThreadState_GetID(GvThreadState_Get()));
    /* The inner Releases keep the GIL; the outermost gives it back and
     * deletes the thread state. */
    assert_true(n.check_after_release[2]);
    assert_true(n.check_after_release[1]);
    assert_false(n.check_after_release[0]);
    assert_false(n.check_after);
    assert_false(n.current_after);
    assert_int_equal(n.tstates_after, main_before);
    assert_int_equal(gvt_count_tstates(), main_before);
}

/* Ensure twice in a row from the same raw thread: each outermost pair makes
 * and deletes its own thread state, with a fresh thread id. */
typedef struct Twice {
    unsigned long id[2];
    int tstates_after;
} Twice;

static void *twice_main(void *p) {
    Twice *t = p;
    for (int i = 0; i < 2; i++) {
        GvGILState_STATE s = GvGILState_Ensure();
        t->id[i] = (unsigned long)gvt_call_int("bump", 0, NULL);
        GvGILState_Release(s);
    }
    t->tstates_after = gvt_count_tstates();
    return NULL;
}

static void test_ensure_release_pairs_in_sequence_each_make_a_thread_state(void **state) {
    (void)state;
    load();
    int before = gvt_count_tstates();
    Twice t;
    memset(&t, 0, sizeof t);
    run_raw_thread(twice_main, &t, "two Ensure/Release pairs");
    assert_int_equal(gvt_global_int("counter"), 2);
    assert_int_not_equal(t.id[0], t.id[1]);
    assert_int_equal(t.tstates_after, before);
}

/* ---- Ensure on a thread that already holds the GIL ---- */

static void test_ensure_on_thread_holding_gil_returns_locked(void **state) {
    (void)state;
    load();
    GvThreadState *ts = GvThreadState_Get();
    int before = gvt_count_tstates();
    assert_true(GvGILState_Check());
    GvGILState_STATE s = GvGILState_Ensure();
    assert_int_equal(s, GvGILState_LOCKED);
    assert_true(GvGILState_Check());
    assert_ptr_equal(GvThreadState_Get(), ts);
    assert_int_equal(gvt_count_tstates(), before); /* no new thread state */
    GvGILState_Release(s);
    /* Releasing LOCKED keeps the GIL and the thread state. */
    assert_true(GvGILState_Check());
    assert_ptr_equal(GvThreadState_Get(), ts);
    assert_int_equal(gvt_call_int("bump", 0, NULL), (int64_t)GvThreadState_GetID(ts));
}

static void test_ensure_inside_allow_threads_retakes_gil_and_release_drops_it(void **state) {
    (void)state;
    load();
    GvThreadState *ts = GvThreadState_Get();
    int before = gvt_count_tstates();
    GvGILState_STATE s;
    bool inside_before, inside_ensured, inside_released;
    GvThreadState *ensured_ts;
    Gv_BEGIN_ALLOW_THREADS
    inside_before = GvGILState_Check();
    /* The main thread's own state is taken back, not a new one made. */
    s = GvGILState_Ensure();
    inside_ensured = GvGILState_Check();
    ensured_ts = GvThreadState_Get();
    GvGILState_Release(s);
    inside_released = GvGILState_Check();
    Gv_END_ALLOW_THREADS
    assert_false(inside_before);
    assert_int_equal(s, GvGILState_UNLOCKED);
    assert_true(inside_ensured);
    assert_ptr_equal(ensured_ts, ts);
    assert_false(inside_released);
    assert_true(GvGILState_Check());
    assert_int_equal(gvt_count_tstates(), before);
}

/* ---- releasing the GIL around blocking C code ---- */

typedef struct Handshake {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
} Handshake;

static void *set_flag_and_signal(void *p) {
    Handshake *h = p;
    GvGILState_STATE s = GvGILState_Ensure();
    GvValue v = gv_int(42);
    gv_vdecref(gvt_call_ok("set_flag", 1, &v));
    GvGILState_Release(s);
    pthread_mutex_lock(&h->m);
    h->done = true;
    pthread_cond_signal(&h->c);
    pthread_mutex_unlock(&h->m);
    return NULL;
}

/* The main thread blocks on a pthread condition that only the other thread
 * signals, and only after running bytecode: so it ran while main was
 * blocked, which it can only do if main released the GIL. */
static void test_allow_threads_lets_another_thread_run_bytecode_while_blocked(void **state) {
    (void)state;
    load();
    Handshake h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    pthread_t t;
    gvt_watchdog_arm(30, "blocked in Gv_BEGIN_ALLOW_THREADS");
    t = gvt_start_thread(set_flag_and_signal, &h);
    bool main_held_gil_while_blocked;
    Gv_BEGIN_ALLOW_THREADS
    main_held_gil_while_blocked = GvGILState_Check();
    pthread_mutex_lock(&h.m);
    while (!h.done) pthread_cond_wait(&h.c, &h.m);
    pthread_mutex_unlock(&h.m);
    pthread_join(t, NULL);
    Gv_END_ALLOW_THREADS
    gvt_watchdog_disarm();
    assert_false(main_held_gil_while_blocked);
    assert_int_equal(gvt_global_int("flag"), 42);
}

/* The same with a thread the VM started (thread_start_daemon) and a plain
 * usleep: the flag can only change while main is inside the block, since it
 * holds the GIL everywhere else. */
static void test_allow_threads_around_usleep_lets_vm_thread_run(void **state) {
    (void)state;
    load();
    gv_vdecref(gvt_call_ok("start_setter", 0, NULL));
    assert_int_equal(gvt_global_int("flag"), 0);
    gvt_watchdog_arm(30, "VM thread during usleep");
    int windows = 0;
    while (gvt_global_int("flag") == 0) {
        assert_int_equal(gvt_global_int("flag"), 0); /* held GIL: nothing moves */
        Gv_BEGIN_ALLOW_THREADS
        usleep(20000);
        Gv_END_ALLOW_THREADS
        windows++;
    }
    gvt_watchdog_disarm();
    assert_int_equal(gvt_global_int("flag"), 1);
    assert_true(windows >= 1);
}

/* ---- a thread that ends while holding the GIL ---- */

static void *ensure_then_exit(void *p) {
    (void)p;
    GvGILState_Ensure();
    gvt_call_int("bump", 0, NULL);
    pthread_exit(NULL); /* no Release */
}

static void test_thread_exiting_while_holding_gil_releases_it(void **state) {
    (void)state;
    load();
    int before = gvt_count_tstates();
    GvGILStats s0, s1;
    GvGIL_GetStats(&s0);
    /* If the GIL stayed with the dead thread, END_ALLOW_THREADS would wait
     * forever: the watchdog turns that into a failure. */
    run_raw_thread(ensure_then_exit, NULL, "taking the GIL back from a thread that exited holding it");
    assert_true(GvGILState_Check());
    assert_int_equal(gvt_global_int("counter"), 1);
    /* Its thread state is gone too, and the GIL can be passed around again. */
    assert_int_equal(gvt_count_tstates(), before);
    GvGIL_GetStats(&s1);
    assert_true(s1.voluntary_drops >= s0.voluntary_drops + 2); /* main's, the dead thread's */
    assert_int_equal(gvt_call_int("bump", 0, NULL), (int64_t)GvThreadState_GetID(GvThreadState_Get()));
    Gv_BEGIN_ALLOW_THREADS
    Gv_END_ALLOW_THREADS
    assert_int_equal(gvt_global_int("counter"), 2);
}

/* ---- a thread state made by one thread, used by another ---- */

static void *acquire_bump_release(void *p) {
    GvThreadState *ts = p;
    GvEval_AcquireThread(ts);
    gvt_call_int("bump", 0, NULL);
    GvEval_ReleaseThread(ts);
    return NULL; /* the thread ends; ts stays with its owner */
}

/* CPython's pattern for threads created elsewhere: the owner makes a thread
 * state, the thread takes the GIL with it and gives it back, and the owner
 * deletes it when the thread is done. The thread's end must not delete it
 * (that would make the owner's Delete a double free), and deleting it must
 * not leave finalization waiting for a thread that is gone. */
static void test_thread_state_used_by_raw_thread_is_deleted_by_its_owner(void **state) {
    (void)state;
    load();
    int before = gvt_count_tstates();
    GvThreadState *ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(ts);
    assert_int_equal(gvt_count_tstates(), before + 1);
    run_raw_thread(acquire_bump_release, ts, "AcquireThread/ReleaseThread from a raw thread");
    assert_int_equal(gvt_global_int("counter"), 1);
    if (gvt_count_tstates() != before + 1)
        fail_msg("the raw thread's exit deleted the thread state its owner still holds "
                 "(%d thread states, expected %d): the owner's GvThreadState_Delete would free it twice",
                 gvt_count_tstates(), before + 1);
    GvThreadState_Clear(ts);
    GvThreadState_Delete(ts);
    assert_int_equal(gvt_count_tstates(), before);
    /* Nothing is left for finalization to wait for. */
    double t0 = gvt_now();
    Gv_Finalize();
    double took = gvt_now() - t0;
    assert_non_null(Gv_Initialize()); /* for the teardown */
    if (took > 1.5) fail_msg("Gv_Finalize took %.2f s: it waited for a deleted thread state", took);
}

/* ---- the running count and finalization ----
 * interp->threads_running counts the threads finalization must wait for: a
 * thread inside the VM through GvGILState_Ensure or GvEval_AcquireThread is
 * counted until it gives the GIL back for good. Each Ensure/Release (or
 * Acquire/Release) must leave the count where it was: a count left one too
 * high makes Gv_Finalize wait for a thread that is gone, give up after 2 s
 * and leak the interpreter; one too low lets it free memory a thread is still
 * using. These tests make their own interpreter, so that they can check that
 * Gv_Finalize then gives back all the memory counted since before it. */

static int running_count(void) {
    GvInterpreterState *interp = GvInterpreterState_Get();
    pthread_mutex_lock(&interp->mutex);
    int n = interp->threads_running;
    pthread_mutex_unlock(&interp->mutex);
    return n;
}

/* Finalizes the interpreter, then fails with `problem` (if not empty: found
 * before, but reported only now, so that a failure leaves no interpreter
 * behind for the next test), or if finalizing took long (it waited for a
 * thread that was not there) or left memory counted since `baseline`. */
static void finalize_and_check(int64_t baseline, const char *problem) {
    double t0 = gvt_now();
    Gv_Finalize();
    double took = gvt_now() - t0;
    int64_t left = gv_mem_in_use() - baseline;
    if (problem[0]) fail_msg("%s", problem);
    if (took > 1.5) fail_msg("Gv_Finalize took %.2f s: it waited for a thread that had left", took);
    if (left != 0) fail_msg("%lld bytes still counted after Gv_Finalize", (long long)left);
}

typedef struct Counts {
    int inside[2];  /* the running count with the GIL held, per Ensure/Release round */
    int after;      /* after the last Release, from the same thread */
} Counts;

static void *ensure_nested_twice(void *p) {
    Counts *c = p;
    for (int round = 0; round < 2; round++) {
        GvGILState_STATE outer = GvGILState_Ensure();
        GvGILState_STATE inner = GvGILState_Ensure();
        gvt_call_int("bump", 0, NULL);
        c->inside[round] = running_count();
        GvGILState_Release(inner);
        GvGILState_Release(outer);
    }
    c->after = running_count();
    return NULL;
}

static void test_ensure_release_leaves_running_count_and_finalize_frees_all(void **state) {
    (void)state;
    int64_t baseline = gv_mem_in_use();
    assert_non_null(Gv_Initialize());
    load();
    int before = running_count();
    Counts c;
    memset(&c, 0, sizeof c);
    run_raw_thread(ensure_nested_twice, &c, "nested Ensure/Release, twice");
    char problem[256] = "";
    if (gvt_global_int("counter") != 2) snprintf(problem, sizeof problem, "the GILState thread did not run bump() twice");
    for (int round = 0; round < 2; round++)
        if (!problem[0] && c.inside[round] != before + 1)
            snprintf(problem, sizeof problem,
                     "round %d: %d threads running inside Ensure, expected %d (the GILState thread counted once)",
                     round, c.inside[round], before + 1);
    if (!problem[0] && (c.after != before || running_count() != before))
        snprintf(problem, sizeof problem, "Ensure/Release left the running count at %d (then %d), expected %d",
                 c.after, running_count(), before);
    finalize_and_check(baseline, problem);
}

/* A thread whose state its owner made (GvThreadState_New): it takes the GIL
 * with GvEval_AcquireThread, nests Ensure/Release inside (LOCKED: nothing to
 * count), gives the GIL back, then comes back through Ensure alone. */
typedef struct Owned {
    GvThreadState *ts;
    GvGILState_STATE inner[2], later;
    int inside_acquired, inside_ensured, after_release, after_ensure;
} Owned;

static void *owned_main(void *p) {
    Owned *o = p;
    GvEval_AcquireThread(o->ts);
    o->inner[0] = GvGILState_Ensure();
    o->inner[1] = GvGILState_Ensure();
    gvt_call_int("bump", 0, NULL);
    GvGILState_Release(o->inner[1]);
    GvGILState_Release(o->inner[0]);
    o->inside_acquired = running_count();
    GvEval_ReleaseThread(o->ts);
    o->after_release = running_count();
    o->later = GvGILState_Ensure(); /* the thread's bound state, taken back */
    GvGILState_STATE again = GvGILState_Ensure();
    gvt_call_int("bump", 0, NULL);
    o->inside_ensured = running_count();
    GvGILState_Release(again);
    GvGILState_Release(o->later);
    o->after_ensure = running_count();
    return NULL;
}

static void test_ensure_on_thread_with_acquired_state_leaves_running_count(void **state) {
    (void)state;
    int64_t baseline = gv_mem_in_use();
    assert_non_null(Gv_Initialize());
    load();
    int before = running_count(), tstates = gvt_count_tstates();
    Owned o;
    memset(&o, 0, sizeof o);
    o.ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(o.ts);
    run_raw_thread(owned_main, &o, "Ensure on a thread with an acquired thread state");
    char problem[256] = "";
    if (gvt_global_int("counter") != 2)
        snprintf(problem, sizeof problem, "the thread did not run bump() twice");
    else if (o.inner[0] != GvGILState_LOCKED || o.inner[1] != GvGILState_LOCKED || o.later != GvGILState_UNLOCKED)
        snprintf(problem, sizeof problem, "Ensure returned %d, %d (inside AcquireThread) and %d (after ReleaseThread)",
                 o.inner[0], o.inner[1], o.later);
    else if (o.inside_acquired != before + 1 || o.inside_ensured != before + 1)
        snprintf(problem, sizeof problem, "%d threads running inside AcquireThread, %d inside Ensure; expected %d",
                 o.inside_acquired, o.inside_ensured, before + 1);
    else if (o.after_release != before || o.after_ensure != before || running_count() != before)
        snprintf(problem, sizeof problem,
                 "running count %d after ReleaseThread, %d after the later Ensure/Release, %d after the thread "
                 "ended; expected %d each time", o.after_release, o.after_ensure, running_count(), before);
    /* Ensure reused the state it was given: no new one, and it is still there. */
    else if (gvt_count_tstates() != tstates + 1)
        snprintf(problem, sizeof problem, "%d thread states, expected %d", gvt_count_tstates(), tstates + 1);
    GvThreadState_Clear(o.ts);
    GvThreadState_Delete(o.ts);
    if (!problem[0] && (running_count() != before || gvt_count_tstates() != tstates))
        snprintf(problem, sizeof problem, "after GvThreadState_Delete: running count %d (expected %d), %d thread "
                 "states (expected %d)", running_count(), before, gvt_count_tstates(), tstates);
    finalize_and_check(baseline, problem);
}

/* A VM thread (thread_start) that gives the GIL up in C code of its own (a
 * pending call that blocks in Gv_BEGIN_ALLOW_THREADS) stays counted while it
 * is away, as it is inside a VM wait: when it comes back, GvEval_RestoreThread
 * must not count it a second time. */
static const char *VM_AWAY_SRC =
    ".func vm_worker\n"
    " LOAD_GLOBAL queue_put\n LOAD_GLOBAL ready\n LOAD_GLOBAL thread_id\n CALL 0\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL queue_get\n LOAD_GLOBAL go\n CALL 1\n RETURN_VALUE\n.end\n"
    /* start_worker(): starts vm_worker, returns its thread id */
    ".func start_worker\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_GLOBAL ready\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_GLOBAL go\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL vm_worker\n CALL 1\n STORE_GLOBAL h\n"
    " LOAD_GLOBAL queue_get\n LOAD_GLOBAL ready\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func finish_worker\n"
    " LOAD_GLOBAL queue_put\n LOAD_GLOBAL go\n LOAD_CONST 7\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL thread_join\n LOAD_GLOBAL h\n CALL 1\n RETURN_VALUE\n.end\n";

typedef struct Away {
    _Atomic int runs;
    int running_inside; /* the running count once back from Gv_END_ALLOW_THREADS */
} Away;

static int away_in_c(void *arg) {
    Away *a = arg;
    Gv_BEGIN_ALLOW_THREADS
    gvt_msleep(1);
    Gv_END_ALLOW_THREADS
    a->running_inside = running_count();
    atomic_fetch_add(&a->runs, 1);
    return 0;
}

/* Lets other threads run until cond(arg) holds or `seconds` pass. */
static bool allow_threads_until(bool (*cond)(void *), void *arg, double seconds) {
    double end = gvt_now() + seconds;
    bool ok;
    while (!(ok = cond(arg)) && gvt_now() < end) {
        Gv_BEGIN_ALLOW_THREADS
        gvt_msleep(1);
        Gv_END_ALLOW_THREADS
    }
    return ok;
}

static bool away_ran(void *arg) { return atomic_load(&((Away *)arg)->runs) > 0; }
static bool running_back_to(void *arg) { return running_count() == *(int *)arg; }

static void test_vm_thread_releasing_gil_in_c_code_is_counted_once(void **state) {
    (void)state;
    int64_t baseline = gv_mem_in_use();
    assert_non_null(Gv_Initialize());
    gvt_load(VM_AWAY_SRC);
    int before = running_count();
    Away a;
    memset(&a, 0, sizeof a);
    gvt_watchdog_arm(30, "a VM thread releasing the GIL in C code");
    unsigned long id = (unsigned long)gvt_call_int("start_worker", 0, NULL);
    assert_int_equal(Gv_AddPendingCallToThread(id, away_in_c, &a), 0);
    char problem[256] = "";
    if (!allow_threads_until(away_ran, &a, 10))
        snprintf(problem, sizeof problem, "the pending call never ran on the VM thread");
    else if (a.running_inside != before + 1)
        snprintf(problem, sizeof problem,
                 "%d threads running once the VM thread was back from Gv_END_ALLOW_THREADS, expected %d",
                 a.running_inside, before + 1);
    if (gvt_call_int("finish_worker", 0, NULL) != 7 && !problem[0])
        snprintf(problem, sizeof problem, "the VM thread did not return 7");
    /* It leaves the count as it ends, just after thread_join returned. */
    if (!allow_threads_until(running_back_to, &before, 5) && !problem[0])
        snprintf(problem, sizeof problem, "the running count stayed at %d after the VM thread ended, expected %d",
                 running_count(), before);
    gvt_watchdog_disarm();
    finalize_and_check(baseline, problem);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ensure_from_raw_thread_nests_three_deep, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_release_pairs_in_sequence_each_make_a_thread_state, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_on_thread_holding_gil_returns_locked, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_inside_allow_threads_retakes_gil_and_release_drops_it,
                                        gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_allow_threads_lets_another_thread_run_bytecode_while_blocked,
                                        gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_allow_threads_around_usleep_lets_vm_thread_run, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_thread_exiting_while_holding_gil_releases_it, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_thread_state_used_by_raw_thread_is_deleted_by_its_owner, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test(test_ensure_release_leaves_running_count_and_finalize_frees_all),
        cmocka_unit_test(test_ensure_on_thread_with_acquired_state_leaves_running_count),
        cmocka_unit_test(test_vm_thread_releasing_gil_in_c_code_is_counted_once),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
