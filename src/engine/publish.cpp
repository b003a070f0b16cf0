// Stage: publishing. What a worker writes into the shared-memory report: an IP target's row
// after each probe (one writer per row: the worker that owns the target), every probe's entry in
// its row's history, every change of a row's health in the event log, and the worker's own
// stats slot every 250 ms. FQDN rows, address records and TLS facts are written by their own
// stages (name_slots.cpp, tls_probe.cpp) through the same writer.
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "engine/probe_slot.hpp"

namespace ringprobe::engine {

void Worker::publish(const Slot& s, std::string_view detail, std::uint8_t flags) {
    if (writer_ == nullptr) {
        return;
    }
    const HealthState& h = s.health;
    report::TargetUpdate u{};
    u.health = h.health;
    u.flags = flags;
    if (is_flapping(s.changes, plan_->flapping_changes)) {
        u.flags |= abi::kStateFlapping;
    }
    u.reason = s.last_reason;
    u.http_status = s.http_status;
    u.sys_errno = s.sys_errno;
    u.latency_us = us_between(s.start_ns, s.done_ns);
    u.dns_us = 0;
    u.connect_us = us_between(s.start_ns, s.connected_ns);
    u.tls_us = us_between(s.start_ns, s.tls_done_ns);
    u.detail = detail;
    u.first_byte_us = us_between(s.start_ns, s.first_byte_ns);
    u.last_probe_unix_ns = wall_.to_unix_ns(s.last_probe_ns);
    u.last_change_unix_ns = s.last_change_ns == 0 ? 0 : wall_.to_unix_ns(s.last_change_ns);
    u.next_probe_unix_ns = wall_.to_unix_ns(s.next_ns);
    u.consecutive_ok = h.consecutive_ok;
    u.consecutive_fail = h.consecutive_fail;
    u.total_probes = s.total_probes;
    u.total_ok = s.total_ok;
    u.total_fail = s.total_fail;
    u.total_prober_errors = s.total_prober;
    writer_->publish(s.plan_index, u);
}

// Every finished probe is one entry of its row's history; an FQDN row's entry is the probe of
// one of its addresses, with the row's health after it.
void Worker::record_history(const Slot& s) {
    if (writer_ == nullptr) {
        return;
    }
    report::HistoryResult h;
    h.unix_ns = wall_.to_unix_ns(s.start_ns);
    h.duration_us = us_between(s.start_ns, s.done_ns);
    h.http_status = s.http_status;
    h.reason = s.verdict;
    h.health = s.name == no_name ? s.health.health : names_[s.name].health.health;
    h.reused = s.reused;  // the attempt that decided ran on a kept connection
    writer_->record_history(s.plan_index, h);
}

void Worker::log_transition(const Transition& t, std::int32_t sys_errno) {
    bump(counters_.transitions);
    if (writer_ != nullptr) {
        writer_->record_event(report::EventUpdate{t.at_unix_ns, t.target, t.reason, t.http_status,
                                                  sys_errno, t.from, t.to});
    }
    if (!transitions_.push(t)) {
        bump(counters_.transitions_dropped);  // the main thread is behind
    }
}

void Worker::publish_stats(std::uint64_t now) {
    // This worker's own slot in the report's worker table (one writer per slot), for readers
    // outside the process; the exporter inside it reads the counters directly.
    stats_published_ns_ = now;
    if (budget_ != opt_.max_in_flight) {  // recover from an EMFILE, an eighth at a time
        budget_ = std::min(opt_.max_in_flight,
                           budget_ + std::max<std::size_t>(1, opt_.max_in_flight / 8));
    }
    if (writer_ == nullptr) {
        return;
    }
    const report::WorkerStats w = report_row(counter_values(counters_, ring_.stats()), counters_,
                                             targets_owned_, wall_.to_unix_ns(now));
    writer_->publish_worker_stats(opt_.index, w);
}

}  // namespace ringprobe::engine
