// Ring: what a late entry posts. A worker behind its schedule enters the kernel with a wake-up
// instant already past; it must get every completion that has come in, not only the 20 a
// get-events without a wait runs (IO_LOCAL_TW_DEFAULT_MAX, Linux 6.13, with DEFER_TASKRUN):
// either that entry posts them all, or the ring says more are pending until they are. And the
// questions a worker asks the kernel at start-up about what its io_uring offers.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "engine/ring.hpp"

namespace ringprobe::engine {
namespace {

struct Pair {
    int ours = -1;
    int theirs = -1;
};

TEST(Ring, AnEntryWithItsInstantPastPostsEveryAnswerThatCameIn) {
    constexpr unsigned n = 200;
    Ring ring;
    ASSERT_TRUE(ring.init(256));
    std::vector<Pair> pairs(n);
    std::vector<std::array<char, 8>> bufs(n);
    for (unsigned i = 0; i < n; ++i) {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        pairs[i] = Pair{sv[0], sv[1]};
        io_uring_sqe* sqe = ring.sqe();
        io_uring_prep_recv(sqe, sv[0], bufs[i].data(), bufs[i].size(), 0);
        io_uring_sqe_set_data64(sqe, i);
    }
    // Submitted; nothing to read yet, so every receive waits in the kernel for its data.
    ring.submit_and_wait_until(monotonic_ns() + 1'000'000, ring.cq_entries());
    EXPECT_EQ(io_uring_cq_ready(ring.raw()), 0u);
    for (const Pair& p : pairs) {
        ASSERT_EQ(::write(p.theirs, "x", 1), 1);
    }
    // Every answer is in; a turn that is late looks without waiting, as Worker::reap does.
    const bool late = ring.submit_and_wait_until(monotonic_ns() - 1, 1);
    EXPECT_TRUE(late);
    int rounds = 0;
    while (rounds < 64 && ring.post_more()) {  // the caller would reap between rounds
        ++rounds;
    }
    EXPECT_EQ(io_uring_cq_ready(ring.raw()), n) << "ring mode " << ring.mode();
    EXPECT_FALSE(ring.completions_pending());
    io_uring_cqe* cqe = nullptr;
    unsigned ok = 0;
    while (io_uring_peek_cqe(ring.raw(), &cqe) == 0) {
        ok += cqe->res == 1 ? 1 : 0;
        io_uring_cqe_seen(ring.raw(), cqe);
    }
    EXPECT_EQ(ok, n);
    for (const Pair& p : pairs) {
        ::close(p.ours);
        ::close(p.theirs);
    }
}

// The start-up questions: a known opcode is known, one past any kernel's table is not, and
// asking whether the file table and socket commands work (yes or no, by kernel) leaves the ring
// usable with nothing of the question left in its completion queue.
TEST(Ring, StartUpQuestionsAnswerAndLeaveTheRingClean) {
    Ring ring;
    ASSERT_TRUE(ring.init(8));
    EXPECT_TRUE(ring.supports(IORING_OP_NOP));
    EXPECT_FALSE(ring.supports(255));
    const bool table = ring.register_file_table(4);
    const bool options = ring.sets_socket_options();
    EXPECT_EQ(io_uring_cq_ready(ring.raw()), 0u) << "table " << table << " options " << options;
    io_uring_prep_nop(ring.sqe());
    EXPECT_EQ(ring.ask(), 0);
}

// The start-up error names each cause of a ring that cannot be made and its fix: the sysctl by
// its name and value, a seccomp filter with the profile that allows io_uring, an old kernel with
// the release ringprobe needs, the locked-memory limit. tests/deploy/ring_refused_test.py makes
// io_uring_setup fail under a real seccomp filter and reads the same sentences from the engine.
TEST(RingSetupError, EpermWithTheSysctlAtTwoNamesItsValueAndTheFix) {
    const std::string text = ring_setup_error(EPERM, {2, 0, false}, "Linux 6.6.0");
    EXPECT_NE(text.find("kernel.io_uring_disabled is 2"), std::string::npos) << text;
    EXPECT_NE(text.find("sysctl -w kernel.io_uring_disabled=0"), std::string::npos) << text;
    EXPECT_EQ(text.find("seccomp"), std::string::npos) << text;
}

TEST(RingSetupError, EpermWithTheSysctlAtOneNamesTheGroup) {
    const std::string text = ring_setup_error(EPERM, {1, 1234, false}, "Linux 6.6.0");
    EXPECT_NE(text.find("kernel.io_uring_disabled is 1"), std::string::npos) << text;
    EXPECT_NE(text.find("gid 1234"), std::string::npos) << text;
    EXPECT_NE(text.find("SupplementaryGroups="), std::string::npos) << text;
}

TEST(RingSetupError, EpermWithTheSysctlAllowingBlamesSeccompAndNamesTheProfile) {
    const IoUringSysctls allowing[] = {{0, 0, false}, {-1, -1, false}, {1, 1234, true}};
    for (const IoUringSysctls& sys : allowing) {
        const std::string text = ring_setup_error(EPERM, sys, "Linux 6.18.0");
        EXPECT_NE(text.find("seccomp filter refuses io_uring_setup"), std::string::npos) << text;
        EXPECT_NE(text.find("deploy/seccomp/ringprobe.json"), std::string::npos) << text;
        EXPECT_EQ(text.find("io_uring_disabled"), std::string::npos) << text;
    }
}

TEST(RingSetupError, OldKernelNamesTheReleaseAndTheMinimum) {
    for (const int err : {ENOSYS, EINVAL}) {
        const std::string text = ring_setup_error(err, {-1, -1, false}, "Linux 5.4.0");
        EXPECT_NE(text.find("Linux 5.4.0"), std::string::npos) << text;
        EXPECT_NE(text.find(std::string("Linux ") + min_kernel + " or later"), std::string::npos)
            << text;
    }
}

TEST(RingSetupError, EnomemNamesTheMemlockLimit) {
    const std::string text = ring_setup_error(ENOMEM, {0, 0, false}, "Linux 5.10.0");
    EXPECT_NE(text.find("locked-memory limit"), std::string::npos) << text;
    EXPECT_NE(text.find("LimitMEMLOCK="), std::string::npos) << text;
}

}  // namespace
}  // namespace ringprobe::engine
