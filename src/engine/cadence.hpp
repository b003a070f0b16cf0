// State-dependent probe intervals: which cadence a target's health asks for, and where its next
// scheduled start falls. Pure, so the rules are unit-tested without a clock or a network
// (tests/unit/cadence_test.cpp); schedule.cpp applies them.
//
//  - Regular: the interval, on the target's own grid (its phase plus whole intervals), so the
//    targets of a worker stay spread over the interval as the first starts placed them.
//  - Fast (ringprobe.fastIntervalMs, HAProxy's fastinter): a Healthy target whose last result
//    failed is probed again one fast interval after that probe's scheduled start, until
//    unhealthyThreshold failures make it Unhealthy or a success clears the failure. Detection
//    then takes the first failure + (unhealthyThreshold - 1) x fastInterval + timeout.
//  - Unhealthy (ringprobe.unhealthyIntervalMs, HAProxy's downinter): every probe of an Unhealthy
//    target, including those that count towards healthyThreshold.
// Fast and unhealthy starts are one cadence after the previous scheduled start, never after the
// completion, so they do not drift either; the targets that fail together failed at their own
// phases, so they stay spread too. Back on the regular cadence a target returns to its grid: the
// first grid instant at least one of the shortest cadence after the last start, so two starts
// are never closer than the plan allows.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/clock.hpp"
#include "config/plan.hpp"
#include "engine/health.hpp"

namespace ringprobe::engine {

enum class Cadence : std::uint8_t { Regular, Fast, Unhealthy };

inline Cadence cadence_of(const HealthState& h) {
    if (h.health == Health::Unhealthy) {
        return Cadence::Unhealthy;
    }
    if (h.health == Health::Healthy && h.consecutive_fail > 0) {
        return Cadence::Fast;
    }
    return Cadence::Regular;
}

// A target's three cadences in ns, each at least one tick: a configured 0 means the interval.
struct Cadences {
    std::uint64_t regular_ns = 0;
    std::uint64_t fast_ns = 0;
    std::uint64_t unhealthy_ns = 0;

    std::uint64_t of(Cadence c) const {
        switch (c) {
            case Cadence::Regular: return regular_ns;
            case Cadence::Fast: return fast_ns;
            case Cadence::Unhealthy: return unhealthy_ns;
        }
        return regular_ns;
    }
    std::uint64_t shortest_ns() const { return std::min({regular_ns, fast_ns, unhealthy_ns}); }
};

inline Cadences cadences_of(const Target& t) {
    auto ns = [&t](std::uint32_t ms) {
        return std::max<std::uint64_t>(ms_to_ns(ms != 0 ? ms : t.interval_ms), tick_ns);
    };
    return Cadences{ns(t.interval_ms), ns(t.fast_interval_ms), ns(t.unhealthy_interval_ms)};
}

// The next scheduled start after the one at base_ns, before jitter and before skipping what is
// already past. home_ns is an instant of the target's regular grid at or before base_ns.
inline std::uint64_t next_base_ns(std::uint64_t base_ns, std::uint64_t home_ns, Cadence c,
                                  const Cadences& k) {
    if (c != Cadence::Regular) {
        return base_ns + k.of(c);
    }
    if (base_ns == home_ns) {
        return base_ns + k.regular_ns;  // on the grid all along: the common case
    }
    const std::uint64_t not_before = base_ns + k.shortest_ns();
    const std::uint64_t steps = (not_before - home_ns + k.regular_ns - 1) / k.regular_ns;
    return home_ns + steps * k.regular_ns;
}

}  // namespace ringprobe::engine
