/* Asynchronous exceptions (GvThreadState_SetAsyncExc, MaskAsyncExc /
 * UnmaskAsyncExc): who receives them, when, and how they interrupt what a
 * thread is doing.
 *
 * The pattern: a VM thread runs `victim(q)` inside a .try; it puts "ready"
 * on q and then does the thing under test (spins, sleeps, waits). The test
 * (main thread) takes "ready" off q, sets the exception, and joins: the
 * victim's handler returns "TypeName:message", so the join's result shows
 * that the thread ended by the exception, and which one. */
#include "gvtest.h"

/* Shared by every test: starting a victim and joining it. */
static const char *const COMMON =
    /* "TypeName:message" of an exception. */
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
    /* Starts f(q) in a thread (globals q, h, victim_id) and waits for its "ready". */
    ".func start f\n"
    "    LOAD_GLOBAL queue_new\n"
    "    CALL 0\n"
    "    STORE_GLOBAL q\n"
    "    LOAD_GLOBAL thread_start\n"
    "    LOAD_FAST f\n"
    "    LOAD_GLOBAL q\n"
    "    CALL 2\n"
    "    STORE_GLOBAL h\n"
    "    LOAD_GLOBAL thread_id\n"
    "    LOAD_GLOBAL h\n"
    "    CALL 1\n"
    "    STORE_GLOBAL victim_id\n"
    "    LOAD_GLOBAL queue_get\n"
    "    LOAD_GLOBAL q\n"
    "    LOAD_CONST 30\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func join\n"
    "    LOAD_GLOBAL thread_join\n"
    "    LOAD_GLOBAL h\n"
    "    CALL 1\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func nop\n"
    "    LOAD_CONST none\n"
    "    RETURN_VALUE\n"
    ".end\n";

/* A victim: puts "ready", then BODY (which must not fall through into the
 * handler: end it with a RETURN_VALUE). The handler returns report(e). */
#define VICTIM(name, body)            \
    ".func " name " q\n"              \
    "    .local x\n"                  \
    "    .try s e h\n"                \
    "s:\n"                            \
    "    LOAD_GLOBAL queue_put\n"     \
    "    LOAD_FAST q\n"               \
    "    LOAD_CONST \"ready\"\n"      \
    "    CALL 2\n"                    \
    "    POP_TOP\n"                   \
    body                              \
    "e:\n"                            \
    "    LOAD_CONST \"not reached\"\n" \
    "    RETURN_VALUE\n"              \
    "h:\n"                            \
    "    STORE_FAST x\n"              \
    "    POP_EXCEPT\n"                \
    "    LOAD_GLOBAL report\n"        \
    "    LOAD_FAST x\n"               \
    "    CALL 1\n"                    \
    "    RETURN_VALUE\n"              \
    ".end\n"

static const char *const VICTIMS =
    VICTIM("spinner",
           "spin:\n"
           "    JUMP spin\n")
    VICTIM("sleeper",
           "    LOAD_GLOBAL sleep\n"
           "    LOAD_CONST 60\n"
           "    CALL 1\n"
           "    POP_TOP\n"
           "    LOAD_CONST \"slept 60 s\"\n"
           "    RETURN_VALUE\n")
    VICTIM("locker",
           "    LOAD_GLOBAL lock_acquire\n"
           "    LOAD_GLOBAL lk\n"
           "    LOAD_CONST 60\n"
           "    CALL 2\n"
           "    POP_TOP\n"
           "    LOAD_CONST \"got the lock\"\n"
           "    RETURN_VALUE\n")
    VICTIM("getter",
           "    LOAD_GLOBAL queue_get\n"
           "    LOAD_GLOBAL empty\n"
           "    LOAD_CONST 60\n"
           "    CALL 2\n"
           "    POP_TOP\n"
           "    LOAD_CONST \"got an item\"\n"
           "    RETURN_VALUE\n")
    VICTIM("joiner",
           "    LOAD_GLOBAL thread_join\n"
           "    LOAD_GLOBAL other\n"
           "    CALL 1\n"
           "    POP_TOP\n"
           "    LOAD_CONST \"joined\"\n"
           "    RETURN_VALUE\n")
    /* Finishes normally once it gets "go" from the global queue `go`. */
    VICTIM("waits_for_go",
           "    LOAD_GLOBAL queue_get\n"
           "    LOAD_GLOBAL go\n"
           "    LOAD_CONST 30\n"
           "    CALL 2\n"
           "    POP_TOP\n"
           "    LOAD_GLOBAL nop\n"  /* checkpoints: a pending exception would raise here */
           "    CALL 0\n"
           "    POP_TOP\n"
           "    LOAD_CONST \"finished normally\"\n"
           "    RETURN_VALUE\n")
    ".func setup_waits\n"
    "    LOAD_GLOBAL lock_new\n"
    "    CALL 0\n"
    "    STORE_GLOBAL lk\n"
    "    LOAD_GLOBAL lock_acquire\n"   /* held by main: locker blocks */
    "    LOAD_GLOBAL lk\n"
    "    CALL 1\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL queue_new\n"
    "    CALL 0\n"
    "    STORE_GLOBAL empty\n"
    "    LOAD_GLOBAL queue_new\n"
    "    CALL 0\n"
    "    STORE_GLOBAL go\n"
    "    LOAD_CONST none\n"
    "    RETURN_VALUE\n"
    ".end\n"
    /* The thread joiner waits for: blocked on the queue `other_q`. */
    ".func other_body\n"
    "    LOAD_GLOBAL queue_get\n"
    "    LOAD_GLOBAL other_q\n"
    "    LOAD_CONST 60\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func start_other\n"
    "    LOAD_GLOBAL queue_new\n"
    "    CALL 0\n"
    "    STORE_GLOBAL other_q\n"
    "    LOAD_GLOBAL thread_start\n"
    "    LOAD_GLOBAL other_body\n"
    "    CALL 1\n"
    "    STORE_GLOBAL other\n"
    "    LOAD_CONST none\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func finish_other\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_GLOBAL other_q\n"
    "    LOAD_CONST \"done\"\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL thread_join\n"
    "    LOAD_GLOBAL other\n"
    "    CALL 1\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func put_go\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_GLOBAL go\n"
    "    LOAD_CONST \"go\"\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n";

static int setup(void **state) {
    int rc = gvt_setup(state);
    gvt_load(COMMON);
    gvt_load(VICTIMS);
    GvValue r = gvt_call_ok("setup_waits", 0, NULL);
    gv_vdecref(r);
    return rc;
}

static void start_victim(const char *name) {
    GvValue f = gvt_global(name);
    gvt_call_expect_str("start", 1, &f, "ready");
    gv_vdecref(f);
}

static unsigned long victim_id(void) {
    GvValue v = gvt_global("victim_id");
    assert_true(gv_is_intlike(v));
    return (unsigned long)v.as.i;
}

/* A new ValueError("stop"); the caller drops it. */
static GvObject *value_error(const char *msg) {
    GvValue m = gvt_str(msg);
    GvObject *e = gv_exc_new(&gv_type_ValueError, m.as.o, m);
    gv_vdecref(m);
    assert_non_null(e);
    return e;
}

/* Sets ValueError(msg) in the victim; asserts it reached it. */
static void raise_in_victim(const char *msg) {
    GvObject *e = value_error(msg);
    assert_int_equal(GvThreadState_SetAsyncExc(victim_id(), e), 1);
    gv_decref(e);
}

/* ---- who it reaches ---- */

static void test_async_exc_unknown_id_returns_0(void **state) {
    (void)state;
    GvObject *e = value_error("x");
    assert_int_equal(GvThreadState_SetAsyncExc(999999, e), 0);
    assert_int_equal(GvThreadState_SetAsyncExc(0, e), 0);
    assert_null(GvErr_Occurred());
    gv_decref(e);
}

static void test_async_exc_finished_thread_returns_0(void **state) {
    (void)state;
    gvt_load(".func quick\n"
             "    LOAD_CONST 7\n"
             "    RETURN_VALUE\n"
             ".end\n"
             ".func run_quick\n"
             "    LOAD_GLOBAL thread_start\n"
             "    LOAD_GLOBAL quick\n"
             "    CALL 1\n"
             "    STORE_GLOBAL h\n"
             "    LOAD_GLOBAL thread_id\n"
             "    LOAD_GLOBAL h\n"
             "    CALL 1\n"
             "    STORE_GLOBAL victim_id\n"
             "    LOAD_GLOBAL thread_join\n"
             "    LOAD_GLOBAL h\n"
             "    CALL 1\n"
             "    RETURN_VALUE\n"
             ".end\n");
    assert_int_equal(gvt_call_int("run_quick", 0, NULL), 7);
    GvObject *e = value_error("too late");
    assert_int_equal(GvThreadState_SetAsyncExc(victim_id(), e), 0);
    assert_int_equal(e->refcnt, 1); /* nobody kept it */
    gv_decref(e);
}

static void test_async_exc_rejects_non_exception(void **state) {
    (void)state;
    GvValue s = gvt_str("not an exception");
    unsigned long self = GvThreadState_GetID(GvThreadState_Get());
    assert_int_equal(GvThreadState_SetAsyncExc(self, s.as.o), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_TypeError);
    GvErr_Clear();
    gv_vdecref(s);
    gvt_call_ok("nop", 0, NULL); /* nothing pending */
}

static void test_async_exc_to_self_raised_at_next_check(void **state) {
    (void)state;
    unsigned long self = GvThreadState_GetID(GvThreadState_Get());
    GvObject *e = value_error("self");
    assert_int_equal(GvThreadState_SetAsyncExc(self, e), 1);
    gv_decref(e);
    assert_null(GvErr_Occurred()); /* not raised by the call itself */
    GvValue r;
    assert_int_equal(gvt_call("nop", 0, NULL, &r), -1); /* function entry is a check */
    assert_ptr_equal(gvt_exc_type(), &gv_type_ValueError);
    assert_string_equal(gvt_exc_message(), "self");
    GvErr_Clear();
    gvt_call_ok("nop", 0, NULL); /* delivered once */
}

/* ---- clearing ---- */

static void test_async_exc_null_clears_pending_one(void **state) {
    (void)state;
    start_victim("waits_for_go"); /* now blocked on `go` */
    raise_in_victim("cleared");
    assert_int_equal(GvThreadState_SetAsyncExc(victim_id(), NULL), 1);
    gvt_call_ok("put_go", 0, NULL);
    gvt_call_expect_str("join", 0, NULL, "finished normally");
}

/* ---- interrupting ---- */

static void test_async_exc_interrupts_tight_loop(void **state) {
    (void)state;
    start_victim("spinner");
    raise_in_victim("stop");
    gvt_call_expect_str("join", 0, NULL, "ValueError:stop");
}

/* Sets the exception once the victim is parked, then checks it ended within
 * GVT_PROMPT seconds by that exception. */
static void interrupt_parked_victim(void) {
    assert_true(gvt_wait_parked_id_gil(victim_id(), 10));
    double t0 = gvt_now();
    raise_in_victim("wake");
    gvt_call_expect_str("join", 0, NULL, "ValueError:wake");
    double took = gvt_now() - t0;
    if (took > GVT_PROMPT) fail_msg("the parked thread took %.2f s to raise", took);
}

static void test_async_exc_interrupts_sleep(void **state) {
    (void)state;
    start_victim("sleeper");
    interrupt_parked_victim();
}

static void test_async_exc_interrupts_lock_acquire(void **state) {
    (void)state;
    start_victim("locker");
    interrupt_parked_victim();
}

static void test_async_exc_interrupts_queue_get(void **state) {
    (void)state;
    start_victim("getter");
    interrupt_parked_victim();
}

static void test_async_exc_interrupts_thread_join(void **state) {
    (void)state;
    gvt_call_ok("start_other", 0, NULL);
    start_victim("joiner");
    interrupt_parked_victim();
    /* The thread it was joining is untouched. */
    gvt_call_expect_str("finish_other", 0, NULL, "done");
}

/* ---- type or instance ---- */

static void test_async_exc_type_delivered_as_instance(void **state) {
    (void)state;
    start_victim("spinner");
    assert_int_equal(GvThreadState_SetAsyncExc(victim_id(), GvExc_KeyError), 1);
    /* report() is type_name(e) + ":" + str(e): "KeyError:" only for an instance
     * (type_name of the type object itself would not be "KeyError"). */
    gvt_call_expect_str("join", 0, NULL, "KeyError:");
}

static void test_async_exc_instance_delivered_as_is(void **state) {
    (void)state;
    gvt_load(".func catch_self e\n"
             "    .local x\n"
             "    .try s t h\n"
             "s:\n"
             "    LOAD_GLOBAL nop\n"
             "    CALL 0\n"
             "    POP_TOP\n"
             "t:\n"
             "    LOAD_CONST none\n"
             "    RETURN_VALUE\n"
             "h:\n"
             "    STORE_FAST x\n"
             "    POP_EXCEPT\n"
             "    LOAD_FAST x\n"
             "    LOAD_FAST e\n"
             "    COMPARE_EQ\n"     /* exceptions compare by identity */
             "    RETURN_VALUE\n"
             ".end\n");
    GvObject *e = value_error("same object");
    assert_int_equal(GvThreadState_SetAsyncExc(GvThreadState_GetID(GvThreadState_Get()), e), 1);
    GvValue arg = gv_obj(e);
    GvValue r = gvt_call_ok("catch_self", 1, &arg);
    assert_true(r.tag == GV_TBOOL && r.as.i == 1);
    gv_decref(e);
}

/* ---- masking ---- */

/* async_mask(); "ready"; wait for "go" (the exception is set meanwhile, and
 * interrupts this very wait); work that must complete; async_unmask(); a
 * checkpoint raises. The globals say how far it got. */
static const char *const MASKED =
    ".func masked q\n"
    "    .local x i total\n"
    "    .try s e h\n"
    "s:\n"
    "    LOAD_GLOBAL async_mask\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_FAST q\n"
    "    LOAD_CONST \"ready\"\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL queue_get\n"
    "    LOAD_GLOBAL go\n"
    "    LOAD_CONST 30\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_CONST 0\n"         /* the work: 1000 passes, each a checkpoint */
    "    STORE_FAST i\n"
    "    LOAD_CONST 0\n"
    "    STORE_FAST total\n"
    "top:\n"
    "    LOAD_FAST total\n"
    "    LOAD_FAST i\n"
    "    BINARY_ADD\n"
    "    STORE_FAST total\n"
    "    LOAD_GLOBAL nop\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_FAST i\n"
    "    LOAD_CONST 1\n"
    "    BINARY_ADD\n"
    "    STORE_FAST i\n"
    "    LOAD_FAST i\n"
    "    LOAD_CONST 1000\n"
    "    COMPARE_LT\n"
    "    POP_JUMP_IF_TRUE top\n"
    "    LOAD_FAST total\n"
    "    STORE_GLOBAL work\n"
    "    LOAD_GLOBAL async_unmask\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL nop\n"      /* the next checkpoint: raised here */
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_CONST true\n"
    "    STORE_GLOBAL after_unmask\n"
    "e:\n"
    "    LOAD_CONST \"not raised\"\n"
    "    RETURN_VALUE\n"
    "h:\n"
    "    STORE_FAST x\n"
    "    POP_EXCEPT\n"
    "    LOAD_GLOBAL report\n"
    "    LOAD_FAST x\n"
    "    CALL 1\n"
    "    RETURN_VALUE\n"
    ".end\n";

static void test_async_exc_masked_until_end_of_scope(void **state) {
    (void)state;
    gvt_load(MASKED);
    start_victim("masked");
    assert_true(gvt_wait_parked_id_gil(victim_id(), 10)); /* in queue_get(go), masked */
    raise_in_victim("deferred");
    /* Give the interrupted wait time to see the exception and go on waiting. */
    Gv_BEGIN_ALLOW_THREADS
    gvt_msleep(50);
    Gv_END_ALLOW_THREADS
    gvt_call_ok("put_go", 0, NULL);
    gvt_call_expect_str("join", 0, NULL, "ValueError:deferred");
    GvValue w = gvt_global("work");
    assert_int_equal(w.as.i, 499500); /* the masked work completed */
    assert_false(gvt_has_global("after_unmask")); /* raised right after the scope */
}

/* As `masked`, but what follows the scope is a blocking wait: the exception
 * that became due at async_unmask() must wake it at once, as it would wake
 * any wait ("a thread blocked in a VM wait is woken to raise it at once"). */
static const char *const MASKED_THEN_SLEEP =
    ".func masked_then_sleep q\n"
    "    .local x\n"
    "    .try s e h\n"
    "s:\n"
    "    LOAD_GLOBAL async_mask\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_FAST q\n"
    "    LOAD_CONST \"ready\"\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL queue_get\n"   /* interrupted by the exception, held back, waits on */
    "    LOAD_GLOBAL go\n"
    "    LOAD_CONST 30\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL async_unmask\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL sleep\n"       /* the exception is due: this must not sleep 10 s */
    "    LOAD_CONST 10\n"
    "    CALL 1\n"
    "    POP_TOP\n"
    "e:\n"
    "    LOAD_CONST \"not raised\"\n"
    "    RETURN_VALUE\n"
    "h:\n"
    "    STORE_FAST x\n"
    "    POP_EXCEPT\n"
    "    LOAD_GLOBAL report\n"
    "    LOAD_FAST x\n"
    "    CALL 1\n"
    "    RETURN_VALUE\n"
    ".end\n";

static void test_async_exc_due_at_unmask_wakes_following_wait(void **state) {
    (void)state;
    gvt_load(MASKED_THEN_SLEEP);
    start_victim("masked_then_sleep");
    assert_true(gvt_wait_parked_id_gil(victim_id(), 10)); /* in queue_get(go), masked */
    raise_in_victim("due");
    Gv_BEGIN_ALLOW_THREADS
    gvt_msleep(50); /* it wakes, sees the exception is masked, parks again */
    Gv_END_ALLOW_THREADS
    double t0 = gvt_now();
    gvt_call_ok("put_go", 0, NULL);
    gvt_call_expect_str("join", 0, NULL, "ValueError:due");
    double took = gvt_now() - t0;
    if (took > GVT_PROMPT)
        fail_msg("raised %.1f s after the scope ended: async_unmask() set GV_EB_ASYNC_EXC but not "
                 "ts->interrupted, so the sleep that followed parked for its whole length "
                 "(runtime/services.c gv_async_unmask; gv_park only looks at interrupted)", took);
}

static const char *const NESTED =
    ".func nested\n"
    "    .local x\n"
    "    .try s e h\n"
    "s:\n"
    "    LOAD_GLOBAL async_mask\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL async_mask\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL async_raise\n"
    "    LOAD_GLOBAL thread_id\n"
    "    CALL 0\n"
    "    LOAD_GLOBAL ValueError\n"
    "    LOAD_CONST \"nested\"\n"
    "    CALL 1\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL nop\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL async_unmask\n"   /* inner scope ends: still masked */
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL nop\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_CONST true\n"
    "    STORE_GLOBAL inner_done\n"
    "    LOAD_GLOBAL async_unmask\n"   /* outer scope ends */
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL nop\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_CONST true\n"
    "    STORE_GLOBAL outer_done\n"
    "e:\n"
    "    LOAD_CONST \"not raised\"\n"
    "    RETURN_VALUE\n"
    "h:\n"
    "    STORE_FAST x\n"
    "    POP_EXCEPT\n"
    "    LOAD_GLOBAL report\n"
    "    LOAD_FAST x\n"
    "    CALL 1\n"
    "    RETURN_VALUE\n"
    ".end\n";

static void test_async_exc_nested_masks_deliver_at_outermost_unmask(void **state) {
    (void)state;
    gvt_load(NESTED);
    gvt_call_expect_str("nested", 0, NULL, "ValueError:nested");
    assert_true(gvt_has_global("inner_done"));
    assert_false(gvt_has_global("outer_done"));
}

static void test_async_exc_c_mask_scope(void **state) {
    (void)state;
    unsigned long self = GvThreadState_GetID(GvThreadState_Get());
    GvThreadState_MaskAsyncExc();
    GvObject *e = value_error("c scope");
    assert_int_equal(GvThreadState_SetAsyncExc(self, e), 1);
    gv_decref(e);
    gvt_call_ok("nop", 0, NULL); /* masked: nop runs */
    gvt_call_ok("nop", 0, NULL);
    GvThreadState_UnmaskAsyncExc();
    GvValue r;
    assert_int_equal(gvt_call("nop", 0, NULL, &r), -1);
    assert_string_equal(gvt_exc_message(), "c scope");
    GvErr_Clear();
}

static void test_async_unmask_without_mask_is_runtime_error(void **state) {
    (void)state;
    gvt_load(".func bad_unmask\n"
             "    LOAD_GLOBAL async_unmask\n"
             "    CALL 0\n"
             "    RETURN_VALUE\n"
             ".end\n");
    GvValue r;
    assert_int_equal(gvt_call("bad_unmask", 0, NULL, &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    GvErr_Clear();
}

/* ---- an interruption and a wake-up that meet ---- */

/* The racers: each puts "ready" on q, waits (the wait leaves its result on
 * the stack) and returns at once: no eval-breaker check between the wait and
 * the return. The global `took` gets what the wait gave (still none if the
 * exception ended the wait), the handler's `caught` the exception. */
#define RACER(name, wait)              \
    ".func " name " q\n"               \
    "    .local x e\n"                 \
    "    .try s t h\n"                 \
    "s:\n"                             \
    "    LOAD_GLOBAL queue_put\n"      \
    "    LOAD_FAST q\n"                \
    "    LOAD_CONST \"ready\"\n"       \
    "    CALL 2\n"                     \
    "    POP_TOP\n"                    \
    wait                               \
    "    STORE_FAST x\n"               \
    "    LOAD_FAST x\n"                \
    "    STORE_GLOBAL took\n"          \
    "    LOAD_CONST \"returned\"\n"    \
    "    RETURN_VALUE\n"               \
    "t:\n"                             \
    "h:\n"                             \
    "    STORE_FAST e\n"               \
    "    POP_EXCEPT\n"                 \
    "    LOAD_FAST x\n"                \
    "    STORE_GLOBAL took\n"          \
    "    LOAD_FAST e\n"                \
    "    STORE_GLOBAL caught\n"        \
    "    LOAD_CONST \"caught\"\n"      \
    "    RETURN_VALUE\n"               \
    ".end\n"

static const char *const RACERS =
    RACER("get_racer",
          "    LOAD_GLOBAL queue_get\n"
          "    LOAD_GLOBAL wake\n"
          "    CALL 1\n")
    RACER("lock_racer",
          "    LOAD_GLOBAL lock_acquire\n"
          "    LOAD_GLOBAL lk\n"
          "    CALL 1\n")
    RACER("join_racer",
          "    LOAD_GLOBAL thread_join\n"
          "    LOAD_GLOBAL other\n"
          "    CALL 1\n")
    RACER("sleep_racer",
          "    LOAD_GLOBAL sleep\n"
          "    LOAD_GLOBAL nap\n"
          "    CALL 1\n"
          "    POP_TOP\n"
          "    LOAD_CONST true\n")
    ".func new_wake\n"
    "    LOAD_GLOBAL queue_new\n"
    "    CALL 0\n"
    "    STORE_GLOBAL wake\n"
    "    LOAD_CONST none\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func put_wake\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_GLOBAL wake\n"
    "    LOAD_CONST \"x\"\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func left_in_wake\n" /* what the next getter finds: "x" or none */
    "    LOAD_GLOBAL queue_get\n"
    "    LOAD_GLOBAL wake\n"
    "    LOAD_CONST 0\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func release_lk\n"
    "    LOAD_GLOBAL lock_release\n"
    "    LOAD_GLOBAL lk\n"
    "    CALL 1\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func try_lk\n"
    "    LOAD_GLOBAL lock_acquire\n"
    "    LOAD_GLOBAL lk\n"
    "    LOAD_CONST 0\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func let_other_end\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_GLOBAL other_q\n"
    "    LOAD_CONST \"done\"\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func join_other\n"
    "    LOAD_GLOBAL thread_join\n"
    "    LOAD_GLOBAL other\n"
    "    CALL 1\n"
    "    RETURN_VALUE\n"
    ".end\n";

typedef enum { RACE_QUEUE, RACE_LOCK, RACE_JOIN, RACE_SLEEP } Race;

/* What the rounds of one race saw. */
typedef struct Tally {
    int rounds;
    int reached;    /* SetAsyncExc returned 1 */
    int seen;       /* exceptions raised in B: caught by its handler, or uncaught at its return */
    int lost;       /* reached, yet B returned normally */
    int twice;      /* raised more than once in one round */
    int unreported; /* uncaught at B's return but not reported on stderr */
    int bad_items;  /* queue: item neither received nor left; lock: free although B got it, or the reverse */
} Tally;

static void set_none(const char *name) { gvt_set_global(name, gv_none()); }

static bool global_is_none(const char *name) {
    GvValue v = gvt_global(name);
    bool none = gv_is_none(v);
    gv_vdecref(v);
    return none;
}

static bool is_str(GvValue v, const char *s) {
    return gv_is_kind(v, GV_KSTR) && strcmp(gv_str_cstr(v.as.o), s) == 0;
}

static bool is_true(GvValue v) { return v.tag == GV_TBOOL && v.as.i == 1; }

/* One round: B waits; main sets ValueError("late") in B and, with no check
 * in between, does what ends B's wait (nothing for a sleep); then joins B. */
static void race_round(Race race, int i, Tally *t) {
    static const char *const racers[] = {"get_racer", "lock_racer", "join_racer", "sleep_racer"};
    set_none("took");
    set_none("caught");
    if (race == RACE_QUEUE) gvt_call_ok("new_wake", 0, NULL);
    if (race == RACE_JOIN) gvt_call_ok("start_other", 0, NULL);
    if (race == RACE_SLEEP) {
        /* 0 (a yield) to 2 ms: the raise comes about when the sleep ends. */
        static const double naps[] = {0, 0.0005, 0.001, 0.002};
        gvt_set_global("nap", gv_float(naps[i % 4]));
    }
    start_victim(racers[race]);
    if (race != RACE_SLEEP && !gvt_wait_parked_id_gil(victim_id(), 10)) fail_msg("round %d: B never blocked", i);
    GvObject *e = value_error("late");
    int reached = GvThreadState_SetAsyncExc(victim_id(), e);
    gv_decref(e);
    if (race == RACE_QUEUE) gvt_call_ok("put_wake", 0, NULL);
    if (race == RACE_LOCK) gvt_call_ok("release_lk", 0, NULL);
    if (race == RACE_JOIN) gvt_call_ok("let_other_end", 0, NULL);

    GvtCapture cap;
    gvt_capture_begin(&cap, 2);
    GvValue r = gvt_call_ok("join", 0, NULL);
    char *err = gvt_capture_end(&cap);
    bool uncaught = gv_is_none(r); /* thread_join: none when B's function raised */
    bool caught = !global_is_none("caught");
    t->rounds++;
    t->reached += reached;
    t->seen += caught + uncaught;
    t->twice += caught && uncaught;
    t->lost += reached && is_str(r, "returned");
    t->unreported += uncaught && !strstr(err, "ValueError: late");
    if (!uncaught && !is_str(r, "returned") && !is_str(r, "caught")) fail_msg("round %d: B returned %s", i, gv_type_name(r));
    gv_vdecref(r);
    free(err);

    GvValue took = gvt_global("took");
    if (race == RACE_QUEUE) {
        GvValue left = gvt_call_ok("left_in_wake", 0, NULL);
        t->bad_items += is_str(took, "x") + is_str(left, "x") != 1;
        gv_vdecref(left);
    } else if (race == RACE_LOCK) {
        /* Main holds lk again after this, whoever had it. */
        GvValue free_now = gvt_call_ok("try_lk", 0, NULL);
        t->bad_items += is_true(free_now) == is_true(took);
        gv_vdecref(free_now);
    } else if (race == RACE_JOIN) {
        gvt_call_expect_str("join_other", 0, NULL, "done"); /* untouched by B's exception */
    }
    gv_vdecref(took);
}

/* Runs the race many times and checks: every exception that reached B was
 * raised in B exactly once, out of the wait or at B's next check (at the
 * latest its return, then reported as its uncaught exception), and nothing
 * the wait was for got lost. */
static void run_race(Race race, const char *what) {
    gvt_watchdog_arm(60, what);
    Tally t;
    memset(&t, 0, sizeof t);
    int rounds = (int)gvt_scale_tsan(1000, 20);
    for (int i = 0; i < rounds; i++) race_round(race, i, &t);
    gvt_watchdog_disarm();
    if (t.lost)
        fail_msg("%s: in %d of %d rounds the exception reached B (SetAsyncExc returned 1) but was never raised: "
                 "B's wait returned normally and B returned without it",
                 what, t.lost, t.rounds);
    if (t.twice) fail_msg("%s: raised twice in B in %d of %d rounds", what, t.twice, t.rounds);
    assert_int_equal(t.seen, t.reached);
    if (t.unreported)
        fail_msg("%s: %d times B's function raised at its return but nothing was reported on stderr", what,
                 t.unreported);
    if (t.bad_items)
        fail_msg("%s: in %d of %d rounds what B waited for was lost or duplicated", what, t.bad_items, t.rounds);
    if (race != RACE_SLEEP) assert_int_equal(t.reached, t.rounds);
}

static void test_async_exc_then_queue_put_raised_once_item_kept(void **state) {
    (void)state;
    gvt_load(RACERS);
    run_race(RACE_QUEUE, "async exception, then queue_put");
}

static void test_async_exc_then_lock_release_raised_once_lock_kept(void **state) {
    (void)state;
    gvt_load(RACERS);
    run_race(RACE_LOCK, "async exception, then lock_release");
}

static void test_async_exc_then_joined_thread_ends_raised_once(void **state) {
    (void)state;
    gvt_load(RACERS);
    run_race(RACE_JOIN, "async exception, then the joined thread ends");
}

static void test_async_exc_as_sleep_ends_raised_once(void **state) {
    (void)state;
    gvt_load(RACERS);
    run_race(RACE_SLEEP, "async exception as the sleep ends");
}

/* ---- misuse ---- */

/* Without the GIL: a fatal error (message and abort), never a crash or a
 * silent success. Checked in a child process, so the test binary lives on. */
static int set_async_exc_without_gil(void *arg) {
    (void)arg;
    GvThreadState *ts = GvEval_SaveThread(); /* releases the GIL, detaches */
    GvThreadState_Swap(ts);                  /* attached again, but without the GIL */
    GvThreadState_SetAsyncExc(1, GvExc_ValueError);
    return 0; /* not fatal: the parent fails the test */
}

static void test_async_exc_without_gil_is_fatal(void **state) {
    (void)state;
    GvtChild c = gvt_run_in_child(set_async_exc_without_gil, NULL);
    if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGABRT)
        fail_msg("child did not abort (status %#x); stderr: %s", c.status, c.err);
    assert_non_null(strstr(c.err, "GvThreadState_SetAsyncExc"));
    assert_non_null(strstr(c.err, "GIL"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, gvt_teardown)

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        T(test_async_exc_unknown_id_returns_0),
        T(test_async_exc_finished_thread_returns_0),
        T(test_async_exc_rejects_non_exception),
        T(test_async_exc_to_self_raised_at_next_check),
        T(test_async_exc_null_clears_pending_one),
        T(test_async_exc_interrupts_tight_loop),
        T(test_async_exc_interrupts_sleep),
        T(test_async_exc_interrupts_lock_acquire),
        T(test_async_exc_interrupts_queue_get),
        T(test_async_exc_interrupts_thread_join),
        T(test_async_exc_type_delivered_as_instance),
        T(test_async_exc_instance_delivered_as_is),
        T(test_async_exc_masked_until_end_of_scope),
        T(test_async_exc_due_at_unmask_wakes_following_wait),
        T(test_async_exc_nested_masks_deliver_at_outermost_unmask),
        T(test_async_exc_c_mask_scope),
        T(test_async_unmask_without_mask_is_runtime_error),
        T(test_async_exc_without_gil_is_fatal),
        T(test_async_exc_then_queue_put_raised_once_item_kept),
        T(test_async_exc_then_lock_release_raised_once_lock_kept),
        T(test_async_exc_then_joined_thread_ends_raised_once),
        T(test_async_exc_as_sleep_ends_raised_once),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
