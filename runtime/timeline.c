/* The GIL timeline.
 *
 * What it records
 * ---------------
 * Per thread, a sequence of non-overlapping state slices: `running` (it holds
 * the GIL), `waiting for GIL`, `blocked: KIND` (it gave the GIL up for a
 * blocking wait: sleep, lock, queue, join, exit) and `outside VM` (any other
 * voluntary drop: GvEval_SaveThread and the like, a thread's end). Plus
 * instants: drop requests (with their reason), drops and takes (with the
 * handoff's stages as arguments), asynchronous exceptions set and delivered,
 * pending calls queued and run, signals. Flows tie a request to the drop it
 * caused (category "request") and each drop to the take that followed it
 * (category "handoff").
 *
 * How it stays cheap
 * ------------------
 * Off: every hook is behind GV_TL(), one relaxed load and a branch, and none
 * sits on the eval loop's dispatch path (the GIL's take and drop, the waits,
 * the services only). On: each thread appends fixed-size events to a bounded
 * buffer of its own, with no lock; a full buffer counts what it drops. The
 * buffers are turned into JSON only when the recording stops.
 *
 * Who touches what
 * ----------------
 * A thread's buffer is written by its owner thread only, inside the owner's
 * `tl_busy` window (enter/leave below). Stopping clears gv_tl_recording and
 * then waits for every owner's window to close: an owner that enters after
 * that sees the flag off and touches nothing, so the stopper may read, close
 * and free every buffer. Allocation and registration of buffers take S.mu,
 * never inside a window. The handoff in flight (between a drop and the next
 * take) and a holder's pending request are read and written under the GIL's
 * mutex, which every drop and take holds.
 *
 * Timestamps
 * ----------
 * CLOCK_MONOTONIC, in every mode, under the deterministic schedule too: the
 * picture shows what the OS did, and a thread's stamps increase because each
 * is read after the previous. Under --schedule the virtual clock (which only
 * moves at handoffs and per instruction) is given as an argument of each drop
 * and take (`vclock_ns`), and each slice's instruction count with it. A
 * `running` slice ends (stamped under the GIL's mutex, before the drop) before
 * the next holder's begins (stamped after its take): one GIL, one holder. */
#include "timeline.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gil.h"
#include "tstate.h"

_Atomic bool gv_tl_recording;

enum { ST_NONE, ST_RUNNING, ST_WAITING, ST_BLOCKED, ST_OUTSIDE };
enum { EV_SLICE, EV_INSTANT, EV_REQUEST, EV_DROP, EV_TAKE };

typedef struct Ev {
    uint64_t t, dur;   /* ns since the start; dur: slices only */
    const char *name;  /* slice: the blocked kind; instant: its name */
    uint64_t flow;     /* request: its flow; drop: the request's flow; take: the handoff's */
    uint64_t flow2;    /* drop: the handoff's flow */
    uint64_t a[6];     /* arguments, by event type (see write_event) */
    uint8_t type, state, reason;
} Ev;

typedef struct GvTlThread {
    struct GvTlThread *next; /* in S.threads, under S.mu */
    GvThreadState *ts;       /* NULL once the thread state is freed */
    unsigned long id;
    char name[64];
    Ev *ev;
    size_t cap;
    _Atomic size_t n;
    uint64_t dropped;
    /* The state machine (owner only). */
    int state;
    const char *kind;        /* ST_BLOCKED: what it waits for */
    uint64_t since;
    const char *next_kind;   /* the next voluntary drop blocks for this; NULL: leaves */
    uint64_t wake_t;         /* when its last GIL wait ended (its take, under the GIL's mutex) */
    uint64_t deferred;       /* safe points passed with a request pending (min slice) */
    /* The handoff that gave it the GIL, from the take (under the GIL's mutex)
     * to the moment it runs. */
    bool have_handoff;
    uint64_t h_id, h_drop_t, h_req_t, h_checkpoints, h_instructions, h_vclock;
    unsigned long h_from;
    int h_reason;
    bool h_forced;
} GvTlThread;

static struct {
    pthread_mutex_t mu;     /* guards threads, and the recording's start and stop */
    GvTlThread *threads;
    uint64_t t0;
    size_t cap;
    double rt_ns;           /* futex round trip, measured at start */
    /* Flow ids never restart: a request left on a thread state by an earlier
     * recording (below flow_base) is recognised as stale. */
    _Atomic uint64_t next_flow;
    uint64_t flow_base;
    /* The handoff in flight: set by a drop, taken by the next take. Under
     * the GIL's mutex. */
    struct {
        bool pending;
        uint64_t id, t, req_t, checkpoints, instructions, vclock;
        unsigned long from;
        int reason;
        bool forced;
    } h;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t now(void) {
    uint64_t t = gv_now_ns();
    return t > S.t0 ? t - S.t0 : 0;
}

static GvTlThread *thread_new(GvThreadState *ts) {
    GvTlThread *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    /* Grown by doubling up to S.cap: most threads record a few events. */
    b->cap = S.cap < 256 ? S.cap : 256;
    b->ev = malloc(b->cap * sizeof *b->ev);
    if (!b->ev) {
        free(b);
        return NULL;
    }
    b->ts = ts;
    b->id = ts->id;
    if (ts->interp && ts == ts->interp->main_thread) snprintf(b->name, sizeof b->name, "main");
    else snprintf(b->name, sizeof b->name, "thread");
    /* A thread already holding the GIL (the one that starts the recording)
     * is running; any other begins with its next event. */
    b->state = ts->holds_gil ? ST_RUNNING : ST_NONE;
    b->since = now();
    return b;
}

/* Opens the owner's window; its buffer, or NULL (not recording: nothing to
 * do, the window is closed again). */
static GvTlThread *enter(GvThreadState *ts) {
    /* The recording follows the main interpreter's GIL only: the handoff in
     * flight (S.h) is guarded by that GIL's mutex, and another interpreter's
     * threads take another GIL, in parallel. */
    if (ts->interp != gv_runtime_interp()) return NULL;
    atomic_store(&ts->tl_busy, 1);
    if (!atomic_load(&gv_tl_recording)) {
        atomic_store(&ts->tl_busy, 0);
        return NULL;
    }
    if (ts->tl) return ts->tl;
    atomic_store(&ts->tl_busy, 0);
    GvTlThread *b = thread_new(ts);
    if (!b) return NULL;
    pthread_mutex_lock(&S.mu);
    if (atomic_load(&gv_tl_recording) && !ts->tl) {
        b->next = S.threads;
        S.threads = b;
        ts->tl = b;
        b = NULL;
    }
    pthread_mutex_unlock(&S.mu);
    if (b) {
        free(b->ev);
        free(b);
    }
    atomic_store(&ts->tl_busy, 1);
    if (!atomic_load(&gv_tl_recording) || !ts->tl) {
        atomic_store(&ts->tl_busy, 0);
        return NULL;
    }
    return ts->tl;
}

static void leave(GvThreadState *ts) { atomic_store(&ts->tl_busy, 0); }

static void push(GvTlThread *b, const Ev *e) {
    size_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
    if (n >= b->cap) {
        /* Only the owner (in its window) or the stopper (all windows
         * closed) gets here: nobody reads ev meanwhile. */
        size_t ncap = b->cap * 2 < S.cap ? b->cap * 2 : S.cap;
        Ev *nev = ncap > b->cap ? realloc(b->ev, ncap * sizeof *nev) : NULL;
        if (!nev) {
            b->dropped++;
            return;
        }
        b->ev = nev;
        b->cap = ncap;
    }
    b->ev[n] = *e;
    atomic_store_explicit(&b->n, n + 1, memory_order_release);
}

/* Ends the current slice at t and begins `state` there. */
static void become(GvTlThread *b, int state, const char *kind, uint64_t t) {
    if (b->state != ST_NONE) {
        Ev e = {.type = EV_SLICE, .state = (uint8_t)b->state, .name = b->kind, .t = b->since,
                .dur = t > b->since ? t - b->since : 0};
        push(b, &e);
    }
    b->state = state;
    b->kind = kind;
    b->since = t;
}

/* ---- hooks ---- */

void gv_tl_take_begin(GvThreadState *ts) {
    GvTlThread *b = enter(ts);
    if (!b) return;
    if (b->state != ST_WAITING) become(b, ST_WAITING, NULL, now());
    leave(ts);
}

static uint64_t vclock(GvGIL *gil, GvThreadState *ts) {
    return gil->mode == GV_GIL_SCHEDULE ? gv_gil_sched_clock(gil, ts) : 0;
}

void gv_tl_take(GvGIL *gil, GvThreadState *ts) {
    GvTlThread *b = enter(ts);
    if (!b) return;
    b->wake_t = now(); /* its wait for the GIL is over: it holds the GIL's mutex */
    b->have_handoff = S.h.pending;
    if (S.h.pending) {
        S.h.pending = false;
        b->h_id = S.h.id;
        b->h_drop_t = S.h.t;
        b->h_req_t = S.h.req_t;
        b->h_checkpoints = S.h.checkpoints;
        b->h_instructions = S.h.instructions;
        b->h_vclock = S.h.vclock;
        b->h_from = S.h.from;
        b->h_reason = S.h.reason;
        b->h_forced = S.h.forced;
    }
    (void)gil;
    /* A request made to this thread while it did not hold the GIL (classic
     * mode asks the last holder) is stale: its flow is left unfinished, and
     * the writer leaves such flows out. */
    ts->tl_req_id = 0;
    b->deferred = 0;
    leave(ts);
}

void gv_tl_running(GvThreadState *ts) {
    GvTlThread *b = enter(ts);
    if (!b) return;
    uint64_t t = now();
    become(b, ST_RUNNING, NULL, t);
    if (b->have_handoff) {
        uint64_t wake = b->wake_t < b->h_drop_t ? b->h_drop_t : b->wake_t;
        if (wake > t) wake = t;
        Ev e = {.type = EV_TAKE, .t = t, .flow = b->h_id, .reason = (uint8_t)b->h_reason};
        e.a[0] = b->h_from;
        e.a[1] = b->h_forced ? b->h_drop_t - b->h_req_t : 0; /* request to drop */
        e.a[2] = wake - b->h_drop_t;                           /* drop to wake */
        e.a[3] = t - wake;                                     /* wake to running */
        e.a[4] = b->h_forced ? b->h_checkpoints : 0;
        e.a[5] = b->h_instructions;
        e.name = b->h_forced ? "forced" : "voluntary";
        e.dur = b->h_vclock;
        push(b, &e);
        b->have_handoff = false;
    }
    b->wake_t = 0;
    leave(ts);
}

void gv_tl_drop(GvGIL *gil, GvThreadState *ts, bool forced) {
    GvTlThread *b = enter(ts);
    if (!b) return;
    uint64_t t = now();
    int reason = ts->tl_req_reason;
    uint64_t req_id = ts->tl_req_id, req_t = ts->tl_req_ns;
    uint64_t instr = 0;
    if (gil->mode == GV_GIL_SCHEDULE) {
        int64_t ran = (int64_t)gil->sched_n - ts->sched_left;
        instr = ran > 0 ? (uint64_t)ran : 0;
        if (forced) {
            /* The schedule's slice ended: that is the request, made here. */
            reason = GV_TL_REASON_SCHEDULE;
            req_id = atomic_fetch_add(&S.next_flow, 1);
            req_t = t;
            Ev r = {.type = EV_REQUEST, .t = t, .flow = req_id, .reason = (uint8_t)reason};
            r.a[0] = ts->id;
            push(b, &r);
        }
    }
    ts->tl_req_id = 0;
    if (!forced || req_id < S.flow_base) req_id = 0;
    if (!req_id) req_t = t;
    uint64_t hid = atomic_fetch_add(&S.next_flow, 1);
    uint64_t vc = vclock(gil, ts);
    Ev e = {.type = EV_DROP, .t = t, .flow = req_id, .flow2 = hid, .reason = (uint8_t)reason};
    e.a[0] = forced;
    e.a[1] = t - req_t;
    e.a[2] = forced ? 1 + b->deferred : 0;
    e.a[3] = instr;
    e.a[4] = vc;
    e.a[5] = req_id != 0;
    push(b, &e);
    S.h.pending = true;
    S.h.id = hid;
    S.h.t = t;
    S.h.req_t = req_t;
    S.h.checkpoints = 1 + b->deferred;
    S.h.instructions = instr;
    S.h.vclock = vc;
    S.h.from = ts->id;
    S.h.reason = req_id ? reason : -1;
    S.h.forced = forced && req_id;
    b->deferred = 0;
    if (forced) become(b, ST_WAITING, NULL, t);
    else if (b->next_kind) become(b, ST_BLOCKED, b->next_kind, t);
    else become(b, ST_OUTSIDE, NULL, t);
    b->next_kind = NULL;
    leave(ts);
}

void gv_tl_request(GvThreadState *holder, GvThreadState *asker, int reason) {
    GvTlThread *b = enter(asker);
    if (!b) return;
    uint64_t t = now();
    uint64_t id = atomic_fetch_add(&S.next_flow, 1);
    Ev e = {.type = EV_REQUEST, .t = t, .flow = id, .reason = (uint8_t)reason};
    e.a[0] = holder->id;
    /* The first request counts; later ones (before the drop) are instants
     * only, their flows unfinished and left out. */
    if (!holder->tl_req_id) {
        holder->tl_req_id = id;
        holder->tl_req_ns = t;
        holder->tl_req_reason = reason;
    }
    push(b, &e);
    leave(asker);
}

void gv_tl_deferred(GvThreadState *ts) {
    GvTlThread *b = enter(ts);
    if (!b) return;
    b->deferred++;
    leave(ts);
}

void gv_tl_blocking(GvThreadState *ts, const char *kind) {
    GvTlThread *b = enter(ts);
    if (!b) return;
    b->next_kind = kind;
    leave(ts);
}

void gv_tl_name(GvThreadState *ts, const char *name) {
    GvTlThread *b = enter(ts);
    if (!b) return;
    snprintf(b->name, sizeof b->name, "%s", name);
    leave(ts);
}

void gv_tl_instant(GvThreadState *ts, const char *name, unsigned long target) {
    if (!ts) return;
    GvTlThread *b = enter(ts);
    if (!b) return;
    Ev e = {.type = EV_INSTANT, .t = now(), .name = name};
    e.a[0] = target;
    push(b, &e);
    leave(ts);
}

void gv_tl_forget(GvThreadState *ts) {
    pthread_mutex_lock(&S.mu);
    GvTlThread *b = ts->tl;
    if (b) {
        /* Its owner is gone: nobody else writes it. */
        become(b, ST_NONE, NULL, now());
        b->ts = NULL;
        ts->tl = NULL;
    }
    pthread_mutex_unlock(&S.mu);
}

/* ---- the futex round trip ---- */

static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    int turn; /* 0: the measurer's, 1: the echo's, 2: stop */
} pp;

static void *echo(void *arg) {
    (void)arg;
    pthread_mutex_lock(&pp.m);
    for (;;) {
        while (pp.turn == 0) pthread_cond_wait(&pp.c, &pp.m);
        if (pp.turn == 2) break;
        pp.turn = 0;
        pthread_cond_broadcast(&pp.c);
    }
    pthread_mutex_unlock(&pp.m);
    return NULL;
}

/* A condition-variable ping-pong between two threads: what the classic GIL's
 * handoff costs at the least (two wake-ups through the kernel's futex). */
static double measure_round_trip(void) {
    enum { TRIPS = 300 };
    pthread_mutex_init(&pp.m, NULL);
    pthread_cond_init(&pp.c, NULL);
    pp.turn = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, echo, NULL) != 0) return 0;
    uint64_t start = gv_now_ns();
    pthread_mutex_lock(&pp.m);
    for (int i = 0; i < TRIPS; i++) {
        pp.turn = 1;
        pthread_cond_broadcast(&pp.c);
        while (pp.turn == 1) pthread_cond_wait(&pp.c, &pp.m);
    }
    pp.turn = 2;
    pthread_cond_broadcast(&pp.c);
    pthread_mutex_unlock(&pp.m);
    uint64_t took = gv_now_ns() - start;
    pthread_join(t, NULL);
    pthread_cond_destroy(&pp.c);
    pthread_mutex_destroy(&pp.m);
    return (double)took / TRIPS;
}

/* ---- start and stop ---- */

static void free_all(void) {
    while (S.threads) {
        GvTlThread *b = S.threads;
        S.threads = b->next;
        if (b->ts) b->ts->tl = NULL;
        free(b->ev);
        free(b);
    }
}

int gv_tl_start(GvThreadState *ts, size_t events_per_thread) {
    double rt = measure_round_trip();
    pthread_mutex_lock(&S.mu);
    if (atomic_load(&gv_tl_recording)) {
        pthread_mutex_unlock(&S.mu);
        return -1;
    }
    S.cap = events_per_thread ? events_per_thread : GV_TL_DEFAULT_EVENTS;
    S.rt_ns = rt;
    S.t0 = gv_now_ns();
    if (!atomic_load(&S.next_flow)) atomic_store(&S.next_flow, 1);
    S.flow_base = atomic_load(&S.next_flow);
    S.h.pending = false;
    atomic_store(&gv_tl_recording, true);
    pthread_mutex_unlock(&S.mu);
    if (enter(ts)) leave(ts); /* its buffer, so that even a thread alone is on the timeline */
    return 0;
}

double gv_tl_futex_rt_ns(void) { return S.rt_ns; }

/* S.mu held: turns recording off and waits until no owner is inside a hook. */
static void quiesce(void) {
    atomic_store(&gv_tl_recording, false);
    for (GvTlThread *b = S.threads; b; b = b->next)
        while (b->ts && atomic_load(&b->ts->tl_busy)) sched_yield(); /* a hook is a few hundred instructions */
}

void gv_tl_discard(void) {
    pthread_mutex_lock(&S.mu);
    quiesce();
    free_all();
    pthread_mutex_unlock(&S.mu);
}

/* ---- writing ---- */

typedef struct Out {
    int (*fn)(void *arg, const char *data, size_t len);
    void *arg;
    char buf[1 << 16];
    size_t len;
    bool failed;
} Out;

static void flush(Out *o) {
    if (o->len && !o->failed && o->fn(o->arg, o->buf, o->len) != 0) o->failed = true;
    o->len = 0;
}

static void outf(Out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(Out *o, const char *fmt, ...) {
    if (sizeof o->buf - o->len < 1024) flush(o);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, sizeof o->buf - o->len, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n < sizeof o->buf - o->len ? (size_t)n : sizeof o->buf - o->len - 1;
}

/* A name as a JSON string's contents (names come from programs). */
static void json_str(Out *o, const char *s) {
    outf(o, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') outf(o, "\\%c", c);
        else if (c < 0x20) outf(o, "\\u%04x", c);
        else outf(o, "%c", c);
    }
    outf(o, "\"");
}

static const char *reason_name(int r) {
    switch (r) {
    case GV_TL_REASON_INTERVAL: return "interval";
    case GV_TL_REASON_PRIORITY: return "priority waiter";
    case GV_TL_REASON_SCHEDULE: return "schedule";
    }
    return "none";
}

/* µs with ns precision, and multiples of the futex round trip to two
 * decimals, printed as integers: formatting doubles cost most of the
 * writing (measured with callgrind: 70k instructions per handoff). */
#define US_FMT "%" PRIu64 ".%03u"
#define US(ns) (uint64_t)(ns) / 1000u, (unsigned)((uint64_t)(ns) % 1000u)
#define RT_FMT "%" PRIu64 ".%02u"
#define RT(ns) rt100(ns) / 100u, (unsigned)(rt100(ns) % 100u)

static uint64_t rt100(uint64_t ns) { return S.rt_ns > 0 ? (uint64_t)((double)ns * 100.0 / S.rt_ns + 0.5) : 0; }

/* One end of a flow arrow (ph 's' at its start, 'f' at its end), bound to
 * the enclosing slice ("bp":"e"), as Perfetto and chrome://tracing draw them. */
static void flow_end(Out *o, char ph, const char *cat, const char *name, uint64_t id, unsigned long tid,
                     uint64_t t) {
    outf(o, ",\n{\"ph\":\"%c\",\"cat\":\"%s\",\"name\":\"%s\",\"id\":%" PRIu64 ",\"pid\":1,\"tid\":%lu,\"ts\":" US_FMT
            ",\"bp\":\"e\"}",
         ph, cat, name, id, tid, US(t));
}

static int by_time(const void *x, const void *y) {
    const Ev *a = x, *b = y;
    if (a->t != b->t) return a->t < b->t ? -1 : 1;
    /* At one instant: slices first (the one that ends there began earlier). */
    return (int)(a->type != EV_SLICE) - (int)(b->type != EV_SLICE);
}

/* Flow ends seen: bit 1 start, bit 2 end, per category (request, handoff),
 * indexed by id - S.flow_base. */
static void mark(uint8_t *seen, uint64_t n, uint64_t id, uint8_t bit) {
    if (id >= S.flow_base && id - S.flow_base < n) seen[id - S.flow_base] |= bit;
}

/* Did both ends of flow id make it into the buffers? */
static bool whole(const uint8_t *seen, uint64_t n, uint64_t id) {
    return id >= S.flow_base && id - S.flow_base < n && seen[id - S.flow_base] == 3;
}

static void write_event(Out *o, GvTlThread *b, const Ev *e, const uint8_t *req, const uint8_t *hand, uint64_t nflow) {
    static const char *const states[] = {"", "running", "waiting for GIL", "blocked", "outside VM"};
    unsigned long tid = b->id;
    switch (e->type) {
    case EV_SLICE:
        outf(o, ",\n{\"ph\":\"X\",\"cat\":\"state\",\"pid\":1,\"tid\":%lu,\"ts\":" US_FMT ",\"dur\":" US_FMT ",\"name\":", tid,
             US(e->t), US(e->dur));
        if (e->state == ST_BLOCKED) {
            char n[80];
            snprintf(n, sizeof n, "blocked: %s", e->name ? e->name : "wait");
            json_str(o, n);
        } else {
            json_str(o, states[e->state]);
        }
        outf(o, "}");
        break;
    case EV_INSTANT:
        outf(o, ",\n{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"event\",\"pid\":1,\"tid\":%lu,\"ts\":" US_FMT ",\"name\":", tid,
             US(e->t));
        json_str(o, e->name);
        if (e->a[0]) outf(o, ",\"args\":{\"thread\":%" PRIu64 "}", e->a[0]);
        outf(o, "}");
        break;
    case EV_REQUEST:
        outf(o,
             ",\n{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"gil\",\"pid\":1,\"tid\":%lu,\"ts\":" US_FMT ",\"name\":\"drop request\","
             "\"args\":{\"reason\":\"%s\",\"holder\":%" PRIu64 ",\"flow\":%" PRIu64 "}}",
             tid, US(e->t), reason_name(e->reason), e->a[0], e->flow);
        if (whole(req, nflow, e->flow))
            flow_end(o, 's', "request", "drop request", e->flow, tid, e->t);
        break;
    case EV_DROP:
        outf(o,
             ",\n{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"gil\",\"pid\":1,\"tid\":%lu,\"ts\":" US_FMT ",\"name\":\"drop\","
             "\"args\":{\"forced\":%s,\"reason\":\"%s\",\"request_to_drop_us\":" US_FMT ",\"request_to_drop_rt\":" RT_FMT ","
             "\"checkpoints\":%" PRIu64 ",\"slice_instructions\":%" PRIu64 ",\"vclock_ns\":%" PRIu64
             ",\"flow\":%" PRIu64 "}}",
             tid, US(e->t), e->a[0] ? "true" : "false", e->a[5] ? reason_name(e->reason) : "none", US(e->a[1]),
             RT(e->a[1]), e->a[2], e->a[3], e->a[4], whole(hand, nflow, e->flow2) ? e->flow2 : 0);
        if (whole(req, nflow, e->flow))
            flow_end(o, 'f', "request", "drop request", e->flow, tid, e->t);
        if (whole(hand, nflow, e->flow2))
            flow_end(o, 's', "handoff", "handoff", e->flow2, tid, e->t);
        break;
    case EV_TAKE:
        outf(o,
             ",\n{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"gil\",\"pid\":1,\"tid\":%lu,\"ts\":" US_FMT ",\"name\":\"take\","
             "\"args\":{\"from\":%" PRIu64 ",\"drop\":\"%s\",\"reason\":\"%s\",\"request_to_drop_us\":" US_FMT ","
             "\"request_to_drop_rt\":" RT_FMT ",\"checkpoints\":%" PRIu64 ",\"slice_instructions\":%" PRIu64
             ",\"drop_to_wake_us\":" US_FMT ",\"drop_to_wake_rt\":" RT_FMT ",\"wake_to_running_us\":" US_FMT ","
             "\"wake_to_running_rt\":" RT_FMT ",\"vclock_ns\":%" PRIu64 ",\"flow\":%" PRIu64 "}}",
             tid, US(e->t), e->a[0], e->name, e->reason == 255 ? "none" : reason_name(e->reason), US(e->a[1]),
             RT(e->a[1]), e->a[4], e->a[5], US(e->a[2]), RT(e->a[2]), US(e->a[3]), RT(e->a[3]), e->dur,
             whole(hand, nflow, e->flow) ? e->flow : 0); /* 0: its drop was not kept (a full buffer) */
        if (whole(hand, nflow, e->flow))
            flow_end(o, 'f', "handoff", "handoff", e->flow, tid, e->t);
        break;
    }
}

int gv_tl_stop(int (*fn)(void *arg, const char *data, size_t len), void *arg) {
    /* Before S.mu: a hook may take S.mu under the runtime lock. */
    GvInterpreterState *interp = gv_runtime_interp();
    const char *mode = interp ? gv_gil_mode_name(interp->gil->mode) : "?";
    pthread_mutex_lock(&S.mu);
    if (!atomic_load(&gv_tl_recording)) {
        pthread_mutex_unlock(&S.mu);
        return -1;
    }
    quiesce();
    /* Every owner is out. Threads in id order (main first), for the reader. */
    GvTlThread *sorted = NULL;
    while (S.threads) {
        GvTlThread *b = S.threads, **at = &sorted;
        S.threads = b->next;
        while (*at && (*at)->id < b->id) at = &(*at)->next;
        b->next = *at;
        *at = b;
    }
    S.threads = sorted;
    /* Close the open slices at the end. */
    uint64_t end = now();
    uint64_t dropped = 0;
    for (GvTlThread *b = S.threads; b; b = b->next) {
        become(b, ST_NONE, NULL, end);
        dropped += b->dropped;
    }
    uint64_t nflow = atomic_load(&S.next_flow) - S.flow_base;
    uint8_t *req = calloc(nflow ? nflow : 1, 1), *hand = calloc(nflow ? nflow : 1, 1);
    Out *o = malloc(sizeof *o);
    int rc = 0;
    if (!req || !hand || !o) {
        rc = -2;
        goto done;
    }
    for (GvTlThread *b = S.threads; b; b = b->next) {
        size_t n = atomic_load_explicit(&b->n, memory_order_acquire);
        qsort(b->ev, n, sizeof *b->ev, by_time);
        for (size_t i = 0; i < n; i++) {
            const Ev *e = &b->ev[i];
            if (e->type == EV_REQUEST) mark(req, nflow, e->flow, 1);
            if (e->type == EV_DROP) {
                mark(req, nflow, e->flow, 2);
                mark(hand, nflow, e->flow2, 1);
            }
            if (e->type == EV_TAKE) mark(hand, nflow, e->flow, 2);
        }
    }
    o->fn = fn;
    o->arg = arg;
    o->len = 0;
    o->failed = false;
    outf(o, "{\"traceEvents\":[\n{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"tid\":0,\"args\":{\"name\":\"gilvm (%s)\"}}",
         mode);
    for (GvTlThread *b = S.threads; b; b = b->next) {
        char name[96];
        snprintf(name, sizeof name, "T%lu %s", b->id, b->name);
        outf(o, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":%lu,\"args\":{\"name\":", b->id);
        json_str(o, name);
        outf(o, "}},\n{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":1,\"tid\":%lu,\"args\":{\"sort_index\":%lu}}",
             b->id, b->id);
    }
    for (GvTlThread *b = S.threads; b; b = b->next) {
        size_t n = atomic_load_explicit(&b->n, memory_order_acquire);
        for (size_t i = 0; i < n; i++) write_event(o, b, &b->ev[i], req, hand, nflow);
    }
    outf(o,
         "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"schema\":\"gilvm-timeline-1\",\"version\":\"%s\","
         "\"gil_mode\":\"%s\",\"clock\":\"monotonic\",\"futex_round_trip_us\":%.3f,\"events_per_thread\":%zu,"
         "\"events_dropped\":%" PRIu64 "}}\n",
         GILVM_VERSION_STRING, mode, S.rt_ns / 1000.0, S.cap, dropped);
    flush(o);
    if (o->failed) rc = -2;
done:
    free(o);
    free(req);
    free(hand);
    free_all();
    pthread_mutex_unlock(&S.mu);
    return rc;
}
