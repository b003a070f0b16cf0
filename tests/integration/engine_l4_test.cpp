// The layer-4 proxy's configuration end to end: a gateway JSON whose backendSettingsCollection
// and routingRules name a loopback listener is loaded by src/config, run by the real engine
// (workers, io_uring, report writer) and read back through the report reader, as
// ringprobe-report would. It proves that a layer-4 setting's rows are probed like any other and
// reach the report in the pool -> setting -> server shape with the setting's own id.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "config/load.hpp"
#include "engine/engine.hpp"
#include "report/reader.hpp"
#include "support/engine_harness.hpp"

namespace ringprobe {
namespace {

// A listening TCP socket on 127.0.0.1 at a port the kernel picks; closed with the test.
struct Listener {
    int fd = -1;
    std::uint16_t port = 0;
    Listener() {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        EXPECT_EQ(::listen(fd, 64), 0);
    }
    ~Listener() { ::close(fd); }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
};

// A gateway of the layer-4 proxy only, in the REST form: one pool of `servers`, one Tcp setting
// on `port` with its default probe every 100 ms.
std::string l4_gateway(const std::string& servers, std::uint16_t port) {
    const std::string gw =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
        "applicationGateways/gw-l4/";
    return R"({"name": "gw-l4", "properties": {
      "backendAddressPools": [{"name": "pool", "properties": {"backendAddresses": [)" +
           servers + R"(]}}],
      "backendSettingsCollection": [{"name": "tcp-set", "properties": {"port": )" +
           std::to_string(port) + R"(, "protocol": "Tcp", "timeout": 20,
        "ringprobe": {"intervalMs": 100, "timeoutMs": 2000}}}],
      "routingRules": [{"name": "tcp-rule", "properties": {"ruleType": "Basic",
        "priority": 100, "listener": {"id": ")" +
           gw + R"(listeners/tcp"},
        "backendAddressPool": {"id": ")" +
           gw + R"(backendAddressPools/pool"},
        "backendSettings": {"id": ")" +
           gw + R"(backendSettingsCollection/tcp-set"}}}]}})";
}

TEST(EngineLayer4, TcpSettingRowsProbedAgainstAListenerTurnHealthy) {
    Listener up;
    auto loaded = config::load_plan_json(l4_gateway(R"({"ipAddress": "127.0.0.1"})", up.port));
    ASSERT_TRUE(loaded) << config::format_errors(loaded.error(), "inline");
    const Plan plan = std::move(loaded).value();
    ASSERT_EQ(plan.rows.size(), 1u);
    ASSERT_TRUE(plan.settings[0].layer4);
    testing::EngineHarness run(plan, testing::engine_options("l4-tcp"));
    ASSERT_TRUE(run.start());
    EXPECT_TRUE(run.wait(
        [](const report::Snapshot& s) {
            return static_cast<Health>(s.states[0].health) == Health::Healthy;
        },
        std::chrono::seconds(10)));
    const report::Snapshot s = run.snapshot();
    ASSERT_EQ(s.info->rows.size(), 1u);
    const auto& setting = s.info->settings[s.info->rows[0].setting_index];
    EXPECT_EQ(s.info->str(setting.name), "tcp-set");
    EXPECT_NE(s.info->str(setting.id).find("/backendSettingsCollection/tcp-set"),
              std::string::npos);
    EXPECT_EQ(setting.protocol, static_cast<std::uint8_t>(Protocol::Tcp));
    EXPECT_EQ(setting.port, up.port);
    run.stop();
}

}  // namespace
}  // namespace ringprobe
