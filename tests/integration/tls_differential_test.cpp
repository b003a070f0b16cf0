// tls_differential: ringprobe's TLS verdicts against OpenSSL's, chain by chain.
//
// tests/tls/make-corpus.sh writes a few dozen chains into a temporary directory (2 to 4 deep;
// with and without keyUsage, pathLen and SKI/AKI; DNS SAN, CN-only and IP SAN leaves; UTF8String
// and PrintableString names; RSA 2048, P-256 and P-384; valid, expired, not yet valid, wrong
// name, wrong order, missing intermediate, foreign root, and intermediates OpenSSL refuses) and
// OpenSSL's verdict on each (`openssl verify`, the first certificate as the peer's, the name
// through -verify_hostname or -verify_ip). The real fleet serves every chain on its own loopback
// address; ringprobe's TlsClient, over a plain socket, judges each the way a probe does. The
// test fails on any case where the two disagree, on accepting or refusing or on the category,
// unless the disagreement is one of those listed below with its reason, which are the ones
// docs/tls.md lists ("How ringprobe's verdicts relate to OpenSSL's"). Each failure prints the
// case, both verdicts and ringprobe's detail. It needs the openssl command (Debian's openssl).
// RP_TLS_CORPUS=DIR runs it over a corpus made beforehand (`make-corpus.sh DIR large`).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tls.hpp"
#include "support/fleet_process.hpp"

namespace ringprobe {
namespace {

using tls::StepKind;
using tls::TlsClient;
using tls::TlsContexts;

struct Case {
    std::string id, chain, key, trust, sni, host, openssl, what;
};

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<Case> read_manifest(const std::string& path) {
    std::vector<Case> cases;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::stringstream ss(line);
        std::string field;
        while (std::getline(ss, field, '|')) {
            f.push_back(field);
        }
        f.resize(8);
        cases.push_back({f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]});
    }
    return cases;
}

// The reasons that name the same fault as an OpenSSL verify error.
std::set<Reason> reasons_for(const std::string& openssl) {
    if (openssl == "ok") {
        return {Reason::Ok};
    }
    const int code = std::atoi(openssl.c_str() + std::string("error ").size());
    switch (code) {
        case 9: return {Reason::TlsNotYetValid};    // certificate is not yet valid
        case 10: return {Reason::TlsExpired};       // certificate has expired
        case 62:                                    // hostname mismatch
        case 64: return {Reason::TlsNameMismatch};  // IP address mismatch
        case 2:                                     // unable to get issuer certificate
        case 18:                                    // self-signed certificate
        case 19:                                    // self-signed certificate in certificate chain
        case 20:                                    // unable to get local issuer certificate
        case 21:                                    // unable to verify the first certificate
            return {Reason::TlsIntermediateMissing, Reason::TlsRootMismatch,
                    Reason::TlsRootMismatchNoRoot, Reason::TlsUntrustedRoot};
        case 7:   // certificate signature failure
        case 24:  // invalid CA certificate
        case 25:  // path length constraint exceeded
        case 32:  // key usage does not include certificate signing
        case 79:  // invalid CA certificate (OpenSSL 3's code for a CA without CA:TRUE)
            return {Reason::TlsVerifyOther};
        default: return {};
    }
}

// The disagreements docs/tls.md lists: the case's fault, what OpenSSL says, what ringprobe says.
struct Known {
    const char* id_suffix;
    const char* openssl;
    Reason ringprobe;
    const char* why;
};
const Known known[] = {
    {"wrongorder", "error 62", Reason::TlsLeafNotTopmost,
     "OpenSSL takes the first certificate sent, here the intermediate, for the peer's and finds "
     "the name missing; ringprobe finds the leaf second and names the order"},
};

const Known* known_for(const Case& c, Reason got) {
    for (const Known& k : known) {
        const std::string suffix = k.id_suffix;
        const bool id_ends = c.id.size() >= suffix.size() &&
                             c.id.compare(c.id.size() - suffix.size(), suffix.size(), suffix) == 0;
        if (id_ends && c.openssl == k.openssl && got == k.ringprobe) {
            return &k;
        }
    }
    return nullptr;
}

int connect_to(const std::string& address, std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

struct Verdict {
    Reason reason = Reason::Pending;
    std::string detail;
};

// One handshake of ringprobe's client over a socket, driven as the worker drives it. Bounded:
// at most 200 steps, each receive waits at most 5 s.
Verdict judge(const TlsContexts& trust, const Case& c, const std::string& address,
              std::uint16_t port) {
    Verdict v;
    const int fd = connect_to(address, port);
    if (fd < 0) {
        v.detail = "connect failed";
        return v;
    }
    TlsClient client;
    if (!client.start(trust.at(0), c.sni, c.host, nullptr)) {
        ::close(fd);
        v.detail = "start failed";
        return v;
    }
    char buf[16384];
    for (int step = 0; step < 200; ++step) {
        const tls::Step s = client.handshake();
        if (s.kind == StepKind::HandshakeDone) {
            v.reason = Reason::Ok;
            break;
        }
        if (s.kind == StepKind::Failed) {
            v.reason = client.reason();
            v.detail = std::string(client.detail());
            break;
        }
        if (s.kind == StepKind::NeedSend) {
            auto out = client.pending_ciphertext();
            const ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                client.feed_eof();
                continue;
            }
            client.consume_sent(static_cast<std::size_t>(n));
            continue;
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) != 1) {
            v.detail = "no answer within 5 s";
            break;
        }
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            client.feed_eof();
        } else {
            client.feed_ciphertext(buf, static_cast<std::size_t>(n));
        }
    }
    client.finish();
    ::close(fd);
    return v;
}

// Case i is served on its own loopback address, 250 to a /24 from 127.1.72.1.
std::string address_of(std::size_t i) {
    return "127.1." + std::to_string(72 + i / 250) + "." + std::to_string(i % 250 + 1);
}

class Corpus {
public:
    Corpus() {
        char templ[] = "/tmp/rp-tls-corpus-XXXXXX";
        if (::mkdtemp(templ) != nullptr) {
            dir_ = templ;
        }
    }
    ~Corpus() {
        std::error_code ec;
        if (!dir_.empty()) {
            std::filesystem::remove_all(dir_, ec);
        }
    }
    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
};

TEST(TlsDifferential, RingprobeAgreesWithOpenSslOnEveryChainOrTheDocsSayWhy) {
    ASSERT_EQ(std::system("openssl version >/dev/null 2>&1"), 0)
        << "the openssl command is missing: install Debian's openssl package (tools/test.sh "
           "installs it)";
    // RP_TLS_CORPUS: a corpus made beforehand (`make-corpus.sh DIR large`); else the small one.
    Corpus corpus;
    const char* given = std::getenv("RP_TLS_CORPUS");
    const std::string dir = given != nullptr && *given != '\0' ? given : corpus.dir();
    if (dir == corpus.dir()) {
        ASSERT_FALSE(dir.empty());
        const std::string cmd =
            std::string("sh '") + RP_MAKE_CORPUS + "' '" + dir + "' small >/dev/null";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    const std::vector<Case> cases = read_manifest(dir + "/manifest");
    ASSERT_GE(cases.size(), 30u);
    ASSERT_LE(cases.size(), 2500u);  // ten /24s of loopback addresses

    std::string rules;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        rules += std::string(i == 0 ? "" : ",") + R"({"cidr": ")" + address_of(i) +
                 R"(/32", "kind": "http", "status": 200, "tls": {"cert": ")" + cases[i].chain +
                 R"(", "key": ")" + cases[i].key + R"("}})";
    }
    auto fleet =
        test::FleetProcess::start(R"({"default": {"kind": "reset"}, "rules": [)" + rules + "]}");
    ASSERT_TRUE(fleet) << fleet.error().message;

    int agreed = 0;
    int listed = 0;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        std::vector<std::string> roots{slurp(c.trust)};
        auto trust = TlsContexts::single(roots);
        ASSERT_TRUE(trust.has_value()) << c.id << ": " << trust.error().message;
        const Verdict v = judge(*trust, c, address_of(i), fleet->port());
        const std::set<Reason> want = reasons_for(c.openssl);
        if (want.count(v.reason) != 0) {
            ++agreed;
            continue;
        }
        if (const Known* k = known_for(c, v.reason); k != nullptr) {
            ++listed;
            continue;
        }
        ADD_FAILURE() << c.id << " (" << c.what << "): OpenSSL says " << c.openssl
                      << ", ringprobe says " << reason_info(v.reason).code << ": " << v.detail;
    }
    std::printf("%d of %zu chains agreed, %d disagreed as docs/tls.md lists\n", agreed,
                cases.size(), listed);
}

}  // namespace
}  // namespace ringprobe
