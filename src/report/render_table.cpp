// The table (see render.hpp): one line per server x setting, a summary line per pool, and with
// --details an indented block under each row.
#include "report/render.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include <ringprobe/protocol.hpp>

#include "common/shard.hpp"
#include "report/capacity_words.hpp"
#include "report/facts.hpp"
#include "report/probe_log.hpp"
#include "report/selection.hpp"
#include "report/terminal.hpp"
#include "report/text.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

// The indented block under a table row with --details.
void append_row_details(std::string& out, const Snapshot& snap, std::uint32_t t, bool color) {
    constexpr std::string_view kIndent = "    ";
    const abi::TargetRecord& tr = snap.info->targets[t];
    out += kIndent;
    out += "log: ";
    std::string log;
    append_probe_log(log, snap, t);
    append_printable(out, log);
    out += '\n';
    // --- merge ---
    if (t < snap.source_of_target.size() && snap.source_of_target[t] != Snapshot::kNoSource) {
        const Snapshot::Source& src = snap.merge_sources[snap.source_of_target[t]];
        out += kIndent;
        out += "probed by: report ";
        append_printable(out, src.name);
        out += ", shard ";
        out += src.shard;
        out += '\n';
    }
    // --- end merge ---
    const Effective e = effective(snap, t);
    if (e.state != nullptr && e.state->last_probe_unix_ns != 0) {
        out += kIndent;
        out += "timings: ";
        append_timings(out, *e.state);
        out += '\n';
    }
    if (!protocol_is_http(static_cast<Protocol>(tr.protocol))) {
        out += kIndent;
        out += "PROXY protocol: ";
        out += proxy_protocol_name(tr.proxy_protocol);
        out += tr.proxy_protocol == abi::kProxyNone ? " (no header sent)\n"
                                                    : " header sent before anything else\n";
    }
    if (tr.tls_slot != abi::kNoSlot) {
        append_tls_lines(out, snap, t, kIndent, color);
    }
    if (tr.name_slot != abi::kNoSlot) {
        append_dns_lines(out, snap, t, kIndent, color);
    }
}

constexpr std::size_t kCols = 6;
constexpr std::array<std::string_view, kCols> kTitles = {"POOL",   "SETTING", "SERVER",
                                                         "HEALTH", "RESULT",  "AGE"};

// Cells are built once, then laid out with the widest cell per column.
struct TableCells {
    std::vector<std::array<std::string, kCols>> cells;
    std::vector<Health> healths;
    std::vector<std::string> notes;  // yellow part of RESULT: warnings
    std::array<std::size_t, kCols> width{};
};

// One row's six cells; the note, when there is one, ends the RESULT cell.
void fill_row(std::array<std::string, kCols>& row, std::string& note, const Snapshot& snap,
              std::uint32_t row_index, const Effective& e) {
    const abi::RowRecord& r = snap.info->rows[row_index];
    const StaticInfo& info = *snap.info;
    const abi::SettingRecord& st = info.settings[r.setting_index];
    row[0] = info.str(info.pools[r.pool_index].name);
    row[1] = info.str(st.name);
    row[1] += " (";
    append_uint(row[1], st.port);
    row[1] += '/';
    row[1] += protocol_name(static_cast<Protocol>(st.protocol));
    row[1] += ')';
    row[2] = info.str(info.servers[r.server_index].address);
    row[3] = health_name(e.health);
    append_result_words(row[4], snap, r.target_index);
    note = row_note(snap, r.target_index);
    if (counted_by_min_servers(snap, row_index)) {
        note += note.empty() ? "" : "; ";
        note += "counted healthy by minServers";
    }
    if (!note.empty()) {
        row[4] += "; ";  // the note follows; widths count it, colour wraps it
        row[4] += note;
    }
    if (e.state == nullptr || e.state->last_probe_unix_ns == 0) {
        row[5] = "-";
    } else {
        const std::uint64_t last = e.state->last_probe_unix_ns;
        append_age(row[5], snap.now_unix_ns > last ? snap.now_unix_ns - last : 0);
    }
}

TableCells table_cells(const Snapshot& snap, const Selection& sel) {
    TableCells t;
    t.cells.resize(sel.rows.size());
    t.healths.resize(sel.rows.size());
    t.notes.resize(sel.rows.size());
    for (std::size_t c = 0; c < kCols; ++c) {
        t.width[c] = kTitles[c].size();
    }
    for (std::size_t i = 0; i < sel.rows.size(); ++i) {
        const abi::RowRecord& r = snap.info->rows[sel.rows[i]];
        const Effective e = effective(snap, r.target_index);
        fill_row(t.cells[i], t.notes[i], snap, sel.rows[i], e);
        t.healths[i] = e.health;
        for (std::size_t c = 0; c < kCols; ++c) {
            t.width[c] = std::max(t.width[c], t.cells[i][c].size());
        }
    }
    return t;
}

// "gateway gw1, generation 3, engine Live, report age 1 s", a warning when the engine is not
// live, then the column titles.
void append_table_heading(std::string& out, const Snapshot& snap, const TableCells& t) {
    const StaticInfo& info = *snap.info;
    out += "gateway ";
    out += info.gateway_name();
    out += ", generation ";
    append_uint(out, info.header.generation);
    out += ", engine ";
    out += engine_state_name(snap.engine);
    out += ", report age ";
    append_age(out, snap.report_age_ns());
    // --- shard ---
    if (const abi::ShardRecord& sh = info.header.shard; sh.count > 1) {
        out += ", shard ";
        out += shard_label(sh.index, sh.count);
        if (sh.replicas > 1) {
            out += " (replicas ";
            append_uint(out, sh.replicas);
            out += ')';
        }
    }
    // --- end shard ---
    const std::uint64_t reload = snap.reload_result();
    // --- merge ---
    if (!snap.merge_sources.empty()) {
        out += ", merged from ";
        append_uint(out, snap.merge_sources.size());
        out += " reports";
    }
    // --- end merge ---
    if (reload != abi::kReloadNone) {
        out += reload == abi::kReloadApplied ? ", last reload applied " : ", last reload refused ";
        append_age(out, snap.now_unix_ns > snap.last_reload.unix_ns
                            ? snap.now_unix_ns - snap.last_reload.unix_ns
                            : 0);
        out += " ago";
    }
    out += '\n';
    // --- merge ---
    for (const Snapshot::Source& src : snap.merge_sources) {
        if (!src.problem.empty()) {
            out += "warning: report '";
            out += src.name;
            out += src.shard.empty() ? "'" : "' (shard " + src.shard + ")";
            out += ": ";
            out += src.problem;
            out += "; its rows read Unknown\n";
        }
    }
    // --- end merge ---
    if (reload == abi::kReloadRefused) {
        out += "warning: the last reload was refused; the engine runs the configuration it had: ";
        out += snap.reload_error();
        out += '\n';
    }
    if (snap.engine != EngineState::Live) {
        out +=
            "warning: the health could not be retrieved from the engine; every server shows "
            "Unknown. Start or restart the engine.\n";
    } else if (capacity_short(snap.capacity)) {
        out += "warning: ";
        append_capacity_sentence(out, snap.capacity);
        out += '\n';
    }
    for (std::size_t c = 0; c < kCols; ++c) {
        out += kTitles[c];
        if (c + 1 < kCols) {
            pad_to(out, kTitles[c].size(), t.width[c]);
        }
    }
    out += '\n';
}

// One line of the table: HEALTH in its colour, the RESULT's note in yellow.
void append_table_row(std::string& out, const TableCells& t, std::size_t i, bool color) {
    for (std::size_t c = 0; c < kCols; ++c) {
        const std::string& cell = t.cells[i][c];
        if (c == 3 && color) {
            out += health_color(t.healths[i]);
            out += cell;
            out += kReset;
        } else if (c == 4 && color && !t.notes[i].empty()) {
            out.append(cell, 0, cell.size() - t.notes[i].size());
            out += kYellow;
            out += t.notes[i];
            out += kReset;
        } else {
            out += cell;
        }
        if (c + 1 < kCols) {
            pad_to(out, cell.size(), t.width[c]);
        }
    }
    out += '\n';
}

// "pool api: 2 healthy, 1 unhealthy, 0 unknown"; count is indexed by Health value. Rows
// counted healthy by minServers follow when there are any: ", 1 counted healthy by minServers".
void append_pool_summary(std::string& out, std::string_view pool,
                         const std::array<std::uint64_t, 4>& count, std::uint64_t counted) {
    out += "pool ";
    out += pool;
    out += ": ";
    append_uint(out, count[static_cast<std::size_t>(Health::Healthy)]);
    out += " healthy, ";
    append_uint(out, count[static_cast<std::size_t>(Health::Unhealthy)]);
    out += " unhealthy, ";
    append_uint(out, count[static_cast<std::size_t>(Health::Unknown)]);
    out += " unknown";
    if (const std::uint64_t other = count[static_cast<std::size_t>(Health::OtherShard)];
        other > 0) {
        out += ", ";
        append_uint(out, other);
        out += " probed by other shards";
    }
    if (counted != 0) {
        out += ", ";
        append_uint(out, counted);
        out += " counted healthy by minServers";
    }
    out += '\n';
}

// "pool api: No members: ..." for an empty pool a rule routes to.
void append_empty_pool(std::string& out, std::string_view pool) {
    out += "pool ";
    append_printable(out, pool);
    out += ": ";
    out += kEmptyPoolNote;
    out += '\n';
}

// "    nic vm1-nic, IP configuration ipconfig1" under a NIC member's row (--details).
void append_nic_line(std::string& out, const StaticInfo& info, const abi::ServerRecord& sv) {
    if (sv.nic.length == 0) {
        return;
    }
    out += "    nic ";
    append_printable(out, info.str(sv.nic));
    out += ", IP configuration ";
    append_printable(out, info.str(sv.ip_configuration));
    out += '\n';
}

}  // namespace

std::string render_table(const Snapshot& snap, const RenderOptions& o) {
    const StaticInfo& info = *snap.info;
    const Selection sel = select_rows(snap, o);
    const TableCells t = table_cells(snap, sel);
    std::string out;
    append_table_heading(out, snap, t);
    const auto pool_rows = [&](std::size_t gb, std::size_t ge) {
        std::array<std::uint64_t, 4> count{};  // by Health value
        std::uint64_t counted = 0;
        for (std::size_t i = sel.groups[gb].begin; i < sel.groups[ge - 1].end; ++i) {
            counted += counted_by_min_servers(snap, sel.rows[i]) ? 1 : 0;
            append_table_row(out, t, i, o.color);
            if (o.details) {
                const abi::RowRecord& r = info.rows[sel.rows[i]];
                append_nic_line(out, info, info.servers[r.server_index]);
                append_row_details(out, snap, r.target_index, o.color);
            }
            ++count[static_cast<std::size_t>(t.healths[i])];
        }
        append_pool_summary(out, info.str(info.pools[sel.groups[gb].pool].name), count, counted);
    };
    const auto empty_pool = [&](std::uint32_t p) {
        append_empty_pool(out, info.str(info.pools[p].name));
    };
    const std::size_t empty_pools = for_each_pool(info, sel, o, pool_rows, empty_pool);
    if (sel.rows.empty() && empty_pools == 0) {
        out += "(no servers match)\n";
    }
    return out;
}
}  // namespace ringprobe::report
