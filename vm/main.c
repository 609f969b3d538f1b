/* The gilvm command: run, assemble and disassemble programs. A client of
 * the public API only (include/gilvm.h), as lua.c is of lua.h: what it shows
 * of the interpreter, an embedder can ask for too. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gilvm.h"

#define EXIT_EXCEPTION 1
#define EXIT_USAGE 2 /* usage and load errors */

static const char usage[] =
    "usage: gilvm COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run [--gil=MODE] [--schedule=SEED[:N]] [--schedule-digest] [--gil-stats]\n"
    "      [--trace[=op]] [--max-memory=SIZE] [--timeline=OUT] FILE [ARG...]\n"
    "                       run a program (.gva text or .gvc bytecode), starting at main;\n"
    "                       the program reads its ARGs (as strings) with argv();\n"
    "                       --max-memory=SIZE caps the memory the program's objects take\n"
    "                       (bytes, or with K, M, G, T: 512M, 2G; none: no cap); an\n"
    "                       allocation past it raises MemoryError (default: half the\n"
    "                       physical memory, or of the cgroup's limit if lower);\n"
    "                       --gil-stats prints the GIL's counters per thread at exit;\n"
    "                       --gil=classic|priority|spin|adaptive picks how the GIL is handed over\n"
    "                       (default: $GILMODE, else adaptive);\n"
    "                       --schedule=SEED[:N] runs one thread at a time for N instructions\n"
    "                       (default 100), the next drawn from SEED: reproducible races;\n"
    "                       --schedule-digest prints at exit a hash of the interleaving the\n"
    "                       schedule ran (equal hashes: the same interleaving);\n"
    "                       --trace prints each line run (--trace=op: each instruction)\n"
    "                       with thread, function and depth on stderr;\n"
    "                       --timeline=OUT writes every thread's GIL states and handoffs to\n"
    "                       OUT as a Chrome trace (JSON: open it in ui.perfetto.dev)\n"
    "  asm FILE.gva -o OUT  assemble and verify a program into a .gvc bytecode file\n"
    "  dis FILE             print a program (.gva or .gvc) as assembly, with offsets and lines\n"
    "  dis --opcodes        print the bytecode reference (docs/BYTECODE.md)\n"
    "  dis --opcodes=language\n"
    "                       print the instruction tables of docs/LANGUAGE.md\n"
    "  FILE                 the same as `run FILE`\n"
    "\n"
    "options:\n"
    "  -h, --help           show this help\n"
    "  --version            show the version\n"
    "\n"
    "exit status: 0 success (or main's int result), 1 uncaught exception,\n"
    "2 usage or load error (FILE:LINE:COL: error: ...)\n";

static int write_timeline(void *arg, const char *data, size_t len) {
    return fwrite(data, 1, len, (FILE *)arg) == len ? 0 : -1;
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "gilvm: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'gilvm --help'.\n");
    return EXIT_USAGE;
}

/* Loads and verifies; prints the diagnostic and returns NULL on error. */
static GvProgram *load(const char *path) {
    GvDiag diag;
    memset(&diag, 0, sizeof diag);
    GvProgram *p = GvProgram_LoadFile(path, &diag);
    if (!p) fprintf(stderr, "%s\n", diag.text);
    return p;
}

static void print_row(FILE *f, const char *who, const GvGILStats *s, bool spin) {
    fprintf(f, "%-10s %10llu %9llu %8llu %10llu %9llu %12.3f %10.3f", who, s->acquisitions, s->switches,
            s->forced_drops, s->voluntary_drops, s->drop_requests, (double)s->wait_ns_total / 1e6,
            (double)s->wait_ns_max / 1e6);
    if (spin) fprintf(f, " %9llu %9llu", s->spins, s->spin_hits);
    fputc('\n', f);
}

/* One log2 histogram of waits: only the buckets from the first to the last
 * non-empty one, each with a bar scaled to the biggest. */
static void print_hist(FILE *f, const char *title, const GvGILStats *s) {
    unsigned long long most = 1;
    int first = -1, last = 0;
    for (int i = 0; i < GV_GIL_HIST_BUCKETS; i++) {
        if (s->wait_hist[i] > most) most = s->wait_hist[i];
        if (s->wait_hist[i]) {
            if (first < 0) first = i;
            last = i;
        }
    }
    fprintf(f, "\nwaits to take the GIL (%s)\n", title);
    if (first < 0) {
        fprintf(f, "%16s\n", "none");
        return;
    }
    for (int i = first; i <= last; i++) {
        char range[64];
        if (i == 0) snprintf(range, sizeof range, "< 2 us");
        else if ((1ull << i) < 1000) snprintf(range, sizeof range, "%llu-%llu us", 1ull << i, (1ull << (i + 1)) - 1);
        else snprintf(range, sizeof range, "%.3g-%.3g ms", (double)(1ull << i) / 1000, (double)(1ull << (i + 1)) / 1000);
        int bar = (int)(40 * s->wait_hist[i] / most);
        fprintf(f, "%16s %10llu %.*s\n", range, s->wait_hist[i], bar, "########################################");
    }
}

/* The table `run --gil-stats` prints: one row per thread that ever held the
 * GIL and the total, then the distribution of waits for all threads and for
 * each thread (where the convoy effect shows: a thread back from I/O that
 * waits milliseconds behind CPU-bound ones). */
static void print_gil_stats(FILE *f) {
    GvGILStats total;
    GvGIL_GetStats(&total);
    bool spin = total.spins || total.wake_spins; /* the modes that spin, on more than one core */
    fprintf(f, "\nGIL statistics (mode %s)\n%-10s %10s %9s %8s %10s %9s %12s %10s", Gv_GetGILModeName(),
            "thread", "acquired", "switches", "forced", "voluntary", "requests", "wait ms", "max ms");
    if (spin) fprintf(f, " %9s %9s", "spins", "spin hits");
    fputc('\n', f);
    /* Snapshot the rows first: the histograms come after the table. Ended
     * threads are listed whatever they did; a live thread state only if it
     * ever held the GIL. */
    size_t cap = GvGIL_GetThreadStats(NULL, 0) + 16, n = 0;
    GvGILThreadStats *all = malloc(cap * sizeof *all);
    struct Row { char who[32]; GvGILStats s; } *rows = malloc(cap * sizeof *rows);
    size_t nall = all && rows ? GvGIL_GetThreadStats(all, cap) : 0;
    for (size_t i = 0; i < nall && i < cap; i++) {
        if (all[i].running && !all[i].stats.acquisitions) continue;
        snprintf(rows[n].who, sizeof rows[n].who, "%lu%s", all[i].thread_id, all[i].is_main ? " (main)" : "");
        rows[n++].s = all[i].stats;
    }
    free(all);
    for (size_t i = 0; rows && i < n; i++) print_row(f, rows[i].who, &rows[i].s, spin);
    print_row(f, "all", &total, spin);
    if (spin)
        /* What spinning costs (CPU time) beside what it saves (the waits). */
        fprintf(f, "spinning: %llu waits for the GIL spun (%llu got it), %llu blocking waits spun (%llu woken); "
                   "%.3f ms CPU in all, %.2f us per switch\n",
                total.spins, total.spin_hits, total.wake_spins, total.wake_spin_hits, (double)total.spin_ns / 1e6,
                total.switches ? (double)total.spin_ns / 1e3 / (double)total.switches : 0.0);
    print_hist(f, "all threads", &total);
    for (size_t i = 0; rows && i < n; i++) {
        char title[48];
        snprintf(title, sizeof title, "thread %s", rows[i].who);
        print_hist(f, title, &rows[i].s);
    }
    free(rows);
}

/* ---- --trace ---- */

/* Source lines of the traced file, for printing (one file: the program). */
static struct {
    char *text;
    const char **lines;
    unsigned nlines;
} source;

static void load_source(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return;
    buf[len] = '\0';
    unsigned count = 1;
    for (size_t i = 0; i < len; i++) count += buf[i] == '\n';
    source.lines = calloc(count + 1, sizeof *source.lines);
    if (!source.lines) {
        free(buf);
        return;
    }
    source.text = buf;
    unsigned k = 0;
    source.lines[k++] = buf;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            buf[i] = '\0';
            if (i > 0 && buf[i - 1] == '\r') buf[i - 1] = '\0';
            source.lines[k++] = buf + i + 1;
        }
    }
    source.nlines = k;
}

static const char *source_line(unsigned line) {
    if (line == 0 || line > source.nlines) return "";
    const char *p = source.lines[line - 1];
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* Prints what a person watching two threads interleave wants to see: who
 * (thread), where (function, line), how deep, and what runs. */
static int print_trace(void *userdata, const GvTraceEvent *ev) {
    FILE *out = userdata;
    switch (ev->what) {
    case GV_TRACE_CALL:
        fprintf(out, "[T%lu] %*scall %s\n", ev->thread_id, 2 * (ev->depth - 1), "", ev->function);
        break;
    case GV_TRACE_LINE:
        fprintf(out, "[T%lu] %*s%s:%u  %s\n", ev->thread_id, 2 * (ev->depth - 1), "", ev->function, ev->line,
                source_line(ev->line));
        break;
    case GV_TRACE_OPCODE:
        fprintf(out, "[T%lu] %*s%s @%u (line %u, stack %d)  %s\n", ev->thread_id, 2 * (ev->depth - 1), "",
                ev->function, ev->offset, ev->line, ev->stack_size, ev->opname);
        break;
    case GV_TRACE_RETURN:
        fprintf(out, "[T%lu] %*sreturn from %s%s\n", ev->thread_id, 2 * (ev->depth - 1), "", ev->function,
                ev->opname[0] ? "" : " (exception)");
        break;
    case GV_TRACE_EXCEPTION: {
        char *s = GvObject_StrDup(ev->arg);
        fprintf(out, "[T%lu] %*sexception in %s:%u: %s\n", ev->thread_id, 2 * (ev->depth - 1), "",
                ev->function, ev->line, s ? s : "?");
        free(s);
        if (!s) GvErr_Clear();
        break;
    }
    }
    return 0;
}

/* ---- --max-memory ---- */

/* SIZE: a number of bytes, or with a suffix K, M, G or T (powers of 1024).
 * 0, or -1 for a malformed or zero size. */
static int parse_size(const char *s, size_t *out) {
    if (!isdigit((unsigned char)*s)) return -1;
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    case '\0': break;
    default: return -1;
    }
    if (shift && end[1] != '\0') return -1;
    if (n == 0 || n > (SIZE_MAX >> shift)) return -1;
    *out = (size_t)(n << shift);
    return 0;
}

/* The memory cgroup's limit for this process (v2 memory.max or v1
 * memory.limit_in_bytes), or 0 if none is set or it cannot be read. Only the
 * process's own cgroup: the usual case, a container, sets it there. */
static unsigned long long cgroup_memory_limit(void) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return 0;
    char line[4096];
    unsigned long long limit = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = '\0';
        const char *ctrl = c1 + 1, *path = c2 + 1;
        char file[4200];
        if (strcmp(line, "0") == 0 && *ctrl == '\0')
            snprintf(file, sizeof file, "/sys/fs/cgroup%s/memory.max", strcmp(path, "/") ? path : "");
        else if (strstr(ctrl, "memory"))
            snprintf(file, sizeof file, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", strcmp(path, "/") ? path : "");
        else
            continue;
        FILE *m = fopen(file, "r");
        if (!m) continue;
        unsigned long long v;
        if (fscanf(m, "%llu", &v) == 1 && v > 0 && (limit == 0 || v < limit)) limit = v; /* "max": none */
        fclose(m);
    }
    fclose(f);
    return limit;
}

/* The default for --max-memory: half the physical memory, or half the
 * cgroup's limit when that is lower (in a container the OOM killer acts at
 * the cgroup's limit). Half, because the count covers only what the VM's
 * objects take, not malloc's own overhead, thread stacks or the rest of the
 * machine, and the point is MemoryError before the OOM killer. 0 (no limit)
 * when the size of memory is unknown. */
static size_t default_memory_limit(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    unsigned long long total = pages > 0 && page > 0 ? (unsigned long long)pages * (unsigned long long)page : 0;
    unsigned long long cg = cgroup_memory_limit();
    if (cg && (total == 0 || cg < total)) total = cg;
    total /= 2;
    return total > SIZE_MAX ? SIZE_MAX : (size_t)total;
}

static int cmd_run(const char *path, int argc, char **argv) {
    if (Gv_SetArgv(argc, argv) < 0) {
        if (GvErr_Occurred() == GvExc_MemoryError)
            fprintf(stderr, "gilvm: out of memory (see --max-memory)\n");
        else
            fprintf(stderr, "gilvm: program arguments must be valid UTF-8\n");
        GvErr_Clear();
        return EXIT_USAGE;
    }
    GvProgram *p = load(path);
    if (!p) return EXIT_USAGE;
    GvFunctionInfo main_info;
    if (!GvProgram_FindFunction(p, "main", &main_info)) {
        fprintf(stderr, "%s: error: no function 'main' to start at\n", path);
        GvProgram_Free(p);
        return EXIT_USAGE;
    }
    if (main_info.nparams != 0) {
        fprintf(stderr, "%s:%u:1: error: function 'main' must take no parameters\n", path,
                main_info.firstline);
        GvProgram_Free(p);
        return EXIT_USAGE;
    }
    int status = 0;
    int rc = GvProgram_Run(p, &status);
    GvProgram_Free(p);
    if (rc < 0) status = GvErr_PrintEx();
    fflush(stdout);
    return status;
}

static int cmd_asm(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0) {
            if (i + 1 >= argc) return usage_error("%s", "-o needs a file name");
            out = argv[++i];
        } else if (!in) {
            in = argv[i];
        } else {
            return usage_error("unexpected argument '%s'", argv[i]);
        }
    }
    if (!in) return usage_error("%s", "asm needs an input file");
    if (!out) return usage_error("%s", "asm needs -o OUTPUT");
    GvProgram *p = load(in);
    if (!p) return EXIT_USAGE;
    void *data;
    size_t len;
    if (GvProgram_Save(p, &data, &len) < 0) {
        GvProgram_Free(p);
        fprintf(stderr, "gilvm: out of memory\n");
        return EXIT_USAGE;
    }
    GvProgram_Free(p);
    FILE *f = fopen(out, "wb");
    bool ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    free(data);
    if (!ok) {
        fprintf(stderr, "gilvm: cannot write '%s'\n", out);
        return EXIT_USAGE;
    }
    return 0;
}

static int cmd_dis(int argc, char **argv) {
    if (argc == 1 && strcmp(argv[0], "--opcodes") == 0) {
        GvDis_PrintOpcodeReference(stdout);
        return 0;
    }
    if (argc == 1 && strcmp(argv[0], "--opcodes=language") == 0) {
        GvDis_PrintLanguageTables(stdout);
        return 0;
    }
    if (argc != 1) return usage_error("%s", "dis takes one file (or --opcodes, --opcodes=language)");
    GvProgram *p = load(argv[0]);
    if (!p) return EXIT_USAGE;
    GvProgram_Disassemble(p, stdout);
    GvProgram_Free(p);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        /* The compiler and dispatch too, as `python3 -VV` does: a benchmark
         * figure means little without them (bench/README.md, "PGO and compilers"). */
        printf("gilvm %s (%s)\n", Gv_GetVersion(), Gv_GetBuildInfo());
        return 0;
    }
    if (!Gv_Initialize()) {
        fprintf(stderr, "gilvm: cannot initialize the runtime (out of memory)\n");
        return EXIT_USAGE;
    }
    int status;
    Gv_InitSignals();
    bool gil_stats = false, schedule_digest = false, print_digest = false;
    FILE *timeline_out = NULL;
    if (strcmp(cmd, "run") == 0) {
        int first = 2;
        int trace = 0; /* 1 lines, 2 instructions */
        const char *mode = getenv("GILMODE");
        const char *schedule = NULL;
        const char *max_memory = NULL;
        const char *timeline = NULL;
        for (; first < argc && argv[first][0] == '-'; first++) {
            if (strcmp(argv[first], "--gil-stats") == 0) gil_stats = true;
            else if (strncmp(argv[first], "--max-memory=", 13) == 0) max_memory = argv[first] + 13;
            else if (strncmp(argv[first], "--gil=", 6) == 0) mode = argv[first] + 6;
            else if (strncmp(argv[first], "--schedule=", 11) == 0) schedule = argv[first] + 11;
            else if (strcmp(argv[first], "--schedule-digest") == 0) schedule_digest = true;
            else if (strcmp(argv[first], "--trace") == 0 || strcmp(argv[first], "--trace=line") == 0) trace = 1;
            else if (strcmp(argv[first], "--trace=op") == 0) trace = 2;
            else if (strncmp(argv[first], "--timeline=", 11) == 0) timeline = argv[first] + 11;
            else break;
        }
        int mode_ok = 0;
        if (mode && *mode) {
            int m = Gv_GILModeByName(mode);
            if (m < 0) mode_ok = -1;
            else Gv_SetGILMode((GvGILMode)m);
        }
        if (schedule && mode_ok == 0) {
            char *end;
            unsigned long long seed = strtoull(schedule, &end, 10);
            unsigned long n = 100;
            if (*end == ':') n = strtoul(end + 1, &end, 10);
            if (end == schedule || *end || n == 0 || n > 100000000) mode_ok = -2;
            else Gv_SetSchedule(seed, (unsigned)n);
        }
        size_t limit = 0;
        if (max_memory && strcmp(max_memory, "none") != 0 && parse_size(max_memory, &limit) < 0) mode_ok = -3;
        else Gv_SetMemoryLimit(max_memory ? limit : default_memory_limit());
        if (trace && first < argc) {
            load_source(argv[first]);
            GvEval_SetTraceOpcodes(trace == 2);
            GvEval_SetTraceAllThreads(print_trace, stderr);
        }
        if (mode_ok == -3)
            status = usage_error("bad --max-memory '%s' (bytes, or with K, M, G or T: 512M, 2G; or none)", max_memory);
        else if (mode_ok == -2)
            status = usage_error("bad --schedule '%s' (SEED or SEED:N, N from 1 to 100000000)", schedule);
        else if (mode_ok < 0)
            status = usage_error("unknown GIL mode '%s' (classic, priority, spin or adaptive)", mode);
        else if (schedule_digest && !schedule)
            status = usage_error("%s", "--schedule-digest needs --schedule=SEED[:N]");
        else if (first < argc && argv[first][0] == '-' && argv[first][1])
            status = usage_error("unknown option '%s'", argv[first]);
        else if (first >= argc) status = usage_error("%s", "run needs a file");
        else if (timeline && !*timeline) status = usage_error("%s", "--timeline needs a file name");
        else if (timeline && !(timeline_out = fopen(timeline, "w")))
            status = usage_error("cannot write the timeline to '%s'", timeline);
        else {
            if (timeline_out && GvTimeline_Start(0) < 0) status = GvErr_PrintEx();
            else status = cmd_run(argv[first], argc - first - 1, argv + first + 1);
            print_digest = schedule_digest;
        }
        /* As Python's exit: wait for the program's threads here, where a
         * Ctrl-C that interrupts the wait is reported like any uncaught
         * KeyboardInterrupt. */
        if (Gv_WaitForThreads() < 0) status = GvErr_PrintEx();
        if (timeline_out) {
            /* Daemon threads may still run: they are recorded up to here. */
            if (GvTimeline_IsRecording() && GvTimeline_Stop(write_timeline, timeline_out) < 0) {
                GvErr_Clear();
                fprintf(stderr, "gilvm: writing the timeline to '%s' failed\n", timeline);
                if (status == 0) status = 1;
            }
            if (fclose(timeline_out) != 0) {
                fprintf(stderr, "gilvm: writing the timeline to '%s' failed: %s\n", timeline, strerror(errno));
                if (status == 0) status = 1;
            }
        }
    } else if (strcmp(cmd, "asm") == 0) {
        status = cmd_asm(argc - 2, argv + 2);
    } else if (strcmp(cmd, "dis") == 0) {
        status = cmd_dis(argc - 2, argv + 2);
    } else if (cmd[0] == '-') {
        status = usage_error("unknown option '%s'", cmd);
    } else if (strchr(cmd, '.')) {
        Gv_SetMemoryLimit(default_memory_limit());
        status = cmd_run(cmd, argc - 2, argv + 2);
        if (Gv_WaitForThreads() < 0) status = GvErr_PrintEx();
    } else {
        status = usage_error("unknown command '%s'", cmd);
    }
    if (gil_stats || print_digest) {
        /* After the program's threads are done: Gv_Finalize would wait for
         * them too, but then the table could no longer be read. */
        if (gil_stats) print_gil_stats(stderr);
        if (print_digest) {
            unsigned long long handoffs;
            unsigned long long digest = Gv_GetScheduleDigest(&handoffs);
            fprintf(stderr, "gilvm: schedule digest %016llx (%llu handoffs)\n", digest, handoffs);
        }
    }
    GvEval_SetTraceAllThreads(NULL, NULL);
    Gv_Finalize();
    free(source.text);
    free(source.lines);
    return status;
}
