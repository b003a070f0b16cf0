// Pins src/engine/health.cpp: the verdict rules as a table. Each row feeds a sequence of probe
// results to a fresh HealthState and states the health after every step: the first completed
// probe decides at once, the thresholds apply from then on. A second group checks that
// prober-side results never move a counter or the health (nor decide the first verdict), and
// that counters saturate.
#include <gtest/gtest.h>

#include <vector>

#include "engine/health.hpp"

namespace ringprobe::engine {
namespace {

constexpr Reason ok = Reason::Ok;
constexpr Reason bad = Reason::ConnectRefused;
constexpr Reason local = Reason::ProberNoFds;
constexpr Health U = Health::Unknown;
constexpr Health H = Health::Healthy;
constexpr Health D = Health::Unhealthy;

struct Case {
    const char* name;
    Thresholds t;
    std::vector<Reason> results;
    std::vector<Health> expected;  // health after each result
};

TEST(Health, TransitionsFollowTheThresholdTable) {
    const std::vector<Case> cases = {
        {"first success is healthy with rise 1", {1, 3}, {ok}, {H}},
        {"first failure is unhealthy at once", {1, 3}, {bad, bad, bad}, {D, D, D}},
        {"first success decides although rise is 2", {2, 3}, {ok, ok}, {H, H}},
        {"first failure decides although fall is 3", {1, 3}, {bad, ok, bad}, {D, H, H}},
        {"healthy needs fall failures in a row", {1, 3}, {ok, bad, bad, bad}, {H, H, H, D}},
        {"a success resets the failure run",
         {1, 3},
         {ok, bad, bad, ok, bad, bad},
         {H, H, H, H, H, H}},
        {"rise 2 after unhealthy", {2, 1}, {bad, ok, ok}, {D, D, H}},
        {"rise 2 after a first success then a failure", {2, 1}, {ok, bad, ok, ok}, {H, D, D, H}},
        {"a failure resets the success run", {2, 1}, {bad, ok, bad, ok, ok}, {D, D, D, D, H}},
        {"fall 1 flips at once", {1, 1}, {ok, bad, ok}, {H, D, H}},
        {"alternating results with thresholds 2 keep the first verdict",
         {2, 2},
         {ok, bad, ok, bad, ok, bad},
         {H, H, H, H, H, H}},
        {"alternating results starting with a failure keep it",
         {2, 2},
         {bad, ok, bad, ok, bad, ok},
         {D, D, D, D, D, D}},
        {"prober-side errors do not decide the first verdict",
         {1, 3},
         {local, local, bad},
         {U, U, D}},
        {"prober-side errors change nothing after it",
         {1, 3},
         {ok, bad, local, bad, local, bad},
         {H, H, H, H, H, D}},
        {"prober-side errors do not break a success run",
         {2, 1},
         {bad, ok, local, ok},
         {D, D, D, H}},
        {"no address makes unknown and the next probe decides at once",
         {1, 3},
         {ok, Reason::DnsNoAddress, bad},
         {H, U, D}},
        {"no address from the start stays unknown", {1, 3}, {Reason::AddressUnknown}, {U}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ASSERT_EQ(c.results.size(), c.expected.size());
        HealthState s;
        for (std::size_t i = 0; i < c.results.size(); ++i) {
            apply_result(s, c.results[i], c.t);
            EXPECT_EQ(s.health, c.expected[i]) << "after result " << i;
        }
    }
}

TEST(Health, ApplyReportsAChangeOnlyWhenHealthMoves) {
    HealthState s;
    EXPECT_FALSE(apply_result(s, local, {1, 2}));
    EXPECT_TRUE(apply_result(s, bad, {1, 2}));
    EXPECT_FALSE(apply_result(s, bad, {1, 2}));
    EXPECT_TRUE(apply_result(s, ok, {1, 2}));
    EXPECT_FALSE(apply_result(s, bad, {1, 2}));
    EXPECT_TRUE(apply_result(s, bad, {1, 2}));
}

TEST(Health, ProberSideErrorLeavesCountersAndFirstVerdictAlone) {
    const Reason prober[] = {Reason::ProberNoFds, Reason::ProberNoBuffers, Reason::ProberNoPorts,
                             Reason::ProberError};
    HealthState s;
    for (Reason r : prober) {
        EXPECT_FALSE(apply_result(s, r, {3, 3}));
    }
    EXPECT_EQ(s.health, Health::Unknown);
    EXPECT_EQ(s.consecutive_ok, 0);
    EXPECT_EQ(s.consecutive_fail, 0);
    apply_result(s, bad, {3, 3});
    apply_result(s, ok, {3, 3});
    apply_result(s, ok, {3, 3});
    for (Reason r : prober) {
        EXPECT_FALSE(apply_result(s, r, {3, 3}));
    }
    EXPECT_EQ(s.consecutive_ok, 2);
    EXPECT_EQ(s.consecutive_fail, 0);
    EXPECT_EQ(s.health, Health::Unhealthy);
}

TEST(Health, DnsNoAddressMakesUnknownAtOnce) {
    HealthState s;
    apply_result(s, ok, {1, 3});
    ASSERT_EQ(s.health, Health::Healthy);
    EXPECT_TRUE(apply_result(s, Reason::DnsNoAddress, {1, 3}));
    EXPECT_EQ(s.health, Health::Unknown);
}

TEST(Health, AnUnknownNicAddressMakesUnknownAtOnce) {
    HealthState s;
    apply_result(s, ok, {1, 3});
    ASSERT_EQ(s.health, Health::Healthy);
    EXPECT_TRUE(apply_result(s, Reason::AddressUnknown, {1, 3}));
    EXPECT_EQ(s.health, Health::Unknown);
}

TEST(Health, CountersSaturateInsteadOfWrapping) {
    HealthState s;
    for (int i = 0; i < 1000; ++i) {
        apply_result(s, bad, {1, 3});
    }
    EXPECT_EQ(s.consecutive_fail, 255);
    EXPECT_EQ(s.health, Health::Unhealthy);
}

TEST(Health, EveryBackendReasonCountsAsFailure) {
    for (const ReasonInfo& info : reason_table) {
        if (info.reason == Reason::Pending || info.reason == Reason::Ok ||
            info.reason == Reason::DnsNoAddress || info.reason == Reason::EngineUnreachable ||
            info.reason == Reason::AddressUnknown || info.layer == Layer::Prober) {
            continue;
        }
        HealthState s;
        apply_result(s, info.reason, {1, 1});
        EXPECT_EQ(s.health, Health::Unhealthy) << info.code;
    }
}

}  // namespace
}  // namespace ringprobe::engine
