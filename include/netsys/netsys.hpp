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
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
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

// ---------------------------------------------------------------------
// Transform plugins (netsys_register_transform)
// ---------------------------------------------------------------------

/// One direction of a transform plugin: returns the encoded (or decoded)
/// form of the @p size bytes at @p data. To fail the message, throw: the
/// exception is caught before it reaches the C ABI and the library closes
/// that one connection (protocol close 1011, see docs/protocol.md section
/// 5); on the sending side an encode failure makes the send fail with
/// errc::transform instead.
///
/// Threading: called on library threads (I/O loops, and the sending thread
/// for encode), concurrently for different connections, so it must be
/// thread-safe; it must not block and must not call netsys functions (nor
/// network_system objects, which are built on them).
///
/// A vector result was chosen over writing into a caller buffer because
/// the size-query protocol of the C ABI (retry with a bigger buffer) is
/// then handled once, here, and no plugin can write past a buffer.
using transform_fn = std::function<std::vector<uint8_t>(const uint8_t* data, std::size_t size)>;

namespace detail {

/// The functions of one registration. Never freed (see transform_registry).
struct transform_entry {
    std::string name;
    transform_fn encode;
    transform_fn decode;
};

/// Keeps every registered pair of functions alive for the life of the
/// process. The C ABI requires them to stay valid until the name is
/// unregistered AND every connection that negotiated it has closed, which
/// the host cannot observe; a replaced or unregistered entry is therefore
/// kept (a few dozen bytes per registration). The registry is leaked on
/// purpose: library threads may still call a transform while static
/// destructors run at exit.
class transform_registry {
public:
    static transform_registry& instance() {
        static transform_registry* registry = new transform_registry();
        return *registry;
    }

    // The mutex is held across the C call so that the C library's view and
    // current_ always agree, whatever the interleaving of threads.
    failure add(const std::string& name, transform_fn encode, transform_fn decode) {
        std::lock_guard<std::mutex> lock(mutex_);
        all_.push_back(std::make_unique<transform_entry>(transform_entry{name, std::move(encode), std::move(decode)}));
        transform_entry* entry = all_.back().get();
        failure f = capture(::netsys_register_transform(name.c_str(), &encode_trampoline, &decode_trampoline, entry));
        if (f) {
            all_.pop_back();  // the library never saw it
            return f;
        }
        current_[name] = entry;
        return {};
    }

    failure remove(const std::string& name) {
        std::lock_guard<std::mutex> lock(mutex_);
        failure f = capture(::netsys_unregister_transform(name.c_str()));
        if (!f) {
            current_.erase(name);  // the entry itself stays alive in all_
        }
        return f;
    }

    bool contains(const std::string& name) const {
        std::lock_guard<std::mutex> lock(mutex_);
        return current_.count(name) != 0;
    }

private:
    transform_registry() = default;

    // A result that did not fit the library's first buffer, kept for the
    // retry the size-query protocol makes right after, so the user function
    // runs once per message. It is matched against the input bytes (not
    // just the pointer) because the retry may land on another thread, and
    // it is dropped by the next call on this thread whatever happens.
    struct pending_result {
        const transform_entry* entry = nullptr;
        bool decode = false;
        std::vector<uint8_t> input;
        std::vector<uint8_t> output;

        bool matches(const transform_entry* e, bool d, const uint8_t* in, std::size_t n) const {
            return entry == e && decode == d && input.size() == n && (n == 0 || std::memcmp(input.data(), in, n) == 0);
        }
    };

    static int run(void* user_data, bool decode, const uint8_t* input, std::size_t input_size, uint8_t* output,
                   std::size_t output_capacity, std::size_t* output_size, std::size_t limit) noexcept {
        try {
            const auto* entry = static_cast<const transform_entry*>(user_data);
            static thread_local pending_result pending;
            std::vector<uint8_t> result;
            if (pending.matches(entry, decode, input, input_size)) {
                result = std::move(pending.output);
            } else {
                const transform_fn& fn = decode ? entry->decode : entry->encode;
                result = fn(input, input_size);
            }
            pending.entry = nullptr;
            if (result.size() > limit) {
                return NETSYS_E_TOO_LARGE;  // a decoder must fail rather than exceed the limit
            }
            *output_size = result.size();
            if (result.size() > output_capacity) {
                pending.entry = entry;
                pending.decode = decode;
                pending.input.assign(input, input + input_size);
                pending.output = std::move(result);
                return NETSYS_E_BUFFER_TOO_SMALL;
            }
            if (!result.empty()) {
                std::memcpy(output, result.data(), result.size());
            }
            return NETSYS_OK;
        } catch (...) {
            // Nothing may cross into C; the library turns this status into
            // a failed transform (the connection closes with code 1011).
            return NETSYS_E_TRANSFORM;
        }
    }

    static int encode_trampoline(void* user_data, const uint8_t* input, std::size_t input_size, uint8_t* output,
                                 std::size_t output_capacity, std::size_t* output_size, std::size_t limit) {
        return run(user_data, false, input, input_size, output, output_capacity, output_size, limit);
    }

    static int decode_trampoline(void* user_data, const uint8_t* input, std::size_t input_size, uint8_t* output,
                                 std::size_t output_capacity, std::size_t* output_size, std::size_t limit) {
        return run(user_data, true, input, input_size, output, output_capacity, output_size, limit);
    }

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<transform_entry>> all_;
    std::unordered_map<std::string, const transform_entry*> current_;
};

inline void check_transform_name(const std::string& name) {
    if (name.find('\0') != std::string::npos) {
        throw error(make_error_code(errc::invalid_argument), "transform name must not contain a NUL byte");
    }
}

}  // namespace detail

/// Registers a transform plugin (e.g. an application cipher) under @p name
/// (1..255 bytes) for every server and client of the process; configs then
/// name it in server_config::transforms / client_config::transforms. On
/// send a message passes through @p encode, on receive through @p decode
/// (see transform_fn for threading and failures). Registering a name again
/// replaces it for new connections; open connections keep the functions
/// they negotiated, which this binding keeps alive for the life of the
/// process (each registration costs its two std::function objects).
/// Thread-safe. Throws netsys::error: errc::invalid_argument for an empty
/// function, an empty, too long or NUL-containing name.
inline void register_transform(const std::string& name, transform_fn encode, transform_fn decode) {
    detail::check_transform_name(name);
    if (!encode || !decode) {
        throw error(make_error_code(errc::invalid_argument),
                    "transform \"" + name + "\": encode and decode must both be set");
    }
    if (auto f = detail::transform_registry::instance().add(name, std::move(encode), std::move(decode))) {
        throw error(f);
    }
}

/// Unregisters @p name: new handshakes no longer offer or accept it, open
/// connections keep using it. Returns false if no transform of that name
/// is registered. Thread-safe. Throws netsys::error for a NUL-containing name.
inline bool unregister_transform(const std::string& name) {
    detail::check_transform_name(name);
    const failure f = detail::transform_registry::instance().remove(name);
    if (f.code == make_error_code(errc::not_found)) {
        return false;
    }
    if (f) {
        throw error(f);
    }
    return true;
}

/// True if @p name is currently registered through register_transform().
inline bool is_transform_registered(const std::string& name) {
    return detail::transform_registry::instance().contains(name);
}

}  // namespace netsys

namespace std {
/// Lets netsys::errc values compare with std::error_code.
template <>
struct is_error_code_enum<netsys::errc> : true_type {};
}  // namespace std
