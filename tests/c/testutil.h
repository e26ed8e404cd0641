// Small helpers shared by the C tests of libnetsys: checks that abort the
// test with the library's own error message, bounded waits, and the usual
// loopback server/client setup. Plain C11, header-only.
#ifndef NETSYS_TESTUTIL_H
#define NETSYS_TESTUTIL_H

#include <netsys.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/// Fails the test (exit 1) when cond is false.
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/// Fails the test unless `call` returns `want`; prints the last error message.
#define CHECK_RC(call, want)                                                                           \
    do {                                                                                               \
        netsys_status rc_ = (call);                                                                    \
        if (rc_ != (want)) {                                                                           \
            char msg_[1024];                                                                           \
            netsys_last_error_message(msg_, sizeof msg_);                                              \
            fprintf(stderr, "%s:%d: %s returned %d (%s), want %d (%s); last error: %s\n", __FILE__,    \
                    __LINE__, #call, rc_, netsys_strerror(rc_), (int)(want), netsys_strerror(want), msg_); \
            exit(1);                                                                                   \
        }                                                                                              \
    } while (0)

/// Fails the test unless `call` returns NETSYS_OK.
#define CHECK_OK(call) CHECK_RC(call, NETSYS_OK)

/// Monotonic milliseconds.
static inline int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/// Monotonic nanoseconds.
static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/// Waits (polling every millisecond) until cond holds; fails the test if
/// it does not within `ms` milliseconds. Every wait in the tests is bounded.
#define CHECK_WITHIN(cond, ms)                                                                      \
    do {                                                                                            \
        int64_t deadline_ = now_ms() + (ms);                                                        \
        while (!(cond)) {                                                                           \
            if (now_ms() > deadline_) {                                                             \
                fprintf(stderr, "%s:%d: not true within %d ms: %s\n", __FILE__, __LINE__, (int)(ms), #cond); \
                exit(1);                                                                            \
            }                                                                                       \
            sleep_ms(1);                                                                            \
        }                                                                                           \
    } while (0)

/// Creates a server on 127.0.0.1 with an ephemeral port and two loops
/// (callbacks not set, not started).
static inline netsys_server make_server(const char *id) {
    netsys_server s = 0;
    CHECK_OK(netsys_server_create(&s, id));
    CHECK(s != 0);
    CHECK_OK(netsys_server_set_string(s, NETSYS_OPT_BIND_ADDRESS, "127.0.0.1"));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_PORT, 0));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_LOOPS, 2));
    return s;
}

/// Starts s and returns its port.
static inline int start_server(netsys_server s) {
    CHECK_OK(netsys_server_start(s));
    int port = 0;
    CHECK_OK(netsys_server_port(s, &port));
    CHECK(port > 0 && port < 65536);
    return port;
}

/// Checks that every server and client handle has been destroyed.
static inline void check_no_live_handles(void) {
    size_t servers = 99, clients = 99;
    CHECK_OK(netsys_live_handles(&servers, &clients));
    if (servers || clients) {
        fprintf(stderr, "leaked handles: %zu servers, %zu clients\n", servers, clients);
        exit(1);
    }
}

/// What a client saw: messages, disconnects and the last close reason.
typedef struct client_log {
    atomic_int messages, disconnects;
    char reason[128];
} client_log;

static inline void log_message(void *ud, netsys_client c, const uint8_t *data, size_t size) {
    (void)c, (void)data, (void)size;
    atomic_fetch_add(&((client_log *)ud)->messages, 1);
}

static inline void log_disconnect(void *ud, netsys_client c, const char *reason) {
    (void)c;
    client_log *l = ud;
    snprintf(l->reason, sizeof l->reason, "%s", reason);
    atomic_fetch_add(&l->disconnects, 1);
}

/// A client connected to 127.0.0.1:port that records into log.
static inline netsys_client connect_logged(client_log *log, int port) {
    memset(log, 0, sizeof *log);
    netsys_client c;
    CHECK_OK(netsys_client_create(&c, "logged"));
    CHECK_OK(netsys_client_set_message_callback(c, log_message, log));
    CHECK_OK(netsys_client_set_disconnect_callback(c, log_disconnect, log));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    return c;
}

#endif
