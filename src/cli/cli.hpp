// The subcommands of the ringprobe binary. Each returns the process exit status:
// 0 success, 1 runtime failure, 2 bad usage or bad configuration (nothing started).
#pragma once

namespace ringprobe::cli {

int plan_main(int argc, char** argv);  // ringprobe plan --config FILE [--json] [--check]
int run_main(int argc, char** argv);   // ringprobe run --config FILE [--name N] [--workers N]

}  // namespace ringprobe::cli
