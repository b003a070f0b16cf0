// What the report says about one server: its effective health (the engine's view, or Unknown
// when the engine cannot be trusted), the healthProbeLog sentence, and the short words the
// table shows. ringprobe's own wording, one sentence per Reason.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <ringprobe/report.hpp>
#include <ringprobe/result.hpp>

#include "common/text.hpp"  // append_utc: "2024-01-01T00:00:00Z"
#include "report/reader.hpp"

namespace ringprobe::report {

struct Effective {
    Health health;
    Reason reason;
    const report_abi::TargetStatePayload* state;  // null when the engine's answer is not shown
};

// Unknown/EngineUnreachable for every target when the engine is stopped, gone or stale, and
// Unknown/Pending for a target whose copy was torn every attempt this time.
Effective effective(const Snapshot& snap, std::uint32_t target_index);

// The healthProbeLog sentence for one target (ends with a period, no newline).
void append_probe_log(std::string& out, const Snapshot& snap, std::uint32_t target_index);

// A few words for the table: "200 OK", "connection refused", "status 503 (want 200-399)".
void append_result_words(std::string& out, const Snapshot& snap, std::uint32_t target_index);

// Number helpers (std::to_chars; no iostreams).
void append_uint(std::string& out, std::uint64_t v);
void append_int(std::string& out, std::int64_t v);
void append_duration_ms(std::string& out, std::uint64_t ms);  // "30 s", "1500 ms"
void append_age(std::string& out, std::uint64_t ns);          // "12 s", "4 min", "3 h", "2 d"
void append_us_as_ms(std::string& out, std::uint32_t us);      // "1.25 ms"
// Appends s for a terminal: control bytes (and DEL) become '?', so report text cannot move the
// cursor or change colours.
void append_printable(std::string& out, std::string_view s);

// ---- Layout 2: TLS facts and DNS state of one target ------------------------------------------

// The target's TLS facts, or null (not Https/Tls, not copied, slot out of range).
const report_abi::TlsFactsPayload* tls_facts(const Snapshot& snap, std::uint32_t target_index);
// The target's name state, or null (not an FQDN target, not copied, slot out of range).
const report_abi::NameStatePayload* name_state(const Snapshot& snap, std::uint32_t target_index);
// The target's kAddressesPerName address records (empty when name_state() is null); callers
// skip records with family 0.
std::span<const report_abi::AddressStatePayload> address_states(const Snapshot& snap,
                                                                std::uint32_t target_index);

std::string_view dns_standing_name(std::uint8_t standing);  // "fresh", "never_resolved"...
std::string_view dns_outcome_name(std::uint8_t outcome);    // "ok", "nxdomain", "timeout"...
void append_ip(std::string& out, const report_abi::AddressStatePayload& a);  // "10.0.0.1", "::1"
void append_sha256(std::string& out, const std::uint8_t (&sha)[32]);          // "AB:CD:..."
// The text of a fixed-size NUL-terminated field (the reader terminated it at its last byte).
template <std::size_t N>
std::string_view fixed_text(const char (&text)[N]) {
    std::size_t n = 0;
    while (n < N && text[n] != '\0') {
        ++n;
    }
    return std::string_view(text, n);
}

// "DNS stale: lookups failing (timeout), last good answer 42 s ago" (no period).
void append_dns_standing(std::string& out, const Snapshot& snap, std::uint32_t target_index);

// The certificate early warning: true when the target's state carries kStateCertExpiring;
// days is then the whole days left until the earliest notAfter (from the TLS facts; -1 if the
// facts were not copied).
bool cert_expiring(const Snapshot& snap, std::uint32_t target_index, std::int64_t& days);
std::int64_t days_until(std::int64_t not_after_s, std::uint64_t now_unix_ns);

// Which certificate of the presented chain the reason is about, and why, for the chain drawn
// by --troubleshoot and the table's details. index -1: no single certificate.
struct CertFault {
    int index;
    std::string_view why;  // "expired", "not yet valid", "name does not match"...
};
// One mark per certificate of facts.chain (chain_count entries); .index is the certificate's
// own index when it is at fault, else -1.
std::array<CertFault, report_abi::kChainRecords> cert_faults(const report_abi::TlsFactsPayload& f,
                                                              Reason reason,
                                                              std::uint64_t now_unix_ns);

// ---- Troubleshooting ---------------------------------------------------------------------------

// The part of client -> ringprobe -> backend a reason points at (the gateway portal's drawing).
enum class FaultPart : std::uint8_t {
    None,         // Ok or nothing known yet
    Report,       // client -> ringprobe: the engine cannot be reached
    Prober,       // ringprobe itself (descriptors, ports, buffers)
    Resolution,   // ringprobe's DNS lookup of the server's name
    Link,         // the TCP connection ringprobe -> server
    Handshake,    // the TLS handshake ringprobe -> server (no certificate at fault)
    Certificate,  // the server's certificate chain
    Server,       // the server's HTTP answer
};
FaultPart fault_part(Reason reason);
std::string_view fault_part_words(FaultPart part);  // "the server's certificate chain"

// What to change, in one or two sentences naming the setting's field or the server's part
// (e.g. "Set trustedRootCertificates on backend setting https443 to the root that signed ...").
// For one report row (the setting and pool come from it). Ends with a period.
void append_remedy(std::string& out, const Snapshot& snap, std::uint32_t row_index);

}  // namespace ringprobe::report
