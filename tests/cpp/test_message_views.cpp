// The zero-copy message path and the small session object:
// - messaging_server::set_message_view_handler gets the session by
//   reference and the message as a view; every other handler signature
//   (the guide's std::string handler, the original's std::vector<uint8_t>
//   callback, the session-level ones) still gets the same bytes;
// - session objects are created once per connection, when first needed,
//   and are the same object whichever way they are reached;
// - an attached performance_monitor reads netsys's own counters.
#include <gtest/gtest.h>

#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"
#include "network_system/utils/performance_monitor.h"
#include "test_utils/network_test_utils.h"

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace network_system::test {

namespace {

// Thread-safe list of received messages.
struct received {
    std::mutex mutex;
    std::vector<std::string> items;
    void add(std::string item) {
        std::lock_guard<std::mutex> lock(mutex);
        items.push_back(std::move(item));
    }
    size_t size() {
        std::lock_guard<std::mutex> lock(mutex);
        return items.size();
    }
    std::vector<std::string> get() {
        std::lock_guard<std::mutex> lock(mutex);
        return items;
    }
};

}  // namespace

TEST(MessageViewTest, EverySignatureGetsTheSameBytes) {
    core::messaging_server server("views");
    received view, text, bytes, session_text, session_bytes;
    server.set_message_view_handler(
        [&](session::messaging_session&, std::string_view message) { view.add(std::string(message)); });
    server.set_message_handler([&](auto, const std::string& message) { text.add(message); });
    server.set_receive_callback([&](std::shared_ptr<session::messaging_session>, const std::vector<uint8_t>& data) {
        bytes.add(std::string(data.begin(), data.end()));
    });
    server.set_connect_handler([&](std::shared_ptr<session::messaging_session> s) {
        s->set_message_handler([&](const std::string& message) { session_text.add(message); });
        s->set_receive_callback(
            [&](const std::vector<uint8_t>& data) { session_bytes.add(std::string(data.begin(), data.end())); });
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("c");
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return server.connection_count() == 1; }));
    const std::vector<std::string> sent{
        "hello", std::string("a\0b\0", 4), "", std::string(100 * 1024, 'x'), "last"};
    for (const auto& m : sent) {
        ASSERT_TRUE(client.send_message(m));
    }
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return session_bytes.size() == sent.size(); }));
    EXPECT_EQ(sent, view.get());
    EXPECT_EQ(sent, text.get());
    EXPECT_EQ(sent, bytes.get());
    EXPECT_EQ(sent, session_text.get());
    EXPECT_EQ(sent, session_bytes.get());
}

TEST(MessageViewTest, ViewHandlerSessionIsTheSessionObject) {
    core::messaging_server server("same-object");
    std::mutex mutex;
    std::shared_ptr<session::messaging_session> connected, viewed;
    const session::messaging_session* address = nullptr;
    std::atomic<int> messages{0};
    server.set_connect_handler([&](std::shared_ptr<session::messaging_session> s) {
        std::lock_guard<std::mutex> lock(mutex);
        connected = std::move(s);
    });
    server.set_message_view_handler([&](session::messaging_session& s, std::string_view message) {
        {
            std::lock_guard<std::mutex> lock(mutex);
            address = &s;
            viewed = s.shared_from_this();  // how a view handler keeps the session
        }
        s.send_binary_message(message.data(), message.size());  // echo through the reference
        ++messages;
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("c");
    received echoes;
    client.set_message_handler([&](const std::string& m) { echoes.add(m); });
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(client.send_message("one"));
    ASSERT_TRUE(client.send_message("two"));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return echoes.size() == 2; }));
    EXPECT_EQ((std::vector<std::string>{"one", "two"}), echoes.get());
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_NE(nullptr, connected);
    EXPECT_EQ(connected.get(), address);
    EXPECT_EQ(connected, viewed);
    EXPECT_EQ(connected, server.get_session(connected->session_id()));
}

TEST(MessageViewTest, ExceptionCostsOnlyItsMessage) {
    core::messaging_server server("throwing-view");
    received view;
    std::atomic<int> code{0};
    std::atomic<int> failures{0};
    server.set_message_view_handler([&](session::messaging_session&, std::string_view message) {
        view.add(std::string(message));
        if (message == "throw") {
            throw std::runtime_error("boom");
        }
    });
    server.set_error_handler([&](const std::string&, int c) {
        code = c;
        ++failures;
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("c");
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    std::vector<std::string> sent;
    for (int i = 0; i < 200; ++i) {
        sent.push_back(i == 100 ? "throw" : "m" + std::to_string(i));
    }
    for (const auto& m : sent) {  // back to back: most arrive in one batch
        ASSERT_TRUE(client.send_message(m));
    }
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return view.size() == sent.size(); }));
    EXPECT_EQ(sent, view.get());
    EXPECT_EQ(static_cast<int>(netsys::errc::handler_exception), code.load());
    EXPECT_EQ(1, failures.load());
    EXPECT_TRUE(client.is_connected());
}

TEST(MessageViewTest, HandlerSetFromViewHandlerAppliesFromTheNextMessage) {
    core::messaging_server server("switching");
    received view, text, session_text;
    server.set_message_view_handler([&](session::messaging_session& s, std::string_view message) {
        view.add(std::string(message));
        if (message == "switch") {
            server.set_message_handler([&](auto, const std::string& m) { text.add(m); });
            s.set_message_handler([&](const std::string& m) { session_text.add(m); });
        }
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("c");
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    const std::vector<std::string> sent{"a", "b", "switch", "c", "d"};
    for (const auto& m : sent) {
        ASSERT_TRUE(client.send_message(m));
    }
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return session_text.size() == 2; }));
    EXPECT_EQ(sent, view.get());
    EXPECT_EQ((std::vector<std::string>{"c", "d"}), text.get());
    EXPECT_EQ((std::vector<std::string>{"c", "d"}), session_text.get());
}

TEST(MessageViewTest, ClientViewHandlerGetsTheSameBytes) {
    core::messaging_server server("echo");
    server.set_message_view_handler([](session::messaging_session& s, std::string_view m) {
        s.send_binary_message(m.data(), m.size());
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("c");
    received view, text, bytes;
    client.set_message_view_handler([&](std::string_view m) { view.add(std::string(m)); });
    client.set_message_handler([&](const std::string& m) { text.add(m); });
    client.set_receive_callback([&](const std::vector<uint8_t>& d) { bytes.add(std::string(d.begin(), d.end())); });
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    const std::vector<std::string> sent{"one", std::string("\0\1\2", 3), "", "three"};
    for (const auto& m : sent) {
        ASSERT_TRUE(client.send_message(m));
    }
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return bytes.size() == sent.size(); }));
    EXPECT_EQ(sent, view.get());
    EXPECT_EQ(sent, text.get());
    EXPECT_EQ(sent, bytes.get());
}

TEST(MessageViewTest, DestroyingTheServerFromTheViewHandlerEndsTheBatch) {
    auto server = std::make_shared<core::messaging_server>("doomed");
    std::shared_ptr<core::messaging_server> holder = server;
    std::atomic<int> calls{0};
    server->set_message_view_handler([&](session::messaging_session&, std::string_view) {
        if (++calls == 1) {
            holder.reset();  // the last owner lets go inside the handler
        }
    });
    ASSERT_TRUE(server->start_server("127.0.0.1", 0));
    const auto port = server->port();
    server.reset();
    core::messaging_client client("killer");
    ASSERT_TRUE(client.connect("127.0.0.1", port));
    for (int i = 0; i < 100; ++i) {  // back to back: the rest of the batch is never delivered
        client.send_message("m");
    }
    EXPECT_TRUE(test_utils::wait_for_condition([&] { return !client.is_connected(); }));
    EXPECT_EQ(1, calls.load());
}

TEST(SessionObjectTest, OpenSessionObjectIsSmall) {
    // Handlers and the last error live in a block made on first use, the
    // server's id and handle are shared: an idle session's object is a
    // pointer, an id, a few state bytes and its cached client id and
    // addresses in one string (688 bytes before, with six handler slots
    // and a copy of the server id in each session).
    EXPECT_LE(sizeof(session::tcp_session), 128u);
}

TEST(SessionObjectTest, WithoutConnectHandlerSessionIsMadeOnFirstUse) {
    core::messaging_server server("lazy");
    std::mutex mutex;
    const session::messaging_session* viewed = nullptr;
    std::atomic<int> messages{0};
    server.set_message_view_handler([&](session::messaging_session& s, std::string_view) {
        std::lock_guard<std::mutex> lock(mutex);
        viewed = &s;
        ++messages;
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("lazy-client");
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return server.connection_count() == 1; }));
    auto sessions = server.get_all_sessions();  // made here, from netsys's registry
    ASSERT_EQ(1u, sessions.size());
    EXPECT_EQ("lazy-client", sessions[0]->client_id());
    EXPECT_EQ("127.0.0.1", sessions[0]->remote_address());
    EXPECT_NE(0, sessions[0]->remote_port());
    EXPECT_EQ(server.port(), sessions[0]->local_port());
    EXPECT_TRUE(sessions[0]->is_connected());
    ASSERT_TRUE(client.send_message("x"));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return messages == 1; }));
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(sessions[0].get(), viewed);  // the same object, made once
}

TEST(SessionObjectTest, DisconnectHandlerAloneSeesTheSessionsAddresses) {
    core::messaging_server server("disconnects");
    std::mutex mutex;
    std::string client_id, address;
    std::atomic<int> disconnects{0};
    server.set_disconnect_handler([&](std::shared_ptr<session::messaging_session> s, const std::string&) {
        {
            std::lock_guard<std::mutex> lock(mutex);
            client_id = s->client_id();
            address = s->remote_address();
        }
        ++disconnects;
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    {
        core::messaging_client client("leaving");
        ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
        client.stop_client();
    }
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return disconnects == 1; }));
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ("leaving", client_id);
    EXPECT_EQ("127.0.0.1", address);
}

TEST(PerformanceMonitorSourceTest, ReadsNetsysCountersFromAttachOnAndKeepsThemAfterDetach) {
    auto& monitor = utils::performance_monitor::instance();
    monitor.reset_metrics();
    core::messaging_server server("monitored");
    server.set_message_view_handler([](session::messaging_session& s, std::string_view m) {
        s.send_binary_message(m.data(), m.size());
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("monitored");
    std::atomic<int> echoes{0};
    client.set_message_handler([&](const std::string&) { ++echoes; });
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(client.send_message("before"));  // not counted: sent before attaching
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return echoes == 1; }));

    server.set_performance_monitor(&monitor);
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(client.send_message("counted"));
    }
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return echoes == 4; }));
    auto m = monitor.get_metrics();
    EXPECT_EQ(3u, m.messages_received.load());
    EXPECT_EQ(3u, m.messages_sent.load());
    EXPECT_EQ(3u * 7u, m.bytes_received.load());
    EXPECT_EQ(1u, m.active_connections.load());
    // netsys's own numbers, of which the monitor's are the part since attach.
    EXPECT_EQ(4u, server.get_statistics().messages_received);

    server.set_performance_monitor(nullptr);
    ASSERT_TRUE(client.send_message("after"));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return echoes == 5; }));
    m = monitor.get_metrics();
    EXPECT_EQ(3u, m.messages_received.load());  // kept, and nothing added after detaching
    EXPECT_EQ(3u, m.messages_sent.load());
    EXPECT_EQ(0u, m.active_connections.load());

    monitor.reset_metrics();
    EXPECT_EQ(0u, monitor.get_metrics().messages_received.load());
}

}  // namespace network_system::test
