// ringprobe: arguments, then one subcommand. Thin on purpose: the work is in src/cli/.
#include <cstdio>
#include <cstring>

#include "cli/cli.hpp"

#if defined(RINGPROBE_JEMALLOC)
// Read by jemalloc when the process starts. The plan's large arrays (100,000 servers make about
// 60 MB) are built once at start-up, where first-touching 4 KiB pages dominated the load time
// on this VM (docs/configuration.md, "Load time"); transparent huge pages cut that in half.
// Nothing is allocated on the probe path, so this only shapes start-up and reload.
extern "C" {
const char* malloc_conf = "thp:always,metadata_thp:auto";
}
#endif

namespace {

void usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: ringprobe <command> [options]\n"
                 "\n"
                 "commands:\n"
                 "  plan --config FILE [--json] [--check]   read a gateway configuration and print\n"
                 "                                          its report rows and probe targets\n"
                 "  run  --config FILE [options]            probe every target and publish the report\n"
                 "  version                                 print the version\n"
                 "\n"
                 "'ringprobe <command> --help' documents each command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char* cmd = argv[1];
    if (std::strcmp(cmd, "plan") == 0) {
        return ringprobe::cli::plan_main(argc - 1, argv + 1);
    }
    if (std::strcmp(cmd, "run") == 0) {
        return ringprobe::cli::run_main(argc - 1, argv + 1);
    }
    if (std::strcmp(cmd, "version") == 0 || std::strcmp(cmd, "--version") == 0) {
        std::printf("ringprobe %s\n", RINGPROBE_VERSION);
        return 0;
    }
    if (std::strcmp(cmd, "help") == 0 || std::strcmp(cmd, "--help") == 0 ||
        std::strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    std::fprintf(stderr, "ringprobe: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
