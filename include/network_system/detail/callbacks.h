#pragma once

/// @file callbacks.h
/// @brief Internal plumbing shared by network_system's classes: thread-safe
/// handler slots, the "which object's callback is this thread running"
/// marker, and the guard that keeps C++ exceptions out of the C ABI.
///
/// Not part of the public API; names may change.

#include <netsys/netsys.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace network_system::detail {

/// One replaceable handler. set() may be called from any thread, including
/// from inside the handler itself: invocations take a reference-counted
/// snapshot, so replacing a handler never waits for a running call and a
/// running call never sees a half-replaced function.
template <typename Signature>
class handler_slot {
public:
    /// The stored function type.
    using function_type = std::function<Signature>;

    /// Replaces the handler (an empty function removes it).
    void set(function_type handler) {
        std::shared_ptr<const function_type> next;
        if (handler) {
            next = std::make_shared<const function_type>(std::move(handler));
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            current_.swap(next);
        }
        // The previous handler (now in `next`) is destroyed here, outside the
        // lock: its captures may own objects whose destructors set handlers.
    }

    /// A snapshot of the handler (nullptr if none).
    std::shared_ptr<const function_type> get() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return current_;
    }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const function_type> current_;
};

/// The object whose C callback the calling thread is running (nullptr when
/// none). netsys_*_destroy() behaves differently from inside an object's
/// own callback, and so must the C++ destructors.
inline const void*& current_callback_owner() noexcept {
    thread_local const void* owner = nullptr;
    return owner;
}

/// Marks the calling thread as running a callback of @p owner for its scope.
class callback_scope {
public:
    /// Enters the scope.
    explicit callback_scope(const void* owner) noexcept
        : previous_(std::exchange(current_callback_owner(), owner)) {}
    /// Leaves the scope.
    ~callback_scope() { current_callback_owner() = previous_; }

    callback_scope(const callback_scope&) = delete;
    callback_scope& operator=(const callback_scope&) = delete;

private:
    const void* previous_;
};

/// Whether the calling thread is inside a callback of @p owner.
inline bool in_callback_of(const void* owner) noexcept {
    return owner != nullptr && current_callback_owner() == owner;
}

/// Text of the exception being handled (call inside a catch block).
inline std::string current_exception_text() {
    try {
        throw;
    } catch (const std::exception& e) {
        return std::string("handler threw: ") + e.what();
    } catch (...) {
        return "handler threw a non-standard exception";
    }
}

/// Last resort when even the error handler threw: nothing may cross the C
/// boundary, and there is nowhere left to report to but stderr.
inline void report_unreportable(const char* where) noexcept {
    std::fputs("network_system: an error handler threw while reporting an error in ", stderr);
    std::fputs(where, stderr);
    std::fputs("; the exception was discarded\n", stderr);
}

/// Runs @p body; an exception it throws goes to @p on_exception (with the
/// handler_exception code); an exception from @p on_exception is discarded
/// with a note on stderr. Never throws: C callbacks are wrapped in this.
template <typename Body, typename OnException>
void guard(const char* where, Body&& body, OnException&& on_exception) noexcept {
    try {
        body();
    } catch (...) {
        try {
            on_exception(netsys::failure{netsys::make_error_code(netsys::errc::handler_exception),
                                         current_exception_text()});
        } catch (...) {
            report_unreportable(where);
        }
    }
}

/// Destroys a core's C object (core->release_handle()) and drops the core.
/// Outside the core's callbacks netsys_*_destroy() waits until no callback
/// runs, so the core can be freed right after. From inside one it returns at
/// once while callbacks on other I/O threads may still read the core, so a
/// helper thread destroys from outside instead (it waits for the current
/// callback too) and frees the core after.
template <class Core>
void close_core(std::shared_ptr<Core> core) noexcept {
    if (!core) {
        return;
    }
    core->silence();
    if (in_callback_of(core.get())) {
        try {
            std::thread([core]() mutable {
                core->release_handle();
                core.reset();
            }).detach();
            return;
        } catch (...) {
            // No thread available: keep the core alive forever rather than
            // risk a callback reading freed memory.
            new std::shared_ptr<Core>(core);
            core->release_handle();
            return;
        }
    }
    core->release_handle();
}

}  // namespace network_system::detail
