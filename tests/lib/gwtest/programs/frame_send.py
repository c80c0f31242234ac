# SPDX-License-Identifier: MIT
"""Sends Ethernet frames as they are, once each, on an interface.

    frame_send.py IFACE HEX [HEX ...]

Each HEX is one whole frame (from the destination MAC on) in hexadecimal;
it goes out IFACE through an AF_PACKET socket, so a test can send what no
socket API would (a spoofed source address, headers of its choosing).
Exits 0 when every frame was sent.
"""
import socket
import sys

iface, frames = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for h in frames:
    f = bytes.fromhex(h)
    if s.send(f) != len(f):
        sys.exit("%s: short send" % iface)
