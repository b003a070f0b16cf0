// FleetProcess: start the real ringprobe-fleet from a test, on loopback, and talk to it.
//
//   auto fleet = ringprobe::test::FleetProcess::start(R"({"rules": [
//       {"cidr": "127.1.0.0/24", "kind": "http", "status": 503}]})");
//   ASSERT_TRUE(fleet) << fleet.error().message;
//   uint16_t port = fleet->port();            // the kernel chose it: no collisions between tests
//   ... probe 127.1.0.1:port ...
//   EXPECT_EQ(fleet->count("127.1.0.1", port), 1u);
//   ASSERT_TRUE(fleet->reload(R"({"default": {"kind": "reset"}})"));  // returns once applied
//
// Every wait is bounded; the process is stopped by PID (SIGTERM, then SIGKILL) when the object
// dies. The binary is the one meson built (compiled-in path), or $RINGPROBE_FLEET_EXE.
// Link `fleet_support_dep` and add `depends: fleet_exe` to the test so the binary is built.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace ringprobe::test {

struct FleetOptions {
    std::vector<uint16_t> ports{0};  // 0: the kernel chooses; read back with port(i)
    uint32_t threads = 1;
    uint32_t idle_timeout_ms = 0;  // 0: the fleet's default (60 s)
    std::vector<std::string> extra_args;
    std::chrono::milliseconds ready_timeout{10000};
};

class FleetProcess {
public:
    // Writes the behaviour file into a fresh temporary directory, starts the fleet and waits
    // (bounded) for its `ready` line. Fails with the fleet's stderr if it exits instead.
    static Result<FleetProcess> start(std::string_view behaviours_json, FleetOptions options = {});

    FleetProcess(FleetProcess&& other) noexcept;
    FleetProcess& operator=(FleetProcess&& other) noexcept;
    FleetProcess(const FleetProcess&) = delete;
    FleetProcess& operator=(const FleetProcess&) = delete;
    ~FleetProcess();

    pid_t pid() const { return pid_; }
    uint16_t port(size_t index = 0) const { return ports_.at(index); }
    const std::vector<uint16_t>& ports() const { return ports_; }
    uint16_t control_port() const { return control_port_; }
    const std::string& behaviours_path() const { return behaviours_path_; }

    // GET on the control port; the body of a 200 answer, else an error with the status.
    Result<std::string> get(std::string_view path) const;
    // {"127.1.0.1:8080": 12, ...} as a map; reset zeroes them as they are read.
    Result<std::map<std::string, uint64_t>> counts(bool reset = false) const;
    // One backend's count (0 when it has none); asserts that the control port answers.
    uint64_t count(std::string_view address, uint16_t port) const;
    // One backend's requests (/requests: more than its connections with keep-alive).
    uint64_t requests(std::string_view address, uint16_t port) const;
    // The numeric fields of /stats (accepted, answered, active, generation, reload_failures...).
    Result<std::map<std::string, uint64_t>> stats() const;

    // Replaces the behaviour file (atomically, by rename), sends SIGHUP and waits until the
    // fleet reports the new generation (success) or one more reload failure (the error says
    // why; the fleet keeps its previous behaviours).
    Result<void> reload(std::string_view behaviours_json);
    Result<void> signal(int signo) const;

    std::string stdout_text() const;
    std::string stderr_text() const;

    // SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit status, or -signal number
    // when killed by a signal; 0 if already stopped.
    int stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

private:
    FleetProcess() = default;
    Result<void> wait_ready(std::chrono::milliseconds timeout);

    pid_t pid_ = -1;
    std::string dir_;
    std::string behaviours_path_;
    std::vector<uint16_t> ports_;
    uint16_t control_port_ = 0;
};

// The path of the fleet binary the helper starts.
std::string fleet_executable();

// A raw client exchange for tests: connect to address:port, send `request`, read until EOF,
// error or timeout. Nothing is interpreted; the fields say what happened.
struct Exchange {
    int connect_errno = 0;   // 0, or ETIMEDOUT when the connect did not finish within timeout
    int io_errno = 0;        // first send/recv error (ECONNRESET, EPIPE...), 0 if none
    bool eof = false;        // the server closed cleanly (FIN)
    bool timed_out = false;  // the deadline passed while waiting for more bytes
    std::string bytes;       // everything received, capped at max_bytes
    std::chrono::nanoseconds first_byte_after{0};  // from the end of the send
    std::chrono::nanoseconds elapsed{0};           // from the end of the send to the end
};
Exchange exchange(std::string_view address, uint16_t port, std::string_view request,
                  std::chrono::milliseconds timeout, size_t max_bytes = 4u << 20);

}  // namespace ringprobe::test
