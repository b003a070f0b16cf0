// DnsmasqProcess (dnsmasq_process.hpp): start, reload and stop a real dnsmasq on loopback.
#include "dnsmasq_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace ringprobe::test {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int launch_attempts_max = 5;

Result<void> write_file(const std::string& path, std::string_view text) {
    const std::string tmp = path + ".new";
    {
        std::ofstream f(tmp, std::ios::trunc);
        f << text;
        if (!f) {
            return error("cannot write " + tmp);
        }
    }
    // dnsmasq drops to an unprivileged user when started as root; it must still read the file.
    ::chmod(tmp.c_str(), 0644);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        return error("rename " + tmp + ": " + std::strerror(errno));
    }
    return {};
}

// A UDP port free on `address` right now (the kernel's choice). dnsmasq then binds it; a lost
// race shows up as a failed start and launch() tries another.
Result<std::uint16_t> free_port(const std::string& address) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return error(std::string("socket: ") + std::strerror(errno));
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
    socklen_t len = sizeof sa;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
        const int e = errno;
        ::close(fd);
        return error("bind " + address + ": " + std::strerror(e));
    }
    ::close(fd);
    return static_cast<std::uint16_t>(ntohs(sa.sin_port));
}

}  // namespace

std::string dnsmasq_executable() {
    if (const char* e = std::getenv("RINGPROBE_DNSMASQ"); e != nullptr && *e != '\0') {
        return e;
    }
    return "/usr/sbin/dnsmasq";
}

Result<DnsmasqProcess> DnsmasqProcess::start(std::string_view hosts, DnsmasqOptions options) {
    if (options.listen_address.rfind("127.0.0.", 0) != 0) {
        return error("dnsmasq: tests listen on 127.0.0.x only, not " + options.listen_address);
    }
    if (::access(dnsmasq_executable().c_str(), X_OK) != 0) {
        return error("dnsmasq: " + dnsmasq_executable() +
                     " not found (install dnsmasq-base, or set RINGPROBE_DNSMASQ)");
    }
    DnsmasqProcess p;
    char templ[] = "/tmp/ringprobe-dnsmasq-XXXXXX";
    if (::mkdtemp(templ) == nullptr) {
        return error(std::string("mkdtemp: ") + std::strerror(errno));
    }
    p.dir_ = templ;
    ::chmod(templ, 0755);
    p.hosts_path_ = p.dir_ + "/hosts";
    p.log_path_ = p.dir_ + "/dnsmasq.log";
    p.address_ = options.listen_address;
    if (auto w = write_file(p.hosts_path_, hosts); !w) {
        return unexpected(w.error());
    }
    std::string last_error;
    for (int attempt = 0; attempt < launch_attempts_max; ++attempt) {
        auto port = free_port(p.address_);
        if (!port) {
            return unexpected(port.error());
        }
        auto r = p.launch(*port, options);
        if (r) {
            return p;
        }
        last_error = r.error().message;
        p.stop();
    }
    return error("dnsmasq did not start: " + last_error);
}

Result<void> DnsmasqProcess::launch(std::uint16_t port, const DnsmasqOptions& options) {
    std::vector<std::string> args = {
        dnsmasq_executable(),
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--bind-interfaces",
        "--listen-address=" + address_,
        "--port=" + std::to_string(port),
        "--addn-hosts=" + hosts_path_,
        "--local-ttl=" + std::to_string(options.local_ttl_s),
        "--pid-file=" + dir_ + "/dnsmasq.pid",
        "--log-facility=-",
        "--conf-file=/dev/null",
    };
    for (const auto& d : options.local_domains) {
        args.push_back("--local=/" + d + "/");
    }
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        return error("open " + log_path_ + ": " + std::strerror(errno));
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(log_fd, STDOUT_FILENO);
        ::dup2(log_fd, STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(log_fd);
    if (pid < 0) {
        return error(std::string("fork: ") + std::strerror(errno));
    }
    pid_ = pid;
    port_ = port;
    return wait_reads(1, options.ready_timeout);
}

std::size_t DnsmasqProcess::reads_logged() const {
    // dnsmasq logs "read <path> - N names" each time it (re)reads the hosts file.
    const std::string text = log_text();
    const std::string needle = "read " + hosts_path_ + " ";
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

Result<void> DnsmasqProcess::wait_reads(std::size_t reads, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return error("dnsmasq exited: " + log_text());
        }
        if (reads_logged() >= reads) {
            return {};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return error("dnsmasq did not read " + hosts_path_ + " in time: " + log_text());
}

Result<void> DnsmasqProcess::set_hosts(std::string_view hosts) {
    const std::size_t before = reads_logged();
    if (auto w = write_file(hosts_path_, hosts); !w) {
        return w;
    }
    if (auto s = signal(SIGHUP); !s) {
        return s;
    }
    return wait_reads(before + 1, std::chrono::milliseconds(5000));
}

Result<void> DnsmasqProcess::signal(int signo) const {
    if (pid_ <= 0 || ::kill(pid_, signo) != 0) {
        return error("cannot signal dnsmasq (pid " + std::to_string(pid_) + ")");
    }
    return {};
}

std::string DnsmasqProcess::log_text() const {
    std::ifstream f(log_path_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string DnsmasqProcess::server() const {
    return address_ + ":" + std::to_string(port_);
}

int DnsmasqProcess::stop(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) {
        return 0;
    }
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGTERM);
    int status = 0;
    pid_t got = 0;
    const auto deadline = Clock::now() + timeout;
    while ((got = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (got == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    if (WIFSIGNALED(status)) {
        return -WTERMSIG(status);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
}

DnsmasqProcess::DnsmasqProcess(DnsmasqProcess&& o) noexcept
    : pid_(o.pid_),
      port_(o.port_),
      address_(std::move(o.address_)),
      dir_(std::move(o.dir_)),
      hosts_path_(std::move(o.hosts_path_)),
      log_path_(std::move(o.log_path_)) {
    o.pid_ = -1;
    o.dir_.clear();
}

DnsmasqProcess& DnsmasqProcess::operator=(DnsmasqProcess&& o) noexcept {
    if (this != &o) {
        stop();
        pid_ = o.pid_;
        port_ = o.port_;
        address_ = std::move(o.address_);
        dir_ = std::move(o.dir_);
        hosts_path_ = std::move(o.hosts_path_);
        log_path_ = std::move(o.log_path_);
        o.pid_ = -1;
        o.dir_.clear();
    }
    return *this;
}

DnsmasqProcess::~DnsmasqProcess() {
    stop();
    if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
}

}  // namespace ringprobe::test
