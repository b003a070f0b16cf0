// 64-bit atomic word access for the shared-memory report.
//
// Every word that changes after a segment is renamed into place is read and written through
// these helpers, never with memcpy: a seqlock whose payload moves as atomic words (release
// stores, acquire loads) is correct under the C++ memory model, costs plain MOVs on x86 and is
// clean under ThreadSanitizer, which a memcpy seqlock is not (STYLE.md, "Shared-memory report").
// The reader maps the segment read-only, so loads take a const pointer (__atomic_load_n accepts
// one; std::atomic_ref<const T> is C++26).
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>

namespace ringprobe::report {

static_assert(std::endian::native == std::endian::little,
              "the report packs its words little-endian (docs/report-format.md)");

inline std::uint64_t load_acquire(const std::uint64_t* p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
inline std::uint64_t load_relaxed(const std::uint64_t* p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
inline void store_release(std::uint64_t* p, std::uint64_t v) {
    std::atomic_ref<std::uint64_t>(*p).store(v, std::memory_order_release);
}
inline void store_relaxed(std::uint64_t* p, std::uint64_t v) {
    std::atomic_ref<std::uint64_t>(*p).store(v, std::memory_order_relaxed);
}
inline void fetch_or_release(std::uint64_t* p, std::uint64_t v) {
    std::atomic_ref<std::uint64_t>(*p).fetch_or(v, std::memory_order_acq_rel);
}

}  // namespace ringprobe::report
