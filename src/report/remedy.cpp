// What to change, by reason (see remedy.hpp).
#include "report/remedy.hpp"

#include <algorithm>
#include <array>

#include "config/plan.hpp"
#include "report/facts.hpp"
#include "report/text.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

// The pieces a remedy names: the row's setting, its probe, and the chain's certificates.
struct RemedyContext {
    const Snapshot& snap;
    const abi::RowRecord& row;
    const abi::TargetRecord& t;
    const abi::SettingRecord& setting;
    const abi::TlsFactsPayload* facts;  // null when none was captured

    std::string_view s(abi::StrRef r) const { return snap.info->str(r); }
    void setting_ref(std::string& out) const {
        out += "backend setting ";
        out += s(setting.name);
    }
    // "probe health" or "the default probe (use a custom probe to change it)".
    void probe_ref(std::string& out) const {
        if (setting.probe_name.length > 0) {
            out += "probe ";
            out += s(setting.probe_name);
        } else {
            out += "a custom probe on ";
            setting_ref(out);
            out += " (the default probe cannot be changed)";
        }
    }
    int count() const {
        return facts == nullptr ? 0 : std::min<int>(facts->chain_count, abi::kChainRecords);
    }
    // "CN=good.ringprobe.test" or the subject when the certificate has no CN.
    void label(std::string& out, int i) const {
        const abi::CertRecord& c = facts->chain[i];
        const std::string_view cn = fixed_text(c.common_name);
        if (!cn.empty()) {
            out += "CN=";
            out += cn;
        } else {
            out += fixed_text(c.subject);
        }
    }
    std::string_view role(int i) const {
        const abi::CertRecord& c = facts->chain[i];
        return c.is_ca == 0 ? "leaf" : c.self_issued != 0 ? "root" : "intermediate";
    }
};

void remedy_tls(std::string& out, const RemedyContext& c, Reason reason) {
    const std::uint64_t now = c.snap.now_unix_ns;
    const auto marks = c.facts != nullptr ? cert_faults(*c.facts, reason, now)
                                          : std::array<CertFault, abi::kChainRecords>{};
    int first_mark = -1;
    for (int i = 0; i < c.count(); ++i) {
        if (marks[i].index >= 0) {
            first_mark = i;
            break;
        }
    }
    switch (reason) {
        case Reason::TlsNameMismatch:
            out += "Set hostName (or sniName) on ";
            c.setting_ref(out);
            out += " or host on the probe to a name the certificate carries";
            if (first_mark >= 0) {
                const abi::CertRecord& leaf = c.facts->chain[first_mark];
                out += " (";
                out += fixed_text(leaf.sans).empty() ? fixed_text(leaf.common_name)
                                                     : fixed_text(leaf.sans);
                out += ')';
            }
            out += ", or install on the server a certificate for ";
            out += c.t.sni.length > 0 ? c.s(c.t.sni) : c.s(c.t.host);
            out += ". Turning validateSNI off on ";
            c.setting_ref(out);
            out += " skips the check.";
            return;
        case Reason::TlsExpired:
        case Reason::TlsNotYetValid: {
            const bool expired = reason == Reason::TlsExpired;
            if (first_mark < 0) {
                out += expired ? "Replace the expired trust anchor"
                               : "Replace the trust anchor that is not yet valid";
                if (c.facts != nullptr && c.facts->anchor[0] != '\0') {
                    out += ' ';
                    out += fixed_text(c.facts->anchor);
                }
                out += " (trustedRootCertificates on ";
                c.setting_ref(out);
                out += ", or the system store), or check ringprobe's clock.";
                return;
            }
            out += expired ? "Renew the " : "Install a currently valid certificate instead of the ";
            out += c.role(first_mark);
            out += " certificate ";
            c.label(out, first_mark);
            out += " on the server (";
            out += expired ? "it expired " : "it is valid only from ";
            append_utc(out, expired ? c.facts->chain[first_mark].not_after_s
                                    : c.facts->chain[first_mark].not_before_s);
            out += expired ? ")." : "), or check ringprobe's clock.";
            return;
        }
        case Reason::TlsIntermediateMissing:
            out += "The server must send its intermediate certificate";
            if (first_mark >= 0) {
                out += " (";
                out += fixed_text(c.facts->chain[first_mark].issuer);
                out += ')';
            }
            out += " after the leaf: install the full chain (leaf, then intermediates) on the "
                   "server.";
            return;
        case Reason::TlsLeafMissing:
            out += "The server must send its own (leaf) certificate first, then its "
                   "intermediates: the chain it sends holds only CA certificates.";
            return;
        case Reason::TlsLeafNotTopmost:
            out += "Reorder the chain on the server: the leaf certificate first, then each "
                   "intermediate in signing order.";
            return;
        case Reason::TlsUntrustedRoot:
            out += "Upload the root that signed the chain";
            if (first_mark >= 0) {
                out += " (";
                out += c.facts->chain[first_mark].self_issued != 0
                           ? fixed_text(c.facts->chain[first_mark].subject)
                           : fixed_text(c.facts->chain[first_mark].issuer);
                out += ')';
            }
            out += " as trustedRootCertificates on ";
            c.setting_ref(out);
            out += ", or install on the server a certificate from a well-known CA.";
            return;
        case Reason::TlsRootMismatchNoRoot:
            out += "Set trustedRootCertificates on ";
            c.setting_ref(out);
            out += " to the root that signed ";
            if (first_mark >= 0) {
                c.label(out, first_mark);
                out += " (its issuer ";
                out += fixed_text(c.facts->chain[first_mark].issuer);
                out += ')';
            } else {
                out += "the server's intermediate";
            }
            out += ", or install on the server a chain issued under one of the trusted roots.";
            return;
        case Reason::TlsRootMismatch:
            out += "Add the root the server sends";
            if (first_mark >= 0) {
                out += " (";
                out += fixed_text(c.facts->chain[first_mark].subject);
                out += ')';
            }
            out += " to trustedRootCertificates on ";
            c.setting_ref(out);
            out += ", or install on the server a chain that ends in one of the trusted roots.";
            return;
        case Reason::TlsVerifyOther:
            out += "Check the chain the server sends (the verifier's error is in the detail); "
                   "re-issue the certificate from its CA if a signature is bad.";
            return;
        case Reason::TlsAlert:
            out += "The server refused the handshake with an alert: check that it serves the "
                   "name ringprobe sends as SNI (";
            out += c.t.sni.length > 0 ? c.s(c.t.sni) : std::string_view("none sent");
            out += "), or set sniName or hostName on ";
            c.setting_ref(out);
            out += " to a name it serves.";
            return;
        case Reason::TlsProtocolVersion:
            out += "Enable TLS 1.2 or TLS 1.3 on the server: ringprobe does not use older "
                   "versions.";
            return;
        case Reason::TlsHandshakeTimeout:
            out += "The server accepted the connection but did not finish the TLS handshake "
                   "within ";
            append_duration_ms(out, c.t.timeout_ms);
            out += ": check that port ";
            append_uint(out, c.t.port);
            out += " serves TLS (else set the protocol of ";
            c.setting_ref(out);
            out += " to Http), or raise timeout on ";
            c.probe_ref(out);
            out += '.';
            return;
        default:
            out += "Check the server's TLS configuration on port ";
            append_uint(out, c.t.port);
            out += " (certificate key, cipher suites); the detail has the TLS library's error.";
            return;
    }
}

void remedy_ok(std::string& out, const RemedyContext& c, std::uint32_t target) {
    std::int64_t days = 0;
    if (!cert_expiring(c.snap, target, days) || c.facts == nullptr) {
        out += "Nothing to change.";
        return;
    }
    out += "Nothing to change now; renew the ";
    int which = -1;
    for (int i = 0; i < c.count(); ++i) {
        if (c.facts->chain[i].not_after_s == c.facts->earliest_not_after_s) {
            which = i;
            break;
        }
    }
    if (which >= 0) {
        out += c.role(which);
        out += " certificate ";
        c.label(out, which);
    } else {
        out += "trust anchor ";
        out += fixed_text(c.facts->anchor);
    }
    out += " before ";
    append_utc(out, c.facts->earliest_not_after_s);
    out += '.';
}

}  // namespace

void append_remedy(std::string& out, const Snapshot& snap, std::uint32_t row_index) {
    const StaticInfo& info = *snap.info;
    const abi::RowRecord& row = info.rows[row_index];
    const abi::TargetRecord& t = info.targets[row.target_index];
    const abi::TlsFactsPayload* f = tls_facts(snap, row.target_index);
    const RemedyContext c{snap, row, t, info.settings[row.setting_index],
                          f != nullptr && f->captured_unix_ns != 0 ? f : nullptr};
    const Effective e = effective(snap, row.target_index);
    const std::string_view addr = info.str(t.address);
    const std::string_view pool = info.str(info.pools[row.pool_index].name);
    const abi::TargetStatePayload* st = e.state;
    switch (e.reason) {
        case Reason::Pending:
            out += "Nothing to change yet: wait for the first probe (every ";
            append_duration_ms(out, t.interval_ms);
            out += ") and read the report again.";
            return;
        case Reason::Ok: remedy_ok(out, c, row.target_index); return;
        case Reason::ConnectRefused:
            out += "Make the application listen on port ";
            append_uint(out, t.port);
            out += " of ";
            out += addr;
            out += " and let the probe through the server's firewall; if it listens on another "
                   "port, change port on ";
            c.setting_ref(out);
            out += " or on the probe.";
            return;
        case Reason::ConnectTimeout:
            out += "Open the network path from ringprobe to ";
            out += addr;
            out += ':';
            append_uint(out, t.port);
            out += " (firewall, security group, routes); if the server is only slow to accept, "
                   "raise timeout on ";
            c.probe_ref(out);
            out += " (now ";
            append_duration_ms(out, t.timeout_ms);
            out += ").";
            return;
        case Reason::ConnectUnreachable:
            out += "Fix the route from ringprobe to ";
            out += addr;
            out += ", or correct the server's address in backend pool ";
            out += pool;
            out += '.';
            return;
        case Reason::ConnectionReset:
            out += "The server resets the probe's connection: check its connection limits and "
                   "logs on port ";
            append_uint(out, t.port);
            out += '.';
            return;
        case Reason::ResponseTimeout:
            out += "Make ";
            out += info.str(t.path);
            out += " answer within ";
            append_duration_ms(out, t.timeout_ms);
            out += ", or raise timeout on ";
            c.probe_ref(out);
            out += '.';
            return;
        case Reason::StatusMismatch:
            out += "Make ";
            out += info.str(t.host);
            out += info.str(t.path);
            out += " answer with ";
            out += info.str(t.match_status);
            out += " (it answered ";
            append_uint(out, st != nullptr ? st->http_status : 0);
            out += "), or add ";
            append_uint(out, st != nullptr ? st->http_status : 0);
            out += " to match.statusCodes on ";
            c.probe_ref(out);
            out += '.';
            return;
        case Reason::BodyMismatch:
            out += "Make the page ";
            out += info.str(t.path);
            out += " contain \"";
            out += info.str(t.match_body);
            out += "\", or change match.body on ";
            c.probe_ref(out);
            out += '.';
            return;
        case Reason::MalformedResponse:
        case Reason::ClosedEarly:
            out += "The server must answer the probe with a complete HTTP/1.x response on port ";
            append_uint(out, t.port);
            out += ": check its logs, and that ";
            c.setting_ref(out);
            out += " uses the protocol that port serves (now ";
            out += protocol_name(static_cast<Protocol>(t.protocol));
            out += ").";
            return;
        case Reason::ResponseTooLarge:
            out += "Probe a path whose response has smaller headers (path on ";
            c.probe_ref(out);
            out += ").";
            return;
        case Reason::DnsNxdomain:
            out += "Create the DNS record for ";
            out += addr;
            out += ", or correct the FQDN in backend pool ";
            out += pool;
            out += '.';
            return;
        case Reason::DnsNoData:
            out += "Add an A or AAAA record for ";
            out += addr;
            out += '.';
            return;
        case Reason::DnsServfail:
        case Reason::DnsTimeout:
            out += "Check the DNS servers ringprobe uses (/etc/resolv.conf) and that they "
                   "answer for ";
            out += addr;
            out += '.';
            return;
        case Reason::DnsNoAddress:
            out += "Publish an address record for ";
            out += addr;
            out += " again, or remove the server from backend pool ";
            out += pool;
            out += '.';
            return;
        case Reason::ProberNoFds:
            out += "Nothing to change on the server: raise ringprobe's descriptor limit "
                   "(ulimit -n, LimitNOFILE).";
            return;
        case Reason::ProberNoBuffers:
            out += "Nothing to change on the server: ringprobe ran out of buffers or memory; "
                   "look at its host's memory.";
            return;
        case Reason::ProberNoPorts:
            out += "Nothing to change on the server: ringprobe ran out of local ports; widen "
                   "net.ipv4.ip_local_port_range or close probes with reset (closePolicy).";
            return;
        case Reason::ProberRingFull:
        case Reason::ProberError:
            out += "Nothing to change on the server: look at ringprobe's own log.";
            return;
        case Reason::EngineUnreachable:
            out += "Start or restart the engine (ringprobe run), then read the report again.";
            return;
        default: remedy_tls(out, c, e.reason); return;
    }
}

}  // namespace ringprobe::report
