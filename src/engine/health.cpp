#include "engine/health.hpp"

#include "common/assert.hpp"

namespace ringprobe::engine {

namespace {
std::uint8_t saturating_inc(std::uint8_t v) {
    return v == 255 ? v : static_cast<std::uint8_t>(v + 1);
}
}  // namespace

bool apply_result(HealthState& s, Reason r, Thresholds t) {
    RP_ASSERT_HOT(t.healthy >= 1);
    RP_ASSERT_HOT(t.unhealthy >= 1);
    RP_ASSERT_HOT(r != Reason::Pending);
    if (reason_is_prober_side(r)) {
        return false;
    }
    const Health before = s.health;
    const bool first = before == Health::Unknown;
    if (r == Reason::Ok) {
        s.consecutive_ok = saturating_inc(s.consecutive_ok);
        s.consecutive_fail = 0;
        if (first || s.consecutive_ok >= t.healthy) {
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
        if (first || s.consecutive_fail >= t.unhealthy) {
            s.health = Health::Unhealthy;
        }
    }
    return s.health != before;
}

NameHealth name_health(const NameInput& in, std::span<const AddressHealth> addresses) {
    RP_ASSERT_HOT(in.latest == no_address || in.latest < static_cast<int>(addresses.size()));
    NameHealth out;
    out.decider = in.latest;
    switch (in.answer) {
        case NameAnswer::Pending: return out;
        case NameAnswer::Nothing:
            out.health = in.dns_health;
            out.reason = in.dns_reason;
            out.decider = no_address;
            return out;
        case NameAnswer::Addresses: break;
    }
    int first_healthy = no_address;
    for (std::size_t k = 0; k < addresses.size(); ++k) {
        const AddressHealth& a = addresses[k];
        if (!a.active) {
            continue;
        }
        out.count += 1;
        if (a.health == Health::Healthy) {
            out.healthy += 1;
            first_healthy = first_healthy != no_address ? first_healthy : static_cast<int>(k);
        } else if (a.health == Health::Unhealthy) {
            out.unhealthy += 1;
            out.first_unhealthy =
                out.first_unhealthy != no_address ? out.first_unhealthy : static_cast<int>(k);
        }
    }
    if (out.count == 0) {
        out.health = Health::Unknown;  // addresses are being swapped in
    } else if (in.all ? out.unhealthy > 0 : out.healthy == 0 && out.unhealthy == out.count) {
        out.health = Health::Unhealthy;
        out.decider = out.first_unhealthy;
        out.reason = addresses[static_cast<std::size_t>(out.first_unhealthy)].last_reason;
    } else if (in.all ? out.healthy == out.count : out.healthy > 0) {
        out.health = Health::Healthy;
        out.reason = Reason::Ok;
        const bool latest_active =
            in.latest != no_address && addresses[static_cast<std::size_t>(in.latest)].active;
        out.decider = latest_active ? in.latest : first_healthy;
    }
    return out;
}

}  // namespace ringprobe::engine
