// ringprobe-report: print the engine's health report from shared memory.
//
//   ringprobe-report [--name NAME] [--format table|json|powershell] [--pool NAME]
//                    [--health Healthy|Unhealthy|Unknown] [--details] [--watch]
//   ringprobe-report --troubleshoot SERVER [--pool NAME] [--setting NAME] [--name NAME]
//
// Exit status: 0 the report was read (and, with --troubleshoot, the server found); 2 bad
// arguments, or no row of the report has that server; 3 no such report (the engine is not
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

#include "report/names.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"

namespace {

using namespace ringprobe;
using namespace ringprobe::report;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitNoReport = 3;
constexpr int kExitUnreadable = 4;

constexpr const char* kUsage =
    "usage: ringprobe-report [--name NAME] [--format table|json|powershell] [--pool NAME]\n"
    "                        [--health Healthy|Unhealthy|Unknown] [--details] [--watch]\n"
    "       ringprobe-report --troubleshoot SERVER [--pool NAME] [--setting NAME] [--name NAME]\n"
    "Prints the health report the engine publishes in /dev/shm/ringprobe.<NAME>\n"
    "(NAME defaults to $RINGPROBE_NAME, else \"ringprobe\").\n"
    "  --details            table: an indented block under each row (the probe log, phase\n"
    "                       timings, TLS chain, SNI and Host, DNS addresses); json and\n"
    "                       powershell: ringprobe's structured fields, \"tls\" and \"dns\" included\n"
    "  --troubleshoot SERVER  the server as configured in its pool (IP or FQDN): draws\n"
    "                       client -> ringprobe -> server with the faulty part marked (XX, red on\n"
    "                       a terminal), says what is wrong and what to change, then the facts.\n"
    "                       --pool and --setting narrow it; every matching row is shown.\n"
    "Exit status: 0 shown; 2 bad arguments or (--troubleshoot) no such server in the report;\n"
    "3 no such report (is the engine running?); 4 the report is unreadable.\n";

struct Args {
    std::string name;
    RenderOptions render;
    std::string pool;
    std::string setting;       // --setting: only with --troubleshoot
    std::string troubleshoot;  // --troubleshoot SERVER
    bool watch = false;
};

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "ringprobe-report: %s\n%s", msg.c_str(), kUsage);
    return kExitUsage;
}

// Returns -1 when the arguments are good, else the exit status.
int parse(int argc, char** argv, Args& a) {
    const char* env = std::getenv("RINGPROBE_NAME");
    a.name = env != nullptr && *env != '\0' ? env : "ringprobe";
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        auto next = [&](std::string_view opt) -> const char* {
            if (i + 1 >= argc) {
                return nullptr;
            }
            (void)opt;
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return kExitOk;
        } else if (arg == "--details") {
            a.render.details = true;
        } else if (arg == "--watch") {
            a.watch = true;
        } else if (arg == "--name" || arg == "--format" || arg == "--pool" || arg == "--health" ||
                   arg == "--setting" || arg == "--troubleshoot") {
            const char* v = next(arg);
            if (v == nullptr) {
                return usage_error(std::string(arg) + " needs a value");
            }
            std::string_view val = v;
            if (arg == "--name") {
                a.name = val;
            } else if (arg == "--setting") {
                a.setting = val;
            } else if (arg == "--troubleshoot") {
                if (val.empty()) {
                    return usage_error("--troubleshoot needs a server address");
                }
                a.troubleshoot = val;
            } else if (arg == "--pool") {
                a.pool = val;
            } else if (arg == "--format") {
                if (val == "table") {
                    a.render.format = Format::Table;
                } else if (val == "json") {
                    a.render.format = Format::Json;
                } else if (val == "powershell") {
                    a.render.format = Format::Powershell;
                } else {
                    return usage_error("unknown format '" + std::string(val) +
                                       "': use table, json or powershell");
                }
            } else {
                if (val == "Healthy") {
                    a.render.health = Health::Healthy;
                } else if (val == "Unhealthy") {
                    a.render.health = Health::Unhealthy;
                } else if (val == "Unknown") {
                    a.render.health = Health::Unknown;
                } else {
                    return usage_error("unknown health '" + std::string(val) +
                                       "': use Healthy, Unhealthy or Unknown");
                }
            }
        } else {
            return usage_error("unknown argument '" + std::string(arg) + "'");
        }
    }
    if (auto ok = check_segment_name(a.name); !ok) {
        return usage_error(ok.error().message);
    }
    if (!a.setting.empty() && a.troubleshoot.empty()) {
        return usage_error("--setting is for --troubleshoot");
    }
    if (!a.troubleshoot.empty() && a.render.format != Format::Table) {
        return usage_error("--troubleshoot draws for a terminal; for the structured facts use "
                           "--format json --details");
    }
    a.render.pool = a.pool;
    return -1;
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
    return ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr &&
           term != nullptr && std::strcmp(term, "dumb") != 0;
}

// --troubleshoot: the rows of that server, or a sentence saying why there are none.
bool render_troubleshoot_text(const Snapshot& snap, const Args& a, bool color, std::string& out) {
    const std::vector<std::uint32_t> rows = find_rows(snap, a.troubleshoot, a.pool, a.setting);
    if (rows.empty()) {
        out = "ringprobe-report: no server '" + a.troubleshoot + "'";
        out += a.pool.empty() ? "" : " in pool '" + a.pool + "'";
        out += a.setting.empty() ? "" : " with backend setting '" + a.setting + "'";
        out += " in the report '" + a.name +
               "'; give the address as configured in its pool (see ringprobe-report)\n";
        return false;
    }
    out = render_troubleshoot(snap, rows, color);
    return true;
}

std::string render_frame(const Snapshot& snap, const Args& a) {
    if (a.troubleshoot.empty()) {
        return render(snap, a.render);
    }
    std::string out;
    render_troubleshoot_text(snap, a, a.render.color, out);
    return out;
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
            frame += render_frame(report->snapshot(SnapshotOptions{}), a);
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
    if (int rc = parse(argc, argv, a); rc >= 0) {
        return rc;
    }
    a.render.color = a.render.format == Format::Table && use_color();
    if (a.watch) {
        return watch(a);
    }
    auto report = Report::open(a.name);
    if (!report) {
        return report_error(report.error());
    }
    const Snapshot snap = report->snapshot(SnapshotOptions{});
    if (!a.troubleshoot.empty()) {
        std::string out;
        if (!render_troubleshoot_text(snap, a, use_color(), out)) {
            std::fputs(out.c_str(), stderr);
            return kExitUsage;
        }
        write_all(out);
        return kExitOk;
    }
    write_all(render(snap, a.render));
    return kExitOk;
}
