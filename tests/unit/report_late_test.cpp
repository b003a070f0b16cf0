// Pins src/report/capacity_words.cpp and the capacity record of the segment header: a row is late
// when its last result is older than twice its interval plus its timeout at the heartbeat (from
// the engine's start while it has none), never when the engine is not live or the row has
// nothing to probe; the table marks it and the JSON says `late`. The capacity figures the engine
// publishes come back whole in the snapshot, the table and the JSON say them, and a record with
// unknown flags or impossible figures is dropped by the reader, not shown. Times are fixed; the
// snapshot's clock is given.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "common/assert.hpp"
#include "report/capacity_words.hpp"
#include "report/names.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"
#include "report/writer.hpp"
#include "support/report_test_plan.hpp"

namespace ringprobe::report {
namespace {

namespace abi = report_abi;
using testing::sample_plan;
using testing::unique_name;

constexpr std::uint64_t kStart = 1'700'000'000'000'000'000ULL;
constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr std::uint32_t kHttps = 3;  // sample_plan's target 3: Https, every 5 s, timeout 2.5 s
constexpr std::uint32_t kHttp = 0;   // target 0: Http, every 30 s, timeout 30 s

bool always_alive(std::int32_t) {
    return true;
}

struct Segment {
    std::string name = unique_name("late");
    Writer writer;

    Segment() : writer(make(name)) {}
    ~Segment() { ::unlink(segment_path(name).c_str()); }

    static Writer make(const std::string& name) {
        WriterOptions o;
        o.engine_pid = ::getpid();
        o.start_unix_ns = kStart;
        o.worker_slots = 2;
        auto w = Writer::create(sample_plan(), name, o);
        RP_ASSERT(w);
        return std::move(w.value());
    }

    Snapshot at(std::uint64_t heartbeat) {
        writer.heartbeat(heartbeat);
        auto r = Report::open(name);
        RP_ASSERT(r);
        SnapshotOptions o;
        o.now_unix_ns = heartbeat;
        o.alive = &always_alive;
        return r->snapshot(o);
    }

    void probed(std::uint32_t t, std::uint64_t at_unix_ns, Reason reason = Reason::Ok) {
        TargetUpdate u;
        u.health = reason == Reason::Ok ? Health::Healthy : Health::Unknown;
        u.reason = reason;
        u.last_probe_unix_ns = at_unix_ns;
        u.total_probes = 1;
        writer.publish(t, u);
    }
};

abi::CapacityPayload short_of_sockets() {
    abi::CapacityPayload c{};
    c.flags = abi::kCapacityChecked | abi::kCapacityShortSockets;
    c.workers = 2;
    c.targets = 1000;
    c.in_flight_needed = 150;
    c.sockets_per_worker = 32;
    c.probes_per_s = 500;
    c.probes_per_s_max = 20000;
    c.probe_ms = 300;
    c.nofile_limit = 128;
    c.nofile_needed = 444;
    c.slowdown_permille = 4688;
    c.checked_unix_ns = kStart + kSecond;
    return c;
}

TEST(ReportLate, AResultOlderThanTwiceTheIntervalPlusTheTimeoutIsLate) {
    Segment seg;
    seg.probed(kHttps, kStart + 1 * kSecond);
    std::uint64_t age = 0;
    EXPECT_FALSE(is_late(seg.at(kStart + 13 * kSecond), kHttps, age));  // 12 s: the bound, 12.5
    EXPECT_TRUE(is_late(seg.at(kStart + 14 * kSecond), kHttps, age));
    EXPECT_EQ(age, 13 * kSecond);
    const Snapshot s = seg.at(kStart + 14 * kSecond);
    std::string note;
    append_late_note(note, s, kHttps, age);
    EXPECT_EQ(note, "late: last result 13 s ago, due every 5 s");
}

TEST(ReportLate, ARowWithoutAResultIsLateOnlyPastTheBoundFromTheStart) {
    Segment seg;
    EXPECT_FALSE(is_late(seg.at(kStart + 12 * kSecond), kHttps));
    EXPECT_TRUE(is_late(seg.at(kStart + 13 * kSecond), kHttps));
    EXPECT_FALSE(is_late(seg.at(kStart + 13 * kSecond), kHttp));  // 30 s interval: 90 s bound
    std::uint64_t age = 0;
    const Snapshot s = seg.at(kStart + 13 * kSecond);
    ASSERT_TRUE(is_late(s, kHttps, age));
    std::string note;
    append_late_note(note, s, kHttps, age);
    EXPECT_EQ(note, "late: no result in 13 s, due every 5 s");
}

TEST(ReportLate, OnlyALiveEnginesProbedRowsAreLate) {
    Segment seg;
    seg.probed(kHttps, kStart, Reason::AddressUnknown);
    EXPECT_FALSE(is_late(seg.at(kStart + 60 * kSecond), kHttps));
    seg.probed(kHttps, kStart, Reason::DnsNxdomain);
    EXPECT_FALSE(is_late(seg.at(kStart + 60 * kSecond), kHttps));
    seg.probed(kHttps, kStart);
    seg.writer.mark_stopped(kStart + 60 * kSecond);
    const Snapshot s = seg.at(kStart + 60 * kSecond);
    EXPECT_EQ(s.engine, EngineState::Stopped);
    EXPECT_FALSE(is_late(s, kHttps));
}

TEST(ReportLate, TheTableMarksALateRowAndTheJsonSaysSo) {
    Segment seg;
    for (std::uint32_t t = 0; t < 7; ++t) {
        seg.probed(t, kStart + 20 * kSecond);
    }
    seg.probed(kHttps, kStart + 1 * kSecond);
    const Snapshot s = seg.at(kStart + 20 * kSecond);
    const std::string table = render_table(s, RenderOptions{});
    EXPECT_NE(table.find("late: last result 19 s ago, due every 5 s"), std::string::npos) << table;
    EXPECT_EQ(table.find("late:", table.find("late:") + 1), std::string::npos) << table;
    RenderOptions o;
    o.format = Format::Json;
    o.details = true;
    const std::string json = render_json(s, o);
    EXPECT_NE(json.find("\"late\": true"), std::string::npos) << json;
    EXPECT_NE(json.find("\"lateTargets\": 1"), std::string::npos) << json;
}

TEST(ReportCapacity, ThePublishedFiguresComeBackWholeAndAreShown) {
    Segment seg;
    EXPECT_EQ(seg.at(kStart).capacity.flags, 0u);  // not checked yet: nothing shown
    EXPECT_EQ(render_table(seg.at(kStart), RenderOptions{}).find("capacity"), std::string::npos);
    seg.writer.publish_capacity(short_of_sockets());
    const Snapshot s = seg.at(kStart + kSecond);
    const abi::CapacityPayload want = short_of_sockets();
    EXPECT_EQ(std::memcmp(&s.capacity, &want, sizeof want), 0);
    const std::string table = render_table(s, RenderOptions{});
    EXPECT_NE(table.find("warning: capacity short: the busiest of 2 workers has 1000 targets, "
                         "which need 150 probes in flight (each taking 300 ms)"),
              std::string::npos)
        << table;
    EXPECT_NE(table.find("raise LimitNOFILE (ulimit -n) from 128 to at least 444"),
              std::string::npos)
        << table;
    RenderOptions o;
    o.format = Format::Json;
    o.details = true;
    const std::string json = render_json(s, o);
    EXPECT_NE(json.find("\"capacity\": {"), std::string::npos) << json;
    EXPECT_NE(json.find("\"shortOfSockets\": true"), std::string::npos) << json;
    EXPECT_NE(json.find("\"nofileNeeded\": 444"), std::string::npos) << json;
}

TEST(ReportCapacity, ARecordWithUnknownFlagsOrImpossibleFiguresIsDropped) {
    Segment seg;
    seg.writer.publish_capacity(short_of_sockets());
    seg.writer.heartbeat(kStart + kSecond);
    std::ifstream f(segment_path(seg.name), std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(f), {}};
    const auto read_with = [&](auto poke) {
        std::vector<std::uint64_t> image((bytes.size() + 7) / 8);
        std::memcpy(image.data(), bytes.data(), bytes.size());
        auto* h = reinterpret_cast<abi::SegmentHeader*>(image.data());
        poke(h->capacity);
        SnapshotOptions o;
        o.now_unix_ns = kStart + kSecond;
        o.alive = &always_alive;
        auto s = read_image(reinterpret_cast<const std::byte*>(image.data()), bytes.size(), o);
        RP_ASSERT(s);
        return s->capacity;
    };
    EXPECT_EQ(read_with([](abi::CapacityPayload&) {}).in_flight_needed, 150u);
    EXPECT_EQ(read_with([](abi::CapacityPayload& c) { c.flags |= 64; }).flags, 0u);
    EXPECT_EQ(read_with([](abi::CapacityPayload& c) { c.workers = 0; }).flags, 0u);
    EXPECT_EQ(read_with([](abi::CapacityPayload& c) { c.workers = 65; }).flags, 0u);
    EXPECT_EQ(read_with([](abi::CapacityPayload& c) { c.slowdown_permille = 999; }).flags, 0u);
    EXPECT_EQ(read_with([](abi::CapacityPayload& c) { c.flags = abi::kCapacityShortRate; }).flags,
              0u);
}

}  // namespace
}  // namespace ringprobe::report
