// Client certificates end to end against nginx with `ssl_verify_client on`: a gateway JSON with
// four Https settings on one nginx, each presenting another client certificate (a good one, none,
// one from another CA, an expired one), is loaded by src/config, run by the real engine and read
// back through the report reader. It proves that the certificate is presented when the server
// asks (the good one is Healthy), and that each refusal gets its reason and sentence: nginx
// finishes the handshake whatever the client sent and answers 400, which after its
// CertificateRequest is client_cert_required (none sent) or client_cert_rejected (ours refused,
// "certificate expired" when ours is past its notAfter), with the client side as the faulty part,
// still after three probes, when later ones could resume the first one's session.
//
// nginx (Debian `nginx`, installed by tools/test.sh) runs from the test with its own prefix and
// configuration in a temporary directory, one process (master_process off), on a port of
// 127.0.0.1 that was free a moment before, and is stopped by its PID whatever happens. The
// client certificates are made for the run by tests/tls/make-client-certs.sh.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "config/load.hpp"
#include "report/fault_part.hpp"
#include "report/probe_log.hpp"
#include "report/reader.hpp"
#include "support/engine_harness.hpp"

namespace ringprobe {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The nginx binary on PATH or where Debian installs it; empty if none.
std::string find_nginx() {
    for (const char* candidate : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"}) {
        if (::access(candidate, X_OK) == 0) {
            return candidate;
        }
    }
    return {};
}

// A port on 127.0.0.1 free a moment ago (nginx binds it itself).
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

// A directory of the test's own: the client certificates and nginx's prefix; removed at the end.
class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/ringprobe-mtls-XXXXXX";
        if (::mkdtemp(tmpl) != nullptr) {
            path_ = tmpl;
        }
    }
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty()) {
            fs::remove_all(path_, ec);
        }
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// nginx serving good.ringprobe.test on 127.0.0.1:port with `ssl_verify_client on` and
// `ca` as its client CA; stopped by its PID when the test ends.
class Nginx {
public:
    Nginx(const std::string& exe, const std::string& dir, std::uint16_t port,
          const std::string& ca) {
        const std::string tls = RP_TLS_FIXTURES;
        fs::create_directories(dir + "/logs");
        std::ofstream(dir + "/nginx.conf")
            << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            << "pid " << dir << "/nginx.pid;\nerror_log " << dir << "/logs/error.log info;\n"
            << "events { worker_connections 64; }\n"
            << "http {\n  access_log off;\n"
            << "  client_body_temp_path " << dir << "/body;\n"
            << "  proxy_temp_path " << dir << "/proxy;\n"
            << "  fastcgi_temp_path " << dir << "/fastcgi;\n"
            << "  uwsgi_temp_path " << dir << "/uwsgi;\n"
            << "  scgi_temp_path " << dir << "/scgi;\n"
            << "  server {\n    listen 127.0.0.1:" << port << " ssl;\n"
            << "    ssl_certificate " << tls << "/good-chain.pem;\n"
            << "    ssl_certificate_key " << tls << "/good.key;\n"
            << "    ssl_client_certificate " << ca << ";\n"
            << "    ssl_verify_client on;\n"
            << "    location / { return 200 \"ok\\n\"; }\n  }\n}\n";
        const std::string conf = dir + "/nginx.conf";
        pid_ = ::fork();
        if (pid_ == 0) {
            ::execl(exe.c_str(), "nginx", "-p", dir.c_str(), "-c", conf.c_str(), nullptr);
            ::_exit(127);
        }
    }
    ~Nginx() {
        if (pid_ <= 0) {
            return;
        }
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
    Nginx(const Nginx&) = delete;
    Nginx& operator=(const Nginx&) = delete;

    // Waits (bounded) until the port accepts a connection; false if nginx exited first.
    bool listening(std::uint16_t port) const {
        for (int i = 0; pid_ > 0 && i < 500; ++i) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                return false;
            }
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
};

// One Https setting named `name` on `port` presenting `cert`/`key` (none when empty), trusting
// the tests' root and probing good.ringprobe.test every 100 ms.
std::string setting(const std::string& name, std::uint16_t port, const std::string& cert,
                    const std::string& key) {
    std::string ext = R"({"intervalMs": 100, "timeoutMs": 2000)";
    if (!cert.empty()) {
        ext += R"(, "clientCertificate": {"certificateFile": ")" + cert + R"(", "keyFile": ")" +
               key + R"("})";
    }
    ext += "}";
    return R"({"name": ")" + name + R"(", "properties": {"port": )" + std::to_string(port) +
           R"(, "protocol": "Https", "hostName": "good.ringprobe.test",
        "trustedRootCertificates": [{"id": "trustedRootCertificates/root"}],
        "ringprobe": )" +
           ext + "}}";
}

std::string rule(const std::string& name) {
    return R"({"name": ")" + name + R"(", "properties": {
        "backendAddressPool": {"id": "backendAddressPools/pool"},
        "backendHttpSettings": {"id": "backendHttpSettingsCollection/)" +
           name + R"("}}})";
}

// The four settings, in this order: good, none, other CA, expired.
std::string gateway(std::uint16_t port, const std::string& certs) {
    std::string root = read_file(std::string(RP_TLS_FIXTURES) + "/root.der.b64");
    while (!root.empty() && (root.back() == '\n' || root.back() == '\r')) {
        root.pop_back();
    }
    return R"({"name": "gw-mtls", "properties": {
      "trustedRootCertificates": [{"name": "root", "properties": {"data": ")" +
           root + R"("}}],
      "backendAddressPools": [{"name": "pool", "properties": {
        "backendAddresses": [{"ipAddress": "127.0.0.1"}]}}],
      "backendHttpSettingsCollection": [)" +
           setting("good", port, certs + "/client.pem", certs + "/client.key") + ", " +
           setting("none", port, "", "") + ", " +
           setting("other", port, certs + "/client-other.pem", certs + "/client-other.key") + ", " +
           setting("expired", port, certs + "/client-expired.pem", certs + "/client-expired.key") +
           R"(],
      "requestRoutingRules": [)" +
           rule("good") + ", " + rule("none") + ", " + rule("other") + ", " + rule("expired") +
           "]}}";
}

struct RowView {
    Health health = Health::Unknown;
    Reason reason = Reason::Pending;
    std::string detail;
    std::string log;  // the probe log sentence, as --details and --troubleshoot print it
    report::FaultPart part = report::FaultPart::None;
};

RowView row(const report::Snapshot& s, std::size_t i) {
    const std::uint32_t t = s.info->rows[i].target_index;
    const auto& st = s.states[t];
    RowView v{static_cast<Health>(st.health), static_cast<Reason>(st.reason),
              std::string(st.detail, st.detail_len)};
    report::append_probe_log(v.log, s, t);
    v.part = report::fault_part(v.reason);
    return v;
}

TEST(EngineMtls, NginxVerifyingClientsSeesEachCertificateForWhatItIs) {
    const std::string exe = find_nginx();
    if (exe.empty()) {
        GTEST_SKIP() << "nginx is not installed (tools/test.sh installs it)";
    }
    TempDir dir;
    ASSERT_FALSE(dir.path().empty());
    const std::string certs = dir.path() + "/certs";
    const std::string make =
        "sh " + std::string(RP_TLS_SCRIPTS) + "/make-client-certs.sh " + certs + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(make.c_str()), 0) << make;
    const std::uint16_t port = free_port();
    Nginx nginx(exe, dir.path() + "/nginx", port, certs + "/client-ca.pem");
    ASSERT_TRUE(nginx.listening(port)) << "nginx did not listen on 127.0.0.1:" << port << ": "
                                       << read_file(dir.path() + "/nginx/logs/error.log");

    auto loaded = config::load_plan_json(gateway(port, certs));
    ASSERT_TRUE(loaded) << config::format_errors(loaded.error(), "inline");
    const Plan plan = std::move(loaded).value();
    ASSERT_EQ(plan.rows.size(), 4u);
    ASSERT_EQ(plan.targets.size(), 4u);  // another client certificate is another probe
    testing::EngineHarness run(plan, testing::engine_options("mtls-nginx"));
    ASSERT_TRUE(run.start());
    const bool settled = run.wait(
        [](const report::Snapshot& s) {
            // Three results each: the later probes may resume the session of the first.
            for (std::size_t i = 0; i < s.info->rows.size(); ++i) {
                if (s.states[s.info->rows[i].target_index].total_probes < 3) {
                    return false;
                }
            }
            return true;
        },
        std::chrono::seconds(20));
    const report::Snapshot s = run.snapshot();
    ASSERT_TRUE(settled) << row(s, 0).log;

    const RowView good = row(s, 0);
    EXPECT_EQ(good.health, Health::Healthy) << good.log;

    const RowView none = row(s, 1);
    EXPECT_EQ(none.health, Health::Unhealthy);
    EXPECT_EQ(reason_info(none.reason).code, "client_cert_required") << none.log;
    EXPECT_NE(none.log.find("The server requires a client certificate"), std::string::npos)
        << none.log;
    EXPECT_EQ(none.part, report::FaultPart::ClientCertificate);

    const RowView other = row(s, 2);
    EXPECT_EQ(reason_info(other.reason).code, "client_cert_rejected") << other.log;
    EXPECT_NE(other.log.find("The server rejected the client certificate"), std::string::npos)
        << other.log;
    EXPECT_NE(other.detail.find("issuer CN=Other Test Client CA"), std::string::npos)
        << other.detail;
    EXPECT_EQ(other.part, report::FaultPart::ClientCertificate);

    const RowView expired = row(s, 3);
    EXPECT_EQ(reason_info(expired.reason).code, "client_cert_rejected") << expired.log;
    EXPECT_NE(expired.log.find("The server rejected the client certificate: certificate expired"),
              std::string::npos)
        << expired.log;
    run.stop();
}

}  // namespace
}  // namespace ringprobe
