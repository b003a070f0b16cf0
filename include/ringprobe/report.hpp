// ringprobe/report.hpp: the shared-memory health report ABI (types and constants only).
//
// The engine publishes its whole output into one POSIX shared-memory segment,
// /dev/shm/ringprobe.<name>. Any number of readers map it read-only. This header is everything a
// reader needs to interpret the bytes, so ringprobe-report (and any third-party tool) links
// nothing of the engine. docs/report-format.md describes the same layout byte by byte; the
// static_asserts below pin every offset so the two cannot drift apart silently.
//
// Layout (all integers little-endian, native x86-64/aarch64 order; every section 64-byte aligned):
//
//   offset 0       SegmentHeader (512 bytes): identity, section table, then on its own cache line
//                  the fields the engine keeps changing (heartbeat, flags), and from layout 4
//                  the seqlocked capacity record (bytes 448..512: the engine's capacity check)
//   sections[...]  Pools, Settings, Servers, Rows, Targets (static, written once before the
//                  segment is renamed into place), States (one seqlocked record per target),
//                  Workers (one seqlocked record per worker slot), Strings (a byte table),
//                  and since layout 2: Names (one seqlocked record per FQDN target: what DNS
//                  said), Addresses (kAddressesPerName seqlocked records per FQDN target: each
//                  resolved address and its own probe result), TlsFacts (one seqlocked record
//                  per Https/Tls target: the certificate chain and connection of the last full
//                  handshake), Resolver (one seqlocked record: the resolver's counters)
//
// Concurrency: every field that changes after the rename is a 64-bit word accessed atomically
// (std::atomic_ref / __atomic builtins). A target's state has exactly one writer. Its `seq`
// word is odd while the writer is inside publish(); the writer stores seq+1, then the payload
// words with release stores, then seq+2 with a release store. A reader loads seq (acquire), the
// payload words (acquire), and seq again; equal and even means the copy is whole.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <ringprobe/protocol.hpp>
#include <ringprobe/result.hpp>

namespace ringprobe::report_abi {

inline constexpr char kMagic[8] = {'R', 'P', 'R', 'E', 'P', 'O', 'R', 'T'};
// 2: Names, Addresses, TlsFacts, Resolver; 3: PoolRecord flags, ServerRecord NIC names;
// 4: the header's last reload (bytes 280..448) and capacity record (448..512);
// 5: the header's second section table (bytes 512..576), the History, EventLog and Events
// sections; 6: the header's shard record (bytes 576..640); 7: TargetRecord's fast and
// unhealthy intervals (88 bytes), SettingRecord's min_servers
inline constexpr std::uint32_t kLayoutVersion = 7;
inline constexpr char kShmPrefix[] = "ringprobe.";  // shm_open name is "/ringprobe.<name>"
inline constexpr std::size_t kNameMax = 200;        // bytes of <name>
inline constexpr std::size_t kSectionAlign = 64;

// Bounds a reader enforces before trusting any count (a segment beyond them is corrupt).
inline constexpr std::uint32_t kMaxPools = 1u << 16;
inline constexpr std::uint32_t kMaxSettings = 1u << 16;
inline constexpr std::uint32_t kMaxServers = 1u << 22;
inline constexpr std::uint32_t kMaxRows = 1u << 22;
inline constexpr std::uint32_t kMaxTargets = 1u << 22;
inline constexpr std::uint32_t kMaxWorkers = 64;
inline constexpr std::uint32_t kMaxEvents = 1u << 22;  // event log entries
inline constexpr std::uint32_t kMaxStringBytes = 1u << 30;
inline constexpr std::uint32_t kMaxStringLength = 8192;  // one string (match.body is <= 4090)
inline constexpr std::uint32_t kDetailBytes = 256;       // per-target detail area
inline constexpr std::uint32_t kAddressesPerName = 16;   // address records per FQDN target
inline constexpr std::uint32_t kNoSlot = 0xFFFFFFFFu;    // TargetRecord name_slot / tls_slot

// Staleness: a reader shows every server Unknown when the heartbeat is older than this.
inline constexpr std::uint64_t kHeartbeatStaleNs = 3'000'000'000ULL;

// Header flag bits (SegmentHeader::flags, an atomic word).
inline constexpr std::uint64_t kFlagStopped = 1;     // the engine shut down cleanly
inline constexpr std::uint64_t kFlagSuperseded = 2;  // a newer segment was renamed over the name

// TargetStatePayload::flags bits.
inline constexpr std::uint8_t kStateCertExpiring = 1;  // Healthy, but a certificate expires soon
inline constexpr std::uint8_t kStateDnsStale = 2;      // probing last good addresses: DNS failing
// body_mismatch on a body longer than the kBodyWindowBytes that match.body is searched in.
inline constexpr std::uint8_t kStateBodyCut = 4;
// The row's health changed at least flappingChanges times (4 by default) within its last 32
// results.
inline constexpr std::uint8_t kStateFlapping = 8;
inline constexpr std::uint32_t kBodyWindowBytes = 64 * 1024;

enum class Section : std::uint32_t {
    Pools = 0,
    Settings = 1,
    Servers = 2,
    Rows = 3,
    Targets = 4,
    States = 5,
    Workers = 6,
    Strings = 7,
    Names = 8,
    Addresses = 9,
    TlsFacts = 10,
    Resolver = 11,
    History = 12,  // layout 5; this and later refs are in SegmentHeader::sections_more
    EventLog = 13,
    Events = 14,
};
inline constexpr std::size_t kSectionCount = 15;
// The first table (bytes 64..256) is full; later sections are listed in the second.
inline constexpr std::size_t kSectionsFirst = 12;
inline constexpr std::size_t kSectionsMore = 4;
static_assert(kSectionCount <= kSectionsFirst + kSectionsMore);

// A string in the Strings section: `length` bytes at `offset`, followed by a NUL that readers
// check. An empty string is {0, 0} pointing at the NUL that always starts the table.
struct StrRef {
    std::uint32_t offset;
    std::uint32_t length;
};
static_assert(sizeof(StrRef) == 8);

struct SectionRef {
    std::uint64_t offset;       // from the start of the segment, multiple of kSectionAlign
    std::uint32_t count;        // records (bytes for Strings)
    std::uint32_t record_size;  // sizeof the record type (1 for Strings)
};
static_assert(sizeof(SectionRef) == 16);

// --- capacity ---
// CapacityPayload::flags bits.
inline constexpr std::uint32_t kCapacityChecked = 1;       // the engine compared need and means
inline constexpr std::uint32_t kCapacityShortSockets = 2;  // a worker needs more sockets in flight
inline constexpr std::uint32_t kCapacityShortRate = 4;     // a worker must start more probes/s
inline constexpr std::uint32_t kCapacityFlagsAll = 7;

// What the plan needs against what the engine has (src/engine/capacity.hpp), for the busiest
// worker: written at start, after each measurement of the probe time and at each reload.
struct CapacityPayload {
    std::uint32_t flags;               //  0  kCapacity*
    std::uint32_t workers;             //  4
    std::uint32_t targets;             //  8  the busiest worker's targets
    std::uint32_t in_flight_needed;    // 12  its probes in flight, rounded up
    std::uint32_t sockets_per_worker;  // 16  its descriptor budget
    std::uint32_t probes_per_s;        // 20  its starts per second, rounded up
    std::uint32_t probes_per_s_max;    // 24  what one worker sustains
    std::uint32_t probe_ms;            // 28  expected probe time used; 0: each target's timeout
    std::uint32_t nofile_limit;        // 32  RLIMIT_NOFILE (0: unlimited), capped at 2^32-1
    std::uint32_t nofile_needed;       // 36  the limit that keeps the schedule (0: enough)
    std::uint32_t workers_needed;      // 40  workers that keep the rate (0: enough)
    std::uint32_t slowdown_permille;   // 44  1000: on schedule; 5000: every fifth interval
    std::uint64_t checked_unix_ns;     // 48  when
};
static_assert(sizeof(CapacityPayload) == 56);
static_assert(std::is_trivially_copyable_v<CapacityPayload>);
// --- end capacity ---

// The last reload of the configuration (SIGHUP, ringprobe reload), in the header: a refused
// reload builds no new segment, so its error is published into the segment in force. Written
// by the engine's main thread only, seqlocked like the records (SegmentHeader::reload_seq).
inline constexpr std::uint64_t kReloadNone = 0;
inline constexpr std::uint64_t kReloadApplied = 1;
inline constexpr std::uint64_t kReloadRefused = 2;
inline constexpr std::uint32_t kReloadErrorBytes = 128;  // the error, cut (UTF-8 whole)

struct ReloadPayload {
    std::uint64_t unix_ns;          //  0  when it ended; 0: no reload yet
    std::uint64_t result;           //  8  bits 0..7: kReload*; bits 8..15: error bytes used
    std::uint64_t applied;          // 16  reloads applied since the engine started
    std::uint64_t refused;          // 24  reloads refused since the engine started
    char error[kReloadErrorBytes];  // 32  why it was refused (first error); zero past its length
};
static_assert(sizeof(ReloadPayload) == 160);

// --- shard ---
// Which shard of how many the engine is (ringprobe run --shard I/N --replicas R). count 1: the
// engine probes every target. The targets other shards own have Health::OtherShard states,
// written before the rename and never changed.
struct ShardRecord {
    std::uint32_t index;        //  0  0 .. count - 1
    std::uint32_t count;        //  4  >= 1
    std::uint32_t replicas;     //  8  1 .. count
    std::uint32_t owned;        // 12  targets this engine probes
    std::uint64_t reserved[6];  // 16 .. 64, zero
};
static_assert(sizeof(ShardRecord) == 64);
// --- end shard ---

struct SegmentHeader {
    // Written once before the rename; never changes afterwards.
    char magic[8];                 //   0
    std::uint32_t layout_version;  //   8
    std::uint32_t header_size;     //  12  sizeof(SegmentHeader)
    std::uint64_t total_size;      //  16  bytes of the whole segment (== file size)
    std::uint64_t config_digest;   //  24  Plan::digest
    std::uint64_t start_unix_ns;   //  32  when this segment was created
    std::int32_t engine_pid;       //  40
    std::uint32_t worker_slots;    //  44  == sections[Workers].count
    std::uint64_t generation;      //  48  previous segment's generation + 1 (1 for the first)
    StrRef gateway_name;           //  56
    SectionRef sections[kSectionsFirst];  //  64 .. 256
    // Changes while the engine runs: atomic 64-bit words on their own cache line.
    std::uint64_t heartbeat_unix_ns;  // 256  refreshed by the engine at least every 250 ms
    std::uint64_t flags;              // 264  kFlagStopped | kFlagSuperseded
    std::uint64_t stopped_unix_ns;    // 272  when kFlagStopped was set, else 0
    std::uint64_t reload_seq;         // 280  seqlock of last_reload: odd while written
    ReloadPayload last_reload;        // 288 .. 448
    // --- capacity (bytes 448..512) ---
    std::uint64_t capacity_seq;  // 448  seqlock over capacity (one writer: the main thread)
    CapacityPayload capacity;    // 456 .. 512
    // --- end capacity ---
    // Written once before the rename, like sections[]: sections kSectionsFirst and up.
    SectionRef sections_more[kSectionsMore];  // 512 .. 576; unused refs zero
    // --- shard (bytes 576..640), written once before the rename ---
    ShardRecord shard;  // 576 .. 640
    // --- end shard ---
};
static_assert(sizeof(SegmentHeader) == 640);
static_assert(sizeof(SegmentHeader) % 64 == 0);
static_assert(offsetof(SegmentHeader, layout_version) == 8);
static_assert(offsetof(SegmentHeader, header_size) == 12);
static_assert(offsetof(SegmentHeader, total_size) == 16);
static_assert(offsetof(SegmentHeader, config_digest) == 24);
static_assert(offsetof(SegmentHeader, start_unix_ns) == 32);
static_assert(offsetof(SegmentHeader, engine_pid) == 40);
static_assert(offsetof(SegmentHeader, worker_slots) == 44);
static_assert(offsetof(SegmentHeader, generation) == 48);
static_assert(offsetof(SegmentHeader, gateway_name) == 56);
static_assert(offsetof(SegmentHeader, sections) == 64);
static_assert(offsetof(SegmentHeader, heartbeat_unix_ns) == 256);
static_assert(offsetof(SegmentHeader, flags) == 264);
static_assert(offsetof(SegmentHeader, stopped_unix_ns) == 272);
static_assert(offsetof(SegmentHeader, reload_seq) == 280);
static_assert(offsetof(SegmentHeader, last_reload) == 288);
static_assert(offsetof(SegmentHeader, capacity_seq) == 448);
static_assert(offsetof(SegmentHeader, capacity) == 456);
static_assert(offsetof(SegmentHeader, sections_more) == 512);
static_assert(offsetof(SegmentHeader, shard) == 576);

// A section's entry in whichever table holds it.
inline const SectionRef& section_ref(const SegmentHeader& h, Section s) {
    const auto i = static_cast<std::size_t>(s);
    return i < kSectionsFirst ? h.sections[i] : h.sections_more[i - kSectionsFirst];
}
inline SectionRef& section_ref(SegmentHeader& h, Section s) {
    const auto i = static_cast<std::size_t>(s);
    return i < kSectionsFirst ? h.sections[i] : h.sections_more[i - kSectionsFirst];
}

// PoolRecord::flags. A pool a rule routes to with no members has no rows, yet the gateway's
// report lists it; the flag lets a reader show it with a note.
inline constexpr std::uint32_t kPoolEmptyRouted = 1u << 0;
inline constexpr std::uint32_t kPoolFlagsKnown = kPoolEmptyRouted;

struct PoolRecord {
    StrRef name;                 //  0
    StrRef id;                   //  8
    std::uint32_t first_server;  // 16  index into Servers
    std::uint32_t server_count;  // 20
    std::uint32_t flags;         // 24  kPool* bits
    std::uint32_t reserved;      // 28  zero
};
static_assert(sizeof(PoolRecord) == 32);
static_assert(offsetof(PoolRecord, first_server) == 16);
static_assert(offsetof(PoolRecord, flags) == 24);

struct SettingRecord {
    StrRef name;                 //  0
    StrRef id;                   //  8
    StrRef probe_name;           // 16  empty: the default probe
    std::uint16_t port;          // 24
    std::uint8_t protocol;       // 26  ringprobe::Protocol
    std::uint8_t default_probe;  // 27  0 or 1
    std::uint32_t min_servers;   // 28  its probe's minServers (0: none; layout 6)
};
static_assert(sizeof(SettingRecord) == 32);
static_assert(offsetof(SettingRecord, min_servers) == 28);
// The protocol byte holds ringprobe::Protocol; its values are part of this layout.
static_assert(static_cast<std::uint8_t>(Protocol::Http) == 0);
static_assert(static_cast<std::uint8_t>(Protocol::Https) == 1);
static_assert(static_cast<std::uint8_t>(Protocol::Tcp) == 2);
static_assert(static_cast<std::uint8_t>(Protocol::Tls) == 3);
static_assert(offsetof(SettingRecord, port) == 24);
static_assert(offsetof(SettingRecord, protocol) == 26);

struct ServerRecord {
    StrRef address;              //  0  as configured; address_known 0: the IP configuration id
    std::uint32_t pool_index;    //  8
    std::uint8_t is_fqdn;        // 12
    std::uint8_t address_known;  // 13  0 for a NIC member no --nics file resolved, else 1
    std::uint8_t reserved[2];    // 14  zero
    StrRef nic;                  // 16  NIC members: "NIC" or "SCALESET/INSTANCE/NIC"; else empty
    StrRef ip_configuration;     // 24  NIC members: the IP configuration's name; else empty
};
static_assert(sizeof(ServerRecord) == 32);
static_assert(offsetof(ServerRecord, pool_index) == 8);
static_assert(offsetof(ServerRecord, nic) == 16);

struct RowRecord {             // one line of the report: pool x setting x server, shown by target
    std::uint32_t pool_index;  //  0
    std::uint32_t setting_index;  //  4
    std::uint32_t server_index;   //  8  index into Servers (global, not per pool)
    std::uint32_t target_index;   // 12
};
static_assert(sizeof(RowRecord) == 16);

struct TargetRecord {
    StrRef address;                     //  0
    StrRef host;                        //  8
    StrRef path;                        // 16
    StrRef sni;                         // 24
    StrRef match_status;                // 32  e.g. "200-399" or "200,301-302"
    StrRef match_body;                  // 40
    std::uint16_t port;                 // 48
    std::uint8_t protocol;              // 50  ringprobe::Protocol
    std::uint8_t is_fqdn;               // 51
    std::uint8_t unhealthy_threshold;   // 52
    std::uint8_t healthy_threshold;     // 53
    std::uint8_t validate_chain;        // 54
    std::uint8_t validate_sni;          // 55
    std::uint32_t interval_ms;          // 56
    std::uint32_t timeout_ms;           // 60
    std::uint32_t jitter_ms;            // 64
    std::uint32_t name_slot;            // 68  FQDN: index into Names (Addresses: x16); else kNoSlot
    std::uint32_t tls_slot;             // 72  Https/Tls: index into TlsFacts; else kNoSlot
    std::uint16_t expiry_warning_days;  // 76  certificate early warning (0: off)
    std::uint8_t proxy_protocol;        // 78  Tcp/Tls: the PROXY header sent, kProxyNone/V1/V2
    std::uint8_t reserved;              // 79  zero
    std::uint32_t fast_interval_ms;     // 80  after a failure while Healthy; 0: interval_ms
    std::uint32_t unhealthy_interval_ms;  // 84  while Unhealthy; 0: interval_ms
};
// TargetRecord::proxy_protocol. A segment written before the field existed holds zero: none.
inline constexpr std::uint8_t kProxyNone = 0;
inline constexpr std::uint8_t kProxyV1 = 1;
inline constexpr std::uint8_t kProxyV2 = 2;
static_assert(sizeof(TargetRecord) == 88);
static_assert(offsetof(TargetRecord, fast_interval_ms) == 80);
static_assert(offsetof(TargetRecord, name_slot) == 68);
static_assert(offsetof(TargetRecord, tls_slot) == 72);
static_assert(offsetof(TargetRecord, expiry_warning_days) == 76);
static_assert(offsetof(TargetRecord, proxy_protocol) == 78);
static_assert(offsetof(TargetRecord, port) == 48);
static_assert(offsetof(TargetRecord, interval_ms) == 56);
static_assert(offsetof(TargetRecord, jitter_ms) == 64);

// The seqlocked payload of a target's latest state. The first kStateFixedWords words are always
// copied; the detail area only up to detail_len (rounded up to a word).
struct TargetStatePayload {
    std::uint8_t health;                //   0  ringprobe::Health
    std::uint8_t flags;                 //   1  kStateCertExpiring | DnsStale | BodyCut | Flapping
    std::uint16_t reason;               //   2  ringprobe::Reason
    std::uint16_t http_status;          //   4  0 when none
    std::uint16_t detail_len;           //   6  <= kDetailBytes
    std::int32_t sys_errno;             //   8
    std::uint32_t latency_us;           //  12
    std::uint32_t dns_us;               //  16
    std::uint32_t connect_us;           //  20
    std::uint32_t tls_us;               //  24
    std::uint32_t first_byte_us;        //  28
    std::uint32_t consecutive_ok;       //  32
    std::uint32_t consecutive_fail;     //  36
    std::uint64_t last_probe_unix_ns;   //  40
    std::uint64_t last_change_unix_ns;  //  48
    std::uint64_t next_probe_unix_ns;   //  56
    std::uint64_t total_probes;         //  64
    std::uint64_t total_ok;             //  72
    std::uint64_t total_fail;           //  80
    std::uint64_t total_prober_errors;  //  88
    char detail[kDetailBytes];          //  96 .. 352
};
static_assert(sizeof(TargetStatePayload) == 352);
static_assert(offsetof(TargetStatePayload, reason) == 2);
static_assert(offsetof(TargetStatePayload, http_status) == 4);
static_assert(offsetof(TargetStatePayload, detail_len) == 6);
static_assert(offsetof(TargetStatePayload, sys_errno) == 8);
static_assert(offsetof(TargetStatePayload, first_byte_us) == 28);
static_assert(offsetof(TargetStatePayload, consecutive_fail) == 36);
static_assert(offsetof(TargetStatePayload, last_probe_unix_ns) == 40);
static_assert(offsetof(TargetStatePayload, total_prober_errors) == 88);
static_assert(offsetof(TargetStatePayload, detail) == 96);
inline constexpr std::size_t kStateFixedWords = offsetof(TargetStatePayload, detail) / 8;
inline constexpr std::size_t kStatePayloadWords = sizeof(TargetStatePayload) / 8;

struct TargetStateRecord {
    std::uint64_t seq;           //   0  odd while being written
    TargetStatePayload payload;  //   8 .. 360
    std::uint8_t reserved[24];   // 360 .. 384, zero
};
static_assert(sizeof(TargetStateRecord) == 384);
static_assert(sizeof(TargetStateRecord) % 64 == 0);
static_assert(offsetof(TargetStateRecord, payload) == 8);

// Per-worker counters, for the exporter (same seqlock pattern, one writer per slot).
struct WorkerStatsPayload {
    std::uint64_t probes_started;     //   0
    std::uint64_t probes_completed;   //   8
    std::uint64_t prober_errors;      //  16  all prober-side failures
    std::uint64_t no_fds;             //  24  EMFILE / ENFILE
    std::uint64_t no_buffers;         //  32  ENOBUFS / ENOMEM
    std::uint64_t no_ports;           //  40  EADDRNOTAVAIL
    std::uint64_t ring_full;          //  48  submission queue full, retried
    std::uint64_t late_probes;        //  56  started after their deadline slot
    std::uint64_t lateness_us_sum;    //  64
    std::uint64_t lateness_us_max;    //  72
    std::uint64_t stale_completions;  //  80  completions for a reused slot
    std::uint64_t targets_owned;      //  88
    std::uint64_t loop_iterations;    //  96
    std::uint64_t updated_unix_ns;    // 104
    std::uint64_t tls_full;           // 112  handshakes that sent a certificate (layout 2)
    std::uint64_t tls_resumed;        // 120  handshakes that resumed a session
    std::uint64_t tls_failed;         // 128  handshakes that ended in a TLS reason
    std::uint64_t dns_updates;        // 136  resolver notices applied (address set or outcome)
    std::uint64_t reserved[5];        // 144 .. 184, zero
};
// The engine fills this from its counter list (src/engine/counters.hpp), but the layout is the
// readers' contract: pinned here field by field so that no change to the list can move one.
static_assert(sizeof(WorkerStatsPayload) == 184);
static_assert(std::is_trivially_copyable_v<WorkerStatsPayload>);
static_assert(offsetof(WorkerStatsPayload, probes_started) == 0);
static_assert(offsetof(WorkerStatsPayload, probes_completed) == 8);
static_assert(offsetof(WorkerStatsPayload, prober_errors) == 16);
static_assert(offsetof(WorkerStatsPayload, no_fds) == 24);
static_assert(offsetof(WorkerStatsPayload, no_buffers) == 32);
static_assert(offsetof(WorkerStatsPayload, no_ports) == 40);
static_assert(offsetof(WorkerStatsPayload, ring_full) == 48);
static_assert(offsetof(WorkerStatsPayload, late_probes) == 56);
static_assert(offsetof(WorkerStatsPayload, lateness_us_sum) == 64);
static_assert(offsetof(WorkerStatsPayload, lateness_us_max) == 72);
static_assert(offsetof(WorkerStatsPayload, stale_completions) == 80);
static_assert(offsetof(WorkerStatsPayload, targets_owned) == 88);
static_assert(offsetof(WorkerStatsPayload, loop_iterations) == 96);
static_assert(offsetof(WorkerStatsPayload, updated_unix_ns) == 104);
static_assert(offsetof(WorkerStatsPayload, tls_full) == 112);
static_assert(offsetof(WorkerStatsPayload, tls_resumed) == 120);
static_assert(offsetof(WorkerStatsPayload, tls_failed) == 128);
static_assert(offsetof(WorkerStatsPayload, dns_updates) == 136);
static_assert(offsetof(WorkerStatsPayload, reserved) == 144);
inline constexpr std::size_t kWorkerPayloadWords = sizeof(WorkerStatsPayload) / 8;

struct WorkerStatsRecord {
    std::uint64_t seq;           //   0
    WorkerStatsPayload payload;  //   8 .. 192
};
static_assert(sizeof(WorkerStatsRecord) == 192);

// ---- Layout 2 sections -----------------------------------------------------------------------

// What DNS said for one FQDN target (written by the worker that owns the target, each time the
// resolver's answer for the name changes). Standing and outcome values are those of
// src/dns/policy.hpp (dns::Standing, dns::Outcome), listed in docs/report-format.md.
struct NameStatePayload {
    std::uint8_t standing;       //  0  0 pending, 1 fresh, 2 stale, 3 never resolved, 4 no address
    std::uint8_t last_outcome;   //  1  0 pending, 1 ok, 2 nxdomain, 3 nodata, 4 servfail,
                                 //     5 timeout, 6 refused, 7 unreachable, 8 other
    std::uint8_t address_count;  //  2  addresses probed now (<= kAddressesPerName)
    std::uint8_t truncated;      //  3  1: the answer had more addresses than kept
    std::uint32_t ttl_s;         //  4  TTL of the last good answer as served
    std::uint64_t last_lookup_unix_ns;  //  8  when the last lookup ended; 0 never
    std::uint64_t last_good_unix_ns;    // 16  when the last answer with addresses came; 0 never
    std::uint64_t next_lookup_unix_ns;  // 24
    std::uint64_t lookups;              // 32  lookups of this name completed
    std::uint64_t generation;           // 40  +1 each time the address set changed
};
static_assert(sizeof(NameStatePayload) == 48);
inline constexpr std::size_t kNamePayloadWords = sizeof(NameStatePayload) / 8;

struct NameStateRecord {
    std::uint64_t seq;         //  0
    NameStatePayload payload;  //  8 .. 56
    std::uint64_t reserved;    // 56, zero
};
static_assert(sizeof(NameStateRecord) == 64);

// One resolved address of an FQDN target and its own latest probe result. Records of a name are
// filled from the first; family 0 marks an unused record (the address left the answer).
struct AddressStatePayload {
    std::uint8_t family;                //  0  4, 6, or 0: unused
    std::uint8_t health;                //  1  ringprobe::Health
    std::uint16_t reason;               //  2  ringprobe::Reason
    std::uint16_t http_status;          //  4
    std::uint16_t reserved0;            //  6  zero
    std::uint8_t address[16];           //  8  network byte order; IPv4 in the first 4 bytes
    std::int32_t sys_errno;             // 24
    std::uint32_t latency_us;           // 28
    std::uint32_t consecutive_ok;       // 32
    std::uint32_t consecutive_fail;     // 36
    std::uint64_t since_unix_ns;        // 40  when this address joined the answer
    std::uint64_t last_probe_unix_ns;   // 48
    std::uint64_t last_change_unix_ns;  // 56
    std::uint64_t total_probes;         // 64
    std::uint64_t total_fail;           // 72
};
static_assert(sizeof(AddressStatePayload) == 80);
static_assert(offsetof(AddressStatePayload, address) == 8);
static_assert(offsetof(AddressStatePayload, since_unix_ns) == 40);
inline constexpr std::size_t kAddressPayloadWords = sizeof(AddressStatePayload) / 8;

struct AddressStateRecord {
    std::uint64_t seq;            //  0
    AddressStatePayload payload;  //  8 .. 88
    std::uint8_t reserved[40];    // 88 .. 128, zero
};
static_assert(sizeof(AddressStateRecord) == 128);

// One certificate of a presented chain. Text fields are NUL-terminated UTF-8, cut to fit.
struct CertRecord {
    char subject[96];           //   0  one-line DN
    char issuer[96];            //  96
    char common_name[64];       // 192
    char sans[128];             // 256  DNS SANs, comma separated
    std::int64_t not_before_s;  // 384  Unix seconds
    std::int64_t not_after_s;   // 392
    std::uint8_t sha256[32];    // 400  of the DER
    std::uint8_t is_ca;         // 432
    std::uint8_t self_issued;   // 433
    std::uint8_t reserved[6];   // 434 .. 440
};
static_assert(sizeof(CertRecord) == 440);
static_assert(offsetof(CertRecord, not_before_s) == 384);
static_assert(offsetof(CertRecord, sha256) == 400);

inline constexpr std::uint32_t kChainRecords = 4;  // certificates described (more are counted)

// What the last full handshake of a TLS target presented and agreed (resumed handshakes carry
// no certificate and leave this record alone).
struct TlsFactsPayload {
    std::uint64_t captured_unix_ns;     //    0  0: no full handshake yet
    std::uint8_t presented;             //    8  certificates the server sent
    std::uint8_t chain_count;           //    9  of them described below (<= kChainRecords)
    std::uint8_t sni_sent;              //   10  1: the target's SNI went out
    std::uint8_t handshake_ok;          //   11  1: verified as configured
    std::int32_t verify_error;          //   12  first wolfSSL verify error, 0 none
    std::int64_t earliest_not_after_s;  //   16  over the chain and the anchor; 0 none
    std::uint64_t full_handshakes;      //   24  of this target
    std::uint64_t resumed_handshakes;   //   32
    char protocol[16];                  //   40  "TLSv1.3"
    char cipher[64];                    //   56
    char anchor[96];                    //  120  subject of the trust anchor matched, if any
    CertRecord chain[kChainRecords];    //  216 .. 1976
};
static_assert(sizeof(TlsFactsPayload) == 1976);
static_assert(offsetof(TlsFactsPayload, chain) == 216);
inline constexpr std::size_t kTlsPayloadWords = sizeof(TlsFactsPayload) / 8;

struct TlsFactsRecord {
    std::uint64_t seq;        //    0
    TlsFactsPayload payload;  //    8 .. 1984
};
static_assert(sizeof(TlsFactsRecord) == 1984);
static_assert(sizeof(TlsFactsRecord) % 64 == 0);

// The resolver's counters (written by the engine's main thread, about every 250 ms).
struct ResolverStatsPayload {
    std::uint64_t names;            //   0  distinct names watched
    std::uint64_t lookups_started;  //   8
    std::uint64_t lookups_done;     //  16
    std::uint64_t by_outcome[9];  //  24  lookups ended, indexed like NameStatePayload::last_outcome
    std::uint64_t inflight_peak;  //  96
    std::uint64_t notices_dropped;  // 104
    std::uint64_t updated_unix_ns;  // 112
};
static_assert(sizeof(ResolverStatsPayload) == 120);
inline constexpr std::size_t kResolverPayloadWords = sizeof(ResolverStatsPayload) / 8;

struct ResolverStatsRecord {
    std::uint64_t seq;             //   0
    ResolverStatsPayload payload;  //   8 .. 128
};
static_assert(sizeof(ResolverStatsRecord) == 128);

// ---- Layout 5: per-target history --------------------------------------------------------------

// Each target's last kHistoryEntries results, a ring written by the worker that owns the target
// after each probe. Entry n (1-based, counting every result the target has had) lives at
// entries[(n - 1) % kHistoryEntries]; its `seq` is 2n - 1 while the writer stores it and 2n
// once whole, so a reader that finds any other value (a torn entry, or one a newer result
// overwrote meanwhile) drops it. `written` is n of the newest whole entry, stored after it.
inline constexpr std::uint32_t kHistoryEntries = 32;
// HistoryEntry::flags bits 0..1 hold the row's ringprobe::Health after the result.
inline constexpr std::uint8_t kHistoryHealthMask = 3;
inline constexpr std::uint8_t kHistoryReused = 4;  // the probe reused a kept-alive connection
inline constexpr std::uint8_t kHistoryFlagsKnown = kHistoryHealthMask | kHistoryReused;

struct HistoryEntry {
    std::uint64_t seq;          //  0  2n: result n is whole; odd: being written; 0: never
    std::uint64_t unix_ns;      //  8  when the probe started
    std::uint32_t duration_us;  // 16  start to verdict
    std::uint16_t http_status;  // 20  0 when none
    std::uint8_t reason;        // 22  ringprobe::Reason
    std::uint8_t flags;         // 23  health | kHistoryReused
};
static_assert(sizeof(HistoryEntry) == 24);
static_assert(offsetof(HistoryEntry, unix_ns) == 8);
static_assert(offsetof(HistoryEntry, duration_us) == 16);
static_assert(offsetof(HistoryEntry, http_status) == 20);
static_assert(offsetof(HistoryEntry, reason) == 22);
static_assert(offsetof(HistoryEntry, flags) == 23);
static_assert(reason_count <= 256, "HistoryEntry::reason is one byte");
static_assert(static_cast<std::uint8_t>(Health::Unhealthy) <= kHistoryHealthMask);

struct HistoryRecord {
    std::uint64_t written;                  //   0  results so far (n of the newest)
    std::uint64_t reserved[7];              //   8 .. 64, zero
    HistoryEntry entries[kHistoryEntries];  //  64 .. 832
};
static_assert(sizeof(HistoryRecord) == 832);
static_assert(sizeof(HistoryRecord) % 64 == 0);
static_assert(offsetof(HistoryRecord, entries) == 64);

// ---- Layout 5: the engine's event log ----------------------------------------------------------

// The last health transitions of the whole engine, a ring of EventLog::capacity entries (the
// Events section). Any worker appends: it takes a ticket t with one atomic fetch-add on `next`
// (transitions are rare, so the shared line costs nothing a probe would notice), then stores
// entry t at events[t % capacity] with seq 2t + 1 while it writes and 2t + 2 once whole. A reader
// looks only at tickets next - capacity .. next - 1 and keeps an entry only if its seq reads
// 2t + 2 before and after the payload: an entry still being written, or a writer that a newer
// ticket lapped, is left out. Tickets below next - capacity were overwritten: that many
// transitions are gone.
struct EventLogRecord {
    std::uint64_t next;         //  0  tickets taken (transitions logged since the segment began)
    std::uint64_t capacity;     //  8  == the Events count; written once before the rename
    std::uint64_t reserved[6];  // 16 .. 64, zero
};
static_assert(sizeof(EventLogRecord) == 64);

struct EventRecord {
    std::uint64_t seq;          //  0  2t + 2: ticket t is whole; odd: being written; 0: never
    std::uint64_t unix_ns;      //  8  when the result that changed the health came
    std::uint32_t target;       // 16  index into Targets (its rows give pool, setting, server)
    std::uint16_t reason;       // 20  ringprobe::Reason of that result
    std::uint16_t http_status;  // 22  0 when none
    std::int32_t sys_errno;     // 24  errno behind a connect failure, 0 otherwise
    std::uint8_t from;          // 28  ringprobe::Health before
    std::uint8_t to;            // 29  ringprobe::Health after
    std::uint16_t reserved;     // 30  zero
};
static_assert(sizeof(EventRecord) == 32);
static_assert(offsetof(EventRecord, unix_ns) == 8);
static_assert(offsetof(EventRecord, target) == 16);
static_assert(offsetof(EventRecord, reason) == 20);
static_assert(offsetof(EventRecord, http_status) == 22);
static_assert(offsetof(EventRecord, sys_errno) == 24);
static_assert(offsetof(EventRecord, from) == 28);
static_assert(offsetof(EventRecord, to) == 29);

// Every record is fixed-width, pointer-free and copyable byte for byte; every word that changes
// after the rename is a naturally aligned 64-bit word that the hardware accesses lock-free.
static_assert(std::is_trivially_copyable_v<SegmentHeader>);
static_assert(std::is_trivially_copyable_v<PoolRecord>);
static_assert(std::is_trivially_copyable_v<SettingRecord>);
static_assert(std::is_trivially_copyable_v<ServerRecord>);
static_assert(std::is_trivially_copyable_v<RowRecord>);
static_assert(std::is_trivially_copyable_v<TargetRecord>);
static_assert(std::is_trivially_copyable_v<TargetStateRecord>);
static_assert(std::is_trivially_copyable_v<WorkerStatsRecord>);
static_assert(std::is_trivially_copyable_v<NameStateRecord>);
static_assert(std::is_trivially_copyable_v<AddressStateRecord>);
static_assert(std::is_trivially_copyable_v<TlsFactsRecord>);
static_assert(std::is_trivially_copyable_v<ResolverStatsRecord>);
static_assert(std::is_trivially_copyable_v<HistoryRecord>);
static_assert(std::is_trivially_copyable_v<EventLogRecord>);
static_assert(std::is_trivially_copyable_v<EventRecord>);
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint64_t>::required_alignment == 8);
static_assert(alignof(SegmentHeader) == 8);
static_assert(alignof(TargetStateRecord) == 8);

}  // namespace ringprobe::report_abi
