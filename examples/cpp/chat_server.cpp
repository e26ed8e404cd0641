// cpp_chat_server: a chat room with rooms (netsys groups) and broadcast.
//
//   cpp_chat_server [--port N] [--bind ADDRESS] [--ignore-stdin]
//
// Prints "listening on PORT" (flushed), runs until SIGINT, SIGTERM or end of
// stdin (--ignore-stdin: signals only). Clients send text lines:
//   /nick NAME        choose a name (stored as session data "nick")
//   /join ROOM        join a room (a netsys group)
//   /leave ROOM       leave it
//   /rooms            list your rooms
//   /to ROOM TEXT     say TEXT to the members of ROOM (broadcast_to_group)
//   anything else     say it to everyone (broadcast_message)
// Everyone starts in room "lobby".
#include <network_system/core/messaging_server.h>

#include "example_util.h"

#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <unordered_map>

namespace {

using session_ptr = std::shared_ptr<network_system::session::messaging_session>;

// The part after the first space ("" if none), and the first word.
std::pair<std::string, std::string> split_first(const std::string& text) {
    const auto space = text.find(' ');
    if (space == std::string::npos) {
        return {text, ""};
    }
    return {text.substr(0, space), text.substr(space + 1)};
}

class chat_room {
public:
    explicit chat_room(network_system::core::messaging_server& server) : server_(server) {}

    void joined(const session_ptr& session) {
        const std::string nick = "user" + session->session_id();
        remember(session, nick);
        session->set_session_data("nick", nick);
        session->join_group("lobby");
        session->send_message("* welcome " + nick + ", you are in lobby");
        server_.broadcast_to_group("lobby", "* " + nick + " joined lobby");
    }

    void left(const session_ptr& session) {
        // The session has ended: its netsys data is gone, our map is not.
        std::string nick;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            nick = nicks_[session->session_id()];
            nicks_.erase(session->session_id());
        }
        server_.broadcast_message("* " + nick + " left");
    }

    void said(const session_ptr& session, const std::string& line) {
        const std::string nick = session->get_session_data("nick");
        if (line.empty() || line[0] != '/') {
            server_.broadcast_message(nick + ": " + line);
            return;
        }
        const auto [command, rest] = split_first(line);
        if (command == "/nick" && !rest.empty()) {
            session->set_session_data("nick", rest);
            remember(session, rest);
            server_.broadcast_message("* " + nick + " is now " + rest);
        } else if (command == "/join" && !rest.empty()) {
            session->join_group(rest);
            server_.broadcast_to_group(rest, "* " + nick + " joined " + rest);
        } else if (command == "/leave" && !rest.empty()) {
            session->leave_group(rest);
            session->send_message("* you left " + rest);
        } else if (command == "/rooms") {
            std::string rooms;
            for (const auto& room : session->get_groups()) {
                rooms += (rooms.empty() ? "" : ", ") + room;
            }
            session->send_message("* your rooms: " + rooms);
        } else if (command == "/to") {
            const auto [room, text] = split_first(rest);
            if (!session->is_in_group(room)) {
                session->send_message("* you are not in " + room);
                return;
            }
            const size_t reached = server_.broadcast_to_group(room, "[" + room + "] " + nick + ": " + text);
            if (reached == 0) {
                session->send_message("* nobody received it");
            }
        } else {
            session->send_message("* unknown command: " + command);
        }
    }

private:
    void remember(const session_ptr& session, const std::string& nick) {
        std::lock_guard<std::mutex> lock(mutex_);
        nicks_[session->session_id()] = nick;
    }

    network_system::core::messaging_server& server_;
    std::mutex mutex_;
    std::unordered_map<std::string, std::string> nicks_;
};

}  // namespace

int main(int argc, char** argv) {
    try {
        const example::arguments args(argc, argv);
        network_system::core::server_config config;
        config.port = static_cast<unsigned short>(args.number("port", 0, 0, 65535));
        config.bind_address = args.get("bind", "127.0.0.1");
        network_system::core::messaging_server server("cpp_chat_server", config);
        chat_room room(server);
        server.set_connect_handler([&](auto session) { room.joined(session); });
        server.set_disconnect_handler([&](auto session, const std::string&) { room.left(session); });
        server.set_message_handler([&](auto session, const std::string& line) { room.said(session, line); });
        server.set_error_handler([](const std::string& message, int code) {
            std::cerr << "cpp_chat_server: error " << code << ": " << message << std::endl;
        });
        if (!server.start_server()) {
            std::cerr << "cpp_chat_server: cannot start: " << server.last_error().message << std::endl;
            return 1;
        }
        std::printf("listening on %u\n", static_cast<unsigned>(server.port()));
        std::fflush(stdout);
        example::wait_for_shutdown(!args.has("ignore-stdin"));
        server.stop_server();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "cpp_chat_server: " << e.what() << std::endl;
        return 2;
    }
}
