// What is read off a certificate: fixed-size facts a worker keeps per target without
// allocating, and the fuller parse the chain judge works from.
//
// Times are parsed here rather than through wolfSSL_ASN1_TIME_to_tm, which goes through mktime
// and the process's time zone state that several workers would share.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// wolfSSL's opaque type, so that users of this header need no wolfSSL include.
struct WOLFSSL_X509;

namespace ringprobe::tls {

inline constexpr std::size_t chain_facts_max = 4;  // certificates described (more are counted)
inline constexpr std::size_t detail_bytes = 240;   // fits the report's 256-byte detail area

enum class CertRole : std::uint8_t { Leaf, Intermediate, Root };

struct CertInfo {
    char subject[96] = {};  // one-line DN, truncated
    char issuer[96] = {};   // one-line DN, truncated
    char common_name[64] = {};
    char sans[128] = {};            // DNS then IP SANs, comma separated, truncated
    std::int64_t not_before_s = 0;  // Unix seconds (UTC)
    std::int64_t not_after_s = 0;
    std::array<std::uint8_t, 32> sha256{};  // of the DER
    bool is_ca = false;
    bool self_issued = false;  // subject == issuer
};

struct CertFacts {
    std::array<CertInfo, chain_facts_max> chain{};  // as presented, in order
    std::uint8_t presented = 0;  // certificates the server sent (may exceed chain_facts_max)
    char anchor[96] = {};        // subject of the trust anchor the chain ended in, if any
    char protocol[16] = {};      // "TLSv1.3"
    char cipher[64] = {};        // "TLS_AES_128_GCM_SHA256"
    bool resumed = false;        // no certificate on the wire: chain[] is from the last full one
    std::int64_t earliest_not_after_s = 0;  // over the presented chain and the anchor; 0: none
    std::int32_t verify_error = 0;          // first wolfSSL verify error (0: none)

    // Whole days until the earliest notAfter (negative once past). For the early warning: a
    // Healthy target below its threshold (14 days by default) carries a warning.
    std::int64_t days_until_expiry(std::int64_t now_s) const;
};

// An iPAddress SAN or an IP literal in binary: 4 bytes (IPv4) or 16 (IPv6).
struct IpAddress {
    std::uint8_t len = 0;
    std::array<std::uint8_t, 16> bytes{};
    bool operator==(const IpAddress&) const = default;
};

// `text` as an IP literal (IPv6 with or without brackets); false when it is none.
bool parse_ip_literal(std::string_view text, IpAddress& out);

// Everything the chain judge needs about one certificate, parsed once from its DER. Unlike
// CertInfo its names are whole, so that issuer links and name checks never see a truncation.
struct ParsedCert {
    std::string subject;  // one-line DN
    std::string issuer;   // one-line DN
    std::string common_name;
    std::vector<std::string> sans;   // dNSName SANs only
    std::vector<IpAddress> ip_sans;  // iPAddress SANs
    std::vector<unsigned char> der;  // for a path wolfSSL would not build (chain.cpp)
    bool key_usage_present = false;  // a keyUsage extension, whatever it allows
    bool key_cert_sign = false;      // keyUsage allows keyCertSign (or there is none)
    std::int32_t path_len = -1;      // basicConstraints pathLenConstraint; -1: none
    CertInfo info;
};

// False when `x` is null; a certificate with more than 64 SANs is read up to the 64th.
bool parse_x509(WOLFSSL_X509* x, ParsedCert& p);
bool parse_der(const unsigned char* der, int len, ParsedCert& p);

// Short label for details: "CN=x" when there is a CN, else the DN.
std::string label(const ParsedCert& p);
// The "CN=x" part of a one-line DN, or the whole DN when it has no CN.
std::string label_dn(std::string_view dn);

// RFC 6125 style: case-insensitive, a '*' only as the whole leftmost label of the pattern,
// matching exactly one label.
bool name_matches(std::string_view pattern, std::string_view name);

// Whether the leaf carries `name`: an IP literal against the iPAddress SANs only (RFC 6125
// 6.2.1, as OpenSSL's -verify_ip), a DNS name against the dNSName SANs, or the CN when there
// is no dNSName SAN (as OpenSSL's -verify_hostname).
bool leaf_carries(const ParsedCert& leaf, std::string_view name);

}  // namespace ringprobe::tls
