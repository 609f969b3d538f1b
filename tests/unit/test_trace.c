/* Trace and profile hooks (GvEval_SetTrace, SetProfile, the AllThreads
 * variants, SetTraceOpcodes): which events come, in which order, from which
 * threads; what a hook may do (run code, fail, remove itself).
 *
 * The recording hook writes each event as a short line ("LINE f 3",
 * "OPCODE f @2 BINARY_ADD", ...) so that a failing test prints the whole
 * sequence it got. Hooks run with the GIL, so the recorder needs no lock. */
#include "gvtest.h"

#include "../../vm/opcodes.h"

/* ---- the recorder ---- */

#define MAX_EVENTS 4096

static struct {
    char ev[MAX_EVENTS][96];
    const void *arg[MAX_EVENTS];     /* EXCEPTION: the exception; else the arg given */
    unsigned long tid[MAX_EVENTS];
    int n;
    bool overflow;
} rec;

static void rec_reset(void) {
    rec.n = 0;
    rec.overflow = false;
}

static const char *what_name(GvTraceWhat w) {
    switch (w) {
    case GV_TRACE_CALL: return "CALL";
    case GV_TRACE_EXCEPTION: return "EXCEPTION";
    case GV_TRACE_LINE: return "LINE";
    case GV_TRACE_RETURN: return "RETURN";
    case GV_TRACE_OPCODE: return "OPCODE";
    }
    return "?";
}

static void rec_add(const GvTraceEvent *e) {
    if (rec.n == MAX_EVENTS) {
        rec.overflow = true;
        return;
    }
    char *s = rec.ev[rec.n];
    switch (e->what) {
    case GV_TRACE_LINE: snprintf(s, 96, "LINE %s %u", e->function, e->line); break;
    case GV_TRACE_OPCODE: snprintf(s, 96, "OPCODE %s @%u %s", e->function, e->offset, e->opname); break;
    case GV_TRACE_EXCEPTION:
        snprintf(s, 96, "EXCEPTION %s %s", e->function,
                 e->arg && e->arg->kind == GV_KEXC ? ((GvException *)e->arg)->type->name : "(no exception)");
        break;
    default: snprintf(s, 96, "%s %s", what_name(e->what), e->function); break;
    }
    rec.arg[rec.n] = e->arg;
    rec.tid[rec.n] = e->thread_id;
    rec.n++;
}

static int record(void *userdata, const GvTraceEvent *e) {
    (void)userdata;
    rec_add(e);
    return 0;
}

static void rec_dump(const char *why) {
    fprintf(stderr, "%s; %d events recorded:\n", why, rec.n);
    for (int i = 0; i < rec.n; i++) fprintf(stderr, "  [%d] %s (thread %lu)\n", i, rec.ev[i], rec.tid[i]);
}

/* Asserts that the recorded events are exactly `want` (n lines). */
static void rec_expect(const char *const *want, int n) {
    bool ok = rec.n == n && !rec.overflow;
    for (int i = 0; ok && i < n; i++) ok = strcmp(rec.ev[i], want[i]) == 0;
    if (!ok) {
        fprintf(stderr, "expected %d events:\n", n);
        for (int i = 0; i < n; i++) fprintf(stderr, "  [%d] %s\n", i, want[i]);
        rec_dump("but got");
        fail_msg("trace events differ (see above)");
    }
}

static int rec_count_prefix(const char *prefix) {
    int k = 0;
    for (int i = 0; i < rec.n; i++) k += strncmp(rec.ev[i], prefix, strlen(prefix)) == 0;
    return k;
}

/* Each test starts with no hook on any thread and opcode events off. */
static int setup(void **state) {
    rec_reset();
    int rc = gvt_setup(state);
    GvEval_SetTraceOpcodes(0);
    return rc;
}

static int teardown(void **state) {
    GvEval_SetTraceAllThreads(NULL, NULL);
    GvEval_SetProfileAllThreads(NULL, NULL);
    GvEval_SetTraceOpcodes(0);
    return gvt_teardown(state);
}

/* Line numbers matter below: they are the source lines of this text. */
static const char *const SMALL =
    ".func add1 a\n"        /* 1 */
    "    LOAD_FAST a\n"     /* 2 */
    "    LOAD_CONST 1\n"    /* 3 */
    "    BINARY_ADD\n"      /* 4 */
    "    RETURN_VALUE\n"    /* 5 */
    ".end\n"                /* 6 */
    ".func main\n"          /* 7 */
    "    LOAD_GLOBAL add1\n" /* 8 */
    "    LOAD_CONST 41\n"   /* 9 */
    "    CALL 1\n"          /* 10 */
    "    RETURN_VALUE\n"    /* 11 */
    ".end\n";

/* ---- order ---- */

static void test_trace_events_come_in_documented_order(void **state) {
    (void)state;
    gvt_load(SMALL);
    GvEval_SetTrace(record, NULL);
    assert_int_equal(gvt_call_int("main", 0, NULL), 42);
    GvEval_SetTrace(NULL, NULL);
    static const char *const want[] = {
        "CALL main",  "LINE main 8", "LINE main 9", "LINE main 10", "CALL add1",   "LINE add1 2",
        "LINE add1 3", "LINE add1 4", "LINE add1 5", "RETURN add1", "LINE main 11", "RETURN main",
    };
    rec_expect(want, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < rec.n; i++) assert_null(rec.arg[i]); /* arg is only for EXCEPTION */
    for (int i = 0; i < rec.n; i++) assert_int_equal(rec.tid[i], GvThreadState_GetID(GvThreadState_Get()));
}

static const char *const RAISING =
    ".func boom\n"                 /* 1 */
    "    LOAD_GLOBAL ValueError\n" /* 2 */
    "    RAISE\n"                  /* 3 */
    ".end\n"                       /* 4 */
    ".func catcher\n"              /* 5 */
    "    .try s e h\n"             /* 6 */
    "s:\n"                         /* 7 */
    "    LOAD_GLOBAL boom\n"       /* 8 */
    "    CALL 0\n"                 /* 9 */
    "    POP_TOP\n"                /* 10 */
    "e:\n"                         /* 11 */
    "    LOAD_CONST \"no\"\n"      /* 12 */
    "    RETURN_VALUE\n"           /* 13 */
    "h:\n"                         /* 14 */
    "    POP_TOP\n"                /* 15 */
    "    POP_EXCEPT\n"             /* 16 */
    "    LOAD_CONST \"caught\"\n"  /* 17 */
    "    RETURN_VALUE\n"           /* 18 */
    ".end\n";

static void test_trace_exception_event_then_return_without_value_when_unwinding(void **state) {
    (void)state;
    gvt_load(RAISING);
    GvEval_SetTrace(record, NULL);
    gvt_call_expect_str("catcher", 0, NULL, "caught");
    GvEval_SetTrace(NULL, NULL);
    static const char *const want[] = {
        "CALL catcher",
        "LINE catcher 8",
        "LINE catcher 9",
        "CALL boom",
        "LINE boom 2",
        "LINE boom 3",
        "EXCEPTION boom ValueError",    /* raised in boom */
        "RETURN boom",                  /* boom ends by the exception */
        "EXCEPTION catcher ValueError", /* it propagates into catcher */
        "LINE catcher 15",              /* the handler */
        "LINE catcher 16",
        "LINE catcher 17",
        "LINE catcher 18",
        "RETURN catcher",
    };
    rec_expect(want, (int)(sizeof want / sizeof want[0]));
    assert_non_null(rec.arg[6]);
    assert_ptr_equal(rec.arg[6], rec.arg[8]); /* the same exception object in both frames */
    assert_null(rec.arg[7]);                  /* RETURN while unwinding: no value */
}

/* gilvm run --trace tells an unwinding RETURN by an empty opname (vm/main.c,
 * print_trace: " (exception)"); there is no instruction about to run then. */
static const char *unwind_opname;
static const char *normal_opname;
static int note_return_opnames(void *userdata, const GvTraceEvent *e) {
    (void)userdata;
    if (e->what == GV_TRACE_RETURN && strcmp(e->function, "boom") == 0) unwind_opname = e->opname;
    if (e->what == GV_TRACE_RETURN && strcmp(e->function, "catcher") == 0) normal_opname = e->opname;
    return 0;
}

static void test_trace_unwinding_return_names_no_instruction(void **state) {
    (void)state;
    gvt_load(RAISING);
    unwind_opname = normal_opname = NULL;
    GvEval_SetTrace(note_return_opnames, NULL);
    gvt_call_expect_str("catcher", 0, NULL, "caught");
    GvEval_SetTrace(NULL, NULL);
    assert_non_null(normal_opname);
    assert_string_equal(normal_opname, "RETURN_VALUE");
    assert_non_null(unwind_opname);
    if (unwind_opname[0] != '\0')
        fail_msg("an unwinding RETURN reports opname \"%s\": hooks (and `gilvm run --trace`, which "
                 "prints \"(exception)\" for an empty one) cannot tell it from a normal return",
                 unwind_opname);
}

/* ---- opcode events ---- */

static void test_trace_opcode_events_when_turned_on(void **state) {
    (void)state;
    gvt_load(SMALL);
    GvEval_SetTraceOpcodes(1);
    GvEval_SetTrace(record, NULL);
    GvValue a = gv_int(1);
    assert_int_equal(gvt_call_int("add1", 1, &a), 2);
    GvEval_SetTrace(NULL, NULL);
    static const char *const want[] = {
        "CALL add1",
        "LINE add1 2", "OPCODE add1 @0 LOAD_FAST",
        "LINE add1 3", "OPCODE add1 @1 LOAD_CONST",
        "LINE add1 4", "OPCODE add1 @2 BINARY_ADD",
        "LINE add1 5", "OPCODE add1 @3 RETURN_VALUE",
        "RETURN add1",
    };
    rec_expect(want, (int)(sizeof want / sizeof want[0]));
}

static void test_trace_no_opcode_events_by_default(void **state) {
    (void)state;
    gvt_load(SMALL);
    GvEval_SetTrace(record, NULL);
    assert_int_equal(gvt_call_int("main", 0, NULL), 42);
    GvEval_SetTrace(NULL, NULL);
    assert_int_equal(rec_count_prefix("OPCODE"), 0);
    assert_true(rec_count_prefix("LINE") > 0);
}

/* ---- a hook that runs code ---- */

static GvValue hook_result;
static int hook_rc;
static bool hook_ran;

static int hook_calls_vm(void *userdata, const GvTraceEvent *e) {
    (void)userdata;
    rec_add(e);
    if (!hook_ran && e->what == GV_TRACE_CALL && strcmp(e->function, "main") == 0) {
        hook_ran = true;
        hook_rc = gvt_call("helper", 0, NULL, &hook_result);
    }
    return 0;
}

static void test_trace_code_run_by_hook_is_not_traced(void **state) {
    (void)state;
    gvt_load(SMALL);
    gvt_load(".func helper\n"
             "    .local i\n"
             "    LOAD_CONST 0\n"
             "    STORE_FAST i\n"
             "top:\n"
             "    LOAD_FAST i\n"
             "    LOAD_CONST 1\n"
             "    BINARY_ADD\n"
             "    STORE_FAST i\n"
             "    LOAD_GLOBAL add1\n" /* a call from inside the hook's code, too */
             "    LOAD_FAST i\n"
             "    CALL 1\n"
             "    LOAD_CONST 5\n"
             "    COMPARE_LT\n"
             "    POP_JUMP_IF_TRUE top\n"
             "    LOAD_FAST i\n"
             "    RETURN_VALUE\n"
             ".end\n");
    hook_ran = false;
    hook_result = gv_none();
    GvEval_SetTrace(hook_calls_vm, NULL);
    assert_int_equal(gvt_call_int("main", 0, NULL), 42);
    GvEval_SetTrace(NULL, NULL);
    assert_true(hook_ran);
    assert_int_equal(hook_rc, 0);
    assert_true(gv_is_intlike(hook_result));
    assert_int_equal(hook_result.as.i, 4); /* the hook's code ran to its end */
    for (int i = 0; i < rec.n; i++)
        if (strstr(rec.ev[i], " helper"))
            fail_msg("event from the hook's own code: %s", rec.ev[i]);
    /* helper called add1 four times: none of those calls shows, only main's own. */
    assert_int_equal(rec_count_prefix("CALL add1"), 1);
    assert_int_equal(rec_count_prefix("CALL main"), 1);
    assert_int_equal(rec_count_prefix("RETURN"), 2);
}

/* ---- profile ---- */

static void test_profile_hook_gets_call_and_return_only(void **state) {
    (void)state;
    gvt_load(SMALL);
    gvt_load(RAISING);
    GvEval_SetProfile(record, NULL);
    assert_int_equal(gvt_call_int("main", 0, NULL), 42);
    gvt_call_expect_str("catcher", 0, NULL, "caught");
    GvEval_SetProfile(NULL, NULL);
    static const char *const want[] = {
        "CALL main", "CALL add1", "RETURN add1", "RETURN main",
        "CALL catcher", "CALL boom", "RETURN boom", "RETURN catcher",
    };
    rec_expect(want, (int)(sizeof want / sizeof want[0]));
}

static int count_profile, count_trace;
static int counting_profile(void *u, const GvTraceEvent *e) {
    (void)u;
    (void)e;
    count_profile++;
    return 0;
}
static int counting_trace(void *u, const GvTraceEvent *e) {
    (void)u;
    (void)e;
    count_trace++;
    return 0;
}

static void test_profile_and_trace_hooks_both_run(void **state) {
    (void)state;
    gvt_load(SMALL);
    count_profile = count_trace = 0;
    GvEval_SetProfile(counting_profile, NULL);
    GvEval_SetTrace(counting_trace, NULL);
    assert_int_equal(gvt_call_int("main", 0, NULL), 42);
    GvEval_SetTrace(NULL, NULL);
    GvEval_SetProfile(NULL, NULL);
    assert_int_equal(count_profile, 4);  /* 2 calls, 2 returns */
    assert_int_equal(count_trace, 12);   /* as in test_trace_events_come_in_documented_order */
}

/* ---- removing the hook ---- */

static void test_trace_set_null_stops_events(void **state) {
    (void)state;
    gvt_load(SMALL);
    GvEval_SetTrace(record, NULL);
    assert_int_equal(gvt_call_int("main", 0, NULL), 42);
    assert_int_equal(rec.n, 12);
    GvEval_SetTrace(NULL, NULL);
    rec_reset();
    assert_int_equal(gvt_call_int("main", 0, NULL), 42);
    assert_int_equal(rec.n, 0);
}

/* A hook that removes itself in the middle of a loop: the loop goes on,
 * untraced, to the right result. */
static int lines_seen;
static int hook_removes_itself(void *userdata, const GvTraceEvent *e) {
    (void)userdata;
    rec_add(e);
    if (e->what == GV_TRACE_LINE && ++lines_seen == 6) GvEval_SetTrace(NULL, NULL);
    return 0;
}

static const char *const LOOP =
    ".func count n\n"
    "    .local i total\n"
    "    LOAD_CONST 0\n"
    "    STORE_FAST i\n"
    "    LOAD_CONST 0\n"
    "    STORE_FAST total\n"
    "top:\n"
    "    LOAD_FAST total\n"
    "    LOAD_FAST i\n"
    "    BINARY_ADD\n"
    "    STORE_FAST total\n"
    "    LOAD_FAST i\n"
    "    LOAD_CONST 1\n"
    "    BINARY_ADD\n"
    "    STORE_FAST i\n"
    "    LOAD_FAST i\n"
    "    LOAD_FAST n\n"
    "    COMPARE_LT\n"
    "    POP_JUMP_IF_TRUE top\n"
    "    LOAD_FAST total\n"
    "    RETURN_VALUE\n"
    ".end\n";

/* Runs body() in a child process (gvt_run_in_child) and returns its exit status (or minus the
 * signal that ended it): a VM bug that crashes fails one test instead of
 * ending the test binary (and, under ASan, every test after it). The child
 * inherits the interpreter and the GIL; body reports with fprintf and its
 * return value, not with cmocka's asserts (which belong to the parent). */
static int in_child(int (*body)(void *)) {
    GvtChild c = gvt_run_in_child(body, NULL);
    fputs(c.err, stderr); /* body's report */
    return WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -WTERMSIG(c.status);
}

static int removing_itself_body(void *arg) {
    (void)arg;
    gvt_load(LOOP);
    lines_seen = 0;
    GvEval_SetTrace(hook_removes_itself, NULL);
    GvValue n = gv_int(100), r = gv_none();
    if (gvt_call("count", 1, &n, &r) < 0 || !gv_is_intlike(r) || r.as.i != 4950) {
        fprintf(stderr, "count(100) did not return 4950\n");
        return 1;
    }
    if (rec.n != 7) { /* CALL, then 6 LINE events: the 6th removed the hook */
        rec_dump("after the hook removed itself");
        return 2;
    }
    rec_reset();
    if (gvt_call("count", 1, &n, &r) < 0 || r.as.i != 4950 || rec.n != 0) return 3;
    return 0;
}

static void test_trace_hook_removing_itself_mid_loop_stops_events(void **state) {
    (void)state;
    int st = in_child(removing_itself_body);
    if (st != 0)
        fail_msg("child ended with %d (negative: a signal). The hook was removed at a LINE event "
                 "inside a loop; at the next backward jump SWITCH_TRACING moves base to the "
                 "quickened array but JUMP_TO then sets pc to the target computed in the traced "
                 "array (vm/eval.c JUMP_TO): the TRACE word runs with at = pc - base - 1 "
                 "pointing outside the code", st);
}

/* A hook set by a pending call that runs at a loop's backward jump (the
 * only checkpoint of this loop): every pass raises ValueError and catches
 * it, before and after the hook is set. */
static const char *const RAISE_LOOP =
    ".func raise_loop\n"
    "    .local caught after\n"
    "    .try s e h\n"
    "    LOAD_CONST 0\n"
    "    STORE_FAST caught\n"
    "    LOAD_CONST 0\n"
    "    STORE_FAST after\n"
    "top:\n"
    "    LOAD_GLOBAL hooked\n"        /* set by the pending call */
    "    POP_JUMP_IF_FALSE s\n"
    "    LOAD_FAST after\n"
    "    LOAD_CONST 1\n"
    "    BINARY_ADD\n"
    "    STORE_FAST after\n"
    "    LOAD_FAST after\n"
    "    LOAD_CONST 3\n"
    "    COMPARE_GT\n"
    "    POP_JUMP_IF_TRUE done\n"
    "s:\n"
    "    LOAD_GLOBAL ValueError\n"
    "    RAISE\n"
    "e:\n"
    "    JUMP top\n"
    "h:\n"
    "    POP_TOP\n"
    "    POP_EXCEPT\n"
    "    LOAD_FAST caught\n"
    "    LOAD_CONST 1\n"
    "    BINARY_ADD\n"
    "    STORE_FAST caught\n"
    "    JUMP top\n"
    "done:\n"
    "    LOAD_FAST after\n"
    "    RETURN_VALUE\n"
    ".end\n";

static int set_hook_pending(void *arg) {
    (void)arg;
    GvEval_SetTrace(record, NULL);
    GvObject *key = gv_str_from_cstr("hooked");
    int rc = gv_dict_set((GvDict *)GvThreadState_Get()->interp->globals, gv_obj(key), gv_bool(true));
    gv_decref(key);
    return rc;
}

static void *add_hook_later(void *p) {
    (void)p;
    gvt_msleep(20);
    return (void *)(intptr_t)Gv_AddPendingCall(set_hook_pending, NULL);
}

static int set_at_jump_body(void *arg) {
    (void)arg;
    gvt_load(RAISE_LOOP);
    GvObject *key = gv_str_from_cstr("hooked");
    gv_dict_set((GvDict *)GvThreadState_Get()->interp->globals, gv_obj(key), gv_bool(false));
    gv_decref(key);
    pthread_t t;
    if (pthread_create(&t, NULL, add_hook_later, NULL) != 0) return 10;
    GvValue r = gv_none();
    int rc = gvt_call("raise_loop", 0, NULL, &r);
    GvEval_SetTrace(NULL, NULL);
    void *added;
    pthread_join(t, &added);
    if (added) return 11;
    if (rc < 0) {
        GvType *ty = gvt_exc_type();
        fprintf(stderr, "raise_loop() raised %s: the handler did not catch the first ValueError "
                        "after the hook was set\n", ty ? ty->name : "?");
        return 1;
    }
    if (!gv_is_intlike(r) || r.as.i != 4) return 2;
    if (rec_count_prefix("LINE raise_loop") == 0) return 3;
    return 0;
}

static void test_trace_set_at_backward_jump_keeps_handlers_working(void **state) {
    (void)state;
    int st = in_child(set_at_jump_body);
    if (st != 0)
        fail_msg("child ended with %d (negative: a signal). The hook was set at a backward jump; "
                 "SWITCH_TRACING moved base to the traced array but JUMP_TO put pc back in the "
                 "quickened one (vm/eval.c JUMP_TO), so the next RAISE was located at "
                 "pc - base - 1, outside the code, and no handler matched", st);
}

/* ---- a hook that fails ---- */

static int fail_on_line;
static int hook_fails(void *userdata, const GvTraceEvent *e) {
    (void)userdata;
    rec_add(e);
    if (e->what == GV_TRACE_LINE && (int)e->line == fail_on_line) {
        GvErr_SetString(GvExc_ValueError, "from hook");
        return -1;
    }
    return 0;
}

static void test_trace_hook_error_raises_in_traced_code(void **state) {
    (void)state;
    gvt_load(SMALL);
    fail_on_line = 4; /* add1's BINARY_ADD */
    GvEval_SetTrace(hook_fails, NULL);
    GvValue r;
    assert_int_equal(gvt_call("main", 0, NULL, &r), -1);
    GvEval_SetTrace(NULL, NULL);
    assert_ptr_equal(gvt_exc_type(), &gv_type_ValueError);
    assert_string_equal(gvt_exc_message(), "from hook");
    GvErr_Clear();
    /* The hook's exception unwinds add1 and main like any other. */
    assert_true(rec_count_prefix("EXCEPTION add1 ValueError") == 1);
    assert_true(rec_count_prefix("EXCEPTION main ValueError") == 1);
    assert_int_equal(rec_count_prefix("LINE add1 5"), 0); /* add1 stopped at line 4 */
}

static void test_trace_hook_error_is_caught_by_handler_in_traced_code(void **state) {
    (void)state;
    gvt_load(".func guarded\n"             /* 1 */
             "    .try s e h\n"            /* 2 */
             "s:\n"                        /* 3 */
             "    LOAD_CONST 1\n"          /* 4 */
             "    POP_TOP\n"               /* 5 */
             "e:\n"                        /* 6 */
             "    LOAD_CONST \"missed\"\n" /* 7 */
             "    RETURN_VALUE\n"          /* 8 */
             "h:\n"                        /* 9 */
             "    LOAD_GLOBAL str\n"       /* 10 */
             "    ROT_TWO\n"               /* 11 */
             "    CALL 1\n"                /* 12 */
             "    POP_EXCEPT\n"            /* 13 */
             "    RETURN_VALUE\n"          /* 14 */
             ".end\n");
    fail_on_line = 5;
    GvEval_SetTrace(hook_fails, NULL);
    gvt_call_expect_str("guarded", 0, NULL, "from hook");
    GvEval_SetTrace(NULL, NULL);
}

/* ---- threads ---- */

static void test_trace_all_threads_traces_thread_started_later(void **state) {
    (void)state;
    gvt_load(".func worker x\n"
             "    LOAD_FAST x\n"
             "    LOAD_CONST 1\n"
             "    BINARY_ADD\n"
             "    RETURN_VALUE\n"
             ".end\n"
             ".func run_worker\n"
             "    .local h\n"
             "    LOAD_GLOBAL thread_start\n"
             "    LOAD_GLOBAL worker\n"
             "    LOAD_CONST 6\n"
             "    CALL 2\n"
             "    STORE_FAST h\n"
             "    LOAD_GLOBAL thread_id\n"
             "    LOAD_FAST h\n"
             "    CALL 1\n"
             "    STORE_GLOBAL worker_id\n"
             "    LOAD_GLOBAL thread_join\n"
             "    LOAD_FAST h\n"
             "    CALL 1\n"
             "    RETURN_VALUE\n"
             ".end\n");
    GvEval_SetTraceAllThreads(record, NULL);
    assert_int_equal(gvt_call_int("run_worker", 0, NULL), 7);
    GvEval_SetTraceAllThreads(NULL, NULL);
    GvValue wid = gvt_global("worker_id");
    unsigned long worker = (unsigned long)wid.as.i;
    unsigned long self = GvThreadState_GetID(GvThreadState_Get());
    assert_true(worker != self);
    int from_worker = 0;
    for (int i = 0; i < rec.n; i++) {
        if (rec.tid[i] != worker) continue;
        assert_non_null(strstr(rec.ev[i], " worker"));
        from_worker++;
    }
    /* CALL, 4 lines, RETURN: all of the worker's function. */
    if (from_worker != 6) {
        rec_dump("worker events");
        fail_msg("%d events from the worker thread, expected 6", from_worker);
    }
    assert_int_equal(rec_count_prefix("CALL run_worker"), 1);
}

static void test_trace_set_on_one_thread_does_not_trace_others(void **state) {
    (void)state;
    gvt_load(".func worker\n"
             "    LOAD_CONST 1\n"
             "    RETURN_VALUE\n"
             ".end\n"
             ".func run_worker\n"
             "    LOAD_GLOBAL thread_join\n"
             "    LOAD_GLOBAL thread_start\n"
             "    LOAD_GLOBAL worker\n"
             "    CALL 1\n"
             "    CALL 1\n"
             "    RETURN_VALUE\n"
             ".end\n");
    GvEval_SetTrace(record, NULL);
    assert_int_equal(gvt_call_int("run_worker", 0, NULL), 1);
    GvEval_SetTrace(NULL, NULL);
    assert_true(rec.n > 0);
    assert_int_equal(rec_count_prefix("CALL worker"), 0);
}

/* Header: "Running frames start reporting at their next call or backward
 * jump." A debugger attaches (SetTraceAllThreads from another thread) while
 * the main thread is blocked in queue_get inside `outer`; when it wakes,
 * outer loops three times, calling `inner` each time. outer's own lines must
 * be reported once it has jumped back. */
static const char *const OUTER =
    ".func inner\n"
    "    LOAD_CONST none\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func put\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_GLOBAL q\n"
    "    LOAD_CONST \"go\"\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func outer\n"
    "    .local i\n"
    "    LOAD_GLOBAL queue_new\n"
    "    CALL 0\n"
    "    STORE_GLOBAL q\n"
    "    LOAD_GLOBAL queue_get\n"
    "    LOAD_GLOBAL q\n"
    "    LOAD_CONST 30\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_CONST 0\n"
    "    STORE_FAST i\n"
    "top:\n"
    "    LOAD_GLOBAL inner\n"
    "    CALL 0\n"
    "    POP_TOP\n"
    "    LOAD_FAST i\n"
    "    LOAD_CONST 1\n"
    "    BINARY_ADD\n"
    "    STORE_FAST i\n"
    "    LOAD_FAST i\n"
    "    LOAD_CONST 3\n"
    "    COMPARE_LT\n"
    "    POP_JUMP_IF_TRUE top\n"
    "    LOAD_FAST i\n"
    "    RETURN_VALUE\n"
    ".end\n";

static void *attach_debugger(void *p) {
    GvInterpreterState *interp = p;
    if (!gvt_wait_parked_id(interp, 1, 10)) return (void *)"main never parked";
    GvGILState_STATE g = GvGILState_Ensure();
    GvEval_SetTraceAllThreads(record, NULL);
    GvValue r;
    int rc = gvt_call("put", 0, NULL, &r); /* wakes the main thread */
    if (rc == 0) gv_vdecref(r);
    GvGILState_Release(g);
    return rc == 0 ? NULL : (void *)"put() raised";
}

static void test_trace_attached_while_blocked_reports_caller_after_backward_jump(void **state) {
    (void)state;
    gvt_load(OUTER);
    assert_int_equal(GvThreadState_GetID(GvThreadState_Get()), 1);
    pthread_t t = gvt_start_thread(attach_debugger, GvInterpreterState_Get());
    int64_t r = gvt_call_int("outer", 0, NULL);
    GvEval_SetTraceAllThreads(NULL, NULL);
    void *err;
    Gv_BEGIN_ALLOW_THREADS
    pthread_join(t, &err);
    Gv_END_ALLOW_THREADS
    if (err) fail_msg("%s", (const char *)err);
    assert_int_equal(r, 3);
    assert_int_equal(rec_count_prefix("CALL inner"), 3);
    if (rec_count_prefix("LINE outer") == 0) {
        rec_dump("no LINE event from outer");
        fail_msg("outer jumped back twice after the hook was set but reported no line: only "
                 "the frame that takes the GV_EB_TRACING bit switches to the traced code");
    }
}

/* ---- superinstructions ---- */

/* The traced run reports every original instruction, never a fused one:
 * the OPCODE events of a straight-line function are exactly its disassembly,
 * in order, although the quickened code runs superinstructions. */
static const char *const FUSED =
    ".func fused a b\n"
    "    LOAD_FAST a\n"
    "    LOAD_CONST 1\n"
    "    BINARY_ADD\n"
    "    STORE_FAST a\n"
    "    LOAD_FAST a\n"
    "    LOAD_FAST b\n"
    "    BINARY_ADD\n"
    "    STORE_FAST b\n"
    "    LOAD_FAST b\n"
    "    LOAD_CONST 2\n"
    "    BINARY_SUB\n"
    "    RETURN_VALUE\n"
    ".end\n";

static void test_trace_opcodes_match_disassembly_not_superinstructions(void **state) {
    (void)state;
    GvProgram *p = gvt_assemble(FUSED);
    /* The disassembly: one line per instruction, "    NAME [operand]  ; offset N, line L". */
    FILE *f = tmpfile();
    assert_non_null(f);
    GvProgram_Disassemble(p, f);
    rewind(f);
    char dis[32][40];
    int ndis = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        int off;
        char name[40];
        const char *o = strstr(line, "; offset ");
        if (!o || sscanf(line, " %39s", name) != 1 || sscanf(o, "; offset %d", &off) != 1) continue;
        assert_int_equal(off, ndis);
        assert_true(ndis < 32);
        strcpy(dis[ndis++], name);
    }
    fclose(f);
    GvCode *code = p->code[0];
    assert_int_equal(ndis, (int)code->ninstrs);
    /* The quickened code does fuse: otherwise this test proves nothing. */
    int fused = 0;
    for (uint32_t i = 0; i < code->ninstrs; i++) fused += GV_OP(code->quick[i]) != GV_OP(code->instrs[i]);
    assert_true(fused > 0);
    GvProgram_Free(p);

    gvt_load(FUSED);
    GvEval_SetTraceOpcodes(1);
    GvEval_SetTrace(record, NULL);
    GvValue args[2] = {gv_int(1), gv_int(10)};
    assert_int_equal(gvt_call_int("fused", 2, args), 10);
    GvEval_SetTrace(NULL, NULL);
    int k = 0;
    for (int i = 0; i < rec.n; i++) {
        if (strncmp(rec.ev[i], "OPCODE", 6) != 0) continue;
        char want[96];
        assert_true(k < ndis);
        snprintf(want, sizeof want, "OPCODE fused @%d %s", k, dis[k]);
        if (strcmp(rec.ev[i], want) != 0) {
            rec_dump("opcode events");
            fail_msg("event %d is \"%s\", the disassembly says \"%s\"", i, rec.ev[i], want);
        }
        k++;
    }
    assert_int_equal(k, ndis);
}

/* A loop whose quickened form is a compare-and-jump superinstruction: the
 * traced run still shows the compare, the jump, and each pass. */
static void test_trace_opcodes_in_fused_loop_show_every_pass(void **state) {
    (void)state;
    gvt_load(LOOP);
    GvEval_SetTraceOpcodes(1);
    GvEval_SetTrace(record, NULL);
    GvValue n = gv_int(3);
    assert_int_equal(gvt_call_int("count", 1, &n), 3);
    GvEval_SetTrace(NULL, NULL);
    assert_int_equal(rec_count_prefix("OPCODE count @14 COMPARE_LT"), 3);
    assert_int_equal(rec_count_prefix("OPCODE count @15 POP_JUMP_IF_TRUE"), 3);
    assert_int_equal(rec_count_prefix("OPCODE count @4 LOAD_FAST"), 3);
    /* 4 set-up instructions, 12 per pass, 2 to return. */
    assert_int_equal(rec_count_prefix("OPCODE"), 4 + 3 * 12 + 2);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_trace_events_come_in_documented_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_exception_event_then_return_without_value_when_unwinding, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trace_unwinding_return_names_no_instruction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_opcode_events_when_turned_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_no_opcode_events_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_code_run_by_hook_is_not_traced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_hook_gets_call_and_return_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_and_trace_hooks_both_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_set_null_stops_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_hook_removing_itself_mid_loop_stops_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_set_at_backward_jump_keeps_handlers_working, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_hook_error_raises_in_traced_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_hook_error_is_caught_by_handler_in_traced_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_all_threads_traces_thread_started_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_set_on_one_thread_does_not_trace_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_attached_while_blocked_reports_caller_after_backward_jump, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trace_opcodes_match_disassembly_not_superinstructions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_opcodes_in_fused_loop_show_every_pass, setup, teardown),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
