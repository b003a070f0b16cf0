// Pins what the exporter renders, without a socket or an engine: a report segment is written
// by hand (report::Writer over the report tests' sample plan) and the renderers read it back.
// It proves that /metrics is well-formed exposition text (every sample under a TYPE line, no
// series twice, histogram buckets cumulative up to +Inf == _count, label values escaped), that
// the probe tally attributes each probe to its reason (and says "unseen" when it cannot), that
// servers are counted per pool and health, and that the page filters, escapes and marks the
// faulty part of the troubleshoot drawing as report::fault_part decides it (the part the
// terminal's --troubleshoot names). The layout-2 families come from
// hand-published records too: the resolver's lookups by outcome (Writer::publish_resolver_stats),
// TLS handshakes summed over the workers' records, the certificate expiry per TLS row from the
// TlsFacts records (capped to the rows that expire first), and the troubleshoot view's chain
// (the certificate each Reason blames) and DNS addresses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "exporter/chain_view.hpp"
#include "exporter/metrics.hpp"
#include "exporter/page.hpp"
#include "exporter/probe_tally.hpp"
#include "report/names.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"
#include "report/writer.hpp"
#include "support/report_test_plan.hpp"

namespace ringprobe::exporter {
namespace {

using report::TargetUpdate;

constexpr std::uint64_t kStart = 1'700'000'000'000'000'000ULL;
constexpr std::uint64_t kSecond = 1'000'000'000ULL;

bool always_alive(std::int32_t) {
    return true;
}

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
    t.duration_us[Histogram::bucket_of(1000)] = 5;         // 1 ms
    t.duration_us[Histogram::bucket_of(40)] = 3;           // 40 us
    t.duration_us[Histogram::bucket_of(200'000'000)] = 1;  // beyond the last le
    t.lateness_us[Histogram::bucket_of(90)] = 9;
    t.loops = 7;
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
    EXPECT_EQ(m.at("ringprobe_probe_outcomes_total{reason=\"connect_refused\",layer=\"l4\"}"), "2");
    EXPECT_EQ(m.at("ringprobe_probes_total{pool=\"web\",setting=\"http80\",reason=\"ok\"}"), "3");
    EXPECT_EQ(m.at("ringprobe_servers{pool=\"web\",health=\"Healthy\"}"), "1");
    EXPECT_EQ(m.at("ringprobe_servers{pool=\"web\",health=\"Unknown\"}"), "5");
    EXPECT_EQ(m.at("ringprobe_servers{pool=\"api\",health=\"Unknown\"}"), "1");
    EXPECT_EQ(m.at("ringprobe_server_healthy{pool=\"web\",setting=\"http80\",server=\"10.0.0.4\"}"),
              "1");
    EXPECT_EQ(m.at("ringprobe_report_up"), "1");
    EXPECT_EQ(m.at("ringprobe_worker_loops_total"), "7");
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

// minServers 2 on the sample plan's http80 setting: of web x http80 (rows 0..2) only row 0 is
// Healthy, so the first row after it that is not (row 1) is counted healthy; api x http80 has
// one row (6, no result yet), counted as far as the pool has rows. Every output shows the same
// rows, each with its true health, and the per-pool counts; nothing is counted when the
// engine's answer cannot be trusted, and a second Healthy row takes the count's place.
TEST(ExporterMinServers, TheFirstRowsNotHealthyAreCountedInEveryOutput) {
    Plan plan = report::testing::sample_plan();
    plan.settings[0].min_servers = 2;
    Segment seg(plan);
    seg.writer->publish(0, update(Health::Healthy, Reason::Ok, 1, 0));
    seg.writer->publish(1, update(Health::Unhealthy, Reason::StatusMismatch, 0, 3));
    seg.writer->publish(2, update(Health::Unhealthy, Reason::StatusMismatch, 0, 3));
    const auto snap = seg.snap();
    const std::vector<std::uint8_t> want{0, 1, 0, 0, 0, 0, 1};
    EXPECT_EQ(snap.counted_by_min_servers, want);

    const std::string json = report::render_json(snap, report::RenderOptions{});
    EXPECT_EQ(count_of(json, "\"countedHealthyByMinServers\": true"), 2u) << json;
    EXPECT_EQ(count_of(json, "\"minServers\": 2"), 2u) << json;  // web x http80, api x http80
    EXPECT_EQ(count_of(json, "\"health\": \"Unhealthy\""), 2u) << "true health kept";
    report::RenderOptions details;
    details.details = true;
    EXPECT_EQ(count_of(report::render_json(snap, details), "\"countedHealthyByMinServers\": true"),
              2u);

    const std::string table = report::render_table(snap, report::RenderOptions{});
    EXPECT_EQ(count_of(table, "; counted healthy by minServers"), 2u) << table;
    EXPECT_NE(table.find("pool web: 1 healthy, 2 unhealthy, 3 unknown, 1 counted healthy by "
                         "minServers\n"),
              std::string::npos)
        << table;

    const std::string page = render_page(snap, PageQuery{}, PageOptions{});
    EXPECT_EQ(count_of(page, "<span class=\"min-servers\">counted healthy by minServers</span>"),
              2u);
    EXPECT_EQ(count_of(page, "<p class=\"min-servers\">1 counted healthy by minServers</p>"), 2u);

    MetricsInput in{nullptr, nullptr, &snap, nullptr, nullptr, false};
    const auto m = parse_exposition(render_metrics(in));
    EXPECT_EQ(m.at("ringprobe_servers_counted_healthy_by_min_servers{pool=\"web\"}"), "1");
    EXPECT_EQ(m.at("ringprobe_servers_counted_healthy_by_min_servers{pool=\"api\"}"), "1");

    report::SnapshotOptions gone;
    gone.now_unix_ns = kStart + 10 * kSecond;
    gone.alive = [](std::int32_t) { return false; };
    const auto unknown = seg.open().snapshot(gone);
    EXPECT_EQ(
        std::count(unknown.counted_by_min_servers.begin(), unknown.counted_by_min_servers.end(), 1),
        0);

    seg.writer->publish(2, update(Health::Healthy, Reason::Ok, 1, 0));
    const std::vector<std::uint8_t> two_healthy{0, 0, 0, 0, 0, 0, 1};
    EXPECT_EQ(seg.snap().counted_by_min_servers, two_healthy);

    // A plan without minServers has no such family.
    Segment plain(report::testing::sample_plan());
    const auto plain_snap = plain.snap();
    MetricsInput plain_in{nullptr, nullptr, &plain_snap, nullptr, nullptr, false};
    EXPECT_EQ(render_metrics(plain_in).find("min_servers"), std::string::npos);
}

// Sample plan: the Https rows (targets 3..5, pool web) are due every 5 s with a 2.5 s timeout,
// so without a result they are late 12.5 s after the start; the Http rows only after 90 s.
TEST(ExporterMetrics, LateRowsAreCountedPerPoolAndTheCapacityCheckIsShown) {
    Segment seg(report::testing::sample_plan());
    seg.writer->heartbeat(kStart + 20 * kSecond);
    TargetUpdate fresh = update(Health::Healthy, Reason::Ok, 1, 0);
    fresh.last_probe_unix_ns = kStart + 15 * kSecond;
    seg.writer->publish(3, fresh);
    report_abi::CapacityPayload c{};
    c.flags = report_abi::kCapacityChecked | report_abi::kCapacityShortSockets;
    c.workers = 2;
    c.targets = 1000;
    c.in_flight_needed = 150;
    c.sockets_per_worker = 32;
    c.probes_per_s = 500;
    c.probes_per_s_max = 20000;
    c.nofile_limit = 128;
    c.nofile_needed = 444;
    c.slowdown_permille = 4688;
    seg.writer->publish_capacity(c);
    const auto snap = seg.snap();
    MetricsInput in{nullptr, nullptr, &snap, nullptr, nullptr, false};
    const auto m = parse_exposition(render_metrics(in));
    EXPECT_EQ(m.at("ringprobe_servers_late{pool=\"web\"}"), "2");
    EXPECT_EQ(m.at("ringprobe_servers_late{pool=\"api\"}"), "0");
    EXPECT_EQ(m.at("ringprobe_capacity_short"), "1");
    EXPECT_EQ(m.at("ringprobe_capacity_in_flight_needed"), "150");
    EXPECT_EQ(m.at("ringprobe_capacity_sockets_per_worker"), "32");
    EXPECT_EQ(m.at("ringprobe_capacity_nofile_needed"), "444");
    EXPECT_EQ(m.at("ringprobe_capacity_slowdown_ratio"), "4.688");

    const std::string page = render_page(snap, PageQuery{}, PageOptions{});
    EXPECT_NE(page.find("<p class=\"warn\" id=\"capacity-warning\">capacity short:"),
              std::string::npos);
    EXPECT_NE(page.find("<p class=\"late\">2 late</p>"), std::string::npos);
    EXPECT_EQ(count_of(page, "<span class=\"late\">late: no result in 20 s, due every 5 s"), 2u);
}

TEST(ExporterMetrics, NoCapacityFamiliesBeforeTheEngineChecked) {
    Segment seg(report::testing::sample_plan());
    const auto snap = seg.snap();
    MetricsInput in{nullptr, nullptr, &snap, nullptr, nullptr, false};
    const auto m = parse_exposition(render_metrics(in));
    EXPECT_EQ(m.count("ringprobe_capacity_short"), 0u);
    EXPECT_EQ(m.at("ringprobe_servers_late{pool=\"web\"}"), "0");
}

// --- shard ---
// A sharded engine's series all carry shard="I/N"; the rows other shards probe are theirs to
// count, so ringprobe_servers leaves them out and the shards' series add up to the gateway's.
TEST(ExporterMetrics, AShardLabelsEverySeriesAndCountsOnlyItsOwnRows) {
    Plan plan = report::testing::sample_plan();
    plan.shard = ShardPlacement{1, 3, 1};
    std::uint64_t owned_web = 0;
    for (std::size_t i = 0; i < plan.targets.size(); ++i) {
        plan.targets[i].owned = i % 2 == 0;
        owned_web += plan.targets[i].owned && plan.rows[i].pool_index == 0 ? 1 : 0;
    }
    Segment seg(plan);
    const auto snap = seg.snap();
    MetricsInput in{nullptr, nullptr, &snap, nullptr, nullptr, false};
    const std::string text = render_metrics(in);
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.empty() && line[0] != '#') {
            EXPECT_NE(line.find("{shard=\"1/3\""), std::string::npos) << line;
        }
    }
    const auto m = parse_exposition(text);
    EXPECT_EQ(m.at("ringprobe_servers{shard=\"1/3\",pool=\"web\",health=\"Unknown\"}"),
              std::to_string(owned_web));
    EXPECT_EQ(m.at("ringprobe_shard_targets{shard=\"1/3\"}"), "4");
}
// --- end shard ---

TEST(ExporterTroubleshoot, MarksThePartTheReasonPointsAt) {
    Segment seg(report::testing::sample_plan());
    seg.writer->publish(0, update(Health::Unhealthy, Reason::ConnectRefused, 0, 3));
    seg.writer->publish(1, update(Health::Unhealthy, Reason::StatusMismatch, 0, 3));
    seg.writer->publish(2, update(Health::Unhealthy, Reason::DnsNxdomain, 0, 3));
    seg.writer->publish(4, update(Health::Unhealthy, Reason::TlsNameMismatch, 0, 3));
    seg.writer->publish(5, update(Health::Unhealthy, Reason::TlsHandshakeTimeout, 0, 3));
    const auto snap = seg.snap();
    auto page = [&](std::uint32_t row) { return *render_troubleshoot(snap, row, PageOptions{}); };
    EXPECT_NE(page(0).find("id=\"link-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_EQ(page(0).find("id=\"box-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_NE(page(1).find("id=\"box-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_EQ(page(1).find("id=\"link-backend\" class=\"faulty\""), std::string::npos);
    // A name that does not resolve is the resolution's fault, drawn on the link to the backend.
    EXPECT_NE(page(2).find("id=\"link-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_EQ(page(2).find("id=\"box-ringprobe\" class=\"faulty\""), std::string::npos);
    EXPECT_NE(page(4).find("id=\"link-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_NE(page(4).find("id=\"tls\""), std::string::npos);
    EXPECT_NE(page(4).find("id=\"box-backend\" class=\"faulty\""), std::string::npos);
    // A handshake that stalled blames the link, not the backend's certificate.
    EXPECT_NE(page(5).find("id=\"link-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_EQ(page(5).find("id=\"box-backend\" class=\"faulty\""), std::string::npos);
    EXPECT_NE(page(0).find("id=\"t-connect\"><td>TCP connect</td><td>0.30 ms"), std::string::npos);
    EXPECT_NE(page(1).find("<code id=\"reason\">status_mismatch</code>"), std::string::npos);
    EXPECT_FALSE(render_troubleshoot(snap, 7, PageOptions{}).has_value());
}

// The page and the terminal's --troubleshoot name the same faulty part: both ask
// report::fault_part. A DNS failure is the resolution's (the backend's name), not ringprobe's.
TEST(ExporterTroubleshoot, NamesTheSameFaultyPartAsTheTerminalView) {
    Segment seg(report::testing::sample_plan());
    seg.writer->publish(2, update(Health::Unhealthy, Reason::DnsNxdomain, 0, 3));
    const auto snap = seg.snap();
    const std::uint32_t rows[] = {2};
    const std::string terminal = report::render_troubleshoot(snap, rows, false);
    const std::string page = *render_troubleshoot(snap, 2, PageOptions{});
    auto between = [](const std::string& s, std::string_view open, std::string_view close) {
        const std::size_t at = s.find(open);
        EXPECT_NE(at, std::string::npos) << s;
        const std::size_t from = at == std::string::npos ? s.size() : at + open.size();
        return s.substr(from, s.find(close, from) - from);
    };
    std::string want;
    append_html_escaped(want, between(terminal, "Faulty part: XX ", ".\n"));
    EXPECT_EQ(want, "the DNS resolution of the server&#39;s name");
    EXPECT_EQ(between(page, "<p id=\"fault\">Faulty part: <b class=\"faulty\">", "</b>"), want);
}

// ---- layout 2: DNS, TLS ------------------------------------------------------------------------

std::map<std::string, std::string> render(const report::Snapshot& snap, const TlsExpiry* expiry,
                                          std::uint32_t cap = kTlsExpirySeriesMax,
                                          bool per_server = false) {
    MetricsInput in;
    in.snap = &snap;
    in.tls_expiry = expiry;
    in.tls_expiry_max = cap;
    in.per_server = per_server;
    return parse_exposition(render_metrics(in));
}

TEST(ExporterMetrics, ResolverLookupsAreCountedByOutcome) {
    Segment seg(report::testing::sample_plan());
    report::ResolverStats r{};
    r.names = 1;
    r.lookups_started = 12;
    r.lookups_done = 10;
    r.by_outcome[1] = 7;  // ok
    r.by_outcome[2] = 2;  // nxdomain
    r.by_outcome[5] = 1;  // timeout
    r.notices_dropped = 3;
    r.updated_unix_ns = kStart + 9 * kSecond;
    seg.writer->publish_resolver_stats(r);
    const auto m = render(seg.snap(), nullptr);
    EXPECT_EQ(m.at("ringprobe_dns_names"), "1");
    EXPECT_EQ(m.at("ringprobe_dns_lookups_total{outcome=\"ok\"}"), "7");
    EXPECT_EQ(m.at("ringprobe_dns_lookups_total{outcome=\"nxdomain\"}"), "2");
    EXPECT_EQ(m.at("ringprobe_dns_lookups_total{outcome=\"timeout\"}"), "1");
    EXPECT_EQ(m.at("ringprobe_dns_lookups_total{outcome=\"other\"}"), "0");  // every outcome
    EXPECT_EQ(m.count("ringprobe_dns_lookups_total{outcome=\"pending\"}"), 0u);
    EXPECT_EQ(m.at("ringprobe_dns_lookups_in_flight"), "2");
    EXPECT_EQ(m.at("ringprobe_dns_notices_dropped_total"), "3");
}

TEST(ExporterMetrics, TlsHandshakesAreSummedOverEveryWorker) {
    Segment seg(report::testing::sample_plan());
    report::WorkerStats a{};
    a.tls_full = 3;
    a.tls_resumed = 5;
    a.tls_failed = 1;
    report::WorkerStats b{};
    b.tls_full = 2;
    b.tls_resumed = 4;
    seg.writer->publish_worker_stats(0, a);
    seg.writer->publish_worker_stats(1, b);
    const auto m = render(seg.snap(), nullptr);
    EXPECT_EQ(m.at("ringprobe_tls_handshakes_total{kind=\"full\"}"), "5");
    EXPECT_EQ(m.at("ringprobe_tls_handshakes_total{kind=\"resumed\"}"), "9");
    EXPECT_EQ(m.at("ringprobe_tls_handshake_failures_total"), "1");
}

void copy_text(char* dst, std::size_t n, std::string_view s) {
    std::memset(dst, 0, n);
    std::memcpy(dst, s.data(), std::min(n - 1, s.size()));
}

template <std::size_t N>
void set(char (&dst)[N], std::string_view s) {
    copy_text(dst, N, s);
}

report_abi::CertRecord cert(std::string_view cn, std::string_view issuer_cn, std::int64_t from,
                            std::int64_t until, bool ca) {
    report_abi::CertRecord c{};
    set(c.subject, "/CN=" + std::string(cn) + "/O=ringprobe tests");
    set(c.issuer, "/CN=" + std::string(issuer_cn) + "/O=ringprobe tests");
    set(c.common_name, cn);
    c.not_before_s = from;
    c.not_after_s = until;
    c.is_ca = ca ? 1 : 0;
    c.self_issued = cn == issuer_cn ? 1 : 0;
    c.sha256[0] = 0xab;
    return c;
}

constexpr std::int64_t k2020 = 1577836800;  // 2020-01-01T00:00:00Z
constexpr std::int64_t k2021 = 1609459200;  // 2021-01-01T00:00:00Z
constexpr std::int64_t k2099 = 4102444799;  // 2099-12-31T23:59:59Z

// What a full handshake with a leaf and its intermediate presented, captured at kStart.
report::TlsFacts facts(std::int64_t leaf_until, std::int64_t inter_until) {
    report::TlsFacts f{};
    f.captured_unix_ns = kStart;
    f.presented = 2;
    f.chain_count = 2;
    f.sni_sent = 1;
    f.handshake_ok = 1;
    f.chain[0] =
        cert("good.ringprobe.test", "ringprobe Test Intermediate CA", k2020, leaf_until, false);
    f.chain[1] =
        cert("ringprobe Test Intermediate CA", "ringprobe Test Root CA", k2020, inter_until, true);
    f.earliest_not_after_s = std::min(leaf_until, inter_until);
    f.full_handshakes = 1;
    set(f.protocol, "TLSv1.3");
    set(f.anchor, "/CN=ringprobe Test Root CA/O=ringprobe tests");
    return f;
}

TEST(ExporterMetrics, CertificateExpiryIsTheEarliestNotAfterOfEachTlsRow) {
    Segment seg(report::testing::sample_plan());
    // Targets 3, 4, 5 are the Https rows of pool web; 5 has had no full handshake yet.
    seg.writer->publish_tls_facts(seg.writer->tls_slot(3), facts(k2099, k2099));
    seg.writer->publish_tls_facts(seg.writer->tls_slot(4), facts(k2099, k2021));
    auto ok = update(Health::Healthy, Reason::Ok, 1, 0);
    ok.flags = report_abi::kStateCertExpiring;
    seg.writer->publish(4, ok);
    const auto snap = seg.snap();
    const TlsExpiry expiry = tls_expiry_of(snap);
    const auto m = render(snap, &expiry);
    const std::string row =
        "ringprobe_tls_cert_expiry_timestamp_seconds{pool=\"web\","
        "setting=\"https443\",server=";
    EXPECT_EQ(m.at(row + "\"10.0.0.4\"}"), "4102444799");
    EXPECT_EQ(m.at(row + "\"10.0.0.5\"}"), "1609459200");
    EXPECT_EQ(m.count(row + "\"app.contoso.com\"}"), 0u);  // not measured: no series
    EXPECT_EQ(m.at("ringprobe_tls_cert_expiry_omitted_rows"), "0");
    EXPECT_EQ(m.at("ringprobe_servers_cert_expiring{pool=\"web\"}"), "1");
    EXPECT_EQ(m.count("ringprobe_servers_cert_expiring{pool=\"api\"}"), 0u);  // no TLS row

    // Capped: only the row that expires first is kept, and the rest is counted.
    const auto capped = render(snap, &expiry, 1);
    EXPECT_EQ(capped.count(row + "\"10.0.0.4\"}"), 0u);
    EXPECT_EQ(capped.at(row + "\"10.0.0.5\"}"), "1609459200");
    EXPECT_EQ(capped.at("ringprobe_tls_cert_expiry_omitted_rows"), "1");
    // --metrics-per-server lifts the cap.
    const auto all = render(snap, &expiry, 1, true);
    EXPECT_EQ(all.count(row + "\"10.0.0.4\"}"), 1u);
    EXPECT_EQ(all.at("ringprobe_tls_cert_expiry_omitted_rows"), "0");
}

TEST(ExporterMetrics, APlanWithoutTlsHasNoCertificateFamilies) {
    Plan plan = report::testing::sample_plan();
    plan.rows.resize(3);
    plan.rows.push_back(Row{1, 0, 0, 6});
    for (std::size_t t = 3; t < 6; ++t) {
        plan.targets[t].protocol = Protocol::Http;  // no TLS target left
    }
    Segment seg(plan);
    const auto snap = seg.snap();
    const TlsExpiry expiry = tls_expiry_of(snap);
    const auto m = render(snap, &expiry);
    EXPECT_EQ(m.count("ringprobe_tls_cert_expiry_omitted_rows"), 0u);
    EXPECT_EQ(m.at("ringprobe_tls_handshakes_total{kind=\"full\"}"), "0");
}

TEST(ChainFault, EachTlsReasonBlamesItsPartOfTheChain) {
    const report::TlsFacts good = facts(k2099, k2099);
    auto blame = [](const report::TlsFacts& f, Reason r, bool expiring = false) {
        return chain_fault(f, r, expiring);
    };
    const ChainFault leaf_expired = blame(facts(k2021, k2099), Reason::TlsExpired);
    EXPECT_EQ(leaf_expired.part, ChainPart::Cert);
    EXPECT_EQ(leaf_expired.cert, 0);
    const ChainFault inter_expired = blame(facts(k2099, k2021), Reason::TlsExpired);
    EXPECT_EQ(inter_expired.part, ChainPart::Cert);
    EXPECT_EQ(inter_expired.cert, 1);
    EXPECT_EQ(blame(good, Reason::TlsExpired).part, ChainPart::Anchor);  // none sent expired
    EXPECT_EQ(blame(good, Reason::TlsNameMismatch).part, ChainPart::Cert);
    EXPECT_EQ(blame(good, Reason::TlsNameMismatch).cert, 0);
    EXPECT_EQ(blame(good, Reason::TlsIntermediateMissing).part, ChainPart::MissingIssuer);
    EXPECT_EQ(blame(good, Reason::TlsLeafMissing).part, ChainPart::MissingLeaf);
    EXPECT_EQ(blame(good, Reason::TlsRootMismatchNoRoot).part, ChainPart::Anchor);
    EXPECT_EQ(blame(good, Reason::TlsUntrustedRoot).part, ChainPart::Anchor);  // no root sent
    EXPECT_EQ(blame(good, Reason::TlsVerifyOther).part, ChainPart::WholeChain);
    EXPECT_EQ(blame(good, Reason::TlsAlert).part, ChainPart::Handshake);
    EXPECT_EQ(blame(good, Reason::TlsHandshakeTimeout).part, ChainPart::Handshake);
    EXPECT_EQ(blame(good, Reason::ConnectRefused).part, ChainPart::None);
    EXPECT_EQ(blame(good, Reason::Ok).part, ChainPart::None);

    // The server sent its own root, which is not trusted: the top certificate is blamed.
    report::TlsFacts with_root = good;
    with_root.chain[2] = cert("Other Root", "Other Root", k2020, k2099, true);
    with_root.chain_count = 3;
    with_root.presented = 3;
    EXPECT_EQ(blame(with_root, Reason::TlsRootMismatch).part, ChainPart::Cert);
    EXPECT_EQ(blame(with_root, Reason::TlsRootMismatch).cert, 2);

    // Intermediate first, leaf second: the misplaced leaf is blamed.
    report::TlsFacts swapped = good;
    std::swap(swapped.chain[0], swapped.chain[1]);
    EXPECT_EQ(blame(swapped, Reason::TlsLeafNotTopmost).cert, 1);

    // A Healthy target inside its early-warning period: the first to expire, as a warning.
    const ChainFault soon = blame(facts(k2099, k2021), Reason::Ok, true);
    EXPECT_EQ(soon.part, ChainPart::Cert);
    EXPECT_EQ(soon.cert, 1);
    EXPECT_TRUE(soon.warning);
}

TEST(ExporterTroubleshoot, DrawsThePresentedChainAndMarksTheFaultyCertificate) {
    Segment seg(report::testing::sample_plan());
    report::TlsFacts f = facts(k2021, k2099);
    set(f.chain[0].subject, "/CN=<b>evil</b>");
    seg.writer->publish_tls_facts(seg.writer->tls_slot(3), f);
    seg.writer->publish(3, update(Health::Unhealthy, Reason::TlsExpired, 0, 3));
    seg.writer->publish_tls_facts(seg.writer->tls_slot(4), facts(k2099, k2099));
    seg.writer->publish(4, update(Health::Unhealthy, Reason::TlsIntermediateMissing, 0, 3));
    const auto snap = seg.snap();
    // Rows 3 and 4 show targets 3 and 4.
    const std::string expired = *render_troubleshoot(snap, 3, PageOptions{});
    EXPECT_NE(expired.find("<g id=\"chain-cert-0\" class=\"faulty\">"), std::string::npos);
    EXPECT_NE(expired.find("<g id=\"chain-cert-1\">"), std::string::npos);
    EXPECT_NE(expired.find("<tr id=\"cert-0\" class=\"faulty\">"), std::string::npos);
    EXPECT_NE(expired.find("2021-01-01T00:00:00Z"), std::string::npos);
    EXPECT_NE(expired.find("<g id=\"chain-anchor\">"), std::string::npos);
    EXPECT_NE(expired.find("ringprobe Test Root CA"), std::string::npos);
    EXPECT_EQ(expired.find("<b>evil"), std::string::npos);  // subjects are escaped
    EXPECT_NE(expired.find("&lt;b&gt;evil"), std::string::npos);
    EXPECT_NE(expired.find("id=\"chain-fault\""), std::string::npos);
    EXPECT_EQ(expired.find("id=\"chain-gap\""), std::string::npos);

    const std::string missing = *render_troubleshoot(snap, 4, PageOptions{});
    EXPECT_NE(missing.find("<g id=\"chain-gap\" class=\"faulty\">"), std::string::npos);
    // It names what is missing: the issuer of the intermediate, the topmost certificate sent.
    const std::size_t gap = missing.find("id=\"chain-gap\"");
    const std::string gap_box = missing.substr(gap, missing.find("</g>", gap) - gap);
    EXPECT_NE(gap_box.find(">ringprobe Test Root C"), std::string::npos) << gap_box;  // cut to fit
    EXPECT_EQ(missing.find("<tr id=\"cert-0\" class=\"faulty\">"), std::string::npos);
    // The gap sits between the anchor and the topmost certificate sent (cert 2 of 2).
    EXPECT_LT(missing.find("id=\"chain-anchor\""), missing.find("id=\"chain-gap\""));
    EXPECT_LT(missing.find("id=\"chain-gap\""), missing.find("id=\"chain-cert-1\""));
    EXPECT_LT(missing.find("id=\"chain-cert-1\""), missing.find("id=\"chain-cert-0\""));

    // A TLS target with no full handshake yet, and a plain HTTP one.
    EXPECT_NE(render_troubleshoot(snap, 5, PageOptions{})->find("id=\"tls-none\""),
              std::string::npos);
    EXPECT_NE(render_troubleshoot(snap, 0, PageOptions{})->find("Not a TLS probe."),
              std::string::npos);
}

TEST(ExporterTroubleshoot, AnFqdnServerShowsWhatDnsSaidAndEachAddress) {
    Segment seg(report::testing::sample_plan());
    const std::uint32_t slot = seg.writer->name_slot(2);  // app.contoso.com, http80
    ASSERT_NE(slot, report_abi::kNoSlot);
    report::NameUpdate n{};
    n.standing = 2;      // stale
    n.last_outcome = 5;  // timeout
    n.address_count = 2;
    n.ttl_s = 300;
    n.lookups = 4;
    n.last_lookup_unix_ns = kStart + 8 * kSecond;
    seg.writer->publish_name(slot, n);
    report::AddressUpdate a{};
    a.family = 4;
    a.health = static_cast<std::uint8_t>(Health::Healthy);
    a.reason = static_cast<std::uint16_t>(Reason::Ok);
    a.http_status = 200;
    const std::uint8_t v4[4] = {10, 0, 0, 9};
    std::memcpy(a.address, v4, 4);
    seg.writer->publish_address(slot, 0, a);
    a.family = 6;
    a.health = static_cast<std::uint8_t>(Health::Unhealthy);
    a.reason = static_cast<std::uint16_t>(Reason::ConnectRefused);
    a.http_status = 0;
    const std::uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::memcpy(a.address, v6, 16);
    seg.writer->publish_address(slot, 1, a);
    seg.writer->publish(2, update(Health::Unhealthy, Reason::ConnectRefused, 0, 3));
    const auto snap = seg.snap();
    const std::string page = *render_troubleshoot(snap, 2, PageOptions{});
    EXPECT_NE(page.find("id=\"dns-name\""), std::string::npos);
    EXPECT_NE(page.find("stale"), std::string::npos);
    EXPECT_NE(page.find("last lookup timeout"), std::string::npos);
    EXPECT_NE(page.find("<tr id=\"addr-0\" data-health=\"Healthy\"><td>10.0.0.9</td>"),
              std::string::npos);
    EXPECT_NE(page.find("<tr id=\"addr-1\" data-health=\"Unhealthy\"><td>2001:db8::1</td>"),
              std::string::npos);
    EXPECT_NE(page.find("<code>connect_refused</code>"), std::string::npos);
    EXPECT_EQ(page.find("id=\"addr-2\""), std::string::npos);  // family 0: unused
    // An IP server has no DNS section.
    EXPECT_EQ(render_troubleshoot(snap, 0, PageOptions{})->find("id=\"dns\""), std::string::npos);
}

}  // namespace
}  // namespace ringprobe::exporter
