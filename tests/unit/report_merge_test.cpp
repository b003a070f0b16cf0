// The merged report (src/report/merge.cpp) over in-memory segments of the sample plan split in
// shards: each row comes from the engine that probes it, and with replicas from the freshest;
// the rows of a missing or stopped shard read Unknown / engine_unreachable naming the shard; a
// sharded segment's other rows read OtherShard; segments of two configurations, or two claiming
// one shard, are refused with a message naming them.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/hash.hpp"
#include "common/shard.hpp"
#include "report/facts.hpp"
#include "report/image.hpp"
#include "report/merge.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"
#include "support/report_test_plan.hpp"

namespace ringprobe::report {
namespace {

namespace abi = report_abi;

constexpr std::uint64_t kStart = 1'700'000'000'000'000'000ULL;
constexpr std::uint64_t kSecond = 1'000'000'000ULL;

bool always_alive(std::int32_t) {
    return true;
}

Plan shard_plan(std::uint32_t index, std::uint32_t count, std::uint32_t replicas) {
    Plan p = testing::sample_plan();
    p.shard = ShardPlacement{index, count, replicas};
    for (Target& t : p.targets) {
        t.identity_hash = stable_hash(t.address + ":" + std::to_string(t.port));
        t.owned = shard_owns(p.shard, t.identity_hash);
    }
    return p;
}

// One engine's segment: its owned targets published with `health` at `probe_ns`.
struct Segment {
    std::vector<std::uint64_t> words;

    Segment(const Plan& plan, Health health, std::uint64_t probe_ns) {
        ImageOptions o;
        o.start_unix_ns = kStart;
        o.engine_pid = 4242;
        words = *build_image_words(plan, o);
        for (std::uint32_t t = 0; t < plan.targets.size(); ++t) {
            if (plan.targets[t].owned) {
                abi::TargetStatePayload& s = state(t);
                s.health = static_cast<std::uint8_t>(health);
                s.reason = static_cast<std::uint16_t>(
                    health == Health::Healthy ? Reason::Ok : Reason::ConnectRefused);
                s.last_probe_unix_ns = probe_ns;
            }
        }
    }
    abi::SegmentHeader& header() { return *reinterpret_cast<abi::SegmentHeader*>(words.data()); }
    abi::TargetStatePayload& state(std::uint32_t t) {
        const abi::SectionRef& ref = abi::section_ref(header(), abi::Section::States);
        auto* recs = reinterpret_cast<abi::TargetStateRecord*>(
            reinterpret_cast<std::byte*>(words.data()) + ref.offset);
        return recs[t].payload;
    }
    Result<Snapshot, ReadError> read() {
        SnapshotOptions o;
        o.now_unix_ns = kStart + kSecond;
        o.alive = &always_alive;
        return read_image(reinterpret_cast<const std::byte*>(words.data()), words.size() * 8, o);
    }
};

Snapshot merge_ok(std::vector<MergePart> parts) {
    auto m = merge_snapshots(std::move(parts));
    EXPECT_TRUE(m) << (m ? "" : m.error().message);
    return m ? std::move(*m) : Snapshot{};
}

std::string detail(const Effective& e) {
    return e.state == nullptr ? "" : std::string(e.state->detail, e.state->detail_len);
}

TEST(ReportMerge, ASegmentShowsOtherShardsRowsAsOtherShard) {
    const Plan p = shard_plan(0, 3, 1);
    Segment seg(p, Health::Healthy, kStart);
    auto s = seg.read();
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->info->header.shard.count, 3u);
    std::uint32_t others = 0;
    for (std::uint32_t t = 0; t < p.targets.size(); ++t) {
        const Effective e = effective(*s, t);
        if (p.targets[t].owned) {
            EXPECT_EQ(e.health, Health::Healthy);
            continue;
        }
        others += 1;
        EXPECT_EQ(e.health, Health::OtherShard);
        EXPECT_EQ(e.reason, Reason::OtherShard);
        EXPECT_EQ(detail(e).rfind("probed by shard ", 0), 0u) << detail(e);
    }
    EXPECT_GT(others, 0u);
}

TEST(ReportMerge, EachRowComesFromTheShardThatProbesIt) {
    const Health healths[] = {Health::Healthy, Health::Unhealthy, Health::Healthy};
    std::vector<Segment> segs;
    std::vector<MergePart> parts;
    for (std::uint32_t i = 0; i < 3; ++i) {
        segs.emplace_back(shard_plan(i, 3, 1), healths[i], kStart + i);
    }
    for (std::uint32_t i = 0; i < 3; ++i) {
        parts.push_back(MergePart{"gw-" + std::to_string(i), segs[i].read()});
    }
    const Snapshot m = merge_ok(std::move(parts));
    EXPECT_EQ(m.info->header.shard.count, 1u);
    for (std::uint32_t t = 0; t < m.states.size(); ++t) {
        std::uint32_t owner = 0;
        while (!shard_plan(owner, 3, 1).targets[t].owned) {
            owner += 1;
        }
        EXPECT_EQ(m.source_of_target[t], owner) << "target " << t;
        EXPECT_EQ(effective(m, t).health, healths[owner]) << "target " << t;
    }
    RenderOptions o;
    o.details = true;
    EXPECT_NE(render_table(m, o).find("probed by: report gw-1, shard 1/3"), std::string::npos);
    o.format = Format::Json;
    EXPECT_NE(render(m, o).find("\"probedBy\""), std::string::npos);
}

TEST(ReportMerge, ReplicasGiveTheFreshestResult) {
    Segment older(shard_plan(0, 2, 2), Health::Healthy, kStart);
    Segment newer(shard_plan(1, 2, 2), Health::Unhealthy, kStart + 5);
    const Snapshot m = merge_ok({MergePart{"a", older.read()}, MergePart{"b", newer.read()}});
    for (std::uint32_t t = 0; t < m.states.size(); ++t) {
        EXPECT_EQ(effective(m, t).health, Health::Unhealthy);
        EXPECT_EQ(m.source_of_target[t], 1u);
    }
}

TEST(ReportMerge, AMissingShardsRowsReadUnknownNamingIt) {
    Segment s0(shard_plan(0, 3, 1), Health::Healthy, kStart);
    Segment s2(shard_plan(2, 3, 1), Health::Healthy, kStart);
    const Plan p1 = shard_plan(1, 3, 1);
    std::vector<MergePart> parts;
    parts.push_back(MergePart{"gw-0", s0.read()});
    parts.push_back(
        MergePart{"gw-1", unexpected(ReadError{ReadErrorKind::NotFound, "no report gw-1"})});
    parts.push_back(MergePart{"gw-2", s2.read()});
    const Snapshot m = merge_ok(std::move(parts));
    ASSERT_EQ(m.merge_sources.size(), 3u);
    EXPECT_EQ(m.merge_sources[1].problem, "no report gw-1");
    for (std::uint32_t t = 0; t < m.states.size(); ++t) {
        const Effective e = effective(m, t);
        if (!p1.targets[t].owned) {
            EXPECT_EQ(e.health, Health::Healthy) << "target " << t;
            continue;
        }
        EXPECT_EQ(e.health, Health::Unknown) << "target " << t;
        EXPECT_EQ(e.reason, Reason::EngineUnreachable);
        EXPECT_NE(detail(e).find("probed by shard 1/3"), std::string::npos) << detail(e);
        EXPECT_NE(detail(e).find("'gw-1' could not be read"), std::string::npos) << detail(e);
    }
}

TEST(ReportMerge, AStoppedShardsRowsReadUnknownNamingIt) {
    Segment s0(shard_plan(0, 2, 1), Health::Healthy, kStart);
    Segment s1(shard_plan(1, 2, 1), Health::Healthy, kStart);
    s1.header().flags = abi::kFlagStopped;
    const Snapshot m = merge_ok({MergePart{"gw-0", s0.read()}, MergePart{"gw-1", s1.read()}});
    const Plan p1 = shard_plan(1, 2, 1);
    for (std::uint32_t t = 0; t < m.states.size(); ++t) {
        const Effective e = effective(m, t);
        if (p1.targets[t].owned) {
            EXPECT_EQ(e.reason, Reason::EngineUnreachable);
            EXPECT_EQ(detail(e), "shard 1/2 ('gw-1'): the engine was stopped");
        } else {
            EXPECT_EQ(e.health, Health::Healthy);
        }
    }
}

TEST(ReportMerge, RefusesTwoConfigurations) {
    Plan other = shard_plan(1, 2, 1);
    other.digest ^= 1;
    Segment a(shard_plan(0, 2, 1), Health::Healthy, kStart);
    Segment b(other, Health::Healthy, kStart);
    auto m = merge_snapshots({MergePart{"gw-0", a.read()}, MergePart{"gw-1", b.read()}});
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().kind, ReadErrorKind::Unreadable);
    EXPECT_NE(m.error().message.find("'gw-0' and 'gw-1' run different configurations"),
              std::string::npos)
        << m.error().message;
}

TEST(ReportMerge, RefusesTwoReportsOfOneShardAndMismatchedCounts) {
    Segment a(shard_plan(0, 2, 1), Health::Healthy, kStart);
    Segment b(shard_plan(0, 2, 1), Health::Healthy, kStart);
    auto same = merge_snapshots({MergePart{"x", a.read()}, MergePart{"y", b.read()}});
    ASSERT_FALSE(same);
    EXPECT_NE(same.error().message.find("both say they are shard 0/2"), std::string::npos)
        << same.error().message;
    Segment c(shard_plan(1, 3, 1), Health::Healthy, kStart);
    auto counts = merge_snapshots({MergePart{"x", a.read()}, MergePart{"z", c.read()}});
    ASSERT_FALSE(counts);
    EXPECT_NE(counts.error().message.find("same --shard I/N count"), std::string::npos)
        << counts.error().message;
}

}  // namespace
}  // namespace ringprobe::report
