/* Interpreter and thread states.
 *
 * One GvInterpreterState owns the globals, the builtins, and the list of
 * thread states. One GvThreadState per OS thread that runs VM code holds
 * what is private to that thread: its frame stack, its recursion depth, the
 * exception in flight and the stack of exceptions being handled, and its
 * eval breaker. The current thread's state is a C11 _Thread_local pointer:
 * finding it is one load.
 *
 * Frames live on a per-thread data stack made of chunks. A frame occupies
 *     [locals: nlocals values][GvFrame header][operand stack: max_stack values]
 * and a call from bytecode places the callee's locals exactly where the
 * caller pushed the arguments, so a call copies nothing and allocates nothing
 * (unless the chunk is full: then the next chunk is used, and the arguments
 * are copied there). Pointers into a chunk never move. */
#ifndef GV_TSTATE_H
#define GV_TSTATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "code.h"
#include "gil.h"
#include "object.h"

#define GV_PENDING_CALLS_MAX 64 /* Gv_AddPendingCall's queue: -1 when full */

/* ---- the eval breaker: bits asking the eval loop to leave its fast path ----
 * Checked with one relaxed load at backward jumps and function entry. */
#define GV_EB_GIL_DROP_REQUEST 0x1u
#define GV_EB_PENDING_CALLS 0x2u
#define GV_EB_ASYNC_EXC 0x4u
#define GV_EB_SIGNAL 0x8u
#define GV_EB_TRACING 0x10u /* the hooks changed: frames switch instruction arrays */
#define GV_EB_BUDGET 0x20u  /* an instruction budget is active: kept set (Gv_SetInstructionBudget) */
#define GV_EB_TEST 0x80000000u /* set by unit tests to watch the slow path run */

typedef struct GvFrame GvFrame;
struct GvFrame {
    GvCode *code;          /* borrowed: the function below the locals keeps it alive */
    const GvInstr *pc;     /* next instruction; saved whenever the loop leaves the frame */
    GvValue *sp;           /* top of the operand stack; saved likewise */
    GvValue *locals;       /* code->nlocals values, then this header */
    GvFrame *prev;         /* the caller's frame, or NULL */
    const GvInstr *base;   /* the instruction array pc runs in: code->quick, or
                              code->traced while this thread is traced */
    uint32_t exc_base;     /* ts->exc_depth when the frame was entered */
    uint8_t is_entry;      /* entered from C: returning from it leaves the eval loop */
    uint8_t owns_chunk;    /* this frame started a new data-stack chunk */
    uint16_t pad_;
    uint32_t trace_line;   /* tracing: the line of the last line event */
    uint32_t trace_last;   /* tracing: the instruction traced last (a jump back re-fires a line) */
    const GvValue *consts; /* code->consts: one load nearer for the loop after a return */
    void *pad2_;
};
#define GV_FRAME_SLOTS (sizeof(GvFrame) / sizeof(GvValue))
_Static_assert(sizeof(GvFrame) % sizeof(GvValue) == 0, "a frame header is a whole number of slots");

static inline GvValue *gv_frame_stack_base(GvFrame *f) { return (GvValue *)(f + 1); }
/* One past the last slot the frame reserved: where a call from C made while
 * this frame is on top may place its callable and arguments. */
static inline GvValue *gv_frame_end(GvFrame *f) { return gv_frame_stack_base(f) + f->code->max_stack; }

typedef struct GvStackChunk {
    struct GvStackChunk *prev; /* the older chunk */
    struct GvStackChunk *next; /* a cached younger chunk, kept for reuse, or NULL */
    GvValue *end;              /* one past the last slot */
    GvValue data[];
} GvStackChunk;

/* One entry of the stack of exceptions being handled (CPython's
 * _PyErr_StackItem). Pushed when a handler is entered, popped by
 * POP_EXCEPT and by unwinding. */
typedef struct GvErr_StackItem {
    GvObject *exc_value;              /* strong */
    struct GvErr_StackItem *previous; /* the outer one */
} GvErr_StackItem;

/* A list of threads parked on something (a lock, a queue, a thread's end).
 * Guarded by interp->mutex; linked through ts->wait_next. */
typedef struct GvWaitQueue {
    GvThreadState *head, *tail;
} GvWaitQueue;

/* Thread states' lives (ts->status, under interp->mutex). */
enum {
    GV_TS_ATTACHED,  /* may run: holds the GIL or is about to take it */
    GV_TS_DETACHED,  /* released the GIL (a blocking wait, C code) */
    GV_TS_ABANDONED, /* its thread ended while the interpreter finalized: the
                        finalizer frees it; its thread touches it no more */
};

struct GvInterpreterState {
    GvGIL gil;
    /* The interpreter's own lock, never held while taking the GIL. It guards
     * the thread list and counters below, every wait queue and parked flag,
     * and the state of locks, queues and thread handles. */
    pthread_mutex_t mutex;
    pthread_cond_t threads_cond; /* signalled when a thread ends or is abandoned */
    int threads_running;         /* OS threads other than the finalizer that may touch the VM */
    int nondaemon_running;       /* of those, started by thread_start (waited for at exit) */
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
    unsigned long next_thread_id; /* ids are small ints, never reused: main is 1 */
    /* Pending calls (runtime/services.c): a bounded ring, its own mutex so that
     * any thread can add without the GIL and without waiting for it. */
    pthread_mutex_t pending_mutex;
    struct GvPendingCall {
        int (*fn)(void *arg);
        void *arg;
        unsigned long target; /* thread id; 0: the main thread */
        bool owns_object;     /* arg is a GvObject* the queue holds a reference to */
    } pending[GV_PENDING_CALLS_MAX];
    unsigned pending_first, pending_count; /* under pending_mutex */
    GvTraceFunc default_tracefunc, default_profilefunc; /* for threads created later */
    void *default_traceobj, *default_profileobj;
    bool default_trace_opcodes;
    GvValue switch_interval; /* seconds (int or float, as last set): the GIL's interval */
    GvObject *argv;          /* list of str, strong, or NULL: the program's arguments */
    /* Installed by vm/ so that runtime/ can run bytecode without including it:
     * calls callable(args) in the current thread; 0 or -1 with an exception. */
    int (*eval_call)(GvThreadState *ts, GvValue callable, int argc, GvValue *argv, GvValue *result);
};

struct GvThreadState {
    GvInterpreterState *interp;
    GvThreadState *next;          /* in interp->threads */
    GvFrame *current_frame;       /* top of the frame stack, NULL when idle */
    GvStackChunk *chunk;          /* the data-stack chunk in use */
    _Atomic uint32_t eval_breaker;/* GV_EB_* bits */
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
    bool holds_gil;               /* written by the owner, under interp->gil.mutex */
    bool gil_after_wait;          /* owner only: the next take follows a blocking wait */
    int64_t sched_left;           /* schedule mode: instructions left in this slice */
    uint64_t gil_since;           /* handoff modes: when this thread last got the GIL (owner) */
    int64_t spin_ns;              /* spin mode: this thread's current spin budget (owner) */
    GvThreadState *gil_next;      /* handoff modes: in a GIL wait queue; under gil.mutex */
    bool gil_starving;            /* handoff modes: waited an interval; under gil.mutex */
    _Atomic bool gil_granted;     /* handoff modes: the dropper made us the holder */
    pthread_cond_t gil_cond;      /* handoff modes: where this thread waits for a grant */
    GvGILCounters gil_stats;      /* under interp->gil.mutex */
    int status;                   /* GV_TS_*, under interp->mutex */
    bool daemon;                  /* not waited for at exit */
    bool counted;                 /* in interp->threads_running */
    bool nondaemon;               /* in interp->nondaemon_running */
    void *start_args;             /* what thread_start gave it, until it runs (runtime/thread.c) */
    int gilstate_counter;         /* GvGILState_Ensure nesting on this thread */
    bool gilstate_auto;           /* made by Ensure: deleted by the matching Release */
    struct GvBinding *binding;    /* the OS thread's binding cell (runtime/thread.c), under the
                                     runtime lock; NULL when no thread is bound to it */
    bool runtime_owned;           /* made by the runtime for its thread (thread_start, Ensure):
                                     the thread's end frees it; else its creator does */
    pthread_cond_t park_cond;     /* this thread sleeps here when parked (with interp->mutex) */
    bool parked;                  /* under interp->mutex */
    _Atomic bool wake;            /* set under interp->mutex: the wait it is in is over;
                                     atomic so that a spinning waiter may read it without */
    GvThreadState *wait_next;     /* in the GvWaitQueue it is parked on */
    _Atomic bool interrupted;     /* ask any blocking wait to return early (signal, async exc, exit) */
    GvObject *handle;             /* the thread handle object (strong), for threads thread_start made */

    /* -- thread-state services -- */
    GvObject *dict;               /* strong or NULL: GvThreadState_GetDict, made on first use */
    GvObject *async_exc;          /* strong or NULL: set by another thread (GIL held), raised here
                                     at the next eval-breaker check; under the GIL */
    int async_mask;               /* > 0: async exceptions are held back (masking scope) */

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
 * the GIL (once there is one) for anything beyond comparing it with NULL. */
GvThreadState *gv_tstate_get(void);
void gv_tstate_set(GvThreadState *ts);

/* True when ts must not run VM code any more: the interpreter is finalizing
 * and ts is not the finalizing thread. Any thread, no lock needed. */
bool gv_tstate_must_exit(GvThreadState *ts);
/* The process's interpreter (or NULL), and whether it is finalizing. */
GvInterpreterState *gv_runtime_interp(void);
void gv_runtime_set_interp(GvInterpreterState *interp);
bool gv_runtime_finalizing(void);
void gv_runtime_set_finalizing(bool on);
void gv_runtime_lock(void);
void gv_runtime_unlock(void);

GvInterpreterState *gv_interp_new(void);
void gv_interp_delete(GvInterpreterState *interp);
GvThreadState *gv_tstate_new(GvInterpreterState *interp);
/* The first free slot of ts's data stack: above the current frame. */
GvValue *gv_stack_top(GvThreadState *ts);
/* Drops the objects ts holds (exceptions, handled exceptions, handle). GIL held. */
void gv_tstate_clear(GvThreadState *ts);
/* Removes ts from the interpreter's list (takes interp->mutex). */
void gv_tstate_unlink(GvThreadState *ts);
/* Frees ts's memory: it holds no objects and is in no list. No GIL needed. */
void gv_tstate_free(GvThreadState *ts);
/* clear + unlink + forget as the GIL's holder + free. GIL held. */
void gv_tstate_delete(GvThreadState *ts);

/* Reserves `n` slots on ts's data stack starting at `from` (a slot in the
 * current chunk at or above everything in use) for a new frame; returns where
 * the frame's locals begin: `from` itself if n slots fit in the current chunk,
 * else the start of a fresh chunk (with *new_chunk set; the caller copies its
 * arguments there). NULL with MemoryError set on failure. */
GV_COLD GvValue *gv_stack_reserve(GvThreadState *ts, GvValue *from, size_t n, bool *new_chunk);
/* Undoes a chunk switch made by gv_stack_reserve. */
GV_COLD void gv_stack_pop_chunk(GvThreadState *ts);

/* Exception-info stack. */
int gv_excinfo_push(GvThreadState *ts, GvObject *exc); /* borrows exc */
void gv_excinfo_pop(GvThreadState *ts);
GV_COLD void gv_excinfo_pop_to(GvThreadState *ts, uint32_t depth);
/* The exception being handled (borrowed), or NULL. */
static inline GvObject *gv_excinfo_top(GvThreadState *ts) {
    return ts->exc_info ? ts->exc_info->exc_value : NULL;
}

/* The eval breaker's slow path (runtime/breaker.c): called by the eval loop
 * when ts->eval_breaker is non-zero. Drops the GIL if asked, runs pending
 * calls, raises a pending signal or asynchronous exception. 0, or -1 with
 * an exception set. May end the thread (finalizing). */
GV_COLD int gv_breaker_handle(GvThreadState *ts);
/* After a blocking wait was interrupted: handles what interrupted it (with
 * the GIL held). 0 to go on waiting, -1 with an exception set. */
int gv_tstate_check_interrupts(GvThreadState *ts);
/* Ctrl-C: SIGINT raises KeyboardInterrupt in main_ts at its next eval-breaker
 * check, and interrupts its blocking waits. 0 or -1. */
int gv_signals_install(GvThreadState *main_ts);
void gv_signals_uninstall(void);

/* ---- thread-state services (runtime/services.c) ---- */
/* The thread's dict, created on first use (borrowed); NULL with MemoryError. */
GvObject *gv_tstate_dict(GvThreadState *ts);
/* Sets (exc != NULL, borrowed) or clears the async exception of the thread
 * with that id. Returns how many thread states it changed (0 or 1). GIL held. */
int gv_set_async_exc(GvInterpreterState *interp, unsigned long id, GvObject *exc);
/* Raises ts's pending async exception if not masked. 0 or -1. */
int gv_raise_async_exc(GvThreadState *ts);
void gv_async_mask(GvThreadState *ts);
/* Ends a masking scope; at the outermost end, a held-back exception is due
 * (raised at the next check). */
void gv_async_unmask(GvThreadState *ts);
/* Pending calls. Any thread, GIL or not; never blocks on the GIL. 0, or -1
 * when the queue is full (or there is no interpreter). target 0: main thread. */
int gv_pending_add(GvInterpreterState *interp, unsigned long target, int (*fn)(void *), void *arg,
                   bool owns_object);
/* Runs the calls due on ts (GIL held). 0, or -1 with the exception of the
 * first call that failed (the others stay queued). */
int gv_pending_run(GvThreadState *ts);
/* Drops the calls queued for ts (a thread that ends), releasing what they hold. GIL held. */
void gv_pending_drop_for(GvThreadState *ts);
/* Drops every queued call (finalization), releasing the objects it holds. */
void gv_pending_clear(GvInterpreterState *interp);

/* Container tracking (see object.h). */
void gv_track(GvTracked *link);
void gv_untrack(GvTracked *link);
/* Empties every tracked container: called at finalization. */
void gv_containers_clear(GvInterpreterState *interp);

#endif
