// BM_Plan_Load/<servers>: the time from configuration bytes to a ready Plan (parse, validate,
// resolve, build rows and deduplicated targets with their request bytes). The configuration is
// generated in the REST form: pools of 5,000 servers each, four settings (default probe, custom
// Http probe with a body match, Https with host name, Tcp) and one rule per pool, so 100,000
// servers give 100,000 rows and 100,000 targets. Goal (issue #2): under 150 ms for 100,000.
//
// A plan of 100,000 targets is ~60 MB of fresh memory, and on this project's VM a 4 KiB page
// fault costs several microseconds: with 4 KiB pages the faults alone take ~100 ms. The bench
// therefore links jemalloc (the allocator the engine links) with transparent huge pages on, the
// setting the ringprobe binary should use too. To see the 4 KiB-page figure run it with
// MALLOC_CONF=thp:default (docs/configuration.md, "Load time", has both figures and commands).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "bench_main.hpp"
#include "config/load.hpp"

// Read by jemalloc at start-up when the bench is linked with it; harmless otherwise.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "thp:always,metadata_thp:auto";
}

namespace {

std::string generate(int servers) {
    constexpr int per_pool = 5000;
    int pools = (servers + per_pool - 1) / per_pool;
    std::string s;
    s.reserve(static_cast<std::size_t>(servers) * 32 + 4096);
    s += "{\"name\":\"bench\",\"properties\":{\"probes\":[";
    s += "{\"name\":\"p-http\",\"properties\":{\"protocol\":\"Http\",\"host\":\"www.contoso.com\","
         "\"path\":\"/health\",\"interval\":5,\"timeout\":2,\"unhealthyThreshold\":3,"
         "\"match\":{\"statusCodes\":[\"200-299\"],\"body\":\"ok\"}}}],";
    s += "\"backendHttpSettingsCollection\":["
         "{\"name\":\"s-default\",\"properties\":{\"port\":80,\"protocol\":\"Http\"}},"
         "{\"name\":\"s-custom\",\"properties\":{\"port\":8080,\"protocol\":\"Http\",\"probe\":{"
         "\"id\":\"probes/p-http\"}}},"
         "{\"name\":\"s-https\",\"properties\":{\"port\":443,\"protocol\":\"Https\",\"hostName\":"
         "\"api.contoso.com\"}},"
         "{\"name\":\"s-tcp\",\"properties\":{\"port\":5432,\"protocol\":\"Tcp\"}}],";
    s += "\"backendAddressPools\":[";
    int n = 0;
    char buf[96];
    for (int p = 0; p < pools; ++p) {
        std::snprintf(buf, sizeof(buf),
                      "%s{\"name\":\"pool-%d\",\"properties\":{\"backendAddresses\":[",
                      p ? "," : "", p);
        s += buf;
        for (int k = 0; k < per_pool && n < servers; ++k, ++n) {
            std::snprintf(buf, sizeof(buf), "%s{\"ipAddress\":\"10.%d.%d.%d\"}", k ? "," : "",
                          (n >> 16) & 255, (n >> 8) & 255, n & 255);
            s += buf;
        }
        s += "]}}";
    }
    s += "],\"requestRoutingRules\":[";
    static const char* settings[] = {"s-default", "s-custom", "s-https", "s-tcp"};
    for (int p = 0; p < pools; ++p) {
        std::snprintf(buf, sizeof(buf), "%s{\"name\":\"r-%d\",\"properties\":{", p ? "," : "", p);
        s += buf;
        std::snprintf(buf, sizeof(buf),
                      "\"backendAddressPool\":{\"id\":\"backendAddressPools/pool-%d\"},", p);
        s += buf;
        std::snprintf(buf, sizeof(buf),
                      "\"backendHttpSettings\":{\"id\":\"backendHttpSettingsCollection/%s\"}}}",
                      settings[p % 4]);
        s += buf;
    }
    s += "]}}";
    return s;
}

void BM_Plan_Load(benchmark::State& state) {
    std::string json = generate(static_cast<int>(state.range(0)));
    for (auto _ : state) {
        auto plan = ringprobe::config::load_plan_json(json);
        if (!plan) {
            state.SkipWithError(
                ringprobe::config::format_errors(plan.error(), "generated").c_str());
            break;
        }
        benchmark::DoNotOptimize(plan->targets.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(json.size()));
    state.counters["servers"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_Plan_Load)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace

RP_BENCHMARK_MAIN("plan_bench");
