// One io_uring per worker. Set-up tries SINGLE_ISSUER | DEFER_TASKRUN (completions run only
// when this thread asks, so nothing interrupts it), falls back to COOP_TASKRUN and then to no
// flags, and says once which it got. A full submission queue is flushed and retried, counted.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace ringprobe::engine {

// Single writer (the ring's thread), read by anyone: relaxed atomics, bumped without a locked
// instruction.
struct RingStats {
    std::atomic<std::uint64_t> sq_full{0};      // get_sqe found the SQ full: flushed and retried
    std::atomic<std::uint64_t> submits{0};      // io_uring_enter calls that submitted or waited
    std::atomic<std::uint64_t> cq_overflow{0};  // waits that found completions held back
    std::atomic<std::uint64_t> wakeups{0};      // returns from a wait

    static void bump(std::atomic<std::uint64_t>& c) {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
};

// The io_uring sysctls of Linux 6.6 and later; -1 where the kernel has none.
struct IoUringSysctls {
    int disabled = -1;  // kernel.io_uring_disabled: 0 allowed, 1 only kernel.io_uring_group, 2 no
    int group = -1;     // kernel.io_uring_group
    // This process is in that group (or is root), which the sysctl at 1 lets through, so an
    // EPERM then comes from something else.
    bool in_group = false;
};

// The oldest kernel the engine runs on: provided-buffer rings (receive_buffers.cpp).
inline constexpr const char* min_kernel = "5.19";

// Why the ring could not be made and what fixes it, from io_uring_setup's errno (positive), the
// sysctls and the kernel release (`uname -r`). Pure, so every cause is tested without making it.
std::string ring_setup_error(int err, const IoUringSysctls& sys, const std::string& release);
IoUringSysctls read_io_uring_sysctls();
std::string kernel_release();

class Ring {
public:
    Ring() = default;
    ~Ring();
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    // entries: SQ size (power of two); the CQ is sized 4x so bursts of completions fit.
    Result<void> init(unsigned entries);
    const std::string& mode() const { return mode_; }

    // Never returns null: when the SQ is full it submits what is queued and tries again.
    io_uring_sqe* sqe();
    // Room for n SQEs in a row (a linked chain must not be split by a flush in the middle):
    // submits what is queued first if there is less.
    void reserve(unsigned n);

    // Submits what is queued and waits until wait_nr completions are ready or timeout_ns has
    // passed, whichever comes first.
    void submit_and_wait(std::uint64_t timeout_ns, unsigned wait_nr = 1);
    // Submits what is queued and waits as above until the monotonic instant wake_ns: the time
    // the submission and the work it queues take (a loopback connect runs its whole handshake
    // in the kernel) comes out of the wait instead of being added to it. One system call with
    // an absolute timeout (IORING_ENTER_ABS_TIMER, Linux 6.12); before that kernel, a submit
    // and then a wait measured from after it. When the instant has passed it does not wait, and
    // says so (true): where the kernel tells whether deferred completions are still pending
    // (completions_pending()) it has posted at most about 20 of them, and the caller reaps and
    // asks again (post_more()); elsewhere it has posted every one.
    bool submit_and_wait_until(std::uint64_t wake_ns, unsigned wait_nr);
    // While the kernel holds deferred completions not yet posted: enters once more, without
    // waiting, to post up to about 20 of them, and returns true; otherwise returns false at
    // once. The caller reaps between calls, so the answers give their buffers back.
    bool post_more();
    // The kernel holds deferred completions not yet posted (IORING_SQ_TASKRUN; always false
    // when the ring could not be set up with IORING_SETUP_TASKRUN_FLAG).
    bool completions_pending() const;
    // Start-up only, with nothing else in flight: submits the one SQE queued and returns its
    // result (-EINVAL if the wait fails). How a worker asks the kernel what it supports.
    int ask();

    // What this kernel's io_uring offers, asked at start-up (through ask() where it takes an
    // operation): a worker uses a feature only where the kernel says yes, and otherwise goes on
    // without it.
    bool supports(unsigned opcode);  // the kernel knows the opcode (IORING_REGISTER_PROBE)
    // Registers a sparse file table of `entries` for direct descriptors (IORING_OP_SOCKET into
    // a table entry, Linux 5.19), kept only where the kernel also cancels by a table entry
    // (IORING_ASYNC_CANCEL_FD_FIXED, Linux 6.0), the way a probe past its deadline is
    // cancelled. false: no table, and sockets are plain descriptors.
    bool register_file_table(unsigned entries);
    // Socket commands work: setsockopt through the ring (IORING_OP_URING_CMD, Linux 6.7).
    bool sets_socket_options();

    io_uring* raw() { return &ring_; }
    const RingStats& stats() const { return stats_; }
    unsigned sq_entries() const { return entries_; }
    unsigned cq_entries() const { return ring_.cq.ring_entries; }

private:
    io_uring ring_{};
    bool ready_ = false;
    unsigned entries_ = 0;
    std::string mode_;
    RingStats stats_;
    bool abs_timer_ = true;      // until the kernel says EINVAL to IORING_ENTER_ABS_TIMER
    bool taskrun_flag_ = false;  // IORING_SETUP_TASKRUN_FLAG: the kernel flags pending work
    bool wait_until_abs(std::uint64_t wake_ns, unsigned wait_nr);
    // Submits what is queued and posts what has completed, without waiting: at most about 20
    // deferred completions an entry (IO_LOCAL_TW_DEFAULT_MAX, Linux 6.13).
    void submit_and_post();
    void count_wait(int rc);  // a wait's outcome into the stats
};

}  // namespace ringprobe::engine
