#include "engine/capacity.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "common/assert.hpp"
#include "report/capacity_words.hpp"

namespace ringprobe::engine {

namespace {

struct WorkerNeed {
    std::uint32_t targets = 0;
    double in_flight = 0;
    double probes_per_s = 0;
};

std::uint32_t ceil_u32(double v) {
    // A sum of many fractions lands a hair above a whole number (2,000 x 0.15): not a probe more.
    return static_cast<std::uint32_t>(std::min(std::ceil(v * (1 - 1e-9)), 4.0e9));
}

// The factor by which a worker's intervals stretch: the larger of its two shortfalls.
double slowdown(const WorkerNeed& w, std::uint64_t sockets, std::uint32_t rate_max) {
    const double by_sockets = sockets == 0 ? 1.0 : w.in_flight / static_cast<double>(sockets);
    const double by_rate = rate_max == 0 ? 1.0 : w.probes_per_s / rate_max;
    return std::max({1.0, by_sockets, by_rate});
}

}  // namespace

CapacityCheck check_capacity(const Plan& plan, const CapacityInputs& in) {
    RP_ASSERT(in.workers >= 1);
    RP_ASSERT(in.worker_of_target.size() == plan.targets.size());
    RP_ASSERT(in.workers <= report_abi::kMaxWorkers);
    // On the stack: the engine's main thread re-checks every 10 s and allocates nothing then.
    std::array<WorkerNeed, report_abi::kMaxWorkers> need{};
    for (std::size_t i = 0; i < plan.targets.size(); ++i) {
        const Target& t = plan.targets[i];
        if (!t.address_known || !t.owned) {
            continue;  // never probed here
        }
        RP_ASSERT(in.worker_of_target[i] < in.workers);
        RP_ASSERT(t.interval_ms > 0);
        WorkerNeed& w = need[in.worker_of_target[i]];
        const std::uint32_t probe_ms =
            in.probe_ms == 0 ? t.timeout_ms : std::min(in.probe_ms, t.timeout_ms);
        w.targets += 1;
        w.in_flight += static_cast<double>(probe_ms) / t.interval_ms;
        w.probes_per_s += 1000.0 / t.interval_ms;
    }
    CapacityCheck c;
    c.workers = in.workers;
    c.sockets_per_worker = in.sockets_per_worker;
    c.probes_per_s_max = in.probes_per_s_max;
    c.probe_ms = in.probe_ms;
    c.nofile_limit = in.nofile_limit;
    double worst = 0;
    double in_flight_max = 0;
    double rate_total = 0;
    for (std::uint32_t k = 0; k < in.workers; ++k) {
        const WorkerNeed& w = need[k];
        in_flight_max = std::max(in_flight_max, w.in_flight);
        rate_total += w.probes_per_s;
        c.short_sockets =
            c.short_sockets || w.in_flight > static_cast<double>(in.sockets_per_worker);
        c.short_rate = c.short_rate || w.probes_per_s > in.probes_per_s_max;
        const double s = slowdown(w, in.sockets_per_worker, in.probes_per_s_max);
        if (k == 0 || s > worst) {
            worst = s;
            c.busiest_worker = k;
        }
    }
    const WorkerNeed& b = need[c.busiest_worker];
    c.targets = b.targets;
    c.in_flight_needed = ceil_u32(b.in_flight);
    c.probes_per_s = ceil_u32(b.probes_per_s);
    c.slowdown_permille = ceil_u32(worst * 1000);
    if (c.short_sockets) {
        // The engine splits the budget evenly, so every worker gets what the busiest needs.
        c.nofile_needed =
            std::uint64_t{ceil_u32(in_flight_max)} * in.workers + in.descriptor_reserve;
    }
    if (c.short_rate) {
        c.workers_needed = ceil_u32(rate_total / in.probes_per_s_max);
    }
    return c;
}

report_abi::CapacityPayload capacity_payload(const CapacityCheck& c,
                                             std::uint64_t checked_unix_ns) {
    const auto u32 = [](std::uint64_t v) {
        return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, 0xFFFFFFFFu));
    };
    report_abi::CapacityPayload p{};
    p.flags = report_abi::kCapacityChecked |
              (c.short_sockets ? report_abi::kCapacityShortSockets : 0) |
              (c.short_rate ? report_abi::kCapacityShortRate : 0);
    p.workers = c.workers;
    p.targets = c.targets;
    p.in_flight_needed = c.in_flight_needed;
    p.sockets_per_worker = u32(c.sockets_per_worker);
    p.probes_per_s = c.probes_per_s;
    p.probes_per_s_max = c.probes_per_s_max;
    p.probe_ms = c.probe_ms;
    p.nofile_limit = u32(c.nofile_limit);
    p.nofile_needed = u32(c.nofile_needed);
    p.workers_needed = c.workers_needed;
    p.slowdown_permille = c.slowdown_permille;
    p.checked_unix_ns = checked_unix_ns;
    return p;
}

std::string capacity_message(const CapacityCheck& c) {
    std::string out;
    report::append_capacity_sentence(out, capacity_payload(c, 0));
    return out;
}

}  // namespace ringprobe::engine
