// The serving loop of one worker: level-triggered epoll over its listeners and connections.
//
// A connection's life: accept -> getsockname (which backend?) -> count -> behaviour. Most
// connections never touch epoll: the request is usually in the socket by the time it is
// accepted, so accept4, getsockname, recv, send and close are the whole cost. A connection is
// registered only when it has to wait (EAGAIN on read or write, hang). Waiting on the client
// (Reading, Hanging, Writing) puts it on the idle list, a FIFO ordered by deadline because every
// entry has the same timeout; waiting on ourselves (Delaying, Trickling) puts a timer in a
// min-heap whose stale entries are recognised by the connection's generation.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <type_traits>

#include "common/clock.hpp"
#include "fleet.hpp"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

namespace ringprobe::fleet {

namespace {

// A request whose headers do not end within this many bytes is closed (bad_requests).
constexpr uint32_t request_bytes_max = 64 * 1024;
constexpr size_t scratch_bytes = 16 * 1024;
constexpr int events_max = 256;
constexpr int accepts_per_wakeup = 64;
constexpr int reads_per_wakeup = 8;

enum Tag : uint64_t {
    TagConn = 0,
    TagListen = 1,
    TagControlListen = 2,
    TagSignal = 3,
    TagWake = 4
};

uint64_t pack(Tag tag, uint32_t value) {
    return (uint64_t{tag} << 32) | value;
}

// The fleet's timers are signed nanoseconds on the monotonic clock.
int64_t now_ns() {
    return static_cast<int64_t>(monotonic_ns());
}

bool would_block(int e) {
    return e == EAGAIN || e == EWOULDBLOCK;
}

}  // namespace

Worker::Worker(Fleet& fleet, size_t index, std::vector<int> listen_fds)
    : fleet_(fleet), index_(index), listen_fds_(std::move(listen_fds)), stats_(fleet.stats(index)) {
    static_assert(std::is_trivially_copyable_v<Conn>);  // calloc'd; zero is a free slot
    static_assert(sizeof(Conn) <= 64, "one cache line per connection");
}

Worker::~Worker() {
    if (conns_ != nullptr) {
        for (size_t fd = 0; fd < conns_max_; ++fd) {
            if (conns_[fd].state != State::Free) {
                ::close(static_cast<int>(fd));
            }
        }
        std::free(conns_);
    }
    if (tls_ != nullptr) {
        for (size_t fd = 0; fd < conns_max_; ++fd) {
            if (tls_[fd] != nullptr) {
                wolfSSL_free(tls_[fd]);
            }
        }
        std::free(tls_);
    }
    std::free(tls_port_);
    std::free(conn_addr_);
    std::free(conn_port_);
    if (epoll_fd_ >= 0) {
        ::close(epoll_fd_);
    }
    if (wake_fd_ >= 0) {
        ::close(wake_fd_);
    }
}

Result<void> Worker::init(size_t conns_max) {
    // calloc of a large table maps zero pages lazily: only descriptors in use cost memory.
    conns_max_ = conns_max;
    conns_ = static_cast<Conn*>(std::calloc(conns_max_, sizeof(Conn)));
    tls_ = static_cast<WOLFSSL**>(std::calloc(conns_max_, sizeof(WOLFSSL*)));
    tls_port_ = static_cast<uint16_t*>(std::calloc(conns_max_, sizeof(uint16_t)));
    conn_addr_ = static_cast<uint32_t*>(std::calloc(conns_max_, sizeof(uint32_t)));
    conn_port_ = static_cast<uint16_t*>(std::calloc(conns_max_, sizeof(uint16_t)));
    if (conns_ == nullptr || tls_ == nullptr || tls_port_ == nullptr || conn_addr_ == nullptr ||
        conn_port_ == nullptr) {
        return error("cannot allocate the connection table");
    }
    scratch_ = std::make_unique<char[]>(scratch_bytes);
    idle_ns_ = int64_t{fleet_.options().idle_timeout_ms} * 1000000;
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) {
        return error(std::string("epoll/eventfd: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = pack(TagWake, 0);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    for (size_t i = 0; i < listen_fds_.size(); ++i) {
        ev.data.u64 = pack(TagListen, static_cast<uint32_t>(i));
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fds_[i], &ev) != 0) {
            return error(std::string("epoll_ctl listener: ") + std::strerror(errno));
        }
    }
    uint64_t generation = 0;
    sets_.push_back(SetRef{fleet_.behaviours(generation), 0});
    seen_generation_ = generation;
    return {};
}

void Worker::add_control(int control_fd, int signal_fd) {
    control_fd_ = control_fd;
    signal_fd_ = signal_fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (control_fd_ >= 0) {
        ev.data.u64 = pack(TagControlListen, 0);
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, control_fd_, &ev);
    }
    ev.data.u64 = pack(TagSignal, 0);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &ev);
}

void Worker::wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void Worker::run() {
    epoll_event events[events_max];
    while (!fleet_.stopping()) {
        int n = ::epoll_wait(epoll_fd_, events, events_max, next_timeout_ms(now_ns()));
        if (n < 0 && errno != EINTR) {
            std::fprintf(stderr, "ringprobe-fleet: epoll_wait: %s\n", std::strerror(errno));
            std::abort();
        }
        if (n > 0) {
            WorkerStats::bump(stats_.wakeups);
        }
        for (int i = 0; i < n; ++i) {
            dispatch(events[i].data.u64, events[i].events);
        }
        int64_t now = now_ns();
        run_timers(now);
        sweep_idle(now);
    }
}

void Worker::dispatch(uint64_t data, uint32_t events) {
    auto value = static_cast<uint32_t>(data & 0xffffffffu);
    switch (static_cast<Tag>(data >> 32)) {
        case TagConn: on_conn_event(static_cast<int>(value), events); return;
        case TagListen: on_listen(value); return;
        case TagControlListen: on_control_listen(); return;
        case TagSignal: on_signal(); return;
        case TagWake: {
            uint64_t v;
            [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
            return;
        }
    }
    RP_ASSERT(false);
}

void Worker::refresh_behaviours() {
    if (fleet_.generation().load(std::memory_order_acquire) == seen_generation_) {
        return;
    }
    auto next = fleet_.behaviours(seen_generation_);
    if (sets_[cur_].refs == 0) {
        sets_[cur_].set = std::move(next);
        return;
    }
    for (size_t i = 0; i < sets_.size(); ++i) {
        if (sets_[i].set == nullptr) {
            sets_[i].set = std::move(next);
            cur_ = static_cast<uint16_t>(i);
            return;
        }
    }
    RP_ASSERT(sets_.size() < 65535);
    sets_.push_back(SetRef{std::move(next), 0});
    cur_ = static_cast<uint16_t>(sets_.size() - 1);
}

void Worker::on_listen(size_t port_index) {
    for (int i = 0; i < accepts_per_wakeup; ++i) {
        int fd = ::accept4(listen_fds_[port_index], nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            open_conn(fd, port_index);
            continue;
        }
        if (would_block(errno)) {
            return;
        }
        if (errno == ECONNABORTED || errno == EINTR) {
            continue;
        }
        // EMFILE, ENFILE, ENOBUFS: nothing to do but wait for connections to close.
        WorkerStats::bump(stats_.accept_errors);
        return;
    }
}

Worker::Conn& Worker::open_slot(int fd) {
    RP_ASSERT(static_cast<size_t>(fd) < conns_max_);
    Conn& c = conns_[fd];
    RP_ASSERT(c.state == State::Free);
    uint32_t gen = c.gen;
    c = Conn{};
    c.gen = gen;
    c.idle_prev = -1;
    c.idle_next = -1;
    c.state = State::Reading;
    c.set_slot = cur_;
    sets_[cur_].refs++;
    WorkerStats::bump(stats_.active);
    return c;
}

void Worker::open_conn(int fd, size_t port_index) {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
        static_cast<size_t>(fd) >= conns_max_) {
        ::close(fd);
        WorkerStats::bump(stats_.accept_errors);
        return;
    }
    refresh_behaviours();
    uint32_t addr = ntohl(local.sin_addr.s_addr);
    uint32_t seq = fleet_.counters().record(port_index, addr);
    WorkerStats::bump(stats_.accepted);
    const Behaviour* b = &current().resolve(addr, fleet_.port(port_index));
    if (b->kind == Kind::Flap) {
        b = b->flap[(seq / b->flap_every) % 2];
    }
    Conn& c = open_slot(fd);
    c.behaviour = b;
    conn_addr_[fd] = addr;
    conn_port_[fd] = static_cast<uint16_t>(port_index);
    if (b->tls != nullptr && b->kind != Kind::Hang) {
        start_tls(fd, port_index);
        return;
    }
    switch (b->kind) {
        case Kind::Reset:
            if (!b->after_request) {
                reset_conn(fd);
                return;
            }
            read_request(fd);
            return;
        case Kind::DropSyn:
            // Reached the shared listener (its own was not bound yet, or a reload is under way).
            close_conn(fd);
            return;
        case Kind::Hang:
            c.state = State::Hanging;
            set_events(fd, EPOLLIN);
            idle_touch(fd);
            return;
        case Kind::Http:
        case Kind::Trickle:
        case Kind::Close:
        case Kind::Garbage:
        case Kind::Oversized:
            c.state = State::Reading;
            read_request(fd);
            return;
        case Kind::Flap: break;
    }
    RP_ASSERT(false);
}

void Worker::on_control_listen() {
    for (int i = 0; i < accepts_per_wakeup; ++i) {
        int fd = ::accept4(control_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        if (static_cast<size_t>(fd) >= conns_max_) {
            ::close(fd);
            continue;
        }
        Conn& c = open_slot(fd);
        c.control = true;
        c.state = State::Reading;
        control_io_[fd] = ControlIo{};
        read_request(fd);
    }
}

void Worker::on_signal() {
    signalfd_siginfo info;
    while (::read(signal_fd_, &info, sizeof info) == sizeof info) {
        fleet_.on_signal(static_cast<int>(info.ssi_signo));
    }
}

void Worker::on_conn_event(int fd, uint32_t events) {
    Conn& c = conns_[fd];
    switch (c.state) {
        case State::Handshaking: tls_handshake(fd); return;
        case State::Reading: read_request(fd); return;
        case State::Hanging: drain(fd); return;
        case State::Writing: write_more(fd); return;
        case State::Delaying:
        case State::Trickling:
            // Not watching reads here; only an error or hang-up is reported.
            if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
                WorkerStats::bump(stats_.peer_gone);
                close_conn(fd);
            }
            return;
        case State::Free: return;  // closed earlier in this batch
    }
}

// Tells when the request headers end: a line feed after an empty line (CR ignored, so both
// CRLF CRLF and bare LF LF end them). Bytes are not kept, only this one-byte state.
bool Worker::scan(Conn& c, const char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        char ch = p[i];
        if (ch == '\n') {
            if (++c.newlines == 2) {
                return true;
            }
        } else if (ch != '\r') {
            c.newlines = 0;
        }
    }
    return false;
}

void Worker::read_request(int fd) {
    Conn& c = conns_[fd];
    for (int i = 0; i < reads_per_wakeup; ++i) {
        ssize_t n = conn_recv(fd, scratch_.get(), scratch_bytes);
        if (n > 0) {
            c.in_bytes += static_cast<uint32_t>(n);
            if (c.control) {
                control_io_[fd].in.append(scratch_.get(), static_cast<size_t>(n));
            }
            if (scan(c, scratch_.get(), static_cast<size_t>(n))) {
                request_done(fd);
                return;
            }
            if (c.in_bytes > request_bytes_max) {
                WorkerStats::bump(stats_.bad_requests);
                close_conn(fd);
                return;
            }
            continue;
        }
        if (n < 0 && would_block(errno)) {
            break;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        WorkerStats::bump(stats_.peer_gone);  // EOF or reset before the request ended
        close_conn(fd);
        return;
    }
    if (!c.control) {
        WorkerStats::bump(stats_.read_waits);
    }
    set_events(fd, EPOLLIN);
    idle_touch(fd);
}

// Hang: read and discard whatever arrives; leave when the client does.
void Worker::drain(int fd) {
    for (int i = 0; i < reads_per_wakeup; ++i) {
        ssize_t n = conn_recv(fd, scratch_.get(), scratch_bytes);
        if (n > 0) {
            continue;
        }
        if (n < 0 && would_block(errno)) {
            break;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        close_conn(fd);
        return;
    }
    idle_touch(fd);
}

void Worker::request_done(int fd) {
    Conn& c = conns_[fd];
    idle_remove(fd);
    if (c.control) {
        ControlIo& io = control_io_[fd];
        io.out = fleet_.control(io.in);
        c.out = io.out.data();
        c.out_len = static_cast<uint32_t>(io.out.size());
        start_answer(fd);
        return;
    }
    if (c.served > 0) {
        // A kept connection after a reload: closed unanswered (the end a client of a restarted
        // backend meets), so the client's next connection gets the behaviour now in force.
        refresh_behaviours();
        if (c.set_slot != cur_) {
            close_conn(fd);
            return;
        }
    }
    const Behaviour& b = *c.behaviour;
    fleet_.counters().record_request(conn_port_[fd], conn_addr_[fd]);
    if (b.kind == Kind::Close) {
        close_conn(fd);
        return;
    }
    if (b.silent_after != 0 && c.served >= b.silent_after) {
        c.state = State::Hanging;  // read and discard, never answer, until the client leaves
        set_events(fd, EPOLLIN);
        idle_touch(fd);
        return;
    }
    if (b.kind == Kind::Reset) {
        reset_conn(fd);
        return;
    }
    c.closing =
        !b.keep_alive || (b.close_every != 0 && (uint32_t{c.served} + 1) % b.close_every == 0);
    const std::string& out = c.closing && b.keep_alive ? b.response_close : b.response;
    c.out = out.data();
    c.out_len = static_cast<uint32_t>(out.size());
    c.out_off = 0;
    if (b.delay_ms > 0) {
        c.state = State::Delaying;
        if (c.registered) {
            set_events(fd, 0);
        }
        timers_.push(Timer{now_ns() + int64_t{b.delay_ms} * 1000000, fd, c.gen});
        return;
    }
    start_answer(fd);
}

void Worker::start_answer(int fd) {
    Conn& c = conns_[fd];
    if (!c.control && c.behaviour->kind == Kind::Trickle) {
        c.state = State::Trickling;
        if (c.registered) {
            set_events(fd, 0);
        }
        trickle_step(fd);
        return;
    }
    c.state = State::Writing;
    write_more(fd);
}

void Worker::write_more(int fd) {
    Conn& c = conns_[fd];
    while (c.out_off < c.out_len) {
        ssize_t n = conn_send(fd, c.out + c.out_off, c.out_len - c.out_off);
        if (n > 0) {
            c.out_off += static_cast<uint32_t>(n);
            continue;
        }
        if (n < 0 && would_block(errno)) {
            set_events(fd, EPOLLOUT);
            idle_touch(fd);
            return;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        WorkerStats::bump(stats_.peer_gone);
        close_conn(fd);
        return;
    }
    WorkerStats::bump(stats_.answered);
    if (c.control || c.closing) {
        close_conn(fd);
        return;
    }
    next_request(fd);
}

// Keep-alive: the response is out and the connection waits for the next request (which may be
// in the socket already), unless close_percent's dice close it without a word.
void Worker::next_request(int fd) {
    Conn& c = conns_[fd];
    if (c.served < UINT16_MAX) {
        c.served++;
    }
    if (c.behaviour->close_percent != 0 && keep_roll(c.behaviour->close_percent)) {
        close_conn(fd);
        return;
    }
    c.state = State::Reading;
    c.in_bytes = 0;
    c.newlines = 0;
    c.out_off = 0;
    read_request(fd);
}

bool Worker::keep_roll(uint32_t percent) {
    dice_ ^= dice_ << 13;
    dice_ ^= dice_ >> 17;
    dice_ ^= dice_ << 5;
    return dice_ % 100 < percent;
}

void Worker::trickle_step(int fd) {
    Conn& c = conns_[fd];
    ssize_t n = conn_send(fd, c.out + c.out_off, 1);
    if (n == 1) {
        if (++c.out_off == c.out_len) {
            WorkerStats::bump(stats_.answered);
            close_conn(fd);
            return;
        }
    } else if (!(n < 0 && (would_block(errno) || errno == EINTR))) {
        WorkerStats::bump(stats_.peer_gone);
        close_conn(fd);
        return;
    }
    timers_.push(Timer{now_ns() + int64_t{c.behaviour->interval_ms} * 1000000, fd, c.gen});
}

void Worker::close_conn(int fd) {
    Conn& c = conns_[fd];
    RP_ASSERT(c.state != State::Free);
    idle_remove(fd);
    if (c.control) {
        control_io_.erase(fd);
    }
    SetRef& s = sets_[c.set_slot];
    RP_ASSERT(s.refs > 0);
    if (--s.refs == 0 && c.set_slot != cur_) {
        s.set.reset();
    }
    if (tls_[fd] != nullptr) {
        wolfSSL_shutdown(tls_[fd]);  // close_notify, best effort: the socket is nonblocking
        wolfSSL_free(tls_[fd]);
        tls_[fd] = nullptr;
    }
    c.state = State::Free;
    c.gen++;
    ::close(fd);  // also removes it from the epoll set
    WorkerStats::drop(stats_.active);
}

void Worker::reset_conn(int fd) {
    if (tls_[fd] != nullptr) {
        wolfSSL_free(tls_[fd]);  // no close_notify: the point is the RST
        tls_[fd] = nullptr;
    }
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close_conn(fd);
}

// A TLS behaviour: handshake first, then the behaviour as usual over wolfSSL. Reset (at
// accept) and DropSyn never get here (parse_tls refuses them); Hang never handshakes.
void Worker::start_tls(int fd, size_t port_index) {
    Conn& c = conns_[fd];
    tls_[fd] = c.behaviour->tls->new_connection(fd);
    tls_port_[fd] = fleet_.port(port_index);
    if (tls_[fd] == nullptr) {
        WorkerStats::bump(stats_.accept_errors);
        close_conn(fd);
        return;
    }
    c.state = State::Handshaking;
    tls_handshake(fd);
}

void Worker::tls_handshake(int fd) {
    WOLFSSL* ssl = tls_[fd];
    int rc = wolfSSL_accept(ssl);
    if (rc == WOLFSSL_SUCCESS) {
        sockaddr_in local{};
        socklen_t len = sizeof local;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
        fleet_.sni_log().record(endpoint_text(ntohl(local.sin_addr.s_addr), tls_port_[fd]), ssl);
        conns_[fd].state = State::Reading;
        read_request(fd);
        return;
    }
    int err = wolfSSL_get_error(ssl, rc);
    if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
        set_events(fd, err == WOLFSSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
        idle_touch(fd);
        return;
    }
    WorkerStats::bump(stats_.peer_gone);  // the client gave up or sent an alert
    wolfSSL_free(ssl);                    // no close_notify after a failed handshake
    tls_[fd] = nullptr;
    close_conn(fd);
}

ssize_t Worker::conn_recv(int fd, char* buf, size_t len) {
    WOLFSSL* ssl = tls_[fd];
    if (ssl == nullptr) {
        return ::recv(fd, buf, len, 0);
    }
    int rc = wolfSSL_read(ssl, buf, static_cast<int>(std::min<size_t>(len, 1u << 30)));
    if (rc > 0) {
        return rc;
    }
    int err = wolfSSL_get_error(ssl, rc);
    if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (err == WOLFSSL_ERROR_ZERO_RETURN) {
        return 0;
    }
    errno = ECONNRESET;
    return -1;
}

// wolfSSL_write after WANT_WRITE must be called again with the same bytes: write_more does,
// since it retries from the same offset.
ssize_t Worker::conn_send(int fd, const char* buf, size_t len) {
    WOLFSSL* ssl = tls_[fd];
    if (ssl == nullptr) {
        return ::send(fd, buf, len, MSG_NOSIGNAL);
    }
    int rc = wolfSSL_write(ssl, buf, static_cast<int>(std::min<size_t>(len, 1u << 30)));
    if (rc > 0) {
        return rc;
    }
    int err = wolfSSL_get_error(ssl, rc);
    if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    errno = EPIPE;
    return -1;
}

void Worker::set_events(int fd, uint32_t events) {
    Conn& c = conns_[fd];
    if (c.registered && c.events == events) {
        return;
    }
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = pack(TagConn, static_cast<uint32_t>(fd));
    int rc = ::epoll_ctl(epoll_fd_, c.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    RP_ASSERT(rc == 0);
    c.registered = true;
    c.events = events;
}

void Worker::idle_touch(int fd) {
    idle_remove(fd);
    Conn& c = conns_[fd];
    c.idle_deadline_ns = now_ns() + idle_ns_;
    c.in_idle = true;
    c.idle_prev = idle_tail_;
    c.idle_next = -1;
    if (idle_tail_ >= 0) {
        conns_[idle_tail_].idle_next = fd;
    } else {
        idle_head_ = fd;
    }
    idle_tail_ = fd;
}

void Worker::idle_remove(int fd) {
    Conn& c = conns_[fd];
    if (!c.in_idle) {
        return;
    }
    if (c.idle_prev >= 0) {
        conns_[c.idle_prev].idle_next = c.idle_next;
    } else {
        idle_head_ = c.idle_next;
    }
    if (c.idle_next >= 0) {
        conns_[c.idle_next].idle_prev = c.idle_prev;
    } else {
        idle_tail_ = c.idle_prev;
    }
    c.in_idle = false;
    c.idle_prev = -1;
    c.idle_next = -1;
}

void Worker::run_timers(int64_t now) {
    while (!timers_.empty() && timers_.top().at_ns <= now) {
        Timer t = timers_.top();
        timers_.pop();
        Conn& c = conns_[t.fd];
        if (c.gen != t.gen) {
            continue;  // the connection it was armed for is gone
        }
        if (c.state == State::Delaying) {
            start_answer(t.fd);
        } else if (c.state == State::Trickling) {
            trickle_step(t.fd);
        }
    }
}

void Worker::sweep_idle(int64_t now) {
    // Bounded by the list length; every entry removed is closed.
    while (idle_head_ >= 0 && conns_[idle_head_].idle_deadline_ns <= now) {
        WorkerStats::bump(stats_.idle_closed);
        close_conn(idle_head_);
    }
}

int Worker::next_timeout_ms(int64_t now) const {
    int64_t next = now + 1000 * int64_t{1000000};  // wake at least once a second
    if (!timers_.empty()) {
        next = std::min(next, timers_.top().at_ns);
    }
    if (idle_head_ >= 0) {
        next = std::min(next, conns_[idle_head_].idle_deadline_ns);
    }
    if (next <= now) {
        return 0;
    }
    return static_cast<int>((next - now + 999999) / 1000000);  // round up: never early
}

}  // namespace ringprobe::fleet
