// The engine's counter list (src/engine/counters.hpp): it proves that what the list generates
// says what the readers of each output expect. The --stats line keeps its keys and their order
// and shows growth; the engine's totals add counters and gauges over workers and keep the
// largest Max; one worker's row of the report's worker table has a source for every field; and
// each /metrics family is named the Prometheus way for its kind. Workers are plain
// WorkerCounters with a stand-in for the ring's counters, so no ring is needed.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>

#include "engine/counters.hpp"

namespace ringprobe::engine {
namespace {

// The three counters a worker's ring keeps, under RingStats' names.
struct FakeRing {
    std::atomic<std::uint64_t> sq_full{0};
    std::atomic<std::uint64_t> submits{0};
    std::atomic<std::uint64_t> cq_overflow{0};
};

void set(std::atomic<std::uint64_t>& c, std::uint64_t v) {
    c.store(v, std::memory_order_relaxed);
}

TEST(Counters, StatsLineKeepsItsKeysInTheirOrder) {
    CounterValues now;
    for (const CounterInfo& c : counter_table) {
        now.*c.value = 100;  // rows that are not on the line must not show
    }
    now.probes_started = 1;
    now.probes_completed = 2;
    now.prober_errors = 3;
    now.stale_completions = 4;
    now.skipped_intervals = 5;
    now.deferred_starts = 6;
    now.held_starts = 7;
    now.chunks = 8;
    now.transitions = 9;
    now.recv_no_buffer = 10;
    now.loops = 11;
    now.transitions_dropped = 12;
    EXPECT_EQ(stats_fields(CounterValues{}, now),
              "probes_started=1 probes_completed=2 prober_errors=3 stale_completions=4 "
              "skipped_intervals=5 deferred_starts=6 held_starts=7 chunks=8 transitions=9 "
              "recv_no_buffer=10 loops=11 transitions_dropped=12");
}

TEST(Counters, StatsLineShowsGrowthAndNeverGoesBelowZero) {
    CounterValues since;
    CounterValues now;
    since.probes_started = 5;
    now.probes_started = 7;
    since.loops = 9;
    now.loops = 3;
    const std::string line = stats_fields(since, now);
    EXPECT_NE(line.find("probes_started=2 "), std::string::npos) << line;
    EXPECT_NE(line.find("loops=0"), std::string::npos) << line;
}

TEST(Counters, TotalsAddCountersAndGaugesAndKeepTheLargestMax) {
    WorkerCounters a;
    WorkerCounters b;
    FakeRing ring_a;
    FakeRing ring_b;
    set(a.probes_started, 3);
    set(b.probes_started, 4);
    set(a.in_flight, 2);
    set(b.in_flight, 1);
    set(a.lateness_us_max, 50);
    set(b.lateness_us_max, 70);
    set(a.by_reason[static_cast<std::size_t>(Reason::Ok)], 6);
    set(b.by_reason[static_cast<std::size_t>(Reason::Ok)], 1);
    set(ring_a.submits, 4);
    set(ring_b.sq_full, 2);
    a.lateness_us.record(10);
    b.lateness_us.record(10);

    EngineTotals t;
    add_worker(t, a, ring_a);
    add_worker(t, b, ring_b);
    EXPECT_EQ(t.probes_started, 7u);
    EXPECT_EQ(t.in_flight, 3u);
    EXPECT_EQ(t.lateness_us_max, 70u);
    EXPECT_EQ(t.ring_submits, 4u);
    EXPECT_EQ(t.sq_full, 2u);
    EXPECT_EQ(t.ring_cq_overflow, 0u);
    EXPECT_EQ(t.by_reason[static_cast<std::size_t>(Reason::Ok)], 7u);
    EXPECT_EQ(t.lateness_us[Histogram::bucket_of(10)], 2u);
}

TEST(Counters, ReportRowHasASourceForEveryFieldOfTheWorkerTable) {
    WorkerCounters c;
    FakeRing ring;
    std::uint64_t next = 1000;
    // Every counter gets a value of its own, so a field filled from the wrong one shows.
#define RP_TEST_SET(name, ...) set(c.name, next++);
#define RP_TEST_SET_RING(name, ring_field, ...) set(ring.ring_field, next++);
    RINGPROBE_ENGINE_COUNTERS(RP_TEST_SET, RP_TEST_SET_RING)
#undef RP_TEST_SET
#undef RP_TEST_SET_RING
    set(c.by_reason[static_cast<std::size_t>(Reason::ProberNoFds)], 11);
    set(c.by_reason[static_cast<std::size_t>(Reason::ProberNoBuffers)], 12);
    set(c.by_reason[static_cast<std::size_t>(Reason::ProberNoPorts)], 13);

    const CounterValues v = counter_values(c, ring);
    const report_abi::WorkerStatsPayload w = report_row(v, c, 7, 8);
    for (const CounterInfo& info : counter_table) {
        if (info.table != nullptr) {
            EXPECT_EQ(w.*info.table, v.*info.value) << info.name;
        }
    }
    EXPECT_EQ(w.probes_started, c.probes_started.load());
    EXPECT_EQ(w.ring_full, ring.sq_full.load());
    EXPECT_EQ(w.loop_iterations, c.loops.load());
    EXPECT_EQ(w.no_fds, 11u);
    EXPECT_EQ(w.no_buffers, 12u);
    EXPECT_EQ(w.no_ports, 13u);
    EXPECT_EQ(w.targets_owned, 7u);
    EXPECT_EQ(w.updated_unix_ns, 8u);

    std::uint64_t words[report_abi::kWorkerPayloadWords];
    std::memcpy(words, &w, sizeof words);
    const std::size_t reserved = std::size(w.reserved);
    for (std::size_t i = 0; i < report_abi::kWorkerPayloadWords; ++i) {
        if (i < report_abi::kWorkerPayloadWords - reserved) {
            EXPECT_NE(words[i], 0u) << "word " << i << " has no source";
        } else {
            EXPECT_EQ(words[i], 0u) << "reserved word " << i;
        }
    }
}

TEST(Counters, FamiliesAreNamedForTheirKind) {
    for (const CounterInfo& c : counter_table) {
        if (c.metric.empty()) {
            continue;
        }
        EXPECT_TRUE(c.metric.starts_with("ringprobe_")) << c.metric;
        EXPECT_NE(c.kind, CounterKind::Max) << c.metric << ": a maximum is not a Prometheus type";
        EXPECT_EQ(c.metric.ends_with("_total"), c.kind == CounterKind::Counter) << c.metric;
    }
}

// skipped_intervals counts the starts already past when a probe ends (schedule_next): an
// overrun, or a start held back by the socket budget or a full turn. Its help names both, so
// an operator under a descriptor shortage does not look for slow backends alone.
TEST(Counters, SkippedIntervalsHelpNamesEveryCause) {
    const auto it =
        std::find_if(std::begin(counter_table), std::end(counter_table),
                     [](const CounterInfo& c) { return c.name == "skipped_intervals"; });
    ASSERT_NE(it, std::end(counter_table));
    EXPECT_NE(it->help.find("longer than the interval"), std::string_view::npos) << it->help;
    EXPECT_NE(it->help.find("waiting for a socket"), std::string_view::npos) << it->help;
    EXPECT_NE(it->help.find("a turn with room"), std::string_view::npos) << it->help;
}

}  // namespace
}  // namespace ringprobe::engine
