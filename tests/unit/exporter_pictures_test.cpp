// Pins the web page's pictures (src/exporter/pictures.cpp, pool_samples.cpp) without a socket
// or an engine: a report segment is written by hand over the report tests' sample plan (pool
// web: 6 rows, pool api: 1 row), with history and event records, and the page is rendered from
// it. It proves that the pool-health ring keeps the newest samples oldest first within its
// capacity; that the page draws one figure per pool with the health area, the bar of the counts
// now and twelve latency buckets whose counts add up to the rows with a result; that a timeline
// has one cell per history entry, oldest left, and one mark per change of health, with words
// saying the same; that only the page's first rows get a timeline; and that the recent events
// are listed newest first with the row they touched. Every picture has a title and a
// description.
#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "exporter/page.hpp"
#include "exporter/pictures.hpp"
#include "exporter/pool_samples.hpp"
#include "report/reader.hpp"
#include "report/writer.hpp"
#include "support/report_test_plan.hpp"

namespace ringprobe::exporter {
namespace {

constexpr std::uint64_t kStart = 1'700'000'000'000'000'000ULL;
constexpr std::uint64_t kSecond = 1'000'000'000ULL;

struct Segment {
    std::string name = report::testing::unique_name("pictures");
    std::optional<report::Writer> writer;
    explicit Segment(const Plan& plan) {
        report::WriterOptions o;
        o.engine_pid = 4242;
        o.start_unix_ns = kStart;
        o.worker_slots = 1;
        auto w = report::Writer::create(plan, name, o);
        EXPECT_TRUE(w) << w.error().message;
        writer.emplace(std::move(*w));
        writer->heartbeat(kStart + 99 * kSecond);
    }
    ~Segment() { ::unlink(report::segment_path(name).c_str()); }
    report::Report open() const {
        auto r = report::Report::open(name);
        EXPECT_TRUE(r);
        return std::move(*r);
    }
    report::Snapshot snap(bool history) const {
        report::SnapshotOptions o;
        o.now_unix_ns = kStart + 100 * kSecond;
        o.alive = [](std::int32_t) { return true; };
        o.history = history;
        o.events = true;
        return open().snapshot(o);
    }
};

report::TargetUpdate update(Health h, Reason r, std::uint32_t latency_us) {
    report::TargetUpdate u;
    u.health = h;
    u.reason = r;
    u.http_status = r == Reason::Ok ? 200 : 0;
    u.latency_us = latency_us;
    u.last_probe_unix_ns = kStart + 90 * kSecond;
    u.total_probes = 1;
    u.total_ok = r == Reason::Ok ? 1 : 0;
    u.total_fail = r == Reason::Ok ? 0 : 1;
    return u;
}

std::size_t count_of(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) {
        ++n;
    }
    return n;
}

// The text between the first `from` at or after `at` and the next `to`.
std::string between(const std::string& s, const std::string& from, const std::string& to,
                    std::size_t at = 0) {
    const std::size_t b = s.find(from, at);
    if (b == std::string::npos) {
        return {};
    }
    const std::size_t e = s.find(to, b + from.size());
    return s.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

TEST(PoolSamples, KeepsTheNewestSamplesOldestFirst) {
    PoolSamples s(2, 3);
    EXPECT_EQ(s.size(), 0u);
    for (std::uint32_t i = 0; i < 5; ++i) {
        const HealthCounts a{0, i, 0};
        const HealthCounts b{0, 0, i};
        const HealthCounts both[] = {a, b};
        s.add(kStart + i, both);
        EXPECT_EQ(s.size(), std::min<std::uint32_t>(i + 1, 3));
    }
    ASSERT_EQ(s.size(), 3u);
    for (std::uint32_t i = 0; i < 3; ++i) {
        EXPECT_EQ(s.unix_ns(i), kStart + 2 + i);
        EXPECT_EQ(s.counts(i, 0)[1], 2 + i);
        EXPECT_EQ(s.counts(i, 1)[2], 2 + i);
    }
}

// A sharded engine's report holds rows other shards probe (Health::OtherShard): they are not
// this engine's to count, and the count has no layer for them.
TEST(PoolSamples, RowsOfOtherShardsAreNotCounted) {
    Segment seg(report::testing::sample_plan());
    seg.writer->publish(0, update(Health::Healthy, Reason::Ok, 800));
    seg.writer->publish(1, update(Health::OtherShard, Reason::OtherShard, 0));
    seg.writer->publish(6, update(Health::OtherShard, Reason::OtherShard, 0));
    const std::vector<HealthCounts> now = count_pool_health(seg.snap(false));
    ASSERT_EQ(now.size(), 2u);
    EXPECT_EQ(now[0], (HealthCounts{4, 1, 0}));  // web: four still Unknown, one Healthy
    EXPECT_EQ(now[1], (HealthCounts{0, 0, 0}));  // api: its one row is another shard's
}

TEST(PoolPictures, OneFigurePerPoolWithHealthOverTimeAndLatencyBuckets) {
    Segment seg(report::testing::sample_plan());
    seg.writer->publish(0, update(Health::Healthy, Reason::Ok, 800));
    seg.writer->publish(1, update(Health::Unhealthy, Reason::ConnectRefused, 150));
    seg.writer->publish(6, update(Health::Healthy, Reason::Ok, 30'000));
    const report::Snapshot snap = seg.snap(false);
    const std::vector<HealthCounts> now = count_pool_health(snap);
    ASSERT_EQ(now.size(), 2u);
    EXPECT_EQ(now[0], (HealthCounts{4, 1, 1}));  // web: Unknown, Healthy, Unhealthy
    EXPECT_EQ(now[1], (HealthCounts{0, 1, 0}));

    PoolSamples samples(2, 360);
    const HealthCounts web_before{6, 0, 0};
    const HealthCounts api_before{0, 1, 0};
    const HealthCounts before[] = {web_before, api_before};
    samples.add(kStart + 40 * kSecond, before);
    samples.add(kStart + 90 * kSecond, now);
    PagePictures pictures;
    pictures.samples = &samples;
    pictures.window_ns = 100 * kSecond;
    const std::string page = render_page(snap, PageQuery{}, PageOptions{}, pictures);

    EXPECT_EQ(count_of(page, "<figure class=\"pool-pictures\""), 2u);
    EXPECT_EQ(count_of(page, "<svg class=\"pool-health\""), 2u);
    EXPECT_EQ(count_of(page, "<svg class=\"latency\""), 2u);
    EXPECT_EQ(count_of(page, "<g class=\"bucket\">"), 2 * kLatencyBuckets);
    const std::string web = between(page, "data-pool=\"web\"><figcaption>", "</figure>");
    ASSERT_FALSE(web.empty());
    // web was all Unknown, then one Healthy and one Unhealthy: all three layers are drawn.
    EXPECT_EQ(count_of(web, "<polygon class=\"area-"), 3u);
    EXPECT_EQ(count_of(web, "<rect class=\"now-"), 3u);
    EXPECT_NE(web.find("Now 1 Healthy, 1 Unhealthy, 4 Unknown."), std::string::npos);
    EXPECT_NE(web.find("(2 samples): Healthy 0&ndash;1, Unhealthy 0&ndash;1, Unknown 4&ndash;6."),
              std::string::npos);
    EXPECT_NE(web.find("Latest probe of 2 servers: median 0.15 ms"), std::string::npos);
    EXPECT_NE(web.find("<title>1 server: 0.50 ms to 1.00 ms</title>"), std::string::npos);
    const std::string api = between(page, "data-pool=\"api\"><figcaption>", "</figure>");
    EXPECT_EQ(count_of(api, "<polygon class=\"area-"), 1u);  // always Healthy
    EXPECT_NE(api.find("<title>1 server: 25.00 ms to 50.00 ms</title>"), std::string::npos);
    // Every picture says what it shows.
    EXPECT_EQ(count_of(page, "role=\"img\"><title>"), count_of(page, "<svg "));
    EXPECT_EQ(count_of(page, "<desc>"), count_of(page, "<svg "));
}

TEST(PoolPictures, WithoutSamplesTheAreaSaysSoAndOneFilteredPoolIsDrawn) {
    Segment seg(report::testing::sample_plan());
    PageQuery q;
    q.pool = "api";
    const std::string page = render_page(seg.snap(false), q, PageOptions{});
    EXPECT_EQ(count_of(page, "<figure class=\"pool-pictures\""), 1u);
    EXPECT_NE(page.find("No samples over time yet."), std::string::npos);
    EXPECT_NE(page.find("No probe has completed yet."), std::string::npos);
    EXPECT_EQ(page.find("<polygon"), std::string::npos);
}

void record(report::Writer& w, std::uint32_t target, const std::vector<Health>& healths) {
    for (std::size_t i = 0; i < healths.size(); ++i) {
        report::HistoryResult r;
        r.unix_ns = kStart + i * kSecond;
        r.duration_us = 1000 + static_cast<std::uint32_t>(i);
        r.health = healths[i];
        r.reason = healths[i] == Health::Healthy ? Reason::Ok : Reason::StatusMismatch;
        r.http_status = healths[i] == Health::Healthy ? 200 : 503;
        w.record_history(target, r);
    }
}

TEST(Timeline, OneCellPerResultOldestLeftAndAMarkPerChangeOfHealth) {
    Segment seg(report::testing::sample_plan());
    using H = Health;
    record(*seg.writer, 6,
           {H::Healthy, H::Healthy, H::Unhealthy, H::Unhealthy, H::Healthy, H::Healthy});
    const report::Snapshot snap = seg.snap(true);
    std::string out;
    append_timeline(out, snap.history_of(6), false);
    EXPECT_EQ(count_of(out, "<g class=\"result\">"), 6u);
    EXPECT_EQ(count_of(out, "<line class=\"transition\""), 2u);
    EXPECT_NE(out.find("6 results: 4 ok, 2 failed; health changed 2 times; now Healthy."),
              std::string::npos);
    // Oldest left: the first cell is the first result, at x 0.
    const std::string first = between(out, "<g class=\"result\">", "</g>");
    EXPECT_NE(first.find("2023-11-14T22:13:20Z: ok, HTTP 200"), std::string::npos) << first;
    EXPECT_NE(first.find("<rect x=\"0\""), std::string::npos);
    // The marks stand before the third and the fifth cell.
    EXPECT_NE(out.find("x1=\"17\""), std::string::npos);
    EXPECT_NE(out.find("x1=\"35\""), std::string::npos);

    std::string empty;
    append_timeline(empty, {}, false);
    EXPECT_NE(empty.find("No results yet."), std::string::npos);
}

TEST(Timeline, OnlyThePagesFirstRowsGetOneAndTheTroubleshootViewHasItsOwn) {
    Segment seg(report::testing::large_plan(60));
    for (std::uint32_t t = 0; t < 60; ++t) {
        record(*seg.writer, t, {Health::Healthy, Health::Unhealthy});
    }
    const report::Report report = seg.open();
    PagePictures pictures;
    pictures.history = [&](std::uint32_t target, report_abi::HistoryEntry* out) {
        return report.copy_history(target, out);
    };
    const report::Snapshot snap = seg.snap(false);
    const std::string page = render_page(snap, PageQuery{}, PageOptions{}, pictures);
    EXPECT_EQ(count_of(page, "<figure class=\"timeline\">"), kTimelineRowsMax);
    EXPECT_EQ(count_of(page, "class=\"timeline-link\""), 60 - kTimelineRowsMax);
    EXPECT_EQ(count_of(page, "<g class=\"result\">"), 2 * kTimelineRowsMax);

    const auto view = render_troubleshoot(snap, 59, PageOptions{}, pictures);
    ASSERT_TRUE(view);
    EXPECT_EQ(count_of(*view, "<figure class=\"timeline\">"), 1u);
    EXPECT_EQ(count_of(*view, "<line class=\"transition\""), 1u);
    EXPECT_NE(view->find("width=\"576\""), std::string::npos);  // drawn twice as large
}

TEST(RecentEvents, NewestFirstWithTheRowTheyTouched) {
    Segment seg(report::testing::sample_plan());
    const std::string none = render_page(seg.snap(false), PageQuery{}, PageOptions{});
    EXPECT_NE(none.find("No health change logged yet."), std::string::npos);
    for (std::uint32_t i = 0; i < 30; ++i) {
        report::EventUpdate e;
        e.unix_ns = kStart + i * kSecond;
        e.target = i % 2 == 0 ? 6 : 0;
        e.reason = i % 2 == 0 ? Reason::ConnectRefused : Reason::Ok;
        e.from = i % 2 == 0 ? Health::Healthy : Health::Unhealthy;
        e.to = i % 2 == 0 ? Health::Unhealthy : Health::Healthy;
        seg.writer->record_event(e);
    }
    const std::string page = render_page(seg.snap(false), PageQuery{}, PageOptions{});
    EXPECT_EQ(count_of(page, "<tr class=\"event\""), kRecentEventsMax);
    const std::string first = between(page, "<tr class=\"event\"", "</tr>");
    // The newest (i = 29) touched target 0: web, http80, 10.0.0.4, back to Healthy.
    EXPECT_NE(first.find("2023-11-14T22:13:49Z"), std::string::npos) << first;
    EXPECT_NE(first.find("<td>web</td><td>http80</td><td>10.0.0.4</td>"), std::string::npos);
    EXPECT_NE(first.find("data-to=\"Healthy\""), std::string::npos);
    EXPECT_NE(page.find("30 logged since the engine started"), std::string::npos);
}

}  // namespace
}  // namespace ringprobe::exporter
