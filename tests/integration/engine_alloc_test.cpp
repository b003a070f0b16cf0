// Proves "no allocation on the probe path": the real engine, in this process, probes the real
// fleet (HTTP, a mix of healthy, failing and hanging backends so every path of the probe state
// machine runs), and after a warm-up this binary's own malloc counts every heap allocation in
// the process for several seconds. The claim is that the count stays at zero while probes run.
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
    for (int i = 0; i < 50; ++i) {  // warm-up: 500 ms, every path taken at least once
        run.engine().tick(10'000'000);
    }
    const std::uint64_t before = run.totals().probes_completed;
    g_counting.store(true);
    for (int i = 0; i < 300; ++i) {  // 3 s of steady state, heartbeats included
        run.engine().tick(10'000'000);
    }
    g_counting.store(false);
    const std::uint64_t probes = run.totals().probes_completed - before;
    EXPECT_GT(probes, 5000u) << "too few probes ran to prove anything";
    EXPECT_EQ(g_allocations.load(), 0u) << "heap allocations during " << probes << " probes";
    run.stop();
}

}  // namespace
}  // namespace ringprobe
