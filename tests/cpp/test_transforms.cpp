// Compression and transform plugins through the C++ binding: codecs
// negotiated by server_config/client_config, C++ transforms registered with
// netsys::register_transform(). What travels on the wire is checked with a
// recording TCP proxy on 127.0.0.1 between client and server, so "it is
// compressed" / "it is transformed" are observed, not assumed.
#include <gtest/gtest.h>

#include "network_system/core/messaging_client.h"
#include "network_system/core/messaging_server.h"
#include "network_system/integration/messaging_bridge.h"
#include "test_utils/network_test_utils.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace network_system::test {
namespace {

using test_utils::wait_for_condition;

// Relays ONE connection between a client and 127.0.0.1:upstream and
// records the bytes of both directions. Stops by itself when either side
// closes, or when destroyed (the relay thread polls a stop flag every 20 ms).
class recording_proxy {
public:
    explicit recording_proxy(unsigned short upstream) : upstream_(upstream) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::listen(listen_fd_, 4) != 0 ||
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            throw std::runtime_error("proxy cannot listen on 127.0.0.1");
        }
        port_ = ntohs(address.sin_port);
        thread_ = std::thread([this] { relay(); });
    }

    ~recording_proxy() {
        stop_ = true;
        // Unblocks a relay thread stuck in send() to a peer that stopped reading.
        const int a = client_fd_.load(), b = server_fd_.load();
        if (a >= 0) ::shutdown(a, SHUT_RDWR);
        if (b >= 0) ::shutdown(b, SHUT_RDWR);
        thread_.join();
        ::close(listen_fd_);
    }

    recording_proxy(const recording_proxy&) = delete;
    recording_proxy& operator=(const recording_proxy&) = delete;

    unsigned short port() const { return port_; }

    /// Everything the client sent towards the server so far.
    std::string client_to_server() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return upstream_bytes_;
    }

    /// Everything the server sent towards the client so far.
    std::string server_to_client() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return downstream_bytes_;
    }

private:
    static bool send_all(int fd, const char* data, size_t size) {
        while (size > 0) {
            const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            data += n;
            size -= static_cast<size_t>(n);
        }
        return true;
    }

    void relay() {
        pollfd accept_poll{listen_fd_, POLLIN, 0};
        while (!stop_ && ::poll(&accept_poll, 1, 20) <= 0) {
        }
        if (stop_) {
            return;
        }
        const int client = ::accept(listen_fd_, nullptr, nullptr);
        const int server = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(upstream_);
        if (client < 0 || server < 0 ||
            ::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            if (client >= 0) ::close(client);
            if (server >= 0) ::close(server);
            return;
        }
        client_fd_ = client;
        server_fd_ = server;
        std::vector<char> buffer(64 * 1024);
        pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
        bool open = true;
        while (open && !stop_) {
            if (::poll(fds, 2, 20) <= 0) {
                continue;
            }
            for (int i = 0; i < 2 && open; ++i) {
                if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                    continue;
                }
                const ssize_t n = ::recv(fds[i].fd, buffer.data(), buffer.size(), 0);
                if (n <= 0) {
                    open = false;
                    break;
                }
                {
                    std::lock_guard<std::mutex> lock(mutex_);
                    (i == 0 ? upstream_bytes_ : downstream_bytes_).append(buffer.data(), static_cast<size_t>(n));
                }
                open = send_all(i == 0 ? server : client, buffer.data(), static_cast<size_t>(n));
            }
        }
        client_fd_ = -1;
        server_fd_ = -1;
        ::close(client);
        ::close(server);
    }

    unsigned short upstream_;
    unsigned short port_ = 0;
    int listen_fd_ = -1;
    std::atomic<int> client_fd_{-1};
    std::atomic<int> server_fd_{-1};
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::string upstream_bytes_;
    std::string downstream_bytes_;
    std::thread thread_;
};

// Messages a client received, in order.
class inbox {
public:
    void add(const std::string& message) {
        std::lock_guard<std::mutex> lock(mutex_);
        messages_.push_back(message);
    }
    size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return messages_.size();
    }
    std::string at(size_t i) const {
        std::lock_guard<std::mutex> lock(mutex_);
        return messages_.at(i);
    }
    bool wait_for(size_t count) const {
        return wait_for_condition([&] { return size() >= count; }, std::chrono::seconds(10));
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> messages_;
};

// 1 KiB of text that compresses well (repeated, numbered lines).
std::string compressible_kib() {
    std::string text;
    for (int line = 0; text.size() < 1024; ++line) {
        text += "netsys compression line " + std::to_string(line % 8) + " -- the quick brown fox\n";
    }
    text.resize(1024);
    return text;
}

// @p size bytes that no codec can shrink.
std::string random_bytes(size_t size, uint32_t seed) {
    std::mt19937 generator(seed);
    std::string bytes(size, '\0');
    for (auto& b : bytes) {
        b = static_cast<char>(generator() & 0xff);
    }
    return bytes;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::shared_ptr<core::messaging_server> make_echo_server(const std::string& id, core::server_config config) {
    config.bind_address = "127.0.0.1";
    config.port = 0;
    auto server = std::make_shared<core::messaging_server>(id, config);
    server->set_message_handler([](auto session, const std::string& message) { session->send_message(message); });
    if (!server->start_server()) {
        throw std::runtime_error("echo server did not start: " + server->last_error().message);
    }
    return server;
}

std::shared_ptr<core::messaging_client> make_client(const std::string& id, const core::client_config& config,
                                                    inbox& received) {
    auto client = std::make_shared<core::messaging_client>(id, config);
    client->set_message_handler([&received](const std::string& message) { received.add(message); });
    return client;
}

// Sends @p messages one by one through @p client and expects each echoed
// back unchanged.
void expect_echoes(core::messaging_client& client, inbox& received, const std::vector<std::string>& messages) {
    const size_t before = received.size();
    for (size_t i = 0; i < messages.size(); ++i) {
        ASSERT_TRUE(client.send_message(messages[i])) << client.last_error().message;
        ASSERT_TRUE(received.wait_for(before + i + 1)) << "message " << i << " was not echoed";
        EXPECT_EQ(messages[i], received.at(before + i)) << "message " << i << " changed on the way";
    }
}

// ---------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------

class CompressionTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CompressionTest, RoundTripIsCompressedOnTheWire) {
    core::server_config server_config;
    server_config.compression = GetParam();
    auto server = make_echo_server("compress-server", server_config);
    recording_proxy proxy(server->port());

    core::client_config client_config;
    client_config.compression = GetParam();
    inbox received;
    auto client = make_client("compress-client", client_config, received);
    ASSERT_TRUE(client->connect("127.0.0.1", proxy.port())) << client->last_error().message;

    const std::string text = compressible_kib();
    expect_echoes(*client, received, {text});
    // Both directions carried the 1 KiB message in far fewer bytes
    // (handshake included), and never in clear.
    EXPECT_LT(proxy.client_to_server().size(), 700u);
    EXPECT_FALSE(contains(proxy.client_to_server(), text));
    EXPECT_TRUE(wait_for_condition([&] { return !proxy.server_to_client().empty(); }));
    EXPECT_LT(proxy.server_to_client().size(), 700u);
    EXPECT_FALSE(contains(proxy.server_to_client(), text));

    // Random bytes do not shrink: they are sent as they are (and still
    // arrive intact).
    const std::string noise = random_bytes(1024, 7);
    expect_echoes(*client, received, {noise, std::string(), text, random_bytes(300000, 8)});
    EXPECT_TRUE(contains(proxy.client_to_server(), noise));
}

INSTANTIATE_TEST_SUITE_P(Codecs, CompressionTest, ::testing::Values("s2", "zstd"),
                         [](const auto& info) { return info.param; });

TEST(CompressionMixedTest, CompressionOnOneSideOnlyStillTalks) {
    const std::string text = compressible_kib();
    const std::string noise = random_bytes(1024, 11);
    for (const bool server_compresses : {true, false}) {
        SCOPED_TRACE(server_compresses ? "server s2, client none" : "server none, client zstd");
        core::server_config server_config;
        server_config.compression = server_compresses ? "s2" : "";
        auto server = make_echo_server("mixed-server", server_config);
        recording_proxy proxy(server->port());
        core::client_config client_config;
        client_config.compression = server_compresses ? "" : "zstd";
        inbox received;
        auto client = make_client("mixed-client", client_config, received);
        ASSERT_TRUE(client->connect("127.0.0.1", proxy.port())) << client->last_error().message;
        expect_echoes(*client, received, {text, noise});
        // No common codec was negotiated: the text went in clear both ways.
        EXPECT_TRUE(contains(proxy.client_to_server(), text));
        EXPECT_TRUE(wait_for_condition([&] { return contains(proxy.server_to_client(), text); }));
    }
}

TEST(CompressionMinSizeTest, MessagesBelowMinCompressSizeGoInClear) {
    core::server_config server_config;
    server_config.compression = "s2";
    server_config.min_compress_size = 4096;
    auto server = make_echo_server("min-size-server", server_config);
    recording_proxy proxy(server->port());
    core::client_config client_config;
    client_config.compression = "s2";
    client_config.min_compress_size = 4096;
    inbox received;
    auto client = make_client("min-size-client", client_config, received);
    ASSERT_TRUE(client->connect("127.0.0.1", proxy.port())) << client->last_error().message;
    EXPECT_EQ(4096u, client->get_config().min_compress_size);

    const std::string small = compressible_kib();  // 1 KiB < 4096: in clear
    std::string large;                              // 8 KiB >= 4096: compressed
    while (large.size() < 8192) {
        large += small;
    }
    expect_echoes(*client, received, {small, large});
    EXPECT_TRUE(contains(proxy.client_to_server(), small));
    EXPECT_FALSE(contains(proxy.client_to_server(), large));
    EXPECT_LT(proxy.client_to_server().size(), 1024u + 2048u);
}

TEST(CompressionConfigTest, UnknownCodecIsRefused) {
    core::server_config config;
    config.compression = "lz4";
    try {
        core::messaging_server server("bad-codec", config);
        FAIL() << "an unknown codec was accepted";
    } catch (const netsys::error& e) {
        EXPECT_EQ(netsys::make_error_code(netsys::errc::invalid_argument), e.code());
        EXPECT_TRUE(contains(e.what(), "lz4")) << e.what();
    }
}

TEST(CompressionBridgeTest, EnableCompressionNegotiatesS2OnTheWire) {
    integration::messaging_bridge bridge("compressing-bridge");
    auto bc = bridge.get_config();
    bc.enable_compression = true;
    bridge.set_config(bc);

    core::server_config server_config;
    server_config.bind_address = "127.0.0.1";
    server_config.port = 0;
    auto server = bridge.create_server("bridge-server", server_config);
    server->set_message_handler([](auto session, const std::string& message) { session->send_message(message); });
    ASSERT_TRUE(server->start_server()) << server->last_error().message;
    recording_proxy proxy(server->port());

    auto client = bridge.create_client("bridge-client");
    EXPECT_EQ("s2", client->get_config().compression);
    inbox received;
    client->set_message_handler([&](const std::string& message) { received.add(message); });
    ASSERT_TRUE(client->connect("127.0.0.1", proxy.port())) << client->last_error().message;
    const std::string text = compressible_kib();
    expect_echoes(*client, received, {text});
    EXPECT_FALSE(contains(proxy.client_to_server(), text));
    EXPECT_LT(proxy.client_to_server().size(), 700u);
    client->stop_client();
    server->stop_server();
}

// ---------------------------------------------------------------------
// Transform plugins
// ---------------------------------------------------------------------

// XOR with a key, followed by a 100-byte trailer that ends with the
// length: the output is longer than the library's first buffer guess
// (input + 64), so every call goes through the size-query retry.
constexpr size_t xor_trailer = 100;

std::vector<uint8_t> xor_encode(const uint8_t* data, size_t size, uint8_t key) {
    std::vector<uint8_t> out(size + xor_trailer, 0xee);
    for (size_t i = 0; i < size; ++i) {
        out[i] = data[i] ^ key;
    }
    const uint32_t length = static_cast<uint32_t>(size);
    std::memcpy(out.data() + size + xor_trailer - 4, &length, 4);
    return out;
}

std::vector<uint8_t> xor_decode(const uint8_t* data, size_t size, uint8_t key) {
    if (size < xor_trailer) {
        throw std::runtime_error("xor frame too short");
    }
    uint32_t length = 0;
    std::memcpy(&length, data + size - 4, 4);
    if (length != size - xor_trailer) {
        throw std::runtime_error("xor frame length mismatch");
    }
    std::vector<uint8_t> out(length);
    for (size_t i = 0; i < length; ++i) {
        out[i] = data[i] ^ key;
    }
    return out;
}

std::string xor_text(const std::string& text, uint8_t key) {
    std::string out = text;
    for (auto& c : out) {
        c = static_cast<char>(static_cast<uint8_t>(c) ^ key);
    }
    return out;
}

// Registers a counting XOR transform under @p name.
void register_xor(const std::string& name, uint8_t key, std::atomic<int>& encodes, std::atomic<int>& decodes) {
    netsys::register_transform(
        name,
        [key, &encodes](const uint8_t* d, size_t n) {
            ++encodes;
            return xor_encode(d, n, key);
        },
        [key, &decodes](const uint8_t* d, size_t n) {
            ++decodes;
            return xor_decode(d, n, key);
        });
}

TEST(TransformTest, CppPluginRoundTripsAndTransformsTheWire) {
    // Counters outlive the process-lifetime registration (static).
    static std::atomic<int> encodes{0}, decodes{0};
    register_xor("cpp-xor", 0x5a, encodes, decodes);
    EXPECT_TRUE(netsys::is_transform_registered("cpp-xor"));

    core::server_config server_config;
    server_config.transforms = "cpp-xor";
    auto server = make_echo_server("xor-server", server_config);
    recording_proxy proxy(server->port());
    core::client_config client_config;
    client_config.transforms = "cpp-xor";
    inbox received;
    auto client = make_client("xor-client", client_config, received);
    ASSERT_TRUE(client->connect("127.0.0.1", proxy.port())) << client->last_error().message;

    const std::vector<std::string> messages = {std::string(), random_bytes(1, 1), random_bytes(100, 2),
                                               random_bytes(5000, 3), random_bytes(200000, 4),
                                               "a plain text message that must not be seen on the wire"};
    encodes = 0;
    decodes = 0;
    expect_echoes(*client, received, messages);
    const int n = static_cast<int>(messages.size());
    // Every message went through encode on one side and decode on the other,
    // both ways. The size-query retry reuses the first result, so the user
    // functions run (about) once per message and side, not twice.
    EXPECT_GE(encodes.load(), 2 * n);
    EXPECT_GE(decodes.load(), 2 * n);
    EXPECT_LT(encodes.load(), 3 * n);

    const std::string upstream = proxy.client_to_server();
    for (size_t i = 2; i < messages.size(); ++i) {  // 0 and 1 bytes are too short to search for
        EXPECT_FALSE(contains(upstream, messages[i])) << "message " << i << " travelled in clear";
        EXPECT_TRUE(contains(upstream, xor_text(messages[i], 0x5a))) << "message " << i << " is not XORed";
    }
    EXPECT_TRUE(wait_for_condition([&] { return contains(proxy.server_to_client(), xor_text(messages.back(), 0x5a)); }));
    EXPECT_FALSE(contains(proxy.server_to_client(), messages.back()));

    client->stop_client();
    server->stop_server();
    EXPECT_TRUE(netsys::unregister_transform("cpp-xor"));
    EXPECT_FALSE(netsys::is_transform_registered("cpp-xor"));
}

TEST(TransformTest, WithoutTheTransformTheWireIsClear) {
    // The control for the test above: the same check fails without a transform.
    auto server = make_echo_server("clear-server", {});
    recording_proxy proxy(server->port());
    inbox received;
    auto client = make_client("clear-client", {}, received);
    ASSERT_TRUE(client->connect("127.0.0.1", proxy.port()));
    const std::string text = "a plain text message that must not be seen on the wire";
    expect_echoes(*client, received, {text});
    EXPECT_TRUE(contains(proxy.client_to_server(), text));
}

TEST(TransformTest, TransformAndCompressionTogether) {
    static std::atomic<int> encodes{0}, decodes{0};
    register_xor("cpp-xor-z", 0x33, encodes, decodes);
    core::server_config server_config;
    server_config.transforms = "cpp-xor-z";
    server_config.compression = "zstd";
    auto server = make_echo_server("xz-server", server_config);
    core::client_config client_config;
    client_config.transforms = "cpp-xor-z";
    client_config.compression = "zstd";
    inbox received;
    auto client = make_client("xz-client", client_config, received);
    ASSERT_TRUE(client->connect("127.0.0.1", server->port())) << client->last_error().message;
    expect_echoes(*client, received, {compressible_kib(), random_bytes(70000, 5)});
    EXPECT_GE(decodes.load(), 4);
    client->stop_client();
    server->stop_server();
    EXPECT_TRUE(netsys::unregister_transform("cpp-xor-z"));
}

TEST(TransformTest, MismatchRejectsTheClientNamingTheTransform) {
    static std::atomic<int> encodes{0}, decodes{0};
    register_xor("cpp-only-client", 0x11, encodes, decodes);
    register_xor("cpp-only-server", 0x22, encodes, decodes);
    core::server_config server_config;
    server_config.transforms = "cpp-only-server";
    auto server = make_echo_server("mismatch-server", server_config);

    core::client_config client_config;
    client_config.transforms = "cpp-only-client";
    inbox received;
    auto client = make_client("mismatch-client", client_config, received);
    std::atomic<int> reported{0};
    client->set_error_handler([&](const std::string&, int) { ++reported; });
    EXPECT_FALSE(client->connect("127.0.0.1", server->port()));
    const auto failure = client->last_error();
    EXPECT_EQ(netsys::make_error_code(netsys::errc::rejected), failure.code);
    EXPECT_TRUE(contains(failure.message, "transform mismatch")) << failure.message;
    EXPECT_TRUE(contains(failure.message, "cpp-only-client")) << failure.message;
    EXPECT_GE(reported.load(), 1);
    EXPECT_FALSE(client->is_connected());

    // The server is unaffected: a client without transforms connects.
    inbox plain_received;
    auto plain = make_client("plain-client", {}, plain_received);
    ASSERT_TRUE(plain->connect("127.0.0.1", server->port()));
    expect_echoes(*plain, plain_received, {"still serving"});
    plain->stop_client();
    server->stop_server();
    EXPECT_TRUE(netsys::unregister_transform("cpp-only-client"));
    EXPECT_TRUE(netsys::unregister_transform("cpp-only-server"));
}

TEST(TransformTest, ThrowingDecodeClosesOnlyThatConnection) {
    // Decode throws when the decoded message is "poison"; the server's
    // decode of that message fails, which must close that client only.
    netsys::register_transform(
        "cpp-fragile", [](const uint8_t* d, size_t n) { return xor_encode(d, n, 0x77); },
        [](const uint8_t* d, size_t n) {
            auto out = xor_decode(d, n, 0x77);
            if (std::string(out.begin(), out.end()) == "poison") {
                throw std::runtime_error("fragile decoder refused the message");
            }
            return out;
        });
    core::server_config server_config;
    server_config.transforms = "cpp-fragile";
    auto server = make_echo_server("fragile-server", server_config);
    std::mutex mutex;
    std::vector<std::pair<std::string, int>> server_errors;
    std::atomic<int> server_disconnects{0};
    server->set_error_handler([&](const std::string& message, int code) {
        std::lock_guard<std::mutex> lock(mutex);
        server_errors.emplace_back(message, code);
    });
    server->set_disconnect_handler([&](auto, const std::string&) { ++server_disconnects; });

    core::client_config client_config;
    client_config.transforms = "cpp-fragile";
    inbox victim_received, bystander_received;
    auto victim = make_client("victim", client_config, victim_received);
    auto bystander = make_client("bystander", client_config, bystander_received);
    std::mutex victim_mutex;
    std::string victim_reason;
    std::atomic<bool> victim_disconnected{false};
    victim->set_disconnect_handler([&](const std::string& reason) {
        std::lock_guard<std::mutex> lock(victim_mutex);
        victim_reason = reason;
        victim_disconnected = true;
    });
    ASSERT_TRUE(victim->connect("127.0.0.1", server->port())) << victim->last_error().message;
    ASSERT_TRUE(bystander->connect("127.0.0.1", server->port())) << bystander->last_error().message;
    expect_echoes(*victim, victim_received, {"healthy"});
    ASSERT_TRUE(wait_for_condition([&] { return server->connection_count() == 2; }));

    ASSERT_TRUE(victim->send_message("poison"));
    ASSERT_TRUE(wait_for_condition([&] { return victim_disconnected.load(); }));
    {
        std::lock_guard<std::mutex> lock(victim_mutex);
        EXPECT_TRUE(contains(victim_reason, "cpp-fragile")) << victim_reason;
    }
    ASSERT_TRUE(wait_for_condition([&] {
        std::lock_guard<std::mutex> lock(mutex);
        return !server_errors.empty();
    }));
    {
        std::lock_guard<std::mutex> lock(mutex);
        EXPECT_EQ(static_cast<int>(netsys::errc::transform), server_errors.front().second)
            << server_errors.front().first;
        EXPECT_TRUE(contains(server_errors.front().first, "cpp-fragile")) << server_errors.front().first;
    }
    EXPECT_TRUE(wait_for_condition([&] { return server_disconnects.load() == 1; }));
    EXPECT_EQ(1u, victim_received.size());  // "poison" was never echoed

    // The other connection on the same server keeps working.
    EXPECT_TRUE(bystander->is_connected());
    EXPECT_EQ(1u, server->connection_count());
    expect_echoes(*bystander, bystander_received, {"still here", random_bytes(4000, 9)});
    bystander->stop_client();
    server->stop_server();
    EXPECT_TRUE(netsys::unregister_transform("cpp-fragile"));
}

TEST(TransformTest, ThrowingEncodeFailsTheSend) {
    netsys::register_transform(
        "cpp-no-encode",
        [](const uint8_t* d, size_t n) -> std::vector<uint8_t> {
            if (n == 4 && std::memcmp(d, "fail", 4) == 0) {
                throw 42;  // not even a std::exception
            }
            return xor_encode(d, n, 0x01);
        },
        [](const uint8_t* d, size_t n) { return xor_decode(d, n, 0x01); });
    core::server_config server_config;
    server_config.transforms = "cpp-no-encode";
    auto server = make_echo_server("encode-server", server_config);
    core::client_config client_config;
    client_config.transforms = "cpp-no-encode";
    inbox received;
    auto client = make_client("encode-client", client_config, received);
    ASSERT_TRUE(client->connect("127.0.0.1", server->port())) << client->last_error().message;
    EXPECT_FALSE(client->send_message("fail"));
    EXPECT_EQ(netsys::make_error_code(netsys::errc::transform), client->last_error().code)
        << client->last_error().message;
    client->stop_client();
    server->stop_server();
    EXPECT_TRUE(netsys::unregister_transform("cpp-no-encode"));
}

TEST(TransformTest, ReplacingKeepsOpenConnectionsOnTheirFunctions) {
    static std::atomic<int> v1_encodes{0}, v1_decodes{0}, v2_encodes{0}, v2_decodes{0};
    v1_decodes = 0;  // statics: reset for --gtest_repeat
    v2_decodes = 0;
    register_xor("cpp-swap", 0x11, v1_encodes, v1_decodes);
    core::server_config server_config;
    server_config.transforms = "cpp-swap";
    auto server = make_echo_server("swap-server", server_config);
    core::client_config client_config;
    client_config.transforms = "cpp-swap";
    inbox old_received;
    auto old_client = make_client("old", client_config, old_received);
    ASSERT_TRUE(old_client->connect("127.0.0.1", server->port()));

    register_xor("cpp-swap", 0x22, v2_encodes, v2_decodes);  // replaces v1 for new handshakes
    const int v1_before = v1_decodes.load();
    expect_echoes(*old_client, old_received, {"on v1", random_bytes(3000, 12)});
    EXPECT_EQ(v1_before + 4, v1_decodes.load());
    EXPECT_EQ(0, v2_decodes.load());

    inbox new_received;
    auto new_client = make_client("new", client_config, new_received);
    ASSERT_TRUE(new_client->connect("127.0.0.1", server->port()));
    expect_echoes(*new_client, new_received, {"on v2"});
    EXPECT_EQ(2, v2_decodes.load());

    // Unregistered: no new handshake may use it, open connections go on.
    EXPECT_TRUE(netsys::unregister_transform("cpp-swap"));
    EXPECT_FALSE(netsys::unregister_transform("cpp-swap"));
    expect_echoes(*old_client, old_received, {"v1 after unregister"});
    expect_echoes(*new_client, new_received, {"v2 after unregister"});
    inbox late_received;
    try {
        auto late = make_client("late", client_config, late_received);
        FAIL() << "a client was configured with an unregistered transform";
    } catch (const netsys::error& e) {
        EXPECT_EQ(netsys::make_error_code(netsys::errc::invalid_argument), e.code());
        EXPECT_TRUE(contains(e.what(), "cpp-swap")) << e.what();
    }
    old_client->stop_client();
    new_client->stop_client();
    server->stop_server();
}

TEST(TransformTest, BadRegistrationsGiveClearErrors) {
    const auto identity = [](const uint8_t* d, size_t n) { return std::vector<uint8_t>(d, d + n); };
    const auto expect_invalid = [](const std::function<void()>& call, const std::string& mention) {
        try {
            call();
            ADD_FAILURE() << "accepted: " << mention;
        } catch (const netsys::error& e) {
            EXPECT_EQ(netsys::make_error_code(netsys::errc::invalid_argument), e.code()) << e.what();
            EXPECT_TRUE(contains(e.what(), mention)) << e.what();
        }
    };
    expect_invalid([&] { netsys::register_transform("", identity, identity); }, "name");
    expect_invalid([&] { netsys::register_transform(std::string(256, 'n'), identity, identity); }, "name");
    expect_invalid([&] { netsys::register_transform(std::string("nul\0name", 8), identity, identity); }, "NUL");
    expect_invalid([&] { netsys::register_transform("no-decode", identity, nullptr); }, "decode");
    EXPECT_FALSE(netsys::is_transform_registered("no-decode"));
    EXPECT_FALSE(netsys::unregister_transform("never-registered"));
    expect_invalid([&] { netsys::unregister_transform(std::string("a\0b", 3)); }, "NUL");
    // Nothing of the above was left registered.
    core::client_config config;
    config.transforms = "no-decode";
    core::messaging_client client("probe");
    EXPECT_FALSE(client.set_config(config));
    EXPECT_EQ(netsys::make_error_code(netsys::errc::invalid_argument), client.last_error().code);
}

TEST(TransformTest, RegisteringFromSeveralThreadsIsSafe) {
    static std::atomic<int> encodes{0}, decodes{0};
    register_xor("cpp-shared", 0x42, encodes, decodes);
    core::server_config server_config;
    server_config.transforms = "cpp-shared";
    auto server = make_echo_server("threads-server", server_config);
    core::client_config client_config;
    client_config.transforms = "cpp-shared";
    inbox received;
    auto client = make_client("threads-client", client_config, received);
    ASSERT_TRUE(client->connect("127.0.0.1", server->port()));

    // Four threads register, replace and unregister their own names and
    // replace the shared one, while the connection keeps using it.
    constexpr int threads = 4;
    constexpr int rounds = 200;
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([t, &failures] {
            for (int i = 0; i < rounds; ++i) {
                try {
                    const std::string own = "cpp-mt-" + std::to_string(t) + "-" + std::to_string(i % 5);
                    register_xor(own, static_cast<uint8_t>(i), encodes, decodes);
                    if (i % 2 == 0 && !netsys::unregister_transform(own)) {
                        ++failures;
                    }
                    register_xor("cpp-shared", static_cast<uint8_t>(t + 1), encodes, decodes);
                } catch (const std::exception&) {
                    ++failures;
                }
            }
        });
    }
    std::vector<std::string> messages;
    for (int i = 0; i < 50; ++i) {
        messages.push_back("message " + std::to_string(i) + random_bytes(static_cast<size_t>(i) * 37, i));
    }
    expect_echoes(*client, received, messages);
    for (auto& worker : workers) {
        worker.join();
    }
    EXPECT_EQ(0, failures.load());

    // Each name ends in the state of its thread's last round using it
    // (195 + k for name k): odd rounds leave it registered, even rounds
    // unregister it.
    for (int t = 0; t < threads; ++t) {
        for (int k = 0; k < 5; ++k) {
            const std::string own = "cpp-mt-" + std::to_string(t) + "-" + std::to_string(k);
            const int last_round = rounds - 5 + k;  // rounds is a multiple of 5
            const bool expected = last_round % 2 != 0;
            EXPECT_EQ(expected, netsys::is_transform_registered(own)) << own;
            EXPECT_EQ(expected, netsys::unregister_transform(own)) << own;  // the C library agrees
        }
    }
    // A new connection uses the shared transform as last replaced.
    inbox new_received;
    auto new_client = make_client("threads-late", client_config, new_received);
    ASSERT_TRUE(new_client->connect("127.0.0.1", server->port()));
    expect_echoes(*new_client, new_received, {"after the storm"});
    client->stop_client();
    new_client->stop_client();
    server->stop_server();
    EXPECT_TRUE(netsys::unregister_transform("cpp-shared"));
}

}  // namespace
}  // namespace network_system::test
