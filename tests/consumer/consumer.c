// A minimal program using an installed netsys: echo one message between a
// server and a client over 127.0.0.1 with the pull interface. Built by the
// CMake consumer (find_package) and the pkg-config consumer.
#include <netsys.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, netsys_status rc) {
    char msg[512];
    netsys_last_error_message(msg, sizeof msg);
    fprintf(stderr, "consumer: %s: %s: %s\n", what, netsys_strerror(rc), msg);
    return 1;
}

#define TRY(call)                                   \
    do {                                            \
        netsys_status rc_ = (call);                 \
        if (rc_ != NETSYS_OK) return fail(#call, rc_); \
    } while (0)

int main(void) {
    if (netsys_version() >> 16 != NETSYS_VERSION_MAJOR) {
        fprintf(stderr, "consumer: header %d.x but library %s\n", NETSYS_VERSION_MAJOR, netsys_version_string());
        return 1;
    }
    netsys_server server;
    netsys_client client;
    TRY(netsys_server_create(&server, "consumer"));
    TRY(netsys_server_set_string(server, NETSYS_OPT_BIND_ADDRESS, "127.0.0.1"));
    TRY(netsys_server_set_int(server, NETSYS_OPT_DELIVERY, NETSYS_DELIVERY_EVENTS));
    TRY(netsys_server_start(server));
    int port = 0;
    TRY(netsys_server_port(server, &port));
    TRY(netsys_client_create(&client, "consumer-client"));
    TRY(netsys_client_connect(client, "127.0.0.1", port));
    TRY(netsys_client_send_string(client, "hello, installed netsys"));
    netsys_event events[8];
    int got = 0;
    for (int round = 0; round < 50 && !got; round++) {
        size_t n = 0;
        TRY(netsys_server_poll(server, events, 8, 100, &n));
        for (size_t i = 0; i < n; i++)
            if (events[i].type == NETSYS_EVENT_MESSAGE && events[i].size == 23 &&
                memcmp(events[i].data, "hello, installed netsys", 23) == 0)
                got = 1;
    }
    TRY(netsys_client_destroy(client));
    TRY(netsys_server_destroy(server));
    if (!got) {
        fprintf(stderr, "consumer: the message did not arrive\n");
        return 1;
    }
    printf("consumer: netsys %s works\n", netsys_version_string());
    return 0;
}
