#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of fuzz_dns_query, fuzz_dns_answer and
fuzz_dns_proto into tests/fuzz/corpus/dns_{query,answer,proto}/.

usage: tests/fuzz/mk_dns_corpus.py      (run again after a protocol change)

DNS messages are built here byte by byte on purpose: seeds must include
what no library would write (compression loops, cut records, lying counts).
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from gwtest import dns as dnslab  # noqa: E402  (the one speaker of dns/proto.h)

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, OPT, ANY, AXFR = 1, 2, 5, 6, 12, 15, 16, 28, 41, 255, 252


def name(n):
    out = b""
    for label in n.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(qid, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


def question(n, t, c=1):
    return name(n) + struct.pack(">HH", t, c)


def rr(owner, t, ttl, rdata, c=1):
    o = owner if isinstance(owner, bytes) else name(owner)
    return o + struct.pack(">HHIH", t, c, ttl, len(rdata)) + rdata


def opt(size=1232, version=0):
    return b"\0" + struct.pack(">HHBBHH", OPT, size, 0, version, 0, 0)


def soa(zone):
    return name("ns." + zone) + name("host." + zone) + struct.pack(">IIIII", 1, 3600, 600, 86400, 30)


def write(folder, files):
    d = os.path.join(HERE, "corpus", folder)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.unlink(os.path.join(d, old))
    for fname, data in files.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)


def queries():
    q = {}
    rd = 0x0100
    q["a-local"] = header(1, rd) + question("laptop.home.arpa", A)
    q["aaaa-new"] = header(2, rd) + question("tv.new.home.arpa", AAAA)
    q["ptr-v4"] = header(3, rd) + question("10.0.0.10.in-addr.arpa", PTR)
    q["ptr-private"] = header(4, rd) + question("5.1.168.192.in-addr.arpa", PTR)
    q["soa-apex"] = header(5, rd) + question("home.arpa", SOA)
    q["ns-apex"] = header(6, rd) + question("home.arpa", NS)
    q["any-local"] = header(7, rd) + question("laptop.home.arpa", ANY)
    q["nx-local"] = header(8, rd) + question("ghost.home.arpa", A)
    q["forward-edns"] = header(9, rd, ar=1) + question("www.example.com", A) + opt()
    q["forward-edns-small"] = header(10, rd, ar=1) + question("www.example.com", TXT) + opt(100)
    q["edns-v1"] = header(11, rd, ar=1) + question("www.example.com", A) + opt(1232, 1)
    q["canary"] = header(12, rd) + question("use-application-dns.net", A)
    q["resolver-arpa"] = header(13, rd) + question("_dns.resolver.arpa", 64)
    q["localhost"] = header(14, rd) + question("localhost", AAAA)
    q["axfr"] = header(15, 0) + question("home.arpa", AXFR)
    q["chaos"] = header(16, rd) + question("version.bind", TXT, 3)
    q["two-questions"] = header(17, rd, qd=2) + question("a.example", A) + question("b.example", A)
    q["no-question"] = header(18, rd, qd=0)
    q["notify-opcode"] = header(19, 0x2000) + question("home.arpa", SOA)
    q["response"] = header(20, 0x8180) + question("www.example.com", A)
    q["compression-loop"] = header(21, rd) + b"\xc0\x0c" + struct.pack(">HH", A, 1)
    q["label-overflow"] = header(22, rd) + b"\x40" + b"a" * 64 + b"\0" + struct.pack(">HH", A, 1)
    q["name-too-long"] = header(23, rd) + (b"\x3f" + b"a" * 63) * 5 + b"\0" + struct.pack(">HH", A, 1)
    q["truncated"] = (header(24, rd) + question("www.example.com", A))[:-3]
    q["qdcount-lies"] = header(25, rd, qd=9) + question("www.example.com", A)
    q["short"] = b"\x00\x01\x01"
    q["mixed-case"] = header(26, rd) + question("LaPtOp.HoMe.ArPa", A)
    q["opt-question"] = header(27, rd) + question("www.example.com", OPT)
    return q


def answers():
    """Byte 0 picks the question: bits 0-1 the name, bits 2-4 the type (fuzz_dns_answer.c)."""
    www, ab = 0, 1                      # www.example.com., a.b.example.
    ta, taaaa, tcname, tmx = 0, 1, 2, 3
    qa = 0x8180

    def sel(n, t):
        return bytes([n | (t << 2)])

    def ans(qn, qt, an=(), ns=(), ar=(), flags=qa):
        body = question(qn, qt) + b"".join(an) + b"".join(ns) + b"".join(ar)
        return header(0, flags, 1, len(an), len(ns), len(ar)) + body

    a = {}
    a["a"] = sel(www, ta) + ans("www.example.com", A, [rr("www.example.com", A, 300, bytes([198, 51, 100, 1]))])
    a["aaaa"] = sel(www, taaaa) + ans("www.example.com", AAAA,
                                      [rr("www.example.com", AAAA, 300, bytes.fromhex("20010db8000000000000000000000001"))])
    a["cname-chain"] = sel(www, ta) + ans("www.example.com", A, [
        rr("www.example.com", CNAME, 300, name("cdn.example.net")),
        rr("cdn.example.net", CNAME, 60, name("edge.example.org")),
        rr("edge.example.org", A, 20, bytes([203, 0, 113, 5]))])
    a["cname-compressed"] = sel(www, ta) + ans("www.example.com", A, [
        rr(b"\xc0\x0c", CNAME, 300, b"\x03cdn\xc0\x10"),
        rr(b"\xc0\x2b", A, 300, bytes([203, 0, 113, 6]))])
    a["nxdomain-soa"] = sel(ab, ta) + ans("a.b.example", A, ns=[rr("example", SOA, 3600, soa("example"))], flags=0x8183)
    a["nodata-soa"] = sel(ab, taaaa) + ans("a.b.example", AAAA, ns=[rr("example", SOA, 3600, soa("example"))])
    a["nxdomain-no-soa"] = sel(ab, ta) + ans("a.b.example", A, flags=0x8183)
    a["poisoned-extra"] = sel(www, ta) + ans("www.example.com", A, [
        rr("www.example.com", A, 300, bytes([198, 51, 100, 1])),
        rr("bank.example.com", A, 300, bytes([203, 0, 113, 66]))],
        ar=[rr("ns.bank.example.com", A, 300, bytes([203, 0, 113, 67]))])
    a["rebind-private"] = sel(www, ta) + ans("www.example.com", A, [rr("www.example.com", A, 300, bytes([192, 168, 1, 1]))])
    a["rebind-via-cname"] = sel(www, ta) + ans("www.example.com", A, [
        rr("www.example.com", CNAME, 300, name("inner.example.com")),
        rr("inner.example.com", A, 300, bytes([10, 1, 2, 3]))])
    a["truncated-flag"] = sel(www, ta) + ans("www.example.com", A, flags=0x8380)
    a["servfail"] = sel(www, ta) + ans("www.example.com", A, flags=0x8182)
    a["wrong-question"] = sel(www, ta) + ans("evil.example.com", A, [rr("evil.example.com", A, 300, bytes([1, 2, 3, 4]))])
    a["wrong-type"] = sel(www, ta) + ans("www.example.com", MX, [rr("www.example.com", MX, 300, b"\0\x0a" + name("mx.example.com"))])
    a["not-response"] = sel(www, ta) + ans("www.example.com", A, flags=0x0100)
    a["compression-loop"] = sel(www, ta) + header(0, qa, 1, 1) + question("www.example.com", A) + \
        b"\xc0\x21" + struct.pack(">HHIH", A, 1, 300, 4) + bytes([1, 2, 3, 4])
    a["cut-record"] = a["a"][:-2]
    a["rdlength-lies"] = sel(www, ta) + header(0, qa, 1, 1) + question("www.example.com", A) + \
        name("www.example.com") + struct.pack(">HHIH", A, 1, 300, 200) + bytes([1, 2, 3, 4])
    a["ancount-lies"] = sel(www, ta) + ans("www.example.com", A, [rr("www.example.com", A, 300, bytes([198, 51, 100, 1]))])
    a["ancount-lies"] = a["ancount-lies"][:7] + b"\x30" + a["ancount-lies"][8:]
    a["ttl-zero"] = sel(www, ta) + ans("www.example.com", A, [rr("www.example.com", A, 0, bytes([198, 51, 100, 2]))])
    a["ttl-huge"] = sel(www, ta) + ans("www.example.com", A, [rr("www.example.com", A, 0xFFFFFFFF, bytes([198, 51, 100, 3]))])
    a["cname-loop"] = sel(www, ta) + ans("www.example.com", A, [
        rr("www.example.com", CNAME, 300, name("www.example.com"))])
    a["mx"] = sel(www, tmx) + ans("www.example.com", MX, [rr("www.example.com", MX, 300, b"\0\x0a" + name("mx.example.com"))])
    a["cname-asked"] = sel(www, tcname) + ans("www.example.com", CNAME, [rr("www.example.com", CNAME, 300, name("x.example"))])
    a["edns"] = sel(www, ta) + ans("www.example.com", A, [rr("www.example.com", A, 300, bytes([198, 51, 100, 1]))],
                                   ar=[opt()])
    return a


def proto():
    hdr = dnslab.HDR

    def msg(t, body, mid=1):
        return hdr.pack(dnslab.MAGIC, dnslab.VERSION, t, 0, len(body), mid) + body

    conf = dnslab.config_body(upstreams=[("192.0.2.1", 53), ("2001:db8::53", 5353)],
                              clients=[("10.0.0.0", 8), ("fd00::", 8)], selfs=["10.0.0.1"],
                              allow=["nas.example"])
    zone = dnslab.zone_body([("laptop", "10.0.0.10"), ("laptop", "fd00::10"), ("tv.new", "10.0.0.11")])
    p = {}
    p["config-zone"] = msg(dnslab.CONFIG, conf) + msg(dnslab.ZONE, zone, 2) + msg(dnslab.STATS, b"", 3)
    p["zone-before-config"] = msg(dnslab.ZONE, zone) + msg(dnslab.CONFIG, conf, 2)
    p["config-other-zone"] = msg(dnslab.CONFIG, dnslab.config_body(zone="Example.ORG.", clients=[("10.0.0.0", 8)]))
    p["config-bad-counts"] = msg(dnslab.CONFIG, conf[:-20])
    p["config-bad-zone"] = msg(dnslab.CONFIG, dnslab.config_body(zone="bad zone", clients=[("10.0.0.0", 8)]))
    p["config-bad-prefix"] = msg(dnslab.CONFIG, dnslab.config_body(clients=[("10.0.0.0", 8)])[:-20] +
                                 dnslab.PREFIX.pack(4, 33, 0, b"\0" * 16))
    p["zone-bad-name"] = msg(dnslab.CONFIG, conf) + msg(dnslab.ZONE, dnslab.zone_body([("a..b", "10.0.0.1")]), 2)
    p["zone-count-lies"] = msg(dnslab.CONFIG, conf) + msg(dnslab.ZONE, struct.pack("<II", 99, 0) + zone[8:], 2)
    p["bad-magic"] = hdr.pack(0xDEADBEEF, 1, 1, 0, 0, 1)
    p["bad-version"] = hdr.pack(dnslab.MAGIC, 9, 1, 0, 0, 1)
    p["huge-length"] = hdr.pack(dnslab.MAGIC, 1, 1, 0, 0xFFFFFFF0, 1)
    p["cut-body"] = msg(dnslab.CONFIG, conf)[:100]
    p["stats-with-body"] = msg(dnslab.STATS, b"x")

    def learn(name, ttl, addrs, sets=1, fam=4):
        body = struct.pack("<256sQIBxH16s", name.encode(), sets, ttl, fam, len(addrs),
                           bytes([10, 0, 0, 5]).ljust(16, b"\0"))
        for a in addrs:
            body += struct.pack("<B3x16s", 4, bytes(a).ljust(16, b"\0"))
        return msg(dnslab.LEARN, body)
    p["learn"] = learn("www.social.example", 300, [[198, 51, 100, 7], [198, 51, 100, 8]])
    p["learn-upper-name"] = learn("WWW.Social.example", 300, [[198, 51, 100, 7]])
    p["learn-ttl-low"] = learn("a.example", 5, [[198, 51, 100, 7]])
    p["learn-no-addr"] = learn("a.example", 300, [])
    p["learn-65-addrs"] = learn("a.example", 300, [[198, 51, 100, i] for i in range(65)])
    p["learn-bad-name"] = learn("a..example", 300, [[198, 51, 100, 7]])
    p["clients"] = msg(dnslab.CONFIG, conf) + msg(dnslab.CLIENTS, dnslab.clients_body(
        [("10.0.0.5", "02:00:00:00:00:01"), ("fd00::5", "02:00:00:00:00:02")]), 2)
    p["clients-multicast-mac"] = msg(dnslab.CLIENTS, dnslab.clients_body([("10.0.0.5", "01:00:5e:00:00:01")]))
    image = os.path.join(HERE, "corpus", "image", "home.img")
    if os.path.exists(image):
        with open(image, "rb") as f:
            img = f.read()
        p["policy-home"] = msg(dnslab.CONFIG, conf) + msg(dnslab.POLICY, img, 2) + \
            msg(dnslab.CLIENTS, dnslab.clients_body([("10.0.0.5", "3c:22:fb:41:8e:07")]), 3)
        p["policy-cut"] = msg(dnslab.POLICY, img[:len(img) // 2])
    return p


def main():
    write("dns_query", queries())
    write("dns_answer", answers())
    write("dns_proto", proto())
    return 0


if __name__ == "__main__":
    sys.exit(main())
