// Drives the real engine in-process against the real ringprobe-fleet on loopback and counts, at
// the fleet, the connections each backend received over a bounded window. It proves the
// state-dependent intervals (src/engine/cadence.hpp, src/engine/schedule.cpp):
//  - fastIntervalMs: a Healthy backend that starts failing is probed at the fast cadence until
//    it is declared Unhealthy, several times as often as a neighbour without one; detection
//    then takes the first failure + (threshold - 1) x fastInterval + timeout, well inside
//    interval x threshold;
//  - unhealthyIntervalMs: an Unhealthy backend is probed at the unhealthy cadence, a fraction as
//    often as a neighbour on the regular interval, and its first success after recovery
//    brings it back to the regular cadence.
// Counts are bounded both ways with room for a loaded machine or a sanitizer: the cadences
// differ by a factor of ten, so the bounds never meet.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "engine/engine.hpp"
#include "report/reader.hpp"
#include "support/engine_harness.hpp"
#include "support/fleet_process.hpp"
#include "support/plan_builder.hpp"

namespace ringprobe {
namespace {

using testing::engine_options;
using testing::TargetSpec;
using Clock = std::chrono::steady_clock;

auto health_is(std::size_t t, Health h) {
    return
        [t, h](const report::Snapshot& s) { return static_cast<Health>(s.states[t].health) == h; };
}

std::uint64_t at_fleet(const test::FleetProcess& fleet, const std::string& address) {
    return fleet.count(address, fleet.port());
}

TEST(EngineCadence, AFailingHealthyBackendIsProbedAtTheFastCadenceUntilUnhealthy) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    constexpr unsigned interval_ms = 1000;
    constexpr unsigned fast_ms = 50;
    constexpr unsigned timeout_ms = 200;
    Plan plan;
    // 0: fast cadence, a threshold high enough to stay in it through the window; 1: the same
    // without one.
    for (const char* a : {"127.1.30.1", "127.1.30.2"}) {
        testing::add_target(plan, TargetSpec{.address = a,
                                             .port = fleet->port(),
                                             .protocol = Protocol::Http,
                                             .interval_ms = interval_ms,
                                             .timeout_ms = timeout_ms,
                                             .unhealthy = 20});
    }
    plan.targets[0].fast_interval_ms = fast_ms;
    testing::EngineHarness run(plan, engine_options("cadence-fast"));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return static_cast<Health>(s.states[0].health) == Health::Healthy &&
                   static_cast<Health>(s.states[1].health) == Health::Healthy;
        },
        std::chrono::seconds(5)));
    ASSERT_TRUE(fleet->reload(R"({"default": {"kind": "http", "status": 503}})"));
    // The fast target fails from its next probe on (within one interval); from its first
    // failure count over 600 ms, which holds 12 fast starts, well before its 20th failure
    // (950 ms), and at most one regular start of its neighbour, whatever their phases.
    ASSERT_TRUE(run.wait([](const report::Snapshot& s) { return s.states[0].consecutive_fail > 0; },
                         std::chrono::seconds(5)));
    ASSERT_TRUE(fleet->counts(true));
    run.run_for(std::chrono::milliseconds(600));
    const std::uint64_t fast = at_fleet(*fleet, "127.1.30.1");
    const std::uint64_t regular = at_fleet(*fleet, "127.1.30.2");
    const report::Snapshot s = run.snapshot();
    run.stop();
    EXPECT_EQ(static_cast<Health>(s.states[0].health), Health::Healthy)
        << "still below its threshold of 20";
    EXPECT_GE(fast, 5u) << "the fast cadence is 12 starts in the window";
    EXPECT_LE(fast, 14u);
    EXPECT_LE(regular, 1u) << "the regular cadence is at most one start in the window";
}

TEST(EngineCadence, DetectionTakesTheFirstFailurePlusTheFastCadenceNotTheInterval) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    constexpr unsigned interval_ms = 2000;
    constexpr unsigned fast_ms = 100;
    constexpr unsigned timeout_ms = 100;
    constexpr unsigned threshold = 3;
    Plan plan;
    testing::add_target(plan, TargetSpec{.address = "127.1.30.3",
                                         .port = fleet->port(),
                                         .protocol = Protocol::Http,
                                         .interval_ms = interval_ms,
                                         .timeout_ms = timeout_ms,
                                         .unhealthy = threshold});
    plan.targets[0].fast_interval_ms = fast_ms;
    testing::EngineHarness run(plan, engine_options("cadence-detect"));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait(health_is(0, Health::Healthy), std::chrono::seconds(5)));
    ASSERT_TRUE(fleet->reload(R"({"default": {"kind": "http", "status": 503}})"));
    const auto down = Clock::now();
    ASSERT_TRUE(run.wait(health_is(0, Health::Unhealthy), std::chrono::seconds(10)));
    const auto detect_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - down).count();
    run.stop();
    // The first failure comes within one interval; then (threshold - 1) fast starts and a
    // timeout. Without the fast cadence the bound is interval x threshold + timeout (6.1 s);
    // the second of margin is for a sanitizer on a shared machine.
    EXPECT_LE(detect_ms, interval_ms + (threshold - 1) * fast_ms + timeout_ms + 1000)
        << "detection took too long";
}

TEST(EngineCadence, AnUnhealthyBackendIsProbedAtTheUnhealthyCadenceAndRecoversToTheInterval) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 503}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    constexpr unsigned interval_ms = 50;
    constexpr unsigned unhealthy_ms = 1000;
    Plan plan;
    for (const char* a : {"127.1.31.1", "127.1.31.2"}) {
        testing::add_target(plan, TargetSpec{.address = a,
                                             .port = fleet->port(),
                                             .protocol = Protocol::Http,
                                             .interval_ms = interval_ms,
                                             .timeout_ms = 40});
    }
    plan.targets[0].unhealthy_interval_ms = unhealthy_ms;
    testing::EngineHarness run(plan, engine_options("cadence-down"));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return static_cast<Health>(s.states[0].health) == Health::Unhealthy &&
                   static_cast<Health>(s.states[1].health) == Health::Unhealthy;
        },
        std::chrono::seconds(5)));
    ASSERT_TRUE(fleet->counts(true));
    run.run_for(std::chrono::milliseconds(1500));
    const std::uint64_t slow = at_fleet(*fleet, "127.1.31.1");
    const std::uint64_t regular = at_fleet(*fleet, "127.1.31.2");
    EXPECT_LE(slow, 3u) << "the unhealthy cadence is one or two starts in the window";
    EXPECT_GE(regular, 10u) << "the regular cadence is 30 starts in the window";
    // Recovery: the next unhealthy-cadence probe succeeds and the target is back on its
    // interval.
    ASSERT_TRUE(fleet->reload(R"({"default": {"kind": "http", "status": 200}})"));
    ASSERT_TRUE(run.wait(health_is(0, Health::Healthy), std::chrono::seconds(5)));
    ASSERT_TRUE(fleet->counts(true));
    run.run_for(std::chrono::milliseconds(1000));
    const std::uint64_t back = at_fleet(*fleet, "127.1.31.1");
    run.stop();
    EXPECT_GE(back, 6u) << "back on the 50 ms interval: 20 starts in the window";
}

}  // namespace
}  // namespace ringprobe
