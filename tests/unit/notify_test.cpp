// notify: each call sends exactly the sd_notify(3) datagram a Type=notify unit expects, and every
// call is a harmless false when there is no service manager. The test plays systemd: it binds a
// datagram socket at a path in a fresh temporary directory, points NOTIFY_SOCKET at it and reads
// back what arrived. sd_notify sends before it returns, so a non-blocking read needs no wait.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/assert.hpp"
#include "common/notify.hpp"

namespace ringprobe::notify {
namespace {

std::uint64_t monotonic_now_us() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1'000u;
}

// A fake service manager: the socket, its directory and the environment that names it, all
// removed again when the test ends so that no other test sees NOTIFY_SOCKET.
class FakeManager {
public:
    FakeManager() {
        std::string templ = (std::filesystem::temp_directory_path() / "rp-notify-XXXXXX").string();
        RP_ASSERT(::mkdtemp(templ.data()) != nullptr);
        dir_ = templ;
        path_ = dir_ + "/notify";
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        RP_ASSERT(fd_ >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        RP_ASSERT(path_.size() < sizeof(addr.sun_path));
        std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
        RP_ASSERT(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
        ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    }
    ~FakeManager() {
        ::unsetenv("NOTIFY_SOCKET");
        ::close(fd_);
        std::filesystem::remove_all(dir_);
    }
    FakeManager(const FakeManager&) = delete;
    FakeManager& operator=(const FakeManager&) = delete;

    // The next datagram, or "" when none is waiting.
    std::string next() {
        std::array<char, 4096> buf{};
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : std::string();
    }

private:
    std::string dir_;
    std::string path_;
    int fd_ = -1;
};

TEST(Notify, ReadySendsReady) {
    FakeManager manager;
    EXPECT_TRUE(ready());
    EXPECT_EQ(manager.next(), "READY=1");
    EXPECT_EQ(manager.next(), "");
}

TEST(Notify, ReloadingCarriesTheMonotonicClockOfItsStart) {
    FakeManager manager;
    const std::uint64_t before_us = monotonic_now_us();
    EXPECT_TRUE(reloading());
    const std::uint64_t after_us = monotonic_now_us();
    const std::string got = manager.next();
    const std::string head = "RELOADING=1\nMONOTONIC_USEC=";
    ASSERT_EQ(got.substr(0, head.size()), head) << got;
    const std::uint64_t usec = std::stoull(got.substr(head.size()));
    EXPECT_GE(usec, before_us);
    EXPECT_LE(usec, after_us);
}

TEST(Notify, StatusIsOneLineEvenWhenGivenSeveral) {
    FakeManager manager;
    EXPECT_TRUE(status("2000 targets, 1990 healthy\n10 unhealthy"));
    EXPECT_EQ(manager.next(), "STATUS=2000 targets, 1990 healthy 10 unhealthy");
}

TEST(Notify, StoppingSendsStopping) {
    FakeManager manager;
    EXPECT_TRUE(stopping());
    EXPECT_EQ(manager.next(), "STOPPING=1");
}

TEST(Notify, WatchdogSendsWatchdog) {
    FakeManager manager;
    EXPECT_TRUE(watchdog());
    EXPECT_EQ(manager.next(), "WATCHDOG=1");
}

TEST(Notify, EveryCallIsAHarmlessFalseWithoutAServiceManager) {
    ::unsetenv("NOTIFY_SOCKET");
    EXPECT_FALSE(ready());
    EXPECT_FALSE(reloading());
    EXPECT_FALSE(status("x"));
    EXPECT_FALSE(stopping());
    EXPECT_FALSE(watchdog());
}

TEST(Notify, WatchdogPeriodIsReadOnlyWhenMeantForThisProcess) {
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    EXPECT_EQ(watchdog_usec(), 0u);

    ::setenv("WATCHDOG_USEC", "5000000", 1);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    EXPECT_EQ(watchdog_usec(), 5'000'000u);

    // systemd names the main process; a child that inherited the environment must not feed it.
    ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
    EXPECT_EQ(watchdog_usec(), 0u);

    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
}

}  // namespace
}  // namespace ringprobe::notify
