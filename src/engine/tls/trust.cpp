// Trust contexts: the system store and a setting's trusted roots (trust.hpp).
#include "engine/tls/trust.hpp"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/coding.h>
// clang-format on

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "common/assert.hpp"
#include "engine/tls/client.hpp"

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

// Configured bytes as wolfSSL takes them: PEM text as is; else base64, of DER or of PEM text
// (the gateway's data fields hold base64). False when it is neither.
bool decode_configured(const std::string& data, std::vector<unsigned char>& out, int& format) {
    if (data.find("-----BEGIN") != std::string::npos) {
        out.assign(data.begin(), data.end());
        format = WOLFSSL_FILETYPE_PEM;
        return true;
    }
    std::string b64;
    for (char ch : data) {
        if (ch != '\n' && ch != '\r' && ch != ' ' && ch != '\t') {
            b64 += ch;
        }
    }
    out.assign(b64.size(), 0);
    word32 len = static_cast<word32>(out.size());
    if (b64.empty() || Base64_Decode(reinterpret_cast<const byte*>(b64.data()),
                                     static_cast<word32>(b64.size()), out.data(), &len) != 0) {
        return false;
    }
    out.resize(len);
    const std::string_view text(reinterpret_cast<const char*>(out.data()), out.size());
    format = text.find("-----BEGIN") != std::string_view::npos ? WOLFSSL_FILETYPE_PEM
                                                               : WOLFSSL_FILETYPE_ASN1;
    return true;
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
    std::vector<unsigned char> der;
    int format = 0;
    if (!decode_configured(data, der, format)) {
        return error(std::string(what) + ": neither PEM nor base64 DER");
    }
    const word32 der_len = static_cast<word32>(der.size());
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

// Whether `key` (PEM or DER) is the private half of the certificate's public key: a signature
// made with it must verify with the certificate. wolfSSL_CTX_check_private_key does not show it
// for EC keys (it checks that the point is on the curve, not that it is the key's).
bool key_signs_for(WOLFSSL_X509* cert, const std::vector<unsigned char>& key, int key_format) {
    std::vector<unsigned char> der = key;
    if (key_format == WOLFSSL_FILETYPE_PEM) {
        der.assign(key.size(), 0);
        const int n = wc_KeyPemToDer(key.data(), static_cast<int>(key.size()), der.data(),
                                     static_cast<int>(der.size()), nullptr);
        if (n <= 0) {
            return false;
        }
        der.resize(static_cast<std::size_t>(n));
    }
    const unsigned char* p = der.data();
    WOLFSSL_EVP_PKEY* priv = wolfSSL_d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
    WOLFSSL_EVP_PKEY* pub = wolfSSL_X509_get_pubkey(cert);
    WOLFSSL_EVP_MD_CTX* md = wolfSSL_EVP_MD_CTX_new();
    static constexpr unsigned char message[] = "ringprobe client certificate key check";
    unsigned char sig[1024];
    std::size_t sig_len = sizeof sig;
    bool ok = priv != nullptr && pub != nullptr && md != nullptr &&
              wolfSSL_EVP_DigestSignInit(md, nullptr, wolfSSL_EVP_sha256(), nullptr, priv) == 1 &&
              wolfSSL_EVP_DigestSignUpdate(md, message, sizeof message) == 1 &&
              wolfSSL_EVP_DigestSignFinal(md, sig, &sig_len) == 1;
    if (ok) {
        wolfSSL_EVP_MD_CTX_free(md);
        md = wolfSSL_EVP_MD_CTX_new();
        ok = md != nullptr &&
             wolfSSL_EVP_DigestVerifyInit(md, nullptr, wolfSSL_EVP_sha256(), nullptr, pub) == 1 &&
             wolfSSL_EVP_DigestVerifyUpdate(md, message, sizeof message) == 1 &&
             wolfSSL_EVP_DigestVerifyFinal(md, sig, sig_len) == 1;
    }
    wolfSSL_EVP_MD_CTX_free(md);
    wolfSSL_EVP_PKEY_free(pub);
    wolfSSL_EVP_PKEY_free(priv);
    return ok;
}

// Loads a setting's client certificate (its chain, PEM or DER) and key into the context and
// checks that they belong together, so that a mistake is refused at load, not met by every probe.
Result<void> add_client_certificate(const ClientCertificate& cc, TrustConfig& trust) {
    const std::string at = cc.path + ": ";
    std::vector<unsigned char> cert;
    std::vector<unsigned char> key;
    int cert_format = 0;
    int key_format = 0;
    if (!decode_configured(cc.certificate, cert, cert_format)) {
        return error(at + cc.certificate_from +
                     " is neither PEM nor base64; expected a certificate (PEM, or base64 DER)");
    }
    if (!decode_configured(cc.key, key, key_format)) {
        return error(at + cc.key_from +
                     " is neither PEM nor base64; expected a private key (PEM, or base64 DER)");
    }
    const long cert_len = static_cast<long>(cert.size());
    int rc = cert_format == WOLFSSL_FILETYPE_PEM
                 ? wolfSSL_CTX_use_certificate_chain_buffer_format(trust.ctx, cert.data(), cert_len,
                                                                   WOLFSSL_FILETYPE_PEM)
                 : wolfSSL_CTX_use_certificate_buffer(trust.ctx, cert.data(), cert_len,
                                                      WOLFSSL_FILETYPE_ASN1);
    if (rc != WOLFSSL_SUCCESS) {
        return error(at + cc.certificate_from + " holds no X.509 certificate wolfSSL can read");
    }
    WOLFSSL_X509* x = cert_format == WOLFSSL_FILETYPE_PEM
                          ? wolfSSL_X509_load_certificate_buffer(
                                cert.data(), static_cast<int>(cert.size()), WOLFSSL_FILETYPE_PEM)
                          : wolfSSL_X509_load_certificate_buffer(
                                cert.data(), static_cast<int>(cert.size()), WOLFSSL_FILETYPE_ASN1);
    ParsedCert p;
    const bool parsed = parse_x509(x, p);
    const bool matches = parsed && key_signs_for(x, key, key_format);
    wolfSSL_X509_free(x);
    if (!parsed) {
        return error(at + cc.certificate_from + " holds no X.509 certificate wolfSSL can read");
    }
    if (wolfSSL_CTX_use_PrivateKey_buffer(trust.ctx, key.data(), static_cast<long>(key.size()),
                                          key_format) != WOLFSSL_SUCCESS) {
        return error(at + cc.key_from +
                     " holds no private key wolfSSL can read (PKCS#8, or a traditional RSA or "
                     "EC key, unencrypted), or one that is not the certificate's");
    }
    if (!matches || wolfSSL_CTX_check_private_key(trust.ctx) != WOLFSSL_SUCCESS) {
        return error(at + "the key in " + cc.key_from + " does not match the certificate in " +
                     cc.certificate_from + " (" + label(p) +
                     "); give the key that certificate was issued for");
    }
    // Tells the client that the server asked (TlsClient::client_certificate_requested).
    wolfSSL_CTX_set_cert_cb(trust.ctx, &TlsClient::on_certificate_setup, nullptr);
    trust.has_client_certificate = true;
    trust.client_certificate = p.info;
    return {};
}

Result<std::unique_ptr<TrustConfig>> make_trust(std::span<const std::string> roots,
                                                std::span<const std::string> names,
                                                std::string_view system_store,
                                                const ClientCertificate* client) {
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
    wolfSSL_CTX_set_client_cert_cb(trust->ctx, &TlsClient::on_client_certificate);
    if (client != nullptr) {
        if (auto r = add_client_certificate(*client, *trust); !r) {
            wolfSSL_CTX_free(trust->ctx);
            trust->ctx = nullptr;
            return unexpected(r.error());
        }
    }
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
        key.push_back(target.client_certificate);  // last: never a root's index
        auto it = index.find(key);
        if (it == index.end()) {
            std::vector<std::string> roots;
            std::vector<std::string> names;
            for (std::size_t k = 0; k + 1 < key.size(); ++k) {
                const std::uint32_t r = key[k];
                RP_ASSERT(r < plan.trusted_roots.size());
                roots.push_back(plan.trusted_roots[r].data);
                names.push_back(plan.trusted_roots[r].name);
            }
            const ClientCertificate* client = nullptr;
            if (target.client_certificate != no_client_certificate) {
                RP_ASSERT(target.client_certificate < plan.client_certificates.size());
                client = &plan.client_certificates[target.client_certificate];
            }
            auto trust = make_trust(roots, names, system_store, client);
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
                                        std::string_view system_store,
                                        const ClientCertificate* client) {
    TlsContexts out;
    auto trust = make_trust(roots, {}, system_store, client);
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
