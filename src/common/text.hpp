// Small text helpers that several modules need: ASCII case folding, the IP-literal test and
// UTC time stamps. None of them depends on the locale or the process's time zone, so workers,
// the configuration reader and the report tools can call them from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringprobe {

// Equal ignoring ASCII case (header names, protocol words, DNS names); other bytes compare as
// they are.
bool iequals(std::string_view a, std::string_view b);

// True for IPv4 and IPv6 address literals ("10.0.0.1", "::1"), as inet_pton reads them.
bool is_ip_literal(std::string_view s);

// The host of a Host header value or a hostName setting, without its port and brackets:
// "example.com:8443" -> "example.com", "[::1]:443" -> "::1". A bare IPv6 literal ("::1", more
// than one colon) and a name without a port come back as they are.
std::string_view host_without_port(std::string_view host);

// The length of s cut to at most max bytes without splitting a UTF-8 character: the cut backs
// off over continuation bytes, so a reader of the first n bytes never gets half a character.
// Inline: the writer calls it for every published result.
inline std::size_t utf8_prefix_length(std::string_view s, std::size_t max) {
    if (s.size() <= max) {
        return s.size();
    }
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
        --n;
    }
    return n;
}

// Room for any format_utc() text: a year outside 0..9999 is written in full.
inline constexpr std::size_t utc_text_max = 32;

// "2024-01-01T00:00:00Z" for Unix seconds, proleptic Gregorian, no NUL. Returns the length
// (20 for years 0..9999).
std::size_t format_utc(std::int64_t unix_s, char (&out)[utc_text_max]);
void append_utc(std::string& out, std::int64_t unix_s);

}  // namespace ringprobe
