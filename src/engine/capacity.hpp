// Can the engine keep the plan's schedule with what it has? Pure arithmetic over the plan, so it
// runs at start and at each reload and is unit-tested without a ring
// (tests/unit/capacity_test.cpp).
//
// What a worker needs, summed over its targets (an FQDN target counts once, so with several
// addresses it needs more):
//   probes in flight  = sum of probe_time / interval, probe_time = min(expected, timeout)
//   probes per second = sum of 1 / interval
// What it has: its share of the descriptor budget (WorkerOptions::max_in_flight) and the probe
// rate one worker sustains (kProbesPerSecondPerWorker). A worker whose targets need more
// sockets than it has makes each due probe wait for one (the deferred line): every target is
// then probed about needed/has times less often than configured, and the report still reads the
// last verdict. That is what this check says out loud, with the numbers and what to change.
//
// The expected probe time is the timeout when nothing was measured (CapacityInputs::probe_ms 0):
// the schedule must hold when backends stop answering, which is when a checker matters most. The
// engine checks again with the mean probe time it measures (Engine::recheck_capacity).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include <ringprobe/report.hpp>

#include "config/plan.hpp"

namespace ringprobe::engine {

// Probes per second one worker sustains on one core: the opening table of docs/benchmarks.md
// measures about 25,000 plain HTTP probes/s at 1,000 to 50,000 targets; this keeps a margin.
inline constexpr std::uint32_t kProbesPerSecondPerWorker = 20'000;

struct CapacityInputs {
    unsigned workers = 1;
    // The worker of each plan target (engine::shard_of); its size is the plan's target count.
    std::span<const std::uint32_t> worker_of_target;
    std::uint64_t sockets_per_worker = 0;  // WorkerOptions::max_in_flight
    std::uint64_t nofile_limit = 0;        // RLIMIT_NOFILE's soft limit; 0: unlimited or unknown
    std::uint64_t descriptor_reserve = 0;  // descriptors kept back for all but probes
    std::uint32_t probe_ms = 0;            // mean probe time measured; 0: each target's timeout
    std::uint32_t probes_per_s_max = kProbesPerSecondPerWorker;
};

struct CapacityCheck {
    bool short_sockets = false;  // a worker needs more probes in flight than it has sockets
    bool short_rate = false;     // a worker must start more probes per second than it sustains
    std::uint32_t workers = 0;
    std::uint32_t busiest_worker = 0;    // the worker that falls furthest behind
    std::uint32_t targets = 0;           // the busiest worker's targets
    std::uint32_t in_flight_needed = 0;  // the busiest worker's, rounded up
    std::uint64_t sockets_per_worker = 0;
    std::uint32_t probes_per_s = 0;  // the busiest worker's, rounded up
    std::uint32_t probes_per_s_max = 0;
    std::uint32_t probe_ms = 0;  // the expected probe time used (0: each target's timeout)
    std::uint64_t nofile_limit = 0;
    // The descriptor limit at which every worker has the sockets it needs (0: not short of them).
    std::uint64_t nofile_needed = 0;
    std::uint32_t workers_needed = 0;  // workers at which the rate fits (0: not short of rate)
    // How much longer than configured the busiest worker's intervals get, in thousandths: 1000
    // keeps the schedule, 5000 probes each target every fifth interval.
    std::uint32_t slowdown_permille = 1000;

    bool short_of_capacity() const { return short_sockets || short_rate; }
};

CapacityCheck check_capacity(const Plan& plan, const CapacityInputs& in);

// The check as the report header carries it (report::append_capacity_sentence words it).
report_abi::CapacityPayload capacity_payload(const CapacityCheck& c, std::uint64_t checked_unix_ns);
// One line for the log: the numbers, then what to change. Empty when nothing is short.
std::string capacity_message(const CapacityCheck& c);

}  // namespace ringprobe::engine
