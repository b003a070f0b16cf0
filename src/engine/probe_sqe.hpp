// How a probe's SQEs are spelled where liburing leaves it to the caller: the fixed-file flag of
// an operation on a direct socket, and the socket command that sets TCP_QUICKACK through the
// ring. Shared by the probe's start (its SQE chain) and the ring's start-up question whether
// socket commands work (Ring::sets_socket_options); inline, since the chain is built once per
// probe.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <cstring>

namespace ringprobe::engine {

// A socket command: setsockopt through the ring (IORING_OP_URING_CMD with
// SOCKET_URING_OP_SETSOCKOPT, Linux 6.7). liburing 2.3 names neither the command nor the SQE
// fields it uses, so they are set here by their place in the kernel's struct io_uring_sqe
// (include/uapi/linux/io_uring.h): cmd_op at byte 8, level and optname at 16 and 20, optlen
// at 44 and optval at 48.
inline constexpr std::uint32_t socket_uring_op_setsockopt = 3;

inline void prep_setsockopt(io_uring_sqe* sqe, int fd, int level, int optname, const int* value) {
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, nullptr, 0, 0);
    auto put32 = [sqe](std::size_t at, std::uint32_t v) {
        std::memcpy(reinterpret_cast<char*>(sqe) + at, &v, sizeof v);
    };
    put32(8, socket_uring_op_setsockopt);
    put32(16, static_cast<std::uint32_t>(level));
    put32(20, static_cast<std::uint32_t>(optname));
    put32(44, sizeof(int));
    const std::uint64_t ptr = reinterpret_cast<std::uintptr_t>(value);
    std::memcpy(reinterpret_cast<char*>(sqe) + 48, &ptr, sizeof ptr);
}
static_assert(sizeof(io_uring_sqe) == 64);

// TCP_QUICKACK's value for a plain HTTP probe's socket: 0, so the handshake's last ACK rides
// on the request instead of a packet of its own.
inline constexpr int quickack_off = 0;

// SO_TIMESTAMPNS's value for a socket that receives: 1, so each receive's control message
// carries the kernel's receive time of its bytes.
inline constexpr int rx_timestamps_on = 1;

// An operation on a probe's socket names a direct one by its entry in the ring's file table.
inline void on_socket_of(io_uring_sqe* sqe, bool direct) {
    if (direct) {
        sqe->flags |= IOSQE_FIXED_FILE;
    }
}

}  // namespace ringprobe::engine
