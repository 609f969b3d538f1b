/* The frame owner (runtime/frame.h): pushes and pops from C and from the
 * eval loop leave the data stack as it was, teardown drops every reference a
 * thread's frames hold, chunks come back after deep calls, and the debug
 * build's asserts catch a pop below the frame's base, a pop of a frame that
 * is not the current one, and an underflow of the handled-exception stack.
 *
 * Several tests push frames by hand, as CALL does, to build a frame stack
 * with references in every place the calling convention names (operand
 * stacks, locals, callee slots, an entry frame's callable, handled
 * exceptions) without running it. */
#include "gvtest.h"

/* The global function `name` (borrowed: the globals hold it). */
static GvValue global(const char *name) {
    GvValue v = gvt_global(name);
    gv_vdecref(v);
    assert_true(gv_is_kind(v, GV_KFUNC));
    return v;
}

static GvFunction *fn_of(GvValue v) { return (GvFunction *)v.as.o; }

static GvValue new_list(void) {
    GvObject *l = gv_list_new(0);
    assert_non_null(l);
    return gv_obj(l);
}

static int64_t refs(GvValue v) { return v.as.o->refcnt; }

static GvStackChunk *first_chunk(GvThreadState *ts) {
    GvStackChunk *c = ts->chunk;
    while (c->prev) c = c->prev;
    return c;
}

/* What CALL does on the current frame: puts fn and arg on its operand stack
 * (new references), saves its sp at the callee slot, pushes fn's frame. */
static GvFrame *call_by_hand(GvThreadState *ts, GvValue fn, GvValue arg) {
    GvFrame *caller = ts->current_frame;
    GvValue *callee = caller->sp;
    assert_true(callee + 2 <= gv_frame_end(caller));
    callee[0] = gv_vincref(fn);
    callee[1] = gv_vincref(arg);
    caller->sp = callee;
    GvFrame *f = gv_frame_push(ts, fn_of(fn), callee + 1, 1);
    assert_non_null(f);
    assert_ptr_equal(ts->current_frame, f);
    return f;
}

/* ---- fixtures: each group has a fresh interpreter with these defined ---- */

static const char *SRC =
    /* pair(a, b) -> [a, b] */
    ".func pair a b\n LOAD_FAST a\n LOAD_FAST b\n BUILD_LIST 2\n RETURN_VALUE\n.end\n"
    /* fail(a): raises ValueError */
    ".func fail a\n LOAD_GLOBAL ValueError\n LOAD_CONST \"no\"\n CALL 1\n RAISE\n.end\n"
    /* rec(x): max_stack 2, one local: the smallest frame that can call */
    ".func rec x\n LOAD_GLOBAL rec\n LOAD_FAST x\n CALL 1\n RETURN_VALUE\n.end\n"
    /* outer(x): max_stack 3: x below a call of rec */
    ".func outer x\n LOAD_FAST x\n LOAD_GLOBAL rec\n LOAD_FAST x\n CALL 1\n BINARY_ADD\n RETURN_VALUE\n.end\n"
    /* big(): eight locals: an entry frame of 15 slots */
    ".func big\n.local a b c d e f g h\n LOAD_CONST 7\n RETURN_VALUE\n.end\n"
    /* down(n): n frames deep, each with a handler that re-raises, then a
     * ValueError at the bottom: unwinding pops every frame and every
     * handled exception on the way */
    ".func down n\n .try t0 t1 h\n LOAD_FAST n\n POP_JUMP_IF_FALSE bottom\n"
    "t0:\n LOAD_GLOBAL down\n LOAD_FAST n\n LOAD_CONST 1\n BINARY_SUB\n CALL 1\n"
    "t1:\n RETURN_VALUE\n"
    "h:\n RERAISE\n"
    "bottom:\n LOAD_GLOBAL ValueError\n LOAD_CONST \"bottom\"\n CALL 1\n RAISE\n.end\n";

static int setup(void **state) {
    if (gvt_setup(state) < 0) return -1;
    gvt_load(SRC);
    return 0;
}

/* ---- push and pop through C ---- */

static void test_eval_call_leaves_the_data_stack_as_it_was(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue pair = global("pair"), a = new_list(), b = new_list();
    int64_t pair_refs = refs(pair);
    GvStackChunk *chunk = ts->chunk;
    GvValue *top = gv_stack_top(ts);
    GvValue args[2] = {a, b}, r;
    assert_int_equal(gv_eval_call(ts, pair, 2, args, &r), 0);
    assert_true(gv_is_kind(r, GV_KLIST));
    assert_int_equal(refs(a), 2); /* ours and the result's */
    gv_vdecref(r);
    assert_null(ts->current_frame);
    assert_ptr_equal(ts->chunk, chunk);
    assert_ptr_equal(gv_stack_top(ts), top);
    assert_int_equal(ts->recursion_depth, 0);
    assert_int_equal(ts->c_recursion_depth, 0);
    assert_int_equal(refs(pair), pair_refs);
    assert_int_equal(refs(a), 1);
    assert_int_equal(refs(b), 1);
    gv_vdecref(a);
    gv_vdecref(b);
}

static void test_eval_call_that_raises_or_is_refused_leaves_the_stack(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue fail = global("fail"), pair = global("pair"), a = new_list();
    int64_t fail_refs = refs(fail), pair_refs = refs(pair);
    GvStackChunk *chunk = ts->chunk;
    GvValue r;
    /* Raised in the frame: the loop pops it. */
    assert_int_equal(gv_eval_call(ts, fail, 1, &a, &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_ValueError);
    gv_err_clear(ts);
    /* Refused by the push (wrong argument count): no frame at all. */
    assert_int_equal(gv_eval_call(ts, pair, 1, &a, &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_TypeError);
    assert_string_equal(gvt_exc_message(), "pair() takes 2 arguments (1 given)");
    gv_err_clear(ts);
    assert_null(ts->current_frame);
    assert_ptr_equal(ts->chunk, chunk);
    assert_ptr_equal(gv_stack_top(ts), chunk->data);
    assert_int_equal(ts->recursion_depth, 0);
    assert_int_equal(ts->exc_depth, 0);
    assert_int_equal(refs(fail), fail_refs);
    assert_int_equal(refs(pair), pair_refs);
    assert_int_equal(refs(a), 1);
    gv_vdecref(a);
}

static void test_entry_frame_sits_above_the_whole_current_frame(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue outer = global("outer"), pair = global("pair"), x = new_list();
    int64_t outer_refs = refs(outer), pair_refs = refs(pair);
    GvFrame *f = gv_frame_push_entry(ts, fn_of(outer), outer, 1, &x);
    assert_non_null(f);
    assert_true(f->is_entry);
    assert_ptr_equal(ts->current_frame, f);
    assert_int_equal(ts->recursion_depth, 1);
    /* The callable's slot, then the locals: both hold references now. */
    assert_ptr_equal(f->locals[-1].as.o, outer.as.o);
    assert_ptr_equal(f->locals[0].as.o, x.as.o);
    assert_int_equal(refs(outer), outer_refs + 1);
    assert_int_equal(refs(x), 2);
    assert_ptr_equal(gv_stack_top(ts), gv_frame_end(f));

    /* A call from C while f is on top (as from a builtin it called). */
    GvValue *top = gv_stack_top(ts);
    GvValue args[2] = {x, x}, r;
    assert_int_equal(gv_eval_call(ts, pair, 2, args, &r), 0);
    gv_vdecref(r);
    assert_ptr_equal(ts->current_frame, f);
    assert_ptr_equal(gv_stack_top(ts), top);
    assert_int_equal(ts->recursion_depth, 1);
    assert_int_equal(refs(pair), pair_refs);
    assert_int_equal(refs(x), 2);

    gv_frame_pop(ts, f, gv_frame_stack_base(f));
    gv_frame_entry_done(outer);
    assert_null(ts->current_frame);
    assert_int_equal(ts->recursion_depth, 0);
    assert_int_equal(refs(outer), outer_refs);
    assert_int_equal(refs(x), 1);
    gv_vdecref(x);
}

/* ---- teardown ---- */

static void test_teardown_drops_every_reference_the_frames_hold(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue outer = global("outer"), rec = global("rec");
    GvValue x = new_list(), below = new_list(), arg = new_list(), top = new_list();
    GvObject *handled = gv_exc_new(&gv_type_KeyError, NULL, gv_none());
    assert_non_null(handled);
    int64_t outer_refs = refs(outer), rec_refs = refs(rec);
    GvStackChunk *chunk = ts->chunk;

    /* outer(x) entered from C; on its stack `below`, then rec(arg) called;
     * in rec's frame a handled exception and `top` on its operand stack. */
    GvFrame *f = gv_frame_push_entry(ts, fn_of(outer), outer, 1, &x);
    assert_non_null(f);
    *f->sp++ = gv_vincref(below);
    GvFrame *g = call_by_hand(ts, rec, arg);
    assert_int_equal(gv_excinfo_push(ts, handled), 0);
    *g->sp++ = gv_vincref(top);
    assert_int_equal(ts->recursion_depth, 2);
    assert_int_equal(refs(rec), rec_refs + 1);
    assert_int_equal(refs(outer), outer_refs + 1);

    gv_frame_teardown_all(ts);
    assert_null(ts->current_frame);
    assert_int_equal(ts->recursion_depth, 0);
    assert_int_equal(ts->exc_depth, 0);
    assert_ptr_equal(ts->chunk, chunk);
    assert_ptr_equal(gv_stack_top(ts), chunk->data);
    assert_int_equal(refs(outer), outer_refs); /* the entry frame's callable */
    assert_int_equal(refs(rec), rec_refs);     /* outer's callee slot */
    assert_int_equal(refs(x), 1);
    assert_int_equal(refs(below), 1);
    assert_int_equal(refs(arg), 1);
    assert_int_equal(refs(top), 1);
    assert_int_equal(handled->refcnt, 1);
    gv_vdecref(x);
    gv_vdecref(below);
    gv_vdecref(arg);
    gv_vdecref(top);
    gv_decref(handled);
}

static void test_teardown_across_chunks_returns_to_the_first(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue rec = global("rec"), big = global("big"), arg = new_list();
    int64_t rec_refs = refs(rec), big_refs = refs(big);
    GvStackChunk *first = first_chunk(ts);
    assert_ptr_equal(ts->chunk, first);
    int old_limit = ts->recursion_limit;
    ts->recursion_limit = 1000000;

    /* Call rec by hand until some chunk after the first has too little room
     * left for big's entry frame (15 slots). */
    GvFrame *f = gv_frame_push_entry(ts, fn_of(rec), rec, 1, &arg);
    assert_non_null(f);
    int depth = 1;
    while (ts->chunk == first || ts->chunk->end - gv_stack_top(ts) >= 15) {
        call_by_hand(ts, rec, arg);
        depth++;
        assert_true(depth < 100000);
    }
    assert_int_equal(ts->recursion_depth, depth);
    assert_int_equal(refs(rec), rec_refs + depth);
    assert_int_equal(refs(arg), 1 + depth);

    /* An entry frame that needs a chunk of its own, then gives it back. */
    GvStackChunk *here = ts->chunk;
    GvFrame *current = ts->current_frame;
    assert_null(here->next);
    GvValue r;
    assert_int_equal(gv_eval_call(ts, big, 0, NULL, &r), 0);
    assert_int_equal(r.as.i, 7);
    assert_ptr_equal(ts->chunk, here);
    assert_non_null(here->next); /* the one it used, kept for the next deep call */
    assert_ptr_equal(ts->current_frame, current);
    assert_int_equal(refs(big), big_refs);

    gv_frame_teardown_all(ts);
    assert_ptr_equal(ts->chunk, first);
    assert_null(ts->current_frame);
    assert_int_equal(ts->recursion_depth, 0);
    assert_int_equal(refs(rec), rec_refs);
    assert_int_equal(refs(arg), 1);
    gv_vdecref(arg);
    ts->recursion_limit = old_limit;
}

/* ---- the eval loop's frames ---- */

static void test_deep_recursion_unwound_by_an_exception_returns_to_the_first_chunk(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    GvValue down = global("down");
    int64_t down_refs = refs(down);
    GvStackChunk *first = first_chunk(ts);
    assert_ptr_equal(ts->chunk, first);
    int old_limit = ts->recursion_limit;
    ts->recursion_limit = 100000;
    /* ~10 slots a frame: 30,000 frames span several 8192-slot chunks. */
    GvValue n = gv_int(30000), r;
    assert_int_equal(gv_eval_call(ts, down, 1, &n, &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_ValueError);
    assert_string_equal(gvt_exc_message(), "bottom");
    gv_err_clear(ts);
    assert_ptr_equal(ts->chunk, first);
    assert_non_null(first->next); /* it did leave the first chunk */
    assert_null(ts->current_frame);
    assert_int_equal(ts->recursion_depth, 0);
    assert_int_equal(ts->exc_depth, 0);
    assert_int_equal(refs(down), down_refs);
    ts->recursion_limit = old_limit;
}

/* ---- the debug build's asserts ---- */

/* Runs body in a child process (gvt_run_in_child); true if it died of an
 * assert whose message contains `expr`. */
static void (*child_body)(GvThreadState *);
static int run_child_body(void *arg) {
    (void)arg;
    child_body(GvThreadState_Get());
    return 0;
}

static bool asserts_in_child(void (*body)(GvThreadState *), const char *expr) {
    child_body = body;
    GvtChild c = gvt_run_in_child(run_child_body, NULL);
    if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGABRT) {
        print_error("child status %#x, stderr: %s\n", c.status, c.err);
        return false;
    }
    if (!strstr(c.err, expr)) {
        print_error("no \"%s\" in the child's stderr: %s\n", expr, c.err);
        return false;
    }
    return true;
}

static GvFrame *push_rec(GvThreadState *ts) {
    GvValue rec = global("rec"), none = gv_none();
    GvFrame *f = gv_frame_push_entry(ts, fn_of(rec), rec, 1, &none);
    assert_non_null(f);
    return f;
}

static void pop_below_base(GvThreadState *ts) {
    GvFrame *f = push_rec(ts);
    gv_frame_pop(ts, f, gv_frame_stack_base(f) - 1);
}

static void pop_not_current(GvThreadState *ts) {
    GvFrame *f = push_rec(ts);
    call_by_hand(ts, global("rec"), gv_none());
    gv_frame_pop(ts, f, f->sp);
}

static void pop_at_depth_zero(GvThreadState *ts) {
    GvFrame *f = push_rec(ts);
    ts->recursion_depth = 0;
    gv_frame_pop(ts, f, f->sp);
}

static void excinfo_underflow(GvThreadState *ts) {
    assert_int_equal(ts->exc_depth, 0);
    gv_excinfo_pop(ts);
}

static void test_debug_build_asserts_frame_and_exception_stack_invariants(void **state) {
    (void)state;
#ifdef NDEBUG
    skip(); /* a release build: no asserts to check */
#else
    assert_true(asserts_in_child(pop_below_base, "sp >= base"));
    assert_true(asserts_in_child(pop_not_current, "f == ts->current_frame"));
    assert_true(asserts_in_child(pop_at_depth_zero, "ts->recursion_depth > 0"));
    assert_true(asserts_in_child(excinfo_underflow, "ts->exc_depth > 0"));
    /* The parent's own stacks are untouched. */
    GvThreadState *ts = GvThreadState_Get();
    assert_null(ts->current_frame);
    assert_int_equal(ts->recursion_depth, 0);
#endif
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_call_leaves_the_data_stack_as_it_was),
        cmocka_unit_test(test_eval_call_that_raises_or_is_refused_leaves_the_stack),
        cmocka_unit_test(test_entry_frame_sits_above_the_whole_current_frame),
        cmocka_unit_test(test_teardown_drops_every_reference_the_frames_hold),
        cmocka_unit_test(test_teardown_across_chunks_returns_to_the_first),
        cmocka_unit_test(test_deep_recursion_unwound_by_an_exception_returns_to_the_first_chunk),
        cmocka_unit_test(test_debug_build_asserts_frame_and_exception_stack_invariants),
    };
    return gvt_run(argc, argv, tests, setup, gvt_teardown);
}
