#include "engine/health.hpp"

#include "common/assert.hpp"

namespace ringprobe::engine {

namespace {
std::uint8_t saturating_inc(std::uint8_t v) { return v == 255 ? v : static_cast<std::uint8_t>(v + 1); }
}  // namespace

bool apply_result(HealthState& s, Reason r, Thresholds t) {
    RP_ASSERT_HOT(t.healthy >= 1);
    RP_ASSERT_HOT(t.unhealthy >= 1);
    RP_ASSERT_HOT(r != Reason::Pending);
    if (reason_is_prober_side(r)) {
        return false;
    }
    const Health before = s.health;
    if (r == Reason::Ok) {
        s.consecutive_ok = saturating_inc(s.consecutive_ok);
        s.consecutive_fail = 0;
        if (s.consecutive_ok >= t.healthy) {
            s.health = Health::Healthy;
        }
    } else if (r == Reason::DnsNoAddress || r == Reason::AddressUnknown) {
        // Nothing could be probed: the health cannot be determined (the gateway's Unknown).
        s.consecutive_ok = 0;
        s.consecutive_fail = 0;
        s.health = Health::Unknown;
    } else {
        s.consecutive_fail = saturating_inc(s.consecutive_fail);
        s.consecutive_ok = 0;
        if (s.consecutive_fail >= t.unhealthy) {
            s.health = Health::Unhealthy;
        }
    }
    return s.health != before;
}

}  // namespace ringprobe::engine
