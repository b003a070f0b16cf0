// The loader's internals, shared by its three stages (not a public header: include load.hpp).
//
//   read_sections.cpp  JSON sections -> Plan pools/settings/probes/roots, pairs tied by rules
//   build_plan.cpp     settings' probes -> Specs (defaults, precedence) -> rows and targets
//   load.cpp           bytes -> DOM (file, size limit, syntax errors) and the public functions
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/json_read.hpp"
#include "config/load.hpp"

namespace ringprobe::config::detail {

inline constexpr std::int64_t seconds_max = 86400;
inline constexpr std::int64_t ms_min = 10;
inline constexpr std::int64_t ms_max = 86'400'000;
inline constexpr std::size_t body_max = 4090;
inline constexpr std::size_t host_max = 255;
inline constexpr std::size_t path_max = 2048;
inline constexpr std::string_view default_probe_host = "127.0.0.1";

inline constexpr std::string_view col_pools = "backendAddressPools";
inline constexpr std::string_view col_settings = "backendHttpSettingsCollection";
inline constexpr std::string_view col_probes = "probes";
inline constexpr std::string_view col_roots = "trustedRootCertificates";
inline constexpr std::string_view col_maps = "urlPathMaps";
inline constexpr std::string_view col_rules = "requestRoutingRules";

inline const std::vector<StatusRange> default_match{StatusRange{200, 399}};

// Memory first touched by the loader: 100,000 servers make about 60 MB of fresh pages (the
// targets alone are 288 bytes each). On the 2-core VM this project runs on, a 4 KiB page fault
// costs several microseconds, which made page faults most of the load time; transparent huge
// pages cut that by an order of magnitude. So the large arrays the loader owns are advised
// MADV_HUGEPAGE before their first touch. It is only a hint: with THP off nothing changes.
inline constexpr std::size_t huge_page = std::size_t{2} << 20;
void advise_huge(const void* p, std::size_t bytes);

template <typename T>
void reserve_huge(std::vector<T>& v, std::size_t n) {
    v.reserve(n);
    advise_huge(v.data(), v.capacity() * sizeof(T));
}

std::string lower(std::string_view s);

// ringprobe's own settings: a "ringprobe" object beside the gateway's fields.
struct Ext {
    std::optional<std::uint32_t> interval_ms;
    std::optional<std::uint32_t> timeout_ms;
    std::optional<std::uint32_t> jitter_ms;
    std::optional<std::uint32_t> start_spread_ms;
    std::optional<std::uint32_t> quantum_ms;
    std::optional<std::uint32_t> start_batch;
    std::optional<std::uint8_t> healthy_threshold;
    std::optional<std::uint8_t> unhealthy_threshold;
    std::optional<ClosePolicy> close_policy;
    std::optional<bool> tls_resume;
    std::optional<std::uint16_t> cert_expiry_warning_days;
    std::optional<DnsAggregation> dns_aggregation;
};

struct ProbeIn {
    std::optional<std::uint32_t> interval_s;
    std::optional<std::uint32_t> timeout_s;
    std::optional<std::uint8_t> unhealthy_threshold;
    bool has_host = false;
    Ext ext;
};

struct SettingIn {
    std::int32_t probe = -1;  // index into probes; -1: the default probe
    std::string probe_ref_path;
    std::string path;
    Ext ext;
};

using Pair = std::pair<std::uint32_t, std::uint32_t>;  // (pool, setting)

struct MapIn {
    std::vector<Pair> pairs;
};

// A collection's names, case-insensitive as the gateway's are.
// The index of a name is the item's position in its collection (counted whether or not the item
// had a usable name), so it stays aligned with the Plan's vectors even after errors.
struct Names {
    std::unordered_map<std::string, std::uint32_t> index;
    std::vector<std::string> paths;  // per position: where the name was given, for duplicates
    std::uint32_t count = 0;
};

enum class HostFrom : std::uint8_t { None, Fixed, ServerAddress };
enum class SniFrom : std::uint8_t { None, Fixed, ServerFqdn };

// Everything about a setting's probe that does not depend on the server.
struct Spec {
    Protocol protocol = Protocol::Http;
    std::uint16_t port = 80;
    HostFrom host_from = HostFrom::None;
    std::string_view host;
    SniFrom sni_from = SniFrom::None;
    std::string_view sni;
    std::string_view path;
    const std::vector<StatusRange>* match = &default_match;
    std::string_view body;
    std::uint32_t interval_ms = 30000;
    std::uint32_t timeout_ms = 30000;
    std::uint32_t jitter_ms = 0;
    std::uint8_t unhealthy_threshold = 3;
    std::uint8_t healthy_threshold = 1;
    ClosePolicy close_policy = ClosePolicy::Graceful;
    bool validate_chain = true;
    bool validate_sni = true;
    bool tls_resume = true;
    std::uint16_t cert_expiry_warning_days = 14;
    DnsAggregation dns_aggregation = DnsAggregation::All;
    const std::vector<std::uint32_t>* roots = nullptr;
    std::uint32_t klass = 0;  // equal specs (server-independent fields) share a class
};

class Loader {
public:
    Loader(std::string_view json, const LoadOptions& options)
        : json_(json), errs_(options.max_errors) {}

    Result<Plan, ConfigErrors> run(dom::element root);

private:
    // Reading.
    bool find_gateway(dom::element root, dom::object& gateway, PathNode& at);
    void read_gateway(dom::object gateway, const PathNode* at);
    void read_ext(View v, bool top_level, Ext& ext);
    std::string_view resolve_arm_name(std::string_view name);
    bool read_name(dom::object item, const PathNode* at, std::string_view collection, Names& names,
                   std::string& name_out);
    std::string item_id(dom::object item, std::string_view collection, std::string_view name);
    std::int32_t resolve_ref(View v, std::string_view key, std::string_view collection,
                             const Names& names, std::string* ref_path = nullptr);
    void read_roots(View gw);
    void read_probes(View gw);
    void read_match(View v, Probe& probe);
    void read_pools(View gw);
    void read_servers(View v, Pool& pool);
    void read_settings(View gw);
    void read_root_refs(View f, Setting& st);
    void read_maps(View gw);
    void read_rules(View gw);
    bool read_header_value(View v, std::string_view key, std::string_view what,
                           std::string_view& out);

    template <typename F>
    void for_each_item(View gw, std::string_view key, F&& f);

    // Building.
    void check_pairs();
    void resolve_specs();
    void build_targets();

    std::string_view json_;
    Errors errs_;
    Plan plan_;
    dom::object template_;  // the ARM template root when reading one
    bool is_template_ = false;
    Ext top_ext_;
    std::vector<ProbeIn> probes_in_;
    std::vector<SettingIn> settings_in_;
    std::vector<MapIn> maps_;
    std::vector<std::string> pool_paths_;
    std::vector<bool> pool_addresses_listed_;  // false when some address entry was rejected
    Names pool_names_, setting_names_, probe_names_, root_names_, map_names_, rule_names_;
    std::vector<Pair> pairs_;
    std::vector<Spec> specs_;  // per setting, filled by resolve_specs
    std::vector<std::pair<std::uint64_t, std::uint32_t>> seen_scratch_;  // duplicate servers
    std::string rules_path_;
};

}  // namespace ringprobe::config::detail
