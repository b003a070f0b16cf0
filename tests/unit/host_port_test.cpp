// parse_host_port (src/common/host_port.hpp), the one reader of ADDR[:PORT] on the command line
// (--listen, --dns-server): IPv4 with or without a port, IPv6 in brackets with or without one,
// and IPv6 alone; names, unclosed brackets, a port out of range or a port glued to a bare IPv6
// address are refused with the text named. to_string() writes back a form the parser reads to
// the same address, and is_loopback() knows both families' loopback.
#include <gtest/gtest.h>

#include <string>

#include "common/host_port.hpp"

namespace ringprobe {
namespace {

HostPort parsed(const std::string& text) {
    auto hp = parse_host_port(text);
    EXPECT_TRUE(hp.has_value()) << text << ": " << (hp ? "" : hp.error().message);
    return hp ? *hp : HostPort{};
}

TEST(HostPort, ReadsIpv4WithAPort) {
    const HostPort hp = parsed("127.0.0.1:5353");
    EXPECT_EQ(hp.host, "127.0.0.1");
    EXPECT_FALSE(hp.ipv6);
    EXPECT_TRUE(hp.has_port);
    EXPECT_EQ(hp.port, 5353);
}

TEST(HostPort, ReadsIpv4AloneWithoutAPort) {
    const HostPort hp = parsed("10.0.0.4");
    EXPECT_EQ(hp.host, "10.0.0.4");
    EXPECT_FALSE(hp.ipv6);
    EXPECT_FALSE(hp.has_port);
}

TEST(HostPort, ReadsBracketedIpv6WithAPort) {
    const HostPort hp = parsed("[::1]:53");
    EXPECT_EQ(hp.host, "::1");
    EXPECT_TRUE(hp.ipv6);
    EXPECT_TRUE(hp.has_port);
    EXPECT_EQ(hp.port, 53);
}

TEST(HostPort, ReadsBracketedIpv6WithoutAPort) {
    const HostPort hp = parsed("[fd00::2]");
    EXPECT_EQ(hp.host, "fd00::2");
    EXPECT_TRUE(hp.ipv6);
    EXPECT_FALSE(hp.has_port);
}

TEST(HostPort, ReadsBareIpv6AsAnAddressWithoutAPort) {
    const HostPort hp = parsed("::1");
    EXPECT_EQ(hp.host, "::1");
    EXPECT_TRUE(hp.ipv6);
    EXPECT_FALSE(hp.has_port);
    // The last group of a bare address is the address's own, never taken for a port.
    const HostPort full = parsed("2001:db8::53");
    EXPECT_EQ(full.host, "2001:db8::53");
    EXPECT_FALSE(full.has_port);
}

TEST(HostPort, ReadsPortZeroAndPortMax) {
    EXPECT_EQ(parsed("127.0.0.1:0").port, 0);
    EXPECT_EQ(parsed("[::1]:65535").port, 65535);
}

TEST(HostPort, RefusesNamesAndMalformedAddressesNamingTheText) {
    for (const std::string bad :
         {"localhost:53", "loopback", "", ":53", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:5x",
          "127.0.0.1:-1", "[::1", "[::1]53", "[::1]:", "[127.0.0.1]:53", "::1:53:zz",
          "256.0.0.1:53", "[::1]:99999"}) {
        auto hp = parse_host_port(bad);
        EXPECT_FALSE(hp.has_value()) << "'" << bad << "' was accepted";
        if (!hp) {
            EXPECT_NE(hp.error().message.find("'"), std::string::npos) << hp.error().message;
        }
    }
}

TEST(HostPort, ToStringReadsBackToTheSameAddress) {
    for (const std::string text : {"127.0.0.1:53", "[::1]:53", "[fd00::2]:9470"}) {
        const HostPort hp = parsed(text);
        EXPECT_EQ(hp.to_string(), text);
        const HostPort again = parsed(hp.to_string());
        EXPECT_EQ(again.host, hp.host);
        EXPECT_EQ(again.ipv6, hp.ipv6);
        EXPECT_EQ(again.port, hp.port);
    }
}

TEST(HostPort, KnowsLoopbackInBothFamilies) {
    EXPECT_TRUE(parsed("127.0.0.1").is_loopback());
    EXPECT_TRUE(parsed("127.1.70.9:1").is_loopback());
    EXPECT_TRUE(parsed("::1").is_loopback());
    EXPECT_TRUE(parsed("[::ffff:127.0.0.1]:80").is_loopback());
    EXPECT_FALSE(parsed("10.0.0.4").is_loopback());
    EXPECT_FALSE(parsed("::").is_loopback());
    EXPECT_FALSE(parsed("fd00::1").is_loopback());
}

TEST(HostPort, SockaddrCarriesFamilyAndPort) {
    socklen_t len = 0;
    sockaddr_storage v4 = parsed("127.0.0.1:9470").sockaddr(len);
    EXPECT_EQ(v4.ss_family, AF_INET);
    EXPECT_EQ(len, sizeof(sockaddr_in));
    EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&v4)->sin_port), 9470);
    sockaddr_storage v6 = parsed("[::1]:9470").sockaddr(len);
    EXPECT_EQ(v6.ss_family, AF_INET6);
    EXPECT_EQ(len, sizeof(sockaddr_in6));
    EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in6*>(&v6)->sin6_port), 9470);
}

}  // namespace
}  // namespace ringprobe
