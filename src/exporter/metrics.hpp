// GET /metrics: the Prometheus text exposition format, version 0.0.4.
//
// Every family, its labels and where its numbers come from are listed in docs/exporter.md.
// Cardinality is bounded by the configuration's shape, never by its size: labels are pools,
// settings, reasons (a closed table), health values, error kinds, DNS outcomes and TLS handshake
// kinds. The one per-server family by default is the certificate expiry of TLS rows, capped at
// tls_expiry_max series (those that expire first); per_server (ringprobe run
// --metrics-per-server) lifts that cap and adds the per-row health and duration.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/counters.hpp"
#include "exporter/http_server.hpp"
#include "exporter/probe_tally.hpp"
#include "report/reader.hpp"

namespace ringprobe::exporter {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

struct EngineFacts {
    unsigned workers = 0;
    std::string ring_mode;
    std::size_t memory_bytes = 0;
};

// What the TLS certificate metrics need from the report's TlsFacts section: per TLS slot
// (TargetRecord::tls_slot) the earliest notAfter over the chain and the anchor of the last full
// handshake, Unix seconds; 0 while no full handshake has been seen. Kept apart from the
// snapshot so the exporter can copy that section (about 2 KiB per TLS target) less often than
// it is scraped: certificates change rarely.
struct TlsExpiry {
    std::vector<std::int64_t> not_after_s;
};
TlsExpiry tls_expiry_of(const report::Snapshot& snap);  // from snap.tls (empty if not copied)

// How many ringprobe_tls_cert_expiry_timestamp_seconds series a scrape carries by default: the
// rows whose certificates expire first. per_server lifts the cap.
inline constexpr std::uint32_t kTlsExpirySeriesMax = 1000;

// The resolver's outcome codes, indexed like ResolverStatsPayload::by_outcome and
// NameStatePayload::last_outcome (the same tokens as src/dns/policy.hpp's outcome_table).
inline constexpr std::string_view kDnsOutcomeCodes[9] = {"pending", "ok",          "nxdomain",
                                                         "nodata",  "servfail",    "timeout",
                                                         "refused", "unreachable", "other"};

struct MetricsInput {
    const engine::EngineTotals* totals = nullptr;  // null: no engine in this process
    const EngineFacts* facts = nullptr;
    const report::Snapshot* snap = nullptr;  // null: the report could not be read
    const ProbeTally* tally = nullptr;       // null with snap
    const ServerStats* server = nullptr;
    bool per_server = false;
    const TlsExpiry* tls_expiry = nullptr;  // null: no certificate expiry series this time
    std::uint32_t tls_expiry_max = kTlsExpirySeriesMax;
};

std::string render_metrics(const MetricsInput& in);

// Appends v as the inside of a label value (backslash, double quote and newline escaped).
void append_label_value(std::string& out, std::string_view v);

// The histogram's `le` boundaries in microseconds: powers of two from 64 µs to 2^26 µs (67 s).
// Each is an edge of the engine's log-linear buckets, so the cumulative counts are exact.
inline constexpr unsigned kLeFirstPow2 = 6;
inline constexpr unsigned kLeLastPow2 = 26;

}  // namespace ringprobe::exporter
