/* Generator objects (see gen.h): allocation, repr, teardown. */
#include "gen.h"

#include "str.h"
#include "tstate.h"

const char *gv_gen_name(const GvGen *g) {
    GvCode *c = g->func->code;
    return c->name ? gv_str_cstr(c->name) : "?";
}

void gv_gen_drop_frame(GvGen *g) {
    g->state = GV_GEN_FINISHED;
    gv_saved_frame_clear(&g->frame, g->func);
}

static void gen_dealloc(GvObject *o) {
    GvGen *g = (GvGen *)o;
    /* A generator freed while RUNNING: the thread running it was torn down
     * at finalization (its frame went with it). */
    gv_saved_frame_clear(&g->frame, g->func);
    GvObject *fz = g->finalizer;
    g->finalizer = NULL;
    gv_xdecref(fz);
    gv_decref(&g->func->ob);
}

/* Finalization breaks cycles through a suspended frame (a generator that
 * holds itself in a local). Nothing runs: the program has ended. */
static void gen_clear(GvObject *o) {
    GvGen *g = (GvGen *)o;
    if (g->state != GV_GEN_RUNNING) gv_gen_drop_frame(g);
    GvObject *fz = g->finalizer;
    g->finalizer = NULL;
    gv_xdecref(fz);
}

int gv_gen_repr(GvBuf *b, GvObject *o) {
    GvGen *g = (GvGen *)o;
    return gv_buf_printf(b, "<%s %s>", g->is_async ? "async_generator" : "generator",
                         gv_gen_name(g));
}

void gv_gen_finalize(GvObject *o) {
    GvThreadState *ts = gv_tstate_get();
    if (ts && ts->interp->gen_finalize) ts->interp->gen_finalize((GvGen *)o);
}

/* Freed as a GvNative (gv_native_dealloc calls dealloc); tracked so that
 * finalization's clear breaks cycles through frames. */
static const GvNativeType gen_type = {"generator", gen_dealloc, gen_clear};
static const GvNativeType agen_type = {"async_generator", gen_dealloc, gen_clear};

GvObject *gv_gen_new(GvFunction *fn, int argc, const GvValue *argv) {
    GvSavedFrame frame;
    if (gv_saved_frame_init(&frame, fn, argc, argv) < 0) return NULL;
    bool is_async = (fn->code->flags & GV_CODE_ASYNC) != 0;
    GvGen *g = (GvGen *)gv_object_new(GV_KGEN, sizeof(GvGen));
    if (!g) {
        gv_saved_frame_clear(&frame, fn);
        return NULL;
    }
    g->nat.type = is_async ? &agen_type : &gen_type;
    gv_track(&g->nat.link);
    g->nat.ob.flags |= GV_OBJ_TRACKED;
    g->func = fn;
    gv_incref(&fn->ob);
    g->frame = frame;
    g->state = GV_GEN_CREATED;
    g->is_async = is_async;
    return &g->nat.ob;
}
