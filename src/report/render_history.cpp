// --history (see render.hpp): a row's last results, newest first, one line each.
#include <string>

#include <ringprobe/result.hpp>

#include "common/text.hpp"
#include "report/facts.hpp"
#include "report/render.hpp"
#include "report/terminal.hpp"
#include "report/text.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

// "2026-12-07T17:50:01.123Z": the result's start to the millisecond.
void append_utc_ms(std::string& out, std::uint64_t unix_ns) {
    char buf[utc_text_max];
    std::size_t n = format_utc(static_cast<std::int64_t>(unix_ns / 1'000'000'000), buf);
    out.append(buf, n - 1);  // without the Z
    const std::uint64_t ms = unix_ns / 1'000'000 % 1000;
    out += '.';
    out += static_cast<char>('0' + ms / 100);
    out += static_cast<char>('0' + ms / 10 % 10);
    out += static_cast<char>('0' + ms % 10);
    out += 'Z';
}

void append_column(std::string& out, std::string_view text, std::size_t width) {
    const std::size_t before = out.size();
    out += text;
    pad_to(out, out.size() - before, width);
}

// Column widths; pad_to adds the two spaces between columns.
constexpr std::size_t kTimeWidth = 24, kHealthWidth = 9, kReasonWidth = 22, kStatusWidth = 6,
                      kTotalWidth = 10;

void append_header(std::string& out) {
    out += "  ";
    append_column(out, "time (UTC)", kTimeWidth);
    append_column(out, "health", kHealthWidth);
    append_column(out, "reason", kReasonWidth);
    append_column(out, "status", kStatusWidth);
    append_column(out, "total", kTotalWidth);
    out += "connection\n";
}

void append_entry(std::string& out, const abi::HistoryEntry& e, bool color) {
    out += "  ";
    std::string time;
    append_utc_ms(time, e.unix_ns);
    append_column(out, time, kTimeWidth);
    const Health h = history_health(e);
    if (color) {
        out += health_color(h);
    }
    out += health_name(h);
    if (color) {
        out += kReset;
    }
    pad_to(out, health_name(h).size(), kHealthWidth);
    append_column(out, reason_info(static_cast<Reason>(e.reason)).code, kReasonWidth);
    std::string status = "-";
    if (e.http_status != 0) {
        status.clear();
        append_uint(status, e.http_status);
    }
    append_column(out, status, kStatusWidth);
    std::string total;
    append_us_as_ms(total, e.duration_us);
    append_column(out, total, kTotalWidth);
    out += (e.flags & abi::kHistoryReused) != 0 ? "reused" : "new";
    out += '\n';
}

}  // namespace

std::string render_history(const Snapshot& snap, std::span<const std::uint32_t> rows, bool color) {
    const StaticInfo& info = *snap.info;
    std::string out;
    for (const std::uint32_t r : rows) {
        const abi::RowRecord& row = info.rows[r];
        const std::span<const abi::HistoryEntry> h = snap.history_of(row.target_index);
        const Effective e = effective(snap, row.target_index);
        out += info.str(info.pools[row.pool_index].name);
        out += " / ";
        out += info.str(info.settings[row.setting_index].name);
        out += " / ";
        append_printable(out, info.str(info.servers[row.server_index].address));
        out += ": ";
        out += health_name(e.health);
        out += ", last ";
        append_uint(out, h.size());
        out += h.size() == 1 ? " result" : " results";
        if (e.state != nullptr) {
            out += " of ";
            append_uint(out, e.state->total_probes);
            out += " probes";
        }
        out += ", newest first\n";
        if (h.empty()) {
            out += "  (no probe has completed yet)\n";
            continue;
        }
        append_header(out);
        for (const abi::HistoryEntry& entry : h) {
            append_entry(out, entry, color);
        }
    }
    return out;
}

}  // namespace ringprobe::report
