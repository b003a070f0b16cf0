// Per-backend connection counts: one flat table per listening port, indexed by the low 24 bits
// of the destination address (all of 127.0.0.0/8), split in 256 pages of 65,536 slots that are
// allocated the first time an address of their /16 is seen. Counting a connection is one page
// lookup and one relaxed atomic add; any worker may count, the control port reads.
//
// Each slot holds two numbers: `count` (what /counts shows; zeroed by /counts?reset=1) and
// `seq` (never reset; flap phases are derived from it so that reading counts does not change
// what a backend answers).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ringprobe::fleet {

class Counters {
public:
    explicit Counters(std::vector<uint16_t> ports);
    ~Counters();
    Counters(const Counters&) = delete;
    Counters& operator=(const Counters&) = delete;

    // Counts one connection to addr (host byte order) on the port at port_index and returns
    // how many connections that backend had before this one (its seq).
    uint32_t record(size_t port_index, uint32_t addr);
    // Counts one request read whole from a connection to addr: with keep-alive a connection
    // carries several, so requests over connections is the requests per connection.
    void record_request(size_t port_index, uint32_t addr);

    // {"127.1.0.1:8080": 12, ...}: every backend with a non-zero count. With reset, each count is
    // zeroed as it is read (atomically per backend, so no connection is lost or counted twice).
    std::string to_json(bool reset);
    // The same for the requests (/requests): zeroed apart from the connection counts.
    std::string requests_json(bool reset);

private:
    static constexpr uint32_t page_bits = 16;
    static constexpr uint32_t page_slots = 1u << page_bits;
    static constexpr uint32_t pages_max = 256;

    struct Slot {
        std::atomic<uint32_t> count{0};
        std::atomic<uint32_t> seq{0};
        std::atomic<uint32_t> requests{0};
    };
    std::string json(bool reset, std::atomic<uint32_t> Slot::*field);
    struct PortTable {
        std::atomic<Slot*> pages[pages_max] = {};
        Slot other;  // destinations outside 127.0.0.0/8 (only with --any-address)
    };

    Slot& slot(size_t port_index, uint32_t addr);

    std::vector<uint16_t> ports_;
    std::vector<std::unique_ptr<PortTable>> tables_;
};

}  // namespace ringprobe::fleet
