#!/usr/bin/python3
# The control socket on a running gw-dataplane (two lcores: the worker on
# one, the agent on the main one), one TCP flow replayed forever on the
# LAN port (net_pcap infinite_rx):
#   - HEALTH, STATS and FLOWS answer; the flow is forwarded;
#   - LOAD_IMAGE of a policy that blocks the flow's destination: the same
#     flow's later packets are dropped (policy_block grows, forwarded
#     stops), FLOWS shows it decided again under the new generation, and
#     the old generation is freed after the workers' grace period;
#   - SET_ACTIVE with every rule off lets it through again;
#   - a bad body, a bad image, a stale mask, a bad magic, a wrong version
#     and an oversized header get error replies, the policy stays, and
#     HEALTH still answers;
#   - IMAGE_INFO names the running image (its header's CRC-32 and size);
#   - EVENTS: the flow's NEW event, COUNTERS every ~2 s of activity, LOG
#     when a rule with log decides it; a bad max is refused;
#   - DOMAIN_SET under a policy with a domain rule: an entry for another
#     address leaves the flow alone, one for its destination blocks it
#     (live: it is decided again), removing the entry lets it through; a
#     bad entry is refused whole, a request past the table's capacity gets
#     -ENOSPC and changes nothing.
#   run-control.py GW_DATAPLANE GWCTL
# Exit 0 pass, 1 fail, 77 when DPDK cannot run here.
import os
import shutil
import signal
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import check, dataplane, wait_for  # noqa: E402
from gwtest.gwd import compile_policy  # noqa: E402
from gwtest.packets import ip, mac, tcp_frame  # noqa: E402
from gwtest.proc import sanitizer_report  # noqa: E402
from gwtest.proto import (DOMAIN_SET, EV_COUNTERS, EV_LOG, EV_NEW, EVENTS, FLOWS,  # noqa: E402
                          HDR, HEALTH, IMAGE_INFO, LOAD_IMAGE, MAGIC, SET_ACTIVE, VERSION,
                          Client, domain_body)

LAN_MAC, HOST_MAC, FOREIGN = "02:70:63:61:70:00", "02:00:00:00:00:0a", "02:00:00:00:00:99"
HOST, SERVER = "192.168.1.10", "198.51.100.7"
POLICY_ALLOW = """device host-a mac 02:00:00:00:00:0a
default allow
default new block
"""
POLICY_BLOCK = """device host-a mac 02:00:00:00:00:0a
list blocked prefixes { 198.51.100.7 }
rule no-blocked block any to list blocked
default allow
default new block
"""
POLICY_DOMAINS = """device host-a mac 02:00:00:00:00:0a
list streaming domains { video.example, *.video.example }
rule no-streaming block any to list streaming log
default allow
default new block
"""


def scenario(exe, gwctl, tmp, dps):
    sock = os.path.join(tmp, "control.sock")
    allow_img, _ = compile_policy(gwctl, tmp, "allow", POLICY_ALLOW)
    _, block = compile_policy(gwctl, tmp, "block", POLICY_BLOCK)
    # The flow's opening SYN, then its data, replayed forever: the same
    # 5-tuple for the whole run.
    syn = tcp_frame(LAN_MAC, HOST_MAC, HOST, SERVER, 40000, 443, 0x02)
    data = [tcp_frame(LAN_MAC, HOST_MAC, HOST, SERVER, 40000, 443, 0x18, b"x" * 32) for _ in range(7)]
    wan = [tcp_frame(FOREIGN, "02:00:00:00:00:98", "10.9.9.9", "10.9.9.8", 9, 9, 0x10)]
    dps.append(None)
    dp = dataplane.replay(exe, tmp, dataplane.prefix("control"), allow_img, [syn] + data, wan,
                          sock)
    dps[-1] = dp
    mode = os.stat(sock).st_mode & 0o777
    check(mode == 0o660, "socket mode %o, want 660" % mode)

    c = Client(sock)
    h = c.health()
    check(h["generation"] == 1 and h["workers"] == 1 and h["flags"] & 1, "health %r" % h)
    wait_for("the flow to be forwarded", lambda: c.stats()["lan.forwarded"] > 1000)
    s = c.stats()
    check(s["lan.drop.policy_block"] == 0, "blocked before the swap")
    check("wan.drop.l2_not_ours" in s and "lan.punt.arp" in s, "stats lacks named reasons")
    _, fl = c.flows()
    check(len(fl) == 1 and fl[0]["dst"] == ip(SERVER) and fl[0]["dport"] == 443 and
          fl[0]["action"] == 0 and fl[0]["generation"] == 1, "flows before: %r" % fl)

    # Errors that keep the connection: a bad body, an image that is not one.
    status, reason, _ = c.call(FLOWS, struct.pack("<QII", 0, 0, 0))
    check(status == -22 and "max" in reason, "flows max 0: %d %s" % (status, reason))
    status, reason, _ = c.call(LOAD_IMAGE, b"not an image at all")
    check(status < 0 and reason, "garbage image: %d" % status)
    status, reason, _ = c.call(LOAD_IMAGE, block[:len(block) // 2])
    check(status < 0 and reason, "half an image: %d" % status)
    check(c.health()["generation"] == 1, "a refused image changed the generation")
    print("refused image: %s" % reason)

    # The swap, live.
    p = c.ok(LOAD_IMAGE, block)
    gen, nrules = struct.unpack("<II", p)
    check(gen == 2 and nrules == 1, "load reply gen %d rules %d" % (gen, nrules))
    t_swap = time.time()
    wait_for("the flow to be blocked", lambda: c.stats()["lan.drop.policy_block"] > 0)
    t_bite = time.time()
    s1 = c.stats()
    time.sleep(0.3)
    s2 = c.stats()
    check(s2["lan.forwarded"] == s1["lan.forwarded"], "still forwarded after the swap: %d -> %d"
          % (s1["lan.forwarded"], s2["lan.forwarded"]))
    check(s2["lan.drop.policy_block"] > s1["lan.drop.policy_block"] + 1000, "not blocking")
    _, fl = c.flows()
    check(len(fl) == 1 and fl[0]["action"] == 1 and fl[0]["generation"] == 2 and fl[0]["rule"] == 0,
          "flows after the swap: %r" % fl)
    def freed():
        return "event=policy_freed generation=1" in dp.log()
    wait_for("generation 1 to be freed", freed)

    # The schedules' mask from outside: a stale one, then every rule off.
    status, reason, _ = c.call(SET_ACTIVE, struct.pack("<IIQ", 0, 64, 0))
    check(status == -116, "mask for the wrong rule count: %d %s" % (status, reason))
    status, reason, _ = c.call(SET_ACTIVE, struct.pack("<IIQ", 1, 1, 0))
    check(status == -116, "mask for generation 1: %d %s" % (status, reason))
    p = c.ok(SET_ACTIVE, struct.pack("<IIQ", 2, 1, 0))
    gen, _ = struct.unpack("<II", p)
    check(gen == 3, "set_active generation %d" % gen)
    f0 = c.stats()["lan.forwarded"]
    wait_for("the flow to pass again", lambda: c.stats()["lan.forwarded"] > f0 + 1000)
    h = c.health()
    check(h["generation"] == 3 and h["flags"] & 2 and h["rx"] > 0 and h["flows"] == 1, "health %r" % h)
    c.close()

    # Errors that end the connection, each on its own, and the server
    # stays up: bad magic, wrong version, oversized, unknown type.
    for name, raw, want in (
            ("bad magic", HDR.pack(0x11223344, VERSION, HEALTH, 0, 0, 7), -74),
            ("wrong version", HDR.pack(MAGIC, 9, HEALTH, 0, 0, 7), -93),
            ("oversized", HDR.pack(MAGIC, VERSION, LOAD_IMAGE, 0, (16 << 20) + 1, 7), -90),
            ("unknown type", HDR.pack(MAGIC, VERSION, 77, 0, 0, 7), -95)):
        b = Client(sock)
        b.send_raw(raw)
        _, _, typ, _, length, rid = HDR.unpack(b.recv_exact(HDR.size))
        body = b.recv_exact(length)
        status = struct.unpack("<i", body[:4])[0]
        check(status == want and rid == 7, "%s: status %d id %d" % (name, status, rid))
        check(b.closed(), "%s: connection left open" % name)
        b.close()
        print("%s: %d %s" % (name, status, body[8:].decode()))
    # A client that hangs up mid-message.
    b = Client(sock)
    b.send_raw(HDR.pack(MAGIC, VERSION, LOAD_IMAGE, 0, 1000, 8) + b"\0" * 10)
    b.close()
    c = Client(sock)
    h = c.health()
    check(h["generation"] == 3, "after the errors: %r" % h)
    # Paging: max 1 gives the one flow and then the end.
    nxt, fl = c.flows(0, 1)
    check(len(fl) == 1, "page 1")
    if nxt:
        nxt, fl2 = c.flows(nxt, 1)
        check(nxt == 0 and fl2 == [], "page 2: %r" % fl2)
    c.close()
    extensions(c_path=sock, tmp=tmp, gwctl=gwctl, block=block)
    print("swap bit after %.0f ms; forwarded %d then blocked %d" % (
        (t_bite - t_swap) * 1000, s1["lan.forwarded"], s2["lan.drop.policy_block"]))

    rc = dp.stop(signal.SIGTERM, 30)
    text = dp.log()
    check(rc == 0, "gw-dataplane exited %d" % rc)
    check(not sanitizer_report(text), "sanitizer report")
    check(not os.path.exists(sock), "socket left behind")
    bad = dataplane.check_accounting(dataplane.counters(text))
    check(not bad, "; ".join(bad))


def extensions(c_path, tmp, gwctl, block):
    c = Client(c_path)
    # IMAGE_INFO: the running image is the blocking one (SET_ACTIVE moved
    # its number, not its bytes).
    gen, nrules, crc, size = struct.unpack("<IIII", c.ok(IMAGE_INFO))
    check(gen == 3 and nrules == 1 and size == len(block) and
          crc == struct.unpack("<I", block[12:16])[0],
          "image_info %d %d %#x %d (image %d bytes, crc %#x)" % (
              gen, nrules, crc, size, len(block), struct.unpack("<I", block[12:16])[0]))
    status, reason, _ = c.call(IMAGE_INFO, b"x")
    check(status == -90, "image_info with a body: %d %s" % (status, reason))
    c = Client(c_path)  # that error closed the connection

    # EVENTS: the flow's NEW (from generation 1), and COUNTERS while it runs.
    status, reason, _ = c.call(EVENTS, struct.pack("<II", 0, 0))
    check(status == -22 and "max" in reason, "events max 0: %d %s" % (status, reason))
    seen = []
    def counters_seen():
        evs, _ = c.events()
        seen.extend(evs)
        return any(e["kind"] == EV_COUNTERS for e in seen)
    wait_for("a COUNTERS event", counters_seen, timeout=6)
    new = [e for e in seen if e["kind"] == EV_NEW]
    check(len(new) == 1 and new[0]["dst"] == ip(SERVER) and new[0]["dport"] == 443 and
          new[0]["sport"] == 40000 and new[0]["proto"] == 6 and new[0]["family"] == 4 and
          new[0]["mac"] == mac(HOST_MAC) and new[0]["generation"] == 1 and
          abs(new[0]["time_ms"] / 1000 - time.time()) < 60, "NEW event: %r" % new)
    cnt = [e for e in seen if e["kind"] == EV_COUNTERS]
    check(cnt[-1]["pkts"][0] > 1000, "COUNTERS without the packets: %r" % cnt[-1])
    check(not any(e["kind"] == EV_LOG for e in seen), "LOG without a log rule")

    # DOMAIN_SET, live: a policy whose rule blocks a domain list.
    _, dom = compile_policy(gwctl, tmp, "domains", POLICY_DOMAINS)
    gen = struct.unpack("<II", c.ok(LOAD_IMAGE, dom))[0]
    f0 = c.stats()["lan.forwarded"]
    wait_for("the flow under the domain policy", lambda: c.stats()["lan.forwarded"] > f0 + 1000)
    check(c.domain_set([("198.51.100.99", 300, 1)]) == 1, "domain table size")
    check(c.health()["generation"] == gen + 1, "an entry for a rule's set renumbers")
    b0 = c.stats()["lan.drop.policy_block"]
    f0 = c.stats()["lan.forwarded"]
    wait_for("the flow past another address's entry", lambda: c.stats()["lan.forwarded"] > f0 + 1000)
    check(c.stats()["lan.drop.policy_block"] == b0, "blocked by another address's entry")
    # A TTL refresh with the same bits, and a set no rule uses: no renumber.
    check(c.domain_set([("198.51.100.99", 600, 1), ("198.51.100.98", 60, 2)]) == 2, "size 2")
    check(c.health()["generation"] == gen + 1, "renumbered for nothing")
    # A bad entry refuses the whole request.
    bad = domain_body([(SERVER, 300, 1), ("198.51.100.97", 300, 1)])
    bad = bad[:8 + 32] + b"\x05" + bad[8 + 33:]
    status, reason, _ = c.call(DOMAIN_SET, bad)
    check(status == -22 and "entry 1: family 5" in reason, "bad family: %d %s" % (status, reason))
    check(c.stats()["lan.drop.policy_block"] == b0, "a refused request changed the table")
    # The flow's own destination: it is decided again and blocked.
    c.events()
    check(c.domain_set([(SERVER, 300, 1)]) == 3, "size 3")
    wait_for("the domain rule to block", lambda: c.stats()["lan.drop.policy_block"] > b0 + 1000)
    _, fl = c.flows()
    check(len(fl) == 1 and fl[0]["action"] == 1 and fl[0]["rule"] == 0, "flow after: %r" % fl)
    logs = [e for e in c.events()[0] if e["kind"] == EV_LOG]
    check(len(logs) == 1 and logs[0]["rule"] == 0 and logs[0]["action"] == 1 and
          logs[0]["dst"] == ip(SERVER), "LOG events: %r" % logs)
    # Removed: it passes again.
    check(c.domain_set([(SERVER, 0, 0)]) == 2, "size after removal")
    f0 = c.stats()["lan.forwarded"]
    wait_for("the flow after the removal", lambda: c.stats()["lan.forwarded"] > f0 + 1000)
    # Whole or nothing at the table's capacity (DP_DOMAIN_TABLE 65536).
    n = 2
    for x in range(16):
        chunk = min(4096, 65534 - n)
        if chunk <= 0:
            break
        batch = [("10.%d.%d.%d" % (x, i >> 8, i & 255), 300, 2) for i in range(chunk)]
        n = c.domain_set(batch)
    check(n == 65534, "table filled to %d" % n)
    status, reason, _ = c.call(DOMAIN_SET, domain_body(
        [("10.200.0.%d" % i, 300, 2) for i in range(3)]))
    check(status == -28 and "65536" in reason, "past capacity: %d %s" % (status, reason))
    check(c.domain_set([("198.51.100.99", 300, 1)]) == 65534, "a refused request added some")
    print("domain_set: blocked by a domain rule, capacity %d held; events: %d NEW, %d COUNTERS"
          % (n, len(new), len(cnt)))
    c.close()


def main():
    exe, gwctl = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="gw-dp-control-")
    dps = []

    def log():
        if dps and dps[-1]:
            print(dps[-1].log()[-4000:])
    try:
        return gwtest.main(lambda: scenario(exe, gwctl, tmp, dps), "dp-control", log)
    finally:
        for dp in dps:
            if dp:
                dp.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
