// messaging_bridge: factories, configuration, aggregated metrics, event
// handlers, lifecycle, status report, the guide's compat functions.
#include <gtest/gtest.h>

#include "network_system/integration/messaging_bridge.h"
#include "test_utils/network_test_utils.h"

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace network_system::test {

TEST(MessagingBridgeTest, LifecycleAndConfig) {
    integration::messaging_bridge bridge("test_bridge");
    EXPECT_FALSE(bridge.is_running());
    EXPECT_FALSE(bridge.is_initialized());
    bridge.start();
    EXPECT_TRUE(bridge.is_running());
    EXPECT_TRUE(bridge.is_initialized());
    bridge.stop();
    EXPECT_FALSE(bridge.is_running());
    EXPECT_TRUE(bridge.is_initialized());

    auto config = bridge.get_config();
    EXPECT_TRUE(config.enable_performance_monitoring);
    EXPECT_EQ(std::chrono::milliseconds(30000), config.connection_timeout);
    config.connection_timeout = std::chrono::milliseconds(1234);
    config.enable_compression = true;
    bridge.set_config(config);
    EXPECT_EQ(std::chrono::milliseconds(1234), bridge.get_config().connection_timeout);
    auto client = bridge.create_client("configured");
    EXPECT_EQ(std::chrono::milliseconds(1234), client->get_config().connect_timeout);
    EXPECT_EQ("s2", client->get_config().compression);
    EXPECT_EQ("s2", bridge.create_server("compressed")->get_config().compression);
}

TEST(MessagingBridgeTest, EncryptionIsRefusedWithAnError) {
    integration::messaging_bridge bridge;
    bridge.start();
    std::atomic<int> code{0};
    bridge.set_error_event_handler([&](const std::string&, int c) { code = c; });
    auto config = bridge.get_config();
    config.enable_encryption = true;
    bridge.set_config(config);
    EXPECT_EQ(static_cast<int>(netsys::errc::unsupported), code.load());
    EXPECT_FALSE(bridge.get_config().enable_encryption);
}

TEST(MessagingBridgeTest, MetricsEventsAndStatusReport) {
    integration::messaging_bridge bridge("metrics_bridge");
    bridge.start();
    std::mutex mutex;
    std::vector<std::pair<std::string, bool>> events;
    bridge.set_connection_event_handler([&](const std::string& endpoint, bool connected) {
        std::lock_guard<std::mutex> lock(mutex);
        events.emplace_back(endpoint, connected);
    });
    auto server = bridge.create_server("bridge_server");
    server->set_message_handler([](auto session, const std::string& msg) { session->send_message(msg); });
    ASSERT_TRUE(server->start_server("127.0.0.1", 0));  // random port
    auto client = bridge.create_client("bridge_client");
    std::atomic<int> echoes{0};
    client->set_message_handler([&](const std::string&) { ++echoes; });
    ASSERT_TRUE(client->start_client("127.0.0.1", server->port()));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return client->is_connected(); }));
    for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(client->send_message("abcd"));
    }
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return echoes == 4; }));

    const auto m = bridge.get_metrics();
    EXPECT_EQ(8u, m.messages_sent.load());      // 4 by the client + 4 echoes
    EXPECT_EQ(8u, m.messages_received.load());  // 4 by the server + 4 by the client
    EXPECT_EQ(32u, m.bytes_sent.load());
    EXPECT_EQ(2u, m.active_connections.load());  // the session and the client
    EXPECT_EQ(2u, m.connections_active);         // legacy name
    EXPECT_EQ(2u, m.total_connections.load());
    EXPECT_LE(m.start_time, m.last_update);
    {
        std::lock_guard<std::mutex> lock(mutex);
        EXPECT_EQ(2u, events.size());  // server side and client side
        for (const auto& event : events) {
            EXPECT_TRUE(event.second);
            EXPECT_NE(std::string::npos, event.first.find("127.0.0.1:"));
        }
    }

    const std::string report = bridge.get_status_report();
    EXPECT_NE(std::string::npos, report.find("metrics_bridge"));
    EXPECT_NE(std::string::npos, report.find("servers: 1, clients: 1"));

    bridge.reset_metrics();
    EXPECT_EQ(0u, bridge.get_metrics().messages_sent.load());
    ASSERT_TRUE(client->send_message("x"));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return echoes == 5; }));
    EXPECT_EQ(2u, bridge.get_metrics().messages_sent.load());

    client->stop_client();
    EXPECT_TRUE(test_utils::wait_for_condition([&] {
        std::lock_guard<std::mutex> lock(mutex);
        return events.size() == 4;
    }));
}

TEST(MessagingBridgeTest, FailedConnectionsAreCounted) {
    integration::messaging_bridge bridge;
    bridge.start();
    std::atomic<int> errors{0};
    bridge.set_error_event_handler([&](const std::string&, int) { ++errors; });
    auto client = bridge.create_client("nowhere");
    EXPECT_FALSE(client->connect("127.0.0.1", test_utils::get_free_port()));
    EXPECT_GE(bridge.get_metrics().failed_connections.load(), 1u);
    EXPECT_GE(errors.load(), 1);
}

TEST(MessagingBridgeTest, ThreadPoolInterface) {
    integration::messaging_bridge bridge;
    auto pool = std::make_shared<integration::basic_thread_pool>(2);
    bridge.set_thread_pool_interface(pool);
    EXPECT_EQ(pool, bridge.get_thread_pool_interface());
    bridge.set_thread_pool_interface(nullptr);
    EXPECT_NE(nullptr, bridge.get_thread_pool_interface());  // the manager's pool
}

TEST(MessagingBridgeTest, GuideCompatFunctions) {
    auto server = integration::compat::make_messaging_server("compat_server");
    auto client = integration::compat::make_messaging_client("compat_client");
    ASSERT_NE(nullptr, server);
    ASSERT_NE(nullptr, client);
    EXPECT_EQ("compat_server", server->server_id());
    EXPECT_EQ("compat_client", client->client_id());
    static_assert(std::is_same_v<integration::compat::messaging_session, session::messaging_session>);
    static_assert(std::is_same_v<integration::compat::network_module::core::messaging_server,
                                 core::messaging_server>);
    static_assert(std::is_same_v<network_module::bridge::messaging_bridge, integration::messaging_bridge>);
}

}  // namespace network_system::test
