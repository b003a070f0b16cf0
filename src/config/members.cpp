// Pool members that are not listed in the pool itself, and ARM parameters files (loader.hpp).
//
// In Azure, virtual machines and scale-set instances usually join a pool from the other side:
// the IP configuration of their network interface names the pool
// (ipConfigurations[].properties.applicationGatewayBackendAddressPools[]). The gateway's own
// view (REST GET, `az network application-gateway show`) lists them under the pool's
// backendIPConfigurations as bare ids. So members come from three places:
//  - an ARM template: its networkInterfaces resources (the private address is in the resource)
//    and its virtualMachineScaleSets (the instances exist only once deployed: their addresses
//    come from `az vmss nic list` output given with --nics);
//  - a REST or az document: each backendIPConfigurations id, looked up in the --nics files;
//  - an id no file resolves stays a member with an unknown address: its rows read Unknown.
// Parameters files give values to the template's parameters, later files winning, the way
// `az deployment group create --parameters @FILE` does.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/hash.hpp"
#include "common/text.hpp"
#include "config/loader.hpp"

namespace ringprobe::config::detail {

namespace {

constexpr std::string_view nic_type = "Microsoft.Network/networkInterfaces";
constexpr std::string_view pool_refs_key = "applicationGatewayBackendAddressPools";
constexpr std::string_view nic_hint =
    "give the output of 'az network nic list', 'az network nic show', 'az vmss nic list' or the "
    "REST GET of a network interface";

// Parses a --nics or --parameters file with a parser of its own, folding its bytes into
// `digest` (the plan depends on them as much as on the configuration); reports why not.
std::optional<dom::element> parse_side_file(const std::string& file, std::size_t max_bytes,
                                            dom::parser& parser, Errors& errs,
                                            std::uint64_t& digest) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
        errs.add_in(file, "", std::string("cannot open: ") + std::strerror(errno));
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
        errs.add_in(file, "", "not a regular file");
        return std::nullopt;
    }
    if (static_cast<std::size_t>(st.st_size) > max_bytes) {
        errs.add_in(file, "",
                    std::to_string(st.st_size) + " bytes is over the limit of " +
                        std::to_string(max_bytes) + " bytes");
        return std::nullopt;
    }
    simdjson::padded_string text;
    if (simdjson::padded_string::load(file).get(text) != simdjson::SUCCESS) {
        errs.add_in(file, "", std::string("cannot read: ") + std::strerror(errno));
        return std::nullopt;
    }
    digest = hash_combine(digest, stable_hash(std::string_view(text.data(), text.size())));
    // `az ... > FILE` in Windows PowerShell 5.1 writes UTF-16, as for the configuration.
    std::string utf8;
    std::string why;
    if (!json_text_utf8(std::string_view(text.data(), text.size()), utf8, why)) {
        errs.add_in(file, "", why);
        return std::nullopt;
    }
    if (!utf8.empty()) {
        text = simdjson::padded_string(utf8);
    }
    dom::element root;
    if (parser.parse(text).get(root) != simdjson::SUCCESS) {
        SyntaxError se;
        std::string where;
        if (find_syntax_error(std::string_view(text.data(), text.size()), se)) {
            where = "line " + std::to_string(se.line) + ", column " + std::to_string(se.column) +
                    ": " + se.message;
        }
        errs.add_in(file, "", "not JSON" + (where.empty() ? std::string() : " (" + where + ")"));
        return std::nullopt;
    }
    return root;
}

// obj.key when it is a string, else empty.
std::string_view string_or_empty(dom::object obj, std::string_view key) {
    std::string_view v;
    return obj.at_key(key).get_string().get(v) == simdjson::SUCCESS ? v : std::string_view{};
}

// The text after the last '/' of an id.
std::string_view last_segment(std::string_view id) {
    std::size_t slash = id.rfind('/');
    return slash == std::string_view::npos ? id : id.substr(slash + 1);
}

// "NIC" for a network interface, "SCALESET/INSTANCE/NIC" for a scale-set instance's, from the
// NIC's id (or an IP configuration's id under it); `name` when the id says neither.
std::string nic_label(std::string_view id, std::string_view name) {
    std::string low = lower(id);
    std::size_t ss = low.find("/virtualmachinescalesets/");
    std::size_t ni = low.find("/networkinterfaces/");
    if (ni == std::string::npos) {
        return std::string(name);
    }
    std::string_view after = id.substr(ni + std::strlen("/networkInterfaces/"));
    std::string_view nic = after.substr(0, after.find('/'));
    if (ss == std::string::npos || ss > ni) {
        return std::string(nic);
    }
    std::string_view vmss = id.substr(ss + std::strlen("/virtualMachineScaleSets/"));
    std::string_view set = vmss.substr(0, vmss.find('/'));
    std::size_t vm = low.find("/virtualmachines/", ss);
    std::string_view instance;
    if (vm != std::string::npos && vm < ni) {
        instance = id.substr(vm + std::strlen("/virtualMachines/"));
        instance = instance.substr(0, instance.find('/'));
    }
    return std::string(set) + "/" + std::string(instance) + "/" + std::string(nic);
}

}  // namespace

// ---- ARM parameters --------------------------------------------------------------------------

void Loader::read_parameter_files() {
    if (options_.parameters_files.empty() || parameters_read_) {
        return;
    }
    parameters_read_ = true;
    if (!is_template_) {
        errs_.add_in(options_.parameters_files.front(), "",
                     "the configuration is not an ARM template, so it has no parameters to give "
                     "values to; use --parameters with a template only");
        return;
    }
    dom::object declared;
    bool has_declared =
        template_.at_key("parameters").get_object().get(declared) == simdjson::SUCCESS;
    for (const std::string& file : options_.parameters_files) {
        side_parsers_.push_back(std::make_unique<dom::parser>());
        auto root =
            parse_side_file(file, options_.max_bytes, *side_parsers_.back(), errs_, side_digest_);
        if (!root) {
            continue;
        }
        PathNode top{};
        PathNode params_at{&top, "parameters"};
        dom::object params;
        dom::object doc;
        if (root->get_object().get(doc) != simdjson::SUCCESS ||
            doc.at_key("parameters").get_object().get(params) != simdjson::SUCCESS) {
            errs_.add_in(file, "parameters",
                         "missing or not an object; an ARM parameters file reads "
                         "{\"parameters\": {\"NAME\": {\"value\": ...}}}");
            continue;
        }
        for (auto [key, value] : params) {
            PathNode at{&params_at, key};
            dom::object o;
            dom::element v;
            bool known = false;
            if (has_declared) {
                for (auto [name, decl] : declared) {
                    (void)decl;
                    known = known || iequals(name, key);
                }
            }
            if (!known) {
                errs_.add_in(
                    file, render_path(&at),
                    "the template declares no parameter named \"" + std::string(key) + "\"");
            } else if (value.get_object().get(o) != simdjson::SUCCESS) {
                errs_.add_in(file, render_path(&at),
                             "expected {\"value\": ...}, got " + describe(value));
            } else if (o.at_key("value").get(v) == simdjson::SUCCESS) {
                parameter_values_[lower(key)] = v;
            } else if (o.at_key("reference").error() == simdjson::SUCCESS) {
                errs_.add_in(file, render_path(&at),
                             "a Key Vault reference cannot be read here; give the value itself");
            } else {
                errs_.add_in(file, render_path(&at), "missing \"value\"");
            }
        }
    }
}

std::optional<dom::element> Loader::arm_parameter(std::string_view name) {
    auto given = parameter_values_.find(lower(name));
    if (given != parameter_values_.end()) {
        return given->second;
    }
    dom::object declared;
    if (template_.at_key("parameters").get_object().get(declared) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    for (auto [key, decl] : declared) {
        dom::element v;
        if (iequals(key, name) && decl.at_key("defaultValue").get(v) == simdjson::SUCCESS) {
            return v;
        }
    }
    return std::nullopt;
}

// [parameters('NAME')]: the parameter's value; anything else: nullopt.
std::optional<dom::element> Loader::arm_parameter_value(std::string_view expression) {
    static constexpr std::string_view prefix = "[parameters('";
    static constexpr std::string_view suffix = "')]";
    if (expression.size() <= prefix.size() + suffix.size() ||
        expression.substr(0, prefix.size()) != prefix ||
        expression.substr(expression.size() - suffix.size()) != suffix) {
        return std::nullopt;
    }
    return arm_parameter(
        expression.substr(prefix.size(), expression.size() - prefix.size() - suffix.size()));
}

// ---- --nics files ----------------------------------------------------------------------------

void Loader::read_nic_files() {
    for (const std::string& file : options_.nics_files) {
        read_nic_file(file);
    }
}

void Loader::read_nic_file(const std::string& file) {
    dom::parser parser;  // every value kept is copied out: the DOM dies with this call
    auto root = parse_side_file(file, options_.max_bytes, parser, errs_, side_digest_);
    if (!root) {
        return;
    }
    PathNode top{};
    PathNode value_at{&top, "value"};
    const PathNode* list_at = &top;
    dom::array list;
    dom::object single;
    if (root->get_object().get(single) == simdjson::SUCCESS &&
        single.at_key("value").get_array().get(list) == simdjson::SUCCESS) {
        list_at = &value_at;  // a REST list response: {"value": [...]}
    } else if (root->get_array().get(list) != simdjson::SUCCESS &&
               root->get_object().get(single) != simdjson::SUCCESS) {
        errs_.add_in(file, "",
                     "expected a network interface or a list of them, got " + describe(*root) +
                         "; " + std::string(nic_hint));
        return;
    }
    auto read_nic = [&](dom::object nic, const PathNode* at) {
        std::string_view type;
        if (nic.at_key("type").get_string().get(type) == simdjson::SUCCESS &&
            !iequals(type, nic_type)) {
            PathNode t{at, "type"};
            errs_.add_in(file, render_path(&t),
                         "\"" + std::string(type) + "\" is not a network interface (" +
                             std::string(nic_type) + "); " + std::string(nic_hint));
            return;
        }
        Item item(nic, at);
        std::string_view nic_id = string_or_empty(nic, "id");
        std::string_view nic_name = string_or_empty(nic, "name");
        Errors local(options_.max_errors);
        auto ipcs = read_array(local, item.fields, "ipConfigurations");
        PathNode ipcs_at{item.fields.path, "ipConfigurations"};
        if (!ipcs) {
            errs_.add_in(file, render_path(&ipcs_at),
                         "missing or not an array; a network interface lists its "
                         "ipConfigurations; " +
                             std::string(nic_hint));
            return;
        }
        std::int64_t i = 0;
        for (dom::element e : *ipcs) {
            PathNode ipc_at{&ipcs_at, {}, i++};
            dom::object o;
            if (e.get_object().get(o) != simdjson::SUCCESS) {
                errs_.add_in(file, render_path(&ipc_at), "expected an object, got " + describe(e));
                continue;
            }
            Item ipc(o, &ipc_at);
            std::string_view id;
            std::string_view name = string_or_empty(o, "name");
            std::string_view address;
            PathNode id_at{&ipc_at, "id"};
            if (o.at_key("id").get_string().get(id) != simdjson::SUCCESS || id.empty()) {
                errs_.add_in(file, render_path(&id_at),
                             "missing; an IP configuration is matched by its resource id");
                continue;
            }
            PathNode addr_at{ipc.fields.path, "privateIPAddress"};
            if (ipc.fields.obj.at_key("privateIPAddress").get_string().get(address) !=
                    simdjson::SUCCESS ||
                address.empty()) {
                errs_.add_in(file, render_path(&addr_at),
                             "IP configuration " + std::string(id) +
                                 " has no private address; export the network interface once "
                                 "it is allocated (az network nic show)");
                continue;
            }
            if (!is_ip_literal(address)) {
                errs_.add_in(file, render_path(&addr_at),
                             "\"" + std::string(address.substr(0, 60)) +
                                 "\" is not an IPv4 or IPv6 address");
                continue;
            }
            add_nic_config(NicConfig{
                lower(id), std::string(address), nic_label(nic_id.empty() ? id : nic_id, nic_name),
                std::string(name.empty() ? last_segment(id) : name), file, render_path(&ipc_at)});
        }
    };
    if (list_at == &value_at || root->is_array()) {
        std::int64_t i = 0;
        for (dom::element e : list) {
            PathNode at{list_at, {}, i++};
            dom::object o;
            if (e.get_object().get(o) != simdjson::SUCCESS) {
                errs_.add_in(file, render_path(&at),
                             "expected a network interface (an object), got " + describe(e));
                continue;
            }
            read_nic(o, &at);
        }
    } else {
        read_nic(single, &top);
    }
}

void Loader::add_nic_config(NicConfig config) {
    auto [it, inserted] =
        nic_by_id_.emplace(config.id_lower, static_cast<std::uint32_t>(nics_.size()));
    if (inserted) {
        nics_.push_back(std::move(config));
        return;
    }
    const NicConfig& first = nics_[it->second];
    if (iequals(first.address, config.address)) {
        return;  // the same interface exported twice (nic list and nic show)
    }
    errs_.add_in(config.file, config.path,
                 "IP configuration " + config.id_lower + " has address " + config.address +
                     " here but " + first.address + " in " + first.file + " at " +
                     (first.path.empty() ? "the top" : first.path) +
                     "; the files disagree: export the network interfaces again, once");
}

// ---- Members from the template's own resources ----------------------------------------------

void Loader::scan_template_members() {
    dom::array resources;
    if (template_.at_key("resources").get_array().get(resources) != simdjson::SUCCESS) {
        return;
    }
    PathNode r_at{nullptr, "resources"};
    std::int64_t i = 0;
    for (dom::element e : resources) {
        PathNode at{&r_at, {}, i++};
        dom::object o;
        std::string_view type;
        if (e.get_object().get(o) != simdjson::SUCCESS ||
            o.at_key("type").get_string().get(type) != simdjson::SUCCESS) {
            continue;
        }
        if (iequals(type, nic_type)) {
            scan_template_nic(o, &at);
        } else if (iequals(type, "Microsoft.Compute/virtualMachineScaleSets")) {
            scan_template_scale_set(o, &at);
        }
    }
}

void Loader::read_pool_refs(View ipc, TemplateMember proto) {
    auto refs = read_array(errs_, ipc, pool_refs_key);
    if (!refs) {
        return;
    }
    PathNode refs_at{ipc.path, pool_refs_key};
    std::int64_t i = 0;
    for (dom::element e : *refs) {
        PathNode at{&refs_at, {}, i++};
        PathNode id_at{&at, "id"};
        std::string_view id;
        dom::object o;
        if (e.get_object().get(o) != simdjson::SUCCESS ||
            o.at_key("id").get_string().get(id) != simdjson::SUCCESS) {
            errs_.add(&id_at,
                      "expected a reference {\"id\": ...} to a backend pool of the "
                      "gateway");
            continue;
        }
        std::string_view name;
        std::string why;
        if (!ref_name(id, col_pools, name, why)) {
            errs_.add(&id_at, why.empty() ? "empty reference" : why);
            continue;
        }
        TemplateMember m = proto;
        m.pool_lower = lower(name);
        m.ref_path = render_path(&id_at);
        template_members_.push_back(std::move(m));
    }
}

void Loader::scan_template_nic(dom::object nic, const PathNode* at) {
    Item item(nic, at);
    std::string_view nic_name;
    if (!read_string(errs_, View{nic, at}, "name", nic_name)) {
        return;
    }
    std::string_view resolved = resolve_arm_name(nic_name);
    if (resolved.empty()) {
        resolved = nic_name;  // only shown; the members' addresses do not depend on it
    }
    for_each_item(item.fields, "ipConfigurations", [&](Item& ipc) {
        if (!member(ipc.fields, pool_refs_key)) {
            return;
        }
        std::string_view ipc_name = string_or_empty(ipc.obj, "name");
        std::string_view address;
        PathNode addr_at{ipc.fields.path, "privateIPAddress"};
        if (!read_string(errs_, ipc.fields, "privateIPAddress", address) || address.empty()) {
            if (!member(ipc.fields, "privateIPAddress")) {
                errs_.add(&addr_at,
                          "missing; this IP configuration puts network interface " +
                              std::string(resolved) +
                              " in a backend pool and ringprobe probes its private address: "
                              "give privateIPAddress (the portal's export has it)");
            }
            return;
        }
        std::string_view value = resolve_arm_name(address);
        if (value.empty() || !is_ip_literal(value)) {
            errs_.add(&addr_at, "\"" + std::string(address.substr(0, 60)) +
                                    "\" is not an IPv4 or IPv6 address (or a parameter whose "
                                    "value is one)");
            return;
        }
        TemplateMember proto;
        proto.nic = static_cast<std::uint32_t>(template_nics_.size());
        template_nics_.push_back(NicConfig{{},
                                           std::string(value),
                                           std::string(resolved),
                                           std::string(ipc_name),
                                           {},
                                           render_path(ipc.self)});
        read_pool_refs(ipc.fields, std::move(proto));
    });
}

void Loader::scan_template_scale_set(dom::object vmss, const PathNode* at) {
    Item item(vmss, at);
    std::string_view set_name;
    if (!read_string(errs_, View{vmss, at}, "name", set_name)) {
        return;
    }
    std::string_view resolved = resolve_arm_name(set_name);
    PathNode profile_at{item.fields.path, "virtualMachineProfile"};
    PathNode network_at{&profile_at, "networkProfile"};
    auto profile = read_object(errs_, item.fields, "virtualMachineProfile");
    if (!profile) {
        return;
    }
    auto network = read_object(errs_, View{*profile, &profile_at}, "networkProfile");
    if (!network) {
        return;
    }
    View network_view{*network, &network_at};
    for_each_item(network_view, "networkInterfaceConfigurations", [&](Item& conf) {
        std::string_view conf_name = string_or_empty(conf.obj, "name");
        for_each_item(conf.fields, "ipConfigurations", [&](Item& ipc) {
            if (!member(ipc.fields, pool_refs_key)) {
                return;
            }
            if (resolved.empty()) {
                PathNode name_at{at, "name"};
                errs_.add(&name_at, "cannot evaluate \"" + std::string(set_name) +
                                        "\"; the scale set's name finds its instances in the "
                                        "--nics files: use a literal, or a parameter with a "
                                        "value");
                return;
            }
            std::string_view ipc_name = string_or_empty(ipc.obj, "name");
            TemplateMember proto;
            proto.scale_set = true;
            proto.scale_set_name.assign(resolved);
            proto.scale_set_head =
                "/virtualmachinescalesets/" + lower(resolved) + "/virtualmachines/";
            proto.scale_set_tail =
                "/networkinterfaces/" + lower(conf_name) + "/ipconfigurations/" + lower(ipc_name);
            read_pool_refs(ipc.fields, std::move(proto));
        });
    });
}

// ---- Members of one pool ---------------------------------------------------------------------

void Loader::add_ip_configuration_members(View pool_fields, Pool& pool) {
    std::string_view key = "backendIPConfigurations";
    if (!member(pool_fields, key)) {
        key = "backendIpConfigurations";  // az's spelling
    }
    auto refs = read_array(errs_, pool_fields, key);
    if (!refs) {
        return;
    }
    PathNode refs_at{pool_fields.path, key};
    std::int64_t i = 0;
    for (dom::element e : *refs) {
        PathNode at{&refs_at, {}, i++};
        PathNode id_at{&at, "id"};
        std::string_view id;
        dom::object o;
        if (e.get_object().get(o) != simdjson::SUCCESS ||
            o.at_key("id").get_string().get(id) != simdjson::SUCCESS || id.empty()) {
            errs_.add(&id_at,
                      "expected a reference {\"id\": ...} to a network interface's IP "
                      "configuration");
            continue;
        }
        std::string low = lower(id);
        auto it = nic_by_id_.find(low);
        Server server;
        if (it != nic_by_id_.end()) {
            const NicConfig& nic = nics_[it->second];
            server.address = nic.address;
            server.nic = nic.nic;
            server.ip_configuration = nic.name;
        } else {
            server.address.assign(id);
            server.address_known = false;
            server.nic = nic_label(id, {});
            server.ip_configuration.assign(last_segment(id));
            auto& unresolved = plan_.unresolved_ip_configurations;
            if (std::none_of(unresolved.begin(), unresolved.end(),
                             [&](const std::string& u) { return iequals(u, id); })) {
                unresolved.emplace_back(id);
            }
        }
        pool.servers.push_back(std::move(server));
    }
}

void Loader::add_template_members(Pool& pool) {
    if (pool.name.empty()) {
        return;
    }
    std::string key = lower(pool.name);
    for (TemplateMember& m : template_members_) {
        if (m.pool_lower != key) {
            continue;
        }
        m.used = true;
        if (!m.scale_set) {
            const NicConfig& nic = template_nics_[m.nic];
            pool.servers.push_back(Server{nic.address, false, true, nic.nic, nic.name});
            continue;
        }
        std::size_t found = 0;
        for (const NicConfig& nic : nics_) {
            const std::string& id = nic.id_lower;
            std::size_t head = id.find(m.scale_set_head);
            if (head == std::string::npos || id.size() < m.scale_set_tail.size() ||
                id.compare(id.size() - m.scale_set_tail.size(), std::string::npos,
                           m.scale_set_tail) != 0) {
                continue;
            }
            std::size_t from = head + m.scale_set_head.size();
            std::size_t to = id.size() - m.scale_set_tail.size();
            if (to <= from || id.find('/', from) < to) {
                continue;  // the instance is one path segment
            }
            pool.servers.push_back(Server{nic.address, false, true, nic.nic, nic.name});
            ++found;
        }
        if (found == 0) {
            plan_.warnings.push_back(PlanWarning{
                m.ref_path, "scale set " + m.scale_set_name + " puts its instances in pool \"" +
                                pool.name +
                                "\" but no --nics file lists them; give the output of 'az vmss "
                                "nic list --resource-group RG --vmss-name " +
                                m.scale_set_name + "' with --nics FILE"});
        }
    }
}

void Loader::check_template_members() {
    for (const TemplateMember& m : template_members_) {
        if (!m.used && pool_names_.index.find(m.pool_lower) == pool_names_.index.end()) {
            errs_.add_text(m.ref_path, "no backend pool named \"" + m.pool_lower +
                                           "\" in the gateway's backendAddressPools");
        }
    }
}

}  // namespace ringprobe::config::detail
