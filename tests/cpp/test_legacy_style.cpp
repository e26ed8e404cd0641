// Written as code for the original network_system / messaging_system's
// network module is written: original include paths, network_module::
// names, void-style start_server(port), start_client + send_packet with
// lvalues, the late-2025 callback API, compat::initialize/shutdown. It is
// compiled with nothing but the installed package (see CMakeLists.txt).
//
// The only non-legacy line per test binds the server to 127.0.0.1 (our
// tests never listen on other interfaces); legacy code that skips it
// listens on 0.0.0.0 as before.
#include <gtest/gtest.h>

#include <network_system/compatibility.h>
#include <network_system/core/messaging_client.h>
#include <network_system/core/messaging_server.h>
#include <network_system/integration/container_integration.h>
#include <network_system/integration/messaging_bridge.h>
#include <network_system/integration/thread_integration.h>
#include <network_system/network_system.h>
#include <network_system/session/messaging_session.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

template <typename Pred>
bool eventually(Pred pred) {
    for (int i = 0; i < 5000 && !pred(); ++i) {
        std::this_thread::sleep_for(1ms);
    }
    return pred();
}

void loopback_only(const std::shared_ptr<network_module::messaging_server>& server) {
    auto config = server->get_config();  // the one non-legacy line (see above)
    config.bind_address = "127.0.0.1";
    server->set_config(config);
}

unsigned short pick_port() {
    // Legacy code used fixed ports; a free one keeps parallel runs apart.
    network_system::core::messaging_server probe("probe");
    probe.start_server(std::string("127.0.0.1"), 0);
    const unsigned short port = probe.port();
    probe.stop_server();
    return port;
}

TEST(LegacyStyle, ServerClientSendPacket) {
    network_system::compat::initialize();

    const unsigned short port = pick_port();
    auto server = std::make_shared<network_module::messaging_server>("legacy_server");
    loopback_only(server);

    std::mutex mutex;
    std::vector<std::vector<uint8_t>> received;
    std::atomic<int> connections{0};
    std::string disconnected_id;
    server->set_connection_callback([&](std::shared_ptr<network_system::session::messaging_session> session) {
        ++connections;
        EXPECT_FALSE(session->is_stopped());
        EXPECT_EQ("legacy_server", session->server_id());
    });
    server->set_receive_callback([&](std::shared_ptr<network_system::session::messaging_session> session,
                                     const std::vector<uint8_t>& data) {
        std::lock_guard<std::mutex> lock(mutex);
        received.push_back(data);
        std::vector<uint8_t> reply(data.rbegin(), data.rend());
        session->send_packet(reply);
    });
    server->set_disconnection_callback([&](const std::string& session_id) {
        std::lock_guard<std::mutex> lock(mutex);
        disconnected_id = session_id;
    });
    server->set_error_callback([](std::shared_ptr<network_system::session::messaging_session>, std::error_code) {});

    server->start_server(port);  // void-style call

    auto client = std::make_shared<network_module::messaging_client>("legacy_client");
    std::vector<uint8_t> reply;
    std::atomic<bool> connected{false}, got_reply{false};
    client->set_connected_callback([&] { connected = true; });
    client->set_disconnected_callback([&] { connected = false; });
    client->set_error_callback([](std::error_code) {});
    client->set_receive_callback([&](const std::vector<uint8_t>& data) {
        std::lock_guard<std::mutex> lock(mutex);
        reply = data;
        got_reply = true;
    });

    client->start_client("127.0.0.1", port);  // void-style, non-blocking
    std::vector<uint8_t> packet{'a', 'b', 'c'};
    client->send_packet(packet);  // an lvalue, right after start_client

    ASSERT_TRUE(eventually([&] { return got_reply.load(); }));
    EXPECT_TRUE(client->is_connected());
    {
        std::lock_guard<std::mutex> lock(mutex);
        ASSERT_EQ(1u, received.size());
        EXPECT_EQ(packet, received[0]);
        EXPECT_EQ((std::vector<uint8_t>{'c', 'b', 'a'}), reply);
    }
    EXPECT_EQ(1, connections.load());

    client->stop_client();
    ASSERT_TRUE(eventually([&] {
        std::lock_guard<std::mutex> lock(mutex);
        return !disconnected_id.empty();
    }));

    // wait_for_stop blocks until another thread stops the server.
    std::thread stopper([&] {
        std::this_thread::sleep_for(20ms);
        server->stop_server();
    });
    server->wait_for_stop();
    stopper.join();
    client->wait_for_stop();

    network_system::compat::shutdown();
}

TEST(LegacyStyle, WaitForStopReturnsAtOnceWhenNeverStarted) {
    auto server = network_module::create_server("idle");
    server->wait_for_stop();
    auto client = network_module::create_client("idle");
    client->wait_for_stop();
    SUCCEED();
}

TEST(LegacyStyle, SecondStartIsANoOp) {
    const unsigned short port = pick_port();
    auto server = messaging::create_server("twice");
    loopback_only(server);
    server->start_server(port);
    server->start_server(port);  // the original ignored it; the server keeps running
    EXPECT_TRUE(server->is_running());
    server->stop_server();
}

TEST(LegacyStyle, BridgeAndIntegrations) {
    auto bridge = network_module::create_bridge();
    EXPECT_FALSE(bridge->is_initialized());
    bridge->start();
    EXPECT_TRUE(bridge->is_initialized());
    auto pool = std::make_shared<network_module::basic_thread_pool>(2);
    bridge->set_thread_pool_interface(pool);
    EXPECT_EQ(pool, bridge->get_thread_pool_interface());
    auto metrics = bridge->get_metrics();
    EXPECT_EQ(0u, metrics.messages_sent);
    EXPECT_EQ(0u, metrics.connections_active);
    EXPECT_EQ(0, metrics.avg_latency.count());
    bridge->reset_metrics();
    std::shared_ptr<network_module::messaging_server> server = bridge->create_server("bridged");
    std::shared_ptr<network_module::messaging_client> client = bridge->create_client("bridged");
    EXPECT_TRUE(server && client);

    auto& manager = network_module::thread_integration_manager::instance();
    manager.set_thread_pool(pool);
    std::future<void> done = manager.submit_task([] {});
    done.get();
    EXPECT_GE(manager.get_metrics().completed_tasks, 1u);
    manager.set_thread_pool(nullptr);

    auto container = std::make_shared<network_module::basic_container>();
    network_module::container_manager::instance().register_container("legacy", container);
    std::vector<uint8_t> bytes = container->serialize(std::string("payload"));
    EXPECT_EQ("payload", std::any_cast<std::string>(container->deserialize(bytes)));
    bridge->stop();
}

#if HAS_CONTAINER_INTEGRATION || HAS_THREAD_INTEGRATION
#error "the package is built without container_system and thread_system"
#endif

}  // namespace
