/* Threads: attaching to the GIL, parking, starting OS threads, shutdown.
 *
 * Thread states' lives are owned by runtime/tstate.c (create, count, attach,
 * detach, delete); every wait and wake-up goes through runtime/wait.c. This
 * file binds thread states to OS threads, starts and joins threads for
 * programs, and shuts them down.
 *
 * Shutdown
 * --------
 * Gv_Finalize first waits for the threads started by thread_start (not the
 * daemon ones). Then it marks the runtime finalizing and wakes every parked
 * thread and every GIL waiter. A thread that then tries to take the GIL gets
 * a refusal (gv_gil_take returns -1) and abandons itself: it marks its thread
 * state GV_TS_ABANDONED and ends its OS thread, touching nothing else. When
 * every other thread has ended or been abandoned, the finalizer (the only
 * thread left touching the VM) frees the abandoned thread states, frames and
 * all, and then the interpreter. If some thread does not come back in time
 * (an embedder's thread blocked in its own C code with the GIL released), the
 * finalizer frees nothing: a leak is better than that thread waking up in
 * freed memory. */
#include "thread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "breaker.h"
#include "errors.h"
#include "exc.h"
#include "frame.h"
#include "func.h"
#include "timeline.h"
#include "str.h"
#include "wait.h"

/* ---- binding a thread state to its OS thread ----
 *
 * A pthread key with a destructor tells us when an OS thread ends while it
 * still has a thread state (it returned or called pthread_exit, maybe holding
 * the GIL). An OS thread has one binding per interpreter it entered (GILState
 * is per interpreter: GvGILState_Ensure binds in the main one,
 * GvThreadState_Ensure in the guarded one): a thread-local list of cells,
 * each pointing at a thread state, which points back at its cell, both under
 * the runtime lock: so when finalization frees a thread state whose OS thread
 * still lives, it clears the cell first, and the destructor, running later,
 * finds nothing to do there. The cells are freed when the thread ends. */

typedef struct GvBinding {
    GvThreadState *ts;
    struct GvBinding *next;
} GvBinding;

static _Thread_local GvBinding *bindings;
static pthread_key_t bound_key;
static pthread_once_t bound_once = PTHREAD_ONCE_INIT;
static void on_thread_exit(void *p);

static void make_key(void) {
    if (pthread_key_create(&bound_key, on_thread_exit) != 0) {
        fprintf(stderr, "gilvm: fatal error: pthread_key_create failed\n");
        abort();
    }
}

/* The calling thread's cell for interp, or NULL. Runtime lock held. */
static GvBinding *cell_for(GvInterpreterState *interp) {
    for (GvBinding *b = bindings; b; b = b->next)
        if (b->ts && b->ts->interp == interp) return b;
    return NULL;
}

void gv_thread_bind(GvThreadState *ts) {
    pthread_once(&bound_once, make_key);
    gv_runtime_lock();
    GvBinding *b = cell_for(ts->interp);
    if (!b)
        for (b = bindings; b && b->ts; b = b->next) {
        }
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) {
            gv_runtime_unlock();
            return; /* unbound: only the end-of-thread clean-up is lost */
        }
        b->next = bindings;
        bindings = b;
    }
    if (b->ts) b->ts->binding = NULL;
    /* A thread state is bound to one OS thread at a time: another thread's
     * cell that still names it (it was handed over, GvEval_AcquireThread on
     * another thread) lets go, so that no cell outlives its thread state. */
    if (ts->binding && ts->binding != b) ts->binding->ts = NULL;
    b->ts = ts;
    ts->binding = b;
    gv_runtime_unlock();
    pthread_setspecific(bound_key, &bindings);
}

GvThreadState *gv_thread_bound(GvInterpreterState *interp) {
    gv_runtime_lock();
    GvBinding *b = interp ? cell_for(interp) : NULL;
    GvThreadState *ts = b ? b->ts : NULL;
    gv_runtime_unlock();
    return ts;
}

void gv_thread_unbind(GvInterpreterState *interp) {
    gv_runtime_lock();
    GvBinding *b = cell_for(interp);
    if (b) {
        b->ts->binding = NULL;
        b->ts = NULL;
    }
    gv_runtime_unlock();
}

void gv_thread_forget_binding(GvThreadState *ts) {
    gv_runtime_lock();
    if (ts->binding) ts->binding->ts = NULL;
    ts->binding = NULL;
    gv_runtime_unlock();
}

/* An OS thread ended while bound to a thread state: by returning from C
 * code that never gave the state back, by pthread_exit, or while holding the
 * GIL. Release what it held so the VM goes on. */
static void release_binding(GvBinding *b) {
    gv_runtime_lock();
    GvThreadState *ts = b->ts;
    b->ts = NULL;
    if (ts) ts->binding = NULL;
    if (!ts || gv_interp_finalizing(ts->interp) || ts->status == GV_TS_ABANDONED) {
        /* Nothing bound, or the finalizer owns (and may free) the state. */
        gv_runtime_unlock();
        return;
    }
    /* Counted, so the finalizer waits for us while we use ts below. */
    pthread_mutex_lock(&ts->interp->mutex);
    bool was_counted = ts->counted;
    pthread_mutex_unlock(&ts->interp->mutex);
    if (!was_counted) gv_tstate_count(ts, false);
    gv_runtime_unlock();
    if (!ts->runtime_owned) {
        /* Its creator deletes it; the thread only gives back the GIL. */
        if (ts->holds_gil) gv_gil_drop(ts->interp->gil, ts, false);
        if (gv_tstate_get() == ts) gv_tstate_set(NULL);
        gv_tstate_uncount(ts);
        return;
    }
    if (!ts->holds_gil && gv_tstate_attach(ts) < 0) {
        /* Finalizing started meanwhile: leave it to the finalizer. */
        pthread_mutex_lock(&ts->interp->mutex);
        ts->status = GV_TS_ABANDONED;
        pthread_mutex_unlock(&ts->interp->mutex);
        gv_tstate_uncount(ts);
        return;
    }
    gv_tstate_set(ts);
    gv_tstate_delete_current(ts);
}

static void on_thread_exit(void *p) {
    GvBinding **head = p;
    while (*head) {
        GvBinding *b = *head;
        release_binding(b);
        *head = b->next;
        free(b);
    }
}

/* ---- thread handles ---- */

typedef struct Handle {
    GvNative hdr;
    unsigned long id;
    bool daemon;
    bool done;            /* under interp->mutex */
    GvValue result;       /* strong; written (with the GIL) before done is set */
    GvWaitQueue joiners;  /* under interp->mutex */
    GvThreadState *ts;    /* borrowed; NULL once the thread is done */
} Handle;

/* Also its destructor: the result is all it holds. */
static void handle_clear(GvObject *o) {
    Handle *h = (Handle *)o;
    GvValue r = h->result;
    h->result = gv_none();
    gv_vdecref(r);
}

static const GvNativeType handle_type = {"thread", handle_clear, handle_clear};

bool gv_is_thread_handle(GvValue v) {
    return gv_is_kind(v, GV_KNATIVE) && ((GvNative *)v.as.o)->type == &handle_type;
}

unsigned long gv_thread_handle_id(GvObject *handle) { return ((Handle *)handle)->id; }

/* What a new thread runs, owned by its thread state until it starts. */
typedef struct StartArgs {
    GvValue callable; /* strong */
    int argc;
    GvValue argv[];   /* strong */
} StartArgs;

static void start_args_free(StartArgs *a) {
    gv_vdecref(a->callable);
    for (int i = 0; i < a->argc; i++) gv_vdecref(a->argv[i]);
    free(a);
}

static void report_exception(GvThreadState *ts) {
    GvObject *exc = gv_err_take(ts);
    if (!exc) return;
    GvException *e = (GvException *)exc;
    if (!gv_type_is_subtype(e->type, &gv_type_SystemExit)) {
        fflush(stdout);
        fprintf(stderr, "Exception in thread %lu:\n", ts->id);
        gv_exc_print(exc, stderr);
    }
    gv_decref(exc);
}

/* The thread's name on the timeline: its function's. */
static void timeline_name(GvThreadState *ts, GvValue callable) {
    if (gv_is_kind(callable, GV_KFUNC)) gv_tl_name(ts, gv_str_cstr(((GvFunction *)callable.as.o)->code->name));
    else if (gv_is_kind(callable, GV_KBUILTIN)) gv_tl_name(ts, ((GvBuiltin *)callable.as.o)->name);
}

static void *thread_main(void *p) {
    GvThreadState *ts = p;
    StartArgs *a = ts->start_args;
    gv_thread_bind(ts);
    gv_tstate_attach_or_exit(ts);
    GV_TL(timeline_name(ts, a->callable));
    GvValue result;
    int rc = ts->interp->eval_call(ts, a->callable, a->argc, a->argv, &result);
    /* An asynchronous exception (or pending call) that arrived after the
     * function's last check is not lost: it is raised here, as the thread's
     * own uncaught exception. */
    if (rc == 0 && gv_eb_test(ts, GV_EB_INTERRUPTS) && gv_breaker_handle_interrupts(ts) < 0) {
        gv_vdecref(result);
        rc = -1;
    }
    if (rc < 0) {
        report_exception(ts);
        result = gv_none();
    }
    gv_tstate_drop_dict(ts);
    /* Kept on ts until now: if the thread is abandoned while it runs, the
     * finalizer frees them. */
    ts->start_args = NULL;
    start_args_free(a);
    Handle *h = (Handle *)ts->handle;
    h->result = result;
    pthread_mutex_lock(&ts->interp->mutex);
    h->done = true;
    h->ts = NULL;
    gv_wake_all(&h->joiners);
    pthread_mutex_unlock(&ts->interp->mutex);
    gv_tstate_nondaemon_done(ts);
    gv_tstate_delete_current(ts);
    return NULL;
}

GvObject *gv_thread_start(GvThreadState *ts, GvValue callable, int argc, GvValue *argv, bool daemon) {
    GvInterpreterState *interp = ts->interp;
    if (gv_interp_finalizing(interp)) {
        gv_err_format(&gv_type_RuntimeError, "can't create new thread at interpreter shutdown");
        return NULL;
    }
    Handle *h = (Handle *)gv_native_new(&handle_type, sizeof(Handle));
    if (!h) return NULL;
    h->daemon = daemon;
    StartArgs *a = malloc(sizeof *a + (size_t)argc * sizeof(GvValue));
    GvThreadState *nts = a ? gv_tstate_new(interp) : NULL;
    if (!nts) {
        free(a);
        gv_decref(&h->hdr.ob);
        gv_err_nomemory();
        return NULL;
    }
    a->callable = gv_vincref(callable);
    a->argc = argc;
    for (int i = 0; i < argc; i++) a->argv[i] = gv_vincref(argv[i]);
    h->id = nts->id;
    h->ts = nts;
    nts->daemon = daemon;
    nts->gil_after_wait = false; /* a new VM thread queues with the CPU-bound ones */
    nts->runtime_owned = true;
    nts->handle = &h->hdr.ob;
    gv_incref(&h->hdr.ob);
    nts->start_args = a;
    gv_tstate_count(nts, !daemon);

    if (interp->gil->mode == GV_GIL_SCHEDULE) gv_gil_sched_runnable(interp->gil, nts);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, thread_main, nts);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        nts->start_args = NULL;
        start_args_free(a);
        gv_tstate_delete(nts); /* uncounts it and drops its reference to the handle */
        gv_decref(&h->hdr.ob);
        gv_err_format(&gv_type_RuntimeError, "can't start new thread (error %d)", rc);
        return NULL;
    }
    return &h->hdr.ob;
}

static bool handle_done(void *obj) { return ((Handle *)obj)->done; }

int gv_thread_join(GvThreadState *ts, GvObject *handle, GvValue *result) {
    Handle *h = (Handle *)handle;
    if (h->ts == ts) return gv_err_format(&gv_type_RuntimeError, "cannot join current thread");
    GvWaitSpec w = {.queue = &h->joiners, .ready = handle_done, .obj = h, .timeout = -1, .kind = "join"};
    if (gv_wait(ts, &w) < 0) return -1;
    *result = gv_vincref(h->result);
    return 0;
}

/* ---- shutdown ---- */

static bool no_nondaemon(void *obj) { return ((GvInterpreterState *)obj)->nondaemon_running == 0; }

int gv_threads_wait_nondaemon(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    if (interp->exit_wait_interrupted) return 0; /* given up once: exit now */
    GvWaitSpec w = {.queue = &interp->exit_waiters, .ready = no_nondaemon, .obj = interp, .timeout = -1,
                    .kind = "exit"};
    if (gv_wait(ts, &w) >= 0) return 0;
    /* Interrupted (Ctrl-C): as Python's exit, the threads still running are
     * then abandoned like daemon threads, not waited for again. */
    interp->exit_wait_interrupted = true;
    return -1;
}

bool gv_threads_shutdown(GvThreadState *ts, uint64_t timeout_ns) {
    GvInterpreterState *interp = ts->interp;
    interp->finalizer = ts;
    gv_interp_set_finalizing(interp);
    /* Wake every parked thread and every GIL waiter: each will find it may
     * not run and abandon itself. */
    pthread_mutex_lock(&interp->mutex);
    gv_wake_for_exit(interp, ts);
    pthread_mutex_unlock(&interp->mutex);
    gv_gil_wake_all(interp->gil);

    uint64_t end = gv_now_ns() + timeout_ns;
    struct timespec deadline = {(time_t)(end / 1000000000u), (long)(end % 1000000000u)};
    pthread_mutex_lock(&interp->mutex);
    while (interp->threads_running > 0)
        if (pthread_cond_timedwait(&interp->threads_cond, &interp->mutex, &deadline) == ETIMEDOUT) break;
    bool all_gone = interp->threads_running == 0;
    pthread_mutex_unlock(&interp->mutex);
    if (!all_gone) return false;

    /* Only the abandoned (and this thread, and states no thread uses) remain. */
    GvThreadState *t = interp->threads;
    while (t) {
        GvThreadState *next = t->next;
        if (t != ts && t->status == GV_TS_ABANDONED) {
            gv_frame_teardown_all(t);
            if (t->start_args) start_args_free(t->start_args);
            t->start_args = NULL;
            gv_tstate_delete(t);
        }
        t = next;
    }
    return true;
}
