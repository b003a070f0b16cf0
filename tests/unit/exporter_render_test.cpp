// Pins what the exporter renders, without a socket or an engine: a report segment is written
// by hand (report::Writer over the report tests' sample plan) and the renderers read it back.
// It proves that /metrics is well-formed exposition text (every sample under a TYPE line, no
// series twice, histogram buckets cumulative up to +Inf == _count, label values escaped), that
// the probe tally attributes each probe to its reason (and says "unseen" when it cannot), that
// servers are counted per pool and health, and that the page filters, escapes and marks the
// faulty part of the troubleshoot drawing by the reason's layer.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "exporter/metrics.hpp"
#include "exporter/page.hpp"
#include "exporter/probe_tally.hpp"
#include "report/names.hpp"
#include "report/reader.hpp"
#include "report/writer.hpp"
#include "report_test_plan.hpp"

namespace ringprobe::exporter {
namespace {

using report::TargetUpdate;

constexpr std::uint64_t kStart = 1'700'000'000'000'000'000ULL;
constexpr std::uint64_t kSecond = 1'000'000'000ULL;

bool always_alive(std::int32_t) { return true; }

struct Segment {
    std::string name = report::testing::unique_name("exporter");
    std::optional<report::Writer> writer;
    explicit Segment(const Plan& plan) {
        report::WriterOptions o;
        o.engine_pid = 4242;
        o.start_unix_ns = kStart;
        o.worker_slots = 2;
        auto w = report::Writer::create(plan, name, o);
        EXPECT_TRUE(w) << w.error().message;
        writer.emplace(std::move(*w));
        writer->heartbeat(kStart + 9 * kSecond);
    }
    ~Segment() { ::unlink(report::segment_path(name).c_str()); }
    report::Report open() const {
        auto r = report::Report::open(name);
        EXPECT_TRUE(r);
        return std::move(*r);
    }
    report::Snapshot snap() const {
        report::SnapshotOptions o;
        o.now_unix_ns = kStart + 10 * kSecond;
        o.alive = &always_alive;
        return open().snapshot(o);
    }
};

TargetUpdate update(Health h, Reason r, std::uint64_t ok, std::uint64_t fail,
                    std::uint64_t prober = 0) {
    TargetUpdate u;
    u.health = h;
    u.reason = r;
    u.http_status = r == Reason::Ok ? 200 : (r == Reason::StatusMismatch ? 503 : 0);
    u.latency_us = 1500;
    u.connect_us = 300;
    u.first_byte_us = 1200;
    u.last_probe_unix_ns = kStart + 7 * kSecond;
    u.total_ok = ok;
    u.total_fail = fail;
    u.total_prober_errors = prober;
    u.total_probes = ok + fail + prober;
    return u;
}

// A minimal exposition-format checker: returns the samples as "name{labels}" -> value text.
std::map<std::string, std::string> parse_exposition(const std::string& text) {
    std::map<std::string, std::string> samples;
    std::map<std::string, std::string> types;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        EXPECT_FALSE(line.empty()) << "blank line in exposition";
        if (line.rfind("# TYPE ", 0) == 0) {
            std::istringstream f(line.substr(7));
            std::string name, type;
            f >> name >> type;
            EXPECT_TRUE(types.emplace(name, type).second) << "TYPE twice: " << name;
            continue;
        }
        if (line.rfind("# HELP ", 0) == 0) {
            continue;
        }
        const std::size_t sp = line.rfind(' ');
        EXPECT_NE(sp, std::string::npos) << line;
        const std::string series = line.substr(0, sp);
        std::string name = series.substr(0, series.find('{'));
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            const std::string s = suffix;
            if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
                types.count(name.substr(0, name.size() - s.size())) != 0 &&
                types[name.substr(0, name.size() - s.size())] == "histogram") {
                name = name.substr(0, name.size() - s.size());
            }
        }
        EXPECT_EQ(types.count(name), 1u) << "sample before its TYPE: " << line;
        EXPECT_TRUE(samples.emplace(series, line.substr(sp + 1)).second) << "twice: " << series;
    }
    return samples;
}

engine::EngineTotals sample_totals() {
    engine::EngineTotals t;
    t.probes_started = 10;
    t.probes_completed = 9;
    t.by_reason[static_cast<std::size_t>(Reason::Ok)] = 6;
    t.by_reason[static_cast<std::size_t>(Reason::ConnectRefused)] = 2;
    t.by_reason[static_cast<std::size_t>(Reason::ProberNoFds)] = 1;
    t.duration_us[engine::Histogram::bucket_of(1000)] = 5;   // 1 ms
    t.duration_us[engine::Histogram::bucket_of(40)] = 3;     // 40 us
    t.duration_us[engine::Histogram::bucket_of(200'000'000)] = 1;  // beyond the last le
    t.lateness_us[engine::Histogram::bucket_of(90)] = 9;
    return t;
}

TEST(ExporterMetrics, ExpositionIsWellFormedAndHistogramsAreCumulative) {
    Segment seg(report::testing::sample_plan());
    seg.writer->publish(0, update(Health::Healthy, Reason::Ok, 3, 0));
    const auto snap = seg.snap();
    ProbeTally tally(*snap.info);
    tally.sweep(snap);
    const engine::EngineTotals totals = sample_totals();
    const EngineFacts facts{2, "single_issuer", 1234};
    ServerStats server;
    MetricsInput in{&totals, &facts, &snap, &tally, &server, true};
    const auto m = parse_exposition(render_metrics(in));

    EXPECT_EQ(m.at("ringprobe_build_info{version=\"" RINGPROBE_VERSION "\"}"), "1");
    // 40 us is below the first edge (64 us); 1 ms lands under le=1.024 ms, not 0.512 ms.
    EXPECT_EQ(m.at("ringprobe_probe_duration_seconds_bucket{le=\"6.4e-05\"}"), "3");
    EXPECT_EQ(m.at("ringprobe_probe_duration_seconds_bucket{le=\"0.000512\"}"), "3");
    EXPECT_EQ(m.at("ringprobe_probe_duration_seconds_bucket{le=\"0.001024\"}"), "8");
    EXPECT_EQ(m.at("ringprobe_probe_duration_seconds_bucket{le=\"+Inf\"}"), "9");
    EXPECT_EQ(m.at("ringprobe_probe_duration_seconds_count"), "9");
    EXPECT_EQ(m.at("ringprobe_prober_errors_total{kind=\"no_fds\"}"), "1");
    EXPECT_EQ(m.at("ringprobe_probe_outcomes_total{reason=\"connect_refused\",layer=\"l4\"}"),
              "2");
    EXPECT_EQ(m.at("ringprobe_probes_total{pool=\"web\",setting=\"http80\",reason=\"ok\"}"), "3");
    EXPECT_EQ(m.at("ringprobe_servers{pool=\"web\",health=\"Healthy\"}"), "1");
    EXPECT_EQ(m.at("ringprobe_servers{pool=\"web\",health=\"Unknown\"}"), "5");
    EXPECT_EQ(m.at("ringprobe_servers{pool=\"api\",health=\"Unknown\"}"), "1");
    EXPECT_EQ(m.at("ringprobe_server_healthy{pool=\"web\",setting=\"http80\",server=\"10.0.0.4\"}"),
              "1");
    EXPECT_EQ(m.at("ringprobe_report_up"), "1");
}

TEST(ExporterMetrics, NothingPerServerUnlessAskedFor) {
    Segment seg(report::testing::large_plan(2000));
    const auto snap = seg.snap();
    ProbeTally tally(*snap.info);
    MetricsInput in{nullptr, nullptr, &snap, &tally, nullptr, false};
    const std::string text = render_metrics(in);
    EXPECT_EQ(text.find("10.0.0.1"), std::string::npos);
    // 10 pools x 3 health values + 20 groups x "ok": the size does not grow with servers.
    EXPECT_LT(text.size(), 8000u);
}

TEST(ExporterMetrics, LabelValuesAreEscaped) {
    std::string out;
    append_label_value(out, "a\"b\\c\nd");
    EXPECT_EQ(out, "a\\\"b\\\\c\\nd");
}

TEST(ProbeTally, AttributesEachProbeToTheReasonSeenAfterIt) {
    Segment seg(report::testing::sample_plan());
    auto rep = seg.open();
    ProbeTally tally(rep.info());
    seg.writer->publish(6, update(Health::Unknown, Reason::ConnectRefused, 0, 1));
    tally.sweep(rep);
    seg.writer->publish(6, update(Health::Unhealthy, Reason::ResponseTimeout, 0, 2));
    tally.sweep(rep);
    seg.writer->publish(6, update(Health::Unhealthy, Reason::Ok, 1, 2));
    tally.sweep(rep);
    tally.sweep(rep);  // nothing new: nothing counted twice
    // Group order follows the rows: web/http80, web/https443, api/http80.
    ASSERT_EQ(tally.groups().size(), 3u);
    EXPECT_EQ(tally.groups()[2].pool, 1u);
    EXPECT_EQ(tally.count(2, static_cast<std::size_t>(Reason::ConnectRefused)), 1u);
    EXPECT_EQ(tally.count(2, static_cast<std::size_t>(Reason::ResponseTimeout)), 1u);
    EXPECT_EQ(tally.count(2, static_cast<std::size_t>(Reason::Ok)), 1u);
    EXPECT_EQ(tally.count(2, kUnseenIndex), 0u);
    EXPECT_EQ(tally.count(0, static_cast<std::size_t>(Reason::Ok)), 0u);
}

TEST(ProbeTally, FailuresWhoseReasonWasOverwrittenCountAsUnseen) {
    Segment seg(report::testing::sample_plan());
    auto rep = seg.open();
    ProbeTally tally(rep.info());
    // Two failures and a success between two sweeps: the failures' reason is gone.
    seg.writer->publish(0, update(Health::Healthy, Reason::Ok, 1, 2));
    tally.sweep(rep);
    EXPECT_EQ(tally.count(0, static_cast<std::size_t>(Reason::Ok)), 1u);
    EXPECT_EQ(tally.count(0, kUnseenIndex), 2u);
}

TEST(ProbeTally, ASharedTargetCountsOncePerRowItServes) {
    Plan plan = report::testing::sample_plan();
    plan.pools[1].servers.push_back(Server{"10.0.0.4", false});
    plan.rows.push_back(Row{1, 0, 1, 0});  // api/http80 also shows web's target 0
    Segment seg(plan);
    auto rep = seg.open();
    ProbeTally tally(rep.info());
    seg.writer->publish(0, update(Health::Healthy, Reason::Ok, 4, 0));
    tally.sweep(rep);
    EXPECT_EQ(tally.count(0, static_cast<std::size_t>(Reason::Ok)), 4u);
    EXPECT_EQ(tally.count(2, static_cast<std::size_t>(Reason::Ok)), 4u);
}

TEST(ExporterPage, QueryParametersAreDecoded) {
    EXPECT_EQ(query_param("pool=web%20one&health=Unhealthy", "pool"), "web one");
    EXPECT_EQ(query_param("a=1&pool=x+y", "pool"), "x y");
    EXPECT_EQ(query_param("details", "details"), "");
    EXPECT_EQ(query_param("a=1", "pool"), std::nullopt);
    const PageQuery q = parse_page_query("pool=api&health=unhealthy&page=3");
    EXPECT_EQ(q.pool, "api");
    EXPECT_EQ(q.health, Health::Unhealthy);
    EXPECT_EQ(q.page, 3u);
}

std::size_t count_of(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) {
        ++n;
    }
    return n;
}

TEST(ExporterPage, FiltersByPoolAndHealthAndLinksTroubleshootForUnhealthyRowsOnly) {
    Segment seg(report::testing::sample_plan());
    seg.writer->publish(0, update(Health::Healthy, Reason::Ok, 1, 0));
    seg.writer->publish(1, update(Health::Unhealthy, Reason::StatusMismatch, 0, 3));
    const auto snap = seg.snap();
    const std::string all = render_page(snap, PageQuery{}, PageOptions{});
    EXPECT_EQ(count_of(all, "<tr data-row="), 7u);
    EXPECT_EQ(count_of(all, "class=\"troubleshoot\""), 6u);  // every row but the Healthy one
    EXPECT_NE(all.find("http-equiv=\"refresh\""), std::string::npos);
    EXPECT_EQ(all.find("<script"), std::string::npos);
    EXPECT_EQ(all.find("src="), std::string::npos);  // no external asset

    PageQuery q;
    q.pool = "web";
    q.health = Health::Unhealthy;
    const std::string some = render_page(snap, q, PageOptions{});
    EXPECT_EQ(count_of(some, "<tr data-row="), 1u);
    EXPECT_NE(some.find("data-row=\"1\" data-health=\"Unhealthy\""), std::string::npos);
}

TEST(ExporterPage, PagesALargeReport) {
    Segment seg(report::testing::large_plan(1200));
    const auto snap = seg.snap();
    PageOptions o;
    o.rows_per_page = 500;
    PageQuery q;
    q.page = 2;
    const std::string last = render_page(snap, q, o);
    EXPECT_EQ(count_of(last, "<tr data-row="), 200u);
    EXPECT_NE(last.find("id=\"prev\""), std::string::npos);
    EXPECT_EQ(last.find("id=\"next\""), std::string::npos);
}

TEST(ExporterPage, NamesFromTheConfigurationAreEscaped) {
    Plan plan = report::testing::sample_plan();
    plan.pools[1].name = "<script>alert(1)</script>";
    Segment seg(plan);
    const std::string page = render_page(seg.snap(), PageQuery{}, PageOptions{});
    EXPECT_EQ(page.find("<script>"), std::string::npos);
    EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
}

TEST(ExporterTroubleshoot, MarksThePartTheReasonPointsAt) {
    Segment seg(report::testing::sample_plan());
    seg.writer->publish(0, update(Health::Unhealthy, Reason::ConnectRefused, 0, 3));
    seg.writer->publish(1, update(Health::Unhealthy, Reason::StatusMismatch, 0, 3));
    seg.writer->publish(2, update(Health::Unhealthy, Reason::DnsNxdomain, 0, 3));
    seg.writer->publish(4, update(Health::Unhealthy, Reason::TlsNameMismatch, 0, 3));
    const auto snap = seg.snap();
    auto page = [&](std::uint32_t row) { return *render_troubleshoot(snap, row, PageOptions{}); };
    EXPECT_NE(page(0).find("id=\"link-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_EQ(page(0).find("id=\"box-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_NE(page(1).find("id=\"box-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_EQ(page(1).find("id=\"link-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_NE(page(2).find("id=\"box-ringprobe\" class=\"faulty\""), std::string::npos);
    EXPECT_NE(page(4).find("id=\"link-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_NE(page(4).find("id=\"tls\""), std::string::npos);
    EXPECT_NE(page(0).find("id=\"t-connect\"><td>TCP connect</td><td>0.30 ms"), std::string::npos);
    EXPECT_NE(page(1).find("<code id=\"reason\">status_mismatch</code>"), std::string::npos);
    EXPECT_FALSE(render_troubleshoot(snap, 7, PageOptions{}).has_value());
}

}  // namespace
}  // namespace ringprobe::exporter
