// cpp_echo_client: the shared example-client contract.
//
//   cpp_echo_client --port P [--host 127.0.0.1] [--count 1000] [--size 64]
//
// Connects, sends --count messages of --size bytes one at a time, checks
// that each comes back unchanged, and prints one line:
//
//   cpp client: 1000/1000 echoed, 30000 msg/s, p50 30 us
//
// Exits 0 on success; 1 with a message on stderr on any failure (connect,
// send, wrong echo, lost connection) or when the run takes over 10 s; 2 for
// bad arguments.
#include <network_system/core/messaging_client.h>

#include "example_util.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

namespace {

// Message i: its index in decimal, then a repeating pattern, @p size bytes.
std::string make_message(long index, long size) {
    std::string text = std::to_string(index) + ":";
    std::string message(static_cast<size_t>(size), '\0');
    for (long k = 0; k < size; ++k) {
        message[static_cast<size_t>(k)] =
            k < static_cast<long>(text.size()) ? text[static_cast<size_t>(k)] : static_cast<char>('a' + (index + k) % 26);
    }
    return message;
}

}  // namespace

int main(int argc, char** argv) {
    long count = 0, size = 0;
    std::string host;
    unsigned short port = 0;
    try {
        const example::arguments args(argc, argv);
        if (!args.has("port")) {
            throw std::invalid_argument("--port is required");
        }
        host = args.get("host", "127.0.0.1");
        port = static_cast<unsigned short>(args.number("port", 0, 1, 65535));
        count = args.number("count", 1000, 1, 100000000);
        size = args.number("size", 64, 0, 1 << 20);
    } catch (const std::exception& e) {
        std::cerr << "cpp client: " << e.what() << "\nusage: cpp_echo_client --port P [--host H] [--count N] [--size S]"
                  << std::endl;
        return 2;
    }

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::mutex mutex;
    std::condition_variable changed;
    std::string reply;
    bool have_reply = false;
    std::string failure;

    network_system::core::client_config config;
    config.connect_timeout = std::chrono::seconds(10);
    network_system::core::messaging_client client("cpp_echo_client", config);
    client.set_message_handler([&](const std::string& message) {
        std::lock_guard<std::mutex> lock(mutex);
        reply = message;
        have_reply = true;
        changed.notify_all();
    });
    client.set_disconnect_handler([&](const std::string& reason) {
        std::lock_guard<std::mutex> lock(mutex);
        failure = "connection lost: " + reason;
        changed.notify_all();
    });
    if (!client.connect(host, port)) {
        std::cerr << "cpp client: cannot connect to " << host << ":" << port << ": " << client.last_error().message
                  << std::endl;
        return 1;
    }

    std::vector<double> latencies_us;
    latencies_us.reserve(static_cast<size_t>(count));
    const auto start = std::chrono::steady_clock::now();
    long echoed = 0;
    for (long i = 0; i < count; ++i) {
        const std::string message = make_message(i, size);
        const auto sent_at = std::chrono::steady_clock::now();
        if (!client.send_message(message)) {
            std::cerr << "cpp client: send failed: " << client.last_error().message << std::endl;
            return 1;
        }
        std::unique_lock<std::mutex> lock(mutex);
        if (!changed.wait_until(lock, deadline, [&] { return have_reply || !failure.empty(); })) {
            std::cerr << "cpp client: timed out after 10 s with " << echoed << "/" << count << " echoed" << std::endl;
            return 1;
        }
        if (!have_reply) {
            std::cerr << "cpp client: " << failure << " after " << echoed << "/" << count << " echoed" << std::endl;
            return 1;
        }
        if (reply != message) {
            std::cerr << "cpp client: echo " << i << " differs from what was sent" << std::endl;
            return 1;
        }
        have_reply = false;
        ++echoed;
        latencies_us.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - sent_at).count());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    client.set_disconnect_handler(nullptr);
    client.stop_client();

    std::nth_element(latencies_us.begin(), latencies_us.begin() + latencies_us.size() / 2, latencies_us.end());
    const double p50 = latencies_us[latencies_us.size() / 2];
    std::printf("cpp client: %ld/%ld echoed, %.0f msg/s, p50 %.0f us\n", echoed, count,
                seconds > 0 ? static_cast<double>(echoed) / seconds : 0.0, p50);
    return 0;
}
