// Gateway JSON -> Plan. The reading happens in two passes over a simdjson DOM:
//  1. sections are read and validated in dependency order (trusted roots, probes, pools,
//     settings, URL path maps, rules), each collecting every error it finds;
//  2. only when nothing failed: each setting's probe is resolved once into a Spec (the gateway's
//     defaults and precedence rules live in resolve_spec), then rows are emitted pool by pool,
//     setting by setting, server by server, and identical probes are merged into one Target
//     through an open-addressing table keyed on the probe's identity (no allocation per lookup).
#include "config/load.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "common/hash.hpp"
#include "config/json_read.hpp"

#ifndef RINGPROBE_VERSION
#define RINGPROBE_VERSION "0"
#endif

namespace ringprobe::config {
namespace {

using namespace detail;

constexpr std::int64_t seconds_max = 86400;
constexpr std::int64_t ms_min = 10;
constexpr std::int64_t ms_max = 86'400'000;
constexpr std::size_t body_max = 4090;
constexpr std::size_t host_max = 255;
constexpr std::size_t path_max = 2048;
constexpr std::string_view default_probe_host = "127.0.0.1";

constexpr std::string_view col_pools = "backendAddressPools";
constexpr std::string_view col_settings = "backendHttpSettingsCollection";
constexpr std::string_view col_probes = "probes";
constexpr std::string_view col_roots = "trustedRootCertificates";
constexpr std::string_view col_maps = "urlPathMaps";
constexpr std::string_view col_rules = "requestRoutingRules";

const std::vector<StatusRange> default_match{StatusRange{200, 399}};

// Memory first touched by the loader: 100,000 servers make about 60 MB of fresh pages (the
// targets alone are 288 bytes each). On the 2-core VM this project runs on, a 4 KiB page fault
// costs several microseconds, which made page faults most of the load time; transparent huge
// pages cut that by an order of magnitude. So the large arrays the loader owns are advised
// MADV_HUGEPAGE before their first touch. It is only a hint: with THP off nothing changes.
constexpr std::size_t huge_page = std::size_t{2} << 20;

void advise_huge(const void* p, std::size_t bytes) {
    auto first = reinterpret_cast<std::uintptr_t>(p);
    std::uintptr_t begin = (first + huge_page - 1) & ~(std::uintptr_t{huge_page} - 1);
    std::uintptr_t end = (first + bytes) & ~(std::uintptr_t{huge_page} - 1);
    if (p != nullptr && end > begin) {
        (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
    }
}

template <typename T>
void reserve_huge(std::vector<T>& v, std::size_t n) {
    v.reserve(n);
    advise_huge(v.data(), v.capacity() * sizeof(T));
}

// The document with simdjson's padding behind it, in memory of our own so that a large one can
// be mapped with huge pages (see advise_huge) and read from a file without a second copy.
class PaddedBuffer {
public:
    explicit PaddedBuffer(std::size_t size)
        : size_(size), mapped_(size + simdjson::SIMDJSON_PADDING) {
        void* p =
            ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            data_ = static_cast<char*>(p);
            advise_huge(data_, mapped_);
        }
    }
    ~PaddedBuffer() {
        if (data_ != nullptr) {
            ::munmap(data_, mapped_);
        }
    }
    bool ok() const { return data_ != nullptr; }
    PaddedBuffer(const PaddedBuffer&) = delete;
    PaddedBuffer& operator=(const PaddedBuffer&) = delete;

    char* data() { return data_; }
    std::size_t size() const { return size_; }
    std::string_view view() const { return {data_, size_}; }

private:
    char* data_ = nullptr;
    std::size_t size_;
    std::size_t mapped_;
};

bool is_ip_literal(std::string_view s) {
    char buf[64];
    if (s.empty() || s.size() >= sizeof(buf)) {
        return false;
    }
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    unsigned char addr[16];
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

bool is_hostname(std::string_view s) {
    if (s.empty() || s.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok) {
            return false;
        }
        label = c == '.' ? 0 : label + 1;
        if (label > 63) {
            return false;
        }
    }
    return s.front() != '.' && s.find("..") == std::string_view::npos;
}

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

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

// ringprobe's own settings: a "ringprobe" object beside the gateway's fields.
struct Ext {
    std::optional<std::uint32_t> interval_ms;
    std::optional<std::uint32_t> timeout_ms;
    std::optional<std::uint32_t> jitter_ms;
    std::optional<std::uint32_t> start_spread_ms;
    std::optional<std::uint8_t> healthy_threshold;
    std::optional<std::uint8_t> unhealthy_threshold;
    std::optional<ClosePolicy> close_policy;
    std::optional<bool> tls_resume;
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

// ---- Form detection --------------------------------------------------------------------------

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
        Item item(o, &at);
        f(item);
    }
}

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

// ARM templates may name things with [parameters('x')] or [variables('x')]; a default value
// or a literal variable is used, anything else cannot be evaluated here.
std::string_view Loader::resolve_arm_name(std::string_view name) {
    if (!is_template_ || name.size() < 2 || name.front() != '[' || name.back() != ']') {
        return name;
    }
    auto arg = [&](std::string_view fn) -> std::optional<std::string_view> {
        std::string_view prefix = fn;
        if (name.substr(1, prefix.size()) != prefix) {
            return std::nullopt;
        }
        std::string_view rest = name.substr(1 + prefix.size());
        if (rest.size() < 5 || rest.substr(0, 2) != "('" || rest.substr(rest.size() - 3) != "')]") {
            return std::nullopt;
        }
        return rest.substr(2, rest.size() - 5);
    };
    if (auto p = arg("parameters")) {
        std::string_view v;
        dom::element param;
        if (template_.at_key("parameters").get(param) == simdjson::SUCCESS &&
            param.at_key(*p).at_key("defaultValue").get_string().get(v) == simdjson::SUCCESS) {
            return v;
        }
    }
    if (auto p = arg("variables")) {
        std::string_view v;
        dom::element vars;
        if (template_.at_key("variables").get(vars) == simdjson::SUCCESS &&
            vars.at_key(*p).get_string().get(v) == simdjson::SUCCESS) {
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
                                "\"; use a literal name or a parameter with a defaultValue");
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

void Loader::read_ext(View v, bool top_level, Ext& ext) {
    auto obj = read_object(errs_, v, "ringprobe");
    if (!obj) {
        return;
    }
    PathNode at{v.path, "ringprobe"};
    View e{*obj, &at};
    static constexpr std::string_view known_top[] = {
        "intervalMs",         "timeoutMs",   "jitterMs",  "healthyThreshold",
        "unhealthyThreshold", "closePolicy", "tlsResume", "startSpreadMs"};
    for (auto [key, value] : *obj) {
        (void)value;
        auto end = std::end(known_top) - (top_level ? 0 : 1);
        if (std::find(std::begin(known_top), end, key) == end) {
            PathNode k{&at, key};
            errs_.add(&k,
                      std::string("unknown ringprobe setting; known here: intervalMs, timeoutMs, "
                                  "jitterMs, healthyThreshold, unhealthyThreshold, closePolicy, "
                                  "tlsResume") +
                          (top_level ? ", startSpreadMs" : ""));
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
    if (top_level && read_int(errs_, e, "startSpreadMs", 0, ms_max, n)) {
        ext.start_spread_ms = static_cast<std::uint32_t>(n);
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
        read_match(f, probe);
        read_ext(f, false, in.ext);
        plan_.probes.push_back(std::move(probe));
        probes_in_.push_back(in);
    });
}

void Loader::read_servers(View v, Pool& pool) {
    auto arr = read_array(errs_, v, "backendAddresses");
    if (!arr) {
        return;
    }
    reserve_huge(pool.servers, arr->size());
    PathNode a_at{v.path, "backendAddresses"};
    std::int64_t i = 0;
    for (dom::element e : *arr) {
        PathNode at{&a_at, {}, i++};
        dom::object o;
        if (e.get_object().get(o) != simdjson::SUCCESS) {
            errs_.add(&at, "expected an object with ipAddress or fqdn, got " + describe(e));
            continue;
        }
        View sv{o, &at};
        std::string_view ip;
        std::string_view fqdn;
        bool has_ip = read_string(errs_, sv, "ipAddress", ip) && !ip.empty();
        bool has_fqdn = read_string(errs_, sv, "fqdn", fqdn) && !fqdn.empty();
        if (has_ip == has_fqdn) {
            errs_.add(&at, has_ip ? "both ipAddress and fqdn are set; give one"
                                  : "neither ipAddress nor fqdn is set; give one");
            continue;
        }
        Server server;
        if (has_ip) {
            if (!is_ip_literal(ip)) {
                PathNode k{&at, "ipAddress"};
                errs_.add(&k, "\"" + std::string(ip) + "\" is not an IPv4 or IPv6 address");
                continue;
            }
            server.address.assign(ip);
        } else if (is_ip_literal(fqdn)) {
            server.address.assign(fqdn);  // an address given as fqdn is still an address
        } else if (is_hostname(fqdn)) {
            server.address.assign(fqdn);
            server.is_fqdn = true;
        } else {
            PathNode k{&at, "fqdn"};
            errs_.add(&k, "\"" + std::string(fqdn.substr(0, 60)) +
                              "\" is not a host name (letters, digits, '-', '_' and '.', at most "
                              "253 characters)");
            continue;
        }
        pool.servers.push_back(std::move(server));
    }
    // Duplicate addresses: sort hashes (cheap for 100k servers) and compare neighbours.
    auto& seen = seen_scratch_;
    seen.clear();
    seen.reserve(pool.servers.size());
    for (std::uint32_t k = 0; k < pool.servers.size(); ++k) {
        seen.emplace_back(stable_hash(pool.servers[k].address), k);
    }
    std::sort(seen.begin(), seen.end());
    for (std::size_t k = 1; k < seen.size(); ++k) {
        const auto& a = pool.servers[seen[k - 1].second].address;
        const auto& b = pool.servers[seen[k].second].address;
        if (seen[k - 1].first == seen[k].first && iequals(a, b)) {
            errs_.add(&a_at, "\"" + b + "\" is listed twice; each server appears once in a pool");
        }
    }
}

void Loader::read_pools(View gw) {
    for_each_item(gw, col_pools, [&](Item& item) {
        Pool pool;
        read_name(item.obj, item.self, col_pools, pool_names_, pool.name);
        pool.id = item_id(item.obj, col_pools, pool.name);
        auto arr = member(item.fields, "backendAddresses");
        std::size_t listed = 0;
        dom::array addresses;
        if (arr && arr->get_array().get(addresses) == simdjson::SUCCESS) {
            listed = addresses.size();
        }
        read_servers(item.fields, pool);
        // An empty pool is reported only when it is truly empty, not when its entries were
        // rejected.
        pool_addresses_listed_.push_back(!arr ||
                                         (arr->is_array() && listed == pool.servers.size()));
        PathNode a_at{item.fields.path, "backendAddresses"};
        pool_paths_.push_back(render_path(&a_at));
        plan_.pools.push_back(std::move(pool));
    });
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
        std::string_view s;
        PathNode proto_at{f.path, "protocol"};
        if (read_string(errs_, f, "protocol", s)) {
            if (auto p = parse_protocol(s)) {
                st.protocol = *p;
            } else {
                errs_.add(&proto_at,
                          "\"" + std::string(s) + "\" is not one of Http, Https, Tcp, Tls");
            }
        } else if (!member(f, "protocol")) {
            errs_.add(&proto_at, "missing; expected one of Http, Https, Tcp, Tls");
        }
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
        in.probe = resolve_ref(f, "probe", col_probes, probe_names_, &in.probe_ref_path);
        if (in.probe >= 0) {
            st.default_probe = false;
            st.probe_name = plan_.probes[static_cast<std::size_t>(in.probe)].name;
        }
        read_root_refs(f, st);
        read_ext(f, false, in.ext);
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

void Loader::read_gateway(dom::object gateway, const PathNode* at) {
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
    read_roots(gw.fields);
    read_probes(gw.fields);
    read_pools(gw.fields);
    read_settings(gw.fields);
    read_maps(gw.fields);
    read_rules(gw.fields);
}

// ---- Building --------------------------------------------------------------------------------

bool same_class(const Spec& a, const Spec& b) {
    return a.protocol == b.protocol && a.port == b.port && *a.match == *b.match &&
           a.body == b.body && a.interval_ms == b.interval_ms && a.timeout_ms == b.timeout_ms &&
           a.jitter_ms == b.jitter_ms && a.unhealthy_threshold == b.unhealthy_threshold &&
           a.healthy_threshold == b.healthy_threshold && a.close_policy == b.close_policy &&
           a.validate_chain == b.validate_chain && a.validate_sni == b.validate_sni &&
           a.tls_resume == b.tls_resume && *a.roots == *b.roots;
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

    if (protocol_is_tls(st.protocol)) {
        if (probe != nullptr && pin->has_host) {
            sp.sni_from = SniFrom::Fixed;
            sp.sni = probe->host;
        } else if (!st.sni_name.empty()) {
            sp.sni_from = SniFrom::Fixed;
            sp.sni = st.sni_name;
        } else if (!st.host_name.empty()) {
            sp.sni_from = SniFrom::Fixed;
            sp.sni = st.host_name;
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
    std::optional<std::uint8_t> gw_unhealthy;
    if (pin != nullptr) {
        gw_unhealthy = pin->unhealthy_threshold;
    }
    sp.unhealthy_threshold = own.unhealthy_threshold.value_or(
        gw_unhealthy.value_or(top.unhealthy_threshold.value_or(3)));
    sp.healthy_threshold = own.healthy_threshold.value_or(top.healthy_threshold.value_or(1));
    sp.close_policy = own.close_policy.value_or(top.close_policy.value_or(ClosePolicy::Graceful));
    sp.tls_resume = own.tls_resume.value_or(top.tls_resume.value_or(true));
    return sp;
}

std::string build_request(std::string_view path, std::string_view host) {
    static constexpr std::string_view p1 = "GET ";
    static constexpr std::string_view p2 = " HTTP/1.1\r\nHost: ";
    static constexpr std::string_view p3 = "\r\nUser-Agent: ringprobe/" RINGPROBE_VERSION
                                           "\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    std::string r;
    r.reserve(p1.size() + path.size() + p2.size() + host.size() + p3.size());
    r.append(p1).append(path).append(p2).append(host).append(p3);
    return r;
}

std::uint64_t identity_hash(std::string_view address, std::uint16_t port, Protocol protocol,
                            std::string_view host, std::string_view path) {
    std::uint64_t h = stable_hash(address);
    h = hash_combine(h, port);
    h = hash_combine(h, static_cast<std::uint64_t>(protocol));
    h = hash_combine(h, stable_hash(host));
    return hash_combine(h, stable_hash(path));
}

void Loader::check_pairs() {
    std::sort(pairs_.begin(), pairs_.end());
    pairs_.erase(std::unique(pairs_.begin(), pairs_.end()), pairs_.end());
    std::uint32_t last_pool = UINT32_MAX;
    for (const auto& [pool, setting] : pairs_) {
        (void)setting;
        if (pool != last_pool && plan_.pools[pool].servers.empty() &&
            pool_addresses_listed_[pool]) {
            errs_.add_text(pool_paths_[pool], "pool \"" + plan_.pools[pool].name +
                                                  "\" has no servers but a rule routes to it; add "
                                                  "ipAddress or fqdn entries");
        }
        last_pool = pool;
    }
    if (pairs_.empty()) {
        errs_.add_text(rules_path_,
                       "no routing rule ties a backend pool to a backend setting, so "
                       "there is nothing to probe; add a rule with "
                       "backendAddressPool and backendHttpSettings");
    }
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
        for (auto& p : problems) {
            errs_.add_text(in.probe_ref_path.empty() ? in.path : in.probe_ref_path, std::move(p));
        }
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
    tg.port = sp.port;
    tg.protocol = sp.protocol;
    tg.host.assign(k.host);
    tg.path.assign(sp.path);
    tg.sni.assign(k.sni);
    if (protocol_is_http(sp.protocol)) {
        tg.match_status = *sp.match;
        tg.match_body.assign(sp.body);
        tg.request = build_request(sp.path, k.host);
    }
    tg.interval_ms = sp.interval_ms;
    tg.timeout_ms = sp.timeout_ms;
    tg.jitter_ms = sp.jitter_ms;
    tg.unhealthy_threshold = sp.unhealthy_threshold;
    tg.healthy_threshold = sp.healthy_threshold;
    tg.close_policy = sp.close_policy;
    if (protocol_is_tls(sp.protocol)) {
        tg.validate_chain = sp.validate_chain;
        tg.validate_sni = sp.validate_sni;
        tg.trusted_roots = *sp.roots;
        tg.tls_resume = sp.tls_resume;
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
    plan_.digest = stable_hash(json_);
    return std::move(plan_);
}

}  // namespace

bool is_header_safe(std::string_view s) {
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

namespace {

ConfigErrors one_error(std::string message) { return ConfigErrors{{"", std::move(message), 0, 0}}; }

std::string over_limit(std::size_t size, std::size_t limit) {
    return std::to_string(size) + " bytes is over the limit of " + std::to_string(limit) +
           " bytes for a configuration (LoadOptions::max_bytes)";
}

Result<Plan, ConfigErrors> load_padded(PaddedBuffer& buffer, const LoadOptions& options) {
    if (!buffer.ok()) {
        return unexpected(one_error("cannot allocate " + std::to_string(buffer.size()) +
                                    " bytes for the document"));
    }
    simdjson::dom::parser parser;
    if (parser.allocate(std::max<std::size_t>(buffer.size(), 64)) != simdjson::SUCCESS) {
        return unexpected(one_error("cannot allocate the JSON parser's buffers"));
    }
    // The tape and string buffer are first touched by the parse: same reasoning as advise_huge.
    advise_huge(parser.doc.tape.get(), (buffer.size() + 3) * sizeof(std::uint64_t));
    advise_huge(parser.doc.string_buf.get(), 5 * buffer.size() / 3);
    simdjson::dom::element root;
    auto err = parser.parse(buffer.data(), buffer.size(), false).get(root);
    if (err != simdjson::SUCCESS) {
        SyntaxError se;
        if (find_syntax_error(buffer.view(), se)) {
            return unexpected(
                ConfigErrors{{"", "malformed JSON: " + se.message, se.line, se.column}});
        }
        return unexpected(
            one_error(std::string("malformed JSON: ") + simdjson::error_message(err)));
    }
    Loader loader(buffer.view(), options);
    return loader.run(root);
}

}  // namespace

Result<Plan, ConfigErrors> load_plan_json(std::string_view json, const LoadOptions& options) {
    if (json.size() > options.max_bytes) {
        return unexpected(one_error(over_limit(json.size(), options.max_bytes)));
    }
    PaddedBuffer buffer(json.size());
    if (buffer.ok()) {
        std::memcpy(buffer.data(), json.data(), json.size());
    }
    return load_padded(buffer, options);
}

Result<Plan, ConfigErrors> load_plan_file(const std::string& path, const LoadOptions& options) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return unexpected(one_error(std::string("cannot open: ") + std::strerror(errno)));
    }
    struct stat st {};
    std::string problem;
    if (::fstat(fd, &st) != 0) {
        problem = std::string("cannot stat: ") + std::strerror(errno);
    } else if (!S_ISREG(st.st_mode)) {
        problem = "not a regular file";
    } else if (static_cast<std::size_t>(st.st_size) > options.max_bytes) {
        problem = over_limit(static_cast<std::size_t>(st.st_size), options.max_bytes);
    }
    if (!problem.empty()) {
        ::close(fd);
        return unexpected(one_error(std::move(problem)));
    }
    PaddedBuffer buffer(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (buffer.ok() && got < buffer.size()) {
        ssize_t n = ::read(fd, buffer.data() + got, buffer.size() - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            problem = n < 0 ? std::string("cannot read: ") + std::strerror(errno)
                            : std::string("cannot read: the file shrank while reading");
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (!problem.empty()) {
        return unexpected(one_error(std::move(problem)));
    }
    return load_padded(buffer, options);
}

std::string format_errors(const ConfigErrors& errors, std::string_view file) {
    std::string out;
    for (const auto& e : errors) {
        out.append(file);
        if (e.line != 0) {
            out += ':';
            out += std::to_string(e.line);
            out += ':';
            out += std::to_string(e.column);
        }
        out += ": ";
        if (!e.path.empty()) {
            out += e.path;
            out += ": ";
        }
        out += e.message;
        out += '\n';
    }
    return out;
}

}  // namespace ringprobe::config
