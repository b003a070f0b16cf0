#!/usr/bin/env python3
"""Generate demo/demo-gateway.json, the configuration tools/demo.sh probes.

Deterministic: the same script always writes the same bytes (no clock, no randomness), so the
plan digest of the demo is stable. Run from the repository root:

    python3 tools/gen-demo-config.py            # writes demo/demo-gateway.json
    python3 tools/gen-demo-config.py --check    # exit 1 if the committed file is stale

The gateway ("demo") is written in the REST/ARM resource form, fields under "properties", the
way `az resource show` or the REST API prints an Application Gateway.

Servers: 1,000 addresses 127.1.0.1 .. 127.1.3.232, in order. The synthetic fleet
(tools/fleet, ringprobe-fleet) listens on every one of them, port 8080 for Http (8443 for Https
once TLS lands), and behaves by address range:

    127.1.0.0/24     healthy: 200 with a body containing "ok"
    127.1.1.0/26     resets each connection at accept -> connection_reset (a fleet that
                                                         listens on all of 127/8 cannot refuse
                                                         one address's SYNs)
    127.1.1.64/26    answers slowly (past the 1 s timeout) -> response_timeout
    127.1.1.128/26   answers 503                      -> status_mismatch
    127.1.1.192/26   answers 200 without "ok"         -> body_mismatch (custom probes only;
                                                         the default probe checks no body)
    everything else  healthy

Pools are cut so that each shows a different picture:

    web     127.1.0.1 - 127.1.1.127   383 servers: healthy, then refusing, then slow
    api     127.1.1.128 - 127.1.2.255 384 servers: 503, wrong body, then healthy
    static  127.1.3.0 - 127.1.3.232   233 servers: all healthy

Settings and probes (all on port 8080, Http):

    web-http        probe web-health: Host web.demo.local, GET /health, 200-399, body "ok"
    web-default     no probe: the gateway's default probe (Host 127.0.0.1, GET /, 200-399)
    api-http        probe api-health: Host api.demo.local, GET /api/health, 200-299, body "ok"
    static-default  no probe: the default probe
    static-copy     identical to static-default: its rows share static-default's targets, which
                    shows that identical probes run once

Rules: basic rules tie web to web-http and web-default; a path-based rule's URL path map sends
/api/* to api/api-http and everything else to static/static-default; a last basic rule ties
static to static-copy. That makes 383*2 + 384 + 233*2 = 1,616 report rows and 1,383 targets.

Timing comes from ringprobe's extension object at the top level (docs/configuration.md):
interval 2 s, timeout 1 s, 200 ms jitter, first probes spread over 2 s, connections closed with
RST so that 700 probes a second leave no TIME_WAIT behind. The probes carry no interval/timeout
fields of their own, so these defaults apply to them as well as to the default probes.
"""

import ipaddress
import json
import os
import sys

SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000"
GATEWAY_ID = (SUBSCRIPTION + "/resourceGroups/rg-ringprobe-demo/providers/"
              "Microsoft.Network/applicationGateways/demo")
FIRST = ipaddress.IPv4Address("127.1.0.1")
SERVERS = 1000
PORT = 8080
OUT = os.path.join("demo", "demo-gateway.json")


def ref(collection, name):
    return {"id": f"{GATEWAY_ID}/{collection}/{name}"}


def item(collection, name, properties):
    return {"name": name, "id": f"{GATEWAY_ID}/{collection}/{name}", "properties": properties}


def addresses(first, last):
    lo, hi = int(ipaddress.IPv4Address(first)), int(ipaddress.IPv4Address(last))
    return [{"ipAddress": str(ipaddress.IPv4Address(a))} for a in range(lo, hi + 1)]


def setting(name, probe=None):
    props = {"port": PORT, "protocol": "Http", "cookieBasedAffinity": "Disabled",
             "requestTimeout": 20, "pickHostNameFromBackendAddress": False}
    if probe:
        props["probe"] = ref("probes", probe)
    return item("backendHttpSettingsCollection", name, props)


def probe(name, host, path, codes):
    return item("probes", name, {
        "protocol": "Http", "host": host, "path": path, "unhealthyThreshold": 3,
        "pickHostNameFromBackendHttpSettings": False, "minServers": 0,
        "match": {"statusCodes": codes, "body": "ok"}})


def rule(name, priority, pool=None, settings=None, path_map=None):
    props = {"ruleType": "PathBasedRouting" if path_map else "Basic", "priority": priority,
             "httpListener": ref("httpListeners", "listener-80")}
    if pool:
        props["backendAddressPool"] = ref("backendAddressPools", pool)
        props["backendHttpSettings"] = ref("backendHttpSettingsCollection", settings)
    if path_map:
        props["urlPathMap"] = ref("urlPathMaps", path_map)
    return item("requestRoutingRules", name, props)


def gateway():
    pools = [
        item("backendAddressPools", "web", {"backendAddresses": addresses("127.1.0.1", "127.1.1.127")}),
        item("backendAddressPools", "api", {"backendAddresses": addresses("127.1.1.128", "127.1.2.255")}),
        item("backendAddressPools", "static", {"backendAddresses": addresses("127.1.3.0", "127.1.3.232")}),
    ]
    count = sum(len(p["properties"]["backendAddresses"]) for p in pools)
    assert count == SERVERS, count
    assert pools[0]["properties"]["backendAddresses"][0]["ipAddress"] == str(FIRST)
    path_map = item("urlPathMaps", "site", {
        "defaultBackendAddressPool": ref("backendAddressPools", "static"),
        "defaultBackendHttpSettings": ref("backendHttpSettingsCollection", "static-default"),
        "pathRules": [{"name": "api", "id": f"{GATEWAY_ID}/urlPathMaps/site/pathRules/api",
                       "properties": {"paths": ["/api/*"],
                                      "backendAddressPool": ref("backendAddressPools", "api"),
                                      "backendHttpSettings": ref("backendHttpSettingsCollection", "api-http")}}]})
    return {
        "name": "demo",
        "id": GATEWAY_ID,
        "type": "Microsoft.Network/applicationGateways",
        "location": "local",
        "ringprobe": {"intervalMs": 2000, "timeoutMs": 1000, "jitterMs": 200,
                      "startSpreadMs": 2000, "healthyThreshold": 1, "closePolicy": "reset"},
        "properties": {
            "sku": {"name": "Standard_v2", "tier": "Standard_v2", "capacity": 1},
            "backendAddressPools": pools,
            "probes": [probe("web-health", "web.demo.local", "/health", ["200-399"]),
                       probe("api-health", "api.demo.local", "/api/health", ["200-299"])],
            "backendHttpSettingsCollection": [
                setting("web-http", "web-health"), setting("web-default"),
                setting("api-http", "api-health"), setting("static-default"),
                setting("static-copy")],
            "httpListeners": [{"name": "listener-80", "properties": {"protocol": "Http"}}],
            "urlPathMaps": [path_map],
            "requestRoutingRules": [
                rule("web-health-rule", 100, "web", "web-http"),
                rule("web-default-rule", 110, "web", "web-default"),
                rule("site-rule", 120, path_map="site"),
                rule("static-copy-rule", 130, "static", "static-copy"),
            ],
        },
    }


def main():
    text = json.dumps(gateway(), indent=1) + "\n"
    if "--check" in sys.argv[1:]:
        with open(OUT) as f:
            if f.read() != text:
                print(f"{OUT} is stale: run python3 tools/gen-demo-config.py", file=sys.stderr)
                return 1
        return 0
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
