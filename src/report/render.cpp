// Rendering (see render.hpp). One JSON emitter serves both the az (camelCase) and the PowerShell
// (PascalCase) shapes: keys are written in camelCase and upper-cased on the fly.
#include "report/render.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "config/plan.hpp"
#include "report/sentences.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

void append_json_escaped(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::size_t i = 0;
    while (i < s.size()) {
        // Fast path: a run of ASCII that needs no escaping.
        std::size_t j = i;
        while (j < s.size()) {
            const auto c = static_cast<unsigned char>(s[j]);
            if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
                break;
            }
            ++j;
        }
        out.append(s.data() + i, j - i);
        i = j;
        if (i == s.size()) {
            break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
            ++i;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            out += '\\';
            out += c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            ++i;
        } else if (c < 0x20) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 15];
            ++i;
        } else {
            std::size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                          : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
            bool ok = n != 0 && i + n <= s.size();
            for (std::size_t k = 1; ok && k < n; ++k) {
                ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
            }
            if (ok) {
                out.append(s.data() + i, n);
                i += n;
            } else {
                out += "\xEF\xBF\xBD";
                ++i;
            }
        }
    }
}

namespace {

// Rows grouped as the gateway composes its report: pool -> setting -> servers.
struct Group {
    std::uint32_t pool;
    std::uint32_t setting;
    std::size_t begin;  // into the sorted row list
    std::size_t end;
};

struct Selection {
    std::vector<std::uint32_t> rows;  // row indices, sorted by (pool, setting), stable
    std::vector<Group> groups;
};

Selection select_rows(const Snapshot& snap, const RenderOptions& o) {
    const StaticInfo& info = *snap.info;
    Selection sel;
    sel.rows.reserve(info.rows.size());
    for (std::uint32_t i = 0; i < info.rows.size(); ++i) {
        const abi::RowRecord& r = info.rows[i];
        if (!o.pool.empty() && info.str(info.pools[r.pool_index].name) != o.pool) {
            continue;
        }
        if (o.health && effective(snap, r.target_index).health != *o.health) {
            continue;
        }
        sel.rows.push_back(i);
    }
    std::stable_sort(sel.rows.begin(), sel.rows.end(), [&](std::uint32_t a, std::uint32_t b) {
        const abi::RowRecord& x = info.rows[a];
        const abi::RowRecord& y = info.rows[b];
        return x.pool_index != y.pool_index ? x.pool_index < y.pool_index
                                            : x.setting_index < y.setting_index;
    });
    for (std::size_t i = 0; i < sel.rows.size();) {
        const abi::RowRecord& r = info.rows[sel.rows[i]];
        std::size_t j = i + 1;
        while (j < sel.rows.size() && info.rows[sel.rows[j]].pool_index == r.pool_index &&
               info.rows[sel.rows[j]].setting_index == r.setting_index) {
            ++j;
        }
        sel.groups.push_back(Group{r.pool_index, r.setting_index, i, j});
        i = j;
    }
    return sel;
}

std::string_view id_or_name(const StaticInfo& info, abi::StrRef id, abi::StrRef name) {
    return id.length > 0 ? info.str(id) : info.str(name);
}

class JsonOut {
public:
    JsonOut(std::string& out, bool pascal, int indent) : out_(out), pascal_(pascal), indent_(indent) {}

    void begin_object() { open('{'); }
    void end_object() { close('}'); }
    void begin_array() { open('['); }
    void end_array() { close(']'); }

    // Keys are given in camelCase.
    void key(std::string_view k) {
        element();
        out_ += '"';
        if (pascal_ && !k.empty() && k[0] >= 'a' && k[0] <= 'z') {
            out_ += static_cast<char>(k[0] - 'a' + 'A');
            out_.append(k.substr(1));
        } else {
            out_.append(k);
        }
        out_ += "\": ";
        after_key_ = true;
    }
    void value(std::string_view s) {
        element();
        out_ += '"';
        append_json_escaped(out_, s);
        out_ += '"';
    }
    void value(std::uint64_t v) {
        element();
        append_uint(out_, v);
    }
    void value_int(std::int64_t v) {
        element();
        append_int(out_, v);
    }
    void value(bool b) {
        element();
        out_ += b ? "true" : "false";
    }
    // A string value built by the caller straight into the output.
    template <typename F>
    void value_with(F&& f) {
        element();
        out_ += '"';
        scratch_.clear();
        f(scratch_);
        append_json_escaped(out_, scratch_);
        out_ += '"';
    }
    void field(std::string_view k, std::string_view v) { key(k); value(v); }
    void field(std::string_view k, std::uint64_t v) { key(k); value(v); }

    // Separates top-level documents of a sequence (the PowerShell shape).
    void reset_top() { depth_ = 0; first_[0] = true; }

private:
    void element() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (depth_ > 0) {
            if (!first_[depth_]) {
                out_ += ',';
            }
            newline();
        }
        first_[depth_] = false;
    }
    void open(char c) {
        element();
        out_ += c;
        RP_ASSERT(depth_ + 1 < static_cast<int>(first_.size()));
        first_[++depth_] = true;
    }
    void close(char c) {
        const bool empty = first_[depth_];
        --depth_;
        if (!empty) {
            newline();
        }
        out_ += c;
    }
    void newline() {
        out_ += '\n';
        out_.append(static_cast<std::size_t>(depth_ * indent_), ' ');
    }

    std::string& out_;
    std::string scratch_;
    bool pascal_;
    int indent_;
    int depth_ = 0;
    bool after_key_ = false;
    std::array<bool, 16> first_{true};
};

void emit_details(JsonOut& j, const Snapshot& snap, std::uint32_t t) {
    const abi::TargetRecord& tr = snap.info->targets[t];
    const Effective e = effective(snap, t);
    j.key("ringprobe");
    j.begin_object();
    j.field("reason", reason_info(e.reason).code);
    j.field("port", tr.port);
    j.field("protocol", protocol_name(static_cast<Protocol>(tr.protocol)));
    j.field("healthyThreshold", tr.healthy_threshold);
    j.field("unhealthyThreshold", tr.unhealthy_threshold);
    j.field("intervalMs", tr.interval_ms);
    j.field("timeoutMs", tr.timeout_ms);
    j.key("readable");
    j.value(e.state != nullptr);
    if (e.state != nullptr) {
        const abi::TargetStatePayload& s = *e.state;
        j.field("httpStatus", s.http_status);
        j.key("errno");
        j.value_int(s.sys_errno);
        j.key("timingsUs");
        j.begin_object();
        j.field("total", s.latency_us);
        j.field("dns", s.dns_us);
        j.field("connect", s.connect_us);
        j.field("tls", s.tls_us);
        j.field("firstByte", s.first_byte_us);
        j.end_object();
        j.field("consecutiveOk", s.consecutive_ok);
        j.field("consecutiveFail", s.consecutive_fail);
        j.field("lastProbeUnixNs", s.last_probe_unix_ns);
        j.field("lastChangeUnixNs", s.last_change_unix_ns);
        j.field("nextProbeUnixNs", s.next_probe_unix_ns);
        j.key("totals");
        j.begin_object();
        j.field("probes", s.total_probes);
        j.field("ok", s.total_ok);
        j.field("fail", s.total_fail);
        j.field("proberErrors", s.total_prober_errors);
        j.end_object();
        j.field("detail", std::string_view(s.detail, s.detail_len));
    }
    j.end_object();
}

void emit_server(JsonOut& j, const Snapshot& snap, const abi::RowRecord& r, bool details) {
    const StaticInfo& info = *snap.info;
    j.begin_object();
    j.field("address", info.str(info.servers[r.server_index].address));
    j.field("health", health_name(effective(snap, r.target_index).health));
    j.key("healthProbeLog");
    j.value_with([&](std::string& s) { append_probe_log(s, snap, r.target_index); });
    if (details) {
        emit_details(j, snap, r.target_index);
    }
    j.end_object();
}

// One pool's object: backendAddressPool + backendHttpSettingsCollection.
void emit_pool(JsonOut& j, const Snapshot& snap, const Selection& sel, std::size_t g_begin,
               std::size_t g_end, const RenderOptions& o) {
    const StaticInfo& info = *snap.info;
    const abi::PoolRecord& pool = info.pools[sel.groups[g_begin].pool];
    j.begin_object();
    j.key("backendAddressPool");
    j.begin_object();
    j.field("id", id_or_name(info, pool.id, pool.name));
    j.end_object();
    j.key("backendHttpSettingsCollection");
    j.begin_array();
    for (std::size_t g = g_begin; g < g_end; ++g) {
        const abi::SettingRecord& st = info.settings[sel.groups[g].setting];
        j.begin_object();
        j.key("backendHttpSettings");
        j.begin_object();
        j.field("id", id_or_name(info, st.id, st.name));
        j.end_object();
        j.key("servers");
        j.begin_array();
        for (std::size_t i = sel.groups[g].begin; i < sel.groups[g].end; ++i) {
            emit_server(j, snap, info.rows[sel.rows[i]], o.details);
        }
        j.end_array();
        j.end_object();
    }
    j.end_array();
    j.end_object();
}

// Calls f(g_begin, g_end) for each pool's run of groups.
template <typename F>
void for_each_pool(const Selection& sel, F&& f) {
    for (std::size_t g = 0; g < sel.groups.size();) {
        std::size_t h = g + 1;
        while (h < sel.groups.size() && sel.groups[h].pool == sel.groups[g].pool) {
            ++h;
        }
        f(g, h);
        g = h;
    }
}

void emit_report_meta(JsonOut& j, const Snapshot& snap) {
    const StaticInfo& info = *snap.info;
    j.key("ringprobe");
    j.begin_object();
    j.field("gateway", info.gateway_name());
    j.field("generation", info.header.generation);
    j.key("enginePid");
    j.value_int(info.header.engine_pid);
    j.field("engine", engine_state_name(snap.engine));
    j.field("heartbeatUnixNs", snap.heartbeat_unix_ns);
    j.field("reportAgeMs", snap.report_age_ns() / 1'000'000);
    j.field("configDigest", info.header.config_digest);
    j.field("unreadableTargets", snap.unreadable);
    j.end_object();
}

std::size_t estimate(const Selection& sel, bool details) {
    return 256 + sel.rows.size() * (details ? 900 : 260);
}

}  // namespace

std::string render_json(const Snapshot& snap, const RenderOptions& o) {
    const Selection sel = select_rows(snap, o);
    std::string out;
    out.reserve(estimate(sel, o.details));
    JsonOut j(out, false, 2);
    j.begin_object();
    j.key("backendAddressPools");
    j.begin_array();
    for_each_pool(sel, [&](std::size_t b, std::size_t e) { emit_pool(j, snap, sel, b, e, o); });
    j.end_array();
    if (o.details) {
        emit_report_meta(j, snap);
    }
    j.end_object();
    out += '\n';
    return out;
}

std::string render_powershell(const Snapshot& snap, const RenderOptions& o) {
    const Selection sel = select_rows(snap, o);
    std::string out;
    out.reserve(estimate(sel, o.details) * 3 / 2);
    JsonOut j(out, true, 4);
    for_each_pool(sel, [&](std::size_t b, std::size_t e) {
        j.reset_top();
        emit_pool(j, snap, sel, b, e, o);
        out += '\n';
    });
    return out;
}

namespace {

constexpr std::string_view kGreen = "\x1b[32m", kRed = "\x1b[31m", kYellow = "\x1b[33m",
                           kReset = "\x1b[0m";

std::string_view health_color(Health h) {
    switch (h) {
        case Health::Healthy: return kGreen;
        case Health::Unhealthy: return kRed;
        case Health::Unknown: return kYellow;
    }
    return kYellow;
}

void pad_to(std::string& out, std::size_t written, std::size_t width) {
    out.append(width > written ? width - written : 0, ' ');
    out += "  ";
}

}  // namespace

std::string render_table(const Snapshot& snap, const RenderOptions& o) {
    const StaticInfo& info = *snap.info;
    const Selection sel = select_rows(snap, o);
    constexpr std::size_t kCols = 6;
    const std::array<std::string_view, kCols> titles = {"POOL", "SETTING", "SERVER", "HEALTH",
                                                         "RESULT", "AGE"};
    // Cells are built once, then laid out with the widest cell per column.
    std::vector<std::array<std::string, kCols>> cells(sel.rows.size());
    std::vector<Health> healths(sel.rows.size());
    std::array<std::size_t, kCols> width{};
    for (std::size_t c = 0; c < kCols; ++c) {
        width[c] = titles[c].size();
    }
    for (std::size_t i = 0; i < sel.rows.size(); ++i) {
        const abi::RowRecord& r = info.rows[sel.rows[i]];
        const abi::SettingRecord& st = info.settings[r.setting_index];
        const Effective e = effective(snap, r.target_index);
        auto& row = cells[i];
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
        if (e.state == nullptr || e.state->last_probe_unix_ns == 0) {
            row[5] = "-";
        } else {
            const std::uint64_t last = e.state->last_probe_unix_ns;
            append_age(row[5], snap.now_unix_ns > last ? snap.now_unix_ns - last : 0);
        }
        healths[i] = e.health;
        for (std::size_t c = 0; c < kCols; ++c) {
            width[c] = std::max(width[c], row[c].size());
        }
    }

    std::string out;
    out += "gateway ";
    out += info.gateway_name();
    out += ", generation ";
    append_uint(out, info.header.generation);
    out += ", engine ";
    out += engine_state_name(snap.engine);
    out += ", report age ";
    append_age(out, snap.report_age_ns());
    out += '\n';
    if (snap.engine != EngineState::Live) {
        out += "warning: the health could not be retrieved from the engine; every server shows "
               "Unknown. Start or restart the engine.\n";
    }
    for (std::size_t c = 0; c < kCols; ++c) {
        out += titles[c];
        if (c + 1 < kCols) {
            pad_to(out, titles[c].size(), width[c]);
        }
    }
    out += '\n';
    for_each_pool(sel, [&](std::size_t gb, std::size_t ge) {
        std::array<std::uint64_t, 3> count{};  // by Health value
        for (std::size_t i = sel.groups[gb].begin; i < sel.groups[ge - 1].end; ++i) {
            for (std::size_t c = 0; c < kCols; ++c) {
                if (c == 3 && o.color) {
                    out += health_color(healths[i]);
                    out += cells[i][c];
                    out += kReset;
                } else {
                    out += cells[i][c];
                }
                if (c + 1 < kCols) {
                    pad_to(out, cells[i][c].size(), width[c]);
                }
            }
            out += '\n';
            ++count[static_cast<std::size_t>(healths[i])];
        }
        out += "pool ";
        out += info.str(info.pools[sel.groups[gb].pool].name);
        out += ": ";
        append_uint(out, count[static_cast<std::size_t>(Health::Healthy)]);
        out += " healthy, ";
        append_uint(out, count[static_cast<std::size_t>(Health::Unhealthy)]);
        out += " unhealthy, ";
        append_uint(out, count[static_cast<std::size_t>(Health::Unknown)]);
        out += " unknown\n";
    });
    if (sel.rows.empty()) {
        out += "(no servers match)\n";
    }
    return out;
}

std::string render(const Snapshot& snap, const RenderOptions& o) {
    switch (o.format) {
        case Format::Json: return render_json(snap, o);
        case Format::Powershell: return render_powershell(snap, o);
        case Format::Table: return render_table(snap, o);
    }
    return render_table(snap, o);
}

}  // namespace ringprobe::report
