// No exception crosses the C boundary: exceptions thrown by user handlers
// are caught and reported through the error handlers (with
// netsys::errc::handler_exception); the connection goes on. Reentrancy:
// handlers may set handlers, send, disconnect and destroy.
#include <gtest/gtest.h>

#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"
#include "test_utils/network_test_utils.h"

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>

namespace network_system::test {

TEST(HandlerExceptionTest, ServerHandlerExceptionIsReported) {
    core::messaging_server server("throwing");
    std::atomic<int> messages{0};
    std::mutex mutex;
    std::string reported;
    std::atomic<int> code{0};
    std::error_code legacy_code;
    std::shared_ptr<session::messaging_session> legacy_session;
    server.set_message_handler([&](auto, const std::string& m) {
        ++messages;
        if (m == "throw") {
            throw std::runtime_error("boom");
        }
        if (m == "throw-int") {
            throw 42;
        }
    });
    server.set_error_handler([&](const std::string& message, int c) {
        std::lock_guard<std::mutex> lock(mutex);
        reported = message;
        code = c;
    });
    server.set_error_callback([&](std::shared_ptr<session::messaging_session> s, std::error_code ec) {
        std::lock_guard<std::mutex> lock(mutex);
        legacy_session = s;
        legacy_code = ec;
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("c");
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(client.send_message("throw"));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return code.load() != 0; }));
    {
        std::lock_guard<std::mutex> lock(mutex);
        EXPECT_EQ(static_cast<int>(netsys::errc::handler_exception), code.load());
        EXPECT_NE(std::string::npos, reported.find("boom"));
        EXPECT_EQ(netsys::make_error_code(netsys::errc::handler_exception), legacy_code);
        EXPECT_NE(nullptr, legacy_session);  // the session whose handler threw
    }
    code = 0;
    ASSERT_TRUE(client.send_message("throw-int"));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return code.load() != 0; }));
    ASSERT_TRUE(client.send_message("fine"));
    EXPECT_TRUE(test_utils::wait_for_condition([&] { return messages == 3; }));
    EXPECT_TRUE(client.is_connected());  // the connection survived
}

TEST(HandlerExceptionTest, ThrowingErrorHandlerIsContained) {
    core::messaging_server server("double-fault");
    std::atomic<int> calls{0};
    server.set_message_handler([&](auto, const std::string&) {
        ++calls;
        throw std::runtime_error("first");
    });
    server.set_error_handler([&](const std::string&, int) {
        ++calls;
        throw std::runtime_error("second");  // discarded with a note on stderr
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("c");
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(client.send_message("x"));
    EXPECT_TRUE(test_utils::wait_for_condition([&] { return calls == 2; }));
    ASSERT_TRUE(client.send_message("y"));
    EXPECT_TRUE(test_utils::wait_for_condition([&] { return calls == 4; }));
}

TEST(HandlerExceptionTest, ClientHandlerExceptionIsReported) {
    core::messaging_server server("echo");
    server.set_message_handler([](auto session, const std::string& msg) { session->send_message(msg); });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("throwing-client");
    std::atomic<int> code{0};
    std::atomic<int> received{0};
    client.set_message_handler([&](const std::string&) {
        ++received;
        throw std::logic_error("client boom");
    });
    client.set_error_handler([&](const std::string&, int c) { code = c; });
    std::atomic<bool> connect_threw{false};
    client.set_connected_callback([&] {
        connect_threw = true;
        throw std::runtime_error("connect boom");
    });
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(client.send_message("hi"));
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return received == 1; }));
    EXPECT_TRUE(connect_threw);
    EXPECT_EQ(static_cast<int>(netsys::errc::handler_exception), code.load());
    ASSERT_TRUE(client.send_message("again"));
    EXPECT_TRUE(test_utils::wait_for_condition([&] { return received == 2; }));
}

TEST(ReentrancyTest, HandlersReplaceHandlersAndSend) {
    core::messaging_server server("reentrant");
    std::atomic<int> second{0};
    server.set_message_handler([&](auto session, const std::string&) {
        // Replacing the handler from inside it must not deadlock (the
        // original deadlocked here).
        server.set_message_handler([&](auto s, const std::string& m) {
            ++second;
            s->send_message("second:" + m);
        });
        session->send_message("first");
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    core::messaging_client client("c");
    std::mutex mutex;
    std::vector<std::string> got;
    client.set_message_handler([&](const std::string& m) {
        std::lock_guard<std::mutex> lock(mutex);
        got.push_back(m);
        if (m == "first") {
            client.send_message("again");  // sending from the client's own handler
        }
    });
    ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(client.send_message("go"));
    ASSERT_TRUE(test_utils::wait_for_condition([&] {
        std::lock_guard<std::mutex> lock(mutex);
        return got.size() == 2;
    }));
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ((std::vector<std::string>{"first", "second:again"}), got);
    EXPECT_EQ(1, second.load());
}

TEST(ReentrancyTest, ClientStopsAndIsDestroyedFromItsOwnHandler) {
    core::messaging_server server("echo");
    server.set_message_handler([](auto session, const std::string& msg) { session->send_message(msg); });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    auto client = std::make_shared<core::messaging_client>("self-destruct");
    std::shared_ptr<core::messaging_client> holder = client;
    std::atomic<bool> done{false};
    client->set_message_handler([&](const std::string&) {
        holder->stop_client();
        holder.reset();  // the last owner, inside the handler
        done = true;
    });
    ASSERT_TRUE(client->connect("127.0.0.1", server.port()));
    ASSERT_TRUE(client->send_message("bye"));
    client.reset();
    EXPECT_TRUE(test_utils::wait_for_condition([&] { return done.load(); }));
    EXPECT_TRUE(test_utils::wait_for_condition([&] { return server.connection_count() == 0; }));
}

}  // namespace network_system::test
