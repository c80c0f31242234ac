# SPDX-License-Identifier: MIT
"""Capture files: classic pcap (micro- or nanosecond, either byte order)
and pcapng, read as libpcap reads them; classic pcap written.

    linktype, frames = read(path)     # None when it is neither format
    write(path, frames)

A file cut short ends its frames where it is cut, as libpcap and tcpdump
stop there (the frames before count).  For pcapng, as libpcap: the file's
link type is its first interface's; a packet of an interface with another
link type ends the walk (libpcap reports an error there); blocks other
than packets and interfaces are skipped.
"""
import struct

ETHERNET = 1

_CLASSIC = {0xa1b2c3d4: "<", 0xa1b23c4d: "<", 0xd4c3b2a1: ">", 0x4d3cb2a1: ">"}
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BOM = 0x1A2B3C4D
HEADER = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, ETHERNET)


def read(path):
    """(linktype, [frame bytes]) of a pcap or pcapng file; None when the
    file is neither (or too short to say)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return None
    magic = struct.unpack("<I", data[:4])[0]
    if magic in _CLASSIC:
        return _read_classic(data, _CLASSIC[magic])
    if magic == _PCAPNG_SHB:
        return _read_pcapng(data)
    return None


def _read_classic(data, e):
    snaplen, linktype = struct.unpack(e + "II", data[16:24])
    linktype &= 0x0fffffff
    frames, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        off += 16
        if caplen > len(data) - off:
            break  # a cut-off last record
        # A record longer than the file's snapshot length: libpcap reads
        # it and hands on its first snaplen bytes.
        frames.append(data[off:off + min(caplen, snaplen or caplen)])
        off += caplen
    return linktype, frames


def _read_pcapng(data):
    e = None
    linktype = None
    ifaces = []  # (linktype, snaplen) per interface of the current section
    frames = []
    off = 0
    while off + 12 <= len(data):
        if e is None or struct.unpack(e + "I", data[off:off + 4])[0] == _PCAPNG_SHB:
            # A section header: its byte-order magic says the order of all
            # that follows until the next one.
            bom = data[off + 8:off + 12]
            if bom == struct.pack("<I", _PCAPNG_BOM):
                e = "<"
            elif bom == struct.pack(">I", _PCAPNG_BOM):
                e = ">"
            else:
                break
            ifaces = []
        btype, blen = struct.unpack(e + "II", data[off:off + 8])
        if blen < 12 or blen % 4 or off + blen > len(data):
            break  # a cut-off or damaged block ends the file
        body = data[off + 8:off + blen - 4]
        off += blen
        if btype == 1 and len(body) >= 8:        # interface description
            lt, _, snap = struct.unpack(e + "HHI", body[:8])
            ifaces.append((lt, snap))
            if linktype is None:
                linktype = lt
        elif btype in (6, 2, 3):                 # enhanced, obsolete, simple packet
            if btype == 6 and len(body) >= 20:
                iface, _, _, caplen, _ = struct.unpack(e + "IIIII", body[:20])
                start = 20
            elif btype == 2 and len(body) >= 20:
                iface = struct.unpack(e + "H", body[:2])[0]
                caplen = struct.unpack(e + "I", body[12:16])[0]
                start = 20
            elif btype == 3 and len(body) >= 4:
                iface = 0
                if not ifaces:
                    break
                orig = struct.unpack(e + "I", body[:4])[0]
                snap = ifaces[0][1] or orig
                caplen = min(orig, snap, len(body) - 4)
                start = 4
            else:
                break
            if iface >= len(ifaces) or ifaces[iface][0] != linktype:
                break
            if caplen > len(body) - start:
                break
            frames.append(body[start:start + caplen])
    if linktype is None:
        return None if not frames else (0, frames)
    return linktype, frames


def write(path, frames):
    """A classic pcap (microseconds, Ethernet) of frames, the i-th at
    i microseconds."""
    with open(path, "wb") as f:
        f.write(HEADER)
        for i, fr in enumerate(frames):
            f.write(record(fr, i // 1000000, i % 1000000))


def record(frame, sec=0, usec=0):
    """One classic pcap record of frame, stamped sec.usec."""
    return struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
