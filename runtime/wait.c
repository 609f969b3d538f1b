/* Blocking waits and wake-ups.
 *
 * How a wait goes
 * ---------------
 * gv_wait is the only place a thread of the VM blocks for an event. With the
 * GIL held, under interp->mutex, it looks once at what is due, in this order:
 *   1. ready(): take() and return (an interruption that came with it stays
 *      set in the eval breaker: the caller's next check handles it);
 *   2. an interruption (pending calls, an asynchronous exception, Ctrl-C:
 *      the GV_EB_INTERRUPTS bits): handled with the GIL, nothing taken;
 *   3. the deadline: return "timed out";
 * and otherwise queues itself on the wait queue, releases the GIL and parks
 * on its own condition variable (ts->park_cond) until a waker takes it off
 * the queue (ts->wake), an interruption is set, the deadline passes or
 * finalization starts; then it takes the GIL back and looks again. Because
 * the waiter queues itself while it still holds the GIL, a waker, which
 * needs the GIL to change anything, always finds it queued: no wake-up is
 * lost between "not ready" and "asleep". And because "took it" and "was
 * interrupted" are decided in one place, under one lock, an asynchronous
 * exception is raised exactly once: out of the wait, which then took
 * nothing, or at the caller's next eval-breaker check after a wait that
 * took its item (at the latest when the thread's function returns: see
 * runtime/thread.c), never lost, and no item lost with it.
 *
 * A wake-up is a token: gv_wake_one takes one waiter off the queue. The
 * woken waiter looks at ready() first, under the same lock the waker held
 * when it made the object ready, so a token never has to be passed on: if
 * the object is ready the waiter takes it (even when interrupted or past its
 * deadline), and if it is not, another thread took what the token was for
 * and the token is spent. (A taker that leaves something behind wakes the
 * next waiter itself: see queue_take in runtime/sync.c.)
 *
 * Every wake-up, whatever its source, goes through wake() below: that is
 * where the deterministic schedule learns that a thread may run again.
 *
 * Under the deterministic schedule (GV_GIL_SCHEDULE) nothing depends on the
 * OS: a parked thread is simply not runnable, and waits for its turn inside
 * the GIL (gv_gil_take) instead of on park_cond; a wake-up makes it runnable
 * at the waker's point in the schedule; timeouts run on the schedule's
 * virtual clock, which advances with the instructions run and jumps to the
 * earliest deadline when every thread is blocked (runtime/gil.c). */
#include "wait.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <time.h>

#include "breaker.h"
#include "timeline.h"

/* ---- wait queues (interp->mutex held) ---- */

static void enqueue(GvWaitQueue *q, GvThreadState *ts) {
    assert(!ts->queued); /* a thread is never queued twice */
    ts->queued = true;
    ts->wait_next = NULL;
    if (q->tail)
        q->tail->wait_next = ts;
    else
        q->head = ts;
    q->tail = ts;
}

static void dequeue(GvWaitQueue *q, GvThreadState *ts) {
    GvThreadState *prev = NULL;
    for (GvThreadState *t = q->head; t; prev = t, t = t->wait_next) {
        if (t != ts) continue;
        if (prev)
            prev->wait_next = t->wait_next;
        else
            q->head = t->wait_next;
        if (q->tail == t) q->tail = prev;
        t->wait_next = NULL;
        t->queued = false;
        return;
    }
}

/* The one wake-up: ts's wait must look again. interp->mutex held. */
static void wake(GvThreadState *ts) {
    if (ts->parked && ts->interp->gil->mode == GV_GIL_SCHEDULE)
        /* Runnable now, at this point of the schedule (the waker holds the
         * GIL), whenever its OS thread gets to run. */
        gv_gil_sched_runnable(ts->interp->gil, ts);
    if (ts->asleep) {
        /* The kernel often puts the woken thread on the waker's core (see
         * park): the waker's next park should leave that core to it. */
        GvThreadState *waker = gv_tstate_get();
        if (waker) waker->woke_sleeper = true;
    }
    pthread_cond_signal(&ts->park_cond);
}

void gv_wake_one(GvWaitQueue *q) {
    GvThreadState *t = q->head;
    if (!t) return;
    dequeue(q, t);
    t->wake = true;
    wake(t);
}

void gv_wake_all(GvWaitQueue *q) {
    while (q->head) gv_wake_one(q);
}

void gv_thread_interrupt_locked(GvThreadState *ts, uint32_t bits) {
    gv_eb_set(ts, bits);
    wake(ts);
}

void gv_thread_interrupt(GvThreadState *ts, uint32_t bits) {
    pthread_mutex_lock(&ts->interp->mutex);
    gv_thread_interrupt_locked(ts, bits);
    pthread_mutex_unlock(&ts->interp->mutex);
}

void gv_wake_for_exit(GvInterpreterState *interp, GvThreadState *finalizer) {
    for (GvThreadState *t = interp->threads; t; t = t->next) {
        if (t == finalizer) continue;
        pthread_cond_signal(&t->park_cond);
        gv_gil_wake(interp->gil, t); /* schedule mode: parked in the GIL */
    }
}

/* ---- clocks ---- */

uint64_t gv_clock_now(GvThreadState *ts) {
    GvGIL *gil = ts->interp->gil;
    if (gil->mode == GV_GIL_SCHEDULE) return gv_gil_sched_clock(gil, ts);
    return gv_now_ns();
}

static uint64_t deadline_after(uint64_t now, double timeout) {
    if (timeout > 1e9) timeout = 1e9; /* ~31 years: effectively forever, and no overflow */
    uint64_t d = now + (uint64_t)(timeout * 1e9);
    return d ? d : 1;
}

/* ---- parking ---- */

static bool interrupted(GvThreadState *ts) { return gv_eb_test(ts, GV_EB_INTERRUPTS) != 0; }

/* GIL held, interp->mutex not held, ts queued (if q): releases the GIL,
 * sleeps until woken, interrupted, past the deadline or finalizing, takes
 * the GIL back, and leaves q (a waker that woke ts already took it off). */
static void park(GvThreadState *ts, GvWaitQueue *q, uint64_t deadline) {
    GvInterpreterState *interp = ts->interp;
    pthread_mutex_t *m = &interp->mutex;
    if (interp->gil->mode == GV_GIL_SCHEDULE) {
        pthread_mutex_lock(m);
        ts->parked = true;
        pthread_mutex_unlock(m);
        gv_gil_sched_block(interp->gil, ts, deadline);
        gv_tstate_detach(ts);
        gv_tstate_attach_or_exit(ts); /* returns when the schedule runs ts again */
        pthread_mutex_lock(m);
        ts->parked = false;
    } else {
        gv_tstate_detach(ts);
        pthread_mutex_lock(m);
        ts->parked = true;
        if (gv_gil_spins_for_wake(interp->gil)) {
            /* The modes that spin: whoever wakes us is likely running on
             * the other core right now; a short spin saves the futex round
             * trip. But a thread we have just woken from its sleep (an
             * asynchronous exception into a sleep, a queue's sleeping
             * reader) is often put on our core by the kernel, and would
             * wait for our spin to end (async_raise into a sleep: 7 us from
             * wake-up to running instead of 3, perf sched): let it run
             * first. Skipping the spin instead locks a ping-pong into
             * futex wake-ups for good (each side then wakes a sleeper). */
            bool yield = ts->woke_sleeper;
            ts->woke_sleeper = false;
            pthread_mutex_unlock(m);
            if (yield) sched_yield();
            gv_gil_spin_until(interp->gil, ts, &ts->wake, NULL);
            pthread_mutex_lock(m);
        }
        struct timespec t = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
        ts->asleep = true;
        while (!ts->wake && !interrupted(ts) && !gv_tstate_must_exit(ts)) {
            if (!deadline)
                pthread_cond_wait(&ts->park_cond, m);
            else if (pthread_cond_timedwait(&ts->park_cond, m, &t) == ETIMEDOUT)
                break;
        }
        ts->asleep = false;
        ts->parked = false;
        pthread_mutex_unlock(m);
        gv_tstate_attach_or_exit(ts);
        pthread_mutex_lock(m);
    }
    if (!ts->wake && q) dequeue(q, ts);
    pthread_mutex_unlock(m);
}

int gv_wait(GvThreadState *ts, const GvWaitSpec *w) {
    pthread_mutex_t *m = &ts->interp->mutex;
    uint64_t deadline = w->timeout < 0 ? 0 : deadline_after(gv_clock_now(ts), w->timeout);
    for (;;) {
        pthread_mutex_lock(m);
        if (w->ready(w->obj)) {
            if (w->take) w->take(w->obj, w->out);
            pthread_mutex_unlock(m);
            return 1;
        }
        if (interrupted(ts)) {
            pthread_mutex_unlock(m);
            if (gv_breaker_handle_interrupts(ts) < 0) return -1;
            continue; /* handled (a pending call ran, a masked exception): wait on */
        }
        if (deadline && gv_clock_now(ts) >= deadline) {
            pthread_mutex_unlock(m);
            return 0;
        }
        ts->wake = false;
        if (w->queue) enqueue(w->queue, ts);
        pthread_mutex_unlock(m);
        GV_TL(gv_tl_blocking(ts, w->kind ? w->kind : "wait"));
        park(ts, w->queue, deadline);
    }
}
