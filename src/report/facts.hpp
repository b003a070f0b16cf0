// What a snapshot knows about one target, looked up for the words and the renderers: its
// effective health (the engine's view, or Unknown when the engine cannot be trusted), its TLS
// facts and DNS state (layout 2), the certificate early warning, and which certificate of the
// presented chain a reason is about.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <ringprobe/report.hpp>
#include <ringprobe/result.hpp>

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

// "DNS stale: lookups failing (timeout), last good answer 42 s ago" (no period).
void append_dns_standing(std::string& out, const Snapshot& snap, std::uint32_t target_index);

// The certificate early warning: true when the target's state carries kStateCertExpiring;
// days is then the whole days left until the earliest notAfter (from the TLS facts; -1 if the
// facts were not copied).
bool cert_expiring(const Snapshot& snap, std::uint32_t target_index, std::int64_t& days);
// The engine flagged the row flapping (kStateFlapping: its health changed at least
// flappingChanges times within its last 32 results), and its state is shown.
bool is_flapping(const Snapshot& snap, std::uint32_t target_index);

// minServers, as the gateway applies it: when fewer than a setting's minServers rows of one
// pool x setting are Healthy, that many are still counted healthy for routing. The rows so
// counted are the group's first rows in configuration order that are not Healthy, until minServers
// rows (Healthy or counted) are reached or the group has no more. Each row keeps its true health;
// the mark is beside it. Nothing is counted while the engine's answer cannot be trusted (every row
// Unknown: engine stopped, gone or stale). Fills snap.counted_by_min_servers; every snapshot a
// Report takes has it.
void mark_min_servers(Snapshot& snap);
bool counted_by_min_servers(const Snapshot& snap, std::uint32_t row_index);
// The rows of a pool counted healthy by minServers (over all its settings).
std::uint32_t pool_counted_by_min_servers(const Snapshot& snap, std::uint32_t pool_index);
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

}  // namespace ringprobe::report
