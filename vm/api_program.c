/* The public API: assembling, loading, saving, disassembling and running
 * programs. */
#include "api.h"

/* Verifies, then prepares the code for the eval loop. */
static GvProgram *verified(GvProgram *p, GvDiag *diag) {
    if (p && gv_verify_program(p, diag) < 0) {
        GvProgram_Free(p);
        return NULL;
    }
    if (p && gv_quicken_program(p) < 0) {
        GvThreadState *ts = gv_tstate_get();
        if (ts) gv_err_clear(ts);
        gv_diag_set(diag, p->filename ? gv_str_cstr(p->filename) : "?", 0, 0, "out of memory");
        GvProgram_Free(p);
        return NULL;
    }
    return p;
}

/* Loading makes objects, so the GIL is held; with no thread state at all
 * there is no interpreter to load into: a diagnostic. */
static bool can_load(const char *fn, const char *file, GvDiag *diag) {
    if (diag) memset(diag, 0, sizeof *diag);
    if (!gv_tstate_get()) {
        gv_diag_set(diag, file, 0, 0, "no thread state (call Gv_Initialize first)");
        return false;
    }
    gv_api_need_gil(fn);
    return true;
}

GvProgram *GvProgram_Assemble(const char *source, size_t len, const char *filename, GvDiag *diag) {
    if (!can_load("GvProgram_Assemble", filename, diag)) return NULL;
    return verified(gv_assemble(source, len, filename, diag), diag);
}

GvProgram *GvProgram_LoadBytes(const void *data, size_t len, const char *filename, GvDiag *diag) {
    if (!can_load("GvProgram_LoadBytes", filename, diag)) return NULL;
    return verified(gv_bytecode_load(data, len, filename, diag), diag);
}

GvProgram *GvProgram_LoadFile(const char *path, GvDiag *diag) {
    if (!can_load("GvProgram_LoadFile", path, diag)) return NULL;
    if (!path) {
        gv_diag_set(diag, NULL, 0, 0, "no file name (path is NULL)");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        gv_diag_set(diag, path, 0, 0, "cannot open file: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
        if (len == cap) {
            char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool read_error = ferror(f);
    fclose(f);
    if (!buf || read_error) {
        free(buf);
        gv_diag_set(diag, path, 0, 0, "cannot read file%s", buf ? "" : ": out of memory");
        return NULL;
    }
    /* A damaged .gvc goes to the loader too, which says it is one, rather
     * than to the assembler, which would report its bytes as bad text. */
    const uint8_t *bytes = (const uint8_t *)buf;
    GvProgram *p = gv_bytecode_is(bytes, len) || gv_bytecode_looks_damaged(bytes, len, path)
                       ? GvProgram_LoadBytes(buf, len, path, diag)
                       : GvProgram_Assemble(buf, len, path, diag);
    free(buf);
    return p;
}

int GvProgram_Save(const GvProgram *program, void **data, size_t *len) {
    if (!program || !data || !len) return -1;
    uint8_t *out = NULL;
    if (gv_bytecode_save(program, &out, len) < 0) return -1;
    *data = out;
    return 0;
}

void GvProgram_Disassemble(const GvProgram *program, void *file) {
    gv_api_need_gil("GvProgram_Disassemble");
    if (!program || !file) gv_api_fatal("GvProgram_Disassemble", program ? "NULL file" : "NULL program");
    gv_dis_program(program, file);
}

void GvProgram_Free(GvProgram *program) {
    if (!program) return;
    gv_api_need_gil("GvProgram_Free");
    for (uint32_t i = 0; i < program->ncode; i++)
        if (program->code[i]) gv_decref(&program->code[i]->ob);
    gv_xdecref(program->filename);
    free(program->code);
    free(program);
}

int GvProgram_Run(GvProgram *program, int *exit_status) {
    GvThreadState *ts = gv_api_need_gil("GvProgram_Run");
    int ignored;
    if (!exit_status) exit_status = &ignored;
    *exit_status = 0;
    if (!program) return gv_api_null_arg("GvProgram_Run", "program");
    if (gv_api_define_functions(ts, program) < 0) return -1;
    GvDict *globals = (GvDict *)ts->interp->globals;
    GvObject *name = gv_str_from_cstr("main");
    if (!name) return -1;
    GvValue main_fn;
    int found = gv_dict_get(globals, gv_obj(name), &main_fn);
    gv_decref(name);
    if (found < 0) return -1;
    if (found == 0) return gv_err_format(&gv_type_NameError, "name 'main' is not defined");
    GvValue result;
    int rc = gv_eval_call(ts, main_fn, 0, NULL, &result);
    gv_vdecref(main_fn);
    /* An asynchronous exception or pending call that arrived after main's
     * last check is not lost: it is raised here, as main's. */
    if (rc == 0 && gv_eb_test(ts, GV_EB_INTERRUPTS) && gv_breaker_handle_interrupts(ts) < 0) {
        gv_vdecref(result);
        rc = -1;
    }
    if (rc < 0) return -1;
    if (gv_is_int(result)) *exit_status = (int)result.as.i;
    gv_vdecref(result);
    return 0;
}

int Gv_SetArgv(int argc, char **argv) {
    gv_api_need_gil("Gv_SetArgv");
    if (argc > 0 && !argv) return gv_api_null_arg("Gv_SetArgv", "argv");
    for (int i = 0; i < argc; i++)
        if (!argv[i]) return gv_api_null_arg("Gv_SetArgv", "an argv[i]");
    GvObject *l = gv_list_new((size_t)(argc > 0 ? argc : 0));
    if (!l) return -1;
    for (int i = 0; i < argc; i++) {
        GvObject *s = gv_str_from_cstr(argv[i]);
        if (!s || gv_list_append((GvList *)l, gv_obj(s)) < 0) {
            gv_xdecref(s);
            gv_decref(l);
            return -1;
        }
        gv_decref(s);
    }
    GvInterpreterState *interp = gv_tstate_get()->interp;
    gv_xdecref(interp->argv);
    interp->argv = l;
    return 0;
}

