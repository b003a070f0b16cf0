// Behaviours of the synthetic fleet: which answer a backend (destination address and port) gives.
//
// A behaviour file is JSON (docs/fleet.md has the full grammar):
//   {"default": {"kind": "http"},
//    "rules": [{"cidr": "127.1.0.0/24", "port": 8080, "kind": "http", "status": 503}, ...]}
// Rules are tried in order and the first whose CIDR (and port, when given) matches wins; the
// default answers everything else. Every response is built here, once, at load time: the
// serving loop only copies pointers to these bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "tls_server.hpp"

namespace ringprobe::fleet {

enum class Kind : uint8_t {
    Http,       // read the request, (wait delay_ms,) write the prebuilt response, close
    Hang,       // accept and never answer; keep the connection until the client closes
    Trickle,    // like Http, but one byte of the response every interval_ms
    Reset,      // RST (SO_LINGER 0 + close) at accept, or after the request (after_request)
    Close,      // read the request, then close without a byte of answer (clean FIN)
    Garbage,    // read the request, write bytes that are not HTTP, close
    Oversized,  // read the request, write a header block far beyond any sane limit, close
    Flap,       // alternate between two behaviours every `every` connections to that backend
    DropSyn,    // a listener of its own whose full backlog drops SYNs: connect timeouts
};

// Short names used in the JSON file and in logs, indexed by Kind.
inline constexpr std::string_view kind_names[] = {
    "http", "hang", "trickle", "reset", "close", "garbage", "oversized", "flap", "drop_syn"};

struct Behaviour {
    Kind kind = Kind::Http;
    std::string response;        // the bytes written (Http, Trickle, Garbage, Oversized)
    uint32_t delay_ms = 0;       // wait after the request before the first byte
    uint32_t interval_ms = 0;    // Trickle: time between two bytes
    uint32_t flap_every = 0;     // Flap: connections per phase
    bool after_request = false;  // Reset: read the request first, then RST
    // Http with keep_alive: `response` carries no Connection header and the connection waits
    // for the next request; response_close (Connection: close) ends it every close_every-th
    // response on a connection (0: never). close_percent: the chance, after a kept response,
    // that the fleet closes the connection without saying so (the stale keep-alive race).
    // silent_after: after this many responses on a connection, requests are read and never
    // answered (0: never).
    bool keep_alive = false;
    std::string response_close;
    uint32_t close_every = 0;
    uint32_t close_percent = 0;
    uint32_t silent_after = 0;
    const Behaviour* flap[2] = {nullptr, nullptr};  // Flap: phase a, phase b (never Flap)
    // The `tls` section: the connection is TLS first (Hang: accepted, never handshaken).
    std::shared_ptr<const TlsServer> tls;
};

struct Rule {
    uint32_t network = 0;  // host byte order, already masked
    uint32_t mask = 0;     // host byte order
    uint16_t port = 0;     // 0 = any port
    const Behaviour* behaviour = nullptr;
};

// An (address, port) pair that needs a drop_syn listener, both in host byte order.
using Endpoint = std::pair<uint32_t, uint16_t>;

// The most drop_syn endpoints one fleet holds: each costs three descriptors (the listener and
// the two connections the fleet makes itself to fill its backlog of 1).
inline constexpr size_t drop_syn_max = 2048;

class Behaviours {
public:
    // The behaviour that answers a connection to addr:port (host byte order). May be Flap.
    const Behaviour& resolve(uint32_t addr, uint16_t port) const;

    // Every endpoint on the given listening ports whose first matching rule is drop_syn.
    // Fails when there are more than drop_syn_max.
    Result<std::vector<Endpoint>> drop_syn_endpoints(std::span<const uint16_t> ports) const;

    std::vector<std::unique_ptr<Behaviour>> storage;  // owns every Behaviour below
    std::vector<Rule> rules;
    const Behaviour* fallback = nullptr;
};

// Parses a behaviour file's text; errors name the JSON path and say what to change.
Result<std::shared_ptr<const Behaviours>> parse_behaviours(std::string_view json);
Result<std::shared_ptr<const Behaviours>> load_behaviours(const std::string& path);
// What the fleet does without a file: every backend answers 200 "ok".
std::shared_ptr<const Behaviours> default_behaviours();

}  // namespace ringprobe::fleet
