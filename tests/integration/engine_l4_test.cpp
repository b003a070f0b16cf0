// The layer-4 proxy's configuration end to end: a gateway JSON whose backendSettingsCollection
// and routingRules name a loopback listener is loaded by src/config, run by the real engine
// (workers, io_uring, report writer) and read back through the report reader, as
// ringprobe-report would. It proves that a layer-4 setting's rows are probed like any other and
// reach the report in the pool -> setting -> server shape with the setting's own id; and that a
// probe with enableProbeProxyProtocolHeader sends a PROXY header first: a loopback listener
// records the bytes (v1 and v2, over 127.0.0.1 and ::1) and compares them byte for byte with the
// header written out here from the connection it accepted; a backend that closes after reading
// it gives proxy_rejected, and HAProxy with accept-proxy (when installed) accepts it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/load.hpp"
#include "engine/engine.hpp"
#include "report/reader.hpp"
#include "support/engine_harness.hpp"

namespace ringprobe {
namespace {

// A listening TCP socket on 127.0.0.1 at a port the kernel picks; closed with the test.
struct Listener {
    int fd = -1;
    std::uint16_t port = 0;
    Listener() {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        EXPECT_EQ(::listen(fd, 64), 0);
    }
    ~Listener() { ::close(fd); }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
};

// A gateway of the layer-4 proxy only, in the REST form: one pool of `servers`, one Tcp setting
// on `port` with its default probe every 100 ms.
std::string l4_gateway(const std::string& servers, std::uint16_t port) {
    const std::string gw =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
        "applicationGateways/gw-l4/";
    return R"({"name": "gw-l4", "properties": {
      "backendAddressPools": [{"name": "pool", "properties": {"backendAddresses": [)" +
           servers + R"(]}}],
      "backendSettingsCollection": [{"name": "tcp-set", "properties": {"port": )" +
           std::to_string(port) + R"(, "protocol": "Tcp", "timeout": 20,
        "ringprobe": {"intervalMs": 100, "timeoutMs": 2000}}}],
      "routingRules": [{"name": "tcp-rule", "properties": {"ruleType": "Basic",
        "priority": 100, "listener": {"id": ")" +
           gw + R"(listeners/tcp"},
        "backendAddressPool": {"id": ")" +
           gw + R"(backendAddressPools/pool"},
        "backendSettings": {"id": ")" +
           gw + R"(backendSettingsCollection/tcp-set"}}}]}})";
}

TEST(EngineLayer4, TcpSettingRowsProbedAgainstAListenerTurnHealthy) {
    Listener up;
    auto loaded = config::load_plan_json(l4_gateway(R"({"ipAddress": "127.0.0.1"})", up.port));
    ASSERT_TRUE(loaded) << config::format_errors(loaded.error(), "inline");
    const Plan plan = std::move(loaded).value();
    ASSERT_EQ(plan.rows.size(), 1u);
    ASSERT_TRUE(plan.settings[0].layer4);
    testing::EngineHarness run(plan, testing::engine_options("l4-tcp"));
    ASSERT_TRUE(run.start());
    EXPECT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return static_cast<Health>(s.states[0].health) == Health::Healthy;
        },
        std::chrono::seconds(10)));
    const report::Snapshot s = run.snapshot();
    ASSERT_EQ(s.info->rows.size(), 1u);
    const auto& setting = s.info->settings[s.info->rows[0].setting_index];
    EXPECT_EQ(s.info->str(setting.name), "tcp-set");
    EXPECT_NE(s.info->str(setting.id).find("/backendSettingsCollection/tcp-set"),
              std::string::npos);
    EXPECT_EQ(setting.protocol, static_cast<std::uint8_t>(Protocol::Tcp));
    EXPECT_EQ(setting.port, up.port);
    run.stop();
}

// ---- PROXY protocol ----------------------------------------------------------------------------

// One connection a RecordingListener accepted: what the peer sent, and who the peer was.
struct Recorded {
    std::string bytes;
    sockaddr_storage peer{};
};

// Listens on 127.0.0.1 or ::1 (a port the kernel picks) on a thread of its own and records what
// each connection sends: until the peer closes (or 2 s pass), or, with close_after_read, only
// the first read, after which it closes the connection. Bounded loops; the destructor stops the
// thread, so a failed assertion leaves nothing running.
class RecordingListener {
public:
    RecordingListener(int family, bool close_after_read) : close_after_read_(close_after_read) {
        fd_ = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_storage a{};
        socklen_t len = 0;
        if (family == AF_INET) {
            auto* v4 = reinterpret_cast<sockaddr_in*>(&a);
            v4->sin_family = AF_INET;
            v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            len = sizeof(sockaddr_in);
        } else {
            auto* v6 = reinterpret_cast<sockaddr_in6*>(&a);
            v6->sin6_family = AF_INET6;
            v6->sin6_addr = in6addr_loopback;
            len = sizeof(sockaddr_in6);
        }
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
            ::listen(fd_, 16) != 0) {
            return;  // ok() is false: no ::1 on this machine
        }
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&a)->sin_port
                                        : reinterpret_cast<sockaddr_in6*>(&a)->sin6_port);
        thread_ = std::thread([this] { loop(); });
    }
    ~RecordingListener() {
        stop_.store(true);
        if (thread_.joinable()) {
            thread_.join();
        }
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    RecordingListener(const RecordingListener&) = delete;
    RecordingListener& operator=(const RecordingListener&) = delete;

    bool ok() const { return port_ != 0; }
    std::uint16_t port() const { return port_; }
    std::vector<Recorded> recorded() const {
        std::lock_guard<std::mutex> lock(mu_);
        return recorded_;
    }
    // Waits (bounded) until at least one connection has been recorded.
    bool wait_recorded(std::chrono::milliseconds budget) const {
        const auto until = std::chrono::steady_clock::now() + budget;
        while (std::chrono::steady_clock::now() < until) {
            if (!recorded().empty()) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

private:
    void loop() {
        while (!stop_.load()) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) {
                continue;
            }
            Recorded r;
            socklen_t len = sizeof r.peer;
            const int c = ::accept4(fd_, reinterpret_cast<sockaddr*>(&r.peer), &len, SOCK_CLOEXEC);
            if (c < 0) {
                continue;
            }
            read_from(c, r.bytes);
            ::close(c);
            std::lock_guard<std::mutex> lock(mu_);
            recorded_.push_back(std::move(r));
        }
    }
    void read_from(int c, std::string& out) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (!stop_.load() && std::chrono::steady_clock::now() < until) {
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) {
                continue;
            }
            char buf[512];
            const ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) {
                return;
            }
            out.append(buf, static_cast<std::size_t>(n));
            if (close_after_read_) {
                return;
            }
        }
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
    bool close_after_read_ = false;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::vector<Recorded> recorded_;
    std::thread thread_;
};

// A layer-4 gateway with one `protocol` setting on `port` for `address`, whose probe sends a
// PROXY header (`version`: "" for the default, v2) every 100 ms; `more_setting` and `more` add
// fields to the setting and the gateway.
std::string proxy_gateway(const std::string& address, std::uint16_t port, const char* protocol,
                          const std::string& version, bool proxy = true,
                          const std::string& more_setting = "", const std::string& more = "") {
    const std::string ext = version.empty() ? "" : R"(, "proxyProtocol": ")" + version + "\"";
    return R"({"name": "gw-proxy", "properties": {
      "backendAddressPools": [{"name": "pool", "properties": {"backendAddresses": [
        {"ipAddress": ")" +
           address + R"("}]}}],
      "probes": [{"name": "probe", "properties": {"protocol": ")" +
           protocol + R"(", "interval": 1, "timeout": 2, "unhealthyThreshold": 1,
        "enableProbeProxyProtocolHeader": )" +
           (proxy ? "true" : "false") + R"(,
        "ringprobe": {"intervalMs": 100)" +
           ext + R"(}}}],
      "backendSettingsCollection": [{"name": "set", "properties": {"port": )" +
           std::to_string(port) + R"(, "protocol": ")" + protocol + R"(",
        "probe": {"id": "probes/probe"})" +
           more_setting + R"(}}],
      "routingRules": [{"name": "rule", "properties": {
        "backendAddressPool": {"id": "backendAddressPools/pool"},
        "backendSettings": {"id": "backendSettingsCollection/set"}}}])" +
           more + "}}";
}

Plan load(const std::string& json) {
    auto loaded = config::load_plan_json(json);
    if (!loaded) {
        ADD_FAILURE() << config::format_errors(loaded.error(), "inline");
        return Plan{};
    }
    return std::move(loaded).value();
}

// The v2 header the connection `peer` -> 127.0.0.1 or ::1 at `port` must have begun with,
// written from the specification, byte by byte.
std::string expected_v2(const sockaddr_storage& peer, std::uint16_t port) {
    std::string h("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A\x21", 13);
    const std::uint16_t port_n = htons(port);
    if (peer.ss_family == AF_INET) {
        const auto* p = reinterpret_cast<const sockaddr_in*>(&peer);
        const in_addr local{htonl(INADDR_LOOPBACK)};
        h += std::string("\x11\x00\x0C", 3);
        h.append(reinterpret_cast<const char*>(&p->sin_addr), 4);
        h.append(reinterpret_cast<const char*>(&local), 4);
        h.append(reinterpret_cast<const char*>(&p->sin_port), 2);
    } else {
        const auto* p = reinterpret_cast<const sockaddr_in6*>(&peer);
        h += std::string("\x21\x00\x24", 3);
        h.append(reinterpret_cast<const char*>(&p->sin6_addr), 16);
        h.append(reinterpret_cast<const char*>(&in6addr_loopback), 16);
        h.append(reinterpret_cast<const char*>(&p->sin6_port), 2);
    }
    h.append(reinterpret_cast<const char*>(&port_n), 2);
    return h;
}

std::string expected_v1(const sockaddr_storage& peer, std::uint16_t port) {
    char text[INET6_ADDRSTRLEN] = {};
    if (peer.ss_family == AF_INET) {
        const auto* p = reinterpret_cast<const sockaddr_in*>(&peer);
        ::inet_ntop(AF_INET, &p->sin_addr, text, sizeof text);
        return "PROXY TCP4 " + std::string(text) + " 127.0.0.1 " +
               std::to_string(ntohs(p->sin_port)) + " " + std::to_string(port) + "\r\n";
    }
    const auto* p = reinterpret_cast<const sockaddr_in6*>(&peer);
    ::inet_ntop(AF_INET6, &p->sin6_addr, text, sizeof text);
    return "PROXY TCP6 " + std::string(text) + " ::1 " + std::to_string(ntohs(p->sin6_port)) + " " +
           std::to_string(port) + "\r\n";
}

bool healthy(const report::Snapshot& s) {
    return static_cast<Health>(s.states[0].health) == Health::Healthy;
}

// A Tcp probe through the real engine against a recording listener: Healthy, and the bytes the
// first connection carried are exactly the header (the probe sends nothing else).
void expect_tcp_header(int family, const std::string& version) {
    RecordingListener backend(family, false);
    if (!backend.ok()) {
        GTEST_SKIP() << "no ::1 on this machine";
    }
    const Plan plan = load(
        proxy_gateway(family == AF_INET ? "127.0.0.1" : "::1", backend.port(), "Tcp", version));
    ASSERT_EQ(plan.targets.size(), 1u);
    testing::EngineHarness run(plan, testing::engine_options("l4-proxy"));
    ASSERT_TRUE(run.start());
    EXPECT_TRUE(run.wait(healthy, std::chrono::seconds(10)));
    ASSERT_TRUE(backend.wait_recorded(std::chrono::seconds(10)));
    run.stop();
    const Recorded r = backend.recorded().front();
    ASSERT_EQ(r.peer.ss_family, family);
    EXPECT_EQ(r.bytes, version == "v1" ? expected_v1(r.peer, backend.port())
                                       : expected_v2(r.peer, backend.port()));
}

TEST(EngineProxyProtocol, TcpProbeSendsAV2HeaderOverIpv4) {
    expect_tcp_header(AF_INET, "");
}

TEST(EngineProxyProtocol, TcpProbeSendsAV2HeaderOverIpv6) {
    expect_tcp_header(AF_INET6, "v2");
}

TEST(EngineProxyProtocol, TcpProbeSendsAV1HeaderOverIpv4) {
    expect_tcp_header(AF_INET, "v1");
}

TEST(EngineProxyProtocol, TcpProbeSendsAV1HeaderOverIpv6) {
    expect_tcp_header(AF_INET6, "v1");
}

TEST(EngineProxyProtocol, TcpProbeWithoutTheFlagSendsNothing) {
    RecordingListener backend(AF_INET, false);
    ASSERT_TRUE(backend.ok());
    const Plan plan = load(proxy_gateway("127.0.0.1", backend.port(), "Tcp", "", false));
    testing::EngineHarness run(plan, testing::engine_options("l4-noproxy"));
    ASSERT_TRUE(run.start());
    EXPECT_TRUE(run.wait(healthy, std::chrono::seconds(10)));
    ASSERT_TRUE(backend.wait_recorded(std::chrono::seconds(10)));
    run.stop();
    EXPECT_EQ(backend.recorded().front().bytes, "");
}

Reason reason_of(const report::Snapshot& s) {
    return static_cast<Reason>(s.states[0].reason);
}

// A Tls probe to a backend that reads what comes and closes: with the header the verdict is
// proxy_rejected, and the bytes begin with the header followed by a TLS record (the
// ClientHello); without it the same backend gives another reason.
TEST(EngineProxyProtocol, TlsBackendThatClosesAfterTheHeaderIsProxyRejected) {
    RecordingListener backend(AF_INET, true);
    ASSERT_TRUE(backend.ok());
    const Plan plan = load(proxy_gateway("127.0.0.1", backend.port(), "Tls", "v2"));
    testing::EngineHarness run(plan, testing::engine_options("l4-proxy-tls"));
    ASSERT_TRUE(run.start());
    EXPECT_TRUE(
        run.wait([](const report::Snapshot& s) { return reason_of(s) == Reason::ProxyRejected; },
                 std::chrono::seconds(10)));
    ASSERT_TRUE(backend.wait_recorded(std::chrono::seconds(10)));
    run.stop();
    const Recorded r = backend.recorded().front();
    const std::string header = expected_v2(r.peer, backend.port());
    ASSERT_GE(r.bytes.size(), header.size());
    EXPECT_EQ(r.bytes.substr(0, header.size()), header);
    if (r.bytes.size() > header.size()) {
        EXPECT_EQ(r.bytes[header.size()], '\x16');  // a TLS handshake record follows
    }
}

TEST(EngineProxyProtocol, TlsBackendThatClosesWithoutAHeaderIsNotProxyRejected) {
    RecordingListener backend(AF_INET, true);
    ASSERT_TRUE(backend.ok());
    const Plan plan = load(proxy_gateway("127.0.0.1", backend.port(), "Tls", "", false));
    testing::EngineHarness run(plan, testing::engine_options("l4-noproxy-tls"));
    ASSERT_TRUE(run.start());
    EXPECT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return static_cast<Health>(s.states[0].health) == Health::Unhealthy;
        },
        std::chrono::seconds(10)));
    EXPECT_NE(reason_of(run.snapshot()), Reason::ProxyRejected);
    run.stop();
}

// ---- HAProxy with accept-proxy ------------------------------------------------------------------

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The haproxy binary on PATH or in the sbin directories Debian installs it to; empty if none.
std::string find_haproxy() {
    std::string dirs = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
    dirs += ":/usr/sbin:/usr/local/sbin:/sbin";
    std::size_t at = 0;
    while (at <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', at), dirs.size());
        const std::string candidate = dirs.substr(at, end - at) + "/haproxy";
        if (end > at && ::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        at = end + 1;
    }
    return {};
}

// A port on 127.0.0.1 free a moment ago (HAProxy binds it itself).
std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), len);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

// HAProxy terminating TLS on 127.0.0.1:port behind accept-proxy, with the test certificate
// good.ringprobe.test; stopped by its PID when the test ends, whatever happened.
class Haproxy {
public:
    Haproxy(const std::string& exe, std::uint16_t port) {
        char tmpl[] = "/tmp/ringprobe-haproxy-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            return;
        }
        dir_ = tmpl;
        const std::string tls = RP_TLS_FIXTURES;
        std::ofstream(dir_ + "/server.pem")
            << read_file(tls + "/good-chain.pem") << read_file(tls + "/good.key");
        std::ofstream(dir_ + "/haproxy.cfg")
            << "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n"
               "  timeout server 5s\n"
               "frontend fe\n  bind 127.0.0.1:"
            << port << " accept-proxy ssl crt " << dir_ << "/server.pem\n"
            << "  default_backend be\nbackend be\n  server s1 127.0.0.1:1\n";
        const std::string cfg = dir_ + "/haproxy.cfg";
        pid_ = ::fork();
        if (pid_ == 0) {
            ::execl(exe.c_str(), "haproxy", "-db", "-q", "-f", cfg.c_str(), nullptr);
            ::_exit(127);
        }
    }
    ~Haproxy() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            if (::waitpid(pid_, &status, WNOHANG) == 0) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
            }
        }
        if (!dir_.empty()) {
            ::unlink((dir_ + "/server.pem").c_str());
            ::unlink((dir_ + "/haproxy.cfg").c_str());
            ::rmdir(dir_.c_str());
        }
    }
    Haproxy(const Haproxy&) = delete;
    Haproxy& operator=(const Haproxy&) = delete;

    // Waits (bounded) until the port accepts a connection.
    bool listening(std::uint16_t port) const {
        for (int i = 0; pid_ > 0 && i < 500; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(port);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
            ::close(fd);
            if (up) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

private:
    pid_t pid_ = -1;
    std::string dir_;
};

// A Tls setting that trusts the tests' root and sends SNI good.ringprobe.test.
std::string trusted_tls_setting() {
    return R"(, "hostName": "good.ringprobe.test",
        "trustedRootCertificates": [{"id": "trustedRootCertificates/root"}])";
}

std::string trusted_root() {
    std::string root = read_file(std::string(RP_TLS_FIXTURES) + "/root.der.b64");
    while (!root.empty() && (root.back() == '\n' || root.back() == '\r')) {
        root.pop_back();
    }
    return R"(, "trustedRootCertificates": [{"name": "root", "properties": {"data": ")" + root +
           R"("}}])";
}

// HAProxy with accept-proxy in front of a TLS listener: a Tls probe with the header (`version`)
// completes its handshake; `proxy` false: HAProxy reads the ClientHello as a bad header and
// closes, and the probe fails.
void expect_haproxy(const std::string& version, bool proxy) {
    const std::string exe = find_haproxy();
    if (exe.empty()) {
        GTEST_SKIP() << "haproxy is not installed (tools/test.sh installs it)";
    }
    const std::uint16_t port = free_port();
    Haproxy haproxy(exe, port);
    ASSERT_TRUE(haproxy.listening(port)) << "haproxy did not listen on 127.0.0.1:" << port;
    const Plan plan = load(proxy_gateway("127.0.0.1", port, "Tls", version, proxy,
                                         trusted_tls_setting(), trusted_root()));
    testing::EngineHarness run(plan, testing::engine_options("l4-haproxy"));
    ASSERT_TRUE(run.start());
    if (proxy) {
        EXPECT_TRUE(run.wait(healthy, std::chrono::seconds(10)))
            << reason_info(reason_of(run.snapshot())).code;
    } else {
        EXPECT_TRUE(run.wait(
            [](const report::Snapshot& s) {
                return static_cast<Health>(s.states[0].health) == Health::Unhealthy;
            },
            std::chrono::seconds(10)));
    }
    run.stop();
}

TEST(EngineProxyProtocol, HaproxyAcceptProxyTakesTheV2Header) {
    expect_haproxy("v2", true);
}

TEST(EngineProxyProtocol, HaproxyAcceptProxyTakesTheV1Header) {
    expect_haproxy("v1", true);
}

TEST(EngineProxyProtocol, HaproxyAcceptProxyRefusesAProbeWithoutTheHeader) {
    expect_haproxy("", false);
}

}  // namespace
}  // namespace ringprobe
