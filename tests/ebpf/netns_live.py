#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The classifier live on veth, in three network namespaces:

  gwt<PID>-dev   d0 10.77.0.2 (MAC 02:00:00:00:00:01, the household's "phone")
       |
  gwt<PID>-gw    lan0 10.77.0.1: XDP gw_classify (native) + TC gw_egress,
                 or (MODE tc) TC ingress gw_classify_tc + TC gw_egress;
                 ip_forward; nft masquerade out wan0 203.0.113.1
       |
  gwt<PID>-inet  i0 203.0.113.2, .3, .4: one python3 http.server on each,
                 and a trickle (4 KB every 50 ms) on 203.0.113.2:8081

With no policy everything passes.  Then: web (allow) to .2 works, walled
(block) to .3 times out and drops exactly what was sent, refused (reject)
to .4 fails at once with a RST, per-rule counters match the packets sent,
and a new generation cuts a download that is under way.  The loader is
driven through gwbpf-tool, a new loader per step, as a restarted gwd.
The same cases run at either hook (docs/ebpf.md, "Two hooks").

    netns_live.py GWBPF_TOOL [xdp|tc]

Root only; exits 77 where namespaces or BPF are not permitted.
Everything made here is removed on any exit.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Skip, check, programs  # noqa: E402
from gwtest.net import Netns, need_programs, remove_pins, run, sh, sweep_stale  # noqa: E402
from gwtest.proc import Procs  # noqa: E402

TOOL = sys.argv[1]
MODE = sys.argv[2] if len(sys.argv) > 2 else "xdp"
PY = programs.PYTHON
POLICY = """device phone mac 02:00:00:00:00:01
rule web allow device phone to 203.0.113.2/32
rule walled block device phone to 203.0.113.3/32
rule refused reject device phone to 203.0.113.4/32
default block
"""


def ok(what):
    print("ok: " + what, flush=True)


class Live:
    def __init__(self):
        self.netns = Netns("gwt")
        self.dev, self.gw, self.inet = (self.netns.name(r) for r in ("dev", "gw", "inet"))
        self.pins = "/sys/fs/bpf/gw-test-%d" % os.getpid()
        self.work = tempfile.mkdtemp(prefix="gw-ebpf-live-")
        self.procs = Procs(self.work)
        self.policy = os.path.join(self.work, "home.gw")

    # ------------------------------------------------------------ helpers

    def in_gw(self, *cmd):
        """In the gateway's netns, keeping this mount namespace: `ip netns
        exec` would mount a fresh /sys and hide /sys/fs/bpf and the pins."""
        return subprocess.run(["nsenter", "--net=/run/netns/" + self.gw, *cmd],
                              capture_output=True, text=True, timeout=60)

    def tool(self, *args, what):
        """gwbpf-tool PINS ARGS in the gateway's netns; Skip on 77."""
        r = self.in_gw(TOOL, self.pins, *args)
        if r.returncode == gwtest.SKIP:
            raise Skip("BPF is not permitted")
        check(r.returncode == 0, "%s: exit %d: %s" % (what, r.returncode, r.stderr.strip()))
        return r.stdout

    def stats(self):
        """{("rule", NAME): packets, ("counter", NAME): value} from
        gwbpf-tool stats."""
        out = {}
        for line in self.tool("stats", self.policy, what="stats").splitlines():
            f = line.split()
            if len(f) >= 3 and f[0] in ("rule", "counter"):
                out[(f[0], f[1])] = int(f[2])
        return out

    def rule(self, name):
        return self.stats()[("rule", name)]

    def counter(self, name):
        return self.stats()[("counter", name)]

    def fetch(self, addr, max_time):
        """curl http://ADDR:8080/small from the device into WORK/out: its
        exit status."""
        return run("curl", "-s", "--max-time", str(max_time), "-o",
                   os.path.join(self.work, "out"), "http://%s:8080/small" % addr,
                   ns=self.dev, timeout=max_time + 30).returncode

    def apply(self, what):
        self.tool("apply", self.policy, "10.77.0.1", what=what)

    def size(self, path):
        try:
            return os.path.getsize(path)
        except OSError:
            return 0

    # ------------------------------------------------------------ set-up

    def topology(self):
        for role in ("dev", "gw", "inet"):
            self.netns.add(role, ipv6=False, skip=True)
        dev, gw, inet = self.dev, self.gw, self.inet
        sh("ip", "-n", dev, "link", "add", "d0", "address", "02:00:00:00:00:01", "type", "veth",
           "peer", "name", "lan0", "netns", gw)
        sh("ip", "-n", gw, "link", "add", "wan0", "type", "veth", "peer", "name", "i0",
           "netns", inet)
        sh("ip", "-n", dev, "addr", "add", "10.77.0.2/24", "dev", "d0")
        sh("ip", "-n", gw, "addr", "add", "10.77.0.1/24", "dev", "lan0")
        sh("ip", "-n", gw, "addr", "add", "203.0.113.1/24", "dev", "wan0")
        for a in (2, 3, 4):
            sh("ip", "-n", inet, "addr", "add", "203.0.113.%d/24" % a, "dev", "i0")
        for ns, link in ((dev, "d0"), (gw, "lan0"), (gw, "wan0"), (inet, "i0")):
            sh("ip", "-n", ns, "link", "set", link, "up")
        sh("ip", "-n", dev, "route", "add", "default", "via", "10.77.0.1")
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=gw)
        # What XDP_TX sends back on lan0 (the reject's RST) reaches d0 only
        # when d0 runs an XDP program of its own (GRO on was not enough).
        r = run(TOOL, "-", "xdp-pass", "d0", ns=dev)
        if r.returncode == gwtest.SKIP:
            raise Skip("BPF is not permitted")
        check(r.returncode == 0, "xdp-pass d0: %s" % r.stderr.strip())
        sh("nft", "-f", "-", ns=gw, input="""
table ip gwt_nat {
    chain post {
        type nat hook postrouting priority srcnat;
        oifname "wan0" masquerade
    }
}
""")

    def servers(self):
        """The internet: a small page served on every address, and the
        trickle: an open connection that carries data all the time.  The
        sender, not the receiver, sets its pace, so nothing piles up in the
        device's socket buffer and what the device gets is what crossed
        lan0."""
        with open(os.path.join(self.work, "small"), "w") as f:
            f.write("hello from the internet\n")
        for a in (2, 3, 4):
            self.procs.spawn("http-%d" % a, [PY, "-m", "http.server", "--bind",
                                             "203.0.113.%d" % a, "--directory", self.work,
                                             "8080"], ns=self.inet)
        self.procs.spawn("trickle", programs.python(
            "stream_server.py", "203.0.113.2", 8081, "--chunk", 4096, "--every", 0.05,
            "--count", 1200, "--length"), ns=self.inet)
        for a in (2, 3, 4):
            gwtest.wait_for("the server on 203.0.113.%d" % a, lambda: run(
                "curl", "-s", "-o", "/dev/null", "http://203.0.113.%d:8080/small" % a,
                ns=self.inet).returncode == 0, timeout=5, step=0.1)

    # ------------------------------------------------------------ the run

    def scenario(self):
        self.topology()
        self.servers()

        self.tool("attach", "lan0", MODE, what="attach lan0 (%s)" % MODE)
        ingress = self.in_gw("tc", "filter", "show", "dev", "lan0", "ingress").stdout
        if MODE == "xdp":
            check("xdp " in sh("ip", "-n", self.gw, "link", "show", "lan0"),
                  "no native XDP program on lan0")
            check("gw_ingress" in ingress, "no gw_ingress on lan0's TC ingress: %s" % ingress)
        else:
            check("xdp" not in sh("ip", "-n", self.gw, "link", "show", "lan0"),
                  "an XDP program on lan0 in TC mode")
            check("gw_classify_tc" in ingress,
                  "no gw_classify_tc on lan0's TC ingress: %s" % ingress)
        ok("attached at %s" % MODE)

        # No policy yet: every destination answers, the one to be walled too.
        check(self.fetch("203.0.113.3", 5) == 0, "no policy: 203.0.113.3 should answer")
        ok("no policy, 203.0.113.3 answers")

        with open(self.policy, "w") as f:
            f.write(POLICY)
        self.apply("apply")

        # allow
        check(self.fetch("203.0.113.2", 5) == 0, "allowed: curl to 203.0.113.2 failed")
        with open(os.path.join(self.work, "out")) as f:
            check("hello from the internet" in f.read(), "allowed: wrong content")
        ok("web (allow) to 203.0.113.2 fetched the page")

        # block
        t0 = time.monotonic()
        rc = self.fetch("203.0.113.3", 2)
        check(rc == 28, "blocked: curl to 203.0.113.3 should time out (exit 28), got %d" % rc)
        ok("walled (block) to 203.0.113.3 timed out after %d ms"
           % ((time.monotonic() - t0) * 1000))

        # Exactly N datagrams: the rule and the drop counter rise by N,
        # nothing arrives.
        n = 7
        before, drops = self.rule("walled"), self.counter("drop")
        ready = os.path.join(self.work, "udp.ready")
        recv = self.procs.spawn("udp-recv", programs.python(
            "udp_recv.py", "203.0.113.3", 9999, "--ready", ready, "--idle-exit", 3),
            ns=self.inet, pipe=True)
        gwtest.wait_for("the UDP receiver", lambda: os.path.exists(ready), timeout=5,
                        step=0.1, proc=recv)
        r = run(*programs.python("udp_send.py", "203.0.113.3", 9999, "--count", n, "--size",
                                 100), ns=self.dev)
        check(r.returncode == 0, "udp_send.py: %s" % r.stderr.strip())
        got = json.loads(recv.communicate(timeout=30)[0].strip().splitlines()[-1])
        self.procs.forget("udp-recv")
        after = self.rule("walled")
        check(after - before == n, "walled counted %d packets, %d were sent" % (after - before, n))
        d = self.counter("drop") - drops
        check(d == n, "drop counter rose by %d, not %d" % (d, n))
        check(got["received"] == 0, "%d blocked datagrams arrived" % got["received"])
        ok("walled counted %d of %d datagrams, drop +%d, none arrived" % (n, n, n))

        # reject
        rejects, before = self.counter("reject"), self.rule("refused")
        t0 = time.monotonic()
        rc = run("curl", "-s", "--max-time", "5", "-o", "/dev/null",
                 "http://203.0.113.4:8080/small", ns=self.dev).returncode
        ms = (time.monotonic() - t0) * 1000
        check(rc == 7, "rejected: curl should be refused (exit 7), got %d" % rc)
        check(ms < 1000, "rejected: refusal took %d ms" % ms)
        check(self.rule("refused") - before == 1, "refused should count the one SYN")
        check(self.counter("reject") - rejects == 1, "reject counter should rise by 1")
        ok("refused (reject) answered the SYN with a RST: connection refused in %d ms" % ms)

        # counters
        before = self.rule("web")
        check(run("ping", "-q", "-c", "5", "-i", "0.2", "-W", "2", "203.0.113.2",
                  ns=self.dev).returncode == 0, "ping 203.0.113.2")
        d = self.rule("web") - before
        check(d == 5, "web counted %d pings, 5 were sent" % d)
        ok("web counted the 5 echo requests")

        # swap: the trickle under way; a new generation blocks its
        # destination, and the bytes stop at once (what was in flight is a
        # few KB).  Uncut, 80 KB a second go on coming.
        dl = os.path.join(self.work, "dl")
        curl = self.procs.spawn("download", ["curl", "-s", "--speed-limit", "1", "--speed-time",
                                             "3", "--max-time", "60", "-o", dl,
                                             "http://203.0.113.2:8081/"], ns=self.dev)
        gwtest.wait_for("the download to start", lambda: self.size(dl) > 40000, timeout=10,
                        step=0.1)
        reclass = self.counter("flow_reclass") + self.counter("egress_reclass")
        egress_drops = self.counter("egress_drop")
        with open(self.policy, "w") as f:
            f.write(POLICY.replace("rule web allow", "rule web block"))
        self.apply("apply (second generation)")
        s0 = self.size(dl)
        time.sleep(1)
        s1 = self.size(dl)
        time.sleep(2)
        s2 = self.size(dl)
        check(s1 == s2, "the download went on after the swap (%d -> %d -> %d bytes)"
              % (s0, s1, s2))
        check(s1 - s0 <= 65536, "%d bytes arrived after the swap" % (s1 - s0))
        rc = curl.wait(timeout=60)
        self.procs.forget("download")
        check(rc == 28, "the cut download should end in curl's stall timeout (28), got %d" % rc)
        check(self.counter("flow_reclass") + self.counter("egress_reclass") > reclass,
              "no flow was classified again (ingress or egress)")
        check(self.counter("egress_drop") > egress_drops, "nothing was dropped on egress")
        ok("the new generation cut the download at %d bytes (%d after the swap)"
           % (s2, s1 - s0))
        check(self.fetch("203.0.113.2", 2) != 0, "203.0.113.2 still answers after the swap")
        ok("a new connection to 203.0.113.2 is blocked too")

        # detach
        self.tool("detach", "lan0", what="detach lan0")
        check("xdp" not in sh("ip", "-n", self.gw, "link", "show", "lan0"),
              "an XDP program is left on lan0")
        check(not self.in_gw("tc", "filter", "show", "dev", "lan0", "egress").stdout.strip(),
              "a TC filter is left on lan0")
        check(not self.in_gw("tc", "filter", "show", "dev", "lan0", "ingress").stdout.strip(),
              "a TC ingress filter is left on lan0")
        check(self.fetch("203.0.113.2", 5) == 0, "detached: 203.0.113.2 should answer again")
        ok("detached; 203.0.113.2 answers again")
        r = run(TOOL, self.pins, "unpin")
        check(r.returncode == 0, "unpin: %s" % r.stderr.strip())
        check(not os.path.exists(self.pins), "pins left at %s" % self.pins)
        ok("all done")

    def close(self):
        self.procs.close()
        if os.path.isdir(self.pins):
            self.in_gw(TOOL, self.pins, "detach", "lan0")
            if run(TOOL, self.pins, "unpin").returncode != 0:
                remove_pins(self.pins)
        self.netns.close()
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    live = None

    def body():
        nonlocal live
        gwtest.need_root()
        need_programs("ip", "tc", "nft", "nsenter", "curl", "ping", PY)
        sweep_stale(print)
        live = Live()
        live.scenario()

    def logs():
        if live:
            for name in ("trickle", "http-2", "http-3", "http-4"):
                print("--- %s\n%s" % (name, live.procs.logtail(name)))
    try:
        return gwtest.main(body, "ebpf-live-" + MODE, logs)
    finally:
        if live:
            live.close()


if __name__ == "__main__":
    sys.exit(main())
