// Placeholder until the plan subcommand lands; it fails loudly rather than pretending.
#include <cstdio>

#include "cli/cli.hpp"

namespace ringprobe::cli {

int plan_main(int, char**) {
    std::fprintf(stderr, "ringprobe: 'plan' is not built yet in this checkout\n");
    return 1;
}

}  // namespace ringprobe::cli
