// What this proves: src/config reads an Application Gateway configuration the way the gateway
// does. The fixtures in tests/fixtures/config are written in the gateway's published shapes
// (REST/ARM resource, ARM template with expressions, flattened `az ... show` output with nulls);
// the three big ones describe the same gateway, so the plans must be identical. Each test pins
// one behaviour: a gateway default, a Host/SNI/port precedence rule, reference resolution, row
// and target deduplication, a ringprobe extension, or one kind of bad input, whose message must
// carry the JSON path and the valid range. A seeded fuzz test (seed printed on failure) cuts
// valid documents at random points and checks that the syntax error always has a position.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "config/load.hpp"
#include "test_seed.hpp"

namespace ringprobe::config {
namespace {

std::string fixture(const std::string& name) {
    return std::string(RP_CONFIG_FIXTURES) + "/" + name;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Plan load_ok(const std::string& name) {
    auto r = load_plan_file(fixture(name));
    if (!r) {
        ADD_FAILURE() << format_errors(r.error(), name);
        return Plan{};
    }
    return std::move(r).value();
}

ConfigErrors load_bad(const std::string& name, const LoadOptions& options = {}) {
    auto r = load_plan_file(fixture(name), options);
    if (r) {
        ADD_FAILURE() << name << " loaded but should have failed";
        return {};
    }
    return r.error();
}

Plan load_ok_json(const std::string& json) {
    auto r = load_plan_json(json);
    if (!r) {
        ADD_FAILURE() << format_errors(r.error(), "json");
        return Plan{};
    }
    return std::move(r).value();
}

ConfigErrors json_bad(const std::string& json) {
    auto r = load_plan_json(json);
    if (r) {
        ADD_FAILURE() << "loaded but should have failed: " << json;
        return {};
    }
    return r.error();
}

bool has_error(const ConfigErrors& errors, const std::string& path, const std::string& fragment) {
    return std::any_of(errors.begin(), errors.end(), [&](const ConfigError& e) {
        return e.path == path && e.message.find(fragment) != std::string::npos;
    });
}

std::string dump(const ConfigErrors& errors) {
    return format_errors(errors, "f");
}

// The target of the row (pool, setting, server address).
const Target* find(const Plan& plan, const std::string& pool, const std::string& setting,
                   const std::string& server) {
    for (const Row& r : plan.rows) {
        const Pool& p = plan.pools[r.pool_index];
        if (p.name == pool && plan.settings[r.setting_index].name == setting &&
            p.servers[r.server_index].address == server) {
            return &plan.targets[r.target_index];
        }
    }
    return nullptr;
}

const Target& target(const Plan& plan, const std::string& pool, const std::string& setting,
                     const std::string& server) {
    const Target* t = find(plan, pool, setting, server);
    RP_ASSERT(t != nullptr);
    return *t;
}

// A Plan temporary would leave the reference dangling.
const Target& target(Plan&&, const std::string&, const std::string&, const std::string&) = delete;

// ---- Forms -----------------------------------------------------------------------------------

TEST(ConfigForms, RestFormGivesOneRowPerTiedPoolSettingServer) {
    Plan plan = load_ok("gateway-rest.json");
    EXPECT_EQ(plan.gateway_name, "gw-rest");
    EXPECT_EQ(plan.rows.size(), 26u);
    EXPECT_EQ(plan.targets.size(), 23u);
}

void expect_same_plan(const Plan& a, const Plan& b) {
    ASSERT_EQ(a.rows.size(), b.rows.size());
    ASSERT_EQ(a.targets.size(), b.targets.size());
    for (std::size_t i = 0; i < a.rows.size(); ++i) {
        EXPECT_EQ(a.rows[i].pool_index, b.rows[i].pool_index);
        EXPECT_EQ(a.rows[i].setting_index, b.rows[i].setting_index);
        EXPECT_EQ(a.rows[i].server_index, b.rows[i].server_index);
        EXPECT_EQ(a.rows[i].target_index, b.rows[i].target_index);
    }
    for (std::size_t i = 0; i < a.targets.size(); ++i) {
        EXPECT_EQ(a.targets[i].request, b.targets[i].request);
        EXPECT_EQ(a.targets[i].sni, b.targets[i].sni);
        EXPECT_EQ(a.targets[i].identity_hash, b.targets[i].identity_hash);
        EXPECT_EQ(a.targets[i].interval_ms, b.targets[i].interval_ms);
        EXPECT_EQ(a.targets[i].trusted_roots, b.targets[i].trusted_roots);
    }
}

TEST(ConfigForms, ArmTemplateReadsLikeTheRestForm) {
    expect_same_plan(load_ok("gateway-rest.json"), load_ok("gateway-arm-template.json"));
}

TEST(ConfigForms, AzShowFlattenedFormWithNullsReadsLikeTheRestForm) {
    expect_same_plan(load_ok("gateway-rest.json"), load_ok("gateway-az-show.json"));
}

TEST(ConfigForms, ArmTemplateGatewayNameComesFromTheParameterDefault) {
    EXPECT_EQ(load_ok("gateway-arm-template.json").gateway_name, "gw-arm");
}

TEST(ConfigForms, GatewayNameDefaultsToRingprobe) {
    EXPECT_EQ(load_ok("no-name.json").gateway_name, "ringprobe");
}

TEST(ConfigForms, TemplateWithoutAGatewayResourceIsAnError) {
    auto errors = json_bad(R"({"resources": [{"type": "Microsoft.Network/virtualNetworks"}]})");
    EXPECT_TRUE(has_error(errors, "resources", "Microsoft.Network/applicationGateways"))
        << dump(errors);
}

// ---- Gateway defaults ------------------------------------------------------------------------

TEST(ConfigDefaults, DefaultProbeSendsHost127001AndPathSlash) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "http-default", "10.0.0.4");
    EXPECT_EQ(t.host, "127.0.0.1");
    EXPECT_EQ(t.path, "/");
    EXPECT_EQ(t.port, 80);
}

TEST(ConfigDefaults, DefaultProbeRunsEvery30sWithA30sTimeout) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "http-default", "10.0.0.4");
    EXPECT_EQ(t.interval_ms, 30000u);
    EXPECT_EQ(t.timeout_ms, 30000u);
}

TEST(ConfigDefaults, DefaultProbeFallsAfter3FailuresAndRisesAfter1Success) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "http-default", "10.0.0.4");
    EXPECT_EQ(t.unhealthy_threshold, 3);
    EXPECT_EQ(t.healthy_threshold, 1);
}

TEST(ConfigDefaults, DefaultMatchIs200To399) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "http-default", "10.0.0.4");
    ASSERT_EQ(t.match_status.size(), 1u);
    EXPECT_EQ(t.match_status[0].lo, 200);
    EXPECT_EQ(t.match_status[0].hi, 399);
    EXPECT_TRUE(t.match_body.empty());
}

TEST(ConfigDefaults, CustomProbeWithoutMatchAlsoExpects200To399) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "https-probe", "10.0.0.4");
    ASSERT_EQ(t.match_status.size(), 1u);
    EXPECT_EQ(t.match_status[0], (StatusRange{200, 399}));
}

TEST(ConfigDefaults, DefaultProbeNeverSends127001AsSni) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "https-fqdn", "10.0.0.4");
    EXPECT_EQ(t.host, "127.0.0.1");
    EXPECT_TRUE(t.sni.empty());
}

TEST(ConfigDefaults, TcpSettingProbesByConnectOnly) {
    Plan plan = load_ok("extensions.json");
    const Target& t = target(plan, "pool-a", "set-default-tuned", "10.1.0.1");
    EXPECT_EQ(t.protocol, Protocol::Tcp);
    EXPECT_TRUE(t.request.empty());
    EXPECT_TRUE(t.host.empty());
    EXPECT_TRUE(t.match_status.empty());
}

TEST(ConfigDefaults, TlsValidationIsOnAndSystemStoreWhenNoRootsAreGiven) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "https-fqdn", "web1.contoso.com");
    EXPECT_TRUE(t.validate_chain);
    EXPECT_TRUE(t.validate_sni);
    EXPECT_TRUE(t.trusted_roots.empty());
}

// ---- Precedence ------------------------------------------------------------------------------

TEST(ConfigPrecedence, ProbeHostIsTheHostHeader) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "http-custom", "10.0.0.4");
    EXPECT_EQ(t.host, "www.contoso.com");
    EXPECT_EQ(t.path, "/health");
}

TEST(ConfigPrecedence, PickHostFromSettingsTakesTheSettingHostName) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "http-pick-host", "10.0.0.4");
    EXPECT_EQ(t.host, "app.contoso.com");
}

TEST(ConfigPrecedence, PickHostFromSettingsWithPickFromAddressTakesTheServerAddress) {
    Plan plan = load_ok("gateway-rest.json");
    EXPECT_EQ(target(plan, "web", "http-pick-address", "10.0.0.5").host, "10.0.0.5");
    EXPECT_EQ(target(plan, "web", "http-pick-address", "web1.contoso.com").host,
              "web1.contoso.com");
}

TEST(ConfigPrecedence, PickHostFromSettingsWithNothingToPickIsAnError) {
    auto errors = load_bad("bad-pick-host-nothing.json");
    EXPECT_TRUE(has_error(errors, "properties.backendHttpSettingsCollection[0].properties.probe.id",
                          "neither hostName nor pickHostNameFromBackendAddress"))
        << dump(errors);
}

TEST(ConfigPrecedence, ProbePortOverridesTheSettingPort) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "https-probe", "10.0.0.4");
    EXPECT_EQ(t.port, 8443);
}

TEST(ConfigPrecedence, ProbeMatchCodesRangesAndBodyAreUsed) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "http-custom", "10.0.0.4");
    ASSERT_EQ(t.match_status.size(), 2u);
    EXPECT_EQ(t.match_status[0], (StatusRange{200, 200}));
    EXPECT_EQ(t.match_status[1], (StatusRange{301, 302}));
    EXPECT_EQ(t.match_body, "ok");
}

TEST(ConfigPrecedence, SniIsTheProbeHostBeforeTheSettingSniName) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "https-probe", "10.0.0.4");
    EXPECT_EQ(t.sni, "secure.contoso.com");
}

TEST(ConfigPrecedence, SniIsTheSettingHostNameWhenTheProbeHasNoHost) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "https-default", "10.0.0.4");
    EXPECT_EQ(t.sni, "api.contoso.com");
}

TEST(ConfigPrecedence, SniNameBeatsTheSettingHostName) {
    Plan plan = load_ok("sni-name.json");
    ASSERT_FALSE(plan.targets.empty());
    EXPECT_EQ(plan.targets[0].sni, "s.contoso.com");
    EXPECT_EQ(plan.targets[0].host, "127.0.0.1");
}

TEST(ConfigPrecedence, SniFallsBackToTheServerFqdnButNeverAnIpLiteral) {
    Plan plan = load_ok("gateway-rest.json");
    EXPECT_EQ(target(plan, "web", "https-fqdn", "web1.contoso.com").sni, "web1.contoso.com");
    EXPECT_EQ(target(plan, "web", "https-fqdn", "10.0.0.5").sni, "");
}

// A hostName may carry a port for the Host header; the SNI is the name alone (RFC 6066), and
// none at all when the name is an IP literal.
Plan plan_with_host_name(const std::string& host_name) {
    const std::string json = R"({"name": "gw", "properties": {
      "backendAddressPools": [{"name": "pool-a", "properties": {
        "backendAddresses": [{"ipAddress": "10.1.0.1"}]}}],
      "probes": [{"name": "probe-a", "properties": {"protocol": "Https", "path": "/",
        "interval": 30, "timeout": 30, "unhealthyThreshold": 3,
        "pickHostNameFromBackendHttpSettings": true}}],
      "backendHttpSettingsCollection": [{"name": "set-a", "properties": {"port": 443,
        "protocol": "Https", "hostName": ")" +
                             host_name + R"(",
        "probe": {"id": "/x/applicationGateways/gw/probes/probe-a"}}}],
      "requestRoutingRules": [{"name": "rule-a", "properties": {"ruleType": "Basic",
        "backendAddressPool": {"id": "/x/applicationGateways/gw/backendAddressPools/pool-a"},
        "backendHttpSettings":
          {"id": "/x/applicationGateways/gw/backendHttpSettingsCollection/set-a"}}}]}})";
    auto r = load_plan_json(json);
    if (!r) {
        ADD_FAILURE() << format_errors(r.error(), host_name);
        return Plan{};
    }
    return std::move(r).value();
}

TEST(ConfigPrecedence, SniIsTheHostNameWithoutItsPort) {
    Plan plan = plan_with_host_name("app.contoso.com:18443");
    ASSERT_EQ(plan.targets.size(), 1u);
    EXPECT_EQ(plan.targets[0].sni, "app.contoso.com");
    EXPECT_EQ(plan.targets[0].host, "app.contoso.com:18443");
    EXPECT_NE(plan.targets[0].request.find("Host: app.contoso.com:18443\r\n"), std::string::npos);
}

TEST(ConfigPrecedence, HostNameThatIsAnIpLiteralWithAPortSendsNoSni) {
    for (const char* host : {"10.1.0.9:8443", "[fd00::9]:8443", "[fd00::9]"}) {
        Plan plan = plan_with_host_name(host);
        ASSERT_EQ(plan.targets.size(), 1u) << host;
        EXPECT_EQ(plan.targets[0].sni, "") << host;
        EXPECT_EQ(plan.targets[0].host, host);
    }
}

TEST(ConfigPrecedence, Ipv6ServerAddressIsBracketedInTheHostHeader) {
    Plan plan = load_ok("ipv6-pick-address.json");
    const Target& t = target(plan, "pool-a", "set-a", "fd00::2");
    EXPECT_EQ(t.host, "[fd00::2]");
    EXPECT_NE(t.request.find("Host: [fd00::2]\r\n"), std::string::npos);
}

TEST(ConfigPrecedence, TrustedRootReferencesBecomeTargetRootIndices) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "https-default", "10.0.0.4");
    ASSERT_EQ(t.trusted_roots.size(), 1u);
    EXPECT_EQ(plan.trusted_roots[t.trusted_roots[0]].name, "root-ca");
    EXPECT_FALSE(plan.trusted_roots[0].data.empty());
}

// ---- References, rows and targets ------------------------------------------------------------

TEST(ConfigReferences, ReferencesResolveByTheirTrailingNameInAnyForm) {
    for (const char* name :
         {"gateway-rest.json", "gateway-arm-template.json", "gateway-az-show.json"}) {
        Plan plan = load_ok(name);
        EXPECT_EQ(plan.settings[1].probe_name, "probe-host") << name;
        EXPECT_FALSE(plan.settings[1].default_probe) << name;
        EXPECT_TRUE(plan.settings[0].default_probe) << name;
    }
}

TEST(ConfigReferences, ABareNameIsAcceptedAsAReference) {
    EXPECT_EQ(load_ok("bare-name-reference.json").settings[0].probe_name, "probe-a");
}

TEST(ConfigReferences, AnIdIntoTheWrongCollectionIsAnError) {
    auto errors = load_bad("bad-wrong-collection.json");
    EXPECT_TRUE(has_error(errors, "properties.backendHttpSettingsCollection[0].properties.probe.id",
                          "refers to backendAddressPools"))
        << dump(errors);
}

TEST(ConfigReferences, AnArmExpressionThatCannotBeEvaluatedIsReported) {
    auto errors = json_bad(R"({"resources": [{"type": "Microsoft.Network/applicationGateways",
        "name": "gw", "properties": {
        "backendHttpSettingsCollection": [{"name": "s", "properties": {"port": 80,
            "protocol": "Http", "probe": {"id": "[variables('probeId')]"}}}]}}]})");
    EXPECT_TRUE(has_error(
        errors, "resources[0].properties.backendHttpSettingsCollection[0].properties.probe.id",
        "cannot evaluate this ARM expression"))
        << dump(errors);
}

TEST(ConfigReferences, UrlPathMapDefaultAndPathRulesTieRows) {
    Plan plan = load_ok("gateway-rest.json");
    EXPECT_NE(find(plan, "api", "http-custom", "10.0.1.4"), nullptr);   // path rule
    EXPECT_NE(find(plan, "web", "http-default", "10.0.0.4"), nullptr);  // default
}

TEST(ConfigReferences, SettingsAndPoolsNoRuleReachesMakeNoRows) {
    Plan plan = load_ok("gateway-rest.json");
    for (const Row& r : plan.rows) {
        EXPECT_NE(plan.settings[r.setting_index].name, "unused");
        EXPECT_NE(plan.pools[r.pool_index].name, "spare");
    }
}

TEST(ConfigRows, APairTiedByTwoRulesGivesOneRowPerServer) {
    Plan plan = load_ok("gateway-rest.json");
    auto n = std::count_if(plan.rows.begin(), plan.rows.end(), [&](const Row& r) {
        return plan.settings[r.setting_index].name == "http-default";
    });
    EXPECT_EQ(n, 3);  // rule-default, rule-default-again and the path map's default: 3 servers once
}

TEST(ConfigRows, RowsFollowPoolThenSettingThenServerOrder) {
    Plan plan = load_ok("gateway-rest.json");
    for (std::size_t i = 1; i < plan.rows.size(); ++i) {
        const Row& a = plan.rows[i - 1];
        const Row& b = plan.rows[i];
        auto ka = std::tuple(a.pool_index, a.setting_index, a.server_index);
        auto kb = std::tuple(b.pool_index, b.setting_index, b.server_index);
        EXPECT_LT(ka, kb) << "row " << i;
    }
}

TEST(ConfigTargets, IdenticalProbesFromTwoSettingsShareOneTarget) {
    Plan plan = load_ok("gateway-rest.json");
    EXPECT_EQ(find(plan, "web", "http-default", "10.0.0.4"),
              find(plan, "web", "http-default-copy", "10.0.0.4"));
}

TEST(ConfigTargets, ProbesThatDifferOnlyInSniAreDistinctTargets) {
    Plan plan = load_ok("gateway-rest.json");
    EXPECT_NE(find(plan, "web", "https-default", "10.0.0.4"),
              find(plan, "web", "https-fqdn", "10.0.0.4"));
}

TEST(ConfigTargets, RequestBytesAreBuiltAtPlanTime) {
    Plan plan = load_ok("gateway-rest.json");
    const Target& t = target(plan, "web", "http-custom", "10.0.0.4");
    EXPECT_EQ(
        t.request,
        "GET /health HTTP/1.1\r\nHost: www.contoso.com\r\nUser-Agent: ringprobe/" RINGPROBE_VERSION
        "\r\nAccept: */*\r\nConnection: close\r\n\r\n");
}

TEST(ConfigTargets, IdentityHashIsStableAndIgnoresTiming) {
    Plan rest = load_ok("gateway-rest.json");
    Plan again = load_ok("gateway-rest.json");
    const Target& a = target(rest, "web", "http-custom", "10.0.0.4");
    EXPECT_EQ(a.identity_hash, target(again, "web", "http-custom", "10.0.0.4").identity_hash);
    EXPECT_NE(a.identity_hash, target(rest, "web", "http-custom", "10.0.0.5").identity_hash);
    Plan ext = load_ok("extensions.json");
    Plan small = load_ok("small-valid.json");
    // Same address, port, protocol, host and path; different timing: the identity is the same.
    EXPECT_EQ(target(ext, "pool-a", "set-a", "10.1.0.1").identity_hash,
              target(small, "pool-a", "set-a", "10.1.0.1").identity_hash);
}

TEST(ConfigTargets, DigestChangesWithTheBytes) {
    std::string json = read_text(fixture("small-valid.json"));
    auto a = load_plan_json(json);
    auto b = load_plan_json(json + "\n");
    ASSERT_TRUE(a);
    ASSERT_TRUE(b);
    EXPECT_NE(a->digest, b->digest);
    EXPECT_EQ(a->digest, load_ok("small-valid.json").digest);
}

// ---- ringprobe extensions --------------------------------------------------------------------

TEST(ConfigExtensions, TopLevelRingprobeObjectReplacesTheGatewayDefaults) {
    Plan plan = load_ok("extensions.json");
    const Target& t = target(plan, "pool-a", "set-default", "10.1.0.1");
    EXPECT_EQ(t.interval_ms, 2000u);
    EXPECT_EQ(t.timeout_ms, 1000u);
    EXPECT_EQ(t.healthy_threshold, 2);
    EXPECT_EQ(t.jitter_ms, 100u);
    EXPECT_EQ(t.close_policy, ClosePolicy::Reset);
    EXPECT_EQ(plan.start_spread_ms, 5000u);
}

TEST(ConfigExtensions, ProbeRingprobeObjectBeatsTheProbeGatewayFields) {
    Plan plan = load_ok("extensions.json");
    const Target& t = target(plan, "pool-a", "set-fast", "10.1.0.1");
    EXPECT_EQ(t.interval_ms, 250u);  // the probe also says interval 30
    EXPECT_EQ(t.timeout_ms, 200u);
    EXPECT_EQ(t.healthy_threshold, 3);
}

TEST(ConfigExtensions, ProbeGatewayFieldsBeatTheTopLevelDefaults) {
    Plan plan = load_ok("extensions.json");
    const Target& t = target(plan, "pool-a", "set-a", "10.1.0.1");
    EXPECT_EQ(t.interval_ms, 30000u);
    EXPECT_EQ(t.timeout_ms, 30000u);
}

TEST(ConfigExtensions, ProbeWithoutTimingFieldsTakesTheTopLevelDefaults) {
    Plan plan = load_ok("extensions.json");
    const Target& t = target(plan, "pool-a", "set-bare", "10.1.0.1");
    EXPECT_EQ(t.interval_ms, 2000u);
    EXPECT_EQ(t.timeout_ms, 1000u);
}

TEST(ConfigExtensions, SettingRingprobeObjectTunesItsDefaultProbe) {
    Plan plan = load_ok("extensions.json");
    const Target& t = target(plan, "pool-a", "set-default-tuned", "10.1.0.1");
    EXPECT_EQ(t.interval_ms, 500u);
    EXPECT_EQ(t.timeout_ms, 1000u);  // from the top level
    EXPECT_EQ(t.unhealthy_threshold, 5);
    EXPECT_EQ(t.close_policy, ClosePolicy::Graceful);
}

TEST(ConfigExtensions, UnknownOrOutOfRangeExtensionKeysAreErrors) {
    auto errors = load_bad("bad-extension.json");
    EXPECT_TRUE(
        has_error(errors, "properties.probes[0].properties.ringprobe.colsePolicy", "unknown"))
        << dump(errors);
    EXPECT_TRUE(has_error(errors, "properties.probes[0].properties.ringprobe.intervalMs",
                          "5 is outside 10..86400000"))
        << dump(errors);
}

// certExpiryWarningDays and dnsAggregation: top level, then a probe's own object.
std::string dns_tls_gateway(const std::string& top, const std::string& probe) {
    return R"({"name": "gw", "ringprobe": {)" + top + R"(}, "properties": {
      "backendAddressPools": [{"name": "pool", "properties": {"backendAddresses": [
        {"fqdn": "app.contoso.com"}]}}],
      "probes": [{"name": "p", "properties": {"protocol": "Https", "host": "app.contoso.com",
        "path": "/", "interval": 30, "timeout": 30, "unhealthyThreshold": 3,
        "ringprobe": {)" +
           probe + R"(}}}],
      "backendHttpSettingsCollection": [{"name": "s", "properties": {"port": 443,
        "protocol": "Https", "probe": {"id": "/x/probes/p"}}}],
      "requestRoutingRules": [{"name": "r", "properties": {"ruleType": "Basic",
        "backendAddressPool": {"id": "/x/backendAddressPools/pool"},
        "backendHttpSettings": {"id": "/x/backendHttpSettingsCollection/s"}}}]}})";
}

TEST(ConfigExtensions, CertExpiryWarningDaysAndDnsAggregationDefaultAndPrecedence) {
    auto dflt = load_plan_json(dns_tls_gateway("", ""));
    ASSERT_TRUE(dflt) << dump(dflt.error());
    ASSERT_EQ(dflt->targets.size(), 1u);
    EXPECT_TRUE(dflt->targets[0].is_fqdn);
    EXPECT_EQ(dflt->targets[0].cert_expiry_warning_days, 14);
    EXPECT_EQ(dflt->targets[0].dns_aggregation, DnsAggregation::All);

    auto top = load_plan_json(
        dns_tls_gateway(R"("certExpiryWarningDays": 30, "dnsAggregation": "any")", ""));
    ASSERT_TRUE(top) << dump(top.error());
    EXPECT_EQ(top->targets[0].cert_expiry_warning_days, 30);
    EXPECT_EQ(top->targets[0].dns_aggregation, DnsAggregation::Any);

    auto own =
        load_plan_json(dns_tls_gateway(R"("certExpiryWarningDays": 30, "dnsAggregation": "any")",
                                       R"("certExpiryWarningDays": 0, "dnsAggregation": "all")"));
    ASSERT_TRUE(own) << dump(own.error());
    EXPECT_EQ(own->targets[0].cert_expiry_warning_days, 0);  // 0: the warning is off
    EXPECT_EQ(own->targets[0].dns_aggregation, DnsAggregation::All);
}

TEST(ConfigExtensions, BadDnsAggregationAndWarningDaysAreNamedErrors) {
    const auto errors = json_bad(
        dns_tls_gateway(R"("dnsAggregation": "most")", R"("certExpiryWarningDays": 9999)"));
    EXPECT_TRUE(has_error(errors, "ringprobe.dnsAggregation", "is not one of \"all\""))
        << dump(errors);
    EXPECT_TRUE(has_error(errors, "properties.probes[0].properties.ringprobe.certExpiryWarningDays",
                          "outside 0..3650"))
        << dump(errors);
}

// quantumMs: top level only, 0..1000, default 1 (docs/configuration.md).
TEST(ConfigExtensions, QuantumMsIsTopLevelOnlyWithItsDefaultAndRange) {
    auto dflt = load_plan_json(dns_tls_gateway("", ""));
    ASSERT_TRUE(dflt) << dump(dflt.error());
    EXPECT_EQ(dflt->quantum_ms, 1u);

    auto set = load_plan_json(dns_tls_gateway(R"("quantumMs": 0)", ""));
    ASSERT_TRUE(set) << dump(set.error());
    EXPECT_EQ(set->quantum_ms, 0u);

    const auto big = json_bad(dns_tls_gateway(R"("quantumMs": 1001)", ""));
    EXPECT_TRUE(has_error(big, "ringprobe.quantumMs", "outside 0..1000")) << dump(big);

    const auto in_probe = json_bad(dns_tls_gateway("", R"("quantumMs": 5)"));
    EXPECT_TRUE(has_error(in_probe, "properties.probes[0].properties.ringprobe.quantumMs",
                          "unknown ringprobe setting"))
        << dump(in_probe);
}

// startBatch: top level only, 1..1024, default 64 (docs/configuration.md).
TEST(ConfigExtensions, StartBatchIsTopLevelOnlyWithItsDefaultAndRange) {
    auto dflt = load_plan_json(dns_tls_gateway("", ""));
    ASSERT_TRUE(dflt) << dump(dflt.error());
    EXPECT_EQ(dflt->start_batch, 64u);

    auto set = load_plan_json(dns_tls_gateway(R"("startBatch": 1)", ""));
    ASSERT_TRUE(set) << dump(set.error());
    EXPECT_EQ(set->start_batch, 1u);

    const auto zero = json_bad(dns_tls_gateway(R"("startBatch": 0)", ""));
    EXPECT_TRUE(has_error(zero, "ringprobe.startBatch", "outside 1..1024")) << dump(zero);
    const auto big = json_bad(dns_tls_gateway(R"("startBatch": 1025)", ""));
    EXPECT_TRUE(has_error(big, "ringprobe.startBatch", "outside 1..1024")) << dump(big);

    const auto in_probe = json_bad(dns_tls_gateway("", R"("startBatch": 8)"));
    EXPECT_TRUE(has_error(in_probe, "properties.probes[0].properties.ringprobe.startBatch",
                          "unknown ringprobe setting"))
        << dump(in_probe);
}

// ---- The layer-4 proxy (backendSettingsCollection, routingRules) ----------------------------

TEST(ConfigLayer4, TheThreeShapesGiveTheSamePlan) {
    Plan rest = load_ok("gateway-l4-rest.json");
    expect_same_plan(rest, load_ok("gateway-l4-az-show.json"));
    expect_same_plan(rest, load_ok("gateway-l4-arm-template.json"));
}

TEST(ConfigLayer4, RoutingRulesTieLayer4SettingsAfterTheHttpOnes) {
    Plan plan = load_ok("gateway-l4-rest.json");
    ASSERT_EQ(plan.settings.size(), 5u);
    EXPECT_FALSE(plan.settings[0].layer4);
    for (std::size_t i = 1; i < plan.settings.size(); ++i) {
        EXPECT_TRUE(plan.settings[i].layer4) << plan.settings[i].name;
    }
    EXPECT_EQ(plan.settings[1].name, "pg-settings");
    EXPECT_NE(plan.settings[1].id.find("/backendSettingsCollection/pg-settings"),
              std::string::npos);
    EXPECT_EQ(plan.rows.size(), 11u);
    EXPECT_EQ(plan.targets.size(), 11u);
}

TEST(ConfigLayer4, TcpSettingProbesByConnectWithItsProbesPortAndTiming) {
    Plan plan = load_ok("gateway-l4-rest.json");
    const Target& custom = target(plan, "pg-pool", "pg-settings", "10.2.0.4");
    EXPECT_EQ(custom.protocol, Protocol::Tcp);
    EXPECT_EQ(custom.port, 5433);  // the probe's port beats the setting's 5432
    EXPECT_TRUE(custom.request.empty());
    EXPECT_TRUE(custom.host.empty());
    EXPECT_EQ(custom.interval_ms, 5000u);
    EXPECT_EQ(custom.timeout_ms, 3000u);
    EXPECT_EQ(custom.unhealthy_threshold, 2);
    const Target& dflt = target(plan, "pg-pool", "redis-settings", "fd00:db8:2::4");
    EXPECT_EQ(dflt.protocol, Protocol::Tcp);
    EXPECT_EQ(dflt.port, 6379);
    EXPECT_EQ(dflt.interval_ms, 30000u);
    EXPECT_EQ(dflt.timeout_ms, 30000u);
}

TEST(ConfigLayer4, SettingTimeoutIsTheTrafficsAndDoesNotTimeTheProbe) {
    Plan plan = load_ok("gateway-l4-rest.json");
    EXPECT_EQ(plan.settings[1].request_timeout_s, 60u);
    EXPECT_EQ(target(plan, "pg-pool", "pg-settings", "10.2.0.5").timeout_ms, 3000u);
}

TEST(ConfigLayer4, TlsSettingHostNameIsTheSniAndItsRootsApply) {
    Plan plan = load_ok("gateway-l4-rest.json");
    const Target& t = target(plan, "tls-pool", "tls-settings", "10.3.0.4");
    EXPECT_EQ(t.protocol, Protocol::Tls);
    EXPECT_EQ(t.sni, "db.contoso.com");
    EXPECT_EQ(t.trusted_roots, std::vector<std::uint32_t>{0});
    EXPECT_EQ(target(plan, "tls-pool", "tls-settings", "db1.contoso.com").sni, "db.contoso.com");
}

TEST(ConfigLayer4, PickHostNameFromBackendAddressSendsTheServersFqdnAsSni) {
    Plan plan = load_ok("gateway-l4-rest.json");
    EXPECT_EQ(target(plan, "tls-pool", "tls-fqdn-settings", "db1.contoso.com").sni,
              "db1.contoso.com");
    EXPECT_EQ(target(plan, "tls-pool", "tls-fqdn-settings", "10.3.0.4").sni, "");
}

// A gateway of the layer-4 proxy only: `settings` and `rules` are its two collections.
std::string l4_gateway(const std::string& settings, const std::string& rules,
                       const std::string& more = "") {
    return R"({"name": "gw", "properties": {
      "backendAddressPools": [{"name": "pool", "properties": {
        "backendAddresses": [{"ipAddress": "10.0.0.1"}]}}],
      "backendSettingsCollection": [)" +
           settings + R"(], "routingRules": [)" + rules + "]" + more + "}}";
}

const char* const kL4Rule = R"({"name": "rule", "properties": {"ruleType": "Basic",
    "priority": 100, "backendAddressPool": {"id": "backendAddressPools/pool"},
    "backendSettings": {"id": "backendSettingsCollection/set"}}})";

TEST(ConfigLayer4, AGatewayWithOnlyRoutingRulesHasSomethingToProbe) {
    Plan plan = load_ok_json(
        l4_gateway(R"({"name": "set", "properties": {"port": 5432, "protocol": "Tcp"}})", kL4Rule));
    ASSERT_EQ(plan.rows.size(), 1u);
    EXPECT_EQ(plan.targets[0].protocol, Protocol::Tcp);
    EXPECT_EQ(plan.targets[0].port, 5432);
}

TEST(ConfigLayer4, ANameMayBeUsedInBothSettingCollections) {
    Plan plan = load_ok_json(
        l4_gateway(R"({"name": "set", "properties": {"port": 5432, "protocol": "Tcp"}})", kL4Rule,
                   R"(, "backendHttpSettingsCollection": [{"name": "set", "properties": {"port": 80,
             "protocol": "Http"}}],
           "requestRoutingRules": [{"name": "rule", "properties": {
             "backendAddressPool": {"id": "backendAddressPools/pool"},
             "backendHttpSettings": {"id": "backendHttpSettingsCollection/set"}}}])"));
    ASSERT_EQ(plan.rows.size(), 2u);
    EXPECT_EQ(plan.targets[plan.rows[0].target_index].protocol, Protocol::Http);
    EXPECT_EQ(plan.targets[plan.rows[1].target_index].protocol, Protocol::Tcp);
}

TEST(ConfigLayer4, AnHttpProtocolInTheLayer4CollectionIsRefused) {
    auto errors = json_bad(
        l4_gateway(R"({"name": "set", "properties": {"port": 80, "protocol": "Https"}})", kL4Rule));
    EXPECT_TRUE(has_error(errors, "properties.backendSettingsCollection[0].properties.protocol",
                          "put an Http or Https setting in backendHttpSettingsCollection"))
        << dump(errors);
}

TEST(ConfigLayer4, ALayer4RuleReferencesOnlyTheLayer4Collection) {
    auto errors = json_bad(l4_gateway(
        R"({"name": "set", "properties": {"port": 5432, "protocol": "Tcp"}})",
        R"({"name": "rule", "properties": {"backendAddressPool": {"id": "backendAddressPools/pool"},
            "backendSettings": {"id": "/x/backendHttpSettingsCollection/set"}}})"));
    EXPECT_TRUE(has_error(errors, "properties.routingRules[0].properties.backendSettings.id",
                          "expected an id ending in /backendSettingsCollection/NAME"))
        << dump(errors);
}

TEST(ConfigLayer4, ARequestRoutingRuleCannotReachALayer4Setting) {
    auto errors = json_bad(
        l4_gateway(R"({"name": "set", "properties": {"port": 5432, "protocol": "Tcp"}})", "",
                   R"(, "requestRoutingRules": [{"name": "rule", "properties": {
             "backendAddressPool": {"id": "backendAddressPools/pool"},
             "backendHttpSettings": {"id": "/x/backendSettingsCollection/set"}}}])"));
    EXPECT_TRUE(has_error(errors,
                          "properties.requestRoutingRules[0].properties.backendHttpSettings.id",
                          "expected an id ending in /backendHttpSettingsCollection/NAME"))
        << dump(errors);
}

TEST(ConfigLayer4, TlsProbeTakingItsSniFromASettingWithoutOneIsAnError) {
    const std::string probe = R"(, "probes": [{"name": "p", "properties": {"protocol": "Tls",
        "pickHostNameFromBackendSettings": true}}])";
    auto errors = json_bad(l4_gateway(R"({"name": "set", "properties": {"port": 8443,
        "protocol": "Tls", "probe": {"id": "probes/p"}}})",
                                      kL4Rule, probe));
    EXPECT_TRUE(has_error(errors, "properties.backendSettingsCollection[0].properties.probe.id",
                          "neither hostName nor pickHostNameFromBackendAddress"))
        << dump(errors);
    Plan plan = load_ok_json(l4_gateway(R"({"name": "set", "properties": {"port": 8443,
        "protocol": "Tls", "hostName": "db.contoso.com", "probe": {"id": "probes/p"}}})",
                                        kL4Rule, probe));
    ASSERT_EQ(plan.targets.size(), 1u);
    EXPECT_EQ(plan.targets[0].sni, "db.contoso.com");
}

TEST(ConfigProxyProtocol, ProbeFlagSendsAV2HeaderUnlessTheExtensionAsksForV1) {
    Plan plan = load_ok("gateway-l4-rest.json");
    EXPECT_EQ(target(plan, "pg-pool", "pg-settings", "10.2.0.4").proxy_protocol, ProxyProtocol::V1);
    EXPECT_EQ(target(plan, "tls-pool", "tls-settings", "10.3.0.4").proxy_protocol,
              ProxyProtocol::V2);
    EXPECT_EQ(target(plan, "pg-pool", "redis-settings", "10.2.0.4").proxy_protocol,
              ProxyProtocol::None);  // a default probe sends none
    EXPECT_EQ(target(plan, "web-pool", "web-settings", "10.1.0.4").proxy_protocol,
              ProxyProtocol::None);
}

// A Tcp probe on one setting, its fields `probe_fields`, its ringprobe object `ext`.
std::string proxy_probe_gateway(const std::string& probe_fields, const std::string& ext = "") {
    return l4_gateway(R"({"name": "set", "properties": {"port": 5432, "protocol": "Tcp",
        "probe": {"id": "probes/p"}}})",
                      kL4Rule,
                      R"(, "probes": [{"name": "p", "properties": {"protocol": "Tcp")" +
                          probe_fields + (ext.empty() ? "" : R"(, "ringprobe": )" + ext) + "}}]");
}

TEST(ConfigProxyProtocol, TheHeaderIsPartOfTheTargetsIdentity) {
    Plan with = load_ok_json(proxy_probe_gateway(R"(, "enableProbeProxyProtocolHeader": true)"));
    Plan without =
        load_ok_json(proxy_probe_gateway(R"(, "enableProbeProxyProtocolHeader": false)"));
    ASSERT_EQ(with.targets.size(), 1u);
    ASSERT_EQ(without.targets.size(), 1u);
    EXPECT_EQ(with.targets[0].proxy_protocol, ProxyProtocol::V2);
    EXPECT_EQ(without.targets[0].proxy_protocol, ProxyProtocol::None);
    EXPECT_EQ(with.probes[0].proxy_protocol, ProxyProtocol::V2);
}

TEST(ConfigProxyProtocol, AnHttpProbeAskingForTheHeaderIsAnError) {
    auto errors = json_bad(R"({"properties": {
      "backendAddressPools": [{"name": "pool", "properties": {
        "backendAddresses": [{"ipAddress": "10.0.0.1"}]}}],
      "probes": [{"name": "p", "properties": {"protocol": "Http", "host": "a", "path": "/",
        "enableProbeProxyProtocolHeader": true}}],
      "backendHttpSettingsCollection": [{"name": "s", "properties": {"port": 80,
        "protocol": "Http", "probe": {"id": "probes/p"}}}],
      "requestRoutingRules": [{"name": "r", "properties": {
        "backendAddressPool": {"id": "backendAddressPools/pool"},
        "backendHttpSettings": {"id": "backendHttpSettingsCollection/s"}}}]}})");
    EXPECT_TRUE(has_error(errors, "properties.probes[0].properties.enableProbeProxyProtocolHeader",
                          "sent by Tcp and Tls probes only"))
        << dump(errors);
}

TEST(ConfigProxyProtocol, AVersionWithoutTheFlagOrOutOfPlaceIsAnError) {
    auto errors = json_bad(proxy_probe_gateway("", R"({"proxyProtocol": "v1"})"));
    EXPECT_TRUE(has_error(errors, "properties.probes[0].properties.ringprobe.proxyProtocol",
                          "set enableProbeProxyProtocolHeader to true"))
        << dump(errors);
    errors = json_bad(proxy_probe_gateway(R"(, "enableProbeProxyProtocolHeader": true)",
                                          R"({"proxyProtocol": "2"})"));
    EXPECT_TRUE(has_error(errors, "properties.probes[0].properties.ringprobe.proxyProtocol",
                          R"("2" is not one of "v1")"))
        << dump(errors);
    errors = json_bad(l4_gateway(R"({"name": "set", "properties": {"port": 5432,
        "protocol": "Tcp", "ringprobe": {"proxyProtocol": "v2"}}})",
                                 kL4Rule));
    EXPECT_TRUE(has_error(errors,
                          "properties.backendSettingsCollection[0].properties.ringprobe."
                          "proxyProtocol",
                          "belongs in a probe's ringprobe object"))
        << dump(errors);
}

// ---- Fields read but not applied: warned about, naming the field ---------------------------

bool has_warning(const Plan& plan, const std::string& path, const std::string& fragment) {
    return std::any_of(plan.warnings.begin(), plan.warnings.end(), [&](const PlanWarning& w) {
        return w.path == path && w.message.find(fragment) != std::string::npos;
    });
}

std::string warnings_of(const Plan& plan) {
    return format_warnings(plan, "f");
}

TEST(ConfigUnapplied, ATcpProbesHttpFieldsAreEachWarnedAbout) {
    Plan plan = load_ok_json(proxy_probe_gateway(
        R"(, "path": "/x", "host": "h.example", "match": {"body": "ok", "statusCodes": ["200"]},
        "pickHostNameFromBackendHttpSettings": true, "pickHostNameFromBackendSettings": true)"));
    const std::string p = "properties.probes[0].properties.";
    EXPECT_TRUE(has_warning(plan, p + "path", "a Tcp probe sends no HTTP request"))
        << warnings_of(plan);
    EXPECT_TRUE(has_warning(plan, p + "host", "neither a Host nor an SNI")) << warnings_of(plan);
    EXPECT_TRUE(has_warning(plan, p + "match.body", "match.body is not used")) << warnings_of(plan);
    EXPECT_TRUE(has_warning(plan, p + "match.statusCodes", "its verdict is the connect"))
        << warnings_of(plan);
    EXPECT_TRUE(has_warning(plan, p + "pickHostNameFromBackendHttpSettings", "sends no Host"))
        << warnings_of(plan);
    EXPECT_TRUE(has_warning(plan, p + "pickHostNameFromBackendSettings", "takes a Tls probe's SNI"))
        << warnings_of(plan);
    EXPECT_EQ(plan.warnings.size(), 6u) << warnings_of(plan);
}

TEST(ConfigUnapplied, FieldsAtTheirDefaultsAsAnExportCarriesThemAreNotWarnedAbout) {
    Plan plan = load_ok_json(proxy_probe_gateway(
        R"(, "match": {"statusCodes": []}, "pickHostNameFromBackendHttpSettings": false,
        "pickHostNameFromBackendSettings": false, "minServers": 0)"));
    EXPECT_TRUE(plan.warnings.empty()) << warnings_of(plan);
}

TEST(ConfigUnapplied, TlsFieldsOnAnHttpSettingAreWarnedAbout) {
    Plan plan = load_ok_json(R"({"properties": {
      "backendAddressPools": [{"name": "pool", "properties": {
        "backendAddresses": [{"ipAddress": "10.0.0.1"}]}}],
      "backendHttpSettingsCollection": [{"name": "s", "properties": {"port": 80,
        "protocol": "Http", "sniName": "app.example", "validateSNI": false,
        "validateCertChainAndExpiry": true}}],
      "requestRoutingRules": [{"name": "r", "properties": {
        "backendAddressPool": {"id": "backendAddressPools/pool"},
        "backendHttpSettings": {"id": "backendHttpSettingsCollection/s"}}}]}})");
    const std::string p = "properties.backendHttpSettingsCollection[0].properties.";
    EXPECT_TRUE(has_warning(plan, p + "sniName", "an Http setting makes no TLS connection"))
        << warnings_of(plan);
    EXPECT_TRUE(has_warning(plan, p + "validateSNI", "validateSNI: false is not used"))
        << warnings_of(plan);
    EXPECT_EQ(plan.warnings.size(), 2u) << warnings_of(plan);  // validateCertChain... is true
}

TEST(ConfigUnapplied, ClientIpPreservationWithoutAProbeHeaderIsWarnedAbout) {
    const std::string set = R"({"name": "set", "properties": {"port": 5432, "protocol": "Tcp",
        "enableL4ClientIpPreservation": true, "hostName": "db.example",
        "probe": {"id": "probes/p"}}})";
    Plan plain = load_ok_json(l4_gateway(
        set, kL4Rule, R"(, "probes": [{"name": "p", "properties": {"protocol": "Tcp"}}])"));
    const std::string p = "properties.backendSettingsCollection[0].properties.";
    EXPECT_TRUE(has_warning(plain, p + "enableL4ClientIpPreservation",
                            "set enableProbeProxyProtocolHeader"))
        << warnings_of(plain);
    EXPECT_TRUE(has_warning(plain, p + "hostName", "a Tcp setting's probe sends neither"))
        << warnings_of(plain);
    Plan with_header =
        load_ok_json(l4_gateway(set, kL4Rule,
                                R"(, "probes": [{"name": "p", "properties": {"protocol": "Tcp",
                       "enableProbeProxyProtocolHeader": true}}])"));
    EXPECT_FALSE(has_warning(with_header, p + "enableL4ClientIpPreservation", ""))
        << warnings_of(with_header);
}

// eventLogEntries: top level only, 16..4194304, default 65536 (docs/configuration.md).
TEST(ConfigExtensions, EventLogEntriesIsTopLevelOnlyWithItsDefaultAndRange) {
    auto dflt = load_plan_json(dns_tls_gateway("", ""));
    ASSERT_TRUE(dflt) << dump(dflt.error());
    EXPECT_EQ(dflt->event_log_entries, 65536u);

    auto set = load_plan_json(dns_tls_gateway(R"("eventLogEntries": 1024)", ""));
    ASSERT_TRUE(set) << dump(set.error());
    EXPECT_EQ(set->event_log_entries, 1024u);

    const auto small = json_bad(dns_tls_gateway(R"("eventLogEntries": 15)", ""));
    EXPECT_TRUE(has_error(small, "ringprobe.eventLogEntries", "outside 16..4194304"))
        << dump(small);
    const auto in_probe = json_bad(dns_tls_gateway("", R"("eventLogEntries": 64)"));
    EXPECT_TRUE(has_error(in_probe, "properties.probes[0].properties.ringprobe.eventLogEntries",
                          "unknown ringprobe setting"))
        << dump(in_probe);
}

// flappingChanges: top level only, 2..32, default 4 (docs/configuration.md).
TEST(ConfigExtensions, FlappingChangesIsTopLevelOnlyWithItsDefaultAndRange) {
    auto dflt = load_plan_json(dns_tls_gateway("", ""));
    ASSERT_TRUE(dflt) << dump(dflt.error());
    EXPECT_EQ(dflt->flapping_changes, 4u);

    auto set = load_plan_json(dns_tls_gateway(R"("flappingChanges": 8)", ""));
    ASSERT_TRUE(set) << dump(set.error());
    EXPECT_EQ(set->flapping_changes, 8u);

    const auto big = json_bad(dns_tls_gateway(R"("flappingChanges": 33)", ""));
    EXPECT_TRUE(has_error(big, "ringprobe.flappingChanges", "outside 2..32")) << dump(big);
    const auto in_probe = json_bad(dns_tls_gateway("", R"("flappingChanges": 4)"));
    EXPECT_TRUE(has_error(in_probe, "properties.probes[0].properties.ringprobe.flappingChanges",
                          "unknown ringprobe setting"))
        << dump(in_probe);
}

// fastIntervalMs and unhealthyIntervalMs: any ringprobe object, the precedence of intervalMs,
// 0 in the target when not given (the interval), and a fast cadence never longer than the
// interval it shortens (docs/configuration.md, "State-dependent intervals").
TEST(ConfigExtensions, FastAndUnhealthyIntervalsFollowThePrecedenceOfTheInterval) {
    auto dflt = load_plan_json(dns_tls_gateway("", ""));
    ASSERT_TRUE(dflt) << dump(dflt.error());
    EXPECT_EQ(dflt->targets[0].fast_interval_ms, 0u);
    EXPECT_EQ(dflt->targets[0].unhealthy_interval_ms, 0u);

    auto top = load_plan_json(
        dns_tls_gateway(R"("fastIntervalMs": 5000, "unhealthyIntervalMs": 60000)", ""));
    ASSERT_TRUE(top) << dump(top.error());
    EXPECT_EQ(top->targets[0].fast_interval_ms, 5000u);
    EXPECT_EQ(top->targets[0].unhealthy_interval_ms, 60000u);

    auto own = load_plan_json(dns_tls_gateway(
        R"("fastIntervalMs": 5000)", R"("fastIntervalMs": 2000, "unhealthyIntervalMs": 10)"));
    ASSERT_TRUE(own) << dump(own.error());
    EXPECT_EQ(own->targets[0].fast_interval_ms, 2000u);
    EXPECT_EQ(own->targets[0].unhealthy_interval_ms, 10u);

    EXPECT_NE(top->targets[0].fast_interval_ms, own->targets[0].fast_interval_ms);
}

// minServers is the probe's; each setting takes its probe's (the default probe has none).
TEST(ConfigMinServers, ASettingTakesItsProbesMinServers) {
    auto plan = load_plan_json(R"({"properties": {
      "backendAddressPools": [{"name": "pool", "properties": {
        "backendAddresses": [{"ipAddress": "10.0.0.1"}, {"ipAddress": "10.0.0.2"}]}}],
      "probes": [{"name": "p", "properties": {"protocol": "Http", "host": "a", "path": "/",
        "minServers": 2}}],
      "backendHttpSettingsCollection": [
        {"name": "s", "properties": {"port": 80, "protocol": "Http", "probe": {"id": "probes/p"}}},
        {"name": "d", "properties": {"port": 81, "protocol": "Http"}}],
      "requestRoutingRules": [
        {"name": "r", "properties": {"backendAddressPool": {"id": "backendAddressPools/pool"},
          "backendHttpSettings": {"id": "backendHttpSettingsCollection/s"}}},
        {"name": "r2", "properties": {"backendAddressPool": {"id": "backendAddressPools/pool"},
          "backendHttpSettings": {"id": "backendHttpSettingsCollection/d"}}}]}})");
    ASSERT_TRUE(plan) << dump(plan.error());
    ASSERT_EQ(plan->settings.size(), 2u);
    EXPECT_EQ(plan->settings[0].min_servers, 2u);
    EXPECT_EQ(plan->settings[1].min_servers, 0u);
}

TEST(ConfigExtensions, FastIntervalLongerThanTheIntervalOrOutOfRangeIsRefusedWithItsPath) {
    const auto longer = json_bad(dns_tls_gateway("", R"("fastIntervalMs": 31000)"));
    EXPECT_TRUE(has_error(longer, "properties.probes[0].properties.ringprobe.fastIntervalMs",
                          "31000 ms is longer than the interval (30000 ms) of the probe of "
                          "setting \"s\""))
        << dump(longer);
    const auto at_top = json_bad(dns_tls_gateway(R"("fastIntervalMs": 40000)", ""));
    EXPECT_TRUE(has_error(at_top, "ringprobe.fastIntervalMs", "make it at most 30000"))
        << dump(at_top);
    const auto small = json_bad(dns_tls_gateway("", R"("fastIntervalMs": 9)"));
    EXPECT_TRUE(has_error(small, "properties.probes[0].properties.ringprobe.fastIntervalMs",
                          "outside 10..86400000"))
        << dump(small);
    const auto big = json_bad(dns_tls_gateway("", R"("unhealthyIntervalMs": 86400001)"));
    EXPECT_TRUE(has_error(big, "properties.probes[0].properties.ringprobe.unhealthyIntervalMs",
                          "outside 10..86400000"))
        << dump(big);
    // Longer than the interval is what an unhealthy cadence is often for: accepted.
    auto slow = load_plan_json(dns_tls_gateway("", R"("unhealthyIntervalMs": 300000)"));
    ASSERT_TRUE(slow) << dump(slow.error());
    EXPECT_EQ(slow->targets[0].unhealthy_interval_ms, 300000u);
}

// ---- Bad input
// -------------------------------------------------------------------------------

TEST(ConfigErrors, MalformedJsonNamesLineAndColumn) {
    auto errors = load_bad("bad-malformed.json");
    ASSERT_EQ(errors.size(), 1u) << dump(errors);
    EXPECT_EQ(errors[0].line, 5u);
    EXPECT_EQ(errors[0].column, 21u);
    EXPECT_EQ(format_errors(errors, "x.json"),
              "x.json:5:21: malformed JSON: expected ',' or '}' after an object member\n");
}

TEST(ConfigErrors, WrongTypesNameTheExpectedType) {
    auto errors = load_bad("bad-types.json");
    EXPECT_TRUE(has_error(errors, "properties.probes[0].properties.interval",
                          "expected an integer in 1..86400, got a string \"30\""))
        << dump(errors);
    EXPECT_TRUE(has_error(errors, "properties.backendHttpSettingsCollection[0].properties.port",
                          "got true"));
    EXPECT_TRUE(has_error(errors, "properties.backendAddressPools[0].properties.backendAddresses",
                          "expected an array"));
}

TEST(ConfigErrors, OutOfRangeNumbersNameTheValidRange) {
    auto errors = load_bad("bad-ranges.json");
    EXPECT_TRUE(
        has_error(errors, "properties.probes[0].properties.interval", "0 is outside 1..86400"))
        << dump(errors);
    EXPECT_TRUE(
        has_error(errors, "properties.probes[0].properties.timeout", "86401 is outside 1..86400"));
    EXPECT_TRUE(has_error(errors, "properties.probes[0].properties.unhealthyThreshold",
                          "21 is outside 1..20"));
    EXPECT_TRUE(has_error(errors, "properties.backendHttpSettingsCollection[0].properties.port",
                          "70000 is outside 1..65535"));
    EXPECT_TRUE(
        has_error(errors, "properties.probes[0].properties.match.statusCodes[0]", "100..599"));
    EXPECT_TRUE(has_error(errors, "properties.probes[0].properties.match.body", "at most 4090"));
}

// simdjson refuses the whole document over one number it cannot hold; the error still names
// the field and its range, and a number where no number is read is refused with its path.
TEST(ConfigErrors, NumbersTooLargeToHoldNameTheirPathAndRange) {
    auto errors = load_bad("bad-number-too-large.json");
    EXPECT_EQ(format_errors(errors, "f.json"),
              "f.json: ringprobe.intervalMs: 18446744073709551616 is outside 10..86400000\n"
              "f.json: ringprobe.timeoutMs: -9223372036854775809 is outside 10..86400000\n"
              "f.json: properties.probes[0].properties.interval: 1e+30 is outside 1..86400\n"
              "f.json: tags.cost: 1e999999 does not fit in a JSON number ringprobe can read "
              "(integers -9223372036854775808..18446744073709551615, decimals up to 1.7e308)\n");
}

TEST(ConfigErrors, BigNumberWhereAStringIsExpectedIsDescribedAsTheNumber) {
    auto errors = json_bad(R"({"name": 1e400, "properties": {}})");
    EXPECT_TRUE(has_error(errors, "name", "expected a string, got the number 1e400"))
        << dump(errors);
}

// Which of two equal keys counts differs between JSON readers (simdjson's DOM finds the first,
// the gateway's own reader the last): refused, in every object, read or not.
TEST(ConfigErrors, DuplicateKeysAreRefusedWithBothPlaces) {
    auto errors = load_bad("bad-duplicate-keys.json");
    EXPECT_EQ(format_errors(errors, "f.json"),
              "f.json: properties.backendAddressPools[0].properties.backendAddresses[1].ipAddress: "
              "given twice in one object, at line 13 column 15 and at line 14 column 15; JSON "
              "readers disagree on which one counts: keep one\n"
              "f.json: properties.probes[0].properties.interval: given twice in one object, at "
              "line 27 column 11 and at line 28 column 11; JSON readers disagree on which one "
              "counts: keep one\n");
    auto unread = json_bad(R"({"tags": {"a": 1, "b": 2, "a": 3}, "properties": {}})");
    EXPECT_TRUE(has_error(unread, "tags.a", "at line 1 column 11 and at line 1 column 27"))
        << dump(unread);
}

TEST(ConfigErrors, PropertiesThatIsNotAnObjectSaysSo) {
    auto errors = load_bad("bad-properties-array.json");
    EXPECT_EQ(format_errors(errors, "f.json"),
              "f.json: properties: properties must be an object, got an array\n");
    auto item = json_bad(R"({"properties": {"probes": [{"name": "p", "properties": "x"}]}})");
    EXPECT_TRUE(has_error(item, "properties.probes[0].properties",
                          "properties must be an object, got a string \"x\""))
        << dump(item);
}

// What Windows writes: a UTF-8 byte-order mark (Notepad, Out-File -Encoding utf8) and UTF-16 LE
// with its mark (Windows PowerShell 5.1's `>`). Each gives the plan of the same text in UTF-8.
TEST(ConfigEncodings, ByteOrderMarksAndUtf16GiveTheSamePlan) {
    const Plan base = load_ok("small-valid.json");
    for (const char* name : {"utf8-bom.json", "utf16le-bom.json", "utf16be-bom.json"}) {
        SCOPED_TRACE(name);
        const Plan p = load_ok(name);
        EXPECT_EQ(p.rows.size(), base.rows.size());
        EXPECT_EQ(p.gateway_name, base.gateway_name);
        EXPECT_EQ(p.digest, base.digest);
    }
    std::string utf8 = read_text(fixture("small-valid.json"));
    std::string no_mark;
    for (char c : utf8) {
        no_mark.push_back(c);
        no_mark.push_back('\0');
    }
    auto r = load_plan_json(no_mark);
    ASSERT_TRUE(r) << dump(r.error());
    EXPECT_EQ(r->digest, base.digest);
}

TEST(ConfigEncodings, SyntaxErrorAfterAByteOrderMarkCountsColumnsFromTheText) {
    auto errors = json_bad("\xEF\xBB\xBF{\"name\" \"x\"}");
    EXPECT_EQ(format_errors(errors, "f.json"),
              "f.json:1:9: malformed JSON: expected ':' after a member name\n");
}

TEST(ConfigEncodings, BrokenUtf16SaysWhatTheFileIsAndHowToSaveIt) {
    auto odd = json_bad(std::string("\xFF\xFE{\0}", 5));
    EXPECT_EQ(format_errors(odd, "f.json"),
              "f.json: the file is UTF-16 LE but has an odd number of bytes (5); save it as UTF-8 "
              "(PowerShell: Out-File -Encoding utf8 FILE, or Set-Content -Encoding utf8 FILE; "
              "Notepad: Save As, Encoding UTF-8)\n");
    auto lone = json_bad(std::string("\xFE\xFF\xD8\x00\x00{", 6));
    EXPECT_NE(format_errors(lone, "f.json")
                  .find("the file is UTF-16 BE but has an unpaired surrogate at byte 2"),
              std::string::npos)
        << dump(lone);
}

TEST(ConfigErrors, DanglingReferencesListTheKnownNames) {
    auto errors = load_bad("bad-dangling.json");
    EXPECT_TRUE(has_error(errors, "properties.backendHttpSettingsCollection[0].properties.probe.id",
                          "no entry named \"probe-missing\" in probes (known: probe-a)"))
        << dump(errors);
    EXPECT_TRUE(has_error(errors,
                          "properties.requestRoutingRules[0].properties.backendAddressPool.id",
                          "\"pool-missing\""));
}

TEST(ConfigErrors, DuplicateNamesAreCaseInsensitive) {
    auto errors = load_bad("bad-duplicate-names.json");
    EXPECT_TRUE(has_error(errors, "properties.backendAddressPools[1].name",
                          "first used at properties.backendAddressPools[0].name"))
        << dump(errors);
}

TEST(ConfigErrors, HostOrPathThatCouldInjectAHeaderIsRejected) {
    auto errors = load_bad("bad-header-injection.json");
    EXPECT_TRUE(has_error(errors, "properties.probes[0].properties.host", "CR, LF"))
        << dump(errors);
    EXPECT_TRUE(has_error(errors, "properties.probes[0].properties.path", "no spaces"));
}

TEST(ConfigErrors, AnEmptyPoolThatARuleUsesIsAWarningNotAnError) {
    Plan plan = load_ok("empty-pool.json");
    EXPECT_TRUE(plan.rows.empty());
    ASSERT_EQ(plan.pools.size(), 1u);
    EXPECT_TRUE(plan.pools[0].servers.empty());
    ASSERT_EQ(plan.warnings.size(), 1u);
    EXPECT_EQ(plan.warnings[0].path,
              "properties.backendAddressPools[0].properties.backendAddresses");
    EXPECT_NE(plan.warnings[0].message.find("pool \"pool-a\" has no members"), std::string::npos);
    EXPECT_EQ(format_warnings(plan, "f"),
              "f: properties.backendAddressPools[0].properties.backendAddresses: warning: " +
                  plan.warnings[0].message + "\n");
}

TEST(ConfigErrors, AnItemWithoutANameDoesNotShiftLaterReferences) {
    auto errors = load_bad("bad-missing-name.json");
    EXPECT_TRUE(has_error(errors, "properties.backendAddressPools[0].name", "missing"))
        << dump(errors);
    // The rule's reference to "pool-a" still finds the second pool: no dangling reference.
    EXPECT_EQ(errors.size(), 1u) << dump(errors);
}

TEST(ConfigErrors, AnEmptyPoolNoRuleUsesIsAccepted) {
    Plan plan = load_ok("gateway-rest.json");
    EXPECT_EQ(plan.pools[2].name, "spare");
    EXPECT_TRUE(plan.pools[2].servers.empty());
}

TEST(ConfigErrors, ProbeProtocolThatDoesNotFitTheSettingIsRejected) {
    auto errors = load_bad("bad-protocol-mismatch.json");
    EXPECT_TRUE(has_error(errors, "properties.backendHttpSettingsCollection[0].properties.probe.id",
                          "uses Https but this setting uses Http"))
        << dump(errors);
}

TEST(ConfigErrors, AnUnreadableFileIsReported) {
    auto errors = load_bad("does-not-exist.json");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].message.find("cannot open"), std::string::npos);
}

TEST(ConfigErrors, AFileOverTheSizeLimitIsRefusedBeforeParsing) {
    LoadOptions small;
    small.max_bytes = 100;
    auto errors = load_bad("gateway-rest.json", small);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].message.find("over the limit of 100 bytes"), std::string::npos);
}

TEST(ConfigErrors, AllErrorsAreReportedInOneRun) {
    auto errors = load_bad("bad-several.json");
    EXPECT_EQ(errors.size(), 3u) << dump(errors);
    EXPECT_TRUE(has_error(
        errors, "properties.backendAddressPools[0].properties.backendAddresses[2].ipAddress",
        "not an IPv4 or IPv6 address"));
    EXPECT_TRUE(has_error(errors, "properties.backendHttpSettingsCollection[0].properties.protocol",
                          "not one of Http, Https, Tcp, Tls"));
}

TEST(ConfigErrors, ErrorsPastTheCapAreSummarisedInOneLine) {
    LoadOptions options;
    options.max_errors = 1;
    auto errors = load_bad("bad-several.json", options);
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_EQ(errors[1].message, "... and 2 more errors not shown");
}

TEST(ConfigErrors, FormatErrorsWritesFilePathAndMessagePerLine) {
    ConfigErrors errors{{"properties.probes[2].properties.interval", "0 is outside 1..86400", 0, 0},
                        {"", "cannot open: No such file or directory", 0, 0}};
    EXPECT_EQ(format_errors(errors, "gw.json"),
              "gw.json: properties.probes[2].properties.interval: 0 is outside 1..86400\n"
              "gw.json: cannot open: No such file or directory\n");
}

TEST(ConfigErrors, NoRuleMeansNothingToProbe) {
    auto errors = json_bad(R"({"properties": {"backendAddressPools": []}})");
    EXPECT_TRUE(has_error(errors, "properties.requestRoutingRules", "nothing to probe"))
        << dump(errors);
}

TEST(ConfigErrors, FlattenedFormErrorsUseFlattenedPaths) {
    std::string json = read_text(fixture("gateway-az-show.json"));
    std::size_t at = json.find("\"interval\": 15");
    ASSERT_NE(at, std::string::npos);
    json.replace(at, 14, "\"interval\": 0");
    auto errors = json_bad(json);
    EXPECT_TRUE(has_error(errors, "probes[0].interval", "0 is outside 1..86400")) << dump(errors);
}

// ---- Pool members from network interfaces, scale sets and parameters files ------------------

LoadOptions with_nics(std::initializer_list<const char*> nics) {
    LoadOptions options;
    for (const char* n : nics) {
        options.nics_files.push_back(fixture(n));
    }
    return options;
}

Plan load_ok_with(const std::string& name, const LoadOptions& options) {
    auto r = load_plan_file(fixture(name), options);
    if (!r) {
        ADD_FAILURE() << format_errors(r.error(), name);
        return Plan{};
    }
    return std::move(r).value();
}

const Server* server_of(const Plan& plan, const std::string& pool, const std::string& address) {
    for (const Pool& p : plan.pools) {
        for (const Server& s : p.servers) {
            if (p.name == pool && s.address == address) {
                return &s;
            }
        }
    }
    return nullptr;
}

bool has_error_in(const ConfigErrors& errors, const std::string& file, const std::string& path,
                  const std::string& fragment) {
    return std::any_of(errors.begin(), errors.end(), [&](const ConfigError& e) {
        return e.file == fixture(file) && e.path == path &&
               e.message.find(fragment) != std::string::npos;
    });
}

TEST(ConfigMembers, TemplateNicsThatNameThePoolAreItsMembersIpv4AndIpv6) {
    Plan plan = load_ok("gateway-portal-export-nics.json");
    ASSERT_EQ(plan.pools.size(), 1u);
    ASSERT_EQ(plan.pools[0].servers.size(), 3u);
    const Server* v4 = server_of(plan, "pool1", "10.1.0.4");
    const Server* v6 = server_of(plan, "pool1", "fd00:db8:1::4");
    ASSERT_NE(v4, nullptr);
    ASSERT_NE(v6, nullptr);
    EXPECT_EQ(v4->nic, "vm1-nic");
    EXPECT_EQ(v4->ip_configuration, "ipconfig1");
    EXPECT_EQ(v6->ip_configuration, "ipconfig-v6");
    EXPECT_EQ(plan.rows.size(), 3u);
    EXPECT_TRUE(plan.warnings.empty());
    EXPECT_EQ(target(plan, "pool1", "http-settings", "fd00:db8:1::4").host, "web.contoso.com");
}

TEST(ConfigMembers, RestBackendIpConfigurationsResolveThroughNicsFilesCaseInsensitively) {
    Plan plan = load_ok_with("gateway-rest-ipconfigs.json",
                             with_nics({"nics-az-list.json", "nic-rest-get.json"}));
    // vm1's IPv6 configuration is referenced as VM1-NIC: Azure ids ignore case.
    const Server* v6 = server_of(plan, "pool1", "fd00:db8:1::4");
    ASSERT_NE(v6, nullptr);
    EXPECT_TRUE(v6->address_known);
    EXPECT_NE(server_of(plan, "pool1", "10.1.0.6"), nullptr);  // from the REST NIC GET
    EXPECT_EQ(plan.unresolved_ip_configurations.size(), 3u);
}

TEST(ConfigMembers, AnUnresolvedIpConfigurationIsAnUnknownMemberNamedByItsId) {
    Plan plan = load_ok("gateway-rest-ipconfigs.json");
    ASSERT_EQ(plan.unresolved_ip_configurations.size(), 7u);
    const std::string& id = plan.unresolved_ip_configurations[0];
    EXPECT_NE(id.find("/networkInterfaces/vm1-nic/ipConfigurations/ipconfig1"), std::string::npos);
    const Server* s = server_of(plan, "pool1", id);
    ASSERT_NE(s, nullptr);
    EXPECT_FALSE(s->address_known);
    EXPECT_EQ(s->nic, "vm1-nic");
    for (const Row& r : plan.rows) {
        EXPECT_FALSE(plan.targets[r.target_index].address_known);
    }
}

TEST(ConfigMembers, ScaleSetInstancesComeFromVmssNicList) {
    Plan plan = load_ok_with("gateway-vmss-template.json", with_nics({"nics-vmss-list.json"}));
    ASSERT_EQ(plan.pools.size(), 1u);
    ASSERT_EQ(plan.pools[0].servers.size(), 2u);
    EXPECT_EQ(plan.pools[0].servers[0].nic, "web-vmss/0/web-vmss-nic");
    EXPECT_TRUE(plan.warnings.empty());
}

TEST(ConfigMembers, AScaleSetWithoutItsNicsFileIsAnEmptyPoolWithWarnings) {
    Plan plan = load_ok("gateway-vmss-template.json");
    EXPECT_TRUE(plan.rows.empty());
    ASSERT_EQ(plan.warnings.size(), 2u);
    EXPECT_NE(plan.warnings[0].message.find("az vmss nic list"), std::string::npos);
}

TEST(ConfigMembers, ParametersFilesGiveArrayValuesAndLaterFilesWin) {
    auto errors = load_bad("gateway-arm-parameters.json");
    EXPECT_TRUE(has_error(errors,
                          "resources[0].properties.backendAddressPools[0].properties."
                          "backendAddresses",
                          "--parameters FILE"))
        << dump(errors);
    LoadOptions options;
    options.parameters_files.push_back(fixture("gateway-arm-parameters.parameters.json"));
    Plan one = load_ok_with("gateway-arm-parameters.json", options);
    EXPECT_EQ(one.pools[0].servers.size(), 3u);
    EXPECT_TRUE(one.pools[0].servers[2].is_fqdn);
    options.parameters_files.push_back(fixture("gateway-arm-parameters.prod.parameters.json"));
    Plan two = load_ok_with("gateway-arm-parameters.json", options);
    EXPECT_EQ(two.gateway_name, "gw-prod");
    ASSERT_EQ(two.pools[0].servers.size(), 1u);
    EXPECT_EQ(two.pools[0].servers[0].address, "10.3.0.4");
}

TEST(ConfigMembers, BadNicsFilesAreRefusedWithFileAndPath) {
    const std::string gw = "gateway-rest-ipconfigs.json";
    auto not_json = load_bad(gw, with_nics({"bad-nics-not-json.json"}));
    EXPECT_TRUE(has_error_in(not_json, "bad-nics-not-json.json", "", "not JSON")) << dump(not_json);
    auto wrong = load_bad(gw, with_nics({"bad-nics-wrong-type.json"}));
    EXPECT_TRUE(
        has_error_in(wrong, "bad-nics-wrong-type.json", "[0].type", "is not a network interface"))
        << dump(wrong);
    auto no_address = load_bad(gw, with_nics({"bad-nics-no-address.json"}));
    EXPECT_TRUE(has_error_in(no_address, "bad-nics-no-address.json",
                             "[0].ipConfigurations[0].privateIPAddress", "no private address"))
        << dump(no_address);
    EXPECT_NE(format_errors(no_address, gw).find(fixture("bad-nics-no-address.json") + ": "),
              std::string::npos);
}

TEST(ConfigMembers, TwoNicsFilesThatDisagreeAreRefusedNamingBoth) {
    auto errors = load_bad("gateway-rest-ipconfigs.json",
                           with_nics({"nics-az-list.json", "bad-nics-disagree.json"}));
    ASSERT_EQ(errors.size(), 1u) << dump(errors);
    EXPECT_EQ(errors[0].file, fixture("bad-nics-disagree.json"));
    EXPECT_NE(errors[0].message.find(fixture("nics-az-list.json")), std::string::npos);
    EXPECT_NE(errors[0].message.find("disagree"), std::string::npos);
}

TEST(ConfigMembers, TheDigestChangesWithTheNicsAndParametersFiles) {
    const std::uint64_t bare = load_ok("gateway-rest-ipconfigs.json").digest;
    const std::uint64_t one =
        load_ok_with("gateway-rest-ipconfigs.json", with_nics({"nics-az-list.json"})).digest;
    const std::uint64_t two = load_ok_with("gateway-rest-ipconfigs.json",
                                           with_nics({"nics-az-list.json", "nic-rest-get.json"}))
                                  .digest;
    EXPECT_NE(bare, one);
    EXPECT_NE(one, two);
    EXPECT_EQ(one,
              load_ok_with("gateway-rest-ipconfigs.json", with_nics({"nics-az-list.json"})).digest);
}

// Copy loops are unrolled as ARM would: a parameters file changes both the NIC loop's count and
// the array the backend-address loop walks (the defaults are in
// plan-output/gateway-copy-loops).
TEST(ConfigCopyLoops, ParametersDriveTheNicAndAddressLoops) {
    LoadOptions options;
    options.parameters_files.push_back(fixture("gateway-copy-loops.parameters.json"));
    Plan plan = load_ok_with("gateway-copy-loops.json", options);
    std::vector<std::string> servers;
    for (const Row& r : plan.rows) {
        servers.push_back(plan.pools[r.pool_index].servers[r.server_index].address);
    }
    EXPECT_EQ(servers, (std::vector<std::string>{"10.1.0.4", "10.1.0.5", "10.2.0.20", "10.2.0.21",
                                                 "fd00:db8:2::22"}));
    EXPECT_EQ(server_of(plan, "vm-pool", "10.1.0.5")->nic, "web-nic-2");
}

TEST(ConfigCopyLoops, APropertyLoopBuildsThePoolsAndTheirAddresses) {
    Plan plan = load_ok_json(R"({"parameters": {
          "pools": {"type": "array", "defaultValue": [
            {"name": "blue", "addresses": [{"ipAddress": "10.0.0.1"}]},
            {"name": "green", "addresses": [{"ipAddress": "10.0.0.2"}, {"fqdn": "g.contoso.com"}]}]}},
        "resources": [{"type": "Microsoft.Network/applicationGateways", "name": "gw",
        "properties": {
          "copy": [{"name": "backendAddressPools", "count": "[length(parameters('pools'))]",
            "input": {"name": "[parameters('pools')[copyIndex('backendAddressPools')].name]",
              "properties": {"backendAddresses":
                "[parameters('pools')[copyIndex('backendAddressPools')].addresses]"}}}],
          "backendHttpSettingsCollection": [{"name": "s", "properties": {"port": 80,
            "protocol": "Http"}}],
          "requestRoutingRules": [
            {"name": "r1", "properties": {"backendAddressPool": {"id": "/x/backendAddressPools/blue"},
              "backendHttpSettings": {"id": "/x/backendHttpSettingsCollection/s"}}},
            {"name": "r2", "properties": {"backendAddressPool": {"id": "/x/backendAddressPools/green"},
              "backendHttpSettings": {"id": "/x/backendHttpSettingsCollection/s"}}}]
        }}]})");
    ASSERT_EQ(plan.pools.size(), 2u);
    EXPECT_EQ(plan.pools[0].name, "blue");
    EXPECT_EQ(plan.pools[1].name, "green");
    ASSERT_EQ(plan.pools[1].servers.size(), 2u);
    EXPECT_EQ(plan.pools[1].servers[1].address, "g.contoso.com");
    EXPECT_EQ(plan.rows.size(), 3u);
}

// What cannot be evaluated is refused where it is written, naming the function; nothing is
// half expanded.
TEST(ConfigCopyLoops, WhatCannotBeEvaluatedIsNamedWithItsPathAndFunction) {
    auto errors = json_bad(R"({"resources": [{"type": "Microsoft.Network/applicationGateways",
        "name": "gw", "properties": {
          "copy": [{"name": "probes", "count": "[mod(5, 2)]", "input": {"name": "p"}}],
          "backendAddressPools": [{"name": "pool", "properties": {
            "copy": [{"name": "backendAddresses", "count": 3,
                      "input": {"ipAddress": "[uniqueString(copyIndex('backendAddresses'))]"}}]}}]
        }}]})");
    EXPECT_EQ(format_errors(errors, "f.json"),
              "f.json: resources[0].properties.copy[0].count: cannot evaluate \"[mod(5, 2)]\": "
              "the function mod() is not one ringprobe evaluates (copyIndex, length, parameters, "
              "variables, concat, format, add, sub, mul, string, int, toLower, toUpper, "
              "resourceId)\n"
              "f.json: resources[0].properties.backendAddressPools[0].properties.copy[0].input."
              "ipAddress: cannot evaluate \"[uniqueString(copyIndex('backendAddresses'))]\": the "
              "function uniqueString() is not one ringprobe evaluates (copyIndex, length, "
              "parameters, variables, concat, format, add, sub, mul, string, int, toLower, "
              "toUpper, resourceId)\n");
}

// A virtual machine's loop may use functions ringprobe does not evaluate; the loader never
// reads virtual machines, so their loops are left alone.
TEST(ConfigCopyLoops, LoopsOfResourcesTheLoaderDoesNotReadAreLeftAlone) {
    Plan plan = load_ok_json(R"({"resources": [
        {"type": "Microsoft.Compute/virtualMachines", "name": "[concat('vm', copyIndex())]",
         "copy": {"name": "vms", "count": "[mod(7, 3)]"},
         "properties": {"osProfile": {"computerName": "[uniqueString(copyIndex())]"}}},
        {"type": "Microsoft.Network/applicationGateways", "name": "gw", "properties": {
          "backendAddressPools": [{"name": "p", "properties": {
            "copy": [{"name": "backendAddresses", "count": 2,
                      "input": {"ipAddress": "[format('10.0.0.{0}', copyIndex('backendAddresses', 1))]"}}]}}],
          "backendHttpSettingsCollection": [{"name": "s", "properties": {"port": 80,
            "protocol": "Http"}}],
          "requestRoutingRules": [{"name": "r", "properties": {
            "backendAddressPool": {"id": "/x/backendAddressPools/p"},
            "backendHttpSettings": {"id": "/x/backendHttpSettingsCollection/s"}}}]}}]})");
    ASSERT_EQ(plan.rows.size(), 2u);
    EXPECT_EQ(plan.pools[0].servers[0].address, "10.0.0.1");
    EXPECT_EQ(plan.pools[0].servers[1].address, "10.0.0.2");
}

TEST(ConfigCopyLoops, ACountOutsideArmsBoundIsRefused) {
    auto errors = json_bad(R"({"resources": [{"type": "Microsoft.Network/networkInterfaces",
        "name": "n", "copy": {"name": "l", "count": 801}},
        {"type": "Microsoft.Network/applicationGateways", "name": "gw", "properties": {}}]})");
    EXPECT_TRUE(has_error(errors, "resources[0].copy.count",
                          "the count of copy loop l must be an integer in 0..800, got the number "
                          "801"))
        << dump(errors);
}

// `az network nic list > nics.json` in Windows PowerShell 5.1 writes UTF-16 LE; a parameters
// file saved by Notepad starts with a UTF-8 byte-order mark. Both read like their UTF-8 twins.
TEST(ConfigMembers, SideFilesInUtf16OrWithAByteOrderMarkReadAsUtf8) {
    auto servers = [](const Plan& plan) {
        std::vector<std::string> out;
        for (const Row& r : plan.rows) {
            out.push_back(plan.pools[r.pool_index].servers[r.server_index].address);
        }
        return out;
    };
    const Plan utf8 = load_ok_with("gateway-rest-ipconfigs.json", with_nics({"nics-az-list.json"}));
    const Plan utf16 =
        load_ok_with("gateway-rest-ipconfigs.json", with_nics({"nics-az-list-utf16le.json"}));
    EXPECT_EQ(servers(utf16), servers(utf8));
    EXPECT_TRUE(utf16.unresolved_ip_configurations == utf8.unresolved_ip_configurations);
    LoadOptions plain;
    plain.parameters_files.push_back(fixture("gateway-arm-parameters.parameters.json"));
    LoadOptions bom;
    bom.parameters_files.push_back(fixture("gateway-arm-parameters.parameters-utf8bom.json"));
    EXPECT_EQ(servers(load_ok_with("gateway-arm-parameters.json", bom)),
              servers(load_ok_with("gateway-arm-parameters.json", plain)));
}

TEST(ConfigMembers, TheSameNicInTwoFilesIsAccepted) {
    Plan plan = load_ok_with("gateway-rest-ipconfigs.json",
                             with_nics({"nics-az-list.json", "nics-az-list.json"}));
    EXPECT_NE(server_of(plan, "pool1", "10.1.0.4"), nullptr);
}

// The bundled demo (tools/gen-demo-config.py) is what tools/demo.sh probes: keep it loadable
// and shaped as its generator documents.
TEST(ConfigDemo, BundledDemoHasAThousandServersFrom127_1_0_1) {
    auto r = load_plan_file(RP_DEMO_CONFIG);
    ASSERT_TRUE(r) << format_errors(r.error(), RP_DEMO_CONFIG);
    const Plan& plan = *r;
    EXPECT_EQ(plan.gateway_name, "demo");
    std::size_t servers = 0;
    for (const Pool& p : plan.pools) {
        servers += p.servers.size();
    }
    EXPECT_EQ(servers, 1000u);
    EXPECT_EQ(plan.pools[0].servers[0].address, "127.1.0.1");
    EXPECT_EQ(plan.rows.size(), 1616u);
    EXPECT_EQ(plan.targets.size(), 1383u);
    for (const Target& t : plan.targets) {
        EXPECT_EQ(t.port, 8080);
        EXPECT_EQ(t.interval_ms, 2000u);
        EXPECT_EQ(t.timeout_ms, 1000u);
    }
}

TEST(ConfigSyntax, EveryTruncationOfAValidDocumentHasAPosition) {
    std::string json = read_text(fixture("gateway-rest.json"));
    std::uint64_t seed =
        ringprobe::testing::test_seed("ConfigSyntax.EveryTruncationOfAValidDocumentHasAPosition");
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 200; ++i) {
        std::size_t cut = std::uniform_int_distribution<std::size_t>(1, json.size() - 2)(rng);
        std::string broken = json.substr(0, cut);
        auto r = load_plan_json(broken);
        ASSERT_FALSE(r) << "seed " << seed << " cut " << cut;
        ASSERT_GE(r.error()[0].line, 1u)
            << "seed " << seed << " cut " << cut << ": " << dump(r.error());
        SyntaxError se;
        ASSERT_TRUE(find_syntax_error(broken, se)) << "seed " << seed << " cut " << cut;
        EXPECT_LE(se.offset, broken.size());
    }
}

TEST(ConfigSyntax, ValidDocumentsHaveNoSyntaxError) {
    SyntaxError se;
    for (const char* name :
         {"gateway-rest.json", "gateway-arm-template.json", "gateway-az-show.json"}) {
        EXPECT_FALSE(find_syntax_error(read_text(fixture(name)), se)) << name << ": " << se.message;
    }
}

TEST(ConfigSyntax, InvalidUtf8InAStringIsLocated) {
    SyntaxError se;
    ASSERT_TRUE(find_syntax_error("{\n \"a\": \"x\xff\"}", se));
    EXPECT_EQ(se.line, 2u);
    EXPECT_EQ(se.column, 9u);
}

}  // namespace
}  // namespace ringprobe::config

namespace ringprobe::config {
namespace {

// An Http or Https probe with its ringprobe object `ext`, on one setting of the same protocol.
std::string reuse_gateway(const std::string& protocol, const std::string& ext) {
    return R"({"properties": {
      "backendAddressPools": [{"name": "pool", "properties": {
        "backendAddresses": [{"ipAddress": "10.0.0.1"}]}}],
      "probes": [{"name": "p", "properties": {"protocol": ")" +
           protocol + R"(", "host": "a", "path": "/", "ringprobe": )" + ext + R"(}}],
      "backendHttpSettingsCollection": [{"name": "s", "properties": {"port": 80,
        "protocol": ")" +
           protocol + R"(", "probe": {"id": "probes/p"}}}],
      "requestRoutingRules": [{"name": "r", "properties": {
        "backendAddressPool": {"id": "backendAddressPools/pool"},
        "backendHttpSettings": {"id": "backendHttpSettingsCollection/s"}}}]}})";
}

TEST(ConfigConnectionReuse, AnHttpProbeKeepsItsConnectionAndAsksForNoClose) {
    Plan plan = load_ok_json(reuse_gateway("Http", R"({"connectionReuse": true})"));
    ASSERT_EQ(plan.targets.size(), 1u);
    EXPECT_TRUE(plan.targets[0].connection_reuse);
    EXPECT_EQ(plan.targets[0].request.find("Connection: close"), std::string::npos);
    Plan fresh = load_ok_json(reuse_gateway("Http", R"({"connectionReuse": false})"));
    EXPECT_FALSE(fresh.targets[0].connection_reuse);
    EXPECT_NE(fresh.targets[0].request.find("Connection: close\r\n"), std::string::npos);
}

TEST(ConfigConnectionReuse, AnHttpsProbeOrATopLevelSettingIsAnError) {
    auto errors = json_bad(reuse_gateway("Https", R"({"connectionReuse": true})"));
    EXPECT_TRUE(std::any_of(errors.begin(), errors.end(), [](const ConfigError& e) {
        return e.message.find("Https, which opens a connection per probe") != std::string::npos;
    })) << dump(errors);
    errors = json_bad(R"({"properties": {"ringprobe": {"connectionReuse": true}}})");
    EXPECT_TRUE(
        has_error(errors, "properties.ringprobe.connectionReuse", "unknown ringprobe setting"))
        << dump(errors);
}

}  // namespace
}  // namespace ringprobe::config
