/* cserver: the netsys server the protocol conformance suite
 * (tests/protocol) talks to through the C ABI (include/netsys.h). Same
 * flags, commands and JSON event lines as servers/goserver:
 *
 *   -bind ADDR -port N -max-message N -max-connections N -handshake-ms N
 *   -idle-ms N (-1: off) -frame-ms N -stall-ms N -shutdown-ms N -pending N
 *   -per-address N -min-compress N -send-queue N -sndbuf N -rcvbuf N
 *   -loops N -codecs LIST -transforms LIST -log-messages -ack -ack-buffer N
 *
 * Messages "!send N SIZE", "!sendclose N SIZE WHY", "!disconnect WHY",
 * "!big SIZE" and "!quiet" are commands; everything else is echoed. It
 * stops gracefully when stdin reaches EOF. */
#include "../cprog/prog.h"

#include <stdbool.h>

static netsys_server server;
static bool log_messages;

/* Sessions that asked for "!quiet" (no echo). */
static pthread_mutex_t quiet_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t quiet_ids[4096];
static size_t quiet_n;

static bool is_quiet(uint64_t sid) {
    bool q = false;
    pthread_mutex_lock(&quiet_mu);
    for (size_t i = 0; i < quiet_n && !q; i++) q = quiet_ids[i] == sid;
    pthread_mutex_unlock(&quiet_mu);
    return q;
}

static void set_quiet(uint64_t sid) {
    pthread_mutex_lock(&quiet_mu);
    if (quiet_n < sizeof quiet_ids / sizeof quiet_ids[0]) quiet_ids[quiet_n++] = sid;
    pthread_mutex_unlock(&quiet_mu);
}

static void emit_send_error(uint64_t sid, long long i, netsys_status rc) {
    char msg[512];
    netsys_last_error_message(msg, sizeof msg);
    jline j;
    jl_begin(&j, "send_error");
    jl_int(&j, "sid", (long long)sid);
    jl_int(&j, "i", i);
    jl_error(&j, rc, msg);
    jl_end(&j);
}

static void send_run(uint64_t sid, long long n, long long size) {
    for (long long i = 0; i < n; i++) {
        uint8_t *b = pattern((int)i, (size_t)size);
        netsys_status rc = netsys_session_send(server, sid, b, (size_t)size);
        free(b);
        if (rc != NETSYS_OK) {
            emit_send_error(sid, i, rc);
            return;
        }
    }
}

static void command(uint64_t sid, const char *line) {
    char name[32] = {0};
    long long a = 0, b = 0;
    int consumed = 0;
    sscanf(line, "%31s%n", name, &consumed);
    const char *rest = line + consumed;
    if (*rest == ' ') rest++;
    if (strcmp(name, "send") == 0) {
        sscanf(rest, "%lld %lld", &a, &b);
        send_run(sid, a, b);
    } else if (strcmp(name, "sendclose") == 0) {
        int used = 0;
        sscanf(rest, "%lld %lld%n", &a, &b, &used);
        send_run(sid, a, b);
        const char *why = rest + used;
        if (*why == ' ') why++;
        netsys_session_disconnect(server, sid, *why ? why : NULL);
    } else if (strcmp(name, "disconnect") == 0) {
        netsys_session_disconnect(server, sid, *rest ? rest : NULL);
    } else if (strcmp(name, "big") == 0) {
        sscanf(rest, "%lld", &a);
        uint8_t *big = calloc(1, a > 0 ? (size_t)a : 1);
        netsys_status rc = netsys_session_send(server, sid, big, (size_t)a);
        free(big);
        char reply[64];
        if (rc == NETSYS_OK)
            snprintf(reply, sizeof reply, "big:ok");
        else
            snprintf(reply, sizeof reply, "big:error:%s", status_kind(rc));
        netsys_session_send_string(server, sid, reply);
    } else if (strcmp(name, "quiet") == 0) {
        set_quiet(sid);
    } else {
        char reply[96];
        snprintf(reply, sizeof reply, "unknown command %s", name);
        netsys_session_send_string(server, sid, reply);
    }
}

static void on_message(void *ud, netsys_server srv, uint64_t sid, const uint8_t *data, size_t size) {
    (void)ud;
    (void)srv;
    if (log_messages) {
        jline j;
        jl_begin(&j, "message");
        jl_int(&j, "sid", (long long)sid);
        jl_message(&j, data, size);
        jl_end(&j);
    }
    if (size > 0 && data[0] == '!') {
        char *line = malloc(size);
        memcpy(line, data + 1, size - 1);
        line[size - 1] = 0;
        command(sid, line);
        free(line);
        return;
    }
    if (is_quiet(sid)) return;
    netsys_status rc = netsys_session_send(server, sid, data, size);
    if (rc != NETSYS_OK) emit_send_error(sid, -1, rc);
}

static void on_connect(void *ud, netsys_server srv, uint64_t sid) {
    (void)ud;
    char id[512] = {0};
    size_t needed = 0;
    netsys_session_client_id(srv, sid, id, sizeof id, &needed);
    jline j;
    jl_begin(&j, "connect");
    jl_int(&j, "sid", (long long)sid);
    jl_str(&j, "client_id", id, strlen(id));
    jl_end(&j);
}

static void on_disconnect(void *ud, netsys_server srv, uint64_t sid, const char *reason) {
    (void)ud;
    (void)srv;
    jline j;
    jl_begin(&j, "disconnect");
    jl_int(&j, "sid", (long long)sid);
    jl_text(&j, "reason", reason, strlen(reason));
    jl_end(&j);
}

static void on_error(void *ud, netsys_server srv, uint64_t sid, netsys_status code, const char *message) {
    (void)ud;
    (void)srv;
    jline j;
    jl_begin(&j, "error");
    jl_int(&j, "sid", (long long)sid);
    jl_error(&j, code, message);
    jl_end(&j);
}

/* Sets an integer option if the flag was given; an option this library
 * does not have is reported as "unsupported" (the tests needing it fail
 * saying so), any other refusal is fatal. */
static void set_option(int option, long long v, const char *name) {
    netsys_status rc = netsys_server_set_int(server, (netsys_option)option, v);
    if (rc == NETSYS_E_UNSUPPORTED) {
        emit_note("unsupported", "option", name);
    } else if (rc == NETSYS_E_INVALID_ARGUMENT && option == 7 && v == -1) {
        emit_note("note", "msg", "idle timeout -1 refused, using 0 for off");
        netsys_server_set_int(server, (netsys_option)option, 0);
    } else if (rc != NETSYS_OK) {
        char msg[512];
        netsys_last_error_message(msg, sizeof msg);
        emit_note("fatal", "msg", msg);
        exit(1);
    }
}

static void opt(int argc, char **argv, const char *flag, int option, const char *name) {
    long long v = flag_int(argc, argv, flag, -2);
    if (v != -2) set_option(option, v, name);
}

static void set_strings(int argc, char **argv) {
    const char *codecs = flag_str(argc, argv, "-codecs", "");
    if (netsys_server_set_string(server, NETSYS_OPT_COMPRESSION, codecs) != NETSYS_OK) {
        char *s2 = snappy_as_s2(codecs);
        emit_note("note", "msg", "codec name \"snappy\" refused, using \"s2\"");
        if (netsys_server_set_string(server, NETSYS_OPT_COMPRESSION, s2) != NETSYS_OK) {
            emit_note("fatal", "msg", "codecs refused");
            exit(1);
        }
        free(s2);
    }
    if (netsys_server_set_string(server, NETSYS_OPT_TRANSFORMS, flag_str(argc, argv, "-transforms", "")) !=
            NETSYS_OK ||
        netsys_server_set_string(server, NETSYS_OPT_BIND_ADDRESS, flag_str(argc, argv, "-bind", "127.0.0.1")) !=
            NETSYS_OK) {
        char msg[512];
        netsys_last_error_message(msg, sizeof msg);
        emit_note("fatal", "msg", msg);
        exit(1);
    }
}

int main(int argc, char **argv) {
    log_messages = flag_set(argc, argv, "-log-messages");
    register_transforms();
    if (netsys_server_create(&server, "protocol-suite") != NETSYS_OK) return 1;
    set_strings(argc, argv);
    opt(argc, argv, "-port", NETSYS_OPT_PORT, "port");
    opt(argc, argv, "-max-message", NETSYS_OPT_MESSAGE_SIZE_LIMIT, "MessageSizeLimit");
    opt(argc, argv, "-max-connections", NETSYS_OPT_MAX_CONNECTIONS, "MaxConnections");
    opt(argc, argv, "-handshake-ms", NETSYS_OPT_HANDSHAKE_TIMEOUT_MS, "HandshakeTimeout");
    opt(argc, argv, "-idle-ms", NETSYS_OPT_IDLE_TIMEOUT_MS, "IdleTimeout");
    opt(argc, argv, "-frame-ms", PROG_OPT_FRAME_TIMEOUT_MS, "FrameTimeout");
    opt(argc, argv, "-stall-ms", PROG_OPT_SEND_STALL_TIMEOUT_MS, "SendStallTimeout");
    opt(argc, argv, "-shutdown-ms", NETSYS_OPT_SHUTDOWN_TIMEOUT_MS, "ShutdownTimeout");
    opt(argc, argv, "-pending", PROG_OPT_MAX_PENDING_HANDSHAKES, "MaxPendingHandshakes");
    opt(argc, argv, "-per-address", PROG_OPT_MAX_HANDSHAKES_PER_ADDRESS, "MaxHandshakesPerAddress");
    if (flag_set(argc, argv, "-ack")) set_option(PROG_OPT_ACKNOWLEDGED, 1, "NETSYS_OPT_ACKNOWLEDGED");
    opt(argc, argv, "-ack-buffer", PROG_OPT_ACK_BUFFER_BYTES, "NETSYS_OPT_ACK_BUFFER_BYTES");
    opt(argc, argv, "-min-compress", NETSYS_OPT_MIN_COMPRESS_SIZE, "MinCompressSize");
    opt(argc, argv, "-send-queue", NETSYS_OPT_SEND_QUEUE_LIMIT, "SendQueueLimit");
    opt(argc, argv, "-sndbuf", NETSYS_OPT_SEND_BUFFER_SIZE, "SendBufferSize");
    opt(argc, argv, "-rcvbuf", NETSYS_OPT_RECEIVE_BUFFER_SIZE, "ReceiveBufferSize");
    if (netsys_server_set_int(server, NETSYS_OPT_LOOPS, flag_int(argc, argv, "-loops", 1)) != NETSYS_OK) return 1;
    netsys_server_set_connect_callback(server, on_connect, NULL);
    netsys_server_set_message_callback(server, on_message, NULL);
    netsys_server_set_disconnect_callback(server, on_disconnect, NULL);
    netsys_server_set_error_callback(server, on_error, NULL);
    if (netsys_server_start(server) != NETSYS_OK) {
        char msg[512];
        netsys_last_error_message(msg, sizeof msg);
        emit_note("fatal", "msg", msg);
        return 1;
    }
    int port = 0;
    netsys_server_port(server, &port);
    jline j;
    jl_begin(&j, "listening");
    jl_int(&j, "port", port);
    jl_end(&j);
    char buf[256];
    while (fread(buf, 1, sizeof buf, stdin) > 0) {
    }
    emit_note("stopping", NULL, NULL);
    netsys_server_stop(server);
    emit_note("stopped", NULL, NULL);
    netsys_server_destroy(server);
    return 0;
}
