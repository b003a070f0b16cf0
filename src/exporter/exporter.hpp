// The exporter: ringprobe's HTTP side door. One thread of its own, with its own epoll (the
// HttpServer), serving what the engine publishes without ever touching a probe worker:
//
//   GET /metrics         Prometheus text exposition 0.0.4 (metrics.hpp)
//   GET /backendhealth   the report as `ringprobe-report --format json` prints it;
//                        ?details=1 as with --details
//   GET /                the backend-health page; /troubleshoot?row=N (page.hpp)
//
// Everything comes from two places the workers already publish for any reader: the engine's
// single-writer counters (Engine::totals(), relaxed loads) and the shared-memory report, which
// the exporter maps read-only like ringprobe-report does. Rendering happens on the exporter's
// thread only; a slow client or a large page costs that thread and nothing else.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "engine/counters.hpp"
#include "exporter/http_server.hpp"
#include "exporter/metrics.hpp"
#include "exporter/page.hpp"
#include "exporter/probe_tally.hpp"
#include "report/reader.hpp"

namespace ringprobe::exporter {

// The documented default: loopback only, a port of ringprobe's own.
inline constexpr std::string_view kDefaultListen = "127.0.0.1:9470";

struct ExporterOptions {
    ListenAddress listen;
    ServerLimits limits;
    PageOptions page;
    std::string report_name;  // the report segment to serve (the engine's --name)
    bool per_server = false;  // per-row series in /metrics (--metrics-per-server)
    // ProbeTally sweep period; 0: half the shortest probe interval of the report, between
    // 100 ms and 10 s (a sweep of 50,000 targets costs ~18 ms of CPU). Also before each scrape.
    std::uint32_t sweep_ms = 0;
    // ringprobe_tls_cert_expiry_timestamp_seconds: at most this many rows (the first to expire)
    // unless per_server; and how old the copied certificate facts may get before a scrape copies
    // them again (the TlsFacts section is ~2 KiB per TLS target and changes only on a full
    // handshake).
    std::uint32_t tls_expiry_max = kTlsExpirySeriesMax;
    std::uint32_t tls_refresh_ms = 5000;
    // The page's pool-health picture: counts per pool and health sampled this often, the
    // newest pool_samples of them kept (10 s x 360: the last hour).
    std::uint32_t pool_sample_ms = 10'000;
    std::uint32_t pool_samples = 360;
};

using TotalsFn = std::function<engine::EngineTotals()>;

class Exporter {
public:
    // Binds the listening socket on the caller's thread (so a bad address or a port in use is
    // a start-up error), then starts the serving thread. totals may be empty (no engine).
    static Result<std::unique_ptr<Exporter>> start(ExporterOptions options, TotalsFn totals,
                                                   EngineFacts facts);
    ~Exporter();
    Exporter(const Exporter&) = delete;
    Exporter& operator=(const Exporter&) = delete;

    void stop();  // idempotent; joins the thread
    std::uint16_t port() const { return port_; }
    const ServerStats& server_stats() const { return server_->stats(); }

private:
    Exporter() = default;
    void run();
    HttpResponse handle(const HttpRequest& req);
    bool ensure_report();
    void sweep_if_due(std::uint64_t min_gap_ns);
    void sample_if_due();
    PagePictures pictures() const;
    HttpResponse metrics();
    HttpResponse backend_health(std::string_view query);
    HttpResponse events(std::string_view query);
    HttpResponse page(std::string_view query);
    HttpResponse troubleshoot(std::string_view query);
    const TlsExpiry* tls_expiry();

    ExporterOptions opt_;
    TotalsFn totals_;
    EngineFacts facts_;
    std::optional<HttpServer> server_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    // Owned by the serving thread.
    std::optional<report::Report> report_;
    std::optional<ProbeTally> tally_;
    std::optional<TlsExpiry> tls_expiry_;
    std::optional<PoolSamples> pool_samples_;
    std::vector<std::string> sampled_pools_;  // the pools pool_samples_ counts, by name
    std::uint64_t last_sample_ns_ = 0;
    std::uint64_t tls_copied_ns_ = 0;
    std::string report_error_ = "the report has not been opened yet";
    std::uint64_t next_open_ns_ = 0;
    std::uint64_t last_sweep_ns_ = 0;
    std::uint64_t sweep_gap_ns_ = 500'000'000ull;
};

}  // namespace ringprobe::exporter
