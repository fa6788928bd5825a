/* The physical limit for benchmarks/media_streams.py: a plain C UDP receiver.
 *
 *   udp_sink FIRST_PORT COUNT STEP SECONDS
 *
 * Binds COUNT UDP sockets on 127.0.0.1 (FIRST_PORT, FIRST_PORT + STEP, ...), waits on them with
 * epoll and drains each ready socket with recvmmsg, counting datagrams and bytes and doing
 * nothing else. Prints "ready" once bound and, after SECONDS, one line:
 *   packets=N bytes=N cpu_s=F
 * Built by the benchmark with the system's cc; not part of sightline.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define DGRAM 2048

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s FIRST_PORT COUNT STEP SECONDS\n", argv[0]);
        return 2;
    }
    int first = atoi(argv[1]), count = atoi(argv[2]), step = atoi(argv[3]);
    double seconds = atof(argv[4]);
    int ep = epoll_create1(0);
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int size = 4 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(first + i * step)};
        addr.sin_addr.s_addr = htonl(0x7F000001);
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
            perror("bind");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    printf("ready\n");
    fflush(stdout);
    static char bufs[BATCH][DGRAM];
    struct mmsghdr msgs[BATCH];
    struct iovec iovs[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iovs[i].iov_base = bufs[i];
        iovs[i].iov_len = DGRAM;
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long long packets = 0, bytes = 0;
    double end = now_s() + seconds;
    struct epoll_event events[256];
    while (now_s() < end) {
        int ready = epoll_wait(ep, events, 256, 100);
        for (int e = 0; e < ready; e++) {
            int got;
            while ((got = recvmmsg(events[e].data.fd, msgs, BATCH, 0, NULL)) > 0) {
                packets += got;
                for (int i = 0; i < got; i++) bytes += msgs[i].msg_len;
            }
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("packets=%lld bytes=%lld cpu_s=%.3f\n", packets, bytes, cpu);
    return 0;
}
