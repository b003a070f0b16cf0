// Helpers for tests that run the engine in-process and read its verdicts back through the
// report reader: a bounded wait that keeps the engine's main-thread duties (heartbeat,
// transition log) running while it polls. Segment names come from unique_name.hpp.
#pragma once

#include <chrono>
#include <functional>

#include "engine/engine.hpp"
#include "report/reader.hpp"
#include "support/unique_name.hpp"

namespace ringprobe::testing {

using SnapshotPred = std::function<bool(const report::Snapshot&)>;

// Runs eng.tick() in 2 ms steps until pred(snapshot) holds or the budget runs out, reading
// through one mapping opened beforehand (it keeps working when descriptors run out).
inline bool wait_on(engine::Engine& eng, const report::Report& rep, const SnapshotPred& pred,
                    std::chrono::milliseconds budget) {
    const auto until = std::chrono::steady_clock::now() + budget;
    while (std::chrono::steady_clock::now() < until) {
        eng.tick(2'000'000);
        if (pred(rep.snapshot({}))) {
            return true;
        }
    }
    return false;
}

}  // namespace ringprobe::testing
