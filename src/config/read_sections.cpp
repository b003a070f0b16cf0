// Stage 1 of loading (see loader.hpp): the gateway's sections, read and validated in dependency
// order (trusted roots, probes, pools, settings, URL path maps, rules; the layer-4 proxy's
// settings after the HTTP ones, its rules after theirs), each collecting every
// error it finds with its JSON path (pools and their members: read_pools.cpp). Names are
// case-insensitive; references resolve by the trailing /<collection>/<name> of their id.
#include <algorithm>
#include <cstring>

#include "common/text.hpp"
#include "config/loader.hpp"

namespace ringprobe::config::detail {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

namespace {

std::optional<Protocol> parse_protocol(std::string_view s) {
    if (iequals(s, "Http")) {
        return Protocol::Http;
    }
    if (iequals(s, "Https")) {
        return Protocol::Https;
    }
    if (iequals(s, "Tcp")) {
        return Protocol::Tcp;
    }
    if (iequals(s, "Tls")) {
        return Protocol::Tls;
    }
    return std::nullopt;
}

}  // namespace

// ---- Form detection --------------------------------------------------------------------------

bool Loader::find_gateway(dom::element root, dom::object& gateway, PathNode& at) {
    dom::object top;
    PathNode root_node{};
    if (root.get_object().get(top) != simdjson::SUCCESS) {
        errs_.add_text("",
                       "the document must be a JSON object: an application gateway, an ARM "
                       "template, or the output of 'az network application-gateway show'; got " +
                           describe(root));
        return false;
    }
    View top_view{top, &root_node};
    auto resources = member(top_view, "resources");
    if (!resources) {
        gateway = top;
        return true;
    }
    dom::array arr;
    if (resources->get_array().get(arr) != simdjson::SUCCESS) {
        PathNode r{&root_node, "resources"};
        errs_.add(&r,
                  "expected the ARM template's array of resources, got " + describe(*resources));
        return false;
    }
    is_template_ = true;
    template_ = top;
    std::int64_t i = 0;
    std::int64_t found = -1;
    for (dom::element e : arr) {
        dom::object o;
        std::string_view type;
        if (e.get_object().get(o) == simdjson::SUCCESS &&
            o.at_key("type").get_string().get(type) == simdjson::SUCCESS &&
            iequals(type, "Microsoft.Network/applicationGateways")) {
            if (found >= 0) {
                PathNode r{&root_node, "resources"};
                PathNode ri{&r, {}, i};
                errs_.add(&ri,
                          "a second Microsoft.Network/applicationGateways resource (the first "
                          "is resources[" +
                              std::to_string(found) + "]); ringprobe reads one gateway per file");
                return false;
            }
            found = i;
            gateway = o;
        }
        ++i;
    }
    if (found < 0) {
        PathNode r{&root_node, "resources"};
        errs_.add(&r, "no resource of type Microsoft.Network/applicationGateways in this template");
        return false;
    }
    at = PathNode{nullptr, "resources", -1};
    // The caller chains "[found]" under "resources".
    at.index = found;
    return true;
}

// ARM templates may name things with [parameters('x')] or [variables('x')]; a parameter's value
// (from a --parameters file, else its defaultValue) or a literal variable is used, anything else
// cannot be evaluated here.
std::string_view Loader::resolve_arm_name(std::string_view name) {
    if (!is_template_ || name.size() < 2 || name.front() != '[' || name.back() != ']') {
        return name;
    }
    std::string_view v;
    if (auto p = arm_parameter_value(name)) {
        return p->get_string().get(v) == simdjson::SUCCESS ? v : std::string_view{};
    }
    static constexpr std::string_view prefix = "[variables('";
    static constexpr std::string_view suffix = "')]";
    if (name.size() > prefix.size() + suffix.size() && name.substr(0, prefix.size()) == prefix &&
        name.substr(name.size() - suffix.size()) == suffix) {
        std::string_view var =
            name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
        dom::element vars;
        if (template_.at_key("variables").get(vars) == simdjson::SUCCESS &&
            vars.at_key(var).get_string().get(v) == simdjson::SUCCESS) {
            return v;
        }
    }
    return {};
}

// ---- Names and references --------------------------------------------------------------------

bool Loader::read_name(dom::object item, const PathNode* at, std::string_view collection,
                       Names& names, std::string& name_out) {
    std::uint32_t position = names.count++;
    names.paths.resize(names.count);
    View v{item, at};
    PathNode name_at{at, "name"};
    std::string_view name;
    if (!read_string(errs_, v, "name", name)) {
        if (!member(v, "name")) {
            errs_.add(&name_at, "missing; every entry of " + std::string(collection) +
                                    " needs a name (references find it by name)");
        }
        return false;
    }
    std::string_view resolved = resolve_arm_name(name);
    if (resolved.empty()) {
        errs_.add(&name_at, "cannot evaluate \"" + std::string(name) +
                                "\"; use a literal name, or a parameter with a defaultValue or a "
                                "value given with --parameters FILE");
        return false;
    }
    if (resolved.size() > 80 || !is_header_safe(resolved)) {
        errs_.add(&name_at, "\"" + std::string(resolved) +
                                "\" is not a valid name: 1 to 80 characters, no spaces or control "
                                "characters");
        return false;
    }
    std::string key = lower(resolved);
    auto [it, inserted] = names.index.emplace(key, position);
    if (!inserted) {
        errs_.add(&name_at, "duplicate name \"" + std::string(resolved) + "\" (first used at " +
                                names.paths[it->second] + "); names are case-insensitive");
        return false;
    }
    names.paths[position] = render_path(&name_at);
    name_out.assign(resolved);
    return true;
}

std::string Loader::item_id(dom::object item, std::string_view collection, std::string_view name) {
    std::string_view id;
    if (item.at_key("id").get_string().get(id) == simdjson::SUCCESS && !id.empty() &&
        id.front() != '[') {
        return std::string(id);
    }
    return "/applicationGateways/" + plan_.gateway_name + "/" + std::string(collection) + "/" +
           std::string(name);
}

// The referenced name from an id: ".../<collection>/<name>", a bare name, or an ARM expression
// such as [resourceId('Microsoft.Network/applicationGateways/probes', ..., 'name')] or
// [concat(..., '/probes/name')].
bool ref_name(std::string_view id, std::string_view collection, std::string_view& name,
              std::string& why) {
    if (!id.empty() && id.front() == '[') {
        std::string type_form = "applicationGateways/" + std::string(collection) + "'";
        std::string concat_form = "/" + std::string(collection) + "/";
        if (id.find(type_form) != std::string_view::npos) {
            std::size_t close = id.rfind('\'');
            std::size_t open = close == std::string_view::npos || close == 0
                                   ? std::string_view::npos
                                   : id.rfind('\'', close - 1);
            if (open != std::string_view::npos) {
                name = id.substr(open + 1, close - open - 1);
                return !name.empty();
            }
        }
        std::size_t p = id.rfind(concat_form);
        if (p != std::string_view::npos) {
            std::size_t start = p + concat_form.size();
            std::size_t end = id.find('\'', start);
            name =
                id.substr(start, end == std::string_view::npos ? id.size() - start : end - start);
            return !name.empty();
        }
        why =
            "cannot evaluate this ARM expression; use resourceId('Microsoft.Network/"
            "applicationGateways/" +
            std::string(collection) + "', ..., 'name') or an id ending in /" +
            std::string(collection) + "/NAME";
        return false;
    }
    std::size_t slash = id.rfind('/');
    if (slash == std::string_view::npos) {
        name = id;  // a bare name (hand-written files)
        return !name.empty();
    }
    name = id.substr(slash + 1);
    std::string_view head = id.substr(0, slash);
    std::size_t prev = head.rfind('/');
    std::string_view coll = prev == std::string_view::npos ? head : head.substr(prev + 1);
    if (!iequals(coll, collection)) {
        why = "refers to " + std::string(coll) + ", expected an id ending in /" +
              std::string(collection) + "/NAME";
        return false;
    }
    return !name.empty();
}

std::int32_t Loader::resolve_ref(View v, std::string_view key, std::string_view collection,
                                 const Names& names, std::string* ref_path) {
    auto obj = read_object(errs_, v, key);
    if (!obj) {
        return -1;
    }
    PathNode ref_at{v.path, key};
    View ref{*obj, &ref_at};
    PathNode id_at{&ref_at, "id"};
    if (ref_path != nullptr) {
        *ref_path = render_path(&id_at);
    }
    std::string_view id;
    if (!read_string(errs_, ref, "id", id)) {
        if (!member(ref, "id")) {
            errs_.add(&id_at, "missing; a reference needs an id ending in /" +
                                  std::string(collection) + "/NAME");
        }
        return -2;
    }
    std::string_view name;
    std::string why;
    if (!ref_name(id, collection, name, why)) {
        errs_.add(&id_at, why.empty() ? "empty reference" : why);
        return -2;
    }
    auto it = names.index.find(lower(name));
    if (it == names.index.end()) {
        std::string known;
        for (const auto& [k, idx] : names.index) {
            (void)idx;
            known += known.empty() ? "" : ", ";
            known += k;
            if (known.size() > 200) {
                known += ", ...";
                break;
            }
        }
        errs_.add(&id_at, "no entry named \"" + std::string(name) + "\" in " +
                              std::string(collection) +
                              (known.empty() ? " (it is empty)" : " (known: " + known + ")"));
        return -2;
    }
    return static_cast<std::int32_t>(it->second);
}

bool Loader::read_header_value(View v, std::string_view key, std::string_view what,
                               std::string_view& out) {
    if (!read_string(errs_, v, key, out)) {
        return false;
    }
    PathNode at{v.path, key};
    std::size_t limit = what == "path" ? path_max : host_max;
    if (out.empty() || out.size() > limit) {
        errs_.add(&at, "\"" + std::string(out.substr(0, 40)) + "\" must have 1 to " +
                           std::to_string(limit) + " characters");
        return false;
    }
    if (!is_header_safe(out)) {
        errs_.add(&at, "contains a space, CR, LF or another control character; a " +
                           std::string(what) +
                           " goes into the request as is, so it must be printable with no spaces");
        return false;
    }
    return true;
}

// ---- Extensions ------------------------------------------------------------------------------

void Loader::read_ext(View v, bool top_level, Ext& ext, bool setting) {
    auto obj = read_object(errs_, v, "ringprobe");
    if (!obj) {
        return;
    }
    PathNode at{v.path, "ringprobe"};
    View e{*obj, &at};
    static constexpr std::string_view known_top[] = {
        "intervalMs",
        "timeoutMs",
        "jitterMs",
        "healthyThreshold",
        "unhealthyThreshold",
        "closePolicy",
        "tlsResume",
        "certExpiryWarningDays",
        "dnsAggregation",
        "fastIntervalMs",
        "unhealthyIntervalMs",
        "startSpreadMs",
        "quantumMs",
        "startBatch",
        "eventLogEntries",
        "flappingChanges"};  // from startSpreadMs on: top level only
    constexpr std::ptrdiff_t top_only = 5;
    for (auto [key, value] : *obj) {
        (void)value;
        auto end = std::end(known_top) - (top_level ? 0 : top_only);
        if (std::find(std::begin(known_top), end, key) == end &&
            (top_level || (key != "proxyProtocol" && key != "connectionReuse")) &&
            (!setting || key != "clientCertificate")) {
            PathNode k{&at, key};
            errs_.add(&k,
                      std::string("unknown ringprobe setting; known here: intervalMs, timeoutMs, "
                                  "jitterMs, healthyThreshold, unhealthyThreshold, closePolicy, "
                                  "tlsResume, certExpiryWarningDays, dnsAggregation, "
                                  "fastIntervalMs, unhealthyIntervalMs") +
                          (top_level ? ", startSpreadMs, quantumMs, startBatch, "
                                       "eventLogEntries, flappingChanges"
                                     : ", proxyProtocol (probes), connectionReuse, "
                                       "clientCertificate (backend settings)"));
        }
    }
    std::int64_t n = 0;
    if (read_int(errs_, e, "intervalMs", ms_min, ms_max, n)) {
        ext.interval_ms = static_cast<std::uint32_t>(n);
    }
    if (read_int(errs_, e, "timeoutMs", ms_min, ms_max, n)) {
        ext.timeout_ms = static_cast<std::uint32_t>(n);
    }
    if (read_int(errs_, e, "jitterMs", 0, ms_max, n)) {
        ext.jitter_ms = static_cast<std::uint32_t>(n);
    }
    if (read_int(errs_, e, "fastIntervalMs", ms_min, ms_max, n)) {
        ext.fast_interval_ms = static_cast<std::uint32_t>(n);
        PathNode k{&at, "fastIntervalMs"};
        ext.fast_interval_path = render_path(&k);
    }
    if (read_int(errs_, e, "unhealthyIntervalMs", ms_min, ms_max, n)) {
        ext.unhealthy_interval_ms = static_cast<std::uint32_t>(n);
    }
    if (top_level && read_int(errs_, e, "startSpreadMs", 0, ms_max, n)) {
        ext.start_spread_ms = static_cast<std::uint32_t>(n);
    }
    if (top_level && read_int(errs_, e, "quantumMs", 0, 1000, n)) {
        ext.quantum_ms = static_cast<std::uint32_t>(n);
    }
    if (top_level && read_int(errs_, e, "startBatch", 1, 1024, n)) {
        ext.start_batch = static_cast<std::uint32_t>(n);
    }
    if (top_level && read_int(errs_, e, "eventLogEntries", Plan::event_log_entries_min,
                              Plan::event_log_entries_max, n)) {
        ext.event_log_entries = static_cast<std::uint32_t>(n);
    }
    if (top_level && read_int(errs_, e, "flappingChanges", 2, 32, n)) {
        ext.flapping_changes = static_cast<std::uint32_t>(n);
    }
    if (read_int(errs_, e, "healthyThreshold", 1, 20, n)) {
        ext.healthy_threshold = static_cast<std::uint8_t>(n);
    }
    if (read_int(errs_, e, "unhealthyThreshold", 1, 20, n)) {
        ext.unhealthy_threshold = static_cast<std::uint8_t>(n);
    }
    std::string_view s;
    if (read_string(errs_, e, "closePolicy", s)) {
        if (s == "graceful") {
            ext.close_policy = ClosePolicy::Graceful;
        } else if (s == "reset") {
            ext.close_policy = ClosePolicy::Reset;
        } else {
            PathNode k{&at, "closePolicy"};
            errs_.add(&k, "\"" + std::string(s) + "\" is not one of \"graceful\", \"reset\"");
        }
    }
    bool b = false;
    if (read_bool(errs_, e, "tlsResume", b)) {
        ext.tls_resume = b;
    }
    if (read_int(errs_, e, "certExpiryWarningDays", 0, 3650, n)) {
        ext.cert_expiry_warning_days = static_cast<std::uint16_t>(n);
    }
    if (!top_level && read_bool(errs_, e, "connectionReuse", b)) {
        ext.connection_reuse = b;
    }
    if (!top_level && read_string(errs_, e, "proxyProtocol", s)) {
        if (s == "v1") {
            ext.proxy_protocol = ProxyProtocol::V1;
        } else if (s == "v2") {
            ext.proxy_protocol = ProxyProtocol::V2;
        } else {
            PathNode k{&at, "proxyProtocol"};
            errs_.add(&k, "\"" + std::string(s) +
                              "\" is not one of \"v1\" (the text header), \"v2\" (the binary "
                              "header, the default)");
        }
    }
    if (read_string(errs_, e, "dnsAggregation", s)) {
        if (s == "all") {
            ext.dns_aggregation = DnsAggregation::All;
        } else if (s == "any") {
            ext.dns_aggregation = DnsAggregation::Any;
        } else {
            PathNode k{&at, "dnsAggregation"};
            errs_.add(&k, "\"" + std::string(s) +
                              "\" is not one of \"all\" (healthy only when "
                              "every address is), \"any\" (healthy when one address is)");
        }
    }
}

// ---- Sections --------------------------------------------------------------------------------

void Loader::read_roots(View gw) {
    for_each_item(gw, col_roots, [&](Item& item) {
        TrustedRoot root;
        if (!read_name(item.obj, item.self, col_roots, root_names_, root.name)) {
            plan_.trusted_roots.push_back(std::move(root));  // keep indices aligned with names
            return;
        }
        root.id = item_id(item.obj, col_roots, root.name);
        std::string_view data;
        PathNode data_at{item.fields.path, "data"};
        if (read_string(errs_, item.fields, "data", data)) {
            if (data.empty()) {
                errs_.add(&data_at, "empty; expected the certificate (PEM or base64 DER)");
            }
            root.data.assign(data);
        } else if (!member(item.fields, "data")) {
            errs_.add(&data_at, member(item.fields, "keyVaultSecretId")
                                    ? "missing; Key Vault references are not supported, put the "
                                      "certificate inline in data"
                                    : "missing; expected the certificate (PEM or base64 DER)");
        }
        plan_.trusted_roots.push_back(std::move(root));
    });
}

void Loader::read_match(View v, Probe& probe) {
    auto match = read_object(errs_, v, "match");
    if (!match) {
        return;
    }
    PathNode m_at{v.path, "match"};
    View m{*match, &m_at};
    std::string_view body;
    if (read_string(errs_, m, "body", body)) {
        if (body.size() > body_max) {
            PathNode b{&m_at, "body"};
            errs_.add(&b, std::to_string(body.size()) + " characters; match.body is at most " +
                              std::to_string(body_max));
        }
        probe.match_body.assign(body);
    }
    auto codes = read_array(errs_, m, "statusCodes");
    if (!codes) {
        return;
    }
    PathNode c_at{&m_at, "statusCodes"};
    std::int64_t i = 0;
    for (dom::element e : *codes) {
        PathNode at{&c_at, {}, i++};
        std::string_view s;
        if (e.get_string().get(s) != simdjson::SUCCESS) {
            errs_.add(&at, "expected a string like \"200\" or \"200-399\", got " + describe(e));
            continue;
        }
        auto num = [](std::string_view t, std::uint16_t& out) {
            if (t.empty() || t.size() > 3) {
                return false;
            }
            unsigned v2 = 0;
            for (char c : t) {
                if (c < '0' || c > '9') {
                    return false;
                }
                v2 = v2 * 10 + static_cast<unsigned>(c - '0');
            }
            out = static_cast<std::uint16_t>(v2);
            return true;
        };
        StatusRange r{};
        std::size_t dash = s.find('-');
        bool ok = dash == std::string_view::npos
                      ? num(s, r.lo) && num(s, r.hi)
                      : num(s.substr(0, dash), r.lo) && num(s.substr(dash + 1), r.hi);
        if (!ok || r.lo < 100 || r.hi > 599 || r.lo > r.hi) {
            errs_.add(&at, "\"" + std::string(s) +
                               "\" is not a status code or range within 100..599 (e.g. \"200\" or "
                               "\"200-399\")");
            continue;
        }
        probe.match_status.push_back(r);
    }
}

void Loader::read_probes(View gw) {
    for_each_item(gw, col_probes, [&](Item& item) {
        Probe probe;
        ProbeIn in;
        read_name(item.obj, item.self, col_probes, probe_names_, probe.name);
        probe.id = item_id(item.obj, col_probes, probe.name);
        View f = item.fields;
        std::string_view s;
        PathNode proto_at{f.path, "protocol"};
        if (read_string(errs_, f, "protocol", s)) {
            if (auto p = parse_protocol(s)) {
                probe.protocol = *p;
            } else {
                errs_.add(&proto_at,
                          "\"" + std::string(s) + "\" is not one of Http, Https, Tcp, Tls");
            }
        } else if (!member(f, "protocol")) {
            errs_.add(&proto_at, "missing; expected one of Http, Https, Tcp, Tls");
        }
        bool http = protocol_is_http(probe.protocol);
        if (read_header_value(f, "host", "Host", s)) {
            probe.host.assign(s);
            in.has_host = true;
        }
        PathNode path_at{f.path, "path"};
        if (read_header_value(f, "path", "path", s)) {
            if (s.front() != '/') {
                errs_.add(&path_at, "\"" + std::string(s) + "\" must start with '/'");
            }
            probe.path.assign(s);
        } else if (http && !member(f, "path")) {
            errs_.add(&path_at, "missing; an " + std::string(protocol_name(probe.protocol)) +
                                    " probe needs a path starting with '/'");
        }
        std::int64_t n = 0;
        if (read_int(errs_, f, "interval", 1, seconds_max, n)) {
            in.interval_s = static_cast<std::uint32_t>(n);
            probe.interval_s = *in.interval_s;
        }
        if (read_int(errs_, f, "timeout", 1, seconds_max, n)) {
            in.timeout_s = static_cast<std::uint32_t>(n);
            probe.timeout_s = *in.timeout_s;
        }
        if (read_int(errs_, f, "unhealthyThreshold", 1, 20, n)) {
            in.unhealthy_threshold = static_cast<std::uint8_t>(n);
            probe.unhealthy_threshold = *in.unhealthy_threshold;
        }
        if (read_int(errs_, f, "port", 1, 65535, n)) {
            probe.port = static_cast<std::uint16_t>(n);
        }
        if (read_int(errs_, f, "minServers", 0, 1'000'000, n)) {
            probe.min_servers = static_cast<std::uint32_t>(n);
        }
        bool pick = false;
        if (read_bool(errs_, f, "pickHostNameFromBackendHttpSettings", pick)) {
            probe.pick_host_from_settings = pick;
        }
        if (http && pick && in.has_host) {
            PathNode h{f.path, "host"};
            errs_.add(&h,
                      "set together with pickHostNameFromBackendHttpSettings; give one of them");
        }
        if (http && !pick && !in.has_host && !member(f, "host")) {
            PathNode h{f.path, "host"};
            errs_.add(&h,
                      "missing; give a host, or set pickHostNameFromBackendHttpSettings to true");
        }
        // The layer-4 counterpart of pickHostNameFromBackendHttpSettings: a Tls probe's SNI
        // comes from its setting's hostName or server.
        bool pick_sni = false;
        if (read_bool(errs_, f, "pickHostNameFromBackendSettings", pick_sni)) {
            in.pick_sni_from_settings = pick_sni;
        }
        if (probe.protocol == Protocol::Tls && pick_sni && in.has_host) {
            PathNode h{f.path, "host"};
            errs_.add(&h, "set together with pickHostNameFromBackendSettings; give one of them");
        }
        read_match(f, probe);
        read_ext(f, false, in.ext);
        read_proxy_protocol(f, probe, in);
        warn_unused_probe_fields(f, probe);
        plan_.probes.push_back(std::move(probe));
        probes_in_.push_back(in);
    });
}

// ---- Fields read but not applied ---------------------------------------------------------------
// The gateway accepts a field its probe does not use (a path on a Tcp probe, a trusted root on an
// Http setting), so ringprobe does too, but never silently: each such field that is set (true,
// a non-empty string or list, a non-default value) is named in a warning saying why it has no
// effect. What ringprobe could not honour correctly is refused instead (a PROXY header on an
// Http probe, read_proxy_protocol). docs/configuration.md lists both.

namespace {
// "an Http", "an Https", "a Tcp", "a Tls": the article as the protocol's name is read aloud.
std::string a_protocol(const std::string& proto) {
    return (proto.front() == 'H' ? "an " : "a ") + proto;
}
}  // namespace

void Loader::warn(View f, std::string_view key, std::string message) {
    PathNode at{f.path, key};
    plan_.warnings.push_back(PlanWarning{render_path(&at), std::move(message)});
}

bool Loader::is_set(View f, std::string_view key) {
    auto v = member(f, key);
    if (!v) {
        return false;
    }
    bool b = false;
    std::string_view s;
    dom::array a;
    dom::object o;
    if (v->get_bool().get(b) == simdjson::SUCCESS) {
        return b;
    }
    if (v->get_string().get(s) == simdjson::SUCCESS) {
        return !s.empty();
    }
    if (v->get_array().get(a) == simdjson::SUCCESS) {
        return a.size() != 0;
    }
    if (v->get_object().get(o) == simdjson::SUCCESS) {
        return o.size() != 0;
    }
    return !v->is_null();
}

void Loader::warn_unused_probe_fields(View f, const Probe& probe) {
    const std::string proto(protocol_name(probe.protocol));
    if (!protocol_is_http(probe.protocol)) {
        if (is_set(f, "path")) {
            warn(f, "path",
                 a_protocol(proto) + " probe sends no HTTP request, so its path is not used");
        }
        auto match = member(f, "match");
        dom::object m;
        if (match && match->get_object().get(m) == simdjson::SUCCESS) {
            PathNode m_at{f.path, "match"};
            View mv{m, &m_at};
            for (std::string_view key : {"statusCodes", "body"}) {
                if (is_set(mv, key)) {
                    warn(mv, key,
                         a_protocol(proto) + " probe reads no HTTP response (its verdict is the " +
                             (probe.protocol == Protocol::Tls ? "handshake" : "connect") +
                             "), so match." + std::string(key) + " is not used");
                }
            }
        }
        if (is_set(f, "pickHostNameFromBackendHttpSettings")) {
            warn(f, "pickHostNameFromBackendHttpSettings",
                 "takes an Http(s) probe's Host from its setting; a " + proto +
                     " probe sends no Host" +
                     (probe.protocol == Protocol::Tls ? " (its SNI comes from the setting with "
                                                        "pickHostNameFromBackendSettings)"
                                                      : ""));
        }
    }
    if (probe.protocol == Protocol::Tcp && is_set(f, "host")) {
        warn(f, "host", "a Tcp probe sends neither a Host nor an SNI, so its host is not used");
    }
    if (probe.protocol != Protocol::Tls && is_set(f, "pickHostNameFromBackendSettings")) {
        warn(f, "pickHostNameFromBackendSettings",
             "takes a Tls probe's SNI from its setting; a " + proto + " probe does not use it" +
                 (protocol_is_http(probe.protocol) ? " (use pickHostNameFromBackendHttpSettings)"
                                                   : ""));
    }
}

void Loader::warn_unused_setting_fields(View f, const Setting& st) {
    const std::string proto(protocol_name(st.protocol));
    if (!protocol_is_tls(st.protocol)) {
        for (std::string_view key : {"sniName", "trustedRootCertificates"}) {
            if (is_set(f, key)) {
                warn(f, key,
                     a_protocol(proto) + " setting makes no TLS connection, so " +
                         std::string(key) + " is not used");
            }
        }
        for (std::string_view key : {"validateCertChainAndExpiry", "validateSNI"}) {
            bool b = true;
            auto v = member(f, key);
            if (v && v->get_bool().get(b) == simdjson::SUCCESS && !b) {
                warn(f, key,
                     a_protocol(proto) + " setting makes no TLS connection, so " +
                         std::string(key) + ": false is not used");
            }
        }
    }
    if (st.protocol == Protocol::Tcp) {
        for (std::string_view key : {"hostName", "pickHostNameFromBackendAddress"}) {
            if (is_set(f, key)) {
                warn(f, key,
                     "a Tcp setting's probe sends neither a Host nor an SNI, so " +
                         std::string(key) + " is not used");
            }
        }
    }
}

// The probe's enableProbeProxyProtocolHeader (the gateway's field) and the version its
// ringprobe.proxyProtocol asks for. The gateway sends the header on Tcp and Tls probes only, so
// an Http(s) probe asking for it is an error rather than a header silently not sent.
void Loader::read_proxy_protocol(View f, Probe& probe, ProbeIn& in) {
    bool on = false;
    PathNode on_at{f.path, "enableProbeProxyProtocolHeader"};
    if (read_bool(errs_, f, "enableProbeProxyProtocolHeader", on) && on &&
        protocol_is_http(probe.protocol)) {
        errs_.add(&on_at, "a PROXY protocol header is sent by Tcp and Tls probes only, not by " +
                              std::string(protocol_name(probe.protocol)) +
                              " ones; set it to false, or probe with Tcp or Tls");
        on = false;
    }
    in.proxy_header = on;
    if (in.ext.proxy_protocol && !on) {
        PathNode v_at{f.path, "ringprobe"};
        PathNode k{&v_at, "proxyProtocol"};
        errs_.add(&k,
                  "chooses the PROXY header's version, but this probe sends none; set "
                  "enableProbeProxyProtocolHeader to true on a Tcp or Tls probe, or remove "
                  "proxyProtocol");
    }
    probe.proxy_protocol =
        on ? in.ext.proxy_protocol.value_or(ProxyProtocol::V2) : ProxyProtocol::None;
}

// A setting's trustedRootCertificates: references resolved to indices into Plan::trusted_roots.
void Loader::read_root_refs(View f, Setting& st) {
    auto roots = read_array(errs_, f, "trustedRootCertificates");
    if (!roots) {
        return;
    }
    PathNode r_at{f.path, "trustedRootCertificates"};
    std::int64_t i = 0;
    for (dom::element e : *roots) {
        PathNode at{&r_at, {}, i++};
        dom::object o;
        if (e.get_object().get(o) != simdjson::SUCCESS) {
            errs_.add(&at, "expected a reference object {\"id\": ...}, got " + describe(e));
            continue;
        }
        View ref{o, &at};
        std::string_view id;
        PathNode id_at{&at, "id"};
        if (!read_string(errs_, ref, "id", id)) {
            if (!member(ref, "id")) {
                errs_.add(&id_at,
                          "missing; expected an id ending in /trustedRootCertificates/NAME");
            }
            continue;
        }
        std::string_view name;
        std::string why;
        if (!ref_name(id, col_roots, name, why)) {
            errs_.add(&id_at, why.empty() ? "empty reference" : why);
            continue;
        }
        auto it = root_names_.index.find(lower(name));
        if (it == root_names_.index.end()) {
            errs_.add(&id_at,
                      "no entry named \"" + std::string(name) + "\" in trustedRootCertificates");
            continue;
        }
        st.trusted_roots.push_back(it->second);
    }
}

// A setting's protocol: any of the four in backendHttpSettingsCollection (as the gateway
// accepts), Tcp or Tls in the layer-4 backendSettingsCollection.
bool Loader::read_setting_protocol(View f, bool layer4, Protocol& out) {
    std::string_view s;
    PathNode proto_at{f.path, "protocol"};
    const char* allowed = layer4 ? "Tcp, Tls" : "Http, Https, Tcp, Tls";
    if (!read_string(errs_, f, "protocol", s)) {
        if (!member(f, "protocol")) {
            errs_.add(&proto_at, std::string("missing; expected one of ") + allowed);
        }
        return false;
    }
    auto p = parse_protocol(s);
    if (!p) {
        errs_.add(&proto_at, "\"" + std::string(s) + "\" is not one of " + allowed);
        return false;
    }
    if (layer4 && protocol_is_http(*p)) {
        errs_.add(&proto_at, "\"" + std::string(s) +
                                 "\" is not a layer-4 protocol: backendSettingsCollection holds "
                                 "Tcp and Tls settings; put an Http or Https setting in "
                                 "backendHttpSettingsCollection");
        return false;
    }
    out = *p;
    return true;
}

// What both kinds of setting end with: hostName (the Host of Http(s) probes, the SNI of Tls
// ones), pickHostNameFromBackendAddress, the probe, the trusted roots and the extension.
void Loader::read_setting_tail(View f, Setting& st, SettingIn& in) {
    in.probe = resolve_ref(f, "probe", col_probes, probe_names_, &in.probe_ref_path);
    if (in.probe >= 0) {
        st.default_probe = false;
        st.probe_name = plan_.probes[static_cast<std::size_t>(in.probe)].name;
    }
    read_root_refs(f, st);
    read_ext(f, false, in.ext, true);
    read_client_certificate(f, st);
    if (in.ext.proxy_protocol) {
        PathNode v_at{f.path, "ringprobe"};
        PathNode k{&v_at, "proxyProtocol"};
        errs_.add(&k,
                  "belongs in a probe's ringprobe object: a setting's default probe sends no "
                  "PROXY header (enableProbeProxyProtocolHeader is a probe's field)");
    }
}

void Loader::read_settings(View gw) {
    for_each_item(gw, col_settings, [&](Item& item) {
        Setting st;
        SettingIn in;
        read_name(item.obj, item.self, col_settings, setting_names_, st.name);
        st.id = item_id(item.obj, col_settings, st.name);
        View f = item.fields;
        in.path = render_path(f.path);
        std::int64_t n = 0;
        PathNode port_at{f.path, "port"};
        if (read_int(errs_, f, "port", 1, 65535, n)) {
            st.port = static_cast<std::uint16_t>(n);
        } else if (!member(f, "port")) {
            errs_.add(&port_at, "missing; expected the backend port, 1..65535");
        }
        read_setting_protocol(f, false, st.protocol);
        std::string_view s;
        if (read_header_value(f, "hostName", "Host", s)) {
            st.host_name.assign(s);
        }
        bool b = false;
        if (read_bool(errs_, f, "pickHostNameFromBackendAddress", b)) {
            st.pick_host_from_address = b;
        }
        if (st.pick_host_from_address && !st.host_name.empty()) {
            PathNode h{f.path, "hostName"};
            errs_.add(&h, "set together with pickHostNameFromBackendAddress; give one of them");
        }
        if (read_header_value(f, "sniName", "SNI name", s)) {
            st.sni_name.assign(s);
        }
        if (read_int(errs_, f, "requestTimeout", 1, seconds_max, n)) {
            st.request_timeout_s = static_cast<std::uint32_t>(n);
        }
        if (read_bool(errs_, f, "validateCertChainAndExpiry", b)) {
            st.validate_chain = b;
        }
        if (read_bool(errs_, f, "validateSNI", b)) {
            st.validate_sni = b;
        }
        read_setting_tail(f, st, in);
        warn_unused_setting_fields(f, st);
        plan_.settings.push_back(std::move(st));
        settings_in_.push_back(std::move(in));
    });
}

// The layer-4 proxy's settings (ApplicationGatewayBackendSettingsPropertiesFormat): port,
// protocol Tcp or Tls, timeout (the traffic's connection timeout: shown, not used by probes),
// hostName (the SNI a Tls probe sends), pickHostNameFromBackendAddress (the SNI is the server's
// FQDN), probe and trustedRootCertificates. enableL4ClientIpPreservation (a PROXY header on the
// traffic) is type-checked and left to the probe's own enableProbeProxyProtocolHeader.
void Loader::read_l4_settings(View gw) {
    l4_settings_base_ = static_cast<std::uint32_t>(plan_.settings.size());
    for_each_item(gw, col_l4_settings, [&](Item& item) {
        Setting st;
        SettingIn in;
        st.layer4 = true;
        read_name(item.obj, item.self, col_l4_settings, l4_setting_names_, st.name);
        st.id = item_id(item.obj, col_l4_settings, st.name);
        View f = item.fields;
        in.path = render_path(f.path);
        std::int64_t n = 0;
        PathNode port_at{f.path, "port"};
        if (read_int(errs_, f, "port", 1, 65535, n)) {
            st.port = static_cast<std::uint16_t>(n);
        } else if (!member(f, "port")) {
            errs_.add(&port_at, "missing; expected the backend port, 1..65535");
        }
        st.protocol = Protocol::Tcp;
        read_setting_protocol(f, true, st.protocol);
        if (read_int(errs_, f, "timeout", 1, seconds_max, n)) {
            st.request_timeout_s = static_cast<std::uint32_t>(n);
        }
        std::string_view s;
        if (read_header_value(f, "hostName", "host name", s)) {
            st.host_name.assign(s);
        }
        bool b = false;
        if (read_bool(errs_, f, "pickHostNameFromBackendAddress", b)) {
            st.pick_host_from_address = b;
        }
        if (st.pick_host_from_address && !st.host_name.empty()) {
            PathNode h{f.path, "hostName"};
            errs_.add(&h, "set together with pickHostNameFromBackendAddress; give one of them");
        }
        const bool preserve = read_bool(errs_, f, "enableL4ClientIpPreservation", b) && b;
        read_setting_tail(f, st, in);
        warn_unused_setting_fields(f, st);
        const bool probe_header =
            in.probe >= 0 &&
            plan_.probes[static_cast<std::size_t>(in.probe)].proxy_protocol != ProxyProtocol::None;
        if (preserve && !probe_header) {
            warn(f, "enableL4ClientIpPreservation",
                 "puts a PROXY header on the traffic only; this setting's probe sends none, so a "
                 "backend that requires one refuses the probe: set "
                 "enableProbeProxyProtocolHeader on a custom Tcp or Tls probe for this setting");
        }
        plan_.settings.push_back(std::move(st));
        settings_in_.push_back(std::move(in));
    });
}

void Loader::read_maps(View gw) {
    for_each_item(gw, col_maps, [&](Item& item) {
        MapIn map;
        std::string name;
        read_name(item.obj, item.self, col_maps, map_names_, name);
        View f = item.fields;
        std::int32_t pool = resolve_ref(f, "defaultBackendAddressPool", col_pools, pool_names_);
        std::int32_t setting =
            resolve_ref(f, "defaultBackendHttpSettings", col_settings, setting_names_);
        if (pool >= 0 && setting >= 0) {
            map.pairs.emplace_back(pool, setting);
        }
        Names path_rule_names;
        for_each_item(f, "pathRules", [&](Item& rule) {
            std::string rule_name;
            read_name(rule.obj, rule.self, "pathRules", path_rule_names, rule_name);
            std::int32_t p = resolve_ref(rule.fields, "backendAddressPool", col_pools, pool_names_);
            std::int32_t s =
                resolve_ref(rule.fields, "backendHttpSettings", col_settings, setting_names_);
            if (p >= 0 && s >= 0) {
                map.pairs.emplace_back(p, s);
            } else if ((p == -1) != (s == -1)) {
                errs_.add(rule.fields.path,
                          "a path rule with backendAddressPool needs "
                          "backendHttpSettings too, and the other way round");
            }
        });
        maps_.push_back(std::move(map));
    });
}

void Loader::read_rules(View gw) {
    PathNode rules_at{gw.path, col_rules};
    rules_path_ = render_path(&rules_at);
    for_each_item(gw, col_rules, [&](Item& item) {
        std::string name;
        read_name(item.obj, item.self, col_rules, rule_names_, name);
        View f = item.fields;
        std::int32_t p = resolve_ref(f, "backendAddressPool", col_pools, pool_names_);
        std::int32_t s = resolve_ref(f, "backendHttpSettings", col_settings, setting_names_);
        if (p >= 0 && s >= 0) {
            pairs_.emplace_back(p, s);
        } else if ((p == -1) != (s == -1)) {
            errs_.add(f.path,
                      "a rule with backendAddressPool needs backendHttpSettings too, and "
                      "the other way round");
        }
        std::int32_t m = resolve_ref(f, "urlPathMap", col_maps, map_names_);
        if (m >= 0 && static_cast<std::size_t>(m) < maps_.size()) {
            const auto& mp = maps_[static_cast<std::size_t>(m)].pairs;
            pairs_.insert(pairs_.end(), mp.begin(), mp.end());
        }
    });
}

// The layer-4 proxy's rules (ApplicationGatewayRoutingRulePropertiesFormat): each ties its
// backendAddressPool to its backendSettings; ruleType, priority and listener route traffic only.
void Loader::read_l4_rules(View gw) {
    for_each_item(gw, col_l4_rules, [&](Item& item) {
        std::string name;
        read_name(item.obj, item.self, col_l4_rules, l4_rule_names_, name);
        View f = item.fields;
        std::int32_t p = resolve_ref(f, "backendAddressPool", col_pools, pool_names_);
        std::int32_t s = resolve_ref(f, "backendSettings", col_l4_settings, l4_setting_names_);
        if (p >= 0 && s >= 0) {
            pairs_.emplace_back(p, l4_settings_base_ + static_cast<std::uint32_t>(s));
        } else if ((p == -1) != (s == -1)) {
            errs_.add(f.path,
                      "a layer-4 rule with backendAddressPool needs backendSettings too, and "
                      "the other way round");
        }
    });
}

// An item whose "properties" is not an object would otherwise be read in the flattened form,
// its fields looked for beside "properties" and not found, which hides the real mistake.
bool Loader::check_properties(dom::object item, const PathNode* at) {
    View v{item, at};
    auto p = member(v, "properties");
    if (!p || p->is<dom::object>()) {
        return true;
    }
    PathNode p_at{at, "properties"};
    errs_.add(&p_at, "properties must be an object, got " + describe(*p));
    return false;
}

void Loader::read_gateway(dom::object gateway, const PathNode* at) {
    read_parameter_files();
    if (!check_properties(gateway, at)) {
        gateway_unread_ = true;
        return;
    }
    Item gw(gateway, at);
    View top{gateway, at};
    std::string_view name;
    plan_.gateway_name = "ringprobe";
    PathNode name_at{at, "name"};
    if (read_string(errs_, top, "name", name)) {
        std::string_view resolved = resolve_arm_name(name);
        bool ok = !resolved.empty() && resolved.size() <= 80;
        for (char c : resolved) {
            ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
        }
        if (ok) {
            plan_.gateway_name.assign(resolved);
        } else {
            errs_.add(&name_at,
                      "\"" + std::string(name.substr(0, 60)) +
                          "\" is not a usable gateway name: 1 to 80 letters, digits, '-', "
                          "'_' or '.' (ARM: a parameter with a defaultValue)");
        }
    }
    read_ext(top, true, top_ext_);
    if (gw.fields.path != at) {
        if (member(gw.fields, "ringprobe") && member(top, "ringprobe")) {
            PathNode e{gw.fields.path, "ringprobe"};
            errs_.add(&e, "given both here and beside \"properties\"; keep one");
        } else {
            read_ext(gw.fields, true, top_ext_);
        }
    }
    plan_.start_spread_ms = top_ext_.start_spread_ms.value_or(0);
    plan_.quantum_ms = top_ext_.quantum_ms.value_or(Plan::default_quantum_ms);
    plan_.start_batch = top_ext_.start_batch.value_or(Plan::default_start_batch);
    plan_.event_log_entries = top_ext_.event_log_entries.value_or(Plan::default_event_log_entries);
    plan_.flapping_changes = top_ext_.flapping_changes.value_or(Plan::default_flapping_changes);
    read_nic_files();
    if (is_template_) {
        scan_template_members();
    }
    read_roots(gw.fields);
    read_probes(gw.fields);
    read_pools(gw.fields);
    read_settings(gw.fields);
    read_l4_settings(gw.fields);
    read_maps(gw.fields);
    read_rules(gw.fields);
    read_l4_rules(gw.fields);
}

}  // namespace ringprobe::config::detail
