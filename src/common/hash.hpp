// Stable 64-bit hashing for identities (shard assignment, first-probe phase, config digest).
// FNV-1a over bytes followed by a splitmix64 finaliser: stable across builds and machines,
// which matters because two engines must agree on a target's phase and shard.
#pragma once

#include <cstdint>
#include <string_view>

namespace ringprobe {

constexpr std::uint64_t mix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

constexpr std::uint64_t fnv1a64(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ULL) {
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

constexpr std::uint64_t hash_combine(std::uint64_t h, std::uint64_t v) {
    return mix64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

constexpr std::uint64_t stable_hash(std::string_view s) {
    return mix64(fnv1a64(s));
}

}  // namespace ringprobe
