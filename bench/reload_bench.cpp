// reload_bench: how long Engine::reload takes with N targets, and what it does to the lateness
// of the probes around it (issue #20: applied in under 1 s at 100,000 targets, start lateness
// p99 over the reload under 50 ms).
//
// It builds a plan of N Tcp targets (127.3.0.1 on, a port nothing listens on: every probe is a
// refused connect, a result, which is all this measures), starts the engine with two workers,
// waits until every target has had its first probe, then runs ROUNDS rounds of: a quiet window
// of W = 3 s, then a window of W with a reload 1 s into it that removes 1 % of the targets and
// adds 1 % new ones. Printed per round: the reload's time (Engine::reload, main thread, from
// the call to the new segment in place) and the start lateness p50 / p99 / max of the probes
// started in each window (the engine's own histogram, EngineTotals::lateness_us).
//
//   build-bench/bench/reload_bench [N] [interval_ms] [rounds]   (10000, 5000, 3)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "common/command_line.hpp"
#include "common/histogram.hpp"
#include "engine/engine.hpp"
#include "support/engine_harness.hpp"
#include "support/plan_builder.hpp"

namespace {

using namespace ringprobe;
namespace command_line = ringprobe::command_line;

constexpr std::uint16_t kClosedPort = 9;  // discard: nothing listens on it

std::string address_of(int i) {  // 127.3.0.1 onwards, 250 a /24: 1,000,000 fit below 127.19
    return "127." + std::to_string(3 + i / 62500) + "." + std::to_string(i / 250 % 250) + "." +
           std::to_string(i % 250 + 1);
}

// Targets first .. first + n - 1: a later plan with a larger `first` drops the lowest and adds
// as many new ones.
std::unique_ptr<Plan> plan_of(int first, int n, std::uint32_t interval_ms, std::uint64_t digest) {
    auto plan = std::make_unique<Plan>();
    for (int i = first; i < first + n; ++i) {
        testing::add_target(*plan, testing::TargetSpec{.address = address_of(i),
                                                       .port = kClosedPort,
                                                       .interval_ms = interval_ms,
                                                       .timeout_ms = 1000});
    }
    plan->digest = digest;
    return plan;
}

struct Window {
    std::uint64_t probes = 0;
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

Window window_between(const engine::EngineTotals& a, const engine::EngineTotals& b) {
    auto h = b.lateness_us;
    for (std::size_t i = 0; i < h.size(); ++i) {
        h[i] -= std::min(h[i], a.lateness_us[i]);
    }
    Window w;
    w.probes = b.probes_completed - a.probes_completed;
    w.p50_ms = static_cast<double>(histogram_percentile(h, 0.5)) / 1000.0;
    w.p99_ms = static_cast<double>(histogram_percentile(h, 0.99)) / 1000.0;
    w.max_ms = static_cast<double>(histogram_percentile(h, 1.0)) / 1000.0;
    return w;
}

int parse_args(int argc, char** argv, int& n, std::uint32_t& interval_ms, int& rounds) {
    CLI::App app("Engine::reload with N targets: its time and the probes' lateness around it.",
                 "reload_bench");
    command_line::configure(app);
    command_line::add_number(app, "N", n, 100, 1'000'000, "Tcp targets (10000)", "");
    command_line::add_number(app, "INTERVAL_MS", interval_ms, 100u, 600'000u,
                             "every target's interval (5000)", "");
    command_line::add_number(app, "ROUNDS", rounds, 1, 100, "quiet + reload windows (3)", "");
    return command_line::parse(app, argc, argv);
}

}  // namespace

int main(int argc, char** argv) {
    int n = 10000;
    std::uint32_t interval_ms = 5000;
    int rounds = 3;
    if (int rc = parse_args(argc, argv, n, interval_ms, rounds); rc != command_line::kContinue) {
        return rc;
    }
    const auto first_plan = plan_of(0, n, interval_ms, 1);
    engine::EngineOptions o = testing::engine_options("reload-bench", 2);
    o.pin = false;
    testing::EngineHarness run(*first_plan, o);
    if (auto r = run.start(); !r) {
        std::fprintf(stderr, "reload_bench: %s\n", r.error().message.c_str());
        return 1;
    }
    const bool all = run.wait(
        [](const report::Snapshot& s) {
            return std::all_of(s.states.begin(), s.states.end(),
                               [](const auto& st) { return st.total_probes > 0; });
        },
        std::chrono::milliseconds(interval_ms) + std::chrono::seconds(10));
    if (!all) {
        std::fprintf(stderr, "reload_bench: some target had no first probe\n");
        return 1;
    }
    std::printf("targets=%d interval_ms=%u workers=2\n", n, interval_ms);
    const int churn = std::max(1, n / 100);
    constexpr auto window = std::chrono::milliseconds(3000);
    int first = 0;
    for (int round = 0; round < rounds; ++round) {
        const engine::EngineTotals q0 = run.totals();
        run.run_for(window);
        const engine::EngineTotals q1 = run.totals();
        run.run_for(std::chrono::milliseconds(1000));
        first += churn;  // the first `churn` leave, as many new ones come
        const auto t0 = std::chrono::steady_clock::now();
        auto r = run.reload(plan_of(first, n, interval_ms, 2 + static_cast<std::uint64_t>(round)));
        const double took_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        if (!r) {
            std::fprintf(stderr, "reload_bench: %s\n", r.error().message.c_str());
            return 1;
        }
        run.run_for(window - std::chrono::milliseconds(1000));
        const engine::EngineTotals q2 = run.totals();
        const Window quiet = window_between(q0, q1);
        const Window loaded = window_between(q1, q2);
        std::printf(
            "round=%d reload_ms=%.1f engine_reload_ms=%.1f kept=%zu added=%zu removed=%zu | "
            "quiet: probes=%llu lateness_ms p50=%.2f p99=%.2f max=%.2f | with reload: "
            "probes=%llu lateness_ms p50=%.2f p99=%.2f max=%.2f\n",
            round, took_ms, static_cast<double>(r->took_ns) / 1e6, r->kept, r->added, r->removed,
            static_cast<unsigned long long>(quiet.probes), quiet.p50_ms, quiet.p99_ms, quiet.max_ms,
            static_cast<unsigned long long>(loaded.probes), loaded.p50_ms, loaded.p99_ms,
            loaded.max_ms);
        std::fflush(stdout);
    }
    run.stop();
    return 0;
}
