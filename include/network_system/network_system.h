#pragma once

/// @file network_system.h
/// @brief Umbrella header: every public header of network_system over
/// libnetsys.so, plus the version constants.
///
/// Link with libnetsys.so (CMake: `find_package(NetworkSystem CONFIG)` and
/// target `NetworkSystem::Core`; pkg-config: `network-system`).

#include "network_system/compatibility.h"
#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"
#include "network_system/integration/container_integration.h"
#include "network_system/integration/messaging_bridge.h"
#include "network_system/integration/thread_integration.h"
#include "network_system/network/network.h"
#include "network_system/session/messaging_session.h"
#include "network_system/utils/performance_monitor.h"

#include <netsys/netsys.hpp>

namespace network_system {

/// Major version of the C ABI these headers are written for.
inline constexpr int version_major = NETSYS_VERSION_MAJOR;
/// Minor version of the C ABI these headers are written for.
inline constexpr int version_minor = NETSYS_VERSION_MINOR;
/// Patch version of the C ABI these headers are written for.
inline constexpr int version_patch = NETSYS_VERSION_PATCH;

/// The version of the loaded libnetsys.so ("MAJOR.MINOR.PATCH").
inline const char* library_version() noexcept { return ::netsys_version_string(); }

}  // namespace network_system
