# SPDX-License-Identifier: MIT
"""UDP datagrams from a given source address (one the sender's namespace
has, standing in for a spoofed one on the wire).

    send_from.py SRC DST PORT COUNT

Sends COUNT datagrams of 32 bytes from SRC to DST:PORT, 10 ms apart;
prints how many the kernel took.
"""
import socket
import sys
import time

src, dst, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
sent = 0
for i in range(count):
    try:
        s.sendto(b"spoofed %d" % i + b"." * 20, (dst, port))
        sent += 1
    except OSError:
        pass
    time.sleep(0.01)
print(sent)
