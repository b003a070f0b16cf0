// Micro-benchmarks of src/engine/timer_wheel.cpp at 64 to 1M resident timers.
//  Schedule: move one random resident timer to a new random tick (cancel + insert inside).
//  Cancel:   cancel resident timers; they are put back outside the timed region, per batch.
//  Expire:   the engine's steady state: every timer has a 30 s period at a 100 us tick
//            (300,000 ticks) with spread phases and reschedules itself from its callback;
//            each iteration advances to next_expiry(), as the event loop does. Items are
//            timers fired, so items_per_second is the wheel's cost per probe expiry,
//            cascades included.
#include "bench_main.hpp"
#include "engine/timer_wheel.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

namespace ringprobe::engine {
namespace {

constexpr std::uint64_t period_ticks = 300000;

void BM_TimerWheel_Schedule(benchmark::State& state) {
    auto n = static_cast<std::size_t>(state.range(0));
    std::mt19937_64 rng(42);
    TimerWheel wheel(0);
    std::vector<TimerNode> nodes(n);
    for (auto& node : nodes) {
        wheel.schedule(node, 1 + rng() % period_ticks);
    }
    std::vector<std::uint32_t> order(4096);
    std::vector<std::uint64_t> ticks(4096);
    for (std::size_t i = 0; i < order.size(); ++i) {
        order[i] = static_cast<std::uint32_t>(rng() % n);
        ticks[i] = 1 + rng() % period_ticks;
    }
    std::size_t i = 0;
    for (auto _ : state) {
        wheel.schedule(nodes[order[i]], ticks[i]);
        i = (i + 1) & 4095;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_TimerWheel_Cancel(benchmark::State& state) {
    auto n = static_cast<std::size_t>(state.range(0));
    std::mt19937_64 rng(42);
    TimerWheel wheel(0);
    std::vector<TimerNode> nodes(n);
    for (auto& node : nodes) {
        wheel.schedule(node, 1 + rng() % period_ticks);
    }
    std::vector<std::uint32_t> order(n);
    for (std::size_t i = 0; i < n; ++i) {
        order[i] = static_cast<std::uint32_t>(i);
    }
    std::shuffle(order.begin(), order.end(), rng);
    std::size_t cancelled = 0;
    for (auto _ : state) {
        for (std::uint32_t idx : order) {
            wheel.cancel(nodes[idx]);
        }
        cancelled += n;
        state.PauseTiming();
        for (auto& node : nodes) {
            wheel.schedule(node, node.expires);
        }
        state.ResumeTiming();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(cancelled));
}

void BM_TimerWheel_Expire(benchmark::State& state) {
    auto n = static_cast<std::size_t>(state.range(0));
    std::mt19937_64 rng(42);
    TimerWheel wheel(0);
    std::vector<TimerNode> nodes(n);
    for (auto& node : nodes) {
        wheel.schedule(node, 1 + rng() % period_ticks);
    }
    std::size_t fired = 0;
    auto again = [&](TimerNode& node) { wheel.schedule(node, node.expires + period_ticks); };
    for (auto _ : state) {
        fired += wheel.advance(wheel.next_expiry(), again);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(fired));
}

BENCHMARK(BM_TimerWheel_Schedule)->RangeMultiplier(16)->Range(64, 1 << 20);
BENCHMARK(BM_TimerWheel_Cancel)->RangeMultiplier(16)->Range(64, 1 << 20);
BENCHMARK(BM_TimerWheel_Expire)->RangeMultiplier(16)->Range(64, 1 << 20);

}  // namespace
}  // namespace ringprobe::engine

RP_BENCHMARK_MAIN("timer_wheel_bench");
