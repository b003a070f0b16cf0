// A worker: one thread, pinned to one core, owning one io_uring, one timer wheel and one shard
// of the plan's targets, with all its memory sized when it starts. Nothing on its probe path
// locks, allocates or blocks; it shares nothing with other workers but the report rows of the
// targets it owns (one writer per row).
//
// The life of a probe (one per target at a time; see probe states below):
//   timer fires -> SOCKET (a direct descriptor; socket() where the kernel has none) -> linked
//   [SETSOCKOPT TCP_QUICKACK 0 for Http, hard-linked] -> CONNECT (linked SEND, linked RECV
//   for Http) -> RECV ... -> verdict -> cancel what is still
//   pending -> CLOSE -> health rules -> publish -> schedule next.
// Each target's single TimerNode means "start the next probe" while Idle and "deadline" while
// a probe is in flight: one absolute deadline covers every phase.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/histogram.hpp"
#include "common/result.hpp"
#include "common/spsc_queue.hpp"
#include "config/plan.hpp"
#include "dns/resolver.hpp"
#include "engine/counters.hpp"
#include "engine/health.hpp"
#include "engine/http_parser.hpp"
#include "engine/proxy_header.hpp"
#include "engine/receive_buffers.hpp"
#include "engine/ring.hpp"
#include "engine/timer_wheel.hpp"
#include "engine/tls.hpp"
#include "report/writer.hpp"

namespace ringprobe::engine {

using tls::ClientOptions;
using tls::Step;
using tls::StepKind;
using tls::TlsClient;
using tls::TlsContexts;
using tls::TlsSession;

struct Transition {
    std::uint32_t target = 0;  // plan target index
    Health from = Health::Unknown;
    Health to = Health::Unknown;
    Reason reason = Reason::Pending;
    std::uint16_t http_status = 0;
    std::uint64_t at_unix_ns = 0;
    std::uint32_t epoch = 0;  // the reload whose plan `target` indexes (WorkerReload::epoch)
};

struct WorkerOptions {
    unsigned index = 0;
    int cpu = -1;                  // pin to this CPU; -1: no pinning
    unsigned ring_entries = 4096;  // SQ size
    // Provided receive buffers (a power of two); 0: sized from the shard and the plan's
    // startBatch (Worker::receive_buffers_for).
    unsigned recv_buffers = 0;
    unsigned recv_buffer_size = 4096;
    // Most probes one turn starts; the rest wait for the next turn, oldest first (held). 0: the
    // receive buffers, and at least 256 (Worker::turn_full).
    unsigned turn_starts = 0;
    // A turn's starts go to the kernel this many at a time, the completions that came in
    // meanwhile reaped between chunks (Worker::turn_full). 0: off (turn_starts).
    unsigned turn_chunk = 0;
    std::uint64_t start_mono_ns = 0;             // the instant the first interval starts
    std::uint64_t retry_delay_ns = 250'000'000;  // after a prober-side error
    unsigned tls_clients = 256;  // TLS probes in flight at once (each client holds 48 KiB)
    // Most probes this worker keeps in flight (each holds a socket): the engine derives it from
    // the descriptor limit, so a fleet larger than the limit queues its probes instead of
    // failing them with EMFILE. 0: no limit.
    std::size_t max_in_flight = 0;
    // Probe sockets are direct descriptors (io_uring's own file table: no socket() system call,
    // no entry in the process's descriptor table) where the kernel offers them. false: socket()
    // for every probe, as on kernels without IORING_OP_SOCKET.
    bool direct_sockets = true;
    // Plain HTTP probes set TCP_QUICKACK 0 through the ring ahead of the connect where the
    // kernel has socket commands (6.7), so the handshake's last ACK goes out with the request,
    // as HAProxy's checks do. false: the ACK is its own packet.
    bool delayed_ack = true;
    // A verdict cancels what the probe still has in the kernel. false (tests only): it leaves
    // them to the probe's guard timer (on_timer's Finishing case), which forces the socket
    // down, the path of a cancel the kernel did not honour in time.
    bool cancel_on_verdict = true;
    // Receives carry the kernel's receive time (SO_TIMESTAMPNS), which stamps first byte, TLS
    // and total; false: every phase is stamped when its completion is reaped.
    bool receive_stamps = true;
};

// DNS: what the engine hands a worker that owns FQDN targets.
struct WorkerDns {
    dns::Resolver* resolver = nullptr;
    // Per plan target: the resolver's id of its name (watched for this worker), or no_name.
    const std::vector<std::uint32_t>* name_of_target = nullptr;
    static constexpr std::uint32_t no_name = 0xFFFFFFFFu;
};

// A reload's part for one worker, built by the engine's main thread (src/engine/reload.cpp) and
// picked up by the worker at the start of a loop turn (Worker::post_reload). Everything it
// points to outlives the worker's use of it: the engine frees nothing of it until `done`.
struct WorkerReload {
    static constexpr std::uint32_t gone = 0xFFFFFFFFu;
    const Plan* plan = nullptr;        // the new plan
    report::Writer* writer = nullptr;  // the new segment, prepared and not yet renamed
    const TlsContexts* tls = nullptr;  // the new plan's trust contexts (nullptr: no TLS target)
    const std::vector<std::uint32_t>* name_of_target = nullptr;  // per new target (WorkerDns)
    // Per old plan target: its index in the new plan when its probe is unchanged, else gone.
    const std::vector<std::uint32_t>* new_index_of_old = nullptr;
    std::vector<std::uint32_t> added;   // new plan targets this worker starts
    std::uint32_t epoch = 0;            // Transition::epoch from then on
    dns::Resolver* resolver = nullptr;  // the engine's; started by this reload if it had none
    std::atomic<bool> done{false};      // set by the worker once it runs the new plan
};

class Worker {
public:
    // tls: the plan's trust contexts (nullptr when the plan has no Https/Tls target).
    // An FQDN target gets one probe slot of its own; its other addresses draw slots from the
    // worker's shared address pool (address_pool_for).
    Worker(const Plan& plan, std::vector<std::uint32_t> shard, report::Writer* writer,
           WorkerOptions opt, const TlsContexts* tls = nullptr, WorkerDns dns = {});
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Sets up the ring and buffers on the calling thread (SINGLE_ISSUER: the thread that will
    // run the loop must be the one that creates the ring).
    Result<void> init();
    // Runs until stop is set; cancels and closes every in-flight probe before returning.
    void run(const std::atomic<bool>& stop);

    const WorkerCounters& counters() const { return counters_; }
    const RingStats& ring_stats() const { return ring_.stats(); }
    const std::string& ring_mode() const { return mode_; }
    std::size_t shard_size() const { return targets_owned_; }
    std::size_t memory_bytes() const;  // what this worker allocated at start, per component
    // How many provided buffers a worker with `slots` probe slots needs. A buffer is held only
    // from a receive's completion to the end of the loop turn that reaps it, so the need is the
    // answers that can land between two reaps: a start batch's (they arrive together), twice
    // over, or one per 64 slots for shards whose probes are spread out; at least as many as a
    // turn may start (min_turn_starts), at most 1024. Running short is not an error: the
    // receive comes back ENOBUFS and is asked again (counted in recv_no_buffer, never blamed
    // on the backend).
    static unsigned receive_buffers_for(std::size_t slots, std::uint32_t start_batch);
    // The fewest starts a turn is allowed (WorkerOptions::turn_starts' default is the receive
    // buffers, never fewer than this), and so the fewest receive buffers sized by default.
    static constexpr unsigned min_turn_starts = 256;
    // Where in its first spread (the interval, or the plan's startSpreadMs) a target's first
    // probe goes: a stable hash of its identity (schedule.cpp), in [0, spread_ns).
    static std::uint64_t start_phase_ns(const Target& t, std::uint64_t spread_ns);
    // The worker's shared pool of address slots for `names` FQDN targets: one per name, at
    // least address_pool_min (so that a small plan probes every address of a 16-address
    // answer). Each name also has a slot of its own, so a name with one address never draws
    // from it. Sized at start and at each reload (docs/dns.md, "Address slots").
    static constexpr std::size_t address_pool_min = 16;
    static std::size_t address_pool_for(std::size_t names) {
        return names == 0 ? 0 : std::max(address_pool_min, names);
    }
    bool pop_transition(Transition& t) { return transitions_.pop(t); }
    // Main thread: hands the worker its part of a reload; it applies it at the start of its
    // next loop turn and then sets r.done. One at a time: the engine waits for done.
    void post_reload(WorkerReload* r) { reload_.store(r, std::memory_order_release); }
    std::uint64_t transitions_dropped() const { return transitions_.dropped(); }

private:
    enum class State : std::uint8_t { Idle, Connecting, Exchanging, Finishing };

    struct Slot;      // per-target (per-address for FQDN targets) state, in probe_slot.hpp
    struct NameSlot;  // per FQDN target: the name's latest DNS state and the aggregate

    // The member functions are defined one file per stage of a probe's life; each group below
    // names its file.

    // worker.cpp: set-up, the loop and its turns, stop.
    void lay_out_slots(const std::vector<std::uint32_t>& shard);
    void init_slot(std::size_t i, std::uint32_t target);
    void size_turns();
    void make_tls_pool();
    void prepare_slots();
    void pin_to_cpu() const;
    void keep_rx_stamps_on();
    std::uint64_t next_wake(std::uint64_t now, unsigned& wait_nr);
    std::uint64_t turn(std::uint64_t now, bool late);
    std::uint64_t send_chunks(std::uint64_t now);
    void reap(std::uint64_t now, bool late);  // every completion there is, handled
    void reap_posted(std::uint64_t now);      // every completion posted, handled
    void drain(std::uint64_t budget_ns);

    // schedule.cpp: when probes start (start grid, phases, jitter, the deferred line, turns).
    void size_start_grid();
    void schedule_first_probes();
    // A target's first start: its stable phase (start_phase_ns) in its first spread (the
    // interval, or the plan's startSpreadMs), the first such instant at or after not_before_ns.
    void place_first_start(Slot& s, std::uint64_t not_before_ns);
    std::uint64_t first_spread_ns(const Target& t) const;
    std::uint64_t jitter_ns(const Target& t);
    void schedule_next(Slot& s, std::uint64_t now);
    void on_timer(Slot& s, std::uint64_t now);
    void enqueue_start(Slot& s);
    void defer(Slot& s);
    void hold(Slot& s);
    // The turn, or its chunk, has had its fill of starts (see schedule.cpp on turn sizes).
    // Inline: the start line and the loop ask it once per start.
    bool turn_full() const { return started_this_turn_ >= chunk_end_; }
    void start_deferred(std::uint64_t now);
    // The first quantum boundary at or after ns: where scheduled starts and deadlines go.
    std::uint64_t on_grid(std::uint64_t ns) const {
        return (ns + quantum_ns_ - 1) / quantum_ns_ * quantum_ns_;
    }
    // The first start-grid instant at or after ns (start_anchor_ns_ + whole start grids).
    std::uint64_t on_start_grid(std::uint64_t ns) const {
        if (ns <= start_anchor_ns_) {
            return start_anchor_ns_;
        }
        const std::uint64_t grids = (ns - start_anchor_ns_ + start_grid_ns_ - 1) / start_grid_ns_;
        return start_anchor_ns_ + grids * start_grid_ns_;
    }

    // socket_budget.cpp: where a probe's socket comes from, the budget, how sockets are let go
    // outside a probe's own close, and the file table of direct sockets.
    // The next probe of s uses a direct socket; a socket for it is free. Inline in
    // probe_slot.hpp: every start asks both.
    bool makes_direct(const Slot& s) const;
    bool has_room(const Slot& s) const;
    void out_of_descriptors(Slot& s, int err);
    // has_room, or made room by closing idle kept connections (reuse gives way to starts).
    bool make_room(const Slot& s);
    void keep_connection(Slot& s);
    void unkeep(Slot& s);
    void drop_kept(Slot& s);      // closes an idle kept connection through the ring
    void drop_kept_now(Slot& s);  // at once, to give its socket to a start
    void release_now(Slot& s);    // closes a probe's socket at once (stop, teardown)
    void force_down(Slot& s);
    void set_up_direct_sockets();

    // probe_start.cpp: a probe's start and the SQEs it and its exchange queue.
    void start_probe(Slot& s, std::uint64_t now);
    void start_reused(Slot& s, std::uint64_t now);
    void start_fresh_again(Slot& s, std::uint64_t now);
    void reset_attempt(Slot& s);
    void begin_attempt(Slot& s, std::uint64_t now);
    void queue_chain(Slot& s, const Target& t);
    void queue_recv(Slot& s);
    io_uring_sqe* prep_send(Slot& s, const char* data, std::size_t n);
    void queue_send(Slot& s, const char* data, std::size_t n);
    io_uring_sqe* queue_cancel(Slot& s);
    bool send_proxy_header(Slot& s, std::uint64_t now);

    // probe_io.cpp: completions, the verdict and the end of a probe.
    void on_cqe(std::uint64_t user_data, int res, unsigned flags, std::uint64_t now);
    void on_socket(Slot& s, int res, std::uint64_t now);
    void on_connect(Slot& s, int res, std::uint64_t now);
    void on_send(Slot& s, int res, std::uint64_t now);
    void on_recv(Slot& s, int res, unsigned flags, std::uint64_t now);
    void on_peek(Slot& s, int res, std::uint64_t now);
    bool stale_race(Slot& s, int err, std::uint64_t now);
    void resume_receives();
    void decide(Slot& s, Reason r, std::uint64_t now, std::int32_t err = 0);
    void maybe_finish(Slot& s, std::uint64_t now);
    void finish(Slot& s, std::uint64_t now);
    void close_socket(Slot& s);
    bool reuses_connection(const Slot& s) const;
    void count_result(Slot& s, Reason r, std::uint64_t now);
    void schedule_after(Slot& s, Reason r, std::uint64_t now);
    void prober_error(Slot& s, Reason r, int err, std::uint64_t now);

    // tls_probe.cpp: driving a TLS client over the ring, and what its handshake tells.
    bool tls_start(Slot& s, const Target& t);
    void tls_drive(Slot& s, std::uint64_t now);
    void on_plaintext(Slot& s, const char* data, std::size_t n, bool eof, std::uint64_t now);
    void tls_verdict(Slot& s, Reason r, std::uint64_t now, std::string_view& detail,
                     std::uint8_t& flags);
    void publish_tls(Slot& s, const TlsClient& c, Reason r, std::uint64_t now);
    void release_tls(Slot& s);

    // name_slots.cpp: FQDN targets, one slot per resolved address, and the row they make.
    void on_dns(dns::NameId id, const dns::NameState& st, std::uint64_t now);
    void reconcile(NameSlot& n, std::uint64_t now);
    bool take_slot(NameSlot& n, std::uint8_t k, std::uint32_t& slot);
    void release_address(NameSlot& n, Slot& s);
    void retry_short_names(std::uint64_t now);
    void prepare_pool_slot(std::uint32_t i, bool tls);
    bool names_use_tls() const;
    void size_address_pool(std::size_t names, bool tls);
    const BodyMatcher* matcher_for(const Target& t);
    void activate(NameSlot& n, Slot& s, const dns::Address& a, std::uint64_t now);
    void address_done(Slot& s, Reason r, std::uint8_t flags, std::uint64_t now);
    void publish_address(const Slot& s);
    void publish_name(const NameSlot& n);
    void aggregate(NameSlot& n, const Slot* latest, std::uint64_t now);
    NameHealth name_health_of(const NameSlot& n, const dns::Verdict& v, const Slot* latest) const;
    void describe_name(NameSlot& n, const dns::Verdict& v, const NameHealth& h,
                       const Slot* first_unhealthy);
    void publish_row(const NameSlot& n, const NameHealth& h, const Slot* decider,
                     const Slot* latest, std::uint8_t flags);

    // reload.cpp: a reload applied at a turn's start (kept slots follow their new target index,
    // removed ones stop, added ones take free or appended slots).
    void apply_reload(const WorkerReload& r, std::uint64_t now);
    void retire(Slot& s, std::uint64_t now);
    void keep_names(const WorkerReload& r, const report::Writer* old_writer, std::uint64_t now);
    void grow_slots(std::size_t extra);
    void add_target(std::uint32_t target, std::uint64_t now);
    void rebuild_start_line();

    // publish.cpp: an IP target's row and the worker's stats into the report.
    void publish(const Slot& s, std::string_view detail = {}, std::uint8_t flags = 0);
    void record_history(const Slot& s);  // the result just finished, into its row's history
    // A row's health changed: into the report's event log and the main thread's logfmt queue.
    void log_transition(const Transition& t, std::int32_t sys_errno);
    void publish_stats(std::uint64_t now);
    // The gauges a turn leaves behind: probes in flight, file table entries held.
    void store_gauges();

    const Plan* plan_;  // switched by a reload (apply_reload), never null
    report::Writer* writer_;
    WorkerOptions opt_;
    std::vector<std::uint32_t> shard_;  // plan target index of each slot
    std::size_t targets_owned_ = 0;
    WorkerDns dns_;
    std::vector<NameSlot> names_;  // one per FQDN target of the shard
    std::vector<std::pair<dns::NameId, std::uint32_t>> name_lookup_;  // sorted: id -> names_
    std::unique_ptr<Slot[]> slots_storage_;
    std::span<Slot> slots_;
    std::vector<HttpParser> parsers_;                     // one per slot (HTTP targets use theirs)
    std::vector<std::unique_ptr<BodyMatcher>> matchers_;  // one per distinct needle
    std::map<std::string_view, const BodyMatcher*, std::less<>> matcher_by_needle_;
    // TLS: one session per TLS target (resumption), a small pool of clients for the probes in
    // flight; a TLS target due while the pool is empty waits in the deferred line.
    const TlsContexts* tls_ = nullptr;
    std::vector<std::unique_ptr<TlsSession>> tls_sessions_;  // per slot; null when not TLS
    std::vector<std::unique_ptr<TlsClient>> tls_pool_;
    std::vector<std::uint16_t> tls_free_;
    std::unique_ptr<char[]> plaintext_;  // one buffer: plaintext is parsed as soon as it is read
    char proxy_header_[proxy_header_max] = {};  // one buffer: a header is sent as it is built
    Ring ring_;
    std::string mode_;  // the ring's setup, and "+direct-sockets" when they are in use
    TimerWheel wheel_;
    ReceiveBuffers recv_buffers_;  // after ring_: unmapped before the ring is torn down
    std::uint64_t rng_ = 0;
    std::size_t in_flight_ = 0;
    // The plan's quantumMs (at least one wheel tick): starts and deadlines fall on its
    // multiples, and while probes are in flight the worker wakes once per quantum to reap them.
    std::uint64_t quantum_ns_ = tick_ns;
    // Scheduled starts (without jitter) fall on start_anchor_ns_ + whole multiples of this:
    // whole quanta, as many as make about the plan's startBatch probes of this shard share a
    // start instant, at most 50 ms (or one quantum if that is longer) and dividing every
    // interval (else one quantum) (size_start_grid). The targets of an instant start in one
    // wake-up, and the backends' side is woken once for them.
    std::uint64_t start_grid_ns_ = tick_ns;
    std::uint64_t start_anchor_ns_ = 0;
    // Plain HTTP probes set TCP_QUICKACK 0 through the ring ahead of the connect (a kernel
    // with socket commands, 6.7): the handshake's last ACK goes out with the request.
    bool delay_ack_ = false;
    // Probes that receive set SO_TIMESTAMPNS through the ring (the same kernel feature) and
    // take their phases' times from the kernel's receive stamps (Slot::rx_msg).
    bool rx_stamps_ = false;
    iovec rx_iov_{};            // every receive's one iovec: no base (a provided buffer), its size
    int stamp_keeper_fd_ = -1;  // keeps the kernel's receive stamps on (keep_rx_stamps_on)
    // Descriptors from socket() that probes hold, in flight or with their close queued on the
    // ring and not yet done (direct sockets hold none).
    std::size_t fds_held_ = 0;
    // The descriptor budget in force: opt_.max_in_flight, lowered to what was really held when
    // socket() said EMFILE/ENFILE (descriptors held elsewhere in the process), raised back by
    // an eighth of the maximum every stats period (250 ms).
    std::size_t budget_ = 0;
    bool fd_starved_ = false;  // this loop turn's socket() said EMFILE: call it no more
    // Direct sockets (opt_.direct_sockets and a kernel with IORING_OP_SOCKET and fixed-file
    // cancels): the entries of the ring's file table not held by a probe or a queued close.
    // An empty list is a full budget, the prober's limit like any other; it sizes no more
    // entries than the descriptor budget allows sockets.
    bool direct_ = false;
    std::vector<std::uint32_t> free_files_;
    // Slots idle with a kept connection (Slot::kept_at), capacity for every slot: the first to
    // give way when a start finds no socket free (make_room).
    std::vector<std::uint32_t> kept_;
    char peek_byte_ = 0;  // where a kept connection's check reads a byte it then discards
    std::size_t files_registered_ = 0;  // the table's entries; less free_files_ are held
    std::uint64_t stats_published_ns_ = 0;
    // Targets due while the in-flight budget was used up, oldest first: a ring of slot indices
    // with room for the whole shard (a target is queued at most once: its timer is idle then).
    std::vector<std::uint32_t> deferred_;
    std::size_t deferred_head_ = 0;
    std::size_t deferred_count_ = 0;
    // Receives that found no provided buffer and wait for the turn's end (Slot::recv_parked),
    // and where resume_receives goes on from.
    std::size_t recv_parked_ = 0;
    std::size_t resume_cursor_ = 0;
    // Probes started in this turn: at opt_.turn_starts the turn's other starts wait (held).
    std::size_t started_this_turn_ = 0;
    // The turn's starts so far may go up to this; then the chunk goes to the kernel.
    std::size_t chunk_end_ = 0;
    WorkerCounters counters_;
    SpscQueue<Transition, 4096> transitions_;
    // Reloads (reload.cpp): the one posted and not yet applied, the epoch transitions carry,
    // and the slots of removed targets whose probes have ended, free for added ones.
    std::atomic<WorkerReload*> reload_{nullptr};
    std::uint32_t epoch_ = 0;
    std::vector<std::uint32_t> free_slots_;
    // The shared address pool (name_slots.cpp): its free slots (capacity for all of them, so
    // giving one back never allocates), how many it has in all (free and drawn), how many it
    // should have (address_pool_for; a drawn slot given back beyond that goes to free_slots_),
    // and the names short of a slot.
    std::vector<std::uint32_t> pool_free_;
    std::size_t pool_slots_ = 0;
    std::size_t pool_target_ = 0;
    std::size_t names_short_ = 0;
    bool pool_returned_ = false;             // a slot went back to the pool since retry_short_names
    std::vector<std::uint32_t> free_names_;  // names_ entries of removed names, for added ones
    WallClock wall_;
};

}  // namespace ringprobe::engine
