#!/usr/bin/env python3
"""deploy/systemd/ringprobe@.service: one engine per shard, hardened like the packaged unit.

1. `systemd-analyze verify` accepts it for a sharded and an unsharded instance, with no output
   (ExecStart's /usr/bin/ringprobe pointed at the build, man:ringprobe(8) at dist/man).
2. From the restart policy down (limits, user, hardening) it is the packaged unit
   (dist/systemd/ringprobe@.service.in) line for line, so the two cannot drift apart.
3. Its ExecStart maps an instance to the engine's arguments as the unit's table says: the shell
   it runs is run with the engine replaced by a program that prints its arguments.

Exit 77 (SKIP) when systemd-analyze is not installed (Debian package systemd).

    systemd_unit_test.py RINGPROBE SOURCE_ROOT
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ENGINE = "/usr/bin/ringprobe"
BODY_MARK = "# Exit status 2 is a bad configuration"

# instance -> the arguments `ringprobe` gets
CASES = {
    "gw": ["run", "--config", "/etc/ringprobe/gw.json", "--name", "gw"],
    "gw-0of3": ["run", "--config", "/etc/ringprobe/gw.json", "--name", "gw-0of3",
                "--shard", "0/3", "--listen", "127.0.0.1:9470"],
    "app-gw-2of3": ["run", "--config", "/etc/ringprobe/app-gw.json", "--name", "app-gw-2of3",
                    "--shard", "2/3", "--listen", "127.0.0.1:9472"],
    "gw-11of12": ["run", "--config", "/etc/ringprobe/gw.json", "--name", "gw-11of12",
                  "--shard", "11/12", "--listen", "127.0.0.1:9481"],
    # Not digits "of" digits: a plain report name, unsharded.
    "app-gw": ["run", "--config", "/etc/ringprobe/app-gw.json", "--name", "app-gw"],
    "gw-3": ["run", "--config", "/etc/ringprobe/gw-3.json", "--name", "gw-3"],
    "gw-xof3": ["run", "--config", "/etc/ringprobe/gw-xof3.json", "--name", "gw-xof3"],
    "gw-of3": ["run", "--config", "/etc/ringprobe/gw-of3.json", "--name", "gw-of3"],
    "gw-1of": ["run", "--config", "/etc/ringprobe/gw-1of.json", "--name", "gw-1of"],
}


def exec_start(unit_text):
    """ExecStart's value with its continuation lines joined."""
    m = re.search(r"^ExecStart=((?:.*\\\n)*.*)$", unit_text, re.M)
    return m.group(1).replace("\\\n", "")


def expand(value, instance):
    """systemd's specifier and $$ expansion, for the specifiers the unit uses (%i, %%)."""
    out, i = [], 0
    while i < len(value):
        two = value[i:i + 2]
        if two == "%%":
            out.append("%")
        elif two == "%i":
            out.append(instance)
        elif two == "$$":
            out.append("$")
        else:
            out.append(value[i])
            i += 1
            continue
        i += 2
    return "".join(out)


def check_mapping(unit_text, errors):
    for instance, want in CASES.items():
        argv = shlex.split(expand(exec_start(unit_text), instance))
        if argv[:2] != ["/bin/sh", "-c"]:
            errors.append(f"ExecStart is not /bin/sh -c SCRIPT: {argv[:2]}")
            return
        script = argv[2].replace(f"exec {ENGINE} ", "exec printf '%s\\n' ")
        run = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                             timeout=10)
        got = run.stdout.splitlines()
        if run.returncode != 0 or got != want:
            errors.append(f"ringprobe@{instance}: runs {got} (status {run.returncode}, "
                          f"{run.stderr.strip()}); want {want}")


def verify(unit_text, ringprobe, root, errors):
    with tempfile.TemporaryDirectory() as tmp:
        units = os.path.join(tmp, "units")
        man8 = os.path.join(tmp, "man", "man8")
        os.makedirs(units)
        os.makedirs(man8)
        shutil.copy(os.path.join(root, "dist", "man", "ringprobe.8"), man8)
        with open(os.path.join(units, "ringprobe@.service"), "w") as f:
            f.write(unit_text.replace(ENGINE, ringprobe))
        env = dict(os.environ, MANPATH=os.path.join(tmp, "man"))
        for instance in ("gw-0of3", "gw"):
            path = os.path.join(units, f"ringprobe@{instance}.service")
            run = subprocess.run(["systemd-analyze", "verify", path], capture_output=True,
                                 text=True, env=env, timeout=60)
            # verify exits 0 on a line it ignores, so any output fails the check.
            if run.returncode != 0 or run.stdout or run.stderr:
                errors.append(f"systemd-analyze verify ringprobe@{instance}.service: status "
                              f"{run.returncode}\n{run.stdout}{run.stderr}")


def main():
    ringprobe, root = os.path.abspath(sys.argv[1]), sys.argv[2]
    if shutil.which("systemd-analyze") is None:
        print("SKIP: systemd-analyze not installed (Debian package systemd)", file=sys.stderr)
        return 77
    with open(os.path.join(root, "deploy", "systemd", "ringprobe@.service")) as f:
        unit_text = f.read()
    with open(os.path.join(root, "dist", "systemd", "ringprobe@.service.in")) as f:
        packaged = f.read()
    errors = []
    verify(unit_text, ringprobe, root, errors)
    if BODY_MARK not in unit_text or (unit_text[unit_text.index(BODY_MARK):] !=
                                      packaged[packaged.index(BODY_MARK):]):
        errors.append("from '" + BODY_MARK + "' down, deploy/systemd/ringprobe@.service differs "
                      "from dist/systemd/ringprobe@.service.in: keep them the same")
    check_mapping(unit_text, errors)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print(f"verified; {len(CASES)} instances map as the unit's table says")
    return 0


if __name__ == "__main__":
    sys.exit(main())
