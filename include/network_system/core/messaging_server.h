#pragma once

/// @file messaging_server.h
/// @brief `network_system::core::messaging_server`: a netsys server with the
/// API of network_system (kcenon/network_system), as its implementation guide
/// describes it, and the original's legacy calls.
///
/// The server is a libnetsys.so server handle (netsys_server_*); this class
/// translates configuration, handlers and sessions. Behaviour worth knowing
/// when porting code:
/// - start_server() returns false on failure (bind error, bad address,
///   already running) and reports why through the error handlers and
///   last_error(). The original's `void start_server(port)` threw
///   std::system_error on a bind failure; the implementation guide's bool return
///   replaced that, and both call styles compile against this signature.
///   Starting a running server leaves it running (the original's no-op) and
///   returns false with netsys::errc::already_running.
/// - Handlers run on the server's I/O threads (server_config::loops of
///   them), one session's handlers one at a time and in order, different
///   sessions' concurrently. A handler may call anything, including
///   stop_server() and the setters, without deadlock; one that blocks stalls
///   the sessions of its thread (set server_config::callback_workers to run
///   handlers on worker threads instead). An exception thrown by a handler
///   is caught before it reaches the C ABI and reported through the error
///   handlers with netsys::errc::handler_exception.
/// - Destroying the server stops it (gracefully) without calling handlers:
///   call stop_server() first to observe the final disconnects.
/// - The cheapest way to receive is set_message_view_handler(): the session
///   by reference and the message as a std::string_view of netsys's buffer
///   (no copy, no reference count per message). The std::string and
///   std::vector<uint8_t> handlers of the guide and the original still work
///   and get the same bytes, at the cost of the copy their signatures imply.

#include "network_system/detail/callbacks.h"
#include "network_system/detail/monitoring.h"
#include "network_system/session/messaging_session.h"
#include "network_system/utils/performance_monitor.h"

#include <netsys/netsys.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace network_system::core {

/// Server configuration (the implementation guide's fields first, netsys
/// extensions after).
/// A zero numeric value means the netsys default.
struct server_config {
    unsigned short port = 8080;                ///< TCP port; 0 picks an ephemeral one
    std::string bind_address = "0.0.0.0";      ///< IP literal or "localhost"; "::" for IPv6
    size_t max_connections = 1000;             ///< beyond it clients are refused "server full"
    size_t message_size_limit = 1024 * 1024;   ///< largest message accepted (max 1 GiB)
    /// Idle timeout: a session that receives nothing for this long is closed
    /// (netsys pings it after half, so live clients never hit it). Default
    /// 30 s, as in every netsys binding; 0 disables it.
    std::chrono::seconds timeout{30};
    bool enable_keep_alive = true;             ///< SO_KEEPALIVE
    bool enable_nodelay = true;                ///< TCP_NODELAY
    /// SO_RCVBUF in bytes; 0 (the default) keeps the kernel's autotuning.
    /// The guide's default of 8192 is not used: as a socket buffer it would
    /// cap throughput, and netsys sizes its own read buffers.
    size_t receive_buffer_size = 0;
    /// SO_SNDBUF in bytes; 0 keeps the kernel's autotuning (see above).
    size_t send_buffer_size = 0;

    // netsys extensions
    size_t loops = 0;                          ///< I/O threads (0: one per CPU)
    size_t callback_workers = 0;               ///< 0: handlers on I/O threads; N: on N worker threads
    size_t send_queue_limit = 0;               ///< per-session outbound queue bytes (0: 8 MiB)
    std::chrono::milliseconds handshake_timeout{0};  ///< 0: 5 s
    /// Connections still handshaking (not counted in max_connections); a new
    /// one beyond the bound refuses the oldest pending one (0: 256).
    size_t max_pending_handshakes = 0;
    /// The same bound per source IP address (0: 16).
    size_t max_handshakes_per_address = 0;
    std::chrono::milliseconds shutdown_timeout{0};   ///< graceful stop bound (0: 5 s)
    std::chrono::microseconds spin_before_wait{0};   ///< busy-poll before sleeping (0: off)
    std::string compression;                   ///< "snappy", "zstd", "snappy,zstd" or "" (none); "s2" is a synonym of "snappy"
    /// Messages shorter than this are sent uncompressed (0: 256 bytes).
    size_t min_compress_size = 0;
    /// Comma-separated names of transforms registered with
    /// netsys::register_transform() that clients may request ("" : none).
    /// The server accepts any subset; a client asking for one not listed is
    /// rejected with "transform mismatch: <name>".
    std::string transforms;
    /// Acknowledged delivery for clients that ask for it too: their
    /// messages survive a crash of this server (at-least-once, duplicates
    /// dropped within the server's lifetime); see NETSYS_OPT_ACKNOWLEDGED.
    bool acknowledged = false;
    /// Bytes a session sends and keeps until the client acknowledges them;
    /// past it a send fails with errc::would_block (0: 8 MiB).
    size_t ack_buffer_bytes = 0;
};

/// A TCP messaging server (the implementation guide's API plus the original's
/// legacy calls). Hold it in a std::shared_ptr. Thread-safe.
class messaging_server : public std::enable_shared_from_this<messaging_server> {
public:
    /// Session pointer type handed to handlers.
    using session_ptr = std::shared_ptr<session::messaging_session>;

    /// Called with each message a session sends.
    using message_handler = std::function<void(std::shared_ptr<session::messaging_session>, const std::string&)>;
    /// The fast message handler (netsys extension): the session by
    /// reference and the message as a view of netsys's read buffer, so a
    /// message costs neither a reference-count update nor a copy. Both are
    /// valid only during the call: copy the bytes to keep them, and call
    /// `session.shared_from_this()` to keep the session.
    using message_view_handler = std::function<void(session::messaging_session& session, std::string_view message)>;
    /// Called when a session completes its handshake.
    using connect_handler = std::function<void(std::shared_ptr<session::messaging_session>)>;
    /// Called once when an open session ends, with the reason.
    using disconnect_handler =
        std::function<void(std::shared_ptr<session::messaging_session>, const std::string&)>;
    /// Called with (message, netsys::errc value) for every failure.
    using error_handler = std::function<void(const std::string&, int)>;

    /// Counters of the server.
    struct server_statistics {
        uint64_t total_connections = 0;    ///< connections accepted
        uint64_t current_connections = 0;  ///< sessions open now
        uint64_t messages_sent = 0;        ///< messages queued to sessions
        uint64_t messages_received = 0;    ///< messages received
        uint64_t bytes_sent = 0;           ///< payload bytes sent
        uint64_t bytes_received = 0;       ///< payload bytes received
        std::chrono::steady_clock::time_point start_time;     ///< last start
        std::chrono::steady_clock::time_point last_activity;  ///< last message received
        uint64_t rejected_connections = 0;  ///< refused (full, bad handshake)
        uint64_t protocol_errors = 0;       ///< closed for protocol violations
        uint64_t oversize_messages = 0;     ///< closed for "message too large"
    };

    /// A stopped server named @p server_id with the default configuration.
    explicit messaging_server(const std::string& server_id) : messaging_server(server_id, server_config{}) {}

    /// A stopped server with @p config. Throws netsys::error for an invalid
    /// configuration (e.g. message_size_limit over 1 GiB).
    messaging_server(const std::string& server_id, const server_config& config)
        : core_(std::make_shared<server_core>(server_id, config)) {}

    /// Stops the server if running and releases it. No handler is called
    /// from here on. Safe from inside the server's own handlers.
    ~messaging_server() { server_core::close(std::move(core_)); }

    messaging_server(const messaging_server&) = delete;
    messaging_server& operator=(const messaging_server&) = delete;
    messaging_server(messaging_server&&) = delete;
    messaging_server& operator=(messaging_server&&) = delete;

    // Server lifecycle

    /// Starts on the configured address and port; false (and an error
    /// report) on failure. Returns once connections are accepted.
    bool start_server() { return core_->start(); }

    /// Starts on @p port (0: ephemeral, read it with port()).
    bool start_server(unsigned short port) {
        if (!core_->set_endpoint(nullptr, port)) {
            return false;
        }
        return core_->start();
    }

    /// Starts on @p bind_address and @p port.
    bool start_server(const std::string& bind_address, unsigned short port) {
        if (!core_->set_endpoint(&bind_address, port)) {
            return false;
        }
        return core_->start();
    }

    /// Stops accepting and closes every session gracefully; disconnect
    /// handlers run for each. Idempotent. From a handler it returns at once
    /// and the stop completes when the handler returns.
    void stop_server() { core_->report(::netsys_server_stop(core_->handle())); }

    /// Blocks until the server is stopped (by another thread or a handler);
    /// returns at once if it is not running. From a handler on an I/O
    /// thread it reports netsys::errc::deadlock and returns.
    void wait_for_stop() { core_->report(::netsys_server_wait(core_->handle(), -1)); }

    // Status queries

    /// Whether the server accepts connections.
    bool is_running() const {
        bool running = false;
        return ::netsys_server_is_running(core_->handle(), &running) == NETSYS_OK && running;
    }

    /// The id given at construction.
    std::string server_id() const { return core_->id(); }

    /// The bound port once started (the ephemeral one for port 0), else the
    /// configured port.
    unsigned short port() const {
        int bound = 0;
        if (::netsys_server_port(core_->handle(), &bound) == NETSYS_OK && bound != 0) {
            return static_cast<unsigned short>(bound);
        }
        return get_config().port;
    }

    /// The configured bind address.
    std::string bind_address() const { return get_config().bind_address; }

    /// Number of open sessions.
    size_t connection_count() const {
        size_t count = 0;
        ::netsys_server_connection_count(core_->handle(), &count);
        return count;
    }

    // Configuration management

    /// Replaces the configuration. Only while stopped: returns false with
    /// netsys::errc::already_running otherwise, or with invalid_argument
    /// for a value netsys refuses (the previous configuration stays).
    bool set_config(const server_config& config) { return core_->configure(config); }

    /// The current configuration.
    server_config get_config() const { return core_->config(); }

    // Event handler setup (may be called any time, also from a handler)

    /// Sets the message handler.
    void set_message_handler(message_handler handler) {
        core_->on_message.set(std::move(handler));
        core_->message_handlers_changed();
    }
    /// Sets the fast message handler (see message_view_handler). It runs
    /// before the other message handlers of the same message, which may be
    /// set too and get the same bytes; an empty function removes it.
    void set_message_view_handler(message_view_handler handler) {
        core_->on_message_view.set(std::move(handler));
        core_->message_handlers_changed();
    }
    /// Sets the connect handler.
    void set_connect_handler(connect_handler handler) { core_->on_connect.set(std::move(handler)); }
    /// Sets the disconnect handler.
    void set_disconnect_handler(disconnect_handler handler) { core_->on_disconnect.set(std::move(handler)); }
    /// Sets the error handler.
    void set_error_handler(error_handler handler) { core_->on_error.set(std::move(handler)); }

    // Message broadcasting

    /// Sends @p message to every open session; returns how many queued it.
    size_t broadcast_message(const std::string& message) {
        return core_->broadcast(nullptr, message.data(), message.size());
    }
    /// Sends binary @p data to every open session.
    size_t broadcast_message(const std::vector<uint8_t>& data) {
        return core_->broadcast(nullptr, data.data(), data.size());
    }
    /// Sends @p message to the sessions of @p group_id; returns how many queued it.
    size_t broadcast_to_group(const std::string& group_id, const std::string& message) {
        return core_->broadcast(&group_id, message.data(), message.size());
    }

    // Session management

    /// The open session with id @p session_id, or nullptr.
    session_ptr get_session(const std::string& session_id) {
        uint64_t id = 0;
        if (!parse_id(session_id, id)) {
            return nullptr;
        }
        return core_->lookup(id);
    }

    /// Every open session, by increasing id.
    std::vector<session_ptr> get_all_sessions() {
        std::vector<uint64_t> ids;
        netsys::fetch_ids(
            [&](uint64_t* out, size_t capacity, size_t* count) {
                return ::netsys_server_sessions(core_->handle(), out, capacity, count);
            },
            ids);
        std::vector<session_ptr> sessions;
        sessions.reserve(ids.size());
        for (uint64_t id : ids) {
            if (auto s = core_->lookup(id)) {  // a session that ended since the list is left out
                sessions.push_back(std::move(s));
            }
        }
        return sessions;
    }

    /// Closes one session gracefully; false (and an error report) if there
    /// is no such open session.
    bool disconnect_session(const std::string& session_id) { return disconnect_session(session_id, {}); }

    /// Closes one session gracefully; the client receives @p reason.
    bool disconnect_session(const std::string& session_id, const std::string& reason) {
        uint64_t id = 0;
        if (!core_->parse_or_report(session_id, id)) {
            return false;
        }
        return !core_->report(
            ::netsys_session_disconnect(core_->handle(), id, reason.empty() ? nullptr : reason.c_str()));
    }

    /// Closes every session gracefully.
    void disconnect_all_sessions() { core_->report(::netsys_server_disconnect_all(core_->handle(), nullptr)); }

    /// Closes every session gracefully with @p reason.
    void disconnect_all_sessions(const std::string& reason) {
        core_->report(::netsys_server_disconnect_all(core_->handle(), reason.c_str()));
    }

    // Group management

    /// Adds a session to a group; false (and an error report) if no such session.
    bool add_session_to_group(const std::string& session_id, const std::string& group_id) {
        uint64_t id = 0;
        return core_->parse_or_report(session_id, id) &&
               !core_->report(::netsys_session_join_group(core_->handle(), id, group_id.c_str()));
    }

    /// Removes a session from a group.
    bool remove_session_from_group(const std::string& session_id, const std::string& group_id) {
        uint64_t id = 0;
        return core_->parse_or_report(session_id, id) &&
               !core_->report(::netsys_session_leave_group(core_->handle(), id, group_id.c_str()));
    }

    /// The groups of a session, sorted (empty if no such session).
    std::vector<std::string> get_session_groups(const std::string& session_id) {
        uint64_t id = 0;
        std::vector<std::string> groups;
        if (parse_id(session_id, id)) {
            netsys::fetch_string_list(
                [&](char* buf, size_t capacity, size_t* needed, size_t* count) {
                    return ::netsys_session_groups(core_->handle(), id, buf, capacity, needed, count);
                },
                groups);
        }
        return groups;
    }

    /// Session ids of a group, increasing (netsys extension).
    std::vector<std::string> get_group_members(const std::string& group_id) {
        std::vector<uint64_t> ids;
        netsys::fetch_ids(
            [&](uint64_t* out, size_t capacity, size_t* count) {
                return ::netsys_server_group_members(core_->handle(), group_id.c_str(), out, capacity, count);
            },
            ids);
        std::vector<std::string> members;
        members.reserve(ids.size());
        for (uint64_t id : ids) {
            members.push_back(std::to_string(id));
        }
        return members;
    }

    // Statistics

    /// The server's counters.
    server_statistics get_statistics() const {
        netsys_server_stats raw{};
        raw.struct_size = sizeof raw;
        server_statistics out;
        if (::netsys_server_get_stats(core_->handle(), &raw) == NETSYS_OK) {
            out.total_connections = raw.total_connections;
            out.current_connections = raw.current_connections;
            out.messages_sent = raw.messages_sent;
            out.messages_received = raw.messages_received;
            out.bytes_sent = raw.bytes_sent;
            out.bytes_received = raw.bytes_received;
            out.start_time = netsys::to_steady(raw.start_time_ns);
            out.last_activity = netsys::to_steady(raw.last_activity_ns);
            out.rejected_connections = raw.rejected_connections;
            out.protocol_errors = raw.protocol_errors;
            out.oversize_messages = raw.oversize_messages;
        }
        return out;
    }

    /// Zeroes the counters (not the current connection count).
    void reset_statistics() { core_->report(::netsys_server_reset_stats(core_->handle())); }

    // The original network_system's callback API (legacy code)

    /// Legacy: called when a session connects.
    void set_connection_callback(std::function<void(std::shared_ptr<session::messaging_session>)> callback) {
        core_->on_connection.set(std::move(callback));
    }
    /// Legacy: called when a session ends, with its session id.
    void set_disconnection_callback(std::function<void(const std::string&)> callback) {
        core_->on_disconnection.set(std::move(callback));
    }
    /// Legacy: called with each message as raw bytes.
    void set_receive_callback(
        std::function<void(std::shared_ptr<session::messaging_session>, const std::vector<uint8_t>&)> callback) {
        core_->on_receive.set(std::move(callback));
        core_->message_handlers_changed();
    }
    /// Legacy: called with each failure (session is nullptr for failures of
    /// the server itself).
    void set_error_callback(
        std::function<void(std::shared_ptr<session::messaging_session>, std::error_code)> callback) {
        core_->on_error_code.set(std::move(callback));
    }

    // netsys extensions

    /// The last failure of a call made through this object (empty if none).
    netsys::failure last_error() const { return core_->last_error(); }

    /// Feeds @p monitor with this server's connections, messages and errors
    /// (nullptr detaches). The monitor must outlive the server.
    /// The monitor reads this server's counters from netsys (messages,
    /// bytes, connections) when its metrics are taken; failures are counted
    /// as they are reported. Detaching (or destroying the server) keeps what
    /// was counted so far in the monitor.
    void set_performance_monitor(utils::performance_monitor* monitor) { core_->attach_monitor(monitor); }

    /// Observes connects/disconnects as (client "address:port", connected)
    /// and failures as (message, code), independently of the handlers above
    /// (set_*_handler never replaces an observer). messaging_bridge uses it
    /// to feed its event handlers; empty functions remove the observers.
    /// Observers run where the matching handlers run; an exception they
    /// throw is discarded with a note on stderr.
    void set_event_observers(std::function<void(const std::string&, bool)> connection_observer,
                             std::function<void(const std::string&, int)> error_observer) {
        core_->observe_connection.set(std::move(connection_observer));
        core_->observe_error.set(std::move(error_observer));
    }

    /// The C handle, for calls this class does not wrap. The sessions' user
    /// data and the session release callback belong to this class (they
    /// hold its session objects): do not set them through the handle.
    netsys_server handle() const noexcept { return core_->handle(); }

private:
    static bool parse_id(const std::string& text, uint64_t& id) {
        if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos) {
            return false;
        }
        try {
            id = std::stoull(text);
        } catch (...) {
            return false;
        }
        return id != 0;
    }

    /// Everything the C callbacks reach through their user_data pointer.
    class server_core final : public session::session_failure_sink,
                              public std::enable_shared_from_this<server_core> {
    public:
        server_core(const std::string& id, const server_config& config) : id_(id) {
            netsys_server raw = 0;
            netsys::check(::netsys_server_create(&raw, id.c_str()));
            handle_ = netsys::server_handle(raw);
            netsys::check(::netsys_server_set_connect_callback(raw, &server_core::c_connect, this));
            // Messages arrive in batches (one C call per socket read, on I/O
            // threads or workers); c_message covers what the library hands
            // over one by one.
            netsys::check(::netsys_server_set_message_callback(raw, &server_core::c_message, this));
            netsys::check(::netsys_server_set_message_batch_callback(raw, &server_core::c_message_batch, this));
            netsys::check(::netsys_server_set_disconnect_callback(raw, &server_core::c_disconnect, this));
            netsys::check(::netsys_server_set_error_callback(raw, &server_core::c_error, this));
            netsys::check(::netsys_server_set_session_release_callback(raw, &server_core::c_release, this));
            if (auto f = apply(config)) {
                throw netsys::error(f);
            }
            config_ = config;
        }

        // See detail::close_core.
        static void close(std::shared_ptr<server_core> core) noexcept { detail::close_core(std::move(core)); }

        // Destroys the C object (netsys_*_destroy); close_core's primitive.
        void release_handle() noexcept { handle_.reset(); }
        template <class Core>
        friend void detail::close_core(std::shared_ptr<Core> core) noexcept;  // calls silence()

        netsys_server handle() const noexcept { return handle_.get(); }
        const std::string& id() const noexcept { return id_; }

        server_config config() const {
            std::lock_guard<std::mutex> lock(config_mutex_);
            return config_;
        }

        // The failure is reported after the lock is released: error handlers
        // may call get_config().
        bool configure(const server_config& config) {
            netsys::failure failure;
            {
                std::lock_guard<std::mutex> lock(config_mutex_);
                failure = apply(config);
                if (failure) {
                    apply(config_);  // restore what netsys had
                } else {
                    config_ = config;
                }
            }
            if (failure) {
                record(failure);
                return false;
            }
            return true;
        }

        bool set_endpoint(const std::string* bind_address, unsigned short port) {
            netsys::failure failure;
            {
                std::lock_guard<std::mutex> lock(config_mutex_);
                server_config next = config_;
                if (bind_address != nullptr) {
                    next.bind_address = *bind_address;
                }
                next.port = port;
                failure = apply(next);
                if (failure) {
                    apply(config_);
                } else {
                    config_ = std::move(next);
                }
            }
            if (failure) {
                record(failure);
                return false;
            }
            return true;
        }

        bool start() { return !report(::netsys_server_start(handle())); }

        size_t broadcast(const std::string* group, const void* data, size_t size) {
            size_t sent = 0;
            const auto* bytes = static_cast<const uint8_t*>(data);
            const netsys_status status =
                group ? ::netsys_server_broadcast_to_group(handle(), group->c_str(), bytes, size, &sent, nullptr)
                      : ::netsys_server_broadcast(handle(), bytes, size, &sent, nullptr);
            if (report(status)) {
                return 0;
            }
            return sent;
        }

        bool parse_or_report(const std::string& text, uint64_t& id) {
            if (parse_id(text, id)) {
                return true;
            }
            record(netsys::failure{netsys::make_error_code(netsys::errc::not_found),
                                   "no session with id \"" + text + "\" (ids are positive decimal numbers)"});
            return false;
        }

        // Each session's one object hangs on its netsys session: the user
        // data is a heap std::shared_ptr<tcp_session> (a holder), attached
        // when the object is first needed (at connect when a connect or
        // disconnect handler wants it, else at the first message or lookup)
        // and deleted by c_release, which netsys calls once the session has
        // ended and its last callback has returned. Callbacks of a session
        // therefore read its holder without any lock: its release cannot run
        // before they return.
        //
        // Anything else (get_session(), get_all_sessions(), an error
        // callback) may run while c_release frees the holder. Such a caller
        // copies the shared_ptr out under holders_ (shared), and c_release
        // takes holders_ (exclusive) before deleting: netsys has detached the
        // holder before calling c_release, so every caller that could still
        // have fetched it holds holders_ until it has copied the shared_ptr,
        // and every later one no longer gets it. Attaching is done under
        // holders_ (exclusive) too, so two threads finding no object yet
        // never make two objects for one session. The lock is taken once per
        // session to attach, once per session to release and by these
        // lookups, never per message.
        using holder = std::shared_ptr<session::tcp_session>;

        // The session's holder as netsys keeps it (@p out nullptr: none
        // attached yet); false when netsys no longer knows the session.
        static bool holder_of(netsys_server server, uint64_t id, holder*& out) noexcept {
            void* data = nullptr;
            if (::netsys_session_get_user_data(server, id, &data) != NETSYS_OK) {
                return false;
            }
            out = static_cast<holder*>(data);
            return true;
        }

        // The object of a session netsys still knows (open, or ended with
        // its disconnect callback to come), made and attached if it has
        // none yet; nullptr if netsys does not know the session.
        std::shared_ptr<session::tcp_session> lookup(uint64_t id) { return lookup(handle(), id); }

        std::shared_ptr<session::tcp_session> lookup(netsys_server server, uint64_t id) {
            {
                std::shared_lock<std::shared_mutex> lock(holders_);
                holder* held = nullptr;
                if (!holder_of(server, id, held)) {
                    return nullptr;
                }
                if (held) {
                    return *held;
                }
            }
            return attach(server, id, false);
        }

        // Makes the object of a session and attaches it, unless another
        // thread did first (its object is returned then: every handler sees
        // one object). The netsys calls that fill the object are made before
        // the lock. If netsys no longer knows the session, the connect
        // callback (@p connecting) still gets the object, unattached, for its
        // handlers; anyone else gets nullptr.
        std::shared_ptr<session::tcp_session> attach(netsys_server server, uint64_t id, bool connecting) {
            auto fresh = std::make_shared<session::tcp_session>(owner(), id);
            fresh->on_connected();  // read-only once published
            auto held = std::make_unique<holder>(fresh);
            std::unique_lock<std::shared_mutex> lock(holders_);
            holder* attached = nullptr;
            if (!holder_of(server, id, attached)) {
                return connecting ? fresh : nullptr;
            }
            if (attached) {
                return *attached;
            }
            if (::netsys_session_set_user_data(server, id, held.get()) != NETSYS_OK) {
                return connecting ? fresh : nullptr;
            }
            held.release();  // c_release deletes it
            return fresh;
        }

        // Reports a failure of a call made through the server object. Returns
        // true on failure so call sites read `if (report(...)) return false;`.
        bool report(netsys_status status) {
            if (status == NETSYS_OK) {
                return false;
            }
            record(netsys::capture(status));
            return true;
        }

        void record(const netsys::failure& failure) {
            {
                std::lock_guard<std::mutex> lock(last_error_mutex_);
                last_error_ = failure;
            }
            notify_failure(nullptr, failure);
        }

        netsys::failure last_error() const {
            std::lock_guard<std::mutex> lock(last_error_mutex_);
            return last_error_;
        }

        void report_session_failure(const std::shared_ptr<session::messaging_session>& session,
                                    const netsys::failure& failure) noexcept override {
            notify_failure(session, failure);
        }

        // Attaches @p m (nullptr: detaches) as the monitor reading this
        // server's netsys counters.
        void attach_monitor(utils::performance_monitor* m) {
            const netsys_server h = handle();
            monitor.attach(m, this, [h](utils::performance_monitor::traffic& t) {
                netsys_server_stats raw{};
                raw.struct_size = sizeof raw;
                if (::netsys_server_get_stats(h, &raw) != NETSYS_OK) {
                    return false;
                }
                t.total_connections = raw.total_connections;
                t.active_connections = raw.current_connections;
                t.messages_sent = raw.messages_sent;
                t.messages_received = raw.messages_received;
                t.bytes_sent = raw.bytes_sent;
                t.bytes_received = raw.bytes_received;
                return true;
            });
        }

        // Tells batches in progress to re-read the message handlers (call
        // after setting on_message or on_receive).
        void message_handlers_changed() noexcept { handlers_version_.fetch_add(1, std::memory_order_release); }

        detail::handler_slot<void(std::shared_ptr<session::messaging_session>, const std::string&)> on_message;
        detail::handler_slot<void(session::messaging_session&, std::string_view)> on_message_view;
        detail::handler_slot<void(std::shared_ptr<session::messaging_session>)> on_connect;
        detail::handler_slot<void(std::shared_ptr<session::messaging_session>, const std::string&)> on_disconnect;
        detail::handler_slot<void(const std::string&, int)> on_error;
        detail::handler_slot<void(std::shared_ptr<session::messaging_session>)> on_connection;
        detail::handler_slot<void(const std::string&)> on_disconnection;
        detail::handler_slot<void(std::shared_ptr<session::messaging_session>, const std::vector<uint8_t>&)>
            on_receive;
        detail::handler_slot<void(std::shared_ptr<session::messaging_session>, std::error_code)> on_error_code;
        detail::handler_slot<void(const std::string&, bool)> observe_connection;
        detail::handler_slot<void(const std::string&, int)> observe_error;
        detail::monitor_hook monitor;

    private:
        netsys::failure apply(const server_config& c) {
            const netsys_server h = handle();
            const std::pair<netsys_option, int64_t> ints[] = {
                {NETSYS_OPT_PORT, c.port},
                {NETSYS_OPT_MAX_CONNECTIONS, static_cast<int64_t>(c.max_connections)},
                {NETSYS_OPT_MESSAGE_SIZE_LIMIT, static_cast<int64_t>(c.message_size_limit)},
                // 0 means "off" here, "the default" in the C ABI (-1 is off there).
                {NETSYS_OPT_IDLE_TIMEOUT_MS, c.timeout.count() == 0 ? -1 : std::chrono::duration_cast<std::chrono::milliseconds>(c.timeout).count()},
                {NETSYS_OPT_KEEP_ALIVE, c.enable_keep_alive ? 1 : 0},
                {NETSYS_OPT_NO_DELAY, c.enable_nodelay ? 1 : 0},
                {NETSYS_OPT_RECEIVE_BUFFER_SIZE, static_cast<int64_t>(c.receive_buffer_size)},
                {NETSYS_OPT_SEND_BUFFER_SIZE, static_cast<int64_t>(c.send_buffer_size)},
                {NETSYS_OPT_LOOPS, static_cast<int64_t>(c.loops)},
                {NETSYS_OPT_CALLBACK_WORKERS, static_cast<int64_t>(c.callback_workers)},
                {NETSYS_OPT_SEND_QUEUE_LIMIT, static_cast<int64_t>(c.send_queue_limit)},
                {NETSYS_OPT_HANDSHAKE_TIMEOUT_MS, c.handshake_timeout.count()},
                {NETSYS_OPT_MAX_PENDING_HANDSHAKES, static_cast<int64_t>(c.max_pending_handshakes)},
                {NETSYS_OPT_MAX_HANDSHAKES_PER_ADDRESS, static_cast<int64_t>(c.max_handshakes_per_address)},
                {NETSYS_OPT_SHUTDOWN_TIMEOUT_MS, c.shutdown_timeout.count()},
                {NETSYS_OPT_SPIN_BEFORE_WAIT_US, c.spin_before_wait.count()},
                {NETSYS_OPT_MIN_COMPRESS_SIZE, static_cast<int64_t>(c.min_compress_size)},
                {NETSYS_OPT_ACKNOWLEDGED, c.acknowledged ? 1 : 0},
                {NETSYS_OPT_ACK_BUFFER_BYTES, static_cast<int64_t>(c.ack_buffer_bytes)},
            };
            for (const auto& [option, value] : ints) {
                if (auto f = netsys::capture(::netsys_server_set_int(h, option, value))) {
                    return f;
                }
            }
            if (auto f = netsys::capture(::netsys_server_set_string(h, NETSYS_OPT_BIND_ADDRESS, c.bind_address.c_str()))) {
                return f;
            }
            if (auto f = netsys::capture(::netsys_server_set_string(h, NETSYS_OPT_COMPRESSION, c.compression.c_str()))) {
                return f;
            }
            return netsys::capture(::netsys_server_set_string(h, NETSYS_OPT_TRANSFORMS, c.transforms.c_str()));
        }

        // Drops every handler so nothing runs while the server is destroyed.
        void silence() {
            on_message.set(nullptr);
            on_message_view.set(nullptr);
            on_connect.set(nullptr);
            on_disconnect.set(nullptr);
            on_error.set(nullptr);
            on_connection.set(nullptr);
            on_disconnection.set(nullptr);
            on_receive.set(nullptr);
            on_error_code.set(nullptr);
            observe_connection.set(nullptr);
            observe_error.set(nullptr);
            monitor.detach(this);
            silenced_.store(true, std::memory_order_release);
            message_handlers_changed();
        }

        // Tells the observer (if any) that @p session connected or left.
        void notify_connection(const std::shared_ptr<session::tcp_session>& session, bool connected) noexcept {
            if (auto observer = observe_connection.get()) {
                detail::guard(
                    "a server connection observer", [&] { (*observer)(session->remote_endpoint(), connected); },
                    [](const netsys::failure&) { detail::report_unreportable("a server connection observer"); });
            }
        }

        // Calls the server's error handlers; never throws.
        void notify_failure(const std::shared_ptr<session::messaging_session>& session,
                            const netsys::failure& failure) noexcept {
            try {
                monitor.record_failure(failure.code);
            } catch (...) {
            }
            if (auto handler = on_error.get()) {
                detail::guard(
                    "the server error handler", [&] { (*handler)(failure.message, failure.code.value()); },
                    [](const netsys::failure&) { detail::report_unreportable("the server error handler"); });
            }
            if (auto callback = on_error_code.get()) {
                detail::guard(
                    "the server error callback", [&] { (*callback)(session, failure.code); },
                    [](const netsys::failure&) { detail::report_unreportable("the server error callback"); });
            }
            if (auto observer = observe_error.get()) {
                detail::guard(
                    "a server error observer", [&] { (*observer)(failure.message, failure.code.value()); },
                    [](const netsys::failure&) { detail::report_unreportable("a server error observer"); });
            }
        }

        // Runs one user handler; its exception is reported, not propagated.
        template <typename Body>
        void run_handler(const std::shared_ptr<session::messaging_session>& session, Body&& body) noexcept {
            detail::guard("a server handler", std::forward<Body>(body),
                          [&](const netsys::failure& failure) { notify_failure(session, failure); });
        }

        // C callbacks: each marks the thread as inside this server's callback
        // and never lets an exception escape (they are noexcept).

        static void c_connect(void* user_data, netsys_server server, uint64_t session_id) noexcept {
            auto* self = static_cast<server_core*>(user_data);
            detail::callback_scope scope(self);
            auto handler = self->on_connect.get();
            auto callback = self->on_connection.get();
            // Without anyone to tell, the session object is made when first
            // needed (a message, get_session, a disconnect handler): an idle
            // connection then costs nothing here, in C++ or in netsys.
            // Whichever thread needs it first, attach() makes one object.
            if (!handler && !callback && !self->observe_connection.get() && !self->wants_disconnects()) {
                return;
            }
            std::shared_ptr<session::tcp_session> session;
            detail::guard(
                "the connect callback", [&] { session = self->attach(server, session_id, true); },
                [&](const netsys::failure& f) { self->notify_failure(nullptr, f); });
            if (!session) {
                return;
            }
            self->notify_connection(session, true);
            if (handler) {
                self->run_handler(session, [&] { (*handler)(session); });
            }
            if (callback) {
                self->run_handler(session, [&] { (*callback)(session); });
            }
        }

        // Whether anything must run when a session ends (its object is then
        // made at connect, so the addresses it reports are known).
        bool wants_disconnects() const {
            return on_disconnect.get() || on_disconnection.get() || observe_connection.get();
        }

        // The server's message handlers as of one moment (see refresh()).
        struct message_handlers {
            std::shared_ptr<const std::function<void(session::messaging_session&, std::string_view)>> view;
            std::shared_ptr<const std::function<void(std::shared_ptr<session::messaging_session>, const std::string&)>>
                text;
            std::shared_ptr<
                const std::function<void(std::shared_ptr<session::messaging_session>, const std::vector<uint8_t>&)>>
                bytes;
            uint64_t version = ~uint64_t{0};
        };

        // Re-reads @p handlers if a message handler was set since they were
        // read: an atomic load per message instead of a lock per handler.
        void refresh(message_handlers& handlers) const {
            const uint64_t now = handlers_version_.load(std::memory_order_acquire);
            if (now != handlers.version) {
                handlers.version = now;
                handlers.view = on_message_view.get();
                handlers.text = on_message.get();
                handlers.bytes = on_receive.get();
            }
        }

        // Delivers messages[0..count) of one session: the session is looked
        // up once, the handlers are re-read only when a setter ran (so a
        // handler set by a handler applies from the next message on). The
        // view handler gets the session by reference and the bytes where
        // netsys holds them; the std::string and std::vector the other
        // handlers take are filled only when such a handler is set and reuse
        // their buffers across the batch, and the shared_ptr they take is
        // made once per batch. Runs inside a callback_scope.
        void deliver_messages(netsys_server server, uint64_t session_id, const netsys_message* messages,
                              size_t count) noexcept {
            // The holder is read in place, without a reference count: its
            // release comes after this session's callbacks (see holder).
            holder* held = nullptr;
            if (!holder_of(server, session_id, held)) {
                return;  // netsys no longer knows the session
            }
            std::shared_ptr<session::tcp_session> made;  // the first message of a session nobody was told about
            if (!held) {
                detail::guard(
                    "the message callback", [&] { made = lookup(server, session_id); },
                    [&](const netsys::failure& f) { notify_failure(nullptr, f); });
                if (!made) {
                    return;
                }
            }
            const std::shared_ptr<session::tcp_session>& session = held ? *held : made;
            session::messaging_session& base = *session;
            std::shared_ptr<session::messaging_session> as_base;  // for the shared_ptr handlers, made once
            message_handlers mine;
            session::tcp_session::message_handlers theirs;
            std::string text;            // capacity kept across the batch
            std::vector<uint8_t> bytes;  // likewise, for the legacy byte handlers
            // A handler that destroys the server ends the batch there, as no
            // callback follows a destroy.
            size_t i = 0;
            while (i < count && !silenced_.load(std::memory_order_acquire)) {
                refresh(mine);
                session->refresh(theirs);
                if (mine.view && !mine.text && !mine.bytes && !theirs.any()) {
                    // Only the view handler: run it over the following
                    // messages in one guarded loop, leaving it when a handler
                    // setter ran (re-read above) or the server is destroyed.
                    // An exception costs the message that threw it alone.
                    const auto& view = *mine.view;
                    try {
                        for (; i < count; ++i) {
                            if (silenced_.load(std::memory_order_acquire) ||
                                handlers_version_.load(std::memory_order_acquire) != mine.version ||
                                session->handlers_changed(theirs)) {
                                break;
                            }
                            view(base, std::string_view(messages[i].data ? reinterpret_cast<const char*>(messages[i].data) : "",
                                                        messages[i].data ? messages[i].size : 0));
                        }
                    } catch (...) {
                        ++i;  // the message whose handler threw
                        detail::guard(
                            "a server handler", [] { throw; },
                            [&](const netsys::failure& failure) { notify_failure(session, failure); });
                    }
                    continue;
                }
                deliver_one(*session, base, as_base, mine, theirs, messages[i], text, bytes);
                ++i;
            }
        }

        // Runs every message handler for one message (the general path of
        // deliver_messages).
        void deliver_one(session::tcp_session& session, session::messaging_session& base,
                         std::shared_ptr<session::messaging_session>& as_base, const message_handlers& mine,
                         const session::tcp_session::message_handlers& theirs, const netsys_message& message,
                         std::string& text, std::vector<uint8_t>& bytes) noexcept {
            static const uint8_t empty = 0;
            const uint8_t* data = message.data ? message.data : &empty;  // NULL when empty
            const size_t size = message.data ? message.size : 0;
            const auto self = [&] { return std::static_pointer_cast<session::messaging_session>(
                                        session.shared_from_this()); };
            if (const auto& view = mine.view) {
                detail::guard(
                    "a server handler",
                    [&] { (*view)(base, std::string_view(reinterpret_cast<const char*>(data), size)); },
                    [&](const netsys::failure& failure) { notify_failure(self(), failure); });
            }
            if (!mine.text && !mine.bytes && !theirs.any()) {
                return;
            }
            // Handlers are guarded one by one; this guard only sees an
            // allocation failure, which costs this message alone.
            detail::guard(
                "the message callback",
                [&] {
                    if (!as_base) {
                        as_base = self();  // once per batch
                    }
                    const bool want_text = mine.text || theirs.text;
                    if (want_text) {
                        text.assign(reinterpret_cast<const char*>(data), size);
                    }
                    if (mine.text) {
                        run_handler(as_base, [&] { (*mine.text)(as_base, text); });
                    }
                    if (mine.bytes) {
                        run_handler(as_base, [&] {
                            bytes.assign(data, data + size);
                            (*mine.bytes)(as_base, bytes);
                        });
                    }
                    session.deliver_message(theirs, data, size, want_text ? &text : nullptr, bytes);
                },
                [&](const netsys::failure& f) { notify_failure(self(), f); });
        }

        static void c_message_batch(void* user_data, netsys_server server, uint64_t session_id,
                                    const netsys_message* messages, size_t count) noexcept {
            auto* self = static_cast<server_core*>(user_data);
            detail::callback_scope scope(self);
            self->deliver_messages(server, session_id, messages, count);
        }

        static void c_message(void* user_data, netsys_server server, uint64_t session_id, const uint8_t* data,
                              size_t size) noexcept {
            auto* self = static_cast<server_core*>(user_data);
            detail::callback_scope scope(self);
            const netsys_message one{data, size};
            self->deliver_messages(server, session_id, &one, 1);
        }

        static void c_disconnect(void* user_data, netsys_server server, uint64_t session_id,
                                 const char* reason) noexcept {
            auto* self = static_cast<server_core*>(user_data);
            detail::callback_scope scope(self);
            std::shared_ptr<session::tcp_session> session;
            std::string why;
            detail::guard(
                "the disconnect callback",
                [&] {
                    why = reason ? reason : "";
                    holder* held = nullptr;  // released after this callback returns (c_release)
                    if (holder_of(server, session_id, held) && held) {
                        session = *held;
                    } else if (self->wants_disconnects()) {  // ended before anyone looked at it
                        session = std::make_shared<session::tcp_session>(self->owner(), session_id);
                    }
                },
                [&](const netsys::failure& f) { self->notify_failure(nullptr, f); });
            if (!session) {
                return;  // no object, and no handler to give one to
            }
            session->deliver_disconnect();
            self->notify_connection(session, false);
            if (auto handler = self->on_disconnect.get()) {
                self->run_handler(session, [&] { (*handler)(session, why); });
            }
            if (auto callback = self->on_disconnection.get()) {
                self->run_handler(session, [&] { (*callback)(session->session_id()); });
            }
        }

        static void c_error(void* user_data, netsys_server server, uint64_t session_id, netsys_status code,
                            const char* message) noexcept {
            auto* self = static_cast<server_core*>(user_data);
            detail::callback_scope scope(self);
            netsys::failure failure;
            std::shared_ptr<session::tcp_session> session;
            detail::guard(
                "the error callback",
                [&] {
                    failure = netsys::failure{netsys::to_error_code(code), message ? message : ""};
                    if (session_id != 0) {
                        session = self->find(server, session_id);
                    }
                },
                [](const netsys::failure&) { detail::report_unreportable("the error callback"); });
            if (session) {
                session->deliver_error(failure);
            }
            self->notify_failure(session, failure);
        }

        // The object of a session for an error report: never made here (an
        // error of a session netsys has forgotten has no object to go to).
        // Error callbacks are not promised to run on the session's own
        // thread, hence the lock (see holder).
        std::shared_ptr<session::tcp_session> find(netsys_server server, uint64_t id) {
            std::shared_lock<std::shared_mutex> lock(holders_);
            holder* held = nullptr;
            return holder_of(server, id, held) && held ? *held : nullptr;
        }

        // netsys is done with a session: its last callback has returned, or
        // the server is being destroyed. The holder goes even while the
        // server is silenced. Inside a callback scope: dropping the last
        // reference to the object may destroy handlers whose captures own
        // the messaging_server, and close_core must then not destroy the C
        // server from inside its own callback.
        static void c_release(void* user_data, netsys_server, uint64_t, void* data) noexcept {
            auto* self = static_cast<server_core*>(user_data);
            detail::callback_scope scope(self);
            try {
                std::unique_lock<std::shared_mutex> wait_for_lookups(self->holders_);
            } catch (...) {
                return;  // a holder possibly still being read is leaked, never freed under a reader
            }
            delete static_cast<holder*>(data);
        }

        // What every session object of this server shares (made on first
        // use: weak_from_this() is not available in the constructor).
        std::shared_ptr<const session::session_owner> owner() {
            std::call_once(owner_once_, [this] {
                owner_ = std::make_shared<const session::session_owner>(
                    session::session_owner{handle(), id_, weak_from_this()});
            });
            return owner_;
        }

        netsys::server_handle handle_;
        const std::string id_;
        std::once_flag owner_once_;
        std::shared_ptr<const session::session_owner> owner_;
        mutable std::mutex config_mutex_;
        server_config config_;
        std::shared_mutex holders_;  // see holder
        mutable std::mutex last_error_mutex_;
        netsys::failure last_error_;
        std::atomic<uint64_t> handlers_version_{0};  // bumped after on_message or on_receive changes
        std::atomic<bool> silenced_{false};          // silence() ran: the server is being destroyed
    };

    std::shared_ptr<server_core> core_;
};

}  // namespace network_system::core

namespace network_system {
/// The implementation guide's tests name the configuration without `core::`
/// (`server_config config;` inside namespace network_system::test).
using core::server_config;
}  // namespace network_system
