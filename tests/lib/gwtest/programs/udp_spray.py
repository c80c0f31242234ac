# SPDX-License-Identifier: MIT
"""Many UDP flows at once: one datagram from each of COUNT source ports
(FIRST, FIRST+1, ...) to each of DCOUNT destination ports of DST (a
device opening flows, e.g. past its cap).

    udp_spray.py SRC_IP FIRST COUNT DST DPORT [--dcount N] [--pause S]

PAUSE seconds between datagrams (default 0.001).  Prints one JSON line
{"sent": N, "errors": N}.
"""
import argparse
import json
import socket
import time

ap = argparse.ArgumentParser()
ap.add_argument("src")
ap.add_argument("first", type=int)
ap.add_argument("count", type=int)
ap.add_argument("dst")
ap.add_argument("dport", type=int)
ap.add_argument("--dcount", type=int, default=1)
ap.add_argument("--pause", type=float, default=0.001)
a = ap.parse_args()
sent = errors = 0
for i in range(a.count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.src, a.first + i))
    for k in range(a.dcount):
        try:
            s.sendto(b"spray", (a.dst, a.dport + k))
            sent += 1
        except OSError:
            errors += 1
        time.sleep(a.pause)
    s.close()
print(json.dumps({"sent": sent, "errors": errors}), flush=True)
