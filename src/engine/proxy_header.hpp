// PROXY protocol headers (version 1, text; version 2, binary), as HAProxy's
// doc/proxy-protocol.txt specifies them: what a Tcp or Tls probe with
// enableProbeProxyProtocolHeader sends before anything else, so that a backend behind a
// PROXY-aware listener accepts the connection. The header names the connection the prober
// itself made (its source address and port, the backend's address and port): there is no
// client behind the probe to speak for.
//
// Pure and bounded: no allocation, no locale, no libc formatting; the caller owns the buffer.
#pragma once

#include <sys/socket.h>

#include <cstddef>

#include "config/plan.hpp"

namespace ringprobe::engine {

// The longest header built: v1 for TCP over IPv6 is 104 bytes ("PROXY TCP6 " + two addresses
// of at most 39 characters + two ports + separators + CRLF), under the protocol's 107-byte
// bound; v2 for IPv6 is 52 bytes (16 + 36).
inline constexpr std::size_t proxy_header_max = 104;

// Writes the header of `version` for the TCP connection from `src` to `dst` into `out`, and
// returns its length. Both addresses must be AF_INET (sockaddr_in) or both AF_INET6
// (sockaddr_in6); otherwise, or for ProxyProtocol::None, nothing is written and 0 returned.
std::size_t build_proxy_header(ProxyProtocol version, const sockaddr* src, const sockaddr* dst,
                               char (&out)[proxy_header_max]);

}  // namespace ringprobe::engine
