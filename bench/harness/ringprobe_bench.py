#!/usr/bin/env python3
"""ringprobe-bench: ringprobe, HAProxy and the io_uring floor on the same synthetic fleet.

For every target count and every prober it starts a fresh ringprobe-fleet (pinned to the last
CPU) and the prober (pinned to CPU 0), lets a warm-up pass, then measures a window:

  probes/s      the fleet's own per-backend counts over the window (the same for every prober)
  CPU/probe     utime and stime deltas of /proc/PID/stat (all threads) over the window
  memory        VmRSS at the end of the window, and per target
  lateness      probe-start lateness p50/p99/p999 from the prober's own exit line (ringprobe:
                its stats-window line, the measured window only, marked by SIGUSR1; the floor:
                its whole run); HAProxy does not expose it
  TLS           https kinds: the fleet's completed handshakes over the window and the fraction
                that resumed (GET /sni), so resumption is seen where it happens
  steal         milliseconds a second the hypervisor took from the prober's CPU in the window
                (/proc/stat): on a virtual machine the first suspect for start lateness
  TIME_WAIT     each measured run first waits (bounded, --drain-time-wait) for the previous
                run's TIME_WAIT sockets to drain, and records the machine's count as its window
                starts; after the window, those on the fleet's port (and machine-wide), split by
                who holds them (the fleet's side or the prober's) and backend range
  detection     a few backends turn to 'reset' mid-run (behaviour file + /reload); time until
                the prober reports them down (ringprobe-report, HAProxy's stats socket)
  max rate      optional: the rate is pushed up until achieved < 95 % of asked

It prints one table and writes results.json and SVG charts into --out. Every process it starts
it stops by PID. Python standard library only. See docs/benchmarks.md, "Method: the harness".
"""

import argparse
import copy
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import charts as charts_mod  # noqa: E402

HOST = "bench.ringprobe"
PATH = "/"
TLS_KINDS = ("https", "https-resumed")
# TLS kinds: the fleet serves the committed good chain (docs/tls.md) and every prober trusts
# its private root only, so the chain is verified against a configured anchor and the name
# against the SNI, which is also the Host header.
TLS_HOST = "good.ringprobe.test"
TLS_CERT = "tests/fixtures/tls/good-chain.pem"
TLS_KEY = "tests/fixtures/tls/good.key"
TLS_ROOT = "tests/fixtures/tls/root.pem"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
NICE = 0  # --nice: priority of the fleet and the probers (negative needs CAP_SYS_NICE)

# Address plan of the fleet: healthy backends from 127.20.0.1 up (1,040,384 fit below 127.36,
# so --targets 1m), the fault mix in ranges of their own so that one CIDR rule each describes
# them.
HEALTHY_BASE = (127 << 24) | (20 << 16)
HEALTHY_END = (127 << 24) | (36 << 16)
REFUSE_BASE = (127 << 24) | (3 << 16)
HANG_BASE = (127 << 24) | (5 << 16)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_count(text):
    """1000, 10k, 1.5k, 1m: a target count."""
    scale = {"k": 1000, "m": 1000000}.get(text[-1:].lower())
    count = int(float(text[:-1]) * scale) if scale else int(text)
    if not 0 < count <= 1040384:
        raise SystemExit(f"ringprobe-bench: --targets: {text} is not between 1 and 1,040,384 "
                         "(the fleet's healthy address range, 127.20.0.1-127.35.255.254)")
    return count


def ip(n):
    return socket.inet_ntoa(n.to_bytes(4, "big"))


def addresses(base, count):
    """count consecutive addresses from base, skipping those ending in .0 and .255."""
    out, a = [], base
    while len(out) < count:
        if a & 0xFF not in (0, 255):
            out.append(ip(a))
        a += 1
    return out


# ---- The machine ---------------------------------------------------------------------------


def machine_info(build_dir):
    info = {"cores": os.cpu_count(), "kernel": platform.release(), "cpu_model": "unknown"}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["memory_kib"] = int(f.readline().split()[1])
        info["loadavg_at_start"] = open("/proc/loadavg").read().split()[:3]
    except OSError:
        pass
    info["fd_limit"] = list(__import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE))
    info["build"] = build_options(build_dir)
    try:
        info["git"] = subprocess.run(["git", "-C", os.path.dirname(__file__), "describe",
                                      "--always", "--dirty"], capture_output=True, text=True,
                                     timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["git"] = "unknown"
    return info


def build_options(build_dir):
    path = os.path.join(build_dir, "meson-info", "intro-buildoptions.json")
    wanted = {"buildtype", "b_ndebug", "hot_asserts", "jemalloc", "b_sanitize", "optimization"}
    try:
        with open(path) as f:
            out = {o["name"]: o["value"] for o in json.load(f) if o["name"] in wanted}
    except (OSError, ValueError):
        return {"buildtype": "unknown (no meson-info in " + build_dir + ")"}
    try:
        # The sources the binaries were built from (a snapshot of a commit, say, when the
        # working tree holds others' unfinished work).
        with open(os.path.join(build_dir, "meson-info", "meson-info.json")) as f:
            out["source_dir"] = json.load(f)["directories"]["source"]
    except (OSError, ValueError, KeyError):
        pass
    return out


# ---- /proc ---------------------------------------------------------------------------------


def cpu_ticks(pid):
    """(utime, stime) in clock ticks of the whole process (every thread, live or exited)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def steal_ticks(cpus):
    """Clock ticks the hypervisor took from these CPUs (the steal column of /proc/stat): time
    a virtual CPU was runnable and the host ran something else, which no guest scheduler sees
    and which reaches a prober's start lateness as it is. None where the kernel reports none."""
    try:
        total = 0
        with open("/proc/stat") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0].startswith("cpu") and parts[0][3:].isdigit() \
                        and int(parts[0][3:]) in cpus and len(parts) > 8:
                    total += int(parts[8])
        return total
    except (OSError, ValueError):
        return None


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# The host's TcpExt counters followed over a window (both stacks together on loopback): a
# prober that falls behind shows there as retransmissions before anywhere else (the fleet's FINs
# sent again by loss probes: bench/harness/results/HISTORY.md, "What the slow state is made of").
TCP_HOST_COUNTERS = ("TCPLossProbes", "TCPSynRetrans", "ListenOverflows", "TCPTimeouts")


def tcp_host_counters():
    """TCP_HOST_COUNTERS from /proc/net/netstat, or None."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
        for head, vals in zip(lines[::2], lines[1::2]):
            if head.startswith("TcpExt:") and vals.startswith("TcpExt:"):
                d = dict(zip(head.split()[1:], (int(v) for v in vals.split()[1:])))
                return {k: d[k] for k in TCP_HOST_COUNTERS if k in d}
    except (OSError, ValueError):
        pass
    return None


def sockstat_tw():
    """The machine's TIME_WAIT count from /proc/net/sockstat (cheap, unlike an `ss` listing)."""
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    parts = line.split()
                    return int(parts[parts.index("tw") + 1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def drain_time_wait(args):
    """Waits, at most args.drain_time_wait seconds, until the machine's TIME_WAIT count is at
    most args.time_wait_floor: a run that starts with the previous run's sockets (up to the
    kernel's cap, tcp_max_tw_buckets) pays for them in every connect and close, whoever the
    prober is. Returns (count when it stopped waiting, seconds waited)."""
    t0 = time.monotonic()
    tw = sockstat_tw()
    while (tw is not None and tw > args.time_wait_floor
           and time.monotonic() - t0 < args.drain_time_wait):
        time.sleep(1.0)
        tw = sockstat_tw()
    return tw, round(time.monotonic() - t0, 1)


def time_wait_sides(port):
    """TIME_WAIT sockets from one `ss` listing (with 100,000 of them on the machine a listing
    takes about a second): machine-wide, those with the fleet's port on either side
    (port_total), and those split by who holds them: the fleet's side (local address a
    backend's, local port the fleet's: the fleet closed first) and the prober's side (peer port
    the fleet's: the prober closed first), each by backend range. The address matters: the
    port alone would also match a prober's own socket of some other run whose ephemeral port
    happens to be P (counted as "other")."""
    try:
        out = subprocess.run(["ss", "-Htan", "state", "time-wait"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    sides = {"fleet_side": {}, "prober_side": {}, "other": 0, "machine": 0}

    def range_of(addr):
        try:
            n = int.from_bytes(socket.inet_aton(addr), "big")
        except OSError:
            return "outside"  # IPv6 or a wildcard: never one of the fleet's backends
        for name, base in (("refuse", REFUSE_BASE), ("hang", HANG_BASE)):
            if base <= n < base + (1 << 16):
                return name
        return "healthy" if HEALTHY_BASE <= n < HEALTHY_END else "outside"

    for line in out.splitlines():
        f = line.split()
        if len(f) < 4:
            continue
        sides["machine"] += 1
        try:
            la, lp = f[-2].rsplit(":", 1)
            pa, pp = f[-1].rsplit(":", 1)
        except ValueError:
            continue
        # The fleet's sockets are bound to device lo: ss prints them as 127.1.2.3%lo.
        la, pa = (x.split("%")[0].strip("[]").removeprefix("::ffff:") for x in (la, pa))
        if int(lp) == port and la != "127.0.0.1":
            side = sides["fleet_side"]
            side[range_of(la)] = side.get(range_of(la), 0) + 1
        elif int(pp) == port:
            side = sides["prober_side"]
            side[range_of(pa)] = side.get(range_of(pa), 0) + 1
        elif int(lp) == port:
            sides["other"] += 1  # 127.0.0.1:P: some prober's own port, not this fleet's
    sides["fleet_side_total"] = sum(sides["fleet_side"].values())
    sides["prober_side_total"] = sum(sides["prober_side"].values())
    sides["port_total"] = sides["fleet_side_total"] + sides["prober_side_total"] + sides["other"]
    return sides


# ---- Processes -----------------------------------------------------------------------------


def autogroups_enabled():
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def set_autogroup_nice(n):
    """In a child before exec: a new session (so a new autogroup), whose nice becomes n."""
    if not autogroups_enabled():
        return
    try:
        os.setsid()
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(n))
    except OSError:
        pass  # recorded as 'autogroup_nice_applied: false' in results.json


def autogroup_nice_allowed(n):
    """Whether a child can be given an autogroup of nice n (needs CAP_SYS_NICE below 0)."""
    if not n or not autogroups_enabled():
        return None
    r = subprocess.run([sys.executable, "-c", "import os\nos.setsid()\n"
                        "open('/proc/self/autogroup','w').write('%d')\n"
                        "print(open('/proc/self/autogroup').read().strip())" % n],
                       capture_output=True, text=True)
    return r.returncode == 0 and f"nice {n}" in r.stdout


class Proc:
    """A child process pinned to a CPU set before exec, stopped by PID."""

    def __init__(self, name, argv, cpus, stdout=None, stderr_path=None, env=None):
        self.name = name
        self.stderr_path = stderr_path
        err = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL
        cpus = set(cpus) & os.sched_getaffinity(0) or os.sched_getaffinity(0)

        def pin():
            os.sched_setaffinity(0, cpus)
            if NICE:
                # With autogroups (kernel.sched_autogroup_enabled, on here) a task's nice ranks
                # it only against tasks of its own session: a compiler at nice 19 in another
                # session still gets an equal share of the core. So the child starts a session
                # of its own and gives that autogroup the nice value as well.
                set_autogroup_nice(NICE)
                try:
                    os.nice(NICE)
                except OSError:
                    pass  # not permitted: recorded as 'nice_applied: false' in results.json

        self.popen = subprocess.Popen(argv, stdout=stdout or subprocess.DEVNULL, stderr=err,
                                      stdin=subprocess.DEVNULL, preexec_fn=pin, env=env)
        if err is not subprocess.DEVNULL:
            err.close()
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def stop(self, sig=signal.SIGTERM, wait_s=5.0):
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(wait_s)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {self.pid}) ignored {sig.name}; SIGKILL")
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def stderr_text(self):
        if not self.stderr_path:
            return ""
        with open(self.stderr_path, errors="replace") as f:
            return f.read()


class Fleet:
    """ringprobe-fleet on a port of its own; the behaviour file is rewritten and reloaded."""

    def __init__(self, exe, tmp, cpus, scenario):
        self.tmp = tmp
        self.behaviours_path = os.path.join(tmp, "behaviours.json")
        self.scenario = scenario
        self.write_behaviours(down=[])
        self.proc = Proc("fleet", [exe, "--port", "0", "--behaviours", self.behaviours_path,
                                   "--control", "127.0.0.1:0"], cpus, stdout=subprocess.PIPE,
                         stderr_path=os.path.join(tmp, "fleet.stderr"))
        self.port = self.control = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = self.proc.popen.stdout.readline().decode().strip()
            if not line:
                if not self.proc.alive():
                    break
                continue
            if line.startswith("port "):
                self.port = int(line.split()[1])
            elif line.startswith("control "):
                self.control = line.split()[1]
            elif line == "ready":
                break
        if self.port is None or self.control is None:
            self.proc.stop()
            raise RuntimeError("ringprobe-fleet did not say 'ready': " + self.proc.stderr_text())

    def write_behaviours(self, down):
        sc = self.scenario
        # A backend taken down resets every connection at accept, which fails an HTTP(S)
        # probe; a TCP probe has connected by then, so for tcp its SYNs are dropped instead.
        down_kind = "drop_syn" if sc.kind == "tcp" else "reset"
        rules = [{"cidr": a + "/32", "kind": down_kind} for a in down]
        # TLS kinds: every backend that handshakes serves the good chain; a hang backend with
        # tls accepts and never handshakes (a stalled handshake); reset never handshakes.
        tls = {"tls": sc.tls_section()} if sc.tls else {}
        if sc.refuse_count:
            rules.append({"cidr": ip(REFUSE_BASE) + "/16", "kind": "reset"})
        if sc.hang_count:
            rules.append({"cidr": ip(HANG_BASE) + "/16", "kind": "hang", **tls})
        # http-reuse: HTTP/1.1 persistent connections, so a prober that keeps them can.
        keep = {"keep_alive": True} if sc.reuse else {}
        doc = {"default": {"kind": "http", **tls, **keep}, "rules": rules}
        tmp = self.behaviours_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, self.behaviours_path)

    def get(self, path):
        with urllib.request.urlopen(f"http://{self.control}{path}", timeout=30) as r:
            return r.read().decode()

    def reload(self):
        return self.get("/reload")

    def stats(self):
        """The fleet's counters (/stats): accepted, wakeups, read_waits..."""
        return json.loads(self.get("/stats"))

    def counts(self, reset=False):
        doc = json.loads(self.get("/counts?reset=1" if reset else "/counts"))
        return sum(v for k, v in doc.items() if not k.startswith("other"))

    def requests(self, reset=False):
        """Requests read (/requests): the probes of an http-reuse run, where a connection
        carries many."""
        doc = json.loads(self.get("/requests?reset=1" if reset else "/requests"))
        return sum(v for k, v in doc.items() if not k.startswith("other"))

    def handshakes(self, reset=False):
        """The fleet's own TLS log (GET /sni): completed handshakes, how many resumed, and the
        SNI names seen, summed over every backend."""
        doc = json.loads(self.get("/sni?reset=1" if reset else "/sni"))
        hs = sum(v.get("handshakes", 0) for v in doc.values())
        resumed = sum(v.get("resumed", 0) for v in doc.values())
        return {"handshakes": hs, "resumed": resumed, "backends": len(doc),
                "resumed_fraction": resumed / hs if hs else None,
                "sni_seen": sorted({v.get("sni", "") for v in doc.values()})[:5]}

    def stop(self):
        self.proc.stop()


# ---- Scenario ------------------------------------------------------------------------------


class Scenario:
    def __init__(self, args, targets, interval_ms):
        self.targets = targets
        self.interval_ms = interval_ms
        self.timeout_ms = min(args.timeout_ms, interval_ms)
        self.kind = args.kind
        self.tls = args.kind in TLS_KINDS
        self.resume = args.kind == "https-resumed"
        self.reuse = args.kind == "http-reuse"  # ringprobe connectionReuse, a keep-alive fleet
        self.tls_files = {k: os.path.join(args.top, v) for k, v in
                          (("cert", TLS_CERT), ("key", TLS_KEY), ("root", TLS_ROOT))}
        self.tls_version = args.tls_version
        self.close = args.close
        self.quantum_ms = args.quantum_ms  # None: the engine's default
        self.start_batch = args.start_batch  # None: the engine's default
        self.fall = 3
        self.pools = max(1, min(args.pools, targets))
        self.refuse_count = int(round(targets * args.fault_refuse))
        self.hang_count = int(round(targets * args.fault_hang))
        healthy = targets - self.refuse_count - self.hang_count
        self.healthy = addresses(HEALTHY_BASE, healthy)
        self.addresses = (self.healthy + addresses(REFUSE_BASE, self.refuse_count)
                          + addresses(HANG_BASE, self.hang_count))
        # Faults spread among healthy backends rather than in one block of the schedule.
        random.Random(1).shuffle(self.addresses)
        # No listener: no backend to take down (the kernel refuses them all already).
        self.detect = self.healthy[: args.detect] if args.detect and not args.no_listener else []

    @property
    def host(self):
        return TLS_HOST if self.tls else HOST

    def tls_section(self):
        t = {"cert": self.tls_files["cert"], "key": self.tls_files["key"]}
        if self.tls_version:
            t["tls_version"] = self.tls_version
        return t

    @property
    def asked_per_s(self):
        return self.targets * 1000.0 / self.interval_ms

    def describe(self):
        return {"targets": self.targets, "interval_ms": self.interval_ms,
                "timeout_ms": self.timeout_ms, "kind": self.kind, "close": self.close,
                **({"ringprobe_quantum_ms": self.quantum_ms} if self.quantum_ms is not None
                   else {}),
                **({"ringprobe_start_batch": self.start_batch} if self.start_batch is not None
                   else {}),
                "fall": self.fall, "rise": 1, "pools": self.pools, "fault_refuse_backends": self.refuse_count,
                "fault_hang_backends": self.hang_count, "detect_backends": len(self.detect),
                "asked_probes_per_s": self.asked_per_s, "host": self.host, "path": PATH,
                **({"tls_chain": TLS_CERT, "tls_root": TLS_ROOT, "sni": TLS_HOST,
                    "tls_version": self.tls_version or "fleet allows 1.2 and 1.3",
                    "resumption": self.resume} if self.tls else {})}


# ---- Probers -------------------------------------------------------------------------------


class Skip(Exception):
    """A prober that cannot run in this scenario on this machine (not a failure)."""


class Prober:
    """One prober under test. Subclasses generate its configuration and read its figures."""

    name = "?"
    lateness = True
    detection = True

    def __init__(self, exes, tmp):
        self.exes, self.tmp, self.proc = exes, tmp, None

    def start(self, sc, port, cpus):
        raise NotImplementedError

    def stats(self):
        """Figures the prober prints about itself at exit (lateness)."""
        return {}

    def ready(self):
        """True once the prober has read its configuration and probes (warm-up starts then)."""
        return True

    def mark(self):
        """Marks the measured window's start, then its end (ringprobe: SIGUSR1)."""

    def down(self, sc, addrs):
        """Which of addrs the prober currently reports down."""
        return set()

    def stop(self):
        if self.proc:
            self.proc.stop()


def parse_kv_line(text, prefix):
    for line in reversed(text.splitlines()):
        if line.startswith(prefix):
            return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}
    return {}


def lateness_of(kv):
    out = {}
    for q in ("p50", "p90", "p99", "p999", "max"):
        v = kv.get(f"lateness_us_{q}")
        if v is not None:
            try:
                out[q] = float(v)
            except ValueError:
                pass
    return out


class Floor(Prober):
    name = "floor"
    detection = False

    def start(self, sc, port, cpus):
        if sc.tls:
            raise Skip("floor: plain HTTP and TCP only (no TLS client); its figures for the same "
                       "targets are those of a --kind http run")
        if sc.reuse:
            raise Skip("floor: a connection per probe; its figures for the same targets are "
                       "those of a --kind http run")
        tfile = os.path.join(self.tmp, "floor-targets.txt")
        with open(tfile, "w") as f:
            f.write("\n".join(sc.addresses) + "\n")
        argv = [self.exes["floor"], "--targets", tfile, "--port", str(port), "--kind", sc.kind,
                "--host", HOST, "--path", PATH, "--interval-ms", str(sc.interval_ms),
                "--timeout-ms", str(sc.timeout_ms), "--close", sc.close]
        self.proc = Proc(self.name, argv, cpus, stderr_path=os.path.join(self.tmp, "floor.stderr"))

    def stats(self):
        kv = parse_kv_line(self.proc.stderr_text(), "floor:")
        return {"lateness_us": lateness_of(kv), "own": kv}


class Blackbox(Prober):
    """Prometheus blackbox_exporter (Debian prometheus-blackbox-exporter), driven by a scrape
    loop (scrape_loop.py) at the scenario's rate, one /probe per target per interval, as
    Prometheus would. The exporter's own CPU is the prober's figure; the loop runs on the
    fleet's CPUs and its CPU is recorded beside it (driver_cpu_share). Its probes open a fresh
    connection each time. It exposes no probe-start lateness of its own: the loop's (when each
    scrape was sent) is recorded as driver_lateness_us, and the detection test is skipped."""

    name = "blackbox"
    lateness = False
    detection = False

    def __init__(self, exes, tmp):
        super().__init__(exes, tmp)
        self.driver = None
        self.driver_cpus = None
        self.driver_ticks = None

    def config(self, sc):
        timeout_s = max(0.001, sc.timeout_ms / 1000.0)
        if sc.kind == "tcp":
            return (f"modules:\n  bench:\n    prober: tcp\n    timeout: {timeout_s:g}s\n"
                    "    tcp:\n      preferred_ip_protocol: ip4\n")
        return (f"modules:\n  bench:\n    prober: http\n    timeout: {timeout_s:g}s\n"
                "    http:\n      method: GET\n      valid_status_codes: []\n"
                "      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n"
                f"      headers:\n        Host: {sc.host}\n"
                "        User-Agent: ringprobe-bench\n")

    def start(self, sc, port, cpus):
        if sc.tls:
            raise Skip("blackbox: plain HTTP and TCP only in the harness (its TLS trust is not "
                       "set up here)")
        cfg = os.path.join(self.tmp, "blackbox.yml")
        with open(cfg, "w") as f:
            f.write(self.config(sc))
        check = subprocess.run([self.exes["blackbox"], "--config.check", "--config.file", cfg],
                               capture_output=True, text=True, timeout=60)
        if check.returncode != 0:
            raise RuntimeError(f"blackbox_exporter --config.check refused {cfg}: "
                               f"{(check.stderr or check.stdout).strip()[:800]}")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.listen = f"127.0.0.1:{s.getsockname()[1]}"
        self.proc = Proc(self.name, [self.exes["blackbox"], "--config.file", cfg,
                                     "--web.listen-address", self.listen, "--log.level", "warn"],
                         cpus, stderr_path=os.path.join(self.tmp, "blackbox.stderr"))
        tfile = os.path.join(self.tmp, "blackbox-targets.txt")
        with open(tfile, "w") as f:
            for a in sc.addresses:
                f.write((f"{a}:{port}" if sc.kind == "tcp" else f"http://{a}:{port}{PATH}")
                        + "\n")
        self.targets_file = tfile
        self.sc = sc
        self.driver_cpus = cpu_sets()[1]

    def ready(self):
        if self.driver is not None:
            return True
        try:
            with urllib.request.urlopen(f"http://{self.listen}/-/healthy", timeout=1):
                pass
        except OSError:
            return False
        here = os.path.dirname(os.path.abspath(__file__))
        self.driver = Proc("scrape-loop", [
            sys.executable, os.path.join(here, "scrape_loop.py"), "--exporter", self.listen,
            "--targets", self.targets_file, "--module", "bench",
            "--interval-ms", str(self.sc.interval_ms),
            "--timeout-s", f"{self.sc.timeout_ms / 1000.0:g}"], self.driver_cpus,
            stderr_path=os.path.join(self.tmp, "scrape-loop.stderr"))
        return True

    def mark(self):
        # Called at the window's start and end: the loop's CPU over the same window.
        if self.driver is None:
            return
        t = cpu_ticks(self.driver.pid)
        self.driver_ticks = (self.driver_ticks or []) + [(time.monotonic(), *t)]

    def stop(self):
        if self.driver:
            self.driver.stop(signal.SIGINT)
        super().stop()

    def stats(self):
        out = {"lateness_us": {}, "note": "blackbox_exporter does not expose probe-start "
                                          "lateness; driver_lateness_us is its scrape loop's"}
        if self.driver:
            kv = parse_kv_line(self.driver.stderr_text(), "scrape:")
            out["driver"] = kv
            out["driver_lateness_us"] = lateness_of(kv)
        if self.driver_ticks and len(self.driver_ticks) >= 2:
            (t0, u0, s0), (t1, u1, s1) = self.driver_ticks[0], self.driver_ticks[1]
            out["driver_cpu_share"] = (u1 - u0 + s1 - s0) / CLK_TCK / max(t1 - t0, 1e-9)
        return out


def pool_split(sc):
    """[(pool name, its addresses)]: one pool 'fleet', or --pools P pools p0..p(P-1) of
    consecutive targets."""
    if sc.pools == 1:
        return [("fleet", sc.addresses)]
    n = len(sc.addresses)
    return [(f"p{i}", sc.addresses[i * n // sc.pools:(i + 1) * n // sc.pools])
            for i in range(sc.pools)]


def timed_ms(fn, repeat=3):
    """The median of repeat runs of fn, in milliseconds, and fn's last result."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.monotonic()
        out = fn()
        times.append((time.monotonic() - t0) * 1000)
    return sorted(times)[len(times) // 2], out


class Ringprobe(Prober):
    def __init__(self, exes, tmp, workers, direct=True, delayed_ack=True, start_batch=None,
                 base=False, turn_chunk=None, receive_stamps=True):
        if base:  # ringprobe-base: the same engine from another build (--base-exe), read by
            # that build's own reader, since the report's layout may differ between builds
            exes = {**exes, "ringprobe": exes["base"], "report": exes["base_report"]}
        super().__init__(exes, tmp)
        self.workers = workers
        self.direct = direct  # False: socket(2) per probe (--no-direct-sockets)
        self.delayed_ack = delayed_ack  # False: --no-delayed-ack
        self.receive_stamps = receive_stamps  # False: --no-receive-stamps
        self.start_batch = start_batch  # overrides --start-batch (ringprobe-sb1: 1)
        self.turn_chunk = turn_chunk  # ringprobe run --turn-chunk N (ringprobe-tc64: 64)
        self.with_exporter = False  # --timings turns it on
        variant = [v for v in ("" if direct else "fd", "" if delayed_ack else "qa",
                               "" if receive_stamps else "rs",
                               "" if start_batch is None else f"sb{start_batch}",
                               "" if turn_chunk is None else f"tc{turn_chunk}",
                               "base" if base else "") if v]
        self.name = ("ringprobe" if workers == 1 else f"ringprobe-{workers}w") + \
            "".join("-" + v for v in variant)
        self.segment = f"bench{os.getpid()}w{workers}" + "".join(variant)

    def config(self, sc, port):
        gw = f"/subscriptions/bench/resourceGroups/bench/providers/Microsoft.Network/" \
             f"applicationGateways/{self.segment}"
        proto = {"http": "Http", "http-reuse": "Http", "tcp": "Tcp"}.get(sc.kind, "Https")
        probe = {"protocol": proto, "interval": max(1, sc.interval_ms // 1000),
                 "timeout": max(1, sc.timeout_ms // 1000), "unhealthyThreshold": sc.fall,
                 "ringprobe": {"intervalMs": sc.interval_ms, "timeoutMs": sc.timeout_ms,
                               "healthyThreshold": 1, "closePolicy": sc.close,
                               **({"connectionReuse": True} if sc.reuse else {})}}
        if sc.kind != "tcp":
            # Https: the probe's host is both the Host header and the SNI (docs/configuration.md)
            probe.update({"host": sc.host, "path": PATH})
        setting = {"port": port, "protocol": proto, "probe": {"id": gw + "/probes/bench"}}
        props = {}
        if sc.tls:
            probe["ringprobe"]["tlsResume"] = sc.resume
            with open(sc.tls_files["root"]) as f:
                root_pem = f.read()
            props["trustedRootCertificates"] = [{"name": "benchroot",
                                                 "properties": {"data": root_pem}}]
            setting["trustedRootCertificates"] = [
                {"id": gw + "/trustedRootCertificates/benchroot"}]
        start_batch = self.start_batch if self.start_batch is not None else sc.start_batch
        pools = []
        rules = []
        for name, members in pool_split(sc):
            pools.append({"name": name, "properties": {
                "backendAddresses": [{"ipAddress": a} for a in members]}})
            rules.append({"name": "bench-" + name, "properties": {
                "ruleType": "Basic", "priority": 100 + len(rules),
                "backendAddressPool": {"id": gw + "/backendAddressPools/" + name},
                "backendHttpSettings": {"id": gw + "/backendHttpSettingsCollection/bench"}}})
        return {
            "name": self.segment,
            "properties": {
                **props,
                "backendAddressPools": pools,
                "probes": [{"name": "bench", "properties": probe}],
                "backendHttpSettingsCollection": [{"name": "bench", "properties": setting}],
                "requestRoutingRules": rules,
            },
            "ringprobe": {"jitterMs": 0, "startSpreadMs": sc.interval_ms,
                          **({"quantumMs": sc.quantum_ms} if sc.quantum_ms is not None else {}),
                          **({"startBatch": start_batch} if start_batch is not None
                             else {})},
        }

    def start(self, sc, port, cpus):
        path = os.path.join(self.tmp, f"{self.name}.json")
        self.config_path, self.port, self.reloads = path, port, 0
        with open(path, "w") as f:
            json.dump(self.config(sc, port), f)
        check = subprocess.run([self.exes["ringprobe"], "plan", "--config", path, "--check"],
                               capture_output=True, text=True, timeout=60)
        if check.returncode != 0:
            raise RuntimeError(f"ringprobe plan --check refused the generated configuration "
                               f"{path}: {check.stderr.strip() or check.stdout.strip()}")
        # No exporter unless --timings asks for its answers' times (on a port the kernel
        # chooses): HAProxy and the floor serve nothing either.
        listen = "127.0.0.1:0" if self.with_exporter else "none"
        argv = [self.exes["ringprobe"], "run", "--config", path, "--name", self.segment,
                "--workers", str(self.workers), "--stats", "--quiet", "--listen", listen]
        if self.workers == 1:
            argv.append("--no-pin")  # the harness pins it to CPU 0 instead
        if not self.direct:
            argv.append("--no-direct-sockets")
        if not self.delayed_ack:
            argv.append("--no-delayed-ack")
        if not self.receive_stamps:
            argv.append("--no-receive-stamps")
        if self.turn_chunk is not None:
            argv += ["--turn-chunk", str(self.turn_chunk)]
        self.proc = Proc(self.name, argv, cpus,
                         stderr_path=os.path.join(self.tmp, f"{self.name}.stderr"))

    def mark(self):
        if self.proc and self.proc.alive():
            os.kill(self.proc.pid, signal.SIGUSR1)

    def reload(self, sc, fraction):
        """Rewrites the configuration with `fraction` of the targets swapped for others (the
        same ones out and back on alternate reloads) and sends SIGHUP."""
        changed = max(1, int(len(sc.addresses) * fraction))
        if not hasattr(self, "spare"):
            self.spare = addresses(HEALTHY_BASE, len(sc.healthy) + changed)[len(sc.healthy):]
            self.original = list(sc.addresses)
        self.reloads += 1
        now = list(self.original)
        if self.reloads % 2 == 1:
            now[:changed] = self.spare
        variant = copy.copy(sc)
        variant.addresses = now
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.config(variant, self.port), f)
        os.replace(tmp, self.config_path)
        os.kill(self.proc.pid, signal.SIGHUP)

    def reload_figures(self):
        """What the engine said of each reload: the time it took to apply and what changed."""
        ms, refused = [], 0
        for line in self.proc.stderr_text().splitlines():
            m = re.search(r"reload applied: (\d+) targets kept, (\d+) added, (\d+) removed;"
                          r".* \(([0-9.]+) ms\)", line)
            if m:
                ms.append(float(m.group(4)))
            elif "reload refused" in line:
                refused += 1
        out = {"asked": self.reloads, "applied": len(ms), "refused": refused}
        if ms:
            out.update({"apply_ms_median": sorted(ms)[len(ms) // 2], "apply_ms_max": max(ms)})
        return out

    def exporter_url(self):
        m = re.search(r"exporter on (http://\S+/)", self.proc.stderr_text())
        return m.group(1) if m else None

    def timings(self, sc):
        """How long the exporter and the reader take to answer at this size (median of 3):
        whole-report answers, one pool's, one server's. Bytes beside each."""
        out = {}

        def get(path):
            with urllib.request.urlopen(url + path, timeout=120) as r:
                return len(r.read())

        def report(*args):
            r = subprocess.run([self.exes["report"], "--name", self.segment, *args],
                               capture_output=True, timeout=300)
            if r.returncode != 0:
                raise RuntimeError(f"ringprobe-report {' '.join(args)}: {r.stderr[-400:]}")
            return len(r.stdout)

        pool, members = pool_split(sc)[0]
        server = members[-1]  # --reload-every swaps the first targets out and back
        url = self.exporter_url()
        if url:
            out["exporter_metrics"] = timed_ms(lambda: get("metrics"))
            out["exporter_json"] = timed_ms(lambda: get("backendhealth"))
            out["exporter_page"] = timed_ms(lambda: get(""))
        out["report_table_pool"] = timed_ms(lambda: report("--pool", pool))
        out["report_json"] = timed_ms(lambda: report("--format", "json"))
        out["report_troubleshoot"] = timed_ms(lambda: report("--troubleshoot", server))
        return {k: {"ms": round(v[0], 2), "bytes": v[1]} for k, v in out.items()}

    def stats(self):
        text = self.proc.stderr_text()
        kv = parse_kv_line(text, "stats:")
        win = parse_kv_line(text, "stats-window:")
        if win:
            # The window's own lateness (SIGUSR1 at its start and end): start-up, warm-up and
            # the detection phase left out, like every other figure of the table.
            return {"lateness_us": lateness_of(win), "lateness_whole_run_us": lateness_of(kv),
                    "own": kv, "own_window": win}
        return {"lateness_us": lateness_of(kv), "own": kv}

    def ready(self):
        r = subprocess.run([self.exes["report"], "--name", self.segment, "--format", "json",
                            "--health", "Unknown"], capture_output=True, text=True, timeout=30)
        return r.returncode == 0

    def down(self, sc, addrs):
        r = subprocess.run([self.exes["report"], "--name", self.segment, "--format", "json",
                            "--health", "Unhealthy"], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return set()
        found = set()

        def walk(node):
            if isinstance(node, dict):
                a, h = node.get("address"), node.get("health")
                if a in addrs and h == "Unhealthy":
                    found.add(a)
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        try:
            walk(json.loads(r.stdout))
        except ValueError:
            pass
        return found

    def stop(self):
        super().stop()
        try:
            os.unlink(f"/dev/shm/ringprobe.{self.segment}")
        except OSError:
            pass


class Haproxy(Prober):
    lateness = False

    def __init__(self, exes, tmp, threads):
        super().__init__(exes, tmp)
        self.threads = threads
        self.name = "haproxy" if threads == 1 else f"haproxy-{threads}t"
        self.sock = None
        self.addr_of = {}

    # No traffic goes through this HAProxy, only checks: a small maxconn keeps its descriptor
    # needs at about one per checked server, which it reserves at start.
    MAXCONN = 256

    def config(self, sc, port):
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        need = self.MAXCONN * 2 + sc.targets + 256
        if need > hard:
            raise Skip(f"{self.name}: HAProxy reserves a descriptor per checked server and needs "
                       f"about {need:,} for {sc.targets:,} servers; the hard limit is {hard:,} "
                       f"(raise it, e.g. ulimit -Hn, to include HAProxy at this size)")
        lines = [
            "global",
            f"    nbthread {self.threads}",
            f"    maxconn {self.MAXCONN}",
            f"    ulimit-n {need}",
            f"    stats socket {self.sock} mode 600 level admin",
            "    hard-stop-after 3s",
            "defaults",
            "    mode tcp" if sc.kind == "tcp" else "    mode http",
            f"    timeout connect {sc.timeout_ms}ms",
            f"    timeout check {sc.timeout_ms}ms",
            "    timeout client 10s",
            "    timeout server 10s",
            "backend fleet",
        ]
        # HAProxy closes check connections with a RST unless told to linger: graceful = linger.
        linger = " linger" if sc.close == "graceful" else ""
        if sc.kind != "tcp":
            # An explicit connect rule ignores the server line's check-ssl and check-sni
            # unless it says "default".
            default = " default" if sc.tls else ""
            lines += ["    option httpchk",
                      f"    http-check connect{default}{linger}",
                      f"    http-check send meth GET uri {PATH} ver HTTP/1.1 hdr Host {sc.host} "
                      f"hdr User-Agent ringprobe-bench",
                      "    http-check expect status 200-399"]
        else:
            lines += ["    option tcp-check", f"    tcp-check connect{linger}"]
        server = f"    default-server check inter {sc.interval_ms}ms fall {sc.fall} rise 1"
        if sc.tls:
            # The same trust as ringprobe's: the private root only, the chain verified and the
            # name checked against the SNI. HAProxy reuses the last session of a server (for
            # checks too) unless told not to: https = no-ssl-reuse (a full handshake per check,
            # "only useful for benchmarking" says its manual), https-resumed = its default.
            server += (f" check-ssl verify required ca-file {sc.tls_files['root']}"
                       f" check-sni {TLS_HOST} verifyhost {TLS_HOST}")
            if not sc.resume:
                server += " no-ssl-reuse"
        lines.append(server)
        for i, a in enumerate(sc.addresses):
            lines.append(f"    server s{i} {a}:{port}")
            self.addr_of[f"s{i}"] = a
        return "\n".join(lines) + "\n"

    def start(self, sc, port, cpus):
        if sc.reuse:
            raise Skip(f"{self.name}: its checks open a connection each; its figures for the "
                       f"same targets are those of a --kind http run")
        self.sock = os.path.join(self.tmp, f"{self.name}.sock")
        path = os.path.join(self.tmp, f"{self.name}.cfg")
        with open(path, "w") as f:
            f.write(self.config(sc, port))
        check = subprocess.run([self.exes["haproxy"], "-c", "-q", "-f", path],
                               capture_output=True, text=True, timeout=120)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy -c refused {path}: {check.stderr.strip()[:800]}")
        self.proc = Proc(self.name, [self.exes["haproxy"], "-db", "-f", path], cpus,
                         stderr_path=os.path.join(self.tmp, f"{self.name}.stderr"))

    def stats(self):
        return {"lateness_us": {}, "note": "HAProxy does not expose probe-start lateness"}

    def ready(self):
        # HAProxy parses 50,000 server lines for about a minute on this machine before it
        # opens its stats socket and starts checking.
        try:
            self.command("show info")
            return True
        except OSError:
            return False

    def show_stat(self):
        return self.command("show stat")

    def command(self, cmd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.sock)
        s.sendall(cmd.encode() + b"\n")
        chunks = []
        while True:
            c = s.recv(1 << 16)
            if not c:
                break
            chunks.append(c)
        s.close()
        return b"".join(chunks).decode(errors="replace")

    def down(self, sc, addrs):
        try:
            text = self.show_stat()
        except OSError:
            return set()
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            return set()
        cols = lines[0][2:].split(",")
        si, st = cols.index("svname"), cols.index("status")
        found = set()
        for line in lines[1:]:
            f = line.split(",")
            if len(f) > st and f[st].startswith("DOWN"):
                a = self.addr_of.get(f[si])
                if a in addrs:
                    found.add(a)
        return found


# ---- One measurement -----------------------------------------------------------------------


def measure(prober, sc, args, exes, cpus_prober, cpus_fleet, detect=True, drain=True):
    """Runs one prober on one scenario against a fresh fleet; returns its figures."""
    tmp = tempfile.mkdtemp(prefix=f"rpbench-{prober.name}-", dir=args.tmp)
    prober.tmp = tmp
    fleet = Fleet(exes["fleet"], tmp, cpus_fleet, sc)
    res = {"prober": prober.name, "scenario": sc.describe()}
    if drain and args.drain_time_wait > 0:
        tw, waited = drain_time_wait(args)
        res["time_wait_drain_s"] = waited
        if tw is not None and tw > args.time_wait_floor:
            log(f"{prober.name}: TIME_WAIT still {tw:,} after {waited} s (floor "
                f"{args.time_wait_floor:,}); measuring anyway, the table shows it")
    closed = None
    window = None
    try:
        port = fleet.port
        if args.no_listener:
            # A port bound and never listened on: the kernel answers every SYN with a RST
            # itself, on the prober's CPU; nothing in user space serves the probes.
            closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            closed.bind(("0.0.0.0", 0))
            port = closed.getsockname()[1]
        prober.start(sc, port, cpus_prober)
        t_start = time.monotonic()
        while not prober.ready():
            if not prober.proc.alive():
                raise RuntimeError(f"{prober.name} exited before it was ready: "
                                   + prober.proc.stderr_text()[-800:])
            if time.monotonic() - t_start > args.ready_timeout:
                raise RuntimeError(f"{prober.name} was not ready within {args.ready_timeout} s: "
                                   + prober.proc.stderr_text()[-800:])
            time.sleep(0.2)
        res["ready_s"] = round(time.monotonic() - t_start, 2)
        # Resumed kinds: every target's first probe is a full handshake, so the window starts
        # only after one whole interval (each target has a session by then).
        warmup = max(args.warmup, sc.interval_ms / 1000.0 + 1.0) if sc.resume else args.warmup
        res["warmup_s"] = warmup
        time.sleep(warmup)
        if not prober.proc.alive():
            raise RuntimeError(f"{prober.name} exited during warm-up: "
                               + prober.proc.stderr_text()[-800:])
        fleet.counts(reset=True)
        fleet.requests(reset=True)
        if sc.tls:
            fleet.handshakes(reset=True)
        res["time_wait_window_start"] = sockstat_tw()
        fstat0 = fleet.stats()
        t0 = time.monotonic()
        prober.mark()
        u0, s0 = cpu_ticks(prober.proc.pid)
        fu0, fs0 = cpu_ticks(fleet.proc.pid)
        tcp0 = tcp_host_counters()
        st0 = steal_ticks(cpus_prober)
        if getattr(args, "reload_every", 0) and hasattr(prober, "reload"):
            # Reloads under load: the window's lateness and probe count include them.
            end = time.monotonic() + args.window
            while time.monotonic() + args.reload_every < end:
                time.sleep(args.reload_every)
                prober.reload(sc, args.reload_change)
            time.sleep(max(0.0, end - time.monotonic()))
        else:
            time.sleep(args.window)
        prober.mark()
        u1, s1 = cpu_ticks(prober.proc.pid)
        fu1, fs1 = cpu_ticks(fleet.proc.pid)
        tcp1 = tcp_host_counters()
        st1 = steal_ticks(cpus_prober)
        connections = fleet.counts()
        probes = fleet.requests() if sc.reuse else connections
        fstat1 = fleet.stats()
        tls = fleet.handshakes() if sc.tls else None
        seconds = time.monotonic() - t0
        rss = rss_bytes(prober.proc.pid)
        window = (seconds, u1 - u0, s1 - s0, rss)
        res.update(window_figures(sc, probes, *window))
        if sc.reuse:
            res["connections"] = connections  # accepted in the window: new connections only
        res["fleet_cpu_share"] = (fu1 - fu0 + fs1 - fs0) / CLK_TCK / seconds
        if st0 is not None and st1 is not None:
            # Milliseconds a second the host took from the prober's CPU(s) in the window.
            res["steal_ms_per_s"] = (st1 - st0) * 1000.0 / CLK_TCK / seconds
        if tcp0 is not None and tcp1 is not None:
            res["tcp_host_window"] = {k: tcp1[k] - tcp0[k] for k in tcp0 if k in tcp1}
        # The fleet's own work in the window: its wake-ups and the reads that found no request
        # yet (each such connection costs the fleet an epoll registration and another wake-up).
        res["fleet_window"] = {k: fstat1[k] - fstat0[k] for k in
                               ("accepted", "wakeups", "read_waits") if k in fstat0 and k in fstat1}
        if tls is not None:
            # The fleet's own count: what the prober really did, resumed or not, whatever it
            # was asked to do.
            tls["handshakes_per_s"] = tls["handshakes"] / seconds
            res["tls"] = tls
        tw = time_wait_sides(fleet.port)
        res["time_wait_fleet_port"] = tw["port_total"] if tw else None
        res["time_wait_sides"] = tw
        res["time_wait_machine"] = tw["machine"] if tw else None
        if getattr(args, "reload_every", 0) and hasattr(prober, "reload_figures"):
            res["reloads"] = prober.reload_figures()
        if getattr(args, "timings", False) and hasattr(prober, "timings"):
            res["timings"] = prober.timings(sc)
        if detect and sc.detect and prober.detection:
            res["detection"] = detection(prober, sc, fleet, args)
    finally:
        prober.stop()
        fleet.stop()
        res.update(prober.stats() if prober.proc else {})
        if prober.proc and prober.proc.popen.returncode not in (0, None, -15):
            res["exit_status"] = prober.proc.popen.returncode
        if closed is not None:
            closed.close()
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.no_listener and window is not None:
        # No backend counts anything: the probes are the prober's own count of those it
        # completed in the window (SIGUSR1 at its start and end).
        done = (res.get("own_window") or {}).get("probes_completed")
        if done is None:
            raise RuntimeError(f"{prober.name} printed no stats-window line to count by")
        res.update(window_figures(sc, int(done), *window))
        res["counted_by"] = "prober"
    return res


def window_figures(sc, probes, seconds, du, ds, rss):
    f = {"window_s": round(seconds, 3), "probes": probes,
         "asked_per_s": sc.asked_per_s, "achieved_per_s": probes / seconds,
         "achieved_ratio": probes / seconds / sc.asked_per_s if sc.asked_per_s else None,
         "cpu_user_s": du / CLK_TCK, "cpu_sys_s": ds / CLK_TCK, "rss_bytes": rss,
         "rss_per_target": rss / sc.targets}
    if probes:
        f["cpu_us_per_probe_user"] = du / CLK_TCK * 1e6 / probes
        f["cpu_us_per_probe_sys"] = ds / CLK_TCK * 1e6 / probes
        f["cpu_us_per_probe"] = (du + ds) / CLK_TCK * 1e6 / probes
    f["cpu_share"] = (du + ds) / CLK_TCK / seconds
    return f


def detection(prober, sc, fleet, args):
    """Turns sc.detect backends to 'reset', times until the prober reports each down, then
    restores them and times the way back."""
    bound_ms = sc.interval_ms * sc.fall + sc.timeout_ms
    addrs = set(sc.detect)
    # A backend the prober already calls down while the fleet still answers it would give a
    # detection time of zero; such backends are left out and counted (a false Unhealthy is a
    # finding in itself: the prober is too busy to judge healthy backends).
    already = prober.down(sc, addrs)
    addrs -= already
    if not addrs:
        return {"backends": len(sc.detect), "detected": 0, "down_before": len(already),
                "note": "every backend chosen was already reported down before it was taken down"}
    fleet.write_behaviours(down=sorted(addrs))
    t0 = time.monotonic()
    fleet.reload()
    seen = {}
    limit = t0 + (bound_ms + 3000) / 1000.0
    while len(seen) < len(addrs) and time.monotonic() < limit:
        now = time.monotonic()
        for a in prober.down(sc, addrs) - set(seen):
            seen[a] = (now - t0) * 1000
        time.sleep(args.poll_ms / 1000.0)
    out = {"backends": len(addrs), "detected": len(seen), "poll_ms": args.poll_ms,
           "bound_ms": bound_ms, "down_before": len(already)}
    if seen:
        ms = sorted(seen.values())
        out.update({"median_ms": ms[len(ms) // 2], "max_ms": ms[-1]})
    fleet.write_behaviours(down=[])
    t1 = time.monotonic()
    fleet.reload()
    limit = t1 + (sc.interval_ms * 2 + sc.timeout_ms + 3000) / 1000.0
    while time.monotonic() < limit:
        if not prober.down(sc, addrs):
            out["recovered_ms"] = (time.monotonic() - t1) * 1000
            break
        time.sleep(args.poll_ms / 1000.0)
    return out


def max_rate(make_prober, args, exes, cpus_prober, cpus_fleet, targets):
    """Pushes the asked rate up (shorter intervals, same targets) until achieved < 95 %, then
    halves the gap between the last rate sustained and the first not, --max-rate-refine times,
    so the sustained figure is not only as fine as the step grid."""
    steps = []

    def step_at(rate, refine=False):
        """One measured step; returns what was done (connections or handshakes a second) and
        the asked rate as the scenario rounds it, or None when the prober failed."""
        interval_ms = max(1, int(round(targets * 1000.0 / rate)))
        sc = Scenario(args, targets, interval_ms)
        sc.detect = []
        ma = argparse.Namespace(**vars(args))
        ma.warmup, ma.window = args.max_rate_warmup, args.max_rate_window
        prober = make_prober()
        try:
            r = measure(prober, sc, ma, exes, cpus_prober, cpus_fleet, detect=False, drain=False)
        except (RuntimeError, Skip) as e:
            steps.append({"asked_per_s": sc.asked_per_s, "error": str(e)[:300]})
            return None, sc.asked_per_s
        step = {k: r.get(k) for k in ("asked_per_s", "achieved_per_s", "achieved_ratio",
                                      "cpu_share", "cpu_us_per_probe", "fleet_cpu_share",
                                      "tcp_host_window")}
        if refine:
            step["refine"] = True
        if r.get("tls"):
            step["handshakes_per_s"] = r["tls"]["handshakes_per_s"]
            step["resumed_fraction"] = r["tls"]["resumed_fraction"]
        if r.get("own_window"):
            # ringprobe's own counters in the window: what changes when it falls behind (loop
            # turns, receives without a buffer, skipped intervals, deferred starts, lateness).
            step["own_window"] = r["own_window"]
        steps.append(step)
        log(f"  max-rate {prober.name}: {'refine: ' if refine else ''}asked "
            f"{sc.asked_per_s:,.0f}/s achieved "
            f"{r['achieved_per_s']:,.0f}/s cpu {r['cpu_share']:.2f} fleet "
            f"{r['fleet_cpu_share']:.2f}"
            + (f" loss-probes {r['tcp_host_window'].get('TCPLossProbes', 0):,}"
               if r.get("tcp_host_window") else "")
            + (f" handshakes {step['handshakes_per_s']:,.0f}/s resumed "
               f"{step['resumed_fraction'] or 0:.2f}" if r.get("tls") else "")
            + (" own: " + " ".join(f"{k}={r['own_window'].get(k)}" for k in (
                "loops", "recv_no_buffer", "skipped_intervals", "deferred_starts",
                "held_starts", "chunks", "lateness_us_p99")) if r.get("own_window") else ""))
        # TLS kinds count completed handshakes (the fleet's), not connections: a prober whose
        # handshakes time out still opens connections at the rate asked.
        return (r["tls"]["handshakes_per_s"] if r.get("tls") else r["achieved_per_s"],
                sc.asked_per_s)

    best = peak = None

    def kept_up(done, asked):
        """Books one step into the sustained and peak figures; True when it kept up."""
        nonlocal best, peak
        peak = max(peak or 0, done)
        if done >= 0.95 * asked:
            best = max(best or 0, done)
            return True
        return False

    previous = 0.0
    ok_rate = failed_rate = None
    for rate in args.max_rate_steps:
        done, asked = step_at(rate)
        if done is None:
            break
        if kept_up(done, asked):
            ok_rate = rate
        else:
            if failed_rate is None:
                failed_rate = rate
            # Stop once it falls behind and pushing harder no longer buys 5 % more.
            if done < 1.05 * previous:
                break
        previous = done
    if ok_rate is not None and failed_rate is not None and failed_rate > ok_rate:
        lo, hi = ok_rate, failed_rate
        for _ in range(max(0, args.max_rate_refine)):
            mid = (lo + hi) / 2.0
            done, asked = step_at(mid, refine=True)
            if done is None:
                break
            if kept_up(done, asked):
                lo = mid
            else:
                hi = mid
    return {"targets": targets, "sustained_per_s": best, "peak_per_s": peak,
            "counted": "TLS handshakes completed" if args.kind in TLS_KINDS else "connections",
            "steps": steps,
            "fleet_bound": any((s.get("fleet_cpu_share") or 0) > 0.9 for s in steps)}


# ---- Report --------------------------------------------------------------------------------

ROWS = [
    ("probes/s asked", "asked_per_s", "{:,.0f}"),
    ("probes/s achieved", "achieved_per_s", "{:,.0f}"),
    ("achieved / asked", "achieved_ratio", "{:.3f}"),
    ("CPU us/probe user", "cpu_us_per_probe_user", "{:.1f}"),
    ("CPU us/probe sys", "cpu_us_per_probe_sys", "{:.1f}"),
    ("CPU us/probe total", "cpu_us_per_probe", "{:.1f}"),
    ("CPU share of a core", "cpu_share", "{:.3f}"),
    ("RSS MiB", "rss_mib", "{:.1f}"),
    ("RSS bytes/target", "rss_per_target", "{:,.0f}"),
    ("engine bytes/target", "own_bytes_per_target", "{:,.0f}"),
    ("lateness p50 us", "lat_p50", "{:,.0f}"),
    ("lateness p99 us", "lat_p99", "{:,.0f}"),
    ("lateness p999 us", "lat_p999", "{:,.0f}"),
    ("detection median ms", "det_median", "{:,.0f}"),
    ("detection max ms", "det_max", "{:,.0f}"),
    ("TLS handshakes/s", "tls_hs_per_s", "{:,.0f}"),
    ("TLS resumed fraction", "tls_resumed", "{:.3f}"),
    ("CPU us/handshake", "cpu_us_per_handshake", "{:.1f}"),
    ("TIME_WAIT at window start", "time_wait_window_start", "{:,.0f}"),
    ("TIME_WAIT (fleet port)", "time_wait_fleet_port", "{:,.0f}"),
    ("  held by the fleet", "tw_fleet", "{:,.0f}"),
    ("  held by the prober", "tw_prober", "{:,.0f}"),
    ("fleet CPU share", "fleet_cpu_share", "{:.3f}"),
    ("steal ms/s (prober CPU)", "steal_ms_per_s", "{:.1f}"),
    ("TCP loss probes (host)", "tcp_loss_probes", "{:,.0f}"),
    ("reloads applied", "reloads_applied", "{:,.0f}"),
    ("reload apply ms median", "reload_ms_median", "{:,.1f}"),
    ("reload apply ms max", "reload_ms_max", "{:,.1f}"),
    ("/metrics ms", "t_exporter_metrics", "{:,.1f}"),
    ("/backendhealth ms", "t_exporter_json", "{:,.1f}"),
    ("page ms", "t_exporter_page", "{:,.1f}"),
    ("report --pool ms", "t_report_table_pool", "{:,.1f}"),
    ("report json ms", "t_report_json", "{:,.1f}"),
    ("report --troubleshoot ms", "t_report_troubleshoot", "{:,.1f}"),
]


def flat(r):
    f = dict(r)
    f["rss_mib"] = r.get("rss_bytes", 0) / 2**20 if "rss_bytes" in r else None
    f["tcp_loss_probes"] = (r.get("tcp_host_window") or {}).get("TCPLossProbes")
    lat = r.get("lateness_us") or {}
    for q in ("p50", "p99", "p999"):
        f[f"lat_{q}"] = lat.get(q)
    own = r.get("own") or {}
    if own.get("memory_bytes", "").isdigit() and r.get("scenario", {}).get("targets"):
        f["own_bytes_per_target"] = int(own["memory_bytes"]) / r["scenario"]["targets"]
    d = r.get("detection") or {}
    f["det_median"], f["det_max"] = d.get("median_ms"), d.get("max_ms")
    t = r.get("tls") or {}
    f["tls_hs_per_s"], f["tls_resumed"] = t.get("handshakes_per_s"), t.get("resumed_fraction")
    if t.get("handshakes") and "cpu_user_s" in r:
        # Per completed handshake: a prober whose handshakes time out spends CPU on
        # connections that never count.
        f["cpu_us_per_handshake"] = (r["cpu_user_s"] + r["cpu_sys_s"]) * 1e6 / t["handshakes"]
    tw = r.get("time_wait_sides") or {}
    f["tw_fleet"], f["tw_prober"] = tw.get("fleet_side_total"), tw.get("prober_side_total")
    rl = r.get("reloads") or {}
    f["reloads_applied"] = rl.get("applied")
    f["reload_ms_median"], f["reload_ms_max"] = rl.get("apply_ms_median"), rl.get("apply_ms_max")
    for k, v in (r.get("timings") or {}).items():
        f["t_" + k] = v.get("ms")
    return f


def median_round(rounds):
    """One result per prober out of several rounds: the run whose CPU per probe is the median
    (a real run, not a blend), with every round's CPU and the rounds' own ratios beside it."""
    names = [r["prober"] for r in rounds[0]]
    out = []
    for name in names:
        runs = [r for rs in rounds for r in rs if r["prober"] == name]
        measured = sorted((r for r in runs if r.get("cpu_us_per_probe") is not None),
                          key=lambda r: r["cpu_us_per_probe"])
        pick = dict(measured[(len(measured) - 1) // 2] if measured else runs[0])
        if "detection" not in pick and runs[0].get("detection") is not None:
            pick["detection"] = runs[0]["detection"]
        # Per round, in round order, what tells a noisy round from a real change: the fleet's
        # CPU share beside the prober's, the host's steal from the prober's CPU, the machine's
        # TIME_WAIT count as the window began, and ringprobe's own window counters (loop turns,
        # receives without a buffer, prober errors).
        pick["rounds"] = {"cpu_us_per_probe": [r.get("cpu_us_per_probe") for r in runs],
                          "lateness_us_p99": [(r.get("lateness_us") or {}).get("p99")
                                              for r in runs],
                          "fleet_cpu_share": [r.get("fleet_cpu_share") for r in runs],
                          "steal_ms_per_s": [r.get("steal_ms_per_s") for r in runs],
                          "time_wait_window_start": [r.get("time_wait_window_start")
                                                     for r in runs],
                          "fleet_window": [r.get("fleet_window") for r in runs],
                          "tcp_host_window": [r.get("tcp_host_window") for r in runs],
                          "own_window": [r.get("own_window") for r in runs]}
        per_round = {}
        for other in names:
            if other == name:
                continue
            xs = sorted(x for x in (ratio(a.get("cpu_us_per_probe"), b.get("cpu_us_per_probe"))
                                    for a, b in zip(runs, [r for rs in rounds for r in rs
                                                           if r["prober"] == other]))
                        if x is not None)
            if xs:
                per_round[other] = xs
        pick["rounds"]["cpu_ratio_to"] = per_round
        out.append(pick)
    return out


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def table(results_by_targets, probers):
    out = []
    for targets, results in results_by_targets.items():
        by = {r["prober"]: flat(r) for r in results}
        sc = next(iter(results))["scenario"] if results else {}
        out.append(f"\nscenario: {json.dumps(sc)}")
        cols = [p for p in probers if p in by]
        ratios = [("rp/haproxy", "ringprobe", "haproxy"), ("rp/floor", "ringprobe", "floor")]
        head = f"{'figure':<24}" + "".join(f" {c:>14}" for c in cols) + \
            "".join(f"{n:>12}" for n, _, _ in ratios)
        out.append(head)
        out.append("-" * len(head))
        for label, key, fmt in ROWS:
            cells = []
            for c in cols:
                v = by[c].get(key)
                cells.append(f" {fmt.format(v) if v is not None else 'n/a':>14}")
            for _, a, b in ratios:
                x = ratio(by.get(a, {}).get(key), by.get(b, {}).get(key))
                cells.append(f"{'{:.2f}x'.format(x) if x is not None else '-':>12}")
            out.append(f"{label:<24}" + "".join(cells))
        if any(by[c].get("rounds") for c in cols):
            n = max(len(by[c].get("rounds", {}).get("cpu_us_per_probe", [])) for c in cols)
            cells = []
            for c in cols:
                xs = [x for x in by[c].get("rounds", {}).get("cpu_us_per_probe", []) if x]
                cells.append(f" {(f'{min(xs):.0f}-{max(xs):.0f}' if xs else 'n/a'):>14}")
            for _, a, b in ratios:
                xs = by.get(a, {}).get("rounds", {}).get("cpu_ratio_to", {}).get(b)
                cells.append(f"{'{:.2f}x'.format(xs[(len(xs) - 1) // 2]) if xs else '-':>12}")
            out.append(f"{'CPU us/probe, ' + str(n) + ' rounds':<24}" + "".join(cells))
            out.append("  (above: the run with the median CPU per probe; this line: each prober's "
                       "range over the rounds, and the median of each round's own ratio)")
        for c in cols:
            if by[c].get("error"):
                out.append(f"  {c}: ERROR {by[c]['error']}")
            if by[c].get("skipped"):
                out.append(f"  {c}: skipped: {by[c]['skipped']}")
        if any(not by[c].get("lateness_us") for c in cols if c.startswith("haproxy")):
            out.append("  haproxy: probe-start lateness is not exposed by HAProxy (n/a)")
    return "\n".join(out)


def max_rate_table(mr):
    if not mr:
        return ""
    out = ["\nmaximum sustained probes/s on one core, two for -2w (achieved >= 95 % of asked; peak = most "
           "achieved at any step; TLS kinds count completed handshakes):"]
    for targets, by in mr.items():
        cells = []
        for name, r in by.items():
            v, pk = r.get("sustained_per_s"), r.get("peak_per_s")
            flag = " (fleet-bound)" if r.get("fleet_bound") else ""
            cells.append(f"{name}={'{:,.0f}'.format(v) if v else 'n/a'}"
                         f" (peak {'{:,.0f}'.format(pk) if pk else 'n/a'}){flag}")
        rp, ha = by.get("ringprobe", {}), by.get("haproxy", {})
        for key in ("sustained_per_s", "peak_per_s"):
            x = ratio(rp.get(key), ha.get(key))
            if x:
                cells.append(f"rp/haproxy {key.split('_')[0]}={x:.2f}x")
        # Issue #8's figure: ringprobe's sustained rate against HAProxy's maximum (its peak;
        # HAProxy spreads its checks, so its achieved rate rarely tracks the asked one).
        x = ratio(rp.get("sustained_per_s"), ha.get("peak_per_s"))
        if x:
            cells.append(f"rp sustained/haproxy peak={x:.2f}x")
        out.append(f"  targets={targets}: " + "  ".join(cells))
    return "\n".join(out)


def charts(doc, out_dir, command):
    return charts_mod.draw(doc, out_dir, command, flat, os.path.join)


# ---- Main ----------------------------------------------------------------------------------


def find_build_dir(top):
    for d in ("build-bench", "build/release", "build", "build/debug", "build-main"):
        p = os.path.join(top, d)
        if os.path.exists(os.path.join(p, "tools", "ringprobe-fleet")):
            return p
    return os.path.join(top, "build-bench")


def parse_args(argv):
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = argparse.ArgumentParser(prog="ringprobe-bench", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=None, help="Meson build directory with the binaries")
    p.add_argument("--targets", default="1000,10000",
                   help="comma list of target counts (1k, 10k, 50k, 100k, 1m; suffixes k and m)")
    p.add_argument("--interval-ms", type=int, default=1000)
    p.add_argument("--timeout-ms", type=int, default=1000, help="capped at the interval")
    p.add_argument("--kind", choices=["http", "http-reuse", "tcp", "https", "https-resumed"],
                   default="http",
                   help="http-reuse: ringprobe keeps each target's connection (connectionReuse) "
                        "against a keep-alive fleet, probes counted as the fleet's requests "
                        "(HAProxy and the floor open a connection per check: see --kind http); "
                        "https: HTTP over TLS, a full handshake per probe (ringprobe tlsResume "
                        "false, HAProxy no-ssl-reuse); https-resumed: sessions resumed; the fleet "
                        "serves tests/fixtures/tls/good-chain.pem, probers trust root.pem only")
    p.add_argument("--tls-version", choices=["1.2", "1.3"], default=None,
                   help="TLS kinds: the only version the fleet accepts (default: 1.2 and 1.3, "
                        "so 1.3 is negotiated)")
    p.add_argument("--close", choices=["graceful", "reset"], default="graceful")
    p.add_argument("--quantum-ms", type=int, default=None,
                   help="ringprobe's quantumMs (wake-up granularity); default: the engine's own")
    p.add_argument("--start-batch", type=int, default=None,
                   help="ringprobe's startBatch (about how many probes start in one wake-up); "
                        "default: the engine's own")
    p.add_argument("--fault-refuse", type=float, default=0.0,
                   help="fraction of backends that reset every connection at accept")
    p.add_argument("--fault-hang", type=float, default=0.0,
                   help="fraction of backends that accept and never answer")
    p.add_argument("--no-listener", action="store_true",
                   help="every target's port has no listener: the kernel refuses each connect "
                        "with a RST on the prober's own CPU and the fleet serves nothing, so "
                        "the probers' side is all the machine does; probes are counted by the "
                        "prober's own stats (ringprobe only). For worker scaling "
                        "(ringprobe vs ringprobe-2w, --max-rate) on a machine with no core "
                        "to spare for a fleet; use --kind tcp")
    p.add_argument("--probers", default="ringprobe,haproxy,haproxy-2t,floor",
                   help="any of ringprobe, ringprobe-2w, ringprobe-fd (socket(2) per probe, "
                        "not direct sockets), ringprobe-qa (--no-delayed-ack: the handshake's "
                        "ACK a packet of its own), ringprobe-rs (--no-receive-stamps: every phase stamped "
                        "at reap time), ringprobe-sbN (startBatch N, 1..1024, beside "
                        "the default; sb1 starts on every quantum), ringprobe-tcN (a turn's "
                        "starts in chunks of N: --turn-chunk N), ringprobe-base (ringprobe from --base-exe: another build, "
                        "e.g. the commit before a change, in the same rounds), haproxy, "
                        "haproxy-2t, floor, blackbox (Prometheus blackbox_exporter with a scrape loop)")
    p.add_argument("--warmup", type=float, default=5.0,
                   help="seconds between the prober being ready and the window")
    p.add_argument("--ready-timeout", type=float, default=300.0,
                   help="most seconds a prober may take to read its configuration")
    p.add_argument("--window", type=float, default=20.0, help="measured seconds")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure every prober this many times, in turn, at each size; the table "
                        "shows the run with the median CPU per probe, each prober's range, and the "
                        "median of the rounds' own ratios (a virtual machine's CPU figures drift "
                        "between runs; adjacent runs drift together). Detection: first round only")
    p.add_argument("--detect", type=int, default=5,
                   help="backends taken down after the window to time detection (0: skip)")
    p.add_argument("--poll-ms", type=int, default=10, help="detection polling period")
    p.add_argument("--max-rate", action="store_true",
                   help="also push the rate up at each target count until achieved < 95 %%")
    p.add_argument("--max-rate-steps", default=None,
                   help="probes/s asked at each step (default 5k to 50k; TLS kinds 250 to 4k)")
    p.add_argument("--max-rate-refine", type=int, default=2,
                   help="after the grid, steps that halve the gap between the last rate "
                        "sustained and the first not (0: the grid only)")
    p.add_argument("--max-rate-warmup", type=float, default=2.0)
    p.add_argument("--max-rate-window", type=float, default=5.0)
    p.add_argument("--out", default=None, help="directory for results.json and the SVG charts")
    p.add_argument("--tmp", default=None, help="where per-run scratch directories go")
    p.add_argument("--keep-tmp", action="store_true",
                   help="keep the generated configurations and the probers' stderr")
    p.add_argument("--replot", metavar="RESULTS_JSON",
                   help="only redraw the charts of an earlier run (give no other flag)")
    p.add_argument("--nice", type=int, default=0,
                   help="nice value for the fleet and the probers, e.g. -10 on a machine shared "
                        "with builds (negative values need CAP_SYS_NICE)")
    p.add_argument("--drain-time-wait", type=float, default=75.0, metavar="SECONDS",
                   help="before each measured run (not the max-rate steps), wait at most this "
                        "long for the machine's TIME_WAIT count to fall to --time-wait-floor "
                        "(the kernel keeps a socket 60 s); 0 does not wait")
    p.add_argument("--time-wait-floor", type=int, default=2000)
    p.add_argument("--pools", type=int, default=1,
                   help="split the targets into this many pools of consecutive targets, p0, "
                        "p1, ... (default 1, named fleet)")
    p.add_argument("--reload-every", type=float, default=0, metavar="SECONDS",
                   help="ringprobe probers: during the window, every SECONDS rewrite the "
                        "configuration with --reload-change of the targets swapped and send "
                        "SIGHUP (reload under load); 0 (default) never")
    p.add_argument("--reload-change", type=float, default=0.01, metavar="FRACTION",
                   help="fraction of targets each reload swaps (default 0.01)")
    p.add_argument("--timings", action="store_true",
                   help="ringprobe probers run with the exporter on a loopback port, and after "
                        "the window the harness times /metrics, /backendhealth, the page, "
                        "ringprobe-report --pool (the first pool), --format json and "
                        "--troubleshoot (one server): the cost of reading the report at size")
    p.add_argument("--smoke", action="store_true",
                   help="seconds and small N: checks the harness itself, not the figures")
    p.add_argument("--require", default="",
                   help="comma list of probers whose failure makes the exit status non-zero "
                        "(default: every prober whose binary exists)")
    for exe in ("ringprobe", "report", "fleet", "floor", "haproxy", "blackbox"):
        p.add_argument(f"--{exe}-exe", default=None)
    p.add_argument("--base-exe", default=None,
                   help="the ringprobe executable the prober ringprobe-base runs (for a before/after "
                        "comparison in one run)")
    a = p.parse_args(argv)
    a.top = top
    a.build_dir = os.path.abspath(a.build_dir or find_build_dir(top))
    if a.smoke and a.kind in TLS_KINDS:
        # TLS: a handshake costs the prober and the fleet a millisecond or so each, so fewer
        # probes; no detection (the plain smoke run covers it): TLS works end to end for each
        # prober, and the fleet sees the resumption asked for.
        a.targets, a.warmup, a.window, a.detect = "50", 0.5, 1.0, 0
        a.interval_ms, a.timeout_ms = 500, 400
        a.max_rate_steps, a.max_rate_warmup, a.max_rate_window = "200,400", 0.5, 1.0
    elif a.smoke:
        a.targets, a.warmup, a.window, a.detect = "200", 1.5, 2.0, 2
        a.interval_ms, a.timeout_ms = 200, 150
        a.max_rate_steps, a.max_rate_warmup, a.max_rate_window = "2000,4000", 0.5, 1.0
    if a.smoke:
        a.drain_time_wait = 0  # checks the harness, not the figures: no minute-long waits
    if a.max_rate_steps is None:
        a.max_rate_steps = ("250,500,750,1000,1500,2000,3000,4000" if a.kind in TLS_KINDS
                            else "5000,10000,15000,20000,25000,30000,40000,50000")
    a.target_counts = [parse_count(t) for t in a.targets.split(",") if t]
    a.max_rate_steps = [int(x) for x in str(a.max_rate_steps).split(",") if x]
    a.prober_names = [x for x in a.probers.split(",") if x]
    a.out = os.path.abspath(a.out or os.path.join(a.build_dir, "bench-results",
                                                  time.strftime("%Y%m%d-%H%M%S")))
    return a


def executables(a):
    b = a.build_dir
    found = {
        "ringprobe": a.ringprobe_exe or os.path.join(b, "src", "ringprobe"),
        "report": a.report_exe or os.path.join(b, "tools", "ringprobe-report"),
        "fleet": a.fleet_exe or os.path.join(b, "tools", "ringprobe-fleet"),
        "floor": a.floor_exe or os.path.join(b, "bench", "ringprobe-floor"),
        "base": os.path.abspath(a.base_exe) if a.base_exe else "",
        "base_report": "",
        "haproxy": a.haproxy_exe or next((p for p in ("/usr/sbin/haproxy", "/usr/bin/haproxy")
                                          if os.path.exists(p)), "haproxy"),
        "blackbox": a.blackbox_exe or "/usr/bin/prometheus-blackbox-exporter",
    }
    if found["base"]:
        # BUILD/src/ringprobe's reader is BUILD/tools/ringprobe-report.
        sibling = os.path.join(os.path.dirname(os.path.dirname(found["base"])), "tools",
                               "ringprobe-report")
        found["base_report"] = sibling if os.path.exists(sibling) else found["report"]
    return found


def make_probers(a, exes, notes):
    """{name: factory} for the probers that can run here; notes say why others cannot."""
    need = {"ringprobe": ["ringprobe", "report"], "ringprobe-2w": ["ringprobe", "report"],
            "ringprobe-fd": ["ringprobe", "report"], "ringprobe-qa": ["ringprobe", "report"],
            "ringprobe-sb1": ["ringprobe", "report"], "ringprobe-base": ["base", "report"],
            "ringprobe-rs": ["ringprobe", "report"],
            "haproxy": ["haproxy"],
            "haproxy-2t": ["haproxy"], "floor": ["floor"], "blackbox": ["blackbox"]}
    make = {"ringprobe": lambda: Ringprobe(exes, None, 1),
            "ringprobe-2w": lambda: Ringprobe(exes, None, 2),
            "ringprobe-fd": lambda: Ringprobe(exes, None, 1, direct=False),
            "ringprobe-qa": lambda: Ringprobe(exes, None, 1, delayed_ack=False),
            "ringprobe-rs": lambda: Ringprobe(exes, None, 1, receive_stamps=False),
            "ringprobe-sb1": lambda: Ringprobe(exes, None, 1, start_batch=1),
            "ringprobe-base": lambda: Ringprobe(exes, None, 1, base=True),
            "haproxy": lambda: Haproxy(exes, None, 1),
            "haproxy-2t": lambda: Haproxy(exes, None, 2),
            "floor": lambda: Floor(exes, None),
            "blackbox": lambda: Blackbox(exes, None)}
    out = {}
    for n in a.prober_names:
        m = re.fullmatch(r"ringprobe-sb([0-9]+)", n)
        if m and n not in make and 1 <= int(m.group(1)) <= 1024:
            # Any start batch beside the default in the same rounds (ringprobe-sb8, -sb16...).
            need[n] = ["ringprobe", "report"]
            make[n] = lambda b=int(m.group(1)): Ringprobe(exes, None, 1, start_batch=b)
        m = re.fullmatch(r"ringprobe-tc([0-9]+)", n)
        if m and n not in make and 1 <= int(m.group(1)) <= 65536:
            # A turn's starts in chunks of N (ringprobe run --turn-chunk N), beside the default.
            need[n] = ["ringprobe", "report"]
            make[n] = lambda c=int(m.group(1)): Ringprobe(exes, None, 1, turn_chunk=c)
        if n not in make:
            raise SystemExit(f"ringprobe-bench: unknown prober '{n}' (one of {', '.join(make)})")
        if a.no_listener and not n.startswith("ringprobe"):
            notes.append(f"{n}: skipped, --no-listener counts probes by the prober's own "
                         f"stats, which only ringprobe prints")
            continue
        missing = [exes[e] or f"--{e}-exe (not given)" for e in need[n]
                   if not os.access(exes[e], os.X_OK)]
        if missing:
            notes.append(f"{n}: skipped, not found: {', '.join(missing)}")
            continue
        out[n] = make[n]
        if a.timings and n.startswith("ringprobe"):
            out[n] = lambda f=make[n]: exporter_on(f())
    return out


def exporter_on(prober):
    prober.with_exporter = True
    return prober


def nice_allowed(n):
    if n >= 0:
        return True
    r = subprocess.run(["nice", "-n", str(n), "true"], capture_output=True, text=True)
    return r.returncode == 0 and not r.stderr


def is_multi(name):
    """A prober of two threads: ringprobe-2w (two workers), haproxy-2t (nbthread 2)."""
    return name.endswith("-2w") or name.endswith("-2t")


def cpu_sets():
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        return {cpus[0]}, {cpus[-1]}, set(cpus[:-1]) or {cpus[0]}
    return set(cpus), set(cpus), set(cpus)


def replot(path):
    """Redraws the charts of an earlier run from its results.json, next to it."""
    with open(path) as f:
        doc = json.load(f)
    written = charts(doc, os.path.dirname(os.path.abspath(path)), doc["command"])
    print("charts: " + ", ".join(written))
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == "--replot":
        return replot(argv[1])
    a = parse_args(argv)
    global NICE
    NICE = a.nice
    exes = executables(a)
    if not os.access(exes["fleet"], os.X_OK):
        print(f"ringprobe-bench: ringprobe-fleet not found at {exes['fleet']}; build it "
              f"(ninja -C {a.build_dir} tools/ringprobe-fleet) or give --fleet-exe",
              file=sys.stderr)
        return 2
    os.makedirs(a.out, exist_ok=True)
    if a.tmp:
        os.makedirs(a.tmp, exist_ok=True)
    notes = []
    makers = make_probers(a, exes, notes)
    cpu_prober, cpu_fleet, cpu_multi = cpu_sets()

    def cpus_for(name):
        # A prober of two threads (-2w, -2t) gets both sets: on 2 CPUs it shares the fleet's.
        return cpu_multi | cpu_fleet if is_multi(name) else cpu_prober

    command = "bench/ringprobe-bench " + " ".join(argv)
    doc = {"command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": machine_info(a.build_dir), "pinning": {
               "prober": sorted(cpu_prober), "fleet": sorted(cpu_fleet),
               "multi_thread_probers": sorted(cpu_multi | cpu_fleet)},
           "scenario_template": {"interval_ms": a.interval_ms, "kind": a.kind,
                                 "close": a.close, "ringprobe_quantum_ms": a.quantum_ms,
                                 "ringprobe_start_batch": a.start_batch, "tls_version": a.tls_version,
                                 "fault_refuse": a.fault_refuse,
                                 "fault_hang": a.fault_hang, "no_listener": a.no_listener,
                                 "warmup_s": a.warmup,
                                 "window_s": a.window},
           "nice": a.nice, "nice_applied": nice_allowed(a.nice),
           "autogroups": autogroups_enabled(),
           "autogroup_nice_applied": autogroup_nice_allowed(a.nice),
           "executables": exes, "notes": notes, "results": {}, "max_rate": {},
           "timings": a.timings, "reload_every_s": a.reload_every,
           "reload_change": a.reload_change}
    if len(os.sched_getaffinity(0)) < 2:
        notes.append("one CPU only: fleet and prober share it")
    notes.append("ringprobe's lateness covers the measured window (SIGUSR1 marks its start and "
                 "end; the whole run's is lateness_whole_run_us in results.json); the floor's "
                 "covers its whole run (warm-up included)")
    failures = []
    required = set(x for x in a.require.split(",") if x) or set(makers)
    for targets in a.target_counts:
        sc = Scenario(a, targets, a.interval_ms)
        rounds = []
        for rnd in range(max(1, a.rounds)):
            results = []
            rounds.append(results)
            for name, make in makers.items():
                log(f"{name}: {targets:,} targets, interval {sc.interval_ms} ms, {sc.kind}, "
                    f"{sc.close}" + (f", round {rnd + 1} of {a.rounds}" if a.rounds > 1 else ""))
                try:
                    r = measure(make(), sc, a, exes, cpus_for(name),
                                cpu_fleet, detect=rnd == 0)
                except Skip as e:
                    r = {"prober": name, "scenario": sc.describe(), "skipped": str(e)}
                    if str(e) not in notes:
                        notes.append(str(e))
                    log(f"{name}: skipped: {e}")
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    r = {"prober": name, "scenario": sc.describe(), "error": str(e)[:1000]}
                    if name in required:
                        failures.append(f"{name} at {targets}: {e}")
                    log(f"{name}: FAILED: {str(e)[:300]}")
                results.append(r)
        doc["results"][str(targets)] = median_round(rounds) if len(rounds) > 1 else rounds[0]
        if a.max_rate:
            doc["max_rate"][str(targets)] = {}
            for name, make in makers.items():
                if is_multi(name) and not a.no_listener:
                    continue  # its second thread would share the fleet's core
                if name == "floor" and a.kind in TLS_KINDS:
                    continue  # no TLS client: skipped above with a note
                doc["max_rate"][str(targets)][name] = max_rate(
                    make, a, exes, cpus_for(name), cpu_fleet,
                    targets)
    text = ["ringprobe-bench: " + command,
            f"machine: {doc['machine']['cores']} cores, {doc['machine']['cpu_model']}, kernel "
            f"{doc['machine']['kernel']}, load at start {' '.join(doc['machine'].get('loadavg_at_start', []))}",
            f"build: {json.dumps(doc['machine']['build'])} git {doc['machine']['git']}",
            f"pinning: prober on CPU {sorted(cpu_prober)}, fleet on CPU {sorted(cpu_fleet)}"
            f", nice {a.nice}{'' if doc['nice_applied'] else ' (NOT applied: not permitted)'}"
            + {None: "", True: " (and each in an autogroup of that nice)",
               False: " (autogroup nice NOT applied: other sessions share the cores equally)"}[
                doc["autogroup_nice_applied"]],
            table(doc["results"], list(makers)), max_rate_table(doc["max_rate"])]
    text += [f"note: {n}" for n in notes]
    doc["charts"] = charts(doc, a.out, command)
    doc["machine"]["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(doc, f, indent=2)
    text.append(f"results: {os.path.join(a.out, 'results.json')}; charts: "
                f"{', '.join(doc['charts'])}")
    print("\n".join(text))
    if a.smoke:
        failures += smoke_checks(doc)
    if failures:
        print("ringprobe-bench: FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


def smoke_checks(doc):
    """What a smoke run must show for the harness to be working: every prober that ran was
    measured (probes counted, CPU read, memory read) and the charts exist. Figures are not
    judged: a smoke run shares the machine with whatever else runs."""
    bad = []
    for results in doc["results"].values():
        for r in results:
            if "error" in r or "skipped" in r:
                continue
            for key in ("probes", "cpu_share", "rss_bytes", "time_wait_fleet_port"):
                if not r.get(key) and r.get(key) != 0:
                    bad.append(f"{r['prober']}: no {key}")
            if not r.get("probes"):
                who = "the prober" if r.get("counted_by") == "prober" else "the fleet"
                bad.append(f"{r['prober']}: {who} counted no probes")
            if doc.get("reload_every_s") and r["prober"].startswith("ringprobe"):
                rl = r.get("reloads") or {}
                if not rl.get("applied") or rl.get("refused"):
                    bad.append(f"{r['prober']}: reloads under load: {rl}")
            if doc.get("timings") and r["prober"].startswith("ringprobe"):
                got = set(r.get("timings") or {})
                for k in ("exporter_metrics", "exporter_json", "exporter_page",
                          "report_table_pool", "report_json", "report_troubleshoot"):
                    if k not in got:
                        bad.append(f"{r['prober']}: --timings gave no {k}")
            driver = r.get("driver")
            if driver is not None and not int(driver.get("success", 0)):
                bad.append(f"{r['prober']}: its scrape loop saw no probe_success 1")
            det = r.get("detection")
            if det is not None and det.get("detected", 0) == 0 and not det.get("down_before"):
                bad.append(f"{r['prober']}: detected none of the backends taken down")
            kind = r.get("scenario", {}).get("kind")
            if kind in TLS_KINDS:
                t = r.get("tls") or {}
                if not t.get("handshakes"):
                    bad.append(f"{r['prober']}: the fleet saw no TLS handshake")
                elif kind == "https-resumed" and not t.get("resumed"):
                    bad.append(f"{r['prober']}: the fleet saw no resumed handshake")
    for per_prober in doc.get("max_rate", {}).values():
        for name, mr in per_prober.items():
            if not mr.get("peak_per_s"):
                bad.append(f"{name}: the maximum rate has no step that counted a probe")
    for c in doc.get("charts", []):
        if not os.path.getsize(c):
            bad.append(f"empty chart {c}")
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
