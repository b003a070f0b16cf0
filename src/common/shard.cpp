// Rendezvous shard assignment and the --shard flags' parsing (see shard.hpp).
#include "common/shard.hpp"

#include <algorithm>
#include <charconv>

namespace ringprobe {

namespace {

// Shard a beats shard b for this target: a higher weight, or the same and a lower index.
bool outranks(std::uint64_t identity, std::uint32_t a, std::uint32_t b) {
    const std::uint64_t wa = shard_weight(identity, a);
    const std::uint64_t wb = shard_weight(identity, b);
    return wa != wb ? wa > wb : a < b;
}

bool parse_u32(std::string_view s, std::uint32_t& out) {
    if (s.empty() || s.size() > 9) {
        return false;
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

bool shard_owns(const ShardPlacement& p, std::uint64_t identity) {
    RP_ASSERT(p.index < p.count);
    std::uint32_t above = 0;
    for (std::uint32_t j = 0; j < p.count && above < p.replicas; ++j) {
        if (j != p.index && outranks(identity, j, p.index)) {
            above += 1;
        }
    }
    return above < p.replicas;
}

std::size_t shard_owners(const ShardPlacement& p, std::uint64_t identity,
                         std::span<std::uint32_t> out) {
    const std::size_t want = std::min<std::size_t>(p.replicas, out.size());
    std::size_t n = 0;
    // Insertion into a short sorted list: R is small, N at most count_max.
    for (std::uint32_t j = 0; j < p.count; ++j) {
        std::size_t at = n;
        while (at > 0 && outranks(identity, j, out[at - 1])) {
            at -= 1;
        }
        if (at >= want) {
            continue;
        }
        for (std::size_t k = std::min(n, want - 1); k > at; --k) {
            out[k] = out[k - 1];
        }
        out[at] = j;
        n = std::min(n + 1, want);
    }
    return n;
}

std::string shard_label(std::uint32_t index, std::uint32_t count) {
    return std::to_string(index) + "/" + std::to_string(count);
}

Result<ShardPlacement> parse_shard(std::string_view text) {
    const std::size_t slash = text.find('/');
    ShardPlacement p;
    if (slash == std::string_view::npos || !parse_u32(text.substr(0, slash), p.index) ||
        !parse_u32(text.substr(slash + 1), p.count)) {
        return error("'" + std::string(text) +
                     "' is not I/N: the shard's index, a slash and the number of shards, e.g. "
                     "0/3");
    }
    if (p.count == 0 || p.count > ShardPlacement::count_max) {
        return error("'" + std::string(text) + "': the number of shards must be 1 to " +
                     std::to_string(ShardPlacement::count_max));
    }
    if (p.index >= p.count) {
        return error("'" + std::string(text) + "': the index counts from 0, so it must be below " +
                     std::to_string(p.count) + " (0/" + std::to_string(p.count) + " .. " +
                     shard_label(p.count - 1, p.count) + ")");
    }
    return p;
}

Result<std::uint32_t> ordinal_from_hostname(std::string_view host_name) {
    const std::string_view host = host_name.substr(0, host_name.find('.'));
    const std::size_t dash = host.rfind('-');
    std::uint32_t ordinal = 0;
    if (dash == std::string_view::npos || !parse_u32(host.substr(dash + 1), ordinal)) {
        return error("the host name '" + std::string(host_name) +
                     "' does not end in -I (a StatefulSet pod's NAME-I, I its ordinal); give "
                     "--shard I/N instead");
    }
    return ordinal;
}

Result<void> check_replicas(const ShardPlacement& p) {
    if (p.replicas == 0 || p.replicas > p.count) {
        return error("--replicas " + std::to_string(p.replicas) +
                     ": each target goes to R distinct shards, so R must be 1 to the number of "
                     "shards (" +
                     std::to_string(p.count) + ")");
    }
    return {};
}

}  // namespace ringprobe
