# SPDX-License-Identifier: MIT
"""Commands, network namespaces and what a harness leaves behind.

Every name a harness makes carries the PID of the process that made it,
after a short kind:

    network namespaces    KIND<PID>-<role>        gwt12345-gw, gwl12345-inet
    BPF pin folders       /sys/fs/bpf/gw-<what>-<PID>[-x]
    DPDK --file-prefix    KIND<PID>-<what>        /var/run/dpdk/gwt12345-dp1

KIND is one of KINDS: gwt (a test), gwl (the home lab), gwba (the apply
benchmark).  A lab_test's home adds a letter after the PID (gwl123t-...).
Everything is removed by the harness that made it, also on failure; what a
harness killed with SIGKILL left behind is removed by the next one's
sweep_stale(), once its PID no longer runs.
"""
import json
import os
import re
import shutil
import subprocess

from . import Fail, Skip

KINDS = ("gwt", "gwl", "gwba")
_NAME = re.compile(r"^(?:%s)(\d+)[a-z]?-" % "|".join(KINDS))
_PINS = re.compile(r"^gw-[a-z][a-z-]*?-(\d+)(?:-[a-z0-9]+)?$")


def sh(*cmd, check=True, input=None, timeout=60, ns=None):
    """Runs cmd (in netns ns: ip netns exec) and returns its stdout;
    Fail naming the command and its stderr when it exits non-zero."""
    if ns:
        cmd = ("ip", "netns", "exec", ns) + cmd
    try:
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail("%s: no end after %s s" % (" ".join(cmd), timeout))
    if check and r.returncode != 0:
        raise Fail("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                        (r.stderr or r.stdout).strip()[-800:]))
    return r.stdout


def run(*cmd, ns=None, timeout=60, input=None):
    """subprocess.run(cmd, in netns ns), output captured as text; never
    raises on the exit status."""
    if ns:
        cmd = ("ip", "netns", "exec", ns) + cmd
    return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)


def missing_programs(*names):
    """The names that are not on PATH."""
    return [n for n in names if not shutil.which(n)]


def need_programs(*names):
    """Skip naming the first program that is not installed."""
    gone = missing_programs(*names)
    if gone:
        raise Skip("%s is not installed" % gone[0])


def mac_of(ns, dev):
    """The MAC address of dev in netns ns."""
    return json.loads(sh("ip", "-n", ns, "-j", "link", "show", "dev", dev))[0]["address"]


def has_link(ns, dev):
    return subprocess.run(["ip", "-n", ns, "link", "show", dev],
                          capture_output=True).returncode == 0


def connectable(path):
    """A unix stream socket at path accepts a connection."""
    import socket
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def pid_alive(pid):
    return os.path.exists("/proc/%d" % int(pid))


class Netns:
    """The network namespaces of one harness: KIND<TAG>-<role>, TAG this
    process's PID by default.  add() makes one; close() removes them all
    (also after a half-made set-up)."""

    def __init__(self, kind="gwt", tag=None):
        if kind not in KINDS:
            raise ValueError("namespace kind %r is not one of %s" % (kind, KINDS))
        self.prefix = "%s%s" % (kind, tag or os.getpid())
        self.made = []

    def name(self, role):
        return "%s-%s" % (self.prefix, role)

    def add(self, role, ipv6=True, skip=False):
        """Makes netns PREFIX-ROLE with lo up and returns its name.
        ipv6=False switches IPv6 off in it.  skip=True: a refusal (no
        privilege for namespaces here) is a Skip, not a Fail."""
        ns = self.name(role)
        r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
        if r.returncode != 0:
            what = "ip netns add %s: %s" % (ns, r.stderr.strip())
            raise Skip(what) if skip else Fail(what)
        self.made.append(ns)
        if not ipv6:
            sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
               "net.ipv6.conf.default.disable_ipv6=1", ns=ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def close(self):
        for ns in self.made[::-1]:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        self.made = []


def remove_pins(path):
    """Removes a BPF pin folder (rmtree, else rm -rf)."""
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path):
        subprocess.run(["rm", "-rf", path], capture_output=True)


def remove_dpdk_runtime(prefix):
    """EAL leaves its --file-prefix folder behind (config, sockets), even
    after rte_eal_cleanup()."""
    shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)


def sweep_stale(log=None):
    """Removes what harnesses killed with SIGKILL left: namespaces
    KIND<PID>-*, BPF pin folders gw-*-<PID> and DPDK runtime folders
    KIND<PID>-* whose PID no longer runs (their processes died with them:
    PR_SET_PDEATHSIG).  Names of other schemes are not touched."""
    say = log or (lambda _: None)
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in names.splitlines():
        ns = line.split()[0] if line.split() else ""
        m = _NAME.match(ns)
        if m and not pid_alive(m.group(1)):
            say("removing namespace %s left by process %s" % (ns, m.group(1)))
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
    if os.path.isdir("/sys/fs/bpf"):
        for d in os.listdir("/sys/fs/bpf"):
            m = _PINS.match(d)
            if m and not pid_alive(m.group(1)):
                say("removing BPF pins /sys/fs/bpf/%s left by process %s" % (d, m.group(1)))
                remove_pins(os.path.join("/sys/fs/bpf", d))
    if os.path.isdir("/var/run/dpdk"):
        for d in os.listdir("/var/run/dpdk"):
            m = _NAME.match(d + "-") if "-" not in d else _NAME.match(d)
            if m and not pid_alive(m.group(1)):
                say("removing DPDK runtime folder /var/run/dpdk/%s left by process %s"
                    % (d, m.group(1)))
                remove_dpdk_runtime(d)
