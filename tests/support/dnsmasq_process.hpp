// DnsmasqProcess: a real DNS server for tests and benchmarks, on loopback only.
//
//   auto dns = ringprobe::test::DnsmasqProcess::start("127.0.0.10 a.test\n");
//   ASSERT_TRUE(dns) << dns.error().message;
//   options.server = dns->server();               // "127.0.0.2:PORT", a port the kernel chose
//   ASSERT_TRUE(dns->set_hosts("127.0.0.20 a.test\n"));  // rewrite + SIGHUP, returns once re-read
//   dns->signal(SIGSTOP);                          // a server that stops answering
//
// dnsmasq (Debian's dnsmasq-base, /usr/sbin/dnsmasq or $RINGPROBE_DNSMASQ) runs in the
// foreground with no upstream and no /etc/hosts: it answers only from the hosts file the test
// wrote, with TTL local_ttl_s, and says NXDOMAIN for any other name under the local domains
// ("test" by default). Every wait is bounded; the process is stopped by its PID (SIGCONT,
// SIGTERM, then SIGKILL) when the object dies, and its temporary directory is removed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace ringprobe::test {

struct DnsmasqOptions {
    std::string listen_address = "127.0.0.2";  // must be a 127.0.0.x address
    std::uint32_t local_ttl_s = 1;
    std::vector<std::string> local_domains{"test"};  // NXDOMAIN for unknown names under these
    std::vector<std::string> extra_args;             // e.g. "--txt-record=text.test,hi"
    std::chrono::milliseconds ready_timeout{10000};
};

class DnsmasqProcess {
public:
    // Writes the hosts file into a fresh temporary directory, starts dnsmasq on a free port and
    // waits (bounded) until it has read the file. Retries a few ports if one was taken.
    static Result<DnsmasqProcess> start(std::string_view hosts, DnsmasqOptions options = {});

    DnsmasqProcess(DnsmasqProcess&& other) noexcept;
    DnsmasqProcess& operator=(DnsmasqProcess&& other) noexcept;
    DnsmasqProcess(const DnsmasqProcess&) = delete;
    DnsmasqProcess& operator=(const DnsmasqProcess&) = delete;
    ~DnsmasqProcess();

    pid_t pid() const { return pid_; }
    std::uint16_t port() const { return port_; }
    std::string server() const;  // "ADDR:PORT" for ResolverOptions::server / --dns-server
    const std::string& hosts_path() const { return hosts_path_; }

    // Replaces the hosts file (by rename), sends SIGHUP and waits until dnsmasq has re-read it.
    Result<void> set_hosts(std::string_view hosts);
    Result<void> signal(int signo) const;
    std::string log_text() const;

    // SIGCONT (in case it was stopped), SIGTERM, wait up to `timeout`, then SIGKILL.
    int stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

private:
    DnsmasqProcess() = default;
    Result<void> launch(std::uint16_t port, const DnsmasqOptions& options);
    Result<void> wait_reads(std::size_t reads, std::chrono::milliseconds timeout);
    std::size_t reads_logged() const;

    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::string address_;
    std::string dir_;
    std::string hosts_path_;
    std::string log_path_;
};

// The dnsmasq binary the helper starts.
std::string dnsmasq_executable();

}  // namespace ringprobe::test
