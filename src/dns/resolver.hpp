// Resolver: resolves the plan's FQDNs on its own thread and hands the results to the probe
// workers without a lock, an allocation or a syscall on their side.
//
// Thread model (docs/dns.md):
//   - the resolver thread owns one c-ares channel, one epoll instance watching c-ares's sockets
//     (through ARES_OPT_SOCK_STATE_CB) plus an eventfd for stop, and a min-heap of refresh
//     deadlines. It waits in epoll_wait until the earliest of c-ares's own timeout and the next
//     refresh, so it sleeps when there is nothing to do;
//   - every name has one record in a table, written only by the resolver thread through a
//     seqlock whose payload is copied as 64-bit atomic words (any thread may read it);
//   - every worker has a bounded SPSC queue of name ids whose addresses or outcome changed. If
//     a queue is full the resolver sets that worker's resync flag instead, and the worker's
//     next poll() re-reads every name of the table (the worker skips those it does not hold):
//     a notice can be late by one loop turn, never lost;
//   - the engine's main thread changes which workers watch which names at any time (a reload)
//     through a bounded SPSC queue of commands to the resolver thread, the same kind of queue
//     the notices travel in. It makes a name's id and record itself, before any worker can
//     hear of them, in chunks that never move, so a worker reads a record without a lock
//     while the table grows. A name no worker watches any more is not looked up again; its id
//     and record stay (a later watch of the same name gets them back), so the table grows only
//     with the distinct names ever watched.
//
// Engine usage:
//   Resolver r(options);                      // start-up, main thread
//   NameId id = r.watch("api.example.com", worker_index);   // at plan time, per FQDN target
//   r.start();                                // first lookups go out at once, concurrently
//   ... in worker i's loop, once per turn:
//   r.poll(i, [&](NameId id, const NameState& s) { ... diff s.addresses, verdict(s, now) ... });
//   ... a reload, main thread: id = r.id_of(name); r.watch(id, w) before the worker uses it,
//   r.unwatch(id, w) once it no longer does;
//   ... r.stop() before the workers' memory goes away (also done by the destructor).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "common/spsc_queue.hpp"
#include "dns/policy.hpp"
#include "dns/stats.hpp"

struct ares_addrinfo;

namespace ringprobe::dns {

using NameId = std::uint32_t;

enum class Family : std::uint8_t {
    Any = 0,  // A and AAAA; both kinds are kept and probed (IPv4 listed first)
    V4 = 1,   // A only
    V6 = 2,   // AAAA only
};

struct ResolverOptions {
    // "ADDR:PORT" ("127.0.0.5:5353", "[::1]:53"): ask only this server, and do not read
    // /etc/hosts (the engine's --dns-server; tests use it). Empty: /etc/hosts, then the servers,
    // search list and options of /etc/resolv.conf, as c-ares reads them.
    std::string server;
    Family family = Family::Any;
    std::uint32_t timeout_ms = 0;  // per try; 0: resolv.conf's (c-ares default 5 s)
    std::uint32_t tries = 0;       // 0: resolv.conf's attempts (c-ares default 4)
    // Lookups outstanding at once. 64 measured best against a local dnsmasq (bench/dns_bench):
    // more only overflows the server's socket buffer, and every lost datagram costs a timeout.
    std::uint32_t inflight_max = 64;
    // A lookup unanswered for this long is presumed lost or slow (a dead upstream, a timeout
    // under way) and stops counting against inflight_max, so names that time out do not hold
    // back the others; c-ares keeps waiting for it with its own timeout and tries. Lookups
    // outstanding in all are bounded by inflight_total_max.
    std::uint64_t young_ns = 250'000'000;
    std::uint32_t inflight_total_max = 4096;
    std::size_t workers = 1;
    PolicyConfig policy;
};

class Resolver {
public:
    static constexpr std::size_t notice_queue_size = 1024;
    static constexpr std::size_t command_queue_size = 1024;
    // Records come in chunks of chunk_names that never move; at most chunks_max of them.
    static constexpr std::size_t chunk_names = 256;
    static constexpr std::size_t chunks_max = 4096;
    static constexpr std::size_t names_max = chunk_names * chunks_max;

    explicit Resolver(ResolverOptions options);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Main thread, any time. The name's id (the same FQDN gives the same id, compared
    // case-insensitively, a trailing dot ignored), its record made if the name is new; nobody
    // is subscribed by this alone and nothing is looked up. At most names_max distinct names.
    NameId id_of(std::string_view fqdn);
    // Main thread, any time. Subscribes `worker` to the name: its lookups start (at once for a
    // name nobody watched) and its changes reach the worker's poll(). Watching twice is once.
    void watch(NameId id, std::size_t worker);
    NameId watch(std::string_view fqdn, std::size_t worker) {
        const NameId id = id_of(fqdn);
        watch(id, worker);
        return id;
    }
    // Main thread, any time. The worker no longer hears of the name; once no worker watches it,
    // it is not looked up again (an answer on its way is dropped). Unwatching twice is once.
    void unwatch(NameId id, std::size_t worker);

    // Initialises c-ares, sizes the resolver thread's tables from the watched names, starts the
    // thread. Errors (bad --dns-server, c-ares initialisation) are returned for main to report.
    Result<void> start();
    // Wakes the thread, cancels outstanding lookups, joins. Idempotent.
    void stop();

    // Worker side. Calls f(NameId, const NameState&) for each of the worker's names whose
    // addresses or outcome changed since the last poll, or, after a resync, for every name in
    // the table (the worker ignores the ones it does not hold). Returns how many it delivered.
    // Lock-free, allocation-free, bounded by the table.
    template <typename F>
    std::size_t poll(std::size_t worker, F&& f);

    // Any thread, for an id it was given: a consistent copy of a name's current state. False
    // only when the writer kept the record busy through every bounded retry (then `out` is
    // untouched).
    bool read(NameId id, NameState& out) const;
    std::uint64_t version(NameId id) const;

    // Main thread: the name as watched, the names some worker watches now, counters.
    std::string_view name(NameId id) const;
    std::size_t name_count() const { return live_names_; }
    ResolverStats stats() const;

    // Tests and operators: look every watched name up again now (SIGHUP-like). Any thread.
    void refresh_all();

private:
    struct Record;
    struct Chunk;
    struct Inbox;
    struct Loop;
    struct Command {
        enum class Op : std::uint8_t { Watch, Unwatch };
        Op op = Op::Watch;
        std::uint16_t worker = 0;
        NameId id = 0;
    };

    const Record& record(NameId id) const;
    Record& record(NameId id);
    const std::string& text_of(NameId id) const;  // any thread, for an id it was given
    bool read_record(const Record& rec, NameState& out) const;
    void send(const Command& c);
    // Resolver thread only.
    void run();
    void take_commands(std::uint64_t now_ns);
    void grow_loop(NameId id);
    void launch_due(std::uint64_t now_ns);
    void age_lookups(std::uint64_t now_ns);
    int wait_ms(std::uint64_t now_ns) const;
    void requeue_all(std::uint64_t now_ns);
    void publish(NameId id, const NameState& state);
    void notify(NameId id);
    static void on_answer(void* arg, int status, int timeouts, ares_addrinfo* info);
    void finish_lookup(NameId id, const Answer& answer);

    ResolverOptions options_;
    // Main thread only: names by canonical form, and who watches each (the resolver thread has
    // its own copy, kept by the commands).
    std::unordered_map<std::string, NameId> index_;
    std::vector<std::vector<std::uint16_t>> subscribers_;
    std::size_t live_names_ = 0;
    // Written by the main thread (a chunk, before any id in it is handed out), read by all.
    std::unique_ptr<std::atomic<Chunk*>[]> chunks_;
    std::atomic<std::uint32_t> names_made_{0};
    std::unique_ptr<Inbox[]> inboxes_;
    std::unique_ptr<SpscQueue<Command, command_queue_size>> commands_;
    std::unique_ptr<Loop> loop_;
    std::thread thread_;
};

// ---- implementation details the template needs ----

// One name's published state: a seqlock over NameState copied as 64-bit atomic words.
struct Resolver::Record {
    static constexpr std::size_t words = sizeof(NameState) / 8;
    alignas(64) std::atomic<std::uint64_t> seq{0};
    std::array<std::atomic<std::uint64_t>, words> payload{};
};

// The names' records and their canonical text: written once (text by the main thread before
// the id is handed out; records by the resolver thread), never moved.
struct Resolver::Chunk {
    std::array<Record, chunk_names> records;
    std::array<std::string, chunk_names> fqdn;
};

struct Resolver::Inbox {
    SpscQueue<NameId, notice_queue_size> notices;
    alignas(64) std::atomic<bool> resync{false};
};

inline const Resolver::Record& Resolver::record(NameId id) const {
    const Chunk* c = chunks_[id / chunk_names].load(std::memory_order_acquire);
    return c->records[id % chunk_names];
}

inline Resolver::Record& Resolver::record(NameId id) {
    Chunk* c = chunks_[id / chunk_names].load(std::memory_order_acquire);
    return c->records[id % chunk_names];
}

template <typename F>
std::size_t Resolver::poll(std::size_t worker, F&& f) {
    Inbox& inbox = inboxes_[worker];
    NameState state;
    std::size_t delivered = 0;
    if (inbox.resync.exchange(false, std::memory_order_acq_rel)) {
        const NameId made = names_made_.load(std::memory_order_acquire);
        for (NameId id = 0; id < made; ++id) {
            if (read(id, state)) {
                f(id, static_cast<const NameState&>(state));
                ++delivered;
            }
        }
    }
    // Bounded: at most one queue's worth per turn, so a busy resolver cannot hold a worker.
    NameId id = 0;
    for (std::size_t i = 0; i < notice_queue_size && inbox.notices.pop(id); ++i) {
        if (read(id, state)) {
            f(id, static_cast<const NameState&>(state));
            ++delivered;
        } else {
            inbox.resync.store(true, std::memory_order_release);
        }
    }
    return delivered;
}

}  // namespace ringprobe::dns
