// Pins src/report's renderers (render*.cpp) and the sentences they print (text, facts,
// probe_log, fault_part, remedy): the az-shaped JSON, the PowerShell shape and the table, each
// compared byte for byte with a fixture in tests/fixtures/report/ (regenerate with
// RP_UPDATE_FIXTURES=1 and review the diff); the JSON parses and has the az CLI's keys; every
// Reason has its own healthProbeLog sentence; strings are escaped so any detail bytes still give
// valid JSON. Time and the engine's liveness are injected, so the output is deterministic.
// Layout 2: TLS facts and DNS records are published by hand (the engine is not involved) and
// must come out in the documented JSON shape ("tls", "dns", "resolver"), in the table's
// --details block, as the yellow certificate warning, and in --troubleshoot with the faulty
// part marked and a remedy for every reason; hostile text in the TLS facts stays inert.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "report/reader.hpp"
#include "report/render.hpp"
#include "report/sentences.hpp"
#include "report/writer.hpp"
#include "support/report_test_plan.hpp"

namespace ringprobe::report {
namespace {

using testing::sample_plan;
using abi_cert = report_abi::CertRecord;
using testing::unique_name;

constexpr std::uint64_t kStart = 1'700'000'000'000'000'000ULL;
constexpr std::uint64_t kSecond = 1'000'000'000ULL;

constexpr std::int64_t kStartS = static_cast<std::int64_t>(kStart / kSecond);
constexpr std::int64_t kDay = 86400;

bool always_alive(std::int32_t) {
    return true;
}

void put(char* dst, std::size_t cap, std::string_view s) {
    const std::size_t n = std::min(cap - 1, s.size());
    std::memcpy(dst, s.data(), n);
    dst[n] = '\0';
}
template <std::size_t N>
void put(char (&dst)[N], std::string_view s) {
    put(dst, N, s);
}

abi_cert cert(std::string_view cn, std::string_view issuer_cn, bool ca, bool self, std::int64_t nb,
              std::int64_t na, std::string_view sans, std::uint8_t fill) {
    abi_cert c{};
    put(c.subject, "/O=ringprobe/CN=" + std::string(cn));
    put(c.issuer, "/O=ringprobe/CN=" + std::string(issuer_cn));
    put(c.common_name, cn);
    put(c.sans, sans);
    c.not_before_s = nb;
    c.not_after_s = na;
    for (std::size_t i = 0; i < 32; ++i) {
        c.sha256[i] = static_cast<std::uint8_t>(fill + i);
    }
    c.is_ca = ca ? 1 : 0;
    c.self_issued = self ? 1 : 0;
    return c;
}

// A leaf under an intermediate, as an Https probe of app.contoso.com captured it.
TlsFacts facts(std::int64_t leaf_not_after, std::string_view leaf_cn = "app.contoso.com") {
    TlsFacts f{};
    f.captured_unix_ns = kStart + 5 * kSecond;
    f.presented = 2;
    f.chain_count = 2;
    f.sni_sent = 1;
    f.handshake_ok = 1;
    f.full_handshakes = 3;
    f.resumed_handshakes = 9;
    put(f.protocol, "TLSv1.3");
    put(f.cipher, "TLS_AES_128_GCM_SHA256");
    put(f.anchor, "/O=ringprobe/CN=Contoso Root CA");
    f.chain[0] = cert(leaf_cn, "Contoso Intermediate CA", false, false, kStartS - 300 * kDay,
                      leaf_not_after, std::string(leaf_cn) + ",www.contoso.com", 0x10);
    f.chain[1] = cert("Contoso Intermediate CA", "Contoso Root CA", true, false,
                      kStartS - 900 * kDay, kStartS + 2000 * kDay, "", 0xA0);
    f.earliest_not_after_s = std::min(leaf_not_after, f.chain[1].not_after_s);
    return f;
}

AddressUpdate address(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, Health h,
                      Reason r, std::uint16_t status) {
    AddressUpdate u{};
    u.family = 4;
    u.health = static_cast<std::uint8_t>(h);
    u.reason = static_cast<std::uint16_t>(r);
    u.http_status = status;
    u.address[0] = a;
    u.address[1] = b;
    u.address[2] = c;
    u.address[3] = d;
    u.latency_us = h == Health::Healthy ? 1250 : 0;
    u.sys_errno = r == Reason::ConnectRefused ? ECONNREFUSED : 0;
    u.consecutive_ok = h == Health::Healthy ? 4 : 0;
    u.consecutive_fail = h == Health::Healthy ? 0 : 2;
    u.since_unix_ns = kStart - 60 * kSecond;
    u.last_probe_unix_ns = kStart + 7 * kSecond;
    u.last_change_unix_ns = kStart + 2 * kSecond;
    u.total_probes = 6;
    u.total_fail = h == Health::Healthy ? 0 : 2;
    return u;
}

struct NameGuard {
    std::string name;
    ~NameGuard() { ::unlink(segment_path(name).c_str()); }
};

TargetUpdate update(Health h, Reason r, std::uint16_t status, std::string_view detail = {}) {
    TargetUpdate u;
    u.health = h;
    u.reason = r;
    u.http_status = status;
    u.latency_us = 1500;
    u.connect_us = 300;
    u.first_byte_us = 1200;
    u.last_probe_unix_ns = kStart + 7 * kSecond;
    u.last_change_unix_ns = kStart + 2 * kSecond;
    u.next_probe_unix_ns = kStart + 37 * kSecond;
    u.consecutive_ok = h == Health::Healthy ? 4 : 0;
    u.consecutive_fail = h == Health::Healthy ? 0 : 3;
    u.total_probes = 4;
    u.total_ok = h == Health::Healthy ? 4 : 1;
    u.total_fail = h == Health::Healthy ? 0 : 3;
    u.detail = detail;
    return u;
}

class RenderTest : public ::testing::Test {
protected:
    void SetUp() override {
        WriterOptions o;
        o.engine_pid = 4242;
        o.start_unix_ns = kStart;
        o.worker_slots = 2;
        auto w = Writer::create(sample_plan(), guard_.name, o);
        ASSERT_TRUE(w) << w.error().message;
        writer_.emplace(std::move(*w));
        writer_->publish(0, update(Health::Healthy, Reason::Ok, 200));
        writer_->publish(1, update(Health::Unhealthy, Reason::StatusMismatch, 503));
        writer_->publish(2, update(Health::Unhealthy, Reason::DnsNxdomain, 0));
        TargetUpdate expiring = update(Health::Healthy, Reason::Ok, 200);
        expiring.flags = report_abi::kStateCertExpiring;
        expiring.tls_us = 900;
        writer_->publish(3, expiring);
        writer_->publish(4, update(Health::Unhealthy, Reason::TlsNameMismatch, 0,
                                   "leaf CN=other.example; SAN=www.other.example"));
        writer_->publish(5, update(Health::Unhealthy, Reason::BodyMismatch, 200));
        TargetUpdate refused = update(Health::Unhealthy, Reason::ConnectRefused, 0);
        refused.sys_errno = ECONNREFUSED;
        writer_->publish(6, refused);
        publish_layout2();
        writer_->heartbeat(kStart + 9 * kSecond);
    }

    // Targets 3, 4, 5 are Https (TLS slots 0, 1, 2); 2 and 5 are app.contoso.com (name slots
    // 0, 1). Target 3's leaf expires in 9 days (the early warning), target 4's leaf is for
    // another name, target 5 resolved to two addresses, one refusing.
    void publish_layout2() {
        ASSERT_EQ(writer_->tls_slot(3), 0u);
        ASSERT_EQ(writer_->name_slot(5), 1u);
        writer_->publish_tls_facts(0, facts(kStartS + 9 * kDay + 3600));
        TlsFacts other = facts(kStartS + 400 * kDay, "other.example");
        writer_->publish_tls_facts(1, other);
        writer_->publish_tls_facts(2, facts(kStartS + 400 * kDay));
        NameUpdate never{};
        never.standing = 3;
        never.last_outcome = 2;
        never.last_lookup_unix_ns = kStart + 4 * kSecond;
        never.next_lookup_unix_ns = kStart + 34 * kSecond;
        never.lookups = 3;
        writer_->publish_name(0, never);
        NameUpdate fresh{};
        fresh.standing = 1;
        fresh.last_outcome = 1;
        fresh.address_count = 2;
        fresh.ttl_s = 300;
        fresh.last_lookup_unix_ns = kStart + 6 * kSecond;
        fresh.last_good_unix_ns = kStart + 6 * kSecond;
        fresh.next_lookup_unix_ns = kStart + 306 * kSecond;
        fresh.lookups = 12;
        fresh.generation = 2;
        writer_->publish_name(1, fresh);
        writer_->publish_address(
            1, 0, address(10, 0, 1, 7, Health::Unhealthy, Reason::BodyMismatch, 200));
        writer_->publish_address(
            1, 1, address(10, 0, 1, 8, Health::Unhealthy, Reason::ConnectRefused, 0));
        ResolverStats r{};
        r.names = 2;
        r.lookups_started = 16;
        r.lookups_done = 15;
        r.by_outcome[1] = 12;
        r.by_outcome[2] = 3;
        r.inflight_peak = 2;
        writer_->publish_resolver_stats(r);
    }

    std::string troubleshoot(std::uint32_t row, bool color = false) {
        const Snapshot s = snapshot();
        const std::uint32_t rows[] = {row};
        return render_troubleshoot(s, rows, color);
    }

    Snapshot snapshot(std::uint64_t now = kStart + 10 * kSecond) {
        auto r = Report::open(guard_.name);
        EXPECT_TRUE(r);
        SnapshotOptions o;
        o.now_unix_ns = now;
        o.alive = &always_alive;
        return r->snapshot(o);
    }

    static void expect_fixture(const std::string& file, const std::string& actual) {
        const char* dir = std::getenv("RP_REPORT_FIXTURES");
        ASSERT_NE(dir, nullptr) << "RP_REPORT_FIXTURES is set by meson test";
        const std::string path = std::string(dir) + "/" + file;
        if (const char* up = std::getenv("RP_UPDATE_FIXTURES"); up != nullptr && *up == '1') {
            std::ofstream(path, std::ios::binary) << actual;
        }
        std::ifstream in(path, std::ios::binary);
        ASSERT_TRUE(in) << "missing fixture " << path << " (RP_UPDATE_FIXTURES=1 writes it)";
        std::stringstream want;
        want << in.rdbuf();
        EXPECT_EQ(actual, want.str()) << "fixture " << path;
    }

    NameGuard guard_{unique_name("render")};
    std::optional<Writer> writer_;
};

TEST_F(RenderTest, JsonMatchesFixture) {
    expect_fixture("report.json", render_json(snapshot(), RenderOptions{}));
}

TEST_F(RenderTest, JsonWithDetailsMatchesFixture) {
    RenderOptions o;
    o.details = true;
    expect_fixture("report_details.json", render_json(snapshot(), o));
}

TEST_F(RenderTest, PowershellMatchesFixture) {
    expect_fixture("report.ps.txt", render_powershell(snapshot(), RenderOptions{}));
}

TEST_F(RenderTest, TableMatchesFixture) {
    expect_fixture("report.table.txt", render_table(snapshot(), RenderOptions{}));
}

TEST_F(RenderTest, TableFilteredByPoolAndHealthMatchesFixture) {
    RenderOptions o;
    o.pool = "web";
    o.health = Health::Unhealthy;
    expect_fixture("report_web_unhealthy.table.txt", render_table(snapshot(), o));
}

TEST_F(RenderTest, StaleReportJsonMatchesFixture) {
    expect_fixture("report_stale.json",
                   render_json(snapshot(kStart + 75 * kSecond), RenderOptions{}));
}

TEST_F(RenderTest, JsonParsesAndHasTheAzCliShape) {
    RenderOptions o;
    o.details = true;
    const std::string out = render_json(snapshot(), o);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << out;
    simdjson::dom::array pools;
    ASSERT_EQ(doc["backendAddressPools"].get_array().get(pools), simdjson::SUCCESS);
    ASSERT_EQ(pools.size(), 2u);
    std::string_view id;
    ASSERT_EQ(doc.at_pointer("/backendAddressPools/0/backendAddressPool/id").get(id),
              simdjson::SUCCESS);
    EXPECT_EQ(id, "/gw/contoso-gw/backendAddressPools/web");
    ASSERT_EQ(doc.at_pointer("/backendAddressPools/0/backendHttpSettingsCollection/1/"
                             "backendHttpSettings/id")
                  .get(id),
              simdjson::SUCCESS);
    EXPECT_EQ(id, "/gw/contoso-gw/backendHttpSettingsCollection/https443");
    std::string_view health, log, reason;
    auto server =
        doc.at_pointer("/backendAddressPools/0/backendHttpSettingsCollection/0/servers/1");
    ASSERT_EQ(server["health"].get(health), simdjson::SUCCESS);
    ASSERT_EQ(server["healthProbeLog"].get(log), simdjson::SUCCESS);
    ASSERT_EQ(server["ringprobe"]["reason"].get(reason), simdjson::SUCCESS);
    EXPECT_EQ(health, "Unhealthy");
    EXPECT_EQ(reason, "status_mismatch");
    EXPECT_NE(log.find("503"), std::string_view::npos);
    // A pool without an id falls back to its name.
    ASSERT_EQ(doc.at_pointer("/backendAddressPools/1/backendAddressPool/id").get(id),
              simdjson::SUCCESS);
    EXPECT_EQ(id, "api");
}

TEST_F(RenderTest, TableUsesColourOnlyWhenAsked) {
    RenderOptions o;
    EXPECT_EQ(render_table(snapshot(), o).find('\x1b'), std::string::npos);
    o.color = true;
    EXPECT_NE(render_table(snapshot(), o).find("\x1b[32mHealthy"), std::string::npos);
}

TEST_F(RenderTest, EveryReasonHasItsOwnSentence) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < reason_count; ++i) {
        const auto r = static_cast<Reason>(i);
        if (r == Reason::Unused34) {
            continue;  // never written (result.hpp)
        }
        writer_->publish(1, update(Health::Unhealthy, r, r == Reason::Ok ? 200 : 0));
        Snapshot s = snapshot();
        std::string log;
        append_probe_log(log, s, 1);
        SCOPED_TRACE(std::string(reason_info(r).code) + ": " + log);
        EXPECT_FALSE(log.empty());
        EXPECT_EQ(log.back(), '.');
        EXPECT_TRUE(seen.insert(log).second) << "two reasons share a sentence";
    }
}

// A server that refused the probe's client certificate: the sentence names the alert in words,
// and --troubleshoot marks the client side (the ringprobe box), not the server's chain.
TEST_F(RenderTest, ARejectedClientCertificateNamesTheAlertAndMarksTheClientSide) {
    writer_->publish(4, update(Health::Unhealthy, Reason::ClientCertRejected, 0,
                               "server sent alert 48 unknown_ca for the client certificate "
                               "CN=probe (issuer CN=Other CA)"));
    std::string log;
    append_probe_log(log, snapshot(), 4);
    EXPECT_NE(log.find("The server rejected the client certificate: unknown CA."),
              std::string::npos)
        << log;
    const std::string t = troubleshoot(4);
    EXPECT_NE(t.find("XX client certificate: "), std::string::npos) << t;
    EXPECT_NE(t.find("Faulty part: XX ringprobe's client certificate"), std::string::npos) << t;
    EXPECT_NE(t.find("ringprobe.clientCertificate"), std::string::npos) << t;
    EXPECT_EQ(t.find("XX certificate:"), std::string::npos) << t;

    writer_->publish(4, update(Health::Unhealthy, Reason::ClientCertRequired, 0,
                               "server sent alert 116 certificate_required after asking for a "
                               "client certificate; none is configured"));
    std::string required;
    append_probe_log(required, snapshot(), 4);
    EXPECT_NE(required.find("The server requires a client certificate"), std::string::npos)
        << required;
}

TEST_F(RenderTest, SuccessSentenceNamesTheStatusCode) {
    std::string log;
    append_probe_log(log, snapshot(), 0);
    EXPECT_EQ(log, "Success. Received 200 status code.");
}

TEST_F(RenderTest, StatusMismatchSentenceNamesExpectedRangesAndReceivedCode) {
    writer_->publish(4, update(Health::Unhealthy, Reason::StatusMismatch, 404));
    std::string log;
    append_probe_log(log, snapshot(), 4);
    EXPECT_NE(log.find("404"), std::string::npos) << log;
    EXPECT_NE(log.find("200,301-302"), std::string::npos) << log;
    EXPECT_NE(log.find("host name and path"), std::string::npos) << log;
}

TEST_F(RenderTest, TableWithDetailsMatchesFixture) {
    RenderOptions o;
    o.details = true;
    expect_fixture("report_details.table.txt", render_table(snapshot(), o));
}

TEST_F(RenderTest, TlsFactsInJsonHaveTheDocumentedShape) {
    RenderOptions o;
    o.details = true;
    const std::string out = render_json(snapshot(), o);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << out;
    // Row (web, https443, 10.0.0.4) is target 3: Healthy, its leaf expires in 9 days.
    auto server =
        doc.at_pointer("/backendAddressPools/0/backendHttpSettingsCollection/1/servers/0");
    std::string_view sv;
    ASSERT_EQ(server["health"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "Healthy");
    ASSERT_EQ(server["healthProbeLog"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "Success. Received 200 status code.") << "the gateway's sentence stays";
    simdjson::dom::element tls;
    ASSERT_EQ(server["ringprobe"]["tls"].get(tls), simdjson::SUCCESS);
    bool b = false;
    ASSERT_EQ(tls["expiryWarning"].get(b), simdjson::SUCCESS);
    EXPECT_TRUE(b);
    std::int64_t days = 0;
    ASSERT_EQ(tls["expiresInDays"].get(days), simdjson::SUCCESS);
    EXPECT_EQ(days, 9);
    std::uint64_t u = 0;
    ASSERT_EQ(tls["expiryWarningDays"].get(u), simdjson::SUCCESS);
    EXPECT_EQ(u, 14u);
    ASSERT_EQ(tls["capturedUnixNs"].get(u), simdjson::SUCCESS);
    EXPECT_EQ(u, kStart + 5 * kSecond);
    ASSERT_EQ(tls["protocol"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "TLSv1.3");
    ASSERT_EQ(tls["sni"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "app.contoso.com");
    ASSERT_EQ(tls["host"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "app.contoso.com");
    ASSERT_EQ(tls["trustAnchor"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "/O=ringprobe/CN=Contoso Root CA");
    ASSERT_EQ(tls["resumedHandshakes"].get(u), simdjson::SUCCESS);
    EXPECT_EQ(u, 9u);
    ASSERT_EQ(tls["earliestNotAfter"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "2023-11-23T23:13:20Z");
    simdjson::dom::array chain;
    ASSERT_EQ(tls["chain"].get(chain), simdjson::SUCCESS);
    ASSERT_EQ(chain.size(), 2u);
    ASSERT_EQ(chain.at(0)["commonName"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "app.contoso.com");
    ASSERT_EQ(chain.at(0)["sha256"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv.substr(0, 12), "10:11:12:13:");
    EXPECT_EQ(sv.size(), 32u * 3 - 1);
    simdjson::dom::array sans;
    ASSERT_EQ(chain.at(0)["sans"].get(sans), simdjson::SUCCESS);
    ASSERT_EQ(sans.size(), 2u);
    ASSERT_EQ(sans.at(1).get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "www.contoso.com");
    ASSERT_EQ(chain.at(1)["isCa"].get(b), simdjson::SUCCESS);
    EXPECT_TRUE(b);
    // An Http row has no "tls"; an IP-literal row has no "dns".
    auto http = doc.at_pointer("/backendAddressPools/0/backendHttpSettingsCollection/0/servers/0");
    simdjson::dom::element none;
    EXPECT_NE(http["ringprobe"]["tls"].get(none), simdjson::SUCCESS);
    EXPECT_NE(http["ringprobe"]["dns"].get(none), simdjson::SUCCESS);
}

TEST_F(RenderTest, DnsAndResolverInJsonHaveTheDocumentedShape) {
    RenderOptions o;
    o.details = true;
    const std::string out = render_json(snapshot(), o);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << out;
    auto server =
        doc.at_pointer("/backendAddressPools/0/backendHttpSettingsCollection/1/servers/2");
    std::string_view sv;
    ASSERT_EQ(server["address"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "app.contoso.com") << "the server's address stays as configured";
    simdjson::dom::element dns;
    ASSERT_EQ(server["ringprobe"]["dns"].get(dns), simdjson::SUCCESS);
    ASSERT_EQ(dns["standing"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "fresh");
    std::uint64_t u = 0;
    ASSERT_EQ(dns["lastGoodAgeMs"].get(u), simdjson::SUCCESS);
    EXPECT_EQ(u, 4000u);
    simdjson::dom::array addresses;
    ASSERT_EQ(dns["addresses"].get(addresses), simdjson::SUCCESS);
    ASSERT_EQ(addresses.size(), 2u) << "records with family 0 are left out";
    ASSERT_EQ(addresses.at(1)["address"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "10.0.1.8");
    ASSERT_EQ(addresses.at(1)["reason"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "connect_refused");
    std::int64_t e = 0;
    ASSERT_EQ(addresses.at(1)["errno"].get(e), simdjson::SUCCESS);
    EXPECT_EQ(e, ECONNREFUSED);
    auto never = doc.at_pointer("/backendAddressPools/0/backendHttpSettingsCollection/0/servers/2");
    ASSERT_EQ(never["ringprobe"]["dns"]["standing"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "never_resolved");
    ASSERT_EQ(never["ringprobe"]["dns"]["lastOutcome"].get(sv), simdjson::SUCCESS);
    EXPECT_EQ(sv, "nxdomain");
    simdjson::dom::element lg;
    ASSERT_EQ(never["ringprobe"]["dns"]["lastGoodAgeMs"].get(lg), simdjson::SUCCESS);
    EXPECT_TRUE(lg.is_null());
    ASSERT_EQ(doc.at_pointer("/ringprobe/resolver/byOutcome/nxdomain").get(u), simdjson::SUCCESS);
    EXPECT_EQ(u, 3u);
    ASSERT_EQ(doc.at_pointer("/ringprobe/resolver/names").get(u), simdjson::SUCCESS);
    EXPECT_EQ(u, 2u);
}

TEST_F(RenderTest, HealthyRowWithExpiringCertificateShowsAYellowWarning) {
    RenderOptions o;
    const std::string plain = render_table(snapshot(), o);
    EXPECT_NE(plain.find("Healthy    ok, 200; certificate expires in 9 days"), std::string::npos)
        << plain;
    o.color = true;
    const std::string colored = render_table(snapshot(), o);
    EXPECT_NE(colored.find("ok, 200; \x1b[33mcertificate expires in 9 days\x1b[0m"),
              std::string::npos)
        << colored;
    // Without the engine's flag there is no warning, whatever the dates.
    writer_->publish(3, update(Health::Healthy, Reason::Ok, 200));
    EXPECT_EQ(render_table(snapshot(), RenderOptions{}).find("certificate expires"),
              std::string::npos);
}

TEST_F(RenderTest, DnsStaleFlagIsShownOnTheRow) {
    TargetUpdate u = update(Health::Healthy, Reason::Ok, 200);
    u.flags = report_abi::kStateDnsStale;
    writer_->publish(2, u);
    NameUpdate stale{};
    stale.standing = 2;
    stale.last_outcome = 5;
    stale.address_count = 1;
    stale.last_lookup_unix_ns = kStart + 9 * kSecond;
    stale.last_good_unix_ns = kStart - 32 * kSecond;
    writer_->publish_name(0, stale);
    RenderOptions o;
    o.details = true;
    const std::string t = render_table(snapshot(), o);
    EXPECT_NE(t.find("ok, 200; probing last good addresses, DNS stale"), std::string::npos) << t;
    EXPECT_NE(t.find("DNS stale: lookups failing (timeout), last good answer 42 s ago"),
              std::string::npos)
        << t;
}

// Only the first 64 KiB of a body are searched: a mismatch on a longer body says so, in the
// sentence every format shows and in --troubleshoot's remedy; a shorter body keeps the plain one.
TEST_F(RenderTest, BodyMismatchOnALongBodySaysOnlyTheFirst64KiBWereSearched) {
    TargetUpdate cut = update(Health::Unhealthy, Reason::BodyMismatch, 200);
    cut.flags = report_abi::kStateBodyCut;
    writer_->publish(1, cut);
    const std::string out = troubleshoot(1);
    EXPECT_NE(out.find("Received status code 200 but the first 64 KiB of the response body do "
                       "not contain \""),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("within its first 64 KiB (only those are searched), or change match.body"),
              std::string::npos)
        << out;
    EXPECT_NE(render_json(snapshot(), RenderOptions{}).find("the first 64 KiB of the response"),
              std::string::npos);
    writer_->publish(1, update(Health::Unhealthy, Reason::BodyMismatch, 200));
    const std::string whole = troubleshoot(1);
    EXPECT_NE(whole.find("Received status code 200 but the response body does not contain \""),
              std::string::npos)
        << whole;
    EXPECT_EQ(whole.find("64 KiB"), std::string::npos) << whole;
}

TEST_F(RenderTest, TroubleshootNameMismatchMarksTheCertificateAndMatchesFixture) {
    const std::string out = troubleshoot(4);
    expect_fixture("troubleshoot_name_mismatch.txt", out);
    EXPECT_NE(out.find("XX certificate: name does not match"), std::string::npos) << out;
    EXPECT_NE(out.find("What to change: Set hostName (or sniName) on backend setting https443"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("XX name does not match"), std::string::npos) << "the leaf is marked";
    EXPECT_EQ(out.find('\x1b'), std::string::npos);
}

TEST_F(RenderTest, TroubleshootConnectRefusedMarksTheLink) {
    const std::string out = troubleshoot(6);
    expect_fixture("troubleshoot_refused.txt", out);
    EXPECT_NE(out.find("-XX-"), std::string::npos) << out;
    EXPECT_NE(out.find("Faulty part: XX the TCP connection from ringprobe to the server."),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("Make the application listen on port 80 of 10.1.0.4"), std::string::npos)
        << out;
}

TEST_F(RenderTest, TroubleshootStatusMismatchMarksTheServerWithExpectedAndReceived) {
    const std::string out = troubleshoot(1);
    EXPECT_NE(out.find("XX got 503, want 200-399"), std::string::npos) << out;
    EXPECT_NE(out.find("add 503 to match.statusCodes on a custom probe on backend setting http80"),
              std::string::npos)
        << out;
}

TEST_F(RenderTest, TroubleshootDnsFailureMarksTheResolution) {
    const std::string out = troubleshoot(2);
    EXPECT_NE(out.find("XX resolution of app.contoso.com: DNS never resolved: lookups failing "
                       "(nxdomain)"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("Faulty part: XX the DNS resolution"), std::string::npos) << out;
    EXPECT_NE(out.find("Create the DNS record for app.contoso.com"), std::string::npos) << out;
}

TEST_F(RenderTest, TroubleshootShowsEachAddressAndTheChainFacts) {
    const std::string out = troubleshoot(5);
    EXPECT_NE(out.find("10.0.1.8        XX Unhealthy  connect refused"), std::string::npos) << out;
    EXPECT_NE(out.find("SNI sent: app.contoso.com; Host sent: app.contoso.com"), std::string::npos)
        << out;
    EXPECT_NE(out.find("[1] leaf /O=ringprobe/CN=app.contoso.com"), std::string::npos) << out;
    EXPECT_NE(out.find("timings: dns -, connect 0.30 ms"), std::string::npos) << out;
}

TEST_F(RenderTest, TroubleshootColoursTheMarkRedOnlyWhenAsked) {
    EXPECT_EQ(troubleshoot(6).find('\x1b'), std::string::npos);
    EXPECT_NE(troubleshoot(6, true).find("\x1b[31mXX\x1b[0m"), std::string::npos);
}

TEST_F(RenderTest, EveryReasonHasARemedyAndAMarkedPart) {
    for (std::size_t i = 0; i < reason_count; ++i) {
        const auto r = static_cast<Reason>(i);
        if (r == Reason::EngineUnreachable) {
            continue;  // set by readers only; covered by the stale test below
        }
        if (r == Reason::Unused34) {
            continue;  // never written (result.hpp)
        }
        writer_->publish(4, update(r == Reason::Ok ? Health::Healthy : Health::Unhealthy, r,
                                   r == Reason::Ok ? 200 : 0));
        const std::string out = troubleshoot(4);
        SCOPED_TRACE(std::string(reason_info(r).code) + ":\n" + out);
        const std::size_t at = out.find("What to change: ");
        ASSERT_NE(at, std::string::npos);
        const std::size_t end = out.find('\n', at);
        EXPECT_GT(end - at, 30u);
        EXPECT_EQ(out[end - 1], '.');
        const bool marked = out.find("Faulty part: XX") != std::string::npos;
        EXPECT_EQ(marked, r != Reason::Ok && r != Reason::Pending && r != Reason::OtherShard);
    }
    const Snapshot stale = snapshot(kStart + 75 * kSecond);
    const std::uint32_t rows[] = {0};
    const std::string out = render_troubleshoot(stale, rows, false);
    EXPECT_NE(out.find("report"), std::string::npos);
    EXPECT_NE(out.find("Faulty part: XX the link from this reader to the engine"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("Start or restart the engine"), std::string::npos) << out;
}

TEST_F(RenderTest, CertificateProblemsMarkTheirCertificate) {
    TlsFacts f = facts(kStartS - 2 * kDay);  // the leaf expired two days ago
    writer_->publish_tls_facts(1, f);
    writer_->publish(4, update(Health::Unhealthy, Reason::TlsExpired, 0));
    std::string out = troubleshoot(4);
    EXPECT_NE(out.find("XX certificate: expired"), std::string::npos) << out;
    EXPECT_NE(out.find("Renew the leaf certificate CN=app.contoso.com on the server (it expired "
                       "2023-11-12"),
              std::string::npos)
        << out;
    // A chain ending in a root the server sent that is not trusted: the root is marked.
    f = facts(kStartS + 400 * kDay);
    f.chain_count = 3;
    f.presented = 3;
    f.chain[2] = cert("Contoso Root CA", "Contoso Root CA", true, true, kStartS - 1000 * kDay,
                      kStartS + 3000 * kDay, "", 0xC0);
    writer_->publish_tls_facts(1, f);
    writer_->publish(4, update(Health::Unhealthy, Reason::TlsRootMismatch, 0));
    out = troubleshoot(4);
    EXPECT_NE(out.find("[3] root /O=ringprobe/CN=Contoso Root CA  XX root not trusted"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("Add the root the server sends (/O=ringprobe/CN=Contoso Root CA) to "
                       "trustedRootCertificates on backend setting https443"),
              std::string::npos)
        << out;
    writer_->publish(4, update(Health::Unhealthy, Reason::TlsRootMismatchNoRoot, 0));
    f.chain_count = 2;
    f.presented = 2;
    writer_->publish_tls_facts(1, f);
    out = troubleshoot(4);
    EXPECT_NE(out.find("Set trustedRootCertificates on backend setting https443 to the root that "
                       "signed CN=Contoso Intermediate CA"),
              std::string::npos)
        << out;
}

TEST_F(RenderTest, HostileTlsTextStaysInert) {
    TlsFacts f = facts(kStartS + 400 * kDay);
    std::memset(f.cipher, '\x1b', sizeof f.cipher);  // no NUL at all: the reader cuts it
    put(f.protocol, "TLS\"v1\\3\n");
    put(f.chain[0].subject, "/CN=\x1b[2J\xff\xfe");
    put(f.chain[0].sans, ",,\"a\",\x01,");
    writer_->publish_tls_facts(1, f);
    RenderOptions o;
    o.details = true;
    const std::string json = render_json(snapshot(), o);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
    std::string_view sv;
    ASSERT_EQ(doc.at_pointer("/backendAddressPools/0/backendHttpSettingsCollection/1/servers/1/"
                             "ringprobe/tls/protocol")
                  .get(sv),
              simdjson::SUCCESS);
    EXPECT_EQ(sv, "TLS\"v1\\3\n");
    const std::string table = render_table(snapshot(), o);
    EXPECT_EQ(table.find('\x1b'), std::string::npos);
    EXPECT_EQ(troubleshoot(4).find('\x1b'), std::string::npos);
}

// A name record whose counts are over their bounds, and a TLS record describing more
// certificates than it has room for, are cut to nothing by the reader: every format renders
// them as "not known yet" and never walks past the 16 address or 4 certificate records.
TEST_F(RenderTest, NameAndChainCountsOverTheirBoundsAreCutNotFollowed) {
    NameUpdate name{};
    name.standing = 1;
    name.last_outcome = 1;
    name.address_count = 255;  // bound: report_abi::kAddressesPerName
    name.ttl_s = 300;
    writer_->publish_name(1, name);
    TlsFacts f = facts(kStartS + 400 * kDay);
    f.chain_count = 255;  // bound: report_abi::kChainRecords
    f.presented = 255;
    writer_->publish_tls_facts(2, f);

    const Snapshot s = snapshot();
    EXPECT_EQ(s.names[1].address_count, 0u);
    EXPECT_EQ(s.names[1].standing, 0u);
    EXPECT_EQ(s.tls[2].chain_count, 0u);
    EXPECT_EQ(s.tls[2].captured_unix_ns, 0u);
    EXPECT_EQ(s.names[0].standing, 3u) << "the record beside it is still read";
    EXPECT_EQ(s.tls[1].chain_count, 2u);

    RenderOptions o;
    o.details = true;
    const std::string table = render_table(s, o);
    EXPECT_EQ(table.find("255"), std::string::npos) << table;
    const std::string json = render_json(s, o);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
    EXPECT_EQ(json.find("255"), std::string::npos) << json;
    EXPECT_EQ(render_powershell(s, o).find("255"), std::string::npos);
    const std::string out = troubleshoot(5);
    EXPECT_NE(out.find("DNS pending"), std::string::npos) << out;
    EXPECT_EQ(out.find("[1] leaf"), std::string::npos) << out;
}

TEST_F(RenderTest, FindRowsMatchesTheConfiguredAddressAndFilters) {
    const Snapshot s = snapshot();
    EXPECT_EQ(find_rows(s, "10.0.0.5", "", ""), (std::vector<std::uint32_t>{1, 4}));
    EXPECT_EQ(find_rows(s, "10.0.0.5", "", "https443"), (std::vector<std::uint32_t>{4}));
    EXPECT_EQ(find_rows(s, "APP.contoso.com", "web", ""), (std::vector<std::uint32_t>{2, 5}));
    EXPECT_TRUE(find_rows(s, "10.0.0.5", "api", "").empty());
    EXPECT_TRUE(find_rows(s, "10.9.9.9", "", "").empty());
}

TEST(DateFormat, UtcDatesWithoutMktime) {
    std::string out;
    append_utc(out, 0);
    EXPECT_EQ(out, "1970-01-01T00:00:00Z");
    out.clear();
    append_utc(out, 4102444799);  // the good fixtures' notAfter
    EXPECT_EQ(out, "2099-12-31T23:59:59Z");
    out.clear();
    append_utc(out, 951782400);  // a leap day
    EXPECT_EQ(out, "2000-02-29T00:00:00Z");
    out.clear();
    append_utc(out, -1);
    EXPECT_EQ(out, "1969-12-31T23:59:59Z");
    EXPECT_EQ(days_until(100 * kDay, 0), 100);
    EXPECT_EQ(days_until(-1, 0), -1);
}

TEST(JsonEscape, QuotesControlBytesAndInvalidUtf8GiveValidJson) {
    std::string out;
    append_json_escaped(out, std::string_view("a\"b\\c\n\x01 \xC3\xA9 \xFF end", 16));
    EXPECT_EQ(out, std::string("a\\\"b\\\\c\\n\\u0001 \xC3\xA9 \xEF\xBF\xBD end"));
    std::string doc = "\"" + out + "\"";
    simdjson::dom::parser parser;
    simdjson::dom::element e;
    EXPECT_EQ(parser.parse(doc).get(e), simdjson::SUCCESS) << doc;
}

// A pool a rule routes to with no members has no rows; the gateway's report still lists it, so
// every format shows it in pool order with the note, and a pool no rule reaches stays hidden.
TEST(RenderEmptyPool, ARoutedEmptyPoolIsShownWithItsNoteInEveryFormat) {
    Plan plan = sample_plan();
    plan.pools.push_back(Pool{"empty", "", {}, true});
    plan.pools.push_back(Pool{"spare", "", {}, false});
    NameGuard guard{unique_name("render-empty")};
    WriterOptions wo;
    wo.start_unix_ns = kStart;
    wo.worker_slots = 1;
    auto w = Writer::create(plan, guard.name, wo);
    ASSERT_TRUE(w) << w.error().message;
    w->heartbeat(kStart);
    auto r = Report::open(guard.name);
    ASSERT_TRUE(r);
    SnapshotOptions so;
    so.now_unix_ns = kStart;
    so.alive = &always_alive;
    const Snapshot snap = r->snapshot(so);
    ASSERT_EQ(snap.info->pools[2].flags, report_abi::kPoolEmptyRouted);
    ASSERT_EQ(snap.info->pools[3].flags, 0u);

    const std::string json = render_json(snap, RenderOptions{});
    const std::string note(kEmptyPoolNote);
    EXPECT_NE(json.find("\"backendHttpSettingsCollection\": [],\n      \"note\": \"" + note),
              std::string::npos)
        << json;
    EXPECT_GT(json.find("\"id\": \"empty\""), json.find("\"id\": \"api\""));
    EXPECT_EQ(json.find("spare"), std::string::npos);
    const std::string ps = render_powershell(snap, RenderOptions{});
    EXPECT_NE(ps.find("\"Note\": \"" + note), std::string::npos) << ps;
    const std::string table = render_table(snap, RenderOptions{});
    EXPECT_NE(table.find("pool empty: " + note + "\n"), std::string::npos) << table;
    EXPECT_EQ(table.find("spare"), std::string::npos);

    RenderOptions only;
    only.pool = "empty";
    EXPECT_EQ(render_table(snap, only).find("no servers match"), std::string::npos);
    only.health = Health::Unhealthy;  // no server of an empty pool can match a health
    EXPECT_EQ(render_json(snap, only).find("empty"), std::string::npos);
}

TEST(RenderNicMember, DetailsNameTheNicAndIpConfiguration) {
    Plan plan = sample_plan();
    plan.pools[1].servers[0].nic = "web-vmss/3/web-vmss-nic";
    plan.pools[1].servers[0].ip_configuration = "ipconfig1";
    NameGuard guard{unique_name("render-nic")};
    WriterOptions wo;
    wo.start_unix_ns = kStart;
    wo.worker_slots = 1;
    auto w = Writer::create(plan, guard.name, wo);
    ASSERT_TRUE(w) << w.error().message;
    w->heartbeat(kStart);
    auto r = Report::open(guard.name);
    ASSERT_TRUE(r);
    SnapshotOptions so;
    so.now_unix_ns = kStart;
    so.alive = &always_alive;
    const Snapshot snap = r->snapshot(so);
    RenderOptions details;
    details.details = true;
    const std::string json = render_json(snap, details);
    EXPECT_NE(json.find("\"nic\": \"web-vmss/3/web-vmss-nic\",\n"), std::string::npos) << json;
    EXPECT_NE(json.find("\"ipConfiguration\": \"ipconfig1\""), std::string::npos);
    EXPECT_EQ(render_json(snap, RenderOptions{}).find("\"nic\""), std::string::npos);
    EXPECT_NE(render_table(snap, details)
                  .find("    nic web-vmss/3/web-vmss-nic, IP configuration ipconfig1\n"),
              std::string::npos);
}

// A Tcp or Tls row's details say which PROXY protocol header its probe sends first (none, v1,
// v2): TargetRecord byte 78, in the JSON details and under the table's --details row.
TEST(RenderProxy, TcpAndTlsDetailsNameThePROXYVersionTheProbeSends) {
    Plan p;
    p.gateway_name = "l4-gw";
    p.pools.push_back(Pool{"db", "", {Server{"10.2.0.4", false}}});
    for (const ProxyProtocol v : {ProxyProtocol::V2, ProxyProtocol::V1, ProxyProtocol::None}) {
        Setting st;
        st.name = std::string("tcp-") + (v == ProxyProtocol::V2   ? "v2"
                                         : v == ProxyProtocol::V1 ? "v1"
                                                                  : "none");
        st.port = static_cast<std::uint16_t>(5432 + p.settings.size());
        st.protocol = Protocol::Tcp;
        st.layer4 = true;
        p.settings.push_back(st);
        Target t;
        t.address = "10.2.0.4";
        t.port = st.port;
        t.protocol = Protocol::Tcp;
        t.proxy_protocol = v;
        p.rows.push_back(Row{0, static_cast<std::uint32_t>(p.settings.size() - 1), 0,
                             static_cast<std::uint32_t>(p.targets.size())});
        p.targets.push_back(t);
    }
    NameGuard guard{unique_name("render-proxy")};
    WriterOptions wo;
    wo.start_unix_ns = kStart;
    auto w = Writer::create(p, guard.name, wo);
    ASSERT_TRUE(w) << w.error().message;
    auto r = Report::open(guard.name);
    ASSERT_TRUE(r) << r.error().message;
    SnapshotOptions so;
    so.now_unix_ns = kStart + kSecond;
    so.alive = &always_alive;
    const Snapshot s = r->snapshot(so);
    ASSERT_EQ(s.info->targets.size(), 3u);
    EXPECT_EQ(s.info->targets[0].proxy_protocol, report_abi::kProxyV2);
    EXPECT_EQ(s.info->targets[1].proxy_protocol, report_abi::kProxyV1);
    EXPECT_EQ(s.info->targets[2].proxy_protocol, report_abi::kProxyNone);
    RenderOptions o;
    o.details = true;
    const std::string json = render_json(s, o);
    EXPECT_NE(json.find("\"proxyProtocol\": \"v2\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"proxyProtocol\": \"v1\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"proxyProtocol\": \"none\""), std::string::npos) << json;
    const std::string table = render_table(s, o);
    EXPECT_NE(table.find("PROXY protocol: v2 header sent before anything else"), std::string::npos)
        << table;
    EXPECT_NE(table.find("PROXY protocol: none (no header sent)"), std::string::npos) << table;
}

}  // namespace
}  // namespace ringprobe::report
