// common_text_test: pins src/common/text.cpp and src/common/json.cpp, the one copy of each small
// helper the modules share. It proves that case folding touches ASCII letters only, that the
// IP-literal test agrees with inet_pton on both families and rejects names, that UTC stamps
// match the C library's gmtime_r/strftime over thirty thousand seeded instants (and the fixed
// dates the report and the TLS details show), and that the JSON writer always yields a string
// a JSON parser accepts, whatever bytes it is given.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdint>
#include <ctime>
#include <random>
#include <string>
#include <string_view>

#include "common/json.hpp"
#include "common/text.hpp"
#include "test_seed.hpp"

namespace ringprobe {
namespace {

TEST(Text, IequalsFoldsAsciiLettersOnly) {
    EXPECT_TRUE(iequals("Content-Length", "content-length"));
    EXPECT_TRUE(iequals("HTTPS", "https"));
    EXPECT_TRUE(iequals("", ""));
    EXPECT_FALSE(iequals("Http", "Https"));
    EXPECT_FALSE(iequals("a", "b"));
    // '@' and '`' sit next to 'A' and 'a': folding must not reach them.
    EXPECT_FALSE(iequals("@", "`"));
    EXPECT_FALSE(iequals("[", "{"));
    // Bytes above ASCII compare as they are.
    EXPECT_TRUE(iequals("\xC3\xA9", "\xC3\xA9"));
    EXPECT_FALSE(iequals("\xC3\x89", "\xC3\xA9"));
}

TEST(Text, IpLiteralsAreBothFamiliesAndNothingElse) {
    EXPECT_TRUE(is_ip_literal("127.0.0.1"));
    EXPECT_TRUE(is_ip_literal("10.0.0.5"));
    EXPECT_TRUE(is_ip_literal("::1"));
    EXPECT_TRUE(is_ip_literal("fe80::1:2"));
    EXPECT_TRUE(is_ip_literal("::ffff:10.0.0.1"));
    EXPECT_FALSE(is_ip_literal(""));
    EXPECT_FALSE(is_ip_literal("app.contoso.com"));
    EXPECT_FALSE(is_ip_literal("10.0.0"));
    EXPECT_FALSE(is_ip_literal("10.0.0.256"));
    EXPECT_FALSE(is_ip_literal("[::1]"));
    EXPECT_FALSE(is_ip_literal(std::string(200, '1')));
    // The view's bytes only: what follows it in memory does not count.
    const std::string_view cut = std::string_view("10.0.0.1x").substr(0, 8);
    EXPECT_TRUE(is_ip_literal(cut));
}

std::string utc(std::int64_t unix_s) {
    std::string out;
    append_utc(out, unix_s);
    return out;
}

TEST(Text, Utf8PrefixNeverSplitsACharacter) {
    EXPECT_EQ(utf8_prefix_length("", 4), 0u);
    EXPECT_EQ(utf8_prefix_length("abc", 4), 3u);
    EXPECT_EQ(utf8_prefix_length("abcdef", 4), 4u);
    // "a" then U+00E9 (2 bytes) then U+20AC (3 bytes): cuts land after "a", after the e-acute.
    const std::string s = "a\xC3\xA9\xE2\x82\xAC";
    EXPECT_EQ(utf8_prefix_length(s, 1), 1u);
    EXPECT_EQ(utf8_prefix_length(s, 2), 1u);
    EXPECT_EQ(utf8_prefix_length(s, 3), 3u);
    EXPECT_EQ(utf8_prefix_length(s, 4), 3u);
    EXPECT_EQ(utf8_prefix_length(s, 5), 3u);
    EXPECT_EQ(utf8_prefix_length(s, 6), 6u);
    // Continuation bytes only (not UTF-8): nothing whole fits, so nothing is kept.
    EXPECT_EQ(utf8_prefix_length("\x80\x80\x80", 2), 0u);
}

TEST(Text, HostWithoutPortDropsThePortAndTheBrackets) {
    using ringprobe::host_without_port;
    EXPECT_EQ(host_without_port("example.com:18443"), "example.com");
    EXPECT_EQ(host_without_port("example.com"), "example.com");
    EXPECT_EQ(host_without_port("10.0.0.5:443"), "10.0.0.5");
    EXPECT_EQ(host_without_port("[::1]:443"), "::1");
    EXPECT_EQ(host_without_port("[::1]"), "::1");
    EXPECT_EQ(host_without_port("::1"), "::1");
    EXPECT_EQ(host_without_port("fe80::1:443"), "fe80::1:443");  // a bare IPv6 has no port
    EXPECT_EQ(host_without_port("example.com:"), "example.com");
    EXPECT_EQ(host_without_port("example.com:http"), "example.com:http");
    EXPECT_EQ(host_without_port(""), "");
}

TEST(Text, UtcStampsOfKnownDates) {
    EXPECT_EQ(utc(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(utc(4102444799), "2099-12-31T23:59:59Z");  // the good fixtures' notAfter
    EXPECT_EQ(utc(951782400), "2000-02-29T00:00:00Z");   // a leap day
    EXPECT_EQ(utc(-1), "1969-12-31T23:59:59Z");
    EXPECT_EQ(utc(253402300799), "9999-12-31T23:59:59Z");
    EXPECT_EQ(utc(253402300800), "10000-01-01T00:00:00Z");  // a year past 9999 in full
    char buf[utc_text_max];
    EXPECT_EQ(format_utc(1700000000, buf), 20u);
    EXPECT_EQ(std::string_view(buf, 20), "2023-11-14T22:13:20Z");
}

TEST(Text, UtcStampsAgreeWithGmtime) {
    const auto seed = ringprobe::testing::test_seed("Text.UtcStampsAgreeWithGmtime");
    std::mt19937_64 rng(seed);
    // Years 1 to 9999, where strftime's %Y and ours are both four digits.
    std::uniform_int_distribution<std::int64_t> when(-62135596800, 253402300799);
    for (int i = 0; i < 30000; ++i) {
        const std::int64_t t = when(rng);
        const std::time_t tt = static_cast<std::time_t>(t);
        std::tm tm{};
        ASSERT_NE(::gmtime_r(&tt, &tm), nullptr);
        if (tm.tm_year + 1900 < 1000) {
            continue;  // glibc's %Y does not pad years below 1000
        }
        char want[64];
        std::strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
        ASSERT_EQ(utc(t), want) << "t=" << t << " seed=" << seed;
    }
}

std::string escaped(std::string_view s) {
    std::string out;
    append_json_escaped(out, s);
    return out;
}

TEST(Json, EscapesQuotesControlBytesAndInvalidUtf8) {
    EXPECT_EQ(escaped("plain text"), "plain text");
    EXPECT_EQ(escaped("a\"b\\c"), "a\\\"b\\\\c");
    EXPECT_EQ(escaped("\n\r\t"), "\\n\\r\\t");
    EXPECT_EQ(escaped(std::string_view("\x00\x01\x1f", 3)), "\\u0000\\u0001\\u001f");
    const std::string_view utf8 = "\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // 2, 3, 4 bytes
    EXPECT_EQ(escaped(utf8), utf8);
    EXPECT_EQ(escaped("\xFF"), "\xEF\xBF\xBD");
    EXPECT_EQ(escaped("\xC3"), "\xEF\xBF\xBD");                  // cut short
    EXPECT_EQ(escaped("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
    const std::string_view three_bad = "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD";
    EXPECT_EQ(escaped("\xE0\x80\xAF"), three_bad);  // overlong
    EXPECT_EQ(escaped("\xED\xA0\x80"), three_bad);  // a UTF-16 surrogate
    EXPECT_EQ(escaped("\xF4\x90\x80\x80"),
              std::string(three_bad) + "\xEF\xBF\xBD");  // above U+10FFFF
    std::string whole;
    append_json_string(whole, "say \"hi\"");
    EXPECT_EQ(whole, "\"say \\\"hi\\\"\"");
}

TEST(Json, AnyBytesMakeAStringAParserAccepts) {
    const auto seed = ringprobe::testing::test_seed("Json.AnyBytesMakeAStringAParserAccepts");
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> length(0, 40);
    simdjson::dom::parser parser;
    for (int i = 0; i < 2000; ++i) {
        std::string s(static_cast<std::size_t>(length(rng)), '\0');
        for (char& c : s) {
            c = static_cast<char>(byte(rng));
        }
        std::string doc;
        append_json_string(doc, s);
        simdjson::dom::element e;
        ASSERT_EQ(parser.parse(doc).get(e), simdjson::SUCCESS) << "seed=" << seed << " i=" << i;
        ASSERT_TRUE(e.is_string());
    }
}

}  // namespace
}  // namespace ringprobe
