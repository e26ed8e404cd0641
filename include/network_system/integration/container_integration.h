#pragma once

/// @file container_integration.h
/// @brief Pluggable message serialization for network_system: an abstract
/// container, a small built-in one and a process-wide registry.
///
/// The network moves bytes; these classes turn application values into those
/// bytes and back. They were part of the original network_system's public
/// surface, and messaging_system code registers its own containers here.

#include <algorithm>
#include <any>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

namespace network_system::integration {

/// Serializes application values (held in std::any) to bytes and back.
class container_interface {
public:
    /// Destroys the container.
    virtual ~container_interface() = default;

    /// Encodes @p data. Throws std::invalid_argument for a type it cannot encode.
    virtual std::vector<uint8_t> serialize(const std::any& data) const = 0;

    /// Decodes @p data. Throws std::invalid_argument for malformed input.
    virtual std::any deserialize(const std::vector<uint8_t>& data) const = 0;

    /// A name for diagnostics.
    virtual std::string type_name() const = 0;

    /// Whether the container can be used.
    virtual bool is_valid() const = 0;
};

/// A container for the common scalar types, with replaceable codecs.
///
/// The default encoding is one tag byte followed by the value:
/// `'s'` + UTF-8 bytes (std::string, const char*), `'i'` + 8-byte big-endian
/// two's complement (int, long, long long), `'d'` + 8-byte big-endian IEEE 754
/// (double, float), `'b'` + one byte 0/1 (bool). An empty std::any encodes to
/// no bytes and decodes back from none.
class basic_container : public container_interface {
public:
    /// Encoder replacing the default one.
    using serializer_t = std::function<std::vector<uint8_t>(const std::any&)>;
    /// Decoder replacing the default one.
    using deserializer_t = std::function<std::any(const std::vector<uint8_t>&)>;

    /// Encodes with the custom serializer if set, else the default encoding.
    std::vector<uint8_t> serialize(const std::any& data) const override {
        serializer_t custom;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            custom = serializer_;
        }
        return custom ? custom(data) : default_serialize(data);
    }

    /// Decodes with the custom deserializer if set, else the default encoding.
    std::any deserialize(const std::vector<uint8_t>& data) const override {
        deserializer_t custom;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            custom = deserializer_;
        }
        return custom ? custom(data) : default_deserialize(data);
    }

    /// Returns "basic_container".
    std::string type_name() const override { return "basic_container"; }

    /// Always true: the default codecs need no setup.
    bool is_valid() const override { return true; }

    /// Replaces the encoder (an empty function restores the default).
    void set_serializer(serializer_t serializer) {
        std::lock_guard<std::mutex> lock(mutex_);
        serializer_ = std::move(serializer);
    }

    /// Replaces the decoder (an empty function restores the default).
    void set_deserializer(deserializer_t deserializer) {
        std::lock_guard<std::mutex> lock(mutex_);
        deserializer_ = std::move(deserializer);
    }

    /// The default encoding (see the class comment).
    static std::vector<uint8_t> default_serialize(const std::any& data) {
        if (!data.has_value()) {
            return {};
        }
        if (const auto* s = std::any_cast<std::string>(&data)) {
            return tagged('s', s->data(), s->size());
        }
        if (const auto* c = std::any_cast<const char*>(&data)) {
            return tagged('s', *c, *c ? std::strlen(*c) : 0);
        }
        if (const auto* b = std::any_cast<bool>(&data)) {
            return {static_cast<uint8_t>('b'), static_cast<uint8_t>(*b ? 1 : 0)};
        }
        if (const auto* i = std::any_cast<int>(&data)) {
            return integer(*i);
        }
        if (const auto* l = std::any_cast<long>(&data)) {
            return integer(*l);
        }
        if (const auto* ll = std::any_cast<long long>(&data)) {
            return integer(*ll);
        }
        if (const auto* d = std::any_cast<double>(&data)) {
            return floating(*d);
        }
        if (const auto* f = std::any_cast<float>(&data)) {
            return floating(*f);
        }
        throw std::invalid_argument(std::string("basic_container cannot serialize type ") +
                                    data.type().name() +
                                    " (supported: string, int, long, double, float, bool)");
    }

    /// Decodes the default encoding: 'i' gives an int when the value fits,
    /// else a long long; 'd' gives a double.
    static std::any default_deserialize(const std::vector<uint8_t>& data) {
        if (data.empty()) {
            return {};
        }
        const uint8_t tag = data[0];
        const std::size_t body = data.size() - 1;
        switch (tag) {
            case 's':
                return std::string(data.begin() + 1, data.end());
            case 'b':
                if (body != 1 || data[1] > 1) {
                    break;
                }
                return data[1] == 1;
            case 'i': {
                if (body != 8) {
                    break;
                }
                const auto value = static_cast<long long>(read_u64(data));
                if (value >= INT32_MIN && value <= INT32_MAX) {
                    return static_cast<int>(value);
                }
                return value;
            }
            case 'd': {
                if (body != 8) {
                    break;
                }
                const uint64_t bits = read_u64(data);
                double value = 0;
                std::memcpy(&value, &bits, sizeof value);
                return value;
            }
            default:
                throw std::invalid_argument("basic_container: unknown type tag " +
                                            std::to_string(static_cast<int>(tag)));
        }
        throw std::invalid_argument(std::string("basic_container: malformed value of tag '") +
                                    static_cast<char>(tag) + "' (" + std::to_string(body) +
                                    " payload bytes)");
    }

private:
    static std::vector<uint8_t> tagged(char tag, const char* bytes, std::size_t size) {
        std::vector<uint8_t> out;
        out.reserve(size + 1);
        out.push_back(static_cast<uint8_t>(tag));
        out.insert(out.end(), bytes, bytes + size);
        return out;
    }

    static std::vector<uint8_t> with_u64(char tag, uint64_t value) {
        std::vector<uint8_t> out(9);
        out[0] = static_cast<uint8_t>(tag);
        for (int i = 0; i < 8; ++i) {
            out[8 - i] = static_cast<uint8_t>(value >> (8 * i));
        }
        return out;
    }

    static std::vector<uint8_t> integer(long long value) {
        return with_u64('i', static_cast<uint64_t>(value));
    }

    static std::vector<uint8_t> floating(double value) {
        uint64_t bits = 0;
        std::memcpy(&bits, &value, sizeof bits);
        return with_u64('d', bits);
    }

    static uint64_t read_u64(const std::vector<uint8_t>& data) {
        uint64_t value = 0;
        for (std::size_t i = 1; i <= 8; ++i) {
            value = (value << 8) | data[i];
        }
        return value;
    }

    mutable std::mutex mutex_;
    serializer_t serializer_;
    deserializer_t deserializer_;
};

/// Process-wide registry of named containers plus a default one.
///
/// Thread safety: all methods are safe from any thread.
class container_manager {
public:
    /// The single instance.
    static container_manager& instance() {
        static container_manager manager;
        return manager;
    }

    /// Registers (or replaces) @p container under @p name. Throws
    /// std::invalid_argument for a null container.
    void register_container(const std::string& name,
                            std::shared_ptr<container_interface> container) {
        if (!container) {
            throw std::invalid_argument("container_manager: null container for \"" + name + "\"");
        }
        std::lock_guard<std::mutex> lock(mutex_);
        containers_[name] = std::move(container);
    }

    /// The container registered as @p name, or nullptr.
    std::shared_ptr<container_interface> get_container(const std::string& name) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = containers_.find(name);
        return it == containers_.end() ? nullptr : it->second;
    }

    /// Sets the container serialize()/deserialize() use (nullptr clears it).
    void set_default_container(std::shared_ptr<container_interface> container) {
        std::lock_guard<std::mutex> lock(mutex_);
        default_ = std::move(container);
    }

    /// The default container, or nullptr if none was set.
    std::shared_ptr<container_interface> get_default_container() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return default_;
    }

    /// Encodes with the default container, or with basic_container's default
    /// encoding when none is set.
    std::vector<uint8_t> serialize(const std::any& data) const {
        if (auto container = get_default_container()) {
            return container->serialize(data);
        }
        return basic_container::default_serialize(data);
    }

    /// Decodes with the default container, or with basic_container's default
    /// encoding when none is set.
    std::any deserialize(const std::vector<uint8_t>& data) const {
        if (auto container = get_default_container()) {
            return container->deserialize(data);
        }
        return basic_container::default_deserialize(data);
    }

    /// Names of the registered containers, sorted.
    std::vector<std::string> list_containers() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::string> names;
        names.reserve(containers_.size());
        for (const auto& entry : containers_) {
            names.push_back(entry.first);
        }
        return names;
    }

private:
    container_manager() = default;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<container_interface>> containers_;
    std::shared_ptr<container_interface> default_;
};

}  // namespace network_system::integration
