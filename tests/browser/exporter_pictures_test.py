#!/usr/bin/env python3
"""The exporter page's pictures, in the served HTML and in a real browser's screenshot.

Starts ringprobe-fleet and `ringprobe run --listen 127.0.0.1:0 --page-sample-ms 200` on
loopback: pool "web" with three healthy backends and one that flaps (two answers 200, two
resets, ...), pool "api" whose port refuses. Once the flapping row has changed health a few
times and the exporter holds several pool-health samples, it checks:
  - the served HTML: one figure per pool with a pool-health area, a bar of the counts now and
    twelve latency buckets; one timeline per row (cells = the row's results, up to 32) and
    transition marks on the flapping row's; the recent-events table names the flapping server;
    every <svg> has a <title> and a <desc>; the DOM Chromium built has the same counts;
  - a headless Chromium screenshot of the page: the PNG exists, decodes, is not blank, and shows
    the pictures' green and red (decoded here with zlib, standard library only).
Chromium that is not installed or cannot start makes the test SKIP (exit 77) with the reason.
Every wait is bounded; the processes are stopped by PID.

  exporter_pictures_test.py --ringprobe PATH --fleet PATH [--screenshot OUT.png]
                            [--window-size W,H]
"""
import argparse
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exporter_page_test as common  # noqa: E402  (chromium flags, process helpers)

SKIP = 77
FLAPPING = "127.1.60.4"
WEB = ["127.1.60.1", "127.1.60.2", "127.1.60.3", FLAPPING]
API = ["127.1.61.1", "127.1.61.2"]
FLEET = {"default": {"kind": "http", "status": 200, "body": "ok"},
         "rules": [{"cidr": FLAPPING + "/32", "kind": "flap", "every": 2,
                    "a": {"kind": "http", "status": 200, "body": "ok"},
                    "b": {"kind": "reset"}}]}


def gateway(name, web_port, api_port):
    gw = ("/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/"
          + name)

    def rule(rname, pool, sname):
        return {"name": rname, "properties": {
            "ruleType": "Basic",
            "backendAddressPool": {"id": gw + "/backendAddressPools/" + pool},
            "backendHttpSettings": {"id": gw + "/backendHttpSettingsCollection/" + sname}}}

    def setting(sname, port):
        return {"name": sname, "properties": {"port": port, "protocol": "Http",
                                              "probe": {"id": gw + "/probes/health"}}}

    return {"name": name, "properties": {
        "backendAddressPools": [
            {"name": "web", "properties": {"backendAddresses": [{"ipAddress": a} for a in WEB]}},
            {"name": "api", "properties": {"backendAddresses": [{"ipAddress": a} for a in API]}}],
        "backendHttpSettingsCollection": [setting("web-http", web_port),
                                          setting("api-http", api_port)],
        "probes": [{"name": "health", "properties": {
            "protocol": "Http", "host": "example.test", "path": "/", "interval": 1,
            "timeout": 1, "unhealthyThreshold": 1, "match": {"body": "ok"},
            "ringprobe": {"intervalMs": 200, "timeoutMs": 900}}}],
        "requestRoutingRules": [rule("web", "web", "web-http"), rule("api", "api", "api-http")]}}


class Svgs(html.parser.HTMLParser):
    """Counts the pictures' elements, per figure and per timeline."""

    def __init__(self):
        super().__init__()
        self.svg = self.titles = self.descs = 0
        self.pool_figures = []    # data-pool of each figure.pool-pictures
        self.classes = {}         # svg class -> count
        self.buckets = 0
        self.timelines = []       # [results, transitions] per figure.timeline, page order
        self.events = []          # text of each events row
        self._in_svg = False
        self._svg_children = set()
        self._event = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "")
        if tag == "svg":
            self.svg += 1
            self._in_svg = True
            self._svg_children = set()
            self.classes[cls] = self.classes.get(cls, 0) + 1
        elif self._in_svg and tag in ("title", "desc") and tag not in self._svg_children:
            self._svg_children.add(tag)
            if tag == "title":
                self.titles += 1
            else:
                self.descs += 1
        if tag == "figure" and cls == "pool-pictures":
            self.pool_figures.append(a.get("data-pool"))
        if tag == "figure" and cls == "timeline":
            self.timelines.append([0, 0])
        if tag == "g" and cls == "bucket":
            self.buckets += 1
        if tag == "g" and cls == "result":
            self.timelines[-1][0] += 1
        if tag == "line" and cls == "transition":
            self.timelines[-1][1] += 1
        if tag == "tr" and cls == "event":
            self._event = ""

    def handle_endtag(self, tag):
        if tag == "svg":
            self._in_svg = False
        if tag == "tr" and self._event is not None:
            self.events.append(self._event)
            self._event = None

    def handle_data(self, data):
        if self._event is not None:
            self._event += data + " "


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    width, height, depth, colour, _, _, interlace = ihdr
    if depth != 8 or colour not in (2, 6) or interlace != 0:
        raise ValueError("PNG kind %s not decoded here" % (ihdr,))
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            ul = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + left) & 255
            elif f == 2:
                line[i] = (line[i] + up) & 255
            elif f == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif f == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def colour_counts(path):
    """Pixels that are not near-white, and pixels of the pictures' green and red."""
    width, height, bpp, rows = png_pixels(path)
    ink = green = red = 0
    for row in rows:
        for x in range(0, width * bpp, bpp):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if r < 235 or g < 235 or b < 235:
                ink += 1
            if abs(r - 0x10) < 24 and abs(g - 0x7c) < 24 and abs(b - 0x10) < 24:
                green += 1
            if abs(r - 0xc5) < 24 and abs(g - 0x0f) < 24 and abs(b - 0x1f) < 24:
                red += 1
    return width * height, ink, green, red


def flap_events(base):
    with urllib.request.urlopen(base + "/events", timeout=5) as r:
        doc = json.load(r)
    return sum(1 for e in doc["events"] if e["server"] == FLAPPING)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ringprobe", required=True)
    ap.add_argument("--fleet", required=True)
    ap.add_argument("--screenshot", help="keep the screenshot of / here")
    ap.add_argument("--window-size", default="1280,1400", help="the screenshot's W,H in px")
    args = ap.parse_args()
    if common.chromium_binary() is None:
        print("SKIP: chromium is not installed (Debian package chromium, in RP_TEST_PACKAGES)")
        return SKIP

    tmp = tempfile.mkdtemp(prefix="rp-pictures-")
    name = "rp-pictures-%d" % os.getpid()
    fleet = engine = None
    closed, api_port = common.free_closed_port()
    f = common.Failures()
    try:
        with open(os.path.join(tmp, "fleet.json"), "w") as fh:
            json.dump(FLEET, fh)
        fleet_out = os.path.join(tmp, "fleet.out")
        fleet = subprocess.Popen([args.fleet, "--port", "0", "--control", "none", "--behaviours",
                                  os.path.join(tmp, "fleet.json")],
                                 stdout=open(fleet_out, "w"), stderr=subprocess.DEVNULL)
        if not common.wait_line(fleet_out, r"(?m)^ready", fleet, 10):
            print("ringprobe-fleet did not start")
            return 1
        web_port = int(re.search(r"(?m)^port (\d+)", open(fleet_out).read()).group(1))
        cfg = os.path.join(tmp, "gateway.json")
        with open(cfg, "w") as fh:
            json.dump(gateway(name, web_port, api_port), fh)
        err = os.path.join(tmp, "engine.err")
        engine = subprocess.Popen([args.ringprobe, "run", "--config", cfg, "--workers", "1",
                                   "--listen", "127.0.0.1:0", "--page-sample-ms", "200"],
                                  stdout=subprocess.DEVNULL, stderr=open(err, "w"))
        m = common.wait_line(err, r"exporter on http://127\.0\.0\.1:(\d+)/", engine, 10)
        if not m:
            print("ringprobe run did not start its exporter:\n" + open(err).read())
            return 1
        base = "http://127.0.0.1:%s" % m.group(1)

        # Bounded: the flapping row changes health every two probes (200 ms apart).
        flaps = 0
        for _ in range(150):
            flaps = flap_events(base)
            if flaps >= 4:
                break
            time.sleep(0.1)
        f.check(flaps >= 4, "the flapping backend changed health at least 4 times (%d)" % flaps)

        with urllib.request.urlopen(base + "/", timeout=5) as r:
            served = r.read().decode("utf-8")
        page = Svgs()
        page.feed(served)
        f.check(page.pool_figures == ["web", "api"], "one figure per pool: %s" % page.pool_figures)
        f.check(page.classes.get("pool-health") == 2 and page.classes.get("latency") == 2,
                "a pool-health and a latency picture per pool: %s" % page.classes)
        f.check(page.buckets == 2 * 12, "twelve latency buckets per pool (%d)" % page.buckets)
        f.check(served.count('<polygon class="area-') >= 3,
                "the pool-health areas are drawn (web: Healthy and Unhealthy, api: Unhealthy)")
        rows = len(WEB) + len(API)
        f.check(len(page.timelines) == rows,
                "one timeline per row (%d)" % len(page.timelines))
        f.check(all(1 <= n <= 32 for n, _ in page.timelines),
                "every timeline has between 1 and 32 results: %s" % page.timelines)
        f.check(max(t for _, t in page.timelines) >= 2,
                "the flapping row's timeline marks its changes of health: %s" % page.timelines)
        f.check(any(FLAPPING in e for e in page.events) and len(page.events) <= 10,
                "recent events name the flapping server (%d shown)" % len(page.events))
        f.check(page.titles == page.svg and page.descs == page.svg,
                "every picture has a title and a description (%d svg, %d titles, %d descs)"
                % (page.svg, page.titles, page.descs))
        f.check("<script" not in served and "src=" not in served, "no script, no external asset")

        dom = Svgs()
        dom.feed(common.chromium(["--dump-dom", base + "/"], tmp))
        if dom.svg == 0:
            print("SKIP: chromium did not render the page (cannot start here?)")
            return SKIP
        f.check(dom.pool_figures == page.pool_figures and len(dom.timelines) == rows
                and dom.buckets == page.buckets,
                "Chromium's DOM has the same pictures (%d svg)" % dom.svg)

        shot = args.screenshot or os.path.join(tmp, "page.png")
        common.chromium(["--screenshot=" + shot, "--window-size=" + args.window_size, base + "/"], tmp)
        f.check(os.path.exists(shot), "screenshot written")
        if os.path.exists(shot):
            total, ink, green, red = colour_counts(shot)
            f.check(ink > total // 50, "the screenshot is not blank (%d of %d pixels inked)"
                    % (ink, total))
            f.check(green > 500 and red > 200,
                    "the pictures' green and red show (%d green, %d red pixels)" % (green, red))
    finally:
        common.stop(engine)
        common.stop(fleet)
        closed.close()
        shutil.rmtree(tmp, ignore_errors=True)
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
