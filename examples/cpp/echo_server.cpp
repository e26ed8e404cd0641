// cpp_echo_server: echoes every message back to its sender.
//
//   cpp_echo_server [--port N] [--bind ADDRESS] [--ignore-stdin]
//
// --port 0 (the default) picks an ephemeral port. Prints "listening on PORT"
// on stdout (flushed) once it accepts connections, then runs until SIGINT,
// SIGTERM or end of stdin (--ignore-stdin: signals only). Binds 127.0.0.1
// unless --bind says otherwise.
#include <network_system/core/messaging_server.h>

#include "example_util.h"

#include <atomic>
#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
    try {
        const example::arguments args(argc, argv);
        network_system::core::server_config config;
        config.port = static_cast<unsigned short>(args.number("port", 0, 0, 65535));
        config.bind_address = args.get("bind", "127.0.0.1");

        network_system::core::messaging_server server("cpp_echo_server", config);
        // The echo runs on the I/O thread that received the message:
        // send_binary_message only queues, it never blocks.
        server.set_message_handler([](auto session, const std::string& message) {
            session->send_binary_message(message.data(), message.size());
        });
        server.set_error_handler([](const std::string& message, int code) {
            std::cerr << "cpp_echo_server: error " << code << ": " << message << std::endl;
        });
        if (!server.start_server()) {
            std::cerr << "cpp_echo_server: cannot start: " << server.last_error().message << std::endl;
            return 1;
        }
        std::printf("listening on %u\n", static_cast<unsigned>(server.port()));
        std::fflush(stdout);

        const std::string why = example::wait_for_shutdown(!args.has("ignore-stdin"));
        const auto stats = server.get_statistics();
        server.stop_server();
        std::cerr << "cpp_echo_server: stopped (" << why << "), " << stats.total_connections << " connections, "
                  << stats.messages_received << " messages echoed" << std::endl;
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "cpp_echo_server: " << e.what() << std::endl;
        return 2;
    }
}
