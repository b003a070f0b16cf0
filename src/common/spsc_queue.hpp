// A bounded single-producer single-consumer queue: a worker hands rare events (health
// transitions) to the main thread without a lock, an allocation or a syscall. When the queue is
// full the event is dropped and counted; the report row itself is always up to date, so a lost
// log line loses no state.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ringprobe {

template <typename T, std::size_t N>
class SpscQueue {
    static_assert((N & (N - 1)) == 0, "N must be a power of two");

public:
    bool push(const T& v) {  // producer only
        const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
        if (tail - head_.load(std::memory_order_acquire) >= N) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        items_[tail & (N - 1)] = v;
        tail_.store(tail + 1, std::memory_order_release);
        return true;
    }
    bool pop(T& out) {  // consumer only
        const std::uint64_t head = head_.load(std::memory_order_relaxed);
        if (head == tail_.load(std::memory_order_acquire)) {
            return false;
        }
        out = items_[head & (N - 1)];
        head_.store(head + 1, std::memory_order_release);
        return true;
    }
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    alignas(64) std::atomic<std::uint64_t> head_{0};
    alignas(64) std::atomic<std::uint64_t> tail_{0};
    alignas(64) std::atomic<std::uint64_t> dropped_{0};
    std::array<T, N> items_{};
};

}  // namespace ringprobe
