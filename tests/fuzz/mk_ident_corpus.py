#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of fuzz_lease and fuzz_neigh (tests/fuzz/):

    tests/fuzz/mk_ident_corpus.py [CORPUS_DIR]   (default: tests/fuzz/corpus)

corpus/lease: byte 0 even, then a dnsmasq lease file; byte 0 odd, then
script events of six NUL-terminated parts (op, MAC, address, hostname,
client-id, expiry).  corpus/neigh: rtnetlink datagrams of RTM_NEWNEIGH and
RTM_DELNEIGH messages as the kernel sends them, and broken ones.
"""
import os
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- leases

LEASE_FILES = {
    "file-one": "1795756800 3c:22:fb:41:8e:07 192.168.1.10 Sarahs-Laptop 01:3c:22:fb:41:8e:07\n",
    "file-anonymous": "0 02:5a:11:00:00:99 192.168.1.99 * *\n",
    "file-dnsmasq": ("duid 00:01:00:01:2c:5f:6a:1b:02:00:00:00:00:01\n"
                     "1795756800 3c:22:fb:41:8e:07 192.168.1.10 laptop 01:3c:22:fb:41:8e:07\n"
                     "1795756900 5e:91:2b:d0:7c:44 192.168.1.11 maya-phone *\n"
                     "1795757000 1234 fd00::57 phone 00:01:00:01:2c:5f:6a:1b\n"),
    "file-collide": ("1795756800 02:00:00:00:00:01 192.168.1.50 android-5f2a *\n"
                     "1795756800 02:00:00:00:00:02 192.168.1.51 android-5f2a *\n"
                     "1795756800 02:00:00:00:00:03 192.168.1.52 Android_5F2A.lan *\n"),
    "file-moved": ("1795756800 02:00:00:00:00:01 192.168.1.50 one *\n"
                   "1795756800 02:00:00:00:00:02 192.168.1.50 two *\n"),
    "file-crlf": "1795756800 3c:22:fb:41:8e:07 192.168.1.10 laptop *\r\n",
    "file-bad-mac": "1795756800 01:22:fb:41:8e:07 192.168.1.10 laptop *\n",
    "file-bad-addr": "1795756800 3c:22:fb:41:8e:07 192.168.1.300 laptop *\n",
    "file-bad-host": "1795756800 3c:22:fb:41:8e:07 192.168.1.10 lap$top *\n",
    "file-bad-cid": "1795756800 3c:22:fb:41:8e:07 192.168.1.10 laptop 01:3c:2\n",
    "file-short": "1795756800 3c:22:fb:41:8e:07 192.168.1.10\n",
    "file-huge-expiry": "99999999999999999999 3c:22:fb:41:8e:07 192.168.1.10 * *\n",
    "file-long-host": "1795756800 3c:22:fb:41:8e:07 192.168.1.10 %s *\n" % ("h" * 70),
}


def events(*evs):
    out = b""
    for ev in evs:
        out += b"".join(p.encode() + b"\0" for p in ev)
    return out


EVENTS = {
    "ev-add": [("add", "02:5e:11:aa:03:09", "192.168.1.57", "android-5f2a",
                "01:02:5e:11:aa:03:09", "1795756800")],
    "ev-add-old-del": [("add", "02:5e:11:aa:03:09", "192.168.1.57", "phone", "", "1795756800"),
                       ("old", "02:5e:11:aa:03:09", "192.168.1.57", "phone", "", "1795760400"),
                       ("del", "02:5e:11:aa:03:09", "192.168.1.57", "", "", "0")],
    "ev-rename": [("add", "02:5e:11:aa:03:09", "192.168.1.57", "", "", "0"),
                  ("old", "02:5e:11:aa:03:09", "192.168.1.57", "Sarah's iPhone", "", "0")],
    "ev-move": [("add", "02:00:00:00:00:01", "192.168.1.50", "one", "", "0"),
                ("add", "02:00:00:00:00:02", "192.168.1.50", "two", "", "0"),
                ("del", "02:00:00:00:00:01", "192.168.1.50", "", "", "0")],
    "ev-bad-op": [("tftp", "02:5e:11:aa:03:09", "192.168.1.57", "", "", "0")],
    "ev-bad-mac": [("add", "ff:ff:ff:ff:ff:ff", "192.168.1.57", "", "", "0")],
    "ev-bad-expiry": [("add", "02:5e:11:aa:03:09", "192.168.1.57", "", "", "-5")],
    "ev-bad-cid": [("add", "02:5e:11:aa:03:09", "192.168.1.57", "", "zz", "0")],
    "ev-v6": [("add", "02:5e:11:aa:03:09", "fd00::57", "", "", "0")],
    "ev-many-hosts": [("old", "02:5e:11:aa:03:09", "192.168.1.57", "h%d" % i, "", "0")
                      for i in range(8)],
}

# ---------------------------------------------------------------- neighbours

RTM_NEWNEIGH, RTM_DELNEIGH, NLMSG_DONE = 28, 29, 3
NDA_DST, NDA_LLADDR = 1, 2
NUD = {"incomplete": 0x01, "reachable": 0x02, "stale": 0x04, "delay": 0x08, "probe": 0x10,
       "failed": 0x20, "noarp": 0x40, "permanent": 0x80}


def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)


def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def neigh_msg(kind, family, state, dst=None, lladdr=None, ifindex=3, seq=1, flags=0):
    body = struct.pack("=BxxxiHBB", family, ifindex, state, flags, 1)
    if dst is not None:
        body += attr(NDA_DST, socket.inet_pton(family, dst) if isinstance(dst, str) else dst)
    if lladdr is not None:
        body += attr(NDA_LLADDR, mac(lladdr))
    return struct.pack("=IHHII", 16 + len(body), kind, 2, seq, 0) + body


def done_msg():
    return struct.pack("=IHHII", 20, NLMSG_DONE, 2, 1, 0) + b"\0" * 4


V4, V6 = socket.AF_INET, socket.AF_INET6
NEIGH = {
    "dump": neigh_msg(RTM_NEWNEIGH, V4, NUD["reachable"], "192.168.1.10", "3c:22:fb:41:8e:07")
    + neigh_msg(RTM_NEWNEIGH, V6, NUD["stale"], "fd00::10", "3c:22:fb:41:8e:07")
    + neigh_msg(RTM_NEWNEIGH, V6, NUD["stale"], "fe80::3e22:fbff:fe41:8e07", "3c:22:fb:41:8e:07")
    + neigh_msg(RTM_NEWNEIGH, V4, NUD["noarp"], "224.0.0.251", "01:00:5e:00:00:fb")
    + done_msg(),
    "privacy": b"".join(neigh_msg(RTM_NEWNEIGH, V6, NUD["delay"], "2001:db8:1::%x" % i,
                                  "5e:91:2b:d0:7c:44") for i in range(1, 6)),
    "delete": neigh_msg(RTM_DELNEIGH, V4, NUD["stale"], "192.168.1.10", "3c:22:fb:41:8e:07"),
    "delete-no-mac": neigh_msg(RTM_DELNEIGH, V4, NUD["stale"], "192.168.1.10"),
    "failed": neigh_msg(RTM_NEWNEIGH, V4, NUD["failed"], "192.168.1.10"),
    "incomplete": neigh_msg(RTM_NEWNEIGH, V4, NUD["incomplete"], "192.168.1.11"),
    "moved": neigh_msg(RTM_NEWNEIGH, V4, NUD["reachable"], "192.168.1.10", "3c:22:fb:41:8e:07")
    + neigh_msg(RTM_NEWNEIGH, V4, NUD["reachable"], "192.168.1.10", "02:5a:11:00:00:99"),
    "permanent": neigh_msg(RTM_NEWNEIGH, V4, NUD["permanent"], "192.168.1.2", "00:1b:a9:3e:77:02"),
    "proxy": neigh_msg(RTM_NEWNEIGH, V4, NUD["reachable"], "192.168.1.12", "3c:22:fb:41:8e:08",
                       flags=0x08),
    "multicast-mac": neigh_msg(RTM_NEWNEIGH, V4, NUD["reachable"], "192.168.1.13",
                               "01:00:5e:00:00:01"),
    "loopback": neigh_msg(RTM_NEWNEIGH, V6, NUD["reachable"], "::1", "3c:22:fb:41:8e:07"),
    "wrong-dst-size": neigh_msg(RTM_NEWNEIGH, V6, NUD["reachable"], b"\xc0\xa8\x01\x0a",
                                "3c:22:fb:41:8e:07"),
    "cut": neigh_msg(RTM_NEWNEIGH, V4, NUD["reachable"], "192.168.1.10", "3c:22:fb:41:8e:07")[:-5],
    "lying-length": struct.pack("=I", 400)
    + neigh_msg(RTM_NEWNEIGH, V4, NUD["reachable"], "192.168.1.10", "3c:22:fb:41:8e:07")[4:],
    "attr-past-end": (lambda m: m[:28] + struct.pack("=H", 200) + m[30:])(
        neigh_msg(RTM_NEWNEIGH, V4, NUD["reachable"], "192.168.1.10", "3c:22:fb:41:8e:07")),
    # A length past 2^31 after a good message: libmnl's check takes it as
    # negative (found by fuzz_neigh).
    "huge-length": neigh_msg(RTM_NEWNEIGH, V4, NUD["reachable"], "192.168.1.10",
                             "3c:22:fb:41:8e:07")
    + struct.pack("=IHHII", 0xfffffff0, RTM_NEWNEIGH, 2, 1, 0) + b"\0" * 16,
    "error": struct.pack("=IHHIIi", 36, 2, 0, 1, 0, -16) + b"\0" * 16,
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    for name, text in LEASE_FILES.items():
        write(os.path.join(out, "lease"), name, b"\0" + text.encode())
    for name, evs in EVENTS.items():
        write(os.path.join(out, "lease"), name, b"\1" + events(*evs))
    for name, data in NEIGH.items():
        write(os.path.join(out, "neigh"), name, data)


if __name__ == "__main__":
    main()
