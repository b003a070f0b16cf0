// Pins src/report/{render,sentences}.cpp: the az-shaped JSON, the PowerShell shape and the
// table, each compared byte for byte with a fixture in tests/fixtures/report/ (regenerate with
// RP_UPDATE_FIXTURES=1 and review the diff); the JSON parses and has the az CLI's keys; every
// Reason has its own healthProbeLog sentence; strings are escaped so any detail bytes still give
// valid JSON. Time and the engine's liveness are injected, so the output is deterministic.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "report/reader.hpp"
#include "report/render.hpp"
#include "report/sentences.hpp"
#include "report/writer.hpp"
#include "report_test_plan.hpp"

namespace ringprobe::report {
namespace {

using testing::sample_plan;
using testing::unique_name;

constexpr std::uint64_t kStart = 1'700'000'000'000'000'000ULL;
constexpr std::uint64_t kSecond = 1'000'000'000ULL;

bool always_alive(std::int32_t) { return true; }

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
        writer_->publish(3, update(Health::Healthy, Reason::Ok, 200));
        writer_->publish(4, update(Health::Unhealthy, Reason::TlsNameMismatch, 0,
                                   "leaf CN=other.example; SAN=www.other.example"));
        writer_->publish(5, update(Health::Unhealthy, Reason::BodyMismatch, 200));
        TargetUpdate refused = update(Health::Unhealthy, Reason::ConnectRefused, 0);
        refused.sys_errno = ECONNREFUSED;
        writer_->publish(6, refused);
        writer_->heartbeat(kStart + 9 * kSecond);
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
    expect_fixture("report_stale.json", render_json(snapshot(kStart + 75 * kSecond), RenderOptions{}));
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
                             "backendHttpSettings/id").get(id),
              simdjson::SUCCESS);
    EXPECT_EQ(id, "/gw/contoso-gw/backendHttpSettingsCollection/https443");
    std::string_view health, log, reason;
    auto server = doc.at_pointer("/backendAddressPools/0/backendHttpSettingsCollection/0/servers/1");
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

TEST(JsonEscape, QuotesControlBytesAndInvalidUtf8GiveValidJson) {
    std::string out;
    append_json_escaped(out, std::string_view("a\"b\\c\n\x01 \xC3\xA9 \xFF end", 16));
    EXPECT_EQ(out, std::string("a\\\"b\\\\c\\n\\u0001 \xC3\xA9 \xEF\xBF\xBD end"));
    std::string doc = "\"" + out + "\"";
    simdjson::dom::parser parser;
    simdjson::dom::element e;
    EXPECT_EQ(parser.parse(doc).get(e), simdjson::SUCCESS) << doc;
}

}  // namespace
}  // namespace ringprobe::report
