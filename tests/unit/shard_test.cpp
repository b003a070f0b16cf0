// Rendezvous shard assignment (src/common/shard.hpp) over 10,000 synthetic identities: each
// target has exactly `replicas` distinct owners and shard_owns agrees with them; the shards get
// a fair share; going from 3 to 4 shards moves between 20 and 30 % of the targets, and only onto
// the new shard; the flags' parsers refuse 3/3, 0/0, a host name without an ordinal and more
// replicas than shards, naming the rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/hash.hpp"
#include "common/shard.hpp"

namespace ringprobe {
namespace {

constexpr std::uint32_t kTargets = 10'000;

std::vector<std::uint64_t> identities() {
    std::vector<std::uint64_t> ids;
    for (std::uint32_t i = 0; i < kTargets; ++i) {
        ids.push_back(stable_hash("10.0." + std::to_string(i / 256) + "." +
                                  std::to_string(i % 256) + ":80/health"));
    }
    return ids;
}

std::uint32_t owner(std::uint64_t id, std::uint32_t count) {
    std::array<std::uint32_t, 1> out{};
    EXPECT_EQ(shard_owners(ShardPlacement{0, count, 1}, id, out), 1u);
    return out[0];
}

TEST(Shard, EveryTargetHasExactlyReplicasDistinctOwnersThatAgreeWithShardOwns) {
    for (std::uint32_t replicas : {1u, 2u, 3u}) {
        std::vector<std::uint32_t> per_shard(5, 0);
        for (std::uint64_t id : identities()) {
            std::array<std::uint32_t, 4> out{};
            const ShardPlacement p{0, 5, replicas};
            ASSERT_EQ(shard_owners(p, id, out), replicas);
            std::uint32_t owned = 0;
            for (std::uint32_t j = 0; j < 5; ++j) {
                const bool listed =
                    std::find(out.begin(), out.begin() + replicas, j) != out.begin() + replicas;
                const bool owns = shard_owns(ShardPlacement{j, 5, replicas}, id);
                ASSERT_EQ(listed, owns) << "shard " << j << " replicas " << replicas;
                owned += owns ? 1 : 0;
                per_shard[j] += owns ? 1 : 0;
            }
            ASSERT_EQ(owned, replicas);
        }
        for (std::uint32_t j = 0; j < 5; ++j) {
            const double share = static_cast<double>(per_shard[j]) / (kTargets * replicas);
            EXPECT_GT(share, 0.17) << "shard " << j;
            EXPECT_LT(share, 0.23) << "shard " << j;
        }
    }
}

TEST(Shard, AFourthShardMovesBetween20And30PercentAndOnlyOntoItself) {
    std::uint32_t moved = 0;
    for (std::uint64_t id : identities()) {
        const std::uint32_t before = owner(id, 3);
        const std::uint32_t after = owner(id, 4);
        if (before != after) {
            moved += 1;
            EXPECT_EQ(after, 3u);
        }
    }
    const double share = static_cast<double>(moved) / kTargets;
    EXPECT_GE(share, 0.20);
    EXPECT_LE(share, 0.30);
}

TEST(Shard, OneShardOwnsEverything) {
    for (std::uint64_t id : identities()) {
        ASSERT_TRUE(shard_owns(ShardPlacement{}, id));
    }
}

TEST(Shard, ParsesIndexAndCount) {
    auto p = parse_shard("2/3");
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->index, 2u);
    EXPECT_EQ(p->count, 3u);
    EXPECT_EQ(p->replicas, 1u);
    EXPECT_EQ(shard_label(p->index, p->count), "2/3");
}

TEST(Shard, RefusesAnIndexAtTheCountNamingTheRange) {
    auto p = parse_shard("3/3");
    ASSERT_FALSE(p.has_value());
    EXPECT_NE(p.error().message.find("below 3"), std::string::npos) << p.error().message;
    EXPECT_NE(p.error().message.find("0/3 .. 2/3"), std::string::npos) << p.error().message;
}

TEST(Shard, RefusesZeroShardsAndMalformedText) {
    for (const char* bad : {"0/0", "1", "a/3", "1/", "/3", "-1/3", "1/3x", "0/5000"}) {
        EXPECT_FALSE(parse_shard(bad).has_value()) << bad;
    }
    EXPECT_NE(parse_shard("0/0").error().message.find("1 to 4096"), std::string::npos);
}

TEST(Shard, RefusesMoreReplicasThanShards) {
    EXPECT_TRUE(check_replicas(ShardPlacement{0, 3, 3}).has_value());
    auto r = check_replicas(ShardPlacement{0, 3, 4});
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("1 to the number of shards (3)"), std::string::npos);
    EXPECT_FALSE(check_replicas(ShardPlacement{0, 3, 0}).has_value());
}

TEST(Shard, ReadsTheOrdinalOfAStatefulSetPod) {
    auto o = ordinal_from_hostname("ringprobe-2");
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(*o, 2u);
    auto fq = ordinal_from_hostname("web-prober-11.ringprobe.default.svc.cluster.local");
    ASSERT_TRUE(fq.has_value());
    EXPECT_EQ(*fq, 11u);
    for (const char* bad : {"ringprobe", "ringprobe-", "ringprobe-x", "host.ringprobe-1"}) {
        EXPECT_FALSE(ordinal_from_hostname(bad).has_value()) << bad;
    }
}

}  // namespace
}  // namespace ringprobe
