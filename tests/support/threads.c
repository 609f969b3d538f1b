#include "gvtest.h"

double gvt_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void gvt_msleep(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

/* ---- sanitizers (this library is built with the tests' flags) ---- */

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

bool gvt_under_tsan(void) { return UNDER_TSAN; }
bool gvt_under_asan(void) { return UNDER_ASAN; }

long gvt_scale_tsan(long n, long div) {
    if (!UNDER_TSAN) return n;
    return n / div > 0 ? n / div : 1;
}

double gvt_stress_scale(void) {
    const char *e = getenv("GV_STRESS_SCALE");
    if (e && *e) {
        double s = atof(e);
        if (s > 0) return s;
    }
    return UNDER_TSAN ? 0.05 : UNDER_ASAN ? 0.1 : 1.0;
}

long gvt_scaled(long n, long floor) {
    long v = (long)((double)n * gvt_stress_scale());
    return v < floor ? floor : v;
}

/* ---- thread states ---- */

int gvt_count_tstates(void) {
    GvInterpreterState *interp = GvInterpreterState_Get();
    if (!interp) return -1;
    int n = 0;
    pthread_mutex_lock(&interp->mutex);
    for (GvThreadState *t = interp->threads; t; t = t->next) n++;
    pthread_mutex_unlock(&interp->mutex);
    return n;
}

bool gvt_is_parked(GvThreadState *ts) {
    pthread_mutex_lock(&ts->interp->mutex);
    bool p = ts->parked;
    pthread_mutex_unlock(&ts->interp->mutex);
    return p;
}

bool gvt_wait_parked(GvThreadState *ts, double seconds) {
    double end = gvt_now() + seconds;
    while (!gvt_is_parked(ts)) {
        if (gvt_now() > end) return false;
        gvt_msleep(1);
    }
    return true;
}

bool gvt_wait_parked_id(GvInterpreterState *interp, unsigned long id, double seconds) {
    double end = gvt_now() + seconds;
    for (;;) {
        pthread_mutex_lock(&interp->mutex);
        GvThreadState *t = interp->threads;
        while (t && t->id != id) t = t->next;
        bool parked = t && t->parked;
        pthread_mutex_unlock(&interp->mutex);
        if (parked) return true;
        if (gvt_now() > end) return false;
        gvt_msleep(1);
    }
}

bool gvt_wait_parked_id_gil(unsigned long id, double seconds) {
    GvInterpreterState *interp = GvInterpreterState_Get();
    bool ok;
    Gv_BEGIN_ALLOW_THREADS
    ok = gvt_wait_parked_id(interp, id, seconds);
    Gv_END_ALLOW_THREADS
    return ok;
}

pthread_t gvt_start_thread(void *(*fn)(void *), void *arg) {
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, arg);
    if (rc != 0) gvt_fail("cannot start a thread (error %d)", rc);
    return t;
}

void gvt_join_releasing_gil(pthread_t t) {
    Gv_BEGIN_ALLOW_THREADS
    pthread_join(t, NULL);
    Gv_END_ALLOW_THREADS
}

void *gvt_spinner_main(void *p) {
    GvtSpinner *s = p;
    GvEval_AcquireThread(s->ts);
    s->iterations = gvt_call_int("spin_until_stop", 0, NULL);
    GvThreadState_GetGILStats(s->ts, &s->stats);
    GvThreadState_Clear(s->ts);
    GvThreadState_DeleteCurrent();
    return NULL;
}

static int cmp_ulong(const void *a, const void *b) {
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

long gvt_count_duplicates(unsigned long *ids, long n) {
    qsort(ids, (size_t)n, sizeof *ids, cmp_ulong);
    long d = 0;
    for (long i = 1; i < n; i++) d += ids[i] == ids[i - 1];
    return d;
}

/* ---- capturing stdout / stderr ---- */

void gvt_capture_begin(GvtCapture *c, int fd) {
    fflush(fd == 1 ? stdout : stderr);
    c->fd = fd;
    c->tmp = tmpfile();
    GVT_CHECK(c->tmp != NULL, "tmpfile failed");
    c->saved = dup(fd);
    GVT_CHECK(c->saved >= 0 && dup2(fileno(c->tmp), fd) >= 0, "dup failed");
}

char *gvt_capture_end(GvtCapture *c) {
    fflush(c->fd == 1 ? stdout : stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    fseek(c->tmp, 0, SEEK_END);
    long n = ftell(c->tmp);
    rewind(c->tmp);
    char *buf = malloc((size_t)n + 1);
    GVT_CHECK(buf != NULL, "out of memory");
    size_t got = fread(buf, 1, (size_t)n, c->tmp);
    buf[got] = '\0';
    fclose(c->tmp);
    return buf;
}
