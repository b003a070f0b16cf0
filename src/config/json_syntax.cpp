// Where is the JSON broken? simdjson rejects an invalid document quickly but does not say where;
// this small recursive-descent checker runs only after such a rejection and finds the first
// offending byte, so that the error can name a line and column a person can go to. It follows
// RFC 8259 (including UTF-8 validity) and bounds nesting like the parser does. The Scanner below
// walks a valid document the same way for the facts a DOM drops: numbers too large to hold and
// the positions of duplicate member names, each with its JSON path.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "config/load.hpp"

namespace ringprobe::config {
namespace {

constexpr int depth_max = 1024;

class Checker {
public:
    explicit Checker(std::string_view s) : s_(s) {}

    // Returns true and fills pos_/msg_ at the first error.
    bool run() {
        skip_ws();
        if (!value(0)) {
            return true;
        }
        skip_ws();
        if (i_ != s_.size()) {
            return fail("unexpected data after the top-level value");
        }
        return false;
    }

    std::size_t pos() const { return i_; }
    const std::string& message() const { return msg_; }

private:
    bool fail(std::string m) {
        if (msg_.empty()) {
            msg_ = std::move(m);
        }
        return !msg_.empty();  // always true: callers return !fail(...) to stop
    }
    bool at_end() const { return i_ >= s_.size(); }
    char peek() const { return s_[i_]; }
    void skip_ws() {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
            ++i_;
        }
    }

    bool value(int depth) {
        if (at_end()) {
            fail("unexpected end of input: expected a value");
            return false;
        }
        switch (peek()) {
            case '{': return object(depth + 1);
            case '[': return array(depth + 1);
            case '"': return string();
            case 't': return literal("true");
            case 'f': return literal("false");
            case 'n': return literal("null");
            default: break;
        }
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
            return number();
        }
        fail("expected a value (object, array, string, number, true, false or null)");
        return false;
    }

    bool literal(std::string_view word) {
        if (s_.substr(i_, word.size()) != word) {
            fail("invalid literal: expected '" + std::string(word) + "'");
            return false;
        }
        i_ += word.size();
        return true;
    }

    bool digits() {
        std::size_t start = i_;
        while (!at_end() && peek() >= '0' && peek() <= '9') {
            ++i_;
        }
        return i_ > start;
    }

    bool number() {
        if (peek() == '-') {
            ++i_;
        }
        if (!at_end() && peek() == '0') {
            ++i_;
        } else if (!digits()) {
            fail("invalid number: expected a digit");
            return false;
        }
        if (!at_end() && peek() == '.') {
            ++i_;
            if (!digits()) {
                fail("invalid number: expected a digit after '.'");
                return false;
            }
        }
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            ++i_;
            if (!at_end() && (peek() == '+' || peek() == '-')) {
                ++i_;
            }
            if (!digits()) {
                fail("invalid number: expected a digit in the exponent");
                return false;
            }
        }
        return true;
    }

    // Length of the UTF-8 sequence starting at i_, 0 when invalid.
    std::size_t utf8_len() const {
        auto b = [&](std::size_t k) { return static_cast<unsigned char>(s_[i_ + k]); };
        unsigned char c = b(0);
        std::size_t n = c < 0x80           ? 1
                        : (c >> 5) == 0x6  ? 2
                        : (c >> 4) == 0xE  ? 3
                        : (c >> 3) == 0x1E ? 4
                                           : 0;
        if (n == 0 || i_ + n > s_.size()) {
            return 0;
        }
        for (std::size_t k = 1; k < n; ++k) {
            if ((b(k) & 0xC0) != 0x80) {
                return 0;
            }
        }
        if (n == 2 && c < 0xC2) {
            return 0;  // overlong
        }
        if (n == 3) {
            unsigned cp = ((c & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
            if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) {
                return 0;
            }
        }
        if (n == 4) {
            unsigned cp = ((c & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) |
                          (b(3) & 0x3Fu);
            if (cp < 0x10000 || cp > 0x10FFFF) {
                return 0;
            }
        }
        return n;
    }

    bool string() {
        ++i_;  // opening quote
        while (!at_end()) {
            unsigned char c = static_cast<unsigned char>(peek());
            if (c == '"') {
                ++i_;
                return true;
            }
            if (c < 0x20) {
                fail("control character in a string (escape it, e.g. \\n)");
                return false;
            }
            if (c == '\\') {
                if (!escape()) {
                    return false;
                }
                continue;
            }
            std::size_t n = utf8_len();
            if (n == 0) {
                fail("invalid UTF-8 in a string");
                return false;
            }
            i_ += n;
        }
        fail("unterminated string");
        return false;
    }

    bool escape() {
        ++i_;
        if (at_end()) {
            fail("unterminated string");
            return false;
        }
        char e = peek();
        if (e == 'u') {
            for (int k = 1; k <= 4; ++k) {
                char h = i_ + static_cast<std::size_t>(k) < s_.size()
                             ? s_[i_ + static_cast<std::size_t>(k)]
                             : '\0';
                bool hex =
                    (h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F');
                if (!hex) {
                    i_ += static_cast<std::size_t>(k);
                    fail("invalid \\u escape: expected 4 hex digits");
                    return false;
                }
            }
            i_ += 5;
            return true;
        }
        if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
            fail("invalid escape in a string");
            return false;
        }
        ++i_;
        return true;
    }

    bool depth_ok(int depth) {
        if (depth > depth_max) {
            fail("nesting deeper than 1024 levels");
            return false;
        }
        return true;
    }

    bool object(int depth) {
        if (!depth_ok(depth)) {
            return false;
        }
        ++i_;
        skip_ws();
        if (!at_end() && peek() == '}') {
            ++i_;
            return true;
        }
        while (true) {
            skip_ws();
            if (at_end() || peek() != '"') {
                fail("expected a member name in double quotes");
                return false;
            }
            if (!string()) {
                return false;
            }
            skip_ws();
            if (at_end() || peek() != ':') {
                fail("expected ':' after a member name");
                return false;
            }
            ++i_;
            skip_ws();
            if (!value(depth)) {
                return false;
            }
            skip_ws();
            if (!at_end() && peek() == ',') {
                ++i_;
                continue;
            }
            if (!at_end() && peek() == '}') {
                ++i_;
                return true;
            }
            fail("expected ',' or '}' after an object member");
            return false;
        }
    }

    bool array(int depth) {
        if (!depth_ok(depth)) {
            return false;
        }
        ++i_;
        skip_ws();
        if (!at_end() && peek() == ']') {
            ++i_;
            return true;
        }
        while (true) {
            skip_ws();
            if (!value(depth)) {
                return false;
            }
            skip_ws();
            if (!at_end() && peek() == ',') {
                ++i_;
                continue;
            }
            if (!at_end() && peek() == ']') {
                ++i_;
                return true;
            }
            fail("expected ',' or ']' after an array element");
            return false;
        }
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::string msg_;
};

// Walks a document that has no syntax error, keeping the JSON path of the value it is in
// (rendered like detail::render_path), to find what a DOM does not keep: the numbers simdjson
// refuses and where each member of an object is. Runs only when the fast path found one of them.
class Scanner {
public:
    explicit Scanner(std::string_view s) : s_(s) {}

    DocumentScan run() {
        skip_ws();
        value(0);
        return std::move(out_);
    }

private:
    struct Segment {
        std::string key;
        std::int64_t index = -1;
    };
    struct Member {
        std::string key;
        std::size_t offset;
    };

    bool at_end() const { return i_ >= s_.size(); }
    char peek() const { return s_[i_]; }
    void skip_ws() {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
            ++i_;
        }
    }

    std::string path() const {
        std::string out;
        for (const Segment& seg : path_) {
            if (seg.index >= 0) {
                out += '[';
                out += std::to_string(seg.index);
                out += ']';
            } else {
                if (!out.empty()) {
                    out += '.';
                }
                out += seg.key;
            }
        }
        return out;
    }

    void value(int depth) {
        if (at_end() || depth > depth_max) {
            return;
        }
        switch (peek()) {
            case '{': object(depth + 1); return;
            case '[': array(depth + 1); return;
            case '"': string(nullptr); return;
            case 't': i_ += 4; return;
            case 'f': i_ += 5; return;
            case 'n': i_ += 4; return;
            default: number(); return;
        }
    }

    void number() {
        std::size_t start = i_;
        bool integer = true;
        while (!at_end()) {
            char c = peek();
            if (c == '.' || c == 'e' || c == 'E') {
                integer = false;
            } else if (!(c == '-' || c == '+' || (c >= '0' && c <= '9'))) {
                break;
            }
            ++i_;
        }
        std::string_view text = s_.substr(start, i_ - start);
        if (!number_fits(text, integer)) {
            out_.numbers.push_back(BigNumber{start, std::string(text), path()});
        }
    }

    // simdjson keeps an integer as int64 or uint64 and anything else as a finite double.
    static bool number_fits(std::string_view text, bool integer) {
        if (integer) {
            bool negative = !text.empty() && text.front() == '-';
            std::string_view digits = text.substr(negative ? 1 : 0);
            std::uint64_t v = 0;
            auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
            if (ec != std::errc{} || end != digits.data() + digits.size()) {
                return false;
            }
            return !negative || v <= std::uint64_t{1} << 63;
        }
        // strtod, unlike from_chars, tells overflow (infinity) from underflow (zero, which
        // simdjson accepts). The document is ASCII here and no locale is ever set.
        std::string copy(text);
        return std::isfinite(std::strtod(copy.c_str(), nullptr));
    }

    // Reads a string; its decoded text into `decoded` when given (member names).
    void string(std::string* decoded) {
        ++i_;
        while (!at_end() && peek() != '"') {
            char c = peek();
            if (c != '\\') {
                if (decoded != nullptr) {
                    decoded->push_back(c);
                }
                ++i_;
                continue;
            }
            ++i_;
            if (at_end()) {
                return;
            }
            char e = peek();
            if (e == 'u') {
                unsigned cp = hex4(i_ + 1);
                i_ += 5;
                if (cp >= 0xD800 && cp <= 0xDBFF && s_.substr(i_, 2) == "\\u") {
                    unsigned lo = hex4(i_ + 2);
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i_ += 6;
                    }
                }
                if (decoded != nullptr) {
                    append_utf8(*decoded, cp);
                }
                continue;
            }
            if (decoded != nullptr) {
                std::string_view from = "\"\\/bfnrt";
                std::string_view to = "\"\\/\b\f\n\r\t";
                std::size_t k = from.find(e);
                decoded->push_back(k == std::string_view::npos ? e : to[k]);
            }
            ++i_;
        }
        ++i_;  // closing quote
    }

    unsigned hex4(std::size_t at) const {
        unsigned v = 0;
        for (std::size_t k = at; k < at + 4 && k < s_.size(); ++k) {
            char h = s_[k];
            unsigned d = h <= '9' ? unsigned(h - '0') : unsigned((h | 0x20) - 'a' + 10);
            v = v * 16 + d;
        }
        return v;
    }

    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    void object(int depth) {
        ++i_;
        std::vector<Member> members;
        while (true) {
            skip_ws();
            if (at_end() || peek() == '}') {
                break;
            }
            Member m{{}, i_};
            string(&m.key);
            skip_ws();
            ++i_;  // ':'
            skip_ws();
            path_.push_back(Segment{m.key, -1});
            for (const Member& earlier : members) {
                if (earlier.key == m.key) {
                    out_.duplicates.push_back(DuplicateKey{path(), earlier.offset, m.offset});
                    break;
                }
            }
            value(depth);
            path_.pop_back();
            members.push_back(std::move(m));
            skip_ws();
            if (!at_end() && peek() == ',') {
                ++i_;
            }
        }
        ++i_;
    }

    void array(int depth) {
        ++i_;
        std::int64_t index = 0;
        while (true) {
            skip_ws();
            if (at_end() || peek() == ']') {
                break;
            }
            path_.push_back(Segment{{}, index++});
            value(depth);
            path_.pop_back();
            skip_ws();
            if (!at_end() && peek() == ',') {
                ++i_;
            }
        }
        ++i_;
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::vector<Segment> path_;
    DocumentScan out_;
};

}  // namespace

DocumentScan scan_document(std::string_view json) {
    return Scanner(json).run();
}

void line_column(std::string_view json, std::size_t offset, std::uint32_t& line,
                 std::uint32_t& column) {
    line = 1;
    std::size_t line_start = 0;
    for (std::size_t k = 0; k < offset && k < json.size(); ++k) {
        if (json[k] == '\n') {
            ++line;
            line_start = k + 1;
        }
    }
    column = static_cast<std::uint32_t>(offset - line_start + 1);
}

bool find_syntax_error(std::string_view json, SyntaxError& out) {
    Checker c(json);
    if (!c.run()) {
        return false;
    }
    out.offset = c.pos() < json.size() ? c.pos() : json.size();
    out.message = c.message();
    line_column(json, out.offset, out.line, out.column);
    return true;
}

}  // namespace ringprobe::config
