// Stage: the receive buffers. A worker's receives take provided buffers (a buffer ring
// registered with its io_uring): a recv takes a buffer only when data arrives, so a few hundred
// buffers serve tens of thousands of connections waiting for their answers. One component owns
// the slab and the ring, and give_back() is the one way a buffer returns to the kernel, whoever
// held it (an answer read, a stale receive's buffer). Header-inline: a buffer goes back once per
// receive completion, in the reap loop.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <memory>

#include "common/result.hpp"
#include "engine/ring.hpp"

namespace ringprobe::engine {

class ReceiveBuffers {
public:
    // The buffer group every receive names (IOSQE_BUFFER_SELECT).
    static constexpr unsigned group = 0;

    ReceiveBuffers() = default;
    ~ReceiveBuffers();
    ReceiveBuffers(const ReceiveBuffers&) = delete;
    ReceiveBuffers& operator=(const ReceiveBuffers&) = delete;

    // count buffers (a power of two) of size bytes each, registered with ring; start-up only.
    Result<void> init(Ring& ring, unsigned count, unsigned size);

    // A completion that took a buffer says so in its flags, and which one.
    static bool taken(unsigned cqe_flags) { return (cqe_flags & IORING_CQE_F_BUFFER) != 0; }
    static unsigned id_of(unsigned cqe_flags) { return cqe_flags >> IORING_CQE_BUFFER_SHIFT; }

    char* data(unsigned bid) const { return slab_.get() + std::size_t{bid} * size_; }

    // Hands buffer bid back to the kernel for the next receive.
    void give_back(unsigned bid) {
        io_uring_buf_ring_add(ring_, data(bid), size_, static_cast<unsigned short>(bid),
                              io_uring_buf_ring_mask(count_), 0);
        io_uring_buf_ring_advance(ring_, 1);
    }

    std::size_t ring_bytes() const { return ring_bytes_; }  // the mapped buffer ring

private:
    void* ring_mem_ = nullptr;
    std::size_t ring_bytes_ = 0;
    io_uring_buf_ring* ring_ = nullptr;
    std::unique_ptr<char[]> slab_;
    unsigned count_ = 0;
    unsigned size_ = 0;
};

}  // namespace ringprobe::engine
