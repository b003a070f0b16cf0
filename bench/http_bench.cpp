// Micro-benchmarks of src/engine/http_parser.cpp and src/engine/body_matcher.cpp.
//  ParseResponse/0: a typical 200 with Content-Length and a small JSON body, needle "ok".
//  ParseResponse/1: the same body chunked in three chunks with a trailer.
//  ParseResponse/2: a typical 200, no body match (Done right after the head).
//  StatusMatch: a code against the default 200-399 plus two single codes.
//  BodyMatcher_Search/4090: a 4090-byte needle at the end of a 64 KiB body fed in 4 KiB
//  pieces (recv-sized); bytes_per_second is the body scan rate.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_main.hpp"
#include "engine/body_matcher.hpp"
#include "engine/http_parser.hpp"

namespace ringprobe::engine {
namespace {

const std::string body_json =
    R"({"status":"ok","checks":{"db":"ok","cache":"ok"},"version":"1.2.3"})";

std::string typical_response(int kind) {
    std::string head =
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n";
    if (kind != 1) {
        return head + "Content-Length: " + std::to_string(body_json.size()) + "\r\n\r\n" +
               body_json;
    }
    char last[16];
    std::snprintf(last, sizeof last, "%zx", body_json.size() - 48);
    return head + "Transfer-Encoding: chunked\r\n\r\n10\r\n" + body_json.substr(0, 16) +
           "\r\n20;x=y\r\n" + body_json.substr(16, 32) + "\r\n" + last + "\r\n" +
           body_json.substr(48) + "\r\n0\r\nX-Checksum: 1\r\n\r\n";
}

void BM_Http_ParseResponse(benchmark::State& state) {
    int kind = static_cast<int>(state.range(0));
    std::string r = typical_response(kind);
    BodyMatcher needle(kind == 2 ? "" : "\"cache\":\"ok\"");
    HttpParser p;
    for (auto _ : state) {
        p.reset(&needle);
        HttpParser::Status s = p.feed(r.data(), r.size());
        benchmark::DoNotOptimize(s);
        if (s != HttpParser::Status::Done || !p.body_matched()) {
            state.SkipWithError("response not parsed as expected");
            break;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * r.size()));
}

void BM_Http_StatusMatch(benchmark::State& state) {
    std::vector<StatusRange> ranges = {{200, 399}, {401, 401}, {404, 404}};
    std::uint16_t codes[] = {200, 503, 404, 301, 500, 401, 204, 403};
    std::size_t i = 0;
    for (auto _ : state) {
        bool m = status_matches(ranges, codes[i++ & 7]);
        benchmark::DoNotOptimize(m);
    }
}

void BM_BodyMatcher_Search(benchmark::State& state) {
    auto n = static_cast<std::size_t>(state.range(0));
    std::mt19937_64 rng(1);
    auto text = [&](std::size_t len) {
        std::string s(len, 'a');
        for (char& c : s) {
            c = static_cast<char>('a' + rng() % 26);
        }
        return s;
    };
    std::string needle = text(n);
    std::string body = text(HttpParser::body_window_bytes - n) + needle;
    BodyMatcher m(needle);
    constexpr std::size_t piece = 4096;
    for (auto _ : state) {
        BodyMatcher::State s = BodyMatcher::initial;
        for (std::size_t at = 0; at < body.size(); at += piece) {
            s = m.feed(s, body.data() + at, std::min(piece, body.size() - at));
        }
        if (!m.found(s)) {
            state.SkipWithError("needle not found");
            break;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}

BENCHMARK(BM_Http_ParseResponse)->Arg(0)->Arg(1)->Arg(2);
BENCHMARK(BM_Http_StatusMatch);
BENCHMARK(BM_BodyMatcher_Search)->Arg(16)->Arg(4090);

}  // namespace
}  // namespace ringprobe::engine

RP_BENCHMARK_MAIN("http_bench");
