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
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dptest  # noqa: E402

MAGIC, VERSION, REPLY = 0x50445747, 1, 0x8000
HEALTH, STATS, LOAD_IMAGE, SET_ACTIVE, FLOWS = 1, 2, 3, 4, 5
IMAGE_INFO, DOMAIN_SET, EVENTS = 6, 7, 8
EV_NEW, EV_END, EV_COUNTERS, EV_LOG = 1, 2, 3, 4
EVENT = struct.Struct("<BBBB6sH16s16sHHII8xQQQQQ")
HDR = struct.Struct("<IHHIIQ")
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


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ip4(s):
    return bytes(int(x) for x in s.split("."))




def tcp_frame(dst_mac, src_mac, src, dst, sport, dport, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", dptest.csum(pseudo + tcp)) + tcp[18:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, ip4(src), ip4(dst))
    iph = iph[:10] + struct.pack("!H", dptest.csum(iph)) + iph[12:]
    return mac(dst_mac) + mac(src_mac) + b"\x08\x00" + iph + tcp


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.id = 100

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise Fail("server closed the connection mid-reply")
            b += chunk
        return b

    def send_raw(self, data):
        self.s.sendall(data)

    def reply(self, want_type, want_id):
        magic, ver, typ, flags, length, rid = HDR.unpack(self.recv_exact(HDR.size))
        check(magic == MAGIC and ver == VERSION and flags == 0, "reply header %x %d %d" % (magic, ver, flags))
        check(typ == want_type | REPLY, "reply type %#x for %d" % (typ, want_type))
        check(rid == want_id, "reply id %d, want %d" % (rid, want_id))
        body = self.recv_exact(length)
        status, rlen = struct.unpack("<iH", body[:6])
        return status, body[8:8 + rlen].decode(), body[8 + rlen:]

    def call(self, typ, body=b""):
        self.id += 1
        self.send_raw(HDR.pack(MAGIC, VERSION, typ, 0, len(body), self.id) + body)
        return self.reply(typ, self.id)

    def ok(self, typ, body=b""):
        status, reason, payload = self.call(typ, body)
        check(status == 0, "request %d: status %d (%s)" % (typ, status, reason))
        return payload

    def closed(self):
        try:
            return self.s.recv(1) == b""
        except OSError:
            return True

    def close(self):
        self.s.close()


def health(c):
    gen, workers, nrules, flags, uptime, rx, flows = struct.unpack("<IIIIQQQ", c.ok(HEALTH))
    return {"generation": gen, "workers": workers, "nrules": nrules, "flags": flags,
            "uptime_ms": uptime, "rx": rx, "flows": flows}


def stats(c):
    p = c.ok(STATS)
    count = struct.unpack("<I", p[:4])[0]
    check(len(p) == 8 + 48 * count, "stats length %d for %d counters" % (len(p), count))
    out = {}
    for i in range(count):
        name, value = struct.unpack("<40sQ", p[8 + 48 * i:8 + 48 * (i + 1)])
        out[name.rstrip(b"\0").decode()] = value
    return out


def flows(c, cursor=0, max_=256):
    p = c.ok(FLOWS, struct.pack("<QII", cursor, max_, 0))
    nxt, count = struct.unpack("<QI", p[:12])
    check(len(p) == 16 + 96 * count, "flows length")
    out = []
    for i in range(count):
        e = p[16 + 96 * i:16 + 96 * (i + 1)]
        src, dst = e[0:16], e[16:32]
        sport, dport, fam, proto, action, tcp, rule, gen, worker = struct.unpack("<HHBBBBIII", e[32:52])
        out.append({"src": src[:4], "dst": dst[:4], "sport": sport, "dport": dport, "family": fam,
                    "proto": proto, "action": action, "rule": rule, "generation": gen,
                    "pkts0": struct.unpack("<Q", e[56:64])[0]})
    return nxt, out


def events(c, max_=512):
    p = c.ok(EVENTS, struct.pack("<II", max_, 0))
    count, lost = struct.unpack("<II", p[:8])
    check(len(p) == 8 + EVENT.size * count, "events length %d for %d" % (len(p), count))
    out = []
    for i in range(count):
        (kind, fam, proto, action, mac_, _, src, dst, sport, dport, rule, gen,
         p0, p1, b0, b1, t) = EVENT.unpack(p[8 + EVENT.size * i:8 + EVENT.size * (i + 1)])
        out.append({"kind": kind, "family": fam, "proto": proto, "action": action, "mac": mac_,
                    "src": src[:4], "dst": dst[:4], "sport": sport, "dport": dport, "rule": rule,
                    "generation": gen, "pkts0": p0, "time_ms": t})
    return out, lost


def domain_body(entries):
    """entries: (dotted IPv4, ttl, sets)"""
    b = struct.pack("<II", len(entries), 0)
    for addr, ttl, sets in entries:
        b += struct.pack("<B3xI16sQ", 4, ttl, ip4(addr) + bytes(12), sets)
    return b


def domain_set(c, entries):
    return struct.unpack("<II", c.ok(DOMAIN_SET, domain_body(entries)))[0]


def wait_for(pred, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise Fail("timed out waiting for " + what)


def compile_policy(gwctl, tmp, name, text):
    src, img = os.path.join(tmp, name + ".gw"), os.path.join(tmp, name + ".img")
    with open(src, "w") as f:
        f.write(text)
    r = subprocess.run(dptest.wrap([gwctl, "policy", "compile", src, "-o", img]), capture_output=True, text=True)
    check(r.returncode == 0, "gwctl policy compile %s: %s" % (name, r.stderr))
    with open(img, "rb") as f:
        return img, f.read()


def dataplane_log(tmp):
    """Where start() sends gw-dataplane's output."""
    return os.path.join(tmp, "dataplane.log")


def start(exe, tmp, prefix, sock, image, lan_frames, wan_frames, proc_box):
    """gw-dataplane with image (None: no --policy) and a control socket at sock, its ports
    replaying lan_frames and wan_frames forever (net_pcap), until the
    socket is there.  None, or (SKIP, log) where EAL cannot start."""
    lan_in, wan_in = os.path.join(tmp, "lan_in.pcap"), os.path.join(tmp, "wan_in.pcap")
    dptest.write_pcap(lan_in, lan_frames)
    dptest.write_pcap(wan_in, wan_frames)
    log_path = dataplane_log(tmp)
    cmd = [exe, "-l", "0,1", "--no-huge", "-m", "512", "--no-pci", "--file-prefix", prefix,
           "--log-level", "lib.eal:error",
           "--vdev", "net_pcap0,rx_pcap=%s,infinite_rx=1,tx_pcap=/dev/null" % lan_in,
           "--vdev", "net_pcap1,rx_pcap=%s,infinite_rx=1,tx_pcap=/dev/null" % wan_in,
           "--", "--lan", "0", "--wan", "1", "--mbufs", "4095",
           "--lan-ip", "192.168.1.1/24", "--wan-ip", "203.0.113.2",
           "--wan-gw-mac", "02:00:00:00:00:fe", "--control", sock, "--no-twins"]
    if image:
        cmd += ["--policy", image]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(dptest.wrap(cmd), stdout=log, stderr=subprocess.STDOUT)
    proc_box.append(proc)
    wait_for(lambda: os.path.exists(sock) or proc.poll() is not None, "the control socket")
    if proc.poll() is not None:
        with open(log_path) as f:
            text = f.read()
        if proc.returncode == dptest.EXIT_NO_EAL:
            return dptest.SKIP, text
        raise Fail("gw-dataplane exited %d before serving:\n%s" % (proc.returncode, text))
    return None


def scenario(exe, gwctl, tmp, prefix, sock, proc_box):
    allow_img, _ = compile_policy(gwctl, tmp, "allow", POLICY_ALLOW)
    _, block = compile_policy(gwctl, tmp, "block", POLICY_BLOCK)
    # The flow's opening SYN, then its data, replayed forever: the same
    # 5-tuple for the whole run.
    syn = tcp_frame(LAN_MAC, HOST_MAC, HOST, SERVER, 40000, 443, 0x02)
    data = [tcp_frame(LAN_MAC, HOST_MAC, HOST, SERVER, 40000, 443, 0x18, b"x" * 32) for _ in range(7)]
    wan = [tcp_frame(FOREIGN, "02:00:00:00:00:98", "10.9.9.9", "10.9.9.8", 9, 9, 0x10)]
    skipped = start(exe, tmp, prefix, sock, allow_img, [syn] + data, wan, proc_box)
    if skipped:
        return skipped
    log_path = dataplane_log(tmp)
    proc = proc_box[-1]
    mode = os.stat(sock).st_mode & 0o777
    check(mode == 0o660, "socket mode %o, want 660" % mode)

    c = Client(sock)
    h = health(c)
    check(h["generation"] == 1 and h["workers"] == 1 and h["flags"] & 1, "health %r" % h)
    wait_for(lambda: stats(c)["lan.forwarded"] > 1000, "the flow to be forwarded")
    s = stats(c)
    check(s["lan.drop.policy_block"] == 0, "blocked before the swap")
    check("wan.drop.l2_not_ours" in s and "lan.punt.arp" in s, "stats lacks named reasons")
    _, fl = flows(c)
    check(len(fl) == 1 and fl[0]["dst"] == ip4(SERVER) and fl[0]["dport"] == 443 and
          fl[0]["action"] == 0 and fl[0]["generation"] == 1, "flows before: %r" % fl)

    # Errors that keep the connection: a bad body, an image that is not one.
    status, reason, _ = c.call(FLOWS, struct.pack("<QII", 0, 0, 0))
    check(status == -22 and "max" in reason, "flows max 0: %d %s" % (status, reason))
    status, reason, _ = c.call(LOAD_IMAGE, b"not an image at all")
    check(status < 0 and reason, "garbage image: %d" % status)
    status, reason, _ = c.call(LOAD_IMAGE, block[:len(block) // 2])
    check(status < 0 and reason, "half an image: %d" % status)
    check(health(c)["generation"] == 1, "a refused image changed the generation")
    print("refused image: %s" % reason)

    # The swap, live.
    p = c.ok(LOAD_IMAGE, block)
    gen, nrules = struct.unpack("<II", p)
    check(gen == 2 and nrules == 1, "load reply gen %d rules %d" % (gen, nrules))
    t_swap = time.time()
    wait_for(lambda: stats(c)["lan.drop.policy_block"] > 0, "the flow to be blocked")
    t_bite = time.time()
    s1 = stats(c)
    time.sleep(0.3)
    s2 = stats(c)
    check(s2["lan.forwarded"] == s1["lan.forwarded"], "still forwarded after the swap: %d -> %d"
          % (s1["lan.forwarded"], s2["lan.forwarded"]))
    check(s2["lan.drop.policy_block"] > s1["lan.drop.policy_block"] + 1000, "not blocking")
    _, fl = flows(c)
    check(len(fl) == 1 and fl[0]["action"] == 1 and fl[0]["generation"] == 2 and fl[0]["rule"] == 0,
          "flows after the swap: %r" % fl)
    def freed():
        with open(log_path) as f:
            return "event=policy_freed generation=1" in f.read()
    wait_for(freed, "generation 1 to be freed")

    # The schedules' mask from outside: a stale one, then every rule off.
    status, reason, _ = c.call(SET_ACTIVE, struct.pack("<IIQ", 0, 64, 0))
    check(status == -116, "mask for the wrong rule count: %d %s" % (status, reason))
    status, reason, _ = c.call(SET_ACTIVE, struct.pack("<IIQ", 1, 1, 0))
    check(status == -116, "mask for generation 1: %d %s" % (status, reason))
    p = c.ok(SET_ACTIVE, struct.pack("<IIQ", 2, 1, 0))
    gen, _ = struct.unpack("<II", p)
    check(gen == 3, "set_active generation %d" % gen)
    f0 = stats(c)["lan.forwarded"]
    wait_for(lambda: stats(c)["lan.forwarded"] > f0 + 1000, "the flow to pass again")
    h = health(c)
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
    h = health(c)
    check(h["generation"] == 3, "after the errors: %r" % h)
    # Paging: max 1 gives the one flow and then the end.
    nxt, fl = flows(c, 0, 1)
    check(len(fl) == 1, "page 1")
    if nxt:
        nxt, fl2 = flows(c, nxt, 1)
        check(nxt == 0 and fl2 == [], "page 2: %r" % fl2)
    c.close()
    extensions(c_path=sock, tmp=tmp, gwctl=gwctl, block=block)
    print("swap bit after %.0f ms; forwarded %d then blocked %d" % (
        (t_bite - t_swap) * 1000, s1["lan.forwarded"], s2["lan.drop.policy_block"]))

    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    with open(log_path) as f:
        text = f.read()
    check(rc == 0, "gw-dataplane exited %d" % rc)
    check(not dptest.sanitizer_report(text), "sanitizer report")
    check(not os.path.exists(sock), "socket left behind")
    bad = dptest.check_accounting(dptest.counters(text))
    check(not bad, "; ".join(bad))
    return 0, text


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
        evs, _ = events(c)
        seen.extend(evs)
        return any(e["kind"] == EV_COUNTERS for e in seen)
    wait_for(counters_seen, "a COUNTERS event", timeout=6)
    new = [e for e in seen if e["kind"] == EV_NEW]
    check(len(new) == 1 and new[0]["dst"] == ip4(SERVER) and new[0]["dport"] == 443 and
          new[0]["sport"] == 40000 and new[0]["proto"] == 6 and new[0]["family"] == 4 and
          new[0]["mac"] == mac(HOST_MAC) and new[0]["generation"] == 1 and
          abs(new[0]["time_ms"] / 1000 - time.time()) < 60, "NEW event: %r" % new)
    cnt = [e for e in seen if e["kind"] == EV_COUNTERS]
    check(cnt[-1]["pkts0"] > 1000, "COUNTERS without the packets: %r" % cnt[-1])
    check(not any(e["kind"] == EV_LOG for e in seen), "LOG without a log rule")

    # DOMAIN_SET, live: a policy whose rule blocks a domain list.
    _, dom = compile_policy(gwctl, tmp, "domains", POLICY_DOMAINS)
    gen = struct.unpack("<II", c.ok(LOAD_IMAGE, dom))[0]
    f0 = stats(c)["lan.forwarded"]
    wait_for(lambda: stats(c)["lan.forwarded"] > f0 + 1000, "the flow under the domain policy")
    check(domain_set(c, [("198.51.100.99", 300, 1)]) == 1, "domain table size")
    check(health(c)["generation"] == gen + 1, "an entry for a rule's set renumbers")
    b0 = stats(c)["lan.drop.policy_block"]
    f0 = stats(c)["lan.forwarded"]
    wait_for(lambda: stats(c)["lan.forwarded"] > f0 + 1000, "the flow past another address's entry")
    check(stats(c)["lan.drop.policy_block"] == b0, "blocked by another address's entry")
    # A TTL refresh with the same bits, and a set no rule uses: no renumber.
    check(domain_set(c, [("198.51.100.99", 600, 1), ("198.51.100.98", 60, 2)]) == 2, "size 2")
    check(health(c)["generation"] == gen + 1, "renumbered for nothing")
    # A bad entry refuses the whole request.
    bad = domain_body([(SERVER, 300, 1), ("198.51.100.97", 300, 1)])
    bad = bad[:8 + 32] + b"\x05" + bad[8 + 33:]
    status, reason, _ = c.call(DOMAIN_SET, bad)
    check(status == -22 and "entry 1: family 5" in reason, "bad family: %d %s" % (status, reason))
    check(stats(c)["lan.drop.policy_block"] == b0, "a refused request changed the table")
    # The flow's own destination: it is decided again and blocked.
    events(c)
    check(domain_set(c, [(SERVER, 300, 1)]) == 3, "size 3")
    wait_for(lambda: stats(c)["lan.drop.policy_block"] > b0 + 1000, "the domain rule to block")
    _, fl = flows(c)
    check(len(fl) == 1 and fl[0]["action"] == 1 and fl[0]["rule"] == 0, "flow after: %r" % fl)
    logs = [e for e in events(c)[0] if e["kind"] == EV_LOG]
    check(len(logs) == 1 and logs[0]["rule"] == 0 and logs[0]["action"] == 1 and
          logs[0]["dst"] == ip4(SERVER), "LOG events: %r" % logs)
    # Removed: it passes again.
    check(domain_set(c, [(SERVER, 0, 0)]) == 2, "size after removal")
    f0 = stats(c)["lan.forwarded"]
    wait_for(lambda: stats(c)["lan.forwarded"] > f0 + 1000, "the flow after the removal")
    # Whole or nothing at the table's capacity (DP_DOMAIN_TABLE 65536).
    n = 2
    for x in range(16):
        chunk = min(4096, 65534 - n)
        if chunk <= 0:
            break
        batch = [("10.%d.%d.%d" % (x, i >> 8, i & 255), 300, 2) for i in range(chunk)]
        n = domain_set(c, batch)
    check(n == 65534, "table filled to %d" % n)
    status, reason, _ = c.call(DOMAIN_SET, domain_body(
        [("10.200.0.%d" % i, 300, 2) for i in range(3)]))
    check(status == -28 and "65536" in reason, "past capacity: %d %s" % (status, reason))
    check(domain_set(c, [("198.51.100.99", 300, 1)]) == 65534, "a refused request added some")
    print("domain_set: blocked by a domain rule, capacity %d held; events: %d NEW, %d COUNTERS"
          % (n, len(new), len(cnt)))
    c.close()


def run_main(name, scenario):
    """The runner's main for scenario(exe, gwctl, tmp, prefix, sock, box)
    (also run-devices.py's): its own folder and DPDK file prefix, the log
    on failure, and the dataplane it started (box) killed by PID."""
    exe, gwctl = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="gw-dp-%s-" % name)
    prefix = "gwdp-%s-%d" % (name, os.getpid())
    sock = os.path.join(tmp, "control.sock")
    box = []
    try:
        rc, text = scenario(exe, gwctl, tmp, prefix, sock, box)
        if rc == dptest.SKIP:
            print("DPDK cannot start here; skipping\n" + text)
        else:
            print("ok")
        return rc
    except (Fail, OSError, subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e)
        try:
            with open(os.path.join(tmp, "dataplane.log")) as f:
                print(f.read()[-4000:])
        except OSError:
            pass
        return 1
    finally:
        for p in box:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        dptest.cleanup(tmp, prefix)


if __name__ == "__main__":
    sys.exit(run_main("control", scenario))
