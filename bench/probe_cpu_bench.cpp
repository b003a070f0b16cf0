// The engine's CPU per probe: the real engine in-process (two workers) against the real
// ringprobe-fleet on loopback, HTTP 200 backends. The process's user plus system time over a
// window, divided by the probes completed in it; the fleet runs in its own process and is not
// counted. What the probe path costs as a whole, to compare a change against its parent.
//
//   ninja -C build/release bench/probe_cpu_bench
//   build/release/bench/probe_cpu_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <string>

#include "bench_main.hpp"
#include "support/engine_harness.hpp"
#include "support/fleet_process.hpp"
#include "support/plan_builder.hpp"

namespace ringprobe {
namespace {

using Clock = std::chrono::steady_clock;

double cpu_us() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto us = [](const timeval& tv) { return double(tv.tv_sec) * 1e6 + double(tv.tv_usec); };
    return us(ru.ru_utime) + us(ru.ru_stime);
}

void run_window(testing::EngineHarness& run, std::chrono::milliseconds d) {
    const auto until = Clock::now() + d;
    while (Clock::now() < until) {
        run.engine().tick(5'000'000);
    }
}

// Arg: targets, each probed every second (targets probes a second).
void BM_Engine_CpuPerProbe(benchmark::State& state) {
    test::FleetOptions fo;
    fo.threads = 1;
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})", fo);
    if (!fleet) {
        state.SkipWithError(fleet.error().message.c_str());
        return;
    }
    Plan plan;
    const auto targets = static_cast<unsigned>(state.range(0));
    for (unsigned i = 0; i < targets; ++i) {
        testing::add_target(
            plan, testing::TargetSpec{.address = "127.2." + std::to_string(i / 250) + "." +
                                                 std::to_string(1 + i % 250),
                                      .port = fleet->port(),
                                      .protocol = Protocol::Http,
                                      .interval_ms = 1000,
                                      .timeout_ms = 500});
    }
    testing::EngineHarness run(plan, testing::engine_options("bench-cpu"));
    if (!run.start()) {
        state.SkipWithError("engine did not start");
        return;
    }
    run_window(run, std::chrono::milliseconds(1500));  // every first probe is in
    for (auto _ : state) {
        const double c0 = cpu_us();
        const auto p0 = run.totals().probes_completed;
        run_window(run, std::chrono::milliseconds(5000));
        const double probes = static_cast<double>(run.totals().probes_completed - p0);
        state.counters["cpu_us_per_probe"] = probes > 0 ? (cpu_us() - c0) / probes : 0;
        state.counters["probes_per_s"] = probes / 5.0;
    }
    run.stop();
}
BENCHMARK(BM_Engine_CpuPerProbe)->Arg(2000)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
}  // namespace ringprobe

RP_BENCHMARK_MAIN("probe_cpu_bench");
