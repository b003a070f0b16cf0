// fleet_tls_test: ringprobe-fleet's TLS behaviours on the wire (tools/fleet/tls_server.cpp).
//
// Starts the real fleet on loopback with `tls` sections pointing at the committed fixtures and
// talks to it with a plain wolfSSL client over real sockets (blocking, with socket timeouts, so
// every wait is bounded). It proves that a TLS behaviour completes a handshake with the chain
// from its behaviour file, in that file's order, then answers its HTTP behaviour; that the SNI
// each handshake carried (or its absence) is recorded per backend and shown by GET /sni; that
// tls_version pins the protocol; that a client holding a session resumes; and that a tls
// section with an unreadable certificate is refused with its JSON path.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include <string>

#include "support/fleet_process.hpp"

namespace {

using ringprobe::test::FleetProcess;

std::string fixture(const std::string& name) {
    return std::string(RP_TLS_FIXTURES) + "/" + name;
}

std::string tls_section(const std::string& chain, const std::string& key,
                        const std::string& version = "") {
    std::string s =
        R"("tls": {"cert": ")" + fixture(chain) + R"(", "key": ")" + fixture(key) + "\"";
    if (!version.empty()) {
        s += R"(, "tls_version": ")" + version + "\"";
    }
    return s + "}";
}

std::string behaviours() {
    return R"({"default": {"kind": "http", "body": "plain\n"}, "rules": [)"
           R"({"cidr": "127.1.50.1/32", "kind": "http", "body": "secure\n", )" +
           tls_section("good-chain.pem", "good.key") + "}," +
           R"({"cidr": "127.1.50.2/32", "kind": "http", )" +
           tls_section("good-chain.pem", "good.key", "1.2") + "}," +
           R"({"cidr": "127.1.50.3/32", "kind": "http", )" +
           tls_section("wrong-order-chain.pem", "good.key") + "}]}";
}

// A blocking client socket to address:port with 3 s send/receive timeouts.
int connect_to(const char* address, uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, address, &sa.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

struct Client {
    WOLFSSL_CTX* ctx = nullptr;
    Client() {
        wolfSSL_Init();
        ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
        wolfSSL_CTX_load_verify_locations(ctx, fixture("root.pem").c_str(), nullptr);
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, nullptr);
    }
    ~Client() { wolfSSL_CTX_free(ctx); }
};

struct Result {
    bool handshake = false;
    std::string version;
    std::string response;
    int peer_chain = 0;
    bool resumed = false;
    WOLFSSL_SESSION* session = nullptr;  // caller frees
};

// One connection: handshake (verifying against the private root unless verify is false), GET,
// read to the end.
Result talk(WOLFSSL_CTX* ctx, const char* address, uint16_t port, const char* sni,
            WOLFSSL_SESSION* resume = nullptr, bool verify = true) {
    Result r;
    int fd = connect_to(address, port);
    if (fd < 0) {
        return r;
    }
    WOLFSSL* ssl = wolfSSL_new(ctx);
    wolfSSL_set_fd(ssl, fd);
    if (!verify) {
        wolfSSL_set_verify(ssl, WOLFSSL_VERIFY_NONE, nullptr);
    }
    if (sni != nullptr) {
        wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, sni, static_cast<unsigned short>(strlen(sni)));
    }
    if (resume != nullptr) {
        wolfSSL_set_session(ssl, resume);
    }
    if (wolfSSL_connect(ssl) == WOLFSSL_SUCCESS) {
        r.handshake = true;
        r.version = wolfSSL_get_version(ssl);
        r.resumed = wolfSSL_session_reused(ssl) != 0;
        r.peer_chain = wolfSSL_get_chain_count(wolfSSL_get_peer_chain(ssl));
        const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        wolfSSL_write(ssl, req, sizeof req - 1);
        char buf[1024];
        for (int i = 0; i < 100; ++i) {  // bounded; the fleet closes after its answer
            int n = wolfSSL_read(ssl, buf, sizeof buf);
            if (n <= 0) {
                break;
            }
            r.response.append(buf, static_cast<size_t>(n));
        }
        r.session = wolfSSL_get1_session(ssl);
    }
    wolfSSL_free(ssl);
    ::close(fd);
    return r;
}

std::string body_of(const std::string& response) {
    auto at = response.find("\r\n\r\n");
    return at == std::string::npos ? "" : response.substr(at + 4);
}

class FleetTls : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        auto f = FleetProcess::start(behaviours());
        ASSERT_TRUE(f.has_value()) << f.error().message;
        fleet_ = new FleetProcess(std::move(*f));
    }
    static void TearDownTestSuite() {
        if (fleet_ != nullptr) {
            EXPECT_EQ(fleet_->stop(), 0) << fleet_->stderr_text();
        }
        delete fleet_;
        fleet_ = nullptr;
    }
    void SetUp() override { ASSERT_NE(fleet_, nullptr); }
    std::string sni_json() {
        auto j = fleet_->get("/sni");
        return j ? *j : "(control port error: " + j.error().message + ")";
    }
    std::string backend(const char* address) {
        return std::string(address) + ":" + std::to_string(fleet_->port());
    }
    static FleetProcess* fleet_;
    Client client_;
};
FleetProcess* FleetTls::fleet_ = nullptr;

TEST_F(FleetTls, TlsBackendHandshakesWithItsChainThenAnswersItsHttpBehaviour) {
    Result r = talk(client_.ctx, "127.1.50.1", fleet_->port(), "good.ringprobe.test");
    ASSERT_TRUE(r.handshake);
    EXPECT_EQ(r.version, "TLSv1.3");
    EXPECT_EQ(r.peer_chain, 2);
    EXPECT_EQ(body_of(r.response), "secure\n");
    wolfSSL_SESSION_free(r.session);
    EXPECT_EQ(fleet_->count("127.1.50.1", fleet_->port()), 1u);
}

TEST_F(FleetTls, RecordsTheSniEachBackendReceived) {
    Result a = talk(client_.ctx, "127.1.50.1", fleet_->port(), "www.ringprobe.test");
    ASSERT_TRUE(a.handshake);
    wolfSSL_SESSION_free(a.session);
    std::string j = sni_json();
    EXPECT_NE(j.find("\"" + backend("127.1.50.1") + "\":{\"sni\":\"www.ringprobe.test\""),
              std::string::npos)
        << j;
}

TEST_F(FleetTls, RecordsNoSniWhenTheClientSendsNone) {
    Result a = talk(client_.ctx, "127.1.50.2", fleet_->port(), nullptr);
    ASSERT_TRUE(a.handshake);
    wolfSSL_SESSION_free(a.session);
    std::string j = sni_json();
    EXPECT_NE(j.find("\"" + backend("127.1.50.2") + "\":{\"sni\":\"\""), std::string::npos) << j;
}

TEST_F(FleetTls, TlsVersionPinsTheProtocol) {
    Result r = talk(client_.ctx, "127.1.50.2", fleet_->port(), "good.ringprobe.test");
    ASSERT_TRUE(r.handshake);
    EXPECT_EQ(r.version, "TLSv1.2");
    EXPECT_EQ(body_of(r.response), "ok\n");  // the http kind's own default body
    wolfSSL_SESSION_free(r.session);
}

TEST_F(FleetTls, ChainIsSentInTheOrderOfItsFile) {
    // The leaf is second in wrong-order-chain.pem: the intermediate goes first, so the server's
    // signature (made with the leaf's key) does not verify against it and the handshake fails.
    // tls_test shows ringprobe naming this "leaf not topmost".
    Result bad = talk(client_.ctx, "127.1.50.3", fleet_->port(), "good.ringprobe.test");
    EXPECT_FALSE(bad.handshake);
}

TEST_F(FleetTls, SecondConnectionWithTheSessionResumes) {
    for (const char* address : {"127.1.50.1", "127.1.50.2"}) {  // TLS 1.3 tickets, TLS 1.2
        Result first = talk(client_.ctx, address, fleet_->port(), "good.ringprobe.test");
        ASSERT_TRUE(first.handshake) << address;
        ASSERT_NE(first.session, nullptr);
        Result second =
            talk(client_.ctx, address, fleet_->port(), "good.ringprobe.test", first.session);
        ASSERT_TRUE(second.handshake) << address;
        EXPECT_TRUE(second.resumed) << address;
        wolfSSL_SESSION_free(first.session);
        wolfSSL_SESSION_free(second.session);
    }
    std::string j = sni_json();
    EXPECT_NE(j.find("\"resumed\":1"), std::string::npos) << j;
}

TEST_F(FleetTls, PlainBackendsBesideTlsOnesStayPlain) {
    auto ex =
        ringprobe::test::exchange("127.1.50.9", fleet_->port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                                  std::chrono::milliseconds(3000));
    EXPECT_EQ(body_of(ex.bytes), "plain\n");
}

TEST(FleetTlsStart, UnreadableCertificateIsRefusedWithItsJsonPath) {
    auto f = FleetProcess::start(
        R"({"rules": [{"cidr": "127.1.51.0/24", "kind": "http", "tls": {"cert": "/nonexistent.pem", "key": "/nonexistent.key"}}]})");
    ASSERT_FALSE(f);
    EXPECT_NE(f.error().message.find("$.rules[0].tls.cert: cannot read"), std::string::npos)
        << f.error().message;
}

}  // namespace
