// ringprobe-floor: the kernel's own cost of a probe on this machine, for ringprobe-bench.
//
// It does only what every prober must do and nothing else: socket, connect, send, recv and
// close, all through one io_uring, batched. No health state, no report, no timer wheel, no
// parser beyond the status code and Content-Length. Whatever CPU it spends per probe is the
// floor that ringprobe (and HAProxy) are compared with (issue #8).
//
// It uses what ringprobe uses, so that the ratio between them is ringprobe's own cost: the
// probe is one linked chain (socket -> TCP_QUICKACK 0 -> connect -> send -> recv) on a direct
// descriptor (an entry of the ring's file table, no process descriptor), the handshake's last
// ACK rides on the request, and the loop wakes at most once per quantum (1 ms), where every
// start that fell due and every completion are handled together. --descriptors plain,
// --delayed-ack off and --quantum-us 0 turn each off (0: wake for each start and completion).
//
// Schedule: N targets, one probe each per interval, spread evenly: probe number k (k = 0, 1,
// ...) goes to target k % N and is due at start + k * interval / N. Nothing drifts because
// the due time is computed from k, never from a completion. A target whose previous probe is
// still in flight when it is due is skipped (counted), so a target never has two probes.
//
// Deadlines: every probe has the same timeout, so the order in which probes start is also
// the order of their deadlines, and a FIFO is a complete timer set. An expired probe gets one
// IORING_OP_ASYNC_CANCEL on its fd; its SQEs complete with -ECANCELED and it is closed.
//
// At exit it prints one line to stderr, shaped like `ringprobe run --stats`:
//   floor: targets=.. seconds=.. probes_started=.. probes_completed=.. ok=.. ... lateness_us_p50=..
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/command_line.hpp"
#include "common/host_port.hpp"
#include "engine/probe_sqe.hpp"

namespace {

namespace command_line = ringprobe::command_line;

#define FLOOR_ASSERT(expr)                                                                 \
    do {                                                                                   \
        if (!(expr)) [[unlikely]] {                                                        \
            std::fprintf(stderr, "ringprobe-floor: assertion failed: %s (%s:%d)\n", #expr, \
                         __FILE__, __LINE__);                                              \
            std::abort();                                                                  \
        }                                                                                  \
    } while (0)

constexpr const char* kDescription =
    "The io_uring floor of ringprobe-bench: probes every target once per interval, spread\n"
    "evenly, doing only socket, connect, send, recv and close through io_uring, and prints its\n"
    "own counts and probe-start lateness to stderr at exit. Targets: --targets FILE, or\n"
    "--first ADDR --count N; --port is required.";

// k * interval can pass 2^64 on long runs; the product needs 128 bits.
__extension__ typedef unsigned __int128 u128;

enum class Op : uint8_t { Socket, Connect, Send, Recv, Close, Cancel, SockOpt };

enum class Outcome : uint8_t {
    Pending,
    Ok,
    Refused,
    Reset,
    Timeout,
    BadResponse,
    OtherError,
    ProberError,
    Count
};
constexpr std::array<const char*, static_cast<size_t>(Outcome::Count)> outcome_names = {
    "pending", "ok", "refused", "reset", "timeout", "bad_response", "other_error", "prober_errors"};

struct Options {
    std::vector<in_addr> targets;
    uint16_t port = 0;
    bool http = true;
    std::string host = "bench.ringprobe";
    std::string path = "/";
    uint32_t interval_ms = 1000;
    uint32_t timeout_ms = 1000;
    double duration_s = 0;  // 0 = until a signal
    bool reset_close = false;
    bool socket_syscall = false;
    uint32_t batch_max = 4096;
    uint32_t inflight_max = 0;
    uint32_t quantum_us = 1000;
    bool direct = true;     // sockets in the ring's file table (IORING_OP_SOCKET direct)
    bool delay_ack = true;  // TCP_QUICKACK 0 before the connect (plain HTTP)
};

// One probe in flight. The receive buffer only needs the status line and the header block of
// the fleet's short answers; a longer answer is judged on what fits.
struct Ctx {
    uint32_t target = 0;
    uint32_t generation = 0;
    int fd = -1;             // a descriptor, or the context's file-table entry (direct)
    bool installed = false;  // the direct socket is in its table entry: close it there
    uint8_t pending = 0;     // SQEs naming this context that have not completed
    bool timed_out = false;
    bool complete = false;  // the answer has been read in full (or the connect done, for tcp)
    Outcome outcome = Outcome::Pending;
    uint16_t got = 0;
    uint64_t deadline_ns = 0;
    char buf[464];
};

struct Deadline {
    uint32_t ctx;
    uint32_t generation;
    uint64_t at_ns;
};

// Probe-start lateness in microseconds: exact 1 µs buckets up to 64 ms, then one overflow
// bucket (and the maximum kept exactly).
class Lateness {
public:
    void record(uint64_t us) {
        counts_[std::min<uint64_t>(us, counts_.size() - 1)] += 1;
        total_ += 1;
        max_us_ = std::max(max_us_, us);
    }
    uint64_t quantile(double q) const {
        if (total_ == 0) {
            return 0;
        }
        const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
        uint64_t seen = 0;
        for (size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                return i + 1 == counts_.size() ? max_us_ : i;
            }
        }
        return max_us_;
    }
    uint64_t max_us() const { return max_us_; }

private:
    std::vector<uint64_t> counts_ = std::vector<uint64_t>(65536 + 1);
    uint64_t total_ = 0;
    uint64_t max_us_ = 0;
};

volatile sig_atomic_t stop_requested = 0;

void on_signal(int) {
    stop_requested = 1;
}

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t pack(uint32_t ctx, uint32_t generation, Op op) {
    return (static_cast<uint64_t>(ctx) << 32) |
           (static_cast<uint64_t>(generation & 0xffffff) << 8) | static_cast<uint64_t>(op);
}

// ---- Arguments ---------------------------------------------------------------------------

bool read_targets(const char* path, std::vector<in_addr>& out) {
    std::ifstream in(path);
    if (!in) {
        return false;
    }
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        in_addr a{};
        if (inet_pton(AF_INET, line.c_str(), &a) != 1) {
            std::fprintf(stderr, "ringprobe-floor: %s: '%s' is not an IPv4 address\n", path,
                         line.c_str());
            return false;
        }
        out.push_back(a);
    }
    return true;
}

void consecutive_targets(in_addr first, uint32_t count, std::vector<in_addr>& out) {
    uint32_t a = ntohl(first.s_addr);
    while (out.size() < count) {
        const uint32_t low = a & 0xff;
        if (low != 0 && low != 255) {
            out.push_back(in_addr{htonl(a)});
        }
        a += 1;
    }
}

[[noreturn]] void usage_error(const std::string& what) {
    std::fprintf(stderr, "ringprobe-floor: %s (see --help)\n", what.c_str());
    std::exit(2);
}

// --first ADDR: one IPv4 address, no port (the floor probes IPv4 only).
CLI::Validator ipv4_address() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            auto hp = ringprobe::parse_host_port(s);
            return hp && !hp->ipv6 && !hp->has_port ? std::string()
                                                    : "takes an IPv4 address, not '" + s + "'";
        },
        "", "");
}

// --duration SECS: a positive number of seconds, fractions allowed.
CLI::Validator positive_seconds() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            char* end = nullptr;
            const double v = std::strtod(s.c_str(), &end);
            return end != s.c_str() && *end == '\0' && v > 0
                       ? std::string()
                       : "takes a number of seconds above 0, not '" + s + "'";
        },
        "", "");
}

void add_probe_flags(CLI::App& app, Options& o, uint32_t& port) {
    command_line::add_number(app, "--port", port, 1u, 65535u, "destination port", "P")->required();
    command_line::add_choice(app, "--kind", o.http, {{"http", true}, {"tcp", false}},
                             "http: send the request and read the answer (default); tcp:\n"
                             "connect");
    app.add_option("--host", o.host, "Host header of the default request (default bench.ringprobe)")
        ->type_name("NAME");
    app.add_option("--path", o.path, "request target of the default request (default /)")
        ->type_name("PATH");
    command_line::add_number(app, "--interval-ms", o.interval_ms, 1u, 86400000u,
                             "time between two probes of one target (default 1000)", "MS");
    command_line::add_number(app, "--timeout-ms", o.timeout_ms, 1u, 86400000u,
                             "a probe without an answer within this fails (default 1000)", "MS");
    app.add_option("--duration", o.duration_s,
                   "stop after this long (default: until SIGTERM or SIGINT)")
        ->check(positive_seconds())
        ->type_name("SECS");
    command_line::add_choice(app, "--close", o.reset_close, {{"graceful", false}, {"reset", true}},
                             "reset: SO_LINGER 0, close sends RST (default graceful)");
    command_line::add_choice(app, "--socket", o.socket_syscall,
                             {{"uring", false}, {"syscall", true}},
                             "create sockets with IORING_OP_SOCKET (default) or socket(2)");
    command_line::add_number(app, "--batch-max", o.batch_max, 1u, 1u << 20,
                             "most probes started per loop turn (default 4096)");
    command_line::add_number(app, "--inflight-max", o.inflight_max, 1u, 1u << 24,
                             "most probes in flight at once (default: min(N, fd limit - 64))");
    command_line::add_number(app, "--quantum-us", o.quantum_us, 0u, 1000000u,
                             "wake at most once per this many microseconds while probes are\n"
                             "in flight (default 1000); 0: wake for each start and completion",
                             "US");
    command_line::add_choice(app, "--descriptors", o.direct, {{"direct", true}, {"plain", false}},
                             "direct: sockets in the ring's file table (default); plain:\n"
                             "process descriptors");
    command_line::add_choice(app, "--delayed-ack", o.delay_ack, {{"on", true}, {"off", false}},
                             "on: TCP_QUICKACK 0 before an HTTP connect (default)");
}

// Exits 0 after --help and 2 for bad usage, naming the flag.
Options parse_args(int argc, char** argv) {
    Options o;
    std::string targets_path;
    std::string first_text;
    uint32_t count = 0;
    uint32_t port = 0;
    CLI::App app(kDescription, "ringprobe-floor");
    command_line::configure(app);
    app.add_option("--targets", targets_path, "IPv4 addresses, one per line")->type_name("FILE");
    app.add_option("--first", first_text,
                   "first IPv4 address of a run of consecutive addresses ...")
        ->check(ipv4_address())
        ->type_name("ADDR");
    command_line::add_number(app, "--count", count, 1u, 16000000u,
                             "... this many of them, skipping those ending in .0 and .255");
    add_probe_flags(app, o, port);
    if (int rc = command_line::parse(app, argc, argv); rc != command_line::kContinue) {
        std::exit(rc);
    }
    if (!targets_path.empty() && !read_targets(targets_path.c_str(), o.targets)) {
        usage_error("--targets: cannot read IPv4 addresses from '" + targets_path + "'");
    }
    if (!first_text.empty()) {
        if (count == 0) {
            usage_error("--first needs --count");
        }
        in_addr first{};
        inet_pton(AF_INET, first_text.c_str(), &first);
        consecutive_targets(first, count, o.targets);
    }
    if (o.targets.empty()) {
        usage_error("no targets: give --targets FILE or --first ADDR --count N");
    }
    o.port = static_cast<uint16_t>(port);
    return o;
}

// Raises the soft descriptor limit to the hard one and returns how many probes may be in
// flight: one descriptor each, with a margin for the ring and stdio.
uint32_t inflight_limit(const Options& o) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    const uint64_t by_fd = rl.rlim_cur > 128 ? rl.rlim_cur - 64 : 64;
    uint64_t n = std::min<uint64_t>(by_fd, o.targets.size());
    if (o.inflight_max != 0) {
        n = std::min<uint64_t>(n, o.inflight_max);
    }
    return static_cast<uint32_t>(n);
}

// ---- The floor -----------------------------------------------------------------------------

class Floor {
public:
    explicit Floor(Options o) : o_(std::move(o)) {
        request_ = o_.http ? "GET " + o_.path + " HTTP/1.1\r\nHost: " + o_.host +
                                 "\r\nUser-Agent: ringprobe-floor\r\nConnection: close\r\n\r\n"
                           : "";
        addrs_.resize(o_.targets.size());
        for (size_t i = 0; i < addrs_.size(); ++i) {
            addrs_[i] = sockaddr_in{};
            addrs_[i].sin_family = AF_INET;
            addrs_[i].sin_port = htons(o_.port);
            addrs_[i].sin_addr = o_.targets[i];
        }
        busy_.assign(o_.targets.size(), 0);
        const uint32_t n = inflight_limit(o_);
        ctxs_.resize(n);
        free_.reserve(n);
        for (uint32_t i = n; i > 0; --i) {
            free_.push_back(i - 1);
        }
        // A deadline entry lives for one timeout after its probe started, finished or not,
        // and a target starts at most one probe per interval.
        const uint64_t per_target = (o_.timeout_ms + o_.interval_ms - 1) / o_.interval_ms + 1;
        deadlines_.resize(o_.targets.size() * per_target + o_.batch_max + 1);
    }

    int setup() {
        io_uring_params p{};
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        p.cq_entries = 65536;
        int r = io_uring_queue_init_params(4096, &ring_, &p);
        if (r == -EINVAL) {
            std::fprintf(stderr, "ringprobe-floor: kernel refuses DEFER_TASKRUN; plain ring\n");
            p = io_uring_params{};
            p.flags = IORING_SETUP_CQSIZE;
            p.cq_entries = 65536;
            r = io_uring_queue_init_params(4096, &ring_, &p);
        }
        if (r < 0) {
            std::fprintf(stderr, "ringprobe-floor: io_uring_queue_init: %s\n", std::strerror(-r));
            return 1;
        }
        cq_entries_ = p.cq_entries;
        // A socket with SO_LINGER 0 or one made by socket(2) needs a process descriptor, as
        // in ringprobe (closePolicy reset keeps socket()).
        if (o_.reset_close || o_.socket_syscall) {
            o_.direct = false;
        }
        if (o_.direct) {
            r = io_uring_register_files_sparse(&ring_, static_cast<unsigned>(ctxs_.size()));
            if (r < 0) {
                std::fprintf(stderr, "ringprobe-floor: no file table (%s); plain descriptors\n",
                             std::strerror(-r));
                o_.direct = false;
            }
        }
        return 0;
    }

    void run() {
        const uint64_t interval_ns = static_cast<uint64_t>(o_.interval_ms) * 1000000ull;
        start_ns_ = now_ns() + 1000000;
        const uint64_t end_ns =
            o_.duration_s > 0 ? start_ns_ + static_cast<uint64_t>(o_.duration_s * 1e9) : UINT64_MAX;
        while (stop_requested == 0) {
            uint64_t now = now_ns();
            if (now >= end_ns) {
                break;
            }
            const bool more_due = start_due(now, interval_ns);
            expire(now);
            uint64_t wake = std::min(end_ns, due_ns(seq_, interval_ns));
            if (dl_count_ > 0) {
                wake = std::min(wake, deadlines_[dl_head_].at_ns);
            }
            unsigned wait_nr = 1;
            if (o_.quantum_us > 0) {
                // Starts and deadlines on the quantum's grid; completions wait in the kernel
                // until the next grid point while probes are in flight.
                wake = on_grid(wake);
                if (free_.size() < ctxs_.size()) {
                    wake = std::min(wake, on_grid(now + 1));
                }
                wait_nr = cq_entries_;
            }
            wait(more_due ? 0 : (wake > now ? wake - now : 0), wait_nr);
            reap();
        }
        stopped_ns_ = now_ns();
        drain();
    }

    void print_stats() const {
        const double seconds = static_cast<double>(stopped_ns_ - start_ns_) / 1e9;
        std::fprintf(stderr,
                     "floor: targets=%zu kind=%s close=%s socket=%s descriptors=%s delayed_ack=%s "
                     "quantum_us=%u seconds=%.3f "
                     "probes_started=%llu probes_completed=%llu",
                     o_.targets.size(), o_.http ? "http" : "tcp",
                     o_.reset_close ? "reset" : "graceful", o_.socket_syscall ? "syscall" : "uring",
                     o_.direct ? "direct" : "plain", o_.delay_ack ? "on" : "off", o_.quantum_us,
                     seconds, static_cast<unsigned long long>(started_),
                     static_cast<unsigned long long>(completed_));
        for (size_t i = 1; i < outcome_names.size(); ++i) {
            std::fprintf(stderr, " %s=%llu", outcome_names[i],
                         static_cast<unsigned long long>(outcomes_[i]));
        }
        std::fprintf(stderr,
                     " skipped_intervals=%llu inflight_full=%llu sq_full=%llu "
                     "lateness_us_p50=%llu lateness_us_p90=%llu lateness_us_p99=%llu "
                     "lateness_us_p999=%llu lateness_us_max=%llu\n",
                     static_cast<unsigned long long>(skipped_),
                     static_cast<unsigned long long>(inflight_full_),
                     static_cast<unsigned long long>(sq_full_),
                     static_cast<unsigned long long>(lateness_.quantile(0.5)),
                     static_cast<unsigned long long>(lateness_.quantile(0.9)),
                     static_cast<unsigned long long>(lateness_.quantile(0.99)),
                     static_cast<unsigned long long>(lateness_.quantile(0.999)),
                     static_cast<unsigned long long>(lateness_.max_us()));
    }

private:
    // The first point of the quantum's grid (from the start) at or after t.
    uint64_t on_grid(uint64_t t) const {
        const uint64_t q = static_cast<uint64_t>(o_.quantum_us) * 1000ull;
        if (t <= start_ns_) {
            return start_ns_;
        }
        return start_ns_ + (t - start_ns_ + q - 1) / q * q;
    }

    uint64_t due_ns(uint64_t k, uint64_t interval_ns) const {
        const u128 offset = static_cast<u128>(k) * interval_ns / o_.targets.size();
        return start_ns_ + static_cast<uint64_t>(offset);
    }

    // Starts every probe that is due, at most batch_max of them; true when more are due.
    bool start_due(uint64_t now, uint64_t interval_ns) {
        for (uint32_t n = 0; n < o_.batch_max; ++n) {
            const uint64_t due = due_ns(seq_, interval_ns);
            if (due > now) {
                return false;
            }
            const uint32_t target = static_cast<uint32_t>(seq_ % o_.targets.size());
            seq_ += 1;
            lateness_.record((now - due) / 1000);
            if (busy_[target] != 0) {
                skipped_ += 1;
            } else if (free_.empty()) {
                inflight_full_ += 1;
            } else {
                start_probe(target, now);
            }
        }
        return true;
    }

    io_uring_sqe* sqe() {
        io_uring_sqe* s = io_uring_get_sqe(&ring_);
        if (s == nullptr) {
            sq_full_ += 1;
            io_uring_submit(&ring_);
            s = io_uring_get_sqe(&ring_);
        }
        FLOOR_ASSERT(s != nullptr);
        return s;
    }

    void start_probe(uint32_t target, uint64_t now) {
        const uint32_t c = free_.back();
        free_.pop_back();
        Ctx& x = ctxs_[c];
        const uint32_t gen = x.generation + 1;
        x = Ctx{};
        x.generation = gen;
        x.target = target;
        x.deadline_ns = now + static_cast<uint64_t>(o_.timeout_ms) * 1000000ull;
        busy_[target] = 1;
        started_ += 1;
        push_deadline(c, x);
        if (o_.socket_syscall) {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            on_socket(c, x, fd < 0 ? -errno : fd);
            return;
        }
        if (o_.direct) {
            queue_direct_chain(c, x);
            return;
        }
        io_uring_sqe* s = sqe();
        io_uring_prep_socket(s, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, 0);
        io_uring_sqe_set_data64(s, pack(c, x.generation, Op::Socket));
        x.pending = 1;
    }

    // The whole probe as one linked chain on the context's own file-table entry:
    // SOCKET direct -> [TCP_QUICKACK 0] -> CONNECT -> [SEND -> RECV, http].
    void queue_direct_chain(uint32_t c, Ctx& x) {
        if (io_uring_sq_space_left(&ring_) < 5) {
            io_uring_submit(&ring_);  // the chain must not be split over two submissions
        }
        x.fd = static_cast<int>(c);
        io_uring_sqe* s = sqe();
        io_uring_prep_socket_direct(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0, c, 0);
        io_uring_sqe_set_data64(s, pack(c, x.generation, Op::Socket));
        s->flags |= IOSQE_IO_LINK;
        x.pending += 1;
        if (o_.http && o_.delay_ack) {
            queue_quickack_off(c, x, IOSQE_FIXED_FILE);
        }
        queue_connect(c, x, IOSQE_FIXED_FILE);
    }

    // A hard link: if the option is refused the connect still runs.
    void queue_quickack_off(uint32_t c, Ctx& x, uint8_t fixed) {
        io_uring_sqe* s = sqe();
        ringprobe::engine::prep_setsockopt(s, x.fd, IPPROTO_TCP, TCP_QUICKACK,
                                           &ringprobe::engine::quickack_off);
        s->flags |= fixed | IOSQE_IO_HARDLINK;
        io_uring_sqe_set_data64(s, pack(c, x.generation, Op::SockOpt));
        x.pending += 1;
    }

    void queue_connect(uint32_t c, Ctx& x, uint8_t fixed) {
        io_uring_sqe* s = sqe();
        const sockaddr_in& sa = addrs_[x.target];
        io_uring_prep_connect(s, x.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
        io_uring_sqe_set_data64(s, pack(c, x.generation, Op::Connect));
        s->flags |= fixed;
        x.pending += 1;
        if (!o_.http) {
            return;
        }
        s->flags |= IOSQE_IO_LINK;
        s = sqe();
        io_uring_prep_send(s, x.fd, request_.data(), request_.size(), MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, pack(c, x.generation, Op::Send));
        s->flags |= fixed | IOSQE_IO_LINK;
        x.pending += 1;
        queue_recv(c, x);
    }

    uint8_t fixed_flag() const { return o_.direct ? IOSQE_FIXED_FILE : 0; }

    void push_deadline(uint32_t c, const Ctx& x) {
        FLOOR_ASSERT(dl_count_ < deadlines_.size());
        deadlines_[(dl_head_ + dl_count_) % deadlines_.size()] = {c, x.generation, x.deadline_ns};
        dl_count_ += 1;
    }

    // Cancels every probe past its deadline. Entries of probes that already finished are
    // dropped here too (their context has moved to another generation or is idle).
    void expire(uint64_t now) {
        while (dl_count_ > 0 && deadlines_[dl_head_].at_ns <= now) {
            const Deadline d = deadlines_[dl_head_];
            dl_head_ = (dl_head_ + 1) % deadlines_.size();
            dl_count_ -= 1;
            Ctx& x = ctxs_[d.ctx];
            if (x.generation != d.generation || x.pending == 0 || x.timed_out) {
                continue;
            }
            x.timed_out = true;
            if (x.outcome == Outcome::Pending) {
                x.outcome = Outcome::Timeout;
            }
            if (x.fd >= 0) {
                queue_cancel(d.ctx, x);
            }
        }
    }

    void queue_cancel(uint32_t c, const Ctx& x) {
        io_uring_sqe* s = sqe();
        io_uring_prep_cancel_fd(
            s, x.fd, IORING_ASYNC_CANCEL_ALL | (o_.direct ? IORING_ASYNC_CANCEL_FD_FIXED : 0));
        io_uring_sqe_set_data64(s, pack(c, x.generation, Op::Cancel));
    }

    void wait(uint64_t wait_ns, unsigned wait_nr = 1) {
        __kernel_timespec ts{};
        ts.tv_sec = static_cast<long long>(wait_ns / 1000000000ull);
        ts.tv_nsec = static_cast<long long>(wait_ns % 1000000000ull);
        io_uring_cqe* cqe = nullptr;
        const int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, wait_nr, &ts, nullptr);
        FLOOR_ASSERT(r >= 0 || r == -ETIME || r == -EINTR || r == -EAGAIN || r == -EBUSY);
    }

    void reap() {
        io_uring_cqe* cqe = nullptr;
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            seen += 1;
            on_cqe(cqe->user_data, cqe->res);
        }
        io_uring_cq_advance(&ring_, seen);
    }

    void on_cqe(uint64_t user_data, int res) {
        const Op op = static_cast<Op>(user_data & 0xff);
        if (op == Op::Cancel || op == Op::Close) {
            return;  // housekeeping; the probe's own SQEs carry its outcome
        }
        const uint32_t c = static_cast<uint32_t>(user_data >> 32);
        FLOOR_ASSERT(c < ctxs_.size());
        Ctx& x = ctxs_[c];
        FLOOR_ASSERT((x.generation & 0xffffff) == ((user_data >> 8) & 0xffffff));
        FLOOR_ASSERT(x.pending > 0);
        x.pending -= 1;
        switch (op) {
            case Op::Socket: on_socket(c, x, res); break;
            case Op::Connect: on_connect(x, res); break;
            case Op::Send: on_send(x, res); break;
            case Op::Recv: on_recv(c, x, res); break;
            case Op::SockOpt: break;  // delayed ACK refused: the probe goes on without it
            case Op::Close:
            case Op::Cancel: break;
        }
        if (x.pending == 0) {
            finish(c, x);
        }
    }

    void fail(Ctx& x, Outcome o) {
        if (x.outcome == Outcome::Pending) {
            x.outcome = o;
        }
    }

    static Outcome outcome_of_errno(int err) {
        switch (err) {
            case ECONNREFUSED: return Outcome::Refused;
            case ECONNRESET:
            case EPIPE: return Outcome::Reset;
            case ETIMEDOUT: return Outcome::Timeout;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM:
            case EADDRNOTAVAIL: return Outcome::ProberError;
            default: return Outcome::OtherError;
        }
    }

    void on_socket(uint32_t c, Ctx& x, int res) {
        if (o_.direct) {
            // The rest of the chain is already queued; a failed socket cancels it.
            if (res < 0) {
                fail(x, Outcome::ProberError);
            } else {
                x.installed = true;
            }
            return;
        }
        if (res < 0) {
            fail(x, Outcome::ProberError);
            if (o_.socket_syscall) {
                finish(c, x);
            }
            return;
        }
        x.fd = res;
        if (o_.reset_close) {
            const linger lg{1, 0};
            ::setsockopt(x.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        if (x.timed_out) {
            if (o_.socket_syscall) {
                finish(c, x);
            }
            return;
        }
        if (o_.http && o_.delay_ack) {
            queue_quickack_off(c, x, 0);
        }
        queue_connect(c, x, 0);
    }

    void queue_recv(uint32_t c, Ctx& x) {
        io_uring_sqe* s = sqe();
        io_uring_prep_recv(s, x.fd, x.buf + x.got, sizeof x.buf - x.got, 0);
        io_uring_sqe_set_data64(s, pack(c, x.generation, Op::Recv));
        s->flags |= fixed_flag();
        x.pending += 1;
    }

    void on_connect(Ctx& x, int res) {
        if (res < 0) {
            fail(x, res == -ECANCELED ? Outcome::Timeout : outcome_of_errno(-res));
        } else if (!o_.http) {
            x.complete = true;
        }
    }

    void on_send(Ctx& x, int res) {
        if (res < 0 && res != -ECANCELED) {
            fail(x, outcome_of_errno(-res));
        } else if (res >= 0 && static_cast<size_t>(res) != request_.size()) {
            fail(x, Outcome::OtherError);  // a short send of a 100-byte request: never seen
        }
    }

    void on_recv(uint32_t c, Ctx& x, int res) {
        if (res < 0) {
            fail(x, res == -ECANCELED ? Outcome::Timeout : outcome_of_errno(-res));
            return;
        }
        if (res == 0) {
            x.complete = true;  // end of stream: judge what arrived
            return;
        }
        x.got = static_cast<uint16_t>(x.got + res);
        if (answer_complete(x) || x.got == sizeof x.buf) {
            x.complete = true;
            return;
        }
        if (x.outcome == Outcome::Pending && !x.timed_out) {
            queue_recv(c, x);
        }
    }

    // The header block has ended and Content-Length bytes of body follow it. Without a
    // Content-Length the answer ends with the stream.
    static bool answer_complete(const Ctx& x) {
        const std::string_view data(x.buf, x.got);
        const size_t end = data.find("\r\n\r\n");
        if (end == std::string_view::npos) {
            return false;
        }
        const std::string_view head = data.substr(0, end);
        size_t at = head.find("Content-Length:");
        if (at == std::string_view::npos) {
            at = head.find("content-length:");
        }
        if (at == std::string_view::npos) {
            return false;
        }
        const size_t length = std::strtoul(x.buf + at + 15, nullptr, 10);
        return data.size() - (end + 4) >= length;
    }

    static Outcome judge_http(const Ctx& x) {
        const std::string_view data(x.buf, x.got);
        if (data.size() < 12 || data.substr(0, 7) != "HTTP/1.") {
            return Outcome::BadResponse;
        }
        const int status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
        return status >= 200 && status <= 399 ? Outcome::Ok : Outcome::BadResponse;
    }

    void finish(uint32_t c, Ctx& x) {
        if (x.outcome == Outcome::Pending) {
            x.outcome = !x.complete ? Outcome::OtherError : o_.http ? judge_http(x) : Outcome::Ok;
        }
        if (o_.direct ? x.installed : x.fd >= 0) {
            io_uring_sqe* s = sqe();
            if (o_.direct) {
                io_uring_prep_close_direct(s, c);
            } else {
                io_uring_prep_close(s, x.fd);
            }
            io_uring_sqe_set_data64(s, pack(c, x.generation, Op::Close));
            s->flags |= IOSQE_CQE_SKIP_SUCCESS;
        }
        x.fd = -1;
        x.installed = false;
        outcomes_[static_cast<size_t>(x.outcome)] += 1;
        completed_ += 1;
        busy_[x.target] = 0;
        free_.push_back(c);
    }

    // Cancels what is in flight and waits (bounded) for every SQE to complete, so that every
    // socket is closed before the process exits.
    void drain() {
        for (uint32_t c = 0; c < ctxs_.size(); ++c) {
            Ctx& x = ctxs_[c];
            if (x.pending > 0 && x.fd >= 0) {
                queue_cancel(c, x);
            }
        }
        const uint64_t give_up = now_ns() + 2000000000ull;
        while (free_.size() < ctxs_.size() && now_ns() < give_up) {
            wait(10000000);
            reap();
        }
        io_uring_submit(&ring_);
        io_uring_queue_exit(&ring_);
    }

    Options o_;
    std::string request_;
    std::vector<sockaddr_in> addrs_;
    std::vector<uint8_t> busy_;
    std::vector<Ctx> ctxs_;
    std::vector<uint32_t> free_;
    std::vector<Deadline> deadlines_;
    size_t dl_head_ = 0;
    size_t dl_count_ = 0;
    io_uring ring_{};
    unsigned cq_entries_ = 1;
    uint64_t start_ns_ = 0;
    uint64_t stopped_ns_ = 0;
    uint64_t seq_ = 0;
    uint64_t started_ = 0;
    uint64_t completed_ = 0;
    uint64_t skipped_ = 0;
    uint64_t inflight_full_ = 0;
    uint64_t sq_full_ = 0;
    std::array<uint64_t, static_cast<size_t>(Outcome::Count)> outcomes_{};
    Lateness lateness_;
};

}  // namespace

int main(int argc, char** argv) {
    Options o = parse_args(argc, argv);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    Floor floor(std::move(o));
    if (floor.setup() != 0) {
        return 1;
    }
    floor.run();
    floor.print_stats();
    return 0;
}
