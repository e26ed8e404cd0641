// Calls that would wait for an I/O loop, made from callbacks of every kind
// that run on one (connect, message, disconnect and error; of the server's
// loops or of the clients'): a blocking connect and a
// wait fail at once with NETSYS_E_DEADLOCK, a send with a timeout on a full
// queue too, and stopping another server returns at once (the stop
// completes in the background; until it has, the server cannot start).
#include "testutil.h"

enum { S_CONNECT, S_MESSAGE, S_DISCONNECT, S_ERROR, C_CONNECT, C_MESSAGE, C_DISCONNECT, C_ERROR, KINDS };
static const char *kind_names[KINDS] = {"server connect", "server message", "server disconnect", "server error",
                                        "client connect", "client message", "client disconnect", "client error"};

typedef struct probe_ctx {
    int port;                 // the server probes connect to
    netsys_client running;    // a client that stays connected: waiting for it would block
    netsys_server to_stop;    // stopped from a client callback
    atomic_int armed;         // probes run only once this is set
    atomic_int connect_rc[KINDS];
    atomic_int wait_rc[KINDS];
    atomic_int stop_rc;
    atomic_int restart_rc;    // start right after that stop, still in progress
    atomic_int send_rc;
} probe_ctx;

static probe_ctx P;

static void probe(int kind) {
    if (!atomic_load(&P.armed) || atomic_load(&P.connect_rc[kind]) != -1)
        return;
    netsys_client fresh = 0;
    CHECK_OK(netsys_client_create(&fresh, "probe"));
    netsys_status rc = netsys_client_connect(fresh, "127.0.0.1", P.port);
    CHECK_OK(netsys_client_destroy(fresh));
    atomic_store(&P.wait_rc[kind], netsys_client_wait(P.running, -1));
    atomic_store(&P.connect_rc[kind], rc);
}

static void s_connect(void *ud, netsys_server s, uint64_t sid) { probe(S_CONNECT); }

static void s_message(void *ud, netsys_server s, uint64_t sid, const uint8_t *data, size_t size) {
    probe(S_MESSAGE);
    if (size == 4 && memcmp(data, "fill", 4) == 0) {
        // The client paused reading: the queue fills, and a send with a
        // timeout would wait for the loop that is running this callback.
        static uint8_t big[16384];
        netsys_status rc = NETSYS_OK;
        for (int i = 0; i < 1000 && rc == NETSYS_OK; i++)
            rc = netsys_session_send_timeout(s, sid, big, sizeof big, 60000);
        atomic_store(&P.send_rc, rc);
    }
}

static void s_disconnect(void *ud, netsys_server s, uint64_t sid, const char *reason) { probe(S_DISCONNECT); }

static void s_error(void *ud, netsys_server s, uint64_t sid, netsys_status code, const char *msg) { probe(S_ERROR); }

static void c_error(void *ud, netsys_client c, netsys_status code, const char *msg) { probe(C_ERROR); }

// strict: the identity, except that it refuses to decode a message that
// starts with '!': a way to make both sides report an error.
static int strict_encode(void *ud, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_size, size_t limit) {
    *out_size = n;
    if (cap < n) return NETSYS_E_BUFFER_TOO_SMALL;
    if (n) memcpy(out, in, n);
    return NETSYS_OK;
}

static int strict_decode(void *ud, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_size, size_t limit) {
    if (n && in[0] == '!') return NETSYS_E_PROTOCOL;
    return strict_encode(ud, in, n, out, cap, out_size, limit);
}

static void c_connect(void *ud, netsys_client c) { probe(C_CONNECT); }

static void c_message(void *ud, netsys_client c, const uint8_t *data, size_t size) {
    probe(C_MESSAGE);
    if (size == 4 && memcmp(data, "stop", 4) == 0) {
        netsys_status rc = netsys_server_stop(P.to_stop);
        // The stop cannot finish before this callback returns (this client's
        // connection is one it closes), so the server is still stopping.
        atomic_store(&P.restart_rc, netsys_server_start(P.to_stop));
        atomic_store(&P.stop_rc, rc);
    }
}

static void c_disconnect(void *ud, netsys_client c, const char *reason) { probe(C_DISCONNECT); }

static void echo(void *ud, netsys_server s, uint64_t sid, const uint8_t *data, size_t size) {
    netsys_session_send(s, sid, data, size);
}

int main(void) {
    for (int k = 0; k < KINDS; k++) {
        atomic_store(&P.connect_rc[k], -1);
        atomic_store(&P.wait_rc[k], -1);
    }
    atomic_store(&P.stop_rc, -1);
    atomic_store(&P.restart_rc, -1);
    atomic_store(&P.send_rc, -1);

    netsys_server s = make_server("probed");
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_SEND_QUEUE_LIMIT, 65536));
    CHECK_OK(netsys_server_set_connect_callback(s, s_connect, NULL));
    CHECK_OK(netsys_server_set_message_callback(s, s_message, NULL));
    CHECK_OK(netsys_server_set_disconnect_callback(s, s_disconnect, NULL));
    P.port = start_server(s);

    netsys_server other = make_server("other");
    CHECK_OK(netsys_server_set_message_callback(other, echo, NULL));
    int other_port = start_server(other);
    P.to_stop = other;

    CHECK_OK(netsys_client_create(&P.running, "running"));
    CHECK_OK(netsys_client_connect(P.running, "127.0.0.1", P.port));
    atomic_store(&P.armed, 1);

    netsys_client c = 0;
    CHECK_OK(netsys_client_create(&c, "probing"));
    CHECK_OK(netsys_client_set_connect_callback(c, c_connect, NULL));
    CHECK_OK(netsys_client_set_message_callback(c, c_message, NULL));
    CHECK_OK(netsys_client_set_disconnect_callback(c, c_disconnect, NULL));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", other_port));
    CHECK_OK(netsys_client_send_string(c, "hello"));
    CHECK_WITHIN(atomic_load(&P.connect_rc[C_MESSAGE]) != -1, 15000);
    CHECK_OK(netsys_client_send_string(c, "stop")); // the echo stops `other` from c's callback
    CHECK_WITHIN(atomic_load(&P.stop_rc) != -1, 15000);
    CHECK(atomic_load(&P.stop_rc) == NETSYS_OK);
    CHECK_RC(atomic_load(&P.restart_rc), NETSYS_E_ALREADY_RUNNING);
    CHECK_OK(netsys_server_wait(other, 15000)); // stopped in the background
    CHECK_WITHIN(atomic_load(&P.connect_rc[C_DISCONNECT]) != -1, 15000);
    CHECK_OK(netsys_client_destroy(c));

    // The server's callbacks: connect and message from one client, the
    // send with a timeout on a full queue, disconnect at its end.
    netsys_client d = 0;
    CHECK_OK(netsys_client_create(&d, "filling"));
    CHECK_OK(netsys_client_connect(d, "127.0.0.1", P.port));
    CHECK_OK(netsys_client_pause_reading(d));
    CHECK_OK(netsys_client_send_string(d, "fill"));
    CHECK_WITHIN(atomic_load(&P.send_rc) != -1, 15000);
    CHECK_RC(atomic_load(&P.send_rc), NETSYS_E_DEADLOCK);
    CHECK_OK(netsys_client_destroy(d));
    CHECK_WITHIN(atomic_load(&P.connect_rc[S_DISCONNECT]) != -1, 15000);

    // Error callbacks on both sides: a message the server's transform
    // refuses closes the connection with an error.
    CHECK_OK(netsys_register_transform("strict", strict_encode, strict_decode, NULL));
    netsys_server strict = make_server("strict");
    CHECK_OK(netsys_server_set_string(strict, NETSYS_OPT_TRANSFORMS, "strict"));
    CHECK_OK(netsys_server_set_error_callback(strict, s_error, NULL));
    int strict_port = start_server(strict);
    netsys_client e = 0;
    CHECK_OK(netsys_client_create(&e, "erring"));
    CHECK_OK(netsys_client_set_string(e, NETSYS_OPT_TRANSFORMS, "strict"));
    CHECK_OK(netsys_client_set_error_callback(e, c_error, NULL));
    CHECK_OK(netsys_client_connect(e, "127.0.0.1", strict_port));
    CHECK_OK(netsys_client_send_string(e, "!refused"));
    CHECK_WITHIN(atomic_load(&P.connect_rc[S_ERROR]) != -1 && atomic_load(&P.connect_rc[C_ERROR]) != -1, 15000);
    CHECK_OK(netsys_client_destroy(e));
    CHECK_OK(netsys_server_destroy(strict));
    CHECK_OK(netsys_unregister_transform("strict"));

    for (int k = 0; k < KINDS; k++) {
        CHECK_WITHIN(atomic_load(&P.connect_rc[k]) != -1, 15000);
        if (atomic_load(&P.connect_rc[k]) != NETSYS_E_DEADLOCK || atomic_load(&P.wait_rc[k]) != NETSYS_E_DEADLOCK) {
            fprintf(stderr, "%s callback: connect gave %d, wait gave %d; both should be NETSYS_E_DEADLOCK (%d)\n",
                    kind_names[k], atomic_load(&P.connect_rc[k]), atomic_load(&P.wait_rc[k]), NETSYS_E_DEADLOCK);
            return 1;
        }
    }
    CHECK_OK(netsys_client_destroy(P.running));
    CHECK_OK(netsys_server_destroy(s));
    CHECK_OK(netsys_server_destroy(other));
    check_no_live_handles();
    puts("test_blocking: ok");
    return 0;
}
