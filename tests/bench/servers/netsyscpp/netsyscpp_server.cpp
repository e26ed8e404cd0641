// netsyscpp_server: netsys through its C++ API (network_system's
// messaging_server over libnetsys.so), written the way a C++ application
// would: one message handler (the zero-copy view handler) following the bench server contract
// (tests/bench/README.md): sink messages (first byte 'S') are consumed,
// everything else is echoed to its session.
//
// Usage: PORT=9000 netsyscpp_server   (127.0.0.1:$PORT until SIGTERM/SIGINT).
// SPIN_US=N turns on the opt-in low-latency mode (spin_before_wait).

#include <network_system/core/messaging_server.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) { stop_requested = 1; }

}  // namespace

int main() {
    const char* port_text = std::getenv("PORT");
    const int port = port_text ? std::atoi(port_text) : 0;
    if (port <= 0 || port > 65535) {
        std::fprintf(stderr, "netsyscpp_server: PORT must hold a TCP port\n");
        return 2;
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK;  // the Go runtime inside libnetsys requires it
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);

    network_system::core::server_config config;
    config.port = static_cast<unsigned short>(port);
    config.bind_address = "127.0.0.1";
    // The idle scenario holds 10,000 connections; the default cap is 1,000.
    config.max_connections = 20000;
    // The load generator, on one address, pipelines 256 handshakes at a time.
    config.max_pending_handshakes = 20000;
    config.max_handshakes_per_address = 20000;
    // The idle scenario keeps connections silent for seconds; the benchmark
    // must not depend on the 30 s idle timeout either way.
    config.timeout = std::chrono::seconds(0);
    if (const char* spin = std::getenv("SPIN_US"); spin && *spin) {
        config.spin_before_wait = std::chrono::microseconds(std::atoi(spin));
    }
    try {
        auto server = std::make_shared<network_system::core::messaging_server>("bench-cpp", config);
        // The view handler: the session by reference and the message where
        // netsys holds it (no reference count, no copy per message).
        server->set_message_view_handler(
            [](network_system::session::messaging_session& session, std::string_view message) {
                if (!message.empty() && message[0] == 'S') return;
                session.send_binary_message(message.data(), message.size());
            });
        if (!server->start_server()) {
            std::fprintf(stderr, "netsyscpp_server: start failed: %s\n", server->last_error().message.c_str());
            return 1;
        }
        while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        server->stop_server();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "netsyscpp_server: %s\n", e.what());
        return 1;
    }
    return 0;
}
