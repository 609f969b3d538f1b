/* Interpreter and thread states: creation, the per-thread data stack, the
 * stack of exceptions being handled, and the list of containers that lets
 * finalization free reference cycles.
 *
 * Locking: a thread state's fields are touched by the thread that owns it,
 * holding the GIL, except its atomics (the eval breaker and the like), which
 * other threads set to get its attention. The interpreter's thread list,
 * counters and thread statuses are guarded by interp->mutex (tstate.h says
 * which field is guarded by what), the runtime record below by its own lock. */
#include "tstate.h"

#include <stdlib.h>
#include <time.h>

#include "dict.h"
#include "errors.h"
#include "list.h"
#include "thread.h"

/* The thread's current state. One load to find it. */
static _Thread_local GvThreadState *current_tstate;

GvThreadState *gv_tstate_get(void) { return current_tstate; }
void gv_tstate_set(GvThreadState *ts) { current_tstate = ts; }

/* The process-wide part: CPython-shaped calls (GvGILState_Ensure,
 * Gv_IsFinalizing, Gv_AddPendingCall) must find the interpreter from threads
 * that have no thread state. `finalizing` lives here, not in the interpreter,
 * so that a thread waking up after the interpreter is gone can still read it. */
static struct {
    _Atomic(GvInterpreterState *) interp;
    _Atomic bool finalizing;
    /* Orders "a thread from outside enters the VM" against "finalizing
     * starts": a thread counted before is waited for; one arriving after is
     * refused without touching its thread state (which may be freed). */
    pthread_mutex_t lock;
} runtime = {.lock = PTHREAD_MUTEX_INITIALIZER};

void gv_runtime_lock(void) { pthread_mutex_lock(&runtime.lock); }
void gv_runtime_unlock(void) { pthread_mutex_unlock(&runtime.lock); }

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

bool gv_tstate_must_exit(GvThreadState *ts) {
    return atomic_load(&runtime.finalizing) && ts->interp->finalizer != ts;
}

/* 8192 slots = 128 KiB: a few hundred typical frames per chunk, so deep
 * recursion takes a new chunk rarely and shallow programs never do. */
#define CHUNK_SLOTS 8192u

/* Chunks count against the memory limit (runtime/object.c), except a thread
 * state's first one: making a thread state must not fail on the limit (a
 * callback thread's GvGILState_Ensure has no way to report it). */
static GvStackChunk *chunk_new(size_t slots, bool limited) {
    if (slots > (SIZE_MAX - sizeof(GvStackChunk)) / sizeof(GvValue)) return NULL;
    unsigned flags = GV_MEM_ANY_THREAD | (limited ? 0 : GV_MEM_NO_LIMIT);
    GvStackChunk *c = gv_mem_alloc(sizeof(GvStackChunk) + slots * sizeof(GvValue), flags);
    if (!c) return NULL;
    c->prev = c->next = NULL;
    c->end = c->data + slots;
    return c;
}

GvInterpreterState *gv_interp_new(void) {
    GvInterpreterState *interp = calloc(1, sizeof *interp);
    if (!interp) return NULL;
    gv_gil_init(&interp->gil);
    pthread_mutex_init(&interp->mutex, NULL);
    pthread_mutex_init(&interp->pending_mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&interp->threads_cond, &attr);
    pthread_condattr_destroy(&attr);
    interp->containers.prev = interp->containers.next = &interp->containers;
    interp->recursion_limit = GV_DEFAULT_RECURSION_LIMIT;
    interp->next_thread_id = 1;
    interp->switch_interval = gv_float(0.005);
    return interp;
}

void gv_interp_delete(GvInterpreterState *interp) {
    free(interp->past_stats);
    free(interp->gil.runnable);
    pthread_cond_destroy(&interp->threads_cond);
    pthread_mutex_destroy(&interp->mutex);
    pthread_mutex_destroy(&interp->pending_mutex);
    pthread_cond_destroy(&interp->gil.cond);
    pthread_cond_destroy(&interp->gil.switch_cond);
    pthread_mutex_destroy(&interp->gil.mutex);
    free(interp);
}

GvThreadState *gv_tstate_new(GvInterpreterState *interp) {
    /* Counted like the first chunk, and never refused for the limit: a
     * thread must be able to enter the VM to be told it is out of memory.
     * Any thread: an embedder's thread makes its own before it has the GIL. */
    GvThreadState *ts = gv_mem_alloc(sizeof *ts, GV_MEM_ZERO | GV_MEM_NO_LIMIT | GV_MEM_ANY_THREAD);
    if (!ts) return NULL;
    ts->chunk = chunk_new(CHUNK_SLOTS, false);
    if (!ts->chunk) {
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
    ts->trace_active = ts->c_tracefunc || ts->c_profilefunc || interp->gil.mode == GV_GIL_SCHEDULE;
    ts->id = interp->next_thread_id++;
    ts->next = interp->threads;
    interp->threads = ts;
    pthread_mutex_unlock(&interp->mutex);
    return ts;
}

void gv_tstate_clear(GvThreadState *ts) {
    gv_excinfo_pop_to(ts, 0);
    GvObject *e = ts->current_exception, *h = ts->handle, *d = ts->dict, *a = ts->async_exc;
    ts->current_exception = ts->handle = ts->dict = ts->async_exc = NULL;
    gv_xdecref(e);
    gv_xdecref(h);
    gv_xdecref(d);
    gv_xdecref(a);
}

void gv_tstate_unlink(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    pthread_mutex_lock(&interp->mutex);
    for (GvThreadState **p = &interp->threads; *p; p = &(*p)->next) {
        if (*p == ts) {
            *p = ts->next;
            break;
        }
    }
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

void gv_tstate_free(GvThreadState *ts) {
    keep_stats(ts);
    while (ts->exc_free) {
        GvErr_StackItem *it = ts->exc_free;
        ts->exc_free = it->previous;
        gv_mem_free(it, GV_MEM_ANY_THREAD);
    }
    /* The current chunk is the oldest one when no frame is running. */
    GvStackChunk *c = ts->chunk;
    while (c->prev) c = c->prev;
    while (c) {
        GvStackChunk *next = c->next;
        gv_mem_free(c, GV_MEM_ANY_THREAD);
        c = next;
    }
    if (current_tstate == ts) current_tstate = NULL;
    pthread_cond_destroy(&ts->park_cond);
    pthread_cond_destroy(&ts->gil_cond);
    gv_mem_free(ts, GV_MEM_ANY_THREAD);
}

void gv_tstate_delete(GvThreadState *ts) {
    gv_thread_forget_binding(ts);
    gv_tstate_clear(ts);
    gv_tstate_unlink(ts);
    gv_gil_forget(&ts->interp->gil, ts);
    gv_tstate_free(ts);
}

GvValue *gv_stack_top(GvThreadState *ts) {
    return ts->current_frame ? gv_frame_end(ts->current_frame) : ts->chunk->data;
}

GvValue *gv_stack_reserve(GvThreadState *ts, GvValue *from, size_t n, bool *new_chunk) {
    GvStackChunk *cur = ts->chunk;
    if (n <= (size_t)(cur->end - from)) {
        *new_chunk = false;
        return from;
    }
    GvStackChunk *c = cur->next;
    if (c && (size_t)(c->end - c->data) < n) {
        /* The cached chunk is too small for this frame: replace it. */
        GvStackChunk *after = c->next;
        gv_mem_free(c, GV_MEM_ANY_THREAD);
        gv_mem_free(after, GV_MEM_ANY_THREAD); /* at most one spare is ever kept beyond it */
        c = cur->next = NULL;
    }
    if (!c) {
        c = chunk_new(n > CHUNK_SLOTS ? n : CHUNK_SLOTS, true);
        if (!c) {
            gv_err_nomemory();
            return NULL;
        }
        c->prev = cur;
        cur->next = c;
    }
    ts->chunk = c;
    *new_chunk = true;
    return c->data;
}

void gv_stack_pop_chunk(GvThreadState *ts) {
    GvStackChunk *young = ts->chunk;
    /* Keep `young` cached for the next deep call, but nothing beyond it. */
    if (young->next) {
        gv_mem_free(young->next, GV_MEM_ANY_THREAD);
        young->next = NULL;
    }
    ts->chunk = young->prev;
}

/* ---- the stack of exceptions being handled ---- */

int gv_excinfo_push(GvThreadState *ts, GvObject *exc) {
    GvErr_StackItem *it = ts->exc_free;
    if (it) {
        ts->exc_free = it->previous;
    } else {
        /* Freed with the thread state, which any thread may delete. */
        it = gv_mem_alloc(sizeof *it, GV_MEM_ANY_THREAD);
        if (!it) return gv_err_nomemory();
    }
    gv_incref(exc);
    it->exc_value = exc;
    it->previous = ts->exc_info;
    ts->exc_info = it;
    ts->exc_depth++;
    return 0;
}

void gv_excinfo_pop(GvThreadState *ts) {
    GvErr_StackItem *it = ts->exc_info;
    if (!it) return;
    ts->exc_info = it->previous;
    ts->exc_depth--;
    GvObject *exc = it->exc_value;
    it->previous = ts->exc_free;
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
