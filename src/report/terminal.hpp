// What the table and --troubleshoot both print for a terminal: colours, the fault mark, the
// row's yellow note, phase timings, and the TLS and DNS lines of one target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <ringprobe/report.hpp>
#include <ringprobe/result.hpp>

#include "report/reader.hpp"

namespace ringprobe::report {

inline constexpr std::string_view kGreen = "\x1b[32m", kRed = "\x1b[31m", kYellow = "\x1b[33m",
                                  kReset = "\x1b[0m";

std::string_view health_color(Health h);
// Pads a cell of `written` bytes to `width`, then the two spaces between columns.
void pad_to(std::string& out, std::size_t written, std::size_t width);
// A mark for the fault: "XX", red on a terminal.
void append_mark(std::string& out, bool color);
// The yellow note a row's RESULT cell carries: the certificate early warning, DNS staleness.
std::string row_note(const Snapshot& snap, std::uint32_t t);
// "dns -, connect 0.30 ms, tls -, first byte 1.20 ms, total 1.50 ms"
void append_timings(std::string& out, const report_abi::TargetStatePayload& s);
// The TLS lines shared by the table's details and --troubleshoot: the connection, then each
// certificate of the chain (the one the reason is about marked), then the earliest notAfter.
void append_tls_lines(std::string& out, const Snapshot& snap, std::uint32_t t,
                      std::string_view indent, bool color);
// The DNS lines: the standing, then one line per address with its own health and result.
void append_dns_lines(std::string& out, const Snapshot& snap, std::uint32_t t,
                      std::string_view indent, bool color);

}  // namespace ringprobe::report
