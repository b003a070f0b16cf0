// The TLS client over memory buffers and its sessions (client.hpp).
#include "engine/tls/client.hpp"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/error-ssl.h>
// clang-format on

#include <algorithm>
#include <cstring>
#include <ctime>
#include <vector>

#include "common/assert.hpp"
#include "common/text.hpp"
#include "engine/tls/bounded_text.hpp"
#include "engine/tls/chain.hpp"

namespace ringprobe::tls {

namespace {

// Presented chains longer than this are described up to here (a real chain has 2 to 4).
constexpr std::size_t presented_max = 10;

}  // namespace

// ---------------------------------------------------------------------------------------------
// TlsSession

TlsSession::~TlsSession() {
    clear();
}

void TlsSession::clear() {
    if (session_ != nullptr) {
        wolfSSL_SESSION_free(session_);
        session_ = nullptr;
    }
}

// ---------------------------------------------------------------------------------------------
// TlsClient

struct TlsClient::Presented {
    std::vector<ParsedCert> certs;
};

TlsClient::TlsClient()
    : in_(std::make_unique<char[]>(in_capacity)),
      out_(std::make_unique<char[]>(out_capacity)),
      presented_(std::make_unique<Presented>()) {
    presented_->certs.reserve(presented_max);
}

TlsClient::~TlsClient() {
    finish();
}

bool TlsClient::start(const TrustConfig& trust, std::string_view sni, std::string_view host,
                      TlsSession* session, ClientOptions options) {
    RP_ASSERT(ssl_ == nullptr);
    RP_ASSERT(trust.ctx != nullptr);
    trust_ = &trust;
    session_ = session;
    options_ = options;
    if (options_.now_s == 0) {
        options_.now_s = static_cast<std::int64_t>(std::time(nullptr));
    }
    state_ = State::Handshaking;
    reason_ = Reason::Pending;
    sni_sent_ = false;
    chain_captured_ = false;
    eof_ = false;
    ticket_seen_ = false;
    cert_requested_ = false;
    in_begin_ = in_end_ = 0;
    out_begin_ = out_end_ = 0;
    detail_len_ = 0;
    detail_[0] = '\0';
    facts_ = CertFacts{};
    presented_->certs.clear();
    bool send_sni = !sni.empty() && !is_ip_literal(sni);
    // A Host value may carry a port ("example.com:8443") or brackets ("[::1]"): the certificate
    // carries neither.
    std::string_view name = send_sni ? sni : host_without_port(host);
    name_len_ = std::min(name.size(), sizeof name_ - 1);
    std::memcpy(name_, name.data(), name_len_);
    name_[name_len_] = '\0';

    ssl_ = wolfSSL_new(trust.ctx);
    if (ssl_ == nullptr) {
        fail(Reason::TlsHandshakeFailed);
        BoundedText(detail_, sizeof detail_).add("prober: wolfSSL_new failed (out of memory)");
        detail_len_ = std::strlen(detail_);
        return false;
    }
    wolfSSL_SetIOReadCtx(ssl_, this);
    wolfSSL_SetIOWriteCtx(ssl_, this);
    wolfSSL_SSLSetIORecv(ssl_, &TlsClient::on_recv);
    wolfSSL_SSLSetIOSend(ssl_, &TlsClient::on_send);
    wolfSSL_set_verify(ssl_, WOLFSSL_VERIFY_PEER, &TlsClient::on_verify);
    wolfSSL_SetCertCbCtx(ssl_, this);
    wolfSSL_set_SessionTicket_cb(ssl_, &TlsClient::on_ticket, this);
    if (send_sni) {
        wolfSSL_UseSNI(ssl_, WOLFSSL_SNI_HOST_NAME, sni.data(), static_cast<word16>(sni.size()));
        sni_sent_ = true;
    }
    if (session_ != nullptr && session_->session_ != nullptr) {
        wolfSSL_set_session(ssl_, session_->session_);
    }
    return true;
}

void TlsClient::finish() {
    if (ssl_ != nullptr) {
        wolfSSL_free(ssl_);
        ssl_ = nullptr;
    }
    if (state_ == State::Handshaking || state_ == State::Established) {
        state_ = State::Closed;
    }
}

int TlsClient::on_recv(WOLFSSL*, char* buf, int sz, void* ctx) {
    auto* self = static_cast<TlsClient*>(ctx);
    std::size_t avail = self->in_end_ - self->in_begin_;
    if (avail == 0) {
        return self->eof_ ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
    }
    std::size_t n = std::min(avail, static_cast<std::size_t>(sz));
    std::memcpy(buf, self->in_.get() + self->in_begin_, n);
    self->in_begin_ += n;
    if (self->in_begin_ == self->in_end_) {
        self->in_begin_ = self->in_end_ = 0;
    }
    return static_cast<int>(n);
}

int TlsClient::on_send(WOLFSSL*, char* buf, int sz, void* ctx) {
    auto* self = static_cast<TlsClient*>(ctx);
    if (self->out_begin_ == self->out_end_) {
        self->out_begin_ = self->out_end_ = 0;
    }
    std::size_t room = out_capacity - self->out_end_;
    if (room == 0) {
        return WOLFSSL_CBIO_ERR_WANT_WRITE;
    }
    std::size_t n = std::min(room, static_cast<std::size_t>(sz));
    std::memcpy(self->out_.get() + self->out_end_, buf, n);
    self->out_end_ += n;
    return static_cast<int>(n);
}

// Called for every certificate (WOLFSSL_ALWAYS_VERIFY_CB). Keeps the presented chain the
// first time and the first error; always accepts, so that classify() can name the problem.
int TlsClient::on_verify(int preverify, WOLFSSL_X509_STORE_CTX* store) {
    auto* self = static_cast<TlsClient*>(store->userCtx);
    if (self == nullptr) {
        return preverify;
    }
    if (!self->chain_captured_) {
        self->capture_chain(store);
    }
    if (preverify == 0 && self->facts_.verify_error == 0) {
        self->facts_.verify_error = store->error != 0 ? store->error : -1;
    }
    return 1;
}

int TlsClient::on_certificate_setup(WOLFSSL* ssl, void*) {
    auto* self = static_cast<TlsClient*>(wolfSSL_GetIOReadCtx(ssl));
    if (self != nullptr) {
        self->cert_requested_ = true;
    }
    return 1;  // go on: wolfSSL sends the context's certificate
}

int TlsClient::on_client_certificate(WOLFSSL* ssl, WOLFSSL_X509**, WOLFSSL_EVP_PKEY**) {
    auto* self = static_cast<TlsClient*>(wolfSSL_GetIOReadCtx(ssl));
    if (self != nullptr) {
        self->cert_requested_ = true;
    }
    return 0;  // none to give: wolfSSL sends an empty Certificate
}

int TlsClient::on_ticket(WOLFSSL*, const unsigned char*, int, void* ctx) {
    static_cast<TlsClient*>(ctx)->ticket_seen_ = true;
    return 0;
}

void TlsClient::capture_chain(WOLFSSL_X509_STORE_CTX* store) {
    chain_captured_ = true;
    int total = store->totalCerts;
    facts_.presented = static_cast<std::uint8_t>(std::min(total, 255));
    for (int i = 0; i < total && static_cast<std::size_t>(i) < presented_max; ++i) {
        ParsedCert p;
        if (!parse_der(store->certs[i].buffer, static_cast<int>(store->certs[i].length), p)) {
            p.subject = "(unparseable certificate)";
        }
        if (static_cast<std::size_t>(i) < chain_facts_max) {
            facts_.chain[static_cast<std::size_t>(i)] = p.info;
        }
        presented_->certs.push_back(std::move(p));
    }
}

std::span<const char> TlsClient::pending_ciphertext() const {
    return {out_.get() + out_begin_, out_end_ - out_begin_};
}

void TlsClient::consume_sent(std::size_t n) {
    RP_ASSERT(n <= out_end_ - out_begin_);
    out_begin_ += n;
    if (out_begin_ == out_end_) {
        out_begin_ = out_end_ = 0;
    }
}

std::size_t TlsClient::feed_ciphertext(const char* data, std::size_t n) {
    if (in_begin_ > 0 && in_end_ + n > in_capacity) {
        std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
        in_end_ -= in_begin_;
        in_begin_ = 0;
    }
    std::size_t take = std::min(n, in_capacity - in_end_);
    std::memcpy(in_.get() + in_end_, data, take);
    in_end_ += take;
    return take;
}

void TlsClient::feed_eof() {
    eof_ = true;
}

Step TlsClient::fail(Reason r) {
    reason_ = r;
    state_ = State::Failed;
    if (session_ != nullptr) {
        session_->clear();  // a failed target starts over with a full handshake
    }
    return Step{StepKind::Failed, 0};
}

Step TlsClient::handshake() {
    switch (state_) {
        case State::Failed: return Step{StepKind::Failed, 0};
        case State::Established:
        case State::Closed:
            if (out_end_ > out_begin_) {
                return Step{StepKind::NeedSend, 0};
            }
            return Step{StepKind::HandshakeDone, 0};
        case State::Idle: RP_ASSERT(false); break;
        case State::Handshaking: break;
    }
    int rc = wolfSSL_connect(ssl_);
    if (rc == WOLFSSL_SUCCESS) {
        Step s = handshake_finished();
        if (s.kind == StepKind::HandshakeDone && out_end_ > out_begin_) {
            return Step{StepKind::NeedSend, 0};  // the client Finished is still to go out
        }
        return s;
    }
    int err = wolfSSL_get_error(ssl_, rc);
    if (out_end_ > out_begin_) {
        return Step{StepKind::NeedSend, 0};
    }
    if (err == WOLFSSL_ERROR_WANT_READ) {
        if (eof_) {
            return handshake_error(SOCKET_PEER_CLOSED_E);
        }
        return Step{StepKind::NeedReceive, 0};
    }
    if (err == WOLFSSL_ERROR_WANT_WRITE) {
        return Step{StepKind::NeedSend, 0};
    }
    return handshake_error(err);
}

void TlsClient::fill_connection_facts() {
    copy_bounded(facts_.protocol, wolfSSL_get_version(ssl_));
    const char* cipher = wolfSSL_get_cipher_name(ssl_);
    copy_bounded(facts_.cipher, cipher != nullptr ? cipher : "");
}

Step TlsClient::handshake_finished() {
    bool resumed = wolfSSL_session_reused(ssl_) != 0;
    if (resumed && session_ != nullptr) {
        // No certificate was on the wire: the facts are those of the full handshake that made
        // the session (which was verified, or it would not have been kept).
        facts_ = session_->facts_;
        facts_.resumed = true;
        cert_requested_ = session_->cert_requested_;
    } else if (!classify()) {
        return fail(reason_);
    }
    fill_connection_facts();
    state_ = State::Established;
    save_session();
    return Step{StepKind::HandshakeDone, 0};
}

void TlsClient::save_session() {
    if (session_ == nullptr || ssl_ == nullptr) {
        return;
    }
    if (!facts_.resumed) {
        session_->facts_ = facts_;
        session_->cert_requested_ = cert_requested_;
    }
    WOLFSSL_SESSION* s = wolfSSL_get1_session(ssl_);
    if (s == nullptr) {
        return;
    }
    if (wolfSSL_SESSION_is_resumable(s) != 1) {
        wolfSSL_SESSION_free(s);
        return;
    }
    session_->clear();
    session_->session_ = s;
}

Step TlsClient::handshake_error(int err) {
    // A certificate problem seen before the handshake died explains it best (a wrong-order
    // chain makes the signature check fail against the first certificate, for instance).
    if (chain_captured_ && !classify()) {
        return fail(reason_);
    }
    BoundedText d(detail_, sizeof detail_);
    WOLFSSL_ALERT_HISTORY h{};
    wolfSSL_get_alert_history(ssl_, &h);
    bool alert_rx = h.last_rx.level == alert_fatal || err == FATAL_ERROR;
    if (eof_ && !alert_rx && cert_requested_ && !trust_->has_client_certificate) {
        // Some servers (wolfSSL's among them) close without an alert on an empty Certificate.
        d.add(
            "the server closed the connection after asking for a client certificate; none is "
            "configured");
        detail_len_ = d.size();
        return fail(Reason::ClientCertRequired);
    }
    if (err == VERSION_ERROR || (alert_rx && h.last_rx.code == protocol_version)) {
        d.add("protocol version: no TLS 1.2 or 1.3 in common with the server");
        if (alert_rx) {
            d.add(" (alert ").num(h.last_rx.code).add(")");
        }
        detail_len_ = d.size();
        return fail(Reason::TlsProtocolVersion);
    }
    if (alert_rx && h.last_rx.code > 0) {
        return alert_failure(h.last_rx.code, d);
    }
    char text[WOLFSSL_MAX_ERROR_SZ] = {};
    wolfSSL_ERR_error_string_n(static_cast<unsigned long>(err), text, sizeof text);
    d.add("handshake failed: error ").num(err).add(" ").add(text);
    detail_len_ = d.size();
    return fail(Reason::TlsHandshakeFailed);
}

namespace {

// The alerts a server sends about the client's certificate (RFC 8446 6.2, RFC 5246 7.2.2), once
// it asked for one: handshake_failure is what TLS 1.2 servers send for a missing one.
bool alert_about_client_certificate(int alert, bool had_one) {
    switch (alert) {
        case certificate_required:
        case handshake_failure: return true;
        case bad_certificate:
        case unsupported_certificate:
        case certificate_revoked:
        case certificate_expired:
        case certificate_unknown:
        case unknown_ca:
        case access_denied:
        case decrypt_error: return had_one;
        default: return false;
    }
}

}  // namespace

// A fatal alert from the server: about our certificate when the server asked for one and the
// alert is one of those, else TlsAlert.
Step TlsClient::alert_failure(int alert, BoundedText& d) {
    const char* name = wolfSSL_alert_desc_string_long(alert);
    d.add("server sent alert ").num(alert).add(" ").add(name != nullptr ? name : "");
    const bool had_one = trust_ != nullptr && trust_->has_client_certificate;
    if (cert_requested_ && alert_about_client_certificate(alert, had_one)) {
        if (!had_one) {
            d.add(" after asking for a client certificate; none is configured");
            detail_len_ = d.size();
            return fail(Reason::ClientCertRequired);
        }
        d.add(" for the client certificate ").add(label_dn(trust_->client_certificate.subject));
        d.add(" (issuer ").add(label_dn(trust_->client_certificate.issuer)).add(")");
        detail_len_ = d.size();
        return fail(Reason::ClientCertRejected);
    }
    if (sni_sent_) {
        d.add(" (SNI ").add(std::string_view(name_, name_len_)).add(")");
    }
    detail_len_ = d.size();
    return fail(Reason::TlsAlert);
}

Reason TlsClient::judge_http_refusal(int http_status, Reason fallback) {
    if (!cert_requested_ || http_status != 400 || fallback == Reason::Ok) {
        return fallback;
    }
    BoundedText d(detail_, sizeof detail_);
    if (session_ != nullptr) {
        session_->clear();  // the next probe shows the certificate again, in a full handshake
    }
    d.add("HTTP 400 after the server asked for a client certificate");
    if (trust_ == nullptr || !trust_->has_client_certificate) {
        d.add("; none is configured");
        detail_len_ = d.size();
        return Reason::ClientCertRequired;
    }
    const CertInfo& mine = trust_->client_certificate;
    d.add(": it refused ").add(label_dn(mine.subject));
    d.add(" (issuer ").add(label_dn(mine.issuer)).add(")");
    if (mine.not_after_s != 0 && mine.not_after_s < options_.now_s) {
        d.add(": certificate_expired, on ").time(mine.not_after_s);
    } else if (mine.not_before_s > options_.now_s) {
        d.add(": not valid before ").time(mine.not_before_s);
    }
    detail_len_ = d.size();
    return Reason::ClientCertRejected;
}

Step TlsClient::write_plaintext(std::span<const char> plain) {
    RP_ASSERT(state_ == State::Established);
    RP_ASSERT(plain.size() <= out_capacity / 2);  // a request fits: it was built at plan time
    int rc = wolfSSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (rc != static_cast<int>(plain.size())) {
        return handshake_error(wolfSSL_get_error(ssl_, rc));
    }
    return Step{StepKind::NeedSend, 0};
}

Step TlsClient::read_plaintext(char* out, std::size_t capacity) {
    if (out_end_ > out_begin_) {
        return Step{StepKind::NeedSend, 0};
    }
    if (state_ == State::Closed) {
        return Step{StepKind::Closed, 0};
    }
    if (state_ == State::Failed) {
        return Step{StepKind::Failed, 0};
    }
    RP_ASSERT(state_ == State::Established);
    int cap = static_cast<int>(std::min<std::size_t>(capacity, INT32_MAX));
    int rc = wolfSSL_read(ssl_, out, cap);
    if (ticket_seen_) {
        ticket_seen_ = false;  // a TLS 1.3 ticket arrives after the handshake: keep it now
        save_session();
    }
    if (rc > 0) {
        return Step{StepKind::PlaintextAvailable, static_cast<std::size_t>(rc)};
    }
    int err = wolfSSL_get_error(ssl_, rc);
    if (out_end_ > out_begin_) {
        return Step{StepKind::NeedSend, 0};
    }
    if (err == WOLFSSL_ERROR_WANT_READ && !eof_) {
        return Step{StepKind::NeedReceive, 0};
    }
    if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_ZERO_RETURN ||
        err == SOCKET_PEER_CLOSED_E) {
        state_ = State::Closed;
        return Step{StepKind::Closed, 0};
    }
    BoundedText d(detail_, sizeof detail_);
    // TLS 1.3: the server judges our certificate after our Finished, so its alert comes here.
    WOLFSSL_ALERT_HISTORY h{};
    wolfSSL_get_alert_history(ssl_, &h);
    if (h.last_rx.level == alert_fatal && h.last_rx.code > 0) {
        return alert_failure(h.last_rx.code, d);
    }
    char text[WOLFSSL_MAX_ERROR_SZ] = {};
    wolfSSL_ERR_error_string_n(static_cast<unsigned long>(err), text, sizeof text);
    d.add("TLS record error after the handshake: ").num(err).add(" ").add(text);
    detail_len_ = d.size();
    return fail(Reason::TlsHandshakeFailed);
}

// Returns true when the chain passes as configured; false with reason_ and detail_ set.
bool TlsClient::classify() {
    BoundedText d(detail_, sizeof detail_);
    const ChainCheck check{options_.validate_chain, options_.validate_name, options_.now_s,
                           std::string_view(name_, name_len_)};
    const Reason r = judge_presented(presented_->certs, *trust_, check, facts_, d);
    if (r == Reason::Ok) {
        return true;
    }
    reason_ = r;
    detail_len_ = d.size();
    return false;
}

void thread_cleanup() {
#if defined(FP_ECC)
    wc_ecc_fp_free();
#endif
}

}  // namespace ringprobe::tls
