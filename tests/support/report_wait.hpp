// Polls a running engine's report by its name until a predicate holds on a snapshot, within a
// bound: for tests of a `ringprobe run` child, whose report may be absent (not yet created,
// or being replaced by a reload) between two looks.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "report/reader.hpp"

namespace ringprobe::test {

// The first snapshot of report `name` on which ready(snapshot) holds, looked at every 10 ms;
// nullopt when none did within budget.
template <typename Ready>
std::optional<report::Snapshot> wait_for_report(const std::string& name, Ready ready,
                                                std::chrono::milliseconds budget) {
    const auto until = std::chrono::steady_clock::now() + budget;
    while (true) {
        if (auto rep = report::Report::open(name)) {
            auto s = rep->snapshot({});
            if (s.info != nullptr && ready(s)) {
                return s;
            }
        }
        if (std::chrono::steady_clock::now() >= until) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace ringprobe::test
