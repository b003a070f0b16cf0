// PROXY protocol headers: see proxy_header.hpp. The v1 addresses are written as inet_ntop
// writes them (RFC 5952: lower-case hex, the longest run of two or more zero groups as "::",
// the first of equal runs; ::ffff:a.b.c.d and ::a.b.c.d in dotted form), so that a receiver
// comparing text sees what any other sender would send.
#include "engine/proxy_header.hpp"

#include <netinet/in.h>

#include <cstdint>
#include <cstring>

namespace ringprobe::engine {

namespace {

constexpr unsigned char v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                            0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr unsigned char v2_proxy_command = 0x21;  // version 2, PROXY
constexpr unsigned char v2_tcp4 = 0x11;           // AF_INET, STREAM
constexpr unsigned char v2_tcp6 = 0x21;           // AF_INET6, STREAM

char* put(char* p, const char* text, std::size_t n) {
    std::memcpy(p, text, n);
    return p + n;
}

char* put_decimal(char* p, unsigned v) {  // v <= 65535
    char digits[5];
    int n = 0;
    do {
        digits[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        *p++ = digits[--n];
    }
    return p;
}

char* put_ipv4(char* p, const unsigned char* a) {
    for (int i = 0; i < 4; ++i) {
        if (i != 0) {
            *p++ = '.';
        }
        p = put_decimal(p, a[i]);
    }
    return p;
}

char* put_hex16(char* p, unsigned v) {
    static constexpr char hex[] = "0123456789abcdef";
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
        const unsigned d = (v >> shift) & 0xF;
        if (d != 0 || started || shift == 0) {
            *p++ = hex[d];
            started = true;
        }
    }
    return p;
}

char* put_ipv6(char* p, const unsigned char* a) {
    unsigned words[8];
    for (int i = 0; i < 8; ++i) {
        words[i] = static_cast<unsigned>(a[2 * i] << 8 | a[2 * i + 1]);
    }
    int best = -1;
    int best_len = 0;
    for (int i = 0; i < 8;) {
        if (words[i] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && words[j] == 0) {
            ++j;
        }
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2) {
        best = -1;  // a single zero group is written, not compressed
    }
    for (int i = 0; i < 8; ++i) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best) {
                *p++ = ':';
            }
            continue;
        }
        if (i != 0) {
            *p++ = ':';
        }
        // IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) end in dotted form.
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xFFFF))) {
            return put_ipv4(p, a + 12);
        }
        p = put_hex16(p, words[i]);
    }
    if (best >= 0 && best + best_len == 8) {
        *p++ = ':';
    }
    return p;
}

std::size_t build_v1(const sockaddr* src, const sockaddr* dst, char* out) {
    char* p = out;
    if (src->sa_family == AF_INET) {
        const auto* s = reinterpret_cast<const sockaddr_in*>(src);
        const auto* d = reinterpret_cast<const sockaddr_in*>(dst);
        p = put(p, "PROXY TCP4 ", 11);
        p = put_ipv4(p, reinterpret_cast<const unsigned char*>(&s->sin_addr));
        *p++ = ' ';
        p = put_ipv4(p, reinterpret_cast<const unsigned char*>(&d->sin_addr));
        *p++ = ' ';
        p = put_decimal(p, ntohs(s->sin_port));
        *p++ = ' ';
        p = put_decimal(p, ntohs(d->sin_port));
    } else {
        const auto* s = reinterpret_cast<const sockaddr_in6*>(src);
        const auto* d = reinterpret_cast<const sockaddr_in6*>(dst);
        p = put(p, "PROXY TCP6 ", 11);
        p = put_ipv6(p, s->sin6_addr.s6_addr);
        *p++ = ' ';
        p = put_ipv6(p, d->sin6_addr.s6_addr);
        *p++ = ' ';
        p = put_decimal(p, ntohs(s->sin6_port));
        *p++ = ' ';
        p = put_decimal(p, ntohs(d->sin6_port));
    }
    p = put(p, "\r\n", 2);
    return static_cast<std::size_t>(p - out);
}

std::size_t build_v2(const sockaddr* src, const sockaddr* dst, char* out) {
    auto* p = reinterpret_cast<unsigned char*>(out);
    std::memcpy(p, v2_signature, sizeof v2_signature);
    p[12] = v2_proxy_command;
    // Addresses and ports are copied as the sockaddrs hold them: in network byte order, as the
    // header wants them.
    if (src->sa_family == AF_INET) {
        const auto* s = reinterpret_cast<const sockaddr_in*>(src);
        const auto* d = reinterpret_cast<const sockaddr_in*>(dst);
        p[13] = v2_tcp4;
        p[14] = 0;
        p[15] = 12;
        std::memcpy(p + 16, &s->sin_addr, 4);
        std::memcpy(p + 20, &d->sin_addr, 4);
        std::memcpy(p + 24, &s->sin_port, 2);
        std::memcpy(p + 26, &d->sin_port, 2);
        return 28;
    }
    const auto* s = reinterpret_cast<const sockaddr_in6*>(src);
    const auto* d = reinterpret_cast<const sockaddr_in6*>(dst);
    p[13] = v2_tcp6;
    p[14] = 0;
    p[15] = 36;
    std::memcpy(p + 16, &s->sin6_addr, 16);
    std::memcpy(p + 32, &d->sin6_addr, 16);
    std::memcpy(p + 48, &s->sin6_port, 2);
    std::memcpy(p + 50, &d->sin6_port, 2);
    return 52;
}

}  // namespace

std::size_t build_proxy_header(ProxyProtocol version, const sockaddr* src, const sockaddr* dst,
                               char (&out)[proxy_header_max]) {
    if (src->sa_family != dst->sa_family ||
        (src->sa_family != AF_INET && src->sa_family != AF_INET6)) {
        return 0;
    }
    switch (version) {
        case ProxyProtocol::V1: return build_v1(src, dst, out);
        case ProxyProtocol::V2: return build_v2(src, dst, out);
        case ProxyProtocol::None: break;
    }
    return 0;
}

}  // namespace ringprobe::engine
