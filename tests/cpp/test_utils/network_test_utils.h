#pragma once

/// @file network_test_utils.h
/// @brief The test utilities that the tests of network_system's implementation
/// guide include
/// ("test_utils/network_test_utils.h"): a free loopback port and a bounded
/// wait for a condition. Test code only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <thread>

namespace network_system::test::test_utils {

/// A TCP port that was free on 127.0.0.1 a moment ago (the kernel picks it).
inline unsigned short get_free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        throw std::runtime_error("socket() failed");
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ::close(fd);
        throw std::runtime_error("bind() to 127.0.0.1:0 failed");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

/// Polls @p condition every millisecond until it holds or @p timeout
/// passes; returns its last value. Bounded: never waits longer.
inline bool wait_for_condition(const std::function<bool()>& condition,
                               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return condition();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

/// A listening socket on 127.0.0.1 that accepts but never speaks: clients
/// connecting to it time out in the handshake. Closed on destruction.
class silent_listener {
public:
    /// Listens on an ephemeral loopback port.
    silent_listener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            throw std::runtime_error("cannot listen on 127.0.0.1");
        }
        port_ = ntohs(address.sin_port);
    }
    ~silent_listener() { ::close(fd_); }
    silent_listener(const silent_listener&) = delete;
    silent_listener& operator=(const silent_listener&) = delete;

    /// The port it listens on.
    unsigned short port() const { return port_; }
    /// The listening descriptor (for tests that accept and write bytes).
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    unsigned short port_ = 0;
};

}  // namespace network_system::test::test_utils
