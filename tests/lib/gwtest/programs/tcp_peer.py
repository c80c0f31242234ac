# SPDX-License-Identifier: MIT
"""A TCP endpoint of a LAN device in a NAT test, from one local port.

    tcp_peer.py BIND_IP BIND_PORT [--learn IP:PORT] [--connect IP:PORT]
                [--listen] [--seconds S]

--learn connects to nat_reflector.py at IP:PORT from the local port and
reads which address and port it came from (its NAT mapping); that
connection stays open meanwhile, so the mapping does.  --connect then
connects to IP:PORT from the same local port, again and again until it
succeeds or SECONDS pass (a simultaneous open when the peer does the same
towards it: each SYN crosses the other's); --listen accepts one
connection on the local port instead.  Either way it sends "hello from
NAME" (NAME: BIND_IP:BIND_PORT) and reads the other's line.  Prints one
JSON line: {"ext": [IP, PORT] or null, "peer": [IP, PORT] or null,
"heard": TEXT or null, "error": TEXT or null}.
"""
import argparse
import json
import socket
import time


def endpoint(s):
    ip, port = s.rsplit(":", 1)
    return ip, int(port)


def bound():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((a.ip, a.port))
    return s


def talk(c):
    # A connection made near the end still gets time to talk.
    c.settimeout(max(end - time.monotonic(), 3.0))
    c.sendall(b"hello from %s:%d\n" % (a.ip.encode(), a.port))
    line = b""
    while not line.endswith(b"\n"):
        more = c.recv(256)
        if not more:
            break
        line += more
    return line.decode(errors="replace").strip()


ap = argparse.ArgumentParser()
ap.add_argument("ip")
ap.add_argument("port", type=int)
ap.add_argument("--learn", type=endpoint)
ap.add_argument("--connect", type=endpoint)
ap.add_argument("--listen", action="store_true")
ap.add_argument("--seconds", type=float, default=10)
a = ap.parse_args()
end = time.monotonic() + a.seconds
out = {"ext": None, "peer": None, "heard": None, "error": None}
keep = None
try:
    if a.learn:
        keep = bound()
        keep.settimeout(a.seconds)
        keep.connect(a.learn)
        ip, port = keep.makefile().readline().split()
        out["ext"] = [ip, int(port)]
    if a.listen:
        srv = bound()
        srv.listen(1)
        srv.settimeout(max(end - time.monotonic(), 0.5))
        c, src = srv.accept()
        out["peer"] = list(src)
        out["heard"] = talk(c)
    elif a.connect:
        while True:
            c = bound()
            c.settimeout(1.0)
            try:
                c.connect(a.connect)
                break
            except OSError as e:
                c.close()
                if time.monotonic() >= end:
                    raise
                if getattr(e, "errno", None) not in (None,):
                    time.sleep(0.1)
        out["peer"] = list(c.getpeername())
        out["heard"] = talk(c)
except OSError as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out), flush=True)
