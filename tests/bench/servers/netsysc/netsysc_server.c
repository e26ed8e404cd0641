/*
 * netsysc_server: netsys through its C ABI (include/netsys.h), written the
 * way a C application would: one message callback that follows the bench
 * server contract (tests/bench/README.md): sink messages (first payload
 * byte 'S') are consumed, everything else is echoed. HELLO/WELCOME, PING
 * and CLOSE are the library's business.
 *
 * Usage: PORT=9000 netsysc_server   (127.0.0.1:$PORT until SIGTERM/SIGINT).
 * SPIN_US=N turns on the opt-in low-latency mode
 * (NETSYS_OPT_SPIN_BEFORE_WAIT_US). DELIVERY=events uses the pull interface
 * instead of callbacks: the main thread drains batches of events with
 * netsys_server_poll() (one C/Go crossing per batch, not per message).
 * By default messages arrive through the batch callback (one call per
 * socket read); DELIVERY=message uses the per-message callback instead.
 */
#include <netsys.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* Runs on the I/O loop that owns the session; data is valid during the
 * call only, and netsys_session_send copies it before returning. */
static void on_message(void *user_data, netsys_server server, uint64_t session_id, const uint8_t *data,
                       size_t size) {
    (void)user_data;
    if (size > 0 && data[0] == 'S') return;
    netsys_status st = netsys_session_send(server, session_id, data, size);
    if (st != NETSYS_OK && st != NETSYS_E_CLOSED) {
        char msg[256];
        netsys_last_error_message(msg, sizeof msg);
        fprintf(stderr, "netsysc_server: send: %s\n", msg);
    }
}

/* The batch callback: the messages of one read of one session, in order. */
static void on_message_batch(void *user_data, netsys_server server, uint64_t session_id,
                             const netsys_message *messages, size_t count) {
    for (size_t i = 0; i < count; i++) on_message(user_data, server, session_id, messages[i].data, messages[i].size);
}

/* check exits with the library's message when a setup call fails. */
static void check(netsys_status st, const char *what) {
    if (st == NETSYS_OK) return;
    char msg[512];
    netsys_last_error_message(msg, sizeof msg);
    fprintf(stderr, "netsysc_server: %s: %s (%s)\n", what, netsys_strerror(st), msg);
    exit(1);
}

/* Handles one drained event: echo unless it is a sink message. */
static void on_event(netsys_server server, const netsys_event *ev) {
    if (ev->type == NETSYS_EVENT_MESSAGE) on_message(NULL, server, ev->session_id, ev->data, ev->size);
}

/* The pull interface: drain up to 1024 events per call; the 100 ms timeout
 * only bounds how late a stop request is noticed. */
static void poll_until_stopped(netsys_server srv) {
    static netsys_event events[1024];
    while (!stop_requested) {
        size_t count = 0;
        netsys_status st = netsys_server_poll(srv, events, sizeof events / sizeof events[0], 100, &count);
        if (st != NETSYS_OK) {
            char msg[256];
            netsys_last_error_message(msg, sizeof msg);
            fprintf(stderr, "netsysc_server: poll: %s\n", msg);
            return;
        }
        for (size_t i = 0; i < count; i++) on_event(srv, &events[i]);
    }
}

int main(void) {
    const char *ps = getenv("PORT");
    int port = ps ? atoi(ps) : 0;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "netsysc_server: PORT must hold a TCP port\n");
        return 2;
    }
    uint32_t v = netsys_version();
    if (v >> 16 != NETSYS_VERSION_MAJOR) {
        fprintf(stderr, "netsysc_server: library %s does not match header major %d\n", netsys_version_string(),
                NETSYS_VERSION_MAJOR);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    netsys_server srv;
    check(netsys_server_create(&srv, "bench-c"), "create");
    check(netsys_server_set_int(srv, NETSYS_OPT_PORT, port), "port");
    check(netsys_server_set_string(srv, NETSYS_OPT_BIND_ADDRESS, "127.0.0.1"), "bind address");
    /* The idle scenario holds 10,000 connections; the default cap is 1,000. */
    check(netsys_server_set_int(srv, NETSYS_OPT_MAX_CONNECTIONS, 20000), "max connections");
    // The load generator, on one address, pipelines 256 handshakes at a time.
    check(netsys_server_set_int(srv, NETSYS_OPT_MAX_PENDING_HANDSHAKES, 20000), "max pending handshakes");
    check(netsys_server_set_int(srv, NETSYS_OPT_MAX_HANDSHAKES_PER_ADDRESS, 20000), "max handshakes per address");
    const char *spin = getenv("SPIN_US");
    if (spin && *spin) check(netsys_server_set_int(srv, NETSYS_OPT_SPIN_BEFORE_WAIT_US, atoi(spin)), "spin");
    const char *delivery = getenv("DELIVERY");
    int pull = delivery && strcmp(delivery, "events") == 0;
    if (pull) {
        check(netsys_server_set_int(srv, NETSYS_OPT_DELIVERY, NETSYS_DELIVERY_EVENTS), "delivery");
    } else {
        check(netsys_server_set_message_callback(srv, on_message, NULL), "message callback");
        if (!(delivery && strcmp(delivery, "message") == 0))
            check(netsys_server_set_message_batch_callback(srv, on_message_batch, NULL), "batch callback");
    }
    check(netsys_server_start(srv), "start");
    if (pull) {
        poll_until_stopped(srv);
    } else {
        while (!stop_requested) usleep(50 * 1000);
    }
    netsys_server_stop(srv);
    netsys_server_destroy(srv);
    return 0;
}
