// Reading a gateway configuration (JSON) into the immutable Plan.
//
// Three shapes are accepted, detected from the document itself:
//  - the REST/ARM resource form: the gateway object with its fields under "properties", and
//    each child (pool, setting, probe, rule ...) with its own "properties";
//  - an ARM template: the first resource of type Microsoft.Network/applicationGateways in
//    "resources" is read in the REST form;
//  - the flattened form printed by `az network application-gateway show`: fields directly on
//    each object, absent ones as null.
// Unknown fields are ignored; known fields are type- and range-checked; every problem is
// collected (not just the first) with its JSON path and what would be valid. docs/configuration.md
// lists every field, its range and default, and ringprobe's extensions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "config/plan.hpp"

namespace ringprobe::config {

struct ConfigError {
    std::string path;  // JSON path, e.g. "properties.probes[2].properties.interval"; may be empty
    std::string message;       // what is wrong and what would be valid
    std::uint32_t line = 0;    // 1-based, only for malformed JSON (0: not a syntax error)
    std::uint32_t column = 0;  // 1-based byte column within the line
    std::string file;          // a --nics or --parameters file; empty: the configuration itself
};
using ConfigErrors = std::vector<ConfigError>;

struct LoadOptions {
    std::size_t max_bytes = std::size_t{64} << 20;  // larger files are refused before parsing
    std::size_t max_errors = 200;                   // later errors are summarised in one line
    // Network interfaces that resolve pool members given by IP configuration id: the JSON of
    // `az network nic list|show`, `az vmss nic list` or the REST NIC GET (a list or one NIC).
    std::vector<std::string> nics_files;
    // ARM parameters files (`az deployment group create --parameters @FILE`); later files win.
    std::vector<std::string> parameters_files;
    // --shard I/N and --replicas R: the targets outside this shard are kept (their rows are in
    // the report) with Target::owned false.
    ShardPlacement shard;
};

// Parses and validates `json`; on success the Plan is complete (rows, deduplicated targets,
// request bytes, digest). On failure every error found is returned and nothing is half-built.
Result<Plan, ConfigErrors> load_plan_json(std::string_view json, const LoadOptions& options = {});

// Reads `path` (refusing files over options.max_bytes) and calls load_plan_json.
Result<Plan, ConfigErrors> load_plan_file(const std::string& path, const LoadOptions& options = {});

// One line per error, "file: path: message" (or "file:line:column: message" for malformed
// JSON), each ending in '\n'. An error about a --nics or --parameters file names that file.
std::string format_errors(const ConfigErrors& errors, std::string_view file);

// One line per Plan::warnings entry, "file: path: warning: message\n".
std::string format_warnings(const Plan& plan, std::string_view file);

// Locates the first JSON syntax error in `json` (the slow path behind a parse failure: simdjson
// says that the document is invalid, this says where). Returns false when it finds none.
struct SyntaxError {
    std::size_t offset = 0;
    std::uint32_t line = 1;
    std::uint32_t column = 1;
    std::string message;
};
bool find_syntax_error(std::string_view json, SyntaxError& out);

// What a DOM cannot tell about a document without syntax errors (the slow path, like
// find_syntax_error): the numbers simdjson cannot hold (an integer beyond 64 bits, a decimal
// beyond a double's range) and member names given twice in one object, each with its JSON path.
struct BigNumber {
    std::size_t offset = 0;  // of the number's first byte
    std::string text;        // as written
    std::string path;
};
struct DuplicateKey {
    std::string path;  // of the member, e.g. "properties.probes[0].properties.interval"
    std::size_t first_offset = 0;
    std::size_t second_offset = 0;
};
struct DocumentScan {
    std::vector<BigNumber> numbers;
    std::vector<DuplicateKey> duplicates;
};
DocumentScan scan_document(std::string_view json);

// The 1-based line and byte column of `offset` in `json`.
void line_column(std::string_view json, std::size_t offset, std::uint32_t& line,
                 std::uint32_t& column);

// Header-safety check shared with the CLI: true when `s` has no CR, LF, space or other control
// character (a Host or path that could inject a header or split the request line).
bool is_header_safe(std::string_view s);

}  // namespace ringprobe::config
