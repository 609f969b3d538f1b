/* Bytecode functions and builtins. */
#include "func.h"

#include <stdlib.h>

GvObject *gv_function_new(GvCode *code) {
    GvKind kind = (code->flags & GV_CODE_GENERATOR) ? GV_KGENFUNC : GV_KFUNC;
    GvFunction *f = (GvFunction *)gv_object_new(kind, sizeof(GvFunction));
    if (!f) return NULL;
    f->code = code;
    f->nparams = code->nparams;
    f->nlocals = code->nlocals;
    f->frame_size = code->frame_size;
    f->quick = code->quick;
    f->consts = code->consts;
    gv_incref(&code->ob);
    return &f->ob;
}

void gv_function_dealloc(GvObject *o) {
    GvFunction *f = (GvFunction *)o;
    gv_decref(&f->code->ob);
    gv_free(f);
}

GvObject *gv_builtin_new(const char *name, GvBuiltinFn fn, int min_args, int max_args) {
    GvBuiltin *b = (GvBuiltin *)gv_object_new(GV_KBUILTIN, sizeof(GvBuiltin));
    if (!b) return NULL;
    b->name = name;
    b->fn = fn;
    b->min_args = (int16_t)min_args;
    b->max_args = (int16_t)max_args;
    return &b->ob;
}

void gv_builtin_dealloc(GvObject *o) { gv_free(o); }
