// How many servers of each pool were Healthy, Unhealthy and Unknown, sampled by the exporter at
// a fixed cadence (10 s by default) and kept for the web page's pool-health picture. The report
// holds only each row's health now, so the picture's past exists only in this ring: it starts
// empty when the exporter starts and keeps the newest `capacity` samples (360 x 10 s: one hour).
// Memory is fixed when the ring is made: capacity x pools x 3 counts and capacity timestamps.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "report/reader.hpp"

namespace ringprobe::exporter {

// Indexed by static_cast<std::size_t>(Health).
using HealthCounts = std::array<std::uint32_t, 3>;

// The rows of each pool by their effective health (report::effective) in this snapshot.
std::vector<HealthCounts> count_pool_health(const report::Snapshot& snap);

class PoolSamples {
public:
    PoolSamples(std::size_t pools, std::uint32_t capacity);

    // Appends one sample, overwriting the oldest when full; counts.size() == pools().
    void add(std::uint64_t unix_ns, std::span<const HealthCounts> counts);

    std::size_t pools() const { return pools_; }
    std::uint32_t capacity() const { return capacity_; }
    std::uint32_t size() const { return size_; }
    // Sample i of size(), oldest first.
    std::uint64_t unix_ns(std::uint32_t i) const { return times_[slot(i)]; }
    const HealthCounts& counts(std::uint32_t i, std::size_t pool) const {
        return counts_[std::size_t{slot(i)} * pools_ + pool];
    }

private:
    std::uint32_t slot(std::uint32_t i) const;

    std::size_t pools_;
    std::uint32_t capacity_;
    std::uint32_t size_ = 0;
    std::uint32_t next_ = 0;  // where the next sample goes
    std::vector<std::uint64_t> times_;
    std::vector<HealthCounts> counts_;  // capacity x pools
};

}  // namespace ringprobe::exporter
