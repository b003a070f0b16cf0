// tls_bench: CPU per TLS handshake through TlsClient (src/engine/tls/client.cpp), full and resumed.
//
// The server is the in-memory wolfSSL server of the tests (tests/support/tls_memory_server.hpp)
// serving good-chain.pem (ECDSA P-256 leaf + intermediate) to a client that trusts the private
// root: the full certificate path (verify callback, chain capture, classification) runs every
// full handshake. Timing is paused while the server works, so the figures are the client's:
// what a worker pays per probe. The counter `wolf_allocs` is wolfSSL's heap allocations per
// handshake, counted through wolfSSL_SetAllocators (TlsClient's own buffers are made once).
//
// BM_Tls_FullHandshakeClientCertificate is the full handshake with a server that requires a
// client certificate (tests/tls/make-client-certs.sh, made into a temporary directory) and the
// client presenting one.
//
// BM_Tls_VerifyCorpus judges every chain of the differential corpus (tests/tls/make-corpus.sh,
// docs/tls.md "How ringprobe's verdicts relate to OpenSSL's") once per iteration, each a full
// handshake against its own in-memory server: the verify path over RSA 2048, P-256 and P-384
// chains 2 to 4 deep, accepted and refused. RP_TLS_CORPUS names a directory the script wrote
// (`tests/tls/make-corpus.sh DIR large` for the large corpus); without it the small corpus is
// made into a temporary directory first. Counters: chains judged per iteration, how many were
// accepted, and wolfSSL's allocations per chain.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

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

// One handshake; only the client's work is timed. Returns the step it ended on (NeedReceive
// when it stalled).
StepKind handshake_step(benchmark::State& state, TlsClient& client, MemoryTlsServer& server) {
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
            return s.kind;
        }
        state.PauseTiming();
        server.pump();
        state.ResumeTiming();
        std::string& in = server.to_client();
        if (in.empty()) {
            return StepKind::NeedReceive;
        }
        in.erase(0, client.feed_ciphertext(in.data(), in.size()));
    }
    return StepKind::NeedReceive;
}

bool handshake(benchmark::State& state, TlsClient& client, MemoryTlsServer& server) {
    return handshake_step(state, client, server) == StepKind::HandshakeDone;
}

// The client certificates of tests/tls/make-client-certs.sh, made once into a temporary
// directory; empty when the script failed.
std::string client_certs_dir() {
    static std::string made;
    if (made.empty()) {
        char templ[] = "/tmp/rp-client-certs-XXXXXX";
        if (::mkdtemp(templ) == nullptr) {
            return {};
        }
        const std::string cmd =
            "sh '" RP_MAKE_CLIENT_CERTS "' '" + std::string(templ) + "/certs' >/dev/null 2>&1";
        if (std::system(cmd.c_str()) != 0) {
            return {};
        }
        made = templ;
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(made, ec);
        });
    }
    return made + "/certs";
}

// client_cert: the server asks for a client certificate and the client presents client.pem.
void run(benchmark::State& state, bool resume, int version, bool client_cert = false) {
    wolfSSL_SetAllocators(count_malloc, count_free, count_realloc);
    std::vector<std::string> roots{slurp(fixture("root.pem"))};
    ringprobe::ClientCertificate cc;
    const std::string certs = client_cert ? client_certs_dir() : std::string();
    if (client_cert) {
        cc = ringprobe::ClientCertificate{"bench", "certificateFile client.pem",
                                          "keyFile client.key", slurp(certs + "/client.pem"),
                                          slurp(certs + "/client.key")};
    }
    auto trust =
        TlsContexts::single(roots, TlsContexts::default_system_store, client_cert ? &cc : nullptr);
    auto server = MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"), version);
    if (!trust || server == nullptr ||
        (client_cert && !server->require_client_certificate(certs + "/client-ca.pem"))) {
        state.SkipWithError("fixtures not found, or tests/tls/make-client-certs.sh failed");
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
// A full handshake with a server that asks for a client certificate and the client presenting
// one (mTLS): beside BM_Tls_FullHandshake, what a client certificate adds to a probe (its
// Certificate and, the most of it, the CertificateVerify signature).
void BM_Tls_FullHandshakeClientCertificate(benchmark::State& state) {
    run(state, false, static_cast<int>(state.range(0)), true);
}

// One chain of the corpus: its server, its trust and the names the client sends and checks.
struct CorpusCase {
    std::unique_ptr<MemoryTlsServer> server;
    TlsContexts trust;
    std::string sni;
    std::string host;
};

// The corpus directory: RP_TLS_CORPUS, or the small corpus made once into a temporary one.
std::string corpus_dir() {
    if (const char* dir = std::getenv("RP_TLS_CORPUS"); dir != nullptr && *dir != '\0') {
        return dir;
    }
    static std::string made;
    if (made.empty()) {
        char templ[] = "/tmp/rp-tls-corpus-XXXXXX";
        if (::mkdtemp(templ) == nullptr) {
            return {};
        }
        made = templ;
        const std::string cmd = "sh '" RP_MAKE_CORPUS "' '" + made + "' small >/dev/null";
        if (std::system(cmd.c_str()) != 0) {
            return {};
        }
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(made, ec);
        });
    }
    return made;
}

std::vector<CorpusCase> load_corpus() {
    std::vector<CorpusCase> cases;
    const std::string dir = corpus_dir();
    std::ifstream in(dir + "/manifest");
    std::string line;
    while (!dir.empty() && std::getline(in, line)) {
        std::vector<std::string> f;
        std::stringstream ss(line);
        std::string field;
        while (std::getline(ss, field, '|')) {
            f.push_back(field);
        }
        f.resize(8);
        std::vector<std::string> roots{slurp(f[3])};
        auto trust = TlsContexts::single(roots);
        auto server = MemoryTlsServer::create(f[1], f[2]);
        if (!trust || server == nullptr) {
            return {};
        }
        cases.push_back({std::move(server), std::move(*trust), f[4], f[5]});
    }
    return cases;
}

void BM_Tls_VerifyCorpus(benchmark::State& state) {
    wolfSSL_SetAllocators(count_malloc, count_free, count_realloc);
    std::vector<CorpusCase> cases = load_corpus();
    if (cases.empty()) {
        state.SkipWithError("no corpus: tests/tls/make-corpus.sh failed or RP_TLS_CORPUS is wrong");
        return;
    }
    TlsClient client;
    std::size_t accepted = 0;
    std::size_t allocs = 0;
    for (auto _ : state) {
        for (CorpusCase& c : cases) {
            state.PauseTiming();
            c.server->begin_connection();
            const std::size_t before = g_allocs;
            state.ResumeTiming();
            client.start(c.trust.at(0), c.sni, c.host, nullptr);
            accepted += handshake_step(state, client, *c.server) == StepKind::HandshakeDone;
            client.finish();
            state.PauseTiming();
            allocs += g_allocs - before;
            state.ResumeTiming();
        }
    }
    const double per_iteration = static_cast<double>(cases.size());
    state.counters["chains"] = per_iteration;
    state.counters["accepted"] =
        benchmark::Counter(static_cast<double>(accepted), benchmark::Counter::kAvgIterations);
    state.counters["wolf_allocs_per_chain"] = benchmark::Counter(
        static_cast<double>(allocs) / per_iteration, benchmark::Counter::kAvgIterations);
    state.counters["chains_per_s"] =
        benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

// Argument: the protocol (13 = TLS 1.3, 12 = TLS 1.2).
BENCHMARK(BM_Tls_FullHandshake)->Arg(13)->Arg(12)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tls_ResumedHandshake)->Arg(13)->Arg(12)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tls_FullHandshakeClientCertificate)->Arg(13)->Arg(12)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tls_VerifyCorpus)->Unit(benchmark::kMillisecond);

}  // namespace

RP_BENCHMARK_MAIN("tls_bench");
