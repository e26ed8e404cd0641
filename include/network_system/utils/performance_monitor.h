#pragma once

/// @file performance_monitor.h
/// @brief Process-wide performance counters: connections, messages, bytes,
/// latency (average, min, max, p95, p99), errors and memory.
///
/// The monitor adds two things: what it is told through the record_* calls,
/// and the counters netsys itself keeps for the servers and clients attached
/// to it (messaging_server / messaging_client `set_performance_monitor`, or
/// a messaging_bridge with performance monitoring on). Messages and bytes of
/// attached objects are read from netsys when metrics are taken
/// (netsys_server_get_stats / netsys_client_get_stats), so the message path
/// never touches the monitor and the numbers are netsys's own, not a second
/// count kept beside them. Connection failures and error kinds arrive with
/// the error reports; applications feed latency themselves, since only they
/// know when a request and its answer belong together.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace network_system::utils {

/// Singleton collecting network performance metrics.
///
/// Thread safety: every method may be called from any thread; the record_*
/// calls are lock-free except record_latency and record_error.
class performance_monitor {
public:
    /// The metrics. Counters are atomics so code can read them with .load()
    /// (the guide's style) or by implicit conversion; a copy is a snapshot.
    struct metrics {
        // Connection metrics
        std::atomic<uint64_t> total_connections{0};       ///< successful connections
        std::atomic<uint64_t> active_connections{0};      ///< connections open now
        std::atomic<uint64_t> failed_connections{0};      ///< failed connection attempts
        std::atomic<uint64_t> connections_per_second{0};  ///< rate at the last update_realtime_stats

        // Message metrics
        std::atomic<uint64_t> messages_sent{0};         ///< messages sent
        std::atomic<uint64_t> messages_received{0};     ///< messages received
        std::atomic<uint64_t> messages_per_second{0};   ///< sent+received rate at the last update
        std::atomic<uint64_t> bytes_sent{0};            ///< payload bytes sent
        std::atomic<uint64_t> bytes_received{0};        ///< payload bytes received
        std::atomic<uint64_t> bytes_per_second{0};      ///< sent+received byte rate at the last update

        // Latency metrics (microseconds)
        std::atomic<uint64_t> avg_latency_us{0};         ///< mean of all recorded latencies
        std::atomic<uint64_t> min_latency_us{UINT64_MAX};  ///< smallest (UINT64_MAX if none)
        std::atomic<uint64_t> max_latency_us{0};         ///< largest
        std::atomic<uint64_t> p95_latency_us{0};         ///< 95th percentile of recent samples
        std::atomic<uint64_t> p99_latency_us{0};         ///< 99th percentile of recent samples

        // Error metrics
        std::atomic<uint64_t> send_errors{0};        ///< record_error("send")
        std::atomic<uint64_t> receive_errors{0};     ///< record_error("receive")
        std::atomic<uint64_t> timeout_errors{0};     ///< record_error("timeout")
        std::atomic<uint64_t> connection_errors{0};  ///< record_error("connection")

        // Memory metrics
        std::atomic<uint64_t> memory_usage_bytes{0};  ///< last record_memory_usage
        std::atomic<uint64_t> buffer_pool_size{0};    ///< reserved for buffer pools (netsys pools inside the core)
        std::atomic<uint64_t> peak_memory_usage{0};   ///< largest record_memory_usage

        // Time information
        std::chrono::steady_clock::time_point start_time;   ///< creation or last reset
        std::chrono::steady_clock::time_point last_update;  ///< last update_realtime_stats

        /// Zeroed metrics.
        metrics() = default;

        /// Snapshot copy (each counter is read atomically, not the set).
        metrics(const metrics& other) { *this = other; }

        /// Snapshot assignment.
        metrics& operator=(const metrics& other) {
            if (this != &other) {
                for (auto member : counters()) {
                    (this->*member).store((other.*member).load(std::memory_order_relaxed),
                                          std::memory_order_relaxed);
                }
                start_time = other.start_time;
                last_update = other.last_update;
            }
            return *this;
        }

        /// Time since start_time.
        std::chrono::milliseconds uptime() const {
            return std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start_time);
        }

        /// Every counter, for copying, resetting and printing.
        static const std::vector<std::pair<const char*, std::atomic<uint64_t> metrics::*>>&
        named_counters() {
            static const std::vector<std::pair<const char*, std::atomic<uint64_t> metrics::*>> list{
                {"total_connections", &metrics::total_connections},
                {"active_connections", &metrics::active_connections},
                {"failed_connections", &metrics::failed_connections},
                {"connections_per_second", &metrics::connections_per_second},
                {"messages_sent", &metrics::messages_sent},
                {"messages_received", &metrics::messages_received},
                {"messages_per_second", &metrics::messages_per_second},
                {"bytes_sent", &metrics::bytes_sent},
                {"bytes_received", &metrics::bytes_received},
                {"bytes_per_second", &metrics::bytes_per_second},
                {"avg_latency_us", &metrics::avg_latency_us},
                {"min_latency_us", &metrics::min_latency_us},
                {"max_latency_us", &metrics::max_latency_us},
                {"p95_latency_us", &metrics::p95_latency_us},
                {"p99_latency_us", &metrics::p99_latency_us},
                {"send_errors", &metrics::send_errors},
                {"receive_errors", &metrics::receive_errors},
                {"timeout_errors", &metrics::timeout_errors},
                {"connection_errors", &metrics::connection_errors},
                {"memory_usage_bytes", &metrics::memory_usage_bytes},
                {"buffer_pool_size", &metrics::buffer_pool_size},
                {"peak_memory_usage", &metrics::peak_memory_usage},
            };
            return list;
        }

    private:
        static std::vector<std::atomic<uint64_t> metrics::*> counters() {
            std::vector<std::atomic<uint64_t> metrics::*> out;
            for (const auto& entry : named_counters()) {
                out.push_back(entry.second);
            }
            return out;
        }
    };

    /// Number of recent latency samples kept for the percentiles.
    static constexpr std::size_t latency_window = 10000;

    /// The process-wide monitor.
    static performance_monitor& instance() {
        static performance_monitor monitor;
        return monitor;
    }

    /// Counts a connection attempt: a success opens a connection, a failure
    /// counts as failed_connections.
    void record_connection(bool success) {
        if (success) {
            data_.total_connections.fetch_add(1, std::memory_order_relaxed);
            data_.active_connections.fetch_add(1, std::memory_order_relaxed);
        } else {
            data_.failed_connections.fetch_add(1, std::memory_order_relaxed);
        }
    }

    /// Counts a connection closing (active_connections never goes below 0).
    void record_disconnection() {
        uint64_t active = data_.active_connections.load(std::memory_order_relaxed);
        while (active > 0 && !data_.active_connections.compare_exchange_weak(
                                 active, active - 1, std::memory_order_relaxed)) {
        }
    }

    /// Counts one message of @p bytes sent.
    void record_message_sent(std::size_t bytes) {
        data_.messages_sent.fetch_add(1, std::memory_order_relaxed);
        data_.bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
    }

    /// Counts one message of @p bytes received.
    void record_message_received(std::size_t bytes) {
        data_.messages_received.fetch_add(1, std::memory_order_relaxed);
        data_.bytes_received.fetch_add(bytes, std::memory_order_relaxed);
    }

    /// Records one latency sample (avg/min/max at once, p95/p99 at the next
    /// get_metrics or update_realtime_stats).
    void record_latency(std::chrono::microseconds latency) {
        const auto us = static_cast<uint64_t>(std::max<int64_t>(0, latency.count()));
        std::lock_guard<std::mutex> lock(latency_mutex_);
        ++latency_count_;
        latency_sum_ += us;
        if (samples_.size() < latency_window) {
            samples_.push_back(us);
        } else {
            samples_[next_sample_] = us;
        }
        next_sample_ = (next_sample_ + 1) % latency_window;
        data_.avg_latency_us.store(latency_sum_ / latency_count_, std::memory_order_relaxed);
        if (us < data_.min_latency_us.load(std::memory_order_relaxed)) {
            data_.min_latency_us.store(us, std::memory_order_relaxed);
        }
        if (us > data_.max_latency_us.load(std::memory_order_relaxed)) {
            data_.max_latency_us.store(us, std::memory_order_relaxed);
        }
    }

    /// Counts an error. "send", "receive", "timeout" and "connection" have
    /// their own counters; every type is also counted in error_counts().
    void record_error(const std::string& error_type) {
        if (error_type == "send") {
            data_.send_errors.fetch_add(1, std::memory_order_relaxed);
        } else if (error_type == "receive") {
            data_.receive_errors.fetch_add(1, std::memory_order_relaxed);
        } else if (error_type == "timeout") {
            data_.timeout_errors.fetch_add(1, std::memory_order_relaxed);
        } else if (error_type == "connection") {
            data_.connection_errors.fetch_add(1, std::memory_order_relaxed);
        }
        std::lock_guard<std::mutex> lock(errors_mutex_);
        ++error_counts_[error_type];
    }

    /// Records the current memory use (and the peak).
    void record_memory_usage(std::size_t bytes) {
        data_.memory_usage_bytes.store(bytes, std::memory_order_relaxed);
        uint64_t peak = data_.peak_memory_usage.load(std::memory_order_relaxed);
        while (bytes > peak && !data_.peak_memory_usage.compare_exchange_weak(
                                   peak, bytes, std::memory_order_relaxed)) {
        }
    }

    /// Counters netsys keeps for one attached object, read on demand.
    struct traffic {
        uint64_t total_connections = 0;  ///< connections accepted or made so far
        uint64_t active_connections = 0; ///< open now
        uint64_t messages_sent = 0;      ///< messages queued
        uint64_t messages_received = 0;  ///< messages received
        uint64_t bytes_sent = 0;         ///< payload bytes queued
        uint64_t bytes_received = 0;     ///< payload bytes received
    };
    /// Reads an attached object's counters; false if it cannot (then it
    /// adds nothing to this reading).
    using traffic_reader = std::function<bool(traffic&)>;

    /// Adds the counters @p read returns to every later reading, under
    /// @p key (the attaching object; attaching a key again replaces its
    /// reader). What the object counted before it was attached is not
    /// included. Called by messaging_server and messaging_client.
    void attach_source(const void* key, traffic_reader read) {
        traffic now;
        const bool ok = read && read(now);
        std::lock_guard<std::mutex> lock(sources_mutex_);
        for (auto& source : sources_) {
            if (source.key == key) {
                source.read = std::move(read);
                source.base = ok ? now : traffic{};
                return;
            }
        }
        sources_.push_back(source_entry{key, std::move(read), ok ? now : traffic{}});
    }

    /// Stops reading the object attached under @p key. Its traffic since it
    /// was attached stays counted (folded into the monitor's own counters),
    /// as if it had been recorded call by call; its open connections no
    /// longer count as active. Returns once no reading of it is in progress.
    void detach_source(const void* key) {
        std::lock_guard<std::mutex> lock(sources_mutex_);
        for (auto it = sources_.begin(); it != sources_.end(); ++it) {
            if (it->key != key) {
                continue;
            }
            traffic now;
            if (it->read && it->read(now)) {
                const traffic delta = minus(now, it->base);
                data_.total_connections.fetch_add(delta.total_connections, std::memory_order_relaxed);
                data_.messages_sent.fetch_add(delta.messages_sent, std::memory_order_relaxed);
                data_.messages_received.fetch_add(delta.messages_received, std::memory_order_relaxed);
                data_.bytes_sent.fetch_add(delta.bytes_sent, std::memory_order_relaxed);
                data_.bytes_received.fetch_add(delta.bytes_received, std::memory_order_relaxed);
            }
            sources_.erase(it);
            return;
        }
    }

    /// A snapshot with up-to-date percentiles.
    metrics get_metrics() const {
        refresh_percentiles();
        metrics out = data_;
        add_sources(out);
        return out;
    }

    /// Errors counted per type, including types without their own counter.
    std::map<std::string, uint64_t> error_counts() const {
        std::lock_guard<std::mutex> lock(errors_mutex_);
        return {error_counts_.begin(), error_counts_.end()};
    }

    /// Zeroes everything and restarts the clock.
    void reset_metrics() {
        std::lock_guard<std::mutex> rates(rates_mutex_);
        std::lock_guard<std::mutex> latency(latency_mutex_);
        std::lock_guard<std::mutex> errors(errors_mutex_);
        data_ = metrics{};
        data_.start_time = data_.last_update = std::chrono::steady_clock::now();
        samples_.clear();
        next_sample_ = 0;
        latency_count_ = latency_sum_ = 0;
        error_counts_.clear();
        previous_ = rate_base{};
        std::lock_guard<std::mutex> sources(sources_mutex_);
        for (auto& source : sources_) {
            traffic now;
            source.base = source.read && source.read(now) ? now : traffic{};
        }
    }

    /// Computes the per-second rates over the time since the previous call
    /// (or since the start) and refreshes the percentiles.
    void update_realtime_stats() {
        std::lock_guard<std::mutex> lock(rates_mutex_);
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - data_.last_update).count();
        metrics totals = data_;
        add_sources(totals);
        const rate_base current{totals.total_connections.load(),
                                totals.messages_sent.load() + totals.messages_received.load(),
                                totals.bytes_sent.load() + totals.bytes_received.load()};
        if (seconds > 0) {
            auto rate = [seconds](uint64_t now_value, uint64_t before) {
                return static_cast<uint64_t>(
                    static_cast<double>(now_value >= before ? now_value - before : 0) / seconds);
            };
            data_.connections_per_second.store(rate(current.connections, previous_.connections));
            data_.messages_per_second.store(rate(current.messages, previous_.messages));
            data_.bytes_per_second.store(rate(current.bytes, previous_.bytes));
        }
        previous_ = current;
        data_.last_update = now;
        refresh_percentiles();
    }

    /// The metrics as a JSON object (counters, uptime_ms, error_counts).
    std::string to_json() const {
        const metrics m = get_metrics();
        std::ostringstream out;
        out << '{';
        for (const auto& entry : metrics::named_counters()) {
            uint64_t value = (m.*entry.second).load();
            if (entry.second == &metrics::min_latency_us && value == UINT64_MAX) {
                value = 0;  // no samples yet: JSON readers expect a sane number
            }
            out << '"' << entry.first << "\":" << value << ',';
        }
        out << "\"uptime_ms\":" << m.uptime().count() << ",\"error_counts\":{";
        bool first = true;
        for (const auto& entry : error_counts()) {
            out << (first ? "" : ",") << '"' << json_escape(entry.first) << "\":" << entry.second;
            first = false;
        }
        out << "}}";
        return out.str();
    }

    /// A human-readable multi-line report.
    std::string generate_report() const {
        const metrics m = get_metrics();
        const auto min_latency = m.min_latency_us.load() == UINT64_MAX ? 0 : m.min_latency_us.load();
        std::ostringstream out;
        out << "=== Network Performance Report ===\n"
            << "Uptime: " << m.uptime().count() << " ms\n"
            << "Connections: total " << m.total_connections << ", active " << m.active_connections
            << ", failed " << m.failed_connections << ", " << m.connections_per_second << "/s\n"
            << "Messages: sent " << m.messages_sent << ", received " << m.messages_received
            << ", " << m.messages_per_second << "/s\n"
            << "Bytes: sent " << m.bytes_sent << ", received " << m.bytes_received << ", "
            << m.bytes_per_second << "/s\n"
            << "Latency (us): avg " << m.avg_latency_us << ", min " << min_latency << ", max "
            << m.max_latency_us << ", p95 " << m.p95_latency_us << ", p99 " << m.p99_latency_us
            << "\n"
            << "Errors: send " << m.send_errors << ", receive " << m.receive_errors << ", timeout "
            << m.timeout_errors << ", connection " << m.connection_errors << "\n"
            << "Memory: current " << m.memory_usage_bytes << " B, peak " << m.peak_memory_usage
            << " B\n";
        return out.str();
    }

private:
    struct rate_base {
        uint64_t connections = 0;
        uint64_t messages = 0;
        uint64_t bytes = 0;
    };

    performance_monitor() {
        data_.start_time = data_.last_update = std::chrono::steady_clock::now();
    }
    ~performance_monitor() = default;

    performance_monitor(const performance_monitor&) = delete;
    performance_monitor& operator=(const performance_monitor&) = delete;

    struct source_entry {
        const void* key;
        traffic_reader read;
        traffic base;  // the reading at attach or the last reset
    };

    static traffic minus(const traffic& now, const traffic& base) {
        auto sub = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
        traffic out;
        out.total_connections = sub(now.total_connections, base.total_connections);
        out.active_connections = now.active_connections;
        out.messages_sent = sub(now.messages_sent, base.messages_sent);
        out.messages_received = sub(now.messages_received, base.messages_received);
        out.bytes_sent = sub(now.bytes_sent, base.bytes_sent);
        out.bytes_received = sub(now.bytes_received, base.bytes_received);
        return out;
    }

    // Adds what the attached objects counted since they were attached (or
    // the last reset) to @p out.
    void add_sources(metrics& out) const {
        std::lock_guard<std::mutex> lock(sources_mutex_);
        for (const auto& source : sources_) {
            traffic now;
            if (!source.read || !source.read(now)) {
                continue;
            }
            const traffic delta = minus(now, source.base);
            out.total_connections.fetch_add(delta.total_connections, std::memory_order_relaxed);
            out.active_connections.fetch_add(delta.active_connections, std::memory_order_relaxed);
            out.messages_sent.fetch_add(delta.messages_sent, std::memory_order_relaxed);
            out.messages_received.fetch_add(delta.messages_received, std::memory_order_relaxed);
            out.bytes_sent.fetch_add(delta.bytes_sent, std::memory_order_relaxed);
            out.bytes_received.fetch_add(delta.bytes_received, std::memory_order_relaxed);
        }
    }

    // Nearest-rank percentiles over the sample window.
    void refresh_percentiles() const {
        std::vector<uint64_t> sorted;
        {
            std::lock_guard<std::mutex> lock(latency_mutex_);
            sorted = samples_;
        }
        if (sorted.empty()) {
            return;
        }
        std::sort(sorted.begin(), sorted.end());
        auto rank = [&sorted](double p) {
            auto index = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
            index = std::clamp<std::size_t>(index, 1, sorted.size());
            return sorted[index - 1];
        };
        data_.p95_latency_us.store(rank(0.95), std::memory_order_relaxed);
        data_.p99_latency_us.store(rank(0.99), std::memory_order_relaxed);
    }

    static std::string json_escape(const std::string& text) {
        std::string out;
        for (char c : text) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += c;
            }
        }
        return out;
    }

    mutable metrics data_;  // mutable: percentiles are refreshed lazily by readers

    mutable std::mutex latency_mutex_;
    std::vector<uint64_t> samples_;
    std::size_t next_sample_ = 0;
    uint64_t latency_count_ = 0;
    uint64_t latency_sum_ = 0;

    mutable std::mutex errors_mutex_;
    std::unordered_map<std::string, uint64_t> error_counts_;

    std::mutex rates_mutex_;
    rate_base previous_;

    mutable std::mutex sources_mutex_;  // also held while a source is read, so detach waits for readers
    std::vector<source_entry> sources_;
};

}  // namespace network_system::utils
