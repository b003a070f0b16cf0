// The shard flags of `ringprobe run` and `ringprobe plan` (see cli.hpp).
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>

#include "cli/cli.hpp"
#include "common/shard.hpp"

namespace ringprobe::cli {

namespace {

CLI::Validator shard_text() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            auto p = parse_shard(s);
            return p ? std::string() : p.error().message;
        },
        "", "");
}

// The StatefulSet's pod name: the host name, which Kubernetes sets to it.
Result<std::uint32_t> hostname_ordinal() {
    char host[HOST_NAME_MAX + 1] = {};
    if (::gethostname(host, sizeof host - 1) != 0) {
        return error("cannot read the host name; give --shard I/N instead");
    }
    return ordinal_from_hostname(host);
}

}  // namespace

void add_shard_flags(CLI::App& cmd, ShardArgs& a) {
    cmd.add_option("--shard", a.shard,
                   "probe only this shard's targets: shard I of N (0-based), by\n"
                   "rendezvous hashing of each target's identity (docs/scale-out.md);\n"
                   "the report keeps every row and marks the others' OtherShard")
        ->check(shard_text())
        ->type_name("I/N");
    cmd.add_flag("--shard-from-hostname", a.from_hostname,
                 "take I from a host name NAME-I (a StatefulSet pod's ordinal);\n"
                 "N from --shards");
    command_line::add_number(cmd, "--shards", a.shards, 1u, ShardPlacement::count_max,
                             "the number of shards, with --shard-from-hostname");
    command_line::add_number(cmd, "--replicas", a.replicas, 1u, ShardPlacement::count_max,
                             "shards that probe each target (default 1): the R of N with the\n"
                             "highest rendezvous weight");
}

bool resolve_shard(const char* command, const ShardArgs& a, config::LoadOptions& load) {
    auto fail = [command](const std::string& message) {
        std::fprintf(stderr, "ringprobe %s: %s (see --help)\n", command, message.c_str());
        return false;
    };
    ShardPlacement p;
    if (a.from_hostname) {
        if (!a.shard.empty()) {
            return fail("--shard and --shard-from-hostname: give one of them");
        }
        if (a.shards == 0) {
            return fail("--shard-from-hostname: needs --shards N, the number of shards");
        }
        auto ordinal = hostname_ordinal();
        if (!ordinal) {
            return fail("--shard-from-hostname: " + ordinal.error().message);
        }
        auto parsed = parse_shard(std::to_string(*ordinal) + "/" + std::to_string(a.shards));
        if (!parsed) {
            return fail("--shard-from-hostname: the host name gives " + parsed.error().message);
        }
        p = *parsed;
    } else if (!a.shard.empty()) {
        if (a.shards != 0) {
            return fail("--shards: only with --shard-from-hostname; --shard I/N names N itself");
        }
        p = *parse_shard(a.shard);  // checked while parsing
    } else if (a.shards != 0) {
        return fail("--shards: only with --shard-from-hostname");
    }
    p.replicas = a.replicas;
    if (auto ok = check_replicas(p); !ok) {
        return fail(ok.error().message);
    }
    load.shard = p;
    return true;
}

}  // namespace ringprobe::cli
