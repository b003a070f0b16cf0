// Stage: the schedule. When each probe starts: first probes spread over an interval at phases
// on the start grid (so the targets of one instant start in one wake-up, neighbours in memory),
// later ones an interval after the previous scheduled start plus jitter; what a due timer
// means in each probe state; and the start line where due probes wait for a socket, a TLS
// client or the next turn (deferred, held), oldest first. A turn's size is decided here too
// (turn_full), since it is what the line waits for.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <utility>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "engine/cadence.hpp"
#include "engine/probe_slot.hpp"

namespace ringprobe::engine {

namespace {

std::uint64_t xorshift(std::uint64_t& s) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

}  // namespace

std::uint64_t Worker::first_spread_ns(const Target& t) const {
    return std::max<std::uint64_t>(
        plan_->start_spread_ms != 0 ? ms_to_ns(plan_->start_spread_ms) : ms_to_ns(t.interval_ms),
        tick_ns);
}

std::uint64_t Worker::start_phase_ns(const Target& t, std::uint64_t spread_ns) {
    // A stable hash of the probe's identity, not its rank among the worker's slots: a target
    // added to or removed from the plan moves no other target's phase, so a reload keeps every
    // unchanged target's place in its interval and a restart puts each where it was. Hashes
    // are uniform, so the starts still spread over the interval; the constant keeps the phase
    // independent of the shard (shard_of mixes the same identity).
    return mix64(t.identity_hash ^ 0x9a5e5eedULL) % spread_ns;
}

void Worker::schedule_first_probes() {
    // First probes spread over one interval (or the plan's startSpreadMs), so a restart is no
    // thundering herd, each at its stable phase (start_phase_ns) floored to the start grid:
    // phases are whole start grids from a quantum boundary, so the targets of one start
    // instant start in one wake-up. lay_out_slots puts the slots in the order of their phases,
    // so the targets of one instant are neighbours in this worker's memory (slots, parsers):
    // a start batch touches a few pages instead of one each; on a virtual machine a page not
    // touched for a while costs microseconds to reach (bench/harness/results/HISTORY.md,
    // "Neighbours start together").
    size_start_grid();
    start_anchor_ns_ = on_grid(opt_.start_mono_ns);
    for (Slot& s : slots_) {
        if (!s.active) {
            continue;  // an FQDN target's address slot: scheduled once DNS gives it an address
        }
        place_first_start(s, start_anchor_ns_);
    }
}

void Worker::place_first_start(Slot& s, std::uint64_t not_before_ns) {
    // The first instant at or after not_before_ns that is the target's phase plus whole
    // spreads from the anchor: at start that is the phase itself; a target a reload adds
    // starts where a restart with the new plan would have put it.
    const Target& t = plan_->targets[s.plan_index];
    const std::uint64_t spread = first_spread_ns(t);
    const std::uint64_t phase = start_phase_ns(t, spread);
    std::uint64_t base = start_anchor_ns_ + phase - phase % start_grid_ns_;
    if (base < not_before_ns) {
        base += (not_before_ns - base + spread - 1) / spread * spread;
    }
    s.base_ns = base;
    s.home_ns = base;
    s.next_ns = on_grid(s.base_ns + jitter_ns(t));
    wheel_.schedule(s.timer, ns_to_tick_ceil(s.next_ns));
}

void Worker::size_start_grid() {
    // The intervals' greatest common divisor g (a grid dividing every interval keeps each
    // target on it from one probe to the next) and the shard's probes per g, p = sum of
    // g / interval, exact in integers (each target once; an FQDN target as one address, though
    // it probes each address it resolves to). The shard starts p x quantum / g probes a
    // quantum, so about startBatch share an instant m quanta wide when
    // m = startBatch x g / (p x quantum), rounded down; then at most 50 ms and a divisor of g.
    auto interval_of = [this](std::size_t i) {
        return std::max<std::uint64_t>(ms_to_ns(plan_->targets[shard_[i]].interval_ms), tick_ns);
    };
    // Each target once: an IP target's slot, an FQDN target's own slot; not the pool's.
    auto first_of_target = [this](std::size_t i) {
        const Slot& s = slots_[i];
        return !s.retired && (s.name == no_name || names_[s.name].own_slot == i);
    };
    std::uint64_t g = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (first_of_target(i)) {  // not the other address slots of an FQDN target
            g = std::gcd(g, interval_of(i));
        }
    }
    std::uint64_t p = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (first_of_target(i)) {
            p += g / interval_of(i);
        }
    }
    start_grid_ns_ = quantum_ns_;
    if (p == 0 || plan_->start_batch <= 1) {
        return;
    }
    // 50 ms, the longest the worker sleeps anyway: at 2,000 probes/s a worker then starts 50
    // probes every 25 ms rather than 20 every 10 ms, and on this virtual machine a probe costs
    // less the more probes share a wake-up (bench/harness/results/HISTORY.md, "The cap"). At
    // 10,000 probes/s startBatch fills a 5 ms grid, well inside the cap.
    constexpr std::uint64_t max_grid_ns = 50'000'000;
    // startBatch <= 1024 and g <= 86,400 s in ns: the product stays below 2^63.
    std::uint64_t m = std::uint64_t{plan_->start_batch} * g / (p * quantum_ns_);
    m = std::min<std::uint64_t>(m, max_grid_ns / quantum_ns_);
    for (; m > 1; --m) {
        if (g % (m * quantum_ns_) == 0) {
            break;
        }
    }
    start_grid_ns_ = std::max<std::uint64_t>(m, 1) * quantum_ns_;
}

std::uint64_t Worker::jitter_ns(const Target& t) {
    if (t.jitter_ms == 0) {
        return 0;
    }
    return xorshift(rng_) % ms_to_ns(t.jitter_ms);
}

void Worker::schedule_next(Slot& s, std::uint64_t now) {
    // From the previous scheduled start, not from completion: intervals do not drift. The
    // cadence follows the target's health (cadence.hpp: regular, fast after a failure of a
    // Healthy target, unhealthy while Unhealthy). A probe that ended past its next start (it ran
    // longer than the cadence, or it started late, waiting in the deferred line for a socket or
    // a turn) skips to the first start still ahead; the starts skipped are counted
    // (skipped_intervals).
    const Target& t = plan_->targets[s.plan_index];
    const Cadences k = cadences_of(t);
    const Cadence c = cadence_of(s.health);
    const std::uint64_t step = k.of(c);
    s.base_ns = next_base_ns(s.base_ns, s.home_ns, c, k);
    if (s.base_ns <= now) {
        const std::uint64_t behind = (now - s.base_ns) / step + 1;
        s.base_ns += behind * step;
        bump(counters_.skipped_intervals, behind);
    }
    if (c == Cadence::Regular) {
        s.home_ns = s.base_ns;
    }
    s.next_ns = on_grid(s.base_ns + jitter_ns(t));
    wheel_.schedule(s.timer, ns_to_tick_ceil(s.next_ns));
}

void Worker::on_timer(Slot& s, std::uint64_t now) {
    switch (s.state) {
        case State::Idle:
            if (!s.active) {
                return;  // its address left the answer
            }
            if (turn_full()) {
                hold(s);
                return;
            }
            if (!make_room(s) ||
                (protocol_is_tls(plan_->targets[s.plan_index].protocol) && tls_free_.empty())) {
                // Out of socket budget: ours, not the backend's. Wait in line for a free one
                // (started, oldest first, as soon as a turn has reaped the closes that free
                // some: before its timers, so the line is served ahead of new starts).
                defer(s);
                return;
            }
            start_probe(s, now);
            return;
        case State::Connecting: decide(s, Reason::ConnectTimeout, now); return;
        case State::Exchanging:
            // Waiting for a receive buffer when the deadline came: the answer may be in the
            // socket already, and the shortage is ours.
            decide(s,
                   s.recv_parked ? Reason::ProberNoBuffers
                   : s.tls != no_tls && !tls_pool_[s.tls]->handshake_done()
                       ? Reason::TlsHandshakeTimeout
                       : Reason::ResponseTimeout,
                   now);
            // A waiting receive has nothing in the kernel: no completion will come to finish
            // the probe (decide sends no cancel and arms no guard when nothing is pending), so
            // it finishes here, or its target would never be probed again.
            maybe_finish(s, now);
            return;
        case State::Finishing:
            // A cancel did not bring every completion back in time: force the socket down
            // (bounded: this re-arms at most every 100 ms until the kernel lets go).
            if (s.fd >= 0) {
                force_down(s);
            }
            wheel_.schedule(s.timer, ns_to_tick_ceil(now + 100'000'000));
            return;
    }
}

void Worker::enqueue_start(Slot& s) {
    RP_ASSERT_HOT(deferred_count_ < deferred_.size());
    deferred_[(deferred_head_ + deferred_count_) % deferred_.size()] =
        static_cast<std::uint32_t>(&s - slots_.data());
    deferred_count_ += 1;
}

void Worker::defer(Slot& s) {
    enqueue_start(s);
    bump(counters_.deferred_starts);
}

void Worker::hold(Slot& s) {
    enqueue_start(s);
    bump(counters_.held_starts);
}

// Turn sizes (Worker::turn_full). A turn starts at most turn_starts probes: as many as there
// are receive buffers, and at least 256. A worker that is behind finds many starts due at once;
// started together, their answers land in one kernel entry, more than the buffers, every
// receive without one costs a failed completion and a second ask, and the longer turn finds
// still more due: at 10,000 targets one core falls from 30,000 probes/s to 22,000-26,000 that
// way (bench/harness/results/HISTORY.md, "A turn starts at most `turn_starts` probes").
// Held starts wait in the deferred line, oldest first, and go at the next turn ahead of new
// ones. The floor of 256: at 1,000 targets (128 buffers) a cap of 128 cost a fifth of the top
// rate, the turns' own cost then outweighing the shortage.
//
// A turn of more than turn_chunk starts (off unless set: --turn-chunk) goes to the kernel in
// chunks, and the completions posted meanwhile are reaped between them. A loopback connect
// runs its whole handshake inside the submission (about 35 us a start on the benchmark VM), so
// a turn of 256 starts is about 9 ms in one kernel entry; answers that arrive in it are reaped
// only at its end and closed in the next entry, and a backend whose answer and FIN are both
// unacknowledged sends a loss probe after about 8 ms (two jiffies at HZ 250): most probes of
// such turns are retransmitted, which makes the turns longer still (bench/harness/results/
// HISTORY.md, "What the slow state is made of"). In chunks an answer is closed within about one
// chunk's time. Not the default: at 50,000 targets, where instants of more than 64 starts are
// common, chunks of 64 make the start lateness p99 16-20 ms against 0.6-3.6 ms without, and since
// late turns reap every answer (Worker::reap) few such loss probes are left for chunks to prevent.

void Worker::start_deferred(std::uint64_t now) {
    fd_starved_ = false;
    while (deferred_count_ > 0 && !turn_full()) {
        Slot& s = slots_[deferred_[deferred_head_]];
        if (s.active && !make_room(s)) {
            break;  // the oldest waits for a socket; order is kept
        }
        if (s.active && protocol_is_tls(plan_->targets[s.plan_index].protocol) &&
            tls_free_.empty()) {
            break;  // the oldest waits for a TLS client; order is kept
        }
        deferred_head_ = (deferred_head_ + 1) % deferred_.size();
        deferred_count_ -= 1;
        if (!s.active) {
            continue;  // its address left the answer while it waited
        }
        start_probe(s, now);
    }
}

}  // namespace ringprobe::engine
