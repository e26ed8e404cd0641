#pragma once

/// @file messaging_client.h
/// @brief `network_system::core::messaging_client`: a netsys client with the
/// API that the tests and benchmark of network_system (kcenon/network_system)
/// use, and the original's legacy calls.
///
/// Behaviour worth knowing when porting code:
/// - start_client() does not block, as in the original: it starts
///   connecting and returns true if the attempt could start (valid host and
///   port, not already running). The outcome arrives through the connect or
///   error handlers. Messages sent before the server has welcomed the client
///   are queued (up to client_config::reconnect_queue_limit) and delivered
///   in order, so `start_client(...); send_packet(...)` works. connect()
///   is the blocking variant.
/// - Handlers run on a netsys I/O thread shared by the clients of the
///   process, in order; a handler may call anything on the client without
///   deadlock. An exception thrown by a handler is caught before it reaches
///   the C ABI and reported through the error handlers
///   (netsys::errc::handler_exception).
/// - Destroying the client stops it (queued messages are flushed) without
///   calling handlers: call stop_client() first to observe the disconnect.

#include "network_system/detail/callbacks.h"
#include "network_system/detail/monitoring.h"
#include "network_system/utils/performance_monitor.h"

#include <netsys/netsys.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace network_system::core {

/// Client configuration. A zero numeric value means the netsys default.
struct client_config {
    std::chrono::milliseconds connect_timeout{0};         ///< connect + handshake bound (0: 10 s)
    bool auto_reconnect = false;                          ///< re-dial after an unexpected disconnect
    std::chrono::milliseconds reconnect_interval{0};      ///< first retry delay, doubled per failure (0: 500 ms)
    std::chrono::milliseconds reconnect_max_interval{0};  ///< largest retry delay (0: 30 s)
    size_t reconnect_queue_limit = 0;   ///< messages queued while not connected (0: 10000)
    size_t message_size_limit = 0;      ///< largest message accepted (0: 1 MiB)
    size_t send_queue_limit = 0;        ///< outbound queue bytes (0: 8 MiB)
    bool enable_nodelay = true;         ///< TCP_NODELAY
    bool enable_keep_alive = true;      ///< SO_KEEPALIVE
    size_t receive_buffer_size = 0;     ///< SO_RCVBUF (0: kernel autotuning)
    size_t send_buffer_size = 0;        ///< SO_SNDBUF (0: kernel autotuning)
    /// Close when nothing was received this long (PINGs go out after half,
    /// so a live server never hits it). Default 30 s, as in every netsys
    /// binding; 0 disables it.
    std::chrono::milliseconds idle_timeout{30000};
    std::chrono::milliseconds shutdown_timeout{0};  ///< graceful stop bound (0: 5 s)
    size_t callback_workers = 0;        ///< 0: handlers on the I/O thread; N: on N worker threads
    std::string compression;            ///< codecs offered: "snappy", "zstd", "snappy,zstd" or ""; "s2" is a synonym of "snappy"
    size_t min_compress_size = 0;       ///< shorter messages are sent uncompressed (0: 256 bytes)
    /// Comma-separated names of transforms registered with
    /// netsys::register_transform(), requested in this order ("" : none).
    /// Each must be registered when the config is applied; a server that
    /// does not accept one of them rejects the connection.
    std::string transforms;
    /// Acknowledged delivery (the server must have it too): every message
    /// is kept until the server acknowledges it and sent again after a
    /// reconnect, so a crashed server loses nothing silently; messages
    /// given up are reported as not delivered. See NETSYS_OPT_ACKNOWLEDGED.
    bool acknowledged = false;
    size_t ack_buffer_bytes = 0;  ///< bytes kept unacknowledged; past it a send fails with errc::would_block (0: 8 MiB)
    /// Messages waiting this long without a connection are reported as not
    /// delivered (0: 30 s, -1: never).
    std::chrono::milliseconds reconnect_queue_timeout{0};
};

/// A TCP messaging client. Hold it in a std::shared_ptr. Thread-safe.
class messaging_client : public std::enable_shared_from_this<messaging_client> {
public:
    /// Called when the server has welcomed the client (also after reconnects).
    using connect_handler = std::function<void()>;
    /// Called with each message from the server.
    using message_handler = std::function<void(const std::string&)>;
    /// The zero-copy message handler (netsys extension): the message as a
    /// view of netsys's buffer, valid only during the call (copy to keep).
    using message_view_handler = std::function<void(std::string_view message)>;
    /// Called when an open connection ends, with the reason.
    using disconnect_handler = std::function<void(const std::string&)>;
    /// Called with (message, netsys::errc value) for every failure.
    using error_handler = std::function<void(const std::string&, int)>;

    /// Counters of the client.
    struct client_statistics {
        uint64_t messages_sent = 0;      ///< messages sent or queued
        uint64_t messages_received = 0;  ///< messages received
        uint64_t bytes_sent = 0;         ///< payload bytes sent
        uint64_t bytes_received = 0;     ///< payload bytes received
        uint64_t errors = 0;             ///< failed sends and error closes
        uint64_t reconnects = 0;         ///< successful reconnections
        std::chrono::steady_clock::time_point last_message_time;  ///< last message received
    };

    /// A stopped client that will announce @p client_id.
    explicit messaging_client(std::string_view client_id) : messaging_client(client_id, client_config{}) {}

    /// A stopped client with @p config. Throws netsys::error for an invalid
    /// id (over 255 bytes) or configuration.
    messaging_client(std::string_view client_id, const client_config& config)
        : core_(std::make_shared<client_core>(std::string(client_id), config)) {}

    /// Stops the client if running and releases it; no handler is called
    /// from here on. Safe from inside the client's own handlers.
    ~messaging_client() { client_core::close(std::move(core_)); }

    messaging_client(const messaging_client&) = delete;
    messaging_client& operator=(const messaging_client&) = delete;
    messaging_client(messaging_client&&) = delete;
    messaging_client& operator=(messaging_client&&) = delete;

    // Lifecycle

    /// Starts connecting to @p host (IP literal, "localhost" or a name) and
    /// @p port without blocking. False (and an error report) if the attempt
    /// cannot start.
    bool start_client(std::string_view host, unsigned short port) {
        core_->set_endpoint(host, port);
        return !core_->report(::netsys_client_connect_async(core_->handle(), std::string(host).c_str(), port));
    }

    /// Connects and waits until the server has welcomed the client (at most
    /// client_config::connect_timeout). False (and an error report) on
    /// failure: refused, server full, timeout, unresolvable host.
    bool connect(std::string_view host, unsigned short port) {
        core_->set_endpoint(host, port);
        return !core_->report(::netsys_client_connect(core_->handle(), std::string(host).c_str(), port));
    }

    /// Closes the connection gracefully (queued messages are flushed) and
    /// cancels reconnection. Idempotent. The client can be started again.
    void stop_client() { core_->report(::netsys_client_stop(core_->handle())); }

    /// Blocks until the client is stopped (by stop_client() from another
    /// thread, a failed connect, or a lost connection without
    /// auto-reconnect); at once if it is not running.
    void wait_for_stop() { core_->report(::netsys_client_wait(core_->handle(), -1)); }

    /// As wait_for_stop(), giving up after @p timeout; true if stopped.
    bool wait_for_stop(std::chrono::milliseconds timeout) {
        return ::netsys_client_wait(core_->handle(), static_cast<int>(timeout.count())) == NETSYS_OK;
    }

    // Sending (false and an error report on failure)

    /// Legacy send: the bytes of @p data (taken by value, as the original did).
    bool send_packet(std::vector<uint8_t> data) { return send_binary_message(data.data(), data.size()); }

    /// Sends a text message.
    bool send_message(std::string_view message) { return send_binary_message(message.data(), message.size()); }

    /// Sends @p size bytes at @p data.
    bool send_binary_message(const void* data, size_t size) {
        return !core_->report(::netsys_client_send(core_->handle(), static_cast<const uint8_t*>(data), size));
    }

    /// Sends, waiting up to @p timeout for room when the send queue is full.
    bool send_message(std::string_view message, std::chrono::milliseconds timeout) {
        return !core_->report(::netsys_client_send_timeout(core_->handle(),
                                                       reinterpret_cast<const uint8_t*>(message.data()),
                                                       message.size(), static_cast<int>(timeout.count())));
    }

    // Status

    /// Whether the client has an open, welcomed connection.
    bool is_connected() const {
        bool connected = false;
        return ::netsys_client_is_connected(core_->handle(), &connected) == NETSYS_OK && connected;
    }

    /// Whether the client is between start and stop.
    bool is_running() const {
        bool running = false;
        return ::netsys_client_is_running(core_->handle(), &running) == NETSYS_OK && running;
    }

    /// The id announced to the server.
    std::string client_id() const { return core_->id(); }

    /// The session id the server gave the current (or last) connection, 0 if none.
    uint64_t session_id() const {
        uint64_t id = 0;
        ::netsys_client_session_id(core_->handle(), &id);
        return id;
    }

    /// The counters.
    client_statistics get_statistics() const {
        netsys_client_stats raw{};
        raw.struct_size = sizeof raw;
        client_statistics out;
        if (::netsys_client_get_stats(core_->handle(), &raw) == NETSYS_OK) {
            out.messages_sent = raw.messages_sent;
            out.messages_received = raw.messages_received;
            out.bytes_sent = raw.bytes_sent;
            out.bytes_received = raw.bytes_received;
            out.errors = raw.errors;
            out.reconnects = raw.reconnects;
            out.last_message_time = netsys::to_steady(raw.last_message_ns);
        }
        return out;
    }

    // Configuration

    /// Replaces the configuration (only while not running: false with
    /// netsys::errc::already_running otherwise).
    bool set_config(const client_config& config) { return core_->configure(config); }

    /// The current configuration.
    client_config get_config() const { return core_->config(); }

    // Handlers of network_system's implementation guide (may be set any time,
    // also from a handler)

    /// Sets the connect handler.
    void set_connect_handler(connect_handler handler) { core_->on_connect.set(std::move(handler)); }
    /// Sets the message handler.
    void set_message_handler(message_handler handler) { core_->on_message.set(std::move(handler)); }
    /// Sets the zero-copy message handler (see message_view_handler); it
    /// runs before the other message handlers, which get the same bytes.
    void set_message_view_handler(message_view_handler handler) { core_->on_message_view.set(std::move(handler)); }
    /// Sets the disconnect handler.
    void set_disconnect_handler(disconnect_handler handler) { core_->on_disconnect.set(std::move(handler)); }
    /// Sets the error handler.
    void set_error_handler(error_handler handler) { core_->on_error.set(std::move(handler)); }

    // The original network_system's callback API (legacy code)

    /// Legacy: called with each message as raw bytes.
    void set_receive_callback(std::function<void(const std::vector<uint8_t>&)> callback) {
        core_->on_receive.set(std::move(callback));
    }
    /// Legacy: called when connected.
    void set_connected_callback(std::function<void()> callback) { core_->on_connected.set(std::move(callback)); }
    /// Legacy: called when the connection ends.
    void set_disconnected_callback(std::function<void()> callback) {
        core_->on_disconnected.set(std::move(callback));
    }
    /// Legacy: called with each failure.
    void set_error_callback(std::function<void(std::error_code)> callback) {
        core_->on_error_code.set(std::move(callback));
    }

    // netsys extensions

    /// Stops reading from the server (TCP backpressure) until resume_reading().
    void pause_reading() { core_->report(::netsys_client_pause_reading(core_->handle())); }
    /// Resumes reading.
    void resume_reading() { core_->report(::netsys_client_resume_reading(core_->handle())); }

    /// The last failure of a call made through this object (empty if none).
    netsys::failure last_error() const { return core_->last_error(); }

    /// Feeds @p monitor with this client's traffic and errors (nullptr
    /// detaches). The monitor must outlive the client.
    /// Messages and bytes are read from netsys's counters of this client
    /// when the monitor's metrics are taken; connects, disconnects and
    /// failures are counted as they happen. Detaching (or destroying the
    /// client) keeps what was counted so far in the monitor.
    void set_performance_monitor(utils::performance_monitor* monitor) {
        const netsys_client h = core_->handle();
        core_->monitor.attach(monitor, core_.get(), [h](utils::performance_monitor::traffic& t) {
            netsys_client_stats raw{};
            raw.struct_size = sizeof raw;
            if (::netsys_client_get_stats(h, &raw) != NETSYS_OK) {
                return false;
            }
            t.messages_sent = raw.messages_sent;
            t.messages_received = raw.messages_received;
            t.bytes_sent = raw.bytes_sent;
            t.bytes_received = raw.bytes_received;
            return true;
        });
    }

    /// Observes connects/disconnects as (server "host:port", connected) and
    /// failures as (message, code), independently of the handlers above
    /// (set_*_handler never replaces an observer). messaging_bridge uses it
    /// to feed its event handlers; empty functions remove the observers.
    void set_event_observers(std::function<void(const std::string&, bool)> connection_observer,
                             std::function<void(const std::string&, int)> error_observer) {
        core_->observe_connection.set(std::move(connection_observer));
        core_->observe_error.set(std::move(error_observer));
    }

    /// The C handle, for calls this class does not wrap.
    netsys_client handle() const noexcept { return core_->handle(); }

private:
    /// Everything the C callbacks reach through their user_data pointer.
    class client_core final {
    public:
        client_core(std::string id, const client_config& config) : id_(std::move(id)) {
            netsys_client raw = 0;
            netsys::check(::netsys_client_create(&raw, id_.c_str()));
            handle_ = netsys::client_handle(raw);
            netsys::check(::netsys_client_set_connect_callback(raw, &client_core::c_connect, this));
            netsys::check(::netsys_client_set_message_callback(raw, &client_core::c_message, this));
            netsys::check(::netsys_client_set_disconnect_callback(raw, &client_core::c_disconnect, this));
            netsys::check(::netsys_client_set_error_callback(raw, &client_core::c_error, this));
            if (auto f = apply(config)) {
                throw netsys::error(f);
            }
            config_ = config;
        }

        // See detail::close_core.
        static void close(std::shared_ptr<client_core> core) noexcept { detail::close_core(std::move(core)); }

        // Destroys the C object (netsys_*_destroy); close_core's primitive.
        void release_handle() noexcept { handle_.reset(); }
        template <class Core>
        friend void detail::close_core(std::shared_ptr<Core> core) noexcept;  // calls silence()

        netsys_client handle() const noexcept { return handle_.get(); }
        const std::string& id() const noexcept { return id_; }

        client_config config() const {
            std::lock_guard<std::mutex> lock(config_mutex_);
            return config_;
        }

        bool configure(const client_config& config) {
            netsys::failure failure;
            {
                std::lock_guard<std::mutex> lock(config_mutex_);
                failure = apply(config);
                if (failure) {
                    apply(config_);
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

        // Returns true on failure, after reporting it.
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
            notify_failure(failure);
        }

        netsys::failure last_error() const {
            std::lock_guard<std::mutex> lock(last_error_mutex_);
            return last_error_;
        }

        detail::handler_slot<void()> on_connect;
        detail::handler_slot<void(const std::string&)> on_message;
        detail::handler_slot<void(std::string_view)> on_message_view;
        detail::handler_slot<void(const std::string&)> on_disconnect;
        detail::handler_slot<void(const std::string&, int)> on_error;
        detail::handler_slot<void(const std::vector<uint8_t>&)> on_receive;
        detail::handler_slot<void()> on_connected;
        detail::handler_slot<void()> on_disconnected;
        detail::handler_slot<void(std::error_code)> on_error_code;
        detail::handler_slot<void(const std::string&, bool)> observe_connection;
        detail::handler_slot<void(const std::string&, int)> observe_error;
        detail::monitor_hook monitor;

        // Remembers "host:port" of the last connection attempt for observers.
        void set_endpoint(std::string_view host, unsigned short port) {
            const bool v6 = host.find(':') != std::string_view::npos;
            std::string text = v6 ? "[" + std::string(host) + "]" : std::string(host);
            text += ":" + std::to_string(port);
            std::lock_guard<std::mutex> lock(endpoint_mutex_);
            endpoint_ = std::move(text);
        }

        std::string endpoint() const {
            std::lock_guard<std::mutex> lock(endpoint_mutex_);
            return endpoint_;
        }

    private:
        netsys::failure apply(const client_config& c) {
            const netsys_client h = handle();
            const std::pair<netsys_option, int64_t> ints[] = {
                {NETSYS_OPT_CONNECT_TIMEOUT_MS, c.connect_timeout.count()},
                {NETSYS_OPT_AUTO_RECONNECT, c.auto_reconnect ? 1 : 0},
                {NETSYS_OPT_RECONNECT_INTERVAL_MS, c.reconnect_interval.count()},
                {NETSYS_OPT_RECONNECT_MAX_INTERVAL_MS, c.reconnect_max_interval.count()},
                {NETSYS_OPT_RECONNECT_QUEUE_LIMIT, static_cast<int64_t>(c.reconnect_queue_limit)},
                {NETSYS_OPT_MESSAGE_SIZE_LIMIT, static_cast<int64_t>(c.message_size_limit)},
                {NETSYS_OPT_SEND_QUEUE_LIMIT, static_cast<int64_t>(c.send_queue_limit)},
                {NETSYS_OPT_NO_DELAY, c.enable_nodelay ? 1 : 0},
                {NETSYS_OPT_KEEP_ALIVE, c.enable_keep_alive ? 1 : 0},
                {NETSYS_OPT_RECEIVE_BUFFER_SIZE, static_cast<int64_t>(c.receive_buffer_size)},
                {NETSYS_OPT_SEND_BUFFER_SIZE, static_cast<int64_t>(c.send_buffer_size)},
                // 0 means "off" here, "the default" in the C ABI (-1 is off there).
                {NETSYS_OPT_IDLE_TIMEOUT_MS, c.idle_timeout.count() == 0 ? -1 : c.idle_timeout.count()},
                {NETSYS_OPT_SHUTDOWN_TIMEOUT_MS, c.shutdown_timeout.count()},
                {NETSYS_OPT_CALLBACK_WORKERS, static_cast<int64_t>(c.callback_workers)},
                {NETSYS_OPT_MIN_COMPRESS_SIZE, static_cast<int64_t>(c.min_compress_size)},
                {NETSYS_OPT_ACKNOWLEDGED, c.acknowledged ? 1 : 0},
                {NETSYS_OPT_ACK_BUFFER_BYTES, static_cast<int64_t>(c.ack_buffer_bytes)},
                {NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS, c.reconnect_queue_timeout.count()},
            };
            for (const auto& [option, value] : ints) {
                if (auto f = netsys::capture(::netsys_client_set_int(h, option, value))) {
                    return f;
                }
            }
            if (auto f = netsys::capture(::netsys_client_set_string(h, NETSYS_OPT_COMPRESSION, c.compression.c_str()))) {
                return f;
            }
            return netsys::capture(::netsys_client_set_string(h, NETSYS_OPT_TRANSFORMS, c.transforms.c_str()));
        }

        void silence() {
            on_connect.set(nullptr);
            on_message.set(nullptr);
            on_message_view.set(nullptr);
            on_disconnect.set(nullptr);
            on_error.set(nullptr);
            on_receive.set(nullptr);
            on_connected.set(nullptr);
            on_disconnected.set(nullptr);
            on_error_code.set(nullptr);
            observe_connection.set(nullptr);
            observe_error.set(nullptr);
            monitor.detach(this);
        }

        void notify_connection(bool connected) noexcept {
            if (auto observer = observe_connection.get()) {
                detail::guard(
                    "a client connection observer", [&] { (*observer)(endpoint(), connected); },
                    [](const netsys::failure&) { detail::report_unreportable("a client connection observer"); });
            }
        }

        void notify_failure(const netsys::failure& failure) noexcept {
            try {
                monitor.record_failure(failure.code);
            } catch (...) {
            }
            if (auto handler = on_error.get()) {
                detail::guard(
                    "the client error handler", [&] { (*handler)(failure.message, failure.code.value()); },
                    [](const netsys::failure&) { detail::report_unreportable("the client error handler"); });
            }
            if (auto callback = on_error_code.get()) {
                detail::guard(
                    "the client error callback", [&] { (*callback)(failure.code); },
                    [](const netsys::failure&) { detail::report_unreportable("the client error callback"); });
            }
            if (auto observer = observe_error.get()) {
                detail::guard(
                    "a client error observer", [&] { (*observer)(failure.message, failure.code.value()); },
                    [](const netsys::failure&) { detail::report_unreportable("a client error observer"); });
            }
        }

        template <typename Body>
        void run_handler(Body&& body) noexcept {
            detail::guard("a client handler", std::forward<Body>(body),
                          [this](const netsys::failure& failure) { notify_failure(failure); });
        }

        static void c_connect(void* user_data, netsys_client) noexcept {
            auto* self = static_cast<client_core*>(user_data);
            detail::callback_scope scope(self);
            if (auto* m = self->monitor.get()) {
                m->record_connection(true);
            }
            self->notify_connection(true);
            if (auto handler = self->on_connect.get()) {
                self->run_handler([&] { (*handler)(); });
            }
            if (auto callback = self->on_connected.get()) {
                self->run_handler([&] { (*callback)(); });
            }
        }

        static void c_message(void* user_data, netsys_client, const uint8_t* data, size_t size) noexcept {
            auto* self = static_cast<client_core*>(user_data);
            detail::callback_scope scope(self);
            if (data == nullptr) {
                static const uint8_t empty = 0;
                data = &empty;
                size = 0;
            }
            if (auto view = self->on_message_view.get()) {
                self->run_handler([&] { (*view)(std::string_view(reinterpret_cast<const char*>(data), size)); });
            }
            if (auto handler = self->on_message.get()) {
                self->run_handler([&] { (*handler)(std::string(reinterpret_cast<const char*>(data), size)); });
            }
            if (auto callback = self->on_receive.get()) {
                self->run_handler([&] { (*callback)(std::vector<uint8_t>(data, data + size)); });
            }
        }

        static void c_disconnect(void* user_data, netsys_client, const char* reason) noexcept {
            auto* self = static_cast<client_core*>(user_data);
            detail::callback_scope scope(self);
            if (auto* m = self->monitor.get()) {
                m->record_disconnection();
            }
            self->notify_connection(false);
            if (auto handler = self->on_disconnect.get()) {
                self->run_handler([&] { (*handler)(std::string(reason ? reason : "")); });
            }
            if (auto callback = self->on_disconnected.get()) {
                self->run_handler([&] { (*callback)(); });
            }
        }

        static void c_error(void* user_data, netsys_client, netsys_status code, const char* message) noexcept {
            auto* self = static_cast<client_core*>(user_data);
            detail::callback_scope scope(self);
            netsys::failure failure;
            detail::guard(
                "the client error callback",
                [&] { failure = netsys::failure{netsys::to_error_code(code), message ? message : ""}; },
                [](const netsys::failure&) { detail::report_unreportable("the client error callback"); });
            self->notify_failure(failure);
        }

        netsys::client_handle handle_;
        const std::string id_;
        mutable std::mutex config_mutex_;
        client_config config_;
        mutable std::mutex last_error_mutex_;
        netsys::failure last_error_;
        mutable std::mutex endpoint_mutex_;
        std::string endpoint_;
    };

    std::shared_ptr<client_core> core_;
};

}  // namespace network_system::core

namespace network_system {
/// The client configuration, also reachable without `core::` (see server_config).
using core::client_config;
}  // namespace network_system
