// Runs the real engine in-process against the real ringprobe-fleet on loopback, with the
// exporter serving its report, and talks to the exporter over real sockets. It proves:
//  - a live scrape of /metrics passes `promtool check metrics`, and the counters move as
//    probes run (completed probes, probes by pool/setting/reason, servers by health);
//  - /backendhealth is byte for byte what `ringprobe-report --format json` prints for the same
//    report (and ?details=1 what --details prints, the report's age aside);
//  - bad input is answered or closed as documented: unknown path 404, wrong method 405 with
//    Allow, an oversized head 431 then close, a body 400 then close, HTTP versions by the
//    documented rule (505 for another major version, 400 for no version), a slowloris client
//    cut off by the request deadline, an idle one by the idle deadline and a slow reader by the
//    write deadline, HEAD without a body, pipelined keep-alive requests answered in order;
//  - with no report under its name, /backendhealth is 503 with a JSON error;
//  - 10,000 idle connections neither stop a scrape (the longest-waiting are evicted) nor change
//    the probes' rate by more than 5 %;
//  - with Https targets against the fleet's TLS (the committed chains of tests/fixtures/tls),
//    full and resumed handshakes grow as probes run, the certificate expiry of each row is the
//    earliest notAfter of the chain it was served (the fixtures' dates, docs/tls.md), the scrape
//    still passes promtool, and the troubleshoot view marks the expired leaf;
//  - with an FQDN server (localhost, answered by the engine's resolver itself), DNS lookups
//    are counted by outcome and the troubleshoot view lists the address it was probed at.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "exporter/exporter.hpp"
#include "exporter/http_server.hpp"
#include "report/reader.hpp"
#include "support/engine_harness.hpp"
#include "support/fleet_process.hpp"
#include "support/plan_builder.hpp"

namespace ringprobe {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kFleet = R"({
  "default": {"kind": "http", "status": 200, "body": "ok"},
  "rules": [{"cidr": "127.1.41.0/26", "kind": "http", "status": 503, "body": "down"}]
})";

struct Reply {
    int status = 0;
    std::string head;
    std::string body;
    bool eof = false;
    bool timed_out = false;
};

Reply parse_reply(const test::Exchange& x) {
    Reply r;
    r.eof = x.eof;
    r.timed_out = x.timed_out;
    const std::size_t end = x.bytes.find("\r\n\r\n");
    r.head = x.bytes.substr(0, end);
    r.body = end == std::string::npos ? "" : x.bytes.substr(end + 4);
    if (x.bytes.rfind("HTTP/1.1 ", 0) == 0) {
        r.status = std::stoi(x.bytes.substr(9, 3));
    }
    return r;
}

Reply get(std::uint16_t port, const std::string& target, const std::string& method = "GET") {
    return parse_reply(test::exchange(
        "127.0.0.1", port,
        method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 10000ms));
}

// The value of one sample line ("name{labels} value"), or -1 when absent.
double sample(const std::string& metrics, const std::string& series) {
    const std::string key = "\n" + series + " ";
    const std::size_t p = metrics.find(key);
    return p == std::string::npos ? -1 : std::stod(metrics.substr(p + key.size()));
}

std::string run_capture(const std::string& cmd, int& status) {
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    if (f == nullptr) {
        status = -1;
        return out;
    }
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        out.append(buf, n);
    }
    status = ::pclose(f);
    return out;
}

class ExporterServer : public ::testing::Test {
protected:
    static constexpr unsigned kTargets = 200;

    void SetUp() override {
        auto f = test::FleetProcess::start(kFleet);
        ASSERT_TRUE(f) << f.error().message;
        fleet_.emplace(std::move(*f));
        for (unsigned i = 0; i < kTargets; ++i) {
            testing::TargetSpec spec{
                .address = "127.1." + std::to_string(40 + i / 100) + "." + std::to_string(i % 100),
                .port = fleet_->port(),
                .protocol = Protocol::Http,
                .interval_ms = 400,
                .timeout_ms = 300,
                .healthy = 1,
                .unhealthy = 2,
                .match_body = "ok"};
            testing::add_target(plan_, spec);
        }
        run_.emplace(plan_, testing::engine_options("exporter"));
        name_ = run_->name();
        auto started = run_->start();
        ASSERT_TRUE(started) << started.error().message;
        exporter::ExporterOptions xo;
        xo.listen = exporter::ListenAddress{"127.0.0.1", 0};
        xo.report_name = name_;
        xo.sweep_ms = 100;
        xo.limits.request_timeout_ms = 1000;
        xo.limits.idle_timeout_ms = 3000;
        auto x = exporter::Exporter::start(
            xo, [this] { return run_->totals(); },
            exporter::EngineFacts{run_->engine().worker_count(), run_->engine().ring_mode(),
                                  run_->engine().memory_bytes()});
        ASSERT_TRUE(x) << x.error().message;
        exporter_ = std::move(*x);
        port_ = exporter_->port();
    }

    void TearDown() override {
        exporter_.reset();
        run_.reset();
    }

    // Keeps the engine's heartbeat going for `d` (the main thread's duty).
    void run_for(std::chrono::milliseconds d) { run_->run_for(d); }

    bool wait_all_decided(std::chrono::milliseconds budget) {
        return run_->wait(
            [](const report::Snapshot& s) {
                bool all = true;
                for (std::size_t t = 0; t < s.states.size() && all; ++t) {
                    all = s.readable[t] != 0 &&
                          static_cast<Health>(s.states[t].health) != Health::Unknown;
                }
                return all;
            },
            budget);
    }

    double completed() { return static_cast<double>(run_->totals().probes_completed); }

    Plan plan_;
    std::optional<test::FleetProcess> fleet_;
    std::string name_;
    std::optional<testing::EngineHarness> run_;
    std::unique_ptr<exporter::Exporter> exporter_;
    std::uint16_t port_ = 0;
};

// `promtool check metrics` on a scrape: its exit status and what it said.
int promtool(const std::string& scrape, std::string& said) {
    const std::string path = "/tmp/rp-exporter-scrape-" + std::to_string(::getpid()) + ".txt";
    std::ofstream(path) << scrape;
    int status = 0;
    said = run_capture("promtool check metrics < " + path + " 2>&1", status);
    ::unlink(path.c_str());
    return status;
}

TEST_F(ExporterServer, LiveScrapePassesPromtoolAndCountersMoveAsProbesRun) {
    ASSERT_TRUE(wait_all_decided(5000ms));
    const Reply a = get(port_, "/metrics");
    ASSERT_EQ(a.status, 200) << a.head;
    EXPECT_NE(a.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
    std::string lint;
    EXPECT_EQ(promtool(a.body, lint), 0) << "promtool (Debian package prometheus) says:\n" << lint;

    run_for(1200ms);
    const Reply b = get(port_, "/metrics");
    ASSERT_EQ(b.status, 200);
    const std::string ok =
        "ringprobe_probes_total{pool=\"pool\",setting=\"setting\",reason=\"ok\"}";
    const std::string bad =
        "ringprobe_probes_total{pool=\"pool\",setting=\"setting\",reason=\"status_mismatch\"}";
    EXPECT_GT(sample(b.body, "ringprobe_probes_completed_total"),
              sample(a.body, "ringprobe_probes_completed_total"));
    EXPECT_GT(sample(b.body, ok), sample(a.body, ok));
    EXPECT_GT(sample(b.body, bad), sample(a.body, bad));
    EXPECT_GT(sample(b.body, "ringprobe_probe_duration_seconds_count"),
              sample(a.body, "ringprobe_probe_duration_seconds_count"));
    // 64 of the 200 backends answer 503 (127.1.41.0/26): the pool's counts say so.
    EXPECT_EQ(sample(b.body, "ringprobe_servers{pool=\"pool\",health=\"Unhealthy\"}"), 64);
    EXPECT_EQ(sample(b.body, "ringprobe_servers{pool=\"pool\",health=\"Healthy\"}"), 136);
    // Sweeps every 100 ms against a 400 ms interval: every probe keeps its reason.
    EXPECT_EQ(b.body.find(",reason=\"unseen\"}"), std::string::npos);
}

TEST_F(ExporterServer, BackendHealthIsByteForByteTheReaderOutput) {
    ASSERT_TRUE(wait_all_decided(5000ms));
    const std::string reader = std::string(RINGPROBE_REPORT_EXE) + " --name " + name_;
    // The verdicts are stable once decided; a race with a transition is retried (bounded).
    bool equal = false;
    std::string got, want;
    for (int i = 0; i < 5 && !equal; ++i) {
        run_->engine().tick(0);
        got = get(port_, "/backendhealth").body;
        int status = 0;
        want = run_capture(reader + " --format json", status);
        ASSERT_EQ(status, 0);
        equal = got == want;
    }
    EXPECT_TRUE(equal) << "exporter:\n"
                       << got.substr(0, 600) << "\nreader:\n"
                       << want.substr(0, 600);
    EXPECT_NE(got.find("\"backendAddressPools\""), std::string::npos);

    // With details the report's age moves with the clock: compare a stopped report without it.
    exporter_->stop();
    run_->stop();
    auto x = exporter::Exporter::start(
        exporter::ExporterOptions{
            exporter::ListenAddress{"127.0.0.1", 0}, {}, {}, name_, false, 100},
        {}, {});
    ASSERT_TRUE(x);
    // ... and so does the age in each sentence ("the last report is 1 s old"), which can
    // cross a second between the two reads on a slow (sanitized) build.
    auto drop_age = [](std::string s) {
        const std::size_t p = s.find("\"reportAgeMs\"");
        if (p != std::string::npos) {
            s.erase(p, s.find('\n', p) - p);
        }
        static const std::regex age("the last report is [0-9]+ [a-z]+ old");
        return std::regex_replace(s, age, "the last report is AGE old");
    };
    const Reply d = get((*x)->port(), "/backendhealth?details=1");
    int status = 0;
    const std::string w = run_capture(reader + " --format json --details", status);
    EXPECT_EQ(drop_age(d.body), drop_age(w));
    EXPECT_NE(d.body.find("\"engine\": \"stopped\""), std::string::npos) << d.body.substr(0, 300);
    run_.reset();
}

TEST_F(ExporterServer, BadRequestsAreAnsweredOrClosedAsDocumented) {
    EXPECT_EQ(get(port_, "/nope").status, 404);
    const Reply post = get(port_, "/metrics", "POST");
    EXPECT_EQ(post.status, 405);
    EXPECT_NE(post.head.find("Allow: GET, HEAD"), std::string::npos);
    EXPECT_EQ(get(port_, "/troubleshoot?row=99999").status, 404);

    const Reply head = get(port_, "/", "HEAD");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
    EXPECT_NE(head.head.find("Content-Length: "), std::string::npos);

    const std::string big = "GET / HTTP/1.1\r\nX-Fill: " + std::string(16384, 'a') + "\r\n\r\n";
    const Reply large = parse_reply(test::exchange("127.0.0.1", port_, big, 5000ms));
    EXPECT_EQ(large.status, 431);
    EXPECT_TRUE(large.eof) << "431, then close";

    const Reply body = parse_reply(test::exchange(
        "127.0.0.1", port_, "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 5000ms));
    EXPECT_EQ(body.status, 400);
    EXPECT_TRUE(body.eof) << "400, then close";

    // Two pipelined requests on one connection, the second closing it: both answered in order.
    const auto two = test::exchange("127.0.0.1", port_,
                                    "GET /nope HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n"
                                    "Connection: close\r\n\r\n",
                                    5000ms);
    EXPECT_TRUE(two.eof);
    const std::size_t second = two.bytes.find("HTTP/1.1 200");
    EXPECT_EQ(two.bytes.rfind("HTTP/1.1 404", 0), 0u);
    EXPECT_NE(second, std::string::npos);
}

// docs/exporter.md's version rule: HTTP/1.0 and 1.1 are served (1.0 closes after the answer), a
// later HTTP/1.x as 1.1 (RFC 9110 section 6.2), another major version is 505 and what is not
// "HTTP/" digit "." digit is 400; both refusals then close. The request lines ask for /nope, so
// a served one is a 404 that keeps the connection open unless the version closes it.
TEST_F(ExporterServer, HttpVersionsAreServedOrRefusedAsDocumented) {
    struct Case {
        const char* version;
        int status;
        bool closes;
    };
    const Case cases[] = {
        {"HTTP/1.1", 404, false}, {"HTTP/1.0", 404, true}, {"HTTP/1.5", 404, false},
        {"HTTP/2.0", 505, true},  {"HTTP/3.0", 505, true}, {"HTTP/0.9", 505, true},
        {"FOO/1.0", 400, true},   {"http/1.1", 400, true}, {"HTTP/1.10", 400, true},
        {"HTTP/1", 400, true},    {"HTTP/x.1", 400, true},
    };
    for (const Case& c : cases) {
        // 1 s is long enough for an answer on loopback; a connection kept open times out then.
        const auto x = test::exchange("127.0.0.1", port_,
                                      std::string("GET /nope ") + c.version + "\r\n\r\n", 1000ms);
        const Reply r = parse_reply(x);
        EXPECT_EQ(r.status, c.status) << c.version << ": " << x.bytes.substr(0, 80);
        EXPECT_EQ(x.eof, c.closes) << c.version;
    }
}

// A connection that sends nothing is closed after the idle limit (3 s in this fixture, 15 s by
// default), not before: the fixture's deadline scan runs every 250 ms.
TEST_F(ExporterServer, AnIdleConnectionIsClosedAfterTheIdleLimit) {
    const auto t0 = Clock::now();
    const auto x = test::exchange("127.0.0.1", port_, "", 10000ms);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    EXPECT_TRUE(x.eof) << "the server kept an idle connection for 10 s";
    EXPECT_TRUE(x.bytes.empty());
    EXPECT_GE(took.count(), 2900);  // idle_timeout_ms = 3000, less the clocks' granularity
    EXPECT_LT(took.count(), 5000);  // + one scan (250 ms) and a loaded machine's scheduling
    EXPECT_GE(exporter_->server_stats().timed_out.load(), 1u);
}

// A client that asks for a large answer and never reads it is closed once the answer has not
// drained within the write limit (1 s here, 10 s by default). The server alone, with a 32 MiB
// answer: the kernel's socket buffers on loopback take a few MiB whatever the client's receive
// buffer, and a report large enough would take minutes to build.
TEST(ExporterHttpServer, ASlowReaderIsClosedAfterTheWriteLimit) {
    exporter::ServerLimits limits;
    limits.write_timeout_ms = 1000;
    limits.idle_timeout_ms = 60000;  // so only the write deadline can close it
    constexpr std::size_t kBody = 32u << 20;
    auto server = exporter::HttpServer::listen(exporter::ListenAddress{"127.0.0.1", 0}, limits,
                                               [](const exporter::HttpRequest&) {
                                                   exporter::HttpResponse r;
                                                   r.body.assign(kBody, 'x');
                                                   return r;
                                               });
    ASSERT_TRUE(server) << server.error().message;
    std::atomic<bool> stop{false};
    std::thread serving([&] {
        while (!stop.load()) {
            server->poll(50);
        }
    });
    struct Join {
        std::atomic<bool>& stop;
        std::thread& t;
        ~Join() {
            stop.store(true);
            t.join();
        }
    } join{stop, serving};

    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    const int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server->port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const std::string ask = "GET / HTTP/1.1\r\n\r\n";
    ASSERT_EQ(::send(fd, ask.data(), ask.size(), MSG_NOSIGNAL), static_cast<ssize_t>(ask.size()));
    const auto t0 = Clock::now();
    bool timed_out = false;
    for (int i = 0; i < 200 && !timed_out; ++i) {  // at most 10 s
        std::this_thread::sleep_for(50ms);
        timed_out = server->stats().timed_out.load() > 0;
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    // What arrives after the close: what the kernel still held, then the end; never the whole.
    std::size_t got = 0;
    char buf[65536];
    bool eof = false;
    for (int i = 0; i < 100000 && !eof; ++i) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) != 1) {
            break;
        }
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        eof = n <= 0;
        got += n > 0 ? static_cast<std::size_t>(n) : 0;
    }
    ::close(fd);
    ASSERT_TRUE(timed_out) << "the server waited 10 s for a reader that never reads";
    EXPECT_GE(took.count(), 900);  // write_timeout_ms = 1000
    // + one scan (250 ms) and a loaded machine's scheduling: under TSan with the machine's two
    // cores oversubscribed ninefold it took 4.8 s; a server without the deadline never times out.
    EXPECT_LT(took.count(), 8000);
    EXPECT_TRUE(eof);
    EXPECT_LT(got, kBody) << "the whole answer arrived: the deadline cut nothing";
}

TEST_F(ExporterServer, SlowlorisClientIsCutOffByTheRequestDeadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const auto t0 = Clock::now();
    const std::string drip = "GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    bool closed = false;
    for (std::size_t i = 0; i < drip.size() && !closed; ++i) {
        ::send(fd, &drip[i], 1, MSG_NOSIGNAL);
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) == 1) {  // one byte every 100 ms, unless the server closed
            char c;
            closed = ::recv(fd, &c, 1, 0) <= 0;
        }
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    ::close(fd);
    EXPECT_TRUE(closed) << "the server let a 4 s drip finish";
    EXPECT_GE(took.count(), 900);  // request_timeout_ms = 1000 in this fixture
    // + one deadline scan (250 ms) and scheduling under a sanitizer on a shared machine; still
    // well inside the drip's 4 s.
    EXPECT_LT(took.count(), 3000);
    EXPECT_GE(exporter_->server_stats().timed_out.load(), 1u);
}

TEST_F(ExporterServer, TenThousandIdleConnectionsLeaveProbesAndScrapesAlone) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    // The raised limit is this test's only: the next tests run with the limit they started with.
    struct Restore {
        rlimit saved;
        ~Restore() { ::setrlimit(RLIMIT_NOFILE, &saved); }
    } restore{rl};
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ASSERT_GE(rl.rlim_cur, 12000u) << "needs 10,000 descriptors for the idle clients";
    ASSERT_TRUE(wait_all_decided(5000ms));

    // Probes per second over each window's measured length: opening 10,000 sockets can take
    // longer than the 2 s window on a slow (sanitized) build.
    auto seconds_since = [](Clock::time_point t) {
        return std::chrono::duration<double>(Clock::now() - t).count();
    };
    double c0 = completed();
    auto w0 = Clock::now();
    run_for(2000ms);
    const double before = (completed() - c0) / seconds_since(w0);

    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<int> fds;
    fds.reserve(10000);
    c0 = completed();
    const auto t0 = Clock::now();
    for (int i = 0; i < 10000; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ASSERT_GE(fd, 0);
        ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS is fine
        fds.push_back(fd);
        if (i % 500 == 0) {
            run_->engine().tick(0);
        }
    }
    // A scraper still gets its answer while the idle ones hold (or are evicted from) the table.
    const Reply during = get(port_, "/metrics");
    EXPECT_EQ(during.status, 200);
    run_for(std::chrono::milliseconds(2000) -
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0));
    const double with_idle = (completed() - c0) / seconds_since(t0);
    EXPECT_NEAR(with_idle, before, before * 0.05)
        << "probes/s before " << before << ", during " << with_idle;

    // Every idle connection is open or was closed by the server; none got a stray answer.
    std::size_t closed = 0;
    std::size_t answered = 0;
    for (int fd : fds) {
        char buf[16];
        const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        closed += n == 0 || (n < 0 && errno == ECONNRESET) ? 1 : 0;
        answered += n > 0 ? 1 : 0;
        ::close(fd);
    }
    EXPECT_EQ(answered, 0u);
    EXPECT_GT(closed, 0u);
    EXPECT_GT(exporter_->server_stats().evicted.load(), 0u);
    EXPECT_LE(exporter_->server_stats().open.load(), 256u);
    EXPECT_EQ(get(port_, "/metrics").status, 200);
}

// With no report under its name (the engine not started yet, or gone), the exporter still
// answers: /backendhealth 503 with a JSON error naming the report, the page and troubleshoot 503,
// /metrics 200 (the exporter's own families).
TEST(ExporterNoReport, BackendHealthIs503WithAJsonError) {
    exporter::ExporterOptions xo;
    xo.listen = exporter::ListenAddress{"127.0.0.1", 0};
    xo.report_name = testing::unique_name("exporter-none");  // handed out, never created
    auto x = exporter::Exporter::start(xo, {}, exporter::EngineFacts{1, "", 0});
    ASSERT_TRUE(x) << x.error().message;
    const std::uint16_t port = (*x)->port();
    const Reply health = get(port, "/backendhealth");
    EXPECT_EQ(health.status, 503);
    EXPECT_EQ(health.body.rfind("{\"error\": \"", 0), 0u) << health.body;
    EXPECT_NE(health.body.find(xo.report_name), std::string::npos) << health.body;
    EXPECT_NE(health.head.find("Content-Type: application/json"), std::string::npos);
    EXPECT_EQ(get(port, "/").status, 503);
    EXPECT_EQ(get(port, "/troubleshoot?row=0").status, 503);
    EXPECT_EQ(get(port, "/metrics").status, 200);
}

TEST(ExporterDns, LookupsAreCountedAndTheTroubleshootViewShowsTheAddresses) {
    auto fleet = test::FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    testing::add_target(plan, testing::TargetSpec{.address = "localhost",
                                                  .port = fleet->port(),
                                                  .protocol = Protocol::Http,
                                                  .interval_ms = 200,
                                                  .timeout_ms = 400});
    plan.pools[0].servers[0].is_fqdn = true;
    plan.targets[0].is_fqdn = true;
    testing::EngineHarness run(plan, testing::engine_options("exporter-dns", 1));
    auto started = run.start();
    ASSERT_TRUE(started) << started.error().message;
    exporter::ExporterOptions xo;
    xo.listen = exporter::ListenAddress{"127.0.0.1", 0};
    xo.report_name = run.name();
    xo.sweep_ms = 100;
    auto x = exporter::Exporter::start(xo, [&run] { return run.totals(); }, {});
    ASSERT_TRUE(x) << x.error().message;
    const bool resolved = run.wait(
        [](const report::Snapshot& s) {
            return s.resolver.by_outcome[1] >= 1 && !s.addresses.empty() &&
                   s.addresses[0].family != 0 && s.addresses[0].total_probes >= 1;
        },
        10000ms);
    EXPECT_TRUE(resolved);
    const Reply m = get((*x)->port(), "/metrics");
    ASSERT_EQ(m.status, 200);
    EXPECT_EQ(sample(m.body, "ringprobe_dns_names"), 1);
    EXPECT_GE(sample(m.body, "ringprobe_dns_lookups_total{outcome=\"ok\"}"), 1);
    EXPECT_EQ(sample(m.body, "ringprobe_dns_lookups_total{outcome=\"nxdomain\"}"), 0);
    std::string lint;
    EXPECT_EQ(promtool(m.body, lint), 0) << lint;
    const Reply t = get((*x)->port(), "/troubleshoot?row=0");
    ASSERT_EQ(t.status, 200);
    EXPECT_NE(t.body.find("id=\"dns-name\""), std::string::npos);
    EXPECT_NE(t.body.find("data-health=\"Healthy\"><td>127.0.0.1</td>"), std::string::npos)
        << t.body.substr(t.body.find("id=\"dns\""), 1500);
    (*x)->stop();
    run.stop();
}

#ifdef RP_TLS_FIXTURES
std::string fixture(const std::string& name) {
    return std::string(RP_TLS_FIXTURES) + "/" + name;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string tls_rule(const char* cidr, const std::string& chain, const std::string& key) {
    return std::string(R"({"cidr": ")") + cidr +
           R"(", "kind": "http", "status": 200, "body": "ok", "tls": {"cert": ")" + fixture(chain) +
           R"(", "key": ")" + fixture(key) + R"("}})";
}

// The notAfter dates tests/tls/make-certs.sh gives the fixtures (docs/tls.md): the good chain,
// its intermediate and the root end 2099-12-31T23:59:59Z; the expired leaf ended 2021-01-01.
constexpr double kGoodChainNotAfter = 4102444799;
constexpr double kExpiredLeafNotAfter = 1609459200;

TEST(ExporterTls, HandshakesGrowAndCertificateExpiryIsTheChainsNotAfter) {
    auto fleet = test::FleetProcess::start(
        std::string(R"({"default": {"kind": "http"}, "rules": [)") +
        tls_rule("127.1.62.1/32", "good-chain.pem", "good.key") + "," +
        tls_rule("127.1.62.2/32", "good-chain.pem", "good.key") + "," +
        tls_rule("127.1.62.3/32", "expired-chain.pem", "expired.key") + "]}");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    for (const char* address : {"127.1.62.1", "127.1.62.2", "127.1.62.3"}) {
        testing::add_target(plan, testing::TargetSpec{.address = address,
                                                      .port = fleet->port(),
                                                      .protocol = Protocol::Https,
                                                      .interval_ms = 300,
                                                      .timeout_ms = 2000,
                                                      .unhealthy = 1,
                                                      .host = "good.ringprobe.test"});
    }
    plan.trusted_roots.push_back(
        TrustedRoot{"root", "/trustedRootCertificates/root", read_file(fixture("root.pem"))});
    for (Target& t : plan.targets) {
        t.sni = "good.ringprobe.test";
        t.trusted_roots = {0};
    }
    testing::EngineHarness run(plan, testing::engine_options("exporter-tls"));
    auto started = run.start();
    ASSERT_TRUE(started) << started.error().message;
    exporter::ExporterOptions xo;
    xo.listen = exporter::ListenAddress{"127.0.0.1", 0};
    xo.report_name = run.name();
    xo.sweep_ms = 100;
    xo.tls_refresh_ms = 100;
    auto x = exporter::Exporter::start(xo, [&run] { return run.totals(); }, {});
    ASSERT_TRUE(x) << x.error().message;
    const std::uint16_t port = (*x)->port();

    // Every target decided, and each one's certificate facts captured.
    const bool decided = run.wait(
        [](const report::Snapshot& s) {
            for (std::size_t t = 0; t < s.states.size(); ++t) {
                if (static_cast<Health>(s.states[t].health) == Health::Unknown ||
                    s.tls[t].captured_unix_ns == 0) {
                    return false;
                }
            }
            return true;
        },
        10000ms);
    EXPECT_TRUE(decided);
    // Keeps the engine's main thread going (heartbeat, resolver stats) for d.
    auto run_for = [&](std::chrono::milliseconds d) {
        run.wait([](const report::Snapshot&) { return false; }, d);
    };
    const std::string full = "ringprobe_tls_handshakes_total{kind=\"full\"}";
    const std::string resumed = "ringprobe_tls_handshakes_total{kind=\"resumed\"}";
    const std::string failures = "ringprobe_tls_handshake_failures_total";
    // The workers publish their counters every 250 ms, later on a loaded machine: scraped
    // until both good targets' full handshakes are counted (bounded).
    Reply a;
    for (int i = 0; i < 40 && sample(a.body, full) < 2; ++i) {
        run_for(250ms);
        a = get(port, "/metrics");
    }
    // Each good target completed one full handshake, then resumes its session; the expired
    // one never completes and fails on every probe. Scraped until both grew (bounded: a
    // sanitized build handshakes slowly).
    Reply b;
    for (int i = 0; i < 40; ++i) {
        run_for(250ms);
        b = get(port, "/metrics");
        if (sample(b.body, resumed) > sample(a.body, resumed) &&
            sample(b.body, failures) > sample(a.body, failures)) {
            break;
        }
    }
    ASSERT_EQ(b.status, 200);
    EXPECT_GE(sample(a.body, full), 2) << a.body.substr(0, 400);
    EXPECT_GT(sample(b.body, resumed), sample(a.body, resumed));
    EXPECT_GT(sample(b.body, failures), sample(a.body, failures));
    const std::string p = std::to_string(fleet->port());
    const std::string row =
        "ringprobe_tls_cert_expiry_timestamp_seconds{pool=\"pool\",setting=\"setting\",server=";
    EXPECT_EQ(sample(b.body, row + "\"127.1.62.1:" + p + "\"}"), kGoodChainNotAfter);
    EXPECT_EQ(sample(b.body, row + "\"127.1.62.2:" + p + "\"}"), kGoodChainNotAfter);
    EXPECT_EQ(sample(b.body, row + "\"127.1.62.3:" + p + "\"}"), kExpiredLeafNotAfter);
    EXPECT_EQ(sample(b.body, "ringprobe_tls_cert_expiry_omitted_rows"), 0);
    EXPECT_EQ(sample(b.body, "ringprobe_servers_cert_expiring{pool=\"pool\"}"), 0);
    std::string lint;
    EXPECT_EQ(promtool(b.body, lint), 0) << lint;

    // The troubleshoot view of the expired row draws the chain and marks its leaf.
    const Reply t = get(port, "/troubleshoot?row=2");
    ASSERT_EQ(t.status, 200);
    EXPECT_NE(t.body.find("<code id=\"reason\">tls_expired</code>"), std::string::npos);
    EXPECT_NE(t.body.find("<g id=\"chain-cert-0\" class=\"faulty\">"), std::string::npos)
        << t.body.substr(t.body.find("id=\"tls\""), 1500);
    EXPECT_NE(t.body.find("expired.ringprobe.test"), std::string::npos);
    EXPECT_NE(t.body.find("<g id=\"chain-cert-1\">"), std::string::npos);  // its intermediate
    (*x)->stop();
    run.stop();
}
#endif  // RP_TLS_FIXTURES

}  // namespace
}  // namespace ringprobe
