/* Strings (runtime/str.c): UTF-8 validation, lengths in code points,
 * concatenation, indexing, hashing, Python's repr, and GvBuf. */
#include "gvtest.h"

/* Asserts that the last call raised `type` and clears it. */
static void expect_error(GvType *type, const char *message) {
    GvThreadState *ts = GvThreadState_Get();
    assert_non_null(ts->current_exception);
    GvException *e = (GvException *)ts->current_exception;
    assert_ptr_equal(e->type, type);
    if (message) {
        assert_non_null(e->message);
        assert_string_equal(gv_str_cstr(e->message), message);
    }
    gv_err_clear(ts);
}

static GvStr *S(const char *s) {
    GvObject *o = gv_str_new(s, strlen(s));
    assert_non_null(o);
    return (GvStr *)o;
}

/* repr(s) as a C string the caller frees. */
static char *repr_of(GvStr *s) {
    GvBuf b;
    gv_buf_init(&b);
    assert_int_equal(gv_str_repr_into(&b, s), 0);
    char *r = strdup(b.data);
    gv_buf_free(&b);
    return r;
}

static void check_repr(const char *text, const char *expected) {
    GvStr *s = S(text);
    char *r = repr_of(s);
    assert_string_equal(r, expected);
    free(r);
    gv_decref(&s->ob);
}

static void test_ascii_str_has_bytes_length_and_nul(void **state) {
    (void)state;
    GvStr *s = S("hello");
    assert_int_equal(s->ob.kind, GV_KSTR);
    assert_int_equal(s->ob.refcnt, 1);
    assert_int_equal(s->size, 5);
    assert_int_equal(s->length, 5);
    assert_true(s->ascii);
    assert_string_equal(s->data, "hello");
    assert_int_equal(s->data[5], '\0');
    gv_decref(&s->ob);
}

static void test_utf8_str_length_counts_code_points(void **state) {
    (void)state;
    /* h é l l o € 𝄞 : 1+2+1+1+1+3+4 bytes, 7 code points */
    GvStr *s = S("h\xc3\xa9llo\xe2\x82\xac\xf0\x9d\x84\x9e");
    assert_int_equal(s->size, 13);
    assert_int_equal(s->length, 7);
    assert_false(s->ascii);
    gv_decref(&s->ob);
}

static void test_empty_str(void **state) {
    (void)state;
    GvObject *o = gv_str_new("", 0);
    assert_non_null(o);
    assert_int_equal(((GvStr *)o)->size, 0);
    assert_int_equal(((GvStr *)o)->length, 0);
    assert_string_equal(gv_str_cstr(o), "");
    gv_decref(o);
}

static void test_embedded_nul_is_kept(void **state) {
    (void)state;
    GvObject *o = gv_str_new("a\0b", 3);
    assert_non_null(o);
    assert_int_equal(((GvStr *)o)->size, 3);
    assert_int_equal(((GvStr *)o)->length, 3);
    assert_memory_equal(gv_str_cstr(o), "a\0b", 4);
    gv_decref(o);
}

static void test_invalid_utf8_rejected_with_value_error(void **state) {
    (void)state;
    static const struct {
        const char *bytes;
        size_t n;
    } bad[] = {
        {"\xff", 1},                 /* never valid */
        {"\x80", 1},                 /* lone continuation */
        {"\xc0\x80", 2},             /* overlong NUL */
        {"\xc1\xbf", 2},             /* overlong */
        {"\xe0\x80\x80", 3},         /* overlong 3-byte */
        {"\xed\xa0\x80", 3},         /* surrogate U+D800 */
        {"\xf0\x80\x80\x80", 4},     /* overlong 4-byte */
        {"\xf4\x90\x80\x80", 4},     /* past U+10FFFF */
        {"\xf5\x80\x80\x80", 4},     /* invalid lead */
        {"\xe2\x82", 2},             /* truncated */
        {"ok\xc3", 3},               /* truncated at end */
        {"\xc3\x28", 2},             /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_null(gv_str_new(bad[i].bytes, bad[i].n));
        expect_error(&gv_type_ValueError, NULL);
        assert_false(gv_utf8_valid(bad[i].bytes, bad[i].n, NULL));
    }
}

static void test_invalid_utf8_message_names_byte_and_position(void **state) {
    (void)state;
    assert_null(gv_str_new("ab\xff", 3));
    expect_error(&gv_type_ValueError,
                 "'utf-8' codec can't decode byte 0xff in position 2: invalid start byte");
}

static void test_utf8_boundaries_accepted(void **state) {
    (void)state;
    size_t len;
    assert_true(gv_utf8_valid("\x7f", 1, &len));
    assert_int_equal(len, 1);
    assert_true(gv_utf8_valid("\xc2\x80", 2, &len));        /* U+0080 */
    assert_true(gv_utf8_valid("\xed\x9f\xbf", 3, &len));    /* U+D7FF */
    assert_true(gv_utf8_valid("\xee\x80\x80", 3, &len));    /* U+E000 */
    assert_true(gv_utf8_valid("\xef\xbf\xbf", 3, &len));    /* U+FFFF */
    assert_true(gv_utf8_valid("\xf0\x90\x80\x80", 4, &len)); /* U+10000 */
    assert_true(gv_utf8_valid("\xf4\x8f\xbf\xbf", 4, &len)); /* U+10FFFF */
    assert_int_equal(len, 1);
}

static void test_from_cstr(void **state) {
    (void)state;
    GvObject *o = gv_str_from_cstr("caf\xc3\xa9");
    assert_non_null(o);
    assert_int_equal(((GvStr *)o)->length, 4);
    gv_decref(o);
}

static void test_concat_makes_new_str(void **state) {
    (void)state;
    GvStr *a = S("ab"), *b = S("\xc3\xa9z");
    GvObject *c = gv_str_concat(a, b);
    assert_non_null(c);
    assert_ptr_not_equal(c, &a->ob);
    assert_string_equal(gv_str_cstr(c), "ab\xc3\xa9z");
    assert_int_equal(((GvStr *)c)->size, 5);
    assert_int_equal(((GvStr *)c)->length, 4);
    assert_false(((GvStr *)c)->ascii);
    assert_string_equal(a->data, "ab");
    gv_decref(c);
    gv_decref(&a->ob);
    gv_decref(&b->ob);
}

static void test_concat_of_empty(void **state) {
    (void)state;
    GvStr *a = S(""), *b = S("x");
    GvObject *c = gv_str_concat(a, b);
    assert_string_equal(gv_str_cstr(c), "x");
    assert_true(((GvStr *)c)->ascii);
    gv_decref(c);
    gv_decref(&a->ob);
    gv_decref(&b->ob);
}

static void test_char_at_ascii_and_multibyte(void **state) {
    (void)state;
    GvStr *a = S("xyz");
    GvObject *c = gv_str_char_at(a, 2);
    assert_string_equal(gv_str_cstr(c), "z");
    assert_int_equal(((GvStr *)c)->length, 1);
    gv_decref(c);
    gv_decref(&a->ob);

    GvStr *u = S("a\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e!");
    const char *expect[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "!"};
    for (size_t i = 0; i < 5; i++) {
        c = gv_str_char_at(u, i);
        assert_string_equal(gv_str_cstr(c), expect[i]);
        assert_int_equal(((GvStr *)c)->length, 1);
        gv_decref(c);
    }
    gv_decref(&u->ob);
}

static void test_equal_and_compare_by_code_point(void **state) {
    (void)state;
    GvStr *a = S("abc"), *a2 = S("abc"), *b = S("abd"), *p = S("ab"), *e = S("\xc3\xa9");
    GvStr *z = S("z");
    assert_true(gv_str_equal(a, a2));
    assert_false(gv_str_equal(a, b));
    assert_false(gv_str_equal(a, p));
    assert_int_equal(gv_str_compare(a, a2), 0);
    assert_true(gv_str_compare(a, b) < 0);
    assert_true(gv_str_compare(b, a) > 0);
    assert_true(gv_str_compare(p, a) < 0); /* prefix is less */
    assert_true(gv_str_compare(e, z) > 0); /* U+00E9 > U+007A */
    GvStr *all[] = {a, a2, b, p, e, z};
    for (size_t i = 0; i < 6; i++) gv_decref(&all[i]->ob);
}

static void test_equal_strings_hash_equal_and_hash_is_cached(void **state) {
    (void)state;
    GvStr *a = S("some key"), *b = S("some key"), *c = S("some kez");
    uint64_t ha = gv_str_hash(a);
    assert_true(a->has_hash);
    assert_int_equal(a->hash, ha);
    assert_int_equal(gv_str_hash(a), ha);
    assert_int_equal(gv_str_hash(b), ha);
    assert_int_not_equal(gv_str_hash(c), ha);
    gv_decref(&a->ob);
    gv_decref(&b->ob);
    gv_decref(&c->ob);
}

static void test_repr_quotes_like_python(void **state) {
    (void)state;
    check_repr("abc", "'abc'");
    check_repr("", "''");
    check_repr("it's", "\"it's\"");
    check_repr("say \"hi\"", "'say \"hi\"'");
    check_repr("it's \"x\"", "'it\\'s \"x\"'");
}

static void test_repr_escapes_controls_and_backslash(void **state) {
    (void)state;
    check_repr("a\nb\tc\rd", "'a\\nb\\tc\\rd'");
    check_repr("back\\slash", "'back\\\\slash'");
    check_repr("\x01\x1f\x7f", "'\\x01\\x1f\\x7f'");
}

static void test_repr_keeps_printable_unicode_and_escapes_the_rest(void **state) {
    (void)state;
    check_repr("caf\xc3\xa9 \xe2\x82\xac", "'caf\xc3\xa9 \xe2\x82\xac'");
    check_repr("\xc2\x85", "'\\x85'");         /* C1 control */
    check_repr("\xc2\xa0", "'\\xa0'");         /* no-break space */
    check_repr("\xe2\x80\xa8", "'\\u2028'");   /* line separator */
    check_repr("\xf3\xb0\x80\x80", "'\\U000f0000'"); /* private use plane */
    check_repr("\xf0\x9f\x98\x80", "'\xf0\x9f\x98\x80'"); /* emoji is printable */
}

static void test_format_builds_str(void **state) {
    (void)state;
    GvObject *o = gv_str_format("%d-%s-%.1f", 42, "x", 2.5);
    assert_non_null(o);
    assert_string_equal(gv_str_cstr(o), "42-x-2.5");
    gv_decref(o);

    /* longer than any small internal buffer */
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    o = gv_str_format("<%s>", big);
    assert_int_equal(((GvStr *)o)->size, 1001);
    gv_decref(o);
}

static void test_format_replaces_invalid_utf8_instead_of_failing(void **state) {
    (void)state;
    GvObject *o = gv_str_format("a%sb", "\xff");
    assert_non_null(o);
    assert_string_equal(gv_str_cstr(o), "a\xef\xbf\xbd" "b");
    assert_int_equal(((GvStr *)o)->length, 3);
    gv_decref(o);
}

static void test_buf_appends_and_converts(void **state) {
    (void)state;
    GvBuf b;
    gv_buf_init(&b);
    assert_int_equal(gv_buf_puts(&b, "x="), 0);
    assert_int_equal(gv_buf_printf(&b, "%d", 12345), 0);
    assert_int_equal(gv_buf_append(&b, "!!", 1), 0);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "x=12345!");
    GvObject *s = gv_buf_to_str(&b);
    assert_string_equal(gv_str_cstr(s), "x=12345!");
    gv_decref(s);
    /* a printf longer than the small buffer */
    char big[300];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(gv_buf_printf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 8 + 301);
    assert_int_equal(b.data[b.len - 1], ']');
    gv_buf_free(&b);
    assert_null(b.data);
}

static void test_empty_buf_to_str(void **state) {
    (void)state;
    GvBuf b;
    gv_buf_init(&b);
    GvObject *s = gv_buf_to_str(&b);
    assert_non_null(s);
    assert_int_equal(((GvStr *)s)->size, 0);
    gv_decref(s);
    gv_buf_free(&b);
}

static void test_large_string_of_16_megabytes(void **state) {
    (void)state;
    size_t n = 16u << 20;
    char *raw = malloc(n);
    assert_non_null(raw);
    for (size_t i = 0; i < n; i++) raw[i] = (char)('a' + i % 26);
    GvObject *s = gv_str_new(raw, n);
    assert_non_null(s);
    assert_int_equal(((GvStr *)s)->length, n);
    GvObject *d = gv_str_concat((GvStr *)s, (GvStr *)s);
    assert_non_null(d);
    assert_int_equal(((GvStr *)d)->size, 2 * n);
    assert_int_equal(gv_str_cstr(d)[2 * n - 1], raw[n - 1]);
    GvObject *c = gv_str_char_at((GvStr *)d, 2 * n - 1);
    assert_int_equal(gv_str_cstr(c)[0], raw[n - 1]);
    gv_decref(c);
    gv_decref(d);
    gv_decref(s);
    free(raw);
}

static void test_large_multibyte_string_length(void **state) {
    (void)state;
    size_t count = 1u << 20;
    char *raw = malloc(count * 3);
    assert_non_null(raw);
    for (size_t i = 0; i < count; i++) memcpy(raw + 3 * i, "\xe2\x82\xac", 3);
    GvObject *s = gv_str_new(raw, count * 3);
    assert_non_null(s);
    assert_int_equal(((GvStr *)s)->length, count);
    GvObject *c = gv_str_char_at((GvStr *)s, count - 1);
    assert_string_equal(gv_str_cstr(c), "\xe2\x82\xac");
    gv_decref(c);
    gv_decref(s);
    free(raw);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_str_has_bytes_length_and_nul),
        cmocka_unit_test(test_utf8_str_length_counts_code_points),
        cmocka_unit_test(test_empty_str),
        cmocka_unit_test(test_embedded_nul_is_kept),
        cmocka_unit_test(test_invalid_utf8_rejected_with_value_error),
        cmocka_unit_test(test_invalid_utf8_message_names_byte_and_position),
        cmocka_unit_test(test_utf8_boundaries_accepted),
        cmocka_unit_test(test_from_cstr),
        cmocka_unit_test(test_concat_makes_new_str),
        cmocka_unit_test(test_concat_of_empty),
        cmocka_unit_test(test_char_at_ascii_and_multibyte),
        cmocka_unit_test(test_equal_and_compare_by_code_point),
        cmocka_unit_test(test_equal_strings_hash_equal_and_hash_is_cached),
        cmocka_unit_test(test_repr_quotes_like_python),
        cmocka_unit_test(test_repr_escapes_controls_and_backslash),
        cmocka_unit_test(test_repr_keeps_printable_unicode_and_escapes_the_rest),
        cmocka_unit_test(test_format_builds_str),
        cmocka_unit_test(test_format_replaces_invalid_utf8_instead_of_failing),
        cmocka_unit_test(test_buf_appends_and_converts),
        cmocka_unit_test(test_empty_buf_to_str),
        cmocka_unit_test(test_large_string_of_16_megabytes),
        cmocka_unit_test(test_large_multibyte_string_length),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
