// c_echo_server: the C example echo server of netsys, following the
// command-line contract shared by every language's example server:
//
//   c_echo_server [--port 0] [--bind 127.0.0.1]
//
// It prints "listening on PORT" on stdout (flushed) once it accepts
// connections, sends every message back to its sender from the message
// callback (which runs on a netsys I/O thread), and stops gracefully on
// SIGINT, SIGTERM or EOF on stdin. A line of statistics goes to stderr.
#include <netsys.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// A signal handler may only write to a pipe; main waits on it with poll().
static int stop_pipe[2];

static void on_signal(int sig) {
    char c = (char)sig;
    ssize_t ignored = write(stop_pipe[1], &c, 1);
    (void)ignored;
}

static void on_message(void *ud, netsys_server server, uint64_t session, const uint8_t *data, size_t size) {
    // The data is valid only during this call; send copies it. Waiting (up
    // to 2 s) for room in a full queue stalls this I/O loop, which stops it
    // reading: backpressure for a client that sends faster than it reads.
    netsys_status rc = netsys_session_send_timeout(server, session, data, size, 2000);
    if (rc == NETSYS_E_TIMEOUT || rc == NETSYS_E_WOULD_BLOCK) {
        fprintf(stderr, "c server: session %llu: echo queue full, disconnecting\n", (unsigned long long)session);
        netsys_session_disconnect(server, session, "echo queue full: read your echoes");
    }
}

static void on_error(void *ud, netsys_server server, uint64_t session, netsys_status code, const char *message) {
    fprintf(stderr, "c server: session %llu: %s\n", (unsigned long long)session, message);
}

static int die(const char *what, netsys_status rc) {
    char msg[512];
    netsys_last_error_message(msg, sizeof msg);
    fprintf(stderr, "c server: %s: %s (%s)\n", what, netsys_strerror(rc), msg);
    return 1;
}

static void usage(void) { fprintf(stderr, "usage: c_echo_server [--port N] [--bind ADDRESS]\n"); }

int main(int argc, char **argv) {
    long port = 0;
    const char *bind = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535) {
                fprintf(stderr, "c server: --port must be in 0..65535\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
            bind = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    if (pipe(stop_pipe) != 0) {
        perror("c server: pipe");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    netsys_server server;
    netsys_status rc;
    if ((rc = netsys_server_create(&server, "c-echo-server")) != NETSYS_OK) return die("create", rc);
    if ((rc = netsys_server_set_string(server, NETSYS_OPT_BIND_ADDRESS, bind)) != NETSYS_OK) return die("bind address", rc);
    if ((rc = netsys_server_set_int(server, NETSYS_OPT_PORT, port)) != NETSYS_OK) return die("port", rc);
    netsys_server_set_message_callback(server, on_message, NULL);
    netsys_server_set_error_callback(server, on_error, NULL);
    if ((rc = netsys_server_start(server)) != NETSYS_OK) return die("start", rc);
    int bound = 0;
    netsys_server_port(server, &bound);
    printf("listening on %d\n", bound);
    fflush(stdout);

    // Wait for a signal or EOF on stdin (a closed or absent stdin counts).
    const char *reason = "stdin closed";
    for (;;) {
        struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = stop_pipe[0], .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents) {
            char sig = 0;
            ssize_t ignored = read(stop_pipe[0], &sig, 1);
            (void)ignored;
            reason = sig == SIGINT ? "interrupt" : "terminated";
            break;
        }
        if (fds[0].revents) {
            char buf[4096];
            if (read(STDIN_FILENO, buf, sizeof buf) <= 0) break;
        }
    }
    netsys_server_stats st = {.struct_size = sizeof st};
    netsys_server_stop(server);
    netsys_server_get_stats(server, &st);
    fprintf(stderr, "c server: stopped (%s): %llu connections, echoed %llu of %llu messages\n", reason,
            (unsigned long long)st.total_connections, (unsigned long long)st.messages_sent,
            (unsigned long long)st.messages_received);
    netsys_server_destroy(server);
    return 0;
}
