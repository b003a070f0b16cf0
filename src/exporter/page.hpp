// GET / and GET /troubleshoot: the backend-health web page, in the spirit of the gateway
// portal's view. One self-contained HTML document per request: inline CSS, no script, no
// external asset, so the table and its filters (plain GET forms and links) work without
// JavaScript, and a narrow screen gets one card per row.
//
//   /?pool=NAME&health=Unhealthy&page=2   one row per server x setting, filtered, paged
//   /troubleshoot?row=N                   reason, phase timings, client -> ringprobe -> backend
//                                         drawing with the faulty part marked (N: report row)
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <ringprobe/result.hpp>

#include "exporter/pool_samples.hpp"
#include "report/reader.hpp"

namespace ringprobe::exporter {

struct PageOptions {
    std::uint32_t refresh_s = 10;       // meta refresh; 0: none
    std::uint32_t rows_per_page = 500;  // bounds the page's size on a large fleet
};

struct PageQuery {
    std::string pool;              // empty: every pool
    std::optional<Health> health;  // nullopt: every health
    std::uint32_t page = 0;        // zero-based
};

// The decoded value of `key` in a query string (application/x-www-form-urlencoded), or
// nullopt when the key is absent.
std::optional<std::string> query_param(std::string_view query, std::string_view key);
PageQuery parse_page_query(std::string_view query);

// Copies a target's history ring, newest first, into out[0..kHistoryEntries) and returns how
// many entries are whole (report::Report::copy_history).
using HistoryCopyFn =
    std::function<std::uint32_t(std::uint32_t target, report_abi::HistoryEntry* out)>;

// A timeline costs ~9 KiB of SVG, so the page draws one for its first rows only; every row's
// troubleshoot view has its own.
inline constexpr std::uint32_t kTimelineRowsMax = 25;

// What the pictures need besides the snapshot (pictures.hpp). The recent events come from the
// snapshot when it was taken with SnapshotOptions::events.
struct PagePictures {
    const PoolSamples* samples = nullptr;  // null: the over-time area says no samples yet
    std::uint64_t window_ns = 3600ull * 1'000'000'000ull;
    // Empty: timelines from Snapshot::history when it was copied, else none.
    HistoryCopyFn history;
};

std::string render_page(const report::Snapshot& snap, const PageQuery& q, const PageOptions& o,
                        const PagePictures& pictures = {});
// nullopt when row is not a row of the report (the caller answers 404).
std::optional<std::string> render_troubleshoot(const report::Snapshot& snap, std::uint32_t row,
                                               const PageOptions& o,
                                               const PagePictures& pictures = {});
// The page shown when no report can be read (engine not started under that name, unreadable).
std::string render_unavailable(std::string_view message, const PageOptions& o);

void append_html_escaped(std::string& out, std::string_view s);

}  // namespace ringprobe::exporter
