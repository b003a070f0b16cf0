// The one place that decides which part of client -> ringprobe -> server a probe's reason
// points at. The terminal's --troubleshoot and the exporter's page both draw this answer.
//
// A name that does not resolve is the resolution's fault (Resolution), not ringprobe's: the
// gateway's own troubleshooting calls it a DNS problem on the backend's side of the
// configuration (the record, the FQDN in the pool, the DNS servers), and its remedies change
// those, never the prober. Prober is for ringprobe's own resources (descriptors, ports,
// buffers), which say nothing about the server.
#pragma once

#include <cstdint>
#include <string_view>

#include <ringprobe/result.hpp>

namespace ringprobe::report {

// The part of client -> ringprobe -> backend a reason points at (the gateway portal's drawing).
enum class FaultPart : std::uint8_t {
    None,         // Ok or nothing known yet
    Report,       // client -> ringprobe: the engine cannot be reached
    Prober,       // ringprobe itself (descriptors, ports, buffers)
    Resolution,   // ringprobe's DNS lookup of the server's name
    Link,         // the TCP connection ringprobe -> server
    Handshake,    // the TLS handshake ringprobe -> server (no certificate at fault)
    Certificate,  // the server's certificate chain
    Server,       // the server's HTTP answer
    // The client side of the TLS handshake: ringprobe's client certificate, missing or refused.
    ClientCertificate,
};
FaultPart fault_part(Reason reason);
std::string_view fault_part_words(FaultPart part);  // "the server's certificate chain"

}  // namespace ringprobe::report
