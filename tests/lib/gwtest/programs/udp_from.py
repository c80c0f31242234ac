# SPDX-License-Identifier: MIT
"""One UDP datagram TEXT to DST:PORT from a given source address and port
(an internet host probing a NAT mapping).

    udp_from.py SRC_IP SRC_PORT DST_IP DST_PORT TEXT
"""
import socket
import sys

src_ip, src_port, dst_ip, dst_port, text = sys.argv[1:6]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((src_ip, int(src_port)))
s.sendto(text.encode(), (dst_ip, int(dst_port)))
