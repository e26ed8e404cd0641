// The pull interface: events drained with netsys_*_poll(), the event fd
// watched with epoll, backpressure when the host falls behind (nothing is
// dropped, nothing grows without bound), and poll's argument checks.
#include "testutil.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

/// Polls until an event of `type` arrives, skipping others, and copies its
/// text into `text` if given. Fails after 5 s.
static netsys_event poll_for_server(netsys_server s, uint32_t type, char *text, size_t text_cap) {
    netsys_event ev[16];
    int64_t deadline = now_ms() + 5000;
    while (now_ms() < deadline) {
        size_t n = 0;
        CHECK_OK(netsys_server_poll(s, ev, 16, 100, &n));
        for (size_t i = 0; i < n; i++) {
            if (ev[i].type == type) {
                if (text) {
                    size_t k = ev[i].size < text_cap - 1 ? ev[i].size : text_cap - 1;
                    memcpy(text, ev[i].data ? (const char *)ev[i].data : "", k);
                    text[k] = 0;
                }
                return ev[i];
            }
        }
    }
    fprintf(stderr, "no event of type %u within 5 s\n", type);
    exit(1);
}

static void echo(void *ud, netsys_server s, uint64_t sid, const uint8_t *data, size_t size) {
    netsys_session_send(s, sid, data, size);
}

static int fd_readable(int epfd, int timeout_ms) {
    struct epoll_event e;
    return epoll_wait(epfd, &e, 1, timeout_ms);
}

static void test_server_events(void) {
    netsys_server s = make_server("pull");
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_DELIVERY, NETSYS_DELIVERY_EVENTS));
    int fd = -1, fd2 = -2;
    CHECK_OK(netsys_server_event_fd(s, &fd));
    CHECK_OK(netsys_server_event_fd(s, &fd2));
    CHECK(fd >= 0 && fd == fd2);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event reg = {.events = EPOLLIN};
    CHECK(epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &reg) == 0);
    CHECK(fd_readable(epfd, 0) == 0);

    // Poll's argument checks.
    netsys_event ev[64];
    size_t n = 7;
    CHECK_RC(netsys_server_poll(s, ev, 0, 0, &n), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_server_poll(s, NULL, 4, 0, &n), NETSYS_E_NULL_POINTER);
    CHECK_RC(netsys_server_poll(s, ev, 4, 0, NULL), NETSYS_E_NULL_POINTER);
    CHECK_OK(netsys_server_poll(s, ev, 4, 0, &n));
    CHECK(n == 0);
    int64_t t0 = now_ms();
    CHECK_OK(netsys_server_poll(s, ev, 4, 50, &n));
    CHECK(n == 0 && now_ms() - t0 >= 45);

    int port = start_server(s);
    netsys_client c;
    CHECK_OK(netsys_client_create(&c, "puller"));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    // The fd becomes readable once the connect event is queued.
    CHECK(fd_readable(epfd, 5000) == 1);
    char text[128];
    netsys_event e = poll_for_server(s, NETSYS_EVENT_CONNECT, text, sizeof text);
    CHECK(strcmp(text, "puller") == 0 && e.session_id != 0);
    CHECK(e.data[e.size] == 0); // text is NUL-terminated
    uint64_t sid = e.session_id;
    CHECK(fd_readable(epfd, 0) == 0); // drained: not readable any more

    // Messages arrive in order with their payloads; a batch drains many.
    for (int i = 0; i < 100; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "m%d", i);
        CHECK_OK(netsys_client_send_string(c, msg));
    }
    int got = 0;
    int64_t deadline = now_ms() + 5000;
    while (got < 100 && now_ms() < deadline) {
        CHECK(fd_readable(epfd, 1000) == 1);
        CHECK_OK(netsys_server_poll(s, ev, 64, 0, &n));
        for (size_t i = 0; i < n; i++) {
            CHECK(ev[i].type == NETSYS_EVENT_MESSAGE && ev[i].session_id == sid && ev[i].status == NETSYS_OK);
            char want[16];
            snprintf(want, sizeof want, "m%d", got);
            CHECK(ev[i].size == strlen(want) && memcmp(ev[i].data, want, ev[i].size) == 0);
            got++;
        }
    }
    CHECK(got == 100);
    CHECK_OK(netsys_session_send_string(s, sid, "from the host"));
    // Per-session callbacks do not exist in events mode.
    CHECK_RC(netsys_session_set_message_callback(s, sid, echo, NULL), NETSYS_E_WRONG_MODE);

    // Disconnect, then STOPPED as the last event of the run.
    CHECK_OK(netsys_client_destroy(c));
    e = poll_for_server(s, NETSYS_EVENT_DISCONNECT, text, sizeof text);
    CHECK(e.session_id == sid && strlen(text) > 0);
    CHECK_OK(netsys_server_stop(s));
    poll_for_server(s, NETSYS_EVENT_STOPPED, NULL, 0);
    // The session is gone now.
    CHECK_RC(netsys_session_set_message_callback(s, sid, NULL, NULL), NETSYS_E_NOT_FOUND);
    close(epfd);
    CHECK_OK(netsys_server_destroy(s));
}

/* ---- backpressure -------------------------------------------------------- */

enum { FLOOD = 20000, FLOOD_SIZE = 100, QUEUE_LIMIT = 64 };

// bound_event_queue makes s deliver through the pull interface with a
// small event queue and small socket reads, so a flood reaches the bound.
static void bound_event_queue(netsys_server s) {
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_DELIVERY, NETSYS_DELIVERY_EVENTS));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_EVENT_QUEUE_LIMIT, QUEUE_LIMIT));
    CHECK_OK(netsys_server_set_int(s, NETSYS_OPT_RECEIVE_BUFFER_SIZE, 16384));
}

// connect_flooder connects a client whose send queue holds a whole flood.
static netsys_client connect_flooder(int port) {
    netsys_client c;
    CHECK_OK(netsys_client_create(&c, "flooder"));
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_SEND_QUEUE_LIMIT, 64 << 20));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    return c;
}

static void test_backpressure(void) {
    netsys_server s = make_server("slow-host");
    bound_event_queue(s);
    int port = start_server(s);
    netsys_client c = connect_flooder(port);
    uint8_t msg[FLOOD_SIZE];
    for (int i = 0; i < FLOOD; i++) {
        memset(msg, 0, sizeof msg);
        memcpy(msg, &i, sizeof i);
        CHECK_OK(netsys_client_send(c, msg, sizeof msg));
    }
    // The host does not poll: the library must stop reading that session
    // after about QUEUE_LIMIT messages instead of queueing all of them.
    sleep_ms(300);
    netsys_server_stats st = {.struct_size = sizeof st};
    CHECK_OK(netsys_server_get_stats(s, &st));
    printf("backpressure: %llu of %d messages read while the host was not polling (queue limit %d)\n",
           (unsigned long long)st.messages_received, FLOOD, QUEUE_LIMIT);
    CHECK(st.messages_received < FLOOD / 4);

    // Draining resumes reading; every message arrives, in order.
    netsys_event ev[256];
    int next = 0, max_batch = 0;
    int64_t deadline = now_ms() + 20000;
    while (next < FLOOD && now_ms() < deadline) {
        size_t n = 0;
        CHECK_OK(netsys_server_poll(s, ev, 256, 100, &n));
        if ((int)n > max_batch) max_batch = (int)n;
        for (size_t i = 0; i < n; i++) {
            if (ev[i].type != NETSYS_EVENT_MESSAGE) continue;
            int v;
            CHECK(ev[i].size == FLOOD_SIZE);
            memcpy(&v, ev[i].data, sizeof v);
            CHECK(v == next);
            next++;
        }
    }
    CHECK(next == FLOOD);
    // The queue never held much more than its bound (+1 message per session,
    // +the connect event).
    CHECK(max_batch <= QUEUE_LIMIT + 2);
    CHECK_OK(netsys_client_destroy(c));
    CHECK_OK(netsys_server_destroy(s));
}

/* ---- a host pause outlives the queue's own pause -------------------------- */

/// Polls without waiting until the queue is empty; returns the messages seen.
static int drain_messages(netsys_server s) {
    netsys_event ev[256];
    int messages = 0;
    size_t n = 0;
    do {
        CHECK_OK(netsys_server_poll(s, ev, 256, 0, &n));
        for (size_t i = 0; i < n; i++) messages += ev[i].type == NETSYS_EVENT_MESSAGE;
    } while (n > 0);
    return messages;
}

// The queue's bound pauses a session and draining the queue resumes it, but
// only for the queue's own reason: a session the host paused with
// netsys_session_pause_reading() stays paused however much the host drains,
// until the host resumes it.
static void test_host_pause_survives_drain(void) {
    netsys_server s = make_server("pausing-host");
    bound_event_queue(s);
    int port = start_server(s);
    netsys_client c = connect_flooder(port);
    netsys_event connect = poll_for_server(s, NETSYS_EVENT_CONNECT, NULL, 0);
    uint64_t sid = connect.session_id;
    uint8_t msg[FLOOD_SIZE] = {0};
    for (int i = 0; i < FLOOD; i++) CHECK_OK(netsys_client_send(c, msg, sizeof msg));
    sleep_ms(300); // the queue fills up and its bound pauses the session

    CHECK_OK(netsys_session_pause_reading(s, sid));
    int got = drain_messages(s); // drained: the queue's pause is lifted
    sleep_ms(300);
    int late = drain_messages(s);
    printf("host pause: %d messages queued before the pause, %d read after the queue was drained\n", got, late);
    CHECK(late == 0);
    CHECK(got < FLOOD);

    CHECK_OK(netsys_session_resume_reading(s, sid));
    int64_t deadline = now_ms() + 20000;
    while (got < FLOOD && now_ms() < deadline) {
        netsys_event ev[256];
        size_t n = 0;
        CHECK_OK(netsys_server_poll(s, ev, 256, 100, &n));
        for (size_t i = 0; i < n; i++) got += ev[i].type == NETSYS_EVENT_MESSAGE;
    }
    CHECK(got == FLOOD);
    CHECK_OK(netsys_client_destroy(c));
    CHECK_OK(netsys_server_destroy(s));
}

/* ---- events the host holds count against the queue's bound --------------- */

// A host that polls events but keeps them (unfinished asynchronous work)
// says so with hold_events: they count as still queued, so draining the
// queue alone does not resume reading; releasing them does.
static void test_held_events_keep_the_bound(void) {
    netsys_server s = make_server("holding-host");
    CHECK_RC(netsys_server_hold_events(s, 1, 0), NETSYS_E_WRONG_MODE);
    bound_event_queue(s);
    CHECK_RC(netsys_server_hold_events(s, -1, 0), NETSYS_E_INVALID_ARGUMENT);
    int port = start_server(s);
    netsys_client c = connect_flooder(port);
    uint8_t msg[FLOOD_SIZE] = {0};
    for (int i = 0; i < FLOOD; i++) CHECK_OK(netsys_client_send(c, msg, sizeof msg));

    // Poll everything, holding each message: the bound stays reached.
    int held = 0, got = 0;
    for (int round = 0; round < 5; round++) {
        sleep_ms(100);
        int n = drain_messages(s);
        CHECK_OK(netsys_server_hold_events(s, n, (int64_t)n * FLOOD_SIZE));
        held += n;
    }
    printf("held events: %d messages polled and held while the bound is %d\n", held, QUEUE_LIMIT);
    // Each poll counts its events as consumed until the hold right after
    // it, so a source may be resumed in between: up to about one bound per
    // round, far below the flood that arrives without holding.
    CHECK(held < FLOOD / 4);
    CHECK_RC(netsys_server_hold_events(s, -(held + 1), 0), NETSYS_E_INVALID_ARGUMENT);

    // Released: reading resumes; the rest arrives.
    CHECK_OK(netsys_server_hold_events(s, -held, -(int64_t)held * FLOOD_SIZE));
    got = held;
    int64_t deadline = now_ms() + 20000;
    while (got < FLOOD && now_ms() < deadline) {
        netsys_event ev[256];
        size_t n = 0;
        CHECK_OK(netsys_server_poll(s, ev, 256, 100, &n));
        for (size_t i = 0; i < n; i++) got += ev[i].type == NETSYS_EVENT_MESSAGE;
    }
    CHECK(got == FLOOD);
    CHECK_OK(netsys_client_destroy(c));
    CHECK_OK(netsys_server_destroy(s));
}

/* ---- polled data stays put until the next poll ---------------------------- */

enum { BIG = 100000, BIGS = 12 };

// The data of a poll is handed out where the library queued it (no copy at
// poll time): it must stay intact while more events arrive, until the next
// poll, and every message must come out whole and in order across the
// library's memory blocks.
static void test_polled_data_stays_until_next_poll(void) {
    netsys_server s = make_server("echo");
    CHECK_OK(netsys_server_set_message_callback(s, echo, NULL));
    int port = start_server(s);
    netsys_client c;
    CHECK_OK(netsys_client_create(&c, "big-puller"));
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_DELIVERY, NETSYS_DELIVERY_EVENTS));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    static uint8_t msg[BIG], first[BIG];
    memset(msg, 'a', BIG);
    CHECK_OK(netsys_client_send(c, msg, BIG));
    netsys_event ev[4];
    const uint8_t *held = NULL;
    int64_t deadline = now_ms() + 5000;
    while (!held && now_ms() < deadline) {
        size_t n = 0;
        CHECK_OK(netsys_client_poll(c, ev, 1, 100, &n));
        if (n == 1 && ev[0].type == NETSYS_EVENT_MESSAGE) {
            CHECK(ev[0].size == BIG);
            held = ev[0].data;
        }
    }
    CHECK(held != NULL);
    memcpy(first, held, BIG);
    for (int i = 1; i < BIGS; i++) {
        memset(msg, 'a' + i, BIG);
        CHECK_OK(netsys_client_send_timeout(c, msg, BIG, 5000));
    }
    sleep_ms(300); // the echoes are queued meanwhile
    CHECK(memcmp(first, held, BIG) == 0);
    for (size_t k = 0; k < BIG; k++) CHECK(first[k] == 'a');
    int next = 1;
    deadline = now_ms() + 10000;
    while (next < BIGS && now_ms() < deadline) {
        size_t n = 0;
        CHECK_OK(netsys_client_poll(c, ev, 4, 100, &n));
        for (size_t i = 0; i < n; i++) {
            if (ev[i].type != NETSYS_EVENT_MESSAGE) continue;
            CHECK(ev[i].size == BIG);
            CHECK(ev[i].data[0] == 'a' + next && ev[i].data[BIG - 1] == 'a' + next);
            next++;
        }
    }
    CHECK(next == BIGS);
    CHECK_OK(netsys_client_destroy(c));
    CHECK_OK(netsys_server_destroy(s));
}

/* ---- client in events mode, destroy while polling ------------------------ */

typedef struct poller_arg {
    netsys_client c;
    netsys_status rc;
} poller_arg;

static void *block_in_poll(void *p) {
    poller_arg *a = p;
    netsys_event ev[4];
    size_t n;
    a->rc = netsys_client_poll(a->c, ev, 4, -1, &n);
    return NULL;
}

static void test_client_events(void) {
    netsys_server s = make_server("echo");
    CHECK_OK(netsys_server_set_message_callback(s, echo, NULL));
    int port = start_server(s);
    netsys_client c;
    CHECK_OK(netsys_client_create(&c, "pull-client"));
    CHECK_OK(netsys_client_set_int(c, NETSYS_OPT_DELIVERY, NETSYS_DELIVERY_EVENTS));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    uint64_t sid;
    CHECK_OK(netsys_client_session_id(c, &sid));
    CHECK_OK(netsys_client_send_string(c, "hello"));
    netsys_event ev[8];
    int seen_connect = 0, seen_message = 0;
    int64_t deadline = now_ms() + 5000;
    while (!(seen_connect && seen_message) && now_ms() < deadline) {
        size_t n = 0;
        CHECK_OK(netsys_client_poll(c, ev, 8, 100, &n));
        for (size_t i = 0; i < n; i++) {
            CHECK(ev[i].session_id == sid);
            if (ev[i].type == NETSYS_EVENT_CONNECT) seen_connect++;
            if (ev[i].type == NETSYS_EVENT_MESSAGE) {
                CHECK(seen_connect); // connect comes first
                CHECK(ev[i].size == 5 && memcmp(ev[i].data, "hello", 5) == 0);
                seen_message++;
            }
        }
    }
    CHECK(seen_connect == 1 && seen_message == 1);

    // A second poller gets BUSY; destroying the client wakes the first.
    poller_arg a = {.c = c, .rc = -1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, block_in_poll, &a) == 0);
    sleep_ms(100);
    size_t n;
    CHECK_RC(netsys_client_poll(c, ev, 8, 0, &n), NETSYS_E_BUSY);
    CHECK_OK(netsys_client_destroy(c));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(a.rc == NETSYS_E_INVALID_HANDLE);
    CHECK_OK(netsys_server_destroy(s));
}

int main(void) {
    test_server_events();
    test_backpressure();
    test_host_pause_survives_drain();
    test_held_events_keep_the_bound();
    test_polled_data_stays_until_next_poll();
    test_client_events();
    check_no_live_handles();
    puts("test_pull: ok");
    return 0;
}
