// One parser for a numeric address with an optional port, as the command line writes it
// (--listen, --dns-server):
//
//   127.0.0.1:5353   IPv4 and a port
//   127.0.0.1        IPv4 alone
//   [::1]:53         IPv6 in brackets and a port (RFC 3986's form, the only one that can carry
//                    a port: the address's own colons would swallow it)
//   [::1]            IPv6 in brackets alone
//   ::1              IPv6 alone
//
// Names are refused: the operator gives addresses here, and resolving them at start-up would
// hide a typo behind a lookup. Whether a port is required is the caller's rule (--listen needs
// one, --dns-server defaults to 53), so the parser only says whether one was written.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace ringprobe {

struct HostPort {
    std::string host;  // the numeric address without brackets: "127.0.0.1", "::1"
    bool ipv6 = false;
    bool has_port = false;
    std::uint16_t port = 0;

    // "127.0.0.1:53" or "[::1]:53": the form every parser of ADDR:PORT reads back.
    std::string to_string() const {
        return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }

    // 127.0.0.0/8 or ::1 (and ::ffff:127.x.y.z, the same loopback seen through IPv6).
    bool is_loopback() const {
        if (!ipv6) {
            in_addr a{};
            return ::inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
        }
        in6_addr a{};
        if (::inet_pton(AF_INET6, host.c_str(), &a) != 1) {
            return false;
        }
        return IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
    }

    // The socket address for bind or connect; len receives its size.
    sockaddr_storage sockaddr(socklen_t& len) const {
        sockaddr_storage ss{};
        if (ipv6) {
            auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
            sa->sin6_family = AF_INET6;
            sa->sin6_port = htons(port);
            ::inet_pton(AF_INET6, host.c_str(), &sa->sin6_addr);
            len = sizeof(sockaddr_in6);
        } else {
            auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
            sa->sin_family = AF_INET;
            sa->sin_port = htons(port);
            ::inet_pton(AF_INET, host.c_str(), &sa->sin_addr);
            len = sizeof(sockaddr_in);
        }
        return ss;
    }
};

namespace host_port_detail {

inline bool is_ipv4(const std::string& s) {
    in_addr a{};
    return ::inet_pton(AF_INET, s.c_str(), &a) == 1;
}

inline bool is_ipv6(const std::string& s) {
    in6_addr a{};
    return ::inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

// The digits after the colon: 0 to 65535, decimal, nothing else.
inline Result<std::uint16_t> parse_port(std::string_view text, std::string_view whole) {
    unsigned v = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc{} || p != end || v > 65535) {
        return error("port '" + std::string(text) + "' in '" + std::string(whole) +
                     "' is not a number from 0 to 65535");
    }
    return static_cast<std::uint16_t>(v);
}

}  // namespace host_port_detail

// Parses one of the forms above; errors say what is wrong with the text as given.
inline Result<HostPort> parse_host_port(std::string_view text) {
    using namespace host_port_detail;
    const std::string whole(text);
    const auto not_an_address = [&whole] {
        return error("'" + whole +
                     "' is not an address: give IPv4 as 127.0.0.1:53, IPv6 as [::1]:53 or ::1");
    };
    HostPort hp;
    if (text.starts_with('[')) {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos) {
            return error("'" + whole + "' opens a bracket it does not close");
        }
        hp.host = std::string(text.substr(1, close - 1));
        hp.ipv6 = true;
        if (!is_ipv6(hp.host)) {
            return error("'" + hp.host + "' in '" + whole + "' is not an IPv6 address");
        }
        const std::string_view rest = text.substr(close + 1);
        if (rest.empty()) {
            return hp;
        }
        if (rest.front() != ':') {
            return not_an_address();
        }
        auto port = parse_port(rest.substr(1), text);
        if (!port) {
            return unexpected(port.error());
        }
        hp.has_port = true;
        hp.port = *port;
        return hp;
    }
    const std::size_t first = text.find(':');
    if (first != std::string_view::npos && text.find(':', first + 1) != std::string_view::npos) {
        // Two colons or more: the whole text is an IPv6 address, with no room for a port.
        hp.host = whole;
        hp.ipv6 = true;
        if (!is_ipv6(hp.host)) {
            return not_an_address();
        }
        return hp;
    }
    hp.host = std::string(text.substr(0, first));
    if (!is_ipv4(hp.host)) {
        return not_an_address();
    }
    if (first == std::string_view::npos) {
        return hp;
    }
    auto port = parse_port(text.substr(first + 1), text);
    if (!port) {
        return unexpected(port.error());
    }
    hp.has_port = true;
    hp.port = *port;
    return hp;
}

}  // namespace ringprobe
