#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The harness's own checks (suite unit): what every Python test relies on.

    test_gwtest.py SRCDIR CASE

  proto    gwtest.proto speaks dataplane/proto.h: every structure's size is
           the header's _Static_assert, every message type, flag, event kind
           and op its constant, and the defaults' rule numbers policy/eval.h's
  pcap     gwtest.pcap reads classic pcap (both byte orders, micro- and
           nanoseconds, records past the snapshot length cut as libpcap
           cuts them, a cut-off last record dropped) and pcapng (both byte
           orders, enhanced, simple and obsolete packet blocks, a second
           interface of another link type ending the walk, unknown blocks
           skipped), and reads back what it writes
  mesonlog tools/gw's reading of meson's test log: results by suite, unknown
           results and garbage as failures
  harness  wait_for returns the value, times out with Fail, and notices a
           process that died; the leftovers sweep matches gw's names only
Exit 0 pass, 1 fail.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import Fail, check, mesonlog, net, pcap, proc, proto  # noqa: E402

SRCDIR, CASE = sys.argv[1:3]


def header(path):
    with open(os.path.join(SRCDIR, path)) as f:
        return f.read()


def case_proto():
    h = header("dataplane/proto.h")
    sizes = dict((n, int(v)) for n, v in re.findall(
        r"_Static_assert\(sizeof\(struct (\w+)\) == (\d+)", h))
    check(len(sizes) >= 20, "proto.h: only %d _Static_asserts found" % len(sizes))
    for name, want in sizes.items():
        check(name in proto.STRUCTS, "gwtest.proto has no struct %s of proto.h" % name)
        got = proto.STRUCTS[name].size
        check(got == want, "struct %s: %d bytes in gwtest.proto, %d in proto.h"
              % (name, got, want))

    def define(name):
        m = re.search(r"#define %s\s+\(?([0-9a-fx]+)u?(?:\s*<<\s*(\d+))?" % name, h)
        check(m, "proto.h defines no %s" % name)
        v = int(m.group(1), 0)
        return v << int(m.group(2)) if m.group(2) else v

    def enum(name):
        m = re.search(r"\b%s = (\d+)" % name, h)
        check(m, "proto.h has no %s" % name)
        return int(m.group(1))
    pairs = [("DP_MSG_MAGIC", proto.MAGIC), ("DP_MSG_VERSION", proto.VERSION),
             ("DP_MSG_REPLY", proto.REPLY), ("DP_IMAGE_MAX", proto.IMAGE_MAX),
             ("DP_FLOWS_MAX", proto.FLOWS_MAX), ("DP_DOMAIN_MAX", proto.DOMAIN_MAX),
             ("DP_DOMAIN_TABLE", proto.DOMAIN_TABLE),
             ("DP_DOMAIN_TTL_MIN", proto.DOMAIN_TTL_MIN), ("DP_EVENTS_MAX", proto.EVENTS_MAX),
             ("DP_DEVICE_MAX", proto.DEVICE_MAX), ("DP_DEVICE_TABLE", proto.DEVICE_TABLE),
             ("DP_ACTIVE_VALID_MAX", proto.ACTIVE_VALID_MAX),
             ("DP_HEALTH_POLICY", proto.HEALTH_POLICY),
             ("DP_HEALTH_PINNED", proto.HEALTH_PINNED), ("DP_HEALTH_IO", proto.HEALTH_IO)]
    for name, have in pairs:
        check(define(name) == have, "%s: %#x in proto.h, %#x in gwtest.proto"
              % (name, define(name), have))
    enums = [("DP_MSG_HEALTH", proto.HEALTH), ("DP_MSG_STATS", proto.STATS),
             ("DP_MSG_LOAD_IMAGE", proto.LOAD_IMAGE), ("DP_MSG_SET_ACTIVE", proto.SET_ACTIVE),
             ("DP_MSG_FLOWS", proto.FLOWS), ("DP_MSG_IMAGE_INFO", proto.IMAGE_INFO),
             ("DP_MSG_DOMAIN_SET", proto.DOMAIN_SET), ("DP_MSG_EVENTS", proto.EVENTS),
             ("DP_MSG_DEVICE_SET", proto.DEVICE_SET),
             ("DP_MSG_SET_ACTIVE_FOR", proto.SET_ACTIVE_FOR), ("DP_EV_NEW", proto.EV_NEW),
             ("DP_EV_END", proto.EV_END), ("DP_EV_COUNTERS", proto.EV_COUNTERS),
             ("DP_EV_LOG", proto.EV_LOG), ("DP_DEVICE_BIND", proto.DEVICE_BIND),
             ("DP_DEVICE_UNBIND", proto.DEVICE_UNBIND)]
    for name, have in enums:
        check(enum(name) == have, "%s: %d in proto.h, %d in gwtest.proto"
              % (name, enum(name), have))
    ev = header("policy/eval.h")
    for name, have in (("POL_RULE_DEFAULT", proto.RULE_DEFAULT),
                       ("POL_RULE_DEFAULT_NEW", proto.RULE_DEFAULT_NEW)):
        m = re.search(r"#define %s\s+(0x[0-9a-f]+)u" % name, ev)
        check(m and int(m.group(1), 16) == have, "%s differs from policy/eval.h" % name)
    # A request as the header says: magic, version, type, flags, length, id.
    r = proto.request(proto.HEALTH, b"ab", 7)
    check(r == struct.pack("<IHHIIQ", 0x50445747, 1, 1, 0, 2, 7) + b"ab", "request bytes")
    b = proto.domain_body([("192.0.2.1", 30, 5), ("2001:db8::1", 0, 0)])
    check(len(b) == 8 + 2 * 32 and b[8] == 4 and b[8 + 32] == 6, "domain_body layout")
    d = proto.device_body([("02:00:00:00:00:0a", proto.DEVICE_BIND, 3)], 9)
    check(d == struct.pack("<II", 1, 9) + bytes.fromhex("02000000000a") +
          struct.pack("<BxI", 1, 3), "device_body layout")


def pcapng_block(e, btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def pcapng(e, blocks):
    shb = pcapng_block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    return shb + b"".join(blocks)


def case_pcap():
    tmp = tempfile.mkdtemp(prefix="gwtest-pcap-")
    path = os.path.join(tmp, "f")

    def read(data):
        with open(path, "wb") as f:
            f.write(data)
        return pcap.read(path)
    frames = [bytes([i]) * (14 + i) for i in range(1, 6)]
    pcap.write(path, frames)
    check(pcap.read(path) == (1, frames), "classic pcap does not read back what it wrote")
    for magic, e in ((0xa1b2c3d4, "<"), (0xa1b2c3d4, ">"), (0xa1b23c4d, "<")):
        data = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 20, 1)
        for fr in frames:
            data += struct.pack(e + "IIII", 0, 0, len(fr), len(fr)) + fr
        got = read(data)
        check(got == (1, [fr[:20] for fr in frames]),
              "classic %s %#x: %r (records past snaplen 20 are cut to it)" % (e, magic, got))
        check(read(data[:-3]) == (1, [fr[:20] for fr in frames[:-1]]),
              "a cut-off last record is not dropped")
    check(read(b"not a capture at all, really") is None, "text read as a capture")
    for e in "<>":
        idb_eth = pcapng_block(e, 1, struct.pack(e + "HHI", 1, 0, 0))
        idb_ppp = pcapng_block(e, 1, struct.pack(e + "HHI", 9, 0, 0))
        epb = [pcapng_block(e, 6, struct.pack(e + "IIIII", 0, 0, 0, len(fr), len(fr)) + fr)
               for fr in frames]
        spb = pcapng_block(e, 3, struct.pack(e + "I", len(frames[0])) + frames[0])
        opb = pcapng_block(e, 2, struct.pack(e + "HHIIII", 0, 0, 0, 0, len(frames[1]),
                                             len(frames[1])) + frames[1])
        other = pcapng_block(e, 0x0BAD, b"opaque")
        data = pcapng(e, [idb_eth, epb[0], other, spb, opb, epb[2]])
        got = read(data)
        check(got == (1, [frames[0], frames[0], frames[1], frames[2]]),
              "pcapng %s: %r" % (e, got))
        got = read(pcapng(e, [idb_eth, idb_ppp, epb[0],
                              pcapng_block(e, 6, struct.pack(e + "IIIII", 1, 0, 0, 5, 5) +
                                           b"x" * 5), epb[1]]))
        check(got == (1, [frames[0]]),
              "pcapng %s: a packet of another link type's interface must end it: %r" % (e, got))
        check(read(data[:-5]) == (1, [frames[0], frames[0], frames[1]]),
              "pcapng %s: a cut-off block must end it" % e)
        lying = pcapng_block(e, 6, struct.pack(e + "IIIII", 0, 0, 0, 100, 100) + b"y" * 8)
        check(read(pcapng(e, [idb_eth, epb[0], lying, epb[1]])) == (1, [frames[0]]),
              "pcapng %s: a packet longer than its block must end it" % e)
    subprocess.run(["rm", "-rf", tmp])


def case_mesonlog():
    lines = ['{"name": "gw:unit / a", "result": "OK"}',
             '{"name": "gw:unit / b", "result": "SKIP"}',
             '{"name": "gw:netns / c", "result": "FAIL"}',
             '{"name": "gw:netns / d", "result": "TIMEOUT"}',
             '{"name": "gw:golden / e", "result": "EXPECTEDFAIL"}',
             '{"name": "gw:golden / f", "result": "SOMETHING"}',
             'garbage', '']
    got = mesonlog.results(lines)
    want = {"*": [2, 4, 1], "unit": [1, 0, 1], "netns": [0, 2, 0], "golden": [1, 1, 0]}
    check(got == want, "mesonlog.results: %r, want %r" % (got, want))


def case_harness():
    n = [0]

    def third():
        n[0] += 1
        return n[0] >= 3 and "yes"
    check(gwtest.wait_for("third", third, timeout=5, step=0.01) == "yes", "wait_for's value")
    try:
        gwtest.wait_for("never", lambda: False, timeout=0.2, step=0.05)
        raise AssertionError
    except Fail as e:
        check("timed out waiting for never" in str(e), str(e))
    except AssertionError:
        raise Fail("wait_for did not time out")
    p = proc.popen(["true"])
    p.wait()
    try:
        gwtest.wait_for("anything", lambda: False, timeout=5, proc=p)
        raise Fail("wait_for did not notice a dead process")
    except Fail as e:
        check("exited with 0" in str(e), str(e))
    for name, mine in (("gwt123-gw", True), ("gwl123t-inet", True), ("gwba77-lan", True),
                       ("gw-other-1", False), ("gwt-dev-123", False), ("home", False)):
        check(bool(net._NAME.match(name)) == mine, "sweep matches %s: %s" % (name, not mine))
    for name, mine in (("gw-test-123", True), ("gw-lab-9", True), ("gw-test-12-b", True),
                       ("gw-bench-apply-5", True), ("gw", False), ("gw-prod", False)):
        check(bool(net._PINS.match(name)) == mine, "pin sweep matches %s: %s" % (name, not mine))


def main():
    fn = globals().get("case_" + CASE)
    if not fn:
        print("unknown case %s" % CASE)
        return 2
    return gwtest.main(fn, "gwtest-" + CASE)


if __name__ == "__main__":
    sys.exit(main())
