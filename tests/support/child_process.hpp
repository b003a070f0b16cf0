// A program a test runs as a child process: started with its stderr in a file (and, if asked,
// extra environment or a lower RLIMIT_NOFILE), waited for within a bound, and stopped however
// the test ends: the destructor sends SIGTERM, waits up to 3 s (so an engine removes its
// segment), then SIGKILLs and reaps. A child the test already reaped is left alone.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ringprobe::test {

// Waits (bounded) for pid to exit; returns its wait status, or -1 when the budget ran out.
inline int wait_exit(pid_t pid, std::chrono::milliseconds budget) {
    const auto until = std::chrono::steady_clock::now() + budget;
    while (std::chrono::steady_clock::now() < until) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            return status;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return -1;
}

struct SpawnOptions {
    std::vector<std::string> env;  // "NAME=value", added to the test's environment
    rlim_t nofile = 0;             // RLIMIT_NOFILE for the child (soft and hard); 0: inherited
    // Run as uid/gid 65534 (needs root): a file of mode 0 is then unreadable to the child even
    // when the tests run as root.
    bool as_nobody = false;
};

class Child {
public:
    Child() = default;
    Child(Child&& o) noexcept : pid(std::exchange(o.pid, -1)), err_path(std::move(o.err_path)) {}
    Child& operator=(Child&& o) noexcept {
        if (this != &o) {
            stop();
            pid = std::exchange(o.pid, -1);
            err_path = std::move(o.err_path);
        }
        return *this;
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() { stop(); }

    // Runs args[0] (a path) with args; its stderr goes to err_path (created or truncated).
    // A child that cannot apply the options exits 126, one that cannot exec 127.
    static Child spawn(const std::vector<std::string>& args, const std::string& err_path,
                       const SpawnOptions& options = {}) {
        Child c;
        c.err_path = err_path;
        c.pid = ::fork();
        if (c.pid == 0) {
            const int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            ::dup2(fd, 2);
            for (const std::string& kv : options.env) {
                ::putenv(const_cast<char*>(kv.c_str()));
            }
            if (options.as_nobody &&
                (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) {
                ::_exit(126);
            }
            if (options.nofile != 0) {
                const rlimit rl{options.nofile, options.nofile};
                if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
                    ::_exit(126);
                }
            }
            std::vector<char*> argv;
            for (const auto& a : args) {
                argv.push_back(const_cast<char*>(a.c_str()));
            }
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        return c;
    }

    std::string stderr_text() const {
        std::ifstream f(err_path);
        std::stringstream s;
        s << f.rdbuf();
        return s.str();
    }

    // Still running (not exited, or exited and not yet reaped by anyone but this call).
    bool alive() const {
        int status = 0;
        return pid > 0 && ::waitpid(pid, &status, WNOHANG) == 0;
    }

    // Waits (bounded) for the exit and returns its wait status; -1 when the budget ran out.
    // After an exit the child is reaped: stop() and the destructor leave it alone.
    int wait_exit(std::chrono::milliseconds budget) {
        if (pid <= 0) {
            return -1;
        }
        const int status = test::wait_exit(pid, budget);
        if (status != -1) {
            pid = -1;
        }
        return status;
    }

    // SIGTERM, then the exit status within budget; SIGKILL (and -1) when it did not exit.
    int stop(std::chrono::milliseconds budget = std::chrono::seconds(3)) {
        if (pid <= 0) {
            return -1;
        }
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) != 0) {
            pid = -1;  // already gone (or reaped elsewhere)
            return status;
        }
        ::kill(pid, SIGTERM);
        status = wait_exit(budget);
        if (status == -1 && pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            pid = -1;
        }
        return status;
    }

    pid_t pid = -1;
    std::string err_path;
};

}  // namespace ringprobe::test
