# SPDX-License-Identifier: MIT
"""The eBPF classifier as tests see it: its pinned counters read with
bpftool, and a kernel port (a veth between a gateway and a device
namespace) that gwd or gwbpf-tool attaches it to.
"""
import json
import os
import re
import subprocess

from . import SRC, Fail, Skip
from .net import Netns, remove_pins, sh

SKIP = 77


def counter_names(src=SRC):
    """The classifier's counter names in index order, as enum
    gwbpf_counter in ebpf/gw_bpf_abi.h declares them: "PACKETS", "PASS",
    "DROP", ..."""
    with open(os.path.join(src, "ebpf", "gw_bpf_abi.h")) as f:
        m = re.search(r"enum gwbpf_counter \{(.*?)\};", f.read(), re.S)
    if not m:
        raise Fail("ebpf/gw_bpf_abi.h declares no enum gwbpf_counter")
    names = re.findall(r"^\s*GWBPF_CNT_(\w+)\s*[,=]", m.group(1), re.M)
    return [n for n in names if n != "COUNT"]


# Derived by the loader (gw_bpf_abi.h), not kept in the map.
DERIVED = ("PACKETS", "PASS", "FLOW_HIT")


def counters(pins, src=SRC):
    """The counters in PINS/gw_counters (a per-CPU array of one struct
    gwbpf_counters, a u64 per reason), summed over the CPUs:
    {"DROP": N, "LOCAL": N, ...}, the derived ones left out."""
    path = os.path.join(pins, "gw_counters")
    if not os.path.exists(path):
        raise Fail("no eBPF counters pinned at %s (is the eBPF engine up?)" % path)
    entries = json.loads(sh("bpftool", "-j", "map", "dump", "pinned", path))
    names = counter_names(src)
    totals = [0] * len(names)
    for e in entries:
        for v in e.get("values", []):
            val = v.get("value")
            # With BTF: {"n": [7, 0, ...]}; without: the struct's bytes as
            # a list of hex strings.
            if isinstance(val, dict):
                words = [int(x) for x in val.get("n", [])]
            else:
                raw = bytes(int(b, 16) for b in val)
                words = [int.from_bytes(raw[i:i + 8], "little")
                         for i in range(0, len(raw) - 7, 8)]
            if len(words) != len(names):
                raise Fail("%s: %d counters per CPU, gw_bpf_abi.h names %d"
                           % (path, len(words), len(names)))
            for i, w in enumerate(words):
                totals[i] += w
    return {n: t for n, t in zip(names, totals) if n not in DERIVED}


class Port:
    """A kernel port for the classifier: netns GW holds PORT (gw_ip/24),
    a veth to d0 (dev_ip/24) in netns DEV; the pin folder PINS.  Both
    namespaces PID-tagged (gwtest.net.Netns); close() detaches, unpins and
    removes them."""

    def __init__(self, gwbpf_tool, gw_ip="10.79.0.1", dev_ip="10.79.0.2"):
        self.tool = gwbpf_tool
        self.netns = Netns("gwt")
        self.gw, self.dev = self.netns.name("gw"), self.netns.name("dev")
        self.port = "gwc%d" % (os.getpid() % 100000)
        self.pins = "/sys/fs/bpf/gw-test-ctl-%d" % os.getpid()
        self.gw_ip, self.dev_ip = gw_ip, dev_ip

    def setup(self):
        """Skip when not root, no namespaces or no BPF here."""
        if os.geteuid() != 0:
            raise Skip("needs root")
        for role in ("gw", "dev"):
            self.netns.add(role, skip=True)
        sh("ip", "-n", self.gw, "link", "add", self.port, "type", "veth", "peer", "name",
           "d0", "netns", self.dev)
        sh("ip", "-n", self.gw, "addr", "add", self.gw_ip + "/24", "dev", self.port)
        sh("ip", "-n", self.dev, "addr", "add", self.dev_ip + "/24", "dev", "d0")
        for ns, dev in ((self.gw, self.port), (self.dev, "d0")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        p = subprocess.run([self.tool, "-", "xdp-pass", "lo"], capture_output=True)
        if p.returncode == SKIP:
            raise Skip("BPF not permitted")
        return self

    def in_gw(self):
        """The prefix that runs a command in the gateway's netns, keeping
        this mount namespace (/sys/fs/bpf and the pins stay visible)."""
        return ["nsenter", "--net=/run/netns/%s" % self.gw]

    def ping(self):
        """One ping from the device to the gateway's address answered."""
        return subprocess.run(["ip", "netns", "exec", self.dev, "ping", "-c", "1", "-W", "1",
                               self.gw_ip], capture_output=True).returncode == 0

    def close(self):
        if os.path.isdir(self.pins):
            subprocess.run(self.in_gw() + [self.tool, self.pins, "detach", self.port],
                           capture_output=True)
            if subprocess.run([self.tool, self.pins, "unpin"], capture_output=True).returncode:
                remove_pins(self.pins)
        self.netns.close()
