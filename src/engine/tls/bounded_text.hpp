// A bounded text builder over a fixed array: appends are truncated, never overflow. The TLS
// room writes its details and certificate fields with it, so none of them allocates.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "common/assert.hpp"
#include "common/text.hpp"

namespace ringprobe::tls {

class BoundedText {
public:
    BoundedText(char* buf, std::size_t cap) : buf_(buf), cap_(cap) { buf_[0] = '\0'; }
    BoundedText& add(std::string_view s) {
        std::size_t n = std::min(s.size(), cap_ - 1 - len_);
        std::memcpy(buf_ + len_, s.data(), n);
        len_ += n;
        buf_[len_] = '\0';
        return *this;
    }
    BoundedText& num(std::int64_t v) {
        char tmp[24];
        auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, v);
        RP_ASSERT(ec == std::errc{});
        return add(std::string_view(tmp, static_cast<std::size_t>(end - tmp)));
    }
    BoundedText& time(std::int64_t unix_s) {
        char tmp[utc_text_max];
        return add(std::string_view(tmp, format_utc(unix_s, tmp)));
    }
    std::size_t size() const { return len_; }

private:
    char* buf_;
    std::size_t cap_;
    std::size_t len_ = 0;
};

template <std::size_t N>
void copy_bounded(char (&dst)[N], std::string_view s) {
    BoundedText(dst, N).add(s);
}

}  // namespace ringprobe::tls
