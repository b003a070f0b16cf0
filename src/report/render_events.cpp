// --events (see render.hpp): the engine's event log, one line or object per row a transition
// touched, oldest first.
#include <cstring>
#include <string>
#include <vector>

#include <ringprobe/result.hpp>

#include "common/text.hpp"
#include "report/json_document.hpp"
#include "report/render.hpp"
#include "report/terminal.hpp"
#include "report/text.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

// One row a transition touched: a target shared by rows gives one event per row.
struct EventRow {
    const abi::EventRecord* event;
    const abi::RowRecord* row;
};

std::vector<EventRow> event_rows(const Snapshot& snap, const EventFilter& f) {
    const StaticInfo& info = *snap.info;
    std::vector<std::vector<std::uint32_t>> rows_of(info.targets.size());
    for (std::uint32_t r = 0; r < info.rows.size(); ++r) {
        const abi::RowRecord& row = info.rows[r];
        if (f.pool.empty() || info.str(info.pools[row.pool_index].name) == f.pool) {
            rows_of[row.target_index].push_back(r);
        }
    }
    std::vector<EventRow> out;
    for (const abi::EventRecord& e : snap.events.events) {
        if (e.unix_ns < f.since_unix_ns) {
            continue;
        }
        for (std::uint32_t r : rows_of[e.target]) {
            out.push_back(EventRow{&e, &info.rows[r]});
        }
    }
    if (f.newest != 0 && out.size() > f.newest) {
        out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(f.newest));
    }
    return out;
}

// "HTTP 503", "errno 111 (Connection refused)", or nothing.
void append_detail(std::string& out, const abi::EventRecord& e) {
    if (e.http_status != 0) {
        out += "HTTP ";
        append_uint(out, e.http_status);
    } else if (e.sys_errno != 0) {
        out += "errno ";
        append_int(out, e.sys_errno);
        out += " (";
        out += std::strerror(e.sys_errno);
        out += ')';
    }
}

void append_utc_ms(std::string& out, std::uint64_t unix_ns) {
    char buf[utc_text_max];
    const std::size_t n = format_utc(static_cast<std::int64_t>(unix_ns / 1'000'000'000), buf);
    out.append(buf, n - 1);  // without the Z
    const std::uint64_t ms = unix_ns / 1'000'000 % 1000;
    out += '.';
    out += static_cast<char>('0' + ms / 100);
    out += static_cast<char>('0' + ms / 10 % 10);
    out += static_cast<char>('0' + ms % 10);
    out += 'Z';
}

std::string events_json(const Snapshot& snap, const std::vector<EventRow>& rows) {
    const StaticInfo& info = *snap.info;
    std::string out;
    out.reserve(256 + rows.size() * 300);
    JsonOut j(out, false, 2);
    j.begin_object();
    j.key("events");
    j.begin_array();
    for (const EventRow& er : rows) {
        const abi::EventRecord& e = *er.event;
        j.begin_object();
        j.field("unixNs", e.unix_ns);
        j.key("time");
        j.value_with([&](std::string& s) { append_utc_ms(s, e.unix_ns); });
        j.field("pool", info.str(info.pools[er.row->pool_index].name));
        j.field("setting", info.str(info.settings[er.row->setting_index].name));
        j.field("server", info.str(info.servers[er.row->server_index].address));
        j.field("old", health_name(static_cast<Health>(e.from)));
        j.field("new", health_name(static_cast<Health>(e.to)));
        j.field("reason", reason_info(static_cast<Reason>(e.reason)).code);
        j.field("httpStatus", e.http_status);
        j.key("errno");
        j.value_int(e.sys_errno);
        j.key("detail");
        j.value_with([&](std::string& s) { append_detail(s, e); });
        j.end_object();
    }
    j.end_array();
    j.field("logged", snap.events.logged);
    j.field("overwritten", snap.events.overwritten);
    j.end_object();
    out += '\n';
    return out;
}

std::string events_table(const Snapshot& snap, const std::vector<EventRow>& rows, bool color) {
    const StaticInfo& info = *snap.info;
    std::size_t pool_w = 4, setting_w = 7, server_w = 6;
    for (const EventRow& er : rows) {
        pool_w = std::max<std::size_t>(pool_w, info.pools[er.row->pool_index].name.length);
        setting_w =
            std::max<std::size_t>(setting_w, info.settings[er.row->setting_index].name.length);
        server_w =
            std::max<std::size_t>(server_w, info.servers[er.row->server_index].address.length);
    }
    std::string out;
    out += "TIME (UTC)                ";
    out += "POOL";
    pad_to(out, 4, pool_w);
    out += "SETTING";
    pad_to(out, 7, setting_w);
    out += "SERVER";
    pad_to(out, 6, server_w);
    out += "CHANGE                  REASON                  DETAIL\n";
    for (const EventRow& er : rows) {
        const abi::EventRecord& e = *er.event;
        append_utc_ms(out, e.unix_ns);
        out += "  ";
        const std::string_view pool = info.str(info.pools[er.row->pool_index].name);
        const std::string_view setting = info.str(info.settings[er.row->setting_index].name);
        const std::string_view server = info.str(info.servers[er.row->server_index].address);
        append_printable(out, pool);
        pad_to(out, pool.size(), pool_w);
        append_printable(out, setting);
        pad_to(out, setting.size(), setting_w);
        append_printable(out, server);
        pad_to(out, server.size(), server_w);
        const Health from = static_cast<Health>(e.from);
        const Health to = static_cast<Health>(e.to);
        const std::size_t change_len = health_name(from).size() + 4 + health_name(to).size();
        out += health_name(from);
        out += " -> ";
        if (color) {
            out += health_color(to);
        }
        out += health_name(to);
        if (color) {
            out += kReset;
        }
        pad_to(out, change_len, 22);
        const std::string_view code = reason_info(static_cast<Reason>(e.reason)).code;
        out += code;
        pad_to(out, code.size(), 22);
        append_detail(out, e);
        out += '\n';
    }
    out += "(";
    append_uint(out, rows.size());
    out += rows.size() == 1 ? " event shown; " : " events shown; ";
    append_uint(out, snap.events.logged);
    out += " logged, ";
    append_uint(out, snap.events.overwritten);
    out += " overwritten)\n";
    return out;
}

}  // namespace

std::string render_events(const Snapshot& snap, const EventFilter& f, Format format, bool color) {
    const std::vector<EventRow> rows = event_rows(snap, f);
    if (format == Format::Table) {
        return events_table(snap, rows, color);
    }
    return events_json(snap, rows);
}

}  // namespace ringprobe::report
