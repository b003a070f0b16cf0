// One report from several engines' segments (ringprobe-report --merge NAME,NAME...): the shards
// of one configuration (ringprobe run --shard I/N), read on this host, shown as if one engine
// had probed everything.
//
// Each row shows the freshest result among the live engines that probe its target (with
// --replicas several do) and names that engine (Snapshot::source_of_target). A row no live
// engine of the merge probes reads Unknown with reason engine_unreachable and a detail naming
// its shard and why: the engine was stopped, is gone, its heartbeat is stale, or its report is
// missing. Segments of different configurations (digest), of different shard counts, or two
// claiming the same shard are refused: a half-rolled-out configuration is shown as such, never
// mixed.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "report/reader.hpp"

namespace ringprobe::report {

// A segment as read for the merge: its name and its snapshot, or why it could not be read.
struct MergePart {
    std::string name;
    Result<Snapshot, ReadError> snap;
};

// Combines the parts (at least one readable). A refusal is a ReadError of kind Unreadable
// whose message names the segments that disagree and what to do.
Result<Snapshot, ReadError> merge_snapshots(std::vector<MergePart> parts);

// Opens each name's segment, snapshots it with `options`, and merges them.
Result<Snapshot, ReadError> merge_reports(const std::vector<std::string>& names,
                                          const SnapshotOptions& options);

}  // namespace ringprobe::report
