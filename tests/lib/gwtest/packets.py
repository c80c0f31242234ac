# SPDX-License-Identifier: MIT
"""Frames built by hand for the fast path's tests: Ethernet with IPv4
(TCP, UDP, ICMP echo) or IPv6 (UDP), every checksum computed in full
(the fast path's incremental updates are checked against these).

Addresses are given as bytes or as text ("192.168.1.10", "02:00:00:00:00:0a").
"""
import ipaddress
import struct

TCP, UDP, ICMP = 6, 17, 1
ETH_IP4, ETH_IP6 = b"\x08\x00", b"\x86\xdd"


def csum(b):
    """The Internet checksum (RFC 1071) of b, odd lengths padded."""
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def mac(m):
    """A MAC as 6 bytes."""
    return m if isinstance(m, bytes) else bytes(int(x, 16) for x in m.split(":"))


def ip(a):
    """An IPv4 or IPv6 address as 4 or 16 bytes."""
    return a if isinstance(a, bytes) else ipaddress.ip_address(a).packed


def ip4_packet(src, dst, proto, l4, ttl=64, ident=1):
    """An IPv4 header (checksummed) and l4."""
    src, dst = ip(src), ip(dst)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, 0, ttl, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4


def tcp4(src, dst, sport, dport, flags, payload=b"", seq=1000, ack=0, window=65535):
    """A TCP segment (checksummed over the IPv4 pseudo-header)."""
    src, dst = ip(src), ip(dst)
    b = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, TCP, len(b))
    return b[:16] + struct.pack("!H", csum(pseudo + b)) + b[18:]


def udp4(src, dst, sport, dport, payload):
    src, dst = ip(src), ip(dst)
    b = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, UDP, len(b))
    return b[:6] + struct.pack("!H", csum(pseudo + b) or 0xffff) + b[8:]


def icmp_echo(typ, ident, seq=1, payload=b""):
    """An ICMP echo request (typ 8) or reply (0)."""
    b = struct.pack("!BBHHH", typ, 0, 0, ident, seq) + payload
    return b[:2] + struct.pack("!H", csum(b)) + b[4:]


def ether(dst_mac, src_mac, ethertype, payload):
    return mac(dst_mac) + mac(src_mac) + ethertype + payload


def tcp_frame(dst_mac, src_mac, src, dst, sport, dport, flags, payload=b"", seq=1000, ack=0):
    """Ethernet, IPv4, TCP."""
    return ether(dst_mac, src_mac, ETH_IP4,
                 ip4_packet(src, dst, TCP, tcp4(src, dst, sport, dport, flags, payload, seq, ack)))


def udp_frame(dst_mac, src_mac, src, dst, sport, dport, payload=b"x" * 8):
    """Ethernet, IPv4, UDP."""
    return ether(dst_mac, src_mac, ETH_IP4,
                 ip4_packet(src, dst, UDP, udp4(src, dst, sport, dport, payload)))


def echo_frame(dst_mac, src_mac, src, dst, typ, ident, payload=b"x" * 8):
    """Ethernet, IPv4, ICMP echo (typ 8 request, 0 reply)."""
    return ether(dst_mac, src_mac, ETH_IP4,
                 ip4_packet(src, dst, ICMP, icmp_echo(typ, ident, 1, payload)))


def udp6_frame(dst_mac, src_mac, src, dst, sport, dport, payload=b"y" * 8, hops=64):
    """Ethernet, IPv6, UDP (checksummed over the IPv6 pseudo-header)."""
    src, dst = ip(src), ip(dst)
    u = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = src + dst + struct.pack("!IxxxB", len(u), UDP)
    u = u[:6] + struct.pack("!H", csum(pseudo + u) or 0xffff) + u[8:]
    return ether(dst_mac, src_mac, ETH_IP6,
                 struct.pack("!IHBB", 6 << 28, len(u), UDP, hops) + src + dst + u)


def parse4(frame):
    """(src, dst, proto, sport, dport) of an Ethernet IPv4 frame's
    addresses and ports; for an ICMP echo (type, identifier)."""
    p = frame[14:]
    ihl = (p[0] & 15) * 4
    proto, src, dst = p[9], p[12:16], p[16:20]
    l4 = p[ihl:]
    if proto == ICMP:
        return src, dst, proto, l4[0], struct.unpack("!H", l4[4:6])[0]
    return (src, dst, proto) + struct.unpack("!HH", l4[:4])
