// Drives the real engine in-process against the real ringprobe-fleet on loopback, then reads
// each row's history back through the real ringprobe-report (path in RINGPROBE_REPORT). It
// proves:
//  - `--history SERVER` lists a row's results newest first, as many as the fleet counted
//    connections for that backend (every probe is one connection), at most 32;
//  - each line's reason is the backend's answer (ok for 200, status_mismatch for 503);
//  - `--format json --details` carries the same entries as `ringprobe.history`;
//  - a reload that keeps a target keeps its history, and the numbering goes on;
//  - an unknown server exits 2 naming it;
//  - a backend taken down at the fleet appears in `--events` with its reason, `--since` keeps
//    only the recent transitions, `--pool` narrows, and the exporter's /events serves JSON that
//    parses with the same transition;
//  - `--watch` prints the newest transitions under the table, and one that happens while it
//    runs shows in a later frame with its reason;
//  - a backend that alternates (a fleet flap) is flagged flapping within 32 probes: in the
//    state's flags, the table, `ringprobe.flapping` in the JSON and ringprobe_servers_flapping
//    on /metrics; a steady one is not.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <simdjson.h>

#include "exporter/exporter.hpp"
#include "report/reader.hpp"
#include "support/engine_harness.hpp"
#include "support/fleet_process.hpp"
#include "support/plan_builder.hpp"

namespace ringprobe {
namespace {

using testing::engine_options;
using testing::TargetSpec;

struct CliRun {
    int status = 0;
    std::string out;
    std::string err;
};

std::string slurp(int fd) {
    std::string s;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        s.append(buf, static_cast<std::size_t>(n));
    }
    return s;
}

// ringprobe-report with these arguments; killed by its alarm if it hangs.
CliRun report_cli(std::vector<std::string> args) {
    const char* exe = std::getenv("RINGPROBE_REPORT");
    EXPECT_NE(exe, nullptr);
    int out[2], err[2];
    EXPECT_EQ(::pipe(out), 0);
    EXPECT_EQ(::pipe(err), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::close(out[0]);
        ::close(err[0]);
        std::vector<char*> argv{const_cast<char*>(exe)};
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ::alarm(20);
        ::execv(exe, argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    CliRun r;
    r.out = slurp(out[0]);  // outputs are small: one pipe then the other cannot block
    r.err = slurp(err[0]);
    ::close(out[0]);
    ::close(err[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return r;
}

// The result lines of a --history table: those that start with two spaces and a year.
std::vector<std::string> result_lines(const std::string& out) {
    std::vector<std::string> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > 26 && line.compare(0, 4, "  20") == 0) {
            lines.push_back(line);
        }
    }
    return lines;
}

std::string server_of(const Target& t) {
    return t.address + ":" + std::to_string(t.port);
}

TEST(History, ReportHistoryListsEachProbeNewestFirstAsTheFleetCountedThem) {
    auto fleet = test::FleetProcess::start(
        R"({"default": {"kind": "http", "status": 200},
            "rules": [{"cidr": "127.1.30.2/32", "kind": "http", "status": 503}]})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    testing::add_target(plan, TargetSpec{.address = "127.1.30.1",
                                         .port = fleet->port(),
                                         .protocol = Protocol::Http,
                                         .interval_ms = 150,
                                         .timeout_ms = 100});
    testing::add_target(plan, TargetSpec{.address = "127.1.30.2",
                                         .port = fleet->port(),
                                         .protocol = Protocol::Http,
                                         .interval_ms = 40,
                                         .timeout_ms = 30});
    testing::EngineHarness run(plan, engine_options("history"));
    ASSERT_TRUE(fleet->counts(true));
    ASSERT_TRUE(run.start());
    // Target 1 wraps its ring (more than 32 results); target 0 does not.
    EXPECT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return s.states[0].total_probes >= 6 && s.states[1].total_probes >= 40;
        },
        std::chrono::seconds(20)));
    run.stop();
    const report::Snapshot s = run.snapshot();
    auto counts = fleet->counts(false);
    ASSERT_TRUE(counts);
    const std::string name = run.name();
    for (std::uint32_t t = 0; t < 2; ++t) {
        const std::string server = server_of(plan.targets[t]);
        const CliRun r = report_cli({"--name", name, "--history", server});
        ASSERT_EQ(r.status, 0) << r.err;
        const std::vector<std::string> lines = result_lines(r.out);
        const std::uint64_t probes = s.states[t].total_probes;
        EXPECT_EQ(lines.size(), std::min<std::uint64_t>(probes, 32)) << r.out;
        // The fleet counted each probe's connection; one still in flight at the stop may be
        // counted there and not in the report.
        const std::uint64_t at_fleet = (*counts)[server];
        EXPECT_GE(at_fleet, probes) << server;
        EXPECT_LE(at_fleet, probes + 1) << server;
        for (std::size_t k = 1; k < lines.size(); ++k) {
            EXPECT_GT(lines[k - 1].substr(2, 24), lines[k].substr(2, 24)) << "newest first";
        }
        const char* reason = t == 0 ? " ok " : " status_mismatch ";
        for (const std::string& line : lines) {
            EXPECT_NE(line.find(reason), std::string::npos) << line;
            EXPECT_NE(line.find(" new"), std::string::npos) << line;
        }
    }
    // The JSON carries the same entries.
    const CliRun j = report_cli({"--name", name, "--format", "json", "--details"});
    ASSERT_EQ(j.status, 0) << j.err;
    EXPECT_NE(j.out.find("\"history\": ["), std::string::npos);
    EXPECT_NE(j.out.find("\"connection\": \"new\""), std::string::npos);
    const CliRun none = report_cli({"--name", name, "--history", "127.9.9.9:1"});
    EXPECT_EQ(none.status, 2);
    EXPECT_NE(none.err.find("127.9.9.9:1"), std::string::npos) << none.err;
}

TEST(History, AReloadKeepsAKeptTargetsHistory) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    testing::add_target(plan, TargetSpec{.address = "127.1.31.1",
                                         .port = fleet->port(),
                                         .protocol = Protocol::Http,
                                         .interval_ms = 50,
                                         .timeout_ms = 40});
    testing::EngineHarness run(plan, engine_options("history-reload"));
    ASSERT_TRUE(run.start());
    report::SnapshotOptions with_history;
    with_history.history = true;
    ASSERT_TRUE(run.wait([](const report::Snapshot& s) { return s.states[0].total_probes >= 5; },
                         std::chrono::seconds(10)));
    const report::Snapshot before = run.snapshot(with_history);
    ASSERT_GE(before.history_of(0).size(), 5u);
    const std::uint64_t oldest_before = before.history_of(0).back().unix_ns;

    auto next = std::make_unique<Plan>(plan);
    testing::add_target(*next, TargetSpec{.address = "127.1.31.2",
                                          .port = fleet->port(),
                                          .protocol = Protocol::Http,
                                          .interval_ms = 50,
                                          .timeout_ms = 40});
    auto reloaded = run.reload(std::move(next));
    ASSERT_TRUE(reloaded) << reloaded.error().message;
    ASSERT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return s.states.size() == 2 && s.states[1].total_probes > 0;
        },
        std::chrono::seconds(10)));
    run.stop();
    const report::Snapshot after = run.snapshot(with_history);
    const auto h = after.history_of(0);
    ASSERT_GT(h.size(), before.history_of(0).size());
    EXPECT_EQ(h.back().unix_ns, oldest_before) << "the results before the reload are kept";
    for (std::size_t k = 1; k < h.size(); ++k) {
        EXPECT_EQ(h[k - 1].seq, h[k].seq + 2) << "numbered on without a gap";
    }
}

TEST(Events, ABackendTakenDownAppearsInEventsWithItsReason) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    for (unsigned i = 1; i <= 2; ++i) {
        testing::add_target(plan, TargetSpec{.address = "127.1.32." + std::to_string(i),
                                             .port = fleet->port(),
                                             .protocol = Protocol::Http,
                                             .interval_ms = 50,
                                             .timeout_ms = 40});
    }
    testing::EngineHarness run(plan, engine_options("events"));
    ASSERT_TRUE(run.start());
    exporter::ExporterOptions xo;
    xo.listen = exporter::ListenAddress{"127.0.0.1", 0};
    xo.report_name = run.name();
    auto x =
        exporter::Exporter::start(xo, {}, exporter::EngineFacts{2, run.engine().ring_mode(), 0});
    ASSERT_TRUE(x) << x.error().message;
    auto healthy = [](const report::Snapshot& s) {
        return s.states[0].health == static_cast<std::uint8_t>(Health::Healthy) &&
               s.states[1].health == static_cast<std::uint8_t>(Health::Healthy);
    };
    ASSERT_TRUE(run.wait(healthy, std::chrono::seconds(10)));
    ASSERT_TRUE(fleet->reload(
        R"({"default": {"kind": "http", "status": 200},
            "rules": [{"cidr": "127.1.32.2/32", "kind": "http", "status": 503}]})"));
    ASSERT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return s.states[1].health == static_cast<std::uint8_t>(Health::Unhealthy);
        },
        std::chrono::seconds(10)));
    const std::string down = server_of(plan.targets[1]);

    const CliRun r = report_cli({"--name", run.name(), "--events"});
    ASSERT_EQ(r.status, 0) << r.err;
    const std::size_t at = r.out.find(down + "  Healthy -> Unhealthy");
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(line.find("status_mismatch"), std::string::npos) << line;
    EXPECT_NE(line.find("HTTP 503"), std::string::npos) << line;
    EXPECT_NE(r.out.find("Unknown -> Healthy"), std::string::npos) << "first verdicts too";

    const CliRun now = report_cli({"--name", run.name(), "--events", "--since", "0s"});
    ASSERT_EQ(now.status, 0) << now.err;
    EXPECT_EQ(now.out.find("->"), std::string::npos) << "nothing happened since now: " << now.out;
    const CliRun hour = report_cli({"--name", run.name(), "--events", "--since", "1h"});
    EXPECT_NE(hour.out.find(down + "  Healthy -> Unhealthy"), std::string::npos) << hour.out;
    const CliRun bad = report_cli({"--name", run.name(), "--events", "--since", "ten"});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("--since"), std::string::npos) << bad.err;
    const CliRun other = report_cli({"--name", run.name(), "--events", "--pool", "nope"});
    EXPECT_EQ(other.out.find("->"), std::string::npos) << other.out;

    const CliRun j = report_cli({"--name", run.name(), "--events", "--format", "json"});
    ASSERT_EQ(j.status, 0) << j.err;
    const test::Exchange e = test::exchange("127.0.0.1", (*x)->port(),
                                            "GET /events HTTP/1.1\r\nConnection: close\r\n\r\n",
                                            std::chrono::milliseconds(10000));
    ASSERT_EQ(e.bytes.rfind("HTTP/1.1 200", 0), 0u) << e.bytes;
    const std::string body = e.bytes.substr(e.bytes.find("\r\n\r\n") + 4);
    for (const std::string* doc : {&j.out, &body}) {
        simdjson::dom::parser parser;
        simdjson::dom::element root;
        ASSERT_EQ(parser.parse(*doc).get(root), simdjson::SUCCESS) << *doc;
        bool found = false;
        for (simdjson::dom::element ev : root["events"].get_array()) {
            if (std::string_view(ev["server"].get_string()) == down &&
                std::string_view(ev["new"].get_string()) == "Unhealthy") {
                found = true;
                EXPECT_EQ(std::string_view(ev["reason"].get_string()), "status_mismatch");
                EXPECT_EQ(std::uint64_t(ev["httpStatus"].get_uint64()), 503u);
            }
        }
        EXPECT_TRUE(found) << *doc;
        EXPECT_EQ(std::uint64_t(root["overwritten"].get_uint64()), 0u);
    }
    x->reset();
    run.stop();
}

// ringprobe-report --watch with its stdout in a pipe; stopped by PID however the test ends.
class Watch {
public:
    explicit Watch(std::vector<std::string> args) {
        const char* exe = std::getenv("RINGPROBE_REPORT");
        EXPECT_NE(exe, nullptr);
        int out[2];
        EXPECT_EQ(::pipe(out), 0);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(out[1], 1);
            ::close(out[0]);
            std::vector<char*> argv{const_cast<char*>(exe)};
            for (auto& a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            ::alarm(60);  // a bound even if the test never stops it
            ::execv(exe, argv.data());
            ::_exit(127);
        }
        ::close(out[1]);
        fd_ = out[0];
    }
    ~Watch() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(fd_);
    }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    // Reads what it prints until done(output so far) or the budget runs out.
    bool read_until(const std::function<bool(const std::string&)>& done,
                    std::chrono::milliseconds budget) {
        const auto until = std::chrono::steady_clock::now() + budget;
        while (!done(out_)) {
            if (std::chrono::steady_clock::now() >= until) {
                return false;
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) > 0) {
                char buf[4096];
                const ssize_t n = ::read(fd_, buf, sizeof buf);
                if (n <= 0) {
                    return done(out_);
                }
                out_.append(buf, static_cast<std::size_t>(n));
            }
        }
        return true;
    }
    const std::string& out() const { return out_; }

private:
    pid_t pid_ = -1;
    int fd_ = -1;
    std::string out_;
};

TEST(Events, WatchShowsTheNewestTransitionsUnderTheTableAsTheyHappen) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    for (unsigned i = 1; i <= 2; ++i) {
        testing::add_target(plan, TargetSpec{.address = "127.1.33." + std::to_string(i),
                                             .port = fleet->port(),
                                             .protocol = Protocol::Http,
                                             .interval_ms = 50,
                                             .timeout_ms = 40});
    }
    testing::EngineHarness run(plan, engine_options("watch"));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return s.states[0].health == static_cast<std::uint8_t>(Health::Healthy) &&
                   s.states[1].health == static_cast<std::uint8_t>(Health::Healthy);
        },
        std::chrono::seconds(10)));
    const std::string down = server_of(plan.targets[1]);
    const std::string change = down + "  Healthy -> Unhealthy";

    Watch w({"--name", run.name(), "--watch"});
    const std::string heading = "Recent events (all of them: ringprobe-report --events)";
    ASSERT_TRUE(w.read_until(
        [&](const std::string& o) { return o.find("events shown;") != std::string::npos; },
        std::chrono::seconds(10)))
        << w.out();
    const std::string first = w.out();
    const std::size_t at = first.find(heading);
    ASSERT_NE(at, std::string::npos) << first;
    EXPECT_LT(first.find("127.1.33.1"), at) << "the table comes first: " << first;
    EXPECT_NE(first.find("Unknown -> Healthy", at), std::string::npos) << first;
    EXPECT_EQ(first.find(change), std::string::npos) << first;

    ASSERT_TRUE(fleet->reload(
        R"({"default": {"kind": "http", "status": 200},
            "rules": [{"cidr": "127.1.33.2/32", "kind": "http", "status": 503}]})"));
    ASSERT_TRUE(w.read_until(
        [&](const std::string& o) {
            const std::size_t c = o.find(change, first.size());
            return c != std::string::npos && o.find('\n', c) != std::string::npos;
        },
        std::chrono::seconds(15)))
        << w.out();
    const std::size_t c = w.out().find(change, first.size());
    const std::string line = w.out().substr(c, w.out().find('\n', c) - c);
    EXPECT_NE(line.find("status_mismatch"), std::string::npos) << line;
    EXPECT_NE(line.find("HTTP 503"), std::string::npos) << line;
    EXPECT_GT(c, w.out().rfind(heading, c)) << "under the frame's events heading";
    EXPECT_GT(w.out().rfind(heading, c), first.size()) << "in a later frame";
    run.stop();
}

TEST(Flapping, AnAlternatingBackendIsFlaggedWithin32Probes) {
    auto fleet = test::FleetProcess::start(
        R"({"default": {"kind": "http", "status": 200},
            "rules": [{"cidr": "127.1.33.2/32", "kind": "flap", "every": 1,
                       "a": {"kind": "http", "status": 200},
                       "b": {"kind": "http", "status": 503}}]})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    for (unsigned i = 1; i <= 2; ++i) {
        testing::add_target(plan, TargetSpec{.address = "127.1.33." + std::to_string(i),
                                             .port = fleet->port(),
                                             .protocol = Protocol::Http,
                                             .interval_ms = 40,
                                             .timeout_ms = 30,
                                             .healthy = 1,
                                             .unhealthy = 1});
    }
    testing::EngineHarness run(plan, engine_options("flapping"));
    ASSERT_TRUE(run.start());
    exporter::ExporterOptions xo;
    xo.listen = exporter::ListenAddress{"127.0.0.1", 0};
    xo.report_name = run.name();
    auto x =
        exporter::Exporter::start(xo, {}, exporter::EngineFacts{2, run.engine().ring_mode(), 0});
    ASSERT_TRUE(x) << x.error().message;
    std::uint64_t probes_when_flagged = 0;
    ASSERT_TRUE(run.wait(
        [&](const report::Snapshot& s) {
            const bool flagged = (s.states[1].flags & report_abi::kStateFlapping) != 0;
            if (flagged && probes_when_flagged == 0) {
                probes_when_flagged = s.states[1].total_probes;  // the first report that says so
            }
            return flagged && s.states[0].total_probes >= 40;
        },
        std::chrono::seconds(20)));
    const report::Snapshot s = run.snapshot();
    EXPECT_LE(probes_when_flagged, 32u);
    EXPECT_EQ(s.states[0].flags & report_abi::kStateFlapping, 0) << "the steady backend";

    const test::Exchange m = test::exchange("127.0.0.1", (*x)->port(),
                                            "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
                                            std::chrono::milliseconds(10000));
    EXPECT_NE(m.bytes.find("ringprobe_servers_flapping{pool=\"pool\"} 1"), std::string::npos)
        << m.bytes.substr(0, 4000);
    x->reset();
    run.stop();
}

TEST(Flapping, TheTableTheJsonAndTheSentenceSayIt) {
    auto fleet = test::FleetProcess::start(
        R"({"default": {"kind": "flap", "every": 1,
                        "a": {"kind": "http", "status": 200},
                        "b": {"kind": "http", "status": 503}}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    testing::add_target(plan, TargetSpec{.address = "127.1.34.1",
                                         .port = fleet->port(),
                                         .protocol = Protocol::Http,
                                         .interval_ms = 40,
                                         .timeout_ms = 30,
                                         .healthy = 1,
                                         .unhealthy = 1});
    testing::EngineHarness run(plan, engine_options("flapping-words"));
    ASSERT_TRUE(run.start());
    ASSERT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return (s.states[0].flags & report_abi::kStateFlapping) != 0;
        },
        std::chrono::seconds(20)));
    // The engine keeps running (its heartbeat is live only while ticked): the reader is run
    // while the report is fresh, well within the 3 s staleness bound.
    const CliRun t = report_cli({"--name", run.name()});
    const CliRun j = report_cli({"--name", run.name(), "--format", "json", "--details"});
    ASSERT_EQ(t.status, 0) << t.err;
    ASSERT_EQ(j.status, 0) << j.err;
    EXPECT_NE(t.out.find("flapping"), std::string::npos) << t.out;
    EXPECT_NE(j.out.find("\"flapping\": true"), std::string::npos) << j.out;
    EXPECT_NE(j.out.find("The server is flapping"), std::string::npos) << j.out;
    run.stop();
}

}  // namespace
}  // namespace ringprobe
