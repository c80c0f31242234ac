#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_conntrack (tests/fuzz/) from real
conntrack messages (root):

    tests/fuzz/mk_conntrack_corpus.py [CORPUS_DIR]   (default: tests/fuzz/corpus)

In a network namespace of its own (gwctc<PID>, removed after), with
conntrack's accounting on and an nft table that marks every connection
(so ct mark is in the messages), it listens to conntrack's NEW, UPDATE and
DESTROY events while TCP, UDP and ICMP connections over IPv4 and IPv6 go
through the loopback, dumps the table as gwd does (filtered by mark), then
flushes it (DESTROY events).  Every message is one seed (corpus/conntrack/
ct-<kind>-<n>); a few damaged copies follow (cut short, a lying length, an
attribute past the end).
"""
import os
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_DELETE = 0, 1, 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300
CTA_MARK, CTA_MARK_MASK = 8, 21
NLMSG_DONE, NLMSG_ERROR = 3, 2


def attr(t, data):
    a = struct.pack("=HH", 4 + len(data), t) + data
    return a + b"\0" * (-len(a) % 4)


def request(kind, flags, seq, attrs=b""):
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, 0) + attrs
    return struct.pack("=IHHII", 16 + len(body), NFNL_SUBSYS_CTNETLINK << 8 | kind,
                       flags, seq, 0) + body


def messages(buf):
    while len(buf) >= 16:
        n, = struct.unpack_from("=I", buf)
        if n < 16 or n > len(buf):
            break
        yield buf[:n]
        buf = buf[(n + 3) & ~3:]


def traffic():
    for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        srv = socket.socket(fam, socket.SOCK_STREAM)
        srv.bind((addr, 0))
        srv.listen(1)
        c = socket.create_connection((addr, srv.getsockname()[1]))
        s, _ = srv.accept()
        c.sendall(b"x" * 3000)
        s.recv(4096)
        s.sendall(b"y" * 500)
        c.recv(4096)
        c.close()
        s.close()
        srv.close()
        u = socket.socket(fam, socket.SOCK_DGRAM)
        r = socket.socket(fam, socket.SOCK_DGRAM)
        r.bind((addr, 0))
        u.sendto(b"hello", (addr, r.getsockname()[1]))
        r.recv(100)
        u.close()
        r.close()
        subprocess.run(["ping", "-c", "1", "-W", "1", addr], stdout=subprocess.DEVNULL,
                       check=False)


def inside(out):
    with open("/proc/sys/net/netfilter/nf_conntrack_acct", "w") as f:
        f.write("1\n")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["nft", "add table inet gwctc; add chain inet gwctc out "
                    "{ type filter hook output priority 0; }; add rule inet gwctc out "
                    "ct mark set 0x80004001"], check=True)
    ev = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    ev.bind((0, 1 | 2 | 4))  # NEW, UPDATE, DESTROY
    ev.settimeout(0.5)
    traffic()
    time.sleep(0.2)
    got = []
    dump = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    dump.bind((0, 0))
    dump.settimeout(2)
    dump.send(request(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1,
                      attr(CTA_MARK, struct.pack(">I", 0x80000000)) +
                      attr(CTA_MARK_MASK, struct.pack(">I", 0x80000000))))
    done = False
    while not done:
        for m in messages(dump.recv(65536)):
            t, = struct.unpack_from("=H", m, 4)
            if t in (NLMSG_DONE, NLMSG_ERROR):
                done = True
            else:
                got.append(("dump", m))
    dump.send(request(IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, 2))
    dump.recv(65536)
    time.sleep(0.2)
    try:
        while True:
            for m in messages(ev.recv(65536)):
                t, = struct.unpack_from("=H", m, 4)
                flags, = struct.unpack_from("=H", m, 6)
                kind = "destroy" if t & 0xff == IPCTNL_MSG_CT_DELETE else (
                    "new" if flags & 0x400 else "update")
                got.append((kind, m))
    except socket.timeout:
        pass
    os.makedirs(out, exist_ok=True)
    n = 0
    for kind, m in got:
        write(out, "ct-%s-%02d" % (kind, n), m)
        n += 1
    # Damaged copies of the first of each kind.
    firsts = {}
    for kind, m in got:
        firsts.setdefault(kind, m)
    for kind, m in firsts.items():
        write(out, "bad-%s-cut" % kind, m[:len(m) // 2])
        write(out, "bad-%s-longer" % kind, struct.pack("=I", len(m) + 64) + m[4:])
        # The first attribute's length past the message's end.
        b = bytearray(m)
        struct.pack_into("=H", b, 20, len(m))
        write(out, "bad-%s-attr" % kind, bytes(b))
    print("%d messages (%s)" % (n, ", ".join(sorted(set(k for k, _ in got)))))


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--inside":
        inside(sys.argv[2])
        return
    out = os.path.join(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus"),
                       "conntrack")
    ns = "gwctc%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
                        "--inside", out], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
