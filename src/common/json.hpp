// The one JSON string writer: every JSON document ringprobe and its tools produce escapes its
// strings here, so they all agree on what a string may carry.
#pragma once

#include <string>
#include <string_view>

namespace ringprobe {

// Appends `s` as the inside of a JSON string: '"' and '\' escaped, \n \r \t as such, other
// control characters as \u00XX, valid UTF-8 as it is and any invalid byte as U+FFFD, so the
// output is valid JSON in valid UTF-8 whatever the input.
void append_json_escaped(std::string& out, std::string_view s);

// Appends `s` as a whole JSON string, quotes included.
void append_json_string(std::string& out, std::string_view s);

}  // namespace ringprobe
