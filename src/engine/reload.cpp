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
#include "common/text.hpp"
#include "engine/engine.hpp"
#include "engine/probe_slot.hpp"

namespace ringprobe::engine {

namespace {

// The same certificate and key: a renewed file under the same name is another probe, whose
// session (made with the old certificate) must not be resumed.
bool same_client_certificate(const Plan& pa, const Target& a, const Plan& pb, const Target& b) {
    if (a.client_certificate == no_client_certificate ||
        b.client_certificate == no_client_certificate) {
        return a.client_certificate == b.client_certificate;
    }
    const ClientCertificate& ca = pa.client_certificates[a.client_certificate];
    const ClientCertificate& cb = pb.client_certificates[b.client_certificate];
    return ca.certificate == cb.certificate && ca.key == cb.key;
}

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
           a.jitter_ms == b.jitter_ms && a.fast_interval_ms == b.fast_interval_ms &&
           a.unhealthy_interval_ms == b.unhealthy_interval_ms &&
           a.unhealthy_threshold == b.unhealthy_threshold &&
           a.healthy_threshold == b.healthy_threshold && a.close_policy == b.close_policy &&
           a.validate_chain == b.validate_chain && a.validate_sni == b.validate_sni &&
           a.tls_resume == b.tls_resume &&
           a.cert_expiry_warning_days == b.cert_expiry_warning_days &&
           a.dns_aggregation == b.dns_aggregation && a.request == b.request &&
           a.proxy_protocol == b.proxy_protocol && a.connection_reuse == b.connection_reuse &&
           same_roots(pa, a, pb, b) && same_client_certificate(pa, a, pb, b);
}

// ---- the worker's side ----

void Worker::apply_reload(const WorkerReload& r, std::uint64_t now) {
    if (dns_.resolver == nullptr) {
        dns_.resolver = r.resolver;  // started for this reload: the old plan had no FQDN target
    }
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
    // Room in one growth: a slot per added target (an FQDN target's is its name's own) and
    // what the address pool needs for the names from now on; free slots are taken first.
    std::size_t names_after = 0;
    for (const NameSlot& n : names_) {
        names_after += n.retired ? 0 : 1;
    }
    bool names_tls = names_use_tls();
    for (std::uint32_t t : r.added) {
        const bool fqdn = plan_->targets[t].is_fqdn && dns_.resolver != nullptr;
        names_after += fqdn ? 1 : 0;
        names_tls = names_tls || (fqdn && protocol_is_tls(plan_->targets[t].protocol));
    }
    pool_target_ = address_pool_for(names_after);
    const std::size_t need = r.added.size() + (pool_target_ - std::min(pool_target_, pool_slots_));
    const std::size_t appended = need - std::min(need, free_slots_.size());
    const std::size_t first_new = slots_.size();
    grow_slots(appended);
    for (std::size_t i = appended; i > 0; --i) {
        free_slots_.push_back(static_cast<std::uint32_t>(first_new + i - 1));
    }
    size_address_pool(names_after, names_tls);  // first: an added name may draw from it at once
    for (std::uint32_t t : r.added) {
        add_target(t, now);
    }
    targets_owned_ = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        const Slot& s = slots_[i];
        const bool first_of_target = s.name == no_name || names_[s.name].own_slot == i;
        targets_owned_ += !s.retired && first_of_target ? 1 : 0;
    }
    publish_stats(now);
}

// The address pool to address_pool_for(names): grown from the free slots (the caller made room),
// shrunk by its free slots (a drawn one goes when it is given back, release_address). Every
// pool slot gets a TLS session when a name (kept or added) probes over TLS, so drawing one never
// allocates.
void Worker::size_address_pool(std::size_t names, bool tls) {
    pool_target_ = address_pool_for(names);
    while (pool_slots_ < pool_target_) {
        RP_ASSERT(!free_slots_.empty());
        const std::uint32_t i = free_slots_.back();
        free_slots_.pop_back();
        prepare_pool_slot(i, tls);
        pool_free_.push_back(i);
        pool_slots_ += 1;
    }
    while (pool_slots_ > pool_target_ && !pool_free_.empty()) {
        free_slots_.push_back(pool_free_.back());
        pool_free_.pop_back();
        pool_slots_ -= 1;
    }
    pool_free_.reserve(pool_slots_);
    free_slots_.reserve(slots_.size());
    if (tls) {
        if (tls_sessions_.size() < slots_.size()) {
            tls_sessions_.resize(slots_.size());
        }
        for (std::uint32_t i : pool_free_) {
            prepare_pool_slot(i, tls);
        }
        for (const NameSlot& n : names_) {
            for (std::uint32_t i : n.slot_at) {
                if (!n.retired && i != no_slot && i != n.own_slot && tls_sessions_[i] == nullptr) {
                    tls_sessions_[i] = std::make_unique<TlsSession>();
                }
            }
        }
    }
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
            if (n.unslotted != 0) {
                names_short_ -= 1;
                const std::uint64_t unprobed =
                    counters_.dns_addresses_unprobed.load(std::memory_order_relaxed);
                counters_.dns_addresses_unprobed.store(unprobed - n.unslotted,
                                                       std::memory_order_relaxed);
                n.unslotted = 0;
            }
            // Its slots leave the name as retired IP slots do (a probe in flight ends without
            // reaching the name), so the NameSlot is free for a name a reload adds.
            for (std::uint32_t slot : n.slot_at) {
                if (slot != no_slot && slot != n.own_slot) {
                    pool_slots_ -= 1;  // leaves the pool through retire() to the free slots
                    slots_[slot].name = no_name;
                    retire(slots_[slot], now);
                }
            }
            slots_[n.own_slot].name = no_name;
            retire(slots_[n.own_slot], now);
            free_names_.push_back(i);
            continue;
        }
        if (r.writer != nullptr && old_writer != nullptr) {
            r.writer->copy_target_from(*old_writer, n.plan_index, next);
        }
        n.plan_index = next;
        n.report_slot = r.writer != nullptr ? r.writer->name_slot(next) : abi::kNoSlot;
        slots_[n.own_slot].plan_index = next;
        for (std::uint32_t slot : n.slot_at) {
            if (slot != no_slot) {
                slots_[slot].plan_index = next;
            }
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
        drop_kept(s);
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
    kept_.reserve(n);
    parsers_.resize(n);
    shard_.resize(n);
    if (!tls_sessions_.empty()) {
        tls_sessions_.resize(n);
    }
    rebuild_start_line();
}

// An added target takes a free slot (an FQDN target's is its name's own; its other addresses
// draw from the address pool).
void Worker::add_target(std::uint32_t target, std::uint64_t now) {
    const Target& t = plan_->targets[target];
    RP_ASSERT(!free_slots_.empty());
    const std::uint32_t i = free_slots_.back();
    free_slots_.pop_back();
    init_slot(i, target);
    if (!(t.is_fqdn && dns_.resolver != nullptr)) {
        place_first_start(slots_[i], now);
        return;
    }
    NameSlot n;
    n.plan_index = target;
    n.own_slot = i;
    n.matcher = slots_[i].matcher;
    n.report_slot = writer_ != nullptr ? writer_->name_slot(target) : abi::kNoSlot;
    std::uint32_t name_index = 0;
    if (free_names_.empty()) {
        name_index = static_cast<std::uint32_t>(names_.size());
        names_.push_back(n);
    } else {
        name_index = free_names_.back();  // a removed name's, no slot refers to it any more
        free_names_.pop_back();
        names_[name_index] = n;
    }
    Slot& s = slots_[i];
    s.name = name_index;
    s.active = false;  // until DNS gives it an address
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
    std::size_t n = utf8_prefix_length(error, report_abi::kReloadErrorBytes);
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
    Watches want;
    if (auto r = resolve_names(*next, *names, want); !r) {
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
        part->resolver = resolver_.get();
        parts.push_back(std::move(part));
    }
    for (std::uint32_t i = 0; i < next->targets.size(); ++i) {
        if (!taken[i] && next->targets[i].owned) {
            parts[shard_of(next->targets[i], opt_.workers)]->added.push_back(i);
            sum.added += 1;
        }
    }
    // A worker may read an added name's record as soon as it switches: watched first. Names no
    // target of the new plan uses are let go once no worker holds them.
    for (const auto& [id, w] : want) {
        resolver_->watch(id, w);
    }
    hand_over(parts);
    writer->copy_events_from(*writer_, new_of_old, WorkerReload::gone);
    for (const auto& [id, w] : watched_) {
        if (!std::binary_search(want.begin(), want.end(), std::pair{id, w})) {
            resolver_->unwatch(id, w);
        }
    }
    watched_ = std::move(want);

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

// The resolver a reload's FQDN targets need, started now when the engine had none (its plan
// had no FQDN server). A resolver that cannot start refuses the reload; one started for a
// reload refused later stays, watching nothing.
Result<void> Engine::make_resolver() {
    if (resolver_ != nullptr) {
        return {};
    }
    auto resolver = std::make_unique<dns::Resolver>(resolver_options());
    if (auto r = resolver->start(); !r) {
        return error("cannot start DNS resolution: " + r.error().message);
    }
    resolver_ = std::move(resolver);
    return {};
}

// FQDN targets of the new plan: each name's resolver id, and the (id, worker) pairs to watch.
// Nothing is watched yet: apply() does it once nothing can refuse the reload.
Result<void> Engine::resolve_names(const Plan& next, std::vector<std::uint32_t>& names,
                                   Watches& want) {
    want.clear();
    for (std::uint32_t i = 0; i < next.targets.size(); ++i) {
        const Target& t = next.targets[i];
        if (!t.is_fqdn || !t.owned) {
            continue;
        }
        if (auto r = make_resolver(); !r) {
            return error("server " + t.address + ": " + r.error().message);
        }
        names[i] = resolver_->id_of(t.address);
        want.emplace_back(names[i], shard_of(t, opt_.workers));
    }
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    return {};
}

}  // namespace ringprobe::engine
