// Peers that vanish mid-stream, seen from a C host that sets SIGPIPE to its
// default action (so a single SIGPIPE would kill this test):
// - a raw socket that writes half a frame and closes;
// - a raw socket that completes the handshake, sends half a DATA frame and
//   resets the connection while the server streams data to it;
// - a netsys client whose server vanishes while it sends.
// After each, the server still serves a well-behaved client.
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_int connects, disconnects, errors;
static atomic_ullong last_sid;

static void on_connect(void *ud, netsys_server s, uint64_t sid) {
    atomic_store(&last_sid, sid);
    atomic_fetch_add(&connects, 1);
}
static void on_message(void *ud, netsys_server s, uint64_t sid, const uint8_t *d, size_t n) {
    netsys_session_send(s, sid, d, n);
}
static void on_disconnect(void *ud, netsys_server s, uint64_t sid, const char *reason) {
    atomic_fetch_add(&disconnects, 1);
}
static void on_error(void *ud, netsys_server s, uint64_t sid, netsys_status code, const char *msg) {
    atomic_fetch_add(&errors, 1);
}

static int raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

/// Closes with RST instead of FIN: the server's next write fails at once.
static void reset_close(int fd) {
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        CHECK(k > 0);
        c += k;
        n -= (size_t)k;
    }
}

/// A well-behaved client still gets its echo.
static void check_server_serves(int port) {
    netsys_client c;
    CHECK_OK(netsys_client_create(&c, "healthy"));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    netsys_client_stats st = {.struct_size = sizeof st};
    CHECK_OK(netsys_client_send_string(c, "still there?"));
    CHECK_WITHIN((netsys_client_get_stats(c, &st), st.messages_received == 1), 5000);
    CHECK_OK(netsys_client_destroy(c));
}

int main(void) {
    // The strictest host: SIGPIPE at its default action (terminate), which
    // also replaces the handler the Go runtime installed when the library
    // was loaded. Any SIGPIPE raised by a write now kills this test.
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGPIPE, &sa, NULL) == 0);

    netsys_server s = make_server("vanish");
    CHECK_OK(netsys_server_set_connect_callback(s, on_connect, NULL));
    CHECK_OK(netsys_server_set_message_callback(s, on_message, NULL));
    CHECK_OK(netsys_server_set_disconnect_callback(s, on_disconnect, NULL));
    CHECK_OK(netsys_server_set_error_callback(s, on_error, NULL));
    int port = start_server(s);

    // 1. Half a frame header, then gone.
    int fd = raw_connect(port);
    write_all(fd, "\x00\x00\x00", 3);
    close(fd);
    check_server_serves(port);

    // 2. A full HELLO, early half DATA frame, then RST while the server streams.
    fd = raw_connect(port);
    static const unsigned char hello[] = {
        0, 0, 0, 11, 0x01, 0,    // header: length 11, HELLO
        0, 1, 0, 1,              // versions 1..1
        0, 0x10, 0, 0,           // max_message 1 MiB
        0,                       // client id ""
        0,                       // no codecs
        0,                       // no transforms
    };
    write_all(fd, hello, sizeof hello);
    CHECK_WITHIN(atomic_load(&connects) == 2, 5000); // 1 from check_server_serves
    uint64_t sid = atomic_load(&last_sid);
    static const unsigned char half_data[] = {0, 0, 0, 100, 0x04, 0, 'a', 'b', 'c'};
    write_all(fd, half_data, sizeof half_data);
    // Stream to the raw peer, which never reads, until it is gone.
    static uint8_t chunk[65536];
    int sends = 0;
    netsys_status rc = NETSYS_OK;
    int64_t deadline = now_ms() + 10000;
    for (; now_ms() < deadline; sends++) {
        rc = netsys_session_send(s, sid, chunk, sizeof chunk);
        if (rc == NETSYS_E_WOULD_BLOCK) { // queue full: the peer does not read
            if (fd >= 0) {
                reset_close(fd);
                fd = -1;
            }
            sleep_ms(1);
            continue;
        }
        if (rc != NETSYS_OK) break;
        if (sends == 20 && fd >= 0) {
            reset_close(fd);
            fd = -1;
        }
    }
    CHECK(rc == NETSYS_E_NOT_FOUND || rc == NETSYS_E_CLOSED);
    CHECK_WITHIN(atomic_load(&disconnects) == 2, 5000);
    check_server_serves(port);

    // 3. The server vanishes while a client sends.
    netsys_client c;
    CHECK_OK(netsys_client_create(&c, "orphan"));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    CHECK_OK(netsys_server_destroy(s));
    for (int i = 0; i < 1000; i++) {
        rc = netsys_client_send(c, chunk, 1024);
        if (rc != NETSYS_OK) break;
    }
    CHECK_OK(netsys_client_wait(c, 5000));
    CHECK_OK(netsys_client_destroy(c));

    check_no_live_handles();
    printf("test_vanish: ok (%d sends before the reset peer was noticed, no SIGPIPE)\n", sends);
    return 0;
}
