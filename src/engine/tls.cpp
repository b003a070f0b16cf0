// TLS client over memory buffers, trust contexts and certificate diagnostics (tls.hpp).
#include "engine/tls.hpp"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/error-ssl.h>
// clang-format on

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace ringprobe::tls {

namespace {

// Presented chains longer than this are described up to here (a real chain has 2 to 4).
constexpr std::size_t presented_max = 10;

void init_wolfssl_once() {
    static std::once_flag once;
    std::call_once(once, [] { wolfSSL_Init(); });
}

// A bounded text builder over a fixed array: appends are truncated, never overflow.
class Text {
public:
    Text(char* buf, std::size_t cap) : buf_(buf), cap_(cap) { buf_[0] = '\0'; }
    Text& add(std::string_view s) {
        std::size_t n = std::min(s.size(), cap_ - 1 - len_);
        std::memcpy(buf_ + len_, s.data(), n);
        len_ += n;
        buf_[len_] = '\0';
        return *this;
    }
    Text& num(std::int64_t v) {
        char tmp[24];
        auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, v);
        RP_ASSERT(ec == std::errc{});
        return add(std::string_view(tmp, static_cast<std::size_t>(end - tmp)));
    }
    Text& time(std::int64_t unix_s) {
        char tmp[21];
        format_utc(unix_s, tmp);
        return add(tmp);
    }
    std::size_t size() const { return len_; }

private:
    char* buf_;
    std::size_t cap_;
    std::size_t len_ = 0;
};

template <std::size_t N>
void copy_bounded(char (&dst)[N], std::string_view s) {
    Text(dst, N).add(s);
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);

// The certificate's UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) as Unix
// seconds, parsed here rather than through wolfSSL_ASN1_TIME_to_tm: that one goes through
// mktime and the process's time zone state, which several workers would share.
std::int64_t asn1_to_unix(const WOLFSSL_ASN1_TIME* t) {
    if (t == nullptr || t->length < 13 || t->length > static_cast<int>(sizeof t->data)) {
        return 0;
    }
    const unsigned char* p = t->data;
    const int year_digits = t->length >= 15 ? 4 : 2;
    if (p[t->length - 1] != 'Z') {
        return 0;
    }
    for (int i = 0; i < year_digits + 10; ++i) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
    }
    auto num = [p](int at, int digits) {
        std::int64_t v = 0;
        for (int i = 0; i < digits; ++i) {
            v = v * 10 + (p[at + i] - '0');
        }
        return v;
    };
    std::int64_t year = num(0, year_digits);
    if (year_digits == 2) {
        year += year >= 50 ? 1900 : 2000;  // RFC 5280 4.1.2.5.1
    }
    const int o = year_digits;
    const std::int64_t month = num(o, 2), day = num(o + 2, 2);
    if (month < 1 || month > 12 || day < 1 || day > 31) {
        return 0;
    }
    return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
           num(o + 4, 2) * 3600 + num(o + 6, 2) * 60 + num(o + 8, 2);
}

std::string name_text(WOLFSSL_X509_NAME* name) {
    if (name == nullptr) {
        return {};
    }
    char buf[512];
    if (wolfSSL_X509_NAME_oneline(name, buf, sizeof buf) == nullptr) {
        return {};
    }
    return buf;
}

// Everything classify() needs about one certificate, parsed once from its DER.
struct Parsed {
    std::string subject;
    std::string issuer;
    std::string common_name;
    std::vector<std::string> sans;
    CertInfo info;
};

bool parse_x509(WOLFSSL_X509* x, Parsed& p) {
    if (x == nullptr) {
        return false;
    }
    p.subject = name_text(wolfSSL_X509_get_subject_name(x));
    p.issuer = name_text(wolfSSL_X509_get_issuer_name(x));
    char cn[256] = {};
    if (wolfSSL_X509_NAME_get_text_by_NID(wolfSSL_X509_get_subject_name(x), NID_commonName, cn,
                                          sizeof cn) > 0) {
        p.common_name = cn;
    }
    p.sans.clear();
    for (int i = 0; i < 64; ++i) {  // bounded: a certificate with more SANs is cut here
        char* san = wolfSSL_X509_get_next_altname(x);
        if (san == nullptr) {
            break;
        }
        p.sans.emplace_back(san);
    }
    CertInfo& c = p.info;
    c = CertInfo{};
    copy_bounded(c.subject, p.subject);
    copy_bounded(c.issuer, p.issuer);
    copy_bounded(c.common_name, p.common_name);
    Text sans(c.sans, sizeof c.sans);
    for (std::size_t i = 0; i < p.sans.size(); ++i) {
        sans.add(i == 0 ? "" : ",").add(p.sans[i]);
    }
    c.not_before_s = asn1_to_unix(wolfSSL_X509_get_notBefore(x));
    c.not_after_s = asn1_to_unix(wolfSSL_X509_get_notAfter(x));
    c.is_ca = wolfSSL_X509_get_isCA(x) != 0;
    c.self_issued = !p.subject.empty() && p.subject == p.issuer;
    int der_len = 0;
    const unsigned char* der = wolfSSL_X509_get_der(x, &der_len);
    if (der != nullptr && der_len > 0) {
        wc_Sha256Hash(der, static_cast<word32>(der_len), c.sha256.data());
    }
    return true;
}

bool parse_der(const unsigned char* der, int len, Parsed& p) {
    WOLFSSL_X509* x = wolfSSL_X509_d2i(nullptr, der, len);
    bool ok = parse_x509(x, p);
    wolfSSL_X509_free(x);
    return ok;
}

Anchor to_anchor(const Parsed& p) {
    return Anchor{p.subject, p.info.sha256, p.info.not_before_s, p.info.not_after_s};
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
        Parsed p;
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
    Parsed p;
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

std::string_view role_name(CertRole r) {
    switch (r) {
        case CertRole::Leaf: return "leaf";
        case CertRole::Intermediate: return "intermediate";
        case CertRole::Root: return "root";
    }
    return "certificate";
}

// Short label for details: "CN=x" when there is a CN, else the DN.
std::string label(const Parsed& p) {
    return p.common_name.empty() ? p.subject : "CN=" + p.common_name;
}

std::string label_dn(std::string_view dn) {
    auto at = dn.find("/CN=");
    if (at == std::string_view::npos) {
        return std::string(dn);
    }
    auto stop = dn.find('/', at + 4);
    return std::string(dn.substr(at + 1, stop == std::string_view::npos ? stop : stop - at - 1));
}

CertRole role_of(const std::vector<Parsed>& certs, std::size_t i) {
    if (i == 0) {
        return CertRole::Leaf;
    }
    return certs[i].info.self_issued ? CertRole::Root : CertRole::Intermediate;
}

const Anchor* find_anchor_by_subject(const TrustConfig& trust, std::string_view subject) {
    for (const auto& a : trust.anchors) {
        if (a.subject == subject) {
            return &a;
        }
    }
    return nullptr;
}

const Anchor* find_anchor_by_print(const TrustConfig& trust, const CertInfo& c) {
    for (const auto& a : trust.anchors) {
        if (a.sha256 == c.sha256) {
            return &a;
        }
    }
    return nullptr;
}

// Validity of every presented certificate, then the walk from the leaf to a trust anchor by
// issuer names (wolfSSL checks the signatures; this says which link is missing). Returns Ok when
// the chain reaches an anchor that is itself within its validity.
Reason judge_chain(const std::vector<Parsed>& certs, const TrustConfig& trust, std::int64_t now,
                   CertFacts& facts, Text& d) {
    for (std::size_t i = 0; i < certs.size(); ++i) {
        const CertInfo& c = certs[i].info;
        if (now < c.not_before_s) {
            d.add(role_name(role_of(certs, i))).add(" ").add(label(certs[i]));
            d.add(" not valid before ").time(c.not_before_s);
            return Reason::TlsNotYetValid;
        }
        if (now > c.not_after_s) {
            d.add(role_name(role_of(certs, i))).add(" ").add(label(certs[i]));
            d.add(" expired ").time(c.not_after_s);
            return Reason::TlsExpired;
        }
    }
    std::vector<bool> used(certs.size(), false);
    std::size_t cur = 0;
    used[0] = true;
    const Anchor* anchor = nullptr;
    for (std::size_t step = 0; step <= certs.size(); ++step) {  // bounded: each step uses one
        const Parsed& c = certs[cur];
        if (c.info.self_issued) {
            anchor = find_anchor_by_print(trust, c.info);
            if (anchor != nullptr) {
                break;
            }
            d.add(cur == 0 ? "self-signed leaf " : "root ").add(label(c));
            if (trust.system_store) {
                d.add(" sent by the server is not a well-known CA");
                return Reason::TlsUntrustedRoot;
            }
            d.add(" sent by the server is not among the trusted roots");
            return Reason::TlsRootMismatch;
        }
        std::size_t next = certs.size();
        for (std::size_t j = 0; j < certs.size(); ++j) {
            if (!used[j] && certs[j].subject == c.issuer) {
                next = j;
                break;
            }
        }
        if (next != certs.size()) {
            used[next] = true;
            cur = next;
            continue;
        }
        anchor = find_anchor_by_subject(trust, c.issuer);
        if (anchor != nullptr) {
            break;
        }
        if (cur == 0) {
            d.add("intermediate missing: leaf ").add(label(c)).add(" was sent without its issuer ");
            d.add(label_dn(c.issuer));
            return Reason::TlsIntermediateMissing;
        }
        d.add("intermediate ").add(label(c)).add(" is issued by ").add(label_dn(c.issuer));
        if (trust.system_store) {
            d.add(", not a well-known CA");
            return Reason::TlsUntrustedRoot;
        }
        d.add(": no root sent and no trusted root signed it");
        return Reason::TlsRootMismatchNoRoot;
    }
    if (anchor == nullptr) {  // a loop of issuers: say so rather than guess
        d.add("the chain's issuers form a loop");
        return Reason::TlsVerifyOther;
    }
    copy_bounded(facts.anchor, anchor->subject);
    if (anchor->not_after_s < facts.earliest_not_after_s || facts.earliest_not_after_s == 0) {
        facts.earliest_not_after_s = anchor->not_after_s;
    }
    if (now > anchor->not_after_s) {
        d.add("root ").add(label_dn(anchor->subject)).add(" expired ").time(anchor->not_after_s);
        return Reason::TlsExpired;
    }
    if (now < anchor->not_before_s) {
        d.add("root ").add(label_dn(anchor->subject)).add(" not valid before ");
        d.time(anchor->not_before_s);
        return Reason::TlsNotYetValid;
    }
    return Reason::Ok;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void format_utc(std::int64_t unix_s, char (&out)[21]) {
    std::time_t t = static_cast<std::time_t>(unix_s);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

std::int64_t CertFacts::days_until_expiry(std::int64_t now_s) const {
    std::int64_t left = earliest_not_after_s - now_s;
    return left >= 0 ? left / 86400 : -((-left + 86399) / 86400);
}

bool is_ip_literal(std::string_view s) {
    if (s.empty() || s.size() > 63) {
        return false;
    }
    char buf[64];
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    unsigned char addr[16];
    return ::inet_pton(AF_INET, buf, addr) == 1 || ::inet_pton(AF_INET6, buf, addr) == 1;
}

bool name_matches(std::string_view pattern, std::string_view name) {
    auto lower_eq = [](std::string_view a, std::string_view b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (std::size_t i = 0; i < a.size(); ++i) {
            char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
            char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
            if (x != y) {
                return false;
            }
        }
        return true;
    };
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
        auto dot = name.find('.');
        if (dot == std::string_view::npos || dot == 0) {
            return false;
        }
        return lower_eq(pattern.substr(1), name.substr(dot));
    }
    return lower_eq(pattern, name);
}

// ---------------------------------------------------------------------------------------------
// TlsContexts

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

// ---------------------------------------------------------------------------------------------
// TlsSession

TlsSession::~TlsSession() {
    clear();
}

void TlsSession::clear() {
    if (session_ != nullptr) {
        wolfSSL_SESSION_free(session_);
        session_ = nullptr;
    }
}

// ---------------------------------------------------------------------------------------------
// TlsClient

struct TlsClient::Presented {
    std::vector<Parsed> certs;
};

TlsClient::TlsClient()
    : in_(std::make_unique<char[]>(in_capacity)),
      out_(std::make_unique<char[]>(out_capacity)),
      presented_(std::make_unique<Presented>()) {
    presented_->certs.reserve(presented_max);
}

TlsClient::~TlsClient() {
    finish();
}

bool TlsClient::start(const TrustConfig& trust, std::string_view sni, std::string_view host,
                      TlsSession* session, ClientOptions options) {
    RP_ASSERT(ssl_ == nullptr);
    RP_ASSERT(trust.ctx != nullptr);
    trust_ = &trust;
    session_ = session;
    options_ = options;
    if (options_.now_s == 0) {
        options_.now_s = static_cast<std::int64_t>(std::time(nullptr));
    }
    state_ = State::Handshaking;
    reason_ = Reason::Pending;
    sni_sent_ = false;
    chain_captured_ = false;
    eof_ = false;
    ticket_seen_ = false;
    in_begin_ = in_end_ = 0;
    out_begin_ = out_end_ = 0;
    detail_len_ = 0;
    detail_[0] = '\0';
    facts_ = CertFacts{};
    presented_->certs.clear();
    bool send_sni = !sni.empty() && !is_ip_literal(sni);
    std::string_view name = send_sni ? sni : host;
    name_len_ = std::min(name.size(), sizeof name_ - 1);
    std::memcpy(name_, name.data(), name_len_);
    name_[name_len_] = '\0';

    ssl_ = wolfSSL_new(trust.ctx);
    if (ssl_ == nullptr) {
        fail(Reason::TlsHandshakeFailed);
        Text(detail_, sizeof detail_).add("prober: wolfSSL_new failed (out of memory)");
        detail_len_ = std::strlen(detail_);
        return false;
    }
    wolfSSL_SetIOReadCtx(ssl_, this);
    wolfSSL_SetIOWriteCtx(ssl_, this);
    wolfSSL_SSLSetIORecv(ssl_, &TlsClient::on_recv);
    wolfSSL_SSLSetIOSend(ssl_, &TlsClient::on_send);
    wolfSSL_set_verify(ssl_, WOLFSSL_VERIFY_PEER, &TlsClient::on_verify);
    wolfSSL_SetCertCbCtx(ssl_, this);
    wolfSSL_set_SessionTicket_cb(ssl_, &TlsClient::on_ticket, this);
    if (send_sni) {
        wolfSSL_UseSNI(ssl_, WOLFSSL_SNI_HOST_NAME, sni.data(), static_cast<word16>(sni.size()));
        sni_sent_ = true;
    }
    if (session_ != nullptr && session_->session_ != nullptr) {
        wolfSSL_set_session(ssl_, session_->session_);
    }
    return true;
}

void TlsClient::finish() {
    if (ssl_ != nullptr) {
        wolfSSL_free(ssl_);
        ssl_ = nullptr;
    }
    if (state_ == State::Handshaking || state_ == State::Established) {
        state_ = State::Closed;
    }
}

int TlsClient::on_recv(WOLFSSL*, char* buf, int sz, void* ctx) {
    auto* self = static_cast<TlsClient*>(ctx);
    std::size_t avail = self->in_end_ - self->in_begin_;
    if (avail == 0) {
        return self->eof_ ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
    }
    std::size_t n = std::min(avail, static_cast<std::size_t>(sz));
    std::memcpy(buf, self->in_.get() + self->in_begin_, n);
    self->in_begin_ += n;
    if (self->in_begin_ == self->in_end_) {
        self->in_begin_ = self->in_end_ = 0;
    }
    return static_cast<int>(n);
}

int TlsClient::on_send(WOLFSSL*, char* buf, int sz, void* ctx) {
    auto* self = static_cast<TlsClient*>(ctx);
    if (self->out_begin_ == self->out_end_) {
        self->out_begin_ = self->out_end_ = 0;
    }
    std::size_t room = out_capacity - self->out_end_;
    if (room == 0) {
        return WOLFSSL_CBIO_ERR_WANT_WRITE;
    }
    std::size_t n = std::min(room, static_cast<std::size_t>(sz));
    std::memcpy(self->out_.get() + self->out_end_, buf, n);
    self->out_end_ += n;
    return static_cast<int>(n);
}

// Called for every certificate (WOLFSSL_ALWAYS_VERIFY_CB). Keeps the presented chain the
// first time and the first error; always accepts, so that classify() can name the problem.
int TlsClient::on_verify(int preverify, WOLFSSL_X509_STORE_CTX* store) {
    auto* self = static_cast<TlsClient*>(store->userCtx);
    if (self == nullptr) {
        return preverify;
    }
    if (!self->chain_captured_) {
        self->capture_chain(store);
    }
    if (preverify == 0 && self->facts_.verify_error == 0) {
        self->facts_.verify_error = store->error != 0 ? store->error : -1;
    }
    return 1;
}

int TlsClient::on_ticket(WOLFSSL*, const unsigned char*, int, void* ctx) {
    static_cast<TlsClient*>(ctx)->ticket_seen_ = true;
    return 0;
}

void TlsClient::capture_chain(WOLFSSL_X509_STORE_CTX* store) {
    chain_captured_ = true;
    int total = store->totalCerts;
    facts_.presented = static_cast<std::uint8_t>(std::min(total, 255));
    for (int i = 0; i < total && static_cast<std::size_t>(i) < presented_max; ++i) {
        Parsed p;
        if (!parse_der(store->certs[i].buffer, static_cast<int>(store->certs[i].length), p)) {
            p.subject = "(unparseable certificate)";
        }
        if (static_cast<std::size_t>(i) < chain_facts_max) {
            facts_.chain[static_cast<std::size_t>(i)] = p.info;
        }
        presented_->certs.push_back(std::move(p));
    }
}

std::span<const char> TlsClient::pending_ciphertext() const {
    return {out_.get() + out_begin_, out_end_ - out_begin_};
}

void TlsClient::consume_sent(std::size_t n) {
    RP_ASSERT(n <= out_end_ - out_begin_);
    out_begin_ += n;
    if (out_begin_ == out_end_) {
        out_begin_ = out_end_ = 0;
    }
}

std::size_t TlsClient::feed_ciphertext(const char* data, std::size_t n) {
    if (in_begin_ > 0 && in_end_ + n > in_capacity) {
        std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
        in_end_ -= in_begin_;
        in_begin_ = 0;
    }
    std::size_t take = std::min(n, in_capacity - in_end_);
    std::memcpy(in_.get() + in_end_, data, take);
    in_end_ += take;
    return take;
}

void TlsClient::feed_eof() {
    eof_ = true;
}

Step TlsClient::fail(Reason r) {
    reason_ = r;
    state_ = State::Failed;
    if (session_ != nullptr) {
        session_->clear();  // a failed target starts over with a full handshake
    }
    return Step{StepKind::Failed, 0};
}

Step TlsClient::handshake() {
    switch (state_) {
        case State::Failed: return Step{StepKind::Failed, 0};
        case State::Established:
        case State::Closed:
            if (out_end_ > out_begin_) {
                return Step{StepKind::NeedSend, 0};
            }
            return Step{StepKind::HandshakeDone, 0};
        case State::Idle: RP_ASSERT(false); break;
        case State::Handshaking: break;
    }
    int rc = wolfSSL_connect(ssl_);
    if (rc == WOLFSSL_SUCCESS) {
        Step s = handshake_finished();
        if (s.kind == StepKind::HandshakeDone && out_end_ > out_begin_) {
            return Step{StepKind::NeedSend, 0};  // the client Finished is still to go out
        }
        return s;
    }
    int err = wolfSSL_get_error(ssl_, rc);
    if (out_end_ > out_begin_) {
        return Step{StepKind::NeedSend, 0};
    }
    if (err == WOLFSSL_ERROR_WANT_READ) {
        if (eof_) {
            return handshake_error(SOCKET_PEER_CLOSED_E);
        }
        return Step{StepKind::NeedReceive, 0};
    }
    if (err == WOLFSSL_ERROR_WANT_WRITE) {
        return Step{StepKind::NeedSend, 0};
    }
    return handshake_error(err);
}

void TlsClient::fill_connection_facts() {
    copy_bounded(facts_.protocol, wolfSSL_get_version(ssl_));
    const char* cipher = wolfSSL_get_cipher_name(ssl_);
    copy_bounded(facts_.cipher, cipher != nullptr ? cipher : "");
}

Step TlsClient::handshake_finished() {
    bool resumed = wolfSSL_session_reused(ssl_) != 0;
    if (resumed && session_ != nullptr) {
        // No certificate was on the wire: the facts are those of the full handshake that made
        // the session (which was verified, or it would not have been kept).
        facts_ = session_->facts_;
        facts_.resumed = true;
    } else if (!classify()) {
        return fail(reason_);
    }
    fill_connection_facts();
    state_ = State::Established;
    save_session();
    return Step{StepKind::HandshakeDone, 0};
}

void TlsClient::save_session() {
    if (session_ == nullptr || ssl_ == nullptr) {
        return;
    }
    if (!facts_.resumed) {
        session_->facts_ = facts_;
    }
    WOLFSSL_SESSION* s = wolfSSL_get1_session(ssl_);
    if (s == nullptr) {
        return;
    }
    if (wolfSSL_SESSION_is_resumable(s) != 1) {
        wolfSSL_SESSION_free(s);
        return;
    }
    session_->clear();
    session_->session_ = s;
}

Step TlsClient::handshake_error(int err) {
    // A certificate problem seen before the handshake died explains it best (a wrong-order
    // chain makes the signature check fail against the first certificate, for instance).
    if (chain_captured_ && !classify()) {
        return fail(reason_);
    }
    Text d(detail_, sizeof detail_);
    WOLFSSL_ALERT_HISTORY h{};
    wolfSSL_get_alert_history(ssl_, &h);
    bool alert_rx = h.last_rx.level == alert_fatal || err == FATAL_ERROR;
    if (err == VERSION_ERROR || (alert_rx && h.last_rx.code == protocol_version)) {
        d.add("protocol version: no TLS 1.2 or 1.3 in common with the server");
        if (alert_rx) {
            d.add(" (alert ").num(h.last_rx.code).add(")");
        }
        detail_len_ = d.size();
        return fail(Reason::TlsProtocolVersion);
    }
    if (alert_rx && h.last_rx.code > 0) {
        const char* name = wolfSSL_alert_desc_string_long(h.last_rx.code);
        d.add("server sent alert ").num(h.last_rx.code).add(" ").add(name != nullptr ? name : "");
        if (sni_sent_) {
            d.add(" (SNI ").add(std::string_view(name_, name_len_)).add(")");
        }
        detail_len_ = d.size();
        return fail(Reason::TlsAlert);
    }
    char text[WOLFSSL_MAX_ERROR_SZ] = {};
    wolfSSL_ERR_error_string_n(static_cast<unsigned long>(err), text, sizeof text);
    d.add("handshake failed: error ").num(err).add(" ").add(text);
    detail_len_ = d.size();
    return fail(Reason::TlsHandshakeFailed);
}

Step TlsClient::write_plaintext(std::span<const char> plain) {
    RP_ASSERT(state_ == State::Established);
    RP_ASSERT(plain.size() <= out_capacity / 2);  // a request fits: it was built at plan time
    int rc = wolfSSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (rc != static_cast<int>(plain.size())) {
        return handshake_error(wolfSSL_get_error(ssl_, rc));
    }
    return Step{StepKind::NeedSend, 0};
}

Step TlsClient::read_plaintext(char* out, std::size_t capacity) {
    if (out_end_ > out_begin_) {
        return Step{StepKind::NeedSend, 0};
    }
    if (state_ == State::Closed) {
        return Step{StepKind::Closed, 0};
    }
    if (state_ == State::Failed) {
        return Step{StepKind::Failed, 0};
    }
    RP_ASSERT(state_ == State::Established);
    int cap = static_cast<int>(std::min<std::size_t>(capacity, INT32_MAX));
    int rc = wolfSSL_read(ssl_, out, cap);
    if (ticket_seen_) {
        ticket_seen_ = false;  // a TLS 1.3 ticket arrives after the handshake: keep it now
        save_session();
    }
    if (rc > 0) {
        return Step{StepKind::PlaintextAvailable, static_cast<std::size_t>(rc)};
    }
    int err = wolfSSL_get_error(ssl_, rc);
    if (out_end_ > out_begin_) {
        return Step{StepKind::NeedSend, 0};
    }
    if (err == WOLFSSL_ERROR_WANT_READ && !eof_) {
        return Step{StepKind::NeedReceive, 0};
    }
    if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_ZERO_RETURN ||
        err == SOCKET_PEER_CLOSED_E) {
        state_ = State::Closed;
        return Step{StepKind::Closed, 0};
    }
    Text d(detail_, sizeof detail_);
    char text[WOLFSSL_MAX_ERROR_SZ] = {};
    wolfSSL_ERR_error_string_n(static_cast<unsigned long>(err), text, sizeof text);
    d.add("TLS record error after the handshake: ").num(err).add(" ").add(text);
    detail_len_ = d.size();
    return fail(Reason::TlsHandshakeFailed);
}

// Names the precise certificate problem (tls.hpp's order). Returns true when the chain passes
// as configured; false with reason_ and detail_ set.
bool TlsClient::classify() {
    const auto& certs = presented_->certs;
    Text d(detail_, sizeof detail_);
    auto done = [&](Reason r) {
        reason_ = r;
        detail_len_ = d.size();
        return false;
    };
    if (certs.empty()) {
        d.add("the server presented no certificate");
        return done(Reason::TlsLeafMissing);
    }
    std::int64_t earliest = 0;
    for (const auto& c : certs) {
        if (earliest == 0 || c.info.not_after_s < earliest) {
            earliest = c.info.not_after_s;
        }
    }
    facts_.earliest_not_after_s = earliest;

    std::size_t leaf = 0;
    if (options_.validate_chain) {
        leaf = certs.size();
        for (std::size_t i = 0; i < certs.size(); ++i) {
            if (!certs[i].info.is_ca) {
                leaf = i;
                break;
            }
        }
        if (leaf == certs.size()) {
            d.add("no leaf: the server sent ").num(static_cast<std::int64_t>(certs.size()));
            d.add(" CA certificate(s), first ").add(label(certs[0]));
            return done(Reason::TlsLeafMissing);
        }
        if (leaf != 0) {
            d.add("leaf ").add(label(certs[leaf])).add(" is certificate ");
            d.num(static_cast<std::int64_t>(leaf + 1)).add(" of ");
            d.num(static_cast<std::int64_t>(certs.size())).add("; first is ");
            d.add(label(certs[0]));
            return done(Reason::TlsLeafNotTopmost);
        }
        Reason r = judge_chain(certs, *trust_, options_.now_s, facts_, d);
        if (r != Reason::Ok) {
            return done(r);
        }
        if (facts_.verify_error != 0) {
            char text[WOLFSSL_MAX_ERROR_SZ] = {};
            wolfSSL_ERR_error_string_n(static_cast<unsigned long>(facts_.verify_error), text,
                                       sizeof text);
            d.add("verify error ").num(facts_.verify_error).add(": ").add(text);
            return done(Reason::TlsVerifyOther);
        }
    }
    if (!options_.validate_name || name_len_ == 0) {
        return true;
    }
    std::string_view want(name_, name_len_);
    const Parsed& l = certs[leaf];
    bool ok = false;
    if (!l.sans.empty()) {
        for (const auto& san : l.sans) {
            ok = ok || name_matches(san, want);
        }
    } else {
        ok = name_matches(l.common_name, want);
    }
    if (ok) {
        return true;
    }
    d.add("leaf ").add(label(l));
    if (!l.sans.empty()) {
        d.add(" (SAN ").add(l.info.sans).add(")");
    }
    d.add(" does not match ").add(want);
    return done(Reason::TlsNameMismatch);
}

void thread_cleanup() {
#if defined(FP_ECC)
    wc_ecc_fp_free();
#endif
}

}  // namespace ringprobe::tls
