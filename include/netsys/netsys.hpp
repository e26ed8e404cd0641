#pragma once

/// @file netsys.hpp
/// @brief C++17 essentials over the netsys C ABI (netsys.h): status codes as
/// std::error_code, an exception type, RAII handles, the buffer conventions
/// and the version check.
///
/// This is the only C++ header that knows how netsys.h reports failures and
/// hands out strings; network_system's classes build on it. Everything here
/// is a direct mapping of the C contract: no networking happens in C++.

#include <netsys.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace netsys {

/// The netsys status codes as a C++ enum (values equal #netsys_status), plus
/// codes that only the C++ binding produces.
enum class errc : int {
    ok = NETSYS_OK,                                ///< success
    invalid_handle = NETSYS_E_INVALID_HANDLE,      ///< object destroyed or never valid
    null_pointer = NETSYS_E_NULL_POINTER,          ///< a required pointer was NULL
    invalid_argument = NETSYS_E_INVALID_ARGUMENT,  ///< argument or option out of range
    too_large = NETSYS_E_TOO_LARGE,                ///< message over a size limit
    would_block = NETSYS_E_WOULD_BLOCK,            ///< send queue at its high-water mark
    timeout = NETSYS_E_TIMEOUT,                    ///< did not finish in time
    closed = NETSYS_E_CLOSED,                      ///< closed or closing
    not_connected = NETSYS_E_NOT_CONNECTED,        ///< client without connection
    not_running = NETSYS_E_NOT_RUNNING,            ///< not started
    already_running = NETSYS_E_ALREADY_RUNNING,    ///< started twice / configured while running
    server_full = NETSYS_E_SERVER_FULL,            ///< refused at max connections
    rejected = NETSYS_E_REJECTED,                  ///< handshake refused
    protocol = NETSYS_E_PROTOCOL,                  ///< peer broke the wire protocol
    not_found = NETSYS_E_NOT_FOUND,                ///< no such session / key
    bad_address = NETSYS_E_BAD_ADDRESS,            ///< malformed address
    bind = NETSYS_E_BIND,                          ///< could not listen
    resolve = NETSYS_E_RESOLVE,                    ///< host name not resolved
    connect = NETSYS_E_CONNECT,                    ///< TCP connect failed
    not_delivered = NETSYS_E_NOT_DELIVERED,        ///< accepted messages lost
    transform = NETSYS_E_TRANSFORM,                ///< codec or transform failed
    buffer_too_small = NETSYS_E_BUFFER_TOO_SMALL,  ///< caller buffer too small
    unsupported = NETSYS_E_UNSUPPORTED,            ///< unknown option / feature
    wrong_mode = NETSYS_E_WRONG_MODE,              ///< call does not match delivery mode
    busy = NETSYS_E_BUSY,                          ///< another thread is polling
    deadlock = NETSYS_E_DEADLOCK,                  ///< would wait for the calling thread
    io = NETSYS_E_IO,                              ///< OS resource failure
    internal = NETSYS_E_INTERNAL,                  ///< bug inside the library
    /// A C++ handler threw; the exception was caught at the C boundary.
    handler_exception = 1000,
    /// The loaded libnetsys.so does not match the netsys.h these headers use.
    version_mismatch = 1001,
};

namespace detail {

class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "netsys"; }

    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
            case errc::handler_exception:
                return "a C++ handler threw an exception";
            case errc::version_mismatch:
                return "libnetsys version does not match the headers";
            default:
                return ::netsys_strerror(code);
        }
    }

    // Lets callers test portable conditions: ec == std::errc::timed_out.
    std::error_condition default_error_condition(int code) const noexcept override {
        switch (static_cast<errc>(code)) {
            case errc::invalid_argument:
            case errc::null_pointer:
            case errc::bad_address:
                return std::errc::invalid_argument;
            case errc::too_large:
                return std::errc::message_size;
            case errc::would_block:
                return std::errc::operation_would_block;
            case errc::timeout:
                return std::errc::timed_out;
            case errc::not_connected:
            case errc::closed:
                return std::errc::not_connected;
            case errc::already_running:
                return std::errc::already_connected;
            case errc::server_full:
            case errc::rejected:
            case errc::connect:
                return std::errc::connection_refused;
            case errc::protocol:
                return std::errc::protocol_error;
            case errc::bind:
                return std::errc::address_in_use;
            case errc::resolve:
                return std::errc::address_not_available;
            case errc::unsupported:
                return std::errc::not_supported;
            case errc::busy:
                return std::errc::device_or_resource_busy;
            case errc::deadlock:
                return std::errc::resource_deadlock_would_occur;
            case errc::buffer_too_small:
                return std::errc::no_buffer_space;
            default:
                return std::error_condition(code, *this);
        }
    }
};

}  // namespace detail

/// The error category of netsys status codes ("netsys").
inline const std::error_category& category() noexcept {
    static const detail::category_impl instance;
    return instance;
}

/// Makes an error_code of the netsys category.
inline std::error_code make_error_code(errc code) noexcept {
    return {static_cast<int>(code), category()};
}

/// Converts a C status to an error_code (empty for NETSYS_OK).
inline std::error_code to_error_code(int status) noexcept {
    return status == NETSYS_OK ? std::error_code{} : std::error_code{status, category()};
}

/// The detailed message of the most recent failed netsys_ call on this thread.
inline std::string last_error_message() {
    char small[256];
    const std::size_t needed = ::netsys_last_error_message(small, sizeof small);
    if (needed <= sizeof small) {
        return std::string(small, needed > 0 ? needed - 1 : 0);
    }
    std::string text(needed, '\0');
    ::netsys_last_error_message(text.data(), text.size());
    text.resize(needed - 1);
    return text;
}

/// A failure: the code and the detailed message (empty code: success).
struct failure {
    std::error_code code;  ///< netsys category (empty on success)
    std::string message;   ///< detailed message from netsys_last_error_message()

    /// True when this is a failure.
    explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

/// Captures the outcome of a C call: on failure the detailed message of the
/// calling thread is read right away, before another call can replace it.
inline failure capture(netsys_status status) {
    if (status == NETSYS_OK) {
        return {};
    }
    std::string detail = last_error_message();
    if (detail.empty()) {
        detail = ::netsys_strerror(status);
    }
    return {to_error_code(status), std::move(detail)};
}

/// Exception carrying a netsys code and the detailed message.
class error : public std::system_error {
public:
    /// An error with @p code and @p message (the detailed text).
    error(std::error_code code, const std::string& message) : std::system_error(code, message) {}

    /// An error from a captured failure.
    explicit error(const failure& f) : std::system_error(f.code, f.message) {}
};

/// Throws netsys::error if @p status is not NETSYS_OK.
inline void check(netsys_status status) {
    if (auto f = capture(status)) {
        throw error(f);
    }
}

/// Throws netsys::error(version_mismatch) unless the loaded library has the
/// same major version as netsys.h and at least its minor version.
inline void check_library_version() {
    const uint32_t loaded = ::netsys_version();
    const uint32_t header = NETSYS_VERSION;
    if ((loaded >> 16) != (header >> 16) || ((loaded >> 8) & 0xff) < ((header >> 8) & 0xff)) {
        throw error(make_error_code(errc::version_mismatch),
                    std::string("libnetsys ") + ::netsys_version_string() +
                        " is loaded but the headers need " + std::to_string(NETSYS_VERSION_MAJOR) +
                        "." + std::to_string(NETSYS_VERSION_MINOR) + " or a later minor version");
    }
}

/// Reads a string with the size query convention: @p call(buf, capacity,
/// needed) is retried with a larger buffer until it fits.
template <typename Call>
failure fetch_string(Call&& call, std::string& out) {
    char small[128];
    std::size_t needed = 0;
    netsys_status status = call(small, sizeof small, &needed);
    if (status == NETSYS_OK) {
        out.assign(small, needed > 0 ? needed - 1 : 0);
        return {};
    }
    std::vector<char> buffer;
    while (status == NETSYS_E_BUFFER_TOO_SMALL) {
        buffer.resize(needed);
        status = call(buffer.data(), buffer.size(), &needed);
        if (status == NETSYS_OK) {
            out.assign(buffer.data(), needed > 0 ? needed - 1 : 0);
            return {};
        }
    }
    return capture(status);
}

/// Reads a string list (NUL-separated strings) with the size query
/// convention; @p call(buf, capacity, needed, count).
template <typename Call>
failure fetch_string_list(Call&& call, std::vector<std::string>& out) {
    std::string packed;
    auto status = fetch_string(
        [&](char* buf, std::size_t capacity, std::size_t* needed) {
            return call(buf, capacity, needed, nullptr);
        },
        packed);
    if (status) {
        return status;
    }
    // fetch_string dropped the final NUL only; split on the others.
    out.clear();
    if (packed.empty()) {
        return {};
    }
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = packed.find('\0', start);
        out.emplace_back(packed.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return {};
}

/// Reads an id array with the id array convention; @p call(ids, capacity, count).
template <typename Call>
failure fetch_ids(Call&& call, std::vector<uint64_t>& out) {
    std::size_t count = 0;
    out.resize(64);
    netsys_status status = call(out.data(), out.size(), &count);
    while (status == NETSYS_E_BUFFER_TOO_SMALL) {
        out.resize(count + 16);  // slack: the set may grow between calls
        status = call(out.data(), out.size(), &count);
    }
    if (status != NETSYS_OK) {
        out.clear();
        return capture(status);
    }
    out.resize(count);
    return {};
}

/// Converts a netsys time (Unix ns, 0 = never) to steady_clock, the clock
/// the network_system API reports (0 maps to a default time_point). The
/// offset between the two clocks is measured once per process, so two
/// conversions keep the order of the netsys times they convert.
inline std::chrono::steady_clock::time_point to_steady(int64_t unix_ns) {
    if (unix_ns == 0) {
        return {};
    }
    static const std::chrono::nanoseconds offset = [] {
        const auto system_now = std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::system_clock::now().time_since_epoch());
        const auto steady_now = std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::steady_clock::now().time_since_epoch());
        return system_now - steady_now;
    }();
    return std::chrono::steady_clock::time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::nanoseconds(unix_ns) - offset));
}

/// Owns one C handle and destroys it exactly once. Move-only.
/// @tparam Destroy the netsys_*_destroy function of the handle kind.
template <netsys_status (*Destroy)(uint64_t)>
class unique_handle {
public:
    /// An empty handle.
    unique_handle() noexcept = default;
    /// Takes ownership of @p handle.
    explicit unique_handle(uint64_t handle) noexcept : handle_(handle) {}
    /// Destroys the handle.
    ~unique_handle() { reset(); }

    unique_handle(const unique_handle&) = delete;
    unique_handle& operator=(const unique_handle&) = delete;

    /// Transfers ownership.
    unique_handle(unique_handle&& other) noexcept : handle_(std::exchange(other.handle_, 0)) {}
    /// Transfers ownership, destroying the current handle.
    unique_handle& operator=(unique_handle&& other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, 0);
        }
        return *this;
    }

    /// The C handle (0 if empty): the escape hatch to the C API.
    uint64_t get() const noexcept { return handle_; }

    /// Destroys the handle (idempotent, never throws).
    void reset() noexcept {
        if (handle_ != 0) {
            Destroy(std::exchange(handle_, 0));
        }
    }

private:
    uint64_t handle_ = 0;
};

/// Owning handle of a netsys server.
using server_handle = unique_handle<&::netsys_server_destroy>;
/// Owning handle of a netsys client.
using client_handle = unique_handle<&::netsys_client_destroy>;

}  // namespace netsys

namespace std {
/// Lets netsys::errc values compare with std::error_code.
template <>
struct is_error_code_enum<netsys::errc> : true_type {};
}  // namespace std
