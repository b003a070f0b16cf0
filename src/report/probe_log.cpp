// healthProbeLog sentences and table words (see probe_log.hpp). The categories follow the
// gateway's backend-health troubleshooting: timeout, DNS, TCP connect, status and body mismatch,
// every TLS case, prober-side failures (never blamed on the backend) and Unknown.
#include "report/probe_log.hpp"

#include <cstring>
#include <utility>

#include <ringprobe/protocol.hpp>

#include "report/facts.hpp"
#include "report/text.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

static_assert(abi::kBodyWindowBytes == 64 * 1024, "the sentences say \"the first 64 KiB\"");

std::string_view str(const Snapshot& snap, abi::StrRef r) {
    return snap.info->str(r);
}

void append_engine_unreachable(std::string& out, const Snapshot& snap) {
    out += "The health could not be retrieved from the engine (";
    switch (snap.engine) {
        case EngineState::Stopped: out += "the engine was stopped"; break;
        case EngineState::Gone:
            out += "engine process ";
            append_int(out, snap.info->header.engine_pid);
            out += " is gone";
            break;
        case EngineState::Stale: out += "its heartbeat stopped"; break;
        case EngineState::Live: out += "no answer"; break;
    }
    out += "); the last report is ";
    append_age(out, snap.report_age_ns());
    out += " old. Start or restart the engine";
    out += '.';
}

void append_errno(std::string& out, std::int32_t e) {
    if (e != 0) {
        out += " (";
        out += std::strerror(e);  // glibc returns a static table entry for known codes
        out += ')';
    }
}

void append_status_hint(std::string& out, std::uint16_t status) {
    switch (status) {
        case 401:
            out +=
                " The server requires authentication: allow 401 in the probe's match or "
                "probe an unauthenticated path.";
            break;
        case 403:
            out +=
                " The server refuses the probe: allow it to reach the path, or allow 403 in "
                "the match.";
            break;
        case 404: out += " The path was not found: check the probe's host name and path."; break;
        case 405: out += " The server must allow GET on the probe's path."; break;
        case 500: out += " The application failed: check its logs."; break;
        case 503: out += " The application is unavailable or overloaded."; break;
        default: break;
    }
}

void append_detail(std::string& out, const abi::TargetStatePayload& s) {
    if (s.detail_len > 0) {
        out += " Detail: ";
        out.append(s.detail, s.detail_len);
        out += '.';
    }
}

void append_port(std::string& out, const abi::TargetRecord& t) {
    out += " on port ";
    append_uint(out, t.port);
}

// Pending and Ok: what the last probe achieved.
void log_result(std::string& out, const abi::TargetRecord& t, const abi::TargetStatePayload& s) {
    const auto reason = static_cast<Reason>(s.reason);
    const auto proto = static_cast<Protocol>(t.protocol);
    switch (reason) {
        case Reason::Pending: out += "Waiting for the first probe to complete."; return;
        case Reason::Ok:
            if (s.http_status != 0) {
                out += "Success. Received ";
                append_uint(out, s.http_status);
                out += " status code.";
            } else if (proto == Protocol::Tls) {
                out += "Success. TLS handshake completed";
                append_port(out, t);
                out += '.';
            } else {
                out += "Success. TCP connection established";
                append_port(out, t);
                out += '.';
            }
            return;
        default: break;
    }
}

// The TCP connection (Layer L4): each sentence says all there is; no detail follows.
void log_connection(std::string& out, const abi::TargetRecord& t,
                    const abi::TargetStatePayload& s) {
    const auto reason = static_cast<Reason>(s.reason);
    switch (reason) {
        case Reason::ConnectRefused:
            out += "Cannot connect to the server";
            append_port(out, t);
            out +=
                ": the connection was refused. Check that the application listens on that "
                "port and that no firewall rejects the probe.";
            return;
        case Reason::ConnectTimeout:
            out += "Cannot connect to the server";
            append_port(out, t);
            out += " within the probe timeout of ";
            append_duration_ms(out, t.timeout_ms);
            out += ". Check the network path and firewall rules.";
            return;
        case Reason::ConnectUnreachable:
            out += "Cannot reach the server";
            append_port(out, t);
            out += ": the network or host is unreachable";
            append_errno(out, s.sys_errno);
            out += ". Check routing to the server.";
            return;
        case Reason::ConnectionReset:
            out += "The server reset the connection before a complete response.";
            return;
        case Reason::ProxyRejected:
            out +=
                "The server closed the connection after the probe's PROXY protocol header, "
                "before answering anything.";
            return;
        default: break;
    }
}

// The HTTP answer (Layer L7). True when the engine's detail should follow the sentence: the
// parser's words say how the answer was not HTTP.
bool log_answer(std::string& out, const Snapshot& snap, const abi::TargetRecord& t,
                const abi::TargetStatePayload& s) {
    const auto reason = static_cast<Reason>(s.reason);
    switch (reason) {
        case Reason::ResponseTimeout:
            out += "No valid response from the server within the probe timeout of ";
            append_duration_ms(out, t.timeout_ms);
            out += ". Check the application's response time or raise the timeout.";
            return false;
        case Reason::StatusMismatch:
            out += "Received status code ";
            append_uint(out, s.http_status);
            out += ", outside the expected status codes ";
            out += str(snap, t.match_status);
            out += '.';
            append_status_hint(out, s.http_status);
            return false;
        case Reason::BodyMismatch:
            out += "Received status code ";
            append_uint(out, s.http_status);
            out += (s.flags & abi::kStateBodyCut) != 0
                       ? " but the first 64 KiB of the response "
                         "body do not contain \""
                       : " but the response body does not contain \"";
            out += str(snap, t.match_body);
            out += "\". Check the page the probe requests or the probe's match.body.";
            return false;
        case Reason::MalformedResponse:
            out += "The server's response is not valid HTTP/1.x.";
            return true;
        case Reason::ResponseTooLarge:
            out += "The response headers exceed the prober's limit.";
            return true;
        case Reason::ClosedEarly:
            out += "The server closed the connection before a complete response.";
            return true;
        default: break;
    }
    return true;
}

// The lookup of the server's name (Layer Dns).
void log_dns(std::string& out, const Snapshot& snap, const abi::TargetRecord& t, Reason reason) {
    switch (reason) {
        case Reason::DnsNxdomain:
            out += "DNS resolution failed: the name ";
            out += str(snap, t.address);
            out += " does not exist. Check the server's FQDN and the DNS servers.";
            return;
        case Reason::DnsNoData:
            out += "DNS resolution failed: ";
            out += str(snap, t.address);
            out += " has no address record.";
            return;
        case Reason::DnsServfail:
            out += "DNS resolution failed: the DNS server could not answer for ";
            out += str(snap, t.address);
            out += " (SERVFAIL).";
            return;
        case Reason::DnsTimeout:
            out += "DNS resolution failed: no answer for ";
            out += str(snap, t.address);
            out += " from the DNS server in time.";
            return;
        case Reason::DnsNoAddress:
            out += "Health unknown: DNS gave no address left to probe for ";
            out += str(snap, t.address);
            out += '.';
            return;
        case Reason::AddressUnknown:
            out +=
                "Health unknown: no --nics file gives the private address of IP "
                "configuration ";
            out += str(snap, t.address);
            out += ", so nothing was probed.";
            return;
        default: break;
    }
}

// What the server said of our client certificate, from the engine's detail ("server sent alert
// 48 unknown_ca ...", or "HTTP 400 ...: certificate_expired ..."): the alert in words.
std::string_view client_cert_refusal(std::string_view detail) {
    static constexpr std::pair<std::string_view, std::string_view> alerts[] = {
        {"alert 42 ", "bad certificate"},
        {"alert 43 ", "unsupported certificate"},
        {"alert 44 ", "certificate revoked"},
        {"alert 45 ", "certificate expired"},
        {"alert 46 ", "certificate unknown"},
        {"alert 48 ", "unknown CA"},
        {"alert 49 ", "access denied"},
        {"alert 51 ", "decrypt error"},
        {"alert 40 ", "handshake failure"},
        {"alert 116 ", "certificate required"},
        {"certificate_expired", "certificate expired"},
        {"not valid before", "certificate not yet valid"},
    };
    for (const auto& [needle, words] : alerts) {
        if (detail.find(needle) != std::string_view::npos) {
            return words;
        }
    }
    return detail.rfind("HTTP 400", 0) == 0 ? "HTTP 400" : "";
}

// The TLS handshake and the server's certificate chain (Layer L6).
void log_tls(std::string& out, const Snapshot& snap, const abi::TargetRecord& t,
             const abi::TargetStatePayload& s, Reason reason) {
    switch (reason) {
        case Reason::ClientCertRequired:
            out +=
                "The server requires a client certificate: it asked for one in the TLS "
                "handshake and the backend setting has none.";
            return;
        case Reason::ClientCertRejected: {
            out += "The server rejected the client certificate";
            const std::string_view why =
                client_cert_refusal(std::string_view(s.detail, s.detail_len));
            if (!why.empty()) {
                out += ": ";
                out += why;
            }
            out += '.';
            return;
        }
        case Reason::TlsNameMismatch:
            out +=
                "The common name (CN) or subject alternative names of the server's "
                "certificate do not match the host name ";
            out += t.sni.length > 0 ? str(snap, t.sni) : str(snap, t.host);
            out += " expected by the probe or backend setting.";
            return;
        case Reason::TlsExpired:
            out += "A certificate in the server's chain has expired (now is after its notAfter).";
            return;
        case Reason::TlsNotYetValid:
            out +=
                "A certificate in the server's chain is not yet valid (now is before its "
                "notBefore).";
            return;
        case Reason::TlsIntermediateMissing:
            out +=
                "The server did not send its intermediate certificate: install the full "
                "chain (leaf, then intermediates) on the server.";
            return;
        case Reason::TlsLeafMissing:
            out += "The certificate chain presented by the server has no leaf certificate.";
            return;
        case Reason::TlsUntrustedRoot:
            out +=
                "The server's chain ends in a root that is not a well-known CA while the "
                "backend setting trusts well-known CAs only: upload that root as a trusted "
                "root certificate.";
            return;
        case Reason::TlsRootMismatchNoRoot:
            out +=
                "The server sent no root certificate and no trusted root of the backend "
                "setting signed its intermediate.";
            return;
        case Reason::TlsRootMismatch:
            out +=
                "The root certificate sent by the server is not among the backend setting's "
                "trusted root certificates.";
            return;
        case Reason::TlsLeafNotTopmost:
            out +=
                "The leaf certificate is not the first certificate of the chain the server "
                "sent: fix the chain order.";
            return;
        case Reason::TlsVerifyOther:
            out += "The server's certificate could not be verified.";
            return;
        case Reason::TlsAlert: out += "The TLS handshake failed: the server sent an alert."; return;
        case Reason::TlsProtocolVersion:
            out += "The TLS handshake failed: no protocol version in common with the server.";
            return;
        case Reason::TlsHandshakeTimeout:
            out += "The TLS handshake did not complete within the probe timeout of ";
            append_duration_ms(out, t.timeout_ms);
            out += '.';
            return;
        case Reason::TlsHandshakeFailed: out += "The TLS handshake with the server failed."; return;
        default: break;
    }
}

// ringprobe's own resources (Layer Prober): nothing said about the server.
void log_prober(std::string& out, const abi::TargetStatePayload& s, Reason reason) {
    switch (reason) {
        case Reason::ProberNoFds:
        case Reason::ProberNoBuffers:
        case Reason::ProberNoPorts:
        case Reason::ProberError:
            out += "The prober itself failed (";
            out += reason_info(reason).code;
            out += ")";
            append_errno(out, s.sys_errno);
            out +=
                "; this says nothing about the server, whose health is kept from its last "
                "probe.";
            return;
        default: break;
    }
}

// The sentence for a result the engine published, by the layer the reason belongs to; the
// engine's detail follows every sentence that does not say all there is.
void append_engine_log(std::string& out, const Snapshot& snap, const abi::TargetRecord& t,
                       const abi::TargetStatePayload& s) {
    const auto reason = static_cast<Reason>(s.reason);
    switch (reason_info(reason).layer) {
        case Layer::None: log_result(out, t, s); return;
        case Layer::L4: log_connection(out, t, s); return;
        case Layer::L7:
            if (!log_answer(out, snap, t, s)) {
                return;
            }
            break;
        case Layer::Dns: log_dns(out, snap, t, reason); break;
        case Layer::L6: log_tls(out, snap, t, s, reason); break;
        case Layer::Prober: log_prober(out, s, reason); break;
        case Layer::Engine:
            if (reason == Reason::OtherShard) {
                out +=
                    "Not probed by this engine: another shard of the gateway's engines probes "
                    "it (ringprobe-report --merge shows every shard's rows).";
                break;
            }
            out += "The health could not be retrieved from the engine.";
            break;
    }
    append_detail(out, s);
}

}  // namespace

void append_probe_log(std::string& out, const Snapshot& snap, std::uint32_t target_index) {
    const Effective e = effective(snap, target_index);
    if (e.reason == Reason::EngineUnreachable && e.state != nullptr) {
        // A merged report (--merge): the merge is whole, the engine that probes this row is not.
        out += "The health could not be retrieved from the engine that probes it.";
        append_detail(out, *e.state);
        return;
    }
    if (e.reason == Reason::EngineUnreachable) {
        append_engine_unreachable(out, snap);
        return;
    }
    if (e.state == nullptr) {
        out +=
            "The latest result could not be read consistently this time (the engine was "
            "rewriting it); read the report again.";
        return;
    }
    append_engine_log(out, snap, snap.info->targets[target_index], *e.state);
    if (is_flapping(snap, target_index)) {
        out +=
            " The server is flapping: its health changed again and again within its last 32 "
            "results (ringprobe-report --history shows them).";
    }
}

void append_result_words(std::string& out, const Snapshot& snap, std::uint32_t target_index) {
    const Effective e = effective(snap, target_index);
    if (e.reason == Reason::EngineUnreachable) {
        out += "engine ";
        out += e.state != nullptr ? "unreachable" : engine_state_name(snap.engine);
        return;
    }
    if (e.state == nullptr) {
        out += "unreadable this time";
        return;
    }
    const abi::TargetStatePayload& s = *e.state;
    if (e.reason == Reason::Ok && s.http_status != 0) {
        out += "ok, ";
        append_uint(out, s.http_status);
        return;
    }
    for (char ch : reason_info(e.reason).code) {
        out += ch == '_' ? ' ' : ch;
    }
    if (s.http_status != 0) {
        out += ", ";
        append_uint(out, s.http_status);
    }
}
}  // namespace ringprobe::report
