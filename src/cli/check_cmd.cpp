// ringprobe check: one probe now, and what it found. The probe runs through the engine's own
// code, not a second client: a plan of one row (built from a URL, or the row of a
// configuration the engine would probe), an engine of one worker, a report segment of its own
// that is read back once the probe has completed, then removed. What it prints is the
// report's: the verdict, the reason and its sentence, the phase timings, for TLS the chain
// with the faulty part marked (report::render_troubleshoot), or the JSON of that one row.
// Exit status: 0 Healthy, 1 Unhealthy (or no verdict), 2 bad usage.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli.hpp"
#include "common/command_line.hpp"
#include "common/hash.hpp"
#include "common/text.hpp"
#include "config/load.hpp"
#include "config/request.hpp"
#include "engine/engine.hpp"
#include "report/facts.hpp"
#include "report/names.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"
#include "report/text.hpp"

namespace ringprobe::cli {

namespace {

constexpr int kExitHealthy = 0;
constexpr int kExitUnhealthy = 1;
constexpr int kExitUsage = command_line::kExitUsage;

struct CheckArgs {
    std::string url;
    std::string host;
    std::string sni;
    std::string expect = "200-399";
    std::string body;
    unsigned timeout_ms = 5000;
    std::string trusted_root;
    report::Format format = report::Format::Table;
    std::string config_path;
    config::LoadOptions load;
    std::string server;
    std::string pool;
    std::string setting;
};

constexpr const char* kCheckFooter =
    "Runs one probe now through the engine's own code (one worker, a plan of one row) and\n"
    "prints what the report would say of it: the verdict, the reason and its sentence, the\n"
    "phase timings, the HTTP status, and for TLS the presented chain with the faulty part\n"
    "marked. URL is SCHEME://HOST[:PORT][/PATH] with SCHEME http, https, tcp or tls; HOST an\n"
    "IPv4 address, [IPv6] or a name (resolved like an FQDN server). With --config and\n"
    "--server instead, the probe is exactly the one the engine runs for that row (its Host,\n"
    "SNI, trusted roots, match), like the gateway portal's connection test.\n"
    "The table ends with one status line (Result: HEALTH (reason, HTTP status) in TIME: what\n"
    "was probed); while the probe runs, a terminal on stderr says what it is probing.\n"
    "Exit status: 0 Healthy, 1 Unhealthy (or no verdict within the timeout), 2 bad usage.";

struct Url {
    Protocol protocol = Protocol::Http;
    std::string host;  // without brackets
    bool is_ip = false;
    std::uint16_t port = 0;
    std::string path;
};

Result<Protocol> scheme_of(std::string_view s) {
    if (s == "http") {
        return Protocol::Http;
    }
    if (s == "https") {
        return Protocol::Https;
    }
    if (s == "tcp") {
        return Protocol::Tcp;
    }
    if (s == "tls") {
        return Protocol::Tls;
    }
    return error("unknown scheme '" + std::string(s) + "': use http, https, tcp or tls");
}

// SCHEME://HOST[:PORT][/PATH]; every problem is named.
Result<Url> parse_url(std::string_view text) {
    const std::size_t sep = text.find("://");
    if (sep == std::string_view::npos) {
        return error("'" + std::string(text) + "' is not a URL: write SCHEME://HOST[:PORT][/PATH]");
    }
    Url u;
    auto scheme = scheme_of(text.substr(0, sep));
    if (!scheme) {
        return unexpected(scheme.error());
    }
    u.protocol = *scheme;
    std::string_view rest = text.substr(sep + 3);
    const std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return error("the IPv6 address in '" + std::string(text) + "' has no closing ']'");
        }
        u.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') {
            return error("unexpected '" + std::string(after) + "' after the IPv6 address");
        }
        port_text = after.empty() ? after : after.substr(1);
        if (!is_ip_literal(u.host)) {
            return error("'" + u.host + "' in brackets is not an IPv6 address");
        }
    } else {
        const std::size_t colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        port_text =
            colon == std::string_view::npos ? std::string_view{} : authority.substr(colon + 1);
    }
    if (u.host.empty()) {
        return error("the URL '" + std::string(text) + "' names no host");
    }
    for (char c : u.host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' || c == '_';
        if (!ok) {
            return error("the host '" + u.host + "' has a character a host name cannot have");
        }
    }
    u.is_ip = is_ip_literal(u.host);
    if (port_text.empty()) {
        if (u.protocol == Protocol::Tcp) {
            return error("a tcp:// URL needs a port: tcp://HOST:PORT");
        }
        u.port = protocol_is_tls(u.protocol) ? 443 : 80;
    } else if (unsigned p = 0; !command_line::parse_decimal(port_text, p) || p < 1 || p > 65535) {
        return error("the port '" + std::string(port_text) + "' is not a number from 1 to 65535");
    } else {
        u.port = static_cast<std::uint16_t>(p);
    }
    if (!protocol_is_http(u.protocol) && u.path != "/") {
        return error("a " + std::string(text.substr(0, sep)) +
                     ":// probe sends no request, so the URL takes no path");
    }
    return u;
}

// "200-399", "200" or a comma list of them ("200-299,301").
Result<std::vector<StatusRange>> parse_expect(std::string_view text) {
    std::vector<StatusRange> out;
    std::size_t at = 0;
    while (at <= text.size()) {
        const std::size_t comma = std::min(text.find(',', at), text.size());
        const std::string_view item = text.substr(at, comma - at);
        const std::size_t dash = item.find('-');
        unsigned lo = 0;
        unsigned hi = 0;
        const bool ok = dash == std::string_view::npos
                            ? command_line::parse_decimal(item, lo) && (hi = lo, true)
                            : command_line::parse_decimal(item.substr(0, dash), lo) &&
                                  command_line::parse_decimal(item.substr(dash + 1), hi);
        if (!ok || lo < 100 || hi > 599 || lo > hi) {
            return error("--expect: '" + std::string(item) +
                         "' is not a status code or a range from 100 to 599 (e.g. 200-399)");
        }
        out.push_back(StatusRange{static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(hi)});
        at = comma + 1;
    }
    return out;
}

Result<std::string> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        return error("--trusted-root: cannot read '" + path + "'");
    }
    std::stringstream s;
    s << f.rdbuf();
    if (s.str().empty()) {
        return error("--trusted-root: '" + path + "' is empty");
    }
    return s.str();
}

// The one-row plan of a URL: what the engine would build for a pool of this one server behind
// a setting and probe with these values.
Result<Plan> plan_of_url(const CheckArgs& a) {
    auto url = parse_url(a.url);
    if (!url) {
        return unexpected(url.error());
    }
    Plan plan;
    plan.gateway_name = "check";
    plan.pools.push_back(Pool{"check", "/backendAddressPools/check", {}});
    plan.pools.front().servers.push_back(Server{url->host, !url->is_ip});
    plan.settings.push_back(Setting{"check", "/backendHttpSettingsCollection/check", url->port,
                                    url->protocol, "", true});
    Target t;
    t.address = url->host;
    t.is_fqdn = !url->is_ip;
    t.port = url->port;
    t.protocol = url->protocol;
    t.timeout_ms = a.timeout_ms;
    t.interval_ms = a.timeout_ms + 60'000;  // one probe: the next is never due
    t.healthy_threshold = 1;
    t.unhealthy_threshold = 1;
    if (protocol_is_http(url->protocol)) {
        auto ranges = parse_expect(a.expect);
        if (!ranges) {
            return unexpected(ranges.error());
        }
        t.match_status = *ranges;
        t.match_body = a.body;
        t.host = a.host.empty() ? url->host : a.host;
        t.path = url->path;
        t.request = config::build_request(t.path, t.host);
    }
    if (protocol_is_tls(url->protocol)) {
        t.sni = !a.sni.empty() ? a.sni : !a.host.empty() ? a.host : url->is_ip ? "" : url->host;
        if (!a.trusted_root.empty()) {
            auto pem = read_file(a.trusted_root);
            if (!pem) {
                return unexpected(pem.error());
            }
            plan.trusted_roots.push_back(TrustedRoot{"check", a.trusted_root, std::move(*pem)});
            t.trusted_roots.push_back(0);
        }
    }
    t.identity_hash = stable_hash(a.url);
    plan.targets.push_back(std::move(t));
    plan.rows.push_back(Row{0, 0, 0, 0});
    return plan;
}

// The row of a configuration the engine would probe for --server (and --pool, --setting), as
// a plan of that row alone: the same target, so the same probe.
Result<Plan> plan_of_row(const CheckArgs& a) {
    auto full = config::load_plan_file(a.config_path, a.load);
    if (!full) {
        std::fputs(config::format_errors(full.error(), a.config_path).c_str(), stderr);
        return error("the configuration " + a.config_path + " does not load");
    }
    std::vector<std::uint32_t> matches;
    for (std::uint32_t r = 0; r < full->rows.size(); ++r) {
        const Row& row = full->rows[r];
        const Pool& pool = full->pools[row.pool_index];
        const Setting& setting = full->settings[row.setting_index];
        if (pool.servers[row.server_index].address == a.server &&
            (a.pool.empty() || pool.name == a.pool) &&
            (a.setting.empty() || setting.name == a.setting)) {
            matches.push_back(r);
        }
    }
    if (matches.empty()) {
        return error("--server: no row of " + a.config_path + " probes '" + a.server + "'" +
                     (a.pool.empty() ? "" : " in pool '" + a.pool + "'") +
                     (a.setting.empty() ? "" : " with setting '" + a.setting + "'"));
    }
    if (matches.size() > 1) {
        std::string which;
        for (std::uint32_t r : matches) {
            const Row& row = full->rows[r];
            which += "\n  --pool " + full->pools[row.pool_index].name + " --setting " +
                     full->settings[row.setting_index].name;
        }
        return error("--server '" + a.server + "' is in " + std::to_string(matches.size()) +
                     " rows; name one with --pool and --setting:" + which);
    }
    Plan plan = *full;
    Row row = plan.rows[matches.front()];
    Target t = plan.targets[row.target_index];
    t.interval_ms = t.timeout_ms + 60'000;
    t.healthy_threshold = 1;
    t.unhealthy_threshold = 1;
    row.target_index = 0;
    plan.rows = {row};
    plan.targets = {std::move(t)};
    plan.start_spread_ms = 0;
    return plan;
}

// Runs the plan's one probe and returns the report once it has completed (or the timeout and
// a margin have passed: then the row still says Unknown).
Result<report::Snapshot> probe_once(Plan& plan) {
    plan.start_spread_ms = 1;  // the first (and only) start at once, not somewhere in an interval
    plan.quantum_ms = Plan::default_quantum_ms;
    engine::EngineOptions o;
    o.name = "check-" + std::to_string(::getpid());
    o.workers = 1;
    o.pin = false;
    o.log = nullptr;
    o.warn = nullptr;
    engine::Engine engine(plan, o);
    struct Unlink {
        std::string path;
        ~Unlink() { ::unlink(path.c_str()); }
    } unlink_segment{report::segment_path(o.name)};
    if (auto started = engine.start(); !started) {
        return unexpected(started.error());
    }
    auto rep = report::Report::open(o.name);
    if (!rep) {
        engine.stop();
        return error("report " + o.name + ": " + rep.error().message);
    }
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(plan.targets.front().timeout_ms + 2000);
    report::Snapshot snap = rep->snapshot({});
    auto decided = [](const report::Snapshot& s) {
        // A probe completed, or the row has a verdict without one (a name DNS does not know).
        return s.states.front().total_probes > 0 ||
               static_cast<Health>(s.states.front().health) != Health::Unknown;
    };
    while (!decided(snap) && std::chrono::steady_clock::now() < until) {
        engine.tick(2'000'000);
        snap = rep->snapshot({});
    }
    engine.stop();
    return snap;
}

// What was probed, for the status lines: the URL as given, or the configuration's row.
std::string probed(const CheckArgs& a, const Plan& plan) {
    if (!a.url.empty()) {
        return a.url;
    }
    const Row& row = plan.rows.front();
    return "server " + a.server + " in pool " + plan.pools[row.pool_index].name + ", setting " +
           plan.settings[row.setting_index].name;
}

// While the probe runs (up to its timeout), a person at a terminal sees what it is waiting for;
// the line is wiped before the answer is printed, and never written to a file or a pipe.
class ProgressLine {
public:
    ProgressLine(const CheckArgs& a, const Plan& plan) : shown_(::isatty(STDERR_FILENO) == 1) {
        if (!shown_) {
            return;
        }
        const Target& t = plan.targets.front();
        std::string line = "ringprobe check: probing " + probed(a, plan) + " (";
        line += protocol_name(t.protocol);
        line += ", timeout ";
        report::append_duration_ms(line, t.timeout_ms);
        line += ") ...";
        std::fputs(line.c_str(), stderr);
    }
    ~ProgressLine() {
        if (shown_) {
            std::fputs("\r\x1b[K", stderr);
        }
    }
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

private:
    bool shown_;
};

// "Result: Healthy (ok, HTTP 200) in 1.25 ms: http://10.0.0.4/": the verdict in one line, last,
// where a terminal leaves it in view and `tail -n 1` finds it.
std::string status_line(const report::Snapshot& snap, const std::string& what) {
    const report::Effective e = report::effective(snap, 0);
    std::string line = "Result: ";
    line += health_name(e.health);
    line += " (";
    line += reason_info(e.reason).code;
    if (e.state != nullptr && e.state->http_status != 0) {
        line += ", HTTP ";
        report::append_uint(line, e.state->http_status);
    }
    line += ')';
    if (e.state == nullptr || e.state->total_probes == 0) {
        line += ", no probe completed";
    } else {
        line += e.health == Health::Healthy ? " in " : " after ";
        report::append_us_as_ms(line, e.state->latency_us);
    }
    line += ": ";
    line += what;
    line += '\n';
    return line;
}

int run_check(const CheckArgs& a) {
    const bool by_row = !a.config_path.empty();
    if (by_row == !a.url.empty()) {
        std::fprintf(stderr,
                     "ringprobe check: give a URL, or --config FILE and --server ADDR "
                     "(see --help)\n");
        return kExitUsage;
    }
    if (by_row && a.server.empty()) {
        std::fprintf(stderr, "ringprobe check: --config needs --server ADDR (see --help)\n");
        return kExitUsage;
    }
    auto plan = by_row ? plan_of_row(a) : plan_of_url(a);
    if (!plan) {
        std::fprintf(stderr, "ringprobe check: %s\n", plan.error().message.c_str());
        return kExitUsage;
    }
    std::optional<ProgressLine> progress;
    if (a.format == report::Format::Table) {
        progress.emplace(a, *plan);
    }
    auto snap = probe_once(*plan);
    progress.reset();
    if (!snap) {
        std::fprintf(stderr, "ringprobe check: %s\n", snap.error().message.c_str());
        return kExitUsage;
    }
    const std::uint32_t row = 0;
    std::string out;
    if (a.format == report::Format::Json) {
        report::RenderOptions ro;
        ro.format = report::Format::Json;
        ro.details = true;
        out = report::render_json(*snap, ro);
    } else {
        out = report::render_troubleshoot(*snap, std::span<const std::uint32_t>(&row, 1), false);
        out += '\n';
        out += status_line(*snap, probed(a, *plan));
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return static_cast<Health>(snap->states.front().health) == Health::Healthy ? kExitHealthy
                                                                               : kExitUnhealthy;
}

}  // namespace

CommandMain add_check_command(CLI::App& app) {
    auto args = std::make_shared<CheckArgs>();
    CLI::App* cmd = app.add_subcommand("check", "run one probe now and print what it found");
    cmd->footer(kCheckFooter);
    cmd->add_option("url", args->url, "what to probe: SCHEME://HOST[:PORT][/PATH]")
        ->type_name("URL");
    cmd->add_option("--host", args->host, "the Host header (and the SNI) to send (default: HOST)");
    cmd->add_option("--sni", args->sni,
                    "the SNI to send (default: --host, else HOST unless an IP)");
    cmd->add_option("--expect", args->expect,
                    "the status codes that are healthy: 200-399 (default), 200, 200-299,301")
        ->type_name("RANGES");
    cmd->add_option("--body", args->body, "a text the response body must contain")
        ->type_name("TEXT");
    command_line::add_number(*cmd, "--timeout-ms", args->timeout_ms, 1u, 86'400'000u,
                             "the probe's timeout (default 5000)", "MS");
    cmd->add_option("--trusted-root", args->trusted_root,
                    "a root certificate (PEM) to trust instead of the system's")
        ->type_name("FILE");
    command_line::add_choice(*cmd, "--format", args->format,
                             {{"table", report::Format::Table}, {"json", report::Format::Json}},
                             "table (default) or json");
    cmd->add_option("--config", args->config_path,
                    "probe a row of this configuration instead of a URL")
        ->type_name("FILE");
    add_member_files(*cmd, args->load);
    cmd->add_option("--server", args->server, "with --config: the row's server, as configured")
        ->type_name("ADDR");
    cmd->add_option("--pool", args->pool, "with --config: the row's pool")->type_name("NAME");
    cmd->add_option("--setting", args->setting, "with --config: the row's backend setting")
        ->type_name("NAME");
    return [args] { return run_check(*args); };
}

}  // namespace ringprobe::cli
