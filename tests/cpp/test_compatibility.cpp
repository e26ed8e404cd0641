// compatibility.h: network_module / messaging aliases and factories, macros,
// compat::initialize/shutdown; the umbrella header and version constants.
#include <gtest/gtest.h>

#include "network_system/compatibility.h"
#include "network_system/network_system.h"
#include "test_utils/network_test_utils.h"

#include <atomic>
#include <cstring>
#include <type_traits>

namespace {

TEST(CompatibilityTest, AliasesNameTheSameTypes) {
    using namespace network_system;
    static_assert(std::is_same_v<network_module::messaging_server, core::messaging_server>);
    static_assert(std::is_same_v<network_module::messaging_client, core::messaging_client>);
    static_assert(std::is_same_v<network_module::messaging_session, session::messaging_session>);
    static_assert(std::is_same_v<network_module::messaging_bridge, integration::messaging_bridge>);
    static_assert(std::is_same_v<network_module::thread_pool_interface, integration::thread_pool_interface>);
    static_assert(std::is_same_v<network_module::basic_thread_pool, integration::basic_thread_pool>);
    static_assert(std::is_same_v<network_module::thread_integration_manager,
                                 integration::thread_integration_manager>);
    static_assert(std::is_same_v<network_module::container_interface, integration::container_interface>);
    static_assert(std::is_same_v<network_module::basic_container, integration::basic_container>);
    static_assert(std::is_same_v<network_module::container_manager, integration::container_manager>);
    static_assert(std::is_same_v<messaging::messaging_server, core::messaging_server>);
    static_assert(std::is_same_v<messaging::messaging_client, core::messaging_client>);
    SUCCEED();
}

TEST(CompatibilityTest, FactoriesWork) {
    auto server = network_module::create_server("compat_server");
    auto client = messaging::create_client("compat_client");
    auto bridge = network_module::create_bridge();
    ASSERT_TRUE(server && client && bridge);
    ASSERT_TRUE(server->start_server("127.0.0.1", 0));
    EXPECT_TRUE(client->connect("127.0.0.1", server->port()));
    EXPECT_TRUE(network_system::test::test_utils::wait_for_condition(
        [&] { return server->connection_count() == 1; }));
}

TEST(CompatibilityTest, FeatureMacros) {
    EXPECT_EQ(0, HAS_CONTAINER_INTEGRATION);  // built without container_system
    EXPECT_EQ(0, HAS_THREAD_INTEGRATION);     // built without thread_system
    EXPECT_FALSE(network_system::compat::has_container_support());
    EXPECT_FALSE(network_system::compat::has_thread_support());
#ifdef BUILD_WITH_LOGGER_SYSTEM
    FAIL() << "BUILD_WITH_LOGGER_SYSTEM is not set by the package";
#endif
}

NETWORK_DEPRECATED inline int deprecated_function() { return 7; }

TEST(CompatibilityTest, InitializeAndShutdown) {
    network_system::compat::initialize();
    network_system::compat::initialize();  // idempotent
    auto& threads = network_module::thread_integration_manager::instance();
    std::atomic<bool> ran{false};
    threads.submit_task([&] { ran = true; }).get();
    EXPECT_TRUE(ran);
    EXPECT_NE(nullptr, network_module::container_manager::instance().get_default_container());
    network_system::compat::shutdown();
    network_system::compat::initialize();  // usable again after shutdown
    threads.submit_task([] {}).get();
    network_system::compat::shutdown();
}

TEST(CompatibilityTest, VersionConstantsMatchTheLibrary) {
    EXPECT_EQ(NETSYS_VERSION_MAJOR, network_system::version_major);
    const std::string expected = std::to_string(network_system::version_major) + "." +
                                 std::to_string(network_system::version_minor) + "." +
                                 std::to_string(network_system::version_patch);
    EXPECT_EQ(expected, network_system::library_version());
    EXPECT_NO_THROW(netsys::check_library_version());
}

TEST(CompatibilityTest, ErrorCodesAndCategory) {
    const std::error_code ec = netsys::errc::timeout;
    EXPECT_EQ("netsys", std::string(ec.category().name()));
    EXPECT_EQ(std::errc::timed_out, ec);
    EXPECT_FALSE(ec.message().empty());
    EXPECT_EQ(std::errc::message_size, netsys::make_error_code(netsys::errc::too_large));
    EXPECT_NE(std::string::npos, netsys::make_error_code(netsys::errc::handler_exception).message().find("handler"));
    try {
        netsys::check(::netsys_server_start(0));  // handle 0 is never valid
        FAIL() << "check() did not throw";
    } catch (const netsys::error& e) {
        EXPECT_EQ(netsys::make_error_code(netsys::errc::invalid_handle), e.code());
        EXPECT_GT(std::strlen(e.what()), 0u);
    }
}

}  // namespace
