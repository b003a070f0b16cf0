// Runs the real `ringprobe run` binary against the real fleet on loopback. It proves the
// command's contract: a configuration in the gateway's shape is probed and published under
// --name; every health transition is logged as one logfmt line; SIGTERM stops it cleanly (in
// under a second, bounded at three for sanitizer runs on a shared machine, the time printed)
// with exit status 0 and the report marked stopped, also with 2,000 targets whose
// hanging half holds a thousand probes in flight; a broken configuration is
// refused whole with exit status 2, the JSON path in the message, and no report created. The
// command line takes --flag=value as well as --flag value, and refuses an unknown flag or a bad
// value with exit status 2 and a message that names the flag. --listen serves on IPv6
// ([::1]:PORT) as well as IPv4, and --dns-server takes [::1]:53, ::1 and 127.0.0.1:5353. Pool
// members given as NIC IP configuration ids are probed at the addresses a --nics file gives,
// one that no file resolves reads Unknown (address_unknown), and an empty routed pool is a
// warning and a flagged pool in the report.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
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
using test::Child;

std::string config_json(const std::string& name, unsigned port, const std::string& interval) {
    const std::string gw =
        "/subscriptions/x/resourceGroups/rg/providers/"
        "Microsoft.Network/applicationGateways/" +
        name;
    std::ostringstream o;
    o << R"({"name": ")" << name << R"(", "properties": {
  "backendAddressPools": [{"name": "pool", "properties": {"backendAddresses": [
      {"ipAddress": "127.1.30.1"}, {"ipAddress": "127.1.30.2"}]}}],
  "backendHttpSettingsCollection": [{"name": "web", "properties": {"port": )"
      << port << R"(, "protocol": "Http", "probe": {"id": ")" << gw << R"(/probes/health"}}}],
  "probes": [{"name": "health", "properties": {"protocol": "Http", "host": "example.test",
      "path": "/health", "interval": )"
      << interval << R"(, "timeout": 1, "unhealthyThreshold": 3,
      "ringprobe": {"intervalMs": 100, "timeoutMs": 100}}}],
  "requestRoutingRules": [{"name": "rule", "properties": {"ruleType": "Basic",
      "backendAddressPool": {"id": ")"
      << gw << R"(/backendAddressPools/pool"},
      "backendHttpSettings": {"id": ")"
      << gw << R"(/backendHttpSettingsCollection/web"}}}]
}})";
    return o.str();
}

std::string write_temp(const std::string& text, const char* tag) {
    const std::string path = "/tmp/rp-run-test-" + std::to_string(::getpid()) + "-" + tag + ".json";
    std::ofstream(path) << text;
    return path;
}

TEST(RunCli, ProbesLogsTransitionsAndStopsOnSigtermWithinOneSecond) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("run");
    const std::string cfg = write_temp(config_json(name, fleet->port(), "1"), "ok");
    Child c =
        Child::spawn({RINGPROBE_EXE, "run", "--config", cfg, "--workers", "2", "--listen", "none"},
                     cfg + ".stderr");
    ASSERT_GT(c.pid, 0);
    // Wait (bounded) until both servers are Healthy in the published report.
    bool healthy = false;
    for (int i = 0; i < 300 && !healthy; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        auto rep = report::Report::open(name);
        if (!rep) {
            continue;
        }
        const auto s = rep->snapshot({});
        healthy = s.states.size() == 2 &&
                  static_cast<Health>(s.states[0].health) == Health::Healthy &&
                  static_cast<Health>(s.states[1].health) == Health::Healthy;
    }
    EXPECT_TRUE(healthy) << c.stderr_text();
    auto rep = report::Report::open(name);
    ASSERT_TRUE(rep);

    const auto t0 = Clock::now();
    ASSERT_EQ(::kill(c.pid, SIGTERM), 0);
    const int status = c.wait_exit(std::chrono::seconds(3));
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    ASSERT_NE(status, -1) << "did not exit within 3 s of SIGTERM";
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // The claim is one second; the bound is three, as in the test with a thousand probes
    // hanging below, for a run under AddressSanitizer on a shared machine. Printed so a slow
    // stop is visible even when it passes.
    std::printf("SIGTERM to exit: %lld ms\n", static_cast<long long>(took.count()));
    EXPECT_LT(took.count(), 3000);
    EXPECT_EQ(rep->snapshot({}).engine, report::EngineState::Stopped);

    const std::string err = c.stderr_text();
    EXPECT_NE(err.find("pool=pool setting=web server=127.1.30.1 old=Unknown new=Healthy reason=ok"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("server=127.1.30.2 old=Unknown new=Healthy"), std::string::npos) << err;
    ::unlink(cfg.c_str());
    ::unlink((cfg + ".stderr").c_str());
    ::unlink(("/dev/shm/ringprobe." + name).c_str());
}

// Two pools of `per_pool` loopback servers each: "live" (127.2.0.0/16, the fleet answers 200)
// and "hanging" (127.3.0.0/16, the fleet accepts and never answers). Every first probe starts
// within 200 ms and a probe may wait 8 s, so a little after the start the hanging half is all in
// flight.
std::string load_config_json(const std::string& name, unsigned port, int per_pool) {
    const std::string gw =
        "/subscriptions/x/resourceGroups/rg/providers/"
        "Microsoft.Network/applicationGateways/" +
        name;
    std::ostringstream o;
    auto pool = [&](const char* pool_name, int second_octet) {
        o << R"({"name": ")" << pool_name << R"(", "properties": {"backendAddresses": [)";
        for (int i = 0; i < per_pool; ++i) {
            o << (i > 0 ? "," : "") << R"({"ipAddress": "127.)" << second_octet << '.' << i / 250
              << '.' << i % 250 + 1 << R"("})";
        }
        o << "]}}";
    };
    auto rule = [&](const char* rule_name, const char* pool_name) {
        o << R"({"name": ")" << rule_name << R"(", "properties": {"ruleType": "Basic",
      "backendAddressPool": {"id": ")"
          << gw << "/backendAddressPools/" << pool_name << R"("},
      "backendHttpSettings": {"id": ")"
          << gw << R"(/backendHttpSettingsCollection/web"}}})";
    };
    o << R"({"name": ")" << name << R"(", "properties": {
  "ringprobe": {"startSpreadMs": 200},
  "backendAddressPools": [)";
    pool("live", 2);
    o << ",";
    pool("hanging", 3);
    o << R"(],
  "backendHttpSettingsCollection": [{"name": "web", "properties": {"port": )"
      << port << R"(, "protocol": "Http", "probe": {"id": ")" << gw << R"(/probes/health"}}}],
  "probes": [{"name": "health", "properties": {"protocol": "Http", "host": "example.test",
      "path": "/health", "interval": 30, "timeout": 30, "unhealthyThreshold": 3,
      "ringprobe": {"intervalMs": 10000, "timeoutMs": 8000}}}],
  "requestRoutingRules": [)";
    rule("rule-live", "live");
    o << ",";
    rule("rule-hanging", "hanging");
    o << "]}}";
    return o.str();
}

// Raises RLIMIT_NOFILE's soft limit for this process (the fleet it starts inherits it) and puts
// it back when the test ends, however it ends.
struct NofileRaise {
    rlimit saved{};
    bool raised = false;
    explicit NofileRaise(rlim_t want) {
        if (::getrlimit(RLIMIT_NOFILE, &saved) != 0 || saved.rlim_cur >= want) {
            return;
        }
        rlimit more = saved;
        more.rlim_cur = std::min(want, saved.rlim_max);
        raised = ::setrlimit(RLIMIT_NOFILE, &more) == 0;
    }
    ~NofileRaise() {
        if (raised) {
            ::setrlimit(RLIMIT_NOFILE, &saved);
        }
    }
    static rlim_t soft() {
        rlimit now{};
        return ::getrlimit(RLIMIT_NOFILE, &now) == 0 ? now.rlim_cur : 0;
    }
};

TEST(RunCli, StopsOnSigtermWithAThousandProbesHangingInFlight) {
    constexpr int kPerPool = 1000;
    // The fleet holds a connection per hanging probe, plus the answered ones closing.
    NofileRaise limit(8192);
    if (NofileRaise::soft() < 4096) {
        GTEST_SKIP() << "RLIMIT_NOFILE's hard limit is under 4096: the fleet cannot hold "
                     << kPerPool << " hanging connections";
    }
    auto fleet = test::FleetProcess::start(
        R"({"default": {"kind": "http", "status": 200},
            "rules": [{"cidr": "127.3.0.0/16", "kind": "hang"}]})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("run-load");
    const std::string cfg = write_temp(load_config_json(name, fleet->port(), kPerPool), "load");
    Child c =
        Child::spawn({RINGPROBE_EXE, "run", "--config", cfg, "--workers", "2", "--listen", "none"},
                     cfg + ".stderr");
    ASSERT_GT(c.pid, 0);

    // Bounded wait until the live half is Healthy and the fleet holds the hanging half.
    int healthy = 0;
    std::uint64_t active = 0;
    for (int i = 0; i < 1500 && (healthy < kPerPool || active < kPerPool); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        auto rep = report::Report::open(name);
        if (!rep) {
            continue;
        }
        const auto s = rep->snapshot({});
        healthy = 0;
        for (const auto& st : s.states) {
            healthy += static_cast<Health>(st.health) == Health::Healthy ? 1 : 0;
        }
        auto stats = fleet->stats();
        active = stats ? (*stats)["active"] : 0;
    }
    ASSERT_EQ(healthy, kPerPool) << c.stderr_text();
    ASSERT_GE(active, std::uint64_t{kPerPool}) << "the hanging probes are not all in flight";
    auto rep = report::Report::open(name);
    ASSERT_TRUE(rep);
    std::uint64_t hanging_unknown = 0;
    for (const auto& st : rep->snapshot({}).states) {
        hanging_unknown += static_cast<Health>(st.health) == Health::Unknown ? 1 : 0;
    }
    EXPECT_EQ(hanging_unknown, std::uint64_t{kPerPool}) << "no hanging probe has timed out yet";

    const auto t0 = Clock::now();
    ASSERT_EQ(::kill(c.pid, SIGTERM), 0);
    const int status = c.wait_exit(std::chrono::seconds(5));
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    ASSERT_NE(status, -1) << "did not exit within 5 s of SIGTERM";
    std::printf("SIGTERM to exit with %d probes hanging: %lld ms\n", kPerPool,
                static_cast<long long>(took.count()));
    EXPECT_TRUE(WIFEXITED(status)) << "wait status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0) << c.stderr_text();
    // The claim is one second; the bound is three because this 2-core machine runs five builds
    // beside the suite and a stalled scheduler, not the engine, would make the difference. The
    // figure is printed so a slow stop is visible even when it passes.
    EXPECT_LT(took.count(), 3000);
    EXPECT_EQ(rep->snapshot({}).engine, report::EngineState::Stopped);
    ::unlink(cfg.c_str());
    ::unlink((cfg + ".stderr").c_str());
    ::unlink(("/dev/shm/ringprobe." + name).c_str());
}

TEST(RunCli, BrokenConfigurationIsRefusedWholeWithStatusTwo) {
    const std::string name = testing::unique_name("run-bad");
    const std::string cfg = write_temp(config_json(name, 8080, "0"), "bad");
    Child c =
        Child::spawn({RINGPROBE_EXE, "run", "--config", cfg, "--listen", "none"}, cfg + ".stderr");
    const int status = c.wait_exit(std::chrono::seconds(5));
    ASSERT_NE(status, -1);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
    const std::string err = c.stderr_text();
    EXPECT_NE(err.find("interval"), std::string::npos) << err;
    EXPECT_NE(err.find("nothing started"), std::string::npos) << err;
    struct stat st {};
    EXPECT_NE(::stat(("/dev/shm/ringprobe." + name).c_str(), &st), 0)
        << "a refused configuration must not create a report";
    ::unlink(cfg.c_str());
    ::unlink((cfg + ".stderr").c_str());
}

// The gateway's REST view of virtual machines in a pool: backendIPConfigurations ids only. Two
// are resolved by a --nics file (az network nic list output) to loopback addresses the fleet
// serves; the third is in no file. A second pool has no members but a rule routes to it.
std::string nic_config_json(const std::string& name, unsigned port) {
    const std::string gw =
        "/subscriptions/x/resourceGroups/rg/providers/"
        "Microsoft.Network/applicationGateways/" +
        name;
    const std::string nics =
        "/subscriptions/x/resourceGroups/rg/providers/"
        "Microsoft.Network/networkInterfaces/";
    std::ostringstream o;
    o << R"({"name": ")" << name << R"(", "properties": {
  "backendAddressPools": [
    {"name": "vms", "properties": {"backendIPConfigurations": [
      {"id": ")"
      << nics << R"(vm1-nic/ipConfigurations/ipconfig1"},
      {"id": ")"
      << nics << R"(VM2-NIC/ipConfigurations/ipconfig1"},
      {"id": ")"
      << nics << R"(vm3-nic/ipConfigurations/ipconfig1"}]}},
    {"name": "none", "properties": {"backendAddresses": []}}],
  "backendHttpSettingsCollection": [{"name": "web", "properties": {"port": )"
      << port << R"(, "protocol": "Http", "probe": {"id": ")" << gw << R"(/probes/health"}}}],
  "probes": [{"name": "health", "properties": {"protocol": "Http", "host": "example.test",
      "path": "/health", "interval": 1, "timeout": 1, "unhealthyThreshold": 3,
      "ringprobe": {"intervalMs": 100, "timeoutMs": 100}}}],
  "requestRoutingRules": [
    {"name": "rule", "properties": {"ruleType": "Basic",
      "backendAddressPool": {"id": ")"
      << gw << R"(/backendAddressPools/vms"},
      "backendHttpSettings": {"id": ")"
      << gw << R"(/backendHttpSettingsCollection/web"}}},
    {"name": "rule2", "properties": {"ruleType": "Basic",
      "backendAddressPool": {"id": ")"
      << gw << R"(/backendAddressPools/none"},
      "backendHttpSettings": {"id": ")"
      << gw << R"(/backendHttpSettingsCollection/web"}}}]
}})";
    return o.str();
}

std::string nics_json(int count = 2) {
    const std::string nics =
        "/subscriptions/x/resourceGroups/rg/providers/"
        "Microsoft.Network/networkInterfaces/";
    std::ostringstream o;
    o << "[";
    for (int i = 1; i <= count; ++i) {
        o << (i > 1 ? "," : "") << R"({"name": "vm)" << i << R"(-nic", "id": ")" << nics << "vm"
          << i << R"(-nic", "type": "Microsoft.Network/networkInterfaces",
  "ipConfigurations": [{"name": "ipconfig1", "id": ")"
          << nics << "vm" << i
          << R"(-nic/ipConfigurations/ipconfig1", "privateIPAddress": "127.1.31.)" << i
          << R"(", "privateIPAddressVersion": "IPv4"}]})";
    }
    o << "]";
    return o.str();
}

TEST(RunCli, NicMembersAreProbedAndAnUnresolvedOneReadsUnknown) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("run-nic");
    const std::string cfg = write_temp(nic_config_json(name, fleet->port()), "nic");
    const std::string nics = write_temp(nics_json(), "nics");
    Child c = Child::spawn({RINGPROBE_EXE, "run", "--config", cfg, "--nics=" + nics, "--workers",
                            "1", "--listen", "none"},
                           cfg + ".stderr");
    ASSERT_GT(c.pid, 0);
    // Rows by server address: the two resolved NICs Healthy, the third Unknown.
    auto health_of = [](const report::Snapshot& s, std::string_view address) {
        for (const auto& r : s.info->rows) {
            if (s.info->str(s.info->servers[r.server_index].address) == address) {
                return std::pair{static_cast<Health>(s.states[r.target_index].health),
                                 static_cast<Reason>(s.states[r.target_index].reason)};
            }
        }
        return std::pair{Health::Unknown, Reason::Pending};
    };
    const std::string unresolved =
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/"
        "vm3-nic/ipConfigurations/ipconfig1";
    bool done = false;
    for (int i = 0; i < 300 && !done; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        auto rep = report::Report::open(name);
        if (!rep) {
            continue;
        }
        const auto s = rep->snapshot({});
        done = s.info->rows.size() == 3 && health_of(s, "127.1.31.1").first == Health::Healthy &&
               health_of(s, "127.1.31.2").first == Health::Healthy &&
               health_of(s, unresolved).second == Reason::AddressUnknown;
    }
    EXPECT_TRUE(done) << c.stderr_text();
    auto rep = report::Report::open(name);
    ASSERT_TRUE(rep);
    const auto s = rep->snapshot({});
    EXPECT_EQ(health_of(s, unresolved).first, Health::Unknown);
    ASSERT_EQ(s.info->pools.size(), 2u);
    EXPECT_EQ(s.info->pools[1].flags, report_abi::kPoolEmptyRouted);
    for (const auto& sv : s.info->servers) {
        EXPECT_EQ(s.info->str(sv.ip_configuration), "ipconfig1");
    }

    ASSERT_EQ(::kill(c.pid, SIGTERM), 0);
    const int status = c.wait_exit(std::chrono::seconds(3));
    EXPECT_NE(status, -1);
    const std::string err = c.stderr_text();
    EXPECT_NE(err.find("warning: pool \"none\" has no members"), std::string::npos) << err;
    EXPECT_NE(err.find("pool=vms setting=web server=127.1.31.2 old=Unknown new=Healthy"),
              std::string::npos)
        << err;
    ::unlink(cfg.c_str());
    ::unlink(nics.c_str());
    ::unlink((cfg + ".stderr").c_str());
    ::unlink(("/dev/shm/ringprobe." + name).c_str());
}

// A scale set grows: the operator saves `az vmss nic list` again and reloads. The --nics file is
// read again with the configuration, so the member no file named before is probed now, and the
// two members that were there keep their rows' health and their probe totals.
TEST(RunCli, ReloadReadsTheNicsFileAgain) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("run-nic-reload");
    const std::string cfg = write_temp(nic_config_json(name, fleet->port()), "nic-reload");
    const std::string nics = write_temp(nics_json(2), "nics-reload");
    Child c = Child::spawn({RINGPROBE_EXE, "run", "--config", cfg, "--nics=" + nics, "--workers",
                            "1", "--listen", "none"},
                           cfg + ".stderr");
    ASSERT_GT(c.pid, 0);
    struct Row {
        Health health = Health::Unknown;
        Reason reason = Reason::Pending;
        std::uint64_t probes = 0;
        std::uint64_t changed_ns = 0;
    };
    auto row_of = [](const report::Snapshot& s, std::string_view address) {
        for (const auto& r : s.info->rows) {
            if (s.info->str(s.info->servers[r.server_index].address) == address) {
                const auto& st = s.states[r.target_index];
                return Row{static_cast<Health>(st.health), static_cast<Reason>(st.reason),
                           st.total_probes, st.last_change_unix_ns};
            }
        }
        return Row{};
    };
    auto wait_for = [&](auto ready) {
        return test::wait_for_report(name, ready, std::chrono::seconds(5));
    };
    const std::string vm3 =
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/"
        "vm3-nic/ipConfigurations/ipconfig1";
    auto before = wait_for([&](const report::Snapshot& s) {
        return row_of(s, "127.1.31.1").health == Health::Healthy &&
               row_of(s, "127.1.31.2").health == Health::Healthy &&
               row_of(s, vm3).reason == Reason::AddressUnknown;
    });
    ASSERT_TRUE(before) << c.stderr_text();
    const std::uint64_t generation = before->info->header.generation;
    const Row kept = row_of(*before, "127.1.31.2");

    {
        std::ofstream f(nics, std::ios::trunc);
        f << nics_json(3);
    }
    ASSERT_EQ(::kill(c.pid, SIGHUP), 0);
    auto after = wait_for([&](const report::Snapshot& s) {
        return s.info->header.generation == generation + 1 &&
               row_of(s, "127.1.31.3").health == Health::Healthy;
    });
    EXPECT_TRUE(after) << c.stderr_text();
    if (after) {
        EXPECT_EQ(after->info->rows.size(), 3u);
        EXPECT_EQ(row_of(*after, vm3).reason, Reason::Pending) << "no row for the id is left";
        const Row now = row_of(*after, "127.1.31.2");
        EXPECT_EQ(now.health, Health::Healthy);
        EXPECT_EQ(now.changed_ns, kept.changed_ns) << "the kept row did not change health";
        EXPECT_GE(now.probes, kept.probes) << "the kept row kept its totals";
    }
    ASSERT_EQ(::kill(c.pid, SIGTERM), 0);
    const int status = c.wait_exit(std::chrono::seconds(3));
    EXPECT_NE(status, -1);
    const std::string err = c.stderr_text();
    EXPECT_NE(err.find("reload applied"), std::string::npos) << err;
    ::unlink(cfg.c_str());
    ::unlink(nics.c_str());
    ::unlink((cfg + ".stderr").c_str());
}

// Runs `ringprobe run ARGS...` to its end (bounded) and returns its exit status, -1 when it
// did not exit normally in time; *err gets its stderr.
int run_to_exit(std::vector<std::string> args, const char* tag, std::string* err) {
    const std::string err_path =
        "/tmp/rp-run-test-" + std::to_string(::getpid()) + "-" + tag + ".stderr";
    args.insert(args.begin(), {RINGPROBE_EXE, "run"});
    Child c = Child::spawn(args, err_path);
    const int status = c.wait_exit(std::chrono::seconds(10));
    *err = c.stderr_text();
    ::unlink(err_path.c_str());
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(RunCli, FlagEqualsValueMeansTheSameAsFlagThenValue) {
    const std::string name = testing::unique_name("run-eq");
    const std::string cfg = write_temp(config_json(name, 1, "1"), "eq");
    std::string err;
    EXPECT_EQ(run_to_exit({"--config=" + cfg, "--workers=1", "--duration=1", "--listen=none",
                           "--dns-family=ipv4", "--stats", "--quiet"},
                          "eq", &err),
              0)
        << err;
    EXPECT_NE(err.find("stats: workers=1 "), std::string::npos) << err;
    ::unlink(cfg.c_str());
    ::unlink(("/dev/shm/ringprobe." + name).c_str());
}

TEST(RunCli, UnknownFlagExitsTwoNamingIt) {
    std::string err;
    EXPECT_EQ(run_to_exit({"--config", "/nonexistent.json", "--wrokers", "2"}, "unknown", &err), 2);
    EXPECT_NE(err.find("ringprobe run: "), std::string::npos) << err;
    EXPECT_NE(err.find("--wrokers"), std::string::npos) << err;
}

TEST(RunCli, BadValueExitsTwoNamingTheFlag) {
    std::string err;
    EXPECT_EQ(run_to_exit({"--config", "/nonexistent.json", "--workers", "0"}, "bad", &err), 2);
    EXPECT_NE(err.find("ringprobe run: --workers: "), std::string::npos) << err;
    EXPECT_EQ(run_to_exit({"--config", "/nonexistent.json", "--turn-chunk=many"}, "bad", &err), 2);
    EXPECT_NE(err.find("ringprobe run: --turn-chunk: "), std::string::npos) << err;
    EXPECT_EQ(run_to_exit({"--config", "/nonexistent.json", "--dns-family", "ipx"}, "bad", &err),
              2);
    EXPECT_NE(err.find("ringprobe run: --dns-family: "), std::string::npos) << err;
    EXPECT_EQ(run_to_exit({"--config", "/nonexistent.json", "--listen", "loopback"}, "bad", &err),
              2);
    EXPECT_NE(err.find("ringprobe run: --listen: "), std::string::npos) << err;
    EXPECT_EQ(run_to_exit({"--workers", "2"}, "bad", &err), 2);
    EXPECT_NE(err.find("--config"), std::string::npos) << err;
}

// One GET over IPv6 loopback; returns what the server answered (empty when it could not connect).
std::string get_over_ipv6_loopback(std::uint16_t port, const char* path) {
    const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    sa.sin6_addr = in6addr_loopback;
    std::string answer;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
        const std::string req = std::string("GET ") + path + " HTTP/1.0\r\n\r\n";
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
            char buf[4096];
            for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
                answer.append(buf, static_cast<std::size_t>(n));
            }
        }
    }
    ::close(fd);
    return answer;
}

TEST(RunCli, ListenServesTheExporterOnIpv6Loopback) {
    const std::string name = testing::unique_name("run-v6");
    const std::string cfg = write_temp(config_json(name, 1, "1"), "v6");
    Child c = Child::spawn(
        {RINGPROBE_EXE, "run", "--config", cfg, "--workers=1", "--quiet", "--listen=[::1]:0"},
        cfg + ".stderr");
    ASSERT_GT(c.pid, 0);
    const std::string prefix = "exporter on http://[::1]:";
    std::uint16_t port = 0;
    for (int i = 0; i < 500 && port == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        const std::string err = c.stderr_text();
        if (const std::size_t at = err.find(prefix); at != std::string::npos) {
            port = static_cast<std::uint16_t>(std::stoul(err.substr(at + prefix.size())));
        }
    }
    EXPECT_NE(port, 0) << c.stderr_text();
    if (port != 0) {
        EXPECT_EQ(get_over_ipv6_loopback(port, "/metrics").rfind("HTTP/1.1 200", 0), 0u);
    }
    ::kill(c.pid, SIGTERM);
    const int status = c.wait_exit(std::chrono::seconds(3));
    EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << c.stderr_text();
    ::unlink(cfg.c_str());
    ::unlink((cfg + ".stderr").c_str());
    ::unlink(("/dev/shm/ringprobe." + name).c_str());
}

// The configuration has no FQDN server, so no lookup is sent: this checks the command line only.
TEST(RunCli, DnsServerTakesIpv4AndIpv6FormsAndRefusesANameWithStatusTwo) {
    const std::string name = testing::unique_name("run-dns");
    const std::string cfg = write_temp(config_json(name, 1, "1"), "dns");
    for (const std::string server : {"[::1]:53", "::1", "127.0.0.1:5353", "127.0.0.53"}) {
        std::string err;
        EXPECT_EQ(run_to_exit({"--config", cfg, "--duration=1", "--listen=none", "--quiet",
                               "--dns-server=" + server},
                              "dns", &err),
                  0)
            << server << ": " << err;
    }
    for (const std::string server : {"localhost:53", "[::1", "127.0.0.1:99999"}) {
        std::string err;
        EXPECT_EQ(
            run_to_exit({"--config", cfg, "--listen=none", "--dns-server", server}, "dns", &err), 2)
            << server;
        EXPECT_NE(err.find("ringprobe run: --dns-server: "), std::string::npos) << err;
    }
    ::unlink(cfg.c_str());
    ::unlink(("/dev/shm/ringprobe." + name).c_str());
}

}  // namespace
}  // namespace ringprobe
