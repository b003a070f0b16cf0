#include "support/fleet_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace ringprobe::test {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto poll_step = std::chrono::milliseconds(5);

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Result<void> write_file_atomically(const std::string& path, std::string_view text) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        if (!out) {
            return error("cannot write " + tmp);
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        return error("rename " + tmp + ": " + std::strerror(errno));
    }
    return {};
}

// Blocking loopback HTTP/1.0 GET with a 5 s bound on every step; returns the whole answer.
Result<std::string> http_get(uint16_t port, std::string_view path) {
    std::string req = "GET " + std::string(path) + " HTTP/1.0\r\nHost: fleet\r\n\r\n";
    Exchange ex = exchange("127.0.0.1", port, req, std::chrono::milliseconds(5000), 256u << 20);
    if (ex.connect_errno != 0 || ex.io_errno != 0 || !ex.eof) {
        return error("control GET " + std::string(path) + " failed (connect: " +
                     std::strerror(ex.connect_errno) + ", io: " + std::strerror(ex.io_errno) +
                     (ex.timed_out ? ", timed out" : "") + ")");
    }
    return ex.bytes;
}

Result<std::map<std::string, uint64_t>> numbers_of(const std::string& json) {
    simdjson::dom::parser parser;
    simdjson::dom::object obj;
    if (parser.parse(json).get(obj) != simdjson::SUCCESS) {
        return error("not a JSON object: " + json.substr(0, 200));
    }
    std::map<std::string, uint64_t> out;
    for (auto field : obj) {
        uint64_t v = 0;
        if (field.value.get_uint64().get(v) == simdjson::SUCCESS) {
            out.emplace(std::string(field.key), v);
        }
    }
    return out;
}

}  // namespace

std::string fleet_executable() {
    if (const char* env = std::getenv("RINGPROBE_FLEET_EXE"); env != nullptr && *env != '\0') {
        return env;
    }
#ifdef RINGPROBE_FLEET_EXE
    return RINGPROBE_FLEET_EXE;
#else
    return "ringprobe-fleet";
#endif
}

Result<FleetProcess> FleetProcess::start(std::string_view behaviours_json, FleetOptions options) {
    FleetProcess f;
    char templ[] = "/tmp/ringprobe-fleet-XXXXXX";
    if (::mkdtemp(templ) == nullptr) {
        return error(std::string("mkdtemp: ") + std::strerror(errno));
    }
    f.dir_ = templ;
    f.behaviours_path_ = f.dir_ + "/behaviours.json";
    if (auto r = write_file_atomically(f.behaviours_path_, behaviours_json); !r) {
        return unexpected(r.error());
    }
    std::vector<std::string> args = {fleet_executable(), "--behaviours", f.behaviours_path_,
                                     "--threads", std::to_string(options.threads)};
    for (uint16_t p : options.ports) {
        args.push_back("--port");
        args.push_back(std::to_string(p));
    }
    if (options.idle_timeout_ms != 0) {
        args.push_back("--idle-timeout-ms");
        args.push_back(std::to_string(options.idle_timeout_ms));
    }
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    std::string out_path = f.dir_ + "/stdout";
    std::string err_path = f.dir_ + "/stderr";
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    int rc = ::posix_spawn(&f.pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        f.pid_ = -1;
        return error("cannot start " + args[0] + ": " + std::strerror(rc));
    }
    if (auto r = f.wait_ready(options.ready_timeout); !r) {
        return unexpected(r.error());
    }
    return f;
}

Result<void> FleetProcess::wait_ready(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        std::string out = stdout_text();
        if (out.find("\nready\n") != std::string::npos || out.rfind("ready\n", 0) == 0) {
            std::istringstream lines(out);
            std::string word;
            std::string line;
            while (std::getline(lines, line)) {
                std::istringstream ls(line);
                ls >> word;
                if (word == "port") {
                    unsigned p = 0;
                    ls >> p;
                    ports_.push_back(static_cast<uint16_t>(p));
                } else if (word == "control") {
                    std::string ep;
                    ls >> ep;
                    control_port_ = static_cast<uint16_t>(std::stoul(ep.substr(ep.rfind(':') + 1)));
                }
            }
            return {};
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return error("ringprobe-fleet exited before ready: " + stderr_text());
        }
        std::this_thread::sleep_for(poll_step);
    }
    return error("ringprobe-fleet not ready within " + std::to_string(timeout.count()) +
                 " ms; stderr: " + stderr_text());
}

FleetProcess::FleetProcess(FleetProcess&& other) noexcept {
    *this = std::move(other);
}

FleetProcess& FleetProcess::operator=(FleetProcess&& other) noexcept {
    if (this != &other) {
        stop();
        pid_ = std::exchange(other.pid_, -1);
        dir_ = std::exchange(other.dir_, {});
        behaviours_path_ = std::move(other.behaviours_path_);
        ports_ = std::move(other.ports_);
        control_port_ = other.control_port_;
    }
    return *this;
}

FleetProcess::~FleetProcess() {
    stop();
    if (!dir_.empty()) {
        for (const char* name :
             {"/behaviours.json", "/behaviours.json.tmp", "/stdout", "/stderr"}) {
            ::unlink((dir_ + name).c_str());
        }
        ::rmdir(dir_.c_str());
    }
}

int FleetProcess::stop(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) {
        return 0;
    }
    ::kill(pid_, SIGTERM);
    int status = 0;
    auto deadline = Clock::now() + timeout;
    pid_t got = 0;
    while ((got = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(poll_step);
    }
    if (got == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    if (WIFSIGNALED(status)) {
        return -WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

std::string FleetProcess::stdout_text() const {
    return read_file(dir_ + "/stdout");
}
std::string FleetProcess::stderr_text() const {
    return read_file(dir_ + "/stderr");
}

Result<void> FleetProcess::signal(int signo) const {
    if (pid_ <= 0 || ::kill(pid_, signo) != 0) {
        return error("cannot signal the fleet (not running?)");
    }
    return {};
}

Result<std::string> FleetProcess::get(std::string_view path) const {
    auto raw = http_get(control_port_, path);
    if (!raw) {
        return unexpected(raw.error());
    }
    auto head_end = raw->find("\r\n\r\n");
    if (head_end == std::string::npos || raw->compare(0, 9, "HTTP/1.1 ") != 0) {
        return error("control answer is not HTTP: " + raw->substr(0, 100));
    }
    std::string body = raw->substr(head_end + 4);
    if (raw->compare(9, 3, "200") != 0) {
        return error("control GET " + std::string(path) + ": " + raw->substr(9, 3) + " " + body);
    }
    return body;
}

Result<std::map<std::string, uint64_t>> FleetProcess::counts(bool reset) const {
    auto body = get(reset ? "/counts?reset=1" : "/counts");
    if (!body) {
        return unexpected(body.error());
    }
    return numbers_of(*body);
}

uint64_t FleetProcess::count(std::string_view address, uint16_t port) const {
    auto all = counts();
    RP_ASSERT(all.has_value());
    auto it = all->find(std::string(address) + ":" + std::to_string(port));
    return it == all->end() ? 0 : it->second;
}

uint64_t FleetProcess::requests(std::string_view address, uint16_t port) const {
    auto body = get("/requests");
    RP_ASSERT(body.has_value());
    auto all = numbers_of(*body);
    RP_ASSERT(all.has_value());
    auto it = all->find(std::string(address) + ":" + std::to_string(port));
    return it == all->end() ? 0 : it->second;
}

Result<std::map<std::string, uint64_t>> FleetProcess::stats() const {
    auto body = get("/stats");
    if (!body) {
        return unexpected(body.error());
    }
    return numbers_of(*body);
}

Result<void> FleetProcess::reload(std::string_view behaviours_json) {
    auto before = stats();
    if (!before) {
        return unexpected(before.error());
    }
    if (auto r = write_file_atomically(behaviours_path_, behaviours_json); !r) {
        return r;
    }
    if (auto r = signal(SIGHUP); !r) {
        return r;
    }
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
        auto now = stats();
        if (!now) {
            return unexpected(now.error());
        }
        if ((*now)["generation"] > (*before)["generation"]) {
            return {};
        }
        if ((*now)["reload_failures"] > (*before)["reload_failures"]) {
            auto body = get("/stats");
            return error("reload refused by the fleet: " + (body ? *body : std::string("?")));
        }
        std::this_thread::sleep_for(poll_step);
    }
    return error("the fleet did not report the reload within 10 s");
}

Exchange exchange(std::string_view address, uint16_t port, std::string_view request,
                  std::chrono::milliseconds timeout, size_t max_bytes) {
    Exchange ex;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    RP_ASSERT(fd >= 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    RP_ASSERT(::inet_pton(AF_INET, std::string(address).c_str(), &sa.sin_addr) == 1);
    auto deadline = Clock::now() + timeout;
    auto left_ms = [&] {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        return static_cast<int>(std::max<int64_t>(0, ms.count()));
    };
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        if (errno != EINPROGRESS) {
            ex.connect_errno = errno;
            ::close(fd);
            return ex;
        }
        pollfd p{fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (::poll(&p, 1, left_ms()) != 1) {
            ex.connect_errno = ETIMEDOUT;
            ::close(fd);
            return ex;
        }
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == ECONNRESET) {
            // Only an established connection is reset (an RST to a SYN is ECONNREFUSED): the
            // server reset it before this client looked.
            ex.io_errno = err;
            ::close(fd);
            return ex;
        }
        if (err != 0) {
            ex.connect_errno = err;
            ::close(fd);
            return ex;
        }
    }
    size_t sent = 0;
    while (sent < request.size() && ex.io_errno == 0) {
        ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
        } else if (errno == EAGAIN) {
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, left_ms()) != 1) {
                ex.timed_out = true;
                break;
            }
        } else {
            ex.io_errno = errno;
        }
    }
    auto sent_at = Clock::now();
    char buf[16384];
    while (ex.io_errno == 0 && !ex.timed_out && !ex.eof) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, left_ms()) != 1) {
            ex.timed_out = true;
            break;
        }
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (ex.bytes.empty()) {
                ex.first_byte_after = Clock::now() - sent_at;
            }
            ex.bytes.append(buf, std::min(static_cast<size_t>(n), max_bytes - ex.bytes.size()));
            if (ex.bytes.size() >= max_bytes) {
                break;
            }
        } else if (n == 0) {
            ex.eof = true;
        } else if (errno != EAGAIN) {
            ex.io_errno = errno;
        }
    }
    ex.elapsed = Clock::now() - sent_at;
    ::close(fd);
    return ex;
}

}  // namespace ringprobe::test
