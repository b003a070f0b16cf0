// Numbers, times, addresses and fixed-size report text as a person reads them. Numbers go
// through std::to_chars and everything is appended in place: no iostreams, no locale.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <ringprobe/report.hpp>

#include "common/text.hpp"  // append_utc: "2024-01-01T00:00:00Z"

namespace ringprobe::report {

void append_uint(std::string& out, std::uint64_t v);
void append_int(std::string& out, std::int64_t v);
void append_duration_ms(std::string& out, std::uint64_t ms);  // "30 s", "1500 ms"
void append_age(std::string& out, std::uint64_t ns);          // "12 s", "4 min", "3 h", "2 d"
void append_us_as_ms(std::string& out, std::uint32_t us);     // "1.25 ms"
// Appends s for a terminal: control bytes (and DEL) become '?', so report text cannot move the
// cursor or change colours.
void append_printable(std::string& out, std::string_view s);
// --events --since and /events?since=: "90s", "10m", "2h", "1d", or a bare number of seconds
// (at most 10 years), as nanoseconds; false when it is none of these.
bool parse_since(std::string_view s, std::uint64_t& ns);

// TargetRecord::proxy_protocol as the configuration spells it: "none", "v1", "v2".
std::string_view proxy_protocol_name(std::uint8_t record);
void append_ip(std::string& out, const report_abi::AddressStatePayload& a);  // "10.0.0.1", "::1"
void append_sha256(std::string& out, const std::uint8_t (&sha)[32]);         // "AB:CD:..."
// The text of a fixed-size NUL-terminated field (the reader terminated it at its last byte).
template <std::size_t N>
std::string_view fixed_text(const char (&text)[N]) {
    std::size_t n = 0;
    while (n < N && text[n] != '\0') {
        ++n;
    }
    return std::string_view(text, n);
}

}  // namespace ringprobe::report
