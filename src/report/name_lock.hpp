// One engine per report name. Two engines publishing under one name would replace each other's
// segment: the first would go on probing into a mapping nobody reads while its exporter served
// the second's report. The engine therefore claims the name before it touches anything: an
// exclusive flock on /dev/shm/ringprobe-lock.<name>, held for the process's life. The kernel
// drops the lock when the process ends, however it ends (SIGKILL included), so a dead engine
// never blocks the next start; the file itself stays and only carries the holder's pid.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace ringprobe::report {

std::string name_lock_path(std::string_view name);  // /dev/shm/ringprobe-lock.<name>

class NameLock {  // move-only; releases the claim when destroyed
public:
    // The claim, or an error naming the engine that holds it: "report NAME is in use by engine
    // pid P". Once claimed, the half-built segments a killed engine of this name left
    // (<segment>.tmp.<pid>.<n>, its pid gone) are removed.
    static Result<NameLock> take(std::string_view name);
    // The pid of the engine that holds the claim on `name`, or an error saying that no engine
    // does (`ringprobe reload` signals it). Tests the lock without keeping it.
    static Result<int> holder(std::string_view name);

    NameLock(NameLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    NameLock& operator=(NameLock&&) = delete;
    NameLock(const NameLock&) = delete;
    NameLock& operator=(const NameLock&) = delete;
    ~NameLock();

private:
    explicit NameLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace ringprobe::report
