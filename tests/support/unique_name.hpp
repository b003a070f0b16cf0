// One report segment name per call for every test that creates a segment (in-process writer,
// engine or a binary it starts): unique across the test processes meson runs at once and
// within one, and removed from /dev/shm when the process exits, however its tests ended (an
// ASSERT returns before the test's own unlink; a fixture's TearDown may never run), or by the
// next test process when this one crashed.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
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

// Unlinks /dev/shm/ringprobe.<name> and its claim file for every name handed out. A forked child
// that exits through exit() runs this handler too: it removes nothing, the segments are its
// parent's.
inline void remove_own_segments() {
    OwnSegments& own = own_segments();
    const std::lock_guard<std::mutex> lock(own.mutex);
    if (::getpid() != own.owner) {
        return;
    }
    for (const std::string& name : own.names) {
        ::unlink(("/dev/shm/ringprobe." + name).c_str());
        // The claim file `ringprobe run` keeps beside its report (src/report/name_lock.cpp); the
        // engines this process started have exited by now, so nobody holds it.
        ::unlink(("/dev/shm/ringprobe-lock." + name).c_str());
    }
}

// Unlinks what a test process that is gone left in /dev/shm: the report and claim files of
// names "rp-test-<what>-<pid>-<n>" whose pid no longer runs. A test that crashed (a signal, an
// abort) runs no exit handler, so the next test process removes its files instead.
inline void remove_dead_owners_segments(const char* dir = "/dev/shm") {
    DIR* d = ::opendir(dir);
    if (d == nullptr) {
        return;
    }
    for (const dirent* e = ::readdir(d); e != nullptr; e = ::readdir(d)) {
        const std::string_view file = e->d_name;
        std::string_view name = file;
        for (const std::string_view prefix : {"ringprobe.rp-test-", "ringprobe-lock.rp-test-"}) {
            if (file.starts_with(prefix)) {
                name = file.substr(prefix.size());
            }
        }
        const std::size_t n_at = name.rfind('-');
        if (name == file || n_at == std::string_view::npos || n_at == 0) {
            continue;
        }
        const std::size_t pid_at = name.rfind('-', n_at - 1);
        if (pid_at == std::string_view::npos) {
            continue;
        }
        const std::string pid_text(name.substr(pid_at + 1, n_at - pid_at - 1));
        char* end = nullptr;
        const long pid = std::strtol(pid_text.c_str(), &end, 10);
        if (pid_text.empty() || *end != '\0' || pid <= 0) {
            continue;
        }
        if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
            ::unlink((std::string(dir) + "/" + std::string(file)).c_str());
        }
    }
    ::closedir(d);
}

}  // namespace detail

// "rp-test-<what>-<pid>-<n>": <what> says which test, the pid keeps parallel test processes
// apart and n the calls of one process.
inline std::string unique_name(const char* what) {
    detail::OwnSegments& own = detail::own_segments();
    static const bool cleanup_registered =
        (detail::remove_dead_owners_segments(), std::atexit(detail::remove_own_segments) == 0);
    (void)cleanup_registered;
    const std::lock_guard<std::mutex> lock(own.mutex);
    std::string name = std::string("rp-test-") + what + "-" + std::to_string(::getpid()) + "-" +
                       std::to_string(own.names.size());
    own.names.push_back(name);
    return name;
}

}  // namespace ringprobe::testing
