// The exporter (see exporter.hpp): the serving thread's loop and the routes.
#include "exporter/exporter.hpp"

#include <algorithm>
#include <charconv>

#include "common/clock.hpp"
#include "common/json.hpp"
#include "report/render.hpp"
#include "report/text.hpp"

namespace ringprobe::exporter {

namespace {

constexpr std::uint64_t kReopenGapNs = 1'000'000'000ull;  // a missing report is retried each s
constexpr std::uint64_t kScrapeSweepGapNs = 100'000'000ull;

HttpResponse text(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

}  // namespace

Result<std::unique_ptr<Exporter>> Exporter::start(ExporterOptions options, TotalsFn totals,
                                                  EngineFacts facts) {
    std::unique_ptr<Exporter> e(new Exporter());
    e->opt_ = std::move(options);
    e->totals_ = std::move(totals);
    e->facts_ = std::move(facts);
    Exporter* self = e.get();
    auto server = HttpServer::listen(e->opt_.listen, e->opt_.limits,
                                     [self](const HttpRequest& r) { return self->handle(r); });
    if (!server) {
        return unexpected(server.error());
    }
    e->server_.emplace(std::move(*server));
    e->port_ = e->server_->port();
    e->thread_ = std::thread([self] { self->run(); });
    return e;
}

Exporter::~Exporter() {
    stop();
}

void Exporter::stop() {
    if (!thread_.joinable()) {
        return;
    }
    stop_.store(true, std::memory_order_release);
    server_->wake();
    thread_.join();
}

void Exporter::run() {
    while (!stop_.load(std::memory_order_acquire)) {
        const std::uint64_t gap_ns =
            std::min<std::uint64_t>(sweep_gap_ns_, opt_.pool_sample_ms * 1'000'000ull);
        server_->poll(static_cast<int>(gap_ns / 1'000'000ull));
        sweep_if_due(sweep_gap_ns_);
        sample_if_due();
    }
}

// One pool-health sample when the cadence says so. A report whose pools differ from the ones
// sampled (a reload that renamed, added or removed a pool) starts the ring again: a sample's
// counts are by pool index.
void Exporter::sample_if_due() {
    const std::uint64_t now = monotonic_ns();
    if ((last_sample_ns_ != 0 && now - last_sample_ns_ < opt_.pool_sample_ms * 1'000'000ull) ||
        !ensure_report()) {
        return;
    }
    last_sample_ns_ = now;
    const report::StaticInfo& info = report_->info();
    std::vector<std::string> names;
    names.reserve(info.pools.size());
    for (const report_abi::PoolRecord& p : info.pools) {
        names.emplace_back(info.str(p.name));
    }
    if (!pool_samples_ || names != sampled_pools_) {
        pool_samples_.emplace(names.size(), std::max<std::uint32_t>(1, opt_.pool_samples));
        sampled_pools_ = std::move(names);
    }
    report::SnapshotOptions so;
    so.dns = false;
    so.tls_facts = false;
    const report::Snapshot snap = report_->snapshot(so);
    pool_samples_->add(snap.now_unix_ns, count_pool_health(snap));
}

PagePictures Exporter::pictures() const {
    PagePictures p;
    if (pool_samples_ && pool_samples_->pools() == report_->info().pools.size()) {
        p.samples = &*pool_samples_;
    }
    p.window_ns = std::uint64_t{opt_.pool_sample_ms} *
                  std::max<std::uint32_t>(1, opt_.pool_samples) * 1'000'000ull;
    const report::Report* r = &*report_;
    p.history = [r](std::uint32_t target, report_abi::HistoryEntry* out) {
        return r->copy_history(target, out);
    };
    return p;
}

bool Exporter::ensure_report() {
    if (report_ && !report_->superseded()) {
        return true;
    }
    const std::uint64_t now = monotonic_ns();
    if (!report_ && now < next_open_ns_) {
        return false;
    }
    next_open_ns_ = now + kReopenGapNs;
    auto r = report::Report::open(opt_.report_name);
    if (!r) {
        report_error_ = r.error().message;
        report_.reset();
        tally_.reset();
        tls_expiry_.reset();
        return false;
    }
    report_.emplace(std::move(*r));
    tally_.emplace(report_->info());  // a new segment: counters restart (a counter reset)
    tls_expiry_.reset();
    std::uint64_t sweep_ms = opt_.sweep_ms;
    if (sweep_ms == 0) {
        std::uint32_t shortest = 20'000;
        for (const report_abi::TargetRecord& t : report_->info().targets) {
            shortest = std::min(shortest, t.interval_ms);
        }
        sweep_ms = std::clamp<std::uint32_t>(shortest / 2, 100, 10'000);
    }
    sweep_gap_ns_ = sweep_ms * 1'000'000ull;
    last_sweep_ns_ = 0;
    return true;
}

void Exporter::sweep_if_due(std::uint64_t min_gap_ns) {
    const std::uint64_t now = monotonic_ns();
    if (now - last_sweep_ns_ < min_gap_ns || !ensure_report()) {
        return;
    }
    tally_->sweep(*report_);
    last_sweep_ns_ = now;
}

HttpResponse Exporter::handle(const HttpRequest& req) {
    if (req.path == "/metrics") {
        return metrics();
    }
    if (req.path == "/backendhealth") {
        return backend_health(req.query);
    }
    if (req.path == "/" || req.path == "/index.html") {
        return page(req.query);
    }
    if (req.path == "/troubleshoot") {
        return troubleshoot(req.query);
    }
    if (req.path == "/events") {
        return events(req.query);
    }
    return text(404, "not found: try /, /metrics, /backendhealth or /events\n");
}

HttpResponse Exporter::metrics() {
    sweep_if_due(kScrapeSweepGapNs);
    std::optional<engine::EngineTotals> totals;
    if (totals_) {
        totals.emplace(totals_());
    }
    std::optional<report::Snapshot> snap;
    const TlsExpiry* expiry = nullptr;
    if (ensure_report()) {
        report::SnapshotOptions so;
        so.dns = false;  // /metrics needs the resolver's counters, not every name and address
        so.tls_facts = false;
        snap.emplace(report_->snapshot(so));
        expiry = tls_expiry();
    }
    MetricsInput in;
    in.totals = totals ? &*totals : nullptr;
    in.facts = totals_ ? &facts_ : nullptr;
    in.snap = snap ? &*snap : nullptr;
    in.tally = snap && tally_ ? &*tally_ : nullptr;
    in.server = &server_->stats();
    in.per_server = opt_.per_server;
    in.tls_expiry = expiry;
    in.tls_expiry_max = opt_.tls_expiry_max;
    HttpResponse r;
    r.content_type = kMetricsContentType;
    r.body = render_metrics(in);
    return r;
}

// The certificate expiry per TLS slot, copied from the report at most every tls_refresh_ms
// (serving thread only). Null when the report has no TLS target.
const TlsExpiry* Exporter::tls_expiry() {
    if (report_->info().tls == 0) {
        return nullptr;
    }
    const std::uint64_t now = monotonic_ns();
    if (!tls_expiry_ || now - tls_copied_ns_ >= opt_.tls_refresh_ms * 1'000'000ull) {
        report::SnapshotOptions so;
        so.dns = false;
        tls_expiry_.emplace(tls_expiry_of(report_->snapshot(so)));
        tls_copied_ns_ = now;
    }
    return &*tls_expiry_;
}

HttpResponse Exporter::backend_health(std::string_view query) {
    if (!ensure_report()) {
        HttpResponse r = text(503, "{\"error\": \"");
        append_json_escaped(r.body, report_error_);
        r.body += "\"}\n";
        r.content_type = "application/json";
        return r;
    }
    report::RenderOptions o;
    o.format = report::Format::Json;
    const auto details = query_param(query, "details");
    o.details = details && (*details == "1" || *details == "true" || details->empty());
    HttpResponse r;
    r.content_type = "application/json";
    report::SnapshotOptions so;
    so.history = o.details;  // ringprobe.history, as ringprobe-report --details carries it
    r.body = report::render_json(report_->snapshot(so), o);
    return r;
}

// The engine's event log as `ringprobe-report --events --format json` prints it; ?since=10m
// and ?pool=NAME narrow it the same way.
HttpResponse Exporter::events(std::string_view query) {
    HttpResponse r;
    r.content_type = "application/json";
    if (!ensure_report()) {
        r = text(503, "{\"error\": \"");
        append_json_escaped(r.body, report_error_);
        r.body += "\"}\n";
        r.content_type = "application/json";
        return r;
    }
    report::SnapshotOptions so;
    so.events = true;
    so.dns = false;
    so.tls_facts = false;
    const report::Snapshot snap = report_->snapshot(so);
    report::EventFilter f;
    const auto pool = query_param(query, "pool");
    if (pool) {
        f.pool = *pool;
    }
    if (const auto since = query_param(query, "since"); since && !since->empty()) {
        std::uint64_t ns = 0;
        if (!report::parse_since(*since, ns)) {
            r = text(400, "{\"error\": \"since: give a number and a unit: 90s, 10m, 2h, 1d\"}\n");
            r.content_type = "application/json";
            return r;
        }
        f.since_unix_ns = snap.now_unix_ns > ns ? snap.now_unix_ns - ns : 0;
    }
    r.body = report::render_events(snap, f, report::Format::Json, false);
    return r;
}

HttpResponse Exporter::page(std::string_view query) {
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    if (!ensure_report()) {
        r.status = 503;
        r.body = render_unavailable(report_error_, opt_.page);
        return r;
    }
    report::SnapshotOptions so;
    so.events = true;  // the recent events under the pictures
    r.body = render_page(report_->snapshot(so), parse_page_query(query), opt_.page, pictures());
    return r;
}

HttpResponse Exporter::troubleshoot(std::string_view query) {
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    if (!ensure_report()) {
        r.status = 503;
        r.body = render_unavailable(report_error_, opt_.page);
        return r;
    }
    const auto row = query_param(query, "row");
    std::uint32_t n = 0;
    if (!row || std::from_chars(row->data(), row->data() + row->size(), n).ec != std::errc{}) {
        return text(404, "troubleshoot needs ?row=N, a row of the report\n");
    }
    auto body =
        render_troubleshoot(report_->snapshot(report::SnapshotOptions{}), n, opt_.page, pictures());
    if (!body) {
        return text(404, "no such row in the report\n");
    }
    r.body = std::move(*body);
    return r;
}

}  // namespace ringprobe::exporter
