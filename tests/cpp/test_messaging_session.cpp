// messaging_session / tcp_session: information, state, data, groups,
// per-session handlers, the legacy session API and the detached factory.
#include <gtest/gtest.h>

#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"
#include "network_system/session/messaging_session.h"
#include "test_utils/network_test_utils.h"

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace network_system::test {

class MessagingSessionTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_shared<core::messaging_server>("session_server");
        server_->set_connect_handler([this](auto session) {
            std::lock_guard<std::mutex> lock(mutex_);
            session_ = session;
        });
        ASSERT_TRUE(server_->start_server("127.0.0.1", 0));
        client_ = std::make_shared<core::messaging_client>("session_client");
        client_->set_message_handler([this](const std::string& m) {
            std::lock_guard<std::mutex> lock(mutex_);
            client_got_.push_back(m);
        });
        ASSERT_TRUE(client_->connect("127.0.0.1", server_->port()));
        ASSERT_TRUE(test_utils::wait_for_condition([this] { return session() != nullptr; }));
    }

    std::shared_ptr<session::messaging_session> session() {
        std::lock_guard<std::mutex> lock(mutex_);
        return session_;
    }
    std::vector<std::string> client_got() {
        std::lock_guard<std::mutex> lock(mutex_);
        return client_got_;
    }

    std::mutex mutex_;
    std::shared_ptr<core::messaging_server> server_;
    std::shared_ptr<core::messaging_client> client_;
    std::shared_ptr<session::messaging_session> session_;
    std::vector<std::string> client_got_;
};

TEST_F(MessagingSessionTest, InformationAndState) {
    auto s = session();
    EXPECT_EQ(std::to_string(client_->session_id()), s->session_id());
    EXPECT_EQ("session_client", s->client_id());
    EXPECT_EQ("127.0.0.1", s->remote_address());
    EXPECT_NE(0, s->remote_port());
    EXPECT_EQ("127.0.0.1", s->local_address());
    EXPECT_EQ(server_->port(), s->local_port());
    EXPECT_EQ("127.0.0.1:" + std::to_string(s->remote_port()), s->remote_endpoint());
    EXPECT_EQ(session::session_state::connected, s->state());
    EXPECT_TRUE(s->is_connected());
    EXPECT_FALSE(s->is_stopped());
    EXPECT_EQ("session_server", s->server_id());
    EXPECT_LE(s->connect_time(), std::chrono::steady_clock::now());
    EXPECT_GE(s->last_activity(), s->connect_time());
    EXPECT_STREQ("connected", session::to_string(s->state()));
}

TEST_F(MessagingSessionTest, SendVariants) {
    auto s = session();
    s->send_message("text");
    s->send_raw_data({'r', 'a', 'w'});
    s->send_binary_message("bin", 3);
    s->send_packet(std::vector<uint8_t>{'p', 'k', 't'});
    s->send(std::string("quick"));
    ASSERT_TRUE(test_utils::wait_for_condition([this] { return client_got().size() == 5; }));
    EXPECT_EQ((std::vector<std::string>{"text", "raw", "bin", "pkt", "quick"}), client_got());
    EXPECT_EQ(5u, s->get_statistics().messages_sent);
    s->reset_statistics();
    EXPECT_EQ(0u, s->get_statistics().messages_sent);
}

TEST_F(MessagingSessionTest, SessionDataAndGroups) {
    auto s = session();
    s->set_session_data("user", "alice");
    EXPECT_TRUE(s->has_session_data("user"));
    EXPECT_EQ("alice", s->get_session_data("user"));
    EXPECT_EQ("", s->get_session_data("missing"));
    s->set_session_data("long", std::string(1000, 'v'));  // beyond the first buffer size
    EXPECT_EQ(std::string(1000, 'v'), s->get_session_data("long"));
    auto* tcp = dynamic_cast<session::tcp_session*>(s.get());
    ASSERT_NE(nullptr, tcp);
    EXPECT_EQ((std::vector<std::string>{"long", "user"}), tcp->session_data_keys());
    s->remove_session_data("user");
    EXPECT_FALSE(s->has_session_data("user"));
    s->clear_session_data();
    EXPECT_FALSE(s->has_session_data("long"));

    s->join_group("b");
    s->join_group("a");
    EXPECT_TRUE(s->is_in_group("a"));
    EXPECT_EQ((std::vector<std::string>{"a", "b"}), s->get_groups());
    s->leave_group("a");
    EXPECT_FALSE(s->is_in_group("a"));
    EXPECT_EQ(1u, server_->broadcast_to_group("b", "grouped"));
    EXPECT_TRUE(test_utils::wait_for_condition([this] { return client_got().size() == 1; }));
}

TEST_F(MessagingSessionTest, PerSessionHandlersRunAfterServerHandler) {
    auto s = session();
    std::mutex order_mutex;
    std::vector<std::string> order;
    server_->set_message_handler([&](auto, const std::string& m) {
        std::lock_guard<std::mutex> lock(order_mutex);
        order.push_back("server:" + m);
    });
    s->set_message_handler([&](const std::string& m) {
        std::lock_guard<std::mutex> lock(order_mutex);
        order.push_back("session:" + m);
    });
    s->set_receive_callback([&](const std::vector<uint8_t>& data) {
        std::lock_guard<std::mutex> lock(order_mutex);
        order.push_back("bytes:" + std::to_string(data.size()));
    });
    ASSERT_TRUE(client_->send_message("hi"));
    ASSERT_TRUE(test_utils::wait_for_condition([&] {
        std::lock_guard<std::mutex> lock(order_mutex);
        return order.size() == 3;
    }));
    std::lock_guard<std::mutex> lock(order_mutex);
    EXPECT_EQ((std::vector<std::string>{"server:hi", "session:hi", "bytes:2"}), order);
}

TEST_F(MessagingSessionTest, DisconnectRunsStateAndLegacyHandlers) {
    auto s = session();
    std::mutex mutex;
    std::vector<std::pair<session::session_state, session::session_state>> changes;
    std::string disconnected_id;
    s->set_state_change_handler([&](session::session_state from, session::session_state to) {
        std::lock_guard<std::mutex> lock(mutex);
        changes.emplace_back(from, to);
    });
    s->set_disconnection_callback([&](const std::string& id) {
        std::lock_guard<std::mutex> lock(mutex);
        disconnected_id = id;
    });
    std::string client_reason;
    std::mutex reason_mutex;
    client_->set_disconnect_handler([&](const std::string& why) {
        std::lock_guard<std::mutex> lock(reason_mutex);
        client_reason = why;
    });
    s->disconnect("maintenance");
    ASSERT_TRUE(test_utils::wait_for_condition([&] {
        std::lock_guard<std::mutex> lock(mutex);
        return !disconnected_id.empty();
    }));
    EXPECT_TRUE(s->is_stopped());
    EXPECT_EQ(session::session_state::disconnected, s->state());
    {
        std::lock_guard<std::mutex> lock(mutex);
        EXPECT_EQ(s->session_id(), disconnected_id);
        ASSERT_EQ(2u, changes.size());
        EXPECT_EQ(session::session_state::connected, changes[0].first);
        EXPECT_EQ(session::session_state::disconnecting, changes[0].second);
        EXPECT_EQ(session::session_state::disconnected, changes[1].second);
    }
    EXPECT_TRUE(test_utils::wait_for_condition([&] {
        std::lock_guard<std::mutex> lock(reason_mutex);
        return client_reason.find("maintenance") != std::string::npos;
    }));
    // Operations on an ended session fail cleanly through the error handlers.
    std::atomic<int> code{0};
    s->set_error_handler([&](const std::string&, int c) { code = c; });
    s->send_message("too late");
    EXPECT_EQ(static_cast<int>(netsys::errc::not_found), code.load());
    EXPECT_EQ(0u, s->get_statistics().messages_sent);
}

TEST(DetachedSessionTest, FactoryCreatesAnInertSession) {
    auto s = session::create_tcp_session("42", "nobody");
    EXPECT_EQ("42", s->session_id());
    EXPECT_EQ("nobody", s->client_id());
    EXPECT_EQ(session::session_state::disconnected, s->state());
    EXPECT_TRUE(s->is_stopped());
    std::error_code seen;
    s->set_error_callback([&](std::error_code ec) { seen = ec; });
    s->send_message("nowhere");
    EXPECT_EQ(netsys::make_error_code(netsys::errc::invalid_handle), seen);
}

}  // namespace network_system::test
