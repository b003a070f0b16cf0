// Composing a report segment's static part from a Plan.
//
// The writer and the tests both need the same bytes: the writer composes an Image and writes it
// into a fresh shared-memory file before renaming it into place; the tests, the benchmarks and
// the fuzzer write it into an ordinary buffer. Nothing here runs after start-up or reload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <ringprobe/report.hpp>

#include "common/result.hpp"
#include "config/plan.hpp"

namespace ringprobe::report {

struct ImageOptions {
    std::int32_t engine_pid = 0;
    std::uint64_t start_unix_ns = 0;
    std::uint64_t generation = 1;
    std::uint32_t worker_slots = report_abi::kMaxWorkers;
};

struct Image {
    report_abi::SegmentHeader header{};  // complete, sections filled in
    std::string strings;                 // starts with the NUL every empty StrRef points at
    std::vector<report_abi::PoolRecord> pools;
    std::vector<report_abi::SettingRecord> settings;
    std::vector<report_abi::ServerRecord> servers;
    std::vector<report_abi::RowRecord> rows;
    std::vector<report_abi::TargetRecord> targets;
    std::uint32_t names = 0;           // FQDN targets (Names records; Addresses has x16)
    std::uint32_t tls = 0;             // Https/Tls targets (TlsFacts records)
    std::uint32_t event_capacity = 0;  // Events records (Plan::event_log_entries)
    // The targets other shards own (Target::owned false) and the state each shows from the
    // start: Health::OtherShard, naming the owners in the detail.
    std::vector<std::uint32_t> other_shard_targets;
    std::vector<report_abi::TargetStatePayload> other_shard_states;
};

// Checks the plan's indices and bounds and lays out every section. Errors name what is wrong.
Result<Image> compose_image(const Plan& plan, const ImageOptions& options);

// Writes the image into `dst`, which holds header.total_size zeroed bytes. States and worker
// records stay zero: health Unknown, reason Pending, seq 0; the event log has its capacity.
void write_image(const Image& image, std::byte* dst);

// compose_image + write_image into an 8-byte aligned buffer (tests, benchmarks, fuzzer).
Result<std::vector<std::uint64_t>> build_image_words(const Plan& plan, const ImageOptions& options);

// "200-399" or "200,301-302": the match ranges as the report shows them.
std::string format_status_ranges(const std::vector<StatusRange>& ranges);

}  // namespace ringprobe::report
