// Pins src/engine/body_matcher.cpp: the streaming matcher finds the needle exactly when
// std::string::find does, whatever the needle (1 to 4090 bytes, periodic or not) and however
// the text is split into pieces (down to one byte, pieces shorter and longer than the needle),
// because its only state between pieces is the length of the pending partial match. Texts
// come from a seeded PRNG over small alphabets so partial matches are frequent; the seed is
// printed on failure (RP_SEED replays it).
#include "engine/body_matcher.hpp"
#include "test_seed.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace ringprobe::engine {
namespace {

bool feed_split(const BodyMatcher& m, const std::string& text,
                const std::vector<std::size_t>& cuts) {
    BodyMatcher::State s = BodyMatcher::initial;
    std::size_t at = 0;
    for (std::size_t cut : cuts) {
        s = m.feed(s, text.data() + at, cut - at);
        at = cut;
    }
    s = m.feed(s, text.data() + at, text.size() - at);
    return m.found(s);
}

std::string random_text(std::mt19937_64& rng, std::size_t n, char alphabet) {
    std::string s(n, 'a');
    for (char& c : s) {
        c = static_cast<char>('a' + rng() % static_cast<unsigned>(alphabet - 'a' + 1));
    }
    return s;
}

std::uint64_t base_seed() {
    return testing::test_seed(::testing::UnitTest::GetInstance()->current_test_info()->name());
}

TEST(BodyMatcher, EmptyNeedleAlwaysMatches) {
    BodyMatcher m("");
    EXPECT_TRUE(m.found(BodyMatcher::initial));
    EXPECT_TRUE(m.found(m.feed(BodyMatcher::initial, "", 0)));
}

TEST(BodyMatcher, FindsNeedleSplitAcrossPieces) {
    BodyMatcher m("healthy");
    std::string text = "status: heal";
    auto s = m.feed(BodyMatcher::initial, text.data(), text.size());
    EXPECT_FALSE(m.found(s));
    s = m.feed(s, "thy\n", 4);
    EXPECT_TRUE(m.found(s));
}

TEST(BodyMatcher, FoundIsSticky) {
    BodyMatcher m("ok");
    auto s = m.feed(BodyMatcher::initial, "ok", 2);
    s = m.feed(s, "zzzz", 4);
    EXPECT_TRUE(m.found(s));
}

TEST(BodyMatcher, PartialMatchFallsBackThroughBorders) {
    BodyMatcher m("aab");
    EXPECT_TRUE(feed_split(m, "aaab", {1, 2, 3}));
    EXPECT_FALSE(feed_split(m, "aaaa", {2}));
}

TEST(BodyMatcher, LongestNeedleFoundAcrossRecvSizedPieces) {
    std::mt19937_64 rng(7);
    std::string needle = random_text(rng, 4090, 'd');
    std::string text = random_text(rng, 20000, 'd') + needle + random_text(rng, 100, 'd');
    BodyMatcher m(needle);
    std::vector<std::size_t> cuts;
    for (std::size_t c = 1500; c < text.size(); c += 1500) {
        cuts.push_back(c);
    }
    EXPECT_TRUE(feed_split(m, text, cuts));
    text.erase(20000, 1);  // break the occurrence
    EXPECT_EQ(feed_split(m, text, cuts), text.find(needle) != std::string::npos);
}

TEST(BodyMatcher, AgreesWithStringFindOnRandomSplits) {
    std::uint64_t seed = base_seed();
    SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with RP_SEED)");
    std::mt19937_64 rng(seed);
    for (int iter = 0; iter < 20000 && !HasFailure(); ++iter) {
        char alphabet = static_cast<char>('a' + 1 + rng() % 3);
        std::size_t nlen = 1 + rng() % ((rng() % 8 == 0) ? 300 : 8);
        std::string needle = random_text(rng, nlen, alphabet);
        if (rng() % 4 == 0) {  // periodic needles stress the failure table
            std::string unit = needle.substr(0, 1 + rng() % std::min<std::size_t>(3, nlen));
            needle.clear();
            while (needle.size() < nlen) {
                needle += unit;
            }
        }
        std::string text = random_text(rng, rng() % (nlen * 4 + 20), alphabet);
        if (rng() % 3 == 0) {
            text.insert(rng() % (text.size() + 1), needle);
        }
        std::vector<std::size_t> cuts;
        std::size_t pieces = rng() % 8;
        for (std::size_t k = 0; k < pieces && !text.empty(); ++k) {
            cuts.push_back(rng() % (text.size() + 1));
        }
        std::sort(cuts.begin(), cuts.end());
        BodyMatcher m(needle);
        bool expected = text.find(needle) != std::string::npos;
        ASSERT_EQ(feed_split(m, text, cuts), expected)
            << "needle=" << needle << " text=" << text << " iter=" << iter;
        std::vector<std::size_t> bytewise;
        for (std::size_t c = 1; c < text.size(); ++c) {
            bytewise.push_back(c);
        }
        ASSERT_EQ(feed_split(m, text, bytewise), expected) << "byte at a time, iter=" << iter;
    }
}

}  // namespace
}  // namespace ringprobe::engine
