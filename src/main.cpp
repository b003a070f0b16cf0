// ringprobe: arguments, then one subcommand. Thin on purpose: the work is in src/cli/.
#include <cstdio>
#include <string>

#include "cli/cli.hpp"
#include "common/command_line.hpp"

#if defined(RINGPROBE_JEMALLOC)
// Read by jemalloc when the process starts. The plan's large arrays (100,000 servers make about
// 60 MB) are built once at start-up, where first-touching 4 KiB pages dominated the load time
// on this VM (docs/configuration.md, "Load time"); transparent huge pages cut that in half.
// Nothing is allocated on the probe path, so this only shapes start-up.
extern "C" {
const char* malloc_conf = "thp:always,metadata_thp:auto";
}
#endif

int main(int argc, char** argv) {
    using namespace ringprobe;
    CLI::App app("Active health probes for an Application Gateway's backends.", "ringprobe");
    command_line::configure(app);
    app.require_subcommand(0, 1);
    app.footer("'ringprobe <command> --help' documents each command's options.");
    bool version = false;
    app.add_flag("--version", version, "print the version");
    const cli::CommandMain plan = cli::add_plan_command(app);
    const cli::CommandMain run = cli::add_run_command(app);
    const cli::CommandMain reload = cli::add_reload_command(app);
    const cli::CommandMain check = cli::add_check_command(app);
    CLI::App* version_cmd = app.add_subcommand("version", "print the version");
    CLI::App* help_cmd = app.add_subcommand("help", "print this text");
    if (int rc = command_line::parse(app, argc, argv); rc != command_line::kContinue) {
        return rc;
    }
    if (app.got_subcommand("plan")) {
        return plan();
    }
    if (app.got_subcommand("run")) {
        return run();
    }
    if (app.got_subcommand("reload")) {
        return reload();
    }
    if (app.got_subcommand("check")) {
        return check();
    }
    if (version || version_cmd->parsed()) {
        std::printf("ringprobe %s\n", RINGPROBE_VERSION);
        return 0;
    }
    if (help_cmd->parsed()) {
        // App::help() would describe the help subcommand itself, the one parsed.
        const std::string text = app.get_formatter()->make_help(&app, "ringprobe", {});
        std::fputs(text.c_str(), stdout);
        return 0;
    }
    std::fprintf(stderr, "ringprobe: a command is required\n\n%s", app.help().c_str());
    return command_line::kExitUsage;
}
