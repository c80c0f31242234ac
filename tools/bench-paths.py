#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# The forwarding paths compared on one medium (tools/gw bench paths; root;
# not a test).
#
#   bench-paths.py BUILD_DIR [--rounds N] [--seconds S] [--rules R]
#                  [--flows M] [--only PATHS] [--apply-rules R]
#                  [--ebpf-flows N] [--nft-variant NAME=SPEC]...
#                  [--ebpf-variant NAME=SPEC]... [--trace DIR]
#
# One veth topology in three namespaces: a generator (trafgen, Debian's
# netsniff-ng, from one CPU) -> lan0 of the router under test -> wan0 ->
# a sink, whose received packets are what the router forwarded (the
# sink's veth has GRO on, on every path alike: a veth takes XDP_REDIRECTed
# frames only while its peer has GRO or an XDP program, and the eBPF path
# forwards allowed flows in XDP; GRO does not merge the bench's UDP).  The same
# policy of R rules (1 000 by default; the bench device's stream allowed
# by a rule of its own, every other rule naming other devices,
# destinations and ports) and the same traffic on every path, in the same
# run, the paths taking turns round by round:
#
#   conntrack  plain Linux forwarding with conntrack on (a forward chain
#              `ct state established,related accept; accept`): what an
#              OpenWrt or Debian router does, the reference of every ratio
#   nft        gwd with the guard and the nft engine on lan0 (the policy
#              in the forward chain)
#   ebpf       gwd with the guard and the eBPF classifier on lan0 (gwd's
#              default hook for a veth: TC ingress, with its forward of
#              allowed flows; `--ebpf-variant 'xdp=ebpf_attach = xdp'`
#              measures it at XDP)
#   dpdk       gw-dataplane on net_af_xdp over lan0 and wan0 (the kernel
#              does not see them), the policy loaded at start
#
# --nft-variant NAME=SPEC adds a path nft-NAME: gwd's nft engine as on
# the nft path, with SPEC's changes (';'-separated: `rules=N` for a policy
# of N rules, or a gwd.conf line such as `nft_flows = off`), measured in
# the same rounds, so what a part costs is a ratio of the same run.
# --ebpf-variant NAME=SPEC: the same for the eBPF path (ebpf-NAME), e.g.
# `fwd=ebpf_forward = on`.
# --trace DIR: on each nft path's first round, the table (`nft list table
# inet gw`) into DIR/PATH.table and one established and one new packet
# traced (`nft monitor trace`, a `meta nftrace set 1` at raw priority)
# into DIR/PATH-KIND.trace: the chains and rules a packet goes through.
#
# Two kinds of traffic, UDP, 64-byte frames: established (M flows, 64 512
# by default, source ports from 1024, cycled: after a warm-up pass every
# packet belongs to a flow conntrack knows) and new (every packet a flow of its own: random destination
# ports).  For each path and kind: packets a second the sink received, and
# CPU per packet (every CPU's busy time over the packets forwarded, the
# generator's included: it is the same on every path; and other work on
# the machine too), and the softirq time per packet (where the kernel
# forwards a veth's packets, XDP included; much less of other work), as
# ratios to the mean of the two conntrack runs around it in its round;
# the medians over the rounds are printed, and each pps ratio round by
# round with its spread.
# Also the time gwd takes to apply a policy of --apply-rules rules (10 000)
# to the nft engine (its prepare and commit, from the apply log line; and
# the CPU time of gwd's thread in them, kernel included, from the engine's
# lines), and, on the eBPF path, the classifier program's own run time per packet
# (bpf stats, kernel.bpf_stats_enabled on for the run).  Each line shows
# the load average: on a shared machine the figures are only as good as
# the quiet they were taken in.
# Targets, PASS or FAIL each: the nft engine's apply of 10 000 rules under
# 250 ms; its established rate at least 0.9 of conntrack's; the eBPF
# classifier's at least 1.0; new flows on every gw path at least as many a
# second as conntrack's.  Written on tests/lib/gwtest (namespaces
# gwba<PID>p-*, everything removed at the end, also on failure).
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "lib"))
from gwtest import Fail, wait_for  # noqa: E402
from gwtest.gwd import Gwd  # noqa: E402
from gwtest.net import Netns, connectable, remove_dpdk_runtime, remove_pins, sh  # noqa: E402
from gwtest.proc import Procs  # noqa: E402

GEN_MAC, LAN0_MAC = "02:62:00:00:00:02", "02:62:00:00:00:01"
WAN0_MAC, SINK_MAC = "02:62:00:00:01:01", "02:62:00:00:01:02"
BENCH_MAC = GEN_MAC
PATHS = ("conntrack", "nft", "ebpf", "dpdk")
# trafgen --cpus 1 forks one process and pins it to CPU 0.
GEN_CPU = 0
DP_FLOWS = 262144  # gw-dataplane's --flows

CONNTRACK_NFT = """table inet benchct {
    chain forward_ct {
        type filter hook forward priority 0; policy accept;
        ct state established,related accept
        accept
    }
}
"""

# DPDK owns the wired ports: the kernel does not answer on them.
DPDK_PORTS_NFT = """table netdev benchdpdk {
    chain lan0 { type filter hook ingress device "lan0" priority 0; policy drop; }
    chain wan0 { type filter hook ingress device "wan0" priority 0; policy drop; }
}
"""


def policy_text(rules, devices=100):
    """R rules of a household of `devices` devices: every rule but the last
    names one of them, a server and a port; the last allows the bench
    device's UDP to the bench servers (198.18.0.0/15)."""
    out = ["device bench mac %s" % BENCH_MAC]
    out += ["device d%d mac 02:63:00:00:%02x:%02x" % (d, d >> 8, d & 255)
            for d in range(devices)]
    ports = ["22", "25", "110", "3389", "5000-5100", "6881-6889", "25565"]
    for i in range(rules - 1):
        action = ("block", "reject", "allow")[i % 3]
        out.append("rule r%d %s device d%d to 203.%d.%d.0/24 proto tcp port %s" % (
            i, action, i % devices, i >> 8 & 255, i & 255, ports[i % len(ports)]))
    out.append("rule bench-stream allow device bench to 198.18.0.0/15 proto udp")
    out += ["default block", "default new block"]
    return "\n".join(out) + "\n"


def trafgen_conf(kind, flows=64512):
    """trafgen's packet: UDP from the bench device; established: source
    ports cycled over `flows` flows (from 1024); new: a random destination
    port too."""
    dp = "drnd()" if kind == "new" else "5201"
    return ("{\n  eth(da=%s, sa=%s, type=0x0800),\n"
            "  ipv4(saddr=10.50.0.10, daddr=198.18.0.1, ttl=64),\n"
            "  udp(sp=dinc(1024, %d), dp=%s),\n  fill(0x41, 18)\n}\n" % (
                LAN0_MAC, GEN_MAC, 1024 + flows - 1, dp))


def cpu_busy():
    """Seconds every CPU was busy (user, nice, system, irq, softirq,
    steal), and of that in softirq (where the kernel forwards a veth's
    packets: this kernel counts it by ticks)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz, v[6] / hz


def dp_lcores():
    """gw-dataplane's -l: the main lcore on CPU 0, beside trafgen (its one
    process is pinned to CPU 0), and the worker on another CPU; one lcore
    on CPU 0 on a host of one CPU."""
    others = sorted(os.sched_getaffinity(0) - {GEN_CPU})
    return "%d,%d" % (GEN_CPU, others[0]) if others else str(GEN_CPU)


def load_average():
    return os.getloadavg()[0]


def classifier_prog_ids(ns, dev):
    """The ids of the eBPF classifier's programs on dev (bpftool net
    show): its XDP program, or gw_classify_tc at TC ingress (gwd's
    ebpf_attach; TC on a veth by default, docs/ebpf.md)."""
    import json
    out = sh("bpftool", "-j", "net", "show", "dev", dev, ns=ns)
    ids = []
    for block in json.loads(out):
        for x in block.get("xdp", []):
            if "id" in x:
                ids.append(x["id"])
        for x in block.get("tc", []):
            if "id" in x and x.get("name", "").startswith("gw_classify_tc"):
                ids.append(x["id"])
    return ids


def prog_stats(ids):
    """(run time ns, runs) summed over the programs ids (bpf stats)."""
    import json
    t = n = 0
    for i in ids:
        p = json.loads(sh("bpftool", "-j", "prog", "show", "id", str(i)))
        t += p.get("run_time_ns", 0)
        n += p.get("run_cnt", 0)
    return t, n


def classifier_counters(build_root, ids):
    """The eBPF classifier's counters (gw_counters of the programs ids,
    summed over CPUs), by name: the enum of ebpf/gw_bpf_abi.h."""
    import json
    import struct
    with open(os.path.join(build_root, "ebpf", "gw_bpf_abi.h")) as f:
        text = f.read()
    body = re.search(r"enum gwbpf_counter \{(.*?)\};", text, re.S).group(1)
    names = re.findall(r"^\s*GWBPF_CNT_(\w+)\s*[,=]", body, re.M)
    total = {}
    for i in ids:
        p = json.loads(sh("bpftool", "-j", "prog", "show", "id", str(i)))
        for m in p.get("map_ids", []):
            info = json.loads(sh("bpftool", "-j", "map", "show", "id", str(m)))
            if info.get("name") != "gw_counters":
                continue
            for ent in json.loads(sh("bpftool", "-j", "map", "dump", "id", str(m))):
                for cpu in ent.get("values", []):
                    raw = bytes(int(b, 16) for b in cpu["value"])
                    for k, v in enumerate(struct.unpack("<%dQ" % (len(raw) // 8), raw)):
                        if k < len(names):
                            total[names[k]] = total.get(names[k], 0) + v
    return total


def ct_stats(ns):
    """conntrack's statistics in namespace ns, summed over CPUs
    (`conntrack -S`: early_drop, drop, insert_failed, ...) and its entry
    count (`count`)."""
    total = {}
    for line in sh("conntrack", "-S", ns=ns).splitlines():
        for field in line.split():
            k, sep, v = field.partition("=")
            if sep and v.isdigit() and k != "cpu":
                total[k] = total.get(k, 0) + int(v)
    total["count"] = int(sh("sysctl", "-n", "net.netfilter.nf_conntrack_count", ns=ns))
    return total


def rx_packets(ns, dev):
    out = sh("ip", "-n", ns, "-s", "-j", "link", "show", dev)
    import json
    return json.loads(out)[0]["stats64"]["rx"]["packets"]


TRACE_NFT = """table inet benchtrace {
    chain pre {
        type filter hook prerouting priority -350; policy accept;
        iifname "lan0" udp dport %s limit rate 1/second burst 1 packets meta nftrace set 1
    }
}
"""


def parse_variants(specs, base):
    """{path name: (base path, rules or None, [gwd.conf lines])} of
    --nft-variant or --ebpf-variant (base "nft" or "ebpf")."""
    out = {}
    for spec in specs:
        name, sep, body = spec.partition("=")
        if not sep or not re.fullmatch(r"[a-z0-9]+", name):
            raise SystemExit("--%s-variant %r: NAME=SPEC, NAME of a-z0-9" % (base, spec))
        rules, conf = None, []
        for part in (x.strip() for x in body.split(";") if x.strip()):
            m = re.fullmatch(r"rules=(\d+)", part)
            if m:
                rules = int(m.group(1))
            elif re.fullmatch(r"\w+\s*=\s*\S.*", part):
                conf.append(part)
            else:
                raise SystemExit("--%s-variant %r: %r is neither rules=N nor a gwd.conf line"
                                 % (base, spec, part))
        out[base + "-" + name] = (base, rules, conf)
    return out


class Bench:
    def __init__(self, build, args, work):
        self.build, self.args, self.work = build, args, work
        self.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        self.gwd_bin = os.path.join(build, "control", "gwd")
        self.gwctl_bin = os.path.join(build, "tools", "gwctl")
        self.dp_bin = os.path.join(build, "dataplane", "gw-dataplane")
        self.pins = "/sys/fs/bpf/gw-paths-%d" % os.getpid()
        self.prefix = "gwba%dp-dp" % os.getpid()
        self.policy = os.path.join(work, "bench.gw")
        with open(self.policy, "w") as f:
            f.write(policy_text(args.rules))
        self.variants = parse_variants(args.nft_variant, "nft")
        self.variants.update(parse_variants(args.ebpf_variant, "ebpf"))
        self.nets = self.procs = self.gwd = None
        self.dp_log_at = 0

    # ----------------------------------------------------------- topology

    def up(self):
        self.nets = Netns("gwba", tag="%dp" % os.getpid())
        self.procs = Procs(self.work)
        self.gen, self.dut, self.sink = (self.nets.add(r, ipv6=False)
                                         for r in ("gen", "dut", "sink"))
        sh("ip", "-n", self.gen, "link", "add", "eth0", "address", GEN_MAC, "type", "veth",
           "peer", "name", "lan0", "address", LAN0_MAC, "netns", self.dut)
        sh("ip", "-n", self.dut, "link", "add", "wan0", "address", WAN0_MAC, "type", "veth",
           "peer", "name", "eth0", "address", SINK_MAC, "netns", self.sink)
        sh("ip", "-n", self.gen, "addr", "add", "10.50.0.10/16", "dev", "eth0")
        sh("ip", "-n", self.dut, "addr", "add", "10.50.0.1/16", "dev", "lan0")
        sh("ip", "-n", self.dut, "addr", "add", "10.60.0.1/24", "dev", "wan0")
        sh("ip", "-n", self.sink, "addr", "add", "10.60.0.2/24", "dev", "eth0")
        for ns, dev in ((self.gen, "eth0"), (self.dut, "lan0"), (self.dut, "wan0"),
                        (self.sink, "eth0")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        # Every path alike: wan0 can then take XDP_REDIRECTed frames (the
        # eBPF path's forward in XDP, docs/ebpf.md).
        sh("ethtool", "-K", "eth0", "gro", "on", ns=self.sink)
        sh("ip", "-n", self.dut, "route", "add", "default", "via", "10.60.0.2")
        sh("ip", "-n", self.dut, "neigh", "replace", "10.60.0.2", "lladdr", SINK_MAC, "dev",
           "wan0", "nud", "permanent")
        sh("ip", "-n", self.dut, "neigh", "replace", "10.50.0.10", "lladdr", GEN_MAC, "dev",
           "lan0", "nud", "permanent")
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.dut)
        # New flows end their conntrack entry soon.  The table still fills
        # in the new-flow stream (about 200 000 flows a second against the
        # host's nf_conntrack_max, 262 144 on Debian's defaults): conntrack
        # then evicts an unreplied entry for each new one (early_drop), on
        # every path alike.  measure() prints how many.
        sh("sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=2", ns=self.dut)
        for kind in ("est", "new"):
            with open(os.path.join(self.work, kind + ".cfg"), "w") as f:
                f.write(trafgen_conf("new" if kind == "new" else "est", self.args.flows))

    def down(self):
        if self.gwd:
            self.gwd.close()
            self.gwd = None
        if self.procs:
            self.procs.close()
        if self.nets:
            self.nets.close()
        remove_pins(self.pins)
        remove_dpdk_runtime(self.prefix)

    # ----------------------------------------------------------- paths

    def start(self, path):
        if path == "conntrack":
            sh("nft", "-f", "-", input=CONNTRACK_NFT, ns=self.dut)
        elif path in ("nft", "ebpf") or path in self.variants:
            base = self.variants[path][0] if path in self.variants else path
            g = self.gwd = Gwd(self.gwd_bin, self.gwctl_bin, netns=self.dut,
                               prefix="gwba-paths-")
            g.conf_add("wan_ports = wan0\nkernel_nat = off\n")
            policy = self.policy
            if path in self.variants:
                _, rules, conf = self.variants[path]
                for line in conf:
                    g.conf_add(line + "\n")
                if rules is not None:
                    policy = os.path.join(self.work, path + ".gw")
                    with open(policy, "w") as f:
                        f.write(policy_text(rules))
            if base != "ebpf":
                g.conf_add("nft_ports = lan0\n")
            else:
                g.conf_add("ebpf_ports = lan0\nbpf_pin_root = %s\n" % self.pins)
                if self.args.ebpf_flows:
                    g.conf_add("ebpf_flows = %d\n" % self.args.ebpf_flows)
            g.conf_add("policy = %s\n" % policy)
            g.start(timeout=120)
            e = g.engine(base)
            if e["state"] != "ok" or e["generation"] != 1:
                raise Fail("gwd's %s engine: %s" % (path, e))
        elif path == "dpdk":
            sh("nft", "-f", "-", input=DPDK_PORTS_NFT, ns=self.dut)
            img = os.path.join(self.work, "bench.img")
            sh(self.gwctl_bin, "policy", "compile", self.policy, "-o", img)
            sock = os.path.join(self.work, "dp.sock")
            # The whole port range for NAT: no kernel path here.  The
            # bench's one device stands for the household: it may hold the
            # whole flow table and NAT range (by default a device holds a
            # quarter of each, docs/dataplane.md, and 3/4 of the bench's
            # flows were dropped as device_flow_cap or device_nat_cap).  trafgen
            # (--cpus 1) runs pinned to CPU 0: the busy-polling worker gets
            # a CPU of its own, the main lcore (asleep in poll()) stays on 0.
            argv = [self.dp_bin, "--no-huge", "-m", "1536", "--file-prefix", self.prefix,
                    "-l", dp_lcores(), "--no-pci", "--vdev", "net_af_xdp0,iface=lan0",
                    "--vdev", "net_af_xdp1,iface=wan0", "--",
                    "--lan", "0", "--wan", "1", "--lan-ip", "10.50.0.1/16",
                    "--wan-ip", "10.60.0.1/24", "--wan-gw-mac", SINK_MAC,
                    "--nat-ports", "1024-65535", "--no-twins",
                    "--mbufs", "16383", "--flows", str(DP_FLOWS), "--device-flows",
                    str(DP_FLOWS), "--device-nat", "64512", "--control", sock,
                    "--policy", img]
            log = os.path.join(self.work, "dataplane.log")
            self.dp_log_at = os.path.getsize(log) if os.path.exists(log) else 0
            p = self.procs.spawn("dataplane", argv, ns=self.dut, keep_mounts=True)
            wait_for("gw-dataplane's control socket", lambda: connectable(sock), timeout=60,
                     proc=p)

    def stop(self, path):
        if self.gwd:
            self.gwd.close()
            self.gwd = None
        if path == "dpdk":
            self.procs.stop("dataplane")
            # What it dropped and why (its counters at the stop): a figure
            # is the path's only if it did the job.
            with open(os.path.join(self.work, "dataplane.log")) as f:
                f.seek(self.dp_log_at)
                drops = re.findall(r"event=drop role=(\w+) reason=(\w+) count=(\d+)", f.read())
            print("  gw-dataplane's drops over the path's run: %s" % (
                ", ".join("%s %s %s" % d for d in drops) or "none"), flush=True)

    def gwd_cpu(self):
        """gwd's CPU seconds so far (user and system, /proc/PID/stat), or
        None without a gwd."""
        if not self.gwd or not self.gwd.proc:
            return None
        try:
            with open("/proc/%d/stat" % self.gwd.proc.pid) as f:
                v = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")

    def stop_gen(self):
        """Stops trafgen: its whole process group (it runs in a session of
        its own).  Signalled alone, the parent ends and its forked sender
        goes on (reparented to init) until the topology goes: before this,
        the established stream's sender kept running through the new-flow
        measure on every path, both on CPU 0."""
        p = self.procs.get("trafgen")
        if p is not None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.procs.stop("trafgen")

    def worker_cpu(self):
        """gw-dataplane's worker thread (rte-worker-N of this bench's
        --file-prefix): (ns on a CPU, ns waiting for one), from its
        schedstat; None without one."""
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % d) as f:
                    if self.prefix not in f.read():
                        continue
                for t in os.listdir("/proc/%s/task" % d):
                    with open("/proc/%s/task/%s/comm" % (d, t)) as f:
                        if not f.read().startswith("rte-worker-"):
                            continue
                    with open("/proc/%s/task/%s/schedstat" % (d, t)) as f:
                        v = f.read().split()
                    return int(v[0]), int(v[1])
            except OSError:
                continue
        return None

    def gwd_wakeups(self):
        """gwd's voluntary context switches so far (its waits for events:
        each is a wakeup), or None without a gwd."""
        if not self.gwd or not self.gwd.proc:
            return None
        try:
            with open("/proc/%d/status" % self.gwd.proc.pid) as f:
                m = re.search(r"^voluntary_ctxt_switches:\s*(\d+)", f.read(), re.M)
        except OSError:
            return None
        return int(m.group(1)) if m else None

    def trace(self, path, outdir):
        """The table, and one packet of each kind traced through it."""
        with open(os.path.join(outdir, path + ".table"), "w") as f:
            f.write(sh("nft", "list", "table", "inet", "gw", ns=self.dut))
        for kind in ("est", "new"):
            # An established packet: the stream's port after a warm-up;
            # a new one: any other port (random in the new stream).
            sh("nft", "-f", "-", input=TRACE_NFT % (
                "5201" if kind == "est" else "!= 5201"), ns=self.dut)
            mon = self.procs.spawn("monitor", ["nft", "monitor", "trace"], ns=self.dut,
                                   logname="trace-" + path + "-" + kind)
            cfg = os.path.join(self.work, kind + ".cfg")
            self.procs.spawn("trafgen", ["trafgen", "--dev", "eth0", "--conf", cfg, "--cpus",
                                         "1", "--no-sock-mem", "--no-cpu-stats"], ns=self.gen)
            time.sleep(2.5)
            self.stop_gen()
            time.sleep(0.3)
            self.procs.stop("monitor")
            sh("nft", "delete", "table", "inet", "benchtrace", ns=self.dut)
            del mon
            shutil.copy(os.path.join(self.work, "trace-%s-%s.log" % (path, kind)),
                        os.path.join(outdir, "%s-%s.trace" % (path, kind)))

    def measure(self, kind, xdp=False):
        """(packets a second the sink got, CPU seconds per packet, the XDP
        programs' run time per packet they saw in ns or None, the load
        average at the end)."""
        cfg = os.path.join(self.work, kind + ".cfg")
        self.procs.spawn("trafgen", ["trafgen", "--dev", "eth0", "--conf", cfg, "--cpus", "1",
                                     "--no-sock-mem", "--no-cpu-stats"], ns=self.gen)
        time.sleep(self.args.warmup)
        ids = classifier_prog_ids(self.dut, "lan0") if xdp else []
        x0 = prog_stats(ids)
        k0 = classifier_counters(self.root, ids) if ids else {}
        g0, wk0 = self.gwd_cpu(), self.gwd_wakeups()
        w0 = self.worker_cpu()
        ct0 = ct_stats(self.dut)
        p0, (c0, s0), t0 = rx_packets(self.sink, "eth0"), cpu_busy(), time.monotonic()
        time.sleep(self.args.seconds)
        p1, (c1, s1), t1 = rx_packets(self.sink, "eth0"), cpu_busy(), time.monotonic()
        g1, wk1 = self.gwd_cpu(), self.gwd_wakeups()
        w1 = self.worker_cpu()
        ct1 = ct_stats(self.dut)
        # Whether conntrack's table was full (every path alike): entries at
        # the end, and the entries it evicted or could not make.
        print("  conntrack: %d entries, early_drop %d, drop %d, insert_failed %d" % (
            ct1["count"], ct1.get("early_drop", 0) - ct0.get("early_drop", 0),
            ct1.get("drop", 0) - ct0.get("drop", 0),
            ct1.get("insert_failed", 0) - ct0.get("insert_failed", 0)), flush=True)
        if w0 and w1:
            # The busy-polling worker spins whatever the load: its time on
            # its CPU and the time it waited for it, and that time per packet.
            print("  gw-dataplane's worker: ran %.0f ms a second, waited %.0f ms for its CPU, "
                  "%.0f ns a packet" % ((w1[0] - w0[0]) / 1e6 / (t1 - t0),
                                       (w1[1] - w0[1]) / 1e6 / (t1 - t0),
                                       (w1[0] - w0[0]) / max(p1 - p0, 1)), flush=True)
        if g0 is not None and g1 is not None:
            # gwd's own share (its conntrack reader, say), user and kernel.
            print("  gwd: %.0f ms of CPU a second, %.0f ns a packet%s" % (
                (g1 - g0) * 1e3 / (t1 - t0), (g1 - g0) * 1e9 / max(p1 - p0, 1),
                "" if wk0 is None or wk1 is None else
                ", %.0f wakeups a second" % ((wk1 - wk0) / (t1 - t0))), flush=True)
        x1 = prog_stats(ids)
        k1 = classifier_counters(self.root, ids) if ids else {}
        self.stop_gen()
        if ids:
            # Whether the stream is what it says to the classifier: a flow
            # it knows, or one it classifies (again).
            d = {k: k1.get(k, 0) - k0.get(k, 0) for k in k1}
            print("  classifier: %s" % " ".join(
                "%s=%d" % (k.lower(), d.get(k, 0))
                for k in ("FLOW_NEW", "FLOW_RECLASS", "FLOW_EVICT", "FLOW_RACED",
                          "FLOW_UNCACHED", "DROP", "SPOOFED", "EVENT_LOST", "XDP_FORWARD",
                          "XDP_REFRESH")), flush=True)
        pkts = p1 - p0
        if pkts <= 0:
            raise Fail("nothing was forwarded (%s traffic)" % kind)
        xns = (x1[0] - x0[0]) / (x1[1] - x0[1]) if x1[1] > x0[1] else None
        return pkts / (t1 - t0), (c1 - c0) / pkts, xns, load_average(), (s1 - s0) / pkts

    def apply_ms(self, rules):
        """gwd's nft engine: the prepare and commit of a policy of `rules`
        rules, in ms, from its apply log line."""
        big = os.path.join(self.work, "big.gw")
        with open(big, "w") as f:
            f.write(policy_text(rules, devices=max(rules // 10, 4)))
        mark = len(self.gwd.logtext())
        try:
            self.gwd.gwctl("policy", "apply", big, "-m", "bench")
        except (Fail, subprocess.TimeoutExpired) as e:
            raise Fail("the apply of %d rules: %s\ngwd's log: %s" % (
                rules, e, "\n".join(self.gwd.logtext()[mark:].splitlines()[-40:])))
        log = self.gwd.logtext()[mark:]
        m = re.search(r"event=apply .* ms=([\d.]+) .*prepare_ms=\S*nft:([\d.]+) "
                      r"record_ms=([\d.]+) commit_ms=\S*nft:([\d.]+)", log)
        cp = re.search(r"event=nft_prepare .*load_ms=([\d.]+) build_ms=([\d.]+) "
                       r"kernel_ms=([\d.]+) cpu_ms=([\d.]+) runq_ms=([-\d.]+)", log)
        cc = re.search(r"event=nft_commit .*cpu_ms=([\d.]+) runq_ms=([-\d.]+)", log)
        if not m or not cp or not cc:
            raise Fail("no apply line with the nft engine's times: %s" % log[-800:])
        total, prep, record, commit = (float(x) for x in m.groups())
        load_, build, kernel, pcpu, prunq = (float(x) for x in cp.groups())
        ccpu, crunq = float(cc.group(1)), float(cc.group(2))
        print("  apply: nft prepare %.0f ms (load %.0f, build %.0f, kernel %.0f), commit %.1f ms;"
              " whole apply %.0f ms (history record %.0f ms)" % (
                  prep, load_, build, kernel, commit, total, record), flush=True)
        return (prep + commit, pcpu + ccpu, load_average(),
                prunq + crunq if prunq >= 0 and crunq >= 0 else None, total)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--flows", type=int, default=64512,
                    help="established flows, 1 to 64 512 (source ports from 1024)")
    ap.add_argument("--apply-rules", type=int, default=10000)
    ap.add_argument("--only", default=",".join(PATHS))
    ap.add_argument("--ebpf-flows", type=int, default=0,
                    help="gwd.conf's ebpf_flows on the eBPF path (default: gwd's)")
    ap.add_argument("--nft-variant", action="append", default=[],
                    help="NAME=SPEC: a path nft-NAME, the nft path with SPEC's changes "
                         "(';'-separated: rules=N, or a gwd.conf line)")
    ap.add_argument("--ebpf-variant", action="append", default=[],
                    help="NAME=SPEC: a path ebpf-NAME, the eBPF path with SPEC's changes "
                         "(as --nft-variant's)")
    ap.add_argument("--trace", help="a folder for each nft path's table and traced packets")
    args = ap.parse_args()
    if not 1 <= args.flows <= 64512:
        print("--flows: 1 to 64 512")
        return 2
    if os.geteuid() != 0:
        print("bench paths needs root")
        return 77
    if not shutil.which("trafgen"):
        print("trafgen (Debian's netsniff-ng) is not installed")
        return 1
    paths = [p for p in PATHS if p in args.only.split(",")]
    paths += sorted(parse_variants(args.nft_variant, "nft"))
    paths += sorted(parse_variants(args.ebpf_variant, "ebpf"))
    if "conntrack" not in paths:
        paths.insert(0, "conntrack")
    if args.trace:
        os.makedirs(args.trace, exist_ok=True)
    work = tempfile.mkdtemp(prefix="gwba-paths-")
    os.chmod(work, 0o755)
    b = Bench(os.path.abspath(args.build), args, work)
    res = {(p, k): [] for p in paths for k in ("est", "new")}
    # Each gw path's reference: the mean of the conntrack runs just before
    # and just after it in its round (every round: conntrack, then each
    # path followed by conntrack again), so a drift of the machine over a
    # round (these VMs swing by a third in a minute) weighs on a path and
    # its reference alike.
    refs = {(p, k): [] for p in paths for k in ("est", "new")}
    order = [paths[0]]
    for p in paths[1:]:
        order += [p, paths[0]]
    applies = []
    # The classifier program's own run time (bpf stats: global, on only for the
    # run, put back as it was).
    stats0 = None
    if any(p.startswith("ebpf") for p in paths):
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            stats0 = f.read().strip()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
    print("load average at the start: %.1f" % load_average(), flush=True)
    try:
        for rnd in range(args.rounds):
            seq = []
            for path in order:
                got = {}
                seq.append((path, got))
                b.up()
                try:
                    b.start(path)
                    if args.trace and rnd == 0 and path.startswith("nft"):
                        b.trace(path, args.trace)
                    for kind in ("est", "new"):
                        pps, cpu, xns, load, soft = b.measure(kind, xdp=path.startswith("ebpf"))
                        res[(path, kind)].append((pps, cpu, xns, soft))
                        got[kind] = (pps, cpu, xns, soft)
                        print("round %d %-9s %-3s %9.0f pps %7.0f ns CPU/packet, %5.0f ns in "
                              "softirq%s  load %.1f" % (
                                  rnd + 1, path, kind, pps, cpu * 1e9, soft * 1e9,
                                  "" if xns is None else " (classifier program %.0f ns)" % xns, load),
                              flush=True)
                    if path == "nft" and args.apply_rules:
                        ms, cpu_ms, load, runq, total = b.apply_ms(args.apply_rules)
                        applies.append((ms, cpu_ms, runq if runq is not None else -1, total))
                        print("round %d nft apply of %d rules: %.0f ms (%.0f ms CPU, %s ms "
                              "waiting for a CPU)  load %.1f" % (
                                  rnd + 1, args.apply_rules, ms, cpu_ms,
                                  "?" if runq is None else "%.0f" % runq, load), flush=True)
                finally:
                    b.stop(path)
                    b.down()
            for i in range(1, len(seq), 2):
                path, got = seq[i]
                for kind in ("est", "new"):
                    before, after = seq[i - 1][1][kind], seq[i + 1][1][kind]
                    refs[(path, kind)].append(tuple(
                        None if x is None else (x + y) / 2 for x, y in zip(before, after)))
    finally:
        b.down()
        shutil.rmtree(work, ignore_errors=True)
        if stats0 is not None:
            with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
                f.write(stats0)

    def ratios(path, kind, i):
        """path's figure i over its reference's, round by round."""
        if path == "conntrack":
            return [1.0] * len(res[(path, kind)])
        return [r[i] / c[i] for r, c in zip(res[(path, kind)], refs[(path, kind)])]

    def ratio(path, kind, i):
        return statistics.median(ratios(path, kind, i))

    print("\n%-12s %12s %8s %12s %8s %14s %14s %10s %10s" % (
        "path", "est pps", "ratio", "new pps", "ratio", "est CPU ratio", "new CPU ratio",
        "est softirq", "new softirq"))
    for p in paths:
        est = statistics.median(x[0] for x in res[(p, "est")])
        new = statistics.median(x[0] for x in res[(p, "new")])
        print("%-12s %12.0f %8.2f %12.0f %8.2f %14.2f %14.2f %10.2f %10.2f" % (
            p, est, ratio(p, "est", 0), new, ratio(p, "new", 0), ratio(p, "est", 1),
            ratio(p, "new", 1), ratio(p, "est", 3), ratio(p, "new", 3)))
    print("\nthe pps ratios round by round (min-max):")
    for p in paths[1:]:
        print("%-12s est %s (%.2f-%.2f)  new %s (%.2f-%.2f)" % (p, *(
            x for kind in ("est", "new") for v in [ratios(p, kind, 0)]
            for x in (" ".join("%.2f" % r for r in v), min(v), max(v)))))
    if "ebpf" in paths:
        # What the classifier itself costs: its program's run time per
        # packet (bpf stats) against the whole conntrack path's CPU per
        # packet of the same round.
        for kind in ("est", "new"):
            xs = [e[2] for e in res[("ebpf", kind)] if e[2] is not None]
            if not xs:
                continue
            pairs = [(e, c) for e, c in zip(res[("ebpf", kind)], refs[("ebpf", kind)])
                     if e[2] is not None and c[3] > 0]
            share = statistics.median(e[2] / (c[3] * 1e9) for e, c in pairs) if pairs else 0
            print("eBPF classifier (its program alone), %s: %.0f ns a packet, %.2f of the "
                  "conntrack path's softirq time per packet" % (kind, statistics.median(xs),
                                                                share))
    print("load average at the end: %.1f" % load_average())
    verdicts = []
    if applies:
        ms = statistics.median(a[0] for a in applies)
        cpu_ms = statistics.median(a[1] for a in applies)
        runq = [a[2] for a in applies if a[2] >= 0]
        print("nft apply of %d rules, medians: %.0f ms wall (%.0f-%.0f), %.0f ms CPU, %s ms "
              "waiting for a CPU; the whole apply %.0f ms" % (
                  args.apply_rules, ms, min(a[0] for a in applies),
                  max(a[0] for a in applies), cpu_ms,
                  "%.0f" % statistics.median(runq) if runq else "?",
                  statistics.median(a[3] for a in applies)))
        verdicts.append(("nft engine applies %d rules in under 250 ms" % args.apply_rules,
                         ms < 250, "%.0f ms (%.0f ms of CPU)" % (ms, cpu_ms)))
    if "nft" in paths:
        r = ratio("nft", "est", 0)
        verdicts.append(("nft established >= 0.9 x conntrack", r >= 0.9, "%.2f" % r))
    if "ebpf" in paths:
        r = ratio("ebpf", "est", 0)
        verdicts.append(("eBPF established >= 1.0 x conntrack", r >= 1.0, "%.2f" % r))
    for p in paths[1:]:
        if p not in PATHS:
            continue  # a variant: a measure, not a target
        r = ratio(p, "new", 0)
        verdicts.append(("%s new flows >= 1.0 x conntrack" % p, r >= 1.0, "%.2f" % r))
    print()
    for what, ok, got in verdicts:
        print("%s  %s: %s" % ("PASS" if ok else "FAIL", what, got))
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
