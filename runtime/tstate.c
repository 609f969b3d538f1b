/* Interpreter and thread states: creation (the data stack is frame.c's), the
 * stack of exceptions being handled, and the list of containers that lets
 * finalization free reference cycles.
 *
 * Locking: a thread state's fields are touched by the thread that owns it,
 * holding the GIL, except its atomics (the eval breaker and the like), which
 * other threads set to get its attention. The interpreter's thread list,
 * counters and thread statuses are guarded by interp->mutex (tstate.h says
 * which field is guarded by what), the runtime record below by its own lock. */
#include "tstate.h"

#include <assert.h>
#include <stdlib.h>
#include <time.h>

#include <assert.h>
#include <stdio.h>

#include "channel.h"
#include "dict.h"
#include "errors.h"
#include "frame.h"
#include "list.h"
#include "services.h"
#include "thread.h"
#include "timeline.h"
#include "wait.h"

/* The thread's current state. One load to find it. */
static _Thread_local GvThreadState *current_tstate;

GvThreadState *gv_tstate_get(void) { return current_tstate; }
void gv_tstate_set(GvThreadState *ts) { current_tstate = ts; }

/* The process-wide part, kept small: only what cannot belong to one
 * interpreter.
 * - The list of interpreters and the main one: CPython-shaped calls
 *   (GvGILState_Ensure, Gv_AddPendingCall) find the main interpreter from
 *   threads that have no thread state, and a guard's view must be able to
 *   tell whether its interpreter still exists.
 * - `finalizing`: the runtime's (Gv_Finalize has started). It lives here,
 *   not in the interpreter, so that a thread waking up after the main
 *   interpreter is gone can still read it. Each interpreter has its own flag
 *   too (interp->finalizing) for its own end.
 * - One lock that orders "a thread from outside enters the VM" against "an
 *   interpreter starts finalizing": a thread counted before is waited for;
 *   one arriving after is refused without touching its thread state. One
 *   lock for all interpreters because it also guards the list, and a thread
 *   entering needs both answers at once; it is held only for a few loads and
 *   stores, never while waiting for anything but `changed`.
 * - Id counters: thread ids are distinct across the process (async_raise
 *   and thread_join name threads by id), interpreter ids too. */
static struct {
    _Atomic(GvInterpreterState *) interp; /* the main one */
    GvInterpreterState *all;              /* every interpreter, via next_interp */
    int count;                            /* interpreters in `all` */
    _Atomic bool finalizing;
    pthread_mutex_t lock;
    /* Signalled (under lock) when the list or an interpreter's guards change. */
    pthread_cond_t changed;
    _Atomic unsigned long next_thread_id; /* main's first thread is 1 */
    int64_t next_interp_id;               /* under lock; main is 0 */
    /* Tombstones of thread states whose runtime was finalized while their
     * thread was away (gv_tstate_retire), linked through ->next: kept for the
     * process's lifetime so that a late call with one is a clear error. */
    GvThreadState *graveyard;
} runtime = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

void gv_runtime_lock(void) { pthread_mutex_lock(&runtime.lock); }
void gv_runtime_unlock(void) { pthread_mutex_unlock(&runtime.lock); }
void gv_runtime_wait_changed(void) { pthread_cond_wait(&runtime.changed, &runtime.lock); }
void gv_runtime_signal_changed(void) { pthread_cond_broadcast(&runtime.changed); }

GvInterpreterState *gv_runtime_interp(void) { return atomic_load(&runtime.interp); }
void gv_runtime_set_interp(GvInterpreterState *interp) {
    pthread_mutex_lock(&runtime.lock);
    atomic_store(&runtime.interp, interp);
    pthread_mutex_unlock(&runtime.lock);
}
bool gv_runtime_finalizing(void) { return atomic_load(&runtime.finalizing); }
void gv_runtime_set_finalizing(bool on) {
    pthread_mutex_lock(&runtime.lock);
    atomic_store(&runtime.finalizing, on);
    pthread_mutex_unlock(&runtime.lock);
}

bool gv_interp_finalizing(GvInterpreterState *interp) {
    return atomic_load(&interp->finalizing) || atomic_load(&runtime.finalizing);
}

void gv_interp_set_finalizing(GvInterpreterState *interp) {
    pthread_mutex_lock(&runtime.lock);
    atomic_store(&interp->finalizing, true);
    if (interp == atomic_load(&runtime.interp)) atomic_store(&runtime.finalizing, true);
    pthread_mutex_unlock(&runtime.lock);
}

bool gv_tstate_must_exit(GvThreadState *ts) {
    return gv_interp_finalizing(ts->interp) && ts->interp->finalizer != ts;
}

bool gv_interp_alive_locked(GvInterpreterState *interp) {
    for (GvInterpreterState *i = runtime.all; i; i = i->next_interp)
        if (i == interp) return true;
    return false;
}

int gv_interp_count(void) {
    pthread_mutex_lock(&runtime.lock);
    int n = runtime.count;
    pthread_mutex_unlock(&runtime.lock);
    return n;
}

void gv_interp_foreach_locked(void (*fn)(GvInterpreterState *, void *), void *arg) {
    for (GvInterpreterState *i = runtime.all; i; i = i->next_interp) fn(i, arg);
}

GvInterpreterState *gv_interp_new(GvInterpreterState *gil_owner) {
    GvInterpreterState *interp = calloc(1, sizeof *interp);
    if (!interp) return NULL;
    if (gil_owner) {
        interp->gil = gil_owner->gil;
        interp->gil_owner = gil_owner;
        atomic_fetch_add(&gil_owner->gil_sharers, 1);
    } else {
        gv_gil_init(&interp->own_gil);
        interp->gil = &interp->own_gil;
        interp->gil_owner = interp;
    }
    pthread_mutex_init(&interp->mutex, NULL);
    pthread_mutex_init(&interp->pending_mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&interp->threads_cond, &attr);
    pthread_condattr_destroy(&attr);
    interp->containers.prev = interp->containers.next = &interp->containers;
    interp->recursion_limit = GV_DEFAULT_RECURSION_LIMIT;
    interp->switch_interval = gv_float(0.005);
    pthread_mutex_lock(&runtime.lock);
    if (!runtime.all) {
        /* A fresh runtime (the first, or one after Gv_Finalize): ids start over. */
        atomic_store(&runtime.next_thread_id, 1);
        runtime.next_interp_id = 0;
    }
    interp->id = runtime.next_interp_id++;
    interp->next_interp = runtime.all;
    runtime.all = interp;
    runtime.count++;
    pthread_cond_broadcast(&runtime.changed);
    pthread_mutex_unlock(&runtime.lock);
    /* Several interpreters: memory accounting can no longer rely on one GIL
     * (set before the second one runs anything; never unset). */
    if (interp->id > 0) gv_mem_set_shared();
    return interp;
}

void gv_interp_unlink(GvInterpreterState *interp) {
    pthread_mutex_lock(&runtime.lock);
    for (GvInterpreterState **p = &runtime.all; *p; p = &(*p)->next_interp) {
        if (*p == interp) {
            *p = interp->next_interp;
            runtime.count--;
            break;
        }
    }
    pthread_cond_broadcast(&runtime.changed);
    pthread_mutex_unlock(&runtime.lock);
}

void gv_interp_delete(GvInterpreterState *interp) {
    gv_interp_unlink(interp);
    gv_xevents_forget(interp); /* no channel or join may wake it any more */
    free(interp->program_image);
    free(interp->program_filename);
    free(interp->past_stats);
    pthread_cond_destroy(&interp->threads_cond);
    pthread_mutex_destroy(&interp->mutex);
    pthread_mutex_destroy(&interp->pending_mutex);
    if (interp->gil_owner == interp) {
        free(interp->own_gil.runnable);
        free(interp->own_gil.sleepers);
        pthread_cond_destroy(&interp->own_gil.cond);
        pthread_cond_destroy(&interp->own_gil.switch_cond);
        pthread_mutex_destroy(&interp->own_gil.mutex);
    } else {
        /* Main's GIL lives on; main may be freed now that we are gone. */
        atomic_fetch_sub(&interp->gil_owner->gil_sharers, 1);
    }
    free(interp);
}

bool gv_tstate_alone_on_gil(GvThreadState *ts) {
    bool alone = true;
    int sharers = 0;
    gv_runtime_lock();
    for (GvInterpreterState *i = runtime.all; i && alone; i = i->next_interp) {
        if (i->gil != ts->interp->gil) continue;
        if (i != i->gil_owner) sharers++;
        pthread_mutex_lock(&i->mutex);
        for (GvThreadState *t = i->threads; t; t = t->next)
            if (t != ts) alone = false;
        pthread_mutex_unlock(&i->mutex);
    }
    /* A sharer no longer listed but not freed (its end left a thread
     * behind) may still have a thread in the GIL. */
    if (alone && atomic_load(&ts->interp->gil_owner->gil_sharers) != sharers) alone = false;
    gv_runtime_unlock();
    return alone;
}

int gv_interp_gil_sharers_listed(GvInterpreterState *interp) {
    int n = 0;
    gv_runtime_lock();
    for (GvInterpreterState *i = runtime.all; i; i = i->next_interp)
        if (i != interp && i->gil == interp->gil) n++;
    gv_runtime_unlock();
    return n;
}

GvThreadState *gv_tstate_new(GvInterpreterState *interp) {
    /* Counted like the first chunk, and never refused for the limit: a
     * thread must be able to enter the VM to be told it is out of memory.
     * Any thread: an embedder's thread makes its own before it has the GIL. */
    GvThreadState *ts = gv_mem_alloc(sizeof *ts, GV_MEM_ZERO | GV_MEM_NO_LIMIT | GV_MEM_ANY_THREAD);
    if (!ts) return NULL;
    if (gv_stack_init(ts) < 0) {
        gv_mem_free(ts, GV_MEM_ANY_THREAD);
        return NULL;
    }
    ts->interp = interp;
    ts->recursion_headroom = GV_RECURSION_HEADROOM;
    ts->status = GV_TS_DETACHED;
    /* Its first take comes from outside the VM (an embedder's thread entering,
     * GvGILState_Ensure): like a thread back from a blocking call, it goes
     * first in the priority GIL modes. Threads the VM starts opt out. */
    ts->gil_after_wait = true;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ts->park_cond, &attr);
    pthread_cond_init(&ts->gil_cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&interp->mutex);
    ts->recursion_limit = interp->recursion_limit;
    ts->c_tracefunc = interp->default_tracefunc;
    ts->c_traceobj = interp->default_traceobj;
    ts->trace_opcodes = interp->default_trace_opcodes;
    ts->c_profilefunc = interp->default_profilefunc;
    ts->c_profileobj = interp->default_profileobj;
    ts->trace_active = ts->c_tracefunc || ts->c_profilefunc || interp->gil->mode == GV_GIL_SCHEDULE;
    ts->id = atomic_fetch_add(&runtime.next_thread_id, 1);
    ts->next = interp->threads;
    interp->threads = ts;
    pthread_mutex_unlock(&interp->mutex);
    return ts;
}

GvObject *gv_tstate_dict(GvThreadState *ts) {
    if (!ts->dict) ts->dict = gv_dict_new();
    return ts->dict;
}

void gv_tstate_clear(GvThreadState *ts) {
    gv_excinfo_pop_to(ts, 0);
    GvObject *e = ts->current_exception, *h = ts->handle, *d = ts->dict, *a = ts->async_exc;
    GvObject *fi = ts->asyncgen_firstiter, *fz = ts->asyncgen_finalizer;
    ts->current_exception = ts->handle = ts->dict = ts->async_exc = NULL;
    ts->asyncgen_firstiter = ts->asyncgen_finalizer = NULL;
    gv_xdecref(fi);
    gv_xdecref(fz);
    gv_xdecref(e);
    gv_xdecref(h);
    gv_xdecref(d);
    gv_xdecref(a);
}

void gv_tstate_drop_dict(GvThreadState *ts) {
    /* Set to NULL first: code run by the dict's contents may ask for tls()
     * again and gets a fresh dict, which the final clear drops. */
    GvObject *d = ts->dict;
    ts->dict = NULL;
    gv_xdecref(d);
}

/* Removes ts from the interpreter's list: from now on no one finds it (not
 * async_raise, not an adder of pending calls). */
static void unlink_tstate(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    pthread_mutex_lock(&interp->mutex);
    for (GvThreadState **p = &interp->threads; *p; p = &(*p)->next) {
        if (*p == ts) {
            *p = ts->next;
            break;
        }
    }
    if (interp->main_thread == ts) interp->main_thread = NULL;
    pthread_mutex_unlock(&interp->mutex);
}

/* Keeps a freed thread's GIL counters for the end-of-run table. */
static void keep_stats(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    if (ts->gil_stats.acquisitions == 0) return;
    pthread_mutex_lock(&interp->mutex);
    if (interp->npast_stats == interp->cap_past_stats) {
        size_t ncap = interp->cap_past_stats ? interp->cap_past_stats * 2 : 16;
        void *n = realloc(interp->past_stats, ncap * sizeof *interp->past_stats);
        if (!n) {
            pthread_mutex_unlock(&interp->mutex);
            return; /* telemetry is not worth failing for */
        }
        interp->past_stats = n;
        interp->cap_past_stats = ncap;
    }
    interp->past_stats[interp->npast_stats].id = ts->id;
    interp->past_stats[interp->npast_stats].stats = ts->gil_stats;
    interp->npast_stats++;
    pthread_mutex_unlock(&interp->mutex);
}

/* Frees what ts owns besides objects: its data stack, recycled exception
 * items, condition variables. */
static void release_memory(GvThreadState *ts) {
    keep_stats(ts);
    gv_tl_forget(ts);
    while (ts->exc_free) {
        GvErr_StackItem *it = ts->exc_free;
        ts->exc_free = it->previous_item;
        gv_mem_free(it, GV_MEM_ANY_THREAD);
    }
    gv_stack_free(ts);
    if (current_tstate == ts) current_tstate = NULL;
    pthread_cond_destroy(&ts->park_cond);
    pthread_cond_destroy(&ts->gil_cond);
}

/* ---- counting: the one place threads_running and nondaemon_running change ---- */

/* Sets a thread's counted/nondaemon flags (in its state, or a copy of them
 * once the state is freed) and the interpreter's counts with them: the only
 * code that changes threads_running and nondaemon_running. interp->mutex
 * held. */
static void count_flags(GvInterpreterState *interp, bool *counted, bool *nondaemon, bool on, bool want_nondaemon) {
    if (on && !*counted) {
        *counted = true;
        interp->threads_running++;
        if (want_nondaemon) {
            *nondaemon = true;
            interp->nondaemon_running++;
        }
        return;
    }
    if (on) return;
    if (*nondaemon) {
        *nondaemon = false;
        assert(interp->nondaemon_running > 0);
        if (--interp->nondaemon_running == 0) gv_wake_all(&interp->exit_waiters);
    }
    if (*counted) {
        *counted = false;
        assert(interp->threads_running > 0);
        interp->threads_running--;
        pthread_cond_broadcast(&interp->threads_cond);
    }
}

static void count_locked(GvThreadState *ts, bool on, bool nondaemon) {
    count_flags(ts->interp, &ts->counted, &ts->nondaemon, on, nondaemon);
}

void gv_tstate_count(GvThreadState *ts, bool nondaemon) {
    pthread_mutex_lock(&ts->interp->mutex);
    count_locked(ts, true, nondaemon);
    pthread_mutex_unlock(&ts->interp->mutex);
}

void gv_tstate_uncount(GvThreadState *ts) {
    pthread_mutex_lock(&ts->interp->mutex);
    count_locked(ts, false, false);
    pthread_mutex_unlock(&ts->interp->mutex);
}

void gv_tstate_nondaemon_done(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    bool not_counted = false; /* only the nondaemon flag goes down here */
    pthread_mutex_lock(&interp->mutex);
    count_flags(interp, &not_counted, &ts->nondaemon, false, false);
    pthread_mutex_unlock(&interp->mutex);
}

bool gv_tstate_enter(GvThreadState *ts, const char *fn) {
    gv_runtime_lock();
    if (atomic_load(&runtime.finalizing)) {
        gv_runtime_unlock();
        return false;
    }
    if (ts->status == GV_TS_DEAD) {
        gv_runtime_unlock();
        fflush(stdout);
        fprintf(stderr, "gilvm: fatal error: %s: the thread state belongs to a runtime that was finalized\n", fn);
        abort();
    }
    GvInterpreterState *interp = ts->interp;
    /* Not a tombstone: its interpreter is not freed yet (retiring comes
     * first, under this lock), but it may be finalizing. */
    if (atomic_load(&interp->finalizing)) {
        gv_runtime_unlock();
        return false;
    }
    pthread_mutex_lock(&interp->mutex);
    /* The main thread is the finalizer: finalization never waits for it. */
    if (ts != interp->main_thread) count_locked(ts, true, false);
    pthread_mutex_unlock(&interp->mutex);
    gv_runtime_unlock();
    return true;
}

/* ---- attach / detach ---- */

int gv_tstate_attach(GvThreadState *ts) {
    if (gv_gil_take(ts->interp->gil, ts) < 0) return -1;
    gv_tstate_set(ts);
    return 0;
}

void gv_tstate_detach(GvThreadState *ts) {
    gv_tstate_set(NULL);
    ts->gil_after_wait = true;
    gv_gil_drop(ts->interp->gil, ts, false);
}

void gv_tstate_attach_or_exit(GvThreadState *ts) {
    if (gv_tstate_attach(ts) < 0) gv_tstate_abandon(ts);
}

_Noreturn void gv_tstate_abandon(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    gv_tstate_set(NULL);
    gv_thread_unbind(interp);
    pthread_mutex_lock(&interp->mutex);
    ts->status = GV_TS_ABANDONED;
    count_locked(ts, false, false);
    pthread_mutex_unlock(&interp->mutex);
    pthread_exit(NULL);
}

/* ---- deleting: one path for every kind of thread state ---- */

/* What every delete does first, GIL held: make ts unreachable, then drop
 * what it holds (nothing can be queued for it once it is unlinked). */
static void delete_common(GvThreadState *ts) {
    unlink_tstate(ts);
    gv_thread_forget_binding(ts);
    gv_pending_drop_for(ts);
    gv_tstate_clear(ts);
}

void gv_tstate_delete(GvThreadState *ts) {
    delete_common(ts);
    gv_gil_forget(ts->interp->gil, ts);
    gv_tstate_uncount(ts);
    release_memory(ts);
    gv_mem_free(ts, GV_MEM_ANY_THREAD);
}

void gv_tstate_delete_current(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    delete_common(ts);
    gv_tstate_set(NULL);
    gv_gil_drop(interp->gil, ts, false);
    gv_gil_forget(interp->gil, ts);
    pthread_mutex_lock(&interp->mutex);
    bool counted = ts->counted, nondaemon = ts->nondaemon;
    pthread_mutex_unlock(&interp->mutex);
    release_memory(ts);
    gv_mem_free(ts, GV_MEM_ANY_THREAD);
    /* Last touch of the interpreter: once the count reaches zero the
     * finalizer may free it, so ts (freed) is counted down through a copy
     * of its flags. */
    pthread_mutex_lock(&interp->mutex);
    count_flags(interp, &counted, &nondaemon, false, false);
    pthread_mutex_unlock(&interp->mutex);
}

void gv_tstate_retire(GvThreadState *ts) {
    assert(!ts->holds_gil);
    delete_common(ts);
    gv_gil_forget(ts->interp->gil, ts);
    gv_tstate_uncount(ts);
    release_memory(ts);
    /* The memory stays, uncounted: reachable from the graveyard, so not a
     * leak for LeakSanitizer either. */
    gv_mem_forget(ts, GV_MEM_ANY_THREAD);
    gv_runtime_lock();
    ts->status = GV_TS_DEAD;
    ts->interp = NULL;
    ts->next = runtime.graveyard;
    runtime.graveyard = ts;
    gv_runtime_unlock();
}

/* ---- the stack of exceptions being handled ---- */

int gv_excinfo_push(GvThreadState *ts, GvObject *exc) {
    GvErr_StackItem *it = ts->exc_free;
    if (it) {
        ts->exc_free = it->previous_item;
    } else {
        /* Freed with the thread state, which any thread may delete. */
        it = gv_mem_alloc(sizeof *it, GV_MEM_ANY_THREAD);
        if (!it) return gv_err_nomemory();
    }
    gv_incref(exc);
    it->exc_value = exc;
    it->previous_item = ts->exc_info;
    ts->exc_info = it;
    ts->exc_depth++;
    return 0;
}

void gv_excinfo_pop(GvThreadState *ts) {
    GvErr_StackItem *it = ts->exc_info;
    assert(it && ts->exc_depth > 0); /* popping an empty stack is a bug */
    if (!it) return;
    ts->exc_info = it->previous_item;
    ts->exc_depth--;
    GvObject *exc = it->exc_value;
    it->previous_item = ts->exc_free;
    ts->exc_free = it;
    gv_xdecref(exc); /* last: a destructor may look at the stack */
}

void gv_excinfo_pop_to(GvThreadState *ts, uint32_t depth) {
    while (ts->exc_depth > depth) gv_excinfo_pop(ts);
}

/* ---- container tracking ---- */

_Static_assert(offsetof(GvList, link) == offsetof(GvDict, link) &&
                   offsetof(GvList, link) == offsetof(GvNative, link),
               "lists, dicts and natives keep their link at the same offset");

void gv_track(GvTracked *link) {
    GvThreadState *ts = current_tstate;
    if (!ts) { /* no interpreter: the object is simply not tracked */
        link->prev = link->next = link;
        return;
    }
    GvTracked *head = &ts->interp->containers;
    link->next = head->next;
    link->prev = head;
    head->next->prev = link;
    head->next = link;
}

void gv_untrack(GvTracked *link) {
    if (!link->next) return;
    link->prev->next = link->next;
    link->next->prev = link->prev;
    link->prev = link->next = NULL;
}

static GvObject *container_of(GvTracked *link) {
    return (GvObject *)((char *)link - offsetof(GvList, link));
}

void gv_containers_clear(GvInterpreterState *interp) {
    GvTracked *head = &interp->containers;
    /* Repeat while it helps: clearing can free objects whose destructors
     * drop the last reference to other containers. A
     * container still held from outside (a C caller's reference) stays. */
    size_t before = SIZE_MAX;
    for (;;) {
        size_t n = 0;
        for (GvTracked *l = head->next; l != head; l = l->next) n++;
        if (n == 0 || n >= before) break;
        before = n;
        GvObject **all = malloc(n * sizeof *all);
        if (!all) return; /* out of memory at exit: leak rather than crash */
        size_t i = 0;
        for (GvTracked *l = head->next; l != head; l = l->next) {
            all[i] = container_of(l);
            gv_incref(all[i++]); /* nothing is freed while we clear */
        }
        for (i = 0; i < n; i++) {
            if (all[i]->kind == GV_KLIST)
                gv_list_clear((GvList *)all[i]);
            else if (all[i]->kind == GV_KDICT)
                gv_dict_clear((GvDict *)all[i]);
            else
                ((GvNative *)all[i])->type->clear(all[i]);
        }
        for (i = 0; i < n; i++) gv_decref(all[i]);
        free(all);
    }
}
