// GET /metrics: the Prometheus text exposition format, version 0.0.4.
//
// Every family, its labels and where its numbers come from are listed in docs/exporter.md.
// Cardinality is bounded by the configuration's shape, never by its size: labels are pools,
// settings, reasons (a closed table), health values and error kinds. Per-server series exist
// only with per_server (ringprobe run --metrics-per-server).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/engine.hpp"
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

struct MetricsInput {
    const engine::EngineTotals* totals = nullptr;  // null: no engine in this process
    const EngineFacts* facts = nullptr;
    const report::Snapshot* snap = nullptr;  // null: the report could not be read
    const ProbeTally* tally = nullptr;       // null with snap
    const ServerStats* server = nullptr;
    bool per_server = false;
};

std::string render_metrics(const MetricsInput& in);

// Appends v as the inside of a label value (backslash, double quote and newline escaped).
void append_label_value(std::string& out, std::string_view v);

// The histogram's `le` boundaries in microseconds: powers of two from 64 µs to 2^26 µs (67 s).
// Each is an edge of the engine's log-linear buckets, so the cumulative counts are exact.
inline constexpr unsigned kLeFirstPow2 = 6;
inline constexpr unsigned kLeLastPow2 = 26;

}  // namespace ringprobe::exporter
