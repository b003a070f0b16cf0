#!/usr/bin/env python3
"""The engine's start-up error when the io_uring ring cannot be made.

`ringprobe run` is started under a seccomp filter (tests/support/seccomp_exec.cpp) that answers
io_uring_setup with one errno at a time, the way a container runtime's profile, the sysctl or an
old kernel would. It must exit with status 1, nothing probed, and say the cause and the fix.

    ring_refused_test.py SECCOMP_EXEC RINGPROBE CONFIG
"""
import os
import subprocess
import sys

IO_URING_SETUP = 425  # x86-64
EPERM, ENOMEM, EINVAL, ENOSYS = 1, 12, 22, 38


def sysctl(name):
    try:
        with open(f"/proc/sys/kernel/{name}") as f:
            return int(f.read().strip())
    except OSError:
        return -1


def sysctl_refuses():
    """The sysctl's value when it refuses this process io_uring, else 0."""
    disabled, group = sysctl("io_uring_disabled"), sysctl("io_uring_group")
    allowed_group = os.geteuid() == 0 or group == os.getegid() or group in os.getgroups()
    return disabled if disabled == 2 or (disabled == 1 and not allowed_group) else 0


def expected(err):
    """The phrases each cause's sentence must hold."""
    if err == EPERM:
        disabled = sysctl_refuses()
        if disabled > 0:
            return [f"kernel.io_uring_disabled is {disabled}"]
        return ["seccomp filter refuses io_uring_setup", "deploy/seccomp/ringprobe.json"]
    if err in (ENOSYS, EINVAL):
        return [f"Linux {os.uname().release}", "Linux 5.19 or later"]
    return ["locked-memory limit", "LimitMEMLOCK="]


def run_refused(helper, ringprobe, config, err, name):
    cmd = [helper, "--rule", f"{IO_URING_SETUP}={err}", "--", ringprobe, "run",
           "--config", config, "--name", name, "--listen", "none", "--duration", "5", "--quiet"]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        for leftover in (f"/dev/shm/ringprobe.{name}", f"/dev/shm/ringprobe-lock.{name}"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def main():
    helper, ringprobe, config = sys.argv[1:4]
    failures = 0
    for err in (EPERM, ENOSYS, EINVAL, ENOMEM):
        name = f"ring-refused-{os.getpid()}-{err}"
        run = run_refused(helper, ringprobe, config, err, name)
        missing = [p for p in expected(err) if p not in run.stderr]
        ok = run.returncode == 1 and not missing and "io_uring setup failed" in run.stderr
        if not ok:
            failures += 1
            print(f"errno {err}: status {run.returncode} (want 1), missing {missing}\n"
                  f"stderr:\n{run.stderr}", file=sys.stderr)
        else:
            print(f"errno {err}: status 1, {run.stderr.strip().splitlines()[-1]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
