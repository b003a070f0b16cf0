// ProbeTally (see probe_tally.hpp).
#include "exporter/probe_tally.hpp"

#include <map>
#include <utility>

namespace ringprobe::exporter {

namespace abi = report_abi;

ProbeTally::ProbeTally(const report::StaticInfo& info) {
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint32_t> index;
    std::vector<std::uint32_t> group_of_row(info.rows.size());
    for (std::size_t i = 0; i < info.rows.size(); ++i) {
        const abi::RowRecord& r = info.rows[i];
        auto [it, fresh] = index.try_emplace({r.pool_index, r.setting_index},
                                             static_cast<std::uint32_t>(groups_.size()));
        if (fresh) {
            groups_.push_back(Group{r.pool_index, r.setting_index});
        }
        group_of_row[i] = it->second;
    }
    // Rows by target, as a compressed list (counting sort).
    const std::size_t targets = info.targets.size();
    target_rows_begin_.assign(targets + 1, 0);
    for (const abi::RowRecord& r : info.rows) {
        target_rows_begin_[r.target_index + 1] += 1;
    }
    for (std::size_t t = 0; t < targets; ++t) {
        target_rows_begin_[t + 1] += target_rows_begin_[t];
    }
    target_groups_.resize(info.rows.size());
    std::vector<std::uint32_t> fill(target_rows_begin_.begin(), target_rows_begin_.end() - 1);
    for (std::size_t i = 0; i < info.rows.size(); ++i) {
        target_groups_[fill[info.rows[i].target_index]++] = group_of_row[i];
    }
    seen_.assign(targets, Seen{});
    counts_.assign(groups_.size() * kTallyReasons, 0);
}

void ProbeTally::add(std::uint32_t target, std::size_t reason_index, std::uint64_t n) {
    if (n == 0) {
        return;
    }
    for (std::uint32_t k = target_rows_begin_[target]; k < target_rows_begin_[target + 1]; ++k) {
        counts_[std::size_t{target_groups_[k]} * kTallyReasons + reason_index] += n;
    }
}

void ProbeTally::observe(std::uint32_t t, const abi::TargetStatePayload& s) {
    Seen& seen = seen_[t];
    // Totals only grow while one engine runs; a smaller value is a corrupt copy: ignore it.
    if (s.total_ok < seen.ok || s.total_fail < seen.fail || s.total_prober_errors < seen.prober) {
        return;
    }
    const auto latest = static_cast<Reason>(s.reason);
    const std::size_t latest_index = static_cast<std::size_t>(latest) < reason_count
                                         ? static_cast<std::size_t>(latest)
                                         : kUnseenIndex;
    const bool latest_prober = reason_is_prober_side(latest);
    const bool latest_fail = !latest_prober && latest != Reason::Ok && latest != Reason::Pending;
    add(t, static_cast<std::size_t>(Reason::Ok), s.total_ok - seen.ok);
    add(t, latest_fail ? latest_index : kUnseenIndex, s.total_fail - seen.fail);
    add(t, latest_prober ? latest_index : kUnseenIndex, s.total_prober_errors - seen.prober);
    seen = Seen{s.total_ok, s.total_fail, s.total_prober_errors};
}

void ProbeTally::sweep(const report::Report& report) {
    const abi::TargetStateRecord* recs = report.state_records();
    abi::TargetStatePayload p{};
    const std::size_t n = seen_.size();
    for (std::size_t t = 0; t < n; ++t) {
        if (report::copy_state(recs[t], p, 16)) {
            observe(static_cast<std::uint32_t>(t), p);
        }
    }
    sweeps_ += 1;
}

void ProbeTally::sweep(const report::Snapshot& snap) {
    const std::size_t n = std::min(seen_.size(), snap.states.size());
    for (std::size_t t = 0; t < n; ++t) {
        if (snap.readable[t] != 0) {
            observe(static_cast<std::uint32_t>(t), snap.states[t]);
        }
    }
    sweeps_ += 1;
}

}  // namespace ringprobe::exporter
