// The reader side of the report (see reader.hpp; layout in docs/report-format.md).
#include "report/reader.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/clock.hpp"
#include "report/facts.hpp"
#include "report/names.hpp"
#include "report/words.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

Unexpected<ReadError> corrupt(std::string what) {
    return unexpected(
        ReadError{ReadErrorKind::Unreadable,
                  "the report is corrupt: " + std::move(what) +
                      ". Restart the engine to rebuild it; if it persists, report a bug."});
}

std::string num(std::uint64_t v) {
    return std::to_string(v);
}

struct SectionSpec {
    abi::Section section;
    const char* name;
    std::uint32_t record_size;
    std::uint32_t max_count;
};
constexpr std::array<SectionSpec, abi::kSectionCount> kSpecs{{
    {abi::Section::Pools, "pools", sizeof(abi::PoolRecord), abi::kMaxPools},
    {abi::Section::Settings, "settings", sizeof(abi::SettingRecord), abi::kMaxSettings},
    {abi::Section::Servers, "servers", sizeof(abi::ServerRecord), abi::kMaxServers},
    {abi::Section::Rows, "rows", sizeof(abi::RowRecord), abi::kMaxRows},
    {abi::Section::Targets, "targets", sizeof(abi::TargetRecord), abi::kMaxTargets},
    {abi::Section::States, "states", sizeof(abi::TargetStateRecord), abi::kMaxTargets},
    {abi::Section::Workers, "workers", sizeof(abi::WorkerStatsRecord), abi::kMaxWorkers},
    {abi::Section::Strings, "strings", 1, abi::kMaxStringBytes},
    {abi::Section::Names, "names", sizeof(abi::NameStateRecord), abi::kMaxTargets},
    {abi::Section::Addresses, "addresses", sizeof(abi::AddressStateRecord),
     abi::kMaxTargets* abi::kAddressesPerName},
    {abi::Section::TlsFacts, "tls facts", sizeof(abi::TlsFactsRecord), abi::kMaxTargets},
    {abi::Section::Resolver, "resolver", sizeof(abi::ResolverStatsRecord), 1},
    {abi::Section::History, "history", sizeof(abi::HistoryRecord), abi::kMaxTargets},
    {abi::Section::EventLog, "event log", sizeof(abi::EventLogRecord), 1},
    {abi::Section::Events, "events", sizeof(abi::EventRecord), abi::kMaxEvents},
}};

const abi::SectionRef& section(const abi::SegmentHeader& h, abi::Section s) {
    return abi::section_ref(h, s);
}

Result<void, ReadError> check_header(const std::byte* data, std::size_t size,
                                     abi::SegmentHeader& h) {
    if (size < sizeof(abi::SegmentHeader)) {
        return corrupt("it is truncated (" + num(size) + " bytes, a header alone needs " +
                       num(sizeof(abi::SegmentHeader)) + ")");
    }
    // Only the part before the heartbeat and the second section table are immutable; the
    // dynamic words between them are read atomically.
    std::memcpy(&h, data, offsetof(abi::SegmentHeader, heartbeat_unix_ns));
    std::memcpy(&h.sections_more, data + offsetof(abi::SegmentHeader, sections_more),
                sizeof h.sections_more);
    std::memcpy(&h.shard, data + offsetof(abi::SegmentHeader, shard), sizeof h.shard);
    if (std::memcmp(h.magic, abi::kMagic, sizeof h.magic) != 0) {
        return unexpected(ReadError{ReadErrorKind::Unreadable,
                                    "this is not a ringprobe report (wrong magic); check --name"});
    }
    if (h.layout_version != abi::kLayoutVersion) {
        return unexpected(
            ReadError{ReadErrorKind::Unreadable,
                      "the report has layout version " + num(h.layout_version) +
                          " but this ringprobe-report reads version " + num(abi::kLayoutVersion) +
                          "; use the ringprobe-report that came with the running engine"});
    }
    if (h.header_size != sizeof(abi::SegmentHeader)) {
        return corrupt("header size " + num(h.header_size) + " is not " +
                       num(sizeof(abi::SegmentHeader)));
    }
    if (h.total_size != size) {
        return corrupt("it is truncated or oversized (header says " + num(h.total_size) +
                       " bytes, the file has " + num(size) + ")");
    }
    if (h.shard.count == 0 || h.shard.index >= h.shard.count || h.shard.replicas == 0 ||
        h.shard.replicas > h.shard.count) {
        return corrupt("its shard record says shard " + num(h.shard.index) + " of " +
                       num(h.shard.count) + " with " + num(h.shard.replicas) + " replicas");
    }
    return {};
}

Result<void, ReadError> check_sections(const abi::SegmentHeader& h, std::size_t size) {
    std::array<std::pair<std::uint64_t, std::uint64_t>, abi::kSectionCount> spans{};
    for (std::size_t i = 0; i < kSpecs.size(); ++i) {
        const SectionSpec& spec = kSpecs[i];
        const abi::SectionRef& ref = section(h, spec.section);
        const std::string where = std::string("section ") + spec.name;
        if (ref.record_size != spec.record_size) {
            return corrupt(where + " has records of " + num(ref.record_size) + " bytes, not " +
                           num(spec.record_size));
        }
        if (ref.count > spec.max_count) {
            return corrupt(where + " count " + num(ref.count) + " is over its bound " +
                           num(spec.max_count));
        }
        if (ref.offset % abi::kSectionAlign != 0 || ref.offset < sizeof(abi::SegmentHeader)) {
            return corrupt(where + " offset " + num(ref.offset) + " is misplaced");
        }
        // count * record_size < 2^62 given both bounds, so the sum cannot wrap below size.
        const std::uint64_t bytes = std::uint64_t{ref.count} * ref.record_size;
        if (ref.offset > size || bytes > size - ref.offset) {
            return corrupt(where + " (offset " + num(ref.offset) + ", " + num(bytes) +
                           " bytes) runs past the end of the segment (" + num(size) + ")");
        }
        spans[i] = {ref.offset, ref.offset + bytes};
    }
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i) {
        if (spans[i].first < spans[i - 1].second) {
            return corrupt("two sections overlap at offset " + num(spans[i].first));
        }
    }
    if (section(h, abi::Section::States).count != section(h, abi::Section::Targets).count) {
        return corrupt("the state count differs from the target count");
    }
    if (section(h, abi::Section::Workers).count != h.worker_slots) {
        return corrupt("the worker section does not match worker_slots");
    }
    if (section(h, abi::Section::Strings).count == 0) {
        return corrupt("the string table is empty");
    }
    if (std::uint64_t{section(h, abi::Section::Names).count} * abi::kAddressesPerName !=
        section(h, abi::Section::Addresses).count) {
        return corrupt("the address section is not 16 records per name");
    }
    if (section(h, abi::Section::Resolver).count != 1) {
        return corrupt("the resolver section does not hold one record");
    }
    if (section(h, abi::Section::History).count != section(h, abi::Section::Targets).count) {
        return corrupt("the history count differs from the target count");
    }
    if (section(h, abi::Section::EventLog).count != 1 ||
        section(h, abi::Section::Events).count == 0) {
        return corrupt("the event log has no header record or no entries");
    }
    for (std::size_t i = abi::kSectionCount - abi::kSectionsFirst; i < abi::kSectionsMore; ++i) {
        const abi::SectionRef& unused = h.sections_more[i];
        if (unused.offset != 0 || unused.count != 0 || unused.record_size != 0) {
            return corrupt("an unused entry of the second section table is not zero");
        }
    }
    return {};
}

template <typename T>
void copy_section(const std::byte* data, const abi::SegmentHeader& h, abi::Section s,
                  std::vector<T>& out) {
    const abi::SectionRef& ref = section(h, s);
    out.resize(ref.count);
    if (ref.count > 0) {
        std::memcpy(out.data(), data + ref.offset, std::size_t{ref.count} * sizeof(T));
    }
}

class StringCheck {
public:
    explicit StringCheck(const std::string& table) : t_(table) {}
    // Never trusts the length: bounded, inside the table, NUL right after, none inside.
    bool ok(abi::StrRef r) const {
        if (r.length > abi::kMaxStringLength || r.offset >= t_.size()) {
            return false;
        }
        const std::uint64_t end = std::uint64_t{r.offset} + r.length;
        if (end >= t_.size() || t_[end] != '\0') {
            return false;
        }
        return std::memchr(t_.data() + r.offset, '\0', r.length) == nullptr;
    }

private:
    const std::string& t_;
};

Result<void, ReadError> check_records(const StaticInfo& s) {
    StringCheck str(s.strings);
    if (s.strings.front() != '\0') {
        return corrupt("the string table does not start with a NUL");
    }
    if (!str.ok(s.header.gateway_name)) {
        return corrupt("the gateway name is an unterminated or out-of-range string");
    }
    for (std::size_t i = 0; i < s.pools.size(); ++i) {
        const abi::PoolRecord& p = s.pools[i];
        if (!str.ok(p.name) || !str.ok(p.id)) {
            return corrupt("pool " + num(i) + " has an unterminated or out-of-range string");
        }
        if (std::uint64_t{p.first_server} + p.server_count > s.servers.size()) {
            return corrupt("pool " + num(i) + " names servers that do not exist");
        }
        if ((p.flags & ~abi::kPoolFlagsKnown) != 0 ||
            ((p.flags & abi::kPoolEmptyRouted) != 0 && p.server_count != 0)) {
            return corrupt("pool " + num(i) +
                           " has unknown flags, or is marked empty with servers");
        }
    }
    for (std::size_t i = 0; i < s.settings.size(); ++i) {
        const abi::SettingRecord& st = s.settings[i];
        if (!str.ok(st.name) || !str.ok(st.id) || !str.ok(st.probe_name)) {
            return corrupt("setting " + num(i) + " has an unterminated or out-of-range string");
        }
        if (st.protocol > 3 || st.default_probe > 1) {
            return corrupt("setting " + num(i) + " has an unknown protocol or flag");
        }
    }
    for (std::size_t i = 0; i < s.servers.size(); ++i) {
        const abi::ServerRecord& sv = s.servers[i];
        if (!str.ok(sv.address) || !str.ok(sv.nic) || !str.ok(sv.ip_configuration)) {
            return corrupt("server " + num(i) + " has an unterminated or out-of-range string");
        }
        if (sv.is_fqdn > 1 || sv.address_known > 1) {
            return corrupt("server " + num(i) + " has an unknown flag");
        }
        if (sv.pool_index >= s.pools.size()) {
            return corrupt("server " + num(i) + " belongs to a pool that does not exist");
        }
        const abi::PoolRecord& p = s.pools[sv.pool_index];
        if (i < p.first_server || i >= std::uint64_t{p.first_server} + p.server_count) {
            return corrupt("server " + num(i) + " lies outside its pool's range");
        }
    }
    for (std::size_t i = 0; i < s.rows.size(); ++i) {
        const abi::RowRecord& r = s.rows[i];
        if (r.pool_index >= s.pools.size() || r.setting_index >= s.settings.size() ||
            r.server_index >= s.servers.size() || r.target_index >= s.targets.size()) {
            return corrupt("row " + num(i) + " refers to a record that does not exist");
        }
        if (s.servers[r.server_index].pool_index != r.pool_index) {
            return corrupt("row " + num(i) + " pairs a server with another pool");
        }
    }
    std::uint32_t names = 0;
    std::uint32_t tls_seen = 0;
    for (std::size_t i = 0; i < s.targets.size(); ++i) {
        const abi::TargetRecord& t = s.targets[i];
        if (!str.ok(t.address) || !str.ok(t.host) || !str.ok(t.path) || !str.ok(t.sni) ||
            !str.ok(t.match_status) || !str.ok(t.match_body)) {
            return corrupt("target " + num(i) + " has an unterminated or out-of-range string");
        }
        if (t.protocol > 3) {
            return corrupt("target " + num(i) + " has an unknown protocol");
        }
        if (t.proxy_protocol > abi::kProxyV2) {
            return corrupt("target " + num(i) + " has an unknown PROXY protocol version");
        }
        // Slots are handed out in target order, so target i's slot is the count before it.
        const bool tls = t.protocol == 1 || t.protocol == 3;  // Protocol::Https, Protocol::Tls
        if (t.name_slot != (t.is_fqdn != 0 ? names : abi::kNoSlot) ||
            t.tls_slot != (tls ? tls_seen : abi::kNoSlot)) {
            return corrupt("target " + num(i) + " has a DNS or TLS slot out of order");
        }
        names += t.is_fqdn != 0 ? 1 : 0;
        tls_seen += tls ? 1 : 0;
    }
    if (names != s.names || tls_seen != s.tls) {
        return corrupt("the DNS or TLS sections do not match the targets (" + num(names) +
                       " names, " + num(tls_seen) + " TLS targets)");
    }
    return {};
}

// A copied payload is only shown if its enumerations are in range.
bool payload_valid(const abi::TargetStatePayload& p) {
    return p.health <= static_cast<std::uint8_t>(Health::OtherShard) && p.reason < reason_count &&
           p.detail_len <= abi::kDetailBytes;
}

bool payload_valid(const abi::NameStatePayload& p) {
    return p.standing <= 4 && p.last_outcome <= 8 && p.address_count <= abi::kAddressesPerName &&
           p.truncated <= 1;
}

bool payload_valid(const abi::AddressStatePayload& p) {
    return (p.family == 0 || p.family == 4 || p.family == 6) &&
           p.health <= static_cast<std::uint8_t>(Health::Unhealthy) && p.reason < reason_count;
}

template <std::size_t N>
void terminate(char (&text)[N]) {
    text[N - 1] = '\0';
}

// Text fields are shown, not trusted: each is cut at its last byte so a hostile writer cannot
// make a reader run past one.
bool payload_valid(abi::TlsFactsPayload& p) {
    if (p.chain_count > abi::kChainRecords || p.sni_sent > 1 || p.handshake_ok > 1) {
        return false;
    }
    terminate(p.protocol);
    terminate(p.cipher);
    terminate(p.anchor);
    for (abi::CertRecord& c : p.chain) {
        terminate(c.subject);
        terminate(c.issuer);
        terminate(c.common_name);
        terminate(c.sans);
    }
    return true;
}

template <typename Record, typename Payload>
void copy_records(const std::byte* data, const abi::SegmentHeader& h, abi::Section s,
                  std::vector<Payload>& out, std::uint32_t attempts, std::uint32_t& unreadable) {
    const abi::SectionRef& ref = section(h, s);
    const auto* recs = reinterpret_cast<const Record*>(data + ref.offset);
    out.resize(ref.count);
    for (std::size_t i = 0; i < ref.count; ++i) {
        if (!seqlock_load(&recs[i].seq, &recs[i].payload, out[i], attempts) ||
            !payload_valid(out[i])) {
            out[i] = Payload{};
            ++unreadable;
        }
    }
}

}  // namespace

std::string_view engine_state_name(EngineState s) {
    switch (s) {
        case EngineState::Live: return "live";
        case EngineState::Stopped: return "stopped";
        case EngineState::Stale: return "stale";
        case EngineState::Gone: return "gone";
    }
    return "gone";
}

bool pid_alive(std::int32_t pid) {
    if (pid <= 0) {
        return false;
    }
    return ::kill(pid, 0) == 0 || errno != ESRCH;
}

Result<StaticInfo, ReadError> validate_segment(const std::byte* data, std::size_t size) {
    StaticInfo s;
    if (auto ok = check_header(data, size, s.header); !ok) {
        return unexpected(ok.error());
    }
    if (auto ok = check_sections(s.header, size); !ok) {
        return unexpected(ok.error());
    }
    const abi::SectionRef& sref = section(s.header, abi::Section::Strings);
    s.strings.assign(reinterpret_cast<const char*>(data + sref.offset), sref.count);
    copy_section(data, s.header, abi::Section::Pools, s.pools);
    copy_section(data, s.header, abi::Section::Settings, s.settings);
    copy_section(data, s.header, abi::Section::Servers, s.servers);
    copy_section(data, s.header, abi::Section::Rows, s.rows);
    copy_section(data, s.header, abi::Section::Targets, s.targets);
    s.names = section(s.header, abi::Section::Names).count;
    s.tls = section(s.header, abi::Section::TlsFacts).count;
    if (auto ok = check_records(s); !ok) {
        return unexpected(ok.error());
    }
    const auto* log = reinterpret_cast<const abi::EventLogRecord*>(
        data + section(s.header, abi::Section::EventLog).offset);
    if (load_acquire(&log->capacity) != section(s.header, abi::Section::Events).count) {
        return corrupt("the event log's capacity differs from its entry count");
    }
    return s;
}

bool copy_state(const abi::TargetStateRecord& rec, abi::TargetStatePayload& out,
                std::uint32_t max_attempts) {
    const auto* words = reinterpret_cast<const std::uint64_t*>(&rec.payload);
    std::uint64_t w[abi::kStatePayloadWords];
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
        const std::uint64_t s1 = load_acquire(&rec.seq);
        if ((s1 & 1) != 0) {
            continue;
        }
        for (std::size_t i = 0; i < abi::kStateFixedWords; ++i) {
            w[i] = load_acquire(&words[i]);
        }
        // Bound the detail copy before trusting it: a torn word may hold anything.
        const std::size_t dlen = std::min<std::size_t>(w[0] >> 48, abi::kDetailBytes);
        const std::size_t dwords = (dlen + 7) / 8;
        for (std::size_t i = 0; i < dwords; ++i) {
            w[abi::kStateFixedWords + i] = load_acquire(&words[abi::kStateFixedWords + i]);
        }
        const std::uint64_t s2 = load_acquire(&rec.seq);
        if (s1 == s2) {
            const std::size_t used = abi::kStateFixedWords + dwords;
            std::fill(w + used, w + abi::kStatePayloadWords, 0);
            std::memcpy(&out, w, sizeof out);
            return true;
        }
    }
    return false;
}

bool copy_worker(const abi::WorkerStatsRecord& rec, abi::WorkerStatsPayload& out,
                 std::uint32_t max_attempts) {
    return seqlock_load(&rec.seq, &rec.payload, out, max_attempts);
}

namespace {

bool entry_valid(const abi::HistoryEntry& e) {
    return (e.flags & ~abi::kHistoryFlagsKnown) == 0 &&
           (e.flags & abi::kHistoryHealthMask) <= static_cast<std::uint8_t>(Health::Unhealthy) &&
           e.reason < reason_count;
}

enum class EntryCopy : std::uint8_t { Whole, Torn, Overwritten };

// Entry n (1-based) of a ring: whole only if its seq reads 2n before and after the payload.
EntryCopy copy_entry(const abi::HistoryEntry& e, std::uint64_t n, abi::HistoryEntry& out,
                     std::uint32_t max_attempts) {
    const auto* words = reinterpret_cast<const std::uint64_t*>(&e);
    std::uint64_t w[3];
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
        w[0] = load_acquire(&words[0]);
        if (w[0] > 2 * n) {  // a newer result's, whole or being written (or a corrupt seq)
            return EntryCopy::Overwritten;
        }
        if (w[0] != 2 * n) {
            continue;
        }
        w[1] = load_acquire(&words[1]);
        w[2] = load_acquire(&words[2]);
        if (load_acquire(&words[0]) == w[0]) {
            std::memcpy(&out, w, sizeof out);
            return EntryCopy::Whole;
        }
    }
    return EntryCopy::Torn;
}

}  // namespace

std::uint32_t copy_history(const abi::HistoryRecord& rec, abi::HistoryEntry* out,
                           std::uint32_t max_attempts) {
    static_assert(sizeof(abi::HistoryEntry) == 3 * 8);
    const std::uint64_t written = load_acquire(&rec.written);
    // A corrupt count is bounded by the ring: at most kHistoryEntries entries are looked at.
    const std::uint64_t look = std::min<std::uint64_t>(written, abi::kHistoryEntries);
    std::uint32_t count = 0;
    for (std::uint64_t k = 0; k < look; ++k) {
        const std::uint64_t n = written - k;
        const abi::HistoryEntry& e = rec.entries[(n - 1) % abi::kHistoryEntries];
        const EntryCopy c = copy_entry(e, n, out[count], max_attempts);
        if (c == EntryCopy::Overwritten) {
            break;
        }
        if (c == EntryCopy::Whole && entry_valid(out[count])) {
            ++count;
        }
    }
    std::fill(out + count, out + abi::kHistoryEntries, abi::HistoryEntry{});
    return count;
}

namespace {

bool event_valid(const abi::EventRecord& e, std::uint32_t targets) {
    constexpr auto unhealthy = static_cast<std::uint8_t>(Health::Unhealthy);
    return e.target < targets && e.reason < reason_count && e.from <= unhealthy &&
           e.to <= unhealthy && e.reserved == 0;
}

// Ticket t of the log: whole only if its seq reads 2t + 2 before and after the payload.
bool copy_event(const abi::EventRecord& e, std::uint64_t t, abi::EventRecord& out,
                std::uint32_t max_attempts) {
    const auto* words = reinterpret_cast<const std::uint64_t*>(&e);
    std::uint64_t w[4];
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
        w[0] = load_acquire(&words[0]);
        if (w[0] != 2 * t + 2) {
            if (w[0] > 2 * t + 2) {
                return false;  // a newer ticket took the entry
            }
            continue;
        }
        for (std::size_t i = 1; i < 4; ++i) {
            w[i] = load_acquire(&words[i]);
        }
        if (load_acquire(&words[0]) == w[0]) {
            std::memcpy(&out, w, sizeof out);
            return true;
        }
    }
    return false;
}

}  // namespace

EventLog read_events(const abi::EventLogRecord& log, const abi::EventRecord* events,
                     std::uint32_t capacity, std::uint32_t targets, std::uint32_t max_attempts) {
    static_assert(sizeof(abi::EventRecord) == 4 * 8);
    EventLog out;
    if (capacity == 0) {
        return out;
    }
    const std::uint64_t next = load_acquire(&log.next);
    out.logged = next;
    out.overwritten = next > capacity ? next - capacity : 0;
    const std::uint64_t first = out.overwritten;
    out.events.reserve(static_cast<std::size_t>(next - first));
    for (std::uint64_t t = first; t < next; ++t) {
        abi::EventRecord e{};
        if (copy_event(events[t % capacity], t, e, max_attempts) && event_valid(e, targets)) {
            out.events.push_back(e);
        }
    }
    // Tickets are taken in about time order; workers stamp their own clocks' readings, so the
    // order by time is made here.
    std::stable_sort(
        out.events.begin(), out.events.end(),
        [](const abi::EventRecord& a, const abi::EventRecord& b) { return a.unix_ns < b.unix_ns; });
    return out;
}

namespace {
// A capacity record the engine wrote: known flags, a worker count the header allows, and a
// slowdown of at least 1 (the figures a reader prints as "N x" and "raise to N").
bool capacity_valid(const abi::CapacityPayload& c) {
    if ((c.flags & ~abi::kCapacityFlagsAll) != 0) {
        return false;
    }
    if ((c.flags & abi::kCapacityChecked) == 0) {
        return c.flags == 0;
    }
    return c.workers >= 1 && c.workers <= abi::kMaxWorkers && c.slowdown_permille >= 1000;
}

// The header's last reload, checked like a record: a known result, an error length within its
// area and no bytes past it; otherwise (or torn on every attempt) none.
abi::ReloadPayload valid_reload(const abi::SegmentHeader* live, std::uint32_t max_attempts) {
    abi::ReloadPayload r{};
    if (!seqlock_load(&live->reload_seq, &live->last_reload, r,
                      std::max<std::uint32_t>(max_attempts, 1))) {
        return {};
    }
    const std::uint64_t result = r.result & 0xFF;
    const std::size_t len = (r.result >> 8) & 0xFF;
    if (result > abi::kReloadRefused || (r.result >> 16) != 0 || len > abi::kReloadErrorBytes ||
        (result == abi::kReloadNone && r.unix_ns != 0)) {
        return {};
    }
    for (std::size_t i = len; i < abi::kReloadErrorBytes; ++i) {
        if (r.error[i] != 0) {
            return {};
        }
    }
    return r;
}

}  // namespace

// Rounds of re-reading the rows a first pass found torn (take_snapshot).
constexpr int kStateRetryRounds = 8;

Snapshot take_snapshot(const std::byte* data, std::shared_ptr<const StaticInfo> info,
                       const SnapshotOptions& options) {
    Snapshot snap;
    const abi::SegmentHeader& h = info->header;
    const auto* live = reinterpret_cast<const abi::SegmentHeader*>(data);
    snap.now_unix_ns = options.now_unix_ns != 0 ? options.now_unix_ns : realtime_ns();
    snap.heartbeat_unix_ns = load_acquire(&live->heartbeat_unix_ns);
    snap.flags = load_acquire(&live->flags);
    snap.stopped_unix_ns = load_acquire(&live->stopped_unix_ns);
    snap.last_reload = valid_reload(live, options.max_attempts);

    const std::size_t n = info->targets.size();
    const auto* states = reinterpret_cast<const abi::TargetStateRecord*>(
        data + section(h, abi::Section::States).offset);
    snap.states.resize(n);
    snap.readable.resize(n);
    const std::uint32_t attempts = std::max<std::uint32_t>(options.max_attempts, 1);
    for (std::size_t i = 0; i < n; ++i) {
        bool ok = copy_state(states[i], snap.states[i], attempts) && payload_valid(snap.states[i]);
        snap.readable[i] = ok ? 1 : 0;
        snap.unreadable += ok ? 0 : 1;
    }
    // A record whose writer was preempted mid-publish stays odd for the whole of one copy's
    // attempts, which spin for microseconds. Such rows are read again after giving the CPU
    // away (a few rounds, under a millisecond in all), so a busy machine's scheduling does not
    // make a row "unreadable this time".
    for (int round = 0; round < kStateRetryRounds && snap.unreadable > 0; ++round) {
        if (round == 0) {
            ::sched_yield();
        } else {
            const timespec pause{0, 100'000};
            ::nanosleep(&pause, nullptr);
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (snap.readable[i] == 0 && copy_state(states[i], snap.states[i], attempts) &&
                payload_valid(snap.states[i])) {
                snap.readable[i] = 1;
                snap.unreadable -= 1;
            }
        }
    }
    const auto* workers = reinterpret_cast<const abi::WorkerStatsRecord*>(
        data + section(h, abi::Section::Workers).offset);
    snap.workers.resize(h.worker_slots);
    for (std::size_t i = 0; i < h.worker_slots; ++i) {
        if (!copy_worker(workers[i], snap.workers[i], attempts)) {
            snap.workers[i] = abi::WorkerStatsPayload{};
        }
    }
    std::uint32_t extra_unreadable = 0;  // not per target: counted apart from snap.unreadable
    if (options.dns) {
        copy_records<abi::NameStateRecord>(data, h, abi::Section::Names, snap.names, attempts,
                                           extra_unreadable);
        copy_records<abi::AddressStateRecord>(data, h, abi::Section::Addresses, snap.addresses,
                                              attempts, extra_unreadable);
    }
    if (options.tls_facts) {
        copy_records<abi::TlsFactsRecord>(data, h, abi::Section::TlsFacts, snap.tls, attempts,
                                          extra_unreadable);
    }
    if (options.history) {
        const auto* rings = reinterpret_cast<const abi::HistoryRecord*>(
            data + section(h, abi::Section::History).offset);
        snap.history.resize(n * abi::kHistoryEntries);
        snap.history_count.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            snap.history_count[i] = static_cast<std::uint8_t>(
                copy_history(rings[i], snap.history.data() + i * abi::kHistoryEntries, attempts));
        }
    }
    if (options.events) {
        const abi::SectionRef& ev = section(h, abi::Section::Events);
        snap.events = read_events(*reinterpret_cast<const abi::EventLogRecord*>(
                                      data + section(h, abi::Section::EventLog).offset),
                                  reinterpret_cast<const abi::EventRecord*>(data + ev.offset),
                                  ev.count, static_cast<std::uint32_t>(n), attempts);
    }
    const auto* resolver = reinterpret_cast<const abi::ResolverStatsRecord*>(
        data + section(h, abi::Section::Resolver).offset);
    if (!seqlock_load(&resolver->seq, &resolver->payload, snap.resolver, attempts)) {
        snap.resolver = abi::ResolverStatsPayload{};
    }
    if (!seqlock_load(&live->capacity_seq, &live->capacity, snap.capacity, attempts) ||
        !capacity_valid(snap.capacity)) {
        snap.capacity = abi::CapacityPayload{};
    }

    if ((snap.flags & abi::kFlagStopped) != 0) {
        snap.engine = EngineState::Stopped;
    } else if (options.alive != nullptr && !options.alive(h.engine_pid)) {
        snap.engine = EngineState::Gone;
    } else if (snap.report_age_ns() > abi::kHeartbeatStaleNs) {
        snap.engine = EngineState::Stale;
    } else {
        snap.engine = EngineState::Live;
    }
    snap.info = std::move(info);
    mark_min_servers(snap);
    return snap;
}

Result<Snapshot, ReadError> read_image(const std::byte* data, std::size_t size,
                                       const SnapshotOptions& options) {
    auto info = validate_segment(data, size);
    if (!info) {
        return unexpected(info.error());
    }
    return take_snapshot(data, std::make_shared<const StaticInfo>(std::move(*info)), options);
}

namespace {

std::string file_kind(mode_t mode) {
    if (S_ISFIFO(mode)) {
        return "a FIFO (named pipe)";
    }
    if (S_ISDIR(mode)) {
        return "a directory";
    }
    if (S_ISSOCK(mode)) {
        return "a socket";
    }
    if (S_ISCHR(mode) || S_ISBLK(mode)) {
        return "a device";
    }
    return "a special file";
}

}  // namespace

Result<Report, ReadError> Report::open(std::string_view name) {
    if (auto ok = check_segment_name(name); !ok) {
        return unexpected(ReadError{ReadErrorKind::NotFound, ok.error().message});
    }
    return open_path(segment_path(name));
}

Result<Report, ReadError> Report::open_path(const std::string& path) {
    // The engine only ever renames a regular file into place, but any local user may create
    // the name while no engine runs: O_NONBLOCK keeps a FIFO from blocking the open (and the
    // read), O_NOFOLLOW refuses a symbolic link, and fstat below refuses anything not regular.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP) {
            return unexpected(ReadError{ReadErrorKind::Unreadable,
                                        path +
                                            " is a symbolic link, not a report the engine "
                                            "wrote; remove it (rm " +
                                            path + ") and start the engine"});
        }
        if (e == ENOENT) {
            return unexpected(ReadError{
                ReadErrorKind::NotFound,
                "no report at " + path +
                    ": is the engine running? Start it with `ringprobe run CONFIG`, or pass the "
                    "gateway's name with --name"});
        }
        return unexpected(
            ReadError{ReadErrorKind::Unreadable,
                      "cannot open " + path + ": " + std::strerror(e) +
                          (e == EACCES ? " (run as the engine's user or group)" : "")});
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        return unexpected(
            ReadError{ReadErrorKind::Unreadable, "cannot stat " + path + ": " + std::strerror(e)});
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return unexpected(ReadError{ReadErrorKind::Unreadable,
                                    path + " is " + file_kind(st.st_mode) +
                                        ", not a report the engine wrote; remove it (rm " + path +
                                        ") and start the engine"});
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size < sizeof(abi::SegmentHeader)) {
        ::close(fd);
        return corrupt(path + " is truncated (" + num(size) + " bytes)");
    }
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) {
        int e = errno;
        return unexpected(
            ReadError{ReadErrorKind::Unreadable, "cannot map " + path + ": " + std::strerror(e)});
    }
    Report r;
    r.base_ = static_cast<const std::byte*>(p);
    r.size_ = size;
    r.dev_ = st.st_dev;
    r.ino_ = st.st_ino;
    r.path_ = path;
    auto info = validate_segment(r.base_, size);
    if (!info) {
        return unexpected(info.error());  // r's destructor unmaps
    }
    r.info_ = std::make_shared<const StaticInfo>(std::move(*info));
    return r;
}

Report::Report(Report&& o) noexcept
    : base_(o.base_),
      size_(o.size_),
      dev_(o.dev_),
      ino_(o.ino_),
      path_(std::move(o.path_)),
      info_(std::move(o.info_)) {
    o.base_ = nullptr;
    o.size_ = 0;
}

Report& Report::operator=(Report&& o) noexcept {
    if (this != &o) {
        release();
        base_ = o.base_;
        size_ = o.size_;
        dev_ = o.dev_;
        ino_ = o.ino_;
        path_ = std::move(o.path_);
        info_ = std::move(o.info_);
        o.base_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

Report::~Report() {
    release();
}

void Report::release() {
    if (base_ != nullptr) {
        ::munmap(const_cast<std::byte*>(base_), size_);
        base_ = nullptr;
    }
}

Snapshot Report::snapshot(const SnapshotOptions& options) const {
    RP_ASSERT(base_ != nullptr);
    return take_snapshot(base_, info_, options);
}

const abi::TargetStateRecord* Report::state_records() const {
    RP_ASSERT(base_ != nullptr);
    return reinterpret_cast<const abi::TargetStateRecord*>(
        base_ + section(info_->header, abi::Section::States).offset);
}

std::uint32_t Report::copy_history(std::uint32_t target, abi::HistoryEntry* out,
                                   std::uint32_t max_attempts) const {
    RP_ASSERT(base_ != nullptr);
    if (target >= info_->targets.size()) {
        return 0;
    }
    const auto* rings = reinterpret_cast<const abi::HistoryRecord*>(
        base_ + section(info_->header, abi::Section::History).offset);
    return ringprobe::report::copy_history(rings[target], out, max_attempts);
}

bool Report::superseded() const {
    RP_ASSERT(base_ != nullptr);
    const auto* h = reinterpret_cast<const abi::SegmentHeader*>(base_);
    if ((load_acquire(&h->flags) & abi::kFlagSuperseded) != 0) {
        return true;
    }
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
        return true;
    }
    return st.st_dev != dev_ || st.st_ino != ino_;
}

}  // namespace ringprobe::report
