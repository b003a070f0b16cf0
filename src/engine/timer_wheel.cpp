// The hierarchical timing wheel (see timer_wheel.hpp for the contract).
//
// Layout. A tick is split into 6-bit digits; level L holds the timers whose expiry differs
// from now() first (from the top) in digit L, in slot = digit L of the expiry. A timer on
// level 0 therefore expires within the current 64-tick block; one on level L expires within
// the current 64^(L+1)-tick block but after the current 64^L-tick block. When now() enters a
// new 64^L-tick block, the slot of level L for that block is emptied and its timers are
// re-inserted relative to the new now(), landing on a lower level (or on level 0's current
// slot, which is fired at once). So every timer fires on its own tick, after at most L
// cascades, never rounded to a level's granularity.
//
//   level  slots  granularity (ticks)  covers up to (ticks)   at a 100 us tick
//   0      64     1                    2^6   = 64             6.4 ms
//   1      64     2^6                  2^12  = 4,096          0.41 s
//   2      64     2^12                 2^18  = 262,144        26 s
//   3      64     2^18                 2^24  = 16.8 M         28 min
//   4      64     2^24                 2^30  = 1.07 G         30 h
//   5      64     2^30                 2^36  = 68.7 G         80 days
//   6      64     2^36                 2^42                   14 years
//   7..9   64     2^42 .. 2^54         2^48 .. 2^60
//   10     16     2^60                 2^64 (the whole uint64 range)
//
// Eleven levels cover every uint64 tick, so there is no overflow list and no clamping. The
// cost is 11 x 64 slot heads (about 17 KiB per worker) and, per timer, at most one cascade per
// level it passes through: a 30 s probe interval at 100 us (300,000 ticks) starts on level 3
// and is moved three times before it fires.
//
// Skipping idle time. Each level keeps a 64-bit occupancy word. All occupied slots of level L
// lie after now()'s digit L (a timer is never on the level of a digit it shares with now()),
// so the next event of level L is its lowest occupied slot, and lower levels' events come
// before higher levels' ones. step() jumps straight to the earliest event instead of walking
// the ticks in between: an advance() over any gap costs O(levels) per non-empty slot visited
// plus O(1) per timer cascaded or fired, never O(ticks elapsed).
#include "engine/timer_wheel.hpp"

#include <algorithm>
#include <bit>

namespace ringprobe::engine {
namespace {

constexpr unsigned shift_of(unsigned level) {
    return level * TimerWheel::slot_bits;
}

// The bits of a tick above level `level` (the block of 64^(level+1) ticks it lies in).
constexpr std::uint64_t block_above(std::uint64_t tick, unsigned level) {
    unsigned bits = shift_of(level + 1);
    return bits >= 64 ? 0 : tick & ~((std::uint64_t{1} << bits) - 1);
}

constexpr unsigned digit(std::uint64_t tick, unsigned level) {
    return static_cast<unsigned>(tick >> shift_of(level)) & (TimerWheel::slots_per_level - 1);
}

// The level a timer expiring at `expires` belongs on while the wheel is at `now`.
constexpr unsigned level_of(std::uint64_t expires, std::uint64_t now) {
    std::uint64_t diff = expires ^ now;
    if (diff == 0) {
        return 0;
    }
    return static_cast<unsigned>(63 - std::countl_zero(diff)) / TimerWheel::slot_bits;
}

static_assert(TimerWheel::levels * TimerWheel::slot_bits >= 64, "levels must cover uint64");
static_assert(level_of(1, 0) == 0 && level_of(64, 63) == 1 && level_of(~0ULL, 0) == 10);
static_assert(block_above(~0ULL, 10) == 0 && block_above(4095, 0) == 4032);

}  // namespace

TimerWheel::TimerWheel(std::uint64_t now_tick) : now_(now_tick) {
    for (auto& level : slots_) {
        for (auto& head : level) {
            list_init(head);
        }
    }
    list_init(due_);
    list_init(firing_);
}

void TimerWheel::list_push(TimerNode& head, TimerNode& n) {
    n.prev = head.prev;
    n.next = &head;
    head.prev->next = &n;
    head.prev = &n;
}

void TimerWheel::list_splice(TimerNode& from, TimerNode& to) {
    if (list_empty(from)) {
        return;
    }
    TimerNode* first = from.next;
    TimerNode* last = from.prev;
    first->prev = to.prev;
    to.prev->next = first;
    last->next = &to;
    to.prev = last;
    list_init(from);
}

void TimerWheel::unlink(TimerNode& n) {
    n.prev->next = n.next;
    n.next->prev = n.prev;
    n.next = nullptr;
    n.prev = nullptr;
}

void TimerWheel::insert(TimerNode& n) {
    unsigned level = level_of(n.expires, now_);
    unsigned slot = digit(n.expires, level);
    list_push(slots_[level][slot], n);
    occupied_[level] |= std::uint64_t{1} << slot;
}

void TimerWheel::schedule(TimerNode& n, std::uint64_t expires_tick) {
    cancel(n);
    n.expires = expires_tick;
    if (expires_tick <= now_) {
        list_push(due_, n);
    } else {
        insert(n);
    }
    ++size_;
}

void TimerWheel::cancel(TimerNode& n) {
    if (!scheduled(n)) {
        return;
    }
    RP_ASSERT_HOT(size_ > 0);
    --size_;
    if (n.expires <= now_) {  // on the due or the firing list: no occupancy bit to keep
        unlink(n);
        return;
    }
    unsigned level = level_of(n.expires, now_);
    unsigned slot = digit(n.expires, level);
    RP_ASSERT_HOT((occupied_[level] >> slot) & 1U);
    unlink(n);
    if (list_empty(slots_[level][slot])) {
        occupied_[level] &= ~(std::uint64_t{1} << slot);
    }
}

TimerNode* TimerWheel::pop_firing() {
    if (list_empty(firing_)) {
        return nullptr;
    }
    TimerNode* n = firing_.next;
    unlink(*n);
    RP_ASSERT_HOT(size_ > 0);
    --size_;
    return n;
}

std::uint64_t TimerWheel::next_expiry() const {
    if (!list_empty(due_) || !list_empty(firing_)) {
        return now_;
    }
    return next_event();
}

std::uint64_t TimerWheel::next_expiry_exact(std::size_t max_scan) const {
    if (!list_empty(due_) || !list_empty(firing_)) {
        return now_;
    }
    // The earliest timer is in the lowest occupied slot of the lowest occupied level: every
    // timer of a level expires before every timer of the levels above (see "Skipping idle
    // time"). On level 0 a slot is one tick; above, its timers' own expiries are the answer.
    for (unsigned level = 0; level < levels; ++level) {
        if (occupied_[level] == 0) {
            continue;
        }
        auto slot = static_cast<unsigned>(std::countr_zero(occupied_[level]));
        const std::uint64_t cascade =
            block_above(now_, level) | (std::uint64_t{slot} << shift_of(level));
        if (level == 0) {
            return cascade;
        }
        const TimerNode& head = slots_[level][slot];
        std::uint64_t earliest = empty_expiry;
        std::size_t seen = 0;
        for (const TimerNode* n = head.next; n != &head; n = n->next) {
            if (++seen > max_scan) {
                return cascade;
            }
            earliest = std::min(earliest, n->expires);
        }
        RP_ASSERT_HOT(earliest >= cascade && earliest != empty_expiry);
        return earliest;
    }
    return empty_expiry;
}

std::uint64_t TimerWheel::next_event() const {
    for (unsigned level = 0; level < levels; ++level) {
        if (occupied_[level] != 0) {
            auto slot = static_cast<unsigned>(std::countr_zero(occupied_[level]));
            return block_above(now_, level) | (std::uint64_t{slot} << shift_of(level));
        }
    }
    return empty_expiry;
}

bool TimerWheel::step(std::uint64_t limit) {
    std::uint64_t next = next_event();
    RP_ASSERT_HOT(next > now_ || next == empty_expiry);
    if (next == empty_expiry || next > limit) {
        now_ = limit;
        return false;
    }
    now_ = next;
    // Cascade from the highest level whose block starts at now_ down to level 1, so a timer
    // moved down from level L can still be moved again by level L-1 in this same step.
    unsigned top = 0;
    while (top + 1 < levels && (now_ & ((std::uint64_t{1} << shift_of(top + 1)) - 1)) == 0) {
        ++top;
    }
    for (unsigned level = top; level >= 1; --level) {
        unsigned slot = digit(now_, level);
        if (((occupied_[level] >> slot) & 1U) == 0) {
            continue;
        }
        occupied_[level] &= ~(std::uint64_t{1} << slot);
        TimerNode moving;
        list_init(moving);
        list_splice(slots_[level][slot], moving);
        while (!list_empty(moving)) {
            TimerNode& n = *moving.next;
            unlink(n);
            RP_ASSERT_HOT(n.expires >= now_);
            insert(n);  // expires == now_ lands on level 0, slot digit(now_, 0)
        }
    }
    unsigned slot0 = digit(now_, 0);
    if ((occupied_[0] >> slot0) & 1U) {
        occupied_[0] &= ~(std::uint64_t{1} << slot0);
        list_splice(slots_[0][slot0], firing_);
    }
    return true;
}

}  // namespace ringprobe::engine
