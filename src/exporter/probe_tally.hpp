// Probes counted by (pool, setting, reason) for ringprobe_probes_total.
//
// The report keeps, per target, its running totals (ok, failed, prober-side) and the reason of
// its latest probe, not a count per reason. The tally turns that into counts per reason by
// looking at every target's record often (a sweep every half of the shortest probe interval,
// 100 ms .. 10 s, and before each scrape): the growth of a total since the previous sweep is
// attributed to the reason the record shows now. That is exact whenever a target completes at
// most one probe between two sweeps, as it does in steady state. When a target completed
// several probes of one kind and the latest reason is of another kind, the earlier ones are
// counted under the reason "unseen": the counts stay exact per kind, only that reason is lost.
//
// Counts are kept per (pool, setting) group, not per server: a target's growth is added once
// for each report row it serves (rows fan out a shared target), so the series stay few
// (groups x reasons seen) whatever the number of servers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <ringprobe/result.hpp>

#include "report/reader.hpp"

namespace ringprobe::exporter {

// Label value for growth whose reason was overwritten before a sweep saw it.
inline constexpr std::string_view kUnseenReason = "unseen";
inline constexpr std::size_t kTallyReasons = reason_count + 1;  // + unseen
inline constexpr std::size_t kUnseenIndex = reason_count;

class ProbeTally {
public:
    struct Group {
        std::uint32_t pool;
        std::uint32_t setting;
    };

    // Sizes everything from the report's static part (rows, targets).
    explicit ProbeTally(const report::StaticInfo& info);

    // Reads every target's record once (seqlock copies) and attributes what grew.
    void sweep(const report::Report& report);
    // Same, from a snapshot (tests).
    void sweep(const report::Snapshot& snap);

    const std::vector<Group>& groups() const { return groups_; }
    std::uint64_t count(std::size_t group, std::size_t reason_index) const {
        return counts_[group * kTallyReasons + reason_index];
    }
    std::uint64_t sweeps() const { return sweeps_; }

private:
    struct Seen {
        std::uint64_t ok = 0;
        std::uint64_t fail = 0;
        std::uint64_t prober = 0;
    };
    void observe(std::uint32_t target, const report_abi::TargetStatePayload& s);
    void add(std::uint32_t target, std::size_t reason_index, std::uint64_t n);

    std::vector<Group> groups_;
    std::vector<std::uint32_t> target_rows_begin_;  // CSR: target -> groups of its rows
    std::vector<std::uint32_t> target_groups_;
    std::vector<Seen> seen_;
    std::vector<std::uint64_t> counts_;  // groups x kTallyReasons
    std::uint64_t sweeps_ = 0;
};

}  // namespace ringprobe::exporter
