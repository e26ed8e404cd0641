// Lifecycle, options, invalid handles and invalid arguments of the C ABI:
// every bad input must give its own status code and a message, and must
// not disturb anything else.
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_version_and_errors(void) {
    CHECK(netsys_version() == NETSYS_VERSION);
    char header_version[32];
    snprintf(header_version, sizeof header_version, "%d.%d.%d", NETSYS_VERSION_MAJOR, NETSYS_VERSION_MINOR,
             NETSYS_VERSION_PATCH);
    CHECK(strcmp(netsys_version_string(), header_version) == 0);
    CHECK(strcmp(netsys_strerror(NETSYS_OK), "success") == 0);
    CHECK(strcmp(netsys_strerror(NETSYS_E_INVALID_HANDLE), "invalid handle") == 0);
    CHECK(strcmp(netsys_strerror(-1), "unknown status") == 0);
    CHECK(strcmp(netsys_strerror(9999), "unknown status") == 0);
    for (int code = 0; code <= NETSYS_E_INTERNAL; code++)
        CHECK(strcmp(netsys_strerror(code), "unknown status") != 0);

    // The last error is per thread and holds the detailed message.
    CHECK_RC(netsys_server_start(12345), NETSYS_E_INVALID_HANDLE);
    CHECK(netsys_last_error() == NETSYS_E_INVALID_HANDLE);
    size_t need = netsys_last_error_message(NULL, 0);
    CHECK(need > 1);
    char *msg = malloc(need);
    CHECK(netsys_last_error_message(msg, need) == need);
    CHECK(strlen(msg) == need - 1);
    CHECK(strstr(msg, "12345") != NULL);
    char small[4];
    CHECK(netsys_last_error_message(small, sizeof small) == need);
    CHECK(strlen(small) == 3); // truncated, NUL-terminated
    free(msg);
}

static void test_invalid_handles(void) {
    bool b;
    int port;
    size_t n;
    netsys_event ev[4];
    CHECK_RC(netsys_server_destroy(0), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_server_stop(0), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_server_is_running(77, &b), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_server_port(~(uint64_t)0, &port), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_server_poll(5, ev, 4, 0, &n), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_session_send(0, 1, (const uint8_t *)"x", 1), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_client_send(0, (const uint8_t *)"x", 1), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_client_destroy(3), NETSYS_E_INVALID_HANDLE);

    // A server handle is not a client handle and vice versa.
    netsys_server s;
    netsys_client c;
    CHECK_OK(netsys_server_create(&s, "s"));
    CHECK_OK(netsys_client_create(&c, "c"));
    CHECK(s != c);
    CHECK_RC(netsys_client_destroy(s), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_server_destroy(c), NETSYS_E_INVALID_HANDLE);
    CHECK_OK(netsys_server_destroy(s));
    CHECK_OK(netsys_client_destroy(c));
    // Destroyed handles stay invalid; destroying twice is harmless.
    CHECK_RC(netsys_server_destroy(s), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_client_destroy(c), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_server_start(s), NETSYS_E_INVALID_HANDLE);
    CHECK_RC(netsys_client_connect(c, "127.0.0.1", 1), NETSYS_E_INVALID_HANDLE);
    // Handles are not reused.
    netsys_server s2;
    CHECK_OK(netsys_server_create(&s2, "s2"));
    CHECK(s2 != s && s2 != c);
    CHECK_OK(netsys_server_destroy(s2));
}

static void test_null_and_bad_arguments(void) {
    CHECK_RC(netsys_server_create(NULL, "x"), NETSYS_E_NULL_POINTER);
    netsys_server s;
    CHECK_RC(netsys_server_create(&s, NULL), NETSYS_E_NULL_POINTER);
    CHECK_RC(netsys_client_create(NULL, "x"), NETSYS_E_NULL_POINTER);
    char longid[300];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    netsys_client c;
    CHECK_RC(netsys_client_create(&c, longid), NETSYS_E_INVALID_ARGUMENT);

    s = make_server("args");
    CHECK_RC(netsys_server_port(s, NULL), NETSYS_E_NULL_POINTER);
    CHECK_RC(netsys_server_is_running(s, NULL), NETSYS_E_NULL_POINTER);
    CHECK_RC(netsys_server_set_string(s, NETSYS_OPT_BIND_ADDRESS, NULL), NETSYS_E_NULL_POINTER);
    // Options: wrong object, wrong type, unknown, out of range.
    CHECK_RC(netsys_server_set_int(s, NETSYS_OPT_AUTO_RECONNECT, 1), NETSYS_E_UNSUPPORTED);
    CHECK_RC(netsys_server_set_int(s, (netsys_option)999, 1), NETSYS_E_UNSUPPORTED);
    CHECK_RC(netsys_server_set_int(s, NETSYS_OPT_BIND_ADDRESS, 1), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_server_set_string(s, NETSYS_OPT_PORT, "80"), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_server_set_int(s, NETSYS_OPT_PORT, 70000), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_server_set_int(s, NETSYS_OPT_PORT, -1), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_server_set_int(s, NETSYS_OPT_NO_DELAY, 2), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_server_set_int(s, NETSYS_OPT_DELIVERY, 7), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_server_set_string(s, NETSYS_OPT_COMPRESSION, "lz77"), NETSYS_E_INVALID_ARGUMENT);
    // A refused value leaves the stored one unchanged.
    int64_t v = -1;
    CHECK_OK(netsys_server_get_int(s, NETSYS_OPT_PORT, &v));
    CHECK(v == 0);
    CHECK_OK(netsys_server_get_int(s, NETSYS_OPT_LOOPS, &v));
    CHECK(v == 2);
    // Every option of core.ServerConfig can be set and read back.
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_MESSAGE_SIZE_LIMIT, 4096));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_SEND_QUEUE_LIMIT, 1 << 20));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_NO_DELAY, 0));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_KEEP_ALIVE, 1));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_RECEIVE_BUFFER_SIZE, 65536));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_SEND_BUFFER_SIZE, 65536));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_IDLE_TIMEOUT_MS, 30000));
    CHECK_OK(netsys_server_set_string(s, NETSYS_OPT_COMPRESSION, "zstd, s2"));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_MIN_COMPRESS_SIZE, 128));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_SHUTDOWN_TIMEOUT_MS, 2000));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_MAX_CONNECTIONS, 10));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_HANDSHAKE_TIMEOUT_MS, 3000));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_SPIN_BEFORE_WAIT_US, 50));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_CALLBACK_WORKERS, 2));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_EVENT_QUEUE_LIMIT, 100));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_EVENT_QUEUE_BYTES, 1 << 20));
    CHECK_OK(netsys_server_get_int(s, NETSYS_OPT_MESSAGE_SIZE_LIMIT, &v));
    CHECK(v == 4096);
    CHECK_OK(netsys_server_get_int(s, NETSYS_OPT_NO_DELAY, &v));
    CHECK(v == 0);
    CHECK_OK(netsys_server_get_int(s, NETSYS_OPT_SPIN_BEFORE_WAIT_US, &v));
    CHECK(v == 50);
    // Timeouts with a default: 0 is the default, -1 turns them off.
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_IDLE_TIMEOUT_MS, -1));
    CHECK_OK(netsys_server_get_int(s, NETSYS_OPT_IDLE_TIMEOUT_MS, &v));
    CHECK(v == -1);
    CHECK_RC(netsys_server_set_int(s, NETSYS_OPT_IDLE_TIMEOUT_MS, -2), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_server_set_int(s, NETSYS_OPT_HANDSHAKE_TIMEOUT_MS, -1), NETSYS_E_INVALID_ARGUMENT);
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_FRAME_TIMEOUT_MS, 0));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_SEND_STALL_TIMEOUT_MS, -1));
    CHECK_OK(netsys_server_get_int(s, NETSYS_OPT_SEND_STALL_TIMEOUT_MS, &v));
    CHECK(v == -1);
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_FRAME_TIMEOUT_MS, 2500));
    CHECK_OK(netsys_server_get_int(s, NETSYS_OPT_FRAME_TIMEOUT_MS, &v));
    CHECK(v == 2500);
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_MAX_PENDING_HANDSHAKES, 64));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_MAX_HANDSHAKES_PER_ADDRESS, 4));
    CHECK_OK(netsys_server_get_int(s, NETSYS_OPT_MAX_HANDSHAKES_PER_ADDRESS, &v));
    CHECK(v == 4);
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_IDLE_TIMEOUT_MS, 30000));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_ACKNOWLEDGED, 1));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_ACK_BUFFER_BYTES, 1 << 16));
    CHECK_OK(netsys_server_get_int(s, NETSYS_OPT_ACK_BUFFER_BYTES, &v));
    CHECK(v == 1 << 16);
    CHECK_RC(netsys_server_set_int(s, NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS, 100), NETSYS_E_UNSUPPORTED);
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_ACKNOWLEDGED, 0));
    char buf[64];
    size_t need = 0;
    CHECK_OK(netsys_server_get_string(s, NETSYS_OPT_COMPRESSION, buf, sizeof buf, &need));
    CHECK(strcmp(buf, "zstd,s2") == 0 && need == 8);
    // Size query: capacity 0 asks the size; a short buffer truncates.
    CHECK_RC(netsys_server_get_string(s, NETSYS_OPT_BIND_ADDRESS, NULL, 0, &need), NETSYS_E_BUFFER_TOO_SMALL);
    CHECK(need == strlen("127.0.0.1") + 1);
    CHECK_RC(netsys_server_get_string(s, NETSYS_OPT_BIND_ADDRESS, buf, 4, &need), NETSYS_E_BUFFER_TOO_SMALL);
    CHECK(strcmp(buf, "127") == 0);
    CHECK_RC(netsys_server_get_string(s, NETSYS_OPT_BIND_ADDRESS, buf, sizeof buf, NULL), NETSYS_E_NULL_POINTER);
    CHECK_RC(netsys_server_get_string(s, NETSYS_OPT_BIND_ADDRESS, NULL, 8, &need), NETSYS_E_NULL_POINTER);
    CHECK_OK(netsys_server_id(s, buf, sizeof buf, &need));
    CHECK(strcmp(buf, "args") == 0);
    // Stats need struct_size.
    netsys_server_stats st = {0};
    CHECK_RC(netsys_server_get_stats(s, &st), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_server_get_stats(s, NULL), NETSYS_E_NULL_POINTER);
    st.struct_size = sizeof st;
    CHECK_OK(netsys_server_get_stats(s, &st));
    CHECK(st.struct_size == sizeof st && st.start_time_ns == 0);
    // Calls in the wrong state.
    size_t sent = 0, failed = 0;
    CHECK_RC(netsys_server_broadcast(s, (const uint8_t *)"x", 1, &sent, &failed), NETSYS_E_NOT_RUNNING);
    netsys_event ev[2];
    size_t n;
    CHECK_RC(netsys_server_poll(s, ev, 2, 0, &n), NETSYS_E_WRONG_MODE);
    int fd;
    CHECK_RC(netsys_server_event_fd(s, &fd), NETSYS_E_WRONG_MODE);
    CHECK_OK(netsys_server_wait(s, 0)); // never started: at once
    CHECK_OK(netsys_server_stop(s));    // stopping a stopped server is fine
    CHECK_OK(netsys_server_destroy(s));

    // Client options and states.
    CHECK_OK(netsys_client_create(&c, "cli"));
    CHECK_RC(netsys_client_set_int(c, NETSYS_OPT_PORT, 1), NETSYS_E_UNSUPPORTED);
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_CONNECT_TIMEOUT_MS, 2000));
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_AUTO_RECONNECT, 1));
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_RECONNECT_INTERVAL_MS, 100));
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_RECONNECT_MAX_INTERVAL_MS, 1000));
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_RECONNECT_QUEUE_LIMIT, 10));
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_AUTO_RECONNECT, 0));
    CHECK_OK(netsys_client_get_int(c, NETSYS_OPT_RECONNECT_QUEUE_LIMIT, &v));
    CHECK(v == 10);
    // The reconnect queue's byte bound (0: the default 64 MiB) and
    // deadline (0: the default 60 s, -1: none).
    CHECK_OK(netsys_client_get_int(c, NETSYS_OPT_RECONNECT_QUEUE_BYTES, &v));
    CHECK(v == 0);
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_RECONNECT_QUEUE_BYTES, 4096));
    CHECK_OK(netsys_client_get_int(c, NETSYS_OPT_RECONNECT_QUEUE_BYTES, &v));
    CHECK(v == 4096);
    CHECK_OK(netsys_client_get_int(c, NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS, &v));
    CHECK(v == 0);
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS, -1));
    CHECK_OK(netsys_client_get_int(c, NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS, &v));
    CHECK(v == -1);
    CHECK_RC(netsys_client_set_int(c, NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS, -2), NETSYS_E_INVALID_ARGUMENT);
    // Acknowledged delivery: a bool, a byte bound, and the queue timeout
    // (0 default, -1 off), all of them client options; the first two are
    // server options too, the timeout is not.
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_ACKNOWLEDGED, 1));
    CHECK_OK(netsys_client_get_int(c, NETSYS_OPT_ACKNOWLEDGED, &v));
    CHECK(v == 1);
    CHECK_RC(netsys_client_set_int(c, NETSYS_OPT_ACKNOWLEDGED, 2), NETSYS_E_INVALID_ARGUMENT);
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_ACK_BUFFER_BYTES, 4096));
    CHECK_OK(netsys_client_get_int(c, NETSYS_OPT_ACK_BUFFER_BYTES, &v));
    CHECK(v == 4096);
    CHECK_RC(netsys_client_set_int(c, NETSYS_OPT_ACK_BUFFER_BYTES, -1), NETSYS_E_INVALID_ARGUMENT);
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS, -1));
    CHECK_OK(netsys_client_get_int(c, NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS, &v));
    CHECK(v == -1);
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS, 300));
    CHECK_OK(netsys_client_get_int(c, NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS, &v));
    CHECK(v == 300);
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_ACKNOWLEDGED, 0));
    CHECK_OK(netsys_client_set_string(c, NETSYS_OPT_CLIENT_ID, "renamed"));
    CHECK_OK(netsys_client_id(c, buf, sizeof buf, &need));
    CHECK(strcmp(buf, "renamed") == 0);
    CHECK_RC(netsys_client_send(c, (const uint8_t *)"x", 1), NETSYS_E_NOT_CONNECTED);
    CHECK_RC(netsys_client_send(c, NULL, 3), NETSYS_E_NULL_POINTER);
    CHECK_RC(netsys_client_send_string(c, NULL), NETSYS_E_NULL_POINTER);
    CHECK_RC(netsys_client_connect(c, NULL, 80), NETSYS_E_NULL_POINTER);
    CHECK_RC(netsys_client_connect(c, "127.0.0.1", 0), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_client_connect(c, "", 80), NETSYS_E_INVALID_ARGUMENT);
    CHECK_OK(netsys_client_wait(c, 0));
    CHECK_OK(netsys_client_destroy(c));
}

/// A port on 127.0.0.1 on which nothing listens (bound then closed).
static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t len = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_start_stop(void) {
    netsys_server s = make_server("life");
    bool running = true;
    CHECK_OK(netsys_server_is_running(s, &running));
    CHECK(!running);
    int port = start_server(s);
    CHECK_OK(netsys_server_is_running(s, &running));
    CHECK(running);
    CHECK_RC(netsys_server_start(s), NETSYS_E_ALREADY_RUNNING);
    CHECK_RC(netsys_server_set_int(s, NETSYS_OPT_MAX_CONNECTIONS, 5), NETSYS_E_ALREADY_RUNNING);
    CHECK_RC(netsys_server_wait(s, 20), NETSYS_E_TIMEOUT);

    // A second server on the same port cannot bind.
    netsys_server s2 = make_server("clash");
    CHECK_OK(netsys_server_set_int(s2, NETSYS_OPT_PORT, port));
    CHECK_RC(netsys_server_start(s2), NETSYS_E_BIND);
    CHECK_OK(netsys_server_set_string(s2, NETSYS_OPT_BIND_ADDRESS, "not an address"));
    CHECK_RC(netsys_server_start(s2), NETSYS_E_BAD_ADDRESS);
    CHECK_OK(netsys_server_destroy(s2));

    // A client connects, sees the server stop, and the server restarts.
    netsys_client c;
    CHECK_OK(netsys_client_create(&c, "c1"));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    bool connected = false;
    CHECK_OK(netsys_client_is_connected(c, &connected));
    CHECK(connected);
    uint64_t sid = 0;
    CHECK_OK(netsys_client_session_id(c, &sid));
    CHECK(sid != 0);
    CHECK_RC(netsys_client_connect(c, "127.0.0.1", port), NETSYS_E_ALREADY_RUNNING);
    size_t count = 0;
    CHECK_WITHIN((netsys_server_connection_count(s, &count), count == 1), 2000);
    CHECK_OK(netsys_server_stop(s));
    CHECK_OK(netsys_server_is_running(s, &running));
    CHECK(!running);
    CHECK_OK(netsys_server_wait(s, -1));
    CHECK_OK(netsys_client_wait(c, 5000)); // lost connection, no auto-reconnect: stopped
    CHECK_OK(netsys_client_is_connected(c, &connected));
    CHECK(!connected);
    CHECK_RC(netsys_client_send(c, (const uint8_t *)"x", 1), NETSYS_E_NOT_CONNECTED);

    CHECK_OK(netsys_server_start(s));
    int port2 = 0;
    CHECK_OK(netsys_server_port(s, &port2));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port2));
    CHECK_OK(netsys_client_stop(c));
    CHECK_OK(netsys_client_stop(c)); // idempotent
    CHECK_OK(netsys_client_destroy(c));
    CHECK_OK(netsys_server_destroy(s)); // destroy stops a running server

    // Connecting to a port nobody listens on.
    CHECK_OK(netsys_client_create(&c, "c2"));
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_CONNECT_TIMEOUT_MS, 2000));
    CHECK_RC(netsys_client_connect(c, "127.0.0.1", closed_port()), NETSYS_E_CONNECT);
    bool crunning = true;
    CHECK_OK(netsys_client_is_running(c, &crunning));
    CHECK(!crunning);
    CHECK_OK(netsys_client_destroy(c));
}

static void test_server_full(void) {
    netsys_server s = make_server("full");
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_MAX_CONNECTIONS, 1));
    int port = start_server(s);
    netsys_client a, b;
    CHECK_OK(netsys_client_create(&a, "a"));
    CHECK_OK(netsys_client_create(&b, "b"));
    CHECK_OK(netsys_client_connect(a, "127.0.0.1", port));
    CHECK_RC(netsys_client_connect(b, "127.0.0.1", port), NETSYS_E_SERVER_FULL);
    CHECK_OK(netsys_client_destroy(a));
    CHECK_OK(netsys_client_destroy(b));
    CHECK_OK(netsys_server_destroy(s));
}

int main(void) {
    test_version_and_errors();
    test_invalid_handles();
    test_null_and_bad_arguments();
    test_start_stop();
    test_server_full();
    check_no_live_handles();
    puts("test_lifecycle: ok");
    return 0;
}
