/* Frame I/O of the link engine's daemon in C: a batch of TAP reads or writes per call (issue 29).
 *
 * The same semantics as testbed/engine/tapio.py, which is the fallback and the reference; each Python
 * call there costs an exception at the end of every batch (BlockingIOError) and a call per frame.
 * A TAP gives one frame per read() and takes one per write(), so the system calls stay; what goes is
 * the interpreter around them. Times are CLOCK_MONOTONIC, the clock of Python's time.monotonic().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 65536

static unsigned char frame_buf[FRAME_MAX];

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* read_batch(fd, max) -> list of bytes: up to max frames, fewer when the TAP has no more (EAGAIN).
 * Another read error after some frames returns those (the error comes back on the next call);
 * with none read it raises OSError. */
static PyObject *read_batch(PyObject *self, PyObject *args) {
    int fd, max;
    if (!PyArg_ParseTuple(args, "ii", &fd, &max))
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < max; i++) {
        ssize_t n = read(fd, frame_buf, FRAME_MAX);   /* non-blocking: never waits, so the GIL stays */
        if (n < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0) {
                    Py_DECREF(out);
                    return NULL;
                }
                i--;
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK || PyList_GET_SIZE(out) > 0)
                break;
            Py_DECREF(out);
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        PyObject *b = PyBytes_FromStringAndSize((const char *)frame_buf, n);
        if (b == NULL || PyList_Append(out, b) < 0) {
            Py_XDECREF(b);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(b);
    }
    return out;
}

/* write_batch(fd, out) -> (errors, late): out is a list of (scheduled time, frame bytes) in departure
 * order; each frame is written, and its lateness (monotonic time after the write minus its scheduled
 * time) goes into `late`; a failed write (EIO while the peer is down, ...) is counted, not raised. */
static PyObject *write_batch(PyObject *self, PyObject *args) {
    int fd;
    PyObject *out;
    if (!PyArg_ParseTuple(args, "iO!", &fd, &PyList_Type, &out))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(out);
    PyObject *late = PyList_New(0);
    if (late == NULL)
        return NULL;
    long errors = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(out, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 2) {
            Py_DECREF(late);
            PyErr_SetString(PyExc_TypeError, "write_batch wants (time, bytes) tuples");
            return NULL;
        }
        double due = PyFloat_AsDouble(PyTuple_GET_ITEM(item, 0));
        PyObject *frame = PyTuple_GET_ITEM(item, 1);
        if ((due == -1.0 && PyErr_Occurred()) || !PyBytes_Check(frame)) {
            Py_DECREF(late);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "write_batch wants (time, bytes) tuples");
            return NULL;
        }
        ssize_t w = write(fd, PyBytes_AS_STRING(frame), (size_t)PyBytes_GET_SIZE(frame));
        if (w < 0) {
            errors++;
            continue;
        }
        PyObject *f = PyFloat_FromDouble(mono() - due);
        if (f == NULL || PyList_Append(late, f) < 0) {
            Py_XDECREF(f);
            Py_DECREF(late);
            return NULL;
        }
        Py_DECREF(f);
    }
    return Py_BuildValue("(lN)", errors, late);
}

/* pass_through(in_fd, out_fd, max, now) -> (frames, bytes, errors, late): a plain wire, read and
 * written straight through, up to max frames; lateness is the write time minus `now` (the read time
 * the model would have scheduled each frame at). A failed write counts as an error, the frame as out. */
static PyObject *pass_through(PyObject *self, PyObject *args) {
    int in_fd, out_fd, max;
    double now;
    if (!PyArg_ParseTuple(args, "iiid", &in_fd, &out_fd, &max, &now))
        return NULL;
    PyObject *late = PyList_New(0);
    if (late == NULL)
        return NULL;
    long frames = 0, errors = 0;
    long long nbytes = 0;
    for (int i = 0; i < max; i++) {
        ssize_t n = read(in_fd, frame_buf, FRAME_MAX);
        if (n < 0) {
            if (errno == EINTR) {
                i--;
                continue;
            }
            break;   /* EAGAIN: drained; another error: the next epoll turn sees it again */
        }
        frames++;
        nbytes += n;
        if (write(out_fd, frame_buf, (size_t)n) < 0) {
            errors++;
            continue;
        }
        PyObject *f = PyFloat_FromDouble(mono() - now);
        if (f == NULL || PyList_Append(late, f) < 0) {
            Py_XDECREF(f);
            Py_DECREF(late);
            return NULL;
        }
        Py_DECREF(f);
    }
    return Py_BuildValue("(lLlN)", frames, nbytes, errors, late);
}

/* timer_arm(fd, at): an absolute CLOCK_MONOTONIC timerfd fires once at monotonic time `at` (at once if it
 * has passed). The daemon re-arms it on most loop turns; through ctypes that cost 1-3 us a call. */
static PyObject *timer_arm(PyObject *self, PyObject *args) {
    int fd;
    double at;
    if (!PyArg_ParseTuple(args, "id", &fd, &at))
        return NULL;
    struct itimerspec spec = {{0, 0}, {0, 0}};
    time_t sec = (time_t)at;
    long nsec = (long)((at - (double)sec) * 1e9);
    if (sec < 0 || nsec < 0 || (sec == 0 && nsec == 0)) {
        sec = 0;    /* in the past: fire at once (an all-zero value would disarm) */
        nsec = 1;
    }
    spec.it_value.tv_sec = sec;
    spec.it_value.tv_nsec = nsec;
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* timer_disarm(fd): the timerfd will not fire until armed again. */
static PyObject *timer_disarm(PyObject *self, PyObject *args) {
    int fd;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    struct itimerspec spec = {{0, 0}, {0, 0}};
    if (timerfd_settime(fd, 0, &spec, NULL) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"read_batch", read_batch, METH_VARARGS, "read_batch(fd, max) -> list of frames"},
    {"write_batch", write_batch, METH_VARARGS, "write_batch(fd, [(due, frame)]) -> (errors, lateness list)"},
    {"pass_through", pass_through, METH_VARARGS,
     "pass_through(in_fd, out_fd, max, now) -> (frames, bytes, errors, lateness list)"},
    {"timer_arm", timer_arm, METH_VARARGS, "timer_arm(timerfd, at): fire once at monotonic time at"},
    {"timer_disarm", timer_disarm, METH_VARARGS, "timer_disarm(timerfd)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tapio", "Batched TAP frame I/O (C).", -1, methods};

PyMODINIT_FUNC PyInit__tapio(void) { return PyModule_Create(&module); }
