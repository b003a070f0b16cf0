// The worker's private vocabulary, shared by the files of src/engine that define its stages
// (worker.cpp, schedule.cpp, probe_start.cpp, probe_io.cpp, tls_probe.cpp, name_slots.cpp,
// socket_budget.cpp, publish.cpp): the per-target Slot and per-name NameSlot, and the small
// helpers every stage uses. The helpers are inline here because the build has no link-time
// optimisation: a helper defined in one stage's file would be a real call in the others' hot
// paths. Not part of the engine's interface; only those files include it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <ctime>

#include "common/clock.hpp"
#include "dns/resolver.hpp"
#include "engine/worker.hpp"

namespace ringprobe::engine {

// Per-target state. One probe at a time per target, so the in-flight state lives here too and
// no slot pool is needed: the memory is sized from the shard once.
inline constexpr std::uint16_t no_tls = 0xFFFF;
inline constexpr std::uint32_t no_name = WorkerDns::no_name;
namespace abi = report_abi;
// The one plaintext buffer of a worker's TLS probes: plaintext is parsed as soon as it is read.
inline constexpr std::size_t plaintext_bytes = 16 * 1024;

struct Worker::Slot {
    TimerNode timer;               // next start while Idle, deadline while in flight
    std::uint32_t plan_index = 0;  // index into Plan::targets and the report
    std::uint32_t generation = 0;  // bumped per attempt; packed into user_data
    int fd = -1;                   // a descriptor, or the ring's file table entry if direct
    bool direct = false;
    State state = State::Idle;
    std::uint8_t pending = 0;  // SQEs in flight that name this slot
    bool cancel_sent = false;
    bool send_in_flight = false;  // TLS: one ciphertext send at a time
    HealthState health;
    std::uint32_t changes = 0;         // IP target: which of its last 32 results changed its health
    bool recv_in_flight = false;       // TLS: one receive at a time
    Reason verdict = Reason::Pending;  // decided result of the attempt in flight
    Reason last_reason = Reason::Pending;
    std::uint16_t http_status = 0;
    std::uint16_t tls = no_tls;    // index into tls_pool_ while a TLS probe is in flight
    bool request_written = false;  // Https: the request went into the TLS stream
    // Tls with a PROXY header: the header and the handshake went out and the backend has sent
    // nothing yet, so its closing the connection is read as refusing the header.
    bool proxy_unanswered = false;
    bool addr_ok = false;
    // FQDN targets: this slot probes one address of the name (record addr_k of the target's
    // 16 in the report): the name's own slot, or one drawn from the worker's shared pool
    // (name_slots.cpp). Inactive: no address (never scheduled); an address that left the
    // answer while its probe was in flight is inactive and finishes that probe first.
    bool active = true;
    std::uint8_t addr_k = 0;
    // Its receive found no provided buffer: it waits, with no receive in flight, until a turn
    // has buffers to spare (resume_receives), instead of asking again at once.
    bool recv_parked = false;
    // Its target left the plan in a reload: no longer scheduled, counted or published; free for
    // an added target once a probe in flight has ended (Worker::retire). A free slot of the
    // shared address pool is marked so too: it belongs to no target.
    bool retired = false;
    std::uint32_t name = no_name;  // index into names_
    // Connection reuse (Target::connection_reuse). kept: the socket stays open while Idle, for
    // the next probe (its index in Worker::kept_ is kept_at). reused: the attempt in flight
    // runs on a kept connection. retry_fresh: that attempt met the stale keep-alive race (the
    // server closed the connection before answering): once its operations are back it starts
    // again on a fresh connection, inside the same deadline, and its first verdict counts
    // nowhere.
    bool kept = false;
    bool reused = false;
    bool retry_fresh = false;
    std::uint32_t kept_at = 0;
    std::uint64_t deadline_tick = 0;  // the attempt's deadline in wheel ticks
    std::int32_t sys_errno = 0;
    std::uint32_t sent = 0;  // request bytes sent
    std::uint32_t total_ok = 0;
    std::uint32_t total_fail = 0;
    std::uint32_t total_prober = 0;
    std::uint32_t tls_full = 0;  // IP target: its handshakes (TLS facts record)
    std::uint32_t tls_resumed = 0;
    std::uint64_t total_probes = 0;
    std::uint64_t base_ns = 0;   // scheduled start (monotonic), without jitter
    std::uint64_t home_ns = 0;   // an instant of its regular grid (cadence.hpp), <= base_ns
    std::uint64_t start_ns = 0;  // actual start of the attempt in flight
    std::uint64_t connected_ns = 0;
    std::uint64_t first_byte_ns = 0;
    std::uint64_t tls_done_ns = 0;
    std::uint64_t done_ns = 0;
    std::uint64_t next_ns = 0;  // next scheduled start (for the report)
    std::uint64_t last_probe_ns = 0;
    std::uint64_t last_change_ns = 0;
    std::uint64_t since_ns = 0;  // FQDN: when this address joined the answer
    const BodyMatcher* matcher = nullptr;
    // Receives are recvmsg(2) calls whose control message carries the kernel's receive time of
    // the bytes (SO_TIMESTAMPNS): first byte, TLS and total are stamped with it, not with the
    // instant the worker reaps the completion (up to a quantum later). The header is the
    // slot's own because the kernel writes the control message back when the receive ends.
    msghdr rx_msg{};
    alignas(cmsghdr) char rx_control[CMSG_SPACE(sizeof(timespec))] = {};
    sockaddr_in6 addr{};  // an IPv4 target's sockaddr_in fits in it
    socklen_t addr_len = 0;
};
static_assert(sizeof(sockaddr_in) <= sizeof(sockaddr_in6));

inline constexpr std::uint32_t no_slot = 0xFFFFFFFFu;

constexpr std::array<std::uint32_t, abi::kAddressesPerName> filled_no_slot() {
    std::array<std::uint32_t, abi::kAddressesPerName> a{};
    a.fill(no_slot);
    return a;
}

struct Worker::NameSlot {
    std::uint32_t plan_index = 0;
    bool retired = false;        // its target left the plan in a reload (its slots are retired)
    std::uint32_t own_slot = 0;  // always the name's: its first address is never short of one
    // Per address record k of the name in the report: the slot probing that address (its own
    // or one drawn from the pool), or no_slot.
    std::array<std::uint32_t, abi::kAddressesPerName> slot_at = filled_no_slot();
    // Addresses of the answer with no slot because the worker's pool had none free.
    std::uint8_t unslotted = 0;
    const BodyMatcher* matcher = nullptr;  // the target's, for slots drawn from the pool
    std::uint32_t report_slot = abi::kNoSlot;
    dns::NameState state{};  // as the resolver last said
    bool have_state = false;
    HealthState health;         // the aggregate (the row)
    std::uint32_t changes = 0;  // which of the row's last 32 results changed its health
    Reason reason = Reason::Pending;
    std::uint8_t flags = 0;
    std::uint64_t last_change_ns = 0;
    std::uint64_t total_probes = 0, total_ok = 0, total_fail = 0, total_prober = 0;
    std::uint32_t tls_full = 0, tls_resumed = 0;  // over all addresses: one TLS facts record
    // The row's detail is formatted only when what it says changes, not per probe.
    std::uint64_t detail_key = ~0ull;
    char detail[abi::kDetailBytes] = {};
    std::size_t detail_len = 0;
};

// makes_direct and has_room: inline here, since every start asks them (Worker declares them).
// A PROXY header names the socket's own address (getsockname), which needs a descriptor too.
inline bool Worker::makes_direct(const Slot& s) const {
    const Target& t = plan_->targets[s.plan_index];
    return direct_ && s.addr_ok && t.close_policy != ClosePolicy::Reset &&
           t.proxy_protocol == ProxyProtocol::None;
}

inline bool Worker::has_room(const Slot& s) const {
    if (s.kept) {
        return true;  // its socket is its own already
    }
    if (makes_direct(s)) {
        return !free_files_.empty();
    }
    return !fd_starved_ && (budget_ == 0 || fds_held_ < budget_);
}

template <typename T>
void bump(std::atomic<T>& c, T by = 1) {  // single writer: no locked instruction needed
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

// The kernel's receive time of a receive's bytes (SCM_TIMESTAMPNS, realtime) on the monotonic
// clock, kept within [from_ns, now]: a realtime step since the worker took its offset, or a
// receive with no stamp (an end of stream, timestamps refused), gives now, the reap time.
inline std::uint64_t received_at(const msghdr& msg, const WallClock& wall, std::uint64_t from_ns,
                                 std::uint64_t now) {
    for (const cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&msg), const_cast<cmsghdr*>(c))) {
        if (c->cmsg_len == 0) {
            break;  // the zeroed rest of the buffer: the kernel wrote nothing more
        }
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS ||
            c->cmsg_len < CMSG_LEN(sizeof(timespec))) {
            continue;
        }
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
        const std::int64_t real_ns = static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 +
                                     static_cast<std::int64_t>(ts.tv_nsec);
        const std::int64_t mono_ns = real_ns - wall.offset_ns;
        if (mono_ns >= static_cast<std::int64_t>(from_ns) &&
            mono_ns <= static_cast<std::int64_t>(now)) {
            return static_cast<std::uint64_t>(mono_ns);
        }
        return now;
    }
    return now;
}

inline std::uint32_t us_between(std::uint64_t from_ns, std::uint64_t to_ns) {
    if (from_ns == 0 || to_ns < from_ns) {
        return 0;
    }
    const std::uint64_t us = (to_ns - from_ns) / 1000;
    return us > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<std::uint32_t>(us);
}

// dns::verdict() wants a time no earlier than the state's own stamps; the loop's `now` was
// taken before the resolver thread may have written them.
inline dns::Verdict verdict_at(const dns::NameState& st, std::uint64_t now) {
    return dns::verdict(st, std::max({now, st.last_good_ns, st.last_lookup_ns}));
}

// The address a slot probes, in the resolver's form (family 0 when it has none).
inline dns::Address address_of(const sockaddr_in6& sa, bool ok) {
    dns::Address a{};
    if (!ok) {
        return a;
    }
    if (sa.sin6_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&sa);
        std::memcpy(a.bytes.data(), &v4->sin_addr, 4);
        a.family = 4;
    } else {
        std::memcpy(a.bytes.data(), &sa.sin6_addr, 16);
        a.family = 6;
    }
    return a;
}

}  // namespace ringprobe::engine
