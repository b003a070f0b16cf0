// Exporter benchmarks.
//
//  BM_Exporter_RenderMetrics/N, BM_Exporter_RenderPage/N, BM_Exporter_TallySweep/N:
//      what one scrape of /metrics, one page of / and one tally sweep cost on a report of N
//      targets (a segment written by hand; no engine, no socket).
//  BM_Exporter_RenderPagePictures/N, BM_Exporter_PoolSample/N: the page with its pictures
//      (every history ring full, a full pool-health ring, 1,000 events) and one pool-health
//      sample of the exporter's 10 s cadence, on a report of N targets.
//  BM_Exporter_TlsExpiryCopy/N, BM_Exporter_RenderMetricsTls/N: N Https targets, each with
//      its certificate facts published: the copy of the TlsFacts section a scrape makes at most
//      every 5 s, and one scrape's rendering with the 1000-series expiry cap (nth_element).
//  BM_Exporter_ProbeRateUnderScrape: the claim of issue #7. The real engine probes
//      --exporter_targets targets (default 1,000) on the real fleet, 2 workers; the probe rate
//      is measured over --exporter_window_ms with nobody scraping, then with a client scraping
//      /metrics and / back to back over loopback. Counters: rate_quiet, rate_scraped (probes/s),
//      change_pct (scraped vs quiet), scrapes_per_s. docs/benchmarks.md, "Exporter", has the
//      50,000-target figure and its command.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_main.hpp"
#include "common/clock.hpp"
#include "common/command_line.hpp"
#include "engine/engine.hpp"
#include "exporter/exporter.hpp"
#include "exporter/pool_samples.hpp"
#include "report/names.hpp"
#include "report/writer.hpp"
#include "support/engine_harness.hpp"
#include "support/fleet_process.hpp"
#include "support/plan_builder.hpp"
#include "support/unique_name.hpp"

namespace {

using namespace ringprobe;
namespace command_line = ringprobe::command_line;
using Clock = std::chrono::steady_clock;

unsigned g_targets = 1000;
unsigned g_window_ms = 1000;
unsigned g_interval_ms = 1000;

// N targets over 127.1.0.0/16, one pool and setting (plan_builder), on one fleet port.
Plan plan_of(unsigned n, std::uint16_t port, unsigned interval_ms,
             Protocol protocol = Protocol::Http) {
    Plan plan;
    for (unsigned i = 0; i < n; ++i) {
        testing::TargetSpec spec{
            .address = "127.1." + std::to_string(i / 250) + "." + std::to_string(1 + i % 250),
            .port = port,
            .protocol = protocol,
            .interval_ms = interval_ms,
            .timeout_ms = 1000};
        testing::add_target(plan, spec);
    }
    return plan;
}

// What /metrics copies from the report on each scrape (exporter.cpp).
const report::SnapshotOptions kScrapeSnapshot{.dns = false, .tls_facts = false};

struct HandSegment {
    std::string name;
    Plan plan;
    std::optional<report::Writer> writer;
    explicit HandSegment(unsigned n, Protocol protocol = Protocol::Http)
        : name(testing::unique_name("bench-exporter")) {
        plan = plan_of(n, 8080, 5000, protocol);
        auto w = report::Writer::create(plan, name);
        writer.emplace(std::move(*w));
        for (unsigned t = 0; t < n; ++t) {
            if (protocol == Protocol::Https) {  // a chain of two, expiries spread over a year
                report::TlsFacts f{};
                f.captured_unix_ns = realtime_ns();
                f.presented = 2;
                f.chain_count = 2;
                f.earliest_not_after_s = 1'800'000'000 + static_cast<std::int64_t>(t % 365) * 86400;
                writer->publish_tls_facts(writer->tls_slot(t), f);
            }
            report::TargetUpdate u;
            u.health = t % 7 == 0 ? Health::Unhealthy : Health::Healthy;
            u.reason = t % 7 == 0 ? Reason::StatusMismatch : Reason::Ok;
            u.http_status = t % 7 == 0 ? 503 : 200;
            u.total_ok = 10;
            u.total_probes = 10;
            writer->publish(t, u);
        }
        writer->heartbeat(realtime_ns());
    }
    ~HandSegment() { ::unlink(report::segment_path(name).c_str()); }
};

void BM_Exporter_RenderMetrics(benchmark::State& state) {
    HandSegment seg(static_cast<unsigned>(state.range(0)));
    auto rep = report::Report::open(seg.name);
    exporter::ProbeTally tally(rep->info());
    engine::EngineTotals totals;
    for (auto _ : state) {
        seg.writer->heartbeat(realtime_ns());
        const auto snap = rep->snapshot(kScrapeSnapshot);
        tally.sweep(*rep);
        exporter::MetricsInput in{&totals, nullptr, &snap, &tally, nullptr, false};
        benchmark::DoNotOptimize(exporter::render_metrics(in));
    }
}
BENCHMARK(BM_Exporter_RenderMetrics)->Arg(50000)->Unit(benchmark::kMillisecond);

void BM_Exporter_TlsExpiryCopy(benchmark::State& state) {
    HandSegment seg(static_cast<unsigned>(state.range(0)), Protocol::Https);
    auto rep = report::Report::open(seg.name);
    for (auto _ : state) {
        benchmark::DoNotOptimize(
            exporter::tls_expiry_of(rep->snapshot(report::SnapshotOptions{.dns = false})));
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Exporter_TlsExpiryCopy)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_Exporter_RenderMetricsTls(benchmark::State& state) {
    HandSegment seg(static_cast<unsigned>(state.range(0)), Protocol::Https);
    auto rep = report::Report::open(seg.name);
    exporter::ProbeTally tally(rep->info());
    const exporter::TlsExpiry expiry =
        exporter::tls_expiry_of(rep->snapshot(report::SnapshotOptions{.dns = false}));
    engine::EngineTotals totals;
    for (auto _ : state) {
        seg.writer->heartbeat(realtime_ns());
        const auto snap = rep->snapshot(kScrapeSnapshot);
        exporter::MetricsInput in{&totals, nullptr, &snap, &tally, nullptr, false};
        in.tls_expiry = &expiry;
        benchmark::DoNotOptimize(exporter::render_metrics(in));
    }
}
BENCHMARK(BM_Exporter_RenderMetricsTls)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_Exporter_RenderPage(benchmark::State& state) {
    HandSegment seg(static_cast<unsigned>(state.range(0)));
    auto rep = report::Report::open(seg.name);
    for (auto _ : state) {
        seg.writer->heartbeat(realtime_ns());
        const auto snap = rep->snapshot({});
        benchmark::DoNotOptimize(
            exporter::render_page(snap, exporter::PageQuery{}, exporter::PageOptions{}));
    }
}
BENCHMARK(BM_Exporter_RenderPage)->Arg(50000)->Arg(100000)->Unit(benchmark::kMillisecond);

// Every target's history ring full (32 results, health changing every 5) and 1,000 events.
void fill_history_and_events(report::Writer& w, unsigned n) {
    const std::uint64_t now = realtime_ns();
    for (unsigned t = 0; t < n; ++t) {
        for (unsigned i = 0; i < report_abi::kHistoryEntries; ++i) {
            report::HistoryResult r;
            r.unix_ns = now - (32 - i) * 1'000'000'000ull;
            r.duration_us = 200 + (t + i) % 5000;
            r.health = (i / 5) % 2 == 0 ? Health::Healthy : Health::Unhealthy;
            r.reason = r.health == Health::Healthy ? Reason::Ok : Reason::ConnectRefused;
            w.record_history(t, r);
        }
    }
    for (unsigned i = 0; i < 1000; ++i) {
        report::EventUpdate e;
        e.unix_ns = now - (1000 - i) * 1'000'000ull;
        e.target = (i * 7919) % n;
        e.reason = i % 2 == 0 ? Reason::ConnectRefused : Reason::Ok;
        e.from = i % 2 == 0 ? Health::Healthy : Health::Unhealthy;
        e.to = i % 2 == 0 ? Health::Unhealthy : Health::Healthy;
        w.record_event(e);
    }
}

// A full pool-health ring whose counts change at every sample: the largest area there is.
exporter::PoolSamples full_samples(std::size_t pools, unsigned rows_per_pool) {
    exporter::PoolSamples samples(pools, 360);
    const std::uint64_t now = realtime_ns();
    for (unsigned i = 0; i < 360; ++i) {
        const std::uint32_t bad = i % 7;
        const std::uint32_t unknown = i % 5;
        const exporter::HealthCounts c{unknown, rows_per_pool - bad - unknown, bad};
        const std::vector<exporter::HealthCounts> all(pools, c);
        samples.add(now - (360 - i) * 10'000'000'000ull, all);
    }
    return samples;
}

// The page as / serves it: the snapshot with the event log, then the pictures (pool health
// from a full ring, latency, the first 25 rows' timelines from their rings, the 10 newest
// events) and the first 500 rows. Counter page_bytes: the HTML's size.
void BM_Exporter_RenderPagePictures(benchmark::State& state) {
    const auto n = static_cast<unsigned>(state.range(0));
    HandSegment seg(n);
    fill_history_and_events(*seg.writer, n);
    auto rep = report::Report::open(seg.name);
    const exporter::PoolSamples samples = full_samples(rep->info().pools.size(), n);
    exporter::PagePictures pictures;
    pictures.samples = &samples;
    const report::Report* r = &*rep;
    pictures.history = [r](std::uint32_t target, report_abi::HistoryEntry* out) {
        return r->copy_history(target, out);
    };
    std::size_t bytes = 0;
    for (auto _ : state) {
        seg.writer->heartbeat(realtime_ns());
        const auto snap = rep->snapshot({.events = true});
        const std::string page =
            exporter::render_page(snap, exporter::PageQuery{}, exporter::PageOptions{}, pictures);
        bytes = page.size();
        benchmark::DoNotOptimize(page.data());
    }
    state.counters["page_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Exporter_RenderPagePictures)->Arg(100000)->Unit(benchmark::kMillisecond);

// One pool-health sample (exporter.cpp sample_if_due, every 10 s): a snapshot without DNS and
// TLS facts, the counts per pool and health, one ring entry.
void BM_Exporter_PoolSample(benchmark::State& state) {
    const auto n = static_cast<unsigned>(state.range(0));
    HandSegment seg(n);
    auto rep = report::Report::open(seg.name);
    exporter::PoolSamples samples(rep->info().pools.size(), 360);
    for (auto _ : state) {
        const auto snap = rep->snapshot(kScrapeSnapshot);
        samples.add(snap.now_unix_ns, exporter::count_pool_health(snap));
    }
}
BENCHMARK(BM_Exporter_PoolSample)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_Exporter_TallySweep(benchmark::State& state) {
    HandSegment seg(static_cast<unsigned>(state.range(0)));
    auto rep = report::Report::open(seg.name);
    exporter::ProbeTally tally(rep->info());
    for (auto _ : state) {
        tally.sweep(*rep);
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Exporter_TallySweep)->Arg(50000)->Unit(benchmark::kMillisecond);

// Probes completed per second over `window`, keeping the engine's heartbeat going.
double probe_rate(engine::Engine& eng, std::chrono::milliseconds window) {
    const double c0 = static_cast<double>(eng.totals().probes_completed);
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < window) {
        eng.tick(5'000'000);
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    return (static_cast<double>(eng.totals().probes_completed) - c0) / s;
}

void BM_Exporter_ProbeRateUnderScrape(benchmark::State& state) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    test::FleetOptions fo;
    fo.threads = 1;
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})", fo);
    if (!fleet) {
        state.SkipWithError(fleet.error().message.c_str());
        return;
    }
    const Plan plan = plan_of(g_targets, fleet->port(), g_interval_ms);
    testing::EngineHarness run(plan, testing::engine_options("bench-exporter-live"));
    if (!run.start()) {
        state.SkipWithError("engine did not start");
        return;
    }
    exporter::ExporterOptions xo;
    xo.listen = exporter::ListenAddress{"127.0.0.1", 0};
    xo.report_name = run.name();
    auto x = exporter::Exporter::start(
        xo, [&run] { return run.totals(); }, exporter::EngineFacts{2, run.engine().ring_mode(), 0});
    if (!x) {
        state.SkipWithError(("exporter did not start: " + x.error().message).c_str());
        run.stop();
        return;
    }
    const std::uint16_t port = (*x)->port();
    const auto window = std::chrono::milliseconds(g_window_ms);
    // First probes spread in.
    probe_rate(run.engine(), std::chrono::milliseconds(g_interval_ms + 500));
    for (auto _ : state) {
        const double quiet = probe_rate(run.engine(), window);
        std::atomic<bool> stop{false};
        std::atomic<std::uint64_t> scrapes{0};
        std::thread scraper([&] {
            while (!stop.load()) {
                for (const char* path : {"/metrics", "/"}) {
                    auto r = test::exchange(
                        "127.0.0.1", port,
                        std::string("GET ") + path + " HTTP/1.1\r\nConnection: close\r\n\r\n",
                        std::chrono::milliseconds(10000));
                    scrapes.fetch_add(r.bytes.rfind("HTTP/1.1 200", 0) == 0 ? 1 : 0);
                }
            }
        });
        const double scraped = probe_rate(run.engine(), window);
        stop.store(true);
        scraper.join();
        state.counters["rate_quiet"] = quiet;
        state.counters["rate_scraped"] = scraped;
        state.counters["change_pct"] = quiet > 0 ? 100.0 * (scraped - quiet) / quiet : 0;
        state.counters["scrapes_per_s"] =
            static_cast<double>(scrapes.load()) / (static_cast<double>(g_window_ms) / 1000.0);
        if (scrapes.load() == 0) {
            state.SkipWithError("the exporter answered no scrape with 200");
            break;
        }
    }
    x->reset();
    run.stop();
}
BENCHMARK(BM_Exporter_ProbeRateUnderScrape)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

// Takes --exporter_targets, --exporter_window_ms and --exporter_interval_ms out of argv and
// leaves every other argument, in order, for Google Benchmark. --help prints these flags, then
// Google Benchmark's own. Returns command_line::kContinue to go on, else the exit status.
int parse_own_flags(int& argc, char** argv) {
    CLI::App app(
        "BM_Exporter_ProbeRateUnderScrape's own flags; every other argument goes to\n"
        "Google Benchmark.",
        "exporter_bench");
    command_line::configure(app);
    app.allow_extras();
    app.set_help_flag();
    bool help = false;
    app.add_flag("-h,--help", help, "print these flags, then Google Benchmark's");
    command_line::add_number(app, "--exporter_targets", g_targets, 1u, 1'000'000u,
                             "targets the engine probes (default 1000)");
    command_line::add_number(app, "--exporter_window_ms", g_window_ms, 1u, 3'600'000u,
                             "each measurement window (default 1000)", "MS");
    command_line::add_number(app, "--exporter_interval_ms", g_interval_ms, 1u, 3'600'000u,
                             "every target's probe interval (default 1000)", "MS");
    if (int rc = command_line::parse(app, argc, argv); rc != command_line::kContinue) {
        return rc;
    }
    std::vector<std::string> rest = app.remaining();
    if (help) {
        std::fputs(app.help().c_str(), stdout);
        rest.emplace_back("--help");
    }
    // Google Benchmark may keep pointers into argv, so the kept arguments live as long as main.
    static std::vector<std::string> kept;
    kept = std::move(rest);
    argc = 1;
    for (std::string& arg : kept) {
        argv[argc++] = arg.data();
    }
    argv[argc] = nullptr;
    return command_line::kContinue;
}

}  // namespace

int main(int argc, char** argv) {
    if (int rc = parse_own_flags(argc, argv); rc != command_line::kContinue) {
        return rc;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    return ringprobe::bench::run_benchmarks("exporter_bench", argc, argv);
}
