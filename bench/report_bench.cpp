// Report benchmarks: the cost of publishing one result (the engine's hot path), of appending it
// to the target's history, the same publish with a reader copying the whole report in a loop on
// another thread (interference), snapshotting and
// rendering 100,000 rows as JSON (the exporter's and ringprobe-report's cost).
//
//   ninja -C build-report bench/report_bench
//   build-report/bench/report_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <thread>

#include "bench_main.hpp"
#include "common/clock.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"
#include "report/writer.hpp"
#include "support/report_test_plan.hpp"

namespace ringprobe::report {
namespace {

struct Segment {
    std::string name;
    std::optional<Writer> writer;
    explicit Segment(std::uint32_t targets) : name(testing::unique_name("bench")) {
        auto w = Writer::create(testing::large_plan(targets), name);
        if (!w) {
            std::fprintf(stderr, "%s\n", w.error().message.c_str());
            std::abort();
        }
        writer.emplace(std::move(*w));
        writer->heartbeat(realtime_ns());
    }
    ~Segment() { writer->unlink(); }
};

TargetUpdate sample(std::uint64_t i) {
    TargetUpdate u;
    u.health = i % 5 == 0 ? Health::Unhealthy : Health::Healthy;
    u.reason = i % 5 == 0 ? Reason::StatusMismatch : Reason::Ok;
    u.http_status = i % 5 == 0 ? 503 : 200;
    u.latency_us = static_cast<std::uint32_t>(1000 + i % 777);
    u.connect_us = 120;
    u.first_byte_us = 900;
    u.last_probe_unix_ns = 1'700'000'000'000'000'000ULL + i;
    u.next_probe_unix_ns = u.last_probe_unix_ns + 30'000'000'000ULL;
    u.consecutive_ok = 3;
    u.total_probes = i;
    u.total_ok = i;
    u.detail = "resolved 10.0.0.4:8080";
    return u;
}

constexpr std::uint32_t kPublishTargets = 4096;

void publish_loop(benchmark::State& state, Writer& w) {
    std::uint64_t i = 0;
    TargetUpdate u = sample(1);
    for (auto _ : state) {
        u.total_probes = ++i;
        w.publish(static_cast<std::uint32_t>(i % kPublishTargets), u);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_Report_Publish(benchmark::State& state) {
    Segment seg(kPublishTargets);
    publish_loop(state, *seg.writer);
}
BENCHMARK(BM_Report_Publish);

// What each probe adds to publish(): one entry of its target's history ring.
void BM_Report_RecordHistory(benchmark::State& state) {
    Segment seg(kPublishTargets);
    std::uint64_t i = 0;
    HistoryResult r;
    r.reason = Reason::Ok;
    r.health = Health::Healthy;
    r.http_status = 200;
    for (auto _ : state) {
        r.unix_ns = 1'700'000'000'000'000'000ULL + ++i;
        r.duration_us = static_cast<std::uint32_t>(i % 777);
        seg.writer->record_history(static_cast<std::uint32_t>(i % kPublishTargets), r);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Report_RecordHistory);

// What a health transition costs a worker: one entry of the engine's event log (a ticket from
// one fetch-add, then four word stores). Threads(2) runs two writers on the shared counter.
void BM_Report_RecordEvent(benchmark::State& state) {
    static Segment* seg = nullptr;
    if (state.thread_index() == 0) {
        seg = new Segment(kPublishTargets);
    }
    EventUpdate e;
    e.reason = Reason::ConnectRefused;
    e.from = Health::Healthy;
    e.to = Health::Unhealthy;
    std::uint64_t i = 0;
    for (auto _ : state) {
        e.unix_ns = 1'700'000'000'000'000'000ULL + ++i;
        e.target = static_cast<std::uint32_t>(i % kPublishTargets);
        seg->writer->record_event(e);
    }
    state.SetItemsProcessed(state.iterations());
    if (state.thread_index() == 0) {
        delete seg;
        seg = nullptr;
    }
}
BENCHMARK(BM_Report_RecordEvent)->Threads(1)->Threads(2);

// The same publish loop while another thread copies the whole report (every state record) in a
// loop, as `ringprobe-report --watch` or the exporter would, only far more often.
void BM_Report_PublishWithReader(benchmark::State& state) {
    Segment seg(kPublishTargets);
    auto r = Report::open(seg.name);
    if (!r) {
        state.SkipWithError(r.error().message.c_str());
        return;
    }
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> copies{0};
    std::thread reader([&] {
        report_abi::TargetStatePayload p{};
        const auto* recs = r->state_records();
        while (!stop.load(std::memory_order_relaxed)) {
            for (std::uint32_t t = 0; t < kPublishTargets; ++t) {
                benchmark::DoNotOptimize(copy_state(recs[t], p, 64));
            }
            copies.fetch_add(1, std::memory_order_relaxed);
        }
    });
    publish_loop(state, *seg.writer);
    stop.store(true);
    reader.join();
    state.counters["whole_report_copies"] = static_cast<double>(copies.load());
}
BENCHMARK(BM_Report_PublishWithReader)->UseRealTime();

void fill(Writer& w) {
    for (std::uint32_t t = 0; t < w.target_count(); ++t) {
        w.publish(t, sample(t));
    }
    w.heartbeat(realtime_ns());
}

void BM_Report_Snapshot(benchmark::State& state) {
    Segment seg(static_cast<std::uint32_t>(state.range(0)));
    fill(*seg.writer);
    auto r = Report::open(seg.name);
    for (auto _ : state) {
        benchmark::DoNotOptimize(r->snapshot(SnapshotOptions{}));
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Report_Snapshot)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_Report_RenderJson(benchmark::State& state) {
    Segment seg(static_cast<std::uint32_t>(state.range(0)));
    fill(*seg.writer);
    auto r = Report::open(seg.name);
    const Snapshot snap = r->snapshot(SnapshotOptions{});
    RenderOptions o;
    std::size_t bytes = 0;
    for (auto _ : state) {
        std::string out = render_json(snap, o);
        bytes = out.size();
        benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
    state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Report_RenderJson)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_Report_RenderJsonDetails(benchmark::State& state) {
    Segment seg(static_cast<std::uint32_t>(state.range(0)));
    fill(*seg.writer);
    auto r = Report::open(seg.name);
    const Snapshot snap = r->snapshot(SnapshotOptions{});
    RenderOptions o;
    o.details = true;
    for (auto _ : state) {
        benchmark::DoNotOptimize(render_json(snap, o));
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Report_RenderJsonDetails)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ringprobe::report

RP_BENCHMARK_MAIN("report_bench");
