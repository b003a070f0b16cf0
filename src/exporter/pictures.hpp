// The web page's pictures, drawn on the server as inline SVG (no script, no external asset),
// each with a <title> and a <desc> for screen readers and a visible caption that says the same
// in words, so the page reads without the drawing:
//
//   pool health     per pool: Healthy/Unhealthy/Unknown stacked over the PoolSamples window
//                   (one hour at the default 10 s cadence), and a bar of the counts now
//   latency         per pool: the latest probe's total duration of each server, in buckets
//                   from 0.25 ms to 1 s, with the median, the 90th percentile and the slowest
//   timeline        per server: its last results (the report's history ring), oldest left, one
//                   cell per result coloured by outcome, a band for the row's health after it,
//                   a bar for its duration, and a mark where the health changed
//   recent events   the newest transitions of the engine's event log, as a table
//
// Sizes are bounded whatever the fleet: pools beyond kPoolPicturesMax are summarized in words,
// a pool-health area has at most two points per change of its counts, and the caller bounds
// the timelines (page.cpp: the first kTimelineRowsMax rows of a page, and the troubleshoot view).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <ringprobe/report.hpp>

#include "exporter/pool_samples.hpp"
#include "report/reader.hpp"

namespace ringprobe::exporter {

inline constexpr std::size_t kPoolPicturesMax = 24;
inline constexpr std::size_t kRecentEventsMax = 10;

// Latency buckets' upper bounds, in microseconds; the last bucket is everything slower.
inline constexpr std::uint32_t kLatencyBoundsUs[] = {250,   500,   1000,   2500,   5000,   10000,
                                                     25000, 50000, 100000, 250000, 1000000};
inline constexpr std::size_t kLatencyBuckets = std::size(kLatencyBoundsUs) + 1;

struct PoolPicturesInput {
    const PoolSamples* samples = nullptr;  // null or empty: the over-time area says so
    std::uint64_t window_ns = 3600ull * 1'000'000'000ull;  // the area's width in time
    std::string_view only_pool;                            // non-empty: just this pool
};

// <section id="pictures">: one <figure class="pool-pictures"> per pool (health over time and
// latency), at most kPoolPicturesMax of them.
void append_pool_pictures(std::string& out, const report::Snapshot& snap,
                          const PoolPicturesInput& in);

// One server's timeline from its history (newest first, as Snapshot::history_of gives it).
// `wide` draws it twice as large (the troubleshoot view). Appends a <figure class="timeline">.
void append_timeline(std::string& out, std::span<const report_abi::HistoryEntry> newest_first,
                     bool wide);

// <section id="recent-events">: the newest kRecentEventsMax transitions (Snapshot::events),
// newest first, one table row per report row a transition touched.
void append_recent_events(std::string& out, const report::Snapshot& snap);

}  // namespace ringprobe::exporter
