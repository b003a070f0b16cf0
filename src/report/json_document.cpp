// The backend-health document (see json_document.hpp): pools, settings, servers, and with
// --details the structured facts under "ringprobe" (docs/report-format.md, "JSON").
#include "report/json_document.hpp"

#include <algorithm>

#include <ringprobe/protocol.hpp>

#include "common/shard.hpp"
#include "report/capacity_words.hpp"
#include "report/facts.hpp"
#include "report/probe_log.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

std::string_view id_or_name(const StaticInfo& info, abi::StrRef id, abi::StrRef name) {
    return id.length > 0 ? info.str(id) : info.str(name);
}

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

// The row's last results, newest first (only when the snapshot copied them).
void emit_history(JsonOut& j, const Snapshot& snap, std::uint32_t t) {
    j.key("history");
    j.begin_array();
    for (const abi::HistoryEntry& e : snap.history_of(t)) {
        j.begin_object();
        j.field("unixNs", e.unix_ns);
        j.field("health", health_name(history_health(e)));
        j.field("reason", reason_info(static_cast<Reason>(e.reason)).code);
        j.field("httpStatus", e.http_status);
        j.field("durationUs", e.duration_us);
        j.field("connection", (e.flags & abi::kHistoryReused) != 0 ? "reused" : "new");
        j.end_object();
    }
    j.end_array();
}

void emit_details(JsonOut& j, const Snapshot& snap, std::uint32_t t, bool counted) {
    const abi::TargetRecord& tr = snap.info->targets[t];
    const Effective e = effective(snap, t);
    j.key("ringprobe");
    j.begin_object();
    j.field("reason", reason_info(e.reason).code);
    if (counted) {  // present only where it applies, as in the report without details
        j.key("countedHealthyByMinServers");
        j.value(true);
    }
    j.field("port", tr.port);
    j.field("protocol", protocol_name(static_cast<Protocol>(tr.protocol)));
    j.field("healthyThreshold", tr.healthy_threshold);
    j.field("unhealthyThreshold", tr.unhealthy_threshold);
    j.field("intervalMs", tr.interval_ms);
    j.field("timeoutMs", tr.timeout_ms);
    if (!protocol_is_http(static_cast<Protocol>(tr.protocol))) {
        j.field("proxyProtocol", proxy_protocol_name(tr.proxy_protocol));
    }
    if (tr.fast_interval_ms != 0) {
        j.field("fastIntervalMs", tr.fast_interval_ms);
    }
    if (tr.unhealthy_interval_ms != 0) {
        j.field("unhealthyIntervalMs", tr.unhealthy_interval_ms);
    }
    j.key("readable");
    j.value(e.state != nullptr);
    j.key("late");
    j.value(is_late(snap, t));
    j.key("flapping");
    j.value(is_flapping(snap, t));
    // --- merge ---
    if (t < snap.source_of_target.size() && snap.source_of_target[t] != Snapshot::kNoSource) {
        const Snapshot::Source& src = snap.merge_sources[snap.source_of_target[t]];
        j.key("probedBy");
        j.begin_object();
        j.field("report", src.name);
        j.field("shard", src.shard);
        j.end_object();
    }
    // --- end merge ---
    if (e.state != nullptr) {
        const abi::TargetStatePayload& s = *e.state;
        j.field("httpStatus", s.http_status);
        j.key("errno");
        j.value_int(s.sys_errno);
        j.key("timingsUs");
        j.begin_object();
        j.field("total", s.latency_us);
        j.key("dns");  // null: no DNS phase (an IP literal) or none known yet
        if (s.dns_us == 0) {
            j.value_null();
        } else {
            j.value(std::uint64_t{s.dns_us});
        }
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
    if (!snap.history_count.empty()) {
        emit_history(j, snap, t);
    }
    j.end_object();
}

void emit_server(JsonOut& j, const Snapshot& snap, std::uint32_t row, bool details) {
    const StaticInfo& info = *snap.info;
    const abi::RowRecord& r = info.rows[row];
    const bool counted = counted_by_min_servers(snap, row);
    j.begin_object();
    j.field("address", info.str(info.servers[r.server_index].address));
    j.field("health", health_name(effective(snap, r.target_index).health));
    j.key("healthProbeLog");
    j.value_with([&](std::string& s) { append_probe_log(s, snap, r.target_index); });
    if (details) {
        emit_details(j, snap, r.target_index, counted);
        const abi::ServerRecord& sv = info.servers[r.server_index];
        if (sv.nic.length != 0) {
            j.field("nic", info.str(sv.nic));
            j.field("ipConfiguration", info.str(sv.ip_configuration));
        }
    } else if (counted) {
        // The gateway's shape otherwise; the mark only where it applies.
        j.key("ringprobe");
        j.begin_object();
        j.key("countedHealthyByMinServers");
        j.value(true);
        j.end_object();
    }
    j.end_object();
}

}  // namespace

// One pool's object: backendAddressPool + backendHttpSettingsCollection.
void emit_pool(JsonOut& j, const Snapshot& snap, const Selection& sel, std::size_t g_begin,
               std::size_t g_end, const RenderOptions& o) {
    const StaticInfo& info = *snap.info;
    const abi::PoolRecord& pool = info.pools[sel.groups[g_begin].pool];
    bool min_servers = false;
    for (std::size_t g = g_begin; g < g_end; ++g) {
        min_servers = min_servers || info.settings[sel.groups[g].setting].min_servers != 0;
    }
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
        std::uint64_t counted = 0;
        for (std::size_t i = sel.groups[g].begin; i < sel.groups[g].end; ++i) {
            emit_server(j, snap, sel.rows[i], o.details);
            counted += counted_by_min_servers(snap, sel.rows[i]) ? 1 : 0;
        }
        j.end_array();
        if (st.min_servers != 0) {
            j.key("ringprobe");
            j.begin_object();
            j.field("minServers", st.min_servers);
            j.field("countedHealthyByMinServers", counted);
            j.end_object();
        }
        j.end_object();
    }
    j.end_array();
    if (min_servers) {
        j.key("ringprobe");
        j.begin_object();
        j.field("countedHealthyByMinServers",
                pool_counted_by_min_servers(snap, sel.groups[g_begin].pool));
        j.end_object();
    }
    j.end_object();
}

// An empty pool's object: the pool, no settings, and the note.
void emit_empty_pool(JsonOut& j, const StaticInfo& info, std::uint32_t pool_index) {
    const abi::PoolRecord& pool = info.pools[pool_index];
    j.begin_object();
    j.key("backendAddressPool");
    j.begin_object();
    j.field("id", id_or_name(info, pool.id, pool.name));
    j.end_object();
    j.key("backendHttpSettingsCollection");
    j.begin_array();
    j.end_array();
    j.field("note", kEmptyPoolNote);
    j.end_object();
}

namespace {
// The engine's capacity check (docs/report-format.md, "Capacity"); absent before the first.
void emit_capacity(JsonOut& j, const abi::CapacityPayload& c) {
    if ((c.flags & abi::kCapacityChecked) == 0) {
        return;
    }
    j.key("capacity");
    j.begin_object();
    j.key("short");
    j.value(capacity_short(c));
    j.key("shortOfSockets");
    j.value((c.flags & abi::kCapacityShortSockets) != 0);
    j.key("shortOfRate");
    j.value((c.flags & abi::kCapacityShortRate) != 0);
    j.field("workers", c.workers);
    j.field("targets", c.targets);
    j.field("inFlightNeeded", c.in_flight_needed);
    j.field("socketsPerWorker", c.sockets_per_worker);
    j.field("probesPerSecond", c.probes_per_s);
    j.field("probesPerSecondMax", c.probes_per_s_max);
    j.field("probeMs", c.probe_ms);
    j.field("nofileLimit", c.nofile_limit);
    j.field("nofileNeeded", c.nofile_needed);
    j.field("workersNeeded", c.workers_needed);
    j.field("slowdownPermille", c.slowdown_permille);
    j.field("checkedUnixNs", c.checked_unix_ns);
    j.key("message");
    j.value_with([&](std::string& s) { append_capacity_sentence(s, c); });
    j.end_object();
}
}  // namespace

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
    // --- shard ---
    if (const abi::ShardRecord& sh = info.header.shard; sh.count > 1) {
        j.key("shard");
        j.begin_object();
        j.field("shard", shard_label(sh.index, sh.count));
        j.field("index", sh.index);
        j.field("count", sh.count);
        j.field("replicas", sh.replicas);
        j.field("targetsProbed", sh.owned);
        j.end_object();
    }
    // --- end shard ---
    // --- merge ---
    if (!snap.merge_sources.empty()) {
        j.key("merged");
        j.begin_array();
        for (const Snapshot::Source& src : snap.merge_sources) {
            j.begin_object();
            j.field("report", src.name);
            j.field("shard", src.shard);
            j.field("engine", src.shard.empty() ? std::string_view("Missing")
                                                : engine_state_name(src.engine));
            j.field("problem", src.problem);
            j.end_object();
        }
        j.end_array();
    }
    // --- end merge ---
    j.field("unreadableTargets", snap.unreadable);
    std::uint64_t late = 0;
    for (std::uint32_t t = 0; t < info.targets.size(); ++t) {
        late += is_late(snap, t) ? 1 : 0;
    }
    j.field("lateTargets", late);
    emit_capacity(j, snap.capacity);
    if (snap.reload_result() != abi::kReloadNone) {
        j.key("lastReload");
        j.begin_object();
        j.field("result", snap.reload_result() == abi::kReloadApplied ? "applied" : "refused");
        j.field("unixNs", snap.last_reload.unix_ns);
        j.field("error", snap.reload_error());
        j.field("applied", snap.last_reload.applied);
        j.field("refused", snap.last_reload.refused);
        j.end_object();
    }
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

}  // namespace ringprobe::report
