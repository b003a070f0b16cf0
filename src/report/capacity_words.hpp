// The words for the engine's capacity check (the header's CapacityPayload) and for late rows:
// one sentence each, shared by the engine's log line, the table, the JSON and the exporter.
//
// A row is late when its last result is older than twice its interval plus its timeout at the
// report's heartbeat (counted from the engine's start while it has no result yet): the engine
// could not keep its schedule, so the verdict shown is not a fresh one. Only a live engine's
// rows can be late (a stopped or stale one shows every row Unknown already), and only rows the
// engine probes (not a NIC member without an address, nor a name DNS gives no address).
#pragma once

#include <cstdint>
#include <string>

#include <ringprobe/report.hpp>

#include "report/reader.hpp"

namespace ringprobe::report {

// "capacity short: worker 0 of 2 has 1000 targets, ... or lengthen the intervals 4.7x."
// Nothing when the payload says nothing is short.
void append_capacity_sentence(std::string& out, const report_abi::CapacityPayload& c);

inline bool capacity_short(const report_abi::CapacityPayload& c) {
    return (c.flags & (report_abi::kCapacityShortSockets | report_abi::kCapacityShortRate)) != 0;
}

// The age past which a target's last result is late: 2 x interval + timeout.
std::uint64_t late_bound_ns(const report_abi::TargetRecord& tr);
// True when the target's row is late (above); age_ns is then how old its last result is (or
// how long the engine has run without one).
bool is_late(const Snapshot& snap, std::uint32_t target_index, std::uint64_t& age_ns);
inline bool is_late(const Snapshot& snap, std::uint32_t target_index) {
    std::uint64_t age_ns = 0;
    return is_late(snap, target_index, age_ns);
}
// "late: last result 12 s ago, due every 2 s"
void append_late_note(std::string& out, const Snapshot& snap, std::uint32_t target_index,
                      std::uint64_t age_ns);

}  // namespace ringprobe::report
