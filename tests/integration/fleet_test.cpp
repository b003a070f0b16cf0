// Proves that ringprobe-fleet, the synthetic backend fleet every integration test and benchmark
// relies on, does what its behaviour file says. The real binary is started on loopback through
// tests/support/fleet_process (kernel-chosen ports, bounded waits, stopped by PID), and plain
// sockets connect to several 127.1.x.y backends: each behaviour is checked on the wire (status,
// body, headers, framing, RST vs FIN, silence, delays, byte-by-byte trickle, flapping, dropped
// SYNs), then the per-backend counts, SIGHUP reload (and a broken file that keeps the old
// behaviours), the idle timeout, the request size limit and the control port. Its command line
// takes --flag=value and a repeated --port, and refuses a bad flag with exit status 2 naming it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/fleet_process.hpp"

namespace {

using namespace std::chrono_literals;
using ringprobe::test::Exchange;
using ringprobe::test::exchange;
using ringprobe::test::FleetOptions;
using ringprobe::test::FleetProcess;

constexpr const char* request = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

constexpr const char* behaviours = R"({
  "default": {"kind": "http", "status": 200, "body": "default\n"},
  "rules": [
    {"cidr": "127.1.1.0/24", "kind": "http", "status": 503, "body": "busy",
     "headers": {"X-Fleet": "yes"}},
    {"cidr": "127.1.2.0/24", "kind": "hang"},
    {"cidr": "127.1.3.0/24", "kind": "reset"},
    {"cidr": "127.1.3.128/25", "kind": "reset", "after_request": true},
    {"cidr": "127.1.4.0/24", "kind": "close"},
    {"cidr": "127.1.5.0/24", "kind": "garbage", "size": 100},
    {"cidr": "127.1.6.0/24", "kind": "oversized"},
    {"cidr": "127.1.7.0/24", "kind": "trickle", "interval_ms": 5, "body": "abc"},
    {"cidr": "127.1.8.0/24", "kind": "http", "delay_ms": 150},
    {"cidr": "127.1.9.0/24", "kind": "flap", "every": 2,
     "a": {"kind": "http", "status": 200}, "b": {"kind": "http", "status": 500}},
    {"cidr": "127.1.10.0/24", "kind": "http", "chunked": true, "chunk_bytes": 4,
     "body": "0123456789"},
    {"cidr": "127.1.11.0/24", "kind": "http", "http10": true, "reason": "", "body": "old"},
    {"cidr": "127.1.12.1/32", "kind": "drop_syn"},
    {"cidr": "127.1.12.0/24", "kind": "http", "status": 204, "body": ""}
  ]})";

int status_of(const Exchange& ex) {
    if (ex.bytes.size() < 12 || ex.bytes.compare(0, 5, "HTTP/") != 0) {
        return -1;
    }
    return std::stoi(ex.bytes.substr(9, 3));
}

std::string body_of(const Exchange& ex) {
    auto end = ex.bytes.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : ex.bytes.substr(end + 4);
}

class Fleet : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        auto f = FleetProcess::start(behaviours);
        ASSERT_TRUE(f.has_value()) << f.error().message;
        fleet_ = new FleetProcess(std::move(*f));
    }
    static void TearDownTestSuite() {
        // A sanitizer report or a leak in the fleet shows up as a non-zero exit status here.
        if (fleet_ != nullptr) {
            EXPECT_EQ(fleet_->stop(), 0) << fleet_->stderr_text();
        }
        delete fleet_;
        fleet_ = nullptr;
    }
    void SetUp() override { ASSERT_NE(fleet_, nullptr); }

    static Exchange ask(std::string_view address, std::chrono::milliseconds timeout = 3000ms) {
        return exchange(address, fleet_->port(), request, timeout);
    }

    static FleetProcess* fleet_;
};
FleetProcess* Fleet::fleet_ = nullptr;

TEST_F(Fleet, HttpAnswersStatusBodyAndHeadersOfTheFirstMatchingRule) {
    Exchange ex = ask("127.1.1.7");
    EXPECT_TRUE(ex.eof);
    EXPECT_EQ(status_of(ex), 503);
    EXPECT_EQ(body_of(ex), "busy");
    EXPECT_NE(ex.bytes.find("\r\nX-Fleet: yes\r\n"), std::string::npos);
    EXPECT_NE(ex.bytes.find("\r\nContent-Length: 4\r\n"), std::string::npos);
}

TEST_F(Fleet, DefaultAnswersAddressesNoRuleMatches) {
    Exchange ex = ask("127.1.200.3");
    EXPECT_EQ(status_of(ex), 200);
    EXPECT_EQ(body_of(ex), "default\n");
    // A narrower earlier rule wins over a wider later one.
    EXPECT_EQ(status_of(ask("127.1.12.2")), 204);
}

TEST_F(Fleet, HangAcceptsAndNeverAnswers) {
    Exchange ex = ask("127.1.2.1", 300ms);
    EXPECT_EQ(ex.connect_errno, 0);
    EXPECT_TRUE(ex.timed_out);
    EXPECT_FALSE(ex.eof);
    EXPECT_TRUE(ex.bytes.empty());
}

TEST_F(Fleet, ResetSendsRstInsteadOfAnAnswer) {
    for (const char* address : {"127.1.3.1", "127.1.3.200"}) {  // at accept, after the request
        Exchange ex = ask(address);
        EXPECT_EQ(ex.connect_errno, 0) << address;
        EXPECT_TRUE(ex.io_errno == ECONNRESET || ex.io_errno == EPIPE)
            << address << " " << ex.io_errno;
        EXPECT_FALSE(ex.eof) << address;
        EXPECT_TRUE(ex.bytes.empty()) << address;
    }
}

TEST_F(Fleet, CloseEndsWithACleanFinAndNoBytes) {
    Exchange ex = ask("127.1.4.1");
    EXPECT_EQ(ex.io_errno, 0);
    EXPECT_TRUE(ex.eof);
    EXPECT_TRUE(ex.bytes.empty());
}

TEST_F(Fleet, GarbageIsNotHttp) {
    Exchange ex = ask("127.1.5.1");
    EXPECT_TRUE(ex.eof);
    ASSERT_EQ(ex.bytes.size(), 100u);
    EXPECT_EQ(ex.bytes[0], '\0');
    EXPECT_EQ(status_of(ex), -1);
}

TEST_F(Fleet, OversizedSendsMoreThanOneMebibyteOfHeaders) {
    Exchange ex = ask("127.1.6.1");
    EXPECT_TRUE(ex.eof);
    EXPECT_EQ(status_of(ex), 200);
    auto end = ex.bytes.find("\r\n\r\n");
    ASSERT_NE(end, std::string::npos);
    EXPECT_GE(end, size_t{1} << 20);
}

TEST_F(Fleet, TrickleSendsOneBytePerInterval) {
    Exchange ex = ask("127.1.7.1", 10000ms);
    ASSERT_TRUE(ex.eof);
    EXPECT_EQ(body_of(ex), "abc");
    // n bytes need n - 1 intervals of 5 ms after the first.
    EXPECT_GE(ex.elapsed, (ex.bytes.size() - 1) * 5ms);
}

TEST_F(Fleet, DelayHoldsTheAnswerForDelayMs) {
    Exchange ex = ask("127.1.8.1");
    EXPECT_EQ(status_of(ex), 200);
    EXPECT_GE(ex.first_byte_after, 150ms);
}

TEST_F(Fleet, FlapAlternatesEveryKConnectionsPerBackend) {
    std::vector<int> seen;
    for (int i = 0; i < 6; ++i) {
        seen.push_back(status_of(ask("127.1.9.1")));
    }
    EXPECT_EQ(seen, (std::vector<int>{200, 200, 500, 500, 200, 200}));
    // Another backend of the same rule has its own phase.
    EXPECT_EQ(status_of(ask("127.1.9.2")), 200);
}

TEST_F(Fleet, ChunkedAndHttp10AreFramedAsAsked) {
    Exchange chunked = ask("127.1.10.1");
    EXPECT_NE(chunked.bytes.find("Transfer-Encoding: chunked"), std::string::npos);
    EXPECT_EQ(body_of(chunked), "4\r\n0123\r\n4\r\n4567\r\n2\r\n89\r\n0\r\n\r\n");
    Exchange old = ask("127.1.11.1");
    EXPECT_EQ(old.bytes.compare(0, 14, "HTTP/1.0 200\r\n"), 0) << old.bytes;
    EXPECT_EQ(old.bytes.find("Content-Length"), std::string::npos);
    EXPECT_EQ(body_of(old), "old");
}

TEST_F(Fleet, DropSynGivesAConnectTimeoutWhileNeighboursAnswer) {
    Exchange dropped = ask("127.1.12.1", 400ms);
    EXPECT_EQ(dropped.connect_errno, ETIMEDOUT);
    EXPECT_EQ(status_of(ask("127.1.12.3")), 204);
    EXPECT_EQ(fleet_->count("127.1.12.1", fleet_->port()), 0u);
}

TEST_F(Fleet, CountsEveryConnectionPerBackendAndResetZeroesThem) {
    ASSERT_TRUE(fleet_->counts(true));
    for (int i = 0; i < 3; ++i) {
        ask("127.1.100.1");
    }
    ask("127.1.100.2");
    ask("127.1.3.9");  // reset: counted too, a probe is a connection
    uint16_t p = fleet_->port();
    std::string ps = ":" + std::to_string(p);
    auto counts = fleet_->counts(true);
    ASSERT_TRUE(counts);
    std::map<std::string, uint64_t> want = {
        {"127.1.100.1" + ps, 3}, {"127.1.100.2" + ps, 1}, {"127.1.3.9" + ps, 1}};
    EXPECT_EQ(*counts, want);
    auto after = fleet_->counts();
    ASSERT_TRUE(after);
    EXPECT_TRUE(after->empty());
}

TEST_F(Fleet, ControlPortAnswersHealthStatsAndUnknownPaths) {
    ask("127.1.0.3");  // at least one connection accepted, whichever tests ran before
    auto health = fleet_->get("/health");
    ASSERT_TRUE(health);
    EXPECT_NE(health->find("\"ok\""), std::string::npos);
    auto stats = fleet_->stats();
    ASSERT_TRUE(stats);
    EXPECT_GE((*stats)["accepted"], 1u);
    EXPECT_GE((*stats)["active"], 1u);  // at least the control connection itself
    EXPECT_EQ((*stats)["drop_syn_listeners"], 1u);
    EXPECT_FALSE(fleet_->get("/nope"));
}

TEST_F(Fleet, OverlongRequestIsCutOffAndTheFleetKeepsServing) {
    std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(100000, 'a');
    Exchange ex = exchange("127.1.0.9", fleet_->port(), huge, 3000ms);
    EXPECT_TRUE(ex.eof || ex.io_errno == ECONNRESET || ex.io_errno == EPIPE);
    EXPECT_TRUE(ex.bytes.empty());
    EXPECT_EQ(status_of(ask("127.1.0.9")), 200);
}

TEST_F(Fleet, Sigusr1PrintsTheCountsAsOneJsonLine) {
    ask("127.1.101.1");
    ASSERT_TRUE(fleet_->signal(SIGUSR1));
    std::string want = "\"127.1.101.1:" + std::to_string(fleet_->port()) + "\":";
    bool found = false;
    for (int i = 0; i < 400 && !found; ++i) {
        found = fleet_->stdout_text().find(want) != std::string::npos;
        std::this_thread::sleep_for(5ms);
    }
    EXPECT_TRUE(found) << fleet_->stdout_text();
}

TEST(FleetReload, SighupChangesABehaviourAndABrokenFileKeepsTheOld) {
    auto f = FleetProcess::start(R"({"default": {"kind": "http", "status": 200}})");
    ASSERT_TRUE(f) << f.error().message;
    uint16_t p = f->port();
    EXPECT_EQ(status_of(exchange("127.1.0.1", p, request, 3000ms)), 200);
    ASSERT_TRUE(
        f->reload(R"({"rules": [{"cidr": "127.1.0.1/32", "kind": "http", "status": 503}]})"));
    EXPECT_EQ(status_of(exchange("127.1.0.1", p, request, 3000ms)), 503);
    EXPECT_EQ(status_of(exchange("127.1.0.2", p, request, 3000ms)), 200);
    auto broken = f->reload(R"({"rules": [{"cidr": "127.1.0.1/32", "kind": "htp"}]})");
    ASSERT_FALSE(broken);
    EXPECT_NE(broken.error().message.find("unknown kind"), std::string::npos)
        << broken.error().message;
    EXPECT_EQ(status_of(exchange("127.1.0.1", p, request, 3000ms)), 503);
    EXPECT_EQ(f->stop(), 0);
}

TEST(FleetReload, ReloadAddsAndRemovesDropSynListeners) {
    auto f = FleetProcess::start(R"({})");
    ASSERT_TRUE(f) << f.error().message;
    uint16_t p = f->port();
    ASSERT_TRUE(f->reload(R"({"rules": [{"cidr": "127.1.0.4/31", "kind": "drop_syn"}]})"));
    EXPECT_EQ(exchange("127.1.0.4", p, request, 300ms).connect_errno, ETIMEDOUT);
    EXPECT_EQ(exchange("127.1.0.5", p, request, 300ms).connect_errno, ETIMEDOUT);
    EXPECT_EQ(status_of(exchange("127.1.0.6", p, request, 3000ms)), 200);
    ASSERT_TRUE(f->reload(R"({})"));
    EXPECT_EQ(status_of(exchange("127.1.0.4", p, request, 3000ms)), 200);
    auto stats = f->stats();
    ASSERT_TRUE(stats);
    EXPECT_EQ((*stats)["drop_syn_listeners"], 0u);
}

TEST(FleetPorts, RulesWithAPortApplyToThatPortOnly) {
    FleetOptions o;
    o.ports = {0, 0};
    auto f = FleetProcess::start(R"({})", o);
    ASSERT_TRUE(f) << f.error().message;
    ASSERT_EQ(f->ports().size(), 2u);
    uint16_t a = f->port(0);
    uint16_t b = f->port(1);
    ASSERT_TRUE(f->reload(R"({"rules": [{"cidr": "127.1.0.0/16", "port": )" + std::to_string(b) +
                          R"(, "kind": "http", "status": 404}]})"));
    EXPECT_EQ(status_of(exchange("127.1.0.1", a, request, 3000ms)), 200);
    EXPECT_EQ(status_of(exchange("127.1.0.1", b, request, 3000ms)), 404);
    EXPECT_EQ(f->count("127.1.0.1", a), 1u);
    EXPECT_EQ(f->count("127.1.0.1", b), 1u);
}

TEST(FleetIdle, SilentClientsAreClosedAfterTheIdleTimeout) {
    FleetOptions o;
    o.idle_timeout_ms = 200;
    auto f = FleetProcess::start(R"({"rules": [{"cidr": "127.1.2.0/24", "kind": "hang"}]})", o);
    ASSERT_TRUE(f) << f.error().message;
    Exchange hang = exchange("127.1.2.1", f->port(), request, 5000ms);
    EXPECT_TRUE(hang.eof);
    EXPECT_GE(hang.elapsed, 150ms);
    Exchange silent = exchange("127.1.0.1", f->port(), "", 5000ms);  // never sends a request
    EXPECT_TRUE(silent.eof);
    auto stats = f->stats();
    ASSERT_TRUE(stats);
    EXPECT_EQ((*stats)["idle_closed"], 2u);
}

// TLS serving itself is covered by fleet_tls_test.cpp; here only that a tls section without
// its certificate is refused at start with the JSON path.
TEST(FleetStart, ATlsSectionWithoutCertAndKeyIsRefusedWithAClearMessage) {
    auto f = FleetProcess::start(R"({"default": {"kind": "http", "tls": {}}})");
    ASSERT_FALSE(f);
    EXPECT_NE(f.error().message.find("$.default.tls: needs \"cert\""), std::string::npos)
        << f.error().message;
}

TEST(FleetStart, KeepAliveSettingsWithoutKeepAliveAreRefused) {
    auto f = FleetProcess::start(R"({"default": {"kind": "http", "close_every": 2}})");
    ASSERT_FALSE(f);
    EXPECT_NE(f.error().message.find("need \"keep_alive\": true"), std::string::npos)
        << f.error().message;
}

// Reads one answer of `body` from fd (its end is the body: Content-Length framing), bounded by
// SO_RCVTIMEO; false on an end, error or timeout before it.
bool read_answer(int fd, const std::string& body, std::string& got) {
    char buf[4096];
    got.clear();
    for (int i = 0; i < 100 && !got.ends_with("\r\n\r\n" + body); ++i) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return false;
        }
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got.ends_with("\r\n\r\n" + body);
}

// keep_alive: two requests on one connection, both answered without Connection: close, counted
// as one connection and two requests.
TEST(FleetKeepAlive, TwoRequestsOnOneConnectionCountOnceAsAConnection) {
    auto f = FleetProcess::start(R"({"default": {"kind": "http", "keep_alive": true}})");
    ASSERT_TRUE(f) << f.error().message;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    const timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(f->port());
    ::inet_pton(AF_INET, "127.1.50.1", &a.sin_addr);
    const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    const std::string keep = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    std::string first;
    std::string second;
    const bool ok =
        connected &&
        ::send(fd, keep.data(), keep.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(keep.size()) &&
        read_answer(fd, "ok\n", first) &&
        ::send(fd, keep.data(), keep.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(keep.size()) &&
        read_answer(fd, "ok\n", second);
    ::close(fd);
    ASSERT_TRUE(ok) << first << "|" << second;
    EXPECT_EQ(first.find("Connection: close"), std::string::npos) << first;
    EXPECT_EQ(f->count("127.1.50.1", f->port()), 1u);
    EXPECT_EQ(f->requests("127.1.50.1", f->port()), 2u);
}

TEST(FleetStart, SigtermStopsWithExitStatusZero) {
    auto f = FleetProcess::start(R"({})");
    ASSERT_TRUE(f) << f.error().message;
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(f->stop(), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

// A backend connection whose request comes after the fleet accepted it waits on epoll, and
// the fleet counts that wait (read_waits) and its wake-ups: what the benchmark harness reads to
// see how a prober's timing changes the fleet's own work.
TEST(FleetStats, ARequestThatComesAfterTheAcceptIsCountedAsOneReadWait) {
    auto f = FleetProcess::start(R"({})");
    ASSERT_TRUE(f) << f.error().message;
    auto before = f->stats();
    ASSERT_TRUE(before) << before.error().message;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(f->port());
    ASSERT_EQ(::inet_pton(AF_INET, "127.1.0.1", &sa.sin_addr), 1);
    timeval limit{3, 0};  // every read below is bounded
    ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit), 0);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << errno;
    // The connection is accepted with nothing in it yet: its read finds no request.
    uint64_t waits = 0;
    for (int i = 0; i < 400 && waits == 0; ++i) {
        auto now = f->stats();
        ASSERT_TRUE(now) << now.error().message;
        waits = (*now)["read_waits"] - (*before)["read_waits"];
        if (waits == 0) {
            std::this_thread::sleep_for(5ms);
        }
    }
    EXPECT_EQ(waits, 1u);
    ASSERT_EQ(::send(fd, request, std::strlen(request), MSG_NOSIGNAL),
              static_cast<ssize_t>(std::strlen(request)));
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
        got.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    EXPECT_EQ(got.compare(0, 12, "HTTP/1.1 200"), 0) << got;
    auto after = f->stats();
    ASSERT_TRUE(after) << after.error().message;
    // The request came whole: served on the next wake-up, no second wait.
    EXPECT_EQ((*after)["read_waits"] - (*before)["read_waits"], 1u);
    EXPECT_EQ((*after)["accepted"] - (*before)["accepted"], 1u);  // control ones are not
    EXPECT_GT((*after)["wakeups"], (*before)["wakeups"]);
}

// Two workers, four client threads: every connection is answered and counted exactly once.
TEST(FleetThreads, TwoWorkersCountEveryConnectionExactlyOnce) {
    FleetOptions o;
    o.threads = 2;
    auto f = FleetProcess::start(R"({})", o);
    ASSERT_TRUE(f) << f.error().message;
    uint16_t p = f->port();
    constexpr int clients = 4;
    constexpr int per_client = 250;
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            for (int i = 0; i < per_client; ++i) {
                std::string addr = "127.1." + std::to_string(c) + "." + std::to_string(i % 50 + 1);
                if (status_of(exchange(addr, p, request, 3000ms)) == 200) {
                    ok.fetch_add(1);
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(ok.load(), clients * per_client);
    auto counts = f->counts();
    ASSERT_TRUE(counts);
    EXPECT_EQ(counts->size(), size_t{clients * 50});
    for (const auto& [backend, n] : *counts) {
        EXPECT_EQ(n, uint64_t{per_client / 50}) << backend;
    }
    EXPECT_EQ(f->stop(), 0) << f->stderr_text();  // a ThreadSanitizer report exits non-zero
}

// Runs ringprobe-fleet ARGS... to its exit (bounded) and returns its exit status, -1 when it did
// not exit by itself in time; *err gets its stderr.
int fleet_exit_status(const std::vector<std::string>& args, std::string* err) {
    const std::string err_path = "/tmp/rp-fleet-cli-" + std::to_string(::getpid()) + ".stderr";
    std::vector<std::string> all = {ringprobe::test::fleet_executable()};
    all.insert(all.end(), args.begin(), args.end());
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, 2);
        std::vector<char*> argv;
        for (auto& a : all) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    int status = -1;
    for (int i = 0; i < 500; ++i) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            break;
        }
        status = -1;
        std::this_thread::sleep_for(10ms);
    }
    if (status == -1) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    std::stringstream text;
    text << std::ifstream(err_path).rdbuf();
    *err = text.str();
    ::unlink(err_path.c_str());
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(FleetCli, FlagEqualsValueAndARepeatedPortAreTaken) {
    auto f = FleetProcess::start(
        R"({"default": {"kind": "http", "status": 204}})",
        FleetOptions{.extra_args = {"--port=0", "--threads=2", "--control=127.0.0.1:0"}});
    ASSERT_TRUE(f) << f.error().message;
    ASSERT_EQ(f->ports().size(), 2u) << f->stdout_text();
    for (uint16_t p : f->ports()) {
        EXPECT_EQ(status_of(exchange("127.1.0.1", p, request, 3000ms)), 204) << p;
    }
    EXPECT_EQ(f->stop(), 0) << f->stderr_text();
}

TEST(FleetCli, BadOrUnknownFlagExitsTwoNamingIt) {
    std::string err;
    EXPECT_EQ(fleet_exit_status({"--port", "0", "--threads=0"}, &err), 2);
    EXPECT_NE(err.find("ringprobe-fleet: --threads: "), std::string::npos) << err;
    EXPECT_EQ(fleet_exit_status({"--port", "65536"}, &err), 2);
    EXPECT_NE(err.find("ringprobe-fleet: --port: "), std::string::npos) << err;
    EXPECT_EQ(fleet_exit_status({"--port", "0", "--control", "localhost:1"}, &err), 2);
    EXPECT_NE(err.find("ringprobe-fleet: --control: "), std::string::npos) << err;
    EXPECT_EQ(fleet_exit_status({"--port", "0", "--treads", "2"}, &err), 2);
    EXPECT_NE(err.find("--treads"), std::string::npos) << err;
}

}  // namespace
