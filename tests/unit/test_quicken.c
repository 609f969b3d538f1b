/* The quickener: which sequences become superinstructions, and that fused
 * code behaves exactly as the original (fast path, fallbacks, errors). */
#include "gvtest.h"

#include "../../runtime/code.h"
#include "../../vm/opcodes.h"

static unsigned quick_op(GvProgram *p, uint32_t pc) { return GV_OP(p->code[0]->quick[pc]); }

static void test_increment_becomes_one_superinstruction(void **state) {
    (void)state;
    GvProgram *p = gvt_assemble(".func main\n.local i\n LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n"
                        " LOAD_FAST i\n RETURN_VALUE\n.end\n");
    assert_int_equal(quick_op(p, 0), GV_OP_LFLC_ADD_STORE);
    /* The words after it keep the original sequence (the small int constant
     * in the operand), and the original code is untouched. */
    assert_int_equal(quick_op(p, 1), GV_OP_LOAD_SMALL_INT);
    assert_int_equal(GV_SARG(p->code[0]->quick[1]), 1);
    assert_int_equal(quick_op(p, 3), GV_OP_STORE_FAST);
    assert_int_equal(GV_OP(p->code[0]->instrs[0]), GV_OP_LOAD_FAST);
    GvProgram_Free(p);
}

static void test_jump_into_sequence_prevents_fusion(void **state) {
    (void)state;
    /* `mid` (a jump target) is the BINARY_ADD of the sequence at offset 8:
     * fusing would skip what the jump lands on. */
    const char *src = ".func main\n.local i\n LOAD_CONST 3\n STORE_FAST i\n"
                      " LOAD_CONST 10\n LOAD_CONST 20\n LOAD_CONST 0\n POP_JUMP_IF_FALSE mid\n"
                      " POP_TOP\n POP_TOP\n"
                      " LOAD_FAST i\n LOAD_CONST 1\nmid:\n BINARY_ADD\n STORE_FAST i\n"
                      " LOAD_FAST i\n RETURN_VALUE\n.end\n";
    GvProgram *p = gvt_assemble(src);
    assert_int_equal(quick_op(p, 8), GV_OP_LOAD_FAST);
    GvProgram_Free(p);
    GvValue r;
    assert_int_equal(gvt_load_call(src, "main", &r), 0);
    assert_int_equal(r.as.i, 30);
}

static void test_try_boundary_inside_sequence_prevents_fusion(void **state) {
    (void)state;
    GvProgram *p = gvt_assemble(".func main\n.local i\n LOAD_CONST 0\n STORE_FAST i\n"
                        "s:\n LOAD_FAST i\n LOAD_CONST 1\ne:\n BINARY_ADD\n STORE_FAST i\n"
                        " LOAD_CONST 0\n RETURN_VALUE\n"
                        "h:\n POP_TOP\n POP_EXCEPT\n LOAD_CONST 1\n RETURN_VALUE\n.try s e h\n.end\n");
    assert_int_equal(quick_op(p, 2), GV_OP_LOAD_FAST);
    GvProgram_Free(p);
}

static int64_t run_int(const char *src) {
    GvValue r;
    if (gvt_load_call(src, "main", &r) < 0) fail_msg("unexpected %s", gvt_exc_type()->name);
    assert_true(gv_is_int(r));
    return r.as.i;
}

static void test_fused_loop_computes_same_sum(void **state) {
    (void)state;
    const char *src =
        ".func main\n.local i s n\n LOAD_CONST 0\n STORE_FAST i\n LOAD_CONST 0\n STORE_FAST s\n LOAD_CONST 100\n STORE_FAST n\n"
        "top:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_GE\n POP_JUMP_IF_FALSE body\n LOAD_FAST s\n RETURN_VALUE\n"
        "body:\n LOAD_FAST s\n LOAD_FAST i\n BINARY_ADD\n STORE_FAST s\n"
        " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n.end\n";
    assert_int_equal(run_int(src), 4950);
}

static void test_fused_add_falls_back_for_floats_and_strings(void **state) {
    (void)state;
    GvValue r;
    const char *src =
        ".func main\n.local a b\n LOAD_CONST \"ab\"\n STORE_FAST a\n LOAD_CONST \"cd\"\n STORE_FAST b\n"
        " LOAD_FAST a\n LOAD_FAST b\n BINARY_ADD\n STORE_FAST a\n LOAD_FAST a\n RETURN_VALUE\n.end\n";
    assert_int_equal(gvt_load_call(src, "main", &r), 0);
    assert_true(gv_is_kind(r, GV_KSTR));
    assert_string_equal(gv_str_cstr(r.as.o), "abcd");
    gv_vdecref(r);
    src = ".func main\n.local a\n LOAD_CONST 1.5\n STORE_FAST a\n"
          " LOAD_FAST a\n LOAD_CONST 2\n BINARY_SUB\n RETURN_VALUE\n.end\n";
    assert_int_equal(gvt_load_call(src, "main", &r), 0);
    assert_true(gv_is_float(r));
    assert_true(r.as.f == -0.5);
}

static void test_fused_compare_falls_back_and_raises_type_error(void **state) {
    (void)state;
    GvValue r;
    const char *src = ".func main\n.local a\n LOAD_CONST \"x\"\n STORE_FAST a\n"
                      " LOAD_FAST a\n LOAD_CONST 1\n COMPARE_LT\n POP_JUMP_IF_FALSE e\n"
                      "e:\n LOAD_CONST 0\n RETURN_VALUE\n.end\n";
    assert_int_equal(gvt_load_call(src, "main", &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_TypeError);
    gv_err_clear(GvThreadState_Get());
}

static void test_fused_overflow_is_reported_at_the_add_line(void **state) {
    (void)state;
    GvValue r;
    /* line 7 is the BINARY_ADD */
    const char *src2 = ".func main\n.local a\n LOAD_CONST 9223372036854775807\n STORE_FAST a\n"
                       " LOAD_FAST a\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST a\n"
                       " LOAD_CONST 0\n RETURN_VALUE\n.end\n";
    assert_int_equal(gvt_load_call(src2, "main", &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_OverflowError);
    GvException *e = (GvException *)GvThreadState_Get()->current_exception;
    assert_non_null(e->traceback);
    assert_int_equal(gv_code_line(e->traceback->code, e->traceback->pc), 7);
    gv_err_clear(GvThreadState_Get());
}

/* `i = i + 1; JUMP top` and `i = i - 1; JUMP top`: one dispatch each. */
static void test_loop_tail_becomes_one_superinstruction(void **state) {
    (void)state;
    const char *up = ".func main\n.local i\n LOAD_CONST 0\n STORE_FAST i\n"
                     "top:\n LOAD_FAST i\n LOAD_CONST 10\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
                     " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
                     "done:\n LOAD_FAST i\n RETURN_VALUE\n.end\n";
    GvProgram *p = gvt_assemble(up);
    assert_int_equal(quick_op(p, 2), GV_OP_LFLC_LT_JF);
    assert_int_equal(quick_op(p, 6), GV_OP_LFLC_ADD_STORE_JUMP);
    assert_int_equal(quick_op(p, 10), GV_OP_JUMP); /* the word it reads its target from */
    GvProgram_Free(p);
    assert_int_equal(run_int(up), 10);

    const char *down = ".func main\n.local n s\n LOAD_CONST 100\n STORE_FAST n\n LOAD_CONST 0\n STORE_FAST s\n"
                       "top:\n LOAD_FAST n\n POP_JUMP_IF_FALSE done\n"
                       " LOAD_FAST s\n LOAD_FAST n\n BINARY_ADD\n STORE_FAST s\n"
                       " LOAD_FAST n\n LOAD_CONST 1\n BINARY_SUB\n STORE_FAST n\n JUMP top\n"
                       "done:\n LOAD_FAST s\n RETURN_VALUE\n.end\n";
    p = gvt_assemble(down);
    assert_int_equal(quick_op(p, 10), GV_OP_LFLC_SUB_STORE_JUMP);
    GvProgram_Free(p);
    assert_int_equal(run_int(down), 5050);
}

/* The fused back edge is still a backward jump: it checks the eval breaker
 * (here an instruction budget), and the error is located at the JUMP. */
static void test_fused_back_jump_checks_the_eval_breaker(void **state) {
    (void)state;
    GvValue r;
    /* line 10 is the JUMP; the loop never ends by itself */
    const char *src2 = ".func main\n.local i\n LOAD_CONST 0\n STORE_FAST i\n"
                       "top:\n LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n.end\n";
    GvProgram *p = gvt_assemble(src2);
    assert_int_equal(quick_op(p, 2), GV_OP_LFLC_ADD_STORE_JUMP);
    GvProgram_Free(p);
    Gv_SetInstructionBudget(1000);
    int rc = gvt_load_call(src2, "main", &r);
    Gv_SetInstructionBudget(-1);
    assert_int_equal(rc, -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    assert_string_equal(gvt_exc_message(), "instruction budget exhausted");
    GvException *e = (GvException *)GvThreadState_Get()->current_exception;
    assert_non_null(e->traceback);
    assert_int_equal(gv_code_line(e->traceback->code, e->traceback->pc), 10);
    gv_err_clear(GvThreadState_Get());
}

/* Off the fast path the fused tail runs the original sequence: an overflow
 * on the second trip round the loop is an OverflowError at the BINARY_SUB. */
static void test_fused_loop_tail_overflow_is_reported_at_the_sub_line(void **state) {
    (void)state;
    GvValue r;
    /* line 8 is the BINARY_SUB */
    const char *src = ".func main\n.local a\n LOAD_CONST -9223372036854775807\n STORE_FAST a\n"
                      "top:\n LOAD_FAST a\n LOAD_CONST 1\n BINARY_SUB\n STORE_FAST a\n JUMP top\n.end\n";
    assert_int_equal(gvt_load_call(src, "main", &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_OverflowError);
    GvException *e = (GvException *)GvThreadState_Get()->current_exception;
    assert_non_null(e->traceback);
    assert_int_equal(gv_code_line(e->traceback->code, e->traceback->pc), 8);
    gv_err_clear(GvThreadState_Get());
}

static void test_small_int_constants_go_into_the_operand(void **state) {
    (void)state;
    /* The operand holds signed 24 bits: the ends of that range become
     * LOAD_SMALL_INT, one past them, floats and bools stay LOAD_CONST. */
    GvProgram *p = gvt_assemble(".func main\n LOAD_CONST 8388607\n LOAD_CONST -8388608\n LOAD_CONST 8388608\n"
                        " LOAD_CONST -8388609\n LOAD_CONST 1.0\n LOAD_CONST true\n LOAD_CONST 0\n"
                        " BUILD_LIST 7\n RETURN_VALUE\n.end\n");
    const GvInstr *q = p->code[0]->quick;
    assert_int_equal(GV_OP(q[0]), GV_OP_LOAD_SMALL_INT);
    assert_int_equal(GV_SARG(q[0]), 8388607);
    assert_int_equal(GV_OP(q[1]), GV_OP_LOAD_SMALL_INT);
    assert_int_equal(GV_SARG(q[1]), -8388608);
    for (uint32_t i = 2; i < 6; i++) assert_int_equal(GV_OP(q[i]), GV_OP_LOAD_CONST);
    assert_int_equal(GV_OP(q[6]), GV_OP_LOAD_SMALL_INT);
    assert_int_equal(GV_SARG(q[6]), 0);
    GvProgram_Free(p);
}

/* `x OP c` in one function, for the constant c as written. */
static int64_t add_then_sub(const char *x, const char *c) {
    char src[512];
    snprintf(src, sizeof src,
             ".func main\n.local x y\n LOAD_CONST %s\n STORE_FAST x\n"
             " LOAD_FAST x\n LOAD_CONST %s\n BINARY_ADD\n STORE_FAST y\n"
             " LOAD_FAST y\n LOAD_CONST %s\n BINARY_SUB\n LOAD_CONST 3\n BINARY_MUL\n"
             " LOAD_FAST y\n BINARY_ADD\n RETURN_VALUE\n.end\n",
             x, c, c);
    return run_int(src);
}

static void test_fused_constant_sequences_keep_their_values(void **state) {
    (void)state;
    /* (x + c - c) * 3 + (x + c): the fused form with a negative, a boundary
     * and a large (unfused) constant computes what the plain one does. */
    assert_int_equal(add_then_sub("10", "-5"), 10 * 3 + 5);
    assert_int_equal(add_then_sub("10", "-8388608"), 10 * 3 + 10 - 8388608);
    assert_int_equal(add_then_sub("10", "8388607"), 10 * 3 + 10 + 8388607);
    assert_int_equal(add_then_sub("10", "30000000"), 10 * 3 + 10 + 30000000);
    GvProgram *p = gvt_assemble(".func main\n.local x\n LOAD_FAST x\n LOAD_CONST 30000000\n BINARY_ADD\n"
                        " STORE_FAST x\n LOAD_FAST x\n LOAD_CONST -7\n BINARY_SUB\n RETURN_VALUE\n.end\n");
    assert_int_equal(quick_op(p, 0), GV_OP_LOAD_FAST); /* 30000000 is not a small int */
    assert_int_equal(quick_op(p, 1), GV_OP_LOAD_CONST);
    assert_int_equal(quick_op(p, 4), GV_OP_LFLC_SUB);
    GvProgram_Free(p);
}

static void test_fused_compare_with_negative_constant(void **state) {
    (void)state;
    /* The LOAD_CONST -3 word is a LOAD_SMALL_INT: the fused compare reads
     * the sign; a float local takes the fallback, which runs it too. */
    const char *tmpl = ".func main\n.local x\n LOAD_CONST %s\n STORE_FAST x\n"
                       " LOAD_FAST x\n LOAD_CONST -3\n COMPARE_LT\n POP_JUMP_IF_FALSE no\n"
                       " LOAD_CONST 1\n RETURN_VALUE\nno:\n LOAD_CONST 0\n RETURN_VALUE\n.end\n";
    char src[512];
    const char *xs[] = {"-4", "-3", "5", "-3.5", "-2.5"};
    const int64_t want[] = {1, 0, 0, 1, 0};
    for (int i = 0; i < 5; i++) {
        snprintf(src, sizeof src, tmpl, xs[i]);
        assert_int_equal(run_int(src), want[i]);
    }
    GvProgram *p = gvt_assemble(src);
    assert_int_equal(quick_op(p, 2), GV_OP_LFLC_LT_JF);
    GvProgram_Free(p);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_increment_becomes_one_superinstruction),
        cmocka_unit_test(test_jump_into_sequence_prevents_fusion),
        cmocka_unit_test(test_try_boundary_inside_sequence_prevents_fusion),
        cmocka_unit_test(test_fused_loop_computes_same_sum),
        cmocka_unit_test(test_fused_add_falls_back_for_floats_and_strings),
        cmocka_unit_test(test_fused_compare_falls_back_and_raises_type_error),
        cmocka_unit_test(test_fused_overflow_is_reported_at_the_add_line),
        cmocka_unit_test(test_loop_tail_becomes_one_superinstruction),
        cmocka_unit_test(test_fused_back_jump_checks_the_eval_breaker),
        cmocka_unit_test(test_fused_loop_tail_overflow_is_reported_at_the_sub_line),
        cmocka_unit_test(test_small_int_constants_go_into_the_operand),
        cmocka_unit_test(test_fused_constant_sequences_keep_their_values),
        cmocka_unit_test(test_fused_compare_with_negative_constant),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
