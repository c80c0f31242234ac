#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes tests/fuzz/corpus/dns_stats: gw-dns's replies to STATS
(dns/proto.h: struct gwdns_reply, struct gwdns_stats_head, count struct
gwdns_counter of a 48-byte name and a u64 value), good and broken, each
named for what it is.  Run from anywhere; rewrites the folder's files.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "dns_stats")

# dns/stats.h's names, in its order.
NAMES = """query.udp query.tcp answer.local answer.cache answer.forward answer.canary
answer.truncated refused.client refused.noconfig refused.query formerr notimp
drop.malformed drop.ratelimit drop.response servfail.timeout servfail.upstream
servfail.overload servfail.rebind servfail.engine servfail.hold hold hold.released
learn.sent policy.loaded blocked.device upstream.sent upstream.tcp upstream.answer
upstream.error upstream.rcode upstream.drop.malformed upstream.drop.id
upstream.drop.source upstream.drop.question upstream.drop.flags cache.hit cache.miss
cache.insert cache.evict cache.bytes cache.entries upstream.pending tcp.accept tcp.drop
control.error""".split()


def reply(status=0, counters=(), count=None, tail=b""):
    body = struct.pack("<iI", status, 0)
    if status < 0:
        return body + tail
    body += struct.pack("<II", len(counters) if count is None else count, 0)
    for name, value in counters:
        raw = name if isinstance(name, bytes) else name.encode()
        body += raw[:48].ljust(48, b"\0") + struct.pack("<Q", value)
    return body + tail


CASES = {
    "every-counter": reply(0, [(n, i * 1000 + 7) for i, n in enumerate(NAMES)]),
    "none": reply(0, []),
    "one-unknown-name": reply(0, [("quantum.entangled", 1), ("query.udp", 5)]),
    "prefix-names": reply(0, [("query.", 1), ("query.udp.extra", 2), ("drop.", 3)]),
    "label-escapes": reply(0, [('drop.a"b\\c\nd', 9)]),
    "refused-status": reply(-95),
    "bad-status-huge-negative": reply(-100000),
    "bad-count-past-body": reply(0, [("query.udp", 1)], count=2),
    "bad-count-short": reply(0, [("query.udp", 1), ("query.tcp", 2)], count=1),
    "bad-count-over-limit": reply(0, [], count=5000),
    "bad-name-no-nul": reply(0, [(b"x" * 48, 1)]),
    "bad-cut-head": struct.pack("<iI", 0, 0) + b"\x02\x00",
    "bad-cut-reply": b"\x00\x00",
    "bad-trailing-byte": reply(0, [("query.udp", 1)], tail=b"\x00"),
}

os.makedirs(OUT, exist_ok=True)
for name, data in CASES.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print("%d files in %s" % (len(CASES), OUT))
