// fleet_load: how many short HTTP connections per second ringprobe-fleet sustains, and how much
// of its CPU each one costs. Each client connection: connect to 127.1.x.y:P (spread over
// --addresses backends), send a GET, read until the fleet closes, check "HTTP/1.1 200", close,
// start the next one. Epoll, --concurrency connections in flight per client thread.
//
// The figure that matters is the fleet's CPU per connection (utime + stime of its process from
// /proc, over the run): 1e6 / that is what one fleet core could sustain, whatever the client
// costs on the same machine. Not a Google Benchmark: a connection rate against a separate
// process does not fit its per-iteration model.
//
//   fleet_load --spawn [--fleet-threads 1] [--duration-ms 3000] [--concurrency 64]
//   fleet_load --port P --pid PID ...      (an already running fleet; --help lists the flags)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/command_line.hpp"
#include "support/fleet_process.hpp"

namespace {

namespace command_line = ringprobe::command_line;
using Clock = std::chrono::steady_clock;

struct Config {
    bool spawn = false;
    uint16_t port = 0;
    pid_t pid = 0;
    uint32_t fleet_threads = 1;
    uint32_t client_threads = 1;
    uint32_t concurrency = 64;
    uint32_t addresses = 1024;
    uint32_t duration_ms = 3000;
};

struct Totals {
    std::atomic<uint64_t> ok{0};
    std::atomic<uint64_t> failed{0};
};

constexpr char request[] = "GET / HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n";

// Process CPU time (user + system) in microseconds, from /proc/PID/stat; -1 if unknown.
int64_t cpu_us(pid_t pid) {
    if (pid <= 0) {
        return -1;
    }
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close_paren = text.rfind(')');
    if (close_paren == std::string::npos) {
        return -1;
    }
    std::istringstream fields(text.substr(close_paren + 2));
    std::string f;
    uint64_t utime = 0;
    uint64_t stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
        if (i == 14) {
            utime = std::stoull(f);
        }
        if (i == 15) {
            stime = std::stoull(f);
        }
    }
    long hz = ::sysconf(_SC_CLK_TCK);
    return static_cast<int64_t>((utime + stime) * 1000000 / static_cast<uint64_t>(hz));
}

struct Client {
    int fd = -1;
    bool sent = false;
    uint32_t got = 0;
    char head[16] = {};
};

void client_loop(const Config& cfg, uint32_t index, Clock::time_point end, Totals& totals) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<Client> clients(cfg.concurrency);
    uint32_t next_addr = index * 7919;
    auto start_one = [&](uint32_t slot) {
        Client& c = clients[slot];
        c = Client{};
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) {
            totals.failed.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        uint32_t a = next_addr++ % cfg.addresses;
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(cfg.port);
        sa.sin_addr.s_addr = htonl(((127u << 24) | (1u << 16)) + 1 + a);  // 127.1.0.1 onwards
        ::connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.u32 = slot;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    };
    auto finish = [&](uint32_t slot, bool ok) {
        Client& c = clients[slot];
        ::close(c.fd);
        c.fd = -1;
        (ok ? totals.ok : totals.failed).fetch_add(1, std::memory_order_relaxed);
        if (Clock::now() < end) {
            start_one(slot);
        }
    };
    for (uint32_t i = 0; i < cfg.concurrency; ++i) {
        start_one(i);
    }
    epoll_event events[256];
    char buf[4096];
    for (;;) {
        bool any = false;
        for (const Client& c : clients) {
            any = any || c.fd >= 0;
        }
        if (!any) {
            break;
        }
        int n = ::epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; ++i) {
            uint32_t slot = events[i].data.u32;
            Client& c = clients[slot];
            if (c.fd < 0) {
                continue;
            }
            if (!c.sent) {
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0 || ::send(c.fd, request, sizeof request - 1, MSG_NOSIGNAL) !=
                                    static_cast<ssize_t>(sizeof request - 1)) {
                    finish(slot, false);
                    continue;
                }
                c.sent = true;
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.u32 = slot;
                ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
                continue;
            }
            ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
            if (r > 0) {
                for (ssize_t k = 0; k < r && c.got < sizeof c.head; ++k) {
                    c.head[c.got++] = buf[k];
                }
                continue;
            }
            if (r < 0 && errno == EAGAIN) {
                continue;
            }
            finish(slot, r == 0 && c.got >= 12 && std::memcmp(c.head, "HTTP/1.1 200", 12) == 0);
        }
    }
    ::close(ep);
}

// Returns command_line::kContinue to go on, else the exit status (0 after --help, 2 bad usage).
int parse(int argc, char** argv, Config& cfg) {
    CLI::App app(
        "Connections per second ringprobe-fleet sustains, and its CPU per connection:\n"
        "--spawn starts a fleet, --port P [--pid PID] uses a running one.",
        "fleet_load");
    command_line::configure(app);
    app.add_flag("--spawn", cfg.spawn, "start a fleet of its own on a kernel-chosen port");
    command_line::add_number(app, "--port", cfg.port, uint16_t{1}, uint16_t{65535},
                             "the running fleet's port", "P");
    command_line::add_number(app, "--pid", cfg.pid, pid_t{1}, std::numeric_limits<pid_t>::max(),
                             "the running fleet's process, whose CPU time is read", "PID");
    command_line::add_number(app, "--fleet-threads", cfg.fleet_threads, 1u, 256u,
                             "with --spawn: the fleet's worker threads (default 1)");
    command_line::add_number(app, "--client-threads", cfg.client_threads, 1u, 256u,
                             "client threads, each with its own epoll (default 1)");
    command_line::add_number(app, "--concurrency", cfg.concurrency, 1u, 1u << 20,
                             "connections in flight per client thread (default 64)");
    command_line::add_number(app, "--addresses", cfg.addresses, 1u, 65024u,
                             "backends 127.1.x.y the connections are spread over (default 1024)");
    command_line::add_number(app, "--duration-ms", cfg.duration_ms, 1u, 86400000u,
                             "how long to run (default 3000)", "MS");
    if (int rc = command_line::parse(app, argc, argv); rc != command_line::kContinue) {
        return rc;
    }
    if (!cfg.spawn && cfg.port == 0) {
        std::fprintf(stderr, "fleet_load: give --spawn or --port P (see --help)\n");
        return command_line::kExitUsage;
    }
    return command_line::kContinue;
}

}  // namespace

int main(int argc, char** argv) {
    Config cfg;
    if (int rc = parse(argc, argv, cfg); rc != command_line::kContinue) {
        return rc;
    }
    std::optional<ringprobe::test::FleetProcess> fleet;
    if (cfg.spawn) {
        ringprobe::test::FleetOptions o;
        o.threads = cfg.fleet_threads;
        auto f = ringprobe::test::FleetProcess::start(R"({"default": {"kind": "http"}})", o);
        if (!f) {
            std::fprintf(stderr, "fleet_load: %s\n", f.error().message.c_str());
            return 1;
        }
        fleet.emplace(std::move(*f));
        cfg.port = fleet->port();
        cfg.pid = fleet->pid();
    }
    int64_t cpu0 = cpu_us(cfg.pid);
    auto t0 = Clock::now();
    auto end = t0 + std::chrono::milliseconds(cfg.duration_ms);
    Totals totals;
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < cfg.client_threads; ++t) {
        threads.emplace_back([&, t] { client_loop(cfg, t, end, totals); });
    }
    for (auto& t : threads) {
        t.join();
    }
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    int64_t cpu1 = cpu_us(cfg.pid);
    uint64_t ok = totals.ok.load();
    std::printf("connections %llu failed %llu seconds %.2f rate %.0f/s\n",
                static_cast<unsigned long long>(ok),
                static_cast<unsigned long long>(totals.failed.load()), seconds, ok / seconds);
    if (cpu0 >= 0 && cpu1 >= 0 && ok > 0) {
        double cpu_s = static_cast<double>(cpu1 - cpu0) / 1e6;
        double us = cpu_s * 1e6 / static_cast<double>(ok);
        std::printf(
            "fleet cpu %.2f s = %.1f%% of one core, %.2f us per connection "
            "(one core would sustain ~%.0f/s)\n",
            cpu_s, 100.0 * cpu_s / seconds, us, us > 0 ? 1e6 / us : 0.0);
    }
    if (fleet) {
        auto stats = fleet->stats();
        if (stats) {
            std::printf("fleet accepted %llu answered %llu\n",
                        static_cast<unsigned long long>((*stats)["accepted"]),
                        static_cast<unsigned long long>((*stats)["answered"]));
        }
    }
    return totals.failed.load() == 0 && ok > 0 ? 0 : 1;
}
