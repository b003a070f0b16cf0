// Composes the static part of a report segment (see image.hpp and docs/report-format.md).
#include "report/image.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstring>

namespace ringprobe::report {
namespace abi = report_abi;

namespace {

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) {
    return (v + a - 1) / a * a;
}

class StringTable {
public:
    StringTable() { bytes_.push_back('\0'); }

    // Strings longer than kMaxStringLength are cut there: the report shows configuration values,
    // and a display value that long is already unreadable.
    abi::StrRef add(std::string_view s) {
        if (s.empty()) {
            return abi::StrRef{0, 0};
        }
        s = s.substr(0, abi::kMaxStringLength);
        // An embedded NUL would make the reader reject the segment; cut there as well.
        s = s.substr(0, std::min(s.size(), s.find('\0')));
        abi::StrRef ref{static_cast<std::uint32_t>(bytes_.size()),
                        static_cast<std::uint32_t>(s.size())};
        bytes_.append(s);
        bytes_.push_back('\0');
        return ref;
    }
    std::string take() { return std::move(bytes_); }
    std::size_t size() const { return bytes_.size(); }

private:
    std::string bytes_;
};

Result<void> check_plan(const Plan& plan) {
    if (plan.pools.size() > abi::kMaxPools || plan.settings.size() > abi::kMaxSettings ||
        plan.rows.size() > abi::kMaxRows || plan.targets.size() > abi::kMaxTargets) {
        return error(
            "report: the plan is larger than the report format allows (pools <= 65536, "
            "settings <= 65536, rows and targets <= 4194304)");
    }
    for (std::size_t i = 0; i < plan.rows.size(); ++i) {
        const Row& r = plan.rows[i];
        if (r.pool_index >= plan.pools.size() || r.setting_index >= plan.settings.size() ||
            r.target_index >= plan.targets.size() ||
            r.server_index >= plan.pools[r.pool_index].servers.size()) {
            return error("report: plan row " + std::to_string(i) +
                         " refers to a pool, setting, server or target that does not exist");
        }
    }
    return {};
}

// The pools, each followed in the string table by its servers; a pool's servers are one run of
// the Servers section, so a row finds its server from the pool's first_server.
Result<void> add_pools(Image& img, StringTable& strings, const Plan& plan) {
    std::uint32_t server_total = 0;
    for (const Pool& p : plan.pools) {
        const std::uint32_t flags = p.servers.empty() && p.routed ? abi::kPoolEmptyRouted : 0;
        img.pools.push_back(abi::PoolRecord{strings.add(p.name), strings.add(p.id), server_total,
                                            static_cast<std::uint32_t>(p.servers.size()), flags,
                                            0});
        for (const Server& s : p.servers) {
            abi::ServerRecord rec{};
            rec.address = strings.add(s.address);
            rec.pool_index = static_cast<std::uint32_t>(img.pools.size() - 1);
            rec.is_fqdn = s.is_fqdn ? 1 : 0;
            rec.address_known = s.address_known ? 1 : 0;
            rec.nic = strings.add(s.nic);
            rec.ip_configuration = strings.add(s.ip_configuration);
            img.servers.push_back(rec);
        }
        server_total += static_cast<std::uint32_t>(p.servers.size());
        if (server_total > abi::kMaxServers) {
            return error("report: the plan has more servers than the report format allows");
        }
    }
    return {};
}

void add_settings(Image& img, StringTable& strings, const Plan& plan) {
    for (const Setting& s : plan.settings) {
        abi::SettingRecord rec{};
        rec.name = strings.add(s.name);
        rec.id = strings.add(s.id);
        rec.probe_name = strings.add(s.probe_name);
        rec.port = s.port;
        rec.protocol = static_cast<std::uint8_t>(s.protocol);
        rec.default_probe = s.default_probe ? 1 : 0;
        rec.min_servers = s.min_servers;
        img.settings.push_back(rec);
    }
}

// A row's server index is within its pool in the plan and within the Servers section here.
void add_rows(Image& img, const Plan& plan) {
    for (const Row& r : plan.rows) {
        img.rows.push_back(abi::RowRecord{r.pool_index, r.setting_index,
                                          img.pools[r.pool_index].first_server + r.server_index,
                                          r.target_index});
    }
}

// Each target is given the next Names slot when it is an FQDN and the next TlsFacts slot when
// it speaks TLS; the others have kNoSlot.
std::uint8_t proxy_record(ProxyProtocol p) {
    switch (p) {
        case ProxyProtocol::None: return abi::kProxyNone;
        case ProxyProtocol::V1: return abi::kProxyV1;
        case ProxyProtocol::V2: return abi::kProxyV2;
    }
    return abi::kProxyNone;
}

void add_targets(Image& img, StringTable& strings, const Plan& plan) {
    for (const Target& t : plan.targets) {
        abi::TargetRecord rec{};
        rec.address = strings.add(t.address);
        rec.host = strings.add(t.host);
        rec.path = strings.add(t.path);
        rec.sni = strings.add(t.sni);
        rec.match_status = strings.add(format_status_ranges(t.match_status));
        rec.match_body = strings.add(t.match_body);
        rec.port = t.port;
        rec.protocol = static_cast<std::uint8_t>(t.protocol);
        rec.is_fqdn = t.is_fqdn ? 1 : 0;
        rec.unhealthy_threshold = t.unhealthy_threshold;
        rec.healthy_threshold = t.healthy_threshold;
        rec.validate_chain = t.validate_chain ? 1 : 0;
        rec.validate_sni = t.validate_sni ? 1 : 0;
        rec.interval_ms = t.interval_ms;
        rec.timeout_ms = t.timeout_ms;
        rec.jitter_ms = t.jitter_ms;
        rec.fast_interval_ms = t.fast_interval_ms;
        rec.unhealthy_interval_ms = t.unhealthy_interval_ms;
        rec.name_slot = t.is_fqdn ? img.names++ : abi::kNoSlot;
        const bool tls = t.protocol == Protocol::Https || t.protocol == Protocol::Tls;
        rec.tls_slot = tls ? img.tls++ : abi::kNoSlot;
        rec.expiry_warning_days = tls ? t.cert_expiry_warning_days : 0;
        rec.proxy_protocol = proxy_record(t.proxy_protocol);
        img.targets.push_back(rec);
    }
}

// "probed by shard 1/3", or "by shards 0/3, 2/3" with replicas.
abi::TargetStatePayload other_shard_state(const Plan& plan, const Target& t) {
    abi::TargetStatePayload st{};
    st.health = static_cast<std::uint8_t>(Health::OtherShard);
    st.reason = static_cast<std::uint16_t>(Reason::OtherShard);
    std::array<std::uint32_t, 8> owners{};
    const std::size_t n = shard_owners(plan.shard, t.identity_hash, owners);
    std::string text = n > 1 ? "probed by shards " : "probed by shard ";
    for (std::size_t i = 0; i < n; ++i) {
        text += (i > 0 ? ", " : "") + shard_label(owners[i], plan.shard.count);
    }
    text = text.substr(0, abi::kDetailBytes);
    std::memcpy(st.detail, text.data(), text.size());
    st.detail_len = static_cast<std::uint16_t>(text.size());
    return st;
}

void add_other_shard_states(Image& img, const Plan& plan) {
    for (std::uint32_t i = 0; i < plan.targets.size(); ++i) {
        if (!plan.targets[i].owned) {
            img.other_shard_targets.push_back(i);
            img.other_shard_states.push_back(other_shard_state(plan, plan.targets[i]));
        }
    }
}

void fill_header(abi::SegmentHeader& h, const Plan& plan, const ImageOptions& options) {
    std::memcpy(h.magic, abi::kMagic, sizeof h.magic);
    h.layout_version = abi::kLayoutVersion;
    h.header_size = sizeof(abi::SegmentHeader);
    h.config_digest = plan.digest;
    h.start_unix_ns = options.start_unix_ns;
    h.engine_pid = options.engine_pid;
    h.worker_slots = options.worker_slots;
    h.generation = options.generation;
    h.heartbeat_unix_ns = options.start_unix_ns;
    h.shard.index = plan.shard.index;
    h.shard.count = plan.shard.count;
    h.shard.replicas = plan.shard.replicas;
    h.shard.owned = static_cast<std::uint32_t>(std::count_if(
        plan.targets.begin(), plan.targets.end(), [](const Target& t) { return t.owned; }));
}

// The sections follow the header in this order, each aligned to kSectionAlign; the total is
// the segment's size.
void place_sections(Image& img, const ImageOptions& options) {
    abi::SegmentHeader& h = img.header;
    std::uint64_t at = align_up(sizeof(abi::SegmentHeader), abi::kSectionAlign);
    auto place = [&](abi::Section s, std::size_t count, std::size_t record_size) {
        abi::section_ref(h, s) = abi::SectionRef{at, static_cast<std::uint32_t>(count),
                                                 static_cast<std::uint32_t>(record_size)};
        at = align_up(at + count * record_size, abi::kSectionAlign);
    };
    place(abi::Section::Pools, img.pools.size(), sizeof(abi::PoolRecord));
    place(abi::Section::Settings, img.settings.size(), sizeof(abi::SettingRecord));
    place(abi::Section::Servers, img.servers.size(), sizeof(abi::ServerRecord));
    place(abi::Section::Rows, img.rows.size(), sizeof(abi::RowRecord));
    place(abi::Section::Targets, img.targets.size(), sizeof(abi::TargetRecord));
    place(abi::Section::States, img.targets.size(), sizeof(abi::TargetStateRecord));
    place(abi::Section::Workers, options.worker_slots, sizeof(abi::WorkerStatsRecord));
    place(abi::Section::Strings, img.strings.size(), 1);
    place(abi::Section::Names, img.names, sizeof(abi::NameStateRecord));
    place(abi::Section::Addresses, std::size_t{img.names} * abi::kAddressesPerName,
          sizeof(abi::AddressStateRecord));
    place(abi::Section::TlsFacts, img.tls, sizeof(abi::TlsFactsRecord));
    place(abi::Section::Resolver, 1, sizeof(abi::ResolverStatsRecord));
    place(abi::Section::History, img.targets.size(), sizeof(abi::HistoryRecord));
    place(abi::Section::EventLog, 1, sizeof(abi::EventLogRecord));
    place(abi::Section::Events, img.event_capacity, sizeof(abi::EventRecord));
    h.total_size = at;
}

}  // namespace

std::string format_status_ranges(const std::vector<StatusRange>& ranges) {
    std::string out;
    char buf[8];
    for (const StatusRange& r : ranges) {
        if (!out.empty()) {
            out.push_back(',');
        }
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, r.lo);
        out.append(buf, p);
        if (r.hi != r.lo) {
            out.push_back('-');
            auto [q, ec2] = std::to_chars(buf, buf + sizeof buf, r.hi);
            out.append(buf, q);
        }
    }
    return out;
}

Result<Image> compose_image(const Plan& plan, const ImageOptions& options) {
    if (auto ok = check_plan(plan); !ok) {
        return unexpected(ok.error());
    }
    RP_ASSERT(options.worker_slots <= abi::kMaxWorkers);
    Image img;
    StringTable strings;
    img.header.gateway_name = strings.add(plan.gateway_name);
    if (auto ok = add_pools(img, strings, plan); !ok) {
        return unexpected(ok.error());
    }
    add_settings(img, strings, plan);
    add_rows(img, plan);
    add_targets(img, strings, plan);
    if (strings.size() > abi::kMaxStringBytes) {
        return error("report: the plan's names and addresses exceed the report's string table");
    }
    img.strings = strings.take();
    if (plan.event_log_entries < Plan::event_log_entries_min ||
        plan.event_log_entries > Plan::event_log_entries_max) {
        return error("report: the event log's size " + std::to_string(plan.event_log_entries) +
                     " is outside " + std::to_string(Plan::event_log_entries_min) + ".." +
                     std::to_string(Plan::event_log_entries_max));
    }
    img.event_capacity = plan.event_log_entries;
    add_other_shard_states(img, plan);
    fill_header(img.header, plan, options);
    place_sections(img, options);
    return img;
}

void write_image(const Image& img, std::byte* dst) {
    const abi::SegmentHeader& h = img.header;
    std::memcpy(dst, &h, sizeof h);
    auto put = [&](abi::Section s, const void* src, std::size_t bytes) {
        const abi::SectionRef& ref = abi::section_ref(h, s);
        RP_ASSERT(ref.offset + bytes <= h.total_size);
        if (bytes > 0) {
            std::memcpy(dst + ref.offset, src, bytes);
        }
    };
    put(abi::Section::Pools, img.pools.data(), img.pools.size() * sizeof(abi::PoolRecord));
    put(abi::Section::Settings, img.settings.data(),
        img.settings.size() * sizeof(abi::SettingRecord));
    put(abi::Section::Servers, img.servers.data(), img.servers.size() * sizeof(abi::ServerRecord));
    put(abi::Section::Rows, img.rows.data(), img.rows.size() * sizeof(abi::RowRecord));
    put(abi::Section::Targets, img.targets.data(), img.targets.size() * sizeof(abi::TargetRecord));
    put(abi::Section::Strings, img.strings.data(), img.strings.size());
    abi::EventLogRecord log{};
    log.capacity = img.event_capacity;
    put(abi::Section::EventLog, &log, sizeof log);
    // Written before the rename, with seq 0 (whole): nothing writes these records afterwards.
    const abi::SectionRef& states = abi::section_ref(h, abi::Section::States);
    for (std::size_t i = 0; i < img.other_shard_targets.size(); ++i) {
        const std::uint64_t at =
            states.offset +
            std::uint64_t{img.other_shard_targets[i]} * sizeof(abi::TargetStateRecord) +
            offsetof(abi::TargetStateRecord, payload);
        RP_ASSERT(at + sizeof(abi::TargetStatePayload) <= h.total_size);
        std::memcpy(dst + at, &img.other_shard_states[i], sizeof(abi::TargetStatePayload));
    }
}

Result<std::vector<std::uint64_t>> build_image_words(const Plan& plan,
                                                     const ImageOptions& options) {
    auto img = compose_image(plan, options);
    if (!img) {
        return unexpected(img.error());
    }
    std::vector<std::uint64_t> words(img->header.total_size / 8, 0);
    write_image(*img, reinterpret_cast<std::byte*>(words.data()));
    return words;
}

}  // namespace ringprobe::report
