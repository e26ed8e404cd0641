/* cclient: the netsys client driver of the protocol conformance suite
 * (tests/protocol), through the C ABI (include/netsys.h). Same flags and
 * JSON event lines as drivers/goclient:
 *
 *   -host H -port N -id ID -codecs LIST -transforms LIST -max-message N
 *   -min-compress N -idle-ms N (-1: off) -sndbuf N -rcvbuf N -shutdown-ms N
 *   -connect-ms N -count N -size N -big N -recv N -wait-ms N -max-ms N -early
 *   -ack -ack-buffer N -reconnect-ms N -queue-timeout-ms N
 *
 * It connects (asynchronously with -early, so the messages go out as early
 * data), sends -count numbered messages, waits for -recv messages, a
 * disconnect (not with -reconnect-ms: the client then re-dials) or -wait-ms
 * of quiet (bounded by -max-ms), then stops. -ack turns acknowledged
 * delivery on (docs/protocol.md section 4.2); an option the library lacks
 * is reported as "unsupported" and the driver exits without connecting. */
#include "../cprog/prog.h"

#include <errno.h>
#include <stdbool.h>
#include <time.h>

static netsys_client client;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static long long received;
static bool ended;
static bool reconnecting; /* -reconnect-ms: a disconnect does not end the run */
static bool unsupported;  /* an option asked for is missing from this library */

static void on_connect(void *ud, netsys_client c) {
    (void)ud;
    uint64_t sid = 0;
    netsys_client_session_id(c, &sid);
    jline j;
    jl_begin(&j, "connected");
    jl_int(&j, "session", (long long)sid);
    jl_end(&j);
}

static void on_message(void *ud, netsys_client c, const uint8_t *data, size_t size) {
    (void)ud;
    (void)c;
    jline j;
    jl_begin(&j, "message");
    jl_message(&j, data, size);
    jl_end(&j);
    pthread_mutex_lock(&mu);
    received++;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&mu);
}

static void on_disconnect(void *ud, netsys_client c, const char *reason) {
    (void)ud;
    (void)c;
    jline j;
    jl_begin(&j, "disconnect");
    jl_text(&j, "reason", reason, strlen(reason));
    jl_end(&j);
    pthread_mutex_lock(&mu);
    ended = true;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&mu);
}

static void on_error(void *ud, netsys_client c, netsys_status code, const char *message) {
    (void)ud;
    (void)c;
    jline j;
    jl_begin(&j, "error");
    jl_error(&j, code, message);
    jl_end(&j);
}

/* Sets an option by number; one this library does not have is reported as
 * "unsupported" (the driver then exits without connecting). */
static void set_option(int option, long long v, const char *name) {
    netsys_status rc = netsys_client_set_int(client, (netsys_option)option, v);
    if (rc == NETSYS_E_UNSUPPORTED) {
        emit_note("unsupported", "option", name);
        unsupported = true;
    } else if (rc != NETSYS_OK) {
        char msg[512];
        netsys_last_error_message(msg, sizeof msg);
        emit_note("fatal", "msg", msg);
        exit(1);
    }
}

static void opt(int argc, char **argv, const char *flag, netsys_option option) {
    long long v = flag_int(argc, argv, flag, -2);
    if (v == -2) return;
    netsys_status rc = netsys_client_set_int(client, option, v);
    if (rc == NETSYS_E_INVALID_ARGUMENT && option == NETSYS_OPT_IDLE_TIMEOUT_MS && v == -1) {
        emit_note("note", "msg", "idle timeout -1 refused, using 0 for off");
        rc = netsys_client_set_int(client, option, 0);
    }
    if (rc != NETSYS_OK) {
        char msg[512];
        netsys_last_error_message(msg, sizeof msg);
        emit_note("fatal", "msg", msg);
        exit(1);
    }
}

static void set_codecs(const char *codecs) {
    if (netsys_client_set_string(client, NETSYS_OPT_COMPRESSION, codecs) == NETSYS_OK) return;
    char *s2 = snappy_as_s2(codecs);
    emit_note("note", "msg", "codec name \"snappy\" refused, using \"s2\"");
    if (netsys_client_set_string(client, NETSYS_OPT_COMPRESSION, s2) != NETSYS_OK) {
        emit_note("fatal", "msg", "codecs refused");
        exit(1);
    }
    free(s2);
}

static void emit_error_event(const char *event, const char *i, netsys_status rc) {
    char msg[512];
    netsys_last_error_message(msg, sizeof msg);
    jline j;
    jl_begin(&j, event);
    if (i) jl_str(&j, "i", i, strlen(i));
    jl_error(&j, rc, msg);
    jl_end(&j);
}

static void send_all(long long count, long long size, long long big) {
    long long sent = 0;
    for (long long i = 0; i < count; i++) {
        uint8_t *b = pattern((int)i, (size_t)size);
        netsys_status rc = netsys_client_send(client, b, (size_t)size);
        free(b);
        if (rc != NETSYS_OK) {
            char idx[32];
            snprintf(idx, sizeof idx, "%lld", i);
            emit_error_event("send_error", idx, rc);
            continue;
        }
        sent++;
    }
    if (big >= 0) {
        uint8_t *b = calloc(1, big > 0 ? (size_t)big : 1);
        netsys_status rc = netsys_client_send(client, b, (size_t)big);
        free(b);
        if (rc != NETSYS_OK)
            emit_error_event("send_error", "big", rc);
        else
            sent++;
    }
    jline j;
    jl_begin(&j, "sent");
    jl_int(&j, "count", sent);
    jl_end(&j);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for -recv messages, the end of the connection, -wait-ms without a
 * message, or the run's bound. */
static void wait_done(long long recv, long long wait_ms, long long end_ms) {
    pthread_mutex_lock(&mu);
    long long seen = received, quiet_until = now_ms() + wait_ms;
    for (;;) {
        bool running = true;
        netsys_client_is_running(client, &running);
        if ((ended && !reconnecting) || !running || (recv >= 0 && received >= recv)) break;
        if (received != seen) {
            seen = received;
            quiet_until = now_ms() + wait_ms;
        }
        long long now = now_ms();
        if (now >= quiet_until) break;
        if (now >= end_ms) {
            pthread_mutex_unlock(&mu);
            emit_note("note", "msg", "run bound reached");
            return;
        }
        long long until = quiet_until < end_ms ? quiet_until : end_ms;
        if (until > now + 50) until = now + 50; /* poll: a refused connect stops the client */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long add = until - now;
        ts.tv_sec += add / 1000;
        ts.tv_nsec += (add % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&changed, &mu, &ts);
    }
    pthread_mutex_unlock(&mu);
}

int main(int argc, char **argv) {
    long long end_ms = now_ms() + flag_int(argc, argv, "-max-ms", 8000);
    register_transforms();
    if (netsys_client_create(&client, flag_str(argc, argv, "-id", "cclient")) != NETSYS_OK) return 1;
    set_codecs(flag_str(argc, argv, "-codecs", ""));
    if (netsys_client_set_string(client, NETSYS_OPT_TRANSFORMS, flag_str(argc, argv, "-transforms", "")) !=
        NETSYS_OK) {
        emit_note("fatal", "msg", "transforms refused");
        return 1;
    }
    opt(argc, argv, "-max-message", NETSYS_OPT_MESSAGE_SIZE_LIMIT);
    opt(argc, argv, "-min-compress", NETSYS_OPT_MIN_COMPRESS_SIZE);
    opt(argc, argv, "-idle-ms", NETSYS_OPT_IDLE_TIMEOUT_MS);
    opt(argc, argv, "-sndbuf", NETSYS_OPT_SEND_BUFFER_SIZE);
    opt(argc, argv, "-rcvbuf", NETSYS_OPT_RECEIVE_BUFFER_SIZE);
    opt(argc, argv, "-shutdown-ms", NETSYS_OPT_SHUTDOWN_TIMEOUT_MS);
    if (netsys_client_set_int(client, NETSYS_OPT_CONNECT_TIMEOUT_MS, flag_int(argc, argv, "-connect-ms", 3000)) !=
        NETSYS_OK)
        return 1;
    long long reconnect_ms = flag_int(argc, argv, "-reconnect-ms", -1);
    if (reconnect_ms >= 0) {
        reconnecting = true;
        set_option(NETSYS_OPT_AUTO_RECONNECT, 1, "AutoReconnect");
        set_option(NETSYS_OPT_RECONNECT_INTERVAL_MS, reconnect_ms, "ReconnectInterval");
        set_option(NETSYS_OPT_RECONNECT_MAX_INTERVAL_MS, reconnect_ms, "ReconnectMaxInterval");
    }
    long long queue_timeout = flag_int(argc, argv, "-queue-timeout-ms", -1);
    if (queue_timeout >= 0)
        set_option(PROG_OPT_RECONNECT_QUEUE_TIMEOUT_MS, queue_timeout, "NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS");
    if (flag_set(argc, argv, "-ack")) set_option(PROG_OPT_ACKNOWLEDGED, 1, "NETSYS_OPT_ACKNOWLEDGED");
    long long ack_buffer = flag_int(argc, argv, "-ack-buffer", -1);
    if (ack_buffer >= 0) set_option(PROG_OPT_ACK_BUFFER_BYTES, ack_buffer, "NETSYS_OPT_ACK_BUFFER_BYTES");
    if (unsupported) {
        netsys_client_destroy(client);
        emit_note("exit", NULL, NULL);
        return 0;
    }
    netsys_client_set_connect_callback(client, on_connect, NULL);
    netsys_client_set_message_callback(client, on_message, NULL);
    netsys_client_set_disconnect_callback(client, on_disconnect, NULL);
    netsys_client_set_error_callback(client, on_error, NULL);

    const char *host = flag_str(argc, argv, "-host", "127.0.0.1");
    int port = (int)flag_int(argc, argv, "-port", 0);
    netsys_status rc = flag_set(argc, argv, "-early") ? netsys_client_connect_async(client, host, port)
                                                      : netsys_client_connect(client, host, port);
    if (rc != NETSYS_OK) {
        emit_error_event("connect_failed", NULL, rc);
    } else {
        send_all(flag_int(argc, argv, "-count", 0), flag_int(argc, argv, "-size", 16),
                 flag_int(argc, argv, "-big", -1));
        wait_done(flag_int(argc, argv, "-recv", -1), flag_int(argc, argv, "-wait-ms", 500), end_ms);
        netsys_client_stop(client);
        netsys_client_wait(client, 5000);
    }
    netsys_client_destroy(client);
    emit_note("exit", NULL, NULL);
    return 0;
}
