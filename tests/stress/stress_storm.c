/* Finalization storms: a program exits while daemon threads spin, sleep,
 * wait on locks, queues and joins, start threads, add pending calls and
 * async_raise at each other (tests/stress/storm.gva), and while raw pthreads
 * hammer GvGILState_Ensure/Release; again and again.
 *
 *   stress_storm inprocess STORM.gva        Gv_Initialize / run / Gv_Finalize
 *                                           rounds in this process
 *   stress_storm exec GILVM STORM.gva       `GILVM run STORM.gva SEED` rounds,
 *                                           each a subprocess
 *   stress_storm embed STORM.gva            rounds of this program re-run as
 *                                           an embedder (`--child`): one
 *                                           in-process round, then exit
 *   stress_storm schedule GILVM ASYNC.gva   `GILVM run --schedule=K:100
 *                                           async_storm.gva 8 N`, K = 1, 2, ...
 *
 * Each round must end promptly (a round over ROUND_LIMIT_S fails; a hung one
 * is killed, or aborted by the watchdog); a subprocess must exit 0 with
 * exactly "storm: exit" on stdout and nothing on stderr (so a crash, a
 * sanitizer report, a leak found by LeakSanitizer at exit, a fatal error or an
 * "Exception in thread" all fail). In-process: after each Gv_Finalize no
 * interpreter is left, every hammering pthread has ended (the VM ended it in
 * Ensure, as documented) and the main thread has no thread state. */
#include "gvtest.h"

#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/stat.h>

extern char **environ;

#define ROUND_LIMIT_S 5.0
#define HAMMERS 4

/* ---- one in-process round ---- */

typedef struct Hammer {
    pthread_t thread;
    _Atomic long pairs;   /* outermost Ensure/Release pairs completed */
    _Atomic bool ended;   /* set only if it ever left its loop by itself */
} Hammer;

static Hammer hammers[HAMMERS];

static void *hammer_main(void *p) {
    Hammer *h = p;
    unsigned r = (unsigned)(uintptr_t)p;
    for (;;) {
        /* Ends this thread (pthread_exit) once the interpreter is
         * finalizing or gone: what the API promises. */
        GvGILState_STATE s = GvGILState_Ensure();
        GvGILState_STATE s2 = GvGILState_Ensure();
        r = r * 1103515245u + 12345u;
        /* Borrowed (the globals keep it alive): the VM may end this thread
         * inside the call, and a reference held here would then leak. */
        GvValue fn = gvt_global("short"), out = gv_none();
        gv_vdecref(fn);
        if (gv_eval_call(GvThreadState_Get(), fn, 0, NULL, &out) < 0) GvErr_Clear();
        gv_vdecref(out);
        if ((r >> 16) & 1) {
            Gv_BEGIN_ALLOW_THREADS
            sched_yield();
            Gv_END_ALLOW_THREADS
        }
        GvGILState_Release(s2);
        GvGILState_Release(s);
        atomic_fetch_add(&h->pairs, 1);
    }
    atomic_store(&h->ended, true);
    return NULL;
}

typedef struct RoundStats {
    double start_s;    /* Gv_Initialize until every hammer got through once */
    double main_s;     /* main(): start 17 threads, wait until all run */
    double finalize_s, round_s;
    long hammer_pairs;
} RoundStats;

/* quiet: the program's "storm: exit" goes to /dev/null (in-process rounds). */
static void one_round(const char *src, long seed, bool quiet, RoundStats *st) {
    double t0 = gvt_now();
    GVT_CHECK(Gv_Initialize() != NULL, "round %ld: Gv_Initialize failed", seed);
    GVT_CHECK(!Gv_IsFinalizing(), "round %ld: finalizing right after Gv_Initialize", seed);
    gvt_load(src);
    char num[32];
    snprintf(num, sizeof num, "%ld", seed);
    char *argv[1] = {num};
    GVT_CHECK(Gv_SetArgv(1, argv) == 0, "Gv_SetArgv failed");
    for (int i = 0; i < HAMMERS; i++) {
        atomic_store(&hammers[i].pairs, 0);
        atomic_store(&hammers[i].ended, false);
        hammers[i].thread = gvt_start_thread(hammer_main, &hammers[i]);
    }
    /* Let every hammer through at least once, so that they are in the
     * middle of their loop when the program exits. */
    Gv_BEGIN_ALLOW_THREADS
    double w0 = gvt_now();
    for (int i = 0; i < HAMMERS; i++)
        while (atomic_load(&hammers[i].pairs) == 0 && gvt_now() - w0 < ROUND_LIMIT_S) gvt_msleep(1);
    Gv_END_ALLOW_THREADS
    for (int i = 0; i < HAMMERS; i++)
        GVT_CHECK(atomic_load(&hammers[i].pairs) > 0, "round %ld: hammer %d never got the GIL", seed, i);
    double tm = gvt_now();
    st->start_s = tm - t0;
    /* main() of storm.gva: starts the daemons, waits until they run, returns. */
    int saved = -1;
    if (quiet) {
        fflush(stdout);
        saved = dup(1);
        int null = open("/dev/null", O_WRONLY);
        GVT_CHECK(saved >= 0 && null >= 0 && dup2(null, 1) == 1, "cannot redirect stdout");
        close(null);
    }
    GvValue rc = gvt_call_ok("main", 0, NULL);
    if (quiet) {
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
    }
    GVT_CHECK(gv_is_intlike(rc) && rc.as.i == 0, "round %ld: main() did not return 0", seed);
    double t1 = gvt_now();
    Gv_Finalize();
    double t2 = gvt_now();
    GVT_CHECK(GvInterpreterState_Get() == NULL, "round %ld: an interpreter is left after Gv_Finalize", seed);
    GVT_CHECK(GvThreadState_Get() == NULL, "round %ld: a thread state is left after Gv_Finalize", seed);
    st->hammer_pairs = 0;
    for (int i = 0; i < HAMMERS; i++) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += (time_t)ROUND_LIMIT_S;
        int jr = pthread_timedjoin_np(hammers[i].thread, NULL, &dl);
        GVT_CHECK(jr == 0, "round %ld: hammer %d still running %.0f s after Gv_Finalize (error %d)", seed, i,
                  ROUND_LIMIT_S, jr);
        GVT_CHECK(!atomic_load(&hammers[i].ended), "round %ld: hammer %d left its loop", seed, i);
        st->hammer_pairs += atomic_load(&hammers[i].pairs);
    }
    st->main_s = t1 - tm;
    st->finalize_s = t2 - t1;
    st->round_s = gvt_now() - t0;
    GVT_CHECK(st->round_s <= ROUND_LIMIT_S, "round %ld took %.2f s (Gv_Finalize %.2f s)", seed, st->round_s,
              st->finalize_s);
}

static int run_inprocess(const char *storm) {
    char *src = gvt_read_file(storm, NULL);
    GVT_CHECK(src != NULL, "cannot read %s", storm);
    long rounds = gvt_scaled(1000, 20);
    double worst_fin = 0, worst_round = 0, total_fin = 0, total_start = 0, total_main = 0, t0 = gvt_now();
    long pairs = 0;
    for (long k = 0; k < rounds; k++) {
        RoundStats s;
        gvt_watchdog_arm(ROUND_LIMIT_S + 5, "an in-process storm round");
        one_round(src, k, true, &s);
        gvt_watchdog_disarm();
        if (s.finalize_s > worst_fin) worst_fin = s.finalize_s;
        if (s.round_s > worst_round) worst_round = s.round_s;
        total_fin += s.finalize_s;
        total_start += s.start_s;
        total_main += s.main_s;
        pairs += s.hammer_pairs;
    }
    printf("FIGURES stress_storm/inprocess: rounds %ld vm_threads_per_round 17 hammer_pthreads_per_round %d "
           "hammer_pairs %ld mean_start_ms %.2f mean_main_ms %.2f mean_finalize_ms %.2f max_finalize_ms %.2f "
           "max_round_ms %.2f seconds %.2f\n",
           rounds, HAMMERS, pairs, total_start / (double)rounds * 1e3, total_main / (double)rounds * 1e3,
           total_fin / (double)rounds * 1e3, worst_fin * 1e3, worst_round * 1e3,
           gvt_now() - t0);
    free(src);
    printf("stress_storm inprocess: OK\n");
    return 0;
}

/* ---- subprocess rounds ---- */

typedef struct Child {
    int out, err; /* temporary files */
} Child;

static int temp_fd(void) {
    char path[] = "/tmp/gv_stress_XXXXXX";
    int fd = mkstemp(path);
    GVT_CHECK(fd >= 0, "mkstemp failed");
    unlink(path);
    return fd;
}

static char *slurp_fd(int fd) {
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)n + 1);
    GVT_CHECK(buf != NULL, "out of memory");
    GVT_CHECK(pread(fd, buf, (size_t)n, 0) == (ssize_t)n, "pread failed");
    buf[n] = '\0';
    return buf;
}

/* Runs argv as a subprocess with stdout/stderr to c's files, stdin /dev/null;
 * kills it and fails if it runs over ROUND_LIMIT_S. Returns its wait status
 * and how long it took. */
static int run_child(Child *c, char **argv, long round, double *took) {
    /* The child shares these files' offsets: rewind them too. */
    GVT_CHECK(ftruncate(c->out, 0) == 0 && ftruncate(c->err, 0) == 0, "ftruncate failed");
    GVT_CHECK(lseek(c->out, 0, SEEK_SET) == 0 && lseek(c->err, 0, SEEK_SET) == 0, "lseek failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, c->out, 1);
    posix_spawn_file_actions_adddup2(&fa, c->err, 2);
    double t0 = gvt_now();
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    GVT_CHECK(rc == 0, "cannot run %s (error %d)", argv[0], rc);
    int status = 0;
    if (!gvt_wait_child(pid, &status, ROUND_LIMIT_S)) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        char *err = slurp_fd(c->err), cmd[1024] = "";
        for (char **a = argv; *a && strlen(cmd) + 2 < sizeof cmd; a++) {
            strncat(cmd, *a, sizeof cmd - strlen(cmd) - 2);
            strcat(cmd, " ");
        }
        gvt_fail("round %ld: `%s` did not exit within %.0f s (a hang); stderr:\n%s", round, cmd, ROUND_LIMIT_S, err);
    }
    *took = gvt_now() - t0;
    return status;
}

/* want_out: stdout must be exactly this, or, if it starts with "...", end
 * with the rest. */
static void check_child(Child *c, int status, long round, const char *what, const char *want_out) {
    char *out = slurp_fd(c->out), *err = slurp_fd(c->err);
    bool suffix = strncmp(want_out, "...", 3) == 0;
    const char *want = suffix ? want_out + 3 : want_out;
    size_t no = strlen(out), nw = strlen(want);
    bool out_ok = suffix ? no >= nw && strcmp(out + no - nw, want) == 0 : strcmp(out, want) == 0;
    if (WIFSIGNALED(status))
        gvt_fail("%s round %ld: killed by signal %d; stderr:\n%s", what, round, WTERMSIG(status), err);
    if (WEXITSTATUS(status) != 0)
        gvt_fail("%s round %ld: exit status %d; stderr:\n%s", what, round, WEXITSTATUS(status), err);
    if (!out_ok) gvt_fail("%s round %ld: stdout \"%s\", expected \"%s\"", what, round, out, want_out);
    if (err[0]) gvt_fail("%s round %ld: unexpected stderr:\n%s", what, round, err);
    free(out);
    free(err);
}

static int run_subprocesses(const char *what, char **argv, int seed_index, long rounds, const char *want_out) {
    Child c = {temp_fd(), temp_fd()};
    char seed[32];
    argv[seed_index] = seed;
    double worst = 0, total = 0, t0 = gvt_now();
    for (long k = 0; k < rounds; k++) {
        snprintf(seed, sizeof seed, "%ld", k);
        double took;
        int status = run_child(&c, argv, k, &took);
        check_child(&c, status, k, what, want_out);
        if (took > worst) worst = took;
        total += took;
        GVT_CHECK(took <= ROUND_LIMIT_S, "%s round %ld took %.2f s", what, k, took);
    }
    printf("FIGURES stress_storm/%s: rounds %ld vm_threads_per_round 17 hammer_pthreads_per_round %d "
           "mean_round_ms %.2f max_round_ms %.2f seconds %.2f\n",
           what, rounds, strcmp(what, "embed") == 0 ? HAMMERS : 0, total / (double)rounds * 1e3, worst * 1e3,
           gvt_now() - t0);
    close(c.out);
    close(c.err);
    printf("stress_storm %s: OK\n", what);
    return 0;
}

/* The embedder child: one in-process round, then report and exit. */
static int run_child_round(const char *storm, long seed) {
    char *src = gvt_read_file(storm, NULL);
    GVT_CHECK(src != NULL, "cannot read %s", storm);
    RoundStats s;
    /* stdout of main() is checked by the parent: "storm: exit". */
    one_round(src, seed, false, &s);
    free(src);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "inprocess") == 0) return run_inprocess(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--child") == 0) return run_child_round(argv[2], atol(argv[3]));
    if (argc == 4 && strcmp(argv[1], "exec") == 0) {
        char *cargv[] = {argv[2], "run", argv[3], NULL, NULL};
        return run_subprocesses("exec", cargv, 3, gvt_scaled(150, 10), "storm: exit\n");
    }
    if (argc == 4 && strcmp(argv[1], "schedule") == 0) {
        /* async_storm.gva under the deterministic schedule, one seed a round:
         * 8 threads async_raising, sleeping (yields) and waiting on queues.
         * The schedule's own promise: it runs to the end like any other. */
        static char sched[64];
        char *cargv[] = {argv[2], "run", sched, argv[3], "8", gvt_under_tsan() || gvt_under_asan() ? "20" : "50", NULL};
        Child c = {temp_fd(), temp_fd()};
        long rounds = gvt_scaled(20, 5);
        double worst = 0, t0 = gvt_now();
        for (long k = 0; k < rounds; k++) {
            snprintf(sched, sizeof sched, "--schedule=%ld:100", k + 1);
            double took;
            int status = run_child(&c, cargv, k, &took);
            check_child(&c, status, k, sched, "...async_storm: OK\n");
            if (took > worst) worst = took;
        }
        printf("FIGURES stress_storm/schedule: rounds %ld threads 8 iterations %s max_round_ms %.2f seconds %.2f\n",
               rounds, cargv[5], worst * 1e3, gvt_now() - t0);
        printf("stress_storm schedule: OK\n");
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "embed") == 0) {
        static char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        GVT_CHECK(n > 0, "readlink /proc/self/exe failed");
        self[n] = '\0';
        char *cargv[] = {self, "--child", argv[2], NULL, NULL};
        return run_subprocesses("embed", cargv, 3, gvt_scaled(100, 10), "storm: exit\n");
    }
    fprintf(stderr, "usage: stress_storm inprocess STORM.gva | exec GILVM STORM.gva | embed STORM.gva |\n"
                    "       schedule GILVM ASYNC_STORM.gva\n");
    return 2;
}
