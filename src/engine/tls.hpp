// TLS for Https and Tls probes: a wolfSSL client that never touches a socket.
//
// The worker keeps doing all socket I/O through io_uring; wolfSSL sees two memory buffers
// through custom I/O callbacks. The worker drives one TlsClient per in-flight TLS probe:
//
//   client.start(ctx, sni, host, &session)      // session: per target, nullptr = no resumption
//   loop:  Step s = client.handshake();
//          NeedSend     -> send pending_ciphertext(), then consume_sent(n)
//          NeedReceive  -> recv, then feed_ciphertext(bytes) (or feed_eof())
//          HandshakeDone-> Tls probe: verdict Ok; Https: write_plaintext(request), send, then
//                          read_plaintext() into the HTTP parser until Closed / enough
//          Failed       -> verdict reason() with detail(); facts() says what was presented
//   client.finish()                              // frees the wolfSSL object; keeps the session
//
// Whatever the step, bytes in pending_ciphertext() are sent first (handshake() and
// read_plaintext() say NeedSend while there are any). The handshake deadline is the worker's:
// at the probe's deadline it ends the probe with Reason::TlsHandshakeTimeout if
// handshake_done() is false.
//
// Certificates are not judged by wolfSSL alone: a verify callback accepts every chain and keeps
// what was presented and the first error wolfSSL saw; classify() then names the precise
// problem (probe-semantics.md, "TLS" rows) in this order: leaf missing, leaf not topmost,
// validity (leaf, intermediate, root), chain to a trust anchor (intermediate missing, not a
// well-known CA, trusted root mismatch in both forms), any other verifier error, then the name.
//
// Memory: TlsClient's buffers are its own, sized once. wolfSSL itself allocates per handshake
// (the WOLFSSL object, its I/O buffers, key shares, hashes, the parsed peer certificates):
// bench/tls_bench.cpp counts those allocations (docs/tls.md). Sessions and contexts are
// allocated at plan time or when a session is saved, never per byte.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "config/plan.hpp"
#include "ringprobe/result.hpp"

// wolfSSL's opaque types, so that users of this header need no wolfSSL include.
struct WOLFSSL_CTX;
struct WOLFSSL;
struct WOLFSSL_SESSION;
struct WOLFSSL_X509_STORE_CTX;

namespace ringprobe::tls {

// ---------------------------------------------------------------------------------------------
// Certificate facts: fixed-size, so a worker can keep them per target without allocating.

inline constexpr std::size_t chain_facts_max = 4;  // certificates described (more are counted)
inline constexpr std::size_t detail_bytes = 240;   // fits the report's 256-byte detail area

enum class CertRole : std::uint8_t { Leaf, Intermediate, Root };

struct CertInfo {
    char subject[96] = {};  // one-line DN, truncated
    char issuer[96] = {};   // one-line DN, truncated
    char common_name[64] = {};
    char sans[128] = {};            // DNS SANs, comma separated, truncated
    std::int64_t not_before_s = 0;  // Unix seconds (UTC)
    std::int64_t not_after_s = 0;
    std::array<std::uint8_t, 32> sha256{};  // of the DER
    bool is_ca = false;
    bool self_issued = false;  // subject == issuer
};

struct CertFacts {
    std::array<CertInfo, chain_facts_max> chain{};  // as presented, in order
    std::uint8_t presented = 0;  // certificates the server sent (may exceed chain_facts_max)
    char anchor[96] = {};        // subject of the trust anchor the chain ended in, if any
    char protocol[16] = {};      // "TLSv1.3"
    char cipher[64] = {};        // "TLS_AES_128_GCM_SHA256"
    bool resumed = false;        // no certificate on the wire: chain[] is from the last full one
    std::int64_t earliest_not_after_s = 0;  // over the presented chain and the anchor; 0: none
    std::int32_t verify_error = 0;          // first wolfSSL verify error (0: none)

    // Whole days until the earliest notAfter (negative once past). For the early warning: a
    // Healthy target below its threshold (14 days by default) carries a warning.
    std::int64_t days_until_expiry(std::int64_t now_s) const;
};

// Writes "2024-01-01T00:00:00Z" (20 chars + NUL).
void format_utc(std::int64_t unix_s, char (&out)[21]);

// ---------------------------------------------------------------------------------------------
// Trust: one WOLFSSL_CTX per distinct trust configuration, built at plan time.

struct Anchor {
    std::string subject;  // one-line DN
    std::array<std::uint8_t, 32> sha256{};
    std::int64_t not_before_s = 0;
    std::int64_t not_after_s = 0;
};

struct TrustConfig {
    bool system_store = true;     // the well-known CAs; else only the setting's roots
    std::vector<Anchor> anchors;  // what the chain may end in (subjects and fingerprints)
    WOLFSSL_CTX* ctx = nullptr;
};

class TlsContexts {
public:
    inline static constexpr const char* default_system_store = "/etc/ssl/certs/ca-certificates.crt";

    // One context per distinct trusted-roots list among the plan's TLS targets (the empty list
    // means the system store). Errors name the trusted root that could not be read.
    static Result<TlsContexts> build(const Plan& plan,
                                     std::string_view system_store = default_system_store);
    // A single context: the given roots (PEM text or base64 DER each), or the system store when
    // `roots` is empty. For tests and tools.
    static Result<TlsContexts> single(std::span<const std::string> roots,
                                      std::string_view system_store = default_system_store);

    TlsContexts() = default;
    TlsContexts(TlsContexts&&) noexcept;
    TlsContexts& operator=(TlsContexts&&) noexcept;
    TlsContexts(const TlsContexts&) = delete;
    TlsContexts& operator=(const TlsContexts&) = delete;
    ~TlsContexts();

    // The context for plan target i (asserts the target is Https or Tls).
    const TrustConfig& for_target(std::size_t target_index) const;
    const TrustConfig& at(std::size_t config_index) const { return *configs_.at(config_index); }
    std::size_t size() const { return configs_.size(); }

private:
    std::vector<std::unique_ptr<TrustConfig>> configs_;
    std::vector<std::uint32_t> target_config_;  // per plan target; UINT32_MAX: not TLS
};

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

private:
    enum class State : std::uint8_t { Idle, Handshaking, Established, Closed, Failed };
    struct Presented;  // parsed peer certificates (tls.cpp)

    static int on_recv(WOLFSSL* ssl, char* buf, int sz, void* ctx);
    static int on_send(WOLFSSL* ssl, char* buf, int sz, void* ctx);
    static int on_verify(int preverify, ::WOLFSSL_X509_STORE_CTX* store);
    static int on_ticket(WOLFSSL* ssl, const unsigned char* ticket, int len, void* ctx);

    Step fail(Reason r);
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

// True for IPv4 and IPv6 literals: never sent as SNI.
bool is_ip_literal(std::string_view s);

// Frees what wolfSSL keeps per thread (Debian's build has the fixed-point ECC cache, FP_ECC,
// which is thread-local): a thread that did handshakes calls this before it exits.
void thread_cleanup();
// RFC 6125 style: case-insensitive, a '*' only as the whole leftmost label of the pattern,
// matching exactly one label.
bool name_matches(std::string_view pattern, std::string_view name);

}  // namespace ringprobe::tls
