// Listening sockets: the shared per-port listeners and the drop_syn ones.
//
// Every listener sets SO_REUSEPORT: the workers' listeners on one port form one group, and a
// drop_syn listener on 127.a.b.c:P may coexist with the wildcard 0.0.0.0:P ones (the kernel
// looks up the exact address first, so its connections never reach the shared listeners).
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fleet.hpp"

namespace ringprobe::fleet {

namespace {

std::string errno_text(int e) {
    return std::string(std::strerror(e));
}

Result<int> reusable_socket() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return error("socket: " + errno_text(errno));
    }
    int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        int e = errno;
        ::close(fd);
        return error("setsockopt SO_REUSEADDR/SO_REUSEPORT: " + errno_text(e));
    }
    return fd;
}

// Drops what it is given on scope exit unless released; keeps error paths short.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    int release() {
        int f = fd;
        fd = -1;
        return f;
    }
};

}  // namespace

std::string endpoint_text(uint32_t addr, uint16_t port) {
    in_addr a{htonl(addr)};
    char buf[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &a, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port);
}

Result<int> listen_any(uint16_t port, bool bind_to_lo) {
    auto s = reusable_socket();
    if (!s) {
        return s;
    }
    FdGuard g{*s};
    if (bind_to_lo) {
        const char dev[] = "lo";
        if (::setsockopt(g.fd, SOL_SOCKET, SO_BINDTODEVICE, dev, sizeof dev) != 0) {
            return error(
                "cannot bind the listener to device lo (SO_BINDTODEVICE: " + errno_text(errno) +
                "; it needs root or CAP_NET_RAW). Refusing to listen on every "
                "interface; pass --any-address to accept that");
        }
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    sa.sin_port = htons(port);
    if (::bind(g.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        return error("bind 0.0.0.0:" + std::to_string(port) + ": " + errno_text(errno));
    }
    // The kernel clamps the backlog to net.core.somaxconn.
    if (::listen(g.fd, 65535) != 0) {
        return error("listen on port " + std::to_string(port) + ": " + errno_text(errno));
    }
    return g.release();
}

Result<int> listen_drop_syn(const Endpoint& endpoint) {
    auto s = reusable_socket();
    if (!s) {
        return s;
    }
    FdGuard g{*s};
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(endpoint.first);
    sa.sin_port = htons(endpoint.second);
    if (::bind(g.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        return error("drop_syn listener " + endpoint_text(endpoint.first, endpoint.second) +
                     ": bind: " + errno_text(errno));
    }
    // Backlog 1: Linux queues backlog + 1 = 2 established connections, then drops SYNs.
    if (::listen(g.fd, 1) != 0) {
        return error("drop_syn listener " + endpoint_text(endpoint.first, endpoint.second) +
                     ": listen: " + errno_text(errno));
    }
    return g.release();
}

void close_drop_syn(DropSynListener& l) {
    for (int fd : l.fillers) {
        ::close(fd);
    }
    l.fillers.clear();
    if (l.listen_fd >= 0) {
        ::close(l.listen_fd);
        l.listen_fd = -1;
    }
}

// Rounds of one non-blocking connect to every listener not yet full. On loopback a queued
// connection completes in microseconds; one that does not complete within round_ms found the
// queue full, so its listener is done. All listeners are filled in parallel, so the cost is
// about one round_ms whatever their number.
void fill_backlogs(std::vector<DropSynListener*>& listeners) {
    constexpr int round_ms = 100;
    constexpr int rounds_max = 6;
    std::vector<DropSynListener*> pending = listeners;
    for (int round = 0; round < rounds_max && !pending.empty(); ++round) {
        std::vector<pollfd> pfds;
        for (DropSynListener* l : pending) {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_addr.s_addr = htonl(l->endpoint.first);
            sa.sin_port = htons(l->endpoint.second);
            if (fd >= 0) {
                int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
                if (rc != 0 && errno != EINPROGRESS) {
                    ::close(fd);
                    fd = -1;
                }
            }
            pfds.push_back(pollfd{fd, POLLOUT, 0});
        }
        // Wait until every connect has finished or round_ms has passed.
        for (int waited = 0; waited < round_ms; waited += 5) {
            int done = 0;
            for (auto& p : pfds) {
                p.revents = 0;
            }
            ::poll(pfds.data(), pfds.size(), 0);
            for (auto& p : pfds) {
                done += (p.fd < 0 || p.revents != 0) ? 1 : 0;
            }
            if (done == static_cast<int>(pfds.size())) {
                break;
            }
            ::poll(nullptr, 0, 5);
        }
        std::vector<DropSynListener*> next;
        for (size_t i = 0; i < pending.size(); ++i) {
            int err = 0;
            socklen_t len = sizeof err;
            bool connected = pfds[i].fd >= 0 && (pfds[i].revents & POLLOUT) != 0 &&
                             ::getsockopt(pfds[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
                             err == 0;
            if (connected) {
                pending[i]->fillers.push_back(pfds[i].fd);
                next.push_back(pending[i]);
            } else if (pfds[i].fd >= 0) {
                ::close(pfds[i].fd);  // still in SYN_SENT: the queue is full
            }
        }
        pending = std::move(next);
    }
    for (DropSynListener* l : pending) {
        std::fprintf(stderr,
                     "ringprobe-fleet: warning: the backlog of drop_syn listener %s did "
                     "not fill after %zu connections; SYNs to it may still be answered\n",
                     endpoint_text(l->endpoint.first, l->endpoint.second).c_str(),
                     l->fillers.size());
    }
}

}  // namespace ringprobe::fleet
