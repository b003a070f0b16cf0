// Chain judging (chain.hpp). Each step writes its detail and returns its Reason, Reason::Ok
// when it finds nothing; judge_presented() runs them in the documented order.
#include "engine/tls/chain.hpp"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include <vector>

namespace ringprobe::tls {

namespace {

std::string_view role_name(CertRole r) {
    switch (r) {
        case CertRole::Leaf: return "leaf";
        case CertRole::Intermediate: return "intermediate";
        case CertRole::Root: return "root";
    }
    return "certificate";
}

CertRole role_of(std::span<const ParsedCert> certs, std::size_t i) {
    if (i == 0) {
        return CertRole::Leaf;
    }
    return certs[i].info.self_issued ? CertRole::Root : CertRole::Intermediate;
}

std::int64_t earliest_not_after(std::span<const ParsedCert> certs) {
    std::int64_t earliest = 0;
    for (const auto& c : certs) {
        if (earliest == 0 || c.info.not_after_s < earliest) {
            earliest = c.info.not_after_s;
        }
    }
    return earliest;
}

// The leaf is the first certificate that is not a CA, and it must come first.
Reason judge_leaf_position(std::span<const ParsedCert> certs, BoundedText& d) {
    std::size_t leaf = certs.size();
    for (std::size_t i = 0; i < certs.size(); ++i) {
        if (!certs[i].info.is_ca) {
            leaf = i;
            break;
        }
    }
    if (leaf == certs.size()) {
        d.add("no leaf: the server sent ").num(static_cast<std::int64_t>(certs.size()));
        d.add(" CA certificate(s), first ").add(label(certs[0]));
        return Reason::TlsLeafMissing;
    }
    if (leaf != 0) {
        d.add("leaf ").add(label(certs[leaf])).add(" is certificate ");
        d.num(static_cast<std::int64_t>(leaf + 1)).add(" of ");
        d.num(static_cast<std::int64_t>(certs.size())).add("; first is ");
        d.add(label(certs[0]));
        return Reason::TlsLeafNotTopmost;
    }
    return Reason::Ok;
}

// Validity of every presented certificate, in the order presented.
Reason judge_validity(std::span<const ParsedCert> certs, std::int64_t now, BoundedText& d) {
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
    return Reason::Ok;
}

// A self-issued certificate the server sent that is no trust anchor.
Reason judge_unknown_root(const ParsedCert& c, bool is_leaf, const TrustConfig& trust,
                          BoundedText& d) {
    d.add(is_leaf ? "self-signed leaf " : "root ").add(label(c));
    if (trust.system_store) {
        d.add(" sent by the server is not a well-known CA");
        return Reason::TlsUntrustedRoot;
    }
    d.add(" sent by the server is not among the trusted roots");
    return Reason::TlsRootMismatch;
}

// A certificate whose issuer is neither sent nor a trust anchor.
Reason judge_missing_issuer(const ParsedCert& c, bool is_leaf, const TrustConfig& trust,
                            BoundedText& d) {
    if (is_leaf) {
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

// The walk from the leaf to a trust anchor by issuer names (wolfSSL checks the signatures; this
// says which link is missing). Sets `anchor` when the walk ends in one, and `path` to the
// presented certificates it went through, leaf first.
Reason walk_to_anchor(std::span<const ParsedCert> certs, const TrustConfig& trust,
                      const Anchor*& anchor, std::vector<std::size_t>& path, BoundedText& d) {
    std::vector<bool> used(certs.size(), false);
    std::size_t cur = 0;
    used[0] = true;
    for (std::size_t step = 0; step <= certs.size(); ++step) {  // bounded: each step uses one
        const ParsedCert& c = certs[cur];
        path.push_back(cur);
        if (c.info.self_issued) {
            anchor = trust.find_by_print(c.info);
            return anchor != nullptr ? Reason::Ok : judge_unknown_root(c, cur == 0, trust, d);
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
        anchor = trust.find_by_subject(c.issuer);
        return anchor != nullptr ? Reason::Ok : judge_missing_issuer(c, cur == 0, trust, d);
    }
    d.add("the chain's issuers form a loop");  // say so rather than guess
    return Reason::TlsVerifyOther;
}

// The anchor the chain ended in counts towards the earliest expiry and must itself be valid.
Reason judge_anchor(const Anchor& anchor, std::int64_t now, CertFacts& facts, BoundedText& d) {
    copy_bounded(facts.anchor, anchor.subject);
    if (anchor.not_after_s < facts.earliest_not_after_s || facts.earliest_not_after_s == 0) {
        facts.earliest_not_after_s = anchor.not_after_s;
    }
    if (now > anchor.not_after_s) {
        d.add("root ").add(label_dn(anchor.subject)).add(" expired ").time(anchor.not_after_s);
        return Reason::TlsExpired;
    }
    if (now < anchor.not_before_s) {
        d.add("root ").add(label_dn(anchor.subject)).add(" not valid before ");
        d.time(anchor.not_before_s);
        return Reason::TlsNotYetValid;
    }
    return Reason::Ok;
}

// Whether the path is one RFC 5280 allows and only wolfSSL's rule on keyUsage refused.
//
// wolfSSL 5.5.4 takes a presented CA certificate as a signer only when its keyUsage allows
// keyCertSign, also when it has no keyUsage extension at all, which RFC 5280 (4.2.1.3) reads as
// no restriction and OpenSSL accepts. The leaf below such an intermediate then fails with
// "unable to get local issuer certificate" (20). The same path is checked again here through a
// certificate manager that holds only the anchor the walk ended in: each certificate, top
// down, must verify against the one above it (wolfSSL's signature, validity and extension
// checks), and each intermediate is then added as a signer. A certificate loaded that way
// skips wolfSSL's CA checks, so the RFC 5280 rules are applied here first: CA:TRUE and
// keyCertSign when there is a keyUsage (judge_path_length() has checked every pathLen).
bool path_needs_key_usage_leniency(std::span<const ParsedCert> certs,
                                   std::span<const std::size_t> path, std::int32_t verify_error) {
    if (verify_error != X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) {
        return false;
    }
    bool without_key_usage = false;
    for (std::size_t k = 1; k < path.size(); ++k) {
        without_key_usage = without_key_usage || !certs[path[k]].key_usage_present;
    }
    return without_key_usage;
}

bool path_cas_may_sign(std::span<const ParsedCert> certs, std::span<const std::size_t> path) {
    for (std::size_t k = 1; k < path.size(); ++k) {
        const ParsedCert& c = certs[path[k]];
        if (!c.info.self_issued && (!c.info.is_ca || !c.key_cert_sign)) {
            return false;
        }
    }
    return true;
}

bool path_verifies_top_down(std::span<const ParsedCert> certs, std::span<const std::size_t> path,
                            const Anchor& anchor) {
    WOLFSSL_CERT_MANAGER* cm = wolfSSL_CertManagerNew();
    if (cm == nullptr) {
        return false;
    }
    bool ok =
        wolfSSL_CertManagerLoadCABuffer(cm, anchor.der.data(), static_cast<long>(anchor.der.size()),
                                        WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS;
    for (std::size_t k = path.size(); ok && k-- > 0;) {
        const ParsedCert& c = certs[path[k]];
        if (c.info.self_issued && k > 0) {
            continue;  // the anchor itself, sent by the server
        }
        const auto len = static_cast<long>(c.der.size());
        ok = !c.der.empty() && wolfSSL_CertManagerVerifyBuffer(
                                   cm, c.der.data(), len, WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS;
        if (ok && k > 0) {
            ok = wolfSSL_CertManagerLoadCABuffer(cm, c.der.data(), len, WOLFSSL_FILETYPE_ASN1) ==
                 WOLFSSL_SUCCESS;
        }
    }
    wolfSSL_CertManagerFree(cm);
    return ok;
}

// Every pathLenConstraint on the path, the anchor's included: wolfSSL checks those of the
// intermediates but not the anchor's (RFC 5280 leaves a trust anchor's constraints to the
// implementation); OpenSSL, Go and browsers refuse a chain longer than its root allows.
void describe_path_length(std::string_view what, std::string_view who, std::int32_t allowed,
                          std::int32_t below, BoundedText& d) {
    d.add(what).add(" ").add(who).add(" allows ").num(allowed);
    d.add(" intermediate(s) below it (pathLenConstraint); the chain has ").num(below);
}

Reason judge_path_length(std::span<const ParsedCert> certs, std::span<const std::size_t> path,
                         const Anchor& anchor, BoundedText& d) {
    std::int32_t below = 0;  // intermediates (not self-issued) under the certificate checked
    for (std::size_t k = 1; k < path.size(); ++k) {
        const ParsedCert& c = certs[path[k]];
        if (c.info.self_issued) {
            continue;  // a root sent with the chain: the anchor stands for it
        }
        if (c.path_len >= 0 && below > c.path_len) {
            describe_path_length("intermediate", label(c), c.path_len, below, d);
            return Reason::TlsVerifyOther;
        }
        ++below;
    }
    if (anchor.path_len >= 0 && below > anchor.path_len) {
        describe_path_length("root", label_dn(anchor.subject), anchor.path_len, below, d);
        return Reason::TlsVerifyOther;
    }
    return Reason::Ok;
}

// Whatever wolfSSL found that the steps above did not name (a bad signature, for instance).
Reason judge_verify_error(std::int32_t verify_error, BoundedText& d) {
    if (verify_error == 0) {
        return Reason::Ok;
    }
    char text[WOLFSSL_MAX_ERROR_SZ] = {};
    wolfSSL_ERR_error_string_n(static_cast<unsigned long>(verify_error), text, sizeof text);
    d.add("verify error ").num(verify_error).add(": ").add(text);
    return Reason::TlsVerifyOther;
}

// The leaf must carry the name (leaf_carries: IP SANs for an IP, else DNS SANs or the CN).
Reason judge_name(const ParsedCert& leaf, std::string_view want, BoundedText& d) {
    if (leaf_carries(leaf, want)) {
        return Reason::Ok;
    }
    d.add("leaf ").add(label(leaf));
    if (leaf.info.sans[0] != '\0') {
        d.add(" (SAN ").add(leaf.info.sans).add(")");
    }
    d.add(" does not match ").add(want);
    return Reason::TlsNameMismatch;
}

// The chain steps, for validateCertChainAndExpiry.
Reason judge_chain(std::span<const ParsedCert> certs, const TrustConfig& trust, std::int64_t now,
                   CertFacts& facts, BoundedText& d) {
    if (Reason r = judge_leaf_position(certs, d); r != Reason::Ok) {
        return r;
    }
    if (Reason r = judge_validity(certs, now, d); r != Reason::Ok) {
        return r;
    }
    const Anchor* anchor = nullptr;
    std::vector<std::size_t> path;
    path.reserve(certs.size() + 1);
    if (Reason r = walk_to_anchor(certs, trust, anchor, path, d); r != Reason::Ok) {
        return r;
    }
    if (Reason r = judge_anchor(*anchor, now, facts, d); r != Reason::Ok) {
        return r;
    }
    if (Reason r = judge_path_length(certs, path, *anchor, d); r != Reason::Ok) {
        return r;
    }
    if (path_needs_key_usage_leniency(certs, path, facts.verify_error) &&
        path_cas_may_sign(certs, path) && path_verifies_top_down(certs, path, *anchor)) {
        facts.verify_error = 0;  // the path stands: wolfSSL's refusal is not the verdict
        return Reason::Ok;
    }
    return judge_verify_error(facts.verify_error, d);
}

}  // namespace

Reason judge_presented(std::span<const ParsedCert> certs, const TrustConfig& trust,
                       const ChainCheck& check, CertFacts& facts, BoundedText& d) {
    if (certs.empty()) {
        d.add("the server presented no certificate");
        return Reason::TlsLeafMissing;
    }
    facts.earliest_not_after_s = earliest_not_after(certs);
    if (check.validate_chain) {
        if (Reason r = judge_chain(certs, trust, check.now_s, facts, d); r != Reason::Ok) {
            return r;
        }
    }
    if (!check.validate_name || check.name.empty()) {
        return Reason::Ok;
    }
    // The leaf is first: judge_leaf_position() holds it there when the chain is validated, and
    // without validation the first certificate is the one taken for the leaf.
    return judge_name(certs[0], check.name, d);
}

}  // namespace ringprobe::tls
