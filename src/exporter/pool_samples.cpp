// The pool-health ring (see pool_samples.hpp).
#include "exporter/pool_samples.hpp"

#include "common/assert.hpp"
#include "report/facts.hpp"

namespace ringprobe::exporter {

std::vector<HealthCounts> count_pool_health(const report::Snapshot& snap) {
    const report::StaticInfo& info = *snap.info;
    std::vector<HealthCounts> counts(info.pools.size(), HealthCounts{});
    for (const report_abi::RowRecord& r : info.rows) {
        const Health h = report::effective(snap, r.target_index).health;
        if (h == Health::OtherShard) {
            continue;  // another engine's row: its pictures are drawn where it is probed
        }
        counts[r.pool_index][static_cast<std::size_t>(h)]++;
    }
    return counts;
}

PoolSamples::PoolSamples(std::size_t pools, std::uint32_t capacity)
    : pools_(pools), capacity_(capacity), times_(capacity, 0), counts_(capacity * pools) {
    RP_ASSERT(capacity > 0);
}

void PoolSamples::add(std::uint64_t unix_ns, std::span<const HealthCounts> counts) {
    RP_ASSERT(counts.size() == pools_);
    times_[next_] = unix_ns;
    for (std::size_t p = 0; p < pools_; ++p) {
        counts_[std::size_t{next_} * pools_ + p] = counts[p];
    }
    next_ = next_ + 1 == capacity_ ? 0 : next_ + 1;
    size_ = size_ < capacity_ ? size_ + 1 : capacity_;
}

std::uint32_t PoolSamples::slot(std::uint32_t i) const {
    RP_ASSERT(i < size_);
    const std::uint32_t oldest = size_ < capacity_ ? 0 : next_;
    const std::uint32_t s = oldest + i;
    return s >= capacity_ ? s - capacity_ : s;
}

}  // namespace ringprobe::exporter
