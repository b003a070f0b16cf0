// ringprobe run: load the plan, start the engine, keep the report's heartbeat, log transitions,
// stop cleanly on SIGTERM/SIGINT (in-flight probes cancelled, report marked stopped).
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "cli/cli.hpp"
#include "common/clock.hpp"
#include "config/load.hpp"
#include "engine/engine.hpp"
#include "exporter/exporter.hpp"

namespace ringprobe::cli {

namespace {

void run_usage(std::FILE* out) {
    std::fprintf(out,
        "usage: ringprobe run --config FILE [options]\n"
        "\n"
        "Probes every backend of the configuration on its interval, forever, and publishes the\n"
        "health report into shared memory (/dev/shm/ringprobe.NAME). Read it with\n"
        "ringprobe-report. Health transitions are logged to stderr, one logfmt line per row.\n"
        "\n"
        "options:\n"
        "  --config FILE     the gateway configuration (JSON), required\n"
        "  --name NAME       report segment name (default: the configuration's gateway name)\n"
        "  --workers N       worker threads, one ring each (default: one per online CPU, at most 64)\n"
        "  --no-pin          do not pin workers to CPUs\n"
        "  --no-direct-sockets\n"
        "                    make each probe's socket with socket(2), not in the ring's own file\n"
        "                    table (the default where the kernel can, Linux 6.0 or later)\n"
        "  --no-delayed-ack  send an HTTP probe's handshake ACK at once, not with the request\n"
        "                    (the default where the kernel can set options through the ring, 6.7)\n"
        "  --turn-chunk N    a turn's probe starts go to the kernel N at a time, the answers that\n"
        "                    came in meanwhile handled between chunks (default: off)\n"
        "  --duration SECS   stop by itself after SECS seconds (tests, benchmarks)\n"
        "  --stats           print engine totals to stderr when stopping\n"
        "  --quiet           do not log transitions\n"
        "  --listen ADDR:PORT|none\n"
        "                    HTTP exporter: /metrics (Prometheus), /backendhealth (the report's\n"
        "                    JSON), / (web page). Default 127.0.0.1:9470, loopback only; any\n"
        "                    other address is served as given (the operator's choice). If the\n"
        "                    default port is taken the engine runs without it, with a warning\n"
        "  --metrics-per-server  add per-row series (pool, setting, server) to /metrics\n"
        "  --dns-server ADDR:PORT\n"
        "                    resolve FQDN backends with this DNS server only (IPv6 as\n"
        "                    [ADDR]:PORT), without /etc/hosts. Default: /etc/hosts, then the\n"
        "                    servers, search list and options of /etc/resolv.conf\n"
        "  --dns-family any|ipv4|ipv6\n"
        "                    address families asked for (default any: A and AAAA, every\n"
        "                    address probed)\n"
        "  --help            this text\n"
        "\n"
        "SIGUSR1 marks a measurement window (the first starts it, the second ends it): with\n"
        "--stats the engine then also prints the window's own figures (stats-window: probes,\n"
        "lateness percentiles), which the bench harness uses to leave start-up out. A lateness\n"
        "percentile is the largest value of the histogram bucket it falls in: the true one is\n"
        "at most that and at most 6.25 %% below it.\n"
        "Stops on SIGTERM or SIGINT within a second. Exit status: 0 after a clean stop, 1 when\n"
        "the engine could not start (io_uring unavailable, report not writable), 2 for bad usage\n"
        "or a bad configuration (nothing is started).\n");
}

bool parse_uint(const char* s, unsigned long max, unsigned long& out) {
    char* end = nullptr;
    errno = 0;
    const unsigned long v = std::strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max) {
        return false;
    }
    out = v;
    return true;
}

void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// One stats line: the counters from `since` to `now` (since == nullptr: the whole run; then the
// line also names the workers, the ring's mode and the memory sized at start).
void print_stats(const char* label, const engine::Engine& e, const engine::EngineTotals* since,
                 const engine::EngineTotals& now, double seconds) {
    const engine::EngineTotals zero{};
    const engine::EngineTotals& a = since != nullptr ? *since : zero;
    auto lateness = now.lateness_us;
    for (std::size_t i = 0; i < lateness.size(); ++i) {
        lateness[i] -= std::min(lateness[i], a.lateness_us[i]);
    }
    auto d = [](std::uint64_t x, std::uint64_t y) {
        return static_cast<unsigned long long>(y >= x ? y - x : 0);
    };
    auto pct = [&](double q) {
        return static_cast<unsigned long long>(histogram_percentile(lateness, q));
    };
    std::string whole;
    if (since == nullptr) {
        whole = "workers=" + std::to_string(e.worker_count()) + " ring=" + e.ring_mode() + " ";
    }
    std::fprintf(stderr,
                 "%s %sseconds=%.1f probes_started=%llu probes_completed=%llu prober_errors=%llu "
                 "stale_completions=%llu skipped_intervals=%llu deferred_starts=%llu held_starts=%llu "
                 "chunks=%llu transitions=%llu recv_no_buffer=%llu loops=%llu lateness_us_p50=%llu "
                 "lateness_us_p99=%llu lateness_us_p999=%llu",
                 label, whole.c_str(), seconds, d(a.probes_started, now.probes_started),
                 d(a.probes_completed, now.probes_completed), d(a.prober_errors, now.prober_errors),
                 d(a.stale_completions, now.stale_completions),
                 d(a.skipped_intervals, now.skipped_intervals),
                 d(a.deferred_starts, now.deferred_starts), d(a.held_starts, now.held_starts),
                 d(a.chunks, now.chunks),
                 d(a.transitions, now.transitions),
                 d(a.recv_no_buffer, now.recv_no_buffer), d(a.loops, now.loops), pct(0.5),
                 pct(0.99), pct(0.999));
    if (since == nullptr) {
        std::fprintf(stderr, " memory_bytes=%zu", e.memory_bytes());
    }
    std::fputc('\n', stderr);
}

}  // namespace

int run_main(int argc, char** argv) {
    std::string config_path;
    std::string name;
    engine::EngineOptions opt;
    unsigned long duration_s = 0;
    bool stats = false;
    bool quiet = false;
    std::string listen(exporter::kDefaultListen);
    bool listen_explicit = false;
    bool per_server = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const char* flag) -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "ringprobe run: %s needs a value\n", flag);
                std::exit(2);
            }
            return argv[++i];
        };
        unsigned long v = 0;
        if (a == "--help" || a == "-h") {
            run_usage(stdout);
            return 0;
        } else if (a == "--config") {
            config_path = value("--config");
        } else if (a == "--name") {
            name = value("--name");
        } else if (a == "--workers") {
            if (!parse_uint(value("--workers"), report_abi::kMaxWorkers, v) || v == 0) {
                std::fprintf(stderr, "ringprobe run: --workers takes a number from 1 to %u\n",
                             static_cast<unsigned>(report_abi::kMaxWorkers));
                return 2;
            }
            opt.workers = static_cast<unsigned>(v);
        } else if (a == "--no-pin") {
            opt.pin = false;
        } else if (a == "--no-direct-sockets") {
            opt.direct_sockets = false;
        } else if (a == "--no-delayed-ack") {
            opt.delayed_ack = false;
        } else if (a == "--turn-chunk") {
            if (!parse_uint(value("--turn-chunk"), 65536, v) || v == 0) {
                std::fprintf(stderr, "ringprobe run: --turn-chunk takes a number from 1 to 65536\n");
                return 2;
            }
            opt.turn_chunk = static_cast<unsigned>(v);
        } else if (a == "--duration") {
            if (!parse_uint(value("--duration"), 86400 * 365, v)) {
                std::fprintf(stderr, "ringprobe run: --duration takes whole seconds\n");
                return 2;
            }
            duration_s = v;
        } else if (a == "--stats") {
            stats = true;
        } else if (a == "--quiet") {
            quiet = true;
        } else if (a == "--listen") {
            listen = value("--listen");
            listen_explicit = true;
        } else if (a == "--metrics-per-server") {
            per_server = true;
        } else if (a == "--dns-server") {
            opt.dns_server = value("--dns-server");
            if (!exporter::parse_listen(opt.dns_server)) {
                std::fprintf(stderr,
                             "ringprobe run: --dns-server '%s' is not ADDR:PORT (for example "
                             "127.0.0.53:53 or [::1]:53)\n",
                             opt.dns_server.c_str());
                return 2;
            }
        } else if (a == "--dns-family") {
            const std::string f = value("--dns-family");
            if (f == "any") {
                opt.dns_family = dns::Family::Any;
            } else if (f == "ipv4") {
                opt.dns_family = dns::Family::V4;
            } else if (f == "ipv6") {
                opt.dns_family = dns::Family::V6;
            } else {
                std::fprintf(stderr, "ringprobe run: --dns-family takes any, ipv4 or ipv6\n");
                return 2;
            }
        } else {
            std::fprintf(stderr, "ringprobe run: unknown option '%s' (see --help)\n", a.c_str());
            return 2;
        }
    }
    if (config_path.empty()) {
        std::fprintf(stderr, "ringprobe run: --config FILE is required (see --help)\n");
        return 2;
    }
    std::optional<exporter::ListenAddress> listen_at;
    if (listen != "none") {
        auto la = exporter::parse_listen(listen);
        if (!la) {
            std::fprintf(stderr, "ringprobe run: --listen: %s\n", la.error().message.c_str());
            return 2;
        }
        listen_at = *la;
    }
    auto plan = config::load_plan_file(config_path);
    if (!plan) {
        std::fputs(config::format_errors(plan.error(), config_path).c_str(), stderr);
        std::fprintf(stderr, "ringprobe run: the configuration was refused; nothing started\n");
        return 2;
    }
    opt.name = name.empty() ? plan->gateway_name : name;
    opt.log = quiet ? nullptr : stderr;
    raise_fd_limit();

    // Block the stop signals in every thread (workers inherit the mask); the main thread
    // receives them synchronously with sigtimedwait between its heartbeats.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    signal(SIGPIPE, SIG_IGN);

    engine::Engine eng(*plan, opt);
    if (auto r = eng.start(); !r) {
        std::fprintf(stderr, "ringprobe run: %s\n", r.error().message.c_str());
        return 1;
    }
    std::fprintf(stderr,
                 "ringprobe: probing %zu targets for %zu rows with %u workers (io_uring %s); "
                 "report: ringprobe-report --name %s\n",
                 plan->targets.size(), plan->rows.size(), eng.worker_count(),
                 eng.ring_mode().c_str(), opt.name.c_str());
    std::unique_ptr<exporter::Exporter> exp;
    if (listen_at) {
        exporter::ExporterOptions xo;
        xo.listen = *listen_at;
        xo.report_name = opt.name;
        xo.per_server = per_server;
        auto x = exporter::Exporter::start(
            xo, [&eng] { return eng.totals(); },
            exporter::EngineFacts{eng.worker_count(), eng.ring_mode(), eng.memory_bytes()});
        if (!x && listen_explicit) {
            std::fprintf(stderr, "ringprobe run: %s\n", x.error().message.c_str());
            eng.stop();
            return 1;
        }
        if (!x) {
            std::fprintf(stderr, "ringprobe: warning: %s; running without the exporter\n",
                         x.error().message.c_str());
        } else {
            exp = std::move(*x);
            std::fprintf(stderr, "ringprobe: exporter on http://%s:%u/ (/metrics, "
                         "/backendhealth)%s\n", listen_at->host.c_str(), exp->port(),
                         listen_at->is_loopback() ? "" : "; not loopback: reachable from the "
                         "network, unauthenticated");
        }
    }
    const std::uint64_t started = monotonic_ns();
    engine::EngineTotals marks[2];  // SIGUSR1: measurement window start and end
    std::uint64_t mark_ns[2] = {0, 0};
    unsigned marked = 0;
    const std::uint64_t until =
        duration_s == 0 ? UINT64_MAX : started + duration_s * 1'000'000'000ull;
    while (true) {
        eng.tick(0);
        if (monotonic_ns() >= until) {
            break;
        }
        timespec wait{0, 100'000'000};  // heartbeat every 100 ms (the report wants <= 250 ms)
        const int sig = sigtimedwait(&sigs, nullptr, &wait);
        if (sig == SIGTERM || sig == SIGINT) {
            break;
        }
        if (sig == SIGUSR1 && marked < 2) {
            marks[marked] = eng.totals();
            mark_ns[marked] = monotonic_ns();
            ++marked;
        }
    }
    exp.reset();  // the exporter reads the engine's counters: stop it first
    eng.stop();
    if (stats) {
        print_stats("stats:", eng, nullptr, eng.totals(),
                    static_cast<double>(monotonic_ns() - started) / 1e9);
        if (marked == 2) {
            print_stats("stats-window:", eng, &marks[0], marks[1],
                        static_cast<double>(mark_ns[1] - mark_ns[0]) / 1e9);
        }
    }
    return 0;
}

}  // namespace ringprobe::cli
