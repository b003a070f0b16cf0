// Placeholder until the run subcommand lands; it fails loudly rather than pretending.
#include <cstdio>

#include "cli/cli.hpp"

namespace ringprobe::cli {

int run_main(int, char**) {
    std::fprintf(stderr, "ringprobe: 'run' is not built yet in this checkout\n");
    return 1;
}

}  // namespace ringprobe::cli
