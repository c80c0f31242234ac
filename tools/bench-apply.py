#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# gwd's apply benchmark (tools/gw bench apply; not a test; root).
#
#   bench-apply.py BUILD_DIR [--sizes 100,1000,10000] [--domains N] [--applies N]
#                  [--pps N] [--lcores LIST] [--dp-only-from R] [--keep DIR]
#
# Measures the time from `gwctl policy apply FILE` to every engine flipped,
# and the packets that allowed flows lose while policies are applied.
#
# The gateway: a network namespace holding the gateway ends of three veth
# pairs: lan0 (to a wired device's namespace) and wan0 (to an "internet"
# namespace), both owned by gw-dataplane (net_af_packet, --no-huge, its
# own --file-prefix, --no-twins: the device and the internet host have
# static neighbours for the gateway), and wlan0 (to a phone's namespace),
# a kernel port with the eBPF classifier.  gwd runs in that namespace with
# `dataplane = SOCK`, `ebpf_ports = wlan0` and its own bpf_pin_root.
#
# Policies: for each size R, two realistic policies of exactly R rules
# that differ in one rule (so every apply changes the image), in the shape
# of tools/bench_policy.c: about R/10 devices with MACs, owners and groups,
# schedules, small domain and prefix lists, a list file of --domains
# domains, and rules mixing every subject, destination and clause.  The
# first rule allows the two benchmark streams (UDP to port 5201 from the
# two declared stream devices), so their flows are allowed whatever else
# the policy says: first match wins.
#
# One phase per size: a fresh gwd (its own state folder) with both
# engines, or with the dataplane alone from --dp-only-from rules up (the
# eBPF maps hold 4096 rules).  One apply first (not counted), then two UDP
# streams start (--pps packets a second each, sequence-numbered: the wired
# device to an internet address through the dataplane, NAT included; the
# phone to the gateway's wlan0 address through the XDP classifier), then
# 2 x --applies applies alternating the two policies, 0.3 s apart, and
# alternately by a `gwctl policy apply` process and by the same request
# written straight on gwd's API socket (the difference is what gwctl adds:
# its start, printing the reply's warnings).  For each apply: its wall
# time (a reply means gwd committed every engine: control/generations.c's
# install() replies after the last commit), then, independently, the
# dataplane's IMAGE_INFO must show the new image's CRC and size under a
# newer generation, and `gwctl status` every engine at the reply's
# generation.  gwd's `event=apply` line splits its side of the time
# (compile, text, check, prepare per engine, record, commit per engine,
# finish).  gwd's flow table must show each stream's flow allowed by the
# first rule on each engine (so the streams did cross the engines).  The
# streams' losses are counted from the receivers' sequence numbers, and
# each gap is placed by the sender's timestamps (CLOCK_MONOTONIC, one
# clock for all namespaces) inside or outside an apply's window.  After
# the phase, with gwd stopped, the two images are sent straight to
# gw-dataplane (LOAD_IMAGE) five times: the dataplane's own part of the
# commit.
#
# Everything made carries this process's PID and is removed at the end,
# even after a failure: namespaces, the pin folder, DPDK's runtime folder,
# the temporary folder (unless --keep), processes by PID.  Standard library
# only.
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "lib"))
import gwtest  # noqa: E402
from gwtest import programs, proto  # noqa: E402
from gwtest.net import Netns, mac_of, remove_dpdk_runtime, remove_pins, sh  # noqa: E402
from gwtest.net import sweep_stale  # noqa: E402
from gwtest.gwd import image_crc, request  # noqa: E402
from gwtest.proc import Procs  # noqa: E402

PID = os.getpid()
NETNS = Netns("gwba")
NS_GW, NS_LAN, NS_INET, NS_WIFI = (NETNS.name(n) for n in ("gw", "lan", "inet", "wifi"))
PINS = "/sys/fs/bpf/gw-bench-apply-%d" % PID
DPDK_PREFIX = "gwba%d" % PID

LAN_GW, LAN_DEV = "192.168.1.1", "192.168.1.10"
WAN_IP, ISP_IP = "192.0.2.2", "192.0.2.1"
SERVER = "203.0.113.80"                  # the internet host's address (on its lo)
WIFI_GW, WIFI_DEV = "192.168.50.1", "192.168.50.10"
LAN_MAC, WIFI_MAC = "02:be:00:00:00:10", "02:be:00:00:00:20"
PORT = 5201

# Every error of the bench (and of gwtest's helpers) names what failed.
BenchError = gwtest.Fail


def in_ns(ns, *cmd, **kw):
    return sh(*cmd, ns=ns, **kw)


# ------------------------------------------------------------ policies

WORDS = ["ads", "track", "metrics", "pixel", "beacon", "cdn", "stat", "promo",
         "click", "banner", "telemetry", "analytics", "tag", "sync", "push", "media"]
SECONDS = ["adnet", "trackhub", "doubleserve", "pixelfarm", "metricsly", "clickworks",
           "bannerbay", "tagmanager", "syncpoint", "statcounter", "promozone", "adcloud"]
TLDS = ["com", "net", "org", "io", "co.uk", "de", "info", "biz"]
KINDS = ["phone", "laptop", "tablet", "tv", "camera", "thermostat", "console",
         "printer", "speaker", "watch", "desktop", "doorbell"]
GROUPS = ["kids", "adults", "iot", "guests", "media", "work", "cameras", "gaming"]
SCHEDULES = ["bedtime", "school", "weekend", "homework"]
DLISTS = ["social", "streaming", "games", "news", "shopping", "ads-extra", "updates",
          "cloud", "voip", "education"]
PLISTS = ["vendor-cams", "vendor-tv", "cloud-dns", "work-vpn", "game-servers", "backup"]
SITES = ["youtube", "tiktok", "netflix", "twitch", "roblox", "steam", "reddit",
         "instagram", "discord", "spotify", "zoom", "github", "wikipedia", "bbc"]
COMMON_PORTS = [22, 53, 80, 123, 443, 853, 1935, 3389, 5060, 8080, 8443]
RATES = ["500kbit", "1.5mbit", "5mbit", "20mbit", "1gbit"]
MAX_DOMAIN_SETS = 60  # of the 64 an image allows


def write_domains(path, n):
    """A blocklist as they come: mostly hosts, some wildcards, comments."""
    rnd = random.Random(n)
    with open(path, "w") as f:
        f.write("# generated blocklist, %d domains\n" % n)
        for i in range(n):
            if i % 5000 == 0:
                f.write("\n# part %d\n" % (i // 5000))
            f.write("%s%s%x.%s.%s\n" % ("*." if rnd.randrange(1000) < 50 else "",
                                        WORDS[i % len(WORDS)], i, SECONDS[(i // 16) % len(SECONDS)],
                                        TLDS[(i // 7) % len(TLDS)]))


def group(g):
    return GROUPS[g] if g < len(GROUPS) else "group-%d" % g


def write_policy(path, rules, domains_file, variant):
    """A policy of exactly `rules` rules; `variant` changes its last rule."""
    if rules < 3:
        raise BenchError("a policy needs at least 3 rules here")
    rnd = random.Random(rules)
    devices = max(rules // 10, 4)
    persons = max(devices // 4, 2)
    groups = min(max(devices // 16, len(GROUPS)), 64)
    out = ["# generated by tools/bench-apply.py: %d rules, variant %d" % (rules, variant),
           "zone home.arpa", 'timezone "Europe/London"',
           "lan 192.168.0.0/16, 10.0.0.0/8, fd00::/8, fe80::/10", ""]
    out += ["person p%d" % i for i in range(persons)]
    out += ["group %s" % group(i) for i in range(groups)]
    for i in range(devices):
        line = "device %s-%d mac 02:00:%02x:%02x:%02x:00" % (
            KINDS[i % len(KINDS)], i, i >> 16 & 255, i >> 8 & 255, i & 255)
        if i % 3 == 0:
            line += ", 02:00:%02x:%02x:%02x:01" % (i >> 16 & 255, i >> 8 & 255, i & 255)
        if i % 8 != 7:
            line += " owner p%d" % (i % persons)
        line += " group " + group(i % groups)
        if i % 4 == 0:
            line += ", " + group((i + 1 + (i // 4) % (groups - 1)) % groups)
        out.append(line)
    out.append("device bench-wired mac %s owner p0 group %s" % (LAN_MAC, group(0)))
    out.append("device bench-phone mac %s owner p1 group %s" % (WIFI_MAC, group(1)))
    out += ["", "schedule bedtime {", "\tmon-thu,sun 21:00-07:00", "\tfri,sat 23:00-08:00", "}",
            "schedule school mon-fri 08:00-15:00", "schedule weekend sat,sun 09:00-21:00",
            "schedule homework mon-fri 16:00-18:00", ""]
    out.append('list blocklist domains file "%s"' % domains_file)
    for l, name in enumerate(DLISTS):
        out.append("list %s domains {" % name)
        for k in range(6):
            out.append("\t%s%s-%d.%s" % ("*." if k % 3 == 0 else "",
                                          SITES[(l * 3 + k) % len(SITES)], l, TLDS[k % len(TLDS)]))
        out.append("}")
    for l, name in enumerate(PLISTS):
        out.append("list %s prefixes {" % name)
        out += ["\t198.%d.%d.0/24" % (18 + l % 2, l * 16 + k) for k in range(4)]
        out.append("\t2001:db8:%x::/48" % (l + 1))
        out.append("}")
    out.append("")
    # First match wins: the benchmark's streams are allowed by this rule.
    out.append("rule bench-streams allow device bench-wired, bench-phone proto udp port %d" % PORT)
    inline_left = [MAX_DOMAIN_SETS - 1 - len(DLISTS)]
    for i in range(rules - 2):
        out.append(rule_line(rnd, i, devices, persons, groups, inline_left))
    out.append("rule bench-variant block device %s-0 to 198.51.100.%d proto tcp port 9%03d"
               % (KINDS[0], variant, variant))
    out += ["", "default allow", "default new block", ""]
    with open(path, "w") as f:
        f.write("\n".join(out))


def rule_line(rnd, i, devices, persons, groups, inline_left):
    a = rnd.randrange(100)
    action = "allow" if a < 50 else "block" if a < 90 else "reject"
    s = ["rule r%d-%s %s" % (i, action, action)]
    r, n = rnd.randrange(100), 1 + rnd.randrange(3)
    is_new = False
    if r < 2:
        s.append("any")
    elif r < 4:
        s.append("new")
        is_new = True
    elif r < 16:
        g = rnd.randrange(groups)
        s.append("group " + group(g) + (", " + group((g + 1) % groups) if n > 1 else ""))
    elif r < 36:
        p = rnd.randrange(persons)
        s.append("person p%d" % p + (", p%d" % ((p + 1) % persons) if n > 1 else ""))
    else:
        d = (i // 10 + rnd.randrange(3)) % devices
        names = ["%s-%d" % (KINDS[x % len(KINDS)], x)
                 for x in sorted({(d + k) % devices for k in range(n)})]
        s.append("device " + ", ".join(names))
    p = rnd.randrange(100)
    # A rule for everyone names its own service (a port of its own):
    # a household does not write hundreds of rules that an earlier
    # `any` rule already decides (gwctl would warn "can never match").
    broad = r < 4
    icmp = p < 5 and not broad
    ported = broad or (not icmp and rnd.randrange(100) < 90)
    s.append(destinations(rnd, i, is_new, not ported, inline_left))
    if icmp:
        s.append("proto icmp")
    elif p < 40:
        s.append("proto tcp")
    elif p < 50:
        s.append("proto udp")
    elif p < 60:
        s.append("proto tcp, udp")
    if broad:
        s.append("port %d" % (10000 + i))
    elif ported:
        k = rnd.randrange(10)
        if k < 4:
            s.append("port %d" % (10000 + i))
        elif k < 7:
            s.append("port %d, %d" % (rnd.choice(COMMON_PORTS), 10000 + i))
        elif k < 9:
            s.append("port %d-%d" % (20000 + i, 20000 + i + rnd.randrange(50)))
        else:
            s.append("port %d" % rnd.choice(COMMON_PORTS))
    if rnd.randrange(100) < 20:
        s.append("during " + rnd.choice(SCHEDULES))
    if a < 50 and rnd.randrange(100) < 15:
        s.append("rate " + rnd.choice(RATES))
    if rnd.randrange(100) < 20:
        s.append("log")
    return " ".join(x for x in s if x)


def destinations(rnd, i, is_new, narrow, inline_left):
    if is_new:
        return "to internet"
    if not narrow and rnd.randrange(100) < 4:
        return ""
    used, items, inline = set(), [], False
    n = 1 + rnd.randrange(3)
    for _ in range(10):
        if len(items) >= n:
            break
        r = rnd.randrange(100)
        dl, pl = rnd.choice(DLISTS), rnd.choice(PLISTS)
        kind = ("internet" if r < 15 else "blocklist" if r < 22 else "dlist" if r < 47
                else "plist" if r < 62 else "idomain" if r < 77 else "iprefix" if r < 90
                else "lan")
        key = dl if kind == "dlist" else pl if kind == "plist" else kind
        if key in used or (narrow and kind in ("internet", "lan")) or \
                (kind == "idomain" and not inline and not inline_left[0]):
            continue
        used.add(key)
        if kind in ("internet", "lan"):
            items.append(kind)
        elif kind == "blocklist":
            items.append("list blocklist")
        elif kind in ("dlist", "plist"):
            items.append("list " + key)
        elif kind == "idomain":
            if not inline:
                inline_left[0] -= 1
            inline = True
            items.append("%s%s-r%d.%s" % ("*." if rnd.randrange(2) else "",
                                         rnd.choice(SITES), i, rnd.choice(TLDS)))
        elif rnd.randrange(3):
            items.append("203.0.%d.%d/26" % (i % 256, rnd.randrange(4) * 64))
        else:
            items.append("2001:db8:ff:%x::/64" % i)
    return "to " + ", ".join(items) if items else "to list blocklist"


# ------------------------------------------------------------ streams

class Stream:
    """A UDP stream from namespace src_ns to dst:PORT, received in dst_ns."""

    def __init__(self, bench, name, src_ns, dst_ns, dst):
        self.b, self.name = bench, name
        self.src_ns, self.dst_ns, self.dst = src_ns, dst_ns, dst
        self.sender = self.receiver = None

    def start(self, pps):
        ready = os.path.join(self.b.work, self.name + ".ready")
        if os.path.exists(ready):
            os.unlink(ready)  # an earlier phase's
        # Datagrams of 116 bytes: a sequence number and the send time
        # (CLOCK_MONOTONIC) in the first 16.
        self.receiver = self.b.spawn(self.name + "-rx", self.dst_ns, programs.python(
            "udp_recv.py", self.dst, PORT, "--ready", ready), out=True)
        self.b.wait_for("%s's receiver" % self.name, lambda: os.path.exists(ready))
        self.sender = self.b.spawn(self.name + "-tx", self.src_ns, programs.python(
            "udp_send.py", self.dst, PORT, "--pps", pps, "--size", 116), out=True)

    def stop(self):
        """{"sent", "received", "lost", "gaps": [[first, last, t_before, t_after]]}"""
        sent = self.b.finish(self.name + "-tx", self.sender)
        time.sleep(0.5)  # the last packets on their way
        got = self.b.finish(self.name + "-rx", self.receiver)
        self.sender = self.receiver = None
        # Packets before the first and after the last received: lost at
        # the stream's start or end, outside every apply (the windows are
        # at least a second away from both).
        gaps = got["gaps"]
        if got["first"] > 0:
            gaps.insert(0, [0, got["first"] - 1, None, None])
        if sent["sent"] - 1 > got["max"]:
            gaps.append([got["max"] + 1, sent["sent"] - 1, None, None])
        return {"sent": sent["sent"], "received": got["received"],
                "lost": sent["sent"] - got["received"], "send_errors": sent["send_errors"],
                "gaps": gaps}


# ------------------------------------------------------------ the bench

class Bench:
    def __init__(self, args):
        self.args = args
        build = os.path.abspath(args.build)
        self.gwd_bin = os.path.join(build, "control", "gwd")
        self.gwctl_bin = os.path.join(build, "tools", "gwctl")
        self.dp_bin = os.path.join(build, "dataplane", "gw-dataplane")
        self.work = args.keep or tempfile.mkdtemp(prefix="gw-bench-apply-%d-" % PID)
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.dp_sock = os.path.join(self.work, "dataplane.sock")
        self.sock = os.path.join(self.work, "gwd.sock")
        self.procs = Procs(self.work)  # started here, stopped by PID
        self.gwd_log = None

    # -------------------------------------------------------- processes

    def spawn(self, name, ns, argv, out=False, logname=None):
        """argv in netns ns (nsenter --net: this mount namespace, so the
        BPF filesystem and its pins stay visible), by PID; out: its stdout
        is a pipe the bench reads."""
        return self.procs.spawn(name, argv, ns=ns, keep_mounts=True, pipe=out, logname=logname)

    def finish(self, name, p):
        """SIGTERM, then the JSON line it printed."""
        self.procs.forget(name)
        p.send_signal(signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise BenchError("%s did not stop" % name)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError("%s printed no result (exit %s): %s; log %s" % (
                name, p.returncode, out[-300:], os.path.join(self.work, name + ".log")))

    def stop(self, name, sig=signal.SIGTERM):
        self.procs.stop(name, sig)

    def wait_for(self, what, cond, timeout=30.0, proc=None):
        try:
            return gwtest.wait_for(what, cond, timeout, proc=self.procs.get(proc) if proc else None,
                                   ignore=(OSError,))
        except gwtest.Fail as e:
            raise BenchError("%s (log %s)" % (e, self.procs.logs.get(proc))) if proc else e

    # -------------------------------------------------------- topology

    def mac(self, ns, dev):
        return mac_of(ns, dev)

    def topology(self):
        for role in ("gw", "lan", "inet", "wifi"):
            NETNS.add(role, ipv6=False)
        sh("ip", "-n", NS_GW, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0",
           "netns", NS_LAN)
        sh("ip", "-n", NS_GW, "link", "add", "wan0", "type", "veth", "peer", "name", "i0",
           "netns", NS_INET)
        sh("ip", "-n", NS_GW, "link", "add", "wlan0", "type", "veth", "peer", "name", "eth0",
           "netns", NS_WIFI)
        sh("ip", "-n", NS_LAN, "link", "set", "eth0", "address", LAN_MAC)
        sh("ip", "-n", NS_WIFI, "link", "set", "eth0", "address", WIFI_MAC)
        for dev in ("lan0", "wan0", "wlan0"):
            sh("ip", "-n", NS_GW, "link", "set", dev, "up")
        sh("ip", "-n", NS_GW, "addr", "add", WIFI_GW + "/24", "dev", "wlan0")
        # The wired ports belong to gw-dataplane: this kernel must not
        # answer or route what arrives on them (af_packet reads first).
        in_ns(NS_GW, "nft", "-f", "-", input="""
table netdev gwba_ports {
    chain lan0 { type filter hook ingress device "lan0" priority 0; policy drop; }
    chain wan0 { type filter hook ingress device "wan0" priority 0; policy drop; }
}
""")
        for ns, dev, addr, gw in ((NS_LAN, "eth0", LAN_DEV + "/24", LAN_GW),
                                  (NS_WIFI, "eth0", WIFI_DEV + "/24", WIFI_GW),
                                  (NS_INET, "i0", ISP_IP + "/24", None)):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            if gw:
                sh("ip", "-n", ns, "route", "add", "default", "via", gw)
            # veth leaves UDP checksums to "hardware"; gw-dataplane passes
            # them on unfinished and the receiver would drop them.
            in_ns(ns, "ethtool", "-K", dev, "tx", "off")
        sh("ip", "-n", NS_INET, "addr", "add", SERVER + "/32", "dev", "lo")
        # --no-twins: nobody answers ARP for the gateway's wired addresses.
        sh("ip", "-n", NS_LAN, "neigh", "replace", LAN_GW, "lladdr", self.mac(NS_GW, "lan0"),
           "dev", "eth0", "nud", "permanent")
        sh("ip", "-n", NS_INET, "neigh", "replace", WAN_IP, "lladdr", self.mac(NS_GW, "wan0"),
           "dev", "i0", "nud", "permanent")
        # And the phone's: no ARP queue at its stream's start.
        sh("ip", "-n", NS_WIFI, "neigh", "replace", WIFI_GW, "lladdr", self.mac(NS_GW, "wlan0"),
           "dev", "eth0", "nud", "permanent")

    def dataplane(self):
        args = [self.dp_bin, "-l", self.args.lcores, "--no-huge", "-m", "512", "--no-pci",
                "--file-prefix", DPDK_PREFIX, "--log-level", "lib.eal:error",
                "--vdev", "net_af_packet0,iface=lan0", "--vdev", "net_af_packet1,iface=wan0",
                "--", "--lan", "0", "--wan", "1", "--no-twins",
                "--lan-ip", LAN_GW + "/24", "--wan-ip", WAN_IP + "/24",
                "--wan-gw-mac", self.mac(NS_INET, "i0"), "--control", self.dp_sock]
        self.spawn("dataplane", NS_GW, args)
        self.wait_for("gw-dataplane's control socket", lambda: self.dp_health() is not None,
                      proc="dataplane")

    def gwd(self, tag, engines):
        self.stop("gwd")
        conf = os.path.join(self.work, "gwd-%s.conf" % tag)
        with open(conf, "w") as f:
            # The benchmark measures applies, not the guard (tests/nft).
            f.write("state_dir = %s\nsocket = %s\ndataplane = %s\nguard = off\n" % (
                os.path.join(self.work, "state-" + tag), self.sock, self.dp_sock))
            if "ebpf" in engines:
                f.write("ebpf_ports = wlan0\nbpf_pin_root = %s\n" % PINS)
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        # Each phase's gwd has a log of its own.
        self.spawn("gwd", NS_GW, [self.gwd_bin, "-c", conf], logname="gwd-" + tag)
        self.gwd_log = self.procs.logs["gwd"]
        self.wait_for("gwd's API socket", lambda: self.gwctl("status").returncode == 0,
                      proc="gwd")
        st = self.status()
        names = sorted(e["name"] for e in st["engines"] if e["name"] != "file")
        if names != sorted(engines):
            raise BenchError("gwd runs engines %s, expected %s" % (names, sorted(engines)))

    def down(self):
        self.procs.close()
        NETNS.close()
        remove_pins(PINS)
        remove_dpdk_runtime(DPDK_PREFIX)
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # -------------------------------------------------------- witnesses

    def gwctl(self, *args):
        return subprocess.run([self.gwctl_bin, *args], capture_output=True, text=True,
                              env=dict(os.environ, GWD_SOCKET=self.sock), timeout=120)

    def status(self):
        r = self.gwctl("status", "--json")
        if r.returncode:
            raise BenchError("gwctl status: %s" % r.stderr.strip())
        return json.loads(r.stdout)

    def dp_health(self):
        if not os.path.exists(self.dp_sock):
            return None
        return proto.health(self.dp_sock)

    def dp_image_info(self):
        ii = proto.image_info(self.dp_sock)
        # None: no policy loaded yet (-ENOENT), as a generation 0.
        return ii or {"generation": 0, "nrules": 0, "crc": 0, "size": 0}

    def apply_line(self, gen):
        """gwd's `event=apply gen=GEN` line as a dict."""
        with open(self.gwd_log, errors="replace") as f:
            for line in f:
                if " event=apply gen=%d " % gen in line:
                    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        raise BenchError("no event=apply gen=%d line in %s" % (gen, self.gwd_log))

    def check_flows(self, engines):
        """The streams went through the engines: gwd's flow collector has
        each engine's stream flow, allowed by the first rule."""
        r = self.gwctl("flows", "--json", "--limit", "1000")
        if r.returncode:
            raise BenchError("gwctl flows: %s" % r.stderr.strip())
        got = json.loads(r.stdout)
        flows = got.get("flows", []) if isinstance(got, dict) else got
        for e in engines:
            if not any(f.get("engine") == e and f.get("dport") == PORT and
                       f.get("verdict") == "allow" and f.get("rule") == "bench-streams"
                       for f in flows):
                raise BenchError("no allowed stream flow from the %s engine in gwd's flows: "
                                 "the stream did not go through it" % e)

    # -------------------------------------------------------- one phase

    def compiled(self, path):
        img = path + ".img"
        r = self.gwctl("policy", "compile", path, "-o", img)
        if r.returncode:
            raise BenchError("gwctl policy compile %s: %s" % (path, r.stderr.strip()[-2000:]))
        with open(img, "rb") as f:
            data = f.read()
        os.unlink(img)
        return {"crc": image_crc(data), "size": len(data), "image": data}

    def dp_load_times(self, images, n):
        """LOAD_IMAGE straight to gw-dataplane, gwd stopped: the
        dataplane's own part of gwd's commit (its reply comes once the new
        classifier is built and published).  Milliseconds, n loads."""
        out = []
        with proto.Client(self.dp_sock) as c:
            for i in range(n):
                t0 = time.monotonic()
                st, reason, _ = c.call(proto.LOAD_IMAGE, images[i % 2]["image"])
                out.append((time.monotonic() - t0) * 1e3)
                if st != 0:
                    raise BenchError("LOAD_IMAGE straight to gw-dataplane: status %d %s"
                                     % (st, reason))
        return out

    def api_apply(self, path):
        """policy.apply straight on gwd's API socket, as gwctl sends it:
        None, or the first line of the error."""
        reply = request(self.sock, "policy.apply", timeout=60, path=path, message="bench")
        if reply is None:
            raise BenchError("gwd closed the API connection")
        if not reply.get("ok"):
            return "%s" % reply.get("error")
        return None

    def apply(self, path, want, via="gwctl"):
        """One timed apply (by a gwctl process, or straight on the API
        socket) and its checks: a dict of times (ms) and the apply window
        on the monotonic clock."""
        before = self.dp_image_info()
        t0 = time.monotonic()
        if via == "gwctl":
            r = self.gwctl("policy", "apply", path, "-m", "bench")
            refused = (r.stderr.strip().splitlines() or ["?"])[0] if r.returncode else None
        else:
            refused = self.api_apply(path)
        t1 = time.monotonic()
        if refused:
            return {"refused": refused}
        ii = self.dp_image_info()
        t2 = time.monotonic()
        if (ii["crc"], ii["size"]) != (want["crc"], want["size"]) or \
                ii["generation"] <= before["generation"]:
            raise BenchError("after the apply reply, IMAGE_INFO shows %s (before: %s), "
                             "expected crc %08x size %d" % (ii, before, want["crc"], want["size"]))
        st = self.status()
        bad = [e for e in st["engines"] if e["generation"] != st["generation"] or e["state"] != "ok"]
        if bad:
            raise BenchError("engines not at generation %d after the reply: %s" % (
                st["generation"], bad))
        line = self.apply_line(st["generation"])
        out = {"wall": (t1 - t0) * 1e3, "image_info_after": (t2 - t1) * 1e3,
               "window": (t0, t1), "gen": st["generation"], "via": via}
        for k in ("ms", "compile_ms", "text_ms", "check_ms", "record_ms", "finish_ms"):
            if k in line:
                out["gwd_" + k] = float(line[k])
        for k in ("prepare_ms", "commit_ms"):
            for part in line.get(k, "").split(","):
                if ":" in part:
                    eng, ms = part.split(":")
                    out["%s_%s" % (k[:-3], eng)] = float(ms)
        return out

    def phase(self, rules, engines, domains_file):
        tag = "r%d" % rules
        paths = []
        for v in (0, 1):
            p = os.path.join(self.work, "policy-r%d-%d.gw" % (rules, v))
            write_policy(p, rules, domains_file, v)
            paths.append(p)
        want = [self.compiled(p) for p in paths]
        self.gwd(tag, engines)
        res = {"rules": rules, "engines": engines, "image_mb": want[0]["size"] / 1e6,
               "applies": [], "streams": {}}
        first = self.apply(paths[0], want[0])
        if "refused" in first:
            res["refused"] = first["refused"]
            return res
        streams = [Stream(self, "wired", NS_LAN, NS_INET, SERVER)]
        if "ebpf" in engines:
            streams.append(Stream(self, "wifi", NS_WIFI, NS_GW, WIFI_GW))
        try:
            for s in streams:
                s.start(self.args.pps)
            time.sleep(1.0)
            # Alternately by gwctl and straight on the socket: what gwctl
            # adds (a process, printing warnings) shows as the difference.
            for i in range(2 * self.args.applies):
                k = (i + 1) % 2
                a = self.apply(paths[k], want[k], via=("gwctl", "api")[i % 2])
                if "refused" in a:
                    raise BenchError("apply %d of %s refused: %s" % (i, tag, a["refused"]))
                res["applies"].append(a)
                time.sleep(0.3)
            time.sleep(1.0)
            self.check_flows(engines)
        finally:
            for s in streams:
                if s.sender:
                    res["streams"][s.name] = s.stop()
        self.stop("gwd")
        res["dp_load"] = self.dp_load_times(want, 5)
        windows = [a["window"] for a in res["applies"]]
        for name, st in res["streams"].items():
            st["lost_in_apply"] = sum(
                g[1] - g[0] + 1 for g in st["gaps"]
                if g[2] is not None and any(g[2] < w1 + 0.05 and g[3] > w0 for w0, w1 in windows))
        return res


def pct(values, q):
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, -(-len(v) * q // 100) - 1)]


def uptime():
    with open("/proc/loadavg") as f:
        return "load average %s" % " ".join(f.read().split()[:3])


def report(results, args):
    print("\n| rules | engines | image MB | applies | gwctl median ms | gwctl p90 ms | "
          "API median ms | API p90 ms | gwd ms | compile | text | check | prepare | record | "
          "commit | finish |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
          "--- | ---: | --- | ---: |")
    for r in results:
        if "refused" in r:
            print("| %d | %s | %.2f | refused: %s |" % (r["rules"], "+".join(r["engines"]),
                                                      r["image_mb"], r["refused"]))
            continue
        a = r["applies"]

        def med(k):
            vals = [x[k] for x in a if k in x]
            return statistics.median(vals) if vals else float("nan")
        prep = ", ".join("%s %.1f" % (e, med("prepare_" + e)) for e in ["file"] + r["engines"])
        com = ", ".join("%s %.1f" % (e, med("commit_" + e)) for e in ["file"] + r["engines"])
        walls = [x["wall"] for x in a if x["via"] == "gwctl"]
        api = [x["wall"] for x in a if x["via"] == "api"]
        print("| %d | %s | %.2f | %d+%d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f "
              "| %s | %.1f | %s | %.1f |" % (
                  r["rules"], "+".join(r["engines"]), r["image_mb"], len(walls), len(api),
                  statistics.median(walls), pct(walls, 90), statistics.median(api),
                  pct(api, 90), med("gwd_ms"), med("gwd_compile_ms"), med("gwd_text_ms"),
                  med("gwd_check_ms"), prep, med("gwd_record_ms"), com, med("gwd_finish_ms")))
    print("\nLOAD_IMAGE straight to gw-dataplane (gwd stopped), median ms:",
          ", ".join("%d rules %.1f" % (r["rules"], statistics.median(r["dp_load"]))
                    for r in results if r.get("dp_load")))
    print("\n| rules | stream | sent | received | lost | lost in an apply's window |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for r in results:
        for name, st in r.get("streams", {}).items():
            print("| %d | %s | %d | %d | %d | %d |" % (r["rules"], name, st["sent"],
                                                    st["received"], st["lost"],
                                                    st["lost_in_apply"]))
            for g in st["gaps"][:10]:
                where = "start or end" if g[2] is None else "sent %.3f-%.3f" % (g[2], g[3])
                print("|  | gap: seq %d-%d, %s | | | | |" % (g[0], g[1], where))


def main():
    ap = argparse.ArgumentParser(description="gwd's apply benchmark (root)")
    ap.add_argument("build")
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--domains", type=int, default=100000)
    ap.add_argument("--applies", type=int, default=10,
                    help="applies per size by gwctl, and as many straight on the socket")
    ap.add_argument("--pps", type=float, default=1000, help="packets a second per stream")
    ap.add_argument("--lcores", default="0,1", help="gw-dataplane's -l (default 0,1: the "
                    "agent on the main lcore, one worker)")
    ap.add_argument("--dp-only-from", type=int, default=4097,
                    help="sizes from this many rules run with the dataplane engine alone "
                    "(the eBPF maps hold 4096 rules)")
    ap.add_argument("--keep", help="work in this folder and leave it")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench-apply: needs root (network namespaces, BPF, DPDK)", file=sys.stderr)
        return 1
    if args.applies < 5:
        print("bench-apply: --applies must be at least 5", file=sys.stderr)
        return 2
    sizes = [int(x) for x in args.sizes.split(",")]
    b = Bench(args)
    for exe in (b.gwd_bin, b.gwctl_bin, b.dp_bin):
        if not os.access(exe, os.X_OK):
            print("bench-apply: %s is not built" % exe, file=sys.stderr)
            return 1
    results = []
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    print("bench-apply: %s; %s" % (time.strftime("%Y-%m-%d %H:%M:%S"), uptime()), flush=True)
    sweep_stale(print)
    try:
        domains = os.path.join(b.work, "blocklist-%d.txt" % args.domains)
        write_domains(domains, args.domains)
        b.topology()
        b.dataplane()
        for r in sizes:
            engines = ["dataplane"] if r >= args.dp_only_from else ["dataplane", "ebpf"]
            print("bench-apply: %d rules, %d domains, engines %s, %d applies ..." % (
                r, args.domains, "+".join(engines), args.applies), flush=True)
            results.append(b.phase(r, engines, domains))
            print("bench-apply: %s" % uptime(), flush=True)
    except BenchError as e:
        print("bench-apply: error: %s" % e, file=sys.stderr)
        report(results, args)
        return 1
    finally:
        b.down()
    report(results, args)
    print("\n%s, --lcores %s, %.0f packets/s per stream" % (uptime(), args.lcores, args.pps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
