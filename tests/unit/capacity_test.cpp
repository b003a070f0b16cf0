// Pins src/engine/capacity.cpp: what a plan needs against what the engine has. Plans are built by
// hand (tests/support/plan_builder.hpp) and shard by a given table, so every figure is worked out
// by hand in the test: the issue's scenario (2,000 targets every 2 s taking 300 ms under a
// 128-descriptor limit) is short of sockets, the same plan with enough descriptors is not, a
// rate beyond one worker asks for more workers, and the log line names the numbers and the fix.
#include <gtest/gtest.h>

#include <vector>

#include "engine/capacity.hpp"
#include "support/plan_builder.hpp"

namespace ringprobe::engine {
namespace {

Plan plan_of(std::size_t n, std::uint32_t interval_ms, std::uint32_t timeout_ms) {
    Plan plan;
    for (std::size_t i = 0; i < n; ++i) {
        testing::add_target(plan, testing::TargetSpec{.port = static_cast<std::uint16_t>(1 + i),
                                                      .interval_ms = interval_ms,
                                                      .timeout_ms = timeout_ms});
    }
    return plan;
}

// Target i on worker i % workers.
std::vector<std::uint32_t> round_robin(std::size_t n, unsigned workers) {
    std::vector<std::uint32_t> w(n);
    for (std::size_t i = 0; i < n; ++i) {
        w[i] = static_cast<std::uint32_t>(i % workers);
    }
    return w;
}

TEST(Capacity, TheIssueScenarioIsShortOfSockets) {
    const Plan plan = plan_of(2000, 2000, 1000);
    const auto shards = round_robin(2000, 2);
    CapacityInputs in;
    in.workers = 2;
    in.worker_of_target = shards;
    in.sockets_per_worker = 32;  // 128 descriptors: Engine::socket_budget leaves 64
    in.nofile_limit = 128;
    in.descriptor_reserve = 144;
    in.probe_ms = 300;
    const CapacityCheck c = check_capacity(plan, in);
    EXPECT_TRUE(c.short_sockets);
    EXPECT_FALSE(c.short_rate);
    EXPECT_EQ(c.targets, 1000u);
    EXPECT_EQ(c.in_flight_needed, 150u);  // 1,000 x 300 ms / 2,000 ms
    EXPECT_EQ(c.probes_per_s, 500u);
    EXPECT_EQ(c.nofile_needed, 150u * 2 + 144);
    EXPECT_EQ(c.slowdown_permille, 4688u);  // 150 / 32
    EXPECT_EQ(c.workers_needed, 0u);
}

TEST(Capacity, WithoutAMeasurementEachProbeTakesItsTimeout) {
    const Plan plan = plan_of(100, 1000, 500);
    const auto shards = round_robin(100, 1);
    CapacityInputs in;
    in.worker_of_target = shards;
    in.sockets_per_worker = 40;
    const CapacityCheck worst = check_capacity(plan, in);
    EXPECT_EQ(worst.in_flight_needed, 50u);
    EXPECT_TRUE(worst.short_sockets);
    in.probe_ms = 100;
    const CapacityCheck measured = check_capacity(plan, in);
    EXPECT_EQ(measured.in_flight_needed, 10u);
    EXPECT_FALSE(measured.short_of_capacity());
    EXPECT_EQ(measured.slowdown_permille, 1000u);
    in.probe_ms = 5000;  // bounded by the timeout: a probe never outlives it
    EXPECT_EQ(check_capacity(plan, in).in_flight_needed, 50u);
}

TEST(Capacity, EnoughDescriptorsKeepTheSchedule) {
    const Plan plan = plan_of(2000, 2000, 1000);
    const auto shards = round_robin(2000, 2);
    CapacityInputs in;
    in.workers = 2;
    in.worker_of_target = shards;
    in.sockets_per_worker = 500;
    in.nofile_limit = 1144;
    const CapacityCheck c = check_capacity(plan, in);
    EXPECT_FALSE(c.short_of_capacity());
    EXPECT_EQ(c.nofile_needed, 0u);
    EXPECT_TRUE(capacity_message(c).empty());
}

TEST(Capacity, TheBusiestWorkerIsTheOneFurthestBehind) {
    const Plan plan = plan_of(30, 1000, 1000);
    std::vector<std::uint32_t> shards(30, 0);
    for (std::size_t i = 0; i < 20; ++i) {
        shards[i] = 2;
    }
    CapacityInputs in;
    in.workers = 3;
    in.worker_of_target = shards;
    in.sockets_per_worker = 5;
    in.descriptor_reserve = 10;
    const CapacityCheck c = check_capacity(plan, in);
    EXPECT_EQ(c.busiest_worker, 2u);
    EXPECT_EQ(c.targets, 20u);
    EXPECT_EQ(c.in_flight_needed, 20u);
    EXPECT_EQ(c.nofile_needed, 20u * 3 + 10);  // the budget is split evenly
    EXPECT_EQ(c.slowdown_permille, 4000u);
}

TEST(Capacity, ARateBeyondOneWorkerAsksForWorkers) {
    const Plan plan = plan_of(3000, 100, 10);  // 30,000 probes/s, 300 in flight
    const auto shards = round_robin(3000, 1);
    CapacityInputs in;
    in.worker_of_target = shards;
    in.sockets_per_worker = 10'000;
    const CapacityCheck c = check_capacity(plan, in);
    EXPECT_FALSE(c.short_sockets);
    EXPECT_TRUE(c.short_rate);
    EXPECT_EQ(c.probes_per_s, 30'000u);
    EXPECT_EQ(c.workers_needed, 2u);
    EXPECT_EQ(c.slowdown_permille, 1500u);
    const std::string m = capacity_message(c);
    EXPECT_NE(m.find("run at least 2 workers (--workers)"), std::string::npos) << m;
    EXPECT_EQ(m.find("LimitNOFILE"), std::string::npos) << m;
}

TEST(Capacity, UnprobedMembersNeedNothing) {
    Plan plan = plan_of(10, 1000, 1000);
    for (Target& t : plan.targets) {
        t.address_known = false;
    }
    const auto shards = round_robin(10, 1);
    CapacityInputs in;
    in.worker_of_target = shards;
    in.sockets_per_worker = 1;
    EXPECT_FALSE(check_capacity(plan, in).short_of_capacity());
}

TEST(Capacity, TheLogLineGivesTheNumbersAndTheFix) {
    const Plan plan = plan_of(2000, 2000, 1000);
    const auto shards = round_robin(2000, 2);
    CapacityInputs in;
    in.workers = 2;
    in.worker_of_target = shards;
    in.sockets_per_worker = 32;
    in.nofile_limit = 128;
    in.descriptor_reserve = 144;
    in.probe_ms = 300;
    const std::string m = capacity_message(check_capacity(plan, in));
    EXPECT_EQ(m,
              "capacity short: the busiest of 2 workers has 1000 targets, which need 150 probes in "
              "flight "
              "(each taking 300 ms) and 500 starts/s; it has 32 sockets and sustains about 20000 "
              "probes/s, so its targets are probed about 4.7x less often than their interval. To "
              "keep the schedule: raise LimitNOFILE (ulimit -n) from 128 to at least 444, or "
              "lengthen the intervals 4.7x.");
}

}  // namespace
}  // namespace ringprobe::engine
