/* One call per frame for the simulator's RTP send: cut a PS pack into RTP packets exactly as
 * sightline.media.rtp.RtpPacketiser does (every packet carries the frame's timestamp, the last
 * one has the marker bit, payloads of at most max_payload bytes) and hand them all to the
 * kernel with sendmmsg on a non-blocking UDP socket. The payload is not copied: each message
 * is two iovecs, a 12-byte header and a slice of the pack. A full socket buffer (EAGAIN) drops
 * the rest of the frame, as a camera does; it never blocks. The pure-Python path in
 * sightline.sim.media_session is the reference (tests compare the datagrams byte for byte).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 64

static int
parse_address(const char *host, int port, struct sockaddr_storage *addr, socklen_t *len)
{
    memset(addr, 0, sizeof(*addr));
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
        return 0;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        return 0;
    }
    return -1;
}

static PyObject *
send_rtp(PyObject *self, PyObject *args)
{
    int fd, port, payload_type, max_payload;
    const char *host;
    Py_buffer pack;
    unsigned long ssrc, sequence, timestamp;
    if (!PyArg_ParseTuple(args, "i(si)y*ikkki:send_rtp", &fd, &host, &port, &pack,
                          &payload_type, &ssrc, &sequence, &timestamp, &max_payload))
        return NULL;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (max_payload <= 0 || payload_type < 0 || payload_type > 127 || port < 0 || port > 65535) {
        PyBuffer_Release(&pack);
        PyErr_SetString(PyExc_ValueError, "bad payload type, port or max_payload");
        return NULL;
    }
    if (parse_address(host, port, &addr, &addr_len) < 0) {
        PyBuffer_Release(&pack);
        PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
        return NULL;
    }
    const unsigned char *data = pack.buf;
    Py_ssize_t size = pack.len;
    Py_ssize_t count = size == 0 ? 1 : (size + max_payload - 1) / max_payload;
    unsigned seq = (unsigned)(sequence & 0xFFFF);
    uint32_t ts = (uint32_t)(timestamp & 0xFFFFFFFFu);
    uint32_t ssrc32 = (uint32_t)(ssrc & 0xFFFFFFFFu);
    Py_ssize_t sent = 0, sent_bytes = 0, index = 0;
    int failed = 0;
    unsigned char headers[BATCH][12];
    struct iovec iov[BATCH][2];
    struct mmsghdr msgs[BATCH];

    Py_BEGIN_ALLOW_THREADS
    while (index < count && !failed) {
        int n = 0;
        for (; n < BATCH && index + n < count; n++) {
            Py_ssize_t i = index + n;
            Py_ssize_t start = i * max_payload;
            Py_ssize_t len = size - start < max_payload ? size - start : max_payload;
            unsigned s = (seq + (unsigned)i) & 0xFFFF;
            unsigned char *h = headers[n];
            h[0] = 0x80;
            h[1] = (unsigned char)(payload_type | (i == count - 1 ? 0x80 : 0));
            h[2] = (unsigned char)(s >> 8);
            h[3] = (unsigned char)s;
            h[4] = (unsigned char)(ts >> 24);
            h[5] = (unsigned char)(ts >> 16);
            h[6] = (unsigned char)(ts >> 8);
            h[7] = (unsigned char)ts;
            h[8] = (unsigned char)(ssrc32 >> 24);
            h[9] = (unsigned char)(ssrc32 >> 16);
            h[10] = (unsigned char)(ssrc32 >> 8);
            h[11] = (unsigned char)ssrc32;
            iov[n][0].iov_base = h;
            iov[n][0].iov_len = 12;
            iov[n][1].iov_base = (void *)(data + start);
            iov[n][1].iov_len = (size_t)(len > 0 ? len : 0);
            memset(&msgs[n], 0, sizeof(msgs[n]));
            msgs[n].msg_hdr.msg_name = &addr;
            msgs[n].msg_hdr.msg_namelen = addr_len;
            msgs[n].msg_hdr.msg_iov = iov[n];
            msgs[n].msg_hdr.msg_iovlen = 2;
        }
        int done = 0;
        while (done < n) {
            int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), MSG_DONTWAIT);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                failed = errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? -1 : errno;
                break;
            }
            for (int k = done; k < done + r; k++)
                sent_bytes += 12 + (Py_ssize_t)iov[k][1].iov_len;
            done += r;
        }
        sent += done;
        index += n;
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&pack);
    if (failed > 0) {
        errno = failed;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("(inn)", (int)((seq + (unsigned)count) & 0xFFFF), sent, sent_bytes);
}

static PyMethodDef methods[] = {
    {"send_rtp", send_rtp, METH_VARARGS,
     "send_rtp(fd, (host, port), pack, payload_type, ssrc, sequence, timestamp, max_payload, /)"
     " -> (next_sequence, packets_sent, bytes_sent): the pack as RTP packets in one sendmmsg."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sightline.sim._fastsend",
    "The simulator's RTP send in one call per frame (sendmmsg).", -1, methods,
};

PyMODINIT_FUNC
PyInit__fastsend(void)
{
    return PyModule_Create(&module);
}
