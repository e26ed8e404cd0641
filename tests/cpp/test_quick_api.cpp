// The original README's Quick API, written as the README writes it
// (include paths "network/server/tcp_server.hpp" and
// "network/client/tcp_client.hpp", network::tcp_server / tcp_client,
// typed exceptions).
#include <gtest/gtest.h>

#include "network/client/tcp_client.hpp"
#include "network/server/tcp_server.hpp"
#include "test_utils/network_test_utils.h"

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using network_system::test::test_utils::wait_for_condition;

namespace {

TEST(QuickApiTest, ServerAndClientEcho) {
    network::tcp_server server(0);
    server.set_bind_address("127.0.0.1");
    server.set_thread_count(2);          // Multi-threaded processing
    server.set_max_connections(1000);    // Connection limit
    server.set_keep_alive(true);         // Connection management

    std::atomic<int> connects{0}, disconnects{0};
    server.on_connect([&](auto conn) {
        ++connects;
        EXPECT_NE(std::string::npos, conn->remote_endpoint().find("127.0.0.1:"));
    });
    server.on_message([](auto conn, const auto& data) { conn->send(data); });
    server.on_disconnect([&](auto) { ++disconnects; });
    server.start();  // Non-blocking start
    ASSERT_TRUE(server.is_running());

    network::tcp_client client("127.0.0.1", server.port());
    client.set_reconnect_interval(100ms);
    client.set_timeout(5s);
    std::mutex mutex;
    std::vector<std::string> received;
    std::atomic<bool> connected{false};
    client.on_connect([&]() { connected = true; });
    client.on_message([&](const auto& data) {
        std::lock_guard<std::mutex> lock(mutex);
        received.emplace_back(data);
    });
    client.on_disconnect([&]() { connected = false; });
    client.on_error([](const auto& error) { ADD_FAILURE() << "unexpected error: " << error.what(); });

    client.connect();
    EXPECT_TRUE(client.is_connected());
    client.send("message");                                   // Send string
    client.send(std::vector<uint8_t>{'b', 'i', 'n', 0, 'x'});  // Send binary data
    ASSERT_TRUE(wait_for_condition([&] {
        std::lock_guard<std::mutex> lock(mutex);
        return received.size() == 2;
    }));
    {
        std::lock_guard<std::mutex> lock(mutex);
        EXPECT_EQ("message", received[0]);
        EXPECT_EQ(std::string("bin\0x", 5), received[1]);
    }
    const auto stats = server.get_statistics();
    EXPECT_EQ(1u, stats.active_connections);
    EXPECT_EQ(2u, stats.messages_received);
    EXPECT_GT(stats.messages_per_second, 0.0);
    EXPECT_GT(stats.bytes_per_second, 0.0);
    EXPECT_GE(stats.average_latency, 0.0);

    client.disconnect();  // Clean disconnect
    EXPECT_TRUE(wait_for_condition([&] { return disconnects == 1; }));
    EXPECT_EQ(1, connects.load());
    server.stop();  // Graceful shutdown
    EXPECT_FALSE(server.is_running());
}

TEST(QuickApiTest, BinaryMessageHandlers) {
    network::tcp_server server(0);
    server.set_bind_address("127.0.0.1");
    server.on_message([](network::connection conn, const std::vector<uint8_t>& data) {
        conn->send(std::vector<uint8_t>(data.rbegin(), data.rend()));
    });
    server.start();
    network::tcp_client client("127.0.0.1", server.port());
    std::mutex mutex;
    std::vector<uint8_t> got;
    client.on_message([&](const std::vector<uint8_t>& data) {
        std::lock_guard<std::mutex> lock(mutex);
        got = data;
    });
    client.connect();
    client.send(std::vector<uint8_t>{1, 2, 3});
    EXPECT_TRUE(wait_for_condition([&] {
        std::lock_guard<std::mutex> lock(mutex);
        return got == std::vector<uint8_t>{3, 2, 1};
    }));
}

TEST(QuickApiTest, RunBlocksUntilStop) {
    network::tcp_server server(0);
    server.set_bind_address("127.0.0.1");
    std::thread stopper([&] {
        wait_for_condition([&] { return server.is_running(); });
        server.stop();
    });
    server.run();  // Blocking run
    stopper.join();
    EXPECT_FALSE(server.is_running());
}

TEST(QuickApiTest, ConnectionErrorOnRefusedConnect) {
    network::tcp_client client("127.0.0.1", network_system::test::test_utils::get_free_port());
    try {
        client.connect();
        FAIL() << "connect() did not throw";
    } catch (const network::connection_error& e) {
        EXPECT_EQ(netsys::make_error_code(netsys::errc::connect), e.code());
    }
    EXPECT_THROW(client.send("data"), network::connection_error);
}

TEST(QuickApiTest, ConnectionErrorOnPortInUse) {
    network::tcp_server first(0);
    first.set_bind_address("127.0.0.1");
    first.start();
    network::tcp_server second(first.port());
    second.set_bind_address("127.0.0.1");
    EXPECT_THROW(second.start(), network::connection_error);
}

TEST(QuickApiTest, TimeoutErrorWhenServerNeverAnswers) {
    network_system::test::test_utils::silent_listener silent;
    network::tcp_client client("127.0.0.1", silent.port());
    client.set_timeout(200ms);
    EXPECT_THROW(client.connect(), network::timeout_error);
}

TEST(QuickApiTest, ProtocolErrorWhenPeerSpeaksAnotherProtocol) {
    network_system::test::test_utils::silent_listener listener;
    std::thread peer([&] {
        const int fd = ::accept(listener.fd(), nullptr, nullptr);
        if (fd >= 0) {
            const char garbage[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
            (void)!::write(fd, garbage, sizeof garbage - 1);
            std::this_thread::sleep_for(200ms);
            ::close(fd);
        }
    });
    network::tcp_client client("127.0.0.1", listener.port());
    client.set_timeout(2s);
    EXPECT_THROW(client.connect(), network::protocol_error);
    peer.join();
}

TEST(QuickApiTest, AllTypedErrorsAreNetworkErrors) {
    static_assert(std::is_base_of_v<network::network_error, network::connection_error>);
    static_assert(std::is_base_of_v<network::network_error, network::timeout_error>);
    static_assert(std::is_base_of_v<network::network_error, network::protocol_error>);
    static_assert(std::is_base_of_v<std::system_error, network::network_error>);
    SUCCEED();
}

}  // namespace

namespace {

TEST(QuickApiTest, HandlerExceptionsReachOnError) {
    network::tcp_server server(0);
    server.set_bind_address("127.0.0.1");
    server.on_message([](auto, const std::string&) { throw std::runtime_error("handler failed"); });
    std::mutex mutex;
    std::string what;
    std::error_code code;
    server.on_error([&](const network::network_error& error) {
        std::lock_guard<std::mutex> lock(mutex);
        what = error.what();
        code = error.code();
    });
    server.start();
    network::tcp_client client("127.0.0.1", server.port());
    client.connect();
    client.send("boom");
    ASSERT_TRUE(wait_for_condition([&] {
        std::lock_guard<std::mutex> lock(mutex);
        return static_cast<bool>(code);
    }));
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(netsys::make_error_code(netsys::errc::handler_exception), code);
    EXPECT_NE(std::string::npos, what.find("handler failed"));
}

}  // namespace
