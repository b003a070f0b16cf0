// The engine's side of the shared-memory report: create a segment from a Plan, publish each
// target's latest result, refresh the heartbeat, and mark a clean stop.
//
// Threading contract (asserted where it is cheap):
//  - publish(t, ...) for one target t is only ever called by one thread (the worker that owns t);
//  - publish_worker_stats(w, ...) for one worker slot only by that worker;
//  - heartbeat() and mark_stopped() only by the engine's main thread.
// publish() is O(1) and wait-free: a seqlock whose payload is stored as 64-bit atomic words. It
// never allocates, never formats, and never waits for a reader.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <ringprobe/report.hpp>
#include <ringprobe/result.hpp>

#include "common/result.hpp"
#include "config/plan.hpp"
#include "report/names.hpp"

namespace ringprobe::report {

struct TargetUpdate {  // what a worker publishes after every probe of one target
    Health health = Health::Unknown;
    std::uint8_t flags = 0;  // report_abi::kStateCertExpiring | kStateDnsStale
    Reason reason = Reason::Pending;
    std::uint16_t http_status = 0;  // 0 when none
    std::int32_t sys_errno = 0;     // errno behind a connect/prober failure, 0 otherwise
    std::uint32_t latency_us = 0, dns_us = 0, connect_us = 0, tls_us = 0, first_byte_us = 0;
    std::uint64_t last_probe_unix_ns = 0, last_change_unix_ns = 0, next_probe_unix_ns = 0;
    std::uint32_t consecutive_ok = 0, consecutive_fail = 0;
    std::uint64_t total_probes = 0, total_ok = 0, total_fail = 0, total_prober_errors = 0;
    std::string_view detail;  // e.g. the resolved address, the cert facts; cut to kDetailBytes
};

struct HistoryResult {          // one entry of a target's history (report_abi::HistoryEntry)
    std::uint64_t unix_ns = 0;  // when the probe started
    std::uint32_t duration_us = 0;
    std::uint16_t http_status = 0;
    Reason reason = Reason::Pending;
    Health health = Health::Unknown;  // the row's, after this result
    bool reused = false;              // a kept-alive connection carried the probe
};

struct EventUpdate {  // one health transition (report_abi::EventRecord)
    std::uint64_t unix_ns = 0;
    std::uint32_t target = 0;
    Reason reason = Reason::Pending;
    std::uint16_t http_status = 0;
    std::int32_t sys_errno = 0;
    Health from = Health::Unknown;
    Health to = Health::Unknown;
};

using WorkerStats = report_abi::WorkerStatsPayload;
using NameUpdate = report_abi::NameStatePayload;
using AddressUpdate = report_abi::AddressStatePayload;
using TlsFacts = report_abi::TlsFactsPayload;
using ResolverStats = report_abi::ResolverStatsPayload;

struct WriterOptions {
    std::int32_t engine_pid = 0;      // 0: getpid()
    std::uint64_t start_unix_ns = 0;  // 0: now (CLOCK_REALTIME)
    std::uint32_t worker_slots = report_abi::kMaxWorkers;
};

class Writer {  // move-only; owns the mapping (not the name: the destructor does not unlink)
public:
    // Builds a new segment in full under a temporary name, then renames it over
    // /dev/shm/ringprobe.<name> (mode 0640), so readers see the old report or the new one. The
    // old segment, if any, is flagged superseded so readers holding it reopen.
    static Result<Writer> create(const Plan& plan, std::string_view name);
    static Result<Writer> create(const Plan& plan, std::string_view name,
                                 const WriterOptions& options);

    // The same segment, built in full under its temporary name but not renamed into place:
    // a reload fills it while readers still see the old one, then commit()s it.
    static Result<Writer> prepare(const Plan& plan, std::string_view name,
                                  const WriterOptions& options);
    // Renames a prepared segment over the name and flags the segment it replaces superseded.
    Result<void> commit();
    // A reload: copies a target's state, history, name and address records and TLS facts from
    // the old segment. Only the thread that writes that target in both (its worker) may call it.
    void copy_target_from(const Writer& old, std::uint32_t old_target, std::uint32_t new_target);

    Writer(Writer&& other) noexcept;
    Writer& operator=(Writer&& other) noexcept;
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    ~Writer();

    void publish(std::uint32_t target_index, const TargetUpdate& u);  // O(1), wait-free
    // Appends one result to the target's history ring, overwriting its oldest; same writer as
    // publish(). O(1), wait-free: four word stores.
    void record_history(std::uint32_t target_index, const HistoryResult& r);
    // Appends one transition to the engine's event log, overwriting its oldest. Any thread: a
    // ticket from one atomic fetch-add names the entry, which only that writer stores. O(1),
    // wait-free, no allocation.
    void record_event(const EventUpdate& e);
    // A reload: appends the old segment's whole events whose target the new plan keeps
    // (new_of_old[old target], `gone` when removed), under its new index. Any thread, once no
    // worker writes the old segment's log any more.
    void copy_events_from(const Writer& old, const std::vector<std::uint32_t>& new_of_old,
                          std::uint32_t gone);
    void publish_worker_stats(std::uint32_t worker_id, const WorkerStats& stats);
    // Layout 2. Slots come from the target's record (name_slot(), tls_slot()); one writer per
    // slot: the worker that owns the target (resolver stats: the engine's main thread).
    void publish_name(std::uint32_t name_slot, const NameUpdate& u);
    void publish_address(std::uint32_t name_slot, std::uint32_t k, const AddressUpdate& u);
    void publish_tls_facts(std::uint32_t tls_slot, const TlsFacts& facts);
    void publish_resolver_stats(const ResolverStats& stats);
    // The capacity check's figures (header bytes 448..512); the engine's main thread only.
    void publish_capacity(const report_abi::CapacityPayload& capacity);
    std::uint32_t name_slot(std::uint32_t target_index) const;  // kNoSlot: not an FQDN target
    std::uint32_t tls_slot(std::uint32_t target_index) const;   // kNoSlot: not Https/Tls
    void heartbeat(std::uint64_t now_unix_ns);                  // ONE thread, every <= 250 ms
    // The last reload (the header's seqlocked record); the engine's main thread only.
    void publish_reload(const report_abi::ReloadPayload& r);
    void mark_stopped();  // clean shutdown (now from CLOCK_REALTIME)
    void mark_stopped(std::uint64_t now_unix_ns);
    void unlink();  // remove the name if it still names this segment

    std::uint32_t target_count() const { return target_count_; }
    std::uint32_t worker_slots() const { return worker_slots_; }
    std::uint64_t generation() const;
    const std::string& path() const { return path_; }

private:
    Writer() = default;
    void release();

    std::byte* base_ = nullptr;
    std::size_t size_ = 0;
    report_abi::SegmentHeader* header_ = nullptr;
    report_abi::TargetStateRecord* states_ = nullptr;
    report_abi::WorkerStatsRecord* workers_ = nullptr;
    const report_abi::TargetRecord* targets_ = nullptr;
    report_abi::NameStateRecord* names_ = nullptr;
    report_abi::AddressStateRecord* addresses_ = nullptr;
    report_abi::TlsFactsRecord* tls_ = nullptr;
    report_abi::ResolverStatsRecord* resolver_ = nullptr;
    report_abi::HistoryRecord* history_ = nullptr;
    report_abi::EventLogRecord* event_log_ = nullptr;
    report_abi::EventRecord* events_ = nullptr;
    std::uint32_t event_capacity_ = 0;
    std::uint32_t name_count_ = 0;
    std::uint32_t tls_count_ = 0;
    std::uint32_t target_count_ = 0;
    std::uint32_t worker_slots_ = 0;
    std::uint64_t dev_ = 0;
    std::uint64_t ino_ = 0;
    std::string path_;
    std::string tmp_path_;  // a prepared segment's name until commit(); empty once committed
};

}  // namespace ringprobe::report
