// tls_test: pins src/engine/tls/ (x509, trust, chain, client): the TLS client the worker
// drives over memory buffers.
//
// Each test starts a real wolfSSL server (tests/support/tls_memory_server.hpp) that serves one
// of the committed chains of tests/fixtures/tls (docs/tls.md lists them) through two memory
// pipes, and drives TlsClient against it exactly as the worker does: handshake(), send what is
// pending, feed what arrives. No socket, thread or sleep. It proves that every certificate
// category of docs/tls.md ("How a chain is judged") comes out as its own Reason with a detail
// naming the certificate, that the switches (validateCertChainAndExpiry, validateSNI) and the trust
// choice (system store or trusted roots, PEM or base64 DER) do what the gateway does, that SNI is
// sent as given and never for an IP literal, and that the second handshake of a target resumes.
// It also pins where ringprobe and OpenSSL must agree although wolfSSL alone would not: an
// intermediate without keyUsage is accepted (and one without CA:TRUE is not), and an IP literal
// is checked against the leaf's iPAddress SANs, a Host's port and brackets left out.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/text.hpp"
#include "engine/tls.hpp"
#include "support/tls_memory_server.hpp"

namespace {

using ringprobe::Reason;
using ringprobe::reason_info;
using ringprobe::test::handshake_pair;
using ringprobe::test::MemoryTlsServer;
using namespace ringprobe::tls;

std::string fixture(const std::string& name) {
    return std::string(RP_TLS_FIXTURES) + "/" + name;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TlsContexts trusting_private_root() {
    std::vector<std::string> roots{slurp(fixture("root.pem"))};
    auto c = TlsContexts::single(roots);
    RP_ASSERT(c.has_value());
    return std::move(*c);
}

TlsContexts system_store() {
    auto c = TlsContexts::single({});
    RP_ASSERT(c.has_value());
    return std::move(*c);
}

struct Outcome {
    StepKind step;
    Reason reason;
    std::string detail;
    CertFacts facts;
    std::string server_sni;
    bool server_resumed = false;
};

// One handshake of a fresh client against `chain` served with `key`.
Outcome run(const TlsContexts& trust, const std::string& chain, const std::string& key,
            std::string_view sni = "good.ringprobe.test", ClientOptions options = {},
            TlsSession* session = nullptr, int server_version = 0) {
    auto server = MemoryTlsServer::create(fixture(chain), fixture(key), server_version);
    RP_ASSERT(server != nullptr);
    server->begin_connection();
    TlsClient client;
    RP_ASSERT(client.start(trust.at(0), sni, "", session, options));
    auto r = handshake_pair(client, *server);
    Outcome o{r.client_step,  client.reason(), std::string(client.detail()),
              client.facts(), server->sni(),   server->resumed()};
    client.finish();
    return o;
}

#define EXPECT_REASON(o, r)                              \
    EXPECT_EQ((o).step, StepKind::Failed) << (o).detail; \
    EXPECT_EQ(reason_info((o).reason).code, reason_info(r).code) << (o).detail

TEST(Tls, GoodChainWithPrivateRootTrustedThroughTrustedRootsCompletes) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "good-chain.pem", "good.key");
    ASSERT_EQ(o.step, StepKind::HandshakeDone) << o.detail;
    EXPECT_EQ(o.facts.presented, 2);
    EXPECT_STREQ(o.facts.chain[0].common_name, "good.ringprobe.test");
    EXPECT_STREQ(o.facts.chain[0].sans, "good.ringprobe.test,www.ringprobe.test");
    EXPECT_STREQ(o.facts.chain[1].common_name, "ringprobe Test Intermediate CA");
    EXPECT_NE(std::string(o.facts.anchor).find("ringprobe Test Root CA"), std::string::npos);
    EXPECT_STREQ(o.facts.protocol, "TLSv1.3");
    EXPECT_NE(o.facts.cipher[0], '\0');
    EXPECT_FALSE(o.facts.resumed);
    EXPECT_NE(o.facts.chain[0].sha256, (std::array<std::uint8_t, 32>{}));
    EXPECT_GT(o.facts.days_until_expiry(std::time(nullptr)), 14);
}

TEST(Tls, PlanGetsOneContextPerDistinctTrustConfiguration) {
    ringprobe::Plan plan;
    plan.trusted_roots.push_back({"private", "id0", slurp(fixture("root.pem"))});
    plan.trusted_roots.push_back({"other", "id1", slurp(fixture("other-root.pem"))});
    auto add = [&](ringprobe::Protocol p, std::vector<std::uint32_t> roots) {
        ringprobe::Target t;
        t.protocol = p;
        t.trusted_roots = std::move(roots);
        plan.targets.push_back(t);
    };
    add(ringprobe::Protocol::Https, {0});
    add(ringprobe::Protocol::Tls, {});
    add(ringprobe::Protocol::Http, {});
    add(ringprobe::Protocol::Https, {0});
    add(ringprobe::Protocol::Https, {1, 0});
    add(ringprobe::Protocol::Tls, {0, 1});
    auto contexts = TlsContexts::build(plan);
    ASSERT_TRUE(contexts.has_value()) << contexts.error().message;
    EXPECT_EQ(contexts->size(), 3u);  // {0}, system store, {0,1}
    EXPECT_EQ(&contexts->for_target(0), &contexts->for_target(3));
    EXPECT_EQ(&contexts->for_target(4), &contexts->for_target(5));
    EXPECT_TRUE(contexts->for_target(1).system_store);
    EXPECT_FALSE(contexts->for_target(0).system_store);
    EXPECT_EQ(contexts->for_target(4).anchors.size(), 2u);
    Outcome o = run(*contexts, "good-chain.pem", "good.key");  // at(0) is {0}: the private root
    EXPECT_EQ(o.step, StepKind::HandshakeDone) << o.detail;
}

TEST(Tls, TrustedRootGivenAsBase64DerWorksLikePem) {
    std::vector<std::string> roots{slurp(fixture("root.der.b64"))};
    auto trust = TlsContexts::single(roots);
    ASSERT_TRUE(trust.has_value()) << trust.error().message;
    Outcome o = run(*trust, "good-chain.pem", "good.key");
    EXPECT_EQ(o.step, StepKind::HandshakeDone) << o.detail;
}

TEST(Tls, BadTrustedRootIsAConfigurationErrorNamingIt) {
    std::vector<std::string> roots{"not a certificate at all!"};
    auto trust = TlsContexts::single(roots);
    ASSERT_FALSE(trust.has_value());
    EXPECT_NE(trust.error().message.find("trusted root"), std::string::npos);
}

TEST(Tls, FullChainEndingInTheTrustedRootCompletes) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "good-full-chain.pem", "good.key");
    EXPECT_EQ(o.step, StepKind::HandshakeDone) << o.detail;
    EXPECT_EQ(o.facts.presented, 3);
}

TEST(Tls, PrivateChainAgainstTheSystemStoreIsNotAWellKnownCa) {
    auto trust = system_store();
    Outcome o = run(trust, "good-chain.pem", "good.key");
    EXPECT_REASON(o, Reason::TlsUntrustedRoot);
    EXPECT_NE(o.detail.find("not a well-known CA"), std::string::npos) << o.detail;
}

TEST(Tls, PrivateRootSentAgainstTheSystemStoreIsNotAWellKnownCa) {
    auto trust = system_store();
    Outcome o = run(trust, "good-full-chain.pem", "good.key");
    EXPECT_REASON(o, Reason::TlsUntrustedRoot);
    EXPECT_NE(o.detail.find("root CN=ringprobe Test Root CA"), std::string::npos) << o.detail;
}

TEST(Tls, ExpiredLeafSaysWhichCertificateAndWhen) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "expired-chain.pem", "expired.key", "expired.ringprobe.test");
    EXPECT_REASON(o, Reason::TlsExpired);
    EXPECT_EQ(o.detail, "leaf CN=expired.ringprobe.test expired 2021-01-01T00:00:00Z");
}

TEST(Tls, NotYetValidLeafSaysWhichCertificateAndWhen) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "notyet-chain.pem", "notyet.key", "notyet.ringprobe.test");
    EXPECT_REASON(o, Reason::TlsNotYetValid);
    EXPECT_EQ(o.detail, "leaf CN=notyet.ringprobe.test not valid before 2090-01-01T00:00:00Z");
}

TEST(Tls, ExpiredIntermediateIsNamedAsTheIntermediate) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "expired-intermediate-chain.pem", "under-expired.key");
    EXPECT_REASON(o, Reason::TlsExpired);
    EXPECT_EQ(o.detail,
              "intermediate CN=ringprobe Expired Intermediate CA expired 2021-01-01T00:00:00Z");
}

TEST(Tls, ExpiryIsIgnoredWhenChainValidationIsOff) {
    auto trust = trusting_private_root();
    ClientOptions off;
    off.validate_chain = false;
    Outcome o = run(trust, "expired-chain.pem", "expired.key", "expired.ringprobe.test", off);
    EXPECT_EQ(o.step, StepKind::HandshakeDone) << o.detail;
}

TEST(Tls, WrongNameIsANameMismatchListingTheSans) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "wrongname-chain.pem", "wrongname.key");
    EXPECT_REASON(o, Reason::TlsNameMismatch);
    EXPECT_EQ(o.detail,
              "leaf CN=www.example.test (SAN www.example.test) does not match good.ringprobe.test");
}

TEST(Tls, NameIsNotCheckedWhenValidateSniIsOff) {
    auto trust = trusting_private_root();
    ClientOptions off;
    off.validate_name = false;
    Outcome o = run(trust, "wrongname-chain.pem", "wrongname.key", "good.ringprobe.test", off);
    EXPECT_EQ(o.step, StepKind::HandshakeDone) << o.detail;
}

TEST(Tls, NameFallsBackToTheCommonNameOnlyWithoutSans) {
    auto trust = trusting_private_root();
    EXPECT_EQ(run(trust, "cn-only-chain.pem", "cn-only.key", "cn.ringprobe.test").step,
              StepKind::HandshakeDone);
    Outcome o = run(trust, "cn-only-chain.pem", "cn-only.key", "other.ringprobe.test");
    EXPECT_REASON(o, Reason::TlsNameMismatch);
    // The good leaf's CN is good.ringprobe.test but it has SANs: only they count.
    EXPECT_EQ(run(trust, "good-chain.pem", "good.key", "www.ringprobe.test").step,
              StepKind::HandshakeDone);
}

TEST(Tls, WildcardSanMatchesExactlyOneLabel) {
    auto trust = trusting_private_root();
    EXPECT_EQ(run(trust, "wildcard-chain.pem", "wildcard.key", "a.wild.ringprobe.test").step,
              StepKind::HandshakeDone);
    EXPECT_REASON(run(trust, "wildcard-chain.pem", "wildcard.key", "a.b.wild.ringprobe.test"),
                  Reason::TlsNameMismatch);
    EXPECT_REASON(run(trust, "wildcard-chain.pem", "wildcard.key", "wild.ringprobe.test"),
                  Reason::TlsNameMismatch);
}

TEST(Tls, LeafWithoutItsIntermediateIsIntermediateMissing) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "no-intermediate-chain.pem", "good.key");
    EXPECT_REASON(o, Reason::TlsIntermediateMissing);
    EXPECT_EQ(o.detail,
              "intermediate missing: leaf CN=good.ringprobe.test was sent without its issuer "
              "CN=ringprobe Test Intermediate CA");
}

TEST(Tls, ChainWithoutALeafIsLeafMissing) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "no-leaf-chain.pem", "inter.key");
    EXPECT_REASON(o, Reason::TlsLeafMissing);
    EXPECT_NE(o.detail.find("CN=ringprobe Test Intermediate CA"), std::string::npos) << o.detail;
}

TEST(Tls, LeafSentSecondIsLeafNotTopmost) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "wrong-order-chain.pem", "good.key");
    EXPECT_REASON(o, Reason::TlsLeafNotTopmost);
    EXPECT_EQ(o.detail,
              "leaf CN=good.ringprobe.test is certificate 2 of 2; first is CN=ringprobe Test "
              "Intermediate CA");
}

TEST(Tls, RootSentThatIsNotAmongTheTrustedRootsIsRootMismatch) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "other-root-chain.pem", "other.key");
    EXPECT_REASON(o, Reason::TlsRootMismatch);
    EXPECT_EQ(o.detail,
              "root CN=Other Test Root CA sent by the server is not among the trusted "
              "roots");
}

TEST(Tls, NoRootSentAndNoTrustedRootSignedTheIntermediateIsRootMismatchNoRoot) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "other-no-root-chain.pem", "other.key");
    EXPECT_REASON(o, Reason::TlsRootMismatchNoRoot);
    EXPECT_NE(o.detail.find("CN=Other Test Intermediate CA"), std::string::npos) << o.detail;
}

TEST(Tls, SelfSignedLeafIsRootMismatchOrNotWellKnownDependingOnTrust) {
    auto roots = trusting_private_root();
    EXPECT_REASON(run(roots, "self-signed-chain.pem", "self.key", "self.ringprobe.test"),
                  Reason::TlsRootMismatch);
    auto sys = system_store();
    Outcome o = run(sys, "self-signed-chain.pem", "self.key", "self.ringprobe.test");
    EXPECT_REASON(o, Reason::TlsUntrustedRoot);
    EXPECT_NE(o.detail.find("self-signed leaf CN=self.ringprobe.test"), std::string::npos);
}

TEST(Tls, SignatureThatDoesNotVerifyIsOtherVerifyErrorWithTheVerifiersCode) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "forged-chain.pem", "forged.key");
    EXPECT_REASON(o, Reason::TlsVerifyOther);
    EXPECT_NE(o.facts.verify_error, 0);
    EXPECT_EQ(o.detail.rfind("verify error ", 0), 0u) << o.detail;
}

// The leaf of these chains is signed by a CA:TRUE intermediate without a keyUsage extension,
// which RFC 5280 reads as no restriction and `openssl verify` accepts; wolfSSL alone refuses it
// as the leaf's signer (verify error 20).
TEST(Tls, IntermediateWithoutKeyUsageIsAcceptedAsOpenSslAcceptsIt) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "noku-chain.pem", "under-noku.key");
    ASSERT_EQ(o.step, StepKind::HandshakeDone) << o.detail;
    EXPECT_EQ(o.facts.verify_error, 0);
    EXPECT_NE(std::string(o.facts.anchor).find("ringprobe Test Root CA"), std::string::npos);
}

TEST(Tls, WrongNameBehindAnIntermediateWithoutKeyUsageIsANameMismatch) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "noku-wrongname-chain.pem", "under-noku-wrongname.key");
    EXPECT_REASON(o, Reason::TlsNameMismatch);
    EXPECT_EQ(o.detail,
              "leaf CN=www.example.test (SAN www.example.test) does not match good.ringprobe.test");
}

TEST(Tls, IntermediateWithoutCaBasicConstraintsStillFails) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "noca-chain.pem", "under-noca.key");
    EXPECT_REASON(o, Reason::TlsVerifyOther);
    EXPECT_EQ(o.detail.rfind("verify error 20: ", 0), 0u) << o.detail;
}

// Without SNI (an IP-literal backend) the name checked is the Host's, port and brackets off.
Outcome run_host(const TlsContexts& trust, const std::string& chain, const std::string& key,
                 std::string_view host) {
    auto server = MemoryTlsServer::create(fixture(chain), fixture(key));
    RP_ASSERT(server != nullptr);
    server->begin_connection();
    TlsClient client;
    RP_ASSERT(client.start(trust.at(0), "", host, nullptr));
    auto r = handshake_pair(client, *server);
    Outcome o{r.client_step,  client.reason(), std::string(client.detail()),
              client.facts(), server->sni(),   server->resumed()};
    client.finish();
    return o;
}

TEST(Tls, IpLiteralIsCheckedAgainstTheIpSans) {
    auto trust = trusting_private_root();
    for (const char* host : {"127.0.0.1", "127.0.0.1:8443", "[::1]", "[::1]:8443", "::1"}) {
        Outcome o = run_host(trust, "ip-chain.pem", "ip.key", host);
        EXPECT_EQ(o.step, StepKind::HandshakeDone) << host << ": " << o.detail;
        EXPECT_EQ(o.server_sni, "") << host;
    }
    EXPECT_STREQ(run_host(trust, "ip-chain.pem", "ip.key", "ip.ringprobe.test").facts.chain[0].sans,
                 "ip.ringprobe.test,127.0.0.1,::1");
}

TEST(Tls, IpLiteralMissingFromTheIpSansIsANameMismatch) {
    auto trust = trusting_private_root();
    Outcome o = run_host(trust, "ip-chain.pem", "ip.key", "127.0.0.2");
    EXPECT_REASON(o, Reason::TlsNameMismatch);
    EXPECT_EQ(o.detail,
              "leaf CN=ip.ringprobe.test (SAN ip.ringprobe.test,127.0.0.1,::1) does not match "
              "127.0.0.2");
    // A certificate without IP SANs never matches an IP, whatever its CN or DNS SANs say.
    EXPECT_REASON(run_host(trust, "good-chain.pem", "good.key", "127.0.0.1"),
                  Reason::TlsNameMismatch);
}

TEST(Tls, HostWithAPortIsCheckedWithoutIt) {
    auto trust = trusting_private_root();
    Outcome o = run_host(trust, "good-chain.pem", "good.key", "good.ringprobe.test:18443");
    EXPECT_EQ(o.step, StepKind::HandshakeDone) << o.detail;
}

TEST(Tls, SniIsSentAsGiven) {
    auto trust = trusting_private_root();
    Outcome o = run(trust, "good-chain.pem", "good.key", "www.ringprobe.test");
    EXPECT_EQ(o.step, StepKind::HandshakeDone) << o.detail;
    EXPECT_EQ(o.server_sni, "www.ringprobe.test");
}

TEST(Tls, NoSniIsSentForAnIpLiteral) {
    auto trust = trusting_private_root();
    auto server = MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"));
    server->begin_connection();
    TlsClient client;
    ASSERT_TRUE(client.start(trust.at(0), "127.0.0.1", "", nullptr));
    EXPECT_FALSE(client.sni_sent());
    auto r = handshake_pair(client, *server);
    EXPECT_EQ(r.client_step, StepKind::HandshakeDone) << client.detail();
    EXPECT_EQ(server->sni(), "");
    EXPECT_TRUE(ringprobe::is_ip_literal("::1"));
    EXPECT_FALSE(ringprobe::is_ip_literal("good.ringprobe.test"));
}

TEST(Tls, ServerAlertIsTlsAlertWithItsName) {
    // A server that only knows one name aborts with unrecognized_name (112) on another.
    auto trust = trusting_private_root();
    auto server = MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"));
    server->begin_connection();
    server->require_sni("good.ringprobe.test");
    TlsClient client;
    ASSERT_TRUE(client.start(trust.at(0), "other.ringprobe.test", "", nullptr));
    handshake_pair(client, *server);
    EXPECT_EQ(reason_info(client.reason()).code, reason_info(Reason::TlsAlert).code)
        << client.detail();
    EXPECT_NE(client.detail().find("alert 112"), std::string_view::npos) << client.detail();
}

TEST(Tls, ServerWithoutTls12Or13IsProtocolVersion) {
    auto trust = trusting_private_root();
    auto server = MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"), 11);
    if (server == nullptr) {
        GTEST_SKIP() << "this wolfSSL has no TLS 1.1 server to play an old backend";
    }
    server->begin_connection();
    TlsClient client;
    ASSERT_TRUE(client.start(trust.at(0), "good.ringprobe.test", "", nullptr));
    handshake_pair(client, *server);
    EXPECT_EQ(reason_info(client.reason()).code, reason_info(Reason::TlsProtocolVersion).code)
        << client.detail();
}

TEST(Tls, BytesThatAreNotTlsAreHandshakeFailedWithTheCode) {
    auto trust = trusting_private_root();
    TlsClient client;
    ASSERT_TRUE(client.start(trust.at(0), "good.ringprobe.test", "", nullptr));
    ASSERT_EQ(client.handshake().kind, StepKind::NeedSend);
    client.consume_sent(client.pending_ciphertext().size());
    ASSERT_EQ(client.handshake().kind, StepKind::NeedReceive);
    std::string http = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    client.feed_ciphertext(http.data(), http.size());
    Step s = client.handshake();
    while (s.kind == StepKind::NeedSend) {  // the client may send an alert first
        client.consume_sent(client.pending_ciphertext().size());
        s = client.handshake();
    }
    EXPECT_EQ(s.kind, StepKind::Failed);
    EXPECT_EQ(reason_info(client.reason()).code, reason_info(Reason::TlsHandshakeFailed).code);
    EXPECT_NE(client.detail().find("error -"), std::string_view::npos) << client.detail();
}

TEST(Tls, StalledHandshakeWaitsForTheWorkersDeadline) {
    // No byte from the server: the client keeps asking for more and never decides by itself;
    // the worker's deadline turns that into TlsHandshakeTimeout.
    auto trust = trusting_private_root();
    TlsClient client;
    ASSERT_TRUE(client.start(trust.at(0), "good.ringprobe.test", "", nullptr));
    ASSERT_EQ(client.handshake().kind, StepKind::NeedSend);
    client.consume_sent(client.pending_ciphertext().size());
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(client.handshake().kind, StepKind::NeedReceive);
    }
    EXPECT_FALSE(client.handshake_done());
}

// Https: request out, response in, through the client after the handshake.
std::string exchange(TlsClient& client, MemoryTlsServer& server, std::string_view request) {
    Step s = client.write_plaintext(std::span<const char>(request.data(), request.size()));
    std::string got;
    for (int i = 0; i < 64; ++i) {
        if (s.kind == StepKind::NeedSend) {
            auto out = client.pending_ciphertext();
            server.from_client().append(out.data(), out.size());
            client.consume_sent(out.size());
        } else if (s.kind == StepKind::NeedReceive) {
            server.pump();
            std::string& in = server.to_client();
            if (in.empty()) {
                client.feed_eof();
            } else {
                in.erase(0, client.feed_ciphertext(in.data(), in.size()));
            }
        } else if (s.kind == StepKind::PlaintextAvailable) {
            // bytes were appended below
        } else {
            break;
        }
        char buf[512];
        s = client.read_plaintext(buf, sizeof buf);
        if (s.kind == StepKind::PlaintextAvailable) {
            got.append(buf, s.bytes);
        }
    }
    return got;
}

void expect_second_handshake_resumes(int server_version, const char* protocol) {
    auto trust = trusting_private_root();
    auto server =
        MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"), server_version);
    server->set_reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    TlsSession session;
    for (int probe = 0; probe < 3; ++probe) {
        server->begin_connection();
        TlsClient client;
        ASSERT_TRUE(client.start(trust.at(0), "good.ringprobe.test", "", &session));
        auto r = handshake_pair(client, *server);
        ASSERT_EQ(r.client_step, StepKind::HandshakeDone) << client.detail();
        EXPECT_STREQ(client.facts().protocol, protocol);
        EXPECT_EQ(client.facts().resumed, probe > 0) << "probe " << probe;
        EXPECT_EQ(server->resumed(), probe > 0) << "probe " << probe;
        // The facts of a resumed probe are those of the full handshake behind the session.
        EXPECT_STREQ(client.facts().chain[0].common_name, "good.ringprobe.test");
        EXPECT_EQ(exchange(client, *server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        client.finish();
        EXPECT_TRUE(session.has_session());
    }
}

TEST(Tls, SecondHandshakeResumesWithTls13Tickets) {
    expect_second_handshake_resumes(13, "TLSv1.3");
}

TEST(Tls, SecondHandshakeResumesWithTls12) {
    expect_second_handshake_resumes(12, "TLSv1.2");
}

TEST(Tls, NoResumptionWithoutASession) {
    auto trust = trusting_private_root();
    auto server = MemoryTlsServer::create(fixture("good-chain.pem"), fixture("good.key"));
    for (int probe = 0; probe < 2; ++probe) {
        server->begin_connection();
        TlsClient client;
        ASSERT_TRUE(client.start(trust.at(0), "good.ringprobe.test", "", nullptr));
        ASSERT_EQ(handshake_pair(client, *server).client_step, StepKind::HandshakeDone);
        EXPECT_FALSE(server->resumed());
    }
}

TEST(Tls, FailedVerificationDropsTheTargetsSession) {
    auto trust = trusting_private_root();
    TlsSession session;
    run(trust, "good-chain.pem", "good.key", "good.ringprobe.test", {}, &session, 12);
    ASSERT_TRUE(session.has_session());
    run(trust, "wrongname-chain.pem", "wrongname.key", "good.ringprobe.test", {}, &session, 12);
    EXPECT_FALSE(session.has_session());
}

TEST(Tls, DetailAlwaysFitsTheReportsDetailArea) {
    static_assert(detail_bytes <= 255);
    EXPECT_TRUE(name_matches("*.Example.test", "a.example.TEST."));
    EXPECT_FALSE(name_matches("*.example.test", "example.test"));
}

TEST(Tls, DaysUntilExpiryRoundsTowardTheWarning) {
    CertFacts f;
    f.earliest_not_after_s = 1000 * 86400;
    EXPECT_EQ(f.days_until_expiry(990 * 86400), 10);
    EXPECT_EQ(f.days_until_expiry(990 * 86400 + 1), 9);
    EXPECT_EQ(f.days_until_expiry(1001 * 86400), -1);
}

}  // namespace
