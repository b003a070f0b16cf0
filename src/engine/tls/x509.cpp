// Certificate facts read off X.509 certificates (x509.hpp).
#include "engine/tls/x509.hpp"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/openssl/x509v3.h>
// clang-format on

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

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

// Bounded: a certificate with more SANs is read up to here.
constexpr int sans_max = 64;

// One DER element: its tag and its contents, taken off the front of `in`. Single-byte tags
// and definite lengths of up to four bytes only (all a certificate uses); anything else, or a
// length past the end, is refused.
struct Der {
    const unsigned char* p = nullptr;
    std::size_t n = 0;
};

bool take_element(Der& in, unsigned char& tag, Der& value) {
    if (in.n < 2 || (in.p[0] & 0x1F) == 0x1F) {
        return false;
    }
    tag = in.p[0];
    std::size_t len = in.p[1];
    std::size_t head = 2;
    if ((len & 0x80) != 0) {
        const std::size_t bytes = len & 0x7F;
        if (bytes == 0 || bytes > 4 || in.n < 2 + bytes) {
            return false;
        }
        len = 0;
        for (std::size_t i = 0; i < bytes; ++i) {
            len = (len << 8) | in.p[2 + i];
        }
        head += bytes;
    }
    if (len > in.n - head) {
        return false;
    }
    value = Der{in.p + head, len};
    in.p += head + len;
    in.n -= head + len;
    return true;
}

// The subjectAltName extension's value (GeneralNames), found by walking the certificate's DER:
// Certificate -> tbsCertificate -> [3] extensions -> Extension{2.5.29.17}. Read from the DER
// rather than through wolfSSL_X509_get_ext_d2i, which in wolfSSL 5.5.4 leaks the copy of a
// directoryName entry (a CA certificate in Debian's store has one).
bool find_san_value(Der cert, Der& names) {
    static constexpr unsigned char san_oid[] = {0x55, 0x1D, 0x11};
    unsigned char tag = 0;
    Der body;
    Der tbs;
    if (!take_element(cert, tag, body) || tag != 0x30 || !take_element(body, tag, tbs) ||
        tag != 0x30) {
        return false;
    }
    Der field;
    while (take_element(tbs, tag, field)) {
        if (tag != 0xA3) {
            continue;
        }
        Der exts;
        if (!take_element(field, tag, exts) || tag != 0x30) {
            return false;
        }
        Der ext;
        while (take_element(exts, tag, ext)) {
            Der oid;
            if (tag != 0x30 || !take_element(ext, tag, oid) || tag != 0x06) {
                return false;
            }
            if (oid.n != sizeof san_oid || std::memcmp(oid.p, san_oid, sizeof san_oid) != 0) {
                continue;
            }
            Der value;
            if (!take_element(ext, tag, value)) {
                return false;
            }
            if (tag == 0x01 && !take_element(ext, tag, value)) {  // critical
                return false;
            }
            Der octets = value;
            return tag == 0x04 && take_element(octets, tag, names) && tag == 0x30;
        }
        return false;
    }
    return false;
}

// The SAN extension's dNSName ([2] IA5String) and iPAddress ([7] OCTET STRING) entries, in
// certificate order, from its first sans_max entries of any kind.
void read_sans(const unsigned char* der, std::size_t len, ParsedCert& p) {
    p.sans.clear();
    p.ip_sans.clear();
    Der names;
    if (der == nullptr || !find_san_value(Der{der, len}, names)) {
        return;
    }
    unsigned char tag = 0;
    Der value;
    for (int i = 0; i < sans_max && take_element(names, tag, value); ++i) {
        if (tag == 0x82 && value.n > 0) {
            p.sans.emplace_back(reinterpret_cast<const char*>(value.p), value.n);
        } else if (tag == 0x87 && (value.n == 4 || value.n == 16)) {
            IpAddress ip;
            ip.len = static_cast<std::uint8_t>(value.n);
            std::memcpy(ip.bytes.data(), value.p, value.n);
            p.ip_sans.push_back(ip);
        }
    }
}

// The SANs as a person reads them: DNS names, then IP addresses in their usual text.
void describe_sans(const ParsedCert& p, CertInfo& c) {
    BoundedText sans(c.sans, sizeof c.sans);
    bool first = true;
    for (const auto& name : p.sans) {
        sans.add(first ? "" : ",").add(name);
        first = false;
    }
    for (const auto& ip : p.ip_sans) {
        char text[INET6_ADDRSTRLEN] = {};
        ::inet_ntop(ip.len == 4 ? AF_INET : AF_INET6, ip.bytes.data(), text, sizeof text);
        sans.add(first ? "" : ",").add(text);
        first = false;
    }
}

// keyUsage and basicConstraints' pathLen, which a path wolfSSL would not build is checked
// against (chain.cpp). OpenSSL's KU_KEY_CERT_SIGN bit, as wolfSSL_X509_get_key_usage gives it.
void read_constraints(WOLFSSL_X509* x, ParsedCert& p) {
    constexpr unsigned key_cert_sign_bit = 0x0004;
    p.key_usage_present = wolfSSL_X509_get_ext_by_NID(x, NID_key_usage, -1) >= 0;
    p.key_cert_sign = !p.key_usage_present || (wolfSSL_X509_get_key_usage(x) & key_cert_sign_bit);
    p.path_len = wolfSSL_X509_get_isSet_pathLength(x) != 0
                     ? static_cast<std::int32_t>(wolfSSL_X509_get_pathLength(x))
                     : -1;
}

}  // namespace

bool parse_ip_literal(std::string_view text, IpAddress& out) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
    }
    char buf[64];
    if (text.empty() || text.size() >= sizeof buf) {
        return false;
    }
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    out = IpAddress{};
    if (::inet_pton(AF_INET, buf, out.bytes.data()) == 1) {
        out.len = 4;
        return true;
    }
    if (::inet_pton(AF_INET6, buf, out.bytes.data()) == 1) {
        out.len = 16;
        return true;
    }
    return false;
}

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
    int der_len = 0;
    const unsigned char* der = wolfSSL_X509_get_der(x, &der_len);
    p.der.clear();
    if (der != nullptr && der_len > 0) {
        p.der.assign(der, der + der_len);
    }
    read_sans(p.der.data(), p.der.size(), p);
    read_constraints(x, p);
    CertInfo& c = p.info;
    c = CertInfo{};
    copy_bounded(c.subject, p.subject);
    copy_bounded(c.issuer, p.issuer);
    copy_bounded(c.common_name, p.common_name);
    describe_sans(p, c);
    c.not_before_s = asn1_to_unix(wolfSSL_X509_get_notBefore(x));
    c.not_after_s = asn1_to_unix(wolfSSL_X509_get_notAfter(x));
    c.is_ca = wolfSSL_X509_get_isCA(x) != 0;
    c.self_issued = !p.subject.empty() && p.subject == p.issuer;
    if (!p.der.empty()) {
        wc_Sha256Hash(p.der.data(), static_cast<word32>(p.der.size()), c.sha256.data());
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

bool leaf_carries(const ParsedCert& leaf, std::string_view name) {
    IpAddress ip;
    if (parse_ip_literal(name, ip)) {
        for (const auto& san : leaf.ip_sans) {
            if (san == ip) {
                return true;
            }
        }
        return false;
    }
    if (leaf.sans.empty()) {
        return name_matches(leaf.common_name, name);
    }
    for (const auto& san : leaf.sans) {
        if (name_matches(san, name)) {
            return true;
        }
    }
    return false;
}

}  // namespace ringprobe::tls
