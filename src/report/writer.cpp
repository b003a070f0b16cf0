// The writer side of the report (see writer.hpp; layout in docs/report-format.md).
#include "report/writer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "common/clock.hpp"
#include "common/text.hpp"
#include "report/image.hpp"
#include "report/words.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

std::string errno_text(int e) {
    return std::string(std::strerror(e));
}

// Reads the generation of the segment currently at `path` (0 if none or not ours) and keeps a
// writable mapping of its header so the caller can flag it superseded after the rename.
struct OldSegment {
    abi::SegmentHeader* header = nullptr;
    std::uint64_t generation = 0;

    explicit OldSegment(const std::string& path) {
        int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            return;
        }
        struct stat st {};
        if (::fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(abi::SegmentHeader))) {
            void* p = ::mmap(nullptr, sizeof(abi::SegmentHeader), PROT_READ | PROT_WRITE,
                             MAP_SHARED, fd, 0);
            if (p != MAP_FAILED) {
                auto* h = static_cast<abi::SegmentHeader*>(p);
                if (std::memcmp(h->magic, abi::kMagic, sizeof h->magic) == 0 &&
                    h->layout_version == abi::kLayoutVersion) {
                    header = h;
                    generation = h->generation;
                } else {
                    ::munmap(p, sizeof(abi::SegmentHeader));
                }
            }
        }
        ::close(fd);
    }
    void mark_superseded() {
        if (header != nullptr) {
            fetch_or_release(&header->flags, abi::kFlagSuperseded);
        }
    }
    ~OldSegment() {
        if (header != nullptr) {
            ::munmap(header, sizeof(abi::SegmentHeader));
        }
    }
    OldSegment(const OldSegment&) = delete;
    OldSegment& operator=(const OldSegment&) = delete;
};

// Touches every page of a new segment, so the writer's thread pays for the pages rather than
// the workers: the image writes only the static part, and the state records of a fresh
// ftruncate are pages not yet allocated. A reload's worker copies its targets' records into
// the new segment in one turn; with the faults left to it that turn took 163 ms for 50,000
// targets on a 2 vCPU VM (bench/reload_bench 100000), the start lateness of every probe due
// meanwhile. A read-then-write of one byte per page leaves the contents as they are.
void prefault(std::byte* base, std::size_t size) {
    constexpr std::size_t page = 4096;
    for (std::size_t off = 0; off < size; off += page) {
        auto* b = reinterpret_cast<volatile unsigned char*>(base + off);
        *b = *b;
    }
}

}  // namespace

Result<Writer> Writer::create(const Plan& plan, std::string_view name) {
    return create(plan, name, WriterOptions{});
}

Result<Writer> Writer::create(const Plan& plan, std::string_view name,
                              const WriterOptions& options) {
    auto w = prepare(plan, name, options);
    if (!w) {
        return w;
    }
    if (auto r = w->commit(); !r) {
        return unexpected(r.error());
    }
    return w;
}

Result<Writer> Writer::prepare(const Plan& plan, std::string_view name,
                               const WriterOptions& options) {
    if (auto ok = check_segment_name(name); !ok) {
        return unexpected(ok.error());
    }
    const std::string path = segment_path(name);
    OldSegment old(path);

    ImageOptions io;
    io.engine_pid = options.engine_pid != 0 ? options.engine_pid : static_cast<int>(::getpid());
    io.start_unix_ns = options.start_unix_ns != 0 ? options.start_unix_ns : realtime_ns();
    io.generation = old.generation + 1;
    io.worker_slots = options.worker_slots;
    auto img = compose_image(plan, io);
    if (!img) {
        return unexpected(img.error());
    }
    const std::size_t size = img->header.total_size;

    // A unique temporary name in the same directory, so the rename is atomic.
    static std::atomic<std::uint32_t> counter{0};
    const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                            std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        int e = errno;
        return error("report: cannot create " + tmp + ": " + errno_text(e) +
                     " (is /dev/shm mounted and writable?)");
    }
    auto fail = [&](const char* what) -> Result<Writer> {
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return error(std::string("report: ") + what + " " + tmp + ": " + errno_text(e));
    };
    if (::fchmod(fd, 0640) != 0) {  // the umask may have taken group read away
        return fail("cannot chmod");
    }
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
        return fail("cannot size (is /dev/shm full?)");
    }
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        return fail("cannot map");
    }
    write_image(*img, static_cast<std::byte*>(p));
    prefault(static_cast<std::byte*>(p), size);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ::munmap(p, size);
        return fail("cannot stat");
    }
    ::close(fd);

    Writer w;
    w.base_ = static_cast<std::byte*>(p);
    w.size_ = size;
    w.header_ = static_cast<abi::SegmentHeader*>(p);
    const auto& sec = img->header.sections;
    w.states_ = reinterpret_cast<abi::TargetStateRecord*>(
        w.base_ + sec[static_cast<std::size_t>(abi::Section::States)].offset);
    w.workers_ = reinterpret_cast<abi::WorkerStatsRecord*>(
        w.base_ + sec[static_cast<std::size_t>(abi::Section::Workers)].offset);
    auto at = [&](abi::Section s) { return w.base_ + abi::section_ref(img->header, s).offset; };
    w.targets_ = reinterpret_cast<const abi::TargetRecord*>(at(abi::Section::Targets));
    w.names_ = reinterpret_cast<abi::NameStateRecord*>(at(abi::Section::Names));
    w.addresses_ = reinterpret_cast<abi::AddressStateRecord*>(at(abi::Section::Addresses));
    w.tls_ = reinterpret_cast<abi::TlsFactsRecord*>(at(abi::Section::TlsFacts));
    w.resolver_ = reinterpret_cast<abi::ResolverStatsRecord*>(at(abi::Section::Resolver));
    w.history_ = reinterpret_cast<abi::HistoryRecord*>(at(abi::Section::History));
    w.event_log_ = reinterpret_cast<abi::EventLogRecord*>(at(abi::Section::EventLog));
    w.events_ = reinterpret_cast<abi::EventRecord*>(at(abi::Section::Events));
    w.event_capacity_ = img->event_capacity;
    w.name_count_ = img->names;
    w.tls_count_ = img->tls;
    w.target_count_ = static_cast<std::uint32_t>(plan.targets.size());
    w.worker_slots_ = options.worker_slots;
    w.dev_ = st.st_dev;
    w.ino_ = st.st_ino;
    w.path_ = path;
    w.tmp_path_ = tmp;
    return w;
}

Result<void> Writer::commit() {
    RP_ASSERT(!tmp_path_.empty());
    OldSegment old(path_);
    if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
        int e = errno;
        return error("report: cannot rename " + tmp_path_ + " into place: " + errno_text(e));
    }
    tmp_path_.clear();
    old.mark_superseded();
    return {};
}

// Copies a seqlocked record of another segment whose only writer is the calling thread (so it
// cannot change meanwhile) into this one, seqlocked the same way.
template <typename Record>
void copy_record(const Record& from, Record& to) {
    const auto* src = reinterpret_cast<const std::uint64_t*>(&from.payload);
    auto* dst = reinterpret_cast<std::uint64_t*>(&to.payload);
    const std::uint64_t seq = load_relaxed(&to.seq);
    store_relaxed(&to.seq, seq + 1);
    for (std::size_t i = 0; i < sizeof(from.payload) / 8; ++i) {
        store_release(&dst[i], load_relaxed(&src[i]));
    }
    store_release(&to.seq, seq + 2);
}

namespace {

// A history ring, entries before `written`, so a reader of the new segment never finds written
// naming an entry not yet there. The numbering goes on: the next result is written + 1.
void copy_history(const abi::HistoryRecord& from, abi::HistoryRecord& to) {
    for (std::uint32_t i = 0; i < abi::kHistoryEntries; ++i) {
        const auto* src = reinterpret_cast<const std::uint64_t*>(&from.entries[i]);
        auto* dst = reinterpret_cast<std::uint64_t*>(&to.entries[i]);
        const std::uint64_t seq = load_relaxed(&src[0]);
        store_relaxed(&dst[0], seq | 1);  // odd: being written, whatever it held
        store_release(&dst[1], load_relaxed(&src[1]));
        store_release(&dst[2], load_relaxed(&src[2]));
        store_release(&dst[0], seq);
    }
    store_release(&to.written, load_relaxed(&from.written));
}

}  // namespace

void Writer::copy_target_from(const Writer& old, std::uint32_t old_target,
                              std::uint32_t new_target) {
    RP_ASSERT(old_target < old.target_count_);
    RP_ASSERT(new_target < target_count_);
    copy_record(old.states_[old_target], states_[new_target]);
    copy_history(old.history_[old_target], history_[new_target]);
    const std::uint32_t old_name = old.name_slot(old_target);
    const std::uint32_t new_name = name_slot(new_target);
    if (old_name != abi::kNoSlot && new_name != abi::kNoSlot) {
        copy_record(old.names_[old_name], names_[new_name]);
        for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
            copy_record(old.addresses_[std::size_t{old_name} * abi::kAddressesPerName + k],
                        addresses_[std::size_t{new_name} * abi::kAddressesPerName + k]);
        }
    }
    const std::uint32_t old_tls = old.tls_slot(old_target);
    const std::uint32_t new_tls = tls_slot(new_target);
    if (old_tls != abi::kNoSlot && new_tls != abi::kNoSlot) {
        copy_record(old.tls_[old_tls], tls_[new_tls]);
    }
}

Writer::Writer(Writer&& o) noexcept {
    *this = std::move(o);
}

Writer& Writer::operator=(Writer&& o) noexcept {
    if (this != &o) {
        release();
        base_ = std::exchange(o.base_, nullptr);
        size_ = std::exchange(o.size_, 0);
        header_ = o.header_;
        states_ = o.states_;
        workers_ = o.workers_;
        targets_ = o.targets_;
        names_ = o.names_;
        addresses_ = o.addresses_;
        tls_ = o.tls_;
        resolver_ = o.resolver_;
        history_ = o.history_;
        event_log_ = o.event_log_;
        events_ = o.events_;
        event_capacity_ = o.event_capacity_;
        name_count_ = o.name_count_;
        tls_count_ = o.tls_count_;
        target_count_ = o.target_count_;
        worker_slots_ = o.worker_slots_;
        dev_ = o.dev_;
        ino_ = o.ino_;
        path_ = std::move(o.path_);
        tmp_path_ = std::move(o.tmp_path_);
    }
    return *this;
}

Writer::~Writer() {
    release();
}

void Writer::release() {
    if (!tmp_path_.empty()) {
        ::unlink(tmp_path_.c_str());  // prepared, never committed
        tmp_path_.clear();
    }
    if (base_ != nullptr) {
        ::munmap(base_, size_);
        base_ = nullptr;
    }
}

std::uint64_t Writer::generation() const {
    RP_ASSERT(header_ != nullptr);
    return header_->generation;
}

void Writer::publish(std::uint32_t target_index, const TargetUpdate& u) {
    RP_ASSERT_HOT(base_ != nullptr);
    RP_ASSERT_HOT(target_index < target_count_);
    abi::TargetStateRecord& rec = states_[target_index];
    const std::uint64_t seq = load_relaxed(&rec.seq);
    RP_ASSERT_HOT((seq & 1) == 0);  // odd here means two threads publish one target

    const std::size_t dlen = utf8_prefix_length(u.detail, abi::kDetailBytes);
    // The words below follow TargetStatePayload field by field (little-endian, see words.hpp).
    const std::uint64_t w[abi::kStateFixedWords] = {
        std::uint64_t{static_cast<std::uint8_t>(u.health)} | (std::uint64_t{u.flags} << 8) |
            (std::uint64_t{static_cast<std::uint16_t>(u.reason)} << 16) |
            (std::uint64_t{u.http_status} << 32) | (std::uint64_t{dlen} << 48),
        std::uint64_t{static_cast<std::uint32_t>(u.sys_errno)} |
            (std::uint64_t{u.latency_us} << 32),
        std::uint64_t{u.dns_us} | (std::uint64_t{u.connect_us} << 32),
        std::uint64_t{u.tls_us} | (std::uint64_t{u.first_byte_us} << 32),
        std::uint64_t{u.consecutive_ok} | (std::uint64_t{u.consecutive_fail} << 32),
        u.last_probe_unix_ns,
        u.last_change_unix_ns,
        u.next_probe_unix_ns,
        u.total_probes,
        u.total_ok,
        u.total_fail,
        u.total_prober_errors,
    };
    static_assert(abi::kStateFixedWords == 12);

    auto* words = reinterpret_cast<std::uint64_t*>(&rec.payload);
    store_relaxed(&rec.seq, seq + 1);
    for (std::size_t i = 0; i < abi::kStateFixedWords; ++i) {
        store_release(&words[i], w[i]);  // release: orders seq+1 before every payload word
    }
    std::uint64_t* detail_words = words + abi::kStateFixedWords;
    for (std::size_t off = 0; off < dlen; off += 8) {
        std::uint64_t v = 0;
        std::memcpy(&v, u.detail.data() + off, dlen - off < 8 ? dlen - off : 8);
        store_release(&detail_words[off / 8], v);
    }
    store_release(&rec.seq, seq + 2);
}

void Writer::record_history(std::uint32_t target_index, const HistoryResult& r) {
    RP_ASSERT_HOT(base_ != nullptr);
    RP_ASSERT_HOT(target_index < target_count_);
    abi::HistoryRecord& rec = history_[target_index];
    const std::uint64_t n = load_relaxed(&rec.written) + 1;
    abi::HistoryEntry& e = rec.entries[(n - 1) % abi::kHistoryEntries];
    auto* words = reinterpret_cast<std::uint64_t*>(&e);
    // The third word follows HistoryEntry field by field (little-endian, see words.hpp).
    const std::uint64_t w2 =
        std::uint64_t{r.duration_us} | (std::uint64_t{r.http_status} << 32) |
        (std::uint64_t{static_cast<std::uint8_t>(r.reason)} << 48) |
        (std::uint64_t{static_cast<std::uint8_t>(static_cast<std::uint8_t>(r.health) |
                                                 (r.reused ? abi::kHistoryReused : 0))}
         << 56);
    store_relaxed(&words[0], 2 * n - 1);
    store_release(&words[1], r.unix_ns);  // release: orders the odd seq before the payload
    store_release(&words[2], w2);
    store_release(&words[0], 2 * n);
    store_release(&rec.written, n);
}

void Writer::record_event(const EventUpdate& e) {
    RP_ASSERT_HOT(base_ != nullptr);
    RP_ASSERT_HOT(e.target < target_count_);
    RP_ASSERT_HOT(event_capacity_ > 0);
    const std::uint64_t t =
        std::atomic_ref<std::uint64_t>(event_log_->next).fetch_add(1, std::memory_order_relaxed);
    auto* words = reinterpret_cast<std::uint64_t*>(&events_[t % event_capacity_]);
    // Words 2 and 3 follow EventRecord field by field (little-endian, see words.hpp).
    const std::uint64_t w2 = std::uint64_t{e.target} |
                             (std::uint64_t{static_cast<std::uint16_t>(e.reason)} << 32) |
                             (std::uint64_t{e.http_status} << 48);
    const std::uint64_t w3 = std::uint64_t{static_cast<std::uint32_t>(e.sys_errno)} |
                             (std::uint64_t{static_cast<std::uint8_t>(e.from)} << 32) |
                             (std::uint64_t{static_cast<std::uint8_t>(e.to)} << 40);
    store_relaxed(&words[0], 2 * t + 1);
    store_release(&words[1], e.unix_ns);  // release: orders the odd seq before the payload
    store_release(&words[2], w2);
    store_release(&words[3], w3);
    store_release(&words[0], 2 * t + 2);
}

void Writer::copy_events_from(const Writer& old, const std::vector<std::uint32_t>& new_of_old,
                              std::uint32_t gone) {
    RP_ASSERT(old.event_capacity_ > 0);
    const std::uint64_t next = load_acquire(&old.event_log_->next);
    const std::uint64_t first = next > old.event_capacity_ ? next - old.event_capacity_ : 0;
    for (std::uint64_t t = first; t < next; ++t) {
        const auto* words =
            reinterpret_cast<const std::uint64_t*>(&old.events_[t % old.event_capacity_]);
        if (load_acquire(&words[0]) != 2 * t + 2) {
            continue;  // never finished: its writer was stopped or lapped
        }
        abi::EventRecord e{};
        for (std::size_t i = 0; i < 4; ++i) {
            const std::uint64_t v = load_acquire(&words[i]);
            std::memcpy(reinterpret_cast<std::byte*>(&e) + i * 8, &v, 8);
        }
        if (e.target >= new_of_old.size() || new_of_old[e.target] == gone) {
            continue;
        }
        record_event(EventUpdate{e.unix_ns, new_of_old[e.target], static_cast<Reason>(e.reason),
                                 e.http_status, e.sys_errno, static_cast<Health>(e.from),
                                 static_cast<Health>(e.to)});
    }
}

void Writer::publish_worker_stats(std::uint32_t worker_id, const WorkerStats& stats) {
    RP_ASSERT(base_ != nullptr);
    RP_ASSERT(worker_id < worker_slots_);
    abi::WorkerStatsRecord& rec = workers_[worker_id];
    seqlock_store(&rec.seq, &rec.payload, stats);
}

void Writer::publish_name(std::uint32_t slot, const NameUpdate& u) {
    RP_ASSERT_HOT(slot < name_count_);
    seqlock_store(&names_[slot].seq, &names_[slot].payload, u);
}

void Writer::publish_address(std::uint32_t slot, std::uint32_t k, const AddressUpdate& u) {
    RP_ASSERT_HOT(slot < name_count_ && k < abi::kAddressesPerName);
    abi::AddressStateRecord& rec = addresses_[std::size_t{slot} * abi::kAddressesPerName + k];
    seqlock_store(&rec.seq, &rec.payload, u);
}

void Writer::publish_tls_facts(std::uint32_t slot, const TlsFacts& facts) {
    RP_ASSERT_HOT(slot < tls_count_);
    seqlock_store(&tls_[slot].seq, &tls_[slot].payload, facts);
}

void Writer::publish_resolver_stats(const ResolverStats& stats) {
    RP_ASSERT(resolver_ != nullptr);
    seqlock_store(&resolver_->seq, &resolver_->payload, stats);
}

void Writer::publish_capacity(const abi::CapacityPayload& capacity) {
    RP_ASSERT(header_ != nullptr);
    RP_ASSERT((capacity.flags & ~abi::kCapacityFlagsAll) == 0);
    seqlock_store(&header_->capacity_seq, &header_->capacity, capacity);
}

std::uint32_t Writer::name_slot(std::uint32_t target_index) const {
    RP_ASSERT(target_index < target_count_);
    return targets_[target_index].name_slot;
}

std::uint32_t Writer::tls_slot(std::uint32_t target_index) const {
    RP_ASSERT(target_index < target_count_);
    return targets_[target_index].tls_slot;
}

void Writer::heartbeat(std::uint64_t now_unix_ns) {
    RP_ASSERT(header_ != nullptr);
    store_release(&header_->heartbeat_unix_ns, now_unix_ns);
}

void Writer::publish_reload(const abi::ReloadPayload& r) {
    RP_ASSERT(header_ != nullptr);
    RP_ASSERT(((r.result >> 8) & 0xFF) <= abi::kReloadErrorBytes);
    seqlock_store(&header_->reload_seq, &header_->last_reload, r);
}

void Writer::mark_stopped() {
    mark_stopped(realtime_ns());
}

void Writer::mark_stopped(std::uint64_t now_unix_ns) {
    RP_ASSERT(header_ != nullptr);
    store_release(&header_->stopped_unix_ns, now_unix_ns);
    fetch_or_release(&header_->flags, abi::kFlagStopped);
}

void Writer::unlink() {
    if (path_.empty()) {
        return;
    }
    // Only remove the name if it still names our segment: after a reload it names the new one.
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
        ::unlink(path_.c_str());
    }
}

}  // namespace ringprobe::report
