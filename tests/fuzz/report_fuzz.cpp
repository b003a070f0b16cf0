// libFuzzer target for the report reader's validator (src/report/reader.cpp): any bytes given as
// a segment must give a Snapshot or a ReadError, never a crash, a hang or an out-of-bounds read
// (built with ASan + UBSan by tools/fuzz.sh). Half of the inputs are taken raw; the other half
// are applied as byte patches to a valid segment built from a small Plan, so the fuzzer reaches
// the section, index and string checks without having to discover the magic and layout first.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "report/image.hpp"
#include "report/reader.hpp"
#include "report/render.hpp"
#include "support/report_test_plan.hpp"

namespace {

using namespace ringprobe::report;

bool never_alive(std::int32_t) {
    return false;
}

const std::vector<std::uint64_t>& valid_image() {
    static const std::vector<std::uint64_t> img = [] {
        ImageOptions o;
        o.worker_slots = 2;
        return *build_image_words(testing::sample_plan(), o);
    }();
    return img;
}

// Reads `size` bytes through a heap block of exactly that size, so AddressSanitizer's redzone
// begins at the first byte past the end: a read one byte too far is a crash, not a read of
// padding. (operator new[] aligns the block for any word the reader loads.)
void check(const void* bytes, std::size_t size) {
    const std::unique_ptr<std::byte[]> exact(new std::byte[size]);
    if (size > 0) {
        std::memcpy(exact.get(), bytes, size);
    }
    SnapshotOptions o;
    o.now_unix_ns = 1;
    o.alive = &never_alive;
    o.max_attempts = 2;
    auto snap = read_image(exact.get(), size, o);
    if (snap) {
        // A segment that validates must also render without touching anything out of range.
        RenderOptions r;
        r.details = true;
        (void)render_json(*snap, r);
        (void)render_table(*snap, RenderOptions{});
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    if ((data[0] & 1) == 0) {
        check(data + 1, size - 1);
        return 0;
    }
    // Patches: (offset u16, value u8) triples against the valid image's bytes.
    std::vector<std::uint64_t> words = valid_image();
    auto* bytes = reinterpret_cast<std::uint8_t*>(words.data());
    const std::size_t total = words.size() * 8;
    for (std::size_t i = 1; i + 3 <= size; i += 3) {
        const std::size_t off = (std::size_t{data[i]} | std::size_t{data[i + 1]} << 8) % total;
        bytes[off] = data[i + 2];
    }
    check(words.data(), total);
    return 0;
}
