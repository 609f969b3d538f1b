/* The public API for several interpreters: making and ending them, the
 * current and main ones, guards and views, and attaching a thread to a
 * guarded interpreter (GvThreadState_Ensure). The runtime's part (the list of
 * interpreters, the lock ordering "enter" against "finalize") is
 * runtime/tstate.c's; waits across interpreters are runtime/channel.h's. */
#include "api.h"

#include "../runtime/channel.h"
#include "gen.h"
#include "interp.h"

/* ---- making and ending ---- */

GvThreadState *gv_interp_create(GvInterpreterState *interp) {
    GvThreadState *ts = gv_tstate_new(interp);
    if (!ts) return NULL;
    interp->main_thread = ts;
    interp->eval_call = gv_eval_call;
    gv_thread_bind(ts);
    if (gv_tstate_attach(ts) < 0) abort(); /* cannot fail: not finalizing */
    interp->globals = gv_dict_new();
    interp->builtins = gv_dict_new();
    if (!interp->globals || !interp->builtins || gv_builtins_install(interp) < 0) return NULL;
    return ts;
}

/* Counts of interpreters started by programs, per creator; its mutex guards
 * every interp->children_running, and waiting for a count to reach zero is a
 * cross-interpreter wait (the child that ends runs under another GIL). */
static GvXEvent children_ev;
static pthread_once_t children_once = PTHREAD_ONCE_INIT;
static void children_init(void) { gv_xevent_init(&children_ev); }

int gv_interp_children_add(GvInterpreterState *creator) {
    pthread_once(&children_once, children_init);
    pthread_mutex_lock(&children_ev.mutex);
    bool closed = creator->children_closed;
    if (!closed) creator->children_running++;
    pthread_mutex_unlock(&children_ev.mutex);
    return closed ? -1 : 0;
}

void gv_interp_children_done(GvInterpreterState *creator, int64_t creator_id) {
    pthread_once(&children_once, children_init);
    /* Lock order: the runtime lock, then the event's mutex (then, waking,
     * an interpreter's mutex). */
    gv_runtime_lock();
    if (gv_interp_alive_locked(creator) && creator->id == creator_id) {
        pthread_mutex_lock(&children_ev.mutex);
        creator->children_running--;
        gv_xevent_changed_locked(&children_ev);
        pthread_mutex_unlock(&children_ev.mutex);
    }
    gv_runtime_unlock();
}

/* 0 when none runs, -1 if interrupted. Either way no more may start. */
static int wait_children(GvThreadState *ts) {
    pthread_once(&children_once, children_init);
    for (;;) {
        pthread_mutex_lock(&children_ev.mutex);
        if (ts->interp->children_running == 0) {
            ts->interp->children_closed = true;
            pthread_mutex_unlock(&children_ev.mutex);
            return 0;
        }
        GvXWait w;
        int rc = gv_xevent_prepare(&children_ev, ts, &w);
        pthread_mutex_unlock(&children_ev.mutex);
        if (rc < 0 || gv_xevent_wait(ts, &w, -1) < 0) {
            pthread_mutex_lock(&children_ev.mutex);
            ts->interp->children_closed = true;
            pthread_mutex_unlock(&children_ev.mutex);
            return -1;
        }
    }
}

void gv_interp_before_finalize(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    /* As the exit wait for threads: interrupted once (Ctrl-C), the
     * interpreters still running are left to run on, like daemon threads.
     * They hold nothing of this one: only the count, which they reach
     * through the (static) event's mutex, never through freed memory. */
    if (interp->exit_wait_interrupted) {
        pthread_mutex_lock(&children_ev.mutex);
        interp->children_closed = true;
        pthread_mutex_unlock(&children_ev.mutex);
    } else if (wait_children(ts) < 0) {
        gv_err_clear(ts);
        interp->exit_wait_interrupted = true;
    }
    gv_runtime_lock();
    interp->closing = true;
    if (interp->guards > 0) {
        /* A guard's holder may be about to take this GIL (Ensure). */
        gv_runtime_unlock();
        gv_tstate_detach(ts);
        gv_runtime_lock();
        while (interp->guards > 0) gv_runtime_wait_changed();
        gv_runtime_unlock();
        if (gv_tstate_attach(ts) < 0) abort(); /* not finalizing yet: cannot fail */
    } else {
        gv_runtime_unlock();
    }
}

void gv_interp_teardown(GvThreadState *ts, bool all_gone) {
    GvInterpreterState *interp = ts->interp;
    /* A sharer whose end left a thread behind (unlinked, not freed) may still
     * touch this interpreter's GIL: keep it allocated, as for our own. */
    if (atomic_load(&interp->gil_sharers) > 0) all_gone = false;
    if (!all_gone) {
        /* A thread may still wake up in the interpreter: leave it allocated,
         * but no longer listed. */
        gv_interp_unlink(interp);
        gv_tstate_set(NULL);
        gv_thread_unbind(interp);
        /* Our own GIL may stay held by a thread state nobody uses; main's,
         * shared, must go back to main's threads. */
        if (interp->gil_owner != interp) gv_gil_drop(interp->gil, ts, false);
        return;
    }
    gv_err_clear(ts);
    gv_excinfo_pop_to(ts, 0);
    gv_gen_close_all(ts); /* while the VM can still run them */
    gv_err_clear(ts);
    GvObject *g = interp->globals, *b = interp->builtins, *a = interp->argv;
    interp->globals = interp->builtins = interp->argv = NULL;
    gv_xdecref(a);
    gv_xdecref(g);
    gv_xdecref(b);
    /* Thread states nobody deleted (GvThreadState_New without Delete, or a
     * thread that left with GvEval_SaveThread and never came back): their
     * threads may still hold them, so each leaves a tombstone. */
    bool shared = interp->gil_owner != interp;
    for (;;) {
        GvThreadState *t = interp->threads;
        if (t == ts && shared) t = ts->next; /* deleted last: it holds main's GIL */
        if (!t) break;
        gv_frame_teardown_all(t);
        if (t == ts) gv_tstate_delete(t);
        else gv_tstate_retire(t);
    }
    gv_containers_clear(interp);
    if (shared) {
        /* Our own GIL dies with the interpreter; main's is handed back,
         * by the one path that drops a GIL and frees its holder. */
        gv_frame_teardown_all(ts);
        gv_tstate_delete_current(ts);
    }
    gv_tstate_set(NULL);
    gv_thread_unbind(interp);
    gv_interp_delete(interp);
}

int gv_interp_keep_program(GvInterpreterState *interp, const GvProgram *program) {
    void *data;
    size_t len;
    if (GvProgram_Save(program, &data, &len) < 0) return gv_err_nomemory();
    char *name = program->filename ? strdup(gv_str_cstr(program->filename)) : NULL;
    if (program->filename && !name) {
        free(data);
        return gv_err_nomemory();
    }
    free(interp->program_image);
    free(interp->program_filename);
    interp->program_image = data;
    interp->program_len = len;
    interp->program_filename = name;
    return 0;
}

/* Returns from the API as GvEval_SaveThread does (see api_tstate.c). */
static void save_current(void) {
    GvThreadState *cur = gv_tstate_get();
    if (cur && gv_api_holds_gil(cur) && cur->holds_gil) GvEval_SaveThread();
}

GvThreadState *GvInterpreter_NewFromConfig(const GvInterpreterConfig *config) {
    if (config && config->gil != GV_INTERP_OWN_GIL && config->gil != GV_INTERP_SHARED_GIL) return NULL;
    bool shared = config && config->gil == GV_INTERP_SHARED_GIL;
    GvInterpreterState *main_interp = gv_runtime_interp();
    if (!main_interp || gv_interp_finalizing(main_interp)) return NULL;
    /* The deterministic schedule orders main's threads only: a sharer's
     * threads would take the GIL outside it. (Set only while a single thread
     * exists, so it cannot start under a sharer either.) */
    if (shared && main_interp->gil->mode == GV_GIL_SCHEDULE) return NULL;
    GvInterpreterState *interp = gv_interp_new(shared ? main_interp : NULL);
    if (!interp) return NULL;
    GvThreadState *prev = gv_tstate_get();
    bool swapped = prev && prev->holds_gil;
    save_current();
    GvThreadState *ts = gv_interp_create(interp);
    if (!ts) {
        /* Half made: its thread state (if any) is the only one. */
        ts = interp->main_thread;
        if (ts) {
            gv_interp_teardown(ts, true);
        } else {
            gv_interp_delete(interp);
        }
        if (swapped) GvEval_RestoreThread(prev);
        return NULL;
    }
    return ts;
}

GvThreadState *GvInterpreter_New(void) { return GvInterpreter_NewFromConfig(NULL); }

void GvInterpreter_End(GvThreadState *ts) {
    if (!ts) gv_api_fatal("GvInterpreter_End", "NULL thread state");
    if (ts != gv_api_need_gil("GvInterpreter_End"))
        gv_api_fatal("GvInterpreter_End", "the thread state is not the calling thread's current one");
    GvInterpreterState *interp = ts->interp;
    if (interp == gv_runtime_interp())
        gv_api_fatal("GvInterpreter_End", "the main interpreter is ended by Gv_Finalize");
    if (ts != interp->main_thread)
        gv_api_fatal("GvInterpreter_End", "not the interpreter's main thread (the one GvInterpreter_New returned)");
    gv_err_clear(ts);
    if (gv_threads_wait_nondaemon(ts) < 0) gv_err_clear(ts);
    gv_interp_before_finalize(ts);
    bool all_gone = gv_threads_shutdown(ts, 2000000000ull);
    gv_interp_teardown(ts, all_gone);
}

GvInterpreterState *GvInterpreterState_Main(void) { return gv_runtime_interp(); }

long long GvInterpreterState_GetID(GvInterpreterState *interp) { return interp ? (long long)interp->id : -1; }

/* ---- guards and views ---- */

struct GvInterpreterGuard {
    GvInterpreterState *interp;
};

struct GvInterpreterView {
    GvInterpreterState *interp; /* compared, never followed, unless still listed */
    int64_t id;                 /* with the pointer: a new interpreter at the same address is another */
};

/* Runtime lock held. */
static GvInterpreterGuard *guard_locked(GvInterpreterState *interp) {
    if (interp->closing || gv_interp_finalizing(interp)) return NULL;
    GvInterpreterGuard *g = malloc(sizeof *g);
    if (!g) return NULL;
    g->interp = interp;
    interp->guards++;
    return g;
}

GvInterpreterGuard *GvInterpreterGuard_FromCurrent(void) {
    GvThreadState *ts = gv_api_need_gil("GvInterpreterGuard_FromCurrent");
    gv_runtime_lock();
    bool refused = ts->interp->closing || gv_interp_finalizing(ts->interp);
    GvInterpreterGuard *g = refused ? NULL : guard_locked(ts->interp);
    gv_runtime_unlock();
    if (!g) {
        if (refused) gv_err_format(&gv_type_RuntimeError, "the interpreter is finalizing");
        else gv_err_nomemory();
    }
    return g;
}

GvInterpreterGuard *GvInterpreterGuard_FromView(GvInterpreterView *view) {
    if (!view) gv_api_fatal("GvInterpreterGuard_FromView", "NULL view");
    gv_runtime_lock();
    GvInterpreterGuard *g = NULL;
    if (gv_interp_alive_locked(view->interp) && view->interp->id == view->id) g = guard_locked(view->interp);
    gv_runtime_unlock();
    return g;
}

void GvInterpreterGuard_Close(GvInterpreterGuard *guard) {
    if (!guard) return;
    gv_runtime_lock();
    if (--guard->interp->guards == 0) gv_runtime_signal_changed();
    gv_runtime_unlock();
    free(guard);
}

static GvInterpreterView *view_of(GvInterpreterState *interp) {
    if (!interp) return NULL;
    GvInterpreterView *v = malloc(sizeof *v);
    if (!v) return NULL;
    v->interp = interp;
    v->id = interp->id;
    return v;
}

GvInterpreterView *GvInterpreterView_FromCurrent(void) {
    return view_of(gv_api_need_gil("GvInterpreterView_FromCurrent")->interp);
}

GvInterpreterView *GvInterpreterView_FromMain(void) {
    gv_runtime_lock();
    GvInterpreterView *v = view_of(gv_runtime_interp());
    gv_runtime_unlock();
    return v;
}

void GvInterpreterView_Close(GvInterpreterView *view) { free(view); }

/* ---- attaching to a guarded interpreter ----
 * Each successful Ensure pushes what its Release undoes on a thread-local
 * stack: which thread state it attached, whether it attached it (or found
 * it attached already), whether it made it, and what it detached. */
typedef struct Ensured {
    GvThreadState *ts;
    GvThreadState *prev;  /* detached by this Ensure; restored by Release */
    bool attached;        /* this Ensure took the GIL */
    bool made;            /* this Ensure made ts: its Release deletes it */
    struct Ensured *outer;
} Ensured;

static _Thread_local Ensured *ensured;

int GvThreadState_Ensure(GvInterpreterGuard *guard) {
    if (!guard) gv_api_fatal("GvThreadState_Ensure", "NULL guard");
    GvInterpreterState *interp = guard->interp;
    Ensured *e = calloc(1, sizeof *e);
    if (!e) return -1;
    GvThreadState *cur = gv_tstate_get();
    GvThreadState *ts = gv_thread_bound(interp);
    if (cur && cur->interp == interp && cur->holds_gil) {
        e->ts = cur; /* already attached here: nothing to do, nothing to undo */
    } else {
        if (cur && cur->holds_gil) {
            e->prev = cur;
            GvEval_SaveThread();
        }
        if (!ts) {
            /* Made and counted under the runtime lock, as GvGILState_Ensure
             * does: finalization either waits for this thread or refuses it. */
            gv_runtime_lock();
            if (!gv_interp_finalizing(interp)) {
                ts = gv_tstate_new(interp);
                if (ts) {
                    ts->runtime_owned = true;
                    gv_tstate_count(ts, false);
                }
            }
            gv_runtime_unlock();
            if (ts) {
                gv_thread_bind(ts);
                e->made = true;
            }
        } else if (!gv_tstate_enter(ts, "GvThreadState_Ensure")) {
            ts = NULL;
        }
        if (ts && gv_tstate_attach(ts) < 0) {
            /* Refused (finalizing started): the finalizer frees a state we
             * made; this thread goes on outside the VM. */
            if (e->made) {
                gv_thread_forget_binding(ts);
                pthread_mutex_lock(&interp->mutex);
                ts->status = GV_TS_ABANDONED;
                pthread_mutex_unlock(&interp->mutex);
            }
            gv_tstate_uncount(ts);
            ts = NULL;
        }
        if (!ts) {
            if (e->prev) GvEval_RestoreThread(e->prev);
            free(e);
            return -1;
        }
        e->ts = ts;
        e->attached = true;
    }
    e->outer = ensured;
    ensured = e;
    return 0;
}

void GvThreadState_Release(void) {
    Ensured *e = ensured;
    if (!e) gv_api_fatal("GvThreadState_Release", "no matching GvThreadState_Ensure on this thread");
    GvThreadState *ts = gv_tstate_get();
    if (ts != e->ts || !ts->holds_gil)
        gv_api_fatal("GvThreadState_Release", "the thread state GvThreadState_Ensure attached is not current");
    ensured = e->outer;
    if (e->made) {
        gv_tstate_delete_current(ts);
    } else if (e->attached) {
        GvEval_SaveThread();
    }
    if (e->prev) GvEval_RestoreThread(e->prev);
    free(e);
}

int GvInterpreter_AddPendingCall(GvInterpreterGuard *guard, int (*func)(void *), void *arg) {
    if (!guard || !func) return -1;
    gv_runtime_lock();
    GvInterpreterState *interp = guard->interp;
    int rc = !gv_interp_finalizing(interp) ? gv_pending_add(interp, 0, func, arg, false) : -1;
    gv_runtime_unlock();
    return rc;
}
