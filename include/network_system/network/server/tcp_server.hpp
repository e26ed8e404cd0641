#pragma once

/// @file tcp_server.hpp
/// @brief The README's include path for network::tcp_server
/// (`#include "network/server/tcp_server.hpp"` with <prefix>/include/network_system
/// on the include path). Everything is in network_system/network/network.h.

#include "network_system/network/network.h"
