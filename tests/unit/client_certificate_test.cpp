// client_certificate_test: pins a backend setting's client certificate from the configuration
// (src/config/client_certificate.cpp) through the trust contexts (src/engine/tls/trust.cpp) to
// the handshake (src/engine/tls/client.cpp).
//
// The certificates are made for each run by tests/tls/make-client-certs.sh in a temporary
// directory (a client CA, a good certificate, an expired one, one from another CA). The loader
// tests write configurations that name those files and check what is read and what is refused,
// with the field and the file named. The handshake tests run TlsClient against the in-memory
// wolfSSL server of tests/support/tls_memory_server.hpp that requires a client certificate from
// the client CA, at TLS 1.2 and 1.3, and check the reason each case ends in: the alert a server
// sends about our certificate (or its absence) is ClientCertRequired or ClientCertRejected, not
// the server-side TlsAlert, and an HTTP 400 after a CertificateRequest is read the same way.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/load.hpp"
#include "engine/tls.hpp"
#include "support/tls_memory_server.hpp"

namespace {

using ringprobe::Reason;
using ringprobe::reason_info;
using ringprobe::test::handshake_pair;
using ringprobe::test::MemoryTlsServer;
using namespace ringprobe::tls;
namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
    return std::string(RP_TLS_FIXTURES) + "/" + name;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The client certificates of tests/tls/make-client-certs.sh, made once for the binary.
class ClientCerts : public ::testing::Environment {
public:
    static const std::string& dir() { return dir_; }
    static std::string path(const std::string& name) { return dir_ + "/" + name; }

    void SetUp() override {
        char tmpl[] = "/tmp/rp-client-certs-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = std::string(tmpl) + "/certs";
        const std::string cmd = "sh " + std::string(RP_TLS_SCRIPTS) + "/make-client-certs.sh " +
                                dir_ + " >/dev/null 2>&1";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(fs::path(dir_).parent_path(), ec);
    }

private:
    inline static std::string dir_;
};

const auto* const env = ::testing::AddGlobalTestEnvironment(new ClientCerts);

// A gateway with one Https setting (or `protocol`) whose ringprobe object is `ext`.
std::string gateway(const std::string& ext, const std::string& protocol = "Https") {
    return R"({"name": "gw", "properties": {
      "backendAddressPools": [{"name": "pool", "properties": {
        "backendAddresses": [{"ipAddress": "127.0.0.1"}]}}],
      "backendHttpSettingsCollection": [{"name": "mtls", "properties": {
        "port": 8443, "protocol": ")" +
           protocol + R"(", "ringprobe": )" + ext + R"(}}],
      "requestRoutingRules": [{"name": "r", "properties": {
        "backendAddressPool": {"id": "/backendAddressPools/pool"},
        "backendHttpSettings": {"id": "/backendHttpSettingsCollection/mtls"}}}]}})";
}

std::string files(const std::string& cert, const std::string& key) {
    return R"({"clientCertificate": {"certificateFile": ")" + cert + R"(", "keyFile": ")" + key +
           R"("}})";
}

constexpr const char* cc_path =
    "properties.backendHttpSettingsCollection[0].properties.ringprobe.clientCertificate";

std::string errors_of(const std::string& json) {
    auto r = ringprobe::config::load_plan_json(json);
    if (r) {
        return "loaded";
    }
    return ringprobe::config::format_errors(r.error(), "f");
}

// A copy of `from` in the temporary directory with the given mode.
std::string copy_with_mode(const std::string& from, const std::string& name, mode_t mode) {
    const std::string to = ClientCerts::path(name);
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
    chmod(to.c_str(), mode);
    return to;
}

TEST(ClientCertificateConfig, FilesAreReadIntoThePlanAndTheTargetNamesThem) {
    auto r = ringprobe::config::load_plan_json(
        gateway(files(ClientCerts::path("client.pem"), ClientCerts::path("client.key"))));
    ASSERT_TRUE(r.has_value()) << ringprobe::config::format_errors(r.error(), "f");
    ASSERT_EQ(r->client_certificates.size(), 1u);
    const auto& cc = r->client_certificates[0];
    EXPECT_EQ(cc.path, cc_path);
    EXPECT_EQ(cc.certificate, slurp(ClientCerts::path("client.pem")));
    EXPECT_EQ(cc.key, slurp(ClientCerts::path("client.key")));
    EXPECT_EQ(cc.key_from, "keyFile " + ClientCerts::path("client.key"));
    ASSERT_EQ(r->targets.size(), 1u);
    EXPECT_EQ(r->targets[0].client_certificate, 0u);
    EXPECT_EQ(r->settings[0].client_certificate, 0u);
}

TEST(ClientCertificateConfig, AKeyFileItsGroupOrOthersCanReadIsRefusedWithTheChmodToRun) {
    const std::string key = copy_with_mode(ClientCerts::path("client.key"), "open.key", 0644);
    const std::string e = errors_of(gateway(files(ClientCerts::path("client.pem"), key)));
    EXPECT_NE(e.find(std::string(cc_path) + ".keyFile: " + key), std::string::npos) << e;
    EXPECT_NE(e.find("mode 0644"), std::string::npos) << e;
    EXPECT_NE(e.find("chmod 600 " + key), std::string::npos) << e;
    const std::string group = copy_with_mode(ClientCerts::path("client.key"), "group.key", 0640);
    EXPECT_NE(errors_of(gateway(files(ClientCerts::path("client.pem"), group))).find("mode 0640"),
              std::string::npos);
}

TEST(ClientCertificateConfig, AKeyFileOwnedByAnotherUserIsRefused) {
    const std::string key = copy_with_mode(ClientCerts::path("client.key"), "theirs.key", 0600);
    const uid_t other = geteuid() == 65534 ? 65533 : 65534;
    if (chown(key.c_str(), other, static_cast<gid_t>(-1)) != 0) {
        GTEST_SKIP() << "cannot give a file to another user here (not root)";
    }
    const std::string e = errors_of(gateway(files(ClientCerts::path("client.pem"), key)));
    // As root the file stays readable, so the owner check is what refuses it.
    EXPECT_NE(e.find("is owned by uid " + std::to_string(other)), std::string::npos) << e;
}

TEST(ClientCertificateConfig, AnUnreadableFileIsRefusedNamingTheFieldAndTheFile) {
    const std::string missing = ClientCerts::path("missing.pem");
    const std::string e = errors_of(gateway(files(missing, ClientCerts::path("client.key"))));
    EXPECT_NE(e.find(std::string(cc_path) + ".certificateFile: cannot read " + missing +
                     ": No such file or directory"),
              std::string::npos)
        << e;
    const std::string dir_e =
        errors_of(gateway(files(ClientCerts::dir(), ClientCerts::path("client.key"))));
    EXPECT_NE(dir_e.find("is not a regular file"), std::string::npos) << dir_e;
}

TEST(ClientCertificateConfig, AFileWithoutPemIsRefusedWithTheConversionCommand) {
    const std::string der = ClientCerts::path("client.der");
    const std::string cmd =
        "openssl x509 -in " + ClientCerts::path("client.pem") + " -outform DER -out " + der;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    const std::string e = errors_of(gateway(files(der, ClientCerts::path("client.key"))));
    EXPECT_NE(e.find("openssl x509 -inform DER -in " + der), std::string::npos) << e;
}

TEST(ClientCertificateConfig, MisshapenObjectsAreRefusedWithTheirPaths) {
    const std::string both = R"({"clientCertificate": {"certificateFile": "/a", "certificateData":
        "QQ==", "keyData": "QQ=="}})";
    EXPECT_NE(errors_of(gateway(both))
                  .find(std::string(cc_path) + ".certificateData: given together with "
                                               "certificateFile"),
              std::string::npos);
    const std::string no_key = R"({"clientCertificate": {"certificateData": "QQ=="}})";
    EXPECT_NE(errors_of(gateway(no_key)).find(std::string(cc_path) + ": missing keyFile"),
              std::string::npos);
    const std::string unknown =
        R"({"clientCertificate": {"certificateData": "QQ==", "keyData": "QQ==", "pfx": 1}})";
    EXPECT_NE(errors_of(gateway(unknown)).find(std::string(cc_path) + ".pfx: unknown field"),
              std::string::npos);
    const std::string http = errors_of(
        gateway(files(ClientCerts::path("client.pem"), ClientCerts::path("client.key")), "Http"));
    EXPECT_NE(http.find("this setting's protocol is Http: remove clientCertificate, or use Https"),
              std::string::npos)
        << http;
}

TEST(ClientCertificateConfig, TheDigestFollowsTheCertificateFilesBytes) {
    const std::string cert = copy_with_mode(ClientCerts::path("client.pem"), "renewed.pem", 0644);
    const std::string json = gateway(files(cert, ClientCerts::path("client.key")));
    auto before = ringprobe::config::load_plan_json(json);
    ASSERT_TRUE(before.has_value());
    fs::copy_file(ClientCerts::path("client-expired.pem"), cert,
                  fs::copy_options::overwrite_existing);
    auto after = ringprobe::config::load_plan_json(json);
    ASSERT_TRUE(after.has_value());
    EXPECT_NE(before->digest, after->digest);
}

// ---- Trust contexts ---------------------------------------------------------------------------

ringprobe::ClientCertificate from_files(const std::string& cert, const std::string& key) {
    return ringprobe::ClientCertificate{cc_path, "certificateFile " + cert, "keyFile " + key,
                                        slurp(cert), slurp(key)};
}

TEST(ClientCertificateTrust, AKeyThatDoesNotMatchItsCertificateIsRefusedNamingBothFiles) {
    const auto cc =
        from_files(ClientCerts::path("client.pem"), ClientCerts::path("client-other.key"));
    std::vector<std::string> roots{slurp(fixture("root.pem"))};
    auto c = TlsContexts::single(roots, TlsContexts::default_system_store, &cc);
    ASSERT_FALSE(c.has_value());
    const std::string& m = c.error().message;
    EXPECT_EQ(m.rfind(std::string(cc_path) + ": the key in ", 0), 0u) << m;
    EXPECT_NE(m.find("keyFile " + ClientCerts::path("client-other.key")), std::string::npos) << m;
    EXPECT_NE(m.find("certificateFile " + ClientCerts::path("client.pem")), std::string::npos) << m;
}

TEST(ClientCertificateTrust, Base64DataOfDerOrOfPemLoadsLikeTheFiles) {
    const auto b64 = [](const std::string& cmd) {
        std::string out;
        FILE* p = popen(cmd.c_str(), "r");
        char buf[512];
        std::size_t n = 0;
        while (p != nullptr && (n = fread(buf, 1, sizeof buf, p)) > 0) {
            out.append(buf, n);
        }
        if (p != nullptr) {
            pclose(p);
        }
        return out;
    };
    const std::string cert_der =
        b64("openssl x509 -in " + ClientCerts::path("client.pem") + " -outform DER | base64 -w0");
    const std::string key_pem = b64("base64 -w0 " + ClientCerts::path("client.key"));
    ASSERT_FALSE(cert_der.empty());
    ringprobe::ClientCertificate cc{cc_path, "certificateData", "keyData", cert_der, key_pem};
    auto c = TlsContexts::single({}, TlsContexts::default_system_store, &cc);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_TRUE(c->at(0).has_client_certificate);
    EXPECT_STREQ(c->at(0).client_certificate.common_name, "probe.ringprobe.test");
}

TEST(ClientCertificateTrust, TargetsWithAnotherClientCertificateGetAContextOfTheirOwn) {
    ringprobe::Plan plan;
    plan.client_certificates.push_back(
        from_files(ClientCerts::path("client.pem"), ClientCerts::path("client.key")));
    for (std::uint32_t cc : {ringprobe::no_client_certificate, 0u, 0u}) {
        ringprobe::Target t;
        t.protocol = ringprobe::Protocol::Https;
        t.client_certificate = cc;
        plan.targets.push_back(t);
    }
    auto c = TlsContexts::build(plan);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_EQ(c->size(), 2u);
    EXPECT_FALSE(c->for_target(0).has_client_certificate);
    EXPECT_TRUE(c->for_target(1).has_client_certificate);
    EXPECT_EQ(&c->for_target(1), &c->for_target(2));
}

// ---- Handshakes against a server that requires a client certificate -------------------------

struct Outcome {
    StepKind step;
    Reason reason;
    std::string detail;
    bool requested = false;
};

// One handshake, then (TLS 1.3, where the server judges our certificate after our Finished) the
// first read: the verdict of a Tls probe and of an Https probe's answer.
Outcome run(const ringprobe::ClientCertificate* cc, int version, bool server_asks = true) {
    std::vector<std::string> roots{slurp(fixture("root.pem"))};
    auto trust = TlsContexts::single(roots, TlsContexts::default_system_store, cc);
    RP_ASSERT(trust.has_value());
    auto server = MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"), version);
    RP_ASSERT(server != nullptr);
    if (server_asks) {
        RP_ASSERT(server->require_client_certificate(ClientCerts::path("client-ca.pem")));
    }
    server->set_reply("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    server->begin_connection();
    TlsClient client;
    RP_ASSERT(client.start(trust->at(0), "good.ringprobe.test", "", nullptr));
    auto r = handshake_pair(client, *server);
    Step s{r.client_step, 0};
    if (s.kind == StepKind::HandshakeDone) {
        const std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        s = client.write_plaintext(std::span<const char>(req.data(), req.size()));
        char buf[4096];
        for (int i = 0; i < 16 && s.kind != StepKind::Failed &&
                        s.kind != StepKind::PlaintextAvailable && s.kind != StepKind::Closed;
             ++i) {
            if (s.kind == StepKind::NeedSend) {
                auto out = client.pending_ciphertext();
                server->from_client().append(out.data(), out.size());
                client.consume_sent(out.size());
            } else if (s.kind == StepKind::NeedReceive) {
                server->pump();
                std::string& in = server->to_client();
                if (in.empty()) {
                    client.feed_eof();
                } else {
                    in.erase(0, client.feed_ciphertext(in.data(), in.size()));
                }
            }
            s = client.read_plaintext(buf, sizeof buf);
        }
    }
    Outcome o{s.kind, client.reason(), std::string(client.detail()),
              client.client_certificate_requested()};
    client.finish();
    return o;
}

class ClientCertificateHandshake : public ::testing::TestWithParam<int> {};

TEST_P(ClientCertificateHandshake, AGoodCertificateIsPresentedAndAccepted) {
    const auto cc = from_files(ClientCerts::path("client.pem"), ClientCerts::path("client.key"));
    Outcome o = run(&cc, GetParam());
    EXPECT_EQ(o.step, StepKind::PlaintextAvailable) << o.detail;
    EXPECT_TRUE(o.requested);
}

TEST_P(ClientCertificateHandshake, NoCertificateIsClientCertRequired) {
    Outcome o = run(nullptr, GetParam());
    ASSERT_EQ(o.step, StepKind::Failed) << o.detail;
    EXPECT_EQ(reason_info(o.reason).code, "client_cert_required") << o.detail;
    EXPECT_NE(o.detail.find("none is configured"), std::string::npos) << o.detail;
}

TEST_P(ClientCertificateHandshake, ACertificateFromAnotherCaIsClientCertRejected) {
    const auto cc =
        from_files(ClientCerts::path("client-other.pem"), ClientCerts::path("client-other.key"));
    Outcome o = run(&cc, GetParam());
    ASSERT_EQ(o.step, StepKind::Failed) << o.detail;
    EXPECT_EQ(reason_info(o.reason).code, "client_cert_rejected") << o.detail;
    EXPECT_NE(o.detail.find("server sent alert"), std::string::npos) << o.detail;
    EXPECT_NE(o.detail.find("CN=other-probe.ringprobe.test"), std::string::npos) << o.detail;
}

TEST_P(ClientCertificateHandshake, AnExpiredCertificateIsClientCertRejected) {
    const auto cc = from_files(ClientCerts::path("client-expired.pem"),
                               ClientCerts::path("client-expired.key"));
    Outcome o = run(&cc, GetParam());
    ASSERT_EQ(o.step, StepKind::Failed) << o.detail;
    EXPECT_EQ(reason_info(o.reason).code, "client_cert_rejected") << o.detail;
}

TEST_P(ClientCertificateHandshake, AServerThatDoesNotAskGetsNoCertificateAndNoSuchReason) {
    const auto cc = from_files(ClientCerts::path("client.pem"), ClientCerts::path("client.key"));
    Outcome o = run(&cc, GetParam(), false);
    EXPECT_EQ(o.step, StepKind::PlaintextAvailable) << o.detail;
    EXPECT_FALSE(o.requested);
}

INSTANTIATE_TEST_SUITE_P(Versions, ClientCertificateHandshake, ::testing::Values(12, 13),
                         [](const auto& p) { return "Tls1" + std::to_string(p.param % 10); });

// nginx finishes the handshake whatever the client sent and answers 400: after a
// CertificateRequest that answer is about the certificate; without one it is only a status.
TEST(ClientCertificateHttp, A400AfterACertificateRequestIsAboutTheCertificate) {
    std::vector<std::string> roots{slurp(fixture("root.pem"))};
    auto server = MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"), 13);
    ASSERT_NE(server, nullptr);
    // Asks, but lets a handshake without a certificate through (ssl_verify_client optional).
    ASSERT_TRUE(server->require_client_certificate(ClientCerts::path("client-ca.pem")));
    const auto expired = from_files(ClientCerts::path("client-expired.pem"),
                                    ClientCerts::path("client-expired.key"));
    for (const ringprobe::ClientCertificate* cc : {&expired}) {
        auto trust = TlsContexts::single(roots, TlsContexts::default_system_store, cc);
        ASSERT_TRUE(trust.has_value());
        TlsClient client;
        ASSERT_TRUE(client.start(trust->at(0), "good.ringprobe.test", "", nullptr));
        server->begin_connection();
        handshake_pair(client, *server);
        ASSERT_TRUE(client.client_certificate_requested());
        EXPECT_EQ(client.judge_http_refusal(400, Reason::StatusMismatch),
                  Reason::ClientCertRejected);
        EXPECT_NE(client.detail().find("certificate_expired"), std::string::npos)
            << client.detail();
        EXPECT_EQ(client.judge_http_refusal(503, Reason::StatusMismatch), Reason::StatusMismatch);
        EXPECT_EQ(client.judge_http_refusal(400, Reason::Ok), Reason::Ok);
        client.finish();
    }
    TlsClient plain;
    auto trust = TlsContexts::single(roots);
    ASSERT_TRUE(trust.has_value());
    ASSERT_TRUE(plain.start(trust->at(0), "good.ringprobe.test", "", nullptr));
    auto quiet = MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"), 13);
    quiet->begin_connection();
    handshake_pair(plain, *quiet);
    EXPECT_EQ(plain.judge_http_refusal(400, Reason::StatusMismatch), Reason::StatusMismatch);
    plain.finish();
}

}  // namespace
