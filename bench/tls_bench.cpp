// tls_bench: CPU per TLS handshake through TlsClient (src/engine/tls/client.cpp), full and resumed.
//
// The server is the in-memory wolfSSL server of the tests (tests/support/tls_memory_server.hpp)
// serving good-chain.pem (ECDSA P-256 leaf + intermediate) to a client that trusts the private
// root: the full certificate path (verify callback, chain capture, classification) runs every
// full handshake. Timing is paused while the server works, so the figures are the client's:
// what a worker pays per probe. The counter `wolf_allocs` is wolfSSL's heap allocations per
// handshake, counted through wolfSSL_SetAllocators (TlsClient's own buffers are made once).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "bench_main.hpp"
#include "engine/tls.hpp"
#include "support/tls_memory_server.hpp"

namespace {

using namespace ringprobe::tls;
using ringprobe::test::MemoryTlsServer;

std::size_t g_allocs = 0;
void* count_malloc(size_t n) {
    ++g_allocs;
    return std::malloc(n);
}
void count_free(void* p) {
    std::free(p);
}
void* count_realloc(void* p, size_t n) {
    ++g_allocs;
    return std::realloc(p, n);
}

std::string fixture(const char* name) {
    return std::string(RP_TLS_FIXTURES) + "/" + name;
}

std::string slurp(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    std::string s;
    char buf[4096];
    size_t n;
    while (f != nullptr && (n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        s.append(buf, n);
    }
    if (f != nullptr) {
        std::fclose(f);
    }
    return s;
}

// One handshake; only the client's work is timed.
bool handshake(benchmark::State& state, TlsClient& client, MemoryTlsServer& server) {
    for (int round = 0; round < 64; ++round) {
        Step s = client.handshake();
        if (s.kind == StepKind::NeedSend) {
            auto out = client.pending_ciphertext();
            server.from_client().append(out.data(), out.size());
            client.consume_sent(out.size());
            continue;
        }
        if (s.kind != StepKind::NeedReceive) {
            state.PauseTiming();
            server.pump();
            state.ResumeTiming();
            return s.kind == StepKind::HandshakeDone;
        }
        state.PauseTiming();
        server.pump();
        state.ResumeTiming();
        std::string& in = server.to_client();
        if (in.empty()) {
            return false;
        }
        in.erase(0, client.feed_ciphertext(in.data(), in.size()));
    }
    return false;
}

void run(benchmark::State& state, bool resume, int version) {
    wolfSSL_SetAllocators(count_malloc, count_free, count_realloc);
    std::vector<std::string> roots{slurp(fixture("root.pem"))};
    auto trust = TlsContexts::single(roots);
    auto server = MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"), version);
    if (!trust || server == nullptr) {
        state.SkipWithError("fixtures not found");
        return;
    }
    server->set_reply("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    TlsClient client;
    TlsSession session;
    std::size_t allocs = 0;
    std::size_t resumed = 0;
    for (auto _ : state) {
        state.PauseTiming();
        server->begin_connection();
        std::size_t before = g_allocs;
        state.ResumeTiming();
        client.start(trust->at(0), "good.ringprobe.test", "", resume ? &session : nullptr);
        if (!handshake(state, client, *server)) {
            state.SkipWithError("handshake failed");
            break;
        }
        resumed += client.facts().resumed ? 1 : 0;
        if (resume && version != 12) {
            // TLS 1.3: the ticket comes after the handshake; read it as an Https probe would.
            state.PauseTiming();
            server->pump();
            std::string& in = server->to_client();
            client.feed_ciphertext(in.data(), in.size());
            in.clear();
            state.ResumeTiming();
            char buf[64];
            client.read_plaintext(buf, sizeof buf);
        }
        client.finish();
        state.PauseTiming();
        allocs += g_allocs - before;
        state.ResumeTiming();
    }
    state.counters["wolf_allocs"] =
        benchmark::Counter(static_cast<double>(allocs), benchmark::Counter::kAvgIterations);
    state.counters["resumed"] =
        benchmark::Counter(static_cast<double>(resumed), benchmark::Counter::kAvgIterations);
}

void BM_Tls_FullHandshake(benchmark::State& state) {
    run(state, false, static_cast<int>(state.range(0)));
}
void BM_Tls_ResumedHandshake(benchmark::State& state) {
    run(state, true, static_cast<int>(state.range(0)));
}

// Argument: the protocol (13 = TLS 1.3, 12 = TLS 1.2).
BENCHMARK(BM_Tls_FullHandshake)->Arg(13)->Arg(12)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tls_ResumedHandshake)->Arg(13)->Arg(12)->Unit(benchmark::kMicrosecond);

}  // namespace

RP_BENCHMARK_MAIN("tls_bench");
