// Start-up, reload, signals and the control port of the fleet (everything but the serving loop).
#include "fleet.hpp"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>

#include "common/json.hpp"

namespace ringprobe::fleet {

namespace {

void log_line(const std::string& s) {
    std::fprintf(stderr, "ringprobe-fleet: %s\n", s.c_str());
    std::fflush(stderr);
}

std::string http_reply(int status, std::string_view reason, const std::string& body) {
    std::string r =
        "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size() + 1) +
        "\r\nConnection: close\r\n\r\n";
    return r + body + "\n";
}

// Descriptors: raise the soft limit to the hard one; the connection table is sized from it.
size_t raise_nofile() {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            ::getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    // Bounded so a huge hard limit does not reserve an absurd (if lazily mapped) table.
    return static_cast<size_t>(std::min<rlim_t>(rl.rlim_cur, rlim_t{1} << 22));
}

}  // namespace

Fleet::Fleet(Options options) : options_(std::move(options)) {
    stats_ = std::make_unique<WorkerStats[]>(options_.threads);
}

Fleet::~Fleet() {
    workers_.clear();
    for (auto& l : drop_syn_) {
        close_drop_syn(l);
    }
    for (auto& per_worker : listen_fds_) {
        for (int fd : per_worker) {
            ::close(fd);
        }
    }
    if (control_fd_ >= 0) {
        ::close(control_fd_);
    }
    if (signal_fd_ >= 0) {
        ::close(signal_fd_);
    }
}

std::shared_ptr<const Behaviours> Fleet::behaviours(uint64_t& generation) const {
    std::lock_guard lock(mu_);
    generation = generation_.load(std::memory_order_relaxed);
    return current_;
}

void Fleet::publish(std::shared_ptr<const Behaviours> next) {
    std::lock_guard lock(mu_);
    current_ = std::move(next);
    generation_.fetch_add(1, std::memory_order_release);
}

Result<void> Fleet::bind_listeners() {
    ports_ = options_.ports;
    listen_fds_.resize(options_.threads);
    for (size_t p = 0; p < ports_.size(); ++p) {
        for (uint32_t w = 0; w < options_.threads; ++w) {
            auto fd = listen_any(ports_[p], !options_.any_address);
            if (!fd) {
                return unexpected(fd.error());
            }
            listen_fds_[w].push_back(*fd);
            if (ports_[p] == 0) {
                // The first listener learns the port the kernel chose; the others join it.
                sockaddr_in sa{};
                socklen_t len = sizeof sa;
                ::getsockname(*fd, reinterpret_cast<sockaddr*>(&sa), &len);
                ports_[p] = ntohs(sa.sin_port);
            }
        }
    }
    std::set<uint16_t> distinct(ports_.begin(), ports_.end());
    if (distinct.size() != ports_.size()) {
        return error("--port: the same port is given twice");
    }
    return {};
}

Result<void> Fleet::bind_control() {
    if (!options_.control_enabled) {
        return {};
    }
    control_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(control_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(control_fd_, reinterpret_cast<const sockaddr*>(&options_.control),
               sizeof options_.control) != 0 ||
        ::listen(control_fd_, 128) != 0) {
        return error(std::string("--control: cannot listen: ") + std::strerror(errno));
    }
    socklen_t len = sizeof control_addr_;
    ::getsockname(control_fd_, reinterpret_cast<sockaddr*>(&control_addr_), &len);
    return {};
}

// Makes `next` the live behaviours: first the drop_syn listeners it adds (any failure leaves
// everything as it was), then the swap, then the listeners it no longer needs go.
Result<void> Fleet::apply(std::shared_ptr<const Behaviours> next) {
    auto wanted = next->drop_syn_endpoints(ports_);
    if (!wanted) {
        return unexpected(wanted.error());
    }
    std::set<Endpoint> want(wanted->begin(), wanted->end());
    std::set<Endpoint> have;
    for (const auto& l : drop_syn_) {
        have.insert(l.endpoint);
    }
    std::vector<DropSynListener> added;
    for (const Endpoint& e : want) {
        if (have.count(e) != 0) {
            continue;
        }
        auto fd = listen_drop_syn(e);
        if (!fd) {
            for (auto& l : added) {
                close_drop_syn(l);
            }
            return unexpected(fd.error());
        }
        added.push_back(DropSynListener{e, *fd, {}});
    }
    std::vector<DropSynListener*> to_fill;
    for (auto& l : added) {
        to_fill.push_back(&l);
    }
    fill_backlogs(to_fill);
    publish(std::move(next));
    std::vector<DropSynListener> kept;
    for (auto& l : drop_syn_) {
        if (want.count(l.endpoint) != 0) {
            kept.push_back(std::move(l));
        } else {
            close_drop_syn(l);
        }
    }
    for (auto& l : added) {
        kept.push_back(std::move(l));
    }
    drop_syn_ = std::move(kept);
    return {};
}

Result<void> Fleet::start() {
    size_t conns_max = raise_nofile();
    if (auto r = bind_listeners(); !r) {
        return r;
    }
    counters_ = std::make_unique<Counters>(ports_);
    if (auto r = bind_control(); !r) {
        return r;
    }
    std::shared_ptr<const Behaviours> initial = default_behaviours();
    if (!options_.behaviours_path.empty()) {
        auto loaded = load_behaviours(options_.behaviours_path);
        if (!loaded) {
            return unexpected(loaded.error());
        }
        initial = *loaded;
    }
    if (auto r = apply(std::move(initial)); !r) {
        return r;
    }

    // Signals go to worker 0 through a signalfd; every thread inherits the blocked mask.
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGHUP, SIGUSR1, SIGTERM, SIGINT}) {
        sigaddset(&set, s);
    }
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) {
        return error(std::string("signalfd: ") + std::strerror(errno));
    }

    for (uint32_t w = 0; w < options_.threads; ++w) {
        workers_.push_back(std::make_unique<Worker>(*this, w, listen_fds_[w]));
        if (auto r = workers_.back()->init(conns_max); !r) {
            return r;
        }
    }
    workers_[0]->add_control(control_fd_, signal_fd_);

    for (uint16_t p : ports_) {
        std::printf("port %u\n", unsigned{p});
    }
    if (control_fd_ >= 0) {
        std::printf("control %s\n", endpoint_text(ntohl(control_addr_.sin_addr.s_addr),
                                                  ntohs(control_addr_.sin_port))
                                        .c_str());
    }
    std::printf("ready\n");
    std::fflush(stdout);
    return {};
}

int Fleet::run() {
    std::vector<std::thread> threads;
    for (size_t w = 1; w < workers_.size(); ++w) {
        threads.emplace_back([this, w] { workers_[w]->run(); });
    }
    workers_[0]->run();
    for (auto& t : threads) {
        t.join();
    }
    return 0;
}

void Fleet::reload() {
    if (options_.behaviours_path.empty()) {
        log_line("SIGHUP ignored: no --behaviours file to re-read");
        return;
    }
    auto next = load_behaviours(options_.behaviours_path);
    Result<void> applied = next ? apply(*next) : Result<void>(error(next.error().message));
    if (!applied) {
        reload_failures_++;
        last_reload_error_ = applied.error().message;
        log_line("reload failed, keeping generation " +
                 std::to_string(generation_.load(std::memory_order_relaxed)) + ": " +
                 last_reload_error_);
        return;
    }
    log_line("reloaded " + options_.behaviours_path + " (generation " +
             std::to_string(generation_.load(std::memory_order_relaxed)) + ", " +
             std::to_string(drop_syn_.size()) + " drop_syn listeners)");
}

void Fleet::on_signal(int signo) {
    switch (signo) {
        case SIGHUP: reload(); return;
        case SIGUSR1:
            std::printf("%s\n", counters_->to_json(false).c_str());
            std::fflush(stdout);
            return;
        case SIGTERM:
        case SIGINT:
            stop_.store(true, std::memory_order_relaxed);
            for (auto& w : workers_) {
                w->wake();
            }
            return;
        default: return;
    }
}

std::string Fleet::stats_json() {
    constexpr int fields_n = 9;
    uint64_t sums[fields_n] = {};
    for (uint32_t w = 0; w < options_.threads; ++w) {
        const WorkerStats& s = stats_[w];
        const std::atomic<uint64_t>* fields[fields_n] = {
            &s.accepted,  &s.answered,      &s.active,  &s.idle_closed, &s.bad_requests,
            &s.peer_gone, &s.accept_errors, &s.wakeups, &s.read_waits};
        for (int i = 0; i < fields_n; ++i) {
            sums[i] += fields[i]->load(std::memory_order_relaxed);
        }
    }
    // The control connection serving this request is itself one of the active ones.
    const char* names[fields_n] = {"accepted",      "answered",     "active",
                                   "idle_closed",   "bad_requests", "peer_gone",
                                   "accept_errors", "wakeups",      "read_waits"};
    std::string out = "{";
    for (int i = 0; i < fields_n; ++i) {
        out += "\"" + std::string(names[i]) + "\":" + std::to_string(sums[i]) + ",";
    }
    out += "\"generation\":" + std::to_string(generation_.load(std::memory_order_relaxed));
    out += ",\"reload_failures\":" + std::to_string(reload_failures_);
    out += ",\"last_reload_error\":";
    append_json_string(out, last_reload_error_);
    out += ",\"drop_syn_listeners\":" + std::to_string(drop_syn_.size());
    out += ",\"threads\":" + std::to_string(options_.threads) + ",\"ports\":[";
    for (size_t i = 0; i < ports_.size(); ++i) {
        out += (i == 0 ? "" : ",") + std::to_string(ports_[i]);
    }
    return out + "]}";
}

// GET /health, /stats, /counts[?reset=1], /sni[?reset=1], POST or GET /reload (the same as
// SIGHUP, but the answer says whether it worked).
std::string Fleet::control(std::string_view request) {
    auto line_end = request.find_first_of("\r\n");
    std::string_view line = request.substr(0, line_end);
    auto sp1 = line.find(' ');
    auto sp2 = line.find(' ', sp1 == std::string_view::npos ? line.size() : sp1 + 1);
    if (sp1 == std::string_view::npos) {
        return http_reply(400, "Bad Request", "{\"error\":\"bad request line\"}");
    }
    std::string_view target = line.substr(
        sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1);
    if (target == "/health") {
        return http_reply(200, "OK", "{\"status\":\"ok\"}");
    }
    if (target == "/stats") {
        return http_reply(200, "OK", stats_json());
    }
    if (target == "/counts" || target == "/counts?reset=1") {
        return http_reply(200, "OK", counters_->to_json(target != "/counts"));
    }
    if (target == "/requests" || target == "/requests?reset=1") {
        return http_reply(200, "OK", counters_->requests_json(target != "/requests"));
    }
    if (target == "/sni" || target == "/sni?reset=1") {
        return http_reply(200, "OK", sni_log_.to_json(target != "/sni"));
    }
    if (target == "/reload") {
        uint64_t failures = reload_failures_;
        reload();
        if (reload_failures_ != failures) {
            std::string body = "{\"ok\":false,\"error\":";
            append_json_string(body, last_reload_error_);
            return http_reply(500, "Reload Failed", body + "}");
        }
        return http_reply(
            200, "OK", "{\"ok\":true,\"generation\":" + std::to_string(generation_.load()) + "}");
    }
    return http_reply(404, "Not Found",
                      "{\"error\":\"unknown path; try /health, /stats, /counts, /counts?reset=1, "
                      "/requests, /sni, /sni?reset=1, /reload\"}");
}

}  // namespace ringprobe::fleet
