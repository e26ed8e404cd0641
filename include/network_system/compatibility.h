#pragma once

/// @file compatibility.h
/// @brief The legacy names of network_system: the `network_module` and
/// `messaging` namespaces, factory functions, feature macros and
/// `network_system::compat::initialize()/shutdown()`.
///
/// Code written for messaging_system's network module or for the original
/// network_system includes this header and builds unchanged.

#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"
#include "network_system/integration/container_integration.h"
#include "network_system/integration/messaging_bridge.h"
#include "network_system/integration/thread_integration.h"
#include "network_system/session/messaging_session.h"

#include <memory>
#include <string>

/// Legacy namespace of messaging_system's network module.
namespace network_module {

/// The server class.
using messaging_server = ::network_system::core::messaging_server;
/// The client class.
using messaging_client = ::network_system::core::messaging_client;
/// The server-side session class.
using messaging_session = ::network_system::session::messaging_session;
/// The bridge between messaging_system and network_system.
using messaging_bridge = ::network_system::integration::messaging_bridge;
/// The abstract thread pool.
using thread_pool_interface = ::network_system::integration::thread_pool_interface;
/// The standard-library thread pool.
using basic_thread_pool = ::network_system::integration::basic_thread_pool;
/// The process-wide thread pool manager.
using thread_integration_manager = ::network_system::integration::thread_integration_manager;
/// The abstract serializer.
using container_interface = ::network_system::integration::container_interface;
/// The built-in serializer.
using basic_container = ::network_system::integration::basic_container;
/// The process-wide serializer registry.
using container_manager = ::network_system::integration::container_manager;

/// Creates a stopped server named @p server_id.
inline std::shared_ptr<messaging_server> create_server(const std::string& server_id) {
    return std::make_shared<messaging_server>(server_id);
}

/// Creates a stopped client named @p client_id.
inline std::shared_ptr<messaging_client> create_client(const std::string& client_id) {
    return std::make_shared<messaging_client>(client_id);
}

/// Creates a bridge with the default configuration.
inline std::shared_ptr<messaging_bridge> create_bridge() {
    return std::make_shared<messaging_bridge>();
}

}  // namespace network_module

/// Second legacy spelling: everything of network_module.
namespace messaging {
using namespace network_module;
}  // namespace messaging

/// 1 when built with container_system (BUILD_WITH_CONTAINER_SYSTEM), else 0.
#ifdef BUILD_WITH_CONTAINER_SYSTEM
#define HAS_CONTAINER_INTEGRATION 1
#else
#define HAS_CONTAINER_INTEGRATION 0
#endif

/// 1 when built with thread_system (BUILD_WITH_THREAD_SYSTEM), else 0.
#ifdef BUILD_WITH_THREAD_SYSTEM
#define HAS_THREAD_INTEGRATION 1
#else
#define HAS_THREAD_INTEGRATION 0
#endif

/// Marks legacy declarations as deprecated.
#if defined(__GNUC__) || defined(__clang__)
#define NETWORK_DEPRECATED __attribute__((deprecated))
#elif defined(_MSC_VER)
#define NETWORK_DEPRECATED __declspec(deprecated)
#else
#define NETWORK_DEPRECATED
#endif

/// Compatibility utilities.
namespace network_system::compat {

/// Whether container_system integration is compiled in.
inline constexpr bool has_container_support() { return HAS_CONTAINER_INTEGRATION != 0; }

/// Whether thread_system integration is compiled in.
inline constexpr bool has_thread_support() { return HAS_THREAD_INTEGRATION != 0; }

/// Prepares the integration singletons: a thread pool in
/// thread_integration_manager and a basic_container as the default
/// container, unless the application installed its own. Checks that the
/// loaded libnetsys.so speaks the ABI these headers were written for and
/// throws netsys::error if not. Idempotent.
inline void initialize() {
    ::netsys::check_library_version();
    auto& threads = integration::thread_integration_manager::instance();
    threads.get_thread_pool();  // creates the default pool if none is set
    auto& containers = integration::container_manager::instance();
    if (!containers.get_default_container()) {
        containers.set_default_container(std::make_shared<integration::basic_container>());
    }
}

/// Stops the thread pool of thread_integration_manager after its queued
/// tasks ran (the next submit_task after initialize() gets a fresh pool).
/// Servers and clients are not touched: they stop when destroyed.
inline void shutdown() {
    auto& threads = integration::thread_integration_manager::instance();
    if (auto pool = std::dynamic_pointer_cast<integration::basic_thread_pool>(
            threads.get_thread_pool())) {
        pool->stop(true);
        threads.set_thread_pool(nullptr);
    }
}

}  // namespace network_system::compat
