// Runs the real `ringprobe check` binary against the real fleet on loopback. It proves the
// command's contract: for healthy, refused, 503 and wrong-body backends, `check --config F
// --server A` gives the same reason as the engine's own row for that server (`ringprobe run`
// on the same configuration, read back from its report) and exits 0 for Healthy, 1 for
// Unhealthy; a URL probes the same way, with --expect and --body taking the place of the
// configuration's match; the table names the reason's sentence and the phase timings and ends
// with one status line (verdict, reason, HTTP status, time, what was probed), which JSON and a
// stderr that is not a terminal never get; and bad
// usage (a malformed URL, an unknown scheme, a port out of range, an unreadable root file, a
// server no row probes) exits 2 naming the problem.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "report/names.hpp"
#include "report/reader.hpp"
#include "support/fleet_process.hpp"
#include "support/unique_name.hpp"

namespace ringprobe {
namespace {

using Clock = std::chrono::steady_clock;

struct Ran {
    int status = -1;  // exit status; -1 when it had to be killed
    std::string out;
    std::string err;
};

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string temp_path(const std::string& tag) {
    return "/tmp/rp-check-test-" + std::to_string(::getpid()) + "-" + tag;
}

// Runs the binary with args, its stdout and stderr into files; kills it (by its PID) if it has
// not exited within the budget.
Ran run(const std::vector<std::string>& args, const std::string& tag,
        std::chrono::milliseconds budget = std::chrono::milliseconds(20000)) {
    const std::string out_path = temp_path(tag + ".out");
    const std::string err_path = temp_path(tag + ".err");
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(out, 1);
        ::dup2(err, 2);
        std::vector<char*> argv;
        for (const auto& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    Ran r;
    const auto until = Clock::now() + budget;
    int status = 0;
    bool exited = false;
    while (Clock::now() < until) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!exited) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    } else if (WIFEXITED(status)) {
        r.status = WEXITSTATUS(status);
    }
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    ::unlink(out_path.c_str());
    ::unlink(err_path.c_str());
    return r;
}

Ran check(std::vector<std::string> args, const std::string& tag) {
    args.insert(args.begin(), {RINGPROBE_EXE, "check"});
    return run(args, tag);
}

// A loopback port nothing listens on: the kernel's choice, given back at once.
std::uint16_t closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

constexpr const char* kFleet = R"({
  "default": {"kind": "http", "status": 200, "body": "all good: check-marker"},
  "rules": [
    {"cidr": "127.1.41.2/32", "kind": "http", "status": 503, "body": "check-marker"},
    {"cidr": "127.1.41.3/32", "kind": "http", "status": 200, "body": "something else"}
  ]
})";

// Pool "web" (port of the fleet): healthy, 503, wrong body; pool "down" (a closed port):
// refused. Each probe matches 200-399 and the body "check-marker".
std::string config_json(const std::string& name, std::uint16_t port, std::uint16_t closed) {
    const std::string gw =
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/" +
        name;
    std::ostringstream o;
    o << R"({"name": ")" << name << R"(", "properties": {
  "backendAddressPools": [
    {"name": "web", "properties": {"backendAddresses": [
      {"ipAddress": "127.1.41.1"}, {"ipAddress": "127.1.41.2"}, {"ipAddress": "127.1.41.3"}]}},
    {"name": "down", "properties": {"backendAddresses": [{"ipAddress": "127.1.41.4"}]}}],
  "backendHttpSettingsCollection": [
    {"name": "open", "properties": {"port": )"
      << port << R"(, "protocol": "Http", "probe": {"id": ")" << gw << R"(/probes/health"}}},
    {"name": "closed", "properties": {"port": )"
      << closed << R"(, "protocol": "Http", "probe": {"id": ")" << gw << R"(/probes/health"}}}],
  "probes": [{"name": "health", "properties": {"protocol": "Http", "host": "check.test",
      "path": "/health", "interval": 1, "timeout": 1, "unhealthyThreshold": 1,
      "match": {"statusCodes": ["200-399"], "body": "check-marker"},
      "ringprobe": {"intervalMs": 200, "timeoutMs": 500}}}],
  "requestRoutingRules": [
    {"name": "r1", "properties": {"ruleType": "Basic",
      "backendAddressPool": {"id": ")"
      << gw << R"(/backendAddressPools/web"},
      "backendHttpSettings": {"id": ")"
      << gw << R"(/backendHttpSettingsCollection/open"}}},
    {"name": "r2", "properties": {"ruleType": "Basic",
      "backendAddressPool": {"id": ")"
      << gw << R"(/backendAddressPools/down"},
      "backendHttpSettings": {"id": ")"
      << gw << R"(/backendHttpSettingsCollection/closed"}}}]
}})";
    return o.str();
}

std::string write_temp(const std::string& text, const std::string& tag) {
    const std::string path = temp_path(tag + ".json");
    std::ofstream(path) << text;
    return path;
}

// The reason code of the first `"reason": "..."` in the JSON of one row.
std::string reason_in(const std::string& json) {
    const std::string key = "\"reason\": \"";
    const std::size_t at = json.find(key);
    if (at == std::string::npos) {
        return "";
    }
    const std::size_t from = at + key.size();
    return json.substr(from, json.find('"', from) - from);
}

// The engine's own reason for each server, from `ringprobe run` on the same configuration.
std::map<std::string, std::string> engine_reasons(const std::string& cfg, const std::string& name) {
    std::map<std::string, std::string> out;
    const Ran ran = run({RINGPROBE_EXE, "run", "--config", cfg, "--name", name, "--duration", "2",
                         "--listen", "none", "--quiet", "--workers", "1"},
                        "engine");
    EXPECT_EQ(ran.status, 0) << ran.err;
    auto rep = report::Report::open(name);
    if (!rep) {
        ADD_FAILURE() << rep.error().message;
        return out;
    }
    const report::Snapshot s = rep->snapshot({});
    for (std::size_t r = 0; r < s.info->rows.size(); ++r) {
        const auto& row = s.info->rows[r];
        const std::string server(s.info->str(s.info->servers[row.server_index].address));
        out[server] = reason_info(static_cast<Reason>(s.states[row.target_index].reason)).code;
    }
    ::unlink(report::segment_path(name).c_str());
    return out;
}

TEST(CheckCli, AConfigurationRowGivesTheEngineRowsReasonAndExitStatus) {
    auto fleet = test::FleetProcess::start(kFleet);
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string name = testing::unique_name("check-rows");
    const std::string cfg = write_temp(config_json(name, fleet->port(), closed_port()), "rows");
    const std::map<std::string, std::string> engine = engine_reasons(cfg, name);
    const std::map<std::string, std::pair<std::string, int>> want = {
        {"127.1.41.1", {"ok", 0}},
        {"127.1.41.2", {"status_mismatch", 1}},
        {"127.1.41.3", {"body_mismatch", 1}},
        {"127.1.41.4", {"connect_refused", 1}},
    };
    for (const auto& [server, expect] : want) {
        const Ran r = check({"--config", cfg, "--server", server, "--format", "json"}, "row");
        EXPECT_EQ(r.status, expect.second) << server << "\n" << r.out << r.err;
        EXPECT_EQ(reason_in(r.out), expect.first) << server << "\n" << r.out;
        ASSERT_TRUE(engine.count(server)) << server;
        EXPECT_EQ(reason_in(r.out), engine.at(server)) << server << ": the engine's row differs";
    }
    ::unlink(cfg.c_str());
}

TEST(CheckCli, AUrlIsProbedWithItsExpectAndBodyAndTheTableSaysWhy) {
    auto fleet = test::FleetProcess::start(kFleet);
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string port = std::to_string(fleet->port());
    Ran r = check({"http://127.1.41.1:" + port + "/health", "--body", "check-marker"}, "ok");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("connect"), std::string::npos) << r.out;  // the phase timings
    r = check({"http://127.1.41.2:" + port + "/"}, "503");
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("503"), std::string::npos) << r.out;
    r = check({"http://127.1.41.2:" + port + "/", "--expect", "200-399,503"}, "503-ok");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    r = check({"http://127.1.41.3:" + port + "/", "--body", "check-marker", "--format", "json"},
              "body");
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_EQ(reason_in(r.out), "body_mismatch") << r.out;
    r = check({"tcp://127.1.41.1:" + std::to_string(closed_port()), "--format", "json"}, "refused");
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_EQ(reason_in(r.out), "connect_refused") << r.out;
    r = check({"tcp://127.1.41.1:" + port}, "tcp");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
}

// The last line of a text.
std::string last_line(const std::string& text) {
    const std::size_t end = text.size() > 0 && text.back() == '\n' ? text.size() - 1 : text.size();
    const std::size_t begin = text.rfind('\n', end == 0 ? 0 : end - 1);
    return text.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin + 1));
}

TEST(CheckCli, TheTableEndsWithOneStatusLine) {
    auto fleet = test::FleetProcess::start(kFleet);
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string port = std::to_string(fleet->port());
    const std::string ok_url = "http://127.1.41.1:" + port + "/";
    Ran r = check({ok_url}, "status-ok");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    std::string line = last_line(r.out);
    EXPECT_EQ(line.rfind("Result: Healthy (ok, HTTP 200) in ", 0), 0u) << line;
    EXPECT_NE(line.find(" ms: " + ok_url), std::string::npos) << line;
    EXPECT_EQ(r.err, "") << "no progress line when stderr is not a terminal";

    const std::string bad_url = "http://127.1.41.2:" + port + "/";
    r = check({bad_url}, "status-503");
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_EQ(last_line(r.out).rfind("Result: Unhealthy (status_mismatch, HTTP 503) after ", 0), 0u)
        << r.out;

    const std::string name = testing::unique_name("check-status");
    const std::string cfg = write_temp(config_json(name, fleet->port(), closed_port()), "status");
    r = check({"--config", cfg, "--server", "127.1.41.4"}, "status-row");
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    line = last_line(r.out);
    EXPECT_EQ(line.rfind("Result: Unhealthy (connect_refused) after ", 0), 0u) << line;
    EXPECT_NE(line.find(": server 127.1.41.4 in pool down, setting "), std::string::npos) << line;

    r = check({ok_url, "--format", "json"}, "status-json");
    EXPECT_EQ(r.out.find("Result:"), std::string::npos) << "JSON stays one document: " << r.out;
    ::unlink(cfg.c_str());
}

// The fleet serving the committed test chains (docs/tls.md): a good one, an expired leaf, a
// leaf for another name; the root of all three is given with --trusted-root.
TEST(CheckCli, TlsBackendsGiveTheChainsReasonAndMarkTheFaultyPart) {
    const std::string dir = RP_TLS_FIXTURES;
    auto tls = [&dir](const char* chain, const char* key) {
        return R"({"kind": "http", "status": 200, "body": "ok", "tls": {"cert": ")" + dir + "/" +
               chain + R"(", "key": ")" + dir + "/" + key + R"("}})";
    };
    auto fleet = test::FleetProcess::start(
        R"({"default": )" + tls("good-chain.pem", "good.key") +
        R"(, "rules": [{"cidr": "127.1.42.2/32", "kind": "http", "status": 200, "body": "ok",
            "tls": {"cert": ")" +
        dir + R"(/expired-chain.pem", "key": ")" + dir + R"(/expired.key"}},
          {"cidr": "127.1.42.3/32", "kind": "http", "status": 200, "body": "ok",
            "tls": {"cert": ")" +
        dir + R"(/wrongname-chain.pem", "key": ")" + dir + R"(/good.key"}}]})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    const std::string port = std::to_string(fleet->port());
    const std::vector<std::string> common = {"--host", "good.ringprobe.test", "--trusted-root",
                                             dir + "/root.pem"};
    const std::vector<std::pair<std::string, std::pair<std::string, int>>> want = {
        {"127.1.42.1", {"ok", 0}},
        {"127.1.42.2", {"tls_expired", 1}},
        {"127.1.42.3", {"tls_name_mismatch", 1}},
    };
    for (const auto& [server, expect] : want) {
        std::vector<std::string> args = {"https://" + server + ":" + port + "/"};
        args.insert(args.end(), common.begin(), common.end());
        std::vector<std::string> json = args;
        json.insert(json.end(), {"--format", "json"});
        Ran r = check(json, "tls-json");
        EXPECT_EQ(r.status, expect.second) << server << "\n" << r.out << r.err;
        EXPECT_EQ(reason_in(r.out), expect.first) << server << "\n" << r.out;
        r = check(args, "tls-table");
        EXPECT_NE(r.out.find("chain"), std::string::npos) << server << "\n" << r.out;
        if (expect.second != 0) {
            EXPECT_NE(r.out.find("XX"), std::string::npos) << server << ": faulty part marked\n"
                                                           << r.out;
        }
    }
}

TEST(CheckCli, BadUsageExitsTwoNamingTheProblem) {
    const std::string cfg = write_temp("{}", "bad-usage");
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"127.0.0.1:80"}, "not a URL"},
        {{"ftp://127.0.0.1/"}, "unknown scheme 'ftp'"},
        {{"http://127.0.0.1:70000/"}, "'70000' is not a number from 1 to 65535"},
        {{"http://127.0.0.1:0/"}, "'0' is not a number from 1 to 65535"},
        {{"tcp://127.0.0.1"}, "needs a port"},
        {{"http://[::1/"}, "no closing ']'"},
        {{"http:///"}, "names no host"},
        {{"https://127.0.0.1/", "--trusted-root", "/nonexistent/root.pem"},
         "--trusted-root: cannot read '/nonexistent/root.pem'"},
        {{"http://127.0.0.1/", "--expect", "200-99"}, "--expect"},
        {{}, "give a URL"},
        {{"--config", cfg}, "--server"},
        {{"--config", cfg, "--server", "127.0.0.1"}, "does not load"},
        {{"http://127.0.0.1/", "--timeout-ms", "soon"}, "--timeout-ms"},
    };
    for (const auto& [args, says] : cases) {
        const Ran r = check(args, "usage");
        EXPECT_EQ(r.status, 2) << ::testing::PrintToString(args) << "\n" << r.err;
        EXPECT_NE(r.err.find(says), std::string::npos) << ::testing::PrintToString(args) << "\n"
                                                       << r.err;
    }
    ::unlink(cfg.c_str());
}

}  // namespace
}  // namespace ringprobe
