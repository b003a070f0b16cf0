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
    void value_null() {
        element();
        out_ += "null";
    }
    // A string, or null when it is empty.
    void value_or_null(std::string_view s) {
        if (s.empty()) {
            value_null();
        } else {
            value(s);
        }
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

// Certificate facts of an Https/Tls target (docs/report-format.md, "JSON"). Before the first
// full handshake capturedUnixNs is 0, the chain empty and the facts null or zero.
void emit_tls(JsonOut& j, const Snapshot& snap, std::uint32_t t) {
    const StaticInfo& info = *snap.info;
    const abi::TargetRecord& tr = info.targets[t];
    const abi::TlsFactsPayload* f = tls_facts(snap, t);
    const bool captured = f != nullptr && f->captured_unix_ns != 0;
    const Effective e = effective(snap, t);
    j.key("tls");
    j.begin_object();
    j.field("capturedUnixNs", captured ? f->captured_unix_ns : 0);
    j.key("protocol");
    j.value_or_null(captured ? fixed_text(f->protocol) : std::string_view());
    j.key("cipher");
    j.value_or_null(captured ? fixed_text(f->cipher) : std::string_view());
    j.key("sni");  // what went out: known once a handshake was captured, else the configured one
    j.value_or_null(captured && f->sni_sent == 0 ? std::string_view() : info.str(tr.sni));
    j.key("host");
    j.value_or_null(info.str(tr.host));
    j.key("trustAnchor");
    j.value_or_null(captured ? fixed_text(f->anchor) : std::string_view());
    j.key("handshakeOk");
    j.value(captured && f->handshake_ok != 0);
    j.key("verifyError");
    j.value_int(captured ? f->verify_error : 0);
    j.field("presented", captured ? f->presented : 0);
    j.field("fullHandshakes", f != nullptr ? f->full_handshakes : 0);
    j.field("resumedHandshakes", f != nullptr ? f->resumed_handshakes : 0);
    j.key("earliestNotAfter");
    const bool has_expiry = captured && f->earliest_not_after_s != 0;
    if (has_expiry) {
        j.value_with([&](std::string& s) { append_utc(s, f->earliest_not_after_s); });
    } else {
        j.value_null();
    }
    j.key("expiresInDays");
    if (has_expiry) {
        j.value_int(days_until(f->earliest_not_after_s, snap.now_unix_ns));
    } else {
        j.value_null();
    }
    j.field("expiryWarningDays", tr.expiry_warning_days);
    j.key("expiryWarning");
    j.value(e.state != nullptr && (e.state->flags & abi::kStateCertExpiring) != 0);
    j.key("chain");
    j.begin_array();
    const std::size_t n = captured ? std::min<std::size_t>(f->chain_count, abi::kChainRecords) : 0;
    for (std::size_t i = 0; i < n; ++i) {
        const abi::CertRecord& c = f->chain[i];
        j.begin_object();
        j.field("subject", fixed_text(c.subject));
        j.field("issuer", fixed_text(c.issuer));
        j.field("commonName", fixed_text(c.common_name));
        j.key("sans");
        j.begin_array();
        std::string_view sans = fixed_text(c.sans);
        while (!sans.empty()) {
            const std::size_t comma = sans.find(',');
            std::string_view one = sans.substr(0, comma);
            while (!one.empty() && one.front() == ' ') {
                one.remove_prefix(1);
            }
            if (!one.empty()) {
                j.value(one);
            }
            sans = comma == std::string_view::npos ? std::string_view() : sans.substr(comma + 1);
        }
        j.end_array();
        j.key("notBefore");
        j.value_with([&](std::string& s) { append_utc(s, c.not_before_s); });
        j.key("notAfter");
        j.value_with([&](std::string& s) { append_utc(s, c.not_after_s); });
        j.key("sha256");
        j.value_with([&](std::string& s) { append_sha256(s, c.sha256); });
        j.key("isCa");
        j.value(c.is_ca != 0);
        j.key("selfIssued");
        j.value(c.self_issued != 0);
        j.end_object();
    }
    j.end_array();
    j.end_object();
}

// What DNS said for an FQDN target, and each address it gave with its own probe result.
void emit_dns(JsonOut& j, const Snapshot& snap, std::uint32_t t) {
    const abi::NameStatePayload* p = name_state(snap, t);
    const abi::NameStatePayload n = p != nullptr ? *p : abi::NameStatePayload{};
    j.key("dns");
    j.begin_object();
    j.field("standing", dns_standing_name(n.standing));
    j.field("lastOutcome", dns_outcome_name(n.last_outcome));
    j.field("ttlS", n.ttl_s);
    j.field("lastLookupUnixNs", n.last_lookup_unix_ns);
    j.field("lastGoodUnixNs", n.last_good_unix_ns);
    j.key("lastGoodAgeMs");
    if (n.last_good_unix_ns != 0) {
        j.value(snap.now_unix_ns > n.last_good_unix_ns
                    ? (snap.now_unix_ns - n.last_good_unix_ns) / 1'000'000
                    : 0);
    } else {
        j.value_null();
    }
    j.field("nextLookupUnixNs", n.next_lookup_unix_ns);
    j.field("lookups", n.lookups);
    j.key("truncated");
    j.value(n.truncated != 0);
    j.key("addresses");
    j.begin_array();
    for (const abi::AddressStatePayload& a : address_states(snap, t)) {
        if (a.family == 0) {
            continue;
        }
        j.begin_object();
        j.key("address");
        j.value_with([&](std::string& s) { append_ip(s, a); });
        j.field("health", health_name(static_cast<Health>(a.health)));
        j.field("reason", reason_info(static_cast<Reason>(a.reason)).code);
        j.field("httpStatus", a.http_status);
        j.key("errno");
        j.value_int(a.sys_errno);
        j.field("latencyUs", a.latency_us);
        j.field("consecutiveOk", a.consecutive_ok);
        j.field("consecutiveFail", a.consecutive_fail);
        j.field("sinceUnixNs", a.since_unix_ns);
        j.field("lastProbeUnixNs", a.last_probe_unix_ns);
        j.field("lastChangeUnixNs", a.last_change_unix_ns);
        j.field("totalProbes", a.total_probes);
        j.field("totalFail", a.total_fail);
        j.end_object();
    }
    j.end_array();
    j.end_object();
}

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
    if (tr.tls_slot != abi::kNoSlot) {
        emit_tls(j, snap, t);
    }
    if (tr.name_slot != abi::kNoSlot) {
        emit_dns(j, snap, t);
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
    if (snap.resolver.names > 0) {
        const abi::ResolverStatsPayload& r = snap.resolver;
        j.key("resolver");
        j.begin_object();
        j.field("names", r.names);
        j.field("lookupsStarted", r.lookups_started);
        j.field("lookupsDone", r.lookups_done);
        j.key("byOutcome");
        j.begin_object();
        for (std::uint8_t i = 0; i < std::size(r.by_outcome); ++i) {
            j.field(dns_outcome_name(i), r.by_outcome[i]);
        }
        j.end_object();
        j.field("inflightPeak", r.inflight_peak);
        j.field("noticesDropped", r.notices_dropped);
        j.end_object();
    }
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

// A mark for the fault: "XX", red on a terminal.
void append_mark(std::string& out, bool color) {
    if (color) {
        out += kRed;
        out += "XX";
        out += kReset;
    } else {
        out += "XX";
    }
}

// The yellow note a row's RESULT cell carries: the certificate early warning, DNS staleness.
std::string row_note(const Snapshot& snap, std::uint32_t t) {
    std::string note;
    std::int64_t days = 0;
    if (cert_expiring(snap, t, days)) {
        if (days >= 0) {
            note += "certificate expires in ";
            append_int(note, days);
            note += days == 1 ? " day" : " days";
        } else {
            note += "certificate expires soon";
        }
    }
    const Effective e = effective(snap, t);
    if (e.state != nullptr && (e.state->flags & abi::kStateDnsStale) != 0) {
        note += note.empty() ? "" : "; ";
        note += "probing last good addresses, DNS stale";
    }
    return note;
}

// "ok, 200" / "connect refused" for one address of a name.
void append_address_words(std::string& out, const abi::AddressStatePayload& a) {
    const auto reason = static_cast<Reason>(a.reason);
    if (reason == Reason::Ok && a.http_status != 0) {
        out += "ok, ";
        append_uint(out, a.http_status);
        return;
    }
    for (char ch : reason_info(reason).code) {
        out += ch == '_' ? ' ' : ch;
    }
    if (a.http_status != 0) {
        out += ", ";
        append_uint(out, a.http_status);
    }
}

void append_timings(std::string& out, const abi::TargetStatePayload& s) {
    struct Phase {
        std::string_view name;
        std::uint32_t us;
    };
    const Phase phases[] = {{"dns", s.dns_us},
                            {"connect", s.connect_us},
                            {"tls", s.tls_us},
                            {"first byte", s.first_byte_us},
                            {"total", s.latency_us}};
    bool first = true;
    for (const Phase& p : phases) {
        out += first ? "" : ", ";
        first = false;
        out += p.name;
        out += ' ';
        if (p.us == 0) {
            out += '-';
        } else {
            append_us_as_ms(out, p.us);
        }
    }
}

// The TLS lines shared by the table's details and --troubleshoot: the connection, then each
// certificate of the chain (the one the reason is about marked), then the earliest notAfter.
void append_tls_lines(std::string& out, const Snapshot& snap, std::uint32_t t,
                      std::string_view indent, bool color) {
    const StaticInfo& info = *snap.info;
    const abi::TargetRecord& tr = info.targets[t];
    const abi::TlsFactsPayload* f = tls_facts(snap, t);
    const bool captured = f != nullptr && f->captured_unix_ns != 0;
    out += indent;
    out += "SNI sent: ";
    if (captured && f->sni_sent == 0) {
        out += "none";
    } else if (tr.sni.length > 0) {
        append_printable(out, info.str(tr.sni));
    } else {
        out += "none (an IP literal, or no name to send)";
    }
    out += "; Host sent: ";
    if (tr.host.length > 0) {
        append_printable(out, info.str(tr.host));
    } else {
        out += "none (a Tls probe sends no request)";
    }
    out += '\n';
    out += indent;
    if (!captured) {
        out += "TLS: no full handshake captured yet\n";
        return;
    }
    out += "TLS: ";
    if (f->protocol[0] == '\0') {
        out += "handshake not completed";  // the certificates arrived, then it failed
    } else {
        append_printable(out, fixed_text(f->protocol));
        if (f->cipher[0] != '\0') {
            out += ' ';
            append_printable(out, fixed_text(f->cipher));
        }
    }
    out += ", trust anchor ";
    if (f->anchor[0] != '\0') {
        append_printable(out, fixed_text(f->anchor));
    } else {
        out += "none";
    }
    out += f->handshake_ok != 0 ? ", verified" : ", not verified";
    if (f->verify_error != 0) {
        out += " (verify error ";
        append_int(out, f->verify_error);
        out += ')';
    }
    out += ", ";
    append_uint(out, f->full_handshakes);
    out += " full + ";
    append_uint(out, f->resumed_handshakes);
    out += " resumed handshakes, captured ";
    append_age(out, snap.now_unix_ns > f->captured_unix_ns ? snap.now_unix_ns - f->captured_unix_ns
                                                           : 0);
    out += " ago\n";
    const Effective e = effective(snap, t);
    const auto marks = cert_faults(*f, e.reason, snap.now_unix_ns);
    const std::size_t n = std::min<std::size_t>(f->chain_count, abi::kChainRecords);
    out += indent;
    out += "chain: ";
    append_uint(out, f->presented);
    out += f->presented == 1 ? " certificate sent" : " certificates sent";
    if (n < f->presented) {
        out += ", the first ";
        append_uint(out, n);
        out += " shown";
    }
    out += '\n';
    for (std::size_t i = 0; i < n; ++i) {
        const abi::CertRecord& c = f->chain[i];
        out += indent;
        out += "  [";
        append_uint(out, i + 1);
        out += "] ";
        out += c.is_ca == 0 ? "leaf " : c.self_issued != 0 ? "root " : "CA ";
        append_printable(out, fixed_text(c.subject));
        if (marks[i].index >= 0) {
            out += "  ";
            append_mark(out, color);
            out += ' ';
            out += marks[i].why;
        }
        out += '\n';
        out += indent;
        out += "      issuer ";
        append_printable(out, fixed_text(c.issuer));
        out += "; valid ";
        append_utc(out, c.not_before_s);
        out += " .. ";
        append_utc(out, c.not_after_s);
        out += '\n';
        if (c.sans[0] != '\0') {
            out += indent;
            out += "      SANs ";
            append_printable(out, fixed_text(c.sans));
            out += '\n';
        }
        out += indent;
        out += "      SHA-256 ";
        append_sha256(out, c.sha256);
        out += '\n';
    }
    if (f->earliest_not_after_s != 0) {
        out += indent;
        out += "earliest notAfter ";
        append_utc(out, f->earliest_not_after_s);
        const std::int64_t days = days_until(f->earliest_not_after_s, snap.now_unix_ns);
        out += days >= 0 ? " (in " : " (";
        append_int(out, days >= 0 ? days : -days);
        out += days >= 0 ? " days" : " days ago";
        if (tr.expiry_warning_days != 0) {
            out += "; warning under ";
            append_uint(out, tr.expiry_warning_days);
            out += " days";
        }
        out += ")\n";
    }
}

// The DNS lines: the standing, then one line per address with its own health and result.
void append_dns_lines(std::string& out, const Snapshot& snap, std::uint32_t t,
                      std::string_view indent, bool color) {
    out += indent;
    append_dns_standing(out, snap, t);
    out += '\n';
    for (const abi::AddressStatePayload& a : address_states(snap, t)) {
        if (a.family == 0) {
            continue;
        }
        out += indent;
        out += "  ";
        const std::size_t start = out.size();
        append_ip(out, a);
        out.append(out.size() - start < 16 ? 16 - (out.size() - start) : 1, ' ');
        const auto h = static_cast<Health>(a.health);
        if (h == Health::Unhealthy) {
            append_mark(out, color);
            out += ' ';
        }
        if (color) {
            out += health_color(h);
        }
        out += health_name(h);
        if (color) {
            out += kReset;
        }
        out += "  ";
        append_address_words(out, a);
        if (a.latency_us != 0) {
            out += ", ";
            append_us_as_ms(out, a.latency_us);
        }
        if (a.sys_errno != 0) {
            out += ", errno ";
            append_int(out, a.sys_errno);
        }
        out += '\n';
    }
}

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
    const Effective e = effective(snap, t);
    if (e.state != nullptr && e.state->last_probe_unix_ns != 0) {
        out += kIndent;
        out += "timings: ";
        append_timings(out, *e.state);
        out += '\n';
    }
    if (tr.tls_slot != abi::kNoSlot) {
        append_tls_lines(out, snap, t, kIndent, color);
    }
    if (tr.name_slot != abi::kNoSlot) {
        append_dns_lines(out, snap, t, kIndent, color);
    }
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
    std::vector<std::string> notes(sel.rows.size());  // yellow part of RESULT: warnings
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
        notes[i] = row_note(snap, r.target_index);
        if (!notes[i].empty()) {
            row[4] += "; ";  // the note follows; widths count it, colour wraps it
            row[4] += notes[i];
        }
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
                } else if (c == 4 && o.color && !notes[i].empty()) {
                    const std::string& cell = cells[i][c];
                    out.append(cell, 0, cell.size() - notes[i].size());
                    out += kYellow;
                    out += notes[i];
                    out += kReset;
                } else {
                    out += cells[i][c];
                }
                if (c + 1 < kCols) {
                    pad_to(out, cells[i][c].size(), width[c]);
                }
            }
            out += '\n';
            if (o.details) {
                append_row_details(out, snap, info.rows[sel.rows[i]].target_index, o.color);
            }
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

// ---- --troubleshoot ----------------------------------------------------------------------------

namespace {

bool iequal(std::string_view a, std::string_view b) {
    auto lower = [](char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch; };
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

enum class LinkState : std::uint8_t { Ok, Faulty, Unknown };

struct DrawBox {
    std::string title;
    std::string sub;
    bool faulty = false;
};

struct DrawLink {
    std::string label;
    LinkState state = LinkState::Ok;
};

// Three boxes joined by two arrows, four text lines:
//   +--------+   report   +-----------+  TLS :443   +-----------------+
//   | client |----------->| ringprobe |-----XX----->| 10.0.0.5:443    |
//   | reader |            | prober    |             | XX certificate  |
//   +--------+            +-----------+             +-----------------+
void draw(std::string& out, const std::array<DrawBox, 3>& boxes,
          const std::array<DrawLink, 2>& links, bool color) {
    std::array<std::size_t, 3> inner{};
    for (std::size_t b = 0; b < 3; ++b) {
        inner[b] = std::max(boxes[b].title.size(), boxes[b].sub.size()) + 2;
    }
    std::array<std::size_t, 2> span{};
    for (std::size_t l = 0; l < 2; ++l) {
        span[l] = std::max<std::size_t>(links[l].label.size() + 4, 13);
    }
    auto paint = [&](bool red, auto&& body) {
        if (red && color) {
            out += kRed;
        }
        body();
        if (red && color) {
            out += kReset;
        }
    };
    auto border = [&](std::size_t b) {
        paint(boxes[b].faulty, [&] {
            out += '+';
            out.append(inner[b], '-');
            out += '+';
        });
    };
    auto cell = [&](std::size_t b, const std::string& text, bool red_text) {
        paint(boxes[b].faulty, [&] { out += '|'; });
        out += ' ';
        paint(red_text, [&] { out += text; });
        out.append(inner[b] - 1 - text.size(), ' ');
        paint(boxes[b].faulty, [&] { out += '|'; });
    };
    auto label = [&](std::size_t l) {
        const std::string& t = links[l].label;
        const std::size_t left = (span[l] - t.size()) / 2;
        out.append(left, ' ');
        paint(links[l].state == LinkState::Faulty, [&] { out += t; });
        out.append(span[l] - t.size() - left, ' ');
    };
    auto arrow = [&](std::size_t l) {
        const std::size_t w = span[l];
        paint(links[l].state == LinkState::Faulty, [&] {
            std::string a(w - 1, '-');
            if (links[l].state == LinkState::Unknown) {
                for (std::size_t i = 1; i < a.size(); i += 2) {
                    a[i] = ' ';
                }
            } else if (links[l].state == LinkState::Faulty) {
                a[(w - 1) / 2 - 1] = 'X';
                a[(w - 1) / 2] = 'X';
            }
            out += a;
            out += '>';
        });
    };
    out += "  ";
    border(0);
    label(0);
    border(1);
    label(1);
    border(2);
    out += "\n  ";
    cell(0, boxes[0].title, false);
    arrow(0);
    cell(1, boxes[1].title, false);
    arrow(1);
    cell(2, boxes[2].title, false);
    out += "\n  ";
    cell(0, boxes[0].sub, boxes[0].faulty);
    out.append(span[0], ' ');
    cell(1, boxes[1].sub, boxes[1].faulty);
    out.append(span[1], ' ');
    cell(2, boxes[2].sub, boxes[2].faulty);
    out += "\n  ";
    border(0);
    out.append(span[0], ' ');
    border(1);
    out.append(span[1], ' ');
    border(2);
    out += '\n';
}

std::string_view link_protocol(Protocol p) {
    switch (p) {
        case Protocol::Http: return "HTTP";
        case Protocol::Https: return "HTTPS";
        case Protocol::Tcp: return "TCP";
        case Protocol::Tls: return "TLS";
    }
    return "TCP";
}

void troubleshoot_drawing(std::string& out, const Snapshot& snap, std::uint32_t row_index,
                          FaultPart part, bool color) {
    const StaticInfo& info = *snap.info;
    const abi::RowRecord& r = info.rows[row_index];
    const abi::TargetRecord& t = info.targets[r.target_index];
    const Effective e = effective(snap, r.target_index);
    std::string words;
    append_result_words(words, snap, r.target_index);

    std::array<DrawBox, 3> boxes;
    std::array<DrawLink, 2> links;
    boxes[0] = DrawBox{"client", "this reader", false};
    boxes[1] = DrawBox{"ringprobe", "gateway ", false};
    append_printable(boxes[1].sub, info.gateway_name());
    if (part == FaultPart::Prober) {
        boxes[1].faulty = true;
        boxes[1].sub = "XX " + words;
    }
    boxes[2].title.clear();
    append_printable(boxes[2].title, info.str(t.address));  // the probe's, without a port
    boxes[2].title += ':';
    append_uint(boxes[2].title, t.port);
    boxes[2].sub = health_name(e.health);
    if (part == FaultPart::Certificate) {
        boxes[2].faulty = true;
        boxes[2].sub = "XX certificate: ";
        const abi::TlsFactsPayload* f = tls_facts(snap, r.target_index);
        std::string_view why;
        if (f != nullptr && f->captured_unix_ns != 0) {
            for (const CertFault& m : cert_faults(*f, e.reason, snap.now_unix_ns)) {
                if (m.index >= 0) {
                    why = m.why;
                    break;
                }
            }
        }
        if (why.empty()) {
            boxes[2].sub += words.substr(words.rfind("tls ", 0) == 0 ? 4 : 0);
        } else {
            boxes[2].sub += why;
        }
    } else if (part == FaultPart::Server) {
        boxes[2].faulty = true;
        boxes[2].sub = "XX ";
        if (e.reason == Reason::StatusMismatch && e.state != nullptr) {
            boxes[2].sub += "got ";
            append_uint(boxes[2].sub, e.state->http_status);
            boxes[2].sub += ", want ";
            append_printable(boxes[2].sub, info.str(t.match_status));
        } else {
            boxes[2].sub += words;
        }
    }
    links[0] = DrawLink{"report", part == FaultPart::Report ? LinkState::Faulty : LinkState::Ok};
    links[1].label = link_protocol(static_cast<Protocol>(t.protocol));
    links[1].label += " :";
    append_uint(links[1].label, t.port);
    switch (part) {
        case FaultPart::Resolution:
            links[1] = DrawLink{"DNS " + std::string(words), LinkState::Faulty};
            break;
        case FaultPart::Link:
            links[1] = DrawLink{"TCP :" + std::to_string(t.port), LinkState::Faulty};
            break;
        case FaultPart::Handshake:
            links[1] = DrawLink{"TLS :" + std::to_string(t.port), LinkState::Faulty};
            break;
        case FaultPart::Report:
        case FaultPart::Prober: links[1].state = LinkState::Unknown; break;
        case FaultPart::None:
            links[1].state = e.reason == Reason::Ok ? LinkState::Ok : LinkState::Unknown;
            break;
        default: break;
    }
    draw(out, boxes, links, color);
}

void troubleshoot_one(std::string& out, const Snapshot& snap, std::uint32_t row_index,
                      bool color) {
    const StaticInfo& info = *snap.info;
    const abi::RowRecord& r = info.rows[row_index];
    const abi::SettingRecord& st = info.settings[r.setting_index];
    const abi::TargetRecord& t = info.targets[r.target_index];
    const Effective e = effective(snap, r.target_index);
    const FaultPart part = fault_part(e.reason);
    const auto proto = static_cast<Protocol>(t.protocol);

    out += "Troubleshoot ";
    append_printable(out, info.str(info.servers[r.server_index].address));
    out += ": pool ";
    append_printable(out, info.str(info.pools[r.pool_index].name));
    out += ", backend setting ";
    append_printable(out, info.str(st.name));
    out += " (";
    append_uint(out, st.port);
    out += '/';
    out += protocol_name(static_cast<Protocol>(st.protocol));
    out += ")\n\n";
    troubleshoot_drawing(out, snap, row_index, part, color);
    if (t.name_slot != abi::kNoSlot) {
        out += "  ";
        if (part == FaultPart::Resolution) {
            append_mark(out, color);
            out += ' ';
        }
        out += "resolution of ";
        append_printable(out, info.str(t.address));
        out += ": ";
        append_dns_standing(out, snap, r.target_index);
        out += '\n';
    }
    out += '\n';
    out += "Faulty part: ";
    if (part != FaultPart::None) {
        append_mark(out, color);
        out += ' ';
    }
    out += fault_part_words(part);
    out += ".\nWhat is wrong: ";
    std::string log;
    append_probe_log(log, snap, r.target_index);
    append_printable(out, log);
    out += "\nWhat to change: ";
    std::string remedy;
    append_remedy(remedy, snap, row_index);
    append_printable(out, remedy);
    std::int64_t days = 0;
    if (cert_expiring(snap, r.target_index, days)) {
        out += "\nWarning: ";
        if (color) {
            out += kYellow;
        }
        out += row_note(snap, r.target_index);
        if (color) {
            out += kReset;
        }
        out += '.';
    }
    out += "\n\nFacts:\n  health: ";
    out += health_name(e.health);
    out += " (";
    out += reason_info(e.reason).code;
    out += ')';
    if (e.state != nullptr) {
        const abi::TargetStatePayload& s = *e.state;
        if (s.consecutive_fail > 0) {
            out += ", ";
            append_uint(out, s.consecutive_fail);
            out += s.consecutive_fail == 1 ? " failure" : " failures";
            out += " in a row";
        } else if (s.consecutive_ok > 0) {
            out += ", ";
            append_uint(out, s.consecutive_ok);
            out += " successes in a row";
        }
        if (s.last_probe_unix_ns != 0) {
            out += ", last probe ";
            append_age(out, snap.now_unix_ns > s.last_probe_unix_ns
                                ? snap.now_unix_ns - s.last_probe_unix_ns
                                : 0);
            out += " ago";
        }
    } else {
        out += ", engine ";
        out += engine_state_name(snap.engine);
    }
    out += "\n  probe: ";
    out += protocol_name(proto);
    out += ' ';
    append_printable(out, info.str(t.address));
    out += ':';
    append_uint(out, t.port);
    if (protocol_is_http(proto)) {
        out += ", GET ";
        append_printable(out, info.str(t.path));
        out += ", expects ";
        append_printable(out, info.str(t.match_status));
        if (t.match_body.length > 0) {
            out += " and a body containing \"";
            append_printable(out, info.str(t.match_body));
            out += '"';
        }
    }
    out += ", every ";
    append_duration_ms(out, t.interval_ms);
    out += ", timeout ";
    append_duration_ms(out, t.timeout_ms);
    out += '\n';
    if (e.state != nullptr && e.state->last_probe_unix_ns != 0) {
        out += "  timings: ";
        append_timings(out, *e.state);
        out += '\n';
    }
    if (e.state != nullptr && e.state->detail_len > 0) {
        out += "  detail: ";
        append_printable(out, std::string_view(e.state->detail, e.state->detail_len));
        out += '\n';
    }
    if (protocol_is_tls(proto)) {
        append_tls_lines(out, snap, r.target_index, "  ", color);
    } else if (protocol_is_http(proto)) {
        out += "  Host sent: ";
        append_printable(out, info.str(t.host));
        out += '\n';
    }
    if (t.name_slot != abi::kNoSlot) {
        append_dns_lines(out, snap, r.target_index, "  ", color);
    }
}

}  // namespace

std::vector<std::uint32_t> find_rows(const Snapshot& snap, std::string_view server,
                                     std::string_view pool, std::string_view setting) {
    const StaticInfo& info = *snap.info;
    std::vector<std::uint32_t> exact;
    std::vector<std::uint32_t> folded;  // FQDNs compare without case
    for (std::uint32_t i = 0; i < info.rows.size(); ++i) {
        const abi::RowRecord& r = info.rows[i];
        if (!pool.empty() && info.str(info.pools[r.pool_index].name) != pool) {
            continue;
        }
        if (!setting.empty() && info.str(info.settings[r.setting_index].name) != setting) {
            continue;
        }
        const std::string_view address = info.str(info.servers[r.server_index].address);
        if (address == server) {
            exact.push_back(i);
        } else if (iequal(address, server)) {
            folded.push_back(i);
        }
    }
    return exact.empty() ? folded : exact;
}

std::string render_troubleshoot(const Snapshot& snap, std::span<const std::uint32_t> rows,
                                 bool color) {
    std::string out;
    out.reserve(4096 * rows.size());
    if (snap.engine != EngineState::Live) {
        out += "warning: the health could not be retrieved from the engine (";
        out += engine_state_name(snap.engine);
        out += "); what follows is its last report.\n\n";
    }
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (rows.size() > 1) {
            out += i == 0 ? "" : "\n";
            out += "(";
            append_uint(out, i + 1);
            out += " of ";
            append_uint(out, rows.size());
            out += ") ";
        }
        troubleshoot_one(out, snap, rows[i], color);
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
