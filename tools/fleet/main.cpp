// ringprobe-fleet: arguments, then Fleet::start and Fleet::run. See docs/fleet.md.
#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "fleet.hpp"

namespace {

using ringprobe::Result;
using ringprobe::fleet::Options;

constexpr const char* usage_text =
    "usage: ringprobe-fleet [--port P]... [--behaviours FILE] [--control ADDR:PORT|none]\n"
    "                       [--threads N] [--idle-timeout-ms MS] [--any-address]\n"
    "\n"
    "Plays one backend per destination address of 127.0.0.0/8 on each port: a connection to\n"
    "127.1.2.3:P is answered as the behaviour file says for 127.1.2.3 (docs/fleet.md).\n"
    "\n"
    "  --port P             listening port, repeatable (default 8080; 0 = kernel's choice,\n"
    "                       printed as 'port N' on stdout)\n"
    "  --behaviours FILE    JSON behaviour file, re-read on SIGHUP (default: all answer 200)\n"
    "  --control ADDR:PORT  control HTTP port (default 127.0.0.1:0; printed as 'control A:P');\n"
    "                       GET /counts, /counts?reset=1, /stats, /health, /reload\n"
    "  --threads N          workers, each with its own SO_REUSEPORT listeners (default 1)\n"
    "  --idle-timeout-ms MS close a connection that waits on its client this long (60000)\n"
    "  --any-address        listen on 0.0.0.0 without binding to device lo if that fails\n"
    "                       (exposes the fleet to the network: only on an isolated host)\n"
    "Signals: SIGHUP re-reads the behaviour file (a broken file keeps the old behaviours),\n"
    "SIGUSR1 prints the counts as one JSON line, SIGTERM/SIGINT stop (exit 0).\n"
    "Stdout: 'port N' per port, 'control A:P', then 'ready' once every socket listens.\n";

bool parse_u32(std::string_view s, uint32_t lo, uint32_t hi, uint32_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size() && out >= lo && out <= hi;
}

Result<Options> parse_args(int argc, char** argv) {
    Options o;
    o.control.sin_family = AF_INET;
    o.control.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool any_port = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> Result<std::string_view> {
            if (i + 1 >= argc) {
                return ringprobe::error(std::string(a) + ": missing value");
            }
            return std::string_view(argv[++i]);
        };
        if (a == "--help" || a == "-h") {
            std::fputs(usage_text, stdout);
            std::exit(0);
        } else if (a == "--any-address") {
            o.any_address = true;
        } else if (a == "--port" || a == "--behaviours" || a == "--control" || a == "--threads" ||
                   a == "--idle-timeout-ms") {
            auto v = value();
            if (!v) {
                return ringprobe::unexpected(v.error());
            }
            uint32_t n = 0;
            if (a == "--port") {
                if (!parse_u32(*v, 0, 65535, n)) {
                    return ringprobe::error("--port: 0..65535");
                }
                o.ports.push_back(static_cast<uint16_t>(n));
                any_port = true;
            } else if (a == "--behaviours") {
                o.behaviours_path = std::string(*v);
            } else if (a == "--threads") {
                if (!parse_u32(*v, 1, 256, n)) {
                    return ringprobe::error("--threads: 1..256");
                }
                o.threads = n;
            } else if (a == "--idle-timeout-ms") {
                if (!parse_u32(*v, 1, 86400000, n)) {
                    return ringprobe::error("--idle-timeout-ms: 1..86400000");
                }
                o.idle_timeout_ms = n;
            } else if (*v == "none") {
                o.control_enabled = false;
            } else {
                auto colon = v->rfind(':');
                std::string host(v->substr(0, colon == std::string_view::npos ? 0 : colon));
                if (colon == std::string_view::npos ||
                    inet_pton(AF_INET, host.c_str(), &o.control.sin_addr) != 1 ||
                    !parse_u32(v->substr(colon + 1), 0, 65535, n)) {
                    return ringprobe::error("--control: expected IPv4ADDR:PORT or none, got '" +
                                            std::string(*v) + "'");
                }
                o.control.sin_port = htons(static_cast<uint16_t>(n));
            }
        } else {
            return ringprobe::error("unknown argument '" + std::string(a) + "' (see --help)");
        }
    }
    if (!any_port) {
        o.ports.push_back(8080);
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    auto options = parse_args(argc, argv);
    if (!options) {
        std::fprintf(stderr, "ringprobe-fleet: %s\n", options.error().message.c_str());
        return 2;
    }
    ringprobe::fleet::Fleet fleet(std::move(*options));
    if (auto r = fleet.start(); !r) {
        std::fprintf(stderr, "ringprobe-fleet: %s\n", r.error().message.c_str());
        return 1;
    }
    return fleet.run();
}
