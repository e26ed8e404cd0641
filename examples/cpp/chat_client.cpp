// cpp_chat_client: sends each line of stdin to a cpp_chat_server and prints
// what the room says.
//
//   cpp_chat_client --port P [--host 127.0.0.1] [--name NAME] [--linger MS]
//
// With --name it starts with "/nick NAME". At end of stdin it waits --linger
// milliseconds (default 300) for the last messages, then disconnects.
#include <network_system/core/messaging_client.h>

#include "example_util.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

int main(int argc, char** argv) {
    try {
        const example::arguments args(argc, argv);
        if (!args.has("port")) {
            throw std::invalid_argument("--port is required");
        }
        const std::string host = args.get("host", "127.0.0.1");
        const auto port = static_cast<unsigned short>(args.number("port", 0, 1, 65535));
        const std::string name = args.get("name", "");
        const auto linger = std::chrono::milliseconds(args.number("linger", 300, 0, 60000));

        network_system::core::messaging_client client(name.empty() ? "cpp_chat_client" : name);
        std::mutex print_mutex;
        const std::string prefix = name.empty() ? "" : "[" + name + " sees] ";
        client.set_message_handler([&](const std::string& message) {
            std::lock_guard<std::mutex> lock(print_mutex);
            std::cout << prefix << message << std::endl;
        });
        client.set_disconnect_handler([&](const std::string& reason) {
            std::lock_guard<std::mutex> lock(print_mutex);
            std::cout << prefix << "* disconnected: " << reason << std::endl;
        });
        if (!client.connect(host, port)) {
            std::cerr << "cpp_chat_client: cannot connect: " << client.last_error().message << std::endl;
            return 1;
        }
        if (!name.empty()) {
            client.send_message("/nick " + name);
        }
        std::string line;
        while (std::getline(std::cin, line)) {
            if (!client.send_message(line)) {
                std::cerr << "cpp_chat_client: send failed: " << client.last_error().message << std::endl;
                return 1;
            }
        }
        std::this_thread::sleep_for(linger);
        client.set_disconnect_handler(nullptr);
        client.stop_client();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "cpp_chat_client: " << e.what() << std::endl;
        return 2;
    }
}
