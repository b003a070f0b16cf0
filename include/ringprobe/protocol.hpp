// ringprobe/protocol.hpp: what a probe speaks to a backend.
//
// The configuration reads it from a backend setting or a custom probe, and the shared-memory
// report stores it as one byte (SettingRecord::protocol, TargetRecord::protocol): the numeric
// values are part of the report ABI, so they are never renumbered. A reader needs this header
// and report.hpp only.
#pragma once

#include <cstdint>

namespace ringprobe {

enum class Protocol : std::uint8_t { Http = 0, Https = 1, Tcp = 2, Tls = 3 };

constexpr const char* protocol_name(Protocol p) {
    switch (p) {
        case Protocol::Http: return "Http";
        case Protocol::Https: return "Https";
        case Protocol::Tcp: return "Tcp";
        case Protocol::Tls: return "Tls";
    }
    return "Http";
}

constexpr bool protocol_is_tls(Protocol p) {
    return p == Protocol::Https || p == Protocol::Tls;
}
constexpr bool protocol_is_http(Protocol p) {
    return p == Protocol::Http || p == Protocol::Https;
}

}  // namespace ringprobe
