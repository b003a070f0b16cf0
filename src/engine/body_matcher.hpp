// BodyMatcher: streaming substring search for match.body (a substring, not a regex).
//
// One matcher is built per distinct needle at plan time (it owns the needle and its KMP failure
// table; that is the only allocation). A probe keeps just one integer of state: the length of
// the longest needle prefix that ends the bytes seen so far. So a needle split across recv()
// calls or chunk boundaries is still found, and feed() never allocates, copies or throws.
//
// Speed: while no partial match is pending, feed() hands the rest of the piece to glibc's
// memmem (two-way, linear and vectorised) and only runs KMP over the last needle-1 bytes to
// carry a partial match into the next piece. Worst case O(bytes) per feed, whatever the text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringprobe::engine {

class BodyMatcher {
public:
    using State = std::uint32_t;  // matched prefix length; == size() once found (sticky)
    static constexpr State initial = 0;

    explicit BodyMatcher(std::string_view needle);

    // Consumes the next piece of the body; returns the new state.
    State feed(State s, const char* p, std::size_t n) const;
    bool found(State s) const { return s == needle_.size(); }  // an empty needle always matches
    std::size_t size() const { return needle_.size(); }
    bool empty() const { return needle_.empty(); }
    std::string_view needle() const { return needle_; }

private:
    State step(State s, char c) const;  // one KMP transition, s < size()
    State feed_slow(State s, const char* p, std::size_t n) const;

    std::string needle_;
    std::vector<std::uint32_t> fail_;  // fail_[i]: longest proper border of needle_[0..i]
};

}  // namespace ringprobe::engine
