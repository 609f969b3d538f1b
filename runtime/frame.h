/* Frames and the per-thread data stack: the one owner of both.
 *
 * Everything that pushes, pops or tears down a frame goes through here: the
 * eval loop's calls and returns (vm/eval.c), entries from C (gv_eval_call),
 * and the frames of a thread that will never run again (finalization).
 *
 * The data stack
 * --------------
 * Each thread state has a stack of GvValue slots made of chunks (ts->chunk is
 * the one in use; older ones hang off ->prev, one spare younger one off
 * ->next). Pointers into a chunk never move. A frame occupies fn->frame_size
 * consecutive slots of one chunk:
 *
 *     [locals: nlocals][GvFrame header: GV_FRAME_SLOTS][operand stack: max_stack]
 *      ^ f->locals      ^ f                              ^ gv_frame_stack_base(f)
 *
 * and gv_frame_end(f) is one past its operand stack. The header's code is
 * borrowed: the function object in the slot below the locals (see below)
 * keeps it alive.
 *
 * The calling convention
 * ----------------------
 * A call from bytecode (CALL argc), on the caller's operand stack:
 *
 *     before:  [... callee][arg 0]...[arg argc-1]     the caller owns them all
 *                   ^ caller->sp (saved by CALL)
 *     during:  [... callee][locals 0..nlocals)[header][operand stack]
 *                           ^ the callee's locals ARE the argument slots
 *     after:   [... result]                        the result replaced the callee
 *
 * - Before the push the caller saves its sp pointing AT the callee slot, so
 *   the callee slot and the arguments are above the caller's saved stack.
 * - gv_frame_push makes the argument slots the callee's first locals: the
 *   references move to the callee (nothing is copied, nothing counted), and
 *   the other locals start as none. On failure (wrong argument count,
 *   recursion limit, no memory) nothing moved: the arguments are still the
 *   caller's, and it unwinds with them on its stack.
 * - During the call the callee slot, *caller->sp, holds the function: a strong
 *   reference that is still the caller's, and that keeps the callee's code
 *   alive. The callee owns its locals and its operand stack.
 * - gv_frame_pop drops everything the callee owns (operand stack, locals, the
 *   handled exceptions it entered) and makes the caller current. The caller
 *   then drops the callee slot and puts the result in it (a return), or drops
 *   it and goes on unwinding (an exception).
 * - When the callee's slots do not fit in the rest of the chunk, the frame
 *   starts a new chunk (f->owns_chunk) and the arguments are copied to its
 *   start; the old argument slots are dead (their references moved), and the
 *   callee slot stays where it was, at *caller->sp. Popping the frame goes
 *   back to the older chunk.
 *
 * An entry frame, from C (gv_frame_push_entry, used by gv_eval_call), takes
 * one reservation at gv_stack_top(ts), above everything the current frame may
 * use (its whole operand stack: it is in the middle of an instruction):
 *
 *     [callable][locals 0..nlocals)[header][operand stack]
 *      ^ f->locals[-1]
 *
 * The callable and the arguments are borrowed from the C caller; the frame
 * takes references of its own (the callable's slot plays the callee slot's
 * part). Since the reservation covers the whole frame, the push never needs a
 * chunk of its own; if the reservation started a new chunk, the frame owns it.
 * f->is_entry is set: the eval loop leaves when it pops this frame. The frame
 * is popped with gv_frame_pop like any other; the callable's slot is then
 * dropped by gv_frame_entry_done.
 *
 * Frames that will never run again (an abandoned thread, or thread states
 * nobody deleted, at finalization) are torn down by gv_frame_teardown_all,
 * which drops what each frame owns and, like the caller of a return, the
 * callee slot below it (or an entry frame's callable).
 *
 * Every function here runs on the thread that owns ts with the GIL held, or
 * (teardown) in the one thread left touching the VM. */
#ifndef GV_FRAME_H
#define GV_FRAME_H

#include <assert.h>

#include "code.h"
#include "func.h"
#include "object.h"
#include "tstate.h"

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

struct GvStackChunk {
    GvStackChunk *prev; /* the older chunk */
    GvStackChunk *next; /* a cached younger chunk, kept for reuse, or NULL */
    GvValue *end;       /* one past the last slot */
    GvValue data[];
};

/* ---- the data stack ---- */

/* Gives a new thread state its first chunk (never refused for the memory
 * limit: a thread must be able to enter the VM to be told it is out of
 * memory). 0, or -1 (nothing set: there may be no thread to set it on). */
int gv_stack_init(GvThreadState *ts);
/* Frees every chunk of ts (no frame left on it). */
void gv_stack_free(GvThreadState *ts);
/* The first free slot of ts's data stack: above the current frame. */
GvValue *gv_stack_top(GvThreadState *ts);
/* Reserves `n` slots on ts's data stack starting at `from` (a slot in the
 * current chunk at or above everything in use) for a new frame; returns where
 * the frame's locals begin: `from` itself if n slots fit in the current chunk,
 * else the start of a fresh chunk (with *new_chunk set; the caller copies its
 * arguments there). NULL with MemoryError set on failure. */
GV_COLD GvValue *gv_stack_reserve(GvThreadState *ts, GvValue *from, size_t n, bool *new_chunk);
/* Undoes a chunk switch made by gv_stack_reserve. */
GV_COLD void gv_stack_pop_chunk(GvThreadState *ts);

/* ---- frames ---- */

/* The exceptions gv_frame_push raises. -1. */
GV_COLD int gv_frame_argc_error(GvCode *code, int argc);
GV_COLD int gv_frame_recursion_error(void);

#define GV_FRAME_INLINE inline __attribute__((always_inline))

/* Pushes a frame for fn whose argc arguments are at args[0..argc), on the
 * caller's operand stack just above the callee slot (see the convention
 * above; ownership of the arguments moves to the new frame). Returns the
 * frame, now current, or NULL with an exception set (the arguments are then
 * still the caller's). The caller's saved sp must already point at the callee
 * slot. Inlined into CALL: this and gv_frame_pop are most of a call's cost. */
static GV_FRAME_INLINE GvFrame *gv_frame_push(GvThreadState *ts, GvFunction *fn, GvValue *args,
                                              int argc) {
    GvCode *code = fn->code;
    if (__builtin_expect((uint32_t)argc != fn->nparams, 0)) {
        gv_frame_argc_error(code, argc);
        return NULL;
    }
    assert(ts->recursion_depth >= 0);
    if (__builtin_expect(ts->recursion_depth >= ts->recursion_limit, 0)) {
        gv_frame_recursion_error();
        return NULL;
    }
    size_t need = fn->frame_size;
    bool new_chunk = false;
    GvValue *locals = args;
    if (__builtin_expect(need > (size_t)(ts->chunk->end - args), 0)) {
        locals = gv_stack_reserve(ts, args, need, &new_chunk);
        if (!locals) return NULL;
        for (int i = 0; i < argc; i++) locals[i] = args[i];
    }
    for (uint32_t i = (uint32_t)argc; i < fn->nlocals; i++) locals[i] = gv_none();
    GvFrame *f = (GvFrame *)(locals + fn->nlocals);
    f->code = code;
    f->consts = fn->consts;
    f->base = fn->quick; /* a traced thread switches it (CALL, run) */
    f->pc = f->base;
    f->sp = gv_frame_stack_base(f);
    f->locals = locals;
    f->prev = ts->current_frame;
    f->exc_base = ts->exc_depth;
    f->is_entry = 0;
    f->owns_chunk = new_chunk;
    ts->current_frame = f;
    ts->recursion_depth++;
    return f;
}

/* Pops f, the current frame, whose operand stack ends at sp: drops everything
 * it owns (operand stack, locals, the handled exceptions it entered) and makes
 * its caller current. The callee slot below it (or an entry frame's callable)
 * is left to the caller (gv_frame_entry_done for an entry frame). */
static GV_FRAME_INLINE void gv_frame_pop(GvThreadState *ts, GvFrame *f, GvValue *sp) {
    GvValue *base = gv_frame_stack_base(f);
    assert(f == ts->current_frame);
    assert(sp >= base && sp <= gv_frame_end(f));
    assert(ts->exc_depth >= f->exc_base);
    assert(ts->recursion_depth > 0);
    while (sp > base) gv_vdecref(*--sp);
    for (GvValue *l = f->locals; l < (GvValue *)f; l++) gv_vdecref(*l);
    if (__builtin_expect(ts->exc_depth > f->exc_base, 0)) gv_excinfo_pop_to(ts, f->exc_base);
    ts->recursion_depth--;
    ts->current_frame = f->prev;
    if (__builtin_expect(f->owns_chunk, 0)) gv_stack_pop_chunk(ts);
}

/* Pushes an entry frame for fn, called from C with argv[0..argc) (borrowed,
 * like callable, which must be fn): reserves [callable][locals][header][stack]
 * at gv_stack_top(ts) and takes references to the callable and the arguments.
 * Returns the frame, now current, with is_entry set; or NULL with an exception
 * set, and the data stack as it was. */
GvFrame *gv_frame_push_entry(GvThreadState *ts, GvFunction *fn, GvValue callable, int argc,
                             const GvValue *argv);
/* After the entry frame was popped: drops the reference its callable's slot
 * held (callable: what was given to gv_frame_push_entry). */
static inline void gv_frame_entry_done(GvValue callable) { gv_vdecref(callable); }

/* ---- frames that outlive a call: generators ----
 *
 * A generator's frame is not on any data stack while it is suspended: its
 * slots, laid out as on the stack ([locals][header][operand stack]), live in
 * a block of their own, with the handled exceptions of its running handlers
 * (see "The chain and generators" in tstate.h). A resume moves them onto the
 * resuming thread's data stack as an entry frame, whose callable slot holds
 * the generator (a strong reference, dropped with gv_frame_entry_done once
 * the frame is popped or suspended); a yield moves them back. Moving costs a
 * copy of the frame per resume, and in exchange ordinary calls never learn
 * that generators exist. */
typedef struct GvSavedFrame {
    GvValue *slots;             /* fn->frame_size values; NULL when there is no frame */
    uint32_t nstack;            /* operand stack depth */
    GvErr_StackItem *exc_items; /* innermost first; the outermost's previous_item is NULL */
    uint32_t nexc;
    bool moved;                 /* the values are on a data stack now (running) */
} GvSavedFrame;

/* A new saved frame for fn called with argv[0..argc) (borrowed; the frame
 * takes references), about to run its first instruction. 0, or -1 with the
 * exception set (wrong argument count, no memory) and s empty. */
int gv_saved_frame_init(GvSavedFrame *s, GvFunction *fn, int argc, const GvValue *argv);
/* Moves s onto ts's data stack as its current, entry frame (owner, a
 * strong reference taken here, in its callable slot) and links its handled
 * exceptions on ts's chain; counts as a call toward ts's recursion limit.
 * Returns the frame, or NULL with RecursionError/MemoryError set and s as it
 * was. s keeps its block for the next suspend. */
GvFrame *gv_saved_frame_resume(GvThreadState *ts, GvSavedFrame *s, GvFunction *fn, GvValue owner);
/* The reverse, at a yield: f is ts's current (entry) frame and sp its
 * stack top; moves its values and handled exceptions back into s and makes
 * the caller current. The owner's slot is the caller's (gv_frame_entry_done). */
void gv_saved_frame_suspend(GvThreadState *ts, GvFrame *f, GvValue *sp, GvSavedFrame *s);
/* Drops everything a saved frame holds and frees its block. */
void gv_saved_frame_clear(GvSavedFrame *s, GvFunction *fn);

/* Tears down every frame of ts, innermost first, as a pop would, and drops
 * each frame's callee slot (or an entry frame's callable): for a thread that
 * will never run them again. Afterwards ts has no frame, its recursion depth
 * is 0 and its data stack is back at its first chunk. The caller is the only
 * thread touching the VM (or ts's own thread, with no frame of ts running). */
void gv_frame_teardown_all(GvThreadState *ts);

#endif
