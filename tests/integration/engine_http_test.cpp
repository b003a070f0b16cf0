// Drives the real engine in-process against the real ringprobe-fleet on loopback and reads the
// verdicts back through the report reader. It proves, for HTTP probes:
//  - 1,000 targets spread over every fleet behaviour each reach the expected health and reason;
//  - exactly one probe per target per interval: between two snapshots, one probe per interval
//    its last probe moved on, and every connection the fleet saw is one of the report's probes;
//  - a backend taken down is Unhealthy no later than interval x threshold + timeout + 1 s,
//    and Healthy again within one interval (+ the same 1 s) of its recovery;
//  - when the socket budget is smaller than the fleet, probes wait in line instead of failing:
//    never more in flight than the budget, no prober error, every target still probed;
//  - when answers land faster than the worker has receive buffers for them, the receives are
//    asked again: every target Healthy, no failed probe, the shortage counted as ours;
//  - a turn starts at most its share of the due probes; the rest go at the next turns, none
//    skipped or blamed;
//  - a body mismatch on a body longer than the 64 KiB searched is flagged kStateBodyCut;
//  - a probe longer than its interval skips the starts it overran (counted, never blamed);
//  - a probe whose operations outlive its verdict is ended by its guard timer;
//  - phase timings are finer than the engine's quantum: at a 10 ms quantum a backend that
//    answers at once shows a first byte under half of it at least once in a few probes
//    (stamped at reap time, each showed the quantum less the start's lateness), one that waits
//    3 ms before answering a first byte of at least 3 ms, and connect never comes after the
//    first byte; with receive stamps off (--no-receive-stamps) they are stamped at reap time.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "report/reader.hpp"
#include "support/engine_harness.hpp"
#include "support/fleet_process.hpp"
#include "support/plan_builder.hpp"

namespace ringprobe {
namespace {

using testing::TargetSpec;
using Clock = std::chrono::steady_clock;
using testing::engine_options;

std::string addr(unsigned third, unsigned fourth) {
    return "127.1." + std::to_string(third) + "." + std::to_string(fourth);
}

struct Expect {
    Health health;
    Reason reason;
};

// Behaviours by range; the test's expectations follow the same table.
constexpr const char* kMixedFleet = R"({
  "default": {"kind": "http", "status": 200, "body": "all good: ringprobe-marker"},
  "rules": [
    {"cidr": "127.1.1.0/26",   "kind": "reset"},
    {"cidr": "127.1.1.64/26",  "kind": "http", "status": 503, "body": "ringprobe-marker"},
    {"cidr": "127.1.1.128/26", "kind": "http", "status": 200, "body": "something else"},
    {"cidr": "127.1.1.192/26", "kind": "hang"},
    {"cidr": "127.1.2.0/26",   "kind": "garbage"},
    {"cidr": "127.1.2.64/26",  "kind": "close"},
    {"cidr": "127.1.2.128/26", "kind": "oversized"},
    {"cidr": "127.1.2.192/26", "kind": "http", "status": 200, "chunked": true, "body": "chunked ringprobe-marker body"},
    {"cidr": "127.1.3.0/29",   "kind": "drop_syn"}
  ]
})";

Expect expected_for(unsigned third, unsigned fourth) {
    if (third == 1) {
        if (fourth < 64)
            return {Health::Unhealthy, Reason::ConnectionReset};
        if (fourth < 128)
            return {Health::Unhealthy, Reason::StatusMismatch};
        if (fourth < 192)
            return {Health::Unhealthy, Reason::BodyMismatch};
        return {Health::Unhealthy, Reason::ResponseTimeout};
    }
    if (third == 2) {
        if (fourth < 64)
            return {Health::Unhealthy, Reason::MalformedResponse};
        if (fourth < 128)
            return {Health::Unhealthy, Reason::ClosedEarly};
        if (fourth < 192)
            return {Health::Unhealthy, Reason::ResponseTooLarge};
        return {Health::Healthy, Reason::Ok};
    }
    if (third == 3 && fourth < 8)
        return {Health::Unhealthy, Reason::ConnectTimeout};
    return {Health::Healthy, Reason::Ok};
}

TEST(EngineHttp, AThousandTargetsReachTheirExpectedHealthAndReason) {
    auto fleet = test::FleetProcess::start(kMixedFleet);
    ASSERT_TRUE(fleet) << fleet.error().message;
    // A port nothing listens on (bound, never listening): connects are refused.
    const int closed = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(closed, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(closed, reinterpret_cast<sockaddr*>(&a), &len);
    const std::uint16_t closed_port = ntohs(a.sin_port);

    Plan plan;
    std::vector<Expect> want;
    for (unsigned i = 0; i < 990; ++i) {
        const unsigned third = i / 256;
        const unsigned fourth = i % 256;
        TargetSpec spec{.address = addr(third, fourth),
                        .port = fleet->port(),
                        .protocol = Protocol::Http,
                        .interval_ms = 600,
                        .timeout_ms = 500,
                        .unhealthy = 2,
                        .match_body = "ringprobe-marker"};
        if (expected_for(third, fourth).reason == Reason::ResponseTooLarge) {
            // Reading past the size limit takes many receives; under TSan on a busy machine
            // 250 ms was once not enough and the verdict was response_timeout instead.
            spec.interval_ms = 1000;
            spec.timeout_ms = 900;
        }
        testing::add_target(plan, spec);
        want.push_back(expected_for(third, fourth));
    }
    for (unsigned i = 0; i < 10; ++i) {
        testing::add_target(plan, TargetSpec{.address = "127.0.0.1",
                                             .port = closed_port,
                                             .protocol = Protocol::Http,
                                             .interval_ms = 300,
                                             .timeout_ms = 250,
                                             .unhealthy = 2,
                                             .path = "/" + std::to_string(i)});
        want.push_back({Health::Unhealthy, Reason::ConnectRefused});
    }
    testing::EngineHarness run(plan, engine_options("http-mixed"));
    ASSERT_TRUE(run.start());
    auto all_decided = [&](const report::Snapshot& s) {
        for (std::size_t t = 0; t < want.size(); ++t) {
            if (static_cast<Health>(s.states[t].health) != want[t].health ||
                static_cast<Reason>(s.states[t].reason) != want[t].reason) {
                return false;
            }
        }
        return true;
    };
    const bool ok = run.wait(all_decided, std::chrono::seconds(10));
    const report::Snapshot s = run.snapshot();
    std::size_t wrong = 0;
    for (std::size_t t = 0; t < want.size() && wrong < 10; ++t) {
        const auto h = static_cast<Health>(s.states[t].health);
        const auto r = static_cast<Reason>(s.states[t].reason);
        if (h != want[t].health || r != want[t].reason) {
            ++wrong;
            ADD_FAILURE() << plan.targets[t].address << ":" << plan.targets[t].port << " is "
                          << health_name(h) << "/" << reason_info(r).code << ", expected "
                          << health_name(want[t].health) << "/" << reason_info(want[t].reason).code;
        }
    }
    EXPECT_TRUE(ok);
    EXPECT_EQ(run.totals().prober_errors, 0u);
    run.stop();
    ::close(closed);
}

// match.body is searched in the first 64 KiB: a mismatch on a longer body carries
// kStateBodyCut (the report then says "the first 64 KiB"), one on a short body does not.
TEST(EngineHttp, BodyMismatchOnABodyLongerThanTheWindowIsFlaggedCut) {
    auto fleet = test::FleetProcess::start(R"({
      "default": {"kind": "http", "status": 200, "body": "short"},
      "rules": [{"cidr": "127.1.9.0/30", "kind": "http", "status": 200, "body_size": 200000}]
    })");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    for (const char* address : {"127.1.9.1", "127.1.9.9"}) {
        testing::add_target(plan, TargetSpec{.address = address,
                                             .port = fleet->port(),
                                             .protocol = Protocol::Http,
                                             .interval_ms = 300,
                                             .timeout_ms = 250,
                                             .unhealthy = 1,
                                             .match_body = "ringprobe-marker"});
    }
    testing::EngineHarness run(plan, engine_options("http-body-cut"));
    ASSERT_TRUE(run.start());
    auto both_mismatch = [](const report::Snapshot& s) {
        return static_cast<Reason>(s.states[0].reason) == Reason::BodyMismatch &&
               static_cast<Reason>(s.states[1].reason) == Reason::BodyMismatch;
    };
    EXPECT_TRUE(run.wait(both_mismatch, std::chrono::seconds(5)));
    const report::Snapshot s = run.snapshot();
    run.stop();
    EXPECT_NE(s.states[0].flags & report_abi::kStateBodyCut, 0) << "200,000-byte body";
    EXPECT_EQ(s.states[1].flags & report_abi::kStateBodyCut, 0) << "5-byte body";
}

// Orderings and a minimum over several probes, not a tight bound on one: the fleet and the
// engine share two busy cores (and run 2-3x slower under ASan), so one probe may be late, but
// a first byte stamped when the worker reaps it (at the next quantum boundary) is the quantum
// less how late the probe started, while the kernel's receive stamp of a prompt answer is a
// fraction of a millisecond on loopback.
// What a run of a prompt backend and one that waits 3 ms shows, at a 10 ms quantum: the prompt
// one's first byte of each probe seen, the probes seen, and the rows out of order.
struct TimingRun {
    std::vector<std::uint32_t> prompt_first_bytes;
    std::uint64_t seen_probes = 0;
    std::string out_of_order;
    std::uint32_t best() const {
        return *std::min_element(prompt_first_bytes.begin(), prompt_first_bytes.end());
    }
    std::uint32_t median() const {
        std::vector<std::uint32_t> v = prompt_first_bytes;
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
        return v[v.size() / 2];
    }
};

TimingRun run_timings(const char* what, bool receive_stamps) {
    TimingRun out;
    auto fleet = test::FleetProcess::start(R"({
      "default": {"kind": "http", "status": 200, "body": "ok"},
      "rules": [{"cidr": "127.1.10.1/32", "kind": "http", "status": 200, "delay_ms": 3}]
    })");
    EXPECT_TRUE(fleet) << fleet.error().message;
    if (!fleet) {
        return out;
    }
    Plan plan;
    plan.quantum_ms = 10;  // a coarse quantum: a first byte stamped at reap time is 10 ms
    for (const char* address : {"127.1.10.1", "127.1.10.2"}) {
        testing::add_target(plan, TargetSpec{.address = address,
                                             .port = fleet->port(),
                                             .protocol = Protocol::Http,
                                             .interval_ms = 50,
                                             .timeout_ms = 1000});
    }
    engine::EngineOptions options = engine_options(what);
    options.receive_stamps = receive_stamps;
    testing::EngineHarness run(plan, options);
    EXPECT_TRUE(run.start());
    const auto until = Clock::now() + std::chrono::seconds(3);
    while (Clock::now() < until && out.seen_probes < 40) {
        const report::Snapshot s = run.snapshot();
        for (std::size_t i = 0; i < 2; ++i) {
            const report_abi::TargetStatePayload& st = s.states[i];
            if (static_cast<Reason>(st.reason) != Reason::Ok) {
                continue;
            }
            const bool ordered = st.connect_us > 0 && st.connect_us <= st.first_byte_us &&
                                 st.first_byte_us <= st.latency_us;
            if (!ordered) {
                out.out_of_order += "target " + std::to_string(i) + ": connect " +
                                    std::to_string(st.connect_us) + " first byte " +
                                    std::to_string(st.first_byte_us) + " total " +
                                    std::to_string(st.latency_us) + "\n";
            }
            if (i == 0) {
                EXPECT_GE(st.first_byte_us, 3000u) << "the backend waits 3 ms before answering";
                EXPECT_LT(st.first_byte_us, 500'000u);
            } else if (st.total_probes != out.seen_probes) {
                out.prompt_first_bytes.push_back(st.first_byte_us);
                out.seen_probes = st.total_probes;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    run.stop();
    return out;
}

TEST(EngineHttp, PhaseTimingsAreFinerThanTheQuantumAndInOrder) {
    const TimingRun r = run_timings("http-timings", true);
    EXPECT_TRUE(r.out_of_order.empty()) << r.out_of_order;
    ASSERT_GE(r.prompt_first_bytes.size(), 5u);
    EXPECT_LT(r.best(), 5000u) << "a prompt answer's first byte, best of the run";
}

// --no-receive-stamps: every phase is stamped at reap time, the quantum's boundary, so a prompt
// answer's first byte is most of the 10 ms quantum (the quantum less the start's lateness): the
// median of the run is above half of it, where the kernel's stamps put it well under.
TEST(EngineHttp, WithoutReceiveStampsPhasesAreStampedAtReapTime) {
    const TimingRun r = run_timings("http-timings-reap", false);
    EXPECT_TRUE(r.out_of_order.empty()) << r.out_of_order;
    ASSERT_GE(r.prompt_first_bytes.size(), 5u);
    EXPECT_GE(r.median(), 5000u) << "a prompt answer's first byte, median of the run";
}

// Exact where the schedule is exact: each target's next start is its previous scheduled one
// plus the interval, so between two snapshots a target has probed once for every interval its
// next scheduled start moved on. Scheduled starts lie on the interval's multiples, so rounding
// their gap is exact however late a loaded machine starts a probe; a duplicate probe, or a
// skipped one, moves the count off by one. At the fleet, every connection of the
// run is one of the report's probes: the fleet counts each probe once, and only a probe still
// in flight at stop can be counted by the fleet and not by the report (at most one a target).
TEST(EngineHttp, ExactlyOneProbePerTargetPerInterval) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    constexpr unsigned targets = 200;
    constexpr unsigned interval_ms = 200;
    constexpr std::int64_t interval_ns = std::int64_t{interval_ms} * 1'000'000;
    for (unsigned i = 0; i < targets; ++i) {
        testing::add_target(plan, TargetSpec{.address = addr(10 + i / 250, 1 + i % 250),
                                             .port = fleet->port(),
                                             .protocol = Protocol::Http,
                                             .interval_ms = interval_ms,
                                             .timeout_ms = 150});
    }
    testing::EngineHarness run(plan, engine_options("http-rate"));
    ASSERT_TRUE(fleet->counts(true));  // the fleet counts this run's connections only
    ASSERT_TRUE(run.start());
    // Warm up for two intervals (every first probe is in), then count over ten.
    run.run_for(std::chrono::milliseconds(2 * interval_ms));
    const report::Snapshot before = run.snapshot();
    run.run_for(std::chrono::milliseconds(10 * interval_ms));
    const report::Snapshot after = run.snapshot();
    run.stop();
    const report::Snapshot last = run.snapshot();
    auto counts = fleet->counts(false);
    ASSERT_TRUE(counts);
    for (std::size_t t = 0; t < plan.targets.size(); ++t) {
        const std::string key =
            plan.targets[t].address + ":" + std::to_string(plan.targets[t].port);
        const auto& b = before.states[t];
        const auto& a = after.states[t];
        ASSERT_GT(b.total_probes, 0u) << key;
        // Scheduled starts, not actual ones: a start that a loaded machine (or a sanitizer)
        // delays by half an interval would round the actual gap the wrong way.
        const std::int64_t gap_ns =
            static_cast<std::int64_t>(a.next_probe_unix_ns - b.next_probe_unix_ns);
        const std::int64_t intervals = (gap_ns + interval_ns / 2) / interval_ns;
        EXPECT_EQ(static_cast<std::int64_t>(a.total_probes - b.total_probes), intervals)
            << key << ": next scheduled start moved " << gap_ns / 1000 << " us";
        // Ten intervals of wall clock hold nine to eleven starts, by where the window's ends
        // fall between a target's starts; fewer or more is a schedule that drifted.
        EXPECT_GE(intervals, 9) << key;
        EXPECT_LE(intervals, 11) << key;
        EXPECT_EQ(a.total_ok, a.total_probes) << key;
        const auto it = counts->find(key);
        const std::uint64_t at_fleet = it == counts->end() ? 0 : it->second;
        EXPECT_GE(at_fleet, last.states[t].total_probes) << key;
        EXPECT_LE(at_fleet, last.states[t].total_probes + 1) << key;
    }
}

TEST(EngineHttp, DownIsDetectedWithinBoundAndRecoveryWithinOneInterval) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    constexpr unsigned interval_ms = 200;
    constexpr unsigned timeout_ms = 100;
    constexpr unsigned threshold = 3;
    Plan plan;
    testing::add_target(plan, TargetSpec{.address = "127.1.20.1",
                                         .port = fleet->port(),
                                         .protocol = Protocol::Http,
                                         .interval_ms = interval_ms,
                                         .timeout_ms = timeout_ms,
                                         .unhealthy = threshold});
    testing::EngineHarness run(plan, engine_options("http-detect"));
    ASSERT_TRUE(run.start());
    auto is = [](Health h) {
        return
            [h](const report::Snapshot& s) { return static_cast<Health>(s.states[0].health) == h; };
    };
    ASSERT_TRUE(run.wait(is(Health::Healthy), std::chrono::seconds(3)));
    // Down: the fleet answers 503 from now on (reload returns once the fleet applied it).
    ASSERT_TRUE(fleet->reload(R"({"default": {"kind": "http", "status": 503}})"));
    const auto down = Clock::now();
    ASSERT_TRUE(run.wait(is(Health::Unhealthy), std::chrono::seconds(5)));
    const auto detect_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - down).count();
    // The bound is interval x threshold + timeout; the margin of a second is for this test's
    // run under ThreadSanitizer (a few times slower) on a shared machine. The tight figure is
    // bench/ringprobe-bench's (--detect; docs/benchmarks.md, "detection max ms").
    EXPECT_LE(detect_ms, interval_ms * threshold + timeout_ms + 1000) << "detection took too long";
    ASSERT_TRUE(fleet->reload(R"({"default": {"kind": "http", "status": 200}})"));
    const auto up = Clock::now();
    ASSERT_TRUE(run.wait(is(Health::Healthy), std::chrono::seconds(5)));
    const auto recover_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - up).count();
    EXPECT_LE(recover_ms, interval_ms + 1000) << "recovery took too long";
    run.stop();
}

TEST(EngineHttp, ProbesBeyondTheSocketBudgetWaitInLineInsteadOfFailing) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "hang"}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    constexpr unsigned targets = 40;
    for (unsigned i = 0; i < targets; ++i) {
        testing::add_target(plan, TargetSpec{.address = addr(30, 1 + i),
                                             .port = fleet->port(),
                                             .protocol = Protocol::Http,
                                             .interval_ms = 500,
                                             .timeout_ms = 50,
                                             .unhealthy = 1});
    }
    engine::EngineOptions o = engine_options("http-budget");
    o.max_in_flight = 4;  // 2 per worker, against 40 targets that each hold a socket 50 ms
    testing::EngineHarness run(plan, o);
    ASSERT_TRUE(run.start());
    std::uint64_t most_in_flight = 0;
    std::string last;  // what the last look saw: each target's reason and probe count
    const bool all_probed = run.wait(
        [&](const report::Snapshot& s) {
            most_in_flight = std::max(most_in_flight, run.totals().in_flight);
            last.clear();
            bool all = true;
            for (std::size_t t = 0; t < targets; ++t) {
                const auto r = static_cast<Reason>(s.states[t].reason);
                last += std::to_string(t) + ":" + std::string(reason_info(r).code) + "/" +
                        std::to_string(s.states[t].total_probes) + " ";
                all = all && r == Reason::ResponseTimeout;
            }
            return all;
        },
        std::chrono::seconds(10));
    const auto totals = run.totals();
    EXPECT_TRUE(all_probed) << "some targets never got their turn: " << last;
    EXPECT_LE(most_in_flight, 4u);
    EXPECT_GT(totals.deferred_starts, 0u);
    EXPECT_EQ(totals.prober_errors, 0u);
    run.stop();
}

TEST(EngineHttp, ReceiveBuffersAreSizedFromTheShardAndTheStartBatch) {
    using engine::Worker;
    // The floor: as many as a turn may start, so a turn's answers always find buffers.
    EXPECT_EQ(Worker::receive_buffers_for(100, 1), Worker::min_turn_starts);
    EXPECT_EQ(Worker::receive_buffers_for(1'000, 64), 256u);
    EXPECT_EQ(Worker::receive_buffers_for(1'000, 256), 512u);  // two start batches
    EXPECT_EQ(Worker::receive_buffers_for(20'000, 64), 512u);  // one per 64 slots, rounded up
    EXPECT_EQ(Worker::receive_buffers_for(50'000, 64), 1024u);
    EXPECT_EQ(Worker::receive_buffers_for(1'000'000, 1), 1024u);  // the ceiling
    EXPECT_EQ(Worker::receive_buffers_for(100, 1024), 1024u);
}

// 256 HTTP targets on one worker with 2 receive buffers, the whole shard starting at one
// instant so that its answers land together: the receive-buffer shortage on demand.
Plan answers_at_once(std::uint16_t port, std::uint32_t interval_ms, std::uint32_t timeout_ms) {
    Plan plan;
    plan.start_batch = 256;
    for (unsigned i = 0; i < 256; ++i) {
        testing::add_target(plan, TargetSpec{.address = addr(40 + i / 128, 1 + i % 128),
                                             .port = port,
                                             .protocol = Protocol::Http,
                                             .interval_ms = interval_ms,
                                             .timeout_ms = timeout_ms,
                                             .unhealthy = 1});
    }
    return plan;
}

engine::EngineOptions two_buffers(const char* what) {
    engine::EngineOptions o = engine_options(what);
    o.workers = 1;
    o.recv_buffers = 2;  // against 256 answers at once
    return o;
}

TEST(EngineHttp, RunningOutOfReceiveBuffersIsNeverBlamedOnTheBackend) {
    auto fleet =
        test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200, "body": "ok"}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const Plan plan = answers_at_once(fleet->port(), 200, 1000);
    constexpr unsigned targets = 256;
    testing::EngineHarness run(plan, two_buffers("http-buffers"));
    ASSERT_TRUE(run.start());
    const bool settled = run.wait(
        [&](const report::Snapshot& s) {
            if (run.totals().probes_completed < 3 * targets) {
                return false;
            }
            for (std::size_t t = 0; t < targets; ++t) {
                if (static_cast<Health>(s.states[t].health) != Health::Healthy) {
                    return false;
                }
            }
            return true;
        },
        std::chrono::seconds(10));
    const auto totals = run.totals();
    run.stop();
    EXPECT_TRUE(settled) << "completed " << totals.probes_completed;
    EXPECT_GT(totals.recv_no_buffer, 0u) << "the shortage this test is about never happened";
    // A receive that found no buffer waits for the turn's end and is asked again once there
    // is one: a failed ask or two a probe, not a storm (asking again at once, every waiting
    // receive failed again each turn: about 60 a probe here).
    EXPECT_LE(totals.recv_no_buffer, 4 * totals.probes_completed)
        << totals.recv_no_buffer << " receives without a buffer for " << totals.probes_completed
        << " probes";
    for (std::size_t r = 0; r < reason_count; ++r) {
        if (static_cast<Reason>(r) != Reason::Ok) {
            EXPECT_EQ(totals.by_reason[r], 0u) << reason_info(static_cast<Reason>(r)).code;
        }
    }
    EXPECT_EQ(totals.prober_errors, 0u);
}

TEST(EngineHttp, AReceiveStillWaitingForABufferAtItsDeadlineFinishesAndItsTargetGoesOn) {
    // 256 answers at once through 2 buffers: the waiting receives are asked again 2 a turn, so
    // some are still waiting when their deadline comes. How long they wait depends on the
    // build's speed, so half the targets have a 1 ms timeout (a debug build meets it) and half
    // 50 ms (TSan's turns are slow enough for that, and its connects too slow for 1 ms). Such a
    // probe is the prober's (prober_no_buffers) and must finish like any other: its target is
    // probed again at its next interval, not left in flight for ever.
    auto fleet =
        test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200, "body": "ok"}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan = answers_at_once(fleet->port(), 200, 50);
    for (std::size_t i = 0; i < plan.targets.size(); i += 2) {
        plan.targets[i].timeout_ms = 1;
    }
    constexpr unsigned targets = 256;
    testing::EngineHarness run(plan, two_buffers("http-parked-deadline"));
    ASSERT_TRUE(run.start());
    auto no_buffers = [&] {
        return run.totals().by_reason[static_cast<std::size_t>(Reason::ProberNoBuffers)];
    };
    std::vector<std::uint64_t> seen(targets, 0);
    const bool short_of_buffers = run.wait(
        [&](const report::Snapshot& s) {
            for (std::size_t t = 0; t < targets; ++t) {
                seen[t] = s.states[t].total_probes;
            }
            return run.totals().recv_no_buffer > 0;
        },
        std::chrono::seconds(5));
    ASSERT_TRUE(short_of_buffers) << "no receive ever found the buffers all taken";
    // Every target is probed again and again unless one of its probes never finishes (before
    // the fix most stopped at their first): 5 more in 10 s is 50 intervals' grace.
    std::string stuck;
    const bool all_went_on = run.wait(
        [&](const report::Snapshot& s) {
            stuck.clear();
            std::size_t n = 0;
            for (std::size_t t = 0; t < targets; ++t) {
                if (s.states[t].total_probes < seen[t] + 5 && ++n <= 10) {
                    stuck +=
                        std::to_string(t) + ":" + std::to_string(s.states[t].total_probes) + " ";
                }
            }
            if (n > 10) {
                stuck += "and " + std::to_string(n - 10) + " more";
            }
            return stuck.empty() && no_buffers() > 0;
        },
        std::chrono::seconds(10));
    const auto totals = run.totals();
    run.stop();
    EXPECT_GT(totals.by_reason[static_cast<std::size_t>(Reason::ProberNoBuffers)], 0u)
        << "no receive was still waiting for a buffer at its deadline: the case this test is about";
    EXPECT_TRUE(all_went_on) << "targets probed fewer than 5 more times in 10 s (target:total): "
                             << stuck;
    // The only prober-side verdict here is the buffer shortage.
    EXPECT_EQ(totals.prober_errors,
              totals.by_reason[static_cast<std::size_t>(Reason::ProberNoBuffers)]);
}

TEST(EngineHttp, ATurnStartsAtMostItsShareAndTheRestGoNextTurnOldestFirst) {
    // 600 targets due at one instant on one worker that starts at most 100 a turn: the other
    // 500 are held for the following turns (a worker behind its schedule answers a burst that
    // way instead of starting everything at once). Every target is still probed every
    // interval, none is skipped or blamed, and the held ones are counted.
    auto fleet =
        test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200, "body": "ok"}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    plan.start_batch = 1024;
    plan.start_spread_ms = 1;  // every first start in the same millisecond
    constexpr unsigned targets = 600;
    for (unsigned i = 0; i < targets; ++i) {
        testing::add_target(plan, TargetSpec{.address = addr(50 + i / 200, 1 + i % 200),
                                             .port = fleet->port(),
                                             .protocol = Protocol::Http,
                                             .interval_ms = 1000,
                                             .timeout_ms = 500,
                                             .unhealthy = 1});
    }
    engine::EngineOptions o = engine_options("http-turn-starts");
    o.workers = 1;
    o.turn_starts = 100;
    o.turn_chunk = 64;  // and in two kernel entries: 64, then the other 36
    testing::EngineHarness run(plan, o);
    ASSERT_TRUE(run.start());
    std::string behind;
    const bool all_probed = run.wait(
        [&](const report::Snapshot& s) {
            behind.clear();
            for (std::size_t t = 0; t < targets && behind.size() < 200; ++t) {
                if (s.states[t].total_probes < 3 ||
                    static_cast<Health>(s.states[t].health) != Health::Healthy) {
                    behind +=
                        std::to_string(t) + ":" + std::to_string(s.states[t].total_probes) + " ";
                }
            }
            return behind.empty();
        },
        std::chrono::seconds(10));
    const auto totals = run.totals();
    run.stop();
    EXPECT_TRUE(all_probed) << "targets not yet Healthy with 3 probes (target:probes): " << behind;
    // At least 500 of the first interval's 600 starts wait for a later turn, and each of the
    // six turns that start them goes to the kernel in two chunks.
    EXPECT_GE(totals.held_starts, 500u);
    EXPECT_GE(totals.chunks, 5u);
    EXPECT_EQ(totals.skipped_intervals, 0u);
    EXPECT_EQ(totals.prober_errors, 0u);
    for (std::size_t r = 0; r < reason_count; ++r) {
        if (static_cast<Reason>(r) != Reason::Ok) {
            EXPECT_EQ(totals.by_reason[r], 0u) << reason_info(static_cast<Reason>(r)).code;
        }
    }
}

TEST(EngineHttp, AProbeLongerThanItsIntervalSkipsTheStartsItOverranAndIsNotBlamed) {
    // A backend that answers after 250 ms, probed every 100 ms with a 2 s timeout: every probe
    // ends Ok past its next scheduled start, so that start (and the one after it) is skipped,
    // counted in skipped_intervals, and the next probe goes at the first start still ahead,
    // never at once and never twice. The backend is slow, not failing: Healthy throughout.
    auto fleet = test::FleetProcess::start(
        R"({"default": {"kind": "http", "status": 200, "body": "ok", "delay_ms": 250}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    plan.start_spread_ms = 1;
    testing::add_target(plan, TargetSpec{.address = addr(60, 1),
                                         .port = fleet->port(),
                                         .protocol = Protocol::Http,
                                         .interval_ms = 100,
                                         .timeout_ms = 2000,
                                         .unhealthy = 1});
    engine::EngineOptions o = engine_options("http-overrun");
    o.workers = 1;
    testing::EngineHarness run(plan, o);
    ASSERT_TRUE(run.start());
    const bool five = run.wait([](const report::Snapshot& s) { return s.states[0].total_ok >= 5; },
                               std::chrono::seconds(20));
    const auto snap = run.snapshot();
    const auto totals = run.totals();
    run.stop();
    ASSERT_TRUE(five) << snap.states[0].total_ok << " probes Ok";
    EXPECT_EQ(static_cast<Health>(snap.states[0].health), Health::Healthy);
    EXPECT_EQ(snap.states[0].total_fail, 0u);
    EXPECT_EQ(totals.prober_errors, 0u);
    // Each probe that ended (but the one in flight) skipped at least the start it overran; at
    // 250 ms a probe, two each unless the machine stretches one past 300 ms; ten would take a
    // second a probe.
    const std::uint64_t ended = totals.probes_completed;
    EXPECT_GE(totals.skipped_intervals, 2 * (ended - 1)) << ended << " probes ended";
    EXPECT_LE(totals.skipped_intervals, 10 * ended) << ended << " probes ended";
    // Never a start while the previous probe runs: one connection at a time at the fleet.
    EXPECT_LE(totals.probes_started, ended + 1);
}

TEST(EngineHttp, AProbeWhoseOperationsOutliveItsVerdictIsForcedDownByItsGuard) {
    // A backend that never answers: each probe ends ResponseTimeout at its deadline with its
    // receive still in the kernel. With the verdict's cancel left out (cancel_on_verdict false,
    // as when the kernel does not honour a cancel in time), only the guard timer of on_timer's
    // Finishing case ends the probe: 100 ms after the verdict it forces the socket down (and
    // re-arms until the kernel lets go). Without it the target would never be probed again.
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "hang"}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    plan.start_spread_ms = 1;
    testing::add_target(plan, TargetSpec{.address = addr(61, 1),
                                         .port = fleet->port(),
                                         .protocol = Protocol::Http,
                                         .interval_ms = 400,
                                         .timeout_ms = 100,
                                         .unhealthy = 1});
    engine::EngineOptions o = engine_options("http-guard");
    o.workers = 1;
    o.cancel_on_verdict = false;
    testing::EngineHarness run(plan, o);
    ASSERT_TRUE(run.start());
    const bool three =
        run.wait([](const report::Snapshot& s) { return s.states[0].total_fail >= 3; },
                 std::chrono::seconds(10));
    const auto snap = run.snapshot();
    run.stop();
    const auto totals = run.totals();
    ASSERT_TRUE(three) << snap.states[0].total_probes << " probes ended";
    EXPECT_EQ(static_cast<Reason>(snap.states[0].reason), Reason::ResponseTimeout);
    EXPECT_EQ(static_cast<Health>(snap.states[0].health), Health::Unhealthy);
    EXPECT_EQ(totals.prober_errors, 0u);
    EXPECT_EQ(totals.stop_forced_closes, 0u);
    EXPECT_EQ(totals.in_flight, 0u);
}

}  // namespace
}  // namespace ringprobe
