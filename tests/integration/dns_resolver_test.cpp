// Pins src/dns/resolver.cpp against a real DNS server: each test starts its own dnsmasq on
// 127.0.0.2:<free port> answering from a hosts file the test rewrites (SIGHUP reloads it), with
// TTL 1 s, and points the resolver at it (the engine's --dns-server). It proves that a changed
// A record is seen within TTL + one refresh and reaches the subscribed worker's queue, that an
// unknown name is NXDOMAIN and a name with no address is no-data from the start, that a server
// that stops answering (SIGSTOP) gives a timeout while the last good addresses are kept with
// their age, that removing all addresses ends in DnsNoAddress, and that a name with several
// addresses returns all of them, IPv4 first. Waits are bounded polls of the resolver's table.
// "localhost" and the names under it resolve to loopback without asking a server or reading
// /etc/hosts (RFC 6761), with and without an override, that names watched and unwatched while
// the resolver runs start and stop being looked up, and a worker's poll() is shown to
// allocate nothing (operator new is counted on the polling thread only).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "dns/resolver.hpp"
#include "support/dnsmasq_process.hpp"

// Counts heap allocations made by the thread that sets t_counting (the worker under test).
namespace {
thread_local bool t_counting = false;
std::atomic<std::uint64_t> g_allocations{0};
}  // namespace

// GCC cannot see that this operator new is malloc, so it flags the free() below; it is not.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
    if (t_counting) {
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    }
    return std::malloc(n == 0 ? 1 : n);  // the tests never run out of memory
}
void* operator new[](std::size_t n) {
    return operator new(n);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
#pragma GCC diagnostic pop

namespace ringprobe::dns {
namespace {

using std::chrono::milliseconds;
using test::DnsmasqProcess;

constexpr std::uint64_t ms_ns = 1'000'000ull;

ResolverOptions options_for(const DnsmasqProcess& dns, std::size_t workers = 1) {
    ResolverOptions o;
    o.server = dns.server();
    o.timeout_ms = 200;  // a stopped server is a timeout after 200 + 400 ms (c-ares doubles)
    o.tries = 2;
    o.workers = workers;
    o.policy.negative_ns = 1000 * ms_ns;  // shorter than the 5 s default to keep tests quick
    o.policy.retry_ns = 500 * ms_ns;
    return o;
}

// Polls the table every 5 ms until pred holds or the bound passes; returns the last state.
NameState wait_for(const Resolver& r, NameId id, const std::function<bool(const NameState&)>& pred,
                   milliseconds bound = milliseconds(10000)) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    NameState s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (r.read(id, s) && pred(s)) {
            return s;
        }
        std::this_thread::sleep_for(milliseconds(5));
    }
    return s;
}

bool has(const NameState& s, const char* text) {
    return s.addresses.contains(Address::parse(text));
}

Standing standing_now(const NameState& s) {
    return verdict(s, monotonic_ns()).standing;
}

class DnsResolver : public ::testing::Test {
protected:
    DnsmasqProcess start_dns(std::string_view hosts, test::DnsmasqOptions o = {}) {
        auto dns = DnsmasqProcess::start(hosts, std::move(o));
        if (!dns) {
            ADD_FAILURE() << dns.error().message;
            std::abort();
        }
        return std::move(*dns);
    }
};

TEST_F(DnsResolver, NameWithSeveralAddressesReturnsAllIpv4First) {
    auto dns = start_dns("fd00::12 two.test\n127.0.0.12 two.test\n127.0.0.11 two.test\n");
    Resolver r(options_for(dns));
    const NameId id = r.watch("two.test", 0);
    ASSERT_TRUE(r.start());
    const NameState s = wait_for(r, id, [](const NameState& x) { return x.lookups > 0; });
    ASSERT_EQ(s.last_outcome, Outcome::Ok);
    ASSERT_EQ(s.addresses.count, 3u);
    EXPECT_EQ(s.addresses.items[0], Address::parse("127.0.0.11"));
    EXPECT_EQ(s.addresses.items[1], Address::parse("127.0.0.12"));
    EXPECT_EQ(s.addresses.items[2], Address::parse("fd00::12"));
    EXPECT_EQ(s.ttl_s, 1u);
}

TEST_F(DnsResolver, ChangedARecordIsSeenWithinTtlPlusOneRefresh) {
    auto dns = start_dns("127.0.0.10 a.test\n");
    Resolver r(options_for(dns));
    const NameId id = r.watch("a.test", 0);
    ASSERT_TRUE(r.start());
    NameState s = wait_for(r, id, [](const NameState& x) { return x.ever_resolved != 0; });
    ASSERT_TRUE(has(s, "127.0.0.10"));
    std::size_t notices = r.poll(0, [](NameId, const NameState&) {});
    EXPECT_EQ(notices, 1u);

    ASSERT_TRUE(dns.set_hosts("127.0.0.20 a.test\n"));
    const auto changed_at = std::chrono::steady_clock::now();
    s = wait_for(r, id, [](const NameState& x) { return has(x, "127.0.0.20"); });
    const auto seen_after = std::chrono::steady_clock::now() - changed_at;
    ASSERT_TRUE(has(s, "127.0.0.20"));
    EXPECT_FALSE(has(s, "127.0.0.10"));  // the old address leaves
    EXPECT_EQ(s.addresses.count, 1u);
    EXPECT_EQ(s.generation, 2u);
    // TTL 1 s (the floor too) + one lookup: well under 2 s, measured ~1 s.
    EXPECT_LT(seen_after, milliseconds(2000));
    std::cout << "new address seen after "
              << std::chrono::duration_cast<milliseconds>(seen_after).count() << " ms\n";

    NameState delivered;
    notices = r.poll(0, [&](NameId got, const NameState& x) {
        EXPECT_EQ(got, id);
        delivered = x;
    });
    EXPECT_EQ(notices, 1u);
    EXPECT_TRUE(has(delivered, "127.0.0.20"));
}

TEST_F(DnsResolver, UnknownNameAtStartIsNxdomainAndUnhealthy) {
    auto dns = start_dns("127.0.0.10 a.test\n");
    Resolver r(options_for(dns));
    const NameId id = r.watch("missing.test", 0);
    ASSERT_TRUE(r.start());
    const NameState s = wait_for(r, id, [](const NameState& x) { return x.lookups > 0; });
    EXPECT_EQ(s.last_outcome, Outcome::Nxdomain);
    const Verdict v = verdict(s, monotonic_ns());
    EXPECT_EQ(v.standing, Standing::NeverResolved);
    EXPECT_EQ(v.health, Health::Unhealthy);
    EXPECT_EQ(v.reason, Reason::DnsNxdomain);
}

TEST_F(DnsResolver, NameWithoutAddressRecordsIsNoData) {
    test::DnsmasqOptions o;
    o.extra_args = {"--txt-record=text.test,hello"};
    auto dns = start_dns("127.0.0.10 a.test\n", o);
    Resolver r(options_for(dns));
    const NameId id = r.watch("text.test", 0);
    ASSERT_TRUE(r.start());
    const NameState s = wait_for(r, id, [](const NameState& x) { return x.lookups > 0; });
    EXPECT_EQ(s.last_outcome, Outcome::NoData);
    EXPECT_EQ(verdict(s, monotonic_ns()).reason, Reason::DnsNoData);
}

TEST_F(DnsResolver, StoppedServerTimesOutAndLastGoodAddressesAreKeptWithTheirAge) {
    auto dns = start_dns("127.0.0.10 a.test\n");
    Resolver r(options_for(dns));
    const NameId id = r.watch("a.test", 0);
    ASSERT_TRUE(r.start());
    NameState s = wait_for(r, id, [](const NameState& x) { return x.ever_resolved != 0; });
    ASSERT_EQ(s.last_outcome, Outcome::Ok);

    ASSERT_TRUE(dns.signal(SIGSTOP));
    s = wait_for(r, id, [](const NameState& x) { return x.last_outcome == Outcome::Timeout; });
    ASSERT_EQ(s.last_outcome, Outcome::Timeout);
    const Verdict v = verdict(s, monotonic_ns());
    EXPECT_EQ(v.standing, Standing::Stale);
    EXPECT_EQ(v.reason, Reason::DnsTimeout);
    EXPECT_TRUE(has(s, "127.0.0.10"));
    EXPECT_GE(v.age_ns, 500 * ms_ns);  // at least the c-ares timeouts since the good answer
    std::cout << "stale after timeout, last good answer " << v.age_ns / ms_ns << " ms old\n";

    ASSERT_TRUE(dns.signal(SIGCONT));
    s = wait_for(r, id, [](const NameState& x) { return x.last_outcome == Outcome::Ok; });
    EXPECT_EQ(standing_now(s), Standing::Fresh);
}

TEST_F(DnsResolver, RemovingAllAddressesEndsInNoAddress) {
    auto dns = start_dns("127.0.0.10 a.test\n127.0.0.11 b.test\n");
    Resolver r(options_for(dns));
    const NameId id = r.watch("a.test", 0);
    ASSERT_TRUE(r.start());
    NameState s = wait_for(r, id, [](const NameState& x) { return x.ever_resolved != 0; });
    ASSERT_EQ(s.addresses.count, 1u);

    ASSERT_TRUE(dns.set_hosts("127.0.0.11 b.test\n"));
    s = wait_for(r, id, [](const NameState& x) { return x.addresses.count == 0; });
    ASSERT_EQ(s.addresses.count, 0u);
    EXPECT_EQ(s.last_outcome, Outcome::Nxdomain);
    const Verdict v = verdict(s, monotonic_ns());
    EXPECT_EQ(v.standing, Standing::NoAddress);
    EXPECT_EQ(v.health, Health::Unknown);
    EXPECT_EQ(v.reason, Reason::DnsNoAddress);
}

TEST_F(DnsResolver, SameNameFromTwoWorkersIsOneLookupAndTwoNotices) {
    auto dns = start_dns("127.0.0.10 a.test\n");
    Resolver r(options_for(dns, 2));
    const NameId a = r.watch("a.test", 0);
    const NameId b = r.watch("A.TEST.", 1);
    EXPECT_EQ(a, b);
    ASSERT_TRUE(r.start());
    wait_for(r, a, [](const NameState& x) { return x.ever_resolved != 0; });
    EXPECT_EQ(r.poll(0, [](NameId, const NameState&) {}), 1u);
    EXPECT_EQ(r.poll(1, [](NameId, const NameState&) {}), 1u);
}

TEST_F(DnsResolver, WorkerPollAllocatesNothing) {
    auto dns = start_dns("127.0.0.10 a.test\n127.0.0.10 b.test\n");
    Resolver r(options_for(dns));
    const NameId a = r.watch("a.test", 0);
    const NameId b = r.watch("b.test", 0);
    ASSERT_TRUE(r.start());
    wait_for(r, a, [](const NameState& x) { return x.ever_resolved != 0; });
    wait_for(r, b, [](const NameState& x) { return x.ever_resolved != 0; });
    std::uint32_t seen = 0;
    NameState s;
    t_counting = true;
    const std::uint64_t before = g_allocations.load();
    const std::size_t delivered =
        r.poll(0, [&](NameId, const NameState& x) { seen += x.addresses.count; });
    const bool read_ok = r.read(a, s);
    const std::uint64_t after = g_allocations.load();
    t_counting = false;
    EXPECT_EQ(delivered, 2u);
    EXPECT_EQ(seen, 2u);
    EXPECT_TRUE(read_ok);
    EXPECT_EQ(after - before, 0u);
}

// With TTL 1 s a name is looked up about once a second; refresh_all() adds one lookup now and
// must not start a second refresh chain (which would double the rate from then on).
TEST_F(DnsResolver, RefreshAllAddsOneLookupNotASecondChain) {
    auto dns = start_dns("127.0.0.10 a.test\n");
    Resolver r(options_for(dns));
    const NameId id = r.watch("a.test", 0);
    ASSERT_TRUE(r.start());
    wait_for(r, id, [](const NameState& x) { return x.lookups == 1; });
    r.refresh_all();
    wait_for(r, id, [](const NameState& x) { return x.lookups == 2; });
    std::this_thread::sleep_for(milliseconds(3500));
    // One chain: lookups at +1, +2, +3 s after the refresh (5 in all, 6 with slack).
    // Two chains would add three more.
    EXPECT_LE(r.stats().lookups_started, 6u);
    EXPECT_GE(r.stats().lookups_started, 4u);
}

// A name watched while the thread runs is looked up at once and its answer reaches the
// worker's poll(); once unwatched it is not looked up again (TTL 1 s: a watched name is asked
// about once a second), while the name still watched goes on being asked.
TEST_F(DnsResolver, NamesWatchedAndUnwatchedWhileRunning) {
    auto dns = start_dns("127.0.0.10 a.test\n127.0.0.11 b.test\n");
    Resolver r(options_for(dns, 2));
    const NameId a = r.watch("a.test", 0);
    ASSERT_TRUE(r.start());
    wait_for(r, a, [](const NameState& x) { return x.lookups >= 1; });
    const NameId b = r.watch("b.test", 1);
    EXPECT_NE(a, b);
    EXPECT_EQ(r.name(b), "b.test");
    EXPECT_EQ(r.name_count(), 2u);
    const NameState sb = wait_for(r, b, [](const NameState& x) { return x.lookups >= 1; });
    EXPECT_TRUE(has(sb, "127.0.0.11"));
    std::size_t heard = 0;
    for (int i = 0; i < 200 && heard == 0; ++i) {
        r.poll(1, [&](NameId id, const NameState&) { heard += id == b ? 1 : 0; });
        std::this_thread::sleep_for(milliseconds(5));
    }
    EXPECT_EQ(heard, 1u);
    // A second worker joining a name already resolved hears of it without a new answer.
    r.watch(a, 1);
    heard = 0;
    for (int i = 0; i < 200 && heard == 0; ++i) {
        r.poll(1, [&](NameId id, const NameState&) { heard += id == a ? 1 : 0; });
        std::this_thread::sleep_for(milliseconds(5));
    }
    EXPECT_GE(heard, 1u);

    r.unwatch(b, 1);
    EXPECT_EQ(r.name_count(), 1u);
    r.unwatch(a, 1);
    EXPECT_EQ(r.name_count(), 1u);                  // worker 0 still watches a.test
    std::this_thread::sleep_for(milliseconds(50));  // a lookup of b.test already out ends
    NameState before_b;
    NameState before_a;
    ASSERT_TRUE(r.read(b, before_b));
    ASSERT_TRUE(r.read(a, before_a));
    std::this_thread::sleep_for(milliseconds(2500));
    NameState after_b;
    NameState after_a;
    ASSERT_TRUE(r.read(b, after_b));
    ASSERT_TRUE(r.read(a, after_a));
    EXPECT_LE(after_b.lookups, before_b.lookups + 1);  // at most one already out
    EXPECT_GE(after_a.lookups, before_a.lookups + 2);

    // Watched again: the same id, looked up again.
    EXPECT_EQ(r.watch("B.test.", 0), b);
    wait_for(r, b, [&](const NameState& x) { return x.lookups > after_b.lookups; });
    ASSERT_TRUE(r.read(b, after_b));
    EXPECT_GT(after_b.lookups, before_b.lookups);
}

TEST_F(DnsResolver, BadServerOverrideIsAStartError) {
    ResolverOptions o;
    o.server = "not an address";
    Resolver r(o);
    r.watch("a.test", 0);
    const auto started = r.start();
    ASSERT_FALSE(started);
    EXPECT_NE(started.error().message.find("--dns-server"), std::string::npos);
}

TEST(DnsResolverHosts, LocalhostResolvesWithoutAnOverride) {
    ResolverOptions o;
    o.family = Family::V4;
    Resolver r(o);
    const NameId id = r.watch("localhost", 0);
    ASSERT_TRUE(r.start());
    const NameState s = wait_for(r, id, [](const NameState& x) { return x.lookups > 0; });
    ASSERT_EQ(s.last_outcome, Outcome::Ok);
    EXPECT_TRUE(has(s, "127.0.0.1"));
}

// RFC 6761: localhost and the names under it are loopback, answered by the resolver itself. The
// only server is a loopback socket that never answers (so /etc/hosts is not read either, as with
// --dns-server): the localhost names resolve at once, while a name that merely contains
// "localhost" is asked and times out, and no question about a localhost name reaches the socket.
TEST(DnsResolverHosts, LocalhostIsLoopbackWithoutAskingAServer) {
    const int silent = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(silent, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len), 0);
    struct Close {
        int fd;
        ~Close() { ::close(fd); }
    } close_silent{silent};
    const std::string server = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));

    ResolverOptions o;
    o.server = server;
    o.timeout_ms = 200;
    o.tries = 1;
    o.family = Family::V4;
    Resolver r(o);
    const NameId plain = r.watch("localhost", 0);
    const NameId under = r.watch("API.Localhost.", 0);
    const NameId not_local = r.watch("localhost.example", 0);
    ASSERT_TRUE(r.start());
    for (NameId id : {plain, under}) {
        const NameState s = wait_for(r, id, [](const NameState& x) { return x.lookups > 0; });
        EXPECT_EQ(s.last_outcome, Outcome::Ok) << id;
        EXPECT_TRUE(has(s, "127.0.0.1")) << id;
        EXPECT_EQ(s.addresses.count, 1u) << id;
    }
    const NameState other =
        wait_for(r, not_local, [](const NameState& x) { return x.lookups > 0; });
    EXPECT_EQ(other.last_outcome, Outcome::Timeout);
    r.stop();
    std::size_t questions = 0;
    char buf[512];
    for (ssize_t n; (n = ::recv(silent, buf, sizeof buf, 0)) > 0; ++questions) {
        // Every question is for localhost.example: its labels are 9"localhost" 7"example".
        EXPECT_NE(std::string(buf, static_cast<std::size_t>(n))
                      .find("\x09localhost\x07"
                            "example"),
                  std::string::npos);
    }
    EXPECT_GE(questions, 1u) << "the silent server was never asked: the test proves nothing";

    ResolverOptions both = o;
    both.family = Family::Any;
    Resolver r6(both);
    const NameId id6 = r6.watch("localhost", 0);
    ASSERT_TRUE(r6.start());
    const NameState s6 = wait_for(r6, id6, [](const NameState& x) { return x.lookups > 0; });
    EXPECT_EQ(s6.last_outcome, Outcome::Ok);
    EXPECT_TRUE(has(s6, "127.0.0.1"));
    EXPECT_TRUE(has(s6, "::1"));
}

// Two worker threads poll while the resolver rewrites the table: every worker ends with the
// final answer, and ThreadSanitizer (suite 'threads') sees no race on the seqlock or queues.
TEST(DnsResolverThreads, WorkersPollWhileTheResolverPublishes) {
    auto dns = DnsmasqProcess::start("127.0.0.10 a.test\n127.0.0.10 b.test\n");
    ASSERT_TRUE(dns) << dns.error().message;
    Resolver r(options_for(*dns, 2));
    const NameId a = r.watch("a.test", 0);
    const NameId b = r.watch("b.test", 1);
    r.watch("a.test", 1);
    ASSERT_TRUE(r.start());
    std::atomic<bool> done{false};
    std::vector<std::thread> workers;
    std::array<std::array<Address, 2>, 2> last{};
    for (std::size_t w = 0; w < 2; ++w) {
        workers.emplace_back([&, w] {
            while (!done.load(std::memory_order_acquire)) {
                r.poll(w, [&](NameId id, const NameState& s) {
                    if (s.addresses.count > 0) {
                        last[w][id == a ? 0 : 1] = s.addresses.items[0];
                    }
                });
                std::this_thread::yield();
            }
        });
    }
    for (int round = 0; round < 3; ++round) {
        const std::string ip = "127.0.0." + std::to_string(20 + round);
        ASSERT_TRUE(dns->set_hosts(ip + " a.test\n" + ip + " b.test\n"));
        r.refresh_all();
        const Address want = Address::parse(ip);
        wait_for(r, a, [&](const NameState& x) { return x.addresses.contains(want); });
        wait_for(r, b, [&](const NameState& x) { return x.addresses.contains(want); });
    }
    // Let one more poll turn run so each worker has drained its notices.
    std::this_thread::sleep_for(milliseconds(50));
    done.store(true, std::memory_order_release);
    for (auto& t : workers) {
        t.join();
    }
    const Address final_address = Address::parse("127.0.0.22");
    EXPECT_EQ(last[0][0], final_address);  // worker 0 holds a.test
    EXPECT_EQ(last[1][0], final_address);  // worker 1 holds a.test and b.test
    EXPECT_EQ(last[1][1], final_address);
}

}  // namespace
}  // namespace ringprobe::dns
