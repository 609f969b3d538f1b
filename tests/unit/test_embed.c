/* The embedding API (include/gilvm.h, "values", "calls and globals", "what
 * the gilvm command shows"), used as an embedder uses it: only through the
 * header. Every call, its results and their ownership, and each documented
 * misuse: TypeError/ValueError/IndexError/KeyError/NameError where the header
 * says so, and a fatal error (tested in a forked child, which inherits the
 * interpreter and the GIL) where it says that. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gvtest.h"

/* ---- helpers ---- */

/* The program the calls run. */
static const char prog_src[] =
    ".func add a b\n    LOAD_FAST a\n    LOAD_FAST b\n    BINARY_ADD\n    RETURN_VALUE\n.end\n"
    ".func kind x\n    LOAD_GLOBAL type_name\n    LOAD_FAST x\n    CALL 1\n    RETURN_VALUE\n.end\n"
    ".func fail msg\n    LOAD_GLOBAL ValueError\n    LOAD_FAST msg\n    CALL 1\n    RAISE\n.end\n"
    ".func get_g\n    LOAD_GLOBAL g\n    RETURN_VALUE\n.end\n"
    ".func set_g x\n    LOAD_FAST x\n    STORE_GLOBAL g\n    LOAD_CONST none\n    RETURN_VALUE\n.end\n"
    ".func push l x\n    LOAD_GLOBAL append\n    LOAD_FAST l\n    LOAD_FAST x\n    CALL 2\n    RETURN_VALUE\n.end\n"
    ".func sum9 a b c d e f g h i\n"
    "    LOAD_FAST a\n    LOAD_FAST b\n    BINARY_ADD\n    LOAD_FAST c\n    BINARY_ADD\n"
    "    LOAD_FAST d\n    BINARY_ADD\n    LOAD_FAST e\n    BINARY_ADD\n    LOAD_FAST f\n    BINARY_ADD\n"
    "    LOAD_FAST g\n    BINARY_ADD\n    LOAD_FAST h\n    BINARY_ADD\n    LOAD_FAST i\n    BINARY_ADD\n"
    "    RETURN_VALUE\n.end\n"
    ".func work\n    LOAD_CONST 1\n    RETURN_VALUE\n.end\n";

static GvProgram *load_program(void) {
    GvDiag diag;
    GvProgram *p = GvProgram_Assemble(prog_src, strlen(prog_src), "embed_test.gva", &diag);
    if (!p) fail_msg("load error: %s", diag.text);
    return p;
}

/* Defines the program's functions; the program is freed (they stay). */
static void exec_program(void) {
    GvProgram *p = load_program();
    assert_int_equal(GvProgram_Exec(p), 0);
    GvProgram_Free(p);
}

/* The exception in flight must be of `type` and its message contain `part`;
 * it is cleared. */
static void expect_exc(GvObject *type, const char *part) {
    GvObject *exc = GvErr_GetRaisedException();
    if (!exc) fail_msg("no exception set (wanted %s: ...%s...)", GvObject_TypeName(type), part);
    char *msg = GvObject_StrDup(exc);
    assert_non_null(msg);
    if (!GvErr_GivenExceptionMatches(exc, type) || !strstr(msg, part))
        fail_msg("got %s: %s; wanted %s containing \"%s\"", GvObject_TypeName(exc), msg, GvObject_TypeName(type),
                 part);
    free(msg);
    Gv_DecRef(exc);
}

static long long as_ll(GvObject *o) {
    assert_non_null(o);
    long long v = GvLong_AsLongLong(o);
    assert_null(GvErr_Occurred());
    return v;
}

/* Takes the reference. */
static void assert_str_ref(GvObject *o, const char *want) {
    assert_non_null(o);
    assert_true(GvUnicode_Check(o));
    assert_string_equal(GvUnicode_AsUTF8(o), want);
    Gv_DecRef(o);
}

static GvObject *global(const char *name) {
    GvObject *o = Gv_GetGlobal(name);
    if (!o) fail_msg("no global %s", name);
    return o;
}

/* ---- none, bool ---- */

static void test_none_and_bools(void **state) {
    (void)state;
    assert_true(Gv_IsNone(Gv_None));
    assert_false(Gv_IsNone(Gv_False));
    assert_false(Gv_IsNone(NULL));
    assert_true(GvBool_Check(Gv_True) && GvBool_Check(Gv_False));
    assert_false(GvBool_Check(Gv_None));
    GvObject *t = GvBool_FromLong(42), *f = GvBool_FromLong(0);
    assert_ptr_equal(t, Gv_True);
    assert_ptr_equal(f, Gv_False);
    Gv_DecRef(t);
    Gv_DecRef(f);
    assert_string_equal(GvObject_TypeName(Gv_None), "NoneType");
    assert_string_equal(GvObject_TypeName(Gv_True), "bool");
    assert_null(GvObject_TypeName(NULL));
    assert_int_equal(GvObject_IsTrue(Gv_True), 1);
    assert_int_equal(GvObject_IsTrue(Gv_None), 0);
    assert_int_equal(GvObject_IsTrue(NULL), -1);
    expect_exc(GvExc_TypeError, "GvObject_IsTrue: the object must not be NULL");
    /* Immortal: many more decrefs than increfs never free them. */
    for (int i = 0; i < 1000; i++) Gv_DecRef(Gv_None);
    assert_true(Gv_IsNone(Gv_None));
    assert_str_ref(GvObject_Repr(Gv_None), "None");
    assert_str_ref(GvObject_Str(Gv_True), "True");
}

/* ---- int, float ---- */

static void test_ints(void **state) {
    (void)state;
    long long cases[] = {0, 1, -1, 123456789012345LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        GvObject *o = GvLong_FromLongLong(cases[i]);
        assert_non_null(o);
        assert_true(GvLong_Check(o));
        assert_false(GvFloat_Check(o));
        assert_string_equal(GvObject_TypeName(o), "int");
        assert_true(as_ll(o) == cases[i]);
        assert_true(GvLong_AsLong(o) == (long)cases[i]);
        Gv_DecRef(o);
    }
    GvObject *o = GvLong_FromLong(-7);
    assert_int_equal(as_ll(o), -7);
    assert_str_ref(GvObject_Repr(o), "-7");
    assert_int_equal(GvObject_IsTrue(o), 1);
    Gv_DecRef(o);
    /* bool is an int. */
    assert_true(GvLong_Check(Gv_True));
    assert_int_equal(as_ll(Gv_True), 1);
    /* Anything else is not. */
    GvObject *s = GvUnicode_FromString("5");
    assert_int_equal(GvLong_AsLongLong(s), -1);
    expect_exc(GvExc_TypeError, "GvLong_AsLongLong: expected an int, got str");
    assert_int_equal(GvLong_AsLong(s), -1);
    expect_exc(GvExc_TypeError, "GvLong_AsLong: expected an int, got str");
    Gv_DecRef(s);
    assert_int_equal(GvLong_AsLongLong(NULL), -1);
    expect_exc(GvExc_TypeError, "GvLong_AsLongLong: the object must not be NULL");
}

static void test_floats(void **state) {
    (void)state;
    GvObject *f = GvFloat_FromDouble(2.5);
    assert_true(GvFloat_Check(f));
    assert_false(GvLong_Check(f));
    assert_string_equal(GvObject_TypeName(f), "float");
    assert_true(GvFloat_AsDouble(f) == 2.5);
    assert_str_ref(GvObject_Repr(f), "2.5");
    /* A float is not an int. */
    assert_int_equal(GvLong_AsLongLong(f), -1);
    expect_exc(GvExc_TypeError, "expected an int, got float");
    Gv_DecRef(f);
    /* An int converts to a float. */
    GvObject *i = GvLong_FromLongLong(-3);
    assert_true(GvFloat_AsDouble(i) == -3.0);
    assert_null(GvErr_Occurred());
    Gv_DecRef(i);
    assert_true(GvFloat_AsDouble(Gv_None) == -1.0);
    expect_exc(GvExc_TypeError, "GvFloat_AsDouble: expected a float, got NoneType");
}

/* ---- str ---- */

static void test_strs(void **state) {
    (void)state;
    GvObject *s = GvUnicode_FromString("héllo");
    assert_true(GvUnicode_Check(s));
    assert_string_equal(GvObject_TypeName(s), "str");
    Gv_ssize_t size = 0;
    assert_string_equal(GvUnicode_AsUTF8AndSize(s, &size), "héllo");
    assert_int_equal(size, 6); /* bytes, not code points */
    assert_str_ref(GvObject_Repr(s), "'héllo'");
    Gv_DecRef(s);
    s = GvUnicode_FromStringAndSize("abcdef", 3);
    assert_string_equal(GvUnicode_AsUTF8(s), "abc");
    Gv_DecRef(s);
    assert_null(GvUnicode_FromString("\xff\xfe"));
    expect_exc(GvExc_ValueError, "");
    assert_null(GvUnicode_FromStringAndSize("abc", -1));
    expect_exc(GvExc_ValueError, "negative size");
    assert_null(GvUnicode_FromString(NULL));
    expect_exc(GvExc_TypeError, "GvUnicode_FromString: s must not be NULL");
    GvObject *i = GvLong_FromLongLong(1);
    size = 99;
    assert_null(GvUnicode_AsUTF8AndSize(i, &size));
    assert_int_equal(size, -1);
    expect_exc(GvExc_TypeError, "GvUnicode_AsUTF8AndSize: expected a str, got int");
    assert_null(GvUnicode_AsUTF8(i));
    expect_exc(GvExc_TypeError, "GvUnicode_AsUTF8: expected a str, got int");
    Gv_DecRef(i);
}

/* ---- list ---- */

static void test_lists(void **state) {
    (void)state;
    GvObject *l = GvList_New(3);
    assert_true(GvList_Check(l));
    assert_int_equal(GvList_Size(l), 3);
    GvObject *item = GvList_GetItemRef(l, 2);
    assert_true(Gv_IsNone(item));
    Gv_DecRef(item);
    assert_int_equal(GvList_SetItem(l, 0, GvLong_FromLongLong(10)), 0);
    assert_int_equal(GvList_SetItem(l, 1, GvUnicode_FromString("x")), 0);
    assert_int_equal(GvList_SetItem(l, 2, GvFloat_FromDouble(0.5)), 0);
    GvObject *v = GvLong_FromLongLong(7);
    assert_int_equal(GvList_Append(l, v), 0); /* borrows */
    Gv_DecRef(v);
    assert_int_equal(GvList_Size(l), 4);
    assert_str_ref(GvObject_Repr(l), "[10, 'x', 0.5, 7]");
    item = GvList_GetItemRef(l, 0);
    assert_int_equal(as_ll(item), 10);
    Gv_DecRef(item);
    assert_str_ref(GvList_GetItemRef(l, 1), "x");
    /* No negative indexes, nothing past the end. */
    assert_null(GvList_GetItemRef(l, 4));
    expect_exc(GvExc_IndexError, "GvList_GetItemRef: list index out of range");
    assert_null(GvList_GetItemRef(l, -1));
    expect_exc(GvExc_IndexError, "list index out of range");
    assert_int_equal(GvList_SetItem(l, 9, GvLong_FromLongLong(1)), -1);
    expect_exc(GvExc_IndexError, "GvList_SetItem: list index out of range");
    assert_int_equal(GvList_SetItem(l, 0, NULL), -1);
    expect_exc(GvExc_TypeError, "GvList_SetItem: item must not be NULL");
    assert_int_equal(GvList_Append(l, NULL), -1);
    expect_exc(GvExc_TypeError, "GvList_Append: item must not be NULL");
    /* Not a list. */
    GvObject *d = GvDict_New();
    assert_int_equal(GvList_Size(d), -1);
    expect_exc(GvExc_TypeError, "GvList_Size: expected a list, got dict");
    assert_int_equal(GvList_Append(d, Gv_None), -1);
    expect_exc(GvExc_TypeError, "GvList_Append: expected a list, got dict");
    assert_null(GvList_GetItemRef(NULL, 0));
    expect_exc(GvExc_TypeError, "GvList_GetItemRef: list must not be NULL");
    Gv_DecRef(d);
    assert_null(GvList_New(-1));
    expect_exc(GvExc_ValueError, "GvList_New: negative length");
    Gv_DecRef(l);
}

/* SetItem steals its item even when it fails; nothing the calls make is
 * left behind once the caller released its references. */
static void test_list_ownership(void **state) {
    (void)state;
    size_t before = Gv_GetMemoryUsage();
    GvObject *l = GvList_New(1);
    assert_int_equal(GvList_SetItem(l, 0, GvUnicode_FromString("a string that the list now owns")), 0);
    assert_int_equal(GvList_SetItem(l, 5, GvUnicode_FromString("stolen and released on failure")), -1);
    GvErr_Clear();
    GvObject *big = GvLong_FromLongLong(1 << 20);
    assert_int_equal(GvList_Append(l, big), 0);
    Gv_DecRef(big);
    GvObject *copy = GvList_GetItemRef(l, 1);
    Gv_DecRef(copy);
    Gv_DecRef(l);
    assert_int_equal(Gv_GetMemoryUsage(), before);
}

/* ---- dict ---- */

static void test_dicts(void **state) {
    (void)state;
    GvObject *d = GvDict_New();
    assert_true(GvDict_Check(d));
    assert_false(GvList_Check(d));
    GvObject *k1 = GvLong_FromLongLong(1), *k1f = GvFloat_FromDouble(1.0);
    GvObject *v = GvUnicode_FromString("one");
    assert_int_equal(GvDict_SetItem(d, k1, v), 0);
    Gv_DecRef(v);
    GvObject *two = GvLong_FromLongLong(2);
    assert_int_equal(GvDict_SetItemString(d, "two", two), 0);
    Gv_DecRef(two);
    assert_int_equal(GvDict_Size(d), 2);
    /* 1, 1.0 and true are one key. */
    GvObject *r = (GvObject *)0x1;
    assert_int_equal(GvDict_GetItemRef(d, k1f, &r), 1);
    assert_str_ref(r, "one");
    assert_int_equal(GvDict_GetItemRef(d, Gv_True, &r), 1);
    Gv_DecRef(r);
    assert_int_equal(GvDict_Contains(d, k1f), 1);
    assert_int_equal(GvDict_GetItemStringRef(d, "two", &r), 1);
    assert_int_equal(as_ll(r), 2);
    Gv_DecRef(r);
    /* Absent: 0 and NULL, no exception. */
    assert_int_equal(GvDict_GetItemStringRef(d, "three", &r), 0);
    assert_null(r);
    assert_null(GvErr_Occurred());
    assert_int_equal(GvDict_Contains(d, Gv_None), 0);
    assert_str_ref(GvObject_Repr(d), "{1: 'one', 'two': 2}");
    GvObject *keys = GvDict_Keys(d);
    assert_str_ref(GvObject_Repr(keys), "[1, 'two']");
    Gv_DecRef(keys);
    /* An unhashable key. */
    GvObject *l = GvList_New(0);
    assert_int_equal(GvDict_GetItemRef(d, l, &r), -1);
    assert_null(r);
    expect_exc(GvExc_TypeError, "");
    assert_int_equal(GvDict_SetItem(d, l, Gv_None), -1);
    expect_exc(GvExc_TypeError, "");
    /* Not a dict; NULLs. */
    assert_int_equal(GvDict_Size(l), -1);
    expect_exc(GvExc_TypeError, "GvDict_Size: expected a dict, got list");
    assert_int_equal(GvDict_SetItem(d, k1, NULL), -1);
    expect_exc(GvExc_TypeError, "GvDict_SetItem: value must not be NULL");
    assert_int_equal(GvDict_GetItemRef(d, k1, NULL), -1);
    expect_exc(GvExc_TypeError, "GvDict_GetItemRef: result must not be NULL");
    assert_int_equal(GvDict_SetItemString(d, NULL, Gv_None), -1);
    expect_exc(GvExc_TypeError, "GvDict_SetItemString: key must not be NULL");
    Gv_DecRef(l);
    /* Deleting. */
    assert_int_equal(GvDict_DelItem(d, k1f), 0);
    assert_int_equal(GvDict_Size(d), 1);
    assert_int_equal(GvDict_DelItem(d, k1), -1);
    expect_exc(GvExc_KeyError, "1");
    Gv_DecRef(k1);
    Gv_DecRef(k1f);
    Gv_DecRef(d);
}

/* ---- calls ---- */

static void test_exec_and_find(void **state) {
    (void)state;
    GvProgram *p = load_program();
    GvFunctionInfo info = {-1, 0};
    assert_int_equal(GvProgram_FindFunction(p, "add", &info), 1);
    assert_int_equal(info.nparams, 2);
    assert_int_equal(info.firstline, 1);
    assert_int_equal(GvProgram_FindFunction(p, "sum9", NULL), 1);
    assert_int_equal(GvProgram_FindFunction(p, "nope", &info), 0);
    /* Not defined before Exec. */
    assert_null(Gv_GetGlobal("add"));
    expect_exc(GvExc_NameError, "name 'add' is not defined");
    assert_int_equal(GvProgram_Exec(p), 0);
    GvProgram_Free(p);
    GvObject *add = global("add");
    assert_string_equal(GvObject_TypeName(add), "function");
    Gv_DecRef(add);
    GvObject *globals = GvEval_GetGlobals(); /* borrowed */
    assert_true(GvDict_Check(globals));
    GvObject *k = GvUnicode_FromString("add");
    assert_int_equal(GvDict_Contains(globals, k), 1);
    Gv_DecRef(k);
    assert_int_equal(GvProgram_Exec(NULL), -1);
    expect_exc(GvExc_TypeError, "GvProgram_Exec: program must not be NULL");
}

static void test_calls(void **state) {
    (void)state;
    exec_program();
    GvObject *add = global("add");
    GvObject *a = GvLong_FromLongLong(40), *b = GvLong_FromLongLong(2);
    GvObject *r = GvObject_CallFunctionObjArgs(add, a, b, NULL);
    assert_int_equal(as_ll(r), 42);
    Gv_DecRef(r);
    GvObject *argv[2] = {a, b};
    r = GvObject_Vectorcall(add, argv, 2, NULL);
    assert_int_equal(as_ll(r), 42);
    Gv_DecRef(r);
    GvObject *args = GvList_New(0);
    GvList_Append(args, a);
    GvList_Append(args, b);
    r = GvObject_CallObject(add, args);
    assert_int_equal(as_ll(r), 42);
    Gv_DecRef(r);
    Gv_DecRef(args);
    /* str + str, float result. */
    GvObject *s1 = GvUnicode_FromString("ab"), *s2 = GvUnicode_FromString("cd");
    assert_str_ref(GvObject_CallFunctionObjArgs(add, s1, s2, NULL), "abcd");
    GvObject *h = GvFloat_FromDouble(0.5);
    r = GvObject_CallFunctionObjArgs(add, a, h, NULL);
    assert_true(GvFloat_Check(r) && GvFloat_AsDouble(r) == 40.5);
    Gv_DecRef(r);
    Gv_DecRef(h);
    Gv_DecRef(s1);
    Gv_DecRef(s2);
    /* A builtin, and an exception type (which makes an instance). */
    GvObject *len = global("len");
    GvObject *l = GvList_New(5);
    r = GvObject_CallOneArg(len, l);
    assert_int_equal(as_ll(r), 5);
    Gv_DecRef(r);
    Gv_DecRef(l);
    Gv_DecRef(len);
    GvObject *msg = GvUnicode_FromString("made in C");
    r = GvObject_CallOneArg(GvExc_ValueError, msg);
    assert_true(GvErr_GivenExceptionMatches(r, GvExc_ValueError));
    Gv_DecRef(r);
    Gv_DecRef(msg);
    /* Nine arguments: more than fit the small array. */
    GvObject *sum9 = global("sum9");
    GvObject *nine[9];
    for (int i = 0; i < 9; i++) nine[i] = GvLong_FromLongLong(i + 1);
    r = GvObject_Vectorcall(sum9, nine, 9, NULL);
    assert_int_equal(as_ll(r), 45);
    Gv_DecRef(r);
    r = GvObject_CallFunctionObjArgs(sum9, nine[0], nine[1], nine[2], nine[3], nine[4], nine[5], nine[6], nine[7],
                                     nine[8], NULL);
    assert_int_equal(as_ll(r), 45);
    Gv_DecRef(r);
    for (int i = 0; i < 9; i++) Gv_DecRef(nine[i]);
    Gv_DecRef(sum9);
    Gv_DecRef(a);
    Gv_DecRef(b);
    Gv_DecRef(add);
}

/* What C passes arrives in the program as the value itself (an int, not
 * the box C holds), and what the program gives back is read in C. */
static void test_values_cross_unboxed(void **state) {
    (void)state;
    exec_program();
    GvObject *kind = global("kind");
    struct {
        GvObject *v;
        const char *want;
    } cases[] = {
        {GvLong_FromLongLong(3), "int"}, {GvFloat_FromDouble(1.5), "float"}, {GvBool_FromLong(1), "bool"},
        {Gv_None, "NoneType"},           {GvUnicode_FromString("s"), "str"}, {GvList_New(0), "list"},
        {GvDict_New(), "dict"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_str_ref(GvObject_CallOneArg(kind, cases[i].v), cases[i].want);
        Gv_DecRef(cases[i].v);
    }
    Gv_DecRef(kind);
    /* A list C built, filled by the program, read by C. */
    GvObject *push = global("push"), *l = GvList_New(0), *x = GvLong_FromLongLong(9);
    Gv_DecRef(GvObject_CallFunctionObjArgs(push, l, x, NULL));
    GvObject *got = GvList_GetItemRef(l, 0);
    assert_int_equal(as_ll(got), 9);
    Gv_DecRef(got);
    GvObject *kind_of_item = NULL;
    kind = global("kind");
    got = GvList_GetItemRef(l, 0);
    kind_of_item = GvObject_CallOneArg(kind, got);
    assert_str_ref(kind_of_item, "int");
    Gv_DecRef(got);
    Gv_DecRef(kind);
    Gv_DecRef(x);
    Gv_DecRef(l);
    Gv_DecRef(push);
    /* GvErr_SetObject and GvObject_StrDup read a boxed value as its value. */
    GvObject *five = GvLong_FromLongLong(5);
    char *s = GvObject_StrDup(five);
    assert_string_equal(s, "5");
    free(s);
    GvErr_SetObject(GvExc_ValueError, five);
    expect_exc(GvExc_ValueError, "5");
    Gv_DecRef(five);
}

static void test_call_exceptions(void **state) {
    (void)state;
    exec_program();
    GvObject *fail = global("fail"), *add = global("add");
    GvObject *msg = GvUnicode_FromString("from the program");
    assert_null(GvObject_CallOneArg(fail, msg));
    assert_ptr_equal(GvErr_Occurred(), GvExc_ValueError);
    expect_exc(GvExc_ValueError, "from the program");
    /* Wrong argument count, not callable, bad arguments. */
    assert_null(GvObject_CallOneArg(add, msg));
    expect_exc(GvExc_TypeError, "add() takes 2 arguments (1 given)");
    assert_null(GvObject_CallNoArgs(msg));
    expect_exc(GvExc_TypeError, "'str' object is not callable");
    assert_null(GvObject_CallNoArgs(NULL));
    expect_exc(GvExc_TypeError, "GvObject_CallNoArgs: callable must not be NULL");
    assert_null(GvObject_CallOneArg(fail, NULL));
    expect_exc(GvExc_TypeError, "GvObject_CallOneArg: an argument must not be NULL");
    assert_null(GvObject_Vectorcall(add, NULL, 2, NULL));
    expect_exc(GvExc_TypeError, "GvObject_Vectorcall: args must not be NULL");
    GvObject *argv[2] = {msg, msg};
    assert_null(GvObject_Vectorcall(add, argv, 2, msg));
    expect_exc(GvExc_TypeError, "no keyword arguments");
    assert_null(GvObject_CallObject(add, msg));
    expect_exc(GvExc_TypeError, "GvObject_CallObject: args must be a list or NULL, not str");
    /* An error inside the program: the operands' types. */
    GvObject *one = GvLong_FromLongLong(1);
    assert_null(GvObject_CallFunctionObjArgs(add, one, msg, NULL));
    expect_exc(GvExc_TypeError, "");
    Gv_DecRef(one);
    Gv_DecRef(msg);
    Gv_DecRef(fail);
    Gv_DecRef(add);
}

/* ---- globals ---- */

static void test_globals(void **state) {
    (void)state;
    exec_program();
    GvObject *get_g = global("get_g"), *set_g = global("set_g");
    /* C sets, the program reads. */
    GvObject *v = GvLong_FromLongLong(17);
    assert_int_equal(Gv_SetGlobal("g", v), 0);
    Gv_DecRef(v);
    GvObject *r = GvObject_CallNoArgs(get_g);
    assert_int_equal(as_ll(r), 17);
    Gv_DecRef(r);
    /* The program sets, C reads. */
    GvObject *s = GvUnicode_FromString("set by the program");
    Gv_DecRef(GvObject_CallOneArg(set_g, s));
    Gv_DecRef(s);
    assert_str_ref(Gv_GetGlobal("g"), "set by the program");
    GvObject *globals = GvEval_GetGlobals();
    assert_int_equal(GvDict_GetItemStringRef(globals, "g", &r), 1);
    assert_str_ref(r, "set by the program");
    /* Builtins are found when no global hides them. */
    GvObject *print = global("print");
    assert_string_equal(GvObject_TypeName(print), "builtin_function_or_method");
    Gv_DecRef(print);
    /* Deleting: then the program's LOAD_GLOBAL fails too. */
    assert_int_equal(Gv_SetGlobal("g", NULL), 0);
    assert_null(Gv_GetGlobal("g"));
    expect_exc(GvExc_NameError, "name 'g' is not defined");
    assert_null(GvObject_CallNoArgs(get_g));
    expect_exc(GvExc_NameError, "name 'g' is not defined");
    assert_int_equal(Gv_SetGlobal("g", NULL), -1);
    expect_exc(GvExc_NameError, "name 'g' is not defined");
    assert_int_equal(Gv_SetGlobal(NULL, Gv_None), -1);
    expect_exc(GvExc_TypeError, "Gv_SetGlobal: name must not be NULL");
    assert_null(Gv_GetGlobal(NULL));
    expect_exc(GvExc_TypeError, "Gv_GetGlobal: name must not be NULL");
    Gv_DecRef(get_g);
    Gv_DecRef(set_g);
}

/* ---- what the gilvm command shows ---- */

static void test_info(void **state) {
    (void)state;
    const char *mode = Gv_GetGILModeName();
    assert_int_equal(Gv_GILModeByName(mode), Gv_GetGILMode());
    const char *build = Gv_GetBuildInfo();
    assert_true(strstr(build, "computed goto") || strstr(build, "switch dispatch"));
    unsigned long long handoffs = 99;
    assert_true(Gv_GetScheduleDigest(&handoffs) == 0);
    assert_true(handoffs == 0);
    (void)Gv_GetScheduleDigest(NULL);
    FILE *f = tmpfile();
    assert_non_null(f);
    GvDis_PrintOpcodeReference(f);
    GvDis_PrintLanguageTables(f);
    long size = ftell(f);
    char *text = calloc(1, (size_t)size + 1);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    assert_non_null(strstr(text, "LOAD_CONST"));
    assert_non_null(strstr(text, "BEGIN GENERATED"));
    free(text);
}

static void test_thread_stats(void **state) {
    (void)state;
    exec_program();
    /* Only the main thread so far. */
    size_t n = GvGIL_GetThreadStats(NULL, 0);
    assert_true(n >= 1);
    GvGILThreadStats rows[16];
    size_t got = GvGIL_GetThreadStats(rows, 16);
    assert_int_equal(got, n);
    bool main_seen = false;
    for (size_t i = 0; i < got; i++) {
        if (rows[i].is_main) {
            main_seen = true;
            assert_true(rows[i].running);
            assert_int_equal(rows[i].thread_id, GvThreadState_GetID(GvThreadState_Get()));
            assert_true(rows[i].stats.acquisitions >= 1);
        }
    }
    assert_true(main_seen);
    /* A thread that ran and ended shows as a row that is not running, once
     * its thread state is gone (shortly after join returns). */
    GvObject *start = global("thread_start"), *join = global("thread_join"), *work = global("work");
    GvObject *handle = GvObject_CallOneArg(start, work);
    assert_non_null(handle);
    GvObject *tid_r = NULL;
    Gv_DecRef(tid_r);
    Gv_DecRef(GvObject_CallOneArg(join, handle));
    assert_null(GvErr_Occurred());
    bool ended_seen = false;
    for (int tries = 0; tries < 500 && !ended_seen; tries++) {
        got = GvGIL_GetThreadStats(rows, 16);
        for (size_t i = 0; i < got && i < 16; i++)
            if (!rows[i].running && !rows[i].is_main && rows[i].stats.acquisitions >= 1) ended_seen = true;
        if (!ended_seen) {
            Gv_BEGIN_ALLOW_THREADS
            usleep(10000);
            Gv_END_ALLOW_THREADS
        }
    }
    assert_true(ended_seen);
    /* A short buffer: the count of all rows, only cap filled. */
    rows[0].thread_id = 12345;
    rows[1].thread_id = 54321;
    size_t all = GvGIL_GetThreadStats(rows, 1);
    assert_true(all >= 2);
    assert_int_not_equal(rows[0].thread_id, 12345);
    assert_int_equal(rows[1].thread_id, 54321);
    Gv_DecRef(handle);
    Gv_DecRef(start);
    Gv_DecRef(join);
    Gv_DecRef(work);
}

/* ---- misuse that is fatal by design: in a forked child ---- */

static GvObject *fixture; /* a str, made by the parent */
static GvObject *fixture_list;

#define GIL_CASE(name, ...) \
    static void gil_##name(void) { (void)GvEval_SaveThread(); __VA_ARGS__; }
GIL_CASE(GvObject_Str, GvObject_Str(fixture))
GIL_CASE(GvObject_Repr, GvObject_Repr(fixture))
GIL_CASE(GvObject_IsTrue, GvObject_IsTrue(fixture))
GIL_CASE(GvBool_FromLong, GvBool_FromLong(1))
GIL_CASE(GvLong_FromLong, GvLong_FromLong(1))
GIL_CASE(GvLong_FromLongLong, GvLong_FromLongLong(1))
GIL_CASE(GvLong_AsLong, GvLong_AsLong(fixture))
GIL_CASE(GvLong_AsLongLong, GvLong_AsLongLong(fixture))
GIL_CASE(GvFloat_FromDouble, GvFloat_FromDouble(1.0))
GIL_CASE(GvFloat_AsDouble, GvFloat_AsDouble(fixture))
GIL_CASE(GvUnicode_FromString, GvUnicode_FromString("x"))
GIL_CASE(GvUnicode_FromStringAndSize, GvUnicode_FromStringAndSize("x", 1))
GIL_CASE(GvUnicode_AsUTF8, GvUnicode_AsUTF8(fixture))
GIL_CASE(GvUnicode_AsUTF8AndSize, GvUnicode_AsUTF8AndSize(fixture, NULL))
GIL_CASE(GvList_New, GvList_New(1))
GIL_CASE(GvList_Size, GvList_Size(fixture_list))
GIL_CASE(GvList_GetItemRef, GvList_GetItemRef(fixture_list, 0))
GIL_CASE(GvList_SetItem, GvList_SetItem(fixture_list, 0, Gv_None))
GIL_CASE(GvList_Append, GvList_Append(fixture_list, fixture))
GIL_CASE(GvDict_New, GvDict_New())
GIL_CASE(GvDict_Size, GvDict_Size(fixture))
GIL_CASE(GvDict_SetItem, GvDict_SetItem(fixture, fixture, fixture))
GIL_CASE(GvDict_SetItemString, GvDict_SetItemString(fixture, "k", fixture))
GIL_CASE(GvDict_GetItemRef, GvObject *r; GvDict_GetItemRef(fixture, fixture, &r))
GIL_CASE(GvDict_GetItemStringRef, GvObject *r; GvDict_GetItemStringRef(fixture, "k", &r))
GIL_CASE(GvDict_DelItem, GvDict_DelItem(fixture, fixture))
GIL_CASE(GvDict_Contains, GvDict_Contains(fixture, fixture))
GIL_CASE(GvDict_Keys, GvDict_Keys(fixture))
GIL_CASE(GvProgram_Exec, GvProgram_Exec(NULL))
GIL_CASE(GvObject_CallNoArgs, GvObject_CallNoArgs(fixture))
GIL_CASE(GvObject_CallOneArg, GvObject_CallOneArg(fixture, fixture))
GIL_CASE(GvObject_CallObject, GvObject_CallObject(fixture, NULL))
GIL_CASE(GvObject_CallFunctionObjArgs, GvObject_CallFunctionObjArgs(fixture, NULL))
GIL_CASE(GvObject_Vectorcall, GvObject_Vectorcall(fixture, NULL, 0, NULL))
GIL_CASE(GvEval_GetGlobals, GvEval_GetGlobals())
GIL_CASE(Gv_GetGlobal, Gv_GetGlobal("x"))
GIL_CASE(Gv_SetGlobal, Gv_SetGlobal("x", fixture))
GIL_CASE(GvGIL_GetThreadStats, GvGIL_GetThreadStats(NULL, 0))
GIL_CASE(Gv_GetScheduleDigest, Gv_GetScheduleDigest(NULL))
#undef GIL_CASE

static const struct {
    const char *name;
    void (*call)(void);
} gil_cases[] = {
#define C(name) {#name, gil_##name}
    C(GvObject_Str), C(GvObject_Repr), C(GvObject_IsTrue), C(GvBool_FromLong), C(GvLong_FromLong),
    C(GvLong_FromLongLong), C(GvLong_AsLong), C(GvLong_AsLongLong), C(GvFloat_FromDouble), C(GvFloat_AsDouble),
    C(GvUnicode_FromString), C(GvUnicode_FromStringAndSize), C(GvUnicode_AsUTF8), C(GvUnicode_AsUTF8AndSize),
    C(GvList_New), C(GvList_Size), C(GvList_GetItemRef), C(GvList_SetItem), C(GvList_Append), C(GvDict_New),
    C(GvDict_Size), C(GvDict_SetItem), C(GvDict_SetItemString), C(GvDict_GetItemRef),
    C(GvDict_GetItemStringRef), C(GvDict_DelItem), C(GvDict_Contains), C(GvDict_Keys), C(GvProgram_Exec),
    C(GvObject_CallNoArgs), C(GvObject_CallOneArg), C(GvObject_CallObject), C(GvObject_CallFunctionObjArgs),
    C(GvObject_Vectorcall), C(GvEval_GetGlobals), C(Gv_GetGlobal), C(Gv_SetGlobal), C(GvGIL_GetThreadStats),
    C(Gv_GetScheduleDigest),
#undef C
};

static void test_misuse_without_gil(void **state) {
    (void)state;
    fixture = GvUnicode_FromString("a str");
    fixture_list = GvList_New(1);
    for (size_t i = 0; i < sizeof gil_cases / sizeof gil_cases[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s: called without holding the GIL", gil_cases[i].name);
        gvt_expect_fatal(gil_cases[i].name, gil_cases[i].call, want);
    }
    Gv_DecRef(fixture);
    Gv_DecRef(fixture_list);
}

static void call_with_exception_set(void) {
    GvObject *len = Gv_GetGlobal("len");
    GvErr_SetString(GvExc_ValueError, "pending");
    GvObject_CallOneArg(len, Gv_None);
}
static void call_object_with_exception_set(void) {
    GvObject *len = Gv_GetGlobal("len");
    GvErr_SetString(GvExc_ValueError, "pending");
    GvObject_CallObject(len, NULL);
}
static void find_null_program(void) { GvProgram_FindFunction(NULL, "main", NULL); }
static GvProgram *misuse_program;
static void find_null_name(void) { GvProgram_FindFunction(misuse_program, NULL, NULL); }
static void stats_null_rows(void) { GvGIL_GetThreadStats(NULL, 4); }
static void opcodes_null_file(void) { GvDis_PrintOpcodeReference(NULL); }
static void tables_null_file(void) { GvDis_PrintLanguageTables(NULL); }

static void test_misuse_fatal(void **state) {
    (void)state;
    gvt_expect_fatal("call with an exception set", call_with_exception_set,
                 "GvObject_CallOneArg: called with an exception set");
    gvt_expect_fatal("CallObject with an exception set", call_object_with_exception_set,
                 "GvObject_CallObject: called with an exception set");
    gvt_expect_fatal("FindFunction(NULL program)", find_null_program, "GvProgram_FindFunction: NULL program");
    misuse_program = load_program();
    gvt_expect_fatal("FindFunction(NULL name)", find_null_name, "GvProgram_FindFunction: NULL name");
    GvProgram_Free(misuse_program);
    gvt_expect_fatal("GetThreadStats(NULL, 4)", stats_null_rows, "GvGIL_GetThreadStats: NULL rows");
    gvt_expect_fatal("PrintOpcodeReference(NULL)", opcodes_null_file, "GvDis_PrintOpcodeReference: NULL file");
    gvt_expect_fatal("PrintLanguageTables(NULL)", tables_null_file, "GvDis_PrintLanguageTables: NULL file");
}

/* The calls documented "any thread" work without the GIL: the Check calls,
 * Gv_IsNone, GvObject_TypeName, the mode's name, the build. */
static void test_any_thread_calls(void **state) {
    (void)state;
    GvObject *s = GvUnicode_FromString("s"), *i = GvLong_FromLongLong(1);
    GvThreadState *ts = GvEval_SaveThread();
    assert_true(GvUnicode_Check(s));
    assert_true(GvLong_Check(i));
    assert_false(GvDict_Check(s));
    assert_true(Gv_IsNone(Gv_None));
    assert_string_equal(GvObject_TypeName(i), "int");
    assert_non_null(Gv_GetGILModeName());
    assert_non_null(Gv_GetBuildInfo());
    GvEval_RestoreThread(ts);
    Gv_DecRef(s);
    Gv_DecRef(i);
}

int main(int argc, char **argv) {
#define T(name) cmocka_unit_test_setup_teardown(name, gvt_setup, gvt_teardown)
    const struct CMUnitTest tests[] = {
        T(test_none_and_bools),  T(test_ints),       T(test_floats),
        T(test_strs),            T(test_lists),      T(test_list_ownership),
        T(test_dicts),           T(test_exec_and_find), T(test_calls),
        T(test_values_cross_unboxed), T(test_call_exceptions), T(test_globals),
        T(test_info),            T(test_thread_stats), T(test_misuse_without_gil),
        T(test_misuse_fatal),    T(test_any_thread_calls),
    };
#undef T
    return gvt_run(argc, argv, tests, NULL, NULL);
}
