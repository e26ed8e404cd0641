// Private declarations shared by the Go files of capi (through their cgo
// preambles) and shims.c. Never installed: the public contract is
// include/netsys.h.
//
// The cgo preambles must not include netsys.h: cgo writes its own
// prototypes for the //export functions (without const, and returning int
// where netsys.h says netsys_status), which would conflict with the public
// ones. The types below mirror netsys.h; shims.c includes both headers and
// checks with static assertions that the layouts agree.
#ifndef NETSYS_CAPI_SHIMS_H
#define NETSYS_CAPI_SHIMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*capi_server_connect_fn)(void *, uint64_t, uint64_t);
typedef void (*capi_server_message_fn)(void *, uint64_t, uint64_t, const uint8_t *, size_t);
// Mirrors netsys_message.
typedef struct capi_message {
    const uint8_t *data;
    size_t size;
} capi_message;
typedef void (*capi_server_message_batch_fn)(void *, uint64_t, uint64_t, const capi_message *, size_t);
// Where one message of a batch lies in the batch's buffer: Go fills these
// (integers only, so the array may live in Go memory and be passed to C);
// the trampoline turns them into netsys_message pointers in C memory.
typedef struct capi_span {
    size_t offset;
    size_t size;
} capi_span;
typedef void (*capi_server_disconnect_fn)(void *, uint64_t, uint64_t, const char *);
typedef void (*capi_server_error_fn)(void *, uint64_t, uint64_t, int, const char *);
typedef void (*capi_session_release_fn)(void *, uint64_t, uint64_t, void *);
typedef void (*capi_client_connect_fn)(void *, uint64_t);
typedef void (*capi_client_message_fn)(void *, uint64_t, const uint8_t *, size_t);
typedef void (*capi_client_disconnect_fn)(void *, uint64_t, const char *);
typedef void (*capi_client_error_fn)(void *, uint64_t, int, const char *);
typedef int (*capi_transform_fn)(void *, const uint8_t *, size_t, uint8_t *, size_t, size_t *, size_t);
// netsys_strerror (shims.c), to name a host transform's status in a reason.
const char *netsys_strerror(int code);

// Mirrors netsys_event.
typedef struct capi_event {
    uint32_t type;
    int32_t status;
    uint64_t session_id;
    const uint8_t *data;
    size_t size;
} capi_event;

// Mirror netsys_server_stats, netsys_session_stats, netsys_client_stats.
typedef struct capi_server_stats {
    size_t struct_size;
    uint64_t total_connections, current_connections, rejected_connections;
    uint64_t messages_sent, messages_received, bytes_sent, bytes_received;
    uint64_t protocol_errors, oversize_messages;
    int64_t start_time_ns, last_activity_ns;
} capi_server_stats;

typedef struct capi_session_stats {
    size_t struct_size;
    uint64_t messages_sent, messages_received, bytes_sent, bytes_received, errors;
    int64_t last_message_ns, connect_time_ns, last_activity_ns;
} capi_session_stats;

typedef struct capi_client_stats {
    size_t struct_size;
    uint64_t messages_sent, messages_received, bytes_sent, bytes_received, errors, reconnects;
    int64_t last_message_ns;
} capi_client_stats;

// The smallest struct_size each stats struct accepts (version 1.0 layouts).
#define CAPI_SERVER_STATS_MIN sizeof(capi_server_stats)
#define CAPI_SESSION_STATS_MIN sizeof(capi_session_stats)
#define CAPI_CLIENT_STATS_MIN sizeof(capi_client_stats)

// Per-thread last error.
void capi_set_last_error(int code, const char *msg, size_t len);

// Callback trampolines. Each records, in thread-local storage, that the
// calling thread is inside a callback of `handle` (and whether it is an I/O
// thread) for the duration of the call; see capi_callback_depth.
void capi_call_server_connect(capi_server_connect_fn fn, void *ud, uint64_t h, uint64_t sid, int io);
void capi_call_server_message(capi_server_message_fn fn, void *ud, uint64_t h, uint64_t sid, const uint8_t *data,
                              size_t size, int io);
// Calls a batch callback with messages[i] = {base + spans[i].offset,
// spans[i].size} (NULL/0 when the size is 0), built in C memory: Go passes
// one pointer into its buffer, as for a single message, and no Go memory
// holding Go pointers.
void capi_call_server_message_batch(capi_server_message_batch_fn fn, void *ud, uint64_t h, uint64_t sid,
                                    const uint8_t *base, const capi_span *spans, size_t count, int io);
void capi_call_server_disconnect(capi_server_disconnect_fn fn, void *ud, uint64_t h, uint64_t sid, const char *reason,
                                 int io);
// The disconnect callback (fn may be NULL) followed, in the same C call and
// so on the same OS thread, by the release of the session's pointer: a
// goroutine may move between threads from one cgo call to the next.
void capi_call_server_disconnect_release(capi_server_disconnect_fn fn, void *ud, uint64_t h, uint64_t sid,
                                         const char *reason, int io);
void capi_call_server_error(capi_server_error_fn fn, void *ud, uint64_t h, uint64_t sid, int code, const char *msg,
                            int io);
// The host's session pointer travels through Go as an integer (Go never
// holds it as a pointer); it becomes void * again here.
void capi_call_session_release(capi_session_release_fn fn, void *ud, uint64_t h, uint64_t sid, uintptr_t data,
                               int io);
void capi_call_client_connect(capi_client_connect_fn fn, void *ud, uint64_t h, int io);
void capi_call_client_message(capi_client_message_fn fn, void *ud, uint64_t h, const uint8_t *data, size_t size,
                              int io);
void capi_call_client_disconnect(capi_client_disconnect_fn fn, void *ud, uint64_t h, const char *reason, int io);
void capi_call_client_error(capi_client_error_fn fn, void *ud, uint64_t h, int code, const char *msg, int io);
int capi_call_transform(capi_transform_fn fn, void *ud, const uint8_t *in, size_t in_size, uint8_t *out,
                        size_t out_cap, size_t *out_size, size_t limit);

// Sleeps in poll(2) until fd is readable or timeout_ms (-1: forever) passes.
void capi_wait_readable(int fd, int timeout_ms);

// Number of callbacks of `handle` the calling thread is inside (nesting).
int capi_callback_depth(uint64_t handle);
// Whether the calling thread is inside any callback run on an I/O thread.
int capi_in_io_callback(void);

#endif
