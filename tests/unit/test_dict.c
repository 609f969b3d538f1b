/* Dicts (runtime/dict.c): lookup, replacement, key unification (1, 1.0 and
 * true are one key), unhashable keys, deletion, insertion order, growth to
 * 100k entries with deletions, and clearing. */
#include <math.h>

#include "gvtest.h"

static void expect_error(GvType *type, const char *message) {
    GvThreadState *ts = GvThreadState_Get();
    assert_non_null(ts->current_exception);
    GvException *e = (GvException *)ts->current_exception;
    assert_ptr_equal(e->type, type);
    if (message) assert_string_equal(gv_str_cstr(e->message), message);
    gv_err_clear(ts);
}

static GvDict *D(void) {
    GvObject *o = gv_dict_new();
    assert_non_null(o);
    return (GvDict *)o;
}

static GvObject *S(const char *s) {
    GvObject *o = gv_str_from_cstr(s);
    assert_non_null(o);
    return o;
}

/* d[key] as an int, asserting it is present. */
static int64_t get_int(GvDict *d, GvValue key) {
    GvValue v;
    assert_int_equal(gv_dict_get(d, key, &v), 1);
    assert_true(gv_is_intlike(v));
    return v.as.i;
}

static void test_empty_dict_lookup_finds_nothing(void **state) {
    (void)state;
    GvDict *d = D();
    GvValue v;
    assert_int_equal(d->used, 0);
    assert_int_equal(gv_dict_get(d, gv_int(1), &v), 0);
    GvObject *k = S("x");
    assert_int_equal(gv_dict_get_str(d, k, &v), 0);
    assert_int_equal(gv_dict_del(d, gv_int(1)), 0);
    gv_decref(k);
    gv_decref(&d->ob);
}

static void test_set_then_get_returns_new_reference(void **state) {
    (void)state;
    GvDict *d = D();
    GvObject *k = S("key"), *v = S("value");
    assert_int_equal(gv_dict_set(d, gv_obj(k), gv_obj(v)), 0);
    assert_int_equal(d->used, 1);
    assert_int_equal(k->refcnt, 2);
    assert_int_equal(v->refcnt, 2);
    GvValue out;
    GvObject *k2 = S("key"); /* an equal, distinct str */
    assert_int_equal(gv_dict_get(d, gv_obj(k2), &out), 1);
    assert_ptr_equal(out.as.o, v);
    assert_int_equal(v->refcnt, 3);
    gv_vdecref(out);
    assert_int_equal(gv_dict_get_str(d, k2, &out), 1);
    assert_ptr_equal(out.as.o, v);
    gv_vdecref(out);
    gv_decref(&d->ob);
    assert_int_equal(k->refcnt, 1);
    assert_int_equal(v->refcnt, 1);
    gv_decref(k);
    gv_decref(k2);
    gv_decref(v);
}

static void test_set_existing_key_replaces_value(void **state) {
    (void)state;
    GvDict *d = D();
    GvObject *old = S("old");
    gv_dict_set(d, gv_int(5), gv_obj(old));
    gv_dict_set(d, gv_int(5), gv_int(6));
    assert_int_equal(d->used, 1);
    assert_int_equal(old->refcnt, 1);
    assert_int_equal(get_int(d, gv_int(5)), 6);
    gv_decref(old);
    gv_decref(&d->ob);
}

static void test_one_float_one_and_true_are_the_same_key(void **state) {
    (void)state;
    GvDict *d = D();
    gv_dict_set(d, gv_int(1), gv_int(10));
    gv_dict_set(d, gv_float(1.0), gv_int(20));
    gv_dict_set(d, gv_bool(true), gv_int(30));
    assert_int_equal(d->used, 1);
    assert_int_equal(get_int(d, gv_int(1)), 30);
    assert_int_equal(get_int(d, gv_float(1.0)), 30);
    assert_int_equal(get_int(d, gv_bool(true)), 30);
    /* the first key stays, as in Python: {1: 30} */
    size_t it = 0;
    GvValue k, v;
    assert_true(gv_dict_next(d, &it, &k, &v));
    assert_int_equal(k.tag, GV_TINT);
    /* 0, 0.0, -0.0 and false likewise */
    gv_dict_set(d, gv_bool(false), gv_int(1));
    gv_dict_set(d, gv_float(-0.0), gv_int(2));
    assert_int_equal(d->used, 2);
    assert_int_equal(get_int(d, gv_int(0)), 2);
    assert_int_equal(gv_dict_del(d, gv_float(0.0)), 1);
    assert_int_equal(d->used, 1);
    gv_decref(&d->ob);
}

static void test_distinct_numeric_keys_stay_distinct(void **state) {
    (void)state;
    GvDict *d = D();
    gv_dict_set(d, gv_float(1.5), gv_int(1));
    gv_dict_set(d, gv_int(INT64_MAX), gv_int(2));
    gv_dict_set(d, gv_float(9223372036854775808.0), gv_int(3)); /* 2^63: no int equals it */
    gv_dict_set(d, gv_int(INT64_MIN), gv_int(4));
    gv_dict_set(d, gv_float(-9223372036854775808.0), gv_int(5)); /* == INT64_MIN */
    gv_dict_set(d, gv_float(INFINITY), gv_int(6));
    gv_dict_set(d, gv_int(9007199254740993), gv_int(7));          /* 2^53 + 1 */
    gv_dict_set(d, gv_float(9007199254740992.0), gv_int(8));       /* 2^53 */
    assert_int_equal(d->used, 7);
    assert_int_equal(get_int(d, gv_float(1.5)), 1);
    assert_int_equal(get_int(d, gv_int(INT64_MAX)), 2);
    assert_int_equal(get_int(d, gv_float(9223372036854775808.0)), 3);
    assert_int_equal(get_int(d, gv_int(INT64_MIN)), 5);
    assert_int_equal(get_int(d, gv_float(INFINITY)), 6);
    assert_int_equal(get_int(d, gv_int(9007199254740993)), 7);
    assert_int_equal(get_int(d, gv_int(9007199254740992)), 8);
    GvValue v;
    assert_int_equal(gv_dict_get(d, gv_float(2.5), &v), 0);
    gv_decref(&d->ob);
}

static void test_none_and_str_keys(void **state) {
    (void)state;
    GvDict *d = D();
    GvObject *one = S("1"), *empty = S("");
    gv_dict_set(d, gv_none(), gv_int(1));
    gv_dict_set(d, gv_obj(one), gv_int(2));
    gv_dict_set(d, gv_obj(empty), gv_int(3));
    gv_dict_set(d, gv_int(1), gv_int(4));
    assert_int_equal(d->used, 4);
    assert_int_equal(get_int(d, gv_none()), 1);
    assert_int_equal(get_int(d, gv_obj(one)), 2); /* "1" is not 1 */
    assert_int_equal(get_int(d, gv_obj(empty)), 3);
    assert_int_equal(get_int(d, gv_int(1)), 4);
    gv_decref(one);
    gv_decref(empty);
    gv_decref(&d->ob);
}

static void test_unhashable_keys_raise_type_error(void **state) {
    (void)state;
    GvDict *d = D();
    GvObject *l = gv_list_new(0), *inner = gv_dict_new();
    GvValue v;
    assert_int_equal(gv_dict_set(d, gv_obj(l), gv_int(1)), -1);
    expect_error(&gv_type_TypeError, "unhashable type: 'list'");
    assert_int_equal(gv_dict_set(d, gv_obj(inner), gv_int(1)), -1);
    expect_error(&gv_type_TypeError, "unhashable type: 'dict'");
    assert_int_equal(gv_dict_get(d, gv_obj(l), &v), -1);
    expect_error(&gv_type_TypeError, "unhashable type: 'list'");
    assert_int_equal(gv_dict_del(d, gv_obj(l)), -1);
    expect_error(&gv_type_TypeError, "unhashable type: 'list'");
    GvObject *exc = gv_exc_new(&gv_type_ValueError, NULL, gv_none());
    assert_int_equal(gv_dict_set(d, gv_obj(exc), gv_int(1)), -1);
    expect_error(&gv_type_TypeError, "unhashable type: 'ValueError'");
    assert_int_equal(d->used, 0);
    assert_int_equal(l->refcnt, 1);
    gv_decref(exc);
    gv_decref(l);
    gv_decref(inner);
    gv_decref(&d->ob);
}

static void test_del_removes_and_releases(void **state) {
    (void)state;
    GvDict *d = D();
    GvObject *k = S("k"), *v = S("v");
    gv_dict_set(d, gv_obj(k), gv_obj(v));
    gv_dict_set(d, gv_int(2), gv_int(2));
    assert_int_equal(gv_dict_del(d, gv_obj(k)), 1);
    assert_int_equal(d->used, 1);
    assert_int_equal(k->refcnt, 1);
    assert_int_equal(v->refcnt, 1);
    GvValue out;
    assert_int_equal(gv_dict_get(d, gv_obj(k), &out), 0);
    assert_int_equal(gv_dict_del(d, gv_obj(k)), 0);
    assert_int_equal(get_int(d, gv_int(2)), 2);
    gv_decref(k);
    gv_decref(v);
    gv_decref(&d->ob);
}

static void test_iteration_is_insertion_order_after_deletes(void **state) {
    (void)state;
    GvDict *d = D();
    for (int i = 0; i < 6; i++) gv_dict_set(d, gv_int(i * 7), gv_int(i));
    gv_dict_del(d, gv_int(7));
    gv_dict_del(d, gv_int(21));
    gv_dict_set(d, gv_int(7), gv_int(100));   /* re-inserted: goes last */
    gv_dict_set(d, gv_int(0), gv_int(200));   /* replaced: keeps its place */
    int64_t keys[8], vals[8];
    size_t n = 0, it = 0;
    GvValue k, v;
    while (gv_dict_next(d, &it, &k, &v)) {
        keys[n] = k.as.i;
        vals[n++] = v.as.i;
    }
    assert_int_equal(n, 5);
    int64_t ek[] = {0, 14, 28, 35, 7}, ev[] = {200, 2, 4, 5, 100};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(keys[i], ek[i]);
        assert_int_equal(vals[i], ev[i]);
    }
    gv_decref(&d->ob);
}

static void test_growth_to_100k_entries_with_deletions(void **state) {
    (void)state;
    GvDict *d = D();
    const int64_t n = 100000;
    for (int64_t i = 0; i < n; i++) assert_int_equal(gv_dict_set(d, gv_int(i), gv_int(i * 2)), 0);
    assert_int_equal(d->used, n);
    for (int64_t i = 0; i < n; i += 2) assert_int_equal(gv_dict_del(d, gv_int(i)), 1);
    assert_int_equal(d->used, n / 2);
    for (int64_t i = 0; i < n; i++) {
        GvValue v;
        int r = gv_dict_get(d, gv_float((double)i), &v);
        assert_int_equal(r, i % 2);
        if (r) assert_int_equal(v.as.i, i * 2);
    }
    /* refill with str keys: dummies get reused and the table compacts */
    char buf[32];
    for (int64_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "key%lld", (long long)i);
        GvObject *k = S(buf);
        assert_int_equal(gv_dict_set(d, gv_obj(k), gv_int(i)), 0);
        gv_decref(k);
    }
    assert_int_equal(d->used, n / 2 + n);
    for (int64_t i = 0; i < n; i += 3) {
        snprintf(buf, sizeof buf, "key%lld", (long long)i);
        GvObject *k = S(buf);
        assert_int_equal(get_int(d, gv_obj(k)), i);
        GvValue v;
        assert_int_equal(gv_dict_get_str(d, k, &v), 1);
        assert_int_equal(gv_dict_del(d, gv_obj(k)), 1);
        assert_int_equal(gv_dict_get_str(d, k, &v), 0);
        gv_decref(k);
    }
    /* iteration sees every live entry once, ints first */
    size_t it = 0, count = 0;
    GvValue k, v;
    int64_t last_int = -1;
    while (gv_dict_next(d, &it, &k, &v)) {
        if (gv_is_int(k)) {
            assert_true(k.as.i > last_int);
            last_int = k.as.i;
        }
        count++;
    }
    assert_int_equal(count, d->used);
    gv_decref(&d->ob);
}

static void test_repeated_insert_delete_does_not_grow_without_bound(void **state) {
    (void)state;
    GvDict *d = D();
    for (int64_t i = 0; i < 200000; i++) {
        gv_dict_set(d, gv_int(i), gv_int(i));
        assert_int_equal(gv_dict_del(d, gv_int(i)), 1);
    }
    assert_int_equal(d->used, 0);
    assert_true(d->cap < 64);
    gv_decref(&d->ob);
}

static void test_clear_empties_and_dict_stays_usable(void **state) {
    (void)state;
    GvDict *d = D();
    GvObject *s = S("v");
    for (int i = 0; i < 100; i++) gv_dict_set(d, gv_int(i), gv_obj(s));
    assert_int_equal(s->refcnt, 101);
    gv_dict_clear(d);
    assert_int_equal(d->used, 0);
    assert_int_equal(s->refcnt, 1);
    GvValue v;
    assert_int_equal(gv_dict_get(d, gv_int(3), &v), 0);
    gv_dict_set(d, gv_int(3), gv_int(4));
    assert_int_equal(get_int(d, gv_int(3)), 4);
    gv_decref(s);
    gv_decref(&d->ob);
}

static void test_clear_survives_freeing_the_dict_itself(void **state) {
    (void)state;
    GvDict *d = D();
    GvObject *l = gv_list_new(0);
    gv_list_append((GvList *)l, gv_obj(&d->ob));
    gv_dict_set(d, gv_int(0), gv_obj(l));
    gv_decref(l);
    gv_decref(&d->ob);
    assert_int_equal(d->ob.refcnt, 1); /* held only by the list it holds */
    gv_dict_clear(d);                  /* frees d from inside */
}

static void test_self_referential_dict_is_freed_at_finalization(void **state) {
    (void)state;
    GvDict *d = D();
    gv_dict_set(d, gv_int(1), gv_obj(&d->ob));
    gv_decref(&d->ob);
}

static void test_deep_dict_nesting_is_freed(void **state) {
    (void)state;
    GvObject *cur = gv_dict_new();
    for (int i = 0; i < 500000; i++) {
        GvObject *next = gv_dict_new();
        assert_int_equal(gv_dict_set((GvDict *)next, gv_int(i), gv_obj(cur)), 0);
        gv_decref(cur);
        cur = next;
    }
    gv_decref(cur);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_dict_lookup_finds_nothing),
        cmocka_unit_test(test_set_then_get_returns_new_reference),
        cmocka_unit_test(test_set_existing_key_replaces_value),
        cmocka_unit_test(test_one_float_one_and_true_are_the_same_key),
        cmocka_unit_test(test_distinct_numeric_keys_stay_distinct),
        cmocka_unit_test(test_none_and_str_keys),
        cmocka_unit_test(test_unhashable_keys_raise_type_error),
        cmocka_unit_test(test_del_removes_and_releases),
        cmocka_unit_test(test_iteration_is_insertion_order_after_deletes),
        cmocka_unit_test(test_growth_to_100k_entries_with_deletions),
        cmocka_unit_test(test_repeated_insert_delete_does_not_grow_without_bound),
        cmocka_unit_test(test_clear_empties_and_dict_stays_usable),
        cmocka_unit_test(test_clear_survives_freeing_the_dict_itself),
        cmocka_unit_test(test_self_referential_dict_is_freed_at_finalization),
        cmocka_unit_test(test_deep_dict_nesting_is_freed),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
