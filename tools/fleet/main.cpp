// ringprobe-fleet: arguments, then Fleet::start and Fleet::run. See docs/fleet.md.
#include <arpa/inet.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "common/command_line.hpp"
#include "common/host_port.hpp"
#include "fleet.hpp"

namespace {

using ringprobe::fleet::Options;
namespace command_line = ringprobe::command_line;

constexpr const char* kDescription =
    "Plays one backend per destination address of 127.0.0.0/8 on each port: a connection to\n"
    "127.1.2.3:P is answered as the behaviour file says for 127.1.2.3 (docs/fleet.md).";

constexpr const char* kFooter =
    "Signals: SIGHUP re-reads the behaviour file (a broken file keeps the old behaviours),\n"
    "SIGUSR1 prints the counts as one JSON line, SIGTERM/SIGINT stop (exit 0).\n"
    "Stdout: 'port N' per port, 'control A:P', then 'ready' once every socket listens.\n"
    "Exit status: 0 after a stop, 1 when a socket could not listen, 2 for bad usage.";

// --port is the one repeatable flag: every value is a listening port.
void add_ports(CLI::App& app, std::vector<uint16_t>& ports) {
    CLI::Validator port_number(
        [](std::string& s) -> std::string {
            uint32_t v = 0;
            if (command_line::parse_decimal(s, v) && v <= 65535) {
                return {};
            }
            return "takes a whole number from 0 to 65535, not '" + s + "'";
        },
        "", "");
    app.add_option_function<std::vector<std::string>>(
           "--port",
           [&ports](const std::vector<std::string>& values) {
               for (const std::string& s : values) {
                   uint32_t v = 0;
                   command_line::parse_decimal(s, v);
                   ports.push_back(static_cast<uint16_t>(v));
               }
           },
           "listening port, repeatable (default 8080; 0 = kernel's choice,\n"
           "printed as 'port N' on stdout)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->allow_extra_args(false)
        ->check(port_number)
        ->type_name("P");
}

// --control ADDR:PORT|none: the control socket is IPv4 (Options::control is a sockaddr_in).
void add_control(CLI::App& app, Options& o) {
    CLI::Validator control_address(
        [](std::string& s) -> std::string {
            if (s == "none") {
                return {};
            }
            auto hp = ringprobe::parse_host_port(s);
            if (!hp || hp->ipv6 || !hp->has_port) {
                return "takes IPv4ADDR:PORT or none, not '" + s + "'";
            }
            return {};
        },
        "", "");
    app.add_option_function<std::string>(
           "--control",
           [&o](const std::string& s) {
               if (s == "none") {
                   o.control_enabled = false;
                   return;
               }
               const ringprobe::HostPort hp = *ringprobe::parse_host_port(s);
               o.control_enabled = true;
               inet_pton(AF_INET, hp.host.c_str(), &o.control.sin_addr);
               o.control.sin_port = htons(hp.port);
           },
           "control HTTP port (default 127.0.0.1:0; printed as 'control A:P');\n"
           "GET /counts, /counts?reset=1, /requests, /requests?reset=1, /stats, /health, "
           "/reload")
        ->check(control_address)
        ->type_name("ADDR:PORT|none");
}

void add_flags(CLI::App& app, Options& o) {
    add_ports(app, o.ports);
    app.add_option("--behaviours", o.behaviours_path,
                   "JSON behaviour file, re-read on SIGHUP (default: all answer 200)")
        ->type_name("FILE");
    add_control(app, o);
    command_line::add_number(app, "--threads", o.threads, 1u, 256u,
                             "workers, each with its own SO_REUSEPORT listeners (default 1)");
    command_line::add_number(app, "--idle-timeout-ms", o.idle_timeout_ms, 1u, 86400000u,
                             "close a connection that waits on its client this long (60000)", "MS");
    app.add_flag("--any-address", o.any_address,
                 "listen on 0.0.0.0 without binding to device lo if that fails\n"
                 "(exposes the fleet to the network: only on an isolated host)");
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    o.control.sin_family = AF_INET;
    o.control.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CLI::App app(kDescription, "ringprobe-fleet");
    command_line::configure(app);
    app.footer(kFooter);
    add_flags(app, o);
    if (int rc = command_line::parse(app, argc, argv); rc != command_line::kContinue) {
        return rc;
    }
    if (o.ports.empty()) {
        o.ports.push_back(8080);
    }
    ringprobe::fleet::Fleet fleet(std::move(o));
    if (auto r = fleet.start(); !r) {
        std::fprintf(stderr, "ringprobe-fleet: %s\n", r.error().message.c_str());
        return 1;
    }
    return fleet.run();
}
