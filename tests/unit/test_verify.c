/* The verifier (vm/verify.c): what it rejects, with which message and where,
 * and what it fills in for code it accepts. Code objects are built both by
 * hand (to reach shapes the assembler never makes, as a corrupted .gvc could)
 * and from .gva text through the assembler (readable, and checks the
 * positions reported for real sources). */
#include "gvtest.h"

#include "../../runtime/code.h"
#include "../../vm/asm.h"
#include "../../vm/opcodes.h"
#include "../../vm/verify.h"

#define I(op, arg) GV_MAKE_INSTR(GV_OP_##op, (arg))
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- hand-built code objects ---- */

static GvObject *str(const char *s) {
    GvObject *o = gv_str_from_cstr(s);
    assert_non_null(o);
    return o;
}

/* A function 'f' in "t.gva" with the given instructions (instruction i at
 * line 10 + i, column 5), ints 0.. as constants, "g0".. as names, "l0".. as
 * locals, and room for nexc exception entries (zeroed). */
static GvCode *mk(const GvInstr *ins, uint32_t n, uint32_t nlocals, uint32_t nconsts,
                  uint32_t nnames, uint32_t nexc) {
    GvObject *name = str("f"), *file = str("t.gva");
    GvCode *c = gv_code_new(name, file, 0, nlocals, n, nconsts, nnames, nexc);
    gv_decref(name);
    gv_decref(file);
    assert_non_null(c);
    c->firstline = 9;
    for (uint32_t i = 0; i < n; i++) {
        c->instrs[i] = ins[i];
        c->pos[i].line = 10 + i;
        c->pos[i].col = 5;
    }
    for (uint32_t i = 0; i < nconsts; i++) c->consts[i] = gv_int((int64_t)i);
    char buf[16];
    for (uint32_t i = 0; i < nnames; i++) {
        snprintf(buf, sizeof buf, "g%u", i);
        c->names[i] = str(buf);
    }
    for (uint32_t i = 0; i < nlocals; i++) {
        snprintf(buf, sizeof buf, "l%u", i);
        c->localnames[i] = str(buf);
    }
    return c;
}

#define MK(ins, nexc) mk((ins), NELEM(ins), 2, 4, 2, (nexc))

static void set_exc(GvCode *c, uint32_t e, uint32_t start, uint32_t end, uint32_t handler) {
    c->exc[e].start = start;
    c->exc[e].end = end;
    c->exc[e].handler = handler;
    c->exc[e].depth = 0xdead;
    c->exc[e].exc_depth = 0xdead;
    c->exc[e].pos.line = 100 + e;
    c->exc[e].pos.col = 1;
}

static void drop(GvCode *c) { gv_decref(&c->ob); }

/* Verifies c, expects success, and drops it. */
static void accept(GvCode *c) {
    GvDiag d;
    memset(&d, 0, sizeof d);
    int rc = gv_verify_code(c, &d);
    if (rc != 0) print_error("unexpected rejection: %s\n", d.message);
    assert_int_equal(rc, 0);
    assert_true(c->verified);
    drop(c);
}

/* Verifies c, expects a rejection whose message contains `want`, reported at
 * `line`; checks c was left unverified, and drops it. */
static void reject(GvCode *c, unsigned line, const char *want) {
    GvDiag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_code(c, &d), -1);
    if (!strstr(d.message, want)) print_error("message: %s\nwanted: %s\n", d.message, want);
    assert_non_null(strstr(d.message, want));
    assert_int_equal(d.line, line);
    assert_false(c->verified);
    drop(c);
}

/* ---- code from assembly text ---- */

static void free_program(GvProgram *p) {
    for (uint32_t i = 0; i < p->ncode; i++)
        if (p->code[i]) gv_decref(&p->code[i]->ob);
    gv_xdecref(p->filename);
    free(p->code);
    free(p);
}

static GvProgram *assemble(const char *src) {
    GvDiag d;
    memset(&d, 0, sizeof d);
    GvProgram *p = gv_assemble(src, strlen(src), "t.gva", &d);
    if (!p) print_error("assembly failed: %s\n", d.text);
    assert_non_null(p);
    return p;
}

/* Assembles and verifies src, expecting success; returns the program for
 * the caller to inspect and free. */
static GvProgram *asm_accept(const char *src) {
    GvProgram *p = assemble(src);
    GvDiag d;
    memset(&d, 0, sizeof d);
    int rc = gv_verify_program(p, &d);
    if (rc != 0) print_error("unexpected rejection: %s\n", d.text);
    assert_int_equal(rc, 0);
    for (uint32_t i = 0; i < p->ncode; i++) assert_true(p->code[i]->verified);
    return p;
}

static void asm_reject(const char *src, unsigned line, const char *want) {
    GvProgram *p = assemble(src);
    GvDiag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_program(p, &d), -1);
    if (!strstr(d.message, want) || d.line != line)
        print_error("diag: %s\nwanted at line %u: %s\n", d.text, line, want);
    assert_non_null(strstr(d.message, want));
    assert_int_equal(d.line, line);
    assert_non_null(strstr(d.text, "t.gva:"));
    free_program(p);
}

/* ================= acceptance ================= */

static void test_straight_line_code_sets_exact_max_stack(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(LOAD_CONST, 1), I(LOAD_CONST, 2), I(BINARY_ADD, 0),
                     I(BINARY_ADD, 0), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 0);
    c->max_stack = 77;
    GvDiag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_code(c, &d), 0);
    assert_int_equal(c->max_stack, 3);
    assert_true(c->verified);
    drop(c);
}

static void test_dup_top_peak_counts_in_max_stack(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(DUP_TOP, 0), I(POP_TOP, 0), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 0);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->max_stack, 2);
    drop(c);
}

static void test_call_and_build_stack_effects_use_the_count(void **state) {
    (void)state;
    /* f a b -> r; k v k v -> dict; [r dict] -> list */
    GvInstr ins[] = {I(LOAD_GLOBAL, 0), I(LOAD_CONST, 0), I(LOAD_CONST, 1), I(CALL, 2),
                     I(LOAD_CONST, 0), I(LOAD_CONST, 1), I(LOAD_CONST, 2), I(LOAD_CONST, 3),
                     I(BUILD_DICT, 2), I(BUILD_LIST, 2), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 0);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->max_stack, 5);
    drop(c);
}

static void test_loop_with_consistent_depth_is_accepted(void **state) {
    (void)state;
    GvInstr ins[] = {
        I(LOAD_CONST, 0), I(STORE_FAST, 0),                        /* 0 1 */
        I(LOAD_FAST, 0), I(LOAD_CONST, 3), I(COMPARE_LT, 0),       /* 2 3 4: top */
        I(POP_JUMP_IF_FALSE, 11),                                  /* 5 */
        I(LOAD_FAST, 0), I(LOAD_CONST, 1), I(BINARY_ADD, 0),       /* 6 7 8 */
        I(STORE_FAST, 0), I(JUMP, 2),                              /* 9 10 */
        I(LOAD_FAST, 0), I(RETURN_VALUE, 0),                       /* 11 12 */
    };
    GvCode *c = MK(ins, 0);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->max_stack, 2);
    drop(c);
}

static void test_unreachable_code_after_return_is_not_depth_checked(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(RETURN_VALUE, 0), I(BINARY_ADD, 0), I(POP_TOP, 0)};
    accept(MK(ins, 0)); /* would underflow and fall off the end, if it ran */
}

static void test_backward_jump_to_self_is_accepted(void **state) {
    (void)state;
    GvInstr ins[] = {I(NOP, 0), I(JUMP, 1)};
    accept(MK(ins, 0));
}

static void test_exc_entry_depths_are_filled_exactly(void **state) {
    (void)state;
    /* 0-1 push two values; [2, 5) is the try body at depth 2, handler 6 runs
     * at depth 3 with one handler running. */
    GvInstr ins[] = {
        I(LOAD_CONST, 0), I(LOAD_CONST, 1),                   /* 0 1 */
        I(LOAD_GLOBAL, 0), I(POP_TOP, 0), I(NOP, 0),          /* 2 3 4: try */
        I(JUMP, 9),                                           /* 5 */
        I(POP_EXCEPT, 0), I(POP_TOP, 0), I(JUMP, 9),          /* 6 7 8: handler */
        I(POP_TOP, 0), I(RETURN_VALUE, 0),                    /* 9 10 */
    };
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 2, 5, 6);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->exc[0].depth, 2);
    assert_int_equal(c->exc[0].exc_depth, 0);
    assert_int_equal(c->max_stack, 3);
    drop(c);
}

static void test_handler_entry_counts_in_max_stack(void **state) {
    (void)state;
    GvInstr ins[] = {
        I(LOAD_GLOBAL, 0), I(RETURN_VALUE, 0),  /* 0 1: try, depth at most 1 */
        I(LOAD_CONST, 0), I(POP_TOP, 0),        /* 2 3: handler at 1, then 2 */
        I(POP_EXCEPT, 0), I(RETURN_VALUE, 0),   /* 4 5 */
    };
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 0, 2, 2);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->max_stack, 2);
    drop(c);
}

static void test_nested_try_fills_inner_and_outer_entries(void **state) {
    (void)state;
    GvInstr ins[] = {
        I(LOAD_CONST, 0),                         /* 0            depth 0 */
        I(LOAD_CONST, 1),                         /* 1 outer      depth 1 */
        I(LOAD_GLOBAL, 0),                        /* 2 inner      depth 2 */
        I(POP_TOP, 0),                            /* 3 inner */
        I(POP_TOP, 0),                            /* 4 outer      depth 2 */
        I(JUMP, 10),                              /* 5 outer      depth 1 */
        I(POP_EXCEPT, 0), I(POP_TOP, 0),          /* 6 7 inner handler, depth 3 */
        I(POP_TOP, 0), I(JUMP, 10),               /* 8 9 (in outer), depth 2 -> 1 */
        I(RETURN_VALUE, 0),                       /* 10 */
        I(POP_EXCEPT, 0), I(POP_TOP, 0),          /* 11 12 outer handler, depth 2 */
        I(RETURN_VALUE, 0),                       /* 13 */
    };
    GvCode *c = MK(ins, 2);
    set_exc(c, 0, 2, 4, 6);  /* inner first */
    set_exc(c, 1, 1, 10, 11);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->exc[0].depth, 2);
    assert_int_equal(c->exc[0].exc_depth, 0);
    assert_int_equal(c->exc[1].depth, 1);
    assert_int_equal(c->exc[1].exc_depth, 0);
    assert_int_equal(c->max_stack, 3);
    drop(c);
}

static void test_try_inside_a_handler_records_exc_depth_one(void **state) {
    (void)state;
    GvInstr ins[] = {
        I(LOAD_GLOBAL, 0), I(RETURN_VALUE, 0),    /* 0 1: try A */
        I(LOAD_GLOBAL, 1), I(POP_TOP, 0),         /* 2 3: handler A, try B, depth 1, h 1 */
        I(POP_EXCEPT, 0), I(RETURN_VALUE, 0),     /* 4 5 */
        I(POP_EXCEPT, 0), I(POP_TOP, 0),          /* 6 7: handler B, depth 2, h 2 */
        I(POP_EXCEPT, 0), I(RETURN_VALUE, 0),     /* 8 9 */
    };
    GvCode *c = MK(ins, 2);
    set_exc(c, 0, 0, 2, 2);
    set_exc(c, 1, 2, 4, 6);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->exc[0].depth, 0);
    assert_int_equal(c->exc[0].exc_depth, 0);
    assert_int_equal(c->exc[1].depth, 1);
    assert_int_equal(c->exc[1].exc_depth, 1);
    drop(c);
}

static void test_return_inside_a_handler_is_accepted(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_GLOBAL, 0), I(RETURN_VALUE, 0), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 0, 2, 2);
    accept(c);
}

static void test_dead_entry_gets_zero_depths_and_its_handler_is_skipped(void **state) {
    (void)state;
    GvInstr ins[] = {
        I(LOAD_CONST, 0), I(RETURN_VALUE, 0),     /* 0 1 */
        I(LOAD_GLOBAL, 0), I(RETURN_VALUE, 0),    /* 2 3: dead try */
        I(BINARY_ADD, 0),                         /* 4: its handler: would underflow */
    };
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 2, 4, 4);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->exc[0].depth, 0);
    assert_int_equal(c->exc[0].exc_depth, 0);
    drop(c);
}

static void test_identical_ranges_are_accepted_as_nested(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_GLOBAL, 0), I(RETURN_VALUE, 0), I(POP_EXCEPT, 0),
                     I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 2);
    set_exc(c, 0, 0, 2, 2);
    set_exc(c, 1, 0, 2, 2);
    accept(c);
}

static void test_disjoint_ranges_in_any_order_are_accepted(void **state) {
    (void)state;
    GvInstr ins[] = {I(NOP, 0), I(NOP, 0), I(LOAD_CONST, 0), I(RETURN_VALUE, 0),
                     I(POP_TOP, 0), I(POP_EXCEPT, 0), I(LOAD_CONST, 0), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 2);
    set_exc(c, 0, 2, 3, 4);
    set_exc(c, 1, 0, 2, 4);
    accept(c);
}

static void test_handler_inside_another_range_is_accepted(void **state) {
    (void)state;
    /* the outer range [0, 7) holds the inner try [1, 2) and its handler */
    GvInstr ok[] = {
        I(NOP, 0),          /* 0 outer start, depth 0 */
        I(LOAD_GLOBAL, 0),  /* 1 inner */
        I(JUMP, 4),         /* 2 depth 1 */
        I(POP_EXCEPT, 0),   /* 3 inner handler, depth 1 h 1 */
        I(POP_TOP, 0),      /* 4 depth 1 -> 0, from 2 and 3 */
        I(LOAD_CONST, 0),   /* 5 */
        I(RETURN_VALUE, 0), /* 6 */
        I(POP_EXCEPT, 0),   /* 7 outer handler, depth 1 h 1 */
        I(RETURN_VALUE, 0), /* 8 */
    };
    GvCode *c = MK(ok, 2);
    set_exc(c, 0, 1, 2, 3);
    set_exc(c, 1, 0, 7, 7);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->exc[0].depth, 0);
    assert_int_equal(c->exc[1].depth, 0);
    drop(c);
}

static void test_reverify_gives_the_same_result(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(LOAD_CONST, 0), I(BINARY_ADD, 0), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 0);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->max_stack, 2);
    drop(c);
}

static void test_parameters_equal_to_locals_are_accepted(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_FAST, 1), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 0);
    c->nparams = 2;
    accept(c);
}

static void test_every_constant_kind_is_accepted(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 4), I(RETURN_VALUE, 0)};
    GvCode *c = mk(ins, 2, 0, 5, 0, 0);
    c->consts[0] = gv_none();
    c->consts[1] = gv_bool(true);
    c->consts[2] = gv_float(2.5);
    c->consts[3] = gv_int(-7);
    c->consts[4] = gv_obj(str("s"));
    accept(c);
}

/* ================= rejection: flow ================= */

static void test_stack_underflow_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(BINARY_ADD, 0), I(RETURN_VALUE, 0)};
    reject(MK(ins, 0), 11,
           "in function 'f' at offset 1: stack underflow (BINARY_ADD needs 2 values, 1 on the "
           "stack)");
}

static void test_return_on_empty_stack_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(RETURN_VALUE, 0)};
    reject(MK(ins, 0), 10, "stack underflow (RETURN_VALUE needs 1 value, 0 on the stack)");
}

static void test_call_underflow_counts_the_callable(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(LOAD_CONST, 0), I(CALL, 2), I(RETURN_VALUE, 0)};
    reject(MK(ins, 0), 12, "CALL needs 3 values, 2 on the stack");
}

static void test_merge_with_different_depths_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {
        I(LOAD_CONST, 0), I(POP_JUMP_IF_FALSE, 4),    /* 0 1: to 4 at depth 0 */
        I(LOAD_CONST, 1), I(NOP, 0),                  /* 2 3: falls into 4 at depth 1 */
        I(LOAD_CONST, 2), I(RETURN_VALUE, 0),         /* 4 5 */
    };
    reject(MK(ins, 0), 14, "at offset 4: stack depth differs where paths meet");
    GvInstr ins2[] = {
        I(LOAD_CONST, 0), I(POP_JUMP_IF_FALSE, 4),
        I(LOAD_CONST, 1), I(NOP, 0),
        I(LOAD_CONST, 2), I(RETURN_VALUE, 0),
    };
    /* both paths are named */
    GvCode *c = MK(ins2, 0);
    GvDiag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_code(c, &d), -1);
    assert_non_null(strstr(d.message, "coming from offset 1"));
    assert_non_null(strstr(d.message, "coming from offset 3"));
    drop(c);
}

static void test_loop_that_grows_the_stack_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(JUMP, 0)};
    reject(MK(ins, 0), 10, "at offset 0: stack depth differs where paths meet: 0 at function "
                           "entry, 1 coming from offset 1");
}

static void test_falling_off_the_end_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(POP_TOP, 0)};
    reject(MK(ins, 0), 11, "at offset 1: control falls off the end of function");
}

static void test_conditional_jump_at_the_end_falls_off(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(POP_JUMP_IF_TRUE, 0)};
    reject(MK(ins, 0), 11, "control falls off the end of function");
}

static void test_empty_function_is_rejected(void **state) {
    (void)state;
    GvCode *c = mk(NULL, 0, 0, 0, 0, 0);
    reject(c, 9, "function has no instructions");
}

static void test_pop_except_outside_a_handler_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(POP_EXCEPT, 0), I(LOAD_CONST, 0), I(RETURN_VALUE, 0)};
    reject(MK(ins, 0), 10, "at offset 0: POP_EXCEPT outside an exception handler");
}

static void test_second_pop_except_in_one_handler_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_GLOBAL, 0), I(RETURN_VALUE, 0), I(POP_EXCEPT, 0), I(POP_EXCEPT, 0),
                     I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 0, 2, 2);
    reject(c, 13, "at offset 3: POP_EXCEPT outside an exception handler");
}

static void test_handler_reached_by_fallthrough_at_another_depth_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {
        I(LOAD_GLOBAL, 0), I(POP_TOP, 0),   /* 0 1: try */
        I(NOP, 0),                          /* 2: falls into the handler at depth 0 */
        I(POP_EXCEPT, 0), I(RETURN_VALUE, 0),
    };
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 0, 2, 3);
    reject(c, 13, "at offset 3: stack depth differs where paths meet");
}

static void test_handler_nesting_mismatch_at_a_merge_is_rejected(void **state) {
    (void)state;
    /* the handler jumps back into normal code without POP_EXCEPT: same stack
     * depth (the exception was popped), one handler too many */
    GvInstr ins[] = {
        I(LOAD_GLOBAL, 0), I(POP_TOP, 0),   /* 0 1: try */
        I(LOAD_CONST, 0), I(RETURN_VALUE, 0), /* 2 3 */
        I(POP_TOP, 0), I(JUMP, 2),          /* 4 5: handler */
    };
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 0, 2, 4);
    reject(c, 12, "exception handler nesting differs where paths meet");
}

static void test_stack_below_try_entry_depth_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {
        I(LOAD_CONST, 0),                   /* 0 */
        I(LOAD_CONST, 1),                   /* 1: try starts at depth 1 */
        I(POP_TOP, 0), I(POP_TOP, 0),       /* 2 3: depth 2, 1 */
        I(NOP, 0),                          /* 4: depth 0, still in the range */
        I(LOAD_CONST, 0), I(RETURN_VALUE, 0), /* 5 6 */
        I(POP_EXCEPT, 0), I(RETURN_VALUE, 0), /* 7 8: handler */
    };
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 1, 5, 7);
    reject(c, 14, "at offset 4: stack below the try range's entry depth (0 here, 1 at its start");
}

static void test_outer_range_start_above_inner_start_is_rejected(void **state) {
    (void)state;
    /* the inner try starts below the outer one's depth: an exception in it
     * goes to the inner handler, but the outer range's promise is broken */
    GvInstr ins[] = {
        I(LOAD_CONST, 0),                    /* 0: depth 0 */
        I(POP_TOP, 0),                       /* 1: outer start, depth 1 */
        I(NOP, 0),                           /* 2: inner start, depth 0 */
        I(LOAD_CONST, 0),                    /* 3 */
        I(RETURN_VALUE, 0),                  /* 4 */
        I(POP_EXCEPT, 0), I(RETURN_VALUE, 0), /* 5 6: inner handler, depth 1 */
        I(POP_TOP, 0), I(POP_EXCEPT, 0),     /* 7 8: outer handler, depth 2 */
        I(RETURN_VALUE, 0),                  /* 9 */
    };
    GvCode *c = MK(ins, 2);
    set_exc(c, 0, 2, 4, 5);
    set_exc(c, 1, 1, 4, 7);
    reject(c, 12, "at offset 2: stack below the try range's entry depth (0 here, 1 at its start, "
                  "offset 1)");
}

static void test_call_consuming_values_from_before_the_try_is_rejected(void **state) {
    (void)state;
    /* the callable is pushed before the range starts: if the callee raises,
     * CALL has consumed it and the stack is below the range's entry depth */
    GvInstr ins[] = {
        I(LOAD_GLOBAL, 0),                    /* 0 */
        I(CALL, 0),                           /* 1: try, depth 1 */
        I(RETURN_VALUE, 0),                   /* 2 */
        I(POP_EXCEPT, 0), I(RETURN_VALUE, 0), /* 3 4: handler, depth 2 */
    };
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 1, 2, 3);
    reject(c, 11, "at offset 1: stack below the try range's entry depth (CALL takes 1 of the 1 "
                  "values on the stack, but the range started at depth 1, offset 1)");
}

static void test_raise_of_a_value_from_before_the_try_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_GLOBAL, 0), I(RAISE, 0), I(POP_EXCEPT, 0), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 1, 2, 2);
    reject(c, 11, "RAISE takes 1 of the 1 values on the stack");
}

static void test_return_of_a_value_from_before_the_try_is_accepted(void **state) {
    (void)state;
    /* RETURN_VALUE cannot raise: nothing can land in the handler from it */
    GvInstr ins[] = {I(LOAD_CONST, 0), I(NOP, 0), I(RETURN_VALUE, 0), I(POP_EXCEPT, 0),
                     I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 1, 3, 3);
    assert_int_equal(gv_verify_code(c, NULL), 0);
    assert_int_equal(c->exc[0].depth, 1);
    drop(c);
}

static void test_jump_into_range_whose_start_is_unreachable_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {
        I(JUMP, 2),                          /* 0 */
        I(NOP, 0),                           /* 1: try start, never reached */
        I(LOAD_CONST, 0), I(RETURN_VALUE, 0), /* 2 3: in the range */
        I(POP_EXCEPT, 0), I(RETURN_VALUE, 0),
    };
    GvCode *c = MK(ins, 1);
    set_exc(c, 0, 1, 4, 4);
    reject(c, 12, "at offset 2: reachable inside try range [1, 4) whose start is never reached");
}

static void test_stack_deeper_than_the_cap_is_rejected(void **state) {
    (void)state;
    uint32_t n = 65537;
    GvInstr *ins = calloc(n, sizeof *ins);
    assert_non_null(ins);
    for (uint32_t i = 0; i < n - 1; i++) ins[i] = I(LOAD_CONST, 0);
    ins[n - 1] = I(RETURN_VALUE, 0);
    GvCode *c = mk(ins, n, 0, 1, 0, 0);
    free(ins);
    reject(c, 10 + 65535, "stack depth exceeds 65535 after LOAD_CONST");
}

/* ================= rejection: operands and shape ================= */

static void test_jump_out_of_range_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(JUMP, 2), I(RETURN_VALUE, 0)};
    reject(MK(ins, 0), 10, "at offset 0: JUMP jumps to offset 2, outside the function");
}

static void test_const_index_out_of_range_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 4), I(RETURN_VALUE, 0)};
    reject(MK(ins, 0), 10, "LOAD_CONST uses constant 4, but the function has 4 constants");
}

static void test_local_index_out_of_range_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(STORE_FAST, 2), I(LOAD_FAST, 0), I(RETURN_VALUE, 0)};
    reject(MK(ins, 0), 11, "STORE_FAST uses local 2, but the function has 2 locals");
}

static void test_name_index_out_of_range_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_GLOBAL, 9), I(RETURN_VALUE, 0)};
    reject(MK(ins, 0), 10, "LOAD_GLOBAL uses name 9, but the function has 2 names");
}

static void test_unknown_opcode_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), GV_MAKE_INSTR(GV_NUM_OPCODES, 0), I(RETURN_VALUE, 0)};
    char want[64];
    snprintf(want, sizeof want, "at offset 1: unknown opcode %u", (unsigned)GV_NUM_OPCODES);
    reject(MK(ins, 0), 11, want);
    GvInstr ins2[] = {GV_MAKE_INSTR(255, 0)};
    reject(MK(ins2, 0), 10, "unknown opcode 255");
}

static void test_operand_on_an_instruction_without_one_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(RETURN_VALUE, 3)};
    reject(MK(ins, 0), 11, "RETURN_VALUE takes no operand but has 3");
}

static void test_huge_count_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(BUILD_DICT, GV_ARG_MAX), I(RETURN_VALUE, 0)};
    reject(MK(ins, 0), 10, "BUILD_DICT count 16777215 is too large (at most 65535)");
}

static void test_bad_operands_in_unreachable_code_are_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(RETURN_VALUE, 0), I(LOAD_FAST, 7)};
    reject(MK(ins, 0), 12, "at offset 2: LOAD_FAST uses local 7");
}

static void test_more_parameters_than_locals_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 0);
    c->nparams = 3;
    reject(c, 9, "3 parameters but only 2 locals");
}

static void test_constant_of_another_kind_is_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(RETURN_VALUE, 0)};
    GvCode *other = MK(ins, 0);
    GvCode *c = MK(ins, 0);
    c->consts[1] = gv_obj(&other->ob); /* steals the reference */
    reject(c, 9, "constant 1 is an object that is not a str");

    c = MK(ins, 0);
    c->consts[2].tag = 42;
    reject(c, 9, "constant 2 has the invalid tag 42");

    c = MK(ins, 0);
    c->consts[3].tag = GV_TBOOL;
    c->consts[3].as.i = 5;
    reject(c, 9, "constant 3 is a bool with the invalid value 5");

    c = MK(ins, 0);
    c->consts[0] = gv_obj(NULL);
    GvDiag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_code(c, &d), -1);
    assert_non_null(strstr(d.message, "constant 0 is a null object"));
    c->consts[0] = gv_none(); /* dealloc would follow the null pointer */
    drop(c);
}

static void test_missing_or_non_str_names_are_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 0);
    gv_decref(c->names[1]);
    c->names[1] = NULL;
    reject(c, 9, "global name 1 is not a str");

    c = MK(ins, 0);
    gv_decref(c->localnames[0]);
    c->localnames[0] = NULL;
    reject(c, 9, "local name 0 is not a str");

    c = MK(ins, 0);
    gv_decref(c->name);
    c->name = NULL;
    reject(c, 9, "function name is missing or not a str");
}

static void test_missing_arrays_are_rejected(void **state) {
    (void)state;
    GvInstr ins[] = {I(LOAD_CONST, 0), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 0);
    free(c->instrs);
    c->instrs = NULL;
    reject(c, 9, "instruction array is missing");

    c = MK(ins, 1);
    free(c->exc);
    c->exc = NULL;
    reject(c, 9, "exception table is missing");
}

static void test_missing_positions_report_line_zero(void **state) {
    (void)state;
    GvInstr ins[] = {I(POP_TOP, 0), I(RETURN_VALUE, 0)};
    GvCode *c = MK(ins, 0);
    free(c->pos);
    c->pos = NULL;
    reject(c, 0, "at offset 0: stack underflow");
}

static void test_null_code_and_program_are_rejected(void **state) {
    (void)state;
    GvDiag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_code(NULL, &d), -1);
    assert_int_equal(gv_verify_code(NULL, NULL), -1);
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_program(NULL, &d), -1);
    assert_non_null(strstr(d.message, "no program"));
}

/* ================= rejection: the exception table ================= */

static GvInstr try_body[] = {
    I(LOAD_GLOBAL, 0), I(POP_TOP, 0), I(LOAD_CONST, 0), I(RETURN_VALUE, 0), /* 0-3 */
    I(POP_EXCEPT, 0), I(RETURN_VALUE, 0),                                   /* 4 5 */
};

static void test_try_range_past_the_end_is_rejected(void **state) {
    (void)state;
    GvCode *c = MK(try_body, 1);
    set_exc(c, 0, 0, 7, 4);
    reject(c, 100, "try range 0 [0, 7) with handler at 4: the range ends past the function's "
                   "6 instructions");
}

static void test_empty_try_range_is_rejected(void **state) {
    (void)state;
    GvCode *c = MK(try_body, 1);
    set_exc(c, 0, 2, 2, 4);
    reject(c, 100, "the range is empty or reversed");
    c = MK(try_body, 1);
    set_exc(c, 0, 3, 1, 4);
    reject(c, 100, "the range is empty or reversed");
}

static void test_handler_past_the_end_is_rejected(void **state) {
    (void)state;
    GvCode *c = MK(try_body, 1);
    set_exc(c, 0, 0, 2, 6);
    reject(c, 100, "the handler is past the function's 6 instructions");
}

static void test_handler_inside_its_own_range_is_rejected(void **state) {
    (void)state;
    GvCode *c = MK(try_body, 2);
    set_exc(c, 0, 0, 2, 4);
    set_exc(c, 1, 0, 5, 4);
    reject(c, 101, "try range 1 [0, 5) with handler at 4: the handler lies inside its own range");
}

static void test_partially_overlapping_ranges_are_rejected(void **state) {
    (void)state;
    GvCode *c = MK(try_body, 2);
    set_exc(c, 0, 0, 2, 4);
    set_exc(c, 1, 1, 3, 4);
    reject(c, 101, "try range 1 [1, 3) with handler at 4: the range overlaps try range 0 [0, 2) "
                   "(line 100) without nesting in it");
}

static void test_outer_range_before_inner_is_rejected(void **state) {
    (void)state;
    GvCode *c = MK(try_body, 2);
    set_exc(c, 0, 0, 4, 4);
    set_exc(c, 1, 1, 2, 4);
    reject(c, 101, "the range is nested in try range 0 [0, 4) (line 100) but comes after it");
}

static void test_table_errors_leave_entries_untouched(void **state) {
    (void)state;
    GvCode *c = MK(try_body, 2);
    set_exc(c, 0, 0, 2, 4);
    set_exc(c, 1, 1, 3, 4);
    assert_int_equal(gv_verify_code(c, NULL), -1);
    assert_int_equal(c->exc[0].depth, 0xdead);
    assert_int_equal(c->exc[1].exc_depth, 0xdead);
    drop(c);
}

/* ================= programs ================= */

static void test_program_stops_at_the_first_bad_function(void **state) {
    (void)state;
    GvInstr good[] = {I(LOAD_CONST, 0), I(RETURN_VALUE, 0)};
    GvInstr bad[] = {I(POP_TOP, 0), I(RETURN_VALUE, 0)};
    GvObject *file = str("t.gva");
    GvProgram *p = gv_program_new(file, 3);
    gv_decref(file);
    assert_non_null(p);
    p->code[0] = MK(good, 0);
    p->code[1] = MK(bad, 0);
    p->code[2] = MK(good, 0);
    GvDiag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_program(p, &d), -1);
    assert_true(p->code[0]->verified);
    assert_false(p->code[1]->verified);
    assert_false(p->code[2]->verified);
    assert_int_equal(d.line, 10);
    free_program(p);
}

static void test_program_with_a_missing_function_is_rejected(void **state) {
    (void)state;
    GvObject *file = str("t.gva");
    GvProgram *p = gv_program_new(file, 1);
    gv_decref(file);
    assert_non_null(p);
    GvDiag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gv_verify_program(p, &d), -1);
    assert_non_null(strstr(d.message, "function 0 of the program is missing"));
    free_program(p);
}

/* ================= hostile input ================= */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint32_t rnd(uint32_t bound) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return bound ? (uint32_t)(rng_state % bound) : 0;
}

/* Random code and tables, mostly small operands so that some of it gets
 * past the operand checks into the flow analysis. Nothing may crash, and
 * whatever is accepted must have consistent entry depths. */
static void test_random_code_never_crashes(void **state) {
    (void)state;
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        uint32_t n = 1 + rnd(12), nexc = rnd(4);
        GvInstr ins[12];
        for (uint32_t i = 0; i < n; i++) {
            uint32_t op = rnd(8) == 0 ? rnd(256) : rnd(GV_NUM_OPCODES);
            uint32_t arg = rnd(4) == 0 ? rnd(GV_ARG_MAX + 1) : rnd(n + 1);
            if (op < GV_NUM_OPCODES && gv_opinfo[op].kind == GV_OPK_NONE && rnd(8)) arg = 0;
            ins[i] = GV_MAKE_INSTR(op, arg);
        }
        GvCode *c = mk(ins, n, 2, 4, 2, nexc);
        for (uint32_t e = 0; e < nexc; e++)
            set_exc(c, e, rnd(n + 2), rnd(n + 2), rnd(n + 1));
        if (rnd(10) == 0) c->nparams = rnd(4);
        GvDiag d;
        memset(&d, 0, sizeof d);
        if (gv_verify_code(c, &d) == 0) {
            accepted++;
            assert_true(c->max_stack <= 65535);
            for (uint32_t e = 0; e < nexc; e++) assert_true(c->exc[e].depth <= c->max_stack);
        } else {
            assert_true(d.message[0] != '\0');
        }
        drop(c);
    }
    assert_true(accepted > 0);
}

/* ================= through the assembler ================= */

static void test_asm_sample_loop_is_accepted(void **state) {
    (void)state;
    GvProgram *p = asm_accept(".func sum_to n\n"
                              "    .local i total\n"
                              "    LOAD_CONST 0\n"
                              "    STORE_FAST total\n"
                              "    LOAD_CONST 1\n"
                              "    STORE_FAST i\n"
                              "top:\n"
                              "    LOAD_FAST i\n"
                              "    LOAD_FAST n\n"
                              "    COMPARE_LE\n"
                              "    POP_JUMP_IF_FALSE done\n"
                              "    LOAD_FAST total\n"
                              "    LOAD_FAST i\n"
                              "    BINARY_ADD\n"
                              "    STORE_FAST total\n"
                              "    LOAD_FAST i\n"
                              "    LOAD_CONST 1\n"
                              "    BINARY_ADD\n"
                              "    STORE_FAST i\n"
                              "    JUMP top\n"
                              "done:\n"
                              "    LOAD_FAST total\n"
                              "    RETURN_VALUE\n"
                              ".end\n"
                              ".func main\n"
                              "    LOAD_GLOBAL sum_to\n"
                              "    LOAD_CONST 10\n"
                              "    CALL 1\n"
                              "    RETURN_VALUE\n"
                              ".end\n");
    assert_int_equal(p->ncode, 2);
    assert_int_equal(p->code[0]->max_stack, 2);
    assert_int_equal(p->code[1]->max_stack, 2);
    free_program(p);
}

static void test_asm_nested_try_with_handlers_is_accepted(void **state) {
    (void)state;
    GvProgram *p = asm_accept(".func main\n"                      /* 1 */
                              "    LOAD_CONST 1\n"                /* 2: depth 0 */
                              ".try outer_s outer_e outer_h\n"    /* 3 */
                              "outer_s:\n"                        /* 4 */
                              "    LOAD_CONST 2\n"                /* 5: depth 1 */
                              ".try inner_s inner_e inner_h\n"    /* 6 */
                              "inner_s:\n"                        /* 7 */
                              "    LOAD_GLOBAL f\n"               /* 8: depth 2 */
                              "    CALL 0\n"                      /* 9 */
                              "    POP_TOP\n"                     /* 10 */
                              "inner_e:\n"                        /* 11 */
                              "    POP_TOP\n"                     /* 12 */
                              "    JUMP outer_e\n"                /* 13 */
                              "inner_h:\n"                        /* 14: depth 3, h 1 */
                              "    LOAD_GLOBAL ValueError\n"      /* 15 */
                              "    CHECK_EXC_MATCH\n"             /* 16 */
                              "    POP_JUMP_IF_FALSE inner_re\n"  /* 17 */
                              "    POP_TOP\n"                     /* 18 */
                              "    POP_EXCEPT\n"                  /* 19 */
                              "    POP_TOP\n"                     /* 20 */
                              "    JUMP outer_e\n"                /* 21 */
                              "inner_re:\n"                       /* 22 */
                              "    RERAISE\n"                     /* 23 */
                              "outer_e:\n"                        /* 24 */
                              "    RETURN_VALUE\n"                /* 25 */
                              "outer_h:\n"                        /* 26: depth 2 */
                              "    POP_TOP\n"                     /* 27 */
                              "    POP_EXCEPT\n"                  /* 28 */
                              "    RETURN_VALUE\n"                /* 29 */
                              ".end\n");
    GvCode *c = p->code[0];
    assert_int_equal(c->nexc, 2);
    /* innermost first: the assembler sorts them so */
    assert_int_equal(c->exc[0].depth, 2);
    assert_int_equal(c->exc[0].exc_depth, 0);
    assert_int_equal(c->exc[1].depth, 1);
    assert_int_equal(c->exc[1].exc_depth, 0);
    assert_int_equal(c->max_stack, 4);
    free_program(p);
}

static void test_asm_unreachable_code_is_accepted(void **state) {
    (void)state;
    GvProgram *p = asm_accept(".func main\n"
                              "    LOAD_CONST 0\n"
                              "    RETURN_VALUE\n"
                              "    BINARY_ADD\n"
                              "    POP_TOP\n"
                              ".end\n");
    assert_int_equal(p->code[0]->max_stack, 1);
    free_program(p);
}

static void test_asm_underflow_reports_the_instruction_line(void **state) {
    (void)state;
    asm_reject(".func main\n"
               "    LOAD_CONST 1\n"
               "    BINARY_ADD\n"
               "    RETURN_VALUE\n"
               ".end\n",
               3,
               "in function 'main' at offset 1: stack underflow (BINARY_ADD needs 2 values, 1 on "
               "the stack)");
}

static void test_asm_merge_mismatch_reports_the_meeting_point(void **state) {
    (void)state;
    asm_reject(".func main\n"
               "    LOAD_CONST true\n"
               "    POP_JUMP_IF_FALSE join\n"
               "    LOAD_CONST 1\n"
               "join:\n"
               "    LOAD_CONST none\n"
               "    RETURN_VALUE\n"
               ".end\n",
               6, "stack depth differs where paths meet: 0 coming from offset 1, 1 coming from "
                  "offset 2");
}

static void test_asm_fall_off_end_is_rejected(void **state) {
    (void)state;
    asm_reject(".func main\n"
               "    LOAD_CONST 1\n"
               "    POP_TOP\n"
               ".end\n",
               3, "control falls off the end of function");
}

static void test_asm_pop_except_outside_handler_is_rejected(void **state) {
    (void)state;
    asm_reject(".func main\n"
               "    POP_EXCEPT\n"
               "    LOAD_CONST none\n"
               "    RETURN_VALUE\n"
               ".end\n",
               2, "POP_EXCEPT outside an exception handler");
}

static void test_asm_handler_depth_mismatch_is_rejected(void **state) {
    (void)state;
    /* the handler is also reached by falling out of the try body, with the
     * exception missing from the stack */
    asm_reject(".func main\n"
               ".try s e h\n"
               "s:\n"
               "    LOAD_GLOBAL f\n"
               "    POP_TOP\n"
               "e:\n"
               "h:\n"
               "    POP_EXCEPT\n"
               "    LOAD_CONST none\n"
               "    RETURN_VALUE\n"
               ".end\n",
               8, "stack depth differs where paths meet");
}

static void test_asm_leaving_handler_without_pop_except_is_rejected(void **state) {
    (void)state;
    asm_reject(".func main\n"
               ".try s e h\n"
               "s:\n"
               "    LOAD_GLOBAL f\n"
               "    POP_TOP\n"
               "e:\n"
               "join:\n"
               "    LOAD_CONST none\n"
               "    RETURN_VALUE\n"
               "h:\n"
               "    POP_TOP\n"
               "    JUMP join\n"
               ".end\n",
               8, "exception handler nesting differs where paths meet");
}

static void test_asm_handler_inside_its_range_reports_the_try_line(void **state) {
    (void)state;
    asm_reject(".func main\n"
               "    NOP\n"
               ".try s e s\n"
               "s:\n"
               "    LOAD_CONST none\n"
               "    RETURN_VALUE\n"
               "e:\n"
               "    NOP\n"
               "    JUMP s\n"
               ".end\n",
               3, "the handler lies inside its own range");
}

static void test_asm_partial_overlap_reports_the_try_line(void **state) {
    (void)state;
    asm_reject(".func main\n"
               ".try a c h\n"
               ".try b d h\n"
               "a:\n"
               "    NOP\n"
               "b:\n"
               "    NOP\n"
               "c:\n"
               "    NOP\n"
               "d:\n"
               "    LOAD_CONST none\n"
               "    RETURN_VALUE\n"
               "h:\n"
               "    POP_EXCEPT\n"
               "    RETURN_VALUE\n"
               ".end\n",
               3, "without nesting in it");
}

static void test_asm_second_function_error_names_it(void **state) {
    (void)state;
    asm_reject(".func main\n"
               "    LOAD_CONST none\n"
               "    RETURN_VALUE\n"
               ".end\n"
               ".func helper a\n"
               "    LOAD_FAST a\n"
               "    ROT_TWO\n"
               "    RETURN_VALUE\n"
               ".end\n",
               7, "in function 'helper' at offset 1: stack underflow (ROT_TWO needs 2 values, 1 "
                  "on the stack)");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_straight_line_code_sets_exact_max_stack),
        cmocka_unit_test(test_dup_top_peak_counts_in_max_stack),
        cmocka_unit_test(test_call_and_build_stack_effects_use_the_count),
        cmocka_unit_test(test_loop_with_consistent_depth_is_accepted),
        cmocka_unit_test(test_unreachable_code_after_return_is_not_depth_checked),
        cmocka_unit_test(test_backward_jump_to_self_is_accepted),
        cmocka_unit_test(test_exc_entry_depths_are_filled_exactly),
        cmocka_unit_test(test_handler_entry_counts_in_max_stack),
        cmocka_unit_test(test_nested_try_fills_inner_and_outer_entries),
        cmocka_unit_test(test_try_inside_a_handler_records_exc_depth_one),
        cmocka_unit_test(test_return_inside_a_handler_is_accepted),
        cmocka_unit_test(test_dead_entry_gets_zero_depths_and_its_handler_is_skipped),
        cmocka_unit_test(test_identical_ranges_are_accepted_as_nested),
        cmocka_unit_test(test_disjoint_ranges_in_any_order_are_accepted),
        cmocka_unit_test(test_handler_inside_another_range_is_accepted),
        cmocka_unit_test(test_reverify_gives_the_same_result),
        cmocka_unit_test(test_parameters_equal_to_locals_are_accepted),
        cmocka_unit_test(test_every_constant_kind_is_accepted),
        cmocka_unit_test(test_stack_underflow_is_rejected),
        cmocka_unit_test(test_return_on_empty_stack_is_rejected),
        cmocka_unit_test(test_call_underflow_counts_the_callable),
        cmocka_unit_test(test_merge_with_different_depths_is_rejected),
        cmocka_unit_test(test_loop_that_grows_the_stack_is_rejected),
        cmocka_unit_test(test_falling_off_the_end_is_rejected),
        cmocka_unit_test(test_conditional_jump_at_the_end_falls_off),
        cmocka_unit_test(test_empty_function_is_rejected),
        cmocka_unit_test(test_pop_except_outside_a_handler_is_rejected),
        cmocka_unit_test(test_second_pop_except_in_one_handler_is_rejected),
        cmocka_unit_test(test_handler_reached_by_fallthrough_at_another_depth_is_rejected),
        cmocka_unit_test(test_handler_nesting_mismatch_at_a_merge_is_rejected),
        cmocka_unit_test(test_stack_below_try_entry_depth_is_rejected),
        cmocka_unit_test(test_outer_range_start_above_inner_start_is_rejected),
        cmocka_unit_test(test_call_consuming_values_from_before_the_try_is_rejected),
        cmocka_unit_test(test_raise_of_a_value_from_before_the_try_is_rejected),
        cmocka_unit_test(test_return_of_a_value_from_before_the_try_is_accepted),
        cmocka_unit_test(test_jump_into_range_whose_start_is_unreachable_is_rejected),
        cmocka_unit_test(test_stack_deeper_than_the_cap_is_rejected),
        cmocka_unit_test(test_jump_out_of_range_is_rejected),
        cmocka_unit_test(test_const_index_out_of_range_is_rejected),
        cmocka_unit_test(test_local_index_out_of_range_is_rejected),
        cmocka_unit_test(test_name_index_out_of_range_is_rejected),
        cmocka_unit_test(test_unknown_opcode_is_rejected),
        cmocka_unit_test(test_operand_on_an_instruction_without_one_is_rejected),
        cmocka_unit_test(test_huge_count_is_rejected),
        cmocka_unit_test(test_bad_operands_in_unreachable_code_are_rejected),
        cmocka_unit_test(test_more_parameters_than_locals_is_rejected),
        cmocka_unit_test(test_constant_of_another_kind_is_rejected),
        cmocka_unit_test(test_missing_or_non_str_names_are_rejected),
        cmocka_unit_test(test_missing_arrays_are_rejected),
        cmocka_unit_test(test_missing_positions_report_line_zero),
        cmocka_unit_test(test_null_code_and_program_are_rejected),
        cmocka_unit_test(test_try_range_past_the_end_is_rejected),
        cmocka_unit_test(test_empty_try_range_is_rejected),
        cmocka_unit_test(test_handler_past_the_end_is_rejected),
        cmocka_unit_test(test_handler_inside_its_own_range_is_rejected),
        cmocka_unit_test(test_partially_overlapping_ranges_are_rejected),
        cmocka_unit_test(test_outer_range_before_inner_is_rejected),
        cmocka_unit_test(test_table_errors_leave_entries_untouched),
        cmocka_unit_test(test_program_stops_at_the_first_bad_function),
        cmocka_unit_test(test_program_with_a_missing_function_is_rejected),
        cmocka_unit_test(test_random_code_never_crashes),
        cmocka_unit_test(test_asm_sample_loop_is_accepted),
        cmocka_unit_test(test_asm_nested_try_with_handlers_is_accepted),
        cmocka_unit_test(test_asm_unreachable_code_is_accepted),
        cmocka_unit_test(test_asm_underflow_reports_the_instruction_line),
        cmocka_unit_test(test_asm_merge_mismatch_reports_the_meeting_point),
        cmocka_unit_test(test_asm_fall_off_end_is_rejected),
        cmocka_unit_test(test_asm_pop_except_outside_handler_is_rejected),
        cmocka_unit_test(test_asm_handler_depth_mismatch_is_rejected),
        cmocka_unit_test(test_asm_leaving_handler_without_pop_except_is_rejected),
        cmocka_unit_test(test_asm_handler_inside_its_range_reports_the_try_line),
        cmocka_unit_test(test_asm_partial_overlap_reports_the_try_line),
        cmocka_unit_test(test_asm_second_function_error_names_it),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
