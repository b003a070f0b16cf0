// The backend-health page (see page.hpp). HTML is appended in place; every string from the
// report goes through append_html_escaped, every link parameter through append_url_encoded.
#include "exporter/page.hpp"

#include <array>
#include <charconv>
#include <vector>

#include <ringprobe/protocol.hpp>

#include "common/text.hpp"
#include "exporter/chain_view.hpp"
#include "exporter/pictures.hpp"
#include "report/capacity_words.hpp"
#include "report/sentences.hpp"

namespace ringprobe::exporter {

namespace abi = report_abi;

void append_html_escaped(std::string& out, std::string_view s) {
    for (const char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c; break;
        }
    }
}

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string url_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() + 0 && hex_value(s[i + 1]) >= 0 &&
                   hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

void append_url_encoded(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
}

std::string_view health_class(Health h) {
    switch (h) {
        case Health::Healthy: return "healthy";
        case Health::Unhealthy: return "unhealthy";
        case Health::Unknown: return "unknown";
        case Health::OtherShard: return "othershard";
    }
    return "unknown";
}

constexpr std::string_view kStyle = R"(<style>
:root{--ok:#107c10;--bad:#c50f1f;--unk:#8a6d00;--line:#d0d0d0;--muted:#555}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1f3a5f;color:#fff;padding:.8em 1em}
header h1{margin:0;font-size:1.3em}
header p{margin:.2em 0 0;opacity:.9;font-size:.9em}
main{padding:1em;max-width:1400px}
a{color:#0f5ea8}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid var(--line);padding:.4em .5em;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
.health{font-weight:600;white-space:nowrap}
.health.healthy{color:var(--ok)}.health.unhealthy{color:var(--bad)}.health.unknown{color:var(--unk)}
.health.healthy::before{content:"\25CF  "}.health.unhealthy::before{content:"\2716  "}.health.unknown::before{content:"? "}
form{margin:1em 0;display:flex;flex-wrap:wrap;gap:.6em;align-items:end}
label{display:flex;flex-direction:column;font-size:.85em;color:var(--muted)}
select,button{font:inherit;padding:.3em .5em}
.warn{background:#fde7e9;border:1px solid var(--bad);padding:.6em;margin:1em 0}
.muted{color:var(--muted)}
.pager a,.pager span{margin-right:.8em}
svg text{font:13px system-ui,sans-serif}
.faulty{color:var(--bad)}.expiring{color:var(--unk)}
.late{color:var(--unk);font-weight:600}
.min-servers{color:var(--muted);font-style:italic}
tr.faulty td{background:#fde7e9}tr.expiring td{background:#fff4ce}
.sha{word-break:break-all;font-size:.8em}
#chain-table,#addresses{margin:.6em 0}
.pair{display:flex;flex-wrap:wrap;gap:0 2em}figure{margin:.6em 0}
figure.pool-pictures figcaption{font-weight:600}
.caption{font-size:.85em;color:var(--muted);margin:.1em 0;max-width:400px}
figure.timeline{margin:0}figure.timeline svg{display:block}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dt{color:var(--muted)}dd{margin:0}
@media (max-width:700px){
 #servers thead{display:none}
 #servers tr{display:block;border:1px solid var(--line);margin:0 0 .7em;background:#fff}
 #servers td{display:block;border:0;padding:.2em .6em}
 #servers td::before{content:attr(data-label) ": ";color:var(--muted);font-size:.85em}
}
</style>)";

void page_head(std::string& out, std::string_view title, const PageOptions& o) {
    out +=
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
    if (o.refresh_s > 0) {
        out += "<meta http-equiv=\"refresh\" content=\"";
        report::append_uint(out, o.refresh_s);
        out += "\">";
    }
    out += "<title>";
    append_html_escaped(out, title);
    out += "</title>";
    out += kStyle;
    out += "</head>\n<body>";
}

void page_banner(std::string& out, const report::Snapshot& snap, std::string_view h1) {
    const report::StaticInfo& info = *snap.info;
    out += "<header><h1>";
    append_html_escaped(out, h1);
    out += "</h1><p>gateway <b>";
    append_html_escaped(out, info.gateway_name());
    out += "</b> &middot; engine <span id=\"engine\">";
    out += report::engine_state_name(snap.engine);
    out += "</span> &middot; report age ";
    report::append_age(out, snap.report_age_ns());
    out += " &middot; generation ";
    report::append_uint(out, info.header.generation);
    out += "</p></header>\n<main>";
    if (snap.engine != report::EngineState::Live) {
        out +=
            "<p class=\"warn\" id=\"engine-warning\">The health could not be retrieved from "
            "the engine; every server shows Unknown. Start or restart the engine.</p>";
    } else if (report::capacity_short(snap.capacity)) {
        out += "<p class=\"warn\" id=\"capacity-warning\">";
        std::string words;
        report::append_capacity_sentence(words, snap.capacity);
        append_html_escaped(out, words);
        out += "</p>";
    }
}

void append_setting(std::string& out, const report::StaticInfo& info, std::uint32_t s) {
    append_html_escaped(out, info.str(info.settings[s].name));
}

// Query string for a page link with the given filters (page omitted when 0).
void append_filter_link(std::string& out, std::string_view pool, std::optional<Health> health,
                        std::uint32_t page) {
    out += "/?";
    bool any = false;
    if (!pool.empty()) {
        out += "pool=";
        append_url_encoded(out, pool);
        any = true;
    }
    if (health) {
        out += any ? "&amp;" : "";
        out += "health=";
        out += health_name(*health);
        any = true;
    }
    if (page > 0) {
        out += any ? "&amp;" : "";
        out += "page=";
        report::append_uint(out, page);
    }
}

void pool_summary(std::string& out, const report::Snapshot& snap, const PageQuery& q) {
    const report::StaticInfo& info = *snap.info;
    std::vector<std::array<std::uint64_t, 4>> counts(info.pools.size());
    std::vector<std::uint64_t> late(info.pools.size(), 0);
    for (const abi::RowRecord& r : info.rows) {
        const Health h = report::effective(snap, r.target_index).health;
        counts[r.pool_index][static_cast<std::size_t>(h)]++;
        late[r.pool_index] += report::is_late(snap, r.target_index) ? 1 : 0;
    }
    out +=
        "<h2>Backend pools</h2><table id=\"pools\"><thead><tr><th>Pool</th><th>Healthy</th>"
        "<th>Unhealthy</th><th>Unknown</th></tr></thead><tbody>";
    for (std::size_t p = 0; p < info.pools.size(); ++p) {
        const std::string_view name = info.str(info.pools[p].name);
        out += "<tr data-pool=\"";
        append_html_escaped(out, name);
        out += "\"><td><a href=\"";
        append_filter_link(out, name, q.health, 0);
        out += "\">";
        append_html_escaped(out, name);
        out += "</a>";
        if ((info.pools[p].flags & abi::kPoolEmptyRouted) != 0) {
            out += "<p class=\"note\">";
            append_html_escaped(out, report::kEmptyPoolNote);
            out += "</p>";
        }
        if (late[p] != 0) {
            out += "<p class=\"late\">";
            report::append_uint(out, late[p]);
            out += " late</p>";
        }
        if (const std::uint32_t counted = report::pool_counted_by_min_servers(snap, p);
            counted != 0) {
            out += "<p class=\"min-servers\">";
            report::append_uint(out, counted);
            out += " counted healthy by minServers</p>";
        }
        out += "</td>";
        for (const Health h : {Health::Healthy, Health::Unhealthy, Health::Unknown}) {
            out += "<td class=\"count-";
            out += health_class(h);
            out += "\"><a href=\"";
            append_filter_link(out, name, h, 0);
            out += "\">";
            report::append_uint(out, counts[p][static_cast<std::size_t>(h)]);
            out += "</a></td>";
        }
        out += "</tr>";
    }
    out += "</tbody></table>\n";
}

void filter_form(std::string& out, const report::Snapshot& snap, const PageQuery& q) {
    const report::StaticInfo& info = *snap.info;
    out +=
        "<form method=\"get\" action=\"/\" id=\"filters\"><label>Pool<select name=\"pool\">"
        "<option value=\"\">All pools</option>";
    for (const abi::PoolRecord& p : info.pools) {
        const std::string_view name = info.str(p.name);
        out += "<option value=\"";
        append_html_escaped(out, name);
        out += name == q.pool ? "\" selected>" : "\">";
        append_html_escaped(out, name);
        out += "</option>";
    }
    out +=
        "</select></label><label>Health<select name=\"health\"><option value=\"\">Any "
        "health</option>";
    for (const Health h : {Health::Healthy, Health::Unhealthy, Health::Unknown}) {
        out += "<option value=\"";
        out += health_name(h);
        out += q.health == h ? "\" selected>" : "\">";
        out += health_name(h);
        out += "</option>";
    }
    out +=
        "</select></label><button type=\"submit\">Filter</button> <a href=\"/\">Clear</a>"
        "</form>\n";
}

// The timeline cell: the row's last results (pictures.hpp) for the page's first rows, else a
// link to its troubleshoot view, which always has one.
void timeline_cell(std::string& out, const report::Snapshot& snap, std::uint32_t row_index,
                   const PagePictures& pictures, bool draw) {
    const std::uint32_t target = snap.info->rows[row_index].target_index;
    out += "<td data-label=\"Last results\">";
    if (draw && pictures.history) {
        std::array<report_abi::HistoryEntry, report_abi::kHistoryEntries> buf{};
        const std::uint32_t n = pictures.history(target, buf.data());
        append_timeline(out, std::span(buf.data(), n), false);
    } else if (draw && !snap.history_count.empty()) {
        append_timeline(out, snap.history_of(target), false);
    } else {
        out += "<a class=\"timeline-link\" href=\"/troubleshoot?row=";
        report::append_uint(out, row_index);
        out += "\">timeline</a>";
    }
    out += "</td>";
}

void server_row(std::string& out, const report::Snapshot& snap, std::uint32_t row_index,
                const PagePictures& pictures, bool timeline) {
    const report::StaticInfo& info = *snap.info;
    const abi::RowRecord& r = info.rows[row_index];
    const abi::SettingRecord& st = info.settings[r.setting_index];
    const report::Effective e = report::effective(snap, r.target_index);
    out += "<tr data-row=\"";
    report::append_uint(out, row_index);
    out += "\" data-health=\"";
    out += health_name(e.health);
    out += "\"><td data-label=\"Server\">";
    append_html_escaped(out, info.str(info.servers[r.server_index].address));
    out += "</td><td data-label=\"Pool\">";
    append_html_escaped(out, info.str(info.pools[r.pool_index].name));
    out += "</td><td data-label=\"Backend setting\">";
    append_setting(out, info, r.setting_index);
    out += "</td><td data-label=\"Port\">";
    report::append_uint(out, st.port);
    out += "</td><td data-label=\"Protocol\">";
    out += protocol_name(static_cast<Protocol>(st.protocol));
    out += "</td><td data-label=\"Status\"><span class=\"health ";
    out += health_class(e.health);
    out += "\">";
    out += health_name(e.health);
    out += "</span>";
    if (report::is_flapping(snap, r.target_index)) {
        out += " <span class=\"flapping\">flapping</span>";
    }
    if (report::counted_by_min_servers(snap, row_index)) {
        out += " <span class=\"min-servers\">counted healthy by minServers</span>";
    }
    if (e.health != Health::Healthy) {
        out += " <a class=\"troubleshoot\" href=\"/troubleshoot?row=";
        report::append_uint(out, row_index);
        out += "\">Troubleshoot</a>";
    }
    out += "</td><td data-label=\"Details\">";
    std::string log;
    report::append_probe_log(log, snap, r.target_index);
    append_html_escaped(out, log);
    out += "</td><td data-label=\"Checked\">";
    if (e.state == nullptr || e.state->last_probe_unix_ns == 0) {
        out += "&ndash;";
    } else {
        const std::uint64_t last = e.state->last_probe_unix_ns;
        report::append_age(out, snap.now_unix_ns > last ? snap.now_unix_ns - last : 0);
        out += " ago";
    }
    std::uint64_t age_ns = 0;
    if (report::is_late(snap, r.target_index, age_ns)) {
        out += " <span class=\"late\">";
        std::string note;
        report::append_late_note(note, snap, r.target_index, age_ns);
        append_html_escaped(out, note);
        out += "</span>";
    }
    out += "</td>";
    timeline_cell(out, snap, row_index, pictures, timeline);
    out += "</tr>\n";
}

}  // namespace

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const std::size_t eq = pair.find('=');
        if (url_decode(pair.substr(0, eq)) == key) {
            return eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1));
        }
    }
    return std::nullopt;
}

PageQuery parse_page_query(std::string_view query) {
    PageQuery q;
    if (auto p = query_param(query, "pool")) {
        q.pool = *p;
    }
    if (auto h = query_param(query, "health")) {
        for (const Health v : {Health::Healthy, Health::Unhealthy, Health::Unknown}) {
            std::string_view name = health_name(v);
            if (iequals(*h, name)) {
                q.health = v;
            }
        }
    }
    if (auto pg = query_param(query, "page")) {
        std::uint32_t v = 0;
        auto r = std::from_chars(pg->data(), pg->data() + pg->size(), v);
        q.page = r.ec == std::errc{} ? v : 0;
    }
    return q;
}

std::string render_page(const report::Snapshot& snap, const PageQuery& q, const PageOptions& o,
                        const PagePictures& pictures) {
    const report::StaticInfo& info = *snap.info;
    std::vector<std::uint32_t> shown;
    shown.reserve(info.rows.size());
    for (std::uint32_t i = 0; i < info.rows.size(); ++i) {
        const abi::RowRecord& r = info.rows[i];
        if (!q.pool.empty() && info.str(info.pools[r.pool_index].name) != q.pool) {
            continue;
        }
        if (q.health && report::effective(snap, r.target_index).health != *q.health) {
            continue;
        }
        shown.push_back(i);
    }
    const std::uint32_t per = o.rows_per_page > 0 ? o.rows_per_page : 500;
    const std::uint32_t pages =
        std::max<std::uint32_t>(1, static_cast<std::uint32_t>((shown.size() + per - 1) / per));
    const std::uint32_t page = std::min(q.page, pages - 1);
    const std::size_t begin = std::size_t{page} * per;
    const std::size_t end = std::min(shown.size(), begin + per);

    std::string out;
    out.reserve(8192 + (end - begin) * 420);
    page_head(out, "Backend health: " + std::string(info.gateway_name()), o);
    page_banner(out, snap, "Backend health");
    pool_summary(out, snap, q);
    PoolPicturesInput pin;
    pin.samples = pictures.samples;
    pin.window_ns = pictures.window_ns;
    pin.only_pool = q.pool;
    append_pool_pictures(out, snap, pin);
    append_recent_events(out, snap);
    out += "<h2>Servers</h2>";
    filter_form(out, snap, q);
    out += "<p id=\"shown\" class=\"muted\">Showing <span id=\"shown-count\">";
    report::append_uint(out, end - begin);
    out += "</span> of <span id=\"match-count\">";
    report::append_uint(out, shown.size());
    out += "</span> matching rows (";
    report::append_uint(out, info.rows.size());
    out += " in all); page ";
    report::append_uint(out, page + 1);
    out += " of ";
    report::append_uint(out, pages);
    out +=
        ".</p>\n<table id=\"servers\"><thead><tr><th>Server</th><th>Pool</th>"
        "<th>Backend setting</th><th>Port</th><th>Protocol</th><th>Status</th>"
        "<th>Details (latest probe)</th><th>Checked</th><th>Last results</th></tr></thead>"
        "<tbody>\n";
    for (std::size_t i = begin; i < end; ++i) {
        server_row(out, snap, shown[i], pictures, i - begin < kTimelineRowsMax);
    }
    out += "</tbody></table>\n";
    if (pages > 1) {
        out += "<p class=\"pager\">";
        if (page > 0) {
            out += "<a id=\"prev\" href=\"";
            append_filter_link(out, q.pool, q.health, page - 1);
            out += "\">&larr; previous</a>";
        }
        if (page + 1 < pages) {
            out += "<a id=\"next\" href=\"";
            append_filter_link(out, q.pool, q.health, page + 1);
            out += "\">next &rarr;</a>";
        }
        out += "</p>";
    }
    out += "<p class=\"muted\">Refreshes every ";
    report::append_uint(out, o.refresh_s);
    out +=
        " s. Also: <a href=\"/backendhealth\">/backendhealth</a> (JSON), "
        "<a href=\"/metrics\">/metrics</a> (Prometheus).</p></main></body></html>\n";
    return out;
}

namespace {

void box(std::string& out, std::string_view id, int x, std::string_view title,
         std::string_view note, bool faulty) {
    out += "<g id=\"";
    out += id;
    out += faulty ? "\" class=\"faulty\">" : "\">";
    out += "<rect x=\"";
    report::append_int(out, x);
    out += "\" y=\"20\" width=\"150\" height=\"70\" rx=\"8\" fill=\"";
    out += faulty ? "#fde7e9" : "#eef1f5";
    out += "\" stroke=\"";
    out += faulty ? "#c50f1f" : "#5a6b80";
    out += "\" stroke-width=\"2\"/><text x=\"";
    report::append_int(out, x + 75);
    out += "\" y=\"50\" text-anchor=\"middle\" font-weight=\"600\">";
    out += title;
    out += "</text><text x=\"";
    report::append_int(out, x + 75);
    out += "\" y=\"72\" text-anchor=\"middle\" fill=\"";
    out += faulty ? "#c50f1f" : "#555";
    out += "\">";
    append_html_escaped(out, note);
    out += "</text></g>";
}

void link(std::string& out, std::string_view id, int x1, int x2, std::string_view label,
          bool faulty, bool dashed) {
    out += "<g id=\"";
    out += id;
    out += faulty ? "\" class=\"faulty\">" : "\">";
    out += "<line x1=\"";
    report::append_int(out, x1);
    out += "\" y1=\"55\" x2=\"";
    report::append_int(out, x2);
    out += "\" y2=\"55\" stroke=\"";
    out += faulty ? "#c50f1f" : "#107c10";
    out += "\" stroke-width=\"";
    out += faulty ? "4" : "2";
    out += dashed ? "\" stroke-dasharray=\"6 4\"/>" : "\"/>";
    out += "<text x=\"";
    report::append_int(out, (x1 + x2) / 2);
    out += "\" y=\"45\" text-anchor=\"middle\" fill=\"";
    out += faulty ? "#c50f1f" : "#555";
    out += "\">";
    append_html_escaped(out, label);
    out += "</text></g>";
}

// The drawing of client -> ringprobe -> backend with report::fault_part's answer marked, the
// same part the terminal's --troubleshoot marks. The client is the gateway's client, which
// ringprobe does not probe, so a report that cannot be read marks the ringprobe box: the
// exporter reads the report on ringprobe's side of the drawing.
void drawing(std::string& out, report::FaultPart part, std::string_view words, bool tls) {
    using report::FaultPart;
    out +=
        "<svg id=\"path\" viewBox=\"-2 0 644 110\" width=\"100%\" role=\"img\" "
        "aria-label=\"client to ringprobe to backend; faulty part: ";
    append_html_escaped(out, report::fault_part_words(part));
    out += "\">";
    box(out, "box-client", 0, "Client", "not probed", false);
    link(out, "link-client", 150, 245, "", false, true);
    // The probe is the TLS client: a client certificate the server refused is ringprobe's side.
    const bool prober_faulty = part == FaultPart::Prober || part == FaultPart::Report ||
                               part == FaultPart::ClientCertificate;
    box(out, "box-ringprobe", 245, "ringprobe", prober_faulty ? words : "prober", prober_faulty);
    const bool tls_fault = part == FaultPart::Certificate || part == FaultPart::Handshake ||
                           part == FaultPart::ClientCertificate;
    const bool link_faulty = part == FaultPart::Link || part == FaultPart::Resolution || tls_fault;
    std::string_view label = tls ? "TLS" : "TCP";
    if (part == FaultPart::Link) {
        label = "TCP";
    } else if (part == FaultPart::Resolution) {
        label = "DNS";
    } else if (tls_fault) {
        label = "TLS";
    }
    link(out, "link-backend", 395, 490, label, link_faulty, false);
    const bool words_on_backend = part == FaultPart::Server || part == FaultPart::Link ||
                                  part == FaultPart::Handshake || part == FaultPart::Resolution;
    box(out, "box-backend", 490, "Backend",
        words_on_backend ? words : (part == FaultPart::Certificate ? "certificate" : "server"),
        part == FaultPart::Server || part == FaultPart::Certificate);
    out += "</svg>\n";
}

void timing(std::string& out, std::string_view name, std::string_view id, std::uint32_t us) {
    out += "<tr id=\"";
    out += id;
    out += "\"><td>";
    out += name;
    out += "</td><td>";
    if (us == 0) {
        out += "&ndash;";
    } else {
        report::append_uint(out, us / 1000);
        out += '.';
        const std::uint32_t frac = (us % 1000) / 10;
        out += static_cast<char>('0' + frac / 10);
        out += static_cast<char>('0' + frac % 10);
        out += " ms";
    }
    out += "</td></tr>";
}

}  // namespace

std::optional<std::string> render_troubleshoot(const report::Snapshot& snap, std::uint32_t row,
                                               const PageOptions& o, const PagePictures& pictures) {
    const report::StaticInfo& info = *snap.info;
    if (row >= info.rows.size()) {
        return std::nullopt;
    }
    const abi::RowRecord& r = info.rows[row];
    const abi::SettingRecord& st = info.settings[r.setting_index];
    const abi::TargetRecord& t = info.targets[r.target_index];
    const report::Effective e = report::effective(snap, r.target_index);
    const std::string_view address = info.str(info.servers[r.server_index].address);
    const auto proto = static_cast<Protocol>(t.protocol);
    const bool tls = proto == Protocol::Https || proto == Protocol::Tls;
    std::string words;
    report::append_result_words(words, snap, r.target_index);

    std::string out;
    out.reserve(8192);
    page_head(out, "Troubleshoot " + std::string(address), o);
    page_banner(out, snap, "Troubleshoot backend health");
    out += "<p><a href=\"/\">&larr; Backend health</a></p><h2 id=\"server\">";
    append_html_escaped(out, address);
    out += "</h2><dl><dt>Pool</dt><dd>";
    append_html_escaped(out, info.str(info.pools[r.pool_index].name));
    out += "</dd><dt>Backend setting</dt><dd>";
    append_setting(out, info, r.setting_index);
    out += " (port ";
    report::append_uint(out, st.port);
    out += ", ";
    out += protocol_name(static_cast<Protocol>(st.protocol));
    out += ")</dd><dt>Status</dt><dd><span id=\"health\" class=\"health ";
    out += health_class(e.health);
    out += "\">";
    out += health_name(e.health);
    out += "</span></dd><dt>Reason</dt><dd><code id=\"reason\">";
    out += reason_info(e.reason).code;
    out += "</code> (";
    append_html_escaped(out, words);
    out += ")</dd><dt>Probe</dt><dd>";
    out += protocol_name(proto);
    out += " ";
    append_html_escaped(out, info.str(t.address));
    out += ':';
    report::append_uint(out, t.port);
    if (proto == Protocol::Http || proto == Protocol::Https) {
        out += ", host ";
        append_html_escaped(out, info.str(t.host));
        out += ", path ";
        append_html_escaped(out, info.str(t.path));
        out += ", expecting ";
        append_html_escaped(out, info.str(t.match_status));
        if (t.match_body.length > 0) {
            out += " and body containing &quot;";
            append_html_escaped(out, info.str(t.match_body));
            out += "&quot;";
        }
    }
    out += "; every ";
    report::append_duration_ms(out, t.interval_ms);
    out += ", timeout ";
    report::append_duration_ms(out, t.timeout_ms);
    out += ", unhealthy after ";
    report::append_uint(out, t.unhealthy_threshold);
    out += " failures, healthy after ";
    report::append_uint(out, t.healthy_threshold);
    out += "</dd></dl>\n<h2>Last results</h2><div id=\"timeline\">";
    std::array<report_abi::HistoryEntry, report_abi::kHistoryEntries> history{};
    std::span<const report_abi::HistoryEntry> results = snap.history_of(r.target_index);
    if (pictures.history) {
        results = std::span(history.data(), pictures.history(r.target_index, history.data()));
    }
    append_timeline(out, results, true);
    out += "</div>\n<h2>What the latest probe says</h2><p id=\"log\">";
    std::string log;
    report::append_probe_log(log, snap, r.target_index);
    append_html_escaped(out, log);
    out += "</p>\n<h2>Where it fails</h2>";
    const report::FaultPart part = report::fault_part(e.reason);
    drawing(out, part, words, tls);
    out += "<p id=\"fault\">Faulty part: <b";
    out += part == report::FaultPart::None ? ">" : " class=\"faulty\">";
    append_html_escaped(out, report::fault_part_words(part));
    out += "</b>.</p>\n<h2>Phase timings (latest probe)</h2><table id=\"timings\"><tbody>";
    if (e.state != nullptr) {
        timing(out, "DNS", "t-dns", e.state->dns_us);
        timing(out, "TCP connect", "t-connect", e.state->connect_us);
        timing(out, "TLS handshake", "t-tls", e.state->tls_us);
        timing(out, "First byte", "t-first-byte", e.state->first_byte_us);
        timing(out, "Total", "t-total", e.state->latency_us);
    } else {
        out += "<tr><td>no probe result to show</td></tr>";
    }
    out += "</tbody></table>\n";
    append_dns_section(out, snap, r.target_index);
    append_tls_section(out, snap, r.target_index);
    out += "</main></body></html>\n";
    return out;
}

std::string render_unavailable(std::string_view message, const PageOptions& o) {
    std::string out;
    page_head(out, "Backend health: unavailable", o);
    out += "<header><h1>Backend health</h1></header><main><p class=\"warn\" id=\"unavailable\">";
    append_html_escaped(out, message);
    out += "</p></main></body></html>\n";
    return out;
}

}  // namespace ringprobe::exporter
