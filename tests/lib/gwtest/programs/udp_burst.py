# SPDX-License-Identifier: MIT
"""One UDP datagram to each of COUNT ports of DST: COUNT flows, opened as
fast as PPS allows (a burst of new flows, for the live events' tests).

    udp_burst.py DST FIRST_PORT COUNT [--pps N]

Sends from one socket, so the flows differ by destination port only
(FIRST_PORT, FIRST_PORT + 1, ...).  Prints one JSON line {"sent": N,
"first_port": P, "sport": S} at the end.
"""
import argparse
import json
import socket
import time

ap = argparse.ArgumentParser()
ap.add_argument("dst")
ap.add_argument("first_port", type=int)
ap.add_argument("count", type=int)
ap.add_argument("--pps", type=float, default=2000)
a = ap.parse_args()

s = socket.socket(socket.AF_INET6 if ":" in a.dst else socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 0))
t0 = time.monotonic()
sent = 0
for i in range(a.count):
    port = a.first_port + i
    if port > 65535:
        break
    try:
        s.sendto(b"spray %d" % i, (a.dst, port))
        sent += 1
    except OSError:
        pass
    if a.pps > 0:
        wait = t0 + (i + 1) / a.pps - time.monotonic()
        if wait > 0:
            time.sleep(wait)
print(json.dumps({"sent": sent, "first_port": a.first_port, "sport": s.getsockname()[1]}),
      flush=True)
