// The cost of building a probe's PROXY protocol header (src/engine/proxy_header.cpp), once per
// probe that sends one: v1 (text) and v2 (binary), IPv4 and IPv6, with the addresses a probe
// would have (a loopback source with an ephemeral port, a backend address). Figures and the
// command: docs/benchmarks.md, "PROXY protocol header".
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>

#include <cstdint>

#include "bench_main.hpp"
#include "engine/proxy_header.hpp"

namespace ringprobe::engine {
namespace {

template <typename A>
void build(benchmark::State& state, ProxyProtocol version, const A& src, const A& dst) {
    char out[proxy_header_max];
    std::uint16_t port = 32768;
    A from = src;
    for (auto _ : state) {
        // A new source port each time, as each probe has.
        if constexpr (sizeof(A) == sizeof(sockaddr_in)) {
            from.sin_port = htons(port);
        } else {
            from.sin6_port = htons(port);
        }
        port = port == 60999 ? 32768 : static_cast<std::uint16_t>(port + 1);
        benchmark::DoNotOptimize(build_proxy_header(version,
                                                    reinterpret_cast<const sockaddr*>(&from),
                                                    reinterpret_cast<const sockaddr*>(&dst), out));
        benchmark::ClobberMemory();
    }
}

sockaddr_in v4(const char* addr, std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, addr, &a.sin_addr);
    return a;
}

sockaddr_in6 v6(const char* addr, std::uint16_t port) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    ::inet_pton(AF_INET6, addr, &a.sin6_addr);
    return a;
}

void BM_ProxyHeader_Build_V1_Ipv4(benchmark::State& state) {
    build(state, ProxyProtocol::V1, v4("10.0.0.17", 0), v4("10.2.0.4", 5432));
}
void BM_ProxyHeader_Build_V2_Ipv4(benchmark::State& state) {
    build(state, ProxyProtocol::V2, v4("10.0.0.17", 0), v4("10.2.0.4", 5432));
}
void BM_ProxyHeader_Build_V1_Ipv6(benchmark::State& state) {
    build(state, ProxyProtocol::V1, v6("fd00:db8:1::17", 0), v6("fd00:db8:2::4", 8443));
}
void BM_ProxyHeader_Build_V2_Ipv6(benchmark::State& state) {
    build(state, ProxyProtocol::V2, v6("fd00:db8:1::17", 0), v6("fd00:db8:2::4", 8443));
}
BENCHMARK(BM_ProxyHeader_Build_V1_Ipv4);
BENCHMARK(BM_ProxyHeader_Build_V2_Ipv4);
BENCHMARK(BM_ProxyHeader_Build_V1_Ipv6);
BENCHMARK(BM_ProxyHeader_Build_V2_Ipv6);

}  // namespace
}  // namespace ringprobe::engine

RP_BENCHMARK_MAIN("proxy_header_bench");
