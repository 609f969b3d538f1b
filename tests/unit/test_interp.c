/* Several interpreters (issue 23): making and ending them from C, each with
 * its own GIL; every service per interpreter (globals, switch interval,
 * recursion limit, thread dicts, asynchronous exceptions, pending calls);
 * ending one while another runs; guards and views (PEP 788) refusing once an
 * interpreter is finalizing; an interpreter sharing main's GIL (its threads
 * take turns with main's); GvThreadState_Ensure attaching a thread to a
 * chosen interpreter; channels between interpreters, and values that cannot
 * be copied. Every wait has a watchdog. */
#include "gvtest.h"

#include "../../runtime/channel.h"

static const char *SRC =
    ".func ident\n LOAD_GLOBAL interp_id\n CALL 0\n RETURN_VALUE\n.end\n"
    ".func tid\n LOAD_GLOBAL thread_id\n CALL 0\n RETURN_VALUE\n.end\n"
    ".func limit\n LOAD_GLOBAL get_recursion_limit\n CALL 0\n RETURN_VALUE\n.end\n"
    ".func tls_len\n LOAD_GLOBAL len\n LOAD_GLOBAL tls\n CALL 0\n CALL 1\n RETURN_VALUE\n.end\n"
    /* put(c, v): chan_put(c, v) */
    ".func put c v\n LOAD_GLOBAL chan_put\n LOAD_FAST c\n LOAD_FAST v\n CALL 2\n RETURN_VALUE\n.end\n"
    /* get(c): chan_get(c) */
    ".func get c\n LOAD_GLOBAL chan_get\n LOAD_FAST c\n CALL 1\n RETURN_VALUE\n.end\n"
    /* count(c): counts rounds until a value arrives on c (polling, GIL kept
     * between switch intervals); puts its id on c+1 first. */
    ".func count c ready\n .local n\n LOAD_CONST 0\n STORE_FAST n\n"
    " LOAD_GLOBAL chan_put\n LOAD_FAST ready\n LOAD_CONST 1\n CALL 2\n POP_TOP\n"
    "top:\n LOAD_GLOBAL chan_get\n LOAD_FAST c\n LOAD_CONST 0\n CALL 2\n LOAD_CONST none\n COMPARE_EQ\n"
    " POP_JUMP_IF_FALSE done\n LOAD_FAST n\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST n\n JUMP top\n"
    "done:\n LOAD_FAST n\n RETURN_VALUE\n.end\n"
    /* consume(c, n): the sum of n values got from c (each get may wait) */
    ".func consume c n\n .local s i\n LOAD_CONST 0\n STORE_FAST s\n LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
    " LOAD_FAST s\n LOAD_GLOBAL chan_get\n LOAD_FAST c\n CALL 1\n BINARY_ADD\n STORE_FAST s\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "done:\n LOAD_FAST s\n RETURN_VALUE\n.end\n"
    /* bad(): 1, from a handler of the ValueError int("x") raised */
    ".func bad\n .local e\n .try start end handler\n"
    "start:\n LOAD_GLOBAL int\n LOAD_CONST \"x\"\n CALL 1\n RETURN_VALUE\nend:\n"
    "handler:\n LOAD_GLOBAL ValueError\n CHECK_EXC_MATCH\n POP_JUMP_IF_FALSE other\n STORE_FAST e\n"
    " POP_EXCEPT\n LOAD_CONST 1\n RETURN_VALUE\nother:\n RERAISE\n.end\n"
    /* churn(c, n): n exceptions raised and caught; returns n */
    ".func churn c n\n .local s i\n LOAD_CONST 0\n STORE_FAST s\n LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
    " LOAD_FAST s\n LOAD_GLOBAL bad\n CALL 0\n BINARY_ADD\n STORE_FAST s\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "done:\n LOAD_FAST s\n RETURN_VALUE\n.end\n"
    /* produce(c, n): puts 0..n-1 on c */
    ".func produce c n\n .local i\n LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
    " LOAD_GLOBAL chan_put\n LOAD_FAST c\n LOAD_FAST i\n CALL 2\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "done:\n LOAD_CONST none\n RETURN_VALUE\n.end\n";

static GvInterpreterState *main_interp(void) { return GvInterpreterState_Main(); }

/* ---- lifecycle ---- */

static void test_new_and_end(void **state) {
    (void)state;
    GvThreadState *main_ts = GvThreadState_Get();
    gvt_load(SRC);
    gvt_set_global("only_in_main", gv_int(1));
    assert_int_equal(GvInterpreterState_GetID(main_interp()), 0);
    assert_ptr_equal(GvInterpreterState_Get(), main_interp());

    GvThreadState *ts = GvInterpreter_New();
    assert_non_null(ts);
    assert_ptr_equal(GvThreadState_Get(), ts);
    assert_true(GvGILState_Check());
    GvInterpreterState *sub = GvInterpreterState_Get();
    assert_ptr_not_equal(sub, main_interp());
    assert_ptr_equal(GvInterpreterState_Main(), main_interp());
    long long id = GvInterpreterState_GetID(sub);
    assert_true(id > 0);
    assert_false(main_ts->holds_gil); /* the caller's state was detached */

    /* Its own globals: the program is loaded again, main's global is not there. */
    gvt_load(SRC);
    assert_false(gvt_has_global("only_in_main"));
    assert_int_equal(gvt_call_int("ident", 0, NULL), id);
    /* Thread ids are distinct across the process. */
    assert_int_not_equal(GvThreadState_GetID(ts), GvThreadState_GetID(main_ts));

    GvInterpreter_End(ts);
    assert_null(GvThreadState_Get());
    GvEval_RestoreThread(main_ts);
    assert_ptr_equal(GvInterpreterState_Get(), main_interp());
    assert_int_equal(gvt_call_int("ident", 0, NULL), 0);
    assert_int_equal(gvt_global_int("only_in_main"), 1);

    /* A second one gets another id. */
    GvThreadState *ts2 = GvInterpreter_New();
    assert_non_null(ts2);
    assert_true(GvInterpreterState_GetID(ts2->interp) > id);
    GvInterpreter_End(ts2);
    GvEval_RestoreThread(main_ts);
}

static void test_bad_config(void **state) {
    (void)state;
    GvInterpreterConfig cfg = {.gil = 7};
    assert_null(GvInterpreter_NewFromConfig(&cfg));
    assert_ptr_equal(GvInterpreterState_Get(), main_interp()); /* nothing changed */
    assert_true(GvGILState_Check());
    assert_int_equal(GvInterpreterState_GetID(NULL), -1);
}

/* Settings are per interpreter: a new one starts from the defaults, and
 * changing its own leaves main's alone. */
static void test_settings_per_interpreter(void **state) {
    (void)state;
    GvThreadState *main_ts = GvThreadState_Get();
    assert_int_equal(Gv_SetSwitchInterval(0.25), 0);
    assert_int_equal(Gv_SetRecursionLimit(77), 0);
    GvObject *d = GvThreadState_GetDict();
    GvObject *k = gv_str_from_cstr("k");
    assert_int_equal(gv_dict_set((GvDict *)d, gv_obj(k), gv_int(1)), 0);
    gv_decref(k);

    GvThreadState *ts = GvInterpreter_New();
    assert_non_null(ts);
    gvt_load(SRC);
    assert_true(Gv_GetSwitchInterval() == 0.005);
    assert_int_equal(gvt_call_int("limit", 0, NULL), GV_DEFAULT_RECURSION_LIMIT);
    assert_int_equal(gvt_call_int("tls_len", 0, NULL), 0);
    assert_int_equal(Gv_SetSwitchInterval(0.5), 0);
    assert_int_equal(Gv_SetRecursionLimit(500), 0);
    GvInterpreter_End(ts);
    GvEval_RestoreThread(main_ts);

    assert_true(Gv_GetSwitchInterval() == 0.25);
    assert_int_equal(Gv_GetRecursionLimit(), 77);
}

/* ---- own GIL: two interpreters run at once ---- */

/* A thread that makes an interpreter and runs put(c, "hello") in it. */
static void *putter_main(void *p) {
    int64_t c = *(int64_t *)p;
    GvThreadState *ts = GvInterpreter_New();
    if (!ts) return NULL;
    gvt_load(SRC);
    GvValue args[2] = {gv_int(c), gvt_str("hello")};
    GvValue r;
    if (gvt_call("put", 2, args, &r) == 0) gv_vdecref(r);
    gv_vdecref(args[1]);
    GvInterpreter_End(ts);
    return NULL;
}

static void test_own_gil_runs_in_parallel(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    int64_t c = gv_chan_new();
    assert_true(c > 0);
    /* Main keeps its GIL the whole time (polling, never waiting): the other
     * interpreter can only run because it has a GIL of its own. */
    gvt_watchdog_arm(60, "own GIL");
    pthread_t t = gvt_start_thread(putter_main, &c);
    GvValue v = gv_none();
    double end = gvt_now() + 30;
    int got = 0;
    while (got == 0 && gvt_now() < end) {
        got = gv_chan_get(ts, c, 0, &v);
        assert_true(got >= 0);
        assert_true(ts->holds_gil);
    }
    assert_int_equal(got, 1);
    assert_string_equal(gv_str_cstr(v.as.o), "hello");
    gv_vdecref(v);
    gvt_join_releasing_gil(t);
    gvt_watchdog_disarm();
}

/* ---- ending one interpreter while another runs ---- */

typedef struct Counter {
    int64_t stop, ready;
    int64_t rounds;
    GvInterpreterView *view;
} Counter;

/* Runs count(stop, ready) in an interpreter of its own. */
static void *counter_main(void *p) {
    Counter *k = p;
    GvThreadState *ts = GvInterpreter_New();
    if (!ts) return NULL;
    k->view = GvInterpreterView_FromCurrent();
    gvt_load(SRC);
    GvValue args[2] = {gv_int(k->stop), gv_int(k->ready)};
    k->rounds = gvt_call_int("count", 2, args);
    GvInterpreter_End(ts);
    return NULL;
}

static void wait_value(int64_t c) {
    GvValue v;
    int got = gv_chan_get(GvThreadState_Get(), c, 30, &v);
    assert_int_equal(got, 1);
    gv_vdecref(v);
}

static void test_end_one_while_another_runs(void **state) {
    (void)state;
    GvThreadState *main_ts = GvThreadState_Get();
    Counter k = {.stop = gv_chan_new(), .ready = gv_chan_new()};
    gvt_watchdog_arm(60, "end one while another runs");
    pthread_t t = gvt_start_thread(counter_main, &k);
    wait_value(k.ready); /* it is counting */

    /* Make and end another interpreter meanwhile, twice. */
    for (int i = 0; i < 2; i++) {
        GvThreadState *ts = GvInterpreter_New();
        assert_non_null(ts);
        gvt_load(SRC);
        assert_true(gvt_call_int("ident", 0, NULL) > 0);
        GvInterpreter_End(ts);
        GvEval_RestoreThread(main_ts);
    }
    /* The counter's interpreter is still alive and running. */
    GvInterpreterGuard *g = GvInterpreterGuard_FromView(k.view);
    assert_non_null(g);
    GvInterpreterGuard_Close(g);
    /* Let it count a while (our GIL released: it needs none of it). */
    GvThreadState *saved = GvEval_SaveThread();
    gvt_msleep(50);
    GvEval_RestoreThread(saved);
    GvShared *s;
    assert_int_equal(gv_shared_from(gv_int(1), "stop", &s), 0);
    assert_int_equal(gv_chan_put(k.stop, s), 0);
    gvt_join_releasing_gil(t);
    gvt_watchdog_disarm();
    assert_true(k.rounds > 0);
    /* Ended: its view no longer gives a guard. */
    assert_null(GvInterpreterGuard_FromView(k.view));
    GvInterpreterView_Close(k.view);
}

/* ---- shared GIL: an interpreter whose threads take turns with main's ---- */

static const GvInterpreterConfig SHARED = {.gil = GV_INTERP_SHARED_GIL};

static void test_shared_gil_runs_code(void **state) {
    (void)state;
    GvThreadState *main_ts = GvThreadState_Get();
    gvt_load(SRC);
    GvGILMode mode = Gv_GetGILMode();
    GvGILStats before;
    GvGIL_GetStats(&before);

    GvThreadState *ts = GvInterpreter_NewFromConfig(&SHARED);
    assert_non_null(ts);
    assert_ptr_equal(GvThreadState_Get(), ts);
    assert_true(GvGILState_Check());
    assert_false(main_ts->holds_gil);
    GvInterpreterState *sub = GvInterpreterState_Get();
    assert_ptr_not_equal(sub, main_interp());
    assert_true(GvInterpreterState_GetID(sub) > 0);
    /* Its own globals and program... */
    assert_false(gvt_has_global("ident"));
    gvt_load(SRC);
    assert_int_equal(gvt_call_int("ident", 0, NULL), GvInterpreterState_GetID(sub));
    assert_int_equal(gvt_call_int("churn", 2, (GvValue[]){gv_int(0), gv_int(20)}), 20);
    /* ... but main's GIL: its mode, its counters (this take was counted
     * there), its switch interval. */
    assert_int_equal(Gv_GetGILMode(), mode);
    GvGILStats now;
    GvGIL_GetStats(&now);
    assert_true(now.acquisitions > before.acquisitions);
    assert_int_equal(Gv_SetSwitchInterval(0.125), 0);
    GvInterpreter_End(ts);
    assert_null(GvThreadState_Get());

    /* Main's GIL is free again and main runs (a GIL left locked would hang
     * here: the watchdog). */
    gvt_watchdog_arm(60, "main after a shared-GIL interpreter ended");
    GvEval_RestoreThread(main_ts);
    gvt_watchdog_disarm();
    assert_int_equal(gvt_call_int("ident", 0, NULL), 0);
    assert_true(Gv_GetSwitchInterval() == 0.125);
    GvThreadState *saved = GvEval_SaveThread();
    GvEval_RestoreThread(saved);
    assert_int_equal(gvt_call_int("churn", 2, (GvValue[]){gv_int(0), gv_int(20)}), 20);
}

/* Trace hooks on a thread of each interpreter: every event is counted, and
 * an event that finds the other interpreter inside its hook is an overlap
 * (both running at once). */
enum { MAIN_SIDE, SUB_SIDE };
static _Atomic int in_hook, overlaps;
static _Atomic long side_events[2];
static int exclusion_hook(void *side, const GvTraceEvent *ev) {
    (void)ev;
    if (atomic_exchange(&in_hook, 1)) atomic_fetch_add(&overlaps, 1);
    atomic_fetch_add(&side_events[*(int *)side], 1);
    for (volatile int i = 0; i < 100; i++) {
    }
    atomic_store(&in_hook, 0);
    return 0;
}
static int sub_side = SUB_SIDE, main_side = MAIN_SIDE;

/* Runs count(stop, ready) in an interpreter sharing main's GIL, traced. */
static void *shared_counter_main(void *p) {
    Counter *k = p;
    GvThreadState *ts = GvInterpreter_NewFromConfig(&SHARED);
    if (!ts) return NULL;
    k->view = GvInterpreterView_FromCurrent();
    gvt_load(SRC);
    GvEval_SetTrace(exclusion_hook, &sub_side);
    GvValue args[2] = {gv_int(k->stop), gv_int(k->ready)};
    k->rounds = gvt_call_int("count", 2, args);
    GvEval_SetTrace(NULL, NULL);
    GvInterpreter_End(ts);
    return NULL;
}

static void test_shared_gil_takes_turns(void **state) {
    (void)state;
    gvt_load(SRC);
    atomic_store(&overlaps, 0);
    atomic_store(&side_events[MAIN_SIDE], 0);
    atomic_store(&side_events[SUB_SIDE], 0);
    assert_int_equal(Gv_SetSwitchInterval(0.0005), 0);
    Counter k = {.stop = gv_chan_new(), .ready = gv_chan_new()};
    gvt_watchdog_arm(120, "shared GIL takes turns");
    pthread_t t = gvt_start_thread(shared_counter_main, &k);
    wait_value(k.ready); /* it is counting: it never waits, never drops the GIL by itself */
    GvEval_SetTrace(exclusion_hook, &main_side);

    /* Mutual exclusion: while main holds the GIL (in C, not at a checkpoint
     * where it would honour a drop request), the other interpreter's thread
     * runs nothing; with a GIL of its own it would count on meanwhile. */
    for (int i = 0; i < 5; i++) {
        assert_true(GvThreadState_Get()->holds_gil);
        long seen = atomic_load(&side_events[SUB_SIDE]);
        gvt_msleep(20); /* 40 switch intervals */
        assert_int_equal(atomic_load(&side_events[SUB_SIDE]), seen);
        /* Switching: main's bytecode runs only by taking the GIL from a
         * thread that never gives it up unasked, and the other gets it back
         * in the middle of main's run. */
        double end = gvt_now() + 30;
        while (atomic_load(&side_events[SUB_SIDE]) == seen && gvt_now() < end)
            assert_int_equal(gvt_call_int("churn", 2, (GvValue[]){gv_int(0), gv_int(50)}), 50);
        assert_true(atomic_load(&side_events[SUB_SIDE]) > seen);
    }
    GvEval_SetTrace(NULL, NULL);
    assert_true(atomic_load(&side_events[MAIN_SIDE]) > 0);
    assert_int_equal(atomic_load(&overlaps), 0);

    /* A mode change needs a single thread on the GIL, of either interpreter. */
    assert_int_equal(Gv_SetGILMode(GV_GIL_PRIORITY), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    GvErr_Clear();
    assert_int_equal(Gv_SetSchedule(1, 10), -1);
    GvErr_Clear();

    GvShared *s;
    assert_int_equal(gv_shared_from(gv_int(1), "stop", &s), 0);
    assert_int_equal(gv_chan_put(k.stop, s), 0);
    gvt_join_releasing_gil(t);
    gvt_watchdog_disarm();
    assert_true(k.rounds > 0);
    assert_null(GvInterpreterGuard_FromView(k.view));
    GvInterpreterView_Close(k.view);

    /* Ended: main's GIL is main's alone again. */
    assert_int_equal(Gv_SetGILMode(GV_GIL_PRIORITY), 0);
    assert_int_equal(Gv_GetGILMode(), GV_GIL_PRIORITY);
    assert_int_equal(gvt_call_int("churn", 2, (GvValue[]){gv_int(0), gv_int(20)}), 20);
}

/* From inside the sharing interpreter too: main's thread state exists. */
static void test_shared_gil_mode_refused_inside(void **state) {
    (void)state;
    GvThreadState *main_ts = GvThreadState_Get();
    GvGILMode mode = Gv_GetGILMode();
    GvGILMode other = mode == GV_GIL_PRIORITY ? GV_GIL_CLASSIC : GV_GIL_PRIORITY;
    GvThreadState *ts = GvInterpreter_NewFromConfig(&SHARED);
    assert_non_null(ts);
    assert_int_equal(Gv_SetGILMode(other), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    GvErr_Clear();
    assert_int_equal(Gv_GetGILMode(), mode);
    GvInterpreter_End(ts);
    GvEval_RestoreThread(main_ts);
    assert_int_equal(Gv_SetGILMode(other), 0);
    assert_int_equal(Gv_GetGILMode(), other);
}

static void finalize_with_sharer(void) {
    GvThreadState *main_ts = GvThreadState_Get();
    if (!GvInterpreter_NewFromConfig(&SHARED)) return;
    GvEval_SaveThread();
    GvEval_RestoreThread(main_ts);
    Gv_Finalize();
}

static void test_shared_gil_finalize_refused(void **state) {
    (void)state;
    gvt_expect_fatal("Gv_Finalize with a sharer", finalize_with_sharer, "Gv_Finalize: other interpreters still exist");
}

/* ---- guards ---- */

typedef struct Ender {
    GvThreadState *ts;
    _Atomic bool done;
} Ender;

static void *ender_main(void *p) {
    Ender *e = p;
    GvEval_AcquireThread(e->ts);
    GvInterpreter_End(e->ts);
    atomic_store(&e->done, true);
    return NULL;
}

static void test_guard_holds_off_finalization(void **state) {
    (void)state;
    GvThreadState *main_ts = GvThreadState_Get();
    GvThreadState *sub_ts = GvInterpreter_New();
    assert_non_null(sub_ts);
    gvt_load(SRC);
    long long sub_id = GvInterpreterState_GetID(sub_ts->interp);
    GvInterpreterView *view = GvInterpreterView_FromCurrent();
    GvInterpreterGuard *guard = GvInterpreterGuard_FromCurrent();
    assert_non_null(view);
    assert_non_null(guard);
    GvEval_ReleaseThread(sub_ts);
    GvEval_RestoreThread(main_ts);

    /* Another thread ends the interpreter: it waits for our guard. */
    Ender e = {.ts = sub_ts};
    gvt_watchdog_arm(60, "guard");
    pthread_t t;
    {
        GvThreadState *saved = GvEval_SaveThread();
        t = gvt_start_thread(ender_main, &e);
        gvt_msleep(100);
        assert_false(atomic_load(&e.done));
        /* Closing: no new guard, from a view or otherwise; the thread that
         * asked goes on. */
        assert_null(GvInterpreterGuard_FromView(view));
        /* The guard we hold still attaches us, from a thread of the main
         * interpreter (detached first, restored by Release). */
        GvEval_RestoreThread(saved);
        assert_int_equal(GvThreadState_Ensure(guard), 0);
        assert_int_equal(gvt_call_int("ident", 0, NULL), sub_id);
        assert_ptr_equal(GvInterpreterState_Get(), sub_ts->interp);
        GvThreadState_Release();
        assert_ptr_equal(GvThreadState_Get(), main_ts);
        assert_true(GvGILState_Check());
        assert_false(atomic_load(&e.done));
        GvInterpreterGuard_Close(guard);
        gvt_join_releasing_gil(t);
    }
    gvt_watchdog_disarm();
    assert_true(atomic_load(&e.done));
    assert_null(GvInterpreterGuard_FromView(view));
    GvInterpreterView_Close(view);
}

/* A guard cannot be taken of an interpreter that is finalizing. */
static int take_guard_while_finalizing(void *arg) {
    (void)arg;
    GvInterpreterState *interp = GvInterpreterState_Get();
    interp->closing = true; /* as GvInterpreter_End / Gv_Finalize set it */
    GvInterpreterGuard *g = GvInterpreterGuard_FromCurrent();
    if (g || gvt_exc_type() != &gv_type_RuntimeError) return 1;
    GvErr_Clear();
    interp->closing = false;
    return 0;
}

static void test_guard_refused_while_finalizing(void **state) {
    (void)state;
    assert_int_equal(take_guard_while_finalizing(NULL), 0);
}

/* ---- attaching a foreign thread to a chosen interpreter ---- */

typedef struct Attach {
    GvInterpreterGuard *guard;
    long long ids[3];
    int rc;
    bool current_after;
} Attach;

static void *attach_main(void *p) {
    Attach *a = p;
    /* Attached to main (GILState), then to the chosen one, then back. */
    GvGILState_STATE st = GvGILState_Ensure();
    a->ids[0] = gvt_call_int("ident", 0, NULL);
    a->rc = GvThreadState_Ensure(a->guard);
    if (a->rc != 0) {
        GvGILState_Release(st);
        return NULL;
    }
    a->ids[1] = gvt_call_int("ident", 0, NULL);
    GvThreadState_Release();
    a->ids[2] = gvt_call_int("ident", 0, NULL);
    GvGILState_Release(st);
    a->current_after = GvThreadState_Get() != NULL;
    return NULL;
}

static void test_ensure_attaches_to_chosen(void **state) {
    (void)state;
    GvThreadState *main_ts = GvThreadState_Get();
    gvt_load(SRC);
    GvThreadState *sub_ts = GvInterpreter_New();
    assert_non_null(sub_ts);
    gvt_load(SRC);
    long long sub_id = GvInterpreterState_GetID(sub_ts->interp);
    Attach a = {.guard = GvInterpreterGuard_FromCurrent()};
    assert_non_null(a.guard);
    GvEval_ReleaseThread(sub_ts);
    GvEval_RestoreThread(main_ts);
    gvt_watchdog_arm(60, "ensure");
    GvThreadState *saved = GvEval_SaveThread(); /* the thread needs main's GIL too */
    pthread_t t = gvt_start_thread(attach_main, &a);
    pthread_join(t, NULL);
    GvEval_RestoreThread(saved);
    gvt_watchdog_disarm();
    assert_int_equal(a.rc, 0);
    assert_int_equal(a.ids[0], 0);
    assert_int_equal(a.ids[1], sub_id);
    assert_int_equal(a.ids[2], 0);
    assert_false(a.current_after);
    GvInterpreterGuard_Close(a.guard);
    GvEval_ReleaseThread(main_ts);
    GvEval_AcquireThread(sub_ts);
    GvInterpreter_End(sub_ts);
    GvEval_RestoreThread(main_ts);
}

/* ---- asynchronous exceptions and pending calls stay in their interpreter ---- */

static _Atomic long long pending_ran_in = -1;

static int note_interp(void *arg) {
    (void)arg;
    atomic_store(&pending_ran_in, GvInterpreterState_GetID(GvInterpreterState_Get()));
    return 0;
}

static void test_async_exc_and_pending_per_interpreter(void **state) {
    (void)state;
    GvThreadState *main_ts = GvThreadState_Get();
    gvt_load(SRC);
    unsigned long main_id = GvThreadState_GetID(main_ts);
    GvThreadState *sub_ts = GvInterpreter_New();
    assert_non_null(sub_ts);
    gvt_load(SRC);
    unsigned long sub_id = GvThreadState_GetID(sub_ts);
    /* From the sub-interpreter: main's thread is not reachable. */
    assert_int_equal(GvThreadState_SetAsyncExc(main_id, &gv_type_ValueError.ob), 0);
    assert_int_equal(GvThreadState_SetAsyncExc(sub_id, NULL), 1); /* its own: yes */
    GvInterpreterGuard *g = GvInterpreterGuard_FromCurrent();
    GvEval_ReleaseThread(sub_ts);
    GvEval_RestoreThread(main_ts);
    /* From main: the sub-interpreter's thread is not reachable either. */
    assert_int_equal(GvThreadState_SetAsyncExc(sub_id, &gv_type_ValueError.ob), 0);
    assert_int_equal(gvt_call_int("ident", 0, NULL), 0); /* and nothing was raised here */

    /* A pending call for the sub-interpreter runs in its main thread. */
    assert_int_equal(GvInterpreter_AddPendingCall(g, note_interp, NULL), 0);
    assert_int_equal(Gv_MakePendingCalls(), 0);
    assert_int_equal(atomic_load(&pending_ran_in), -1); /* not here */
    GvEval_ReleaseThread(main_ts);
    GvEval_AcquireThread(sub_ts);
    assert_int_equal(Gv_MakePendingCalls(), 0);
    assert_int_equal(atomic_load(&pending_ran_in), GvInterpreterState_GetID(sub_ts->interp));
    /* And Gv_AddPendingCall goes to the main interpreter. */
    assert_int_equal(Gv_AddPendingCall(note_interp, NULL), 0);
    assert_int_equal(Gv_MakePendingCalls(), 0);
    assert_int_equal(atomic_load(&pending_ran_in), GvInterpreterState_GetID(sub_ts->interp));
    GvInterpreterGuard_Close(g);
    GvInterpreter_End(sub_ts);
    GvEval_RestoreThread(main_ts);
    assert_int_equal(Gv_MakePendingCalls(), 0);
    assert_int_equal(atomic_load(&pending_ran_in), 0);
}

/* ---- one channel, producers and consumers in four interpreters ---- */

typedef struct Worker {
    const char *fn;
    int64_t c, n;
    int64_t result;
} Worker;

static void *worker_main(void *p) {
    Worker *w = p;
    GvThreadState *ts = GvInterpreter_New();
    if (!ts) return NULL;
    gvt_load(SRC);
    GvValue args[2] = {gv_int(w->c), gv_int(w->n)};
    GvValue r;
    if (gvt_call(w->fn, 2, args, &r) == 0) {
        if (gv_is_int(r)) w->result = r.as.i;
        gv_vdecref(r);
    }
    GvInterpreter_End(ts);
    return NULL;
}

/* Consumers block in chan_get (each wakes on puts made under other GILs):
 * every value arrives once. */
static void test_channel_across_interpreters(void **state) {
    (void)state;
    int64_t n = gvt_scale_tsan(3000, 10), c = gv_chan_new();
    Worker w[4] = {{"consume", c, n, -1}, {"consume", c, n, -1}, {"produce", c, n, -1}, {"produce", c, n, -1}};
    pthread_t t[4];
    gvt_watchdog_arm(120, "channel across interpreters");
    GvThreadState *saved = GvEval_SaveThread();
    for (int i = 0; i < 4; i++) t[i] = gvt_start_thread(worker_main, &w[i]);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    GvEval_RestoreThread(saved);
    gvt_watchdog_disarm();
    assert_true(w[0].result >= 0 && w[1].result >= 0);
    assert_int_equal(w[0].result + w[1].result, n * (n - 1));
    GvValue v;
    assert_int_equal(gv_chan_get(saved, c, 0, &v), 0); /* nothing left over */
}

/* Exceptions raised and caught in three interpreters at once: the static
 * exception types they all use are immortal, and memory accounting is
 * shared (what TSan checks here). */
static void test_static_objects_shared(void **state) {
    (void)state;
    gvt_load(SRC);
    int64_t n = gvt_scale_tsan(5000, 10);
    Worker w[2] = {{"churn", 0, n, -1}, {"churn", 0, n, -1}};
    pthread_t t[2];
    gvt_watchdog_arm(120, "static objects");
    for (int i = 0; i < 2; i++) t[i] = gvt_start_thread(worker_main, &w[i]);
    GvValue args[2] = {gv_int(0), gv_int(n)};
    assert_int_equal(gvt_call_int("churn", 2, args), n);
    GvThreadState *saved = GvEval_SaveThread();
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    GvEval_RestoreThread(saved);
    gvt_watchdog_disarm();
    assert_int_equal(w[0].result, n);
    assert_int_equal(w[1].result, n);
}

/* ---- Ctrl-C: the main interpreter only ---- */

typedef struct Getter {
    int64_t c;
    _Atomic(GvThreadState *) ts; /* published once it is made */
    GvValue got;
    int rc;
} Getter;

/* Waits on chan c in an interpreter of its own. */
static void *getter_main(void *p) {
    Getter *g = p;
    GvThreadState *ts = GvInterpreter_New();
    if (!ts) return NULL;
    gvt_load(SRC);
    atomic_store(&g->ts, ts);
    GvValue arg = gv_int(g->c);
    g->rc = gvt_call("get", 1, &arg, &g->got);
    if (g->rc < 0) GvErr_Clear();
    GvInterpreter_End(ts);
    return NULL;
}

typedef struct Killer {
    pthread_t target;
    GvThreadState *target_ts;
    Getter *other;
    bool ok;
} Killer;

static void *killer_main(void *p) {
    Killer *k = p;
    double end = gvt_now() + 10;
    while (!atomic_load(&k->other->ts) && gvt_now() < end) gvt_msleep(1);
    GvThreadState *other = atomic_load(&k->other->ts);
    k->ok = other && gvt_wait_parked(other, 10) && gvt_wait_parked(k->target_ts, 10);
    pthread_kill(k->target, SIGINT);
    return NULL;
}

static void test_ctrl_c_main_only(void **state) {
    (void)state;
    GvThreadState *main_ts = GvThreadState_Get();
    gvt_load(SRC);
    GvThreadState *ts = GvInterpreter_New();
    assert_non_null(ts);
    assert_int_equal(Gv_InitSignals(), -1); /* not the main interpreter */
    GvInterpreter_End(ts);
    GvEval_RestoreThread(main_ts);
    assert_int_equal(Gv_InitSignals(), 0);

    /* Both wait in chan_get: main's, the other interpreter's. Ctrl-C
     * interrupts main's only. */
    Getter g = {.c = gv_chan_new()};
    Killer k = {.target = pthread_self(), .target_ts = main_ts, .other = &g};
    gvt_watchdog_arm(60, "ctrl-c");
    pthread_t gt = gvt_start_thread(getter_main, &g);
    pthread_t kt = gvt_start_thread(killer_main, &k);
    GvValue arg = gv_int(gv_chan_new()), r;
    int rc = gvt_call("get", 1, &arg, &r);
    assert_int_equal(rc, -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_KeyboardInterrupt);
    GvErr_Clear();
    gvt_join_releasing_gil(kt);
    assert_true(k.ok);
    /* The other one is still waiting: a value ends its wait normally. */
    GvShared *s;
    assert_int_equal(gv_shared_from(gv_int(5), "v", &s), 0);
    assert_int_equal(gv_chan_put(g.c, s), 0);
    gvt_join_releasing_gil(gt);
    gvt_watchdog_disarm();
    assert_int_equal(g.rc, 0);
    assert_true(gv_is_int(g.got) && g.got.as.i == 5);
}

/* ---- copying between interpreters ---- */

static void test_shared_values(void **state) {
    (void)state;
    GvShared *s;
    /* A dict that contains itself. */
    GvObject *d = gv_dict_new();
    GvObject *k = gv_str_from_cstr("me");
    assert_int_equal(gv_dict_set((GvDict *)d, gv_obj(k), gv_obj(d)), 0);
    assert_int_equal(gv_shared_from(gv_obj(d), "value", &s), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_TypeError);
    assert_non_null(strstr(gvt_exc_message(), "contains itself"));
    assert_null(s);
    GvErr_Clear();
    gv_dict_clear((GvDict *)d);
    /* The same list twice, not a cycle: copied (twice). */
    GvObject *inner = gv_list_new(0);
    GvObject *outer = gv_list_new(0);
    gv_list_append((GvList *)outer, gv_obj(inner));
    gv_list_append((GvList *)outer, gv_obj(inner));
    assert_int_equal(gv_shared_from(gv_obj(outer), "value", &s), 0);
    GvValue back;
    assert_int_equal(gv_shared_to(s, &back), 0);
    GvList *bl = (GvList *)back.as.o;
    assert_int_equal(bl->size, 2);
    assert_ptr_not_equal(bl->items[0].as.o, inner);
    gv_vdecref(back);
    gv_shared_free(s);
    /* Nested too deeply: refused like a cycle. */
    GvObject *deep = gv_list_new(0);
    for (int i = 0; i < 300; i++) {
        GvObject *l = gv_list_new(1);
        gv_list_append((GvList *)l, gv_obj(deep));
        gv_decref(deep);
        deep = l;
    }
    assert_int_equal(gv_shared_from(gv_obj(deep), "value", &s), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_TypeError);
    GvErr_Clear();
    gv_decref(deep);
    gv_decref(outer);
    gv_decref(inner);
    gv_decref(k);
    gv_decref(d);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_and_end, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_settings_per_interpreter, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_own_gil_runs_in_parallel, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_shared_gil_runs_code, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_shared_gil_takes_turns, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_shared_gil_mode_refused_inside, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_shared_gil_finalize_refused, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_end_one_while_another_runs, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_guard_holds_off_finalization, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_guard_refused_while_finalizing, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_attaches_to_chosen, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_async_exc_and_pending_per_interpreter, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_channel_across_interpreters, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_static_objects_shared, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_ctrl_c_main_only, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_shared_values, gvt_setup, gvt_teardown),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
