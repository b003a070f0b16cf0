// Several engines' segments as one report (see merge.hpp).
#include "report/merge.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>

#include "common/shard.hpp"
#include "report/text.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

constexpr auto kOtherShard = static_cast<std::uint8_t>(Health::OtherShard);

std::string hex64(std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4) {
        out[static_cast<std::size_t>(i)] = digits[v & 0xF];
    }
    return out;
}

ReadError refused(std::string message) {
    return ReadError{ReadErrorKind::Unreadable, "--merge refused: " + std::move(message)};
}

std::string shard_of(const Snapshot& s) {
    const abi::ShardRecord& sh = s.info->header.shard;
    return shard_label(sh.index, sh.count);
}

// Why a segment's own rows cannot be shown: empty while its engine is live.
std::string engine_problem(const Snapshot& s) {
    std::string out;
    switch (s.engine) {
        case EngineState::Live: break;
        case EngineState::Stopped: out = "the engine was stopped"; break;
        case EngineState::Gone:
            out = "engine process ";
            append_int(out, s.info->header.engine_pid);
            out += " is gone";
            break;
        case EngineState::Stale:
            out = "its heartbeat stopped ";
            append_age(out, s.report_age_ns());
            out += " ago";
            break;
    }
    return out;
}

// The segments must be shards of one configuration: one digest, one shard count and replica
// count, each shard at most once.
Result<void, ReadError> check_agree(const std::vector<MergePart>& parts) {
    const MergePart* base = nullptr;
    std::vector<const MergePart*> by_index;
    for (const MergePart& p : parts) {
        if (!p.snap) {
            continue;
        }
        const StaticInfo& info = *p.snap->info;
        const abi::ShardRecord& sh = info.header.shard;
        if (base == nullptr) {
            base = &p;
            by_index.assign(sh.count, nullptr);
        }
        const StaticInfo& b = *base->snap->info;
        if (info.header.config_digest != b.header.config_digest) {
            return unexpected(refused(
                "the reports '" + base->name + "' and '" + p.name +
                "' run different configurations (digest " + hex64(b.header.config_digest) +
                " and " + hex64(info.header.config_digest) +
                "): a roll-out is half done; merge the engines of one configuration, or reload "
                "them all (ringprobe reload --name NAME)"));
        }
        if (info.targets.size() != b.targets.size() || info.rows.size() != b.rows.size()) {
            return unexpected(refused("the reports '" + base->name + "' and '" + p.name +
                                      "' have the same digest but different plans"));
        }
        if (sh.count != b.header.shard.count || sh.replicas != b.header.shard.replicas) {
            return unexpected(
                refused("'" + base->name + "' is shard " + shard_of(*base->snap) + " with " +
                        std::to_string(b.header.shard.replicas) + " replica(s), '" + p.name +
                        "' is shard " + shard_of(*p.snap) + " with " + std::to_string(sh.replicas) +
                        ": start every shard with the same --shard I/N count and --replicas"));
        }
        if (by_index[sh.index] != nullptr) {
            return unexpected(refused("'" + by_index[sh.index]->name + "' and '" + p.name +
                                      "' both say they are shard " + shard_of(*p.snap) +
                                      ": give each engine its own --shard index"));
        }
        by_index[sh.index] = &p;
    }
    return {};
}

// The live part with the freshest result of target t among those that probe it; -1: none.
int freshest(const std::vector<MergePart>& parts, std::uint32_t t) {
    int best = -1;
    std::uint64_t best_ns = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (!parts[i].snap) {
            continue;
        }
        const Snapshot& s = *parts[i].snap;
        if (s.engine != EngineState::Live || s.readable[t] == 0 ||
            s.states[t].health == kOtherShard) {
            continue;
        }
        if (best < 0 || s.states[t].last_probe_unix_ns > best_ns) {
            best = static_cast<int>(i);
            best_ns = s.states[t].last_probe_unix_ns;
        }
    }
    return best;
}

// Why no live engine shows target t: its owners' problems, or the shard no segment read is.
std::string unreachable_detail(const std::vector<MergePart>& parts, std::uint32_t t) {
    std::string out;
    std::string other;  // an OtherShard detail: "probed by shard 1/3"
    for (const MergePart& p : parts) {
        if (!p.snap || p.snap->readable[t] == 0) {
            continue;
        }
        const abi::TargetStatePayload& st = p.snap->states[t];
        if (st.health == kOtherShard) {
            other.assign(st.detail, st.detail_len);
            continue;
        }
        out += out.empty() ? "" : "; ";
        out += "shard " + shard_of(*p.snap) + " ('" + p.name + "'): " + engine_problem(*p.snap);
    }
    if (!out.empty()) {
        return out;
    }
    out = other.empty() ? std::string("no engine of the merge probes it")
                        : other + ", which no report of the merge is";
    for (const MergePart& p : parts) {
        if (!p.snap) {
            out += "; '" + p.name + "' could not be read";
        }
    }
    return out;
}

abi::TargetStatePayload unreachable_state(const std::string& detail) {
    abi::TargetStatePayload st{};
    st.health = static_cast<std::uint8_t>(Health::Unknown);
    st.reason = static_cast<std::uint16_t>(Reason::EngineUnreachable);
    const std::size_t n = std::min<std::size_t>(detail.size(), abi::kDetailBytes);
    std::memcpy(st.detail, detail.data(), n);
    st.detail_len = static_cast<std::uint16_t>(n);
    return st;
}

// The per-target records of part `from` for target t: state, TLS facts, DNS, history.
void take_target(Snapshot& out, const Snapshot& from, std::uint32_t t) {
    out.states[t] = from.states[t];
    out.readable[t] = 1;
    const abi::TargetRecord& tr = out.info->targets[t];
    if (tr.tls_slot != abi::kNoSlot && tr.tls_slot < out.tls.size() &&
        tr.tls_slot < from.tls.size()) {
        out.tls[tr.tls_slot] = from.tls[tr.tls_slot];
    }
    if (tr.name_slot != abi::kNoSlot && tr.name_slot < out.names.size() &&
        tr.name_slot < from.names.size()) {
        out.names[tr.name_slot] = from.names[tr.name_slot];
        const std::size_t a = std::size_t{tr.name_slot} * abi::kAddressesPerName;
        if (a + abi::kAddressesPerName <= std::min(out.addresses.size(), from.addresses.size())) {
            std::copy_n(from.addresses.begin() + static_cast<std::ptrdiff_t>(a),
                        abi::kAddressesPerName,
                        out.addresses.begin() + static_cast<std::ptrdiff_t>(a));
        }
    }
    if (t < out.history_count.size() && t < from.history_count.size()) {
        const std::size_t h = std::size_t{t} * abi::kHistoryEntries;
        std::copy_n(from.history.begin() + static_cast<std::ptrdiff_t>(h), abi::kHistoryEntries,
                    out.history.begin() + static_cast<std::ptrdiff_t>(h));
        out.history_count[t] = from.history_count[t];
    }
}

// Each transition once: from the engine whose result the row shows.
void merge_events(Snapshot& out, const std::vector<MergePart>& parts) {
    out.events = EventLog{};
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (!parts[i].snap) {
            continue;
        }
        const EventLog& log = parts[i].snap->events;
        out.events.logged += log.logged;
        out.events.overwritten += log.overwritten;
        for (const abi::EventRecord& e : log.events) {
            if (e.target < out.source_of_target.size() && out.source_of_target[e.target] == i) {
                out.events.events.push_back(e);
            }
        }
    }
    std::stable_sort(
        out.events.events.begin(), out.events.events.end(),
        [](const abi::EventRecord& a, const abi::EventRecord& b) { return a.unix_ns < b.unix_ns; });
}

// The merged view is one engine's: shard 1 of 1, probing every target.
std::shared_ptr<const StaticInfo> unsharded(const StaticInfo& info) {
    auto copy = std::make_shared<StaticInfo>(info);
    copy->header.shard.index = 0;
    copy->header.shard.count = 1;
    copy->header.shard.replicas = 1;
    copy->header.shard.owned = static_cast<std::uint32_t>(info.targets.size());
    return copy;
}

}  // namespace

Result<Snapshot, ReadError> merge_snapshots(std::vector<MergePart> parts) {
    const auto base = std::find_if(parts.begin(), parts.end(),
                                   [](const MergePart& p) { return p.snap.has_value(); });
    if (base == parts.end()) {
        if (parts.empty()) {
            return unexpected(refused("no report names given"));
        }
        return unexpected(parts.front().snap.error());
    }
    if (parts.size() >= Snapshot::kNoSource) {
        return unexpected(refused("too many reports (at most 65534)"));
    }
    if (auto ok = check_agree(parts); !ok) {
        return unexpected(ok.error());
    }
    Snapshot out = *base->snap;
    out.info = unsharded(*base->snap->info);
    const auto n = static_cast<std::uint32_t>(out.info->targets.size());
    out.source_of_target.assign(n, Snapshot::kNoSource);
    out.engine = base->snap->engine;
    out.workers.clear();
    for (const MergePart& p : parts) {
        Snapshot::Source src;
        src.name = p.name;
        if (p.snap) {
            src.shard = shard_of(*p.snap);
            src.engine = p.snap->engine;
            src.problem = engine_problem(*p.snap);
            if (p.snap->engine == EngineState::Live) {
                out.engine = EngineState::Live;
                out.heartbeat_unix_ns = std::max(out.heartbeat_unix_ns, p.snap->heartbeat_unix_ns);
                out.workers.insert(out.workers.end(), p.snap->workers.begin(),
                                   p.snap->workers.end());
            }
        } else {
            src.problem = p.snap.error().message;
        }
        out.merge_sources.push_back(std::move(src));
    }
    out.unreadable = 0;
    for (std::uint32_t t = 0; t < n; ++t) {
        const int best = freshest(parts, t);
        if (best >= 0) {
            take_target(out, *parts[static_cast<std::size_t>(best)].snap, t);
            out.source_of_target[t] = static_cast<std::uint16_t>(best);
            continue;
        }
        out.states[t] = unreachable_state(unreachable_detail(parts, t));
        out.readable[t] = 1;
        if (t < out.history_count.size()) {
            out.history_count[t] = 0;
        }
    }
    merge_events(out, parts);
    return out;
}

Result<Snapshot, ReadError> merge_reports(const std::vector<std::string>& names,
                                          const SnapshotOptions& options) {
    std::vector<MergePart> parts;
    for (const std::string& name : names) {
        auto r = Report::open(name);
        if (!r) {
            parts.push_back(MergePart{name, unexpected(r.error())});
            continue;
        }
        parts.push_back(MergePart{name, r->snapshot(options)});
    }
    return merge_snapshots(std::move(parts));
}

}  // namespace ringprobe::report
