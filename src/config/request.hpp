// The HTTP request a probe sends, as the plan builds it for every Http and Https target. Its own
// header so that `ringprobe check` sends the very bytes the engine would.
#pragma once

#include <string>
#include <string_view>

namespace ringprobe::config {

// "GET PATH HTTP/1.1" with Host, User-Agent, Accept and Connection: close; with keep_alive, no
// Connection header (HTTP/1.1 connections persist unless a side says close).
std::string build_request(std::string_view path, std::string_view host, bool keep_alive = false);

}  // namespace ringprobe::config
