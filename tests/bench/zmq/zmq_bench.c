/*
 * zmq_bench: the ZeroMQ peers beside netsys, as labelled references (their
 * own protocol, ZMTP, not netsys's).
 *
 *   zmq_bench pushpull PORT SIZE DURATION_MS PIN SLICE_NS [RECEIVER...]
 *   zmq_bench reqrep   PORT SIZE DURATION_MS PIN SLICE_NS [RECEIVER...]
 *
 * pushpull is throughput, like the stream scenario; reqrep is latency, like
 * ping-pong. This process is the sending side (PUSH, or REQ timing each
 * round trip), written in C with libzmq so that it is not the limit, as the
 * load generator is not for the netsys servers. The receiving side (PULL, or
 * REP echoing) is a child process pinned to CPU 0, this process stays on
 * CPU 1 (PIN=1; PIN=0 leaves scheduling alone), over tcp://127.0.0.1:PORT,
 * mirroring how the harness runs a server and the load generator. SLICE_NS
 * > 0 gives every thread of both processes that scheduler slice once they
 * exist (see tests/bench/internal/sched for why; 0: the default slice).
 *
 * Without RECEIVER the child is this program's own C loop over libzmq (the
 * "libzmq" row). With RECEIVER (for example `python3 pyzmq_peer.py`) the
 * child runs RECEIVER MODE ENDPOINT instead (the "pyzmq" row): it binds,
 * prints "ready", handles messages until a 1-byte end marker (answering it
 * in reqrep mode), then prints "MESSAGES SECONDS CPU_SECONDS RSS_KB",
 * counted from its first message, on its standard output.
 *
 * The result is one JSON line with the field names of the load generator's
 * results, including every CPU's busy share during the timed phase.
 * Like libzmq's own local_thr/remote_thr, PUSH/PULL is counted at the
 * receiver: from its first message to the end marker sent after DURATION_MS.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_CPUS 64
/* Every wait of the receiving side is bounded: a sender that died does not
 * leave it behind. */
#define RECV_TIMEOUT_MS 30000

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

/* struct sched_attr (SCHED_ATTR_SIZE_VER1), as in internal/sched. */
struct slice_attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
    uint32_t util_min, util_max;
};

/* Gives every current thread of pid the scheduler slice (keeping its nice
 * value): the receiving side's threads (libzmq's I/O thread, Python's) only
 * exist once it is ready, so this runs then. Best effort: without the
 * privilege the run goes on with the default slice. */
static void apply_slice(pid_t pid, uint64_t slice_ns) {
    if (slice_ns == 0) return;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int tid = atoi(e->d_name);
        if (tid <= 0) continue;
        errno = 0;
        int nice = getpriority(PRIO_PROCESS, (id_t)tid);
        if (errno != 0) continue;
        struct slice_attr a = {.size = sizeof a, .nice = nice, .runtime = slice_ns};
        (void)syscall(SYS_sched_setattr, tid, &a, 0);
    }
    closedir(d);
}

/* Busy and total jiffies per CPU from /proc/stat; returns the CPU count. */
static int cpu_times(unsigned long long busy[MAX_CPUS], unsigned long long total[MAX_CPUS]) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    char line[512];
    int n = 0;
    while (n < MAX_CPUS && fgets(line, sizeof line, f)) {
        unsigned long long v[8] = {0};
        int cpu;
        if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9') continue;
        if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) < 5)
            continue;
        unsigned long long idle = v[3] + v[4], all = 0;
        for (int i = 0; i < 8; i++) all += v[i];
        busy[n] = all - idle;
        total[n] = all;
        n++;
    }
    fclose(f);
    return n;
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* The C receiving side: PULL counting messages until the 1-byte end marker,
 * or REP echoing until it. Speaks the RECEIVER protocol on fd. */
static void serve(const char *mode, const char *endpoint, int fd) {
    void *ctx = zmq_ctx_new();
    int pushpull = strcmp(mode, "pushpull") == 0;
    void *s = zmq_socket(ctx, pushpull ? ZMQ_PULL : ZMQ_REP);
    int timeout = RECV_TIMEOUT_MS;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_bind(s, endpoint) != 0) die("bind");
    dprintf(fd, "ready\n");
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
    dprintf(fd, "%lld %.9f %.9f %ld\n", count, secs, cpu, rss_kb());
    zmq_close(s);
    zmq_ctx_term(ctx);
}

/* The receiving side's result line, after its "ready" line. */
struct received {
    long long count;
    double secs, cpu;
    long rss_kb;
};

int main(int argc, char **argv) {
    if (argc < 7 || (strcmp(argv[1], "pushpull") != 0 && strcmp(argv[1], "reqrep") != 0)) {
        fprintf(stderr, "usage: zmq_bench pushpull|reqrep PORT SIZE DURATION_MS PIN SLICE_NS [RECEIVER...]\n");
        return 2;
    }
    const char *mode = argv[1];
    int size = atoi(argv[3]), dur_ms = atoi(argv[4]), pin = atoi(argv[5]);
    uint64_t slice_ns = strtoull(argv[6], NULL, 10);
    char **receiver = argc > 7 ? argv + 7 : NULL;
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
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* survives exec: no receiver outlives us */
        if (pin) pin_to(0);
        if (receiver) {
            /* RECEIVER MODE ENDPOINT, its standard output into the pipe. */
            int n = 0;
            while (receiver[n]) n++;
            char **args = calloc((size_t)n + 3, sizeof *args);
            memcpy(args, receiver, (size_t)n * sizeof *args);
            args[n] = (char *)mode;
            args[n + 1] = endpoint;
            if (dup2(fds[1], 1) < 0) { perror("dup2"); _exit(1); }
            close(fds[1]);
            execvp(args[0], args);
            fprintf(stderr, "zmq_bench: exec %s: %s\n", args[0], strerror(errno));
            _exit(127);
        }
        serve(mode, endpoint, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    if (pin) pin_to(1);
    FILE *in = fdopen(fds[0], "r");
    char line[256] = {0};
    if (!in || !fgets(line, sizeof line, in) || strcmp(line, "ready\n") != 0) {
        fprintf(stderr, "zmq_bench: the receiving side did not start (see its output above)\n");
        waitpid(child, NULL, 0);
        return 1;
    }
    apply_slice(child, slice_ns);

    void *ctx = zmq_ctx_new();
    int pushpull = strcmp(mode, "pushpull") == 0;
    void *s = zmq_socket(ctx, pushpull ? ZMQ_PUSH : ZMQ_REQ);
    if (zmq_connect(s, endpoint) != 0) die("connect");
    apply_slice(getpid(), slice_ns); /* libzmq's I/O thread exists now */
    /* Sink messages (first byte 'S', as the stream scenario sends them) for
     * throughput; ordinary ones, echoed, for latency. */
    char *msg = malloc((size_t)size);
    memset(msg, pushpull ? 'S' : 'z', (size_t)size);
    char reply[1 << 16];
    double *lat = NULL;
    size_t nlat = 0, caplat = 0;
    unsigned long long busy0[MAX_CPUS], total0[MAX_CPUS], busy1[MAX_CPUS], total1[MAX_CPUS];
    int ncpu = 0;
    double cpu0 = cpu_s(RUSAGE_SELF);
    double start = now_s(), deadline = start + dur_ms / 1e3;
    if (pushpull) {
        ncpu = cpu_times(busy0, total0);
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
        ncpu = cpu_times(busy0, total0);
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
    struct received r = {0};
    if (!fgets(line, sizeof line, in) || sscanf(line, "%lld %lf %lf %ld", &r.count, &r.secs, &r.cpu, &r.rss_kb) != 4 ||
        r.secs <= 0) {
        fprintf(stderr, "zmq_bench: no result from the receiving side\n");
        return 1;
    }
    double my_secs = now_s() - start, my_cpu = cpu_s(RUSAGE_SELF) - cpu0;
    if (ncpu > 0 && cpu_times(busy1, total1) != ncpu) ncpu = 0;
    int status = 0;
    waitpid(child, &status, 0);
    zmq_close(s);
    zmq_ctx_term(ctx);
    char busy[MAX_CPUS * 12 + 4] = "[";
    for (int i = 0; i < ncpu; i++) {
        unsigned long long dt = total1[i] - total0[i];
        size_t len = strlen(busy);
        snprintf(busy + len, sizeof busy - len, "%s%.4f", i ? "," : "", dt ? (double)(busy1[i] - busy0[i]) / (double)dt : 0.0);
    }
    strcat(busy, "]");
    if (pushpull) {
        printf("{\"scenario\":\"pushpull\",\"size\":%d,\"messages\":%lld,\"seconds\":%.6f,\"msg_per_s\":%.1f,"
               "\"mb_per_s\":%.3f,\"server_rss_kb\":%ld,\"server_cpu\":%.4f,\"loadgen_cpu\":%.4f,\"cpu_busy\":%s}\n",
               size, r.count, r.secs, r.count / r.secs, r.count * (double)size / r.secs / 1e6, r.rss_kb, r.cpu / r.secs,
               my_cpu / my_secs, busy);
    } else {
        if (nlat == 0) {
            fprintf(stderr, "zmq_bench: no round trip in the timed phase\n");
            return 1;
        }
        qsort(lat, nlat, sizeof *lat, cmp_double);
#define AT(q) lat[(size_t)((q) * (double)(nlat - 1))]
        printf("{\"scenario\":\"reqrep\",\"size\":%d,\"messages\":%zu,\"seconds\":%.6f,\"msg_per_s\":%.1f,"
               "\"p50_us\":%.3f,\"p95_us\":%.3f,\"p99_us\":%.3f,\"max_us\":%.3f,\"server_rss_kb\":%ld,"
               "\"server_cpu\":%.4f,\"loadgen_cpu\":%.4f,\"cpu_busy\":%s}\n",
               size, nlat, my_secs, nlat / my_secs, AT(0.50), AT(0.95), AT(0.99), lat[nlat - 1], r.rss_kb,
               r.cpu / r.secs, my_cpu / my_secs, busy);
    }
    free(lat);
    free(msg);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
