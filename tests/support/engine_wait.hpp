// Helpers for tests that run the engine in-process and read its verdicts back through the
// report reader: a unique segment name per test process, and a bounded wait that keeps the
// engine's main-thread duties (heartbeat, transition log) running while it polls.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>

#include "engine/engine.hpp"
#include "report/reader.hpp"

namespace ringprobe::testing {

using SnapshotPred = std::function<bool(const report::Snapshot&)>;

// Removes the report segments this test process named (unique_name), at exit: a test that
// fails before its own unlink (an ASSERT returns early) leaves nothing in /dev/shm.
inline void remove_own_segments() {
    const std::string prefix = "ringprobe.rp-test-";
    const std::string suffix = "-" + std::to_string(::getpid());
    DIR* dir = ::opendir("/dev/shm");
    if (dir == nullptr) {
        return;
    }
    while (const dirent* e = ::readdir(dir)) {
        const std::string n = e->d_name;
        if (n.size() > prefix.size() + suffix.size() && n.compare(0, prefix.size(), prefix) == 0 &&
            n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
            ::unlink(("/dev/shm/" + n).c_str());
        }
    }
    ::closedir(dir);
}

inline std::string unique_name(const char* what) {
    static const bool cleanup_registered = std::atexit(remove_own_segments) == 0;
    (void)cleanup_registered;
    return std::string("rp-test-") + what + "-" + std::to_string(::getpid());
}

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
