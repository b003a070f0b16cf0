// Model test for src/engine/http_parser.cpp: random responses (valid ones with random
// versions, reason phrases, header names in random case, line ends, Content-Length, chunked
// bodies with extensions and trailers, close-delimited bodies, interim 1xx; then often
// mutated: a byte changed, inserted or dropped, the tail cut, a header or extension blown past
// its bound) are parsed by the streaming parser fed at random split points and by a slow,
// obviously-correct reference that works on the whole response as a std::string, line by line.
// With stop_early off the two must agree exactly (status, code, body verdict). With it on
// (what the engine uses), an error or NeedMore must be the reference's, and an early Done
// must carry the reference's code and body verdict. The seed is printed on failure (RP_SEED
// replays it).
#include "engine/http_parser.hpp"
#include "test_seed.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ringprobe::engine {
namespace {

using S = HttpParser::Status;

struct Outcome {
    S status = S::NeedMore;
    std::uint16_t code = 0;
    bool matched = false;
    bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    return os << "{status " << static_cast<int>(o.status) << ", code " << o.code << ", matched "
              << o.matched << "}";
}

// ---------------------------------------------------------------- the reference parser

constexpr std::size_t ok_line = std::string::npos;

bool tchar(unsigned char c) {
    return std::isalnum(c) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}
bool vchar(unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}
bool ows(char c) {
    return c == ' ' || c == '\t';
}
std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

// Validators return the index of the first byte the line may not have (content.size() when it
// may not end where it ends), or ok_line.
std::size_t check_status_line(std::string_view c, std::uint16_t& code) {
    std::string_view lit = "HTTP/1.";
    for (std::size_t i = 0; i < lit.size(); ++i) {
        if (i >= c.size() || c[i] != lit[i]) {
            return i;
        }
    }
    if (c.size() <= 7 || !std::isdigit(static_cast<unsigned char>(c[7]))) {
        return 7;
    }
    if (c.size() <= 8 || c[8] != ' ') {
        return 8;
    }
    std::size_t i = 9;
    while (i < c.size() && c[i] == ' ') {
        ++i;
    }
    if (i >= c.size() || c[i] < '1' || c[i] > '9') {
        return i;
    }
    for (std::size_t k = 1; k < 3; ++k) {
        if (i + k >= c.size() || !std::isdigit(static_cast<unsigned char>(c[i + k]))) {
            return i + k;
        }
    }
    code = static_cast<std::uint16_t>(std::stoi(std::string(c.substr(i, 3))));
    i += 3;
    if (i == c.size()) {
        return ok_line;
    }
    if (c[i] != ' ') {
        return i;
    }
    for (++i; i < c.size(); ++i) {
        if (!vchar(static_cast<unsigned char>(c[i]))) {
            return i;
        }
    }
    return ok_line;
}

struct Framing {
    bool cl_seen = false;
    std::uint64_t cl = 0;
    bool te_seen = false;
    bool te_chunked = false;
};

std::size_t check_header_line(std::string_view c, bool trailer, Framing& f) {
    std::size_t colon = 0;
    while (colon < c.size() && c[colon] != ':') {
        if (!tchar(static_cast<unsigned char>(c[colon]))) {
            return colon;
        }
        ++colon;
    }
    if (colon == 0 || colon == c.size()) {
        return colon;
    }
    for (std::size_t i = colon + 1; i < c.size(); ++i) {
        if (!vchar(static_cast<unsigned char>(c[i]))) {
            return i;
        }
    }
    std::string name = lower(c.substr(0, colon));
    std::string_view value = c.substr(colon + 1);
    if (trailer) {
        return ok_line;
    }
    if (name == "content-length") {
        std::size_t i = 0;
        while (i < value.size() && ows(value[i])) {
            ++i;
        }
        std::uint64_t n = 0;
        std::size_t digits = 0;
        for (; i < value.size() && std::isdigit(static_cast<unsigned char>(value[i])); ++i) {
            if (n > (std::uint64_t{1} << 62) / 10) {
                return colon + 1 + i;
            }
            n = n * 10 + static_cast<std::uint64_t>(value[i] - '0');
            ++digits;
        }
        while (i < value.size() && ows(value[i])) {
            ++i;
        }
        if (i < value.size()) {
            return colon + 1 + i;
        }
        if (digits == 0 || (f.cl_seen && f.cl != n)) {
            return c.size();
        }
        f.cl_seen = true;
        f.cl = n;
    } else if (name == "transfer-encoding") {
        f.te_seen = true;
        std::size_t start = 0;
        while (start <= value.size()) {
            std::size_t comma = value.find(',', start);
            if (comma == std::string_view::npos) {
                comma = value.size();
            }
            std::string_view e = value.substr(start, comma - start);
            while (!e.empty() && ows(e.front())) {
                e.remove_prefix(1);
            }
            while (!e.empty() && ows(e.back())) {
                e.remove_suffix(1);
            }
            if (!e.empty()) {
                f.te_chunked = lower(e) == "chunked";
            }
            start = comma + 1;
        }
    }
    return ok_line;
}

std::size_t check_chunk_line(std::string_view c, std::uint64_t& size) {
    std::size_t i = 0;
    size = 0;
    while (i < c.size() && std::isxdigit(static_cast<unsigned char>(c[i]))) {
        if (i == 15) {
            return i;
        }
        size = size * 16 + static_cast<std::uint64_t>(std::stoi(std::string(1, c[i]), nullptr, 16));
        ++i;
    }
    if (i == 0) {
        return 0;
    }
    while (i < c.size() && ows(c[i])) {
        ++i;
    }
    if (i == c.size()) {
        return ok_line;
    }
    if (c[i] != ';') {
        return i;
    }
    for (++i; i < c.size(); ++i) {
        if (!vchar(static_cast<unsigned char>(c[i]))) {
            return i;
        }
    }
    return ok_line;
}

class Reference {
public:
    Reference(std::string_view in, std::string_view needle, bool closed)
        : in_(in), needle_(needle), closed_(closed) {}

    Outcome run() {
        Outcome o;
        o.status = parse(o);
        std::string window = body_.substr(0, HttpParser::body_window_bytes);
        o.matched = needle_.empty() || window.find(needle_) != std::string::npos;
        return o;
    }

private:
    enum class Got { Line, Bad, TooLarge, Incomplete };

    // The next line from pos_, with the bound `limit` on bytes counted from s0.
    template <class Check>
    Got line(std::size_t s0, std::size_t limit, Check check, std::string_view& content) {
        std::size_t t = in_.find_first_of("\r\n", pos_);
        bool complete = t != std::string_view::npos;
        if (!complete) {
            t = in_.size();
        }
        content = in_.substr(pos_, t - pos_);
        std::size_t bad = check(content);
        std::size_t event = 0;
        Got got = Got::Line;
        std::size_t next = 0;
        if (bad != ok_line && (bad < content.size() || complete)) {
            event = pos_ + bad;
            got = Got::Bad;
        } else if (!complete) {
            got = Got::Incomplete;
        } else if (in_[t] == '\n') {
            event = t;
            next = t + 1;
        } else if (t + 1 == in_.size()) {
            got = Got::Incomplete;
        } else if (in_[t + 1] == '\n') {
            event = t + 1;
            next = t + 2;
        } else {
            event = t + 1;
            got = Got::Bad;
        }
        if (got == Got::Incomplete) {
            return in_.size() - s0 > limit ? Got::TooLarge : Got::Incomplete;
        }
        if (event - s0 >= limit) {
            return Got::TooLarge;
        }
        pos_ = next;
        return got;
    }

    S end(Got g) {
        switch (g) {
            case Got::Bad: return S::Malformed;
            case Got::TooLarge: return S::TooLarge;
            default: return closed_ ? S::ClosedEarly : S::NeedMore;
        }
    }

    S parse(Outcome& o) {
        std::size_t s0 = 0;
        Framing f;
        std::uint16_t code = 0;
        std::string_view c;
        while (true) {
            f = Framing{};
            Got g = line(
                s0, HttpParser::head_bytes_max,
                [&](std::string_view l) { return check_status_line(l, code); }, c);
            if (g != Got::Line) {
                return end(g);
            }
            while (true) {
                g = line(
                    s0, HttpParser::head_bytes_max,
                    [&](std::string_view l) {
                        return l.empty() ? ok_line : check_header_line(l, false, f);
                    },
                    c);
                if (g != Got::Line) {
                    return end(g);
                }
                if (c.empty()) {
                    break;
                }
            }
            if (code < 100 || code >= 200 || code == 101) {
                break;
            }
        }
        o.code = code;
        if (code < 200 || code == 204 || code == 304) {
            return S::Done;
        }
        if (f.te_seen && f.te_chunked) {
            return chunked();
        }
        if (!f.te_seen && f.cl_seen) {
            std::size_t avail = in_.size() - pos_;
            body_ = std::string(in_.substr(pos_, std::min<std::uint64_t>(avail, f.cl)));
            return avail >= f.cl ? S::Done : end(Got::Incomplete);
        }
        body_ = std::string(in_.substr(pos_));
        return closed_ ? S::Done : S::NeedMore;
    }

    S chunked() {
        std::string_view c;
        while (true) {
            std::uint64_t size = 0;
            Got g = line(
                pos_, HttpParser::chunk_line_bytes_max,
                [&](std::string_view l) { return check_chunk_line(l, size); }, c);
            if (g != Got::Line) {
                return end(g);
            }
            if (size == 0) {
                break;
            }
            std::size_t avail = in_.size() - pos_;
            body_ += in_.substr(pos_, std::min<std::uint64_t>(avail, size));
            if (avail < size) {
                return end(Got::Incomplete);
            }
            pos_ += size;
            if (pos_ == in_.size()) {
                return end(Got::Incomplete);
            }
            if (in_[pos_] == '\n') {
                pos_ += 1;
            } else if (in_[pos_] != '\r') {
                return S::Malformed;
            } else if (pos_ + 1 == in_.size()) {
                return end(Got::Incomplete);
            } else if (in_[pos_ + 1] != '\n') {
                return S::Malformed;
            } else {
                pos_ += 2;
            }
        }
        std::size_t s0 = pos_;
        Framing ignored;
        while (true) {
            Got g = line(
                s0, HttpParser::head_bytes_max,
                [&](std::string_view l) {
                    return l.empty() ? ok_line : check_header_line(l, true, ignored);
                },
                c);
            if (g != Got::Line) {
                return end(g);
            }
            if (c.empty()) {
                return S::Done;
            }
        }
    }

    std::string_view in_;
    std::string needle_;
    bool closed_;
    std::size_t pos_ = 0;
    std::string body_;
};

// ---------------------------------------------------------------- the generator

class Gen {
public:
    explicit Gen(std::uint64_t seed) : rng_(seed) {}

    std::size_t below(std::size_t n) { return n == 0 ? 0 : rng_() % n; }
    bool chance(unsigned one_in) { return below(one_in) == 0; }

    std::string text(std::size_t n) {
        std::string s(n, 'a');
        for (char& ch : s) {
            ch = static_cast<char>('a' + below(3));
        }
        return s;
    }
    std::string eol() { return chance(3) ? "\n" : "\r\n"; }
    std::string random_case(std::string s) {
        for (char& ch : s) {
            if (chance(2)) {
                ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            }
        }
        return s;
    }
    std::string status_line(bool interim) {
        static const char* versions[] = {"HTTP/1.1", "HTTP/1.0", "HTTP/1.1", "HTTP/1.9"};
        static const int finals[] = {200, 200, 204, 301, 304, 404, 500, 503, 101, 302};
        std::string s = versions[below(4)];
        s += chance(8) ? "  " : " ";
        int code = interim ? (chance(4) ? 102 : 100) : finals[below(10)];
        if (!interim && chance(10)) {
            code = 100 + static_cast<int>(below(900));
        }
        s += std::to_string(code);
        switch (below(3)) {
            case 0: break;
            case 1: s += " "; break;
            default: s += " Some Reason"; break;
        }
        return s + eol();
    }
    std::string header() {
        static const char* names[] = {
            "Server",       "Date",       "X-Request-Id",    "Cache-Control",
            "Content-Type", "Connection", "Content-Lengthy", "TE"};
        std::string v = chance(10) ? std::string(HttpParser::head_bytes_max / 2 + below(4000), 'v')
                                   : text(below(20));
        return random_case(names[below(8)]) + ":" + (chance(2) ? " " : "") + v + eol();
    }

    // A response and the body it carries.
    std::string response(const std::string& body) {
        std::string r;
        for (std::size_t k = below(3) == 0 ? below(3) : 0; k > 0; --k) {
            r += status_line(true);
            for (std::size_t h = below(2); h > 0; --h) {
                r += header();
            }
            r += eol();
        }
        r += status_line(false);
        std::vector<std::string> hs;
        for (std::size_t h = below(5); h > 0; --h) {
            hs.push_back(header());
        }
        unsigned framing = static_cast<unsigned>(below(7));
        std::string cl = std::to_string(body.size());
        switch (framing) {
            case 0: hs.push_back(random_case("Content-Length") + ": " + cl + eol()); break;
            case 1: hs.push_back(random_case("Transfer-Encoding") + ": chunked" + eol()); break;
            case 2: break;  // close-delimited
            case 3:
                hs.push_back(random_case("Transfer-Encoding") + ": gzip, chunked" + eol());
                break;
            case 4:
                hs.push_back("Content-Length:" + cl + "  " + eol());
                hs.push_back("content-length: " + (chance(2) ? cl : cl + "1") + eol());
                break;
            case 5:
                hs.push_back("Transfer-Encoding: chunked" + eol());
                hs.push_back("Transfer-Encoding: " + std::string(chance(2) ? "identity" : ",") +
                             eol());
                break;
            default:
                hs.push_back("Content-Length: " + cl + eol());
                hs.push_back("Transfer-Encoding: " + random_case("chunked") + eol());
                break;
        }
        std::shuffle(hs.begin(), hs.end(), rng_);
        for (const auto& h : hs) {
            r += h;
        }
        std::string end = eol();
        if (chance(8)) {  // a head of exactly the bound, or one byte either side of it
            std::string pad = "X-Pad: \r\n";
            std::size_t target = HttpParser::head_bytes_max - 1 + below(3);
            std::size_t used = r.size() + pad.size() + end.size();
            if (used <= target) {
                r += "X-Pad: " + std::string(target - used, 'p') + "\r\n";
            }
        }
        r += end;
        if (framing == 1 || framing == 3 || framing == 5 || framing == 6) {
            r += chunks(body);
        } else {
            r += body;
        }
        return r;
    }

    std::string chunks(const std::string& body) {
        std::string r;
        std::size_t at = 0;
        while (at < body.size()) {
            std::size_t n = std::min(body.size() - at, 1 + below(chance(3) ? 5 : 200));
            char hex[32];
            std::snprintf(hex, sizeof hex, chance(2) ? "%zx" : "%zX", n);
            std::size_t line_start = r.size();
            r += hex;
            if (chance(4)) {
                r += chance(2) ? ";ext=1" : " ;name=\"v\"";
            }
            std::string end = eol();
            if (chance(40)) {  // a chunk line of exactly the bound, or one byte either side
                std::size_t target = HttpParser::chunk_line_bytes_max - 1 + below(3);
                std::size_t used = r.size() - line_start + 1 + end.size();
                r += ";" + std::string(target - used, 'e');
            }
            r += end;
            r += body.substr(at, n);
            r += eol();
            at += n;
        }
        r += chance(4) ? "000" : "0";
        r += eol();
        for (std::size_t t = below(3) == 0 ? 1 + below(2) : 0; t > 0; --t) {
            r += header();
        }
        return r + eol();
    }

    void mutate(std::string& r) {
        if (r.empty()) {
            return;
        }
        std::size_t at = below(r.size());
        static const char junk[] = {'\r', '\n', ' ', ':', '\t',   '\0',
                                    'x',  ';',  '0', 'F', '\x7f', '\x80'};
        switch (below(4)) {
            case 0: r[at] = junk[below(sizeof junk)]; break;
            case 1: r.insert(at, 1, junk[below(sizeof junk)]); break;
            case 2: r.erase(at, 1); break;
            default: r.resize(at); break;
        }
    }

    std::vector<std::size_t> cuts(std::size_t n) {
        std::vector<std::size_t> c;
        if (n < 400 && chance(4)) {
            for (std::size_t i = 1; i < n; ++i) {
                c.push_back(i);
            }
            return c;
        }
        for (std::size_t k = below(10); k > 0; --k) {
            c.push_back(below(n + 1));
        }
        std::sort(c.begin(), c.end());
        return c;
    }

    std::mt19937_64& rng() { return rng_; }

private:
    std::mt19937_64 rng_;
};

Outcome stream(const std::string& in, const BodyMatcher& m, bool stop_early, bool closed,
               const std::vector<std::size_t>& cuts) {
    HttpParser p;
    p.reset(&m, stop_early);
    S s = S::NeedMore;
    std::size_t at = 0;
    for (std::size_t cut : cuts) {
        s = p.feed(in.data() + at, cut - at);
        at = cut;
    }
    s = p.feed(in.data() + at, in.size() - at);
    if (closed) {
        s = p.finish_on_close();
    }
    return {s, p.status_code(), p.body_matched()};
}

std::uint64_t base_seed() {
    return testing::test_seed(::testing::UnitTest::GetInstance()->current_test_info()->name());
}

void run_cases(std::uint64_t seed, int cases, bool mutate) {
    SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with RP_SEED)");
    Gen g(seed);
    int counts[5] = {};
    for (int i = 0; i < cases && !::testing::Test::HasFailure(); ++i) {
        std::string body =
            g.text(g.chance(20) ? HttpParser::body_window_bytes + g.below(200) : g.below(300));
        std::string needle;
        if (!g.chance(5)) {
            needle = g.text(1 + g.below(6));
            if (g.chance(2)) {
                body.insert(g.below(body.size() + 1), needle);
            }
        }
        std::string in = g.response(body);
        if (mutate) {
            for (std::size_t k = 1 + g.below(2); k > 0; --k) {
                g.mutate(in);
            }
        }
        bool closed = g.chance(2);
        BodyMatcher m(needle);
        Outcome ref = Reference(in, needle, closed).run();
        ++counts[static_cast<int>(ref.status)];
        Outcome full = stream(in, m, false, closed, g.cuts(in.size()));
        ASSERT_EQ(full, ref) << "case " << i << " needle '" << needle << "' closed " << closed
                             << "\n"
                             << in.substr(0, 600);
        Outcome early = stream(in, m, true, closed, g.cuts(in.size()));
        if (early.status == S::Done) {
            ASSERT_EQ(early.code, ref.code) << "case " << i << "\n" << in.substr(0, 600);
            ASSERT_EQ(early.matched, ref.matched) << "case " << i << "\n" << in.substr(0, 600);
        } else {
            ASSERT_EQ(early.status, ref.status) << "case " << i << "\n" << in.substr(0, 600);
        }
    }
    // The generator must reach every outcome, or the comparison proves little.
    if (mutate) {
        for (int s = 0; s < 5; ++s) {
            EXPECT_GT(counts[s], 0) << "no case ended with status " << s;
        }
    } else {
        EXPECT_GT(counts[static_cast<int>(S::Done)], cases / 4);
    }
}

TEST(HttpParserModel, AgreesWithReferenceOnValidResponses) {
    run_cases(base_seed(), 3000, false);
}

TEST(HttpParserModel, AgreesWithReferenceOnMutatedResponses) {
    run_cases(base_seed() + 1, 20000, true);
}

}  // namespace
}  // namespace ringprobe::engine
