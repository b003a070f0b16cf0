// Histogram: every value lands in a bucket that holds it, the buckets tile the whole range, and
// a percentile read back is never below the true one nor more than a sixteenth above it (the
// figure `--stats` and the bench harness print for probe-start lateness).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "common/histogram.hpp"

namespace ringprobe::engine {
namespace {

using Counts = std::array<std::uint64_t, Histogram::buckets>;

TEST(Histogram, BucketsTileTheWholeRangeWithoutGapOrOverlap) {
    EXPECT_EQ(Histogram::lower_bound(0), 0u);
    for (unsigned b = 0; b + 1 < Histogram::buckets; ++b) {
        ASSERT_LE(Histogram::lower_bound(b), Histogram::upper_bound(b)) << "bucket " << b;
        ASSERT_EQ(Histogram::upper_bound(b) + 1, Histogram::lower_bound(b + 1)) << "bucket " << b;
        ASSERT_EQ(Histogram::bucket_of(Histogram::lower_bound(b)), b);
        ASSERT_EQ(Histogram::bucket_of(Histogram::upper_bound(b)), b);
    }
    EXPECT_EQ(Histogram::upper_bound(Histogram::buckets - 1), ~std::uint64_t{0});
}

TEST(Histogram, ABucketIsExactBelow32AndAtMostASixteenthWideAbove) {
    for (std::uint64_t v = 0; v < 32; ++v) {
        const unsigned b = Histogram::bucket_of(v);
        EXPECT_EQ(Histogram::lower_bound(b), v);
        EXPECT_EQ(Histogram::upper_bound(b), v);
    }
    for (unsigned b = Histogram::bucket_of(32); b + 1 < Histogram::buckets; ++b) {
        const std::uint64_t lo = Histogram::lower_bound(b);
        const std::uint64_t width = Histogram::upper_bound(b) - lo + 1;
        ASSERT_LE(width * 16, lo) << "bucket " << b << " from " << lo;
    }
}

TEST(Histogram, APercentileIsNeverBelowTheTrueOneNorASixteenthAbove) {
    // A spread of lateness-like values (a deterministic LCG; heavy tail to 200 ms).
    std::vector<std::uint64_t> values;
    std::uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; ++i) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const std::uint64_t r = x >> 33;
        values.push_back(i % 100 == 0 ? r % 200000 : r % 3000);
    }
    Histogram h;
    for (auto v : values) {
        h.record(v);
    }
    Counts counts{};
    h.add_to(counts);
    std::sort(values.begin(), values.end());
    for (double p : {0.0, 0.5, 0.9, 0.99, 0.999, 1.0}) {
        const auto rank = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
        const std::uint64_t truth = values[rank];
        const std::uint64_t read = histogram_percentile(counts, p);
        EXPECT_GE(read, truth) << "p" << p;
        EXPECT_LE(read, truth + truth / 16) << "p" << p;
    }
}

TEST(Histogram, TellsAP99Of950UsFromOneOf1050) {
    Counts under{};
    Counts over{};
    under[Histogram::bucket_of(950)] = 990;
    under[Histogram::bucket_of(40'000)] = 10;
    over[Histogram::bucket_of(1050)] = 990;
    over[Histogram::bucket_of(40'000)] = 10;
    EXPECT_LT(histogram_percentile(under, 0.99), 1000u);
    EXPECT_GT(histogram_percentile(over, 0.99), 1000u);
}

TEST(Histogram, AnEmptyOneReadsZero) {
    const Counts none{};
    EXPECT_EQ(histogram_percentile(none, 0.99), 0u);
}

}  // namespace
}  // namespace ringprobe::engine
