/* The public API of async-generator hooks (include/gilvm.h). */
#include "api.h"

#include "gen.h"

int GvThreadState_SetAsyncGenHooks(GvObject *firstiter, GvObject *finalizer) {
    GvThreadState *ts = gv_api_need_gil("GvThreadState_SetAsyncGenHooks");
    return gv_set_asyncgen_hooks(ts, firstiter ? gv_obj(firstiter) : gv_none(),
                                 finalizer ? gv_obj(finalizer) : gv_none());
}

void GvThreadState_GetAsyncGenHooks(GvObject **firstiter, GvObject **finalizer) {
    GvThreadState *ts = gv_api_need_gil("GvThreadState_GetAsyncGenHooks");
    if (firstiter) {
        *firstiter = ts->asyncgen_firstiter;
        if (*firstiter) gv_incref(*firstiter);
    }
    if (finalizer) {
        *finalizer = ts->asyncgen_finalizer;
        if (*finalizer) gv_incref(*finalizer);
    }
}
