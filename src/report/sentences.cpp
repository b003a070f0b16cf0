// healthProbeLog sentences and table words (see sentences.hpp). The categories follow
// the reference probe-semantics table: timeout, DNS, TCP connect, status and body mismatch, every TLS case,
// prober-side failures (never blamed on the backend) and Unknown.
#include "report/sentences.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "config/plan.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_duration_ms(std::string& out, std::uint64_t ms) {
    if (ms % 1000 == 0) {
        append_uint(out, ms / 1000);
        out += " s";
    } else {
        append_uint(out, ms);
        out += " ms";
    }
}

void append_age(std::string& out, std::uint64_t ns) {
    const std::uint64_t s = ns / 1'000'000'000ULL;
    if (s < 120) {
        append_uint(out, s);
        out += " s";
    } else if (s < 7200) {
        append_uint(out, s / 60);
        out += " min";
    } else if (s < 172800) {
        append_uint(out, s / 3600);
        out += " h";
    } else {
        append_uint(out, s / 86400);
        out += " d";
    }
}

void append_us_as_ms(std::string& out, std::uint32_t us) {
    append_uint(out, us / 1000);
    const std::uint32_t frac = us % 1000 / 10;
    out += '.';
    out += static_cast<char>('0' + frac / 10);
    out += static_cast<char>('0' + frac % 10);
    out += " ms";
}

void append_printable(std::string& out, std::string_view s) {
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        out += c < 0x20 || c == 0x7f ? '?' : ch;
    }
}

const abi::TlsFactsPayload* tls_facts(const Snapshot& snap, std::uint32_t t) {
    const std::uint32_t slot = snap.info->targets[t].tls_slot;
    return slot != abi::kNoSlot && slot < snap.tls.size() ? &snap.tls[slot] : nullptr;
}

const abi::NameStatePayload* name_state(const Snapshot& snap, std::uint32_t t) {
    const std::uint32_t slot = snap.info->targets[t].name_slot;
    return slot != abi::kNoSlot && slot < snap.names.size() ? &snap.names[slot] : nullptr;
}

std::span<const abi::AddressStatePayload> address_states(const Snapshot& snap, std::uint32_t t) {
    const std::uint32_t slot = snap.info->targets[t].name_slot;
    if (name_state(snap, t) == nullptr ||
        (std::size_t{slot} + 1) * abi::kAddressesPerName > snap.addresses.size()) {
        return {};
    }
    return std::span<const abi::AddressStatePayload>(
        snap.addresses.data() + std::size_t{slot} * abi::kAddressesPerName, abi::kAddressesPerName);
}

std::string_view dns_standing_name(std::uint8_t standing) {
    static constexpr std::string_view kNames[] = {"pending", "fresh", "stale", "never_resolved",
                                                  "no_address"};
    return standing < std::size(kNames) ? kNames[standing] : "pending";
}

std::string_view dns_outcome_name(std::uint8_t outcome) {
    static constexpr std::string_view kNames[] = {"pending", "ok",      "nxdomain",
                                                  "nodata",  "servfail", "timeout",
                                                  "refused", "unreachable", "other"};
    return outcome < std::size(kNames) ? kNames[outcome] : "other";
}

void append_ip(std::string& out, const abi::AddressStatePayload& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    const int af = a.family == 6 ? AF_INET6 : AF_INET;
    if (a.family == 0 || ::inet_ntop(af, a.address, buf, sizeof buf) == nullptr) {
        out += '-';
        return;
    }
    out += buf;
}

void append_sha256(std::string& out, const std::uint8_t (&sha)[32]) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (std::size_t i = 0; i < 32; ++i) {
        if (i > 0) {
            out += ':';
        }
        out += kHex[sha[i] >> 4];
        out += kHex[sha[i] & 15];
    }
}

void append_dns_standing(std::string& out, const Snapshot& snap, std::uint32_t t) {
    const abi::NameStatePayload* n = name_state(snap, t);
    if (n == nullptr) {
        out += "DNS not reported";
        return;
    }
    auto ago = [&](std::uint64_t when) {
        append_age(out, snap.now_unix_ns > when ? snap.now_unix_ns - when : 0);
        out += " ago";
    };
    switch (n->standing) {
        case 1:
            out += "DNS fresh: last lookup ok ";
            ago(n->last_lookup_unix_ns);
            out += ", TTL ";
            append_uint(out, n->ttl_s);
            out += " s, ";
            append_uint(out, n->address_count);
            out += n->address_count == 1 ? " address" : " addresses";
            if (n->truncated != 0) {
                out += " (the answer had more; not kept)";
            }
            return;
        case 2:
            out += "DNS stale: lookups failing (";
            out += dns_outcome_name(n->last_outcome);
            out += "), last good answer ";
            ago(n->last_good_unix_ns);
            return;
        case 3:
            out += "DNS never resolved: lookups failing (";
            out += dns_outcome_name(n->last_outcome);
            out += ')';
            return;
        case 4:
            out += "DNS gave no address: last lookup ";
            out += dns_outcome_name(n->last_outcome);
            if (n->last_good_unix_ns != 0) {
                out += ", last good answer ";
                ago(n->last_good_unix_ns);
            }
            return;
        default:
            out += "DNS pending: the first lookup has not finished";
            return;
    }
}

std::int64_t days_until(std::int64_t not_after_s, std::uint64_t now_unix_ns) {
    const std::int64_t diff = not_after_s - static_cast<std::int64_t>(now_unix_ns / 1'000'000'000ULL);
    return diff >= 0 ? diff / 86400 : -((-diff + 86399) / 86400);
}

bool cert_expiring(const Snapshot& snap, std::uint32_t t, std::int64_t& days) {
    const Effective e = effective(snap, t);
    if (e.state == nullptr || (e.state->flags & abi::kStateCertExpiring) == 0) {
        return false;
    }
    const abi::TlsFactsPayload* f = tls_facts(snap, t);
    days = f != nullptr && f->earliest_not_after_s != 0
               ? days_until(f->earliest_not_after_s, snap.now_unix_ns)
               : -1;
    return true;
}

namespace {

// The leaf: the first certificate that is not a CA (the chain's first when all are).
int leaf_index(const abi::TlsFactsPayload& f) {
    const int n = std::min<int>(f.chain_count, abi::kChainRecords);
    for (int i = 0; i < n; ++i) {
        if (f.chain[i].is_ca == 0) {
            return i;
        }
    }
    return n > 0 ? 0 : -1;
}

}  // namespace

std::array<CertFault, abi::kChainRecords> cert_faults(const abi::TlsFactsPayload& f, Reason reason,
                                                       std::uint64_t now_unix_ns) {
    std::array<CertFault, abi::kChainRecords> out;
    out.fill(CertFault{-1, {}});
    const int n = std::min<int>(f.chain_count, abi::kChainRecords);
    if (n == 0) {
        return out;
    }
    const auto now_s = static_cast<std::int64_t>(now_unix_ns / 1'000'000'000ULL);
    auto mark = [&](int i, std::string_view why) {
        if (i >= 0 && i < n) {
            out[static_cast<std::size_t>(i)] = CertFault{i, why};
        }
    };
    const int leaf = leaf_index(f);
    bool any_root = false;
    switch (reason) {
        case Reason::TlsExpired:
            for (int i = 0; i < n; ++i) {
                if (f.chain[i].not_after_s < now_s) {
                    mark(i, "expired");
                }
            }
            break;
        case Reason::TlsNotYetValid:
            for (int i = 0; i < n; ++i) {
                if (f.chain[i].not_before_s > now_s) {
                    mark(i, "not yet valid");
                }
            }
            break;
        case Reason::TlsNameMismatch: mark(leaf, "name does not match"); break;
        case Reason::TlsIntermediateMissing: mark(leaf, "sent without its issuer"); break;
        case Reason::TlsLeafMissing: mark(0, "a CA certificate where the leaf should be"); break;
        case Reason::TlsLeafNotTopmost:
            mark(0, "first, but not the leaf");
            if (leaf > 0) {
                mark(leaf, "the leaf, not first");
            }
            break;
        case Reason::TlsUntrustedRoot:
        case Reason::TlsRootMismatch:
            for (int i = 0; i < n; ++i) {
                if (f.chain[i].self_issued != 0) {
                    mark(i, "root not trusted");
                    any_root = true;
                }
            }
            if (!any_root) {
                mark(n - 1, "issuer not trusted");
            }
            break;
        case Reason::TlsRootMismatchNoRoot: mark(n - 1, "issuer not among the trusted roots"); break;
        default: break;
    }
    return out;
}

FaultPart fault_part(Reason reason) {
    switch (reason) {
        case Reason::TlsAlert:
        case Reason::TlsProtocolVersion:
        case Reason::TlsHandshakeTimeout:
        case Reason::TlsHandshakeFailed:
            return FaultPart::Handshake;
        default: break;
    }
    switch (reason_info(reason).layer) {
        case Layer::None: return FaultPart::None;
        case Layer::Dns: return FaultPart::Resolution;
        case Layer::L4: return FaultPart::Link;
        case Layer::L6: return FaultPart::Certificate;
        case Layer::L7: return FaultPart::Server;
        case Layer::Prober: return FaultPart::Prober;
        case Layer::Engine: return FaultPart::Report;
    }
    return FaultPart::None;
}

std::string_view fault_part_words(FaultPart part) {
    switch (part) {
        case FaultPart::None: return "nothing";
        case FaultPart::Report: return "the link from this reader to the engine (the report)";
        case FaultPart::Prober: return "ringprobe itself";
        case FaultPart::Resolution: return "the DNS resolution of the server's name";
        case FaultPart::Link: return "the TCP connection from ringprobe to the server";
        case FaultPart::Handshake: return "the TLS handshake between ringprobe and the server";
        case FaultPart::Certificate: return "the server's certificate chain";
        case FaultPart::Server: return "the server's HTTP answer";
    }
    return "nothing";
}

Effective effective(const Snapshot& snap, std::uint32_t t) {
    if (snap.engine != EngineState::Live) {
        return Effective{Health::Unknown, Reason::EngineUnreachable, nullptr};
    }
    if (snap.readable[t] == 0) {
        return Effective{Health::Unknown, Reason::Pending, nullptr};
    }
    const abi::TargetStatePayload& s = snap.states[t];
    return Effective{static_cast<Health>(s.health), static_cast<Reason>(s.reason), &s};
}

namespace {

std::string_view str(const Snapshot& snap, abi::StrRef r) { return snap.info->str(r); }

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
            out += " The server requires authentication: allow 401 in the probe's match or "
                   "probe an unauthenticated path.";
            break;
        case 403:
            out += " The server refuses the probe: allow it to reach the path, or allow 403 in "
                   "the match.";
            break;
        case 404:
            out += " The path was not found: check the probe's host name and path.";
            break;
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

// The sentence for a result the engine published.
void append_engine_log(std::string& out, const Snapshot& snap, const abi::TargetRecord& t,
                       const abi::TargetStatePayload& s) {
    const auto reason = static_cast<Reason>(s.reason);
    const auto proto = static_cast<Protocol>(t.protocol);
    switch (reason) {
        case Reason::Pending:
            out += "Waiting for the first probe to complete.";
            return;
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
        case Reason::ConnectRefused:
            out += "Cannot connect to the server";
            append_port(out, t);
            out += ": the connection was refused. Check that the application listens on that "
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
        case Reason::ResponseTimeout:
            out += "No valid response from the server within the probe timeout of ";
            append_duration_ms(out, t.timeout_ms);
            out += ". Check the application's response time or raise the timeout.";
            return;
        case Reason::StatusMismatch:
            out += "Received status code ";
            append_uint(out, s.http_status);
            out += ", outside the expected status codes ";
            out += str(snap, t.match_status);
            out += '.';
            append_status_hint(out, s.http_status);
            return;
        case Reason::BodyMismatch:
            out += "Received status code ";
            append_uint(out, s.http_status);
            out += " but the response body does not contain \"";
            out += str(snap, t.match_body);
            out += "\". Check the page the probe requests or the probe's match.body.";
            return;
        case Reason::MalformedResponse:
            out += "The server's response is not valid HTTP/1.x.";
            break;
        case Reason::ResponseTooLarge:
            out += "The response headers exceed the prober's limit.";
            break;
        case Reason::ClosedEarly:
            out += "The server closed the connection before a complete response.";
            break;
        case Reason::DnsNxdomain:
            out += "DNS resolution failed: the name ";
            out += str(snap, t.address);
            out += " does not exist. Check the server's FQDN and the DNS servers.";
            break;
        case Reason::DnsNoData:
            out += "DNS resolution failed: ";
            out += str(snap, t.address);
            out += " has no address record.";
            break;
        case Reason::DnsServfail:
            out += "DNS resolution failed: the DNS server could not answer for ";
            out += str(snap, t.address);
            out += " (SERVFAIL).";
            break;
        case Reason::DnsTimeout:
            out += "DNS resolution failed: no answer for ";
            out += str(snap, t.address);
            out += " from the DNS server in time.";
            break;
        case Reason::DnsNoAddress:
            out += "Health unknown: DNS gave no address left to probe for ";
            out += str(snap, t.address);
            out += '.';
            break;
        case Reason::TlsNameMismatch:
            out += "The common name (CN) or subject alternative names of the server's "
                   "certificate do not match the host name ";
            out += t.sni.length > 0 ? str(snap, t.sni) : str(snap, t.host);
            out += " expected by the probe or backend setting.";
            break;
        case Reason::TlsExpired:
            out += "A certificate in the server's chain has expired (now is after its notAfter).";
            break;
        case Reason::TlsNotYetValid:
            out += "A certificate in the server's chain is not yet valid (now is before its "
                   "notBefore).";
            break;
        case Reason::TlsIntermediateMissing:
            out += "The server did not send its intermediate certificate: install the full "
                   "chain (leaf, then intermediates) on the server.";
            break;
        case Reason::TlsLeafMissing:
            out += "The certificate chain presented by the server has no leaf certificate.";
            break;
        case Reason::TlsUntrustedRoot:
            out += "The server's chain ends in a root that is not a well-known CA while the "
                   "backend setting trusts well-known CAs only: upload that root as a trusted "
                   "root certificate.";
            break;
        case Reason::TlsRootMismatchNoRoot:
            out += "The server sent no root certificate and no trusted root of the backend "
                   "setting signed its intermediate.";
            break;
        case Reason::TlsRootMismatch:
            out += "The root certificate sent by the server is not among the backend setting's "
                   "trusted root certificates.";
            break;
        case Reason::TlsLeafNotTopmost:
            out += "The leaf certificate is not the first certificate of the chain the server "
                   "sent: fix the chain order.";
            break;
        case Reason::TlsVerifyOther:
            out += "The server's certificate could not be verified.";
            break;
        case Reason::TlsAlert:
            out += "The TLS handshake failed: the server sent an alert.";
            break;
        case Reason::TlsProtocolVersion:
            out += "The TLS handshake failed: no protocol version in common with the server.";
            break;
        case Reason::TlsHandshakeTimeout:
            out += "The TLS handshake did not complete within the probe timeout of ";
            append_duration_ms(out, t.timeout_ms);
            out += '.';
            break;
        case Reason::TlsHandshakeFailed:
            out += "The TLS handshake with the server failed.";
            break;
        case Reason::ProberNoFds:
        case Reason::ProberNoBuffers:
        case Reason::ProberNoPorts:
        case Reason::ProberRingFull:
        case Reason::ProberError:
            out += "The prober itself failed (";
            out += reason_info(reason).code;
            out += ")";
            append_errno(out, s.sys_errno);
            out += "; this says nothing about the server, whose health is kept from its last "
                   "probe.";
            break;
        case Reason::EngineUnreachable:
            out += "The health could not be retrieved from the engine.";
            break;
    }
    append_detail(out, s);
}

}  // namespace

void append_probe_log(std::string& out, const Snapshot& snap, std::uint32_t target_index) {
    const Effective e = effective(snap, target_index);
    if (e.reason == Reason::EngineUnreachable) {
        append_engine_unreachable(out, snap);
        return;
    }
    if (e.state == nullptr) {
        out += "The latest result could not be read consistently this time (the engine was "
               "rewriting it); read the report again.";
        return;
    }
    append_engine_log(out, snap, snap.info->targets[target_index], *e.state);
}

void append_result_words(std::string& out, const Snapshot& snap, std::uint32_t target_index) {
    const Effective e = effective(snap, target_index);
    if (e.reason == Reason::EngineUnreachable) {
        out += "engine ";
        out += engine_state_name(snap.engine);
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
