// Drives the real engine in-process against the real fleet serving TLS on loopback, with the
// committed test chains (tests/fixtures/tls, docs/tls.md), and reads the verdicts back through
// the report. It proves the worker's TLS path end to end: Https and Tls probes through the
// TLS client over io_uring, a private root trusted only through trustedRootCertificates, each
// certificate problem reaching the report as its own reason with its detail, a handshake that
// stalls ending at the probe's deadline as TlsHandshakeTimeout, and resumption on later Https
// probes (the fleet counts resumed handshakes).
// The remaining categories too: a chain that ends in a private root while the setting trusts the
// system store (TlsUntrustedRoot, with and without the root sent), trustedRootCertificates set
// to another root (TlsRootMismatch, TlsRootMismatchNoRoot), a leaf not yet valid, a server that
// refuses the SNI with an alert, one that speaks only TLS 1.1; each reaches the report with its
// own reason, its detail, and a healthProbeLog that carries the detail. Last, the TLS facts of
// a real probe (chain subjects, SHA-256 fingerprints of the fixture files, protocol, SNI, the
// anchor) reach Snapshot::tls and the JSON the reader renders. And from a gateway configuration
// to the wire: a hostName with a port is sent as SNI without it, the Host keeps it.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/sha256.h>
// clang-format on

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "engine/engine.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"
#include "report/sentences.hpp"
#include "support/engine_harness.hpp"
#include "support/fleet_process.hpp"
#include "support/plan_builder.hpp"

namespace ringprobe {
namespace {

using testing::TargetSpec;

std::string fixture(const std::string& name) {
    return std::string(RP_TLS_FIXTURES) + "/" + name;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string tls_rule(const char* cidr, const char* kind, const std::string& chain,
                     const std::string& key, const std::string& extra_tls = "") {
    const std::string answer =
        std::string(kind) == "http" ? R"(, "status": 200, "body": "ok")" : "";
    return std::string(R"({"cidr": ")") + cidr + R"(", "kind": ")" + kind + "\"" + answer +
           R"(, "tls": {"cert": ")" + fixture(chain) + R"(", "key": ")" + fixture(key) + "\"" +
           extra_tls + "}}";
}

// "AB:CD:..." of the DER of the first certificate in a PEM file, as the report spells it.
std::string pem_fingerprint(const std::string& path) {
    WOLFSSL_X509* x = wolfSSL_X509_load_certificate_file(path.c_str(), WOLFSSL_FILETYPE_PEM);
    if (x == nullptr) {
        return "unreadable " + path;
    }
    int len = 0;
    const unsigned char* der = wolfSSL_X509_get_der(x, &len);
    std::uint8_t sha[32] = {};
    const bool ok = der != nullptr && wc_Sha256Hash(der, static_cast<word32>(len), sha) == 0;
    wolfSSL_X509_free(x);
    std::string out;
    if (ok) {
        report::append_sha256(out, sha);
    }
    return out;
}

struct Case {
    const char* address;
    Protocol protocol;
    Health health;
    Reason reason;
    const char* detail_contains;
};

TEST(EngineTls, EveryCertificateProblemReachesTheReportAsItsOwnReason) {
    const std::string behaviours =
        std::string(R"({"default": {"kind": "http"}, "rules": [)") +
        tls_rule("127.1.60.1/32", "http", "good-chain.pem", "good.key") + "," +
        tls_rule("127.1.60.2/32", "http", "good-chain.pem", "good.key") + "," +
        tls_rule("127.1.60.3/32", "http", "expired-chain.pem", "expired.key") + "," +
        tls_rule("127.1.60.4/32", "http", "wrongname-chain.pem", "wrongname.key") + "," +
        tls_rule("127.1.60.5/32", "http", "no-intermediate-chain.pem", "good.key") + "," +
        tls_rule("127.1.60.6/32", "http", "wrong-order-chain.pem", "good.key") + "," +
        tls_rule("127.1.60.7/32", "hang", "good-chain.pem", "good.key") + "]}";
    auto fleet = test::FleetProcess::start(behaviours);
    ASSERT_TRUE(fleet) << fleet.error().message;

    const std::vector<Case> cases = {
        {"127.1.60.1", Protocol::Https, Health::Healthy, Reason::Ok, ""},
        {"127.1.60.2", Protocol::Tls, Health::Healthy, Reason::Ok, ""},
        {"127.1.60.3", Protocol::Https, Health::Unhealthy, Reason::TlsExpired, "expired"},
        {"127.1.60.4", Protocol::Https, Health::Unhealthy, Reason::TlsNameMismatch,
         "does not match"},
        {"127.1.60.5", Protocol::Https, Health::Unhealthy, Reason::TlsIntermediateMissing,
         "intermediate missing"},
        {"127.1.60.6", Protocol::Https, Health::Unhealthy, Reason::TlsLeafNotTopmost, "leaf"},
        {"127.1.60.7", Protocol::Https, Health::Unhealthy, Reason::TlsHandshakeTimeout, ""},
    };
    Plan plan;
    for (const Case& c : cases) {
        testing::add_target(plan, TargetSpec{.address = c.address,
                                             .port = fleet->port(),
                                             .protocol = c.protocol,
                                             .interval_ms = 200,
                                             .timeout_ms = 1000,
                                             .unhealthy = 1,
                                             .host = "good.ringprobe.test"});
    }
    plan.trusted_roots.push_back(
        TrustedRoot{"root", "/trustedRootCertificates/root", read_file(fixture("root.pem"))});
    for (Target& t : plan.targets) {
        t.sni = "good.ringprobe.test";
        t.trusted_roots = {0};
    }
    testing::EngineHarness run(plan, testing::engine_options("tls"));
    auto started = run.start();
    ASSERT_TRUE(started) << started.error().message;
    const bool all = run.wait(
        [&](const report::Snapshot& s) {
            for (std::size_t i = 0; i < cases.size(); ++i) {
                if (static_cast<Reason>(s.states[i].reason) != cases[i].reason ||
                    static_cast<Health>(s.states[i].health) != cases[i].health) {
                    return false;
                }
            }
            return true;
        },
        std::chrono::seconds(10));
    const report::Snapshot s = run.snapshot();
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& st = s.states[i];
        const std::string detail(st.detail, st.detail_len);
        EXPECT_EQ(static_cast<Reason>(st.reason), cases[i].reason)
            << cases[i].address << " got " << reason_info(static_cast<Reason>(st.reason)).code
            << " (" << detail << ")";
        EXPECT_NE(detail.find(cases[i].detail_contains), std::string::npos)
            << cases[i].address << ": " << detail;
    }
    EXPECT_TRUE(all);
    // The handshake that stalls ends at the deadline, not before it.
    EXPECT_GE(s.states[6].latency_us, 1'000'000u);
    // The Https probe's phases: the handshake finished before the first byte of the answer.
    EXPECT_GT(s.states[0].tls_us, 0u);
    EXPECT_GE(s.states[0].first_byte_us, s.states[0].tls_us);
    EXPECT_EQ(s.states[0].http_status, 200);
    // Later probes resume their sessions: the fleet counts resumed handshakes per backend.
    auto resumed_of = [](const std::string& json, const std::string& backend) -> long {
        const auto at = json.find("\"" + backend + ":");
        const auto key = at == std::string::npos ? at : json.find("\"resumed\":", at);
        return key == std::string::npos ? -1 : std::stol(json.substr(key + 10));
    };
    Result<std::string> sni = fleet->get("/sni");
    for (int i = 0; i < 30 && sni && resumed_of(*sni, "127.1.60.1") < 1; ++i) {
        run.wait([](const report::Snapshot&) { return false; }, std::chrono::milliseconds(100));
        sni = fleet->get("/sni");
    }
    ASSERT_TRUE(sni);
    EXPECT_NE(sni->find("\"sni\":\"good.ringprobe.test\""), std::string::npos) << *sni;
    EXPECT_GE(resumed_of(*sni, "127.1.60.1"), 1) << *sni;
    // A Tls probe ends at the handshake; on TLS 1.3 the session ticket comes after it, so it
    // does not resume (docs/tls.md): not asserted here.
    EXPECT_EQ(run.totals().prober_errors, 0u);
    run.stop();
}

struct Trusted {
    bool private_root;  // trustedRootCertificates = root.pem; false: the system store
    std::string sni;
};

TEST(EngineTls, TrustAndHandshakeFailuresReachTheReportAsTheirOwnReasons) {
    const std::string behaviours =
        std::string(R"({"default": {"kind": "http"}, "rules": [)") +
        tls_rule("127.1.61.1/32", "http", "good-full-chain.pem", "good.key") + "," +
        tls_rule("127.1.61.2/32", "http", "good-chain.pem", "good.key") + "," +
        tls_rule("127.1.61.3/32", "http", "other-root-chain.pem", "other.key") + "," +
        tls_rule("127.1.61.4/32", "http", "other-no-root-chain.pem", "other.key") + "," +
        tls_rule("127.1.61.5/32", "http", "notyet-chain.pem", "notyet.key") + "," +
        tls_rule("127.1.61.6/32", "http", "good-chain.pem", "good.key",
                 R"(, "sni": "good.ringprobe.test")") +
        "," +
        tls_rule("127.1.61.7/32", "http", "good-chain.pem", "good.key",
                 R"(, "tls_version": "1.1")") +
        "]}";
    auto fleet = test::FleetProcess::start(behaviours);
    ASSERT_TRUE(fleet) << fleet.error().message;

    const std::vector<Case> cases = {
        {"127.1.61.1", Protocol::Https, Health::Unhealthy, Reason::TlsUntrustedRoot,
         "ringprobe Test Root CA"},
        {"127.1.61.2", Protocol::Https, Health::Unhealthy, Reason::TlsUntrustedRoot,
         "ringprobe Test Intermediate CA"},
        {"127.1.61.3", Protocol::Https, Health::Unhealthy, Reason::TlsRootMismatch,
         "Other Test Root CA"},
        {"127.1.61.4", Protocol::Https, Health::Unhealthy, Reason::TlsRootMismatchNoRoot,
         "Other Test Intermediate CA"},
        {"127.1.61.5", Protocol::Https, Health::Unhealthy, Reason::TlsNotYetValid, "notyet"},
        {"127.1.61.6", Protocol::Tls, Health::Unhealthy, Reason::TlsAlert, "alert 112"},
        {"127.1.61.7", Protocol::Https, Health::Unhealthy, Reason::TlsProtocolVersion, ""},
    };
    const std::vector<Trusted> trust = {
        {false, "good.ringprobe.test"}, {false, "good.ringprobe.test"},
        {true, "good.ringprobe.test"},  {true, "good.ringprobe.test"},
        {true, "good.ringprobe.test"},  {true, "other.ringprobe.test"},
        {true, "good.ringprobe.test"},
    };
    Plan plan;
    for (const Case& c : cases) {
        testing::add_target(plan, TargetSpec{.address = c.address,
                                             .port = fleet->port(),
                                             .protocol = c.protocol,
                                             .interval_ms = 200,
                                             .timeout_ms = 1000,
                                             .unhealthy = 1,
                                             .host = "good.ringprobe.test"});
    }
    plan.trusted_roots.push_back(
        TrustedRoot{"root", "/trustedRootCertificates/root", read_file(fixture("root.pem"))});
    for (std::size_t i = 0; i < plan.targets.size(); ++i) {
        plan.targets[i].sni = trust[i].sni;
        if (trust[i].private_root) {
            plan.targets[i].trusted_roots = {0};
        }
    }
    testing::EngineHarness run(plan, testing::engine_options("tls-more"));
    auto started = run.start();
    ASSERT_TRUE(started) << started.error().message;
    const bool all = run.wait(
        [&](const report::Snapshot& s) {
            for (std::size_t i = 0; i < cases.size(); ++i) {
                if (static_cast<Reason>(s.states[i].reason) != cases[i].reason ||
                    static_cast<Health>(s.states[i].health) != cases[i].health) {
                    return false;
                }
            }
            return true;
        },
        std::chrono::seconds(10));
    const report::Snapshot s = run.snapshot();
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& st = s.states[i];
        const std::string detail(st.detail, st.detail_len);
        EXPECT_EQ(static_cast<Reason>(st.reason), cases[i].reason)
            << cases[i].address << " got " << reason_info(static_cast<Reason>(st.reason)).code
            << " (" << detail << ")";
        EXPECT_NE(detail.find(cases[i].detail_contains), std::string::npos)
            << cases[i].address << ": " << detail;
        // The healthProbeLog is the reason's own sentence and carries the detail.
        std::string log;
        report::append_probe_log(log, s, static_cast<std::uint32_t>(i));
        EXPECT_NE(log.find(detail), std::string::npos) << cases[i].address << ": " << log;
        std::string remedy;
        report::append_remedy(remedy, s, static_cast<std::uint32_t>(i));
        EXPECT_FALSE(remedy.empty());
    }
    EXPECT_TRUE(all);
    EXPECT_EQ(run.totals().prober_errors, 0u);
    run.stop();
}

// Needs the engine to publish TlsFacts (Worker::publish_tls, src/engine/tls_probe.cpp).
TEST(EngineTls, TlsFactsOfARealProbeReachTheReport) {
    const std::string behaviours =
        std::string(R"({"default": {"kind": "http"}, "rules": [)") +
        tls_rule("127.1.62.1/32", "http", "good-chain.pem", "good.key") + "," +
        tls_rule("127.1.62.2/32", "http", "good-chain.pem", "good.key",
                 R"(, "tls_version": "1.2")") +
        "," + tls_rule("127.1.62.3/32", "http", "other-root-chain.pem", "other.key") + "," +
        tls_rule("127.1.62.4/32", "http", "good-chain.pem", "good.key") + "]}";
    auto fleet = test::FleetProcess::start(behaviours);
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    for (const char* address : {"127.1.62.1", "127.1.62.2", "127.1.62.3", "127.1.62.4"}) {
        testing::add_target(plan, TargetSpec{.address = address,
                                             .port = fleet->port(),
                                             .protocol = Protocol::Https,
                                             .interval_ms = 200,
                                             .timeout_ms = 1000,
                                             .unhealthy = 1,
                                             .host = "good.ringprobe.test"});
    }
    plan.trusted_roots.push_back(
        TrustedRoot{"root", "/trustedRootCertificates/root", read_file(fixture("root.pem"))});
    for (Target& t : plan.targets) {
        t.sni = "good.ringprobe.test";
        t.trusted_roots = {0};
    }
    // The good chain ends in 2099: a warning threshold beyond that date makes the early warning
    // fire on a real probe without a short-lived fixture.
    plan.targets[3].cert_expiry_warning_days = 40000;
    testing::EngineHarness run(plan, testing::engine_options("tls-facts", 1));
    auto started = run.start();
    ASSERT_TRUE(started) << started.error().message;
    const auto& targets = run.report().info().targets;
    ASSERT_NE(targets[0].tls_slot, report_abi::kNoSlot);
    ASSERT_NE(targets[1].tls_slot, report_abi::kNoSlot);
    EXPECT_EQ(targets[0].expiry_warning_days, 14);
    const bool captured = run.wait(
        [&](const report::Snapshot& s) {
            return s.tls[targets[0].tls_slot].captured_unix_ns != 0 &&
                   s.tls[targets[1].tls_slot].captured_unix_ns != 0 &&
                   s.tls[targets[2].tls_slot].captured_unix_ns != 0 &&
                   static_cast<Health>(s.states[0].health) == Health::Healthy &&
                   static_cast<Reason>(s.states[2].reason) == Reason::TlsRootMismatch &&
                   static_cast<Health>(s.states[3].health) == Health::Healthy;
        },
        std::chrono::seconds(10));
    const report::Snapshot s = run.snapshot();
    ASSERT_TRUE(captured) << "the engine published no TLS facts (Worker::publish_tls, "
                             "src/engine/tls_probe.cpp)";
    const std::string leaf_sha = pem_fingerprint(fixture("good.pem"));
    const std::string inter_sha = pem_fingerprint(fixture("inter.pem"));
    for (std::size_t i = 0; i < 2; ++i) {  // the two good ones: TLS 1.3 and TLS 1.2
        const report_abi::TlsFactsPayload& f = s.tls[targets[i].tls_slot];
        SCOPED_TRACE(i);
        EXPECT_EQ(f.presented, 2);
        ASSERT_EQ(f.chain_count, 2);
        EXPECT_EQ(f.sni_sent, 1);
        EXPECT_EQ(f.handshake_ok, 1);
        EXPECT_GE(f.full_handshakes, 1u);
        EXPECT_EQ(report::fixed_text(f.protocol), i == 0 ? "TLSv1.3" : "TLSv1.2");
        EXPECT_FALSE(report::fixed_text(f.cipher).empty());
        EXPECT_NE(report::fixed_text(f.anchor).find("ringprobe Test Root CA"), std::string::npos)
            << report::fixed_text(f.anchor);
        EXPECT_EQ(report::fixed_text(f.chain[0].common_name), "good.ringprobe.test");
        EXPECT_NE(report::fixed_text(f.chain[0].subject).find("good.ringprobe.test"),
                  std::string::npos);
        EXPECT_NE(report::fixed_text(f.chain[0].sans).find("www.ringprobe.test"),
                  std::string::npos);
        EXPECT_NE(report::fixed_text(f.chain[1].subject).find("ringprobe Test Intermediate CA"),
                  std::string::npos);
        EXPECT_EQ(f.chain[0].is_ca, 0);
        EXPECT_EQ(f.chain[1].is_ca, 1);
        std::string sha;
        report::append_sha256(sha, f.chain[0].sha256);
        EXPECT_EQ(sha, leaf_sha);
        sha.clear();
        report::append_sha256(sha, f.chain[1].sha256);
        EXPECT_EQ(sha, inter_sha);
        EXPECT_EQ(f.chain[0].not_after_s, 4102444799);  // 2099-12-31T23:59:59Z
        EXPECT_NE(f.earliest_not_after_s, 0);
    }
    // The same facts come out of the reader's JSON.
    report::RenderOptions ro;
    ro.details = true;
    const std::string json = report::render_json(s, ro);
    EXPECT_NE(json.find(leaf_sha), std::string::npos);
    EXPECT_NE(json.find("\"sni\": \"good.ringprobe.test\""), std::string::npos);
    EXPECT_NE(json.find("\"notAfter\": \"2099-12-31T23:59:59Z\""), std::string::npos);
    EXPECT_NE(json.find("\"expiryWarning\": false"), std::string::npos);
    // A refused chain is recorded too, and --troubleshoot marks the root the server sent.
    const report_abi::TlsFactsPayload& refused = s.tls[targets[2].tls_slot];
    EXPECT_EQ(refused.handshake_ok, 0);
    ASSERT_EQ(refused.chain_count, 3);
    EXPECT_EQ(refused.chain[2].self_issued, 1);
    // The early warning: Healthy, flagged, the success sentence kept, the warning in the table.
    EXPECT_EQ(s.states[0].flags & report_abi::kStateCertExpiring, 0);
    EXPECT_NE(s.states[3].flags & report_abi::kStateCertExpiring, 0);
    std::string log;
    report::append_probe_log(log, s, 3);
    EXPECT_EQ(log, "Success. Received 200 status code.");
    EXPECT_NE(json.find("\"expiryWarning\": true"), std::string::npos);
    const std::string table = report::render_table(s, report::RenderOptions{});
    EXPECT_NE(table.find("Healthy    ok, 200; certificate expires in "), std::string::npos)
        << table;
    const std::uint32_t rows[] = {2};
    const std::string ts = report::render_troubleshoot(s, rows, false);
    EXPECT_NE(ts.find("XX certificate: root not trusted"), std::string::npos) << ts;
    EXPECT_NE(ts.find("[3] root "), std::string::npos) << ts;
    EXPECT_NE(ts.find("Other Test Root CA/O=elsewhere tests  XX root not trusted"),
              std::string::npos)
        << ts;
    EXPECT_NE(ts.find("to trustedRootCertificates on backend setting setting"), std::string::npos)
        << ts;
    run.stop();
}

// From the configuration to the ClientHello: the setting's hostName carries a port, the SNI the
// fleet records is the name alone and the certificate (for that name) is accepted.
TEST(EngineTls, HostNameWithAPortIsSentAsSniWithoutIt) {
    auto fleet = test::FleetProcess::start(
        std::string(R"({"default": {"kind": "reset"}, "rules": [)") +
        tls_rule("127.1.62.1/32", "http", "good-chain.pem", "good.key") + "]}");
    ASSERT_TRUE(fleet) << fleet.error().message;
    std::string root = read_file(fixture("root.der.b64"));
    const std::string gw = "/x/applicationGateways/gw/";
    const std::string json = R"({"name": "gw", "properties": {
      "trustedRootCertificates": [{"name": "root", "properties": {"data": ")" +
                             root + R"("}}],
      "backendAddressPools": [{"name": "pool", "properties": {
        "backendAddresses": [{"ipAddress": "127.1.62.1"}]}}],
      "probes": [{"name": "probe", "properties": {"protocol": "Https", "path": "/",
        "interval": 1, "timeout": 1, "unhealthyThreshold": 1,
        "pickHostNameFromBackendHttpSettings": true}}],
      "backendHttpSettingsCollection": [{"name": "set", "properties": {
        "port": )" + std::to_string(fleet->port()) +
                             R"(, "protocol": "Https",
        "hostName": "good.ringprobe.test:18443",
        "trustedRootCertificates": [{"id": ")" +
                             gw + R"(trustedRootCertificates/root"}],
        "probe": {"id": ")" + gw +
                             R"(probes/probe"}}}],
      "requestRoutingRules": [{"name": "rule", "properties": {"ruleType": "Basic",
        "backendAddressPool": {"id": ")" +
                             gw + R"(backendAddressPools/pool"},
        "backendHttpSettings": {"id": ")" +
                             gw + R"(backendHttpSettingsCollection/set"}}}]}})";
    auto loaded = config::load_plan_json(json);
    ASSERT_TRUE(loaded) << config::format_errors(loaded.error(), "inline");
    const Plan plan = std::move(loaded).value();
    testing::EngineHarness run(plan, testing::engine_options("tls-sni-port"));
    ASSERT_TRUE(run.start());
    EXPECT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return static_cast<Health>(s.states[0].health) == Health::Healthy;
        },
        std::chrono::seconds(10)));
    Result<std::string> sni = fleet->get("/sni");
    ASSERT_TRUE(sni);
    const std::string backend = "127.1.62.1:" + std::to_string(fleet->port());
    EXPECT_NE(sni->find("\"" + backend + "\":{\"sni\":\"good.ringprobe.test\""), std::string::npos)
        << *sni;
    run.stop();
}

}  // namespace
}  // namespace ringprobe
