// Pins the engine's event log in the report (src/report/writer.cpp record_event and
// copy_events_from, reader.cpp read_events): events come back oldest first with every field;
// a full log overwrites its oldest and counts them; several threads append without losing or
// tearing one; a reload's copy keeps the kept targets' events under their new index; and a
// reader of a log under attack (entries being written, lapped, garbage words, a counter of
// 2^64 - 1) keeps only whole valid entries, looks at no more than the capacity and never crashes;
// the renderers name the row and filter by time, pool and the newest N (--watch's recent events).
// Random logs are seeded (RP_SEED replays one).
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>
#include <thread>
#include <vector>

#include "report/image.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"
#include "report/writer.hpp"
#include "support/report_test_plan.hpp"
#include "test_seed.hpp"

namespace ringprobe::report {
namespace {

namespace abi = report_abi;
using testing::sample_plan;
using testing::unique_name;

constexpr std::uint64_t kStart = 1'700'000'000'000'000'000ULL;

struct NameGuard {
    std::string name;
    ~NameGuard() { ::unlink(segment_path(name).c_str()); }
};

Plan plan_with_log(std::uint32_t entries) {
    Plan p = sample_plan();
    p.event_log_entries = entries;
    return p;
}

EventUpdate event(std::uint64_t i, std::uint32_t target) {
    EventUpdate e;
    e.unix_ns = kStart + i * 1'000'000;
    e.target = target;
    e.reason = i % 2 == 0 ? Reason::ConnectRefused : Reason::Ok;
    e.http_status = i % 2 == 0 ? 0 : 200;
    e.sys_errno = i % 2 == 0 ? 111 : 0;
    e.from = i % 2 == 0 ? Health::Healthy : Health::Unhealthy;
    e.to = i % 2 == 0 ? Health::Unhealthy : Health::Healthy;
    return e;
}

SnapshotOptions with_events() {
    SnapshotOptions o;
    o.events = true;
    o.alive = [](std::int32_t) { return true; };
    return o;
}

TEST(ReportEvents, EventsComeBackOldestFirstWithEveryField) {
    NameGuard g{unique_name("ev-order")};
    auto w = Writer::create(plan_with_log(64), g.name);
    ASSERT_TRUE(w) << w.error().message;
    for (std::uint64_t i = 0; i < 5; ++i) {
        w->record_event(event(i, static_cast<std::uint32_t>(i % 7)));
    }
    auto r = Report::open(g.name);
    ASSERT_TRUE(r) << r.error().message;
    const Snapshot s = r->snapshot(with_events());
    ASSERT_EQ(s.events.events.size(), 5u);
    EXPECT_EQ(s.events.logged, 5u);
    EXPECT_EQ(s.events.overwritten, 0u);
    for (std::uint64_t i = 0; i < 5; ++i) {
        const abi::EventRecord& e = s.events.events[i];
        const EventUpdate u = event(i, static_cast<std::uint32_t>(i % 7));
        EXPECT_EQ(e.unix_ns, u.unix_ns);
        EXPECT_EQ(e.target, u.target);
        EXPECT_EQ(e.reason, static_cast<std::uint16_t>(u.reason));
        EXPECT_EQ(e.http_status, u.http_status);
        EXPECT_EQ(e.sys_errno, u.sys_errno);
        EXPECT_EQ(e.from, static_cast<std::uint8_t>(u.from));
        EXPECT_EQ(e.to, static_cast<std::uint8_t>(u.to));
    }
    EXPECT_TRUE(r->snapshot({}).events.events.empty()) << "copied only when asked for";
}

TEST(ReportEvents, AFullLogOverwritesItsOldestAndCountsThem) {
    NameGuard g{unique_name("ev-wrap")};
    auto w = Writer::create(plan_with_log(16), g.name);
    ASSERT_TRUE(w) << w.error().message;
    for (std::uint64_t i = 0; i < 40; ++i) {
        w->record_event(event(i, 0));
    }
    auto r = Report::open(g.name);
    ASSERT_TRUE(r) << r.error().message;
    const Snapshot s = r->snapshot(with_events());
    ASSERT_EQ(s.events.events.size(), 16u);
    EXPECT_EQ(s.events.logged, 40u);
    EXPECT_EQ(s.events.overwritten, 24u);
    EXPECT_EQ(s.events.events.front().unix_ns, event(24, 0).unix_ns);
    EXPECT_EQ(s.events.events.back().unix_ns, event(39, 0).unix_ns);
}

TEST(ReportEvents, ThreadsAppendWithoutLosingOrTearingOne) {
    NameGuard g{unique_name("ev-threads")};
    auto w = Writer::create(plan_with_log(4096), g.name);
    ASSERT_TRUE(w) << w.error().message;
    constexpr unsigned kThreads = 4, kEach = 500;
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < kThreads; ++t) {
        ts.emplace_back([&, t] {
            for (std::uint64_t i = 0; i < kEach; ++i) {
                w->record_event(event(i * kThreads + t, t));
            }
        });
    }
    for (auto& t : ts) {
        t.join();
    }
    auto r = Report::open(g.name);
    ASSERT_TRUE(r) << r.error().message;
    const Snapshot s = r->snapshot(with_events());
    ASSERT_EQ(s.events.events.size(), kThreads * kEach);
    for (std::size_t k = 0; k < s.events.events.size(); ++k) {
        const abi::EventRecord& e = s.events.events[k];
        EXPECT_EQ(e.unix_ns, event(k, 0).unix_ns) << "merged by time, none lost";
        EXPECT_EQ(e.target, k % kThreads) << "each entry whole";
    }
}

TEST(ReportEvents, AReloadCopyKeepsTheKeptTargetsEventsUnderTheirNewIndex) {
    NameGuard g1{unique_name("ev-old")};
    NameGuard g2{unique_name("ev-new")};
    auto old_w = Writer::create(plan_with_log(64), g1.name);
    auto new_w = Writer::create(plan_with_log(64), g2.name);
    ASSERT_TRUE(old_w && new_w);
    old_w->record_event(event(0, 1));
    old_w->record_event(event(1, 2));  // target 2 is removed
    old_w->record_event(event(2, 1));
    constexpr std::uint32_t gone = 0xFFFFFFFFu;
    const std::vector<std::uint32_t> new_of_old{0, 5, gone, 3, 4, 6, 1};
    new_w->copy_events_from(*old_w, new_of_old, gone);
    auto r = Report::open(g2.name);
    ASSERT_TRUE(r) << r.error().message;
    const Snapshot s = r->snapshot(with_events());
    ASSERT_EQ(s.events.events.size(), 2u);
    EXPECT_EQ(s.events.events[0].target, 5u);
    EXPECT_EQ(s.events.events[0].unix_ns, event(0, 1).unix_ns);
    EXPECT_EQ(s.events.events[1].target, 5u);
    EXPECT_EQ(s.events.events[1].unix_ns, event(2, 1).unix_ns);
}

// Logs built by hand: what a reader finds mid-write or in garbage.
struct Log {
    abi::EventLogRecord head{};
    std::vector<abi::EventRecord> events;
    explicit Log(std::uint32_t capacity) : events(capacity) { head.capacity = capacity; }
    void put(std::uint64_t t, std::uint64_t seq) {
        abi::EventRecord& e = events[t % events.size()];
        e = abi::EventRecord{};
        e.seq = seq;
        e.unix_ns = kStart + t;
        e.target = 1;
        e.reason = static_cast<std::uint16_t>(Reason::Ok);
        e.to = static_cast<std::uint8_t>(Health::Healthy);
    }
    EventLog read(std::uint32_t targets = 7) const {
        return read_events(head, events.data(), static_cast<std::uint32_t>(events.size()), targets,
                           4);
    }
};

TEST(ReportEvents, EntriesBeingWrittenLappedOrInvalidAreLeftOut) {
    Log log(8);
    for (std::uint64_t t = 0; t < 8; ++t) {
        log.put(t, 2 * t + 2);
    }
    log.head.next = 8;
    log.put(2, 2 * 2 + 1);     // being written
    log.put(11, 2 * 11 + 2);   // a newer ticket lapped ticket 3
    log.events[4].target = 7;  // no such target
    log.events[5].reason = static_cast<std::uint16_t>(reason_count);  // past the table
    log.events[6].to = 3;                                             // no such health
    log.events[7].reserved = 1;                                       // not zero
    const EventLog out = log.read();
    ASSERT_EQ(out.events.size(), 2u) << "ticket 3's entry holds ticket 11: neither is shown";
    EXPECT_EQ(out.events[0].unix_ns, kStart + 0);
    EXPECT_EQ(out.events[1].unix_ns, kStart + 1);
}

TEST(ReportEvents, CorruptCountersAndGarbageAreBoundedAndNeverCrash) {
    const std::uint64_t seed = ringprobe::testing::test_seed("ReportEvents.Garbage");
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 500; ++round) {
        Log log(1 + static_cast<std::uint32_t>(rng() % 64));
        auto* words = reinterpret_cast<std::uint64_t*>(log.events.data());
        for (std::size_t i = 0; i < log.events.size() * 4; ++i) {
            words[i] = rng() % 4 == 0 ? rng() % 200 : rng();
        }
        switch (round % 3) {
            case 0: log.head.next = ~std::uint64_t{0}; break;
            case 1: log.head.next = rng() % 200; break;
            default: log.head.next = rng(); break;
        }
        const EventLog out = log.read();
        ASSERT_LE(out.events.size(), log.events.size()) << "seed " << seed;
        for (const abi::EventRecord& e : out.events) {
            ASSERT_LT(e.target, 7u) << "seed " << seed;
            ASSERT_LT(e.reason, reason_count) << "seed " << seed;
            ASSERT_LE(e.to, 2u) << "seed " << seed;
        }
    }
}

TEST(ReportEvents, ACapacityThatDiffersFromTheEntryCountIsCorrupt) {
    auto words = build_image_words(plan_with_log(32), ImageOptions{});
    ASSERT_TRUE(words) << words.error().message;
    auto* h = reinterpret_cast<abi::SegmentHeader*>(words->data());
    auto* log =
        reinterpret_cast<abi::EventLogRecord*>(reinterpret_cast<std::byte*>(words->data()) +
                                               abi::section_ref(*h, abi::Section::EventLog).offset);
    EXPECT_EQ(log->capacity, 32u);
    log->capacity = 33;
    auto r = read_image(reinterpret_cast<const std::byte*>(words->data()), words->size() * 8, {});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("event log"), std::string::npos) << r.error().message;
}

TEST(ReportEvents, JsonAndTableNameTheRowAndFilterBySinceAndPool) {
    NameGuard g{unique_name("ev-render")};
    auto w = Writer::create(plan_with_log(64), g.name);
    ASSERT_TRUE(w) << w.error().message;
    w->record_event(event(0, 0));  // web x http80 x 10.0.0.4, refused
    w->record_event(event(1, 6));  // api x http80 x 10.1.0.4, recovered
    auto r = Report::open(g.name);
    ASSERT_TRUE(r) << r.error().message;
    const Snapshot s = r->snapshot(with_events());
    const std::string all = render_events(s, EventFilter{}, Format::Json, false);
    EXPECT_NE(all.find("\"server\": \"10.0.0.4\""), std::string::npos) << all;
    EXPECT_NE(all.find("\"reason\": \"connect_refused\""), std::string::npos) << all;
    EXPECT_NE(all.find("\"old\": \"Healthy\""), std::string::npos) << all;
    EXPECT_NE(all.find("\"logged\": 2"), std::string::npos) << all;
    EventFilter api;
    api.pool = "api";
    const std::string only_api = render_events(s, api, Format::Table, false);
    EXPECT_EQ(only_api.find("10.0.0.4"), std::string::npos) << only_api;
    EXPECT_NE(only_api.find("10.1.0.4"), std::string::npos) << only_api;
    EventFilter later;
    later.since_unix_ns = event(1, 6).unix_ns;
    const std::string recent = render_events(s, later, Format::Table, false);
    EXPECT_EQ(recent.find("connect_refused"), std::string::npos) << recent;
    EXPECT_NE(recent.find("Unhealthy -> Healthy"), std::string::npos) << recent;
}

TEST(ReportEvents, NewestKeepsOnlyTheLastRowsStillOldestFirst) {
    NameGuard g{unique_name("ev-newest")};
    auto w = Writer::create(plan_with_log(64), g.name);
    ASSERT_TRUE(w) << w.error().message;
    for (std::uint64_t i = 0; i < 6; ++i) {
        w->record_event(event(i, i % 2 == 0 ? 0 : 6));
    }
    auto r = Report::open(g.name);
    ASSERT_TRUE(r) << r.error().message;
    const Snapshot s = r->snapshot(with_events());
    EventFilter f;
    f.newest = 2;
    const std::string two = render_events(s, f, Format::Table, false);
    EXPECT_NE(two.find("(2 events shown; 6 logged, 0 overwritten)"), std::string::npos) << two;
    const std::size_t refused = two.find("connect_refused");  // i = 4, target 0
    const std::size_t ok = two.find("Unhealthy -> Healthy");  // i = 5, target 6
    ASSERT_NE(refused, std::string::npos) << two;
    ASSERT_NE(ok, std::string::npos) << two;
    EXPECT_LT(refused, ok) << two;
    f.newest = 100;
    EXPECT_NE(render_events(s, f, Format::Table, false).find("(6 events shown;"),
              std::string::npos);
}

}  // namespace
}  // namespace ringprobe::report
