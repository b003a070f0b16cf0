// What the report says about one server's latest probe: the healthProbeLog sentence and the
// short words the table shows. ringprobe's own wording, one sentence per Reason.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "report/reader.hpp"

namespace ringprobe::report {

// The healthProbeLog sentence for one target (ends with a period, no newline).
void append_probe_log(std::string& out, const Snapshot& snap, std::uint32_t target_index);

// A few words for the table: "200 OK", "connection refused", "status 503 (want 200-399)".
void append_result_words(std::string& out, const Snapshot& snap, std::uint32_t target_index);

// The note a pool gets when a rule routes to it but it has no members (abi::kPoolEmptyRouted):
// one sentence, ending with a period, shared by every format.
inline constexpr std::string_view kEmptyPoolNote =
    "No members: a rule routes to this pool, but no address, FQDN or network interface is in "
    "it, so the gateway's backend health lists no server for it.";

}  // namespace ringprobe::report
