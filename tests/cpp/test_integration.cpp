// utils::performance_monitor, the thread pool and the container integration,
// and a server/client feeding an attached monitor.
#include <gtest/gtest.h>

#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"
#include "network_system/integration/container_integration.h"
#include "network_system/integration/thread_integration.h"
#include "network_system/utils/performance_monitor.h"
#include "test_utils/network_test_utils.h"

#include <any>
#include <atomic>
#include <string>

namespace network_system::test {

TEST(PerformanceMonitorTest, RecordsAndReports) {
    auto& monitor = utils::performance_monitor::instance();
    monitor.reset_metrics();
    monitor.record_connection(true);
    monitor.record_connection(false);
    monitor.record_message_sent(100);
    monitor.record_message_received(50);
    for (int i = 1; i <= 100; ++i) {
        monitor.record_latency(std::chrono::microseconds(i));
    }
    monitor.record_error("timeout");
    monitor.record_memory_usage(4096);
    const auto m = monitor.get_metrics();
    EXPECT_EQ(1u, m.total_connections.load());
    EXPECT_EQ(1u, m.failed_connections.load());
    EXPECT_EQ(1u, m.messages_sent.load());
    EXPECT_EQ(100u, m.bytes_sent.load());
    EXPECT_EQ(50u, m.bytes_received.load());
    EXPECT_EQ(1u, m.min_latency_us.load());
    EXPECT_EQ(100u, m.max_latency_us.load());
    EXPECT_NEAR(50.0, static_cast<double>(m.avg_latency_us.load()), 1.0);
    EXPECT_NEAR(95.0, static_cast<double>(m.p95_latency_us.load()), 1.0);
    EXPECT_NEAR(99.0, static_cast<double>(m.p99_latency_us.load()), 1.0);
    EXPECT_EQ(1u, m.timeout_errors.load());
    EXPECT_EQ(4096u, m.peak_memory_usage.load());
    const std::string json = monitor.to_json();
    EXPECT_NE(std::string::npos, json.find("\"p99_latency_us\""));
    EXPECT_EQ('{', json.front());
    EXPECT_FALSE(monitor.generate_report().empty());
    monitor.update_realtime_stats();
    monitor.reset_metrics();
    EXPECT_EQ(0u, monitor.get_metrics().messages_sent.load());
}

TEST(PerformanceMonitorTest, AttachedToServerAndClient) {
    auto& monitor = utils::performance_monitor::instance();
    monitor.reset_metrics();
    core::messaging_server server("monitored");
    server.set_performance_monitor(&monitor);
    server.set_message_handler([](auto session, const std::string& msg) { session->send_message(msg); });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("monitored");
    std::atomic<int> echoes{0};
    client.set_message_handler([&](const std::string&) { ++echoes; });
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(client.send_message("ping"));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return echoes == 1; }));
    const auto m = monitor.get_metrics();
    EXPECT_EQ(1u, m.total_connections.load());
    EXPECT_EQ(1u, m.messages_received.load());
    EXPECT_EQ(1u, m.messages_sent.load());
    server.set_performance_monitor(nullptr);
}

TEST(ThreadIntegrationTest, PoolRunsTasksAndDelayedTasks) {
    integration::basic_thread_pool pool(2);
    EXPECT_EQ(2u, pool.worker_count());
    EXPECT_TRUE(pool.is_running());
    std::atomic<int> ran{0};
    auto f1 = pool.submit([&] { ++ran; });
    const auto start = std::chrono::steady_clock::now();
    auto f2 = pool.submit_delayed([&] { ++ran; }, std::chrono::milliseconds(30));
    f1.get();
    f2.get();
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
    EXPECT_EQ(2, ran.load());
    auto failing = pool.submit([] { throw std::runtime_error("task failed"); });
    EXPECT_THROW(failing.get(), std::runtime_error);
    pool.stop(true);
    EXPECT_FALSE(pool.is_running());
    EXPECT_EQ(3u, pool.completed_tasks());
}

TEST(ThreadIntegrationTest, ManagerSubmitsToItsPool) {
    auto& manager = integration::thread_integration_manager::instance();
    auto pool = std::make_shared<integration::basic_thread_pool>(1);
    manager.set_thread_pool(pool);
    std::atomic<bool> ran{false};
    manager.submit_task([&] { ran = true; }).get();
    manager.submit_delayed_task([] {}, std::chrono::milliseconds(1)).get();
    EXPECT_TRUE(ran);
    const auto m = manager.get_metrics();
    EXPECT_EQ(1u, m.worker_threads);
    EXPECT_TRUE(m.is_running);
    EXPECT_EQ(2u, m.completed_tasks);
    manager.set_thread_pool(nullptr);
}

TEST(ContainerIntegrationTest, BasicContainerRoundTrips) {
    integration::basic_container container;
    EXPECT_TRUE(container.is_valid());
    EXPECT_EQ("basic_container", container.type_name());
    EXPECT_EQ("hello", std::any_cast<std::string>(container.deserialize(container.serialize(std::string("hello")))));
    EXPECT_EQ(42, std::any_cast<int>(container.deserialize(container.serialize(42))));
    EXPECT_DOUBLE_EQ(2.5, std::any_cast<double>(container.deserialize(container.serialize(2.5))));
    EXPECT_EQ(true, std::any_cast<bool>(container.deserialize(container.serialize(true))));
    container.set_serializer([](const std::any&) { return std::vector<uint8_t>{7}; });
    EXPECT_EQ(std::vector<uint8_t>{7}, container.serialize(1));
}

TEST(ContainerIntegrationTest, ManagerRegistry) {
    auto& manager = integration::container_manager::instance();
    auto container = std::make_shared<integration::basic_container>();
    manager.register_container("test", container);
    EXPECT_EQ(container, manager.get_container("test"));
    EXPECT_EQ(nullptr, manager.get_container("absent"));
    manager.set_default_container(container);
    EXPECT_EQ(container, manager.get_default_container());
    EXPECT_EQ("x", std::any_cast<std::string>(manager.deserialize(manager.serialize(std::string("x")))));
    const auto names = manager.list_containers();
    EXPECT_NE(names.end(), std::find(names.begin(), names.end(), "test"));
}

}  // namespace network_system::test
