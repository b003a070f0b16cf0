// Runs the real `ringprobe run` binary as a service manager would: one engine per report name
// (a second exits 1 naming the first's pid and leaves it alone; a SIGKILLed engine's claim does
// not block the next), signals that people and systemd send for other purposes (USR2, ALRM,
// PIPE) never end the engine, SIGHUP and `ringprobe reload` apply a changed configuration
// (unchanged rows keep their verdicts, generation + 1) or refuse a broken, unreadable,
// truncated or missing one (the old plan kept), a storm of HUPs leaves the last configuration
// applied without a row passing through Unknown, and the
// sd_notify side channel says READY once the report is published, a STATUS line with the
// target counts, WATCHDOG while the workers turn, and STOPPING at SIGTERM. The notify socket is
// a datagram socket of the test's own in /tmp; the fleet is on loopback.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "report/reader.hpp"
#include "support/child_process.hpp"
#include "support/fleet_process.hpp"
#include "support/report_wait.hpp"
#include "support/unique_name.hpp"

namespace ringprobe {
namespace {

using Clock = std::chrono::steady_clock;

std::string config_json(const std::string& name, unsigned port,
                        const std::vector<std::string>& servers = {"127.1.32.1", "127.1.32.2"},
                        const std::string& path = "/health") {
    const std::string gw =
        "/subscriptions/x/resourceGroups/rg/providers/"
        "Microsoft.Network/applicationGateways/" +
        name;
    std::ostringstream o;
    o << R"({"name": ")" << name << R"(", "properties": {
  "backendAddressPools": [{"name": "pool", "properties": {"backendAddresses": [)";
    for (std::size_t i = 0; i < servers.size(); ++i) {
        o << (i == 0 ? "" : ", ") << R"({"ipAddress": ")" << servers[i] << R"("})";
    }
    o << R"(]}}],
  "backendHttpSettingsCollection": [{"name": "web", "properties": {"port": )"
      << port << R"(, "protocol": "Http", "probe": {"id": ")" << gw << R"(/probes/health"}}}],
  "probes": [{"name": "health", "properties": {"protocol": "Http", "host": "example.test",
      "path": ")"
      << path << R"(", "interval": 1, "timeout": 1, "unhealthyThreshold": 3,
      "ringprobe": {"intervalMs": 100, "timeoutMs": 100}}}],
  "requestRoutingRules": [{"name": "rule", "properties": {"ruleType": "Basic",
      "backendAddressPool": {"id": ")"
      << gw << R"(/backendAddressPools/pool"},
      "backendHttpSettings": {"id": ")"
      << gw << R"(/backendHttpSettingsCollection/web"}}}]
}})";
    return o.str();
}

// One `ringprobe run` child (test::Child) with its configuration file and extra environment;
// both files are removed and the child stopped however the test ends.
struct Engine {
    test::Child child;
    std::string cfg;

    // as_nobody: run the engine as uid/gid 65534, so that when the tests run as root a file of
    // mode 0 is still unreadable to the engine.
    static Engine spawn(const std::string& name, unsigned port, const std::vector<std::string>& env,
                        bool as_nobody = false) {
        Engine e;
        e.cfg = "/tmp/rp-service-test-" + std::to_string(::getpid()) + "-" + name + ".json";
        std::ofstream(e.cfg) << config_json(name, port);
        e.child = test::Child::spawn(
            {RINGPROBE_EXE, "run", "--config", e.cfg, "--workers", "2", "--listen", "none"},
            e.cfg + ".stderr", {.env = env, .as_nobody = as_nobody});
        return e;
    }

    std::string stderr_text() const { return child.stderr_text(); }
    bool alive() const { return child.alive(); }
    // SIGTERM, then the exit status (bounded: SIGKILL and -1 after 3 s).
    int stop() { return child.stop(); }

    Engine() = default;
    Engine(Engine&&) = default;
    ~Engine() {
        child.stop();
        ::unlink(cfg.c_str());
        ::unlink(child.err_path.c_str());
    }
};

bool both_healthy_in(const report::Snapshot& s) {
    return s.states.size() == 2 && static_cast<Health>(s.states[0].health) == Health::Healthy &&
           static_cast<Health>(s.states[1].health) == Health::Healthy;
}

bool both_healthy(const std::string& name) {
    auto rep = report::Report::open(name);
    return rep && both_healthy_in(rep->snapshot({}));
}

bool wait_healthy(const std::string& name) {
    return test::wait_for_report(name, both_healthy_in, std::chrono::seconds(3)).has_value();
}

// Writes a configuration whole: a temporary file renamed over the path, so the engine never
// reads half of it (the truncated case is written on purpose).
void write_config(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp) << text;
    ::rename(tmp.c_str(), path.c_str());
}

// `ringprobe reload --name NAME`: its exit status and what it printed.
std::pair<int, std::string> reload_command(const std::string& name) {
    const std::string cmd =
        std::string(RINGPROBE_EXE) + " reload --name " + name + " --timeout-ms 5000 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) {
        return {-1, "popen failed"};
    }
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) {
        out += buf;
    }
    const int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

report::Snapshot snapshot_of(const std::string& name) {
    auto rep = report::Report::open(name);
    EXPECT_TRUE(rep);
    return rep ? rep->snapshot({}) : report::Snapshot{};
}

// The row of a server address in a one-pool, one-setting report, or nullptr.
const report_abi::TargetStatePayload* row_of(const report::Snapshot& s, const std::string& addr) {
    const report::StaticInfo& info = *s.info;
    for (const auto& row : info.rows) {
        if (info.str(info.servers[row.server_index].address) == addr) {
            return &s.states[row.target_index];
        }
    }
    return nullptr;
}

TEST(RunService, ReloadAppliesAChangedConfigurationAndKeepsUnchangedRows) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("reload");
    Engine e = Engine::spawn(name, fleet->port(), {});
    ASSERT_GT(e.child.pid, 0);
    ASSERT_TRUE(wait_healthy(name)) << e.stderr_text();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const report::Snapshot before = snapshot_of(name);
    ASSERT_NE(before.info, nullptr);
    const auto* kept_before = row_of(before, "127.1.32.1");
    ASSERT_NE(kept_before, nullptr);

    // .2 leaves, .3 comes; .1's probe is unchanged.
    write_config(e.cfg, config_json(name, fleet->port(), {"127.1.32.1", "127.1.32.3"}));
    const auto [status, said] = reload_command(name);
    EXPECT_EQ(status, 0) << said << e.stderr_text();
    EXPECT_NE(said.find("reload applied"), std::string::npos) << said;
    const report::Snapshot after = snapshot_of(name);
    ASSERT_NE(after.info, nullptr);
    EXPECT_EQ(after.info->header.generation, before.info->header.generation + 1);
    EXPECT_EQ(row_of(after, "127.1.32.2"), nullptr) << "the removed server's row is still there";
    ASSERT_NE(row_of(after, "127.1.32.3"), nullptr) << "the added server has no row";
    const auto* kept = row_of(after, "127.1.32.1");
    ASSERT_NE(kept, nullptr);
    EXPECT_EQ(static_cast<Health>(kept->health), Health::Healthy);
    EXPECT_EQ(kept->last_change_unix_ns, kept_before->last_change_unix_ns);
    EXPECT_GE(kept->total_probes, kept_before->total_probes);
    EXPECT_EQ(after.reload_result(), report_abi::kReloadApplied);
    EXPECT_TRUE(wait_healthy(name)) << "the added server was not probed";
    EXPECT_NE(e.stderr_text().find("1 targets kept, 1 added, 1 removed"), std::string::npos)
        << e.stderr_text();

    // A changed path changes every probe: both rows start again, under generation + 2.
    write_config(e.cfg, config_json(name, fleet->port(), {"127.1.32.1", "127.1.32.3"}, "/other"));
    ASSERT_EQ(::kill(e.child.pid, SIGHUP), 0);
    const bool moved =
        test::wait_for_report(
            name,
            [&](const report::Snapshot& s) {
                return s.info->header.generation == before.info->header.generation + 2;
            },
            std::chrono::seconds(3))
            .has_value();
    EXPECT_TRUE(moved) << e.stderr_text();
    EXPECT_NE(e.stderr_text().find("0 targets kept, 2 added, 2 removed"), std::string::npos)
        << e.stderr_text();
    EXPECT_TRUE(wait_healthy(name));
    EXPECT_TRUE(e.alive());
}

TEST(RunService, ReloadRefusesBrokenUnreadableTruncatedOrMissingConfigurations) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("refuse");
    Engine e = Engine::spawn(name, fleet->port(), {}, ::geteuid() == 0);
    ASSERT_GT(e.child.pid, 0);
    ASSERT_TRUE(wait_healthy(name)) << e.stderr_text();
    const std::string good = config_json(name, fleet->port());
    const std::uint64_t generation = snapshot_of(name).info->header.generation;
    struct Case {
        const char* what;
        std::function<void()> spoil;
    };
    const std::vector<Case> cases = {
        {"broken", [&] { write_config(e.cfg, R"({"name": "x", "properties": {"probes": 7}})"); }},
        {"truncated", [&] { write_config(e.cfg, good.substr(0, good.size() / 2)); }},
        {"missing", [&] { ::unlink(e.cfg.c_str()); }},
        {"a directory",
         [&] {
             ::unlink(e.cfg.c_str());
             ::mkdir(e.cfg.c_str(), 0700);
         }},
        {"unreadable",
         [&] {
             write_config(e.cfg, good);
             ::chmod(e.cfg.c_str(), 0);
         }},
    };
    for (const Case& c : cases) {
        c.spoil();
        const auto [status, said] = reload_command(name);
        EXPECT_EQ(status, 1) << c.what << ": " << said;
        EXPECT_NE(said.find("reload refused"), std::string::npos) << c.what << ": " << said;
        if (std::string(c.what) == "unreadable") {
            EXPECT_NE(said.find("Permission denied"), std::string::npos) << said;
        }
        const report::Snapshot s = snapshot_of(name);
        ASSERT_NE(s.info, nullptr);
        EXPECT_EQ(s.info->header.generation, generation) << c.what;
        EXPECT_EQ(s.reload_result(), report_abi::kReloadRefused) << c.what;
        EXPECT_FALSE(s.reload_error().empty()) << c.what;
        EXPECT_TRUE(both_healthy(name)) << c.what << ": the old plan's rows lost their verdicts";
        ::rmdir(e.cfg.c_str());
        ::chmod(e.cfg.c_str(), 0600);
    }
    write_config(e.cfg, good);
    const auto [status, said] = reload_command(name);
    EXPECT_EQ(status, 0) << said;
    EXPECT_TRUE(e.alive());
    const std::string err = e.stderr_text();
    EXPECT_NE(err.find("ringprobe: reload refused: " + e.cfg + " has"), std::string::npos) << err;
}

TEST(RunService, AReloadKeepsTheRunningQuantumAndStartBatchAndSaysSo) {
    // The workers' rings and start grids are built from quantumMs and startBatch at start: a
    // reload asking for others is applied otherwise, and the log says which values stay.
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("quantum");
    Engine e = Engine::spawn(name, fleet->port(), {});
    ASSERT_GT(e.child.pid, 0);
    ASSERT_TRUE(wait_healthy(name)) << e.stderr_text();
    std::string next = config_json(name, fleet->port(), {"127.1.32.1", "127.1.32.3"});
    const std::string at = R"("properties": {)";
    next.insert(next.find(at) + at.size(), R"("ringprobe": {"quantumMs": 5, "startBatch": 8},)");
    write_config(e.cfg, next);
    const auto [status, said] = reload_command(name);
    EXPECT_EQ(status, 0) << said;
    const std::string err = e.stderr_text();
    EXPECT_NE(err.find("warning: quantumMs 5 in the reloaded configuration takes effect at the "
                       "next start; the engine keeps 1 until then"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("warning: startBatch 8 in the reloaded configuration takes effect at the "
                       "next start; the engine keeps 64 until then"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("1 targets kept, 1 added, 1 removed"), std::string::npos) << err;
    // Asked again, the engine still runs the values it started with, and says so again.
    std::string third = config_json(name, fleet->port(), {"127.1.32.1", "127.1.32.3"});
    third.insert(third.find(at) + at.size(), R"("ringprobe": {"quantumMs": 5},)");
    write_config(e.cfg, third);
    const auto [again, said_again] = reload_command(name);
    EXPECT_EQ(again, 0) << said_again;
    const std::string err2 = e.stderr_text();
    EXPECT_NE(err2.find("quantumMs 5", err.size()), std::string::npos) << err2;
    EXPECT_TRUE(wait_healthy(name));
    EXPECT_TRUE(e.alive());
}

TEST(RunService, ReloadWithNoEngineExitsThreeEvenWhenAKilledEngineLeftItsLockFile) {
    const auto [never, never_said] = reload_command(testing::unique_name("nobody"));
    EXPECT_EQ(never, 3) << never_said;
    EXPECT_NE(never_said.find("no engine runs report"), std::string::npos) << never_said;

    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("killed");
    Engine e = Engine::spawn(name, fleet->port(), {});
    ASSERT_GT(e.child.pid, 0);
    ASSERT_TRUE(wait_healthy(name)) << e.stderr_text();
    ::kill(e.child.pid, SIGKILL);
    ::waitpid(e.child.pid, nullptr, 0);
    const auto [status, said] = reload_command(name);
    EXPECT_EQ(status, 3) << said;
    EXPECT_NE(said.find("no engine runs report " + name), std::string::npos) << said;
    ::unlink(("/dev/shm/ringprobe." + name).c_str());  // what the killed engine left
    ::unlink(("/dev/shm/ringprobe-lock." + name).c_str());
}

TEST(RunService, AnEngineKilledMidReloadLeavesNothingAReaderTakesHalfWrittenOrThatBlocks) {
    // 1,000 servers, so a reload builds a segment of some size; killed 0-20 ms after the HUP,
    // that is before, during or after the new segment is built and renamed. The report at the
    // name is then one whole plan's (the old or the new one's rows, never a mix), the next engine
    // of the name starts, and it removes the half-built segment the killed one left.
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    std::vector<std::string> many, fewer;
    for (int i = 0; i < 1000; ++i) {
        many.push_back("127.1." + std::to_string(40 + i / 250) + "." + std::to_string(i % 250));
        if (i % 2 == 0) {
            fewer.push_back(many.back());
        }
    }
    const std::string name = testing::unique_name("killreload");
    const std::string segment = "/dev/shm/ringprobe." + name;
    auto temporaries = [&] {
        std::vector<std::string> left;
        for (const auto& f : std::filesystem::directory_iterator("/dev/shm")) {
            if (f.path().string().rfind(segment + ".tmp.", 0) == 0) {
                left.push_back(f.path().string());
            }
        }
        return left;
    };
    for (int delay_ms : {0, 2, 5, 10, 20}) {
        Engine e = Engine::spawn(name, fleet->port(), {});
        ASSERT_GT(e.child.pid, 0);
        ASSERT_TRUE(wait_healthy(name)) << e.stderr_text();
        write_config(e.cfg, config_json(name, fleet->port(), many));
        const auto [status, said] = reload_command(name);
        ASSERT_EQ(status, 0) << said << e.stderr_text();
        EXPECT_TRUE(temporaries().empty()) << "a new engine removes what the killed one left";
        write_config(e.cfg, config_json(name, fleet->port(), fewer));
        ASSERT_EQ(::kill(e.child.pid, SIGHUP), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        ::kill(e.child.pid, SIGKILL);
        ::waitpid(e.child.pid, nullptr, 0);
        e.child.pid = -1;
        const report::Snapshot s = snapshot_of(name);
        ASSERT_NE(s.info, nullptr) << "after " << delay_ms << " ms: no whole report at the name";
        EXPECT_TRUE(s.states.size() == many.size() || s.states.size() == fewer.size())
            << s.states.size() << " rows after " << delay_ms << " ms";
    }
    // The lock went with the killed engine; the next one starts and sweeps.
    Engine last = Engine::spawn(name, fleet->port(), {});
    ASSERT_GT(last.child.pid, 0);
    EXPECT_TRUE(wait_healthy(name)) << last.stderr_text();
    EXPECT_TRUE(temporaries().empty());
}

TEST(RunService, AStormOfHupsLeavesTheLastConfigurationAppliedAndNoRowUnknown) {
    // 100 HUPs a second for 10 s while the file changes between two configurations; the server
    // both keep (.1) never leaves Healthy, and the engine ends on the last one written.
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("storm");
    Engine e = Engine::spawn(name, fleet->port(), {});
    ASSERT_GT(e.child.pid, 0);
    ASSERT_TRUE(wait_healthy(name)) << e.stderr_text();
    const std::string a = config_json(name, fleet->port());
    const std::string b = config_json(name, fleet->port(), {"127.1.32.1", "127.1.32.3"});
    int unknown_seen = 0;
    for (int i = 0; i < 1000; ++i) {
        if (i % 30 == 0) {
            write_config(e.cfg, (i / 30) % 2 == 0 ? b : a);
        }
        ASSERT_EQ(::kill(e.child.pid, SIGHUP), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (i % 10 == 0) {
            const report::Snapshot s = snapshot_of(name);
            const auto* kept = s.info != nullptr ? row_of(s, "127.1.32.1") : nullptr;
            if (kept == nullptr || static_cast<Health>(kept->health) != Health::Healthy) {
                unknown_seen += 1;
            }
        }
    }
    EXPECT_EQ(unknown_seen, 0) << "the kept server's row left Healthy during the storm";
    write_config(e.cfg, b);
    const auto [status, said] = reload_command(name);
    EXPECT_EQ(status, 0) << said;
    ASSERT_TRUE(e.alive()) << e.stderr_text();
    const report::Snapshot s = snapshot_of(name);
    ASSERT_NE(s.info, nullptr);
    EXPECT_NE(row_of(s, "127.1.32.3"), nullptr);
    EXPECT_EQ(row_of(s, "127.1.32.2"), nullptr);
    EXPECT_TRUE(wait_healthy(name));
}

TEST(RunService, SignalsForOtherPurposesNeverEndTheEngine) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("signals");
    Engine e = Engine::spawn(name, fleet->port(), {});
    ASSERT_GT(e.child.pid, 0);
    ASSERT_TRUE(wait_healthy(name)) << e.stderr_text();
    for (int sig : {SIGHUP, SIGUSR2, SIGALRM, SIGPIPE}) {
        ASSERT_EQ(::kill(e.child.pid, sig), 0);
    }
    // Each signal is handled within one heartbeat (100 ms); allow several.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_TRUE(e.alive()) << e.stderr_text();
    EXPECT_TRUE(both_healthy(name)) << "the rows lost their verdicts";
    auto rep = report::Report::open(name);
    ASSERT_TRUE(rep);
    EXPECT_EQ(rep->snapshot({}).engine, report::EngineState::Live);
    const int status = e.stop();
    ASSERT_NE(status, -1);
    EXPECT_TRUE(WIFEXITED(status)) << "ended by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    const std::string err = e.stderr_text();
    // HUP reloads: the file has not changed, so nothing does.
    EXPECT_NE(err.find("reload applied: the configuration is unchanged"), std::string::npos) << err;
    EXPECT_NE(err.find("SIGUSR2 ignored"), std::string::npos) << err;
    EXPECT_NE(err.find("SIGALRM ignored"), std::string::npos) << err;
}

TEST(RunService, ASecondEngineWithTheSameNameExitsAndLeavesTheFirstAlone) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("claim");
    Engine first = Engine::spawn(name, fleet->port(), {});
    ASSERT_GT(first.child.pid, 0);
    ASSERT_TRUE(wait_healthy(name)) << first.stderr_text();

    Engine second = Engine::spawn(name, fleet->port(), {});
    ASSERT_GT(second.child.pid, 0);
    const int status = second.child.wait_exit(std::chrono::seconds(3));
    ASSERT_NE(status, -1) << "the second engine did not exit";
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 1);
    const std::string said =
        "report " + name + " is in use by engine pid " + std::to_string(first.child.pid);
    EXPECT_NE(second.stderr_text().find(said), std::string::npos) << second.stderr_text();

    // The first engine's segment is still its own and live.
    EXPECT_TRUE(first.alive());
    auto rep = report::Report::open(name);
    ASSERT_TRUE(rep);
    const auto s = rep->snapshot({});
    EXPECT_EQ(s.engine, report::EngineState::Live);
    EXPECT_EQ(s.info->header.engine_pid, first.child.pid);
    EXPECT_TRUE(both_healthy(name));

    // An engine killed outright leaves no claim behind: the next one starts.
    ::kill(first.child.pid, SIGKILL);
    ::waitpid(first.child.pid, nullptr, 0);
    Engine third = Engine::spawn(name, fleet->port(), {});
    ASSERT_GT(third.child.pid, 0);
    EXPECT_TRUE(wait_healthy(name)) << third.stderr_text();
    EXPECT_TRUE(third.alive()) << third.stderr_text();
}

// A datagram socket standing in for systemd's notify socket.
struct NotifySocket {
    int fd = -1;
    std::string path;

    NotifySocket() {
        path = "/tmp/rp-notify-" + std::to_string(::getpid()) + ".sock";
        ::unlink(path.c_str());
        fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        path.copy(a.sun_path, sizeof a.sun_path - 1);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd);
            fd = -1;
        }
    }
    ~NotifySocket() {
        if (fd >= 0) {
            ::close(fd);
        }
        ::unlink(path.c_str());
    }
    // Every message that arrives within `ms`, in order.
    std::vector<std::string> read_for(int ms) const {
        std::vector<std::string> got;
        const auto until = Clock::now() + std::chrono::milliseconds(ms);
        while (Clock::now() < until) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count()) + 1) <= 0) {
                continue;
            }
            char buf[4096];
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                got.emplace_back(buf, static_cast<std::size_t>(n));
            }
        }
        return got;
    }
};

int count_with(const std::vector<std::string>& msgs, const std::string& what) {
    int n = 0;
    for (const std::string& m : msgs) {
        n += m.find(what) != std::string::npos ? 1 : 0;
    }
    return n;
}

TEST(RunService, TellsTheServiceManagerReadyStatusWatchdogAndStopping) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    NotifySocket sock;
    ASSERT_GE(sock.fd, 0) << "cannot bind " << sock.path;
    const std::string name = testing::unique_name("notify");
    // A 400 ms watchdog: fed every 200 ms or so while the workers turn.
    Engine e =
        Engine::spawn(name, fleet->port(), {"NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=400000"});
    ASSERT_GT(e.child.pid, 0);
    const std::vector<std::string> first = sock.read_for(1500);
    EXPECT_EQ(count_with(first, "READY=1"), 1) << e.stderr_text();
    EXPECT_EQ(count_with(first, "STATUS=probing 2 targets for 2 rows with 2 workers"), 1);
    // READY comes after the report exists: the segment is there by then.
    EXPECT_TRUE(report::Report::open(name).has_value());
    const std::vector<std::string> later = sock.read_for(1500);
    EXPECT_GE(count_with(later, "WATCHDOG=1"), 3) << "the watchdog is not fed while workers run";
    EXPECT_LE(count_with(later, "WATCHDOG=1"), 8) << "fed far more often than half its period";
    const int status = e.stop();
    ASSERT_NE(status, -1);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(count_with(sock.read_for(200), "STOPPING=1"), 1);
}

}  // namespace
}  // namespace ringprobe
