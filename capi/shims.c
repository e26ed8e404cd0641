// C side of the C ABI: the functions that need no Go (version, strerror,
// the per-thread last error) and the trampolines through which Go calls
// the host's function pointers (cgo cannot call a C function pointer
// directly).
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "netsys.h"
#include "shims.h"

// The private mirrors must match the public layouts exactly.
#define SAME_LAYOUT(a, b) _Static_assert(sizeof(a) == sizeof(b), #a " and " #b " differ")
SAME_LAYOUT(capi_event, netsys_event);
SAME_LAYOUT(capi_message, netsys_message);
_Static_assert(offsetof(capi_message, size) == offsetof(netsys_message, size), "message layout");
SAME_LAYOUT(capi_server_stats, netsys_server_stats);
SAME_LAYOUT(capi_session_stats, netsys_session_stats);
SAME_LAYOUT(capi_client_stats, netsys_client_stats);
_Static_assert(offsetof(capi_event, data) == offsetof(netsys_event, data), "event layout");
_Static_assert(offsetof(capi_event, size) == offsetof(netsys_event, size), "event layout");
_Static_assert(offsetof(capi_server_stats, last_activity_ns) == offsetof(netsys_server_stats, last_activity_ns),
               "server stats layout");
_Static_assert(offsetof(capi_session_stats, last_activity_ns) == offsetof(netsys_session_stats, last_activity_ns),
               "session stats layout");
_Static_assert(offsetof(capi_client_stats, last_message_ns) == offsetof(netsys_client_stats, last_message_ns),
               "client stats layout");
_Static_assert(sizeof(netsys_status) == sizeof(int), "status must be int-sized");
_Static_assert(sizeof(netsys_option) == sizeof(int), "option must be int-sized");
_Static_assert(sizeof(netsys_session_state) == sizeof(int), "state must be int-sized");

uint32_t netsys_version(void) { return NETSYS_VERSION; }

#define STR2(x) #x
#define STR(x) STR2(x)
const char *netsys_version_string(void) {
    return STR(NETSYS_VERSION_MAJOR) "." STR(NETSYS_VERSION_MINOR) "." STR(NETSYS_VERSION_PATCH);
}

static const char *const status_names[] = {
    [NETSYS_OK] = "success",
    [NETSYS_E_INVALID_HANDLE] = "invalid handle",
    [NETSYS_E_NULL_POINTER] = "null pointer",
    [NETSYS_E_INVALID_ARGUMENT] = "invalid argument",
    [NETSYS_E_TOO_LARGE] = "message too large",
    [NETSYS_E_WOULD_BLOCK] = "would block: send queue full",
    [NETSYS_E_TIMEOUT] = "timed out",
    [NETSYS_E_CLOSED] = "closed",
    [NETSYS_E_NOT_CONNECTED] = "not connected",
    [NETSYS_E_NOT_RUNNING] = "not running",
    [NETSYS_E_ALREADY_RUNNING] = "already running",
    [NETSYS_E_SERVER_FULL] = "server full",
    [NETSYS_E_REJECTED] = "connection rejected",
    [NETSYS_E_PROTOCOL] = "protocol error",
    [NETSYS_E_NOT_FOUND] = "not found",
    [NETSYS_E_BAD_ADDRESS] = "bad address",
    [NETSYS_E_BIND] = "cannot listen on address",
    [NETSYS_E_RESOLVE] = "cannot resolve host name",
    [NETSYS_E_CONNECT] = "connection failed",
    [NETSYS_E_NOT_DELIVERED] = "message not delivered",
    [NETSYS_E_TRANSFORM] = "transform failed",
    [NETSYS_E_BUFFER_TOO_SMALL] = "buffer too small",
    [NETSYS_E_UNSUPPORTED] = "unsupported option or feature",
    [NETSYS_E_WRONG_MODE] = "wrong delivery mode",
    [NETSYS_E_BUSY] = "busy: another thread is polling",
    [NETSYS_E_DEADLOCK] = "would deadlock",
    [NETSYS_E_IO] = "operating system resource failure",
    [NETSYS_E_INTERNAL] = "internal error",
};

const char *netsys_strerror(int code) {
    if (code < 0 || (size_t)code >= sizeof status_names / sizeof status_names[0] || !status_names[code])
        return "unknown status";
    return status_names[code];
}

/* Per-thread last error. A pthread key (not __thread storage) holds it so
 * that the buffer of a host thread is freed when that thread exits. */
typedef struct last_error {
    int code;
    size_t len;
    char msg[];
} last_error;

static pthread_key_t last_error_key;
static pthread_once_t last_error_once = PTHREAD_ONCE_INIT;

static void make_last_error_key(void) { pthread_key_create(&last_error_key, free); }

void capi_set_last_error(int code, const char *msg, size_t len) {
    pthread_once(&last_error_once, make_last_error_key);
    last_error *old = pthread_getspecific(last_error_key);
    last_error *e = realloc(old, sizeof *e + len + 1);
    if (!e) { /* Keep the code at least: the message is a bonus. */
        if (old) {
            old->code = code;
            old->len = 0;
            old->msg[0] = 0;
        }
        return;
    }
    e->code = code;
    e->len = len;
    memcpy(e->msg, msg, len);
    e->msg[len] = 0;
    pthread_setspecific(last_error_key, e);
}

netsys_status netsys_last_error(void) {
    pthread_once(&last_error_once, make_last_error_key);
    last_error *e = pthread_getspecific(last_error_key);
    return e ? (netsys_status)e->code : NETSYS_OK;
}

size_t netsys_last_error_message(char *buf, size_t capacity) {
    pthread_once(&last_error_once, make_last_error_key);
    last_error *e = pthread_getspecific(last_error_key);
    const char *msg = e ? e->msg : "";
    size_t len = e ? e->len : 0;
    if (buf && capacity > 0) {
        size_t n = len < capacity - 1 ? len : capacity - 1;
        memcpy(buf, msg, n);
        buf[n] = 0;
    }
    return len + 1;
}

/* Which callbacks the current thread is inside. Go runs a cgo call and the
 * exported functions it calls back into on the same OS thread, so this
 * thread-local stack tells an entry point (destroy, wait) whether it was
 * called from a callback of its own object, where waiting for that callback
 * to finish would wait forever. Depth beyond the stack is counted only. */
#define CALLBACK_STACK 64
static __thread uint64_t callback_stack[CALLBACK_STACK];
static __thread int callback_io[CALLBACK_STACK];
static __thread int callback_depth;

static void enter(uint64_t h, int io) {
    if (callback_depth < CALLBACK_STACK) {
        callback_stack[callback_depth] = h;
        callback_io[callback_depth] = io;
    }
    callback_depth++;
}

static void leave(void) { callback_depth--; }

int capi_callback_depth(uint64_t handle) {
    int n = 0;
    int top = callback_depth < CALLBACK_STACK ? callback_depth : CALLBACK_STACK;
    for (int i = 0; i < top; i++)
        n += callback_stack[i] == handle;
    return n;
}

int capi_in_io_callback(void) {
    int top = callback_depth < CALLBACK_STACK ? callback_depth : CALLBACK_STACK;
    for (int i = 0; i < top; i++)
        if (callback_io[i])
            return 1;
    return 0;
}

void capi_call_server_connect(capi_server_connect_fn fn, void *ud, uint64_t h, uint64_t sid, int io) {
    enter(h, io);
    fn(ud, h, sid);
    leave();
}

void capi_call_server_message(capi_server_message_fn fn, void *ud, uint64_t h, uint64_t sid, const uint8_t *data,
                              size_t size, int io) {
    enter(h, io);
    fn(ud, h, sid, data, size);
    leave();
}

/* Batches up to this many messages are built on the (system) stack; larger
 * ones in a heap array. A full 64 KiB read of 64-byte messages is ~900. */
#define BATCH_ON_STACK 256

/* Fills out[0..n) from spans and calls fn once. */
static void call_batch(capi_server_message_batch_fn fn, void *ud, uint64_t h, uint64_t sid, const uint8_t *base,
                       const capi_span *spans, size_t n, capi_message *out) {
    for (size_t i = 0; i < n; i++) {
        out[i].size = spans[i].size;
        out[i].data = spans[i].size ? base + spans[i].offset : NULL;
    }
    fn(ud, h, sid, (const capi_message *)out, n);
}

void capi_call_server_message_batch(capi_server_message_batch_fn fn, void *ud, uint64_t h, uint64_t sid,
                                    const uint8_t *base, const capi_span *spans, size_t count, int io) {
    enter(h, io);
    capi_message local[BATCH_ON_STACK];
    capi_message *heap = count > BATCH_ON_STACK ? malloc(count * sizeof *heap) : NULL;
    if (count <= BATCH_ON_STACK) {
        call_batch(fn, ud, h, sid, base, spans, count, local);
    } else if (heap) {
        call_batch(fn, ud, h, sid, base, spans, count, heap);
        free(heap);
    } else {
        /* Out of memory: still deliver everything, in order, in chunks. */
        for (size_t i = 0; i < count; i += BATCH_ON_STACK) {
            size_t n = count - i < BATCH_ON_STACK ? count - i : BATCH_ON_STACK;
            call_batch(fn, ud, h, sid, base, spans + i, n, local);
        }
    }
    leave();
}

void capi_call_server_disconnect(capi_server_disconnect_fn fn, void *ud, uint64_t h, uint64_t sid, const char *reason,
                                 int io) {
    enter(h, io);
    fn(ud, h, sid, reason);
    leave();
}

// userdata.go; exported by cgo but not by the library (netsys.map).
void capi_release_ended(uint64_t h, uint64_t sid, int io);

void capi_call_server_disconnect_release(capi_server_disconnect_fn fn, void *ud, uint64_t h, uint64_t sid,
                                         const char *reason, int io) {
    enter(h, io);
    if (fn)
        fn(ud, h, sid, reason);
    capi_release_ended(h, sid, io);
    leave();
}

void capi_call_server_error(capi_server_error_fn fn, void *ud, uint64_t h, uint64_t sid, int code, const char *msg,
                            int io) {
    enter(h, io);
    fn(ud, h, sid, code, msg);
    leave();
}

void capi_call_session_release(capi_session_release_fn fn, void *ud, uint64_t h, uint64_t sid, uintptr_t data,
                               int io) {
    enter(h, io);
    fn(ud, h, sid, (void *)data);
    leave();
}

void capi_call_client_connect(capi_client_connect_fn fn, void *ud, uint64_t h, int io) {
    enter(h, io);
    fn(ud, h);
    leave();
}

void capi_call_client_message(capi_client_message_fn fn, void *ud, uint64_t h, const uint8_t *data, size_t size,
                              int io) {
    enter(h, io);
    fn(ud, h, data, size);
    leave();
}

void capi_call_client_disconnect(capi_client_disconnect_fn fn, void *ud, uint64_t h, const char *reason, int io) {
    enter(h, io);
    fn(ud, h, reason);
    leave();
}

void capi_call_client_error(capi_client_error_fn fn, void *ud, uint64_t h, int code, const char *msg, int io) {
    enter(h, io);
    fn(ud, h, code, msg);
    leave();
}

int capi_call_transform(capi_transform_fn fn, void *ud, const uint8_t *in, size_t in_size, uint8_t *out,
                        size_t out_cap, size_t *out_size, size_t limit) {
    return fn(ud, in, in_size, out, out_cap, out_size, limit);
}

void capi_wait_readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    /* EINTR (a host signal) just returns: the caller re-checks and waits again. */
    poll(&p, 1, timeout_ms);
}
