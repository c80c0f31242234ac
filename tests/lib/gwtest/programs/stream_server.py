# SPDX-License-Identifier: MIT
"""A paced HTTP download: the sender, not the receiver, sets the pace, so
nothing piles up in buffers and the moment the bytes stop at the client is
the moment something between them stopped them (a policy swap).

    stream_server.py ADDR PORT [--chunk BYTES] [--every SECONDS] [--count N]
                     [--length]

Answers every connection (one thread each) with an HTTP 200 and COUNT
chunks of CHUNK bytes, one every SECONDS; prints "stream from CLIENT" for
each.  HTTP/1.0: the connection's end ends the body, unless --length
sends its Content-Length.
"""
import argparse
import socket
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("addr")
ap.add_argument("port", type=int)
ap.add_argument("--chunk", type=int, default=2048)
ap.add_argument("--every", type=float, default=0.01)
ap.add_argument("--count", type=int, default=6000)
ap.add_argument("--length", action="store_true")
a = ap.parse_args()


def serve(c, peer):
    print("stream from", peer[0], flush=True)
    try:
        c.recv(4096)
        head = "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
        if a.length:
            head += "Content-Length: %d\r\n" % (a.chunk * a.count)
        c.sendall((head + "\r\n").encode())
        for _ in range(a.count):
            c.sendall(b"x" * a.chunk)
            time.sleep(a.every)
    except OSError:
        pass
    c.close()


s = socket.socket(socket.AF_INET6 if ":" in a.addr else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((a.addr, a.port))
s.listen(16)
while True:
    conn, peer = s.accept()
    threading.Thread(target=serve, args=(conn, peer), daemon=True).start()
