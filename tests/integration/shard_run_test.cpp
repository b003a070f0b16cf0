// Shards end to end: the real `ringprobe run --shard I/N` engines against the real fleet on
// loopback, and their reports merged (src/report/merge.cpp, ringprobe-report --merge).
//  - Three engines (0/3, 1/3, 2/3) split the targets: each target is probed by exactly one of
//    them (its report's state; the others show OtherShard), and the fleet counts about one probe
//    per target per interval in a measured window, never the two or three a double probe gives.
//  - The merge of the three equals, row by row (health and reason), one unsharded engine's
//    report over the same fleet; killing one engine turns exactly its rows Unknown
//    (engine_unreachable) within a bounded wait, the others unchanged.
//  - With --replicas 2 every target is probed by exactly two engines, and the merge stays whole
//    with any one of them killed.
//  - A second engine with the same shard and report name is refused by the name lock; bad
//    --shard and --replicas values exit 2; `plan --shard 0/4` against 0/3 moves 20-30 % of
//    1,000 targets.
// Windows and waits are bounded and count probes, not wall-clock precision.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "report/facts.hpp"
#include "report/merge.hpp"
#include "report/reader.hpp"
#include "support/child_process.hpp"
#include "support/fleet_process.hpp"
#include "support/report_wait.hpp"
#include "support/unique_name.hpp"

namespace ringprobe {
namespace {

using Clock = std::chrono::steady_clock;
using test::Child;

constexpr unsigned kServers = 24;
constexpr unsigned kIntervalMs = 200;
// 127.1.51.16 .. 127.1.51.23 answer 503: the merge must carry Unhealthy rows too.
constexpr const char* kBehaviours = R"({"rules": [
    {"cidr": "127.1.51.16/29", "kind": "http", "status": 503}],
    "default": {"kind": "http", "status": 200}})";

std::string server(unsigned i) {
    return "127.1.51." + std::to_string(i);
}

std::string config_json(const std::string& name, unsigned port, unsigned servers) {
    const std::string gw =
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/" +
        name;
    std::ostringstream o;
    o << R"({"name": ")" << name << R"(", "properties": {
  "backendAddressPools": [{"name": "pool", "properties": {"backendAddresses": [)";
    for (unsigned i = 0; i < servers; ++i) {
        o << (i ? ", " : "") << R"({"ipAddress": ")"
          << (servers > 250 ? "127.2." + std::to_string(i / 250) + "." + std::to_string(i % 250)
                            : server(i))
          << R"("})";
    }
    o << R"(]}}],
  "backendHttpSettingsCollection": [{"name": "web", "properties": {"port": )"
      << port << R"(, "protocol": "Http", "probe": {"id": ")" << gw << R"(/probes/health"}}}],
  "probes": [{"name": "health", "properties": {"protocol": "Http", "host": "example.test",
      "path": "/health", "interval": 1, "timeout": 1, "unhealthyThreshold": 1,
      "ringprobe": {"intervalMs": )"
      << kIntervalMs << R"(, "timeoutMs": 150}}}],
  "requestRoutingRules": [{"name": "rule", "properties": {"ruleType": "Basic",
      "backendAddressPool": {"id": ")"
      << gw << R"(/backendAddressPools/pool"},
      "backendHttpSettings": {"id": ")"
      << gw << R"(/backendHttpSettingsCollection/web"}}}]
}})";
    return o.str();
}

std::string write_temp(const std::string& text, const std::string& tag) {
    const std::string path = "/tmp/rp-shard-test-" + std::to_string(::getpid()) + "-" + tag;
    std::ofstream(path) << text;
    return path;
}

// Engines of one test, stopped (by PID) and their files removed however the test ends.
struct Engines {
    std::string config;
    std::vector<std::string> names;
    std::vector<std::unique_ptr<Child>> children;

    void start(const std::string& name, std::vector<std::string> flags) {
        std::vector<std::string> args{RINGPROBE_EXE, "run",       "--config", config,
                                      "--name",      name,        "--quiet",  "--listen",
                                      "none",        "--workers", "1"};
        args.insert(args.end(), flags.begin(), flags.end());
        children.push_back(std::make_unique<Child>(Child::spawn(args, config + "." + name)));
        names.push_back(name);
    }
    ~Engines() {
        for (auto& c : children) {
            c->stop();
        }
        for (const std::string& n : names) {
            ::unlink((config + "." + n).c_str());
            ::unlink(("/dev/shm/ringprobe." + n).c_str());
            ::unlink(("/dev/shm/ringprobe-lock." + n).c_str());
        }
        ::unlink(config.c_str());
    }
};

// Every row this engine probes has a result (Healthy or Unhealthy).
bool all_owned_known(const report::Snapshot& s) {
    for (std::size_t t = 0; t < s.states.size(); ++t) {
        const auto h = static_cast<Health>(s.states[t].health);
        if (s.readable[t] == 0 || h == Health::Unknown) {
            return false;
        }
    }
    return true;
}

std::optional<report::Snapshot> ready(const std::string& name) {
    return test::wait_for_report(name, all_owned_known, std::chrono::seconds(20));
}

// For each target, which of the engines probe it (their state is not OtherShard).
std::vector<std::vector<unsigned>> owners(const std::vector<report::Snapshot>& snaps) {
    std::vector<std::vector<unsigned>> out(snaps.front().states.size());
    for (unsigned e = 0; e < snaps.size(); ++e) {
        for (std::size_t t = 0; t < out.size(); ++t) {
            if (static_cast<Health>(snaps[e].states[t].health) != Health::OtherShard) {
                out[t].push_back(e);
            }
        }
    }
    return out;
}

// Probes per server in a window of about two seconds, and the intervals the window held.
std::map<std::string, std::uint64_t> window_counts(const test::FleetProcess& fleet,
                                                   double& intervals) {
    EXPECT_TRUE(fleet.counts(true));
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto counts = fleet.counts(true);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    intervals = ms / kIntervalMs;
    EXPECT_TRUE(counts);
    return counts ? *counts : std::map<std::string, std::uint64_t>{};
}

std::uint64_t count_of(const std::map<std::string, std::uint64_t>& counts, unsigned i,
                       unsigned port) {
    auto it = counts.find(server(i) + ":" + std::to_string(port));
    return it == counts.end() ? 0 : it->second;
}

std::vector<std::string> shard_names(const std::string& base, unsigned n) {
    std::vector<std::string> out;
    for (unsigned i = 0; i < n; ++i) {
        out.push_back(base + "-" + std::to_string(i));
    }
    return out;
}

report::Snapshot merged(const std::vector<std::string>& names) {
    auto m = report::merge_reports(names, report::SnapshotOptions{});
    EXPECT_TRUE(m) << (m ? "" : m.error().message);
    return m ? std::move(*m) : report::Snapshot{};
}

TEST(ShardRun, ThreeShardsProbeEachTargetOnceAndMergeLikeOneEngine) {
    auto fleet = test::FleetProcess::start(kBehaviours);
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string base = testing::unique_name("shard");
    Engines engines;
    engines.config = write_temp(config_json(base, fleet->port(), kServers), base + ".json");
    const std::vector<std::string> names = shard_names(base, 3);
    for (unsigned i = 0; i < 3; ++i) {
        engines.start(names[i], {"--shard", std::to_string(i) + "/3"});
    }
    std::vector<report::Snapshot> snaps;
    for (const std::string& n : names) {
        auto s = ready(n);
        ASSERT_TRUE(s) << n << " never had a result for every row it probes";
        snaps.push_back(std::move(*s));
    }
    const auto owner = owners(snaps);
    for (std::size_t t = 0; t < owner.size(); ++t) {
        ASSERT_EQ(owner[t].size(), 1u) << "target " << t;
    }

    double intervals = 0;
    const auto counts = window_counts(*fleet, intervals);
    for (unsigned i = 0; i < kServers; ++i) {
        const std::uint64_t n = count_of(counts, i, fleet->port());
        // One engine gives about `intervals` probes; two would give twice as many.
        EXPECT_GE(static_cast<double>(n), intervals / 2) << server(i);
        EXPECT_LE(static_cast<double>(n), intervals + 2) << server(i);
    }

    // A second engine for shard 0 under the same name: the name lock refuses it.
    {
        Child twin = Child::spawn({RINGPROBE_EXE, "run", "--config", engines.config, "--name",
                                   names[0], "--shard", "0/3", "--listen", "none"},
                                  engines.config + ".twin");
        const int status = twin.wait_exit(std::chrono::seconds(10));
        ASSERT_NE(status, -1) << "the second engine for one name did not exit";
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        EXPECT_NE(twin.stderr_text().find("is in use by engine pid"), std::string::npos)
            << twin.stderr_text();
        ::unlink((engines.config + ".twin").c_str());
    }

    // One unsharded engine over the same fleet: the merge shows what it shows.
    const std::string single = base + "-all";
    engines.start(single, {});
    auto one = ready(single);
    ASSERT_TRUE(one);
    const report::Snapshot m = merged(names);
    ASSERT_EQ(m.states.size(), one->states.size());
    for (std::uint32_t r = 0; r < m.info->rows.size(); ++r) {
        const std::uint32_t t = m.info->rows[r].target_index;
        const report::Effective a = report::effective(m, t);
        const report::Effective b = report::effective(*one, t);
        EXPECT_EQ(a.health, b.health) << "row " << r;
        EXPECT_EQ(a.reason, b.reason) << "row " << r;
        EXPECT_EQ(m.source_of_target[t], owner[t][0]) << "row " << r;
    }

    // ringprobe-report --merge prints the same merge, in the gateway's JSON with its sources.
    {
        const std::string out = engines.config + ".merge";
        const std::string cmd = std::string(RINGPROBE_REPORT_EXE) +
                                " --format json --details --merge " + names[0] + "," + names[1] +
                                "," + names[2] + " > " + out;
        EXPECT_EQ(std::system(cmd.c_str()), 0);
        std::ifstream f(out);
        std::stringstream text;
        text << f.rdbuf();
        ::unlink(out.c_str());
        EXPECT_NE(text.str().find("\"merged\""), std::string::npos) << text.str();
        EXPECT_EQ(text.str().find("OtherShard"), std::string::npos) << text.str();
    }

    // Kill shard 1: exactly its rows turn Unknown in the merge, within a bounded wait.
    ASSERT_EQ(::kill(engines.children[1]->pid, SIGKILL), 0);
    ASSERT_NE(engines.children[1]->wait_exit(std::chrono::seconds(5)), -1);
    report::Snapshot after;
    for (int i = 0; i < 100; ++i) {
        after = merged(names);
        bool done = true;
        for (std::size_t t = 0; t < owner.size(); ++t) {
            done = done && (owner[t][0] != 1 ||
                            report::effective(after, static_cast<std::uint32_t>(t)).reason ==
                                Reason::EngineUnreachable);
        }
        if (done) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (std::size_t t = 0; t < owner.size(); ++t) {
        const report::Effective e = report::effective(after, static_cast<std::uint32_t>(t));
        if (owner[t][0] == 1) {
            EXPECT_EQ(e.health, Health::Unknown) << "target " << t;
            EXPECT_EQ(e.reason, Reason::EngineUnreachable) << "target " << t;
            ASSERT_NE(e.state, nullptr);
            const std::string detail(e.state->detail, e.state->detail_len);
            EXPECT_NE(detail.find("shard 1/3"), std::string::npos) << detail;
        } else {
            EXPECT_EQ(e.health, report::effective(*one, static_cast<std::uint32_t>(t)).health)
                << "target " << t;
        }
    }
}

TEST(ShardRun, TwoReplicasProbeEveryTargetTwiceAndSurviveOneLoss) {
    auto fleet = test::FleetProcess::start(kBehaviours);
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string base = testing::unique_name("replica");
    Engines engines;
    engines.config = write_temp(config_json(base, fleet->port(), kServers), base + ".json");
    const std::vector<std::string> names = shard_names(base, 3);
    for (unsigned i = 0; i < 3; ++i) {
        engines.start(names[i], {"--shard", std::to_string(i) + "/3", "--replicas", "2"});
    }
    std::vector<report::Snapshot> snaps;
    for (const std::string& n : names) {
        auto s = ready(n);
        ASSERT_TRUE(s) << n;
        snaps.push_back(std::move(*s));
    }
    const auto owner = owners(snaps);
    for (std::size_t t = 0; t < owner.size(); ++t) {
        ASSERT_EQ(owner[t].size(), 2u) << "target " << t;
    }
    double intervals = 0;
    const auto counts = window_counts(*fleet, intervals);
    for (unsigned i = 0; i < kServers; ++i) {
        const std::uint64_t n = count_of(counts, i, fleet->port());
        EXPECT_GT(static_cast<double>(n), intervals + 2) << server(i);  // more than one engine
        EXPECT_LE(static_cast<double>(n), 2 * intervals + 4) << server(i);
    }
    ASSERT_EQ(::kill(engines.children[2]->pid, SIGKILL), 0);
    ASSERT_NE(engines.children[2]->wait_exit(std::chrono::seconds(5)), -1);
    const report::Snapshot m = merged(names);
    for (std::uint32_t t = 0; t < m.states.size(); ++t) {
        const report::Effective e = report::effective(m, t);
        EXPECT_NE(e.health, Health::Unknown) << "target " << t;
        EXPECT_NE(m.source_of_target[t], 2u) << "target " << t;
    }
}

int run_status(const std::vector<std::string>& args, const std::string& err) {
    Child c = Child::spawn(args, err);
    const int status = c.wait_exit(std::chrono::seconds(10));
    ::unlink(err.c_str());
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ShardRun, BadShardFlagsExitTwo) {
    const std::string cfg = write_temp(config_json("badshard", 8080, 4), "bad.json");
    const std::string err = cfg + ".err";
    for (const std::vector<std::string>& flags :
         std::vector<std::vector<std::string>>{{"--shard", "3/3"},
                                               {"--shard", "0/0"},
                                               {"--shard", "0/3", "--replicas", "4"},
                                               {"--shards", "3"}}) {
        std::vector<std::string> args{RINGPROBE_EXE, "run", "--config", cfg, "--listen", "none"};
        args.insert(args.end(), flags.begin(), flags.end());
        EXPECT_EQ(run_status(args, err), 2) << flags[0] << " " << flags[1];
    }
    ::unlink(cfg.c_str());
}

// The shard column of `plan --json` rows: "shards":[j].
std::vector<int> plan_owners(const std::string& cfg, const std::string& shard) {
    const std::string out = cfg + "." + shard.substr(2) + ".out";
    const std::string cmd = std::string(RINGPROBE_EXE) + " plan --json --config " + cfg +
                            " --shard " + shard + " > " + out;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    std::ifstream f(out);
    std::stringstream s;
    s << f.rdbuf();
    ::unlink(out.c_str());
    std::vector<int> owners;
    const std::string text = s.str();
    const std::string key = "\"shards\":[";
    for (std::size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
        owners.push_back(std::atoi(text.c_str() + at + key.size()));
    }
    return owners;
}

TEST(ShardRun, AFourthShardMovesAQuarterOfTheTargetsInThePlan) {
    const std::string cfg = write_temp(config_json("move", 8080, 1000), "move.json");
    const std::vector<int> three = plan_owners(cfg, "0/3");
    const std::vector<int> four = plan_owners(cfg, "0/4");
    ASSERT_EQ(three.size(), 1000u);
    ASSERT_EQ(four.size(), 1000u);
    unsigned moved = 0;
    for (std::size_t i = 0; i < three.size(); ++i) {
        if (three[i] != four[i]) {
            moved += 1;
            EXPECT_EQ(four[i], 3) << "row " << i << " moved between old shards";
        }
    }
    EXPECT_GE(moved, 200u);
    EXPECT_LE(moved, 300u);
    ::unlink(cfg.c_str());
}

}  // namespace
}  // namespace ringprobe
