// Behaviour file parsing and response building. Runs at start-up and on SIGHUP only, so it may
// allocate freely; every byte the serving loop writes is built here.
#include "behaviours.hpp"

#include <arpa/inet.h>

#include <simdjson.h>
#include <charconv>

namespace ringprobe::fleet {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

std::string num(uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    RP_ASSERT(ec == std::errc{});
    return std::string(buf, end);
}

std::string_view reason_for(uint32_t status) {
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "Status";
    }
}

// Reads typed fields of one behaviour object and remembers which keys were used, so that an
// unknown key (a typo) is an error rather than a silently ignored setting.
class Fields {
public:
    Fields(object obj, std::string path) : obj_(obj), path_(std::move(path)) {}

    const std::string& path() const { return path_; }

    Result<void> u32(std::string_view key, uint32_t& out, uint32_t lo, uint32_t hi) {
        element e;
        if (!find(key, e)) {
            return {};
        }
        uint64_t v = 0;
        if (e.get_uint64().get(v) != simdjson::SUCCESS || v < lo || v > hi) {
            return error(where(key) + ": must be an integer in " + num(lo) + ".." + num(hi));
        }
        out = static_cast<uint32_t>(v);
        return {};
    }
    Result<void> boolean(std::string_view key, bool& out) {
        element e;
        if (!find(key, e)) {
            return {};
        }
        if (e.get_bool().get(out) != simdjson::SUCCESS) {
            return error(where(key) + ": must be true or false");
        }
        return {};
    }
    Result<void> str(std::string_view key, std::string& out, bool& present) {
        element e;
        present = find(key, e);
        if (!present) {
            return {};
        }
        std::string_view s;
        if (e.get_string().get(s) != simdjson::SUCCESS) {
            return error(where(key) + ": must be a string");
        }
        out.assign(s);
        return {};
    }
    bool find(std::string_view key, element& out) {
        if (obj_.at_key(key).get(out) != simdjson::SUCCESS) {
            return false;
        }
        used_.emplace_back(key);
        return true;
    }
    // Call after reading every known field.
    Result<void> no_unknown_keys() const {
        for (auto field : obj_) {
            bool known = false;
            for (const auto& u : used_) {
                known = known || u == field.key;
            }
            if (!known) {
                return error(where(field.key) +
                             ": unknown key (misspelt, or not valid for this kind)");
            }
        }
        return {};
    }
    std::string where(std::string_view key) const { return path_ + "." + std::string(key); }

private:
    object obj_;
    std::string path_;
    std::vector<std::string> used_;
};

struct HttpFields {
    uint32_t status = 200;
    std::string reason;
    bool reason_given = false;
    std::string body = "ok\n";
    uint32_t body_size = 0;
    bool chunked = false;
    uint32_t chunk_bytes = 64;
    bool http10 = false;
    bool keep_alive = false;  // no Connection: close
    std::string after_body;   // bytes written right after the response (beyond its framing)
    std::vector<std::pair<std::string, std::string>> headers;
};

Result<void> read_http_fields(Fields& f, HttpFields& h) {
    bool present = false;
    if (auto r = f.u32("status", h.status, 100, 999); !r) {
        return r;
    }
    if (auto r = f.str("reason", h.reason, h.reason_given); !r) {
        return r;
    }
    if (auto r = f.str("body", h.body, present); !r) {
        return r;
    }
    if (auto r = f.u32("body_size", h.body_size, 0, 64u << 20); !r) {
        return r;
    }
    if (auto r = f.boolean("chunked", h.chunked); !r) {
        return r;
    }
    if (auto r = f.u32("chunk_bytes", h.chunk_bytes, 1, 1u << 20); !r) {
        return r;
    }
    if (auto r = f.boolean("http10", h.http10); !r) {
        return r;
    }
    if (h.chunked && h.http10) {
        return error(f.path() + ": chunked and http10 exclude each other (HTTP/1.0 has no chunks)");
    }
    if (h.body_size > 0) {
        if (present) {
            return error(f.path() + ": give body or body_size, not both");
        }
        h.body.clear();
        for (uint32_t i = 0; i < h.body_size; ++i) {
            h.body.push_back(static_cast<char>('a' + i % 26));
        }
    }
    element e;
    if (f.find("headers", e)) {
        object hdrs;
        if (e.get_object().get(hdrs) != simdjson::SUCCESS) {
            return error(f.where("headers") + ": must be an object of name: value strings");
        }
        for (auto field : hdrs) {
            std::string_view v;
            if (field.value.get_string().get(v) != simdjson::SUCCESS) {
                return error(f.where("headers") + "." + std::string(field.key) +
                             ": must be a string");
            }
            h.headers.emplace_back(std::string(field.key), std::string(v));
        }
    }
    return {};
}

// Keep-alive (kind http only): keep_alive, close_every, close_percent, silent_after and
// after_body (the last also without keep_alive: bytes beyond the response's framing).
Result<void> read_keep_alive(Fields& f, HttpFields& h, Behaviour& b) {
    bool present = false;
    if (auto r = f.str("after_body", h.after_body, present); !r) {
        return r;
    }
    if (auto r = f.boolean("keep_alive", b.keep_alive); !r) {
        return r;
    }
    if (auto r = f.u32("close_every", b.close_every, 0, 1000000); !r) {
        return r;
    }
    if (auto r = f.u32("close_percent", b.close_percent, 0, 100); !r) {
        return r;
    }
    if (auto r = f.u32("silent_after", b.silent_after, 0, 1000000); !r) {
        return r;
    }
    if (!b.keep_alive && (b.close_every != 0 || b.close_percent != 0 || b.silent_after != 0)) {
        return error(f.path() +
                     ": close_every, close_percent and silent_after need \"keep_alive\": true");
    }
    if (b.keep_alive && h.http10) {
        return error(f.path() +
                     ": keep_alive and http10 exclude each other (an HTTP/1.0 "
                     "response without a length ends with the connection)");
    }
    h.keep_alive = b.keep_alive;
    return {};
}

std::string build_http(const HttpFields& h) {
    std::string r = h.http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    r += num(h.status);
    std::string_view reason = h.reason_given ? std::string_view(h.reason) : reason_for(h.status);
    if (!reason.empty()) {
        r += ' ';
        r += reason;
    }
    r += "\r\nServer: ringprobe-fleet\r\nContent-Type: text/plain\r\n";
    if (h.chunked) {
        r += "Transfer-Encoding: chunked\r\n";
    } else if (!h.http10) {
        r += "Content-Length: " + num(h.body.size()) + "\r\n";
    }
    if (!h.keep_alive) {
        r += "Connection: close\r\n";
    }
    for (const auto& [name, value] : h.headers) {
        r += name + ": " + value + "\r\n";
    }
    r += "\r\n";
    if (!h.chunked) {
        return r + h.body + h.after_body;
    }
    for (size_t off = 0; off < h.body.size(); off += h.chunk_bytes) {
        size_t n = std::min<size_t>(h.chunk_bytes, h.body.size() - off);
        char hex[16];
        auto [end, ec] = std::to_chars(hex, hex + sizeof hex, n, 16);
        RP_ASSERT(ec == std::errc{});
        r.append(hex, end);
        r += "\r\n";
        r.append(h.body, off, n);
        r += "\r\n";
    }
    return r + "0\r\n\r\n" + h.after_body;
}

// Deterministic non-HTTP bytes: a NUL first (no parser can take it for a status line), then a
// fixed xorshift sequence.
std::string build_garbage(uint32_t size) {
    std::string r(size, '\0');
    uint32_t x = 0x2545f491u;
    for (uint32_t i = 1; i < size; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        r[i] = static_cast<char>(x & 0xff);
    }
    return r;
}

// A valid status line followed by header lines of about 1 KiB each until the header block is
// at least `size` bytes; the blank line comes only after them.
std::string build_oversized(uint32_t status, uint32_t size) {
    std::string r = "HTTP/1.1 " + num(status) + " " + std::string(reason_for(status)) + "\r\n";
    const std::string filler(1000, 'x');
    for (uint32_t i = 0; r.size() < size; ++i) {
        r += "X-Oversized-" + num(i) + ": " + filler + "\r\n";
    }
    return r + "Content-Length: 0\r\nConnection: close\r\n\r\n";
}

Result<Kind> parse_kind(Fields& f) {
    std::string name;
    bool present = false;
    if (auto r = f.str("kind", name, present); !r) {
        return unexpected(r.error());
    }
    if (!present) {
        return error(f.where("kind") +
                     ": missing (one of http, hang, trickle, reset, close, "
                     "garbage, oversized, flap, drop_syn)");
    }
    for (size_t i = 0; i < std::size(kind_names); ++i) {
        if (kind_names[i] == name) {
            return static_cast<Kind>(i);
        }
    }
    return error(
        f.where("kind") + ": unknown kind '" + name +
        "' (one of http, hang, trickle, reset, close, garbage, oversized, flap, drop_syn)");
}

// "tls": {"cert": "chain.pem", "key": "key.pem", "tls_version": "1.3", "sni": "name"}. Paths
// are opened as given (relative ones from the fleet's working directory); "sni" makes the
// server answer that name only (any other gets a fatal unrecognized_name alert).
Result<void> parse_tls(Fields& f, Behaviour& b) {
    element e;
    if (!f.find("tls", e)) {
        return {};
    }
    if (b.kind == Kind::Flap || b.kind == Kind::DropSyn || b.kind == Kind::Reset) {
        return error(f.where("tls") + ": not for kind " +
                     std::string(kind_names[static_cast<size_t>(b.kind)]) +
                     " (a flap gives tls to its a and b; drop_syn and reset never handshake)");
    }
    object obj;
    if (e.get_object().get(obj) != simdjson::SUCCESS) {
        return error(f.where("tls") + ": must be an object with \"cert\" and \"key\"");
    }
    Fields t(obj, f.where("tls"));
    std::string cert;
    std::string key;
    std::string version;
    std::string only_sni;
    bool has_cert = false;
    bool has_key = false;
    bool has_version = false;
    bool has_sni = false;
    for (auto r : {t.str("cert", cert, has_cert), t.str("key", key, has_key),
                   t.str("tls_version", version, has_version), t.str("sni", only_sni, has_sni)}) {
        if (!r) {
            return r;
        }
    }
    if (!has_cert || !has_key) {
        return error(t.path() + ": needs \"cert\" (PEM chain, in the order to send) and \"key\"");
    }
    if (auto r = t.no_unknown_keys(); !r) {
        return r;
    }
    auto server = TlsServer::create(cert, key, version, t.path(), only_sni);
    if (!server) {
        return unexpected(server.error());
    }
    b.tls = *server;
    return {};
}

Result<const Behaviour*> parse_behaviour(Behaviours& out, element e, std::string path, bool is_rule,
                                         int depth);

Result<void> parse_kind_fields(Behaviours& out, Fields& f, Behaviour& b, int depth) {
    switch (b.kind) {
        case Kind::Http:
        case Kind::Trickle: {
            HttpFields h;
            if (auto r = read_http_fields(f, h); !r) {
                return r;
            }
            if (auto r = f.u32("delay_ms", b.delay_ms, 0, 3600000); !r) {
                return r;
            }
            if (b.kind == Kind::Trickle) {
                b.interval_ms = 100;
                if (auto r = f.u32("interval_ms", b.interval_ms, 1, 3600000); !r) {
                    return r;
                }
            } else if (auto r = read_keep_alive(f, h, b); !r) {
                return r;
            }
            b.response = build_http(h);
            if (b.keep_alive) {
                HttpFields closing = h;
                closing.keep_alive = false;
                b.response_close = build_http(closing);
            }
            return {};
        }
        case Kind::Garbage: {
            uint32_t size = 64;
            if (auto r = f.u32("size", size, 1, 64u << 20); !r) {
                return r;
            }
            if (auto r = f.u32("delay_ms", b.delay_ms, 0, 3600000); !r) {
                return r;
            }
            b.response = build_garbage(size);
            return {};
        }
        case Kind::Oversized: {
            uint32_t size = 1u << 20;
            uint32_t status = 200;
            if (auto r = f.u32("size", size, 1, 64u << 20); !r) {
                return r;
            }
            if (auto r = f.u32("status", status, 100, 999); !r) {
                return r;
            }
            if (auto r = f.u32("delay_ms", b.delay_ms, 0, 3600000); !r) {
                return r;
            }
            b.response = build_oversized(status, size);
            return {};
        }
        case Kind::Flap: {
            if (depth > 0) {
                return error(f.path() + ": a flap inside a flap is not supported");
            }
            if (auto r = f.u32("every", b.flap_every, 1, 1000000000); !r) {
                return r;
            }
            if (b.flap_every == 0) {
                return error(f.where("every") + ": missing (connections per phase, at least 1)");
            }
            const char* keys[2] = {"a", "b"};
            for (int i = 0; i < 2; ++i) {
                element sub;
                if (!f.find(keys[i], sub)) {
                    return error(f.where(keys[i]) + ": missing (the behaviour of this phase)");
                }
                auto p = parse_behaviour(out, sub, f.where(keys[i]), false, depth + 1);
                if (!p) {
                    return unexpected(p.error());
                }
                if ((*p)->kind == Kind::DropSyn) {
                    return error(f.where(keys[i]) +
                                 ": drop_syn cannot flap (it needs a listener "
                                 "of its own for the whole run of a rule)");
                }
                b.flap[i] = *p;
            }
            return {};
        }
        case Kind::Reset: return f.boolean("after_request", b.after_request);
        case Kind::Hang:
        case Kind::Close:
        case Kind::DropSyn: return {};
    }
    RP_ASSERT(false);
    return {};
}

Result<const Behaviour*> parse_behaviour(Behaviours& out, element e, std::string path, bool is_rule,
                                         int depth) {
    object obj;
    if (e.get_object().get(obj) != simdjson::SUCCESS) {
        return error(path + ": must be an object with a \"kind\"");
    }
    Fields f(obj, path);
    if (is_rule) {
        element ignored;
        f.find("cidr", ignored);  // read by parse_rule
        f.find("port", ignored);
    }
    auto kind = parse_kind(f);
    if (!kind) {
        return unexpected(kind.error());
    }
    auto b = std::make_unique<Behaviour>();
    b->kind = *kind;
    if (auto r = parse_kind_fields(out, f, *b, depth); !r) {
        return unexpected(r.error());
    }
    if (auto r = parse_tls(f, *b); !r) {
        return unexpected(r.error());
    }
    if (auto r = f.no_unknown_keys(); !r) {
        return unexpected(r.error());
    }
    out.storage.push_back(std::move(b));
    return out.storage.back().get();
}

Result<Rule> parse_cidr(std::string_view text, const std::string& path) {
    std::string_view addr = text;
    uint32_t bits = 32;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
        addr = text.substr(0, slash);
        auto len = text.substr(slash + 1);
        auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
        if (ec != std::errc{} || p != len.data() + len.size() || bits > 32) {
            return error(path + ": prefix length must be 0..32 in '" + std::string(text) + "'");
        }
    }
    in_addr a{};
    if (inet_pton(AF_INET, std::string(addr).c_str(), &a) != 1) {
        return error(path + ": '" + std::string(text) + "' is not an IPv4 CIDR like 127.1.0.0/24");
    }
    Rule r;
    r.mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
    r.network = ntohl(a.s_addr) & r.mask;
    return r;
}

Result<void> parse_rule(Behaviours& out, element e, const std::string& path) {
    object obj;
    if (e.get_object().get(obj) != simdjson::SUCCESS) {
        return error(path + ": must be an object with \"cidr\" and \"kind\"");
    }
    std::string_view cidr;
    if (obj.at_key("cidr").get_string().get(cidr) != simdjson::SUCCESS) {
        return error(path + ".cidr: missing or not a string (like \"127.1.0.0/24\")");
    }
    auto rule = parse_cidr(cidr, path + ".cidr");
    if (!rule) {
        return unexpected(rule.error());
    }
    element port;
    if (obj.at_key("port").get(port) == simdjson::SUCCESS) {
        uint64_t p = 0;
        if (port.get_uint64().get(p) != simdjson::SUCCESS || p == 0 || p > 65535) {
            return error(path + ".port: must be 1..65535 (leave it out to match every port)");
        }
        rule->port = static_cast<uint16_t>(p);
    }
    auto b = parse_behaviour(out, e, path, true, 0);
    if (!b) {
        return unexpected(b.error());
    }
    rule->behaviour = *b;
    out.rules.push_back(*rule);
    return {};
}

Result<void> parse_root(Behaviours& out, element root) {
    object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) {
        return error(
            "$: the behaviour file must be a JSON object with \"default\" and/or \"rules\"");
    }
    Fields f(obj, "$");
    element def;
    if (f.find("default", def)) {
        auto b = parse_behaviour(out, def, "$.default", false, 0);
        if (!b) {
            return unexpected(b.error());
        }
        if ((*b)->kind == Kind::DropSyn) {
            return error(
                "$.default: drop_syn cannot be the default (it needs one listener per "
                "address); give it to a rule with a narrow cidr");
        }
        out.fallback = *b;
    }
    element rules;
    if (f.find("rules", rules)) {
        simdjson::dom::array arr;
        if (rules.get_array().get(arr) != simdjson::SUCCESS) {
            return error("$.rules: must be an array of rules");
        }
        size_t i = 0;
        for (element r : arr) {
            if (auto res = parse_rule(out, r, "$.rules[" + num(i) + "]"); !res) {
                return res;
            }
            ++i;
        }
    }
    return f.no_unknown_keys();
}

}  // namespace

const Behaviour& Behaviours::resolve(uint32_t addr, uint16_t port) const {
    for (const Rule& r : rules) {
        if ((addr & r.mask) == r.network && (r.port == 0 || r.port == port)) {
            return *r.behaviour;
        }
    }
    RP_ASSERT(fallback != nullptr);
    return *fallback;
}

Result<std::vector<Endpoint>> Behaviours::drop_syn_endpoints(
    std::span<const uint16_t> ports) const {
    std::vector<Endpoint> out;
    for (const Rule& r : rules) {
        if (r.behaviour->kind != Kind::DropSyn) {
            continue;
        }
        uint64_t n = uint64_t{~r.mask} + 1;
        if (n > drop_syn_max) {
            return error("a drop_syn rule covers " + num(n) + " addresses; at most " +
                         num(drop_syn_max) + " drop_syn endpoints are supported");
        }
        for (uint16_t port : ports) {
            if (r.port != 0 && r.port != port) {
                continue;
            }
            for (uint64_t i = 0; i < n; ++i) {
                uint32_t addr = r.network + static_cast<uint32_t>(i);
                // Only where this rule is the first match: an earlier rule shadows it.
                if (&resolve(addr, port) != r.behaviour) {
                    continue;
                }
                if ((addr >> 24) != 127) {
                    return error(
                        "drop_syn rule on a non-loopback address: only 127.0.0.0/8 "
                        "may get listeners of their own");
                }
                out.emplace_back(addr, port);
                if (out.size() > drop_syn_max) {
                    return error("more than " + num(drop_syn_max) +
                                 " drop_syn endpoints (address x port); narrow the rules");
                }
            }
        }
    }
    return out;
}

Result<std::shared_ptr<const Behaviours>> parse_behaviours(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::padded_string text(json);
    element root;
    if (auto err = parser.parse(text).get(root); err != simdjson::SUCCESS) {
        return error(std::string("not valid JSON: ") + simdjson::error_message(err));
    }
    auto out = std::make_shared<Behaviours>();
    if (auto r = parse_root(*out, root); !r) {
        return unexpected(r.error());
    }
    if (out->fallback == nullptr) {
        auto b = std::make_unique<Behaviour>();
        b->response = build_http(HttpFields{});
        out->fallback = b.get();
        out->storage.push_back(std::move(b));
    }
    return std::shared_ptr<const Behaviours>(std::move(out));
}

Result<std::shared_ptr<const Behaviours>> load_behaviours(const std::string& path) {
    simdjson::padded_string text;
    if (auto err = simdjson::padded_string::load(path).get(text); err != simdjson::SUCCESS) {
        return error(path + ": cannot read (" + simdjson::error_message(err) + ")");
    }
    auto r = parse_behaviours(std::string_view(text.data(), text.size()));
    if (!r) {
        return error(path + ": " + r.error().message);
    }
    return r;
}

std::shared_ptr<const Behaviours> default_behaviours() {
    auto out = std::make_shared<Behaviours>();
    auto b = std::make_unique<Behaviour>();
    b->kind = Kind::Http;
    b->response = build_http(HttpFields{});
    out->fallback = b.get();
    out->storage.push_back(std::move(b));
    return out;
}

}  // namespace ringprobe::fleet
