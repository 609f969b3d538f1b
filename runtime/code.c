/* Code objects and programs. */
#include "code.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "str.h"

GvCode *gv_code_new(GvObject *name, GvObject *filename, uint32_t nparams, uint32_t nlocals,
                    uint32_t ninstrs, uint32_t nconsts, uint32_t nnames, uint32_t nexc) {
    GvCode *c = (GvCode *)gv_object_new(GV_KCODE, sizeof(GvCode));
    if (!c) return NULL;
    c->nparams = nparams;
    c->nlocals = nlocals;
    /* Counts are set only once their arrays exist, so dealloc of a half-built
     * code object frees exactly what was allocated. */
    c->instrs = gv_calloc(ninstrs ? ninstrs : 1, sizeof(GvInstr));
    c->pos = gv_calloc(ninstrs ? ninstrs : 1, sizeof(GvSrcPos));
    if (!c->instrs || !c->pos) goto fail;
    c->ninstrs = ninstrs;
    c->consts = gv_calloc(nconsts ? nconsts : 1, sizeof(GvValue));
    if (!c->consts) goto fail;
    c->nconsts = nconsts; /* calloc'ed values are none (tag 0) */
    c->names = gv_calloc(nnames ? nnames : 1, sizeof(GvObject *));
    if (!c->names) goto fail;
    c->nnames = nnames;
    c->localnames = gv_calloc(nlocals ? nlocals : 1, sizeof(GvObject *));
    if (!c->localnames) goto fail;
    c->exc = gv_calloc(nexc ? nexc : 1, sizeof(GvExcEntry));
    if (!c->exc) goto fail;
    c->nexc = nexc;
    c->name = name;
    if (name) gv_incref(name);
    c->filename = filename;
    if (filename) gv_incref(filename);
    return c;
fail:
    gv_decref(&c->ob);
    return NULL;
}

void gv_code_dealloc(GvObject *o) {
    GvCode *c = (GvCode *)o;
    gv_xdecref(c->name);
    gv_xdecref(c->filename);
    for (uint32_t i = 0; i < c->nconsts; i++) gv_vdecref(c->consts[i]);
    for (uint32_t i = 0; i < c->nnames; i++) gv_xdecref(c->names[i]);
    if (c->localnames)
        for (uint32_t i = 0; i < c->nlocals; i++) gv_xdecref(c->localnames[i]);
    gv_free(c->instrs);
    gv_free(c->pos);
    gv_free(c->consts);
    gv_free(c->names);
    gv_free(c->localnames);
    gv_free(c->exc);
    gv_free(c->quick); /* counted: vm/quicken.c, vm/eval.c */
    gv_free(c->traced);
    gv_free(c->gcache);
    gv_free(c);
}

uint32_t gv_code_line(const GvCode *code, uint32_t pc) {
    if (!code->pos || pc >= code->ninstrs) return 0;
    return code->pos[pc].line;
}

GvProgram *gv_program_new(GvObject *filename, uint32_t ncode) {
    GvProgram *p = calloc(1, sizeof *p);
    if (!p) {
        gv_err_nomemory();
        return NULL;
    }
    p->code = calloc(ncode ? ncode : 1, sizeof(GvCode *));
    if (!p->code) {
        free(p);
        gv_err_nomemory();
        return NULL;
    }
    p->ncode = ncode;
    p->filename = filename;
    if (filename) gv_incref(filename);
    return p;
}

int gv_program_find(const GvProgram *p, const char *name) {
    for (uint32_t i = 0; i < p->ncode; i++) {
        GvCode *c = p->code[i];
        if (c && c->name && strcmp(gv_str_cstr(c->name), name) == 0) return (int)i;
    }
    return -1;
}
