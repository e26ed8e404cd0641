// Reentrant calls from callbacks: send, disconnect, stop and destroy of the
// callback's own object, on I/O threads and on worker threads; the worker
// pool keeps per-session order and lets other sessions progress while one
// handler is slow.
#include "testutil.h"

#include <pthread.h>

/* ---- server callbacks that act on their own server ---------------------- */

typedef struct server_ctx {
    atomic_int messages;
    atomic_int after_destroy; // callbacks that ran after destroy returned
    atomic_int destroyed;
    atomic_int wait_rc;
    atomic_int action_rc;
} server_ctx;

// Commands: "echo", "bye" (disconnect me), "stop" (stop the server),
// "destroy" (destroy the server), "wait" (wait on the server: must refuse).
static void act_on_message(void *ud, netsys_server s, uint64_t sid, const uint8_t *data, size_t size) {
    server_ctx *ctx = ud;
    if (atomic_load(&ctx->destroyed))
        atomic_fetch_add(&ctx->after_destroy, 1);
    atomic_fetch_add(&ctx->messages, 1);
    if (size == 4 && memcmp(data, "echo", 4) == 0) {
        atomic_store(&ctx->action_rc, netsys_session_send(s, sid, data, size));
    } else if (size == 3 && memcmp(data, "bye", 3) == 0) {
        atomic_store(&ctx->action_rc, netsys_session_disconnect(s, sid, "you said bye"));
        // A second disconnect is harmless (OK while the first is still queued
        // on the loop, CLOSED once it has begun).
        netsys_status again = netsys_session_disconnect(s, sid, "again");
        CHECK(again == NETSYS_OK || again == NETSYS_E_CLOSED || again == NETSYS_E_NOT_FOUND);
    } else if (size == 4 && memcmp(data, "stop", 4) == 0) {
        atomic_store(&ctx->action_rc, netsys_server_stop(s));
    } else if (size == 7 && memcmp(data, "destroy", 7) == 0) {
        atomic_store(&ctx->action_rc, netsys_server_destroy(s));
        atomic_store(&ctx->destroyed, 1);
        // The handle is gone for every later call, also from here.
        CHECK(netsys_session_send(s, sid, data, size) == NETSYS_E_INVALID_HANDLE);
    } else if (size == 4 && memcmp(data, "wait", 4) == 0) {
        atomic_store(&ctx->wait_rc, netsys_server_wait(s, -1));
    }
}

static void count_disconnect(void *ud, netsys_server s, uint64_t sid, const char *reason) {
    server_ctx *ctx = ud;
    if (atomic_load(&ctx->destroyed))
        atomic_fetch_add(&ctx->after_destroy, 1);
}

static netsys_server make_acting_server(server_ctx *ctx, int workers, int *port) {
    memset(ctx, 0, sizeof *ctx);
    atomic_store(&ctx->action_rc, -1);
    atomic_store(&ctx->wait_rc, -1);
    netsys_server s = make_server("acting");
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_CALLBACK_WORKERS, workers));
    CHECK_OK(netsys_server_set_message_callback(s, act_on_message, ctx));
    CHECK_OK(netsys_server_set_disconnect_callback(s, count_disconnect, ctx));
    *port = start_server(s);
    return s;
}

static void server_reentrancy(int workers) {
    server_ctx ctx;
    client_log log;
    int port;
    netsys_server s = make_acting_server(&ctx, workers, &port);

    // send from a callback
    netsys_client c = connect_logged(&log, port);
    CHECK_OK(netsys_client_send_string(c, "echo"));
    CHECK_WITHIN(atomic_load(&log.messages) == 1, 5000);
    CHECK(atomic_load(&ctx.action_rc) == NETSYS_OK);

    // wait from a callback: refused on an I/O thread, allowed (and with the
    // server running it would block) on a worker, so only check I/O threads.
    if (workers == 0) {
        CHECK_OK(netsys_client_send_string(c, "wait"));
        CHECK_WITHIN(atomic_load(&ctx.wait_rc) == NETSYS_E_DEADLOCK, 5000);
    }

    // disconnect of the callback's own session
    CHECK_OK(netsys_client_send_string(c, "bye"));
    CHECK_WITHIN(atomic_load(&log.disconnects) == 1, 5000);
    CHECK(strcmp(log.reason, "you said bye") == 0);
    CHECK(atomic_load(&ctx.action_rc) == NETSYS_OK);
    CHECK_OK(netsys_client_destroy(c));

    // stop of the callback's own server
    c = connect_logged(&log, port);
    atomic_store(&ctx.action_rc, -1);
    CHECK_OK(netsys_client_send_string(c, "stop"));
    CHECK_WITHIN(atomic_load(&ctx.action_rc) == NETSYS_OK, 5000);
    CHECK_OK(netsys_server_wait(s, 5000));
    bool running = true;
    CHECK_OK(netsys_server_is_running(s, &running));
    CHECK(!running);
    CHECK_OK(netsys_client_wait(c, 5000));
    CHECK_OK(netsys_client_destroy(c));

    // destroy of the callback's own server
    port = start_server(s);
    c = connect_logged(&log, port);
    atomic_store(&ctx.action_rc, -1);
    CHECK_OK(netsys_client_send_string(c, "destroy"));
    // Must not reach a callback. The server may already be gone by now
    // (the destroy raced this send), and then the send says so.
    int echo_rc = netsys_client_send_string(c, "echo");
    CHECK(echo_rc == NETSYS_OK || echo_rc == NETSYS_E_NOT_CONNECTED || echo_rc == NETSYS_E_CLOSED);
    CHECK_WITHIN(atomic_load(&ctx.action_rc) == NETSYS_OK, 5000);
    CHECK_OK(netsys_client_wait(c, 5000)); // the server went away
    CHECK_RC(netsys_server_destroy(s), NETSYS_E_INVALID_HANDLE);
    sleep_ms(50);
    CHECK(atomic_load(&ctx.after_destroy) == 0);
    CHECK_OK(netsys_client_destroy(c));
}

/* ---- client callbacks that act on their own client ---------------------- */

static void echo_server_message(void *ud, netsys_server s, uint64_t sid, const uint8_t *data, size_t size) {
    netsys_session_send(s, sid, data, size);
}

typedef struct client_ctx {
    atomic_int received;
    atomic_int rc;
    int limit;
    int mode; // 0: ping-pong send, 1: stop, 2: destroy
    int workers;
} client_ctx;

static void client_act(void *ud, netsys_client c, const uint8_t *data, size_t size) {
    client_ctx *ctx = ud;
    int n = atomic_fetch_add(&ctx->received, 1) + 1;
    switch (ctx->mode) {
    case 0:
        if (n < ctx->limit)
            atomic_store(&ctx->rc, netsys_client_send(c, data, size));
        break;
    case 1:
        atomic_store(&ctx->rc, netsys_client_stop(c));
        // On an I/O thread waiting would wait for itself; on a worker the
        // stop has completed already.
        CHECK(netsys_client_wait(c, 0) == (ctx->workers ? NETSYS_OK : NETSYS_E_DEADLOCK));
        break;
    case 2:
        atomic_store(&ctx->rc, netsys_client_destroy(c));
        CHECK(netsys_client_send(c, data, size) == NETSYS_E_INVALID_HANDLE);
        break;
    }
}

static void client_reentrancy(int workers) {
    netsys_server s = make_server("echo");
    CHECK_OK(netsys_server_set_message_callback(s, echo_server_message, NULL));
    int port = start_server(s);
    for (int mode = 0; mode < 3; mode++) {
        client_ctx ctx = {.limit = 200, .mode = mode, .workers = workers};
        atomic_store(&ctx.rc, -1);
        netsys_client c;
        CHECK_OK(netsys_client_create(&c, "acting-client"));
        CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_CALLBACK_WORKERS, workers));
        CHECK_OK(netsys_client_set_message_callback(c, client_act, &ctx));
        CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
        CHECK_OK(netsys_client_send_string(c, "ping"));
        if (mode == 0) {
            CHECK_WITHIN(atomic_load(&ctx.received) == ctx.limit, 10000);
            CHECK(atomic_load(&ctx.rc) == NETSYS_OK);
            CHECK_OK(netsys_client_destroy(c));
        } else if (mode == 1) {
            CHECK_WITHIN(atomic_load(&ctx.rc) == NETSYS_OK, 5000);
            CHECK_OK(netsys_client_wait(c, 5000));
            bool running = true;
            CHECK_OK(netsys_client_is_running(c, &running));
            CHECK(!running);
            CHECK_OK(netsys_client_destroy(c));
        } else {
            CHECK_WITHIN(atomic_load(&ctx.rc) == NETSYS_OK, 5000);
            CHECK_RC(netsys_client_destroy(c), NETSYS_E_INVALID_HANDLE);
        }
    }
    CHECK_OK(netsys_server_destroy(s));
}

/* ---- worker pool: order and isolation ------------------------------------ */

typedef struct pool_ctx {
    atomic_int seen[2];     // messages seen per client index
    atomic_int out_of_order;
    atomic_int slow_done;
    uint64_t slow_sid;
} pool_ctx;

// Each message is "<client index>:<sequence>". The first message of the
// slow session blocks its worker for a while.
static void pool_message(void *ud, netsys_server s, uint64_t sid, const uint8_t *data, size_t size) {
    pool_ctx *ctx = ud;
    int who = 0, seq = 0;
    char text[32];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = 0;
    CHECK(sscanf(text, "%d:%d", &who, &seq) == 2 && (who == 0 || who == 1));
    if (atomic_load(&ctx->seen[who]) != seq)
        atomic_fetch_add(&ctx->out_of_order, 1);
    atomic_fetch_add(&ctx->seen[who], 1);
    if (who == 0 && seq == 0) {
        sleep_ms(400);
        atomic_store(&ctx->slow_done, 1);
    }
}

static void test_worker_pool(void) {
    static pool_ctx ctx;
    netsys_server s = make_server("pool");
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_LOOPS, 1));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_CALLBACK_WORKERS, 2));
    CHECK_OK(netsys_server_set_message_callback(s, pool_message, &ctx));
    int port = start_server(s);
    // Two clients whose session ids land on different workers (id % 2).
    netsys_client c[2] = {0, 0};
    uint64_t sid[2] = {0, 0};
    netsys_client spare[4];
    int nspare = 0;
    CHECK_OK(netsys_client_create(&c[0], "slow"));
    CHECK_OK(netsys_client_connect(c[0], "127.0.0.1", port));
    CHECK_OK(netsys_client_session_id(c[0], &sid[0]));
    for (;;) {
        netsys_client x;
        CHECK_OK(netsys_client_create(&x, "fast"));
        CHECK_OK(netsys_client_connect(x, "127.0.0.1", port));
        uint64_t id;
        CHECK_OK(netsys_client_session_id(x, &id));
        if (id % 2 != sid[0] % 2) {
            c[1] = x, sid[1] = id;
            break;
        }
        CHECK(nspare < 4);
        spare[nspare++] = x;
    }
    enum { N = 500 };
    char msg[32];
    for (int i = 0; i < N; i++) {
        for (int who = 0; who < 2; who++) {
            snprintf(msg, sizeof msg, "%d:%d", who, i);
            CHECK_OK(netsys_client_send_string(c[who], msg));
        }
    }
    // The fast session is fully handled while the slow handler still sleeps:
    // both sessions share one I/O loop, so only the pool makes this possible.
    CHECK_WITHIN(atomic_load(&ctx.seen[1]) == N, 5000);
    CHECK(atomic_load(&ctx.slow_done) == 0);
    CHECK_WITHIN(atomic_load(&ctx.seen[0]) == N, 5000);
    CHECK(atomic_load(&ctx.out_of_order) == 0);
    for (int i = 0; i < 2; i++) CHECK_OK(netsys_client_destroy(c[i]));
    for (int i = 0; i < nspare; i++) CHECK_OK(netsys_client_destroy(spare[i]));
    CHECK_OK(netsys_server_destroy(s));
}

int main(void) {
    server_reentrancy(0);
    server_reentrancy(3);
    client_reentrancy(0);
    client_reentrancy(2);
    test_worker_pool();
    check_no_live_handles();
    puts("test_reentrant: ok");
    return 0;
}
