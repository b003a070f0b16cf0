// Runs the real ringprobe-report binary (path in RINGPROBE_REPORT, set by meson) against
// segments this test writes: exit 0 and the table/json/powershell output for a live report,
// exit 3 with a hint for a missing one, exit 4 for a corrupt one and, without hanging, for a FIFO
// or symbolic link in its place (every run is bounded by an alarm), exit 2 for bad arguments,
// and --pool/--health filters; --troubleshoot SERVER (exit 0 with the drawing and the marked
// part, every matching row, --pool/--setting narrowing, exit 2 for a server not in the report,
// no colour into a pipe) and --help documenting it; --flag=value as well as --flag value, and an
// unknown flag or a bad value named in the exit-2 message; --watch redraws when the report
// changes (clearing the screen only on a terminal, a pseudo-terminal here), waits while the name
// is gone and follows the next segment, and dies of SIGINT or SIGTERM at once. No servers are
// needed: the writer is driven directly.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "report/writer.hpp"
#include "support/report_test_plan.hpp"
#include "support/unique_name.hpp"

namespace ringprobe::report {
namespace {

struct CliRun {
    int status;
    std::string out;
    std::string err;
};

std::string slurp(int fd) {
    std::string s;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        s.append(buf, static_cast<std::size_t>(n));
    }
    return s;
}

CliRun run(std::vector<std::string> args) {
    const char* exe = std::getenv("RINGPROBE_REPORT");
    EXPECT_NE(exe, nullptr);
    int out[2], err[2];
    EXPECT_EQ(::pipe(out), 0);
    EXPECT_EQ(::pipe(err), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::close(out[0]);
        ::close(err[0]);
        std::vector<char*> argv{const_cast<char*>(exe)};
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        // A pending alarm survives execv: a binary that hangs dies of SIGALRM and the test
        // fails (status 128) instead of blocking the suite.
        ::alarm(20);
        ::execv(exe, argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    CliRun r{};
    r.out = slurp(out[0]);  // outputs are small: reading one pipe then the other cannot block
    r.err = slurp(err[0]);
    ::close(out[0]);
    ::close(err[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return r;
}

// `ringprobe-report --watch` running in the background, its stdout a pipe or a pseudo-terminal.
// Every wait is bounded, and the destructor kills and reaps it by pid whatever the test did.
class Watcher {
public:
    Watcher(const std::string& name, bool tty) {
        const char* exe = std::getenv("RINGPROBE_REPORT");
        EXPECT_NE(exe, nullptr);
        int slave = -1;
        if (tty) {
            fd_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
            EXPECT_GE(fd_, 0) << std::strerror(errno);
            EXPECT_EQ(::grantpt(fd_), 0);
            EXPECT_EQ(::unlockpt(fd_), 0);
            slave = ::open(::ptsname(fd_), O_RDWR | O_NOCTTY);
            EXPECT_GE(slave, 0) << std::strerror(errno);
        } else {
            int p[2];
            EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
            fd_ = p[0];
            slave = p[1];
        }
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(slave, 1);
            ::dup2(slave, 2);
            std::string n = name;
            char* argv[] = {const_cast<char*>(exe), const_cast<char*>("--watch"),
                            const_cast<char*>("--name"), n.data(), nullptr};
            ::alarm(30);  // a backstop should the test die before the destructor runs
            ::execv(exe, argv);
            ::_exit(127);
        }
        ::close(slave);
    }
    ~Watcher() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    // Reads until `text` appears in what came after the last call, or `ms` pass.
    bool wait_for(const std::string& text, int ms = 10000) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (unseen_.find(text) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return false;
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                continue;
            }
            char buf[4096];
            const ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) {
                return false;  // the watcher exited
            }
            unseen_.append(buf, static_cast<std::size_t>(n));
        }
        seen_ = unseen_;
        unseen_.clear();
        return true;
    }
    // The wait status once it exited, within `ms`; -1 if it still runs.
    int reap(int ms) {
        for (int waited = 0; waited <= ms; waited += 10) {
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                return st;
            }
            ::poll(nullptr, 0, 10);
        }
        return -1;
    }
    pid_t pid() const { return pid_; }
    const std::string& seen() const { return seen_; }
    const std::string& unseen() const { return unseen_; }

private:
    pid_t pid_ = -1;
    int fd_ = -1;
    std::string seen_;    // output up to the last text waited for
    std::string unseen_;  // output since
};

class ReportCli : public ::testing::Test {
protected:
    void SetUp() override {
        auto w = Writer::create(testing::sample_plan(), name_);
        ASSERT_TRUE(w) << w.error().message;
        writer_.emplace(std::move(*w));
        TargetUpdate ok;
        ok.health = Health::Healthy;
        ok.reason = Reason::Ok;
        ok.http_status = 200;
        ok.last_probe_unix_ns = realtime_ns();
        for (std::uint32_t t = 0; t < writer_->target_count(); ++t) {
            writer_->publish(t, ok);
        }
        TargetUpdate bad = ok;
        bad.health = Health::Unhealthy;
        bad.reason = Reason::ConnectRefused;
        bad.http_status = 0;
        writer_->publish(6, bad);
        writer_->heartbeat(realtime_ns());
    }
    void TearDown() override {
        if (writer_) {
            writer_->unlink();
        }
    }
    std::string name_ = testing::unique_name("cli");
    std::optional<Writer> writer_;
};

TEST_F(ReportCli, TableIsTheDefaultAndExitsZero) {
    CliRun r = run({"--name", name_});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("pool web: 6 healthy, 0 unhealthy, 0 unknown"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("pool api: 0 healthy, 1 unhealthy, 0 unknown"), std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "no colour when stdout is a pipe";
}

TEST_F(ReportCli, WatchRedrawsAChangedReportAndFollowsTheNameAcrossARestart) {
    Watcher w(name_, false);
    ASSERT_TRUE(w.wait_for("pool api: 0 healthy, 1 unhealthy, 0 unknown")) << w.unseen();
    EXPECT_EQ(w.seen().find('\x1b'), std::string::npos) << "no screen clearing into a pipe";

    TargetUpdate ok;
    ok.health = Health::Healthy;
    ok.reason = Reason::Ok;
    ok.http_status = 200;
    ok.last_probe_unix_ns = realtime_ns();
    writer_->publish(6, ok);
    writer_->heartbeat(realtime_ns());
    ASSERT_TRUE(w.wait_for("pool api: 1 healthy, 0 unhealthy, 0 unknown")) << w.unseen();

    writer_->unlink();  // the engine stopped and its name went with it
    ASSERT_TRUE(w.wait_for("waiting for the report '" + name_ + "' (is the engine running?)"))
        << w.unseen();

    auto next = Writer::create(testing::sample_plan(), name_);
    ASSERT_TRUE(next) << next.error().message;
    writer_.emplace(std::move(*next));
    writer_->heartbeat(realtime_ns());
    ASSERT_TRUE(w.wait_for("pool api: 0 healthy, 0 unhealthy, 1 unknown")) << w.unseen();

    ASSERT_EQ(::kill(w.pid(), SIGTERM), 0);
    const int st = w.reap(3000);
    ASSERT_NE(st, -1) << "--watch still runs 3 s after SIGTERM";
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM) << "wait status " << st;
}

// On a terminal every frame starts by homing the cursor and clearing the screen, so the table
// is redrawn in place; Ctrl-C (SIGINT) ends it at once.
TEST_F(ReportCli, WatchOnATerminalClearsBeforeEachFrameAndStopsOnSigint) {
    Watcher w(name_, true);
    const std::string clear = "\x1b[H\x1b[2J";
    ASSERT_TRUE(w.wait_for("pool api: 0 healthy, 1 unhealthy, 0 unknown")) << w.unseen();
    EXPECT_EQ(w.seen().rfind(clear, 0), 0u) << "the first frame starts with a clear";
    ASSERT_TRUE(w.wait_for("pool api: 0 healthy, 1 unhealthy, 0 unknown")) << w.unseen();
    EXPECT_NE(w.seen().find(clear), std::string::npos) << "and so does the second";

    ASSERT_EQ(::kill(w.pid(), SIGINT), 0);
    const int st = w.reap(3000);
    ASSERT_NE(st, -1) << "--watch still runs 3 s after SIGINT";
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT) << "wait status " << st;
}

TEST_F(ReportCli, JsonAndPowershellFormats) {
    CliRun j = run({"--name", name_, "--format", "json", "--details"});
    EXPECT_EQ(j.status, 0) << j.err;
    EXPECT_NE(j.out.find("\"backendAddressPools\""), std::string::npos);
    EXPECT_NE(j.out.find("\"ringprobe\""), std::string::npos);
    CliRun p = run({"--name", name_, "--format", "powershell"});
    EXPECT_EQ(p.status, 0) << p.err;
    EXPECT_NE(p.out.find("\"BackendAddressPool\""), std::string::npos);
}

TEST_F(ReportCli, FiltersByPoolAndHealth) {
    CliRun r = run({"--name", name_, "--pool", "api", "--health", "Unhealthy"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("10.1.0.4"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("pool web"), std::string::npos) << r.out;
}

TEST_F(ReportCli, StoppedEngineShowsUnknown) {
    writer_->mark_stopped();
    CliRun r = run({"--name", name_, "--format", "json"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("could not be retrieved from the engine"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("\"Healthy\""), std::string::npos) << r.out;
}

TEST_F(ReportCli, MissingReportExitsThreeWithAHint) {
    CliRun r = run({"--name", name_ + "-absent"});
    EXPECT_EQ(r.status, 3);
    EXPECT_NE(r.err.find("is the engine running"), std::string::npos) << r.err;
}

TEST_F(ReportCli, CorruptReportExitsFour) {
    const std::string name = testing::unique_name("cli-corrupt");
    const std::string path = segment_path(name);
    int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0640);
    ASSERT_GE(fd, 0);
    std::string junk(4096, 'j');
    ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    ::close(fd);
    CliRun r = run({"--name", name});
    ::unlink(path.c_str());
    EXPECT_EQ(r.status, 4);
    EXPECT_NE(r.err.find("not a ringprobe report"), std::string::npos) << r.err;
}

// Anyone may create /dev/shm/ringprobe.NAME while no engine runs; a FIFO there would block a
// plain open(2) forever.
TEST_F(ReportCli, FifoInPlaceOfAReportExitsFourWithoutHanging) {
    const std::string name = testing::unique_name("fifo");
    const std::string path = segment_path(name);
    ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
    CliRun r = run({"--name", name});
    ::unlink(path.c_str());
    EXPECT_EQ(r.status, 4) << r.err;
    EXPECT_NE(r.err.find(path +
                         " is a FIFO (named pipe), not a report the engine wrote; remove "
                         "it (rm " +
                         path + ") and start the engine"),
              std::string::npos)
        << r.err;
}

TEST_F(ReportCli, SymbolicLinkInPlaceOfAReportExitsFour) {
    const std::string name = testing::unique_name("link");
    const std::string path = segment_path(name);
    ASSERT_EQ(::symlink(segment_path(name_).c_str(), path.c_str()), 0) << std::strerror(errno);
    CliRun r = run({"--name", name});
    ::unlink(path.c_str());
    EXPECT_EQ(r.status, 4) << r.err;
    EXPECT_NE(r.err.find(path + " is a symbolic link"), std::string::npos) << r.err;
}

TEST_F(ReportCli, TroubleshootDrawsTheFaultyLinkAndExitsZero) {
    CliRun r = run({"--name", name_, "--troubleshoot", "10.1.0.4"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("| ringprobe "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("-XX-"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Faulty part: XX the TCP connection from ringprobe to the server."),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("What to change: Make the application listen on port 80"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "no colour when stdout is a pipe";
}

TEST_F(ReportCli, TroubleshootShowsEveryMatchingRowUnlessNarrowed) {
    CliRun both = run({"--name", name_, "--troubleshoot", "10.0.0.4"});
    EXPECT_EQ(both.status, 0) << both.err;
    EXPECT_NE(both.out.find("(1 of 2) Troubleshoot 10.0.0.4"), std::string::npos) << both.out;
    EXPECT_NE(both.out.find("(2 of 2) Troubleshoot 10.0.0.4"), std::string::npos) << both.out;
    CliRun one = run({"--name", name_, "--troubleshoot", "10.0.0.4", "--setting", "https443"});
    EXPECT_EQ(one.status, 0) << one.err;
    EXPECT_EQ(one.out.find("(1 of"), std::string::npos) << one.out;
    EXPECT_NE(one.out.find("backend setting https443 (443/Https)"), std::string::npos) << one.out;
    EXPECT_NE(one.out.find("Faulty part: nothing."), std::string::npos) << one.out;
}

TEST_F(ReportCli, TroubleshootUnknownServerExitsTwo) {
    CliRun r = run({"--name", name_, "--troubleshoot", "10.9.9.9"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("no server '10.9.9.9'"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty());
    CliRun p = run({"--name", name_, "--troubleshoot", "10.1.0.4", "--pool", "web"});
    EXPECT_EQ(p.status, 2) << p.out;
    EXPECT_EQ(run({"--name", name_, "--troubleshoot"}).status, 2);
    EXPECT_EQ(run({"--name", name_, "--setting", "http80"}).status, 2);
    EXPECT_EQ(run({"--name", name_, "--troubleshoot", "10.1.0.4", "--format", "json"}).status, 2);
    EXPECT_EQ(run({"--name", name_ + "-absent", "--troubleshoot", "10.1.0.4"}).status, 3);
}

TEST_F(ReportCli, HelpDocumentsTroubleshoot) {
    CliRun r = run({"--help"});
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("--troubleshoot SERVER"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--setting"), std::string::npos) << r.out;
}

TEST_F(ReportCli, BadArgumentsExitTwoWithUsage) {
    EXPECT_EQ(run({"--format", "xml"}).status, 2);
    EXPECT_EQ(run({"--health", "Sick"}).status, 2);
    EXPECT_EQ(run({"--name"}).status, 2);
    EXPECT_EQ(run({"--bogus"}).status, 2);
}

TEST_F(ReportCli, FlagEqualsValueMeansTheSameAsFlagThenValue) {
    CliRun r = run({"--name=" + name_, "--pool=api", "--health=Unhealthy", "--format=json"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("10.1.0.4"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("10.0.0.4"), std::string::npos) << r.out;
}

TEST_F(ReportCli, UnknownFlagOrBadValueExitsTwoNamingTheFlag) {
    CliRun unknown = run({"--name", name_, "--colour"});
    EXPECT_EQ(unknown.status, 2);
    EXPECT_NE(unknown.err.find("--colour"), std::string::npos) << unknown.err;
    CliRun format = run({"--name", name_, "--format=xml"});
    EXPECT_EQ(format.status, 2);
    EXPECT_NE(format.err.find("ringprobe-report: --format: "), std::string::npos) << format.err;
    CliRun health = run({"--name", name_, "--health", "Sick"});
    EXPECT_EQ(health.status, 2);
    EXPECT_NE(health.err.find("ringprobe-report: --health: "), std::string::npos) << health.err;
}

}  // namespace
}  // namespace ringprobe::report
