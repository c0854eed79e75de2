/* nbrun._fastlog: the common case of Run.log in one C call (issue 16).
 *
 * log(run, data, step, commit) does what nbrun/_run/run.py's Run.log and Run._write_pending do
 * when every value is a float and the row fits the writer's open FloatBlock: check the
 * payload, merge it into the pending row, and when a row is written, update the summary's
 * last values and append the packed record (the bytes FloatBlock.pack gives: int64 step, then
 * float64 values in the block's `names` order, little-endian) to the block's bytearray.
 *
 * It returns True when it did the whole call, False when the call is not the common case;
 * then it has changed NOTHING and the caller runs the Python path, which does everything
 * (checks, errors, warnings, new blocks, summaries with aggregates, step sync, feeds...).
 * Everything is checked before anything changes, so a False costs only the checks.
 *
 * The state lives where the Python path keeps it (attributes of the run, its summary and
 * its writer, read from their instance dicts), so the two paths can alternate call by call.
 * What it does with a written row is the contract of rule 71: Summary.observe_floats and
 * Writer.append_floats, done here in place, and Writer.seal, called; every name it reads is
 * in layout_names below, checked at import. The GIL is held throughout; the only call into
 * Python is writer.seal() when the block is full, at the point where the Python path calls it.
 *
 * encode_floats(...) is the writer's encoder of a sealed block (issue 24): the chunk's columns
 * and the per-column statistics of its state, computed with the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

/* interned attribute names */
static PyObject *s_state, *s_stop_requested, *s_step, *s_pending, *s_floats, *s_sync,
    *s_summary, *s_writer, *s_feeds, *s_t0_wall, *s_user, *s_has_aggregates, *s_last,
    *s_block, *s_enqueued, *s_seal, *s_names, *s_size, *s_rec, *s_full, *s_data;
/* the contract's operations this file does in place (checked, never called) */
static PyObject *s_observe_floats, *s_append_floats, *s_append;
static PyObject *live_states = NULL; /* set by setup() */

/* the last block seen: its fields, cached (a block's layout never changes) */
static PyObject *c_block = NULL; /* strong reference: its address is not reused meanwhile */
static PyObject *c_data = NULL;  /* block.data, a bytearray */
static PyObject *c_fields = NULL; /* block.names without _runtime/_timestamp */
static Py_ssize_t c_nfields, c_size, c_rec, c_full;

#define MAX_FIELDS 256 /* wider rows take the Python path */
/* _history.MAX_STEP (rule 43): a larger step, given or the run's own, takes the Python path,
 * which raises */
#define MAX_STEP 9007199254740991LL /* 2**53 - 1 */

static int
is_system_key(PyObject *k)
{
    /* "_step", "_runtime", "_timestamp": the Python path drops or treats them apart */
    Py_ssize_t n = PyUnicode_GET_LENGTH(k);
    if (n < 5 || n > 10 || PyUnicode_READ_CHAR(k, 0) != '_')
        return 0;
    return PyUnicode_CompareWithASCIIString(k, "_step") == 0 ||
           PyUnicode_CompareWithASCIIString(k, "_runtime") == 0 ||
           PyUnicode_CompareWithASCIIString(k, "_timestamp") == 0;
}

/* an item of an instance dict, borrowed; NULL (no error set) when missing */
static PyObject *
item(PyObject *d, PyObject *key)
{
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL)
        PyErr_Clear();
    return v;
}

static int
long_value(PyObject *o, long long *out)
{
    int overflow = 0;
    if (o == NULL || !PyLong_CheckExact(o))
        return 0;
    *out = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (*out == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

static int
ssize_attr(PyObject *o, PyObject *name, Py_ssize_t *out)
{
    long long v = -1;
    PyObject *a = PyObject_GetAttr(o, name);
    if (a == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = long_value(a, &v);
    Py_DECREF(a);
    *out = (Py_ssize_t)v;
    return ok && v >= 0;
}

/* make `block` the cached one; 0 when its layout is not one this code packs */
static int
cache_block(PyObject *block)
{
    PyObject *data = NULL, *names = NULL, *fields = NULL;
    Py_ssize_t size, rec, full, nnames;
    if (!ssize_attr(block, s_size, &size) || !ssize_attr(block, s_rec, &rec) ||
        !ssize_attr(block, s_full, &full))
        return 0;
    data = PyObject_GetAttr(block, s_data);
    names = PyObject_GetAttr(block, s_names);
    if (data == NULL || names == NULL || !PyByteArray_CheckExact(data) ||
        !PyTuple_CheckExact(names))
        goto fail;
    nnames = PyTuple_GET_SIZE(names);
    if (nnames < 3 || nnames - 2 > MAX_FIELDS || rec != 8 + 8 * nnames)
        goto fail;
    fields = PyTuple_GetSlice(names, 0, nnames - 2);
    if (fields == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < nnames - 2; i++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(fields, i)))
            goto fail;
    }
    Py_DECREF(names);
    Py_INCREF(block);
    Py_XSETREF(c_block, block);
    Py_XSETREF(c_data, data);
    Py_XSETREF(c_fields, fields);
    c_nfields = nnames - 2;
    c_size = size;
    c_rec = rec;
    c_full = full;
    return 1;
fail:
    PyErr_Clear();
    Py_XDECREF(data);
    Py_XDECREF(names);
    Py_XDECREF(fields);
    return 0;
}

static unsigned long long n_taken = 0, n_passed = 0; /* calls done here / sent to Python */
static PyObject *clock_fn = NULL; /* set_clock(): a Python clock instead (tests) */

/* time.time() as CPython computes it (nanoseconds of CLOCK_REALTIME to a double); -1 on error */
static int
now_seconds(double *out)
{
    struct timespec ts;
    if (clock_fn != NULL) {
        PyObject *t = PyObject_CallNoArgs(clock_fn);
        if (t == NULL)
            return -1;
        *out = PyFloat_AsDouble(t);
        Py_DECREF(t);
        return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
    }
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    if (ns % 1000000000LL == 0)
        *out = (double)(ns / 1000000000LL);
    else
        *out = (double)ns / 1e9;
    return 0;
}

static void
put_le(unsigned char *p, const void *src)
{
#if PY_LITTLE_ENDIAN
    memcpy(p, src, 8);
#else
    const unsigned char *s = (const unsigned char *)src;
    for (int i = 0; i < 8; i++)
        p[i] = s[7 - i];
#endif
}

/* what a write needs, gathered and checked before anything changes */
typedef struct {
    /* strong references once can_write said yes (write_done drops them): an allocation in
     * between may run a collection, finalizers and so other threads, which may log to
     * another run (the block cache changes) */
    PyObject *summary_last; /* summary._last */
    PyObject *writer;
    PyObject *writer_dict;
    PyObject *data; /* the block's bytearray */
    Py_ssize_t nfields, rec, full;
    long long enqueued;
    double t0_wall;
    double values[MAX_FIELDS];
} Write;

/* Values of the row `first` updated by `second` (either may be NULL) in the cached block's
 * field order; 1 when that row fits the block: exactly its user keys, all floats. */
static int
gather(PyObject *first, PyObject *second, double *values)
{
    Py_ssize_t count = first != NULL ? PyDict_GET_SIZE(first) : 0;
    if (second != NULL) {
        count += PyDict_GET_SIZE(second);
        if (first != NULL) { /* keys of `second` already in `first` count once */
            Py_ssize_t pos = 0;
            PyObject *k, *v;
            while (PyDict_Next(second, &pos, &k, &v)) {
                if (PyDict_GetItemWithError(first, k) != NULL)
                    count--;
                else if (PyErr_Occurred()) {
                    PyErr_Clear();
                    return 0;
                }
            }
        }
    }
    if (count != c_size)
        return 0;
    for (Py_ssize_t i = 0; i < c_nfields; i++) {
        PyObject *key = PyTuple_GET_ITEM(c_fields, i);
        PyObject *v = second != NULL ? item(second, key) : NULL;
        if (v == NULL && first != NULL)
            v = item(first, key);
        if (v == NULL || !PyFloat_CheckExact(v))
            return 0;
        values[i] = PyFloat_AS_DOUBLE(v);
    }
    return 1;
}

/* Whether a row (`first` updated by `second`) can be written here; fills `w`. */
static int
can_write(PyObject *rd, PyObject *first, PyObject *second, Write *w)
{
    PyObject *o, *sd, *block;
    if (first != NULL && item(rd, s_floats) != Py_True)
        return 0; /* the pending row holds values other than floats */
    o = item(rd, s_sync);
    if (o == NULL || !PyList_CheckExact(o) || PyList_GET_SIZE(o) != 0)
        return 0;
    o = item(rd, s_feeds);
    if (o == NULL || !PyList_CheckExact(o) || PyList_GET_SIZE(o) != 0)
        return 0;
    o = item(rd, s_t0_wall);
    if (o == NULL || !PyFloat_CheckExact(o))
        return 0;
    w->t0_wall = PyFloat_AS_DOUBLE(o);
    /* the summary: no values set by hand, no aggregates (Summary.observe_floats, rule 71) */
    o = item(rd, s_summary);
    if (o == NULL)
        return 0;
    sd = PyObject_GenericGetDict(o, NULL);
    if (sd == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(sd); /* the summary (which the run holds) keeps its dict */
    o = item(sd, s_user);
    if (o == NULL || !PyDict_CheckExact(o) || PyDict_GET_SIZE(o) != 0)
        return 0;
    if (item(sd, s_has_aggregates) != Py_False)
        return 0;
    w->summary_last = item(sd, s_last);
    if (w->summary_last == NULL || !PyDict_CheckExact(w->summary_last))
        return 0;
    /* the writer's open block */
    w->writer = item(rd, s_writer);
    if (w->writer == NULL)
        return 0;
    w->writer_dict = PyObject_GenericGetDict(w->writer, NULL);
    if (w->writer_dict == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(w->writer_dict); /* kept alive by the writer */
    block = item(w->writer_dict, s_block);
    if (block == NULL || block == Py_None)
        return 0;
    if (!long_value(item(w->writer_dict, s_enqueued), &w->enqueued))
        return 0;
    if (block != c_block && !cache_block(block))
        return 0;
    if (!gather(first, second, w->values))
        return 0;
    w->data = c_data;
    w->nfields = c_nfields;
    w->rec = c_rec;
    w->full = c_full;
    Py_INCREF(w->summary_last);
    Py_INCREF(w->writer);
    Py_INCREF(w->writer_dict);
    Py_INCREF(w->data);
    return 1;
}

static void
write_done(Write *w)
{
    Py_CLEAR(w->summary_last);
    Py_CLEAR(w->writer);
    Py_CLEAR(w->writer_dict);
    Py_CLEAR(w->data);
}

/* Run._write_pending for a row that can_write accepted (the row is the pending dict). With
 * `moves` (the caller then moves the step and makes a new pending row at once) the empty
 * pending row and the step + 1 in between are skipped, unless the block is full: then
 * writer.seal() runs Python code (it may wait for the writer), which must see the state the
 * Python path leaves at that point. */
static int
write_row(PyObject *rd, PyObject *row, Write *w, long long step, int moves)
{
    PyObject *tmp;
    unsigned char rec[8 * (MAX_FIELDS + 3)];
    Py_ssize_t old = PyByteArray_GET_SIZE(w->data);
    int seal = old + w->rec >= w->full;
    double now, runtime;
    int r;

    if (!moves || seal) {
        tmp = PyDict_New();
        if (tmp == NULL)
            return -1;
        Py_INCREF(row); /* keep it while the run's dict lets it go */
        r = PyDict_SetItem(rd, s_pending, tmp);
        Py_DECREF(tmp);
        if (r < 0) {
            Py_DECREF(row);
            return -1;
        }
        r = PyDict_Update(w->summary_last, row);
        Py_DECREF(row);
    } else {
        r = PyDict_Update(w->summary_last, row);
    }
    if (r < 0)
        return -1;
    if (now_seconds(&now) < 0)
        return -1;
    runtime = now - w->t0_wall;
    if (!moves || seal) {
        tmp = PyLong_FromLongLong(step + 1);
        if (tmp == NULL)
            return -1;
        r = PyDict_SetItem(rd, s_step, tmp);
        Py_DECREF(tmp);
        if (r < 0)
            return -1;
    }
    put_le(rec, &step);
    for (Py_ssize_t i = 0; i < w->nfields; i++)
        put_le(rec + 8 + 8 * i, &w->values[i]);
    put_le(rec + 8 + 8 * w->nfields, &runtime);
    put_le(rec + 16 + 8 * w->nfields, &now);
    if (PyByteArray_Resize(w->data, old + w->rec) < 0)
        return -1;
    memcpy(PyByteArray_AS_STRING(w->data) + old, rec, (size_t)w->rec);
    tmp = PyLong_FromLongLong(w->enqueued + 1);
    if (tmp == NULL)
        return -1;
    r = PyDict_SetItem(w->writer_dict, s_enqueued, tmp);
    Py_DECREF(tmp);
    if (r < 0)
        return -1;
    if (seal) {
        tmp = PyObject_CallMethodNoArgs(w->writer, s_seal);
        if (tmp == NULL)
            return -1;
        Py_DECREF(tmp);
    }
    return 0;
}

/* the pending row becomes a copy of `data` (every value a float) */
static int
set_pending_copy(PyObject *rd, PyObject *data, int floats_set)
{
    PyObject *copy = PyDict_Copy(data);
    if (copy == NULL)
        return -1;
    int r = PyDict_SetItem(rd, s_pending, copy);
    Py_DECREF(copy);
    if (r < 0)
        return -1;
    return floats_set ? 0 : PyDict_SetItem(rd, s_floats, Py_True);
}

/* Run.log(data, step, commit) when it is the common case: 1 done, 0 not the common case
 * (nothing changed), -1 error. */
static int fast_log_(PyObject *run, PyObject *data, PyObject *step_o, PyObject *commit);

static int
fast_log(PyObject *run, PyObject *data, PyObject *step_o, PyObject *commit)
{
    int r = fast_log_(run, data, step_o, commit);
    if (r > 0)
        n_taken++;
    else if (r == 0)
        n_passed++;
    return r;
}

static int
fast_log_(PyObject *run, PyObject *data, PyObject *step_o, PyObject *commit)
{
    PyObject *rd, *pending, *o, *k, *v;
    long long current, step;
    Py_ssize_t pos = 0;
    int commit_now, write_old = 0, empty, r;
    Write w; /* (its references are set by can_write; the values need no clearing) */

    w.summary_last = w.writer = w.writer_dict = w.data = NULL;

    /* 1. checks: nothing changes before all of them have passed */
    if (live_states == NULL || !PyDict_CheckExact(data) || PyDict_GET_SIZE(data) == 0)
        return 0;
    if (commit != Py_None && commit != Py_True && commit != Py_False)
        return 0;
    while (PyDict_Next(data, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k) || !PyFloat_CheckExact(v) || is_system_key(k))
            return 0;
    }
    rd = PyObject_GenericGetDict(run, NULL);
    if (rd == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(rd); /* the run keeps its dict alive */
    o = item(rd, s_state);
    if (o == NULL || !PyUnicode_CheckExact(o) || PySet_Contains(live_states, o) != 1) {
        PyErr_Clear();
        return 0; /* not running: the Python path raises */
    }
    if (item(rd, s_stop_requested) != Py_False)
        return 0;
    if (!long_value(item(rd, s_step), &current) || current > MAX_STEP)
        return 0;
    pending = item(rd, s_pending);
    if (pending == NULL || !PyDict_CheckExact(pending))
        return 0;
    empty = PyDict_GET_SIZE(pending) == 0;
    if (step_o != Py_None) {
        /* a smaller step is dropped with a warning; a huge one is the Python path's too */
        if (!long_value(step_o, &step) || step < current || step > MAX_STEP)
            return 0;
        write_old = step != current && !empty;
        commit_now = commit == Py_True;
    } else {
        step = current;
        commit_now = commit != Py_False;
    }
    if (write_old) {
        if (commit_now || !can_write(rd, pending, NULL, &w))
            return 0; /* two rows written by one call: the Python path */
    } else if (commit_now) {
        if (!can_write(rd, empty ? NULL : pending, data, &w))
            return 0;
    }

    /* 2. the call, in the Python path's order */
    if (write_old) {
        Py_INCREF(pending);
        r = write_row(rd, pending, &w, current, 1);
        Py_DECREF(pending);
        if (r < 0)
            goto error;
        pending = NULL;
        empty = 1; /* the written row is no longer pending */
    }
    if (step != current && PyDict_SetItem(rd, s_step, step_o) < 0)
        goto error;
    if (empty) {
        if (set_pending_copy(rd, data, write_old) < 0)
            goto error; /* (write_old: can_write saw _floats True) */
    } else if (PyDict_Update(pending, data) < 0) {
        goto error; /* (every value a float: the pending row's flag stays as it is) */
    }
    if (commit_now) {
        pending = item(rd, s_pending);
        if (pending == NULL)
            goto error;
        Py_INCREF(pending);
        r = write_row(rd, pending, &w, step, 0);
        Py_DECREF(pending);
        if (r < 0)
            goto error;
    }
    write_done(&w);
    return 1;
error:
    write_done(&w);
    return -1;
}

static PyObject *
fastlog_log(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "log(run, data, step, commit) takes 4 arguments");
        return NULL;
    }
    int r = fast_log(args[0], args[1], args[2], args[3]);
    if (r < 0)
        return NULL;
    return PyBool_FromLong(r);
}

/* -- LogMethod: Run.log itself, the fast path in front of the Python method ----------------- */
typedef struct {
    PyObject_HEAD
    PyObject *fallback; /* the Python method: everything that is not the common case */
    vectorcallfunc vectorcall;
} LogMethod;

static PyObject *s_step_kw, *s_commit_kw;

static PyObject *
logmethod_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    LogMethod *m = (LogMethod *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *step = Py_None, *commit = Py_None;
    int r;

    if (nargs >= 2 && nargs <= 4) {
        if (nargs > 2)
            step = args[2];
        if (nargs > 3)
            commit = args[3];
        if (kwnames != NULL) {
            Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
            for (Py_ssize_t i = 0; i < nk; i++) {
                PyObject *name = PyTuple_GET_ITEM(kwnames, i);
                if (nargs <= 2 && step == Py_None && (name == s_step_kw ||
                    PyUnicode_Compare(name, s_step_kw) == 0))
                    step = args[nargs + i];
                else if (nargs <= 3 && commit == Py_None && (name == s_commit_kw ||
                         PyUnicode_Compare(name, s_commit_kw) == 0))
                    commit = args[nargs + i];
                else
                    goto fallback; /* unknown or repeated: the Python method says so */
            }
            if (PyErr_Occurred())
                return NULL;
        }
        r = fast_log(args[0], args[1], step, commit);
        if (r < 0)
            return NULL;
        if (r > 0)
            Py_RETURN_NONE;
    }
fallback:
    return PyObject_Vectorcall(m->fallback, args, nargsf, kwnames);
}

static PyObject *
logmethod_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *fallback;
    if (!PyArg_ParseTuple(args, "O:LogMethod", &fallback))
        return NULL;
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "LogMethod(fallback): fallback must be callable");
        return NULL;
    }
    LogMethod *m = (LogMethod *)type->tp_alloc(type, 0);
    if (m == NULL)
        return NULL;
    Py_INCREF(fallback);
    m->fallback = fallback;
    m->vectorcall = logmethod_vectorcall;
    return (PyObject *)m;
}

static int
logmethod_traverse(LogMethod *m, visitproc visit, void *arg)
{
    Py_VISIT(m->fallback);
    return 0;
}

static int
logmethod_clear(LogMethod *m)
{
    Py_CLEAR(m->fallback);
    return 0;
}

static void
logmethod_dealloc(LogMethod *m)
{
    PyObject_GC_UnTrack(m);
    logmethod_clear(m);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static PyObject *
logmethod_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

/* __doc__, __name__, __qualname__, __module__, __wrapped__: the Python method's */
static PyObject *
logmethod_forward(LogMethod *m, void *name)
{
    if (m->fallback == NULL)
        Py_RETURN_NONE;
    if (strcmp((const char *)name, "__wrapped__") == 0) {
        Py_INCREF(m->fallback);
        return m->fallback;
    }
    return PyObject_GetAttrString(m->fallback, (const char *)name);
}

static PyGetSetDef logmethod_getset[] = {
    {"__doc__", (getter)logmethod_forward, NULL, NULL, "__doc__"},
    {"__name__", (getter)logmethod_forward, NULL, NULL, "__name__"},
    {"__qualname__", (getter)logmethod_forward, NULL, NULL, "__qualname__"},
    {"__module__", (getter)logmethod_forward, NULL, NULL, "__module__"},
    {"__wrapped__", (getter)logmethod_forward, NULL, NULL, "__wrapped__"},
    {NULL},
};

static PyTypeObject LogMethodType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nbrun._fastlog.LogMethod",
    .tp_basicsize = sizeof(LogMethod),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "LogMethod(fallback): a method whose common case runs in C (see fast_log); "
              "every other call goes to fallback, the Python method, unchanged.",
    .tp_new = logmethod_new,
    .tp_dealloc = (destructor)logmethod_dealloc,
    .tp_traverse = (traverseproc)logmethod_traverse,
    .tp_clear = (inquiry)logmethod_clear,
    .tp_descr_get = logmethod_get,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(LogMethod, vectorcall),
    .tp_getset = logmethod_getset,
};

static PyObject *
fastlog_setup(PyObject *module, PyObject *states)
{
    if (!PyAnySet_Check(states)) {
        PyErr_SetString(PyExc_TypeError, "setup(live_states): a set of state names");
        return NULL;
    }
    Py_INCREF(states);
    Py_XSETREF(live_states, states);
    Py_RETURN_NONE;
}

static PyObject *
fastlog_set_clock(PyObject *module, PyObject *fn)
{
    if (fn == Py_None) {
        Py_CLEAR(clock_fn);
    } else {
        Py_INCREF(fn);
        Py_XSETREF(clock_fn, fn);
    }
    Py_RETURN_NONE;
}

static PyObject *
fastlog_counts(PyObject *module, PyObject *unused)
{
    return Py_BuildValue("(KK)", n_taken, n_passed);
}

static PyObject *
fastlog_forget(PyObject *module, PyObject *unused)
{
    Py_CLEAR(c_block);
    Py_CLEAR(c_data);
    Py_CLEAR(c_fields);
    Py_RETURN_NONE;
}


/* -- encode_floats: a sealed block's records as a chunk's columns, off the GIL (issue 24) ---- */

/* a little-endian 8-byte word of a record as a double / an int64 */
static double
get_f8(const unsigned char *p)
{
    double v;
#if PY_LITTLE_ENDIAN
    memcpy(&v, p, 8);
#else
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = p[7 - i];
    memcpy(&v, b, 8);
#endif
    return v;
}

/* per-column statistics, as nbrun/_history/blocks.py's state update computes them */
typedef struct {
    double first, last, total, lo, hi;
    int nan, have; /* a NaN was seen; lo/hi were set (a value that is not NaN was seen) */
    /* finite values: their count, the rows of the first lowest and first highest (-1: none) */
    Py_ssize_t finite, at_lo, at_hi;
} Stats;

/* sum() of the column's floats as Python computes sum(list_of_floats): left to right until
 * 3.12, with Neumaier's compensation since (bltinmodule.c's builtin_sum_impl) */
static double
python_sum(const unsigned char *base, Py_ssize_t n, Py_ssize_t stride)
{
#if PY_VERSION_HEX >= 0x030C0000
    /* sum() starts from the int 0: 0 + x0 (so -0.0 gives 0.0), then the float loop */
    double f = 0.0 + get_f8(base), c = 0.0;
    for (Py_ssize_t i = 1; i < n; i++) {
        double x = get_f8(base + i * stride);
        double t = f + x;
        if (fabs(f) >= fabs(x))
            c += (f - t) + x;
        else
            c += (x - t) + f;
        f = t;
    }
    if (c && isfinite(c))
        f += c;
    return f;
#else
    /* numpy's cumsum()[-1]: x0 + x1 + ... left to right (blocks.py's _sum before 3.12) */
    double f = get_f8(base);
    for (Py_ssize_t i = 1; i < n; i++)
        f += get_f8(base + i * stride);
    return f;
#endif
}

static void
column_stats(const unsigned char *base, Py_ssize_t n, Py_ssize_t stride, Stats *s)
{
    s->first = get_f8(base);
    s->last = get_f8(base + (n - 1) * stride);
    s->total = python_sum(base, n, stride);
    s->nan = s->have = 0;
    s->lo = s->hi = 0.0;
    s->finite = 0;
    s->at_lo = s->at_hi = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        double v = get_f8(base + i * stride);
        if (v != v) {
            s->nan = 1;
            continue;
        }
        if (isfinite(v)) { /* numpy's argmin / argmax over the finite values */
            if (s->finite == 0 || v < get_f8(base + s->at_lo * stride))
                s->at_lo = i;
            if (s->finite == 0 || v > get_f8(base + s->at_hi * stride))
                s->at_hi = i;
            s->finite++;
        }
        if (!s->have) { /* Python's min/max of a list: the first of equal values wins */
            s->lo = s->hi = v;
            s->have = 1;
            continue;
        }
        if (v < s->lo)
            s->lo = v;
        if (v > s->hi)
            s->hi = v;
    }
}

/* the word indices of tuple `t` (each in [0, width)) in a new array (PyMem_Free it); NULL on
 * error */
static Py_ssize_t *
index_tuple(PyObject *t, Py_ssize_t width)
{
    Py_ssize_t k = PyTuple_GET_SIZE(t);
    Py_ssize_t *out = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(k ? k : 1));
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        Py_ssize_t j = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, i));
        if (j == -1 && PyErr_Occurred())
            goto fail;
        if (j < 0 || j >= width) {
            PyErr_Format(PyExc_ValueError, "encode_floats: word %zd outside a record of %zd",
                         j, width);
            goto fail;
        }
        out[i] = j;
    }
    return out;
fail:
    PyMem_Free(out);
    return NULL;
}

static PyObject *
stats_tuple(const Stats *s)
{
    if (!s->have)
        return Py_BuildValue("(dddOOOnnn)", s->first, s->last, s->total,
                             s->nan ? Py_True : Py_False, Py_None, Py_None, s->finite, s->at_lo,
                             s->at_hi);
    return Py_BuildValue("(dddOddnnn)", s->first, s->last, s->total, s->nan ? Py_True : Py_False,
                         s->lo, s->hi, s->finite, s->at_lo, s->at_hi);
}

/* encode_floats(data, width, columns, stats, prefix) -> (chunk bytes, [stats...]) */
static PyObject *
fastlog_encode_floats(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *data, *cols_t, *stats_t, *prefix, *out = NULL, *list = NULL, *result = NULL;
    Py_ssize_t width, n, ncols, nstats, plen, *cols = NULL, *which = NULL;
    Stats *stats = NULL;

    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "encode_floats(data, width, columns, stats, prefix) takes 5 arguments");
        return NULL;
    }
    data = args[0], cols_t = args[2], stats_t = args[3], prefix = args[4];
    width = PyLong_AsSsize_t(args[1]);
    if (width == -1 && PyErr_Occurred())
        return NULL;
    if (!PyBytes_CheckExact(data) || !PyBytes_CheckExact(prefix) || !PyTuple_CheckExact(cols_t) ||
        !PyTuple_CheckExact(stats_t) || width < 1) {
        PyErr_SetString(PyExc_TypeError, "encode_floats(bytes, int >= 1, tuple, tuple, bytes)");
        return NULL;
    }
    if (PyBytes_GET_SIZE(data) == 0 || PyBytes_GET_SIZE(data) % (8 * width) != 0) {
        PyErr_SetString(PyExc_ValueError, "encode_floats: data is not whole records");
        return NULL;
    }
    if (PyBytes_GET_SIZE(data) / (8 * width) > (PY_SSIZE_T_MAX - PyBytes_GET_SIZE(prefix)) /
                                                      (8 * (PyTuple_GET_SIZE(cols_t) + 1))) {
        PyErr_SetString(PyExc_OverflowError, "encode_floats: chunk too large");
        return NULL;
    }
    cols = index_tuple(cols_t, width);
    if (cols == NULL)
        return NULL;
    which = index_tuple(stats_t, width);
    if (which == NULL) {
        PyMem_Free(cols);
        return NULL;
    }
    n = PyBytes_GET_SIZE(data) / (8 * width);
    ncols = PyTuple_GET_SIZE(cols_t);
    nstats = PyTuple_GET_SIZE(stats_t);
    plen = PyBytes_GET_SIZE(prefix);
    out = PyBytes_FromStringAndSize(NULL, plen + n * 8 * ncols);
    stats = PyMem_Malloc(sizeof(Stats) * (size_t)(nstats ? nstats : 1));
    if (out == NULL || stats == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    {
        /* `data` and `prefix` are immutable bytes the caller holds; `out` and `stats` are
         * ours, seen by no other thread yet: the byte work needs no GIL */
        const unsigned char *src = (const unsigned char *)PyBytes_AS_STRING(data);
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
        Py_ssize_t stride = 8 * width;
        Py_BEGIN_ALLOW_THREADS
        memcpy(dst, PyBytes_AS_STRING(prefix), (size_t)plen);
        dst += plen;
        for (Py_ssize_t c = 0; c < ncols; c++) {
            const unsigned char *p = src + 8 * cols[c];
            for (Py_ssize_t i = 0; i < n; i++, p += stride, dst += 8)
                memcpy(dst, p, 8);
        }
        for (Py_ssize_t k = 0; k < nstats; k++)
            column_stats(src + 8 * which[k], n, stride, &stats[k]);
        Py_END_ALLOW_THREADS
    }
    list = PyList_New(nstats);
    if (list == NULL)
        goto done;
    for (Py_ssize_t k = 0; k < nstats; k++) {
        PyObject *t = stats_tuple(&stats[k]);
        if (t == NULL)
            goto done;
        PyList_SET_ITEM(list, k, t);
    }
    result = PyTuple_Pack(2, out, list);
done:
    PyMem_Free(cols);
    PyMem_Free(which);
    PyMem_Free(stats);
    Py_XDECREF(out);
    Py_XDECREF(list);
    return result;
}

static PyMethodDef fastlog_methods[] = {
    {"log", (PyCFunction)(void (*)(void))fastlog_log, METH_FASTCALL,
     "log(run, data, step, commit) -> bool\n\nDo Run.log's common case (a dict of str keys to "
     "floats, a row that fits the writer's open block) and return True; return False, having "
     "changed nothing, for anything else."},
    {"setup", fastlog_setup, METH_O, "setup(live_states): the run states in which log works."},
    {"set_clock", fastlog_set_clock, METH_O,
     "set_clock(fn): the rows' wall clock is fn() instead of time.time()'s (tests); None "
     "for the real one."},
    {"counts", fastlog_counts, METH_NOARGS,
     "counts() -> (taken, passed): calls done in C and calls sent to the Python path."},
    {"forget", fastlog_forget, METH_NOARGS, "Drop the cached block."},
    {"encode_floats", (PyCFunction)(void (*)(void))fastlog_encode_floats, METH_FASTCALL,
     "encode_floats(data, width, columns, stats, prefix) -> (chunk, stats)\n\n`data`: "
     "records of `width` little-endian 8-byte words. The chunk is `prefix` followed, for each "
     "word index in `columns`, by that word of every record; `stats` holds, for each word "
     "index in `stats`, (first, last, sum as Python sums, NaN seen, min, max, finite count, row "
     "of the first lowest finite, row of the first highest finite) of those words as doubles "
     "(min/max None when all are NaN, rows -1 when none is finite). The byte work runs with "
     "the GIL released."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastlog_module = {
    PyModuleDef_HEAD_INIT, "_fastlog",
    "Run.log's common case in one C call (see nbrun/_fastlog.c).", -1, fastlog_methods,
    NULL, NULL, NULL, NULL,
};

/* The hot path's contract (rule 71), in one place: every attribute this file reads or writes
 * by name, with whose it is and how it is reached: "dict" = a key of the owner's instance
 * __dict__ (set in its __init__), "attr" = got with getattr (FloatBlock's slots), "method" =
 * a method: one this file calls (Writer.seal) or one whose work it does in place, reading
 * the state named above it (Summary.observe_floats, Writer.append_floats, FloatBlock.append:
 * the Python path calls them; a renamed one means this file no longer matches the Python
 * path). The names are interned from this table and exported as _fastlog.LAYOUT, which
 * nbrun/_run/run.py checks at import against the classes (a name missing there is a
 * RuntimeWarning naming it, and log runs the Python path; tests/unit/test_fastlog.py fails),
 * so this file and that check cannot drift apart (issue 24). */
static const struct {
    PyObject **var;
    const char *owner, *kind, *name;
} layout_names[] = {
    {&s_state, "Run", "dict", "_state"},
    {&s_stop_requested, "Run", "dict", "_stop_requested"},
    {&s_step, "Run", "dict", "_step"},
    {&s_pending, "Run", "dict", "_pending"},
    {&s_floats, "Run", "dict", "_floats"},
    {&s_sync, "Run", "dict", "_sync"},
    {&s_summary, "Run", "dict", "summary"},
    {&s_writer, "Run", "dict", "_writer"},
    {&s_feeds, "Run", "dict", "_feeds"},
    {&s_t0_wall, "Run", "dict", "_t0_wall"},
    {&s_observe_floats, "Summary", "method", "observe_floats"},
    {&s_user, "Summary", "dict", "_user"},
    {&s_has_aggregates, "Summary", "dict", "has_aggregates"},
    {&s_last, "Summary", "dict", "_last"},
    {&s_append_floats, "Writer", "method", "append_floats"},
    {&s_block, "Writer", "dict", "block"},
    {&s_enqueued, "Writer", "dict", "enqueued"},
    {&s_seal, "Writer", "method", "seal"},
    {&s_append, "FloatBlock", "method", "append"},
    {&s_names, "FloatBlock", "attr", "names"},
    {&s_size, "FloatBlock", "attr", "size"},
    {&s_rec, "FloatBlock", "attr", "rec"},
    {&s_full, "FloatBlock", "attr", "full"},
    {&s_data, "FloatBlock", "attr", "data"},
};
#define N_LAYOUT (sizeof(layout_names) / sizeof(layout_names[0]))

static int
intern_layout(void)
{
    for (size_t i = 0; i < N_LAYOUT; i++) {
        *layout_names[i].var = PyUnicode_InternFromString(layout_names[i].name);
        if (*layout_names[i].var == NULL)
            return -1;
    }
    return 0;
}

/* LAYOUT: ((owner, kind, name), ...) in the table's order */
static PyObject *
layout_tuple(void)
{
    PyObject *t = PyTuple_New((Py_ssize_t)N_LAYOUT);
    if (t == NULL)
        return NULL;
    for (size_t i = 0; i < N_LAYOUT; i++) {
        PyObject *e = Py_BuildValue("(ssO)", layout_names[i].owner, layout_names[i].kind,
                                    *layout_names[i].var);
        if (e == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, e);
    }
    return t;
}

#define INTERN(var, text)                                                                   \
    do {                                                                                    \
        var = PyUnicode_InternFromString(text);                                             \
        if (var == NULL)                                                                    \
            return NULL;                                                                    \
    } while (0)

PyMODINIT_FUNC
PyInit__fastlog(void)
{
    PyObject *mod, *layout;
    if (intern_layout() < 0)
        return NULL;
    INTERN(s_step_kw, "step");
    INTERN(s_commit_kw, "commit");
    if (PyType_Ready(&LogMethodType) < 0)
        return NULL;
    mod = PyModule_Create(&fastlog_module);
    if (mod == NULL)
        return NULL;
    Py_INCREF(&LogMethodType);
    if (PyModule_AddObject(mod, "LogMethod", (PyObject *)&LogMethodType) < 0) {
        Py_DECREF(&LogMethodType);
        Py_DECREF(mod);
        return NULL;
    }
    layout = layout_tuple();
    if (layout == NULL || PyModule_AddObject(mod, "LAYOUT", layout) < 0) {
        Py_XDECREF(layout);
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
