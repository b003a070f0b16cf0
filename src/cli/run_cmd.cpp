// ringprobe run: load the plan, start the engine, keep the report's heartbeat, log transitions,
// stop cleanly on SIGTERM/SIGINT (in-flight probes cancelled, report marked stopped).
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/cli.hpp"
#include "common/clock.hpp"
#include "common/command_line.hpp"
#include "common/host_port.hpp"
#include "common/notify.hpp"
#include "common/shard.hpp"
#include "config/load.hpp"
#include "engine/engine.hpp"
#include "exporter/exporter.hpp"
#include "report/name_lock.hpp"

namespace ringprobe::cli {

namespace {

// Everything `ringprobe run` is told on its command line.
struct RunArgs {
    std::string config_path;
    config::LoadOptions load;
    ShardArgs shard;
    engine::EngineOptions opt;
    unsigned long duration_s = 0;  // 0: until SIGTERM or SIGINT
    bool stats = false;
    bool quiet = false;
    std::string listen{exporter::kDefaultListen};
    bool listen_explicit = false;  // a port in use is then an error, not a warning
    bool per_server = false;
    std::uint32_t page_sample_ms = 10'000;
};

constexpr const char* kRunDescription =
    "Probes every backend of the configuration on its interval, forever, and publishes the\n"
    "health report into shared memory (/dev/shm/ringprobe.NAME). Read it with\n"
    "ringprobe-report. Health transitions are logged to stderr, one logfmt line per row.";

constexpr const char* kRunFooter =
    "SIGUSR1 marks a measurement window (the first starts it, the second ends it): with\n"
    "--stats the engine then also prints the window's own figures (stats-window: probes,\n"
    "lateness percentiles), which the bench harness uses to leave start-up out. A lateness\n"
    "percentile is the largest value of the histogram bucket it falls in: the true one is\n"
    "at most that and at most 6.25 % below it.\n"
    "SIGHUP (or ringprobe reload --name NAME) reads --config again and applies it while\n"
    "probing: unchanged targets keep their health and schedule; a configuration that does\n"
    "not load is refused and the engine keeps the one it runs.\n"
    "Stops on SIGTERM or SIGINT within a second. Exit status: 0 after a clean stop, 1 when\n"
    "the engine could not start (io_uring unavailable, report not writable), 2 for bad usage\n"
    "or a bad configuration (nothing is started).";

constexpr std::uint16_t kDnsPort = 53;

// A usage error for --listen and --dns-server is found while parsing, before the plan loads.
CLI::Validator listen_address() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            if (s == "none") {
                return {};
            }
            auto la = exporter::parse_listen(s);
            return la ? std::string() : la.error().message;
        },
        "", "");
}

CLI::Validator dns_server_address() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            auto hp = parse_host_port(s);
            return hp ? std::string() : hp.error().message;
        },
        "", "");
}

// The resolver is handed ADDR:PORT, IPv6 in brackets, whichever form the flag was given in.
std::string dns_server_with_port(const std::string& text) {
    HostPort hp = *parse_host_port(text);  // checked by dns_server_address()
    if (!hp.has_port) {
        hp.port = kDnsPort;
    }
    return hp.to_string();
}

void add_engine_flags(CLI::App& run, RunArgs& a) {
    command_line::add_number(run, "--workers", a.opt.workers, 1u,
                             static_cast<unsigned>(report_abi::kMaxWorkers),
                             "worker threads, one ring each (default: one per online CPU,\n"
                             "at most 64)");
    run.add_flag_callback(
        "--no-pin", [&a] { a.opt.pin = false; }, "do not pin workers to CPUs");
    run.add_flag_callback(
        "--no-direct-sockets", [&a] { a.opt.direct_sockets = false; },
        "make each probe's socket with socket(2), not in the ring's own\n"
        "file table (the default where the kernel can, Linux 6.0 or later)");
    run.add_flag_callback(
        "--no-delayed-ack", [&a] { a.opt.delayed_ack = false; },
        "send an HTTP probe's handshake ACK at once, not with the request\n"
        "(the default where the kernel can set options through the ring,\n"
        "6.7)");
    run.add_flag_callback(
        "--no-receive-stamps", [&a] { a.opt.receive_stamps = false; },
        "stamp every phase when the worker reaps its completion (up to a\n"
        "quantum late), not first byte, TLS and total with the kernel's\n"
        "receive time (the default where the kernel can set options through\n"
        "the ring, 6.7)");
    command_line::add_number(run, "--turn-chunk", a.opt.turn_chunk, 1u, 65536u,
                             "a turn's probe starts go to the kernel N at a time, the answers\n"
                             "that came in meanwhile handled between chunks (default: off)");
    command_line::add_number(run, "--duration", a.duration_s, 0ul, 86400ul * 365,
                             "stop by itself after SECS seconds (tests, benchmarks)", "SECS");
    run.add_flag("--stats", a.stats, "print engine totals to stderr when stopping");
    run.add_flag("--quiet", a.quiet, "do not log transitions");
}

void add_exporter_flags(CLI::App& run, RunArgs& a) {
    run.add_option_function<std::string>(
           "--listen",
           [&a](const std::string& s) {
               a.listen = s;
               a.listen_explicit = true;
           },
           "HTTP exporter: /metrics (Prometheus), /backendhealth (the report's\n"
           "JSON), / (web page). Default 127.0.0.1:9470, loopback only; IPv6\n"
           "as [::1]:9470. Any other address is served as given (the\n"
           "operator's choice). If the default port is taken the engine runs\n"
           "without it, with a warning")
        ->check(listen_address())
        ->type_name("ADDR:PORT|none");
    run.add_flag("--metrics-per-server", a.per_server,
                 "add per-row series (pool, setting, server) to /metrics");
    command_line::add_number(run, "--page-sample-ms", a.page_sample_ms, 100u, 600'000u,
                             "how often the web page's pool-health picture counts each\n"
                             "pool's servers by health (default 10000); it keeps the last\n"
                             "360 counts (one hour at the default)",
                             "MS");
}

void add_dns_flags(CLI::App& run, RunArgs& a) {
    run.add_option_function<std::string>(
           "--dns-server",
           [&a](const std::string& s) { a.opt.dns_server = dns_server_with_port(s); },
           "resolve FQDN backends with this DNS server only, without\n"
           "/etc/hosts: 127.0.0.1:5353, [::1]:53, or an address alone for\n"
           "port 53. Default: /etc/hosts, then the servers, search list and\n"
           "options of /etc/resolv.conf")
        ->check(dns_server_address())
        ->type_name("ADDR[:PORT]");
    command_line::add_choice(
        run, "--dns-family", a.opt.dns_family,
        {{"any", dns::Family::Any}, {"ipv4", dns::Family::V4}, {"ipv6", dns::Family::V6}},
        "address families asked for (default any: A and AAAA, every\n"
        "address probed)");
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
    auto pct = [&](double q) {
        return static_cast<unsigned long long>(histogram_percentile(lateness, q));
    };
    std::string whole;
    if (since == nullptr) {
        whole = "workers=" + std::to_string(e.worker_count()) + " ring=" + e.ring_mode() + " ";
    }
    // The counters and their order come from the list (engine/counters.hpp).
    const std::string counters = engine::stats_fields(a, now);
    std::fprintf(stderr,
                 "%s %sseconds=%.1f %s lateness_us_p50=%llu lateness_us_p99=%llu "
                 "lateness_us_p999=%llu",
                 label, whole.c_str(), seconds, counters.c_str(), pct(0.5), pct(0.99), pct(0.999));
    if (since == nullptr) {
        std::fprintf(stderr, " memory_bytes=%zu", e.memory_bytes());
    }
    std::fputc('\n', stderr);
}

// The stop signals are blocked in every thread (workers inherit the mask); the main thread
// receives them synchronously with sigtimedwait between its heartbeats.
sigset_t block_stop_signals() {
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGHUP);  // reload
    // Signals people and service managers send for other purposes are taken here too, so that
    // none of them ends the engine by its default action (terminate).
    sigaddset(&sigs, SIGUSR2);
    sigaddset(&sigs, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return sigs;
}

// Starts the exporter where --listen asks for one. A port in use is an error (nullopt: exit 1)
// when --listen was given, and a warning (no exporter) for the default address.
std::optional<std::unique_ptr<exporter::Exporter>> start_exporter(const RunArgs& a,
                                                                  engine::Engine& eng) {
    std::unique_ptr<exporter::Exporter> none;
    if (a.listen == "none") {
        return none;
    }
    exporter::ExporterOptions xo;
    xo.listen = *exporter::parse_listen(a.listen);  // checked while parsing
    xo.report_name = a.opt.name;
    xo.per_server = a.per_server;
    xo.pool_sample_ms = a.page_sample_ms;
    auto x = exporter::Exporter::start(
        xo, [&eng] { return eng.totals(); },
        exporter::EngineFacts{eng.worker_count(), eng.ring_mode(), eng.memory_bytes()});
    if (!x && a.listen_explicit) {
        std::fprintf(stderr, "ringprobe run: %s\n", x.error().message.c_str());
        return std::nullopt;
    }
    if (!x) {
        std::fprintf(stderr, "ringprobe: warning: %s; running without the exporter\n",
                     x.error().message.c_str());
        return none;
    }
    const std::string bound = exporter::ListenAddress{xo.listen.host, (*x)->port()}.to_string();
    std::fprintf(stderr, "ringprobe: exporter on http://%s/ (/metrics, /backendhealth)%s\n",
                 bound.c_str(),
                 xo.listen.is_loopback() ? ""
                                         : "; not loopback: reachable from the network, "
                                           "unauthenticated");
    return std::move(*x);
}

// What the heartbeat loop saw: when it began, and the SIGUSR1 measurement window's marks.
struct RunMarks {
    std::uint64_t started_ns = 0;
    engine::EngineTotals window[2];  // SIGUSR1: measurement window start and end
    std::uint64_t window_ns[2] = {0, 0};
    unsigned marked = 0;
};

// The service watchdog (WatchdogSec=): fed at half its period, and only while every worker's
// loop still turns, so that a stuck worker lets systemd restart the engine.
struct Watchdog {
    std::uint64_t period_ns = notify::watchdog_usec() * 1000 / 2;
    std::uint64_t fed_ns = 0;

    void feed(engine::Engine& eng, std::uint64_t now) {
        if (period_ns == 0 || now - fed_ns < period_ns) {
            return;
        }
        if (eng.workers_advanced()) {
            notify::watchdog();
            fed_ns = now;
        }
    }
};

// A signal that asks for nothing the engine does: said in the log, never fatal.
void log_ignored_signal(int sig) {
    if (sig == SIGUSR2 || sig == SIGALRM) {
        std::fprintf(stderr, "ringprobe: %s ignored\n", sig == SIGUSR2 ? "SIGUSR2" : "SIGALRM");
    }
}

// The unit is Type=notify: systemd counts the engine started once its report is published and
// the exporter (if any) listens, and a reload done at the READY=1 that follows RELOADING=1.
void tell_service_ready(const Plan& plan, const engine::Engine& eng) {
    char line[160];
    std::snprintf(line, sizeof line, "probing %zu targets for %zu rows with %u workers",
                  plan.targets.size(), plan.rows.size(), eng.worker_count());
    notify::status(line);
    notify::ready();
}

// The settings each worker's ring and start grid are built from at start. A reload keeps the
// running values (and says so), since changing them would move every target's schedule.
struct StartOnly {
    std::uint32_t quantum_ms = 0;
    std::uint32_t start_batch = 0;
};

void warn_start_only(const StartOnly& running, const Plan& next) {
    const struct {
        const char* field;
        std::uint32_t now, asked;
    } fields[] = {{"quantumMs", running.quantum_ms, next.quantum_ms},
                  {"startBatch", running.start_batch, next.start_batch}};
    for (const auto& f : fields) {
        if (f.now != f.asked) {
            std::fprintf(stderr,
                         "ringprobe: warning: %s %u in the reloaded configuration takes effect at "
                         "the next start; the engine keeps %u until then\n",
                         f.field, f.asked, f.now);
        }
    }
}

// SIGHUP: --config (with its --nics and --parameters files) read again, whole, by the loader
// `ringprobe plan` uses. A configuration that does not load, or that this engine cannot apply,
// is refused: its errors printed as `ringprobe plan` prints them, one line saying so, the
// report's lastReload; the engine keeps the plan it runs.
void reload_config(engine::Engine& eng, const RunArgs& a, const StartOnly& running) {
    notify::reloading();
    const std::uint64_t began_ns = monotonic_ns();
    auto plan = config::load_plan_file(a.config_path, a.load);
    if (!plan) {
        const std::string errors = config::format_errors(plan.error(), a.config_path);
        std::fputs(errors.c_str(), stderr);
        std::fprintf(stderr,
                     "ringprobe: reload refused: %s has %zu error(s); the engine keeps the "
                     "configuration it runs\n",
                     a.config_path.c_str(), plan.error().size());
        eng.note_reload_refused(std::string_view(errors).substr(0, errors.find('\n')));
    } else {
        std::fputs(config::format_warnings(*plan, a.config_path).c_str(), stderr);
        warn_start_only(running, *plan);
        auto r = eng.reload(std::make_unique<Plan>(std::move(*plan)));
        if (!r) {
            std::fprintf(stderr,
                         "ringprobe: reload refused: %s; the engine keeps the configuration it "
                         "runs\n",
                         r.error().message.c_str());
        } else if (r->unchanged) {
            std::fprintf(stderr, "ringprobe: reload applied: the configuration is unchanged\n");
        } else {
            std::fprintf(stderr,
                         "ringprobe: reload applied: %zu targets kept, %zu added, %zu removed; "
                         "report generation %llu (%.1f ms)\n",
                         r->kept, r->added, r->removed,
                         static_cast<unsigned long long>(r->generation),
                         static_cast<double>(monotonic_ns() - began_ns) / 1e6);
            if (!r->warning.empty()) {
                std::fprintf(stderr, "ringprobe: warning: %s\n", r->warning.c_str());
            }
        }
    }
    tell_service_ready(eng.plan(), eng);
}

// Keeps the report's heartbeat until a stop signal or the end of --duration.
RunMarks heartbeat_until_stopped(engine::Engine& eng, const sigset_t& sigs, const RunArgs& a) {
    const StartOnly running{eng.plan().quantum_ms, eng.plan().start_batch};
    const unsigned long duration_s = a.duration_s;
    RunMarks m;
    m.started_ns = monotonic_ns();
    const std::uint64_t until =
        duration_s == 0 ? UINT64_MAX : m.started_ns + duration_s * 1'000'000'000ull;
    Watchdog watchdog;
    watchdog.fed_ns = m.started_ns;
    while (true) {
        eng.tick(0);
        const std::uint64_t now = monotonic_ns();
        if (now >= until) {
            break;
        }
        watchdog.feed(eng, now);
        timespec wait{0, 100'000'000};  // heartbeat every 100 ms (the report wants <= 250 ms)
        const int sig = sigtimedwait(&sigs, nullptr, &wait);
        if (sig == SIGTERM || sig == SIGINT) {
            break;
        }
        if (sig == SIGHUP) {
            reload_config(eng, a, running);
        } else if (sig == SIGUSR1 && m.marked < 2) {
            m.window[m.marked] = eng.totals();
            m.window_ns[m.marked] = monotonic_ns();
            ++m.marked;
        } else {
            log_ignored_signal(sig);
        }
    }
    notify::stopping();
    return m;
}

// --stats: the whole run's line, and the measurement window's when SIGUSR1 marked one.
void print_run_stats(const engine::Engine& eng, const RunMarks& m) {
    print_stats("stats:", eng, nullptr, eng.totals(),
                static_cast<double>(monotonic_ns() - m.started_ns) / 1e9);
    if (m.marked == 2) {
        print_stats("stats-window:", eng, &m.window[0], m.window[1],
                    static_cast<double>(m.window_ns[1] - m.window_ns[0]) / 1e9);
    }
}

int run(RunArgs& a) {
    if (!resolve_shard("run", a.shard, a.load)) {
        return 2;
    }
    auto plan = config::load_plan_file(a.config_path, a.load);
    if (!plan) {
        std::fputs(config::format_errors(plan.error(), a.config_path).c_str(), stderr);
        std::fprintf(stderr, "ringprobe run: the configuration was refused; nothing started\n");
        return 2;
    }
    std::fputs(config::format_warnings(*plan, a.config_path).c_str(), stderr);
    if (a.opt.name.empty()) {
        a.opt.name = plan->gateway_name;
    }
    a.opt.log = a.quiet ? nullptr : stderr;
    // Claimed before anything is touched, so a second engine with this name leaves the first's
    // segment, exporter and log as they are.
    auto claim = report::NameLock::take(a.opt.name);
    if (!claim) {
        std::fprintf(stderr, "ringprobe run: %s\n", claim.error().message.c_str());
        return 1;
    }
    raise_fd_limit();
    const sigset_t sigs = block_stop_signals();

    engine::Engine eng(*plan, a.opt);
    if (auto r = eng.start(); !r) {
        std::fprintf(stderr, "ringprobe run: %s\n", r.error().message.c_str());
        return 1;
    }
    std::fprintf(stderr,
                 "ringprobe: probing %zu targets for %zu rows with %u workers (io_uring %s); "
                 "report: ringprobe-report --name %s\n",
                 plan->targets.size(), plan->rows.size(), eng.worker_count(),
                 eng.ring_mode().c_str(), a.opt.name.c_str());
    if (plan->shard.sharded()) {
        const auto owned = std::count_if(plan->targets.begin(), plan->targets.end(),
                                         [](const Target& t) { return t.owned; });
        std::fprintf(stderr,
                     "ringprobe: shard %s with %u replica(s): probing %ld of the %zu targets; "
                     "the others' rows read OtherShard\n",
                     shard_label(plan->shard.index, plan->shard.count).c_str(),
                     plan->shard.replicas, static_cast<long>(owned), plan->targets.size());
    }
    auto exp = start_exporter(a, eng);
    if (!exp) {
        eng.stop();
        return 1;
    }
    tell_service_ready(*plan, eng);
    const RunMarks marks = heartbeat_until_stopped(eng, sigs, a);
    exp->reset();  // the exporter reads the engine's counters: stop it first
    eng.stop();
    if (a.stats) {
        print_run_stats(eng, marks);
    }
    return 0;
}

}  // namespace

CommandMain add_run_command(CLI::App& app) {
    auto args = std::make_shared<RunArgs>();
    CLI::App* run_cmd = app.add_subcommand("run", "probe every target and publish the report");
    run_cmd->footer(std::string(kRunDescription) + "\n\n" + kRunFooter);
    run_cmd->add_option("--config", args->config_path, "the gateway configuration (JSON)")
        ->required()
        ->type_name("FILE");
    add_member_files(*run_cmd, args->load);
    add_shard_flags(*run_cmd, args->shard);
    run_cmd->add_option("--name", args->opt.name,
                        "report segment name (default: the configuration's gateway name)");
    add_engine_flags(*run_cmd, *args);
    add_exporter_flags(*run_cmd, *args);
    add_dns_flags(*run_cmd, *args);
    return [args] { return run(*args); };
}

}  // namespace ringprobe::cli
