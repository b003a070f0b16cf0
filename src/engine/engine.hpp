// The engine: shards the plan's targets over workers, starts one pinned thread per worker,
// and keeps the main thread for what is not on the probe path: the report's heartbeat, the
// transition log (stderr, logfmt), signals and the clean stop.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "config/plan.hpp"
#include "engine/capacity.hpp"
#include "engine/counters.hpp"
#include "engine/worker.hpp"
#include "report/writer.hpp"

namespace ringprobe::engine {

struct EngineOptions {
    std::string name;      // report segment name
    unsigned workers = 0;  // 0: one per online CPU
    bool pin = true;
    unsigned ring_entries = 4096;
    unsigned recv_buffers = 0;  // provided receive buffers a worker (power of two); 0: sized
                                // from its shard (Worker::receive_buffers_for)
    unsigned turn_starts = 0;   // most probes a worker starts in one turn (WorkerOptions)
    unsigned turn_chunk = 0;    // a turn's starts a kernel entry (WorkerOptions)
    // Sockets all workers may hold at once; 0: derived from RLIMIT_NOFILE at start.
    std::size_t max_in_flight = 0;
    // Probe sockets as direct descriptors where the kernel has them (WorkerOptions).
    bool direct_sockets = true;
    // Plain HTTP probes send the handshake's last ACK with the request (WorkerOptions).
    bool delayed_ack = true;
    // A verdict cancels the probe's operations; false: tests of the guard timer (WorkerOptions).
    bool cancel_on_verdict = true;
    // Phases a receive ends are stamped with the kernel's receive time (WorkerOptions).
    bool receive_stamps = true;
    std::FILE* log = stderr;   // transition log; nullptr: silent
    std::FILE* warn = stderr;  // capacity warnings (shown with --quiet too); nullptr: silent
    // FQDN backends: "ADDR:PORT" asks only that DNS server (and skips /etc/hosts); empty: the
    // system's resolv.conf and /etc/hosts (docs/dns.md).
    std::string dns_server;
    dns::Family dns_family = dns::Family::Any;
    std::uint32_t dns_timeout_ms = 0;  // per try; 0: resolv.conf's
    std::uint32_t dns_tries = 0;       // 0: resolv.conf's
};

// Which worker owns a target: a stable hash of its identity, so a target keeps its worker
// across restarts with the same worker count.
unsigned shard_of(const Target& t, unsigned workers);

// Whether two targets send the same probe: the same identity and everything that decides a
// probe or its verdict (address, port, protocol, host, SNI, path, match, timing, thresholds,
// TLS options and trusted roots by content). A reload keeps such a target's state.
bool same_probe(const Plan& pa, const Target& a, const Plan& pb, const Target& b);

// What a reload did (Engine::reload).
struct ReloadSummary {
    bool unchanged = false;  // the same configuration (digest): nothing to do
    std::size_t kept = 0, added = 0, removed = 0;
    std::uint64_t generation = 0;  // the report's generation after it
    std::uint64_t took_ns = 0;
    std::string warning;  // set when the new report could not be renamed into place
};

class Engine {
public:
    // The plan must outlive the engine; plans given to reload() the engine owns.
    Engine(const Plan& plan, EngineOptions opt);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Creates the report segment and starts the workers; returns once every worker has set up
    // its ring (or the first failure, with every started worker stopped again).
    Result<void> start();
    // Main-thread duties for up to budget_ns: heartbeat and transition log. Call in a loop.
    void tick(std::uint64_t budget_ns);
    void stop();  // cancels in-flight probes, joins workers, marks the report stopped
    // Applies a new plan while the workers run (reload.cpp): unchanged targets keep their
    // state and schedule, removed ones stop, added ones start; the report is replaced by a
    // segment one generation on; FQDN targets' names are watched from then on (the resolver
    // started now if the engine had none), and names no target uses any more are not looked up
    // again. Main thread only. An error (a DNS resolver that cannot start, trust roots that
    // cannot be read, no room for the report) leaves everything as it was.
    // A refusal (this engine's or the caller's, a configuration that did not load) is published
    // in the report's lastReload with the error cut to report_abi::kReloadErrorBytes; so is
    // an applied reload, in the new segment.
    Result<ReloadSummary> reload(std::unique_ptr<Plan> next);
    void note_reload_refused(std::string_view error);
    std::uint64_t reloads_applied() const { return reloads_applied_; }
    std::uint64_t reloads_refused() const { return reloads_refused_; }
    const Plan& plan() const { return *plan_; }
    // Sums every worker's counters (relaxed reads of single-writer atomics: each counter is
    // whole, the set is not one instant). Any thread may call it while the engine runs.
    EngineTotals totals() const;
    std::size_t memory_bytes() const;
    // True when every worker's loop has turned since the previous call (an idle worker still
    // turns every 50 ms). The main thread's only: the service watchdog is fed by it, so that a
    // stuck worker is not hidden by a healthy main thread.
    bool workers_advanced();
    unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
    // The last capacity check (start, then every capacity_recheck_ns with the measured probe
    // time): what the plan needs against what the engine has.
    const CapacityCheck& capacity() const { return capacity_; }
    // Compares the plan's needs with the engine's means, publishes the figures in the report
    // header and logs one line with what to change when they fall short. probe_ms: the mean
    // probe time measured, 0 for each target's timeout. Called by start(); a reload calls it
    // for the new plan.
    void say_capacity(std::uint32_t probe_ms);
    static constexpr std::uint64_t capacity_recheck_ns = 10'000'000'000ull;
    const std::string& ring_mode() const { return ring_mode_; }
    report::Writer* writer() { return writer_.get(); }

private:
    using Watches = std::vector<std::pair<std::uint32_t, unsigned>>;  // (resolver id, worker)

    // start()'s steps, in order.
    Result<void> set_up_tls();
    static Result<void> build_tls(const Plan& plan, std::unique_ptr<TlsContexts>& out);
    Result<void> watch_names();
    dns::ResolverOptions resolver_options() const;
    std::size_t socket_budget() const;
    void make_workers();
    Result<void> start_threads();  // returns once every worker has set up its ring
    void log_transitions();
    std::size_t descriptor_reserve() const;
    void recheck_capacity();
    void index_rows();
    // reload.cpp
    Result<ReloadSummary> apply(std::unique_ptr<Plan> next);
    report_abi::ReloadPayload reload_record(std::uint64_t result, std::string_view error) const;
    Result<void> make_resolver();
    Result<void> resolve_names(const Plan& next, std::vector<std::uint32_t>& names, Watches& want);
    void hand_over(std::vector<std::unique_ptr<WorkerReload>>& parts);
    void retire_old(std::unique_ptr<Plan> next, std::unique_ptr<TlsContexts> tls,
                    std::unique_ptr<std::vector<std::uint32_t>> names);
    void free_retired();
    void publish_resolver_stats();

    const Plan* plan_;
    std::unique_ptr<Plan> owned_plan_;  // the plan in force once a reload applied one
    EngineOptions opt_;
    std::unique_ptr<report::Writer> writer_;
    std::unique_ptr<TlsContexts> tls_;         // only when the plan has Https or Tls targets
    std::unique_ptr<dns::Resolver> resolver_;  // only when the plan has FQDN targets
    // Resolver id per plan target, or no_name; the workers read it (WorkerDns).
    std::unique_ptr<std::vector<std::uint32_t>> name_of_target_ =
        std::make_unique<std::vector<std::uint32_t>>();
    // The (resolver id, worker) pairs the plan in force watches, sorted: a reload watches the
    // pairs its plan adds before the workers switch and unwatches those it drops after.
    Watches watched_;
    std::uint64_t resolver_published_ns_ = 0;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::vector<std::vector<std::uint32_t>> rows_of_target_;
    // Reloads: Transition::epoch of the plan in force; while a reload switches, the old plan
    // and its rows for the transitions said under it.
    std::uint32_t epoch_ = 0;
    const Plan* prev_plan_ = nullptr;
    std::vector<std::vector<std::uint32_t>> prev_rows_;
    struct Retired {  // what a reload replaced, kept until no probe can use it (retire_old)
        std::unique_ptr<Plan> plan;
        std::unique_ptr<TlsContexts> tls;
        std::unique_ptr<std::vector<std::uint32_t>> names;
        std::uint64_t free_after_ns = 0;
    };
    std::vector<Retired> retired_;
    std::uint64_t reloads_applied_ = 0;
    std::uint64_t reloads_refused_ = 0;
    std::string ring_mode_;
    std::vector<std::uint64_t> loops_seen_;  // workers_advanced()'s previous reading
    bool stopped_ = false;
    // --- capacity ---
    CapacityCheck capacity_;
    std::vector<std::uint32_t> capacity_shards_;  // the worker of each plan target
    bool capacity_said_ = false;                  // the last check's shortfall was logged
    std::uint64_t capacity_checked_ns_ = 0;
    std::array<std::uint64_t, Histogram::buckets> capacity_durations_{};  // at the last check
    // --- end capacity ---
};

}  // namespace ringprobe::engine
