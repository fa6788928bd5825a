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
 *
 *   rtp_burst(fd, max_count, lane) -> Run | None
 *   rtp_run(datagrams, start, lane) -> Run
 *       The RTP fast lane (RtpPipeline.lane/take_run): recvmmsg up to max_count datagrams
 *       (None when none is waiting), or take a list of bytes, and account for the leading
 *       run of datagrams that RtpPipeline.packet would pass straight to the demuxer.
 *       lane = (next_seq, ssrc, max_seq, jitter, transit, arrival) where arrival is
 *       now * clock_rate. A datagram is on the lane when it is plain (first byte 0x80: V=2,
 *       no padding, extension or CSRC; second byte not 200..204, RTCP), carries ssrc, has
 *       sequence number next_seq (then next_seq + 1...) and is in order for the RFC 3550
 *       A.1 tracker (sequence - max_seq mod 2^16 < 3000). For each, the A.1 maximum and
 *       wrap count and the A.8 interarrival jitter are updated with the same double
 *       operations in the same order as ReceptionStats.update (built with
 *       -ffp-contract=off, so the results are bit-identical). The payloads are joined
 *       between RTP markers: one bytes object per chunk.
 *       Run = (chunks, ends_frame, rest, count, nbytes, max_seq, wraps, jitter, transit):
 *       every chunk but the last ends with a marker, the last one does when ends_frame;
 *       rest holds the datagrams from the first one off the lane on, for the Python path
 *       (rtp_run: always empty; the run is datagrams[start:start + count]).
 *
 *   length_prefixed(data) -> bytes
 *       es.annexb_to_length_prefixed(data, 4): Annex-B NAL units (trailing zero bytes
 *       stripped, empty ones skipped) each behind a 4-byte big-endian length.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
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

enum { ANY_CODE, VIDEO_CUT, PACK_START };

/* Whether a 00 00 01 at code (its bytes already checked) is what kind looks for; with
 * need = 4 the id byte after it must lie before stop too. */
static inline int
wanted_code(const unsigned char *data, Py_ssize_t code, Py_ssize_t stop, int kind)
{
    if (kind == ANY_CODE) {
        return code + 3 <= stop;
    }
    if (code + 4 > stop) {
        return 0;
    }
    return kind == VIDEO_CUT ? data[code + 3] >= 0xB9 : data[code + 3] == 0xBA;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* The first start code of kind in data[start:stop], or -1. 32 bytes at a time: a start code
 * needs two zero bytes in a row, which compressed video almost never has otherwise
 * (emulation prevention), so the rare candidates are checked one by one. */
static Py_ssize_t
find_code(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop, int kind)
{
    const __m128i zero = _mm_setzero_si128();
    Py_ssize_t at = start;
    uint64_t carry = 0; /* bit 0: the byte at at - 1 (inside the range) is zero */
    while (at + 32 <= stop) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(data + at));
        __m128i hi = _mm_loadu_si128((const __m128i *)(data + at + 16));
        uint64_t zeros = (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(lo, zero)) |
                         ((uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(hi, zero)) << 16);
        /* bit j of z: the byte at at - 1 + j is zero (j = 0..32) */
        uint64_t z = (zeros << 1) | carry;
        uint64_t pairs = z & (z >> 1) & 0xFFFFFFFFULL; /* pairs starting at at - 1 + j */
        while (pairs) {
            Py_ssize_t code = at - 1 + __builtin_ctzll(pairs);
            if (code + 2 < stop && data[code + 2] == 1 && wanted_code(data, code, stop, kind)) {
                return code;
            }
            pairs &= pairs - 1;
        }
        carry = (z >> 32) & 1;
        at += 32;
    }
    for (at = at > start ? at - 1 : at; at + 3 <= stop; at++) {
        if (data[at] == 0 && data[at + 1] == 0 && data[at + 2] == 1 &&
            wanted_code(data, at, stop, kind)) {
            return at;
        }
    }
    return -1;
}
#else
/* The same with memchr for the 01, then a look back. */
static Py_ssize_t
find_code(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop, int kind)
{
    Py_ssize_t at = start;
    while (at + 3 <= stop) {
        const unsigned char *p = memchr(data + at + 2, 1, (size_t)(stop - at - 2));
        if (p == NULL) {
            return -1;
        }
        Py_ssize_t code = (p - data) - 2;
        if (data[code] == 0 && data[code + 1] == 0 && wanted_code(data, code, stop, kind)) {
            return code;
        }
        at = code + 1;
    }
    return -1;
}
#endif

/* PsDemuxer._cut: for video any 00 00 01 xx with xx >= 0xB9, for audio a pack start. */
static Py_ssize_t
scan(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop, int video)
{
    return find_code(data, start, stop, video ? VIDEO_CUT : PACK_START);
}

/* The first 00 00 01 in data[start:stop], or -1. */
static Py_ssize_t
find_start_code(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop)
{
    return find_code(data, start, stop, ANY_CODE);
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

/* -- the RTP fast lane ------------------------------------------------------------- */

#define RTP_MAX_DROPOUT 3000 /* rtcp._MAX_DROPOUT */

typedef struct {
    long next;        /* the sequence number the jitter buffer expects, 16 bits */
    unsigned long ssrc;
    long max_seq;     /* ReceptionStats._max */
    double jitter;    /* ReceptionStats.jitter */
    double transit;   /* ReceptionStats._transit */
    double arrival;   /* now * clock_rate */
    long wraps;
    Py_ssize_t nbytes;
} Lane;

static int
parse_lane(PyObject *tuple, Lane *lane)
{
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "lane must be (next_seq, ssrc, max_seq, jitter, transit, arrival)");
        return -1;
    }
    lane->next = PyLong_AsLong(PyTuple_GET_ITEM(tuple, 0));
    lane->ssrc = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(tuple, 1));
    lane->max_seq = PyLong_AsLong(PyTuple_GET_ITEM(tuple, 2));
    lane->jitter = PyFloat_AsDouble(PyTuple_GET_ITEM(tuple, 3));
    lane->transit = PyFloat_AsDouble(PyTuple_GET_ITEM(tuple, 4));
    lane->arrival = PyFloat_AsDouble(PyTuple_GET_ITEM(tuple, 5));
    if (PyErr_Occurred()) {
        return -1;
    }
    if (lane->next < 0 || lane->next > 0xFFFF || lane->max_seq < 0 || lane->max_seq > 0xFFFF ||
        lane->ssrc > 0xFFFFFFFFUL) {
        PyErr_SetString(PyExc_ValueError, "lane sequence numbers are 16 bits, the SSRC 32");
        return -1;
    }
    lane->wraps = 0;
    lane->nbytes = 0;
    return 0;
}

/* Whether one datagram is on the lane; if so, account for it like RtpPipeline.packet. */
static int
on_lane(Lane *lane, const unsigned char *p, Py_ssize_t n)
{
    if (n < 12 || p[0] != 0x80 || (p[1] >= 200 && p[1] <= 204)) {
        return 0;
    }
    long seq = ((long)p[2] << 8) | p[3];
    unsigned long ts = ((unsigned long)p[4] << 24) | ((unsigned long)p[5] << 16) |
                       ((unsigned long)p[6] << 8) | p[7];
    unsigned long ssrc = ((unsigned long)p[8] << 24) | ((unsigned long)p[9] << 16) |
                         ((unsigned long)p[10] << 8) | p[11];
    if (ssrc != lane->ssrc || seq != lane->next || ((seq - lane->max_seq) & 0xFFFF) >= RTP_MAX_DROPOUT) {
        return 0;
    }
    /* ReceptionStats.update, in-order branch (RFC 3550 A.1), then A.8. */
    if (seq < lane->max_seq) {
        lane->wraps++;
    }
    lane->max_seq = seq;
    double transit = lane->arrival - (double)ts;
    double d = fabs(transit - lane->transit);
    lane->jitter += (d - lane->jitter) / 16;
    lane->transit = transit;
    lane->next = (seq + 1) & 0xFFFF;
    lane->nbytes += n;
    return 1;
}

/* The run's payloads joined between markers; NULL with an exception on failure. */
static PyObject *
join_chunks(const unsigned char *const *data, const Py_ssize_t *size, Py_ssize_t count,
            int *ends_frame)
{
    PyObject *chunks = PyList_New(0);
    if (chunks == NULL) {
        return NULL;
    }
    *ends_frame = 0;
    Py_ssize_t first = 0;
    while (first < count) {
        Py_ssize_t last = first, total = 0;
        for (;; last++) {
            total += size[last] - 12;
            if ((data[last][1] & 0x80) || last == count - 1) {
                break;
            }
        }
        PyObject *chunk = PyBytes_FromStringAndSize(NULL, total);
        if (chunk == NULL) {
            Py_DECREF(chunks);
            return NULL;
        }
        char *out = PyBytes_AS_STRING(chunk);
        for (Py_ssize_t i = first; i <= last; i++) {
            memcpy(out, data[i] + 12, (size_t)(size[i] - 12));
            out += size[i] - 12;
        }
        int appended = PyList_Append(chunks, chunk);
        Py_DECREF(chunk);
        if (appended < 0) {
            Py_DECREF(chunks);
            return NULL;
        }
        *ends_frame = (data[last][1] & 0x80) != 0;
        first = last + 1;
    }
    return chunks;
}

static PyObject *
run_result(PyObject *chunks, int ends_frame, PyObject *rest, Py_ssize_t count, const Lane *lane)
{
    /* Steals chunks and rest. */
    if (chunks == NULL || rest == NULL) {
        Py_XDECREF(chunks);
        Py_XDECREF(rest);
        return NULL;
    }
    return Py_BuildValue("(NONnnlldd)", chunks, ends_frame ? Py_True : Py_False, rest, count,
                         lane->nbytes, lane->max_seq, lane->wraps, lane->jitter, lane->transit);
}

static PyObject *
rtp_burst(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "rtp_burst(fd, max_count, lane) takes three arguments");
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
        PyErr_SetString(PyExc_ValueError, "rtp_burst needs fd >= 0 and max_count >= 1");
        return NULL;
    }
    Lane lane;
    if (parse_lane(args[2], &lane) < 0) {
        return NULL;
    }
    unsigned int want = wanted > MAX_BURST ? MAX_BURST : (unsigned int)wanted;
    for (unsigned int i = 0; i < want; i++) {
        iovecs[i].iov_base = buffers[i];
        iovecs[i].iov_len = MAX_DATAGRAM;
        memset(&headers[i].msg_hdr, 0, sizeof(headers[i].msg_hdr));
        headers[i].msg_hdr.msg_iov = &iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    int got;
    do {
        got = recvmmsg((int)fd, headers, want, MSG_DONTWAIT, NULL);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            Py_RETURN_NONE;
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    const unsigned char *data[MAX_BURST];
    Py_ssize_t size[MAX_BURST];
    Py_ssize_t count = 0;
    for (int i = 0; i < got; i++) {
        data[i] = (const unsigned char *)buffers[i];
        size[i] = (Py_ssize_t)headers[i].msg_len;
    }
    while (count < got && on_lane(&lane, data[count], size[count])) {
        count++;
    }
    int ends_frame = 0;
    PyObject *chunks = join_chunks(data, size, count, &ends_frame);
    PyObject *rest = chunks == NULL ? NULL : PyList_New(got - count);
    for (Py_ssize_t i = count; rest != NULL && i < got; i++) {
        PyObject *item = PyBytes_FromStringAndSize((const char *)data[i], size[i]);
        if (item == NULL) {
            Py_CLEAR(rest);
            break;
        }
        PyList_SET_ITEM(rest, i - count, item);
    }
    return run_result(chunks, ends_frame, rest, count, &lane);
}

static PyObject *
rtp_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "rtp_run(datagrams, start, lane) takes three arguments");
        return NULL;
    }
    (void)module;
    PyObject *list = args[0];
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "rtp_run needs a list of bytes");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Lane lane;
    if (parse_lane(args[2], &lane) < 0) {
        return NULL;
    }
    Py_ssize_t total = PyList_GET_SIZE(list);
    start = clamp(start, total);
    Py_ssize_t room = total - start;
    const unsigned char *small_data[MAX_BURST];
    Py_ssize_t small_size[MAX_BURST];
    const unsigned char **data = small_data;
    Py_ssize_t *size = small_size;
    if (room > MAX_BURST) {
        data = PyMem_Malloc((size_t)room * sizeof(*data));
        size = PyMem_Malloc((size_t)room * sizeof(*size));
        if (data == NULL || size == NULL) {
            PyMem_Free(data);
            PyMem_Free(size);
            return PyErr_NoMemory();
        }
    }
    Py_ssize_t count = 0;
    int bad = 0;
    while (count < room) {
        PyObject *item = PyList_GET_ITEM(list, start + count);
        if (!PyBytes_Check(item)) {
            bad = count == 0; /* a non-bytes item ends the run; first of all: an error */
            break;
        }
        data[count] = (const unsigned char *)PyBytes_AS_STRING(item);
        size[count] = PyBytes_GET_SIZE(item);
        if (!on_lane(&lane, data[count], size[count])) {
            break;
        }
        count++;
    }
    PyObject *result = NULL;
    if (bad) {
        PyErr_SetString(PyExc_TypeError, "rtp_run needs a list of bytes");
    } else {
        int ends_frame = 0;
        PyObject *chunks = join_chunks(data, size, count, &ends_frame);
        result = run_result(chunks, ends_frame, chunks == NULL ? NULL : PyList_New(0), count,
                            &lane);
    }
    if (data != small_data) {
        PyMem_Free(data);
        PyMem_Free(size);
    }
    return result;
}

/* -- Annex-B to length-prefixed ----------------------------------------------------- */

static PyObject *
length_prefixed(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)view.buf;
    Py_ssize_t size = view.len;
    /* One scan for the NAL units (from after a start code to the next one or the end,
     * trailing zero bytes stripped, empty ones skipped), then one copy. */
    Py_ssize_t small[2 * 64];
    Py_ssize_t *nals = small, room = 64, count = 0, total = 0;
    PyObject *out = NULL;
    Py_ssize_t found = find_start_code(data, 0, size);
    while (found >= 0) {
        Py_ssize_t start = found + 3;
        found = find_start_code(data, start, size);
        Py_ssize_t end = found < 0 ? size : found;
        while (end > start && data[end - 1] == 0) {
            end--;
        }
        if (end <= start) {
            continue;
        }
        if (end - start > 0xFFFFFFFFLL) {
            PyErr_SetString(PyExc_OverflowError, "NAL unit too big for a 4-byte length");
            goto done;
        }
        if (count == room) {
            Py_ssize_t *bigger = PyMem_Malloc((size_t)room * 4 * sizeof(*bigger));
            if (bigger == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            memcpy(bigger, nals, (size_t)count * 2 * sizeof(*nals));
            if (nals != small) {
                PyMem_Free(nals);
            }
            nals = bigger;
            room *= 2;
        }
        nals[2 * count] = start;
        nals[2 * count + 1] = end;
        count++;
        total += 4 + end - start;
    }
    out = PyBytes_FromStringAndSize(NULL, total);
    if (out != NULL) {
        unsigned char *w = (unsigned char *)PyBytes_AS_STRING(out);
        for (Py_ssize_t i = 0; i < count; i++) {
            Py_ssize_t n = nals[2 * i + 1] - nals[2 * i];
            w[0] = (unsigned char)(n >> 24);
            w[1] = (unsigned char)(n >> 16);
            w[2] = (unsigned char)(n >> 8);
            w[3] = (unsigned char)n;
            memcpy(w + 4, data + nals[2 * i], (size_t)n);
            w += 4 + n;
        }
    }
done:
    if (nals != small) {
        PyMem_Free(nals);
    }
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"recv_burst", (PyCFunction)(void (*)(void))recv_burst, METH_FASTCALL,
     "Up to max_count waiting datagrams of a non-blocking socket, read with recvmmsg."},
    {"start_code", (PyCFunction)(void (*)(void))start_code, METH_FASTCALL,
     "The first 00 00 01 in buf[start:stop], or -1."},
    {"packet_start", (PyCFunction)(void (*)(void))packet_start, METH_FASTCALL,
     "The first PS packet start code in buf[start:stop], or -1."},
    {"rtp_burst", (PyCFunction)(void (*)(void))rtp_burst, METH_FASTCALL,
     "recvmmsg a burst; account for its leading fast-lane run and join its payloads."},
    {"rtp_run", (PyCFunction)(void (*)(void))rtp_run, METH_FASTCALL,
     "The fast lane of rtp_burst over a list of datagrams."},
    {"length_prefixed", (PyCFunction)length_prefixed, METH_O,
     "Annex-B NAL units as 4-byte length-prefixed ones."},
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
