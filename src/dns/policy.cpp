// The DNS policy's leaves (policy.hpp has the rules). Everything here is a pure function of its
// arguments so that tests/unit/dns_policy_test.cpp can drive it with a manual clock.
#include "dns/policy.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "common/assert.hpp"
#include "common/hash.hpp"

namespace ringprobe::dns {

Address Address::v4(const std::uint8_t (&b)[4]) {
    Address a;
    std::memcpy(a.bytes.data(), b, 4);
    a.family = 4;
    return a;
}

Address Address::v6(const std::uint8_t (&b)[16]) {
    Address a;
    std::memcpy(a.bytes.data(), b, 16);
    a.family = 6;
    return a;
}

Address Address::parse(std::string_view text) {
    Address a;
    if (text.size() >= address_text_max) {
        return a;
    }
    const std::string z(text);
    std::uint8_t b4[4];
    std::uint8_t b6[16];
    if (inet_pton(AF_INET, z.c_str(), b4) == 1) {
        return v4(b4);
    }
    if (inet_pton(AF_INET6, z.c_str(), b6) == 1) {
        return v6(b6);
    }
    return a;
}

std::size_t format_address(const Address& a, std::array<char, address_text_max>& out) {
    RP_ASSERT(a.family == 4 || a.family == 6);
    const char* r = inet_ntop(a.family == 4 ? AF_INET : AF_INET6, a.bytes.data(), out.data(),
                              static_cast<socklen_t>(out.size()));
    RP_ASSERT(r != nullptr);
    return std::strlen(out.data());
}

bool AddressSet::contains(const Address& a) const {
    const auto v = view();
    return std::binary_search(v.begin(), v.end(), a);
}

bool AddressSet::operator==(const AddressSet& o) const {
    if (count != o.count) {
        return false;
    }
    return std::equal(items.begin(), items.begin() + count, o.items.begin());
}

AddressSet make_address_set(std::span<const Address> addresses) {
    // Sorting into a scratch array of the input's size would allocate; instead insert each
    // address into the bounded sorted set, keeping the smallest addresses_max when it overflows.
    AddressSet set;
    for (const Address& a : addresses) {
        RP_ASSERT(a.family == 4 || a.family == 6);
        auto* begin = set.items.begin();
        auto* end = begin + set.count;
        auto* at = std::lower_bound(begin, end, a);
        if (at != end && *at == a) {
            continue;
        }
        if (set.count == addresses_max) {
            set.truncated = 1;
            if (at == end) {
                continue;  // larger than everything kept
            }
            std::move_backward(at, end - 1, end);  // the largest falls off
        } else {
            std::move_backward(at, end, end + 1);
            ++set.count;
        }
        *at = a;
    }
    return set;
}

AddressDiff diff_addresses(const AddressSet& before, const AddressSet& after) {
    AddressDiff d;
    for (const Address& a : before.view()) {
        if (!after.contains(a)) {
            d.removed.items[d.removed.count++] = a;
        }
    }
    for (const Address& a : after.view()) {
        if (!before.contains(a)) {
            d.added.items[d.added.count++] = a;
        }
    }
    return d;
}

std::uint64_t refresh_delay_ns(Outcome outcome, std::uint32_t ttl_s, const PolicyConfig& config) {
    RP_ASSERT(config.ttl_floor_ns <= config.ttl_ceiling_ns);
    if (outcome == Outcome::Ok) {
        const std::uint64_t ttl_ns = static_cast<std::uint64_t>(ttl_s) * 1'000'000'000ull;
        return std::clamp(ttl_ns, config.ttl_floor_ns, config.ttl_ceiling_ns);
    }
    if (outcome_info(outcome).negative_answer) {
        return config.negative_ns;
    }
    return config.retry_ns;
}

std::uint64_t refresh_spread_ns(Outcome outcome, std::uint64_t delay_ns, std::uint64_t spread_key,
                                const PolicyConfig& config) {
    RP_ASSERT(config.refresh_spread_percent <= 100);
    std::uint64_t window =
        std::min(delay_ns / 100 * config.refresh_spread_percent, config.refresh_spread_max_ns);
    if (outcome == Outcome::Ok) {
        window =
            delay_ns > config.ttl_floor_ns ? std::min(window, delay_ns - config.ttl_floor_ns) : 0;
    }
    if (window == 0) {
        return 0;
    }
    // Early, never late: a refresh after the TTL would keep an address the server took back.
    return mix64(spread_key) % (window + 1);
}

namespace {

void clear_addresses(NameState& state) {
    if (state.addresses.count != 0) {
        state.addresses = AddressSet{};
        ++state.generation;
    }
}

bool apply_good(NameState& state, const Answer& answer, std::uint64_t now_ns) {
    const bool changed = !(state.addresses == answer.addresses);
    if (changed) {
        state.addresses = answer.addresses;
        ++state.generation;
    }
    state.last_good_ns = now_ns;
    state.ttl_s = answer.ttl_s;
    state.failures_in_row = 0;
    state.negatives_in_row = 0;
    state.ever_resolved = 1;
    return changed;
}

bool apply_failure(NameState& state, Outcome outcome, std::uint64_t now_ns,
                   const PolicyConfig& config) {
    ++state.failures_in_row;
    if (!outcome_info(outcome).negative_answer) {
        state.negatives_in_row = 0;
        return expire_stale(state, now_ns, config);
    }
    ++state.negatives_in_row;
    if (state.addresses.count != 0 && state.negatives_in_row >= config.negative_confirmations) {
        clear_addresses(state);
        return true;
    }
    return expire_stale(state, now_ns, config);
}

}  // namespace

bool apply_answer(NameState& state, const Answer& answer, std::uint64_t now_ns,
                  const PolicyConfig& config) {
    RP_ASSERT(answer.outcome != Outcome::Pending);
    // An Ok without an address is a no-data answer (c-ares reports success when a CNAME chain
    // ends in nothing); normalise it so the rules below see one case.
    const Outcome outcome = (answer.outcome == Outcome::Ok && answer.addresses.count == 0)
                                ? Outcome::NoData
                                : answer.outcome;
    RP_ASSERT(outcome == Outcome::Ok || answer.addresses.count == 0);
    ++state.lookups;
    state.last_lookup_ns = now_ns;
    state.last_outcome = outcome;
    const std::uint64_t delay_ns = refresh_delay_ns(outcome, answer.ttl_s, config);
    state.next_refresh_ns =
        now_ns + delay_ns - refresh_spread_ns(outcome, delay_ns, state.spread_key, config);
    if (outcome == Outcome::Ok) {
        return apply_good(state, answer, now_ns);
    }
    return apply_failure(state, outcome, now_ns, config);
}

bool expire_stale(NameState& state, std::uint64_t now_ns, const PolicyConfig& config) {
    if (config.stale_max_ns == 0 || state.addresses.count == 0 ||
        state.last_outcome == Outcome::Ok) {
        return false;
    }
    RP_ASSERT(state.last_good_ns <= now_ns);
    if (now_ns - state.last_good_ns <= config.stale_max_ns) {
        return false;
    }
    clear_addresses(state);
    return true;
}

Verdict verdict(const NameState& state, std::uint64_t now_ns) {
    Verdict v;
    v.last_outcome = state.last_outcome;
    if (state.ever_resolved != 0) {
        RP_ASSERT(state.last_good_ns <= now_ns);
        v.age_ns = now_ns - state.last_good_ns;
    }
    if (state.last_outcome == Outcome::Pending) {
        RP_ASSERT(state.addresses.count == 0);
        return v;  // Pending, Unknown
    }
    if (state.addresses.count != 0) {
        // Health comes from probing the addresses; the reason says whether they are stale.
        v.standing = state.last_outcome == Outcome::Ok ? Standing::Fresh : Standing::Stale;
        v.reason = outcome_info(state.last_outcome).reason;
        return v;
    }
    if (state.ever_resolved == 0) {
        v.standing = Standing::NeverResolved;
        v.health = Health::Unhealthy;
        v.reason = outcome_info(state.last_outcome).reason;
        return v;
    }
    v.standing = Standing::NoAddress;
    v.health = Health::Unknown;
    v.reason = Reason::DnsNoAddress;
    return v;
}

}  // namespace ringprobe::dns
