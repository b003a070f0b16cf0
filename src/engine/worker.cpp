// Stage: the worker itself. Its memory laid out from the shard when it is made, its ring and
// buffers set up on its own thread (init), the loop and its turns (run: sleep until the next
// instant, reap every completion, then the wheel, then the start line), and the stop (drain).
// The stages a probe goes through are in their own files beside this one: schedule.cpp,
// socket_budget.cpp, probe_start.cpp, probe_io.cpp, tls_probe.cpp, name_slots.cpp and
// publish.cpp, with the receive buffers (receive_buffers.hpp), the errno tables
// (errno_reason.hpp) and the per-target state (probe_slot.hpp). One Worker class defined over
// several files rather than components with interfaces of their own: the stages share the
// slots and the ring on every call, and a member call is what the one file made them.
#include "engine/worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <string>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "engine/probe_slot.hpp"
#include "engine/user_data.hpp"

namespace ringprobe::engine {

namespace {

bool parse_address(const std::string& text, std::uint16_t port, sockaddr_in6& out, socklen_t& len) {
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

}  // namespace

Worker::Worker(const Plan& plan, std::vector<std::uint32_t> shard, report::Writer* writer,
               WorkerOptions opt, const TlsContexts* tls, WorkerDns dns)
    : plan_(&plan),
      writer_(writer),
      opt_(opt),
      targets_owned_(shard.size()),
      dns_(dns),
      tls_(tls),
      wheel_(ns_to_tick_floor(monotonic_ns())) {
    quantum_ns_ = std::max(tick_ns, ms_to_ns(plan_->quantum_ms));
    RP_ASSERT(quantum_ns_ % tick_ns == 0);
    RP_ASSERT(opt_.recv_buffer_size >= 512);
    lay_out_slots(shard);
    size_turns();
    slots_storage_ = std::make_unique<Slot[]>(shard_.size());
    slots_ = std::span<Slot>(slots_storage_.get(), shard_.size());
    parsers_.resize(shard_.size());
    deferred_.resize(shard_.size());
    kept_.reserve(shard_.size());
    make_tls_pool();
    budget_ = opt_.max_in_flight;
    rng_ = mix64(0x5eed0000u + opt_.index) | 1;
    wall_ = WallClock::now();
    prepare_slots();
}

// One slot per target (an FQDN target's is its name's own slot, with a NameSlot for the name),
// then the shared address pool the names' other addresses draw from.
// In the order of the targets' first phases, so that the targets of one start instant are
// neighbours in memory (see schedule_first_probes).
void Worker::lay_out_slots(const std::vector<std::uint32_t>& shard) {
    std::vector<std::pair<std::uint64_t, std::uint32_t>> by_phase;
    by_phase.reserve(shard.size());
    for (std::uint32_t t : shard) {
        const Target& target = plan_->targets[t];
        by_phase.emplace_back(start_phase_ns(target, first_spread_ns(target)), t);
    }
    std::sort(by_phase.begin(), by_phase.end());
    for (const auto& [phase, t] : by_phase) {
        const bool fqdn = plan_->targets[t].is_fqdn && dns_.resolver != nullptr;
        if (fqdn) {
            NameSlot n;
            n.plan_index = t;
            n.own_slot = static_cast<std::uint32_t>(shard_.size());
            n.report_slot = writer_ != nullptr ? writer_->name_slot(t) : abi::kNoSlot;
            const std::uint32_t id = (*dns_.name_of_target)[t];
            RP_ASSERT(id != no_name);
            name_lookup_.emplace_back(id, static_cast<std::uint32_t>(names_.size()));
            names_.push_back(n);
        }
        shard_.push_back(t);
    }
    std::sort(name_lookup_.begin(), name_lookup_.end());
    pool_target_ = address_pool_for(names_.size());
    pool_slots_ = pool_target_;
    for (std::size_t i = 0; i < pool_slots_; ++i) {
        shard_.push_back(names_.front().plan_index);  // none of its own (prepare_pool_slot)
    }
}

// The receive buffers and the turn's starts and chunks, from the options or the shard.
void Worker::size_turns() {
    if (opt_.recv_buffers == 0) {
        opt_.recv_buffers = receive_buffers_for(shard_.size(), plan_->start_batch);
    }
    RP_ASSERT((opt_.recv_buffers & (opt_.recv_buffers - 1)) == 0);
    if (opt_.turn_starts == 0) {
        opt_.turn_starts = std::max(opt_.recv_buffers, min_turn_starts);
    }
    if (opt_.turn_chunk == 0 || opt_.turn_chunk > opt_.turn_starts) {
        opt_.turn_chunk = opt_.turn_starts;  // off unless asked: see Worker::turn_full
    }
    chunk_end_ = opt_.turn_chunk;
}

void Worker::make_tls_pool() {
    if (tls_ != nullptr) {
        const unsigned n = std::min<unsigned>(opt_.tls_clients, 0xFFFE);
        for (unsigned i = 0; i < n; ++i) {
            tls_pool_.push_back(std::make_unique<TlsClient>());
            tls_free_.push_back(static_cast<std::uint16_t>(n - 1 - i));
        }
        plaintext_ = std::make_unique<char[]>(plaintext_bytes);
    }
}

// Each slot's address, TLS session and body matcher; an FQDN target's slots wait for DNS to
// give them an address.
void Worker::prepare_slots() {
    const std::size_t pool_first = shard_.size() - pool_slots_;
    for (std::size_t i = 0; i < pool_first; ++i) {
        init_slot(i, shard_[i]);
    }
    for (std::uint32_t n = 0; n < names_.size(); ++n) {
        Slot& s = slots_[names_[n].own_slot];
        s.name = n;
        s.active = false;  // until DNS gives it an address
        names_[n].matcher = s.matcher;
    }
    pool_free_.reserve(pool_slots_);
    const bool tls = names_use_tls();
    for (std::size_t i = shard_.size(); i > pool_first; --i) {
        prepare_pool_slot(static_cast<std::uint32_t>(i - 1), tls);
        pool_free_.push_back(static_cast<std::uint32_t>(i - 1));
    }
}

// A free slot of the address pool: no target's, never scheduled; with `tls` (some name probes
// over TLS), a TLS session ready for whichever TLS name draws it (drawing must not allocate).
void Worker::prepare_pool_slot(std::uint32_t i, bool tls) {
    Slot& s = slots_[i];
    RP_ASSERT(!wheel_.scheduled(s.timer));
    RP_ASSERT(s.state == State::Idle);
    const std::uint32_t generation = s.generation;
    s = Slot{};
    s.generation = generation + 1;
    s.retired = true;
    s.active = false;
    if (tls) {
        if (tls_sessions_.size() < slots_.size()) {
            tls_sessions_.resize(slots_.size());
        }
        if (tls_sessions_[i] == nullptr) {
            tls_sessions_[i] = std::make_unique<TlsSession>();
        }
    }
}

bool Worker::names_use_tls() const {
    for (const NameSlot& n : names_) {
        if (!n.retired && protocol_is_tls(plan_->targets[n.plan_index].protocol)) {
            return true;
        }
    }
    return false;
}

const BodyMatcher* Worker::matcher_for(const Target& t) {
    if (t.match_body.empty()) {
        return nullptr;
    }
    auto it = matcher_by_needle_.find(t.match_body);
    if (it == matcher_by_needle_.end()) {
        matchers_.push_back(std::make_unique<BodyMatcher>(t.match_body));
        it = matcher_by_needle_.emplace(matchers_.back()->needle(), matchers_.back().get()).first;
    }
    return it->second;
}

// A slot made ready for a target: fresh state (the generation goes on, so a completion of
// the slot's previous use is stale), its address, TLS session and body matcher (one matcher
// per distinct needle).
void Worker::init_slot(std::size_t i, std::uint32_t target) {
    const Target& t = plan_->targets[target];
    Slot& s = slots_[i];
    RP_ASSERT(!wheel_.scheduled(s.timer));
    RP_ASSERT(s.state == State::Idle);
    const std::uint32_t generation = s.generation;
    s = Slot{};
    s.generation = generation + 1;
    s.plan_index = target;
    shard_[i] = target;
    if (!(t.is_fqdn && dns_.resolver != nullptr)) {
        s.addr_ok = parse_address(t.address, t.port, s.addr, s.addr_len);
    }
    if (protocol_is_tls(t.protocol)) {
        RP_ASSERT(tls_ != nullptr);
        if (tls_sessions_.size() < slots_.size()) {
            tls_sessions_.resize(slots_.size());
        }
        tls_sessions_[i] = std::make_unique<TlsSession>();
    } else if (i < tls_sessions_.size()) {
        tls_sessions_[i].reset();
    }
    s.matcher = matcher_for(t);
}

Worker::~Worker() {
    if (stamp_keeper_fd_ >= 0) {
        ::close(stamp_keeper_fd_);
    }
    for (Slot& s : slots_) {
        if (s.fd >= 0 && !s.direct) {  // direct sockets go with the ring
            ::close(s.fd);
        }
    }
}

unsigned Worker::receive_buffers_for(std::size_t slots, std::uint32_t start_batch) {
    // At least as many as a turn may start (min_turn_starts): with fewer, a worker behind its
    // schedule starts more probes a turn than it has buffers for their answers, and receives
    // wait for buffers (128 buffers against 256 starts a turn at 1,000 targets: hundreds to
    // thousands of receives without a buffer a max-rate step; with 256, none in most steps:
    // bench/harness/results/HISTORY.md, "Receive buffers at least as many as a turn's starts").
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
           pool_free_.capacity() * sizeof(std::uint32_t) +
           std::size_t{opt_.recv_buffers} * opt_.recv_buffer_size + recv_buffers_.ring_bytes() +
           free_files_.capacity() * sizeof(std::uint32_t);
}

Result<void> Worker::init() {
    pin_to_cpu();
    if (auto r = ring_.init(opt_.ring_entries); !r) {
        return r;
    }
    if (auto r = recv_buffers_.init(ring_, opt_.recv_buffers, opt_.recv_buffer_size); !r) {
        return r;
    }
    mode_ = ring_.mode();
    if (opt_.direct_sockets) {
        set_up_direct_sockets();
    }

    const bool socket_options = ring_.sets_socket_options();
    rx_stamps_ = opt_.receive_stamps && socket_options;
    rx_iov_ = iovec{nullptr, opt_.recv_buffer_size};
    if (rx_stamps_) {
        keep_rx_stamps_on();
    }
    delay_ack_ = opt_.delayed_ack && socket_options;
    if (delay_ack_) {
        mode_ += "+delayed-ack";
    }

    schedule_first_probes();
    return {};
}

// The kernel stamps received packets only while some socket asks for it, and turning that on
// or off patches its code (a static key: 1.5 ms of one submission here, with a single probe's
// socket the only one asking). One socket of the worker's own asks from start to stop, so a
// probe's SO_TIMESTAMPNS is only a count.
void Worker::keep_rx_stamps_on() {
    stamp_keeper_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    if (stamp_keeper_fd_ < 0 ||
        ::setsockopt(stamp_keeper_fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0) {
        rx_stamps_ = false;  // phases are then stamped at reap time
    }
}

void Worker::pin_to_cpu() const {
    if (opt_.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt_.cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);  // best effort
    }
}

void Worker::run(const std::atomic<bool>& stop) {
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
        unsigned wait_nr = 1;
        const std::uint64_t wake_ns = next_wake(now, wait_nr);
        const bool late = ring_.submit_and_wait_until(wake_ns, wait_nr);
        now = turn(monotonic_ns(), late);
    }
    drain(1'000'000'000ull);
    store_gauges();
}

void Worker::store_gauges() {
    counters_.in_flight.store(in_flight_, std::memory_order_relaxed);
    counters_.direct_files_held.store(files_registered_ - free_files_.size(),
                                      std::memory_order_relaxed);
    counters_.kept_connections.store(kept_.size(), std::memory_order_relaxed);
}

// The instant the next wait ends, and how many completions may end it sooner (wait_nr).
std::uint64_t Worker::next_wake(std::uint64_t now, unsigned& wait_nr) {
    constexpr std::uint64_t max_sleep_ns = 50'000'000;  // notice stop within 50 ms
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
    return wake_ns;
}

// One turn after the wait: completions, DNS notices, waiting receives, the start line, the
// wheel, the start line again and the turn's later chunks; returns the time it ends at.
std::uint64_t Worker::turn(std::uint64_t now, bool late) {
    auto slot_of = [](TimerNode& n) -> Slot& {
        return *reinterpret_cast<Slot*>(reinterpret_cast<char*>(&n) - offsetof(Slot, timer));
    };
    bump(counters_.loops);
    if (WorkerReload* r = reload_.load(std::memory_order_acquire); r != nullptr) [[unlikely]] {
        apply_reload(*r, now);
        reload_.store(nullptr, std::memory_order_relaxed);
        r->done.store(true, std::memory_order_release);
    }
    started_this_turn_ = 0;
    chunk_end_ = opt_.turn_chunk;
    reap(now, late);
    if (dns_.resolver != nullptr) {
        // Names whose answer changed: lock-free, allocation-free, bounded per turn.
        dns_.resolver->poll(opt_.index,
                            [&](dns::NameId id, const dns::NameState& st) { on_dns(id, st, now); });
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
    now = send_chunks(now);
    store_gauges();
    if (now - stats_published_ns_ >= 250'000'000) {
        publish_stats(now);
    }
    return now;
}

std::uint64_t Worker::send_chunks(std::uint64_t now) {
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
    return now;
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

void Worker::drain(std::uint64_t budget_ns) {
    // Stop: every probe in flight is cancelled and its socket shut down (which also completes
    // anything a cancel could not catch: the wheel, whose guard timer would otherwise do that,
    // no longer turns), then completions are reaped until nothing names a slot and every close
    // on the ring has run (so the counts of descriptors and file table entries held are back
    // to zero), within budget. Idle kept connections are closed first, at once.
    while (!kept_.empty()) {
        Slot& s = slots_[kept_.back()];
        unkeep(s);
        release_now(s);
    }
    for (Slot& s : slots_) {
        wheel_.cancel(s.timer);
        if (s.state != State::Idle && s.fd >= 0) {
            queue_cancel(s);
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
    auto holding = [&] {
        return in_flight_ > 0 || fds_held_ > 0 || free_files_.size() < files_registered_;
    };
    while (holding() && monotonic_ns() < until) {
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

}  // namespace ringprobe::engine
