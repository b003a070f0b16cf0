// The TLS client: wolfSSL behind custom I/O callbacks on two memory buffers, driven one step at
// a time by the worker (tls.hpp shows the loop), and the per-target resumption state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "engine/tls/trust.hpp"
#include "engine/tls/x509.hpp"
#include "ringprobe/result.hpp"

// wolfSSL's opaque types, so that users of this header need no wolfSSL include.
struct WOLFSSL;
struct WOLFSSL_SESSION;
struct WOLFSSL_X509_STORE_CTX;
struct WOLFSSL_EVP_PKEY;

namespace ringprobe::tls {

class BoundedText;

// ---------------------------------------------------------------------------------------------
// Per-target resumption state: the last session and the facts of the full handshake behind it.

class TlsSession {
public:
    TlsSession() = default;
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;
    ~TlsSession();

    bool has_session() const { return session_ != nullptr; }
    void clear();

private:
    friend class TlsClient;
    WOLFSSL_SESSION* session_ = nullptr;
    CertFacts facts_{};  // from the full handshake that created the session
    // That handshake's server asked for a client certificate: a resumed one, which carries no
    // CertificateRequest, answers for the server the same way (judge_http_refusal).
    bool cert_requested_ = false;
};

// ---------------------------------------------------------------------------------------------
// The client.

enum class StepKind : std::uint8_t {
    NeedSend,            // pending_ciphertext() is not empty: send it, then consume_sent()
    NeedReceive,         // feed_ciphertext() the next bytes from the socket (or feed_eof())
    HandshakeDone,       // verified (as configured); write_plaintext() / read_plaintext()
    PlaintextAvailable,  // read_plaintext() produced `bytes` bytes
    Closed,              // the server closed (close_notify or EOF) after the handshake
    Failed,              // reason() and detail() say why
};

struct Step {
    StepKind kind = StepKind::NeedReceive;
    std::size_t bytes = 0;  // PlaintextAvailable only
};

struct ClientOptions {
    bool validate_chain = true;  // validateCertChainAndExpiry
    bool validate_name = true;   // validateSNI
    std::int64_t now_s = 0;      // wall clock for validity checks; 0: time(nullptr)
};

class TlsClient {
public:
    inline static constexpr std::size_t in_capacity = 32 * 1024;
    inline static constexpr std::size_t out_capacity = 16 * 1024;

    TlsClient();
    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;
    ~TlsClient();

    // Starts a handshake. `sni`: the name to send (none when empty or an IP literal); the
    // certificate name is checked against it, or against `host` when there is no SNI.
    // `session`: this target's resumption state, or nullptr when resumption is off. Returns
    // false (reason() TlsHandshakeFailed) only when wolfSSL cannot create the object.
    bool start(const TrustConfig& trust, std::string_view sni, std::string_view host,
               TlsSession* session, ClientOptions options = {});

    Step handshake();

    // Ciphertext for the socket. consume_sent(n) after n bytes were written.
    std::span<const char> pending_ciphertext() const;
    void consume_sent(std::size_t n);
    // Ciphertext from the socket. Returns how many bytes were taken (all of them unless more
    // than in_capacity is waiting, which a worker that receives only on NeedReceive never has).
    std::size_t feed_ciphertext(const char* data, std::size_t n);
    void feed_eof();

    // After HandshakeDone. write_plaintext encrypts the whole request (NeedSend follows).
    Step write_plaintext(std::span<const char> plain);
    Step read_plaintext(char* out, std::size_t capacity);

    // Ends the probe: frees the wolfSSL object; the session (if any) stays with the target.
    void finish();

    bool handshake_done() const { return state_ == State::Established || state_ == State::Closed; }
    Reason reason() const { return reason_; }
    std::string_view detail() const { return std::string_view(detail_, detail_len_); }
    const CertFacts& facts() const { return facts_; }
    bool sni_sent() const { return sni_sent_; }
    // The server sent a CertificateRequest in this handshake (whether or not we had one to give).
    bool client_certificate_requested() const { return cert_requested_; }

    // Registered on the trust contexts (TlsContexts): wolfSSL calls one of them when a server's
    // CertificateRequest arrives, with the TlsClient as the connection's I/O context. The setup
    // callback goes on contexts that have a certificate (wolfSSL then sends it); the client
    // certificate callback on those that do not (it gives none, and wolfSSL sends an empty
    // Certificate: with the setup callback set and no certificate, wolfSSL 5.5 fails its own
    // TLS 1.3 handshake).
    static int on_certificate_setup(WOLFSSL* ssl, void* arg);
    static int on_client_certificate(WOLFSSL* ssl, WOLFSSL_X509** x509, WOLFSSL_EVP_PKEY** pkey);

    // An HTTP 400 answer after the server asked for a client certificate is how servers that
    // finish the handshake whatever the client sent (nginx's ssl_verify_client) refuse it:
    // ClientCertRequired when we had none, ClientCertRejected with what we can tell of ours
    // (expired) in detail(). `fallback` when the server did not ask, or when it is Ok (a match
    // that accepts 400).
    Reason judge_http_refusal(int http_status, Reason fallback);

private:
    enum class State : std::uint8_t { Idle, Handshaking, Established, Closed, Failed };
    struct Presented;  // parsed peer certificates (client.cpp)

    static int on_recv(WOLFSSL* ssl, char* buf, int sz, void* ctx);
    static int on_send(WOLFSSL* ssl, char* buf, int sz, void* ctx);
    static int on_verify(int preverify, ::WOLFSSL_X509_STORE_CTX* store);
    static int on_ticket(WOLFSSL* ssl, const unsigned char* ticket, int len, void* ctx);

    Step fail(Reason r);
    Step alert_failure(int alert, BoundedText& d);
    Step handshake_finished();
    Step handshake_error(int err);
    bool classify();  // false: reason_ and detail_ set
    void capture_chain(::WOLFSSL_X509_STORE_CTX* store);
    void save_session();
    void fill_connection_facts();

    WOLFSSL* ssl_ = nullptr;
    const TrustConfig* trust_ = nullptr;
    TlsSession* session_ = nullptr;
    ClientOptions options_{};
    State state_ = State::Idle;
    Reason reason_ = Reason::Pending;
    bool sni_sent_ = false;
    bool chain_captured_ = false;
    bool eof_ = false;
    bool ticket_seen_ = false;
    bool cert_requested_ = false;
    std::unique_ptr<char[]> in_;
    std::size_t in_begin_ = 0;
    std::size_t in_end_ = 0;
    std::unique_ptr<char[]> out_;
    std::size_t out_begin_ = 0;
    std::size_t out_end_ = 0;
    char name_[256] = {};  // the name the certificate must carry (SNI, else host)
    std::size_t name_len_ = 0;
    char detail_[detail_bytes] = {};
    std::size_t detail_len_ = 0;
    CertFacts facts_{};
    std::unique_ptr<Presented> presented_;
};

// Frees what wolfSSL keeps per thread (Debian's build has the fixed-point ECC cache, FP_ECC,
// which is thread-local): a thread that did handshakes calls this before it exits.
void thread_cleanup();

}  // namespace ringprobe::tls
