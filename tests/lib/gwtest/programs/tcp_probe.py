# SPDX-License-Identifier: MIT
"""Exit 0 when ADDR:PORT accepts a TCP connection within half a second,
else the connect's errno.

    tcp_probe.py ADDR PORT
"""
import socket
import sys

addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
s.settimeout(0.5)
sys.exit(s.connect_ex((addr, port)))
