#pragma once

/// @file monitoring.h
/// @brief Internal: how network_system's classes feed an attached
/// utils::performance_monitor. Not part of the public API.

#include "network_system/utils/performance_monitor.h"

#include <netsys/netsys.hpp>

#include <atomic>
#include <system_error>

namespace network_system::detail {

/// An optional performance monitor; reads are one relaxed atomic load so
/// unmonitored objects pay nothing else on the message path.
class monitor_hook {
public:
    /// Attaches @p monitor (nullptr detaches). It must outlive the object.
    void attach(utils::performance_monitor* monitor) noexcept { monitor_.store(monitor); }

    /// The attached monitor, or nullptr.
    utils::performance_monitor* get() const noexcept { return monitor_.load(std::memory_order_relaxed); }

    /// Counts @p code under the monitor's error kinds.
    void record_failure(const std::error_code& code) const {
        auto* monitor = get();
        if (monitor == nullptr || code.category() != netsys::category()) {
            return;
        }
        switch (static_cast<netsys::errc>(code.value())) {
            case netsys::errc::connect:
            case netsys::errc::resolve:
            case netsys::errc::server_full:
            case netsys::errc::rejected:
                monitor->record_connection(false);
                monitor->record_error("connection");
                break;
            case netsys::errc::timeout:
                monitor->record_error("timeout");
                break;
            case netsys::errc::would_block:
            case netsys::errc::too_large:
            case netsys::errc::not_connected:
            case netsys::errc::not_delivered:
            case netsys::errc::closed:
                monitor->record_error("send");
                break;
            case netsys::errc::protocol:
            case netsys::errc::transform:
                monitor->record_error("receive");
                break;
            default:
                monitor->record_error(code.message());
                break;
        }
    }

private:
    std::atomic<utils::performance_monitor*> monitor_{nullptr};
};

}  // namespace network_system::detail
