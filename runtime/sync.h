/* Locks, queues and sleep for programs (runtime/sync.c). All blocking calls
 * release the GIL while they wait and can be interrupted (Ctrl-C, an
 * asynchronous exception, finalization). The caller holds the GIL. */
#ifndef GV_SYNC_H
#define GV_SYNC_H

#include "object.h"
#include "tstate.h"

GvObject *gv_lock_new(void);
bool gv_is_lock(GvValue v);
/* timeout: seconds; < 0 waits forever, 0 does not wait. 1 acquired, 0 timed
 * out, -1 with an exception. */
int gv_lock_acquire(GvThreadState *ts, GvObject *lock, double timeout);
/* RuntimeError if the lock is not locked. */
int gv_lock_release(GvThreadState *ts, GvObject *lock);

GvObject *gv_queue_new(void);
bool gv_is_queue(GvValue v);
int gv_queue_put(GvThreadState *ts, GvObject *queue, GvValue v);
/* 1 with a new reference in *out, 0 on timeout, -1 with an exception. */
int gv_queue_get(GvThreadState *ts, GvObject *queue, double timeout, GvValue *out);

/* 0, or -1 if interrupted by an exception. sleep(0) just lets others run. */
int gv_sleep(GvThreadState *ts, double seconds);

#endif
