// The troubleshoot view's TLS chain and DNS sections (see chain_view.hpp).
#include "exporter/chain_view.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include "common/text.hpp"
#include "exporter/metrics.hpp"
#include "exporter/page.hpp"
#include "report/sentences.hpp"

namespace ringprobe::exporter {

namespace abi = report_abi;

namespace {

// A fixed-size text field of the report: up to its first NUL, never past its end.
template <std::size_t N>
std::string_view field(const char (&s)[N]) {
    return std::string_view(s, strnlen(s, N));
}

std::uint8_t described(const abi::TlsFactsPayload& f) {
    return f.chain_count <= abi::kChainRecords ? f.chain_count : abi::kChainRecords;
}

// The leaf: the first certificate that is not a CA; 0 when every one is.
std::uint8_t leaf_index(const abi::TlsFactsPayload& f) {
    for (std::uint8_t i = 0; i < described(f); ++i) {
        if (f.chain[i].is_ca == 0) {
            return i;
        }
    }
    return 0;
}

ChainFault cert(std::uint8_t i, std::string_view why) {
    return ChainFault{ChainPart::Cert, i, false, why};
}

ChainFault part(ChainPart p, std::string_view why) {
    return ChainFault{p, 0, false, why};
}

ChainFault validity_fault(const abi::TlsFactsPayload& f, bool expired) {
    const auto at = static_cast<std::int64_t>(f.captured_unix_ns / 1'000'000'000ull);
    for (std::uint8_t i = 0; i < described(f); ++i) {
        const abi::CertRecord& c = f.chain[i];
        if (expired ? c.not_after_s < at : c.not_before_s > at) {
            return cert(i, expired ? "this certificate had expired at the handshake"
                                   : "this certificate was not yet valid at the handshake");
        }
    }
    return part(ChainPart::Anchor, expired ? "the trust anchor had expired at the handshake"
                                           : "the trust anchor was not yet valid at the handshake");
}

ChainFault top_fault(const abi::TlsFactsPayload& f, std::string_view sent_root_why,
                     std::string_view no_root_why) {
    const std::uint8_t n = described(f);
    if (n > 0 && f.chain[n - 1].self_issued != 0) {
        return cert(static_cast<std::uint8_t>(n - 1), sent_root_why);
    }
    return part(ChainPart::Anchor, no_root_why);
}

ChainFault expiring_fault(const abi::TlsFactsPayload& f) {
    for (std::uint8_t i = 0; i < described(f); ++i) {
        if (f.chain[i].not_after_s == f.earliest_not_after_s) {
            ChainFault c =
                cert(i, "this certificate expires first, inside the early-warning period");
            c.warning = true;
            return c;
        }
    }
    ChainFault c =
        part(ChainPart::Anchor, "the trust anchor expires inside the early-warning period");
    c.warning = true;
    return c;
}

}  // namespace

ChainFault chain_fault(const abi::TlsFactsPayload& f, Reason reason, bool expiring) {
    switch (reason) {
        case Reason::TlsExpired: return validity_fault(f, true);
        case Reason::TlsNotYetValid: return validity_fault(f, false);
        case Reason::TlsNameMismatch:
            return cert(leaf_index(f), "the leaf's names do not match the name probed (SNI/host)");
        case Reason::TlsLeafNotTopmost: return cert(leaf_index(f), "the leaf was not sent first");
        case Reason::TlsLeafMissing: return part(ChainPart::MissingLeaf, "the server sent no leaf");
        case Reason::TlsIntermediateMissing:
            return part(ChainPart::MissingIssuer,
                        "the issuer of the topmost certificate sent is missing: neither sent nor "
                        "trusted");
        case Reason::TlsUntrustedRoot:
            return top_fault(f, "the root sent is not a well-known CA",
                             "the chain ends in a root that is not a well-known CA");
        case Reason::TlsRootMismatch:
            return top_fault(f, "the root sent is not among the trusted roots",
                             "none of the trusted roots is the chain's root");
        case Reason::TlsRootMismatchNoRoot:
            return part(ChainPart::Anchor,
                        "no root sent, and no trusted root signed the topmost certificate");
        case Reason::TlsVerifyOther:
            return part(ChainPart::WholeChain,
                        "verification failed without naming a certificate (a signature?)");
        default: break;
    }
    if (report::fault_part(reason) == report::FaultPart::Handshake) {
        return part(ChainPart::Handshake,
                    "the handshake failed apart from the certificates; the chain below is "
                    "from the last full handshake");
    }
    if (expiring && f.captured_unix_ns != 0) {
        return expiring_fault(f);
    }
    return ChainFault{};
}

namespace {

// ---- TLS -------------------------------------------------------------------------------------

std::string_view role_of(const abi::CertRecord& c) {
    if (c.is_ca == 0) {
        return "leaf";
    }
    return c.self_issued != 0 ? "root" : "intermediate";
}

// The CN of a one-line DN ("/CN=ringprobe Test Root CA/O=ringprobe tests"), else the DN.
std::string_view common_name(std::string_view dn) {
    const std::size_t p = dn.find("CN=");
    if (p == std::string_view::npos) {
        return dn;
    }
    const std::string_view rest = dn.substr(p + 3);
    return rest.substr(0, rest.find_first_of("/,"));
}

// The drawing's items, left (ringprobe's trust anchor) to right (the first certificate the
// backend sent): what ringprobe trusts, a gap where the issuer is missing, the chain from the
// last certificate sent to the first, a gap where the leaf is missing.
enum class ItemKind : std::uint8_t { Anchor, Gap, Cert };
struct Item {
    ItemKind kind;
    std::uint8_t cert;
};

void svg_box(std::string& out, std::string_view id, int x, std::string_view line1,
             std::string_view line2, std::string_view line3, std::string_view cls, bool dashed) {
    const bool faulty = cls == "faulty";
    const bool warn = cls == "expiring";
    out += "<g id=\"";
    out += id;
    out += "\"";
    if (!cls.empty()) {
        out += " class=\"";
        out += cls;
        out += "\"";
    }
    out += "><rect x=\"";
    report::append_int(out, x);
    out += "\" y=\"10\" width=\"160\" height=\"78\" rx=\"6\" fill=\"";
    out += faulty ? "#fde7e9" : (warn ? "#fff4ce" : "#fff");
    out += "\" stroke=\"";
    out += faulty ? "#c50f1f" : (warn ? "#8a6d00" : "#5a6b80");
    out += faulty ? "\" stroke-width=\"3\"" : "\" stroke-width=\"1.5\"";
    out += dashed ? " stroke-dasharray=\"6 4\"/>" : "/>";
    const std::string_view lines[3] = {line1, line2, line3};
    for (int k = 0; k < 3; ++k) {
        out += "<text x=\"";
        report::append_int(out, x + 80);
        out += "\" y=\"";
        report::append_int(out, 32 + 20 * k);
        out += "\" text-anchor=\"middle\"";
        out += k == 0 ? " font-weight=\"600\"" : "";
        out += faulty ? " fill=\"#c50f1f\">" : ">";
        // Long names are cut so a box stays a box; the table below has them whole.
        const std::string_view l = lines[k];
        append_html_escaped(out, l.substr(0, 21));
        out += l.size() > 21 ? "&hellip;" : "";
        out += "</text>";
    }
    out += "</g>";
}

void chain_svg(std::string& out, const abi::TlsFactsPayload& f, const ChainFault& fault) {
    Item items[abi::kChainRecords + 2];
    std::size_t n = 0;
    items[n++] = Item{ItemKind::Anchor, 0};
    if (fault.part == ChainPart::MissingIssuer) {
        items[n++] = Item{ItemKind::Gap, 0};
    }
    for (std::uint8_t i = described(f); i > 0; --i) {
        items[n++] = Item{ItemKind::Cert, static_cast<std::uint8_t>(i - 1)};
    }
    if (fault.part == ChainPart::MissingLeaf) {
        items[n++] = Item{ItemKind::Gap, 0};
    }
    const std::string_view mark = fault.warning ? "expiring" : "faulty";
    // Drawn at its own scale (at most 200 px a box), narrower on a phone.
    out += "<svg id=\"chain\" viewBox=\"-2 0 ";
    report::append_uint(out, n * 200);
    out += " 100\" width=\"100%\" style=\"max-width:";
    report::append_uint(out, n * 200);
    out +=
        "px\" role=\"img\" aria-label=\"certificate chain from ringprobe's "
        "trust anchor to the leaf the backend sent; faulty part: ";
    append_html_escaped(out, fault.part == ChainPart::None ? "none" : fault.why);
    out += "\">";
    for (std::size_t k = 0; k < n; ++k) {
        const int x = static_cast<int>(k) * 200;
        if (k > 0) {  // "issued by" points from a certificate to its issuer on the left
            out += "<line x1=\"";
            report::append_int(out, x);
            out += "\" y1=\"49\" x2=\"";
            report::append_int(out, x - 40);
            out += "\" y2=\"49\" stroke=\"#5a6b80\" stroke-width=\"2\"/><path d=\"M";
            report::append_int(out, x - 40);
            out += " 49 l8 -5 v10 z\" fill=\"#5a6b80\"/>";
        }
        const Item& it = items[k];
        if (it.kind == ItemKind::Anchor) {
            const std::string_view anchor = field(f.anchor);
            svg_box(out, "chain-anchor", x, "ringprobe trusts",
                    anchor.empty() ? std::string_view("no anchor matched") : common_name(anchor),
                    "trust anchor", fault.part == ChainPart::Anchor ? mark : "", false);
        } else if (it.kind == ItemKind::Gap) {
            // The missing issuer is named by the topmost certificate sent.
            const std::uint8_t top = described(f);
            const bool leaf = fault.part == ChainPart::MissingLeaf;
            svg_box(out, "chain-gap", x, leaf ? "missing leaf" : "missing issuer",
                    leaf || top == 0 ? std::string_view("not sent")
                                     : common_name(field(f.chain[top - 1].issuer)),
                    leaf ? "" : "not sent, not trusted", "faulty", true);
        } else {
            const abi::CertRecord& c = f.chain[it.cert];
            std::string id = "chain-cert-";
            report::append_uint(id, it.cert);
            std::string until = "until ";
            append_utc(until, c.not_after_s);
            until.resize(until.size() - 10);  // the date is enough in a box
            const bool marked = fault.part == ChainPart::WholeChain ||
                                (fault.part == ChainPart::Cert && fault.cert == it.cert);
            std::string title(role_of(c));
            title += " #";
            report::append_uint(title, it.cert + 1u);
            svg_box(out, id, x, title, field(c.common_name), until, marked ? mark : "", false);
        }
    }
    out += "</svg>\n";
}

void append_hex(std::string& out, const std::uint8_t (&sha)[32]) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < 32; ++i) {
        out += kHex[sha[i] >> 4];
        out += kHex[sha[i] & 15];
    }
}

void chain_table(std::string& out, const abi::TlsFactsPayload& f, const ChainFault& fault) {
    out +=
        "<table id=\"chain-table\"><thead><tr><th>Sent</th><th>Role</th><th>Subject</th>"
        "<th>Issuer</th><th>Valid from</th><th>Valid until</th><th>SHA-256</th></tr></thead>"
        "<tbody>";
    const std::string_view mark = fault.warning ? "expiring" : "faulty";
    for (std::uint8_t i = 0; i < described(f); ++i) {
        const abi::CertRecord& c = f.chain[i];
        const bool marked = fault.part == ChainPart::WholeChain ||
                            (fault.part == ChainPart::Cert && fault.cert == i);
        out += "<tr id=\"cert-";
        report::append_uint(out, i);
        out += "\"";
        if (marked) {
            out += " class=\"";
            out += mark;
            out += "\"";
        }
        out += "><td>";
        report::append_uint(out, i + 1u);
        out += "</td><td>";
        out += role_of(c);
        out += "</td><td>";
        append_html_escaped(out, field(c.subject));
        if (c.sans[0] != '\0') {
            out += "<br><span class=\"muted\">SAN ";
            append_html_escaped(out, field(c.sans));
            out += "</span>";
        }
        out += "</td><td>";
        append_html_escaped(out, field(c.issuer));
        out += "</td><td>";
        append_utc(out, c.not_before_s);
        out += "</td><td>";
        append_utc(out, c.not_after_s);
        out += "</td><td><code class=\"sha\">";
        append_hex(out, c.sha256);
        out += "</code></td></tr>";
    }
    if (f.presented > described(f)) {
        out += "<tr><td colspan=\"7\" class=\"muted\">";
        report::append_uint(out, f.presented - described(f));
        out += " more certificate(s) sent, not described</td></tr>";
    }
    out += "</tbody></table>\n";
}

void tls_facts_line(std::string& out, const report::Snapshot& snap, const abi::TlsFactsPayload& f) {
    out += "<p id=\"tls-facts\">Certificates last presented ";
    report::append_age(
        out, snap.now_unix_ns > f.captured_unix_ns ? snap.now_unix_ns - f.captured_unix_ns : 0);
    out += " ago";
    if (f.protocol[0] != '\0') {
        out += " (";
        append_html_escaped(out, field(f.protocol));
        if (f.cipher[0] != '\0') {
            out += ", ";
            append_html_escaped(out, field(f.cipher));
        }
        out += ")";
    }
    out += ": the server sent ";
    report::append_uint(out, f.presented);
    out += " certificate(s); SNI ";
    out += f.sni_sent != 0 ? "sent" : "not sent";
    out += "; verified ";
    out += f.handshake_ok != 0 ? "as configured" : "<b class=\"faulty\">no</b>";
    if (f.verify_error != 0) {
        out += " (verify error ";
        report::append_int(out, f.verify_error);
        out += ")";
    }
    out += "; trust anchor ";
    if (f.anchor[0] != '\0') {
        append_html_escaped(out, field(f.anchor));
    } else {
        out += "none matched";
    }
    out += ". Earliest expiry ";
    if (f.earliest_not_after_s != 0) {
        append_utc(out, f.earliest_not_after_s);
    } else {
        out += "unknown";
    }
    out += ". Handshakes completed by this target: ";
    report::append_uint(out, f.full_handshakes);
    out += " full and ";
    report::append_uint(out, f.resumed_handshakes);
    out += " resumed.</p>\n";
}

// ---- DNS -------------------------------------------------------------------------------------

constexpr std::string_view kStandings[5] = {
    "pending (first lookup not finished)", "fresh (from the latest lookup)",
    "stale (the latest lookup failed; last good kept)", "never resolved", "no address left"};

void append_address(std::string& out, const abi::AddressStatePayload& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(a.family == 6 ? AF_INET6 : AF_INET, a.address, buf, sizeof buf) != nullptr) {
        out += buf;
    } else {
        out += "?";
    }
}

void append_ago(std::string& out, const report::Snapshot& snap, std::uint64_t unix_ns) {
    if (unix_ns == 0) {
        out += "&ndash;";
        return;
    }
    report::append_age(out, snap.now_unix_ns > unix_ns ? snap.now_unix_ns - unix_ns : 0);
    out += " ago";
}

}  // namespace

void append_tls_section(std::string& out, const report::Snapshot& snap, std::uint32_t target) {
    const report::StaticInfo& info = *snap.info;
    const abi::TargetRecord& t = info.targets[target];
    out += "<h2>TLS certificate chain</h2><div id=\"tls\">";
    if (t.tls_slot == abi::kNoSlot) {
        out += "<p class=\"muted\">Not a TLS probe.</p></div>\n";
        return;
    }
    if (t.tls_slot >= snap.tls.size() || snap.tls[t.tls_slot].captured_unix_ns == 0) {
        out +=
            "<p class=\"muted\" id=\"tls-none\">No full handshake has reached the "
            "certificates yet: there is no chain to draw.</p></div>\n";
        return;
    }
    const abi::TlsFactsPayload& f = snap.tls[t.tls_slot];
    const report::Effective e = report::effective(snap, target);
    const bool expiring = e.state != nullptr && (e.state->flags & abi::kStateCertExpiring) != 0;
    const ChainFault fault = chain_fault(f, e.reason, expiring);
    tls_facts_line(out, snap, f);
    out +=
        "<p class=\"muted\">ringprobe (left) checks the chain the backend sent (right): each "
        "certificate points at its issuer.</p>";
    chain_svg(out, f, fault);
    out += "<p id=\"chain-fault\">";
    if (fault.part == ChainPart::None) {
        out += "Nothing in the chain is at fault.";
    } else {
        out +=
            fault.warning ? "Warning: <b class=\"expiring\">" : "Faulty part: <b class=\"faulty\">";
        append_html_escaped(out, fault.why);
        out += "</b>.";
    }
    out += "</p>";
    chain_table(out, f, fault);
    out += "</div>\n";
}

void append_dns_section(std::string& out, const report::Snapshot& snap, std::uint32_t target) {
    const report::StaticInfo& info = *snap.info;
    const abi::TargetRecord& t = info.targets[target];
    if (t.name_slot == abi::kNoSlot) {
        return;
    }
    out += "<h2>DNS</h2><div id=\"dns\">";
    if (t.name_slot >= snap.names.size()) {
        out += "<p class=\"muted\">What DNS said could not be read.</p></div>\n";
        return;
    }
    const abi::NameStatePayload& n = snap.names[t.name_slot];
    out += "<p id=\"dns-name\">";
    append_html_escaped(out, info.str(t.address));
    out += ": ";
    out += n.standing < std::size(kStandings) ? kStandings[n.standing] : "unknown standing";
    out += "; last lookup ";
    out += n.last_outcome < std::size(kDnsOutcomeCodes) ? kDnsOutcomeCodes[n.last_outcome] : "?";
    out += ", ";
    append_ago(out, snap, n.last_lookup_unix_ns);
    out += "; last answer with addresses ";
    append_ago(out, snap, n.last_good_unix_ns);
    out += "; TTL ";
    report::append_uint(out, n.ttl_s);
    out += " s; ";
    report::append_uint(out, n.lookups);
    out += " lookups. ";
    report::append_uint(out, n.address_count);
    out += " address(es) probed";
    out += n.truncated != 0 ? " (the answer had more than are kept)." : ".";
    out +=
        "</p>\n<table id=\"addresses\"><thead><tr><th>Address</th><th>Health</th>"
        "<th>Latest probe</th><th>Latency</th><th>In the answer since</th>"
        "<th>Last probe</th></tr></thead><tbody>";
    const std::size_t base = std::size_t{t.name_slot} * abi::kAddressesPerName;
    std::size_t shown = 0;
    for (std::size_t k = 0; k < abi::kAddressesPerName && base + k < snap.addresses.size(); ++k) {
        const abi::AddressStatePayload& a = snap.addresses[base + k];
        if (a.family == 0) {
            continue;
        }
        ++shown;
        const auto h = static_cast<Health>(a.health <= 2 ? a.health : 0);
        out += "<tr id=\"addr-";
        report::append_uint(out, k);
        out += "\" data-health=\"";
        out += health_name(h);
        out += "\"><td>";
        append_address(out, a);
        out += "</td><td>";
        out += health_name(h);
        out += "</td><td><code>";
        out += reason_info(static_cast<Reason>(a.reason)).code;
        out += "</code>";
        if (a.http_status != 0) {
            out += " ";
            report::append_uint(out, a.http_status);
        }
        out += "</td><td>";
        if (a.latency_us != 0) {
            report::append_uint(out, a.latency_us / 1000);
            out += '.';
            report::append_uint(out, a.latency_us % 1000 / 100);
            out += " ms";
        } else {
            out += "&ndash;";
        }
        out += "</td><td>";
        append_ago(out, snap, a.since_unix_ns);
        out += "</td><td>";
        append_ago(out, snap, a.last_probe_unix_ns);
        out += "</td></tr>";
    }
    if (shown == 0) {
        out += "<tr><td colspan=\"6\" class=\"muted\">no address to probe</td></tr>";
    }
    out += "</tbody></table></div>\n";
}

}  // namespace ringprobe::exporter
