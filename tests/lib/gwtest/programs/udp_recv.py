# SPDX-License-Identifier: MIT
"""The receiver of udp_send.py's datagrams.

    udp_recv.py ADDR PORT [--ready FILE] [--log FILE] [--idle-exit SECONDS]

Binds ADDR:PORT (creates FILE once bound, so a test knows when to start
sending), and receives until SIGTERM, or until no datagram came for
SECONDS with --idle-exit.  Then prints one JSON line:
{"received": N, "first": SEQ, "max": SEQ, "gaps": [[first missing, last
missing, send time before, send time after], ...]} (first and max -1 when
nothing came; a datagram not in udp_send.py's format counts with its own
sequence), and with --log writes "SEQ RECEIVE_TIME" lines (CLOCK_MONOTONIC)
to FILE.
"""
import argparse
import json
import signal
import socket
import struct
import time

ap = argparse.ArgumentParser()
ap.add_argument("addr")
ap.add_argument("port", type=int)
ap.add_argument("--ready")
ap.add_argument("--log")
ap.add_argument("--idle-exit", type=float, default=0)
a = ap.parse_args()


class Stop(Exception):
    pass


def on_term(*_):
    raise Stop()


s = socket.socket(socket.AF_INET6 if ":" in a.addr else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((a.addr, a.port))
if a.idle_exit:
    s.settimeout(a.idle_exit)
signal.signal(signal.SIGTERM, on_term)
if a.ready:
    open(a.ready, "w").close()
sent_at, got_at = {}, {}
other = 0
try:
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        now = time.monotonic()
        if len(b) >= 16:
            seq, t = struct.unpack("<Qd", b[:16])
        else:
            seq, t = (1 << 62) + other, now
            other += 1
        sent_at[seq] = t
        got_at[seq] = now
except Stop:
    pass
signal.signal(signal.SIGTERM, signal.SIG_IGN)
seqs = sorted(sent_at)
gaps = [[x + 1, y - 1, sent_at[x], sent_at[y]] for x, y in zip(seqs, seqs[1:]) if y > x + 1]
if a.log:
    with open(a.log, "w") as f:
        for seq in seqs:
            f.write("%d %.6f\n" % (seq, got_at[seq]))
print(json.dumps({"received": len(seqs), "first": seqs[0] if seqs else -1,
                  "max": seqs[-1] if seqs else -1, "gaps": gaps}), flush=True)
