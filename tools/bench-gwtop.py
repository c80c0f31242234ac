#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What watching costs (issue 17): gwtop's and gwd's share of a core while
gwtop shows a home of 4096 devices and 65536 live flows, refreshed every
second.  A bench, not a test (`tools/gw bench gwtop`; root not needed).

    bench-gwtop.py BUILD_DIR [--seconds S] [--json]

The home: a policy of 4096 devices (one MAC each) and gwd driving a
dataplane engine.  The dataplane is a stand-in that speaks gw-dataplane's
control protocol (gwtest.proto's structures) and reports flow events as
gw-dataplane does: first 65536 new flows, 16 to a device, then counters
of 8192 of them a second, round the table (gw-dataplane reports a busy
flow's counters once per 2 s window).  A real gw-dataplane would need
traffic for 65536 flows and a polling core of this 2-core machine: the
share of a core being measured would drown in it.  What is measured is
gwd serving gwtop and gwtop itself, not the fast path.

Phases, each S seconds (default 20), CPU time from /proc/PID/stat:
  idle      gwd with its flows and counters, nobody watching (the reference)
  devices   gwtop at 80x24 on its device view, -d 1
  flows     gwtop on the busiest device's flows, -d 1
gwd's share of serving gwtop is its CPU time in a phase minus the idle
phase's, over the phase's wall time; gwtop's share is its own.  The
target: each under 5 % of a core.
"""
import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "lib"))
from gwtest import Fail, proc, proto, wait_for  # noqa: E402
from gwtest.gwd import image_crc, image_rules  # noqa: E402
from gwtest.net import connectable  # noqa: E402
from gwtest.tmux import Tmux  # noqa: E402

DEVICES, FLOWS = 4096, 65536
COUNTERS_PER_S = 8192
TICK = os.sysconf("SC_CLK_TCK")


def policy_text():
    lines = ["zone bench.home.arpa", "group all"]
    for d in range(DEVICES):
        lines.append("device d%04d mac 02:00:00:00:%02x:%02x group all" % (d, d >> 8, d & 255))
    lines.append("rule all-out allow group all to internet")
    lines.append("default allow")
    return "\n".join(lines) + "\n"


class Dataplane(threading.Thread):
    """gw-dataplane's control protocol, answered as gw-dataplane would for a
    running fast path with FLOWS flows; events made up as it would report
    them."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        self.srv.listen(8)
        self.t0 = time.monotonic()
        self.gen, self.nrules, self.crc, self.size = 0, 0, 0, 0
        self.next_new = 0          # flows reported new so far
        self.next_cnt = 0          # the next flow whose counters are due
        self.budget = 0.0          # counters events owed
        self.last = time.monotonic()
        self.stop = False

    def flow(self, i, kind):
        dev = i % DEVICES
        mac = bytes([2, 0, 0, 0, dev >> 8, dev & 255])
        src = bytes([10, dev >> 8, dev & 255, 2]) + bytes(12)
        dst = bytes([198, 51, 100, i % 250 + 1]) + bytes(12)
        age = time.monotonic() - self.t0
        # A device's first flow is busy (a video), the rest trickle.
        up, down = (int(age * 60e3), int(age * 2.4e6)) if i < DEVICES else \
                   (int(age * 200), int(age * 800))
        return proto.EVENT.pack(kind, 4, 6, 0, mac, 0, src, dst, 10000 + i // DEVICES, 443,
                                0, self.gen, up // 1000 + 1, down // 1000 + 1, up, down,
                                int(time.time() * 1000))

    def events(self, want):
        now = time.monotonic()
        out = []
        while self.next_new < FLOWS and len(out) < want:
            out.append(self.flow(self.next_new, proto.EV_NEW))
            self.next_new += 1
        if self.next_new >= FLOWS:
            self.budget = min(self.budget + (now - self.last) * COUNTERS_PER_S, 4 * 512)
            while len(out) < want and self.budget >= 1:
                out.append(self.flow(self.next_cnt, proto.EV_COUNTERS))
                self.next_cnt = (self.next_cnt + 1) % FLOWS
                self.budget -= 1
        self.last = now
        return proto.EVENTS_HEAD.pack(len(out), 0) + b"".join(out)

    def answer(self, typ, body):
        if typ == proto.HEALTH:
            up = int((time.monotonic() - self.t0) * 1000)
            return 0, proto.HEALTH_BODY.pack(self.gen, 1, self.nrules,
                                             proto.HEALTH_POLICY if self.gen else 0, up,
                                             self.next_new * 10, self.next_new)
        if typ == proto.LOAD_IMAGE:
            self.gen += 1
            self.nrules, self.crc, self.size = image_rules(body), image_crc(body), len(body)
            return 0, proto.LOAD_REPLY.pack(self.gen, self.nrules)
        if typ == proto.SET_ACTIVE:
            self.gen += 1
            return 0, proto.LOAD_REPLY.pack(self.gen, self.nrules)
        if typ == proto.IMAGE_INFO:
            return 0, proto.IMAGE_INFO_BODY.pack(self.gen, self.nrules, self.crc, self.size)
        if typ == proto.EVENTS:
            want = struct.unpack("<I", body[:4])[0]
            return 0, self.events(min(want, proto.EVENTS_MAX))
        if typ == proto.STATS:
            return 0, proto.STATS_HEAD.pack(0, 0)
        if typ == proto.DOMAIN_SET:
            return 0, proto.DOMAIN_REPLY.pack(0, 0)
        if typ == proto.DEVICE_SET:
            return 0, proto.DEVICE_REPLY.pack(0, 0, self.gen, self.gen)
        return -95, b""  # EOPNOTSUPP

    def serve(self, c):
        f = c.makefile("rb")
        while not self.stop:
            hdr = f.read(proto.HDR.size)
            if len(hdr) < proto.HDR.size:
                return
            magic, ver, typ, flags, length, rid = proto.HDR.unpack(hdr)
            body = f.read(length)
            status, payload = self.answer(typ, body)
            reply = proto.REPLY_HEAD.pack(status, 0, 0) + (payload if status == 0 else b"")
            c.sendall(proto.HDR.pack(proto.MAGIC, proto.VERSION, typ | proto.REPLY, 0,
                                     len(reply), rid) + reply)

    def run(self):
        while not self.stop:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()


def cpu_s(pid):
    """CPU seconds (user + system) of process pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def measure(pids, seconds):
    """Each pid's share of a core over `seconds` of wall time."""
    t0, c0 = time.monotonic(), [cpu_s(p) for p in pids]
    time.sleep(seconds)
    t1, c1 = time.monotonic(), [cpu_s(p) for p in pids]
    return [(b - a) / (t1 - t0) for a, b in zip(c0, c1)]


def metric(port, name):
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    gwd_bin, gwctl_bin = os.path.join(build, "control", "gwd"), os.path.join(build, "tools",
                                                                                "gwctl")
    gwtop_bin = os.path.join(build, "tools", "gwtop")
    work = tempfile.mkdtemp(prefix="gw-bench-gwtop-%d-" % os.getpid())
    port = 20000 + os.getpid() % 20000
    gwd = t = None
    dp = Dataplane(os.path.join(work, "dp.sock"))
    dp.start()
    try:
        pol = os.path.join(work, "home.gw")
        with open(pol, "w") as f:
            f.write(policy_text())
        conf = os.path.join(work, "gwd.conf")
        sock = os.path.join(work, "gwd.sock")
        with open(conf, "w") as f:
            f.write("state_dir = %s/state\nsocket = %s\ndataplane = %s\nguard = off\n"
                    "metrics = 127.0.0.1:%d\n" % (work, sock, dp.path, port))
        log = open(os.path.join(work, "gwd.log"), "w")
        gwd = proc.popen([gwd_bin, "-c", conf], stderr=log)
        wait_for("gwd's socket", lambda: connectable(sock), timeout=30, proc=gwd)
        env = dict(os.environ, GWD_SOCKET=sock)
        subprocess.run([gwctl_bin, "policy", "apply", pol], env=env, check=True,
                       capture_output=True, timeout=120)
        wait_for("gwd to hold %d flows" % FLOWS,
                 lambda: metric(port, "gw_flows") == FLOWS, timeout=120, step=1, proc=gwd)
        time.sleep(3)  # counters reach a steady pace
        res = {"devices": DEVICES, "flows": FLOWS, "counters_per_s": COUNTERS_PER_S,
               "seconds": a.seconds}
        res["gwd_idle"] = measure([gwd.pid], a.seconds)[0]
        t = Tmux(work, [gwtop_bin, "--socket", sock, "-d", "1"], cols=80, rows=24, env=env)
        t.wait_text("d0", timeout=60)
        time.sleep(2)
        g, top = measure([gwd.pid, t.program_pid()], a.seconds)
        res["devices_view"] = {"gwd": g, "gwd_serving": g - res["gwd_idle"], "gwtop": top}
        t.keys("Enter")
        t.wait_text("flows of", timeout=30)
        time.sleep(2)
        g, top = measure([gwd.pid, t.program_pid()], a.seconds)
        res["flows_view"] = {"gwd": g, "gwd_serving": g - res["gwd_idle"], "gwtop": top}
        t.keys("q")
        t.close()
        t = None
        # gwd's CPU for one devices reply, brief (gwtop's) and whole: 20
        # requests each, less what gwd spends meanwhile on its own.
        for brief in (True, False):
            req = json.dumps({"v": 1, "id": 1, "cmd": "devices", "brief": brief}) + "\n"
            c0, t0 = cpu_s(gwd.pid), time.monotonic()
            size = 0
            for _ in range(20):
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(sock)
                    s.sendall(req.encode())
                    size = len(s.makefile("rb").readline())
            used = cpu_s(gwd.pid) - c0 - res["gwd_idle"] * (time.monotonic() - t0)
            res["devices_reply_brief" if brief else "devices_reply"] = {
                "gwd_ms": used / 20 * 1000, "bytes": size}
        if a.json:
            print(json.dumps(res))
        else:
            print("gwtop bench: %d devices, %d live flows, %d counter events/s, %.0f s a phase"
                  % (DEVICES, FLOWS, COUNTERS_PER_S, a.seconds))
            print("  gwd alone (reference):         %5.1f %% of a core" % (100 * res["gwd_idle"]))
            for view in ("devices_view", "flows_view"):
                r = res[view]
                print("  gwtop on its %-7s view: gwtop %5.1f %%, gwd %5.1f %% (serving it: "
                      "%+.1f %%)" % (view.split("_")[0], 100 * r["gwtop"], 100 * r["gwd"],
                                    100 * r["gwd_serving"]))
            for k in ("devices_reply_brief", "devices_reply"):
                print("  a devices reply%s: %d bytes, %.1f ms of gwd" % (
                    " (brief)" if "brief" in k else "", res[k]["bytes"], res[k]["gwd_ms"]))
        return 0
    finally:
        if t:
            t.close()
        if gwd:
            proc.stop(gwd)
        dp.stop = True
        dp.srv.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print("bench-gwtop: %s" % e, file=sys.stderr)
        sys.exit(1)
