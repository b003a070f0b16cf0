// Time for the engine: the monotonic clock drives scheduling and deadlines; the realtime clock
// is used only to stamp what the report shows. Ticks are the timer wheel's unit.
#pragma once

#include <time.h>

#include <cstdint>

namespace ringprobe {

// One wheel tick. 100 µs keeps probe-start lateness well under a millisecond while a worker
// still wakes at most 10,000 times a second under full load.
inline constexpr std::uint64_t tick_ns = 100'000;

inline std::uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::uint64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

constexpr std::uint64_t ns_to_tick_ceil(std::uint64_t ns) {
    return (ns + tick_ns - 1) / tick_ns;
}
constexpr std::uint64_t ns_to_tick_floor(std::uint64_t ns) {
    return ns / tick_ns;
}
constexpr std::uint64_t ms_to_ns(std::uint64_t ms) {
    return ms * 1'000'000ull;
}

// Converts monotonic instants to wall-clock ones for the report, from one offset taken at
// start-up (a wall-clock step later does not move probes, only the stamps they show).
struct WallClock {
    std::int64_t offset_ns = 0;  // realtime - monotonic
    static WallClock now() {
        WallClock w;
        w.offset_ns =
            static_cast<std::int64_t>(realtime_ns()) - static_cast<std::int64_t>(monotonic_ns());
        return w;
    }
    std::uint64_t to_unix_ns(std::uint64_t mono_ns) const {
        return static_cast<std::uint64_t>(static_cast<std::int64_t>(mono_ns) + offset_ns);
    }
};

}  // namespace ringprobe
