// Drives the real engine in-process through reloads (Engine::reload) against sockets the test
// owns on 127.0.0.1, and reads the report back as ringprobe-report would. It proves that a
// target whose probe is unchanged keeps its health, last change and probe totals across a
// reload and is probed once per interval through it (none twice, none skipped); that removed
// targets leave the report and added ones start; that a changed interval is a removed target
// plus an added one; that the report's generation grows by one; and that a reload the engine
// cannot apply leaves the plan and the report as they were.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "engine/engine.hpp"
#include "report/reader.hpp"
#include "support/engine_harness.hpp"
#include "support/plan_builder.hpp"

namespace ringprobe {
namespace {

using testing::TargetSpec;

// A socket listening on 127.0.0.1 with an ephemeral port (connects to it are Healthy; the same
// port on 127.0.0.2.. is refused: Unhealthy).
struct Listener {
    int fd = -1;
    std::uint16_t port = 0;
    Listener() {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        socklen_t len = sizeof(a);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        EXPECT_EQ(::listen(fd, 4096), 0);
    }
    ~Listener() { ::close(fd); }
};

// Accepts on a Listener from a thread of its own and counts the connections: the backend's own
// count of probes, independent of what the engine reports.
class AcceptCounter {
public:
    explicit AcceptCounter(const Listener& l) : fd_(l.fd) {
        thread_ = std::thread([this] {
            while (!stop_.load()) {
                pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
                if (::poll(&p, 1, 20) == 1) {
                    const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
                    if (c >= 0) {
                        ::close(c);
                        count_.fetch_add(1);
                    }
                }
            }
        });
    }
    ~AcceptCounter() {
        stop_.store(true);
        thread_.join();
    }
    std::uint64_t count() const { return count_.load(); }

private:
    int fd_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> count_{0};
    std::thread thread_;
};

TargetSpec spec(const Listener& up, int host, std::uint32_t interval_ms = 100) {
    return TargetSpec{.address = "127.0.0." + std::to_string(host),
                      .port = up.port,
                      .interval_ms = interval_ms,
                      .timeout_ms = 80};
}

// The report's row for a target address (the plans here have one row per target).
const report_abi::TargetStatePayload* state_of(const report::Snapshot& s, const Plan& plan,
                                               const std::string& address,
                                               std::uint32_t interval_ms) {
    for (std::size_t t = 0; t < plan.targets.size(); ++t) {
        if (plan.targets[t].address == address && plan.targets[t].interval_ms == interval_ms) {
            return &s.states[t];
        }
    }
    return nullptr;
}

bool every_target_probed(const report::Snapshot& s, std::uint64_t at_least) {
    for (const auto& st : s.states) {
        if (st.total_probes < at_least) {
            return false;
        }
    }
    return true;
}

TEST(EngineReload, UnchangedTargetsKeepTheirStateRemovedLeaveAddedStart) {
    Listener up;
    Plan a;
    testing::add_target(a, spec(up, 1));       // kept, Healthy
    testing::add_target(a, spec(up, 2));       // removed
    testing::add_target(a, spec(up, 3));       // kept, Unhealthy (refused)
    testing::add_target(a, spec(up, 5, 100));  // interval changed: removed and added
    testing::EngineHarness run(a, testing::engine_options("reload-keep"));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait([](const report::Snapshot& s) { return every_target_probed(s, 4); },
                         std::chrono::seconds(5)));
    const std::uint64_t generation = run.report().info().header.generation;

    auto b = std::make_unique<Plan>();
    testing::add_target(*b, spec(up, 4));  // added, in front: every index moves
    testing::add_target(*b, spec(up, 3));
    testing::add_target(*b, spec(up, 1));
    testing::add_target(*b, spec(up, 5, 150));  // the changed interval
    const Plan& next = *b;
    const report::Snapshot before = run.snapshot();
    auto summary = run.reload(std::move(b));
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_EQ(summary->kept, 2u);
    EXPECT_EQ(summary->added, 2u);
    EXPECT_EQ(summary->removed, 2u);
    EXPECT_EQ(summary->generation, generation + 1);

    const report::Snapshot after = run.snapshot();
    EXPECT_EQ(after.info->header.generation, generation + 1);
    EXPECT_EQ(after.reload_result(), report_abi::kReloadApplied);
    EXPECT_EQ(after.last_reload.applied, 1u);
    EXPECT_TRUE(after.reload_error().empty());
    ASSERT_EQ(after.states.size(), 4u) << "the removed targets' rows left, the added came";
    for (int host : {1, 3}) {
        const std::string address = "127.0.0." + std::to_string(host);
        const auto* was = state_of(before, a, address, 100);
        const auto* now = state_of(after, next, address, 100);
        ASSERT_NE(was, nullptr);
        ASSERT_NE(now, nullptr);
        EXPECT_EQ(now->health, was->health) << address;
        EXPECT_NE(now->health, static_cast<std::uint8_t>(Health::Unknown)) << address;
        EXPECT_EQ(now->last_change_unix_ns, was->last_change_unix_ns) << address;
        EXPECT_GE(now->total_probes, was->total_probes) << address;
        EXPECT_LE(now->total_probes, was->total_probes + 1) << address;
    }
    EXPECT_EQ(state_of(after, next, "127.0.0.1", 100)->health,
              static_cast<std::uint8_t>(Health::Healthy));
    EXPECT_EQ(state_of(after, next, "127.0.0.3", 100)->health,
              static_cast<std::uint8_t>(Health::Unhealthy));
    EXPECT_EQ(state_of(after, next, "127.0.0.5", 150)->total_probes, 0u) << "a new target";
    // The added targets start within their first interval and are judged.
    EXPECT_TRUE(run.wait([](const report::Snapshot& s) { return every_target_probed(s, 2); },
                         std::chrono::seconds(3)));
    run.stop();
}

TEST(EngineReload, AnUnchangedTargetIsProbedOncePerIntervalThroughReloads) {
    // 200 ms interval; three reloads (adding and removing other targets) inside 3 s: the kept
    // target's probes over the 3 s are 15, give or take the one at each edge of the window, as
    // the report counts them and as the backend counts its connections. The added targets
    // (127.0.0.10 and up) are refused by the kernel, so every accept is the kept target's.
    Listener up;
    AcceptCounter backend(up);
    Plan a;
    testing::add_target(a, spec(up, 1, 200));
    testing::EngineHarness run(a, testing::engine_options("reload-count", 1));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait([](const report::Snapshot& s) { return every_target_probed(s, 2); },
                         std::chrono::seconds(3)));
    const std::uint64_t first = run.snapshot().states[0].total_probes;
    const std::uint64_t first_accepts = backend.count();
    const auto t0 = std::chrono::steady_clock::now();
    std::uint32_t kept_index = 0;
    for (int round = 0; round < 3; ++round) {
        run.run_for(std::chrono::milliseconds(700));
        auto next = std::make_unique<Plan>();
        for (int extra = 0; extra <= round; ++extra) {
            testing::add_target(*next, spec(up, 10 + round * 4 + extra, 200));
        }
        kept_index = static_cast<std::uint32_t>(next->targets.size());
        testing::add_target(*next, spec(up, 1, 200));
        auto summary = run.reload(std::move(next));
        ASSERT_TRUE(summary) << summary.error().message;
        EXPECT_EQ(summary->kept, 1u);
    }
    run.run_for(std::chrono::milliseconds(3000) -
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - t0));
    const std::uint64_t last = run.snapshot().states[kept_index].total_probes;
    const std::uint64_t accepts = backend.count() - first_accepts;
    EXPECT_GE(last - first, 14u);
    EXPECT_LE(last - first, 16u);
    // The backend saw the same probes, give or take the one connecting at either snapshot.
    EXPECT_GE(accepts + 1, last - first) << "the backend saw fewer connections than probes";
    EXPECT_LE(accepts, last - first + 1) << "a probe was sent twice in an interval";
    run.stop();
}

TEST(EngineReload, TurningOnAProxyHeaderIsAChangedProbe) {
    // The PROXY header changes what the backend sees before anything else: a target that
    // starts sending one is removed and added, not kept with its old verdict.
    Listener up;
    Plan a;
    testing::add_target(a, spec(up, 1));
    testing::EngineHarness run(a, testing::engine_options("reload-proxy", 1));
    ASSERT_TRUE(run.start());
    auto next = std::make_unique<Plan>(a);
    next->targets[0].proxy_protocol = ProxyProtocol::V2;
    next->digest = a.digest + 1;
    auto summary = run.reload(std::move(next));
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_EQ(summary->kept, 0u);
    EXPECT_EQ(summary->added, 1u);
    EXPECT_EQ(summary->removed, 1u);
    run.stop();
}

TEST(EngineReload, TheSameConfigurationChangesNothing) {
    Listener up;
    Plan a;
    testing::add_target(a, spec(up, 1));
    a.digest = 42;
    testing::EngineHarness run(a, testing::engine_options("reload-same", 1));
    ASSERT_TRUE(run.start());
    auto same = std::make_unique<Plan>(a);
    auto summary = run.reload(std::move(same));
    ASSERT_TRUE(summary);
    EXPECT_TRUE(summary->unchanged);
    EXPECT_EQ(run.snapshot().info->header.generation, run.report().info().header.generation);
    EXPECT_FALSE(run.report().superseded());
    run.stop();
}

TEST(EngineReload, ATrustedRootThatCannotBeReadIsRefusedAndNothingChanges) {
    Listener up;
    Plan a;
    testing::add_target(a, spec(up, 1));
    testing::EngineHarness run(a, testing::engine_options("reload-refused", 1));
    ASSERT_TRUE(run.start());
    auto next = std::make_unique<Plan>(a);
    next->digest = 7;
    testing::add_target(*next, TargetSpec{.address = "127.0.0.9",
                                          .port = up.port,
                                          .protocol = Protocol::Https,
                                          .host = "backend.example.test"});
    next->trusted_roots.push_back(
        TrustedRoot{"broken", "/trustedRootCertificates/broken", "not a certificate"});
    next->targets.back().trusted_roots = {0};
    auto summary = run.reload(std::move(next));
    ASSERT_FALSE(summary);
    EXPECT_NE(summary.error().message.find("broken"), std::string::npos) << summary.error().message;
    EXPECT_FALSE(run.report().superseded());
    const report::Snapshot s = run.snapshot();
    EXPECT_EQ(s.states.size(), 1u);
    // The refusal is in the report in force: lastReload, cut to its area.
    EXPECT_EQ(s.reload_result(), report_abi::kReloadRefused);
    EXPECT_EQ(s.last_reload.refused, 1u);
    EXPECT_LE(s.reload_error().size(), report_abi::kReloadErrorBytes);
    EXPECT_EQ(s.reload_error().substr(0, 19), "cannot set up TLS: ");
    run.stop();
}

}  // namespace
}  // namespace ringprobe
