// The reader side of the report: open a segment read-only, validate every byte before trusting
// it, and copy a consistent snapshot. Links nothing of the engine.
//
// Validation never trusts a count, an offset or a length: each section must lie inside the
// file, each index must name an existing record, each string must end with its NUL inside the
// string table. A failure is a ReadError with a sentence saying what is wrong and what to do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ringprobe/report.hpp>
#include <ringprobe/result.hpp>

#include "common/result.hpp"

namespace ringprobe::report {

enum class ReadErrorKind : std::uint8_t {
    NotFound = 1,    // no segment with that name: the engine is not running (or another --name)
    Unreadable = 2,  // exists but cannot be opened, mapped or validated
};

struct ReadError {
    ReadErrorKind kind;
    std::string message;
};

// The immutable part of a segment, copied and validated once per open.
struct StaticInfo {
    report_abi::SegmentHeader header{};  // the words before heartbeat; dynamic fields zero
    std::string strings;
    std::vector<report_abi::PoolRecord> pools;
    std::vector<report_abi::SettingRecord> settings;
    std::vector<report_abi::ServerRecord> servers;
    std::vector<report_abi::RowRecord> rows;
    std::vector<report_abi::TargetRecord> targets;
    std::uint32_t names = 0;  // FQDN targets (Names records)
    std::uint32_t tls = 0;    // Https/Tls targets (TlsFacts records)

    // Only for StrRefs that came through validation.
    std::string_view str(report_abi::StrRef r) const {
        return std::string_view(strings.data() + r.offset, r.length);
    }
    std::string_view gateway_name() const { return str(header.gateway_name); }
};

enum class EngineState : std::uint8_t {
    Live = 0,     // heartbeat fresh, pid present
    Stopped = 1,  // the engine marked a clean stop
    Stale = 2,    // heartbeat older than kHeartbeatStaleNs
    Gone = 3,     // kill(pid, 0) says the process does not exist
};
std::string_view engine_state_name(EngineState s);

using PidAliveFn = bool (*)(std::int32_t pid);
bool pid_alive(std::int32_t pid);  // kill(pid, 0) != ESRCH

struct SnapshotOptions {
    std::uint64_t now_unix_ns = 0;    // 0: CLOCK_REALTIME now
    std::uint32_t max_attempts = 64;  // per record; then "unreadable this time"
    PidAliveFn alive = &pid_alive;
    bool dns = true;        // copy Names and Addresses
    bool tls_facts = true;  // copy TlsFacts (about 2 KiB per TLS target)
    bool history = false;   // copy each target's History ring (768 bytes per target)
    bool events = false;    // copy the event log (32 bytes per entry)
};

// The engine's event log as copied (read_events): whole, valid entries, oldest first.
struct EventLog {
    std::vector<report_abi::EventRecord> events;
    std::uint64_t logged = 0;       // transitions logged since the segment began
    std::uint64_t overwritten = 0;  // of them, overwritten by newer ones
};

struct Snapshot {
    std::shared_ptr<const StaticInfo> info;
    std::vector<report_abi::TargetStatePayload> states;  // detail bytes past detail_len are zero
    std::vector<std::uint8_t> readable;                  // 0: torn every attempt, or corrupt
    std::vector<report_abi::WorkerStatsPayload> workers;
    // Layout 2, indexed by TargetRecord::name_slot (addresses: slot x kAddressesPerName + k)
    // and tls_slot; empty when not asked for. A record torn on every attempt, or invalid, is
    // left zero (standing pending, family 0, captured_unix_ns 0).
    std::vector<report_abi::NameStatePayload> names;
    std::vector<report_abi::AddressStatePayload> addresses;
    std::vector<report_abi::TlsFactsPayload> tls;
    report_abi::ResolverStatsPayload resolver{};
    // With SnapshotOptions::history: kHistoryEntries per target, newest first, the first
    // history_count[t] of them whole (copy_history); empty when not asked for.
    std::vector<report_abi::HistoryEntry> history;
    std::vector<std::uint8_t> history_count;
    EventLog events;  // with SnapshotOptions::events
    // Per row: 1 when the row is not Healthy but counted healthy for routing because fewer
    // than its setting's minServers rows of its pool x setting are Healthy (mark_min_servers,
    // facts.hpp). Empty for a snapshot built by hand: no row is counted.
    std::vector<std::uint8_t> counted_by_min_servers;
    std::span<const report_abi::HistoryEntry> history_of(std::uint32_t target) const {
        if (history_count.size() <= target) {
            return {};
        }
        return {history.data() + std::size_t{target} * report_abi::kHistoryEntries,
                history_count[target]};
    }
    // The engine's capacity check; zero (flags 0: not checked) when torn every attempt or invalid.
    report_abi::CapacityPayload capacity{};
    std::uint64_t heartbeat_unix_ns = 0;
    std::uint64_t stopped_unix_ns = 0;
    // The last reload (kReloadNone until one; also when its record was torn or invalid).
    report_abi::ReloadPayload last_reload{};
    std::uint64_t reload_result() const { return last_reload.result & 0xFF; }
    std::string_view reload_error() const {
        return {last_reload.error, static_cast<std::size_t>((last_reload.result >> 8) & 0xFF)};
    }
    std::uint64_t flags = 0;
    std::uint64_t now_unix_ns = 0;
    EngineState engine = EngineState::Live;
    // --- merge ---
    // A report merged from several engines' segments (merge.hpp): the engines, and for each
    // target the index of the one whose result it shows (kNoSource: none could). Empty for
    // one engine's report.
    static constexpr std::uint16_t kNoSource = 0xFFFF;
    struct Source {
        std::string name;   // the report name (--merge NAME)
        std::string shard;  // "1/3"; empty when the segment could not be read
        EngineState engine = EngineState::Gone;
        std::string problem;  // why its rows cannot be shown; empty when Live
    };
    std::vector<Source> merge_sources;
    std::vector<std::uint16_t> source_of_target;
    // --- end merge ---
    std::uint32_t unreadable = 0;  // targets whose copy failed this time

    // How old the last report is: now minus the heartbeat (0 if the clock went back).
    std::uint64_t report_age_ns() const {
        return now_unix_ns > heartbeat_unix_ns ? now_unix_ns - heartbeat_unix_ns : 0;
    }
};

// Validates the static part of a segment image of `size` bytes (8-byte aligned).
Result<StaticInfo, ReadError> validate_segment(const std::byte* data, std::size_t size);

// Copies one target's state with the seqlock protocol; false after max_attempts torn copies.
bool copy_state(const report_abi::TargetStateRecord& rec, report_abi::TargetStatePayload& out,
                std::uint32_t max_attempts);
bool copy_worker(const report_abi::WorkerStatsRecord& rec, report_abi::WorkerStatsPayload& out,
                 std::uint32_t max_attempts);
// Copies a target's history ring into out[0..kHistoryEntries), newest first, and returns how
// many entries are whole and valid. An entry torn on every attempt, or invalid, is left out;
// one a newer result overwrote during the copy ends it (the older ones are gone too).
std::uint32_t copy_history(const report_abi::HistoryRecord& rec, report_abi::HistoryEntry* out,
                           std::uint32_t max_attempts);
// Copies the event log's whole and valid entries (target within `targets`, known reason and
// health), oldest first by time. Looks at no more than `capacity` entries whatever the log's
// counter says.
EventLog read_events(const report_abi::EventLogRecord& log, const report_abi::EventRecord* events,
                     std::uint32_t capacity, std::uint32_t targets, std::uint32_t max_attempts);
// The fields of a history entry.
inline Health history_health(const report_abi::HistoryEntry& e) {
    return static_cast<Health>(e.flags & report_abi::kHistoryHealthMask);
}

// Copies the dynamic part of a validated image into a Snapshot (states, workers, heartbeat).
Snapshot take_snapshot(const std::byte* data, std::shared_ptr<const StaticInfo> info,
                       const SnapshotOptions& options);

// validate_segment + take_snapshot on an in-memory image (tests, fuzzer, benchmarks).
Result<Snapshot, ReadError> read_image(const std::byte* data, std::size_t size,
                                       const SnapshotOptions& options);

class Report {  // one read-only mapping of /dev/shm/ringprobe.<name>; move-only
public:
    static Result<Report, ReadError> open(std::string_view name);
    static Result<Report, ReadError> open_path(const std::string& path);

    Report(Report&& other) noexcept;
    Report& operator=(Report&& other) noexcept;
    Report(const Report&) = delete;
    Report& operator=(const Report&) = delete;
    ~Report();

    Snapshot snapshot(const SnapshotOptions& options) const;
    const StaticInfo& info() const { return *info_; }
    // The live state records (for copy_state in a tight loop: the exporter, the stress test).
    const report_abi::TargetStateRecord* state_records() const;
    // One target's history ring (copy_history) without copying every target's: the exporter's
    // page draws the timelines of the rows it shows. 0 when target is not a target of the report.
    std::uint32_t copy_history(std::uint32_t target, report_abi::HistoryEntry* out,
                               std::uint32_t max_attempts = 64) const;
    const std::string& path() const { return path_; }

    // True once a newer segment replaced this one (flag set by the new writer, or the name now
    // points at another inode, or the name is gone): reopen to follow it.
    bool superseded() const;

private:
    Report() = default;
    void release();

    const std::byte* base_ = nullptr;
    std::size_t size_ = 0;
    std::uint64_t dev_ = 0;
    std::uint64_t ino_ = 0;
    std::string path_;
    std::shared_ptr<const StaticInfo> info_;
};

}  // namespace ringprobe::report
