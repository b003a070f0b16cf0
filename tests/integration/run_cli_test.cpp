// Runs the real `ringprobe run` binary against the real fleet on loopback. It proves the
// command's contract: a configuration in the gateway's shape is probed and published under
// --name; every health transition is logged as one logfmt line; SIGTERM stops it cleanly in
// under a second with exit status 0 and the report marked stopped; a broken configuration is
// refused whole with exit status 2, the JSON path in the message, and no report created.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "report/reader.hpp"
#include "support/fleet_process.hpp"
#include "support/unique_name.hpp"

namespace ringprobe {
namespace {

using Clock = std::chrono::steady_clock;

std::string config_json(const std::string& name, unsigned port, const std::string& interval) {
    const std::string gw = "/subscriptions/x/resourceGroups/rg/providers/"
                           "Microsoft.Network/applicationGateways/" + name;
    std::ostringstream o;
    o << R"({"name": ")" << name << R"(", "properties": {
  "backendAddressPools": [{"name": "pool", "properties": {"backendAddresses": [
      {"ipAddress": "127.1.30.1"}, {"ipAddress": "127.1.30.2"}]}}],
  "backendHttpSettingsCollection": [{"name": "web", "properties": {"port": )" << port
      << R"(, "protocol": "Http", "probe": {"id": ")" << gw << R"(/probes/health"}}}],
  "probes": [{"name": "health", "properties": {"protocol": "Http", "host": "example.test",
      "path": "/health", "interval": )" << interval << R"(, "timeout": 1, "unhealthyThreshold": 3,
      "ringprobe": {"intervalMs": 100, "timeoutMs": 100}}}],
  "requestRoutingRules": [{"name": "rule", "properties": {"ruleType": "Basic",
      "backendAddressPool": {"id": ")" << gw << R"(/backendAddressPools/pool"},
      "backendHttpSettings": {"id": ")" << gw << R"(/backendHttpSettingsCollection/web"}}}]
}})";
    return o.str();
}

struct Child {
    pid_t pid = -1;
    std::string err_path;
    std::string stderr_text() const {
        std::ifstream f(err_path);
        std::stringstream s;
        s << f.rdbuf();
        return s.str();
    }
};

Child spawn(const std::vector<std::string>& args, const std::string& err_path) {
    Child c;
    c.err_path = err_path;
    c.pid = ::fork();
    if (c.pid == 0) {
        const int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, 2);
        std::vector<char*> argv;
        for (const auto& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return c;
}

// Waits (bounded) for the child to exit; returns its status, or -1 on timeout.
int wait_exit(pid_t pid, std::chrono::milliseconds budget) {
    const auto until = Clock::now() + budget;
    while (Clock::now() < until) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            return status;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return -1;
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
    Child c = spawn({RINGPROBE_EXE, "run", "--config", cfg, "--workers", "2"},
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
    const int status = wait_exit(c.pid, std::chrono::seconds(3));
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    if (status == -1) {
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, nullptr, 0);
    }
    ASSERT_NE(status, -1) << "did not exit within 3 s of SIGTERM";
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_LT(took.count(), 1000);
    EXPECT_EQ(rep->snapshot({}).engine, report::EngineState::Stopped);

    const std::string err = c.stderr_text();
    EXPECT_NE(err.find("pool=pool setting=web server=127.1.30.1 old=Unknown new=Healthy reason=ok"),
              std::string::npos) << err;
    EXPECT_NE(err.find("server=127.1.30.2 old=Unknown new=Healthy"), std::string::npos) << err;
    ::unlink(cfg.c_str());
    ::unlink((cfg + ".stderr").c_str());
    ::unlink(("/dev/shm/ringprobe." + name).c_str());
}

TEST(RunCli, BrokenConfigurationIsRefusedWholeWithStatusTwo) {
    const std::string name = testing::unique_name("run-bad");
    const std::string cfg = write_temp(config_json(name, 8080, "0"), "bad");
    Child c = spawn({RINGPROBE_EXE, "run", "--config", cfg}, cfg + ".stderr");
    const int status = wait_exit(c.pid, std::chrono::seconds(5));
    ASSERT_NE(status, -1);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
    const std::string err = c.stderr_text();
    EXPECT_NE(err.find("interval"), std::string::npos) << err;
    EXPECT_NE(err.find("nothing started"), std::string::npos) << err;
    struct stat st{};
    EXPECT_NE(::stat(("/dev/shm/ringprobe." + name).c_str(), &st), 0)
        << "a refused configuration must not create a report";
    ::unlink(cfg.c_str());
    ::unlink((cfg + ".stderr").c_str());
}

}  // namespace
}  // namespace ringprobe
