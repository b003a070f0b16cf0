#!/usr/bin/env python3
"""The backend-health page in a real browser.

Starts ringprobe-fleet and `ringprobe run --listen 127.0.0.1:0` on loopback (a small gateway:
pool "web" with healthy backends and some answering 503, pool "api" whose port refuses, pool
"tls" probed over HTTPS with the committed test chains: one good, one whose leaf expired), then
has headless Chromium load the exporter's pages and checks the DOM Chromium built:
  - one row per server x setting, the right health in each, per-pool counts;
  - the filter form is a plain GET form (works without JavaScript) and the URL it produces
    shows only the matching rows;
  - each Unhealthy row links a troubleshoot view that shows the reason, the phase timings and the
    drawing with the faulty part marked (the TCP link for a refused port, the backend for a 503);
  - the troubleshoot view of the expired HTTPS backend draws the chain it presented, from
    ringprobe's trust anchor to the leaf, with the leaf marked faulty in the drawing and the
    table; the good backend's chain has nothing marked;
  - no script and no external asset on the page.
Every wait is bounded; the processes are stopped by PID. Standard library only.

  exporter_page_test.py --ringprobe PATH --fleet PATH [--screenshot OUT.png] [--keep-running]
"""
import argparse
import base64
import html.parser
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--virtual-time-budget=2000"]

TLS_FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tls")


def tls_rule(cidr, chain, key):
    return {"cidr": cidr, "kind": "http", "status": 200, "body": "ok",
            "tls": {"cert": os.path.join(TLS_FIXTURES, chain),
                    "key": os.path.join(TLS_FIXTURES, key)}}


FLEET = {"default": {"kind": "http", "status": 200, "body": "ok"},
         "rules": [{"cidr": "127.1.51.0/24", "kind": "http", "status": 503, "body": "maintenance"},
                   tls_rule("127.1.53.1/32", "good-chain.pem", "good.key"),
                   tls_rule("127.1.53.2/32", "expired-chain.pem", "expired.key")]}

WEB = ["127.1.50.%d" % i for i in range(1, 9)] + ["127.1.51.%d" % i for i in range(1, 4)]
API = ["127.1.52.1", "127.1.52.2"]
TLS = ["127.1.53.1", "127.1.53.2"]  # good chain, expired leaf


def gateway(name, web_port, api_port):
    gw = ("/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/"
          + name)

    def setting(sname, port, protocol="Http", probe="health"):
        props = {"port": port, "protocol": protocol, "probe": {"id": gw + "/probes/" + probe}}
        if protocol == "Https":
            props["trustedRootCertificates"] = [{"id": gw + "/trustedRootCertificates/root"}]
        return {"name": sname, "properties": props}

    # Timeouts leave room for a loaded machine (a debug build's TLS handshake on 2 busy cores).
    def probe(pname, protocol, host, interval_ms, timeout_ms):
        return {"name": pname, "properties": {
            "protocol": protocol, "host": host, "path": "/", "interval": 1, "timeout": 1,
            "unhealthyThreshold": 2, "match": {"body": "ok"},
            "ringprobe": {"intervalMs": interval_ms, "timeoutMs": timeout_ms}}}

    with open(os.path.join(TLS_FIXTURES, "root.der.b64"), encoding="ascii") as fh:
        root = fh.read().strip()
    base64.b64decode(root, validate=True)  # the fixture is what the configuration expects

    def rule(rname, pool, sname):
        return {"name": rname, "properties": {
            "ruleType": "Basic",
            "backendAddressPool": {"id": gw + "/backendAddressPools/" + pool},
            "backendHttpSettings": {"id": gw + "/backendHttpSettingsCollection/" + sname}}}

    return {"name": name, "properties": {
        "backendAddressPools": [
            {"name": "web", "properties": {"backendAddresses": [{"ipAddress": a} for a in WEB]}},
            {"name": "api", "properties": {"backendAddresses": [{"ipAddress": a} for a in API]}},
            {"name": "tls", "properties": {"backendAddresses": [{"ipAddress": a} for a in TLS]}}],
        "backendHttpSettingsCollection": [setting("web-http", web_port),
                                          setting("api-http", api_port),
                                          setting("tls-https", web_port, "Https", "tls")],
        "trustedRootCertificates": [{"name": "root", "properties": {"data": root}}],
        "probes": [probe("health", "Http", "example.test", 1000, 900),
                   probe("tls", "Https", "good.ringprobe.test", 1000, 900)],
        "requestRoutingRules": [rule("web", "web", "web-http"), rule("api", "api", "api-http"),
                                rule("tls", "tls", "tls-https")]}}


class Dom(html.parser.HTMLParser):
    """Collects the elements the checks look at, with their attributes and text."""

    def __init__(self):
        super().__init__()
        self.rows = []          # (attrs, [cell texts]) of #servers tbody rows
        self.links = []         # (href, text)
        self.ids = {}           # id -> (tag, attrs)
        self.tags = set()
        self.forms = []
        self.selects = []
        self.pool_counts = {}   # pool -> [healthy, unhealthy, unknown]
        self._stack = []
        self._row = None
        self._cell = None
        self._link = None
        self._pool_row = None
        self.text_by_id = {}
        self._text_id = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if "id" in a:
            self.ids[a["id"]] = (tag, a)
            self._text_id.append([a["id"], tag, ""])
        if tag == "form":
            self.forms.append(a)
        if tag == "select":
            self.selects.append(a.get("name"))
        if tag == "tr" and "data-row" in a:
            self._row = (a, [])
        if tag == "tr" and "data-pool" in a:
            self._pool_row = (a["data-pool"], [])
        if tag == "td":
            self._cell = ""
        if tag == "a":
            self._link = [a.get("href", ""), ""]
        if tag not in ("meta", "link", "br", "img", "input", "rect", "line"):
            self._stack.append(tag)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            if self._row is not None:
                self._row[1].append(self._cell.strip())
            elif self._pool_row is not None:
                self._pool_row[1].append(self._cell.strip())
            self._cell = None
        if tag == "tr":
            if self._row is not None:
                self.rows.append(self._row)
                self._row = None
            if self._pool_row is not None:
                self.pool_counts[self._pool_row[0]] = [int(x) for x in self._pool_row[1][1:]]
                self._pool_row = None
        if tag == "a" and self._link is not None:
            self.links.append(tuple(self._link))
            self._link = None
        if self._text_id and self._text_id[-1][1] == tag:
            i, _, text = self._text_id.pop()
            self.text_by_id[i] = text.strip()
            if self._text_id:
                self._text_id[-1][2] += text

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._link is not None:
            self._link[1] += data
        if self._text_id:
            self._text_id[-1][2] += data


class Failures:
    def __init__(self):
        self.items = []

    def check(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            self.items.append(what)


def free_closed_port():
    """A loopback port that refuses connections: bound, never listening, kept open."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def wait_line(path, pattern, proc, budget_s):
    until = time.time() + budget_s
    while time.time() < until:
        with open(path, encoding="utf-8", errors="replace") as f:
            m = re.search(pattern, f.read())
        if m:
            return m
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(args, tmp):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    cmd = [chromium_binary()] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + args
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90, check=False)
    return r.stdout.decode("utf-8", "replace")


def dump(url, tmp):
    dom = Dom()
    dom.feed(chromium(["--dump-dom", url], tmp))
    return dom


def stop(proc):
    if proc and proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ringprobe", required=True)
    ap.add_argument("--fleet", required=True)
    ap.add_argument("--screenshot", help="also save a screenshot of / here")
    args = ap.parse_args()
    if chromium_binary() is None:
        print("chromium is not installed (Debian package chromium, in RP_TEST_PACKAGES)")
        return 1

    tmp = tempfile.mkdtemp(prefix="rp-browser-")
    name = "rp-browser-%d" % os.getpid()  # the report segment: /dev/shm/ringprobe.NAME
    fleet = engine = None
    closed, api_port = free_closed_port()
    f = Failures()
    try:
        with open(os.path.join(tmp, "fleet.json"), "w") as fh:
            json.dump(FLEET, fh)
        fleet_out = os.path.join(tmp, "fleet.out")
        fleet = subprocess.Popen([args.fleet, "--port", "0", "--control", "none", "--behaviours",
                                  os.path.join(tmp, "fleet.json")],
                                 stdout=open(fleet_out, "w"), stderr=subprocess.DEVNULL)
        if not wait_line(fleet_out, r"(?m)^ready", fleet, 10):
            print("ringprobe-fleet did not start")
            return 1
        web_port = int(re.search(r"(?m)^port (\d+)", open(fleet_out).read()).group(1))

        cfg = os.path.join(tmp, "gateway.json")
        with open(cfg, "w") as fh:
            json.dump(gateway(name, web_port, api_port), fh)
        err = os.path.join(tmp, "engine.err")
        engine = subprocess.Popen([args.ringprobe, "run", "--config", cfg, "--workers", "1",
                                   "--listen", "127.0.0.1:0"],
                                  stdout=subprocess.DEVNULL, stderr=open(err, "w"))
        m = wait_line(err, r"exporter on http://127\.0\.0\.1:(\d+)/", engine, 10)
        if not m:
            print("ringprobe run did not start its exporter:\n" + open(err).read())
            return 1
        base = "http://127.0.0.1:%s" % m.group(1)

        # Wait (bounded) until every row has its verdict.
        decided = False
        for _ in range(100):
            with urllib.request.urlopen(base + "/backendhealth", timeout=5) as r:
                doc = json.load(r)
            healths = [s["health"] for p in doc["backendAddressPools"]
                       for st in p["backendHttpSettingsCollection"] for s in st["servers"]]
            if len(healths) == len(WEB) + len(API) + len(TLS) and "Unknown" not in healths:
                decided = True
                break
            time.sleep(0.1)
        f.check(decided, "every row has a verdict before the browser looks")

        page = dump(base + "/", tmp)
        f.check(len(page.rows) == len(WEB) + len(API) + len(TLS),
                "one row per server x setting (%d)" % len(page.rows))
        by_server = {cells[0]: (attrs, cells) for attrs, cells in page.rows}
        f.check(all(by_server[a][0]["data-health"] == "Healthy" for a in WEB[:8]),
                "web backends answering 200 are Healthy")
        f.check(all(by_server[a][0]["data-health"] == "Unhealthy" for a in WEB[8:] + API),
                "503 and refused backends are Unhealthy")
        f.check(by_server[TLS[0]][0]["data-health"] == "Healthy"
                and by_server[TLS[1]][0]["data-health"] == "Unhealthy",
                "the good HTTPS backend is Healthy, the expired one Unhealthy (%s; %s)"
                % (by_server[TLS[0]][1][6], by_server[TLS[1]][1][6]))
        f.check(by_server[WEB[0]][1][2:5] == ["web-http", str(web_port), "Http"],
                "a row shows its setting, port and protocol")
        f.check("503" in by_server[WEB[8]][1][6], "the latest probe's response is shown")
        f.check(page.pool_counts.get("web") == [8, 3, 0] and page.pool_counts.get("api") == [0, 2, 0]
                and page.pool_counts.get("tls") == [1, 1, 0],
                "counts per pool: %s" % page.pool_counts)
        f.check("script" not in page.tags, "no script on the page")
        f.check(any(fm.get("method") == "get" and fm.get("action") == "/" for fm in page.forms)
                and {"pool", "health"} <= set(page.selects),
                "filters are a plain GET form (pool, health)")

        filtered = dump(base + "/?pool=web&health=Unhealthy", tmp)
        f.check(sorted(c[0] for _, c in filtered.rows) == sorted(WEB[8:]),
                "the form's URL ?pool=web&health=Unhealthy shows exactly the 503 rows")
        healthy_api = dump(base + "/?pool=api&health=Healthy", tmp)
        f.check(len(healthy_api.rows) == 0, "?pool=api&health=Healthy shows no row")

        links = [h for h, t in page.links if h.startswith("/troubleshoot?row=")]
        f.check(len(links) == 6, "a Troubleshoot link on each of the 6 unhealthy rows")
        row_of = {c[0]: a["data-row"] for a, c in page.rows}
        refused = dump(base + "/troubleshoot?row=" + row_of[API[0]], tmp)
        f.check(refused.text_by_id.get("reason") == "connect_refused", "refused: reason shown")
        f.check("faulty" in refused.ids.get("link-backend", ("", {}))[1].get("class", ""),
                "refused: the ringprobe -> backend link is marked faulty")
        f.check("faulty" not in refused.ids.get("box-backend", ("", {}))[1].get("class", ""),
                "refused: the backend box is not")
        f.check("t-connect" in refused.ids and "t-total" in refused.ids, "phase timings shown")
        status = dump(base + "/troubleshoot?row=" + row_of[WEB[8]], tmp)
        f.check(status.text_by_id.get("reason") == "status_mismatch", "503: reason shown")
        f.check("faulty" in status.ids.get("box-backend", ("", {}))[1].get("class", ""),
                "503: the backend box is marked faulty")
        f.check("503" in status.text_by_id.get("log", ""), "503: the healthProbeLog sentence")
        f.check("tls" in status.ids and "chain" not in status.ids,
                "an HTTP row has the TLS section, without a chain")

        def cls(dom, ident):
            return dom.ids.get(ident, ("", {}))[1].get("class", "")

        expired = dump(base + "/troubleshoot?row=" + row_of[TLS[1]], tmp)
        f.check(expired.text_by_id.get("reason") == "tls_expired", "expired: reason shown")
        f.check("chain" in expired.ids and "chain-anchor" in expired.ids
                and "chain-cert-1" in expired.ids,
                "expired: the chain is drawn from the trust anchor through the intermediate")
        f.check("faulty" in cls(expired, "chain-cert-0") and "faulty" in cls(expired, "cert-0"),
                "expired: the leaf is marked faulty in the drawing and the table")
        f.check("faulty" not in cls(expired, "chain-cert-1") and "faulty" not in cls(expired, "chain-anchor"),
                "expired: the intermediate and the anchor are not")
        f.check("expired.ringprobe.test" in expired.text_by_id.get("chain-table", ""),
                "expired: the table names the leaf's subject")
        good = dump(base + "/troubleshoot?row=" + row_of[TLS[0]], tmp)
        f.check("chain-cert-0" in good.ids and not any(
            "faulty" in cls(good, i) for i in ("chain-cert-0", "chain-cert-1", "chain-anchor")),
            "good: the chain is drawn with nothing marked")

        if args.screenshot:
            chromium(["--screenshot=" + args.screenshot, "--window-size=1280,900", base + "/"], tmp)
            f.check(os.path.exists(args.screenshot), "screenshot written")
        phone = os.path.join(tmp, "phone.png")
        chromium(["--screenshot=" + phone, "--window-size=390,844", base + "/"], tmp)
        f.check(os.path.getsize(phone) > 1000 if os.path.exists(phone) else False,
                "renders at phone width (390 px)")
    finally:
        stop(engine)
        stop(fleet)
        closed.close()
        shutil.rmtree(tmp, ignore_errors=True)
        # A stopped engine leaves its report for readers, and its claim file; this test is done.
        for path in ("/dev/shm/ringprobe." + name, "/dev/shm/ringprobe-lock." + name):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    if f.items:
        print("%d check(s) failed" % len(f.items))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
