// The exporter's tiny HTTP/1.1 server: one epoll, one thread, a fixed table of connections.
//
// It serves a handful of read-only pages to a scraper or a person, so it is built to be cheap
// and impossible to wedge, not fast:
//  - GET and HEAD only (405 otherwise); a request is its head only (a body is refused, 400);
//  - a request head is at most `request_bytes_max` bytes (431 and close beyond);
//  - a connection that sends nothing is closed after `idle_timeout_ms`, one that started a
//    request must finish its head within `request_timeout_ms` (slowloris), and a response must
//    drain within `write_timeout_ms`;
//  - at most `connections_max` connections: when the table is full, the connection that has
//    waited longest for a request is closed to make room, so idle sockets can never lock a
//    scraper out (a client that sends its request at once is answered at once);
//  - keep-alive as HTTP/1.1 says; `Connection: close` and HTTP/1.0 close after the answer.
// Deadlines are checked by a scan of the (bounded) table at least every `tick_ms`.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/host_port.hpp"
#include "common/result.hpp"

namespace ringprobe::exporter {

struct ListenAddress {
    std::string host;  // numeric IPv4 or IPv6 without brackets: "127.0.0.1", "::1"
    std::uint16_t port = 0;
    HostPort address() const;
    bool is_loopback() const { return address().is_loopback(); }
    std::string to_string() const { return address().to_string(); }  // "[::1]:9470"
};

// "127.0.0.1:9470" or "[::1]:9470" -> ListenAddress (common/host_port.hpp reads it; the port is
// required). Port 0 lets the kernel choose (tests).
Result<ListenAddress> parse_listen(std::string_view text);

struct ServerLimits {
    std::uint32_t connections_max = 256;
    std::uint32_t request_bytes_max = 8192;
    std::uint32_t idle_timeout_ms = 15000;
    std::uint32_t request_timeout_ms = 5000;
    std::uint32_t write_timeout_ms = 10000;
    std::uint32_t tick_ms = 250;
};

struct HttpRequest {
    std::string_view method;
    std::string_view target;  // as sent: path and query
    std::string_view path;
    std::string_view query;  // after '?', empty when none
};

struct HttpResponse {
    int status = 200;
    std::string_view content_type = "text/plain; charset=utf-8";
    std::string body;
    std::string_view extra_headers;  // whole lines, each ending in "\r\n"
};

// Counters the server keeps (written by the server thread, read by anyone).
struct ServerStats {
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> evicted{0};       // closed to make room at the cap
    std::atomic<std::uint64_t> timed_out{0};     // idle, slow request or slow reader
    std::atomic<std::uint64_t> too_large{0};     // 431
    std::atomic<std::uint64_t> bad_requests{0};  // 400
    std::atomic<std::uint64_t> not_allowed{0};   // 405
    std::atomic<std::uint64_t> responses{0};     // every answer, whatever its status
    std::atomic<std::uint64_t> open{0};          // connections open now
};

class HttpServer {
public:
    using Handler = std::function<HttpResponse(const HttpRequest&)>;

    // Binds and listens (SO_REUSEADDR, backlog 1024); the handler runs on the serving thread.
    static Result<HttpServer> listen(const ListenAddress& at, const ServerLimits& limits,
                                     Handler handler);
    HttpServer(HttpServer&& other) noexcept;
    HttpServer& operator=(HttpServer&&) = delete;
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;
    ~HttpServer();

    std::uint16_t port() const { return port_; }
    const ServerStats& stats() const { return *stats_; }

    // Serves for at most timeout_ms (less when an event arrives). One thread only.
    void poll(int timeout_ms);
    // Makes a poll() in progress return soon; any thread.
    void wake();

private:
    struct Conn;
    HttpServer() = default;
    void accept_ready();
    void on_event(std::uint64_t data, std::uint32_t events);
    void on_readable(Conn& c);
    void on_writable(Conn& c);
    bool serve_buffered(Conn& c);
    void respond(Conn& c, HttpResponse r, bool keep_alive, bool head);
    void close_conn(Conn& c);
    void expire(std::uint64_t now_ns);
    Conn* take_slot(std::uint64_t now_ns);
    void watch(Conn& c, std::uint32_t events);

    int listen_fd_ = -1;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    std::uint16_t port_ = 0;
    ServerLimits limits_;
    Handler handler_;
    std::vector<Conn> conns_;
    std::vector<std::uint32_t> free_;
    std::uint64_t next_expiry_scan_ns_ = 0;
    std::unique_ptr<ServerStats> stats_;
};

}  // namespace ringprobe::exporter
