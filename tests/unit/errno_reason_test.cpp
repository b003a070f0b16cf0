// Pins src/engine/errno_reason.hpp: every errno each operation's switch names maps to the Reason
// docs/ARCHITECTURE.md gives it, an errno no switch names is ProberError, and the local
// exhaustion errors (descriptors, ports, buffers) are prober-side, never counted against the
// backend, while the network's answers are the backend's. The engine meets most of these only
// on a broken network or an exhausted machine, so no integration test reaches them.
#include <gtest/gtest.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "engine/errno_reason.hpp"

namespace ringprobe::engine {
namespace {

using Table = std::vector<std::pair<int, Reason>>;

void expect_table(Reason (*map)(int), const Table& table, const char* what) {
    for (const auto& [err, want] : table) {
        EXPECT_EQ(map(err), want) << what << "(" << err << ")";
    }
}

TEST(ErrnoReason, ConnectErrorsNameTheirLayer) {
    expect_table(connect_reason,
                 {{ECONNREFUSED, Reason::ConnectRefused},
                  {ETIMEDOUT, Reason::ConnectTimeout},
                  {EHOSTUNREACH, Reason::ConnectUnreachable},
                  {ENETUNREACH, Reason::ConnectUnreachable},
                  {EHOSTDOWN, Reason::ConnectUnreachable},
                  {ENETDOWN, Reason::ConnectUnreachable},
                  {EACCES, Reason::ConnectUnreachable},
                  {EPERM, Reason::ConnectUnreachable},
                  {ECONNRESET, Reason::ConnectionReset},
                  {ECONNABORTED, Reason::ConnectionReset},
                  {EPIPE, Reason::ConnectionReset},
                  {EADDRNOTAVAIL, Reason::ProberNoPorts},
                  {EADDRINUSE, Reason::ProberNoPorts},
                  {EMFILE, Reason::ProberNoFds},
                  {ENFILE, Reason::ProberNoFds},
                  {ENOBUFS, Reason::ProberNoBuffers},
                  {ENOMEM, Reason::ProberNoBuffers},
                  {EINVAL, Reason::ProberError},
                  {0, Reason::ProberError}},
                 "connect_reason");
}

TEST(ErrnoReason, SocketErrorsAreAlwaysTheProbers) {
    expect_table(socket_reason,
                 {{EMFILE, Reason::ProberNoFds},
                  {ENFILE, Reason::ProberNoFds},
                  {ENOBUFS, Reason::ProberNoBuffers},
                  {ENOMEM, Reason::ProberNoBuffers},
                  {EAFNOSUPPORT, Reason::ProberError},
                  {ECONNREFUSED, Reason::ProberError}},
                 "socket_reason");
    for (int err : {EMFILE, ENFILE, ENOBUFS, ENOMEM, EAFNOSUPPORT, ECONNREFUSED}) {
        EXPECT_TRUE(reason_is_prober_side(socket_reason(err))) << err;
    }
}

TEST(ErrnoReason, ExchangeErrorsNameTheirLayer) {
    expect_table(exchange_reason,
                 {{ECONNRESET, Reason::ConnectionReset},
                  {EPIPE, Reason::ConnectionReset},
                  {ECONNABORTED, Reason::ConnectionReset},
                  {ETIMEDOUT, Reason::ResponseTimeout},
                  {EHOSTUNREACH, Reason::ConnectUnreachable},
                  {ENETUNREACH, Reason::ConnectUnreachable},
                  {ENOMEM, Reason::ProberNoBuffers},
                  {EBADF, Reason::ProberError}},
                 "exchange_reason");
}

TEST(ErrnoReason, LocalExhaustionNeverCountsAgainstTheBackend) {
    for (int err : {EADDRNOTAVAIL, EADDRINUSE, EMFILE, ENFILE, ENOBUFS, ENOMEM, EINVAL}) {
        const Reason r = connect_reason(err);
        EXPECT_TRUE(reason_is_prober_side(r)) << err;
        EXPECT_FALSE(reason_info(r).counts_against_backend) << err;
    }
    for (int err : {ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ECONNRESET}) {
        EXPECT_TRUE(reason_info(connect_reason(err)).counts_against_backend) << err;
    }
}

}  // namespace
}  // namespace ringprobe::engine
