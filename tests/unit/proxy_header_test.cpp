// What this proves: build_proxy_header (src/engine/proxy_header.cpp) writes the PROXY protocol
// headers of HAProxy's doc/proxy-protocol.txt byte for byte: v2's signature, command, family,
// length, addresses and ports in network order, for IPv4 and IPv6; v1's text line, with IPv6
// addresses written exactly as inet_ntop writes them (checked against it on fixed corner cases
// and on seeded random addresses, seed printed), never longer than the protocol's 107 bytes;
// and nothing at all for mismatched or unknown families.
#include "engine/proxy_header.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <random>
#include <string>

#include "test_seed.hpp"

namespace ringprobe::engine {
namespace {

sockaddr_in v4(const char* addr, std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    EXPECT_EQ(::inet_pton(AF_INET, addr, &a.sin_addr), 1) << addr;
    return a;
}

sockaddr_in6 v6(const char* addr, std::uint16_t port) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    EXPECT_EQ(::inet_pton(AF_INET6, addr, &a.sin6_addr), 1) << addr;
    return a;
}

template <typename A>
std::string header(ProxyProtocol v, const A& src, const A& dst) {
    char out[proxy_header_max];
    std::memset(out, 0x5A, sizeof out);
    const std::size_t n = build_proxy_header(v, reinterpret_cast<const sockaddr*>(&src),
                                             reinterpret_cast<const sockaddr*>(&dst), out);
    return std::string(out, n);
}

const std::string kSignature("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);

TEST(ProxyHeader, V2Ipv4IsSignatureCommandFamilyLengthAddressesPorts) {
    const std::string got = header(ProxyProtocol::V2, v4("127.0.0.1", 40000), v4("10.2.0.4", 5432));
    const std::string want = kSignature + std::string("\x21\x11\x00\x0C", 4) +
                             std::string("\x7F\x00\x00\x01", 4) +
                             std::string("\x0A\x02\x00\x04", 4) + std::string("\x9C\x40", 2) +
                             std::string("\x15\x38", 2);
    EXPECT_EQ(got, want);
    EXPECT_EQ(got.size(), 28u);
}

TEST(ProxyHeader, V2Ipv6CarriesSixteenByteAddresses) {
    const std::string got = header(ProxyProtocol::V2, v6("::1", 1), v6("fd00:db8::4", 65535));
    std::string want = kSignature + std::string("\x21\x21\x00\x24", 4);
    want += std::string(15, '\0') + "\x01";
    want += std::string("\xFD\x00\x0D\xB8", 4) + std::string(11, '\0') + "\x04";
    want += std::string("\x00\x01\xFF\xFF", 4);
    EXPECT_EQ(got, want);
    EXPECT_EQ(got.size(), 52u);
}

TEST(ProxyHeader, V1Ipv4IsOneTextLine) {
    EXPECT_EQ(header(ProxyProtocol::V1, v4("127.0.0.1", 40000), v4("10.2.0.4", 5432)),
              "PROXY TCP4 127.0.0.1 10.2.0.4 40000 5432\r\n");
    EXPECT_EQ(header(ProxyProtocol::V1, v4("0.0.0.0", 0), v4("255.255.255.255", 65535)),
              "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
}

TEST(ProxyHeader, V1Ipv6WritesCompressedAddresses) {
    EXPECT_EQ(header(ProxyProtocol::V1, v6("::1", 51000), v6("fd00:db8:2::4", 8443)),
              "PROXY TCP6 ::1 fd00:db8:2::4 51000 8443\r\n");
}

TEST(ProxyHeader, V1LongestHeaderFitsTheProtocolsBound) {
    const std::string got =
        header(ProxyProtocol::V1, v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
               v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535));
    EXPECT_EQ(got.size(), proxy_header_max);
    EXPECT_LE(got.size(), 107u);
    EXPECT_EQ(got.substr(got.size() - 2), "\r\n");
}

// The v1 text of one IPv6 address, cut out of the header (source field).
std::string v1_text(const in6_addr& a) {
    sockaddr_in6 s{};
    s.sin6_family = AF_INET6;
    s.sin6_addr = a;
    const std::string h = header(ProxyProtocol::V1, s, s);
    return h.substr(11, h.find(' ', 11) - 11);
}

std::string ntop(const in6_addr& a) {
    char text[INET6_ADDRSTRLEN];
    EXPECT_NE(::inet_ntop(AF_INET6, &a, text, sizeof text), nullptr);
    return text;
}

TEST(ProxyHeader, V1Ipv6TextIsInetNtopsOnCornerCases) {
    for (const char* s : {"::", "::1", "1::", "1::1", "::ffff:10.0.0.1", "::10.0.0.1",
                          "1:0:0:1::", "1:0:1:0:1:0:1:0", "0:1:0:0:1:0:0:1", "1:2:3:4:5:6:7:8",
                          "fe80::1:0:0:0", "0:0:1::", "::ffff:0:0", "::0:1:0:0"}) {
        in6_addr a{};
        ASSERT_EQ(::inet_pton(AF_INET6, s, &a), 1) << s;
        EXPECT_EQ(v1_text(a), ntop(a)) << s;
    }
}

TEST(ProxyHeader, V1Ipv6TextIsInetNtopsOnRandomAddresses) {
    const std::uint64_t seed = testing::test_seed("V1Ipv6TextIsInetNtopsOnRandomAddresses");
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 20000; ++i) {
        in6_addr a{};
        for (int w = 0; w < 8; ++w) {
            // Mostly zero groups, so that runs of every length and position come up.
            const std::uint64_t r = rng();
            const unsigned v = r % 3 == 0 ? static_cast<unsigned>(r >> 8) & 0xFFFF : 0;
            a.s6_addr[2 * w] = static_cast<unsigned char>(v >> 8);
            a.s6_addr[2 * w + 1] = static_cast<unsigned char>(v);
        }
        if (rng() % 8 == 0) {
            std::memset(a.s6_addr, 0, 10);
            a.s6_addr[10] = a.s6_addr[11] = 0xFF;  // IPv4-mapped
        }
        ASSERT_EQ(v1_text(a), ntop(a)) << "seed " << seed;
    }
}

TEST(ProxyHeader, MismatchedOrUnknownFamiliesOrNoVersionWriteNothing) {
    const sockaddr_in a = v4("127.0.0.1", 1);
    const sockaddr_in6 b = v6("::1", 1);
    char out[proxy_header_max];
    EXPECT_EQ(build_proxy_header(ProxyProtocol::V2, reinterpret_cast<const sockaddr*>(&a),
                                 reinterpret_cast<const sockaddr*>(&b), out),
              0u);
    sockaddr_in u = a;
    u.sin_family = AF_UNIX;
    EXPECT_EQ(build_proxy_header(ProxyProtocol::V1, reinterpret_cast<const sockaddr*>(&u),
                                 reinterpret_cast<const sockaddr*>(&u), out),
              0u);
    EXPECT_EQ(header(ProxyProtocol::None, a, a), "");
}

}  // namespace
}  // namespace ringprobe::engine
