// Drives the real engine in-process against the real fleet serving TLS on loopback, with the
// committed test chains (tests/fixtures/tls, docs/tls.md), and reads the verdicts back through
// the report. It proves the worker's TLS path end to end: Https and Tls probes through the
// TLS client over io_uring, a private root trusted only through trustedRootCertificates, each
// certificate problem reaching the report as its own reason with its detail, a handshake that
// stalls ending at the probe's deadline as TlsHandshakeTimeout, and resumption on later Https
// probes (the fleet counts resumed handshakes).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "report/reader.hpp"
#include "support/engine_wait.hpp"
#include "support/fleet_process.hpp"
#include "support/plan_builder.hpp"

namespace ringprobe {
namespace {

using testing::TargetSpec;

std::string fixture(const std::string& name) { return std::string(RP_TLS_FIXTURES) + "/" + name; }

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string tls_rule(const char* cidr, const char* kind, const std::string& chain,
                     const std::string& key) {
    const std::string answer =
        std::string(kind) == "http" ? R"(, "status": 200, "body": "ok")" : "";
    return std::string(R"({"cidr": ")") + cidr + R"(", "kind": ")" + kind + "\"" + answer +
           R"(, "tls": {"cert": ")" + fixture(chain) + R"(", "key": ")" + fixture(key) +
           R"("}})";
}

struct Case {
    const char* address;
    Protocol protocol;
    Health health;
    Reason reason;
    const char* detail_contains;
};

TEST(EngineTls, EveryCertificateProblemReachesTheReportAsItsOwnReason) {
    const std::string behaviours = std::string(R"({"default": {"kind": "http"}, "rules": [)") +
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
        {"127.1.60.4", Protocol::Https, Health::Unhealthy, Reason::TlsNameMismatch, "does not match"},
        {"127.1.60.5", Protocol::Https, Health::Unhealthy, Reason::TlsIntermediateMissing,
         "intermediate missing"},
        {"127.1.60.6", Protocol::Https, Health::Unhealthy, Reason::TlsLeafNotTopmost, "leaf"},
        {"127.1.60.7", Protocol::Https, Health::Unhealthy, Reason::TlsHandshakeTimeout, ""},
    };
    Plan plan;
    for (const Case& c : cases) {
        testing::add_target(plan, TargetSpec{.address = c.address, .port = fleet->port(),
                                             .protocol = c.protocol, .interval_ms = 200,
                                             .timeout_ms = 300, .unhealthy = 1,
                                             .host = "good.ringprobe.test"});
    }
    plan.trusted_roots.push_back(TrustedRoot{"root", "/trustedRootCertificates/root",
                                             read_file(fixture("root.pem"))});
    for (Target& t : plan.targets) {
        t.sni = "good.ringprobe.test";
        t.trusted_roots = {0};
    }
    engine::EngineOptions o;
    o.name = testing::unique_name("tls");
    o.workers = 2;
    o.log = nullptr;
    engine::Engine eng(plan, o);
    auto started = eng.start();
    ASSERT_TRUE(started) << started.error().message;
    auto rep = report::Report::open(o.name);
    ASSERT_TRUE(rep);
    const bool all = testing::wait_on(eng, *rep, [&](const report::Snapshot& s) {
        for (std::size_t i = 0; i < cases.size(); ++i) {
            if (static_cast<Reason>(s.states[i].reason) != cases[i].reason ||
                static_cast<Health>(s.states[i].health) != cases[i].health) {
                return false;
            }
        }
        return true;
    }, std::chrono::seconds(10));
    const report::Snapshot s = rep->snapshot({});
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
    EXPECT_GE(s.states[6].latency_us, 300'000u);
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
        testing::wait_on(eng, *rep, [](const report::Snapshot&) { return false; },
                         std::chrono::milliseconds(100));
        sni = fleet->get("/sni");
    }
    ASSERT_TRUE(sni);
    EXPECT_NE(sni->find("\"sni\":\"good.ringprobe.test\""), std::string::npos) << *sni;
    EXPECT_GE(resumed_of(*sni, "127.1.60.1"), 1) << *sni;
    // A Tls probe ends at the handshake; on TLS 1.3 the session ticket comes after it, so it
    // does not resume (docs/tls.md): not asserted here.
    EXPECT_EQ(eng.totals().prober_errors, 0u);
    eng.stop();
    ::unlink(("/dev/shm/ringprobe." + o.name).c_str());
}

}  // namespace
}  // namespace ringprobe
