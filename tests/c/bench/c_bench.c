// c_bench: the cost of crossing the C ABI, on the loopback setup of the
// pure-Go benchmarks in core/bench_test.go (a one-loop server on
// 127.0.0.1, one client connection, 64-byte messages):
//
//   throughput/callback  the host sends N messages with netsys_client_send;
//                        the server's C message callback counts them.
//   throughput/batch     the same with a batch callback
//                        (netsys_server_set_message_batch_callback): one
//                        C call per socket read instead of per message.
//   throughput/events    the same, but the server is in events mode and a
//                        host thread drains batches with netsys_server_poll
//                        (the Python binding's path).
//   ping-pong/callback   N sequential round trips; the server echoes from
//                        its C callback, the client's C callback signals the
//                        waiting host thread (as the Go benchmark's channel).
//   ping-pong/poll       the same, with the client in events mode and the
//                        host thread blocking in netsys_client_poll.
//   call overhead        a netsys_ call that does no work (C -> Go -> C).
//
// Usage: c_bench [N] (default 1000000 for throughput, N/20 round trips).
// Every wait is bounded (60 s); a lost message fails the run.
#include <netsys.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SIZE = 64 };
static const int64_t DEADLINE_NS = 60 * (int64_t)1000000000;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void check(netsys_status rc, const char *what) {
    if (rc == NETSYS_OK) return;
    char msg[512];
    netsys_last_error_message(msg, sizeof msg);
    fprintf(stderr, "c_bench: %s: %s (%s)\n", what, netsys_strerror(rc), msg);
    exit(1);
}

static atomic_llong counted;

static void count_message(void *ud, netsys_server s, uint64_t sid, const uint8_t *d, size_t n) {
    atomic_fetch_add_explicit(&counted, 1, memory_order_relaxed);
}

static void count_batch(void *ud, netsys_server s, uint64_t sid, const netsys_message *m, size_t count) {
    atomic_fetch_add_explicit(&counted, (long long)count, memory_order_relaxed);
}

static void echo_message(void *ud, netsys_server s, uint64_t sid, const uint8_t *d, size_t n) {
    netsys_session_send(s, sid, d, n);
}

// How the server hands messages to the host.
typedef enum delivery { PER_MESSAGE, BATCH, EVENTS } delivery;
static const char *const delivery_names[] = {"callback", "batch", "events"};

static netsys_server bench_server(delivery mode, netsys_server_message_fn fn, int *port) {
    netsys_server s;
    check(netsys_server_create(&s, "c-bench"), "server create");
    check(netsys_server_set_string(s, NETSYS_OPT_BIND_ADDRESS, "127.0.0.1"), "bind");
    check(netsys_server_set_int(s, NETSYS_OPT_LOOPS, 1), "loops");
    if (mode == EVENTS) check(netsys_server_set_int(s, NETSYS_OPT_DELIVERY, NETSYS_DELIVERY_EVENTS), "delivery");
    else check(netsys_server_set_message_callback(s, fn, NULL), "callback");
    if (mode == BATCH) check(netsys_server_set_message_batch_callback(s, count_batch, NULL), "batch callback");
    check(netsys_server_start(s), "start");
    check(netsys_server_port(s, port), "port");
    return s;
}

static void send_one(netsys_client c, const uint8_t *msg) {
    netsys_status rc = netsys_client_send(c, msg, SIZE);
    while (rc == NETSYS_E_WOULD_BLOCK) rc = netsys_client_send_timeout(c, msg, SIZE, 60000);
    check(rc, "send");
}

typedef struct drainer {
    netsys_server server;
    long want;
    long drained;
    int failed;
} drainer;

// The host's event thread: blocks in poll and counts message events.
static void *drain_events(void *p) {
    drainer *d = p;
    netsys_event *ev = malloc(sizeof *ev * 4096);
    int64_t start = now_ns();
    while (d->drained < d->want) {
        if (now_ns() - start > DEADLINE_NS) {
            d->failed = 1;
            break;
        }
        size_t got = 0;
        check(netsys_server_poll(d->server, ev, 4096, 100, &got), "poll");
        for (size_t k = 0; k < got; k++) d->drained += ev[k].type == NETSYS_EVENT_MESSAGE;
    }
    free(ev);
    return NULL;
}

static void throughput(delivery mode, long n) {
    int port;
    int events = mode == EVENTS;
    atomic_store(&counted, 0);
    netsys_server s = bench_server(mode, count_message, &port);
    netsys_client c;
    check(netsys_client_create(&c, "c-bench"), "client create");
    check(netsys_client_connect(c, "127.0.0.1", port), "connect");
    uint8_t msg[SIZE];
    for (int i = 0; i < SIZE; i++) msg[i] = (uint8_t)i;
    drainer d = {.server = s, .want = n};
    pthread_t t;
    int64_t start = now_ns();
    if (events && pthread_create(&t, NULL, drain_events, &d) != 0) {
        fprintf(stderr, "c_bench: pthread_create failed\n");
        exit(1);
    }
    for (long i = 0; i < n; i++) send_one(c, msg);
    if (events) {
        pthread_join(t, NULL);
        if (d.failed) {
            fprintf(stderr, "c_bench: only %ld of %ld messages arrived\n", d.drained, n);
            exit(1);
        }
    } else {
        while (atomic_load(&counted) < n) {
            if (now_ns() - start > DEADLINE_NS) {
                fprintf(stderr, "c_bench: only %lld of %ld messages arrived\n", (long long)atomic_load(&counted), n);
                exit(1);
            }
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
    double secs = (double)(now_ns() - start) / 1e9;
    printf("C API  throughput/%-8s 64 B: %10.0f msg/s %8.1f MB/s  (%ld messages)\n", delivery_names[mode],
           n / secs, n * (double)SIZE / secs / 1e6, n);
    check(netsys_client_destroy(c), "client destroy");
    check(netsys_server_destroy(s), "server destroy");
}

/* ping-pong: the client's callback hands the echo to the waiting thread */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int pongs;

static void on_pong(void *ud, netsys_client c, const uint8_t *d, size_t n) {
    pthread_mutex_lock(&mu);
    pongs++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void ping_pong(int poll_mode, long n) {
    int port;
    netsys_server s = bench_server(PER_MESSAGE, echo_message, &port);
    netsys_client c;
    check(netsys_client_create(&c, "c-bench"), "client create");
    if (poll_mode) check(netsys_client_set_int(c, NETSYS_OPT_DELIVERY, NETSYS_DELIVERY_EVENTS), "delivery");
    else check(netsys_client_set_message_callback(c, on_pong, NULL), "callback");
    check(netsys_client_connect(c, "127.0.0.1", port), "connect");
    uint8_t msg[SIZE] = {0};
    int64_t *rtt = malloc(sizeof *rtt * (size_t)n);
    pongs = 0;
    for (long i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        send_one(c, msg);
        if (poll_mode) {
            for (int got = 0; !got;) {
                netsys_event ev[4];
                size_t k = 0;
                check(netsys_client_poll(c, ev, 4, 60000, &k), "poll");
                if (k == 0) {
                    fprintf(stderr, "c_bench: no echo for round trip %ld\n", i);
                    exit(1);
                }
                for (size_t e = 0; e < k; e++) got |= ev[e].type == NETSYS_EVENT_MESSAGE;
            }
        } else {
            pthread_mutex_lock(&mu);
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 60;
            while (pongs <= i)
                if (pthread_cond_timedwait(&cv, &mu, &until) != 0) {
                    fprintf(stderr, "c_bench: no echo for round trip %ld\n", i);
                    exit(1);
                }
            pthread_mutex_unlock(&mu);
        }
        rtt[i] = now_ns() - t0;
    }
    qsort(rtt, (size_t)n, sizeof *rtt, cmp_i64);
    printf("C API  ping-pong/%-9s 64 B: p50 %6.1f us  p99 %6.1f us  (%ld round trips)\n",
           poll_mode ? "poll" : "callback", rtt[n / 2] / 1e3, rtt[(long)(n * 0.99)] / 1e3, n);
    free(rtt);
    check(netsys_client_destroy(c), "client destroy");
    check(netsys_server_destroy(s), "server destroy");
}

// The bare cost of one call across the ABI (C -> Go -> C), with a call
// that does no work: netsys_client_is_connected on an idle client.
static void call_overhead(long n) {
    netsys_client c;
    check(netsys_client_create(&c, "c-bench"), "client create");
    bool connected;
    int64_t start = now_ns();
    for (long i = 0; i < n; i++) netsys_client_is_connected(c, &connected);
    double ns = (double)(now_ns() - start) / n;
    printf("C API  call overhead          : %6.0f ns per netsys_ call  (%ld calls)\n", ns, n);
    check(netsys_client_destroy(c), "client destroy");
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    if (n < 100) n = 100;
    call_overhead(n);
    throughput(PER_MESSAGE, n);
    throughput(BATCH, n);
    throughput(EVENTS, n);
    ping_pong(0, n / 20);
    ping_pong(1, n / 20);
    return 0;
}
