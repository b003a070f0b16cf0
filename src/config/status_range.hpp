// A range of HTTP status codes a probe accepts (a probe's match.statusCodes entry, "200-399").
//
// Its own header so that the HTTP parser, which judges a status line against these ranges,
// needs nothing else of the configuration.
#pragma once

#include <cstdint>

namespace ringprobe {

struct StatusRange {
    std::uint16_t lo = 200;
    std::uint16_t hi = 399;  // inclusive
    bool operator==(const StatusRange&) const = default;
};

}  // namespace ringprobe
