// TimerWheel: a hierarchical timing wheel with intrusive nodes (Varghese & Lauck, ratas).
//
// Every target embeds one TimerNode in its probe slot, so scheduling never allocates. Timers
// cascade down the levels as the wheel turns and fire on the exact tick they were set for:
// never early and never late by a level's granularity (unlike the Linux kernel wheel, which
// trades precision for fewer cascades). The level table, the range and the cost bounds are
// written down in timer_wheel.cpp, where they are implemented.
//
// Nothing here allocates, formats, locks or makes a syscall; a wheel belongs to one worker.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "common/assert.hpp"

namespace ringprobe::engine {

// Embedded in the caller's probe slot. A node is linked into exactly one circular list (a
// wheel slot, the due list or the firing list) while it is scheduled, and nowhere otherwise.
// Where it sits follows from `expires` and the wheel's now(), so no level or slot is stored.
struct TimerNode {
    TimerNode* next = nullptr;  // nullptr: not scheduled
    TimerNode* prev = nullptr;
    std::uint64_t expires = 0;  // absolute tick
};
static_assert(sizeof(TimerNode) == 24, "TimerNode lives in every target's state: keep it small");

class TimerWheel {
public:
    static constexpr unsigned slot_bits = 6;
    static constexpr unsigned slots_per_level = 1U << slot_bits;  // one 64-bit occupancy word
    static constexpr unsigned levels = 11;  // 11 x 6 bits >= 64: every uint64 tick is in range
    static constexpr std::uint64_t empty_expiry = std::numeric_limits<std::uint64_t>::max();

    explicit TimerWheel(std::uint64_t now_tick);
    TimerWheel(const TimerWheel&) = delete;
    TimerWheel& operator=(const TimerWheel&) = delete;

    // O(1). A tick <= now() fires at the next advance(); rescheduling a scheduled node moves it.
    void schedule(TimerNode& n, std::uint64_t expires_tick);
    // O(1); a no-op when the node is not scheduled.
    void cancel(TimerNode& n);
    bool scheduled(const TimerNode& n) const { return n.next != nullptr; }

    // Moves now() to now_tick and calls on_expire(TimerNode&) once for every node whose tick
    // is <= now_tick, in tick order (nodes due at the same tick in any order). While a node's
    // callback runs, now() is that node's tick (or the old now() for nodes that were already
    // due). The callback may schedule or cancel any node, including the one passed; a node it
    // schedules at a tick <= now() waits for the next advance(), so a callback can never make
    // one advance() loop forever. Cost: O(levels) per visited non-empty slot plus O(1) per
    // fired timer, independent of how many ticks elapsed. Returns the number of timers fired.
    template <class F>
    std::size_t advance(std::uint64_t now_tick, F&& on_expire);

    // A tick <= the earliest pending expiry (exact when it sits on level 0, otherwise the tick
    // at which its slot cascades), now() when something is already due, empty_expiry when
    // nothing is scheduled. O(levels): the loop can sleep until it and call advance().
    std::uint64_t next_expiry() const;
    // The same, exact also when the earliest timer sits on a higher level, if its slot holds
    // at most max_scan timers (their expiries are read: O(max_scan)); otherwise next_expiry().
    // A loop that sleeps until it wakes for a timer, not for a cascade point on the way (the
    // next advance() does every cascade it passed).
    std::uint64_t next_expiry_exact(std::size_t max_scan) const;
    std::uint64_t now() const { return now_; }
    std::size_t size() const { return size_; }

private:
    static void list_init(TimerNode& head) { head.next = head.prev = &head; }
    static bool list_empty(const TimerNode& head) { return head.next == &head; }
    static void list_push(TimerNode& head, TimerNode& n);
    static void list_splice(TimerNode& from, TimerNode& to);  // appends all of from to to
    static void unlink(TimerNode& n);

    std::uint64_t next_event() const;  // the first tick at which a wheel slot fires or cascades
    void insert(TimerNode& n);         // n.expires >= now_
    // Moves now_ to the next tick <= limit at which a non-empty slot fires or cascades, does
    // the cascades and moves the timers due at that tick to firing_. False when there is no
    // such tick (now_ is then limit).
    bool step(std::uint64_t limit);
    TimerNode* pop_firing();

    std::uint64_t now_;
    std::size_t size_ = 0;
    std::array<std::uint64_t, levels> occupied_{};  // bit s: slot s of that level is non-empty
    std::array<std::array<TimerNode, slots_per_level>, levels> slots_{};
    TimerNode due_;     // scheduled at a tick <= now_: fire at the start of the next advance()
    TimerNode firing_;  // being fired by the running advance()
};

template <class F>
std::size_t TimerWheel::advance(std::uint64_t now_tick, F&& on_expire) {
    RP_ASSERT_HOT(now_tick >= now_);
    RP_ASSERT_HOT(list_empty(firing_));  // advance() is not re-entrant
    std::size_t fired = 0;
    list_splice(due_, firing_);  // only what was due before this call; new ones wait
    bool more = true;
    while (true) {
        while (TimerNode* n = pop_firing()) {
            ++fired;
            on_expire(*n);
        }
        if (!more) {
            break;
        }
        more = step(now_tick);
    }
    RP_ASSERT_HOT(now_ == now_tick);
    return fired;
}

}  // namespace ringprobe::engine
