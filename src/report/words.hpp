// 64-bit atomic word access for the shared-memory report.
//
// Every word that changes after a segment is renamed into place is read and written through
// these helpers, never with memcpy: a seqlock whose payload moves as atomic words (release
// stores, acquire loads) is correct under the C++ memory model, costs plain MOVs on x86 and is
// clean under ThreadSanitizer, which a memcpy seqlock is not.
// The reader maps the segment read-only, so loads take a const pointer (__atomic_load_n accepts
// one; std::atomic_ref<const T> is C++26).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
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

// The seqlock over a record {seq, payload words}: one writer per record.
template <typename Payload>
void seqlock_store(std::uint64_t* seq, Payload* dst, const Payload& src) {
    static_assert(sizeof(Payload) % 8 == 0);
    constexpr std::size_t n = sizeof(Payload) / 8;
    const std::uint64_t s = load_relaxed(seq);
    auto* words = reinterpret_cast<std::uint64_t*>(dst);
    const auto* from = reinterpret_cast<const unsigned char*>(&src);
    store_relaxed(seq, s + 1);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t v;
        __builtin_memcpy(&v, from + i * 8, 8);
        store_release(&words[i], v);  // release: orders seq+1 before every payload word
    }
    store_release(seq, s + 2);
}

// Copies a seqlocked record; false when every attempt raced a writer.
template <typename Payload>
bool seqlock_load(const std::uint64_t* seq, const Payload* src, Payload& out,
                  std::uint32_t max_attempts) {
    static_assert(sizeof(Payload) % 8 == 0);
    constexpr std::size_t n = sizeof(Payload) / 8;
    const auto* words = reinterpret_cast<const std::uint64_t*>(src);
    std::uint64_t w[n];
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
        const std::uint64_t s1 = load_acquire(seq);
        if ((s1 & 1) != 0) {
            continue;
        }
        for (std::size_t i = 0; i < n; ++i) {
            w[i] = load_acquire(&words[i]);
        }
        if (load_acquire(seq) == s1) {
            __builtin_memcpy(&out, w, sizeof out);
            return true;
        }
    }
    return false;
}

}  // namespace ringprobe::report
