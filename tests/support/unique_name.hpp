// One report segment name per call for every test that creates a segment (in-process writer,
// engine or a binary it starts): unique across the test processes meson runs at once and
// within one, and removed from /dev/shm when the process exits, however its tests ended (an
// ASSERT returns before the test's own unlink; a fixture's TearDown may never run).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace ringprobe::testing {

namespace detail {

// The names this process handed out. Never destroyed, so the exit handler can read it
// whatever the order in which static objects go.
struct OwnSegments {
    std::mutex mutex;
    std::vector<std::string> names;
    pid_t owner = ::getpid();
};

inline OwnSegments& own_segments() {
    static OwnSegments* const segments = new OwnSegments;
    return *segments;
}

// Unlinks /dev/shm/ringprobe.<name> for every name handed out. A forked child that exits
// through exit() runs this handler too: it removes nothing, the segments are its parent's.
inline void remove_own_segments() {
    OwnSegments& own = own_segments();
    const std::lock_guard<std::mutex> lock(own.mutex);
    if (::getpid() != own.owner) {
        return;
    }
    for (const std::string& name : own.names) {
        ::unlink(("/dev/shm/ringprobe." + name).c_str());
    }
}

}  // namespace detail

// "rp-test-<what>-<pid>-<n>": <what> says which test, the pid keeps parallel test processes
// apart and n the calls of one process.
inline std::string unique_name(const char* what) {
    detail::OwnSegments& own = detail::own_segments();
    static const bool cleanup_registered = std::atexit(detail::remove_own_segments) == 0;
    (void)cleanup_registered;
    const std::lock_guard<std::mutex> lock(own.mutex);
    std::string name = std::string("rp-test-") + what + "-" + std::to_string(::getpid()) + "-" +
                       std::to_string(own.names.size());
    own.names.push_back(name);
    return name;
}

}  // namespace ringprobe::testing
