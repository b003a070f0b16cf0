// The resolver's own counters, as plain numbers: Resolver::stats() returns them and the engine's
// totals carry them, so a reader of the totals (the exporter) needs this header and not the
// resolver's (c-ares, its thread, its queues).
#pragma once

#include <array>
#include <cstdint>

#include "dns/policy.hpp"

namespace ringprobe::dns {

struct ResolverStats {
    std::uint64_t lookups_started = 0;
    std::uint64_t lookups_done = 0;
    std::uint64_t inflight_peak = 0;
    std::uint64_t names_resolved = 0;   // names that have had at least one answer with addresses
    std::uint64_t names_answered = 0;   // names whose first lookup has ended (any outcome)
    std::uint64_t notices_dropped = 0;  // full worker queues (each turned into a resync)
    std::array<std::uint64_t, outcome_table.size()> by_outcome{};  // lookups ended, by Outcome
};

}  // namespace ringprobe::dns
