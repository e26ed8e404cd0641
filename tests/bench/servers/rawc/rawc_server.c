/*
 * rawc_server: the "practical limit" peer of the netsys benchmark.
 *
 * A single-threaded, level-triggered epoll server in plain C that speaks just
 * enough of the netsys wire protocol v1 (docs/protocol.md) to follow the bench
 * server contract (tests/bench/README.md): answer HELLO with WELCOME, echo
 * every DATA frame except sink messages (first payload byte 'S'), answer
 * PING with PONG, close on CLOSE or on anything malformed.
 *
 * It is meant to be as cheap as a server for this protocol can reasonably be,
 * so that every other server can be quoted as a ratio of it:
 *   - one read() per readiness event into one shared 2 MiB buffer, all
 *     complete frames handled, all answers leaving in one write();
 *   - per connection only a small struct; bytes of an incomplete frame, or
 *     answers the socket could not take yet, are the only per-connection
 *     heap memory, freed as soon as they are consumed. Idle connections thus
 *     cost almost nothing in user space;
 *   - a connection with unsent answers is not read until they are flushed
 *     (TCP backpressure instead of unbounded buffering).
 *
 * Usage: PORT=9000 rawc_server   (listens on 127.0.0.1:$PORT, runs until
 * SIGTERM/SIGINT). With SPIN=1 it busy-polls (epoll_wait with a zero
 * timeout, never sleeping): the reference for the low-latency modes, which
 * trade a whole CPU for not waking an idle vCPU on every message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    HDR = 6,
    T_HELLO = 1, T_WELCOME = 2, T_DATA = 4, T_PING = 5, T_PONG = 6, T_CLOSE = 7,
    MAX_MESSAGE = 1 << 20,
    BUF_SIZE = 2 * (MAX_MESSAGE + HDR), /* holds a whole frame plus a read */
    MAX_EVENTS = 256,
};

struct conn {
    int fd;
    int open;            /* HELLO received, WELCOME sent */
    uint64_t session;
    char *in;            /* bytes of an incomplete frame, or NULL */
    size_t in_len;
    char *out;           /* answers not yet accepted by the socket, or NULL */
    size_t out_len, out_off;
};

static char rbuf[BUF_SIZE];
static char wbuf[BUF_SIZE + 64];
static volatile sig_atomic_t stop;
static int ep;

static void on_signal(int sig) { (void)sig; stop = 1; }

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static char *put_hdr(char *p, uint32_t len, int type) {
    p[0] = (char)(len >> 24); p[1] = (char)(len >> 16); p[2] = (char)(len >> 8);
    p[3] = (char)len; p[4] = (char)type; p[5] = 0;
    return p + HDR;
}

/* WELCOME: version 1, max_message, session id, codec 0, min_compress 0,
 * no transforms (20 bytes). */
static char *put_welcome(char *p, uint64_t session) {
    p = put_hdr(p, 20, T_WELCOME);
    *p++ = 0; *p++ = 1;
    for (int i = 3; i >= 0; i--) *p++ = (char)((uint32_t)MAX_MESSAGE >> (8 * i));
    for (int i = 7; i >= 0; i--) *p++ = (char)(session >> (8 * i));
    *p++ = 0;
    *p++ = 0; *p++ = 0; *p++ = 0; *p++ = 0;
    *p++ = 0;
    return p;
}

static void conn_close(struct conn *c) {
    close(c->fd); /* also removes it from the epoll set */
    free(c->in);
    free(c->out);
    free(c);
}

static void set_events(struct conn *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write what is pending in c->out. Returns -1 on error, 0 when all is out. */
static int flush_out(struct conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return 1;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    return 0;
}

/* Handle the frames in buf[0:len): answers go to wbuf and leave in one
 * write; an incomplete tail is kept in c->in. Returns -1 to close.
 * Answers never outgrow wbuf: each echo or PONG is exactly as long as the
 * frame it answers, and the one WELCOME (26 bytes) is at most 9 bytes longer
 * than the smallest valid HELLO (17 bytes): wbuf has 64 bytes of slack. */
static int handle(struct conn *c, char *buf, size_t len) {
    char *w = wbuf;
    size_t pos = 0;
    int rc = 0;
    while (len - pos >= HDR) {
        const unsigned char *h = (const unsigned char *)buf + pos;
        uint32_t n = get32(h);
        int type = h[4];
        if (n > MAX_MESSAGE || h[5] != 0) { rc = -1; break; }
        if (len - pos < HDR + (size_t)n) break;
        const char *payload = buf + pos + HDR;
        pos += HDR + n;
        if (!c->open) {
            /* A HELLO has at least 11 payload bytes; its options are
             * ignored: this server offers no codec and no transform. */
            if (type != T_HELLO || n < 11) { rc = -1; break; }
            c->open = 1;
            w = put_welcome(w, c->session);
        } else if (type == T_DATA) {
            if (n == 0 || payload[0] != 'S') {
                w = put_hdr(w, n, T_DATA);
                memcpy(w, payload, n);
                w += n;
            }
        } else if (type == T_PING) {
            w = put_hdr(w, n, T_PONG);
            memcpy(w, payload, n);
            w += n;
        } else if (type == T_PONG) {
            /* nothing */
        } else {
            rc = -1; /* CLOSE or unexpected: close */
            break;
        }
    }
    if (rc == 0 && pos < len) {
        char *keep = malloc(len - pos);
        if (!keep) return -1;
        memcpy(keep, buf + pos, len - pos);
        c->in = keep;
        c->in_len = len - pos;
    }
    if (w > wbuf) {
        size_t wl = (size_t)(w - wbuf), off = 0;
        while (off < wl) {
            ssize_t k = write(c->fd, wbuf + off, wl - off);
            if (k < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                return -1;
            }
            off += (size_t)k;
        }
        if (off < wl) { /* keep the rest, stop reading until it is out */
            c->out = malloc(wl - off);
            if (!c->out) return -1;
            memcpy(c->out, wbuf + off, wl - off);
            c->out_len = wl - off;
            c->out_off = 0;
            set_events(c, EPOLLOUT);
        }
    }
    return rc;
}

static void on_readable(struct conn *c) {
    size_t have = 0;
    if (c->in) { /* resume an incomplete frame */
        memcpy(rbuf, c->in, c->in_len);
        have = c->in_len;
        free(c->in);
        c->in = NULL;
        c->in_len = 0;
    }
    ssize_t n;
    do n = read(c->fd, rbuf + have, sizeof rbuf - have);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) n = 0;
    else if (n <= 0) { conn_close(c); return; }
    if (handle(c, rbuf, have + (size_t)n) < 0) conn_close(c);
}

static void on_accept(int lfd) {
    static uint64_t next_session = 1;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or EMFILE: retried on the next event */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) { close(fd); continue; }
        c->fd = fd;
        c->session = next_session++;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { close(fd); free(c); }
    }
}

int main(void) {
    const char *ps = getenv("PORT");
    int port = ps ? atoi(ps) : 0;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "rawc_server: PORT must hold a TCP port\n");
        return 2;
    }
    /* The idle scenario holds 10,000 connections: raise the soft fd limit
     * to the hard one, as the Go runtime does for the Go servers. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4096) < 0) {
        perror("rawc_server: listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

    const char *spin_env = getenv("SPIN");
    int timeout = (spin_env && strcmp(spin_env, "1") == 0) ? 0 : -1;
    struct epoll_event evs[MAX_EVENTS];
    while (!stop) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) { on_accept(lfd); continue; }
            if (c->out) { /* waiting for room to flush */
                int r = flush_out(c);
                if (r < 0) conn_close(c);
                else if (r == 0) set_events(c, EPOLLIN);
                continue;
            }
            on_readable(c);
        }
    }
    return 0;
}
