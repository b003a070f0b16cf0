// One engine per report name (see name_lock.hpp).
#include "report/name_lock.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "report/names.hpp"

namespace ringprobe::report {

std::string name_lock_path(std::string_view name) {
    // A prefix of its own: report names may contain '.', so "<segment>.lock" could be another
    // report's segment.
    std::string p = "/dev/shm/ringprobe-lock.";
    p += name;
    return p;
}

namespace {

// The pid the holder wrote into the lock file, as text ("unknown" when unreadable).
std::string holder_pid(int fd) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string pid;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) {
        pid += buf[i];
    }
    return pid.empty() ? "unknown" : pid;
}

// Segments an engine of this name was building when it was killed (Writer::prepare names them
// "<segment>.tmp.<pid>.<n>" and renames them into place when whole). Called with the name's lock
// held, so no engine of this name is writing one; a file whose pid still lives is left alone,
// in case it is another report's whose name merely looks so.
void remove_stale_temporaries(std::string_view name) {
    const std::string prefix =
        segment_path(name).substr(std::string_view("/dev/shm/").size()) + ".tmp.";
    DIR* dir = ::opendir("/dev/shm");
    if (dir == nullptr) {
        return;
    }
    while (const dirent* d = ::readdir(dir)) {
        const std::string_view file = d->d_name;
        if (file.substr(0, prefix.size()) != prefix) {
            continue;
        }
        const std::string_view rest = file.substr(prefix.size());  // "<pid>.<n>"
        const auto dot = rest.find('.');
        const auto digits = [](std::string_view v) {
            return !v.empty() && v.size() <= 9 &&
                   v.find_first_not_of("0123456789") == std::string_view::npos;
        };
        if (dot == std::string_view::npos || !digits(rest.substr(0, dot)) ||
            !digits(rest.substr(dot + 1))) {
            continue;
        }
        const pid_t pid = static_cast<pid_t>(std::stol(std::string(rest.substr(0, dot))));
        if (::kill(pid, 0) == 0 || errno != ESRCH) {
            continue;  // alive (or not ours to ask about)
        }
        ::unlinkat(::dirfd(dir), d->d_name, 0);
    }
    ::closedir(dir);
}

}  // namespace

Result<NameLock> NameLock::take(std::string_view name) {
    if (auto ok = check_segment_name(name); !ok) {
        return unexpected(ok.error());
    }
    const std::string path = name_lock_path(name);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        const int e = errno;
        return error("report: cannot open " + path + ": " + std::strerror(e) +
                     " (is /dev/shm mounted and writable?)");
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        std::string message = e == EWOULDBLOCK
                                  ? "report " + std::string(name) + " is in use by engine pid " +
                                        holder_pid(fd) + "; give this engine another --name"
                                  : "report: cannot lock " + path + ": " + std::strerror(e);
        ::close(fd);
        return error(std::move(message));
    }
    remove_stale_temporaries(name);
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0) {
        // Without the pid the claim still holds; only a second engine's message says "unknown".
        [[maybe_unused]] const ssize_t n = ::pwrite(fd, pid.data(), pid.size(), 0);
    }
    return NameLock(fd);
}

Result<int> NameLock::holder(std::string_view name) {
    if (auto ok = check_segment_name(name); !ok) {
        return unexpected(ok.error());
    }
    const std::string path = name_lock_path(name);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return error("no engine runs report " + std::string(name) + " (no " + path + ")");
    }
    if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
        ::close(fd);  // free: the engine that wrote it has ended (the lock goes with it)
        return error("no engine runs report " + std::string(name));
    }
    const std::string pid = holder_pid(fd);
    ::close(fd);
    if (pid == "unknown" || pid.size() > 9) {
        return error("the engine of report " + std::string(name) + " did not write its pid into " +
                     path);
    }
    return std::stoi(pid);
}

NameLock::~NameLock() {
    if (fd_ >= 0) {
        ::close(fd_);  // releases the flock
    }
}

}  // namespace ringprobe::report
