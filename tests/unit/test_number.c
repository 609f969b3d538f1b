/* Arithmetic (runtime/number.c): exact 64-bit ints that raise instead of
 * wrapping, Python's floor division and modulo, true division, mixed
 * int/float/bool, str and list joining, and Python's error messages. */
#include <math.h>

#include "gvtest.h"

static void expect_error(GvType *type, const char *message) {
    GvThreadState *ts = GvThreadState_Get();
    assert_non_null(ts->current_exception);
    GvException *e = (GvException *)ts->current_exception;
    assert_string_equal(e->type->name, type->name);
    assert_ptr_equal(e->type, type);
    if (message) {
        assert_non_null(e->message);
        assert_string_equal(gv_str_cstr(e->message), message);
    }
    gv_err_clear(ts);
}

static int64_t int_result(GvBinop op, GvValue a, GvValue b) {
    GvValue r;
    assert_int_equal(gv_binary_op(op, a, b, &r), 0);
    assert_int_equal(r.tag, GV_TINT);
    return r.as.i;
}

static double float_result(GvBinop op, GvValue a, GvValue b) {
    GvValue r;
    assert_int_equal(gv_binary_op(op, a, b, &r), 0);
    assert_int_equal(r.tag, GV_TFLOAT);
    return r.as.f;
}

static void expect_raise(GvBinop op, GvValue a, GvValue b, GvType *type, const char *msg) {
    GvValue r = gv_int(12345);
    assert_int_equal(gv_binary_op(op, a, b, &r), -1);
    expect_error(type, msg);
}

static GvObject *S(const char *s) {
    GvObject *o = gv_str_new(s, strlen(s));
    assert_non_null(o);
    return o;
}

static void test_int_add_sub_mul(void **state) {
    (void)state;
    assert_int_equal(int_result(GV_OP_ADD, gv_int(2), gv_int(3)), 5);
    assert_int_equal(int_result(GV_OP_SUB, gv_int(2), gv_int(3)), -1);
    assert_int_equal(int_result(GV_OP_MUL, gv_int(-4), gv_int(3)), -12);
    assert_int_equal(int_result(GV_OP_ADD, gv_int(INT64_MAX - 1), gv_int(1)), INT64_MAX);
    assert_int_equal(int_result(GV_OP_SUB, gv_int(INT64_MIN + 1), gv_int(1)), INT64_MIN);
    assert_int_equal(int_result(GV_OP_MUL, gv_int(INT64_MIN / 2), gv_int(2)), INT64_MIN);
}

static void test_int_add_overflow_raises_overflow_error(void **state) {
    (void)state;
    expect_raise(GV_OP_ADD, gv_int(INT64_MAX), gv_int(1), &gv_type_OverflowError, "integer overflow");
    expect_raise(GV_OP_ADD, gv_int(INT64_MIN), gv_int(-1), &gv_type_OverflowError, "integer overflow");
}

static void test_int_sub_overflow_raises_overflow_error(void **state) {
    (void)state;
    expect_raise(GV_OP_SUB, gv_int(INT64_MIN), gv_int(1), &gv_type_OverflowError, "integer overflow");
    expect_raise(GV_OP_SUB, gv_int(0), gv_int(INT64_MIN), &gv_type_OverflowError, "integer overflow");
}

static void test_int_mul_overflow_raises_overflow_error(void **state) {
    (void)state;
    expect_raise(GV_OP_MUL, gv_int(INT64_MAX), gv_int(2), &gv_type_OverflowError, "integer overflow");
    expect_raise(GV_OP_MUL, gv_int(INT64_MIN), gv_int(-1), &gv_type_OverflowError, "integer overflow");
    expect_raise(GV_OP_MUL, gv_int(3037000500), gv_int(3037000500), &gv_type_OverflowError, NULL);
}

static void test_int_floordiv_rounds_toward_negative_infinity(void **state) {
    (void)state;
    assert_int_equal(int_result(GV_OP_FLOORDIV, gv_int(7), gv_int(2)), 3);
    assert_int_equal(int_result(GV_OP_FLOORDIV, gv_int(-7), gv_int(2)), -4);
    assert_int_equal(int_result(GV_OP_FLOORDIV, gv_int(7), gv_int(-2)), -4);
    assert_int_equal(int_result(GV_OP_FLOORDIV, gv_int(-7), gv_int(-2)), 3);
    assert_int_equal(int_result(GV_OP_FLOORDIV, gv_int(-6), gv_int(2)), -3);
    assert_int_equal(int_result(GV_OP_FLOORDIV, gv_int(INT64_MIN), gv_int(1)), INT64_MIN);
    assert_int_equal(int_result(GV_OP_FLOORDIV, gv_int(INT64_MAX), gv_int(-1)), -INT64_MAX);
}

static void test_int_mod_takes_divisor_sign(void **state) {
    (void)state;
    assert_int_equal(int_result(GV_OP_MOD, gv_int(7), gv_int(3)), 1);
    assert_int_equal(int_result(GV_OP_MOD, gv_int(-7), gv_int(3)), 2);
    assert_int_equal(int_result(GV_OP_MOD, gv_int(7), gv_int(-3)), -2);
    assert_int_equal(int_result(GV_OP_MOD, gv_int(-7), gv_int(-3)), -1);
    assert_int_equal(int_result(GV_OP_MOD, gv_int(6), gv_int(-3)), 0);
    assert_int_equal(int_result(GV_OP_MOD, gv_int(INT64_MIN), gv_int(INT64_MAX)), INT64_MAX - 1);
}

static void test_int_min_floordiv_minus_one_raises_overflow_error(void **state) {
    (void)state;
    expect_raise(GV_OP_FLOORDIV, gv_int(INT64_MIN), gv_int(-1), &gv_type_OverflowError,
                 "integer overflow");
}

static void test_int_min_mod_minus_one_is_zero(void **state) {
    (void)state;
    assert_int_equal(int_result(GV_OP_MOD, gv_int(INT64_MIN), gv_int(-1)), 0);
    assert_int_equal(int_result(GV_OP_MOD, gv_int(5), gv_int(-1)), 0);
}

static void test_int_division_by_zero_raises_zero_division_error(void **state) {
    (void)state;
    expect_raise(GV_OP_DIV, gv_int(1), gv_int(0), &gv_type_ZeroDivisionError, "division by zero");
    expect_raise(GV_OP_FLOORDIV, gv_int(1), gv_int(0), &gv_type_ZeroDivisionError,
                 "integer division or modulo by zero");
    expect_raise(GV_OP_MOD, gv_int(1), gv_int(0), &gv_type_ZeroDivisionError,
                 "integer modulo by zero");
    expect_raise(GV_OP_MOD, gv_int(1), gv_bool(false), &gv_type_ZeroDivisionError, NULL);
}

static void test_float_division_by_zero_raises_zero_division_error(void **state) {
    (void)state;
    expect_raise(GV_OP_DIV, gv_float(1.0), gv_float(0.0), &gv_type_ZeroDivisionError,
                 "float division by zero");
    expect_raise(GV_OP_DIV, gv_int(1), gv_float(-0.0), &gv_type_ZeroDivisionError,
                 "float division by zero");
    expect_raise(GV_OP_DIV, gv_float(1.0), gv_int(0), &gv_type_ZeroDivisionError,
                 "float division by zero");
    expect_raise(GV_OP_FLOORDIV, gv_float(1.0), gv_float(0.0), &gv_type_ZeroDivisionError,
                 "float floor division by zero");
    expect_raise(GV_OP_MOD, gv_float(1.0), gv_float(0.0), &gv_type_ZeroDivisionError,
                 "float modulo"); /* Python 3.11's wording */
}

static void test_true_division_is_always_float(void **state) {
    (void)state;
    assert_true(float_result(GV_OP_DIV, gv_int(7), gv_int(2)) == 3.5);
    assert_true(float_result(GV_OP_DIV, gv_int(4), gv_int(2)) == 2.0);
    assert_true(float_result(GV_OP_DIV, gv_int(-1), gv_int(3)) == -1.0 / 3.0);
    assert_true(float_result(GV_OP_DIV, gv_bool(true), gv_bool(true)) == 1.0);
    /* large ints divide exactly, not through a lossy double conversion */
    assert_true(float_result(GV_OP_DIV, gv_int(INT64_MAX), gv_int(1)) == 9223372036854775808.0);
    assert_true(float_result(GV_OP_DIV, gv_int(INT64_MIN), gv_int(-1)) == 9223372036854775808.0);
    assert_true(float_result(GV_OP_DIV, gv_int((1LL << 60) + 3), gv_int(1LL << 59)) == 2.0);
}

static void test_float_floordiv_and_mod_follow_python(void **state) {
    (void)state;
    assert_true(float_result(GV_OP_FLOORDIV, gv_float(7.5), gv_float(2.0)) == 3.0);
    assert_true(float_result(GV_OP_FLOORDIV, gv_float(7.5), gv_float(-2.0)) == -4.0);
    assert_true(float_result(GV_OP_FLOORDIV, gv_float(-7.5), gv_int(2)) == -4.0);
    assert_true(float_result(GV_OP_MOD, gv_float(7.5), gv_float(-2.0)) == -0.5);
    assert_true(float_result(GV_OP_MOD, gv_float(-7.5), gv_float(2.0)) == 0.5);
    assert_true(float_result(GV_OP_MOD, gv_float(5.5), gv_float(2.5)) == 0.5);
    /* Python: 1 % -0.5 == -0.0, 0.0 // -1 == -0.0, -1e-300 % 1 == 1.0 */
    double m = float_result(GV_OP_MOD, gv_int(1), gv_float(-0.5));
    assert_true(m == 0.0 && signbit(m));
    double q = float_result(GV_OP_FLOORDIV, gv_float(0.0), gv_int(-1));
    assert_true(q == 0.0 && signbit(q));
    assert_true(float_result(GV_OP_MOD, gv_float(-1e-300), gv_int(1)) == 1.0);
    /* Python: 0.1 // 0.01 == 10.0, 1 // 0.1 == 9.0, 1 % 0.1 == 0.09999999999999995 */
    assert_true(float_result(GV_OP_FLOORDIV, gv_float(0.1), gv_float(0.01)) == 10.0);
    assert_true(float_result(GV_OP_FLOORDIV, gv_int(1), gv_float(0.1)) == 9.0);
    assert_true(float_result(GV_OP_MOD, gv_int(1), gv_float(0.1)) == 0.09999999999999995);
    assert_true(isinf(float_result(GV_OP_MUL, gv_float(1e308), gv_int(10))));
}

static void test_bool_acts_as_int(void **state) {
    (void)state;
    assert_int_equal(int_result(GV_OP_ADD, gv_bool(true), gv_int(1)), 2);
    assert_int_equal(int_result(GV_OP_ADD, gv_bool(true), gv_bool(true)), 2);
    assert_int_equal(int_result(GV_OP_MUL, gv_bool(false), gv_int(99)), 0);
    assert_int_equal(int_result(GV_OP_SUB, gv_bool(false), gv_bool(true)), -1);
    expect_raise(GV_OP_ADD, gv_int(INT64_MAX), gv_bool(true), &gv_type_OverflowError, NULL);
}

static void test_mixed_int_float_promotes_to_float(void **state) {
    (void)state;
    assert_true(float_result(GV_OP_ADD, gv_int(1), gv_float(0.5)) == 1.5);
    assert_true(float_result(GV_OP_SUB, gv_float(0.5), gv_int(1)) == -0.5);
    assert_true(float_result(GV_OP_MUL, gv_bool(true), gv_float(2.5)) == 2.5);
    assert_true(float_result(GV_OP_ADD, gv_float(1.0), gv_float(1.0)) == 2.0);
}

static void test_str_add_joins_into_new_str(void **state) {
    (void)state;
    GvObject *a = S("foo"), *b = S("bar");
    GvValue r;
    assert_int_equal(gv_binary_op(GV_OP_ADD, gv_obj(a), gv_obj(b), &r), 0);
    assert_true(gv_is_kind(r, GV_KSTR));
    assert_string_equal(gv_str_cstr(r.as.o), "foobar");
    assert_int_equal(r.as.o->refcnt, 1);
    gv_vdecref(r);
    gv_decref(a);
    gv_decref(b);
}

static void test_list_add_joins_into_new_list(void **state) {
    (void)state;
    GvList *a = (GvList *)gv_list_new(0), *b = (GvList *)gv_list_new(0);
    gv_list_append(a, gv_int(1));
    gv_list_append(b, gv_int(2));
    gv_list_append(b, gv_int(3));
    GvValue r;
    assert_int_equal(gv_binary_op(GV_OP_ADD, gv_obj(&a->ob), gv_obj(&b->ob), &r), 0);
    assert_true(gv_is_kind(r, GV_KLIST));
    GvList *l = gv_as_list(r);
    assert_ptr_not_equal(l, a);
    assert_int_equal(l->size, 3);
    assert_int_equal(l->items[2].as.i, 3);
    assert_int_equal(a->size, 1);
    gv_vdecref(r);
    gv_decref(&a->ob);
    gv_decref(&b->ob);
}

static void test_sequence_repetition(void **state) {
    (void)state;
    GvObject *s = S("ab");
    GvValue r;
    assert_int_equal(gv_binary_op(GV_OP_MUL, gv_obj(s), gv_int(3), &r), 0);
    assert_string_equal(gv_str_cstr(r.as.o), "ababab");
    gv_vdecref(r);
    assert_int_equal(gv_binary_op(GV_OP_MUL, gv_int(-2), gv_obj(s), &r), 0);
    assert_string_equal(gv_str_cstr(r.as.o), "");
    gv_vdecref(r);
    GvList *l = (GvList *)gv_list_new(0);
    gv_list_append(l, gv_obj(s));
    assert_int_equal(gv_binary_op(GV_OP_MUL, gv_obj(&l->ob), gv_int(4), &r), 0);
    assert_int_equal(gv_as_list(r)->size, 4);
    assert_int_equal(s->refcnt, 6);
    gv_vdecref(r);
    gv_decref(&l->ob);
    expect_raise(GV_OP_MUL, gv_obj(s), gv_float(2.0), &gv_type_TypeError,
                 "can't multiply sequence by non-int of type 'float'");
    gv_decref(s);
}

static void test_wrong_operand_types_raise_type_error(void **state) {
    (void)state;
    GvObject *s = S("a");
    GvObject *l = gv_list_new(0);
    expect_raise(GV_OP_ADD, gv_int(1), gv_obj(s), &gv_type_TypeError,
                 "unsupported operand type(s) for +: 'int' and 'str'");
    expect_raise(GV_OP_SUB, gv_obj(s), gv_obj(s), &gv_type_TypeError,
                 "unsupported operand type(s) for -: 'str' and 'str'");
    expect_raise(GV_OP_DIV, gv_none(), gv_int(1), &gv_type_TypeError,
                 "unsupported operand type(s) for /: 'NoneType' and 'int'");
    expect_raise(GV_OP_FLOORDIV, gv_float(1.0), gv_obj(l), &gv_type_TypeError,
                 "unsupported operand type(s) for //: 'float' and 'list'");
    expect_raise(GV_OP_MOD, gv_bool(true), gv_none(), &gv_type_TypeError,
                 "unsupported operand type(s) for %: 'bool' and 'NoneType'");
    expect_raise(GV_OP_ADD, gv_obj(s), gv_int(1), &gv_type_TypeError,
                 "can only concatenate str (not \"int\") to str");
    expect_raise(GV_OP_ADD, gv_obj(l), gv_obj(s), &gv_type_TypeError,
                 "can only concatenate list (not \"str\") to list");
    expect_raise(GV_OP_MUL, gv_obj(s), gv_obj(l), &gv_type_TypeError,
                 "can't multiply sequence by non-int of type 'list'");
    gv_decref(s);
    gv_decref(l);
}

static void test_negate(void **state) {
    (void)state;
    GvValue r;
    assert_int_equal(gv_negate(gv_int(5), &r), 0);
    assert_int_equal(r.tag, GV_TINT);
    assert_int_equal(r.as.i, -5);
    assert_int_equal(gv_negate(gv_int(INT64_MAX), &r), 0);
    assert_int_equal(r.as.i, -INT64_MAX);
    assert_int_equal(gv_negate(gv_bool(true), &r), 0);
    assert_int_equal(r.tag, GV_TINT);
    assert_int_equal(r.as.i, -1);
    assert_int_equal(gv_negate(gv_float(0.0), &r), 0);
    assert_true(r.tag == GV_TFLOAT && signbit(r.as.f));
}

static void test_negate_int_min_raises_overflow_error(void **state) {
    (void)state;
    GvValue r;
    assert_int_equal(gv_negate(gv_int(INT64_MIN), &r), -1);
    expect_error(&gv_type_OverflowError, "integer overflow");
}

static void test_negate_non_number_raises_type_error(void **state) {
    (void)state;
    GvObject *s = S("x");
    GvValue r;
    assert_int_equal(gv_negate(gv_obj(s), &r), -1);
    expect_error(&gv_type_TypeError, "bad operand type for unary -: 'str'");
    assert_int_equal(gv_negate(gv_none(), &r), -1);
    expect_error(&gv_type_TypeError, "bad operand type for unary -: 'NoneType'");
    gv_decref(s);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_add_sub_mul),
        cmocka_unit_test(test_int_add_overflow_raises_overflow_error),
        cmocka_unit_test(test_int_sub_overflow_raises_overflow_error),
        cmocka_unit_test(test_int_mul_overflow_raises_overflow_error),
        cmocka_unit_test(test_int_floordiv_rounds_toward_negative_infinity),
        cmocka_unit_test(test_int_mod_takes_divisor_sign),
        cmocka_unit_test(test_int_min_floordiv_minus_one_raises_overflow_error),
        cmocka_unit_test(test_int_min_mod_minus_one_is_zero),
        cmocka_unit_test(test_int_division_by_zero_raises_zero_division_error),
        cmocka_unit_test(test_float_division_by_zero_raises_zero_division_error),
        cmocka_unit_test(test_true_division_is_always_float),
        cmocka_unit_test(test_float_floordiv_and_mod_follow_python),
        cmocka_unit_test(test_bool_acts_as_int),
        cmocka_unit_test(test_mixed_int_float_promotes_to_float),
        cmocka_unit_test(test_str_add_joins_into_new_str),
        cmocka_unit_test(test_list_add_joins_into_new_list),
        cmocka_unit_test(test_sequence_repetition),
        cmocka_unit_test(test_wrong_operand_types_raise_type_error),
        cmocka_unit_test(test_negate),
        cmocka_unit_test(test_negate_int_min_raises_overflow_error),
        cmocka_unit_test(test_negate_non_number_raises_type_error),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
