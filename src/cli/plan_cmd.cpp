// ringprobe plan --config FILE [--nics FILE]... [--parameters FILE]... [--json] [--check]
//
// Reads a gateway configuration and shows what ringprobe would probe: the report rows
// (pool x setting x server) and the distinct probe targets they share. Nothing is started.
// Exit status: 0 valid, 2 bad usage or bad configuration (errors on stderr, one per line).
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli.hpp"
#include "common/command_line.hpp"
#include "common/json.hpp"
#include "common/shard.hpp"
#include "config/load.hpp"
#include "engine/tls/trust.hpp"

namespace ringprobe::cli {
namespace {

constexpr const char* kPlanFooter =
    "Reads an Application Gateway configuration (REST/ARM resource, ARM template, or\n"
    "'az network application-gateway show' output) and prints its report rows and\n"
    "probe targets. Nothing is probed.\n"
    "\n"
    "exit status: 0 valid, 2 bad usage or configuration";

std::string u64(std::uint64_t v) {
    return std::to_string(v);
}

std::string hex64(std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i) {
        s[static_cast<std::size_t>(i)] = digits[v & 0xf];
        v >>= 4;
    }
    return s;
}

std::string match_text(const Target& t) {
    if (!protocol_is_http(t.protocol)) {
        return t.proxy_protocol == ProxyProtocol::V1   ? "connect, PROXY v1"
               : t.proxy_protocol == ProxyProtocol::V2 ? "connect, PROXY v2"
                                                       : "connect";
    }
    std::string s;
    for (const auto& r : t.match_status) {
        s += s.empty() ? "" : ",";
        s += u64(r.lo);
        if (r.hi != r.lo) {
            s += "-" + u64(r.hi);
        }
    }
    if (!t.match_body.empty()) {
        s += " body~\"" + t.match_body.substr(0, 30) + (t.match_body.size() > 30 ? "...\"" : "\"");
    }
    return s;
}

std::string host_port(const std::string& address, std::uint16_t port) {
    bool v6 = address.find(':') != std::string::npos;
    return (v6 ? "[" + address + "]" : address) + ":" + u64(port);
}

// A plain text table: column widths fitted to the data.
class Table {
public:
    explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    void print(std::string& out) const {
        std::vector<std::size_t> width(rows_.front().size(), 0);
        for (const auto& r : rows_) {
            for (std::size_t c = 0; c < r.size(); ++c) {
                width[c] = std::max(width[c], r[c].size());
            }
        }
        for (const auto& r : rows_) {
            out += "  ";
            for (std::size_t c = 0; c < r.size(); ++c) {
                out += r[c];
                if (c + 1 < r.size()) {
                    out.append(width[c] - r[c].size() + 2, ' ');
                }
            }
            out += '\n';
        }
    }

private:
    std::vector<std::vector<std::string>> rows_;
};

std::string summary(const Plan& plan) {
    return u64(plan.rows.size()) + " rows, " + u64(plan.targets.size()) + " targets";
}

// The server column: the address, and the network interface it came from.
std::string server_text(const Server& s) {
    std::string out = s.address_known ? s.address : std::string("address unknown");
    if (!s.nic.empty()) {
        out += " (nic " + s.nic + " ipconfig " + s.ip_configuration + ")";
    }
    return out;
}

// What a reader should act on: pools shown with no rows, members whose address is not known.
void print_notes(const Plan& plan, std::string& out) {
    std::vector<bool> has_rows(plan.pools.size(), false);
    for (const Row& r : plan.rows) {
        has_rows[r.pool_index] = true;
    }
    std::string empty;
    for (std::size_t i = 0; i < plan.pools.size(); ++i) {
        if (!has_rows[i] && plan.pools[i].servers.empty()) {
            empty += "  " + plan.pools[i].name + "\n";
        }
    }
    if (!empty.empty()) {
        out += "\npools with no members (shown with no rows)\n" + empty;
    }
    if (!plan.unresolved_ip_configurations.empty()) {
        out +=
            "\nIP configurations whose address no --nics file gives (their rows read Unknown;\n"
            "export them with 'az network nic show --ids ID' or 'az vmss nic list')\n";
        for (const std::string& id : plan.unresolved_ip_configurations) {
            out += "  " + id + "\n";
        }
    }
}

// --- shard ---
// The shards that probe a target, highest rendezvous weight first ("0/3" or "0/3,2/3").
std::vector<std::uint32_t> owners_of(const Plan& plan, const Target& t) {
    std::vector<std::uint32_t> owners(plan.shard.replicas);
    owners.resize(shard_owners(plan.shard, t.identity_hash, owners));
    return owners;
}

std::string owners_text(const Plan& plan, const Target& t) {
    std::string out;
    for (const std::uint32_t j : owners_of(plan, t)) {
        out += (out.empty() ? "" : ",") + shard_label(j, plan.shard.count);
    }
    return out;
}

struct ShardCount {
    std::uint64_t targets = 0;
    std::uint64_t rows = 0;
};

std::vector<ShardCount> shard_counts(const Plan& plan) {
    std::vector<ShardCount> counts(plan.shard.count);
    std::vector<std::vector<std::uint32_t>> owners;
    for (const Target& t : plan.targets) {
        owners.push_back(owners_of(plan, t));
        for (const std::uint32_t j : owners.back()) {
            counts[j].targets += 1;
        }
    }
    for (const Row& r : plan.rows) {
        for (const std::uint32_t j : owners[r.target_index]) {
            counts[j].rows += 1;
        }
    }
    return counts;
}

// "shards: this is 1/3 (replicas 1)" and one line per shard with its targets and rows.
void print_shards(const Plan& plan, std::string& out) {
    out += "\nshards: this is " + shard_label(plan.shard.index, plan.shard.count) +
           ", each target probed by " + u64(plan.shard.replicas) + "\n";
    Table shards({"shard", "targets", "rows"});
    const std::vector<ShardCount> counts = shard_counts(plan);
    for (std::uint32_t j = 0; j < plan.shard.count; ++j) {
        shards.add({shard_label(j, plan.shard.count) + (j == plan.shard.index ? " (this)" : ""),
                    u64(counts[j].targets), u64(counts[j].rows)});
    }
    shards.print(out);
}

void json_shards(const Plan& plan, std::string& out) {
    out += ",\"shard\":{\"shard\":\"" + shard_label(plan.shard.index, plan.shard.count) +
           "\",\"index\":" + u64(plan.shard.index) + ",\"count\":" + u64(plan.shard.count) +
           ",\"replicas\":" + u64(plan.shard.replicas) + ",\"perShard\":[";
    const std::vector<ShardCount> counts = shard_counts(plan);
    for (std::uint32_t j = 0; j < plan.shard.count; ++j) {
        out += (j ? ",{\"shard\":\"" : "{\"shard\":\"") + shard_label(j, plan.shard.count) +
               "\",\"targets\":" + u64(counts[j].targets) + ",\"rows\":" + u64(counts[j].rows) +
               "}";
    }
    out += "]}";
}
// --- end shard ---

void print_text(const Plan& plan, std::string& out) {
    out += "gateway " + plan.gateway_name + ": " + u64(plan.pools.size()) + " pools, " +
           u64(plan.settings.size()) + " settings, " + u64(plan.probes.size()) +
           " custom probes (digest " + hex64(plan.digest) + ")\n\nrows\n";
    const bool sharded = plan.shard.sharded();
    Table rows = sharded ? Table({"pool", "setting", "port/protocol", "server", "target", "shard"})
                         : Table({"pool", "setting", "port/protocol", "server", "target"});
    for (const Row& r : plan.rows) {
        const Pool& pool = plan.pools[r.pool_index];
        const Setting& st = plan.settings[r.setting_index];
        const Target& t = plan.targets[r.target_index];
        std::vector<std::string> cells{
            pool.name, st.name, u64(t.port) + "/" + protocol_name(t.protocol),
            server_text(pool.servers[r.server_index]), "#" + u64(r.target_index)};
        if (sharded) {
            cells.push_back(owners_text(plan, t) + (t.owned ? " (this)" : ""));
        }
        rows.add(std::move(cells));
    }
    rows.print(out);
    out += "\ntargets\n";
    Table targets({"#", "address:port", "protocol", "host", "path", "sni", "interval/timeout",
                   "down/up", "match"});
    for (std::size_t i = 0; i < plan.targets.size(); ++i) {
        const Target& t = plan.targets[i];
        if (!t.address_known) {
            targets.add({u64(i), "(not probed: address unknown)", protocol_name(t.protocol), "-",
                         "-", "-", "-", "-", "-"});
            continue;
        }
        targets.add({u64(i), host_port(t.address, t.port), protocol_name(t.protocol),
                     t.host.empty() ? "-" : t.host, t.path.empty() ? "-" : t.path,
                     t.sni.empty() ? "-" : t.sni,
                     u64(t.interval_ms) + "/" + u64(t.timeout_ms) + " ms",
                     u64(t.unhealthy_threshold) + "/" + u64(t.healthy_threshold), match_text(t)});
    }
    targets.print(out);
    if (sharded) {
        print_shards(plan, out);
    }
    print_notes(plan, out);
    out += "\n" + summary(plan) + "\n";
}

void json_pools(const Plan& plan, std::string& out) {
    out += "\"pools\":[";
    for (std::size_t i = 0; i < plan.pools.size(); ++i) {
        const Pool& p = plan.pools[i];
        out += i ? ",{\"name\":" : "{\"name\":";
        append_json_string(out, p.name);
        out += ",\"servers\":[";
        for (std::size_t k = 0; k < p.servers.size(); ++k) {
            out += k ? "," : "";
            append_json_string(out, p.servers[k].address);
        }
        out += "]}";
    }
    out += "]";
}

void json_settings(const Plan& plan, std::string& out) {
    out += "\"settings\":[";
    for (std::size_t i = 0; i < plan.settings.size(); ++i) {
        const Setting& s = plan.settings[i];
        out += i ? ",{\"name\":" : "{\"name\":";
        append_json_string(out, s.name);
        out += s.layer4 ? ",\"collection\":\"backendSettingsCollection\""
                        : ",\"collection\":\"backendHttpSettingsCollection\"";
        out += ",\"port\":" + u64(s.port) + ",\"protocol\":\"" + protocol_name(s.protocol) +
               "\",\"probe\":";
        if (s.default_probe) {
            out += "null";
        } else {
            append_json_string(out, s.probe_name);
        }
        out += "}";
    }
    out += "]";
}

void json_rows(const Plan& plan, std::string& out) {
    out += "\"rows\":[";
    for (std::size_t i = 0; i < plan.rows.size(); ++i) {
        const Row& r = plan.rows[i];
        out += i ? ",{\"pool\":" : "{\"pool\":";
        append_json_string(out, plan.pools[r.pool_index].name);
        out += ",\"setting\":";
        append_json_string(out, plan.settings[r.setting_index].name);
        out += ",\"server\":";
        const Server& server = plan.pools[r.pool_index].servers[r.server_index];
        append_json_string(out, server.address);
        if (!server.nic.empty()) {
            out += ",\"nic\":";
            append_json_string(out, server.nic);
            out += ",\"ipConfiguration\":";
            append_json_string(out, server.ip_configuration);
        }
        if (!server.address_known) {
            out += ",\"addressKnown\":false";
        }
        out += ",\"target\":" + u64(r.target_index);
        if (plan.shard.sharded()) {
            const Target& t = plan.targets[r.target_index];
            out += ",\"shards\":[";
            for (const std::uint32_t j : owners_of(plan, t)) {
                out += (out.back() == '[' ? "" : ",") + u64(j);
            }
            out += std::string("],\"probedHere\":") + (t.owned ? "true" : "false");
        }
        out += "}";
    }
    out += "]";
}

// A TLS target's trust settings, appended to its object.
void json_target_tls(const Plan& plan, const Target& t, std::string& out) {
    out += std::string(",\"validateChain\":") + (t.validate_chain ? "true" : "false") +
           ",\"validateSni\":" + (t.validate_sni ? "true" : "false") +
           ",\"tlsResume\":" + (t.tls_resume ? "true" : "false") + ",\"trustedRoots\":[";
    for (std::size_t k = 0; k < t.trusted_roots.size(); ++k) {
        out += k ? "," : "";
        append_json_string(out, plan.trusted_roots[t.trusted_roots[k]].name);
    }
    out += "]";
}

void json_target(const Plan& plan, const Target& t, std::string& out) {
    out += "{\"address\":";
    append_json_string(out, t.address);
    out += ",\"port\":" + u64(t.port) + ",\"protocol\":\"" + protocol_name(t.protocol) +
           "\",\"host\":";
    append_json_string(out, t.host);
    out += ",\"path\":";
    append_json_string(out, t.path);
    out += ",\"sni\":";
    append_json_string(out, t.sni);
    out +=
        ",\"intervalMs\":" + u64(t.interval_ms) + ",\"timeoutMs\":" + u64(t.timeout_ms) +
        ",\"jitterMs\":" + u64(t.jitter_ms) +
        (t.fast_interval_ms != 0 ? ",\"fastIntervalMs\":" + u64(t.fast_interval_ms) : "") +
        (t.unhealthy_interval_ms != 0 ? ",\"unhealthyIntervalMs\":" + u64(t.unhealthy_interval_ms)
                                      : "") +
        ",\"unhealthyThreshold\":" + u64(t.unhealthy_threshold) +
        ",\"healthyThreshold\":" + u64(t.healthy_threshold) + ",\"statusCodes\":[";
    for (std::size_t k = 0; k < t.match_status.size(); ++k) {
        out += k ? ",\"" : "\"";
        out += u64(t.match_status[k].lo) + "-" + u64(t.match_status[k].hi) + "\"";
    }
    out += "],\"body\":";
    append_json_string(out, t.match_body);
    out += std::string(",\"closePolicy\":\"") +
           (t.close_policy == ClosePolicy::Reset ? "reset" : "graceful") + "\"";
    if (t.proxy_protocol != ProxyProtocol::None) {
        out += t.proxy_protocol == ProxyProtocol::V1 ? ",\"proxyProtocol\":\"v1\""
                                                     : ",\"proxyProtocol\":\"v2\"";
    }
    if (t.connection_reuse) {
        out += ",\"connectionReuse\":true";
    }
    if (protocol_is_tls(t.protocol)) {
        json_target_tls(plan, t, out);
    }
    out += ",\"identityHash\":\"" + hex64(t.identity_hash) + "\"}";
}

void json_targets(const Plan& plan, std::string& out) {
    out += "\"targets\":[";
    for (std::size_t i = 0; i < plan.targets.size(); ++i) {
        out += i ? "," : "";
        json_target(plan, plan.targets[i], out);
    }
    out += "]";
}

// The loader's warnings and the IP configuration ids no --nics file resolved.
void json_notes(const Plan& plan, std::string& out) {
    out += "\"warnings\":[";
    for (std::size_t i = 0; i < plan.warnings.size(); ++i) {
        out += i ? ",{\"path\":" : "{\"path\":";
        append_json_string(out, plan.warnings[i].path);
        out += ",\"message\":";
        append_json_string(out, plan.warnings[i].message);
        out += "}";
    }
    out += "],\"unresolvedIpConfigurations\":[";
    for (std::size_t i = 0; i < plan.unresolved_ip_configurations.size(); ++i) {
        out += i ? "," : "";
        append_json_string(out, plan.unresolved_ip_configurations[i]);
    }
    out += "]";
}

void print_json(const Plan& plan, std::string& out) {
    out += "{\"gateway\":";
    append_json_string(out, plan.gateway_name);
    out += ",\"digest\":\"" + hex64(plan.digest) +
           "\",\"startSpreadMs\":" + u64(plan.start_spread_ms) +
           ",\"quantumMs\":" + u64(plan.quantum_ms) + ",\"startBatch\":" + u64(plan.start_batch);
    out += ",";
    json_pools(plan, out);
    out += ",";
    json_settings(plan, out);
    out += ",";
    json_rows(plan, out);
    out += ",";
    json_targets(plan, out);
    out += ",";
    json_notes(plan, out);
    if (plan.shard.sharded()) {
        json_shards(plan, out);
    }
    out += "}\n";
}

void write_all(std::FILE* f, const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), f);
}

struct PlanArgs {
    std::string config;
    config::LoadOptions load;
    ShardArgs shard;
    bool json = false;
    bool check = false;
};

int run_plan(PlanArgs& a) {
    if (!resolve_shard("plan", a.shard, a.load)) {
        return 2;
    }
    auto plan = config::load_plan_file(a.config, a.load);
    if (!plan) {
        write_all(stderr, config::format_errors(plan.error(), a.config));
        std::fprintf(stderr, "ringprobe plan: %zu error%s in %s; nothing started\n",
                     plan.error().size(), plan.error().size() == 1 ? "" : "s", a.config.c_str());
        return 2;
    }
    if (!plan->client_certificates.empty()) {
        // A key that is not its certificate's is refused here as `run` would refuse it, so that
        // `plan --check` vouches for what `run` loads.
        auto contexts = tls::TlsContexts::build(*plan);
        if (!contexts) {
            std::fprintf(stderr, "%s: %s\nringprobe plan: 1 error in %s; nothing started\n",
                         a.config.c_str(), contexts.error().message.c_str(), a.config.c_str());
            return 2;
        }
    }
    write_all(stderr, config::format_warnings(*plan, a.config));
    std::string out;
    if (a.check) {
        out = "ok: " + summary(*plan) + "\n";
    } else if (a.json) {
        print_json(*plan, out);
    } else {
        print_text(*plan, out);
    }
    write_all(stdout, out);
    return 0;
}

}  // namespace

CommandMain add_plan_command(CLI::App& app) {
    auto args = std::make_shared<PlanArgs>();
    CLI::App* plan_cmd =
        app.add_subcommand("plan", "print a configuration's report rows and probe targets");
    plan_cmd->footer(kPlanFooter);
    plan_cmd
        ->add_option("--config", args->config,
                     "the configuration (JSON); docs/configuration.md lists the fields")
        ->required()
        ->type_name("FILE");
    add_member_files(*plan_cmd, args->load);
    add_shard_flags(*plan_cmd, args->shard);
    plan_cmd->add_flag("--json", args->json, "print the plan as JSON for machines");
    plan_cmd->add_flag("--check", args->check,
                       "only validate: print 'ok: N rows, M targets' or the errors");
    return [args] { return run_plan(*args); };
}

}  // namespace ringprobe::cli
