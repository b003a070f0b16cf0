#!/usr/bin/env python3
"""deploy/seccomp: the runtime default plus the three io_uring calls, and nothing more.

1. ringprobe.json is JSON in Docker's format; io_uring_setup, io_uring_enter and
   io_uring_register are allowed by one entry of exactly those names, without conditions.
2. Without that entry it is Docker's default profile (moby/profiles seccomp/default.json at
   commit cd3bed8061c7b7378b61fc6827c7885779417a75), compared by a digest of its canonical form.
3. ringprobe-oci.json is what deploy/seccomp/resolve.py makes of it (amd64, no capabilities).
4. The engine starts and probes under the equivalent filter (ringprobe-oci.json turned into a
   seccomp filter by tests/support/seccomp_exec, an argument condition taken as its action), and
   under the same filter without the io_uring entry (the runtime default) it exits 1 naming
   seccomp and the profile.

    seccomp_profile_test.py SECCOMP_EXEC RINGPROBE CONFIG DEPLOY_DIR
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

IO_URING = ["io_uring_enter", "io_uring_register", "io_uring_setup"]
UPSTREAM_SHA256 = "9da637d2ab0a204fcbd91bd88f1be9e004a3acab61c571a9f5b8870e588a17d2"
UNISTD = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"


def canonical_digest(profile):
    text = json.dumps(profile, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def check_profile(profile):
    errors = []
    if profile.get("defaultAction") != "SCMP_ACT_ERRNO":
        errors.append("defaultAction is not SCMP_ACT_ERRNO")
    holders = [e for e in profile["syscalls"] if set(e["names"]) & set(IO_URING)]
    if len(holders) != 1:
        errors.append(f"{len(holders)} entries name io_uring calls (want 1)")
        return errors
    entry = holders[0]
    if sorted(entry["names"]) != IO_URING or entry["action"] != "SCMP_ACT_ALLOW":
        errors.append(f"the io_uring entry is {entry} (want exactly {IO_URING}, allowed)")
    conditions = set(entry) & {"args", "includes", "excludes", "errnoRet"}
    if conditions:
        errors.append(f"the io_uring entry has conditions {sorted(conditions)}")
    base = dict(profile, syscalls=[e for e in profile["syscalls"] if e is not entry])
    if canonical_digest(base) != UPSTREAM_SHA256:
        errors.append("without the io_uring entry the profile is not the runtime default "
                      f"(digest {canonical_digest(base)})")
    return errors


def syscall_numbers():
    numbers = {}
    with open(UNISTD) as f:
        for m in re.finditer(r"#define __NR_(\w+) (\d+)", f.read()):
            numbers[m.group(1)] = int(m.group(2))
    return numbers


def filter_rules(oci, numbers):
    """NR=ACTION lines for seccomp_exec, first entry naming a call wins, as in the profile."""
    rules, seen = [], set()
    for entry in oci["syscalls"]:
        action = "allow" if entry["action"] == "SCMP_ACT_ALLOW" else str(entry.get("errnoRet", 1))
        for name in entry["names"]:
            nr = numbers.get(name)
            if nr is not None and nr not in seen:
                seen.add(nr)
                rules.append(f"{nr}={action}")
    return "\n".join(rules) + "\n"


def run_engine(helper, ringprobe, config, oci, numbers, tmp, tag):
    rules = os.path.join(tmp, f"{tag}.rules")
    with open(rules, "w") as f:
        f.write(filter_rules(oci, numbers))
    name = f"seccomp-{tag}-{os.getpid()}"
    cmd = [helper, "--default", str(oci["defaultErrnoRet"]), "--rules", rules, "--",
           ringprobe, "run", "--config", config, "--name", name, "--listen", "none",
           "--duration", "2", "--quiet"]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        for leftover in (f"/dev/shm/ringprobe.{name}", f"/dev/shm/ringprobe-lock.{name}"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def main():
    helper, ringprobe, config, deploy = sys.argv[1:5]
    sys.path.insert(0, os.path.join(deploy, "seccomp"))
    import resolve  # deploy/seccomp/resolve.py

    with open(os.path.join(deploy, "seccomp", "ringprobe.json")) as f:
        profile = json.load(f)
    with open(os.path.join(deploy, "seccomp", "ringprobe-oci.json")) as f:
        oci = json.load(f)
    errors = check_profile(profile)
    if oci != resolve.resolve(profile):
        errors.append("ringprobe-oci.json is not resolve.py's output: run "
                      "deploy/seccomp/resolve.py deploy/seccomp/ringprobe.json "
                      "> deploy/seccomp/ringprobe-oci.json")
    if not os.path.exists(UNISTD):
        errors.append(f"{UNISTD} is missing: install linux-libc-dev")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1

    numbers = syscall_numbers()
    default = dict(oci, syscalls=[e for e in oci["syscalls"] if "io_uring_setup" not in e["names"]])
    with tempfile.TemporaryDirectory() as tmp:
        allowed = run_engine(helper, ringprobe, config, oci, numbers, tmp, "profile")
        refused = run_engine(helper, ringprobe, config, default, numbers, tmp, "default")
    if allowed.returncode != 0 or "probing 1 targets" not in allowed.stderr:
        errors.append(f"under ringprobe-oci.json: status {allowed.returncode} (want 0)\n"
                      f"{allowed.stderr}")
    if refused.returncode != 1 or "seccomp filter refuses io_uring_setup" not in refused.stderr:
        errors.append(f"under the runtime default: status {refused.returncode} (want 1)\n"
                      f"{refused.stderr}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print("profile: default + io_uring only; engine starts under it, refused without it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
