// Proves bench_main.hpp: a benchmark that calls SkipWithError fails the binary, so a smoke run
// whose benchmark failed fails (Google Benchmark's own main exits 0); a filter that matches
// nothing fails too; a benchmark that runs passes. bench/meson.build runs it three ways.
#include <benchmark/benchmark.h>

#include "bench_main.hpp"

namespace {

void BM_BenchMain_Errors(benchmark::State& state) {
    for (auto _ : state) {
        state.SkipWithError("the error a smoke run must not hide");
        break;
    }
}
BENCHMARK(BM_BenchMain_Errors);

void BM_BenchMain_Runs(benchmark::State& state) {
    int n = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(++n);
    }
}
BENCHMARK(BM_BenchMain_Runs);

}  // namespace

RP_BENCHMARK_MAIN("bench_main_check");
