// Streaming HTTP/1.x response parser (see http_parser.hpp for the contract and the bounds).
//
// Line-oriented states take one byte at a time; body states take whole runs of bytes. A line
// is judged at its first line-end byte (CR or LF): a line that may not end there (an empty
// Content-Length, a conflicting one) is Malformed at that byte. What follows a line happens at
// its LF. Every byte of a counted section (the head, the trailers, a chunk-size line) is
// counted before it is looked at, so a response over a bound is TooLarge at the first byte
// past the bound, and a malformed byte before the bound is Malformed.
#include "engine/http_parser.hpp"

#include <algorithm>

#include "common/assert.hpp"

namespace ringprobe::engine {
namespace {

constexpr char version_literal[] = "HTTP/1.";
constexpr std::uint8_t version_literal_len = 7;
constexpr char content_length_name[] = "content-length";
constexpr std::uint8_t content_length_len = 14;
constexpr char transfer_encoding_name[] = "transfer-encoding";
constexpr std::uint8_t transfer_encoding_len = 17;
constexpr char chunked_name[] = "chunked";
constexpr std::uint8_t chunked_len = 7;
constexpr char connection_name[] = "connection";
constexpr std::uint8_t connection_len = 10;
constexpr char close_name[] = "close";
constexpr std::uint8_t close_len = 5;
constexpr std::uint8_t chunk_digits_max = 15;  // 15 hex digits: below 2^60, no overflow
constexpr std::uint64_t content_length_max = std::uint64_t{1} << 62;

constexpr bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
constexpr bool is_ows(unsigned char c) {
    return c == ' ' || c == '\t';
}
constexpr bool is_line_end(unsigned char c) {
    return c == '\r' || c == '\n';
}
constexpr unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
}

// RFC 9110 tchar.
constexpr bool is_tchar(unsigned char c) {
    if (c >= '0' && c <= '9') {
        return true;
    }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
        return true;
    }
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~': return true;
        default: return false;
    }
}

// Bytes allowed in a field value, a reason phrase or a chunk extension: HTAB, SP, VCHAR and
// obs-text. Other control bytes (NUL, DEL...) are Malformed.
constexpr bool is_value_char(unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

constexpr int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        return (c | 0x20) - 'a' + 10;
    }
    return -1;
}

}  // namespace

void HttpParser::reset(const BodyMatcher* body, bool stop_early) {
    *this = HttpParser{};
    body_ = (body != nullptr && !body->empty()) ? body : nullptr;
    stop_early_ = stop_early;
}

bool HttpParser::stop(Status s) {
    RP_ASSERT_HOT(s != Status::NeedMore);
    result_ = s;
    state_ = State::Final;
    return false;
}

HttpParser::Status HttpParser::feed(const char* p, std::size_t n) {
    std::size_t i = 0;
    while (i < n && result_ == Status::NeedMore) {
        if (state_ == State::BodyLength || state_ == State::BodyClose ||
            state_ == State::ChunkData) {
            i += body_bytes(p + i, n - i);
            continue;
        }
        if (counted_ != Counted::None) {
            std::uint32_t limit =
                counted_ == Counted::Section ? head_bytes_max : chunk_line_bytes_max;
            if (++count_ > limit) {
                stop(Status::TooLarge);
                break;
            }
        }
        byte(static_cast<unsigned char>(p[i]));
        ++i;
    }
    trailing_ = result_ == Status::Done && i < n;
    return result_;
}

HttpParser::Status HttpParser::finish_on_close() {
    if (result_ == Status::NeedMore) {
        stop(state_ == State::BodyClose ? Status::Done : Status::ClosedEarly);
    }
    return result_;
}

bool HttpParser::byte(unsigned char c) {
    switch (state_) {
        case State::StatusVersion:
            if (c != static_cast<unsigned char>(version_literal[idx_])) {
                return stop(Status::Malformed);
            }
            if (++idx_ == version_literal_len) {
                state_ = State::StatusMinor;
            }
            return true;
        case State::StatusMinor:
            if (!is_digit(c)) {
                return stop(Status::Malformed);
            }
            minor_zero_ = c == '0';
            state_ = State::StatusSpace;
            return true;
        case State::StatusSpace:
            if (c != ' ') {
                return stop(Status::Malformed);
            }
            state_ = State::StatusSpaces;
            return true;
        case State::StatusSpaces:
            if (c == ' ') {
                return true;
            }
            if (c < '1' || c > '9') {
                return stop(Status::Malformed);
            }
            code_ = static_cast<std::uint16_t>(c - '0');
            idx_ = 1;
            state_ = State::StatusCode;
            return true;
        case State::StatusCode:
            if (!is_digit(c)) {
                return stop(Status::Malformed);
            }
            code_ = static_cast<std::uint16_t>(code_ * 10 + (c - '0'));
            if (++idx_ == 3) {
                state_ = State::StatusAfterCode;
            }
            return true;
        case State::StatusAfterCode:
            if (c == ' ') {
                state_ = State::StatusReason;
                return true;
            }
            return is_line_end(c) ? line_char(c) : stop(Status::Malformed);
        case State::StatusReason:
            if (is_line_end(c)) {
                return line_char(c);
            }
            return is_value_char(c) ? true : stop(Status::Malformed);
        case State::LineLf: return c == '\n' ? line_next() : stop(Status::Malformed);
        case State::HeaderStart: return header_start(c);
        case State::HeaderName: return header_name_char(c);
        case State::HeaderValue: return is_line_end(c) ? line_char(c) : header_value_char(c);
        case State::ChunkSize:
        case State::ChunkSizeWs:
        case State::ChunkExt: return chunk_char(c);
        case State::ChunkDataEnd:
            line_ = Line::ChunkDataEnd;
            return is_line_end(c) ? line_char(c) : stop(Status::Malformed);
        case State::BodyLength:
        case State::BodyClose:
        case State::ChunkData:
        case State::Final: break;
    }
    RP_ASSERT_HOT(false);  // body states are handled in bulk, Final is never fed
    return false;
}

bool HttpParser::line_char(unsigned char c) {
    if (!line_end_check()) {
        return false;
    }
    if (c == '\r') {
        state_ = State::LineLf;
        return true;
    }
    return line_next();
}

bool HttpParser::line_end_check() {
    if (state_ == State::HeaderValue) {
        return header_value_end();
    }
    return true;
}

bool HttpParser::line_next() {
    switch (line_) {
        case Line::Status:
        case Line::Header:
        case Line::Trailer: state_ = State::HeaderStart; return true;
        case Line::HeadEnd: return end_of_head();
        case Line::TrailerEnd: return stop(Status::Done);
        case Line::ChunkSize:
            if (number_ == 0) {
                in_trailer_ = true;
                counted_ = Counted::Section;
                count_ = 0;
                state_ = State::HeaderStart;
            } else {
                remaining_ = number_;
                counted_ = Counted::None;
                state_ = State::ChunkData;
            }
            return true;
        case Line::ChunkDataEnd: start_chunk_line(); return true;
    }
    return stop(Status::Malformed);
}

void HttpParser::start_chunk_line() {
    state_ = State::ChunkSize;
    line_ = Line::ChunkSize;
    counted_ = Counted::ChunkLine;
    count_ = 0;
    number_ = 0;
    idx_ = 0;
}

bool HttpParser::end_of_head() {
    if (code_ >= 100 && code_ < 200 && code_ != 101) {
        // An interim response: parse the next head; its bytes count against the same bound.
        state_ = State::StatusVersion;
        line_ = Line::Status;
        idx_ = 0;
        code_ = 0;
        cl_seen_ = false;
        te_seen_ = false;
        te_chunked_ = false;
        conn_close_ = false;
        return true;
    }
    code_done_ = true;
    counted_ = Counted::None;
    if (code_ < 200 || code_ == 204 || code_ == 304) {
        return stop(Status::Done);  // no body (101 ends the HTTP exchange)
    }
    if (stop_early_ && body_ == nullptr) {
        return stop(Status::Done);  // the status is all the verdict needs
    }
    if (te_seen_) {
        if (te_chunked_) {
            start_chunk_line();
        } else {
            state_ = State::BodyClose;
            close_delimited_ = true;
        }
        return true;
    }
    if (cl_seen_) {
        if (content_length_ == 0) {
            return stop(Status::Done);
        }
        remaining_ = content_length_;
        state_ = State::BodyLength;
        return true;
    }
    state_ = State::BodyClose;
    close_delimited_ = true;
    return true;
}

bool HttpParser::header_start(unsigned char c) {
    if (is_line_end(c)) {
        line_ = in_trailer_ ? Line::TrailerEnd : Line::HeadEnd;
        return line_char(c);
    }
    if (!is_tchar(c)) {
        return stop(Status::Malformed);  // includes obs-fold (SP/HT) and leading junk
    }
    line_ = in_trailer_ ? Line::Trailer : Line::Header;
    state_ = State::HeaderName;
    idx_ = 0;
    name_cands_ = in_trailer_ ? 0 : 7;
    return header_name_char(c);
}

bool HttpParser::header_name_char(unsigned char c) {
    if (c == ':') {
        if (idx_ == 0) {
            return stop(Status::Malformed);
        }
        field_ = Field::Other;
        if ((name_cands_ & 1U) != 0 && idx_ == content_length_len) {
            field_ = Field::ContentLength;
        } else if ((name_cands_ & 2U) != 0 && idx_ == transfer_encoding_len) {
            field_ = Field::TransferEncoding;
            te_seen_ = true;
        } else if ((name_cands_ & 4U) != 0 && idx_ == connection_len) {
            field_ = Field::Connection;
        }
        state_ = State::HeaderValue;
        value_phase_ = 0;
        number_ = 0;
        idx_ = 0;
        te_elem_bad_ = false;
        return true;
    }
    if (!is_tchar(c)) {
        return stop(Status::Malformed);
    }
    unsigned char l = lower(c);
    if (idx_ >= content_length_len || l != static_cast<unsigned char>(content_length_name[idx_])) {
        name_cands_ &= static_cast<std::uint8_t>(~1U);
    }
    if (idx_ >= transfer_encoding_len ||
        l != static_cast<unsigned char>(transfer_encoding_name[idx_])) {
        name_cands_ &= static_cast<std::uint8_t>(~2U);
    }
    if (idx_ >= connection_len || l != static_cast<unsigned char>(connection_name[idx_])) {
        name_cands_ &= static_cast<std::uint8_t>(~4U);
    }
    if (idx_ < 255) {
        ++idx_;
    }
    return true;
}

bool HttpParser::header_value_char(unsigned char c) {
    if (!is_value_char(c)) {
        return stop(Status::Malformed);
    }
    switch (field_) {
        case Field::Other: return true;
        case Field::ContentLength:
            if (is_ows(c)) {
                value_phase_ = value_phase_ == 0 ? 0 : 2;
                return true;
            }
            if (!is_digit(c) || value_phase_ == 2 || number_ > content_length_max / 10) {
                return stop(Status::Malformed);
            }
            value_phase_ = 1;
            number_ = number_ * 10 + (c - '0');
            return true;
        case Field::TransferEncoding: element_char(c, chunked_name, chunked_len); return true;
        case Field::Connection: element_char(c, close_name, close_len); return true;
    }
    return true;
}

// Transfer-Encoding and Connection are comma-separated lists; what matters is whether an
// element is exactly `word` (any case): "chunked" as Transfer-Encoding's last element, "close"
// as any of Connection's. value_phase_: 0 nothing yet in this element, 1 in the element, 2
// whitespace after it (anything more makes it not `word`).
void HttpParser::element_char(unsigned char c, const char* word, std::uint8_t len) {
    if (c == ',') {
        element_end();
        return;
    }
    if (is_ows(c)) {
        value_phase_ = value_phase_ == 0 ? 0 : 2;
        return;
    }
    if (value_phase_ == 2) {
        te_elem_bad_ = true;
    }
    value_phase_ = 1;
    if (!te_elem_bad_ && idx_ < len && lower(c) == static_cast<unsigned char>(word[idx_])) {
        ++idx_;
    } else {
        te_elem_bad_ = true;
    }
}

void HttpParser::element_end() {
    if (value_phase_ != 0 && field_ == Field::TransferEncoding) {
        te_chunked_ = !te_elem_bad_ && idx_ == chunked_len;
    } else if (value_phase_ != 0 && !te_elem_bad_ && idx_ == close_len) {
        conn_close_ = true;
    }
    value_phase_ = 0;
    idx_ = 0;
    te_elem_bad_ = false;
}

bool HttpParser::header_value_end() {
    if (field_ == Field::ContentLength) {
        if (value_phase_ == 0 || (cl_seen_ && number_ != content_length_)) {
            return stop(Status::Malformed);
        }
        cl_seen_ = true;
        content_length_ = number_;
    } else if (field_ == Field::TransferEncoding || field_ == Field::Connection) {
        element_end();
    }
    return true;
}

bool HttpParser::chunk_char(unsigned char c) {
    if (state_ == State::ChunkSize) {
        int h = hex_value(c);
        if (h >= 0) {
            if (idx_ == chunk_digits_max) {
                return stop(Status::Malformed);
            }
            ++idx_;
            number_ = number_ * 16 + static_cast<std::uint64_t>(h);
            return true;
        }
        if (idx_ == 0) {
            return stop(Status::Malformed);
        }
    }
    if (is_line_end(c)) {
        return line_char(c);
    }
    if (state_ == State::ChunkExt) {
        return is_value_char(c) ? true : stop(Status::Malformed);
    }
    if (is_ows(c)) {
        state_ = State::ChunkSizeWs;
        return true;
    }
    if (c == ';') {
        state_ = State::ChunkExt;
        return true;
    }
    return stop(Status::Malformed);
}

std::size_t HttpParser::body_bytes(const char* p, std::size_t n) {
    std::size_t k = n;
    if (state_ != State::BodyClose) {
        k = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n));
        remaining_ -= k;
    }
    inspect(p, k);
    if (state_ == State::BodyLength && remaining_ == 0) {
        stop(Status::Done);
    } else if (state_ == State::ChunkData && remaining_ == 0) {
        state_ = State::ChunkDataEnd;
    }
    if (result_ == Status::NeedMore && stop_early_ && verdict_known()) {
        stop(Status::Done);
    }
    return k;
}

void HttpParser::inspect(const char* p, std::size_t n) {
    if (body_ == nullptr || body_->found(match_) || inspected_ >= body_window_bytes) {
        return;
    }
    auto w = static_cast<std::uint32_t>(std::min<std::size_t>(n, body_window_bytes - inspected_));
    match_ = body_->feed(match_, p, w);
    inspected_ += w;
}

bool HttpParser::keeps_connection() const {
    return result_ == Status::Done && !stop_early_ && code_done_ && !minor_zero_ && !conn_close_ &&
           !close_delimited_ && !trailing_ && code_ != 101;
}

bool HttpParser::verdict_known() const {
    return body_ == nullptr || body_->found(match_) || inspected_ >= body_window_bytes;
}

bool status_matches(std::span<const StatusRange> ranges, std::uint16_t code) {
    for (const StatusRange& r : ranges) {
        if (code >= r.lo && code <= r.hi) {
            return true;
        }
    }
    return false;
}

Reason reason_of(HttpParser::Status s) {
    switch (s) {
        case HttpParser::Status::NeedMore: return Reason::ResponseTimeout;
        case HttpParser::Status::Done: return Reason::Ok;
        case HttpParser::Status::Malformed: return Reason::MalformedResponse;
        case HttpParser::Status::TooLarge: return Reason::ResponseTooLarge;
        case HttpParser::Status::ClosedEarly: return Reason::ClosedEarly;
    }
    return Reason::MalformedResponse;
}

Reason http_verdict(const HttpParser& parser, std::span<const StatusRange> ranges) {
    if (parser.status() != HttpParser::Status::Done) {
        return reason_of(parser.status());
    }
    if (!status_matches(ranges, parser.status_code())) {
        return Reason::StatusMismatch;
    }
    return parser.body_matched() ? Reason::Ok : Reason::BodyMismatch;
}

}  // namespace ringprobe::engine
