// The subcommands of the ringprobe binary. Each add_*_command declares a subcommand and its
// flags on the program's parser and returns what runs it once the command line is parsed.
// That returns the process exit status: 0 success, 1 runtime failure, 2 bad usage or bad
// configuration (nothing started).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "common/command_line.hpp"
#include "config/load.hpp"

namespace ringprobe::cli {

using CommandMain = std::function<int()>;

// --nics FILE and --parameters FILE, repeatable: where pool members and template parameters
// come from besides the configuration. `plan` and `run` read a configuration the same way, so
// both declare these here.
inline void add_member_files(CLI::App& cmd, config::LoadOptions& load) {
    command_line::add_files(cmd, "--nics", load.nics_files,
                            "network interfaces whose IP configurations are pool members:\n"
                            "the JSON of 'az network nic list|show' or 'az vmss nic list'\n"
                            "(repeatable)");
    command_line::add_files(cmd, "--parameters", load.parameters_files,
                            "an ARM parameters file for a template (repeatable, later\n"
                            "files win)");
}

// --- shard ---
// --shard I/N, --shard-from-hostname with --shards N, --replicas R: which targets this engine
// probes (src/common/shard.hpp). Declared by `run` and `plan`; resolve_shard() applies the
// cross-flag rules after parsing.
struct ShardArgs {
    std::string shard;  // "I/N" as given; empty: not given
    bool from_hostname = false;
    std::uint32_t shards = 0;  // --shards N, with --shard-from-hostname
    std::uint32_t replicas = 1;
};
void add_shard_flags(CLI::App& cmd, ShardArgs& a);
// Fills load.shard; on bad input prints "ringprobe CMD: --flag ...: the rule" and returns false
// (the caller exits 2).
bool resolve_shard(const char* command, const ShardArgs& a, config::LoadOptions& load);
// --- end shard ---

CommandMain add_plan_command(CLI::App& app);    // ringprobe plan --config FILE [--json] [--check]
CommandMain add_run_command(CLI::App& app);     // ringprobe run --config FILE [options]
CommandMain add_reload_command(CLI::App& app);  // ringprobe reload --name NAME
CommandMain add_check_command(CLI::App& app);   // ringprobe check URL | --config F --server A

}  // namespace ringprobe::cli
