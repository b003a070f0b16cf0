// The troubleshoot view's TLS and DNS sections (/troubleshoot?row=N, page.hpp).
//
// TLS: the certificate chain the target's last full handshake presented (the report's TlsFacts
// record), drawn from ringprobe's trust anchor to the leaf the backend sent, with the part the
// probe's Reason blames marked. Which part that is, by Reason (docs/tls.md has the checks):
//
//   TlsExpired, TlsNotYetValid     the first certificate outside its validity at the handshake,
//                                  else the trust anchor
//   TlsNameMismatch                the leaf
//   TlsLeafNotTopmost              the leaf, sent after a CA certificate
//   TlsLeafMissing                 the gap where the leaf should be
//   TlsIntermediateMissing         the gap between the topmost certificate sent and the anchor
//   TlsUntrustedRoot, TlsRootMismatch   the top: the self-signed certificate sent, or the anchor
//                                  when none was sent
//   TlsRootMismatchNoRoot          the anchor (no trusted root signed the topmost certificate)
//   TlsVerifyOther                 the whole chain (wolfSSL's error names no certificate)
//   TlsAlert, TlsProtocolVersion, TlsHandshakeTimeout, TlsHandshakeFailed
//                                  the handshake, no certificate (the chain shown is older)
//   Ok with the early warning      the certificate that expires first, marked as a warning
//
// DNS: for an FQDN server, what the resolver said (standing, last outcome, TTL) and each
// address it gave with that address's own latest probe (the Names and Addresses records).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <ringprobe/report.hpp>
#include <ringprobe/result.hpp>

#include "report/reader.hpp"

namespace ringprobe::exporter {

enum class ChainPart : std::uint8_t {
    None,           // nothing to blame on the chain (a healthy target, a non-TLS reason)
    Cert,           // ChainFault::cert, an index into TlsFactsPayload::chain
    Anchor,         // ringprobe's trust anchor (or the lack of one)
    MissingIssuer,  // the certificate that should sit between the topmost sent and the anchor
    MissingLeaf,    // the leaf that was not sent
    WholeChain,     // every certificate: verification failed without naming one
    Handshake,      // the handshake failed before or apart from the certificates
};

struct ChainFault {
    ChainPart part = ChainPart::None;
    std::uint8_t cert = 0;  // with ChainPart::Cert
    bool warning = false;   // an early warning on a Healthy target, not a failure
    std::string_view why;   // a sentence fragment for the page
};

// Pure: which part of the chain `facts` the reason points at. `expiring`: the target carries
// kStateCertExpiring.
ChainFault chain_fault(const report_abi::TlsFactsPayload& facts, Reason reason, bool expiring);

// <h2> + <div id="tls">: facts, the drawing (<svg id="chain">), a table (<table
// id="chain-table">, one row id="cert-N" per certificate) and the faulty part (id="chain-fault").
void append_tls_section(std::string& out, const report::Snapshot& snap, std::uint32_t target);
// <h2> + <div id="dns"> for an FQDN target: <p id="dns-name"> and <table id="addresses">.
void append_dns_section(std::string& out, const report::Snapshot& snap, std::uint32_t target);

}  // namespace ringprobe::exporter
