// Runs the real `ringprobe run` under a descriptor limit too small for its plan, as an operator
// with a low `ulimit -n` would: 2,000 targets every 2 s behind a fleet whose backends answer
// after 300 ms need about 300 probes in flight, and 128 descriptors leave the engine 64 sockets.
// It proves the engine says so out loud: the capacity warning is on stderr (with --quiet too)
// with the limit and what to raise it to, the report header carries the shortfall, and rows
// whose verdict is older than twice their interval plus their timeout are marked late within a
// bounded wait. The limit is set with setrlimit in the child before exec; the test's own limit
// is untouched. Everything is on loopback; the engine and the fleet are stopped by PID.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "report/capacity_words.hpp"
#include "report/reader.hpp"
#include "support/child_process.hpp"
#include "support/fleet_process.hpp"
#include "support/unique_name.hpp"

namespace ringprobe {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kTargets = 2000;
constexpr rlim_t kNofile = 128;

std::string config_json(const std::string& name, unsigned port) {
    const std::string gw =
        "/subscriptions/x/resourceGroups/rg/providers/"
        "Microsoft.Network/applicationGateways/" +
        name;
    std::ostringstream o;
    o << R"({"name": ")" << name << R"(", "ringprobe": {"intervalMs": 2000, "timeoutMs": 1000},
 "properties": {"backendAddressPools": [{"name": "pool", "properties": {"backendAddresses": [)";
    for (int i = 0; i < kTargets; ++i) {
        o << (i == 0 ? "" : ",") << R"({"ipAddress": "127.2.)" << i / 250 << '.' << i % 250 + 1
          << R"("})";
    }
    o << R"(]}}],
  "backendHttpSettingsCollection": [{"name": "web", "properties": {"port": )"
      << port << R"(, "protocol": "Http", "probe": {"id": ")" << gw << R"(/probes/health"}}}],
  "probes": [{"name": "health", "properties": {"protocol": "Http", "host": "example.test",
      "path": "/health", "interval": 2, "timeout": 1, "unhealthyThreshold": 3}}],
  "requestRoutingRules": [{"name": "rule", "properties": {"ruleType": "Basic",
      "backendAddressPool": {"id": ")"
      << gw << R"(/backendAddressPools/pool"},
      "backendHttpSettings": {"id": ")"
      << gw << R"(/backendHttpSettingsCollection/web"}}}]
}})";
    return o.str();
}

// One `ringprobe run --quiet` child (test::Child) under RLIMIT_NOFILE kNofile; its files are
// removed and the child stopped however the test ends.
struct LimitedEngine {
    test::Child child;
    std::string cfg;

    LimitedEngine(const std::string& name, unsigned port) {
        cfg = "/tmp/rp-capacity-test-" + std::to_string(::getpid()) + "-" + name + ".json";
        std::ofstream(cfg) << config_json(name, port);
        child = test::Child::spawn({RINGPROBE_EXE, "run", "--config", cfg, "--workers", "2",
                                    "--quiet", "--listen", "none"},
                                   cfg + ".stderr", {.nofile = kNofile});
    }
    LimitedEngine(const LimitedEngine&) = delete;
    LimitedEngine& operator=(const LimitedEngine&) = delete;

    std::string stderr_text() const { return child.stderr_text(); }

    ~LimitedEngine() {
        child.stop();
        ::unlink(cfg.c_str());
        ::unlink(child.err_path.c_str());
    }
};

std::uint32_t late_rows(const report::Snapshot& s) {
    std::uint32_t n = 0;
    for (std::uint32_t t = 0; t < s.states.size(); ++t) {
        n += report::is_late(s, t) ? 1 : 0;
    }
    return n;
}

TEST(RunCapacity, ASmallDescriptorLimitIsSaidOutLoudAndRowsGoLate) {
    auto fleet = test::FleetProcess::start(
        R"({"default": {"kind": "http", "status": 200, "delay_ms": 300}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("capacity");
    LimitedEngine e(name, fleet->port());
    ASSERT_GT(e.child.pid, 0);

    // The warning comes at start, before the first probe; the rows go late after 5 s (2 x 2 s +
    // 1 s) at the latest for a row never probed, and the engine reaches each target only about
    // every 10 s.
    std::string err;
    report::Snapshot snap;
    std::uint32_t late = 0;
    const auto until = Clock::now() + std::chrono::seconds(15);
    while (Clock::now() < until) {
        err = e.stderr_text();
        if (auto rep = report::Report::open(name)) {
            snap = rep->snapshot({});
            late = late_rows(snap);
            if (late >= 100 && err.find("capacity short") != std::string::npos) {
                break;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    EXPECT_NE(err.find("ringprobe: warning: capacity short:"), std::string::npos) << err;
    EXPECT_NE(err.find("raise LimitNOFILE (ulimit -n) from 128 to at least "), std::string::npos)
        << err;
    ASSERT_TRUE(snap.info != nullptr) << "no report " << name << ": " << err;
    EXPECT_EQ(snap.engine, report::EngineState::Live) << err;
    EXPECT_TRUE(report::capacity_short(snap.capacity));
    EXPECT_NE(snap.capacity.flags & report_abi::kCapacityShortSockets, 0u);
    EXPECT_EQ(snap.capacity.nofile_limit, kNofile);
    EXPECT_GT(snap.capacity.nofile_needed, kNofile);
    EXPECT_GT(snap.capacity.in_flight_needed, snap.capacity.sockets_per_worker);
    EXPECT_GT(snap.capacity.slowdown_permille, 2000u);
    EXPECT_GE(late, 100u) << "rows late: " << late << " of " << snap.states.size();
}

}  // namespace
}  // namespace ringprobe
