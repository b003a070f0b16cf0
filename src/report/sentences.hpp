// What the report says about one server: its effective health (the engine's view, or Unknown
// when the engine cannot be trusted), the healthProbeLog sentence, and the short words the
// table shows. ringprobe's own wording, one sentence per Reason.
#pragma once

#include <cstdint>
#include <string>

#include <ringprobe/report.hpp>
#include <ringprobe/result.hpp>

#include "report/reader.hpp"

namespace ringprobe::report {

struct Effective {
    Health health;
    Reason reason;
    const report_abi::TargetStatePayload* state;  // null when the engine's answer is not shown
};

// Unknown/EngineUnreachable for every target when the engine is stopped, gone or stale, and
// Unknown/Pending for a target whose copy was torn every attempt this time.
Effective effective(const Snapshot& snap, std::uint32_t target_index);

// The healthProbeLog sentence for one target (ends with a period, no newline).
void append_probe_log(std::string& out, const Snapshot& snap, std::uint32_t target_index);

// A few words for the table: "200 OK", "connection refused", "status 503 (want 200-399)".
void append_result_words(std::string& out, const Snapshot& snap, std::uint32_t target_index);

// Number helpers (std::to_chars; no iostreams).
void append_uint(std::string& out, std::uint64_t v);
void append_int(std::string& out, std::int64_t v);
void append_duration_ms(std::string& out, std::uint64_t ms);  // "30 s", "1500 ms"
void append_age(std::string& out, std::uint64_t ns);          // "12 s", "4 min", "3 h", "2 d"

}  // namespace ringprobe::report
