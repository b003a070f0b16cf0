// Pins src/engine/timer_wheel.cpp: the wheel never fires a timer before its tick, fires it on
// the advance() that passes its tick (also after cascading down from high levels and after
// huge jumps), cancels in O(1) and idempotently, lets callbacks reschedule and cancel freely,
// and skips long idle gaps with work bounded by the slots visited, not the ticks elapsed.
// Time is a plain integer we move by hand: no clock, no sleeps.
#include "engine/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace ringprobe::engine {
namespace {

TEST(TimerWheel, NeverFiresBeforeDeadline) {
    TimerWheel wheel(1000);
    TimerNode n;
    wheel.schedule(n, 1000 + 300000);
    std::size_t fired = 0;
    for (std::uint64_t t = 1000; t < 1000 + 300000; t += 997) {
        fired += wheel.advance(t, [](TimerNode&) {});
    }
    fired += wheel.advance(1000 + 299999, [](TimerNode&) {});
    EXPECT_EQ(fired, 0U);
    EXPECT_TRUE(wheel.scheduled(n));
}

TEST(TimerWheel, FiresOnExactTick) {
    // One timer per level boundary and a few odd ones: each must fire with now() == its tick
    // when the wheel is advanced one tick at a time over them.
    TimerWheel wheel(5);
    std::vector<std::uint64_t> ticks = {6, 63, 64, 65, 4095, 4096, 4097, 262143, 262144, 300005};
    std::vector<TimerNode> nodes(ticks.size());
    for (std::size_t i = 0; i < ticks.size(); ++i) {
        wheel.schedule(nodes[i], ticks[i]);
    }
    std::vector<std::uint64_t> seen;
    for (std::uint64_t t = 6; t <= 300005; ++t) {
        wheel.advance(t, [&](TimerNode& n) {
            EXPECT_EQ(n.expires, t);
            EXPECT_EQ(wheel.now(), t);
            seen.push_back(t);
        });
    }
    EXPECT_EQ(seen, ticks);
    EXPECT_EQ(wheel.size(), 0U);
}

TEST(TimerWheel, FiresOnExactTickAfterOneBigJump) {
    TimerWheel wheel(0);
    TimerNode a;
    TimerNode b;
    wheel.schedule(a, 300000);
    wheel.schedule(b, 864000000);  // 86,400 s at 100 us
    std::vector<std::uint64_t> now_at_fire;
    auto record = [&](TimerNode&) { now_at_fire.push_back(wheel.now()); };
    EXPECT_EQ(wheel.advance(299999, record), 0U);
    EXPECT_EQ(wheel.advance(1000000000, record), 2U);
    EXPECT_EQ(now_at_fire, (std::vector<std::uint64_t>{300000, 864000000}));
    EXPECT_EQ(wheel.now(), 1000000000U);
}

TEST(TimerWheel, AllTimersOfOneTickFireInTheSameAdvance) {
    TimerWheel wheel(0);
    std::vector<TimerNode> nodes(1000);
    for (auto& n : nodes) {
        wheel.schedule(n, 77777);
    }
    EXPECT_EQ(wheel.advance(77776, [](TimerNode&) {}), 0U);
    EXPECT_EQ(wheel.advance(77777, [](TimerNode&) {}), 1000U);
    EXPECT_EQ(wheel.size(), 0U);
}

TEST(TimerWheel, PastTickFiresAtNextAdvanceEvenWithoutTimeMoving) {
    TimerWheel wheel(100);
    TimerNode n;
    wheel.schedule(n, 40);
    EXPECT_EQ(wheel.next_expiry(), 100U);
    EXPECT_EQ(wheel.advance(100, [](TimerNode&) {}), 1U);
    EXPECT_FALSE(wheel.scheduled(n));
}

TEST(TimerWheel, CancelIsIdempotent) {
    TimerWheel wheel(0);
    TimerNode a;
    TimerNode b;
    wheel.cancel(a);  // never scheduled
    wheel.schedule(a, 5000);
    wheel.schedule(b, 5000);
    wheel.cancel(a);
    wheel.cancel(a);
    EXPECT_FALSE(wheel.scheduled(a));
    EXPECT_TRUE(wheel.scheduled(b));
    EXPECT_EQ(wheel.size(), 1U);
    std::vector<TimerNode*> fired;
    wheel.advance(10000, [&](TimerNode& n) { fired.push_back(&n); });
    EXPECT_EQ(fired, std::vector<TimerNode*>{&b});
}

TEST(TimerWheel, RescheduleMovesTheNode) {
    TimerWheel wheel(0);
    TimerNode n;
    wheel.schedule(n, 100);
    wheel.schedule(n, 70000);
    EXPECT_EQ(wheel.size(), 1U);
    EXPECT_EQ(wheel.advance(69999, [](TimerNode&) {}), 0U);
    EXPECT_EQ(wheel.advance(70000, [](TimerNode&) {}), 1U);
}

TEST(TimerWheel, RescheduleFromCallback) {
    // The engine's pattern: each expiry schedules the next probe from the scheduled time, so
    // a periodic timer fires exactly every `period` ticks with no drift, even across one jump.
    TimerWheel wheel(0);
    TimerNode n;
    constexpr std::uint64_t period = 3000;
    wheel.schedule(n, period);
    std::vector<std::uint64_t> at;
    auto again = [&](TimerNode& node) {
        at.push_back(wheel.now());
        wheel.schedule(node, node.expires + period);
    };
    wheel.advance(period * 10, again);
    ASSERT_EQ(at.size(), 10U);
    for (std::size_t i = 0; i < at.size(); ++i) {
        EXPECT_EQ(at[i], period * (i + 1));
    }
    EXPECT_EQ(wheel.next_expiry() <= period * 11, true);
}

TEST(TimerWheel, CallbackSchedulingIntoThePastWaitsForNextAdvance) {
    TimerWheel wheel(0);
    TimerNode n;
    wheel.schedule(n, 10);
    int calls = 0;
    auto again = [&](TimerNode& node) {
        ++calls;
        wheel.schedule(node, wheel.now());
    };
    EXPECT_EQ(wheel.advance(20, again), 1U);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(wheel.scheduled(n));
    EXPECT_EQ(wheel.advance(20, again), 1U);
    EXPECT_EQ(calls, 2);
}

TEST(TimerWheel, CallbackMayCancelAnotherTimerDueAtTheSameTick) {
    TimerWheel wheel(0);
    TimerNode a;
    TimerNode b;
    wheel.schedule(a, 50);
    wheel.schedule(b, 50);
    std::size_t fired = wheel.advance(50, [&](TimerNode& n) { wheel.cancel(&n == &a ? b : a); });
    EXPECT_EQ(fired, 1U);
    EXPECT_EQ(wheel.size(), 0U);
}

TEST(TimerWheel, NextExpiryIsNeverLaterThanTheEarliestTimer) {
    TimerWheel wheel(12288);  // a multiple of 64: the next 63 ticks sit on level 0
    EXPECT_EQ(wheel.next_expiry(), TimerWheel::empty_expiry);
    TimerNode a;
    TimerNode b;
    wheel.schedule(a, 12288 + 50);
    EXPECT_EQ(wheel.next_expiry(), 12288U + 50);  // level 0: exact
    wheel.schedule(b, 12288 + 40);
    EXPECT_EQ(wheel.next_expiry(), 12288U + 40);
    wheel.cancel(a);
    wheel.cancel(b);
    EXPECT_EQ(wheel.next_expiry(), TimerWheel::empty_expiry);
    wheel.schedule(a, 9000000);  // a higher level: the tick its slot cascades, not later
    EXPECT_LE(wheel.next_expiry(), 9000000U);
    EXPECT_GT(wheel.next_expiry(), 12288U);
}

TEST(TimerWheel, NextExpiryExactReadsAHigherLevelsSlot) {
    TimerWheel wheel(12288);
    TimerNode a;
    TimerNode b;
    TimerNode c;
    wheel.schedule(a, 12288 + 64 + 100);  // level 1: its slot cascades at 12288 + 128
    wheel.schedule(b, 12288 + 64 + 90);
    EXPECT_EQ(wheel.next_expiry(), 12288U + 128);
    EXPECT_EQ(wheel.next_expiry_exact(8), 12288U + 64 + 90);
    EXPECT_EQ(wheel.next_expiry_exact(1), 12288U + 128) << "more than max_scan: the cascade";
    wheel.schedule(c, 12288 + 5000);  // a later block, on level 2: not the answer
    EXPECT_EQ(wheel.next_expiry_exact(8), 12288U + 64 + 90);
    wheel.cancel(b);
    EXPECT_EQ(wheel.next_expiry_exact(8), 12288U + 64 + 100);
    // Sleeping to the exact tick and advancing there fires the timer on its tick.
    std::uint64_t fired_at = 0;
    wheel.advance(wheel.next_expiry_exact(8), [&](TimerNode& n) {
        EXPECT_EQ(&n, &a);
        fired_at = wheel.now();
    });
    EXPECT_EQ(fired_at, 12288U + 64 + 100);
    wheel.cancel(c);
    EXPECT_EQ(wheel.next_expiry_exact(8), TimerWheel::empty_expiry);
}

TEST(TimerWheel, SleepingUntilNextExpiryReachesTheTimerInFewWakeUps) {
    // The event loop sleeps until next_expiry(); a far timer costs at most one wake-up per
    // level it cascades through, then fires on its tick.
    TimerWheel wheel(0);
    TimerNode n;
    wheel.schedule(n, 864000000);
    int wakeups = 0;
    std::size_t fired = 0;
    while (fired == 0) {
        ++wakeups;
        std::uint64_t t = wheel.next_expiry();
        ASSERT_LE(t, 864000000U);
        fired = wheel.advance(t, [&](TimerNode&) { EXPECT_EQ(wheel.now(), 864000000U); });
    }
    EXPECT_LE(wakeups, static_cast<int>(TimerWheel::levels));
}

TEST(TimerWheel, LongIdleGapIsCheap) {
    // Advancing over 2^50 ticks with nothing due must not walk ticks: it returns at once. With
    // a few far timers it fires each on its tick. (A tick-walking wheel would never finish.)
    TimerWheel wheel(7);
    EXPECT_EQ(wheel.advance(std::uint64_t{1} << 50, [](TimerNode&) {}), 0U);
    EXPECT_EQ(wheel.now(), std::uint64_t{1} << 50);
    std::vector<TimerNode> nodes(3);
    std::uint64_t base = wheel.now();
    std::vector<std::uint64_t> ticks = {base + (1ULL << 40) + 3, base + (1ULL << 55) + 1,
                                        ~0ULL - 1};
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        wheel.schedule(nodes[i], ticks[i]);
    }
    std::vector<std::uint64_t> at;
    wheel.advance(~0ULL, [&](TimerNode& n) {
        EXPECT_EQ(wheel.now(), n.expires);
        at.push_back(wheel.now());
    });
    EXPECT_EQ(at, ticks);
}

TEST(TimerWheel, SizeCountsScheduledNodes) {
    TimerWheel wheel(0);
    std::vector<TimerNode> nodes(10);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        wheel.schedule(nodes[i], i * 1000);
    }
    EXPECT_EQ(wheel.size(), 10U);
    wheel.cancel(nodes[3]);
    EXPECT_EQ(wheel.size(), 9U);
    wheel.advance(4500, [](TimerNode&) {});
    EXPECT_EQ(wheel.size(), 5U);  // 0 (due), 1000, 2000, 4000 fired; 5000..9000 remain
}

}  // namespace
}  // namespace ringprobe::engine
