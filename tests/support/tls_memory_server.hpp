// MemoryTlsServer: a wolfSSL server that talks through two memory pipes, for TLS tests and
// benches that drive ringprobe's TlsClient without sockets or threads.
//
//   auto server = MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"));
//   TlsClient client; client.start(trust, "good.ringprobe.test", "", &session);
//   auto r = handshake_pair(client, *server);   // pumps bytes both ways, bounded
//   EXPECT_EQ(r.client_step, StepKind::HandshakeDone);
//   EXPECT_EQ(server->sni(), "good.ringprobe.test");
//
// The server keeps one WOLFSSL_CTX (with its ticket key and session cache) for its life, so a
// second handshake from a client holding a TlsSession can resume.
#pragma once

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include <cstring>
#include <memory>
#include <string>

#include "engine/tls.hpp"

namespace ringprobe::test {

class MemoryTlsServer {
public:
    // version: 0 any of 1.2/1.3, 12 or 13 only that one.
    static std::unique_ptr<MemoryTlsServer> create(const std::string& chain_pem_path,
                                                   const std::string& key_path, int version = 0) {
        wolfSSL_Init();
        auto s = std::unique_ptr<MemoryTlsServer>(new MemoryTlsServer());
        // One method object, chosen once: wolfSSL_CTX_new takes ownership of it, and a method
        // made and then replaced would leak.
        WOLFSSL_METHOD* m = nullptr;
        if (version == 12) {
            m = wolfTLSv1_2_server_method();
        } else if (version == 13) {
            m = wolfTLSv1_3_server_method();
        } else if (version == 11) {
#ifndef NO_OLD_TLS
            m = wolfTLSv1_1_server_method();
#else
            return nullptr;
#endif
        } else {
            m = wolfSSLv23_server_method();
        }
        s->ctx_ = wolfSSL_CTX_new(m);
        if (s->ctx_ == nullptr ||
            wolfSSL_CTX_use_certificate_chain_file(s->ctx_, chain_pem_path.c_str()) !=
                WOLFSSL_SUCCESS ||
            wolfSSL_CTX_use_PrivateKey_file(s->ctx_, key_path.c_str(), WOLFSSL_FILETYPE_PEM) !=
                WOLFSSL_SUCCESS) {
            return nullptr;
        }
        wolfSSL_CTX_set_verify(s->ctx_, WOLFSSL_VERIFY_NONE, nullptr);
        wolfSSL_CTX_SetIORecv(s->ctx_, &MemoryTlsServer::on_recv);
        wolfSSL_CTX_SetIOSend(s->ctx_, &MemoryTlsServer::on_send);
        // The server must know the SNI extension to record the name a client asked for.
        static const char any[] = "*";
        wolfSSL_CTX_UseSNI(s->ctx_, WOLFSSL_SNI_HOST_NAME, any, 1);
        wolfSSL_CTX_SNI_SetOptions(s->ctx_, WOLFSSL_SNI_HOST_NAME, WOLFSSL_SNI_ANSWER_ON_MISMATCH);
        return s;
    }

    ~MemoryTlsServer() {
        end_connection();
        if (ctx_ != nullptr) {
            wolfSSL_CTX_free(ctx_);
        }
    }

    // Every later connection asks for a client certificate and refuses the handshake without
    // one that `ca_pem_path` issued (as a server with client verification "required" does).
    bool require_client_certificate(const std::string& ca_pem_path) {
        if (wolfSSL_CTX_load_verify_locations(ctx_, ca_pem_path.c_str(), nullptr) !=
            WOLFSSL_SUCCESS) {
            return false;
        }
        wolfSSL_CTX_set_verify(ctx_, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                               nullptr);
        return true;
    }

    // A fresh connection: empties both pipes.
    void begin_connection() {
        end_connection();
        to_client_.clear();
        from_client_.clear();
        handshake_done_ = false;
        failed_ = false;
        sni_.clear();
        ssl_ = wolfSSL_new(ctx_);
        wolfSSL_SetIOReadCtx(ssl_, this);
        wolfSSL_SetIOWriteCtx(ssl_, this);
    }
    // This connection answers only `name`: any other SNI gets a fatal unrecognized_name alert.
    void require_sni(const char* name) {
        wolfSSL_UseSNI(ssl_, WOLFSSL_SNI_HOST_NAME, name,
                       static_cast<unsigned short>(std::strlen(name)));
        wolfSSL_SNI_SetOptions(ssl_, WOLFSSL_SNI_HOST_NAME, 0);
    }
    void end_connection() {
        if (ssl_ != nullptr) {
            wolfSSL_free(ssl_);
            ssl_ = nullptr;
        }
    }

    // Runs the server side as far as the bytes it has allow. After the handshake it answers
    // the first plaintext it reads with `reply` and sends close_notify.
    void pump() {
        if (failed_ || ssl_ == nullptr) {
            return;
        }
        if (!handshake_done_) {
            int rc = wolfSSL_accept(ssl_);
            if (rc != WOLFSSL_SUCCESS) {
                int err = wolfSSL_get_error(ssl_, rc);
                failed_ = err != WOLFSSL_ERROR_WANT_READ && err != WOLFSSL_ERROR_WANT_WRITE;
                return;
            }
            handshake_done_ = true;
            resumed_ = wolfSSL_session_reused(ssl_) != 0;
            char* name = nullptr;
            unsigned short n = wolfSSL_SNI_GetRequest(ssl_, WOLFSSL_SNI_HOST_NAME,
                                                      reinterpret_cast<void**>(&name));
            sni_.assign(name != nullptr ? name : "", n);
        }
        char buf[4096];
        int rc = wolfSSL_read(ssl_, buf, sizeof buf);
        if (rc > 0 && !reply_.empty()) {
            wolfSSL_write(ssl_, reply_.data(), static_cast<int>(reply_.size()));
            wolfSSL_shutdown(ssl_);
        }
    }

    std::string& to_client() {
        return to_client_;
    }
    std::string& from_client() {
        return from_client_;
    }
    bool handshake_done() const {
        return handshake_done_;
    }
    bool failed() const {
        return failed_;
    }
    bool resumed() const {
        return resumed_;
    }
    const std::string& sni() const {
        return sni_;
    }
    void set_reply(std::string r) {
        reply_ = std::move(r);
    }

private:
    MemoryTlsServer() = default;

    static int on_recv(WOLFSSL*, char* buf, int sz, void* ctx) {
        auto* self = static_cast<MemoryTlsServer*>(ctx);
        if (self->from_client_.empty()) {
            return WOLFSSL_CBIO_ERR_WANT_READ;
        }
        std::size_t n = std::min(self->from_client_.size(), static_cast<std::size_t>(sz));
        std::memcpy(buf, self->from_client_.data(), n);
        self->from_client_.erase(0, n);
        return static_cast<int>(n);
    }
    static int on_send(WOLFSSL*, char* buf, int sz, void* ctx) {
        static_cast<MemoryTlsServer*>(ctx)->to_client_.append(buf, static_cast<std::size_t>(sz));
        return sz;
    }

    WOLFSSL_CTX* ctx_ = nullptr;
    WOLFSSL* ssl_ = nullptr;
    std::string to_client_;
    std::string from_client_;
    std::string sni_;
    std::string reply_;
    bool handshake_done_ = false;
    bool failed_ = false;
    bool resumed_ = false;
};

struct PairResult {
    tls::StepKind client_step = tls::StepKind::NeedReceive;
    int rounds = 0;
};

// Drives client and server until the client's handshake ends (done or failed) or the server
// stops making progress. Bounded: 64 rounds is several times any real handshake.
inline PairResult handshake_pair(tls::TlsClient& client, MemoryTlsServer& server) {
    PairResult r;
    for (r.rounds = 0; r.rounds < 64; ++r.rounds) {
        tls::Step s = client.handshake();
        r.client_step = s.kind;
        if (s.kind == tls::StepKind::NeedSend) {
            auto out = client.pending_ciphertext();
            server.from_client().append(out.data(), out.size());
            client.consume_sent(out.size());
            continue;
        }
        if (s.kind != tls::StepKind::NeedReceive) {
            // Let the server see the client's last flight (Finished, or an alert).
            server.pump();
            return r;
        }
        server.pump();
        std::string& in = server.to_client();
        if (in.empty()) {
            client.feed_eof();  // the server has nothing more to say: it gave up or closed
            continue;
        }
        std::size_t took = client.feed_ciphertext(in.data(), in.size());
        in.erase(0, took);
    }
    return r;
}

}  // namespace ringprobe::test
