// Stage: a probe's I/O and verdict. Each completion is matched to its probe by user_data (a
// stale one, for an attempt that has ended, is counted and dropped), moves the probe on
// (connected, sent, received, parsed), and the first verdict wins: decide() cancels what is
// still in the kernel, and finish() runs once the last completion is back. A receive that
// found no buffer waits for the turn's end (resume_receives) instead of asking again at once.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "engine/errno_reason.hpp"
#include "engine/probe_slot.hpp"
#include "engine/user_data.hpp"

namespace ringprobe::engine {

void Worker::on_cqe(std::uint64_t user_data, int res, unsigned flags, std::uint64_t now) {
    const UserData u = unpack_user_data(user_data);
    if (u.op == Op::Close) {
        RP_ASSERT_HOT(fds_held_ > 0);
        fds_held_ -= 1;  // success or not, the descriptor is gone (close(2) semantics)
        return;
    }
    if (u.op == Op::CloseDirect) {
        free_files_.push_back(u.target);  // the table entry, free for the next socket
        return;
    }
    if (u.op == Op::Cancel) {
        return;  // outcomes of housekeeping SQEs carry no verdict
    }
    RP_ASSERT_HOT(u.target < slots_.size());
    Slot& s = slots_[u.target];
    if ((s.generation & generation_mask) != u.generation || s.pending == 0) {
        bump(counters_.stale_completions);
        if (ReceiveBuffers::taken(flags)) {
            // Give back a buffer a stale recv took (cannot happen while pending counts are
            // exact, but a buffer must never leak).
            recv_buffers_.give_back(ReceiveBuffers::id_of(flags));
        }
        return;
    }
    s.pending -= 1;
    switch (u.op) {
        case Op::Socket: on_socket(s, res, now); break;
        case Op::Connect: on_connect(s, res, now); break;
        case Op::Send: on_send(s, res, now); break;
        case Op::Recv: on_recv(s, res, flags, now); break;
        case Op::Peek: on_peek(s, res, now); break;
        case Op::Shutdown:  // only its count: the completions it forces decide
        case Op::SockOpt:   // only its count: an option refused costs a packet, not a verdict
        case Op::Close:
        case Op::CloseDirect:
        case Op::Cancel:
        case Op::Wake: break;
    }
    maybe_finish(s, now);
}

void Worker::on_socket(Slot& s, int res, std::uint64_t now) {
    // Success needs nothing: the linked connect runs on the new socket. A failure (the system
    // is out of files or memory) cancels the connect behind it and is the prober's.
    if (res < 0 && s.state == State::Connecting) {
        decide(s, socket_reason(-res), now, -res);
    }
}

void Worker::on_connect(Slot& s, int res, std::uint64_t now) {
    if (s.state != State::Connecting) {
        return;  // a verdict came first (deadline); this is the cancelled connect
    }
    if (res < 0) {
        decide(s, connect_reason(-res), now, -res);
        return;
    }
    s.connected_ns = now;
    const Target& t = plan_->targets[s.plan_index];
    if (t.proxy_protocol != ProxyProtocol::None && !send_proxy_header(s, now)) {
        return;
    }
    if (t.protocol == Protocol::Tcp) {
        decide(s, Reason::Ok, now);  // Tcp: the connect is the whole probe
        return;
    }
    s.state = State::Exchanging;
    if (s.tls != no_tls) {
        if (!tls_start(s, t)) {
            decide(s, Reason::TlsHandshakeFailed, now);
            return;
        }
        s.proxy_unanswered = t.proxy_protocol != ProxyProtocol::None;
        tls_drive(s, now);
    }
}

void Worker::on_send(Slot& s, int res, std::uint64_t now) {
    s.send_in_flight = false;
    if (s.state != State::Exchanging) {
        return;
    }
    const Target& t = plan_->targets[s.plan_index];
    if (res < 0) {
        if (res != -ECANCELED && stale_race(s, -res, now)) {
            return;
        }
        decide(s, res == -ECANCELED ? Reason::ConnectionReset : exchange_reason(-res), now, -res);
        return;
    }
    if (s.tls != no_tls) {
        tls_pool_[s.tls]->consume_sent(static_cast<std::size_t>(res));
        tls_drive(s, now);
        return;
    }
    s.sent += static_cast<std::uint32_t>(res);
    if (s.sent < t.request.size()) {
        // Short send: the rest goes out now; the recv already queued waits for the answer.
        prep_send(s, t.request.data() + s.sent, t.request.size() - s.sent);
    }
}

void Worker::on_recv(Slot& s, int res, unsigned flags, std::uint64_t now) {
    const bool has_buffer = ReceiveBuffers::taken(flags);
    const unsigned bid = has_buffer ? ReceiveBuffers::id_of(flags) : 0;
    char* const data = has_buffer ? recv_buffers_.data(bid) : nullptr;
    auto give_back = [&] {
        if (has_buffer) {
            recv_buffers_.give_back(bid);
        }
    };
    if (s.state != State::Exchanging) {
        give_back();
        return;
    }
    if (res == -ENOBUFS) {
        // Every provided buffer is in use this instant: ours, not the backend's. Wait for the
        // turn's end, when they are all back, and ask again then, as many as there are buffers
        // (resume_receives). Asking again at once made a storm: each turn received one ring's
        // worth and failed every other waiting receive again, the turns stretched and the
        // answers piled up (1.3 million failed asks in 5 s at 35,000 probes/s).
        bump(counters_.recv_no_buffer);
        if (!s.recv_parked) {
            s.recv_parked = true;
            recv_parked_ += 1;
        }
        return;
    }
    if (res == -ECANCELED) {
        // The linked send failed first and already decided; or a cancel we issued.
        if (s.verdict == Reason::Pending) {
            decide(s, Reason::ConnectionReset, now, ECANCELED);
        }
        return;
    }
    if (res <= 0 && stale_race(s, -res, now)) {
        give_back();  // an end carries no buffer; a reset none either
        return;
    }
    if (res < 0) {
        decide(s, exchange_reason(-res), now, -res);
        return;
    }
    // From here on the probe's phases are stamped when the kernel received these bytes. The
    // connect's completion was reaped (a quantum's wait at most) with the answer it made
    // possible: it cannot have ended after these bytes came in.
    now = received_at(s.rx_msg, wall_, s.start_ns, now);
    s.connected_ns = std::min(s.connected_ns, now);
    if (s.tls != no_tls) {
        s.recv_in_flight = false;
        s.proxy_unanswered = s.proxy_unanswered && res == 0;
        TlsClient& c = *tls_pool_[s.tls];
        if (res == 0) {
            c.feed_eof();
        } else {
            c.feed_ciphertext(data, static_cast<std::size_t>(res));
        }
        give_back();
        tls_drive(s, now);
        return;
    }
    HttpParser& p = parsers_[&s - slots_.data()];
    HttpParser::Status st;
    if (res == 0) {
        st = p.finish_on_close();
    } else {
        if (s.first_byte_ns == 0) {
            s.first_byte_ns = now;
        }
        st = p.feed(data, static_cast<std::size_t>(res));
    }
    give_back();
    if (st == HttpParser::Status::NeedMore) {
        queue_recv(s);  // res == 0 never leaves NeedMore: finish_on_close() decides
        return;
    }
    s.http_status = p.status_code();
    decide(s, http_verdict(p, plan_->targets[s.plan_index].match_status), now);
}

// A kept connection's check before its request (start_reused): -EAGAIN is a clean, open
// connection. An end or a reset is the stale keep-alive race; bytes are what the server sent
// after the last response (trailing or pipelined): either way the connection cannot carry this
// probe, which starts again on a fresh one.
void Worker::on_peek(Slot& s, int res, std::uint64_t now) {
    if (res == -EAGAIN || res == -ECANCELED || s.state != State::Exchanging) {
        return;
    }
    if (res > 0) {
        bump(counters_.kept_dirty);
    }
    stale_race(s, res > 0 ? 0 : -res, now);
}

// The stale keep-alive race: a probe on a reused connection meets an end or a reset before the
// first byte of its response (the server closed the idle connection as the request went out).
// Not the backend's failure: the probe starts again on a fresh connection once its operations
// are back (finish), inside the same deadline, and this attempt counts nowhere. True when it
// took the probe that way.
bool Worker::stale_race(Slot& s, int err, std::uint64_t now) {
    if (!s.reused || s.first_byte_ns != 0 || s.state != State::Exchanging) {
        return false;
    }
    if (err != 0 && err != ECONNRESET && err != EPIPE && err != ECONNABORTED) {
        return false;
    }
    if (!s.retry_fresh) {
        s.retry_fresh = true;
        bump(counters_.stale_retries);
    }
    decide(s, Reason::ConnectionReset, now, err);
    return true;
}

void Worker::resume_receives() {
    // Every buffer is back once the turn's completions are handled: ask again for as many
    // parked receives as there are buffers, in slot order from where the last turn stopped
    // (a storm is rare; the scan is bounded by the shard and runs only while some wait).
    unsigned budget = opt_.recv_buffers;
    const std::size_t n = slots_.size();
    for (std::size_t k = 0; k < n && budget > 0 && recv_parked_ > 0; ++k) {
        Slot& s = slots_[resume_cursor_];
        resume_cursor_ = resume_cursor_ + 1 == n ? 0 : resume_cursor_ + 1;
        if (!s.recv_parked) {
            continue;
        }
        s.recv_parked = false;
        recv_parked_ -= 1;
        if (s.state != State::Exchanging || s.verdict != Reason::Pending) {
            continue;  // decided while it waited (finish() has not run: other completions due)
        }
        queue_recv(s);
        budget -= 1;
    }
}

void Worker::decide(Slot& s, Reason r, std::uint64_t now, std::int32_t err) {
    RP_ASSERT_HOT(s.state != State::Idle);
    if (s.state == State::Finishing) {
        return;  // first verdict wins
    }
    if (s.proxy_unanswered && (r == Reason::ConnectionReset || r == Reason::TlsHandshakeFailed)) {
        r = Reason::ProxyRejected;  // closed on us before answering the header + ClientHello
    }
    s.verdict = r;
    s.sys_errno = err;
    s.done_ns = now;
    s.state = State::Finishing;
    wheel_.cancel(s.timer);
    if (s.pending > 0 && !s.cancel_sent) {
        // Its success needs no completion; a failure is still reaped (and ignored).
        if (opt_.cancel_on_verdict) {
            queue_cancel(s)->flags |= IOSQE_CQE_SKIP_SUCCESS;
        }
        // Guard: if the cancelled operations have not all completed in 100 ms, on_timer forces
        // the socket down.
        wheel_.schedule(s.timer, ns_to_tick_ceil(now + 100'000'000));
    }
}

void Worker::maybe_finish(Slot& s, std::uint64_t now) {
    if (s.state == State::Finishing && s.pending == 0) {
        finish(s, now);
    }
}

// The end of a probe, once nothing of it is left in the kernel: its socket closed, its result
// counted and applied to the target's health, the next probe scheduled, the verdict published
// (for an FQDN target into its address's record and the name's row), the TLS client returned.
void Worker::finish(Slot& s, std::uint64_t now) {
    RP_ASSERT_HOT(s.pending == 0);
    RP_ASSERT_HOT(s.verdict != Reason::Pending);
    wheel_.cancel(s.timer);
    if (s.recv_parked) {
        s.recv_parked = false;
        recv_parked_ -= 1;
    }
    if (s.retry_fresh && !s.retired && s.verdict == Reason::ConnectionReset) {
        start_fresh_again(s, now);
        return;
    }
    if (reuses_connection(s)) {
        keep_connection(s);
    } else {
        close_socket(s);
    }
    in_flight_ -= 1;
    s.state = State::Idle;
    if (s.retired) [[unlikely]] {
        // Its target left the plan while this probe ran: nothing to count or publish (its
        // plan_index names no target of the plan in force); the slot is free now.
        if (s.tls != no_tls) {
            release_tls(s);
        }
        free_slots_.push_back(static_cast<std::uint32_t>(&s - slots_.data()));
        return;
    }
    const Reason r = s.verdict;
    count_result(s, r, now);
    schedule_after(s, r, now);
    std::string_view detail;
    std::uint8_t flags = 0;
    if (r == Reason::BodyMismatch && parsers_[&s - slots_.data()].body_window_full()) {
        flags |= abi::kStateBodyCut;
    }
    if (s.tls != no_tls) {
        tls_verdict(s, r, now, detail, flags);
    }
    if (s.name == no_name) {
        publish(s, detail, flags);
    } else {
        address_done(s, r, flags, now);
    }
    record_history(s);
    if (s.tls != no_tls) {
        release_tls(s);
    }
}

// Keep the connection for the target's next probe: a reuse target's successful answer that
// ended at its own framing with the connection open (HttpParser::keeps_connection), an IP
// target's (an FQDN name's addresses come and go), and no start waiting for a socket.
bool Worker::reuses_connection(const Slot& s) const {
    const Target& t = plan_->targets[s.plan_index];
    return t.connection_reuse && s.verdict == Reason::Ok && s.fd >= 0 && !s.retired && s.active &&
           s.name == no_name && deferred_count_ == 0 &&
           parsers_[&s - slots_.data()].keeps_connection();
}

void Worker::close_socket(Slot& s) {
    if (s.fd >= 0 && s.direct) {
        // Its completion gives the table entry back (and the socket to the budget).
        io_uring_sqe* sqe = ring_.sqe();
        io_uring_prep_close_direct(sqe, static_cast<unsigned>(s.fd));
        io_uring_sqe_set_data64(
            sqe, pack_user_data({static_cast<std::uint32_t>(s.fd), 0, Op::CloseDirect}));
        s.fd = -1;
        s.direct = false;
    }
    if (s.fd >= 0) {
#if defined(__SANITIZE_THREAD__)
        // ThreadSanitizer does not see a close submitted through io_uring, and then reports the
        // next user of the same descriptor number as racing with this socket: close it in the
        // open under TSan.
        ::close(s.fd);
        fds_held_ -= 1;
#else
        // The close goes through the ring too; its completion names no slot and only gives
        // the descriptor back to the budget (fds_held_), so the budget never counts on a
        // descriptor the kernel has not released yet.
        io_uring_sqe* sqe = ring_.sqe();
        io_uring_prep_close(sqe, s.fd);
        io_uring_sqe_set_data64(sqe, pack_user_data({0, 0, Op::Close}));
#endif
        s.fd = -1;
    }
}

// The probe's result into the worker's counters, the target's totals and its health; a change
// of an IP target's health is a transition for the log.
void Worker::count_result(Slot& s, Reason r, std::uint64_t now) {
    const Target& t = plan_->targets[s.plan_index];
    bump(counters_.probes_completed);
    bump(counters_.by_reason[static_cast<std::size_t>(r)]);
    if (t.connection_reuse) {
        bump(s.reused ? counters_.connections_reused : counters_.connections_new);
    }
    const std::uint32_t duration_us = us_between(s.start_ns, s.done_ns);
    counters_.duration_us.record(duration_us);
    bump(counters_.duration_us_sum, std::uint64_t{duration_us});
    s.total_probes += 1;
    s.last_probe_ns = s.start_ns;
    s.last_reason = r;
    if (reason_is_prober_side(r)) {
        s.total_prober += 1;
        bump(counters_.prober_errors);
    } else if (r == Reason::Ok) {
        s.total_ok += 1;
        bump(counters_.probes_ok);
    } else {
        s.total_fail += 1;
        bump(counters_.probes_failed);
    }
    const Health before = s.health.health;
    const bool changed =
        apply_result(s.health, r, Thresholds{t.healthy_threshold, t.unhealthy_threshold});
    if (changed) {
        s.last_change_ns = now;
    }
    s.changes = shift_change(s.changes, changed);
    if (changed && s.name == no_name) {  // an address's own changes are in its record, not logged
        log_transition(Transition{s.plan_index, before, s.health.health, r, s.http_status,
                                  wall_.to_unix_ns(now), epoch_},
                       s.sys_errno);
    }
}

void Worker::schedule_after(Slot& s, Reason r, std::uint64_t now) {
    if (!s.active) {
        // Its address left the DNS answer while this probe was in flight: no next probe.
    } else if (reason_is_prober_side(r)) {
        // Retried soon, and never counted against the backend.
        s.next_ns = on_grid(now + opt_.retry_delay_ns);
        wheel_.schedule(s.timer, ns_to_tick_ceil(s.next_ns));
    } else {
        schedule_next(s, now);
    }
}

void Worker::prober_error(Slot& s, Reason r, int err, std::uint64_t now) {
    s.state = State::Finishing;
    s.verdict = r;
    s.sys_errno = err;
    s.done_ns = now;
    in_flight_ += 1;
    finish(s, now);
}

}  // namespace ringprobe::engine
