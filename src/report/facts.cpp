// Lookups of one target's facts in a snapshot (see facts.hpp).
#include "report/facts.hpp"

#include <algorithm>

#include "report/text.hpp"

namespace ringprobe::report {
namespace abi = report_abi;

Effective effective(const Snapshot& snap, std::uint32_t t) {
    if (snap.engine != EngineState::Live) {
        return Effective{Health::Unknown, Reason::EngineUnreachable, nullptr};
    }
    if (snap.readable[t] == 0) {
        return Effective{Health::Unknown, Reason::Pending, nullptr};
    }
    const abi::TargetStatePayload& s = snap.states[t];
    return Effective{static_cast<Health>(s.health), static_cast<Reason>(s.reason), &s};
}

const abi::TlsFactsPayload* tls_facts(const Snapshot& snap, std::uint32_t t) {
    const std::uint32_t slot = snap.info->targets[t].tls_slot;
    return slot != abi::kNoSlot && slot < snap.tls.size() ? &snap.tls[slot] : nullptr;
}

const abi::NameStatePayload* name_state(const Snapshot& snap, std::uint32_t t) {
    const std::uint32_t slot = snap.info->targets[t].name_slot;
    return slot != abi::kNoSlot && slot < snap.names.size() ? &snap.names[slot] : nullptr;
}

std::span<const abi::AddressStatePayload> address_states(const Snapshot& snap, std::uint32_t t) {
    const std::uint32_t slot = snap.info->targets[t].name_slot;
    if (name_state(snap, t) == nullptr ||
        (std::size_t{slot} + 1) * abi::kAddressesPerName > snap.addresses.size()) {
        return {};
    }
    return std::span<const abi::AddressStatePayload>(
        snap.addresses.data() + std::size_t{slot} * abi::kAddressesPerName, abi::kAddressesPerName);
}

std::string_view dns_standing_name(std::uint8_t standing) {
    static constexpr std::string_view kNames[] = {"pending", "fresh", "stale", "never_resolved",
                                                  "no_address"};
    return standing < std::size(kNames) ? kNames[standing] : "pending";
}

std::string_view dns_outcome_name(std::uint8_t outcome) {
    static constexpr std::string_view kNames[] = {"pending", "ok",          "nxdomain",
                                                  "nodata",  "servfail",    "timeout",
                                                  "refused", "unreachable", "other"};
    return outcome < std::size(kNames) ? kNames[outcome] : "other";
}

void append_dns_standing(std::string& out, const Snapshot& snap, std::uint32_t t) {
    const abi::NameStatePayload* n = name_state(snap, t);
    if (n == nullptr) {
        out += "DNS not reported";
        return;
    }
    auto ago = [&](std::uint64_t when) {
        append_age(out, snap.now_unix_ns > when ? snap.now_unix_ns - when : 0);
        out += " ago";
    };
    switch (n->standing) {
        case 1:
            out += "DNS fresh: last lookup ok ";
            ago(n->last_lookup_unix_ns);
            out += ", TTL ";
            append_uint(out, n->ttl_s);
            out += " s, ";
            append_uint(out, n->address_count);
            out += n->address_count == 1 ? " address" : " addresses";
            if (n->truncated != 0) {
                out += " (the answer had more; not kept)";
            }
            return;
        case 2:
            out += "DNS stale: lookups failing (";
            out += dns_outcome_name(n->last_outcome);
            out += "), last good answer ";
            ago(n->last_good_unix_ns);
            return;
        case 3:
            out += "DNS never resolved: lookups failing (";
            out += dns_outcome_name(n->last_outcome);
            out += ')';
            return;
        case 4:
            out += "DNS gave no address: last lookup ";
            out += dns_outcome_name(n->last_outcome);
            if (n->last_good_unix_ns != 0) {
                out += ", last good answer ";
                ago(n->last_good_unix_ns);
            }
            return;
        default: out += "DNS pending: the first lookup has not finished"; return;
    }
}

std::int64_t days_until(std::int64_t not_after_s, std::uint64_t now_unix_ns) {
    const std::int64_t diff =
        not_after_s - static_cast<std::int64_t>(now_unix_ns / 1'000'000'000ULL);
    return diff >= 0 ? diff / 86400 : -((-diff + 86399) / 86400);
}

bool cert_expiring(const Snapshot& snap, std::uint32_t t, std::int64_t& days) {
    const Effective e = effective(snap, t);
    if (e.state == nullptr || (e.state->flags & abi::kStateCertExpiring) == 0) {
        return false;
    }
    const abi::TlsFactsPayload* f = tls_facts(snap, t);
    days = f != nullptr && f->earliest_not_after_s != 0
               ? days_until(f->earliest_not_after_s, snap.now_unix_ns)
               : -1;
    return true;
}

namespace {

// The leaf: the first certificate that is not a CA (the chain's first when all are).
int leaf_index(const abi::TlsFactsPayload& f) {
    const int n = std::min<int>(f.chain_count, abi::kChainRecords);
    for (int i = 0; i < n; ++i) {
        if (f.chain[i].is_ca == 0) {
            return i;
        }
    }
    return n > 0 ? 0 : -1;
}

}  // namespace

std::array<CertFault, abi::kChainRecords> cert_faults(const abi::TlsFactsPayload& f, Reason reason,
                                                      std::uint64_t now_unix_ns) {
    std::array<CertFault, abi::kChainRecords> out;
    out.fill(CertFault{-1, {}});
    const int n = std::min<int>(f.chain_count, abi::kChainRecords);
    if (n == 0) {
        return out;
    }
    const auto now_s = static_cast<std::int64_t>(now_unix_ns / 1'000'000'000ULL);
    auto mark = [&](int i, std::string_view why) {
        if (i >= 0 && i < n) {
            out[static_cast<std::size_t>(i)] = CertFault{i, why};
        }
    };
    const int leaf = leaf_index(f);
    bool any_root = false;
    switch (reason) {
        case Reason::TlsExpired:
            for (int i = 0; i < n; ++i) {
                if (f.chain[i].not_after_s < now_s) {
                    mark(i, "expired");
                }
            }
            break;
        case Reason::TlsNotYetValid:
            for (int i = 0; i < n; ++i) {
                if (f.chain[i].not_before_s > now_s) {
                    mark(i, "not yet valid");
                }
            }
            break;
        case Reason::TlsNameMismatch: mark(leaf, "name does not match"); break;
        case Reason::TlsIntermediateMissing: mark(leaf, "sent without its issuer"); break;
        case Reason::TlsLeafMissing: mark(0, "a CA certificate where the leaf should be"); break;
        case Reason::TlsLeafNotTopmost:
            mark(0, "first, but not the leaf");
            if (leaf > 0) {
                mark(leaf, "the leaf, not first");
            }
            break;
        case Reason::TlsUntrustedRoot:
        case Reason::TlsRootMismatch:
            for (int i = 0; i < n; ++i) {
                if (f.chain[i].self_issued != 0) {
                    mark(i, "root not trusted");
                    any_root = true;
                }
            }
            if (!any_root) {
                mark(n - 1, "issuer not trusted");
            }
            break;
        case Reason::TlsRootMismatchNoRoot:
            mark(n - 1, "issuer not among the trusted roots");
            break;
        default: break;
    }
    return out;
}

void mark_min_servers(Snapshot& snap) {
    const StaticInfo& info = *snap.info;
    snap.counted_by_min_servers.assign(info.rows.size(), 0);
    if (snap.engine != EngineState::Live) {
        return;
    }
    // Rows are written pool by pool, setting by setting (config::build_targets): each pool x
    // setting is one run of consecutive rows.
    std::size_t begin = 0;
    while (begin < info.rows.size()) {
        const abi::RowRecord& first = info.rows[begin];
        std::size_t end = begin + 1;
        while (end < info.rows.size() && info.rows[end].pool_index == first.pool_index &&
               info.rows[end].setting_index == first.setting_index) {
            ++end;
        }
        const std::uint32_t min = info.settings[first.setting_index].min_servers;
        std::uint64_t healthy = 0;
        for (std::size_t i = begin; i < end && min != 0; ++i) {
            healthy += effective(snap, info.rows[i].target_index).health == Health::Healthy;
        }
        for (std::size_t i = begin; i < end && healthy < min; ++i) {
            if (effective(snap, info.rows[i].target_index).health != Health::Healthy) {
                snap.counted_by_min_servers[i] = 1;
                healthy += 1;
            }
        }
        begin = end;
    }
}

bool counted_by_min_servers(const Snapshot& snap, std::uint32_t row_index) {
    return row_index < snap.counted_by_min_servers.size() &&
           snap.counted_by_min_servers[row_index] != 0;
}

std::uint32_t pool_counted_by_min_servers(const Snapshot& snap, std::uint32_t pool_index) {
    std::uint32_t n = 0;
    for (std::size_t i = 0; i < snap.counted_by_min_servers.size(); ++i) {
        n += snap.counted_by_min_servers[i] != 0 && snap.info->rows[i].pool_index == pool_index;
    }
    return n;
}

bool is_flapping(const Snapshot& snap, std::uint32_t target_index) {
    const Effective e = effective(snap, target_index);
    return e.state != nullptr && (e.state->flags & report_abi::kStateFlapping) != 0;
}

}  // namespace ringprobe::report
