/* C API misuse (include/gilvm.h, "Conventions"): a NULL argument gives the
 * result the header documents, and a call that needs the GIL, made without
 * it, is a fatal error with a message naming the function, never a crash or
 * silent corruption. Fatal cases run in a forked child (the child inherits
 * the interpreter and the GIL; the parent reads its stderr through a pipe and
 * checks that it aborted with the message). Also the memory limit
 * (Gv_SetMemoryLimit): MemoryError at the limit, and the allocator's count
 * back to zero once everything is freed. */
#include "gvtest.h"

/* ---- running misuse in a child (gvt_run_in_child: gdb needs
 * `set follow-fork-mode child` to follow it) ---- */

static int call_body(void *body) {
    (*(void (**)(void))body)();
    return 0;
}

static GvtChild in_child(void (*body)(void)) { return gvt_run_in_child(call_body, &body); }

/* ---- fixtures the children use (made by the parent, with the GIL) ---- */

static GvThreadState *main_ts;
static GvObject *obj;      /* a str */
static GvProgram *program; /* defines main() returning 3 */

static const char prog_src[] = ".func main\n    LOAD_CONST 3\n    RETURN_VALUE\n.end\n";

static int setup(void **state) {
    (void)state;
    main_ts = Gv_Initialize();
    if (!main_ts) return -1;
    obj = gv_str_from_cstr("an object");
    GvDiag diag;
    program = GvProgram_Assemble(prog_src, strlen(prog_src), "misuse.gva", &diag);
    return obj && program ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    Gv_SetMemoryLimit(0);
    GvErr_Clear();
    GvProgram_Free(program);
    Gv_DecRef(obj);
    program = NULL;
    obj = NULL;
    Gv_Finalize();
    return 0;
}

/* How a child lets go of the GIL before the misuse: with no current thread
 * state at all, or with its thread state current again but not holding the
 * GIL (GvThreadState_Swap after GvEval_SaveThread). */
static bool keep_tstate;
static void drop_gil(void) {
    GvThreadState *ts = GvEval_SaveThread();
    if (keep_tstate) GvThreadState_Swap(ts);
}

/* ---- every function documented "GIL held" ---- */

static int ok_pending(void *arg) {
    (void)arg;
    return 0;
}
static int ok_hook(void *userdata, const GvTraceEvent *ev) {
    (void)userdata;
    (void)ev;
    return 0;
}

#define GIL_CASE(name, ...) \
    static void gil_##name(void) { drop_gil(); __VA_ARGS__; }
GIL_CASE(Gv_Finalize, Gv_Finalize())
GIL_CASE(Gv_InitSignals, Gv_InitSignals())
GIL_CASE(GvThreadState_Clear, GvThreadState_Clear(main_ts))
GIL_CASE(GvThreadState_Delete, GvThreadState_Delete(main_ts))
GIL_CASE(GvThreadState_DeleteCurrent, GvThreadState_DeleteCurrent())
GIL_CASE(GvEval_ReleaseThread, GvEval_ReleaseThread(main_ts))
GIL_CASE(GvEval_SaveThread, GvEval_SaveThread())
GIL_CASE(Gv_SetSwitchInterval, Gv_SetSwitchInterval(0.01))
GIL_CASE(Gv_SetGILMode, Gv_SetGILMode(GV_GIL_CLASSIC))
GIL_CASE(Gv_SetSchedule, Gv_SetSchedule(1, 1))
GIL_CASE(Gv_GetSwitchInterval, Gv_GetSwitchInterval())
GIL_CASE(GvThreadState_GetGILStats, GvGILStats st; GvThreadState_GetGILStats(main_ts, &st))
GIL_CASE(GvThreadState_GetDict, GvThreadState_GetDict())
GIL_CASE(GvThreadState_SetAsyncExc, GvThreadState_SetAsyncExc(1, NULL))
GIL_CASE(GvThreadState_MaskAsyncExc, GvThreadState_MaskAsyncExc())
GIL_CASE(GvThreadState_UnmaskAsyncExc, GvThreadState_UnmaskAsyncExc())
GIL_CASE(Gv_MakePendingCalls, Gv_MakePendingCalls())
GIL_CASE(GvEval_SetTrace, GvEval_SetTrace(ok_hook, NULL))
GIL_CASE(GvEval_SetProfile, GvEval_SetProfile(NULL, NULL))
GIL_CASE(GvEval_SetTraceAllThreads, GvEval_SetTraceAllThreads(NULL, NULL))
GIL_CASE(GvEval_SetProfileAllThreads, GvEval_SetProfileAllThreads(ok_hook, NULL))
GIL_CASE(GvEval_SetTraceOpcodes, GvEval_SetTraceOpcodes(1))
GIL_CASE(GvProgram_Assemble, GvProgram_Assemble(prog_src, strlen(prog_src), "x.gva", NULL))
GIL_CASE(GvProgram_LoadBytes, GvProgram_LoadBytes("GVC", 3, "x.gvc", NULL))
GIL_CASE(GvProgram_LoadFile, GvProgram_LoadFile("/nonexistent.gva", NULL))
GIL_CASE(GvProgram_Disassemble, GvProgram_Disassemble(program, stdout))
GIL_CASE(GvProgram_Free, GvProgram_Free(program))
GIL_CASE(GvProgram_Run, GvProgram_Run(program, NULL))
GIL_CASE(Gv_SetArgv, Gv_SetArgv(0, NULL))
GIL_CASE(GvErr_SetString, GvErr_SetString(GvExc_ValueError, "x"))
GIL_CASE(GvErr_SetObject, GvErr_SetObject(GvExc_ValueError, obj))
GIL_CASE(GvErr_Clear, GvErr_Clear())
GIL_CASE(GvErr_GetRaisedException, GvErr_GetRaisedException())
GIL_CASE(GvErr_SetRaisedException, GvErr_SetRaisedException(NULL))
GIL_CASE(GvErr_GetHandledException, GvErr_GetHandledException())
GIL_CASE(GvErr_SetHandledException, GvErr_SetHandledException(NULL))
GIL_CASE(GvErr_PrintEx, GvErr_PrintEx())
GIL_CASE(Gv_SetRecursionLimit, Gv_SetRecursionLimit(100))
GIL_CASE(Gv_GetRecursionLimit, Gv_GetRecursionLimit())
GIL_CASE(Gv_IncRef, Gv_IncRef(obj))
GIL_CASE(Gv_DecRef, Gv_DecRef(obj))
GIL_CASE(GvObject_StrDup, free(GvObject_StrDup(obj)))
#undef GIL_CASE

/* no_tstate_ok: documented to do something harmless when the thread has no
 * current thread state at all (so only the "current but not holding" case
 * is fatal). */
static const struct {
    const char *name;
    void (*call)(void);
    bool no_tstate_ok;
} gil_cases[] = {
#define C(name, ok) {#name, gil_##name, ok}
    C(Gv_Finalize, false),
    C(Gv_InitSignals, false),
    C(GvThreadState_Clear, false),
    C(GvThreadState_Delete, false),
    C(GvThreadState_DeleteCurrent, false),
    C(GvEval_ReleaseThread, false),
    C(GvEval_SaveThread, false),
    C(Gv_SetSwitchInterval, false),
    C(Gv_SetGILMode, false),
    C(Gv_SetSchedule, false),
    C(Gv_GetSwitchInterval, false),
    C(GvThreadState_GetGILStats, false),
    C(GvThreadState_GetDict, true),
    C(GvThreadState_SetAsyncExc, false),
    C(GvThreadState_MaskAsyncExc, false),
    C(GvThreadState_UnmaskAsyncExc, false),
    C(Gv_MakePendingCalls, false),
    C(GvEval_SetTrace, false),
    C(GvEval_SetProfile, false),
    C(GvEval_SetTraceAllThreads, false),
    C(GvEval_SetProfileAllThreads, false),
    C(GvEval_SetTraceOpcodes, false),
    C(GvProgram_Assemble, true),
    C(GvProgram_LoadBytes, true),
    C(GvProgram_LoadFile, true),
    C(GvProgram_Disassemble, false),
    C(GvProgram_Free, false),
    C(GvProgram_Run, false),
    C(Gv_SetArgv, false),
    C(GvErr_SetString, false),
    C(GvErr_SetObject, false),
    C(GvErr_Clear, true),
    C(GvErr_GetRaisedException, false),
    C(GvErr_SetRaisedException, false),
    C(GvErr_GetHandledException, false),
    C(GvErr_SetHandledException, false),
    C(GvErr_PrintEx, true),
    C(Gv_SetRecursionLimit, false),
    C(Gv_GetRecursionLimit, false),
    C(Gv_IncRef, false),
    C(Gv_DecRef, false),
    C(GvObject_StrDup, false),
#undef C
};

static void check_gil_cases(bool keep) {
    keep_tstate = keep;
    for (size_t i = 0; i < sizeof gil_cases / sizeof gil_cases[0]; i++) {
        char want[160];
        snprintf(want, sizeof want, "%s: called without holding the GIL", gil_cases[i].name);
        if (!keep && gil_cases[i].no_tstate_ok) {
            GvtChild c = in_child(gil_cases[i].call);
            if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
                fail_msg("%s without a thread state: documented as harmless, but the child ended "
                         "with status %#x; stderr: %s", gil_cases[i].name, c.status, c.err);
            continue;
        }
        gvt_expect_fatal(gil_cases[i].name, gil_cases[i].call, want);
    }
}

static void test_gil_functions_are_fatal_without_a_thread_state(void **state) {
    (void)state;
    check_gil_cases(false);
}

static void test_gil_functions_are_fatal_with_a_thread_state_not_holding_the_gil(void **state) {
    (void)state;
    check_gil_cases(true);
}

/* A thread that holds the GIL may swap another thread state in and call the
 * API with it current (CPython's PyThreadState_Swap): not misuse. */
static void test_gil_held_through_a_swapped_out_thread_state_is_enough(void **state) {
    (void)state;
    GvThreadState *other = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(other);
    GvThreadState *old = GvThreadState_Swap(other);
    assert_ptr_equal(old, main_ts);
    assert_true(GvGILState_Check());
    assert_int_equal(Gv_GetRecursionLimit(), 1000);
    assert_non_null(GvThreadState_GetDict());
    GvThreadState_Swap(old);
    GvThreadState_Clear(other);
    GvThreadState_Delete(other);
}

/* ---- other fatal misuse ---- */

static GvThreadState *spare(void) {
    GvThreadState *ts = GvThreadState_New(GvInterpreterState_Get());
    if (!ts) abort();
    return ts;
}

static void clear_null(void) { GvThreadState_Clear(NULL); }
static void delete_null(void) { GvThreadState_Delete(NULL); }
static void acquire_null(void) {
    drop_gil();
    GvEval_AcquireThread(NULL);
}
static void acquire_or_fail_null(void) {
    drop_gil();
    GvEval_AcquireThreadOrFail(NULL);
}
static void release_null(void) { GvEval_ReleaseThread(NULL); }
static void release_not_current(void) { GvEval_ReleaseThread(spare()); }
static void restore_null(void) {
    drop_gil();
    GvEval_RestoreThread(NULL);
}
static void acquire_while_holding(void) { GvEval_AcquireThread(spare()); }
static void restore_while_holding(void) { GvEval_RestoreThread(main_ts); }
static void delete_current(void) { GvThreadState_Delete(main_ts); }
static void gilstate_release_without_ensure(void) { GvGILState_Release(GvGILState_UNLOCKED); }
static void gilstate_release_bad_state(void) {
    GvGILState_STATE s = GvGILState_Ensure();
    GvGILState_Release((GvGILState_STATE)((int)s + 7));
}
static void gil_stats_null(void) { GvGIL_GetStats(NULL); }
static void tstate_stats_null_ts(void) {
    GvGILStats st;
    GvThreadState_GetGILStats(NULL, &st);
}
static void tstate_stats_null_out(void) { GvThreadState_GetGILStats(main_ts, NULL); }
static void disassemble_null_program(void) { GvProgram_Disassemble(NULL, stdout); }
static void disassemble_null_file(void) { GvProgram_Disassemble(program, NULL); }

static void test_null_thread_state_arguments_are_fatal(void **state) {
    (void)state;
    keep_tstate = false;
    gvt_expect_fatal("GvThreadState_Clear(NULL)", clear_null, "GvThreadState_Clear: NULL thread state");
    gvt_expect_fatal("GvThreadState_Delete(NULL)", delete_null, "GvThreadState_Delete: NULL thread state");
    gvt_expect_fatal("GvEval_AcquireThread(NULL)", acquire_null, "GvEval_AcquireThread: NULL thread state");
    gvt_expect_fatal("GvEval_AcquireThreadOrFail(NULL)", acquire_or_fail_null,
                 "GvEval_AcquireThreadOrFail: NULL thread state");
    gvt_expect_fatal("GvEval_ReleaseThread(NULL)", release_null, "GvEval_ReleaseThread: NULL thread state");
    gvt_expect_fatal("GvEval_RestoreThread(NULL)", restore_null, "GvEval_RestoreThread: NULL thread state");
}

static void test_taking_the_gil_twice_is_fatal_not_a_deadlock(void **state) {
    (void)state;
    gvt_expect_fatal("GvEval_AcquireThread while holding", acquire_while_holding,
                 "GvEval_AcquireThread: the calling thread already holds the GIL");
    gvt_expect_fatal("GvEval_RestoreThread while holding", restore_while_holding,
                 "GvEval_RestoreThread: the calling thread already holds the GIL");
}

static void test_wrong_thread_state_is_fatal(void **state) {
    (void)state;
    gvt_expect_fatal("GvEval_ReleaseThread(other)", release_not_current,
                 "GvEval_ReleaseThread: the thread state is not the calling thread's current one");
    gvt_expect_fatal("GvThreadState_Delete(current)", delete_current, "GvThreadState_Delete: the thread state is current");
}

static void test_gilstate_release_misuse_is_fatal(void **state) {
    (void)state;
    gvt_expect_fatal("GvGILState_Release without Ensure", gilstate_release_without_ensure,
                 "GvGILState_Release: no matching GvGILState_Ensure");
    gvt_expect_fatal("GvGILState_Release(bad state)", gilstate_release_bad_state,
                 "GvGILState_Release: not a state GvGILState_Ensure returned");
}

static void test_null_out_arguments_are_fatal(void **state) {
    (void)state;
    gvt_expect_fatal("GvGIL_GetStats(NULL)", gil_stats_null, "GvGIL_GetStats: NULL out");
    gvt_expect_fatal("GvThreadState_GetGILStats(NULL, ...)", tstate_stats_null_ts,
                 "GvThreadState_GetGILStats: NULL thread state");
    gvt_expect_fatal("GvThreadState_GetGILStats(ts, NULL)", tstate_stats_null_out, "GvThreadState_GetGILStats: NULL out");
    gvt_expect_fatal("GvProgram_Disassemble(NULL, f)", disassemble_null_program, "GvProgram_Disassemble: NULL program");
    gvt_expect_fatal("GvProgram_Disassemble(p, NULL)", disassemble_null_file, "GvProgram_Disassemble: NULL file");
}

/* ---- thread states of a finalized runtime, and the finalizing thread ---- */

/* A child's main thread and the thread it starts step through stages. */
static pthread_mutex_t stage_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stage_cond = PTHREAD_COND_INITIALIZER;
static int stage;

static void stage_set(int n) {
    pthread_mutex_lock(&stage_mu);
    stage = n;
    pthread_cond_broadcast(&stage_cond);
    pthread_mutex_unlock(&stage_mu);
}

static void stage_wait(int n) {
    pthread_mutex_lock(&stage_mu);
    while (stage < n) pthread_cond_wait(&stage_cond, &stage_mu);
    pthread_mutex_unlock(&stage_mu);
}

/* Starts fn(arg) in a new thread; a child that hangs ends by SIGALRM
 * (unless a debugger is watching). */
static pthread_t start_in_child(void *(*fn)(void *), void *arg) {
    if (gvt_watchdogs_enabled()) alarm(10);
    stage = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) _exit(5);
    return t;
}

/* Waits for t without the GIL (t may need it), then ends the child. */
static _Noreturn void join_and_exit(pthread_t t) {
    gvt_join_releasing_gil(t);
    _exit(0);
}

/* Leaves the VM with GvEval_SaveThread; comes back with GvEval_RestoreThread
 * once the runtime was finalized and initialized again. */
static void *leaver_main(void *p) {
    GvEval_AcquireThread(p);
    GvThreadState *saved = GvEval_SaveThread();
    stage_set(1);
    stage_wait(2);
    GvEval_RestoreThread(saved); /* its state died with the old runtime */
    return NULL;
}

static void restore_after_reinitialize(void) {
    pthread_t t = start_in_child(leaver_main, GvThreadState_New(GvInterpreterState_Get()));
    Gv_BEGIN_ALLOW_THREADS
    stage_wait(1);
    Gv_END_ALLOW_THREADS
    Gv_Finalize();
    if (!Gv_Initialize()) _exit(4);
    stage_set(2);
    join_and_exit(t);
}

/* Takes a thread state made before the runtime was finalized, after it was
 * initialized again. */
static void *late_acquirer_main(void *p) {
    stage_wait(2);
    GvEval_AcquireThread(p);
    return NULL;
}

static void acquire_after_reinitialize(void) {
    pthread_t t = start_in_child(late_acquirer_main, GvThreadState_New(GvInterpreterState_Get()));
    Gv_Finalize(); /* deletes the unused thread state with the rest */
    if (!Gv_Initialize()) _exit(4);
    stage_set(2);
    join_and_exit(t);
}

/* A fatal error naming fn, for the reason under test: not one of the other
 * fatal errors fn has. */
static void expect_stale_state_fatal(const char *what, void (*body)(void), const char *fn) {
    GvtChild c = in_child(body);
    if (strstr(c.err, "AddressSanitizer"))
        fail_msg("%s: the thread state of the finalized runtime was used after it was freed: %s", what, c.err);
    if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGABRT)
        fail_msg("%s: the child did not abort (%s %d); its stderr: %s", what,
                 WIFSIGNALED(c.status) ? "signal" : "exit status",
                 WIFSIGNALED(c.status) ? WTERMSIG(c.status) : WEXITSTATUS(c.status), c.err);
    char want[128];
    snprintf(want, sizeof want, "gilvm: fatal error: %s: ", fn);
    if (!strstr(c.err, want)) fail_msg("%s: stderr lacks \"%s...\"; it was: %s", what, want, c.err);
    if (strstr(c.err, "NULL thread state") || strstr(c.err, "already holds the GIL"))
        fail_msg("%s: fatal for another reason: %s", what, c.err);
}

/* The header: misuse is a fatal error naming the function, never
 * corruption. A state freed by Gv_Finalize must be recognised as dead, even
 * after a new Gv_Initialize (which may reuse its memory). */
static void test_restore_thread_with_a_state_of_a_finalized_runtime_is_fatal(void **state) {
    (void)state;
    expect_stale_state_fatal("GvEval_RestoreThread after Gv_Finalize and Gv_Initialize", restore_after_reinitialize,
                             "GvEval_RestoreThread");
}

static void test_acquire_thread_with_a_state_of_a_finalized_runtime_is_fatal(void **state) {
    (void)state;
    expect_stale_state_fatal("GvEval_AcquireThread after Gv_Finalize and Gv_Initialize", acquire_after_reinitialize,
                             "GvEval_AcquireThread");
}

/* Calls Gv_Finalize holding the GIL, from a thread that is not the main
 * one. */
static void *finalizer_main(void *p) {
    GvEval_AcquireThread(p);
    Gv_Finalize();
    return NULL;
}

static void finalize_from_other_thread(void) {
    join_and_exit(start_in_child(finalizer_main, GvThreadState_New(GvInterpreterState_Get())));
}

/* The header: "Call from the main thread, GIL held (a fatal error
 * otherwise)": at once, not after waiting for threads to shut down (2 s). */
static void test_finalize_from_another_thread_is_fatal_at_once(void **state) {
    (void)state;
    double t0 = gvt_now();
    GvtChild c = in_child(finalize_from_other_thread);
    double took = gvt_now() - t0;
    if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGABRT)
        fail_msg("Gv_Finalize from another thread: the child did not abort (%s %d, after %.2f s); its stderr: %s",
                 WIFSIGNALED(c.status) ? "signal" : "exit status",
                 WIFSIGNALED(c.status) ? WTERMSIG(c.status) : WEXITSTATUS(c.status), took, c.err);
    if (!strstr(c.err, "gilvm: fatal error: Gv_Finalize: ") || strstr(c.err, "without holding the GIL"))
        fail_msg("Gv_Finalize from another thread: not the fatal error for it; stderr: %s", c.err);
    if (took > 1.0) fail_msg("Gv_Finalize from another thread: fatal only after %.2f s", took);
}

/* ---- NULL arguments with a documented result ---- */

static void assert_raised(GvObject *type, const char *needle) {
    assert_ptr_equal(GvErr_Occurred(), type);
    if (needle && !strstr(gvt_exc_message(), needle))
        fail_msg("message %s lacks %s", gvt_exc_message(), needle);
    GvErr_Clear();
}

static void test_null_thread_state_results(void **state) {
    (void)state;
    int not_an_interpreter;
    assert_null(GvThreadState_New(NULL));
    assert_null(GvThreadState_New((GvInterpreterState *)&not_an_interpreter));
    assert_int_equal(GvThreadState_GetID(NULL), 0);
    assert_null(Gv_Initialize()); /* already initialized */
    assert_null(GvErr_Occurred());
}

static void test_null_error_arguments(void **state) {
    (void)state;
    GvErr_SetString(NULL, "x");
    assert_raised(GvExc_TypeError, "not an exception type");
    GvErr_SetString(GvExc_ValueError, NULL);
    assert_ptr_equal(GvErr_Occurred(), GvExc_ValueError);
    assert_string_equal(gvt_exc_message(), "");
    GvErr_Clear();
    GvErr_SetObject(NULL, obj);
    assert_raised(GvExc_TypeError, "not an exception type");
    GvErr_SetObject(GvExc_KeyError, NULL);
    assert_raised(GvExc_KeyError, NULL);

    assert_int_equal(GvErr_GivenExceptionMatches(NULL, GvExc_Exception), 0);
    GvErr_SetString(GvExc_ValueError, "v");
    GvObject *e = GvErr_GetRaisedException();
    assert_non_null(e);
    assert_int_equal(GvErr_GivenExceptionMatches(e, NULL), 0);
    assert_int_equal(GvErr_GivenExceptionMatches(e, GvExc_Exception), 1);

    /* Not an exception: released (stolen) and TypeError set instead. */
    Gv_IncRef(obj);
    int64_t before = obj->refcnt;
    GvErr_SetRaisedException(obj);
    assert_int_equal(obj->refcnt, before - 1);
    assert_raised(GvExc_TypeError, "not an exception instance");
    GvErr_SetRaisedException(e); /* steals e */
    assert_ptr_equal(GvErr_Occurred(), GvExc_ValueError);
    GvErr_SetRaisedException(NULL); /* clears */
    assert_null(GvErr_Occurred());
    assert_int_equal(GvErr_PrintEx(), 0);
}

static void test_set_handled_exception_null_clears_and_rejects_non_exceptions(void **state) {
    (void)state;
    GvErr_SetHandledException(NULL); /* no handler running: nothing happens */
    assert_null(GvErr_Occurred());
    GvErr_SetString(GvExc_KeyError, "k");
    GvObject *e = GvErr_GetRaisedException();
    GvThreadState *ts = GvThreadState_Get();
    assert_int_equal(gv_excinfo_push(ts, e), 0); /* as a running handler does */
    GvErr_SetHandledException(obj);
    assert_raised(GvExc_TypeError, "not an exception instance");
    GvObject *h = GvErr_GetHandledException();
    assert_ptr_equal(h, e);
    Gv_DecRef(h);
    GvErr_SetHandledException(NULL);
    assert_null(GvErr_GetHandledException());
    assert_null(GvErr_Occurred());
    gv_excinfo_pop(ts);
    Gv_DecRef(e);
}

static void test_null_program_arguments(void **state) {
    (void)state;
    GvDiag diag;
    assert_null(GvProgram_LoadFile(NULL, &diag));
    assert_non_null(strstr(diag.text, "no file name"));
    assert_null(GvProgram_LoadBytes(NULL, 16, "n.gvc", &diag));
    assert_true(diag.text[0] != '\0');
    assert_null(GvProgram_Assemble("not an instruction\n", 19, NULL, NULL)); /* no diag: fine */
    GvProgram *empty = GvProgram_Assemble(NULL, 0, NULL, &diag);
    assert_non_null(empty);
    GvProgram_Free(empty);
    GvProgram_Free(NULL);
    assert_null(GvErr_Occurred());

    void *data = NULL;
    size_t len = 0;
    assert_int_equal(GvProgram_Save(NULL, &data, &len), -1);
    assert_int_equal(GvProgram_Save(program, NULL, &len), -1);
    assert_int_equal(GvProgram_Save(program, &data, NULL), -1);
    assert_null(GvErr_Occurred()); /* documented: no exception set */

    int status = -1;
    assert_int_equal(GvProgram_Run(NULL, &status), -1);
    assert_int_equal(status, 0);
    assert_raised(GvExc_TypeError, "program must not be NULL");
    assert_int_equal(GvProgram_Run(program, NULL), 0); /* the status is dropped */

    char *args[] = {"one", NULL};
    assert_int_equal(Gv_SetArgv(1, NULL), -1);
    assert_raised(GvExc_TypeError, "argv must not be NULL");
    assert_int_equal(Gv_SetArgv(2, args), -1);
    assert_raised(GvExc_TypeError, "must not be NULL");
    assert_int_equal(Gv_SetArgv(0, NULL), 0);
    assert_int_equal(Gv_SetArgv(-1, NULL), 0);
}

static void test_null_object_arguments(void **state) {
    (void)state;
    Gv_IncRef(NULL);
    Gv_DecRef(NULL);
    assert_null(GvObject_StrDup(NULL));
    assert_raised(GvExc_TypeError, "must not be NULL");
    assert_int_equal(Gv_AddPendingCall(NULL, NULL), -1);
    assert_int_equal(Gv_AddPendingCallToThread(GvThreadState_GetID(main_ts), NULL, NULL), -1);
    assert_int_equal(Gv_AddPendingCall(ok_pending, NULL), 0);
    assert_int_equal(Gv_MakePendingCalls(), 0);
    assert_null(GvErr_Occurred());
}

/* Functions documented for "any thread" or as harmless without a thread
 * state do just that in a thread that has none. */
static void test_without_a_thread_state_documented_results(void **state) {
    (void)state;
    GvThreadState *ts = GvEval_SaveThread();
    assert_null(GvThreadState_Get());
    assert_false(GvGILState_Check());
    assert_null(GvErr_Occurred());
    GvErr_Clear();
    assert_int_equal(GvErr_PrintEx(), 0);
    assert_null(GvThreadState_GetDict());
    Gv_SetInstructionBudget(10);
    Gv_IncRef(NULL);
    Gv_DecRef(NULL);
    GvProgram_Free(NULL);
    GvDiag diag;
    assert_null(GvProgram_Assemble(prog_src, strlen(prog_src), "x.gva", &diag));
    assert_non_null(strstr(diag.text, "no thread state"));
    GvGILStats st;
    GvGIL_GetStats(&st);
    assert_true(st.acquisitions >= 1);
    /* The default mode, unless GILMODE named another. */
    const char *mode = getenv("GILMODE");
    assert_int_equal(Gv_GetGILMode(), mode ? Gv_GILModeByName(mode) : GV_GIL_ADAPTIVE);
    assert_non_null(GvInterpreterState_Get());
    assert_false(Gv_IsFinalizing());
    GvEval_RestoreThread(ts);
    assert_ptr_equal(GvThreadState_Get(), ts);
}

static void finalize_twice(void) {
    Gv_Finalize();
    Gv_Finalize(); /* not initialized: does nothing */
    GvErr_Clear();
    if (GvErr_PrintEx() != 0 || GvInterpreterState_Get() || GvThreadState_Get()) _exit(3);
}

static void test_finalize_when_not_initialized_does_nothing(void **state) {
    (void)state;
    GvtChild c = in_child(finalize_twice);
    if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
        fail_msg("status %#x; stderr: %s", c.status, c.err);
}

/* ---- the memory limit ---- */

/* Everything a program can make, then all of it freed again. */
static const char churn_src[] =
    ".func worker q n\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_FAST q\n"
    "    LOAD_FAST n\n"
    "    LOAD_CONST \" items\"\n"
    "    BUILD_LIST 2\n"
    "    CALL 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func deep n\n"
    "    LOAD_FAST n\n"
    "    LOAD_CONST 0\n"
    "    COMPARE_EQ\n"
    "    POP_JUMP_IF_FALSE more\n"
    "    BUILD_DICT 0\n"
    "    RETURN_VALUE\n"
    "more:\n"
    "    LOAD_GLOBAL deep\n"
    "    LOAD_FAST n\n"
    "    LOAD_CONST 1\n"
    "    BINARY_SUB\n"
    "    CALL 1\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func churn\n"
    "    .local l d s i q t\n"
    "    .try start end handler\n"
    "    BUILD_LIST 0\n"
    "    STORE_FAST l\n"
    "    BUILD_DICT 0\n"
    "    STORE_FAST d\n"
    "    LOAD_CONST \"s\"\n"
    "    STORE_FAST s\n"
    "    LOAD_CONST 0\n"
    "    STORE_FAST i\n"
    "top:\n"
    "    LOAD_GLOBAL append\n"
    "    LOAD_FAST l\n"
    "    LOAD_FAST s\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_FAST s\n"
    "    LOAD_FAST d\n"
    "    LOAD_FAST i\n"
    "    STORE_INDEX\n"
    "    LOAD_FAST s\n"
    "    LOAD_GLOBAL str\n"
    "    LOAD_FAST i\n"
    "    CALL 1\n"
    "    BINARY_ADD\n"
    "    STORE_FAST s\n"
    "    LOAD_FAST i\n"
    "    LOAD_CONST 1\n"
    "    BINARY_ADD\n"
    "    DUP_TOP\n"
    "    STORE_FAST i\n"
    "    LOAD_CONST 300\n"
    "    COMPARE_LT\n"
    "    POP_JUMP_IF_TRUE top\n"
    "    LOAD_FAST l\n"
    "    LOAD_FAST l\n"
    "    BUILD_LIST 2\n"
    "    LOAD_FAST l\n"
    "    LOAD_CONST 0\n"
    "    STORE_INDEX\n" /* a cycle: l[0] = [l, l]; freed by finalization */
    "    LOAD_GLOBAL queue_new\n"
    "    CALL 0\n"
    "    STORE_FAST q\n"
    "    LOAD_GLOBAL thread_start\n"
    "    LOAD_GLOBAL worker\n"
    "    LOAD_FAST q\n"
    "    LOAD_CONST 7\n"
    "    CALL 3\n"
    "    STORE_FAST t\n"
    "    LOAD_GLOBAL thread_join\n"
    "    LOAD_FAST t\n"
    "    CALL 1\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL queue_get\n"
    "    LOAD_FAST q\n"
    "    CALL 1\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL set_recursion_limit\n"
    "    LOAD_CONST 5000\n"
    "    CALL 1\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL deep\n"
    "    LOAD_CONST 3000\n" /* past the first data-stack chunk */
    "    CALL 1\n"
    "    POP_TOP\n"
    "start:\n"
    "    LOAD_FAST i\n"
    "    LOAD_CONST 0\n"
    "    BINARY_FLOORDIV\n"
    "    RETURN_VALUE\n"
    "end:\n"
    "handler:\n"
    "    POP_TOP\n"
    "    POP_EXCEPT\n"
    "    LOAD_FAST i\n"
    "    RETURN_VALUE\n"
    ".end\n";

/* The count goes back to exactly zero: every block counted when allocated
 * was uncounted when freed. A free() of counted memory would leave it above
 * zero; a gv_free of memory never counted would take it below. */
static void test_memory_count_returns_to_zero_after_finalize(void **state) {
    (void)state;
    GvErr_Clear();
    GvProgram_Free(program);
    Gv_DecRef(obj);
    program = NULL;
    obj = NULL;
    Gv_Finalize();
    assert_int_equal(gv_mem_in_use(), 0);
    assert_int_equal(Gv_GetMemoryUsage(), 0);
    assert_non_null(Gv_Initialize());
    size_t fresh = Gv_GetMemoryUsage();
    assert_true(fresh > 0);
    GvValue r;
    assert_int_equal(gvt_load_call(churn_src, "churn", &r), 0);
    assert_true(gv_is_int(r) && r.as.i == 300);
    assert_true(Gv_GetMemoryUsage() > fresh);
    Gv_Finalize();
    assert_int_equal(gv_mem_in_use(), 0);
    assert_int_equal(Gv_GetMemoryUsage(), 0);
    assert_non_null(Gv_Initialize()); /* for teardown */
}

static const char grow_src[] =
    ".func grow\n"
    "    .local l\n"
    "    BUILD_LIST 0\n"
    "    STORE_FAST l\n"
    "top:\n"
    "    LOAD_GLOBAL append\n"
    "    LOAD_FAST l\n"
    "    LOAD_CONST 1\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    JUMP top\n"
    ".end\n";

static void test_memory_limit_raises_memory_error_and_the_vm_goes_on(void **state) {
    (void)state;
    size_t base = Gv_GetMemoryUsage();
    Gv_SetMemoryLimit(base + (4u << 20));
    GvValue r;
    assert_int_equal(gvt_load_call(grow_src, "grow", &r), -1);
    assert_ptr_equal(GvErr_Occurred(), GvExc_MemoryError);
    GvErr_Clear();
    /* The list died with its frame: the memory is back, and more can be made. */
    assert_true(Gv_GetMemoryUsage() < base + (1u << 20));
    GvObject *l = gv_list_new(1000);
    assert_non_null(l);
    Gv_DecRef(l);
    /* Below the current usage: every counted allocation fails... */
    Gv_SetMemoryLimit(1);
    assert_null(gv_list_new(10));
    assert_ptr_equal(GvErr_Occurred(), GvExc_MemoryError); /* raising it needs no room */
    GvErr_Clear();
    /* ...until the limit is removed. */
    Gv_SetMemoryLimit(0);
    l = gv_list_new(1u << 16);
    assert_non_null(l);
    Gv_DecRef(l);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        T(test_gil_functions_are_fatal_without_a_thread_state),
        T(test_gil_functions_are_fatal_with_a_thread_state_not_holding_the_gil),
        T(test_gil_held_through_a_swapped_out_thread_state_is_enough),
        T(test_null_thread_state_arguments_are_fatal),
        T(test_taking_the_gil_twice_is_fatal_not_a_deadlock),
        T(test_wrong_thread_state_is_fatal),
        T(test_gilstate_release_misuse_is_fatal),
        T(test_null_out_arguments_are_fatal),
        T(test_restore_thread_with_a_state_of_a_finalized_runtime_is_fatal),
        T(test_acquire_thread_with_a_state_of_a_finalized_runtime_is_fatal),
        T(test_finalize_from_another_thread_is_fatal_at_once),
        T(test_null_thread_state_results),
        T(test_null_error_arguments),
        T(test_set_handled_exception_null_clears_and_rejects_non_exceptions),
        T(test_null_program_arguments),
        T(test_null_object_arguments),
        T(test_without_a_thread_state_documented_results),
        T(test_finalize_when_not_initialized_does_nothing),
        T(test_memory_count_returns_to_zero_after_finalize),
        T(test_memory_limit_raises_memory_error_and_the_vm_goes_on),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
