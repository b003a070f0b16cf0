// HttpParser: a streaming, allocation-free HTTP/1.x response parser for probe responses.
//
// The parser is a small trivially copyable struct that lives in each probe slot; reset() it
// per probe and feed() it the bytes of every recv() as they arrive, split anywhere (down to one
// byte at a time); call finish_on_close() when the peer closes. It never allocates, copies the
// response, formats, throws or makes a syscall.
//
// Tolerant of what real backends send: HTTP/1.0 and 1.1 (any 1.x), a missing reason phrase,
// CRLF or bare LF line ends, header names in any case, Content-Length, Transfer-Encoding:
// chunked (extensions and trailers allowed), close-delimited bodies, and 1xx interim responses
// (100 Continue...), which are skipped. 101 is taken as final (we never ask to upgrade).
//
// Bounded (every limit is a constant below):
//  - the response head, counting every interim head before the final one, is at most
//    head_bytes_max bytes (status lines, header lines and line ends); the chunked trailer
//    section has the same bound and a chunk-size line (with extensions) chunk_line_bytes_max;
//    beyond a bound: TooLarge;
//  - the decoded body (after de-chunking) is given to the BodyMatcher only for its first
//    body_window_bytes bytes; a needle not found there is not found.
//
// Early verdict (stop_early, the default): the engine closes the connection as soon as the
// verdict is known, so feed() reports Done right after the final head when no body match is
// configured, and as soon as the needle is found or the window is exhausted otherwise. Bytes
// after that point are not looked at (so framing errors there go unnoticed). With
// stop_early = false the whole message is parsed and Done means a complete, well-framed
// response (the model test and connection reuse use this; keeps_connection() then says whether
// the connection may carry the next request).
//
// Strictness (what is Malformed): a status line that is not "HTTP/1.<digit>", one or more
// spaces, three digits (the first 1-9), then a space and a reason or the line end; a CR not
// followed by LF; a header name that is empty or not a token (so whitespace before the colon is
// rejected) or an obs-fold continuation line; a control byte other than HTAB in a value or a
// reason; a Content-Length that is not digits, too big, or disagrees with an earlier one; a bad
// chunk size (not hex, more than 15 digits) or missing CRLF after chunk data. A
// Transfer-Encoding whose last coding is not chunked means a close-delimited body, and
// Transfer-Encoding wins over Content-Length (RFC 9112 section 6.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include <ringprobe/report.hpp>
#include <ringprobe/result.hpp>

#include "config/status_range.hpp"
#include "engine/body_matcher.hpp"

namespace ringprobe::engine {

class HttpParser {
public:
    enum class Status : std::uint8_t { NeedMore, Done, Malformed, TooLarge, ClosedEarly };

    static constexpr std::uint32_t head_bytes_max = 16 * 1024;
    static constexpr std::uint32_t chunk_line_bytes_max = 4 * 1024;
    // The report says "the first 64 KiB" from the same constant.
    static constexpr std::uint32_t body_window_bytes = report_abi::kBodyWindowBytes;

    // body: the needle to look for in the body window (nullptr or an empty needle: none).
    void reset(const BodyMatcher* body = nullptr, bool stop_early = true);
    Status feed(const char* p, std::size_t n);
    Status finish_on_close();  // EOF: completes a close-delimited body, else ClosedEarly

    Status status() const { return result_; }
    // The final response's status code, or 0 until its status line is complete.
    std::uint16_t status_code() const { return code_done_ ? code_ : 0; }
    // With stop_early false: the response ended at its own framing (Content-Length, chunked, or
    // a status without a body) with no byte after it in the same feed, it is HTTP/1.1 or later
    // and no Connection header says close, so the connection may carry the next request.
    bool keeps_connection() const;
    // The feed that completed the response held bytes after it (pipelined or trailing bytes:
    // a connection that cannot be trusted with the next response).
    bool trailing_bytes() const { return trailing_; }
    // True when no needle is configured or the needle was found in the body window.
    bool body_matched() const { return body_ == nullptr || body_->found(match_); }
    std::uint32_t body_bytes_inspected() const { return inspected_; }
    // The whole window was searched: the body may go on past what was looked at (exactly
    // body_window_bytes long or longer; the parser stops reading there when it may).
    bool body_window_full() const { return inspected_ >= body_window_bytes; }

private:
    enum class State : std::uint8_t {
        StatusVersion,
        StatusMinor,
        StatusSpace,
        StatusSpaces,
        StatusCode,
        StatusAfterCode,
        StatusReason,
        LineLf,
        HeaderStart,
        HeaderName,
        HeaderValue,
        ChunkSize,
        ChunkSizeWs,
        ChunkExt,
        ChunkData,
        ChunkDataEnd,
        BodyLength,
        BodyClose,
        Final,
    };
    enum class Line : std::uint8_t {
        Status,
        Header,
        HeadEnd,
        Trailer,
        TrailerEnd,
        ChunkSize,
        ChunkDataEnd
    };
    enum class Counted : std::uint8_t { None, Section, ChunkLine };
    enum class Field : std::uint8_t { Other, ContentLength, TransferEncoding, Connection };

    bool stop(Status s);              // ends the parse with s; returns false
    bool byte(unsigned char c);       // one byte of a line state; false once ended
    bool line_char(unsigned char c);  // a CR or LF ends the current line
    bool line_end_check();            // at the first line-end byte: may the line end here?
    bool line_next();                 // at the LF: move to what follows the line
    bool end_of_head();
    bool header_start(unsigned char c);
    bool header_name_char(unsigned char c);
    bool header_value_char(unsigned char c);
    bool header_value_end();
    void element_char(unsigned char c, const char* word, std::uint8_t len);
    void element_end();
    bool chunk_char(unsigned char c);
    void start_chunk_line();
    std::size_t body_bytes(const char* p, std::size_t n);  // bulk body states; returns used
    void inspect(const char* p, std::size_t n);
    bool verdict_known() const;

    const BodyMatcher* body_ = nullptr;
    std::uint64_t remaining_ = 0;  // Content-Length body or chunk bytes left
    std::uint64_t number_ = 0;     // Content-Length or chunk size being parsed
    std::uint64_t content_length_ = 0;
    BodyMatcher::State match_ = 0;
    std::uint32_t inspected_ = 0;  // decoded body bytes given to the matcher
    std::uint32_t count_ = 0;      // bytes of the counted section or line so far
    std::uint16_t code_ = 0;
    std::uint8_t idx_ = 0;  // position in a literal, name or token
    // bit 0: may be Content-Length, bit 1: Transfer-Encoding, bit 2: Connection
    std::uint8_t name_cands_ = 0;
    std::uint8_t value_phase_ = 0;  // 0 leading OWS, 1 in the value, 2 trailing OWS
    State state_ = State::StatusVersion;
    Line line_ = Line::Status;
    Counted counted_ = Counted::Section;
    Field field_ = Field::Other;
    Status result_ = Status::NeedMore;
    bool stop_early_ = true;
    bool code_done_ = false;
    bool in_trailer_ = false;
    bool cl_seen_ = false;
    bool te_seen_ = false;
    bool te_chunked_ = false;   // the last transfer coding seen so far is "chunked"
    bool te_elem_bad_ = false;  // the current list element is not (or no longer) the word
    bool minor_zero_ = false;   // HTTP/1.0: the connection closes after the response
    bool conn_close_ = false;   // the final head's Connection header says close
    bool close_delimited_ = false;
    bool trailing_ = false;  // bytes followed the response's end in the feed that ended it
};
static_assert(std::is_trivially_copyable_v<HttpParser>);
static_assert(sizeof(HttpParser) <= 80, "one parser per in-flight probe: keep it small");

// Does the status code fall in one of the (inclusive) ranges?
bool status_matches(std::span<const StatusRange> ranges, std::uint16_t code);

// The Reason a parse that ended with s gives: Done is Ok, an error its Reason, and NeedMore
// (no complete response when the deadline came) ResponseTimeout.
Reason reason_of(HttpParser::Status s);

// The verdict of a finished parse: the error's Reason, else StatusMismatch, BodyMismatch or Ok.
Reason http_verdict(const HttpParser& parser, std::span<const StatusRange> ranges);

}  // namespace ringprobe::engine
