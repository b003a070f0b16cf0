// Stage: TLS probes. A TLS client (tls.hpp) works over memory buffers; this file drives one over
// the probe's socket: it starts the client once the connect is done, moves it on after every
// send and receive until it needs the network or has a verdict (HTTPS: the request goes into
// the stream once the handshake is done, the plaintext answer to the probe's HTTP parser), and
// at the end takes what the handshake showed (the verdict's detail, the certificate facts for
// the report) before the client goes back to the pool.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>

#include "common/assert.hpp"
#include "engine/probe_slot.hpp"

namespace ringprobe::engine {

// The pool's client of s starts its handshake (resuming the target's session where the target
// allows it); false when it cannot start at all.
bool Worker::tls_start(Slot& s, const Target& t) {
    const std::size_t slot = static_cast<std::size_t>(&s - slots_.data());
    TlsSession* session = t.tls_resume ? tls_sessions_[slot].get() : nullptr;
    return tls_pool_[s.tls]->start(tls_->for_target(s.plan_index), t.sni, t.host, session,
                                   ClientOptions{t.validate_chain, t.validate_sni, 0});
}

// Moves a TLS probe forward until it needs the network or has a verdict. Bounded: every step
// either consumes input, produces output or ends the probe.
void Worker::tls_drive(Slot& s, std::uint64_t now) {
    TlsClient& c = *tls_pool_[s.tls];
    const Target& t = plan_->targets[s.plan_index];
    for (int guard = 0; guard < 64 && s.state == State::Exchanging; ++guard) {
        if (c.handshake_done()) {
            // The handshake can complete inside a step that still asks to send (the client's
            // Finished, a resumed session): note when, and for a Tls probe that is the verdict.
            if (s.tls_done_ns == 0) {
                s.tls_done_ns = now;
            }
            if (t.protocol == Protocol::Tls) {
                decide(s, Reason::Ok, now);
                return;
            }
        }
        Step st;
        if (!c.handshake_done()) {
            st = c.handshake();
        } else if (!s.request_written) {
            s.request_written = true;
            st = c.write_plaintext(std::span<const char>(t.request.data(), t.request.size()));
        } else {
            st = c.read_plaintext(plaintext_.get(), plaintext_bytes);
        }
        switch (st.kind) {
            case StepKind::NeedSend:
                if (!s.send_in_flight) {
                    const std::span<const char> out = c.pending_ciphertext();
                    queue_send(s, out.data(), out.size());
                }
                return;
            case StepKind::NeedReceive:
                if (!s.recv_in_flight) {
                    queue_recv(s);
                    s.recv_in_flight = true;
                }
                return;
            case StepKind::HandshakeDone:
                break;  // verified: the loop's top records it and ends a Tls probe
            case StepKind::PlaintextAvailable:
                if (s.first_byte_ns == 0) {
                    s.first_byte_ns = now;
                }
                on_plaintext(s, plaintext_.get(), st.bytes, false, now);
                break;
            case StepKind::Closed: on_plaintext(s, nullptr, 0, true, now); return;
            case StepKind::Failed: decide(s, c.reason(), now); return;
        }
    }
}

void Worker::on_plaintext(Slot& s, const char* data, std::size_t n, bool eof, std::uint64_t now) {
    HttpParser& p = parsers_[&s - slots_.data()];
    const HttpParser::Status st = eof ? p.finish_on_close() : p.feed(data, n);
    if (st == HttpParser::Status::NeedMore) {
        return;
    }
    s.http_status = p.status_code();
    const Reason r = http_verdict(p, plan_->targets[s.plan_index].match_status);
    decide(s, tls_pool_[s.tls]->judge_http_refusal(p.status_code(), r), now);
}

// TLS: the verdict's detail (which certificate, which name, which date) comes from the
// client; a Healthy target whose chain expires within certExpiryWarningDays carries a
// warning instead (and the report flag).
void Worker::tls_verdict(Slot& s, Reason r, std::uint64_t now, std::string_view& detail,
                         std::uint8_t& flags) {
    const Target& t = plan_->targets[s.plan_index];
    TlsClient& c = *tls_pool_[s.tls];
    detail = c.detail();
    if (reason_info(r).layer == Layer::L6) {
        bump(counters_.tls_failed);
    }
    publish_tls(s, c, r, now);
    const tls::CertFacts& f = c.facts();
    if (r == Reason::Ok && f.earliest_not_after_s != 0 && t.cert_expiry_warning_days != 0) {
        const std::int64_t days = f.days_until_expiry(
            static_cast<std::int64_t>(wall_.to_unix_ns(now) / 1'000'000'000ull));
        if (days < t.cert_expiry_warning_days) {
            // Nothing formatted per probe: the reader says how many days from the chain's
            // dates in the TLS record and the time it reads (report::cert_expiring).
            detail = "warning: the certificate chain expires within certExpiryWarningDays";
            flags |= abi::kStateCertExpiring;
        }
    }
}

// The client back to the pool, for the next TLS probe in line.
void Worker::release_tls(Slot& s) {
    tls_pool_[s.tls]->finish();
    tls_free_.push_back(s.tls);
    s.tls = no_tls;
}

namespace {

template <std::size_t N, std::size_t M>
void copy_text(char (&to)[N], const char (&from)[M]) {
    static_assert(N >= M);
    std::memcpy(to, from, M);
    to[N - 1] = '\0';
}

}  // namespace

// The chain and connection of the handshake that just ended, into the target's TlsFacts record:
// a full handshake brings the presented chain; a resumed one the chain of the full handshake
// behind its session (the client keeps it). A handshake that failed before any certificate
// arrived (a refused version, an alert, a stall) leaves the last record alone except for the
// counters. A memcpy of fixed arrays: nothing allocated or formatted.
void Worker::publish_tls(Slot& s, const TlsClient& c, Reason r, std::uint64_t now) {
    const tls::CertFacts& f = c.facts();
    const bool presented = f.presented > 0;
    // The target's counts: an FQDN target's addresses share its one record.
    std::uint32_t& full = s.name == no_name ? s.tls_full : names_[s.name].tls_full;
    std::uint32_t& resumed = s.name == no_name ? s.tls_resumed : names_[s.name].tls_resumed;
    if (c.handshake_done()) {
        if (f.resumed) {
            resumed += 1;
            bump(counters_.tls_resumed);
        } else {
            full += 1;
            bump(counters_.tls_full);
        }
    }
    if (writer_ == nullptr || (!presented && !c.handshake_done())) {
        return;
    }
    const std::uint32_t slot = writer_->tls_slot(s.plan_index);
    if (slot == abi::kNoSlot) {
        return;
    }
    abi::TlsFactsPayload p{};
    p.captured_unix_ns = wall_.to_unix_ns(now);
    p.presented = f.presented;
    p.chain_count = static_cast<std::uint8_t>(
        std::min<std::size_t>({f.presented, tls::chain_facts_max, abi::kChainRecords}));
    p.sni_sent = c.sni_sent() ? 1 : 0;
    p.handshake_ok = c.handshake_done() && reason_info(r).layer != Layer::L6 ? 1 : 0;
    p.verify_error = f.verify_error;
    p.earliest_not_after_s = f.earliest_not_after_s;
    p.full_handshakes = full;
    p.resumed_handshakes = resumed;
    copy_text(p.protocol, f.protocol);
    copy_text(p.cipher, f.cipher);
    copy_text(p.anchor, f.anchor);
    for (std::size_t i = 0; i < p.chain_count; ++i) {
        const tls::CertInfo& from = f.chain[i];
        abi::CertRecord& to = p.chain[i];
        copy_text(to.subject, from.subject);
        copy_text(to.issuer, from.issuer);
        copy_text(to.common_name, from.common_name);
        copy_text(to.sans, from.sans);
        to.not_before_s = from.not_before_s;
        to.not_after_s = from.not_after_s;
        std::memcpy(to.sha256, from.sha256.data(), sizeof to.sha256);
        to.is_ca = from.is_ca ? 1 : 0;
        to.self_issued = from.self_issued ? 1 : 0;
    }
    writer_->publish_tls_facts(slot, p);
}

}  // namespace ringprobe::engine
