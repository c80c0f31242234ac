# SPDX-License-Identifier: MIT
"""Numbered UDP datagrams from one socket (one flow) at a steady pace.

    udp_send.py DST PORT [--pps N] [--seconds S] [--count N] [--size BYTES]
                [--log FILE] [--sport PORT] [--ttl N] [--no-df]

Datagram n carries n (u64) and the time it was sent (CLOCK_MONOTONIC, a
double: one clock for every network namespace), little-endian, padded to
SIZE bytes (default 200).  Sends PPS a second (0: as fast as it can) until
SECONDS have passed, COUNT were sent, or SIGTERM.  Then prints one JSON
line {"sent": N, "send_errors": N} and, with --log, writes "SEQ TIME" lines
to FILE for every datagram sent.  --ttl sets the IP TTL (hop limit);
--no-df sends IPv4 without Don't Fragment (what a router may fragment).
"""
import argparse
import json
import signal
import socket
import struct
import time

ap = argparse.ArgumentParser()
ap.add_argument("dst")
ap.add_argument("port", type=int)
ap.add_argument("--pps", type=float, default=0)
ap.add_argument("--seconds", type=float, default=0)
ap.add_argument("--count", type=int, default=0)
ap.add_argument("--size", type=int, default=200)
ap.add_argument("--log")
ap.add_argument("--sport", type=int, default=0,
                help="the source port (default: the kernel's choice); two runs with one "
                     "sport are one flow")
ap.add_argument("--ttl", type=int, default=0)
ap.add_argument("--no-df", action="store_true")
a = ap.parse_args()

stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
s = socket.socket(socket.AF_INET6 if ":" in a.dst else socket.AF_INET, socket.SOCK_DGRAM)
if a.sport:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", a.sport))
IP_MTU_DISCOVER, IP_PMTUDISC_DONT = 10, 0  # linux/in.h (not in Python's socket module)
if a.ttl:
    if ":" in a.dst:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, a.ttl)
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, a.ttl)
if a.no_df:
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
pad = b"x" * max(0, a.size - 16)
sent = []
errors = 0
t0 = time.monotonic()
n = 0
while not stopping:
    if a.count and n >= a.count:
        break
    if a.seconds and time.monotonic() - t0 >= a.seconds:
        break
    if a.pps:
        due = t0 + n / a.pps
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
            continue
    t = time.monotonic()
    try:
        s.sendto(struct.pack("<Qd", n, t) + pad, (a.dst, a.port))
    except OSError:
        errors += 1
    sent.append(t)
    n += 1
if a.log:
    with open(a.log, "w") as f:
        for seq, t in enumerate(sent):
            f.write("%d %.6f\n" % (seq, t))
print(json.dumps({"sent": n, "send_errors": errors}), flush=True)
