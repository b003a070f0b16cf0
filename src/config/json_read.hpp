// Typed, path-aware reads from a simdjson DOM, shared by the section readers in load.cpp.
//
// A JSON path is a chain of PathNode frames on the stack and is rendered to text only when an
// error is reported, so reading 100,000 servers builds no path strings. Every read treats an
// absent member and a null member alike (the az CLI prints absent fields as null), reports a
// wrong type or an out-of-range value with the path and the valid range, and returns whether a
// usable value was found.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/load.hpp"

namespace ringprobe::config::detail {

namespace dom = simdjson::dom;

struct PathNode {
    const PathNode* parent = nullptr;
    std::string_view key;     // member name; empty for an array element or the root
    std::int64_t index = -1;  // array index when >= 0
};

std::string render_path(const PathNode* node);

// Collects errors up to a bound; the rest are counted and summarised in one line.
class Errors {
public:
    explicit Errors(std::size_t max) : max_(max) {}
    void add(const PathNode* at, std::string message);
    void add_text(std::string path, std::string message);
    void add_in(std::string file, std::string path, std::string message);  // another file
    bool any() const { return !list_.empty() || suppressed_ != 0; }
    ConfigErrors take();

private:
    ConfigErrors list_;
    std::size_t max_;
    std::size_t suppressed_ = 0;
};

// The object that holds an item's fields (its "properties" in the REST form, the item itself in
// the flattened form) and that object's path.
struct View {
    dom::object obj;
    const PathNode* path = nullptr;
};

// A number simdjson cannot hold makes the whole parse fail; load.cpp then parses the document
// again with each such number written as a string of this prefix and the number's text, so that
// the read of the field names its path and range. No JSON text a person writes starts so.
inline constexpr std::string_view big_number_prefix = "\x01number:";

// True when `e` is such a string; `text` is then the number as written.
bool big_number(dom::element e, std::string_view& text);

// A short description of a JSON value for "expected X, got Y" messages.
std::string describe(dom::element e);

// Absent or null: nullopt. Never reports.
std::optional<dom::element> member(View v, std::string_view key);

bool read_string(Errors& errs, View v, std::string_view key, std::string_view& out);
bool read_bool(Errors& errs, View v, std::string_view key, bool& out);
bool read_int(Errors& errs, View v, std::string_view key, std::int64_t lo, std::int64_t hi,
              std::int64_t& out);
std::optional<dom::array> read_array(Errors& errs, View v, std::string_view key);
std::optional<dom::object> read_object(Errors& errs, View v, std::string_view key);

}  // namespace ringprobe::config::detail
