// TLS contexts of the fleet's behaviours and the SNI log (tls_server.hpp).
#include "tls_server.hpp"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include "common/json.hpp"

namespace ringprobe::fleet {

namespace {

void init_once() {
    static std::once_flag once;
    std::call_once(once, [] { wolfSSL_Init(); });
}

}  // namespace

Result<std::shared_ptr<const TlsServer>> TlsServer::create(const std::string& cert_chain_path,
                                                           const std::string& key_path,
                                                           const std::string& version,
                                                           const std::string& where,
                                                           const std::string& only_sni) {
    init_once();
    WOLFSSL_METHOD* method = nullptr;
    if (version.empty()) {
        method = wolfSSLv23_server_method();
    } else if (version == "1.2") {
        method = wolfTLSv1_2_server_method();
    } else if (version == "1.3") {
        method = wolfTLSv1_3_server_method();
    } else if (version == "1.1") {
#ifndef NO_OLD_TLS
        method = wolfTLSv1_1_server_method();
#else
        return error(where + ".tls_version: this wolfSSL has no TLS 1.1 (NO_OLD_TLS)");
#endif
    } else {
        return error(
            where +
            ".tls_version: must be \"1.1\", \"1.2\" or \"1.3\" (leave it out for 1.2 and 1.3)");
    }
    std::shared_ptr<TlsServer> s(new TlsServer());
    s->ctx_ = wolfSSL_CTX_new(method);
    if (s->ctx_ == nullptr) {
        return error(where + ": wolfSSL_CTX_new failed");
    }
    if (version.empty()) {
        wolfSSL_CTX_SetMinVersion(s->ctx_, WOLFSSL_TLSV1_2);
    }
    // The chain file is sent as written, in that order: that is how the broken-chain fixtures
    // (wrong order, no intermediate, no leaf) reach the prober.
    if (wolfSSL_CTX_use_certificate_chain_file(s->ctx_, cert_chain_path.c_str()) !=
        WOLFSSL_SUCCESS) {
        return error(where + ".cert: cannot read a PEM certificate chain from '" + cert_chain_path +
                     "'");
    }
    if (wolfSSL_CTX_use_PrivateKey_file(s->ctx_, key_path.c_str(), WOLFSSL_FILETYPE_PEM) !=
        WOLFSSL_SUCCESS) {
        return error(where + ".key: cannot read a PEM private key from '" + key_path + "'");
    }
    wolfSSL_CTX_set_verify(s->ctx_, WOLFSSL_VERIFY_NONE, nullptr);
    if (!only_sni.empty()) {
        // One name only: wolfSSL aborts a handshake asking for another with unrecognized_name.
        wolfSSL_CTX_UseSNI(s->ctx_, WOLFSSL_SNI_HOST_NAME, only_sni.data(),
                           static_cast<unsigned short>(only_sni.size()));
        wolfSSL_CTX_SNI_SetOptions(s->ctx_, WOLFSSL_SNI_HOST_NAME, 0);
        return std::shared_ptr<const TlsServer>(std::move(s));
    }
    // A server records the SNI a client sent only if it knows the extension: answer any name.
    static const char any[] = "*";
    wolfSSL_CTX_UseSNI(s->ctx_, WOLFSSL_SNI_HOST_NAME, any, 1);
    wolfSSL_CTX_SNI_SetOptions(s->ctx_, WOLFSSL_SNI_HOST_NAME, WOLFSSL_SNI_ANSWER_ON_MISMATCH);
    return std::shared_ptr<const TlsServer>(std::move(s));
}

TlsServer::~TlsServer() {
    if (ctx_ != nullptr) {
        wolfSSL_CTX_free(ctx_);
    }
}

WOLFSSL* TlsServer::new_connection(int fd) const {
    WOLFSSL* ssl = wolfSSL_new(ctx_);
    if (ssl != nullptr) {
        wolfSSL_set_fd(ssl, fd);
        wolfSSL_set_using_nonblock(ssl, 1);
    }
    return ssl;
}

void SniLog::record(const std::string& backend, WOLFSSL* ssl) {
    char* name = nullptr;
    unsigned short n =
        wolfSSL_SNI_GetRequest(ssl, WOLFSSL_SNI_HOST_NAME, reinterpret_cast<void**>(&name));
    bool resumed = wolfSSL_session_reused(ssl) != 0;
    std::lock_guard lock(mu_);
    SniSeen& s = seen_[backend];
    s.last_sni.assign(name != nullptr ? name : "", name != nullptr ? n : 0);
    s.handshakes++;
    s.resumed += resumed ? 1 : 0;
}

std::string SniLog::to_json(bool reset) {
    std::lock_guard lock(mu_);
    std::string out = "{";
    bool first = true;
    for (const auto& [backend, s] : seen_) {
        out += first ? "" : ",";
        first = false;
        append_json_string(out, backend);
        out += ":{\"sni\":";
        append_json_string(out, s.last_sni);
        out += ",\"handshakes\":" + std::to_string(s.handshakes) +
               ",\"resumed\":" + std::to_string(s.resumed) + "}";
    }
    if (reset) {
        seen_.clear();
    }
    return out + "}";
}

}  // namespace ringprobe::fleet
