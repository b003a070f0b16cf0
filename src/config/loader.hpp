// The loader's internals, shared by its three stages (not a public header: include load.hpp).
//
//   read_sections.cpp  JSON sections -> Plan settings/probes/roots, pairs tied by rules
//   read_pools.cpp     backendAddressPools -> Plan pools: addresses, members, duplicates
//   members.cpp        pool members from network interfaces and scale sets; ARM parameters files
//   arm_expand.cpp     ARM copy loops unrolled (and the expressions they use) before reading
//   build_plan.cpp     settings' probes -> Specs (defaults, precedence) -> rows and targets
//   load.cpp           bytes -> DOM (file, size limit, syntax errors) and the public functions
#pragma once

#include <cstdint>
#include <memory>
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
// The layer-4 proxy (Tcp and Tls listeners): its settings and its rules.
inline constexpr std::string_view col_l4_settings = "backendSettingsCollection";
inline constexpr std::string_view col_l4_rules = "routingRules";

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

// The text of a JSON file as UTF-8 (load.cpp): empty `converted` when it is UTF-8 without a
// byte-order mark already, else the text without the mark or transcoded from UTF-16 LE/BE.
// False with `why` (what the file is, how to save it) for UTF-16 that is not valid.
bool json_text_utf8(std::string_view in, std::string& converted, std::string& why);

// The name a reference's id names in `collection` (read_sections.cpp); false with `why` if none.
bool ref_name(std::string_view id, std::string_view collection, std::string_view& name,
              std::string& why);
std::string lower(std::string_view s);

// ringprobe's own settings: a "ringprobe" object beside the gateway's fields.
struct Ext {
    std::optional<std::uint32_t> interval_ms;
    std::optional<std::uint32_t> timeout_ms;
    std::optional<std::uint32_t> jitter_ms;
    std::optional<std::uint32_t> fast_interval_ms;
    std::optional<std::uint32_t> unhealthy_interval_ms;
    std::string fast_interval_path;  // where fastIntervalMs was given, for its errors
    std::optional<std::uint32_t> start_spread_ms;
    std::optional<std::uint32_t> quantum_ms;
    std::optional<std::uint32_t> start_batch;
    std::optional<std::uint8_t> healthy_threshold;
    std::optional<std::uint8_t> unhealthy_threshold;
    std::optional<ClosePolicy> close_policy;
    std::optional<bool> tls_resume;
    std::optional<std::uint16_t> cert_expiry_warning_days;
    std::optional<DnsAggregation> dns_aggregation;
    std::optional<ProxyProtocol> proxy_protocol;     // a probe's only: the PROXY header's version
    std::optional<std::uint32_t> event_log_entries;  // top level only
    std::optional<std::uint32_t> flapping_changes;   // top level only
    std::optional<bool> connection_reuse;            // a probe's or a setting's only
};

struct ProbeIn {
    std::optional<std::uint32_t> interval_s;
    std::optional<std::uint32_t> timeout_s;
    std::optional<std::uint8_t> unhealthy_threshold;
    bool has_host = false;
    bool pick_sni_from_settings = false;  // pickHostNameFromBackendSettings (Tls)
    bool proxy_header = false;            // enableProbeProxyProtocolHeader
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

// An item's fields: its "properties" object (REST/ARM form) or the item itself (az form).
struct Item {
    Item(dom::object o, const PathNode* at) : obj(o), self(at), props{at, "properties"} {
        dom::element p;
        dom::object po;
        if (o.at_key("properties").get(p) == simdjson::SUCCESS &&
            p.get_object().get(po) == simdjson::SUCCESS) {
            fields = View{po, &props};
        } else {
            fields = View{o, at};
        }
    }
    Item(const Item&) = delete;
    Item& operator=(const Item&) = delete;

    dom::object obj;
    const PathNode* self;
    PathNode props;
    View fields;
};

// One IP configuration of a network interface: from a --nics file (id as given) or from a NIC
// resource of the template itself (pool_key set, id empty).
struct NicConfig {
    std::string id_lower;  // --nics: the resource id, lower case (Azure ids are case-insensitive)
    std::string address;   // privateIPAddress
    std::string nic;       // Server::nic
    std::string name;      // the IP configuration's name
    std::string file;      // --nics: the file; template: empty
    std::string path;      // JSON path of the IP configuration in that file
};

// A template NIC or scale-set IP configuration that names a pool of the gateway.
struct TemplateMember {
    std::string pool_lower;  // the referenced pool's name, lower case
    std::string ref_path;    // the reference's JSON path, for "no such pool"
    std::uint32_t nic = 0;   // index into Loader::template_nics_ (NIC resources)
    // Scale sets: the instances' IP configurations come from --nics files (az vmss nic list),
    // matched on ".../virtualMachineScaleSets/S/virtualMachines/" + N + "/networkInterfaces/C/
    // ipConfigurations/I", both parts lower case.
    bool scale_set = false;
    std::string scale_set_head;
    std::string scale_set_tail;
    std::string scale_set_name;  // for messages
    bool used = false;
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
    std::uint32_t fast_interval_ms = 0;  // 0: interval_ms
    std::uint32_t unhealthy_interval_ms = 0;
    std::string_view fast_interval_path;  // where fastIntervalMs was given; empty: not given
    std::uint8_t unhealthy_threshold = 3;
    std::uint8_t healthy_threshold = 1;
    ClosePolicy close_policy = ClosePolicy::Graceful;
    bool validate_chain = true;
    bool validate_sni = true;
    bool tls_resume = true;
    std::uint16_t cert_expiry_warning_days = 14;
    DnsAggregation dns_aggregation = DnsAggregation::All;
    const std::vector<std::uint32_t>* roots = nullptr;
    ProxyProtocol proxy_protocol = ProxyProtocol::None;
    std::uint32_t client_certificate = no_client_certificate;  // Plan::client_certificates
    bool connection_reuse = false;
    std::uint32_t klass = 0;  // equal specs (server-independent fields) share a class
};

class Loader {
public:
    Loader(std::string_view json, const LoadOptions& options)
        : json_(json), options_(options), errs_(options.max_errors) {}

    Result<Plan, ConfigErrors> run(dom::element root);

    // A template parameter's value: from a --parameters file, else its defaultValue (members.cpp).
    std::optional<dom::element> arm_parameter(std::string_view name);

private:
    // Reading.
    bool find_gateway(dom::element root, dom::object& gateway, PathNode& at);
    void read_gateway(dom::object gateway, const PathNode* at);
    bool check_properties(dom::object item, const PathNode* at);
    void read_ext(View v, bool top_level, Ext& ext, bool setting = false);
    std::string_view resolve_arm_name(std::string_view name);
    bool read_name(dom::object item, const PathNode* at, std::string_view collection, Names& names,
                   std::string& name_out);
    std::string item_id(dom::object item, std::string_view collection, std::string_view name);
    std::int32_t resolve_ref(View v, std::string_view key, std::string_view collection,
                             const Names& names, std::string* ref_path = nullptr);
    void read_roots(View gw);
    void read_probes(View gw);
    void read_match(View v, Probe& probe);
    void read_proxy_protocol(View f, Probe& probe, ProbeIn& in);
    // Fields the gateway accepts that have no effect here: warned about, naming the field.
    void warn(View f, std::string_view key, std::string message);
    static bool is_set(View f, std::string_view key);
    void warn_unused_probe_fields(View f, const Probe& probe);
    void warn_unused_setting_fields(View f, const Setting& st);
    void read_pools(View gw);  // read_pools.cpp, like the two below
    void read_servers(dom::array arr, const PathNode* a_at, Pool& pool);
    void check_duplicate_servers(const Pool& pool, const PathNode* a_at);

    // Members and parameters (members.cpp).
    void read_parameter_files();
    bool expand_copy_loops(dom::element& root);  // arm_expand.cpp
    std::optional<dom::element> arm_parameter_value(std::string_view expression);
    void read_nic_files();
    void read_nic_file(const std::string& file);
    void add_nic_config(NicConfig config);
    void scan_template_members();
    void scan_template_nic(dom::object nic, const PathNode* at);
    void scan_template_scale_set(dom::object vmss, const PathNode* at);
    void read_pool_refs(View ipc, TemplateMember proto);
    void add_ip_configuration_members(View pool_fields, Pool& pool);
    void add_template_members(Pool& pool);
    void check_template_members();
    void read_settings(View gw);
    void read_l4_settings(View gw);
    bool read_setting_protocol(View f, bool layer4, Protocol& out);
    void read_setting_tail(View f, Setting& st, SettingIn& in);
    void read_root_refs(View f, Setting& st);
    void read_client_certificate(View f, Setting& st);  // client_certificate.cpp
    bool read_client_part(View c, std::string_view file_key, std::string_view data_key,
                          bool private_key, std::string& from, std::string& out);
    void read_maps(View gw);
    void read_rules(View gw);
    void read_l4_rules(View gw);
    bool read_header_value(View v, std::string_view key, std::string_view what,
                           std::string_view& out);

    template <typename F>
    void for_each_item(View gw, std::string_view key, F&& f);

    // Building.
    void check_pairs();
    void resolve_specs();
    void check_fast_interval(const Spec& sp, std::size_t setting);
    void build_targets();

    std::string_view json_;
    const LoadOptions& options_;
    Errors errs_;
    Plan plan_;
    dom::object template_;  // the ARM template root when reading one
    bool is_template_ = false;
    bool gateway_unread_ = false;  // its "properties" was not an object: nothing else to say
    Ext top_ext_;
    std::vector<ProbeIn> probes_in_;
    std::vector<SettingIn> settings_in_;
    std::vector<MapIn> maps_;
    std::vector<std::string> pool_paths_;
    std::vector<bool> pool_addresses_listed_;  // false when some address entry was rejected
    Names pool_names_, setting_names_, probe_names_, root_names_, map_names_, rule_names_;
    Names l4_setting_names_, l4_rule_names_;
    // The layer-4 settings follow the HTTP ones in Plan::settings: the first one's index.
    std::uint32_t l4_settings_base_ = 0;
    std::vector<Pair> pairs_;
    std::vector<Spec> specs_;  // per setting, filled by resolve_specs
    std::vector<std::pair<std::uint64_t, std::uint32_t>> seen_scratch_;  // duplicate servers
    std::string rules_path_;

    // Members and parameters (members.cpp). The parsers own the DOMs the parameter values
    // point into, so they live as long as the Loader.
    std::vector<std::unique_ptr<dom::parser>> side_parsers_;
    bool parameters_read_ = false;
    simdjson::padded_string expanded_;  // the template with its copy loops unrolled
    std::unordered_map<std::string, dom::element> parameter_values_;  // lower-case name
    std::vector<NicConfig> nics_;                                     // from --nics files
    std::unordered_map<std::string, std::uint32_t> nic_by_id_;        // id_lower -> nics_
    std::vector<NicConfig> template_nics_;
    std::vector<TemplateMember> template_members_;
    std::uint64_t side_digest_ = 0;  // the --parameters and --nics files' bytes, in order
};

// Calls f(Item&) for each object of the array gw.key, reporting entries that are not objects.
template <typename F>
void Loader::for_each_item(View gw, std::string_view key, F&& f) {
    auto arr = read_array(errs_, gw, key);
    if (!arr) {
        return;
    }
    PathNode coll{gw.path, key};
    std::int64_t i = 0;
    for (dom::element e : *arr) {
        PathNode at{&coll, {}, i};
        ++i;
        dom::object o;
        if (e.get_object().get(o) != simdjson::SUCCESS) {
            errs_.add(&at, "expected an object, got " + describe(e));
            continue;
        }
        check_properties(o, &at);
        Item item(o, &at);
        f(item);
    }
}

}  // namespace ringprobe::config::detail
