// Stage 1 of loading (see loader.hpp), backend pools: each pool's backendAddresses (literal,
// or an array parameter of a template), then its members from network interfaces and scale sets
// (members.cpp), and the check that no address is listed twice in one pool. Kept apart from
// read_sections.cpp because a pool's members come from more places than any other section's
// fields, and the errors for each place are worded here.
#include <algorithm>

#include "common/hash.hpp"
#include "common/text.hpp"
#include "config/loader.hpp"

namespace ringprobe::config::detail {

namespace {

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

}  // namespace

void Loader::read_servers(dom::array arr, const PathNode* a_at, Pool& pool) {
    reserve_huge(pool.servers, arr.size());
    std::int64_t i = 0;
    for (dom::element e : arr) {
        PathNode at{a_at, {}, i++};
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
        bool evaluated = true;
        for (auto [value, key] : {std::pair{&ip, "ipAddress"}, std::pair{&fqdn, "fqdn"}}) {
            std::string_view resolved = resolve_arm_name(*value);
            if (!value->empty() && resolved.empty()) {
                PathNode k{&at, key};
                errs_.add(&k, "cannot evaluate \"" + std::string(value->substr(0, 60)) +
                                  "\"; use a literal, or a parameter with a defaultValue or a "
                                  "value given with --parameters FILE");
                evaluated = false;
            }
            *value = resolved;
        }
        if (!evaluated) {
            continue;
        }
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
}

void Loader::check_duplicate_servers(const Pool& pool, const PathNode* a_at) {
    // Duplicate addresses: sort hashes (cheap for 100k servers) and compare neighbours.
    auto& seen = seen_scratch_;
    seen.clear();
    seen.reserve(pool.servers.size());
    for (std::uint32_t k = 0; k < pool.servers.size(); ++k) {
        if (pool.servers[k].address_known) {
            seen.emplace_back(stable_hash(pool.servers[k].address), k);
        }
    }
    std::sort(seen.begin(), seen.end());
    for (std::size_t k = 1; k < seen.size(); ++k) {
        const auto& a = pool.servers[seen[k - 1].second].address;
        const auto& b = pool.servers[seen[k].second].address;
        if (seen[k - 1].first == seen[k].first && iequals(a, b)) {
            errs_.add(a_at, "\"" + b + "\" is listed twice; each server appears once in a pool");
        }
    }
}

void Loader::read_pools(View gw) {
    for_each_item(gw, col_pools, [&](Item& item) {
        Pool pool;
        read_name(item.obj, item.self, col_pools, pool_names_, pool.name);
        pool.id = item_id(item.obj, col_pools, pool.name);
        PathNode a_at{item.fields.path, "backendAddresses"};
        auto arr = member(item.fields, "backendAddresses");
        // A template may give the whole list as [parameters('x')]: an array parameter.
        std::string_view expr;
        if (arr && is_template_ && arr->get_string().get(expr) == simdjson::SUCCESS) {
            auto value = arm_parameter_value(expr);
            if (!value) {
                errs_.add(&a_at, "cannot evaluate \"" + std::string(expr.substr(0, 60)) +
                                     "\"; use an array, or [parameters('NAME')] of an array "
                                     "parameter with a defaultValue or a value given with "
                                     "--parameters FILE");
            }
            arr = value;
        }
        std::size_t listed = 0;
        dom::array addresses;
        if (arr && arr->get_array().get(addresses) == simdjson::SUCCESS) {
            listed = addresses.size();
            read_servers(addresses, &a_at, pool);
        } else if (arr && expr.empty()) {
            errs_.add(&a_at, "expected an array, got " + describe(*arr));
        } else if (arr) {
            errs_.add(&a_at, "the parameter's value is " + describe(*arr) +
                                 ", expected an array of {ipAddress} or {fqdn} objects");
        }
        // An empty pool is reported only when it is truly empty, not when its entries were
        // rejected.
        bool listed_all = !arr || (arr->is_array() && listed == pool.servers.size());
        add_ip_configuration_members(item.fields, pool);
        add_template_members(pool);
        check_duplicate_servers(pool, &a_at);
        pool_addresses_listed_.push_back(listed_all);
        pool_paths_.push_back(render_path(&a_at));
        plan_.pools.push_back(std::move(pool));
    });
    check_template_members();
}

}  // namespace ringprobe::config::detail
