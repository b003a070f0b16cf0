// Connection reuse (connectionReuse) against the real ringprobe-fleet on loopback, counted at
// the fleet (connections per backend from /counts, requests from /requests) and in the engine's
// counters. It proves:
//  - a keep-alive backend serves ten probes or more over one connection;
//  - a backend that does not keep connections (Connection: close, every time or every other
//    time) gets a fresh connection after each close, and every probe is still Ok;
//  - the stale keep-alive race (the backend closes the kept connection without a word) is
//    retried on a fresh connection inside the deadline and never counted against the backend;
//  - bytes beyond the response (trailing bytes past Content-Length, a pipelined response) end
//    the connection's reuse and no verdict is taken from them;
//  - a backend silent on a kept connection is a response timeout within the deadline, and the
//    next probe opens a fresh connection;
//  - after the engine stops, the fleet holds no connection of it (none leaked).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "engine/engine.hpp"
#include "report/reader.hpp"
#include "support/engine_harness.hpp"
#include "support/fleet_process.hpp"
#include "support/plan_builder.hpp"

namespace ringprobe {
namespace {

using testing::TargetSpec;

constexpr const char* kAddress = "127.1.40.1";

// One reuse target on `fleet`, probed every interval_ms.
Plan reuse_plan(const test::FleetProcess& fleet, std::uint32_t interval_ms = 40,
                std::uint32_t timeout_ms = 400) {
    Plan plan;
    testing::add_target(plan, TargetSpec{.address = kAddress,
                                         .port = fleet.port(),
                                         .protocol = Protocol::Http,
                                         .interval_ms = interval_ms,
                                         .timeout_ms = timeout_ms,
                                         .unhealthy = 1,
                                         .reuse = true});
    return plan;
}

bool probed_at_least(const report::Snapshot& s, std::uint64_t n) {
    return s.states[0].total_probes >= n;
}

// The results in the target's history that came from a kept connection, and all of them.
std::pair<std::size_t, std::size_t> reused_in_history(const report::Snapshot& s) {
    std::size_t reused = 0;
    std::size_t all = 0;
    for (const report_abi::HistoryEntry& e : s.history_of(0)) {
        reused += (e.flags & report_abi::kHistoryReused) != 0 ? 1 : 0;
        all += 1;
    }
    return {reused, all};
}

// The fleet's open connections, its control connection aside, come down to none (bounded).
bool fleet_lets_go(const test::FleetProcess& fleet) {
    for (int i = 0; i < 200; ++i) {
        auto st = fleet.stats();
        if (st && st->at("active") <= 1) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

TEST(EngineReuse, TenProbesGoOverOneConnection) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "keep_alive": true}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan = reuse_plan(*fleet);
    testing::EngineHarness run(plan, testing::engine_options("reuse-ten", 1));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait([](const report::Snapshot& s) { return probed_at_least(s, 10); },
                         std::chrono::seconds(10)));
    report::SnapshotOptions with_history;
    with_history.history = true;
    const report::Snapshot s = run.snapshot(with_history);
    EXPECT_EQ(fleet->count(kAddress, fleet->port()), 1u);
    EXPECT_GE(fleet->requests(kAddress, fleet->port()), 10u);
    EXPECT_EQ(s.states[0].total_fail, 0u);
    EXPECT_EQ(static_cast<Health>(s.states[0].health), Health::Healthy);
    const auto totals = run.totals();
    EXPECT_EQ(totals.connections_new, 1u);
    EXPECT_GE(totals.connections_reused, 9u);
    EXPECT_EQ(totals.stale_retries, 0u);
    // Each result says so in the report: all but the first came over the kept connection (the
    // history holds the last 32).
    const auto [reused, all] = reused_in_history(s);
    EXPECT_GE(all, 10u);
    EXPECT_EQ(reused, s.states[0].total_probes > all ? all : all - 1);
    run.stop();
    EXPECT_TRUE(fleet_lets_go(*fleet));
}

// The gateway's behaviour, and a backend that never keeps a connection, are unchanged: one
// connection per probe.
TEST(EngineReuse, ABackendThatClosesGetsAFreshConnectionEachProbe) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http"}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan = reuse_plan(*fleet);
    testing::EngineHarness run(plan, testing::engine_options("reuse-close", 1));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait([](const report::Snapshot& s) { return probed_at_least(s, 6); },
                         std::chrono::seconds(10)));
    run.stop();
    report::SnapshotOptions with_history;
    with_history.history = true;
    const report::Snapshot s = run.snapshot(with_history);
    EXPECT_EQ(fleet->count(kAddress, fleet->port()), fleet->requests(kAddress, fleet->port()));
    EXPECT_EQ(s.states[0].total_fail, 0u);
    EXPECT_EQ(run.totals().connections_reused, 0u);
    EXPECT_EQ(reused_in_history(s).first, 0u);
    EXPECT_TRUE(fleet_lets_go(*fleet));
}

TEST(EngineReuse, ConnectionCloseEveryOtherResponseOpensAFreshOne) {
    auto fleet = test::FleetProcess::start(
        R"({"default": {"kind": "http", "keep_alive": true, "close_every": 2}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan = reuse_plan(*fleet);
    testing::EngineHarness run(plan, testing::engine_options("reuse-every-other", 1));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait([](const report::Snapshot& s) { return probed_at_least(s, 8); },
                         std::chrono::seconds(10)));
    run.stop();
    const report::Snapshot s = run.snapshot();
    const std::uint64_t conns = fleet->count(kAddress, fleet->port());
    const std::uint64_t requests = fleet->requests(kAddress, fleet->port());
    // Two requests a connection: the second answer says close.
    EXPECT_GE(conns * 2, requests);
    EXPECT_LE(conns, requests / 2 + 1);
    EXPECT_EQ(s.states[0].total_fail, 0u);
    EXPECT_EQ(run.totals().stale_retries, 0u);
    EXPECT_TRUE(fleet_lets_go(*fleet));
}

// The backend closes every kept connection right after its answer, without saying so: each
// next probe finds the end on its kept connection and goes again on a fresh one.
TEST(EngineReuse, StaleKeepAliveRaceIsRetriedAndNeverBlamed) {
    auto fleet = test::FleetProcess::start(
        R"({"default": {"kind": "http", "keep_alive": true, "close_percent": 100}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan = reuse_plan(*fleet);
    testing::EngineHarness run(plan, testing::engine_options("reuse-stale", 1));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait([](const report::Snapshot& s) { return probed_at_least(s, 8); },
                         std::chrono::seconds(10)));
    run.stop();
    const report::Snapshot s = run.snapshot();
    EXPECT_EQ(s.states[0].total_fail, 0u);
    EXPECT_EQ(s.states[0].total_prober_errors, 0u);
    EXPECT_EQ(static_cast<Health>(s.states[0].health), Health::Healthy);
    const auto totals = run.totals();
    EXPECT_GE(totals.stale_retries, 5u);
    EXPECT_EQ(totals.connections_reused, 0u);  // every probe ended on a fresh connection
    EXPECT_EQ(fleet->count(kAddress, fleet->port()), fleet->requests(kAddress, fleet->port()));
    EXPECT_TRUE(fleet_lets_go(*fleet));
}

// Bytes after a response: no result is taken from them, and the connection is not reused.
void expect_never_reused_and_ok(const char* behaviour, const char* name) {
    auto fleet = test::FleetProcess::start(behaviour);
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan = reuse_plan(*fleet);
    testing::EngineHarness run(plan, testing::engine_options(name, 1));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait([](const report::Snapshot& s) { return probed_at_least(s, 6); },
                         std::chrono::seconds(10)));
    run.stop();
    const report::Snapshot s = run.snapshot();
    EXPECT_EQ(s.states[0].total_fail, 0u);
    EXPECT_EQ(static_cast<Reason>(s.states[0].reason), Reason::Ok);
    EXPECT_EQ(run.totals().connections_reused, 0u);
    EXPECT_EQ(fleet->count(kAddress, fleet->port()), fleet->requests(kAddress, fleet->port()));
    EXPECT_TRUE(fleet_lets_go(*fleet));
}

TEST(EngineReuse, TrailingBytesBeyondContentLengthEndReuse) {
    expect_never_reused_and_ok(
        R"({"default": {"kind": "http", "keep_alive": true, "after_body": "XYZ"}})",
        "reuse-trailing");
}

TEST(EngineReuse, PipelinedGarbageAfterAGoodResponseIsNeverTakenAsAnAnswer) {
    expect_never_reused_and_ok(
        R"({"default": {"kind": "http", "keep_alive": true,
            "after_body": "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"}})",
        "reuse-pipelined");
}

// Answers the first request of a connection, then reads and never answers: every probe on a
// kept connection times out (the backend's failure, within the deadline), and the probe after
// it opens a fresh connection and is answered.
TEST(EngineReuse, SilentOnAKeptConnectionTimesOutThenGoesFresh) {
    auto fleet = test::FleetProcess::start(
        R"({"default": {"kind": "http", "keep_alive": true, "silent_after": 1}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan = reuse_plan(*fleet, 100, 60);
    testing::EngineHarness run(plan, testing::engine_options("reuse-silent", 1));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait([](const report::Snapshot& s) { return probed_at_least(s, 6); },
                         std::chrono::seconds(10)));
    run.stop();
    const report::Snapshot s = run.snapshot();
    EXPECT_GE(s.states[0].total_ok, 2u);
    EXPECT_GE(s.states[0].total_fail, 2u);
    EXPECT_GE(run.totals().by_reason[static_cast<std::size_t>(Reason::ResponseTimeout)], 2u);
    EXPECT_GE(fleet->count(kAddress, fleet->port()), 3u);
    EXPECT_TRUE(fleet_lets_go(*fleet));
}

}  // namespace
}  // namespace ringprobe
