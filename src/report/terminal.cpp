// Terminal lines shared by the table and --troubleshoot (see terminal.hpp).
#include "report/terminal.hpp"

#include <algorithm>

#include "report/capacity_words.hpp"
#include "report/facts.hpp"
#include "report/text.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

std::string_view health_color(Health h) {
    switch (h) {
        case Health::Healthy: return kGreen;
        case Health::Unhealthy: return kRed;
        case Health::Unknown: return kYellow;
        case Health::OtherShard: return {};  // not this engine's to judge: no color
    }
    return kYellow;
}

void pad_to(std::string& out, std::size_t written, std::size_t width) {
    out.append(width > written ? width - written : 0, ' ');
    out += "  ";
}

// A mark for the fault: "XX", red on a terminal.
void append_mark(std::string& out, bool color) {
    if (color) {
        out += kRed;
        out += "XX";
        out += kReset;
    } else {
        out += "XX";
    }
}

// The yellow note a row's RESULT cell carries: the certificate early warning, DNS staleness.
std::string row_note(const Snapshot& snap, std::uint32_t t) {
    std::string note;
    std::int64_t days = 0;
    if (cert_expiring(snap, t, days)) {
        if (days >= 0) {
            note += "certificate expires in ";
            append_int(note, days);
            note += days == 1 ? " day" : " days";
        } else {
            note += "certificate expires soon";
        }
    }
    const Effective e = effective(snap, t);
    if (e.state != nullptr && (e.state->flags & abi::kStateDnsStale) != 0) {
        note += note.empty() ? "" : "; ";
        note += "probing last good addresses, DNS stale";
    }
    if (is_flapping(snap, t)) {
        note += note.empty() ? "" : "; ";
        note += "flapping";
    }
    std::uint64_t age_ns = 0;
    if (is_late(snap, t, age_ns)) {
        note += note.empty() ? "" : "; ";
        append_late_note(note, snap, t, age_ns);
    }
    return note;
}

namespace {

// "ok, 200" / "connect refused" for one address of a name.
void append_address_words(std::string& out, const abi::AddressStatePayload& a) {
    const auto reason = static_cast<Reason>(a.reason);
    if (reason == Reason::Ok && a.http_status != 0) {
        out += "ok, ";
        append_uint(out, a.http_status);
        return;
    }
    for (char ch : reason_info(reason).code) {
        out += ch == '_' ? ' ' : ch;
    }
    if (a.http_status != 0) {
        out += ", ";
        append_uint(out, a.http_status);
    }
}

}  // namespace

void append_timings(std::string& out, const abi::TargetStatePayload& s) {
    struct Phase {
        std::string_view name;
        std::uint32_t us;
    };
    const Phase phases[] = {{"dns", s.dns_us},
                            {"connect", s.connect_us},
                            {"tls", s.tls_us},
                            {"first byte", s.first_byte_us},
                            {"total", s.latency_us}};
    bool first = true;
    for (const Phase& p : phases) {
        out += first ? "" : ", ";
        first = false;
        out += p.name;
        out += ' ';
        if (p.us == 0) {
            out += '-';
        } else {
            append_us_as_ms(out, p.us);
        }
    }
}

namespace {

// "SNI sent: app.contoso.com; Host sent: app.contoso.com", what the probe put on the wire.
void tls_sent_line(std::string& out, const StaticInfo& info, const abi::TargetRecord& tr,
                   const abi::TlsFactsPayload* f, bool captured) {
    out += "SNI sent: ";
    if (captured && f->sni_sent == 0) {
        out += "none";
    } else if (tr.sni.length > 0) {
        append_printable(out, info.str(tr.sni));
    } else {
        out += "none (an IP literal, or no name to send)";
    }
    out += "; Host sent: ";
    if (tr.host.length > 0) {
        append_printable(out, info.str(tr.host));
    } else {
        out += "none (a Tls probe sends no request)";
    }
    out += '\n';
}

// "TLS: TLSv1.3 TLS_AES_128_GCM_SHA256, trust anchor /O=ringprobe/CN=Contoso Root CA, verified,
// 3 full + 9 resumed handshakes, captured 5 s ago".
void tls_session_line(std::string& out, const abi::TlsFactsPayload& f, std::uint64_t now_unix_ns) {
    out += "TLS: ";
    if (f.protocol[0] == '\0') {
        out += "handshake not completed";  // the certificates arrived, then it failed
    } else {
        append_printable(out, fixed_text(f.protocol));
        if (f.cipher[0] != '\0') {
            out += ' ';
            append_printable(out, fixed_text(f.cipher));
        }
    }
    out += ", trust anchor ";
    if (f.anchor[0] != '\0') {
        append_printable(out, fixed_text(f.anchor));
    } else {
        out += "none";
    }
    out += f.handshake_ok != 0 ? ", verified" : ", not verified";
    if (f.verify_error != 0) {
        out += " (verify error ";
        append_int(out, f.verify_error);
        out += ')';
    }
    out += ", ";
    append_uint(out, f.full_handshakes);
    out += " full + ";
    append_uint(out, f.resumed_handshakes);
    out += " resumed handshakes, captured ";
    append_age(out, now_unix_ns > f.captured_unix_ns ? now_unix_ns - f.captured_unix_ns : 0);
    out += " ago\n";
}

// One certificate of the chain, numbered from 1: subject (marked when the reason is about it),
// issuer and validity, SANs, fingerprint.
void tls_cert_lines(std::string& out, const abi::CertRecord& c, std::size_t i,
                    const CertFault& mark, std::string_view indent, bool color) {
    out += indent;
    out += "  [";
    append_uint(out, i + 1);
    out += "] ";
    out += c.is_ca == 0 ? "leaf " : c.self_issued != 0 ? "root " : "CA ";
    append_printable(out, fixed_text(c.subject));
    if (mark.index >= 0) {
        out += "  ";
        append_mark(out, color);
        out += ' ';
        out += mark.why;
    }
    out += '\n';
    out += indent;
    out += "      issuer ";
    append_printable(out, fixed_text(c.issuer));
    out += "; valid ";
    append_utc(out, c.not_before_s);
    out += " .. ";
    append_utc(out, c.not_after_s);
    out += '\n';
    if (c.sans[0] != '\0') {
        out += indent;
        out += "      SANs ";
        append_printable(out, fixed_text(c.sans));
        out += '\n';
    }
    out += indent;
    out += "      SHA-256 ";
    append_sha256(out, c.sha256);
    out += '\n';
}

// "chain: 2 certificates sent", then each certificate the facts hold.
void tls_chain_lines(std::string& out, const Snapshot& snap, std::uint32_t t,
                     const abi::TlsFactsPayload& f, std::string_view indent, bool color) {
    const Effective e = effective(snap, t);
    const auto marks = cert_faults(f, e.reason, snap.now_unix_ns);
    const std::size_t n = std::min<std::size_t>(f.chain_count, abi::kChainRecords);
    out += indent;
    out += "chain: ";
    append_uint(out, f.presented);
    out += f.presented == 1 ? " certificate sent" : " certificates sent";
    if (n < f.presented) {
        out += ", the first ";
        append_uint(out, n);
        out += " shown";
    }
    out += '\n';
    for (std::size_t i = 0; i < n; ++i) {
        tls_cert_lines(out, f.chain[i], i, marks[i], indent, color);
    }
}

// "earliest notAfter 2023-11-23T23:13:20Z (in 9 days; warning under 14 days)".
void tls_expiry_line(std::string& out, const abi::TlsFactsPayload& f, const abi::TargetRecord& tr,
                     std::uint64_t now_unix_ns) {
    out += "earliest notAfter ";
    append_utc(out, f.earliest_not_after_s);
    const std::int64_t days = days_until(f.earliest_not_after_s, now_unix_ns);
    out += days >= 0 ? " (in " : " (";
    append_int(out, days >= 0 ? days : -days);
    out += days >= 0 ? " days" : " days ago";
    if (tr.expiry_warning_days != 0) {
        out += "; warning under ";
        append_uint(out, tr.expiry_warning_days);
        out += " days";
    }
    out += ")\n";
}

}  // namespace

void append_tls_lines(std::string& out, const Snapshot& snap, std::uint32_t t,
                      std::string_view indent, bool color) {
    const StaticInfo& info = *snap.info;
    const abi::TargetRecord& tr = info.targets[t];
    const abi::TlsFactsPayload* f = tls_facts(snap, t);
    const bool captured = f != nullptr && f->captured_unix_ns != 0;
    out += indent;
    tls_sent_line(out, info, tr, f, captured);
    out += indent;
    if (!captured) {
        out += "TLS: no full handshake captured yet\n";
        return;
    }
    tls_session_line(out, *f, snap.now_unix_ns);
    tls_chain_lines(out, snap, t, *f, indent, color);
    if (f->earliest_not_after_s != 0) {
        out += indent;
        tls_expiry_line(out, *f, tr, snap.now_unix_ns);
    }
}

void append_dns_lines(std::string& out, const Snapshot& snap, std::uint32_t t,
                      std::string_view indent, bool color) {
    out += indent;
    append_dns_standing(out, snap, t);
    out += '\n';
    for (const abi::AddressStatePayload& a : address_states(snap, t)) {
        if (a.family == 0) {
            continue;
        }
        out += indent;
        out += "  ";
        const std::size_t start = out.size();
        append_ip(out, a);
        out.append(out.size() - start < 16 ? 16 - (out.size() - start) : 1, ' ');
        const auto h = static_cast<Health>(a.health);
        if (h == Health::Unhealthy) {
            append_mark(out, color);
            out += ' ';
        }
        if (color) {
            out += health_color(h);
        }
        out += health_name(h);
        if (color) {
            out += kReset;
        }
        out += "  ";
        append_address_words(out, a);
        if (a.latency_us != 0) {
            out += ", ";
            append_us_as_ms(out, a.latency_us);
        }
        if (a.sys_errno != 0) {
            out += ", errno ";
            append_int(out, a.sys_errno);
        }
        out += '\n';
    }
}

}  // namespace ringprobe::report
