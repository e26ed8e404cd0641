#pragma once

// Small helpers shared by the C++ examples: "--name value" arguments and
// waiting for SIGINT/SIGTERM or end of stdin. Example code, not library code.

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>

namespace example {

/// "--key value" pairs and "--flag" switches from argv.
class arguments {
public:
    /// Parses argv; every option starts with "--". A following word that
    /// does not start with "--" is its value.
    arguments(int argc, char** argv) {
        for (int i = 1; i < argc; ++i) {
            std::string key = argv[i];
            if (key.rfind("--", 0) != 0) {
                throw std::invalid_argument("unexpected argument: " + key);
            }
            key = key.substr(2);
            if (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) {
                values_[key] = argv[++i];
            } else {
                values_[key] = "";
            }
        }
    }

    /// Whether --key was given.
    bool has(const std::string& key) const { return values_.count(key) != 0; }

    /// The value of --key, or @p fallback.
    std::string get(const std::string& key, const std::string& fallback) const {
        auto it = values_.find(key);
        return it == values_.end() ? fallback : it->second;
    }

    /// The value of --key as an integer in [low, high], or @p fallback.
    long number(const std::string& key, long fallback, long low, long high) const {
        auto it = values_.find(key);
        if (it == values_.end()) {
            return fallback;
        }
        char* end = nullptr;
        errno = 0;
        const long value = std::strtol(it->second.c_str(), &end, 10);
        if (it->second.empty() || *end != '\0' || errno != 0 || value < low || value > high) {
            throw std::invalid_argument("--" + key + " must be a number in " + std::to_string(low) + ".." +
                                        std::to_string(high));
        }
        return value;
    }

private:
    std::map<std::string, std::string> values_;
};

namespace detail {
inline int signal_pipe[2] = {-1, -1};
inline void on_signal(int) {
    const char byte = 1;
    (void)!::write(signal_pipe[1], &byte, 1);
}
}  // namespace detail

/// Blocks until SIGINT or SIGTERM arrives, or (unless @p watch_stdin is
/// false) stdin reaches end of file. Returns a short reason.
inline std::string wait_for_shutdown(bool watch_stdin) {
    if (::pipe(detail::signal_pipe) != 0) {
        throw std::runtime_error("pipe() failed");
    }
    struct sigaction action {};
    action.sa_handler = detail::on_signal;
    action.sa_flags = SA_RESTART | SA_ONSTACK;  // SA_ONSTACK: the Go runtime shares the process
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    pollfd fds[2] = {{detail::signal_pipe[0], POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    for (;;) {
        const int ready = ::poll(fds, watch_stdin ? 2 : 1, -1);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready < 0) {
            return "poll failed";
        }
        if (fds[0].revents != 0) {
            return "signal";
        }
        if (watch_stdin && fds[1].revents != 0) {
            char buffer[256];
            const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
            if (n <= 0) {
                return "end of stdin";
            }
        }
    }
}

}  // namespace example
