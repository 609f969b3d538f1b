/* The GIL timeline's C API (vm/api_timeline.c, runtime/timeline.c):
 * GvTimeline_Start / Stop / StopToFile / IsRecording, what a recording
 * holds, and the documented errors of bad calls. The invariants of the file
 * (one holder at a time, flows from drops to takes) are checked on whole
 * programs by tests/check_timeline.py (suite timeline). */
#include <stdlib.h>

#include "gvtest.h"

/* main_run(): starts `worker` in a thread and joins it. worker(): sleeps a
 * little (a blocking wait), then loops a while (bytecode). */
static const char *SRC =
    ".func worker\n.local n\n"
    " LOAD_GLOBAL sleep\n LOAD_CONST 0.001\n CALL 1\n POP_TOP\n"
    " LOAD_CONST 2000\n STORE_FAST n\n"
    "top:\n LOAD_FAST n\n POP_JUMP_IF_FALSE done\n"
    " LOAD_FAST n\n LOAD_CONST 1\n BINARY_SUB\n STORE_FAST n\n JUMP top\n"
    "done:\n LOAD_CONST none\n RETURN_VALUE\n.end\n"
    /* spin(): loops until the global `stop` is true. */
    ".func spin\n"
    "top:\n LOAD_GLOBAL stop\n POP_JUMP_IF_TRUE done\n JUMP top\n"
    "done:\n LOAD_CONST none\n RETURN_VALUE\n.end\n"
    ".func start_spin\n LOAD_GLOBAL thread_start\n LOAD_GLOBAL spin\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func join h\n LOAD_GLOBAL thread_join\n LOAD_FAST h\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func main_run\n"
    " LOAD_GLOBAL thread_join\n LOAD_GLOBAL thread_start\n LOAD_GLOBAL worker\n CALL 1\n CALL 1\n"
    " RETURN_VALUE\n.end\n";

/* What the writer callback got. */
typedef struct Sink {
    char *data;
    size_t len;
    int calls;
    int fail_at;    /* this call (1: the first) fails; 0: none */
} Sink;

static int sink_write(void *arg, const char *data, size_t len) {
    Sink *s = arg;
    s->calls++;
    if (s->calls == s->fail_at) return -1;
    char *n = realloc(s->data, s->len + len + 1);
    assert_non_null(n);
    memcpy(n + s->len, data, len);
    s->len += len;
    n[s->len] = '\0';
    s->data = n;
    return 0;
}

static void sink_free(Sink *s) {
    free(s->data);
    memset(s, 0, sizeof *s);
}

static int setup(void **state) {
    int rc = gvt_setup(state);
    gvt_load(SRC);
    return rc;
}


static void run_worker(void) {
    gvt_watchdog_arm(60, "main_run");
    GvValue r = gvt_call_ok("main_run", 0, NULL);
    gv_vdecref(r);
    gvt_watchdog_disarm();
}

static void test_timeline_records_threads_states_and_handoffs(void **state) {
    (void)state;
    assert_int_equal(GvTimeline_IsRecording(), 0);
    assert_int_equal(GvTimeline_Start(0), 0);
    assert_int_equal(GvTimeline_IsRecording(), 1);
    run_worker();
    /* The embedder's own C code, outside the VM. */
    Gv_BEGIN_ALLOW_THREADS
    gvt_msleep(1);
    Gv_END_ALLOW_THREADS
    Sink s = {0};
    assert_int_equal(GvTimeline_Stop(sink_write, &s), 0);
    assert_int_equal(GvTimeline_IsRecording(), 0);
    assert_true(s.calls >= 1);
    assert_non_null(s.data);
    assert_true(strncmp(s.data, "{\"traceEvents\":[", 16) == 0);
    assert_non_null(strstr(s.data, "\"schema\":\"gilvm-timeline-1\""));
    assert_non_null(strstr(s.data, "\"name\":\"T1 main\""));
    assert_non_null(strstr(s.data, "\"name\":\"T2 worker\""));
    assert_non_null(strstr(s.data, "\"name\":\"running\""));
    assert_non_null(strstr(s.data, "\"name\":\"blocked: join\""));
    assert_non_null(strstr(s.data, "\"name\":\"blocked: sleep\""));
    assert_non_null(strstr(s.data, "\"name\":\"outside VM\""));
    assert_non_null(strstr(s.data, "\"name\":\"take\""));
    assert_non_null(strstr(s.data, "\"cat\":\"handoff\""));
    assert_non_null(strstr(s.data, "\"events_dropped\":0"));
    size_t len = strlen(s.data);
    assert_int_equal(len, s.len); /* no NUL inside */
    assert_true(len > 2 && s.data[len - 2] == '}' && s.data[len - 1] == '\n');
    sink_free(&s);
    /* A second recording starts afresh: nothing of the first is in it. */
    assert_int_equal(GvTimeline_Start(0), 0);
    assert_int_equal(GvTimeline_Stop(sink_write, &s), 0);
    assert_null(strstr(s.data, "T2 worker"));
    assert_non_null(strstr(s.data, "\"name\":\"T1 main\""));
    sink_free(&s);
}

static void test_timeline_bounded_buffers_count_what_they_drop(void **state) {
    (void)state;
    assert_int_equal(GvTimeline_Start(4), 0);
    run_worker();
    Sink s = {0};
    assert_int_equal(GvTimeline_Stop(sink_write, &s), 0);
    const char *d = strstr(s.data, "\"events_dropped\":");
    assert_non_null(d);
    assert_true(atoi(d + strlen("\"events_dropped\":")) > 0);
    assert_non_null(strstr(s.data, "\"events_per_thread\":4"));
    sink_free(&s);
}

static void test_timeline_bad_calls_give_the_documented_errors(void **state) {
    (void)state;
    Sink s = {0};
    /* Not recording. */
    assert_int_equal(GvTimeline_Stop(sink_write, &s), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    GvErr_Clear();
    assert_int_equal(GvTimeline_StopToFile("/dev/null"), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    GvErr_Clear();
    assert_int_equal(s.calls, 0);
    /* Too large a buffer. */
    assert_int_equal(GvTimeline_Start((size_t)100000000 + 1), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_ValueError);
    GvErr_Clear();
    assert_int_equal(GvTimeline_IsRecording(), 0);
    /* Twice. */
    assert_int_equal(GvTimeline_Start(0), 0);
    assert_int_equal(GvTimeline_Start(0), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    GvErr_Clear();
    /* NULL writer or path: TypeError, and the recording goes on. */
    assert_int_equal(GvTimeline_Stop(NULL, NULL), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_TypeError);
    GvErr_Clear();
    assert_int_equal(GvTimeline_StopToFile(NULL), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_TypeError);
    GvErr_Clear();
    /* A file that cannot be opened: RuntimeError, and it goes on. */
    assert_int_equal(GvTimeline_StopToFile("/nonexistent-dir/timeline.json"), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    assert_non_null(strstr(gvt_exc_message(), "cannot open"));
    GvErr_Clear();
    assert_int_equal(GvTimeline_IsRecording(), 1);
    /* A writer that fails: RuntimeError, and the recording is gone. */
    s.fail_at = 1;
    assert_int_equal(GvTimeline_Stop(sink_write, &s), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    GvErr_Clear();
    assert_int_equal(GvTimeline_IsRecording(), 0);
    sink_free(&s);
}

static void test_timeline_stop_to_file_writes_the_file(void **state) {
    (void)state;
    char path[] = "/tmp/gilvm-timeline-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(GvTimeline_Start(0), 0);
    run_worker();
    assert_int_equal(GvTimeline_StopToFile(path), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char head[32] = {0};
    assert_true(fread(head, 1, 16, f) == 16);
    fclose(f);
    unlink(path);
    assert_string_equal(head, "{\"traceEvents\":[");
}

/* Recordings started and stopped while two threads hand the GIL back and
 * forth: every stop waits for the threads' hooks in flight (under TSan, a
 * race there is a report) and writes a whole file each time. */
static void test_timeline_start_stop_while_threads_run(void **state) {
    (void)state;
    gvt_set_global("stop", gv_bool(false));
    GvValue h1 = gvt_call_ok("start_spin", 0, NULL), h2 = gvt_call_ok("start_spin", 0, NULL);
    Gv_SetSwitchInterval(0.0001);
    gvt_watchdog_arm(60, "start/stop with threads running");
    long rounds = gvt_scale_tsan(30, 3);
    for (long i = 0; i < rounds; i++) {
        assert_int_equal(GvTimeline_Start(i % 2 ? 8 : 0), 0); /* small buffers too: they fill */
        Gv_BEGIN_ALLOW_THREADS
        gvt_msleep(2);
        Gv_END_ALLOW_THREADS
        Sink s = {0};
        assert_int_equal(GvTimeline_Stop(sink_write, &s), 0);
        assert_true(strncmp(s.data, "{\"traceEvents\":[", 16) == 0);
        assert_non_null(strstr(s.data, "\"name\":\"T1 main\""));
        assert_true(s.data[s.len - 2] == '}');
        sink_free(&s);
    }
    gvt_set_global("stop", gv_bool(true));
    gv_vdecref(gvt_call_ok("join", 1, &h1));
    gv_vdecref(gvt_call_ok("join", 1, &h2));
    gvt_watchdog_disarm();
    gv_vdecref(h1);
    gv_vdecref(h2);
}

/* Gv_Finalize ends a recording nobody stopped (its thread states go). */
static void test_timeline_finalize_discards_a_recording(void **state) {
    (void)state;
    assert_int_equal(GvTimeline_Start(0), 0);
    run_worker();
    Gv_Finalize();
    assert_int_equal(GvTimeline_IsRecording(), 0);
    assert_non_null(Gv_Initialize());
    gvt_load(SRC);
    Sink s = {0};
    assert_int_equal(GvTimeline_Stop(sink_write, &s), -1);
    GvErr_Clear();
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, gvt_teardown)

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        T(test_timeline_records_threads_states_and_handoffs),
        T(test_timeline_bounded_buffers_count_what_they_drop),
        T(test_timeline_bad_calls_give_the_documented_errors),
        T(test_timeline_stop_to_file_writes_the_file),
        T(test_timeline_start_stop_while_threads_run),
        T(test_timeline_finalize_discards_a_recording),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
