// Builds small Plans by hand for engine tests: one pool, one setting, one row per target, so a
// test states only what it probes (address, port, protocol, timing) and nothing else.
#pragma once

#include <string>

#include "common/hash.hpp"
#include "config/plan.hpp"

namespace ringprobe::testing {

struct TargetSpec {
    std::string address = "127.0.0.1";
    std::uint16_t port = 80;
    Protocol protocol = Protocol::Tcp;
    std::uint32_t interval_ms = 50;
    std::uint32_t timeout_ms = 200;
    std::uint8_t healthy = 1;
    std::uint8_t unhealthy = 2;
    std::string host = "127.0.0.1";
    std::string path = "/";
    std::string match_body;
    ClosePolicy close = ClosePolicy::Graceful;
    bool reuse = false;  // connectionReuse: keep-alive request, the connection kept
};

inline void add_target(Plan& plan, const TargetSpec& spec) {
    if (plan.pools.empty()) {
        plan.gateway_name = "test";
        plan.pools.push_back(Pool{"pool", "/pools/pool", {}});
        plan.settings.push_back(
            Setting{"setting", "/settings/setting", spec.port, spec.protocol, "", true});
    }
    Pool& pool = plan.pools.front();
    pool.servers.push_back(Server{spec.address + ":" + std::to_string(spec.port), false});
    Target t;
    t.address = spec.address;
    t.port = spec.port;
    t.protocol = spec.protocol;
    t.interval_ms = spec.interval_ms;
    t.timeout_ms = spec.timeout_ms;
    t.healthy_threshold = spec.healthy;
    t.unhealthy_threshold = spec.unhealthy;
    t.close_policy = spec.close;
    t.match_status = {StatusRange{200, 399}};
    t.match_body = spec.match_body;
    if (protocol_is_http(spec.protocol)) {
        t.host = spec.host;
        t.path = spec.path;
        t.request = "GET " + spec.path + " HTTP/1.1\r\nHost: " + spec.host +
                    "\r\nUser-Agent: ringprobe-test\r\n" +
                    (spec.reuse ? "" : "Connection: close\r\n") + "\r\n";
        t.connection_reuse = spec.reuse;
    }
    t.identity_hash = stable_hash(spec.address + ":" + std::to_string(spec.port) + spec.path);
    Row row;
    row.pool_index = 0;
    row.setting_index = 0;
    row.server_index = static_cast<std::uint32_t>(pool.servers.size() - 1);
    row.target_index = static_cast<std::uint32_t>(plan.targets.size());
    plan.targets.push_back(std::move(t));
    plan.rows.push_back(row);
}

}  // namespace ringprobe::testing
