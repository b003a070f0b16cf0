// Certificate facts read off X.509 certificates (x509.hpp).
#include "engine/tls/x509.hpp"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/hash.h>
// clang-format on

#include "common/text.hpp"
#include "engine/tls/bounded_text.hpp"

namespace ringprobe::tls {

namespace {

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

}  // namespace

bool parse_x509(WOLFSSL_X509* x, ParsedCert& p) {
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
    BoundedText sans(c.sans, sizeof c.sans);
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

bool parse_der(const unsigned char* der, int len, ParsedCert& p) {
    WOLFSSL_X509* x = wolfSSL_X509_d2i(nullptr, der, len);
    bool ok = parse_x509(x, p);
    wolfSSL_X509_free(x);
    return ok;
}

// Short label for details: "CN=x" when there is a CN, else the DN.
std::string label(const ParsedCert& p) {
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

std::int64_t CertFacts::days_until_expiry(std::int64_t now_s) const {
    std::int64_t left = earliest_not_after_s - now_s;
    return left >= 0 ? left / 86400 : -((-left + 86399) / 86400);
}

bool name_matches(std::string_view pattern, std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
        auto dot = name.find('.');
        if (dot == std::string_view::npos || dot == 0) {
            return false;
        }
        return iequals(pattern.substr(1), name.substr(dot));
    }
    return iequals(pattern, name);
}

}  // namespace ringprobe::tls
