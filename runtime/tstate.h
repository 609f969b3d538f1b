/* Interpreter and thread states.
 *
 * One GvInterpreterState owns the globals, the builtins, and the list of
 * thread states. One GvThreadState per OS thread that runs VM code holds
 * what is private to that thread: its frame stack, its recursion depth, the
 * exception in flight and the stack of exceptions being handled, and its
 * eval breaker. The current thread's state is a C11 _Thread_local pointer:
 * finding it is one load.
 *
 * Frames live on a per-thread data stack made of chunks: both, and the
 * calling convention, belong to runtime/frame.h. */
#ifndef GV_TSTATE_H
#define GV_TSTATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "code.h"
#include "gil.h"
#include "gilvm.h"
#include "object.h"

typedef struct GvFrame GvFrame;
struct GvGen;
typedef struct GvStackChunk GvStackChunk;

/* One entry of the stack of exceptions being handled (CPython's
 * _PyErr_StackItem). Pushed when a handler is entered, popped by
 * POP_EXCEPT and by unwinding.
 *
 * The chain and generators
 * ------------------------
 * ts->exc_info is a singly linked list, innermost first: exc_info() reads
 * its head, and a new exception takes the head as its context. The list is
 * per thread, not per frame, so a function called from a handler sees its
 * caller's exception. Each frame remembers the depth it started at
 * (f->exc_base) and owns the items above it.
 *
 * A generator's frame outlives one resume, and so do its handlers: a
 * handler may be active across a yield. So its items cannot stay on the
 * thread's list while it is suspended (the code that resumed it would see
 * them), nor be dropped (the handler would lose its exception). Instead they
 * travel with the generator, as in CPython, where each generator carries its
 * own _PyErr_StackItem (gi_exc_state) and links it onto the thread's chain
 * for the time it runs:
 *
 *    running:    ts->exc_info -> [gen's B] -> [gen's A] -> [resumer's X] -> ...
 *    suspended:  ts->exc_info -> [resumer's X] -> ...      gen keeps [B] -> [A]
 *
 * On resume, runtime/frame.c links the generator's segment on top of the
 * chain of whichever thread resumes it (previous_item of its outermost item
 * points at that thread's head) and sets the frame's exc_base below it; at a
 * yield it cuts the segment off again (everything above exc_base). A
 * generator with no handler running has an empty segment, so exc_info()
 * inside it finds the resumer's exception, and an exception raised there
 * gets the generator's own handled exception as context, else the
 * resumer's. Unlike CPython, every handler has an item of its own (not one
 * item per frame whose value is swapped): that is what the verifier's
 * exc_depth counts, and it makes the segment a plain sublist. */
typedef struct GvErr_StackItem {
    GvObject *exc_value;                   /* strong */
    struct GvErr_StackItem *previous_item; /* the outer one */
} GvErr_StackItem;

/* A list of threads parked on something (a lock, a queue, a thread's end,
 * the exit). Guarded by interp->mutex; linked through ts->wait_next. Only
 * runtime/wait.c touches it. */
typedef struct GvWaitQueue {
    GvThreadState *head, *tail;
} GvWaitQueue;

/* Thread states' lives (ts->status, under interp->mutex). */
enum {
    GV_TS_ATTACHED,  /* may run: holds the GIL or is about to take it */
    GV_TS_DETACHED,  /* released the GIL (a blocking wait, C code) */
    GV_TS_ABANDONED, /* its thread ended while the interpreter finalized: the
                        finalizer frees it; its thread touches it no more */
    GV_TS_DEAD,      /* its runtime was finalized while its thread was away (left with
                        GvEval_SaveThread, say): only this tombstone is left, so a
                        late GvEval_RestoreThread is a clear fatal error, not a read of
                        freed memory (written and read under the runtime lock) */
};

/* A call queued for a thread (Gv_AddPendingCall, add_pending_call). */
typedef struct GvPendingCall {
    int (*fn)(void *arg);
    void *arg;
    bool owns_object; /* arg is a GvObject* the queue holds a reference to */
} GvPendingCall;

struct GvInterpreterState {
    /* The GIL its threads take: &own_gil, or the main interpreter's for one
     * made with GV_INTERP_SHARED_GIL (then its threads take turns with
     * main's, and the GIL's mode, switch interval and counters are main's).
     * Set at creation, never changed. */
    GvGIL *gil;
    GvGIL own_gil;               /* unused (never initialized) when sharing */
    /* The interpreter whose GIL this is: itself, or main. Its switch_interval
     * is the one the GIL uses. The owner outlives every interpreter sharing it
     * (Gv_Finalize refuses while one is listed, and keeps the owner allocated
     * while gil_sharers > 0). */
    GvInterpreterState *gil_owner;
    _Atomic int gil_sharers;     /* interpreters sharing this one's GIL, not freed yet */
    /* -- several interpreters (runtime/tstate.c): under the runtime lock -- */
    int64_t id;                  /* 0 for the main interpreter; never reused */
    GvInterpreterState *next_interp; /* in the runtime's list of interpreters */
    _Atomic bool finalizing;     /* this interpreter's finalization has started */
    bool closing;                /* no new guards: finalization waits for the held ones */
    int guards;                  /* GvInterpreterGuard's held (runtime lock) */
    int children_running;        /* interpreters its program started, not ended yet
                                    (under vm/api_interp.c's event mutex) */
    bool children_closed;        /* its end stopped waiting for them: interp_start refuses */
    /* The program the interpreter loaded (a saved .gvc image, malloc'd): what
     * interp_start loads into a new interpreter. NULL before GvProgram_Run. */
    void *program_image;
    size_t program_len;
    char *program_filename;      /* malloc'd, or NULL */
    /* The interpreter's own lock, never held while taking the GIL. It guards
     * the thread list and counters below, every wait queue and parked flag,
     * and the state of locks, queues and thread handles. */
    pthread_mutex_t mutex;
    pthread_cond_t threads_cond; /* signalled when threads_running goes down */
    /* Changed only by gv_tstate_count/gv_tstate_uncount (runtime/tstate.c): */
    int threads_running;         /* OS threads other than the finalizer that may touch the VM */
    int nondaemon_running;       /* thread_start threads whose function has not returned yet */
    GvWaitQueue exit_waiters;    /* parked until nondaemon_running is 0 (the exit wait) */
    bool exit_wait_interrupted;  /* the exit wait was interrupted: not waited again (main only) */
    GvThreadState *main_thread;  /* the thread that called Gv_Initialize */
    GvThreadState *finalizer;    /* set just before finalizing starts */
    /* GIL counters of thread states already freed, for --gil-stats (under mutex). */
    struct GvThreadStats { unsigned long id; GvGILCounters stats; } *past_stats;
    size_t npast_stats, cap_past_stats;

    GvObject *globals;   /* dict, strong: every .func and STORE_GLOBAL */
    GvObject *builtins;  /* dict, strong: installed by vm/ */
    GvThreadState *threads; /* linked through ts->next */
    GvTracked containers;   /* every live list, dict, queue and thread handle (circular, head only) */
    int recursion_limit;    /* for new thread states */
    /* Guards every thread state's pending-call ring (runtime/services.c): its
     * own mutex, so that any thread can add without the GIL and without
     * waiting for it. Taken after interp->mutex when both are held. */
    pthread_mutex_t pending_mutex;
    GvTraceFunc default_tracefunc, default_profilefunc; /* for threads created later */
    void *default_traceobj, *default_profileobj;
    bool default_trace_opcodes;
    bool want_trace_opcodes; /* GvEval_SetTraceOpcodes: per interpreter, as every hook
                                setting (a process-wide flag would race between GILs) */
    GvValue switch_interval; /* seconds (int or float, as last set): the GIL's interval;
                                only the GIL owner's is used */
    GvObject *argv;          /* list of str, strong, or NULL: the program's arguments */
    /* Installed by vm/ so that runtime/ can run bytecode without including it:
     * calls callable(args) in the current thread; 0 or -1 with an exception. */
    int (*eval_call)(GvThreadState *ts, GvValue callable, int argc, GvValue *argv, GvValue *result);
    /* Likewise: what a generator's last reference going does (closes it, or
     * hands it to its async finalizer; runtime/gen.c calls it). NULL: nothing. */
    void (*gen_finalize)(struct GvGen *g);
};

struct GvThreadState {
    GvInterpreterState *interp;
    GvThreadState *next;          /* in interp->threads */
    GvFrame *current_frame;       /* top of the frame stack, NULL when idle */
    GvStackChunk *chunk;          /* the data-stack chunk in use */
    _Atomic uint32_t eval_breaker;/* GV_EB_* bits (runtime/breaker.h) */
    uint64_t eval_breaker_hits;   /* times the loop took the slow path (telemetry, tests) */
    long long budget_left;        /* checkpoints left while GV_EB_BUDGET is set; -1: spent */

    int recursion_depth;          /* bytecode frames on this thread */
    int recursion_limit;          /* calls past this raise RecursionError */
    int recursion_headroom;       /* extra depth for delivering the error */
    int c_recursion_depth;        /* nested C entries into the eval loop */

    GvObject *current_exception;  /* strong: the exception in flight, or NULL */
    GvErr_StackItem *exc_info;    /* the exceptions being handled, innermost first */
    uint32_t exc_depth;           /* entries on exc_info */
    GvErr_StackItem *exc_free;    /* recycled entries */

    unsigned long id;             /* thread id: distinct among live threads */

    /* -- threads and the GIL -- */
    bool holds_gil;               /* written by the owner, under interp->gil->mutex */
    bool gil_after_wait;          /* owner only: the next take follows a blocking wait */
    int64_t sched_left;           /* schedule mode: instructions left in this slice */
    bool sched_blocked;           /* schedule mode: blocked in a wait, not runnable; under gil.mutex */
    uint64_t gil_since;           /* handoff modes: when this thread last got the GIL (owner) */
    int64_t spin_ns;              /* spin mode: this thread's current spin budget (owner) */
    GvThreadState *gil_next;      /* handoff modes: in a GIL wait queue; under gil.mutex */
    bool gil_starving;            /* handoff modes: waited an interval; under gil.mutex */
    bool gil_resuming;            /* handoff modes: queued to resume an interrupted turn; under gil.mutex */
    bool gil_called;              /* handoff modes: the head of norm, told by a waiter behind it that its turn is due; under gil.mutex */
    _Atomic bool gil_granted;     /* handoff modes: the dropper made us the holder */
    _Atomic bool gil_spinning;    /* spinning for the GIL (counted in gil->spinners) */
    pthread_cond_t gil_cond;      /* handoff modes: where this thread waits for a grant */
    GvGILCounters gil_stats;      /* under interp->gil->mutex */
    /* -- the timeline (runtime/timeline.c) -- */
    struct GvTlThread *tl;        /* this thread's event buffer while recording; see timeline.c */
    _Atomic int tl_busy;          /* the owner is inside a timeline hook (stop waits for it) */
    uint64_t tl_req_id, tl_req_ns;/* the drop request made to this holder; under gil.mutex */
    int tl_req_reason;
    int status;                   /* GV_TS_*, under interp->mutex */
    bool daemon;                  /* not waited for at exit */
    bool counted;                 /* in interp->threads_running (under interp->mutex) */
    bool nondaemon;               /* in interp->nondaemon_running (under interp->mutex) */
    void *start_args;             /* what thread_start gave it, until it runs (runtime/thread.c) */
    int gilstate_counter;         /* GvGILState_Ensure nesting on this thread */
    bool gilstate_auto;           /* made by Ensure: deleted by the matching Release */
    struct GvBinding *binding;    /* the OS thread's binding cell (runtime/thread.c), under the
                                     runtime lock; NULL when no thread is bound to it */
    bool runtime_owned;           /* made by the runtime for its thread (thread_start, Ensure):
                                     the thread's end frees it; else its creator does */
    /* -- waits (runtime/wait.c), under interp->mutex -- */
    pthread_cond_t park_cond;     /* this thread sleeps here when parked (with interp->mutex) */
    bool parked;                  /* between giving up the GIL in a wait and taking it back */
    bool asleep;                  /* parked and sleeping on park_cond (no longer spinning):
                                     waking it takes the kernel */
    bool woke_sleeper;            /* has woken an asleep thread since its last park; read and
                                     written by this thread only */
    bool queued;                  /* on some GvWaitQueue (never on two) */
    _Atomic bool wake;            /* a waker took it off its queue: the wait is over;
                                     atomic so that a spinning waiter may read it without */
    GvThreadState *wait_next;     /* in the GvWaitQueue it is queued on */
    uint64_t sched_deadline;      /* schedule mode: the timed wait's deadline on the
                                     virtual clock, 0 if none; under gil.mutex */
    GvObject *handle;             /* the thread handle object (strong), for threads thread_start made */

    /* -- thread-state services -- */
    GvObject *dict;               /* strong or NULL: GvThreadState_GetDict, made on first use */
    /* Async-generator hooks (set_asyncgen_hooks, GvThreadState_SetAsyncGenHooks):
     * strong or NULL; read at an async generator's first resume (runtime/gen.c). */
    GvObject *asyncgen_firstiter;
    GvObject *asyncgen_finalizer;
    GvObject *async_exc;          /* strong or NULL: set by another thread (GIL held), raised here
                                     at the next eval-breaker check; under the GIL */
    int async_mask;               /* > 0: async exceptions are held back (masking scope) */
    /* Calls queued for this thread (main's include Gv_AddPendingCall's): a
     * ring of its own, so one busy target cannot fill another's room.
     * Under interp->pending_mutex. */
    GvPendingCall pending[GV_PENDING_CALLS_MAX];
    unsigned pending_first, pending_count;

    /* -- trace and profile hooks (GvEval_SetTrace); owner thread only -- */
    GvTraceFunc c_tracefunc;
    void *c_traceobj;
    GvTraceFunc c_profilefunc;
    void *c_profileobj;
    bool trace_opcodes;           /* opcode events too */
    bool trace_active;            /* either hook is set: frames run code->traced */
    int tracing;                  /* > 0 inside a hook: its own work is not traced */
};

#define GV_DEFAULT_RECURSION_LIMIT 1000

#define GV_RECURSION_HEADROOM 50
#define GV_C_RECURSION_LIMIT 200 /* nested eval-loop entries from C on one thread */

/* The current thread state; NULL if this thread has none. The caller holds
 * the GIL for anything beyond comparing it with NULL. */
GvThreadState *gv_tstate_get(void);
void gv_tstate_set(GvThreadState *ts);

/* True when ts must not run VM code any more: the interpreter is finalizing
 * and ts is not the finalizing thread. Any thread, no lock needed. */
bool gv_tstate_must_exit(GvThreadState *ts);
/* The main interpreter (or NULL), and whether the runtime is finalizing:
 * Gv_Finalize has started (the main interpreter's finalization). */
GvInterpreterState *gv_runtime_interp(void);
void gv_runtime_set_interp(GvInterpreterState *interp);
bool gv_runtime_finalizing(void);
void gv_runtime_set_finalizing(bool on);
void gv_runtime_lock(void);
void gv_runtime_unlock(void);

/* Is interp finalizing (its own finalization, or the runtime's)? Any thread. */
bool gv_interp_finalizing(GvInterpreterState *interp);
/* Marks interp finalizing (under the runtime lock, so that gv_tstate_enter
 * either counted a thread before or refuses it). The main interpreter's
 * marks the runtime finalizing too. */
void gv_interp_set_finalizing(GvInterpreterState *interp);

/* Makes an interpreter record and links it into the runtime's list; the
 * first one made while the list is empty is the main one (id 0). With
 * gil_owner (the main interpreter), the new one shares its GIL; NULL: a GIL
 * of its own. */
GvInterpreterState *gv_interp_new(GvInterpreterState *gil_owner);
/* Whether ts is the only thread state of every interpreter using its GIL
 * (what changing the GIL's mode needs). Any thread. */
bool gv_tstate_alone_on_gil(GvThreadState *ts);
/* Interpreters other than interp, still listed, that share its GIL. Any thread. */
int gv_interp_gil_sharers_listed(GvInterpreterState *interp);
/* Removes interp from the runtime's list (no guard or view finds it). */
void gv_interp_unlink(GvInterpreterState *interp);
/* Unlinks interp and frees it. */
void gv_interp_delete(GvInterpreterState *interp);
/* Is interp in the runtime's list? Runtime lock held. */
bool gv_interp_alive_locked(GvInterpreterState *interp);
/* Number of interpreters alive. Any thread. */
int gv_interp_count(void);
/* Condition variable (with the runtime lock) signalled when an interpreter's
 * guards or the list of interpreters change. */
void gv_runtime_wait_changed(void);
void gv_runtime_signal_changed(void);
/* Calls fn(interp, arg) for every interpreter, runtime lock held. */
void gv_interp_foreach_locked(void (*fn)(GvInterpreterState *, void *), void *arg);

/* ---- a thread state's life: one owner (runtime/tstate.c) ----
 *
 *   gv_tstate_new ─► [gv_tstate_count] ─► gv_thread_bind ─► gv_tstate_attach
 *        ▲                                                    │    ▲
 *        │                                  gv_tstate_detach ◄┘    │ (waits, C code)
 *        │                                                    └────┘
 *   gv_tstate_delete_current (its own thread, attached)  or  gv_tstate_delete
 *   (another thread, GIL held), or gv_tstate_abandon (refused at finalization)
 *
 * Every kind of thread goes through these: thread_start threads, main, GILState
 * threads, AcquireThread/SaveThread users, and states found at finalization.
 * "Counted" threads are the ones finalization waits for; the count changes in
 * gv_tstate_count/gv_tstate_uncount only. */
GvThreadState *gv_tstate_new(GvInterpreterState *interp);
/* Counts ts as running (nondaemon: also waited for at exit). interp->mutex
 * not held. No-op if already counted. */
void gv_tstate_count(GvThreadState *ts, bool nondaemon);
/* Undoes gv_tstate_count (no-op if not counted); the finalizer may free the
 * interpreter as soon as the count reaches 0. interp->mutex not held. */
void gv_tstate_uncount(GvThreadState *ts);
/* A thread_start thread's function has returned: the exit wait stops
 * waiting for it (wakes the exit waiters). GIL held, so that the schedule
 * sees the wake-up at a point it chose. */
void gv_tstate_nondaemon_done(GvThreadState *ts);
/* A thread comes (back) into the VM from outside (GvEval_AcquireThread,
 * RestoreThread, GILState_Ensure on an existing state): counts it unless the
 * runtime is finalizing, in which case it returns false without touching ts
 * (it may be freed). `fn` names the API call for the fatal error given for a
 * state of an already finalized runtime. */
bool gv_tstate_enter(GvThreadState *ts, const char *fn);
/* Takes the GIL and makes ts current. -1 (nothing taken, nothing current)
 * if ts must exit because the interpreter is finalizing. */
int gv_tstate_attach(GvThreadState *ts);
/* Releases the GIL and makes no thread state current. */
void gv_tstate_detach(GvThreadState *ts);
/* attach, or abandon the thread: for callers that cannot report failure. */
void gv_tstate_attach_or_exit(GvThreadState *ts);
/* Ends the calling OS thread after gv_tstate_attach failed for ts: marks ts
 * abandoned for the finalizer to free, and never touches it again. */
_Noreturn void gv_tstate_abandon(GvThreadState *ts);
/* The thread's dict (GvThreadState_GetDict, tls()), created on first use
 * (borrowed); NULL with MemoryError. GIL held. */
GvObject *gv_tstate_dict(GvThreadState *ts);
/* Drops the objects ts holds (exceptions, handled exceptions, dict, handle).
 * GIL held. */
void gv_tstate_clear(GvThreadState *ts);
/* Drops ts's dict now, on its own thread, while the thread still counts as
 * running: what the dict holds may run code as it goes (a suspended
 * generator is closed), and that code must run before a join returns or the
 * program's exit wait ends, not while the process is being torn down. Its
 * thread's function has returned. GIL held. */
void gv_tstate_drop_dict(GvThreadState *ts);
/* Deletes ts, which is not current on the calling thread: unlinks it (no
 * one finds it any more), drops its pending calls and objects, unbinds it,
 * uncounts it and frees it. GIL held. */
void gv_tstate_delete(GvThreadState *ts);
/* The same for the calling thread's own, attached ts; releases the GIL.
 * Its last touch of the interpreter is the uncount. */
void gv_tstate_delete_current(GvThreadState *ts);
/* Finalization, for a state some OS thread may still hold (it left the VM
 * and never came back): frees what it owns and keeps a GV_TS_DEAD tombstone
 * in its place for the process's lifetime. Only the finalizer runs. */
void gv_tstate_retire(GvThreadState *ts);

/* Exception-info stack. */
int gv_excinfo_push(GvThreadState *ts, GvObject *exc); /* borrows exc */
void gv_excinfo_pop(GvThreadState *ts);
GV_COLD void gv_excinfo_pop_to(GvThreadState *ts, uint32_t depth);
/* The exception being handled (borrowed), or NULL. */
static inline GvObject *gv_excinfo_top(GvThreadState *ts) {
    return ts->exc_info ? ts->exc_info->exc_value : NULL;
}

/* Container tracking (see object.h). */
void gv_track(GvTracked *link);
void gv_untrack(GvTracked *link);
/* Empties every tracked container: called at finalization. */
void gv_containers_clear(GvInterpreterState *interp);

#endif
