// Torn-read stress test for the report's seqlock (src/report/writer.cpp publish, reader.cpp
// copy_state). A writer thread rewrites records whose every field derives from one counter;
// two reader threads in this process and a reader in a second process (this binary re-executed
// with --stress-child, which starts reading once the writer has published) check every copy they
// get; each reader must have seen records change, so its reads overlapped the writer's. Together
// they make at least 1.2 million reads and must see zero torn copies. Runs in suite 'threads', so
// tools/test.sh also runs it under ThreadSanitizer, which checks that the words are accessed
// atomically. Bounded: fixed read counts, a 60 s cap on the writer, the child stopped by its pid if
// it overruns.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "report/reader.hpp"
#include "report/writer.hpp"
#include "support/report_test_plan.hpp"

namespace ringprobe::report {
namespace {

namespace abi = report_abi;

constexpr std::uint64_t kReadsPerReader = 400'000;

std::string g_detail_source(300, 'x');

TargetUpdate derive(std::uint64_t c) {
    TargetUpdate u;
    u.health = static_cast<Health>(c % 3);
    u.reason = static_cast<Reason>(c % reason_count);
    u.http_status = static_cast<std::uint16_t>(c * 7);
    u.sys_errno = static_cast<std::int32_t>(c ^ 0x5a5a);
    u.latency_us = static_cast<std::uint32_t>(c);
    u.dns_us = static_cast<std::uint32_t>(c + 1);
    u.connect_us = static_cast<std::uint32_t>(c + 2);
    u.tls_us = static_cast<std::uint32_t>(c + 3);
    u.first_byte_us = static_cast<std::uint32_t>(c + 4);
    u.consecutive_ok = static_cast<std::uint32_t>(c * 3);
    u.consecutive_fail = static_cast<std::uint32_t>(c * 5);
    u.last_probe_unix_ns = c * 11;
    u.last_change_unix_ns = c * 13;
    u.next_probe_unix_ns = c * 17;
    u.total_probes = c;
    u.total_ok = c + 10;
    u.total_fail = c + 20;
    u.total_prober_errors = c + 30;
    return u;
}

// The detail of counter c: c % 200 bytes of one letter.
std::string_view derive_detail(std::uint64_t c, std::string& buf) {
    buf.assign(c % 200, static_cast<char>('A' + c % 26));
    return buf;
}

// True when every field of the copy derives from the same counter.
bool whole(const abi::TargetStatePayload& p) {
    const std::uint64_t c = p.total_probes;
    if (c == 0) {
        return p.last_probe_unix_ns == 0 && p.total_ok == 0;  // never published yet
    }
    const TargetUpdate u = derive(c);
    bool ok = p.health == static_cast<std::uint8_t>(u.health) &&
              p.reason == static_cast<std::uint16_t>(u.reason) && p.http_status == u.http_status &&
              p.sys_errno == u.sys_errno && p.latency_us == u.latency_us && p.dns_us == u.dns_us &&
              p.connect_us == u.connect_us && p.tls_us == u.tls_us &&
              p.first_byte_us == u.first_byte_us && p.consecutive_ok == u.consecutive_ok &&
              p.consecutive_fail == u.consecutive_fail &&
              p.last_probe_unix_ns == u.last_probe_unix_ns &&
              p.last_change_unix_ns == u.last_change_unix_ns &&
              p.next_probe_unix_ns == u.next_probe_unix_ns && p.total_ok == u.total_ok &&
              p.total_fail == u.total_fail && p.total_prober_errors == u.total_prober_errors &&
              p.detail_len == c % 200;
    for (std::size_t i = 0; ok && i < p.detail_len; ++i) {
        ok = p.detail[i] == static_cast<char>('A' + c % 26);
    }
    return ok;
}

struct ReadStats {
    std::uint64_t reads = 0;
    std::uint64_t torn = 0;
    std::uint64_t gave_up = 0;  // max_attempts exhausted: "unreadable this time"
    std::uint64_t changes = 0;  // copies that differed from the previous one of that target
};

// Makes `reads` whole copies (at most 4x as many attempts: a bound, not a spin).
ReadStats read_loop(const abi::TargetStateRecord* recs, std::uint32_t n, std::uint64_t reads) {
    ReadStats s;
    std::vector<std::uint64_t> last(n, 0);
    abi::TargetStatePayload p{};
    for (std::uint64_t i = 0; i < 4 * reads && s.reads < reads; ++i) {
        const std::uint32_t t = static_cast<std::uint32_t>(i % n);
        if (!copy_state(recs[t], p, 64)) {
            ++s.gave_up;
            continue;
        }
        ++s.reads;
        s.torn += whole(p) ? 0 : 1;
        s.changes += p.total_probes != last[t] ? 1 : 0;
        last[t] = p.total_probes;
    }
    return s;
}

int child_main(const char* name) {
    auto r = Report::open(name);
    if (!r) {
        std::fprintf(stderr, "child: %s\n", r.error().message.c_str());
        return 2;
    }
    // This process is forked before the parent starts its writer thread (a fork with threads
    // running is unsafe), so it waits, bounded, for the writer's first publication: its reads
    // then overlap the writer's, or it fails below.
    // A single copy may give up while the writer hammers the record, so the first copy is
    // retried inside the same bound rather than taken as the baseline once.
    abi::TargetStatePayload first{};
    abi::TargetStatePayload now{};
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool read_first = false;
    bool writing = false;
    while (!writing && std::chrono::steady_clock::now() < until) {
        if (!read_first) {
            read_first = copy_state(r->state_records()[0], first, 64);
            continue;
        }
        writing =
            copy_state(r->state_records()[0], now, 64) && now.total_probes != first.total_probes;
    }
    if (!writing) {
        std::fprintf(stderr, read_first ? "child: the writer never published within 30 s\n"
                                        : "child: no whole copy of record 0 within 30 s\n");
        return 3;
    }
    const ReadStats s = read_loop(
        r->state_records(), static_cast<std::uint32_t>(r->info().targets.size()), kReadsPerReader);
    std::fprintf(stderr, "child: %llu reads, %llu torn, %llu gave up, %llu changes\n",
                 static_cast<unsigned long long>(s.reads), static_cast<unsigned long long>(s.torn),
                 static_cast<unsigned long long>(s.gave_up),
                 static_cast<unsigned long long>(s.changes));
    return s.torn == 0 && s.reads == kReadsPerReader && s.changes > 0 ? 0 : 1;
}

TEST(ReportStress, ReadersInThreadsAndAnotherProcessNeverSeeATornRecord) {
    struct Guard {
        std::string name = testing::unique_name("stress");
        ~Guard() { ::unlink(segment_path(name).c_str()); }
    } g;
    auto w = Writer::create(testing::sample_plan(), g.name);
    ASSERT_TRUE(w) << w.error().message;
    const std::uint32_t n = w->target_count();

    // The second process first, while this one has no threads yet.
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::execl("/proc/self/exe", "report_stress_test", "--stress-child", g.name.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(3);
    }

    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> published{0};
    std::thread writer([&] {
        std::string buf;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        std::uint64_t c = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            ++c;
            TargetUpdate u = derive(c);
            u.detail = derive_detail(c, buf);
            w->publish(static_cast<std::uint32_t>(c % n), u);
            if ((c & 1023) == 0 && std::chrono::steady_clock::now() > deadline) {
                break;
            }
        }
        published.store(c, std::memory_order_relaxed);
    });

    auto r = Report::open(g.name);
    ASSERT_TRUE(r) << r.error().message;
    std::vector<ReadStats> stats(2);
    std::vector<std::thread> readers;
    for (auto& s : stats) {
        readers.emplace_back(
            [&r, &s, n] { s = read_loop(r->state_records(), n, kReadsPerReader); });
    }
    for (auto& t : readers) {
        t.join();
    }

    // Wait for the child, bounded; stop it by its pid if it overruns.
    int status = 0;
    bool reaped = false;
    for (int i = 0; i < 6000 && !reaped; ++i) {
        reaped = ::waitpid(child, &status, WNOHANG) == child;
        if (!reaped) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    if (!reaped) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
    }
    stop.store(true, std::memory_order_relaxed);
    writer.join();

    std::uint64_t reads = 0, torn = 0, gave_up = 0, changes = 0;
    for (const auto& s : stats) {
        reads += s.reads;
        torn += s.torn;
        gave_up += s.gave_up;
        changes += s.changes;
    }
    std::fprintf(stderr,
                 "threads: %llu reads, %llu torn, %llu gave up, %llu changes; %llu published\n",
                 static_cast<unsigned long long>(reads), static_cast<unsigned long long>(torn),
                 static_cast<unsigned long long>(gave_up), static_cast<unsigned long long>(changes),
                 static_cast<unsigned long long>(published.load()));
    EXPECT_TRUE(reaped) << "the reader process overran and was killed";
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the reader process saw a torn record or could not read";
    EXPECT_EQ(torn, 0u);
    // 2 threads + the child process, each kReadsPerReader whole copies (the child checks its own).
    EXPECT_EQ(reads, 2 * kReadsPerReader);
    static_assert(3 * kReadsPerReader >= 1'000'000);
    EXPECT_GT(changes, 0u) << "the readers never overlapped the writer: the test proved nothing";
}

}  // namespace
}  // namespace ringprobe::report

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "--stress-child") == 0) {
        return ringprobe::report::child_main(argv[2]);
    }
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
