/* Frames and the per-thread data stack: chunks, entry frames from C, and the
 * teardown of frames that will never run again. The calling convention, and
 * the push and pop of the eval loop's calls (inline), are in frame.h. */
#include "frame.h"

#include <string.h>

#include "errors.h"
#include "exc.h"
#include "str.h"

/* ---- the data stack ---- */

/* 8192 slots = 128 KiB: a few hundred typical frames per chunk, so deep
 * recursion takes a new chunk rarely and shallow programs never do. */
#define CHUNK_SLOTS 8192u

/* Chunks count against the memory limit (runtime/object.c), except a thread
 * state's first one: making a thread state must not fail on the limit (a
 * callback thread's GvGILState_Ensure has no way to report it). Any thread
 * may free them: whoever deletes the thread state. */
static GvStackChunk *chunk_new(size_t slots, bool limited) {
    if (slots > (SIZE_MAX - sizeof(GvStackChunk)) / sizeof(GvValue)) return NULL;
    unsigned flags = GV_MEM_ANY_THREAD | (limited ? 0 : GV_MEM_NO_LIMIT);
    GvStackChunk *c = gv_mem_alloc(sizeof(GvStackChunk) + slots * sizeof(GvValue), flags);
    if (!c) return NULL;
    c->prev = c->next = NULL;
    c->end = c->data + slots;
    return c;
}

int gv_stack_init(GvThreadState *ts) {
    ts->chunk = chunk_new(CHUNK_SLOTS, false);
    return ts->chunk ? 0 : -1;
}

void gv_stack_free(GvThreadState *ts) {
    /* The current chunk is the oldest one when no frame is running. */
    GvStackChunk *c = ts->chunk;
    if (!c) return;
    while (c->prev) c = c->prev;
    while (c) {
        GvStackChunk *next = c->next;
        gv_mem_free(c, GV_MEM_ANY_THREAD);
        c = next;
    }
    ts->chunk = NULL;
}

GvValue *gv_stack_top(GvThreadState *ts) {
    return ts->current_frame ? gv_frame_end(ts->current_frame) : ts->chunk->data;
}

GvValue *gv_stack_reserve(GvThreadState *ts, GvValue *from, size_t n, bool *new_chunk) {
    GvStackChunk *cur = ts->chunk;
    assert(from >= cur->data && from <= cur->end);
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
    assert(young->prev); /* the first chunk is never popped */
    /* Keep `young` cached for the next deep call, but nothing beyond it. */
    if (young->next) {
        gv_mem_free(young->next, GV_MEM_ANY_THREAD);
        young->next = NULL;
    }
    ts->chunk = young->prev;
}

/* ---- frames ---- */

int gv_frame_argc_error(GvCode *code, int argc) {
    return gv_err_format(&gv_type_TypeError, "%s() takes %u argument%s (%d given)",
                         gv_str_cstr(code->name), code->nparams, code->nparams == 1 ? "" : "s",
                         argc);
}

int gv_frame_recursion_error(void) {
    return gv_err_format(&gv_type_RecursionError, "maximum recursion depth exceeded");
}

GvFrame *gv_frame_push_entry(GvThreadState *ts, GvFunction *fn, GvValue callable, int argc,
                             const GvValue *argv) {
    assert(gv_is_kind(callable, GV_KFUNC) && (GvFunction *)callable.as.o == fn);
    GvCode *code = fn->code;
    /* One reservation for the whole frame: a wrong argument count may need
     * room for more locals than the function has. */
    size_t nlocals = code->nlocals > (uint32_t)argc ? code->nlocals : (size_t)argc;
    size_t need = 1 + nlocals + GV_FRAME_SLOTS + code->max_stack;
    bool new_chunk = false;
    GvValue *slots = gv_stack_top(ts);
    if (need > (size_t)(ts->chunk->end - slots)) { /* the rare case stays out of line */
        slots = gv_stack_reserve(ts, slots, need, &new_chunk);
        if (!slots) return NULL;
    }
    slots[0] = gv_vincref(callable);
    for (int i = 0; i < argc; i++) slots[i + 1] = gv_vincref(argv[i]);
    GvFrame *f = gv_frame_push(ts, fn, slots + 1, argc);
    if (!f) {
        for (int i = 0; i <= argc; i++) gv_vdecref(slots[i]);
        if (new_chunk) gv_stack_pop_chunk(ts);
        return NULL;
    }
    f->is_entry = 1;
    f->owns_chunk = new_chunk;
    return f;
}

void gv_frame_teardown_all(GvThreadState *ts) {
    while (ts->current_frame) {
        GvFrame *f = ts->current_frame;
        /* The slot that holds f's function: an entry frame's own, or the
         * caller's callee slot (the caller's saved sp points at it). */
        GvValue fn = f->is_entry ? f->locals[-1] : f->prev ? *f->prev->sp : gv_none();
        gv_frame_pop(ts, f, f->sp);
        gv_vdecref(fn);
    }
    assert(ts->recursion_depth == 0);
}

/* ---- saved frames (generators) ---- */

int gv_saved_frame_init(GvSavedFrame *s, GvFunction *fn, int argc, const GvValue *argv) {
    GvCode *code = fn->code;
    memset(s, 0, sizeof *s);
    if ((uint32_t)argc != code->nparams) return gv_frame_argc_error(code, argc);
    /* Counted against the memory limit like the data stack's chunks. */
    GvValue *slots = gv_malloc((size_t)fn->frame_size * sizeof(GvValue));
    if (!slots) return -1;
    for (uint32_t i = 0; i < fn->nlocals; i++)
        slots[i] = i < (uint32_t)argc ? gv_vincref(argv[i]) : gv_none();
    GvFrame *f = (GvFrame *)(slots + fn->nlocals);
    memset(f, 0, sizeof *f);
    f->code = code;
    f->consts = fn->consts;
    f->base = f->pc = fn->quick;
    s->slots = slots;
    return 0;
}

GvFrame *gv_saved_frame_resume(GvThreadState *ts, GvSavedFrame *s, GvFunction *fn, GvValue owner) {
    assert(s->slots);
    if (ts->recursion_depth >= ts->recursion_limit) {
        gv_frame_recursion_error();
        return NULL;
    }
    uint32_t nlocals = fn->nlocals;
    bool new_chunk = false;
    GvValue *at = gv_stack_reserve(ts, gv_stack_top(ts), 1 + (size_t)fn->frame_size, &new_chunk);
    if (!at) return NULL;
    at[0] = gv_vincref(owner);
    GvValue *locals = at + 1;
    size_t live = nlocals + GV_FRAME_SLOTS + s->nstack;
    memcpy(locals, s->slots, live * sizeof(GvValue)); /* the references move */
    GvFrame *f = (GvFrame *)(locals + nlocals);
    /* A frame suspended while its thread was traced resumes on the plain
     * array; the eval loop switches it again if this thread is traced. */
    f->pc = fn->quick + (f->pc - f->base);
    f->base = fn->quick;
    f->locals = locals;
    f->sp = gv_frame_stack_base(f) + s->nstack;
    f->prev = ts->current_frame;
    f->exc_base = ts->exc_depth;
    f->is_entry = 1;
    f->owns_chunk = new_chunk;
    if (s->nexc) {
        GvErr_StackItem *outer = s->exc_items;
        while (outer->previous_item) outer = outer->previous_item;
        outer->previous_item = ts->exc_info;
        ts->exc_info = s->exc_items;
        ts->exc_depth += s->nexc;
    }
    s->exc_items = NULL;
    s->nexc = 0;
    s->nstack = 0;
    s->moved = true;
    ts->current_frame = f;
    ts->recursion_depth++;
    return f;
}

void gv_saved_frame_suspend(GvThreadState *ts, GvFrame *f, GvValue *sp, GvSavedFrame *s) {
    assert(f == ts->current_frame && f->is_entry && s->slots && s->moved);
    s->moved = false;
    assert(ts->exc_depth >= f->exc_base);
    uint32_t nlocals = f->code->nlocals;
    s->nstack = (uint32_t)(sp - gv_frame_stack_base(f));
    s->nexc = ts->exc_depth - f->exc_base;
    s->exc_items = NULL;
    if (s->nexc) {
        GvErr_StackItem *top = ts->exc_info, *outer = top;
        for (uint32_t i = 1; i < s->nexc; i++) outer = outer->previous_item;
        ts->exc_info = outer->previous_item;
        outer->previous_item = NULL;
        ts->exc_depth = f->exc_base;
        s->exc_items = top;
    }
    GvValue *locals = f->locals;
    GvFrame *prev = f->prev;
    bool owns_chunk = f->owns_chunk;
    memcpy(s->slots, locals, (nlocals + GV_FRAME_SLOTS + s->nstack) * sizeof(GvValue));
    ts->recursion_depth--;
    ts->current_frame = prev;
    if (owns_chunk) gv_stack_pop_chunk(ts);
}

void gv_saved_frame_clear(GvSavedFrame *s, GvFunction *fn) {
    GvValue *slots = s->slots;
    GvErr_StackItem *items = s->exc_items;
    uint32_t nstack = s->nstack;
    bool moved = s->moved;
    memset(s, 0, sizeof *s); /* first: a destructor below may look at the generator */
    while (items) {
        GvErr_StackItem *it = items;
        items = it->previous_item;
        GvObject *exc = it->exc_value;
        gv_mem_free(it, GV_MEM_ANY_THREAD);
        gv_decref(exc);
    }
    if (!slots) return;
    if (moved) { /* its values went with the frame (popped, or torn down) */
        gv_free(slots);
        return;
    }
    GvValue *stack = slots + fn->nlocals + GV_FRAME_SLOTS;
    for (uint32_t i = 0; i < nstack; i++) gv_vdecref(stack[i]);
    for (uint32_t i = 0; i < fn->nlocals; i++) gv_vdecref(slots[i]);
    gv_free(slots);
}
