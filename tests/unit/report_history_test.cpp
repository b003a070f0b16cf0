// Pins the History section of the report (src/report/writer.cpp record_history, reader.cpp
// copy_history): a writer's results come back newest first with every field; the ring keeps the
// last 32 across wrap-around; a reload's copy keeps a target's history and its numbering; and a
// reader copying a ring under attack (an entry being written, an entry a newer result overwrote,
// garbage sequences, flags and reasons, a count of 2^64 - 1) returns only whole entries and
// looks at no more than 32. Random rings are seeded (RP_SEED replays one).
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <random>

#include "report/image.hpp"
#include "report/reader.hpp"
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

HistoryResult result(std::uint64_t i) {
    HistoryResult r;
    r.unix_ns = kStart + i * 1'000'000;
    r.duration_us = static_cast<std::uint32_t>(100 + i);
    r.http_status = i % 2 == 0 ? 200 : 503;
    r.reason = i % 2 == 0 ? Reason::Ok : Reason::StatusMismatch;
    r.health = i % 3 == 0 ? Health::Unhealthy : Health::Healthy;
    r.reused = i % 5 == 0;
    return r;
}

void expect_entry(const abi::HistoryEntry& e, std::uint64_t i) {
    const HistoryResult r = result(i);
    EXPECT_EQ(e.seq, 2 * (i + 1)) << "result " << i;
    EXPECT_EQ(e.unix_ns, r.unix_ns) << "result " << i;
    EXPECT_EQ(e.duration_us, r.duration_us) << "result " << i;
    EXPECT_EQ(e.http_status, r.http_status) << "result " << i;
    EXPECT_EQ(e.reason, static_cast<std::uint8_t>(r.reason)) << "result " << i;
    EXPECT_EQ(history_health(e), r.health) << "result " << i;
    EXPECT_EQ((e.flags & abi::kHistoryReused) != 0, r.reused) << "result " << i;
}

SnapshotOptions with_history() {
    SnapshotOptions o;
    o.history = true;
    o.alive = [](std::int32_t) { return true; };
    return o;
}

TEST(ReportHistory, ANewTargetHasNoHistory) {
    NameGuard g{unique_name("hist-empty")};
    auto w = Writer::create(sample_plan(), g.name);
    ASSERT_TRUE(w) << w.error().message;
    auto r = Report::open(g.name);
    ASSERT_TRUE(r) << r.error().message;
    const Snapshot s = r->snapshot(with_history());
    ASSERT_EQ(s.history_count.size(), 7u);
    for (std::uint32_t t = 0; t < 7; ++t) {
        EXPECT_TRUE(s.history_of(t).empty()) << t;
    }
    EXPECT_TRUE(r->snapshot({}).history.empty()) << "copied only when asked for";
}

TEST(ReportHistory, ResultsComeBackNewestFirstWithEveryField) {
    NameGuard g{unique_name("hist-order")};
    auto w = Writer::create(sample_plan(), g.name);
    ASSERT_TRUE(w) << w.error().message;
    for (std::uint64_t i = 0; i < 5; ++i) {
        w->record_history(2, result(i));
    }
    auto r = Report::open(g.name);
    ASSERT_TRUE(r) << r.error().message;
    const Snapshot s = r->snapshot(with_history());
    const auto h = s.history_of(2);
    ASSERT_EQ(h.size(), 5u);
    for (std::size_t k = 0; k < h.size(); ++k) {
        expect_entry(h[k], 4 - k);
    }
    EXPECT_TRUE(s.history_of(1).empty()) << "one target's results stay in its own ring";
}

TEST(ReportHistory, TheRingKeepsTheLast32AcrossWrapAround) {
    for (std::uint64_t total : {31u, 32u, 33u, 64u, 100u}) {
        NameGuard g2{unique_name("hist-wrap-n")};
        auto w2 = Writer::create(sample_plan(), g2.name);
        ASSERT_TRUE(w2) << w2.error().message;
        for (std::uint64_t i = 0; i < total; ++i) {
            w2->record_history(0, result(i));
        }
        auto r2 = Report::open(g2.name);
        ASSERT_TRUE(r2) << r2.error().message;
        const Snapshot s = r2->snapshot(with_history());
        const auto h = s.history_of(0);
        ASSERT_EQ(h.size(), std::min<std::uint64_t>(total, 32)) << total;
        for (std::size_t k = 0; k < h.size(); ++k) {
            expect_entry(h[k], total - 1 - k);
        }
    }
}

TEST(ReportHistory, AReloadCopyKeepsTheHistoryAndItsNumbering) {
    NameGuard g1{unique_name("hist-old")};
    NameGuard g2{unique_name("hist-new")};
    auto old_w = Writer::create(sample_plan(), g1.name);
    auto new_w = Writer::create(sample_plan(), g2.name);
    ASSERT_TRUE(old_w && new_w);
    for (std::uint64_t i = 0; i < 40; ++i) {
        old_w->record_history(3, result(i));
    }
    new_w->copy_target_from(*old_w, 3, 5);
    new_w->record_history(5, result(40));
    auto r = Report::open(g2.name);
    ASSERT_TRUE(r) << r.error().message;
    const Snapshot s = r->snapshot(with_history());
    const auto h = s.history_of(5);
    ASSERT_EQ(h.size(), 32u);
    for (std::size_t k = 0; k < h.size(); ++k) {
        expect_entry(h[k], 40 - k);
    }
}

// Rings built by hand: what a reader finds when a writer is mid-entry, or when memory is garbage.
struct Ring {
    abi::HistoryRecord rec{};
    void put(std::uint64_t n, std::uint64_t seq) {  // entry n (1-based) with a given seq
        abi::HistoryEntry& e = rec.entries[(n - 1) % abi::kHistoryEntries];
        e.seq = seq;
        e.unix_ns = n;
        e.reason = static_cast<std::uint8_t>(Reason::Ok);
        e.flags = static_cast<std::uint8_t>(Health::Healthy);
    }
    std::uint32_t copy(std::array<abi::HistoryEntry, abi::kHistoryEntries>& out) const {
        return copy_history(rec, out.data(), 4);
    }
};

TEST(ReportHistory, AnEntryBeingWrittenIsLeftOut) {
    Ring ring;
    for (std::uint64_t n = 1; n <= 5; ++n) {
        ring.put(n, 2 * n);
    }
    ring.put(3, 2 * 3 - 1);  // the writer is inside entry 3 (as on a re-copy after a reload)
    ring.rec.written = 5;
    std::array<abi::HistoryEntry, abi::kHistoryEntries> out{};
    ASSERT_EQ(ring.copy(out), 4u);
    EXPECT_EQ(out[0].unix_ns, 5u);
    EXPECT_EQ(out[1].unix_ns, 4u);
    EXPECT_EQ(out[2].unix_ns, 2u) << "entry 3 skipped";
    EXPECT_EQ(out[3].unix_ns, 1u);
    EXPECT_EQ(out[4].seq, 0u) << "the rest zero";
}

TEST(ReportHistory, AnEntryANewerResultOverwroteEndsTheCopy) {
    Ring ring;
    for (std::uint64_t n = 1; n <= 32; ++n) {
        ring.put(n, 2 * n);
    }
    ring.rec.written = 32;
    ring.put(33, 2 * 33 - 1);  // result 33 is being written over entry 1 during the copy
    std::array<abi::HistoryEntry, abi::kHistoryEntries> out{};
    ASSERT_EQ(ring.copy(out), 31u);
    EXPECT_EQ(out[0].unix_ns, 32u);
    EXPECT_EQ(out[30].unix_ns, 2u);
}

TEST(ReportHistory, EntriesWithUnknownFlagsHealthOrReasonAreLeftOut) {
    Ring ring;
    for (std::uint64_t n = 1; n <= 4; ++n) {
        ring.put(n, 2 * n);
    }
    ring.rec.written = 4;
    ring.rec.entries[0].flags = 0x80;                                      // an unknown bit
    ring.rec.entries[1].flags = abi::kHistoryHealthMask;                   // health 3
    ring.rec.entries[2].reason = static_cast<std::uint8_t>(reason_count);  // past the table
    std::array<abi::HistoryEntry, abi::kHistoryEntries> out{};
    ASSERT_EQ(ring.copy(out), 1u);
    EXPECT_EQ(out[0].unix_ns, 4u);
}

TEST(ReportHistory, CorruptCountsAndGarbageAreBoundedAndNeverCrash) {
    const std::uint64_t seed = ringprobe::testing::test_seed("ReportHistory.CorruptCounts");
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 2000; ++round) {
        Ring ring;
        auto* words = reinterpret_cast<std::uint64_t*>(&ring.rec);
        for (std::size_t i = 0; i < sizeof ring.rec / 8; ++i) {
            words[i] = rng();
        }
        switch (round % 4) {
            case 0: ring.rec.written = ~std::uint64_t{0}; break;
            case 1: ring.rec.written = 0; break;
            case 2: ring.rec.written = rng() % 100; break;
            default: break;
        }
        std::array<abi::HistoryEntry, abi::kHistoryEntries> out{};
        const std::uint32_t n = ring.copy(out);
        ASSERT_LE(n, abi::kHistoryEntries) << "seed " << seed;
        for (std::uint32_t k = 0; k < n; ++k) {
            ASSERT_EQ(out[k].seq % 2, 0u) << "seed " << seed;
            ASSERT_EQ(out[k].flags & ~abi::kHistoryFlagsKnown, 0) << "seed " << seed;
            ASSERT_LT(out[k].reason, reason_count) << "seed " << seed;
        }
        if (ring.rec.written == 0) {
            ASSERT_EQ(n, 0u) << "seed " << seed;
        }
    }
}

TEST(ReportHistory, TheHistorySectionMustHoldOneRingPerTarget) {
    auto words = build_image_words(sample_plan(), ImageOptions{});
    ASSERT_TRUE(words) << words.error().message;
    auto* h = reinterpret_cast<abi::SegmentHeader*>(words->data());
    abi::section_ref(*h, abi::Section::History).count -= 1;
    auto r = read_image(reinterpret_cast<const std::byte*>(words->data()), words->size() * 8, {});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("history"), std::string::npos) << r.error().message;
}

TEST(ReportHistory, AnUnusedSecondTableEntryMustBeZero) {
    auto words = build_image_words(sample_plan(), ImageOptions{});
    ASSERT_TRUE(words) << words.error().message;
    auto* h = reinterpret_cast<abi::SegmentHeader*>(words->data());
    h->sections_more[abi::kSectionsMore - 1].count = 1;
    auto r = read_image(reinterpret_cast<const std::byte*>(words->data()), words->size() * 8, {});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("second section table"), std::string::npos)
        << r.error().message;
}

}  // namespace
}  // namespace ringprobe::report
