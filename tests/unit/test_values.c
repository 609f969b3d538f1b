/* Generic value operations (runtime/object.c): truthiness, ==, ordering,
 * hashing, type names, and str()/repr() of every kind, including Python's
 * shortest round-trip float repr. */
#include <math.h>

#include "gvtest.h"
#include "../../runtime/code.h"

static void expect_error(GvType *type, const char *message) {
    GvThreadState *ts = GvThreadState_Get();
    assert_non_null(ts->current_exception);
    GvException *e = (GvException *)ts->current_exception;
    assert_string_equal(e->type->name, type->name);
    if (message) assert_string_equal(gv_str_cstr(e->message), message);
    gv_err_clear(ts);
}

static GvObject *S(const char *s) {
    GvObject *o = gv_str_from_cstr(s);
    assert_non_null(o);
    return o;
}

static GvList *L(void) { return (GvList *)gv_list_new(0); }
static GvDict *D(void) { return (GvDict *)gv_dict_new(); }
static GvValue O(void *o) { return gv_obj((GvObject *)o); }

static void check_repr(GvValue v, const char *expected) {
    GvObject *r = gv_repr(v);
    assert_non_null(r);
    assert_string_equal(gv_str_cstr(r), expected);
    gv_decref(r);
}

static void check_str(GvValue v, const char *expected) {
    GvObject *r = gv_str(v);
    assert_non_null(r);
    assert_string_equal(gv_str_cstr(r), expected);
    gv_decref(r);
}

/* ------------------------------------------------------------ truthiness */

static void test_truthiness_follows_python(void **state) {
    (void)state;
    assert_false(gv_truthy(gv_none()));
    assert_false(gv_truthy(gv_bool(false)));
    assert_true(gv_truthy(gv_bool(true)));
    assert_false(gv_truthy(gv_int(0)));
    assert_true(gv_truthy(gv_int(-1)));
    assert_false(gv_truthy(gv_float(0.0)));
    assert_false(gv_truthy(gv_float(-0.0)));
    assert_true(gv_truthy(gv_float(NAN)));
    assert_true(gv_truthy(gv_float(1e-300)));
    GvObject *e = S(""), *x = S("x");
    GvList *l = L();
    GvDict *d = D();
    assert_false(gv_truthy(O(e)));
    assert_true(gv_truthy(O(x)));
    assert_false(gv_truthy(O(l)));
    assert_false(gv_truthy(O(d)));
    gv_list_append(l, gv_none());
    gv_dict_set(d, gv_none(), gv_none());
    assert_true(gv_truthy(O(l)));
    assert_true(gv_truthy(O(d)));
    gv_dict_del(d, gv_none());
    assert_false(gv_truthy(O(d)));
    assert_true(gv_truthy(O(&gv_type_ValueError)));
    gv_decref(e);
    gv_decref(x);
    gv_decref(&l->ob);
    gv_decref(&d->ob);
}

/* ------------------------------------------------------------ equality */

static void test_equality_across_numeric_types(void **state) {
    (void)state;
    assert_int_equal(gv_equal(gv_int(1), gv_float(1.0)), 1);
    assert_int_equal(gv_equal(gv_bool(true), gv_int(1)), 1);
    assert_int_equal(gv_equal(gv_bool(false), gv_float(0.0)), 1);
    assert_int_equal(gv_equal(gv_float(-0.0), gv_int(0)), 1);
    assert_int_equal(gv_equal(gv_int(2), gv_float(2.5)), 0);
    assert_int_equal(gv_equal(gv_float(NAN), gv_float(NAN)), 0);
    /* exact: 2^53 + 1 is not the double 2^53 */
    assert_int_equal(gv_equal(gv_int(9007199254740993), gv_float(9007199254740992.0)), 0);
    assert_int_equal(gv_equal(gv_int(9007199254740992), gv_float(9007199254740992.0)), 1);
    assert_int_equal(gv_equal(gv_int(INT64_MAX), gv_float(9223372036854775808.0)), 0);
    assert_int_equal(gv_equal(gv_int(INT64_MIN), gv_float(-9223372036854775808.0)), 1);
}

static void test_equality_across_unrelated_types_is_false(void **state) {
    (void)state;
    GvObject *one = S("1");
    assert_int_equal(gv_equal(gv_int(1), O(one)), 0);
    assert_int_equal(gv_equal(gv_none(), gv_int(0)), 0);
    assert_int_equal(gv_equal(gv_none(), gv_bool(false)), 0);
    assert_int_equal(gv_equal(gv_none(), gv_none()), 1);
    GvList *l = L();
    GvDict *d = D();
    assert_int_equal(gv_equal(O(l), O(d)), 0);
    assert_int_equal(gv_equal(O(l), gv_none()), 0);
    gv_decref(one);
    gv_decref(&l->ob);
    gv_decref(&d->ob);
}

static void test_str_equality_by_value(void **state) {
    (void)state;
    GvObject *a = S("abc"), *b = S("abc"), *c = S("abd");
    assert_int_equal(gv_equal(O(a), O(b)), 1);
    assert_int_equal(gv_equal(O(a), O(c)), 0);
    gv_decref(a);
    gv_decref(b);
    gv_decref(c);
}

static void test_lists_and_dicts_compare_by_value(void **state) {
    (void)state;
    GvList *a = L(), *b = L();
    GvObject *s = S("x"), *s2 = S("x");
    gv_list_append(a, gv_int(1));
    gv_list_append(a, O(s));
    gv_list_append(b, gv_float(1.0));
    gv_list_append(b, O(s2));
    assert_int_equal(gv_equal(O(a), O(b)), 1);
    gv_list_append(b, gv_none());
    assert_int_equal(gv_equal(O(a), O(b)), 0);

    GvDict *d1 = D(), *d2 = D();
    gv_dict_set(d1, O(s), O(a));
    gv_dict_set(d1, gv_int(2), gv_int(3));
    gv_dict_set(d2, gv_float(2.0), gv_bool(false)); /* order does not matter */
    gv_dict_set(d2, O(s2), O(a));
    assert_int_equal(gv_equal(O(d1), O(d2)), 0);
    gv_dict_set(d2, gv_int(2), gv_float(3.0));
    assert_int_equal(gv_equal(O(d1), O(d2)), 1);
    gv_dict_set(d2, gv_int(9), gv_int(9));
    assert_int_equal(gv_equal(O(d1), O(d2)), 0);
    gv_dict_del(d2, gv_int(9));
    gv_dict_set(d2, O(s2), O(b)); /* same keys, a different list value */
    assert_int_equal(gv_equal(O(d1), O(d2)), 0);

    gv_decref(&d1->ob);
    gv_decref(&d2->ob);
    gv_decref(&a->ob);
    gv_decref(&b->ob);
    gv_decref(s);
    gv_decref(s2);
}

static void test_other_objects_compare_by_identity(void **state) {
    (void)state;
    GvObject *m = S("bad");
    GvObject *e1 = gv_exc_new(&gv_type_ValueError, m, O(m));
    GvObject *e2 = gv_exc_new(&gv_type_ValueError, m, O(m));
    assert_int_equal(gv_equal(O(e1), O(e1)), 1);
    assert_int_equal(gv_equal(O(e1), O(e2)), 0);
    assert_int_equal(gv_equal(O(&gv_type_TypeError), O(&gv_type_TypeError)), 1);
    assert_int_equal(gv_equal(O(&gv_type_TypeError), O(&gv_type_ValueError)), 0);
    gv_decref(e1);
    gv_decref(e2);
    gv_decref(m);
}

static void test_self_referential_list_equals_itself(void **state) {
    (void)state;
    GvList *a = L();
    gv_list_append(a, O(a));
    assert_int_equal(gv_equal(O(a), O(a)), 1);
    gv_list_clear(a);
    gv_decref(&a->ob);
}

static void test_comparing_two_self_referential_lists_raises_recursion_error(void **state) {
    (void)state;
    GvList *a = L(), *b = L();
    gv_list_append(a, O(a));
    gv_list_append(b, O(b));
    assert_int_equal(gv_equal(O(a), O(b)), -1);
    expect_error(&gv_type_RecursionError, "maximum recursion depth exceeded in comparison");
    assert_int_equal(gv_compare(O(a), O(b), '<'), -1);
    expect_error(&gv_type_RecursionError, NULL);
    GvDict *d1 = D(), *d2 = D();
    gv_dict_set(d1, gv_int(0), O(d1));
    gv_dict_set(d2, gv_int(0), O(d2));
    assert_int_equal(gv_equal(O(d1), O(d2)), -1);
    expect_error(&gv_type_RecursionError, NULL);
    gv_list_clear(a);
    gv_list_clear(b);
    gv_dict_clear(d1);
    gv_dict_clear(d2);
    gv_decref(&a->ob);
    gv_decref(&b->ob);
    gv_decref(&d1->ob);
    gv_decref(&d2->ob);
}

static GvList *nest(int depth) {
    GvList *cur = L();
    for (int i = 0; i < depth; i++) {
        GvList *l = L();
        gv_list_append_steal(l, O(cur));
        cur = l;
    }
    return cur;
}

static void test_deeply_nested_equal_lists(void **state) {
    (void)state;
    GvList *a = nest(500), *b = nest(500);
    assert_int_equal(gv_equal(O(a), O(b)), 1);
    gv_decref(&a->ob);
    gv_decref(&b->ob);
    a = nest(100000);
    b = nest(100000);
    assert_int_equal(gv_equal(O(a), O(b)), -1);
    expect_error(&gv_type_RecursionError, NULL);
    gv_decref(&a->ob);
    gv_decref(&b->ob);
}

/* ------------------------------------------------------------ ordering */

static void test_numbers_order_numerically_and_exactly(void **state) {
    (void)state;
    assert_int_equal(gv_compare(gv_int(1), gv_int(2), '<'), 1);
    assert_int_equal(gv_compare(gv_int(2), gv_int(2), 'l'), 1);
    assert_int_equal(gv_compare(gv_int(2), gv_int(2), '>'), 0);
    assert_int_equal(gv_compare(gv_int(3), gv_int(2), 'g'), 1);
    assert_int_equal(gv_compare(gv_int(1), gv_float(1.5), '<'), 1);
    assert_int_equal(gv_compare(gv_float(-1.5), gv_int(-1), '<'), 1);
    assert_int_equal(gv_compare(gv_float(-1.5), gv_int(-2), '>'), 1);
    assert_int_equal(gv_compare(gv_bool(true), gv_float(0.5), '>'), 1);
    assert_int_equal(gv_compare(gv_bool(false), gv_bool(true), '<'), 1);
    /* 2^53 + 1 > 2^53 although (double)(2^53 + 1) == 2^53 */
    assert_int_equal(gv_compare(gv_int(9007199254740993), gv_float(9007199254740992.0), '>'), 1);
    assert_int_equal(gv_compare(gv_float(9007199254740992.0), gv_int(9007199254740993), '<'), 1);
    assert_int_equal(gv_compare(gv_int(INT64_MAX), gv_float(9223372036854775808.0), '<'), 1);
    assert_int_equal(gv_compare(gv_int(INT64_MIN), gv_float(-9223372036854775808.0), 'l'), 1);
    assert_int_equal(gv_compare(gv_int(INT64_MIN), gv_float(-INFINITY), '>'), 1);
    assert_int_equal(gv_compare(gv_int(INT64_MAX), gv_float(INFINITY), '<'), 1);
    /* nan is unordered: every comparison is false */
    const int ops[] = {'<', 'l', '>', 'g'};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(gv_compare(gv_float(NAN), gv_int(1), ops[i]), 0);
        assert_int_equal(gv_compare(gv_int(1), gv_float(NAN), ops[i]), 0);
        assert_int_equal(gv_compare(gv_float(NAN), gv_float(NAN), ops[i]), 0);
    }
}

static void test_strings_order_by_code_point(void **state) {
    (void)state;
    GvObject *a = S("a"), *b = S("b"), *ab = S("ab"), *e = S("\xc3\xa9"), *z = S("z");
    GvObject *up = S("Z");
    assert_int_equal(gv_compare(O(a), O(b), '<'), 1);
    assert_int_equal(gv_compare(O(a), O(ab), '<'), 1);
    assert_int_equal(gv_compare(O(ab), O(ab), 'g'), 1);
    assert_int_equal(gv_compare(O(e), O(z), '>'), 1);
    assert_int_equal(gv_compare(O(up), O(a), '<'), 1);
    gv_decref(a);
    gv_decref(b);
    gv_decref(ab);
    gv_decref(e);
    gv_decref(z);
    gv_decref(up);
}

static void test_lists_order_lexicographically(void **state) {
    (void)state;
    GvList *a = L(), *b = L();
    gv_list_append(a, gv_int(1));
    gv_list_append(a, gv_int(2));
    gv_list_append(b, gv_int(1));
    gv_list_append(b, gv_int(2));
    assert_int_equal(gv_compare(O(a), O(b), 'l'), 1);
    assert_int_equal(gv_compare(O(a), O(b), '<'), 0);
    gv_list_append(b, gv_int(0));
    assert_int_equal(gv_compare(O(a), O(b), '<'), 1); /* a prefix is less */
    gv_list_set(a, 1, gv_float(2.5));
    assert_int_equal(gv_compare(O(a), O(b), '>'), 1); /* first difference decides */
    /* the first differing items decide even when later ones are incomparable */
    GvObject *s = S("s");
    gv_list_append(a, O(s));
    assert_int_equal(gv_compare(O(a), O(b), '>'), 1);
    gv_list_set(a, 1, gv_int(2));
    assert_int_equal(gv_compare(O(a), O(b), '<'), -1); /* 's' < 0 */
    expect_error(&gv_type_TypeError, "'<' not supported between instances of 'str' and 'int'");
    GvList *e = L();
    assert_int_equal(gv_compare(O(e), O(e), 'g'), 1);
    gv_decref(&e->ob);
    gv_decref(s);
    gv_decref(&a->ob);
    gv_decref(&b->ob);
}

static void test_ordering_unrelated_types_raises_type_error(void **state) {
    (void)state;
    GvObject *s = S("a");
    GvDict *d = D();
    GvList *l = L();
    assert_int_equal(gv_compare(gv_int(1), O(s), '<'), -1);
    expect_error(&gv_type_TypeError, "'<' not supported between instances of 'int' and 'str'");
    assert_int_equal(gv_compare(O(l), gv_int(1), 'l'), -1);
    expect_error(&gv_type_TypeError, "'<=' not supported between instances of 'list' and 'int'");
    assert_int_equal(gv_compare(gv_none(), gv_none(), '>'), -1);
    expect_error(&gv_type_TypeError,
                 "'>' not supported between instances of 'NoneType' and 'NoneType'");
    assert_int_equal(gv_compare(O(d), O(d), 'g'), -1);
    expect_error(&gv_type_TypeError, "'>=' not supported between instances of 'dict' and 'dict'");
    gv_decref(s);
    gv_decref(&d->ob);
    gv_decref(&l->ob);
}

/* ------------------------------------------------------------ hashing */

static void test_equal_keys_hash_equal(void **state) {
    (void)state;
    uint64_t h1, h2, h3, h4;
    assert_int_equal(gv_hash(gv_int(1), &h1), 0);
    assert_int_equal(gv_hash(gv_float(1.0), &h2), 0);
    assert_int_equal(gv_hash(gv_bool(true), &h3), 0);
    assert_true(h1 == h2 && h2 == h3);
    gv_hash(gv_int(0), &h1);
    gv_hash(gv_float(-0.0), &h2);
    gv_hash(gv_bool(false), &h3);
    assert_true(h1 == h2 && h2 == h3);
    gv_hash(gv_int(INT64_MIN), &h1);
    gv_hash(gv_float(-9223372036854775808.0), &h2);
    assert_true(h1 == h2);
    GvObject *a = S("key"), *b = S("key");
    gv_hash(O(a), &h1);
    gv_hash(O(b), &h2);
    assert_true(h1 == h2);
    assert_int_equal(gv_hash(gv_none(), &h4), 0);
    assert_int_equal(gv_hash(gv_float(NAN), &h4), 0);
    assert_int_equal(gv_hash(gv_float(INFINITY), &h4), 0);
    gv_decref(a);
    gv_decref(b);
}

static void test_unhashable_kinds_raise_type_error(void **state) {
    (void)state;
    uint64_t h;
    GvList *l = L();
    GvDict *d = D();
    assert_int_equal(gv_hash(O(l), &h), -1);
    expect_error(&gv_type_TypeError, "unhashable type: 'list'");
    assert_int_equal(gv_hash(O(d), &h), -1);
    expect_error(&gv_type_TypeError, "unhashable type: 'dict'");
    assert_int_equal(gv_hash(O(&gv_type_KeyError), &h), -1);
    expect_error(&gv_type_TypeError, "unhashable type: 'type'");
    gv_decref(&l->ob);
    gv_decref(&d->ob);
}

/* ------------------------------------------------------------ repr and str */

static void test_repr_of_scalars(void **state) {
    (void)state;
    check_repr(gv_none(), "None");
    check_repr(gv_bool(true), "True");
    check_repr(gv_bool(false), "False");
    check_repr(gv_int(0), "0");
    check_repr(gv_int(-42), "-42");
    check_repr(gv_int(INT64_MIN), "-9223372036854775808");
    check_repr(gv_int(INT64_MAX), "9223372036854775807");
    check_str(gv_none(), "None");
    check_str(gv_bool(true), "True");
    check_str(gv_int(7), "7");
}

static const struct {
    double value;
    const char *repr;
} float_cases[] = {
    /* from Python 3's repr() */
    {2.0, "2.0"},
    {0.1, "0.1"},
    {0.30000000000000004, "0.30000000000000004"},
    {1e+16, "1e+16"},
    {1e-05, "1e-05"},
    {1000000000000000.0, "1000000000000000.0"},
    {0.0001, "0.0001"},
    {1e+22, "1e+22"},
    {1.5e+300, "1.5e+300"},
    {5e-324, "5e-324"},
    {1.7976931348623157e+308, "1.7976931348623157e+308"},
    {2.2250738585072014e-308, "2.2250738585072014e-308"},
    {123456789.123, "123456789.123"},
    {2.5, "2.5"},
    {100.0, "100.0"},
    {-1.5, "-1.5"},
    {0.3333333333333333, "0.3333333333333333"},
    {1.5e-323, "1.5e-323"},
    {1.0715086071862673e+301, "1.0715086071862673e+301"},
    {9007199254740992.0, "9007199254740992.0"},
    {1e-07, "1e-07"},
    {1.2345678901234568e+16, "1.2345678901234568e+16"},
    {1e+100, "1e+100"},
    {3.14159, "3.14159"},
    {9.223372036854776e+18, "9.223372036854776e+18"},
    {-9.223372036854776e+18, "-9.223372036854776e+18"},
    {9999999999999998.0, "9999999999999998.0"},
    {0.3, "0.3"},
    {4.35, "4.35"},
    {9.995, "9.995"},
    {5e-310, "5e-310"},
    {1.152921504606847e+18, "1.152921504606847e+18"},
    {12345678000000.0, "12345678000000.0"},
    {0.0, "0.0"},
    {-0.0, "-0.0"},
    {1.0, "1.0"},
    {-1e-05, "-1e-05"},
};

static void test_float_repr_is_pythons_shortest_round_trip(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof float_cases / sizeof *float_cases; i++) {
        check_repr(gv_float(float_cases[i].value), float_cases[i].repr);
        check_str(gv_float(float_cases[i].value), float_cases[i].repr);
    }
    check_repr(gv_float(0.1 + 0.2), "0.30000000000000004");
    check_repr(gv_float(INFINITY), "inf");
    check_repr(gv_float(-INFINITY), "-inf");
    check_repr(gv_float(NAN), "nan");
    check_repr(gv_float(-NAN), "nan");
}

static void test_float_repr_round_trips_for_many_values(void **state) {
    (void)state;
    uint64_t x = 0x123456789abcdefull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d)) continue;
        GvObject *r = gv_repr(gv_float(d));
        assert_non_null(r);
        assert_true(strtod(gv_str_cstr(r), NULL) == d);
        assert_true(((GvStr *)r)->size <= 24);
        gv_decref(r);
    }
    /* every power of two: where the rounding interval is lopsided */
    for (int e = -1074; e < 1024; e++) {
        double d = ldexp(1.0, e);
        GvObject *r = gv_repr(gv_float(d));
        assert_true(strtod(gv_str_cstr(r), NULL) == d);
        gv_decref(r);
    }
}

static void test_str_of_str_is_itself_and_repr_quotes_it(void **state) {
    (void)state;
    GvObject *s = S("it's");
    GvObject *r = gv_str(O(s));
    assert_ptr_equal(r, s);
    gv_decref(r);
    check_repr(O(s), "\"it's\"");
    GvObject *plain = S("a\nb");
    check_repr(O(plain), "'a\\nb'");
    check_str(O(plain), "a\nb");
    gv_decref(plain);
    gv_decref(s);
}

static void test_repr_of_lists_and_dicts(void **state) {
    (void)state;
    GvList *l = L();
    GvDict *d = D();
    check_repr(O(l), "[]");
    check_repr(O(d), "{}");
    GvObject *a = S("a"), *k = S("k"), *q = S("it's");
    gv_list_append(l, gv_int(1));
    gv_list_append(l, O(a));
    check_repr(O(l), "[1, 'a']");
    check_str(O(l), "[1, 'a']");
    gv_dict_set(d, O(k), gv_int(2));
    check_repr(O(d), "{'k': 2}");
    gv_dict_set(d, gv_float(1.5), O(l));
    gv_dict_set(d, gv_none(), gv_bool(true));
    check_repr(O(d), "{'k': 2, 1.5: [1, 'a'], None: True}");
    GvList *outer = L();
    gv_list_append(outer, O(d));
    gv_list_append(outer, O(l));
    gv_list_append(outer, gv_float(0.1));
    gv_list_append(outer, O(q));
    gv_list_append(outer, gv_none());
    check_str(O(outer), "[{'k': 2, 1.5: [1, 'a'], None: True}, [1, 'a'], 0.1, \"it's\", None]");
    gv_decref(&outer->ob);
    gv_decref(&l->ob);
    gv_decref(&d->ob);
    gv_decref(a);
    gv_decref(k);
    gv_decref(q);
}

static void test_repr_of_self_referential_containers(void **state) {
    (void)state;
    GvList *l = L();
    gv_list_append(l, gv_int(1));
    gv_list_append(l, O(l));
    check_repr(O(l), "[1, [...]]");
    GvDict *d = D();
    GvObject *k = S("self");
    gv_dict_set(d, O(k), O(d));
    check_repr(O(d), "{'self': {...}}");
    gv_list_append(l, O(d));
    check_repr(O(l), "[1, [...], {'self': {...}}]");
    gv_list_clear(l);
    gv_dict_clear(d);
    gv_decref(&l->ob);
    gv_decref(&d->ob);
    gv_decref(k);
}

static void test_repr_of_very_deep_list_raises_recursion_error(void **state) {
    (void)state;
    GvList *l = nest(100000);
    assert_null(gv_repr(O(l)));
    expect_error(&gv_type_RecursionError, NULL);
    gv_decref(&l->ob);
    l = nest(3);
    check_repr(O(l), "[[[[]]]]");
    gv_decref(&l->ob);
}

static void test_exception_str_is_message_and_repr_is_pythons(void **state) {
    (void)state;
    GvObject *m = S("bad");
    GvObject *e = gv_exc_new(&gv_type_ValueError, m, O(m));
    check_str(O(e), "bad");
    check_repr(O(e), "ValueError('bad')");
    assert_string_equal(gv_type_name(O(e)), "ValueError");
    GvObject *empty = gv_exc_new(&gv_type_KeyError, NULL, gv_none());
    check_str(O(empty), "");
    check_repr(O(empty), "KeyError()");
    assert_string_equal(gv_type_name(O(empty)), "KeyError");
    GvObject *code = S("3");
    GvObject *sx = gv_exc_new(&gv_type_SystemExit, code, gv_int(3));
    check_repr(O(sx), "SystemExit(3)");
    gv_decref(sx);
    gv_decref(code);
    gv_decref(e);
    gv_decref(empty);
    gv_decref(m);
}

static void test_type_repr_and_name(void **state) {
    (void)state;
    check_repr(O(&gv_type_ValueError), "<class 'ValueError'>");
    check_str(O(&gv_type_RecursionError), "<class 'RecursionError'>");
    assert_string_equal(gv_type_name(O(&gv_type_ValueError)), "type");
}

static int dummy_builtin(GvThreadState *ts, int argc, GvValue *argv, GvValue *result) {
    (void)ts, (void)argc, (void)argv;
    *result = gv_none();
    return 0;
}

static void test_function_and_builtin_repr_and_names(void **state) {
    (void)state;
    GvObject *name = S("fib"), *file = S("t.gva");
    GvCode *code = gv_code_new(name, file, 0, 0, 0, 0, 0, 0);
    assert_non_null(code);
    GvObject *f = gv_function_new(code);
    assert_non_null(f);
    check_repr(O(f), "<function fib>");
    check_str(O(f), "<function fib>");
    assert_string_equal(gv_type_name(O(f)), "function");
    assert_string_equal(gv_type_name(O(code)), "code");
    assert_int_equal(gv_equal(O(f), O(f)), 1);
    assert_true(gv_truthy(O(f)));
    GvObject *b = gv_builtin_new("print", dummy_builtin, 0, -1);
    check_repr(O(b), "<built-in function print>");
    assert_string_equal(gv_type_name(O(b)), "builtin_function_or_method");
    gv_decref(b);
    gv_decref(f);
    gv_decref(&code->ob);
    gv_decref(name);
    gv_decref(file);
}

static int native_freed;
static void native_dealloc(GvObject *o) {
    (void)o;
    native_freed++;
}
static const GvNativeType lock_type = {"lock", native_dealloc, NULL};

static void test_native_objects_have_their_type_name_and_destructor(void **state) {
    (void)state;
    GvNative *n = (GvNative *)gv_native_new(&lock_type, sizeof(GvNative));
    assert_non_null(n);
    assert_false(n->ob.flags & GV_OBJ_TRACKED); /* no clear: holds no references */
    assert_string_equal(gv_type_name(O(n)), "lock");
    GvObject *r = gv_repr(O(n));
    assert_memory_equal(gv_str_cstr(r), "<lock object at 0x", 18);
    gv_decref(r);
    native_freed = 0;
    gv_decref(&n->ob);
    assert_int_equal(native_freed, 1);
}

static void test_type_names_of_core_kinds(void **state) {
    (void)state;
    GvObject *s = S("");
    GvList *l = L();
    GvDict *d = D();
    assert_string_equal(gv_type_name(gv_int(1)), "int");
    assert_string_equal(gv_type_name(gv_float(1)), "float");
    assert_string_equal(gv_type_name(gv_bool(1)), "bool");
    assert_string_equal(gv_type_name(gv_none()), "NoneType");
    assert_string_equal(gv_type_name(O(s)), "str");
    assert_string_equal(gv_type_name(O(l)), "list");
    assert_string_equal(gv_type_name(O(d)), "dict");
    gv_decref(s);
    gv_decref(&l->ob);
    gv_decref(&d->ob);
}

static void test_static_objects_survive_extra_decrefs(void **state) {
    (void)state;
    GvObject *t = &gv_type_IndexError.ob;
    int64_t before = t->refcnt;
    gv_incref(t);
    gv_decref(t);
    assert_int_equal(t->refcnt, before);
    assert_true(t->flags & GV_OBJ_STATIC);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truthiness_follows_python),
        cmocka_unit_test(test_equality_across_numeric_types),
        cmocka_unit_test(test_equality_across_unrelated_types_is_false),
        cmocka_unit_test(test_str_equality_by_value),
        cmocka_unit_test(test_lists_and_dicts_compare_by_value),
        cmocka_unit_test(test_other_objects_compare_by_identity),
        cmocka_unit_test(test_self_referential_list_equals_itself),
        cmocka_unit_test(test_comparing_two_self_referential_lists_raises_recursion_error),
        cmocka_unit_test(test_deeply_nested_equal_lists),
        cmocka_unit_test(test_numbers_order_numerically_and_exactly),
        cmocka_unit_test(test_strings_order_by_code_point),
        cmocka_unit_test(test_lists_order_lexicographically),
        cmocka_unit_test(test_ordering_unrelated_types_raises_type_error),
        cmocka_unit_test(test_equal_keys_hash_equal),
        cmocka_unit_test(test_unhashable_kinds_raise_type_error),
        cmocka_unit_test(test_repr_of_scalars),
        cmocka_unit_test(test_float_repr_is_pythons_shortest_round_trip),
        cmocka_unit_test(test_float_repr_round_trips_for_many_values),
        cmocka_unit_test(test_str_of_str_is_itself_and_repr_quotes_it),
        cmocka_unit_test(test_repr_of_lists_and_dicts),
        cmocka_unit_test(test_repr_of_self_referential_containers),
        cmocka_unit_test(test_repr_of_very_deep_list_raises_recursion_error),
        cmocka_unit_test(test_exception_str_is_message_and_repr_is_pythons),
        cmocka_unit_test(test_type_repr_and_name),
        cmocka_unit_test(test_function_and_builtin_repr_and_names),
        cmocka_unit_test(test_native_objects_have_their_type_name_and_destructor),
        cmocka_unit_test(test_type_names_of_core_kinds),
        cmocka_unit_test(test_static_objects_survive_extra_decrefs),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
