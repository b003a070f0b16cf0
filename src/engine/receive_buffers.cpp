// The receive buffers' start-up and teardown (the per-receive part is inline in the header).
#include "engine/receive_buffers.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/assert.hpp"
#include "engine/ring.hpp"

namespace ringprobe::engine {

ReceiveBuffers::~ReceiveBuffers() {
    if (ring_mem_ != nullptr) {
        munmap(ring_mem_, ring_bytes_);
    }
}

Result<void> ReceiveBuffers::init(Ring& ring, unsigned count, unsigned size) {
    RP_ASSERT((count & (count - 1)) == 0);
    count_ = count;
    size_ = size;
    // Provided buffers: a recv takes a buffer only when data arrives, so a few hundred buffers
    // serve tens of thousands of connections waiting for their answers.
    ring_bytes_ = sizeof(io_uring_buf) * count_;
    ring_mem_ =
        mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (ring_mem_ == MAP_FAILED) {
        ring_mem_ = nullptr;
        return error(std::string("cannot map the receive buffer ring: ") + std::strerror(errno));
    }
    ring_ = static_cast<io_uring_buf_ring*>(ring_mem_);
    io_uring_buf_ring_init(ring_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(ring_mem_);
    reg.ring_entries = count_;
    reg.bgid = group;
    if (int rc = io_uring_register_buf_ring(ring.raw(), &reg, 0); rc != 0) {
        return error(std::string("cannot register the receive buffer ring: ") + std::strerror(-rc) +
                     " (needs Linux " + min_kernel + " or later)");
    }
    slab_ = std::make_unique<char[]>(std::size_t{count_} * size_);
    // Every buffer to the kernel at once: one advance for the whole slab.
    const int mask = io_uring_buf_ring_mask(count_);
    for (unsigned b = 0; b < count_; ++b) {
        io_uring_buf_ring_add(ring_, data(b), size_, static_cast<unsigned short>(b), mask,
                              static_cast<int>(b));
    }
    io_uring_buf_ring_advance(ring_, static_cast<int>(count_));
    return {};
}

}  // namespace ringprobe::engine
