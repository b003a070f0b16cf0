#include "engine/worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <string>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "engine/user_data.hpp"

namespace ringprobe::engine {

// Per-target state. One probe at a time per target, so the in-flight state lives here too and
// no slot pool is needed: the memory is sized from the shard once.
constexpr std::uint16_t no_tls = 0xFFFF;
constexpr std::uint32_t no_name = WorkerDns::no_name;
namespace abi = report_abi;

struct Worker::Slot {
    TimerNode timer;                    // next start while Idle, deadline while in flight
    std::uint32_t plan_index = 0;       // index into Plan::targets and the report
    std::uint32_t generation = 0;       // bumped per attempt; packed into user_data
    int fd = -1;                        // a descriptor, or the ring's file table entry if direct
    bool direct = false;
    State state = State::Idle;
    std::uint8_t pending = 0;           // SQEs in flight that name this slot
    bool cancel_sent = false;
    bool send_in_flight = false;        // TLS: one ciphertext send at a time
    HealthState health;
    bool recv_in_flight = false;        // TLS: one receive at a time
    Reason verdict = Reason::Pending;   // decided result of the attempt in flight
    Reason last_reason = Reason::Pending;
    std::uint16_t http_status = 0;
    std::uint16_t tls = no_tls;         // index into tls_pool_ while a TLS probe is in flight
    bool request_written = false;       // Https: the request went into the TLS stream
    bool addr_ok = false;
    // FQDN targets: this slot probes one address of the name (record addr_k of the target's
    // 16 in the report). Inactive: no address (never scheduled); an address that left the
    // answer while its probe was in flight is inactive and finishes that probe first.
    bool active = true;
    std::uint8_t addr_k = 0;
    // Its receive found no provided buffer: it waits, with no receive in flight, until a turn
    // has buffers to spare (resume_receives), instead of asking again at once.
    bool recv_parked = false;
    std::uint32_t name = no_name;       // index into names_
    std::int32_t sys_errno = 0;
    std::uint32_t sent = 0;             // request bytes sent
    std::uint32_t total_ok = 0;
    std::uint32_t total_fail = 0;
    std::uint32_t total_prober = 0;
    std::uint32_t tls_full = 0;         // IP target: its handshakes (TLS facts record)
    std::uint32_t tls_resumed = 0;
    std::uint64_t total_probes = 0;
    std::uint64_t base_ns = 0;          // scheduled start (monotonic), without jitter
    std::uint64_t start_ns = 0;         // actual start of the attempt in flight
    std::uint64_t connected_ns = 0;
    std::uint64_t first_byte_ns = 0;
    std::uint64_t tls_done_ns = 0;
    std::uint64_t done_ns = 0;
    std::uint64_t next_ns = 0;          // next scheduled start (for the report)
    std::uint64_t last_probe_ns = 0;
    std::uint64_t last_change_ns = 0;
    std::uint64_t since_ns = 0;         // FQDN: when this address joined the answer
    const BodyMatcher* matcher = nullptr;
    sockaddr_in6 addr{};                // an IPv4 target's sockaddr_in fits in it
    socklen_t addr_len = 0;
};
static_assert(sizeof(sockaddr_in) <= sizeof(sockaddr_in6));

struct Worker::NameSlot {
    std::uint32_t plan_index = 0;
    std::uint32_t first_slot = 0;       // kAddressesPerName slots from here
    std::uint32_t report_slot = abi::kNoSlot;
    dns::NameState state{};             // as the resolver last said
    bool have_state = false;
    HealthState health;                 // the aggregate (the row)
    Reason reason = Reason::Pending;
    std::uint8_t flags = 0;
    std::uint64_t last_change_ns = 0;
    std::uint64_t total_probes = 0, total_ok = 0, total_fail = 0, total_prober = 0;
    std::uint32_t tls_full = 0, tls_resumed = 0;  // over all addresses: one TLS facts record
    // The row's detail is formatted only when what it says changes, not per probe.
    std::uint64_t detail_key = ~0ull;
    char detail[abi::kDetailBytes] = {};
    std::size_t detail_len = 0;
};

namespace {

constexpr unsigned buffer_group = 0;
constexpr std::size_t plaintext_bytes = 16 * 1024;

std::uint64_t xorshift(std::uint64_t& s) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

template <typename T>
void bump(std::atomic<T>& c, T by = 1) {  // single writer: no locked instruction needed
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

bool parse_address(const std::string& text, std::uint16_t port, sockaddr_in6& out,
                   socklen_t& len) {
    std::memset(&out, 0, sizeof(out));
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof(sockaddr_in);
        return true;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    std::string host = text;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

// The one exhaustive mapping from a failed connect's errno to a reason (STYLE.md: one switch
// per operation). Local exhaustion is the prober's problem, never the backend's.
Reason connect_reason(int err) {
    switch (err) {
        case ECONNREFUSED: return Reason::ConnectRefused;
        case ETIMEDOUT: return Reason::ConnectTimeout;
        case EHOSTUNREACH:
        case ENETUNREACH:
        case EHOSTDOWN:
        case ENETDOWN:
        case EACCES:
        case EPERM: return Reason::ConnectUnreachable;
        case ECONNRESET:
        case ECONNABORTED:
        case EPIPE: return Reason::ConnectionReset;
        case EADDRNOTAVAIL:
        case EADDRINUSE: return Reason::ProberNoPorts;
        case EMFILE:
        case ENFILE: return Reason::ProberNoFds;
        case ENOBUFS:
        case ENOMEM: return Reason::ProberNoBuffers;
        default: return Reason::ProberError;
    }
}

Reason socket_reason(int err) {
    switch (err) {
        case EMFILE:
        case ENFILE: return Reason::ProberNoFds;
        case ENOBUFS:
        case ENOMEM: return Reason::ProberNoBuffers;
        default: return Reason::ProberError;
    }
}

// Errors of an established exchange (send or recv).
Reason exchange_reason(int err) {
    switch (err) {
        case ECONNRESET:
        case EPIPE:
        case ECONNABORTED: return Reason::ConnectionReset;
        case ETIMEDOUT: return Reason::ResponseTimeout;
        case EHOSTUNREACH:
        case ENETUNREACH: return Reason::ConnectUnreachable;
        case ENOMEM: return Reason::ProberNoBuffers;
        default: return Reason::ProberError;
    }
}

// dns::verdict() wants a time no earlier than the state's own stamps; the loop's `now` was
// taken before the resolver thread may have written them.
dns::Verdict verdict_at(const dns::NameState& st, std::uint64_t now) {
    return dns::verdict(st, std::max({now, st.last_good_ns, st.last_lookup_ns}));
}

// The address a slot probes, in the resolver's form (family 0 when it has none).
dns::Address address_of(const sockaddr_in6& sa, bool ok) {
    dns::Address a{};
    if (!ok) {
        return a;
    }
    if (sa.sin6_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&sa);
        std::memcpy(a.bytes.data(), &v4->sin_addr, 4);
        a.family = 4;
    } else {
        std::memcpy(a.bytes.data(), &sa.sin6_addr, 16);
        a.family = 6;
    }
    return a;
}

// A socket command: setsockopt through the ring (IORING_OP_URING_CMD with
// SOCKET_URING_OP_SETSOCKOPT, Linux 6.7). liburing 2.3 names neither the command nor the SQE
// fields it uses, so they are set here by their place in the kernel's struct io_uring_sqe
// (include/uapi/linux/io_uring.h): cmd_op at byte 8, level and optname at 16 and 20, optlen
// at 44 and optval at 48.
constexpr std::uint32_t socket_uring_op_setsockopt = 3;

void prep_setsockopt(io_uring_sqe* sqe, int fd, int level, int optname, const int* value) {
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, nullptr, 0, 0);
    auto put32 = [sqe](std::size_t at, std::uint32_t v) {
        std::memcpy(reinterpret_cast<char*>(sqe) + at, &v, sizeof v);
    };
    put32(8, socket_uring_op_setsockopt);
    put32(16, static_cast<std::uint32_t>(level));
    put32(20, static_cast<std::uint32_t>(optname));
    put32(44, sizeof(int));
    const std::uint64_t ptr = reinterpret_cast<std::uintptr_t>(value);
    std::memcpy(reinterpret_cast<char*>(sqe) + 48, &ptr, sizeof ptr);
}
static_assert(sizeof(io_uring_sqe) == 64);

// TCP_QUICKACK's value for a plain HTTP probe's socket: 0, so the handshake's last ACK rides
// on the request instead of a packet of its own.
constexpr int quickack_off = 0;

// An operation on a probe's socket names a direct one by its entry in the ring's file table.
void on_socket_of(io_uring_sqe* sqe, bool direct) {
    if (direct) {
        sqe->flags |= IOSQE_FIXED_FILE;
    }
}

std::uint32_t us_between(std::uint64_t from_ns, std::uint64_t to_ns) {
    if (from_ns == 0 || to_ns < from_ns) {
        return 0;
    }
    const std::uint64_t us = (to_ns - from_ns) / 1000;
    return us > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<std::uint32_t>(us);
}

}  // namespace

Worker::Worker(const Plan& plan, std::vector<std::uint32_t> shard, report::Writer* writer,
               WorkerOptions opt, const TlsContexts* tls, WorkerDns dns)
    : plan_(plan),
      writer_(writer),
      opt_(opt),
      targets_owned_(shard.size()),
      dns_(dns),
      tls_(tls),
      wheel_(ns_to_tick_floor(monotonic_ns())) {
    quantum_ns_ = std::max(tick_ns, ms_to_ns(plan_.quantum_ms));
    RP_ASSERT(quantum_ns_ % tick_ns == 0);
    RP_ASSERT(opt_.recv_buffer_size >= 512);
    // One slot per IP target; kAddressesPerName per FQDN target, one per address it may have.
    for (std::uint32_t t : shard) {
        const bool fqdn = plan_.targets[t].is_fqdn && dns_.resolver != nullptr;
        if (fqdn) {
            NameSlot n;
            n.plan_index = t;
            n.first_slot = static_cast<std::uint32_t>(shard_.size());
            n.report_slot = writer_ != nullptr ? writer_->name_slot(t) : abi::kNoSlot;
            const std::uint32_t id = (*dns_.name_of_target)[t];
            RP_ASSERT(id != no_name);
            name_lookup_.emplace_back(id, static_cast<std::uint32_t>(names_.size()));
            names_.push_back(n);
        }
        for (std::uint32_t k = 0; k < (fqdn ? abi::kAddressesPerName : 1); ++k) {
            shard_.push_back(t);
        }
    }
    std::sort(name_lookup_.begin(), name_lookup_.end());
    if (opt_.recv_buffers == 0) {
        opt_.recv_buffers = receive_buffers_for(shard_.size(), plan_.start_batch);
    }
    RP_ASSERT((opt_.recv_buffers & (opt_.recv_buffers - 1)) == 0);
    if (opt_.turn_starts == 0) {
        opt_.turn_starts = std::max(opt_.recv_buffers, min_turn_starts);
    }
    if (opt_.turn_chunk == 0 || opt_.turn_chunk > opt_.turn_starts) {
        opt_.turn_chunk = opt_.turn_starts;  // off unless asked: see Worker::turn_full
    }
    chunk_end_ = opt_.turn_chunk;
    slots_storage_ = std::make_unique<Slot[]>(shard_.size());
    slots_ = std::span<Slot>(slots_storage_.get(), shard_.size());
    parsers_.resize(shard_.size());
    deferred_.resize(shard_.size());
    if (tls_ != nullptr) {
        const unsigned n = std::min<unsigned>(opt_.tls_clients, 0xFFFE);
        for (unsigned i = 0; i < n; ++i) {
            tls_pool_.push_back(std::make_unique<TlsClient>());
            tls_free_.push_back(static_cast<std::uint16_t>(n - 1 - i));
        }
        plaintext_ = std::make_unique<char[]>(plaintext_bytes);
    }
    budget_ = opt_.max_in_flight;
    rng_ = mix64(0x5eed0000u + opt_.index) | 1;
    wall_ = WallClock::now();
    std::map<std::string, const BodyMatcher*> by_needle;
    for (std::size_t i = 0; i < shard_.size(); ++i) {
        const Target& t = plan_.targets[shard_[i]];
        Slot& s = slots_[i];
        s.plan_index = shard_[i];
        if (!(t.is_fqdn && dns_.resolver != nullptr)) {
            s.addr_ok = parse_address(t.address, t.port, s.addr, s.addr_len);
        }
        if (protocol_is_tls(t.protocol)) {
            RP_ASSERT(tls_ != nullptr);
            if (tls_sessions_.empty()) {
                tls_sessions_.resize(shard_.size());
            }
            tls_sessions_[i] = std::make_unique<TlsSession>();
        }
        if (!t.match_body.empty()) {
            auto it = by_needle.find(t.match_body);
            if (it == by_needle.end()) {
                matchers_.push_back(std::make_unique<BodyMatcher>(t.match_body));
                it = by_needle.emplace(t.match_body, matchers_.back().get()).first;
            }
            s.matcher = it->second;
        }
    }
    for (std::uint32_t n = 0; n < names_.size(); ++n) {
        for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
            Slot& s = slots_[names_[n].first_slot + k];
            s.name = n;
            s.addr_k = static_cast<std::uint8_t>(k);
            s.active = false;  // until DNS gives it an address
        }
    }
}

Worker::~Worker() {
    for (Slot& s : slots_) {
        if (s.fd >= 0 && !s.direct) {  // direct sockets go with the ring
            ::close(s.fd);
        }
    }
    if (buf_ring_mem_ != nullptr) {
        munmap(buf_ring_mem_, buf_ring_bytes_);
    }
}

unsigned Worker::receive_buffers_for(std::size_t slots, std::uint32_t start_batch) {
    // At least as many as a turn may start (min_turn_starts): with fewer, a worker behind its
    // schedule starts more probes a turn than it has buffers for their answers, and receives
    // wait for buffers (session 11: 128 buffers against 256 starts a turn at 1,000 targets,
    // hundreds to thousands of receives without a buffer a max-rate step; with 256, none in
    // most steps; docs/benchmarks.md).
    const std::size_t need = std::max<std::size_t>(slots / 64, std::size_t{2} * start_batch);
    unsigned n = min_turn_starts;
    while (n < need && n < 1024) {
        n *= 2;
    }
    return n;
}

std::size_t Worker::memory_bytes() const {
    return slots_.size() * (sizeof(Slot) + sizeof(HttpParser) + sizeof(std::uint32_t)) +
           names_.size() * (sizeof(NameSlot) + sizeof(name_lookup_[0])) +
           std::size_t{opt_.recv_buffers} * opt_.recv_buffer_size + buf_ring_bytes_ +
           free_files_.capacity() * sizeof(std::uint32_t);
}

Result<void> Worker::init() {
    if (opt_.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt_.cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);  // best effort
    }
    if (auto r = ring_.init(opt_.ring_entries); !r) {
        return r;
    }
    // Provided buffers: a recv takes a buffer only when data arrives, so a few hundred buffers
    // serve tens of thousands of connections waiting for their answers.
    buf_ring_bytes_ = sizeof(io_uring_buf) * opt_.recv_buffers;
    buf_ring_mem_ = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE,
                         MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buf_ring_mem_ == MAP_FAILED) {
        buf_ring_mem_ = nullptr;
        return error(std::string("cannot map the receive buffer ring: ") + std::strerror(errno));
    }
    buf_ring_ = static_cast<io_uring_buf_ring*>(buf_ring_mem_);
    io_uring_buf_ring_init(buf_ring_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(buf_ring_mem_);
    reg.ring_entries = opt_.recv_buffers;
    reg.bgid = buffer_group;
    if (int rc = io_uring_register_buf_ring(ring_.raw(), &reg, 0); rc != 0) {
        return error(std::string("cannot register the receive buffer ring: ") +
                     std::strerror(-rc) + " (needs Linux 5.19 or later)");
    }
    buffers_ = std::make_unique<char[]>(std::size_t{opt_.recv_buffers} * opt_.recv_buffer_size);
    const int mask = io_uring_buf_ring_mask(opt_.recv_buffers);
    for (unsigned b = 0; b < opt_.recv_buffers; ++b) {
        io_uring_buf_ring_add(buf_ring_, buffers_.get() + std::size_t{b} * opt_.recv_buffer_size,
                              opt_.recv_buffer_size, static_cast<unsigned short>(b), mask,
                              static_cast<int>(b));
    }
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(opt_.recv_buffers));

    // Direct sockets: a file table in the ring with an entry for every socket the budget lets
    // this worker hold (in flight or closing), at most the descriptor limit, which the kernel
    // applies to the table's size. Best effort: without them each probe calls socket().
    mode_ = ring_.mode();
    if (opt_.direct_sockets) {
        io_uring_probe* probe = io_uring_get_probe_ring(ring_.raw());
        const bool has_socket = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_SOCKET);
        if (probe != nullptr) {
            io_uring_free_probe(probe);
        }
        rlimit nofile{};
        const std::size_t limit = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                                      ? nofile.rlim_cur
                                      : 1u << 20;
        std::size_t entries = slots_.size();
        if (budget_ != 0) {
            entries = std::min(entries, budget_);
        }
        entries = std::max<std::size_t>(1, std::min<std::size_t>({entries, limit, 1u << 20}));
        if (has_socket &&
            io_uring_register_files_sparse(ring_.raw(), static_cast<unsigned>(entries)) == 0 &&
            cancels_fixed_files()) {
            direct_ = true;
            free_files_.reserve(entries);
            for (std::size_t i = entries; i-- > 0;) {
                free_files_.push_back(static_cast<std::uint32_t>(i));
            }
            mode_ += "+direct-sockets";
        }
    }

    delay_ack_ = opt_.delayed_ack && sets_socket_options();
    if (delay_ack_) {
        mode_ += "+delayed-ack";
    }

    // First probes spread evenly over one interval (or the plan's startSpreadMs), so a
    // restart is no thundering herd, in the order of the slots: the targets of one start
    // instant are neighbours in this worker's memory (slots, parsers) and in the report's
    // records, so a start batch touches a few pages instead of one each; on a virtual machine
    // a page not touched for a while costs microseconds to reach (docs/benchmarks.md
    // "Neighbours start together"). Targets of one spread are ranked among themselves, so
    // each spread is filled evenly whatever the others. Phases are whole start grids from a
    // quantum boundary, so the targets of one start instant start in one wake-up.
    size_start_grid();
    start_anchor_ns_ = on_grid(opt_.start_mono_ns);
    const std::uint64_t start = start_anchor_ns_;
    auto spread_of = [this](const Slot& s) {
        return plan_.start_spread_ms != 0 ? ms_to_ns(plan_.start_spread_ms)
                                          : ms_to_ns(plan_.targets[s.plan_index].interval_ms);
    };
    std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> ranks;  // spread: count, next
    for (const Slot& s : slots_) {
        if (s.active) {
            ranks[spread_of(s)].first += 1;
        }
    }
    for (Slot& s : slots_) {
        if (!s.active) {
            continue;  // an FQDN target's address slot: scheduled once DNS gives it an address
        }
        const Target& t = plan_.targets[s.plan_index];
        const std::uint64_t spread = spread_of(s);
        auto& [count, next] = ranks[spread];
        // spread x next / count without the product: (spread % count) x next < count^2 < 2^64.
        const std::uint64_t phase = spread / count * next + spread % count * next / count;
        next += 1;
        s.base_ns = start + phase - phase % start_grid_ns_;
        s.next_ns = on_grid(s.base_ns + jitter_ns(t));
        wheel_.schedule(s.timer, ns_to_tick_ceil(s.next_ns));
    }
    return {};
}

void Worker::size_start_grid() {
    // The intervals' greatest common divisor g (a grid dividing every interval keeps each
    // target on it from one probe to the next) and the shard's probes per g, p = sum of
    // g / interval, exact in integers (each target once; an FQDN target as one address, though
    // it probes each address it resolves to). The shard starts p x quantum / g probes a
    // quantum, so about startBatch share an instant m quanta wide when
    // m = startBatch x g / (p x quantum), rounded down; then at most 50 ms and a divisor of g.
    auto interval_of = [this](std::size_t i) {
        return std::max<std::uint64_t>(ms_to_ns(plan_.targets[shard_[i]].interval_ms), tick_ns);
    };
    auto first_of_target = [this](std::size_t i) { return i == 0 || shard_[i] != shard_[i - 1]; };
    std::uint64_t g = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (first_of_target(i)) {  // not the other address slots of an FQDN target
            g = std::gcd(g, interval_of(i));
        }
    }
    std::uint64_t p = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (first_of_target(i)) {
            p += g / interval_of(i);
        }
    }
    start_grid_ns_ = quantum_ns_;
    if (p == 0 || plan_.start_batch <= 1) {
        return;
    }
    // 50 ms, the longest the worker sleeps anyway: at 2,000 probes/s a worker then starts 50
    // probes every 25 ms rather than 20 every 10 ms, and on this virtual machine a probe costs
    // less the more probes share a wake-up (docs/benchmarks.md "A wider start grid"). At
    // 10,000 probes/s startBatch fills a 5 ms grid, well inside the cap.
    constexpr std::uint64_t max_grid_ns = 50'000'000;
    // startBatch <= 1024 and g <= 86,400 s in ns: the product stays below 2^63.
    std::uint64_t m = std::uint64_t{plan_.start_batch} * g / (p * quantum_ns_);
    m = std::min<std::uint64_t>(m, max_grid_ns / quantum_ns_);
    for (; m > 1; --m) {
        if (g % (m * quantum_ns_) == 0) {
            break;
        }
    }
    start_grid_ns_ = std::max<std::uint64_t>(m, 1) * quantum_ns_;
}

std::uint64_t Worker::jitter_ns(const Target& t) {
    if (t.jitter_ms == 0) {
        return 0;
    }
    return xorshift(rng_) % ms_to_ns(t.jitter_ms);
}

void Worker::run(const std::atomic<bool>& stop) {
    constexpr std::uint64_t max_sleep_ns = 50'000'000;  // notice stop within 50 ms
    auto slot_of = [](TimerNode& n) -> Slot& {
        return *reinterpret_cast<Slot*>(reinterpret_cast<char*>(&n) - offsetof(Slot, timer));
    };
    // One turn: submit what is queued and sleep until a completion or the wheel's next expiry;
    // take the time once; reap every completion; only then advance the wheel. Completions first:
    // a backend whose answer is in the CQ when this thread looks is judged on that answer, even
    // if the thread was late to look and the deadline has passed since (the rule that a
    // late worker never blames a backend). With DEFER_TASKRUN, completions are posted only when
    // the thread enters the kernel to get events, which the wait does even when already due.
    //
    // Wake at most once per quantum while probes are in flight (plan quantumMs, 1 ms unless
    // set): the wait ends at the next quantum boundary, where the next starts and deadlines
    // are, and completions wait in the kernel until then, so one wake-up serves every probe of
    // the quantum and phase timings are stamped to within one quantum. Completions never wake
    // the thread early: on this kind of machine a sleep and a wake-up cost more than a probe's
    // own system calls. With quantumMs 0 the wait ends at the end of the 100 us tick or when
    // every in-flight probe has something to report, and one probe in flight wakes it alone.
    // With nothing in flight it sleeps until the wheel's next expiry.
    //
    // The wake-up is an instant, not a duration: neither this turn's own work nor the
    // submission (a loopback connect runs its whole handshake in it) pushes it back.
    std::uint64_t now = monotonic_ns();
    while (!stop.load(std::memory_order_relaxed)) {
        // Between start instants nothing is in flight: sleep until the next start itself, not
        // until a cascade point of the wheel on the way (a wake-up each 6.4 ms block; the
        // next advance does the cascades). The scan reads at most 64 timers' expiries, once a
        // sleep; while probes are in flight the wake-up is the next quantum anyway.
        const std::uint64_t next_tick =
            in_flight_ == 0 ? wheel_.next_expiry_exact(64) : wheel_.next_expiry();
        std::uint64_t wake_ns = now + max_sleep_ns;
        if (next_tick != UINT64_MAX) {
            // With a quantum every timer is on its grid: an expiry off the grid is the wheel's
            // own cascade point, which the next advance handles just as well.
            wake_ns = std::min(wake_ns, on_grid(next_tick * tick_ns));
        }
        // Starts held back by a full turn go at the next quantum even when nothing is in flight
        // (every probe of the turn finished at once: no address, no socket).
        const bool held = deferred_count_ > 0 && turn_full();
        unsigned wait_nr = 1;
        if (quantum_ns_ > tick_ns) {
            if (in_flight_ > 0 || held) {
                wake_ns = std::min(wake_ns, on_grid(now + 1));
            }
            // Completions (a probe's, a close's) never end the wait: more than can complete.
            wait_nr = ring_.cq_entries();
        } else if (in_flight_ > 1 || held) {
            wake_ns = std::min(wake_ns, (ns_to_tick_floor(now) + 1) * tick_ns);  // tick's end
            wait_nr = static_cast<unsigned>(std::min<std::size_t>(in_flight_, 1024));
        }
        const bool late = ring_.submit_and_wait_until(wake_ns, wait_nr);
        now = monotonic_ns();
        bump(counters_.loops);
        started_this_turn_ = 0;
        chunk_end_ = opt_.turn_chunk;
        reap(now, late);
        if (dns_.resolver != nullptr) {
            // Names whose answer changed: lock-free, allocation-free, bounded per turn.
            dns_.resolver->poll(opt_.index, [&](dns::NameId id, const dns::NameState& st) {
                on_dns(id, st, now);
            });
        }
        if (recv_parked_ > 0) {
            resume_receives();
        }
        if (deferred_count_ > 0) {
            // The closes just reaped freed sockets: the line takes them before this turn's
            // timers can. Otherwise a start due in the turn that frees them takes them every
            // time and the line starves (with starts and deadlines on one grid it did: half the
            // targets of a budget test were never probed).
            start_deferred(now);
        }
        wheel_.advance(ns_to_tick_floor(now), [&](TimerNode& n) { on_timer(slot_of(n), now); });
        start_deferred(now);
        // A turn with more starts than a chunk goes to the kernel a chunk at a time, and the
        // answers that came in meanwhile are reaped between chunks: their closes go with the
        // next chunk instead of after the whole turn (see Worker::turn_full).
        while (deferred_count_ > 0 && turn_full() && chunk_end_ < opt_.turn_starts) {
            // An instant already past: submits the chunk and posts, without sleeping.
            const bool posted_only = ring_.submit_and_wait_until(0, ring_.cq_entries());
            now = monotonic_ns();
            bump(counters_.chunks);
            chunk_end_ = std::min<std::size_t>(chunk_end_ + opt_.turn_chunk, opt_.turn_starts);
            reap(now, posted_only);
            if (recv_parked_ > 0) {
                resume_receives();
            }
            start_deferred(now);
        }
        counters_.in_flight.store(in_flight_, std::memory_order_relaxed);
        if (now - stats_published_ns_ >= 250'000'000) {
            publish_stats(now);
        }
    }
    drain(1'000'000'000ull);
    counters_.in_flight.store(in_flight_, std::memory_order_relaxed);
}

// After an entry that did not wait (late), the kernel may hold deferred completions it has not
// posted yet (Ring::submit_and_wait_until): reap, and enter again while it says so, bounded.
// Each round's answers give their receive buffers back before the next round takes more.
void Worker::reap(std::uint64_t now, bool late) {
    reap_posted(now);
    for (int round = 0; late && round < 32 && ring_.post_more(); ++round) {
        reap_posted(now);
    }
}

void Worker::reap_posted(std::uint64_t now) {
    io_uring_cqe* cqes[256];
    for (int round = 0; round < 64; ++round) {
        const unsigned n = io_uring_peek_batch_cqe(ring_.raw(), cqes, 256);
        if (n == 0) {
            break;
        }
        for (unsigned i = 0; i < n; ++i) {
            on_cqe(cqes[i]->user_data, cqes[i]->res, cqes[i]->flags, now);
        }
        io_uring_cq_advance(ring_.raw(), n);
    }
}

void Worker::publish_stats(std::uint64_t now) {
    // This worker's own slot in the report's worker table (one writer per slot), for readers
    // outside the process; the exporter inside it reads the counters directly.
    stats_published_ns_ = now;
    if (budget_ != opt_.max_in_flight) {  // recover from an EMFILE, an eighth at a time
        budget_ = std::min(opt_.max_in_flight, budget_ + std::max<std::size_t>(1, opt_.max_in_flight / 8));
    }
    if (writer_ == nullptr) {
        return;
    }
    auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    const auto& by = counters_.by_reason;
    report::WorkerStats w{};
    w.probes_started = get(counters_.probes_started);
    w.probes_completed = get(counters_.probes_completed);
    w.prober_errors = get(counters_.prober_errors);
    w.no_fds = get(by[static_cast<std::size_t>(Reason::ProberNoFds)]);
    w.no_buffers = get(by[static_cast<std::size_t>(Reason::ProberNoBuffers)]);
    w.no_ports = get(by[static_cast<std::size_t>(Reason::ProberNoPorts)]);
    w.ring_full = get(ring_.stats().sq_full);
    w.late_probes = get(counters_.late_probes);
    w.lateness_us_sum = get(counters_.lateness_us_sum);
    w.lateness_us_max = get(counters_.lateness_us_max);
    w.stale_completions = get(counters_.stale_completions);
    w.targets_owned = targets_owned_;
    w.loop_iterations = get(counters_.loops);
    w.updated_unix_ns = wall_.to_unix_ns(now);
    w.tls_full = get(counters_.tls_full);
    w.tls_resumed = get(counters_.tls_resumed);
    w.tls_failed = get(counters_.tls_failed);
    w.dns_updates = get(counters_.dns_updates);
    writer_->publish_worker_stats(opt_.index, w);
}

void Worker::drain(std::uint64_t budget_ns) {
    // Stop: every probe in flight is cancelled and its socket shut down (which also completes
    // anything a cancel could not catch: the wheel, whose guard timer would otherwise do that,
    // no longer turns), then completions are reaped until nothing names a slot, within budget.
    for (Slot& s : slots_) {
        wheel_.cancel(s.timer);
        if (s.state != State::Idle && s.fd >= 0) {
            io_uring_sqe* sqe = ring_.sqe();
            io_uring_prep_cancel_fd(sqe, s.fd,
                                    IORING_ASYNC_CANCEL_ALL | (s.direct ? IORING_ASYNC_CANCEL_FD_FIXED : 0));
            io_uring_sqe_set_data64(sqe, pack_user_data({0, 0, Op::Cancel}));
            s.cancel_sent = true;
            force_down(s);
            if (s.pending == 0) {
                // Nothing of it is in the kernel (a receive waiting for a buffer, its socket
                // shut down by hand): no completion will come to release it.
                release_now(s);
                s.state = State::Idle;
                in_flight_ -= 1;
            }
        }
    }
    const std::uint64_t until = monotonic_ns() + budget_ns;
    while (in_flight_ > 0 && monotonic_ns() < until) {
        ring_.submit_and_wait(10'000'000);
        io_uring_cqe* cqe = nullptr;
        while (io_uring_peek_cqe(ring_.raw(), &cqe) == 0) {
            const UserData u = unpack_user_data(cqe->user_data);
            if (u.op == Op::Close && fds_held_ > 0) {
                fds_held_ -= 1;
            }
            if (u.op == Op::CloseDirect) {
                free_files_.push_back(u.target);
            }
            if (u.op != Op::Cancel && u.op != Op::Close && u.op != Op::CloseDirect &&
                u.target < slots_.size()) {
                Slot& s = slots_[u.target];
                if ((s.generation & generation_mask) == u.generation && s.pending > 0) {
                    s.pending -= 1;
                    if (s.pending == 0 && s.fd >= 0) {
                        release_now(s);
                        s.state = State::Idle;
                        in_flight_ -= 1;
                    }
                }
            }
            io_uring_cqe_seen(ring_.raw(), cqe);
        }
    }
    // Whatever the kernel still holds after the budget is closed here; the ring's teardown
    // cancels and reaps the requests themselves. Counted: it should not happen.
    for (Slot& s : slots_) {
        if (s.state != State::Idle && s.fd >= 0) {
            release_now(s);
            s.state = State::Idle;
            in_flight_ -= 1;
            bump(counters_.stop_forced_closes);
        }
    }
}

// Wakes whatever the kernel still holds for a probe's socket (a connect in SYN_SENT is aborted
// by any shutdown; a pending recv returns). Under closePolicy reset only the read side: shutting
// the write side sends a FIN, the backend answers with its own, and the socket sits in
// TIME_WAIT before the linger-0 close could send its RST.
void Worker::force_down(Slot& s) {
    const bool reset = plan_.targets[s.plan_index].close_policy == ClosePolicy::Reset;
    if (!s.direct) {
        ::shutdown(s.fd, reset ? SHUT_RD : SHUT_RDWR);
        return;
    }
    // Reset never uses a direct socket (its linger option needs a descriptor). The kernel
    // runs a shutdown in its worker threads and looks the table entry up only then, so it is
    // counted like the probe's own operations: the entry is not closed and given to another
    // probe's socket before it has run.
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_shutdown(sqe, s.fd, SHUT_RDWR);
    on_socket_of(sqe, true);
    io_uring_sqe_set_data64(
        sqe, pack_user_data({static_cast<std::uint32_t>(&s - slots_.data()), s.generation, Op::Shutdown}));
    s.pending += 1;
}

// A probe past its deadline is cancelled by its socket's table entry (IORING_ASYNC_CANCEL_FD_FIXED,
// Linux 6.0; IORING_OP_SOCKET is 5.19): asked once at start on the empty entry 0, which says
// EBADF or ENOENT where the flag is known and EINVAL where it is not. Without it the table is
// given back and probes call socket().
bool Worker::cancels_fixed_files() {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_cancel_fd(sqe, 0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
    io_uring_sqe_set_data64(sqe, pack_user_data({0, 0, Op::Cancel}));
    if (ring_.ask() == -EINVAL) {
        io_uring_unregister_files(ring_.raw());
        return false;
    }
    return true;
}

bool Worker::sets_socket_options() {
    // Asked once on a socket of our own: a kernel before 6.7 answers -EINVAL or -EOPNOTSUPP.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    io_uring_sqe* sqe = ring_.sqe();
    prep_setsockopt(sqe, fd, IPPROTO_TCP, TCP_QUICKACK, &quickack_off);
    io_uring_sqe_set_data64(sqe, pack_user_data({0, 0, Op::Cancel}));
    const int res = ring_.ask();
    ::close(fd);
    return res == 0;
}

void Worker::release_now(Slot& s) {
    if (s.direct) {
        const int none = -1;
        io_uring_register_files_update(ring_.raw(), static_cast<unsigned>(s.fd), &none, 1);
        free_files_.push_back(static_cast<std::uint32_t>(s.fd));
    } else {
        ::close(s.fd);
        fds_held_ -= 1;
    }
    s.fd = -1;
    s.direct = false;
}

void Worker::enqueue_start(Slot& s) {
    RP_ASSERT_HOT(deferred_count_ < deferred_.size());
    deferred_[(deferred_head_ + deferred_count_) % deferred_.size()] =
        static_cast<std::uint32_t>(&s - slots_.data());
    deferred_count_ += 1;
}

void Worker::defer(Slot& s) {
    enqueue_start(s);
    bump(counters_.deferred_starts);
}

// A turn starts at most turn_starts probes: as many as there are receive buffers, and at least
// 256. A worker that is behind finds many starts due at once; started together, their answers
// land in one kernel entry, more than the buffers, every receive without one costs a failed
// completion and a second ask, and the longer turn finds still more due: at 10,000 targets one
// core fell from 30,000 probes/s to 22,000-26,000 that way (docs/benchmarks.md, session 9).
// Held starts wait in the deferred line, oldest first, and go at the next turn ahead of new
// ones. The floor of 256: at 1,000 targets (128 buffers) a cap of 128 cost a fifth of the top
// rate, the turns' own cost then outweighing the shortage.
//
// A turn of more than turn_chunk starts (off unless set: --turn-chunk) goes to the kernel in
// chunks, and the completions posted meanwhile are reaped between them. A loopback connect
// runs its whole handshake inside the submission (about 35 us a start on the benchmark VM), so
// a turn of 256 starts is about 9 ms in one kernel entry; answers that arrive in it are reaped
// only at its end and closed in the next entry, and a backend whose answer and FIN are both
// unacknowledged sends a loss probe after about 8 ms (two jiffies at HZ 250): most probes of
// such turns were retransmitted, which made the turns longer still (docs/benchmarks.md,
// session 9). In chunks an answer is closed within about one chunk's time. Not the default:
// at 50,000 targets, where instants of more than 64 starts are common, chunks of 64 made the
// start lateness p99 16-20 ms against 0.6-3.6 ms without (session 10), and once late turns
// reap every answer (Worker::reap) the loss probes they were for were mostly gone without them.
bool Worker::turn_full() const {
    return started_this_turn_ >= chunk_end_;
}

void Worker::hold(Slot& s) {
    enqueue_start(s);
    bump(counters_.held_starts);
}

// socket() said EMFILE/ENFILE: descriptors are held elsewhere (the exporter's clients, closes
// still queued, another thread). The prober's problem, never the backend's: the probe waits in
// the deferred line and the budget drops to what is really open, so the line drains as
// sockets close instead of every due target failing and retrying on its own.
void Worker::out_of_descriptors(Slot& s, int err) {
    const Reason r = socket_reason(err);
    bump(counters_.prober_errors);
    bump(counters_.by_reason[static_cast<std::size_t>(r)]);
    budget_ = std::max<std::size_t>(1, fds_held_);
    fd_starved_ = true;
    s.total_prober += 1;
    if (s.name == no_name) {
        // Shown on the row (its health untouched): the probe is held back by the prober.
        s.last_reason = r;
        s.sys_errno = err;
        publish(s);
    } else {
        names_[s.name].total_prober += 1;
    }
    defer(s);
}

bool Worker::makes_direct(const Slot& s) const {
    return direct_ && s.addr_ok && plan_.targets[s.plan_index].close_policy != ClosePolicy::Reset;
}

bool Worker::has_room(const Slot& s) const {
    if (makes_direct(s)) {
        return !free_files_.empty();
    }
    return !fd_starved_ && (budget_ == 0 || fds_held_ < budget_);
}

void Worker::resume_receives() {
    // Every buffer is back once the turn's completions are handled: ask again for as many
    // parked receives as there are buffers, in slot order from where the last turn stopped
    // (a storm is rare; the scan is bounded by the shard and runs only while some wait).
    unsigned budget = opt_.recv_buffers;
    const std::size_t n = slots_.size();
    for (std::size_t k = 0; k < n && budget > 0 && recv_parked_ > 0; ++k) {
        Slot& s = slots_[resume_cursor_];
        resume_cursor_ = resume_cursor_ + 1 == n ? 0 : resume_cursor_ + 1;
        if (!s.recv_parked) {
            continue;
        }
        s.recv_parked = false;
        recv_parked_ -= 1;
        if (s.state != State::Exchanging || s.verdict != Reason::Pending) {
            continue;  // decided while it waited (finish() has not run: other completions due)
        }
        queue_recv(s);
        budget -= 1;
    }
}

void Worker::start_deferred(std::uint64_t now) {
    fd_starved_ = false;
    while (deferred_count_ > 0 && !turn_full()) {
        Slot& s = slots_[deferred_[deferred_head_]];
        if (s.active && !has_room(s)) {
            break;  // the oldest waits for a socket; order is kept
        }
        if (s.active && protocol_is_tls(plan_.targets[s.plan_index].protocol) && tls_free_.empty()) {
            break;  // the oldest waits for a TLS client; order is kept
        }
        deferred_head_ = (deferred_head_ + 1) % deferred_.size();
        deferred_count_ -= 1;
        if (!s.active) {
            continue;  // its address left the answer while it waited
        }
        start_probe(s, now);
    }
}

void Worker::on_timer(Slot& s, std::uint64_t now) {
    switch (s.state) {
        case State::Idle:
            if (!s.active) {
                return;  // its address left the answer
            }
            if (turn_full()) {
                hold(s);
                return;
            }
            if (!has_room(s) ||
                (protocol_is_tls(plan_.targets[s.plan_index].protocol) && tls_free_.empty())) {
                // Out of socket budget: ours, not the backend's. Wait in line for a free one
                // (started, oldest first, as soon as a turn has reaped the closes that free
                // some: before its timers, so the line is served ahead of new starts).
                defer(s);
                return;
            }
            start_probe(s, now);
            return;
        case State::Connecting:
            decide(s, Reason::ConnectTimeout, now);
            return;
        case State::Exchanging:
            // Waiting for a receive buffer when the deadline came: the answer may be in the
            // socket already, and the shortage is ours.
            decide(s,
                   s.recv_parked ? Reason::ProberNoBuffers
                   : s.tls != no_tls && !tls_pool_[s.tls]->handshake_done()
                       ? Reason::TlsHandshakeTimeout
                       : Reason::ResponseTimeout,
                   now);
            // A waiting receive has nothing in the kernel: no completion will come to finish
            // the probe (decide sends no cancel and arms no guard when nothing is pending), so
            // it finishes here, or its target would never be probed again.
            maybe_finish(s, now);
            return;
        case State::Finishing:
            // A cancel did not bring every completion back in time: force the socket down
            // (bounded: this re-arms at most every 100 ms until the kernel lets go).
            if (s.fd >= 0) {
                force_down(s);
            }
            wheel_.schedule(s.timer, ns_to_tick_ceil(now + 100'000'000));
            return;
    }
}

void Worker::start_probe(Slot& s, std::uint64_t now) {
    const Target& t = plan_.targets[s.plan_index];
    RP_ASSERT_HOT(s.state == State::Idle);
    RP_ASSERT_HOT(s.pending == 0);
    RP_ASSERT_HOT(s.fd < 0);
    // A direct socket is made by the ring, linked ahead of the connect: no system call here,
    // and its table entry is taken now (has_room() saw one free). closePolicy reset needs a
    // descriptor for its linger option, so it keeps socket().
    const bool direct = makes_direct(s);
    int fd = -1;
    if (direct) {
        RP_ASSERT_HOT(!free_files_.empty());
        fd = static_cast<int>(free_files_.back());
        free_files_.pop_back();
    } else if (s.addr_ok) {
        fd = ::socket(s.addr.sin6_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            out_of_descriptors(s, errno);
            return;
        }
    }
    s.generation += 1;
    s.start_ns = now;
    s.connected_ns = 0;
    s.first_byte_ns = 0;
    s.verdict = Reason::Pending;
    s.http_status = 0;
    s.sys_errno = 0;
    s.sent = 0;
    s.cancel_sent = false;
    s.send_in_flight = false;
    s.recv_in_flight = false;
    s.request_written = false;
    s.tls_done_ns = 0;
    bump(counters_.probes_started);
    started_this_turn_ += 1;
    const std::uint64_t late_us = now > s.next_ns ? (now - s.next_ns) / 1000 : 0;
    counters_.lateness_us.record(late_us);
    bump(counters_.lateness_us_sum, late_us);
    if (late_us >= 1000) {
        bump(counters_.late_probes);  // a millisecond or more behind its schedule
    }
    if (late_us > counters_.lateness_us_max.load(std::memory_order_relaxed)) {
        counters_.lateness_us_max.store(late_us, std::memory_order_relaxed);
    }

    if (!s.addr_ok) {
        // Names are resolved by the DNS module; an address that is not an IP literal and has
        // no resolution yet has nothing to probe.
        s.state = State::Finishing;
        s.verdict = t.is_fqdn ? Reason::DnsNoAddress : Reason::ProberError;
        in_flight_ += 1;
        finish(s, now);
        return;
    }
    if (fd < 0) {
        prober_error(s, socket_reason(errno), errno, now);
        return;
    }
    if (t.close_policy == ClosePolicy::Reset) {
        const linger lg{1, 0};  // close() sends RST: no TIME_WAIT on the prober's side
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    s.fd = fd;
    s.direct = direct;
    if (!direct) {
        fds_held_ += 1;
    }
    s.state = State::Connecting;
    if (protocol_is_tls(t.protocol)) {
        RP_ASSERT_HOT(!tls_free_.empty());  // on_timer and start_deferred wait for a client
        s.tls = tls_free_.back();
        tls_free_.pop_back();
    }
    in_flight_ += 1;
    const bool http = t.protocol == Protocol::Http;  // plain HTTP: request linked to the connect
    parsers_[&s - slots_.data()].reset(s.matcher);

    const std::uint32_t idx = static_cast<std::uint32_t>(&s - slots_.data());
    io_uring_sqe* sqe = nullptr;
    s.pending = 0;
    ring_.reserve(5);  // socket, option, connect, send, recv: one chain, never split
    if (direct) {
        sqe = ring_.sqe();
        io_uring_prep_socket_direct(sqe, s.addr.sin6_family, SOCK_STREAM | SOCK_NONBLOCK, 0,
                                    static_cast<unsigned>(fd), 0);
        io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Socket}));
        sqe->flags |= IOSQE_IO_LINK;
        s.pending += 1;
    }
    if (http && delay_ack_) {
        // The handshake's last ACK waits for the request linked behind the connect (what
        // HAProxy's checks do too): one packet fewer each way through both stacks, and the
        // backend is woken once, with the request, not for the accept and again for it. A
        // hard link: if the option is refused the connect still runs.
        sqe = ring_.sqe();
        prep_setsockopt(sqe, fd, IPPROTO_TCP, TCP_QUICKACK, &quickack_off);
        on_socket_of(sqe, direct);
        io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::SockOpt}));
        sqe->flags |= IOSQE_IO_HARDLINK;
        s.pending += 1;
    }
    sqe = ring_.sqe();
    io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&s.addr), s.addr_len);
    on_socket_of(sqe, direct);
    io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Connect}));
    s.pending += 1;
    if (http) {
        sqe->flags |= IOSQE_IO_LINK;
        sqe = ring_.sqe();
        io_uring_prep_send(sqe, fd, t.request.data(), t.request.size(), MSG_NOSIGNAL);
        on_socket_of(sqe, direct);
        io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Send}));
        sqe->flags |= IOSQE_IO_LINK;
        s.pending += 1;
        queue_recv(s);
    }
    // The deadline: the first quantum boundary at or after the timeout (never shorter).
    wheel_.schedule(s.timer, ns_to_tick_ceil(on_grid(now + ms_to_ns(t.timeout_ms))));
}

void Worker::queue_recv(Slot& s) {
    const std::uint32_t idx = static_cast<std::uint32_t>(&s - slots_.data());
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_recv(sqe, s.fd, nullptr, opt_.recv_buffer_size, 0);
    on_socket_of(sqe, s.direct);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffer_group;
    io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Recv}));
    s.pending += 1;
}

void Worker::on_cqe(std::uint64_t user_data, int res, unsigned flags, std::uint64_t now) {
    const UserData u = unpack_user_data(user_data);
    if (u.op == Op::Close) {
        RP_ASSERT_HOT(fds_held_ > 0);
        fds_held_ -= 1;  // success or not, the descriptor is gone (close(2) semantics)
        return;
    }
    if (u.op == Op::CloseDirect) {
        free_files_.push_back(u.target);  // the table entry, free for the next socket
        return;
    }
    if (u.op == Op::Cancel) {
        return;  // outcomes of housekeeping SQEs carry no verdict
    }
    RP_ASSERT_HOT(u.target < slots_.size());
    Slot& s = slots_[u.target];
    if ((s.generation & generation_mask) != u.generation || s.pending == 0) {
        bump(counters_.stale_completions);
        if ((flags & IORING_CQE_F_BUFFER) != 0) {
            // Give back a buffer a stale recv took (cannot happen while pending counts are
            // exact, but a buffer must never leak).
            const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
            io_uring_buf_ring_add(buf_ring_, buffers_.get() + std::size_t{bid} * opt_.recv_buffer_size,
                                  opt_.recv_buffer_size, static_cast<unsigned short>(bid),
                                  io_uring_buf_ring_mask(opt_.recv_buffers), 0);
            io_uring_buf_ring_advance(buf_ring_, 1);
        }
        return;
    }
    s.pending -= 1;
    switch (u.op) {
        case Op::Socket: on_socket(s, res, now); break;
        case Op::Connect: on_connect(s, res, now); break;
        case Op::Send: on_send(s, res, now); break;
        case Op::Recv: on_recv(s, res, flags, now); break;
        case Op::Shutdown:  // only its count: the completions it forces decide
        case Op::SockOpt:   // only its count: an option refused costs a packet, not a verdict
        case Op::Close:
        case Op::CloseDirect:
        case Op::Cancel:
        case Op::Wake: break;
    }
    maybe_finish(s, now);
}

void Worker::on_socket(Slot& s, int res, std::uint64_t now) {
    // Success needs nothing: the linked connect runs on the new socket. A failure (the system
    // is out of files or memory) cancels the connect behind it and is the prober's.
    if (res < 0 && s.state == State::Connecting) {
        decide(s, socket_reason(-res), now, -res);
    }
}

void Worker::on_connect(Slot& s, int res, std::uint64_t now) {
    if (s.state != State::Connecting) {
        return;  // a verdict came first (deadline); this is the cancelled connect
    }
    if (res < 0) {
        decide(s, connect_reason(-res), now, -res);
        return;
    }
    s.connected_ns = now;
    const Target& t = plan_.targets[s.plan_index];
    if (t.protocol == Protocol::Tcp) {
        decide(s, Reason::Ok, now);  // Tcp: the connect is the whole probe
        return;
    }
    s.state = State::Exchanging;
    if (s.tls != no_tls) {
        const std::size_t slot = static_cast<std::size_t>(&s - slots_.data());
        TlsSession* session = t.tls_resume ? tls_sessions_[slot].get() : nullptr;
        if (!tls_pool_[s.tls]->start(tls_->for_target(s.plan_index), t.sni, t.host, session,
                                     ClientOptions{t.validate_chain, t.validate_sni, 0})) {
            decide(s, Reason::TlsHandshakeFailed, now);
            return;
        }
        tls_drive(s, now);
    }
}

void Worker::queue_send(Slot& s, const char* data, std::size_t n) {
    const std::uint32_t idx = static_cast<std::uint32_t>(&s - slots_.data());
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_send(sqe, s.fd, data, n, MSG_NOSIGNAL);
    on_socket_of(sqe, s.direct);
    io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Send}));
    s.pending += 1;
    s.send_in_flight = true;
}

// Moves a TLS probe forward until it needs the network or has a verdict. Bounded: every step
// either consumes input, produces output or ends the probe.
void Worker::tls_drive(Slot& s, std::uint64_t now) {
    TlsClient& c = *tls_pool_[s.tls];
    const Target& t = plan_.targets[s.plan_index];
    for (int guard = 0; guard < 64 && s.state == State::Exchanging; ++guard) {
        if (c.handshake_done()) {
            // The handshake can complete inside a step that still asks to send (the client's
            // Finished, a resumed session): note when, and for a Tls probe that is the verdict.
            if (s.tls_done_ns == 0) {
                s.tls_done_ns = now;
            }
            if (t.protocol == Protocol::Tls) {
                decide(s, Reason::Ok, now);
                return;
            }
        }
        Step st;
        if (!c.handshake_done()) {
            st = c.handshake();
        } else if (!s.request_written) {
            s.request_written = true;
            st = c.write_plaintext(std::span<const char>(t.request.data(), t.request.size()));
        } else {
            st = c.read_plaintext(plaintext_.get(), plaintext_bytes);
        }
        switch (st.kind) {
            case StepKind::NeedSend:
                if (!s.send_in_flight) {
                    const std::span<const char> out = c.pending_ciphertext();
                    queue_send(s, out.data(), out.size());
                }
                return;
            case StepKind::NeedReceive:
                if (!s.recv_in_flight) {
                    queue_recv(s);
                    s.recv_in_flight = true;
                }
                return;
            case StepKind::HandshakeDone:
                break;  // verified: the loop's top records it and ends a Tls probe
            case StepKind::PlaintextAvailable:
                if (s.first_byte_ns == 0) {
                    s.first_byte_ns = now;
                }
                on_plaintext(s, plaintext_.get(), st.bytes, false, now);
                break;
            case StepKind::Closed:
                on_plaintext(s, nullptr, 0, true, now);
                return;
            case StepKind::Failed:
                decide(s, c.reason(), now);
                return;
        }
    }
}

void Worker::on_plaintext(Slot& s, const char* data, std::size_t n, bool eof, std::uint64_t now) {
    HttpParser& p = parsers_[&s - slots_.data()];
    const HttpParser::Status st = eof ? p.finish_on_close() : p.feed(data, n);
    if (st == HttpParser::Status::NeedMore) {
        return;
    }
    s.http_status = p.status_code();
    decide(s, http_verdict(p, plan_.targets[s.plan_index].match_status), now);
}

void Worker::on_send(Slot& s, int res, std::uint64_t now) {
    s.send_in_flight = false;
    if (s.state != State::Exchanging) {
        return;
    }
    const Target& t = plan_.targets[s.plan_index];
    if (res < 0) {
        decide(s, res == -ECANCELED ? Reason::ConnectionReset : exchange_reason(-res), now, -res);
        return;
    }
    if (s.tls != no_tls) {
        tls_pool_[s.tls]->consume_sent(static_cast<std::size_t>(res));
        tls_drive(s, now);
        return;
    }
    s.sent += static_cast<std::uint32_t>(res);
    if (s.sent < t.request.size()) {
        // Short send: the rest goes out now; the recv already queued waits for the answer.
        const std::uint32_t idx = static_cast<std::uint32_t>(&s - slots_.data());
        io_uring_sqe* sqe = ring_.sqe();
        io_uring_prep_send(sqe, s.fd, t.request.data() + s.sent, t.request.size() - s.sent,
                           MSG_NOSIGNAL);
        on_socket_of(sqe, s.direct);
        io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Send}));
        s.pending += 1;
    }
}

void Worker::on_recv(Slot& s, int res, unsigned flags, std::uint64_t now) {
    const bool has_buffer = (flags & IORING_CQE_F_BUFFER) != 0;
    const unsigned bid = has_buffer ? (flags >> IORING_CQE_BUFFER_SHIFT) : 0;
    char* const data = has_buffer ? buffers_.get() + std::size_t{bid} * opt_.recv_buffer_size
                                  : nullptr;
    auto give_back = [&] {
        if (has_buffer) {
            io_uring_buf_ring_add(buf_ring_, data, opt_.recv_buffer_size,
                                  static_cast<unsigned short>(bid),
                                  io_uring_buf_ring_mask(opt_.recv_buffers), 0);
            io_uring_buf_ring_advance(buf_ring_, 1);
        }
    };
    if (s.state != State::Exchanging) {
        give_back();
        return;
    }
    if (res == -ENOBUFS) {
        // Every provided buffer is in use this instant: ours, not the backend's. Wait for the
        // turn's end, when they are all back, and ask again then, as many as there are buffers
        // (resume_receives). Asking again at once made a storm: each turn received one ring's
        // worth and failed every other waiting receive again, the turns stretched and the
        // answers piled up (1.3 million failed asks in 5 s at 35,000 probes/s).
        bump(counters_.recv_no_buffer);
        if (!s.recv_parked) {
            s.recv_parked = true;
            recv_parked_ += 1;
        }
        return;
    }
    if (res == -ECANCELED) {
        // The linked send failed first and already decided; or a cancel we issued.
        if (s.verdict == Reason::Pending) {
            decide(s, Reason::ConnectionReset, now, ECANCELED);
        }
        return;
    }
    if (res < 0) {
        decide(s, exchange_reason(-res), now, -res);
        return;
    }
    if (s.tls != no_tls) {
        s.recv_in_flight = false;
        TlsClient& c = *tls_pool_[s.tls];
        if (res == 0) {
            c.feed_eof();
        } else {
            c.feed_ciphertext(data, static_cast<std::size_t>(res));
        }
        give_back();
        tls_drive(s, now);
        return;
    }
    HttpParser& p = parsers_[&s - slots_.data()];
    HttpParser::Status st;
    if (res == 0) {
        st = p.finish_on_close();
    } else {
        if (s.first_byte_ns == 0) {
            s.first_byte_ns = now;
        }
        st = p.feed(data, static_cast<std::size_t>(res));
    }
    give_back();
    if (st == HttpParser::Status::NeedMore) {
        queue_recv(s);  // res == 0 never leaves NeedMore: finish_on_close() decides
        return;
    }
    s.http_status = p.status_code();
    decide(s, http_verdict(p, plan_.targets[s.plan_index].match_status), now);
}

void Worker::decide(Slot& s, Reason r, std::uint64_t now, std::int32_t err) {
    RP_ASSERT_HOT(s.state != State::Idle);
    if (s.state == State::Finishing) {
        return;  // first verdict wins
    }
    s.verdict = r;
    s.sys_errno = err;
    s.done_ns = now;
    s.state = State::Finishing;
    wheel_.cancel(s.timer);
    if (s.pending > 0 && !s.cancel_sent) {
        io_uring_sqe* sqe = ring_.sqe();
        io_uring_prep_cancel_fd(sqe, s.fd,
                                IORING_ASYNC_CANCEL_ALL | (s.direct ? IORING_ASYNC_CANCEL_FD_FIXED : 0));
        io_uring_sqe_set_data64(sqe, pack_user_data({0, 0, Op::Cancel}));
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        s.cancel_sent = true;
        // Guard: if the cancelled operations have not all completed in 100 ms, on_timer forces
        // the socket down.
        wheel_.schedule(s.timer, ns_to_tick_ceil(now + 100'000'000));
    }
}

void Worker::maybe_finish(Slot& s, std::uint64_t now) {
    if (s.state == State::Finishing && s.pending == 0) {
        finish(s, now);
    }
}

void Worker::finish(Slot& s, std::uint64_t now) {
    RP_ASSERT_HOT(s.pending == 0);
    RP_ASSERT_HOT(s.verdict != Reason::Pending);
    wheel_.cancel(s.timer);
    if (s.recv_parked) {
        s.recv_parked = false;
        recv_parked_ -= 1;
    }
    if (s.fd >= 0 && s.direct) {
        // Its completion gives the table entry back (and the socket to the budget).
        io_uring_sqe* sqe = ring_.sqe();
        io_uring_prep_close_direct(sqe, static_cast<unsigned>(s.fd));
        io_uring_sqe_set_data64(sqe, pack_user_data({static_cast<std::uint32_t>(s.fd), 0, Op::CloseDirect}));
        s.fd = -1;
        s.direct = false;
    }
    if (s.fd >= 0) {
#if defined(__SANITIZE_THREAD__)
        // ThreadSanitizer does not see a close submitted through io_uring, and then reports the
        // next user of the same descriptor number as racing with this socket: close it in the
        // open under TSan.
        ::close(s.fd);
        fds_held_ -= 1;
#else
        // The close goes through the ring too; its completion names no slot and only gives
        // the descriptor back to the budget (fds_held_), so the budget never counts on a
        // descriptor the kernel has not released yet.
        io_uring_sqe* sqe = ring_.sqe();
        io_uring_prep_close(sqe, s.fd);
        io_uring_sqe_set_data64(sqe, pack_user_data({0, 0, Op::Close}));
#endif
        s.fd = -1;
    }
    in_flight_ -= 1;
    s.state = State::Idle;
    const Target& t = plan_.targets[s.plan_index];
    const Reason r = s.verdict;
    bump(counters_.probes_completed);
    bump(counters_.by_reason[static_cast<std::size_t>(r)]);
    const std::uint32_t duration_us = us_between(s.start_ns, s.done_ns);
    counters_.duration_us.record(duration_us);
    bump(counters_.duration_us_sum, std::uint64_t{duration_us});
    s.total_probes += 1;
    s.last_probe_ns = s.start_ns;
    s.last_reason = r;
    if (reason_is_prober_side(r)) {
        s.total_prober += 1;
        bump(counters_.prober_errors);
    } else if (r == Reason::Ok) {
        s.total_ok += 1;
        bump(counters_.probes_ok);
    } else {
        s.total_fail += 1;
        bump(counters_.probes_failed);
    }
    const Health before = s.health.health;
    const bool changed =
        apply_result(s.health, r, Thresholds{t.healthy_threshold, t.unhealthy_threshold});
    if (changed) {
        s.last_change_ns = now;
    }
    if (changed && s.name == no_name) {  // an address's own changes are in its record, not logged
        bump(counters_.transitions);
        transitions_.push(Transition{s.plan_index, before, s.health.health, r, s.http_status,
                                     wall_.to_unix_ns(now)});
    }
    if (!s.active) {
        // Its address left the DNS answer while this probe was in flight: no next probe.
    } else if (reason_is_prober_side(r)) {
        // Retried soon, and never counted against the backend.
        s.next_ns = on_grid(now + opt_.retry_delay_ns);
        wheel_.schedule(s.timer, ns_to_tick_ceil(s.next_ns));
    } else {
        schedule_next(s, now);
    }
    std::string_view detail;
    std::uint8_t flags = 0;
    if (s.tls != no_tls) {
        // TLS: the verdict's detail (which certificate, which name, which date) comes from the
        // client; a Healthy target whose chain expires within certExpiryWarningDays carries a
        // warning instead (and the report flag).
        TlsClient& c = *tls_pool_[s.tls];
        detail = c.detail();
        if (reason_info(r).layer == Layer::L6) {
            bump(counters_.tls_failed);
        }
        publish_tls(s, c, r, now);
        const tls::CertFacts& f = c.facts();
        if (r == Reason::Ok && f.earliest_not_after_s != 0 && t.cert_expiry_warning_days != 0) {
            const std::int64_t days = f.days_until_expiry(
                static_cast<std::int64_t>(wall_.to_unix_ns(now) / 1'000'000'000ull));
            if (days < t.cert_expiry_warning_days) {
                // Nothing formatted per probe: the reader says how many days from the chain's
                // dates in the TLS record and the time it reads (report::cert_expiring).
                detail = "warning: the certificate chain expires within certExpiryWarningDays";
                flags |= abi::kStateCertExpiring;
            }
        }
    }
    if (s.name == no_name) {
        publish(s, detail, flags);
    } else {
        NameSlot& n = names_[s.name];
        n.total_probes += 1;
        if (reason_is_prober_side(r)) {
            n.total_prober += 1;
        } else if (r == Reason::Ok) {
            n.total_ok += 1;
        } else {
            n.total_fail += 1;
        }
        n.flags = static_cast<std::uint8_t>((n.flags & ~abi::kStateCertExpiring) | flags);
        publish_address(s);
        if (!s.active) {
            reconcile(n, now);  // the slot is free again: an address waiting for one gets it
        }
        aggregate(n, &s, now);
    }
    if (s.tls != no_tls) {
        tls_pool_[s.tls]->finish();
        tls_free_.push_back(s.tls);
        s.tls = no_tls;
    }
}

void Worker::prober_error(Slot& s, Reason r, int err, std::uint64_t now) {
    s.state = State::Finishing;
    s.verdict = r;
    s.sys_errno = err;
    s.done_ns = now;
    in_flight_ += 1;
    finish(s, now);
}

void Worker::schedule_next(Slot& s, std::uint64_t now) {
    // From the previous scheduled start, not from completion: intervals do not drift. A probe
    // that overran its next start skips to the first start still ahead (counted).
    const Target& t = plan_.targets[s.plan_index];
    const std::uint64_t interval = std::max<std::uint64_t>(ms_to_ns(t.interval_ms), tick_ns);
    s.base_ns += interval;
    if (s.base_ns <= now) {
        const std::uint64_t behind = (now - s.base_ns) / interval + 1;
        s.base_ns += behind * interval;
        bump(counters_.skipped_intervals, behind);
    }
    s.next_ns = on_grid(s.base_ns + jitter_ns(t));
    wheel_.schedule(s.timer, ns_to_tick_ceil(s.next_ns));
}

void Worker::publish(const Slot& s, std::string_view detail, std::uint8_t flags) {
    if (writer_ == nullptr) {
        return;
    }
    const HealthState& h = s.health;
    report::TargetUpdate u{};
    u.health = h.health;
    u.flags = flags;
    u.reason = s.last_reason;
    u.http_status = s.http_status;
    u.sys_errno = s.sys_errno;
    u.latency_us = us_between(s.start_ns, s.done_ns);
    u.dns_us = 0;
    u.connect_us = us_between(s.start_ns, s.connected_ns);
    u.tls_us = us_between(s.start_ns, s.tls_done_ns);
    u.detail = detail;
    u.first_byte_us = us_between(s.start_ns, s.first_byte_ns);
    u.last_probe_unix_ns = wall_.to_unix_ns(s.last_probe_ns);
    u.last_change_unix_ns = s.last_change_ns == 0 ? 0 : wall_.to_unix_ns(s.last_change_ns);
    u.next_probe_unix_ns = wall_.to_unix_ns(s.next_ns);
    u.consecutive_ok = h.consecutive_ok;
    u.consecutive_fail = h.consecutive_fail;
    u.total_probes = s.total_probes;
    u.total_ok = s.total_ok;
    u.total_fail = s.total_fail;
    u.total_prober_errors = s.total_prober;
    writer_->publish(s.plan_index, u);
}

// ---- TLS facts --------------------------------------------------------------------------------

namespace {

template <std::size_t N, std::size_t M>
void copy_text(char (&to)[N], const char (&from)[M]) {
    static_assert(N >= M);
    std::memcpy(to, from, M);
    to[N - 1] = '\0';
}

}  // namespace

// The chain and connection of the handshake that just ended, into the target's TlsFacts record:
// a full handshake brings the presented chain; a resumed one the chain of the full handshake
// behind its session (the client keeps it). A handshake that failed before any certificate
// arrived (a refused version, an alert, a stall) leaves the last record alone except for the
// counters. A memcpy of fixed arrays: nothing allocated or formatted.
void Worker::publish_tls(Slot& s, const TlsClient& c, Reason r, std::uint64_t now) {
    const tls::CertFacts& f = c.facts();
    const bool presented = f.presented > 0;
    // The target's counts: an FQDN target's addresses share its one record.
    std::uint32_t& full = s.name == no_name ? s.tls_full : names_[s.name].tls_full;
    std::uint32_t& resumed = s.name == no_name ? s.tls_resumed : names_[s.name].tls_resumed;
    if (c.handshake_done()) {
        if (f.resumed) {
            resumed += 1;
            bump(counters_.tls_resumed);
        } else {
            full += 1;
            bump(counters_.tls_full);
        }
    }
    if (writer_ == nullptr || (!presented && !c.handshake_done())) {
        return;
    }
    const std::uint32_t slot = writer_->tls_slot(s.plan_index);
    if (slot == abi::kNoSlot) {
        return;
    }
    abi::TlsFactsPayload p{};
    p.captured_unix_ns = wall_.to_unix_ns(now);
    p.presented = f.presented;
    p.chain_count = static_cast<std::uint8_t>(
        std::min<std::size_t>({f.presented, tls::chain_facts_max, abi::kChainRecords}));
    p.sni_sent = c.sni_sent() ? 1 : 0;
    p.handshake_ok = c.handshake_done() && reason_info(r).layer != Layer::L6 ? 1 : 0;
    p.verify_error = f.verify_error;
    p.earliest_not_after_s = f.earliest_not_after_s;
    p.full_handshakes = full;
    p.resumed_handshakes = resumed;
    copy_text(p.protocol, f.protocol);
    copy_text(p.cipher, f.cipher);
    copy_text(p.anchor, f.anchor);
    for (std::size_t i = 0; i < p.chain_count; ++i) {
        const tls::CertInfo& from = f.chain[i];
        abi::CertRecord& to = p.chain[i];
        copy_text(to.subject, from.subject);
        copy_text(to.issuer, from.issuer);
        copy_text(to.common_name, from.common_name);
        copy_text(to.sans, from.sans);
        to.not_before_s = from.not_before_s;
        to.not_after_s = from.not_after_s;
        std::memcpy(to.sha256, from.sha256.data(), sizeof to.sha256);
        to.is_ca = from.is_ca ? 1 : 0;
        to.self_issued = from.self_issued ? 1 : 0;
    }
    writer_->publish_tls_facts(slot, p);
}

// ---- DNS ------------------------------------------------------------------------------------
//
// An FQDN target owns kAddressesPerName slots. The resolver tells the worker (poll, once per
// loop turn) when a name's addresses or outcome changed; reconcile() then gives each new address
// a free slot (first probe within min(interval, 1 s)) and retires slots whose address left the
// answer (a probe in flight finishes first). Each address is a host with its own health; the
// row's health is the aggregate (ringprobe.dnsAggregation, docs/dns.md).

void Worker::on_dns(dns::NameId id, const dns::NameState& st, std::uint64_t now) {
    auto it = std::lower_bound(name_lookup_.begin(), name_lookup_.end(),
                               std::pair<dns::NameId, std::uint32_t>{id, 0});
    for (; it != name_lookup_.end() && it->first == id; ++it) {
        NameSlot& n = names_[it->second];
        n.state = st;
        n.have_state = true;
        bump(counters_.dns_updates);
        reconcile(n, now);
        publish_name(n);
        aggregate(n, nullptr, now);
    }
}

void Worker::reconcile(NameSlot& n, std::uint64_t now) {
    const dns::Verdict v = verdict_at(n.state, now);
    const bool probing = v.standing == dns::Standing::Fresh || v.standing == dns::Standing::Stale;
    const dns::AddressSet empty{};
    const dns::AddressSet& want = probing ? n.state.addresses : empty;
    Slot* const first = &slots_[n.first_slot];
    for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
        Slot& s = first[k];
        if (s.active && !want.contains(address_of(s.addr, s.addr_ok))) {
            s.active = false;
            if (s.state == State::Idle) {
                wheel_.cancel(s.timer);  // (if it waits in the deferred line it is skipped there)
                publish_address(s);      // the record goes empty
            }
        }
    }
    for (const dns::Address& a : want.view()) {
        bool have = false;
        Slot* free = nullptr;
        for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
            Slot& s = first[k];
            if (s.active && address_of(s.addr, s.addr_ok) == a) {
                have = true;
                break;
            }
            if (free == nullptr && !s.active && s.state == State::Idle) {
                free = &s;
            }
        }
        if (!have && free != nullptr) {
            activate(n, *free, a, now);
        }
        // No free slot: every slot holds an address or finishes a probe of one that left; the
        // finishing probe calls reconcile() again.
    }
}

void Worker::activate(NameSlot& n, Slot& s, const dns::Address& a, std::uint64_t now) {
    const Target& t = plan_.targets[n.plan_index];
    std::memset(&s.addr, 0, sizeof s.addr);
    if (a.family == 4) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&s.addr);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(t.port);
        std::memcpy(&v4->sin_addr, a.bytes.data(), 4);
        s.addr_len = sizeof(sockaddr_in);
    } else {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&s.addr);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(t.port);
        std::memcpy(&v6->sin6_addr, a.bytes.data(), 16);
        s.addr_len = sizeof(sockaddr_in6);
    }
    s.addr_ok = true;
    s.active = true;
    s.since_ns = now;
    s.health = HealthState{};
    s.last_reason = Reason::Pending;
    s.http_status = 0;
    s.sys_errno = 0;
    s.start_ns = s.done_ns = s.connected_ns = s.first_byte_ns = s.tls_done_ns = 0;
    s.last_probe_ns = 0;
    s.last_change_ns = 0;
    s.total_probes = s.total_ok = s.total_fail = s.total_prober = 0;
    const std::size_t idx = static_cast<std::size_t>(&s - slots_.data());
    if (!tls_sessions_.empty() && tls_sessions_[idx] != nullptr) {
        tls_sessions_[idx]->clear();  // another server now: no session to resume
    }
    // First probe within min(interval, 1 s), at a phase of its own so that the addresses of a
    // name, and the names resolved together, do not all start in the same tick.
    const std::uint64_t window = std::max<std::uint64_t>(
        std::min<std::uint64_t>(ms_to_ns(t.interval_ms), 1'000'000'000ull), tick_ns);
    s.base_ns = now + mix64(t.identity_hash ^ (std::uint64_t{s.addr_k} << 56) ^ a.bytes[3] ^
                            (std::uint64_t{a.bytes[15]} << 8)) % window;
    s.base_ns = on_start_grid(s.base_ns);
    s.next_ns = on_grid(s.base_ns);
    wheel_.schedule(s.timer, ns_to_tick_ceil(s.next_ns));
    publish_address(s);
}

void Worker::publish_address(const Slot& s) {
    if (writer_ == nullptr) {
        return;
    }
    const NameSlot& n = names_[s.name];
    if (n.report_slot == abi::kNoSlot) {
        return;
    }
    abi::AddressStatePayload p{};
    if (s.active) {
        const dns::Address a = address_of(s.addr, s.addr_ok);
        p.family = a.family;
        p.health = static_cast<std::uint8_t>(s.health.health);
        p.reason = static_cast<std::uint16_t>(s.last_reason);
        p.http_status = s.http_status;
        std::memcpy(p.address, a.bytes.data(), sizeof p.address);
        p.sys_errno = s.sys_errno;
        p.latency_us = us_between(s.start_ns, s.done_ns);
        p.consecutive_ok = s.health.consecutive_ok;
        p.consecutive_fail = s.health.consecutive_fail;
        p.since_unix_ns = wall_.to_unix_ns(s.since_ns);
        p.last_probe_unix_ns = s.last_probe_ns == 0 ? 0 : wall_.to_unix_ns(s.last_probe_ns);
        p.last_change_unix_ns = s.last_change_ns == 0 ? 0 : wall_.to_unix_ns(s.last_change_ns);
        p.total_probes = s.total_probes;
        p.total_fail = s.total_fail;
    }
    writer_->publish_address(n.report_slot, s.addr_k, p);
}

void Worker::publish_name(const NameSlot& n) {
    if (writer_ == nullptr || n.report_slot == abi::kNoSlot) {
        return;
    }
    const dns::NameState& st = n.state;
    const dns::Verdict v = verdict_at(st, monotonic_ns());
    abi::NameStatePayload p{};
    p.standing = static_cast<std::uint8_t>(v.standing);
    p.last_outcome = static_cast<std::uint8_t>(st.last_outcome);
    p.address_count = static_cast<std::uint8_t>(
        v.standing == dns::Standing::Fresh || v.standing == dns::Standing::Stale ? st.addresses.count
                                                                                 : 0);
    p.truncated = st.addresses.truncated != 0 ? 1 : 0;
    p.ttl_s = st.ttl_s;
    p.last_lookup_unix_ns = st.last_lookup_ns == 0 ? 0 : wall_.to_unix_ns(st.last_lookup_ns);
    p.last_good_unix_ns = st.last_good_ns == 0 ? 0 : wall_.to_unix_ns(st.last_good_ns);
    p.next_lookup_unix_ns = st.next_refresh_ns == 0 ? 0 : wall_.to_unix_ns(st.next_refresh_ns);
    p.lookups = st.lookups;
    p.generation = st.generation;
    writer_->publish_name(n.report_slot, p);
}

// The row of an FQDN target: its name's standing, then its addresses' health by the target's
// aggregation rule. `latest`: the address slot whose probe just ended (its timings go in the
// row), or nullptr after a DNS change.
void Worker::aggregate(NameSlot& n, const Slot* latest, std::uint64_t now) {
    const Target& t = plan_.targets[n.plan_index];
    const dns::Verdict v = n.have_state ? verdict_at(n.state, now) : dns::Verdict{};
    Health health = Health::Unknown;
    Reason reason = Reason::Pending;
    const Slot* decider = latest;
    std::uint32_t count = 0, healthy = 0, unhealthy = 0;
    const Slot* first_unhealthy = nullptr;
    const Slot* first_healthy = nullptr;
    switch (v.standing) {
        case dns::Standing::Pending:
            break;
        case dns::Standing::NeverResolved:
        case dns::Standing::NoAddress:
            health = v.health;
            reason = v.reason;
            decider = nullptr;
            break;
        case dns::Standing::Fresh:
        case dns::Standing::Stale: {
            const Slot* first = &slots_[n.first_slot];
            for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
                const Slot& s = first[k];
                if (!s.active) {
                    continue;
                }
                count += 1;
                if (s.health.health == Health::Healthy) {
                    healthy += 1;
                    first_healthy = first_healthy != nullptr ? first_healthy : &s;
                } else if (s.health.health == Health::Unhealthy) {
                    unhealthy += 1;
                    first_unhealthy = first_unhealthy != nullptr ? first_unhealthy : &s;
                }
            }
            const bool all = t.dns_aggregation == DnsAggregation::All;
            if (count == 0) {
                health = Health::Unknown;  // addresses are being swapped in
            } else if (all ? unhealthy > 0 : healthy == 0 && unhealthy == count) {
                health = Health::Unhealthy;
                decider = first_unhealthy;
                reason = first_unhealthy->last_reason;
            } else if (all ? healthy == count : healthy > 0) {
                health = Health::Healthy;
                reason = Reason::Ok;
                decider = latest != nullptr && latest->active ? latest : first_healthy;
            }
            break;
        }
    }
    std::uint8_t flags = static_cast<std::uint8_t>(n.flags & abi::kStateCertExpiring);
    if (v.standing == dns::Standing::Stale) {
        flags |= abi::kStateDnsStale;
    }
    if (health != n.health.health) {
        bump(counters_.transitions);
        transitions_.push(Transition{n.plan_index, n.health.health, health, reason,
                                     decider != nullptr ? decider->http_status : std::uint16_t{0},
                                     wall_.to_unix_ns(now)});
        n.health.health = health;
        n.last_change_ns = now;
    }
    n.reason = reason;
    // The detail: formatted again only when what it says changes.
    const std::uint64_t key = (std::uint64_t{static_cast<std::uint8_t>(v.standing)} << 56) ^
                              (std::uint64_t{static_cast<std::uint8_t>(v.last_outcome)} << 48) ^
                              (std::uint64_t{count} << 40) ^ (std::uint64_t{healthy} << 32) ^
                              (std::uint64_t{unhealthy} << 24) ^
                              (std::uint64_t{static_cast<std::uint16_t>(reason)} << 8) ^
                              (first_unhealthy != nullptr ? first_unhealthy->addr_k + 1u : 0u) ^
                              (std::uint64_t{n.state.generation} << 12);
    if (key != n.detail_key) {
        n.detail_key = key;
        const std::string_view outcome = dns::outcome_info(v.last_outcome).code;
        std::array<char, dns::address_text_max> text{};
        int len = 0;
        switch (v.standing) {
            case dns::Standing::Pending:
                len = std::snprintf(n.detail, sizeof n.detail, "dns: waiting for the first answer");
                break;
            case dns::Standing::NeverResolved:
                len = std::snprintf(n.detail, sizeof n.detail,
                                    "dns: %.*s, the name has never resolved",
                                    static_cast<int>(outcome.size()), outcome.data());
                break;
            case dns::Standing::NoAddress:
                len = std::snprintf(n.detail, sizeof n.detail,
                                    "dns: no address left (last lookup: %.*s)",
                                    static_cast<int>(outcome.size()), outcome.data());
                break;
            case dns::Standing::Fresh:
            case dns::Standing::Stale: {
                len = std::snprintf(n.detail, sizeof n.detail, "%s%u address%s, %u healthy",
                                    v.standing == dns::Standing::Stale ? "dns stale, last good answer kept; " : "",
                                    count, count == 1 ? "" : "es", healthy);
                if (first_unhealthy != nullptr && len > 0 &&
                    static_cast<std::size_t>(len) < sizeof n.detail) {
                    dns::format_address(address_of(first_unhealthy->addr, first_unhealthy->addr_ok), text);
                    const std::string_view code = reason_info(first_unhealthy->last_reason).code;
                    len += std::snprintf(n.detail + len, sizeof n.detail - static_cast<std::size_t>(len),
                                         "; %s %.*s", text.data(), static_cast<int>(code.size()),
                                         code.data());
                }
                break;
            }
        }
        n.detail_len = len < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(len), sizeof n.detail - 1);
    }
    if (writer_ == nullptr) {
        return;
    }
    report::TargetUpdate u{};
    u.health = health;
    u.flags = flags;
    u.reason = reason;
    if (decider != nullptr) {
        u.http_status = decider->http_status;
        u.sys_errno = decider->sys_errno;
        u.latency_us = us_between(decider->start_ns, decider->done_ns);
        u.connect_us = us_between(decider->start_ns, decider->connected_ns);
        u.tls_us = us_between(decider->start_ns, decider->tls_done_ns);
        u.first_byte_us = us_between(decider->start_ns, decider->first_byte_ns);
        u.consecutive_ok = decider->health.consecutive_ok;
        u.consecutive_fail = decider->health.consecutive_fail;
    }
    const Slot* last = latest != nullptr ? latest : decider;
    u.last_probe_unix_ns = last != nullptr && last->last_probe_ns != 0
                               ? wall_.to_unix_ns(last->last_probe_ns) : 0;
    u.last_change_unix_ns = n.last_change_ns == 0 ? 0 : wall_.to_unix_ns(n.last_change_ns);
    u.next_probe_unix_ns = last != nullptr && last->active ? wall_.to_unix_ns(last->next_ns) : 0;
    u.total_probes = n.total_probes;
    u.total_ok = n.total_ok;
    u.total_fail = n.total_fail;
    u.total_prober_errors = n.total_prober;
    u.detail = std::string_view(n.detail, n.detail_len);
    writer_->publish(n.plan_index, u);
}

}  // namespace ringprobe::engine
