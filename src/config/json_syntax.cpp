// Where is the JSON broken? simdjson rejects an invalid document quickly but does not say where;
// this small recursive-descent checker runs only after such a rejection and finds the first
// offending byte, so that the error can name a line and column a person can go to. It follows
// RFC 8259 (including UTF-8 validity) and bounds nesting like the parser does.
#include <cstdint>
#include <string>
#include <string_view>

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

}  // namespace

bool find_syntax_error(std::string_view json, SyntaxError& out) {
    Checker c(json);
    if (!c.run()) {
        return false;
    }
    out.offset = c.pos() < json.size() ? c.pos() : json.size();
    out.message = c.message();
    std::uint32_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t k = 0; k < out.offset; ++k) {
        if (json[k] == '\n') {
            ++line;
            line_start = k + 1;
        }
    }
    out.line = line;
    out.column = static_cast<std::uint32_t>(out.offset - line_start + 1);
    return true;
}

}  // namespace ringprobe::config
