/* Pending calls (Gv_AddPendingCall, Gv_AddPendingCallToThread,
 * Gv_MakePendingCalls, the add_pending_call builtin): the queue's bound,
 * where and when calls run, what a failing call does, and what is left at
 * finalization.
 *
 * A C pending call records what it saw (the thread it ran on, when) in a
 * `Seen` the test owns. */
#include "gvtest.h"

static int fail_value_error(void *arg);

typedef struct Seen {
    int runs;
    unsigned long thread_id;  /* GvThreadState_GetID of the thread it ran on */
    bool had_gil;
    pthread_t os_thread;
    double at;                /* gvt_now() when it ran */
} Seen;

static int record(void *arg) {
    Seen *s = arg;
    s->runs++;
    s->thread_id = GvThreadState_GetID(GvThreadState_Get());
    s->had_gil = GvGILState_Check();
    s->os_thread = pthread_self();
    s->at = gvt_now();
    return 0;
}

static const char *const COMMON =
    ".func nop\n"
    "    LOAD_CONST none\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func report e\n"
    "    LOAD_GLOBAL type_name\n"
    "    LOAD_FAST e\n"
    "    CALL 1\n"
    "    LOAD_CONST \":\"\n"
    "    BINARY_ADD\n"
    "    LOAD_GLOBAL str\n"
    "    LOAD_FAST e\n"
    "    CALL 1\n"
    "    BINARY_ADD\n"
    "    RETURN_VALUE\n"
    ".end\n"
    /* sleep(30), returning report(e) if something raises meanwhile. */
    ".func sleep_long\n"
    "    .local x\n"
    "    .try s e h\n"
    "s:\n"
    "    LOAD_GLOBAL sleep\n"
    "    LOAD_CONST 30\n"
    "    CALL 1\n"
    "    POP_TOP\n"
    "e:\n"
    "    LOAD_CONST \"slept 30 s\"\n"
    "    RETURN_VALUE\n"
    "h:\n"
    "    STORE_FAST x\n"
    "    POP_EXCEPT\n"
    "    LOAD_GLOBAL report\n"
    "    LOAD_FAST x\n"
    "    CALL 1\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func make_queue\n"
    "    LOAD_GLOBAL queue_new\n"
    "    CALL 0\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func get q\n"
    "    LOAD_GLOBAL queue_get\n"
    "    LOAD_FAST q\n"
    "    LOAD_CONST 30\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func put q x\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_FAST q\n"
    "    LOAD_FAST x\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n";

static int setup(void **state) {
    int rc = gvt_setup(state);
    gvt_load(COMMON);
    return rc;
}

/* ---- the queue's bound ---- */

static int order[GV_PENDING_CALLS_MAX + 1];
static int norder;
static int note_order(void *arg) {
    order[norder++] = (int)(intptr_t)arg;
    return 0;
}

static void test_pending_queue_full_returns_minus_1(void **state) {
    (void)state;
    assert_true(GV_PENDING_CALLS_MAX >= 32); /* ASSEMBLY.md: at least 32 */
    norder = 0;
    for (int i = 0; i < GV_PENDING_CALLS_MAX; i++)
        assert_int_equal(Gv_AddPendingCall(note_order, (void *)(intptr_t)i), 0);
    assert_int_equal(Gv_AddPendingCall(note_order, (void *)(intptr_t)999), -1);
    assert_int_equal(norder, 0); /* nothing ran yet: no checkpoint */
    assert_int_equal(Gv_MakePendingCalls(), 0);
    assert_int_equal(norder, GV_PENDING_CALLS_MAX);
    for (int i = 0; i < GV_PENDING_CALLS_MAX; i++) assert_int_equal(order[i], i); /* FIFO */
    /* Room again. */
    assert_int_equal(Gv_AddPendingCall(note_order, (void *)(intptr_t)7), 0);
    assert_int_equal(Gv_MakePendingCalls(), 0);
    assert_int_equal(norder, GV_PENDING_CALLS_MAX + 1);
}

/* add_pending_call(f) from a program, n times in straight-line code (no
 * checkpoint in between: builtin calls are not checkpoints); returns how
 * many were accepted before the first false. */
static void load_add_n(int n) {
    static char src[16384];
    size_t k = 0;
    k += (size_t)snprintf(src + k, sizeof src - k,
                          ".func count_up\n"
                          "    LOAD_GLOBAL ran\n"
                          "    LOAD_CONST 1\n"
                          "    BINARY_ADD\n"
                          "    STORE_GLOBAL ran\n"
                          "    LOAD_CONST none\n"
                          "    RETURN_VALUE\n"
                          ".end\n"
                          ".func add_n\n");
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(src + k, sizeof src - k,
                              "    LOAD_GLOBAL add_pending_call\n"
                              "    LOAD_GLOBAL count_up\n"
                              "    CALL 1\n"
                              "    POP_JUMP_IF_FALSE full\n");
    k += (size_t)snprintf(src + k, sizeof src - k,
                          "    LOAD_CONST %d\n"
                          "    RETURN_VALUE\n"
                          "full:\n"
                          "    LOAD_CONST -1\n"
                          "    RETURN_VALUE\n"
                          ".end\n", n);
    assert_true(k < sizeof src);
    gvt_load(src);
    GvObject *key = gv_str_from_cstr("ran");
    gv_dict_set((GvDict *)GvThreadState_Get()->interp->globals, gv_obj(key), gv_int(0));
    gv_decref(key);
}

static void test_add_pending_call_holds_at_least_32(void **state) {
    (void)state;
    load_add_n(32);
    assert_int_equal(gvt_call_int("add_n", 0, NULL), 32);
    GvValue ran = gvt_global("ran");
    assert_int_equal(ran.as.i, 0); /* queued, not run */
    gvt_call_ok("nop", 0, NULL);   /* a checkpoint on the main thread runs them all */
    ran = gvt_global("ran");
    assert_int_equal(ran.as.i, 32);
}

static void test_add_pending_call_returns_false_when_full(void **state) {
    (void)state;
    load_add_n(GV_PENDING_CALLS_MAX + 1);
    assert_int_equal(gvt_call_int("add_n", 0, NULL), -1); /* the last one is refused */
    gvt_call_ok("nop", 0, NULL);
    GvValue ran = gvt_global("ran");
    assert_int_equal(ran.as.i, GV_PENDING_CALLS_MAX); /* the refused one holds nothing */
}

/* ---- where and when ---- */

typedef struct RawArgs {
    Seen seen;
    int add_rc;
    GvInterpreterState *interp;
    bool wait_main_parked;
    double added_at;
    int (*fn)(void *);
} RawArgs;

/* A thread the VM did not create: no thread state, no GIL. */
static void *raw_adder(void *p) {
    RawArgs *a = p;
    if (a->wait_main_parked && !gvt_wait_parked_id(a->interp, 1, 10)) {
        a->add_rc = -2;
        return NULL;
    }
    if (GvThreadState_Get() != NULL || GvGILState_Check()) {
        a->add_rc = -3;
        return NULL;
    }
    a->added_at = gvt_now();
    a->add_rc = Gv_AddPendingCall(a->fn, a);
    return NULL;
}

static int record_raw(void *arg) { return record(&((RawArgs *)arg)->seen); }

static void test_pending_from_raw_pthread_runs_on_main_thread(void **state) {
    (void)state;
    static RawArgs a;
    memset(&a, 0, sizeof a);
    a.fn = record_raw;
    pthread_t t = gvt_start_thread(raw_adder, &a);
    gvt_join_releasing_gil(t);
    assert_int_equal(a.add_rc, 0);
    assert_int_equal(a.seen.runs, 0); /* not run by the adder */
    gvt_call_ok("nop", 0, NULL);      /* the main thread's next checkpoint */
    assert_int_equal(a.seen.runs, 1);
    assert_int_equal(a.seen.thread_id, 1);
    assert_true(a.seen.had_gil);
    assert_true(pthread_equal(a.seen.os_thread, pthread_self()));
}

static int fail_wake(void *arg) {
    record_raw(arg);
    GvErr_SetString(GvExc_RuntimeError, "wake");
    return -1;
}

/* The main thread is asleep for 30 s; the call runs during the sleep and
 * raises there, which ends it. */
static void test_pending_runs_promptly_while_main_sleeps_and_failure_raises_there(void **state) {
    (void)state;
    static RawArgs a;
    memset(&a, 0, sizeof a);
    a.fn = fail_wake;
    a.interp = GvInterpreterState_Get();
    a.wait_main_parked = true;
    pthread_t t = gvt_start_thread(raw_adder, &a);
    gvt_call_expect_str("sleep_long", 0, NULL, "RuntimeError:wake");
    gvt_join_releasing_gil(t);
    assert_int_equal(a.add_rc, 0);
    assert_int_equal(a.seen.runs, 1);
    assert_int_equal(a.seen.thread_id, 1);
    double took = a.seen.at - a.added_at;
    if (took > GVT_PROMPT) fail_msg("the pending call ran %.2f s after it was added", took);
}

/* A call that runs VM code: puts "woken" on the global queue `wq`. */
static int put_woken(void *arg) {
    record_raw(arg);
    GvValue args[2] = {gvt_global("wq"), gvt_str("woken")};
    int rc = gvt_call("put", 2, args, NULL);
    gv_vdecref(args[0]);
    gv_vdecref(args[1]);
    return rc;
}

static void test_pending_runs_promptly_while_main_blocked_in_queue_get(void **state) {
    (void)state;
    GvValue q = gvt_call_ok("make_queue", 0, NULL);
    GvObject *key = gv_str_from_cstr("wq");
    gv_dict_set((GvDict *)GvThreadState_Get()->interp->globals, gv_obj(key), q);
    gv_decref(key);
    static RawArgs a;
    memset(&a, 0, sizeof a);
    a.fn = put_woken;
    a.interp = GvInterpreterState_Get();
    a.wait_main_parked = true;
    pthread_t t = gvt_start_thread(raw_adder, &a);
    gvt_call_expect_str("get", 1, &q, "woken");
    gv_vdecref(q);
    gvt_join_releasing_gil(t);
    assert_int_equal(a.add_rc, 0);
    assert_int_equal(a.seen.runs, 1);
    assert_int_equal(a.seen.thread_id, 1);
    double took = a.seen.at - a.added_at;
    if (took > GVT_PROMPT) fail_msg("the pending call ran %.2f s after it was added", took);
}

/* Two calls queued for main; the first fails and ends main's wait with its
 * exception; main waits again, for what the second call does. The second is
 * due, so the new wait must run it at once instead of sleeping through it.
 * (The builtin is called straight from C, as an embedder may: no eval-loop
 * checkpoint runs between the two waits, as none runs between a handler's
 * first instruction and a blocking call in bytecode.) */
static int put_second(void *arg) {
    (void)arg;
    GvValue args[2] = {gvt_global("wq"), gvt_str("second ran")};
    int rc = gvt_call("put", 2, args, NULL);
    gv_vdecref(args[0]);
    gv_vdecref(args[1]);
    return rc;
}

static void test_pending_left_after_failure_run_in_next_wait(void **state) {
    (void)state;
    GvValue q = gvt_call_ok("make_queue", 0, NULL);
    GvObject *key = gv_str_from_cstr("wq");
    gv_dict_set((GvDict *)GvThreadState_Get()->interp->globals, gv_obj(key), q);
    gv_decref(key);
    GvObject *name = gv_str_from_cstr("queue_get");
    GvValue queue_get;
    assert_int_equal(gv_dict_get((GvDict *)GvThreadState_Get()->interp->builtins, gv_obj(name), &queue_get), 1);
    gv_decref(name);
    GvValue args[2] = {q, gv_int(5)};
    GvThreadState *ts = GvThreadState_Get();
    assert_int_equal(Gv_AddPendingCall(fail_value_error, NULL), 0);
    assert_int_equal(Gv_AddPendingCall(put_second, NULL), 0);
    GvValue r = gv_none();
    /* The first wait runs the first call, which fails: the wait raises it. */
    assert_int_equal(gv_eval_call(ts, queue_get, 2, args, &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_ValueError);
    GvErr_Clear();
    double t0 = gvt_now();
    int rc = gv_eval_call(ts, queue_get, 2, args, &r);
    double took = gvt_now() - t0;
    gv_vdecref(queue_get);
    gv_vdecref(q);
    assert_int_equal(rc, 0);
    if (!gv_is_kind(r, GV_KSTR))
        fail_msg("the second wait timed out after %.1f s: the due call never ran in it (after a "
                 "failing call gv_pending_run re-arms GV_EB_PENDING_CALLS but not ts->interrupted, "
                 "and gv_park only looks at interrupted: runtime/services.c gv_pending_run)", took);
    assert_string_equal(gv_str_cstr(r.as.o), "second ran");
    gv_vdecref(r);
    if (took > GVT_PROMPT) fail_msg("the second call ran %.1f s late", took);
}

/* ---- a chosen thread ---- */

typedef struct Targeted {
    Seen seen;
    GvValue queue; /* where to put "from pending" */
} Targeted;

static int put_from_pending(void *arg) {
    Targeted *t = arg;
    record(&t->seen);
    GvValue args[2] = {t->queue, gvt_str("from pending")};
    int rc = gvt_call("put", 2, args, NULL);
    gv_vdecref(args[1]);
    return rc;
}

static void test_pending_to_thread_runs_on_that_thread(void **state) {
    (void)state;
    /* Two VM threads, A and B, each blocked on a queue of its own. */
    gvt_load(".func start_two qa qb\n"
             "    LOAD_GLOBAL thread_start\n"
             "    LOAD_GLOBAL get\n"
             "    LOAD_FAST qa\n"
             "    CALL 2\n"
             "    STORE_GLOBAL ha\n"
             "    LOAD_GLOBAL thread_start\n"
             "    LOAD_GLOBAL get\n"
             "    LOAD_FAST qb\n"
             "    CALL 2\n"
             "    STORE_GLOBAL hb\n"
             "    LOAD_CONST none\n"
             "    RETURN_VALUE\n"
             ".end\n"
             ".func join_a\n"
             "    LOAD_GLOBAL thread_join\n"
             "    LOAD_GLOBAL ha\n"
             "    CALL 1\n"
             "    RETURN_VALUE\n"
             ".end\n"
             ".func join_b\n"
             "    LOAD_GLOBAL thread_join\n"
             "    LOAD_GLOBAL hb\n"
             "    CALL 1\n"
             "    RETURN_VALUE\n"
             ".end\n"
             ".func id_of h\n"
             "    LOAD_GLOBAL thread_id\n"
             "    LOAD_FAST h\n"
             "    CALL 1\n"
             "    RETURN_VALUE\n"
             ".end\n");
    GvValue qs[2] = {gvt_call_ok("make_queue", 0, NULL), gvt_call_ok("make_queue", 0, NULL)};
    gvt_call_ok("start_two", 2, qs);
    GvValue ha = gvt_global("ha"), hb = gvt_global("hb");
    unsigned long a_id = (unsigned long)gvt_call_int("id_of", 1, &ha);
    unsigned long b_id = (unsigned long)gvt_call_int("id_of", 1, &hb);
    gv_vdecref(ha);
    gv_vdecref(hb);
    static Targeted t;
    memset(&t, 0, sizeof t);
    t.queue = qs[0];
    assert_int_equal(gvt_wait_parked_id_gil(a_id, 10), true);
    assert_int_equal(gvt_wait_parked_id_gil(b_id, 10), true);
    assert_int_equal(Gv_AddPendingCallToThread(a_id, put_from_pending, &t), 0);
    gvt_call_ok("nop", 0, NULL); /* a checkpoint on main: must not run A's call */
    assert_int_equal(Gv_MakePendingCalls(), 0);
    /* A runs it in its wait, gets "from pending" and ends. */
    gvt_call_expect_str("join_a", 0, NULL, "from pending");
    assert_int_equal(t.seen.runs, 1);
    assert_int_equal(t.seen.thread_id, a_id);
    assert_true(t.seen.had_gil);
    /* B never saw it. */
    GvValue args[2] = {qs[1], gvt_str("bye")};
    gvt_call_ok("put", 2, args);
    gv_vdecref(args[1]);
    gvt_call_expect_str("join_b", 0, NULL, "bye");
    gv_vdecref(qs[0]);
    gv_vdecref(qs[1]);
}

static void test_pending_to_thread_id_0_returns_minus_1(void **state) {
    (void)state;
    static Seen s;
    assert_int_equal(Gv_AddPendingCallToThread(0, record, &s), -1);
    assert_int_equal(Gv_AddPendingCall(NULL, NULL), -1);
}

/* ---- a room for each target ---- */

/* Calls that note where and in which order they ran: arg = tag * 1000 +
 * index, the tag naming the target the call was queued for. */
#define TAG_MAIN 1
#define TAG_X 2
#define TAG_Y 3
#define TAG_GONE 4
#define TAG_Z 5
static struct {
    int tag, index;
    unsigned long thread; /* GvThreadState_GetID of the thread it ran on */
} ran_log[6 * GV_PENDING_CALLS_MAX];
static int nran;

static int log_call(void *arg) {
    intptr_t v = (intptr_t)arg;
    if (nran < (int)(sizeof ran_log / sizeof ran_log[0])) { /* calls run with the GIL: no race */
        ran_log[nran].tag = (int)(v / 1000);
        ran_log[nran].index = (int)(v % 1000);
        ran_log[nran].thread = GvThreadState_GetID(GvThreadState_Get());
    }
    nran++;
    return 0;
}

/* Queues log_call(tag, 0..n-1) for target (0: Gv_AddPendingCall, for main);
 * returns how many were accepted. Any thread, with or without the GIL. */
static int queue_calls(unsigned long target, int tag, int n) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
        void *arg = (void *)(intptr_t)(tag * 1000 + i);
        ok += (target ? Gv_AddPendingCallToThread(target, log_call, arg) : Gv_AddPendingCall(log_call, arg)) == 0;
    }
    return ok;
}

/* The calls with that tag: all of 0..n-1 ran, in that order, on `thread`. */
static void expect_ran_in_order(int tag, int n, unsigned long thread, const char *who) {
    int k = 0;
    for (int i = 0; i < nran && i < (int)(sizeof ran_log / sizeof ran_log[0]); i++) {
        if (ran_log[i].tag != tag) continue;
        if (ran_log[i].index != k)
            fail_msg("%s: call %d ran where call %d was due (not FIFO)", who, ran_log[i].index, k);
        if (ran_log[i].thread != thread)
            fail_msg("%s: call %d ran on thread %lu, not on %lu", who, k, ran_log[i].thread, thread);
        k++;
    }
    if (k != n) fail_msg("%s: %d of its %d calls ran", who, k, n);
}

static int count_ran(int tag) {
    int k = 0;
    for (int i = 0; i < nran && i < (int)(sizeof ran_log / sizeof ran_log[0]); i++) k += ran_log[i].tag == tag;
    return k;
}

/* A thread with its own thread state that is away in C code: it released the
 * GIL with Gv_BEGIN_ALLOW_THREADS and waits on a C condition until the test
 * lets it come back; then it runs the calls due on it and deletes its state. */
typedef struct Away {
    GvThreadState *ts;
    unsigned long id;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool away; /* in its C wait */
    bool back; /* may come back */
    int rc;    /* of its Gv_MakePendingCalls */
} Away;

static void *away_main(void *p) {
    Away *a = p;
    GvEval_AcquireThread(a->ts);
    Gv_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&a->mu);
    a->away = true;
    pthread_cond_broadcast(&a->cond);
    while (!a->back) pthread_cond_wait(&a->cond, &a->mu);
    pthread_mutex_unlock(&a->mu);
    Gv_END_ALLOW_THREADS
    a->rc = Gv_MakePendingCalls();
    GvThreadState_Clear(a->ts);
    GvThreadState_DeleteCurrent();
    return NULL;
}

/* GIL held. Returns once the thread is away. */
static void away_start(Away *a) {
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cond, NULL);
    a->ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(a->ts);
    a->id = GvThreadState_GetID(a->ts);
    a->th = gvt_start_thread(away_main, a);
    Gv_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&a->mu);
    while (!a->away) pthread_cond_wait(&a->cond, &a->mu);
    pthread_mutex_unlock(&a->mu);
    Gv_END_ALLOW_THREADS
}

/* GIL held. Lets the thread come back, and waits until it is done. */
static void away_finish(Away *a) {
    pthread_mutex_lock(&a->mu);
    a->back = true;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    gvt_join_releasing_gil(a->th);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cond);
}

/* Calls queued for a thread that is away in C code wait there for it; they
 * must not take main's places, nor another thread's: each target has a room
 * of GV_PENDING_CALLS_MAX of its own. */
static void test_pending_each_target_has_its_own_room(void **state) {
    (void)state;
    gvt_watchdog_arm(60, "test_pending_each_target_has_its_own_room");
    nran = 0;
    static Away x, y;
    away_start(&x);
    away_start(&y);
    int n = GV_PENDING_CALLS_MAX;
    int x_ok = queue_calls(x.id, TAG_X, n);
    int x_more = queue_calls(x.id, TAG_X, 1);
    int main_ok = queue_calls(0, TAG_MAIN, n);
    int main_more = queue_calls(0, TAG_MAIN, 1);
    int y_ok = queue_calls(y.id, TAG_Y, n);
    int y_more = queue_calls(y.id, TAG_Y, 1);
    int ran_early = nran;
    int main_rc = Gv_MakePendingCalls(); /* main's calls only */
    int ran_on_main = nran;
    away_finish(&x);
    away_finish(&y);
    gvt_watchdog_disarm();
    assert_int_equal(x_ok, n);
    assert_int_equal(x_more, 0); /* the 65th for x: -1 */
    if (main_ok != n)
        fail_msg("Gv_AddPendingCall accepted %d of %d calls for main while %d calls wait for a thread away in "
                 "C code: one room shared by every target",
                 main_ok, n, x_ok);
    assert_int_equal(main_more, 0);
    if (y_ok != n) fail_msg("a second thread got %d of its %d places while the first's room was full", y_ok, n);
    assert_int_equal(y_more, 0);
    assert_int_equal(ran_early, 0);
    assert_int_equal(main_rc, 0);
    assert_int_equal(ran_on_main, n);
    expect_ran_in_order(TAG_MAIN, n, GvThreadState_GetID(GvThreadState_Get()), "main");
    assert_int_equal(x.rc, 0);
    assert_int_equal(y.rc, 0);
    expect_ran_in_order(TAG_X, n, x.id, "thread x");
    expect_ran_in_order(TAG_Y, n, y.id, "thread y");
    assert_int_equal(nran, 3 * n);
}

/* ---- calls for a thread state that is deleted before they run ---- */

/* After the calls queued for a deleted thread state were dropped: they
 * never ran, and a new thread can queue a whole room and have it run. */
static void expect_dropped_and_room_free(const char *how, int queued) {
    assert_int_equal(queued, GV_PENDING_CALLS_MAX); /* accepted while the state lived */
    assert_int_equal(Gv_MakePendingCalls(), 0);     /* nothing of theirs runs on main */
    static Away z;
    away_start(&z);
    int z_ok = queue_calls(z.id, TAG_Z, GV_PENDING_CALLS_MAX);
    int z_more = queue_calls(z.id, TAG_Z, 1);
    away_finish(&z);
    assert_int_equal(z.rc, 0);
    if (count_ran(TAG_GONE)) fail_msg("%s: %d calls queued for the deleted state ran", how, count_ran(TAG_GONE));
    if (z_ok != GV_PENDING_CALLS_MAX)
        fail_msg("%s: a new thread could queue only %d of %d calls: the dropped calls still hold their places", how,
                 z_ok, GV_PENDING_CALLS_MAX);
    assert_int_equal(z_more, 0);
    expect_ran_in_order(TAG_Z, GV_PENDING_CALLS_MAX, z.id, "the new thread");
}

/* An embedder's thread (or one whose state the test made) holding the GIL;
 * the test queues calls for it meanwhile (without the GIL), then it lets go
 * of its state at once: no eval-breaker check in between. */
typedef struct Leaving {
    bool gilstate;          /* GvGILState_Ensure/Release; else AcquireThread/DeleteCurrent */
    GvThreadState *ts;      /* for AcquireThread */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    unsigned long id;       /* published once it holds the GIL */
    bool queued;
} Leaving;

static void *leaving_main(void *p) {
    Leaving *l = p;
    GvGILState_STATE g = GvGILState_LOCKED;
    if (l->gilstate) g = GvGILState_Ensure();
    else GvEval_AcquireThread(l->ts);
    pthread_mutex_lock(&l->mu);
    l->id = GvThreadState_GetID(GvThreadState_Get());
    pthread_cond_broadcast(&l->cond);
    while (!l->queued) pthread_cond_wait(&l->cond, &l->mu);
    pthread_mutex_unlock(&l->mu);
    if (l->gilstate) {
        GvGILState_Release(g); /* deletes the state Ensure made */
    } else {
        GvThreadState_Clear(l->ts);
        GvThreadState_DeleteCurrent();
    }
    return NULL;
}

/* Runs a Leaving thread; returns how many calls were queued for it. */
static int queue_for_leaving_thread(Leaving *l) {
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cond, NULL);
    pthread_t t;
    int queued;
    Gv_BEGIN_ALLOW_THREADS
    t = gvt_start_thread(leaving_main, l);
    pthread_mutex_lock(&l->mu);
    while (!l->id) pthread_cond_wait(&l->cond, &l->mu);
    pthread_mutex_unlock(&l->mu);
    queued = queue_calls(l->id, TAG_GONE, GV_PENDING_CALLS_MAX);
    pthread_mutex_lock(&l->mu);
    l->queued = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
    pthread_join(t, NULL);
    Gv_END_ALLOW_THREADS
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cond);
    return queued;
}

static void test_pending_for_gilstate_thread_dropped_at_release(void **state) {
    (void)state;
    gvt_watchdog_arm(60, "test_pending_for_gilstate_thread_dropped_at_release");
    nran = 0;
    static Leaving l;
    memset(&l, 0, sizeof l);
    l.gilstate = true;
    int queued = queue_for_leaving_thread(&l);
    expect_dropped_and_room_free("GvGILState_Release", queued);
    gvt_watchdog_disarm();
}

static void test_pending_for_thread_dropped_at_delete_current(void **state) {
    (void)state;
    gvt_watchdog_arm(60, "test_pending_for_thread_dropped_at_delete_current");
    nran = 0;
    static Leaving l;
    memset(&l, 0, sizeof l);
    l.ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(l.ts);
    int queued = queue_for_leaving_thread(&l);
    expect_dropped_and_room_free("GvThreadState_DeleteCurrent", queued);
    gvt_watchdog_disarm();
}

static void test_pending_for_thread_state_dropped_at_delete(void **state) {
    (void)state;
    gvt_watchdog_arm(60, "test_pending_for_thread_state_dropped_at_delete");
    nran = 0;
    GvThreadState *ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(ts);
    int queued = queue_calls(GvThreadState_GetID(ts), TAG_GONE, GV_PENDING_CALLS_MAX);
    GvThreadState_Clear(ts);
    GvThreadState_Delete(ts);
    expect_dropped_and_room_free("GvThreadState_Delete", queued);
    gvt_watchdog_disarm();
}

/* ---- calls for a thread that ends without running them ----
 * A thread whose state the runtime ends (here one that entered with
 * GvGILState_Ensure and exits while holding the GIL) drops the calls queued
 * for it: they never run, and their places are free at once, not only at
 * finalization. The thread holds the GIL in C code all the while, so it
 * reaches no check that would run them. */
typedef struct Leaver {
    pthread_mutex_t m;
    pthread_cond_t c;
    int stage; /* 1: inside, holding the GIL; 2: the calls are queued */
    unsigned long id;
} Leaver;

static void *leave_holding_gil(void *p) {
    Leaver *l = p;
    GvGILState_Ensure();
    pthread_mutex_lock(&l->m);
    l->id = GvThreadState_GetID(GvThreadState_Get());
    l->stage = 1;
    pthread_cond_broadcast(&l->c);
    while (l->stage < 2) pthread_cond_wait(&l->c, &l->m);
    pthread_mutex_unlock(&l->m);
    pthread_exit(NULL); /* no Release: the runtime ends the thread state */
}

static void test_pending_for_thread_that_ended_dropped_and_room_freed(void **state) {
    (void)state;
    static Seen theirs, mine;
    memset(&theirs, 0, sizeof theirs);
    memset(&mine, 0, sizeof mine);
    Leaver l = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    pthread_t t;
    int queued = 0;
    gvt_watchdog_arm(30, "pending calls for a thread that ends");
    t = gvt_start_thread(leave_holding_gil, &l);
    Gv_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&l.m);
    while (l.stage < 1) pthread_cond_wait(&l.c, &l.m);
    /* As many as the queue takes for it. */
    while (queued < GV_PENDING_CALLS_MAX && Gv_AddPendingCallToThread(l.id, record, &theirs) == 0) queued++;
    l.stage = 2;
    pthread_cond_broadcast(&l.c);
    pthread_mutex_unlock(&l.m);
    pthread_join(t, NULL);
    Gv_END_ALLOW_THREADS
    gvt_watchdog_disarm();
    assert_true(queued > 0);
    assert_int_equal(theirs.runs, 0);
    /* Main still has the room it was promised (ASSEMBLY.md: at least 32). */
    int added = 0;
    while (added < 32 && Gv_AddPendingCall(record, &mine) == 0) added++;
    if (added < 32)
        fail_msg("only %d calls could be queued for main after a thread with %d calls queued for it ended: "
                 "its calls kept their places", added, queued);
    assert_int_equal(Gv_MakePendingCalls(), 0);
    assert_int_equal(mine.runs, 32);
    assert_int_equal(theirs.runs, 0);
}

/* ---- Gv_MakePendingCalls ---- */

static void test_make_pending_calls_runs_due_calls_now(void **state) {
    (void)state;
    static Seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(Gv_AddPendingCall(record, &s), 0);
    assert_int_equal(s.runs, 0);
    assert_int_equal(Gv_MakePendingCalls(), 0);
    assert_int_equal(s.runs, 1);
    assert_int_equal(Gv_MakePendingCalls(), 0); /* ran once */
    assert_int_equal(s.runs, 1);
}

static int fail_value_error(void *arg) {
    (void)arg;
    GvErr_SetString(GvExc_ValueError, "pending failed");
    return -1;
}

static int fail_without_exception(void *arg) {
    (void)arg;
    return -1;
}

static void test_make_pending_calls_failure_stops_and_keeps_the_rest(void **state) {
    (void)state;
    static Seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(Gv_AddPendingCall(fail_value_error, NULL), 0);
    assert_int_equal(Gv_AddPendingCall(record, &s), 0);
    assert_int_equal(Gv_MakePendingCalls(), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_ValueError);
    assert_string_equal(gvt_exc_message(), "pending failed");
    GvErr_Clear();
    assert_int_equal(s.runs, 0);
    assert_int_equal(Gv_MakePendingCalls(), 0);
    assert_int_equal(s.runs, 1);
}

static void test_pending_failure_without_exception_raises_runtime_error(void **state) {
    (void)state;
    assert_int_equal(Gv_AddPendingCall(fail_without_exception, NULL), 0);
    GvValue r;
    assert_int_equal(gvt_call("nop", 0, NULL, &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    GvErr_Clear();
}

/* ---- the program form ---- */

static void test_add_pending_call_non_callable_is_type_error(void **state) {
    (void)state;
    gvt_load(".func bad\n"
             "    LOAD_GLOBAL add_pending_call\n"
             "    LOAD_CONST 5\n"
             "    CALL 1\n"
             "    RETURN_VALUE\n"
             ".end\n");
    GvValue r;
    assert_int_equal(gvt_call("bad", 0, NULL, &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_TypeError);
    GvErr_Clear();
}

/* ---- finalization ---- */

/* add_pending_call(f) holds a reference to f; calls still queued when the
 * interpreter finalizes are dropped, never run, and release what they hold
 * (ASan's leak check sees the rest). Its own interpreter: the test ends it. */
static void test_pending_left_at_finalize_dropped_without_leak(void **state) {
    (void)state;
    gvt_load(".func never\n"
             "    LOAD_CONST none\n"
             "    RETURN_VALUE\n"
             ".end\n"
             ".func queue_some\n"
             "    LOAD_GLOBAL add_pending_call\n"
             "    LOAD_GLOBAL never\n"
             "    CALL 1\n"
             "    POP_TOP\n"
             "    LOAD_GLOBAL add_pending_call\n"
             "    LOAD_GLOBAL never\n"
             "    CALL 1\n"
             "    RETURN_VALUE\n" /* returns: no checkpoint after the adds */
             ".end\n");
    GvValue f = gvt_global("never"); /* kept past finalization to count its references */
    int64_t before = f.as.o->refcnt;
    GvValue r = gvt_call_ok("queue_some", 0, NULL);
    assert_true(r.tag == GV_TBOOL && r.as.i == 1);
    assert_int_equal(f.as.o->refcnt, before + 2); /* the queue holds two */
    static Seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(Gv_AddPendingCall(record, &s), 0);
    Gv_Finalize();
    assert_int_equal(s.runs, 0);
    assert_int_equal(f.as.o->refcnt, 1); /* only ours is left */
    gv_vdecref(f);
    assert_non_null(Gv_Initialize()); /* for the teardown */
}

static void test_pending_without_interpreter_returns_minus_1(void **state) {
    (void)state;
    Gv_Finalize();
    static Seen s;
    assert_int_equal(Gv_AddPendingCall(record, &s), -1);
    assert_int_equal(Gv_AddPendingCallToThread(1, record, &s), -1);
    assert_non_null(Gv_Initialize());
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, gvt_teardown)

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        T(test_pending_queue_full_returns_minus_1),
        T(test_add_pending_call_holds_at_least_32),
        T(test_add_pending_call_returns_false_when_full),
        T(test_pending_from_raw_pthread_runs_on_main_thread),
        T(test_pending_runs_promptly_while_main_sleeps_and_failure_raises_there),
        T(test_pending_runs_promptly_while_main_blocked_in_queue_get),
        T(test_pending_left_after_failure_run_in_next_wait),
        T(test_pending_to_thread_runs_on_that_thread),
        T(test_pending_to_thread_id_0_returns_minus_1),
        T(test_pending_each_target_has_its_own_room),
        T(test_pending_for_gilstate_thread_dropped_at_release),
        T(test_pending_for_thread_dropped_at_delete_current),
        T(test_pending_for_thread_state_dropped_at_delete),
        T(test_pending_for_thread_that_ended_dropped_and_room_freed),
        T(test_make_pending_calls_runs_due_calls_now),
        T(test_make_pending_calls_failure_stops_and_keeps_the_rest),
        T(test_pending_failure_without_exception_raises_runtime_error),
        T(test_add_pending_call_non_callable_is_type_error),
        T(test_pending_left_at_finalize_dropped_without_leak),
        T(test_pending_without_interpreter_returns_minus_1),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
