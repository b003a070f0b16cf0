// Proves "no allocation on the probe path": the real engine, in this process, probes the real
// fleet (HTTP, a mix of healthy, failing and hanging backends so every path of the probe state
// machine runs), and after a warm-up this binary's own malloc counts every heap allocation in
// the process for several seconds. The claim is that the count stays at zero while probes run,
// for Http with graceful close and, in a second test, for Tcp, closePolicy reset, an FQDN target,
// starts deferred by the socket budget and a transition log that writes.
//
// Counting works by interposing malloc/calloc/realloc/free/aligned allocation in this
// executable (forwarding to glibc's __libc_* functions); operator new ends in malloc. It is not
// built under sanitizers, which interpose the same symbols themselves.
#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/engine.hpp"
#include "support/engine_harness.hpp"
#include "support/fleet_process.hpp"
#include "support/plan_builder.hpp"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_allocations{0};

inline void note() {
    if (g_counting.load(std::memory_order_relaxed)) {
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    }
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
    note();
    return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
    note();
    return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
    note();
    return __libc_realloc(p, n);
}
void free(void* p) {
    __libc_free(p);
}
void* memalign(size_t align, size_t n) {
    note();
    return __libc_memalign(align, n);
}
void* aligned_alloc(size_t align, size_t n) {
    note();
    return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
    note();
    void* p = __libc_memalign(align, n);
    if (p == nullptr) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}
}

namespace ringprobe {
namespace {

struct Counted {
    std::uint64_t probes = 0;
    std::uint64_t allocations = 0;
};

// Warms up for 500 ms (every path taken at least once), then counts the process's heap
// allocations over 3 s of steady state, heartbeats and the transition log included.
Counted count_steady_state(testing::EngineHarness& run) {
    for (int i = 0; i < 50; ++i) {
        run.engine().tick(10'000'000);
    }
    const std::uint64_t before = run.totals().probes_completed;
    g_allocations.store(0);
    g_counting.store(true);
    for (int i = 0; i < 300; ++i) {
        run.engine().tick(10'000'000);
    }
    g_counting.store(false);
    return {run.totals().probes_completed - before, g_allocations.load()};
}

TEST(EngineAlloc, SteadyStateProbingAllocatesNothing) {
    auto fleet = test::FleetProcess::start(R"({
      "default": {"kind": "http", "status": 200, "body": "ok ringprobe-marker"},
      "rules": [
        {"cidr": "127.1.40.0/28", "kind": "http", "status": 503},
        {"cidr": "127.1.40.16/28", "kind": "reset"},
        {"cidr": "127.1.40.32/28", "kind": "hang"},
        {"cidr": "127.1.40.48/28", "kind": "http", "status": 200, "chunked": true, "body": "no"}
      ]})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    for (unsigned i = 0; i < 256; ++i) {
        testing::add_target(plan, testing::TargetSpec{.address = "127.1.40." + std::to_string(i),
                                                      .port = fleet->port(),
                                                      .protocol = Protocol::Http,
                                                      .interval_ms = 50,
                                                      .timeout_ms = 40,
                                                      .match_body = "ringprobe-marker"});
    }
    testing::EngineHarness run(plan, testing::engine_options("alloc"));
    ASSERT_TRUE(run.start());
    const Counted c = count_steady_state(run);
    EXPECT_GT(c.probes, 5000u) << "too few probes ran to prove anything";
    EXPECT_EQ(c.allocations, 0u) << "heap allocations during " << c.probes << " probes";
    run.stop();
}

// The other paths of a probe: Tcp probes (no HTTP exchange), closePolicy reset (socket() and
// its linger option instead of a direct socket), an FQDN target (its address slots, resolver
// notices; "localhost" needs no DNS server), starts deferred by a socket budget far below the
// targets in flight, and the transition log writing a line for each change of a flapping
// backend (healthy and unhealthy after one probe each, so it changes every other probe).
TEST(EngineAlloc, TcpResetFqdnDeferredAndLoggedPathsAllocateNothing) {
    auto fleet = test::FleetProcess::start(R"({
      "default": {"kind": "http", "status": 200, "body": "ok"},
      "rules": [
        {"cidr": "127.1.42.0/28", "kind": "hang"},
        {"cidr": "127.1.42.16/28", "kind": "reset"},
        {"cidr": "127.1.42.32/28", "kind": "flap", "every": 1,
         "a": {"kind": "http"}, "b": {"kind": "http", "status": 503}}
      ]})");
    ASSERT_TRUE(fleet) << fleet.error().message;
    Plan plan;
    testing::add_target(plan, testing::TargetSpec{.address = "localhost",
                                                  .port = fleet->port(),
                                                  .protocol = Protocol::Http,
                                                  .interval_ms = 50,
                                                  .timeout_ms = 40});
    plan.pools[0].servers[0].is_fqdn = true;
    plan.targets[0].is_fqdn = true;
    for (unsigned i = 0; i < 64; ++i) {
        const std::string address = "127.1.42." + std::to_string(i);
        testing::add_target(plan, testing::TargetSpec{.address = address,
                                                      .port = fleet->port(),
                                                      .protocol = Protocol::Tcp,
                                                      .interval_ms = 50,
                                                      .timeout_ms = 40});
        testing::add_target(plan, testing::TargetSpec{.address = address,
                                                      .port = fleet->port(),
                                                      .protocol = Protocol::Http,
                                                      .interval_ms = 50,
                                                      .timeout_ms = 40,
                                                      .healthy = 1,
                                                      .unhealthy = 1,
                                                      .path = "/reset",  // not the Tcp target
                                                      .close = ClosePolicy::Reset});
    }
    std::FILE* log = std::fopen("/dev/null", "w");
    ASSERT_NE(log, nullptr);
    auto opt = testing::engine_options("alloc-paths");
    opt.log = log;
    opt.max_in_flight = 16;  // the hanging backends hold their sockets: the rest wait in line
    testing::EngineHarness run(plan, opt);
    ASSERT_TRUE(run.start());
    const engine::EngineTotals t0 = run.totals();
    const Counted c = count_steady_state(run);
    const engine::EngineTotals t1 = run.totals();
    run.stop();
    std::fclose(log);
    EXPECT_GT(c.probes, 2000u) << "too few probes ran to prove anything";
    EXPECT_GT(t1.deferred_starts, t0.deferred_starts) << "no start waited for the budget";
    EXPECT_GT(t1.transitions, t0.transitions + 100) << "the flapping backends did not flap";
    EXPECT_EQ(c.allocations, 0u) << "heap allocations during " << c.probes << " probes";
}

// The heap the engine takes at start-up against its own estimate (Engine::memory_bytes(), which
// `ringprobe run --stats` prints): 10,000 Tcp targets on one worker, the heap measured by glibc
// (mallinfo2: in use plus mmapped blocks) before the engine is built and once it runs, and the
// resident set besides. The estimate counts the slots, parsers, receive buffers and file table;
// it leaves out what the worker's other arrays, the report writer and the shard take, so it is
// below the measured heap: 401 against 481 bytes a target here, so 1.5 times the estimate bounds
// the heap with room for a libstdc++ or glibc that rounds differently, and catches a structure
// that grows per target without the estimate seeing it.
TEST(EngineMemory, TheEstimateIsWithinAFactorOfTheMeasuredHeap) {
    constexpr unsigned targets = 10000;
    Plan plan;
    for (unsigned i = 0; i < targets; ++i) {
        testing::add_target(
            plan, testing::TargetSpec{.address = "127.4." + std::to_string(i / 250) + "." +
                                                 std::to_string(1 + i % 250),
                                      .port = 9,
                                      .interval_ms = 3'600'000,
                                      .timeout_ms = 1000});
    }
    auto heap = [] {
        const struct mallinfo2 m = ::mallinfo2();
        return m.uordblks + m.hblkhd;
    };
    auto rss = [] {
        long pages = 0;
        long resident = 0;
        if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
            if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) {
                resident = 0;
            }
            std::fclose(f);
        }
        return static_cast<std::size_t>(resident) * static_cast<std::size_t>(::getpagesize());
    };
    const std::size_t heap_before = heap();
    const std::size_t rss_before = rss();
    auto opt = testing::engine_options("alloc-memory");
    opt.workers = 1;
    testing::EngineHarness run(plan, opt);
    ASSERT_TRUE(run.engine().start());  // the engine alone: the test's reader is not measured
    run.engine().tick(10'000'000);
    const std::size_t heap_used = heap() - heap_before;
    const std::size_t rss_used = rss() - rss_before;
    const std::size_t estimate = run.engine().memory_bytes();
    run.stop();
    std::printf(
        "%u targets: estimate %zu B (%zu a target), heap %zu B (%zu a target), "
        "resident %zu B (%zu a target)\n",
        targets, estimate, estimate / targets, heap_used, heap_used / targets, rss_used,
        rss_used / targets);
    EXPECT_LE(estimate, heap_used);
    EXPECT_LE(heap_used, estimate + estimate / 2);
}

}  // namespace
}  // namespace ringprobe
