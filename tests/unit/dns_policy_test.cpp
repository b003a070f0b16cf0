// Pins src/dns/policy.cpp: what a name's state becomes after each lookup and what the engine is
// told to do with it. Time is a manual clock (plain nanoseconds handed to the pure functions),
// so nothing sleeps. The scenario table replays lookups in order and checks, after every step,
// the standing, the health and reason a report would show, how many addresses are probed, how
// old the last good answer is and when the next lookup goes out. Together they prove the
// issue's rules: TTL clamped to [1 s, 300 s], negatives cached 5 s and never forever, a name
// that never resolved is Unhealthy with its DNS reason, a failed lookup keeps the last good
// addresses with their age, and an emptied name is Unknown with DnsNoAddress. Names answered
// together with one TTL are asked again spread over the last 10% of it, each name always at the
// same place, never later than the TTL and never sooner than the floor.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/hash.hpp"
#include "dns/policy.hpp"

namespace ringprobe::dns {
namespace {

constexpr std::uint64_t s_ns = 1'000'000'000ull;

Address a4(std::uint8_t last) {
    const std::uint8_t b[4] = {192, 0, 2, last};
    return Address::v4(b);
}

Address a6(std::uint8_t last) {
    std::uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
    b[15] = last;
    return Address::v6(b);
}

AddressSet set_of(std::initializer_list<Address> l) {
    return make_address_set({l.begin(), l.size()});
}

Answer ok(std::initializer_list<Address> l, std::uint32_t ttl_s) {
    return Answer{Outcome::Ok, set_of(l), ttl_s};
}

Answer fail(Outcome o) {
    return Answer{o, {}, 0};
}

TEST(DnsPolicy, RefreshDelayClampsTtlBetweenFloorAndCeiling) {
    const PolicyConfig c;
    struct Row {
        Outcome outcome;
        std::uint32_t ttl_s;
        std::uint64_t want_ns;
    };
    const Row rows[] = {
        {Outcome::Ok, 0, 1 * s_ns},  // /etc/hosts answers carry TTL 0: the floor
        {Outcome::Ok, 1, 1 * s_ns},
        {Outcome::Ok, 30, 30 * s_ns},
        {Outcome::Ok, 300, 300 * s_ns},
        {Outcome::Ok, 86400, 300 * s_ns},  // a day-long TTL is re-checked every 5 minutes
        {Outcome::Nxdomain, 0, 5 * s_ns},
        {Outcome::NoData, 3600, 5 * s_ns},  // a negative answer never lasts longer than 5 s
        {Outcome::Servfail, 0, 2 * s_ns},
        {Outcome::Timeout, 0, 2 * s_ns},
        {Outcome::Refused, 0, 2 * s_ns},
        {Outcome::Unreachable, 0, 2 * s_ns},
        {Outcome::Other, 0, 2 * s_ns},
    };
    for (const Row& r : rows) {
        EXPECT_EQ(refresh_delay_ns(r.outcome, r.ttl_s, c), r.want_ns)
            << outcome_info(r.outcome).code << " ttl " << r.ttl_s;
    }
}

TEST(DnsPolicy, OutcomesMapToTheDnsReasons) {
    EXPECT_EQ(outcome_info(Outcome::Nxdomain).reason, Reason::DnsNxdomain);
    EXPECT_EQ(outcome_info(Outcome::NoData).reason, Reason::DnsNoData);
    EXPECT_EQ(outcome_info(Outcome::Servfail).reason, Reason::DnsServfail);
    EXPECT_EQ(outcome_info(Outcome::Timeout).reason, Reason::DnsTimeout);
    EXPECT_EQ(outcome_info(Outcome::Unreachable).reason, Reason::DnsTimeout);
    EXPECT_EQ(outcome_info(Outcome::Refused).reason, Reason::DnsServfail);
    EXPECT_EQ(outcome_info(Outcome::Other).reason, Reason::DnsServfail);
    for (const OutcomeInfo& i : outcome_table) {
        if (i.outcome != Outcome::Pending && i.outcome != Outcome::Ok) {
            EXPECT_EQ(reason_info(i.reason).layer, Layer::Dns) << i.code;
        }
    }
}

TEST(DnsPolicy, AddressSetIsSortedIpv4FirstWithoutDuplicates) {
    const AddressSet s = set_of({a6(1), a4(9), a4(3), a6(1), a4(3)});
    ASSERT_EQ(s.count, 3u);
    EXPECT_EQ(s.items[0], a4(3));
    EXPECT_EQ(s.items[1], a4(9));
    EXPECT_EQ(s.items[2], a6(1));
    EXPECT_EQ(s.truncated, 0u);
    EXPECT_TRUE(s.contains(a4(9)));
    EXPECT_FALSE(s.contains(a4(4)));
}

TEST(DnsPolicy, AddressSetKeepsTheSmallestWhenAnAnswerOverflows) {
    std::vector<Address> many;
    for (int i = 40; i > 0; --i) {
        many.push_back(a4(static_cast<std::uint8_t>(i)));
    }
    const AddressSet s = make_address_set(many);
    ASSERT_EQ(s.count, addresses_max);
    EXPECT_EQ(s.truncated, 1u);
    for (std::size_t i = 0; i < addresses_max; ++i) {
        EXPECT_EQ(s.items[i], a4(static_cast<std::uint8_t>(i + 1)));
    }
}

TEST(DnsPolicy, DiffNamesAddedAndRemovedAddresses) {
    const AddressDiff d = diff_addresses(set_of({a4(1), a4(2)}), set_of({a4(2), a6(3)}));
    ASSERT_EQ(d.removed.count, 1u);
    EXPECT_EQ(d.removed.items[0], a4(1));
    ASSERT_EQ(d.added.count, 1u);
    EXPECT_EQ(d.added.items[0], a6(3));
}

TEST(DnsPolicy, AddressTextRoundTrips) {
    for (const char* text : {"127.0.0.1", "192.0.2.255", "::1", "2001:db8::7"}) {
        const Address a = Address::parse(text);
        ASSERT_NE(a.family, 0) << text;
        std::array<char, address_text_max> buf;
        format_address(a, buf);
        EXPECT_STREQ(buf.data(), text);
    }
    EXPECT_EQ(Address::parse("api.example.com").family, 0);
}

TEST(DnsPolicy, NothingIsProbedBeforeTheFirstLookupEnds) {
    const NameState s;
    const Verdict v = verdict(s, 42);
    EXPECT_EQ(v.standing, Standing::Pending);
    EXPECT_EQ(v.health, Health::Unknown);
    EXPECT_EQ(v.reason, Reason::Pending);
}

// ---- scenarios ----

struct Step {
    std::uint64_t advance_s;  // manual clock moves first
    Answer answer;
    Standing standing;
    Health health;  // only checked when there is nothing to probe
    Reason reason;
    std::uint32_t addresses;
    std::uint64_t age_s;      // now - last good answer
    std::uint64_t next_in_s;  // next lookup, from now
};

struct Scenario {
    std::string name;
    PolicyConfig config;
    std::vector<Step> steps;
};

PolicyConfig stale_max(std::uint64_t s) {
    PolicyConfig c;
    c.stale_max_ns = s * s_ns;
    return c;
}

std::vector<Scenario> scenarios() {
    const Answer two = ok({a4(1), a4(2)}, 60);
    return {
        {"nxdomain at start is unhealthy with the nxdomain reason",
         {},
         {{0, fail(Outcome::Nxdomain), Standing::NeverResolved, Health::Unhealthy,
           Reason::DnsNxdomain, 0, 0, 5},
          {5, fail(Outcome::Nxdomain), Standing::NeverResolved, Health::Unhealthy,
           Reason::DnsNxdomain, 0, 0, 5}}},
        {"timeout at start is unhealthy with the timeout reason",
         {},
         {{0, fail(Outcome::Timeout), Standing::NeverResolved, Health::Unhealthy,
           Reason::DnsTimeout, 0, 0, 2}}},
        {"servfail at start is unhealthy with the servfail reason",
         {},
         {{0, fail(Outcome::Servfail), Standing::NeverResolved, Health::Unhealthy,
           Reason::DnsServfail, 0, 0, 2}}},
        {"no data at start is unhealthy with the no-data reason",
         {},
         {{0, fail(Outcome::NoData), Standing::NeverResolved, Health::Unhealthy, Reason::DnsNoData,
           0, 0, 5}}},
        {"a name resolving late becomes fresh",
         {},
         {{0, fail(Outcome::Nxdomain), Standing::NeverResolved, Health::Unhealthy,
           Reason::DnsNxdomain, 0, 0, 5},
          {5, two, Standing::Fresh, Health::Unknown, Reason::Ok, 2, 0, 60}}},
        {"a timeout keeps the last good addresses and says how old they are",
         {},
         {{0, two, Standing::Fresh, Health::Unknown, Reason::Ok, 2, 0, 60},
          {60, fail(Outcome::Timeout), Standing::Stale, Health::Unknown, Reason::DnsTimeout, 2, 60,
           2},
          {2, fail(Outcome::Servfail), Standing::Stale, Health::Unknown, Reason::DnsServfail, 2, 62,
           2},
          {2, two, Standing::Fresh, Health::Unknown, Reason::Ok, 2, 0, 60}}},
        {"one nxdomain after success keeps the addresses, a second empties the name",
         {},
         {{0, two, Standing::Fresh, Health::Unknown, Reason::Ok, 2, 0, 60},
          {60, fail(Outcome::Nxdomain), Standing::Stale, Health::Unknown, Reason::DnsNxdomain, 2,
           60, 5},
          {5, fail(Outcome::Nxdomain), Standing::NoAddress, Health::Unknown, Reason::DnsNoAddress,
           0, 65, 5},
          {5, fail(Outcome::Timeout), Standing::NoAddress, Health::Unknown, Reason::DnsNoAddress, 0,
           70, 2},
          {2, two, Standing::Fresh, Health::Unknown, Reason::Ok, 2, 0, 60}}},
        {"a timeout between two negatives restarts the confirmation",
         {},
         {{0, two, Standing::Fresh, Health::Unknown, Reason::Ok, 2, 0, 60},
          {60, fail(Outcome::NoData), Standing::Stale, Health::Unknown, Reason::DnsNoData, 2, 60,
           5},
          {5, fail(Outcome::Timeout), Standing::Stale, Health::Unknown, Reason::DnsTimeout, 2, 65,
           2},
          {2, fail(Outcome::NoData), Standing::Stale, Health::Unknown, Reason::DnsNoData, 2, 67, 5},
          {5, fail(Outcome::NoData), Standing::NoAddress, Health::Unknown, Reason::DnsNoAddress, 0,
           72, 5}}},
        {"an ok answer without addresses counts as no data",
         {},
         {{0, ok({}, 60), Standing::NeverResolved, Health::Unhealthy, Reason::DnsNoData, 0, 0, 5}}},
        {"stale addresses expire after stale_max when configured",
         stale_max(10),
         {{0, two, Standing::Fresh, Health::Unknown, Reason::Ok, 2, 0, 60},
          {60, fail(Outcome::Timeout), Standing::NoAddress, Health::Unknown, Reason::DnsNoAddress,
           0, 60, 2}}},
        {"stale addresses within stale_max are kept",
         stale_max(100),
         {{0, two, Standing::Fresh, Health::Unknown, Reason::Ok, 2, 0, 60},
          {60, fail(Outcome::Timeout), Standing::Stale, Health::Unknown, Reason::DnsTimeout, 2, 60,
           2}}},
        {"ttl below the floor and above the ceiling are clamped",
         {},
         {{0, ok({a4(1)}, 0), Standing::Fresh, Health::Unknown, Reason::Ok, 1, 0, 1},
          {1, ok({a4(1)}, 100000), Standing::Fresh, Health::Unknown, Reason::Ok, 1, 0, 300}}},
    };
}

// The scenarios check exact refresh instants; the spread has tests of its own below.
PolicyConfig unspread(PolicyConfig c) {
    c.refresh_spread_percent = 0;
    return c;
}

TEST(DnsPolicy, ScenariosFollowTheDocumentedRules) {
    for (const Scenario& sc : scenarios()) {
        NameState state;
        std::uint64_t now = 1000 * s_ns;  // the manual clock
        for (std::size_t i = 0; i < sc.steps.size(); ++i) {
            const Step& st = sc.steps[i];
            SCOPED_TRACE(sc.name + ", step " + std::to_string(i));
            now += st.advance_s * s_ns;
            apply_answer(state, st.answer, now, unspread(sc.config));
            const Verdict v = verdict(state, now);
            EXPECT_EQ(v.standing, st.standing);
            EXPECT_EQ(v.reason, st.reason);
            if (st.standing == Standing::NeverResolved || st.standing == Standing::NoAddress) {
                EXPECT_EQ(v.health, st.health);
            }
            EXPECT_EQ(state.addresses.count, st.addresses);
            EXPECT_EQ(v.age_ns, st.age_s * s_ns);
            EXPECT_EQ(state.next_refresh_ns, now + st.next_in_s * s_ns);
            EXPECT_EQ(state.last_lookup_ns, now);
        }
    }
}

TEST(DnsPolicy, ChangedAnswerReplacesTheSetAndBumpsTheGeneration) {
    const PolicyConfig c;
    NameState s;
    EXPECT_TRUE(apply_answer(s, ok({a4(1), a4(2)}, 5), 10 * s_ns, c));
    EXPECT_EQ(s.generation, 1u);
    EXPECT_FALSE(apply_answer(s, ok({a4(2), a4(1)}, 5), 15 * s_ns, c));  // same set, any order
    EXPECT_EQ(s.generation, 1u);
    EXPECT_TRUE(apply_answer(s, ok({a4(2), a6(3)}, 5), 20 * s_ns, c));
    EXPECT_EQ(s.generation, 2u);
    EXPECT_EQ(s.addresses, set_of({a4(2), a6(3)}));
    EXPECT_EQ(s.last_good_ns, 20 * s_ns);
    EXPECT_EQ(s.ttl_s, 5u);
    EXPECT_EQ(s.lookups, 3u);
}

TEST(DnsPolicy, NegativeAnswersAreNeverCachedForever) {
    const PolicyConfig c;
    NameState s;
    std::uint64_t now = 0;
    for (int i = 0; i < 1000; ++i) {
        now += s_ns;
        apply_answer(s, fail(i % 2 == 0 ? Outcome::Nxdomain : Outcome::NoData), now, c);
        ASSERT_LE(s.next_refresh_ns - now, c.negative_ns);
    }
    EXPECT_EQ(s.failures_in_row, 1000u);
    apply_answer(s, ok({a4(7)}, 30), now, c);
    EXPECT_EQ(s.failures_in_row, 0u);
    EXPECT_EQ(verdict(s, now).standing, Standing::Fresh);
}

// 1,000 names answered in the same instant with one TTL: their next lookups fall inside the last
// 10% before the TTL runs out, never after it, and no tenth of that window holds more than twice
// its share.
TEST(DnsPolicy, NamesWithOneTtlAreAskedAgainSpreadOverTheWindow) {
    const PolicyConfig c;
    constexpr int names = 1000;
    constexpr std::uint64_t now = 1000 * s_ns;
    constexpr std::uint64_t ttl_ns = 60 * s_ns;
    constexpr std::uint64_t window_ns = ttl_ns / 10;
    std::vector<int> tenths(10, 0);
    std::vector<std::uint64_t> instants;
    for (int i = 0; i < names; ++i) {
        NameState s;
        s.spread_key = stable_hash("backend-" + std::to_string(i) + ".example.com");
        apply_answer(s, ok({a4(1)}, 60), now, c);
        ASSERT_LE(s.next_refresh_ns, now + ttl_ns) << i;
        ASSERT_GE(s.next_refresh_ns, now + ttl_ns - window_ns) << i;
        const std::uint64_t early_ns = now + ttl_ns - s.next_refresh_ns;
        ++tenths[std::min<std::size_t>(9, early_ns * 10 / window_ns)];
        instants.push_back(s.next_refresh_ns);
    }
    for (std::size_t t = 0; t < tenths.size(); ++t) {
        EXPECT_GT(tenths[t], names / 10 / 2) << "tenth " << t;
        EXPECT_LT(tenths[t], names / 10 * 2) << "tenth " << t;
    }
    std::sort(instants.begin(), instants.end());
    EXPECT_GT(std::unique(instants.begin(), instants.end()) - instants.begin(), names * 99 / 100);
}

TEST(DnsPolicy, OneNameKeepsItsPlaceInTheSpread) {
    const PolicyConfig c;
    NameState a;
    NameState b;
    a.spread_key = b.spread_key = stable_hash("api.example.com");
    apply_answer(a, ok({a4(1)}, 30), 10 * s_ns, c);
    apply_answer(b, ok({a4(1)}, 30), 10 * s_ns, c);
    EXPECT_EQ(a.next_refresh_ns, b.next_refresh_ns);
    const std::uint64_t early_ns = 40 * s_ns - a.next_refresh_ns;
    apply_answer(a, ok({a4(1)}, 30), 50 * s_ns, c);
    EXPECT_EQ(80 * s_ns - a.next_refresh_ns, early_ns);
}

TEST(DnsPolicy, SpreadNeverGoesUnderTheTtlFloorAndIsBounded) {
    const PolicyConfig c;
    for (std::uint64_t key = 0; key < 200; ++key) {
        EXPECT_EQ(refresh_spread_ns(Outcome::Ok, c.ttl_floor_ns, key, c), 0u);
        EXPECT_LE(refresh_spread_ns(Outcome::Ok, c.ttl_floor_ns + s_ns / 20, key, c), s_ns / 20);
        EXPECT_LE(refresh_spread_ns(Outcome::Ok, c.ttl_ceiling_ns, key, c),
                  c.refresh_spread_max_ns);
        EXPECT_LE(refresh_spread_ns(Outcome::Timeout, c.retry_ns, key, c), c.retry_ns / 10);
    }
}

}  // namespace
}  // namespace ringprobe::dns
