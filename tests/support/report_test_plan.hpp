// Small hand-built Plans for the report's tests, benchmarks and fuzzer (no dependency on the
// config loader). unique_name is the shared one (support/unique_name.hpp), named here too so
// the report's tests find both under report::testing.
#pragma once

#include <string>

#include "config/plan.hpp"
#include "support/unique_name.hpp"

namespace ringprobe::report::testing {

using ringprobe::testing::unique_name;

// Two pools, two settings, seven rows, one target per row:
//   web x http80  : 10.0.0.4, 10.0.0.5, app.contoso.com     (targets 0,1,2)
//   web x https443: 10.0.0.4, 10.0.0.5, app.contoso.com     (targets 3,4,5)
//   api x http80  : 10.1.0.4                                 (target 6)
inline Plan sample_plan() {
    Plan p;
    p.gateway_name = "contoso-gw";
    p.digest = 0x1234abcdULL;
    p.pools.push_back(Pool{
        "web",
        "/gw/contoso-gw/backendAddressPools/web",
        {Server{"10.0.0.4", false}, Server{"10.0.0.5", false}, Server{"app.contoso.com", true}}});
    p.pools.push_back(Pool{"api", "", {Server{"10.1.0.4", false}}});
    Setting http;
    http.name = "http80";
    http.id = "/gw/contoso-gw/backendHttpSettingsCollection/http80";
    http.port = 80;
    http.protocol = Protocol::Http;
    p.settings.push_back(http);
    Setting https;
    https.name = "https443";
    https.id = "/gw/contoso-gw/backendHttpSettingsCollection/https443";
    https.port = 443;
    https.protocol = Protocol::Https;
    https.probe_name = "health";
    https.default_probe = false;
    p.settings.push_back(https);
    auto add = [&](std::uint32_t pool, std::uint32_t setting, std::uint32_t server) {
        const Pool& pl = p.pools[pool];
        const Setting& st = p.settings[setting];
        Target t;
        t.address = pl.servers[server].address;
        t.is_fqdn = pl.servers[server].is_fqdn;
        t.port = st.port;
        t.protocol = st.protocol;
        t.host = st.protocol == Protocol::Https ? "app.contoso.com" : "127.0.0.1";
        t.path = st.protocol == Protocol::Https ? "/healthz" : "/";
        t.sni = st.protocol == Protocol::Https ? "app.contoso.com" : "";
        t.match_status = {StatusRange{200, 399}};
        if (st.protocol == Protocol::Https) {
            t.match_status = {StatusRange{200, 200}, StatusRange{301, 302}};
            t.match_body = "ok";
            t.interval_ms = 5000;
            t.timeout_ms = 2500;
            t.unhealthy_threshold = 2;
        }
        p.rows.push_back(Row{pool, setting, server, static_cast<std::uint32_t>(p.targets.size())});
        p.targets.push_back(t);
    };
    for (std::uint32_t setting = 0; setting < 2; ++setting) {
        for (std::uint32_t server = 0; server < 3; ++server) {
            add(0, setting, server);
        }
    }
    add(1, 0, 0);
    return p;
}

// A plan with n rows/targets spread over 10 pools x 2 settings (benchmarks, stress).
inline Plan large_plan(std::uint32_t n) {
    Plan p;
    p.gateway_name = "large";
    const std::uint32_t pools = 10;
    const std::uint32_t per_pool = (n + pools * 2 - 1) / (pools * 2);
    for (std::uint32_t i = 0; i < pools; ++i) {
        Pool pool{"pool" + std::to_string(i),
                  "/gw/large/backendAddressPools/pool" + std::to_string(i),
                  {}};
        for (std::uint32_t s = 0; s < per_pool; ++s) {
            pool.servers.push_back(Server{"10." + std::to_string(i) + "." +
                                              std::to_string(s / 250) + "." +
                                              std::to_string(s % 250),
                                          false});
        }
        p.pools.push_back(pool);
    }
    for (std::uint16_t s = 0; s < 2; ++s) {
        Setting st;
        st.name = "setting" + std::to_string(s);
        st.id = "/gw/large/backendHttpSettingsCollection/setting" + std::to_string(s);
        st.port = static_cast<std::uint16_t>(8080 + s);
        p.settings.push_back(st);
    }
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint32_t pool = i % pools;
        const std::uint32_t setting = (i / pools) % 2;
        const std::uint32_t server = (i / (pools * 2)) % per_pool;
        Target t;
        t.address = p.pools[pool].servers[server].address;
        t.port = p.settings[setting].port;
        t.host = "127.0.0.1";
        t.path = "/";
        p.rows.push_back(Row{pool, setting, server, i});
        p.targets.push_back(t);
    }
    return p;
}

}  // namespace ringprobe::report::testing
