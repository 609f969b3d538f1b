/* Frames and the per-thread data stack: chunks, entry frames from C, and the
 * teardown of frames that will never run again. The calling convention, and
 * the push and pop of the eval loop's calls (inline), are in frame.h. */
#include "frame.h"

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
