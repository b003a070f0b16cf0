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

void append_utc(std::string& out, std::int64_t t) {
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm): no mktime, no locale.
    std::int64_t days = t / 86400;
    std::int64_t secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        --days;
    }
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const std::int64_t doe = days - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
    auto two = [&](std::int64_t v) {
        out += static_cast<char>('0' + v / 10);
        out += static_cast<char>('0' + v % 10);
    };
    if (y >= 0 && y <= 9999) {
        two(y / 100);
        two(y % 100);
    } else {
        append_int(out, y);
    }
    out += '-';
    two(m);
    out += '-';
    two(d);
    out += 'T';
    two(secs / 3600);
    out += ':';
    two(secs / 60 % 60);
    out += ':';
    two(secs % 60);
    out += 'Z';
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

}  // namespace ringprobe::report
