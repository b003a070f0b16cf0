// ringprobe/result.hpp: the closed vocabulary of a probe's outcome.
//
// Everything that can end a probe is one Reason. The table below is the single source of the
// wire code (a short stable token used in JSON, logs and metric labels), the layer the failure
// belongs to (HAProxy's L4/L6/L7 split, plus DNS and the prober itself) and whether the reason
// counts against the backend. Reader tools, the engine and the exporter all use this table;
// the numeric values are part of the shared-memory report ABI, so new reasons are appended and
// existing ones are never renumbered.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace ringprobe {

enum class Health : std::uint8_t {
    Unknown = 0,
    Healthy = 1,
    Unhealthy = 2,
    // Not probed by this engine: another shard owns the target (ringprobe run --shard). Only
    // a sharded engine's report has it; a merged report shows the owner's health instead.
    OtherShard = 3,
};

constexpr std::string_view health_name(Health h) {
    switch (h) {
        case Health::Unknown: return "Unknown";
        case Health::Healthy: return "Healthy";
        case Health::Unhealthy: return "Unhealthy";
        case Health::OtherShard: return "OtherShard";
    }
    return "Unknown";
}

enum class Layer : std::uint8_t {
    None = 0,    // no probe has completed yet
    Dns = 1,     // name resolution
    L4 = 2,      // TCP connect
    L6 = 3,      // TLS handshake and certificate
    L7 = 4,      // HTTP response
    Prober = 5,  // our own side: never counted against the backend
    Engine = 6,  // the reader could not get a fresh answer from the engine
};

enum class Reason : std::uint16_t {
    Pending = 0,             // no result yet (health Unknown)
    Ok = 1,                  // success; for Http(s) the status is in the record
    ConnectRefused = 2,      // RST in answer to SYN
    ConnectTimeout = 3,      // no SYN-ACK before the deadline
    ConnectUnreachable = 4,  // EHOSTUNREACH / ENETUNREACH
    ConnectionReset = 5,     // RST after the connection was established
    ResponseTimeout = 6,     // connected, no complete valid response before the deadline
    StatusMismatch = 7,      // status outside the match ranges
    BodyMismatch = 8,        // match.body not found in the inspected body
    MalformedResponse = 9,   // not parseable as HTTP/1.x
    ResponseTooLarge = 10,   // headers over the parser's bound
    ClosedEarly = 11,        // peer closed before a complete response
    DnsNxdomain = 12,        // the name does not exist
    DnsNoData = 13,          // the name exists but has no address of the wanted family
    DnsServfail = 14,        // the server failed
    DnsTimeout = 15,         // no answer from the DNS server
    DnsNoAddress = 16,       // no address left to probe (health Unknown)
    TlsNameMismatch = 17,
    TlsExpired = 18,
    TlsNotYetValid = 19,
    TlsIntermediateMissing = 20,
    TlsLeafMissing = 21,
    TlsUntrustedRoot = 22,       // chain ends in a root that is not a well-known CA
    TlsRootMismatchNoRoot = 23,  // no root sent and no trusted root signed the intermediate
    TlsRootMismatch = 24,        // the root sent is not among the trusted roots
    TlsLeafNotTopmost = 25,
    TlsVerifyOther = 26,
    TlsAlert = 27,
    TlsProtocolVersion = 28,
    TlsHandshakeTimeout = 29,
    TlsHandshakeFailed = 30,
    ProberNoFds = 31,      // EMFILE / ENFILE
    ProberNoBuffers = 32,  // ENOBUFS / ENOMEM
    ProberNoPorts = 33,    // EADDRNOTAVAIL: local ports exhausted
    // 34 is never written, so the codes after it keep their numbers in existing reports: a
    // full submission queue is flushed and retried by the ring (Ring::sqe), not a probe's outcome.
    Unused34 = 34,
    ProberError = 35,         // any other local failure (errno in the record)
    EngineUnreachable = 36,   // set by readers only: heartbeat stale or engine gone
    AddressUnknown = 37,      // a NIC member no --nics file gives an address for (health Unknown)
    ProxyRejected = 38,       // closed after our PROXY protocol header, before answering anything
    OtherShard = 39,          // another engine's shard probes it (health OtherShard)
    ClientCertRequired = 40,  // the server asked for a client certificate and we have none
    ClientCertRejected = 41,  // the server refused ours (an alert, or HTTP 400 after asking)
};

inline constexpr std::size_t reason_count = 42;

struct ReasonInfo {
    Reason reason;
    std::string_view code;  // stable token: logs, JSON, metric label values
    Layer layer;
    bool counts_against_backend;
};

// One row per Reason, in numeric order (checked by static_assert below).
inline constexpr std::array<ReasonInfo, reason_count> reason_table{{
    {Reason::Pending, "pending", Layer::None, false},
    {Reason::Ok, "ok", Layer::None, false},
    {Reason::ConnectRefused, "connect_refused", Layer::L4, true},
    {Reason::ConnectTimeout, "connect_timeout", Layer::L4, true},
    {Reason::ConnectUnreachable, "connect_unreachable", Layer::L4, true},
    {Reason::ConnectionReset, "connection_reset", Layer::L4, true},
    {Reason::ResponseTimeout, "response_timeout", Layer::L7, true},
    {Reason::StatusMismatch, "status_mismatch", Layer::L7, true},
    {Reason::BodyMismatch, "body_mismatch", Layer::L7, true},
    {Reason::MalformedResponse, "malformed_response", Layer::L7, true},
    {Reason::ResponseTooLarge, "response_too_large", Layer::L7, true},
    {Reason::ClosedEarly, "closed_early", Layer::L7, true},
    {Reason::DnsNxdomain, "dns_nxdomain", Layer::Dns, true},
    {Reason::DnsNoData, "dns_nodata", Layer::Dns, true},
    {Reason::DnsServfail, "dns_servfail", Layer::Dns, true},
    {Reason::DnsTimeout, "dns_timeout", Layer::Dns, true},
    {Reason::DnsNoAddress, "dns_no_address", Layer::Dns, false},
    {Reason::TlsNameMismatch, "tls_name_mismatch", Layer::L6, true},
    {Reason::TlsExpired, "tls_expired", Layer::L6, true},
    {Reason::TlsNotYetValid, "tls_not_yet_valid", Layer::L6, true},
    {Reason::TlsIntermediateMissing, "tls_intermediate_missing", Layer::L6, true},
    {Reason::TlsLeafMissing, "tls_leaf_missing", Layer::L6, true},
    {Reason::TlsUntrustedRoot, "tls_untrusted_root", Layer::L6, true},
    {Reason::TlsRootMismatchNoRoot, "tls_root_mismatch_no_root", Layer::L6, true},
    {Reason::TlsRootMismatch, "tls_root_mismatch", Layer::L6, true},
    {Reason::TlsLeafNotTopmost, "tls_leaf_not_topmost", Layer::L6, true},
    {Reason::TlsVerifyOther, "tls_verify_failed", Layer::L6, true},
    {Reason::TlsAlert, "tls_alert", Layer::L6, true},
    {Reason::TlsProtocolVersion, "tls_protocol_version", Layer::L6, true},
    {Reason::TlsHandshakeTimeout, "tls_handshake_timeout", Layer::L6, true},
    {Reason::TlsHandshakeFailed, "tls_handshake_failed", Layer::L6, true},
    {Reason::ProberNoFds, "prober_no_fds", Layer::Prober, false},
    {Reason::ProberNoBuffers, "prober_no_buffers", Layer::Prober, false},
    {Reason::ProberNoPorts, "prober_no_ports", Layer::Prober, false},
    {Reason::Unused34, "unused", Layer::Prober, false},
    {Reason::ProberError, "prober_error", Layer::Prober, false},
    {Reason::EngineUnreachable, "engine_unreachable", Layer::Engine, false},
    {Reason::AddressUnknown, "address_unknown", Layer::Dns, false},
    {Reason::ProxyRejected, "proxy_rejected", Layer::L4, true},
    {Reason::OtherShard, "other_shard", Layer::Engine, false},
    {Reason::ClientCertRequired, "client_cert_required", Layer::L6, true},
    {Reason::ClientCertRejected, "client_cert_rejected", Layer::L6, true},
}};

namespace detail {
constexpr bool reason_table_in_order() {
    for (std::size_t i = 0; i < reason_table.size(); ++i) {
        if (static_cast<std::size_t>(reason_table[i].reason) != i) {
            return false;
        }
    }
    return true;
}
}  // namespace detail
static_assert(detail::reason_table_in_order(), "reason_table must list every Reason in order");

constexpr const ReasonInfo& reason_info(Reason r) {
    auto i = static_cast<std::size_t>(r);
    return reason_table[i < reason_count ? i : static_cast<std::size_t>(Reason::ProberError)];
}

constexpr bool reason_is_prober_side(Reason r) {
    return reason_info(r).layer == Layer::Prober;
}

}  // namespace ringprobe
