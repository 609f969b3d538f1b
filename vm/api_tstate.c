/* The public API: thread states, attaching to and leaving the GIL,
 * GILState, and the GIL's settings and statistics. The lifecycle itself is
 * runtime/tstate.c's; this file checks arguments and calls it. */
#include "api.h"

GvThreadState *GvThreadState_Get(void) { return gv_tstate_get(); }

GvInterpreterState *GvInterpreterState_Get(void) {
    GvThreadState *ts = gv_tstate_get();
    return ts ? ts->interp : gv_runtime_interp();
}

GvThreadState *GvThreadState_New(GvInterpreterState *interp) {
    if (!interp) return NULL;
    gv_runtime_lock();
    GvThreadState *ts = gv_interp_alive_locked(interp) && !gv_interp_finalizing(interp) ? gv_tstate_new(interp) : NULL;
    gv_runtime_unlock();
    return ts;
}

void GvThreadState_Clear(GvThreadState *ts) {
    gv_api_need_gil("GvThreadState_Clear");
    if (!ts) gv_api_fatal("GvThreadState_Clear", "NULL thread state");
    if (ts->current_frame) gv_api_fatal("GvThreadState_Clear", "the thread state is running bytecode");
    gv_tstate_clear(ts);
}

void GvThreadState_Delete(GvThreadState *ts) {
    gv_api_need_gil("GvThreadState_Delete");
    if (!ts) gv_api_fatal("GvThreadState_Delete", "NULL thread state");
    if (ts == gv_tstate_get()) gv_api_fatal("GvThreadState_Delete", "the thread state is current (use GvThreadState_DeleteCurrent)");
    if (ts->holds_gil) gv_api_fatal("GvThreadState_Delete", "the thread state holds the GIL");
    if (ts->current_frame) gv_api_fatal("GvThreadState_Delete", "the thread state is running bytecode");
    gv_tstate_delete(ts);
}

void GvThreadState_DeleteCurrent(void) {
    gv_tstate_delete_current(gv_api_need_gil("GvThreadState_DeleteCurrent"));
}

GvThreadState *GvThreadState_Swap(GvThreadState *ts) {
    GvThreadState *old = gv_tstate_get();
    gv_tstate_set(ts);
    return old;
}

unsigned long GvThreadState_GetID(GvThreadState *ts) { return ts ? ts->id : 0; }

/* Taking the GIL while already holding it would wait forever. */
static void not_holding(const char *fn) {
    GvThreadState *cur = gv_tstate_get();
    if (cur && cur->holds_gil) gv_api_fatal(fn, "the calling thread already holds the GIL");
}

void GvEval_AcquireThread(GvThreadState *ts) {
    if (!ts) gv_api_fatal("GvEval_AcquireThread", "NULL thread state");
    not_holding("GvEval_AcquireThread");
    if (!gv_tstate_enter(ts, "GvEval_AcquireThread")) pthread_exit(NULL); /* finalizing: this thread does not come back */
    if (ts->holds_gil) gv_api_fatal("GvEval_AcquireThread", "the thread state already holds the GIL");
    if (!gv_thread_bound(ts->interp)) gv_thread_bind(ts);
    gv_tstate_attach_or_exit(ts);
}

int GvEval_AcquireThreadOrFail(GvThreadState *ts) {
    if (!ts) gv_api_fatal("GvEval_AcquireThreadOrFail", "NULL thread state");
    not_holding("GvEval_AcquireThreadOrFail");
    if (!gv_tstate_enter(ts, "GvEval_AcquireThreadOrFail")) return -1;
    if (ts->holds_gil) gv_api_fatal("GvEval_AcquireThreadOrFail", "the thread state already holds the GIL");
    if (gv_tstate_attach(ts) < 0) {
        /* Refused: this thread will not touch the VM, so finalization must
         * not wait for it. */
        gv_tstate_uncount(ts);
        return -1;
    }
    if (!gv_thread_bound(ts->interp)) gv_thread_bind(ts);
    return 0;
}

/* A thread leaving through the public API comes back only through calls
 * that check the finalizing flag before touching its thread state, so
 * finalization need not wait for it (unlike a thread parked inside a VM
 * wait, which touches VM memory as it wakes). */
static void leave_vm(GvThreadState *ts) {
    gv_tstate_detach(ts);
    /* A thread_start thread (it has a handle) stays counted: it runs VM code
     * again when its C code returns. */
    if (!ts->handle) gv_tstate_uncount(ts);
}

void GvEval_ReleaseThread(GvThreadState *ts) {
    if (!ts) gv_api_fatal("GvEval_ReleaseThread", "NULL thread state");
    if (ts != gv_api_need_gil("GvEval_ReleaseThread"))
        gv_api_fatal("GvEval_ReleaseThread", "the thread state is not the calling thread's current one");
    leave_vm(ts);
}

GvThreadState *GvEval_SaveThread(void) {
    GvThreadState *ts = gv_api_need_gil("GvEval_SaveThread");
    leave_vm(ts);
    return ts;
}

void GvEval_RestoreThread(GvThreadState *ts) {
    if (!ts) gv_api_fatal("GvEval_RestoreThread", "NULL thread state");
    not_holding("GvEval_RestoreThread");
    if (!gv_tstate_enter(ts, "GvEval_RestoreThread")) pthread_exit(NULL); /* finalizing: ts may be gone */
    gv_tstate_attach_or_exit(ts);
}

/* GILState answers "which interpreter?" with "the main one", as CPython's
 * does: GvThreadState_Ensure (vm/api_interp.c) attaches to another. */
GvGILState_STATE GvGILState_Ensure(void) {
    GvThreadState *ts = gv_thread_bound(gv_runtime_interp());
    if (ts && ts->holds_gil && gv_tstate_get() == ts) {
        ts->gilstate_counter++;
        return GvGILState_LOCKED;
    }
    if (!ts) {
        /* Created and counted under the runtime lock, so that finalization
         * either waits for this thread or refuses it before it exists. */
        gv_runtime_lock();
        GvInterpreterState *interp = gv_runtime_interp();
        if (!interp || gv_runtime_finalizing()) {
            gv_runtime_unlock();
            pthread_exit(NULL); /* no interpreter to run in, or no longer */
        }
        ts = gv_tstate_new(interp);
        if (!ts) gv_api_fatal("GvGILState_Ensure", "out of memory");
        ts->gilstate_auto = true;
        ts->runtime_owned = true;
        gv_tstate_count(ts, false);
        gv_runtime_unlock();
        gv_thread_bind(ts);
    } else if (!gv_tstate_enter(ts, "GvGILState_Ensure")) {
        pthread_exit(NULL);
    }
    gv_tstate_attach_or_exit(ts);
    ts->gilstate_counter++;
    return GvGILState_UNLOCKED;
}

void GvGILState_Release(GvGILState_STATE state) {
    if (state != GvGILState_LOCKED && state != GvGILState_UNLOCKED)
        gv_api_fatal("GvGILState_Release", "not a state GvGILState_Ensure returned");
    GvThreadState *ts = gv_thread_bound(gv_runtime_interp());
    if (!ts || gv_tstate_get() != ts || !ts->holds_gil || ts->gilstate_counter <= 0)
        gv_api_fatal("GvGILState_Release", "no matching GvGILState_Ensure on this thread");
    if (--ts->gilstate_counter == 0 && ts->gilstate_auto) {
        GvThreadState_DeleteCurrent();
        return;
    }
    if (state == GvGILState_UNLOCKED) leave_vm(ts);
}

int GvGILState_Check(void) {
    GvThreadState *ts = gv_tstate_get();
    return ts && gv_api_holds_gil(ts);
}

int Gv_SetSwitchInterval(double seconds) {
    GvThreadState *ts = gv_api_need_gil("Gv_SetSwitchInterval");
    if (!(seconds > 0)) return gv_err_format(&gv_type_ValueError, "switch interval must be strictly positive");
    ts->interp->gil_owner->switch_interval = gv_float(seconds);
    double ns = seconds * 1e9;
    atomic_store(&ts->interp->gil->interval_ns, ns < 1 ? 1 : ns > 1e15 ? (int64_t)1e15 : (int64_t)ns);
    return 0;
}

int Gv_SetGILMode(GvGILMode mode) {
    GvThreadState *ts = gv_api_need_gil("Gv_SetGILMode");
    if (!gv_gil_mode_selectable((int)mode))
        return gv_err_format(&gv_type_ValueError, "unknown GIL mode %d", (int)mode);
    GvInterpreterState *interp = ts->interp;
    /* Counting the threads of every interpreter sharing the GIL: a policy
     * must not change under a waiter of another interpreter. */
    if (!gv_tstate_alone_on_gil(ts))
        return gv_err_format(&gv_type_RuntimeError, "the GIL mode can only change while a single thread exists");
    gv_gil_set_mode(interp->gil, (int)mode);
    return 0;
}

int Gv_SetSchedule(unsigned long long seed, unsigned instructions) {
    GvThreadState *ts = gv_api_need_gil("Gv_SetSchedule");
    GvInterpreterState *interp = ts->interp;
    if (instructions == 0) return gv_err_format(&gv_type_ValueError, "a schedule slice must be at least 1 instruction");
    if (!gv_tstate_alone_on_gil(ts))
        return gv_err_format(&gv_type_RuntimeError, "the schedule can only be set while a single thread exists");
    gv_gil_set_schedule(interp->gil, ts, seed, instructions);
    ts->trace_active = true; /* instructions are counted on the traced path */
    gv_eval_retarget(ts);
    gv_eb_set(ts, GV_EB_TRACING);
    return 0;
}

GvGILMode Gv_GetGILMode(void) {
    GvInterpreterState *interp = GvInterpreterState_Get();
    return interp ? (GvGILMode)interp->gil->mode : GV_GIL_CLASSIC;
}

double Gv_GetSwitchInterval(void) {
    GvValue v = gv_api_need_gil("Gv_GetSwitchInterval")->interp->gil_owner->switch_interval;
    return gv_is_float(v) ? v.as.f : (double)v.as.i;
}

void GvGIL_GetStats(GvGILStats *out) {
    if (!out) gv_api_fatal("GvGIL_GetStats", "NULL out");
    GvInterpreterState *interp = GvInterpreterState_Get();
    if (!interp) {
        memset(out, 0, sizeof *out);
        return;
    }
    gv_gil_get_stats(interp->gil, out);
}

void GvThreadState_GetGILStats(GvThreadState *ts, GvGILStats *out) {
    gv_api_need_gil("GvThreadState_GetGILStats");
    if (!ts || !out) gv_api_fatal("GvThreadState_GetGILStats", ts ? "NULL out" : "NULL thread state");
    pthread_mutex_lock(&ts->interp->gil->mutex);
    *out = ts->gil_stats;
    pthread_mutex_unlock(&ts->interp->gil->mutex);
}

