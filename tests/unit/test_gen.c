/* Generators (runtime/gen.h, runtime/frame.h's saved frames, vm/gen.c): the
 * generator flag and .async through the assembler, the verifier, dis and
 * .gvc; a suspended frame off the data stack and its handled exceptions off
 * the thread's chain; memory counted; trace events at resume and yield; the
 * async-generator hooks' C API and the thread state's clear; Ctrl-C landing
 * inside a running generator. The language
 * rules themselves are tested by the programs in tests/programs/gen/. */
#include <stdio.h>

#include <signal.h>

#include "gvtest.h"

#include "../../runtime/frame.h"
#include "../../runtime/gen.h"
#include "../../runtime/list.h"
#include "../../vm/bytecode.h"
#include "../../vm/verify.h"

static const char SRC[] =
    ".func gen n\n"
    "s:\n"
    "    LOAD_FAST n\n"
    "    YIELD_VALUE\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL ValueError\n"
    "    RAISE\n"
    "e:\n"
    "h:\n"
    "    LOAD_CONST 10\n"           /* a value on the stack across the yield */
    "    LOAD_GLOBAL exc_info\n"
    "    CALL 0\n"
    "    YIELD_VALUE\n"
    "    POP_TOP\n"
    "    POP_TOP\n"
    "    POP_TOP\n"
    "    POP_EXCEPT\n"
    "    LOAD_CONST 7\n"
    "    RETURN_VALUE\n"
    ".try s e h\n"
    ".end\n"
    ".func agen\n"
    ".async\n"
    "    LOAD_CONST 1\n"
    "    YIELD_VALUE\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func plain\n"
    "    LOAD_CONST 1\n"
    "    RETURN_VALUE\n"
    ".end\n";

static GvProgram *assemble(const char *src) {
    GvDiag d;
    memset(&d, 0, sizeof d);
    GvProgram *p = GvProgram_Assemble(src, strlen(src), "t.gva", &d);
    if (!p) fail_msg("load error: %s", d.text);
    return p;
}

static GvCode *code_named(GvProgram *p, const char *name) {
    int i = gv_program_find(p, name);
    assert_true(i >= 0);
    return p->code[i];
}

/* Defines SRC's functions as globals; returns the global `name` (borrowed). */
static GvValue define_and_get(const char *name) {
    GvProgram *p = assemble(SRC);
    GvThreadState *ts = GvThreadState_Get();
    GvDict *globals = (GvDict *)ts->interp->globals;
    for (uint32_t i = 0; i < p->ncode; i++) {
        GvObject *fn = gv_function_new(p->code[i]);
        assert_non_null(fn);
        assert_int_equal(gv_dict_set(globals, gv_obj(p->code[i]->name), gv_obj(fn)), 0);
        gv_decref(fn);
    }
    GvProgram_Free(p);
    GvObject *key = gv_str_from_cstr(name);
    GvValue v;
    assert_int_equal(gv_dict_get(globals, gv_obj(key), &v), 1);
    gv_decref(key);
    gv_vdecref(v);
    return v;
}

/* Calls the builtin `name` with argv (borrowed). */
static int call_builtin(const char *name, int argc, GvValue *argv, GvValue *out) {
    GvThreadState *ts = GvThreadState_Get();
    GvObject *key = gv_str_from_cstr(name);
    GvValue b;
    assert_int_equal(gv_dict_get((GvDict *)ts->interp->builtins, gv_obj(key), &b), 1);
    gv_decref(key);
    int rc = gv_eval_call(ts, b, argc, argv, out);
    gv_vdecref(b);
    return rc;
}

static void test_flags_through_verifier_dis_and_gvc(void **state) {
    (void)state;
    GvProgram *p = assemble(SRC);
    assert_int_equal(code_named(p, "gen")->flags, GV_CODE_GENERATOR);
    assert_int_equal(code_named(p, "agen")->flags, GV_CODE_GENERATOR | GV_CODE_ASYNC);
    assert_int_equal(code_named(p, "plain")->flags, 0);

    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    GvProgram_Disassemble(p, f);
    fclose(f);
    assert_non_null(strstr(text, ".func agen\n.async\n"));
    assert_non_null(strstr(text, "YIELD_VALUE"));
    /* The disassembly assembles back to the same flags. */
    GvProgram *again = assemble(text);
    assert_int_equal(code_named(again, "agen")->flags, GV_CODE_GENERATOR | GV_CODE_ASYNC);
    GvProgram_Free(again);
    free(text);

    void *img;
    size_t len;
    assert_int_equal(GvProgram_Save(p, &img, &len), 0);
    GvDiag d;
    GvProgram *loaded = GvProgram_LoadBytes(img, len, "t.gvc", &d);
    if (!loaded) fail_msg("%s", d.text);
    assert_int_equal(code_named(loaded, "gen")->flags, GV_CODE_GENERATOR);
    assert_int_equal(code_named(loaded, "agen")->flags, GV_CODE_GENERATOR | GV_CODE_ASYNC);
    assert_int_equal(code_named(loaded, "plain")->flags, 0);
    GvProgram_Free(loaded);
    free(img);
    GvProgram_Free(p);
}

static void test_verifier_rejects_async_without_yield_and_unknown_flags(void **state) {
    (void)state;
    GvProgram *p = assemble(SRC);
    GvCode *c = code_named(p, "plain");
    c->verified = false;
    c->flags = GV_CODE_ASYNC;
    GvDiag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_code(c, &d), -1);
    assert_non_null(strstr(d.text, "async generator function must contain YIELD_VALUE"));
    c->flags = 0x80;
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_code(c, &d), -1);
    assert_non_null(strstr(d.text, "unknown function flags"));
    /* A forged GENERATOR flag is not trusted: the verifier finds it again. */
    c->flags = GV_CODE_GENERATOR;
    assert_int_equal(gv_verify_code(c, &d), 0);
    assert_int_equal(c->flags, 0);
    GvProgram_Free(p);
}

static void test_gvc_with_unknown_flags_is_a_load_error(void **state) {
    (void)state;
    GvProgram *p = assemble(".func main\n    LOAD_CONST 0\n    RETURN_VALUE\n.end\n");
    void *img;
    size_t len;
    assert_int_equal(GvProgram_Save(p, &img, &len), 0);
    /* header 8, filename str (4 + 5 "t.gva"), nfuncs 4, name (4 + 4), nparams,
     * nlocals, firstline: the flags word comes next. */
    size_t at = 8 + 4 + 5 + 4 + 4 + 4 + 4 + 4 + 4;
    uint8_t *b = img;
    assert_int_equal(b[at], 0);
    b[at] = 0x10;
    GvDiag d;
    assert_null(GvProgram_LoadBytes(img, len, "t.gvc", &d));
    assert_non_null(strstr(d.text, "unknown function flags 0x10"));
    free(img);
    GvProgram_Free(p);
}

/* A suspended generator's frame is off the data stack and its handled
 * exception off the thread's chain; a resume puts both back. */
static void test_suspended_frame_and_handled_exception_leave_the_thread(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue fn = define_and_get("gen");
    assert_true(gv_is_kind(fn, GV_KGENFUNC));
    GvValue arg = gv_int(5), g;
    assert_int_equal(gv_eval_call(ts, fn, 1, &arg, &g), 0);
    assert_true(gv_is_gen(g));
    GvGen *gen = gv_as_gen(g);
    assert_int_equal(gen->state, GV_GEN_CREATED);

    GvValue *top = gv_stack_top(ts);
    int depth = ts->recursion_depth;
    uint32_t exc_depth = ts->exc_depth;
    GvValue v;
    assert_int_equal(call_builtin("next", 1, &g, &v), 0);
    assert_int_equal(v.as.i, 5);
    assert_int_equal(gen->state, GV_GEN_SUSPENDED);
    assert_ptr_equal(gv_stack_top(ts), top);
    assert_int_equal(ts->recursion_depth, depth);
    assert_int_equal(gen->frame.nexc, 0);

    /* Now inside its handler, with 10 and exc_info() on its stack. */
    assert_int_equal(call_builtin("next", 1, &g, &v), 0);
    assert_true(gv_is_kind(v, GV_KEXC));
    assert_ptr_equal(gv_as_exc(v)->type, &gv_type_ValueError);
    assert_int_equal(ts->exc_depth, exc_depth);
    assert_null(ts->exc_info);
    assert_int_equal(gen->frame.nexc, 1);
    assert_ptr_equal(gen->frame.exc_items->exc_value, v.as.o);
    assert_null(gen->frame.exc_items->previous_item);
    assert_int_equal(gen->frame.nstack, 2); /* 10 and the exception, under the yield */
    assert_ptr_equal(gv_stack_top(ts), top);
    gv_vdecref(v);

    /* Resumed from inside a handler of ours: the generator's item goes on
     * top of ours and leaves again; it returns 7 (StopIteration). */
    GvObject *ours = gv_exc_new(&gv_type_KeyError, NULL, gv_none());
    assert_int_equal(gv_excinfo_push(ts, ours), 0);
    assert_int_equal(call_builtin("next", 1, &g, &v), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_StopIteration);
    assert_string_equal(gvt_exc_message(), "7");
    gv_err_clear(ts);
    assert_ptr_equal(gv_excinfo_top(ts), ours);
    assert_int_equal(ts->exc_depth, exc_depth + 1);
    gv_excinfo_pop(ts);
    gv_decref(ours);
    assert_int_equal(gen->state, GV_GEN_FINISHED);
    assert_null(gen->frame.slots);
    assert_ptr_equal(gv_stack_top(ts), top);
    assert_int_equal(ts->recursion_depth, depth);
    gv_vdecref(g);
}

/* The saved frame is counted memory, freed with the generator. */
static void test_generator_frames_are_counted_memory(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue fn = define_and_get("gen");
    size_t before = Gv_GetMemoryUsage();
    GvObject *l = gv_list_new(0);
    for (int i = 0; i < 100; i++) {
        GvValue arg = gv_int(i), g;
        assert_int_equal(gv_eval_call(ts, fn, 1, &arg, &g), 0);
        assert_int_equal(gv_list_append_steal((GvList *)l, g), 0);
    }
    size_t frame_bytes = ((GvFunction *)fn.as.o)->frame_size * sizeof(GvValue);
    assert_true(Gv_GetMemoryUsage() >= before + 100 * frame_bytes);
    gv_decref(l);
    assert_true(Gv_GetMemoryUsage() <= before + 4096);
    /* Past the limit, making a generator raises MemoryError. */
    Gv_SetMemoryLimit(Gv_GetMemoryUsage() + 64);
    GvValue arg = gv_int(0), g;
    int rc = 0;
    GvObject *keep = gv_list_new(0);
    for (int i = 0; i < 1000 && rc == 0; i++) {
        rc = gv_eval_call(ts, fn, 1, &arg, &g);
        if (rc == 0 && gv_list_append_steal((GvList *)keep, g) < 0) rc = -1;
    }
    Gv_SetMemoryLimit(0);
    assert_int_equal(rc, -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_MemoryError);
    gv_err_clear(ts);
    if (keep) gv_decref(keep);
}

static int nevents;
static char events[16][64];

static int record(void *userdata, const GvTraceEvent *e) {
    (void)userdata;
    static const char *names[] = {[GV_TRACE_CALL] = "call", [GV_TRACE_EXCEPTION] = "exception",
                                  [GV_TRACE_LINE] = "line", [GV_TRACE_RETURN] = "return",
                                  [GV_TRACE_OPCODE] = "opcode"};
    if ((e->what == GV_TRACE_CALL || e->what == GV_TRACE_RETURN) && nevents < 16)
        snprintf(events[nevents++], sizeof events[0], "%s %s", names[e->what], e->function);
    return 0;
}

static void test_trace_sees_a_resume_as_a_call_and_a_yield_as_a_return(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue fn = define_and_get("agen"), g, v;
    assert_int_equal(gv_eval_call(ts, fn, 0, NULL, &g), 0);
    nevents = 0;
    GvEval_SetTrace(record, NULL);
    assert_int_equal(call_builtin("next", 1, &g, &v), 0);
    assert_int_equal(call_builtin("next", 1, &g, &v), -1);
    GvEval_SetTrace(NULL, NULL);
    gv_err_clear(ts);
    assert_int_equal(nevents, 4);
    assert_string_equal(events[0], "call agen");
    assert_string_equal(events[1], "return agen");
    assert_string_equal(events[2], "call agen");
    assert_string_equal(events[3], "return agen");
    gv_vdecref(g);
}

static void test_asyncgen_hooks_c_api(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue fn = define_and_get("plain");
    GvObject *fi = NULL, *fz = NULL;
    GvThreadState_GetAsyncGenHooks(&fi, &fz);
    assert_null(fi);
    assert_null(fz);
    int64_t refs = fn.as.o->refcnt;
    assert_int_equal(GvThreadState_SetAsyncGenHooks(fn.as.o, NULL), 0);
    assert_int_equal(fn.as.o->refcnt, refs + 1);
    /* Not callable: TypeError, nothing changed. */
    GvObject *l = gv_list_new(0);
    assert_int_equal(GvThreadState_SetAsyncGenHooks(NULL, l), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_TypeError);
    gv_err_clear(ts);
    gv_decref(l);
    GvThreadState_GetAsyncGenHooks(&fi, &fz);
    assert_ptr_equal(fi, fn.as.o);
    assert_null(fz);
    gv_decref(fi);
    /* What the program sees is the same hooks. */
    GvValue hooks;
    assert_int_equal(call_builtin("get_asyncgen_hooks", 0, NULL, &hooks), 0);
    assert_int_equal(((GvList *)hooks.as.o)->size, 2);
    assert_ptr_equal(((GvList *)hooks.as.o)->items[0].as.o, fn.as.o);
    assert_true(gv_is_none(((GvList *)hooks.as.o)->items[1]));
    gv_vdecref(hooks);
    /* A thread state's clear drops them. */
    assert_int_equal(GvThreadState_SetAsyncGenHooks(fn.as.o, fn.as.o), 0);
    assert_int_equal(fn.as.o->refcnt, refs + 2);
    gv_tstate_clear(ts);
    assert_int_equal(fn.as.o->refcnt, refs);
    GvThreadState_GetAsyncGenHooks(&fi, &fz);
    assert_null(fi);
    assert_null(fz);
}

/* A generator freed at finalization while suspended (a cycle through its own
 * frame) leaks nothing: checked by ASan's leak check in the sanitizer build. */
static void test_suspended_cycle_freed_at_finalize(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue fn = define_and_get("gen");
    GvObject *l = gv_list_new(0);
    GvValue arg = gv_obj(l), g, v;
    assert_int_equal(gv_eval_call(ts, fn, 1, &arg, &g), 0);
    assert_int_equal(call_builtin("next", 1, &g, &v), 0);
    gv_vdecref(v);
    /* The list holds the generator whose frame holds the list. */
    assert_int_equal(gv_list_append_steal((GvList *)l, g), 0);
    gv_decref(l);
}

/* Ctrl-C lands inside a running generator (at its loop's backward jump),
 * whose own handler catches the KeyboardInterrupt and yields. */
static const char SIGINT_SRC[] =
    ".func spin\n"
    " .try s e h\n"
    "s:\n JUMP s\n"
    "e:\n"
    "h:\n LOAD_GLOBAL KeyboardInterrupt\n CHECK_EXC_MATCH\n POP_JUMP_IF_FALSE other\n"
    " POP_TOP\n POP_EXCEPT\n LOAD_CONST \"caught in the generator\"\n YIELD_VALUE\n RETURN_VALUE\n"
    "other:\n RERAISE\n.end\n"
    ".func drive\n LOAD_GLOBAL next\n LOAD_GLOBAL spin\n CALL 0\n CALL 1\n RETURN_VALUE\n.end\n";

static void *send_sigint(void *p) {
    gvt_msleep(50);
    pthread_kill(*(pthread_t *)p, SIGINT);
    return NULL;
}

static int signals_setup(void **state) {
    (void)state;
    if (!Gv_Initialize()) return -1;
    return Gv_InitSignals();
}

static void test_sigint_lands_inside_a_running_generator(void **state) {
    (void)state;
    gvt_load(SIGINT_SRC);
    pthread_t self = pthread_self(), t;
    gvt_watchdog_arm(30, "drive");
    assert_int_equal(pthread_create(&t, NULL, send_sigint, &self), 0);
    GvValue r = gvt_call_ok("drive", 0, NULL);
    pthread_join(t, NULL);
    gvt_watchdog_disarm();
    assert_true(gv_is_kind(r, GV_KSTR));
    assert_string_equal(gv_str_cstr(r.as.o), "caught in the generator");
    gv_vdecref(r);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flags_through_verifier_dis_and_gvc, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_verifier_rejects_async_without_yield_and_unknown_flags,
                                        gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_gvc_with_unknown_flags_is_a_load_error, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_suspended_frame_and_handled_exception_leave_the_thread,
                                        gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_generator_frames_are_counted_memory, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_trace_sees_a_resume_as_a_call_and_a_yield_as_a_return,
                                        gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_asyncgen_hooks_c_api, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_suspended_cycle_freed_at_finalize, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_lands_inside_a_running_generator, signals_setup,
                                        gvt_teardown),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
