#pragma once

/// @file network.h
/// @brief The original README's "Quick API": `network::tcp_server`,
/// `network::tcp_client` and the exception types `network::connection_error`,
/// `network::timeout_error`, `network::protocol_error`.
///
/// A thin layer over core::messaging_server / core::messaging_client (which
/// are thin layers over netsys.h). Failures of start(), connect() and send()
/// are thrown as the exception types below; failures that happen later (a
/// lost connection, a peer's protocol error) go to on_error handlers.
///
/// The README included these as "network/server/tcp_server.hpp" and
/// "network/client/tcp_client.hpp": those paths exist under
/// <prefix>/include/network_system, so add that directory to the include
/// path as well to build README-style code unchanged.

#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"
#include "network_system/session/messaging_session.h"
#include "network_system/utils/performance_monitor.h"

#include <netsys/netsys.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace network {

/// Base of the quick API's exceptions: a netsys error code and its message.
class network_error : public std::system_error {
public:
    /// An error with @p code and the detailed @p message.
    network_error(std::error_code code, const std::string& message) : std::system_error(code, message) {}
};

/// Connecting or listening failed: refused, unreachable, unresolvable,
/// server full, address in use, not connected.
class connection_error : public network_error {
public:
    using network_error::network_error;
};

/// An operation did not finish in time.
class timeout_error : public network_error {
public:
    using network_error::network_error;
};

/// The peer violated the wire protocol, refused the handshake, or a codec failed.
class protocol_error : public network_error {
public:
    using network_error::network_error;
};

/// A server-side connection as handed to tcp_server handlers.
using connection = std::shared_ptr<network_system::session::messaging_session>;

namespace detail {

/// The exception type for a netsys failure.
inline std::exception_ptr make_exception(const netsys::failure& failure) {
    using netsys::errc;
    switch (static_cast<errc>(failure.code.value())) {
        case errc::timeout:
            return std::make_exception_ptr(timeout_error(failure.code, failure.message));
        case errc::protocol:
        case errc::rejected:
        case errc::transform:
            return std::make_exception_ptr(protocol_error(failure.code, failure.message));
        case errc::connect:
        case errc::resolve:
        case errc::bind:
        case errc::bad_address:
        case errc::server_full:
        case errc::not_connected:
        case errc::not_running:
        case errc::closed:
            return std::make_exception_ptr(connection_error(failure.code, failure.message));
        default:
            return std::make_exception_ptr(network_error(failure.code, failure.message));
    }
}

/// Throws the exception type for @p failure (nothing if it is empty).
inline void throw_failure(const netsys::failure& failure) {
    if (failure) {
        std::rethrow_exception(make_exception(failure));
    }
}

/// Calls @p handler with the exception object for @p failure.
template <typename Handler>
void call_error_handler(const Handler& handler, const netsys::failure& failure) {
    try {
        throw_failure(failure);
    } catch (const network_error& e) {
        handler(e);
    }
}

}  // namespace detail

/// Statistics of the quick API's server.
struct server_statistics {
    uint64_t active_connections = 0;     ///< open connections
    uint64_t total_connections = 0;      ///< connections accepted
    uint64_t messages_sent = 0;          ///< messages sent
    uint64_t messages_received = 0;      ///< messages received
    double messages_per_second = 0;      ///< sent+received per second since start
    double bytes_per_second = 0;         ///< sent+received bytes per second since start
    /// Mean latency recorded in utils::performance_monitor::instance(), ms
    /// (netsys does not time application round trips by itself).
    double average_latency = 0;
};

/// The README's TCP server. Thread-safe; destroying it stops it.
class tcp_server {
public:
    /// A stopped server for @p port (0: ephemeral, read port() after start()).
    explicit tcp_server(unsigned short port = 0)
        : server_(std::make_shared<network_system::core::messaging_server>("tcp_server", config_for(port))) {}

    /// Number of I/O threads (netsys event loops; 0: one per CPU).
    void set_thread_count(size_t count) { update([&](auto& c) { c.loops = count; }); }
    /// Connections beyond this are refused "server full".
    void set_max_connections(size_t count) { update([&](auto& c) { c.max_connections = count; }); }
    /// SO_KEEPALIVE on accepted connections.
    void set_keep_alive(bool enable) { update([&](auto& c) { c.enable_keep_alive = enable; }); }
    /// Address to listen on ("0.0.0.0", "::", "127.0.0.1", ...).
    void set_bind_address(const std::string& address) { update([&](auto& c) { c.bind_address = address; }); }

    /// Called with each new connection.
    void on_connect(std::function<void(connection)> handler) {
        server_->set_connect_handler(std::move(handler));
    }

    /// Called with (connection, data) for each message. @p handler takes
    /// the data as `const std::string&` (also for generic lambdas) or as
    /// `const std::vector<uint8_t>&`.
    template <typename Handler>
    void on_message(Handler handler) {
        if constexpr (std::is_invocable_v<Handler&, connection, const std::string&>) {
            server_->set_message_handler(
                [h = std::move(handler)](connection conn, const std::string& data) mutable { h(conn, data); });
        } else {
            static_assert(std::is_invocable_v<Handler&, connection, const std::vector<uint8_t>&>,
                          "on_message handler must accept (connection, const std::string&) or "
                          "(connection, const std::vector<uint8_t>&)");
            server_->set_receive_callback([h = std::move(handler)](connection conn,
                                                                   const std::vector<uint8_t>& data) mutable {
                h(conn, data);
            });
        }
    }

    /// Called when a connection ends.
    void on_disconnect(std::function<void(connection)> handler) {
        if (!handler) {
            server_->set_disconnect_handler(nullptr);
            return;
        }
        server_->set_disconnect_handler(
            [h = std::move(handler)](connection conn, const std::string&) { h(conn); });
    }

    /// Called with a network_error (or subclass) for each failure,
    /// including exceptions thrown by the other handlers.
    void on_error(std::function<void(const network_error&)> handler) {
        if (!handler) {
            server_->set_error_handler(nullptr);
            return;
        }
        server_->set_error_handler([h = std::move(handler)](const std::string& message, int code) {
            detail::call_error_handler(h, netsys::failure{std::error_code(code, netsys::category()), message});
        });
    }

    /// Starts listening without blocking. Throws connection_error (e.g.
    /// address in use) on failure; starting a running server is a no-op.
    void start() {
        if (server_->is_running()) {
            return;
        }
        if (!server_->start_server()) {
            detail::throw_failure(server_->last_error());
        }
        started_ = std::chrono::steady_clock::now();
    }

    /// Starts if needed, then blocks until stop() is called (from another
    /// thread or a handler).
    void run() {
        start();
        server_->wait_for_stop();
    }

    /// Graceful shutdown: open connections are flushed and closed. Idempotent.
    void stop() { server_->stop_server(); }

    /// Whether the server is listening.
    bool is_running() const { return server_->is_running(); }

    /// The bound port (the ephemeral one after start() with port 0).
    unsigned short port() const { return server_->port(); }

    /// Sends @p data to every connection; returns how many queued it.
    size_t broadcast(const std::string& data) { return server_->broadcast_message(data); }

    /// The statistics (rates are averages since start()).
    server_statistics get_statistics() const {
        const auto raw = server_->get_statistics();
        server_statistics out;
        out.active_connections = raw.current_connections;
        out.total_connections = raw.total_connections;
        out.messages_sent = raw.messages_sent;
        out.messages_received = raw.messages_received;
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        if (server_->is_running() && seconds > 0) {
            out.messages_per_second = static_cast<double>(raw.messages_sent + raw.messages_received) / seconds;
            out.bytes_per_second = static_cast<double>(raw.bytes_sent + raw.bytes_received) / seconds;
        }
        const auto monitored = network_system::utils::performance_monitor::instance().get_metrics();
        out.average_latency = static_cast<double>(monitored.avg_latency_us.load()) / 1000.0;
        return out;
    }

    /// The underlying messaging_server (full API).
    network_system::core::messaging_server& messaging_server() { return *server_; }

private:
    static network_system::core::server_config config_for(unsigned short port) {
        network_system::core::server_config config;
        config.port = port;
        return config;
    }

    template <typename Change>
    void update(Change&& change) {
        auto config = server_->get_config();
        change(config);
        if (!server_->set_config(config)) {
            detail::throw_failure(server_->last_error());
        }
    }

    std::shared_ptr<network_system::core::messaging_server> server_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

/// The README's TCP client. Thread-safe; destroying it disconnects.
class tcp_client {
public:
    /// A client for @p host and @p port (nothing is dialed until connect()).
    tcp_client(std::string host, unsigned short port)
        : host_(std::move(host)),
          port_(port),
          client_(std::make_shared<network_system::core::messaging_client>("tcp_client")) {}

    /// Re-dial after an unexpected disconnect, first after @p interval
    /// (doubling per failed attempt up to 30 s, with jitter).
    void set_reconnect_interval(std::chrono::milliseconds interval) {
        update([&](auto& c) {
            c.auto_reconnect = interval.count() > 0;
            c.reconnect_interval = interval;
        });
    }

    /// Bound on connect() including the handshake.
    void set_timeout(std::chrono::milliseconds timeout) {
        update([&](auto& c) { c.connect_timeout = timeout; });
    }

    /// Called when connected (also after each reconnect).
    void on_connect(std::function<void()> handler) { client_->set_connect_handler(std::move(handler)); }

    /// Called with each message: `const std::string&` (also for generic
    /// lambdas) or `const std::vector<uint8_t>&`.
    template <typename Handler>
    void on_message(Handler handler) {
        if constexpr (std::is_invocable_v<Handler&, const std::string&>) {
            client_->set_message_handler([h = std::move(handler)](const std::string& data) mutable { h(data); });
        } else {
            static_assert(std::is_invocable_v<Handler&, const std::vector<uint8_t>&>,
                          "on_message handler must accept const std::string& or const std::vector<uint8_t>&");
            client_->set_receive_callback(
                [h = std::move(handler)](const std::vector<uint8_t>& data) mutable { h(data); });
        }
    }

    /// Called when the connection ends.
    void on_disconnect(std::function<void()> handler) { client_->set_disconnected_callback(std::move(handler)); }

    /// Called with a network_error (or subclass) for each failure that is
    /// not thrown by a call (lost connection, undelivered messages, handler
    /// exceptions, failed reconnects).
    void on_error(std::function<void(const network_error&)> handler) {
        if (!handler) {
            client_->set_error_handler(nullptr);
            return;
        }
        client_->set_error_handler([h = std::move(handler)](const std::string& message, int code) {
            detail::call_error_handler(h, netsys::failure{std::error_code(code, netsys::category()), message});
        });
    }

    /// Connects and returns once the server has welcomed the client.
    /// Throws connection_error, timeout_error or protocol_error.
    void connect() {
        if (!client_->connect(host_, port_)) {
            detail::throw_failure(client_->last_error());
        }
    }

    /// Starts connecting in the background; failures go to on_error.
    /// Messages sent meanwhile are queued and delivered once connected.
    void connect_async() {
        if (!client_->start_client(host_, port_)) {
            detail::throw_failure(client_->last_error());
        }
    }

    /// Sends a text message; throws on failure (connection_error when not
    /// connected, network_error for backpressure or an oversize message).
    void send(const std::string& message) {
        if (!client_->send_message(message)) {
            detail::throw_failure(client_->last_error());
        }
    }

    /// Sends a C string (without its NUL).
    void send(const char* message) { send(std::string(message)); }

    /// Sends binary data.
    void send(const std::vector<uint8_t>& data) {
        if (!client_->send_binary_message(data.data(), data.size())) {
            detail::throw_failure(client_->last_error());
        }
    }

    /// Closes the connection gracefully (queued messages are flushed). Idempotent.
    void disconnect() { client_->stop_client(); }

    /// Whether the client has an open, welcomed connection.
    bool is_connected() const { return client_->is_connected(); }

    /// The underlying messaging_client (full API).
    network_system::core::messaging_client& messaging_client() { return *client_; }

private:
    template <typename Change>
    void update(Change&& change) {
        auto config = client_->get_config();
        change(config);
        if (!client_->set_config(config)) {
            detail::throw_failure(client_->last_error());
        }
    }

    std::string host_;
    unsigned short port_;
    std::shared_ptr<network_system::core::messaging_client> client_;
};

}  // namespace network
