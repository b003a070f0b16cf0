// Pins src/report/{image,writer,reader}.cpp: the segment a Writer builds from a Plan is the one
// the reader validates and copies back, field for field; a reload renames a new segment over the
// name and readers holding the old one notice; a stale heartbeat, a dead engine pid or a clean
// stop turn every server Unknown with a sentence saying why and how old the report is; and every
// kind of bad input (missing, truncated, wrong magic or version, counts, offsets and strings out
// of range, torn records) gives a clear error or an "unreadable this time", never a crash. The
// random-corruption test uses a seeded PRNG whose seed is printed on failure.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "report/image.hpp"
#include "report/reader.hpp"
#include "report/sentences.hpp"
#include "report/words.hpp"
#include "report/writer.hpp"
#include "support/report_test_plan.hpp"
#include "test_seed.hpp"

namespace ringprobe::report {
namespace {

namespace abi = report_abi;
using testing::sample_plan;
using testing::unique_name;

constexpr std::uint64_t kStart = 1'700'000'000'000'000'000ULL;
constexpr std::uint64_t kSecond = 1'000'000'000ULL;

bool always_alive(std::int32_t) {
    return true;
}

struct NameGuard {
    std::string name;
    ~NameGuard() { ::unlink(segment_path(name).c_str()); }
};

WriterOptions fixed_options() {
    WriterOptions o;
    o.engine_pid = ::getpid();
    o.start_unix_ns = kStart;
    o.worker_slots = 4;
    return o;
}

SnapshotOptions at(std::uint64_t now) {
    SnapshotOptions o;
    o.now_unix_ns = now;
    o.alive = &always_alive;
    return o;
}

TargetUpdate sample_update() {
    TargetUpdate u;
    u.health = Health::Unhealthy;
    u.reason = Reason::StatusMismatch;
    u.http_status = 503;
    u.sys_errno = 0;
    u.latency_us = 1234;
    u.dns_us = 11;
    u.connect_us = 222;
    u.tls_us = 333;
    u.first_byte_us = 999;
    u.last_probe_unix_ns = kStart + 5 * kSecond;
    u.last_change_unix_ns = kStart + 2 * kSecond;
    u.next_probe_unix_ns = kStart + 35 * kSecond;
    u.consecutive_ok = 0;
    u.consecutive_fail = 3;
    u.total_probes = 10;
    u.total_ok = 7;
    u.total_fail = 3;
    u.total_prober_errors = 1;
    u.detail = "resolved 10.0.0.4";
    return u;
}

TEST(ReportSegment, ReaderSeesTheStaticPartAsThePlanDefinesIt) {
    NameGuard g{unique_name("static")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w) << w.error().message;
    auto r = Report::open(g.name);
    ASSERT_TRUE(r) << r.error().message;
    const StaticInfo& info = r->info();
    EXPECT_EQ(info.gateway_name(), "contoso-gw");
    EXPECT_EQ(info.header.config_digest, 0x1234abcdULL);
    EXPECT_EQ(info.header.generation, 1u);
    ASSERT_EQ(info.pools.size(), 2u);
    EXPECT_EQ(info.str(info.pools[0].name), "web");
    EXPECT_EQ(info.pools[1].first_server, 3u);
    ASSERT_EQ(info.servers.size(), 4u);
    EXPECT_EQ(info.str(info.servers[2].address), "app.contoso.com");
    EXPECT_EQ(info.servers[2].is_fqdn, 1);
    ASSERT_EQ(info.rows.size(), 7u);
    EXPECT_EQ(info.rows[6].server_index, 3u);  // pool api's first server, global index
    ASSERT_EQ(info.targets.size(), 7u);
    EXPECT_EQ(info.str(info.targets[3].match_status), "200,301-302");
    EXPECT_EQ(info.str(info.targets[3].path), "/healthz");
    EXPECT_EQ(info.targets[3].port, 443);
    EXPECT_EQ(info.str(info.settings[1].probe_name), "health");
}

TEST(ReportSegment, SegmentFileIsMode0640) {
    NameGuard g{unique_name("mode")};
    const mode_t old = ::umask(077);
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ::umask(old);
    ASSERT_TRUE(w) << w.error().message;
    struct stat st {};
    ASSERT_EQ(::stat(segment_path(g.name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(ReportSegment, BeforeAnyProbeEveryTargetIsUnknownPending) {
    NameGuard g{unique_name("pending")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    w->heartbeat(kStart);
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    Snapshot s = r->snapshot(at(kStart + kSecond));
    EXPECT_EQ(s.engine, EngineState::Live);
    for (std::uint32_t t = 0; t < 7; ++t) {
        EXPECT_EQ(effective(s, t).health, Health::Unknown);
        EXPECT_EQ(effective(s, t).reason, Reason::Pending);
    }
}

TEST(ReportSegment, PublishedUpdateReadsBackFieldForField) {
    NameGuard g{unique_name("roundtrip")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    const TargetUpdate u = sample_update();
    w->publish(4, u);
    w->heartbeat(kStart + 5 * kSecond);
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    Snapshot s = r->snapshot(at(kStart + 6 * kSecond));
    ASSERT_EQ(s.readable[4], 1);
    const abi::TargetStatePayload& p = s.states[4];
    EXPECT_EQ(p.health, static_cast<std::uint8_t>(Health::Unhealthy));
    EXPECT_EQ(p.reason, static_cast<std::uint16_t>(Reason::StatusMismatch));
    EXPECT_EQ(p.http_status, 503);
    EXPECT_EQ(p.latency_us, 1234u);
    EXPECT_EQ(p.dns_us, 11u);
    EXPECT_EQ(p.connect_us, 222u);
    EXPECT_EQ(p.tls_us, 333u);
    EXPECT_EQ(p.first_byte_us, 999u);
    EXPECT_EQ(p.last_probe_unix_ns, u.last_probe_unix_ns);
    EXPECT_EQ(p.last_change_unix_ns, u.last_change_unix_ns);
    EXPECT_EQ(p.next_probe_unix_ns, u.next_probe_unix_ns);
    EXPECT_EQ(p.consecutive_fail, 3u);
    EXPECT_EQ(p.total_probes, 10u);
    EXPECT_EQ(p.total_ok, 7u);
    EXPECT_EQ(p.total_fail, 3u);
    EXPECT_EQ(p.total_prober_errors, 1u);
    EXPECT_EQ(std::string_view(p.detail, p.detail_len), "resolved 10.0.0.4");
    EXPECT_EQ(s.heartbeat_unix_ns, kStart + 5 * kSecond);
    // Other targets are untouched.
    EXPECT_EQ(s.states[3].reason, static_cast<std::uint16_t>(Reason::Pending));
}

TEST(ReportSegment, NegativeErrnoAndShorterDetailLeaveNoResidue) {
    NameGuard g{unique_name("residue")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    TargetUpdate u = sample_update();
    u.detail = "a long first detail that is later replaced";
    w->publish(0, u);
    u.detail = "short";
    u.sys_errno = -111;
    w->publish(0, u);
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    Snapshot s = r->snapshot(at(kStart));
    EXPECT_EQ(std::string_view(s.states[0].detail, s.states[0].detail_len), "short");
    EXPECT_EQ(s.states[0].detail[5], '\0');  // the reader zeroes past detail_len
    EXPECT_EQ(s.states[0].sys_errno, -111);
}

TEST(ReportSegment, DetailIsCutToTheAreaAtACharacterBoundary) {
    NameGuard g{unique_name("detail")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    std::string d(abi::kDetailBytes - 1, 'x');
    d += "\xC3\xA9tail";  // a two-byte character straddles the 256-byte boundary
    TargetUpdate u = sample_update();
    u.detail = d;
    w->publish(1, u);
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    Snapshot s = r->snapshot(at(kStart));
    EXPECT_EQ(s.states[1].detail_len, abi::kDetailBytes - 1);
}

TEST(ReportSegment, WorkerStatsRoundTrip) {
    NameGuard g{unique_name("workers")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    WorkerStats ws{};
    ws.probes_started = 100;
    ws.no_fds = 2;
    ws.lateness_us_max = 777;
    w->publish_worker_stats(3, ws);
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    Snapshot s = r->snapshot(at(kStart));
    ASSERT_EQ(s.workers.size(), 4u);
    EXPECT_EQ(s.workers[3].probes_started, 100u);
    EXPECT_EQ(s.workers[3].no_fds, 2u);
    EXPECT_EQ(s.workers[3].lateness_us_max, 777u);
    EXPECT_EQ(s.workers[0].probes_started, 0u);
}

TEST(ReportSegment, DnsAndTlsSlotsFollowTheTargetsInOrder) {
    NameGuard g{unique_name("slots")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    // Targets 2 and 5 are app.contoso.com (FQDN); 3, 4 and 5 are Https.
    const std::uint32_t name_slots[] = {
        abi::kNoSlot, abi::kNoSlot, 0, abi::kNoSlot, abi::kNoSlot, 1, abi::kNoSlot};
    const std::uint32_t tls_slots[] = {abi::kNoSlot, abi::kNoSlot, abi::kNoSlot, 0, 1, 2,
                                       abi::kNoSlot};
    for (std::uint32_t t = 0; t < 7; ++t) {
        EXPECT_EQ(w->name_slot(t), name_slots[t]) << "target " << t;
        EXPECT_EQ(w->tls_slot(t), tls_slots[t]) << "target " << t;
    }
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->info().names, 2u);
    EXPECT_EQ(r->info().tls, 3u);
    EXPECT_EQ(r->info().targets[3].expiry_warning_days, 14u);
    EXPECT_EQ(r->info().targets[0].expiry_warning_days, 0u);
    Snapshot s = r->snapshot(at(kStart));
    ASSERT_EQ(s.names.size(), 2u);
    ASSERT_EQ(s.addresses.size(), 2u * abi::kAddressesPerName);
    ASSERT_EQ(s.tls.size(), 3u);
    EXPECT_EQ(s.names[1].standing, 0u);  // pending until the engine publishes
    EXPECT_EQ(s.addresses[5].family, 0u);
    EXPECT_EQ(s.tls[2].captured_unix_ns, 0u);
}

TEST(ReportSegment, NameAddressTlsAndResolverRecordsRoundTrip) {
    NameGuard g{unique_name("layout2")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    NameUpdate n{};
    n.standing = 2;
    n.last_outcome = 5;
    n.address_count = 2;
    n.ttl_s = 30;
    n.last_good_unix_ns = kStart - 40 * kSecond;
    n.generation = 3;
    w->publish_name(1, n);
    AddressUpdate a{};
    a.family = 6;
    a.health = static_cast<std::uint8_t>(Health::Unhealthy);
    a.reason = static_cast<std::uint16_t>(Reason::ConnectRefused);
    a.address[15] = 1;  // ::1
    a.sys_errno = 111;
    a.total_probes = 9;
    w->publish_address(1, 15, a);
    TlsFacts f{};
    f.captured_unix_ns = kStart;
    f.presented = 3;
    f.chain_count = 3;
    f.handshake_ok = 1;
    std::strcpy(f.protocol, "TLSv1.3");
    std::strcpy(f.chain[0].subject, "CN=app.contoso.com");
    f.chain[2].not_after_s = 1'900'000'000;
    f.chain[1].sha256[31] = 0xab;
    w->publish_tls_facts(2, f);
    ResolverStats rs{};
    rs.names = 2;
    rs.by_outcome[2] = 7;
    w->publish_resolver_stats(rs);
    WorkerStats ws{};
    ws.tls_full = 4;
    ws.tls_resumed = 40;
    w->publish_worker_stats(0, ws);

    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    Snapshot s = r->snapshot(at(kStart));
    EXPECT_EQ(s.names[1].standing, 2u);
    EXPECT_EQ(s.names[1].last_outcome, 5u);
    EXPECT_EQ(s.names[1].ttl_s, 30u);
    EXPECT_EQ(s.names[1].last_good_unix_ns, kStart - 40 * kSecond);
    EXPECT_EQ(s.names[0].generation, 0u);
    const abi::AddressStatePayload& got = s.addresses[abi::kAddressesPerName + 15];
    EXPECT_EQ(got.family, 6u);
    EXPECT_EQ(got.reason, static_cast<std::uint16_t>(Reason::ConnectRefused));
    EXPECT_EQ(got.address[15], 1u);
    EXPECT_EQ(got.sys_errno, 111);
    EXPECT_EQ(got.total_probes, 9u);
    EXPECT_EQ(s.addresses[abi::kAddressesPerName + 14].family, 0u);
    EXPECT_STREQ(s.tls[2].protocol, "TLSv1.3");
    EXPECT_STREQ(s.tls[2].chain[0].subject, "CN=app.contoso.com");
    EXPECT_EQ(s.tls[2].chain[2].not_after_s, 1'900'000'000);
    EXPECT_EQ(s.tls[2].chain[1].sha256[31], 0xabu);
    EXPECT_EQ(s.tls[0].captured_unix_ns, 0u);
    EXPECT_EQ(s.resolver.names, 2u);
    EXPECT_EQ(s.resolver.by_outcome[2], 7u);
    EXPECT_EQ(s.workers[0].tls_full, 4u);
    EXPECT_EQ(s.workers[0].tls_resumed, 40u);

    SnapshotOptions lean = at(kStart);
    lean.dns = false;
    lean.tls_facts = false;
    Snapshot l = r->snapshot(lean);
    EXPECT_TRUE(l.names.empty());
    EXPECT_TRUE(l.tls.empty());
}

TEST(ReportSegment, HostileTlsTextAndBadEnumsNeverEscapeTheirRecords) {
    NameGuard g{unique_name("hostile2")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    TlsFacts f{};
    f.chain_count = 2;
    std::memset(f.cipher, 'A', sizeof f.cipher);  // no terminator
    std::memset(f.chain[3].sans, 'B', sizeof f.chain[3].sans);
    w->publish_tls_facts(0, f);
    AddressUpdate a{};
    a.family = 5;  // neither 4 nor 6
    w->publish_address(0, 0, a);
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    Snapshot s = r->snapshot(at(kStart));
    EXPECT_EQ(std::strlen(s.tls[0].cipher), sizeof f.cipher - 1);
    EXPECT_EQ(std::strlen(s.tls[0].chain[3].sans), sizeof f.chain[3].sans - 1);
    EXPECT_EQ(s.addresses[0].family, 0u);  // refused, left zero
}

TEST(ReportSegment, ReloadRenamesANewSegmentAndOldReadersNotice) {
    NameGuard g{unique_name("reload")};
    auto w1 = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w1);
    auto r1 = Report::open(g.name);
    ASSERT_TRUE(r1);
    EXPECT_FALSE(r1->superseded());

    Plan p2 = sample_plan();
    p2.gateway_name = "contoso-gw-v2";
    auto w2 = Writer::create(p2, g.name, fixed_options());
    ASSERT_TRUE(w2) << w2.error().message;
    EXPECT_EQ(w2->generation(), 2u);
    EXPECT_TRUE(r1->superseded());
    EXPECT_EQ(r1->info().gateway_name(), "contoso-gw");  // the old mapping stays whole

    auto r2 = Report::open(g.name);
    ASSERT_TRUE(r2);
    EXPECT_FALSE(r2->superseded());
    EXPECT_EQ(r2->info().gateway_name(), "contoso-gw-v2");
    EXPECT_EQ(r2->info().header.generation, 2u);

    // The old writer's unlink must not remove the new segment's name.
    w1->unlink();
    EXPECT_TRUE(Report::open(g.name).has_value());
    w2->unlink();
    auto gone = Report::open(g.name);
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().kind, ReadErrorKind::NotFound);
}

TEST(ReportSegment, ReaderNoticesRenameEvenWithoutTheFlag) {
    // A newer segment written by something that does not flag the old one: the inode changes.
    NameGuard g{unique_name("inode")};
    auto w1 = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w1);
    auto r1 = Report::open(g.name);
    ASSERT_TRUE(r1);
    const std::string path = segment_path(g.name);
    ASSERT_EQ(::rename(path.c_str(), (path + ".moved").c_str()), 0);
    EXPECT_TRUE(r1->superseded());
    ::unlink((path + ".moved").c_str());
}

// The name can vanish under a reader (the engine stopped and swept it, or someone removed it):
// the mapping it holds stays readable, the reader learns the name is gone, and opening it again
// says no report is there and how to start one.
TEST(ReportSegment, NameThatVanishesWhileOpenIsNoticedAndReopeningSaysNotFound) {
    NameGuard g{unique_name("vanish")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    w->publish(3, sample_update());
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->superseded());
    ASSERT_EQ(::unlink(segment_path(g.name).c_str()), 0);

    EXPECT_TRUE(r->superseded());
    Snapshot s = r->snapshot(at(kStart + 6 * kSecond));
    EXPECT_EQ(s.readable[3], 1);
    EXPECT_EQ(s.states[3].http_status, 503);
    auto again = Report::open(g.name);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().kind, ReadErrorKind::NotFound);
    EXPECT_NE(again.error().message.find("is the engine running?"), std::string::npos)
        << again.error().message;
}

TEST(ReportSegment, StaleHeartbeatShowsEveryServerUnknownWithTheReportAge) {
    NameGuard g{unique_name("stale")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    TargetUpdate u = sample_update();
    u.health = Health::Healthy;
    u.reason = Reason::Ok;
    u.http_status = 200;
    w->publish(0, u);
    w->heartbeat(kStart);
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->snapshot(at(kStart + 3 * kSecond)).engine, EngineState::Live);  // 3 s: not yet
    Snapshot s = r->snapshot(at(kStart + 42 * kSecond));
    EXPECT_EQ(s.engine, EngineState::Stale);
    for (std::uint32_t t = 0; t < 7; ++t) {
        EXPECT_EQ(effective(s, t).health, Health::Unknown);
        EXPECT_EQ(effective(s, t).reason, Reason::EngineUnreachable);
    }
    std::string log;
    append_probe_log(log, s, 0);
    EXPECT_NE(log.find("could not be retrieved from the engine"), std::string::npos) << log;
    EXPECT_NE(log.find("42 s old"), std::string::npos) << log;
}

// tests/support/unique_name.hpp: the files a crashed test process left (its pid gone) are
// removed by the next one; a live process's files and names that are not a test's are kept.
TEST(ReportSegment, TestNamesOfADeadProcessAreSweptAtTheNextStart) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::_exit(0);
    }
    ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // reaped: the pid is gone
    const std::string dir = "/tmp/rp-sweep-" + std::to_string(::getpid());
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
    const std::string dead = "rp-test-x-y-" + std::to_string(child) + "-0";
    const std::string live = "rp-test-x-" + std::to_string(::getpid()) + "-3";
    const std::vector<std::string> files = {"ringprobe." + dead, "ringprobe-lock." + dead,
                                            "ringprobe." + live, "ringprobe.rp-test-x-",
                                            "ringprobe.gateway-" + std::to_string(child) + "-0"};
    for (const std::string& f : files) {
        ::close(::open((dir + "/" + f).c_str(), O_CREAT | O_WRONLY, 0600));
    }
    ringprobe::testing::detail::remove_dead_owners_segments(dir.c_str());
    std::vector<bool> left;
    for (const std::string& f : files) {
        struct stat st {};
        left.push_back(::stat((dir + "/" + f).c_str(), &st) == 0);
        ::unlink((dir + "/" + f).c_str());
    }
    ::rmdir(dir.c_str());
    EXPECT_EQ(left, (std::vector<bool>{false, false, true, true, true}));
}

TEST(ReportSegment, DeadEnginePidShowsUnknown) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: the pid is gone
    NameGuard g{unique_name("deadpid")};
    WriterOptions o = fixed_options();
    o.engine_pid = child;
    auto w = Writer::create(sample_plan(), g.name, o);
    ASSERT_TRUE(w);
    w->heartbeat(kStart);
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    SnapshotOptions so;
    so.now_unix_ns = kStart + kSecond;  // heartbeat fresh: only the pid says gone
    Snapshot s = r->snapshot(so);
    EXPECT_EQ(s.engine, EngineState::Gone);
    EXPECT_EQ(effective(s, 2).health, Health::Unknown);
    std::string log;
    append_probe_log(log, s, 2);
    EXPECT_NE(log.find("is gone"), std::string::npos) << log;
}

TEST(ReportSegment, CleanStopShowsUnknown) {
    NameGuard g{unique_name("stopped")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    w->heartbeat(kStart);
    w->mark_stopped(kStart);
    auto r = Report::open(g.name);
    ASSERT_TRUE(r);
    Snapshot s = r->snapshot(at(kStart + kSecond));
    EXPECT_EQ(s.engine, EngineState::Stopped);
    EXPECT_EQ(effective(s, 0).health, Health::Unknown);
}

TEST(ReportSegment, BadNamesAreRefusedWithAHint) {
    auto w = Writer::create(sample_plan(), "../etc/passwd", fixed_options());
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().message.find("may only contain"), std::string::npos);
    EXPECT_FALSE(Writer::create(sample_plan(), "", fixed_options()));
}

TEST(ReportSegment, PlanRowOutOfRangeIsAnError) {
    Plan p = sample_plan();
    p.rows[0].target_index = 99;
    NameGuard g{unique_name("badplan")};
    auto w = Writer::create(p, g.name, fixed_options());
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().message.find("row 0"), std::string::npos);
}

// --- bad input -------------------------------------------------------------------------------

TEST(ReportBadInput, MissingReportIsNotFoundAndSaysWhatToDo) {
    auto r = Report::open(unique_name("missing"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ReadErrorKind::NotFound);
    EXPECT_NE(r.error().message.find("is the engine running"), std::string::npos);
}

TEST(ReportBadInput, TruncatedFileIsUnreadable) {
    NameGuard g{unique_name("trunc")};
    auto w = Writer::create(sample_plan(), g.name, fixed_options());
    ASSERT_TRUE(w);
    const std::string path = segment_path(g.name);
    for (off_t size : {off_t{600}, off_t{100}, off_t{0}}) {
        ASSERT_EQ(::truncate(path.c_str(), size), 0);
        auto r = Report::open(g.name);
        ASSERT_FALSE(r) << size;
        EXPECT_EQ(r.error().kind, ReadErrorKind::Unreadable);
        EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
    }
}

class ImageTest : public ::testing::Test {
protected:
    void SetUp() override {
        ImageOptions o;
        o.start_unix_ns = kStart;
        o.worker_slots = 4;
        auto img = build_image_words(sample_plan(), o);
        ASSERT_TRUE(img);
        words_ = std::move(*img);
    }
    std::byte* bytes() { return reinterpret_cast<std::byte*>(words_.data()); }
    std::size_t size() const { return words_.size() * 8; }
    abi::SegmentHeader& header() { return *reinterpret_cast<abi::SegmentHeader*>(words_.data()); }
    abi::SectionRef& sec(abi::Section s) { return header().sections[static_cast<std::size_t>(s)]; }
    template <typename T>
    T* records(abi::Section s) {
        return reinterpret_cast<T*>(bytes() + sec(s).offset);
    }
    // Validation must fail and the message must contain `what`.
    void expect_rejected(const char* what) {
        auto r = validate_segment(bytes(), size());
        ASSERT_FALSE(r) << "accepted a segment that should fail with: " << what;
        EXPECT_EQ(r.error().kind, ReadErrorKind::Unreadable);
        EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    }
    std::vector<std::uint64_t> words_;
};

TEST_F(ImageTest, PristineImageValidates) {
    auto r = validate_segment(bytes(), size());
    ASSERT_TRUE(r) << r.error().message;
}

TEST_F(ImageTest, WrongMagicIsRejected) {
    header().magic[0] = 'X';
    expect_rejected("not a ringprobe report");
}

TEST_F(ImageTest, WrongVersionIsRejectedAndNamesBothVersions) {
    header().layout_version = abi::kLayoutVersion + 1;
    expect_rejected(("layout version " + std::to_string(abi::kLayoutVersion + 1)).c_str());
}

TEST_F(ImageTest, WrongHeaderSizeIsRejected) {
    header().header_size = 256;
    expect_rejected("header size");
}

TEST_F(ImageTest, SizeMismatchIsRejected) {
    header().total_size += 64;
    expect_rejected("truncated or oversized");
}

TEST_F(ImageTest, SectionPastTheEndIsRejected) {
    sec(abi::Section::Rows).offset = size() - 64;
    sec(abi::Section::Rows).count = 100;
    expect_rejected("runs past the end");
}

TEST_F(ImageTest, HugeOffsetDoesNotWrap) {
    sec(abi::Section::Targets).offset = ~std::uint64_t{0} & ~std::uint64_t{63};
    expect_rejected("runs past the end");
}

TEST_F(ImageTest, CountOverItsBoundIsRejected) {
    sec(abi::Section::Workers).count = abi::kMaxWorkers + 1;
    expect_rejected("over its bound");
}

TEST_F(ImageTest, WrongRecordSizeIsRejected) {
    sec(abi::Section::Pools).record_size = 16;
    expect_rejected("records of 16 bytes");
}

TEST_F(ImageTest, MisalignedSectionIsRejected) {
    sec(abi::Section::Pools).offset += 8;
    expect_rejected("misplaced");
}

TEST_F(ImageTest, OverlappingSectionsAreRejected) {
    sec(abi::Section::Settings).offset = sec(abi::Section::Pools).offset;
    expect_rejected("overlap");
}

TEST_F(ImageTest, StateCountDifferentFromTargetsIsRejected) {
    sec(abi::Section::States).count -= 1;
    expect_rejected("state count");
}

TEST_F(ImageTest, RowNamingAMissingTargetIsRejected) {
    records<abi::RowRecord>(abi::Section::Rows)[2].target_index = 1000;
    expect_rejected("row 2");
}

TEST_F(ImageTest, RowPairingAServerWithAnotherPoolIsRejected) {
    records<abi::RowRecord>(abi::Section::Rows)[6].server_index = 0;  // server 0 is in web
    expect_rejected("another pool");
}

TEST_F(ImageTest, PoolNamingMissingServersIsRejected) {
    records<abi::PoolRecord>(abi::Section::Pools)[1].server_count = 50;
    expect_rejected("pool 1");
}

TEST_F(ImageTest, UnknownProtocolIsRejected) {
    records<abi::TargetRecord>(abi::Section::Targets)[0].protocol = 9;
    expect_rejected("unknown protocol");
}

TEST_F(ImageTest, UnterminatedStringIsRejected) {
    abi::StrRef ref = records<abi::PoolRecord>(abi::Section::Pools)[0].name;
    auto* table = reinterpret_cast<char*>(bytes() + sec(abi::Section::Strings).offset);
    table[ref.offset + ref.length] = 'X';
    expect_rejected("pool 0");
}

TEST_F(ImageTest, OverlongStringLengthIsRejected) {
    records<abi::ServerRecord>(abi::Section::Servers)[1].address.length = 0xFFFFFFF0u;
    expect_rejected("server 1");
}

TEST_F(ImageTest, StringOffsetPastTheTableIsRejected) {
    records<abi::TargetRecord>(abi::Section::Targets)[5].host.offset = 0xFFFFFFFFu;
    expect_rejected("target 5");
}

TEST_F(ImageTest, StringWithEmbeddedNulIsRejected) {
    abi::StrRef ref = records<abi::SettingRecord>(abi::Section::Settings)[0].name;
    auto* table = reinterpret_cast<char*>(bytes() + sec(abi::Section::Strings).offset);
    table[ref.offset + 1] = '\0';
    expect_rejected("setting 0");
}

TEST_F(ImageTest, GatewayNameOutOfRangeIsRejected) {
    header().gateway_name.offset = sec(abi::Section::Strings).count;
    expect_rejected("gateway name");
}

TEST_F(ImageTest, CorruptStatePayloadIsUnreadableNotShown) {
    auto* st = records<abi::TargetStateRecord>(abi::Section::States);
    st[1].payload.reason = 9999;
    st[2].payload.detail_len = 5000;
    st[3].payload.health = 7;
    auto snap = read_image(bytes(), size(), at(kStart));
    ASSERT_TRUE(snap);
    EXPECT_EQ(snap->readable[0], 1);
    EXPECT_EQ(snap->readable[1], 0);
    EXPECT_EQ(snap->readable[2], 0);
    EXPECT_EQ(snap->readable[3], 0);
    EXPECT_EQ(snap->unreadable, 3u);
}

TEST_F(ImageTest, RecordStuckMidWriteIsUnreadableThisTimeNotASpin) {
    auto* st = records<abi::TargetStateRecord>(abi::Section::States);
    st[4].seq = 7;  // odd forever: a writer that died inside publish()
    SnapshotOptions o = at(kStart);
    o.max_attempts = 16;
    auto snap = read_image(bytes(), size(), o);
    ASSERT_TRUE(snap);
    EXPECT_EQ(snap->readable[4], 0);
    EXPECT_EQ(effective(*snap, 4).health, Health::Unknown);
    std::string log;
    append_probe_log(log, *snap, 4);
    EXPECT_NE(log.find("could not be read consistently"), std::string::npos) << log;
}

// Each field of a name record that the renderers use as a count or an index is checked on its
// own: one out of range makes that record unreadable this time (left zero: "DNS pending"), and
// the records beside it are still read.
TEST_F(ImageTest, NamePayloadWithAFieldOutOfRangeIsLeftZeroAndItsNeighbourRead) {
    ASSERT_GE(sec(abi::Section::Names).count, 2u);
    auto* names = records<abi::NameStateRecord>(abi::Section::Names);
    const auto good = [] {
        abi::NameStatePayload p{};
        p.standing = 1;
        p.last_outcome = 1;
        p.address_count = 3;
        p.ttl_s = 60;
        return p;
    };
    struct Bad {
        const char* field;
        void (*spoil)(abi::NameStatePayload&);
    };
    const Bad cases[] = {
        {"address_count", [](abi::NameStatePayload& p) { p.address_count = 17; }},
        {"address_count", [](abi::NameStatePayload& p) { p.address_count = 255; }},
        {"standing", [](abi::NameStatePayload& p) { p.standing = 5; }},
        {"last_outcome", [](abi::NameStatePayload& p) { p.last_outcome = 9; }},
        {"truncated", [](abi::NameStatePayload& p) { p.truncated = 2; }},
    };
    for (const Bad& c : cases) {
        SCOPED_TRACE(c.field);
        names[0].payload = good();
        c.spoil(names[0].payload);
        names[1].payload = good();
        auto snap = read_image(bytes(), size(), at(kStart));
        ASSERT_TRUE(snap) << snap.error().message;
        EXPECT_EQ(snap->names[0].address_count, 0u);
        EXPECT_EQ(snap->names[0].standing, 0u);
        EXPECT_EQ(snap->names[0].ttl_s, 0u);
        EXPECT_EQ(snap->names[1].address_count, 3u);
        EXPECT_EQ(snap->names[1].ttl_s, 60u);
        EXPECT_EQ(snap->unreadable, 0u) << "a name record is not a target's state";
    }
}

TEST_F(ImageTest, TlsChainCountOverItsBoundIsLeftZeroNotWalked) {
    ASSERT_GE(sec(abi::Section::TlsFacts).count, 1u);
    auto* tls = records<abi::TlsFactsRecord>(abi::Section::TlsFacts);
    for (std::uint8_t count : {std::uint8_t{abi::kChainRecords + 1}, std::uint8_t{255}}) {
        SCOPED_TRACE(count);
        tls[0].payload = abi::TlsFactsPayload{};
        tls[0].payload.chain_count = count;
        tls[0].payload.captured_unix_ns = kStart;
        auto snap = read_image(bytes(), size(), at(kStart));
        ASSERT_TRUE(snap) << snap.error().message;
        EXPECT_EQ(snap->tls[0].chain_count, 0u);
        EXPECT_EQ(snap->tls[0].captured_unix_ns, 0u);
    }
    tls[0].payload.chain_count = abi::kChainRecords;  // the bound itself is a full chain
    auto snap = read_image(bytes(), size(), at(kStart));
    ASSERT_TRUE(snap);
    EXPECT_EQ(snap->tls[0].chain_count, abi::kChainRecords);
    EXPECT_EQ(snap->tls[0].captured_unix_ns, kStart);
}

TEST_F(ImageTest, RandomCorruptionNeverCrashesTheValidator) {
    const std::uint64_t seed =
        ringprobe::testing::test_seed("ImageTest.RandomCorruptionNeverCrashesTheValidator");
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with RP_SEED)");
    std::mt19937_64 rng(seed);
    const std::vector<std::uint64_t> pristine = words_;
    const std::size_t static_end = sec(abi::Section::States).offset;
    int rejected = 0;
    for (int round = 0; round < 3000; ++round) {
        words_ = pristine;
        const int flips = 1 + static_cast<int>(rng() % 8);
        for (int f = 0; f < flips; ++f) {
            // Mostly the header and static sections, where the structure is.
            const std::size_t limit = rng() % 4 == 0 ? size() : static_end;
            bytes()[rng() % limit] = static_cast<std::byte>(rng());
        }
        auto snap = read_image(bytes(), size(), at(kStart));
        rejected += snap ? 0 : 1;
    }
    EXPECT_GT(rejected, 0);
}

// The header's last reload (layout 4): read back as written, and taken as none when it is
// not a record a writer could have made (unknown result, overlong error, bytes past it).
TEST_F(ImageTest, LastReloadReadsBackAndAnInvalidOneReadsAsNone) {
    abi::ReloadPayload& r = header().last_reload;
    r.unix_ns = kStart + 5;
    r.result = abi::kReloadRefused | (std::uint64_t{5} << 8);
    r.applied = 2;
    r.refused = 1;
    std::memcpy(r.error, "bad x", 5);
    auto snap = read_image(bytes(), size(), at(kStart));
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_EQ(snap->reload_result(), abi::kReloadRefused);
    EXPECT_EQ(snap->reload_error(), "bad x");
    EXPECT_EQ(snap->last_reload.applied, 2u);

    r.error[7] = 'y';  // a byte past the length
    EXPECT_EQ(read_image(bytes(), size(), at(kStart))->reload_result(), abi::kReloadNone);
    r.error[7] = 0;
    r.result = 7;  // no such result
    EXPECT_EQ(read_image(bytes(), size(), at(kStart))->reload_result(), abi::kReloadNone);
    r.result = abi::kReloadApplied | (std::uint64_t{200} << 8);  // longer than the area
    EXPECT_EQ(read_image(bytes(), size(), at(kStart))->reload_result(), abi::kReloadNone);
    r.result = abi::kReloadApplied;
    header().reload_seq = 3;  // a writer never finished: torn on every attempt
    EXPECT_EQ(read_image(bytes(), size(), at(kStart))->reload_result(), abi::kReloadNone);
}

}  // namespace
}  // namespace ringprobe::report
