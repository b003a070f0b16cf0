// /metrics rendering (see metrics.hpp). Numbers go through std::to_chars; no iostreams.
#include "exporter/metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <utility>
#include <vector>

#include <ringprobe/protocol.hpp>

#include "common/histogram.hpp"
#include "common/shard.hpp"
#include "report/capacity_words.hpp"
#include "report/sentences.hpp"

namespace ringprobe::exporter {

namespace abi = report_abi;
using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

void append_label_value(std::string& out, std::string_view v) {
    for (const char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

namespace {

void append_double(std::string& out, double v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

class Out {
public:
    explicit Out(std::string& s) : s_(s) {}
    // --- shard ---
    // A sharded engine's series all carry shard="I/N", so that the shards' series never collide
    // where Prometheus gathers several engines of one gateway.
    void set_shard(std::string label) { shard_ = std::move(label); }
    // --- end shard ---

    void family(std::string_view name, std::string_view type, std::string_view help) {
        s_ += "# HELP ";
        s_ += name;
        s_ += ' ';
        s_ += help;
        s_ += "\n# TYPE ";
        s_ += name;
        s_ += ' ';
        s_ += type;
        s_ += '\n';
    }
    void sample(std::string_view name, Labels labels, std::uint64_t v) {
        head(name, labels);
        report::append_uint(s_, v);
        s_ += '\n';
    }
    void sample_double(std::string_view name, Labels labels, double v) {
        head(name, labels);
        append_double(s_, v);
        s_ += '\n';
    }
    // A one-sample family.
    void single(std::string_view name, std::string_view type, std::string_view help,
                std::uint64_t v) {
        family(name, type, help);
        sample(name, {}, v);
    }

private:
    void head(std::string_view name, Labels labels) {
        s_ += name;
        if (labels.size() > 0 || !shard_.empty()) {
            s_ += '{';
            bool first = true;
            if (!shard_.empty()) {
                s_ += "shard=\"";
                s_ += shard_;
                s_ += '"';
                first = false;
            }
            for (const auto& [k, v] : labels) {
                if (!first) {
                    s_ += ',';
                }
                first = false;
                s_ += k;
                s_ += "=\"";
                append_label_value(s_, v);
                s_ += '"';
            }
            s_ += '}';
        }
        s_ += ' ';
    }

    std::string& s_;
    std::string shard_;
};

using Buckets = std::array<std::uint64_t, Histogram::buckets>;

// A histogram in seconds from the engine's microsecond buckets and the engine's exact sum of
// the same samples (EngineTotals::*_us_sum; read with relaxed loads apart from the buckets, so
// a scrape during a probe may see the sum one sample ahead of or behind the count).
void histogram(Out& o, std::string& s, std::string_view name, std::string_view help,
               const Buckets& h, std::uint64_t exact_sum_us) {
    o.family(name, "histogram", help);
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    unsigned b = 0;
    for (unsigned p = kLeFirstPow2; p <= kLeLastPow2; ++p) {
        const std::uint64_t edge = std::uint64_t{1} << p;
        while (b < Histogram::buckets && Histogram::lower_bound(b) < edge) {
            cumulative += h[b];
            ++b;
        }
        char le[32];
        auto r = std::to_chars(le, le + sizeof le, static_cast<double>(edge) / 1e6);
        o.sample(bucket, {{"le", std::string_view(le, static_cast<std::size_t>(r.ptr - le))}},
                 cumulative);
    }
    for (; b < Histogram::buckets; ++b) {
        cumulative += h[b];
    }
    o.sample(bucket, {{"le", "+Inf"}}, cumulative);
    o.sample_double(std::string(name) + "_sum", {}, static_cast<double>(exact_sum_us) / 1e6);
    o.sample(std::string(name) + "_count", {}, cumulative);
    (void)s;
}

std::string_view prober_kind(Reason r) {
    switch (r) {
        case Reason::ProberNoFds: return "no_fds";
        case Reason::ProberNoBuffers: return "no_buffers";
        case Reason::ProberNoPorts: return "no_ports";
        default: return "other";
    }
}

std::string_view layer_name(Layer l) {
    switch (l) {
        case Layer::None: return "none";
        case Layer::Dns: return "dns";
        case Layer::L4: return "l4";
        case Layer::L6: return "l6";
        case Layer::L7: return "l7";
        case Layer::Prober: return "prober";
        case Layer::Engine: return "engine";
    }
    return "none";
}

// Completed probes by reason and layer, and the duration and lateness histograms.
void completed_families(Out& o, std::string& s, const engine::EngineTotals& t) {
    o.family("ringprobe_probe_outcomes_total", "counter",
             "Completed probes by reason and layer, all targets (exact engine counters).");
    for (std::size_t i = 0; i < reason_count; ++i) {
        const ReasonInfo& ri = reason_table[i];
        if (t.by_reason[i] != 0 || ri.reason == Reason::Ok) {
            o.sample("ringprobe_probe_outcomes_total",
                     {{"reason", ri.code}, {"layer", layer_name(ri.layer)}}, t.by_reason[i]);
        }
    }
    histogram(o, s, "ringprobe_probe_duration_seconds",
              "Probe duration from start to verdict, all targets.", t.duration_us,
              t.duration_us_sum);
    histogram(o, s, "ringprobe_timer_lateness_seconds",
              "How late probes started after their scheduled instant.", t.lateness_us,
              t.lateness_us_sum);
}

void engine_families(Out& o, std::string& s, const engine::EngineTotals& t,
                     const EngineFacts* facts) {
    if (facts != nullptr) {
        o.family("ringprobe_ring_info", "gauge",
                 "The io_uring set-up the workers run with (always 1).");
        o.sample("ringprobe_ring_info", {{"mode", facts->ring_mode}}, 1);
        o.single("ringprobe_workers", "gauge", "Probe worker threads, one io_uring each.",
                 facts->workers);
        o.single("ringprobe_memory_bytes", "gauge",
                 "Memory the engine sized at start-up for its targets, buffers and rings.",
                 facts->memory_bytes);
    }
    // The counters' own families, in the list's order (engine/counters.hpp); the completed
    // probes' breakdown follows their count.
    for (const engine::CounterInfo& c : engine::counter_table) {
        if (c.metric.empty()) {
            continue;
        }
        o.single(c.metric, c.kind == engine::CounterKind::Counter ? "counter" : "gauge", c.help,
                 t.*c.value);
        if (c.value == &engine::CounterValues::probes_completed) {
            completed_families(o, s, t);
        }
    }
    o.family("ringprobe_prober_errors_total", "counter",
             "Probes that failed on ringprobe's own side (never counted against a backend).");
    std::array<std::uint64_t, 4> kinds{};
    const std::array<std::string_view, 4> names = {"no_fds", "no_buffers", "no_ports", "other"};
    for (std::size_t i = 0; i < reason_count; ++i) {
        if (reason_table[i].layer == Layer::Prober) {
            const std::string_view k = prober_kind(reason_table[i].reason);
            for (std::size_t j = 0; j < names.size(); ++j) {
                kinds[j] += names[j] == k ? t.by_reason[i] : 0;
            }
        }
    }
    for (std::size_t j = 0; j < names.size(); ++j) {
        o.sample("ringprobe_prober_errors_total", {{"kind", names[j]}}, kinds[j]);
    }
}

// Configuration reloads (SIGHUP, ringprobe reload) as Prometheus reports its own: counts by
// result, whether the last one applied, and the configuration in force as an info metric.
void reload_families(Out& o, const report::Snapshot& snap) {
    o.family("ringprobe_config_reloads_total", "counter",
             "Configuration reloads since the engine started, by result (applied, or refused "
             "with the engine keeping the configuration it ran).");
    o.sample("ringprobe_config_reloads_total", {{"result", "applied"}}, snap.last_reload.applied);
    o.sample("ringprobe_config_reloads_total", {{"result", "refused"}}, snap.last_reload.refused);
    o.single("ringprobe_config_last_reload_successful", "gauge",
             "0 when the last reload was refused (the report's lastReload says why), else 1.",
             snap.reload_result() == abi::kReloadRefused ? 0 : 1);
    char digest[17];
    static constexpr char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; ++i) {
        digest[i] = hex[(snap.info->header.config_digest >> (60 - 4 * i)) & 0xF];
    }
    digest[16] = '\0';
    o.family("ringprobe_config_info", "gauge",
             "Always 1; the digest label identifies the configuration in force (configuration, "
             "--nics and --parameters bytes).");
    o.sample("ringprobe_config_info", {{"digest", digest}}, 1);
}

// --- shard ---
void shard_families(Out& o, const abi::ShardRecord& sh) {
    if (sh.count <= 1) {
        return;
    }
    o.single("ringprobe_shard_targets", "gauge",
             "Targets this shard probes (ringprobe run --shard I/N; the shard label says which).",
             sh.owned);
    o.single("ringprobe_shard_replicas", "gauge",
             "Shards that probe each target (ringprobe run --replicas).", sh.replicas);
}
// --- end shard ---

void report_families(Out& o, const report::Snapshot& snap, const ProbeTally* tally,
                     bool per_server) {
    const report::StaticInfo& info = *snap.info;
    o.single("ringprobe_report_up", "gauge",
             "1 when the report was read and the engine's heartbeat is fresh.",
             snap.engine == report::EngineState::Live ? 1 : 0);
    o.family("ringprobe_report_age_seconds", "gauge",
             "Age of the report's heartbeat when this page was rendered.");
    o.sample_double("ringprobe_report_age_seconds", {},
                    static_cast<double>(snap.report_age_ns()) / 1e9);
    o.single("ringprobe_report_generation", "gauge",
             "The report segment's generation (grows on every engine start or reload).",
             info.header.generation);
    reload_families(o, snap);

    shard_families(o, info.header.shard);
    // Rows by pool and effective health (a server probed by two settings is two rows). Rows
    // other shards probe are theirs to count, so the shards' series add up to the gateway's.
    std::vector<std::array<std::uint64_t, 4>> by_pool(info.pools.size());
    for (const abi::RowRecord& r : info.rows) {
        const Health h = report::effective(snap, r.target_index).health;
        by_pool[r.pool_index][static_cast<std::size_t>(h)] += 1;
    }
    o.family("ringprobe_servers", "gauge",
             "Report rows (server x backend setting) per pool by health, as the report shows "
             "them.");
    for (std::size_t p = 0; p < info.pools.size(); ++p) {
        for (const Health h : {Health::Healthy, Health::Unhealthy, Health::Unknown}) {
            o.sample("ringprobe_servers",
                     {{"pool", info.str(info.pools[p].name)}, {"health", health_name(h)}},
                     by_pool[p][static_cast<std::size_t>(h)]);
        }
    }
    // --- flapping ---
    std::vector<std::uint64_t> flapping(info.pools.size());
    for (const abi::RowRecord& r : info.rows) {
        flapping[r.pool_index] += report::is_flapping(snap, r.target_index) ? 1 : 0;
    }
    o.family("ringprobe_servers_flapping", "gauge",
             "Report rows per pool whose health changed at least flappingChanges times (4 by "
             "default) within their last 32 results.");
    for (std::size_t p = 0; p < info.pools.size(); ++p) {
        o.sample("ringprobe_servers_flapping", {{"pool", info.str(info.pools[p].name)}},
                 flapping[p]);
    }
    // --- end flapping ---
    // --- minServers ---
    // Only for a plan with a minServers: no family that is zero by construction.
    const bool min_servers =
        std::any_of(info.settings.begin(), info.settings.end(),
                    [](const abi::SettingRecord& st) { return st.min_servers != 0; });
    if (min_servers) {
        o.family("ringprobe_servers_counted_healthy_by_min_servers", "gauge",
                 "Report rows per pool that are not Healthy but counted healthy for routing "
                 "because fewer than their probe's minServers rows of the pool and setting are "
                 "Healthy.");
    }
    for (std::size_t p = 0; min_servers && p < info.pools.size(); ++p) {
        o.sample("ringprobe_servers_counted_healthy_by_min_servers",
                 {{"pool", info.str(info.pools[p].name)}},
                 report::pool_counted_by_min_servers(snap, static_cast<std::uint32_t>(p)));
    }
    // --- end minServers ---
    if (tally != nullptr) {
        o.family("ringprobe_probes_total", "counter",
                 "Probes by pool, backend setting and reason; a probe serving several report "
                 "rows counts once per row. reason=\"unseen\": overwritten before a sweep.");
        for (std::size_t g = 0; g < tally->groups().size(); ++g) {
            const ProbeTally::Group& grp = tally->groups()[g];
            const std::string_view pool = info.str(info.pools[grp.pool].name);
            const std::string_view setting = info.str(info.settings[grp.setting].name);
            for (std::size_t r = 0; r < kTallyReasons; ++r) {
                const std::uint64_t n = tally->count(g, r);
                if (n == 0 && r != static_cast<std::size_t>(Reason::Ok)) {
                    continue;
                }
                const std::string_view code =
                    r == kUnseenIndex ? kUnseenReason : reason_table[r].code;
                o.sample("ringprobe_probes_total",
                         {{"pool", pool}, {"setting", setting}, {"reason", code}}, n);
            }
        }
    }
    if (!per_server) {
        return;
    }
    o.family("ringprobe_server_healthy", "gauge",
             "Per report row: 1 Healthy, 0 Unhealthy or Unknown (--metrics-per-server).");
    for (const abi::RowRecord& r : info.rows) {
        const Health h = report::effective(snap, r.target_index).health;
        o.sample("ringprobe_server_healthy",
                 {{"pool", info.str(info.pools[r.pool_index].name)},
                  {"setting", info.str(info.settings[r.setting_index].name)},
                  {"server", info.str(info.servers[r.server_index].address)}},
                 h == Health::Healthy ? 1 : 0);
    }
    o.family("ringprobe_server_probe_duration_seconds", "gauge",
             "Per report row: the latest probe's duration (--metrics-per-server).");
    for (const abi::RowRecord& r : info.rows) {
        const report::Effective e = report::effective(snap, r.target_index);
        o.sample_double("ringprobe_server_probe_duration_seconds",
                        {{"pool", info.str(info.pools[r.pool_index].name)},
                         {"setting", info.str(info.settings[r.setting_index].name)},
                         {"server", info.str(info.servers[r.server_index].address)}},
                        e.state != nullptr ? static_cast<double>(e.state->latency_us) / 1e6 : 0);
    }
}

// The resolver's counters, from the report's Resolver record (the engine's main thread writes
// it about every 250 ms; all zero before the engine runs a resolver, which is also the truth for
// a plan without FQDN backends).
void dns_families(Out& o, const report::Snapshot& snap) {
    const abi::ResolverStatsPayload& r = snap.resolver;
    o.single("ringprobe_dns_names", "gauge",
             "Distinct DNS names the resolver watches (the FQDN backends' names).", r.names);
    o.family("ringprobe_dns_lookups_total", "counter",
             "DNS lookups completed, by outcome (ok, nxdomain, nodata, servfail, timeout, "
             "refused, unreachable, other).");
    for (std::size_t k = 1; k < std::size(kDnsOutcomeCodes); ++k) {
        o.sample("ringprobe_dns_lookups_total", {{"outcome", kDnsOutcomeCodes[k]}},
                 r.by_outcome[k]);
    }
    o.single("ringprobe_dns_lookups_in_flight", "gauge", "DNS lookups started, not yet ended.",
             r.lookups_started > r.lookups_done ? r.lookups_started - r.lookups_done : 0);
    o.single("ringprobe_dns_notices_dropped_total", "counter",
             "Resolver answers a worker's full queue could not take (each becomes a resync).",
             r.notices_dropped);
}

// One sample per report row of a TLS target whose full handshake has been seen: pool, setting,
// server, and the earliest notAfter of the chain it presented (or of the trust anchor), as a
// Unix timestamp. Without per_server at most `max` rows, those that expire first, so an alert
// on "expires within N days" sees every row that matters even when the rest are left out.
void tls_expiry_family(Out& o, const report::Snapshot& snap, const TlsExpiry& exp,
                       std::uint32_t max, bool per_server) {
    const report::StaticInfo& info = *snap.info;
    std::vector<std::pair<std::int64_t, std::uint32_t>> known;  // (notAfter, row)
    for (std::uint32_t i = 0; i < info.rows.size(); ++i) {
        const std::uint32_t slot = info.targets[info.rows[i].target_index].tls_slot;
        if (slot < exp.not_after_s.size() && exp.not_after_s[slot] != 0) {
            known.emplace_back(exp.not_after_s[slot], i);
        }
    }
    std::size_t keep = known.size();
    if (!per_server && known.size() > max) {
        keep = max;
        std::nth_element(known.begin(), known.begin() + static_cast<std::ptrdiff_t>(keep),
                         known.end());
        known.resize(keep);
        std::sort(known.begin(), known.end(),
                  [](const auto& a, const auto& b) { return a.second < b.second; });
    }
    if (!known.empty()) {
        o.family("ringprobe_tls_cert_expiry_timestamp_seconds", "gauge",
                 "Per report row of a TLS target: when the earliest certificate of the chain "
                 "its last full handshake presented (or the trust anchor) expires, Unix seconds.");
    }
    for (const auto& [not_after, i] : known) {
        const abi::RowRecord& r = info.rows[i];
        o.sample_double("ringprobe_tls_cert_expiry_timestamp_seconds",
                        {{"pool", info.str(info.pools[r.pool_index].name)},
                         {"setting", info.str(info.settings[r.setting_index].name)},
                         {"server", info.str(info.servers[r.server_index].address)}},
                        static_cast<double>(not_after));
    }
}

// TLS handshakes (the workers' counters in the report), certificate expiry and the early warning.
void tls_families(Out& o, const report::Snapshot& snap, const MetricsInput& in) {
    const report::StaticInfo& info = *snap.info;
    std::uint64_t full = 0;
    std::uint64_t resumed = 0;
    std::uint64_t failed = 0;
    for (const abi::WorkerStatsPayload& w : snap.workers) {
        full += w.tls_full;
        resumed += w.tls_resumed;
        failed += w.tls_failed;
    }
    o.family("ringprobe_tls_handshakes_total", "counter",
             "TLS handshakes completed: kind=\"full\" (the server sent its certificates) or "
             "kind=\"resumed\" (a session was resumed).");
    o.sample("ringprobe_tls_handshakes_total", {{"kind", "full"}}, full);
    o.sample("ringprobe_tls_handshakes_total", {{"kind", "resumed"}}, resumed);
    o.single("ringprobe_tls_handshake_failures_total", "counter",
             "Probes that ended with a TLS reason (certificate, alert, version, handshake "
             "timeout).",
             failed);
    if (info.tls == 0) {
        return;
    }
    if (in.tls_expiry != nullptr) {
        tls_expiry_family(o, snap, *in.tls_expiry, in.tls_expiry_max, in.per_server);
        std::uint64_t known = 0;
        for (const abi::RowRecord& r : info.rows) {
            const std::uint32_t slot = info.targets[r.target_index].tls_slot;
            known +=
                slot < in.tls_expiry->not_after_s.size() && in.tls_expiry->not_after_s[slot] != 0
                    ? 1
                    : 0;
        }
        o.single("ringprobe_tls_cert_expiry_omitted_rows", "gauge",
                 "Rows with a known certificate expiry left out of "
                 "ringprobe_tls_cert_expiry_timestamp_seconds by its cap (the latest to expire).",
                 in.per_server || known <= in.tls_expiry_max ? 0 : known - in.tls_expiry_max);
    }
    // Rows by pool whose target is Healthy but carries the early warning (the certificate
    // expires within its certExpiryWarningDays): the threshold is per setting, which a query
    // on the timestamp alone cannot know. Only pools with a TLS row.
    std::vector<std::uint8_t> has_tls(info.pools.size(), 0);
    std::vector<std::uint64_t> expiring(info.pools.size(), 0);
    for (const abi::RowRecord& r : info.rows) {
        if (info.targets[r.target_index].tls_slot == abi::kNoSlot) {
            continue;
        }
        const report::Effective e = report::effective(snap, r.target_index);
        has_tls[r.pool_index] = 1;
        expiring[r.pool_index] +=
            e.state != nullptr && (e.state->flags & abi::kStateCertExpiring) != 0 ? 1 : 0;
    }
    o.family("ringprobe_servers_cert_expiring", "gauge",
             "Rows of the pool that are Healthy with a certificate inside its early-warning "
             "period (certExpiryWarningDays).");
    for (std::size_t p = 0; p < info.pools.size(); ++p) {
        if (has_tls[p] != 0) {
            o.sample("ringprobe_servers_cert_expiring", {{"pool", info.str(info.pools[p].name)}},
                     expiring[p]);
        }
    }
}

// --- capacity ---
// Late rows per pool and the engine's capacity check (report::is_late, the header's capacity
// record): a verdict older than its schedule allows is counted, so a dashboard never takes it
// for a fresh one.
void capacity_families(Out& o, const report::Snapshot& snap) {
    const report::StaticInfo& info = *snap.info;
    std::vector<std::uint64_t> late(info.pools.size(), 0);
    for (const abi::RowRecord& r : info.rows) {
        late[r.pool_index] += report::is_late(snap, r.target_index) ? 1 : 0;
    }
    o.family("ringprobe_servers_late", "gauge",
             "Report rows per pool whose last result is older than twice their interval plus "
             "their timeout: the engine is not keeping their schedule.");
    for (std::size_t p = 0; p < info.pools.size(); ++p) {
        o.sample("ringprobe_servers_late", {{"pool", info.str(info.pools[p].name)}}, late[p]);
    }
    const abi::CapacityPayload& c = snap.capacity;
    if ((c.flags & abi::kCapacityChecked) == 0) {
        return;
    }
    o.single("ringprobe_capacity_short", "gauge",
             "1 when the engine cannot keep the plan's schedule (the log and the report say what "
             "to change).",
             report::capacity_short(c) ? 1 : 0);
    o.single("ringprobe_capacity_in_flight_needed", "gauge",
             "Probes in flight the busiest worker's targets need (min(probe time, timeout) / "
             "interval, summed).",
             c.in_flight_needed);
    o.single("ringprobe_capacity_sockets_per_worker", "gauge",
             "Sockets a worker may hold at once (its share of the descriptor limit).",
             c.sockets_per_worker);
    o.single("ringprobe_capacity_probes_per_second", "gauge",
             "Probe starts per second the busiest worker's targets need.", c.probes_per_s);
    o.single("ringprobe_capacity_nofile_needed", "gauge",
             "The descriptor limit (LimitNOFILE) that keeps the schedule; 0 when the limit is "
             "enough.",
             c.nofile_needed);
    o.single("ringprobe_capacity_workers_needed", "gauge",
             "Workers that keep the probe rate; 0 when the workers are enough.", c.workers_needed);
    o.family("ringprobe_capacity_slowdown_ratio", "gauge",
             "How much longer than configured the busiest worker's intervals get (1: on "
             "schedule).");
    o.sample_double("ringprobe_capacity_slowdown_ratio", {}, c.slowdown_permille / 1000.0);
}
// --- end capacity ---

void server_families(Out& o, const ServerStats& st) {
    auto load = [](const std::atomic<std::uint64_t>& a) {
        return a.load(std::memory_order_relaxed);
    };
    o.single("ringprobe_exporter_connections_accepted_total", "counter",
             "Connections the exporter accepted.", load(st.accepted));
    o.single("ringprobe_exporter_connections_open", "gauge", "Connections open now.",
             load(st.open));
    o.single("ringprobe_exporter_connections_evicted_total", "counter",
             "Connections closed to make room at the connection cap (longest waiting first).",
             load(st.evicted));
    o.single("ringprobe_exporter_connections_timed_out_total", "counter",
             "Connections closed by a deadline (idle, slow request, slow reader).",
             load(st.timed_out));
    o.family("ringprobe_exporter_requests_rejected_total", "counter",
             "Requests refused before routing, by why.");
    o.sample("ringprobe_exporter_requests_rejected_total", {{"why", "too_large"}},
             load(st.too_large));
    o.sample("ringprobe_exporter_requests_rejected_total", {{"why", "bad_request"}},
             load(st.bad_requests));
    o.sample("ringprobe_exporter_requests_rejected_total", {{"why", "method"}},
             load(st.not_allowed));
    o.single("ringprobe_exporter_responses_total", "counter", "Responses sent, any status.",
             load(st.responses));
}

}  // namespace

TlsExpiry tls_expiry_of(const report::Snapshot& snap) {
    TlsExpiry e;
    e.not_after_s.reserve(snap.tls.size());
    for (const abi::TlsFactsPayload& f : snap.tls) {
        e.not_after_s.push_back(f.captured_unix_ns != 0 ? f.earliest_not_after_s : 0);
    }
    return e;
}

std::string render_metrics(const MetricsInput& in) {
    std::string s;
    s.reserve(16384);
    Out o(s);
    // --- shard ---
    if (in.snap != nullptr && in.snap->info->header.shard.count > 1) {
        const abi::ShardRecord& sh = in.snap->info->header.shard;
        o.set_shard(shard_label(sh.index, sh.count));
    }
    // --- end shard ---
    o.family("ringprobe_build_info", "gauge", "The ringprobe build (always 1).");
    o.sample("ringprobe_build_info", {{"version", RINGPROBE_VERSION}}, 1);
    if (in.totals != nullptr) {
        engine_families(o, s, *in.totals, in.facts);
    }
    if (in.snap != nullptr) {
        report_families(o, *in.snap, in.tally, in.per_server);
        dns_families(o, *in.snap);
        tls_families(o, *in.snap, in);
        capacity_families(o, *in.snap);
    } else {
        o.single("ringprobe_report_up", "gauge",
                 "1 when the report was read and the engine's heartbeat is fresh.", 0);
    }
    if (in.server != nullptr) {
        server_families(o, *in.server);
    }
    return s;
}

}  // namespace ringprobe::exporter
