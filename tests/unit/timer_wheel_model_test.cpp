// Model test for src/engine/timer_wheel.cpp: the wheel and a std::multimap model receive the
// same seeded random operations (schedule, reschedule, cancel, advance by small and huge
// amounts, callbacks that reschedule themselves or cancel/schedule others) and are compared
// at every callback and after every step:
//  - a node fires only if the model has it pending, never before its tick, and with now()
//    equal to its tick (or the old now() for nodes already due when advance() began);
//  - timers fire in tick order: when one fires, the model holds no earlier wheel timer;
//  - after advance(T) the model holds no timer due by T except those a callback set into
//    the past (which wait for the next advance), and size(), scheduled() and next_expiry()
//    agree with the model.
// The seed is printed on failure; set RP_SEED to replay one.
#include "engine/timer_wheel.hpp"
#include "test_seed.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <vector>

namespace ringprobe::engine {
namespace {

class Model {
public:
    explicit Model(std::size_t nodes) : tick_(nodes, 0), pending_(nodes, false), late_(nodes) {}

    void schedule(std::size_t id, std::uint64_t tick, std::uint64_t now, bool in_advance) {
        cancel(id);
        pending_[id] = true;
        tick_[id] = tick;
        late_[id] = in_advance && tick <= now;  // waits for the next advance()
        if (tick > now) {
            wheel_.emplace(tick, id);
        }
    }
    void cancel(std::size_t id) {
        if (!pending_[id]) {
            return;
        }
        pending_[id] = false;
        auto [lo, hi] = wheel_.equal_range(tick_[id]);
        for (auto it = lo; it != hi; ++it) {
            if (it->second == id) {
                wheel_.erase(it);
                break;
            }
        }
    }
    std::size_t size() const {
        std::size_t n = 0;
        for (bool p : pending_) {
            n += p ? 1 : 0;
        }
        return n;
    }
    std::uint64_t earliest() const {
        std::uint64_t t = TimerWheel::empty_expiry;
        for (std::size_t i = 0; i < tick_.size(); ++i) {
            if (pending_[i] && tick_[i] < t) {
                t = tick_[i];
            }
        }
        return t;
    }
    bool any_due_at_start(std::uint64_t old_now) const {
        for (std::size_t i = 0; i < tick_.size(); ++i) {
            if (pending_[i] && tick_[i] <= old_now && !late_[i]) {
                return true;
            }
        }
        return false;
    }
    void clear_late() { late_.assign(late_.size(), false); }

    std::vector<std::uint64_t> tick_;
    std::vector<bool> pending_;
    std::vector<bool> late_;
    std::multimap<std::uint64_t, std::size_t> wheel_;  // timers set into the future
};

std::uint64_t random_delta(std::mt19937_64& rng) {
    switch (rng() % 8) {
        case 0: return 0;
        case 1: return rng() % 4;
        case 2: return rng() % 64;
        case 3: return rng() % 5000;
        case 4: return rng() % 400000;
        case 5: return rng() % (1ULL << 28);
        case 6: return rng() % (1ULL << 40);
        default: return rng() % 70;
    }
}

void run_model(std::uint64_t seed, std::size_t nodes_n, int steps) {
    SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with RP_SEED)");
    std::mt19937_64 rng(seed);
    std::uint64_t start = (rng() % 2 == 0) ? rng() % 1000 : rng() % (1ULL << 62);
    TimerWheel wheel(start);
    std::vector<TimerNode> nodes(nodes_n);
    Model model(nodes_n);
    auto id_of = [&](TimerNode& n) { return static_cast<std::size_t>(&n - nodes.data()); };

    for (int step = 0; step < steps && !::testing::Test::HasFailure(); ++step) {
        std::uint64_t now = wheel.now();
        unsigned op = static_cast<unsigned>(rng() % 10);
        std::size_t id = rng() % nodes_n;
        if (op < 5) {
            std::uint64_t tick = (rng() % 16 == 0) ? now - std::min<std::uint64_t>(now, rng() % 100)
                                                   : now + random_delta(rng);
            wheel.schedule(nodes[id], tick);
            model.schedule(id, tick, now, false);
        } else if (op < 7) {
            wheel.cancel(nodes[id]);
            model.cancel(id);
        } else {
            std::uint64_t target = now + random_delta(rng);
            if (target < now) {
                target = now;  // overflow guard near the top of the range
            }
            model.clear_late();
            std::uint64_t old_now = now;
            bool due_phase = true;
            std::size_t expected_fired = 0;
            std::size_t fired = wheel.advance(target, [&](TimerNode& n) {
                std::size_t fid = id_of(n);
                ++expected_fired;
                ASSERT_TRUE(model.pending_[fid]) << "fired a node the model does not hold";
                ASSERT_FALSE(model.late_[fid]) << "fired a node set into the past this advance";
                std::uint64_t tick = model.tick_[fid];
                ASSERT_EQ(n.expires, tick);
                ASSERT_LE(tick, target);
                if (tick <= old_now) {
                    ASSERT_TRUE(due_phase) << "an already-due node fired after wheel timers";
                    ASSERT_EQ(wheel.now(), old_now);
                } else {
                    due_phase = false;
                    ASSERT_FALSE(model.any_due_at_start(old_now)) << "due node left behind";
                    ASSERT_EQ(wheel.now(), tick) << "fired off its tick";
                    ASSERT_FALSE(model.wheel_.empty());
                    ASSERT_EQ(model.wheel_.begin()->first, tick) << "an earlier timer is pending";
                }
                model.cancel(fid);
                // The callback's own random action: reschedule itself, touch another node.
                std::uint64_t cnow = wheel.now();
                unsigned act = static_cast<unsigned>(rng() % 6);
                std::size_t other = rng() % nodes_n;
                if (act == 0) {
                    std::uint64_t t2 = cnow + random_delta(rng);
                    wheel.schedule(n, t2);
                    model.schedule(fid, t2, cnow, true);
                } else if (act == 1) {
                    wheel.schedule(n, cnow - std::min<std::uint64_t>(cnow, rng() % 3));
                    model.schedule(fid, n.expires, cnow, true);
                } else if (act == 2) {
                    wheel.cancel(nodes[other]);
                    model.cancel(other);
                } else if (act == 3) {
                    std::uint64_t t2 = cnow + random_delta(rng);
                    wheel.schedule(nodes[other], t2);
                    model.schedule(other, t2, cnow, true);
                }
            });
            ASSERT_EQ(fired, expected_fired);
            ASSERT_EQ(wheel.now(), target);
            for (std::size_t i = 0; i < nodes_n; ++i) {
                if (model.pending_[i] && model.tick_[i] <= target) {
                    ASSERT_TRUE(model.late_[i]) << "node " << i << " due at " << model.tick_[i]
                                                << " not fired by advance(" << target << ")";
                }
            }
        }
        ASSERT_EQ(wheel.size(), model.size()) << "step " << step;
        for (std::size_t i = 0; i < nodes_n; ++i) {
            ASSERT_EQ(wheel.scheduled(nodes[i]), model.pending_[i]) << "node " << i;
        }
        std::uint64_t earliest = model.earliest();
        if (earliest == TimerWheel::empty_expiry) {
            ASSERT_EQ(wheel.next_expiry(), TimerWheel::empty_expiry);
        } else {
            ASSERT_LE(wheel.next_expiry(), std::max(earliest, wheel.now()));
            ASSERT_EQ(wheel.next_expiry_exact(nodes_n), std::max(earliest, wheel.now()))
                << "step " << step;
        }
    }
}

std::uint64_t base_seed() {
    return testing::test_seed(::testing::UnitTest::GetInstance()->current_test_info()->name());
}

TEST(TimerWheelModel, MatchesMultimapUnderRandomOperationsFewNodes) {
    std::uint64_t seed = base_seed();
    for (std::uint64_t i = 0; i < 200 && !HasFailure(); ++i) {
        run_model(seed + i, 4, 400);
    }
}

TEST(TimerWheelModel, MatchesMultimapUnderRandomOperationsManyNodes) {
    std::uint64_t seed = base_seed();
    for (std::uint64_t i = 0; i < 20 && !HasFailure(); ++i) {
        run_model(seed + i, 300, 4000);
    }
}

}  // namespace
}  // namespace ringprobe::engine
