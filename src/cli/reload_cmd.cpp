// ringprobe reload: asks the engine that runs a report to read its configuration again (SIGHUP),
// waits until its report says how that went (lastReload newer than the signal) and prints it.
// Exit status: 0 applied, 1 refused, 2 bad usage, 3 no engine runs the report, 4 no answer
// within --timeout-ms.
#include <signal.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "cli/cli.hpp"
#include "common/clock.hpp"
#include "common/command_line.hpp"
#include "report/name_lock.hpp"
#include "report/reader.hpp"

namespace ringprobe::cli {

namespace {

struct ReloadArgs {
    std::string name;
    unsigned timeout_ms = 10'000;
};

constexpr int kExitRefused = 1;
constexpr int kExitNoEngine = 3;
constexpr int kExitTimedOut = 4;

constexpr const char* kReloadFooter =
    "Finds the engine that runs report NAME (the claim `ringprobe run` holds on the name),\n"
    "sends it SIGHUP, and waits until its report says how the reload went. The engine reads\n"
    "its --config again (with its --nics and --parameters files): a configuration that loads\n"
    "and that it can apply replaces the running one while probing (unchanged targets keep\n"
    "their health and schedule); one that does not is refused and the engine keeps the\n"
    "configuration it runs; the engine's log has every error.\n"
    "Exit status: 0 applied, 1 refused (the first error is printed), 2 bad usage, 3 no engine\n"
    "runs the report, 4 no answer within --timeout-ms.";

// The report's lastReload once it is newer than `since_unix_ns`; false until then.
bool reload_after(const std::string& name, std::uint64_t since_unix_ns, report::Snapshot& out) {
    auto rep = report::Report::open(name);
    if (!rep) {
        return false;  // between the old segment's removal and the new one's rename: look again
    }
    out = rep->snapshot({});
    return out.reload_result() != report_abi::kReloadNone &&
           out.last_reload.unix_ns >= since_unix_ns;
}

int reload(const ReloadArgs& a) {
    auto pid = report::NameLock::holder(a.name);
    if (!pid) {
        std::fprintf(stderr, "ringprobe reload: %s\n", pid.error().message.c_str());
        return kExitNoEngine;
    }
    const std::uint64_t sent_unix_ns = realtime_ns();
    if (::kill(*pid, SIGHUP) != 0) {
        const int e = errno;
        std::fprintf(stderr, "ringprobe reload: cannot signal engine pid %d: %s\n", *pid,
                     std::strerror(e));
        return kExitNoEngine;
    }
    const std::uint64_t until = monotonic_ns() + std::uint64_t{a.timeout_ms} * 1'000'000;
    report::Snapshot snap;
    while (!reload_after(a.name, sent_unix_ns, snap)) {
        if (monotonic_ns() >= until) {
            std::fprintf(stderr,
                         "ringprobe reload: engine pid %d did not report a reload within %u ms; "
                         "its log says why (a reload of a large configuration can take longer: "
                         "raise --timeout-ms)\n",
                         *pid, a.timeout_ms);
            return kExitTimedOut;
        }
        timespec ts{0, 20'000'000};
        nanosleep(&ts, nullptr);
    }
    if (snap.reload_result() == report_abi::kReloadRefused) {
        std::printf("reload refused: %.*s\n", static_cast<int>(snap.reload_error().size()),
                    snap.reload_error().data());
        std::printf("engine pid %d keeps the configuration it runs; its log has every error\n",
                    *pid);
        return kExitRefused;
    }
    std::printf("reload applied: report %s generation %llu, engine pid %d\n", a.name.c_str(),
                static_cast<unsigned long long>(snap.info->header.generation), *pid);
    return 0;
}

}  // namespace

CommandMain add_reload_command(CLI::App& app) {
    auto args = std::make_shared<ReloadArgs>();
    CLI::App* cmd = app.add_subcommand("reload",
                                       "make a running engine read its configuration "
                                       "again");
    cmd->footer(kReloadFooter);
    cmd->add_option("--name", args->name, "the report the engine runs (its --name)")
        ->required()
        ->type_name("NAME");
    command_line::add_number(*cmd, "--timeout-ms", args->timeout_ms, 1u, 3'600'000u,
                             "how long to wait for the engine's answer (default 10000)", "MS");
    return [args] { return reload(*args); };
}

}  // namespace ringprobe::cli
