// Stage: FQDN address slots. The resolver tells the worker (poll, once per loop turn) when a
// name's addresses or outcome changed; reconcile() then gives each new address a slot (first
// probe within min(interval, 1 s)) and lets go of the slots whose address left the answer (a
// probe in flight finishes first). Each address is a host with its own health; the row's health
// is the aggregate (ringprobe.dnsAggregation, docs/dns.md).
//
// Where an address's slot comes from (docs/dns.md, "Address slots"): every name has one slot
// of its own, so a name's first address always has one; its other addresses draw from the
// worker's shared address pool (address_pool_for: one per name, at least 16), sized at start
// and at each reload, so the memory follows the names, not 16 times the names. When the pool
// has none free, the addresses left over are not probed: the name counts them (unslotted), the
// row's detail says so, the worker's dns_addresses_unprobed gauge sums them, and the row's
// health is the aggregate of the addresses probed: a shortage of the prober's is never
// reported as the backend's. A slot given back to the pool goes first to a name left short.
//
// How the addresses' health makes the row's is the health room's rule (name_health in
// health.hpp, a function of plain values with its own table of tests); here the worker hands
// it the slots and publishes what it says.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "engine/probe_slot.hpp"

namespace ringprobe::engine {

void Worker::on_dns(dns::NameId id, const dns::NameState& st, std::uint64_t now) {
    auto it = std::lower_bound(name_lookup_.begin(), name_lookup_.end(),
                               std::pair<dns::NameId, std::uint32_t>{id, 0});
    for (; it != name_lookup_.end() && it->first == id; ++it) {
        NameSlot& n = names_[it->second];
        n.state = st;
        n.have_state = true;
        bump(counters_.dns_updates);
        reconcile(n, now);
        publish_name(n);
        aggregate(n, nullptr, now);
    }
    if (pool_returned_) {
        retry_short_names(now);
    }
}

void Worker::reconcile(NameSlot& n, std::uint64_t now) {
    const dns::Verdict v = verdict_at(n.state, now);
    const bool probing = v.standing == dns::Standing::Fresh || v.standing == dns::Standing::Stale;
    const dns::AddressSet empty{};
    const dns::AddressSet& want = probing ? n.state.addresses : empty;
    for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
        if (n.slot_at[k] == no_slot) {
            continue;
        }
        Slot& s = slots_[n.slot_at[k]];
        if (s.active && !want.contains(address_of(s.addr, s.addr_ok))) {
            s.active = false;
            if (s.state == State::Idle) {
                wheel_.cancel(s.timer);  // (if it waits in the deferred line it is skipped there)
                release_address(n, s);   // the record goes empty
            }
        }
    }
    std::uint32_t unslotted = 0;
    for (const dns::Address& a : want.view()) {
        bool have = false;
        std::uint8_t free_k = abi::kAddressesPerName;
        for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
            if (n.slot_at[k] == no_slot) {
                free_k = std::min(free_k, static_cast<std::uint8_t>(k));
                continue;
            }
            const Slot& s = slots_[n.slot_at[k]];
            if (s.active && address_of(s.addr, s.addr_ok) == a) {
                have = true;
                break;
            }
        }
        if (have) {
            continue;
        }
        // No free record: every record holds an address or a probe of one that left, which
        // calls reconcile() again when it finishes.
        std::uint32_t i = no_slot;
        if (free_k == abi::kAddressesPerName) {
            continue;
        }
        if (!take_slot(n, free_k, i)) {
            unslotted += 1;
            continue;
        }
        activate(n, slots_[i], a, now);
    }
    if ((n.unslotted != 0) != (unslotted != 0)) {
        names_short_ = unslotted != 0 ? names_short_ + 1 : names_short_ - 1;
    }
    const std::uint64_t unprobed = counters_.dns_addresses_unprobed.load(std::memory_order_relaxed);
    counters_.dns_addresses_unprobed.store(unprobed - n.unslotted + unslotted,
                                           std::memory_order_relaxed);
    n.unslotted = static_cast<std::uint8_t>(unslotted);
}

// A slot for record k of the name: its own if free, else one from the pool. False when the
// pool has none free.
bool Worker::take_slot(NameSlot& n, std::uint8_t k, std::uint32_t& slot) {
    const Slot& own = slots_[n.own_slot];
    const bool own_busy = n.slot_at[own.addr_k] == n.own_slot;
    if (!own_busy) {
        RP_ASSERT_HOT(own.state == State::Idle);
        slot = n.own_slot;
        slots_[slot].addr_k = k;
    } else {
        if (pool_free_.empty()) {
            return false;
        }
        slot = pool_free_.back();
        pool_free_.pop_back();
        Slot& s = slots_[slot];
        RP_ASSERT_HOT(s.state == State::Idle);
        RP_ASSERT_HOT(!wheel_.scheduled(s.timer));
        const Target& t = plan_->targets[n.plan_index];
        RP_ASSERT_HOT(!protocol_is_tls(t.protocol) || tls_sessions_[slot] != nullptr);
        const std::uint32_t generation = s.generation;
        s = Slot{};  // the slot's previous name's state goes; its TLS session is cleared later
        s.generation = generation + 1;
        s.plan_index = n.plan_index;
        shard_[slot] = n.plan_index;
        s.name = static_cast<std::uint32_t>(&n - names_.data());
        s.matcher = n.matcher;
        s.addr_k = k;
    }
    n.slot_at[k] = slot;
    return true;
}

// An address's slot once its address left and no probe of it is in flight: its record goes
// empty; a pool slot goes back to the pool (or, beyond the pool's size after a reload shrank
// it, to the free slots) and to a name left short first.
void Worker::release_address(NameSlot& n, Slot& s) {
    RP_ASSERT_HOT(!s.active);
    RP_ASSERT_HOT(s.state == State::Idle);
    publish_address(s);
    const auto i = static_cast<std::uint32_t>(&s - slots_.data());
    RP_ASSERT_HOT(n.slot_at[s.addr_k] == i);
    n.slot_at[s.addr_k] = no_slot;
    if (i == n.own_slot) {
        return;
    }
    s.retired = true;
    s.name = no_name;
    if (pool_slots_ > pool_target_) {
        pool_slots_ -= 1;
        free_slots_.push_back(i);  // capacity kept for every slot (grow_slots)
        return;
    }
    pool_free_.push_back(i);  // capacity kept for the whole pool: no allocation
    pool_returned_ = true;
}

// Names left short of a slot get the ones given back since (at the end of a turn's DNS work
// or a probe's end: not while reconcile() walks a name).
void Worker::retry_short_names(std::uint64_t now) {
    pool_returned_ = false;
    if (names_short_ == 0) {
        return;
    }
    for (NameSlot& n : names_) {
        if (pool_free_.empty() || names_short_ == 0) {
            break;
        }
        if (!n.retired && n.unslotted != 0) {
            reconcile(n, now);
            publish_name(n);
            aggregate(n, nullptr, now);
        }
    }
}

void Worker::activate(NameSlot& n, Slot& s, const dns::Address& a, std::uint64_t now) {
    const Target& t = plan_->targets[n.plan_index];
    std::memset(&s.addr, 0, sizeof s.addr);
    if (a.family == 4) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&s.addr);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(t.port);
        std::memcpy(&v4->sin_addr, a.bytes.data(), 4);
        s.addr_len = sizeof(sockaddr_in);
    } else {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&s.addr);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(t.port);
        std::memcpy(&v6->sin6_addr, a.bytes.data(), 16);
        s.addr_len = sizeof(sockaddr_in6);
    }
    s.addr_ok = true;
    s.active = true;
    s.since_ns = now;
    s.health = HealthState{};
    s.last_reason = Reason::Pending;
    s.http_status = 0;
    s.sys_errno = 0;
    s.start_ns = s.done_ns = s.connected_ns = s.first_byte_ns = s.tls_done_ns = 0;
    s.last_probe_ns = 0;
    s.last_change_ns = 0;
    s.total_probes = s.total_ok = s.total_fail = s.total_prober = 0;
    const std::size_t idx = static_cast<std::size_t>(&s - slots_.data());
    if (!tls_sessions_.empty() && tls_sessions_[idx] != nullptr) {
        tls_sessions_[idx]->clear();  // another server now: no session to resume
    }
    // First probe within min(interval, 1 s), at a phase of its own so that the addresses of a
    // name, and the names resolved together, do not all start in the same tick.
    const std::uint64_t window = std::max<std::uint64_t>(
        std::min<std::uint64_t>(ms_to_ns(t.interval_ms), 1'000'000'000ull), tick_ns);
    s.base_ns = now + mix64(t.identity_hash ^ (std::uint64_t{s.addr_k} << 56) ^ a.bytes[3] ^
                            (std::uint64_t{a.bytes[15]} << 8)) %
                          window;
    s.base_ns = on_start_grid(s.base_ns);
    s.home_ns = s.base_ns;
    s.next_ns = on_grid(s.base_ns);
    wheel_.schedule(s.timer, ns_to_tick_ceil(s.next_ns));
    publish_address(s);
}

// An address's probe has ended: the name's totals and flags, the address's record, and the row.
void Worker::address_done(Slot& s, Reason r, std::uint8_t flags, std::uint64_t now) {
    NameSlot& n = names_[s.name];
    n.total_probes += 1;
    if (reason_is_prober_side(r)) {
        n.total_prober += 1;
    } else if (r == Reason::Ok) {
        n.total_ok += 1;
    } else {
        n.total_fail += 1;
    }
    constexpr std::uint8_t from_probe = abi::kStateCertExpiring | abi::kStateBodyCut;
    n.flags = static_cast<std::uint8_t>((n.flags & ~from_probe) | flags);
    if (s.active) {
        publish_address(s);
        aggregate(n, &s, now);
        return;
    }
    // Its address left while it probed: the slot is free again, and an address waiting for
    // one (of this name, or of a name the pool left short) gets it.
    release_address(n, s);
    reconcile(n, now);
    aggregate(n, nullptr, now);
    if (pool_returned_) {
        retry_short_names(now);
    }
}

void Worker::publish_address(const Slot& s) {
    if (writer_ == nullptr) {
        return;
    }
    const NameSlot& n = names_[s.name];
    if (n.report_slot == abi::kNoSlot) {
        return;
    }
    abi::AddressStatePayload p{};
    if (s.active) {
        const dns::Address a = address_of(s.addr, s.addr_ok);
        p.family = a.family;
        p.health = static_cast<std::uint8_t>(s.health.health);
        p.reason = static_cast<std::uint16_t>(s.last_reason);
        p.http_status = s.http_status;
        std::memcpy(p.address, a.bytes.data(), sizeof p.address);
        p.sys_errno = s.sys_errno;
        p.latency_us = us_between(s.start_ns, s.done_ns);
        p.consecutive_ok = s.health.consecutive_ok;
        p.consecutive_fail = s.health.consecutive_fail;
        p.since_unix_ns = wall_.to_unix_ns(s.since_ns);
        p.last_probe_unix_ns = s.last_probe_ns == 0 ? 0 : wall_.to_unix_ns(s.last_probe_ns);
        p.last_change_unix_ns = s.last_change_ns == 0 ? 0 : wall_.to_unix_ns(s.last_change_ns);
        p.total_probes = s.total_probes;
        p.total_fail = s.total_fail;
    }
    writer_->publish_address(n.report_slot, s.addr_k, p);
}

void Worker::publish_name(const NameSlot& n) {
    if (writer_ == nullptr || n.report_slot == abi::kNoSlot) {
        return;
    }
    const dns::NameState& st = n.state;
    const dns::Verdict v = verdict_at(st, monotonic_ns());
    abi::NameStatePayload p{};
    p.standing = static_cast<std::uint8_t>(v.standing);
    p.last_outcome = static_cast<std::uint8_t>(st.last_outcome);
    const bool answered = v.standing == dns::Standing::Fresh || v.standing == dns::Standing::Stale;
    p.address_count = static_cast<std::uint8_t>(answered ? st.addresses.count : 0);
    p.truncated = st.addresses.truncated != 0 ? 1 : 0;
    p.ttl_s = st.ttl_s;
    p.last_lookup_unix_ns = st.last_lookup_ns == 0 ? 0 : wall_.to_unix_ns(st.last_lookup_ns);
    p.last_good_unix_ns = st.last_good_ns == 0 ? 0 : wall_.to_unix_ns(st.last_good_ns);
    p.next_lookup_unix_ns = st.next_refresh_ns == 0 ? 0 : wall_.to_unix_ns(st.next_refresh_ns);
    p.lookups = st.lookups;
    p.generation = st.generation;
    writer_->publish_name(n.report_slot, p);
}

// The row of an FQDN target: its name's standing, then its addresses' health by the target's
// aggregation rule (name_health, in the health room). `latest`: the address slot whose probe
// just ended (its timings go in the row), or nullptr after a DNS change.
void Worker::aggregate(NameSlot& n, const Slot* latest, std::uint64_t now) {
    const dns::Verdict v = n.have_state ? verdict_at(n.state, now) : dns::Verdict{};
    const NameHealth h = name_health_of(n, v, latest);
    const Slot* const decider = h.decider == no_address ? nullptr : &slots_[n.slot_at[h.decider]];
    const Slot* const first_unhealthy =
        h.first_unhealthy == no_address ? nullptr : &slots_[n.slot_at[h.first_unhealthy]];
    std::uint8_t flags =
        static_cast<std::uint8_t>(n.flags & (abi::kStateCertExpiring | abi::kStateBodyCut));
    if (v.standing == dns::Standing::Stale) {
        flags |= abi::kStateDnsStale;
    }
    if (latest != nullptr) {  // a probe's result, not a DNS change
        n.changes = shift_change(n.changes, h.health != n.health.health);
    }
    if (is_flapping(n.changes, plan_->flapping_changes)) {
        flags |= abi::kStateFlapping;
    }
    if (h.health != n.health.health) {
        log_transition(Transition{n.plan_index, n.health.health, h.health, h.reason,
                                  decider != nullptr ? decider->http_status : std::uint16_t{0},
                                  wall_.to_unix_ns(now), epoch_},
                       decider != nullptr ? decider->sys_errno : 0);
        n.health.health = h.health;
        n.last_change_ns = now;
    }
    n.reason = h.reason;
    describe_name(n, v, h, first_unhealthy);
    if (writer_ == nullptr) {
        return;
    }
    publish_row(n, h, decider, latest, flags);
}

// The name's answer and its address slots, in the plain values the health rule takes.
NameHealth Worker::name_health_of(const NameSlot& n, const dns::Verdict& v,
                                  const Slot* latest) const {
    NameInput in;
    switch (v.standing) {
        case dns::Standing::Pending: in.answer = NameAnswer::Pending; break;
        case dns::Standing::NeverResolved:
        case dns::Standing::NoAddress: in.answer = NameAnswer::Nothing; break;
        case dns::Standing::Fresh:
        case dns::Standing::Stale: in.answer = NameAnswer::Addresses; break;
    }
    in.dns_health = v.health;
    in.dns_reason = v.reason;
    in.all = plan_->targets[n.plan_index].dns_aggregation == DnsAggregation::All;
    if (latest != nullptr) {
        RP_ASSERT_HOT(n.slot_at[latest->addr_k] ==
                      static_cast<std::uint32_t>(latest - slots_.data()));
        in.latest = latest->addr_k;
    }
    std::array<AddressHealth, abi::kAddressesPerName> addresses;
    for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
        if (n.slot_at[k] == no_slot) {
            addresses[k] = AddressHealth{false, Health::Unknown, Reason::Pending};
            continue;
        }
        const Slot& s = slots_[n.slot_at[k]];
        addresses[k] = AddressHealth{s.active, s.health.health, s.last_reason};
    }
    return name_health(in, addresses);
}

// The row's detail: formatted again only when what it says changes, not per probe.
void Worker::describe_name(NameSlot& n, const dns::Verdict& v, const NameHealth& h,
                           const Slot* first_unhealthy) {
    const std::uint64_t key = (std::uint64_t{static_cast<std::uint8_t>(v.standing)} << 56) ^
                              (std::uint64_t{static_cast<std::uint8_t>(v.last_outcome)} << 48) ^
                              (std::uint64_t{h.count} << 40) ^ (std::uint64_t{h.healthy} << 32) ^
                              (std::uint64_t{h.unhealthy} << 24) ^
                              (std::uint64_t{static_cast<std::uint16_t>(h.reason)} << 8) ^
                              (first_unhealthy != nullptr ? first_unhealthy->addr_k + 1u : 0u) ^
                              (std::uint64_t{n.state.generation} << 12) ^
                              (std::uint64_t{n.unslotted} << 5);
    if (key != n.detail_key) {
        n.detail_key = key;
        const std::string_view outcome = dns::outcome_info(v.last_outcome).code;
        std::array<char, dns::address_text_max> text{};
        int len = 0;
        switch (v.standing) {
            case dns::Standing::Pending:
                len = std::snprintf(n.detail, sizeof n.detail, "dns: waiting for the first answer");
                break;
            case dns::Standing::NeverResolved:
                len = std::snprintf(n.detail, sizeof n.detail,
                                    "dns: %.*s, the name has never resolved",
                                    static_cast<int>(outcome.size()), outcome.data());
                break;
            case dns::Standing::NoAddress:
                len = std::snprintf(n.detail, sizeof n.detail,
                                    "dns: no address left (last lookup: %.*s)",
                                    static_cast<int>(outcome.size()), outcome.data());
                break;
            case dns::Standing::Fresh:
            case dns::Standing::Stale: {
                len = std::snprintf(
                    n.detail, sizeof n.detail, "%s%u address%s, %u healthy",
                    v.standing == dns::Standing::Stale ? "dns stale, last good answer kept; " : "",
                    h.count, h.count == 1 ? "" : "es", h.healthy);
                if (first_unhealthy != nullptr && len > 0 &&
                    static_cast<std::size_t>(len) < sizeof n.detail) {
                    dns::format_address(address_of(first_unhealthy->addr, first_unhealthy->addr_ok),
                                        text);
                    const std::string_view code = reason_info(first_unhealthy->last_reason).code;
                    len += std::snprintf(
                        n.detail + len, sizeof n.detail - static_cast<std::size_t>(len),
                        "; %s %.*s", text.data(), static_cast<int>(code.size()), code.data());
                }
                if (n.unslotted != 0 && len > 0 &&
                    static_cast<std::size_t>(len) < sizeof n.detail) {
                    len += std::snprintf(n.detail + len,
                                         sizeof n.detail - static_cast<std::size_t>(len),
                                         "; %u not probed: the worker's address slots are all in "
                                         "use (prober-side)",
                                         static_cast<unsigned>(n.unslotted));
                }
                break;
            }
        }
        n.detail_len =
            len < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(len), sizeof n.detail - 1);
    }
}

void Worker::publish_row(const NameSlot& n, const NameHealth& h, const Slot* decider,
                         const Slot* latest, std::uint8_t flags) {
    report::TargetUpdate u{};
    u.health = h.health;
    u.flags = flags;
    u.reason = h.reason;
    // The DNS phase: the lookup that gave the addresses probed; 0 (shown "-") before one did.
    u.dns_us = n.have_state ? n.state.good_lookup_us : 0;
    if (decider != nullptr) {
        u.http_status = decider->http_status;
        u.sys_errno = decider->sys_errno;
        u.latency_us = us_between(decider->start_ns, decider->done_ns);
        u.connect_us = us_between(decider->start_ns, decider->connected_ns);
        u.tls_us = us_between(decider->start_ns, decider->tls_done_ns);
        u.first_byte_us = us_between(decider->start_ns, decider->first_byte_ns);
        u.consecutive_ok = decider->health.consecutive_ok;
        u.consecutive_fail = decider->health.consecutive_fail;
    }
    const Slot* last = latest != nullptr ? latest : decider;
    u.last_probe_unix_ns =
        last != nullptr && last->last_probe_ns != 0 ? wall_.to_unix_ns(last->last_probe_ns) : 0;
    u.last_change_unix_ns = n.last_change_ns == 0 ? 0 : wall_.to_unix_ns(n.last_change_ns);
    u.next_probe_unix_ns = last != nullptr && last->active ? wall_.to_unix_ns(last->next_ns) : 0;
    u.total_probes = n.total_probes;
    u.total_ok = n.total_ok;
    u.total_fail = n.total_fail;
    u.total_prober_errors = n.total_prober;
    u.detail = std::string_view(n.detail, n.detail_len);
    writer_->publish(n.plan_index, u);
}

}  // namespace ringprobe::engine
