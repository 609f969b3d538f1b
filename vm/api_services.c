/* The public API: thread dicts, asynchronous exceptions, pending calls,
 * trace and profile hooks, signals (runtime/services.c, runtime/breaker.c). */
#include "api.h"

GvObject *GvThreadState_GetDict(void) {
    if (!gv_tstate_get()) return NULL;
    GvThreadState *ts = gv_api_need_gil("GvThreadState_GetDict");
    GvObject *d = gv_tstate_dict(ts);
    if (!d) gv_err_clear(ts); /* documented: never raises */
    return d;
}

int GvThreadState_SetAsyncExc(unsigned long id, GvObject *exc) {
    GvThreadState *ts = gv_api_need_gil("GvThreadState_SetAsyncExc");
    if (exc && exc->kind != GV_KEXC && exc->kind != GV_KTYPE) {
        gv_err_format(&gv_type_TypeError, "GvThreadState_SetAsyncExc: not an exception or exception type");
        return -1;
    }
    return gv_set_async_exc(ts->interp, id, exc);
}

void GvThreadState_MaskAsyncExc(void) { gv_async_mask(gv_api_need_gil("GvThreadState_MaskAsyncExc")); }
void GvThreadState_UnmaskAsyncExc(void) { gv_async_unmask(gv_api_need_gil("GvThreadState_UnmaskAsyncExc")); }

/* Under the runtime lock: Gv_Finalize unpublishes the interpreter under it
 * before freeing anything, so an adder either finishes first (and the call is
 * dropped at finalization) or finds no interpreter. */
static int add_pending(unsigned long target, int (*func)(void *), void *arg) {
    if (!func) return -1;
    gv_runtime_lock();
    GvInterpreterState *interp = gv_runtime_interp();
    int rc = interp && !gv_runtime_finalizing() ? gv_pending_add(interp, target, func, arg, false) : -1;
    gv_runtime_unlock();
    return rc;
}

int Gv_AddPendingCall(int (*func)(void *), void *arg) { return add_pending(0, func, arg); }

int Gv_AddPendingCallToThread(unsigned long thread_id, int (*func)(void *), void *arg) {
    if (thread_id == 0) return -1;
    return add_pending(thread_id, func, arg);
}

int Gv_MakePendingCalls(void) {
    GvThreadState *ts = gv_api_need_gil("Gv_MakePendingCalls");
    return gv_pending_run(ts);
}

/* ---- trace and profile hooks ---- */

static void set_hooks(GvThreadState *t, bool trace, GvTraceFunc func, void *userdata, bool opcodes) {
    if (trace) {
        t->c_tracefunc = func;
        t->c_traceobj = userdata;
        t->trace_opcodes = opcodes;
    } else {
        t->c_profilefunc = func;
        t->c_profileobj = userdata;
    }
    t->trace_active = t->c_tracefunc || t->c_profilefunc || t->interp->gil->mode == GV_GIL_SCHEDULE;
    gv_eval_retarget(t);
    gv_eb_set(t, GV_EB_TRACING);
}

void GvEval_SetTrace(GvTraceFunc func, void *userdata) {
    GvThreadState *ts = gv_api_need_gil("GvEval_SetTrace");
    set_hooks(ts, true, func, userdata, ts->interp->want_trace_opcodes);
}

void GvEval_SetProfile(GvTraceFunc func, void *userdata) {
    set_hooks(gv_api_need_gil("GvEval_SetProfile"), false, func, userdata, false);
}

static void set_all(const char *fn, bool trace, GvTraceFunc func, void *userdata) {
    GvInterpreterState *interp = gv_api_need_gil(fn)->interp;
    /* Other threads only read their hooks with the GIL, which we hold. */
    pthread_mutex_lock(&interp->mutex);
    if (trace) {
        interp->default_tracefunc = func;
        interp->default_traceobj = userdata;
        interp->default_trace_opcodes = interp->want_trace_opcodes;
    } else {
        interp->default_profilefunc = func;
        interp->default_profileobj = userdata;
    }
    for (GvThreadState *t = interp->threads; t; t = t->next) set_hooks(t, trace, func, userdata, interp->want_trace_opcodes);
    pthread_mutex_unlock(&interp->mutex);
}

void GvEval_SetTraceAllThreads(GvTraceFunc func, void *userdata) {
    set_all("GvEval_SetTraceAllThreads", true, func, userdata);
}

void GvEval_SetProfileAllThreads(GvTraceFunc func, void *userdata) {
    set_all("GvEval_SetProfileAllThreads", false, func, userdata);
}

void GvEval_SetTraceOpcodes(int on) {
    GvThreadState *ts = gv_api_need_gil("GvEval_SetTraceOpcodes");
    ts->interp->want_trace_opcodes = on != 0;
    ts->trace_opcodes = on != 0;
}

int Gv_InitSignals(void) {
    GvThreadState *ts = gv_api_need_gil("Gv_InitSignals");
    /* Ctrl-C goes to the main interpreter only. */
    if (ts->interp != gv_runtime_interp()) return -1;
    return gv_signals_install(ts);
}

