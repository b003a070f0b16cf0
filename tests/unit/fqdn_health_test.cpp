// Pins name_health() in src/engine/health.cpp: how an FQDN target's row combines the health of
// the addresses its name resolves to. A table of cases, each a name's answer, the aggregation
// rule (all / any), the address slots (active or not, their health and last reason) and the
// address whose probe just ended, states the row's health, reason, which address's facts the
// row shows and the counts behind the detail. Plain values in and out: no worker, no network.
#include <gtest/gtest.h>

#include <vector>

#include "engine/health.hpp"

namespace ringprobe::engine {
namespace {

constexpr Health U = Health::Unknown;
constexpr Health H = Health::Healthy;
constexpr Health D = Health::Unhealthy;
constexpr int none = no_address;

AddressHealth up() {
    return {true, H, Reason::Ok};
}
AddressHealth down(Reason r = Reason::ConnectRefused) {
    return {true, D, r};
}
AddressHealth unknown() {
    return {true, U, Reason::Pending};
}
AddressHealth empty() {
    return {false, U, Reason::Pending};
}
// A slot whose address left the answer; its last verdict must not count.
AddressHealth gone(Health h) {
    return {false, h, h == D ? Reason::ResponseTimeout : Reason::Ok};
}

struct Case {
    const char* name;
    NameInput in;
    std::vector<AddressHealth> addresses;
    Health health;
    Reason reason;
    int decider;
    std::uint32_t count, healthy, unhealthy;
    int first_unhealthy;
};

NameInput answer(bool all, int latest) {
    return NameInput{NameAnswer::Addresses, U, Reason::Pending, all, latest};
}

TEST(FqdnHealth, AddressesCombineByTheAggregationRule) {
    const std::vector<Case> cases = {
        {"pending name: unknown, shows the probe that ended",
         {NameAnswer::Pending, U, Reason::Pending, true, 1},
         {up(), up()},
         U,
         Reason::Pending,
         1,
         0,
         0,
         0,
         none},
        {"pending name after a dns change shows nothing",
         {NameAnswer::Pending, U, Reason::Pending, true, none},
         {up()},
         U,
         Reason::Pending,
         none,
         0,
         0,
         0,
         none},
        {"nothing to probe: the dns verdict stands, no address shown",
         {NameAnswer::Nothing, D, Reason::DnsNoAddress, true, 0},
         {up(), up()},
         D,
         Reason::DnsNoAddress,
         none,
         0,
         0,
         0,
         none},
        {"no active address: unknown while addresses are swapped in",
         answer(true, 0),
         {empty(), gone(D), gone(H)},
         U,
         Reason::Pending,
         0,
         0,
         0,
         0,
         none},
        {"all: every address healthy is healthy, shows the latest",
         answer(true, 1),
         {up(), up(), empty()},
         H,
         Reason::Ok,
         1,
         2,
         2,
         0,
         none},
        {"all: one unhealthy address makes the row unhealthy with its reason",
         answer(true, 0),
         {up(), down(Reason::StatusMismatch), up()},
         D,
         Reason::StatusMismatch,
         1,
         3,
         2,
         1,
         1},
        {"all: the first unhealthy address decides",
         answer(true, 2),
         {up(), down(Reason::ConnectTimeout), down(Reason::ConnectRefused)},
         D,
         Reason::ConnectTimeout,
         1,
         3,
         1,
         2,
         1},
        {"all: an unknown address keeps the row unknown",
         answer(true, 0),
         {up(), unknown()},
         U,
         Reason::Pending,
         0,
         2,
         1,
         0,
         none},
        {"any: one healthy address is enough",
         answer(false, 0),
         {down(), up(), unknown()},
         H,
         Reason::Ok,
         0,
         3,
         1,
         1,
         0},
        {"any: the latest shown only while it is still in the answer",
         answer(false, 0),
         {gone(H), down(), up()},
         H,
         Reason::Ok,
         2,
         2,
         1,
         1,
         1},
        {"any: healthy with no latest shows the first healthy",
         answer(false, none),
         {unknown(), up(), up()},
         H,
         Reason::Ok,
         1,
         3,
         2,
         0,
         none},
        {"any: unhealthy only when every address is",
         answer(false, 0),
         {down(Reason::ResponseTimeout), down(Reason::StatusMismatch)},
         D,
         Reason::ResponseTimeout,
         0,
         2,
         0,
         2,
         0},
        {"any: unhealthy and unknown addresses leave the row unknown",
         answer(false, 1),
         {down(), unknown()},
         U,
         Reason::Pending,
         1,
         2,
         0,
         1,
         0},
        {"inactive slots never count, whatever their last verdict",
         answer(true, 2),
         {gone(D), empty(), up()},
         H,
         Reason::Ok,
         2,
         1,
         1,
         0,
         none},
    };
    for (const Case& c : cases) {
        const NameHealth h = name_health(c.in, c.addresses);
        EXPECT_EQ(h.health, c.health) << c.name;
        EXPECT_EQ(h.reason, c.reason) << c.name;
        EXPECT_EQ(h.decider, c.decider) << c.name;
        EXPECT_EQ(h.count, c.count) << c.name;
        EXPECT_EQ(h.healthy, c.healthy) << c.name;
        EXPECT_EQ(h.unhealthy, c.unhealthy) << c.name;
        EXPECT_EQ(h.first_unhealthy, c.first_unhealthy) << c.name;
    }
}

TEST(FqdnHealth, AnyAndAllAgreeWhenEveryAddressAgrees) {
    const std::vector<AddressHealth> healthy = {up(), up(), up()};
    const std::vector<AddressHealth> unhealthy = {down(), down(), down()};
    for (bool all : {true, false}) {
        EXPECT_EQ(name_health(answer(all, 0), healthy).health, H);
        EXPECT_EQ(name_health(answer(all, 0), unhealthy).health, D);
    }
}

}  // namespace
}  // namespace ringprobe::engine
