// Always-on assertions for programmer errors (the only correct way to handle corrupt code is to
// crash). RP_ASSERT is independent of NDEBUG. RP_ASSERT_HOT guards checks on the
// probe path and compiles away when the build option hot_asserts is off.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace ringprobe::detail {
[[noreturn]] inline void assert_fail(const char* expr, const char* file, int line) {
    std::fprintf(stderr, "ringprobe: assertion failed: %s (%s:%d)\n", expr, file, line);
    std::abort();
}
}  // namespace ringprobe::detail

#define RP_ASSERT(expr)                                                  \
    do {                                                                 \
        if (!(expr)) [[unlikely]] {                                      \
            ::ringprobe::detail::assert_fail(#expr, __FILE__, __LINE__); \
        }                                                                \
    } while (0)

#if defined(RP_HOT_ASSERTS) && RP_HOT_ASSERTS
#define RP_ASSERT_HOT(expr) RP_ASSERT(expr)
#else
#define RP_ASSERT_HOT(expr) \
    do {                    \
    } while (0)
#endif
