/* The per-thread dict (GvThreadState_GetDict, the tls() builtin): absent
 * without a thread state, one per thread, made on first use, freed with its
 * thread state. */
#include "gvtest.h"

/* ---- without a thread state ---- */

typedef struct NoState {
    GvObject *dict;
    bool had_state;
    GvObject *occurred;
} NoState;

static void *get_dict_raw(void *p) {
    NoState *n = p;
    n->had_state = GvThreadState_Get() != NULL;
    n->dict = GvThreadState_GetDict();
    n->occurred = GvErr_Occurred();
    return NULL;
}

static void test_tls_get_dict_without_thread_state_is_null_and_raises_nothing(void **state) {
    (void)state;
    static NoState n;
    n.dict = (GvObject *)&n; /* not NULL, so the test sees it set */
    pthread_t t = gvt_start_thread(get_dict_raw, &n);
    gvt_join_releasing_gil(t);
    assert_false(n.had_state);
    assert_null(n.dict);
    assert_null(n.occurred);
    assert_null(GvErr_Occurred()); /* nor on the main thread */
}

static void test_tls_get_dict_detached_main_thread_is_null(void **state) {
    (void)state;
    GvObject *d;
    Gv_BEGIN_ALLOW_THREADS
    d = GvThreadState_GetDict(); /* no current thread state while detached */
    Gv_END_ALLOW_THREADS
    assert_null(d);
}

/* ---- made on first use ---- */

static void test_tls_created_on_first_use_then_same_object(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    assert_null(ts->dict); /* a fresh interpreter: nobody asked yet */
    GvObject *d1 = GvThreadState_GetDict();
    assert_non_null(d1);
    assert_int_equal(d1->kind, GV_KDICT);
    assert_ptr_equal(ts->dict, d1);
    assert_ptr_equal(GvThreadState_GetDict(), d1);
    assert_null(GvErr_Occurred());
}

static void test_tls_builtin_is_the_same_dict(void **state) {
    (void)state;
    gvt_load(".func get\n"
             "    LOAD_GLOBAL tls\n"
             "    CALL 0\n"
             "    RETURN_VALUE\n"
             ".end\n"
             ".func put_and_read\n"
             "    LOAD_CONST \"v\"\n"
             "    LOAD_GLOBAL tls\n"
             "    CALL 0\n"
             "    LOAD_CONST \"k\"\n"
             "    STORE_INDEX\n"
             "    LOAD_GLOBAL tls\n"
             "    CALL 0\n"
             "    LOAD_CONST \"k\"\n"
             "    LOAD_INDEX\n"
             "    RETURN_VALUE\n"
             ".end\n");
    GvValue d = gvt_call_ok("get", 0, NULL);
    assert_ptr_equal(d.as.o, GvThreadState_GetDict());
    gvt_call_expect_str("put_and_read", 0, NULL, "v");
    /* What the program stored is in the C API's dict. */
    GvValue key = gvt_str("k"), v;
    assert_int_equal(gv_dict_get((GvDict *)GvThreadState_GetDict(), key, &v), 1);
    assert_string_equal(gv_str_cstr(v.as.o), "v");
    gv_vdecref(v);
    gv_vdecref(key);
    gv_vdecref(d);
}

/* ---- one per thread ---- */

/* Each worker stores its tag in tls(), says "stored", waits for "go" (so
 * both have stored before either reads), then returns [tls()["tag"], tls()]. */
static const char *const WORKERS =
    ".func worker tag ready go\n"
    "    LOAD_FAST tag\n"
    "    LOAD_GLOBAL tls\n"
    "    CALL 0\n"
    "    LOAD_CONST \"tag\"\n"
    "    STORE_INDEX\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_FAST ready\n"
    "    LOAD_CONST \"stored\"\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL queue_get\n"
    "    LOAD_FAST go\n"
    "    LOAD_CONST 30\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL tls\n"
    "    CALL 0\n"
    "    LOAD_CONST \"tag\"\n"
    "    LOAD_INDEX\n"
    "    LOAD_GLOBAL tls\n"
    "    CALL 0\n"
    "    BUILD_LIST 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    ".func run_two\n"
    "    .local ready go ha hb\n"
    "    LOAD_GLOBAL queue_new\n"
    "    CALL 0\n"
    "    STORE_FAST ready\n"
    "    LOAD_GLOBAL queue_new\n"
    "    CALL 0\n"
    "    STORE_FAST go\n"
    "    LOAD_GLOBAL thread_start\n"
    "    LOAD_GLOBAL worker\n"
    "    LOAD_CONST \"a\"\n"
    "    LOAD_FAST ready\n"
    "    LOAD_FAST go\n"
    "    CALL 4\n"
    "    STORE_FAST ha\n"
    "    LOAD_GLOBAL thread_start\n"
    "    LOAD_GLOBAL worker\n"
    "    LOAD_CONST \"b\"\n"
    "    LOAD_FAST ready\n"
    "    LOAD_FAST go\n"
    "    CALL 4\n"
    "    STORE_FAST hb\n"
    "    LOAD_GLOBAL queue_get\n"
    "    LOAD_FAST ready\n"
    "    LOAD_CONST 30\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL queue_get\n"
    "    LOAD_FAST ready\n"
    "    LOAD_CONST 30\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_FAST go\n"
    "    LOAD_CONST 1\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_FAST go\n"
    "    LOAD_CONST 1\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_GLOBAL thread_join\n"
    "    LOAD_FAST ha\n"
    "    CALL 1\n"
    "    LOAD_GLOBAL thread_join\n"
    "    LOAD_FAST hb\n"
    "    CALL 1\n"
    "    BUILD_LIST 2\n"
    "    RETURN_VALUE\n"
    ".end\n";

static GvValue item(GvValue list, int64_t i) {
    GvValue v;
    assert_int_equal(gv_list_get((GvList *)list.as.o, i, &v), 0);
    return v; /* a new reference */
}

static void test_tls_dict_is_distinct_per_thread(void **state) {
    (void)state;
    gvt_load(WORKERS);
    GvObject *mine = GvThreadState_GetDict();
    GvValue r = gvt_call_ok("run_two", 0, NULL);
    assert_true(gv_is_kind(r, GV_KLIST));
    GvValue ra = item(r, 0), rb = item(r, 1);
    assert_true(gv_is_kind(ra, GV_KLIST) && gv_is_kind(rb, GV_KLIST));
    GvValue tag_a = item(ra, 0), dict_a = item(ra, 1), tag_b = item(rb, 0), dict_b = item(rb, 1);
    assert_string_equal(gv_str_cstr(tag_a.as.o), "a"); /* each read back its own */
    assert_string_equal(gv_str_cstr(tag_b.as.o), "b");
    assert_true(dict_a.as.o != dict_b.as.o);
    assert_true(dict_a.as.o != mine && dict_b.as.o != mine);
    /* The main thread's dict has no "tag". */
    GvValue key = gvt_str("tag"), v;
    assert_int_equal(gv_dict_get((GvDict *)mine, key, &v), 0);
    gv_vdecref(key);
    GvValue vals[] = {tag_a, dict_a, tag_b, dict_b, ra, rb, r};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) gv_vdecref(vals[i]);
}

/* ---- freed with the thread state ---- */

typedef struct Holder {
    GvObject *value; /* stored in the thread's dict */
    int64_t refcnt_inside;
    GvObject *dict;
    int64_t dict_refcnt;
} Holder;

/* A thread of its own making: new thread state, stores `value` in its
 * dict, deletes its state. */
static void *store_then_delete(void *p) {
    Holder *h = p;
    GvThreadState *ts = GvThreadState_New(GvInterpreterState_Get());
    GvEval_AcquireThread(ts);
    GvObject *d = GvThreadState_GetDict();
    GvValue key = gvt_str("held");
    gv_dict_set((GvDict *)d, key, gv_obj(h->value));
    gv_vdecref(key);
    h->refcnt_inside = h->value->refcnt;
    GvThreadState_DeleteCurrent(); /* frees the dict, which drops `value` */
    return NULL;
}

static void test_tls_dict_freed_with_thread_state(void **state) {
    (void)state;
    static Holder h;
    GvValue v = gvt_str("kept by the dict");
    h.value = v.as.o;
    assert_int_equal(h.value->refcnt, 1);
    pthread_t t = gvt_start_thread(store_then_delete, &h);
    gvt_join_releasing_gil(t);
    assert_int_equal(h.refcnt_inside, 2);
    assert_int_equal(h.value->refcnt, 1); /* the dict let go of it */
    gv_vdecref(v);
}

static void test_tls_dict_of_vm_thread_freed_when_it_ends(void **state) {
    (void)state;
    gvt_load(".func keep x\n"
             "    LOAD_FAST x\n"
             "    LOAD_GLOBAL tls\n"
             "    CALL 0\n"
             "    LOAD_CONST \"x\"\n"
             "    STORE_INDEX\n"
             "    LOAD_CONST none\n"
             "    RETURN_VALUE\n"
             ".end\n"
             ".func run_keep x\n"
             "    LOAD_GLOBAL thread_join\n"
             "    LOAD_GLOBAL thread_start\n"
             "    LOAD_GLOBAL keep\n"
             "    LOAD_FAST x\n"
             "    CALL 2\n"
             "    CALL 1\n"
             "    RETURN_VALUE\n"
             ".end\n");
    GvValue v = gvt_str("given to a thread");
    gvt_call_ok("run_keep", 1, &v);
    assert_int_equal(v.as.o->refcnt, 1); /* the ended thread's dict dropped it */
    gv_vdecref(v);
}

static void test_tls_cleared_by_thread_state_clear(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_New(GvInterpreterState_Get());
    assert_non_null(ts);
    /* Give it a dict by making it current for a moment (we hold the GIL). */
    GvThreadState *main_ts = GvThreadState_Swap(ts);
    GvObject *d = GvThreadState_GetDict();
    GvThreadState_Swap(main_ts);
    assert_non_null(d);
    gv_incref(d);
    assert_int_equal(d->refcnt, 2);
    GvThreadState_Clear(ts);
    assert_int_equal(d->refcnt, 1);
    assert_null(ts->dict);
    GvThreadState_Delete(ts);
    gv_decref(d);
}

#define T(name) cmocka_unit_test_setup_teardown(name, gvt_setup, gvt_teardown)

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        T(test_tls_get_dict_without_thread_state_is_null_and_raises_nothing),
        T(test_tls_get_dict_detached_main_thread_is_null),
        T(test_tls_created_on_first_use_then_same_object),
        T(test_tls_builtin_is_the_same_dict),
        T(test_tls_dict_is_distinct_per_thread),
        T(test_tls_dict_freed_with_thread_state),
        T(test_tls_dict_of_vm_thread_freed_when_it_ends),
        T(test_tls_cleared_by_thread_state_clear),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
