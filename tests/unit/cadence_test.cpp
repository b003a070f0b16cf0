// Pins src/engine/cadence.hpp: which cadence a target's health asks for, and where the next
// scheduled start falls. A sequence of results drives the real health rule (apply_result) and
// the real next-start rule; the test states the cadence after each result, that fast and
// unhealthy starts are whole cadences after the previous scheduled start (no drift), and that a
// target back on the regular cadence lands on its own grid again (its phase is kept).
#include <gtest/gtest.h>

#include <vector>

#include "engine/cadence.hpp"

namespace ringprobe::engine {
namespace {

constexpr Reason ok = Reason::Ok;
constexpr Reason bad = Reason::ConnectRefused;
constexpr std::uint64_t ms = 1'000'000;

TEST(Cadence, FollowsHealthFromFailureToUnhealthyAndBack) {
    const Thresholds t{2, 3};
    HealthState h;
    EXPECT_EQ(cadence_of(h), Cadence::Regular);  // Unknown: waiting for the first probe
    struct Step {
        Reason r;
        Cadence after;
    };
    const std::vector<Step> steps = {
        {ok, Cadence::Regular},     // Healthy
        {bad, Cadence::Fast},       // Healthy, one failure
        {ok, Cadence::Regular},     // recovered before the threshold
        {bad, Cadence::Fast},       //
        {bad, Cadence::Fast},       // two of three
        {bad, Cadence::Unhealthy},  // declared Unhealthy
        {ok, Cadence::Unhealthy},   // one of two successes: still Unhealthy
        {ok, Cadence::Regular},     // Healthy again
    };
    for (std::size_t i = 0; i < steps.size(); ++i) {
        apply_result(h, steps[i].r, t);
        EXPECT_EQ(cadence_of(h), steps[i].after) << "after step " << i;
    }
}

TEST(Cadence, AFirstFailureIsUnhealthyAtOnceNotFast) {
    HealthState h;
    apply_result(h, bad, Thresholds{1, 3});
    EXPECT_EQ(cadence_of(h), Cadence::Unhealthy);
}

TEST(Cadence, ZeroMeansTheIntervalAndEveryCadenceIsAtLeastATick) {
    Target t;
    t.interval_ms = 1000;
    EXPECT_EQ(cadences_of(t).fast_ns, 1000 * ms);
    EXPECT_EQ(cadences_of(t).unhealthy_ns, 1000 * ms);
    t.fast_interval_ms = 100;
    t.unhealthy_interval_ms = 5000;
    const Cadences k = cadences_of(t);
    EXPECT_EQ(k.regular_ns, 1000 * ms);
    EXPECT_EQ(k.fast_ns, 100 * ms);
    EXPECT_EQ(k.unhealthy_ns, 5000 * ms);
    EXPECT_EQ(k.shortest_ns(), 100 * ms);
}

TEST(Cadence, FastAndUnhealthyStartsAreWholeCadencesAfterTheScheduledStart) {
    const Cadences k{1000 * ms, 100 * ms, 5000 * ms};
    const std::uint64_t home = 7 * ms;
    std::uint64_t base = home;
    base = next_base_ns(base, home, Cadence::Fast, k);
    EXPECT_EQ(base, home + 100 * ms);
    base = next_base_ns(base, home, Cadence::Fast, k);
    EXPECT_EQ(base, home + 200 * ms);
    base = next_base_ns(base, home, Cadence::Unhealthy, k);
    EXPECT_EQ(base, home + 5200 * ms);
}

TEST(Cadence, BackOnTheRegularCadenceATargetReturnsToItsGrid) {
    const Cadences k{1000 * ms, 100 * ms, 5000 * ms};
    const std::uint64_t home = 7 * ms;
    EXPECT_EQ(next_base_ns(home, home, Cadence::Regular, k), home + 1000 * ms);
    // Three fast starts after home: the next regular one is the grid's next instant.
    EXPECT_EQ(next_base_ns(home + 300 * ms, home, Cadence::Regular, k), home + 1000 * ms);
    // A fast start just before a grid instant: the start after it keeps the shortest cadence.
    EXPECT_EQ(next_base_ns(home + 950 * ms, home, Cadence::Regular, k), home + 2000 * ms);
    // After a long unhealthy stretch: still on the grid.
    EXPECT_EQ(next_base_ns(home + 25'100 * ms, home, Cadence::Regular, k), home + 26'000 * ms);
    for (std::uint64_t b = home; b < home + 10'000 * ms; b += 37 * ms) {
        const std::uint64_t n = next_base_ns(b, home, Cadence::Regular, k);
        EXPECT_EQ((n - home) % k.regular_ns, 0u) << b;
        EXPECT_GE(n, b + k.shortest_ns()) << b;
        EXPECT_LT(n, b + k.shortest_ns() + k.regular_ns) << b;
    }
}

}  // namespace
}  // namespace ringprobe::engine
