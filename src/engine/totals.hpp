// The engine's counters summed over its workers (Engine::totals()). Its own header so that the
// exporter and the command line, which only read the sums, need nothing else of the engine.
#pragma once

#include <array>
#include <cstdint>

#include "common/histogram.hpp"
#include "dns/resolver.hpp"
#include "ringprobe/result.hpp"

namespace ringprobe::engine {

struct EngineTotals {
    std::uint64_t probes_started = 0;
    std::uint64_t probes_completed = 0;
    std::uint64_t prober_errors = 0;
    std::uint64_t stale_completions = 0;
    std::uint64_t skipped_intervals = 0;
    std::uint64_t sq_full = 0;
    std::uint64_t transitions = 0;
    std::uint64_t in_flight = 0;
    std::uint64_t late_probes = 0;
    std::uint64_t deferred_starts = 0;
    std::uint64_t held_starts = 0;  // waited for a later chunk or turn: it had started its fill
    std::uint64_t chunks = 0;       // kernel entries of turns' later chunks
    std::uint64_t stop_forced_closes = 0;
    std::uint64_t ring_submits = 0;
    std::uint64_t loops = 0;  // worker loop turns: about one wake-up each
    std::uint64_t ring_cq_overflow = 0;
    std::uint64_t recv_no_buffer = 0;
    std::uint64_t tls_full = 0;      // handshakes that presented a certificate
    std::uint64_t tls_resumed = 0;   // handshakes that resumed a session
    std::uint64_t tls_failed = 0;    // probes ended by a TLS reason
    std::uint64_t dns_updates = 0;   // resolver notices the workers applied
    dns::ResolverStats dns{};        // zero when the plan has no FQDN backend
    std::array<std::uint64_t, reason_count> by_reason{};
    std::array<std::uint64_t, Histogram::buckets> lateness_us{};
    std::array<std::uint64_t, Histogram::buckets> duration_us{};
    std::uint64_t lateness_us_sum = 0;  // exact sums behind the two histograms
    std::uint64_t duration_us_sum = 0;
};

}  // namespace ringprobe::engine
