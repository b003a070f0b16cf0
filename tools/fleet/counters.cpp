#include "counters.hpp"

#include <charconv>

#include "common/assert.hpp"

namespace ringprobe::fleet {

Counters::Counters(std::vector<uint16_t> ports) : ports_(std::move(ports)) {
    for (size_t i = 0; i < ports_.size(); ++i) {
        tables_.push_back(std::make_unique<PortTable>());
    }
}

Counters::~Counters() {
    for (auto& t : tables_) {
        for (auto& p : t->pages) {
            delete[] p.load(std::memory_order_relaxed);
        }
    }
}

Counters::Slot& Counters::slot(size_t port_index, uint32_t addr) {
    RP_ASSERT_HOT(port_index < tables_.size());
    PortTable& t = *tables_[port_index];
    if ((addr >> 24) != 127) {
        return t.other;
    }
    uint32_t low = addr & 0xffffffu;
    std::atomic<Slot*>& page = t.pages[low >> page_bits];
    Slot* p = page.load(std::memory_order_acquire);
    if (p == nullptr) [[unlikely]] {
        // First connection into this /16: allocate its page; whoever loses the race frees its own.
        Slot* fresh = new Slot[page_slots];
        if (page.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) {
            p = fresh;
        } else {
            delete[] fresh;
        }
    }
    return p[low & (page_slots - 1)];
}

uint32_t Counters::record(size_t port_index, uint32_t addr) {
    Slot& s = slot(port_index, addr);
    s.count.fetch_add(1, std::memory_order_relaxed);
    return s.seq.fetch_add(1, std::memory_order_relaxed);
}

namespace {
void append_num(std::string& out, uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    RP_ASSERT(ec == std::errc{});
    out.append(buf, end);
}

void append_entry(std::string& out, bool& first, uint32_t addr, bool other, uint16_t port,
                  uint32_t n) {
    out += first ? "\"" : ",\"";
    first = false;
    if (other) {
        out += "other";
    } else {
        for (int shift = 24; shift >= 0; shift -= 8) {
            append_num(out, (addr >> shift) & 0xff);
            if (shift > 0) {
                out += '.';
            }
        }
    }
    out += ':';
    append_num(out, port);
    out += "\":";
    append_num(out, n);
}
}  // namespace

void Counters::record_request(size_t port_index, uint32_t addr) {
    slot(port_index, addr).requests.fetch_add(1, std::memory_order_relaxed);
}

std::string Counters::to_json(bool reset) {
    return json(reset, &Slot::count);
}

std::string Counters::requests_json(bool reset) {
    return json(reset, &Slot::requests);
}

std::string Counters::json(bool reset, std::atomic<uint32_t> Slot::*field) {
    std::string out = "{";
    bool first = true;
    auto take = [reset, field](Slot& s) {
        return reset ? (s.*field).exchange(0, std::memory_order_relaxed)
                     : (s.*field).load(std::memory_order_relaxed);
    };
    for (size_t pi = 0; pi < tables_.size(); ++pi) {
        PortTable& t = *tables_[pi];
        for (uint32_t page = 0; page < pages_max; ++page) {
            Slot* p = t.pages[page].load(std::memory_order_acquire);
            if (p == nullptr) {
                continue;
            }
            for (uint32_t i = 0; i < page_slots; ++i) {
                if ((p[i].*field).load(std::memory_order_relaxed) == 0) {
                    continue;
                }
                uint32_t n = take(p[i]);
                if (n != 0) {
                    append_entry(out, first, (127u << 24) | (page << page_bits) | i, false,
                                 ports_[pi], n);
                }
            }
        }
        if (uint32_t n = take(t.other); n != 0) {
            append_entry(out, first, 0, true, ports_[pi], n);
        }
    }
    out += "}";
    return out;
}

}  // namespace ringprobe::fleet
