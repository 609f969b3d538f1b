#include "gvtest.h"

GvtChild gvt_run_in_child(int (*body)(void *), void *arg) {
    GvtChild c;
    memset(&c, 0, sizeof c);
    int fds[2];
    GVT_CHECK(pipe(fds) == 0, "pipe failed");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    GVT_CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
        /* Not cmocka's handlers: they would go on running tests here. */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
        close(fds[0]);
        dup2(fds[1], 2);
        _exit(body(arg));
    }
    close(fds[1]);
    /* Read to the end (what does not fit is dropped), so that a child that
     * writes much never blocks on a full pipe. */
    size_t n = 0;
    char sink[512];
    for (ssize_t k = 1; k > 0;) {
        if (n < sizeof c.err - 1) {
            k = read(fds[0], c.err + n, sizeof c.err - 1 - n);
            if (k > 0) n += (size_t)k;
        } else {
            k = read(fds[0], sink, sizeof sink);
        }
        if (k < 0 && errno == EINTR) k = 1;
    }
    c.err[n] = '\0';
    close(fds[0]);
    GVT_CHECK(waitpid(pid, &c.status, 0) == pid, "waitpid failed");
    return c;
}

static int call_body(void *body) {
    (*(void (**)(void))body)();
    return 0;
}

void gvt_expect_fatal(const char *what, void (*body)(void), const char *want) {
    GvtChild c = gvt_run_in_child(call_body, &body);
    if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGABRT)
        gvt_fail("%s: the child did not abort (status %#x); its stderr: %s", what, c.status, c.err);
    if (!strstr(c.err, "gilvm: fatal error: ") || !strstr(c.err, want))
        gvt_fail("%s: stderr lacks \"gilvm: fatal error: ...%s\"; it was: %s", what, want, c.err);
}

bool gvt_wait_child(pid_t pid, int *status, double seconds) {
    double end = gvt_now() + seconds;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return true;
        GVT_CHECK(r == 0 || errno == EINTR, "waitpid failed");
        if (gvt_now() > end) return false;
        gvt_msleep(1);
    }
}
