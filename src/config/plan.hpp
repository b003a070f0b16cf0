// The Plan: the immutable result of reading a gateway configuration.
//
// A Plan is built once at start-up by config::load_plan() and never changes
// afterwards; the engine, the report and the exporter only read it. It has two views:
//  - rows: what the report shows, one per (pool x backend setting x server) that a routing
//    rule ties together, in configuration order (the gateway's composition of its report);
//  - targets: the distinct probes those rows need. Identical probes (same address, port,
//    protocol, host, path, match, timing and TLS options) run once and fan out to every row
//    that shows them (Row::target_index).
// Everything a worker needs per probe is precomputed here, including the request bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ringprobe/protocol.hpp>

#include "common/shard.hpp"
#include "config/status_range.hpp"

namespace ringprobe {

// How the addresses of an FQDN server make its health (ringprobe.dnsAggregation): All, the
// gateway's view (each address is a host: the server is Healthy only when every address is);
// Any (Healthy when one address is).
enum class DnsAggregation : std::uint8_t { All = 0, Any = 1 };

// How a probe's connection is closed once the verdict is known (ringprobe extension).
enum class ClosePolicy : std::uint8_t {
    Graceful = 0,  // shutdown + close: the prober's side goes through TIME_WAIT
    Reset = 1,     // SO_LINGER{1,0} then close: RST, no TIME_WAIT on the prober
};

// A PROXY protocol header a Tcp or Tls probe sends before anything else, with the prober's own
// source and destination (the probe's enableProbeProxyProtocolHeader; the version from its
// ringprobe.proxyProtocol, v2 unless "v1").
enum class ProxyProtocol : std::uint8_t { None = 0, V1 = 1, V2 = 2 };

struct TrustedRoot {
    std::string name;
    std::string id;
    std::string data;  // PEM text or base64 DER as configured
};

// The certificate a setting's probes present when a server asks for one (its ringprobe
// clientCertificate). The files are read when the configuration is loaded, at start and at every
// reload, so a renewed certificate is picked up by a reload and a plan holds the bytes it was
// checked with. TlsContexts checks that the key matches the certificate.
inline constexpr std::uint32_t no_client_certificate = UINT32_MAX;
struct ClientCertificate {
    std::string path;              // JSON path of the clientCertificate object, for messages
    std::string certificate_from;  // "certificateFile /etc/x.pem", or "certificateData"
    std::string key_from;          // "keyFile /etc/x.key", or "keyData"
    std::string certificate;       // PEM text, or base64 of DER or of PEM (the data form)
    std::string key;               // likewise
};

// A pool member: an address listed in the pool (backendAddresses), or the IP configuration of a
// network interface or scale-set instance that names the pool (docs/configuration.md, "Pool
// members"). A member whose address no file gives is kept, never probed, and shown Unknown.
struct Server {
    std::string address;  // an IP literal or an FQDN; address_known false: the IP configuration id
    bool is_fqdn = false;
    bool address_known = true;
    std::string nic;               // NIC members: "NIC", or "SCALESET/INSTANCE/NIC"; else empty
    std::string ip_configuration;  // NIC members: the IP configuration's name
};

// Something the configuration allows but a reader should know (an empty pool a rule routes to),
// with the JSON path it is about.
struct PlanWarning {
    std::string path;
    std::string message;
};

struct Pool {
    std::string name;
    std::string id;  // as configured, or synthesised from the gateway name
    std::vector<Server> servers;
    bool routed = false;  // a rule ties it to a setting (with no servers: shown with a note)
};

struct Probe {  // a custom probe as configured (after defaults), kept for display
    std::string name;
    std::string id;
    Protocol protocol = Protocol::Http;
    std::string host;  // empty: taken from the setting (pick_host_from_settings)
    std::string path;
    bool pick_host_from_settings = false;  // pickHostNameFromBackendHttpSettings
    std::uint16_t port = 0;                // 0: the setting's port
    std::uint32_t interval_s = 30;
    std::uint32_t timeout_s = 30;
    std::uint8_t unhealthy_threshold = 3;
    std::uint32_t min_servers =
        0;  // minServers: counted healthy for routing (Setting::min_servers)
    std::vector<StatusRange> match_status;
    std::string match_body;
    ProxyProtocol proxy_protocol = ProxyProtocol::None;  // enableProbeProxyProtocolHeader
};

struct Setting {
    std::string name;
    std::string id;
    std::uint16_t port = 80;
    Protocol protocol = Protocol::Http;
    std::string probe_name;  // empty: the default probe
    bool default_probe = true;
    std::string host_name;                     // hostName; empty when not set
    bool pick_host_from_address = false;       // pickHostNameFromBackendAddress
    std::string sni_name;                      // sniName; empty when not set
    std::uint32_t request_timeout_s = 20;      // requestTimeout (traffic, not probes): shown only
    bool validate_chain = true;                // validateCertChainAndExpiry
    bool validate_sni = true;                  // validateSNI
    std::vector<std::uint32_t> trusted_roots;  // indices into Plan::trusted_roots
    // From the layer-4 proxy's backendSettingsCollection (Tcp, Tls); else from
    // backendHttpSettingsCollection. Names are unique within each collection, not across them.
    // Last: tests and benches build a Setting{name, id, port, protocol, ...} positionally.
    bool layer4 = false;
    // Index into Plan::client_certificates; no_client_certificate: none presented.
    std::uint32_t client_certificate = no_client_certificate;
    // Its probe's minServers (0 for the default probe): when fewer of a pool's servers are
    // Healthy on this setting, that many are still counted healthy for routing. Applied by the
    // report's readers (report::mark_min_servers), which see every row of the pool at once.
    std::uint32_t min_servers = 0;
};

struct Row {
    std::uint32_t pool_index = 0;
    std::uint32_t setting_index = 0;
    std::uint32_t server_index = 0;  // index into Pool::servers of that pool
    std::uint32_t target_index = 0;
};

struct Target {
    // Identity of the probe (what makes two rows share one target).
    std::string address;  // IP literal or FQDN; address_known false: the IP configuration id
    bool is_fqdn = false;
    // False for a NIC member whose address no --nics file gives: the engine owns no such target
    // and the report shows its rows Unknown (Reason::AddressUnknown) from the start.
    bool address_known = true;
    std::uint16_t port = 80;
    Protocol protocol = Protocol::Http;
    std::string host;                       // Host header value (empty for Tcp/Tls)
    std::string path;                       // request target, starts with '/' (empty for Tcp/Tls)
    std::string sni;                        // empty: send no SNI (IP literal, or nothing to send)
    std::vector<StatusRange> match_status;  // never empty for Http(s)
    std::string match_body;                 // empty: no body check

    // Timing and thresholds.
    std::uint32_t interval_ms = 30000;
    std::uint32_t timeout_ms = 30000;
    std::uint32_t jitter_ms = 0;  // extra random spread added to each interval
    // ringprobe.fastIntervalMs: the cadence after a failure of a Healthy target, until it is
    // Unhealthy or succeeds again (HAProxy's fastinter); at most interval_ms. 0: interval_ms.
    std::uint32_t fast_interval_ms = 0;
    // ringprobe.unhealthyIntervalMs: the cadence while Unhealthy (HAProxy's downinter, Envoy's
    // unhealthy_interval). 0: interval_ms.
    std::uint32_t unhealthy_interval_ms = 0;
    std::uint8_t unhealthy_threshold = 3;
    std::uint8_t healthy_threshold = 1;
    ClosePolicy close_policy = ClosePolicy::Graceful;

    // TLS options (Https, Tls).
    bool validate_chain = true;  // validateCertChainAndExpiry
    bool validate_sni = true;    // validateSNI
    std::vector<std::uint32_t>
        trusted_roots;  // indices into Plan::trusted_roots; empty: system store
    bool tls_resume = true;
    std::uint16_t cert_expiry_warning_days = 14;  // ringprobe.certExpiryWarningDays; 0: off
    DnsAggregation dns_aggregation = DnsAggregation::All;  // FQDN servers with several addresses
    ProxyProtocol proxy_protocol = ProxyProtocol::None;    // Tcp/Tls: a PROXY header first
    // Https/Tls: index into Plan::client_certificates; no_client_certificate: none.
    std::uint32_t client_certificate = no_client_certificate;
    // ringprobe.connectionReuse (Http): the request asks to keep the connection, and the worker
    // keeps it for the target's next probe while the server allows (docs/configuration.md).
    bool connection_reuse = false;

    // Precomputed at plan time.
    std::string request;              // full HTTP/1.1 request bytes (empty for Tcp/Tls)
    std::uint64_t identity_hash = 0;  // stable: the shard (worker) comes from it
    // False when other engines' shards probe it (--shard, shard_owns): the engine gives it no
    // slot and the report shows its rows as the other shards' (Health::OtherShard).
    bool owned = true;
};

struct Plan {
    std::string gateway_name;  // from the configuration's "name"; "ringprobe" when absent
    std::vector<Pool> pools;
    std::vector<Setting> settings;
    std::vector<Probe> probes;
    std::vector<TrustedRoot> trusted_roots;
    std::vector<ClientCertificate> client_certificates;  // distinct by content
    std::vector<Row> rows;
    std::vector<Target> targets;
    std::vector<PlanWarning> warnings;
    // Pool members referenced by IP configuration id that no --nics file resolves, in the order
    // met: the network interfaces the user still has to export.
    std::vector<std::string> unresolved_ip_configurations;
    std::uint64_t digest = 0;  // stable hash of the configuration, --nics and --parameters bytes
    // Which shard of how many this engine is (--shard, --replicas); not part of the digest, so
    // every shard of one configuration has the same.
    ShardPlacement shard;
    // ringprobe extension "startSpreadMs": first probes start over [0, spread), each at a
    // stable hash of its identity; 0 means the targets of each interval spread over it.
    std::uint32_t start_spread_ms = 0;
    // ringprobe extension "quantumMs": a worker's wake-up granularity. Scheduled starts and
    // deadlines fall on multiples of it and completions are reaped at most one quantum after
    // they arrive, so one wake-up serves every probe due in it (docs/ARCHITECTURE.md); the
    // phases a receive ends take the kernel's receive time instead. 0 means the timer wheel's
    // own 100 us tick, with a wake-up per completion when one probe is in flight: the most
    // precise connect times, at the highest CPU cost per probe.
    static constexpr std::uint32_t default_quantum_ms = 1;
    std::uint32_t quantum_ms = default_quantum_ms;
    // ringprobe extension "startBatch": about how many probes a worker starts together.
    // Scheduled starts fall on a grid of whole quanta (at most 50 ms, dividing every
    // interval) wide enough that, at the worker's probe rate, this many share an instant; they
    // start in one wake-up. 1 puts starts on every quantum. Completions are still reaped within
    // one quantum.
    static constexpr std::uint32_t default_start_batch = 64;
    std::uint32_t start_batch = default_start_batch;
    // ringprobe extension "eventLogEntries": the health transitions the report keeps, engine
    // wide; the oldest is overwritten (and counted) when full.
    static constexpr std::uint32_t default_event_log_entries = 65'536;
    static constexpr std::uint32_t event_log_entries_min = 16;
    static constexpr std::uint32_t event_log_entries_max = 1u << 22;
    std::uint32_t event_log_entries = default_event_log_entries;
    // ringprobe extension "flappingChanges": a row whose health changed at least this many
    // times within its last 32 results is flapping.
    static constexpr std::uint32_t default_flapping_changes = 4;
    std::uint32_t flapping_changes = default_flapping_changes;
};

}  // namespace ringprobe
