#pragma once

/// @file tcp_client.hpp
/// @brief The README's include path for network::tcp_client
/// (`#include "network/client/tcp_client.hpp"` with <prefix>/include/network_system
/// on the include path). Everything is in network_system/network/network.h.

#include "network_system/network/network.h"
