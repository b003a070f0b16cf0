#include "report/capacity_words.hpp"

#include <algorithm>

#include <ringprobe/result.hpp>

#include "report/text.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

// "9.4x": one decimal, enough to act on.
void append_factor(std::string& out, std::uint32_t permille) {
    const std::uint32_t tenths = (permille + 50) / 100;
    append_uint(out, tenths / 10);
    out += '.';
    append_uint(out, tenths % 10);
    out += 'x';
}

// "2 s", "1.5 s", "250 ms": an interval as configured.
void append_ms(std::string& out, std::uint32_t ms) {
    if (ms % 1000 == 0) {
        append_uint(out, ms / 1000);
        out += " s";
    } else {
        append_uint(out, ms);
        out += " ms";
    }
}

}  // namespace

void append_capacity_sentence(std::string& out, const abi::CapacityPayload& c) {
    if (!capacity_short(c)) {
        return;
    }
    const bool sockets = (c.flags & abi::kCapacityShortSockets) != 0;
    const bool rate = (c.flags & abi::kCapacityShortRate) != 0;
    out += "capacity short: the busiest of ";
    append_uint(out, c.workers);
    out += c.workers == 1 ? " worker has " : " workers has ";
    append_uint(out, c.targets);
    out += " targets, which need ";
    append_uint(out, c.in_flight_needed);
    out += " probes in flight (";
    if (c.probe_ms == 0) {
        out += "each taking up to its timeout";
    } else {
        out += "each taking ";
        append_uint(out, c.probe_ms);
        out += " ms";
    }
    out += ") and ";
    append_uint(out, c.probes_per_s);
    out += " starts/s; it has ";
    append_uint(out, c.sockets_per_worker);
    out += " sockets and sustains about ";
    append_uint(out, c.probes_per_s_max);
    out += " probes/s, so its targets are probed about ";
    append_factor(out, c.slowdown_permille);
    out += " less often than their interval. To keep the schedule:";
    if (sockets) {
        out += " raise LimitNOFILE (ulimit -n) from ";
        append_uint(out, c.nofile_limit);
        out += " to at least ";
        append_uint(out, c.nofile_needed);
        out += c.probe_ms == 0 ? ", or shorten the timeouts," : ",";
    }
    if (rate) {
        out += " run at least ";
        append_uint(out, c.workers_needed);
        out += " workers (--workers),";
    }
    out += " or lengthen the intervals ";
    append_factor(out, c.slowdown_permille);
    out += '.';
}

std::uint64_t late_bound_ns(const abi::TargetRecord& tr) {
    // The longest cadence the target may be on: an Unhealthy one probed every
    // unhealthyIntervalMs is not late for going longer than its interval without a result.
    const std::uint64_t longest = std::max(tr.interval_ms, tr.unhealthy_interval_ms);
    return (2 * longest + tr.timeout_ms) * 1'000'000ull;
}

bool is_late(const Snapshot& snap, std::uint32_t t, std::uint64_t& age_ns) {
    if (snap.engine != EngineState::Live || snap.readable[t] == 0) {
        return false;
    }
    const abi::TargetStatePayload& s = snap.states[t];
    const auto reason = static_cast<Reason>(s.reason);
    if (reason == Reason::AddressUnknown || reason_info(reason).layer == Layer::Dns ||
        reason_info(reason).layer == Layer::Engine) {
        // Nothing to probe here (another shard's row, or a merged row whose engine is out of
        // reach): the row says why, and it is not the schedule's fault.
        return false;
    }
    const std::uint64_t since =
        s.last_probe_unix_ns != 0 ? s.last_probe_unix_ns : snap.info->header.start_unix_ns;
    const std::uint64_t at = snap.heartbeat_unix_ns;
    age_ns = at > since ? at - since : 0;
    return age_ns > late_bound_ns(snap.info->targets[t]);
}

void append_late_note(std::string& out, const Snapshot& snap, std::uint32_t t,
                      std::uint64_t age_ns) {
    const abi::TargetStatePayload& s = snap.states[t];
    out += s.last_probe_unix_ns != 0 ? "late: last result " : "late: no result in ";
    append_age(out, age_ns);
    out += s.last_probe_unix_ns != 0 ? " ago, due every " : ", due every ";
    append_ms(out, snap.info->targets[t].interval_ms);
}

}  // namespace ringprobe::report
