// Shards: which engine of several probes a target (`ringprobe run --shard I/N`).
//
// Each target goes to the `replicas` shards of `count` with the highest rendezvous weight
// (highest-random-weight hashing, Thaler and Ravishankar): the weight of target x on shard j
// is a stable hash of (x's identity, j), and every engine computes the same weights, so the
// engines agree on the split without talking to each other. Going from N to N+1 shards moves
// only the targets whose new shard N wins, about 1/(N+1) of them, and moves them only onto the
// new shard. The identity is Target::identity_hash (address, port, protocol, Host, path), so a
// reload, a change of interval or thresholds, or any change to other targets moves nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/hash.hpp"
#include "common/result.hpp"

namespace ringprobe {

struct ShardPlacement {
    static constexpr std::uint32_t count_max = 4096;
    std::uint32_t index = 0;     // this engine's shard, 0 .. count - 1
    std::uint32_t count = 1;     // engines that split the targets; 1: not sharded
    std::uint32_t replicas = 1;  // engines that probe each target, 1 .. count

    bool sharded() const { return count > 1; }
};

// The weight of a target on a shard; the owners are the shards with the highest weights.
constexpr std::uint64_t shard_weight(std::uint64_t identity, std::uint32_t shard) {
    return mix64(hash_combine(identity ^ 0x5a4d5e11a3c0ffeeULL, shard));
}

// True when `p.index` is among the p.replicas highest weights of the target (ties, which a
// 64-bit hash makes vanishingly rare, go to the lower index).
bool shard_owns(const ShardPlacement& p, std::uint64_t identity);

// The owners of a target, highest weight first, into out[0 .. min(p.replicas, out.size())).
// Returns how many it wrote.
std::size_t shard_owners(const ShardPlacement& p, std::uint64_t identity,
                         std::span<std::uint32_t> out);

// "I/N" as the flags, the report and the metric label spell it.
std::string shard_label(std::uint32_t index, std::uint32_t count);

// --shard I/N: both decimal, N from 1 to count_max, I below N.
Result<ShardPlacement> parse_shard(std::string_view text);
// The StatefulSet ordinal of a host name NAME-I (the digits after the last '-', before any
// domain); the error says what was read and what form is wanted.
Result<std::uint32_t> ordinal_from_hostname(std::string_view host_name);
// --replicas R against N: 1 <= R <= N.
Result<void> check_replicas(const ShardPlacement& p);

}  // namespace ringprobe
