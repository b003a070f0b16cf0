// The verdict rules: from one probe's result to a target's health. Pure, so the whole table of
// transitions is unit-tested without a network (tests/unit/health_test.cpp).
//
//  - Unknown only until the first completed probe, which decides at once: Healthy on success,
//    Unhealthy on failure, as HAProxy's and Envoy's checkers do. A row that read Unknown after
//    its first failure would hide a refused port for unhealthy_threshold intervals, and one
//    that alternates success and failure would never leave Unknown.
//  - From then on, healthy_threshold consecutive successes make it Healthy (rise; default 1)
//    and unhealthy_threshold consecutive failures make it Unhealthy (fall; default 3).
//  - A result that leaves nothing probed (no DNS address, an unknown NIC address) makes it
//    Unknown again, so the next completed probe decides at once as the first one does.
//  - A prober-side result (Layer::Prober) changes no counter and no health: it is not the
//    backend's fault. It is counted separately and retried.
//
// An FQDN target probes each address its name resolves to as a host of its own; the row's
// health combines theirs by the target's aggregation rule (name_health below), from plain
// values, so its table is unit-tested too (tests/unit/fqdn_health_test.cpp).
#pragma once

#include <bit>
#include <cstdint>
#include <span>

#include <ringprobe/result.hpp>

namespace ringprobe::engine {

struct HealthState {
    Health health = Health::Unknown;
    std::uint8_t consecutive_ok = 0;    // saturates at 255
    std::uint8_t consecutive_fail = 0;  // saturates at 255
};

struct Thresholds {
    std::uint8_t healthy = 1;
    std::uint8_t unhealthy = 3;
};

// Applies one result; returns true when health changed.
bool apply_result(HealthState& s, Reason r, Thresholds t);

// Flapping: a row whose health changed at least `changes_min` times within its last 32 results
// (the report's history, report_abi::kHistoryEntries). Each result shifts one bit into a 32-bit
// window, set when that result changed the health; the rule is a popcount, so it costs nothing
// per probe and needs no memory beyond the word.
inline std::uint32_t shift_change(std::uint32_t window, bool changed) {
    return (window << 1) | (changed ? 1u : 0u);
}
inline bool is_flapping(std::uint32_t window, std::uint32_t changes_min) {
    return static_cast<std::uint32_t>(std::popcount(window)) >= changes_min;
}

// What a name's DNS standing leaves to probe: no answer yet; nothing (the name never resolved,
// or no address is left: the DNS's own health and reason stand for the row); or addresses.
enum class NameAnswer : std::uint8_t { Pending, Nothing, Addresses };

inline constexpr int no_address = -1;

// One address slot of an FQDN target, as the rule sees it.
struct AddressHealth {
    bool active = false;  // holds an address of the current answer (inactive slots are skipped)
    Health health = Health::Unknown;
    Reason last_reason = Reason::Pending;
};

struct NameInput {
    NameAnswer answer = NameAnswer::Pending;
    Health dns_health = Health::Unknown;  // NameAnswer::Nothing: the DNS's verdict on the name
    Reason dns_reason = Reason::Pending;
    // DnsAggregation::All: healthy only when every address is, unhealthy as soon as one is.
    // Any: healthy when one address is, unhealthy only when every address is.
    bool all = true;
    int latest = no_address;  // the address whose probe just ended (no_address: a DNS change)
};

struct NameHealth {
    Health health = Health::Unknown;
    Reason reason = Reason::Pending;
    // The address whose last probe's facts (status, errno, timings, consecutive counts) the row
    // shows, or no_address.
    int decider = no_address;
    std::uint32_t count = 0;      // active addresses
    std::uint32_t healthy = 0;    // of them Healthy
    std::uint32_t unhealthy = 0;  // of them Unhealthy
    int first_unhealthy = no_address;
};

// The row of an FQDN target from its name's answer and its addresses' health (at most
// report_abi::kAddressesPerName of them). Unhealthy names the first unhealthy address and its
// reason; Healthy says Ok and shows the address just probed if it is still in the answer, else
// the first healthy one; otherwise (no answer yet, addresses being swapped in, a mix the rule
// does not settle) the row keeps Unknown and shows the address just probed.
NameHealth name_health(const NameInput& in, std::span<const AddressHealth> addresses);

}  // namespace ringprobe::engine
