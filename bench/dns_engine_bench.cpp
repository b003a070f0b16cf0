// dns_engine_bench: the engine with N FQDN backends at start-up (issue #6: "10,000 names
// resolving at start-up; the first probes are not held back by resolution of other names").
//
// It starts one dnsmasq on 127.0.0.4 (tests/support) whose hosts file maps n00000.test ..
// to 127.2.x.y (TTL 300 s), builds a plan of N Tcp targets, one per name, on a port nothing
// listens on (every probe is a refused connect: a result, which is all this measures), starts
// the engine with --dns-server pointing at dnsmasq, and waits until every row has had a probe.
// Printed, from just before Engine::start(), all from the engine's own time stamps:
//   resolved_*   when the first, half and all names had an answer (the report's Names records),
//   probed_*     when the first, half and all rows had their first probe,
//   gap_ms       the median of (first probe - own name's answer) over the rows,
// A first probe follows its own name's answer (within min(interval, 1 s) by design, to spread
// the start) and does not wait for the other names: probed_first << resolved_all.
//
//   build-bench/bench/dns_engine_bench [N] [interval_ms] [slow_every]   (10000, 60000, 0)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/command_line.hpp"
#include "common/hash.hpp"
#include "engine/engine.hpp"
#include "report/reader.hpp"
#include "support/dnsmasq_process.hpp"
#include "support/engine_harness.hpp"

namespace {

using namespace ringprobe;
namespace command_line = ringprobe::command_line;
using Clock = std::chrono::steady_clock;

std::string name_of(int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "n%05d.test", i);
    return buf;
}

double pct(std::vector<double> v, double p) {
    if (v.empty()) {
        return -1;
    }
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// The three positional arguments, each optional. Returns command_line::kContinue to go on, else
// the exit status (0 after --help, 2 for bad usage).
int parse_args(int argc, char** argv, int& n, std::uint32_t& interval_ms, int& slow_every) {
    CLI::App app(
        "The engine with N FQDN backends at start-up: when names resolve and when rows\n"
        "have their first probe, from the engine's own time stamps.",
        "dns_engine_bench");
    command_line::configure(app);
    // name_of() writes five digits.
    command_line::add_number(app, "N", n, 1, 99999, "FQDN backends, one name each (10000)", "");
    command_line::add_number(app, "INTERVAL_MS", interval_ms, 1u, 86400000u,
                             "every target's probe interval (60000)", "");
    command_line::add_number(app, "SLOW_EVERY", slow_every, 0, 99999,
                             "every this-many-th name never answers (0: none)", "");
    return command_line::parse(app, argc, argv);
}

}  // namespace

int main(int argc, char** argv) {
    int n = 10000;
    std::uint32_t interval_ms = 60000;
    // Every `slow_every`-th name (0: none) lives under slow.test, which dnsmasq forwards to a
    // UDP socket of ours that never answers: those lookups time out (2 x 1 s), and the others
    // must not wait behind them.
    int slow_every = 0;
    if (int rc = parse_args(argc, argv, n, interval_ms, slow_every);
        rc != command_line::kContinue) {
        return rc;
    }
    const int sink = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sink_addr{};
    sink_addr.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.4", &sink_addr.sin_addr);
    socklen_t sink_len = sizeof sink_addr;
    if (sink < 0 || ::bind(sink, reinterpret_cast<sockaddr*>(&sink_addr), sizeof sink_addr) != 0 ||
        ::getsockname(sink, reinterpret_cast<sockaddr*>(&sink_addr), &sink_len) != 0) {
        std::perror("dns_engine_bench: sink socket");
        return 1;
    }
    auto is_slow = [&](int i) { return slow_every > 0 && i % slow_every == slow_every - 1; };
    auto target_name = [&](int i) {
        return is_slow(i) ? "s" + name_of(i).substr(1, 5) + ".slow.test" : name_of(i);
    };
    std::string hosts;
    for (int i = 0; i < n; ++i) {
        hosts += "127.2." + std::to_string((i / 250) % 250) + "." + std::to_string(1 + i % 250) +
                 " " + name_of(i) + "\n";
    }
    test::DnsmasqOptions dopt;
    dopt.listen_address = "127.0.0.4";
    dopt.local_ttl_s = 300;
    dopt.extra_args.push_back("--server=/slow.test/127.0.0.4#" +
                              std::to_string(ntohs(sink_addr.sin_port)));
    auto dns = test::DnsmasqProcess::start(hosts, dopt);
    if (!dns) {
        std::fprintf(stderr, "dns_engine_bench: %s\n", dns.error().message.c_str());
        return 1;
    }
    Plan plan;
    plan.gateway_name = "dnsbench";
    plan.pools.push_back(Pool{"pool", "/pools/pool", {}});
    plan.settings.push_back(Setting{"tcp", "/settings/tcp", 9, Protocol::Tcp, "", true});
    for (int i = 0; i < n; ++i) {
        plan.pools[0].servers.push_back(Server{target_name(i), true});
        Target t;
        t.address = target_name(i);
        t.is_fqdn = true;
        t.port = 9;  // discard: nothing listens on loopback, so every probe is a refused connect
        t.protocol = Protocol::Tcp;
        t.interval_ms = interval_ms;
        t.timeout_ms = 1000;
        t.identity_hash = stable_hash(t.address);
        plan.rows.push_back(
            Row{0, 0, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i)});
        plan.targets.push_back(t);
    }
    engine::EngineOptions o = testing::engine_options("dns-engine-bench", 0);
    o.dns_server = dns->server();
    o.dns_timeout_ms = 1000;
    o.dns_tries = 2;
    testing::EngineHarness run(plan, o);
    const auto t0 = Clock::now();
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    const double t0_unix = static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
    if (auto r = run.engine().start(); !r) {
        std::fprintf(stderr, "dns_engine_bench: %s\n", r.error().message.c_str());
        return 1;
    }
    const double start_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (auto r = run.open_report(); !r) {
        std::fprintf(stderr, "dns_engine_bench: %s\n", r.error().message.c_str());
        return 1;
    }
    // Every row probed once? (interval 60 s: no row has a second probe within the run). The
    // times below are the engine's own stamps (the name record's last_lookup_unix_ns, the row's
    // last_probe_unix_ns), so how often this loop looks does not matter.
    report::SnapshotOptions so;
    so.tls_facts = false;
    so.dns = false;
    const auto until = t0 + std::chrono::seconds(120);
    int fast = 0;
    for (int i = 0; i < n; ++i) {
        fast += is_slow(i) ? 0 : 1;
    }
    for (;;) {
        run.engine().tick(20'000'000);
        const report::Snapshot s = run.snapshot(so);
        int done = 0, slow_done = 0;
        for (int i = 0; i < n; ++i) {
            const auto& st = s.states[static_cast<std::size_t>(i)];
            if (is_slow(i)) {
                slow_done += st.reason != 0 ? 1 : 0;  // a DNS verdict
            } else {
                done += st.total_probes > 0 ? 1 : 0;
            }
        }
        if ((done == fast && slow_done == n - fast) || Clock::now() > until) {
            break;
        }
    }
    const std::size_t engine_bytes = run.engine().memory_bytes();
    report::SnapshotOptions all = so;
    all.dns = true;
    const report::Snapshot s = run.snapshot(all);
    run.stop();
    std::vector<double> resolved, probed, gap;
    std::vector<double> slow_verdict;
    for (int i = 0; i < n; ++i) {
        const auto& st = s.states[static_cast<std::size_t>(i)];
        const auto& nm = s.names[s.info->targets[static_cast<std::size_t>(i)].name_slot];
        if (is_slow(i)) {
            if (nm.last_lookup_unix_ns != 0) {
                slow_verdict.push_back((static_cast<double>(nm.last_lookup_unix_ns) - t0_unix) /
                                       1e6);
            }
            continue;
        }
        const double r_ms = nm.last_lookup_unix_ns == 0
                                ? -1
                                : (static_cast<double>(nm.last_lookup_unix_ns) - t0_unix) / 1e6;
        const double p_ms = st.total_probes == 0 || st.last_probe_unix_ns == 0
                                ? -1
                                : (static_cast<double>(st.last_probe_unix_ns) - t0_unix) / 1e6;
        if (r_ms >= 0) {
            resolved.push_back(r_ms);
        }
        if (p_ms >= 0) {
            probed.push_back(p_ms);
        }
        if (r_ms >= 0 && p_ms >= 0) {
            gap.push_back(p_ms - r_ms);
        }
    }
    const std::vector<double>& r = resolved;
    const std::vector<double>& p = probed;
    std::printf(
        "dns_engine_bench: names=%d interval_ms=%u start_ms=%.1f resolved=%zu probed=%zu "
        "engine_bytes=%zu (%zu per FQDN target)\n",
        n, interval_ms, start_ms, r.size(), p.size(), engine_bytes,
        engine_bytes / static_cast<std::size_t>(n));
    std::printf("  resolved_first_ms=%.1f resolved_half_ms=%.1f resolved_all_ms=%.1f\n", pct(r, 0),
                pct(r, 0.5), pct(r, 1));
    std::printf("  probed_first_ms=%.1f probed_half_ms=%.1f probed_all_ms=%.1f\n", pct(p, 0),
                pct(p, 0.5), pct(p, 1));
    if (slow_every > 0) {
        std::printf(
            "  slow names=%d (every %d-th, timing out): answered_first_ms=%.1f "
            "answered_all_ms=%.1f\n",
            n - fast, slow_every, pct(slow_verdict, 0), pct(slow_verdict, 1));
    }
    std::printf(
        "  gap_ms p50=%.1f p99=%.1f max=%.1f (first probe after its own name's answer; "
        "the engine spreads first probes over min(interval, 1 s))\n",
        pct(gap, 0.5), pct(gap, 0.99), pct(gap, 1));
    ::close(sink);
    return p.size() == static_cast<std::size_t>(fast) ? 0 : 1;
}
