/* The GIL timeline: a record of every thread's state (running, waiting for
 * the GIL, blocked, outside the VM) and of every handoff, written out as a
 * Chrome Trace Event Format file (`gilvm run --timeline=FILE`,
 * GvTimeline_Start/Stop). See timeline.c.
 *
 * The hooks below are called from the GIL's and the waits' paths, never from
 * the eval loop's dispatch. Each is wrapped in GV_TL(), which costs one
 * relaxed load and a predictable branch when no timeline is recording. */
#ifndef GV_TIMELINE_H
#define GV_TIMELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gilvm.h"

typedef struct GvGIL GvGIL;

extern _Atomic bool gv_tl_recording;

#define GV_TL(call)                                                                               \
    do {                                                                                          \
        if (__builtin_expect(atomic_load_explicit(&gv_tl_recording, memory_order_relaxed), 0)) call; \
    } while (0)

/* Why a holder was asked to drop the GIL. */
enum {
    GV_TL_REASON_INTERVAL, /* a waiter waited a whole switch interval */
    GV_TL_REASON_PRIORITY, /* a thread back from a blocking wait (handoff modes) */
    GV_TL_REASON_SCHEDULE, /* the deterministic schedule's slice ended */
};

/* ts is about to ask for the GIL (owner thread, no lock). */
void gv_tl_take_begin(GvThreadState *ts);
/* ts holds the GIL now (gil->mutex held). */
void gv_tl_take(GvGIL *gil, GvThreadState *ts);
/* ts runs: its take returned (owner, the GIL's mutex released). */
void gv_tl_running(GvThreadState *ts);
/* ts is about to give the GIL up; `forced`: asked to (gil->mutex held). */
void gv_tl_drop(GvGIL *gil, GvThreadState *ts, bool forced);
/* asker (the calling thread) asks holder to drop (gil->mutex held). */
void gv_tl_request(GvThreadState *holder, GvThreadState *asker, int reason);
/* The holder found a request at a safe point but runs on (its minimum slice). */
void gv_tl_deferred(GvThreadState *ts);
/* ts's next voluntary drop is for a blocking wait of this kind (static
 * string: "sleep", "lock", ...); NULL: for leaving the VM. Owner thread. */
void gv_tl_blocking(GvThreadState *ts, const char *kind);
/* A thread's name for the timeline ("T2 worker"): its function's. Owner. */
void gv_tl_name(GvThreadState *ts, const char *name);
/* An instant event on the calling thread, whose state is ts (NULL: none, the
 * event is not recorded). `target`: the thread it concerns, or 0. */
void gv_tl_instant(GvThreadState *ts, const char *name, unsigned long target);
/* ts is being freed: ends its record (any thread, GIL held). */
void gv_tl_forget(GvThreadState *ts);

/* The C API's implementation (vm/api_timeline.c checks the arguments). */
/* ts: the caller's (GIL held), recorded from now as running. */
int gv_tl_start(GvThreadState *ts, size_t events_per_thread);
/* Stops and writes the recording through fn; frees it. -1 if not
 * recording (nothing written), -2 if fn failed. */
int gv_tl_stop(int (*fn)(void *arg, const char *data, size_t len), void *arg);
/* Stops and frees without writing (finalization). */
void gv_tl_discard(void);
/* The futex round trip measured at the last start, in ns. */
double gv_tl_futex_rt_ns(void);

#define GV_TL_DEFAULT_EVENTS 100000
#define GV_TL_MAX_EVENTS 100000000

#endif
