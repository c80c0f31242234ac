# SPDX-License-Identifier: MIT
"""A UDP endpoint of a LAN device in a NAT test, from one socket (one
NAT mapping).

    udp_peer.py BIND_IP BIND_PORT [--learn IP:PORT] [--again N]
                [--send IP:PORT] [--count N] [--interval S] [--seconds S]
                [--barrier]

--learn asks nat_reflector.py at IP:PORT which address and port it came
from (its mapping, as a peer on the internet sees it), --again N asks it
to send once more from port +N.  --send sends COUNT datagrams "NAME SEQ"
(NAME: BIND_IP:BIND_PORT) to IP:PORT, INTERVAL apart.  Meanwhile, and
until SECONDS after the start, it records what arrives.  Prints one JSON
line: {"ext": [IP, PORT] or null, "got": [[IP, PORT, TEXT], ...],
"sent": N}.  --barrier: once bound (and after --learn), print "ready" and
wait for a line on stdin before the sending and SECONDS start, so a test
can start many peers' traffic at one moment however slowly they started.
"""
import argparse
import json
import socket
import sys
import time


def endpoint(s):
    ip, port = s.rsplit(":", 1)
    return ip, int(port)


ap = argparse.ArgumentParser()
ap.add_argument("ip")
ap.add_argument("port", type=int)
ap.add_argument("--learn", type=endpoint)
ap.add_argument("--again", type=int, default=0)
ap.add_argument("--send", type=endpoint)
ap.add_argument("--count", type=int, default=10)
ap.add_argument("--interval", type=float, default=0.1)
ap.add_argument("--seconds", type=float, default=0)
ap.add_argument("--barrier", action="store_true")
a = ap.parse_args()

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((a.ip, a.port))
t0 = time.monotonic()
ext, got, sent = None, [], 0
if a.learn:
    for attempt in range(20):  # the first may meet a next hop not yet resolved
        s.sendto(b"again %d" % a.again if a.again else b"where", a.learn)
        s.settimeout(0.5)
        try:
            data, src = s.recvfrom(2048)
        except socket.timeout:
            continue
        ip, port = data.decode().split()
        ext = [ip, int(port)]
        break
if a.barrier:
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.monotonic()
end = t0 + a.seconds
next_send = time.monotonic()
while True:
    now = time.monotonic()
    if a.send and sent < a.count and now >= next_send:
        s.sendto(b"%s:%d %d" % (a.ip.encode(), a.port, sent), a.send)
        sent += 1
        next_send = now + a.interval
    waits = [end - now]
    if a.send and sent < a.count:
        waits.append(next_send - now)
    wait = min(waits)
    if wait <= 0 and not (a.send and sent < a.count):
        break
    s.settimeout(max(wait, 0.001))
    try:
        data, src = s.recvfrom(2048)
        got.append([src[0], src[1], data.decode(errors="replace")])
    except socket.timeout:
        pass
print(json.dumps({"ext": ext, "got": got, "sent": sent}), flush=True)
