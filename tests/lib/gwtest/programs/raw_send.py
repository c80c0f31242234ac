# SPDX-License-Identifier: MIT
"""Whole Ethernet frames onto an interface, as they are (an AF_PACKET
socket: any source address, VLAN tags, forged headers), for what a test
must send that no ordinary client would: a priority-tagged frame, a RST
from off the path, a DHCP reply for another host.

    raw_send.py IFACE HEX [HEX ...] [--repeat N] [--gap SECONDS]

Sends each frame (hex digits) in order, the whole list N times (default
1), SECONDS apart (default 0.01); prints one JSON line {"sent": N}.
"""
import argparse
import json
import socket
import time

ap = argparse.ArgumentParser()
ap.add_argument("iface")
ap.add_argument("frames", nargs="+")
ap.add_argument("--repeat", type=int, default=1)
ap.add_argument("--gap", type=float, default=0.01)
a = ap.parse_args()

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((a.iface, 0))
frames = [bytes.fromhex(f) for f in a.frames]
sent = 0
for _ in range(a.repeat):
    for f in frames:
        s.send(f)
        sent += 1
        time.sleep(a.gap)
print(json.dumps({"sent": sent}), flush=True)
