/* sightline.media._fastrtp: the hottest loops of the RTP receive path, in C.
 *
 * Optional: setup.py builds it when a C compiler is there, and every caller falls back to
 * the pure-Python code (the reference, tested against this) when the import fails.
 *
 *   recv_burst(fd, max_count) -> list[bytes]
 *       Up to max_count datagrams waiting on a non-blocking UDP socket, read with one
 *       recvmmsg(2) call instead of one recv(2) and one Python call each; [] when none is
 *       waiting. Raises OSError for other socket errors, like socket.recv.
 *
 *   start_code(buf, start, stop) -> int
 *       The first 00 00 01 inside buf[start:stop], or -1: what re.compile(b"\\x00\\x00\\x01")
 *       .search(buf, start, stop) finds, with memchr (the NAL scan of every frame).
 *
 *   packet_start(buf, start, stop, video) -> int
 *       PsDemuxer._cut: the first MPEG-PS packet start code inside buf[start:stop], or -1.
 *       For video (stream_id >= 0xE0) any 00 00 01 xx with xx >= 0xB9 whose four bytes lie
 *       before stop; for audio only a pack start 00 00 01 BA. start/stop are clamped like
 *       re.Pattern.search's pos/endpos.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define MAX_BURST 64
#define MAX_DATAGRAM 65536

/* The GIL is held for the whole call, so one set of buffers serves every socket. Pages are
 * only committed once touched: a burst of 1,400-byte datagrams uses one page per slot. */
static char buffers[MAX_BURST][MAX_DATAGRAM];
static struct iovec iovecs[MAX_BURST];
static struct mmsghdr headers[MAX_BURST];

static PyObject *
recv_burst(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "recv_burst(fd, max_count) takes two arguments");
        return NULL;
    }
    (void)module;
    long fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long wanted = PyLong_AsLong(args[1]);
    if (wanted == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (fd < 0 || fd > INT_MAX || wanted < 1) {
        PyErr_SetString(PyExc_ValueError, "recv_burst needs fd >= 0 and max_count >= 1");
        return NULL;
    }
    unsigned int count = wanted > MAX_BURST ? MAX_BURST : (unsigned int)wanted;
    for (unsigned int i = 0; i < count; i++) {
        iovecs[i].iov_base = buffers[i];
        iovecs[i].iov_len = MAX_DATAGRAM;
        memset(&headers[i].msg_hdr, 0, sizeof(headers[i].msg_hdr));
        headers[i].msg_hdr.msg_iov = &iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    int got;
    do {
        got = recvmmsg((int)fd, headers, count, MSG_DONTWAIT, NULL);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return PyList_New(0);
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *out = PyList_New(got);
    if (out == NULL) {
        return NULL;
    }
    for (int i = 0; i < got; i++) {
        PyObject *data = PyBytes_FromStringAndSize(buffers[i], (Py_ssize_t)headers[i].msg_len);
        if (data == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, data);
    }
    return out;
}

static Py_ssize_t
clamp(Py_ssize_t value, Py_ssize_t size)
{
    /* Like re's pos/endpos: negative means 0, not "from the end". */
    if (value < 0) {
        return 0;
    }
    return value > size ? size : value;
}

static Py_ssize_t
scan(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop, int video)
{
    /* A candidate needs all four bytes before stop. */
    Py_ssize_t last = stop - 4;
    Py_ssize_t at = start;
    while (at <= last) {
        const unsigned char *p = memchr(data + at + 2, 1, (size_t)(last - at + 1));
        if (p == NULL) {
            return -1;
        }
        Py_ssize_t one = p - data; /* a 01 at one: the start code would begin at one - 2 */
        Py_ssize_t code = one - 2;
        if (data[code] == 0 && data[code + 1] == 0) {
            unsigned char id = data[one + 1];
            if (video ? id >= 0xB9 : id == 0xBA) {
                return code;
            }
        }
        at = code + 1;
    }
    return -1;
}

/* The first 00 00 01 in data[start:stop], or -1: memchr for the 01, then look back. */
static Py_ssize_t
find_start_code(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop)
{
    Py_ssize_t at = start;
    while (at + 3 <= stop) {
        const unsigned char *p = memchr(data + at + 2, 1, (size_t)(stop - at - 2));
        if (p == NULL) {
            return -1;
        }
        Py_ssize_t code = (p - data) - 2;
        if (data[code] == 0 && data[code + 1] == 0) {
            return code;
        }
        at = code + 1;
    }
    return -1;
}

static int
buffer_range(PyObject *const *args, Py_buffer *view, Py_ssize_t *start, Py_ssize_t *stop)
{
    *start = PyLong_AsSsize_t(args[1]);
    if (*start == -1 && PyErr_Occurred()) {
        return -1;
    }
    *stop = PyLong_AsSsize_t(args[2]);
    if (*stop == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    *start = clamp(*start, view->len);
    *stop = clamp(*stop, view->len);
    return 0;
}

static PyObject *
start_code(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "start_code(buf, start, stop) takes three arguments");
        return NULL;
    }
    (void)module;
    Py_buffer view;
    Py_ssize_t start, stop;
    if (buffer_range(args, &view, &start, &stop) < 0) {
        return NULL;
    }
    Py_ssize_t found = find_start_code((const unsigned char *)view.buf, start, stop);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(found);
}

static PyObject *
packet_start(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "packet_start(buf, start, stop, video) takes four arguments");
        return NULL;
    }
    (void)module;
    int video = PyObject_IsTrue(args[3]);
    if (video < 0) {
        return NULL;
    }
    Py_buffer view;
    Py_ssize_t start, stop;
    if (buffer_range(args, &view, &start, &stop) < 0) {
        return NULL;
    }
    Py_ssize_t found = scan((const unsigned char *)view.buf, start, stop, video);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(found);
}

static PyMethodDef methods[] = {
    {"recv_burst", (PyCFunction)(void (*)(void))recv_burst, METH_FASTCALL,
     "Up to max_count waiting datagrams of a non-blocking socket, read with recvmmsg."},
    {"start_code", (PyCFunction)(void (*)(void))start_code, METH_FASTCALL,
     "The first 00 00 01 in buf[start:stop], or -1."},
    {"packet_start", (PyCFunction)(void (*)(void))packet_start, METH_FASTCALL,
     "The first PS packet start code in buf[start:stop], or -1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "sightline.media._fastrtp",
    "The RTP receive path's hot loops in C (optional; pure-Python fallbacks exist).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__fastrtp(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "MAX_BURST", MAX_BURST) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
