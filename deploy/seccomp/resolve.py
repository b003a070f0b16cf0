#!/usr/bin/env python3
"""Resolve ringprobe.json (Docker's profile format) into an OCI seccomp profile.

Docker and CRI-O read `includes`/`excludes` (an entry applies only with some capability, on some
architecture); containerd, and so Kubernetes on containerd, reads the OCI runtime-spec fields
and ignores them, which would allow every capability-gated entry. This writes the profile as
Docker applies it to one architecture and one capability set, in the OCI fields only:

    deploy/seccomp/resolve.py [--arch amd64] [--caps CAP_X,...] ringprobe.json > ringprobe-oci.json

The default, no capabilities on amd64, is what deploy/kubernetes runs (capabilities: drop ALL);
ringprobe-oci.json is its output and tests/deploy/seccomp_profile_test.py checks they agree.
"""
import argparse
import json
import sys

# Docker's archMap for the architectures a profile is resolved for.
ARCHES = {
    "amd64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "arm64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}


def applies(entry, arch, caps):
    """Whether Docker applies this entry for arch with caps (minKernel: the kernel ringprobe
    needs, 5.19, is newer than any the profile names)."""
    inc = entry.get("includes", {})
    exc = entry.get("excludes", {})
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if exc.get("arches") and arch in exc["arches"]:
        return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    return True


def resolve(profile, arch="amd64", caps=frozenset()):
    """The profile as an OCI LinuxSeccomp object: entries in their order, conditions applied."""
    out = {
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": profile.get("defaultErrnoRet", 1),
        "architectures": ARCHES[arch],
        "syscalls": [],
    }
    for entry in profile["syscalls"]:
        if not applies(entry, arch, caps):
            continue
        kept = {"names": entry["names"], "action": entry["action"]}
        for key in ("errnoRet", "args"):
            if key in entry:
                kept[key] = entry[key]
        out["syscalls"].append(kept)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="amd64", choices=sorted(ARCHES))
    parser.add_argument("--caps", default="", help="capabilities the container keeps, CAP_X,...")
    parser.add_argument("profile")
    args = parser.parse_args()
    with open(args.profile) as f:
        profile = json.load(f)
    caps = frozenset(c for c in args.caps.split(",") if c)
    json.dump(resolve(profile, args.arch, caps), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
