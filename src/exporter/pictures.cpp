// The page's pictures (see pictures.hpp). Coordinates are whole SVG user units written with
// append_int; every text from the report goes through append_html_escaped.
#include "exporter/pictures.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include <ringprobe/result.hpp>

#include "exporter/page.hpp"
#include "report/facts.hpp"
#include "report/text.hpp"

namespace ringprobe::exporter {

namespace abi = report_abi;

namespace {

constexpr std::array<Health, 3> kStackOrder = {Health::Healthy, Health::Unhealthy, Health::Unknown};
// By Health's value: Unknown, Healthy, Unhealthy, OtherShard (another engine probes the row).
constexpr std::array<std::string_view, 4> kHealthFill = {"#8a6d00", "#107c10", "#c50f1f",
                                                         "#767676"};

std::string_view fill_of(Health h) {
    return kHealthFill[static_cast<std::size_t>(h)];
}

void attr_int(std::string& out, std::string_view name, std::int64_t v) {
    out += ' ';
    out += name;
    out += "=\"";
    report::append_int(out, v);
    out += '"';
}

void counts_words(std::string& out, const HealthCounts& c) {
    report::append_uint(out, c[static_cast<std::size_t>(Health::Healthy)]);
    out += " Healthy, ";
    report::append_uint(out, c[static_cast<std::size_t>(Health::Unhealthy)]);
    out += " Unhealthy, ";
    report::append_uint(out, c[static_cast<std::size_t>(Health::Unknown)]);
    out += " Unknown";
}

// --- pool health over time ---------------------------------------------------------------

constexpr int kAreaW = 360;  // the window, left (oldest) to right (now)
constexpr int kAreaH = 60;
constexpr int kNowX = 372;  // the bar of the counts now
constexpr int kNowW = 20;

// A run of samples with the same counts, drawn as one step of the area.
struct Step {
    int x0;
    int x1;
    HealthCounts c;
};

std::vector<Step> steps_of(const PoolSamples& s, std::size_t pool, std::uint64_t now_ns,
                           std::uint64_t window_ns) {
    std::vector<Step> steps;
    const std::uint64_t begin = now_ns > window_ns ? now_ns - window_ns : 0;
    auto x_of = [&](std::uint64_t t) {
        if (t <= begin) {
            return 0;
        }
        const std::uint64_t dx = (t - begin) * kAreaW / std::max<std::uint64_t>(window_ns, 1);
        return static_cast<int>(std::min<std::uint64_t>(dx, kAreaW));
    };
    for (std::uint32_t i = 0; i < s.size(); ++i) {
        const int x0 = x_of(s.unix_ns(i));
        const int x1 = i + 1 < s.size() ? x_of(s.unix_ns(i + 1)) : kAreaW;
        const HealthCounts& c = s.counts(i, pool);
        if (!steps.empty() && steps.back().c == c) {
            steps.back().x1 = std::max(steps.back().x1, x1);
            continue;
        }
        steps.push_back(Step{x0, std::max(x1, x0 + 1), c});
    }
    return steps;
}

int y_of(std::uint32_t v, std::uint32_t max) {
    return kAreaH - static_cast<int>(std::uint64_t{v} * kAreaH / std::max<std::uint32_t>(max, 1));
}

void append_point(std::string& out, int x, int y) {
    report::append_int(out, x);
    out += ',';
    report::append_int(out, y);
    out += ' ';
}

// One layer of the stacked area: along its upper edge left to right, back along its lower edge.
void append_layer(std::string& out, const std::vector<Step>& steps, std::size_t layer,
                  std::uint32_t max) {
    const Health h = kStackOrder[layer];
    auto below = [&](const Step& s) {
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < layer; ++k) {
            v += s.c[static_cast<std::size_t>(kStackOrder[k])];
        }
        return v;
    };
    bool any = false;
    for (const Step& s : steps) {
        any = any || s.c[static_cast<std::size_t>(h)] != 0;
    }
    if (!any) {
        return;
    }
    out += "<polygon class=\"area-";
    out += health_name(h);
    out += "\" fill=\"";
    out += fill_of(h);
    out += "\" points=\"";
    for (const Step& s : steps) {
        const int y = y_of(below(s) + s.c[static_cast<std::size_t>(h)], max);
        append_point(out, s.x0, y);
        append_point(out, s.x1, y);
    }
    for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
        const int y = y_of(below(*it), max);
        append_point(out, it->x1, y);
        append_point(out, it->x0, y);
    }
    out.back() = '"';
    out += "/>";
}

void append_now_bar(std::string& out, const HealthCounts& now, std::uint32_t max) {
    std::uint32_t below = 0;
    for (const Health h : kStackOrder) {
        const std::uint32_t v = now[static_cast<std::size_t>(h)];
        if (v == 0) {
            continue;
        }
        const int top = y_of(below + v, max);
        out += "<rect class=\"now-";
        out += health_name(h);
        out += "\"";
        attr_int(out, "x", kNowX);
        attr_int(out, "y", top);
        attr_int(out, "width", kNowW);
        attr_int(out, "height", y_of(below, max) - top);
        out += " fill=\"";
        out += fill_of(h);
        out += "\"/>";
        below += v;
    }
}

// The range of one health's count over the samples, for the words.
void range_words(std::string& out, const PoolSamples& s, std::size_t pool, Health h) {
    std::uint32_t lo = UINT32_MAX;
    std::uint32_t hi = 0;
    for (std::uint32_t i = 0; i < s.size(); ++i) {
        const std::uint32_t v = s.counts(i, pool)[static_cast<std::size_t>(h)];
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    out += health_name(h);
    out += ' ';
    report::append_uint(out, lo);
    if (hi != lo) {
        out += "&ndash;";
        report::append_uint(out, hi);
    }
}

void append_health_picture(std::string& out, const report::Snapshot& snap, std::size_t pool,
                           const HealthCounts& now, const PoolPicturesInput& in) {
    const PoolSamples* s = in.samples != nullptr && in.samples->pools() == snap.info->pools.size()
                               ? in.samples
                               : nullptr;
    std::uint32_t max = now[0] + now[1] + now[2];
    std::vector<Step> steps;
    if (s != nullptr) {
        steps = steps_of(*s, pool, snap.now_unix_ns, in.window_ns);
        for (const Step& st : steps) {
            max = std::max(max, st.c[0] + st.c[1] + st.c[2]);
        }
    }
    std::string words = "Now ";
    counts_words(words, now);
    words += ". ";
    if (s == nullptr || s->size() == 0) {
        words += "No samples over time yet.";
    } else {
        words += "Over the last ";
        report::append_age(words, in.window_ns);
        words += " (";
        report::append_uint(words, s->size());
        words += s->size() == 1 ? " sample): " : " samples): ";
        for (const Health h : kStackOrder) {
            range_words(words, *s, pool, h);
            words += h == Health::Unknown ? "." : ", ";
        }
    }
    out +=
        "<svg class=\"pool-health\" viewBox=\"0 0 400 78\" width=\"400\" height=\"78\" "
        "role=\"img\"><title>Servers by health over the last ";
    report::append_age(out, in.window_ns);
    out += ", and now</title><desc>";
    out += words;
    out += "</desc><rect x=\"0\" y=\"0\" width=\"360\" height=\"60\" fill=\"#f3f4f6\"/>";
    for (std::size_t layer = 0; layer < kStackOrder.size(); ++layer) {
        append_layer(out, steps, layer, max);
    }
    append_now_bar(out, now, max);
    out += "<text x=\"0\" y=\"75\">&minus;";
    report::append_age(out, in.window_ns);
    out += "</text><text x=\"382\" y=\"75\" text-anchor=\"middle\">now</text></svg>";
    out += "<p class=\"caption\">";
    out += words;
    out += "</p>";
}

// --- latency per pool --------------------------------------------------------------------

std::size_t latency_bucket(std::uint32_t us) {
    for (std::size_t b = 0; b < std::size(kLatencyBoundsUs); ++b) {
        if (us <= kLatencyBoundsUs[b]) {
            return b;
        }
    }
    return kLatencyBuckets - 1;
}

void bound_words(std::string& out, std::size_t b) {
    if (b + 1 == kLatencyBuckets) {
        out += "over ";
        report::append_us_as_ms(out, kLatencyBoundsUs[b - 1]);
        return;
    }
    out += b == 0 ? "up to " : "";
    if (b > 0) {
        report::append_us_as_ms(out, kLatencyBoundsUs[b - 1]);
        out += " to ";
    }
    report::append_us_as_ms(out, kLatencyBoundsUs[b]);
}

constexpr std::string_view kBucketLabels[kLatencyBuckets] = {
    ".25", ".5", "1", "2.5", "5", "10", "25", "50", "100", "250", "1k", "&gt;"};

void append_latency_picture(std::string& out, std::vector<std::uint32_t>& us) {
    std::array<std::uint32_t, kLatencyBuckets> n{};
    for (const std::uint32_t v : us) {
        n[latency_bucket(v)]++;
    }
    std::string words;
    if (us.empty()) {
        words = "No probe has completed yet.";
    } else {
        auto at = [&](std::size_t q) {
            std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(q), us.end());
            return us[q];
        };
        const std::uint32_t p50 = at((us.size() - 1) / 2);
        const std::uint32_t p90 = at((us.size() - 1) * 9 / 10);
        const std::uint32_t slowest = *std::max_element(us.begin(), us.end());
        words = "Latest probe of ";
        report::append_uint(words, us.size());
        words += us.size() == 1 ? " server: median " : " servers: median ";
        report::append_us_as_ms(words, p50);
        words += ", 90th percentile ";
        report::append_us_as_ms(words, p90);
        words += ", slowest ";
        report::append_us_as_ms(words, slowest);
        words += '.';
    }
    const std::uint32_t top = std::max<std::uint32_t>(1, *std::max_element(n.begin(), n.end()));
    out +=
        "<svg class=\"latency\" viewBox=\"0 0 400 78\" width=\"400\" height=\"78\" "
        "role=\"img\"><title>Latency of the latest probe per server, in ms</title><desc>";
    out += words;
    out += "</desc><line x1=\"0\" y1=\"60.5\" x2=\"396\" y2=\"60.5\" stroke=\"#888\"/>";
    for (std::size_t b = 0; b < kLatencyBuckets; ++b) {
        const int x = static_cast<int>(b) * 33;
        const int h = n[b] == 0 ? 0 : std::max(1, static_cast<int>(std::uint64_t{n[b]} * 58 / top));
        out += "<g class=\"bucket\"><title>";
        report::append_uint(out, n[b]);
        out += n[b] == 1 ? " server: " : " servers: ";
        bound_words(out, b);
        out += "</title><rect";
        attr_int(out, "x", x + 2);
        attr_int(out, "y", 60 - h);
        out += " width=\"29\"";
        attr_int(out, "height", h);
        out += " fill=\"#0f5ea8\"/><text";
        attr_int(out, "x", x + 16);
        out += " y=\"75\" text-anchor=\"middle\">";
        out += kBucketLabels[b];
        out += "</text></g>";
    }
    out += "</svg><p class=\"caption\">";
    out += words;
    out += " Buckets in ms.</p>";
}

// --- timeline ----------------------------------------------------------------------------

constexpr int kCellW = 8;
constexpr int kCellStep = 9;

std::string_view outcome_fill(Reason r) {
    if (r == Reason::Ok) {
        return "#107c10";
    }
    return reason_info(r).counts_against_backend ? "#c50f1f" : "#8a8a8a";
}

// Bar height for a duration: log scale, 10 us -> 1 .. 10 s -> 14.
int duration_h(std::uint32_t us) {
    int decades = 0;
    for (std::uint32_t v = us; v >= 10 && decades < 7; v /= 10) {
        ++decades;
    }
    return std::clamp(1 + (decades - 1) * 13 / 6, 1, 14);
}

void append_cell_title(std::string& out, const abi::HistoryEntry& e) {
    out += "<title>";
    append_utc(out, static_cast<std::int64_t>(e.unix_ns / 1'000'000'000ull));
    out += ": ";
    out += reason_info(static_cast<Reason>(e.reason)).code;
    if (e.http_status != 0) {
        out += ", HTTP ";
        report::append_uint(out, e.http_status);
    }
    out += ", ";
    report::append_us_as_ms(out, e.duration_us);
    out += ", then ";
    out += health_name(report::history_health(e));
    out += "</title>";
}

}  // namespace

void append_pool_pictures(std::string& out, const report::Snapshot& snap,
                          const PoolPicturesInput& in) {
    const report::StaticInfo& info = *snap.info;
    const std::vector<HealthCounts> now = count_pool_health(snap);
    std::vector<std::vector<std::uint32_t>> latency(info.pools.size());
    for (const abi::RowRecord& r : info.rows) {
        const report::Effective e = report::effective(snap, r.target_index);
        if (e.state != nullptr && e.state->last_probe_unix_ns != 0 && e.reason != Reason::Pending) {
            latency[r.pool_index].push_back(e.state->latency_us);
        }
    }
    out += "<section id=\"pictures\"><h2>Pools over time</h2>";
    std::size_t drawn = 0;
    for (std::size_t p = 0; p < info.pools.size(); ++p) {
        const std::string_view name = info.str(info.pools[p].name);
        if (!in.only_pool.empty() && name != in.only_pool) {
            continue;
        }
        if (drawn == kPoolPicturesMax) {
            out += "<p class=\"muted\" id=\"pictures-cut\">Pictures are drawn for the first ";
            report::append_uint(out, kPoolPicturesMax);
            out += " pools; choose a pool in the filter to see another.</p>";
            break;
        }
        ++drawn;
        out += "<figure class=\"pool-pictures\" data-pool=\"";
        append_html_escaped(out, name);
        out += "\"><figcaption>Pool <b>";
        append_html_escaped(out, name);
        out += "</b></figcaption><div class=\"pair\"><div>";
        append_health_picture(out, snap, p, now[p], in);
        out += "</div><div>";
        append_latency_picture(out, latency[p]);
        out += "</div></div></figure>\n";
    }
    out += "</section>\n";
}

void append_timeline(std::string& out, std::span<const abi::HistoryEntry> newest_first, bool wide) {
    const std::size_t n = newest_first.size();
    std::size_t ok = 0;
    std::size_t failed = 0;
    std::size_t changes = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const abi::HistoryEntry& e = newest_first[i];
        const auto r = static_cast<Reason>(e.reason);
        ok += r == Reason::Ok ? 1 : 0;
        failed += reason_info(r).counts_against_backend ? 1 : 0;
        if (i + 1 < n && report::history_health(e) != report::history_health(newest_first[i + 1])) {
            ++changes;
        }
    }
    std::string words;
    if (n == 0) {
        words = "No results yet.";
    } else {
        report::append_uint(words, n);
        words += n == 1 ? " result: " : " results: ";
        report::append_uint(words, ok);
        words += " ok, ";
        report::append_uint(words, failed);
        words += " failed; health changed ";
        report::append_uint(words, changes);
        words += changes == 1 ? " time; now " : " times; now ";
        words += health_name(report::history_health(newest_first[0]));
        words += '.';
    }
    const int w = static_cast<int>(abi::kHistoryEntries) * kCellStep;
    out += "<figure class=\"timeline\"><svg viewBox=\"0 0 ";
    report::append_int(out, w);
    out += " 32\"";
    attr_int(out, "width", wide ? 2 * w : w);
    attr_int(out, "height", wide ? 64 : 32);
    out += " role=\"img\"><title>Last results, oldest left</title><desc>";
    out += words;
    out += "</desc>";
    for (std::size_t k = 0; k < n; ++k) {
        const abi::HistoryEntry& e = newest_first[n - 1 - k];  // oldest first
        const int x = static_cast<int>(k) * kCellStep;
        const int h = duration_h(e.duration_us);
        out += "<g class=\"result\">";
        append_cell_title(out, e);
        out += "<rect";
        attr_int(out, "x", x);
        out += " y=\"0\" width=\"8\" height=\"12\" fill=\"";
        out += outcome_fill(static_cast<Reason>(e.reason));
        out += "\"/><rect";
        attr_int(out, "x", x);
        out += " y=\"13\" width=\"8\" height=\"3\" fill=\"";
        out += fill_of(report::history_health(e));
        out += "\"/><rect";
        attr_int(out, "x", x);
        attr_int(out, "y", 32 - h);
        out += " width=\"8\"";
        attr_int(out, "height", h);
        out += " fill=\"#7a8da3\"/></g>";
        if (k > 0 && report::history_health(e) != report::history_health(newest_first[n - k])) {
            out += "<line class=\"transition\"";
            attr_int(out, "x1", x - 1);
            out += " y1=\"0\"";
            attr_int(out, "x2", x - 1);
            out += " y2=\"17\" stroke=\"#1b1b1b\" stroke-width=\"1.5\"/>";
        }
    }
    static_assert(kCellW < kCellStep);
    out += "</svg><figcaption class=\"caption\">";
    out += words;
    out += "</figcaption></figure>";
}

void append_recent_events(std::string& out, const report::Snapshot& snap) {
    const report::StaticInfo& info = *snap.info;
    const std::vector<abi::EventRecord>& all = snap.events.events;
    const std::size_t take = std::min(all.size(), kRecentEventsMax);
    std::vector<std::uint32_t> targets;
    for (std::size_t i = 0; i < take; ++i) {
        targets.push_back(all[all.size() - 1 - i].target);
    }
    std::sort(targets.begin(), targets.end());
    targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
    std::vector<std::pair<std::uint32_t, std::uint32_t>> rows;  // (target, row)
    for (std::uint32_t r = 0; r < info.rows.size(); ++r) {
        if (std::binary_search(targets.begin(), targets.end(), info.rows[r].target_index)) {
            rows.emplace_back(info.rows[r].target_index, r);
        }
    }
    std::sort(rows.begin(), rows.end());
    out += "<section id=\"recent-events\"><h2>Recent events</h2>";
    if (take == 0) {
        out += "<p class=\"muted\">No health change logged yet.</p></section>\n";
        return;
    }
    out +=
        "<table id=\"events\"><thead><tr><th>Time (UTC)</th><th>Pool</th><th>Backend "
        "setting</th><th>Server</th><th>Change</th><th>Reason</th></tr></thead><tbody>";
    std::size_t shown = 0;
    for (std::size_t i = 0; i < take && shown < kRecentEventsMax; ++i) {
        const abi::EventRecord& e = all[all.size() - 1 - i];
        auto it = std::lower_bound(rows.begin(), rows.end(), std::make_pair(e.target, 0u));
        for (; it != rows.end() && it->first == e.target && shown < kRecentEventsMax; ++it) {
            const abi::RowRecord& row = info.rows[it->second];
            const auto to = static_cast<Health>(e.to);
            out += "<tr class=\"event\" data-to=\"";
            out += health_name(to);
            out += "\"><td>";
            append_utc(out, static_cast<std::int64_t>(e.unix_ns / 1'000'000'000ull));
            out += "</td><td>";
            append_html_escaped(out, info.str(info.pools[row.pool_index].name));
            out += "</td><td>";
            append_html_escaped(out, info.str(info.settings[row.setting_index].name));
            out += "</td><td>";
            append_html_escaped(out, info.str(info.servers[row.server_index].address));
            out += "</td><td>";
            out += health_name(static_cast<Health>(e.from));
            out += " &rarr; <span class=\"health ";
            out += to == Health::Healthy ? "healthy"
                                         : (to == Health::Unhealthy ? "unhealthy" : "unknown");
            out += "\">";
            out += health_name(to);
            out += "</span></td><td><code>";
            out += reason_info(static_cast<Reason>(e.reason)).code;
            out += "</code></td></tr>";
            ++shown;
        }
    }
    out += "</tbody></table><p class=\"muted\">";
    report::append_uint(out, snap.events.logged);
    out +=
        " logged since the engine started; all of them at <a href=\"/events\">/events</a>."
        "</p></section>\n";
}

}  // namespace ringprobe::exporter
