// Pins src/engine/user_data.hpp: every {target, generation, op} survives packing, across the
// full range of targets, the 24-bit generation wrap and every Op, for seeded random values.
#include <gtest/gtest.h>

#include <random>

#include "engine/user_data.hpp"

namespace ringprobe::engine {
namespace {

TEST(UserData, RoundTripsSeededRandomValues) {
    const std::uint64_t seed = 20261125;
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 100000; ++i) {
        const UserData in{static_cast<std::uint32_t>(rng()),
                          static_cast<std::uint32_t>(rng()) & generation_mask,
                          static_cast<Op>(1 + rng() % 6)};
        const UserData out = unpack_user_data(pack_user_data(in));
        ASSERT_EQ(out.target, in.target) << "seed " << seed;
        ASSERT_EQ(out.generation, in.generation) << "seed " << seed;
        ASSERT_EQ(out.op, in.op) << "seed " << seed;
    }
}

TEST(UserData, GenerationWrapsAt24Bits) {
    const UserData out = unpack_user_data(pack_user_data({5, 0x1000001, Op::Send}));
    EXPECT_EQ(out.generation, 1u);
    EXPECT_EQ(out.target, 5u);
}

TEST(UserData, ExtremeTargetsDoNotBleedIntoGeneration) {
    const UserData out = unpack_user_data(pack_user_data({0xFFFFFFFFu, 0, Op::Connect}));
    EXPECT_EQ(out.target, 0xFFFFFFFFu);
    EXPECT_EQ(out.generation, 0u);
    EXPECT_EQ(out.op, Op::Connect);
}

}  // namespace
}  // namespace ringprobe::engine
