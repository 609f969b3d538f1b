/* Exceptions: the builtin exception types (static, immortal objects), the
 * instances programs raise, and the tracebacks they collect while unwinding. */
#ifndef GV_EXC_H
#define GV_EXC_H

#include "code.h"
#include "object.h"

/* An exception type. Only exception classes are first-class types here. */
typedef struct GvType {
    GvObject ob;
    const char *name;
    struct GvType *base; /* NULL for BaseException */
} GvType;

/* One frame's entry in a traceback. The chain runs from the outermost frame
 * (where it was caught or left the program) to the innermost (where it was
 * raised): unwinding prepends an entry for each frame it passes. */
typedef struct GvTraceback {
    GvObject ob;
    struct GvTraceback *next; /* strong: the frame it was called from... inner */
    GvCode *code;             /* strong */
    uint32_t pc;              /* the instruction that raised or called */
} GvTraceback;

typedef struct GvException {
    GvObject ob;
    GvTracked link;        /* never on the container list; once dead, the
                              trashcan chains it here (an exception's arg can be
                              an exception, nested as deep as a program likes) */
    GvType *type;          /* static */
    GvObject *message;     /* str, strong: str(e) */
    GvValue arg;           /* strong: the argument it was made with (SystemExit's code) */
    GvObject *context;     /* exception, strong or NULL: the one being handled when raised */
    uint64_t context_omitted; /* exceptions cut out of the chain between this one and
                              context (runtime/errors.c caps chains), or
                              GV_CONTEXT_OMITTED_UNKNOWN (context is then NULL) */
    GvTraceback *traceback;/* strong or NULL */
} GvException;

/* An unknown number of older exceptions were cut off (see gv_err_set_exc). */
#define GV_CONTEXT_OMITTED_UNKNOWN UINT64_MAX

/* The builtin types, as static objects: X(name, base type or NULL). */
#define GV_EXC_TYPES(X)                           \
    X(BaseException, NULL)                        \
    X(Exception, &gv_type_BaseException)          \
    X(KeyboardInterrupt, &gv_type_BaseException)  \
    X(SystemExit, &gv_type_BaseException)         \
    X(TypeError, &gv_type_Exception)              \
    X(ValueError, &gv_type_Exception)             \
    X(NameError, &gv_type_Exception)              \
    X(IndexError, &gv_type_Exception)             \
    X(KeyError, &gv_type_Exception)               \
    X(ZeroDivisionError, &gv_type_Exception)      \
    X(OverflowError, &gv_type_Exception)          \
    X(RuntimeError, &gv_type_Exception)           \
    X(RecursionError, &gv_type_RuntimeError)      \
    X(MemoryError, &gv_type_Exception)           \
    X(StopIteration, &gv_type_Exception)         \
    X(GeneratorExit, &gv_type_BaseException)

#define GV_DECLARE_TYPE(name, base) extern GvType gv_type_##name;
GV_EXC_TYPES(GV_DECLARE_TYPE)
#undef GV_DECLARE_TYPE

/* Calls X(name, base) for every builtin type (for registering builtins). */
GvType *const *gv_exc_all_types(size_t *count);

bool gv_type_is_subtype(const GvType *t, const GvType *base);
/* A new instance; message may be NULL (empty). arg is borrowed. */
GvObject *gv_exc_new(GvType *type, GvObject *message, GvValue arg);
static inline GvException *gv_as_exc(GvValue v) { return (GvException *)v.as.o; }

/* Prepends (code, pc) to e's traceback. Fails only on MemoryError, in which
 * case the traceback is just shorter: tracebacks never replace the error. */
void gv_exc_add_traceback(GvException *e, GvCode *code, uint32_t pc);

/* Prints the exception as Python does (chained contexts first, "Traceback
 * (most recent call last):", one "  File ..., line N, in F" and source line
 * per entry, then "Type: message") to the FILE*. Source lines are read
 * from the file named in the code object when it can be read. */
void gv_exc_print(GvObject *exc, void *file /* FILE* */);

#endif
