#pragma once

/// @file messaging_session.h
/// @brief The server side of one client connection: the abstract
/// `messaging_session` of network_system (kcenon/network_system) and its
/// netsys implementation `tcp_session`.
///
/// A session object names the pair (server handle, session id) of the C
/// ABI; every query and operation is one netsys_session_* call. Servers hand
/// out `std::shared_ptr<messaging_session>`; the same object is passed to
/// every handler of that session, so it can be stored and compared.

#include "network_system/detail/callbacks.h"

#include <netsys/netsys.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace network_system::session {

/// Lifecycle state of a session (same order and meaning as netsys's).
enum class session_state {
    connecting,     ///< accepted, handshake not finished
    connected,      ///< open for messages
    disconnecting,  ///< closing gracefully, queued data being flushed
    disconnected,   ///< closed normally
    error           ///< closed because of an error
};

/// Name of a state ("connected", ...).
inline const char* to_string(session_state state) noexcept {
    switch (state) {
        case session_state::connecting:
            return "connecting";
        case session_state::connected:
            return "connected";
        case session_state::disconnecting:
            return "disconnecting";
        case session_state::disconnected:
            return "disconnected";
        case session_state::error:
            return "error";
    }
    return "unknown";
}

/// The server's side of one client connection (abstract, as in the design
/// guide). Obtain sessions from messaging_server handlers or queries.
///
/// Threading: every method may be called from any thread, including from
/// any handler. Handlers set on a session run on the thread that runs the
/// server's handlers for that session (an I/O thread of the server by
/// default), after the server's own handler, one at a time and in order.
/// Failures of calls made by the host (send, disconnect, ...) are reported
/// to the error handlers on the calling thread, before the call returns.
class messaging_session : public std::enable_shared_from_this<messaging_session> {
public:
    /// Destroys the session object (the connection is not affected).
    virtual ~messaging_session() = default;

    // Message send/receive

    /// Queues @p message for the client; failures go to the error handlers.
    virtual void send_message(const std::string& message) = 0;
    /// Queues @p data for the client; failures go to the error handlers.
    virtual void send_raw_data(const std::vector<uint8_t>& data) = 0;
    /// Queues @p size bytes at @p data for the client.
    virtual void send_binary_message(const void* data, size_t size) = 0;

    // Session information

    /// The server-assigned session id, in decimal.
    virtual std::string session_id() const = 0;
    /// The id the client announced in its handshake.
    virtual std::string client_id() const = 0;
    /// The client's IP address (without brackets for IPv6).
    virtual std::string remote_address() const = 0;
    /// The client's port.
    virtual unsigned short remote_port() const = 0;
    /// The server's IP address of this connection.
    virtual std::string local_address() const = 0;
    /// The server's port of this connection.
    virtual unsigned short local_port() const = 0;

    // Connection state

    /// The current state (the final one once the session has ended).
    virtual session_state state() const = 0;
    /// Whether the session is open for messages.
    virtual bool is_connected() const = 0;
    /// When the connection was accepted.
    virtual std::chrono::steady_clock::time_point connect_time() const = 0;
    /// When a message was last received (or the connect time).
    virtual std::chrono::steady_clock::time_point last_activity() const = 0;

    // Session management

    /// Closes the session gracefully with a default reason.
    virtual void disconnect() = 0;
    /// Closes the session gracefully; the client receives @p reason.
    virtual void disconnect(const std::string& reason) = 0;

    // Session data (key-value store)

    /// Stores @p value under @p key.
    virtual void set_session_data(const std::string& key, const std::string& value) = 0;
    /// The value under @p key, or "" if absent.
    virtual std::string get_session_data(const std::string& key) const = 0;
    /// Whether @p key is present.
    virtual bool has_session_data(const std::string& key) const = 0;
    /// Removes @p key.
    virtual void remove_session_data(const std::string& key) = 0;
    /// Removes every key.
    virtual void clear_session_data() = 0;

    // Session groups

    /// Adds the session to @p group_id (created on first use).
    virtual void join_group(const std::string& group_id) = 0;
    /// Removes the session from @p group_id.
    virtual void leave_group(const std::string& group_id) = 0;
    /// The session's groups, sorted.
    virtual std::vector<std::string> get_groups() const = 0;
    /// Whether the session belongs to @p group_id.
    virtual bool is_in_group(const std::string& group_id) const = 0;

    // Statistics

    /// Per-session counters.
    struct session_statistics {
        uint64_t messages_sent = 0;      ///< messages queued to the client
        uint64_t messages_received = 0;  ///< messages received from it
        uint64_t bytes_sent = 0;         ///< payload bytes sent
        uint64_t bytes_received = 0;     ///< payload bytes received
        uint64_t errors_count = 0;       ///< failed sends and error closes
        std::chrono::steady_clock::time_point last_message_time;  ///< last message received
    };

    /// The counters (all zero once the session has ended).
    virtual session_statistics get_statistics() const = 0;
    /// Zeroes the counters.
    virtual void reset_statistics() = 0;

    // Event handlers

    /// Called with each message the client sends.
    using message_handler = std::function<void(const std::string&)>;
    /// Called with (old, new) on each state change.
    using state_change_handler = std::function<void(session_state, session_state)>;
    /// Called with (message, netsys::errc value) on each failure.
    using error_handler = std::function<void(const std::string&, int)>;

    /// Sets the message handler (empty function removes it).
    virtual void set_message_handler(message_handler handler) = 0;
    /// Sets the state change handler.
    virtual void set_state_change_handler(state_change_handler handler) = 0;
    /// Sets the error handler.
    virtual void set_error_handler(error_handler handler) = 0;

    // The original network_system's session API (legacy code)

    /// Whether the session has ended or is closing.
    virtual bool is_stopped() const noexcept = 0;
    /// Id of the server the session belongs to.
    virtual const std::string& server_id() const = 0;
    /// Legacy message callback with the raw bytes.
    virtual void set_receive_callback(std::function<void(const std::vector<uint8_t>&)> callback) = 0;
    /// Legacy callback called once when the session ends, with its session id.
    virtual void set_disconnection_callback(std::function<void(const std::string&)> callback) = 0;
    /// Legacy error callback.
    virtual void set_error_callback(std::function<void(std::error_code)> callback) = 0;

    /// Legacy send: queues @p data (taken by value, as the original did).
    void send_packet(std::vector<uint8_t> data) { send_raw_data(data); }
    /// Legacy name of disconnect().
    void stop_session() { disconnect(); }

    // The README's quick API (network::tcp_server connections)

    /// Queues a text message.
    void send(const std::string& message) { send_message(message); }
    /// Queues a binary message.
    void send(const std::vector<uint8_t>& data) { send_raw_data(data); }
    /// "address:port" of the client ("[address]:port" for IPv6).
    std::string remote_endpoint() const {
        const std::string address = remote_address();
        const bool v6 = address.find(':') != std::string::npos;
        return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(remote_port());
    }

protected:
    messaging_session() = default;
};

/// Receives failures of a server's sessions (implemented by messaging_server).
class session_failure_sink {
public:
    /// Destroys the sink.
    virtual ~session_failure_sink() = default;
    /// Reports @p failure of @p session; must not throw.
    virtual void report_session_failure(const std::shared_ptr<messaging_session>& session,
                                        const netsys::failure& failure) noexcept = 0;
};

/// What every session of one server shares: the C handle, the server's id
/// and where failures go. One per server rather than a copy per session,
/// which keeps an idle session small.
struct session_owner {
    netsys_server server = 0;                   ///< the C server handle (0: no connection)
    std::string server_id;                      ///< the id server_id() returns
    std::weak_ptr<session_failure_sink> sink;   ///< the server's error reporting (may be empty)
};

/// messaging_session over the netsys C ABI: a (server handle, session id)
/// pair plus the session's handlers.
///
/// Memory: an open session without session-level handlers holds a pointer
/// to its server's shared session_owner, its id, three state bytes and what
/// must stay readable after it ends (client id and addresses in one string,
/// ports, connect time). Handlers and the last error live in a block
/// allocated the first time one is set, because most sessions never get one.
class tcp_session final : public messaging_session {
public:
    /// A session with id @p id of the server described by @p owner.
    tcp_session(std::shared_ptr<const session_owner> owner, uint64_t id) : owner_(std::move(owner)), id_(id) {}

    /// A session of @p server (handle) with id @p id. @p sink receives
    /// failures for the server's error handlers (may be empty).
    tcp_session(netsys_server server, uint64_t id, std::string server_id,
                std::weak_ptr<session_failure_sink> sink)
        : tcp_session(std::make_shared<const session_owner>(session_owner{server, std::move(server_id), std::move(sink)}),
                      id) {}

    /// A session bound to no connection (create_tcp_session()): every
    /// operation fails with netsys::errc::invalid_handle through the error
    /// handlers.
    tcp_session(std::string session_id, std::string client_id)
        : owner_(std::make_shared<const session_owner>()) {
        // client id, two empty addresses, then the given id (which may hold
        // any byte: it is the last field).
        names_ = std::move(client_id);
        names_.append(2, '\0');
        names_ += '\0';
        names_ += session_id;
        final_state_.store(session_state::disconnected);
    }

    /// Frees the handler block.
    ~tcp_session() override { delete extras_.load(std::memory_order_acquire); }

    tcp_session(const tcp_session&) = delete;
    tcp_session& operator=(const tcp_session&) = delete;

    // messaging_session

    void send_message(const std::string& message) override {
        send_bytes(message.data(), message.size());
    }
    void send_raw_data(const std::vector<uint8_t>& data) override {
        send_bytes(data.data(), data.size());
    }
    void send_binary_message(const void* data, size_t size) override { send_bytes(data, size); }

    std::string session_id() const override {
        if (id_ == 0) {
            return std::string(name(3, true));
        }
        return std::to_string(id_);
    }
    std::string client_id() const override { return std::string(name(0)); }
    std::string remote_address() const override { return std::string(name(1)); }
    unsigned short remote_port() const override { return remote_port_; }
    std::string local_address() const override { return std::string(name(2)); }
    unsigned short local_port() const override { return local_port_; }

    session_state state() const override {
        if (auto ended = final_state_.load(); ended != session_state::connecting) {
            return ended;
        }
        netsys_session_state state = NETSYS_SESSION_DISCONNECTED;
        if (::netsys_session_get_state(server(), id_, &state) != NETSYS_OK) {
            return session_state::disconnected;  // ended between our check and the call
        }
        return static_cast<session_state>(state);
    }

    bool is_connected() const override { return state() == session_state::connected; }

    std::chrono::steady_clock::time_point connect_time() const override {
        return connect_time_;
    }

    std::chrono::steady_clock::time_point last_activity() const override {
        netsys_session_stats stats{};
        stats.struct_size = sizeof stats;
        if (::netsys_session_get_stats(server(), id_, &stats) == NETSYS_OK) {
            return netsys::to_steady(stats.last_activity_ns);
        }
        return connect_time();
    }

    void disconnect() override { disconnect_with(nullptr); }
    void disconnect(const std::string& reason) override { disconnect_with(reason.c_str()); }

    void set_session_data(const std::string& key, const std::string& value) override {
        report(::netsys_session_data_set(server(), id_, key.c_str(), value.c_str()));
    }
    std::string get_session_data(const std::string& key) const override {
        std::string value;
        netsys::fetch_string(
            [&](char* buf, size_t capacity, size_t* needed) {
                return ::netsys_session_data_get(server(), id_, key.c_str(), buf, capacity, needed);
            },
            value);
        return value;  // "" when absent, as the guide's string return implies
    }
    bool has_session_data(const std::string& key) const override {
        bool present = false;
        return ::netsys_session_data_has(server(), id_, key.c_str(), &present) == NETSYS_OK && present;
    }
    void remove_session_data(const std::string& key) override {
        report(::netsys_session_data_remove(server(), id_, key.c_str()));
    }
    void clear_session_data() override { report(::netsys_session_data_clear(server(), id_)); }

    void join_group(const std::string& group_id) override {
        report(::netsys_session_join_group(server(), id_, group_id.c_str()));
    }
    void leave_group(const std::string& group_id) override {
        report(::netsys_session_leave_group(server(), id_, group_id.c_str()));
    }
    std::vector<std::string> get_groups() const override {
        std::vector<std::string> groups;
        netsys::fetch_string_list(
            [&](char* buf, size_t capacity, size_t* needed, size_t* count) {
                return ::netsys_session_groups(server(), id_, buf, capacity, needed, count);
            },
            groups);
        return groups;
    }
    bool is_in_group(const std::string& group_id) const override {
        bool member = false;
        return ::netsys_session_in_group(server(), id_, group_id.c_str(), &member) == NETSYS_OK && member;
    }

    session_statistics get_statistics() const override {
        netsys_session_stats stats{};
        stats.struct_size = sizeof stats;
        session_statistics out;
        if (::netsys_session_get_stats(server(), id_, &stats) == NETSYS_OK) {
            out.messages_sent = stats.messages_sent;
            out.messages_received = stats.messages_received;
            out.bytes_sent = stats.bytes_sent;
            out.bytes_received = stats.bytes_received;
            out.errors_count = stats.errors;
            out.last_message_time = netsys::to_steady(stats.last_message_ns);
        }
        return out;
    }
    void reset_statistics() override { report(::netsys_session_reset_stats(server(), id_)); }

    void set_message_handler(message_handler handler) override {
        handlers().on_message.set(std::move(handler));
        message_handlers_changed();
    }
    void set_state_change_handler(state_change_handler handler) override {
        handlers().on_state_change.set(std::move(handler));
    }
    void set_error_handler(error_handler handler) override { handlers().on_error.set(std::move(handler)); }

    bool is_stopped() const noexcept override {
        try {
            const auto current = state();
            return current != session_state::connected && current != session_state::connecting;
        } catch (...) {
            return true;
        }
    }
    const std::string& server_id() const override { return owner_->server_id; }
    void set_receive_callback(std::function<void(const std::vector<uint8_t>&)> callback) override {
        handlers().on_receive.set(std::move(callback));
        message_handlers_changed();
    }
    void set_disconnection_callback(std::function<void(const std::string&)> callback) override {
        handlers().on_disconnection.set(std::move(callback));
    }
    void set_error_callback(std::function<void(std::error_code)> callback) override {
        handlers().on_error_code.set(std::move(callback));
    }

    // netsys specifics

    /// The numeric session id.
    uint64_t id() const noexcept { return id_; }
    /// The C server handle the session belongs to (0 for a detached session).
    netsys_server server_handle() const noexcept { return server(); }

    /// Queues @p size bytes; returns the failure (also reported to the
    /// error handlers), empty on success.
    std::error_code send_bytes(const void* data, size_t size) {
        return report(::netsys_session_send(server(), id_, static_cast<const uint8_t*>(data), size));
    }

    /// As send_bytes(), waiting up to @p timeout for room in a full queue.
    std::error_code send_bytes(const void* data, size_t size, std::chrono::milliseconds timeout) {
        return report(::netsys_session_send_timeout(server(), id_, static_cast<const uint8_t*>(data), size,
                                                    static_cast<int>(timeout.count())));
    }

    /// Stops reading from the client (TCP backpressure) until resume_reading().
    void pause_reading() { report(::netsys_session_pause_reading(server(), id_)); }
    /// Resumes reading.
    void resume_reading() { report(::netsys_session_resume_reading(server(), id_)); }

    /// Every key of the session data, sorted.
    std::vector<std::string> session_data_keys() const {
        std::vector<std::string> keys;
        netsys::fetch_string_list(
            [&](char* buf, size_t capacity, size_t* needed, size_t* count) {
                return ::netsys_session_data_keys(server(), id_, buf, capacity, needed, count);
            },
            keys);
        return keys;
    }

    /// The last failure of a call made on this session object (empty if none).
    netsys::failure last_error() const {
        const extras* x = extras_.load(std::memory_order_acquire);
        if (x == nullptr) {
            return {};
        }
        std::lock_guard<std::mutex> lock(x->last_error_mutex);
        return x->last_error;
    }

    /// @name Delivery from messaging_server (not for applications)
    /// Called on the thread running the server's callbacks for this session.
    /// @{

    /// Caches what stays readable after the session ends (client id,
    /// addresses, connect time); called once, before the object is published.
    void on_connected() {
        std::string names;
        fetch_info(::netsys_session_client_id, names);
        names.resize(std::strlen(names.c_str()));  // a C string: no NUL inside
        auto add_address = [&](auto fetch, unsigned short& port) {
            std::string address;
            endpoint e;
            if (!fetch_info(fetch, address)) {
                e = split_endpoint(address);
            }
            names += '\0';
            names.append(e.address.c_str());
            port = e.port;
        };
        add_address(::netsys_session_remote_address, remote_port_);
        add_address(::netsys_session_local_address, local_port_);
        names.shrink_to_fit();
        names_ = std::move(names);
        netsys_session_stats stats{};
        stats.struct_size = sizeof stats;
        if (::netsys_session_get_stats(server(), id_, &stats) == NETSYS_OK) {
            connect_time_ = netsys::to_steady(stats.connect_time_ns);
        } else {
            connect_time_ = std::chrono::steady_clock::now();
        }
        last_known_.store(session_state::connected);
    }

    /// The session's message handlers as of one moment: the server takes
    /// them once per batch of messages and refresh() re-reads them only
    /// when a setter ran since (an atomic load per message instead of a
    /// lock per handler per message).
    struct message_handlers {
        std::shared_ptr<const std::function<void(const std::string&)>> text;     ///< set_message_handler
        std::shared_ptr<const std::function<void(const std::vector<uint8_t>&)>> bytes;  ///< set_receive_callback
        uint64_t version = 0;  ///< handler block version they were read at (0: never)
        /// Whether either handler is set.
        bool any() const noexcept { return text || bytes; }
    };

    /// Re-reads @p handlers if a message handler was set since they were
    /// read. Without session handlers this is one atomic load.
    void refresh(message_handlers& handlers) const {
        const extras* x = extras_.load(std::memory_order_acquire);
        if (x == nullptr) {
            return;  // never set: nothing to read
        }
        const uint64_t now = x->version.load(std::memory_order_acquire);
        if (now != handlers.version) {
            handlers.version = now;
            handlers.text = x->on_message.get();
            handlers.bytes = x->on_receive.get();
        }
    }

    /// Whether a message handler was set since @p handlers were read.
    bool handlers_changed(const message_handlers& handlers) const noexcept {
        const extras* x = extras_.load(std::memory_order_acquire);
        return x != nullptr && x->version.load(std::memory_order_acquire) != handlers.version;
    }

    /// Runs the session's own message handlers (an exception from one is
    /// reported and does not stop the next). @p text, when not null, holds
    /// the message already; @p scratch is reusable storage for the legacy
    /// byte handler (its capacity is kept across messages).
    void deliver_message(const message_handlers& handlers, const uint8_t* data, size_t size, const std::string* text,
                         std::vector<uint8_t>& scratch) {
        if (const auto& handler = handlers.text) {
            run_handler([&] {
                if (text) {
                    (*handler)(*text);
                } else {
                    (*handler)(std::string(reinterpret_cast<const char*>(data), size));
                }
            });
        }
        if (const auto& callback = handlers.bytes) {
            run_handler([&] {
                scratch.assign(data, data + size);
                (*callback)(scratch);
            });
        }
    }

    /// Runs the session's own error handlers for a failure netsys reported.
    void deliver_error(const netsys::failure& failure) {
        error_seen_.store(true);
        notify_error_handlers(failure);
    }

    /// Records the end of the session and runs its handlers. The legacy
    /// disconnection callback receives the session id, as the original's did.
    void deliver_disconnect() {
        session_state final_state =
            error_seen_.load() ? session_state::error : session_state::disconnected;
        netsys_session_state reported = NETSYS_SESSION_DISCONNECTED;
        if (::netsys_session_get_state(server(), id_, &reported) == NETSYS_OK &&
            (reported == NETSYS_SESSION_DISCONNECTED || reported == NETSYS_SESSION_ERROR)) {
            final_state = static_cast<session_state>(reported);  // netsys still knows: trust it
        }
        final_state_.store(final_state);
        const session_state previous = last_known_.exchange(final_state);
        const extras* x = extras_.load(std::memory_order_acquire);
        if (x == nullptr) {
            return;  // no session handlers were ever set
        }
        if (auto handler = x->on_state_change.get()) {
            run_handler([&] { (*handler)(previous, final_state); });
        }
        if (auto callback = x->on_disconnection.get()) {
            run_handler([&] { (*callback)(session_id()); });
        }
    }

    /// Whether any session-level handler is set (lets the server skip work).
    bool has_message_handlers() const {
        const extras* x = extras_.load(std::memory_order_acquire);
        return x != nullptr && (x->on_message.get() || x->on_receive.get());
    }
    /// @}

private:
    struct endpoint {
        std::string address;
        unsigned short port = 0;
    };

    // The session's handlers and last error, allocated on first use.
    struct extras {
        detail::handler_slot<void(const std::string&)> on_message;
        detail::handler_slot<void(session_state, session_state)> on_state_change;
        detail::handler_slot<void(const std::string&, int)> on_error;
        detail::handler_slot<void(const std::vector<uint8_t>&)> on_receive;
        detail::handler_slot<void(const std::string&)> on_disconnection;
        detail::handler_slot<void(std::error_code)> on_error_code;
        std::atomic<uint64_t> version{1};  // bumped after on_message or on_receive changes
        mutable std::mutex last_error_mutex;
        netsys::failure last_error;
    };

    netsys_server server() const noexcept { return owner_->server; }

    // Field @p index of names_ (fields end with a NUL; @p last: the rest of
    // the string, NULs included). Empty when absent.
    std::string_view name(size_t index, bool last = false) const noexcept {
        std::string_view rest(names_);
        for (size_t i = 0; i < index; ++i) {
            const auto end = rest.find('\0');
            if (end == std::string_view::npos) {
                return {};
            }
            rest.remove_prefix(end + 1);
        }
        return last ? rest : rest.substr(0, rest.find('\0'));
    }

    // The handler block, created by the first caller that needs it (two
    // racing creators agree on one through the compare-exchange).
    extras& handlers() const {
        extras* x = extras_.load(std::memory_order_acquire);
        if (x != nullptr) {
            return *x;
        }
        auto fresh = std::make_unique<extras>();
        if (extras_.compare_exchange_strong(x, fresh.get(), std::memory_order_acq_rel, std::memory_order_acquire)) {
            return *fresh.release();
        }
        return *x;  // another thread installed one first
    }

    // "ip:port" or "[ip]:port" as netsys formats addresses.
    static endpoint split_endpoint(const std::string& text) {
        endpoint out;
        const auto colon = text.rfind(':');
        if (colon == std::string::npos) {
            out.address = text;
            return out;
        }
        out.address = text.substr(0, colon);
        if (out.address.size() >= 2 && out.address.front() == '[' && out.address.back() == ']') {
            out.address = out.address.substr(1, out.address.size() - 2);
        }
        try {
            out.port = static_cast<unsigned short>(std::stoul(text.substr(colon + 1)));
        } catch (...) {
            out.port = 0;
        }
        return out;
    }

    template <typename Fn>
    netsys::failure fetch_info(Fn fn, std::string& out) {
        return netsys::fetch_string(
            [&](char* buf, size_t capacity, size_t* needed) { return fn(server(), id_, buf, capacity, needed); },
            out);
    }

    // The state change to `disconnecting` is announced before netsys is
    // asked to close: the disconnect callback may run on an I/O thread as
    // soon as the call is made, and its `disconnected` change must come
    // second. If the call fails the session was already ending, and its
    // disconnect callback reports the final state.
    void disconnect_with(const char* reason) {
        auto expected = session_state::connected;
        if (last_known_.compare_exchange_strong(expected, session_state::disconnecting)) {
            if (const extras* x = extras_.load(std::memory_order_acquire)) {
                if (auto handler = x->on_state_change.get()) {
                    run_handler([&] { (*handler)(session_state::connected, session_state::disconnecting); });
                }
            }
        }
        report(::netsys_session_disconnect(server(), id_, reason));
    }

    // Records a failed call and reports it to the session's and the server's
    // error handlers; returns the error code (empty on success).
    std::error_code report(netsys_status status) {
        if (status == NETSYS_OK) {
            return {};
        }
        netsys::failure failure = netsys::capture(status);
        {
            extras& x = handlers();
            std::lock_guard<std::mutex> lock(x.last_error_mutex);
            x.last_error = failure;
        }
        report_failure(failure);
        return failure.code;
    }

    // Reports to the session's error handlers, then to the server's.
    void report_failure(const netsys::failure& failure) noexcept {
        notify_error_handlers(failure);
        if (auto sink = owner_->sink.lock()) {
            sink->report_session_failure(weak_from_this().lock(), failure);
        }
    }

    void notify_error_handlers(const netsys::failure& failure) noexcept {
        const extras* x = extras_.load(std::memory_order_acquire);
        if (x == nullptr) {
            return;
        }
        if (auto handler = x->on_error.get()) {
            detail::guard(
                "a session error handler", [&] { (*handler)(failure.message, failure.code.value()); },
                [](const netsys::failure&) { detail::report_unreportable("a session error handler"); });
        }
        if (auto callback = x->on_error_code.get()) {
            detail::guard(
                "a session error callback", [&] { (*callback)(failure.code); },
                [](const netsys::failure&) { detail::report_unreportable("a session error callback"); });
        }
    }

    // Tells batches in progress to re-read the message handlers (refresh).
    void message_handlers_changed() noexcept { handlers().version.fetch_add(1, std::memory_order_release); }

    // Runs one handler; an exception it throws becomes a handler_exception
    // failure reported like any other, and never reaches the C ABI.
    template <typename Body>
    void run_handler(Body&& body) noexcept {
        detail::guard("a session handler", std::forward<Body>(body),
                      [this](const netsys::failure& failure) { report_failure(failure); });
    }

    const std::shared_ptr<const session_owner> owner_;
    const uint64_t id_ = 0;
    // What stays readable after the session ended, written once before the
    // object is published (on_connected) and read-only after: the client
    // id, the remote and the local address in one string, each ended by a
    // NUL (one allocation, or none when short), their ports, the connect time.
    std::string names_;
    std::chrono::steady_clock::time_point connect_time_;
    unsigned short remote_port_ = 0;
    unsigned short local_port_ = 0;
    mutable std::atomic<extras*> extras_{nullptr};
    std::atomic<session_state> last_known_{session_state::connecting};
    // connecting = "still live: ask netsys"; anything else = ended with that state.
    std::atomic<session_state> final_state_{session_state::connecting};
    std::atomic<bool> error_seen_{false};
};

/// Creates a session bound to no connection, with the given ids (the
/// factory of network_system's implementation guide). Useful as a placeholder and in tests: its sends
/// and other operations fail with netsys::errc::invalid_handle through its
/// error handlers, and its state is `disconnected`.
inline std::shared_ptr<messaging_session> create_tcp_session(const std::string& session_id,
                                                            const std::string& client_id) {
    return std::make_shared<tcp_session>(session_id, client_id);
}

}  // namespace network_system::session
