// ringprobe-fleet: one process that plays tens of thousands of backends on loopback.
//
// Shape: N workers (threads), each with its own epoll loop and its own SO_REUSEPORT listener on
// every port (0.0.0.0:P bound to device lo, so every 127.0.0.0/8 destination and nothing from
// off the machine). A backend is the DESTINATION address of an accepted connection
// (getsockname), so 127.1.x.y:P are 65,536 backends behind one socket. Worker 0 also serves the
// control port and the signals (signalfd), and owns the drop_syn listeners; a reload builds a
// new immutable Behaviours and publishes it through a generation number that workers check
// before each accept.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "behaviours.hpp"
#include "common/result.hpp"
#include "counters.hpp"

namespace ringprobe::fleet {

struct Options {
    std::vector<uint16_t> ports;  // 0 = let the kernel choose (printed as `port N`)
    std::string behaviours_path;  // empty: every backend answers 200 "ok"
    sockaddr_in control{};        // 127.0.0.1:0 unless --control
    bool control_enabled = true;
    uint32_t threads = 1;
    uint32_t idle_timeout_ms = 60000;
    bool any_address = false;
};

// One worker's counters. Single writer (its worker), any reader (the control port).
struct alignas(64) WorkerStats {
    std::atomic<uint64_t> accepted{0};       // connections accepted (= counted)
    std::atomic<uint64_t> answered{0};       // responses written completely
    std::atomic<uint64_t> active{0};         // connections open now
    std::atomic<uint64_t> idle_closed{0};    // closed by the idle timeout
    std::atomic<uint64_t> bad_requests{0};   // request headers beyond the limit
    std::atomic<uint64_t> peer_gone{0};      // client closed or reset before we were done
    std::atomic<uint64_t> accept_errors{0};  // EMFILE and friends
    std::atomic<uint64_t> wakeups{0};        // epoll_wait returns with events
    std::atomic<uint64_t> read_waits{0};     // reads that found no (whole) request: to epoll

    static void bump(std::atomic<uint64_t>& a) {
        a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    static void drop(std::atomic<uint64_t>& a) {
        a.store(a.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }
};

class Fleet;

class Worker {
public:
    Worker(Fleet& fleet, size_t index, std::vector<int> listen_fds);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    Result<void> init(size_t conns_max);
    void add_control(int control_fd, int signal_fd);  // worker 0 only
    void run();
    void wake();

private:
    enum class State : uint8_t {
        Free,
        Handshaking,
        Reading,
        Hanging,
        Delaying,
        Writing,
        Trickling
    };
    // Indexed by file descriptor; zero is a free slot. `gen` survives reuse so that a timer
    // armed for an earlier connection on the same descriptor is recognised and ignored.
    struct Conn {
        const char* out;
        uint32_t out_len;
        uint32_t out_off;
        const Behaviour* behaviour;
        int64_t idle_deadline_ns;
        uint32_t gen;
        uint32_t in_bytes;
        int32_t idle_prev;
        int32_t idle_next;
        uint32_t events;
        uint16_t set_slot;
        State state;
        uint8_t newlines;
        bool registered;
        bool in_idle;
        bool control;
        bool closing;     // keep-alive: this response ends the connection
        uint16_t served;  // keep-alive: responses written on this connection (saturating)
    };
    struct Timer {
        int64_t at_ns;
        int32_t fd;
        uint32_t gen;
        bool operator>(const Timer& o) const { return at_ns > o.at_ns; }
    };
    struct SetRef {
        std::shared_ptr<const Behaviours> set;
        uint32_t refs = 0;
    };
    struct ControlIo {
        std::string in;
        std::string out;
    };

    void dispatch(uint64_t data, uint32_t events);
    void on_listen(size_t port_index);
    void on_control_listen();
    void on_signal();
    void open_conn(int fd, size_t port_index);
    Conn& open_slot(int fd);
    void on_conn_event(int fd, uint32_t events);
    void read_request(int fd);
    void drain(int fd);
    bool scan(Conn& c, const char* p, size_t n);
    void request_done(int fd);
    void start_answer(int fd);
    void write_more(int fd);
    void trickle_step(int fd);
    void close_conn(int fd);
    void next_request(int fd);
    bool keep_roll(uint32_t percent);  // close_percent's dice: a fixed xorshift per worker
    void reset_conn(int fd);
    // TLS behaviours: the handshake, and recv/send that go through wolfSSL when the
    // connection has one (errno EAGAIN / ECONNRESET as the plain calls would set).
    void start_tls(int fd, size_t port_index);
    void tls_handshake(int fd);
    ssize_t conn_recv(int fd, char* buf, size_t len);
    ssize_t conn_send(int fd, const char* buf, size_t len);
    void set_events(int fd, uint32_t events);
    void idle_touch(int fd);
    void idle_remove(int fd);
    void run_timers(int64_t now_ns);
    void sweep_idle(int64_t now_ns);
    int next_timeout_ms(int64_t now_ns) const;
    void refresh_behaviours();
    const Behaviours& current() const { return *sets_[cur_].set; }

    Fleet& fleet_;
    size_t index_;
    std::vector<int> listen_fds_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    int control_fd_ = -1;
    int signal_fd_ = -1;
    Conn* conns_ = nullptr;
    size_t conns_max_ = 0;
    int32_t idle_head_ = -1;
    int32_t idle_tail_ = -1;
    int64_t idle_ns_ = 0;
    std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
    std::vector<SetRef> sets_;
    uint16_t cur_ = 0;
    uint64_t seen_generation_ = 0;
    std::unordered_map<int, ControlIo> control_io_;
    WorkerStats& stats_;
    std::unique_ptr<char[]> scratch_;
    // Per descriptor, like conns_ (calloc'd, pages touched only when used): the connection's
    // WOLFSSL, or null for plain TCP. Kept apart so that Conn stays one cache line.
    WOLFSSL** tls_ = nullptr;
    uint16_t* tls_port_ = nullptr;  // listening port of a TLS connection, for the SNI log
    // Per descriptor: the backend a connection reached (destination address, host order, and
    // port index), to count each of its requests.
    uint32_t* conn_addr_ = nullptr;
    uint16_t* conn_port_ = nullptr;
    uint32_t dice_ = 0x9e3779b9u;
};

// A listener of its own for one drop_syn endpoint, with the connections that fill its backlog.
struct DropSynListener {
    Endpoint endpoint;
    int listen_fd = -1;
    std::vector<int> fillers;
};

class Fleet {
public:
    explicit Fleet(Options options);
    ~Fleet();
    Fleet(const Fleet&) = delete;
    Fleet& operator=(const Fleet&) = delete;

    // Binds everything and loads the behaviours; prints `port`, `control` and `ready` lines.
    Result<void> start();
    // Runs the workers until SIGTERM or SIGINT; returns the exit status.
    int run();

    // Shared with every worker.
    Counters& counters() { return *counters_; }
    SniLog& sni_log() { return sni_log_; }
    std::shared_ptr<const Behaviours> behaviours(uint64_t& generation) const;
    const std::atomic<uint64_t>& generation() const { return generation_; }
    bool stopping() const { return stop_.load(std::memory_order_relaxed); }
    WorkerStats& stats(size_t worker) { return stats_[worker]; }
    const Options& options() const { return options_; }
    uint16_t port(size_t index) const { return ports_[index]; }

    // Worker 0 only.
    void on_signal(int signo);
    std::string control(std::string_view request);

private:
    Result<void> bind_listeners();
    Result<void> bind_control();
    Result<void> apply(std::shared_ptr<const Behaviours> next);
    void reload();
    void publish(std::shared_ptr<const Behaviours> next);
    std::string stats_json();

    Options options_;
    std::vector<uint16_t> ports_;
    std::unique_ptr<Counters> counters_;
    SniLog sni_log_;
    std::vector<std::vector<int>> listen_fds_;  // [worker][port index]
    int control_fd_ = -1;
    sockaddr_in control_addr_{};
    int signal_fd_ = -1;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::unique_ptr<WorkerStats[]> stats_;

    mutable std::mutex mu_;
    std::shared_ptr<const Behaviours> current_;  // guarded by mu_
    std::atomic<uint64_t> generation_{0};
    std::atomic<bool> stop_{false};

    // Worker 0 only.
    std::vector<DropSynListener> drop_syn_;
    uint64_t reload_failures_ = 0;
    std::string last_reload_error_;
};

// Socket helpers (sockets.cpp).
Result<int> listen_any(uint16_t port, bool bind_to_lo);
Result<int> listen_drop_syn(const Endpoint& endpoint);
// Connects to every listener until its backlog is full; afterwards SYNs to them are dropped.
void fill_backlogs(std::vector<DropSynListener*>& listeners);
void close_drop_syn(DropSynListener& l);
std::string endpoint_text(uint32_t addr, uint16_t port);

}  // namespace ringprobe::fleet
