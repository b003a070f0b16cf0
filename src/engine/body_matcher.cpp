// Streaming substring search (see body_matcher.hpp).
#include "engine/body_matcher.hpp"

#include <cstring>

#include "common/assert.hpp"

namespace ringprobe::engine {

BodyMatcher::BodyMatcher(std::string_view needle) : needle_(needle), fail_(needle.size(), 0) {
    RP_ASSERT(needle.size() < UINT32_MAX);
    std::uint32_t k = 0;
    for (std::size_t i = 1; i < needle_.size(); ++i) {
        while (k > 0 && needle_[i] != needle_[k]) {
            k = fail_[k - 1];
        }
        if (needle_[i] == needle_[k]) {
            ++k;
        }
        fail_[i] = k;
    }
}

BodyMatcher::State BodyMatcher::step(State s, char c) const {
    while (s > 0 && needle_[s] != c) {
        s = fail_[s - 1];
    }
    return needle_[s] == c ? s + 1 : 0;
}

// Plain KMP with a memchr skip while nothing is matched.
BodyMatcher::State BodyMatcher::feed_slow(State s, const char* p, std::size_t n) const {
    const char* end = p + n;
    while (p < end) {
        if (s == 0) {
            const void* q = std::memchr(p, needle_[0], static_cast<std::size_t>(end - p));
            if (q == nullptr) {
                return 0;
            }
            p = static_cast<const char*>(q) + 1;
            s = 1;
        } else {
            s = step(s, *p++);
        }
        if (s == needle_.size()) {
            return s;
        }
    }
    return s;
}

BodyMatcher::State BodyMatcher::feed(State s, const char* p, std::size_t n) const {
    const std::size_t len = needle_.size();
    if (s == len) {
        return s;  // found (or empty needle): sticky
    }
    RP_ASSERT_HOT(s < len);
    const char* end = p + n;
    // Finish or drop a partial match carried in from the previous piece.
    while (s != 0 && p < end) {
        s = step(s, *p++);
        if (s == len) {
            return s;
        }
    }
    auto rest = static_cast<std::size_t>(end - p);
    if (rest < len) {
        return feed_slow(s, p, rest);
    }
    if (::memmem(p, rest, needle_.data(), len) != nullptr) {
        return static_cast<State>(len);
    }
    // No whole occurrence in the rest: only a needle prefix ending the piece carries over, and
    // it starts within the last len-1 bytes.
    std::size_t tail = len - 1;
    return feed_slow(0, end - tail, tail);
}

}  // namespace ringprobe::engine
