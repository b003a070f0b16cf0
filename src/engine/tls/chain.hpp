// Chain judging: how a presented chain and wolfSSL's first verify error become one Reason of
// the project's table (ringprobe/result.hpp) with a bounded detail a person can act on.
//
// wolfSSL checks the signatures and accepts every chain through the client's verify callback;
// the judge then names the precise problem (docs/tls.md, "How a chain is judged") in this order:
// leaf missing, leaf not topmost, validity (leaf, intermediate, root), chain to a trust anchor
// (intermediate missing, not a well-known CA, trusted root mismatch in both forms), every
// pathLenConstraint (the root's too), any other verifier error, then the name.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "engine/tls/bounded_text.hpp"
#include "engine/tls/trust.hpp"
#include "engine/tls/x509.hpp"
#include "ringprobe/result.hpp"

namespace ringprobe::tls {

// What the judge checks besides the chain itself.
struct ChainCheck {
    bool validate_chain = true;  // validateCertChainAndExpiry
    bool validate_name = true;   // validateSNI
    std::int64_t now_s = 0;      // wall clock for validity
    std::string_view name;       // the name the leaf must carry; empty: none is checked
};

// Reason::Ok when the chain passes as checked; otherwise the reason, its detail written to `d`.
// Fills facts.earliest_not_after_s and facts.anchor; reads facts.verify_error.
Reason judge_presented(std::span<const ParsedCert> certs, const TrustConfig& trust,
                       const ChainCheck& check, CertFacts& facts, BoundedText& d);

}  // namespace ringprobe::tls
