// Pins the flapping rule (src/engine/health.hpp shift_change, is_flapping) the way the engine
// applies it: each result goes through apply_result(), its "health changed" bit is shifted into
// a 32-bit window, and the row is flapping when the window holds at least K changes. A table of
// result sequences (S success, F failure, P prober-side) with thresholds and K says which rows
// are flagged; changes older than 32 results no longer count.
#include <gtest/gtest.h>

#include <string>

#include "engine/health.hpp"

namespace ringprobe::engine {
namespace {

struct Case {
    const char* results;  // S, F or P, oldest first
    std::uint8_t rise;    // healthyThreshold
    std::uint8_t fall;    // unhealthyThreshold
    std::uint32_t k;      // flappingChanges
    bool flapping;
};

bool run(const Case& c) {
    HealthState h;
    std::uint32_t window = 0;
    for (const char* p = c.results; *p != '\0'; ++p) {
        const Reason r = *p == 'S'   ? Reason::Ok
                         : *p == 'F' ? Reason::ConnectRefused
                                     : Reason::ProberError;
        window = shift_change(window, apply_result(h, r, Thresholds{c.rise, c.fall}));
    }
    return is_flapping(window, c.k);
}

TEST(Flapping, TableOfResultSequences) {
    const Case cases[] = {
        // The first verdict is a change (Unknown -> Healthy): three more make four.
        {"SFSF", 1, 1, 4, true},
        {"SFS", 1, 1, 4, false},
        {"SSSSSSSS", 1, 1, 4, false},
        {"FFFFFFFF", 1, 1, 2, false},
        // Thresholds of 2 absorb single failures: alternation changes nothing after the first.
        {"SFSFSFSFSFSF", 2, 2, 2, false},
        {"SSFFSSFFSSFF", 2, 2, 4, true},
        // Prober-side results change nothing.
        {"SPPPPPPPPPPF", 1, 1, 2, true},
        {"SPPPPPPPPPPP", 1, 1, 2, false},
        // K is the bound: exactly K changes flag, K - 1 do not.
        {"SFSFSF", 1, 1, 6, true},
        {"SFSFSF", 1, 1, 7, false},
        // Changes older than the last 32 results are forgotten.
        {"SFSFSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS", 1, 1, 4, false},
        {"SFSFSSSSSSSSSSSSSSSSSSSSSSSSSSS", 1, 1, 4, true},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(run(c), c.flapping)
            << c.results << " rise " << int(c.rise) << " fall " << int(c.fall) << " K " << c.k;
    }
}

}  // namespace
}  // namespace ringprobe::engine
