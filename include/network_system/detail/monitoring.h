#pragma once

/// @file monitoring.h
/// @brief Internal: how network_system's classes report to an attached
/// utils::performance_monitor, and the one mapping from netsys error codes
/// to the error kinds the monitor and messaging_bridge count. Not part of
/// the public API.

#include "network_system/utils/performance_monitor.h"

#include <netsys/netsys.hpp>

#include <atomic>
#include <mutex>
#include <system_error>
#include <utility>

namespace network_system::detail {

/// What a failure counts as in the monitor's and the bridge's error figures.
enum class failure_kind {
    connection,  ///< a connection could not be made or was refused
    timeout,     ///< an operation timed out
    send,        ///< a message could not be queued or delivered
    receive,     ///< what arrived was refused (protocol, transform)
    other        ///< anything else (counted by its message)
};

/// The kind of @p code (other for codes outside the netsys category).
inline failure_kind classify(const std::error_code& code) noexcept {
    if (code.category() != netsys::category()) {
        return failure_kind::other;
    }
    switch (static_cast<netsys::errc>(code.value())) {
        case netsys::errc::connect:
        case netsys::errc::resolve:
        case netsys::errc::server_full:
        case netsys::errc::rejected:
            return failure_kind::connection;
        case netsys::errc::timeout:
            return failure_kind::timeout;
        case netsys::errc::would_block:
        case netsys::errc::too_large:
        case netsys::errc::not_connected:
        case netsys::errc::not_delivered:
        case netsys::errc::closed:
            return failure_kind::send;
        case netsys::errc::protocol:
        case netsys::errc::transform:
            return failure_kind::receive;
        default:
            return failure_kind::other;
    }
}

/// An optional performance monitor of one server or client. Attaching
/// registers the object's netsys counters as a source of the monitor (read
/// when metrics are taken); nothing is recorded per message.
class monitor_hook {
public:
    /// Attaches @p monitor (nullptr detaches) for the object @p key, whose
    /// counters @p read returns. The monitor must outlive the object.
    void attach(utils::performance_monitor* monitor, const void* key,
                utils::performance_monitor::traffic_reader read) {
        std::lock_guard<std::mutex> lock(mutex_);
        utils::performance_monitor* previous = monitor_.exchange(monitor);
        if (previous != nullptr && previous != monitor) {
            previous->detach_source(key);
        }
        if (monitor != nullptr) {
            monitor->attach_source(key, std::move(read));
        }
    }

    /// Detaches the monitor, if any (the object is going away).
    void detach(const void* key) { attach(nullptr, key, nullptr); }

    /// The attached monitor, or nullptr.
    utils::performance_monitor* get() const noexcept { return monitor_.load(std::memory_order_relaxed); }

    /// Counts @p code under the monitor's error kinds.
    void record_failure(const std::error_code& code) const {
        auto* monitor = get();
        if (monitor == nullptr || code.category() != netsys::category()) {
            return;
        }
        switch (classify(code)) {
            case failure_kind::connection:
                monitor->record_connection(false);
                monitor->record_error("connection");
                break;
            case failure_kind::timeout:
                monitor->record_error("timeout");
                break;
            case failure_kind::send:
                monitor->record_error("send");
                break;
            case failure_kind::receive:
                monitor->record_error("receive");
                break;
            case failure_kind::other:
                monitor->record_error(code.message());
                break;
        }
    }

private:
    std::mutex mutex_;  // serializes attach/detach
    std::atomic<utils::performance_monitor*> monitor_{nullptr};
};

}  // namespace network_system::detail
