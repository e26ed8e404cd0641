// c_echo_client: the C example echo client of netsys, following the
// command-line contract shared by every language's example client:
//
//   c_echo_client --port P [--host 127.0.0.1] [--count 1000] [--size 64]
//
// It connects, sends --count messages of --size bytes one at a time, checks
// that each comes back unchanged, and prints one line:
//
//   c client: 1000/1000 echoed, 31250 msg/s, p50 29 us
//
// It uses the pull interface (netsys_client_poll), so the whole program is
// a plain sequential loop on the main thread. Exit status: 0 on success,
// 1 on any failure or after 10 s, 2 for bad arguments.
#include <netsys.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int die(const char *what, netsys_status rc) {
    char msg[512];
    netsys_last_error_message(msg, sizeof msg);
    fprintf(stderr, "c client: %s: %s (%s)\n", what, netsys_strerror(rc), msg);
    return 1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static long parse(const char *s, long lo, long hi, const char *name) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "c client: %s must be in %ld..%ld\n", name, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    long port = 0, count = 1000, size = 64;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) goto usage;
        if (strcmp(argv[i], "--host") == 0) host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0) port = parse(argv[++i], 1, 65535, "--port");
        else if (strcmp(argv[i], "--count") == 0) count = parse(argv[++i], 1, 100000000, "--count");
        else if (strcmp(argv[i], "--size") == 0) size = parse(argv[++i], 0, 1 << 20, "--size");
        else goto usage;
    }
    if (port == 0) goto usage;

    const int64_t deadline = now_ns() + 10 * (int64_t)1000000000;
    netsys_client client;
    netsys_status rc;
    if ((rc = netsys_client_create(&client, "c-echo-client")) != NETSYS_OK) return die("create", rc);
    netsys_client_set_int(client, NETSYS_OPT_DELIVERY, NETSYS_DELIVERY_EVENTS);
    netsys_client_set_int(client, NETSYS_OPT_CONNECT_TIMEOUT_MS, 5000);
    if ((rc = netsys_client_connect(client, host, (int)port)) != NETSYS_OK) return die("connect", rc);

    uint8_t *msg = malloc((size_t)size + 1);
    int64_t *rtts = malloc(sizeof *rtts * (size_t)count);
    long echoed = 0;
    int failed = 0;
    const int64_t start = now_ns();
    for (long i = 0; i < count && !failed; i++) {
        for (long k = 0; k < size; k++) msg[k] = (uint8_t)(i + k);
        int64_t sent_at = now_ns();
        if ((rc = netsys_client_send(client, msg, (size_t)size)) != NETSYS_OK) {
            failed = die("send", rc);
            break;
        }
        for (int got = 0; !got;) {
            int64_t left_ms = (deadline - now_ns()) / 1000000;
            if (left_ms <= 0) {
                fprintf(stderr, "c client: timed out after %ld of %ld echoes\n", echoed, count);
                failed = 1;
                break;
            }
            netsys_event ev[4];
            size_t n = 0;
            if ((rc = netsys_client_poll(client, ev, 4, (int)left_ms, &n)) != NETSYS_OK) {
                failed = die("poll", rc);
                break;
            }
            for (size_t e = 0; e < n; e++) {
                if (ev[e].type == NETSYS_EVENT_MESSAGE) {
                    if (ev[e].size != (size_t)size || (size && memcmp(ev[e].data, msg, (size_t)size) != 0)) {
                        fprintf(stderr, "c client: echo %ld differs from what was sent\n", i);
                        failed = 1;
                    }
                    rtts[echoed++] = now_ns() - sent_at;
                    got = 1;
                } else if (ev[e].type == NETSYS_EVENT_DISCONNECT || ev[e].type == NETSYS_EVENT_ERROR) {
                    fprintf(stderr, "c client: connection lost: %.*s\n", (int)ev[e].size, (const char *)ev[e].data);
                    failed = 1;
                    got = 1;
                }
            }
        }
    }
    double secs = (double)(now_ns() - start) / 1e9;
    netsys_client_destroy(client);
    if (!failed) {
        qsort(rtts, (size_t)echoed, sizeof *rtts, cmp_i64);
        printf("c client: %ld/%ld echoed, %.0f msg/s, p50 %.0f us\n", echoed, count, (double)echoed / secs,
               (double)rtts[echoed / 2] / 1000.0);
    }
    free(msg);
    free(rtts);
    return failed ? 1 : 0;

usage:
    fprintf(stderr, "usage: c_echo_client --port P [--host H] [--count N] [--size S]\n");
    return 2;
}
