// Rendering a Snapshot for people and programs: the az CLI's JSON shape, the PowerShell shape,
// and a table. Library functions so the exporter can serve the same JSON over HTTP. Numbers go
// through std::to_chars and strings are appended in place: no iostreams.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ringprobe/result.hpp>

#include "common/json.hpp"
#include "report/reader.hpp"

namespace ringprobe::report {

enum class Format : std::uint8_t { Table, Json, Powershell };

struct RenderOptions {
    Format format = Format::Table;
    bool details = false;          // JSON: structured fields under "ringprobe" (TLS facts, DNS);
                                   // table: an indented block under each row
    bool color = false;            // ANSI colours in the table (the caller checks isatty)
    std::string_view pool;         // only this pool (by name); empty: all
    std::optional<Health> health;  // only servers with this effective health
};

// `az network application-gateway show-backend-health` shape (camelCase, 2-space indent).
std::string render_json(const Snapshot& snap, const RenderOptions& options);
// The seed's PowerShell shape: one PascalCase object per pool (4-space indent).
std::string render_powershell(const Snapshot& snap, const RenderOptions& options);
// One line per server x setting, a summary line per pool.
std::string render_table(const Snapshot& snap, const RenderOptions& options);
std::string render(const Snapshot& snap, const RenderOptions& options);

// --troubleshoot: the rows whose server address (as configured) is `server`, optionally only in
// pool `pool` and backend setting `setting` (by name; empty: any). In report order.
std::vector<std::uint32_t> find_rows(const Snapshot& snap, std::string_view server,
                                     std::string_view pool, std::string_view setting);
// For each row: the drawing client -> ringprobe -> server with the faulty part marked ("XX",
// red when `color`), what is wrong (the healthProbeLog sentence), what to change, then the
// facts (phase timings, SNI and Host, the chain with the bad certificate marked, DNS addresses).
std::string render_troubleshoot(const Snapshot& snap, std::span<const std::uint32_t> rows,
                                bool color);
// --history: for each row its last results (Snapshot::history, copied with
// SnapshotOptions::history), newest first: time, health after it, reason, HTTP status, total
// duration, connection.
std::string render_history(const Snapshot& snap, std::span<const std::uint32_t> rows, bool color);

// --events: the engine's event log (Snapshot::events, copied with SnapshotOptions::events),
// oldest first, one entry per row the transition touched. Table, or JSON ({"events": [...],
// "logged", "overwritten"}: the exporter's /events serves the same).
struct EventFilter {
    std::uint64_t since_unix_ns = 0;  // only events at or after
    std::string_view pool;            // only this pool (by name); empty: all
    std::size_t newest = 0;           // only the newest N rows (still oldest first); 0: all
};
std::string render_events(const Snapshot& snap, const EventFilter& f, Format format, bool color);

}  // namespace ringprobe::report
