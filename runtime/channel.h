/* What crosses between interpreters: copies of shareable values, waits that
 * a thread of another interpreter ends, and the process's channels.
 *
 * Objects are never shared between interpreters (each has its own GIL, and
 * refcounts are plain): a value is copied out of the sender's interpreter
 * into a GvShared (plain malloc'd memory no interpreter owns) and copied
 * again into objects of the receiver's. */
#ifndef GV_CHANNEL_H
#define GV_CHANNEL_H

#include "tstate.h"

typedef struct GvShared GvShared;

/* Copies v (none, bool, int, float, str, and lists and dicts of these,
 * nested, without cycles) into *out. -1 with TypeError for anything else
 * (MemoryError if out of memory). GIL of v's interpreter held. `what` names
 * the value in the message ("interp_start() argument"). */
int gv_shared_from(GvValue v, const char *what, GvShared **out);
/* New objects of the current interpreter equal to s. -1 with MemoryError. */
int gv_shared_to(const GvShared *s, GvValue *out);
void gv_shared_free(GvShared *s);

/* ---- waiting for something another interpreter does ----
 *
 * gv_wait's contract is one interpreter's: the waiter queues itself under
 * its interpreter's mutex while holding its GIL, and the waker, holding the
 * same GIL, changes the object and wakes the queue under the same mutex. A
 * waker in another interpreter holds another GIL, and its interpreter's
 * mutex is not the waiter's. So an event has its own mutex, which guards the
 * object's state and one wait queue per waiting interpreter (entries), and a
 * sequence number that moves on every change:
 *   waiter: under ev->mutex, looks at the object; if it must wait, notes the
 *           sequence number and registers its interpreter's entry; then
 *           gv_wait on the entry's queue with ready() = "the sequence number
 *           moved" (an atomic load: ready() runs under the waiter's
 *           interp->mutex and takes no other lock); then unregisters and
 *           looks again.
 *   waker:  under ev->mutex, changes the object, moves the sequence number
 *           and, for each entry, takes the entry's interpreter's mutex and
 *           wakes its queue (gv_wake_all): the waker holds the lock gv_wait
 *           expects a waker to hold, for that queue.
 * No wake-up is lost: a change made before the waiter registered is seen
 * when it looks; one made after it noted the number is seen by ready(),
 * whether before it queued (it does not sleep) or after (the waker finds it
 * queued, under the mutex the waiter queued under). Lock order: ev->mutex
 * then interp->mutex (nobody holding an interp->mutex takes an ev->mutex).
 * An entry's interpreter stays allocated while a thread of it waits; at its
 * finalization gv_xevents_forget removes its entries (waiters abandoned in
 * the middle of a wait never unregister). */
typedef struct GvXEntry GvXEntry;
typedef struct GvXEvent {
    pthread_mutex_t mutex;
    _Atomic uint64_t seq;
    GvXEntry *entries;
    struct GvXEvent *reg_prev, *reg_next; /* in the registry (gv_xevents_forget) */
} GvXEvent;

void gv_xevent_init(GvXEvent *ev);
void gv_xevent_destroy(GvXEvent *ev);
/* ev->mutex held: registers the calling thread's interpreter as waiting and
 * returns what gv_xevent_wait needs. */
typedef struct GvXWait { GvXEvent *ev; GvXEntry *entry; uint64_t seen; } GvXWait;
int gv_xevent_prepare(GvXEvent *ev, GvThreadState *ts, GvXWait *w);
/* ev->mutex not held, GIL held: waits until ev changed since prepare (1),
 * the timeout passes (0) or an interruption raises (-1), then unregisters. */
int gv_xevent_wait(GvThreadState *ts, GvXWait *w, double timeout);
/* ev->mutex held: the object changed; wakes every waiter of every
 * interpreter. */
void gv_xevent_changed_locked(GvXEvent *ev);
/* An interpreter is being freed: no event may wake it any more. */
void gv_xevents_forget(GvInterpreterState *interp);

/* ---- channels: process-wide FIFO queues of copied values ---- */
/* A new channel's id (>= 1), or -1 with MemoryError. */
int64_t gv_chan_new(void);
/* Appends s (stolen). -1 with ValueError if id is no channel. */
int gv_chan_put(int64_t id, GvShared *s);
/* Waits (GIL released) for a value: 1 and *out (a copy in ts's
 * interpreter), 0 after timeout seconds (< 0: none) without one, -1 with an
 * exception (ValueError: no such channel; interruptions). */
int gv_chan_get(GvThreadState *ts, int64_t id, double timeout, GvValue *out);

#endif
