// dns_bench: how long the resolver takes to resolve every name of a large plan at start-up, and
// that it does so concurrently. main() starts one dnsmasq on 127.0.0.2 (tests/support) whose
// hosts file holds 10,000 names (nNNNNN.test, one IPv4 address each, TTL 300 s so no refresh
// runs during a measurement). Each iteration builds a Resolver watching the first `names` of
// them (A and AAAA, as the engine will), starts it, and polls its counters every 200 µs:
//   start_ms    Resolver::start() itself (c-ares initialisation, table, thread),
//   first_ms    until the first name has an answer (what the first probe waits for),
//   half_ms     until half of them have one,
//   manual time until all of them have one,
//   inflight_peak  lookups outstanding at once (1 = serial),
//   failed      names whose first answer was not Ok (should be 0).
// The second argument is ResolverOptions::inflight_max: /1 is a serial resolver for comparison.
//
//   build-dns/bench/dns_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "bench_main.hpp"
#include "dns/resolver.hpp"
#include "support/dnsmasq_process.hpp"

namespace {

using ringprobe::dns::NameState;
using ringprobe::dns::Outcome;
using ringprobe::dns::Resolver;
using ringprobe::dns::ResolverOptions;
using Clock = std::chrono::steady_clock;

constexpr int names_max = 10000;
std::unique_ptr<ringprobe::test::DnsmasqProcess> g_dns;

std::string name_of(int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "n%05d.test", i);
    return buf;
}

std::string hosts_text() {
    std::string s;
    for (int i = 0; i < names_max; ++i) {
        s += "10." + std::to_string(i / 65536) + "." + std::to_string((i / 256) % 256) + "." +
             std::to_string(i % 256) + " " + name_of(i) + "\n";
    }
    return s;
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void BM_Dns_ResolveAtStart(benchmark::State& state) {
    const int names = static_cast<int>(state.range(0));
    ResolverOptions o;
    o.server = g_dns->server();
    o.timeout_ms = 1000;
    o.tries = 3;
    o.inflight_max = static_cast<std::uint32_t>(state.range(1));
    double start_ms = 0;
    double first_ms = 0;
    double half_ms = 0;
    double peak = 0;
    double failed = 0;
    for (auto _ : state) {
        Resolver r(o);
        for (int i = 0; i < names; ++i) {
            r.watch(name_of(i), 0);
        }
        const auto t0 = Clock::now();
        if (!r.start()) {
            state.SkipWithError("resolver did not start");
            return;
        }
        start_ms = ms_since(t0);
        first_ms = -1;
        half_ms = -1;
        const auto deadline = t0 + std::chrono::seconds(120);
        std::uint64_t answered = 0;
        while ((answered = r.stats().names_answered) < static_cast<std::uint64_t>(names) &&
               Clock::now() < deadline) {
            if (first_ms < 0 && answered > 0) {
                first_ms = ms_since(t0);
            }
            if (half_ms < 0 && answered >= static_cast<std::uint64_t>(names / 2)) {
                half_ms = ms_since(t0);
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        state.SetIterationTime(ms_since(t0) / 1000.0);
        if (answered < static_cast<std::uint64_t>(names)) {
            state.SkipWithError("not every name answered within 120 s");
            return;
        }
        peak = static_cast<double>(r.stats().inflight_peak);
        failed = 0;
        NameState s;
        for (int i = 0; i < names; ++i) {
            if (!r.read(static_cast<ringprobe::dns::NameId>(i), s) ||
                s.last_outcome != Outcome::Ok) {
                ++failed;
            }
        }
        r.stop();
    }
    state.counters["start_ms"] = start_ms;
    state.counters["first_ms"] = first_ms;
    state.counters["half_ms"] = half_ms;
    state.counters["inflight_peak"] = peak;
    state.counters["failed"] = failed;
    state.counters["names_per_s"] =
        benchmark::Counter(static_cast<double>(names) * static_cast<double>(state.iterations()),
                           benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Dns_ResolveAtStart)
    ->Args({1000, 64})
    ->Args({10000, 1})
    ->Args({10000, 16})
    ->Args({10000, 64})
    ->Args({10000, 256})
    ->Args({10000, 4096})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    ringprobe::test::DnsmasqOptions o;
    o.local_ttl_s = 300;
    auto dns = ringprobe::test::DnsmasqProcess::start(hosts_text(), o);
    if (!dns) {
        std::fprintf(stderr, "dns_bench: %s\n", dns.error().message.c_str());
        return 1;
    }
    g_dns = std::make_unique<ringprobe::test::DnsmasqProcess>(std::move(*dns));
    const int rc = ringprobe::bench::run_benchmarks("dns_bench", argc, argv);
    g_dns.reset();
    return rc;
}
