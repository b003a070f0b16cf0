// Stage: a reload. The engine's main thread reads the new plan, matches its targets with the
// running ones, prepares the new report segment and hands each worker its part
// (WorkerReload); each worker applies it at the start of a loop turn, between two reaps, so no
// probe path locks or waits:
//  - a target whose probe is unchanged (same_probe) keeps its slot, and with it its health,
//    counters, consecutive counts, last change, TLS session, resolved addresses, the probe in
//    flight and its place in the timer wheel; its records are copied into the new segment,
//    which the worker alone writes for it;
//  - a removed target stops: a probe in flight is cancelled and its completions end it without
//    counting or publishing, then its slot is free;
//  - an added target takes a free slot or an appended one and starts at its stable phase
//    (Worker::place_first_start), where a start with the new plan would have put it.
// The engine renames the new segment into place once every worker has switched, so readers
// see the old report or the new one, and frees the old plan and trust contexts only once every
// probe that could still use them has ended (the old plan's longest timeout).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "engine/engine.hpp"
#include "engine/probe_slot.hpp"

namespace ringprobe::engine {

namespace {

bool same_roots(const Plan& pa, const Target& a, const Plan& pb, const Target& b) {
    if (a.trusted_roots.size() != b.trusted_roots.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.trusted_roots.size(); ++i) {
        if (pa.trusted_roots[a.trusted_roots[i]].data !=
            pb.trusted_roots[b.trusted_roots[i]].data) {
            return false;
        }
    }
    return true;
}

}  // namespace

bool same_probe(const Plan& pa, const Target& a, const Plan& pb, const Target& b) {
    return a.identity_hash == b.identity_hash && a.address == b.address && a.is_fqdn == b.is_fqdn &&
           a.address_known == b.address_known && a.port == b.port && a.protocol == b.protocol &&
           a.host == b.host && a.path == b.path && a.sni == b.sni &&
           a.match_status == b.match_status && a.match_body == b.match_body &&
           a.interval_ms == b.interval_ms && a.timeout_ms == b.timeout_ms &&
           a.jitter_ms == b.jitter_ms && a.unhealthy_threshold == b.unhealthy_threshold &&
           a.healthy_threshold == b.healthy_threshold && a.close_policy == b.close_policy &&
           a.validate_chain == b.validate_chain && a.validate_sni == b.validate_sni &&
           a.tls_resume == b.tls_resume &&
           a.cert_expiry_warning_days == b.cert_expiry_warning_days &&
           a.dns_aggregation == b.dns_aggregation && a.request == b.request &&
           same_roots(pa, a, pb, b);
}

// ---- the worker's side ----

void Worker::apply_reload(const WorkerReload& r, std::uint64_t now) {
    const report::Writer* const old_writer = writer_;
    const std::vector<std::uint32_t>& to = *r.new_index_of_old;
    // Kept IP targets: records into the new segment, then the new index. Removed: stopped.
    for (Slot& s : slots_) {
        if (s.retired || s.name != no_name) {
            continue;  // FQDN slots go with their name (keep_names)
        }
        const std::uint32_t next = to[s.plan_index];
        if (next == WorkerReload::gone) {
            retire(s, now);
            continue;
        }
        if (r.writer != nullptr && old_writer != nullptr) {
            r.writer->copy_target_from(*old_writer, s.plan_index, next);
        }
        s.plan_index = next;
    }
    keep_names(r, old_writer, now);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        shard_[i] = slots_[i].plan_index;
    }
    plan_ = r.plan;
    writer_ = r.writer;
    tls_ = r.tls;
    dns_.name_of_target = r.name_of_target;
    epoch_ = r.epoch;
    if (tls_ != nullptr && tls_pool_.empty()) {
        make_tls_pool();
    }
    // Room for the added targets in one growth: IP targets take free slots first, FQDN targets
    // kAddressesPerName appended slots each.
    std::size_t ip_added = 0;
    std::size_t fqdn_added = 0;
    for (std::uint32_t t : r.added) {
        const bool fqdn = plan_->targets[t].is_fqdn && dns_.resolver != nullptr;
        (fqdn ? fqdn_added : ip_added) += 1;
    }
    const std::size_t ip_appended = ip_added - std::min(ip_added, free_slots_.size());
    const std::size_t first_new = slots_.size();
    grow_slots(ip_appended + fqdn_added * abi::kAddressesPerName);
    for (std::size_t i = ip_appended; i > 0; --i) {
        free_slots_.push_back(static_cast<std::uint32_t>(first_new + i - 1));
    }
    std::size_t fqdn_next = first_new + ip_appended;
    for (std::uint32_t t : r.added) {
        add_target(t, now, fqdn_next);
    }
    targets_owned_ = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        const bool first_of_target = slots_[i].name == no_name ||
                                     slots_[i].addr_k == 0;  // an FQDN target's slots count once
        targets_owned_ += !slots_[i].retired && first_of_target ? 1 : 0;
    }
    publish_stats(now);
}

// FQDN targets: a kept name follows its new index and report slot (its records copied); a
// removed one retires its address slots and leaves the lookup.
void Worker::keep_names(const WorkerReload& r, const report::Writer* old_writer,
                        std::uint64_t now) {
    const std::vector<std::uint32_t>& to = *r.new_index_of_old;
    name_lookup_.clear();
    for (std::uint32_t i = 0; i < names_.size(); ++i) {
        NameSlot& n = names_[i];
        if (n.retired) {
            continue;
        }
        const std::uint32_t next = to[n.plan_index];
        if (next == WorkerReload::gone) {
            n.retired = true;
            for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
                retire(slots_[n.first_slot + k], now);
            }
            continue;
        }
        if (r.writer != nullptr && old_writer != nullptr) {
            r.writer->copy_target_from(*old_writer, n.plan_index, next);
        }
        n.plan_index = next;
        n.report_slot = r.writer != nullptr ? r.writer->name_slot(next) : abi::kNoSlot;
        for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
            slots_[n.first_slot + k].plan_index = next;
        }
        name_lookup_.emplace_back((*r.name_of_target)[next], i);
    }
    std::sort(name_lookup_.begin(), name_lookup_.end());
}

// A removed target's slot: never scheduled again; a probe in flight is cancelled and ends in
// finish(), which frees the slot; an idle slot is free at once.
void Worker::retire(Slot& s, std::uint64_t now) {
    s.retired = true;
    s.active = false;
    if (s.state == State::Idle) {
        wheel_.cancel(s.timer);
        free_slots_.push_back(static_cast<std::uint32_t>(&s - slots_.data()));
        return;
    }
    if (s.state != State::Finishing) {
        decide(s, Reason::ConnectionReset, now);  // a verdict nobody counts: it ends the probe
    }
    maybe_finish(s, now);
}

// The deferred line without retired slots (a free slot may go to an added target, which must
// not start before its phase), in a ring as large as the slots.
void Worker::rebuild_start_line() {
    std::vector<std::uint32_t> line(std::max<std::size_t>(slots_.size(), 1));
    std::size_t kept = 0;
    for (std::size_t k = 0; k < deferred_count_; ++k) {
        const std::uint32_t i = deferred_[(deferred_head_ + k) % deferred_.size()];
        if (!slots_[i].retired) {
            line[kept++] = i;
        }
    }
    deferred_ = std::move(line);
    deferred_head_ = 0;
    deferred_count_ = kept;
}

// More slots: a new array, each slot copied with its timer re-armed at the same tick (the wheel
// links nodes by address). Nothing else points into the array: the start line, the TLS pool,
// user_data and names hold indices.
void Worker::grow_slots(std::size_t extra) {
    if (extra == 0) {
        rebuild_start_line();
        return;
    }
    const std::size_t old_n = slots_.size();
    const std::size_t n = old_n + extra;
    auto storage = std::make_unique<Slot[]>(n);
    for (std::size_t i = 0; i < old_n; ++i) {
        Slot& from = slots_[i];
        const bool armed = wheel_.scheduled(from.timer);
        const std::uint64_t expires = from.timer.expires;
        wheel_.cancel(from.timer);
        storage[i] = from;
        if (armed) {
            wheel_.schedule(storage[i].timer, expires);
        }
    }
    slots_storage_ = std::move(storage);
    slots_ = std::span<Slot>(slots_storage_.get(), n);
    parsers_.resize(n);
    shard_.resize(n);
    if (!tls_sessions_.empty()) {
        tls_sessions_.resize(n);
    }
    rebuild_start_line();
}

// An added target: an IP target takes a free slot, an FQDN target the next kAddressesPerName
// appended slots (from fqdn_next, which it moves on).
void Worker::add_target(std::uint32_t target, std::uint64_t now, std::size_t& fqdn_next) {
    const Target& t = plan_->targets[target];
    if (!(t.is_fqdn && dns_.resolver != nullptr)) {
        RP_ASSERT(!free_slots_.empty());
        const std::size_t i = free_slots_.back();
        free_slots_.pop_back();
        init_slot(i, target);
        place_first_start(slots_[i], now);
        return;
    }
    const auto first = static_cast<std::uint32_t>(fqdn_next);
    fqdn_next += abi::kAddressesPerName;
    RP_ASSERT(fqdn_next <= slots_.size());
    NameSlot n;
    n.plan_index = target;
    n.first_slot = first;
    n.report_slot = writer_ != nullptr ? writer_->name_slot(target) : abi::kNoSlot;
    const auto name_index = static_cast<std::uint32_t>(names_.size());
    names_.push_back(n);
    for (std::uint32_t k = 0; k < abi::kAddressesPerName; ++k) {
        init_slot(first + k, target);
        Slot& s = slots_[first + k];
        s.name = name_index;
        s.addr_k = static_cast<std::uint8_t>(k);
        s.active = false;  // until DNS gives it an address
    }
    const std::uint32_t id = (*dns_.name_of_target)[target];
    RP_ASSERT(id != no_name);
    name_lookup_.emplace_back(id, name_index);
    std::sort(name_lookup_.begin(), name_lookup_.end());
    // The name is already resolved for this worker: start from what the resolver knows now.
    dns::NameState st;
    if (dns_.resolver->read(id, st) && st.lookups > 0) {
        NameSlot& named = names_[name_index];
        named.state = st;
        named.have_state = true;
        reconcile(named, now);
        publish_name(named);
        aggregate(named, nullptr, now);
    }
}

// ---- the engine's side ----

Result<ReloadSummary> Engine::reload(std::unique_ptr<Plan> next) {
    auto r = apply(std::move(next));
    if (!r) {
        note_reload_refused(r.error().message);
    }
    return r;
}

void Engine::note_reload_refused(std::string_view error) {
    reloads_refused_ += 1;
    writer_->publish_reload(reload_record(report_abi::kReloadRefused, error));
}

report_abi::ReloadPayload Engine::reload_record(std::uint64_t result,
                                                std::string_view error) const {
    report_abi::ReloadPayload p{};
    std::size_t n = std::min<std::size_t>(error.size(), report_abi::kReloadErrorBytes);
    while (n < error.size() && n > 0 && (static_cast<unsigned char>(error[n]) & 0xC0) == 0x80) {
        --n;  // whole UTF-8 characters only
    }
    while (n > 0 && (error[n - 1] == '\n' || error[n - 1] == '\r')) {
        --n;
    }
    if (n > 0) {  // an applied reload's error is empty, its data() may be null
        std::memcpy(p.error, error.data(), n);
    }
    p.unix_ns = realtime_ns();
    p.result = result | (std::uint64_t{n} << 8);
    p.applied = reloads_applied_;
    p.refused = reloads_refused_;
    return p;
}

Result<ReloadSummary> Engine::apply(std::unique_ptr<Plan> next) {
    RP_ASSERT(next != nullptr);
    RP_ASSERT(!stopped_);
    ReloadSummary sum;
    if (next->digest != 0 && next->digest == plan_->digest) {
        sum.kept = plan_->targets.size();
        sum.unchanged = true;
        sum.generation = writer_->generation();
        reloads_applied_ += 1;
        writer_->publish_reload(reload_record(report_abi::kReloadApplied, {}));
        return sum;
    }
    auto names =
        std::make_unique<std::vector<std::uint32_t>>(next->targets.size(), WorkerDns::no_name);
    if (auto r = resolve_names(*next, *names); !r) {
        return unexpected(r.error());
    }
    std::unique_ptr<TlsContexts> tls;
    if (auto r = build_tls(*next, tls); !r) {
        return unexpected(r.error());
    }
    auto prepared = report::Writer::prepare(*next, opt_.name, report::WriterOptions{});
    if (!prepared) {
        return error("cannot create the report segment: " + prepared.error().message);
    }
    auto writer = std::make_unique<report::Writer>(std::move(*prepared));
    const std::uint64_t started_ns = monotonic_ns();

    // Old target -> new target, by identity and the whole probe; the rest is added.
    std::vector<std::uint32_t> new_of_old(plan_->targets.size(), WorkerReload::gone);
    std::unordered_multimap<std::uint64_t, std::uint32_t> by_identity;
    for (std::uint32_t i = 0; i < next->targets.size(); ++i) {
        by_identity.emplace(next->targets[i].identity_hash, i);
    }
    std::vector<bool> taken(next->targets.size(), false);
    for (std::uint32_t o = 0; o < plan_->targets.size(); ++o) {
        const Target& old_t = plan_->targets[o];
        auto [it, end] = by_identity.equal_range(old_t.identity_hash);
        for (; it != end; ++it) {
            if (!taken[it->second] && same_probe(*plan_, old_t, *next, next->targets[it->second])) {
                new_of_old[o] = it->second;
                taken[it->second] = true;
                sum.kept += 1;
                break;
            }
        }
    }
    sum.removed = plan_->targets.size() - sum.kept;
    std::vector<std::unique_ptr<WorkerReload>> parts;
    for (unsigned w = 0; w < workers_.size(); ++w) {
        auto part = std::make_unique<WorkerReload>();
        part->plan = next.get();
        part->writer = writer.get();
        part->tls = tls.get();
        part->name_of_target = names.get();
        part->new_index_of_old = &new_of_old;
        part->epoch = epoch_ + 1;
        parts.push_back(std::move(part));
    }
    for (std::uint32_t i = 0; i < next->targets.size(); ++i) {
        if (!taken[i]) {
            parts[shard_of(next->targets[i], opt_.workers)]->added.push_back(i);
            sum.added += 1;
        }
    }
    hand_over(parts);
    writer->copy_events_from(*writer_, new_of_old, WorkerReload::gone);

    // Every worker runs the new plan. Their queues may hold transitions said under either plan
    // (Transition::epoch says which): the old plan stays reachable until they are logged.
    prev_plan_ = plan_;
    prev_rows_ = std::move(rows_of_target_);
    epoch_ += 1;
    plan_ = next.get();
    index_rows();
    reloads_applied_ += 1;
    writer->publish_reload(reload_record(report_abi::kReloadApplied, {}));
    writer->heartbeat(realtime_ns());  // readers must not find the new segment stale
    if (auto r = writer->commit(); !r) {
        sum.warning = r.error().message;
    }
    log_transitions();
    retire_old(std::move(next), std::move(tls), std::move(names));
    writer_ = std::move(writer);
    writer_->heartbeat(realtime_ns());
    // The new plan's needs against the same means, said again even when the shortfall was
    // already logged under the old plan: the operator reloading wants to know it still holds.
    capacity_said_ = false;
    say_capacity(capacity_.probe_ms);
    resolver_published_ns_ = 0;
    publish_resolver_stats();
    sum.generation = writer_->generation();
    sum.took_ns = monotonic_ns() - started_ns;
    return sum;
}

// Posts each worker its part and waits until all have switched (a worker turns at least every
// 50 ms), keeping the heartbeat meanwhile.
void Engine::hand_over(std::vector<std::unique_ptr<WorkerReload>>& parts) {
    for (std::size_t w = 0; w < workers_.size(); ++w) {
        workers_[w]->post_reload(parts[w].get());
    }
    const std::uint64_t until = monotonic_ns() + 30'000'000'000ull;
    for (std::size_t w = 0; w < workers_.size(); ++w) {
        while (!parts[w]->done.load(std::memory_order_acquire)) {
            RP_ASSERT(monotonic_ns() < until);  // a worker that stopped turning is a bug
            writer_->heartbeat(realtime_ns());
            timespec ts{0, 500'000};
            nanosleep(&ts, nullptr);
        }
    }
}

// The old plan, trust contexts and name table stay until every probe that may still use them
// has ended: a probe kept across the reload may have its request in the kernel from the old
// plan's bytes, and a TLS handshake under way holds the old context. No probe outlives its
// timeout and the 100 ms guard after it.
void Engine::retire_old(std::unique_ptr<Plan> next, std::unique_ptr<TlsContexts> tls,
                        std::unique_ptr<std::vector<std::uint32_t>> names) {
    std::uint64_t longest_ms = 0;
    for (const Target& t : prev_plan_->targets) {
        longest_ms = std::max<std::uint64_t>(longest_ms, t.timeout_ms);
    }
    Retired old;
    old.plan = std::move(owned_plan_);
    old.tls = std::move(tls_);
    old.names = std::move(name_of_target_);
    old.free_after_ns = monotonic_ns() + ms_to_ns(longest_ms) + 2'000'000'000ull;
    retired_.push_back(std::move(old));
    prev_plan_ = nullptr;
    prev_rows_.clear();
    owned_plan_ = std::move(next);
    tls_ = std::move(tls);
    name_of_target_ = std::move(names);
}

void Engine::free_retired() {
    const std::uint64_t now = monotonic_ns();
    std::erase_if(retired_, [now](const Retired& r) { return now >= r.free_after_ns; });
}

// FQDN targets of the new plan: each name must already be resolved for the worker that owns
// the target (the resolver's names and subscribers are fixed when it starts).
Result<void> Engine::resolve_names(const Plan& next, std::vector<std::uint32_t>& names) const {
    for (std::uint32_t i = 0; i < next.targets.size(); ++i) {
        const Target& t = next.targets[i];
        if (!t.is_fqdn) {
            continue;
        }
        const auto it = watched_.find({name_key(t.address), shard_of(t, opt_.workers)});
        if (it == watched_.end()) {
            return error("server " + t.address +
                         ": this engine does not resolve that name for the worker that would "
                         "probe it (the names resolved are fixed when the engine starts); "
                         "restart the engine to add it");
        }
        names[i] = it->second;
    }
    return {};
}

}  // namespace ringprobe::engine
