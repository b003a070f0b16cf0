#include "engine/engine.hpp"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "common/text.hpp"

namespace ringprobe::engine {

unsigned shard_of(const Target& t, unsigned workers) {
    RP_ASSERT(workers > 0);
    return static_cast<unsigned>(mix64(t.identity_hash ^ 0x5ca1ab1eULL) % workers);
}

Engine::Engine(const Plan& plan, EngineOptions opt) : plan_(&plan), opt_(std::move(opt)) {
    if (opt_.workers == 0) {
        const long n = sysconf(_SC_NPROCESSORS_ONLN);
        opt_.workers = n > 0 ? static_cast<unsigned>(n) : 1;
    }
    // The report has a fixed table of worker slots; more workers than that is a usage error
    // the command line already refuses.
    opt_.workers = std::min<unsigned>(opt_.workers, report_abi::kMaxWorkers);
    index_rows();
}

void Engine::index_rows() {
    rows_of_target_.assign(plan_->targets.size(), {});
    for (std::uint32_t r = 0; r < plan_->rows.size(); ++r) {
        rows_of_target_[plan_->rows[r].target_index].push_back(r);
    }
}

Engine::~Engine() {
    stop();
}

Result<void> Engine::start() {
    if (auto r = set_up_tls(); !r) {
        return r;
    }
    auto w = report::Writer::create(*plan_, opt_.name);
    if (!w) {
        return error("cannot create the report segment: " + w.error().message);
    }
    writer_ = std::make_unique<report::Writer>(std::move(w.value()));
    writer_->heartbeat(realtime_ns());
    if (auto r = watch_names(); !r) {
        return r;
    }
    make_workers();
    if (auto r = start_threads(); !r) {
        return r;
    }
    say_capacity(0);
    return {};
}

Result<void> Engine::set_up_tls() {
    return build_tls(*plan_, tls_);
}

Result<void> Engine::build_tls(const Plan& plan, std::unique_ptr<TlsContexts>& out) {
    bool any_tls = false;
    for (const Target& t : plan.targets) {
        any_tls = any_tls || protocol_is_tls(t.protocol);
    }
    if (!any_tls) {
        return {};
    }
    auto contexts = TlsContexts::build(plan);
    if (!contexts) {
        return error("cannot set up TLS: " + contexts.error().message);
    }
    out = std::make_unique<TlsContexts>(std::move(contexts.value()));
    return {};
}

Result<void> Engine::watch_names() {
    // FQDN backends: one resolver thread; each name watched for the worker that owns it.
    name_of_target_->assign(plan_->targets.size(), WorkerDns::no_name);
    for (std::uint32_t i = 0; i < plan_->targets.size(); ++i) {
        if (!plan_->targets[i].is_fqdn || !plan_->targets[i].owned) {
            continue;
        }
        if (resolver_ == nullptr) {
            resolver_ = std::make_unique<dns::Resolver>(resolver_options());
        }
        const Target& t = plan_->targets[i];
        const unsigned worker = shard_of(t, opt_.workers);
        (*name_of_target_)[i] = resolver_->watch(t.address, worker);
        watched_.emplace_back((*name_of_target_)[i], worker);
    }
    std::sort(watched_.begin(), watched_.end());
    watched_.erase(std::unique(watched_.begin(), watched_.end()), watched_.end());
    if (resolver_ != nullptr) {
        if (auto r = resolver_->start(); !r) {
            return error("cannot start DNS resolution: " + r.error().message);
        }
    }
    return {};
}

dns::ResolverOptions Engine::resolver_options() const {
    dns::ResolverOptions ro;
    ro.server = opt_.dns_server;
    ro.family = opt_.dns_family;
    ro.timeout_ms = opt_.dns_timeout_ms;
    ro.tries = opt_.dns_tries;
    ro.workers = opt_.workers;
    return ro;
}

std::size_t Engine::socket_budget() const {
    // What the descriptor limit leaves after a reserve for everything that is not a probe
    // (rings, report, exporter, logs); the workers split it evenly.
    if (opt_.max_in_flight != 0) {
        return opt_.max_in_flight;
    }
    rlimit rl{};
    const std::size_t limit =
        getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 1u << 20;
    const std::size_t reserve = descriptor_reserve();
    return limit > reserve * 2 ? limit - reserve : limit / 2;
}

std::size_t Engine::descriptor_reserve() const {
    return 128 + 8 * opt_.workers;
}

void Engine::make_workers() {
    std::vector<std::vector<std::uint32_t>> shards(opt_.workers);
    for (std::uint32_t i = 0; i < plan_->targets.size(); ++i) {
        if (plan_->targets[i].owned) {
            shards[shard_of(plan_->targets[i], opt_.workers)].push_back(i);
        }
    }
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const std::size_t budget = socket_budget();
    // Start the first interval a little ahead so every worker is ready before its first probe.
    const std::uint64_t start_ns = monotonic_ns() + 20'000'000;
    for (unsigned i = 0; i < opt_.workers; ++i) {
        WorkerOptions wo;
        wo.index = i;
        wo.cpu = opt_.pin && cpus > 0 ? static_cast<int>(i % static_cast<unsigned>(cpus)) : -1;
        wo.ring_entries = opt_.ring_entries;
        wo.recv_buffers = opt_.recv_buffers;
        wo.turn_starts = opt_.turn_starts;
        wo.turn_chunk = opt_.turn_chunk;
        wo.start_mono_ns = start_ns;
        wo.max_in_flight = std::max<std::size_t>(1, budget / opt_.workers);
        wo.direct_sockets = opt_.direct_sockets;
        wo.delayed_ack = opt_.delayed_ack;
        wo.cancel_on_verdict = opt_.cancel_on_verdict;
        wo.receive_stamps = opt_.receive_stamps;
        WorkerDns wd;
        wd.resolver = resolver_.get();
        wd.name_of_target = name_of_target_.get();
        workers_.push_back(std::make_unique<Worker>(*plan_, std::move(shards[i]), writer_.get(), wo,
                                                    tls_.get(), wd));
    }
}

Result<void> Engine::start_threads() {
    // Each worker creates its own ring on its own thread (SINGLE_ISSUER), then reports back.
    std::mutex mu;
    std::condition_variable cv;
    unsigned ready = 0;
    std::string first_error;
    for (auto& worker : workers_) {
        Worker* wp = worker.get();
        threads_.emplace_back([this, wp, &mu, &cv, &ready, &first_error] {
            Result<void> r = wp->init();
            {
                // Notify while holding the lock: start_threads() owns mu and cv on its stack and
                // may return (destroying them) as soon as it can take the lock after the count.
                std::lock_guard<std::mutex> lock(mu);
                if (!r && first_error.empty()) {
                    first_error = r.error().message;
                }
                ready += 1;
                cv.notify_all();
            }
            if (r) {
                wp->run(stop_);
            }
            tls::thread_cleanup();  // wolfSSL's per-thread caches
        });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return ready == workers_.size(); });
    if (!first_error.empty()) {
        lock.unlock();
        stop();
        return error(first_error);
    }
    ring_mode_ = workers_.empty() ? "" : workers_.front()->ring_mode();
    return {};
}

bool Engine::workers_advanced() {
    loops_seen_.resize(workers_.size(), 0);
    bool all = true;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        const std::uint64_t loops = workers_[i]->counters().loops.load(std::memory_order_relaxed);
        all = all && loops != loops_seen_[i];
        loops_seen_[i] = loops;
    }
    return all;
}

void Engine::tick(std::uint64_t budget_ns) {
    writer_->heartbeat(realtime_ns());
    log_transitions();
    publish_resolver_stats();
    recheck_capacity();
    free_retired();
    if (budget_ns > 0) {
        timespec ts{static_cast<time_t>(budget_ns / 1'000'000'000ull),
                    static_cast<long>(budget_ns % 1'000'000'000ull)};
        nanosleep(&ts, nullptr);
    }
}

void Engine::log_transitions() {
    Transition t;
    for (auto& w : workers_) {
        while (w->pop_transition(t)) {
            if (opt_.log == nullptr) {
                continue;
            }
            char when[utc_text_max];
            const auto secs = static_cast<std::int64_t>(t.at_unix_ns / 1'000'000'000ull);
            const int when_len = static_cast<int>(format_utc(secs, when)) - 1;  // without the Z
            const unsigned ms = static_cast<unsigned>((t.at_unix_ns / 1'000'000ull) % 1000);
            // Said under the plan a reload is replacing, or under the one in force.
            const bool old_plan = t.epoch != epoch_;
            RP_ASSERT(!old_plan || prev_plan_ != nullptr);
            const Plan& plan = old_plan ? *prev_plan_ : *plan_;
            const auto& rows_of_target = old_plan ? prev_rows_ : rows_of_target_;
            for (std::uint32_t r : rows_of_target[t.target]) {
                const Row& row = plan.rows[r];
                const Pool& pool = plan.pools[row.pool_index];
                const Setting& setting = plan.settings[row.setting_index];
                const Server& server = pool.servers[row.server_index];
                std::fprintf(opt_.log,
                             "time=%.*s.%03uZ pool=%s setting=%s server=%s old=%s new=%s "
                             "reason=%s status=%u\n",
                             when_len, when, ms, pool.name.c_str(), setting.name.c_str(),
                             server.address.c_str(), health_name(t.from).data(),
                             health_name(t.to).data(), reason_info(t.reason).code.data(),
                             static_cast<unsigned>(t.http_status));
            }
        }
    }
    if (opt_.log != nullptr) {
        std::fflush(opt_.log);
    }
}

void Engine::publish_resolver_stats() {
    if (resolver_ == nullptr || writer_ == nullptr) {
        return;
    }
    const std::uint64_t now = monotonic_ns();
    if (now - resolver_published_ns_ < 250'000'000ull) {
        return;
    }
    resolver_published_ns_ = now;
    const dns::ResolverStats s = resolver_->stats();
    report::ResolverStats r{};
    r.names = resolver_->name_count();
    r.lookups_started = s.lookups_started;
    r.lookups_done = s.lookups_done;
    static_assert(std::size(r.by_outcome) == std::tuple_size_v<decltype(s.by_outcome)>);
    for (std::size_t i = 0; i < s.by_outcome.size(); ++i) {
        r.by_outcome[i] = s.by_outcome[i];
    }
    r.inflight_peak = s.inflight_peak;
    r.notices_dropped = s.notices_dropped;
    r.updated_unix_ns = realtime_ns();
    writer_->publish_resolver_stats(r);
}

void Engine::stop() {
    if (stopped_) {
        return;
    }
    stopped_ = true;
    stop_.store(true, std::memory_order_relaxed);
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
    if (resolver_ != nullptr) {
        resolver_->stop();  // after the workers: they read its table until they stop
        resolver_published_ns_ = 0;
        publish_resolver_stats();
    }
    if (writer_) {
        log_transitions();
        writer_->mark_stopped();
    }
}

// --- capacity ---
void Engine::say_capacity(std::uint32_t probe_ms) {
    // Refilled in place: after the first call a re-check of the same plan allocates nothing.
    capacity_shards_.resize(plan_->targets.size());
    for (std::uint32_t i = 0; i < plan_->targets.size(); ++i) {
        capacity_shards_[i] = shard_of(plan_->targets[i], opt_.workers);
    }
    rlimit rl{};
    const bool limited = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
    CapacityInputs in;
    in.workers = opt_.workers;
    in.worker_of_target = capacity_shards_;
    in.sockets_per_worker = std::max<std::size_t>(1, socket_budget() / opt_.workers);
    in.nofile_limit = limited ? rl.rlim_cur : 0;
    in.descriptor_reserve = descriptor_reserve();
    in.probe_ms = probe_ms;
    const bool was_short = capacity_.short_of_capacity();
    capacity_ = check_capacity(*plan_, in);
    capacity_checked_ns_ = monotonic_ns();

    writer_->publish_capacity(capacity_payload(capacity_, realtime_ns()));

    // One line when the shortfall is first found, one when it is gone: the figures of every
    // check are in the report header and /metrics.
    if (opt_.warn == nullptr) {
        return;
    }
    if (capacity_.short_of_capacity() && !capacity_said_) {
        std::fprintf(opt_.warn, "ringprobe: warning: %s\n", capacity_message(capacity_).c_str());
        capacity_said_ = true;
    } else if (!capacity_.short_of_capacity() && was_short && capacity_said_) {
        std::fprintf(opt_.warn,
                     "ringprobe: capacity enough: with probes taking %u ms, worker %u needs %u of "
                     "its %zu sockets\n",
                     capacity_.probe_ms, capacity_.busiest_worker, capacity_.in_flight_needed,
                     static_cast<std::size_t>(capacity_.sockets_per_worker));
        capacity_said_ = false;
    }
    std::fflush(opt_.warn);
}

void Engine::recheck_capacity() {
    // The mean probe time since the last check, from the workers' duration histograms (at least
    // 100 probes, so a handful of slow first connects does not decide it).
    if (monotonic_ns() - capacity_checked_ns_ < capacity_recheck_ns) {
        return;
    }
    const EngineTotals t = totals();
    double sum_us = 0;
    std::uint64_t n = 0;
    for (unsigned b = 0; b < Histogram::buckets; ++b) {
        const std::uint64_t d = t.duration_us[b] - capacity_durations_[b];
        n += d;
        const double mid = (static_cast<double>(Histogram::lower_bound(b)) +
                            static_cast<double>(Histogram::upper_bound(b))) /
                           2;
        sum_us += static_cast<double>(d) * mid;
    }
    if (n < 100) {
        capacity_checked_ns_ = monotonic_ns();
        return;
    }
    capacity_durations_ = t.duration_us;
    const double mean_ms = sum_us / static_cast<double>(n) / 1000.0;
    say_capacity(static_cast<std::uint32_t>(std::clamp(std::ceil(mean_ms), 1.0, 4.0e9)));
}
// --- end capacity ---

EngineTotals Engine::totals() const {
    EngineTotals t;
    for (const auto& w : workers_) {
        add_worker(t, w->counters(), w->ring_stats());
    }
    if (resolver_ != nullptr) {
        t.dns = resolver_->stats();
    }
    return t;
}

std::size_t Engine::memory_bytes() const {
    std::size_t n = 0;
    for (const auto& w : workers_) {
        n += w->memory_bytes();
    }
    return n;
}

}  // namespace ringprobe::engine
