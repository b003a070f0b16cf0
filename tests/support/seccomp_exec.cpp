// seccomp_exec: run a program under a seccomp filter made from the command line, so a test can
// make a system call fail the way a container runtime's profile makes it fail.
//
//   seccomp_exec [--default allow|ERRNO] [--rule NR=allow|ERRNO]... [--rules FILE] -- PROG ARGS
//
// A rule answers system call number NR (x86-64) with the action; any other call gets the
// default (allow unless told). FILE holds one NR=ACTION a line. The filter is installed with
// PR_SET_NO_NEW_PRIVS, so no privilege is needed, and it is inherited by PROG and its threads.
// Exit status 125 when the filter cannot be made or installed, 127 when PROG cannot be run.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

constexpr int status_bad_filter = 125;
constexpr int status_no_program = 127;
// BPF programs hold at most 4096 instructions; each rule takes two.
constexpr std::size_t rules_max = 2000;

struct Rule {
    unsigned nr = 0;
    std::uint32_t action = SECCOMP_RET_ALLOW;
};

bool parse_action(const std::string& text, std::uint32_t& action) {
    if (text == "allow") {
        action = SECCOMP_RET_ALLOW;
        return true;
    }
    char* end = nullptr;
    const long err = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || err < 1 || err > 4095) {
        return false;
    }
    action = SECCOMP_RET_ERRNO | static_cast<std::uint32_t>(err);
    return true;
}

bool parse_rule(const std::string& text, std::vector<Rule>& rules) {
    const std::size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0) {
        return false;
    }
    char* end = nullptr;
    const std::string nr = text.substr(0, eq);
    const unsigned long value = std::strtoul(nr.c_str(), &end, 10);
    Rule r;
    if (*end != '\0' || value > 4096 || !parse_action(text.substr(eq + 1), r.action)) {
        return false;
    }
    r.nr = static_cast<unsigned>(value);
    rules.push_back(r);
    return rules.size() <= rules_max;
}

bool read_rules(const char* path, std::vector<Rule>& rules) {
    std::ifstream in(path);
    if (!in) {
        return false;
    }
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && !parse_rule(line, rules)) {
            std::fprintf(stderr, "seccomp_exec: %s: bad rule '%s' (want NR=allow|ERRNO)\n", path,
                         line.c_str());
            return false;
        }
    }
    return true;
}

// A call of another architecture (x32, i386) is killed: the numbers below are x86-64's.
std::vector<sock_filter> make_filter(const std::vector<Rule>& rules, std::uint32_t fallback) {
    std::vector<sock_filter> prog;
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    for (const Rule& r : rules) {
        prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, r.nr, 0, 1));
        prog.push_back(BPF_STMT(BPF_RET | BPF_K, r.action));
    }
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, fallback));
    return prog;
}

int usage() {
    std::fprintf(stderr,
                 "usage: seccomp_exec [--default allow|ERRNO] [--rule NR=allow|ERRNO]... "
                 "[--rules FILE] -- PROGRAM [ARGS...]\n");
    return status_bad_filter;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<Rule> rules;
    std::uint32_t fallback = SECCOMP_RET_ALLOW;
    int i = 1;
    for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) {
            return usage();
        }
        const std::string value = argv[++i];
        const bool ok = flag == "--default" ? parse_action(value, fallback)
                        : flag == "--rule"  ? parse_rule(value, rules)
                        : flag == "--rules" ? read_rules(value.c_str(), rules)
                                            : false;
        if (!ok) {
            std::fprintf(stderr, "seccomp_exec: %s: bad value '%s'\n", flag.c_str(), value.c_str());
            return usage();
        }
    }
    if (i + 1 >= argc) {
        return usage();
    }
    std::vector<sock_filter> prog = make_filter(rules, fallback);
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(prog.size());
    fprog.filter = prog.data();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        std::fprintf(stderr, "seccomp_exec: PR_SET_NO_NEW_PRIVS: %s\n", std::strerror(errno));
        return status_bad_filter;
    }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog) != 0) {
        std::fprintf(stderr, "seccomp_exec: seccomp: %s\n", std::strerror(errno));
        return status_bad_filter;
    }
    execv(argv[i + 1], argv + i + 1);
    std::fprintf(stderr, "seccomp_exec: %s: %s\n", argv[i + 1], std::strerror(errno));
    return status_no_program;
}
