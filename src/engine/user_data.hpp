// user_data packing for io_uring: {target index, generation, operation} in 64 bits.
//
// Every SQE a worker submits names the target it works for, the generation of that target's
// current probe attempt and which operation it is. A completion whose generation no longer
// matches the target's (a late CQE for a probe that already ended) is a counted no-op, never a
// use-after-reuse (liburing's proxy example packs user_data the same way).
//
//   bits 63..32  target index within the worker's shard   (up to 4 Gi targets)
//   bits 31..8   generation of the probe attempt           (24 bits, wraps)
//   bits  7..0   Op
#pragma once

#include <cstdint>

namespace ringprobe::engine {

enum class Op : std::uint8_t {
    Connect = 1,
    Send = 2,
    Recv = 3,
    Close = 4,
    Cancel = 5,
    Wake = 6,         // not a probe: the worker's own wake-up (eventfd read)
    Socket = 7,       // a direct socket (IORING_OP_SOCKET into the ring's file table)
    CloseDirect = 8,  // closes a direct socket; target names the table entry, not a slot
    Shutdown = 9,     // forces a direct socket down (counted in the slot's pending SQEs)
    SockOpt = 10,     // TCP_QUICKACK 0 through the ring (counted in the slot's pending SQEs)
    Peek = 11,        // a kept connection's check for bytes or an end before it is reused
};

inline constexpr std::uint32_t generation_mask = 0xFFFFFFu;

struct UserData {
    std::uint32_t target = 0;
    std::uint32_t generation = 0;  // only the low 24 bits survive packing
    Op op = Op::Connect;
};

constexpr std::uint64_t pack_user_data(UserData u) {
    return (std::uint64_t{u.target} << 32) | (std::uint64_t{u.generation & generation_mask} << 8) |
           static_cast<std::uint64_t>(u.op);
}

constexpr UserData unpack_user_data(std::uint64_t v) {
    return UserData{static_cast<std::uint32_t>(v >> 32),
                    static_cast<std::uint32_t>((v >> 8) & generation_mask),
                    static_cast<Op>(v & 0xFF)};
}

static_assert(unpack_user_data(pack_user_data({7, 0x123456, Op::Recv})).target == 7);
static_assert(unpack_user_data(pack_user_data({7, 0x123456, Op::Recv})).generation == 0x123456);
static_assert(unpack_user_data(pack_user_data({7, 0x123456, Op::Recv})).op == Op::Recv);

}  // namespace ringprobe::engine
