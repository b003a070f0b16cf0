// The verdict rules: from one probe's result to a target's health. Pure, so the whole table of
// transitions is unit-tested without a network (tests/unit/health_test.cpp).
//
//  - Unknown until a threshold is first reached (the gateway's and AWS's initial state).
//  - healthy_threshold consecutive successes make it Healthy (rise; default 1).
//  - unhealthy_threshold consecutive failures make it Unhealthy (fall; default 3).
//  - A prober-side result (Layer::Prober) changes no counter and no health: it is not the
//    backend's fault. It is counted separately and retried.
#pragma once

#include <cstdint>

#include <ringprobe/result.hpp>

namespace ringprobe::engine {

struct HealthState {
    Health health = Health::Unknown;
    std::uint8_t consecutive_ok = 0;    // saturates at 255
    std::uint8_t consecutive_fail = 0;  // saturates at 255
};

struct Thresholds {
    std::uint8_t healthy = 1;
    std::uint8_t unhealthy = 3;
};

// Applies one result; returns true when health changed.
bool apply_result(HealthState& s, Reason r, Thresholds t);

}  // namespace ringprobe::engine
