#pragma once

/// @file messaging_bridge.h
/// @brief `network_system::integration::messaging_bridge`: the design
/// guide's facade that creates servers and clients for messaging_system
/// code, aggregates their metrics and reports their events.
///
/// The bridge does no networking: it configures the objects it creates and
/// adds up the counters netsys keeps for them (netsys_*_get_stats). Its
/// metrics therefore cover exactly the servers and clients it created that
/// are still alive. Latency figures come from utils::performance_monitor,
/// which the bridge attaches to its objects while performance monitoring is
/// enabled (latencies are recorded by whoever measures them, e.g.
/// `performance_monitor::instance().record_latency(...)`).
///
/// Configuration fields that have no netsys counterpart are kept for source
/// compatibility and documented as such on bridge_config.

#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"
#include "network_system/integration/thread_integration.h"
#include "network_system/session/messaging_session.h"
#include "network_system/utils/performance_monitor.h"

#ifdef BUILD_WITH_CONTAINER_SYSTEM
#include "container_system/value_container.h"
#endif

#ifdef BUILD_WITH_THREAD_SYSTEM
#include "thread_system/thread_pool.h"
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace network_system::integration {

/// Creates and watches servers and clients on behalf of messaging_system
/// code. Thread-safe. Destroying the bridge stops it; the servers and
/// clients it created stay usable (their owners hold them).
class messaging_bridge {
public:
    /// A bridge named @p bridge_id (used in its status report).
    explicit messaging_bridge(const std::string& bridge_id = "default")
        : state_(std::make_shared<shared_state>()), bridge_id_(bridge_id) {
        state_->start_time = std::chrono::steady_clock::now();
    }

    /// Stops the bridge (its objects keep running; see stop()).
    ~messaging_bridge() { stop(); }

    messaging_bridge(const messaging_bridge&) = delete;
    messaging_bridge& operator=(const messaging_bridge&) = delete;
    messaging_bridge(messaging_bridge&&) = delete;
    messaging_bridge& operator=(messaging_bridge&&) = delete;

    // Server/Client factory

    /// Creates a stopped server with @p config, adjusted by the bridge
    /// configuration (compression), watched by the bridge. Throws
    /// netsys::error for a configuration netsys refuses.
    std::shared_ptr<core::messaging_server> create_server(const std::string& server_id,
                                                          const core::server_config& config = {}) {
        core::server_config adjusted = config;
        const bridge_config bc = get_config();
        if (bc.enable_compression && adjusted.compression.empty()) {
            adjusted.compression = "s2";
        }
#ifdef BUILD_WITH_THREAD_SYSTEM
        if (async_mode_.load() && adjusted.callback_workers == 0) {
            adjusted.callback_workers = 4;  // handlers off the I/O threads, as thread_system's pool would run them
        }
#endif
        auto server = std::make_shared<core::messaging_server>(server_id, adjusted);
        watch(*server);
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->servers.push_back(server);
        return server;
    }

    /// Creates a stopped client with @p config, adjusted by the bridge
    /// configuration (connection_timeout when config leaves it 0,
    /// compression), watched by the bridge.
    std::shared_ptr<core::messaging_client> create_client(const std::string& client_id,
                                                          const core::client_config& config = {}) {
        core::client_config adjusted = config;
        const bridge_config bc = get_config();
        if (adjusted.connect_timeout.count() == 0) {
            adjusted.connect_timeout = bc.connection_timeout;
        }
        if (bc.enable_compression && adjusted.compression.empty()) {
            adjusted.compression = "s2";
        }
        auto client = std::make_shared<core::messaging_client>(client_id, adjusted);
        watch(*client);
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->clients.push_back(client);
        return client;
    }

#ifdef BUILD_WITH_CONTAINER_SYSTEM
    /// Container System integration: the factory used for messages.
    void set_container_factory(std::shared_ptr<container_system::value_factory> factory) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        container_factory_ = std::move(factory);
    }

    /// Whether messages of bridge-created servers are parsed as containers
    /// and passed to the container message handler.
    void enable_container_serialization(bool enable = true) { container_serialization_.store(enable); }

    /// Sets the handler for messages parsed as containers.
    template <typename MessageHandler>
    void set_container_message_handler(MessageHandler&& handler) {
        static_assert(std::is_invocable_v<MessageHandler, std::shared_ptr<container_system::value_container>>,
                      "Handler must accept std::shared_ptr<container_system::value_container>");
        std::lock_guard<std::mutex> lock(state_->mutex);
        container_message_handler_ = std::forward<MessageHandler>(handler);
    }
#endif

#ifdef BUILD_WITH_THREAD_SYSTEM
    /// Thread System integration: the pool asynchronous work runs on.
    void set_thread_pool(std::shared_ptr<thread_system::thread_pool> pool) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        thread_system_pool_ = std::move(pool);
    }

    /// In async mode, servers created afterwards run their handlers on
    /// netsys worker threads instead of the I/O threads.
    void set_async_mode(bool async = true) { async_mode_.store(async); }
#endif

    /// Legacy: sets the pool of thread_integration_manager used for the
    /// bridge's asynchronous work (nullptr: the manager's default pool).
    void set_thread_pool_interface(std::shared_ptr<thread_pool_interface> pool) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        thread_pool_ = std::move(pool);
    }

    /// Legacy: the pool set by set_thread_pool_interface(), else the
    /// thread_integration_manager's pool.
    std::shared_ptr<thread_pool_interface> get_thread_pool_interface() const {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            if (thread_pool_) {
                return thread_pool_;
            }
        }
        return thread_integration_manager::instance().get_thread_pool();
    }

    // Configuration management

    /// Bridge settings (the fields of network_system's implementation guide).
    struct bridge_config {
        bool enable_performance_monitoring = true;  ///< attach utils::performance_monitor::instance() to created objects
        bool enable_message_logging = false;        ///< log connection events and errors to std::clog
        bool enable_connection_pooling = true;      ///< accepted for compatibility; netsys keeps one connection per client
        size_t max_connections_per_client = 10;     ///< accepted for compatibility (see enable_connection_pooling)
        std::chrono::milliseconds connection_timeout{30000};  ///< default connect timeout of created clients
        std::chrono::milliseconds message_timeout{5000};      ///< accepted for compatibility; sends never block in netsys
        size_t message_buffer_size = 8192;  ///< accepted for compatibility; netsys sizes its own buffers
        bool enable_compression = false;    ///< created objects negotiate "s2" compression
        /// Not built in: netsys encrypts through registered transforms
        /// (netsys_register_transform). set_config() reports an error and
        /// keeps it false.
        bool enable_encryption = false;
    };

    /// Replaces the configuration (applies to objects created afterwards).
    /// enable_encryption = true is refused with an error report.
    void set_config(const bridge_config& config) {
        bridge_config accepted = config;
        const bool refused_encryption = accepted.enable_encryption;
        accepted.enable_encryption = false;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            config_ = accepted;
        }
        state_->logging.store(accepted.enable_message_logging || state_->debug.load());
        if (refused_encryption) {
            state_->report_error(
                "enable_encryption is not built in: register a transform with netsys_register_transform() and "
                "list it in the transforms option",
                static_cast<int>(netsys::errc::unsupported));
        }
    }

    /// The configuration.
    bridge_config get_config() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return config_;
    }

    // Performance monitoring

    /// Metrics of the bridge. Counters are atomics (the guide's layout); a
    /// copy is a snapshot. messages_*, bytes_* and connections are the sums
    /// over the bridge's live servers and clients; latencies come from
    /// utils::performance_monitor::instance(). connections_active and
    /// avg_latency are the original network_system's names.
    struct performance_metrics {
        // Connection statistics
        std::atomic<uint64_t> total_connections{0};   ///< sessions accepted plus clients connected
        std::atomic<uint64_t> active_connections{0};  ///< open sessions plus connected clients
        std::atomic<uint64_t> failed_connections{0};  ///< connection failures reported by created objects

        // Message statistics
        std::atomic<uint64_t> messages_sent{0};      ///< messages sent by created objects
        std::atomic<uint64_t> messages_received{0};  ///< messages received by created objects
        std::atomic<uint64_t> bytes_sent{0};         ///< payload bytes sent
        std::atomic<uint64_t> bytes_received{0};     ///< payload bytes received

        // Performance statistics
        std::atomic<uint64_t> avg_latency_us{0};           ///< from the performance monitor
        std::atomic<uint64_t> max_latency_us{0};           ///< from the performance monitor
        std::atomic<uint64_t> min_latency_us{UINT64_MAX};  ///< from the performance monitor (UINT64_MAX: none)

        // Error statistics
        std::atomic<uint64_t> send_errors{0};     ///< failed sends
        std::atomic<uint64_t> receive_errors{0};  ///< protocol and transform failures
        std::atomic<uint64_t> timeout_errors{0};  ///< timeouts

        // Time information
        std::chrono::steady_clock::time_point start_time;   ///< bridge creation or last reset
        std::chrono::steady_clock::time_point last_update;  ///< when this snapshot was taken

        /// The original network_system's name of active_connections.
        uint64_t connections_active = 0;
        /// The original network_system's average latency, in milliseconds.
        std::chrono::milliseconds avg_latency{0};

        /// Zeroed metrics.
        performance_metrics() = default;
        /// Snapshot copy.
        performance_metrics(const performance_metrics& other) { *this = other; }
        /// Snapshot assignment.
        performance_metrics& operator=(const performance_metrics& other) {
            if (this != &other) {
                for (auto member : counters()) {
                    (this->*member).store((other.*member).load());
                }
                start_time = other.start_time;
                last_update = other.last_update;
                connections_active = other.connections_active;
                avg_latency = other.avg_latency;
            }
            return *this;
        }

    private:
        static const std::vector<std::atomic<uint64_t> performance_metrics::*>& counters() {
            static const std::vector<std::atomic<uint64_t> performance_metrics::*> list{
                &performance_metrics::total_connections, &performance_metrics::active_connections,
                &performance_metrics::failed_connections, &performance_metrics::messages_sent,
                &performance_metrics::messages_received, &performance_metrics::bytes_sent,
                &performance_metrics::bytes_received,    &performance_metrics::avg_latency_us,
                &performance_metrics::max_latency_us,    &performance_metrics::min_latency_us,
                &performance_metrics::send_errors,       &performance_metrics::receive_errors,
                &performance_metrics::timeout_errors,
            };
            return list;
        }
    };

    /// A snapshot of the metrics (see performance_metrics).
    performance_metrics get_metrics() const {
        performance_metrics m;
        const traffic_totals t = sum_traffic();
        const uint64_t total = t.total, active = t.active, sent = t.sent, received = t.received,
                       bytes_out = t.bytes_out, bytes_in = t.bytes_in;
        const uint64_t base_sent = state_->base_messages_sent.load();
        const uint64_t base_received = state_->base_messages_received.load();
        const uint64_t base_bytes_out = state_->base_bytes_sent.load();
        const uint64_t base_bytes_in = state_->base_bytes_received.load();
        const uint64_t base_total = state_->base_total_connections.load();
        auto minus = [](uint64_t value, uint64_t base) { return value > base ? value - base : 0; };
        m.total_connections = minus(total + state_->client_connects.load(), base_total);
        m.active_connections = active;
        m.failed_connections = state_->failed_connections.load();
        m.messages_sent = minus(sent, base_sent);
        m.messages_received = minus(received, base_received);
        m.bytes_sent = minus(bytes_out, base_bytes_out);
        m.bytes_received = minus(bytes_in, base_bytes_in);
        m.send_errors = state_->send_errors.load();
        m.receive_errors = state_->receive_errors.load();
        m.timeout_errors = state_->timeout_errors.load();
        if (get_config().enable_performance_monitoring) {
            const auto monitored = utils::performance_monitor::instance().get_metrics();
            m.avg_latency_us = monitored.avg_latency_us.load();
            m.max_latency_us = monitored.max_latency_us.load();
            m.min_latency_us = monitored.min_latency_us.load();
        }
        m.connections_active = active;
        m.avg_latency = std::chrono::milliseconds(m.avg_latency_us.load() / 1000);
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            m.start_time = state_->start_time;
        }
        m.last_update = std::chrono::steady_clock::now();
        return m;
    }

    /// Zeroes the metrics: later snapshots count from now.
    void reset_metrics() {
        const traffic_totals t = sum_traffic();
        const uint64_t total = t.total, sent = t.sent, received = t.received, bytes_out = t.bytes_out,
                       bytes_in = t.bytes_in;
        state_->base_total_connections.store(total + state_->client_connects.load());
        state_->base_messages_sent.store(sent);
        state_->base_messages_received.store(received);
        state_->base_bytes_sent.store(bytes_out);
        state_->base_bytes_received.store(bytes_in);
        state_->failed_connections.store(0);
        state_->send_errors.store(0);
        state_->receive_errors.store(0);
        state_->timeout_errors.store(0);
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->start_time = std::chrono::steady_clock::now();
    }

    // Event handlers

    /// Called with (peer "address:port", connected) when a session of a
    /// created server or a created client connects or disconnects.
    using connection_event_handler = std::function<void(const std::string& endpoint, bool connected)>;
    /// Called with (message, netsys::errc value) for every failure of a
    /// created object and of the bridge itself.
    using error_event_handler = std::function<void(const std::string& error_msg, int error_code)>;

    /// Sets the connection event handler (also for objects created before).
    void set_connection_event_handler(connection_event_handler handler) {
        state_->on_connection.set(std::move(handler));
    }
    /// Sets the error event handler.
    void set_error_event_handler(error_event_handler handler) { state_->on_error.set(std::move(handler)); }

    // Lifecycle management

    /// Starts reporting events (a new bridge is stopped). Idempotent.
    void start() {
        state_->running.store(true);
        initialized_.store(true);
    }

    /// Stops reporting events and metrics of new activity; the servers and
    /// clients stay as they are (their owners stop them). Idempotent.
    void stop() { state_->running.store(false); }

    /// Whether start() was called and stop() not since.
    bool is_running() const { return state_->running.load(); }

    /// Legacy: whether the bridge was ever started.
    bool is_initialized() const { return initialized_.load(); }

    // Debugging and diagnostics

    /// A human-readable summary: id, state, objects and metrics.
    std::string get_status_report() const {
        const auto m = get_metrics();
        size_t servers = 0, clients = 0;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            for (const auto& w : state_->servers) {
                servers += w.expired() ? 0 : 1;
            }
            for (const auto& w : state_->clients) {
                clients += w.expired() ? 0 : 1;
            }
        }
        std::ostringstream out;
        out << "messaging_bridge '" << bridge_id_ << "'\n"
            << "  running: " << (is_running() ? "yes" : "no") << "\n"
            << "  servers: " << servers << ", clients: " << clients << "\n"
            << "  connections: total " << m.total_connections.load() << ", active "
            << m.active_connections.load() << ", failed " << m.failed_connections.load() << "\n"
            << "  messages: sent " << m.messages_sent.load() << ", received " << m.messages_received.load()
            << "\n"
            << "  bytes: sent " << m.bytes_sent.load() << ", received " << m.bytes_received.load() << "\n"
            << "  errors: send " << m.send_errors.load() << ", receive " << m.receive_errors.load()
            << ", timeout " << m.timeout_errors.load() << "\n"
            << "  netsys: " << ::netsys_version_string() << "\n";
        return out.str();
    }

    /// Logs connection events and errors of created objects to std::clog.
    void enable_debug_logging(bool enable = true) {
        state_->debug.store(enable);
        state_->logging.store(enable || get_config().enable_message_logging);
    }

private:
    // What observers of created objects reach: it outlives the bridge if
    // they still run, because they hold it by shared_ptr.
    struct shared_state {
        mutable std::mutex mutex;
        std::vector<std::weak_ptr<core::messaging_server>> servers;
        std::vector<std::weak_ptr<core::messaging_client>> clients;
        std::chrono::steady_clock::time_point start_time;
        std::atomic<bool> running{false};
        std::atomic<bool> debug{false};
        std::atomic<bool> logging{false};
        std::atomic<uint64_t> client_connects{0};
        std::atomic<uint64_t> failed_connections{0};
        std::atomic<uint64_t> send_errors{0};
        std::atomic<uint64_t> receive_errors{0};
        std::atomic<uint64_t> timeout_errors{0};
        std::atomic<uint64_t> base_total_connections{0};
        std::atomic<uint64_t> base_messages_sent{0};
        std::atomic<uint64_t> base_messages_received{0};
        std::atomic<uint64_t> base_bytes_sent{0};
        std::atomic<uint64_t> base_bytes_received{0};
        detail::handler_slot<void(const std::string&, bool)> on_connection;
        detail::handler_slot<void(const std::string&, int)> on_error;

        void report_connection(const std::string& endpoint, bool connected) {
            if (logging.load()) {
                std::clog << "messaging_bridge: " << endpoint << (connected ? " connected" : " disconnected")
                          << std::endl;
            }
            if (!running.load()) {
                return;
            }
            if (auto handler = on_connection.get()) {
                try {
                    (*handler)(endpoint, connected);
                } catch (...) {
                    // A throwing event handler is reported like any failure.
                    report_error(detail::current_exception_text(),
                                 static_cast<int>(netsys::errc::handler_exception));
                }
            }
        }

        void report_error(const std::string& message, int code) {
            // The one classification the performance monitor uses too.
            switch (detail::classify(netsys::make_error_code(static_cast<netsys::errc>(code)))) {
                case detail::failure_kind::connection:
                    failed_connections.fetch_add(1);
                    break;
                case detail::failure_kind::timeout:
                    timeout_errors.fetch_add(1);
                    break;
                case detail::failure_kind::send:
                    send_errors.fetch_add(1);
                    break;
                case detail::failure_kind::receive:
                    receive_errors.fetch_add(1);
                    break;
                case detail::failure_kind::other:
                    break;
            }
            if (logging.load()) {
                std::clog << "messaging_bridge: error " << code << ": " << message << std::endl;
            }
            if (!running.load()) {
                return;
            }
            if (auto handler = on_error.get()) {
                (*handler)(message, code);
            }
        }
    };

    template <typename Object>
    void watch(Object& object) {
        std::weak_ptr<shared_state> weak = state_;
        constexpr bool is_client = std::is_same_v<Object, core::messaging_client>;
        object.set_event_observers(
            [weak](const std::string& endpoint, bool connected) {
                if (auto state = weak.lock()) {
                    if (is_client && connected) {
                        state->client_connects.fetch_add(1);
                    }
                    state->report_connection(endpoint, connected);
                }
            },
            [weak](const std::string& message, int code) {
                if (auto state = weak.lock()) {
                    state->report_error(message, code);
                }
            });
        if (get_config().enable_performance_monitoring) {
            object.set_performance_monitor(&utils::performance_monitor::instance());
        }
    }

    // Counters summed over the created servers and clients; metrics are
    // these minus the baseline taken by reset_metrics().
    struct traffic_totals {
        uint64_t total = 0, active = 0, sent = 0, received = 0, bytes_out = 0, bytes_in = 0;
    };

    traffic_totals sum_traffic() const {
        std::vector<std::shared_ptr<core::messaging_server>> servers;
        std::vector<std::shared_ptr<core::messaging_client>> clients;
        collect(servers, clients);
        traffic_totals t;
        for (const auto& server : servers) {
            const auto stats = server->get_statistics();
            t.total += stats.total_connections;
            t.active += stats.current_connections;
            t.sent += stats.messages_sent;
            t.received += stats.messages_received;
            t.bytes_out += stats.bytes_sent;
            t.bytes_in += stats.bytes_received;
        }
        for (const auto& client : clients) {
            const auto stats = client->get_statistics();
            if (client->is_connected()) {
                ++t.active;
            }
            t.sent += stats.messages_sent;
            t.received += stats.messages_received;
            t.bytes_out += stats.bytes_sent;
            t.bytes_in += stats.bytes_received;
        }
        return t;
    }

    void collect(std::vector<std::shared_ptr<core::messaging_server>>& servers,
                 std::vector<std::shared_ptr<core::messaging_client>>& clients) const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        auto& ws = state_->servers;
        ws.erase(std::remove_if(ws.begin(), ws.end(), [](const auto& w) { return w.expired(); }), ws.end());
        auto& wc = state_->clients;
        wc.erase(std::remove_if(wc.begin(), wc.end(), [](const auto& w) { return w.expired(); }), wc.end());
        for (const auto& w : ws) {
            if (auto s = w.lock()) {
                servers.push_back(std::move(s));
            }
        }
        for (const auto& w : wc) {
            if (auto c = w.lock()) {
                clients.push_back(std::move(c));
            }
        }
    }

    std::shared_ptr<shared_state> state_;
    const std::string bridge_id_;
    bridge_config config_;
    std::shared_ptr<thread_pool_interface> thread_pool_;
    std::atomic<bool> initialized_{false};
#ifdef BUILD_WITH_CONTAINER_SYSTEM
    std::shared_ptr<container_system::value_factory> container_factory_;
    std::atomic<bool> container_serialization_{false};
    std::function<void(std::shared_ptr<container_system::value_container>)> container_message_handler_;
#endif
#ifdef BUILD_WITH_THREAD_SYSTEM
    std::shared_ptr<thread_system::thread_pool> thread_system_pool_;
    std::atomic<bool> async_mode_{false};
#endif
};

/// The guide's compatibility API for messaging_system code (declared there
/// inside the class, which C++ does not allow; same names, namespace scope).
namespace compat {
/// Alias of the server class.
using messaging_server = core::messaging_server;
/// Alias of the client class.
using messaging_client = core::messaging_client;
/// Alias of the session class.
using messaging_session = session::messaging_session;
/// The guide's `integration::compat::network_module` alias of network_system.
namespace network_module = ::network_system;

/// Creates a stopped server named @p server_id.
inline std::shared_ptr<messaging_server> make_messaging_server(const std::string& server_id) {
    return std::make_shared<messaging_server>(server_id);
}

/// Creates a stopped client named @p client_id.
inline std::shared_ptr<messaging_client> make_messaging_client(const std::string& client_id) {
    return std::make_shared<messaging_client>(client_id);
}
}  // namespace compat

}  // namespace network_system::integration

/// Legacy spelling: `network_module::bridge::messaging_bridge`.
namespace network_module {
namespace bridge = ::network_system::integration;
}  // namespace network_module
