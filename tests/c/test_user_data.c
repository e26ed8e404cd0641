// A host pointer per session: netsys_session_set_user_data() /
// netsys_session_get_user_data() and the release callback. Every callback
// of a session reaches the pointer set at connect; the release hands each
// non-NULL pointer back exactly once (after the disconnect callback, on its
// thread; in the pull interface at the next poll; at destroy for the
// sessions still open), and a released session is not found any more.
#include "testutil.h"

#include <pthread.h>

#define MAX_SESSIONS 16

/// What one session's pointer points to.
typedef struct session_state {
    uint64_t id;
    atomic_int messages;
    atomic_int disconnected; // the disconnect callback has run
    pthread_t disconnect_thread;
} session_state;

/// What the release callback saw, per session id (ids are small here).
typedef struct releases {
    netsys_server server;
    atomic_int total;
    atomic_int per_id[256];
    atomic_int before_disconnect; // releases that came before the disconnect callback
    atomic_int other_thread;      // releases not on the disconnect callback's thread
    atomic_int still_found;       // the pointer was still reachable inside the release
    bool expect_disconnect;       // callbacks mode: the disconnect callback runs first
} releases;

static void on_release(void *ud, netsys_server s, uint64_t sid, void *data) {
    releases *r = ud;
    session_state *st = data;
    CHECK(st != NULL && st->id == sid && s == r->server);
    CHECK(sid < 256);
    atomic_fetch_add(&r->per_id[sid], 1);
    if (r->expect_disconnect) {
        if (!atomic_load(&st->disconnected)) {
            atomic_fetch_add(&r->before_disconnect, 1);
        } else if (!pthread_equal(st->disconnect_thread, pthread_self())) {
            atomic_fetch_add(&r->other_thread, 1);
        }
    }
    void *again = NULL;
    if (netsys_session_get_user_data(s, sid, &again) == NETSYS_OK && again == data) {
        atomic_fetch_add(&r->still_found, 1);
    }
    free(st);
    atomic_fetch_add(&r->total, 1);
}

static void on_connect(void *ud, netsys_server s, uint64_t sid) {
    void *none = (void *)1;
    CHECK_OK(netsys_session_get_user_data(s, sid, &none));
    CHECK(none == NULL); // nothing attached yet
    session_state *st = calloc(1, sizeof *st);
    CHECK(st != NULL);
    st->id = sid;
    CHECK_OK(netsys_session_set_user_data(s, sid, st));
    void *back = NULL;
    CHECK_OK(netsys_session_get_user_data(s, sid, &back));
    CHECK(back == st);
}

static void on_message(void *ud, netsys_server s, uint64_t sid, const uint8_t *data, size_t size) {
    void *p = NULL;
    CHECK_OK(netsys_session_get_user_data(s, sid, &p));
    CHECK(p != NULL && ((session_state *)p)->id == sid);
    atomic_fetch_add(&((session_state *)p)->messages, 1);
    netsys_session_send(s, sid, data, size);
}

static atomic_int disconnects_with_data;

static void on_disconnect(void *ud, netsys_server s, uint64_t sid, const char *reason) {
    void *p = NULL;
    // The session is closed for everything else, but its pointer is still
    // reachable here, where a host needs it most.
    CHECK_RC(netsys_server_has_session(s, sid), NETSYS_E_NOT_FOUND);
    CHECK_OK(netsys_session_get_user_data(s, sid, &p));
    if (p) {
        session_state *st = p;
        CHECK(st->id == sid && atomic_load(&st->messages) == 1);
        st->disconnect_thread = pthread_self();
        atomic_store(&st->disconnected, 1);
        atomic_fetch_add(&disconnects_with_data, 1);
    }
}

/// Three clients, each sending one message and leaving; one session's
/// pointer is cleared before it leaves, so only two are released.
static void run_callbacks(int workers) {
    releases r = {.expect_disconnect = true};
    atomic_store(&disconnects_with_data, 0);
    netsys_server s = make_server("user-data");
    r.server = s;
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_CALLBACK_WORKERS, workers));
    CHECK_OK(netsys_server_set_connect_callback(s, on_connect, NULL));
    CHECK_OK(netsys_server_set_message_callback(s, on_message, NULL));
    CHECK_OK(netsys_server_set_disconnect_callback(s, on_disconnect, NULL));
    CHECK_OK(netsys_server_set_session_release_callback(s, on_release, &r));
    int port = start_server(s);

    client_log logs[3];
    netsys_client clients[3];
    for (int i = 0; i < 3; i++) {
        clients[i] = connect_logged(&logs[i], port);
        CHECK_OK(netsys_client_send_string(clients[i], "hello"));
    }
    for (int i = 0; i < 3; i++) {
        CHECK_WITHIN(atomic_load(&logs[i].messages) == 1, 5000);
    }
    uint64_t ids[MAX_SESSIONS];
    size_t count = 0;
    CHECK_OK(netsys_server_sessions(s, ids, MAX_SESSIONS, &count));
    CHECK(count == 3);

    // Replaced, then cleared: the host owns it again and frees it itself.
    void *mine = NULL;
    CHECK_OK(netsys_session_get_user_data(s, ids[0], &mine));
    session_state *spare = calloc(1, sizeof *spare);
    CHECK_OK(netsys_session_set_user_data(s, ids[0], spare));
    void *back = NULL;
    CHECK_OK(netsys_session_get_user_data(s, ids[0], &back));
    CHECK(back == spare);
    CHECK_OK(netsys_session_set_user_data(s, ids[0], NULL));
    CHECK_OK(netsys_session_get_user_data(s, ids[0], &back));
    CHECK(back == NULL);
    free(spare);
    free(mine);

    for (int i = 0; i < 3; i++) {
        CHECK_OK(netsys_client_destroy(clients[i]));
    }
    CHECK_WITHIN(atomic_load(&r.total) == 2, 5000);
    CHECK_OK(netsys_server_stop(s));
    CHECK(atomic_load(&disconnects_with_data) == 2);
    for (size_t i = 0; i < count; i++) {
        CHECK(atomic_load(&r.per_id[ids[i]]) == (i == 0 ? 0 : 1));
        // Released: gone for the user-data calls too.
        void *p = (void *)1;
        CHECK_RC(netsys_session_get_user_data(s, ids[i], &p), NETSYS_E_NOT_FOUND);
        CHECK(p == (void *)1); // not written on failure
        CHECK_RC(netsys_session_set_user_data(s, ids[i], &r), NETSYS_E_NOT_FOUND);
    }
    CHECK(atomic_load(&r.before_disconnect) == 0);
    CHECK(atomic_load(&r.other_thread) == 0);
    CHECK(atomic_load(&r.still_found) == 0);
    CHECK_OK(netsys_server_destroy(s));
    CHECK(atomic_load(&r.total) == 2); // nothing released twice
}

/// Destroy releases the pointers of sessions still open, exactly once,
/// before it returns.
static void test_release_at_destroy(void) {
    releases r = {.expect_disconnect = false};
    netsys_server s = make_server("user-data-destroy");
    r.server = s;
    CHECK_OK(netsys_server_set_connect_callback(s, on_connect, NULL));
    CHECK_OK(netsys_server_set_session_release_callback(s, on_release, &r));
    int port = start_server(s);
    netsys_client clients[4];
    client_log logs[4];
    for (int i = 0; i < 4; i++) {
        clients[i] = connect_logged(&logs[i], port);
    }
    size_t n = 0;
    CHECK_WITHIN(netsys_server_connection_count(s, &n) == NETSYS_OK && n == 4, 5000);
    uint64_t ids[MAX_SESSIONS];
    size_t count = 0;
    CHECK_OK(netsys_server_sessions(s, ids, MAX_SESSIONS, &count));
    CHECK(count == 4);
    // The connect callbacks may still be running: wait for every pointer.
    for (size_t i = 0; i < count; i++) {
        void *p = NULL;
        CHECK_WITHIN(netsys_session_get_user_data(s, ids[i], &p) == NETSYS_OK && p != NULL, 5000);
    }
    CHECK(atomic_load(&r.total) == 0);
    CHECK_OK(netsys_server_destroy(s));
    CHECK(atomic_load(&r.total) == 4);
    for (size_t i = 0; i < count; i++) {
        CHECK(atomic_load(&r.per_id[ids[i]]) == 1);
    }
    void *p = NULL;
    CHECK_RC(netsys_session_get_user_data(s, ids[0], &p), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_session_set_user_data(s, ids[0], &r), NETSYS_E_INVALID_HANDLE);
    for (int i = 0; i < 4; i++) {
        CHECK_OK(netsys_client_destroy(clients[i]));
    }
}

/// Polls until an event of `type` arrives (others are skipped); returns
/// its session id.
static uint64_t poll_until(netsys_server s, uint32_t type) {
    netsys_event ev[16];
    int64_t deadline = now_ms() + 5000;
    while (now_ms() < deadline) {
        size_t n = 0;
        CHECK_OK(netsys_server_poll(s, ev, 1, 100, &n));
        if (n == 1 && ev[0].type == type) {
            return ev[0].session_id;
        }
    }
    fprintf(stderr, "no event of type %u within 5 s\n", type);
    exit(1);
}

/// The pull interface: the pointer is reachable while the DISCONNECT event
/// is handled and released by the next poll, on the polling thread.
static void test_pull_release_at_next_poll(void) {
    releases r = {.expect_disconnect = false};
    netsys_server s = make_server("user-data-pull");
    r.server = s;
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_DELIVERY, NETSYS_DELIVERY_EVENTS));
    CHECK_OK(netsys_server_set_session_release_callback(s, on_release, &r));
    int port = start_server(s);
    client_log log;
    netsys_client c = connect_logged(&log, port);
    uint64_t sid = poll_until(s, NETSYS_EVENT_CONNECT);
    session_state *st = calloc(1, sizeof *st);
    st->id = sid;
    CHECK_OK(netsys_session_set_user_data(s, sid, st));
    CHECK_OK(netsys_client_destroy(c));
    CHECK(poll_until(s, NETSYS_EVENT_DISCONNECT) == sid);
    void *p = NULL;
    CHECK_OK(netsys_session_get_user_data(s, sid, &p));
    CHECK(p == st);
    CHECK(atomic_load(&r.total) == 0); // not while its DISCONNECT is handled
    netsys_event ev[4];
    size_t n = 0;
    CHECK_OK(netsys_server_poll(s, ev, 4, 0, &n));
    CHECK(atomic_load(&r.total) == 1 && atomic_load(&r.per_id[sid]) == 1);
    CHECK_RC(netsys_session_get_user_data(s, sid, &p), NETSYS_E_NOT_FOUND);
    CHECK_OK(netsys_server_destroy(s));
    CHECK(atomic_load(&r.total) == 1);
}

/// Replacing the pointer inside the disconnect callback: the release gets
/// the replacement. Without a disconnect callback the release still comes.
static void replace_on_disconnect(void *ud, netsys_server s, uint64_t sid, const char *reason) {
    void *old = NULL;
    CHECK_OK(netsys_session_get_user_data(s, sid, &old));
    session_state *fresh = calloc(1, sizeof *fresh);
    CHECK(old != NULL && fresh != NULL);
    fresh->id = sid;
    fresh->disconnect_thread = pthread_self();
    atomic_store(&fresh->disconnected, 1);
    CHECK_OK(netsys_session_set_user_data(s, sid, fresh));
    free(old); // the host's again once replaced
}

static void test_release_follows_the_last_pointer(void) {
    for (int with_callback = 0; with_callback < 2; with_callback++) {
        releases r = {.expect_disconnect = with_callback != 0};
        netsys_server s = make_server("user-data-replace");
        r.server = s;
        CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_CALLBACK_WORKERS, 1));
        CHECK_OK(netsys_server_set_connect_callback(s, on_connect, NULL));
        if (with_callback) {
            CHECK_OK(netsys_server_set_disconnect_callback(s, replace_on_disconnect, NULL));
        }
        CHECK_OK(netsys_server_set_session_release_callback(s, on_release, &r));
        int port = start_server(s);
        client_log log;
        netsys_client c = connect_logged(&log, port);
        uint64_t sid = 0;
        size_t n = 0;
        CHECK_WITHIN(netsys_server_sessions(s, &sid, 1, &n) == NETSYS_OK && n == 1, 5000);
        void *p = NULL;
        CHECK_WITHIN(netsys_session_get_user_data(s, sid, &p) == NETSYS_OK && p != NULL, 5000);
        CHECK_OK(netsys_client_destroy(c));
        CHECK_WITHIN(atomic_load(&r.total) == 1, 5000);
        CHECK(atomic_load(&r.per_id[sid]) == 1);
        CHECK(atomic_load(&r.before_disconnect) == 0 && atomic_load(&r.other_thread) == 0);
        CHECK_OK(netsys_server_destroy(s));
        CHECK(atomic_load(&r.total) == 1);
    }
}

static void test_argument_checks(void) {
    netsys_server s = make_server("user-data-args");
    start_server(s);
    void *p = NULL;
    CHECK_RC(netsys_session_get_user_data(s, 999999, &p), NETSYS_E_NOT_FOUND);
    CHECK_RC(netsys_session_set_user_data(s, 999999, &p), NETSYS_E_NOT_FOUND);
    CHECK_RC(netsys_session_get_user_data(s, 999999, NULL), NETSYS_E_NULL_POINTER);
    CHECK_OK(netsys_server_set_session_release_callback(s, on_release, NULL));
    CHECK_OK(netsys_server_set_session_release_callback(s, NULL, NULL));
    CHECK_OK(netsys_server_destroy(s));
    CHECK_RC(netsys_server_set_session_release_callback(s, on_release, NULL), NETSYS_E_INVALID_HANDLE);
}

int main(void) {
    run_callbacks(0); // on the I/O threads
    run_callbacks(2); // on callback workers
    test_release_at_destroy();
    test_pull_release_at_next_poll();
    test_release_follows_the_last_pointer();
    test_argument_checks();
    check_no_live_handles();
    puts("test_user_data: ok");
    return 0;
}
