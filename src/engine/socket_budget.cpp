// Stage: the socket budget. Where a probe's socket comes from (a direct descriptor in the
// ring's file table, or socket()), how many a worker may hold (fds_held_ against budget_, the
// free entries of the file table), what happens when the process runs out (the probe waits in
// the start line and the budget drops), and how a socket is let go outside a probe's own close
// (stop, teardown, a cancel that did not bring everything back). Whether the kernel offers
// direct sockets is the ring's to say (Ring::supports, Ring::register_file_table); the file
// table's free entries are the budget's. The state stays in Worker (publish_stats raises the
// budget back every stats period).
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "common/assert.hpp"
#include "engine/errno_reason.hpp"
#include "engine/probe_slot.hpp"
#include "engine/probe_sqe.hpp"
#include "engine/user_data.hpp"

namespace ringprobe::engine {

// socket() said EMFILE/ENFILE: descriptors are held elsewhere (the exporter's clients, closes
// still queued, another thread). The prober's problem, never the backend's: the probe waits in
// the deferred line and the budget drops to what is really open, so the line drains as
// sockets close instead of every due target failing and retrying on its own.
void Worker::out_of_descriptors(Slot& s, int err) {
    const Reason r = socket_reason(err);
    bump(counters_.prober_errors);
    bump(counters_.by_reason[static_cast<std::size_t>(r)]);
    budget_ = std::max<std::size_t>(1, fds_held_);
    fd_starved_ = true;
    s.total_prober += 1;
    if (s.name == no_name) {
        // Shown on the row (its health untouched): the probe is held back by the prober.
        s.last_reason = r;
        s.sys_errno = err;
        publish(s);
    } else {
        names_[s.name].total_prober += 1;
    }
    defer(s);
}

// Kept connections (connectionReuse) hold their socket while idle, counted in the budget like
// a probe's: a due start that finds no socket free closes idle kept connections, most recently
// kept first, until it has one, rather than waiting in the line. Reuse saves a handshake; a
// late probe costs the schedule. The closes are synchronous (release_now), so the socket is
// free for this very start.
bool Worker::make_room(const Slot& s) {
    while (!has_room(s) && !kept_.empty() && !fd_starved_) {
        drop_kept_now(slots_[kept_.back()]);
    }
    return has_room(s);
}

void Worker::keep_connection(Slot& s) {
    RP_ASSERT_HOT(!s.kept);
    RP_ASSERT_HOT(s.fd >= 0);
    RP_ASSERT_HOT(kept_.size() < kept_.capacity());  // capacity for every slot: no allocation
    s.kept = true;
    s.kept_at = static_cast<std::uint32_t>(kept_.size());
    kept_.push_back(static_cast<std::uint32_t>(&s - slots_.data()));
}

// Out of the kept list (the slot's probe takes its connection, or it is closed).
void Worker::unkeep(Slot& s) {
    RP_ASSERT_HOT(s.kept);
    RP_ASSERT_HOT(kept_[s.kept_at] == static_cast<std::uint32_t>(&s - slots_.data()));
    const std::uint32_t last = kept_.back();
    kept_[s.kept_at] = last;
    slots_[last].kept_at = s.kept_at;
    kept_.pop_back();
    s.kept = false;
}

void Worker::drop_kept(Slot& s) {
    if (s.kept) {
        unkeep(s);
        close_socket(s);
    }
}

void Worker::drop_kept_now(Slot& s) {
    unkeep(s);
    release_now(s);
    bump(counters_.kept_given_way);
}

void Worker::release_now(Slot& s) {
    if (s.direct) {
        const int none = -1;
        io_uring_register_files_update(ring_.raw(), static_cast<unsigned>(s.fd), &none, 1);
        free_files_.push_back(static_cast<std::uint32_t>(s.fd));
    } else {
        ::close(s.fd);
        fds_held_ -= 1;
    }
    s.fd = -1;
    s.direct = false;
}

// Wakes whatever the kernel still holds for a probe's socket (a connect in SYN_SENT is aborted
// by any shutdown; a pending recv returns). Under closePolicy reset only the read side: shutting
// the write side sends a FIN, the backend answers with its own, and the socket sits in
// TIME_WAIT before the linger-0 close could send its RST.
void Worker::force_down(Slot& s) {
    const bool reset = plan_->targets[s.plan_index].close_policy == ClosePolicy::Reset;
    if (!s.direct) {
        ::shutdown(s.fd, reset ? SHUT_RD : SHUT_RDWR);
        return;
    }
    // Reset never uses a direct socket (its linger option needs a descriptor). The kernel
    // runs a shutdown in its worker threads and looks the table entry up only then, so it is
    // counted like the probe's own operations: the entry is not closed and given to another
    // probe's socket before it has run.
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_shutdown(sqe, s.fd, SHUT_RDWR);
    on_socket_of(sqe, true);
    io_uring_sqe_set_data64(sqe, pack_user_data({static_cast<std::uint32_t>(&s - slots_.data()),
                                                 s.generation, Op::Shutdown}));
    s.pending += 1;
}

// Direct sockets: a file table in the ring with an entry for every socket the budget lets
// this worker hold (in flight or closing), at most the descriptor limit, which the kernel
// applies to the table's size. Best effort: without them each probe calls socket().
void Worker::set_up_direct_sockets() {
    const bool has_socket = ring_.supports(IORING_OP_SOCKET);
    rlimit nofile{};
    const bool limited =
        ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY;
    const std::size_t limit = limited ? nofile.rlim_cur : std::size_t{1} << 20;
    std::size_t entries = slots_.size();
    if (budget_ != 0) {
        entries = std::min(entries, budget_);
    }
    entries = std::max<std::size_t>(1, std::min<std::size_t>({entries, limit, 1u << 20}));
    if (has_socket && ring_.register_file_table(static_cast<unsigned>(entries))) {
        direct_ = true;
        files_registered_ = entries;
        free_files_.reserve(entries);
        for (std::size_t i = entries; i-- > 0;) {
            free_files_.push_back(static_cast<std::uint32_t>(i));
        }
        mode_ += "+direct-sockets";
    }
}

}  // namespace ringprobe::engine
