// Stage: a probe's start. Takes a socket (a file-table entry, or socket()), opens the attempt
// (a new generation, the start's lateness counted) and queues its SQE chain in one go
// (a probe with a PROXY header sends it once connected, send_proxy_header):
//   [SOCKET direct] -> [SETSOCKOPT TCP_QUICKACK 0, plain HTTP] -> [SETSOCKOPT SO_TIMESTAMPNS,
//   not Tcp] -> CONNECT -> [SEND -> RECVMSG, HTTP]
// linked, so the kernel runs the whole exchange without coming back to the worker, and arms
// the probe's one deadline. Every SQE a probe queues later is prepared here too: prep_send is
// the one place a send is prepared (the chain's request, the rest of a short send, TLS
// ciphertext), queue_recv the one place a receive is, queue_cancel the one place a probe's
// operations are cancelled (a verdict, a stop).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "engine/errno_reason.hpp"
#include "engine/probe_slot.hpp"
#include "engine/probe_sqe.hpp"
#include "engine/user_data.hpp"

namespace ringprobe::engine {

void Worker::start_probe(Slot& s, std::uint64_t now) {
    const Target& t = plan_->targets[s.plan_index];
    RP_ASSERT_HOT(s.state == State::Idle);
    RP_ASSERT_HOT(s.pending == 0);
    if (s.kept) {
        start_reused(s, now);
        return;
    }
    RP_ASSERT_HOT(s.fd < 0);
    // A direct socket is made by the ring, linked ahead of the connect: no system call here,
    // and its table entry is taken now (has_room() saw one free). closePolicy reset needs a
    // descriptor for its linger option, so it keeps socket().
    const bool direct = makes_direct(s);
    int fd = -1;
    int socket_err = 0;
    if (direct) {
        RP_ASSERT_HOT(!free_files_.empty());
        fd = static_cast<int>(free_files_.back());
        free_files_.pop_back();
    } else if (s.addr_ok) {
        fd = ::socket(s.addr.sin6_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        socket_err = fd < 0 ? errno : 0;
        if (fd < 0 && (socket_err == EMFILE || socket_err == ENFILE)) {
            out_of_descriptors(s, socket_err);
            return;
        }
    }
    begin_attempt(s, now);

    if (!s.addr_ok) {
        // Names are resolved by the DNS module; an address that is not an IP literal and has
        // no resolution yet has nothing to probe, nor has a NIC member no --nics file resolved.
        s.state = State::Finishing;
        s.verdict = t.is_fqdn          ? Reason::DnsNoAddress
                    : !t.address_known ? Reason::AddressUnknown
                                       : Reason::ProberError;
        in_flight_ += 1;
        finish(s, now);
        return;
    }
    if (fd < 0) {
        prober_error(s, socket_reason(socket_err), socket_err, now);
        return;
    }
    if (t.close_policy == ClosePolicy::Reset) {
        const linger lg{1, 0};  // close() sends RST: no TIME_WAIT on the prober's side
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    s.fd = fd;
    s.direct = direct;
    if (!direct) {
        fds_held_ += 1;
    }
    s.state = State::Connecting;
    if (protocol_is_tls(t.protocol)) {
        RP_ASSERT_HOT(!tls_free_.empty());  // on_timer and start_deferred wait for a client
        s.tls = tls_free_.back();
        tls_free_.pop_back();
    }
    in_flight_ += 1;
    // A kept connection must know where each response ends: the whole message is parsed.
    parsers_[&s - slots_.data()].reset(s.matcher, !t.connection_reuse);
    queue_chain(s, t);
    // The deadline: the first quantum boundary at or after the timeout (never shorter).
    s.deadline_tick = ns_to_tick_ceil(on_grid(now + ms_to_ns(t.timeout_ms)));
    wheel_.schedule(s.timer, s.deadline_tick);
}

// The next probe on the connection the last one kept: no socket, no connect. A check that the
// connection holds no bytes and no end from the server (a receive that does not wait) goes
// first, hard-linked so the request follows whatever it finds; what it finds decides in
// on_peek before the answer can: bytes no request asked for are never taken as this probe's
// response.
//   RECV(MSG_DONTWAIT, 1 byte) =hardlink=> SEND -> RECVMSG(buffer select)
void Worker::start_reused(Slot& s, std::uint64_t now) {
    const Target& t = plan_->targets[s.plan_index];
    RP_ASSERT_HOT(s.fd >= 0);
    unkeep(s);
    begin_attempt(s, now);
    s.reused = true;
    s.state = State::Exchanging;
    in_flight_ += 1;
    parsers_[&s - slots_.data()].reset(s.matcher, false);
    const std::uint32_t idx = static_cast<std::uint32_t>(&s - slots_.data());
    ring_.reserve(3);
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_recv(sqe, s.fd, &peek_byte_, 1, MSG_DONTWAIT);
    on_socket_of(sqe, s.direct);
    io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Peek}));
    sqe->flags |= IOSQE_IO_HARDLINK;
    s.pending += 1;
    sqe = prep_send(s, t.request.data(), t.request.size());
    sqe->flags |= IOSQE_IO_LINK;
    queue_recv(s);
    s.deadline_tick = ns_to_tick_ceil(on_grid(now + ms_to_ns(t.timeout_ms)));
    wheel_.schedule(s.timer, s.deadline_tick);
}

// The stale keep-alive race lost (on_peek, stale_race): the same probe again on a fresh
// connection, at once, under the deadline it started with. The kept connection's socket
// becomes the fresh one's: a direct socket is made into the same table entry (which closes
// the old one), a descriptor is closed and opened again, so the budget never sees two.
void Worker::start_fresh_again(Slot& s, std::uint64_t now) {
    const Target& t = plan_->targets[s.plan_index];
    RP_ASSERT_HOT(s.pending == 0);
    RP_ASSERT_HOT(s.fd >= 0);
    s.retry_fresh = false;
    s.reused = false;
    if (!s.direct) {
        ::close(s.fd);
        s.fd = ::socket(s.addr.sin6_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s.fd < 0) {
            const int err = errno;
            fds_held_ -= 1;
            s.verdict = socket_reason(err);
            s.sys_errno = err;
            finish(s, now);
            return;
        }
        if (t.close_policy == ClosePolicy::Reset) {
            const linger lg{1, 0};
            ::setsockopt(s.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
    }
    reset_attempt(s);
    s.state = State::Connecting;
    parsers_[&s - slots_.data()].reset(s.matcher, false);
    queue_chain(s, t);
    wheel_.schedule(s.timer, s.deadline_tick);
}

// A new attempt: a generation of its own (completions of the last one are stale), its
// per-attempt state cleared, and how late it starts against its schedule counted.
void Worker::begin_attempt(Slot& s, std::uint64_t now) {
    reset_attempt(s);
    s.start_ns = now;
    s.reused = false;
    s.retry_fresh = false;
    bump(counters_.probes_started);
    started_this_turn_ += 1;
    const std::uint64_t late_us = now > s.next_ns ? (now - s.next_ns) / 1000 : 0;
    counters_.lateness_us.record(late_us);
    bump(counters_.lateness_us_sum, late_us);
    if (late_us >= 1000) {
        bump(counters_.late_probes);  // a millisecond or more behind its schedule
    }
    if (late_us > counters_.lateness_us_max.load(std::memory_order_relaxed)) {
        counters_.lateness_us_max.store(late_us, std::memory_order_relaxed);
    }
}

// What every attempt of a probe starts without, the fresh one after a stale race too.
void Worker::reset_attempt(Slot& s) {
    s.generation += 1;
    s.connected_ns = 0;
    s.first_byte_ns = 0;
    s.verdict = Reason::Pending;
    s.http_status = 0;
    s.sys_errno = 0;
    s.sent = 0;
    s.cancel_sent = false;
    s.send_in_flight = false;
    s.recv_in_flight = false;
    s.request_written = false;
    s.proxy_unanswered = false;
    s.tls_done_ns = 0;
}

// The probe's SQEs, linked: one chain the kernel runs through without the worker.
void Worker::queue_chain(Slot& s, const Target& t) {
    const bool http = t.protocol == Protocol::Http;  // plain HTTP: request linked to the connect
    const std::uint32_t idx = static_cast<std::uint32_t>(&s - slots_.data());
    io_uring_sqe* sqe = nullptr;
    s.pending = 0;
    ring_.reserve(6);  // socket, two options, connect, send, recv: one chain, never split
    if (s.direct) {
        sqe = ring_.sqe();
        io_uring_prep_socket_direct(sqe, s.addr.sin6_family, SOCK_STREAM | SOCK_NONBLOCK, 0,
                                    static_cast<unsigned>(s.fd), 0);
        io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Socket}));
        sqe->flags |= IOSQE_IO_LINK;
        s.pending += 1;
    }
    if (http && delay_ack_) {
        // The handshake's last ACK waits for the request linked behind the connect (what
        // HAProxy's checks do too): one packet fewer each way through both stacks, and the
        // backend is woken once, with the request, not for the accept and again for it. A
        // hard link: if the option is refused the connect still runs.
        sqe = ring_.sqe();
        prep_setsockopt(sqe, s.fd, IPPROTO_TCP, TCP_QUICKACK, &quickack_off);
        on_socket_of(sqe, s.direct);
        io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::SockOpt}));
        sqe->flags |= IOSQE_IO_HARDLINK;
        s.pending += 1;
    }
    if (rx_stamps_ && t.protocol != Protocol::Tcp) {
        // Receive times from the kernel (Slot::rx_msg). A hard link: without the option the
        // probe still runs, its phases stamped at reap time.
        sqe = ring_.sqe();
        prep_setsockopt(sqe, s.fd, SOL_SOCKET, SO_TIMESTAMPNS, &rx_timestamps_on);
        on_socket_of(sqe, s.direct);
        io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::SockOpt}));
        sqe->flags |= IOSQE_IO_HARDLINK;
        s.pending += 1;
    }
    sqe = ring_.sqe();
    io_uring_prep_connect(sqe, s.fd, reinterpret_cast<const sockaddr*>(&s.addr), s.addr_len);
    on_socket_of(sqe, s.direct);
    io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Connect}));
    s.pending += 1;
    if (http) {
        sqe->flags |= IOSQE_IO_LINK;
        sqe = prep_send(s, t.request.data(), t.request.size());
        sqe->flags |= IOSQE_IO_LINK;
        queue_recv(s);
    }
}

void Worker::queue_recv(Slot& s) {
    const std::uint32_t idx = static_cast<std::uint32_t>(&s - slots_.data());
    io_uring_sqe* sqe = ring_.sqe();
    // recvmsg for the receive time in its control message; the provided buffer replaces the
    // one iovec (rx_iov_: no base, the buffer size).
    std::memset(s.rx_control, 0, sizeof s.rx_control);
    s.rx_msg = msghdr{};
    s.rx_msg.msg_iov = &rx_iov_;
    s.rx_msg.msg_iovlen = 1;
    s.rx_msg.msg_control = s.rx_control;
    s.rx_msg.msg_controllen = sizeof s.rx_control;
    io_uring_prep_recvmsg(sqe, s.fd, &s.rx_msg, 0);
    on_socket_of(sqe, s.direct);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = ReceiveBuffers::group;
    io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Recv}));
    s.pending += 1;
}

// The one place a send is prepared: n bytes from data on the probe's socket, counted in its
// pending SQEs. The caller links it (the chain) or marks it in flight (TLS).
io_uring_sqe* Worker::prep_send(Slot& s, const char* data, std::size_t n) {
    const std::uint32_t idx = static_cast<std::uint32_t>(&s - slots_.data());
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_send(sqe, s.fd, data, n, MSG_NOSIGNAL);
    on_socket_of(sqe, s.direct);
    io_uring_sqe_set_data64(sqe, pack_user_data({idx, s.generation, Op::Send}));
    s.pending += 1;
    return sqe;
}

// TLS: one ciphertext send at a time.
void Worker::queue_send(Slot& s, const char* data, std::size_t n) {
    prep_send(s, data, n);
    s.send_in_flight = true;
}

// A PROXY header, before anything else on the connection (Tcp: before the close; Tls: before
// the ClientHello), naming the connection as the kernel made it: our address and port from
// getsockname, the backend's. It goes out with send(2) rather than through the ring: a send of
// at most proxy_header_max bytes on a connection that has sent nothing never waits, so the
// worker's one buffer serves every probe and no slot holds a copy until a completion comes
// back. False when it decided the probe (a backend that reset the connection at once refused
// the header as far as a probe can tell).
bool Worker::send_proxy_header(Slot& s, std::uint64_t now) {
    if (s.direct) {
        // Started on a direct socket under a plan without the header, which a reload replaced
        // while it connected: the header starts with the next attempt (a table entry is no
        // descriptor to ask getsockname about).
        return true;
    }
    const Target& t = plan_->targets[s.plan_index];
    sockaddr_in6 self{};  // an IPv4 socket's sockaddr_in fits in it
    socklen_t self_len = sizeof self;
    if (::getsockname(s.fd, reinterpret_cast<sockaddr*>(&self), &self_len) != 0) {
        decide(s, Reason::ProberError, now, errno);
        return false;
    }
    const std::size_t n =
        build_proxy_header(t.proxy_protocol, reinterpret_cast<const sockaddr*>(&self),
                           reinterpret_cast<const sockaddr*>(&s.addr), proxy_header_);
    RP_ASSERT_HOT(n > 0);
    const ssize_t sent = ::send(s.fd, proxy_header_, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent == static_cast<ssize_t>(n)) {
        return true;
    }
    const int err = sent < 0 ? errno : EAGAIN;
    if (err == ECONNRESET || err == EPIPE) {
        decide(s, Reason::ProxyRejected, now, err);
    } else {
        decide(s, sent < 0 ? exchange_reason(err) : Reason::ProberError, now, err);
    }
    return false;
}

// The one place a probe's operations are cancelled: every SQE on its socket (by its table
// entry for a direct one). Its completion names no slot.
io_uring_sqe* Worker::queue_cancel(Slot& s) {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_cancel_fd(
        sqe, s.fd, IORING_ASYNC_CANCEL_ALL | (s.direct ? IORING_ASYNC_CANCEL_FD_FIXED : 0));
    io_uring_sqe_set_data64(sqe, pack_user_data({0, 0, Op::Cancel}));
    s.cancel_sent = true;
    return sqe;
}

}  // namespace ringprobe::engine
