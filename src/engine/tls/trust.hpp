// Trust: what a chain may end in. One WOLFSSL_CTX per distinct trust configuration (the system
// store, or a setting's trusted roots), built at plan time and shared by every worker.
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
#include "engine/tls/x509.hpp"

// wolfSSL's opaque type, so that users of this header need no wolfSSL include.
struct WOLFSSL_CTX;

namespace ringprobe::tls {

struct Anchor {
    std::string subject;  // one-line DN
    std::array<std::uint8_t, 32> sha256{};
    std::int64_t not_before_s = 0;
    std::int64_t not_after_s = 0;
    std::int32_t path_len = -1;      // basicConstraints pathLenConstraint; -1: none
    std::vector<unsigned char> der;  // for a path wolfSSL would not build (chain.cpp)
};

struct TrustConfig {
    bool system_store = true;     // the well-known CAs; else only the setting's roots
    std::vector<Anchor> anchors;  // what the chain may end in (subjects and fingerprints)
    WOLFSSL_CTX* ctx = nullptr;
    // The certificate this context presents when a server asks for one (a setting's
    // clientCertificate, loaded into ctx with its key); has_client_certificate false: none.
    bool has_client_certificate = false;
    CertInfo client_certificate{};

    // The anchor with this one-line DN, or with this certificate's fingerprint; null if none.
    const Anchor* find_by_subject(std::string_view subject) const;
    const Anchor* find_by_print(const CertInfo& c) const;
};

class TlsContexts {
public:
    inline static constexpr const char* default_system_store = "/etc/ssl/certs/ca-certificates.crt";

    // One context per distinct pair of trusted-roots list (the empty list means the system
    // store) and client certificate among the plan's TLS targets. Errors name the trusted root
    // that could not be read, or the client certificate's field and file (a key that does not
    // match its certificate, bytes that are no certificate or key).
    static Result<TlsContexts> build(const Plan& plan,
                                     std::string_view system_store = default_system_store);
    // A single context: the given roots (PEM text or base64 DER each), or the system store when
    // `roots` is empty. For tests and tools.
    static Result<TlsContexts> single(std::span<const std::string> roots,
                                      std::string_view system_store = default_system_store,
                                      const ClientCertificate* client = nullptr);

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

}  // namespace ringprobe::tls
