// The subcommands of the ringprobe binary. Each add_*_command declares a subcommand and its
// flags on the program's parser and returns what runs it once the command line is parsed.
// That returns the process exit status: 0 success, 1 runtime failure, 2 bad usage or bad
// configuration (nothing started).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace ringprobe::cli {

using CommandMain = std::function<int()>;

CommandMain add_plan_command(CLI::App& app);  // ringprobe plan --config FILE [--json] [--check]
CommandMain add_run_command(CLI::App& app);   // ringprobe run --config FILE [options]

}  // namespace ringprobe::cli
