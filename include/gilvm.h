/* gilvm.h: the public C API of gilvm, a small bytecode VM whose threads share
 * one interpreter under a global interpreter lock.
 *
 * This header is the manual. Its shape follows CPython's C API: if you know
 * PyThreadState_GetDict or PyErr_SetString, GvThreadState_GetDict and
 * GvErr_SetString do what you expect. Nothing outside this header is promised
 * to embedders.
 *
 * Conventions
 * - Reference counts: a function that returns GvObject* returns a new
 *   reference unless it says "borrowed"; arguments are borrowed unless the
 *   function says it steals them.
 * - Errors: functions return -1 or NULL and set the current thread's
 *   exception (GvErr_Occurred) unless they say otherwise.
 * - The GIL: unless a function says "any thread", call it with the GIL held:
 *   from a thread whose current thread state holds it (Gv_Initialize gives
 *   the calling thread one, holding the GIL; see "thread states and the GIL").
 *   Those functions check: called without the GIL (or without a current
 *   thread state) they print
 *       gilvm: fatal error: NAME: called without holding the GIL
 *   to stderr and abort(), rather than corrupt the interpreter. The check is
 *   a thread-local load and a field, cheap enough for every call.
 * - NULL arguments: where a comment says what NULL means, it means that.
 *   Otherwise a function that reports errors returns -1 or NULL with
 *   TypeError set ("NAME: ... must not be NULL"), and one that cannot
 *   (a void function) ends the process the same way as above, with
 *   "gilvm: fatal error: NAME: NULL ..." on stderr. Nothing is ever silently
 *   ignored or dereferenced. */
#ifndef GILVM_H
#define GILVM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GILVM_VERSION_MAJOR 0
#define GILVM_VERSION_MINOR 1
#define GILVM_VERSION_PATCH 0
#define GILVM_VERSION_STRING "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define GV_API __attribute__((visibility("default")))
#else
#define GV_API
#endif

/* ---- opaque handles ---- */
typedef struct GvObject GvObject;                     /* any heap value */
typedef struct GvInterpreterState GvInterpreterState; /* the main one, and any made with GvInterpreter_New */
typedef struct GvThreadState GvThreadState;           /* one per thread running VM code */
typedef struct GvProgram GvProgram;                   /* a loaded .gva/.gvc file */

/* ---- version ---- */
/* The library's version string, e.g. "0.1.0" (may differ from the header's
 * GILVM_VERSION_STRING if the library was rebuilt). Any thread. */
GV_API const char *Gv_GetVersion(void);

/* ---- lifecycle ---- */
/* Creates the interpreter and a thread state for the calling thread, which
 * becomes the main thread and holds the GIL. Returns that thread state, or
 * NULL if out of memory or already initialized. Any thread. */
GV_API GvThreadState *Gv_Initialize(void);
/* Waits, GIL released, until the function of every thread started with
 * thread_start (not thread_start_daemon) has returned: what Gv_Finalize does
 * first, as a call of its own so that the embedder can report what
 * interrupts it. Main thread, GIL held (a fatal error otherwise). 0, or -1
 * with the exception that interrupted the wait: KeyboardInterrupt on Ctrl-C
 * (after Gv_InitSignals), or an asynchronous exception. */
GV_API int Gv_WaitForThreads(void);
/* Waits for the program's threads (as Gv_WaitForThreads; if that is
 * interrupted, the threads still running are abandoned like daemon threads),
 * then frees the interpreter, every object it still holds (reference cycles
 * included) and the main thread state. Call from the main thread (the one
 * that called Gv_Initialize), GIL held: a fatal error naming Gv_Finalize
 * otherwise. Safe to call when not initialized (does nothing, from any
 * thread). A thread state that some thread still holds (it left with
 * GvEval_SaveThread and never came back) is freed except for a small
 * tombstone kept for the process's lifetime: using it later (after a new
 * Gv_Initialize) is a fatal error naming the call, never a read of freed
 * memory. */
GV_API void Gv_Finalize(void);

/* True from the moment Gv_Finalize starts shutting threads down. From then on
 * a thread that tries to take the GIL (other than the finalizing one) never
 * runs bytecode again: GvEval_AcquireThread, GvEval_RestoreThread and
 * GvGILState_Ensure end the calling OS thread (pthread_exit), as CPython's
 * PyEval_AcquireThread does; GvEval_AcquireThreadOrFail returns -1 instead.
 * A thread ended that way does not return into its C code, so references that
 * code held (across a call into the VM, say) are never released: embedders
 * whose threads may outlive the interpreter should borrow rather than own.
 * May be called from any thread, with or without the GIL. */
GV_API int Gv_IsFinalizing(void);

/* Makes Ctrl-C (SIGINT) raise KeyboardInterrupt in the calling (main) thread
 * at its next eval-breaker check, also when it is blocked in sleep, a lock, a
 * queue or a join. Not done by Gv_Initialize: an embedder may have its own
 * SIGINT handling. Undone by Gv_Finalize. 0, or -1 if it could not be set up
 * or the calling thread is not of the main interpreter (Ctrl-C reaches the
 * main interpreter only) (no exception set). GIL held. */
GV_API int Gv_InitSignals(void);

/* ---- thread states and the GIL ----
 *
 * Every OS thread that runs VM code has a thread state, and runs only while
 * it holds the GIL. "The current thread state" is the one the calling thread
 * is attached to (NULL when detached, e.g. inside Gv_BEGIN_ALLOW_THREADS). */

/* The calling thread's current thread state (borrowed), or NULL. Never
 * fails. Any thread. */
GV_API GvThreadState *GvThreadState_Get(void);
/* The current thread state's interpreter (borrowed); with no current thread
 * state, the main interpreter; NULL when not initialized. Any thread. */
GV_API GvInterpreterState *GvInterpreterState_Get(void);
/* A new thread state for interp, not attached to any thread: give it to
 * GvEval_AcquireThread from the thread that will use it. Any thread, with or
 * without the GIL. NULL (no exception set) if out of memory, interp is
 * finalizing, or interp is NULL or not a running interpreter. */
GV_API GvThreadState *GvThreadState_New(GvInterpreterState *interp);
/* Drops what the thread state holds (its per-thread dict, pending exception
 * and handled exceptions). GIL held; ts must not be running bytecode. ts
 * NULL, or running bytecode: a fatal error. */
GV_API void GvThreadState_Clear(GvThreadState *ts);
/* Frees a cleared thread state that is not current. GIL held. ts NULL,
 * current, holding the GIL or running bytecode: a fatal error. */
GV_API void GvThreadState_Delete(GvThreadState *ts);
/* Clears and frees the current thread state and releases the GIL: the last
 * call of a thread that is done with the VM. GIL held. */
GV_API void GvThreadState_DeleteCurrent(void);
/* Makes ts (may be NULL) the calling thread's current thread state and
 * returns the previous one. Does not take or release the GIL: any thread, but
 * a thread that runs VM code with ts must hold the GIL (through ts, or
 * through the thread state it swapped out). */
GV_API GvThreadState *GvThreadState_Swap(GvThreadState *ts);
/* The id thread_id() reports for ts: a small int, unique for the process's
 * lifetime; 0 for NULL. Any thread. */
GV_API unsigned long GvThreadState_GetID(GvThreadState *ts);

/* Takes the GIL (blocking) and makes ts current. If the interpreter is
 * finalizing, the calling thread exits instead (see Gv_IsFinalizing). Called
 * without the GIL: ts NULL, ts holding the GIL, or a calling thread that
 * already holds the GIL (it would wait for itself forever) is a fatal
 * error. */
GV_API void GvEval_AcquireThread(GvThreadState *ts);
/* As GvEval_AcquireThread (the same fatal errors), but returns -1 (without
 * the GIL) instead of ending the thread when the interpreter is finalizing;
 * 0 on success. */
GV_API int GvEval_AcquireThreadOrFail(GvThreadState *ts);
/* Detaches ts and releases the GIL. ts must be the calling thread's current
 * thread state, holding the GIL: NULL or any other is a fatal error. */
GV_API void GvEval_ReleaseThread(GvThreadState *ts);
/* Releases the GIL around a blocking call: returns the current thread state
 * and detaches it. Pair with GvEval_RestoreThread. GIL held (a fatal error
 * otherwise). */
GV_API GvThreadState *GvEval_SaveThread(void);
/* Takes the GIL back and re-attaches ts (from GvEval_SaveThread). Ends the
 * thread if the interpreter is finalizing. ts NULL, or a calling thread that
 * already holds the GIL: a fatal error. */
GV_API void GvEval_RestoreThread(GvThreadState *ts);
#define Gv_BEGIN_ALLOW_THREADS { GvThreadState *gv_save_ = GvEval_SaveThread();
#define Gv_END_ALLOW_THREADS GvEval_RestoreThread(gv_save_); }

/* For threads the VM did not create (callbacks from C libraries, ...):
 * Ensure makes sure the calling thread has a thread state and holds the GIL,
 * whatever its state before; Release undoes exactly one Ensure. Calls nest:
 * the thread state Ensure creates for a thread is deleted by the matching
 * outermost Release. Any thread, with or without the GIL. A Release without
 * a matching Ensure on the calling thread, or with a state Ensure did not
 * return, is a fatal error. Ensure after Gv_Finalize started ends the calling
 * thread (see Gv_IsFinalizing). */
typedef enum { GvGILState_LOCKED = 0, GvGILState_UNLOCKED = 1 } GvGILState_STATE;
GV_API GvGILState_STATE GvGILState_Ensure(void);
GV_API void GvGILState_Release(GvGILState_STATE state);
/* True if the calling thread holds the GIL (the check every "GIL held"
 * function makes). Any thread. */
GV_API int GvGILState_Check(void);

/* The switch interval: how long a thread waiting for the GIL lets the holder
 * run before asking it to drop (default 0.005 s). Values <= 0 are refused
 * (returns -1 with ValueError set). The caller holds the GIL. */
GV_API int Gv_SetSwitchInterval(double seconds);
/* How the GIL is handed over (see runtime/gil.c):
 * - CLASSIC: CPython's "new GIL": waiters race for it; a thread back from a
 *   blocking call waits up to an interval before it may ask the holder to drop.
 * - PRIORITY: direct handoff through FIFO queues; a thread back from a blocking
 *   call, or entering from outside with a new thread state (GvGILState_Ensure),
 *   goes first and asks the holder to drop at once (once the holder has run
 *   20 us); CPU-bound threads take turns in order; a CPU-bound thread that has
 *   waited a whole interval goes before everyone, so none waits much more than
 *   an interval plus 20 us per thread ahead of it.
 * - PRIORITY_SPIN: PRIORITY, and waiters spin briefly (up to 20 us, adapted per
 *   thread) before sleeping, when the process may run on more than one core.
 * - ADAPTIVE (the default): PRIORITY, but CPU-bound threads take turns of a
 *   whole interval (a waiter waits about an interval per CPU-bound thread
 *   ahead of it), and a holder interrupted by a thread back from a blocking
 *   call resumes its turn after it (it does not lose its place to the next
 *   CPU-bound thread). A waiter spins for the GIL only where the handoff is
 *   imminent and another core can make it: it is next, and the holder has
 *   been asked to drop (and runs on another core), or the holder is a thread
 *   back from a blocking call that was itself spinning (it blocks again
 *   soon); only while spins of that kind have been hitting, and only when the
 *   process may run on more than one core. Blocking waits spin as in
 *   PRIORITY_SPIN.
 * Settable only while the interpreter has a single thread state (counting
 * those of interpreters sharing its GIL, GV_INTERP_SHARED_GIL): 0, or -1 with
 * RuntimeError (an unknown mode: ValueError). GIL held. (The GIL's own mutex
 * keeps the kind the starting mode chose: spinning briefly in ADAPTIVE on
 * several cores, plain otherwise.) Gv_Initialize starts in the mode the GILMODE environment
 * variable names (classic, priority, spin or adaptive), else ADAPTIVE; the
 * `gilvm` command also takes --gil=MODE. */
/* (3 is the deterministic schedule, set with Gv_SetSchedule.) */
typedef enum { GV_GIL_CLASSIC = 0, GV_GIL_PRIORITY = 1, GV_GIL_PRIORITY_SPIN = 2, GV_GIL_ADAPTIVE = 4 } GvGILMode;
GV_API int Gv_SetGILMode(GvGILMode mode);
/* The mode called `name` ("classic", "priority", "spin", "adaptive": what
 * --gil= and GILMODE accept), or -1 if there is none (or name is NULL).
 * Any thread. */
GV_API int Gv_GILModeByName(const char *name);
/* A deterministic schedule, for reproducing races: from now on one thread
 * runs at a time for exactly `instructions` instructions, then the next one
 * is drawn from the runnable threads by a PRNG seeded with `seed`. Threads
 * become runnable only at points the program determines (started, or woken by
 * a put, a release or a thread's end), sleep() yields instead of sleeping,
 * and blocking calls are honoured: the same seed gives the same interleaving
 * and output. Slower (every instruction is counted). Settable while a single
 * thread exists: 0, or -1 with an exception. GIL held.
 * `gilvm run --schedule=SEED[:N]`. */
GV_API int Gv_SetSchedule(unsigned long long seed, unsigned instructions);
/* The GIL's mode; CLASSIC when not initialized. Any thread. */
GV_API GvGILMode Gv_GetGILMode(void);
/* The switch interval in seconds. GIL held. */
GV_API double Gv_GetSwitchInterval(void);

/* GIL telemetry (see GvGIL_GetStats). Wait times are in nanoseconds. */
#define GV_GIL_HIST_BUCKETS 24
typedef struct GvGILStats {
    unsigned long long acquisitions;    /* times the GIL was taken */
    unsigned long long switches;        /* takes by a thread other than the previous holder */
    unsigned long long forced_drops;    /* drops because a waiter asked */
    unsigned long long voluntary_drops; /* drops around blocking calls and at thread exit */
    unsigned long long drop_requests;   /* requests a waiter sent (after an interval; at once in the priority modes) */
    unsigned long long spins;           /* spin mode: waits for the GIL that spun before sleeping */
    unsigned long long spin_hits;       /* ... and got the GIL while spinning (no sleep) */
    unsigned long long wake_spins;      /* blocking waits that spun for their wake-up before sleeping */
    unsigned long long wake_spin_hits;  /* ... and were woken while spinning */
    unsigned long long spin_ns;         /* CPU time spent spinning for the GIL (and, in the totals, for wake-ups) */
    unsigned long long wait_ns_total;   /* time spent waiting to take the GIL */
    unsigned long long wait_ns_max;
    /* wait_hist[i]: takes that waited [2^i, 2^(i+1)) microseconds; [0] also holds < 1 µs. */
    unsigned long long wait_hist[GV_GIL_HIST_BUCKETS];
} GvGILStats;
/* The interpreter's counters, summed over every thread that ever ran (all
 * zero when not initialized). Any thread. out NULL: a fatal error. */
GV_API void GvGIL_GetStats(GvGILStats *out);
/* One thread's counters. GIL held (ts stays alive). ts or out NULL: a fatal
 * error. */
GV_API void GvThreadState_GetGILStats(GvThreadState *ts, GvGILStats *out);

/* ---- the GIL timeline ----
 * A record of every thread's state and of every GIL handoff, written as a
 * Chrome Trace Event Format file (JSON) that Perfetto (ui.perfetto.dev, "Open
 * trace file": the file stays local) and chrome://tracing open as they are.
 * `gilvm run --timeline=FILE` records a whole program. The schema is in
 * README.md ("Seeing the GIL"): per thread, slices `running`, `waiting for
 * GIL`, `blocked: KIND`, `outside VM`; instants `drop request`, `drop`,
 * `take` (the handoff's stages in its arguments), async exceptions, pending
 * calls, signals; flows request -> drop and drop -> take.
 *
 * While no recording is on, the cost is one predictable branch on the GIL's
 * take and drop paths and none in the eval loop. While on, each thread
 * appends to a buffer of its own of `events_per_thread` events (0: 100000);
 * a full buffer drops the newer events and the file says how many
 * (otherData.events_dropped). Starting measures this machine's futex round
 * trip once (a few hundred condition-variable ping-pongs, about a
 * millisecond), by which the handoffs' stages are also given. */
/* Receives the file in pieces, in order; returns 0, or non-zero to fail. */
typedef int (*GvTimelineWriteFunc)(void *arg, const char *data, size_t len);
/* Starts recording. GIL held. 0, or -1 with RuntimeError (already recording)
 * or ValueError (events_per_thread above 100000000). */
GV_API int GvTimeline_Start(size_t events_per_thread);
/* Stops recording and passes the file to write(arg, ...), then frees the
 * recording. GIL held. 0, or -1 with: TypeError (write NULL: the recording
 * goes on), RuntimeError (not recording; or write failed: the recording is
 * gone). */
GV_API int GvTimeline_Stop(GvTimelineWriteFunc write, void *arg);
/* GvTimeline_Stop into the file at path (created or truncated). -1 with
 * TypeError for a NULL path, RuntimeError if not recording or if the file
 * cannot be opened (the recording goes on) or written (it is gone). */
GV_API int GvTimeline_StopToFile(const char *path);
/* 1 while recording, else 0. Any thread. */
GV_API int GvTimeline_IsRecording(void);

/* ---- thread-state services ---- */
/* The calling thread's per-thread dictionary (borrowed), created on first
 * use; what tls() returns to programs. NULL without raising when the thread
 * has no current thread state (any thread may ask) or out of memory. With a
 * current thread state, GIL held. Freed with the thread state. */
GV_API GvObject *GvThreadState_GetDict(void);
/* Asks the thread with that id (GvThreadState_GetID, thread_id()) to raise
 * `exc` (an exception instance or type; NULL clears a pending one) at its
 * next eval-breaker check. A thread blocked in a VM wait (sleep, lock, queue,
 * join) is woken to raise it at once. The caller holds the GIL (a fatal error
 * otherwise). Returns the number of thread states changed: 1, or 0 if no
 * such thread is running in the VM (finished, unknown, or abandoned at
 * shutdown: an exception is never delivered to a thread that left the VM);
 * -1 with TypeError if exc is neither. */
GV_API int GvThreadState_SetAsyncExc(unsigned long id, GvObject *exc);
/* The current thread's async-generator hooks (CPython's sys.set_asyncgen_hooks,
 * kept per thread state as CPython's tstate->async_gen_firstiter and _finalizer).
 * Set: each hook is a callable or NULL (none); 0, or -1 with TypeError set and
 * nothing changed. Get: new references (or NULL) in *firstiter and *finalizer (either
 * pointer may be NULL). Another thread's hooks are never affected; a thread
 * state's clear drops them. The caller holds the GIL. */
GV_API int GvThreadState_SetAsyncGenHooks(GvObject *firstiter, GvObject *finalizer);
GV_API void GvThreadState_GetAsyncGenHooks(GvObject **firstiter, GvObject **finalizer);
/* A masking scope for the calling thread (Ruby's Thread.handle_interrupt):
 * while masked, asynchronous exceptions are held back; the outermost Unmask
 * makes a held-back one due at the next check. Scopes nest. GIL held (a
 * fatal error otherwise). */
GV_API void GvThreadState_MaskAsyncExc(void);
GV_API void GvThreadState_UnmaskAsyncExc(void);

/* Each thread (the main thread for Gv_AddPendingCall) has a queue of its own
 * that holds this many calls; adding more for that thread returns -1, and
 * never depends on what is queued for other threads. */
#define GV_PENDING_CALLS_MAX 64
/* Schedules func(arg) to run on the main interpreter's main thread (another
 * interpreter's: GvInterpreter_AddPendingCall), with the GIL, at its next
 * eval-breaker check (or during its current blocking wait). Callable from any
 * thread, with or without the GIL, even one the VM did not create; never
 * blocks. 0, or -1 (no exception set) if the queue is full, there is no
 * interpreter, or func is NULL. If func returns -1 (with an exception set,
 * else RuntimeError), the exception is raised in the main thread where the
 * call ran. */
GV_API int Gv_AddPendingCall(int (*func)(void *), void *arg);
/* As Gv_AddPendingCall, on the main interpreter's thread with that id; -1
 * also if id is 0 or no such thread is running there. A call for a thread that ends, or whose thread
 * state is deleted (GvGILState_Release, GvThreadState_Delete[Current]),
 * before running it is dropped, never run. */
GV_API int Gv_AddPendingCallToThread(unsigned long thread_id, int (*func)(void *), void *arg);
/* Runs the pending calls due on the calling thread now. GIL held (a fatal
 * error otherwise). 0, or -1 with the exception of the first call that
 * failed. */
GV_API int Gv_MakePendingCalls(void);

/* ---- trace and profile hooks ---- */
/* What a hook is told. Events come in this order for a frame: CALL, then for
 * each instruction a LINE event when it starts a new source line (or jumps
 * back to one), an OPCODE event before each instruction when opcode events
 * are on, EXCEPTION when an exception is raised in or propagates into the
 * frame, and RETURN when the frame ends (also when an exception unwinds it:
 * then opname is ""). Values are not passed: arg is NULL for every event but
 * EXCEPTION. Profile hooks get CALL and RETURN only. */
typedef enum {
    GV_TRACE_CALL, GV_TRACE_EXCEPTION, GV_TRACE_LINE, GV_TRACE_RETURN, GV_TRACE_OPCODE
} GvTraceWhat;
typedef struct GvTraceEvent {
    GvTraceWhat what;
    unsigned long thread_id; /* as GvThreadState_GetID */
    const char *function;    /* the frame's function name */
    const char *filename;
    unsigned line;           /* source line of the instruction (0 if unknown) */
    unsigned offset;         /* instruction index in the function */
    const char *opname;      /* the instruction about to run (LINE, OPCODE, RETURN) */
    int depth;               /* bytecode frames on this thread, this one included */
    int stack_size;          /* values on the frame's operand stack */
    GvObject *arg;           /* EXCEPTION: the exception (borrowed); else NULL */
} GvTraceEvent;
/* A hook: return 0 to go on, or -1 with an exception set to raise it in the
 * traced frame. Runs with the GIL; while it runs, its own calls into the VM
 * are not traced. */
typedef int (*GvTraceFunc)(void *userdata, const GvTraceEvent *event);
/* Sets (func NULL: removes) the calling thread's trace or profile hook;
 * userdata is passed to it as it is (NULL is fine). Running frames start
 * reporting at their next call or backward jump. When no hook is set the eval
 * loop runs as fast as without this feature. GIL held. */
GV_API void GvEval_SetTrace(GvTraceFunc func, void *userdata);
GV_API void GvEval_SetProfile(GvTraceFunc func, void *userdata);
/* The same for every thread of the interpreter, running now or started later.
 * GIL held. */
GV_API void GvEval_SetTraceAllThreads(GvTraceFunc func, void *userdata);
GV_API void GvEval_SetProfileAllThreads(GvTraceFunc func, void *userdata);
/* Turns OPCODE events on or off for the trace hooks set after this call (and
 * the calling thread's current one). GIL held. */
GV_API void GvEval_SetTraceOpcodes(int on);

/* ---- load diagnostics ---- */
/* The first error met while assembling, loading or verifying a program. */
typedef struct GvDiag {
    unsigned line, col; /* 1-based source position; 0 when there is none */
    char message[512];  /* the bare message */
    char text[1024];    /* "FILE:LINE:COL: error: message" (or "FILE: error: message") */
} GvDiag;

/* ---- programs ---- */
/* Assembles .gva source text (len bytes; need not be NUL-terminated) and
 * verifies it. filename is used in diagnostics and tracebacks. Returns NULL
 * and fills *diag on any error; never raises. GIL held (a fatal error
 * otherwise); without any current thread state: NULL with the diagnostic "no
 * thread state". NULLs: source is read as empty, filename as "<input>", and
 * diag may be NULL (the error is then not reported). The same for the two
 * loaders below. */
GV_API GvProgram *GvProgram_Assemble(const char *source, size_t len, const char *filename,
                                     GvDiag *diag);
/* Loads a binary .gvc image and verifies it. Returns NULL and fills *diag on a
 * bad magic number, an unsupported version, a truncated or corrupted file
 * (data NULL reads as empty), or code the verifier rejects. */
GV_API GvProgram *GvProgram_LoadBytes(const void *data, size_t len, const char *filename,
                                      GvDiag *diag);
/* Reads a file and loads it as .gvc if it starts with the .gvc magic number,
 * else assembles it as .gva. A file that lacks the magic number but looks like
 * bytecode (a NUL byte among its first 8, the magic with one byte wrong or cut
 * short, or a name ending in .gvc) is reported as "not a gilvm bytecode file
 * (bad magic number); ...", not as bad text. NULL and *diag filled on error
 * (including a file that cannot be read, and path NULL). */
GV_API GvProgram *GvProgram_LoadFile(const char *path, GvDiag *diag);
/* Serializes a program to a .gvc image in a malloc'ed buffer the caller frees.
 * 0 on success, -1 (no exception set) if out of memory or program, data or
 * len is NULL. Needs no GIL (it only reads the program). */
GV_API int GvProgram_Save(const GvProgram *program, void **data, size_t *len);
/* Writes the program as .gva text (the disassembly) to a FILE*. GIL held;
 * program or file NULL: a fatal error. */
GV_API void GvProgram_Disassemble(const GvProgram *program, void *file);
/* Frees a program (its functions stay alive while globals refer to them).
 * NULL does nothing (any thread); otherwise GIL held. */
GV_API void GvProgram_Free(GvProgram *program);
/* Defines every function of the program as a global of the interpreter, then
 * calls `main()` on the current thread. Returns 0 and sets *exit_status to
 * main's result if it is an int (else 0). If an exception escapes, returns -1
 * with it set (see GvErr_PrintEx). exit_status may be NULL (the status is
 * dropped); program NULL: -1 with TypeError. */
GV_API int GvProgram_Run(GvProgram *program, int *exit_status);

/* Sets what the argv() builtin returns: a list of argc strings (copied; they
 * must be valid UTF-8, else ValueError). argc <= 0 gives an empty list (argv
 * may then be NULL); argv or one of its first argc strings NULL otherwise:
 * TypeError. 0, or -1 with an exception set. */
GV_API int Gv_SetArgv(int argc, char **argv);

/* ---- exceptions ---- */
/* The builtin exception types (immortal objects). */
GV_API extern GvObject *const GvExc_BaseException;
GV_API extern GvObject *const GvExc_Exception;
GV_API extern GvObject *const GvExc_TypeError;
GV_API extern GvObject *const GvExc_ValueError;
GV_API extern GvObject *const GvExc_NameError;
GV_API extern GvObject *const GvExc_IndexError;
GV_API extern GvObject *const GvExc_KeyError;
GV_API extern GvObject *const GvExc_ZeroDivisionError;
GV_API extern GvObject *const GvExc_OverflowError;
GV_API extern GvObject *const GvExc_RuntimeError;
GV_API extern GvObject *const GvExc_RecursionError;
GV_API extern GvObject *const GvExc_KeyboardInterrupt;
GV_API extern GvObject *const GvExc_SystemExit;
GV_API extern GvObject *const GvExc_MemoryError;
GV_API extern GvObject *const GvExc_StopIteration;
GV_API extern GvObject *const GvExc_GeneratorExit;

/* Sets the current exception to a new instance of `type` (an exception type)
 * with the message (NULL: ""). A `type` that is not an exception type (NULL
 * included) sets TypeError instead. */
GV_API void GvErr_SetString(GvObject *type, const char *message);
/* Sets the current exception: `value` may be an instance of `type` (raised as
 * it is) or any value (its str() becomes the message of a new instance), or
 * NULL (a new instance without a message). `type` not an exception type (NULL
 * included): TypeError instead. */
GV_API void GvErr_SetObject(GvObject *type, GvObject *value);
/* The type of the exception in flight (borrowed), or NULL; NULL also when
 * the thread has no current thread state. Never fails. Any thread. */
GV_API GvObject *GvErr_Occurred(void);
/* Drops the exception in flight, if any. Does nothing when the thread has no
 * current thread state (any thread may call it); otherwise GIL held. */
GV_API void GvErr_Clear(void);
/* Takes the exception in flight (a new reference; none remains set), or NULL.
 * CPython 3.12's PyErr_GetRaisedException. */
GV_API GvObject *GvErr_GetRaisedException(void);
/* Sets the exception in flight, stealing `exc` (an exception instance, or NULL
 * to clear). Anything else is released and TypeError set instead. */
GV_API void GvErr_SetRaisedException(GvObject *exc);
/* The exception being handled by the innermost running handler (a new
 * reference), or NULL. What exc_info() returns to programs. */
GV_API GvObject *GvErr_GetHandledException(void);
/* Replaces the exception being handled by the innermost handler (borrowed;
 * NULL to clear: exc_info() then gives None until that handler ends). Does
 * nothing if no handler is running; an object that is not an exception
 * instance sets TypeError instead. */
GV_API void GvErr_SetHandledException(GvObject *exc);
/* Prints the exception in flight as a Python-style traceback to stderr and
 * clears it. Returns the exit status a program would end with: SystemExit's
 * code (printing nothing, or its message), else 1. Returns 0 if none is set,
 * and when the thread has no current thread state (any thread may call it);
 * otherwise GIL held. */
GV_API int GvErr_PrintEx(void);
/* True if `exc` is an exception instance whose type is `type` or a subtype;
 * 0 if either is NULL. Any thread (types never change). */
GV_API int GvErr_GivenExceptionMatches(GvObject *exc, GvObject *type);

/* ---- recursion ---- */
/* The limit on bytecode frames per thread (default 1000). A call past it
 * raises RecursionError. Applies to the current thread and to threads created
 * after. Values < 1 are ignored (returns -1 with ValueError set). GIL held
 * (both functions). */
GV_API int Gv_SetRecursionLimit(int limit);
GV_API int Gv_GetRecursionLimit(void);

/* ---- instruction budget ---- */
/* Bounds how long the calling thread runs bytecode: for running untrusted
 * programs (the fuzzers do). The budget counts the eval loop's checkpoints,
 * the points where it already looks at the eval breaker: every backward jump
 * and every function entry. Between two checkpoints a frame runs forward
 * only, at most its own code's length, so `n` bounds the run at no cost to
 * the dispatch path. When n checkpoints have passed, the next one raises
 * RuntimeError("instruction budget exhausted"); from then on every checkpoint
 * raises again and no handler catches anything, so the program ends (a
 * handler that caught the error and looped would defeat the budget).
 * n < 0 removes the budget (the default); calling again renews it. Applies to
 * the calling thread only. Does nothing without a current thread state (any
 * thread may call it). */
GV_API void Gv_SetInstructionBudget(long long n);

/* ---- several interpreters ----
 *
 * An interpreter has its own globals, builtins, threads, GIL, thread dicts,
 * hooks, pending calls, switch interval and recursion limit; interpreters
 * run in parallel (except one sharing main's GIL: GV_INTERP_SHARED_GIL, whose
 * GIL, switch interval and GIL statistics are main's), and objects never pass from one to another (programs copy
 * values through channels: docs/LANGUAGE.md, "Interpreters"). The main
 * interpreter is the one Gv_Initialize made (id 0). The GILState calls
 * (GvGILState_Ensure) attach to the main interpreter; GvThreadState_Ensure
 * attaches to the interpreter of a guard. Thread ids are distinct across the
 * process. Ctrl-C (Gv_InitSignals) reaches the main interpreter only. */

/* How GvInterpreter_NewFromConfig makes an interpreter. */
typedef struct GvInterpreterConfig {
    int gil; /* GV_INTERP_OWN_GIL (the default) or GV_INTERP_SHARED_GIL */
} GvInterpreterConfig;
#define GV_INTERP_OWN_GIL 0
/* Sharing the main interpreter's GIL (CPython's PyInterpreterConfig_SHARED_GIL):
 * the new interpreter has its own globals, threads and per-interpreter
 * services as any other, but its threads take turns with main's on one GIL
 * instead of running in parallel. The GIL's mode, switch interval and
 * statistics are the GIL's, so such an interpreter shares them with main
 * (Gv_SetSwitchInterval in either changes both; GvGIL_GetStats counts the
 * threads of both). Changing the mode (Gv_SetGILMode, Gv_SetSchedule) needs a
 * single thread state across main and every interpreter sharing its GIL. Not
 * under the deterministic schedule (NewFromConfig returns NULL then), and
 * the GIL timeline records main's threads only. Gv_Finalize refuses (a fatal
 * error) while such an interpreter exists. */
#define GV_INTERP_SHARED_GIL 1

/* Makes an interpreter and a thread state of it for the calling thread,
 * which becomes its main thread, current, holding the new interpreter's GIL
 * (with GV_INTERP_SHARED_GIL main's, taken in turn with main's threads) (as
 * CPython's Py_NewInterpreterFromConfig). A thread state the calling
 * thread had current is detached first, as by GvEval_SaveThread: return to
 * it with GvEval_RestoreThread after GvInterpreter_End. The main interpreter
 * must exist and not be finalizing. Returns the new thread state, or NULL
 * (no exception set) if out of memory, not initialized, finalizing, or the
 * config is invalid (NULL config: the defaults). */
GV_API GvThreadState *GvInterpreter_NewFromConfig(const GvInterpreterConfig *config);
GV_API GvThreadState *GvInterpreter_New(void);
/* Ends the interpreter of ts, which is the calling thread's current thread
 * state, holds the GIL and is that interpreter's main thread (the one
 * GvInterpreter_New returned): waits for its thread_start threads and the
 * interpreters its program started, then for its guards to be closed (GIL
 * released), then finalizes it as Gv_Finalize does the main one; other
 * interpreters go on running. Afterwards no thread state is current. Not for
 * the main interpreter (Gv_Finalize ends it): misuse is a fatal error. */
GV_API void GvInterpreter_End(GvThreadState *ts);
/* The main interpreter (borrowed), or NULL. Any thread. */
GV_API GvInterpreterState *GvInterpreterState_Main(void);
/* interp's id: 0 for the main interpreter, distinct for the others (never
 * reused while the runtime lives); -1 for NULL. Any thread. */
GV_API long long GvInterpreterState_GetID(GvInterpreterState *interp);

/* Guards and views (CPython's PEP 788). A guard keeps its interpreter from
 * finalizing while it is held: the interpreter's end (GvInterpreter_End,
 * Gv_Finalize) waits, with its GIL released, until every guard is closed.
 * A view names an interpreter without keeping it alive: it may be ended at
 * any time, and GvInterpreterGuard_FromView then fails. Both are plain
 * malloc'd handles, usable from any thread; each is closed once. */
typedef struct GvInterpreterGuard GvInterpreterGuard;
typedef struct GvInterpreterView GvInterpreterView;
/* A guard of the current interpreter. GIL held. NULL with RuntimeError if it
 * is finalizing (or its end is waiting for guards), MemoryError. */
GV_API GvInterpreterGuard *GvInterpreterGuard_FromCurrent(void);
/* A guard of the view's interpreter, or NULL (no exception set) if it has
 * ended, is ending, or out of memory. Any thread, with or without the GIL. */
GV_API GvInterpreterGuard *GvInterpreterGuard_FromView(GvInterpreterView *view);
/* Releases the guard (NULL: nothing). Any thread. */
GV_API void GvInterpreterGuard_Close(GvInterpreterGuard *guard);
/* A view of the current interpreter (GIL held) / of the main one (any
 * thread). NULL if out of memory or no such interpreter. */
GV_API GvInterpreterView *GvInterpreterView_FromCurrent(void);
GV_API GvInterpreterView *GvInterpreterView_FromMain(void);
GV_API void GvInterpreterView_Close(GvInterpreterView *view);
/* Attaches the calling thread to the guard's interpreter: makes (or reuses)
 * the thread's thread state of that interpreter, takes its GIL and makes it
 * current; a thread state of another interpreter that the thread had
 * attached is detached and comes back at the matching Release. Nests. 0, or
 * -1 (nothing changed, the thread goes on) if the interpreter is finalizing
 * or out of memory: never ends the thread. guard NULL: a fatal error. */
GV_API int GvThreadState_Ensure(GvInterpreterGuard *guard);
/* Undoes the calling thread's last successful GvThreadState_Ensure. Without
 * one: a fatal error. */
GV_API void GvThreadState_Release(void);
/* As Gv_AddPendingCall (which goes to the main interpreter), for the main
 * thread of the guard's interpreter. Any thread. 0, or -1 if the queue is
 * full, guard or func is NULL. */
GV_API int GvInterpreter_AddPendingCall(GvInterpreterGuard *guard, int (*func)(void *), void *arg);

/* ---- memory ---- */
/* Limits the memory the VM allocates for what programs make (objects, list
 * items, dict tables, strings, queues, data-stack chunks), counted as
 * malloc_usable_size reports the blocks: an allocation that would take the
 * total past `bytes` fails, and the program sees MemoryError (which it may
 * catch; the VM goes on). 0 removes the limit (the default). Process-wide,
 * like malloc; any thread, with or without the GIL, before Gv_Initialize
 * too. A limit below the current usage makes allocations fail until enough
 * is freed. Not counted: thread states and C stacks, the scratch memory of
 * loading and verifying, and memory an embedder allocates itself. `gilvm
 * run` sets half the physical memory (or of the cgroup's limit, if lower) by
 * default; --max-memory=SIZE sets another. */
GV_API void Gv_SetMemoryLimit(size_t bytes);
/* Bytes the VM's counted allocations hold now (see Gv_SetMemoryLimit). Any
 * thread. */
GV_API size_t Gv_GetMemoryUsage(void);

/* ---- objects ---- */
/* Reference counts are not atomic: GIL held. NULL does nothing (any thread). */
GV_API void Gv_IncRef(GvObject *o);
GV_API void Gv_DecRef(GvObject *o);
/* str(o) as a NUL-terminated UTF-8 string in a malloc'ed buffer the caller
 * frees; NULL on error (o NULL: TypeError). GIL held. */
GV_API char *GvObject_StrDup(GvObject *o);

/* ---- values ----
 * Every value a program handles is a GvObject* to C: none, bool, int (64-bit),
 * float, str, list, dict, functions, exceptions. Inside the VM ints, floats,
 * bools and none are not heap objects; the calls below give C a reference to
 * them all the same (a small box for an int or a float, one immortal object
 * for each of none, true and false), and every call that takes a value
 * accepts any of them. Compare values with the calls here, never by pointer:
 * two GvLong_FromLongLong(5) are two objects.
 *
 * Unless said otherwise these calls need the GIL (a fatal error otherwise),
 * return new references, borrow their arguments, and on a NULL argument or
 * one of the wrong type return -1 or NULL with TypeError set
 * ("NAME: ... must not be NULL", "NAME: expected a list, got int"). The
 * Check calls and Gv_IsNone only read an object that the caller keeps
 * alive: any thread, never fail, 0 for NULL. */
typedef ptrdiff_t Gv_ssize_t;

/* The immortal none, true and false (CPython's Py_None, Py_True, Py_False):
 * usable without the GIL; Gv_IncRef/Gv_DecRef on them are harmless. */
GV_API extern GvObject *const Gv_None;
GV_API extern GvObject *const Gv_True;
GV_API extern GvObject *const Gv_False;
GV_API int Gv_IsNone(GvObject *o);

/* Python's name of o's type: "NoneType", "bool", "int", "float", "str",
 * "list", "dict", "function", an exception's class name, ... Valid while o
 * lives; NULL for NULL. Any thread that keeps o alive. */
GV_API const char *GvObject_TypeName(GvObject *o);
/* str(o) and repr(o), as new str objects. */
GV_API GvObject *GvObject_Str(GvObject *o);
GV_API GvObject *GvObject_Repr(GvObject *o);
/* Python's truthiness of o: 1 or 0; -1 with TypeError for NULL. */
GV_API int GvObject_IsTrue(GvObject *o);

/* bool: Gv_True if v is non-zero, else Gv_False (a new reference to an
 * immortal object: never fails). GvBool_Check is true for true and false only. */
GV_API int GvBool_Check(GvObject *o);
GV_API GvObject *GvBool_FromLong(long v);

/* int: 64-bit signed. GvLong_Check is true for ints and bools (bool is a
 * subtype of int, as in Python). The As calls accept an int or a bool and
 * return its value; anything else: -1 with TypeError; a value that does not
 * fit a long (where long is narrower than 64 bits): -1 with OverflowError.
 * -1 is also a valid value: tell them apart with GvErr_Occurred. */
GV_API int GvLong_Check(GvObject *o);
GV_API GvObject *GvLong_FromLong(long v);
GV_API GvObject *GvLong_FromLongLong(long long v);
GV_API long GvLong_AsLong(GvObject *o);
GV_API long long GvLong_AsLongLong(GvObject *o);

/* float: a C double. GvFloat_AsDouble accepts a float, an int or a bool
 * (converted, as float() does); anything else: -1.0 with TypeError. */
GV_API int GvFloat_Check(GvObject *o);
GV_API GvObject *GvFloat_FromDouble(double v);
GV_API double GvFloat_AsDouble(GvObject *o);

/* str: immutable UTF-8 text. The From calls copy their bytes, which must be
 * valid UTF-8 (else ValueError); size < 0: ValueError. GvUnicode_AsUTF8
 * returns the str's own NUL-terminated bytes (borrowed: valid while the str
 * lives; never modify them); AsUTF8AndSize also stores the length in bytes
 * in *size (size may be NULL). Not a str: NULL with TypeError (and *size
 * -1). */
GV_API int GvUnicode_Check(GvObject *o);
GV_API GvObject *GvUnicode_FromString(const char *s);
GV_API GvObject *GvUnicode_FromStringAndSize(const char *s, Gv_ssize_t size);
GV_API const char *GvUnicode_AsUTF8(GvObject *o);
GV_API const char *GvUnicode_AsUTF8AndSize(GvObject *o, Gv_ssize_t *size);

/* list. GvList_New(len) makes a list of len none items (CPython's leaves
 * them NULL, to be filled by SetItem; a gilvm list never holds NULL); len < 0:
 * ValueError. Indexes run from 0 to size-1 (no negative indexes, as in
 * CPython's C API): else IndexError. There is no borrowing GetItem: an int
 * item is no object until it is asked for, so GvList_GetItemRef (CPython
 * 3.13's name) returns a new reference. GvList_SetItem steals item, also
 * when it fails (as CPython's does); GvList_Append borrows it. */
GV_API int GvList_Check(GvObject *o);
GV_API GvObject *GvList_New(Gv_ssize_t len);
GV_API Gv_ssize_t GvList_Size(GvObject *list);
GV_API GvObject *GvList_GetItemRef(GvObject *list, Gv_ssize_t index);
GV_API int GvList_SetItem(GvObject *list, Gv_ssize_t index, GvObject *item);
GV_API int GvList_Append(GvObject *list, GvObject *item);

/* dict: insertion-ordered; keys are none, bool, int, float or str (1, 1.0
 * and true are one key); another key: TypeError. GetItemRef (CPython 3.13's
 * shape) returns 1 with a new reference in *result, 0 with *result NULL if
 * the key is absent, or -1 with an exception (and *result NULL). DelItem of
 * an absent key: -1 with KeyError. Contains: 1, 0 or -1. GvDict_Keys: a new
 * list of the keys in insertion order (iterate with it and GetItemRef). */
GV_API int GvDict_Check(GvObject *o);
GV_API GvObject *GvDict_New(void);
GV_API Gv_ssize_t GvDict_Size(GvObject *dict);
GV_API int GvDict_SetItem(GvObject *dict, GvObject *key, GvObject *value);
GV_API int GvDict_SetItemString(GvObject *dict, const char *key, GvObject *value);
GV_API int GvDict_GetItemRef(GvObject *dict, GvObject *key, GvObject **result);
GV_API int GvDict_GetItemStringRef(GvObject *dict, const char *key, GvObject **result);
GV_API int GvDict_DelItem(GvObject *dict, GvObject *key);
GV_API int GvDict_Contains(GvObject *dict, GvObject *key);
GV_API GvObject *GvDict_Keys(GvObject *dict);

/* ---- calls and globals ----
 * A program's functions become globals of the interpreter when it runs:
 * GvProgram_Exec defines them without calling main, GvProgram_Run defines
 * them and calls main. Then get one with Gv_GetGlobal and call it. */

/* Defines every function of the program as a global of the interpreter (what
 * GvProgram_Run does before it calls main): a function already defined under
 * that name is replaced. 0, or -1 with an exception; program NULL: TypeError. */
GV_API int GvProgram_Exec(GvProgram *program);

/* What a program says about one of its functions. */
typedef struct GvFunctionInfo {
    int nparams;        /* how many arguments it takes */
    unsigned firstline; /* the line of its .func (0 if unknown) */
} GvFunctionInfo;
/* Looks up the function `name` in the program (not in the globals): 1 and
 * *info filled (info may be NULL), or 0 if the program has none of that name.
 * Needs no GIL (it only reads the program). program or name NULL: a fatal
 * error. */
GV_API int GvProgram_FindFunction(const GvProgram *program, const char *name, GvFunctionInfo *info);

/* Calls callable (a program's function, a builtin such as Gv_GetGlobal("len")
 * gives, or an exception type, which makes an instance) on the current
 * thread, and returns its result (a new reference), or NULL with the
 * exception it raised set: read it with GvErr_GetRaisedException. A wrong
 * number of arguments, or a callable that is not one: TypeError. Arguments
 * are borrowed. Calling with an exception already set is a fatal error (as
 * CPython's debug build asserts): handle or clear it first.
 * - CallObject: args is a list of the arguments (CPython takes a tuple), or
 *   NULL for none.
 * - CallFunctionObjArgs: the arguments, then NULL.
 * - Vectorcall: nargs arguments from args (NULL if nargs is 0); kwnames must
 *   be NULL (gilvm has no keyword arguments: TypeError otherwise). */
GV_API GvObject *GvObject_CallNoArgs(GvObject *callable);
GV_API GvObject *GvObject_CallOneArg(GvObject *callable, GvObject *arg);
GV_API GvObject *GvObject_CallObject(GvObject *callable, GvObject *args);
GV_API GvObject *GvObject_CallFunctionObjArgs(GvObject *callable, ...);
GV_API GvObject *GvObject_Vectorcall(GvObject *callable, GvObject *const *args, size_t nargs,
                                     GvObject *kwnames);

/* The current interpreter's globals: the dict a program's LOAD_GLOBAL and
 * STORE_GLOBAL use (borrowed; change it with the GvDict calls). */
GV_API GvObject *GvEval_GetGlobals(void);
/* The global `name` (a new reference); NULL with NameError ("name 'x' is not
 * defined") if there is none. Builtins (print, len, ...) are found too when
 * no global hides them, as LOAD_GLOBAL finds them. */
GV_API GvObject *Gv_GetGlobal(const char *name);
/* Sets the global `name` to value (borrowed); value NULL deletes it (NameError
 * if there is none). 0 or -1. */
GV_API int Gv_SetGlobal(const char *name, GvObject *value);

/* ---- what the gilvm command shows ---- */
/* The GIL's mode as a name: "classic", "priority", "spin", or "schedule"
 * while a schedule (Gv_SetSchedule) runs; "classic" when not initialized.
 * Any thread. */
GV_API const char *Gv_GetGILModeName(void);
/* One thread's row of GIL statistics. */
typedef struct GvGILThreadStats {
    unsigned long thread_id; /* as GvThreadState_GetID */
    int is_main;             /* the thread that called Gv_Initialize */
    int running;             /* its thread state still exists (else it ended) */
    GvGILStats stats;
} GvGILThreadStats;
/* The GIL counters of every thread of the current interpreter: first the
 * threads that ended, in the order they ended, then the thread states that
 * exist, in the interpreter's order. Fills up to cap rows (rows may be NULL
 * when cap is 0) and returns how many there are, which may be more than cap:
 * call again with more room. GIL held. */
GV_API size_t GvGIL_GetThreadStats(GvGILThreadStats *rows, size_t cap);
/* Under Gv_SetSchedule: a hash of the interleaving run so far (equal hashes,
 * the same interleaving); *handoffs (may be NULL) gets the number of times
 * the GIL went to a thread. 0 and no handoffs without a schedule. GIL held. */
GV_API unsigned long long Gv_GetScheduleDigest(unsigned long long *handoffs);
/* The bytecode reference (docs/BYTECODE.md), and the instruction tables of
 * docs/LANGUAGE.md, generated from the library's opcode table, written to a
 * FILE*. Any thread; file NULL: a fatal error. */
GV_API void GvDis_PrintOpcodeReference(void *file);
GV_API void GvDis_PrintLanguageTables(void *file);
/* How the library was built, e.g. "gcc 12.2.0, computed goto": the compiler
 * and the eval loop's dispatch. Any thread. */
GV_API const char *Gv_GetBuildInfo(void);


#ifdef __cplusplus
}
#endif
#endif
