# SPDX-License-Identifier: MIT
"""The internet's mirror for NAT tests (what STUN does): on ADDR:PORT,
UDP and TCP, it tells each sender the address and port it came from.

    nat_reflector.py ADDR PORT

UDP: every datagram gets one back, "IP PORT" of its sender.  A datagram
"again N" also gets a second one, "again IP PORT", sent from ADDR and port
PORT + N (the same host, another port: address-dependent filtering lets
it in, address-and-port-dependent does not).  TCP: each connection gets
"IP PORT\\n" and stays open until the client closes it.  Runs until
SIGTERM.
"""
import selectors
import socket
import sys

addr, port = sys.argv[1], int(sys.argv[2])
sel = selectors.DefaultSelector()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
u.bind((addr, port))
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((addr, port))
t.listen(64)
sel.register(u, selectors.EVENT_READ, "udp")
sel.register(t, selectors.EVENT_READ, "listen")
print("reflector on %s:%d" % (addr, port), flush=True)
while True:
    for key, _ in sel.select():
        if key.data == "udp":
            data, src = u.recvfrom(2048)
            u.sendto(("%s %d" % src).encode(), src)
            words = data.split()
            if len(words) == 2 and words[0] == b"again":
                o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                o.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                o.bind((addr, port + int(words[1])))
                o.sendto(("again %s %d" % src).encode(), src)
                o.close()
        elif key.data == "listen":
            c, src = t.accept()
            c.sendall(("%s %d\n" % src).encode())
            sel.register(c, selectors.EVENT_READ, "conn")
        else:
            c = key.fileobj
            try:
                gone = not c.recv(4096)
            except OSError:
                gone = True
            if gone:
                sel.unregister(c)
                c.close()
