#include "common/notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <array>
#include <charconv>
#include <string>

namespace ringprobe::notify {
namespace {

// sd_notify returns > 0 when the message went out, 0 without NOTIFY_SOCKET, < 0 on an error.
// The caller can do nothing about an error but carry on, so both collapse to false.
bool send(const char* message) {
    return sd_notify(0, message) > 0;
}

std::uint64_t monotonic_now_us() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1'000u;
}

}  // namespace

bool ready() {
    return send("READY=1");
}

bool reloading() {
    std::array<char, 64> message{};
    constexpr std::string_view head = "RELOADING=1\nMONOTONIC_USEC=";
    head.copy(message.data(), head.size());
    char* const end = message.data() + message.size() - 1;  // keeps the terminating NUL
    const auto [ptr, ec] = std::to_chars(message.data() + head.size(), end, monotonic_now_us());
    if (ec != std::errc{}) {
        return false;
    }
    *ptr = '\0';
    return send(message.data());
}

bool status(std::string_view line) {
    std::string message = "STATUS=";
    message.reserve(message.size() + line.size());
    for (const char c : line) {
        message.push_back(c == '\n' ? ' ' : c);
    }
    return send(message.c_str());
}

bool stopping() {
    return send("STOPPING=1");
}

bool watchdog() {
    return send("WATCHDOG=1");
}

std::uint64_t watchdog_usec() {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0) {
        return 0;
    }
    return usec;
}

}  // namespace ringprobe::notify
