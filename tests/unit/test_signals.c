/* Ctrl-C (runtime/breaker.c): after Gv_InitSignals, SIGINT raises
 * KeyboardInterrupt in the main thread at once, whatever it is doing:
 * sleeping, blocked in lock_acquire (with or without a timeout), queue_get or
 * thread_join, or running a tight loop. A program can catch it.
 *
 * A helper pthread sends SIGINT to the main thread with pthread_kill, once
 * the main thread is parked (for the blocking cases) or after a short delay
 * (for the loop). Each blocking call would last 10 s or forever: returning
 * within 1 s of the signal shows the signal cut it short.
 *
 * Also Ctrl-C in `gilvm run` (the executable, GV_GILVM) while it waits at
 * exit for a thread that never ends. */
#include <poll.h>

#include "gvtest.h"

static int setup(void **state) {
    (void)state;
    if (!Gv_Initialize()) return -1;
    return Gv_InitSignals();
}

static const char *SRC =
    ".func nap\n LOAD_GLOBAL sleep\n LOAD_CONST 10\n CALL 1\n POP_TOP\n LOAD_CONST \"slept\"\n RETURN_VALUE\n.end\n"
    ".func block_lock\n.local l\n LOAD_GLOBAL lock_new\n CALL 0\n STORE_FAST l\n"
    " LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func block_lock_timed\n.local l\n LOAD_GLOBAL lock_new\n CALL 0\n STORE_FAST l\n"
    " LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n CALL 1\n POP_TOP\n"
    " LOAD_GLOBAL lock_acquire\n LOAD_FAST l\n LOAD_CONST 10\n CALL 2\n RETURN_VALUE\n.end\n"
    ".func block_queue\n LOAD_GLOBAL queue_get\n LOAD_GLOBAL queue_new\n CALL 0\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func block_queue_timed\n LOAD_GLOBAL queue_get\n LOAD_GLOBAL queue_new\n CALL 0\n LOAD_CONST 10\n CALL 2\n"
    " RETURN_VALUE\n.end\n"
    /* joins a daemon thread that waits forever on an empty queue */
    ".func forever q\n LOAD_GLOBAL queue_get\n LOAD_FAST q\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func block_join\n LOAD_GLOBAL thread_join\n"
    " LOAD_GLOBAL thread_start_daemon\n LOAD_GLOBAL forever\n LOAD_GLOBAL queue_new\n CALL 0\n CALL 2\n"
    " CALL 1\n RETURN_VALUE\n.end\n"
    ".func tight_loop\n.local n\n LOAD_CONST 0\n STORE_FAST n\n"
    "top:\n LOAD_FAST n\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST n\n JUMP top\n.end\n"
    /* catches the KeyboardInterrupt that cuts its sleep short */
    ".func nap_caught\n"
    " .try start end handler\n"
    "start:\n LOAD_GLOBAL sleep\n LOAD_CONST 10\n CALL 1\n POP_TOP\n LOAD_CONST \"slept\"\n RETURN_VALUE\n"
    "end:\n"
    "handler:\n LOAD_GLOBAL KeyboardInterrupt\n CHECK_EXC_MATCH\n POP_JUMP_IF_FALSE other\n"
    " POP_TOP\n POP_EXCEPT\n LOAD_CONST \"caught\"\n RETURN_VALUE\n"
    "other:\n RERAISE\n.end\n"
    /* repr of the KeyboardInterrupt that cuts a sleep short, and of one the program raises */
    ".func nap_repr\n"
    " .try start end handler\n"
    "start:\n LOAD_GLOBAL sleep\n LOAD_CONST 10\n CALL 1\n RETURN_VALUE\n"
    "end:\n"
    "handler:\n LOAD_GLOBAL repr\n ROT_TWO\n CALL 1\n POP_EXCEPT\n RETURN_VALUE\n.end\n"
    ".func raise_repr\n"
    " .try start end handler\n"
    "start:\n LOAD_GLOBAL KeyboardInterrupt\n RAISE\n"
    "end:\n"
    "handler:\n LOAD_GLOBAL repr\n ROT_TWO\n CALL 1\n POP_EXCEPT\n RETURN_VALUE\n.end\n";

typedef struct Killer {
    pthread_t target;
    GvThreadState *target_ts; /* NULL: do not wait for it to park */
    long delay_ms;
    _Atomic double sent_at;
    _Atomic bool parked_in_time;
} Killer;

static void *killer_main(void *p) {
    Killer *k = p;
    if (k->target_ts) atomic_store(&k->parked_in_time, gvt_wait_parked(k->target_ts, 10));
    gvt_msleep(k->delay_ms);
    atomic_store(&k->sent_at, gvt_now());
    pthread_kill(k->target, SIGINT);
    return NULL;
}

/* Calls fname() with a SIGINT on its way; expects KeyboardInterrupt within
 * 1 s of the signal. wait_parked: send it only once main is blocked. */
static void expect_interrupted(const char *fname, bool wait_parked, long delay_ms) {
    gvt_load(SRC);
    Killer k;
    memset(&k, 0, sizeof k);
    k.target = pthread_self();
    k.target_ts = wait_parked ? GvThreadState_Get() : NULL;
    k.delay_ms = delay_ms;
    pthread_t t;
    gvt_watchdog_arm(30, fname);
    t = gvt_start_thread(killer_main, &k);
    GvValue r = gv_none();
    int rc = gvt_call(fname, 0, NULL, &r);
    double returned_at = gvt_now();
    pthread_join(t, NULL);
    gvt_watchdog_disarm();
    if (wait_parked && !atomic_load(&k.parked_in_time)) fail_msg("%s() never blocked", fname);
    if (rc == 0) {
        gv_vdecref(r);
        fail_msg("%s() returned instead of raising KeyboardInterrupt", fname);
    }
    GvType *type = gvt_exc_type();
    if (type != &gv_type_KeyboardInterrupt)
        fail_msg("%s() raised %s (%s), not KeyboardInterrupt", fname, type ? type->name : "?", gvt_exc_message());
    GvErr_Clear();
    double delay = returned_at - atomic_load(&k.sent_at);
    if (delay > 1.0) fail_msg("%s() raised KeyboardInterrupt %.2f s after SIGINT", fname, delay);
    /* The main thread goes on normally: nothing left pending. */
    GvValue arg = gv_float(0.01);
    gvt_load(".func short_nap s\n LOAD_GLOBAL sleep\n LOAD_FAST s\n CALL 1\n RETURN_VALUE\n.end\n");
    assert_int_equal(gvt_call("short_nap", 1, &arg, &r), 0);
}

static void test_sigint_interrupts_sleep(void **state) {
    (void)state;
    expect_interrupted("nap", true, 0);
}

static void test_sigint_interrupts_lock_acquire(void **state) {
    (void)state;
    expect_interrupted("block_lock", true, 0);
}

static void test_sigint_interrupts_lock_acquire_with_timeout(void **state) {
    (void)state;
    expect_interrupted("block_lock_timed", true, 0);
}

static void test_sigint_interrupts_queue_get(void **state) {
    (void)state;
    expect_interrupted("block_queue", true, 0);
}

static void test_sigint_interrupts_queue_get_with_timeout(void **state) {
    (void)state;
    expect_interrupted("block_queue_timed", true, 0);
}

static void test_sigint_interrupts_thread_join(void **state) {
    (void)state;
    expect_interrupted("block_join", true, 0);
}

static void test_sigint_interrupts_tight_loop(void **state) {
    (void)state;
    expect_interrupted("tight_loop", false, 50);
}

/* Two in a row: the first leaves nothing behind that breaks the second. */
static void test_sigint_twice_interrupts_twice(void **state) {
    (void)state;
    expect_interrupted("nap", true, 0);
    expect_interrupted("block_queue", true, 0);
}

static void test_keyboard_interrupt_can_be_caught_by_the_program(void **state) {
    (void)state;
    gvt_load(SRC);
    Killer k;
    memset(&k, 0, sizeof k);
    k.target = pthread_self();
    k.target_ts = GvThreadState_Get();
    pthread_t t;
    gvt_watchdog_arm(30, "nap_caught");
    t = gvt_start_thread(killer_main, &k);
    GvValue r = gvt_call_ok("nap_caught", 0, NULL);
    pthread_join(t, NULL);
    gvt_watchdog_disarm();
    char *s = GvObject_StrDup(r.as.o);
    assert_string_equal(s, "caught");
    free(s);
    gv_vdecref(r);
}

/* ---- Ctrl-C while `gilvm run` waits for non-daemon threads at exit ---- */

/* main returns while a thread_start thread waits forever. */
static const char EXIT_WAIT_SRC[] =
    ".func forever q\n LOAD_GLOBAL queue_get\n LOAD_FAST q\n CALL 1\n RETURN_VALUE\n.end\n"
    ".func main\n LOAD_GLOBAL thread_start\n LOAD_GLOBAL forever\n LOAD_GLOBAL queue_new\n CALL 0\n CALL 2\n"
    " POP_TOP\n LOAD_GLOBAL print\n LOAD_CONST \"main done\"\n CALL 1\n POP_TOP\n LOAD_CONST 0\n RETURN_VALUE\n.end\n";

/* Appends what fd has now to buf (size cap, kept NUL-terminated); false
 * at end of file. */
static bool drain(int fd, char *buf, size_t cap) {
    size_t n = strlen(buf);
    ssize_t k = read(fd, buf + n, cap - 1 - n);
    if (k > 0) buf[n + (size_t)k] = '\0';
    return k > 0 || (k < 0 && errno == EINTR);
}

/* Reads fd into buf until want appears, the file ends, or `seconds` pass. */
static bool read_until(int fd, char *buf, size_t cap, const char *want, double seconds) {
    double end = gvt_now() + seconds;
    while (!strstr(buf, want) && gvt_now() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) > 0 && !drain(fd, buf, cap)) break;
    }
    return strstr(buf, want) != NULL;
}

static void test_sigint_ends_the_exit_wait_for_a_nondaemon_thread(void **state) {
    (void)state;
    char path[] = "/tmp/gv_exit_wait_XXXXXX.gva";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, EXIT_WAIT_SRC, sizeof EXIT_WAIT_SRC - 1), (ssize_t)(sizeof EXIT_WAIT_SRC - 1));
    close(fd);
    int out[2], err[2];
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Ctrl-C as a terminal would deliver it: not blocked, default action
         * until gilvm installs its handler. */
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGINT);
        pthread_sigmask(SIG_UNBLOCK, &s, NULL);
        signal(SIGINT, SIG_DFL);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(err[0]);
        execl(GV_GILVM, "gilvm", "run", path, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    char obuf[256] = "", ebuf[8192] = "";
    /* "main done" is flushed when main has returned; the exit wait follows
     * at once. */
    bool returned = read_until(out[0], obuf, sizeof obuf, "main done", 30);
    gvt_msleep(200);
    kill(pid, SIGINT);
    int status = 0;
    bool ended = gvt_wait_child(pid, &status, 5);
    if (!ended) {
        /* Never let the test itself hang. */
        kill(pid, SIGTERM);
        if (!gvt_wait_child(pid, &status, 2)) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
    }
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    while (drain(err[0], ebuf, sizeof ebuf)) {
    }
    close(out[0]);
    close(err[0]);
    unlink(path);
    if (!returned) fail_msg("main never returned (stdout: \"%s\", stderr: \"%s\")", obuf, ebuf);
    if (!ended)
        fail_msg("gilvm run did not end within 5 s of SIGINT while waiting at exit for a thread that never ends "
                 "(Ctrl-C ignored in the exit wait); stderr: \"%s\"", ebuf);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1)
        fail_msg("gilvm run ended with status %#x, not exit status 1; stderr: \"%s\"", status, ebuf);
    if (!strstr(ebuf, "KeyboardInterrupt")) fail_msg("no KeyboardInterrupt on stderr: \"%s\"", ebuf);
}

/* Ctrl-C raises KeyboardInterrupt as `RAISE KeyboardInterrupt` does: no
 * message, one repr (it was KeyboardInterrupt('') against KeyboardInterrupt()). */
static void test_sigint_exception_is_the_one_raise_makes(void **state) {
    (void)state;
    gvt_load(SRC);
    Killer k;
    memset(&k, 0, sizeof k);
    k.target = pthread_self();
    k.target_ts = GvThreadState_Get();
    pthread_t t;
    gvt_watchdog_arm(30, "nap_repr");
    t = gvt_start_thread(killer_main, &k);
    GvValue from_signal = gvt_call_ok("nap_repr", 0, NULL);
    pthread_join(t, NULL);
    gvt_watchdog_disarm();
    GvValue from_raise = gvt_call_ok("raise_repr", 0, NULL);
    char *sig_repr = GvObject_StrDup(from_signal.as.o);
    char *raise_repr = GvObject_StrDup(from_raise.as.o);
    assert_string_equal(raise_repr, "KeyboardInterrupt()");
    assert_string_equal(sig_repr, raise_repr);
    free(sig_repr);
    free(raise_repr);
    gv_vdecref(from_signal);
    gv_vdecref(from_raise);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigint_interrupts_sleep, setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_interrupts_lock_acquire, setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_interrupts_lock_acquire_with_timeout, setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_interrupts_queue_get, setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_interrupts_queue_get_with_timeout, setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_interrupts_thread_join, setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_interrupts_tight_loop, setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_twice_interrupts_twice, setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_keyboard_interrupt_can_be_caught_by_the_program, setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_ends_the_exit_wait_for_a_nondaemon_thread, setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_exception_is_the_one_raise_makes, setup, gvt_teardown),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
