// What to change, by reason (see remedy.hpp).
#include "report/remedy.hpp"

#include <algorithm>
#include <array>

#include <ringprobe/protocol.hpp>

#include "report/facts.hpp"
#include "report/fault_part.hpp"
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
    std::string_view address() const { return s(t.address); }
    std::string_view pool() const { return s(snap.info->pools[row.pool_index].name); }
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

// The first certificate of the chain the reason is about (cert_faults), or -1.
int first_marked(const RemedyContext& c, Reason reason) {
    const std::uint64_t now = c.snap.now_unix_ns;
    const auto marks = c.facts != nullptr ? cert_faults(*c.facts, reason, now)
                                          : std::array<CertFault, abi::kChainRecords>{};
    for (int i = 0; i < c.count(); ++i) {
        if (marks[i].index >= 0) {
            return i;
        }
    }
    return -1;
}

// The leaf does not carry the name probed: change the name sent, or the certificate.
void remedy_name_mismatch(std::string& out, const RemedyContext& c, int first_mark) {
    out += "Set hostName (or sniName) on ";
    c.setting_ref(out);
    out += " or host on the probe to a name the certificate carries";
    if (first_mark >= 0) {
        const abi::CertRecord& leaf = c.facts->chain[first_mark];
        out += " (";
        out += fixed_text(leaf.sans).empty() ? fixed_text(leaf.common_name) : fixed_text(leaf.sans);
        out += ')';
    }
    out += ", or install on the server a certificate for ";
    out += c.t.sni.length > 0 ? c.s(c.t.sni) : c.s(c.t.host);
    out += ". Turning validateSNI off on ";
    c.setting_ref(out);
    out += " skips the check.";
}

// A certificate outside its validity: renew it (the trust anchor when no certificate sent is).
void remedy_validity(std::string& out, const RemedyContext& c, Reason reason, int first_mark) {
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
}

// The chain the server sends is incomplete or out of order.
void remedy_chain_order(std::string& out, const RemedyContext& c, Reason reason, int first_mark) {
    switch (reason) {
        case Reason::TlsIntermediateMissing:
            out += "The server must send its intermediate certificate";
            if (first_mark >= 0) {
                out += " (";
                out += fixed_text(c.facts->chain[first_mark].issuer);
                out += ')';
            }
            out +=
                " after the leaf: install the full chain (leaf, then intermediates) on the "
                "server.";
            return;
        case Reason::TlsLeafMissing:
            out +=
                "The server must send its own (leaf) certificate first, then its "
                "intermediates: the chain it sends holds only CA certificates.";
            return;
        case Reason::TlsLeafNotTopmost:
            out +=
                "Reorder the chain on the server: the leaf certificate first, then each "
                "intermediate in signing order.";
            return;
        default: break;
    }
}

// No trusted root signed the chain: trust its root, or serve a chain under a trusted one.
void remedy_trust(std::string& out, const RemedyContext& c, Reason reason, int first_mark) {
    switch (reason) {
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
        default: break;
    }
}

// The handshake failed apart from the certificates (fault_part's Handshake).
void remedy_handshake(std::string& out, const RemedyContext& c, Reason reason) {
    switch (reason) {
        case Reason::TlsAlert:
            out +=
                "The server refused the handshake with an alert: check that it serves the "
                "name ringprobe sends as SNI (";
            out += c.t.sni.length > 0 ? c.s(c.t.sni) : std::string_view("none sent");
            out += "), or set sniName or hostName on ";
            c.setting_ref(out);
            out += " to a name it serves.";
            return;
        case Reason::TlsProtocolVersion:
            out +=
                "Enable TLS 1.2 or TLS 1.3 on the server: ringprobe does not use older "
                "versions.";
            return;
        case Reason::TlsHandshakeTimeout:
            out +=
                "The server accepted the connection but did not finish the TLS handshake "
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

// The server asked for a client certificate and refused the probe's (or its absence).
void remedy_client_certificate(std::string& out, const RemedyContext& c, Reason reason) {
    if (reason == Reason::ClientCertRequired) {
        out += "Give ";
        c.setting_ref(out);
        out +=
            " a client certificate the server accepts: ringprobe.clientCertificate with "
            "certificateFile and keyFile (PEM), or certificateData and keyData (base64).";
        return;
    }
    out +=
        "Present a client certificate that the server's client CAs issued (nginx: "
        "ssl_client_certificate), valid now and not revoked: renew or replace the one in ";
    c.setting_ref(out);
    out += "'s ringprobe.clientCertificate, or make the server trust its issuer.";
}

// The TLS handshake and the server's certificate chain (Layer L6).
void remedy_tls(std::string& out, const RemedyContext& c, Reason reason) {
    if (fault_part(reason) == FaultPart::Handshake) {
        remedy_handshake(out, c, reason);
        return;
    }
    if (fault_part(reason) == FaultPart::ClientCertificate) {
        remedy_client_certificate(out, c, reason);
        return;
    }
    const int first_mark = first_marked(c, reason);
    switch (reason) {
        case Reason::TlsNameMismatch: remedy_name_mismatch(out, c, first_mark); return;
        case Reason::TlsExpired:
        case Reason::TlsNotYetValid: remedy_validity(out, c, reason, first_mark); return;
        case Reason::TlsIntermediateMissing:
        case Reason::TlsLeafMissing:
        case Reason::TlsLeafNotTopmost: remedy_chain_order(out, c, reason, first_mark); return;
        case Reason::TlsUntrustedRoot:
        case Reason::TlsRootMismatchNoRoot:
        case Reason::TlsRootMismatch: remedy_trust(out, c, reason, first_mark); return;
        case Reason::TlsVerifyOther:
            out +=
                "Check the chain the server sends (the verifier's error is in the detail); "
                "re-issue the certificate from its CA if a signature is bad.";
            return;
        default: remedy_handshake(out, c, reason); return;
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

// The TCP connection (Layer L4): the server's port, its firewall, the path to it.
void remedy_connection(std::string& out, const RemedyContext& c, Reason reason) {
    const abi::TargetRecord& t = c.t;
    const std::string_view addr = c.address();
    const std::string_view pool = c.pool();
    switch (reason) {
        case Reason::ConnectRefused:
            out += "Make the application listen on port ";
            append_uint(out, t.port);
            out += " of ";
            out += addr;
            out +=
                " and let the probe through the server's firewall; if it listens on another "
                "port, change port on ";
            c.setting_ref(out);
            out += " or on the probe.";
            return;
        case Reason::ConnectTimeout:
            out += "Open the network path from ringprobe to ";
            out += addr;
            out += ':';
            append_uint(out, t.port);
            out +=
                " (firewall, security group, routes); if the server is only slow to accept, "
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
            out +=
                "The server resets the probe's connection: check its connection limits and "
                "logs on port ";
            append_uint(out, t.port);
            out += '.';
            return;
        case Reason::ProxyRejected:
            out += "Make the listener on port ";
            append_uint(out, t.port);
            out +=
                " accept PROXY protocol headers of the version the probe sends (HAProxy: "
                "accept-proxy; nginx: proxy_protocol), or turn enableProbeProxyProtocolHeader "
                "off for a backend that does not expect one.";
            return;
        default: break;
    }
}

// The HTTP answer (Layer L7): the page the probe asks for, or the probe's match.
void remedy_answer(std::string& out, const RemedyContext& c, Reason reason,
                   const abi::TargetStatePayload* st) {
    const StaticInfo& info = *c.snap.info;
    const abi::TargetRecord& t = c.t;
    switch (reason) {
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
            out += st != nullptr && (st->flags & abi::kStateBodyCut) != 0
                       ? "\" within its first 64 KiB (only those are searched), or change "
                         "match.body on "
                       : "\", or change match.body on ";
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
        default: break;
    }
}

// The server's name (Layer Dns): its record, the FQDN in the pool, the DNS servers.
void remedy_dns(std::string& out, const RemedyContext& c, Reason reason) {
    const std::string_view addr = c.address();
    const std::string_view pool = c.pool();
    switch (reason) {
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
            out +=
                "Check the DNS servers ringprobe uses (/etc/resolv.conf) and that they "
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
        case Reason::AddressUnknown:
            out += "Export the network interface of ";
            out += addr;
            out +=
                " ('az network nic show --ids ID' or 'az vmss nic list') and give the file "
                "with --nics FILE.";
            return;
        default: break;
    }
}

// ringprobe's own resources (Layer Prober): nothing to change on the server.
void remedy_prober(std::string& out, Reason reason) {
    switch (reason) {
        case Reason::ProberNoFds:
            out +=
                "Nothing to change on the server: raise ringprobe's descriptor limit "
                "(ulimit -n, LimitNOFILE).";
            return;
        case Reason::ProberNoBuffers:
            out +=
                "Nothing to change on the server: ringprobe ran out of buffers or memory; "
                "look at its host's memory.";
            return;
        case Reason::ProberNoPorts:
            out +=
                "Nothing to change on the server: ringprobe ran out of local ports; widen "
                "net.ipv4.ip_local_port_range or close probes with reset (closePolicy).";
            return;
        case Reason::ProberError:
            out += "Nothing to change on the server: look at ringprobe's own log.";
            return;
        default: break;
    }
}

}  // namespace

// By the layer the reason belongs to; each layer's remedies name the fields of that layer.
void append_remedy(std::string& out, const Snapshot& snap, std::uint32_t row_index) {
    const StaticInfo& info = *snap.info;
    const abi::RowRecord& row = info.rows[row_index];
    const abi::TargetRecord& t = info.targets[row.target_index];
    const abi::TlsFactsPayload* f = tls_facts(snap, row.target_index);
    const RemedyContext c{snap, row, t, info.settings[row.setting_index],
                          f != nullptr && f->captured_unix_ns != 0 ? f : nullptr};
    const Effective e = effective(snap, row.target_index);
    switch (reason_info(e.reason).layer) {
        case Layer::None:
            if (e.reason == Reason::Ok) {
                remedy_ok(out, c, row.target_index);
            } else {
                out += "Nothing to change yet: wait for the first probe (every ";
                append_duration_ms(out, t.interval_ms);
                out += ") and read the report again.";
            }
            return;
        case Layer::L4: remedy_connection(out, c, e.reason); return;
        case Layer::L7: remedy_answer(out, c, e.reason, e.state); return;
        case Layer::Dns: remedy_dns(out, c, e.reason); return;
        case Layer::L6: remedy_tls(out, c, e.reason); return;
        case Layer::Prober: remedy_prober(out, e.reason); return;
        case Layer::Engine:
            if (e.reason == Reason::OtherShard) {
                out +=
                    "Nothing to change here: read this row from the shard that probes it, or "
                    "read every shard as one (ringprobe-report --merge NAME,NAME...).";
                return;
            }
            out += "Start or restart the engine (ringprobe run), then read the report again.";
            return;
    }
}

}  // namespace ringprobe::report
