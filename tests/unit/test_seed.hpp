// The seed of a randomized unit test: RP_SEED when set (to replay a failure), else a fresh one.
// It is printed on stderr before the test uses it, so a crash (a signal, an RP_ASSERT) that ends
// the process before any GoogleTest message still leaves the seed in the log.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace ringprobe::testing {

inline std::uint64_t test_seed(const char* test) {
    std::uint64_t seed = 0;
    if (const char* s = std::getenv("RP_SEED")) {
        seed = std::strtoull(s, nullptr, 10);
    } else {
        seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
    }
    std::fprintf(stderr, "%s: seed %llu (replay with RP_SEED=%llu)\n", test,
                 static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    std::fflush(stderr);
    return seed;
}

}  // namespace ringprobe::testing
