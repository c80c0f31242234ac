# SPDX-License-Identifier: MIT
"""Decoy services on the gateway: something listens on every port a scan
should not find open, and answers whatever reaches it.

    listen.py [--tcp PORT]... [--udp PORT]...

Listens on 0.0.0.0 and :: for each TCP port (accepts, writes "hello\\n",
closes) and each UDP port (echoes every datagram back).  Runs until
SIGTERM.
"""
import argparse
import selectors
import signal
import socket
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--tcp", type=int, action="append", default=[])
ap.add_argument("--udp", type=int, action="append", default=[])
a = ap.parse_args()

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sel = selectors.DefaultSelector()
for port in a.tcp:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(64)
    sel.register(s, selectors.EVENT_READ, "tcp")
for port in a.udp:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    sel.register(s, selectors.EVENT_READ, "udp")
print("listening", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        try:
            if key.data == "tcp":
                c, _ = s.accept()
                c.sendall(b"hello\n")
                c.close()
            else:
                data, peer = s.recvfrom(2048)
                s.sendto(data, peer)
        except OSError:
            pass
