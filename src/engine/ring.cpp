#include "engine/ring.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "engine/probe_sqe.hpp"

namespace ringprobe::engine {

Ring::~Ring() {
    if (ready_) {
        io_uring_queue_exit(&ring_);
    }
}

Result<void> Ring::init(unsigned entries) {
    RP_ASSERT(!ready_);
    RP_ASSERT(entries >= 2);
    struct Attempt {
        unsigned flags;
        const char* name;
    };
    const Attempt attempts[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
         "single-issuer+defer-taskrun+taskrun-flag"},
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "single-issuer+defer-taskrun"},
        {IORING_SETUP_COOP_TASKRUN, "coop-taskrun"},
        {0, "plain"},
    };
    int last = 0;
    for (const Attempt& a : attempts) {
        io_uring_params p{};
        p.flags = a.flags | IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        last = io_uring_queue_init_params(entries, &ring_, &p);
        if (last == 0) {
            ready_ = true;
            taskrun_flag_ = (a.flags & IORING_SETUP_TASKRUN_FLAG) != 0;
            entries_ = entries;
            mode_ = a.name;
            return {};
        }
        if (last != -EINVAL) {
            break;  // not a flag problem: io_uring itself is unavailable
        }
    }
    return error(ring_setup_error(-last, read_io_uring_sysctls(), kernel_release()));
}

// One sentence per cause a person can act on. Container runtimes' default seccomp profiles
// (Docker, containerd, Kubernetes RuntimeDefault) answer EPERM for a call they do not list, the
// sysctl answers EPERM too, and an old kernel answers ENOSYS (no io_uring at all) or EINVAL
// (no flag set it accepts). 5.19 is the floor because of the provided-buffer ring
// (receive_buffers.cpp).
std::string ring_setup_error(int err, const IoUringSysctls& sys, const std::string& release) {
    std::string text = "io_uring setup failed: ";
    text += std::strerror(err);
    text += ": ";
    switch (err) {
        case EPERM:
            if (sys.disabled == 2) {
                text +=
                    "kernel.io_uring_disabled is 2 on this host, which refuses io_uring to every "
                    "process; set it to 0 (sysctl -w kernel.io_uring_disabled=0), or to 1 with "
                    "the engine's user in the group kernel.io_uring_group names";
            } else if (sys.disabled == 1 && !sys.in_group) {
                text +=
                    "kernel.io_uring_disabled is 1 on this host, which allows io_uring only "
                    "to the group kernel.io_uring_group names (gid " +
                    std::to_string(sys.group) +
                    "); add the engine's user to that group (systemd: SupplementaryGroups=) "
                    "or set the sysctl to 0";
            } else {
                text +=
                    "a seccomp filter refuses io_uring_setup, as the default profiles of Docker, "
                    "containerd and Kubernetes (RuntimeDefault) do; run the engine with the "
                    "profile deploy/seccomp/ringprobe.json (docker run --security-opt "
                    "seccomp=ringprobe.json; Kubernetes: seccompProfile type Localhost; "
                    "docs/scale-out.md)";
            }
            break;
        case ENOSYS:
            text += "this kernel (" + release +
                    ") has no io_uring, or a seccomp filter answers ENOSYS for it; ringprobe "
                    "needs Linux " +
                    std::string(min_kernel) +
                    " or later built with CONFIG_IO_URING, and a seccomp profile that allows "
                    "the io_uring calls (deploy/seccomp/ringprobe.json)";
            break;
        case EINVAL:
            text +=
                "this kernel (" + release +
                ") accepts none of the ring set-ups ringprobe asks for; ringprobe needs Linux " +
                std::string(min_kernel) + " or later";
            break;
        case ENOMEM:
            text +=
                "the locked-memory limit is too low for the ring (kernels before 5.12 count "
                "ring memory against it); raise it: ulimit -l unlimited, systemd "
                "LimitMEMLOCK=infinity, or the container runtime's memlock ulimit";
            break;
        default:
            text += "no known cause; ringprobe needs Linux " + std::string(min_kernel) +
                    " or later with io_uring allowed";
            break;
    }
    return text;
}

namespace {
int read_sysctl_int(const char* path, int absent) {
    int value = absent;
    if (std::FILE* f = std::fopen(path, "re"); f != nullptr) {
        if (std::fscanf(f, "%d", &value) != 1) {
            value = absent;
        }
        std::fclose(f);
    }
    return value;
}
bool in_group(int gid) {
    if (gid < 0) {
        return false;
    }
    if (getegid() == static_cast<gid_t>(gid)) {
        return true;
    }
    gid_t groups[256];
    const int n = getgroups(static_cast<int>(std::size(groups)), groups);
    return std::find(groups, groups + std::max(n, 0), static_cast<gid_t>(gid)) !=
           groups + std::max(n, 0);
}
}  // namespace

IoUringSysctls read_io_uring_sysctls() {
    IoUringSysctls sys;
    sys.disabled = read_sysctl_int("/proc/sys/kernel/io_uring_disabled", -1);
    sys.group = read_sysctl_int("/proc/sys/kernel/io_uring_group", -1);
    sys.in_group = geteuid() == 0 || in_group(sys.group);
    return sys;
}

std::string kernel_release() {
    utsname u{};
    if (uname(&u) != 0) {
        return "unknown release";
    }
    return std::string("Linux ") + u.release;
}

io_uring_sqe* Ring::sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    // Bounded: one flush frees the whole SQ unless the kernel refuses, which we retry a few
    // times (EBUSY: the CQ is full; reaping happens in the caller's next loop turn).
    for (int attempt = 0; s == nullptr && attempt < 16; ++attempt) {
        RingStats::bump(stats_.sq_full);
        io_uring_submit(&ring_);
        s = io_uring_get_sqe(&ring_);
    }
    RP_ASSERT(s != nullptr);
    return s;
}

void Ring::reserve(unsigned n) {
    RP_ASSERT(n <= entries_);
    if (io_uring_sq_space_left(&ring_) < n) {
        RingStats::bump(stats_.sq_full);
        io_uring_submit(&ring_);
    }
}

int Ring::ask() {
    io_uring_submit(&ring_);
    io_uring_cqe* cqe = nullptr;
    int res = -EINVAL;
    if (io_uring_wait_cqe(&ring_, &cqe) == 0) {
        res = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
    }
    return res;
}

bool Ring::supports(unsigned opcode) {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    const bool known =
        probe != nullptr && io_uring_opcode_supported(probe, static_cast<int>(opcode)) != 0;
    if (probe != nullptr) {
        io_uring_free_probe(probe);
    }
    return known;
}

// The cancel is asked once on the empty entry 0, which says EBADF or ENOENT where the flag is
// known and EINVAL where it is not; without it the table is given back.
bool Ring::register_file_table(unsigned entries) {
    if (io_uring_register_files_sparse(&ring_, entries) != 0) {
        return false;
    }
    io_uring_sqe* sqe = this->sqe();
    io_uring_prep_cancel_fd(sqe, 0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
    io_uring_sqe_set_data64(sqe, 0);  // ask() reaps it
    if (ask() == -EINVAL) {
        io_uring_unregister_files(&ring_);
        return false;
    }
    return true;
}

bool Ring::sets_socket_options() {
    // Asked once on a socket of our own: a kernel before 6.7 answers -EINVAL or -EOPNOTSUPP.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    io_uring_sqe* sqe = this->sqe();
    prep_setsockopt(sqe, fd, IPPROTO_TCP, TCP_QUICKACK, &quickack_off);
    io_uring_sqe_set_data64(sqe, 0);  // ask() reaps it
    const int res = ask();
    ::close(fd);
    return res == 0;
}

void Ring::submit_and_wait(std::uint64_t timeout_ns, unsigned wait_nr) {
    __kernel_timespec ts{};
    ts.tv_sec = static_cast<long long>(timeout_ns / 1'000'000'000ull);
    ts.tv_nsec = static_cast<long long>(timeout_ns % 1'000'000'000ull);
    io_uring_cqe* cqe = nullptr;
    RingStats::bump(stats_.submits);
    count_wait(io_uring_submit_and_wait_timeout(&ring_, &cqe, wait_nr, &ts, nullptr));
}

void Ring::count_wait(int rc) {
    if (rc >= 0 || rc == -ETIME || rc == -EINTR) {
        RingStats::bump(stats_.wakeups);
    }
    if (*ring_.sq.kflags & IORING_SQ_CQ_OVERFLOW) {
        RingStats::bump(stats_.cq_overflow);
    }
}

namespace {
constexpr unsigned enter_abs_timer = 1U << 5;  // IORING_ENTER_ABS_TIMER (Linux 6.12)
}

// Submit and wait in one io_uring_enter with an absolute timeout on CLOCK_MONOTONIC (the
// ring's default clock, the one monotonic_ns() reads). The SQ tail is published here as
// liburing's own submit does (no SQPOLL: a plain store before the system call).
bool Ring::wait_until_abs(std::uint64_t wake_ns, unsigned wait_nr) {
    io_uring_sq& sq = ring_.sq;
    const unsigned tail = sq.sqe_tail;
    if (sq.sqe_head != tail) {
        sq.sqe_head = tail;
        io_uring_smp_store_release(sq.ktail, tail);
    }
    const unsigned to_submit = tail - io_uring_smp_load_acquire(sq.khead);
    __kernel_timespec ts{};
    ts.tv_sec = static_cast<long long>(wake_ns / 1'000'000'000ull);
    ts.tv_nsec = static_cast<long long>(wake_ns % 1'000'000'000ull);
    io_uring_getevents_arg arg{};
    arg.ts = reinterpret_cast<std::uint64_t>(&ts);
    const int rc = io_uring_enter2(static_cast<unsigned>(ring_.ring_fd), to_submit, wait_nr,
                                   IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | enter_abs_timer,
                                   reinterpret_cast<sigset_t*>(&arg), sizeof(arg));
    if (rc == -EINVAL) {
        abs_timer_ = false;  // an older kernel: the SQEs stay queued for the next submit
        return false;
    }
    if (to_submit > 0) {
        RingStats::bump(stats_.submits);
    }
    count_wait(rc);
    return true;
}

// Without a wait the kernel runs at most 20 deferred completions an entry (the rest wait for
// the next entry: IO_LOCAL_TW_DEFAULT_MAX, Linux 6.13). A late turn that entered with a plain
// get-events and reaped what it posted would get about 20 answers however many had come in, so
// a worker behind, every wake-up instant of which is already past, would reap about 20 a turn
// while it started 256; the answers would wait in the kernel, then run all at once in a later
// wait and take more receive buffers than there are (bench/harness/results/HISTORY.md, "A late turn
// reaped 20 answers"). So where the ring flags pending work (IORING_SETUP_TASKRUN_FLAG), the caller
// reaps and enters again while the flag says so (Worker::reap), the answers giving their buffers
// back between rounds; elsewhere the late entry is a timed wait for as many completions as the CQ
// holds with the past instant as its timeout, which runs them all (through the scheduler: the
// expired timer ends the wait).
bool Ring::submit_and_wait_until(std::uint64_t wake_ns, unsigned wait_nr) {
    std::uint64_t now = monotonic_ns();
    const bool late = wake_ns <= now;
    if (late && taskrun_flag_) {
        submit_and_post();
        return true;
    }
    if (late) {
        wait_nr = std::max(wait_nr, cq_entries());
    }
    if (abs_timer_ && wait_until_abs(wake_ns, wait_nr)) {
        return late;
    }
    if (wake_ns > now && io_uring_sq_ready(&ring_) > 0) {
        RingStats::bump(stats_.submits);
        io_uring_submit(&ring_);
        now = monotonic_ns();
    }
    submit_and_wait(wake_ns > now ? wake_ns - now : 0, wait_nr);
    return late;
}

bool Ring::post_more() {
    if (!completions_pending()) {
        return false;
    }
    submit_and_post();
    return true;
}

void Ring::submit_and_post() {
    RingStats::bump(stats_.submits);
    io_uring_submit_and_get_events(&ring_);
}

bool Ring::completions_pending() const {
    return taskrun_flag_ && (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN) != 0;
}

}  // namespace ringprobe::engine
