// /metrics rendering (see metrics.hpp). Numbers go through std::to_chars; no iostreams.
#include "exporter/metrics.hpp"

#include <array>
#include <charconv>
#include <initializer_list>
#include <utility>

#include "config/plan.hpp"
#include "engine/histogram.hpp"
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
        if (labels.size() > 0) {
            s_ += '{';
            bool first = true;
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
};

using Buckets = std::array<std::uint64_t, engine::Histogram::buckets>;

// A histogram in seconds from the engine's microsecond buckets. The sum is estimated from
// bucket midpoints (the engine keeps no exact sum): within 12.5 % of the true sum.
void histogram(Out& o, std::string& s, std::string_view name, std::string_view help,
               const Buckets& h) {
    o.family(name, "histogram", help);
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    double sum_us = 0;
    unsigned b = 0;
    for (unsigned p = kLeFirstPow2; p <= kLeLastPow2; ++p) {
        const std::uint64_t edge = std::uint64_t{1} << p;
        while (b < engine::Histogram::buckets && engine::Histogram::lower_bound(b) < edge) {
            cumulative += h[b];
            const double lo = static_cast<double>(engine::Histogram::lower_bound(b));
            const double hi = static_cast<double>(engine::Histogram::lower_bound(b + 1));
            sum_us += static_cast<double>(h[b]) * (lo + hi) / 2;
            ++b;
        }
        char le[32];
        auto r = std::to_chars(le, le + sizeof le, static_cast<double>(edge) / 1e6);
        o.sample(bucket, {{"le", std::string_view(le, static_cast<std::size_t>(r.ptr - le))}},
                 cumulative);
    }
    for (; b < engine::Histogram::buckets; ++b) {
        cumulative += h[b];
        sum_us += static_cast<double>(h[b]) *
                  static_cast<double>(engine::Histogram::lower_bound(b));
    }
    o.sample(bucket, {{"le", "+Inf"}}, cumulative);
    o.sample_double(std::string(name) + "_sum", {}, sum_us / 1e6);
    o.sample(std::string(name) + "_count", {}, cumulative);
    (void)s;
}

std::string_view prober_kind(Reason r) {
    switch (r) {
        case Reason::ProberNoFds: return "no_fds";
        case Reason::ProberNoBuffers: return "no_buffers";
        case Reason::ProberNoPorts: return "no_ports";
        case Reason::ProberRingFull: return "ring_full";
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
    o.single("ringprobe_probes_started_total", "counter", "Probes started, all targets.",
             t.probes_started);
    o.single("ringprobe_probes_completed_total", "counter",
             "Probes completed with a verdict, all targets.", t.probes_completed);
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
              "Probe duration from start to verdict, all targets.", t.duration_us);
    histogram(o, s, "ringprobe_timer_lateness_seconds",
              "How late probes started after their scheduled instant.", t.lateness_us);
    o.single("ringprobe_late_probes_total", "counter",
             "Probes started later than their scheduled tick.", t.late_probes);
    o.single("ringprobe_skipped_intervals_total", "counter",
             "Scheduled starts skipped because the previous probe of the target overran.",
             t.skipped_intervals);
    o.single("ringprobe_health_transitions_total", "counter",
             "Health changes of a target (Unknown, Healthy, Unhealthy).", t.transitions);
    o.single("ringprobe_probes_in_flight", "gauge", "Probes started and not yet completed.",
             t.in_flight);
    o.single("ringprobe_ring_submits_total", "counter", "io_uring submit calls, all workers.",
             t.ring_submits);
    o.single("ringprobe_ring_sq_full_total", "counter",
             "Times a worker found its submission queue full and flushed it.", t.sq_full);
    o.single("ringprobe_ring_cq_overflow_total", "counter",
             "Completions the kernel had to hold back because a completion queue was full.",
             t.ring_cq_overflow);
    o.single("ringprobe_recv_no_buffer_total", "counter",
             "Receives that found no provided buffer free (retried).", t.recv_no_buffer);
    o.single("ringprobe_stale_completions_total", "counter",
             "Completions that named an earlier probe of a reused slot (ignored).",
             t.stale_completions);
    o.family("ringprobe_prober_errors_total", "counter",
             "Probes that failed on ringprobe's own side (never counted against a backend).");
    std::array<std::uint64_t, 5> kinds{};
    const std::array<std::string_view, 5> names = {"no_fds", "no_buffers", "no_ports",
                                                   "ring_full", "other"};
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

    // Rows by pool and effective health (a server probed by two settings is two rows).
    std::vector<std::array<std::uint64_t, 3>> by_pool(info.pools.size());
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

std::string render_metrics(const MetricsInput& in) {
    std::string s;
    s.reserve(16384);
    Out o(s);
    o.family("ringprobe_build_info", "gauge", "The ringprobe build (always 1).");
    o.sample("ringprobe_build_info", {{"version", RINGPROBE_VERSION}}, 1);
    if (in.totals != nullptr) {
        engine_families(o, s, *in.totals, in.facts);
    }
    if (in.snap != nullptr) {
        report_families(o, *in.snap, in.tally, in.per_server);
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
