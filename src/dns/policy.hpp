// DNS policy: what one name's state becomes after a lookup, when it is looked up again, and what
// the engine should make of it. Pure: no clock, no I/O, no allocation; time comes in as
// monotonic nanoseconds. The resolver thread (resolver.cpp) is the only caller that mutates a
// NameState; workers receive copies.
//
// The rules (docs/dns.md explains why):
//   - an answer with addresses replaces the address set (added ones appear, vanished ones go);
//     the name is looked up again when its TTL runs out, clamped to [ttl_floor, ttl_ceiling];
//   - an authoritative negative answer (NXDOMAIN, no data) is cached for `negative_ns`, never
//     longer; it empties a set that was good only after `negative_confirmations` such answers
//     in a row, so one stray negative does not drop every backend of a pool;
//   - a failed lookup (timeout, SERVFAIL, refused, unreachable server, anything else) keeps
//     the last good addresses and is retried after `retry_ns`; `stale_max_ns` (0 = never)
//     bounds how long stale addresses are kept;
//   - each name's next lookup comes early by a fixed share of its delay drawn from a hash of the
//     name (up to refresh_spread_percent, at most refresh_spread_max_ns, never under the TTL
//     floor), so that names answered together with one TTL are not asked again together;
//   - a name that has never resolved is Unhealthy with the DNS reason (the gateway's rule); a
//     name that did resolve and has no address left is Unknown with DnsNoAddress.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include "ringprobe/result.hpp"

namespace ringprobe::dns {

// An IPv4 or IPv6 address, fixed size so that a NameState is trivially copyable.
struct Address {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes, the rest zero
    std::uint8_t family = 0;               // 4 or 6; 0 only in unused entries
    std::array<std::uint8_t, 7> pad_{};

    static Address v4(const std::uint8_t (&b)[4]);
    static Address v6(const std::uint8_t (&b)[16]);
    // Parses a numeric address ("127.0.0.1", "::1"); family 0 when it is not one.
    static Address parse(std::string_view text);

    // IPv4 sorts before IPv6, then by bytes: the documented order of an address set.
    auto operator<=>(const Address& o) const {
        if (auto c = family <=> o.family; c != 0) {
            return c;
        }
        return bytes <=> o.bytes;
    }
    bool operator==(const Address& o) const { return family == o.family && bytes == o.bytes; }
};
static_assert(sizeof(Address) == 24);

// Longest text of an address (INET6_ADDRSTRLEN) plus the terminator.
inline constexpr std::size_t address_text_max = 46;
// Writes the address as text into out (NUL-terminated); returns the length.
std::size_t format_address(const Address& a, std::array<char, address_text_max>& out);

// The addresses of one name, canonical: sorted (IPv4 first, then IPv6, each by bytes), no
// duplicates, at most addresses_max. A larger answer keeps the first addresses_max in that
// order and says it was truncated.
inline constexpr std::size_t addresses_max = 16;

struct AddressSet {
    std::array<Address, addresses_max> items{};
    std::uint32_t count = 0;
    std::uint32_t truncated = 0;  // 1 when the answer had more than addresses_max

    std::span<const Address> view() const { return {items.data(), count}; }
    bool contains(const Address& a) const;
    bool operator==(const AddressSet& o) const;
};

// Builds the canonical set from addresses in any order, with duplicates.
AddressSet make_address_set(std::span<const Address> addresses);

// What changed between two sets: the engine starts probing `added` and stops `removed`.
struct AddressDiff {
    AddressSet added;
    AddressSet removed;
};
AddressDiff diff_addresses(const AddressSet& before, const AddressSet& after);

// How a lookup ended. Numeric values are stable (they may be shown in a report).
enum class Outcome : std::uint8_t {
    Pending = 0,      // never looked up yet
    Ok = 1,           // at least one address
    Nxdomain = 2,     // the name does not exist (authoritative)
    NoData = 3,       // the name exists, no address of the wanted family (authoritative)
    Servfail = 4,     // the server failed
    Timeout = 5,      // no answer within c-ares's timeouts and tries
    Refused = 6,      // the server refused the query
    Unreachable = 7,  // the server's port is closed (ICMP refused)
    Other = 8,        // anything else c-ares reports (bad name, bad response, no memory...)
};

struct OutcomeInfo {
    Outcome outcome;
    std::string_view code;  // stable token for logs and details
    Reason reason;          // the probe reason when this outcome leaves no address
    bool negative_answer;   // an authoritative "no": counts toward emptying the set
};

inline constexpr std::array<OutcomeInfo, 9> outcome_table{{
    {Outcome::Pending, "pending", Reason::Pending, false},
    {Outcome::Ok, "ok", Reason::Ok, false},
    {Outcome::Nxdomain, "nxdomain", Reason::DnsNxdomain, true},
    {Outcome::NoData, "nodata", Reason::DnsNoData, true},
    {Outcome::Servfail, "servfail", Reason::DnsServfail, false},
    {Outcome::Timeout, "timeout", Reason::DnsTimeout, false},
    {Outcome::Refused, "refused", Reason::DnsServfail, false},
    {Outcome::Unreachable, "unreachable", Reason::DnsTimeout, false},
    {Outcome::Other, "other", Reason::DnsServfail, false},
}};

namespace detail {
constexpr bool outcome_table_in_order() {
    for (std::size_t i = 0; i < outcome_table.size(); ++i) {
        if (static_cast<std::size_t>(outcome_table[i].outcome) != i) {
            return false;
        }
    }
    return true;
}
}  // namespace detail
static_assert(detail::outcome_table_in_order(), "outcome_table must list every Outcome in order");

constexpr const OutcomeInfo& outcome_info(Outcome o) {
    const auto i = static_cast<std::size_t>(o);
    return outcome_table[i < outcome_table.size() ? i : static_cast<std::size_t>(Outcome::Other)];
}

// The policy's knobs. Defaults are the documented ones (docs/dns.md).
struct PolicyConfig {
    std::uint64_t ttl_floor_ns = 1'000'000'000ull;      // never re-ask more often than 1 s
    std::uint64_t ttl_ceiling_ns = 300'000'000'000ull;  // never trust an answer over 300 s
    std::uint64_t negative_ns = 5'000'000'000ull;       // NXDOMAIN / no data cached 5 s
    std::uint64_t retry_ns = 2'000'000'000ull;          // after a failed lookup, ask in 2 s
    std::uint32_t negative_confirmations = 2;           // negatives in a row that empty a set
    std::uint64_t stale_max_ns = 0;                     // 0: keep last good while lookups fail
    std::uint32_t refresh_spread_percent = 10;          // of a delay, taken off per name
    std::uint64_t refresh_spread_max_ns = 30'000'000'000ull;  // bound on that share
};

// One lookup's result as the resolver thread hands it to the policy.
struct Answer {
    Outcome outcome = Outcome::Other;
    AddressSet addresses;     // empty unless outcome == Ok
    std::uint32_t ttl_s = 0;  // smallest TTL over the answer's records (A, AAAA, CNAME)
};

// The state of one name: what the resolver publishes and the engine reads. Trivially copyable
// and a whole number of 64-bit words (the resolver copies it through a seqlock).
struct NameState {
    AddressSet addresses;               // what to probe now (may be stale, see last_outcome)
    std::uint64_t last_good_ns = 0;     // monotonic time of the last answer with addresses; 0 never
    std::uint64_t last_lookup_ns = 0;   // monotonic time the last lookup ended; 0 never
    std::uint64_t next_refresh_ns = 0;  // monotonic time of the next lookup
    std::uint32_t ttl_s = 0;            // TTL of the last good answer, as the server sent it
    std::uint32_t lookups = 0;          // lookups completed
    std::uint32_t failures_in_row = 0;  // lookups in a row without addresses
    std::uint32_t negatives_in_row = 0;  // authoritative negative answers in a row
    std::uint32_t generation = 0;        // +1 each time `addresses` changes
    Outcome last_outcome = Outcome::Pending;
    std::uint8_t ever_resolved = 0;  // 1 once an answer with addresses arrived
    std::array<std::uint8_t, 2> pad_{};
    std::uint64_t spread_key = 0;  // the name's stable hash: where its refreshes fall
    // How long the lookup that gave `addresses` took, launch to answer (at least 1); 0 before
    // the first answer with addresses. The DNS phase of the name's probes.
    std::uint32_t good_lookup_us = 0;
    std::uint32_t pad2_ = 0;
};
static_assert(std::is_trivially_copyable_v<NameState>);
static_assert(sizeof(NameState) % 8 == 0);

// What the engine should do with a name, derived from its state at a moment.
enum class Standing : std::uint8_t {
    Pending = 0,        // first lookup not finished: Unknown, Reason::Pending, nothing to probe
    Fresh = 1,          // addresses from the latest lookup: probe them
    Stale = 2,          // latest lookup failed, last good addresses kept: probe them, show age
    NeverResolved = 3,  // no answer with addresses ever: Unhealthy with the DNS reason
    NoAddress = 4,      // resolved before, no address left now: Unknown, DnsNoAddress
};

struct Verdict {
    Standing standing = Standing::Pending;
    Health health = Health::Unknown;  // meaningful when there is nothing to probe
    Reason reason = Reason::Pending;  // the reason a report row shows for the name itself
    Outcome last_outcome = Outcome::Pending;
    std::uint64_t age_ns = 0;  // now - last_good_ns when there is a last good answer
};

// Applies one lookup's answer at `now_ns`; returns true when the address set changed.
bool apply_answer(NameState& state, const Answer& answer, std::uint64_t now_ns,
                  const PolicyConfig& config);

// Drops stale addresses older than config.stale_max_ns (no-op when 0); true when it did.
bool expire_stale(NameState& state, std::uint64_t now_ns, const PolicyConfig& config);

// How long until the next lookup after an answer with this outcome and TTL.
std::uint64_t refresh_delay_ns(Outcome outcome, std::uint32_t ttl_s, const PolicyConfig& config);

// How much earlier than `delay_ns` the name with `spread_key` is asked again: the same for one
// name and delay every time, spread evenly over [0, the spread window] across names. An answer's
// delay never drops under the TTL floor.
std::uint64_t refresh_spread_ns(Outcome outcome, std::uint64_t delay_ns, std::uint64_t spread_key,
                                const PolicyConfig& config);

Verdict verdict(const NameState& state, std::uint64_t now_ns);

}  // namespace ringprobe::dns
