// The main() of every Google Benchmark binary here. Google Benchmark 1.7.1 exits 0 when a
// benchmark calls SkipWithError, so a smoke run (suite 'bench-smoke') whose benchmark failed,
// say a TLS handshake or an engine that did not start, would pass; and a filter that matches
// nothing runs nothing and passes too. run_benchmarks() watches every run through a reporter
// that forwards to the one the command line asks for, and fails the binary in both cases.
#pragma once

#include <benchmark/benchmark.h>

#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace ringprobe::bench {

// Forwards every report to `inner` and keeps the names of the runs that errored.
class ErrorWatch final : public benchmark::BenchmarkReporter {
public:
    explicit ErrorWatch(std::unique_ptr<benchmark::BenchmarkReporter> inner)
        : inner_(std::move(inner)) {}

    bool ReportContext(const Context& context) override { return inner_->ReportContext(context); }

    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& run : runs) {
            if (run.error_occurred) {
                errored_.push_back(run.benchmark_name() + ": " + run.error_message);
            }
        }
        inner_->ReportRuns(runs);
    }

    void Finalize() override { inner_->Finalize(); }

    const std::vector<std::string>& errored() const { return errored_; }

private:
    std::unique_ptr<benchmark::BenchmarkReporter> inner_;
    std::vector<std::string> errored_;
};

// The display reporter the flags ask for, as Google Benchmark's own main picks it: json, else
// the console (1.7.1 deprecates csv), in colour on a terminal, tabular when asked.
inline std::unique_ptr<benchmark::BenchmarkReporter> display_reporter(int argc, char** argv) {
    int options = ::isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Color
                                          : benchmark::ConsoleReporter::OO_None;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--benchmark_format=json") == 0) {
            return std::make_unique<benchmark::JSONReporter>();
        }
        if (std::strcmp(argv[i], "--benchmark_counters_tabular=true") == 0) {
            options |= benchmark::ConsoleReporter::OO_Tabular;
        }
    }
    return std::make_unique<benchmark::ConsoleReporter>(
        static_cast<benchmark::ConsoleReporter::OutputOptions>(options));
}

// Runs the benchmarks benchmark::Initialize() selected; returns main()'s exit status: 1 when
// one errored or none ran, naming why on stderr, else 0.
inline int run_benchmarks(const char* program, int argc, char** argv) {
    ErrorWatch watch(display_reporter(argc, argv));
    const std::size_t ran = benchmark::RunSpecifiedBenchmarks(&watch);
    benchmark::Shutdown();
    for (const std::string& e : watch.errored()) {
        std::fprintf(stderr, "%s: benchmark failed: %s\n", program, e.c_str());
    }
    if (!watch.errored().empty()) {
        return 1;
    }
    if (ran == 0) {
        std::fprintf(stderr, "%s: no benchmark matches --benchmark_filter\n", program);
        return 1;
    }
    return 0;
}

}  // namespace ringprobe::bench

// BENCHMARK_MAIN() with an exit status that says whether every benchmark ran.
#define RP_BENCHMARK_MAIN(program)                                    \
    int main(int argc, char** argv) {                                 \
        benchmark::Initialize(&argc, argv);                           \
        if (benchmark::ReportUnrecognizedArguments(argc, argv)) {     \
            return 1;                                                 \
        }                                                             \
        return ringprobe::bench::run_benchmarks(program, argc, argv); \
    }
