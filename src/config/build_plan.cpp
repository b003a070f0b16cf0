// Stage 2 of loading (see loader.hpp): each setting's probe is resolved once into a Spec (the
// gateway's defaults and precedence rules live in resolve_spec), then rows are emitted pool by
// pool, setting by setting, server by server, and identical probes are merged into one Target
// through an open-addressing table keyed on the probe's identity (no allocation per lookup).
#include <algorithm>

#include "common/hash.hpp"
#include "common/text.hpp"
#include "config/loader.hpp"
#include "config/request.hpp"

#ifndef RINGPROBE_VERSION
#define RINGPROBE_VERSION "0"
#endif

namespace ringprobe::config::detail {

namespace {

bool same_class(const Spec& a, const Spec& b) {
    return a.protocol == b.protocol && a.port == b.port && *a.match == *b.match &&
           a.body == b.body && a.interval_ms == b.interval_ms && a.timeout_ms == b.timeout_ms &&
           a.jitter_ms == b.jitter_ms && a.fast_interval_ms == b.fast_interval_ms &&
           a.unhealthy_interval_ms == b.unhealthy_interval_ms &&
           a.unhealthy_threshold == b.unhealthy_threshold &&
           a.healthy_threshold == b.healthy_threshold && a.close_policy == b.close_policy &&
           a.validate_chain == b.validate_chain && a.validate_sni == b.validate_sni &&
           a.tls_resume == b.tls_resume && *a.roots == *b.roots &&
           a.cert_expiry_warning_days == b.cert_expiry_warning_days &&
           a.dns_aggregation == b.dns_aggregation && a.proxy_protocol == b.proxy_protocol &&
           a.client_certificate == b.client_certificate && a.connection_reuse == b.connection_reuse;
}

// The gateway's defaults and precedence rules, in one place (docs/configuration.md has the table).
// Precedence of each timing/threshold value: the probe's own "ringprobe" object (or, for the
// default probe, the setting's), then the probe's gateway field, then the top-level "ringprobe"
// object, then the gateway default.
Spec resolve_spec(const Setting& st, const SettingIn& in, const Probe* probe, const ProbeIn* pin,
                  const Ext& top, std::vector<std::string>& problems) {
    Spec sp;
    sp.protocol = st.protocol;
    sp.port = st.port;
    sp.validate_chain = st.validate_chain;
    sp.validate_sni = st.validate_sni;
    sp.roots = &st.trusted_roots;
    sp.client_certificate = st.client_certificate;
    const Ext& own = probe != nullptr ? pin->ext : in.ext;
    bool http = protocol_is_http(st.protocol);

    if (probe != nullptr) {
        if (probe->protocol != st.protocol) {
            problems.push_back("probe \"" + probe->name + "\" uses " +
                               protocol_name(probe->protocol) + " but this setting uses " +
                               protocol_name(st.protocol) +
                               "; a probe's protocol must match its setting's");
        }
        if (probe->port != 0) {
            sp.port = probe->port;
        }
        sp.proxy_protocol = probe->proxy_protocol;
        if (http) {
            sp.path = probe->path;
            if (!probe->match_status.empty()) {
                sp.match = &probe->match_status;
            }
            sp.body = probe->match_body;
            if (pin->has_host) {
                sp.host_from = HostFrom::Fixed;
                sp.host = probe->host;
            } else if (!st.host_name.empty()) {
                sp.host_from = HostFrom::Fixed;
                sp.host = st.host_name;
            } else if (st.pick_host_from_address) {
                sp.host_from = HostFrom::ServerAddress;
            } else if (probe->pick_host_from_settings) {
                problems.push_back("probe \"" + probe->name +
                                   "\" takes its host from this setting "
                                   "(pickHostNameFromBackendHttpSettings) but the setting has "
                                   "neither hostName nor pickHostNameFromBackendAddress");
            }
        }
    } else if (http) {
        sp.path = "/";
        sp.host_from = HostFrom::Fixed;
        sp.host = default_probe_host;  // Host header only: never the SNI
    }

    if (probe != nullptr && pin->pick_sni_from_settings && st.protocol == Protocol::Tls &&
        st.host_name.empty() && st.sni_name.empty() && !st.pick_host_from_address) {
        problems.push_back("probe \"" + probe->name +
                           "\" takes its SNI from this setting (pickHostNameFromBackendSettings) "
                           "but the setting has neither hostName nor "
                           "pickHostNameFromBackendAddress");
    }
    if (protocol_is_tls(st.protocol)) {
        // A host name may carry a port for the Host header; the SNI never does (RFC 6066 3).
        if (probe != nullptr && pin->has_host) {
            sp.sni_from = SniFrom::Fixed;
            sp.sni = host_without_port(probe->host);
        } else if (!st.sni_name.empty()) {
            sp.sni_from = SniFrom::Fixed;
            sp.sni = st.sni_name;
        } else if (!st.host_name.empty()) {
            sp.sni_from = SniFrom::Fixed;
            sp.sni = host_without_port(st.host_name);
        } else {
            sp.sni_from = SniFrom::ServerFqdn;
        }
        if (sp.sni_from == SniFrom::Fixed && is_ip_literal(sp.sni)) {
            sp.sni_from = SniFrom::None;  // an IP literal is never sent as SNI
            sp.sni = {};
        }
    }

    auto pick_ms = [&](const std::optional<std::uint32_t>& own_ms,
                       const std::optional<std::uint32_t>& gw_s,
                       const std::optional<std::uint32_t>& top_ms, std::uint32_t dflt) {
        if (own_ms) {
            return *own_ms;
        }
        if (gw_s) {
            return *gw_s * 1000u;
        }
        return top_ms.value_or(dflt);
    };
    std::optional<std::uint32_t> none;
    sp.interval_ms =
        pick_ms(own.interval_ms, pin != nullptr ? pin->interval_s : none, top.interval_ms, 30000);
    sp.timeout_ms =
        pick_ms(own.timeout_ms, pin != nullptr ? pin->timeout_s : none, top.timeout_ms, 30000);
    sp.jitter_ms = own.jitter_ms.value_or(top.jitter_ms.value_or(0));
    const Ext& fast_from = own.fast_interval_ms ? own : top;
    sp.fast_interval_ms = fast_from.fast_interval_ms.value_or(0);
    sp.fast_interval_path = fast_from.fast_interval_path;
    sp.unhealthy_interval_ms =
        own.unhealthy_interval_ms.value_or(top.unhealthy_interval_ms.value_or(0));
    std::optional<std::uint8_t> gw_unhealthy;
    if (pin != nullptr) {
        gw_unhealthy = pin->unhealthy_threshold;
    }
    sp.unhealthy_threshold = own.unhealthy_threshold.value_or(
        gw_unhealthy.value_or(top.unhealthy_threshold.value_or(3)));
    sp.healthy_threshold = own.healthy_threshold.value_or(top.healthy_threshold.value_or(1));
    sp.close_policy = own.close_policy.value_or(top.close_policy.value_or(ClosePolicy::Graceful));
    sp.tls_resume = own.tls_resume.value_or(top.tls_resume.value_or(true));
    sp.cert_expiry_warning_days =
        own.cert_expiry_warning_days.value_or(top.cert_expiry_warning_days.value_or(14));
    sp.dns_aggregation =
        own.dns_aggregation.value_or(top.dns_aggregation.value_or(DnsAggregation::All));
    sp.connection_reuse = own.connection_reuse.value_or(false);
    if (sp.connection_reuse && st.protocol != Protocol::Http) {
        problems.push_back(std::string("ringprobe.connectionReuse keeps plain HTTP connections; "
                                       "this setting probes with ") +
                           protocol_name(st.protocol) +
                           ", which opens a connection per probe: remove connectionReuse");
    }
    return sp;
}

std::uint64_t identity_hash(std::string_view address, std::uint16_t port, Protocol protocol,
                            std::string_view host, std::string_view path) {
    std::uint64_t h = stable_hash(address);
    h = hash_combine(h, port);
    h = hash_combine(h, static_cast<std::uint64_t>(protocol));
    h = hash_combine(h, stable_hash(host));
    return hash_combine(h, stable_hash(path));
}

}  // namespace

void Loader::check_pairs() {
    std::sort(pairs_.begin(), pairs_.end());
    pairs_.erase(std::unique(pairs_.begin(), pairs_.end()), pairs_.end());
    std::uint32_t last_pool = UINT32_MAX;
    for (const auto& [pool, setting] : pairs_) {
        (void)setting;
        plan_.pools[pool].routed = true;
        // The gateway accepts an empty pool and its health simply lists no server; so does
        // ringprobe, with a warning, as long as no entry of the pool was rejected.
        if (pool != last_pool && plan_.pools[pool].servers.empty() &&
            pool_addresses_listed_[pool]) {
            plan_.warnings.push_back(PlanWarning{
                pool_paths_[pool], "pool \"" + plan_.pools[pool].name +
                                       "\" has no members but a rule routes to it; it is shown "
                                       "with no rows (add ipAddress or fqdn entries, or network "
                                       "interfaces that name the pool)"});
        }
        last_pool = pool;
    }
    if (pairs_.empty() && !gateway_unread_) {
        errs_.add_text(rules_path_,
                       "no routing rule ties a backend pool to a backend setting, so "
                       "there is nothing to probe; add a rule with "
                       "backendAddressPool and backendHttpSettings (requestRoutingRules), or "
                       "one with backendAddressPool and backendSettings (routingRules, the "
                       "layer-4 proxy)");
    }
}

// The fast cadence probes a failing server sooner than the interval would, so one longer than
// the interval it shortens is a mistake, not a choice; it is named where it was given (the top
// level applies to every setting, so the message names the setting it does not fit).
void Loader::check_fast_interval(const Spec& sp, std::size_t setting) {
    if (sp.fast_interval_ms == 0 || sp.fast_interval_ms <= sp.interval_ms) {
        return;
    }
    errs_.add_text(std::string(sp.fast_interval_path),
                   std::to_string(sp.fast_interval_ms) + " ms is longer than the interval (" +
                       std::to_string(sp.interval_ms) + " ms) of the probe of setting \"" +
                       plan_.settings[setting].name +
                       "\"; the fast cadence probes a failing server more often, not less: make "
                       "it at most " +
                       std::to_string(sp.interval_ms) +
                       ", or use unhealthyIntervalMs for a "
                       "slower cadence while Unhealthy");
}

// Resolves every setting's probe once; reports problems that need both (protocol mismatch, a
// host taken from a setting that has none) even when other sections had errors.
void Loader::resolve_specs() {
    specs_.reserve(plan_.settings.size());
    std::vector<Spec> classes;
    for (std::size_t i = 0; i < plan_.settings.size(); ++i) {
        const SettingIn& in = settings_in_[i];
        const Probe* probe =
            in.probe >= 0 ? &plan_.probes[static_cast<std::size_t>(in.probe)] : nullptr;
        const ProbeIn* pin =
            in.probe >= 0 ? &probes_in_[static_cast<std::size_t>(in.probe)] : nullptr;
        std::vector<std::string> problems;
        Spec sp = resolve_spec(plan_.settings[i], in, probe, pin, top_ext_, problems);
        plan_.settings[i].min_servers = probe != nullptr ? probe->min_servers : 0;
        for (auto& p : problems) {
            errs_.add_text(in.probe_ref_path.empty() ? in.path : in.probe_ref_path, std::move(p));
        }
        check_fast_interval(sp, i);
        std::uint32_t k = 0;
        while (k < classes.size() && !same_class(classes[k], sp)) {
            ++k;
        }
        if (k == classes.size()) {
            classes.push_back(sp);
        }
        sp.klass = k;
        specs_.push_back(sp);
    }
}

namespace {

// One probe as seen from a row: the server-dependent strings plus the setting's spec class.
struct ProbeKey {
    const Server* server;
    std::string_view host;
    std::string_view sni;
    const Spec* spec;
    std::uint64_t identity;  // identity_hash(): address, port, protocol, host, path
    std::uint64_t hash;      // identity + spec class + SNI: what the table is keyed on
};

Target make_target(const ProbeKey& k) {
    const Spec& sp = *k.spec;
    Target tg;
    tg.address = k.server->address;
    tg.is_fqdn = k.server->is_fqdn;
    tg.address_known = k.server->address_known;
    tg.port = sp.port;
    tg.protocol = sp.protocol;
    tg.host.assign(k.host);
    tg.path.assign(sp.path);
    tg.sni.assign(k.sni);
    if (protocol_is_http(sp.protocol)) {
        tg.match_status = *sp.match;
        tg.match_body.assign(sp.body);
        tg.request = build_request(sp.path, k.host, sp.connection_reuse);
    }
    tg.interval_ms = sp.interval_ms;
    tg.timeout_ms = sp.timeout_ms;
    tg.jitter_ms = sp.jitter_ms;
    tg.fast_interval_ms = sp.fast_interval_ms;
    tg.unhealthy_interval_ms = sp.unhealthy_interval_ms;
    tg.unhealthy_threshold = sp.unhealthy_threshold;
    tg.healthy_threshold = sp.healthy_threshold;
    tg.close_policy = sp.close_policy;
    tg.dns_aggregation = sp.dns_aggregation;
    tg.proxy_protocol = sp.proxy_protocol;
    tg.connection_reuse = sp.connection_reuse;
    if (protocol_is_tls(sp.protocol)) {
        tg.cert_expiry_warning_days = sp.cert_expiry_warning_days;
        tg.validate_chain = sp.validate_chain;
        tg.validate_sni = sp.validate_sni;
        tg.trusted_roots = *sp.roots;
        tg.tls_resume = sp.tls_resume;
        tg.client_certificate = sp.client_certificate;
    }
    tg.identity_hash = k.identity;
    return tg;
}

// Open addressing with linear probing over target indices, sized to at most half full for the
// largest possible number of targets (one per row). Lookups compare views, never allocate.
class TargetTable {
public:
    TargetTable(std::vector<Target>& targets, std::size_t targets_max) : targets_(targets) {
        std::size_t n = 16;
        while (n < targets_max * 2) {
            n *= 2;
        }
        reserve_huge(slots_, n);
        slots_.resize(n, 0);
        reserve_huge(hash_, targets_max);
        reserve_huge(klass_, targets_max);
        reserve_huge(targets_, targets_max);
    }

    std::uint32_t find_or_add(const ProbeKey& k) {
        std::size_t mask = slots_.size() - 1;
        std::size_t s = static_cast<std::size_t>(k.hash) & mask;
        while (slots_[s] != 0) {
            std::uint32_t t = slots_[s] - 1;
            if (hash_[t] == k.hash && same(t, k)) {
                return t;
            }
            s = (s + 1) & mask;
        }
        RP_ASSERT(targets_.size() < slots_.size() / 2);
        targets_.push_back(make_target(k));
        hash_.push_back(k.hash);
        klass_.push_back(k.spec->klass);
        auto t = static_cast<std::uint32_t>(targets_.size() - 1);
        slots_[s] = t + 1;
        return t;
    }

private:
    bool same(std::uint32_t t, const ProbeKey& k) const {
        const Target& tg = targets_[t];
        return klass_[t] == k.spec->klass && tg.port == k.spec->port &&
               tg.protocol == k.spec->protocol && tg.address == k.server->address &&
               tg.host == k.host && tg.path == k.spec->path && tg.sni == k.sni;
    }

    std::vector<Target>& targets_;
    std::vector<std::uint32_t> slots_;  // target index + 1; 0: empty
    std::vector<std::uint64_t> hash_;   // per target
    std::vector<std::uint32_t> klass_;  // per target
};

}  // namespace

void Loader::build_targets() {
    std::size_t rows_max = 0;
    for (const auto& [pool, setting] : pairs_) {
        (void)setting;
        rows_max += plan_.pools[pool].servers.size();
    }
    reserve_huge(plan_.rows, rows_max);
    TargetTable table(plan_.targets, rows_max);
    std::string bracketed;  // an IPv6 server address as a Host value
    for (const auto& [pool_i, setting_i] : pairs_) {
        const Pool& pool = plan_.pools[pool_i];
        const Spec& sp = specs_[setting_i];
        for (std::uint32_t server_i = 0; server_i < pool.servers.size(); ++server_i) {
            const Server& server = pool.servers[server_i];
            ProbeKey k{&server, sp.host, sp.sni, &sp, 0, 0};
            if (sp.host_from == HostFrom::ServerAddress) {
                k.host = server.address;
                if (!server.is_fqdn && server.address.find(':') != std::string::npos) {
                    bracketed.assign("[").append(server.address).append("]");
                    k.host = bracketed;
                }
            }
            if (sp.sni_from == SniFrom::ServerFqdn) {
                k.sni = server.is_fqdn ? std::string_view(server.address) : std::string_view();
            }
            k.identity = identity_hash(server.address, sp.port, sp.protocol, k.host, sp.path);
            k.hash = hash_combine(hash_combine(k.identity, sp.klass), stable_hash(k.sni));
            plan_.rows.push_back(Row{pool_i, setting_i, server_i, table.find_or_add(k)});
        }
    }
}

Result<Plan, ConfigErrors> Loader::run(dom::element root) {
    dom::object gateway;
    PathNode at{};
    PathNode resources_node{nullptr, "resources"};
    if (!find_gateway(root, gateway, at)) {
        return unexpected(errs_.take());
    }
    if (is_template_) {
        read_parameter_files();
        if (!errs_.any() && !expand_copy_loops(root)) {
            return unexpected(errs_.take());
        }
        if (!find_gateway(root, gateway, at)) {
            return unexpected(errs_.take());
        }
    }
    PathNode gw_at{};
    if (is_template_) {
        gw_at = PathNode{&resources_node, {}, at.index};
    }
    read_gateway(gateway, &gw_at);
    if (probes_in_.size() == plan_.probes.size() && settings_in_.size() == plan_.settings.size()) {
        resolve_specs();
    }
    check_pairs();
    if (!errs_.any()) {
        build_targets();
    }
    if (errs_.any()) {
        return unexpected(errs_.take());
    }
    plan_.shard = options_.shard;
    for (Target& t : plan_.targets) {
        t.owned = shard_owns(plan_.shard, t.identity_hash);
    }
    plan_.digest = stable_hash(json_);
    if (side_digest_ != 0) {
        plan_.digest = hash_combine(plan_.digest, side_digest_);
    }
    return std::move(plan_);
}

}  // namespace ringprobe::config::detail

namespace ringprobe::config {

std::string build_request(std::string_view path, std::string_view host, bool keep_alive) {
    static constexpr std::string_view p1 = "GET ";
    static constexpr std::string_view p2 = " HTTP/1.1\r\nHost: ";
    static constexpr std::string_view p3 =
        "\r\nUser-Agent: ringprobe/" RINGPROBE_VERSION "\r\nAccept: */*\r\n";
    static constexpr std::string_view close = "Connection: close\r\n";
    std::string r;
    r.reserve(p1.size() + path.size() + p2.size() + host.size() + p3.size() + close.size() + 2);
    r.append(p1).append(path).append(p2).append(host).append(p3);
    if (!keep_alive) {
        r.append(close);
    }
    r.append("\r\n");
    return r;
}

}  // namespace ringprobe::config
