// What to change, for one report row: one or two sentences naming the backend setting's or the
// probe's field, or the server's part, that the reason points at.
#pragma once

#include <cstdint>
#include <string>

#include "report/reader.hpp"

namespace ringprobe::report {

// What to change, in one or two sentences naming the setting's field or the server's part
// (e.g. "Set trustedRootCertificates on backend setting https443 to the root that signed ...").
// For one report row (the setting and pool come from it). Ends with a period.
void append_remedy(std::string& out, const Snapshot& snap, std::uint32_t row_index);

}  // namespace ringprobe::report
