// The resolver thread: c-ares on epoll, the refresh heap, and publication to the workers.
// resolver.hpp describes the thread model; policy.cpp decides what each answer means.
#include "dns/resolver.hpp"

#include <ares.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <queue>
#include <utility>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"

namespace ringprobe::dns {

namespace {

constexpr std::size_t epoll_events_max = 64;
constexpr std::size_t read_retries_max = 64;
// Lookups started per loop turn: answers already in are processed between batches, so the
// first names of a large plan are not held back while thousands of queries are still being sent.
constexpr std::size_t launch_per_turn_max = 64;
constexpr int receive_buffer_bytes = 4 << 20;

// c-ares status -> Outcome: one exhaustive table (one switch per operation).
Outcome outcome_of_status(int status) {
    switch (status) {
        case ARES_SUCCESS: return Outcome::Ok;
        case ARES_ENOTFOUND: return Outcome::Nxdomain;
        case ARES_ENODATA: return Outcome::NoData;
        case ARES_ESERVFAIL: return Outcome::Servfail;
        case ARES_ETIMEOUT: return Outcome::Timeout;
        case ARES_EREFUSED: return Outcome::Refused;
        case ARES_ECONNREFUSED: return Outcome::Unreachable;
        default: return Outcome::Other;
    }
}

// Lower-cases and drops one trailing dot, so "API.example.com." and "api.example.com" share a
// record (DNS names compare case-insensitively).
std::string canonical_name(std::string_view fqdn) {
    if (!fqdn.empty() && fqdn.back() == '.') {
        fqdn.remove_suffix(1);
    }
    std::string s(fqdn);
    for (char& c : s) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return s;
}

int ares_family(Family f) {
    switch (f) {
        case Family::Any: return AF_UNSPEC;
        case Family::V4: return AF_INET;
        case Family::V6: return AF_INET6;
    }
    return AF_UNSPEC;
}

// The answer's addresses (canonical set) and its smallest TTL, A/AAAA and CNAME alike.
Answer answer_of(int status, const ares_addrinfo* info) {
    Answer a;
    a.outcome = outcome_of_status(status);
    if (a.outcome != Outcome::Ok || info == nullptr) {
        return a;
    }
    std::array<Address, addresses_max * 4> scratch{};  // bounded: extra addresses are dropped
    std::size_t n = 0;
    bool more = false;
    int ttl = -1;
    for (const ares_addrinfo_node* node = info->nodes; node != nullptr; node = node->ai_next) {
        Address addr;
        if (node->ai_family == AF_INET && node->ai_addr != nullptr) {
            const auto* sin = reinterpret_cast<const sockaddr_in*>(node->ai_addr);
            std::memcpy(addr.bytes.data(), &sin->sin_addr, 4);
            addr.family = 4;
        } else if (node->ai_family == AF_INET6 && node->ai_addr != nullptr) {
            const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(node->ai_addr);
            std::memcpy(addr.bytes.data(), &sin6->sin6_addr, 16);
            addr.family = 6;
        } else {
            continue;
        }
        ttl = ttl < 0 ? node->ai_ttl : std::min(ttl, node->ai_ttl);
        if (n == scratch.size()) {
            more = true;
            continue;
        }
        scratch[n++] = addr;
    }
    for (const ares_addrinfo_cname* c = info->cnames; c != nullptr; c = c->next) {
        ttl = ttl < 0 ? c->ttl : std::min(ttl, c->ttl);
    }
    a.addresses = make_address_set({scratch.data(), n});
    a.addresses.truncated |= more ? 1u : 0u;
    a.ttl_s = ttl > 0 ? static_cast<std::uint32_t>(ttl) : 0;
    return a;
}

// RFC 6761 section 6.3: "localhost" and every name under it are the loopback addresses, and a
// resolver should answer them itself, asking no server. /etc/hosts is not read for them either:
// a minimal root (debootstrap minbase) has none, and the answer never depends on it.
bool is_localhost(std::string_view canonical) {
    constexpr std::string_view name = "localhost";
    constexpr std::string_view under = ".localhost";
    return canonical == name || (canonical.size() > under.size() && canonical.ends_with(under));
}

// The policy's TTL ceiling: the answer never changes, so asking again sooner would be waste.
constexpr std::uint32_t localhost_ttl_s = 300;

Answer localhost_answer(Family family) {
    std::array<Address, 2> loopback{};
    std::size_t n = 0;
    if (family != Family::V6) {
        loopback[n].bytes[0] = 127;
        loopback[n].bytes[3] = 1;
        loopback[n++].family = 4;
    }
    if (family != Family::V4) {
        loopback[n].bytes[15] = 1;
        loopback[n++].family = 6;
    }
    Answer a;
    a.outcome = Outcome::Ok;
    a.addresses = make_address_set({loopback.data(), n});
    a.ttl_s = localhost_ttl_s;
    return a;
}

struct Due {
    std::uint64_t at_ns;
    NameId id;
    bool operator>(const Due& o) const { return at_ns > o.at_ns; }
};

}  // namespace

// Everything only the resolver thread touches (apart from the atomics and the eventfd).
struct Resolver::Loop {
    struct Ctx {
        Resolver* self;
        NameId id;
    };

    ares_channel channel = nullptr;
    int epoll_fd = -1;
    int wake_fd = -1;
    std::vector<NameState> states;
    std::vector<std::uint8_t> in_flight;
    // Lookups launched less than young_ns ago and not yet answered: what inflight_max bounds.
    std::deque<std::pair<std::uint64_t, NameId>> young_queue;  // (launch time, id), in order
    std::vector<std::uint64_t> launched_ns;                    // per name, 0: not young
    std::vector<std::uint64_t> started_ns;  // per name: when its lookup in flight was launched
    std::uint32_t young = 0;
    // The deadline each name's live heap entry carries: an entry whose time differs is stale
    // (refresh_all() scheduled the name again) and is dropped when popped, so a name never
    // has two refresh chains.
    std::vector<std::uint64_t> scheduled_ns;
    std::deque<Ctx> ctx;  // c-ares holds pointers to these: a deque keeps them in place as it grows
    // Per name: the workers watching it (from the commands), and whether any does. A name
    // nobody watches is not looked up; a lookup of it still out is dropped when it ends.
    std::vector<std::vector<std::uint16_t>> subscribers;
    std::vector<std::uint8_t> live;
    std::priority_queue<Due, std::vector<Due>, std::greater<>> heap;
    std::uint32_t inflight = 0;

    std::atomic<bool> stop{false};
    std::atomic<bool> refresh{false};
    std::atomic<std::uint64_t> lookups_started{0};
    std::atomic<std::uint64_t> lookups_done{0};
    std::atomic<std::uint64_t> inflight_peak{0};
    std::atomic<std::uint64_t> names_resolved{0};
    std::atomic<std::uint64_t> names_answered{0};
    std::array<std::atomic<std::uint64_t>, outcome_table.size()> by_outcome{};

    ~Loop() {
        if (channel != nullptr) {  // start() failed before the thread ran
            ares_destroy(channel);
            ares_library_cleanup();
        }
        if (epoll_fd >= 0) {
            ::close(epoll_fd);
        }
        if (wake_fd >= 0) {
            ::close(wake_fd);
        }
    }
};

namespace {

// c-ares tells us which of its sockets to watch; epoll is level-triggered, like select().
void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    const int epoll_fd = *static_cast<int*>(data);
    if (readable == 0 && writable == 0) {
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);  // c-ares closes it right after
        return;
    }
    epoll_event ev{};
    ev.events = (readable != 0 ? EPOLLIN : 0u) | (writable != 0 ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0) {
        RP_ASSERT(errno == ENOENT);
        const int rc = epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
        RP_ASSERT(rc == 0);
    }
}

}  // namespace

Resolver::Resolver(ResolverOptions options)
    : options_(std::move(options)),
      chunks_(std::make_unique<std::atomic<Chunk*>[]>(chunks_max)),
      inboxes_(std::make_unique<Inbox[]>(options_.workers)),
      commands_(std::make_unique<SpscQueue<Command, command_queue_size>>()) {
    RP_ASSERT(options_.workers >= 1);
    RP_ASSERT(options_.workers <= UINT16_MAX);
    RP_ASSERT(options_.inflight_max >= 1);
}

Resolver::~Resolver() {
    stop();
    for (std::size_t c = 0; c < chunks_max; ++c) {
        delete chunks_[c].load(std::memory_order_relaxed);
    }
}

NameId Resolver::id_of(std::string_view fqdn) {
    std::string key = canonical_name(fqdn);
    RP_ASSERT(!key.empty());
    const auto made = static_cast<NameId>(subscribers_.size());
    const auto [it, inserted] = index_.try_emplace(key, made);
    if (!inserted) {
        return it->second;
    }
    RP_ASSERT(made < names_max);  // a million distinct names: far beyond any gateway
    std::atomic<Chunk*>& slot = chunks_[made / chunk_names];
    if (slot.load(std::memory_order_relaxed) == nullptr) {
        slot.store(new Chunk(), std::memory_order_release);
    }
    slot.load(std::memory_order_relaxed)->fqdn[made % chunk_names] = std::move(key);
    subscribers_.emplace_back();
    // Release: whoever learns of an id below this sees its chunk and its text.
    names_made_.store(made + 1, std::memory_order_release);
    return made;
}

void Resolver::watch(NameId id, std::size_t worker) {
    RP_ASSERT(id < subscribers_.size());
    RP_ASSERT(worker < options_.workers);
    auto& subs = subscribers_[id];
    const auto w = static_cast<std::uint16_t>(worker);
    if (std::find(subs.begin(), subs.end(), w) != subs.end()) {
        return;
    }
    live_names_ += subs.empty() ? 1 : 0;
    subs.push_back(w);
    if (thread_.joinable()) {
        send(Command{Command::Op::Watch, w, id});
    }
}

void Resolver::unwatch(NameId id, std::size_t worker) {
    RP_ASSERT(id < subscribers_.size());
    auto& subs = subscribers_[id];
    const auto it = std::find(subs.begin(), subs.end(), static_cast<std::uint16_t>(worker));
    if (it == subs.end()) {
        return;
    }
    subs.erase(it);
    live_names_ -= subs.empty() ? 1 : 0;
    if (thread_.joinable()) {
        send(Command{Command::Op::Unwatch, static_cast<std::uint16_t>(worker), id});
    }
}

// The main thread waits for room (the resolver thread empties the queue each turn and is woken
// for it): a reload that adds thousands of names sends them in queue-sized batches. Bounded:
// a resolver thread that takes nothing for 30 s is a bug.
void Resolver::send(const Command& c) {
    const std::uint64_t until = monotonic_ns() + 30'000'000'000ull;
    const std::uint64_t one = 1;
    while (!commands_->push(c)) {
        RP_ASSERT(monotonic_ns() < until);
        [[maybe_unused]] ssize_t w = ::write(loop_->wake_fd, &one, sizeof one);
        timespec ts{0, 200'000};
        nanosleep(&ts, nullptr);
    }
    [[maybe_unused]] ssize_t w = ::write(loop_->wake_fd, &one, sizeof one);
}

namespace {

Result<ares_channel> make_channel(const ResolverOptions& o, int* epoll_fd) {
    ares_options opts{};
    int mask = ARES_OPT_SOCK_STATE_CB;
    opts.sock_state_cb = on_sock_state;
    opts.sock_state_cb_data = epoll_fd;
    // Answers to hundreds of concurrent lookups arrive in a burst while this thread may still be
    // sending; the default 208 KiB receive buffer drops them and each drop costs a c-ares
    // timeout. The kernel caps the request at net.core.rmem_max.
    opts.socket_receive_buffer_size = receive_buffer_bytes;
    mask |= ARES_OPT_SOCK_RCVBUF;
    if (o.timeout_ms != 0) {
        opts.timeout = static_cast<int>(o.timeout_ms);
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (o.tries != 0) {
        opts.tries = static_cast<int>(o.tries);
        mask |= ARES_OPT_TRIES;
    }
    char dns_only[] = "b";
    if (!o.server.empty()) {
        opts.lookups = dns_only;  // an explicit server means DNS only: no /etc/hosts
        mask |= ARES_OPT_LOOKUPS;
    }
    ares_channel ch = nullptr;
    if (int rc = ares_init_options(&ch, &opts, mask); rc != ARES_SUCCESS) {
        return error(std::string("dns: c-ares initialisation failed: ") + ares_strerror(rc));
    }
    if (!o.server.empty()) {
        if (int rc = ares_set_servers_ports_csv(ch, o.server.c_str()); rc != ARES_SUCCESS) {
            ares_destroy(ch);
            return error("dns: --dns-server '" + o.server + "' is not ADDR:PORT (" +
                         ares_strerror(rc) + "); e.g. 127.0.0.1:53 or [::1]:53");
        }
    }
    return ch;
}

}  // namespace

Result<void> Resolver::start() {
    RP_ASSERT(!thread_.joinable());
    RP_ASSERT(loop_ == nullptr);
    if (int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS) {
        return error(std::string("dns: c-ares library init failed: ") + ares_strerror(rc));
    }
    auto loop = std::make_unique<Loop>();
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->epoll_fd < 0 || loop->wake_fd < 0) {
        ares_library_cleanup();
        return error(std::string("dns: epoll/eventfd: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = loop->wake_fd;
    RP_ASSERT(epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &ev) == 0);
    auto ch = make_channel(options_, &loop->epoll_fd);
    if (!ch) {
        ares_library_cleanup();
        return unexpected(ch.error());
    }
    loop->channel = *ch;

    // The thread's tables, from the names watched so far; commands extend them later.
    loop_ = std::move(loop);
    const auto n = static_cast<NameId>(subscribers_.size());
    std::vector<Due> initial;
    initial.reserve(n + 1);
    for (NameId id = 0; id < n; ++id) {
        grow_loop(id);
        if (!subscribers_[id].empty()) {
            loop_->subscribers[id] = subscribers_[id];
            loop_->live[id] = 1;
            initial.push_back(Due{0, id});
        }
    }
    loop_->heap = decltype(loop_->heap)(std::greater<>{}, std::move(initial));
    thread_ = std::thread([this] { run(); });
    return {};
}

void Resolver::stop() {
    if (!thread_.joinable()) {
        return;
    }
    loop_->stop.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(loop_->wake_fd, &one, sizeof one);
    thread_.join();
}

void Resolver::refresh_all() {
    RP_ASSERT(loop_ != nullptr);
    loop_->refresh.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(loop_->wake_fd, &one, sizeof one);
}

std::string_view Resolver::name(NameId id) const {
    RP_ASSERT(id < subscribers_.size());
    return text_of(id);
}

const std::string& Resolver::text_of(NameId id) const {
    return chunks_[id / chunk_names].load(std::memory_order_acquire)->fqdn[id % chunk_names];
}

ResolverStats Resolver::stats() const {
    ResolverStats s;
    if (loop_ == nullptr) {
        return s;
    }
    s.lookups_started = loop_->lookups_started.load(std::memory_order_relaxed);
    s.lookups_done = loop_->lookups_done.load(std::memory_order_relaxed);
    s.inflight_peak = loop_->inflight_peak.load(std::memory_order_relaxed);
    s.names_resolved = loop_->names_resolved.load(std::memory_order_relaxed);
    s.names_answered = loop_->names_answered.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < s.by_outcome.size(); ++i) {
        s.by_outcome[i] = loop_->by_outcome[i].load(std::memory_order_relaxed);
    }
    for (std::size_t w = 0; w < options_.workers; ++w) {
        s.notices_dropped += inboxes_[w].notices.dropped();
    }
    return s;
}

// ---- the table ----

void Resolver::publish(NameId id, const NameState& state) {
    Record& rec = record(id);
    std::array<std::uint64_t, Record::words> w;
    std::memcpy(w.data(), &state, sizeof state);
    const std::uint64_t seq = rec.seq.load(std::memory_order_relaxed);
    rec.seq.store(seq + 1, std::memory_order_relaxed);
    // Release stores: a reader that sees any new word also sees the odd sequence (no fence,
    // which ThreadSanitizer does not model).
    for (std::size_t i = 0; i < Record::words; ++i) {
        rec.payload[i].store(w[i], std::memory_order_release);
    }
    rec.seq.store(seq + 2, std::memory_order_release);
}

bool Resolver::read_record(const Record& rec, NameState& out) const {
    std::array<std::uint64_t, Record::words> w;
    for (std::size_t attempt = 0; attempt < read_retries_max; ++attempt) {
        const std::uint64_t s1 = rec.seq.load(std::memory_order_acquire);
        if ((s1 & 1) != 0) {
            continue;
        }
        for (std::size_t i = 0; i < Record::words; ++i) {
            w[i] = rec.payload[i].load(std::memory_order_acquire);
        }
        if (rec.seq.load(std::memory_order_relaxed) == s1) {
            std::memcpy(static_cast<void*>(&out), w.data(), sizeof out);
            return true;
        }
    }
    return false;
}

bool Resolver::read(NameId id, NameState& out) const {
    RP_ASSERT_HOT(id < names_made_.load(std::memory_order_relaxed));
    return read_record(record(id), out);
}

std::uint64_t Resolver::version(NameId id) const {
    RP_ASSERT_HOT(id < names_made_.load(std::memory_order_relaxed));
    return record(id).seq.load(std::memory_order_acquire) / 2;
}

void Resolver::notify(NameId id) {
    for (std::uint16_t w : loop_->subscribers[id]) {
        Inbox& inbox = inboxes_[w];
        if (!inbox.notices.push(id)) {
            inbox.resync.store(true, std::memory_order_release);
        }
    }
}

// ---- the resolver thread ----

void Resolver::on_answer(void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        ares_freeaddrinfo(info);
        return;  // stopping: the state stays as it was
    }
    const auto* ctx = static_cast<const Loop::Ctx*>(arg);
    const Answer answer = answer_of(status, info);
    ares_freeaddrinfo(info);
    ctx->self->finish_lookup(ctx->id, answer);
}

// One lookup's end, whoever answered it (c-ares, or localhost_answer()).
void Resolver::finish_lookup(NameId id, const Answer& answer) {
    Loop& loop = *loop_;
    RP_ASSERT(loop.in_flight[id] == 1);
    loop.in_flight[id] = 0;
    if (loop.launched_ns[id] != 0) {
        loop.launched_ns[id] = 0;  // answered while young (its queue entry is skipped later)
        --loop.young;
    }
    --loop.inflight;
    loop.lookups_done.fetch_add(1, std::memory_order_relaxed);
    loop.by_outcome[static_cast<std::size_t>(answer.outcome) % loop.by_outcome.size()].fetch_add(
        1, std::memory_order_relaxed);

    if (loop.live[id] == 0) {
        return;  // nobody watches the name any more: no record, no notice, no next lookup
    }
    NameState& state = loop.states[id];
    const NameState before = state;
    const std::uint64_t now = monotonic_ns();
    const bool changed = apply_answer(state, answer, now, options_.policy);
    if (state.last_outcome == Outcome::Ok) {
        const std::uint64_t took_us = (now - std::min(now, loop.started_ns[id])) / 1000;
        state.good_lookup_us = static_cast<std::uint32_t>(
            std::clamp<std::uint64_t>(took_us, 1, std::numeric_limits<std::uint32_t>::max()));
    }
    if (before.lookups == 0) {
        loop.names_answered.fetch_add(1, std::memory_order_relaxed);
    }
    if (before.ever_resolved == 0 && state.ever_resolved != 0) {
        loop.names_resolved.fetch_add(1, std::memory_order_relaxed);
    }
    publish(id, state);
    if (changed || before.last_outcome != state.last_outcome) {
        notify(id);
    }
    loop.scheduled_ns[id] = state.next_refresh_ns;
    loop.heap.push(Due{state.next_refresh_ns, id});
}

// The thread's per-name tables reach id (ids are made in order, so this appends).
void Resolver::grow_loop(NameId id) {
    Loop& loop = *loop_;
    while (loop.states.size() <= id) {
        const auto next = static_cast<NameId>(loop.states.size());
        NameState st{};
        st.spread_key = stable_hash(text_of(next));
        loop.states.push_back(st);
        loop.in_flight.push_back(0);
        loop.launched_ns.push_back(0);
        loop.started_ns.push_back(0);
        loop.scheduled_ns.push_back(0);
        loop.ctx.push_back(Loop::Ctx{this, next});
        loop.subscribers.emplace_back();
        loop.live.push_back(0);
    }
}

// The main thread's watches and unwatches, in order. A name that gains its first watcher is
// looked up now (unless a lookup of it is still out: its answer comes soon); a watcher that
// joins a name already resolved is sent a notice, so an answer published before it joined is
// not missed. A name that loses its last watcher leaves the refresh schedule.
void Resolver::take_commands(std::uint64_t now_ns) {
    Loop& loop = *loop_;
    Command c;
    for (std::size_t i = 0; i < command_queue_size && commands_->pop(c); ++i) {
        grow_loop(c.id);
        auto& subs = loop.subscribers[c.id];
        const auto it = std::find(subs.begin(), subs.end(), c.worker);
        if (c.op == Command::Op::Watch) {
            if (it != subs.end()) {
                continue;
            }
            subs.push_back(c.worker);
            if (loop.live[c.id] == 0) {
                loop.live[c.id] = 1;
                if (loop.in_flight[c.id] == 0) {
                    loop.scheduled_ns[c.id] = now_ns;
                    loop.heap.push(Due{now_ns, c.id});
                }
            }
            if (loop.states[c.id].lookups > 0) {
                Inbox& inbox = inboxes_[c.worker];
                if (!inbox.notices.push(c.id)) {
                    inbox.resync.store(true, std::memory_order_release);
                }
            }
            continue;
        }
        if (it == subs.end()) {
            continue;
        }
        subs.erase(it);
        if (subs.empty()) {
            loop.live[c.id] = 0;
            loop.scheduled_ns[c.id] = 0;  // its heap entry is stale now
        }
    }
}

void Resolver::age_lookups(std::uint64_t now_ns) {
    Loop& loop = *loop_;
    while (!loop.young_queue.empty()) {
        const auto [at, id] = loop.young_queue.front();
        const bool current = loop.launched_ns[id] == at;
        if (current && at + options_.young_ns > now_ns) {
            break;  // the oldest young lookup is still young
        }
        if (current) {
            loop.launched_ns[id] = 0;  // aged out: still outstanding, no longer counted
            --loop.young;
        }
        loop.young_queue.pop_front();
    }
}

void Resolver::launch_due(std::uint64_t now_ns) {
    Loop& loop = *loop_;
    age_lookups(now_ns);
    ares_addrinfo_hints hints{};
    hints.ai_family = ares_family(options_.family);
    hints.ai_flags = ARES_AI_NOSORT;  // policy.cpp sorts; RFC 6724 sorting costs a connect()
    for (std::size_t launched = 0;
         launched < launch_per_turn_max && !loop.heap.empty() &&
         loop.young < options_.inflight_max && loop.inflight < options_.inflight_total_max &&
         loop.heap.top().at_ns <= now_ns;
         ++launched) {
        const Due due = loop.heap.top();
        const NameId id = due.id;
        loop.heap.pop();
        if (loop.in_flight[id] != 0 || due.at_ns != loop.scheduled_ns[id] || loop.live[id] == 0) {
            continue;  // a stale entry (see scheduled_ns), the name is out, or nobody watches it
        }
        loop.in_flight[id] = 1;
        ++loop.inflight;
        const std::uint64_t at = std::max<std::uint64_t>(now_ns, 1);
        loop.launched_ns[id] = at;
        loop.started_ns[id] = monotonic_ns();
        loop.young_queue.emplace_back(at, id);
        ++loop.young;
        loop.lookups_started.fetch_add(1, std::memory_order_relaxed);
        if (loop.inflight > loop.inflight_peak.load(std::memory_order_relaxed)) {
            loop.inflight_peak.store(loop.inflight, std::memory_order_relaxed);
        }
        const std::string& fqdn = text_of(id);
        if (is_localhost(fqdn)) {
            finish_lookup(id, localhost_answer(options_.family));
            continue;
        }
        // The callback may run inside this call (hosts file, bad name): state is ready for it.
        ares_getaddrinfo(loop.channel, fqdn.c_str(), nullptr, &hints, on_answer, &loop.ctx[id]);
    }
}

int Resolver::wait_ms(std::uint64_t now_ns) const {
    const Loop& loop = *loop_;
    int ms = -1;
    timeval tv{};
    if (ares_timeout(loop.channel, nullptr, &tv) != nullptr) {
        ms = static_cast<int>(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
    }
    if (!loop.heap.empty() && loop.young >= options_.inflight_max && !loop.young_queue.empty()) {
        // Due names wait for the oldest young lookup to age out (or be answered).
        const std::uint64_t at = loop.young_queue.front().first + options_.young_ns;
        const std::uint64_t d = at <= now_ns ? 0 : (at - now_ns + 999'999) / 1'000'000;
        const int young_ms = static_cast<int>(d);
        ms = ms < 0 ? young_ms : std::min(ms, young_ms);
    }
    if (!loop.heap.empty() && loop.young < options_.inflight_max &&
        loop.inflight < options_.inflight_total_max) {
        const std::uint64_t at = loop.heap.top().at_ns;
        const std::uint64_t d = at <= now_ns ? 0 : (at - now_ns + 999'999) / 1'000'000;
        const int heap_ms = static_cast<int>(std::min<std::uint64_t>(d, 60'000));
        ms = ms < 0 ? heap_ms : std::min(ms, heap_ms);
    }
    return ms;
}

void Resolver::requeue_all(std::uint64_t now_ns) {
    Loop& loop = *loop_;
    for (NameId id = 0; id < loop.live.size(); ++id) {
        if (loop.in_flight[id] == 0 && loop.live[id] != 0) {
            loop.scheduled_ns[id] = now_ns;
            loop.heap.push(Due{now_ns, id});
        }
    }
}

void Resolver::run() {
    Loop& loop = *loop_;
    std::array<epoll_event, epoll_events_max> events;
    while (!loop.stop.load(std::memory_order_acquire)) {
        const std::uint64_t now = monotonic_ns();
        take_commands(now);
        if (loop.refresh.exchange(false, std::memory_order_acq_rel)) {
            requeue_all(now);
        }
        launch_due(now);
        const int n = epoll_wait(loop.epoll_fd, events.data(), events.size(), wait_ms(now));
        RP_ASSERT(n >= 0 || errno == EINTR);
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == loop.wake_fd) {
                std::uint64_t v = 0;
                [[maybe_unused]] ssize_t r = ::read(loop.wake_fd, &v, sizeof v);
                continue;
            }
            const std::uint32_t e = events[i].events;
            const bool rd = (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0;
            const bool wr = (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0;
            ares_process_fd(loop.channel, rd ? fd : ARES_SOCKET_BAD, wr ? fd : ARES_SOCKET_BAD);
        }
        ares_process_fd(loop.channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // c-ares's timeouts
    }
    // Destroyed on this thread: outstanding lookups end here with ARES_EDESTRUCTION, ignored.
    ares_destroy(loop.channel);
    loop.channel = nullptr;
    ares_library_cleanup();
}

}  // namespace ringprobe::dns
