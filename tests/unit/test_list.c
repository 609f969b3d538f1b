/* Lists (runtime/list.c) and the deallocation of deep structures
 * (runtime/object.c's trashcan): indexing with Python's negative-index rule,
 * growth, concatenation, clearing from inside a destructor, and freeing a
 * list nested a million deep without running off the C stack. */
#include "gvtest.h"

static void expect_error(GvType *type, const char *message) {
    GvThreadState *ts = GvThreadState_Get();
    assert_non_null(ts->current_exception);
    GvException *e = (GvException *)ts->current_exception;
    assert_ptr_equal(e->type, type);
    if (message) assert_string_equal(gv_str_cstr(e->message), message);
    gv_err_clear(ts);
}

static GvList *L(void) {
    GvObject *o = gv_list_new(0);
    assert_non_null(o);
    return (GvList *)o;
}

static GvList *range(int64_t n) {
    GvList *l = L();
    for (int64_t i = 0; i < n; i++) assert_int_equal(gv_list_append(l, gv_int(i)), 0);
    return l;
}

static void test_new_list_is_empty_tracked_and_has_capacity(void **state) {
    (void)state;
    GvList *l = (GvList *)gv_list_new(10);
    assert_int_equal(l->ob.kind, GV_KLIST);
    assert_int_equal(l->size, 0);
    assert_true(l->cap >= 10);
    assert_true(l->ob.flags & GV_OBJ_TRACKED);
    gv_decref(&l->ob);
}

static void test_append_and_get(void **state) {
    (void)state;
    GvList *l = range(3);
    GvValue v;
    assert_int_equal(gv_list_get(l, 0, &v), 0);
    assert_int_equal(v.as.i, 0);
    assert_int_equal(gv_list_get(l, 2, &v), 0);
    assert_int_equal(v.as.i, 2);
    gv_decref(&l->ob);
}

static void test_negative_index_counts_from_end(void **state) {
    (void)state;
    GvList *l = range(5);
    GvValue v;
    assert_int_equal(gv_list_get(l, -1, &v), 0);
    assert_int_equal(v.as.i, 4);
    assert_int_equal(gv_list_get(l, -5, &v), 0);
    assert_int_equal(v.as.i, 0);
    assert_int_equal(gv_list_set(l, -2, gv_int(99)), 0);
    assert_int_equal(l->items[3].as.i, 99);
    gv_decref(&l->ob);
}

static void test_index_out_of_range_raises_index_error(void **state) {
    (void)state;
    GvList *l = range(3);
    GvValue v;
    assert_int_equal(gv_list_get(l, 3, &v), -1);
    expect_error(&gv_type_IndexError, "list index out of range");
    assert_int_equal(gv_list_get(l, -4, &v), -1);
    expect_error(&gv_type_IndexError, "list index out of range");
    assert_int_equal(gv_list_get(l, INT64_MIN, &v), -1);
    expect_error(&gv_type_IndexError, NULL);
    assert_int_equal(gv_list_get(l, INT64_MAX, &v), -1);
    expect_error(&gv_type_IndexError, NULL);
    assert_int_equal(gv_list_set(l, 3, gv_int(0)), -1);
    expect_error(&gv_type_IndexError, "list assignment index out of range");
    assert_int_equal(gv_list_set(l, -4, gv_int(0)), -1);
    expect_error(&gv_type_IndexError, "list assignment index out of range");
    GvList *e = L();
    assert_int_equal(gv_list_get(e, 0, &v), -1);
    expect_error(&gv_type_IndexError, NULL);
    assert_int_equal(gv_list_get(e, -1, &v), -1);
    expect_error(&gv_type_IndexError, NULL);
    gv_decref(&e->ob);
    gv_decref(&l->ob);
}

static void test_items_are_strong_references(void **state) {
    (void)state;
    GvObject *s = gv_str_from_cstr("item");
    GvList *l = L();
    gv_list_append(l, gv_obj(s));
    gv_list_append(l, gv_obj(s));
    assert_int_equal(s->refcnt, 3);
    GvValue v;
    gv_list_get(l, 0, &v); /* a new reference */
    assert_int_equal(s->refcnt, 4);
    gv_vdecref(v);
    gv_list_set(l, 0, gv_int(1)); /* drops the old item */
    assert_int_equal(s->refcnt, 2);
    gv_decref(&l->ob); /* drops the rest */
    assert_int_equal(s->refcnt, 1);
    gv_decref(s);
}

static void test_append_steal_takes_the_reference(void **state) {
    (void)state;
    GvObject *s = gv_str_from_cstr("stolen");
    GvList *l = L();
    gv_incref(s);
    assert_int_equal(gv_list_append_steal(l, gv_obj(s)), 0);
    assert_int_equal(s->refcnt, 2);
    gv_decref(&l->ob);
    assert_int_equal(s->refcnt, 1);
    gv_decref(s);
}

static void test_grows_to_a_million_items(void **state) {
    (void)state;
    GvList *l = range(1000000);
    assert_int_equal(l->size, 1000000);
    GvValue v;
    assert_int_equal(gv_list_get(l, 999999, &v), 0);
    assert_int_equal(v.as.i, 999999);
    assert_int_equal(gv_list_get(l, -1000000, &v), 0);
    assert_int_equal(v.as.i, 0);
    gv_decref(&l->ob);
}

static void test_concat_is_a_new_list_sharing_items(void **state) {
    (void)state;
    GvObject *s = gv_str_from_cstr("x");
    GvList *a = range(2), *b = L();
    gv_list_append(b, gv_obj(s));
    GvList *c = (GvList *)gv_list_concat(a, b);
    assert_non_null(c);
    assert_int_equal(c->size, 3);
    assert_int_equal(c->items[1].as.i, 1);
    assert_ptr_equal(c->items[2].as.o, s);
    assert_int_equal(s->refcnt, 3);
    assert_int_equal(a->size, 2);
    GvList *self = (GvList *)gv_list_concat(a, a);
    assert_int_equal(self->size, 4);
    GvList *nothing = L();
    GvList *empty = (GvList *)gv_list_concat(b, nothing);
    gv_decref(&nothing->ob);
    gv_decref(&self->ob);
    gv_decref(&c->ob);
    gv_decref(&a->ob);
    gv_decref(&b->ob);
    assert_int_equal(empty->size, 1);
    gv_decref(&empty->ob);
    assert_int_equal(s->refcnt, 1);
    gv_decref(s);
}

static void test_clear_drops_items_and_list_stays_usable(void **state) {
    (void)state;
    GvObject *s = gv_str_from_cstr("x");
    GvList *l = L();
    gv_list_append(l, gv_obj(s));
    gv_list_clear(l);
    assert_int_equal(l->size, 0);
    assert_int_equal(s->refcnt, 1);
    gv_list_append(l, gv_int(7));
    assert_int_equal(l->size, 1);
    gv_decref(&l->ob);
    gv_decref(s);
}

static void test_clear_survives_freeing_the_list_itself(void **state) {
    (void)state;
    /* a = [b], b = [a], no other references: clearing a frees b, whose
     * destructor drops the last reference to a, mid-clear. */
    GvList *a = L(), *b = L();
    gv_list_append(a, gv_obj(&b->ob));
    gv_list_append(b, gv_obj(&a->ob));
    gv_decref(&b->ob);
    gv_decref(&a->ob);
    assert_int_equal(a->ob.refcnt, 1);
    gv_list_clear(a); /* a is freed inside; ASan would catch any later touch */
}

static void test_self_referential_list_is_freed_at_finalization(void **state) {
    (void)state;
    GvList *l = L();
    gv_list_append(l, gv_obj(&l->ob));
    gv_decref(&l->ob); /* leaks until Gv_Finalize breaks the cycle (LSan checks) */
}

static void test_dealloc_of_list_nested_a_million_deep(void **state) {
    (void)state;
    GvList *outer = L();
    for (int i = 0; i < 1000000; i++) {
        GvList *l = (GvList *)gv_list_new(1);
        assert_non_null(l);
        assert_int_equal(gv_list_append_steal(l, gv_obj(&outer->ob)), 0);
        outer = l;
    }
    gv_decref(&outer->ob); /* must not recurse a million C frames */
}

static void test_dealloc_of_alternating_lists_and_dicts_nested_deep(void **state) {
    (void)state;
    GvObject *cur = gv_list_new(0);
    GvObject *key = gv_str_from_cstr("k");
    for (int i = 0; i < 300000; i++) {
        GvObject *next;
        if (i % 2) {
            next = gv_list_new(1);
            gv_list_append(gv_as_list(gv_obj(next)), gv_obj(cur));
        } else {
            next = gv_dict_new();
            assert_int_equal(gv_dict_set((GvDict *)next, gv_obj(key), gv_obj(cur)), 0);
        }
        gv_decref(cur);
        cur = next;
    }
    gv_decref(cur);
    assert_int_equal(key->refcnt, 1);
    gv_decref(key);
}

static void test_wide_and_deep_tree_is_freed(void **state) {
    (void)state;
    /* every list holds three copies of the one below: refcounts, not a tree walk */
    GvList *cur = range(10);
    for (int i = 0; i < 100000; i++) {
        GvList *l = L();
        for (int k = 0; k < 3; k++) gv_list_append(l, gv_obj(&cur->ob));
        gv_decref(&cur->ob);
        cur = l;
    }
    gv_decref(&cur->ob);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_list_is_empty_tracked_and_has_capacity),
        cmocka_unit_test(test_append_and_get),
        cmocka_unit_test(test_negative_index_counts_from_end),
        cmocka_unit_test(test_index_out_of_range_raises_index_error),
        cmocka_unit_test(test_items_are_strong_references),
        cmocka_unit_test(test_append_steal_takes_the_reference),
        cmocka_unit_test(test_grows_to_a_million_items),
        cmocka_unit_test(test_concat_is_a_new_list_sharing_items),
        cmocka_unit_test(test_clear_drops_items_and_list_stays_usable),
        cmocka_unit_test(test_clear_survives_freeing_the_list_itself),
        cmocka_unit_test(test_self_referential_list_is_freed_at_finalization),
        cmocka_unit_test(test_dealloc_of_list_nested_a_million_deep),
        cmocka_unit_test(test_dealloc_of_alternating_lists_and_dicts_nested_deep),
        cmocka_unit_test(test_wide_and_deep_tree_is_freed),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
