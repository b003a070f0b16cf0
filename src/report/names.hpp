// Where a report lives and how its name is checked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <ringprobe/report.hpp>

#include "common/result.hpp"

namespace ringprobe::report {

// The segment's file: /dev/shm/ringprobe.<name>. Names are [A-Za-z0-9._-], 1..kNameMax bytes.
std::string segment_path(std::string_view name);
Result<void> check_segment_name(std::string_view name);

}  // namespace ringprobe::report
