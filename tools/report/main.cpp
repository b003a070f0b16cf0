// ringprobe-report: print the engine's health report from shared memory.
//
//   ringprobe-report [--name NAME] [--format table|json|powershell] [--pool NAME]
//                    [--health Healthy|Unhealthy|Unknown] [--details] [--watch]
//   ringprobe-report --troubleshoot SERVER [--pool NAME] [--setting NAME] [--name NAME]
//   ringprobe-report --history SERVER [--pool NAME] [--setting NAME] [--name NAME]
//   ringprobe-report --events [--since DURATION] [--pool NAME] [--format table|json]
//   ringprobe-report --merge NAME[,NAME...] [any of the above but --name]
//
// Exit status: 0 the report was read (and, with --troubleshoot or --history, the server found);
// 2 bad arguments, or no row of the report has that server; 3 no such report (the engine is not
// running under that name); 4 the report exists but is unreadable (permissions, corruption,
// another layout version). Links only the reader side of src/report, nothing of the engine.
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/command_line.hpp"
#include "report/merge.hpp"
#include "report/names.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"
#include "report/text.hpp"

namespace {

using namespace ringprobe;
using namespace ringprobe::report;

constexpr int kExitOk = 0;
constexpr int kExitUsage = command_line::kExitUsage;
constexpr int kExitNoReport = 3;
constexpr int kExitUnreadable = 4;

constexpr const char* kDescription =
    "Prints the health report the engine publishes in /dev/shm/ringprobe.<NAME>; with\n"
    "--troubleshoot SERVER, that server's path with the faulty part marked; with --history\n"
    "SERVER, its last 32 results; with --events, the engine's health transitions.";

constexpr const char* kFooter =
    "Exit status: 0 shown; 2 bad arguments or (--troubleshoot, --history) no such server in the\n"
    "report; 3 no such report (is the engine running?); 4 the report is unreadable.";

struct Args {
    std::string name;
    RenderOptions render;
    std::string pool;
    std::string setting;       // --setting: only with --troubleshoot or --history
    std::string troubleshoot;  // --troubleshoot SERVER
    std::string history;       // --history SERVER
    bool events = false;       // --events
    std::string since;         // --since DURATION: only with --events
    std::uint64_t since_ns = 0;
    bool watch = false;
    std::vector<std::string> merge;  // --merge NAME,NAME...
};

void add_flags(CLI::App& app, Args& a) {
    app.add_option("--name", a.name,
                   "the report's name (default: $RINGPROBE_NAME, else \"ringprobe\")")
        ->type_name("NAME");
    command_line::add_choice(
        app, "--format", a.render.format,
        {{"table", Format::Table}, {"json", Format::Json}, {"powershell", Format::Powershell}},
        "table (default), the gateway's JSON shape, or PowerShell's");
    app.add_option("--pool", a.pool, "only this pool (by name)")->type_name("NAME");
    command_line::add_choice(app, "--health", a.render.health,
                             {{"Healthy", Health::Healthy},
                              {"Unhealthy", Health::Unhealthy},
                              {"Unknown", Health::Unknown}},
                             "only servers with this effective health");
    app.add_flag("--details", a.render.details,
                 "table: an indented block under each row (the probe log, phase\n"
                 "timings, TLS chain, SNI and Host, DNS addresses); json and\n"
                 "powershell: ringprobe's structured fields, \"tls\" and \"dns\" included");
    app.add_flag("--watch", a.watch,
                 "print the report again every second; the table is followed by\n"
                 "the newest 10 health transitions (as --events prints them)");
    app.add_option("--merge", a.merge,
                   "one report from the shards of one configuration on this host\n"
                   "(ringprobe run --shard I/N --name NAME): each row from the engine\n"
                   "that probes it, the freshest with --replicas; a stopped, stale or\n"
                   "missing shard's rows read Unknown, naming it")
        ->delimiter(',')
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->type_name("NAME[,NAME...]");
    app.add_option("--troubleshoot", a.troubleshoot,
                   "the server as configured in its pool (IP or FQDN): draws\n"
                   "client -> ringprobe -> server with the faulty part marked (XX, red\n"
                   "on a terminal), says what is wrong and what to change, then the\n"
                   "facts. --pool and --setting narrow it; every matching row is shown.")
        ->type_name("SERVER")
        ->check(CLI::Validator(
            [](std::string& s) { return s.empty() ? "needs a server address" : std::string(); }, "",
            ""));
    app.add_option("--history", a.history,
                   "the server as configured in its pool (IP or FQDN): its last 32\n"
                   "results, newest first (time, health after it, reason, HTTP status,\n"
                   "total duration, connection). --pool and --setting narrow it.")
        ->type_name("SERVER")
        ->check(CLI::Validator(
            [](std::string& s) { return s.empty() ? "needs a server address" : std::string(); }, "",
            ""));
    app.add_flag("--events", a.events,
                 "the engine's health transitions (time, pool, setting, server, old\n"
                 "and new health, reason, detail), oldest first; the last 65,536\n"
                 "by default (eventLogEntries, docs/configuration.md)");
    app.add_option("--since", a.since,
                   "with --events: only the transitions of the last DURATION\n"
                   "(90s, 10m, 2h, 1d; a bare number is seconds)")
        ->type_name("DURATION");
    app.add_option("--setting", a.setting,
                   "with --troubleshoot or --history: only this backend setting")
        ->type_name("NAME");
}

bool by_server(const Args& a) {
    return !a.troubleshoot.empty() || !a.history.empty();
}

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "ringprobe-report: %s (see --help)\n", msg.c_str());
    return kExitUsage;
}

// Returns command_line::kContinue when the arguments are good, else the exit status.
int parse(int argc, char** argv, Args& a) {
    const char* env = std::getenv("RINGPROBE_NAME");
    a.name = env != nullptr && *env != '\0' ? env : "ringprobe";
    CLI::App app(kDescription, "ringprobe-report");
    command_line::configure(app);
    app.footer(kFooter);
    add_flags(app, a);
    if (int rc = command_line::parse(app, argc, argv); rc != command_line::kContinue) {
        return rc;
    }
    if (auto ok = check_segment_name(a.name); !ok) {
        return usage_error("--name: " + ok.error().message);
    }
    for (const std::string& m : a.merge) {
        if (auto ok = check_segment_name(m); !ok) {
            return usage_error("--merge: '" + m + "': " + ok.error().message);
        }
    }
    if (!a.merge.empty() && app.count("--name") > 0) {
        return usage_error("--merge: give the report names there, not with --name");
    }
    if (!a.setting.empty() && a.troubleshoot.empty() && a.history.empty()) {
        return usage_error("--setting is for --troubleshoot or --history");
    }
    if (!a.troubleshoot.empty() && !a.history.empty()) {
        return usage_error("--history: give --troubleshoot or --history, not both");
    }
    if (!a.since.empty() && !a.events) {
        return usage_error("--since is for --events");
    }
    if (a.events && (by_server(a) || a.render.details || a.render.health || a.watch)) {
        return usage_error(
            "--events: give it alone, with --since, --pool, --format or --name; not with "
            "--troubleshoot, --history, --details, --health or --watch");
    }
    if (a.events && a.render.format == Format::Powershell) {
        return usage_error("--format: --events prints a table or json");
    }
    if (!a.since.empty() && !parse_since(a.since, a.since_ns)) {
        return usage_error("--since: '" + a.since +
                           "' is not a duration; give a number and a unit: 90s, 10m, 2h, 1d");
    }
    if (!a.history.empty() && a.render.format != Format::Table) {
        return usage_error(
            "--history prints a table; for the history of every row use --format json "
            "--details");
    }
    if (!a.troubleshoot.empty() && a.render.format != Format::Table) {
        return usage_error(
            "--troubleshoot draws for a terminal; for the structured facts use "
            "--format json --details");
    }
    a.render.pool = a.pool;
    return command_line::kContinue;
}

int report_error(const ReadError& e) {
    std::fprintf(stderr, "ringprobe-report: %s\n", e.message.c_str());
    return e.kind == ReadErrorKind::NotFound ? kExitNoReport : kExitUnreadable;
}

void write_all(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(STDOUT_FILENO, s.data() + off, s.size() - off);
        if (n <= 0) {
            return;  // stdout closed (a pager quit): nothing more to say
        }
        off += static_cast<std::size_t>(n);
    }
}

bool use_color() {
    const char* term = std::getenv("TERM");
    return ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr && term != nullptr &&
           std::strcmp(term, "dumb") != 0;
}

// --troubleshoot, --history: the rows of that server, or a sentence saying why there are none.
bool render_server_text(const Snapshot& snap, const Args& a, bool color, std::string& out) {
    const std::string& server = a.history.empty() ? a.troubleshoot : a.history;
    const std::vector<std::uint32_t> rows = find_rows(snap, server, a.pool, a.setting);
    if (rows.empty()) {
        out = "ringprobe-report: no server '" + server + "'";
        out += a.pool.empty() ? "" : " in pool '" + a.pool + "'";
        out += a.setting.empty() ? "" : " with backend setting '" + a.setting + "'";
        out += " in the report '" + a.name +
               "'; give the address as configured in its pool (see ringprobe-report)\n";
        return false;
    }
    out = a.history.empty() ? render_troubleshoot(snap, rows, color)
                            : render_history(snap, rows, color);
    return true;
}

// --watch follows the table with the newest transitions, so a change shows as it happens
// with its reason; a JSON or PowerShell frame stays one document.
constexpr std::size_t kWatchEvents = 10;
bool watch_events(const Args& a) {
    return a.watch && a.render.format == Format::Table && !by_server(a);
}

SnapshotOptions snapshot_options(const Args& a) {
    SnapshotOptions o;
    o.history = !a.history.empty() || (a.render.details && a.render.format != Format::Table);
    o.events = a.events || watch_events(a);
    return o;
}

std::string render_frame(const Snapshot& snap, const Args& a) {
    if (!by_server(a)) {
        std::string out = render(snap, a.render);
        if (watch_events(a)) {
            EventFilter f;
            f.pool = a.pool;
            f.newest = kWatchEvents;
            out += "\nRecent events (all of them: ringprobe-report --events)\n";
            out += render_events(snap, f, Format::Table, a.render.color);
        }
        return out;
    }
    std::string out;
    render_server_text(snap, a, a.render.color, out);
    return out;
}

// The report to show: one engine's, or with --merge the shards' as one.
Result<Snapshot, ReadError> read_report(const Args& a) {
    if (!a.merge.empty()) {
        return merge_reports(a.merge, snapshot_options(a));
    }
    auto report = Report::open(a.name);
    if (!report) {
        return unexpected(report.error());
    }
    return report->snapshot(snapshot_options(a));
}

// --watch --merge: every shard opened again each second, so a restarted one is followed.
int watch_merged(const Args& a) {
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    for (;;) {
        std::string frame = tty ? "\x1b[H\x1b[2J" : "";
        auto snap = read_report(a);
        if (snap) {
            frame += render_frame(*snap, a);
        } else {
            frame += snap.error().message + "\n";
        }
        write_all(frame);
        ::poll(nullptr, 0, 1000);
    }
}

// Re-renders every second; follows a reload (rename) and waits for an engine that is not there.
int watch(Args& a) {
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    std::optional<Report> report;
    for (;;) {
        if (!report || report->superseded()) {
            report.reset();
            auto r = Report::open(a.name);
            if (r) {
                report.emplace(std::move(*r));
            } else if (r.error().kind == ReadErrorKind::Unreadable) {
                return report_error(r.error());
            }
        }
        std::string frame = tty ? "\x1b[H\x1b[2J" : "";
        if (report) {
            frame += render_frame(report->snapshot(snapshot_options(a)), a);
        } else {
            frame += "waiting for the report '" + a.name + "' (is the engine running?)\n";
        }
        write_all(frame);
        ::poll(nullptr, 0, 1000);
    }
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (int rc = parse(argc, argv, a); rc != command_line::kContinue) {
        return rc;
    }
    a.render.color = a.render.format == Format::Table && use_color();
    if (a.watch) {
        return a.merge.empty() ? watch(a) : watch_merged(a);
    }
    auto read = read_report(a);
    if (!read) {
        return report_error(read.error());
    }
    const Snapshot& snap = *read;
    if (a.events) {
        EventFilter f;
        f.pool = a.pool;
        if (!a.since.empty()) {
            f.since_unix_ns = snap.now_unix_ns > a.since_ns ? snap.now_unix_ns - a.since_ns : 0;
        }
        write_all(render_events(snap, f, a.render.format, a.render.color));
        return kExitOk;
    }
    if (by_server(a)) {
        std::string out;
        if (!render_server_text(snap, a, use_color(), out)) {
            std::fputs(out.c_str(), stderr);
            return kExitUsage;
        }
        write_all(out);
        return kExitOk;
    }
    write_all(render(snap, a.render));
    return kExitOk;
}
