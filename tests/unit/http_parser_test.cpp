// Pins src/engine/http_parser.cpp, one behaviour per test: each tolerance the engine promises
// (HTTP/1.0, no reason phrase, bare LF, header case, Content-Length, chunked with extensions
// and trailers, close-delimited bodies, skipped 1xx), each error (Malformed, TooLarge,
// ClosedEarly) and the early verdict. Every response is parsed whole and again one byte at a
// time, and both must agree: the parser's state carries across any split.
#include "engine/http_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringprobe::engine {
namespace {

using S = HttpParser::Status;

struct Outcome {
    S status;
    std::uint16_t code;
    bool matched;
    bool operator==(const Outcome&) const = default;
};

Outcome run(const std::string& resp, const BodyMatcher* m, bool stop_early, std::size_t piece,
            bool close) {
    HttpParser p;
    p.reset(m, stop_early);
    S s = S::NeedMore;
    for (std::size_t at = 0; at < resp.size() && s == S::NeedMore; at += piece) {
        s = p.feed(resp.data() + at, std::min(piece, resp.size() - at));
    }
    if (close) {
        s = p.finish_on_close();
    }
    return {s, p.status_code(), p.body_matched()};
}

// Parses whole and byte by byte (early and full mode must agree on these inputs); `close`
// says whether the peer closes after the bytes.
Outcome parse(const std::string& resp, const std::string& needle = "", bool close = false) {
    BodyMatcher m(needle);
    Outcome whole = run(resp, &m, true, resp.size() + 1, close);
    Outcome bytes = run(resp, &m, true, 1, close);
    EXPECT_EQ(whole, bytes) << "split changed the result";
    return whole;
}

TEST(HttpParser, PlainOkWithContentLength) {
    Outcome o = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "ell");
    EXPECT_EQ(o, (Outcome{S::Done, 200, true}));
}

// Connection reuse: whether a whole parse (stop_early false) leaves the connection fit for the
// next request, fed whole and byte by byte. Bytes after the response are seen only when they
// come in the feed that ends it (`whole_only`); later ones stay in the socket, where the next
// probe's check finds them (Worker::start_reused).
bool keeps(const std::string& resp, bool whole_only = false) {
    bool kept[2] = {};
    for (int k = 0; k < 2; ++k) {
        HttpParser p;
        p.reset(nullptr, false);
        const std::size_t piece = k == 0 ? resp.size() : 1;
        S s = S::NeedMore;
        for (std::size_t at = 0; at < resp.size() && s == S::NeedMore; at += piece) {
            s = p.feed(resp.data() + at, std::min(piece, resp.size() - at));
        }
        kept[k] = p.keeps_connection();
    }
    if (!whole_only) {
        EXPECT_EQ(kept[0], kept[1]) << "split changed whether the connection is kept";
    }
    return kept[0];
}

TEST(HttpParser, KeepsAConnectionOnlyAfterAFramedHttp11ResponseWithoutClose) {
    EXPECT_TRUE(keeps("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    EXPECT_TRUE(keeps("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"));
    EXPECT_TRUE(keeps("HTTP/1.1 204 No Content\r\n\r\n"));
    EXPECT_TRUE(keeps("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"));
    EXPECT_FALSE(keeps("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"));
    EXPECT_FALSE(
        keeps("HTTP/1.1 200 OK\r\nconnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n"));
    EXPECT_FALSE(keeps("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    EXPECT_FALSE(keeps("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXYZ", true));  // trailing
    EXPECT_FALSE(
        keeps("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
              "HTTP/1.1 500 Bad\r\nContent-Length: 0\r\n\r\n",
              true));                                                             // pipelined
    EXPECT_FALSE(keeps("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok"));        // not done
    EXPECT_FALSE(keeps("HTTP/1.1 200 OK\r\nX-Connection: close-ish\r\n\r\nok"));  // by close
}

TEST(HttpParser, DoneRightAfterHeadWhenNoBodyMatch) {
    HttpParser p;
    p.reset(nullptr);
    std::string head = "HTTP/1.1 503 Busy\r\nContent-Length: 100000\r\n\r\n";
    EXPECT_EQ(p.feed(head.data(), head.size()), S::Done);
    EXPECT_EQ(p.status_code(), 503);
}

TEST(HttpParser, AcceptsHttp10) {
    EXPECT_EQ(parse("HTTP/1.0 200 OK\r\n\r\nbody", "body", true).status, S::Done);
}

TEST(HttpParser, AcceptsMissingReasonPhrase) {
    EXPECT_EQ(parse("HTTP/1.1 204\r\n\r\n"), (Outcome{S::Done, 204, true}));
    EXPECT_EQ(parse("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").code, 200);
}

TEST(HttpParser, AcceptsBareLfLineEnds) {
    EXPECT_EQ(parse("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", "ok"),
              (Outcome{S::Done, 200, true}));
}

TEST(HttpParser, HeaderNamesAreCaseInsensitive) {
    Outcome o = parse("HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 3\r\n\r\nabcdef", "cd");
    EXPECT_EQ(o.status, S::Done);
    EXPECT_FALSE(o.matched);  // only 3 body bytes belong to the response
}

TEST(HttpParser, DecodesChunkedBodyWithExtensionsAndTrailers) {
    std::string r =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4;name=value\r\nheal\r\n3\r\nthy\r\n0\r\nX-Trailer: 1\r\n\r\n";
    EXPECT_EQ(parse(r, "healthy"), (Outcome{S::Done, 200, true}));
    BodyMatcher none("");
    EXPECT_EQ(run(r, &none, false, 1, false), (Outcome{S::Done, 200, true}));
}

TEST(HttpParser, ChunkSizeLineNotPartOfTheBody) {
    std::string r =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
    EXPECT_TRUE(parse(r, "abcd").matched);
    EXPECT_FALSE(parse(r, "b\r\n2").matched);
}

TEST(HttpParser, TransferEncodingWinsOverContentLength) {
    std::string r =
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n";
    EXPECT_TRUE(parse(r, "abc").matched);
}

TEST(HttpParser, NonChunkedTransferEncodingIsCloseDelimited) {
    std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz";
    EXPECT_EQ(parse(r, "q", false).status, S::NeedMore);
    EXPECT_EQ(parse(r, "q", true), (Outcome{S::Done, 200, false}));
}

TEST(HttpParser, CloseDelimitedBodyCompletesOnClose) {
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\n\r\nall good", "good"), (Outcome{S::Done, 200, true}));
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\n\r\nall bad", "good", true),
              (Outcome{S::Done, 200, false}));
}

TEST(HttpParser, SkipsInterimResponses) {
    std::string r =
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
        "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    EXPECT_EQ(parse(r), (Outcome{S::Done, 201, true}));
}

TEST(HttpParser, NoBodyFor204And304) {
    EXPECT_EQ(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "x"),
              (Outcome{S::Done, 304, false}));
}

TEST(HttpParser, BodyMatchLimitedToWindow) {
    std::string body(HttpParser::body_window_bytes - 2, 'x');
    body += "NEEDLE";
    std::string r =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    EXPECT_EQ(parse(r, "NEEDLE"), (Outcome{S::Done, 200, false}));
    EXPECT_EQ(parse(r, "xxNE"), (Outcome{S::Done, 200, true}));
}

// The report says "the first 64 KiB" only when the search stopped at the window's end.
TEST(HttpParser, WindowFullTellsABodyCutFromAShortOne) {
    BodyMatcher m("NEEDLE");
    HttpParser p;
    const std::string big(HttpParser::body_window_bytes + 100, 'x');
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: ";
    const std::string r = head + std::to_string(big.size()) + "\r\n\r\n" + big;
    p.reset(&m);
    p.feed(r.data(), r.size());
    EXPECT_EQ(http_verdict(p, std::span<const StatusRange>{}), Reason::StatusMismatch);
    EXPECT_TRUE(p.body_window_full());
    const std::string small = head + "5\r\n\r\nxxxxx";
    p.reset(&m);
    p.feed(small.data(), small.size());
    EXPECT_FALSE(p.body_window_full());
}

TEST(HttpParser, EarlyDoneOnceNeedleFound) {
    BodyMatcher m("ok");
    HttpParser p;
    p.reset(&m);
    std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nok";
    EXPECT_EQ(p.feed(r.data(), r.size()), S::Done);
    EXPECT_TRUE(p.body_matched());
}

TEST(HttpParser, MalformedStatusLine) {
    EXPECT_EQ(parse("HTTP/2 200 OK\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("http/1.1 200 OK\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 20 OK\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 2000\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 099 Low\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("SSH-2.0-OpenSSH_9.2\r\n").status, S::Malformed);
}

TEST(HttpParser, MalformedBareCr) {
    EXPECT_EQ(parse("HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n").status, S::Malformed);
}

TEST(HttpParser, MalformedHeaderLines) {
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nName : x\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\n: x\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse(std::string("HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n", 28)).status, S::Malformed);
}

TEST(HttpParser, MalformedContentLength) {
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n").status, S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n").status,
              S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n").status,
              S::Malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length:  2 \r\n\r\nok").status,
              S::Done);
}

TEST(HttpParser, MalformedChunks) {
    std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    EXPECT_EQ(parse(head + "zz\r\n", "x").status, S::Malformed);
    EXPECT_EQ(parse(head + "2\r\nabX\r\n", "x").status, S::Malformed);
    EXPECT_EQ(parse(head + "1234567890abcdef0\r\n", "x").status, S::Malformed);
    EXPECT_EQ(parse(head + ";ext\r\n", "x").status, S::Malformed);
}

TEST(HttpParser, HeadOverTheBoundIsTooLarge) {
    std::string r = "HTTP/1.1 200 OK\r\nX: " + std::string(HttpParser::head_bytes_max, 'a');
    EXPECT_EQ(parse(r).status, S::TooLarge);
}

TEST(HttpParser, HeadExactlyAtTheBoundIsAccepted) {
    std::string start = "HTTP/1.1 200 OK\r\nX: ";
    std::string end = "\r\nContent-Length: 0\r\n\r\n";
    std::string r =
        start + std::string(HttpParser::head_bytes_max - start.size() - end.size(), 'a') + end;
    ASSERT_EQ(r.size(), HttpParser::head_bytes_max);
    EXPECT_EQ(parse(r).status, S::Done);
    r.insert(start.size(), "a");
    EXPECT_EQ(parse(r).status, S::TooLarge);
}

TEST(HttpParser, EndlessInterimResponsesAreTooLarge) {
    std::string r;
    while (r.size() <= HttpParser::head_bytes_max) {
        r += "HTTP/1.1 100 Continue\r\n\r\n";
    }
    EXPECT_EQ(parse(r).status, S::TooLarge);
}

TEST(HttpParser, LongChunkExtensionIsTooLarge) {
    std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" +
                    std::string(HttpParser::chunk_line_bytes_max, 'e');
    EXPECT_EQ(parse(r, "x").status, S::TooLarge);
}

TEST(HttpParser, ClosedEarlyInHeadOrBody) {
    EXPECT_EQ(parse("", "", true).status, S::ClosedEarly);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Le", "", true).status, S::ClosedEarly);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "zz", true).status,
              S::ClosedEarly);
    EXPECT_EQ(
        parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", "zz", true).status,
        S::ClosedEarly);
}

TEST(HttpParser, ResultIsStickyAfterDone) {
    HttpParser p;
    p.reset(nullptr);
    std::string r = "HTTP/1.1 200 OK\r\n\r\n";
    EXPECT_EQ(p.feed(r.data(), r.size()), S::Done);
    EXPECT_EQ(p.feed("garbage", 7), S::Done);
    EXPECT_EQ(p.finish_on_close(), S::Done);
}

TEST(HttpParser, StatusMatchesInclusiveRanges) {
    std::vector<StatusRange> ranges = {{200, 399}, {401, 401}};
    EXPECT_TRUE(status_matches(ranges, 200));
    EXPECT_TRUE(status_matches(ranges, 399));
    EXPECT_TRUE(status_matches(ranges, 401));
    EXPECT_FALSE(status_matches(ranges, 400));
    EXPECT_FALSE(status_matches(ranges, 199));
    EXPECT_FALSE(status_matches({}, 200));
}

TEST(HttpParser, VerdictMapsToReasons) {
    std::vector<StatusRange> ok = {{200, 399}};
    BodyMatcher m("up");
    HttpParser p;
    auto verdict = [&](const std::string& r, bool close) {
        p.reset(&m);
        p.feed(r.data(), r.size());
        if (close) {
            p.finish_on_close();
        }
        return http_verdict(p, ok);
    };
    EXPECT_EQ(verdict("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nup", false), Reason::Ok);
    EXPECT_EQ(verdict("HTTP/1.1 503 No\r\nContent-Length: 2\r\n\r\nup", false),
              Reason::StatusMismatch);
    EXPECT_EQ(verdict("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno", false),
              Reason::BodyMismatch);
    EXPECT_EQ(verdict("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nno", false),
              Reason::ResponseTimeout);
    EXPECT_EQ(verdict("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nno", true), Reason::ClosedEarly);
    EXPECT_EQ(verdict("garbage", false), Reason::MalformedResponse);
}

}  // namespace
}  // namespace ringprobe::engine
