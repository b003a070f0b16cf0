// Trust contexts: the system store and a setting's trusted roots (trust.hpp).
#include "engine/tls/trust.hpp"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/coding.h>
// clang-format on

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "common/assert.hpp"

namespace ringprobe::tls {

namespace {

void init_wolfssl_once() {
    static std::once_flag once;
    std::call_once(once, [] { wolfSSL_Init(); });
}

Anchor to_anchor(const ParsedCert& p) {
    return Anchor{p.subject,          p.info.sha256, p.info.not_before_s,
                  p.info.not_after_s, p.path_len,    p.der};
}

// Splits PEM text into its certificates; each block is parsed on its own so that a bundle of
// a hundred roots yields a hundred anchors.
Result<void> add_pem_anchors(std::string_view pem, TrustConfig& trust, std::string_view what) {
    constexpr std::string_view begin = "-----BEGIN CERTIFICATE-----";
    constexpr std::string_view end = "-----END CERTIFICATE-----";
    std::size_t pos = 0;
    std::size_t found = 0;
    while ((pos = pem.find(begin, pos)) != std::string_view::npos) {
        std::size_t stop = pem.find(end, pos);
        if (stop == std::string_view::npos) {
            return error(std::string(what) + ": a PEM certificate has no END line");
        }
        stop += end.size();
        std::string_view block = pem.substr(pos, stop - pos);
        WOLFSSL_X509* x = wolfSSL_X509_load_certificate_buffer(
            reinterpret_cast<const unsigned char*>(block.data()), static_cast<int>(block.size()),
            WOLFSSL_FILETYPE_PEM);
        ParsedCert p;
        bool ok = parse_x509(x, p);
        wolfSSL_X509_free(x);
        if (!ok) {
            return error(std::string(what) + ": certificate " + std::to_string(found + 1) +
                         " is not a valid X.509 certificate");
        }
        trust.anchors.push_back(to_anchor(p));
        found++;
        pos = stop;
    }
    if (found == 0) {
        return error(std::string(what) + ": no PEM certificate found");
    }
    return {};
}

// One configured root: PEM text, or base64 of its DER (the gateway's "data" field).
Result<void> add_root(const std::string& data, TrustConfig& trust, std::string_view what) {
    if (data.find("-----BEGIN") != std::string::npos) {
        if (auto r = add_pem_anchors(data, trust, what); !r) {
            return r;
        }
        int rc = wolfSSL_CTX_load_verify_buffer(
            trust.ctx, reinterpret_cast<const unsigned char*>(data.data()),
            static_cast<long>(data.size()), WOLFSSL_FILETYPE_PEM);
        if (rc != WOLFSSL_SUCCESS) {
            return error(std::string(what) + ": wolfSSL refused the PEM root (error " +
                         std::to_string(rc) + ")");
        }
        return {};
    }
    std::string b64;
    for (char ch : data) {
        if (ch != '\n' && ch != '\r' && ch != ' ' && ch != '\t') {
            b64 += ch;
        }
    }
    std::vector<unsigned char> der(b64.size());
    word32 der_len = static_cast<word32>(der.size());
    if (b64.empty() || Base64_Decode(reinterpret_cast<const byte*>(b64.data()),
                                     static_cast<word32>(b64.size()), der.data(), &der_len) != 0) {
        return error(std::string(what) + ": neither PEM nor base64 DER");
    }
    ParsedCert p;
    if (!parse_der(der.data(), static_cast<int>(der_len), p)) {
        return error(std::string(what) + ": the base64 data is not an X.509 certificate");
    }
    trust.anchors.push_back(to_anchor(p));
    if (wolfSSL_CTX_load_verify_buffer(trust.ctx, der.data(), static_cast<long>(der_len),
                                       WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
        return error(std::string(what) + ": wolfSSL refused the DER root");
    }
    return {};
}

Result<std::unique_ptr<TrustConfig>> make_trust(std::span<const std::string> roots,
                                                std::span<const std::string> names,
                                                std::string_view system_store) {
    init_wolfssl_once();
    auto trust = std::make_unique<TrustConfig>();
    trust->ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
    if (trust->ctx == nullptr) {
        return error("wolfSSL_CTX_new failed");
    }
    wolfSSL_CTX_SetMinVersion(trust->ctx, WOLFSSL_TLSV1_2);
    // Every chain is accepted by the callback and judged afterwards (TlsClient::classify).
    wolfSSL_CTX_set_verify(trust->ctx, WOLFSSL_VERIFY_PEER, nullptr);
    wolfSSL_CTX_SetIORecv(trust->ctx, nullptr);
    wolfSSL_CTX_SetIOSend(trust->ctx, nullptr);
    wolfSSL_CTX_UseSessionTicket(trust->ctx);
    trust->system_store = roots.empty();
    if (trust->system_store) {
        std::ifstream in{std::string(system_store)};
        std::stringstream ss;
        ss << in.rdbuf();
        std::string pem = ss.str();
        // A missing store leaves no anchor: every chain then ends in "not a well-known CA".
        if (!pem.empty()) {
            (void)add_pem_anchors(pem, *trust, system_store);
            wolfSSL_CTX_load_verify_buffer(trust->ctx,
                                           reinterpret_cast<const unsigned char*>(pem.data()),
                                           static_cast<long>(pem.size()), WOLFSSL_FILETYPE_PEM);
        }
        return trust;
    }
    for (std::size_t i = 0; i < roots.size(); ++i) {
        std::string what = i < names.size() ? "trusted root '" + names[i] + "'"
                                            : "trusted root " + std::to_string(i);
        if (auto r = add_root(roots[i], *trust, what); !r) {
            wolfSSL_CTX_free(trust->ctx);
            trust->ctx = nullptr;
            return unexpected(r.error());
        }
    }
    return trust;
}

}  // namespace

const Anchor* TrustConfig::find_by_subject(std::string_view subject) const {
    for (const auto& a : anchors) {
        if (a.subject == subject) {
            return &a;
        }
    }
    return nullptr;
}

const Anchor* TrustConfig::find_by_print(const CertInfo& c) const {
    for (const auto& a : anchors) {
        if (a.sha256 == c.sha256) {
            return &a;
        }
    }
    return nullptr;
}

TlsContexts::TlsContexts(TlsContexts&&) noexcept = default;
TlsContexts& TlsContexts::operator=(TlsContexts&&) noexcept = default;

TlsContexts::~TlsContexts() {
    for (auto& c : configs_) {
        if (c && c->ctx != nullptr) {
            wolfSSL_CTX_free(c->ctx);
        }
    }
}

Result<TlsContexts> TlsContexts::build(const Plan& plan, std::string_view system_store) {
    TlsContexts out;
    std::map<std::vector<std::uint32_t>, std::uint32_t> index;
    out.target_config_.assign(plan.targets.size(), UINT32_MAX);
    for (std::size_t t = 0; t < plan.targets.size(); ++t) {
        const Target& target = plan.targets[t];
        if (!protocol_is_tls(target.protocol)) {
            continue;
        }
        std::vector<std::uint32_t> key = target.trusted_roots;
        std::sort(key.begin(), key.end());
        key.erase(std::unique(key.begin(), key.end()), key.end());
        auto it = index.find(key);
        if (it == index.end()) {
            std::vector<std::string> roots;
            std::vector<std::string> names;
            for (std::uint32_t r : key) {
                RP_ASSERT(r < plan.trusted_roots.size());
                roots.push_back(plan.trusted_roots[r].data);
                names.push_back(plan.trusted_roots[r].name);
            }
            auto trust = make_trust(roots, names, system_store);
            if (!trust) {
                return unexpected(trust.error());
            }
            it = index.emplace(key, static_cast<std::uint32_t>(out.configs_.size())).first;
            out.configs_.push_back(std::move(*trust));
        }
        out.target_config_[t] = it->second;
    }
    return out;
}

Result<TlsContexts> TlsContexts::single(std::span<const std::string> roots,
                                        std::string_view system_store) {
    TlsContexts out;
    auto trust = make_trust(roots, {}, system_store);
    if (!trust) {
        return unexpected(trust.error());
    }
    out.configs_.push_back(std::move(*trust));
    return out;
}

const TrustConfig& TlsContexts::for_target(std::size_t target_index) const {
    RP_ASSERT(target_index < target_config_.size());
    std::uint32_t c = target_config_[target_index];
    RP_ASSERT(c != UINT32_MAX);
    return *configs_[c];
}

}  // namespace ringprobe::tls
