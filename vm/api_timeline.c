/* The public API: the GIL timeline (runtime/timeline.c records and writes). */
#include "api.h"

int GvTimeline_Start(size_t events_per_thread) {
    GvThreadState *ts = gv_api_need_gil("GvTimeline_Start");
    if (events_per_thread > GV_TL_MAX_EVENTS) {
        gv_err_format(&gv_type_ValueError, "GvTimeline_Start: events_per_thread must be at most %d",
                      GV_TL_MAX_EVENTS);
        return -1;
    }
    if (gv_tl_start(ts, events_per_thread) < 0) {
        gv_err_format(&gv_type_RuntimeError, "GvTimeline_Start: a timeline is already recording");
        return -1;
    }
    return 0;
}

static int stop(const char *fn, GvTimelineWriteFunc write, void *arg) {
    int rc = gv_tl_stop(write, arg);
    if (rc == -1) {
        gv_err_format(&gv_type_RuntimeError, "%s: no timeline is recording", fn);
        return -1;
    }
    if (rc < 0) {
        gv_err_format(&gv_type_RuntimeError, "%s: writing the timeline failed", fn);
        return -1;
    }
    return 0;
}

int GvTimeline_Stop(GvTimelineWriteFunc write, void *arg) {
    gv_api_need_gil("GvTimeline_Stop");
    if (!write) return gv_api_null_arg("GvTimeline_Stop", "write");
    return stop("GvTimeline_Stop", write, arg);
}

static int to_file(void *arg, const char *data, size_t len) {
    return fwrite(data, 1, len, (FILE *)arg) == len ? 0 : -1;
}

int GvTimeline_StopToFile(const char *path) {
    gv_api_need_gil("GvTimeline_StopToFile");
    if (!path) return gv_api_null_arg("GvTimeline_StopToFile", "path");
    if (!gv_tl_recording) {
        gv_err_format(&gv_type_RuntimeError, "GvTimeline_StopToFile: no timeline is recording");
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        gv_err_format(&gv_type_RuntimeError, "GvTimeline_StopToFile: cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    int rc = stop("GvTimeline_StopToFile", to_file, f);
    if (fclose(f) != 0 && rc == 0) {
        gv_err_format(&gv_type_RuntimeError, "GvTimeline_StopToFile: writing '%s' failed: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

int GvTimeline_IsRecording(void) { return atomic_load(&gv_tl_recording) ? 1 : 0; }
