// Small text helpers (text.hpp).
#include "common/text.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace ringprobe {

namespace {

char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

struct Civil {
    std::int64_t year;
    unsigned month;  // 1..12
    unsigned day;    // 1..31
};

// The civil date of a count of days since 1970-01-01 (Howard Hinnant's civil_from_days): no
// mktime, no time zone state.
Civil civil_from_days(std::int64_t days) {
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const std::int64_t doe = days - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const auto day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
    const auto month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
    return Civil{yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool is_ip_literal(std::string_view s) {
    char buf[64];
    if (s.empty() || s.size() >= sizeof buf) {
        return false;
    }
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    unsigned char addr[16];
    return ::inet_pton(AF_INET, buf, addr) == 1 || ::inet_pton(AF_INET6, buf, addr) == 1;
}

std::string_view host_without_port(std::string_view host) {
    if (!host.empty() && host.front() == '[') {
        const auto close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(1, close - 1);
    }
    const auto colon = host.find(':');
    if (colon == std::string_view::npos || host.find(':', colon + 1) != std::string_view::npos) {
        return host;
    }
    const std::string_view port = host.substr(colon + 1);
    for (char ch : port) {
        if (ch < '0' || ch > '9') {
            return host;
        }
    }
    return host.substr(0, colon);
}

std::size_t format_utc(std::int64_t unix_s, char (&out)[utc_text_max]) {
    std::int64_t days = unix_s / 86400;
    std::int64_t secs = unix_s % 86400;
    if (secs < 0) {
        secs += 86400;
        --days;
    }
    const Civil c = civil_from_days(days);
    std::size_t n = 0;
    auto two = [&](std::int64_t v) {
        out[n++] = static_cast<char>('0' + v / 10);
        out[n++] = static_cast<char>('0' + v % 10);
    };
    auto put = [&](char ch) { out[n++] = ch; };
    if (c.year >= 0 && c.year <= 9999) {
        two(c.year / 100);
        two(c.year % 100);
    } else {
        auto [end, ec] = std::to_chars(out, out + 24, c.year);
        (void)ec;  // 24 bytes hold any int64
        n = static_cast<std::size_t>(end - out);
    }
    put('-');
    two(c.month);
    put('-');
    two(c.day);
    put('T');
    two(secs / 3600);
    put(':');
    two(secs / 60 % 60);
    put(':');
    two(secs % 60);
    put('Z');
    return n;
}

void append_utc(std::string& out, std::int64_t unix_s) {
    char buf[utc_text_max];
    out.append(buf, format_utc(unix_s, buf));
}

}  // namespace ringprobe
