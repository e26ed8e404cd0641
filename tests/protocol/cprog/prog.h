/* What the conformance suite's C programs (servers/cserver.c and
 * drivers/cclient.c) share: JSON event lines on stdout, status kinds, the
 * suite's test transforms, message patterns and flag parsing. They are
 * netsys applications under test, written against include/netsys.h only. */
#ifndef PROTOCOL_PROG_H
#define PROTOCOL_PROG_H

#include <netsys.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Options given by number, so that these programs build against a netsys.h
 * that predates them; such a library answers NETSYS_E_UNSUPPORTED, which the
 * programs report as an "unsupported" event (the suite then fails the tests
 * that need the option, saying so). */
#define PROG_OPT_FRAME_TIMEOUT_MS 12
#define PROG_OPT_SEND_STALL_TIMEOUT_MS 13
#define PROG_OPT_ACKNOWLEDGED 14       /* NETSYS_OPT_ACKNOWLEDGED, docs/protocol.md 4.2 */
#define PROG_OPT_ACK_BUFFER_BYTES 15   /* NETSYS_OPT_ACK_BUFFER_BYTES */
#define PROG_OPT_MAX_PENDING_HANDSHAKES 26
#define PROG_OPT_MAX_HANDSHAKES_PER_ADDRESS 27
#define PROG_OPT_RECONNECT_QUEUE_TIMEOUT_MS 47

/* ---- JSON lines ---------------------------------------------------------- */

typedef struct jline {
    char *buf;
    size_t len, cap;
} jline;

static pthread_mutex_t prog_out_mu = PTHREAD_MUTEX_INITIALIZER;

static inline void jl_put(jline *j, const char *s, size_t n) {
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1) cap *= 2;
        char *nb = realloc(j->buf, cap);
        if (!nb) abort();
        j->buf = nb;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = 0;
}

static inline void jl_puts(jline *j, const char *s) { jl_put(j, s, strlen(s)); }

/* A JSON string; bytes >= 0x80 pass through (the raw bytes also go out in
 * hex, see jl_text, since JSON cannot carry invalid UTF-8). */
static inline void jl_quote(jline *j, const char *s, size_t n) {
    jl_puts(j, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            jl_put(j, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            jl_puts(j, esc);
        } else if (c >= 0x80) {
            jl_puts(j, "?"); /* the exact bytes are in the _hex field */
        } else {
            jl_put(j, (const char *)&c, 1);
        }
    }
    jl_puts(j, "\"");
}

static inline void jl_begin(jline *j, const char *event) {
    j->buf = NULL;
    j->len = j->cap = 0;
    jl_puts(j, "{\"ev\":");
    jl_quote(j, event, strlen(event));
}

static inline void jl_int(jline *j, const char *key, long long v) {
    char num[32];
    jl_puts(j, ",");
    jl_quote(j, key, strlen(key));
    snprintf(num, sizeof num, ":%lld", v);
    jl_puts(j, num);
}

static inline void jl_str(jline *j, const char *key, const char *s, size_t n) {
    jl_puts(j, ",");
    jl_quote(j, key, strlen(key));
    jl_puts(j, ":");
    jl_quote(j, s, n);
}

/* A text from the library: as a string and, exactly, as hex (key_hex). */
static inline void jl_text(jline *j, const char *key, const char *s, size_t n) {
    static const char digits[] = "0123456789abcdef";
    char hexkey[64];
    jl_str(j, key, s, n);
    snprintf(hexkey, sizeof hexkey, "%s_hex", key);
    jl_puts(j, ",");
    jl_quote(j, hexkey, strlen(hexkey));
    jl_puts(j, ":\"");
    for (size_t i = 0; i < n; i++) {
        char h[2] = {digits[((unsigned char)s[i]) >> 4], digits[((unsigned char)s[i]) & 15]};
        jl_put(j, h, 2);
    }
    jl_puts(j, "\"");
}

static inline void jl_end(jline *j) {
    jl_puts(j, "}\n");
    pthread_mutex_lock(&prog_out_mu);
    fwrite(j->buf, 1, j->len, stdout);
    fflush(stdout);
    pthread_mutex_unlock(&prog_out_mu);
    free(j->buf);
}

static inline void emit_note(const char *event, const char *key, const char *value) {
    jline j;
    jl_begin(&j, event);
    if (key) jl_str(&j, key, value, strlen(value));
    jl_end(&j);
}

/* The suite's names for netsys_status values (the Go programs map the
 * core's sentinel errors to the same names). */
static inline const char *status_kind(int code) {
    switch (code) {
    case NETSYS_E_NOT_DELIVERED: return "not_delivered";
    case NETSYS_E_SERVER_FULL: return "server_full";
    case NETSYS_E_REJECTED: return "rejected";
    case NETSYS_E_PROTOCOL: return "protocol";
    case NETSYS_E_TIMEOUT: return "timeout";
    case NETSYS_E_TOO_LARGE: return "too_large";
    case NETSYS_E_TRANSFORM: return "transform";
    case NETSYS_E_WOULD_BLOCK: return "would_block";
    case NETSYS_E_NOT_CONNECTED: return "not_connected";
    case NETSYS_E_CLOSED: return "closed";
    case NETSYS_E_CONNECT: return "connect";
    case NETSYS_E_UNSUPPORTED: return "unsupported";
    default: return "other";
    }
}

/* An error callback's code and message as event fields; for undelivered
 * messages the count is read from the message ("... N message(s) ..."). */
static inline void jl_error(jline *j, int code, const char *message) {
    jl_str(j, "kind", status_kind(code), strlen(status_kind(code)));
    jl_int(j, "status", code);
    jl_text(j, "msg", message, strlen(message));
    if (code == NETSYS_E_NOT_DELIVERED) {
        const char *p = message;
        while (*p && (*p < '0' || *p > '9')) p++;
        jl_int(j, "count", atoll(p));
    }
}

static inline uint32_t adler32(const uint8_t *p, size_t n) {
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return (b << 16) | a;
}

/* A received message: length, start as text, Adler-32 of the whole. */
static inline void jl_message(jline *j, const uint8_t *data, size_t size) {
    jl_int(j, "len", (long long)size);
    jl_str(j, "head", (const char *)data, size < 24 ? size : 24);
    jl_int(j, "adler32", adler32(data, size));
}

/* ---- test transforms ----------------------------------------------------- */

static inline uint8_t checksum(const uint8_t *p, size_t n) {
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++) s = (uint8_t)(s + p[i]);
    return s;
}

/* "xsum": append the byte sum on encode; check and strip it on decode. A
 * wrong sum fails with NETSYS_E_INVALID_ARGUMENT. */
static inline int xsum_encode(void *ud, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_size,
                       size_t limit) {
    (void)ud;
    (void)limit;
    *out_size = n + 1;
    if (cap < n + 1) return NETSYS_E_BUFFER_TOO_SMALL;
    if (n) memcpy(out, in, n);
    out[n] = checksum(in, n);
    return NETSYS_OK;
}

static inline int xsum_decode(void *ud, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_size,
                       size_t limit) {
    (void)ud;
    if (n == 0 || checksum(in, n - 1) != in[n - 1]) return NETSYS_E_INVALID_ARGUMENT;
    if (n - 1 > limit) return NETSYS_E_TOO_LARGE;
    *out_size = n - 1;
    if (cap < n - 1) return NETSYS_E_BUFFER_TOO_SMALL;
    if (n > 1) memcpy(out, in, n - 1);
    return NETSYS_OK;
}

static inline int identity_fn(void *ud, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_size,
                       size_t limit) {
    (void)ud;
    if (n > limit) return NETSYS_E_TOO_LARGE;
    *out_size = n;
    if (cap < n) return NETSYS_E_BUFFER_TOO_SMALL;
    if (n) memcpy(out, in, n);
    return NETSYS_OK;
}

static inline void register_transforms(void) {
    if (netsys_register_transform("xsum", xsum_encode, xsum_decode, NULL) != NETSYS_OK ||
        netsys_register_transform("other", identity_fn, identity_fn, NULL) != NETSYS_OK) {
        emit_note("fatal", "msg", "cannot register the test transforms");
        exit(1);
    }
}

/* Message i of a numbered run: its 8-digit index, then compressible filler
 * (the same bytes as the Go programs' progutil.Pattern). */
static inline uint8_t *pattern(int i, size_t size) {
    char head[16], filler[128];
    uint8_t *b = malloc(size ? size : 1);
    if (!b) abort();
    snprintf(head, sizeof head, "%08d", i);
    int fl = snprintf(filler, sizeof filler, "{\"seq\":%d,\"text\":\"the quick brown fox jumps over the lazy dog\"}", i);
    size_t n = 0;
    for (size_t k = 0; k < 8 && n < size; k++) b[n++] = (uint8_t)head[k];
    while (n < size) {
        for (int k = 0; k < fl && n < size; k++) b[n++] = (uint8_t)filler[k];
    }
    return b;
}

/* ---- flags: "-name value" pairs and bare "-name" switches ----------------- */

static inline const char *flag_str(int argc, char **argv, const char *name, const char *def) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return def;
}

static inline long long flag_int(int argc, char **argv, const char *name, long long def) {
    const char *s = flag_str(argc, argv, name, NULL);
    return s ? atoll(s) : def;
}

static inline int flag_set(int argc, char **argv, const char *name) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

/* Copies s with every "snappy" replaced by "s2", for libraries that spell
 * codec 1 that way. */
static inline char *snappy_as_s2(const char *s) {
    char *out = malloc(strlen(s) + 1), *o = out;
    if (!out) abort();
    while (*s) {
        if (strncmp(s, "snappy", 6) == 0) {
            *o++ = 's';
            *o++ = '2';
            s += 6;
        } else {
            *o++ = *s++;
        }
    }
    *o = 0;
    return out;
}

#endif
