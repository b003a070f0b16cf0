// The engine's counters, declared once in the way of Envoy's ALL_HEALTH_CHECKER_STATS(COUNTER,
// GAUGE) lists: each row of RINGPROBE_ENGINE_COUNTERS makes a field of WorkerCounters (or names
// a counter the worker's ring keeps) and a field of the engine's totals, and where it has them,
// its key on the `ringprobe run --stats` line, its /metrics family and its field in the report's
// worker table. tests/unit/counters_test.cpp checks what each of those readers sees.
//
// Light on purpose (the report ABI's types, no liburing, no resolver): the exporter includes it
// to read the totals.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <ringprobe/report.hpp>
#include <ringprobe/result.hpp>

#include "common/histogram.hpp"
#include "dns/stats.hpp"

// RINGPROBE_ENGINE_COUNTERS(WORKER, RING) calls, once per counter, in /metrics order:
//   WORKER(name, kind, table, stats, metric, help)  kept by the worker in WorkerCounters::name
//   RING(name, ring_field, kind, table, stats, metric, help)  kept by the worker's ring in
//       RingStats::ring_field (src/engine/ring.hpp)
// name    its field in WorkerCounters (WORKER rows), CounterValues and EngineTotals, and its key
//         on the --stats line
// kind    Counter: only grows; summed over workers
//         Gauge: a level that goes up and down; summed over workers
//         Max: the largest value a worker saw; the largest over workers
// table   Table(field): copied into report_abi::WorkerStatsPayload::field (the report's worker
//         table, for readers outside the process); NoTable: not in the report
// stats   Stats(n): the n-th key of a `ringprobe run --stats` line, shown as its growth (Counter
//         rows only; scripts read the line, so its order is kept apart from /metrics'); NoStats:
//         not on the line
// metric  the name of its own /metrics family, with help as the HELP text; "": none (the help
//         says where else it shows)
#define RINGPROBE_ENGINE_COUNTERS(WORKER, RING)                                                   \
    WORKER(probes_started, Counter, Table(probes_started), Stats(0),                              \
           "ringprobe_probes_started_total", "Probes started, all targets.")                      \
    WORKER(probes_completed, Counter, Table(probes_completed), Stats(1),                          \
           "ringprobe_probes_completed_total", "Probes completed with a verdict, all targets.")   \
    WORKER(late_probes, Counter, Table(late_probes), NoStats, "ringprobe_late_probes_total",      \
           "Probes started later than their scheduled tick.")                                     \
    WORKER(skipped_intervals, Counter, NoTable, Stats(4), "ringprobe_skipped_intervals_total",    \
           "Scheduled starts of a target already past when its previous probe ended: that probe " \
           "ran longer than the interval, or started late, waiting for a socket (the descriptor " \
           "budget) or for a turn with room.")                                                    \
    WORKER(transitions, Counter, NoTable, Stats(8), "ringprobe_health_transitions_total",         \
           "Health changes of a target (Unknown, Healthy, Unhealthy).")                           \
    WORKER(in_flight, Gauge, NoTable, NoStats, "ringprobe_probes_in_flight",                      \
           "Probes started and not yet completed.")                                               \
    RING(ring_submits, submits, Counter, NoTable, NoStats, "ringprobe_ring_submits_total",        \
         "io_uring submit calls, all workers.")                                                   \
    WORKER(loops, Counter, Table(loop_iterations), Stats(10), "ringprobe_worker_loops_total",     \
           "Worker loop turns, all workers: about one wake-up each (at most one per quantumMs "   \
           "per worker while probes are in flight).")                                             \
    RING(sq_full, sq_full, Counter, Table(ring_full), NoStats, "ringprobe_ring_sq_full_total",    \
         "Times a worker found its submission queue full and flushed it.")                        \
    RING(ring_cq_overflow, cq_overflow, Counter, NoTable, NoStats,                                \
         "ringprobe_ring_cq_overflow_total",                                                      \
         "Completions the kernel had to hold back because a completion queue was full.")          \
    WORKER(recv_no_buffer, Counter, NoTable, Stats(9), "ringprobe_recv_no_buffer_total",          \
           "Receives that found no provided buffer free (retried).")                              \
    WORKER(stale_completions, Counter, Table(stale_completions), Stats(3),                        \
           "ringprobe_stale_completions_total",                                                   \
           "Completions that named an earlier probe of a reused slot (ignored).")                 \
    WORKER(prober_errors, Counter, Table(prober_errors), Stats(2), "",                            \
           "Probes that failed on ringprobe's own side (/metrics: by kind, from the outcomes).")  \
    WORKER(probes_ok, Counter, NoTable, NoStats, "", "Probes that ended Ok.")                     \
    WORKER(probes_failed, Counter, NoTable, NoStats, "",                                          \
           "Probes that ended with the backend's failure.")                                       \
    WORKER(deferred_starts, Counter, NoTable, Stats(5), "",                                       \
           "Starts that waited for a free socket budget.")                                        \
    WORKER(held_starts, Counter, NoTable, Stats(6), "",                                           \
           "Starts that waited for a later chunk or turn (the chunk or the turn had its fill).")  \
    WORKER(chunks, Counter, NoTable, Stats(7), "",                                                \
           "Kernel entries of a turn's later chunks (turn_chunk).")                               \
    WORKER(stop_forced_closes, Counter, NoTable, NoStats, "",                                     \
           "Probes still pending when the stop budget ran out.")                                  \
    WORKER(lateness_us_sum, Counter, Table(lateness_us_sum), NoStats, "",                         \
           "Probe start minus scheduled start, summed, in microseconds (/metrics: the lateness "  \
           "histogram's sum).")                                                                   \
    WORKER(duration_us_sum, Counter, NoTable, NoStats, "",                                        \
           "Probe start to verdict, summed, in microseconds (/metrics: the duration histogram's " \
           "sum).")                                                                               \
    WORKER(lateness_us_max, Max, Table(lateness_us_max), NoStats, "",                             \
           "The latest a probe started after its scheduled start, in microseconds.")              \
    WORKER(tls_full, Counter, Table(tls_full), NoStats, "",                                       \
           "Handshakes that presented a certificate (/metrics: from the report).")                \
    WORKER(tls_resumed, Counter, Table(tls_resumed), NoStats, "",                                 \
           "Handshakes that resumed a session (/metrics: from the report).")                      \
    WORKER(tls_failed, Counter, Table(tls_failed), NoStats, "",                                   \
           "Probes that ended with a TLS reason (/metrics: from the report).")                    \
    WORKER(dns_updates, Counter, Table(dns_updates), NoStats, "", "Resolver notices applied.")    \
    WORKER(transitions_dropped, Counter, NoTable, Stats(11),                                      \
           "ringprobe_transitions_dropped_total",                                                 \
           "Health transitions left out of the transition log because its queue (4,096 a "        \
           "worker) was full; the report and /metrics still show the health they moved to.")      \
    WORKER(direct_files_held, Gauge, NoTable, NoStats, "",                                        \
           "Entries of the rings' file tables held by a direct socket: a probe's, or one whose "  \
           "close is queued (descriptors from /proc/self/fd do not show them).")                  \
    WORKER(dns_addresses_unprobed, Gauge, NoTable, NoStats, "ringprobe_dns_addresses_unprobed",   \
           "Addresses in FQDN backends' answers not probed now because the worker's pool of "     \
           "address slots had none free (docs/dns.md, \"Address slots\").")                       \
    WORKER(connections_new, Counter, NoTable, NoStats, "ringprobe_probe_connections_new_total",   \
           "Probes of connectionReuse targets that opened a new connection.")                     \
    WORKER(connections_reused, Counter, NoTable, NoStats,                                         \
           "ringprobe_probe_connections_reused_total",                                            \
           "Probes of connectionReuse targets that ran on a connection an earlier probe kept.")   \
    WORKER(stale_retries, Counter, NoTable, NoStats, "ringprobe_probe_stale_retries_total",       \
           "Probes on a kept connection that met its end (the server had closed it) or bytes "    \
           "from before the request, and started again on a new connection within the same "      \
           "deadline; never counted against the backend.")                                        \
    WORKER(kept_dirty, Counter, NoTable, NoStats, "",                                             \
           "Kept connections found holding bytes no request asked for (among stale_retries).")    \
    WORKER(kept_given_way, Counter, NoTable, NoStats, "ringprobe_kept_connections_closed_total",  \
           "Idle kept connections closed to give their socket to a start that found none free.")  \
    WORKER(kept_connections, Gauge, NoTable, NoStats, "ringprobe_kept_connections",               \
           "Idle connections kept for their target's next probe (each holds a socket).")

namespace ringprobe::engine {

enum class CounterKind : std::uint8_t { Counter, Gauge, Max };

// Counters one worker keeps; single writer (the worker), read by anyone with relaxed loads.
struct WorkerCounters {
#define RP_COUNTER_ATOMIC(name, ...) std::atomic<std::uint64_t> name{0};
#define RP_COUNTER_NONE(...)
    RINGPROBE_ENGINE_COUNTERS(RP_COUNTER_ATOMIC, RP_COUNTER_NONE)
#undef RP_COUNTER_ATOMIC
#undef RP_COUNTER_NONE
    std::array<std::atomic<std::uint64_t>, reason_count> by_reason{};
    Histogram lateness_us;  // probe start minus scheduled start
    Histogram duration_us;  // probe start to verdict
};

// Every counter of the list as a plain number: one worker's (counter_values) or the engine's.
struct CounterValues {
#define RP_COUNTER_VALUE(name, ...) std::uint64_t name = 0;
    RINGPROBE_ENGINE_COUNTERS(RP_COUNTER_VALUE, RP_COUNTER_VALUE)
#undef RP_COUNTER_VALUE
};

// The engine's counters summed over its workers (Engine::totals), with what is not a single
// number: probes by reason, the two histograms, the resolver's counters.
struct EngineTotals : CounterValues {
    dns::ResolverStats dns{};  // zero when the plan has no FQDN backend
    std::array<std::uint64_t, reason_count> by_reason{};
    std::array<std::uint64_t, Histogram::buckets> lateness_us{};
    std::array<std::uint64_t, Histogram::buckets> duration_us{};
};

// One row of the list, for code that walks it (/metrics, --stats, the report's worker table).
struct CounterInfo {
    std::string_view name;
    CounterKind kind;
    std::uint64_t CounterValues::*value;
    std::uint64_t report_abi::WorkerStatsPayload::*table;  // nullptr: not in the report
    int stats_at;                                          // -1: not on the --stats line
    std::string_view metric;                               // empty: no family of its own
    std::string_view help;
};

#define RP_COUNTER_TABLE_Table(field) &report_abi::WorkerStatsPayload::field
#define RP_COUNTER_TABLE_NoTable nullptr
#define RP_COUNTER_STATS_Stats(n) n
#define RP_COUNTER_STATS_NoStats -1
#define RP_COUNTER_INFO(name, kind, table, stats, metric, help) \
    CounterInfo{#name,                                          \
                CounterKind::kind,                              \
                &CounterValues::name,                           \
                RP_COUNTER_TABLE_##table,                       \
                RP_COUNTER_STATS_##stats,                       \
                metric,                                         \
                help},
#define RP_RING_COUNTER_INFO(name, ring_field, kind, table, stats, metric, help) \
    RP_COUNTER_INFO(name, kind, table, stats, metric, help)
inline constexpr CounterInfo counter_table[] = {
    RINGPROBE_ENGINE_COUNTERS(RP_COUNTER_INFO, RP_RING_COUNTER_INFO)};
#undef RP_COUNTER_INFO
#undef RP_RING_COUNTER_INFO
#undef RP_COUNTER_TABLE_Table
#undef RP_COUNTER_TABLE_NoTable
#undef RP_COUNTER_STATS_Stats
#undef RP_COUNTER_STATS_NoStats

// The fields of the report's worker table that are not rows of the list: the prober errors by
// kind (from the outcomes by reason), the targets owned and the instant (report_row's).
inline constexpr std::size_t report_fields_not_listed = 5;

namespace detail {

constexpr std::size_t stats_count() {
    std::size_t n = 0;
    for (const CounterInfo& c : counter_table) {
        n += c.stats_at >= 0 ? 1 : 0;
    }
    return n;
}

constexpr bool counter_table_is_sound() {
    std::size_t in_table = 0;
    for (std::size_t i = 0; i < std::size(counter_table); ++i) {
        const CounterInfo& a = counter_table[i];
        in_table += a.table != nullptr ? 1 : 0;
        if (a.help.empty()) {
            return false;
        }
        // --stats shows growth, which only a Counter has, and its keys are 0 .. n-1.
        if (a.stats_at >= 0 && a.kind != CounterKind::Counter) {
            return false;
        }
        if (a.stats_at >= static_cast<int>(stats_count())) {
            return false;
        }
        for (std::size_t j = 0; j < i; ++j) {
            const CounterInfo& b = counter_table[j];
            if (a.name == b.name || (!a.metric.empty() && a.metric == b.metric) ||
                (a.table != nullptr && a.table == b.table) ||
                (a.stats_at >= 0 && a.stats_at == b.stats_at)) {
                return false;
            }
        }
    }
    constexpr std::size_t reserved = std::size(report_abi::WorkerStatsPayload{}.reserved);
    return in_table + report_fields_not_listed + reserved == report_abi::kWorkerPayloadWords;
}

}  // namespace detail

static_assert(detail::counter_table_is_sound(),
              "every counter needs a help text, a name, family, report field and --stats place of "
              "its own, only a Counter goes on --stats, and every field of the report's worker "
              "table needs a source");

// The rows on the --stats line, in the line's order.
inline constexpr auto stats_rows = [] {
    std::array<const CounterInfo*, detail::stats_count()> rows{};
    for (const CounterInfo& c : counter_table) {
        if (c.stats_at >= 0) {
            rows[static_cast<std::size_t>(c.stats_at)] = &c;
        }
    }
    return rows;
}();

// One worker's counters as plain numbers: relaxed loads of single-writer atomics, each counter
// whole, the set not one instant. ring: the worker's RingStats.
template <class RingCounters>
CounterValues counter_values(const WorkerCounters& c, const RingCounters& ring) {
    CounterValues v;
#define RP_COUNTER_LOAD(name, ...) v.name = c.name.load(std::memory_order_relaxed);
#define RP_RING_COUNTER_LOAD(name, ring_field, ...) \
    v.name = ring.ring_field.load(std::memory_order_relaxed);
    RINGPROBE_ENGINE_COUNTERS(RP_COUNTER_LOAD, RP_RING_COUNTER_LOAD)
#undef RP_COUNTER_LOAD
#undef RP_RING_COUNTER_LOAD
    return v;
}

// Adds one worker's values to a sum over workers, each as its kind says.
constexpr void accumulate(CounterValues& sum, const CounterValues& one) {
    for (const CounterInfo& c : counter_table) {
        std::uint64_t& s = sum.*c.value;
        const std::uint64_t v = one.*c.value;
        s = c.kind == CounterKind::Max ? std::max(s, v) : s + v;
    }
}

// Adds one worker to the engine's totals: its counters, its probes by reason, its histograms.
template <class RingCounters>
void add_worker(EngineTotals& t, const WorkerCounters& c, const RingCounters& ring) {
    accumulate(t, counter_values(c, ring));
    for (std::size_t r = 0; r < reason_count; ++r) {
        t.by_reason[r] += c.by_reason[r].load(std::memory_order_relaxed);
    }
    c.lateness_us.add_to(t.lateness_us);
    c.duration_us.add_to(t.duration_us);
}

// One worker's row of the report's worker table: the list's Table rows, and the fields that are
// not (report_fields_not_listed).
inline report_abi::WorkerStatsPayload report_row(const CounterValues& v, const WorkerCounters& c,
                                                 std::uint64_t targets_owned,
                                                 std::uint64_t updated_unix_ns) {
    report_abi::WorkerStatsPayload w{};
    for (const CounterInfo& info : counter_table) {
        if (info.table != nullptr) {
            w.*info.table = v.*info.value;
        }
    }
    auto by = [&c](Reason r) {
        return c.by_reason[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
    };
    w.no_fds = by(Reason::ProberNoFds);
    w.no_buffers = by(Reason::ProberNoBuffers);
    w.no_ports = by(Reason::ProberNoPorts);
    w.targets_owned = targets_owned;
    w.updated_unix_ns = updated_unix_ns;
    return w;
}

// The counters' part of a --stats line: "name=growth" for every Stats row, in the line's order,
// from `since` to `now` (0 where a counter seems to have gone back).
inline std::string stats_fields(const CounterValues& since, const CounterValues& now) {
    std::string out;
    for (const CounterInfo* c : stats_rows) {
        const std::uint64_t a = since.*c->value;
        const std::uint64_t b = now.*c->value;
        char digits[24];
        const auto r = std::to_chars(digits, digits + sizeof digits, b >= a ? b - a : 0);
        if (!out.empty()) {
            out += ' ';
        }
        out += c->name;
        out += '=';
        out.append(digits, r.ptr);
    }
    return out;
}

}  // namespace ringprobe::engine
