// The session object's lifetime, now that it hangs on the netsys session
// instead of a map of the server's:
// - one object per session reaches the connect, message (view, string and
//   byte) and disconnect handlers, on the I/O threads and on callback
//   workers, and get_session() finds that same object;
// - it is freed once the session has ended and its handlers returned, and
//   at destruction for sessions still open;
// - looking sessions up from another thread while sessions come and go is
//   safe (run under ASan by make test-cpp-asan).
#include <gtest/gtest.h>

#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"
#include "test_utils/network_test_utils.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace network_system::test {

namespace {

// What the handlers saw, by address only: nothing here keeps a session.
struct sightings {
    std::mutex mutex;
    const void* connected = nullptr;
    const void* viewed = nullptr;
    const void* texted = nullptr;
    const void* bytes = nullptr;
    const void* found = nullptr;  // get_session() from inside the message handler
    const void* disconnected = nullptr;
    std::weak_ptr<session::messaging_session> weak;
    std::atomic<int> messages{0};
    std::atomic<int> disconnects{0};
};

void watch(core::messaging_server& server, sightings& seen) {
    server.set_connect_handler([&](std::shared_ptr<session::messaging_session> s) {
        std::lock_guard<std::mutex> lock(seen.mutex);
        seen.connected = s.get();
        seen.weak = s;
    });
    server.set_message_view_handler([&](session::messaging_session& s, std::string_view) {
        std::lock_guard<std::mutex> lock(seen.mutex);
        seen.viewed = &s;
    });
    server.set_message_handler([&](std::shared_ptr<session::messaging_session> s, const std::string&) {
        auto again = server.get_session(s->session_id());
        std::lock_guard<std::mutex> lock(seen.mutex);
        seen.texted = s.get();
        seen.found = again.get();
    });
    server.set_receive_callback([&](std::shared_ptr<session::messaging_session> s, const std::vector<uint8_t>&) {
        {
            std::lock_guard<std::mutex> lock(seen.mutex);
            seen.bytes = s.get();
        }
        ++seen.messages;
    });
    server.set_disconnect_handler([&](std::shared_ptr<session::messaging_session> s, const std::string&) {
        {
            std::lock_guard<std::mutex> lock(seen.mutex);
            seen.disconnected = s.get();
        }
        ++seen.disconnects;
    });
}

void one_object_from_connect_to_disconnect(size_t workers) {
    core::server_config config;
    config.bind_address = "127.0.0.1";
    config.port = 0;
    config.callback_workers = workers;
    core::messaging_server server("lifetime", config);
    sightings seen;
    watch(server, seen);
    ASSERT_TRUE(server.start_server());
    {
        core::messaging_client client("lifetime-client");
        ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
        ASSERT_TRUE(client.send_message("hello"));
        ASSERT_TRUE(test_utils::wait_for_condition([&] { return seen.messages == 1; }));
        client.stop_client();
    }
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return seen.disconnects == 1; }));
    {
        std::lock_guard<std::mutex> lock(seen.mutex);
        ASSERT_NE(nullptr, seen.connected);
        EXPECT_EQ(seen.connected, seen.viewed);
        EXPECT_EQ(seen.connected, seen.texted);
        EXPECT_EQ(seen.connected, seen.bytes);
        EXPECT_EQ(seen.connected, seen.found);
        EXPECT_EQ(seen.connected, seen.disconnected);
    }
    // Freed after the disconnect handler returned (the release follows it
    // on the same thread): nothing of the server keeps it.
    EXPECT_TRUE(test_utils::wait_for_condition([&] {
        std::lock_guard<std::mutex> lock(seen.mutex);
        return seen.weak.expired();
    }));
    EXPECT_TRUE(server.get_all_sessions().empty());
    server.stop_server();
}

}  // namespace

TEST(SessionLifetimeTest, OneObjectFromConnectToDisconnectThenFreed) { one_object_from_connect_to_disconnect(0); }

TEST(SessionLifetimeTest, OneObjectOnCallbackWorkersThenFreed) { one_object_from_connect_to_disconnect(2); }

TEST(SessionLifetimeTest, DestructionFreesTheObjectsOfOpenSessions) {
    std::weak_ptr<session::messaging_session> weak;
    std::atomic<int> connects{0};
    core::messaging_client client("stays");
    {
        auto server = std::make_shared<core::messaging_server>("destroyed");
        server->set_connect_handler([&](std::shared_ptr<session::messaging_session> s) {
            weak = s;
            ++connects;
        });
        ASSERT_TRUE(server->start_server("127.0.0.1", 0));
        ASSERT_TRUE(client.connect("127.0.0.1", server->port()));
        ASSERT_TRUE(test_utils::wait_for_condition([&] { return connects == 1; }));
        auto held = server->get_session(weak.lock()->session_id());
        ASSERT_NE(nullptr, held);
        held.reset();
        EXPECT_FALSE(weak.expired());  // open: the server keeps it
    }  // destroyed without stop_server(): no handler runs, the object still goes
    EXPECT_TRUE(weak.expired());
    client.stop_client();
}

TEST(SessionLifetimeTest, LookupsFromAnotherThreadWhileSessionsComeAndGo) {
    core::messaging_server server("churn");
    std::atomic<int> disconnects{0};
    server.set_disconnect_handler([&](std::shared_ptr<session::messaging_session>, const std::string&) { ++disconnects; });
    server.set_message_handler([](std::shared_ptr<session::messaging_session> s, const std::string& m) {
        s->send_message(m);
    });
    ASSERT_TRUE(server.start_server("127.0.0.1", 0));
    std::atomic<bool> done{false};
    std::atomic<long> looked{0};
    std::thread reader([&] {
        while (!done) {
            for (auto& s : server.get_all_sessions()) {
                if (server.get_session(s->session_id()) == s) {
                    ++looked;
                }
                (void)s->client_id();
            }
        }
    });
    constexpr int rounds = 40;
    for (int i = 0; i < rounds; ++i) {
        core::messaging_client client("churn-" + std::to_string(i));
        std::atomic<int> echoes{0};
        client.set_message_handler([&](const std::string&) { ++echoes; });
        ASSERT_TRUE(client.connect("127.0.0.1", server.port()));
        ASSERT_TRUE(client.send_message("x"));
        ASSERT_TRUE(test_utils::wait_for_condition([&] { return echoes == 1; }));
        client.stop_client();
    }
    ASSERT_TRUE(test_utils::wait_for_condition([&] { return disconnects == rounds; }));
    done = true;
    reader.join();
    EXPECT_TRUE(server.get_all_sessions().empty());
    server.stop_server();
}

}  // namespace network_system::test
