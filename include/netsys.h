/// @file netsys.h
/// @brief The public C ABI of netsys (libnetsys.so): TCP messaging servers,
/// sessions and clients over the netsys wire protocol (docs/protocol.md).
///
/// This header is the whole contract; nothing else is installed for C.
/// It is C99 and can be included from C++.
///
/// @section conventions Conventions
/// - Objects are opaque 64-bit integer handles (#netsys_server,
///   #netsys_client). 0 is never a valid handle. A handle that was never
///   valid, or whose object was destroyed, makes every call return
///   #NETSYS_E_INVALID_HANDLE; destroying twice is therefore safe. Handles
///   are never reused within a process. No library pointer is ever stored
///   by the host.
/// - A server's sessions are named by the pair (server handle, session id);
///   session ids are assigned by the server, never 0 and never reused by
///   that server.
/// - Every function that can fail returns a #netsys_status (#NETSYS_OK is 0).
///   On failure, a detailed message is kept for the calling thread:
///   netsys_last_error() and netsys_last_error_message(). Output parameters
///   are written only on success unless documented otherwise.
/// - Strings passed in are NUL-terminated UTF-8 and are copied before the
///   call returns. Byte buffers passed in (const uint8_t *, size_t) are
///   copied before the call returns too; `data` may be NULL only when
///   `size` is 0 (an empty message is valid).
/// - Every buffer handed to the host is either a caller buffer filled with
///   the "size query" convention below, or library memory whose lifetime
///   is documented at the call (callback arguments, polled events). The
///   host never frees library memory; there is no netsys_free().
/// - Size query convention, for functions with `(char *buf, size_t capacity,
///   size_t *needed)`: `*needed` (required, non-NULL) always receives the
///   number of bytes the full result takes INCLUDING its terminating NUL.
///   If it fits, the result is copied and #NETSYS_OK returned; otherwise
///   #NETSYS_E_BUFFER_TOO_SMALL is returned and, when capacity > 0, `buf`
///   holds the truncated result, still NUL-terminated. `buf` may be NULL
///   only when capacity is 0 (a pure size query). Values can change between
///   a query and the fetch (e.g. a session joins a group), so hosts loop
///   until #NETSYS_OK. String lists use the same convention with the
///   strings packed one after another, each NUL-terminated, and `*count`
///   receiving the number of strings.
/// - Arrays of ids, `(uint64_t *ids, size_t capacity, size_t *count)`:
///   `*count` always receives the total number of ids; min(capacity, total)
///   are copied; #NETSYS_E_BUFFER_TOO_SMALL if total > capacity.
/// - Times are Unix times in nanoseconds (int64_t), 0 meaning "never".
///
/// @section config Configuration: typed option setters (nng/zmq style)
/// Servers and clients are configured with netsys_server_set_int(),
/// netsys_server_set_string(), netsys_client_set_int() and
/// netsys_client_set_string(), keyed by #netsys_option. This style was
/// chosen over versioned structs because a new option is a new enum value:
/// old binaries keep working unchanged, new binaries running on an old
/// library get #NETSYS_E_UNSUPPORTED for the unknown option (a clear,
/// per-option answer instead of a silently ignored struct tail), and FFI
/// users (ctypes) need no struct layouts. Options are validated when set.
/// Value 0 of a numeric option always means "the library default" (the
/// defaults are listed per option). Options may be set only while the
/// object is not running (#NETSYS_E_ALREADY_RUNNING otherwise); the getters
/// return the value stored (0 = default), not the resolved default.
/// Statistics are returned in structs that start with a `struct_size`
/// field, so they can grow too.
///
/// @section threads Threads
/// Every function is thread-safe and may be called from any thread,
/// including from inside any netsys callback (also on its own object:
/// send, disconnect, stop and destroy are all allowed there and never
/// deadlock; see the individual functions for what "stop from a callback"
/// means). The exceptions are documented: a call that would have to wait
/// for an I/O thread, made from a callback that runs on one (of any server
/// or client), fails at once with #NETSYS_E_DEADLOCK instead of stalling
/// or deadlocking it: netsys_server_wait(), netsys_client_wait(), a blocking
/// netsys_client_connect() (use netsys_client_connect_async() there), and
/// a send with a timeout whose queue is full. Stopping any server or client
/// from such a callback returns at once and completes in the background.
///
/// Callbacks (#NETSYS_DELIVERY_CALLBACKS, the default) run on threads the
/// library owns, never on a host thread:
/// - with #NETSYS_OPT_CALLBACK_WORKERS = 0 (default) on the I/O event-loop
///   thread that owns the connection: one session's callbacks run one at a
///   time, in order (connect, messages in arrival order, then errors and
///   disconnect); callbacks of different sessions may run concurrently on
///   different threads (up to #NETSYS_OPT_LOOPS of them for a server; the
///   clients of a process share one set of loops). Message data points
///   straight into the read buffer. A callback that blocks stalls every
///   connection of its loop (and stops reading them: TCP backpressure).
/// - with #NETSYS_OPT_CALLBACK_WORKERS = N > 0 on one of N worker threads
///   of the object: the data is copied, a session always maps to the same
///   worker so its order is preserved, and a slow callback delays only the
///   sessions of its worker. Pending callbacks are bounded (see
///   #NETSYS_OPT_EVENT_QUEUE_LIMIT): past the bound the library stops
///   reading from the sessions that produce more (TCP backpressure); it
///   never drops an event.
/// The same host thread is never used for two callbacks at once, and no
/// callback of an object starts after netsys_*_destroy() of that object has
/// returned.
///
/// @section pull Pull interface (events)
/// With #NETSYS_OPT_DELIVERY = #NETSYS_DELIVERY_EVENTS, no callback is
/// called; every connect, message, disconnect, error and stop is queued as
/// a #netsys_event and the host drains batches with netsys_server_poll() /
/// netsys_client_poll(), which can block with a timeout (without holding
/// any host lock; the Python binding releases the GIL there). A file
/// descriptor from netsys_server_event_fd() / netsys_client_event_fd() is
/// readable (level-triggered) exactly while events are pending, for epoll,
/// poll, libuv or asyncio's add_reader. The queue is bounded by
/// #NETSYS_OPT_EVENT_QUEUE_LIMIT events and #NETSYS_OPT_EVENT_QUEUE_BYTES
/// bytes: when the host falls behind, the library pauses reading from the
/// sockets that deliver more (the peers' TCP windows fill up and their sends
/// slow down) and resumes them once the host has drained the queue to half
/// the bound. Nothing is dropped and nothing grows without bound (the bound
/// can be exceeded by at most one message per session, the one being
/// delivered when the pause was taken). This pause is the queue's own: it
/// never resumes a session the host paused with
/// netsys_session_pause_reading() (or a client paused with
/// netsys_client_pause_reading()), and the host's resume does not lift it.
/// A host that keeps polled events in a backlog of its own (unfinished
/// asynchronous handlers, a receive buffer) counts them against the same
/// bound with netsys_server_hold_events() / netsys_client_hold_events().
/// With the pull interface (or callback workers), host threads run inside
/// the library at the same time as its event loops, so the library's Go
/// runtime gives itself at least two processors (GOMAXPROCS) where it would
/// have one (a process limited to one CPU); the kernel time-shares them.
/// GOMAXPROCS set in the environment is respected.
///
/// @section safety Process safety and what is unsupported
/// - SIGPIPE never reaches the host: every socket write uses MSG_NOSIGNAL
///   (SO_NOSIGPIPE on BSDs), so writing to a vanished peer is an ordinary
///   "connection reset" on that session.
/// - A Go panic never crosses the ABI: each entry point recovers it, returns
///   #NETSYS_E_INTERNAL with the panic text as the last error message, and
///   reports it to the object's error callback (or as an error event).
/// - Unsupported: fork() after the first netsys_ call (the Go runtime's
///   threads do not survive it; exec right away is fine); unloading the
///   library (it is linked with -z nodelete, so dlclose() leaves it
///   loaded); more than one Go c-shared library in one process; host signal
///   handlers for SIGSEGV/SIGBUS/SIGFPE installed without SA_ONSTACK after
///   the library is loaded (see Go's os/signal documentation, "Go programs
///   that use cgo or SWIG"). The library makes no blocking call on host
///   threads other than those documented (connect, stop, wait, poll,
///   destroy, send with a timeout).
#ifndef NETSYS_H
#define NETSYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Major version: incremented on incompatible ABI changes (the SONAME is
/// libnetsys.so.MAJOR).
#define NETSYS_VERSION_MAJOR 1
/// Minor version: incremented when functions, options or event types are added.
#define NETSYS_VERSION_MINOR 2
/// Patch version: incremented for fixes that do not change the ABI.
#define NETSYS_VERSION_PATCH 0
/// Packs a version as one integer, comparable with <, as netsys_version() returns it.
#define NETSYS_MAKE_VERSION(major, minor, patch) \
    (((uint32_t)(major) << 16) | ((uint32_t)(minor) << 8) | (uint32_t)(patch))
/// The version of this header, packed with NETSYS_MAKE_VERSION().
#define NETSYS_VERSION \
    NETSYS_MAKE_VERSION(NETSYS_VERSION_MAJOR, NETSYS_VERSION_MINOR, NETSYS_VERSION_PATCH)

/// Handle of a server. 0 is never valid.
typedef uint64_t netsys_server;
/// Handle of a client. 0 is never valid.
typedef uint64_t netsys_client;

/// Status codes. Every fallible function returns one; 0 is success.
/// Codes are stable: new ones are only appended.
typedef enum netsys_status {
    NETSYS_OK = 0,                  ///< Success.
    NETSYS_E_INVALID_HANDLE = 1,    ///< The handle is 0, was never valid, or its object was destroyed (or is of the other kind).
    NETSYS_E_NULL_POINTER = 2,      ///< A required pointer argument is NULL.
    NETSYS_E_INVALID_ARGUMENT = 3,  ///< An argument or option value is out of range or malformed.
    NETSYS_E_TOO_LARGE = 4,         ///< A message exceeds the local or the peer's message size limit.
    NETSYS_E_WOULD_BLOCK = 5,       ///< Backpressure: the send queue (or reconnect queue) is at its high-water mark.
    NETSYS_E_TIMEOUT = 6,           ///< The operation did not finish in time.
    NETSYS_E_CLOSED = 7,            ///< The session, server or client is closed or closing.
    NETSYS_E_NOT_CONNECTED = 8,     ///< The client has no connection and queues nothing (not connecting, no auto-reconnect).
    NETSYS_E_NOT_RUNNING = 9,       ///< The server or client has not been started.
    NETSYS_E_ALREADY_RUNNING = 10,  ///< Start/connect on a running object, or an option set while running.
    NETSYS_E_SERVER_FULL = 11,      ///< The server refused the connection: it is at its maximum connection count.
    NETSYS_E_REJECTED = 12,         ///< The server refused the handshake for another reason (version, transforms, ...).
    NETSYS_E_PROTOCOL = 13,         ///< The peer violated the wire protocol.
    NETSYS_E_NOT_FOUND = 14,        ///< No such session (or key, or registered transform).
    NETSYS_E_BAD_ADDRESS = 15,      ///< An address or host name is malformed (e.g. a bind address that is not an IP literal).
    NETSYS_E_BIND = 16,             ///< The server could not listen: address in use, no permission, not available.
    NETSYS_E_RESOLVE = 17,          ///< The client could not resolve the host name.
    NETSYS_E_CONNECT = 18,          ///< The TCP connection failed: refused, unreachable, reset during the handshake.
    NETSYS_E_NOT_DELIVERED = 19,    ///< Messages accepted by a send could not be delivered (error events/callbacks only).
    NETSYS_E_TRANSFORM = 20,        ///< A compression codec or transform failed on a message.
    NETSYS_E_BUFFER_TOO_SMALL = 21, ///< The caller buffer is too small; the needed size was returned.
    NETSYS_E_UNSUPPORTED = 22,      ///< Option or feature unknown to this library version, or not applicable to this object; in an error callback or event: the server did not agree acknowledged delivery (#NETSYS_OPT_ACKNOWLEDGED), default delivery applies.
    NETSYS_E_WRONG_MODE = 23,       ///< The call does not match the object's delivery mode (e.g. poll in callback mode).
    NETSYS_E_BUSY = 24,             ///< Another thread is already polling this object.
    NETSYS_E_DEADLOCK = 25,         ///< The call would wait for the thread it is called on (wait from an I/O-thread callback).
    NETSYS_E_IO = 26,               ///< An operating system resource failed (out of file descriptors, eventfd, ...).
    NETSYS_E_INTERNAL = 27          ///< A bug inside the library (a recovered panic); the message has the details.
} netsys_status;

/// Which options exist. Each is an integer option (netsys_*_set_int) or a
/// string option (netsys_*_set_string), and applies to servers (S),
/// clients (C) or both. Setting an option of the wrong type gives
/// #NETSYS_E_INVALID_ARGUMENT; one that does not apply to the object gives
/// #NETSYS_E_UNSUPPORTED. Durations carry their unit in the name; 0 means the
/// default, and the idle, frame and send-stall timeouts also take -1 (off).
/// Boolean options take 0 or 1. Values are stable; new options are only
/// appended.
typedef enum netsys_option {
    /* Transport (S, C). */
    NETSYS_OPT_MESSAGE_SIZE_LIMIT = 1,     ///< int, S+C: largest message accepted from the peer, bytes (default 1 MiB, max 1 GiB).
    NETSYS_OPT_SEND_QUEUE_LIMIT = 2,       ///< int, S+C: per-connection outbound queue high-water mark, bytes (default 8 MiB).
    NETSYS_OPT_NO_DELAY = 3,               ///< bool, S+C: TCP_NODELAY (default 1).
    NETSYS_OPT_KEEP_ALIVE = 4,             ///< bool, S+C: SO_KEEPALIVE (default 1).
    NETSYS_OPT_RECEIVE_BUFFER_SIZE = 5,    ///< int, S+C: SO_RCVBUF in bytes (0: system default).
    NETSYS_OPT_SEND_BUFFER_SIZE = 6,       ///< int, S+C: SO_SNDBUF in bytes (0: system default).
    NETSYS_OPT_IDLE_TIMEOUT_MS = 7,        ///< int, S+C: close a connection that received nothing this long (CLOSE 1008 "idle timeout"); announced to the peer, and a PING goes out after half of it or of the peer's, whichever is shorter. Does not run while reading is paused. 0: default 30000; -1: off.
    NETSYS_OPT_COMPRESSION = 8,            ///< string, S+C: comma-separated codecs in preference order, "snappy" and/or "zstd" ("s2" is a synonym of "snappy"; "" : none, the default).
    NETSYS_OPT_MIN_COMPRESS_SIZE = 9,      ///< int, S+C: messages shorter than this are sent uncompressed (default 256); each side uses its own.
    NETSYS_OPT_TRANSFORMS = 10,            ///< string, S+C: comma-separated registered transform names (netsys_register_transform()); a client requests them in this order, a server accepts any of them.
    NETSYS_OPT_SHUTDOWN_TIMEOUT_MS = 11,   ///< int, S+C: bound on a graceful close in all: flushing queued data, CLOSE, and delivering what the peer still sends until its CLOSE or EOF (default 5000).
    NETSYS_OPT_FRAME_TIMEOUT_MS = 12,      ///< int, S+C: a frame whose first byte arrived must be complete within this, or the connection is closed (CLOSE 1008 "frame timeout"). Does not run while reading is paused. 0: default 30000; -1: off.
    NETSYS_OPT_SEND_STALL_TIMEOUT_MS = 13, ///< int, S+C: a connection whose queued data could not be written at all for this long is closed (CLOSE 1008 "peer not reading") and its queue released. 0: default 30000; -1: off.
    NETSYS_OPT_ACKNOWLEDGED = 14,          ///< bool, S+C: acknowledged delivery (default 0), in effect on a connection when both sides have it. A client keeps each message until the server acknowledges it and sends the unacknowledged ones again after reconnecting; the server drops the ones it already delivered: at-least-once across a server crash, duplicates possible only then. Messages given up are reported as #NETSYS_E_NOT_DELIVERED; a server that does not agree is reported once as #NETSYS_E_UNSUPPORTED and default delivery applies.
    NETSYS_OPT_ACK_BUFFER_BYTES = 15,      ///< int, S+C: with #NETSYS_OPT_ACKNOWLEDGED, the payload bytes of unacknowledged messages one client (or one session) keeps (default 8 MiB, 0: default); past it a send gives #NETSYS_E_WOULD_BLOCK, unless nothing is held. A message shorter than 32 bytes counts as 32 (what keeping it costs).
    /* Server. */
    NETSYS_OPT_PORT = 20,                  ///< int, S: TCP port 0..65535; 0 picks an ephemeral port (read it with netsys_server_port()). Default 0.
    NETSYS_OPT_BIND_ADDRESS = 21,          ///< string, S: IP literal to listen on, or "localhost" (default "0.0.0.0"; "::" for IPv6).
    NETSYS_OPT_MAX_CONNECTIONS = 22,       ///< int, S: open sessions; a handshake that arrives when this many are open is refused "server full" (default 1000). Connections still handshaking do not count (see #NETSYS_OPT_MAX_PENDING_HANDSHAKES).
    NETSYS_OPT_HANDSHAKE_TIMEOUT_MS = 23,  ///< int, S: connections that send no HELLO in time are refused "handshake timeout" (default 5000).
    NETSYS_OPT_LOOPS = 24,                 ///< int, S: number of I/O event loops (threads) (default: one per CPU).
    NETSYS_OPT_SPIN_BEFORE_WAIT_US = 25,   ///< int, S: idle loops poll without sleeping this long before blocking: lower latency, more CPU (0: off).
    NETSYS_OPT_MAX_PENDING_HANDSHAKES = 26, ///< int, S: connections accepted whose handshake is not processed yet (default 256); a new one beyond it refuses the oldest pending one ("server full: too many pending handshakes").
    NETSYS_OPT_MAX_HANDSHAKES_PER_ADDRESS = 27, ///< int, S: the same bound per source IP address (default 16): a new connection beyond it refuses that address's oldest pending handshake.
    /* Client. */
    NETSYS_OPT_CLIENT_ID = 40,             ///< string, C: id sent in the handshake, at most 255 bytes (also set by netsys_client_create()).
    NETSYS_OPT_CONNECT_TIMEOUT_MS = 41,    ///< int, C: bound on a connection attempt including the handshake (default 10000).
    NETSYS_OPT_AUTO_RECONNECT = 42,        ///< bool, C: re-dial after an unexpected disconnect, with backoff and jitter (default 0).
    NETSYS_OPT_RECONNECT_INTERVAL_MS = 43, ///< int, C: first reconnect delay (default 500), doubled per failed attempt.
    NETSYS_OPT_RECONNECT_MAX_INTERVAL_MS = 44, ///< int, C: largest reconnect delay (default 30000).
    NETSYS_OPT_RECONNECT_QUEUE_LIMIT = 45, ///< int, C: messages queued while disconnected; past it send gives #NETSYS_E_WOULD_BLOCK (default 10000). With #NETSYS_OPT_ACKNOWLEDGED, #NETSYS_OPT_ACK_BUFFER_BYTES bounds them instead.
    NETSYS_OPT_RECONNECT_QUEUE_BYTES = 46, ///< int, C: payload bytes queued while disconnected, whatever the number of messages (each counts at least 32 bytes); past it send gives #NETSYS_E_WOULD_BLOCK (default 64 MiB). With #NETSYS_OPT_ACKNOWLEDGED, #NETSYS_OPT_ACK_BUFFER_BYTES bounds them instead.
    NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS = 47, ///< int, C: a message waiting without an open connection this long (counted from the later of its send and the end of the last open connection) is reported as #NETSYS_E_NOT_DELIVERED and dropped; applies to queued messages and, with #NETSYS_OPT_ACKNOWLEDGED, to every held one. Not counted while a connection attempt is under way. 0: default 30000; -1: off.
    /* Delivery to the host (S, C). */
    NETSYS_OPT_DELIVERY = 60,              ///< int, S+C: a #netsys_delivery value (default #NETSYS_DELIVERY_CALLBACKS).
    NETSYS_OPT_CALLBACK_WORKERS = 61,      ///< int, S+C: 0 runs callbacks on the I/O threads (default); N > 0 on N worker threads of the object (at most 256).
    NETSYS_OPT_EVENT_QUEUE_LIMIT = 62,     ///< int, S+C: pending events (poll queue or worker queues) before reading pauses (default 65536).
    NETSYS_OPT_EVENT_QUEUE_BYTES = 63      ///< int, S+C: pending message bytes before reading pauses (default 8 MiB).
} netsys_option;

/// How an object hands connects, messages, disconnects and errors to the host.
typedef enum netsys_delivery {
    NETSYS_DELIVERY_CALLBACKS = 0, ///< Call the registered callbacks (on I/O or worker threads).
    NETSYS_DELIVERY_EVENTS = 1     ///< Queue #netsys_event records for netsys_*_poll(); no callback is called.
} netsys_delivery;

/// Lifecycle state of a session (values match the core's SessionState).
typedef enum netsys_session_state {
    NETSYS_SESSION_CONNECTING = 0,    ///< Accepted, handshake not finished.
    NETSYS_SESSION_CONNECTED = 1,     ///< Open for messages.
    NETSYS_SESSION_DISCONNECTING = 2, ///< Closing gracefully (queued data is being flushed).
    NETSYS_SESSION_DISCONNECTED = 3,  ///< Closed normally.
    NETSYS_SESSION_ERROR = 4          ///< Closed because of an error.
} netsys_session_state;

/// Kinds of #netsys_event. Hosts must ignore types they do not know:
/// later minor versions may add some.
typedef enum netsys_event_type {
    NETSYS_EVENT_CONNECT = 1,    ///< Server: a session completed its handshake (data: its client id). Client: connected (data empty), also after each reconnect.
    NETSYS_EVENT_MESSAGE = 2,    ///< A message arrived (data: the payload, may be empty).
    NETSYS_EVENT_DISCONNECT = 3, ///< An open connection ended (data: the reason text).
    NETSYS_EVENT_ERROR = 4,      ///< A failure (status: its code; data: the message). session_id 0 for errors of the server itself.
    NETSYS_EVENT_STOPPED = 5     ///< The server or client has fully stopped after a start; it is the last event of that run.
} netsys_event_type;

/// One event drained by netsys_server_poll() or netsys_client_poll().
///
/// Ownership: `data` points into memory owned by the library that stays
/// valid until the next poll call on the same handle, or until that handle
/// is destroyed, whichever comes first. Text (CONNECT, DISCONNECT, ERROR)
/// is UTF-8 and NUL-terminated (the NUL is not counted in `size`). Copy what
/// you keep.
typedef struct netsys_event {
    uint32_t type;        ///< A #netsys_event_type.
    int32_t status;       ///< #NETSYS_OK, or for ERROR events the #netsys_status of the failure.
    uint64_t session_id;  ///< Server: the session. Client: the session id the server gave its connection (0 if none yet).
    const uint8_t *data;  ///< Payload or text as documented per type; NULL when size is 0.
    size_t size;          ///< Bytes at data.
} netsys_event;

/// Server counters (netsys_server_get_stats()). Set struct_size to
/// sizeof(netsys_server_stats) before the call; the library fills the
/// fields that fit and sets struct_size to the bytes it filled.
typedef struct netsys_server_stats {
    size_t struct_size;            ///< In: size of the caller's struct. Out: bytes filled.
    uint64_t total_connections;    ///< Connections accepted (handshaking or open).
    uint64_t current_connections;  ///< Connections open now.
    uint64_t rejected_connections; ///< Connections refused (server full, bad hello, handshake timeout).
    uint64_t messages_sent;        ///< Messages queued to sessions.
    uint64_t messages_received;    ///< Messages received from sessions.
    uint64_t bytes_sent;           ///< Payload bytes sent, before compression.
    uint64_t bytes_received;       ///< Payload bytes received, after decompression.
    uint64_t protocol_errors;      ///< Connections closed for a protocol violation.
    uint64_t oversize_messages;    ///< Connections closed for "message too large".
    int64_t start_time_ns;         ///< When the server last started (Unix ns), 0 if never.
    int64_t last_activity_ns;      ///< When a message was last received (Unix ns), 0 if never.
} netsys_server_stats;

/// Session counters (netsys_session_get_stats()); struct_size as for #netsys_server_stats.
typedef struct netsys_session_stats {
    size_t struct_size;         ///< In: size of the caller's struct. Out: bytes filled.
    uint64_t messages_sent;     ///< Messages queued to the client.
    uint64_t messages_received; ///< Messages received from the client.
    uint64_t bytes_sent;        ///< Payload bytes sent.
    uint64_t bytes_received;    ///< Payload bytes received.
    uint64_t errors;            ///< Failed sends and error closes.
    int64_t last_message_ns;    ///< When the last message arrived (Unix ns), 0 if never.
    int64_t connect_time_ns;    ///< When the connection was accepted (Unix ns).
    int64_t last_activity_ns;   ///< Last message time, or the connect time.
} netsys_session_stats;

/// Client counters (netsys_client_get_stats()); struct_size as for #netsys_server_stats.
typedef struct netsys_client_stats {
    size_t struct_size;         ///< In: size of the caller's struct. Out: bytes filled.
    uint64_t messages_sent;     ///< Messages sent (or queued for reconnection).
    uint64_t messages_received; ///< Messages received.
    uint64_t bytes_sent;        ///< Payload bytes sent.
    uint64_t bytes_received;    ///< Payload bytes received.
    uint64_t errors;            ///< Failed sends and error closes.
    uint64_t reconnects;        ///< Successful reconnections.
    int64_t last_message_ns;    ///< When the last message arrived (Unix ns), 0 if never.
} netsys_client_stats;

/* ------------------------------------------------------------------ */
/* Callbacks                                                           */
/* ------------------------------------------------------------------ */

/// Server: a session completed its handshake. Threads: see @ref threads.
typedef void (*netsys_server_connect_fn)(void *user_data, netsys_server server, uint64_t session_id);
/// Server: a message arrived. `data`/`size` are valid only during the call
/// (NULL/0 for an empty message); copy to keep.
typedef void (*netsys_server_message_fn)(void *user_data, netsys_server server, uint64_t session_id,
                                         const uint8_t *data, size_t size);
/// One received message in a batch (netsys_server_message_batch_fn):
/// `data`/`size` as for #netsys_server_message_fn (valid only during the
/// callback; NULL/0 for an empty message).
typedef struct netsys_message {
    const uint8_t *data; ///< First byte of the message (NULL when size is 0).
    size_t size;         ///< Message length in bytes.
} netsys_message;

/// Server: several messages of one session in one call (see
/// netsys_server_set_message_batch_callback()). `messages[0..count)` are in
/// arrival order, count >= 1; the array and every message's data are valid
/// only during the call (copy to keep). Threads: as the message callback.
typedef void (*netsys_server_message_batch_fn)(void *user_data, netsys_server server, uint64_t session_id,
                                               const netsys_message *messages, size_t count);
/// Server: an open session ended. `reason` is valid only during the call.
typedef void (*netsys_server_disconnect_fn)(void *user_data, netsys_server server, uint64_t session_id,
                                            const char *reason);
/// Server: the library is done with a session's pointer (see
/// netsys_session_set_user_data()): `session_data` is the non-NULL pointer
/// the session held when it ended, handed back exactly once so the host can
/// free it. No callback of that session runs after this one and no
/// netsys_session_get_user_data() call returns `session_data` any more.
/// The session is closed: netsys_session_* calls naming it fail with
/// #NETSYS_E_NOT_FOUND. Threads: see netsys_server_set_session_release_callback().
typedef void (*netsys_session_release_fn)(void *user_data, netsys_server server, uint64_t session_id,
                                          void *session_data);
/// Server: a failure; session_id is 0 for errors of the server itself
/// (e.g. accept failing). `message` is valid only during the call.
typedef void (*netsys_server_error_fn)(void *user_data, netsys_server server, uint64_t session_id,
                                       netsys_status code, const char *message);
/// Client: connected (after the server's WELCOME), also after each reconnect.
typedef void (*netsys_client_connect_fn)(void *user_data, netsys_client client);
/// Client: a message arrived; `data`/`size` valid only during the call.
typedef void (*netsys_client_message_fn)(void *user_data, netsys_client client, const uint8_t *data, size_t size);
/// Client: the open connection ended; `reason` valid only during the call.
typedef void (*netsys_client_disconnect_fn)(void *user_data, netsys_client client, const char *reason);
/// Client: a failure (failed connect, reject, protocol error, undelivered
/// messages...); `message` valid only during the call.
typedef void (*netsys_client_error_fn)(void *user_data, netsys_client client, netsys_status code,
                                       const char *message);

/// Transform plugin function (encode or decode), see netsys_register_transform().
/// Writes the result for `input`/`input_size` into `output` (capacity
/// `output_capacity`, never NULL, possibly shorter than needed) and sets
/// `*output_size` to the result size. If the result does not fit it must set
/// `*output_size` to the size needed and return #NETSYS_E_BUFFER_TOO_SMALL;
/// it is then called again with a buffer at least that big. `limit` is the
/// largest acceptable result (a decoder must fail rather than exceed it;
/// for encoders it is SIZE_MAX; a decoder asking for more than `limit` fails).
/// Any other non-zero return fails the message: the connection is closed
/// with CLOSE 1011 "transform failed: <name>: decode returned status N
/// (<netsys_strerror(N)>)". Called from any
/// thread, concurrently: it must be thread-safe, must not block, and must
/// not call netsys_ functions.
typedef int (*netsys_transform_fn)(void *user_data, const uint8_t *input, size_t input_size, uint8_t *output,
                                   size_t output_capacity, size_t *output_size, size_t limit);

/* ------------------------------------------------------------------ */
/* Library                                                             */
/* ------------------------------------------------------------------ */

/// Returns the library's version packed with NETSYS_MAKE_VERSION(); compare
/// with #NETSYS_VERSION to check that the loaded library matches the header
/// (same major, minor at least the header's).
uint32_t netsys_version(void);

/// Returns the library's version as a static "MAJOR.MINOR.PATCH" string
/// (owned by the library, valid forever).
const char *netsys_version_string(void);

/// Returns a short static English name of `code` (e.g. "invalid handle"),
/// never NULL ("unknown status" for unknown codes). Owned by the library.
const char *netsys_strerror(int code);

/// Returns the status of the most recent failed netsys_ call on the calling
/// thread (NETSYS_OK if none yet). Successful calls do not reset it.
netsys_status netsys_last_error(void);

/// Copies the detailed message of the most recent failed netsys_ call on
/// the calling thread (e.g. "listen 0.0.0.0:80: cannot listen: permission
/// denied") into `buf`, truncated and NUL-terminated if capacity is short
/// (`buf` may be NULL when capacity is 0). Returns the size the whole
/// message needs including its NUL (1 for the empty message). The message
/// is per thread, so it is safe to read while other threads fail; it stays
/// until the next failing call on this thread.
size_t netsys_last_error_message(char *buf, size_t capacity);

/// Registers a message transform (e.g. an application cipher) under `name`
/// (1..255 bytes) for every server and client of the process, usable in
/// #NETSYS_OPT_TRANSFORMS. Registering a name again replaces it. `encode`
/// and `decode` (both required) get `user_data`; both must be safe for
/// concurrent use. Lifetime: the functions and `user_data` must stay valid
/// until netsys_unregister_transform() has returned AND every connection
/// that negotiated the transform before that has closed (simplest: keep
/// them for the process lifetime). Errors: #NETSYS_E_NULL_POINTER,
/// #NETSYS_E_INVALID_ARGUMENT.
netsys_status netsys_register_transform(const char *name, netsys_transform_fn encode, netsys_transform_fn decode,
                                        void *user_data);

/// Removes a registered transform; new handshakes no longer offer or accept
/// it, open connections keep using it. #NETSYS_E_NOT_FOUND if not registered.
netsys_status netsys_unregister_transform(const char *name);

/// Diagnostics: writes the number of live (created, not yet destroyed)
/// server and client handles. Tests use it to check that nothing leaked.
netsys_status netsys_live_handles(size_t *servers, size_t *clients);

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

/// Creates a stopped server named `server_id` (copied; may be "") and
/// writes its handle to `*out`. Configure it with netsys_server_set_int()
/// etc., then netsys_server_start(). Errors: #NETSYS_E_NULL_POINTER.
netsys_status netsys_server_create(netsys_server *out, const char *server_id);

/// Stops the server if running (gracefully, as netsys_server_stop()),
/// releases everything it holds and invalidates the handle. From outside
/// the server's callbacks it returns after the server has stopped and no
/// callback of it is running; no callback starts afterwards, and polled
/// event data of the handle is freed. From inside one of its own callbacks
/// it returns at once (the stop completes after the callback returns); the
/// current callback's arguments stay valid until it returns, and no other
/// callback of the server starts. Before it returns, the session release
/// callback (netsys_server_set_session_release_callback()) gets every
/// session pointer not released yet. A destroyed handle gives
/// #NETSYS_E_INVALID_HANDLE, so destroying twice is harmless.
netsys_status netsys_server_destroy(netsys_server server);

/// Sets an integer option (see #netsys_option). Errors:
/// #NETSYS_E_INVALID_HANDLE, #NETSYS_E_UNSUPPORTED, #NETSYS_E_INVALID_ARGUMENT,
/// #NETSYS_E_ALREADY_RUNNING.
netsys_status netsys_server_set_int(netsys_server server, netsys_option option, int64_t value);

/// Reads an integer option as stored (0 = library default) into `*value`.
netsys_status netsys_server_get_int(netsys_server server, netsys_option option, int64_t *value);

/// Sets a string option (copied). Errors as netsys_server_set_int(), plus
/// #NETSYS_E_NULL_POINTER.
netsys_status netsys_server_set_string(netsys_server server, netsys_option option, const char *value);

/// Reads a string option into a caller buffer (size query convention).
netsys_status netsys_server_get_string(netsys_server server, netsys_option option, char *buf, size_t capacity,
                                       size_t *needed);

/// Sets (fn non-NULL) or removes (fn NULL) the connect callback; `user_data`
/// is passed back unchanged and must stay valid while the callback is set.
/// Takes effect for events delivered after the call; allowed any time,
/// including from a callback.
netsys_status netsys_server_set_connect_callback(netsys_server server, netsys_server_connect_fn fn, void *user_data);
/// Sets or removes the message callback (as netsys_server_set_connect_callback()).
netsys_status netsys_server_set_message_callback(netsys_server server, netsys_server_message_fn fn, void *user_data);
/// Sets (fn non-NULL) or removes (fn NULL) the batch message callback: the
/// messages of one session that arrived together (typically everything one
/// read from the socket decoded, in order) are passed in one call instead of
/// one netsys_server_message_fn call each, which saves the per-call cost for
/// small messages (one call per read instead of per message).
///
/// While set, it replaces the server's per-message callback (set with
/// netsys_server_set_message_callback(), which is kept but not called);
/// setting NULL restores per-message delivery. Every message is delivered
/// exactly once, through one of the two, also when the callback is set or
/// removed while messages flow (from any thread, including from inside a
/// callback). Per-session callbacks (netsys_session_set_message_callback())
/// still run for each message, after the batch call.
///
/// Modes:
/// - #NETSYS_OPT_CALLBACK_WORKERS = 0 (default): called on the I/O thread;
///   the data points straight into the read buffer (no copy).
/// - #NETSYS_OPT_CALLBACK_WORKERS = N > 0: called on the session's worker
///   thread with the consecutive queued messages of one session (copies, as
///   for the per-message callback).
/// - #NETSYS_DELIVERY_EVENTS: never called; messages are polled as events.
///
/// A batch may hold one message (a message that completed across reads, a
/// decompressed or transformed one, or a single small one). Everything the
/// message callback may do is allowed here too (send, disconnect, stop,
/// destroy; a session disconnected or paused from the callback stops after
/// this batch). `user_data` must stay valid while the callback is set.
/// Errors: #NETSYS_E_INVALID_HANDLE.
netsys_status netsys_server_set_message_batch_callback(netsys_server server, netsys_server_message_batch_fn fn,
                                                       void *user_data);
/// Sets or removes the disconnect callback (as netsys_server_set_connect_callback()).
netsys_status netsys_server_set_disconnect_callback(netsys_server server, netsys_server_disconnect_fn fn,
                                                    void *user_data);
/// Sets or removes the error callback (as netsys_server_set_connect_callback()).
netsys_status netsys_server_set_error_callback(netsys_server server, netsys_server_error_fn fn, void *user_data);

/// Sets (fn non-NULL) or removes the callback that hands back the pointer
/// each session holds (netsys_session_set_user_data()) once the library is
/// done with it. It is called exactly once for every session whose pointer
/// is non-NULL when the session ends, and never for a NULL one:
/// - #NETSYS_DELIVERY_CALLBACKS: right after the session's disconnect
///   callback has returned, on the same thread (the I/O thread, or the
///   session's worker with #NETSYS_OPT_CALLBACK_WORKERS), also when no
///   disconnect callback is set. No other callback of the session runs
///   after it.
/// - #NETSYS_DELIVERY_EVENTS: inside the netsys_server_poll() call that
///   follows the one that returned the session's #NETSYS_EVENT_DISCONNECT,
///   on the polling thread, before that call returns: by then the
///   DISCONNECT event's data is no longer valid either, and no event of the
///   session is polled afterwards.
/// - netsys_server_destroy(): for every session still holding a pointer
///   (open ones, and ended ones whose release has not come yet), on the
///   thread calling destroy, after every other callback of the server has
///   returned and before destroy returns. Called from inside one of the
///   server's own callbacks, destroy releases that callback's session too:
///   do not use its pointer after destroy returns.
/// Without a release callback nothing is handed back: the host keeps the
/// ownership it never gave away. The callback may call netsys_ functions
/// (not netsys_server_destroy() of this server). Takes effect for the
/// releases after the call; `user_data` must stay valid while it is set
/// (and through netsys_server_destroy(), which may call it).
/// Errors: #NETSYS_E_INVALID_HANDLE.
netsys_status netsys_server_set_session_release_callback(netsys_server server, netsys_session_release_fn fn,
                                                         void *user_data);

/// Binds the configured address and port and starts serving; returns once
/// the server accepts connections. A stopped server may be started again.
/// Errors: #NETSYS_E_ALREADY_RUNNING, #NETSYS_E_BAD_ADDRESS, #NETSYS_E_BIND,
/// #NETSYS_E_IO.
netsys_status netsys_server_start(netsys_server server);

/// Stops accepting and closes every session gracefully (queued messages are
/// flushed, clients receive CLOSE "server stopping", bounded by
/// #NETSYS_OPT_SHUTDOWN_TIMEOUT_MS). Idempotent: stopping a stopped server
/// is #NETSYS_OK. From outside every I/O thread it returns once stopped;
/// from inside a callback on an I/O thread (of this server or of any other
/// server or client) it returns at once and the stop completes in the
/// background (disconnect callbacks/events still follow); the server cannot
/// be started or configured again until it has.
netsys_status netsys_server_stop(netsys_server server);

/// Waits until the server has stopped, up to `timeout_ms` (-1: forever,
/// 0: just check). Returns #NETSYS_OK at once if it is not running (or was
/// never started), #NETSYS_E_TIMEOUT if still running at the deadline,
/// #NETSYS_E_DEADLOCK when called from a callback running on an I/O thread.
netsys_status netsys_server_wait(netsys_server server, int timeout_ms);

/// Writes whether the server is accepting connections to `*running`.
netsys_status netsys_server_is_running(netsys_server server, bool *running);

/// Writes the bound port (the ephemeral one when configured with 0; 0 if
/// never started) to `*port`.
netsys_status netsys_server_port(netsys_server server, int *port);

/// Writes the number of open sessions to `*count`.
netsys_status netsys_server_connection_count(netsys_server server, size_t *count);

/// Copies the server id given at creation (size query convention).
netsys_status netsys_server_id(netsys_server server, char *buf, size_t capacity, size_t *needed);

/// Fills a #netsys_server_stats (set its struct_size first).
netsys_status netsys_server_get_stats(netsys_server server, netsys_server_stats *stats);

/// Zeroes the server's counters.
netsys_status netsys_server_reset_stats(netsys_server server);

/// Lists the ids of the open sessions in increasing order (id array convention).
netsys_status netsys_server_sessions(netsys_server server, uint64_t *ids, size_t capacity, size_t *count);

/// Returns #NETSYS_OK if `session_id` names an open session of the server,
/// #NETSYS_E_NOT_FOUND otherwise.
netsys_status netsys_server_has_session(netsys_server server, uint64_t session_id);

/// Sends a message to every open session. `*sent` (optional) receives how
/// many sessions queued it, `*failed` (optional) how many could not
/// (closing, backpressure, over their size limit). Returns #NETSYS_OK when
/// every session was tried, whatever their individual outcomes.
/// Errors: #NETSYS_E_NOT_RUNNING, #NETSYS_E_NULL_POINTER, #NETSYS_E_TOO_LARGE
/// (larger than any peer may accept, 1 GiB).
netsys_status netsys_server_broadcast(netsys_server server, const uint8_t *data, size_t size, size_t *sent,
                                      size_t *failed);

/// As netsys_server_broadcast(), to the sessions of `group` only (an unknown
/// group has no members: sent = 0).
netsys_status netsys_server_broadcast_to_group(netsys_server server, const char *group, const uint8_t *data,
                                               size_t size, size_t *sent, size_t *failed);

/// Lists the session ids of `group`, in increasing order (id array convention).
netsys_status netsys_server_group_members(netsys_server server, const char *group, uint64_t *ids, size_t capacity,
                                          size_t *count);

/// Disconnects every session gracefully with `reason` (NULL: a default reason).
netsys_status netsys_server_disconnect_all(netsys_server server, const char *reason);

/// Drains up to `capacity` pending events into `events` and writes how many
/// to `*count`. Waits up to `timeout_ms` (-1: forever, 0: not at all) for
/// the first event; returns #NETSYS_OK with *count 0 on timeout. Frees the
/// data of the events returned by the previous poll on this handle (see
/// #netsys_event). Returns early with #NETSYS_E_INVALID_HANDLE if the
/// server is destroyed meanwhile. Errors: #NETSYS_E_WRONG_MODE (not in
/// #NETSYS_DELIVERY_EVENTS), #NETSYS_E_BUSY (another thread is polling this
/// handle), #NETSYS_E_INVALID_ARGUMENT (capacity 0), #NETSYS_E_NULL_POINTER.
netsys_status netsys_server_poll(netsys_server server, netsys_event *events, size_t capacity, int timeout_ms,
                                 size_t *count);

/// Writes a file descriptor that is readable exactly while events are
/// pending (level-triggered; an eventfd on Linux). It is owned by the
/// library: do not read, write or close it; remove it from your poller
/// before destroying the server, which closes it. Only in
/// #NETSYS_DELIVERY_EVENTS mode (#NETSYS_E_WRONG_MODE otherwise); the same
/// descriptor is returned for the life of the handle.
netsys_status netsys_server_event_fd(netsys_server server, int *fd);

/// Counts events the host has polled but not finished with (an unfinished
/// asynchronous handler, a message kept for a later receive) against the
/// event queue's bound, as if they were still queued: `events` events
/// holding `bytes` message bytes; negative values release what was counted
/// before. Past #NETSYS_OPT_EVENT_QUEUE_LIMIT or #NETSYS_OPT_EVENT_QUEUE_BYTES
/// (queued plus held), reading pauses as for a full queue; it resumes once
/// both are down to half. A poll counts the events it returns as consumed,
/// so call this right after the poll: until then the bound does not count
/// them, and a paused source may resume meanwhile (the bound can then be
/// exceeded by about one more queue's worth). Any thread; never blocks. Errors:
/// #NETSYS_E_WRONG_MODE (not in #NETSYS_DELIVERY_EVENTS),
/// #NETSYS_E_INVALID_ARGUMENT (releasing more than is held; nothing changes).
netsys_status netsys_server_hold_events(netsys_server server, int64_t events, int64_t bytes);

/* ------------------------------------------------------------------ */
/* Sessions (server side), named by (server, session id)               */
/* ------------------------------------------------------------------ */

/// Queues a message for the session without blocking. Errors:
/// #NETSYS_E_NOT_FOUND (no such open session), #NETSYS_E_WOULD_BLOCK (queue
/// at #NETSYS_OPT_SEND_QUEUE_LIMIT), #NETSYS_E_TOO_LARGE (over the client's
/// limit), #NETSYS_E_CLOSED (closing), #NETSYS_E_NULL_POINTER.
netsys_status netsys_session_send(netsys_server server, uint64_t session_id, const uint8_t *data, size_t size);

/// Sends a NUL-terminated string (without its NUL), as netsys_session_send().
netsys_status netsys_session_send_string(netsys_server server, uint64_t session_id, const char *text);

/// As netsys_session_send(), but waits up to `timeout_ms` for room in a full
/// queue (#NETSYS_E_TIMEOUT after that). From a callback on an I/O thread it
/// does not wait: a full queue gives #NETSYS_E_DEADLOCK at once.
netsys_status netsys_session_send_timeout(netsys_server server, uint64_t session_id, const uint8_t *data,
                                          size_t size, int timeout_ms);

/// Closes the session gracefully: queued messages are flushed, then the
/// client receives CLOSE with `reason` (NULL: "disconnected by server").
/// Allowed from the session's own callbacks. Errors: #NETSYS_E_NOT_FOUND,
/// #NETSYS_E_CLOSED (already closing).
netsys_status netsys_session_disconnect(netsys_server server, uint64_t session_id, const char *reason);

/// Writes the session's #netsys_session_state to `*state`.
netsys_status netsys_session_get_state(netsys_server server, uint64_t session_id, netsys_session_state *state);

/// Copies the client id the peer announced (size query convention).
netsys_status netsys_session_client_id(netsys_server server, uint64_t session_id, char *buf, size_t capacity,
                                       size_t *needed);

/// Copies the peer's address as "ip:port" ("[ip]:port" for IPv6) (size query convention).
netsys_status netsys_session_remote_address(netsys_server server, uint64_t session_id, char *buf, size_t capacity,
                                            size_t *needed);

/// Copies the server-side address of the connection (size query convention).
netsys_status netsys_session_local_address(netsys_server server, uint64_t session_id, char *buf, size_t capacity,
                                           size_t *needed);

/// Fills a #netsys_session_stats (set its struct_size first).
netsys_status netsys_session_get_stats(netsys_server server, uint64_t session_id, netsys_session_stats *stats);

/// Zeroes the session's counters.
netsys_status netsys_session_reset_stats(netsys_server server, uint64_t session_id);

/// Stops reading from the session (TCP backpressure) until
/// netsys_session_resume_reading(). From its own callback it takes effect
/// after the current message. From a thread that is not an I/O thread it
/// returns once the pause is in effect: no message of this session is read
/// after it returns (events already queued for the pull interface stay
/// queued).
netsys_status netsys_session_pause_reading(netsys_server server, uint64_t session_id);

/// Resumes reading paused by netsys_session_pause_reading().
netsys_status netsys_session_resume_reading(netsys_server server, uint64_t session_id);

/// Sets (fn non-NULL) or removes a message callback for this session only,
/// called after the server's message callback, on the same thread and with
/// the same data rules. Only in #NETSYS_DELIVERY_CALLBACKS mode
/// (#NETSYS_E_WRONG_MODE otherwise). It is dropped when the session ends.
netsys_status netsys_session_set_message_callback(netsys_server server, uint64_t session_id,
                                                  netsys_server_message_fn fn, void *user_data);

/// Attaches the host's pointer `data` to the session, replacing the
/// previous one (which is not released: it is the host's again), NULL
/// clearing it. The library never reads, writes or frees the memory; it
/// hands the pointer back through netsys_session_get_user_data() and, when
/// the session ends, once to the release callback
/// (netsys_server_set_session_release_callback()), which is where the host
/// frees it. A session can carry one without any lookup table in the host:
/// set it in the connect callback, fetch it in the message and disconnect
/// callbacks, free it in the release callback. Any thread.
///
/// Unlike the other netsys_session_* calls, which find only open sessions,
/// this call and netsys_session_get_user_data() also find a session that
/// has ended but has not been released yet (its disconnect callback has
/// not returned, or in #NETSYS_DELIVERY_EVENTS its DISCONNECT event has
/// not been followed by another poll), so every
/// callback and event of a session can reach its pointer. Errors:
/// #NETSYS_E_NOT_FOUND (no such session, or already released),
/// #NETSYS_E_INVALID_HANDLE (also once netsys_server_destroy() has begun).
netsys_status netsys_session_set_user_data(netsys_server server, uint64_t session_id, void *data);

/// Writes the session's pointer (netsys_session_set_user_data(); NULL if
/// none) to `*data`. Never waits for I/O or for a callback; cheap enough
/// for every message batch.
/// From the session's own callbacks (and, in #NETSYS_DELIVERY_EVENTS, while
/// handling the session's polled events before the next poll) the pointer
/// cannot be released while in use. From any other thread the release may
/// run at any moment, also right after this call returns: such a host must
/// make its release callback wait for that use (for instance with a lock
/// held around the fetch and the use, which the release callback takes
/// before freeing). Errors: #NETSYS_E_NOT_FOUND (as
/// netsys_session_set_user_data()), #NETSYS_E_NULL_POINTER.
netsys_status netsys_session_get_user_data(netsys_server server, uint64_t session_id, void **data);

/// Adds the session to `group` (created on first use).
netsys_status netsys_session_join_group(netsys_server server, uint64_t session_id, const char *group);

/// Removes the session from `group` (no error if it was not a member).
netsys_status netsys_session_leave_group(netsys_server server, uint64_t session_id, const char *group);

/// Writes whether the session belongs to `group` to `*member`.
netsys_status netsys_session_in_group(netsys_server server, uint64_t session_id, const char *group, bool *member);

/// Lists the session's groups, sorted (string list convention; `count` optional).
netsys_status netsys_session_groups(netsys_server server, uint64_t session_id, char *buf, size_t capacity,
                                    size_t *needed, size_t *count);

/// Stores `value` under `key` in the session's key/value data (both copied).
netsys_status netsys_session_data_set(netsys_server server, uint64_t session_id, const char *key, const char *value);

/// Copies the value stored under `key` (size query convention);
/// #NETSYS_E_NOT_FOUND if the key is absent.
netsys_status netsys_session_data_get(netsys_server server, uint64_t session_id, const char *key, char *buf,
                                      size_t capacity, size_t *needed);

/// Writes whether `key` is present to `*present`.
netsys_status netsys_session_data_has(netsys_server server, uint64_t session_id, const char *key, bool *present);

/// Removes `key` (no error if absent).
netsys_status netsys_session_data_remove(netsys_server server, uint64_t session_id, const char *key);

/// Removes every key.
netsys_status netsys_session_data_clear(netsys_server server, uint64_t session_id);

/// Lists the keys, sorted (string list convention; `count` optional).
netsys_status netsys_session_data_keys(netsys_server server, uint64_t session_id, char *buf, size_t capacity,
                                       size_t *needed, size_t *count);

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

/// Creates a client with id `client_id` (copied; "" allowed, at most 255
/// bytes) and writes its handle to `*out`. Nothing is dialed until
/// netsys_client_connect(). Errors: #NETSYS_E_NULL_POINTER,
/// #NETSYS_E_INVALID_ARGUMENT.
netsys_status netsys_client_create(netsys_client *out, const char *client_id);

/// Stops the client if running (gracefully), releases it and invalidates
/// the handle, with the same guarantees as netsys_server_destroy().
netsys_status netsys_client_destroy(netsys_client client);

/// Sets an integer option (see #netsys_option); only while not running.
netsys_status netsys_client_set_int(netsys_client client, netsys_option option, int64_t value);
/// Reads an integer option as stored (0 = library default).
netsys_status netsys_client_get_int(netsys_client client, netsys_option option, int64_t *value);
/// Sets a string option (copied); only while not running.
netsys_status netsys_client_set_string(netsys_client client, netsys_option option, const char *value);
/// Reads a string option (size query convention).
netsys_status netsys_client_get_string(netsys_client client, netsys_option option, char *buf, size_t capacity,
                                       size_t *needed);

/// Sets or removes the connect callback (as netsys_server_set_connect_callback()).
netsys_status netsys_client_set_connect_callback(netsys_client client, netsys_client_connect_fn fn, void *user_data);
/// Sets or removes the message callback.
netsys_status netsys_client_set_message_callback(netsys_client client, netsys_client_message_fn fn, void *user_data);
/// Sets or removes the disconnect callback.
netsys_status netsys_client_set_disconnect_callback(netsys_client client, netsys_client_disconnect_fn fn,
                                                    void *user_data);
/// Sets or removes the error callback.
netsys_status netsys_client_set_error_callback(netsys_client client, netsys_client_error_fn fn, void *user_data);

/// Connects to `host` (IP literal, "localhost" or a name; IPv6 works) and
/// `port` (1..65535) and returns once the server has welcomed the client,
/// or with why not: #NETSYS_E_CONNECT, #NETSYS_E_RESOLVE,
/// #NETSYS_E_SERVER_FULL, #NETSYS_E_REJECTED, #NETSYS_E_TIMEOUT,
/// #NETSYS_E_ALREADY_RUNNING, #NETSYS_E_INVALID_ARGUMENT. On failure the
/// client is stopped again (even with auto-reconnect, which applies to
/// connections lost later) and no #NETSYS_EVENT_STOPPED follows: that run
/// never started. Blocks up to #NETSYS_OPT_CONNECT_TIMEOUT_MS; from a
/// callback on an I/O thread it fails at once with #NETSYS_E_DEADLOCK.
netsys_status netsys_client_connect(netsys_client client, const char *host, int port);

/// Starts connecting and returns at once; the outcome arrives as a connect
/// or error callback/event (with auto-reconnect, failures are retried).
/// Messages sent meanwhile are queued (up to #NETSYS_OPT_RECONNECT_QUEUE_LIMIT
/// messages and #NETSYS_OPT_RECONNECT_QUEUE_BYTES bytes, each for at most
/// #NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS).
netsys_status netsys_client_connect_async(netsys_client client, const char *host, int port);

/// Closes the connection gracefully (queued messages are flushed, then
/// CLOSE), cancels reconnection and reports still-queued messages as an
/// #NETSYS_E_NOT_DELIVERED error. Idempotent. From a callback on an I/O
/// thread it returns at once and completes after the callback returns.
/// The client may be connected again afterwards.
netsys_status netsys_client_stop(netsys_client client);

/// Waits until the client is stopped (by netsys_client_stop(), a failed
/// connect, or a lost connection without auto-reconnect), up to
/// `timeout_ms` (-1: forever). #NETSYS_OK at once if not running;
/// #NETSYS_E_TIMEOUT; #NETSYS_E_DEADLOCK from a callback on an I/O thread.
netsys_status netsys_client_wait(netsys_client client, int timeout_ms);

/// Writes whether the client has an open, welcomed connection.
netsys_status netsys_client_is_connected(netsys_client client, bool *connected);

/// Writes whether the client is running (between connect and stop).
netsys_status netsys_client_is_running(netsys_client client, bool *running);

/// Writes the session id the server gave the current (or last) connection (0 if none).
netsys_status netsys_client_session_id(netsys_client client, uint64_t *session_id);

/// Copies the client id (size query convention).
netsys_status netsys_client_id(netsys_client client, char *buf, size_t capacity, size_t *needed);

/// Queues a message for the server without blocking. While (re)connecting,
/// messages wait in the reconnect queue. Errors: #NETSYS_E_NOT_RUNNING or
/// #NETSYS_E_NOT_CONNECTED, #NETSYS_E_WOULD_BLOCK, #NETSYS_E_TOO_LARGE,
/// #NETSYS_E_CLOSED, #NETSYS_E_NULL_POINTER.
netsys_status netsys_client_send(netsys_client client, const uint8_t *data, size_t size);

/// Sends a NUL-terminated string (without its NUL), as netsys_client_send().
netsys_status netsys_client_send_string(netsys_client client, const char *text);

/// As netsys_client_send(), waiting up to `timeout_ms` for room in a full
/// send queue (#NETSYS_E_TIMEOUT after that). From a callback on an I/O
/// thread it does not wait: a full queue gives #NETSYS_E_DEADLOCK at once.
netsys_status netsys_client_send_timeout(netsys_client client, const uint8_t *data, size_t size, int timeout_ms);

/// Fills a #netsys_client_stats (set its struct_size first).
netsys_status netsys_client_get_stats(netsys_client client, netsys_client_stats *stats);

/// Stops reading from the server (TCP backpressure) until
/// netsys_client_resume_reading(); same guarantee as
/// netsys_session_pause_reading().
netsys_status netsys_client_pause_reading(netsys_client client);

/// Resumes reading paused by netsys_client_pause_reading().
netsys_status netsys_client_resume_reading(netsys_client client);

/// Drains pending events; same contract as netsys_server_poll().
netsys_status netsys_client_poll(netsys_client client, netsys_event *events, size_t capacity, int timeout_ms,
                                 size_t *count);

/// Writes the client's event descriptor; same contract as netsys_server_event_fd().
netsys_status netsys_client_event_fd(netsys_client client, int *fd);

/// Counts events the client's host holds; same contract as netsys_server_hold_events().
netsys_status netsys_client_hold_events(netsys_client client, int64_t events, int64_t bytes);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NETSYS_H */
