/*
 * zmq_bench: libzmq's own figures as a labelled reference beside netsys.
 *
 *   zmq_bench pushpull PORT SIZE DURATION_MS PIN   throughput, like stream
 *   zmq_bench reqrep   PORT SIZE DURATION_MS PIN   latency, like ping-pong
 *
 * The "server" side (PULL, or REP echoing) is a forked child pinned to CPU 0,
 * the sending side stays in this process pinned to CPU 1 (PIN=1; PIN=0
 * leaves scheduling alone), both over tcp://127.0.0.1:PORT, mirroring how
 * the harness runs a server and the load generator. The result is one JSON
 * line with the field names of the load generator's results.
 *
 * Like libzmq's own local_thr/remote_thr, PUSH/PULL is counted at the
 * receiver: from its first message to an end marker sent after DURATION_MS.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(int who) {
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static void die(const char *what) {
    fprintf(stderr, "zmq_bench: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The receiving side: PULL counting messages until the 1-byte end marker,
 * or REP echoing until it. Reports "messages seconds cpu" on fd. */
static void serve(const char *mode, const char *endpoint, int fd) {
    void *ctx = zmq_ctx_new();
    int pushpull = strcmp(mode, "pushpull") == 0;
    void *s = zmq_socket(ctx, pushpull ? ZMQ_PULL : ZMQ_REP);
    if (zmq_bind(s, endpoint) != 0) die("bind");
    char buf[1 << 16];
    long long count = 0;
    double t0 = 0, cpu0 = 0;
    for (;;) {
        int n = zmq_recv(s, buf, sizeof buf, 0);
        if (n < 0) die("recv");
        if (count == 0) {
            t0 = now_s();
            cpu0 = cpu_s(RUSAGE_SELF);
        }
        if (n == 1) { /* end marker */
            if (!pushpull && zmq_send(s, buf, 1, 0) < 0) die("send");
            break;
        }
        count++;
        if (!pushpull && zmq_send(s, buf, (size_t)n, 0) < 0) die("send");
    }
    double secs = now_s() - t0, cpu = cpu_s(RUSAGE_SELF) - cpu0;
    dprintf(fd, "%lld %.9f %.9f\n", count, secs, cpu);
    zmq_close(s);
    zmq_ctx_term(ctx);
}

int main(int argc, char **argv) {
    if (argc != 6 || (strcmp(argv[1], "pushpull") != 0 && strcmp(argv[1], "reqrep") != 0)) {
        fprintf(stderr, "usage: zmq_bench pushpull|reqrep PORT SIZE DURATION_MS PIN\n");
        return 2;
    }
    const char *mode = argv[1];
    int size = atoi(argv[3]), dur_ms = atoi(argv[4]), pin = atoi(argv[5]);
    if (size < 2 || size > 65536 || dur_ms <= 0) {
        fprintf(stderr, "zmq_bench: SIZE must be 2..65536 and DURATION_MS positive\n");
        return 2;
    }
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", atoi(argv[2]));
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pid_t child = fork();
    if (child < 0) { perror("fork"); return 1; }
    if (child == 0) {
        close(fds[0]);
        if (pin) pin_to(0);
        serve(mode, endpoint, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    if (pin) pin_to(1);

    void *ctx = zmq_ctx_new();
    int pushpull = strcmp(mode, "pushpull") == 0;
    void *s = zmq_socket(ctx, pushpull ? ZMQ_PUSH : ZMQ_REQ);
    if (zmq_connect(s, endpoint) != 0) die("connect");
    char *msg = malloc((size_t)size);
    memset(msg, 'z', (size_t)size);
    char reply[1 << 16];
    double *lat = NULL;
    size_t nlat = 0, caplat = 0;
    double cpu0 = cpu_s(RUSAGE_SELF);
    double start = now_s(), deadline = start + dur_ms / 1e3;
    if (pushpull) {
        long long sent = 0;
        while ((sent & 1023) != 0 || now_s() < deadline) {
            if (zmq_send(s, msg, (size_t)size, 0) < 0) die("send");
            sent++;
        }
        if (zmq_send(s, "E", 1, 0) < 0) die("send");
    } else {
        for (int i = 0; i < 1000; i++) { /* warm-up, as the loadgen does */
            if (zmq_send(s, msg, (size_t)size, 0) < 0 || zmq_recv(s, reply, sizeof reply, 0) < 0) die("warm-up");
        }
        start = now_s();
        deadline = start + dur_ms / 1e3;
        cpu0 = cpu_s(RUSAGE_SELF);
        for (;;) {
            double t0 = now_s();
            if (t0 >= deadline) break;
            if (zmq_send(s, msg, (size_t)size, 0) < 0) die("send");
            if (zmq_recv(s, reply, sizeof reply, 0) < 0) die("recv");
            if (nlat == caplat) {
                caplat = caplat ? caplat * 2 : 1 << 16;
                lat = realloc(lat, caplat * sizeof *lat);
            }
            lat[nlat++] = (now_s() - t0) * 1e6;
        }
        if (zmq_send(s, "E", 1, 0) < 0 || zmq_recv(s, reply, sizeof reply, 0) < 0) die("end");
    }
    char line[256] = {0};
    FILE *in = fdopen(fds[0], "r");
    long long count = 0;
    double secs = 0, srv_cpu = 0;
    if (!in || !fgets(line, sizeof line, in) || sscanf(line, "%lld %lf %lf", &count, &secs, &srv_cpu) != 3) {
        fprintf(stderr, "zmq_bench: no result from the receiving side\n");
        return 1;
    }
    double my_secs = now_s() - start, my_cpu = cpu_s(RUSAGE_SELF) - cpu0;
    int status = 0;
    waitpid(child, &status, 0);
    zmq_close(s);
    zmq_ctx_term(ctx);
    if (pushpull) {
        printf("{\"scenario\":\"pushpull\",\"size\":%d,\"messages\":%lld,\"seconds\":%.6f,\"msg_per_s\":%.1f,"
               "\"mb_per_s\":%.3f,\"server_cpu\":%.4f,\"loadgen_cpu\":%.4f}\n",
               size, count, secs, count / secs, count * (double)size / secs / 1e6, srv_cpu / secs,
               my_cpu / my_secs);
    } else {
        qsort(lat, nlat, sizeof *lat, cmp_double);
#define AT(q) lat[(size_t)((q) * (double)(nlat - 1))]
        printf("{\"scenario\":\"reqrep\",\"size\":%d,\"messages\":%zu,\"seconds\":%.6f,\"msg_per_s\":%.1f,"
               "\"p50_us\":%.3f,\"p95_us\":%.3f,\"p99_us\":%.3f,\"max_us\":%.3f,\"server_cpu\":%.4f,"
               "\"loadgen_cpu\":%.4f}\n",
               size, nlat, my_secs, nlat / my_secs, AT(0.50), AT(0.95), AT(0.99), lat[nlat - 1],
               srv_cpu / secs, my_cpu / my_secs);
    }
    free(lat);
    free(msg);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
