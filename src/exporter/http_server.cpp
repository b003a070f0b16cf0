// The exporter's HTTP server (see http_server.hpp). Level-triggered epoll; each connection is
// one slot of a fixed table, named in epoll's data word by {slot, generation} so that an event
// queued for a connection closed earlier in the same batch is recognised and dropped.
#include "exporter/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/assert.hpp"
#include "common/clock.hpp"
#include "common/text.hpp"

namespace ringprobe::exporter {

namespace {

constexpr std::uint64_t kListenTag = ~std::uint64_t{0};
constexpr std::uint64_t kWakeTag = ~std::uint64_t{0} - 1;
constexpr int kAcceptBatch = 64;  // accepts per wake-up, so a flood cannot starve the others
constexpr int kEventBatch = 64;

std::uint64_t ms(std::uint32_t v) {
    return std::uint64_t{v} * 1'000'000ull;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 431: return "Request Header Fields Too Large";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return "Status";
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// What the head of a request says, once it is complete.
struct Head {
    HttpRequest req;
    bool keep_alive = true;
    bool has_body = false;
    bool valid = false;
    bool version_ok = true;
};

// What a request line's version allows (RFC 9112 section 2.3: HTTP-version is "HTTP/" DIGIT
// "." DIGIT, case-sensitive). A major version other than 1 is 505. A higher minor version of
// HTTP/1 is served as HTTP/1.1, the highest minor this server implements, as RFC 9110 section
// 6.2 says a recipient should; anything else is not an HTTP version and the line is malformed.
enum class Version : std::uint8_t { Malformed, Unsupported, Http10, Http11 };

Version classify_version(std::string_view v) {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !digit(v[5]) || v[6] != '.' || !digit(v[7])) {
        return Version::Malformed;
    }
    if (v[5] != '1') {
        return Version::Unsupported;
    }
    return v[7] == '0' ? Version::Http10 : Version::Http11;
}

Head parse_head(std::string_view head) {
    Head h;
    const std::size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0) {
        return h;
    }
    h.req.method = line.substr(0, sp1);
    h.req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const Version version = classify_version(line.substr(sp2 + 1));
    if (version == Version::Unsupported) {
        h.version_ok = false;
        return h;
    }
    if (version == Version::Malformed || h.req.target.empty() || h.req.target.front() != '/') {
        return h;
    }
    h.keep_alive = version == Version::Http11;
    const std::size_t q = h.req.target.find('?');
    h.req.path = h.req.target.substr(0, q);
    h.req.query = q == std::string_view::npos ? std::string_view{} : h.req.target.substr(q + 1);
    std::string_view rest =
        eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
    while (!rest.empty()) {
        const std::size_t e = rest.find("\r\n");
        const std::string_view field = rest.substr(0, e);
        rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
        const std::size_t colon = field.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        const std::string_view name = field.substr(0, colon);
        const std::string_view value = trim(field.substr(colon + 1));
        if (iequals(name, "connection")) {
            if (iequals(value, "close")) {
                h.keep_alive = false;
            } else if (iequals(value, "keep-alive")) {
                h.keep_alive = true;
            }
        } else if (iequals(name, "transfer-encoding")) {
            h.has_body = true;
        } else if (iequals(name, "content-length")) {
            h.has_body = h.has_body || value != "0";
        }
    }
    h.valid = true;
    return h;
}

}  // namespace

HostPort ListenAddress::address() const {
    return HostPort{host, host.find(':') != std::string::npos, true, port};
}

Result<ListenAddress> parse_listen(std::string_view text) {
    auto hp = parse_host_port(text);
    if (!hp) {
        return unexpected(hp.error());
    }
    if (!hp->has_port) {
        return error("'" + std::string(text) +
                     "' has no port: give ADDRESS:PORT, e.g. 127.0.0.1:9470 or [::1]:9470");
    }
    return ListenAddress{hp->host, hp->port};
}

struct HttpServer::Conn {
    int fd = -1;
    std::uint32_t index = 0;
    std::uint32_t generation = 0;
    bool writing = false;
    bool close_after_write = false;
    std::uint64_t wait_since_ns = 0;  // when it began waiting for the current request
    std::uint64_t deadline_ns = 0;
    std::string in;
    std::string out;
    std::size_t out_off = 0;
};

Result<HttpServer> HttpServer::listen(const ListenAddress& at, const ServerLimits& limits,
                                      Handler handler) {
    RP_ASSERT(limits.connections_max > 0);
    RP_ASSERT(limits.request_bytes_max >= 64);
    HttpServer s;
    s.limits_ = limits;
    s.handler_ = std::move(handler);
    s.stats_ = std::make_unique<ServerStats>();
    socklen_t len = 0;
    sockaddr_storage sa = at.address().sockaddr(len);
    s.listen_fd_ = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.listen_fd_ < 0) {
        return error(std::string("exporter: socket: ") + std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(s.listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(s.listen_fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
        ::listen(s.listen_fd_, 1024) != 0) {
        return error("exporter: cannot listen on " + at.to_string() + ": " + std::strerror(errno) +
                     " (choose another --listen ADDRESS:PORT, or --listen none)");
    }
    ::getsockname(s.listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    s.port_ = sa.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
    s.epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    s.wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s.epoll_fd_ < 0 || s.wake_fd_ < 0) {
        return error(std::string("exporter: epoll/eventfd: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    ::epoll_ctl(s.epoll_fd_, EPOLL_CTL_ADD, s.listen_fd_, &ev);
    ev.data.u64 = kWakeTag;
    ::epoll_ctl(s.epoll_fd_, EPOLL_CTL_ADD, s.wake_fd_, &ev);
    s.conns_.resize(limits.connections_max);
    s.free_.reserve(limits.connections_max);
    for (std::uint32_t i = limits.connections_max; i > 0; --i) {
        s.conns_[i - 1].index = i - 1;
        s.free_.push_back(i - 1);
    }
    return s;
}

HttpServer::HttpServer(HttpServer&& o) noexcept
    : listen_fd_(o.listen_fd_),
      epoll_fd_(o.epoll_fd_),
      wake_fd_(o.wake_fd_),
      port_(o.port_),
      limits_(o.limits_),
      handler_(std::move(o.handler_)),
      conns_(std::move(o.conns_)),
      free_(std::move(o.free_)),
      next_expiry_scan_ns_(o.next_expiry_scan_ns_),
      stats_(std::move(o.stats_)) {
    o.listen_fd_ = o.epoll_fd_ = o.wake_fd_ = -1;
}

HttpServer::~HttpServer() {
    for (Conn& c : conns_) {
        if (c.fd >= 0) {
            ::close(c.fd);
        }
    }
    for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

void HttpServer::wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void HttpServer::poll(int timeout_ms) {
    const int wait = std::min<int>(timeout_ms, static_cast<int>(limits_.tick_ms));
    epoll_event evs[kEventBatch];
    const int n = ::epoll_wait(epoll_fd_, evs, kEventBatch, wait);
    for (int i = 0; i < n; ++i) {
        if (evs[i].data.u64 == kListenTag) {
            accept_ready();
        } else if (evs[i].data.u64 == kWakeTag) {
            std::uint64_t v = 0;
            [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
        } else {
            on_event(evs[i].data.u64, evs[i].events);
        }
    }
    const std::uint64_t now = monotonic_ns();
    if (now >= next_expiry_scan_ns_) {
        expire(now);
        next_expiry_scan_ns_ = now + ms(limits_.tick_ms);
    }
}

void HttpServer::watch(Conn& c, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = (std::uint64_t{c.generation} << 32) | c.index;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

// A free slot, or the one that has waited longest for a request (closed to make room).
HttpServer::Conn* HttpServer::take_slot(std::uint64_t now) {
    (void)now;
    if (!free_.empty()) {
        Conn* c = &conns_[free_.back()];
        free_.pop_back();
        return c;
    }
    Conn* oldest = nullptr;
    for (Conn& c : conns_) {
        const bool waiting = c.fd >= 0 && !c.writing;
        if (waiting && (oldest == nullptr || c.wait_since_ns < oldest->wait_since_ns)) {
            oldest = &c;
        }
    }
    if (oldest == nullptr) {
        return nullptr;  // every slot is sending an answer: the newcomer waits its turn
    }
    stats_->evicted.fetch_add(1, std::memory_order_relaxed);
    close_conn(*oldest);
    RP_ASSERT(!free_.empty());
    Conn* c = &conns_[free_.back()];
    free_.pop_back();
    return c;
}

void HttpServer::accept_ready() {
    for (int i = 0; i < kAcceptBatch; ++i) {
        const std::uint64_t now = monotonic_ns();
        Conn* c = take_slot(now);
        if (c == nullptr) {
            return;
        }
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            free_.push_back(c->index);
            return;  // EAGAIN, or out of descriptors: the kernel keeps it in the backlog
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->generation += 1;
        c->writing = false;
        c->close_after_write = false;
        c->wait_since_ns = now;
        c->deadline_ns = now + ms(limits_.idle_timeout_ms);
        c->in.clear();
        c->out.clear();
        c->out_off = 0;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = (std::uint64_t{c->generation} << 32) | c->index;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        stats_->accepted.fetch_add(1, std::memory_order_relaxed);
        stats_->open.fetch_add(1, std::memory_order_relaxed);
    }
}

void HttpServer::on_event(std::uint64_t data, std::uint32_t events) {
    const auto index = static_cast<std::uint32_t>(data & 0xffffffffu);
    const auto generation = static_cast<std::uint32_t>(data >> 32);
    if (index >= conns_.size()) {
        return;
    }
    Conn& c = conns_[index];
    if (c.fd < 0 || c.generation != generation) {
        return;  // closed (and maybe reused) earlier in this batch
    }
    if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
        close_conn(c);
        return;
    }
    if (c.writing) {
        on_writable(c);
    } else {
        on_readable(c);
    }
}

void HttpServer::on_readable(Conn& c) {
    char buf[4096];
    const std::size_t room = limits_.request_bytes_max + 1 - c.in.size();
    const ssize_t n = ::recv(c.fd, buf, std::min(sizeof buf, room), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close_conn(c);
        return;
    }
    if (n < 0) {
        return;
    }
    if (c.in.empty()) {
        c.deadline_ns = monotonic_ns() + ms(limits_.request_timeout_ms);
    }
    c.in.append(buf, static_cast<std::size_t>(n));
    serve_buffered(c);
}

// Answers the complete request at the front of c.in, if there is one. False when c closed.
bool HttpServer::serve_buffered(Conn& c) {
    const std::size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos || end + 4 > limits_.request_bytes_max) {
        if (c.in.size() > limits_.request_bytes_max ||
            (end != std::string::npos && end + 4 > limits_.request_bytes_max)) {
            stats_->too_large.fetch_add(1, std::memory_order_relaxed);
            HttpResponse r;
            r.status = 431;
            r.body = "request head larger than " + std::to_string(limits_.request_bytes_max) +
                     " bytes\n";
            respond(c, std::move(r), false, false);
        }
        return c.fd >= 0;
    }
    const std::size_t head_len = end + 4;
    const Head h = parse_head(std::string_view(c.in).substr(0, end + 2));
    HttpResponse r;
    bool keep = h.keep_alive;
    bool head_only = false;
    if (!h.valid) {
        stats_->bad_requests.fetch_add(1, std::memory_order_relaxed);
        r.status = h.version_ok ? 400 : 505;
        r.body = h.version_ok ? "malformed request\n" : "only HTTP/1.x is served\n";
        keep = false;
    } else if (h.req.method != "GET" && h.req.method != "HEAD") {
        stats_->not_allowed.fetch_add(1, std::memory_order_relaxed);
        r.status = 405;
        r.body = "only GET and HEAD are served\n";
        r.extra_headers = "Allow: GET, HEAD\r\n";
        keep = keep && !h.has_body;
    } else if (h.has_body) {
        stats_->bad_requests.fetch_add(1, std::memory_order_relaxed);
        r.status = 400;
        r.body = "a GET or HEAD request carries no body here\n";
        keep = false;
    } else {
        head_only = h.req.method == "HEAD";
        r = handler_(h.req);
    }
    c.in.erase(0, head_len);
    respond(c, std::move(r), keep, head_only);
    return c.fd >= 0;
}

void HttpServer::respond(Conn& c, HttpResponse r, bool keep_alive, bool head) {
    std::string& o = c.out;
    o.clear();
    c.out_off = 0;
    o.reserve(256 + (head ? 0 : r.body.size()));
    o += "HTTP/1.1 ";
    o += std::to_string(r.status);
    o += ' ';
    o += reason_phrase(r.status);
    o += "\r\nContent-Type: ";
    o += r.content_type;
    o += "\r\nContent-Length: ";
    o += std::to_string(r.body.size());
    o += "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
    o += r.extra_headers;
    o += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (!head) {
        o += r.body;
    }
    stats_->responses.fetch_add(1, std::memory_order_relaxed);
    c.writing = true;
    c.close_after_write = !keep_alive;
    c.deadline_ns = monotonic_ns() + ms(limits_.write_timeout_ms);
    on_writable(c);
}

void HttpServer::on_writable(Conn& c) {
    while (c.out_off < c.out.size()) {
        const ssize_t n =
            ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            watch(c, EPOLLOUT | EPOLLRDHUP);
            return;
        }
        if (n <= 0) {
            close_conn(c);
            return;
        }
        c.out_off += static_cast<std::size_t>(n);
    }
    if (c.close_after_write) {
        ::shutdown(c.fd, SHUT_WR);
        close_conn(c);
        return;
    }
    c.writing = false;
    c.out.clear();
    c.out_off = 0;
    c.wait_since_ns = monotonic_ns();
    c.deadline_ns =
        c.wait_since_ns + ms(c.in.empty() ? limits_.idle_timeout_ms : limits_.request_timeout_ms);
    watch(c, EPOLLIN | EPOLLRDHUP);
    if (!c.in.empty()) {
        serve_buffered(c);  // a pipelined request already read
    }
}

void HttpServer::close_conn(Conn& c) {
    RP_ASSERT(c.fd >= 0);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
    c.generation += 1;
    c.in.clear();
    c.in.shrink_to_fit();
    c.out.clear();
    c.out.shrink_to_fit();
    free_.push_back(c.index);
    stats_->open.fetch_sub(1, std::memory_order_relaxed);
}

void HttpServer::expire(std::uint64_t now) {
    for (Conn& c : conns_) {
        if (c.fd >= 0 && now >= c.deadline_ns) {
            stats_->timed_out.fetch_add(1, std::memory_order_relaxed);
            close_conn(c);
        }
    }
}

}  // namespace ringprobe::exporter
