// The benchmark of network_system (kcenon/network_system)'s implementation
// guide (tests/performance/benchmark_network_performance.cpp there), over netsys. Kept as written except:
// - the server listens on 127.0.0.1 only and is created once;
// - "wait for connection" waits for the connect handler (bounded) instead of
//   sleeping 10/100 ms, so a slow connect cannot be timed as echo latency;
// - BM_SingleClientEcho/BM_LargeMessageTransfer spin-yield instead of
//   sleeping 1-10 us per poll (sleeping quantizes the figures to the
//   scheduler's timer slack, ~50-60 us, and measures the sleep, not netsys);
// - clients are stopped at the end of each benchmark;
// - UseRealTime(): the rates are computed from wall-clock time. The timing
//   thread mostly waits while netsys's threads work, so CPU-time rates (the
//   default) would overstate throughput several times.
// Every wait is bounded (1-5 s) and reports SkipWithError on timeout.
#include <benchmark/benchmark.h>

#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace network_system::benchmark {

class NetworkBenchmark {
public:
    NetworkBenchmark() {
        server_ = std::make_shared<core::messaging_server>("bench_server");
        server_->set_message_handler([](auto session, const std::string& msg) {
            // Echo server
            session->send_message(msg);
        });

        server_->start_server("127.0.0.1", 0);  // Random port
        port_ = server_->port();
    }

    ~NetworkBenchmark() { server_->stop_server(); }

    unsigned short get_port() const { return port_; }

private:
    std::shared_ptr<core::messaging_server> server_;
    unsigned short port_;
};

static NetworkBenchmark* g_benchmark = nullptr;

// Waits (bounded) until every client's connect handler ran.
static bool wait_connected(const std::atomic<int>& connected, int expected) {
    const auto start = std::chrono::steady_clock::now();
    while (connected.load() < expected) {
        if (std::chrono::steady_clock::now() - start > std::chrono::seconds(5)) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

static void BM_SingleClientEcho(::benchmark::State& state) {
    if (!g_benchmark) {
        g_benchmark = new NetworkBenchmark();
    }

    auto client = std::make_shared<core::messaging_client>("bench_client");

    std::atomic<int> received_count{0};
    client->set_message_handler([&received_count](const std::string&) { received_count++; });
    std::atomic<int> connected{0};
    client->set_connect_handler([&connected]() { connected++; });

    client->start_client("127.0.0.1", g_benchmark->get_port());

    // Wait for connection
    if (!wait_connected(connected, 1)) {
        state.SkipWithError("Timeout waiting for connection");
        return;
    }

    const std::string message = "benchmark_message";

    for (auto _ : state) {
        client->send_message(message);

        // Wait for response
        auto start = std::chrono::steady_clock::now();
        while (received_count.load() == 0) {
            auto now = std::chrono::steady_clock::now();
            if (now - start > std::chrono::seconds(1)) {
                state.SkipWithError("Timeout waiting for response");
                return;
            }
            std::this_thread::yield();
        }
        received_count--;
    }

    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * message.size() * 2);  // Send+receive
    client->stop_client();
}

static void BM_MultipleClientsEcho(::benchmark::State& state) {
    if (!g_benchmark) {
        g_benchmark = new NetworkBenchmark();
    }

    const int num_clients = state.range(0);
    std::vector<std::shared_ptr<core::messaging_client>> clients;
    std::atomic<int> total_received{0};
    std::atomic<int> connected{0};

    // Create and connect clients
    for (int i = 0; i < num_clients; ++i) {
        auto client = std::make_shared<core::messaging_client>("bench_client_" + std::to_string(i));

        client->set_message_handler([&total_received](const std::string&) { total_received++; });
        client->set_connect_handler([&connected]() { connected++; });

        client->start_client("127.0.0.1", g_benchmark->get_port());
        clients.push_back(client);
    }

    // Wait for all clients to connect
    if (!wait_connected(connected, num_clients)) {
        state.SkipWithError("Timeout waiting for connections");
        return;
    }

    const std::string message = "benchmark_message";

    for (auto _ : state) {
        // Send messages from all clients simultaneously
        for (auto& client : clients) {
            client->send_message(message);
        }

        // Wait for all responses
        auto start = std::chrono::steady_clock::now();
        while (total_received.load() < num_clients) {
            auto now = std::chrono::steady_clock::now();
            if (now - start > std::chrono::seconds(5)) {
                state.SkipWithError("Timeout waiting for responses");
                return;
            }
            std::this_thread::yield();
        }
        total_received -= num_clients;
    }

    state.SetItemsProcessed(state.iterations() * num_clients);
    state.SetBytesProcessed(state.iterations() * num_clients * message.size() * 2);
    for (auto& client : clients) {
        client->stop_client();
    }
}

static void BM_LargeMessageTransfer(::benchmark::State& state) {
    if (!g_benchmark) {
        g_benchmark = new NetworkBenchmark();
    }

    auto client = std::make_shared<core::messaging_client>("bench_client");

    std::atomic<bool> received{false};
    client->set_message_handler([&received](const std::string&) { received = true; });
    std::atomic<int> connected{0};
    client->set_connect_handler([&connected]() { connected++; });

    client->start_client("127.0.0.1", g_benchmark->get_port());
    if (!wait_connected(connected, 1)) {
        state.SkipWithError("Timeout waiting for connection");
        return;
    }

    const size_t message_size = state.range(0);
    const std::string message(message_size, 'X');

    for (auto _ : state) {
        received = false;
        client->send_message(message);

        // Wait for response
        auto start = std::chrono::steady_clock::now();
        while (!received.load()) {
            auto now = std::chrono::steady_clock::now();
            if (now - start > std::chrono::seconds(5)) {
                state.SkipWithError("Timeout waiting for response");
                return;
            }
            std::this_thread::yield();
        }
    }

    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * message_size * 2);
    client->stop_client();
}

// Register benchmarks
BENCHMARK(BM_SingleClientEcho)->Unit(::benchmark::kMicrosecond)->Iterations(10000)->UseRealTime();

BENCHMARK(BM_MultipleClientsEcho)
    ->Unit(::benchmark::kMicrosecond)
    ->Arg(1)
    ->Arg(10)
    ->Arg(50)
    ->Arg(100)
    ->Iterations(1000)
    ->UseRealTime();

BENCHMARK(BM_LargeMessageTransfer)
    ->Unit(::benchmark::kMicrosecond)
    ->Arg(1024)
    ->Arg(8192)
    ->Arg(65536)
    ->Arg(1048576)
    ->Iterations(100)
    ->UseRealTime();

}  // namespace network_system::benchmark

BENCHMARK_MAIN();
