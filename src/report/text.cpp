// Text helpers (see text.hpp).
#include "report/text.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace ringprobe::report {
namespace abi = report_abi;

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_duration_ms(std::string& out, std::uint64_t ms) {
    if (ms % 1000 == 0) {
        append_uint(out, ms / 1000);
        out += " s";
    } else {
        append_uint(out, ms);
        out += " ms";
    }
}

void append_age(std::string& out, std::uint64_t ns) {
    const std::uint64_t s = ns / 1'000'000'000ULL;
    if (s < 120) {
        append_uint(out, s);
        out += " s";
    } else if (s < 7200) {
        append_uint(out, s / 60);
        out += " min";
    } else if (s < 172800) {
        append_uint(out, s / 3600);
        out += " h";
    } else {
        append_uint(out, s / 86400);
        out += " d";
    }
}

void append_us_as_ms(std::string& out, std::uint32_t us) {
    append_uint(out, us / 1000);
    const std::uint32_t frac = us % 1000 / 10;
    out += '.';
    out += static_cast<char>('0' + frac / 10);
    out += static_cast<char>('0' + frac % 10);
    out += " ms";
}

void append_printable(std::string& out, std::string_view s) {
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        out += c < 0x20 || c == 0x7f ? '?' : ch;
    }
}

void append_ip(std::string& out, const abi::AddressStatePayload& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    const int af = a.family == 6 ? AF_INET6 : AF_INET;
    if (a.family == 0 || ::inet_ntop(af, a.address, buf, sizeof buf) == nullptr) {
        out += '-';
        return;
    }
    out += buf;
}

void append_sha256(std::string& out, const std::uint8_t (&sha)[32]) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (std::size_t i = 0; i < 32; ++i) {
        if (i > 0) {
            out += ':';
        }
        out += kHex[sha[i] >> 4];
        out += kHex[sha[i] & 15];
    }
}

// "90s", "10m", "2h", "1d", or a bare number of seconds; at most 10 years.
bool parse_since(std::string_view s, std::uint64_t& ns) {
    std::uint64_t n = 0;
    std::size_t i = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
        n = n * 10 + static_cast<std::uint64_t>(s[i] - '0');
        if (n > 10ull * 366 * 86400) {
            return false;
        }
    }
    if (i == 0 || i + 1 < s.size()) {
        return false;
    }
    std::uint64_t unit_s = 1;
    if (i < s.size()) {
        switch (s[i]) {
            case 's': unit_s = 1; break;
            case 'm': unit_s = 60; break;
            case 'h': unit_s = 3600; break;
            case 'd': unit_s = 86400; break;
            default: return false;
        }
    }
    ns = n * unit_s * 1'000'000'000ull;
    return true;
}

std::string_view proxy_protocol_name(std::uint8_t record) {
    switch (record) {
        case report_abi::kProxyV1: return "v1";
        case report_abi::kProxyV2: return "v2";
        default: return "none";
    }
}

}  // namespace ringprobe::report
