# SPDX-License-Identifier: MIT
"""The one Python speaker of dns/proto.h (gwd <-> gw-dns), and the
namespaces the DNS tests and `tools/gw bench dns` run gw-dns in: a client,
the gateway (gw-dns on its LAN address) and an upstream (Unbound with local
data), named and removed as gwtest.net says (gwt<PID>d-c, -g, -u), their
processes started with gwtest.proc.popen (they die with the harness) and
stopped by PID.

Used by tests/dns/live_test.py, gwd_dns_test.py, tools/bench-dns.py and
tests/fuzz/mk_dns_corpus.py.
"""
import contextlib
import ctypes
import os
import socket
import struct
import subprocess
import tempfile

from . import Fail
from . import wait_for as _wait_for
from .net import Netns, missing_programs
from .net import run as _run
from .proc import popen, stop

MAGIC = 0x4E445747
VERSION = 1
REPLY = 0x8000
CONFIG, ZONE, STATS, POLICY, LEARN, CLIENTS = 1, 2, 3, 4, 5, 6
CONF_ENFORCE, CONF_REBIND = 0x1, 0x2

HDR = struct.Struct("<IHHIIQ")  # magic, version, type, flags, length, id
PREFIX = struct.Struct("<BBH16s")
CONFIG_HEAD = struct.Struct("<9I4HI256s")
RECORD = struct.Struct("<128sB3x16s4x")
COUNTER = struct.Struct("<48sQ")

assert HDR.size == 24 and PREFIX.size == 20 and CONFIG_HEAD.size == 304
assert RECORD.size == 152 and COUNTER.size == 56


def prefix(addr, plen=None, port=0):
    """A struct gwdns_prefix from "10.0.0.0" (plen defaults to the full length)."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    raw = socket.inet_pton(fam, addr)
    full = 32 if fam == socket.AF_INET else 128
    return PREFIX.pack(4 if fam == socket.AF_INET else 6,
                       full if plen is None else plen, port, raw.ljust(16, b"\0"))


def config_body(zone="home.arpa", upstreams=(), clients=(), selfs=(), allow=(),
                flags=CONF_ENFORCE | CONF_REBIND, timeout_ms=0, rate_qps=0,
                rate_burst=0, cache_bytes=0, max_outstanding=0, zone_ttl=0, block_mode=0):
    """CONFIG's body.  upstreams: (addr, port); clients: (addr, plen); selfs: addr."""
    head = CONFIG_HEAD.pack(flags, cache_bytes, 0, 0, rate_qps, rate_burst,
                            max_outstanding, timeout_ms, zone_ttl,
                            len(upstreams), len(clients), len(selfs), len(allow),
                            block_mode, zone.encode())
    body = head
    body += b"".join(prefix(a, port=p) for a, p in upstreams)
    body += b"".join(prefix(a, l) for a, l in clients)
    body += b"".join(prefix(a, 128 if ":" in a else 32) for a in selfs)
    body += b"".join(n.encode().ljust(256, b"\0") for n in allow)
    return body


def zone_body(records):
    """ZONE's body from (relative name, address) pairs."""
    out = struct.pack("<II", len(records), 0)
    for name, addr in records:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        out += RECORD.pack(name.encode(), 4 if fam == socket.AF_INET else 6,
                           socket.inet_pton(fam, addr).ljust(16, b"\0"))
    return out


def clients_body(pairs):
    """CLIENTS's body from (address, "02:00:00:00:00:01") pairs."""
    out = struct.pack("<II", len(pairs), 0)
    for addr, mac in pairs:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        out += struct.pack("<BB6s16s", 4 if fam == socket.AF_INET else 6, 0,
                           bytes.fromhex(mac.replace(":", "")),
                           socket.inet_pton(fam, addr).ljust(16, b"\0"))
    return out


class Control:
    """gwd's end of the control socketpair."""

    def __init__(self, sock):
        self.sock = sock
        self.next_id = 1

    def request(self, mtype, body=b"", timeout=5.0):
        """Sends a request; returns (status, reply body)."""
        mid = self.next_id
        self.next_id += 1
        self.sock.sendall(HDR.pack(MAGIC, VERSION, mtype, 0, len(body), mid) + body)
        return self.read_reply(mid, mtype, timeout)

    def raw(self, data, timeout=5.0):
        """Sends bytes as they are; returns the reply (status, body) or None on close."""
        self.sock.sendall(data)
        try:
            return self.read_reply(None, None, timeout)
        except EOFError:
            return None

    def _read(self, n, timeout):
        self.sock.settimeout(timeout)
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("gw-dns closed the control socket")
            buf += chunk
        return buf

    def read_reply(self, mid, mtype, timeout):
        magic, ver, rtype, flags, length, rid = HDR.unpack(self._read(HDR.size, timeout))
        body = self._read(length, timeout)
        if magic != MAGIC or ver != VERSION or not rtype & REPLY:
            raise ValueError("bad reply header")
        if mid is not None and (rid != mid or rtype != (mtype | REPLY)):
            raise ValueError("reply to another request")
        status = struct.unpack("<i", body[:4])[0]
        return status, body[8:]

    def read_learn(self, timeout=10.0):
        """Reads one LEARN from gw-dns: ((name, sets, ttl, [addresses]), its id)."""
        magic, ver, mtype, flags, length, mid = HDR.unpack(self._read(HDR.size, timeout))
        body = self._read(length, timeout)
        assert magic == MAGIC and mtype == LEARN, "expected a LEARN, got type %d" % mtype
        name, sets, ttl, cfam, naddrs = struct.unpack_from("<256sQIBxH", body)
        addrs = []
        for i in range(naddrs):
            fam, raw = struct.unpack_from("<B3x16s", body, 288 + 20 * i)
            addrs.append(socket.inet_ntop(socket.AF_INET if fam == 4 else socket.AF_INET6,
                                          raw[:4] if fam == 4 else raw))
        return (name.rstrip(b"\0").decode(), sets, ttl, addrs), mid

    def reply_learn(self, mid, engines=1, failed=0):
        """Answers LEARN mid as gwd would: every engine has the addresses (failed 0)."""
        reply = struct.pack("<iIII", 0, 0, engines, failed)
        self.sock.sendall(HDR.pack(MAGIC, VERSION, LEARN | REPLY, 0, len(reply), mid) + reply)

    def stats(self):
        status, body = self.request(STATS)
        assert status == 0, status
        count = struct.unpack("<I", body[:4])[0]
        out = {}
        for i in range(count):
            name, value = COUNTER.unpack_from(body, 8 + i * COUNTER.size)
            out[name.rstrip(b"\0").decode()] = value
        return out


# ---------------------------------------------------------------- namespaces

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def run(*args, check=True, timeout=60, ns=None):
    """gwtest.net.run (in netns ns); with check, Fail naming the command
    and its stderr when it exits non-zero."""
    r = _run(*args, ns=ns, timeout=timeout)
    if check and r.returncode != 0:
        raise Fail("%s: exit %d: %s" % (" ".join(args), r.returncode,
                                        (r.stderr or r.stdout).strip()[-800:]))
    return r


def wait_for(pred, what, timeout=10.0, step=0.05):
    """gwtest.wait_for with the condition first; a command failing or
    OSError meanwhile counts as not yet."""
    return _wait_for(what, pred, timeout=timeout, step=step,
                     ignore=(OSError, subprocess.SubprocessError, Fail))


@contextlib.contextmanager
def entered(ns):
    """This thread in network namespace ns for the block (to bind
    sockets there)."""
    orig = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        fd = os.open("/run/netns/" + ns, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + ns)
        finally:
            os.close(fd)
        yield
    finally:
        _libc.setns(orig, CLONE_NEWNET)
        os.close(orig)


def ensure_user(name="gw-dns"):
    """The service's user, created when missing (idempotent; root only)."""
    if run("getent", "passwd", name, check=False).returncode != 0:
        run("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
            "--shell", "/usr/sbin/nologin", "--user-group", name)


class Lab:
    """client (10.77.1.2, 10.77.1.4, fd77:1::2) -- gw (10.77.1.1 | 10.77.2.1) -- upstream (10.77.2.2).

    The client also holds 10.77.3.2, outside the household's prefixes.
    The upstream also holds 10.77.2.3, where a socket reads queries and
    never answers.
    """

    def __init__(self, tmp):
        self.tmp = tmp
        self.netns = Netns("gwt", "%dd" % os.getpid())
        self.ns = {k: self.netns.name(k) for k in ("c", "g", "u")}
        self.procs = []
        self.socks = []
        self.ctl = None
        self.dns = None

    # -- set-up

    def __enter__(self):
        try:
            self._topology()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def ip(self, ns, *args):
        return run("ip", "-n", self.ns[ns], *args)

    def _topology(self):
        tag = "%x" % os.getpid()
        for role in self.ns:
            self.netns.add(role)
        lan, wan = "dnl%s" % tag, "dnw%s" % tag
        run("ip", "link", "add", lan + "a", "netns", self.ns["c"], "type", "veth",
            "peer", lan + "b", "netns", self.ns["g"])
        run("ip", "link", "add", wan + "a", "netns", self.ns["g"], "type", "veth",
            "peer", wan + "b", "netns", self.ns["u"])
        for ns, dev, addrs in (("c", lan + "a", ["10.77.1.2/24", "10.77.1.4/24", "10.77.3.2/24",
                                                 "fd77:1::2/64"]),
                               ("g", lan + "b", ["10.77.1.1/24", "fd77:1::1/64"]),
                               ("g", wan + "a", ["10.77.2.1/24"]),
                               ("u", wan + "b", ["10.77.2.2/24", "10.77.2.3/24"])):
            for a in addrs:
                self.ip(ns, "addr", "add", a, "dev", dev, "nodad") if ":" in a else \
                    self.ip(ns, "addr", "add", a, "dev", dev)
            self.ip(ns, "link", "set", dev, "up")
            self.ip(ns, "link", "set", "lo", "up")
        self.ip("u", "route", "add", "10.77.1.0/24", "via", "10.77.2.1")
        self.ip("g", "route", "add", "10.77.3.0/24", "via", "10.77.1.2")
        # The silent upstream: reads nothing, answers nothing, sends no ICMP.
        with entered(self.ns["u"]):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("10.77.2.3", 53))
        self.socks.append(s)

    def start_unbound(self, conf_src):
        """Unbound on 10.77.2.2 with conf_src (a file in this folder) as its server: block."""
        path = os.path.join(self.tmp, "unbound.conf")
        big = os.path.join(self.tmp, "big.conf")
        if not os.path.exists(big):
            open(big, "w").close()
        with open(conf_src) as f:
            text = f.read().replace("@DIR@", self.tmp)
        with open(path, "w") as f:
            f.write(text)
        with open(os.path.join(self.tmp, "unbound.log"), "w") as log:
            p = popen(["ip", "netns", "exec", self.ns["u"], "unbound", "-d", "-c", path],
                      stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append(p)
        wait_for(lambda: self.dig("c", "@10.77.2.2", "site.lab", ns="u", check=False)
                 .returncode == 0, "unbound answers")

    def start_gw_dns(self, gw_dns, user="gw-dns"):
        """gw-dns in the gateway namespace on 10.77.1.1 and fd77:1::1, port 53."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fds = []
        with entered(self.ns["g"]):
            for fam, addr in ((socket.AF_INET, "10.77.1.1"), (socket.AF_INET6, "fd77:1::1")):
                u = socket.socket(fam, socket.SOCK_DGRAM)
                u.bind((addr, 53))
                t = socket.socket(fam, socket.SOCK_STREAM)
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind((addr, 53))
                t.listen(64)
                fds += [("--udp-fd", u), ("--tcp-fd", t)]
            args = [gw_dns, "--control-fd", str(b.fileno()), "--user", user]
            for opt, s in fds:
                args += [opt, str(s.fileno())]
            self.log = open(os.path.join(self.tmp, "gw-dns.log"), "w")
            self.dns = popen(args, pass_fds=[b.fileno()] + [s.fileno() for _, s in fds],
                             stderr=self.log, env=_dns_env())
        for _, s in fds:
            s.close()
        b.close()
        self.ctl = Control(a)
        return self.dns

    def configure(self, **kw):
        kw.setdefault("upstreams", [("10.77.2.2", 53)])
        kw.setdefault("clients", [("10.77.1.0", 24), ("fd77:1::", 64)])
        kw.setdefault("selfs", ["10.77.1.1", "fd77:1::1"])
        status, _ = self.ctl.request(CONFIG, config_body(**kw))
        assert status == 0, "CONFIG refused: %d" % status

    def zone(self, records):
        status, _ = self.ctl.request(ZONE, zone_body(records))
        assert status == 0, "ZONE refused: %d" % status

    # -- clients

    def dig(self, tool, *args, ns="c", check=True, timeout=20):
        """dig (or kdig, drill) in namespace ns; tool "c" means dig."""
        prog = {"c": "dig", "dig": "dig", "kdig": "kdig", "drill": "drill"}[tool]
        return run(prog, *args, ns=self.ns[ns], check=check, timeout=timeout)

    def dig_tool(self, prog, *args, ns="c", timeout=60):
        """Any client program (dnsperf, ...) in namespace ns."""
        return run(prog, *args, ns=self.ns[ns], check=False, timeout=timeout)

    def close(self):
        if self.ctl:
            self.ctl.sock.close()
        for p in ([self.dns] if self.dns else []) + self.procs:
            stop(p, wait=5)
        for s in self.socks:
            s.close()
        self.netns.close()


def _dns_env():
    """gw-dns's environment: LeakSanitizer reads /proc at exit, which the
    chrooted gw-dns cannot see (it would abort); its code's leaks are
    checked by test_dns_resolver and the fuzzers, which are not confined."""
    env = dict(os.environ)
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
    return env


def can_run():
    """None, or why this machine cannot run the live tests (they skip)."""
    if os.geteuid() != 0:
        return "not root"
    gone = missing_programs("ip", "dig", "kdig", "drill", "unbound", "dnsperf", "useradd")
    return "no " + gone[0] if gone else None


def tempdir():
    return tempfile.TemporaryDirectory(prefix="gwdns-%d-" % os.getpid())
