/* Threads for programs (runtime/thread.c, runtime/sync.c): thread_start and
 * thread_join, an uncaught exception in a thread, locks, queues, and two
 * stress tests: items passed through queues by several producers and
 * consumers (no item lost or duplicated: no lost wake-up) and threads
 * incrementing a shared global under a lock (exactly N*K).
 *
 * The programs are small .gva functions; the C side calls them and checks
 * what they return. */
#include "gvtest.h"

static const char *SRC =
    /* small wrappers, so that C can drive each builtin */
    ".func add a b\n LOAD_FAST a\n LOAD_FAST b\n BINARY_ADD\n RETURN_VALUE\n.end\n"
    ".func my_id\n LOAD_GLOBAL thread_id\n CALL 0\n RETURN_VALUE\n.end\n"
    ".func start1 f a\n LOAD_GLOBAL thread_start\n LOAD_FAST f\n LOAD_FAST a\n CALL 2\n RETURN_VALUE\n.end\n"
    ".func start0 f\n LOAD_GLOBAL thread_start\n LOAD_FAST f\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func join h\n LOAD_GLOBAL thread_join\n LOAD_FAST h\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func tid h\n LOAD_GLOBAL thread_id\n LOAD_FAST h\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func new_lock\n LOAD_GLOBAL lock_new\n CALL 0\n RETURN_VALUE\n.end\n"
    ".func acq l\n LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func acq_t l t\n LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n LOAD_FAST t\n CALL 2\n RETURN_VALUE\n.end\n"
    ".func rel l\n LOAD_GLOBAL lock_release\n LOAD_FAST l\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func new_queue\n LOAD_GLOBAL queue_new\n CALL 0\n RETURN_VALUE\n.end\n"
    ".func put q x\n LOAD_GLOBAL queue_put\n LOAD_FAST q\n LOAD_FAST x\n CALL 2\n RETURN_VALUE\n.end\n"
    ".func get q\n LOAD_GLOBAL queue_get\n LOAD_FAST q\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func get_t q t\n LOAD_GLOBAL queue_get\n LOAD_FAST q\n LOAD_FAST t\n CALL 2\n RETURN_VALUE\n.end\n"
    ".func do_sleep s\n LOAD_GLOBAL sleep\n LOAD_FAST s\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func join_five\n LOAD_GLOBAL thread_join\n LOAD_CONST 5\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func start_five\n LOAD_GLOBAL thread_start\n LOAD_CONST 5\n CALL 1\n RETURN_VALUE\n.end\n"
    /* boom(): raises ValueError("boom") */
    ".func boom\n LOAD_GLOBAL ValueError\n LOAD_CONST \"boom\"\n CALL 1\n RAISE\n.end\n"
    /* join_self(q): joins the handle it gets from q: its own */
    ".func join_self q\n"
    " LOAD_GLOBAL thread_join\n LOAD_GLOBAL queue_get\n LOAD_FAST q\n CALL 1\n CALL 1\n RETURN_VALUE\n.end\n"
    /* hold(l, qin, qout): takes l, says so on qout, waits for qin, releases l */
    ".func hold l qin qout\n"
    " LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL queue_put\n LOAD_FAST qout\n LOAD_CONST \"locked\"\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL queue_get\n LOAD_FAST qin\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL lock_release\n LOAD_FAST l\n CALL 1\n POP_TOP\n"
    " LOAD_CONST \"released\"\n RETURN_VALUE\n.end\n"
    /* produce(q, first, step, n): puts first, first+step, ... (n items) */
    ".func produce q first step n\n.local i\n"
    " LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
    " LOAD_GLOBAL queue_put\n LOAD_FAST q\n LOAD_FAST first\n LOAD_FAST i\n LOAD_FAST step\n BINARY_MUL\n BINARY_ADD\n"
    " CALL 2\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "done:\n LOAD_CONST none\n RETURN_VALUE\n.end\n"
    /* consume(q, timeout): gets until -1, returns the list of items; with a
     * timeout it polls (none: try again), without it blocks */
    ".func consume q timeout\n.local out x\n"
    " BUILD_LIST 0\n STORE_FAST out\n"
    "top:\n LOAD_FAST timeout\n LOAD_CONST none\n COMPARE_EQ\n POP_JUMP_IF_TRUE blocking\n"
    " LOAD_GLOBAL queue_get\n LOAD_FAST q\n LOAD_FAST timeout\n CALL 2\n STORE_FAST x\n"
    " LOAD_FAST x\n LOAD_CONST none\n COMPARE_EQ\n POP_JUMP_IF_TRUE top\n JUMP got\n"
    "blocking:\n LOAD_GLOBAL queue_get\n LOAD_FAST q\n CALL 1\n STORE_FAST x\n"
    "got:\n LOAD_FAST x\n LOAD_CONST -1\n COMPARE_EQ\n POP_JUMP_IF_TRUE done\n"
    " LOAD_GLOBAL append\n LOAD_FAST out\n LOAD_FAST x\n CALL 2\n POP_TOP\n JUMP top\n"
    "done:\n LOAD_FAST out\n RETURN_VALUE\n.end\n"
    /* stress(nprod, ncons, per): nprod producers of `per` items each (all
     * distinct: 0 .. nprod*per-1) and ncons consumers (odd ones poll with a
     * 1 ms timeout) on one queue; returns seen, where seen[x] is how many
     * times item x came out */
    ".func stress nprod ncons per\n.local q i hs cs seen total got j\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_FAST q\n"
    " BUILD_LIST 0\n STORE_FAST cs\n BUILD_LIST 0\n STORE_FAST hs\n"
    " LOAD_CONST 0\n STORE_FAST i\n"
    "cons:\n LOAD_FAST i\n LOAD_FAST ncons\n COMPARE_LT\n POP_JUMP_IF_FALSE cons_done\n"
    " LOAD_GLOBAL append\n LOAD_FAST cs\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL consume\n LOAD_FAST q\n"
    " LOAD_FAST i\n LOAD_CONST 2\n BINARY_MOD\n POP_JUMP_IF_TRUE poll\n LOAD_CONST none\n JUMP mode_done\n"
    "poll:\n LOAD_CONST 0.001\n"
    "mode_done:\n CALL 3\n CALL 2\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP cons\n"
    "cons_done:\n LOAD_CONST 0\n STORE_FAST i\n"
    "prod:\n LOAD_FAST i\n LOAD_FAST nprod\n COMPARE_LT\n POP_JUMP_IF_FALSE prod_done\n"
    " LOAD_GLOBAL append\n LOAD_FAST hs\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL produce\n LOAD_FAST q\n LOAD_FAST i\n LOAD_FAST nprod\n LOAD_FAST per\n"
    " CALL 5\n CALL 2\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP prod\n"
    "prod_done:\n LOAD_CONST 0\n STORE_FAST i\n"
    "pjoin:\n LOAD_FAST i\n LOAD_FAST nprod\n COMPARE_LT\n POP_JUMP_IF_FALSE pjoin_done\n"
    " LOAD_GLOBAL thread_join\n LOAD_FAST hs\n LOAD_FAST i\n LOAD_INDEX\n CALL 1\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP pjoin\n"
    /* every item is in: one stop (-1) per consumer */
    "pjoin_done:\n LOAD_CONST 0\n STORE_FAST i\n"
    "stops:\n LOAD_FAST i\n LOAD_FAST ncons\n COMPARE_LT\n POP_JUMP_IF_FALSE stops_done\n"
    " LOAD_GLOBAL queue_put\n LOAD_FAST q\n LOAD_CONST -1\n CALL 2\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP stops\n"
    "stops_done:\n"
    /* seen = [0] * (nprod*per) */
    " BUILD_LIST 0\n STORE_FAST seen\n LOAD_FAST nprod\n LOAD_FAST per\n BINARY_MUL\n STORE_FAST total\n"
    " LOAD_CONST 0\n STORE_FAST i\n"
    "zero:\n LOAD_FAST i\n LOAD_FAST total\n COMPARE_LT\n POP_JUMP_IF_FALSE zero_done\n"
    " LOAD_GLOBAL append\n LOAD_FAST seen\n LOAD_CONST 0\n CALL 2\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP zero\n"
    "zero_done:\n LOAD_CONST 0\n STORE_FAST i\n"
    "cjoin:\n LOAD_FAST i\n LOAD_FAST ncons\n COMPARE_LT\n POP_JUMP_IF_FALSE cjoin_done\n"
    " LOAD_GLOBAL thread_join\n LOAD_FAST cs\n LOAD_FAST i\n LOAD_INDEX\n CALL 1\n STORE_FAST got\n"
    " LOAD_CONST 0\n STORE_FAST j\n"
    "mark:\n LOAD_FAST j\n LOAD_GLOBAL len\n LOAD_FAST got\n CALL 1\n COMPARE_LT\n POP_JUMP_IF_FALSE mark_done\n"
    " LOAD_FAST seen\n LOAD_FAST got\n LOAD_FAST j\n LOAD_INDEX\n LOAD_INDEX\n LOAD_CONST 1\n BINARY_ADD\n"
    " LOAD_FAST seen\n LOAD_FAST got\n LOAD_FAST j\n LOAD_INDEX\n STORE_INDEX\n"
    " LOAD_FAST j\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST j\n JUMP mark\n"
    "mark_done:\n LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP cjoin\n"
    "cjoin_done:\n LOAD_FAST seen\n RETURN_VALUE\n.end\n"
    /* bounce(qin, qout, n): n times, get from qin and put it back, plus 1,
     * on qout */
    ".func bounce qin qout n\n.local i\n"
    " LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
    " LOAD_GLOBAL queue_put\n LOAD_FAST qout\n LOAD_GLOBAL queue_get\n LOAD_FAST qin\n CALL 1\n LOAD_CONST 1\n BINARY_ADD\n"
    " CALL 2\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "done:\n LOAD_CONST none\n RETURN_VALUE\n.end\n"
    /* pingpong(n): a token goes to another thread and back n times, +1 each
     * way; returns the token (2n) */
    ".func pingpong n\n.local a b h\n"
    " LOAD_GLOBAL queue_new\n CALL 0\n STORE_FAST a\n LOAD_GLOBAL queue_new\n CALL 0\n STORE_FAST b\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL bounce\n LOAD_FAST a\n LOAD_FAST b\n LOAD_FAST n\n CALL 4\n STORE_FAST h\n"
    " LOAD_GLOBAL queue_put\n LOAD_FAST b\n LOAD_CONST 0\n CALL 2\n POP_TOP\n"
    " LOAD_GLOBAL bounce\n LOAD_FAST b\n LOAD_FAST a\n LOAD_FAST n\n CALL 3\n POP_TOP\n"
    " LOAD_GLOBAL thread_join\n LOAD_FAST h\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL queue_get\n LOAD_FAST b\n CALL 1\n RETURN_VALUE\n.end\n"
    /* incr(l, k, timed): k times, under l: counter = counter + 1, giving the
     * GIL away (sleep(0.0001): a real wait) between reading and writing it */
    ".func incr l k timed\n.local i c\n"
    " LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST k\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
    " LOAD_FAST timed\n POP_JUMP_IF_TRUE timed_acq\n"
    " LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n CALL 1\n POP_TOP\n JUMP locked\n"
    "timed_acq:\n LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n LOAD_CONST 60\n CALL 2\n POP_JUMP_IF_FALSE timed_out\n"
    "locked:\n LOAD_GLOBAL counter\n STORE_FAST c\n"
    " LOAD_GLOBAL sleep\n LOAD_CONST 0.0001\n CALL 1\n POP_TOP\n"
    " LOAD_FAST c\n LOAD_CONST 1\n BINARY_ADD\n STORE_GLOBAL counter\n"
    " LOAD_GLOBAL lock_release\n LOAD_FAST l\n CALL 1\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "done:\n LOAD_CONST none\n RETURN_VALUE\n"
    "timed_out:\n LOAD_GLOBAL RuntimeError\n LOAD_CONST \"lock_acquire timed out\"\n CALL 1\n RAISE\n.end\n"
    /* contend(n, k, use_lock): n threads run incr(l, k, odd?); returns counter */
    ".func contend n k\n.local l hs i\n"
    " LOAD_CONST 0\n STORE_GLOBAL counter\n"
    " LOAD_GLOBAL lock_new\n CALL 0\n STORE_FAST l\n BUILD_LIST 0\n STORE_FAST hs\n"
    " LOAD_CONST 0\n STORE_FAST i\n"
    "start:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE started\n"
    " LOAD_GLOBAL append\n LOAD_FAST hs\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL incr\n LOAD_FAST l\n LOAD_FAST k\n"
    " LOAD_FAST i\n LOAD_CONST 2\n BINARY_MOD\n CALL 4\n CALL 2\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP start\n"
    "started:\n LOAD_CONST 0\n STORE_FAST i\n"
    "join:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE joined\n"
    " LOAD_GLOBAL thread_join\n LOAD_FAST hs\n LOAD_FAST i\n LOAD_INDEX\n CALL 1\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP join\n"
    "joined:\n LOAD_GLOBAL counter\n RETURN_VALUE\n.end\n";

/* A global function (a new reference) as a value to pass around. */
static GvValue fn(const char *name) { return gvt_global(name); }

static GvValue call2(const char *name, GvValue a, GvValue b) {
    GvValue args[2] = {a, b};
    return gvt_call_ok(name, 2, args);
}

static GvValue call1(const char *name, GvValue a) { return gvt_call_ok(name, 1, &a); }

/* ---- thread_start / thread_join ---- */

static void test_thread_join_returns_the_functions_result(void **state) {
    (void)state;
    gvt_load(SRC);
    /* thread_start(add, 2, 40) through a program of its own */
    gvt_load(".func go\n LOAD_GLOBAL thread_start\n LOAD_GLOBAL add\n LOAD_CONST 2\n LOAD_CONST 40\n CALL 3\n"
             " RETURN_VALUE\n.end\n"
             ".func go_str\n LOAD_GLOBAL thread_start\n LOAD_GLOBAL add\n LOAD_CONST \"ab\"\n LOAD_CONST \"cd\"\n"
             " CALL 3\n RETURN_VALUE\n.end\n");
    GvValue h = gvt_call_ok("go", 0, NULL);
    GvValue r = call1("join", h);
    assert_true(gv_is_int(r) && r.as.i == 42);
    /* Joining again gives the same result. */
    r = call1("join", h);
    assert_true(gv_is_int(r) && r.as.i == 42);
    gv_vdecref(h);
    h = gvt_call_ok("go_str", 0, NULL);
    r = call1("join", h);
    char *s = GvObject_StrDup(r.as.o);
    assert_string_equal(s, "abcd");
    free(s);
    gv_vdecref(r);
    gv_vdecref(h);
}

static void test_thread_ids_are_distinct_and_match_the_handle(void **state) {
    (void)state;
    gvt_load(SRC);
    GvValue my_id = fn("my_id");
    int64_t main_id = gvt_call_int("my_id", 0, NULL);
    assert_int_equal(main_id, (int64_t)GvThreadState_GetID(GvThreadState_Get()));
    GvValue h[4];
    int64_t ids[4];
    for (int i = 0; i < 4; i++) h[i] = call1("start0", my_id);
    for (int i = 0; i < 4; i++) {
        GvValue r = call1("join", h[i]);
        assert_true(gv_is_int(r));
        ids[i] = r.as.i;
        /* thread_id(h) is the id the thread saw for itself */
        assert_int_equal(gvt_call_int("tid", 1, &h[i]), ids[i]);
        assert_int_not_equal(ids[i], main_id);
        for (int j = 0; j < i; j++) assert_int_not_equal(ids[i], ids[j]);
        gv_vdecref(h[i]);
    }
    gv_vdecref(my_id);
}

static void test_uncaught_exception_in_thread_is_reported_and_join_returns_none(void **state) {
    (void)state;
    gvt_load(SRC);
    GvValue boom = fn("boom");
    GvtCapture cap;
    gvt_capture_begin(&cap, 2);
    GvValue h = call1("start0", boom);
    GvValue r = gv_none();
    int rc = gvt_call("join", 1, &h, &r);
    char *err = gvt_capture_end(&cap);
    assert_int_equal(rc, 0); /* the exception stays in its thread */
    assert_true(gv_is_none(r));
    assert_null(GvErr_Occurred());
    int64_t id = gvt_call_int("tid", 1, &h);
    char want[64];
    snprintf(want, sizeof want, "Exception in thread %lld:\n", (long long)id);
    if (!strstr(err, want) || !strstr(err, "Traceback (most recent call last):") ||
        !strstr(err, "in boom") || !strstr(err, "ValueError: boom"))
        fail_msg("stderr lacks the report (wanted \"%s\", a traceback through boom, ValueError: boom); got:\n%s",
                 want, err);
    /* The header comes before the traceback. */
    assert_true(strstr(err, want) < strstr(err, "Traceback"));
    free(err);
    /* The main thread goes on. */
    GvValue x = call2("add", gv_int(1), gv_int(2));
    assert_int_equal(x.as.i, 3);
    gv_vdecref(h);
    gv_vdecref(boom);
}

static void test_thread_builtins_reject_bad_arguments(void **state) {
    (void)state;
    gvt_load(SRC);
    gvt_call_raises("join_five", 0, NULL, &gv_type_TypeError);
    gvt_call_raises("start_five", 0, NULL, &gv_type_TypeError);
    GvValue v = gv_int(5);
    gvt_call_raises("tid", 1, &v, &gv_type_TypeError);
    v = gv_int(-1);
    gvt_call_raises("do_sleep", 1, &v, &gv_type_ValueError);
    v = gv_float(-0.5);
    gvt_call_raises("do_sleep", 1, &v, &gv_type_ValueError);
    v = gv_int(0);
    gv_vdecref(gvt_call_ok("do_sleep", 1, &v)); /* sleep(0) yields, returns none */
}

/* A thread that joins itself gets RuntimeError (it would wait forever). */
static void test_thread_joining_itself_raises_runtime_error(void **state) {
    (void)state;
    gvt_load(SRC);
    GvValue q = gvt_call_ok("new_queue", 0, NULL);
    GvValue js = fn("join_self");
    GvtCapture cap;
    gvt_capture_begin(&cap, 2);
    GvValue h = call2("start1", js, q);
    gv_vdecref(call2("put", q, h));
    GvValue r = call1("join", h);
    char *err = gvt_capture_end(&cap);
    assert_true(gv_is_none(r));
    if (!strstr(err, "RuntimeError")) fail_msg("expected a RuntimeError report, got:\n%s", err);
    free(err);
    gv_vdecref(h);
    gv_vdecref(js);
    gv_vdecref(q);
}

/* ---- locks ---- */

static void test_lock_acquire_release_and_timeouts(void **state) {
    (void)state;
    gvt_load(SRC);
    GvValue l = gvt_call_ok("new_lock", 0, NULL);
    assert_true(gv_truthy(call1("acq", l)));
    /* Held (locks are not re-entrant): a zero or short timeout gives false. */
    assert_false(gv_truthy(call2("acq_t", l, gv_int(0))));
    double t0 = gvt_now();
    assert_false(gv_truthy(call2("acq_t", l, gv_float(0.05))));
    double waited = gvt_now() - t0;
    if (waited < 0.045 || waited > 5) fail_msg("lock_acquire(l, 0.05) returned after %.3f s", waited);
    gv_vdecref(call1("rel", l));
    assert_true(gv_truthy(call2("acq_t", l, gv_int(0))));
    gv_vdecref(call1("rel", l));
    assert_true(gv_truthy(call2("acq_t", l, gv_float(1.5))));
    gv_vdecref(call1("rel", l));
    /* Releasing an unlocked lock raises RuntimeError; the lock still works. */
    gvt_call_raises("rel", 1, &l, &gv_type_RuntimeError);
    assert_true(gv_truthy(call1("acq", l)));
    gv_vdecref(call1("rel", l));
    /* A lock is not a queue, nor anything else. */
    GvValue five = gv_int(5);
    gvt_call_raises("acq", 1, &five, &gv_type_TypeError);
    gvt_call_raises("rel", 1, &five, &gv_type_TypeError);
    gv_vdecref(l);
}

/* Another thread holds the lock: acquire waits until it is released. */
static void test_lock_acquire_waits_for_the_holder_to_release(void **state) {
    (void)state;
    gvt_load(SRC);
    GvValue l = gvt_call_ok("new_lock", 0, NULL);
    GvValue qin = gvt_call_ok("new_queue", 0, NULL), qout = gvt_call_ok("new_queue", 0, NULL);
    gvt_load(".func start_hold l qin qout\n LOAD_GLOBAL thread_start\n LOAD_GLOBAL hold\n LOAD_FAST l\n"
             " LOAD_FAST qin\n LOAD_FAST qout\n CALL 4\n RETURN_VALUE\n.end\n");
    gvt_watchdog_arm(30, "lock handoff");
    GvValue args[3] = {l, qin, qout};
    GvValue h = gvt_call_ok("start_hold", 3, args);
    GvValue msg = call1("get", qout); /* "locked" */
    assert_true(gv_is_obj(msg));
    gv_vdecref(msg);
    assert_false(gv_truthy(call2("acq_t", l, gv_int(0))));
    gv_vdecref(call2("put", qin, gv_int(1)));
    assert_true(gv_truthy(call1("acq", l))); /* blocks until hold() releases it */
    GvValue r = call1("join", h);
    char *s = GvObject_StrDup(r.as.o);
    assert_string_equal(s, "released");
    free(s);
    gv_vdecref(r);
    gvt_watchdog_disarm();
    gv_vdecref(call1("rel", l));
    gv_vdecref(h);
    gv_vdecref(l);
    gv_vdecref(qin);
    gv_vdecref(qout);
}

/* ---- queues ---- */

static void test_queue_is_fifo_and_get_timeout_returns_none(void **state) {
    (void)state;
    gvt_load(SRC);
    GvValue q = gvt_call_ok("new_queue", 0, NULL);
    /* More than the initial ring capacity, with wrap-around in the middle. */
    for (int i = 0; i < 5; i++) gv_vdecref(call2("put", q, gv_int(i)));
    for (int i = 0; i < 3; i++) assert_int_equal(call1("get", q).as.i, i);
    for (int i = 5; i < 40; i++) gv_vdecref(call2("put", q, gv_int(i)));
    for (int i = 3; i < 40; i++) {
        GvValue v = call1("get", q);
        assert_true(gv_is_int(v));
        assert_int_equal(v.as.i, i);
    }
    /* Empty: queue_get(q, 0) and with a timeout give none; the timeout is
     * waited out, not cut short. */
    assert_true(gv_is_none(call2("get_t", q, gv_int(0))));
    double t0 = gvt_now();
    assert_true(gv_is_none(call2("get_t", q, gv_float(0.05))));
    double waited = gvt_now() - t0;
    if (waited < 0.045 || waited > 5) fail_msg("queue_get(q, 0.05) returned after %.3f s", waited);
    /* Values of any kind pass through, as they are. */
    GvValue l = gvt_call_ok("new_lock", 0, NULL);
    gv_vdecref(call2("put", q, l));
    GvValue back = call1("get", q);
    assert_ptr_equal(back.as.o, l.as.o);
    gv_vdecref(back);
    gv_vdecref(l);
    gv_vdecref(q);
}

static void test_queue_keeps_fifo_order_across_threads(void **state) {
    (void)state;
    gvt_load(SRC);
    gvt_load(".func go q n\n LOAD_GLOBAL thread_start\n LOAD_GLOBAL produce\n LOAD_FAST q\n LOAD_CONST 0\n"
             " LOAD_CONST 1\n LOAD_FAST n\n CALL 5\n RETURN_VALUE\n.end\n");
    GvValue q = gvt_call_ok("new_queue", 0, NULL);
    int n = (int)gvt_scale_tsan(2000, 4);
    gvt_watchdog_arm(60, "FIFO across threads");
    GvValue h = call2("go", q, gv_int(n));
    for (int i = 0; i < n; i++) {
        GvValue v = call1("get", q);
        if (!gv_is_int(v) || v.as.i != i) fail_msg("item %d came out as %s %lld", i, gv_type_name(v), (long long)v.as.i);
    }
    gv_vdecref(call1("join", h));
    gvt_watchdog_disarm();
    gv_vdecref(h);
    gv_vdecref(q);
}

/* ---- stress: no lost wake-up, no lost or duplicated item ---- */

static void check_stress(int nprod, int ncons, int total) {
    GvValue args[3] = {gv_int(nprod), gv_int(ncons), gv_int(total / nprod)};
    char what[80];
    snprintf(what, sizeof what, "%d producers, %d consumers, %d items", nprod, ncons, total);
    gvt_watchdog_arm(120, what);
    GvValue seen = gvt_call_ok("stress", 3, args);
    gvt_watchdog_disarm();
    GvList *l = gv_as_list(seen);
    assert_int_equal(l->size, (size_t)total);
    for (int i = 0; i < total; i++) {
        GvValue v = l->items[i];
        if (!gv_is_int(v) || v.as.i != 1)
            fail_msg("%s: item %d came out %lld times", what, i, (long long)v.as.i);
    }
    gv_vdecref(seen);
}

static void test_queue_items_pass_between_many_threads_exactly_once(void **state) {
    (void)state;
    gvt_load(SRC);
    int total = (int)gvt_scale_tsan(10000, 5);
    check_stress(1, 1, total);
    check_stress(2, 2, total);
    check_stress(4, 3, total);
    check_stress(3, 4, total - total % 3);
}

/* Every hand-off needs a wake-up: one lost, and the pair waits forever. */
static void test_token_passes_between_two_threads_without_lost_wakeup(void **state) {
    (void)state;
    gvt_load(SRC);
    int n = (int)gvt_scale_tsan(3000, 5);
    gvt_watchdog_arm(120, "ping-pong");
    GvValue arg = gv_int(n);
    int64_t token = gvt_call_int("pingpong", 1, &arg);
    gvt_watchdog_disarm();
    assert_int_equal(token, 2 * (int64_t)n);
}

/* ---- stress: mutual exclusion ---- */

static void test_lock_makes_shared_increments_exact(void **state) {
    (void)state;
    gvt_load(SRC);
    int k = (int)gvt_scale_tsan(300, 3);
    gvt_watchdog_arm(120, "lock contention");
    for (int n = 2; n <= 4; n++) {
        GvValue args[2] = {gv_int(n), gv_int(k)};
        int64_t got = gvt_call_int("contend", 2, args);
        if (got != (int64_t)n * k) fail_msg("%d threads x %d locked increments gave %lld", n, k, (long long)got);
    }
    gvt_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_thread_join_returns_the_functions_result, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_thread_ids_are_distinct_and_match_the_handle, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_uncaught_exception_in_thread_is_reported_and_join_returns_none,
                                        gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_thread_builtins_reject_bad_arguments, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_thread_joining_itself_raises_runtime_error, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_lock_acquire_release_and_timeouts, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_lock_acquire_waits_for_the_holder_to_release, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_queue_is_fifo_and_get_timeout_returns_none, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_queue_keeps_fifo_order_across_threads, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_queue_items_pass_between_many_threads_exactly_once, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_token_passes_between_two_threads_without_lost_wakeup, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_lock_makes_shared_increments_exact, gvt_setup, gvt_teardown),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
