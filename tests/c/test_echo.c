// Messaging through the C ABI with callbacks: echo, 100 concurrent
// clients, groups and broadcast, session data and listing, statistics,
// disconnect reasons and oversize messages.
#include "testutil.h"

#include <pthread.h>

/* ---- an echo server --------------------------------------------------- */

static atomic_int server_connects, server_disconnects, server_errors;

static void echo_on_connect(void *ud, netsys_server s, uint64_t sid) { atomic_fetch_add(&server_connects, 1); }

static void echo_on_message(void *ud, netsys_server s, uint64_t sid, const uint8_t *data, size_t size) {
    CHECK(size == 0 || data != NULL);
    netsys_status rc = netsys_session_send(s, sid, data, size);
    // The session may be closing when the client stops right after sending.
    CHECK(rc == NETSYS_OK || rc == NETSYS_E_CLOSED || rc == NETSYS_E_NOT_FOUND);
}

static void echo_on_disconnect(void *ud, netsys_server s, uint64_t sid, const char *reason) {
    CHECK(reason != NULL);
    atomic_fetch_add(&server_disconnects, 1);
}

static void echo_on_error(void *ud, netsys_server s, uint64_t sid, netsys_status code, const char *msg) {
    atomic_fetch_add(&server_errors, 1);
}

static void set_echo_callbacks(netsys_server s) {
    CHECK_OK(netsys_server_set_connect_callback(s, echo_on_connect, NULL));
    CHECK_OK(netsys_server_set_message_callback(s, echo_on_message, NULL));
    CHECK_OK(netsys_server_set_disconnect_callback(s, echo_on_disconnect, NULL));
    CHECK_OK(netsys_server_set_error_callback(s, echo_on_error, NULL));
}

static netsys_server make_echo_server(int *port) {
    netsys_server s = make_server("echo");
    set_echo_callbacks(s);
    *port = start_server(s);
    return s;
}

/* ---- a client that records what it receives ---------------------------- */

typedef struct recorder {
    atomic_int messages;
    atomic_int connects;
    atomic_int disconnects;
    atomic_int errors;
    atomic_int bad; // messages whose content was not what was expected
    atomic_int last_error_code;
    char last_reason[128];
    char last_message[256];
    pthread_mutex_t mu;
} recorder;

static void rec_init(recorder *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

static void rec_on_connect(void *ud, netsys_client c) { atomic_fetch_add(&((recorder *)ud)->connects, 1); }

// Messages are "<n>" with n counting from 0: checks order and content.
static void rec_on_message(void *ud, netsys_client c, const uint8_t *data, size_t size) {
    recorder *r = ud;
    int n = atomic_load(&r->messages);
    char want[32];
    int len = snprintf(want, sizeof want, "%d", n);
    pthread_mutex_lock(&r->mu);
    size_t keep = size < sizeof r->last_message - 1 ? size : sizeof r->last_message - 1;
    memcpy(r->last_message, data, keep);
    r->last_message[keep] = 0;
    pthread_mutex_unlock(&r->mu);
    if ((size_t)len != size || memcmp(want, data, size) != 0)
        atomic_fetch_add(&r->bad, 1);
    atomic_fetch_add(&r->messages, 1);
}

static void rec_on_disconnect(void *ud, netsys_client c, const char *reason) {
    recorder *r = ud;
    pthread_mutex_lock(&r->mu);
    snprintf(r->last_reason, sizeof r->last_reason, "%s", reason);
    pthread_mutex_unlock(&r->mu);
    atomic_fetch_add(&r->disconnects, 1);
}

static void rec_on_error(void *ud, netsys_client c, netsys_status code, const char *msg) {
    recorder *r = ud;
    atomic_store(&r->last_error_code, code);
    atomic_fetch_add(&r->errors, 1);
}

static netsys_client connect_recorder(recorder *r, const char *id, int port) {
    netsys_client c;
    CHECK_OK(netsys_client_create(&c, id));
    CHECK_OK(netsys_client_set_connect_callback(c, rec_on_connect, r));
    CHECK_OK(netsys_client_set_message_callback(c, rec_on_message, r));
    CHECK_OK(netsys_client_set_disconnect_callback(c, rec_on_disconnect, r));
    CHECK_OK(netsys_client_set_error_callback(c, rec_on_error, r));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    return c;
}

static void send_numbers(netsys_client c, int from, int to) {
    for (int i = from; i < to; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "%d", i);
        CHECK_OK(netsys_client_send_string(c, msg));
    }
}

static void test_echo(void) {
    int port;
    netsys_server s = make_echo_server(&port);
    recorder r;
    rec_init(&r);
    netsys_client c = connect_recorder(&r, "echo-client", port);
    CHECK_WITHIN(atomic_load(&r.connects) == 1, 2000);
    send_numbers(c, 0, 1000);
    CHECK_WITHIN(atomic_load(&r.messages) == 1000, 10000);
    CHECK(atomic_load(&r.bad) == 0);

    // Empty messages and binary data are fine too.
    CHECK_OK(netsys_client_set_message_callback(c, NULL, NULL));
    CHECK_OK(netsys_client_send(c, NULL, 0));
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (uint8_t)i;
    CHECK_OK(netsys_client_send(c, bin, sizeof bin));

    netsys_client_stats cst = {.struct_size = sizeof cst};
    CHECK_WITHIN((netsys_client_get_stats(c, &cst), cst.messages_received == 1002), 5000);
    CHECK(cst.messages_sent == 1002);
    CHECK(cst.last_message_ns > 0);

    netsys_server_stats sst = {.struct_size = sizeof sst};
    CHECK_OK(netsys_server_get_stats(s, &sst));
    CHECK(sst.messages_received == 1002 && sst.total_connections == 1 && sst.current_connections == 1);
    CHECK(sst.start_time_ns > 0);
    CHECK_OK(netsys_server_reset_stats(s));
    CHECK_OK(netsys_server_get_stats(s, &sst));
    CHECK(sst.messages_received == 0);

    // Session lookup and listing.
    uint64_t sid = 0, ids[4];
    size_t count = 0;
    CHECK_OK(netsys_client_session_id(c, &sid));
    CHECK_OK(netsys_server_sessions(s, ids, 4, &count));
    CHECK(count == 1 && ids[0] == sid);
    CHECK_RC(netsys_server_sessions(s, ids, 0, &count), NETSYS_E_BUFFER_TOO_SMALL);
    CHECK(count == 1);
    CHECK_OK(netsys_server_has_session(s, sid));
    CHECK_RC(netsys_server_has_session(s, sid + 1000), NETSYS_E_NOT_FOUND);
    CHECK_RC(netsys_session_send(s, sid + 1000, bin, 1), NETSYS_E_NOT_FOUND);
    char buf[128];
    size_t need;
    CHECK_OK(netsys_session_client_id(s, sid, buf, sizeof buf, &need));
    CHECK(strcmp(buf, "echo-client") == 0);
    CHECK_OK(netsys_session_remote_address(s, sid, buf, sizeof buf, &need));
    CHECK(strncmp(buf, "127.0.0.1:", 10) == 0);
    CHECK_OK(netsys_session_local_address(s, sid, buf, sizeof buf, &need));
    char want[32];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    CHECK(strcmp(buf, want) == 0);
    netsys_session_state state;
    CHECK_OK(netsys_session_get_state(s, sid, &state));
    CHECK(state == NETSYS_SESSION_CONNECTED);
    netsys_session_stats sess = {.struct_size = sizeof sess};
    CHECK_OK(netsys_session_get_stats(s, sid, &sess));
    CHECK(sess.connect_time_ns > 0 && sess.messages_received == 1002);

    // Session key/value data.
    CHECK_OK(netsys_session_data_set(s, sid, "user", "alice"));
    CHECK_OK(netsys_session_data_set(s, sid, "room", "lobby"));
    bool has = false;
    CHECK_OK(netsys_session_data_has(s, sid, "user", &has));
    CHECK(has);
    CHECK_OK(netsys_session_data_get(s, sid, "user", buf, sizeof buf, &need));
    CHECK(strcmp(buf, "alice") == 0 && need == 6);
    CHECK_RC(netsys_session_data_get(s, sid, "nope", buf, sizeof buf, &need), NETSYS_E_NOT_FOUND);
    CHECK_RC(netsys_session_data_set(s, sid, NULL, "x"), NETSYS_E_NULL_POINTER);
    size_t nkeys = 0;
    CHECK_OK(netsys_session_data_keys(s, sid, buf, sizeof buf, &need, &nkeys));
    CHECK(nkeys == 2 && strcmp(buf, "room") == 0 && strcmp(buf + 5, "user") == 0 && need == 10);
    CHECK_OK(netsys_session_data_remove(s, sid, "user"));
    CHECK_OK(netsys_session_data_has(s, sid, "user", &has));
    CHECK(!has);
    CHECK_OK(netsys_session_data_clear(s, sid));
    CHECK_OK(netsys_session_data_keys(s, sid, NULL, 0, &need, &nkeys));
    CHECK(nkeys == 0 && need == 0);

    // Disconnect with a reason: the client hears it.
    CHECK_OK(netsys_session_disconnect(s, sid, "go away"));
    CHECK_WITHIN(atomic_load(&r.disconnects) == 1, 5000);
    pthread_mutex_lock(&r.mu);
    CHECK(strcmp(r.last_reason, "go away") == 0);
    pthread_mutex_unlock(&r.mu);
    CHECK_WITHIN(atomic_load(&server_disconnects) == 1, 5000);
    CHECK_OK(netsys_client_wait(c, 5000));

    CHECK_OK(netsys_client_destroy(c));
    CHECK_OK(netsys_server_destroy(s));
    atomic_store(&server_connects, 0);
    atomic_store(&server_disconnects, 0);
}

/* ---- 100 concurrent clients, each from its own thread ------------------ */

enum { CLIENTS = 100, PER_CLIENT = 50 };

typedef struct worker_arg {
    int port;
    int index;
    int ok;
} worker_arg;

static void *client_thread(void *p) {
    worker_arg *a = p;
    recorder *r = malloc(sizeof *r);
    rec_init(r);
    char id[32];
    snprintf(id, sizeof id, "client-%d", a->index);
    netsys_client c = connect_recorder(r, id, a->port);
    send_numbers(c, 0, PER_CLIENT);
    CHECK_WITHIN(atomic_load(&r->messages) == PER_CLIENT, 20000);
    a->ok = atomic_load(&r->bad) == 0;
    CHECK_OK(netsys_client_destroy(c));
    free(r);
    return NULL;
}

static void test_concurrent_clients(void) {
    netsys_server s = make_server("echo");
    // All of them connect at once from one address: more simultaneous
    // handshakes than the per-address default (16) admits.
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_MAX_HANDSHAKES_PER_ADDRESS, CLIENTS));
    set_echo_callbacks(s);
    int port = start_server(s);
    pthread_t threads[CLIENTS];
    worker_arg args[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        args[i] = (worker_arg){.port = port, .index = i};
        CHECK(pthread_create(&threads[i], NULL, client_thread, &args[i]) == 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(args[i].ok);
    }
    netsys_server_stats st = {.struct_size = sizeof st};
    CHECK_OK(netsys_server_get_stats(s, &st));
    CHECK(st.total_connections == CLIENTS);
    CHECK(st.messages_received == CLIENTS * PER_CLIENT);
    CHECK_WITHIN(atomic_load(&server_disconnects) == CLIENTS, 10000);
    CHECK_OK(netsys_server_destroy(s));
    atomic_store(&server_disconnects, 0);
}

/* ---- groups and broadcast ---------------------------------------------- */

static atomic_int group_hits[3];

static void count_message(void *ud, netsys_client c, const uint8_t *data, size_t size) {
    atomic_fetch_add((atomic_int *)ud, 1);
}

static void test_groups_and_broadcast(void) {
    netsys_server s = make_server("groups");
    int port = start_server(s);
    netsys_client cs[3];
    uint64_t sids[3];
    for (int i = 0; i < 3; i++) {
        CHECK_OK(netsys_client_create(&cs[i], "member"));
        CHECK_OK(netsys_client_set_message_callback(cs[i], count_message, &group_hits[i]));
        CHECK_OK(netsys_client_connect(cs[i], "127.0.0.1", port));
        CHECK_OK(netsys_client_session_id(cs[i], &sids[i]));
    }
    size_t count;
    CHECK_WITHIN((netsys_server_connection_count(s, &count), count == 3), 2000);
    CHECK_OK(netsys_session_join_group(s, sids[0], "red"));
    CHECK_OK(netsys_session_join_group(s, sids[1], "red"));
    CHECK_OK(netsys_session_join_group(s, sids[1], "blue"));
    CHECK_RC(netsys_session_join_group(s, sids[1], NULL), NETSYS_E_NULL_POINTER);
    bool member = false;
    CHECK_OK(netsys_session_in_group(s, sids[1], "blue", &member));
    CHECK(member);
    CHECK_OK(netsys_session_in_group(s, sids[2], "blue", &member));
    CHECK(!member);
    char buf[64];
    size_t need, n;
    CHECK_OK(netsys_session_groups(s, sids[1], buf, sizeof buf, &need, &n));
    CHECK(n == 2 && strcmp(buf, "blue") == 0 && strcmp(buf + 5, "red") == 0);
    uint64_t ids[4];
    CHECK_OK(netsys_server_group_members(s, "red", ids, 4, &count));
    CHECK(count == 2);
    CHECK((ids[0] == sids[0] && ids[1] == sids[1]) || (ids[0] == sids[1] && ids[1] == sids[0]));

    size_t sent = 0, failed = 9;
    CHECK_OK(netsys_server_broadcast_to_group(s, "red", (const uint8_t *)"hi red", 6, &sent, &failed));
    CHECK(sent == 2 && failed == 0);
    CHECK_OK(netsys_server_broadcast_to_group(s, "nobody", (const uint8_t *)"x", 1, &sent, NULL));
    CHECK(sent == 0);
    CHECK_OK(netsys_server_broadcast(s, (const uint8_t *)"all", 3, &sent, &failed));
    CHECK(sent == 3 && failed == 0);
    CHECK_WITHIN(atomic_load(&group_hits[0]) == 2 && atomic_load(&group_hits[1]) == 2 &&
                     atomic_load(&group_hits[2]) == 1,
                 5000);
    CHECK_OK(netsys_session_leave_group(s, sids[0], "red"));
    CHECK_OK(netsys_session_leave_group(s, sids[0], "never-joined"));
    CHECK_OK(netsys_server_group_members(s, "red", ids, 4, &count));
    CHECK(count == 1 && ids[0] == sids[1]);

    CHECK_OK(netsys_server_disconnect_all(s, "bye all"));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(netsys_client_wait(cs[i], 5000));
        CHECK_OK(netsys_client_destroy(cs[i]));
    }
    CHECK_OK(netsys_server_destroy(s));
}

/* ---- oversize messages -------------------------------------------------- */

static void test_oversize(void) {
    netsys_server s = make_server("small");
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_MESSAGE_SIZE_LIMIT, 1024));
    int port = start_server(s);
    recorder r;
    rec_init(&r);
    netsys_client c = connect_recorder(&r, "big", port);
    uint8_t *big = calloc(1, 4096);
    // The client knows the server's limit from the handshake and refuses locally.
    CHECK_RC(netsys_client_send(c, big, 1025), NETSYS_E_TOO_LARGE);
    CHECK_OK(netsys_client_send(c, big, 1024));
    // Over the protocol's 1 GiB limit: refused before the memory is touched.
    CHECK_RC(netsys_client_send(c, big, ((size_t)1 << 30) + 1), NETSYS_E_TOO_LARGE);
    // The connection is still fine.
    bool connected = false;
    CHECK_OK(netsys_client_is_connected(c, &connected));
    CHECK(connected);
    // The server side refuses messages over the client's limit too.
    netsys_client small;
    CHECK_OK(netsys_client_create(&small, "small-limit"));
    CHECK_OK(netsys_client_set_int(small, NETSYS_OPT_MESSAGE_SIZE_LIMIT, 100));
    CHECK_OK(netsys_client_connect(small, "127.0.0.1", port));
    uint64_t sid;
    CHECK_OK(netsys_client_session_id(small, &sid));
    CHECK_WITHIN(netsys_server_has_session(s, sid) == NETSYS_OK, 2000);
    CHECK_RC(netsys_session_send(s, sid, big, 101), NETSYS_E_TOO_LARGE);
    CHECK_OK(netsys_session_send(s, sid, big, 100));
    free(big);
    CHECK_OK(netsys_client_destroy(small));
    CHECK_OK(netsys_client_destroy(c));
    CHECK_OK(netsys_server_destroy(s));
}

int main(void) {
    test_echo();
    test_concurrent_clients();
    test_groups_and_broadcast();
    test_oversize();
    check_no_live_handles();
    CHECK(atomic_load(&server_errors) == 0);
    puts("test_echo: ok");
    return 0;
}
