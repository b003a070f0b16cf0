// --troubleshoot (see render.hpp): for each row the drawing client -> ringprobe -> server with
// the faulty part marked, what is wrong, what to change, then the facts.
#include "report/render.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include <ringprobe/protocol.hpp>

#include "report/facts.hpp"
#include "report/fault_part.hpp"
#include "report/probe_log.hpp"
#include "report/remedy.hpp"
#include "report/terminal.hpp"
#include "report/text.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

bool iequal(std::string_view a, std::string_view b) {
    auto lower = [](char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch; };
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

enum class LinkState : std::uint8_t { Ok, Faulty, Unknown };

struct DrawBox {
    std::string title;
    std::string sub;
    bool faulty = false;
};

struct DrawLink {
    std::string label;
    LinkState state = LinkState::Ok;
};

// Three boxes joined by two arrows, four text lines:
//   +--------+   report   +-----------+  TLS :443   +-----------------+
//   | client |----------->| ringprobe |-----XX----->| 10.0.0.5:443    |
//   | reader |            | prober    |             | XX certificate  |
//   +--------+            +-----------+             +-----------------+
void draw(std::string& out, const std::array<DrawBox, 3>& boxes,
          const std::array<DrawLink, 2>& links, bool color) {
    std::array<std::size_t, 3> inner{};
    for (std::size_t b = 0; b < 3; ++b) {
        inner[b] = std::max(boxes[b].title.size(), boxes[b].sub.size()) + 2;
    }
    std::array<std::size_t, 2> span{};
    for (std::size_t l = 0; l < 2; ++l) {
        span[l] = std::max<std::size_t>(links[l].label.size() + 4, 13);
    }
    auto paint = [&](bool red, auto&& body) {
        if (red && color) {
            out += kRed;
        }
        body();
        if (red && color) {
            out += kReset;
        }
    };
    auto border = [&](std::size_t b) {
        paint(boxes[b].faulty, [&] {
            out += '+';
            out.append(inner[b], '-');
            out += '+';
        });
    };
    auto cell = [&](std::size_t b, const std::string& text, bool red_text) {
        paint(boxes[b].faulty, [&] { out += '|'; });
        out += ' ';
        paint(red_text, [&] { out += text; });
        out.append(inner[b] - 1 - text.size(), ' ');
        paint(boxes[b].faulty, [&] { out += '|'; });
    };
    auto label = [&](std::size_t l) {
        const std::string& t = links[l].label;
        const std::size_t left = (span[l] - t.size()) / 2;
        out.append(left, ' ');
        paint(links[l].state == LinkState::Faulty, [&] { out += t; });
        out.append(span[l] - t.size() - left, ' ');
    };
    auto arrow = [&](std::size_t l) {
        const std::size_t w = span[l];
        paint(links[l].state == LinkState::Faulty, [&] {
            std::string a(w - 1, '-');
            if (links[l].state == LinkState::Unknown) {
                for (std::size_t i = 1; i < a.size(); i += 2) {
                    a[i] = ' ';
                }
            } else if (links[l].state == LinkState::Faulty) {
                a[(w - 1) / 2 - 1] = 'X';
                a[(w - 1) / 2] = 'X';
            }
            out += a;
            out += '>';
        });
    };
    out += "  ";
    border(0);
    label(0);
    border(1);
    label(1);
    border(2);
    out += "\n  ";
    cell(0, boxes[0].title, false);
    arrow(0);
    cell(1, boxes[1].title, false);
    arrow(1);
    cell(2, boxes[2].title, false);
    out += "\n  ";
    cell(0, boxes[0].sub, boxes[0].faulty);
    out.append(span[0], ' ');
    cell(1, boxes[1].sub, boxes[1].faulty);
    out.append(span[1], ' ');
    cell(2, boxes[2].sub, boxes[2].faulty);
    out += "\n  ";
    border(0);
    out.append(span[0], ' ');
    border(1);
    out.append(span[1], ' ');
    border(2);
    out += '\n';
}

std::string_view link_protocol(Protocol p) {
    switch (p) {
        case Protocol::Http: return "HTTP";
        case Protocol::Https: return "HTTPS";
        case Protocol::Tcp: return "TCP";
        case Protocol::Tls: return "TLS";
    }
    return "TCP";
}

void troubleshoot_drawing(std::string& out, const Snapshot& snap, std::uint32_t row_index,
                          FaultPart part, bool color) {
    const StaticInfo& info = *snap.info;
    const abi::RowRecord& r = info.rows[row_index];
    const abi::TargetRecord& t = info.targets[r.target_index];
    const Effective e = effective(snap, r.target_index);
    std::string words;
    append_result_words(words, snap, r.target_index);

    std::array<DrawBox, 3> boxes;
    std::array<DrawLink, 2> links;
    boxes[0] = DrawBox{"client", "this reader", false};
    boxes[1] = DrawBox{"ringprobe", "gateway ", false};
    append_printable(boxes[1].sub, info.gateway_name());
    if (part == FaultPart::Prober) {
        boxes[1].faulty = true;
        boxes[1].sub = "XX " + words;
    } else if (part == FaultPart::ClientCertificate) {
        boxes[1].faulty = true;  // the probe is the TLS client: its certificate is at fault
        boxes[1].sub = "XX client certificate: " + words;
    }
    boxes[2].title.clear();
    append_printable(boxes[2].title, info.str(t.address));  // the probe's, without a port
    boxes[2].title += ':';
    append_uint(boxes[2].title, t.port);
    boxes[2].sub = health_name(e.health);
    if (part == FaultPart::Certificate) {
        boxes[2].faulty = true;
        boxes[2].sub = "XX certificate: ";
        const abi::TlsFactsPayload* f = tls_facts(snap, r.target_index);
        std::string_view why;
        if (f != nullptr && f->captured_unix_ns != 0) {
            for (const CertFault& m : cert_faults(*f, e.reason, snap.now_unix_ns)) {
                if (m.index >= 0) {
                    why = m.why;
                    break;
                }
            }
        }
        if (why.empty()) {
            boxes[2].sub += words.substr(words.rfind("tls ", 0) == 0 ? 4 : 0);
        } else {
            boxes[2].sub += why;
        }
    } else if (part == FaultPart::Server) {
        boxes[2].faulty = true;
        boxes[2].sub = "XX ";
        if (e.reason == Reason::StatusMismatch && e.state != nullptr) {
            boxes[2].sub += "got ";
            append_uint(boxes[2].sub, e.state->http_status);
            boxes[2].sub += ", want ";
            append_printable(boxes[2].sub, info.str(t.match_status));
        } else {
            boxes[2].sub += words;
        }
    }
    links[0] = DrawLink{"report", part == FaultPart::Report ? LinkState::Faulty : LinkState::Ok};
    links[1].label = link_protocol(static_cast<Protocol>(t.protocol));
    links[1].label += " :";
    append_uint(links[1].label, t.port);
    switch (part) {
        case FaultPart::Resolution:
            links[1] = DrawLink{"DNS " + std::string(words), LinkState::Faulty};
            break;
        case FaultPart::Link:
            links[1] = DrawLink{"TCP :" + std::to_string(t.port), LinkState::Faulty};
            break;
        case FaultPart::Handshake:
        case FaultPart::ClientCertificate:
            links[1] = DrawLink{"TLS :" + std::to_string(t.port), LinkState::Faulty};
            break;
        case FaultPart::Report:
        case FaultPart::Prober: links[1].state = LinkState::Unknown; break;
        case FaultPart::None:
            links[1].state = e.reason == Reason::Ok ? LinkState::Ok : LinkState::Unknown;
            break;
        default: break;
    }
    draw(out, boxes, links, color);
}

// "Troubleshoot 10.1.0.4: pool api, backend setting http80 (80/Http)", then a blank line.
void troubleshoot_heading(std::string& out, const StaticInfo& info, const abi::RowRecord& r) {
    const abi::SettingRecord& st = info.settings[r.setting_index];
    out += "Troubleshoot ";
    append_printable(out, info.str(info.servers[r.server_index].address));
    out += ": pool ";
    append_printable(out, info.str(info.pools[r.pool_index].name));
    out += ", backend setting ";
    append_printable(out, info.str(st.name));
    out += " (";
    append_uint(out, st.port);
    out += '/';
    out += protocol_name(static_cast<Protocol>(st.protocol));
    out += ")\n\n";
}

// Under the drawing, for a server given by name: what its resolution says, marked when the
// resolution is the faulty part.
void troubleshoot_resolution(std::string& out, const Snapshot& snap, const abi::RowRecord& r,
                             FaultPart part, bool color) {
    const StaticInfo& info = *snap.info;
    const abi::TargetRecord& t = info.targets[r.target_index];
    if (t.name_slot == abi::kNoSlot) {
        return;
    }
    out += "  ";
    if (part == FaultPart::Resolution) {
        append_mark(out, color);
        out += ' ';
    }
    out += "resolution of ";
    append_printable(out, info.str(t.address));
    out += ": ";
    append_dns_standing(out, snap, r.target_index);
    out += '\n';
}

// The faulty part, what is wrong (the probe log), what to change (the remedy), and the
// certificate early warning.
void troubleshoot_verdict(std::string& out, const Snapshot& snap, std::uint32_t row_index,
                          FaultPart part, bool color) {
    const abi::RowRecord& r = snap.info->rows[row_index];
    out += "Faulty part: ";
    if (part != FaultPart::None) {
        append_mark(out, color);
        out += ' ';
    }
    out += fault_part_words(part);
    out += ".\nWhat is wrong: ";
    std::string log;
    append_probe_log(log, snap, r.target_index);
    append_printable(out, log);
    out += "\nWhat to change: ";
    std::string remedy;
    append_remedy(remedy, snap, row_index);
    append_printable(out, remedy);
    std::int64_t days = 0;
    if (cert_expiring(snap, r.target_index, days)) {
        out += "\nWarning: ";
        if (color) {
            out += kYellow;
        }
        out += row_note(snap, r.target_index);
        if (color) {
            out += kReset;
        }
        out += '.';
    }
}

// "health: Unhealthy (connect_refused), 3 failures in a row, last probe 3 s ago".
void troubleshoot_health(std::string& out, const Snapshot& snap, const Effective& e) {
    out += "health: ";
    out += health_name(e.health);
    out += " (";
    out += reason_info(e.reason).code;
    out += ')';
    if (e.state != nullptr) {
        const abi::TargetStatePayload& s = *e.state;
        if (s.consecutive_fail > 0) {
            out += ", ";
            append_uint(out, s.consecutive_fail);
            out += s.consecutive_fail == 1 ? " failure" : " failures";
            out += " in a row";
        } else if (s.consecutive_ok > 0) {
            out += ", ";
            append_uint(out, s.consecutive_ok);
            out += " successes in a row";
        }
        if (s.last_probe_unix_ns != 0) {
            out += ", last probe ";
            append_age(out, snap.now_unix_ns > s.last_probe_unix_ns
                                ? snap.now_unix_ns - s.last_probe_unix_ns
                                : 0);
            out += " ago";
        }
    } else {
        out += ", engine ";
        out += engine_state_name(snap.engine);
    }
}

// "probe: Http 10.1.0.4:80, GET /, expects 200-399, every 5 s, timeout 2500 ms", and the
// newline.
void troubleshoot_probe(std::string& out, const StaticInfo& info, const abi::TargetRecord& t) {
    const auto proto = static_cast<Protocol>(t.protocol);
    out += "probe: ";
    out += protocol_name(proto);
    out += ' ';
    append_printable(out, info.str(t.address));
    out += ':';
    append_uint(out, t.port);
    if (protocol_is_http(proto)) {
        out += ", GET ";
        append_printable(out, info.str(t.path));
        out += ", expects ";
        append_printable(out, info.str(t.match_status));
        if (t.match_body.length > 0) {
            out += " and a body containing \"";
            append_printable(out, info.str(t.match_body));
            out += '"';
        }
    }
    out += ", every ";
    append_duration_ms(out, t.interval_ms);
    out += ", timeout ";
    append_duration_ms(out, t.timeout_ms);
    out += '\n';
}

// The facts that only some probes have: timings, the detail, TLS or the Host sent, DNS.
void troubleshoot_details(std::string& out, const Snapshot& snap, std::uint32_t target,
                          const Effective& e, bool color) {
    const StaticInfo& info = *snap.info;
    const abi::TargetRecord& t = info.targets[target];
    const auto proto = static_cast<Protocol>(t.protocol);
    if (e.state != nullptr && e.state->last_probe_unix_ns != 0) {
        out += "  timings: ";
        append_timings(out, *e.state);
        out += '\n';
    }
    if (e.state != nullptr && e.state->detail_len > 0) {
        out += "  detail: ";
        append_printable(out, std::string_view(e.state->detail, e.state->detail_len));
        out += '\n';
    }
    if (protocol_is_tls(proto)) {
        append_tls_lines(out, snap, target, "  ", color);
    } else if (protocol_is_http(proto)) {
        out += "  Host sent: ";
        append_printable(out, info.str(t.host));
        out += '\n';
    }
    if (t.name_slot != abi::kNoSlot) {
        append_dns_lines(out, snap, target, "  ", color);
    }
}

void troubleshoot_one(std::string& out, const Snapshot& snap, std::uint32_t row_index, bool color) {
    const abi::RowRecord& r = snap.info->rows[row_index];
    const Effective e = effective(snap, r.target_index);
    const FaultPart part = fault_part(e.reason);
    troubleshoot_heading(out, *snap.info, r);
    troubleshoot_drawing(out, snap, row_index, part, color);
    troubleshoot_resolution(out, snap, r, part, color);
    out += '\n';
    troubleshoot_verdict(out, snap, row_index, part, color);
    out += "\n\nFacts:\n  ";
    troubleshoot_health(out, snap, e);
    out += "\n  ";
    troubleshoot_probe(out, *snap.info, snap.info->targets[r.target_index]);
    troubleshoot_details(out, snap, r.target_index, e, color);
}

}  // namespace

std::vector<std::uint32_t> find_rows(const Snapshot& snap, std::string_view server,
                                     std::string_view pool, std::string_view setting) {
    const StaticInfo& info = *snap.info;
    std::vector<std::uint32_t> exact;
    std::vector<std::uint32_t> folded;  // FQDNs compare without case
    for (std::uint32_t i = 0; i < info.rows.size(); ++i) {
        const abi::RowRecord& r = info.rows[i];
        if (!pool.empty() && info.str(info.pools[r.pool_index].name) != pool) {
            continue;
        }
        if (!setting.empty() && info.str(info.settings[r.setting_index].name) != setting) {
            continue;
        }
        const std::string_view address = info.str(info.servers[r.server_index].address);
        if (address == server) {
            exact.push_back(i);
        } else if (iequal(address, server)) {
            folded.push_back(i);
        }
    }
    return exact.empty() ? folded : exact;
}

std::string render_troubleshoot(const Snapshot& snap, std::span<const std::uint32_t> rows,
                                bool color) {
    std::string out;
    out.reserve(4096 * rows.size());
    if (snap.engine != EngineState::Live) {
        out += "warning: the health could not be retrieved from the engine (";
        out += engine_state_name(snap.engine);
        out += "); what follows is its last report.\n\n";
    }
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (rows.size() > 1) {
            out += i == 0 ? "" : "\n";
            out += "(";
            append_uint(out, i + 1);
            out += " of ";
            append_uint(out, rows.size());
            out += ") ";
        }
        troubleshoot_one(out, snap, rows[i], color);
    }
    return out;
}
}  // namespace ringprobe::report
