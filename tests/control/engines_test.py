#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gwd driving the real engines, end to end.

    engines_test.py GWD GWCTL SRCDIR CASE GW_DATAPLANE GWBPF_TOOL

CASE:
  dpdk      gw-dataplane on two net_null ports (--no-huge, its own
            --file-prefix and control socket), gwd with `dataplane = SOCK`:
            an apply advances the dataplane's generation with the policy's
            rule count and IMAGE_INFO's CRC; a broken apply changes nothing;
            kill -9 gwd and start it again: nothing is reloaded; a killed
            and restarted dataplane gets the generation again within ~2 s;
            with no dataplane, status is degraded and an apply is refused
            naming the engine; domains.learn reaches it.
  ebpf      a veth pair between two network namespaces, gwd (in the
            gateway's namespace) with `ebpf_ports` on its end and a unique
            pin root: a policy that blocks the gateway's address stops
            ping, one that allows it lets it through, a broken one changes
            nothing; kill -9 gwd: enforcement goes on, and a restarted gwd
            adopts the pinned maps (no new commit).
  schedule  both engines, a rule `during` a window that opens at the next
            minute (UTC, the real clock): before, ping passes and the mask
            has the rule off; at the boundary gwd pushes the mask (log line,
            the dataplane's mask pinned and its generation bumped) and
            ping is blocked.
Each case removes what it made (namespaces, pins, DPDK runtime folder,
processes by PID).  Exit 0 pass, 1 fail, 77 skip.
"""
import datetime
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GWD, GWCTL, SRCDIR, CASE, DATAPLANE, GWBPF_TOOL = sys.argv[1:7]
sys.argv = sys.argv[:5]
sys.path.insert(0, HERE)
import gwd_test  # noqa: E402
from gwd_test import Fail, Lab, check, raw  # noqa: E402

SKIP = 77
ID = os.getpid()
MAGIC, VERSION, REPLY = 0x50445747, 1, 0x8000
HEALTH, LOAD_IMAGE, IMAGE_INFO = 1, 3, 6
HDR = struct.Struct("<IHHIIQ")
PINNED = 0x2


class Skip(Exception):
    pass


def wait_for(fn, what, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise Fail(f"timed out waiting for {what}")


# ------------------------------------------------------------ dataplane

def dp_call(sock, typ, body=b""):
    """One request on a new connection: (status, payload)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock)
    try:
        s.sendall(HDR.pack(MAGIC, VERSION, typ, 0, len(body), 7) + body)
        b = b""
        while len(b) < HDR.size:
            c = s.recv(HDR.size - len(b))
            check(c, "dataplane closed the connection")
            b += c
        magic, _, rtyp, _, length, rid = HDR.unpack(b)
        check(magic == MAGIC and rtyp == typ | REPLY and rid == 7, "dataplane reply header")
        b = b""
        while len(b) < length:
            c = s.recv(length - len(b))
            check(c, "dataplane closed mid-reply")
            b += c
        status, rlen = struct.unpack("<iH", b[:6])
        return status, b[8 + rlen:]
    finally:
        s.close()


def dp_health(sock):
    st, p = dp_call(sock, HEALTH)
    check(st == 0, f"HEALTH status {st}")
    gen, workers, nrules, flags = struct.unpack("<IIII", p[:16])
    return {"generation": gen, "nrules": nrules, "flags": flags}


def dp_image_info(sock):
    st, p = dp_call(sock, IMAGE_INFO)
    if st != 0:
        return None
    gen, nrules, crc, size = struct.unpack("<IIII", p)
    return {"generation": gen, "nrules": nrules, "crc": crc, "size": size}


class Dataplane:
    """gw-dataplane on net_null ports, by PID."""

    def __init__(self, lab, n):
        self.sock = os.path.join(lab.dir, "dp.sock")
        self.prefix = f"gwctl-{ID}-{n}"
        self.log = open(os.path.join(lab.dir, f"dp-{n}.log"), "w")
        self.proc = None

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        cmd = [DATAPLANE, "-l", "0", "--no-huge", "-m", "256", "--no-pci",
               "--file-prefix", self.prefix, "--log-level", "lib.eal:error",
               "--vdev", "net_null0", "--vdev", "net_null1",
               "--", "--lan", "0", "--wan", "1", "--mbufs", "4095", "--no-twins",
               "--lan-ip", "192.168.1.1/24", "--wan-ip", "203.0.113.2",
               "--wan-gw-mac", "02:00:00:00:00:fe", "--control", self.sock]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            if self.proc.poll() is not None:
                if self.proc.returncode == 3:
                    raise Skip("EAL cannot start here")
                raise Fail(f"gw-dataplane exited {self.proc.returncode}")
            if os.path.exists(self.sock):
                try:
                    dp_health(self.sock)
                    return
                except (OSError, Fail):
                    pass
            time.sleep(0.05)
        raise Fail("gw-dataplane did not answer on its control socket")

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def close(self):
        self.kill()
        self.log.close()
        shutil.rmtree(os.path.join("/var/run/dpdk", self.prefix), ignore_errors=True)


def engine(st, name):
    for e in st["engines"]:
        if e["name"] == name:
            return e
    raise Fail(f"no engine {name} in {st}")


def image_crc(img):
    return struct.unpack("<I", img[12:16])[0]


def policy_rules(lab, path):
    """(image bytes, rule count) of a policy, by gwctl policy compile."""
    img = lab.compiled(path)
    # Section POL_SEC_RULES (12): offset, count, entsize, pad at 24 + 16 * 12.
    count = struct.unpack("<I", img[24 + 16 * 12 + 4:24 + 16 * 12 + 8])[0]
    return img, count


def conf_add(lab, text):
    with open(lab.conf) as f:
        have = f.read()
    with open(lab.conf, "a") as f:
        # These gwds run engines without a gateway's interfaces to guard
        # (tests/nft tests the guard); gwd refuses that unless told.
        if "guard =" not in have:
            f.write("guard = off\n")
        f.write(text)


POLICY_DP_A = """device tv mac 02:00:00:00:00:09
list bad prefixes { 198.51.100.0/24 }
rule tv_off block device tv to internet
rule no_bad block any to list bad
list trackers domains { tracker.example }
rule no_trackers block any to list trackers
default allow
"""
POLICY_DP_B = """device tv mac 02:00:00:00:00:09
rule tv_on allow device tv to internet
default block
"""


def case_dpdk(lab):
    dp = Dataplane(lab, 1)
    lab.extra.append(dp)
    dp.start()
    h0 = dp_health(dp.sock)
    conf_add(lab, f"dataplane = {dp.sock}\n")
    lab.start()
    st = lab.status()
    check(engine(st, "dataplane")["state"] == "ok", f"{st}")
    a = lab.file("a.gw", POLICY_DP_A)
    b = lab.file("b.gw", POLICY_DP_B)
    img_a, rules_a = policy_rules(lab, a)
    lab.gwctl("policy", "apply", a)
    h1 = dp_health(dp.sock)
    check(h1["generation"] > h0["generation"] and h1["nrules"] == rules_a == 3,
          f"health after apply: {h0} -> {h1}")
    ii = dp_image_info(dp.sock)
    check(ii and ii["crc"] == image_crc(img_a) and ii["size"] == len(img_a),
          f"IMAGE_INFO {ii}, want crc {image_crc(img_a):08x} size {len(img_a)}")
    e = engine(lab.status(), "dataplane")
    check(e == {"name": "dataplane", "generation": 1, "state": "ok"}, f"{e}")
    # A broken policy changes nothing in the dataplane.
    lab.gwctl("policy", "apply", lab.file("bad.gw", gwd_test.POLICY_BAD), expect=1)
    check(dp_health(dp.sock)["generation"] == h1["generation"], "a broken policy reached it")
    # domains.learn: the name's set, to the dataplane.
    r = raw(lab.sock, [json.dumps({"v": 1, "id": 1, "cmd": "domains.learn",
                                   "name": "Tracker.Example.", "ttl": 300,
                                   "addrs": ["203.0.113.7", "2001:db8::7"]})])[0]
    check(r["ok"] and r["sets"] == ["trackers"] and r["learned"] == 2
          and r["engines"] == [{"name": "dataplane", "ok": True}], f"learn: {r}")
    # kill -9 gwd, start again: adopted, nothing reloaded.
    h2 = dp_health(dp.sock)
    lab.kill(signal.SIGKILL)
    lab.start()
    st = lab.status()
    check(engine(st, "dataplane") == {"name": "dataplane", "generation": 1, "state": "ok"},
          f"after restart: {st}")
    check(dp_health(dp.sock)["generation"] == h2["generation"], "gwd's restart reloaded it")
    check("event=dataplane_adopt gen=1" in lab.logtext(), "no adopt line")
    # The dataplane dies: degraded; it comes back empty: gwd pushes again.
    dp.kill()
    wait_for(lambda: engine(lab.status(), "dataplane")["state"].startswith(
        "degraded: no answer from " + dp.sock), "degraded state", timeout=4)
    dp.start()
    t0 = time.time()
    wait_for(lambda: dp_health(dp.sock)["nrules"] == rules_a, "the re-push", timeout=4)
    took = time.time() - t0
    check(took < 3.0, f"re-push took {took:.1f} s")
    ii = dp_image_info(dp.sock)
    check(ii and ii["crc"] == image_crc(img_a), f"IMAGE_INFO after re-push {ii}")
    wait_for(lambda: engine(lab.status(), "dataplane")["state"] == "ok", "ok again", timeout=3)
    check("event=dataplane_resync" in lab.logtext() and "event=engine_resync engine=dataplane gen=1"
          in lab.logtext(), "no resync log lines")
    print(f"re-push after a dataplane restart: {took:.2f} s")
    # No dataplane at all: degraded, and an apply is refused naming it.
    dp.kill()
    wait_for(lambda: engine(lab.status(), "dataplane")["state"].startswith("degraded"),
             "degraded state", timeout=4)
    t0 = time.time()
    p = lab.gwctl("policy", "apply", b, expect=1)
    check("engine dataplane refused generation 2" in p.stderr and "no answer from" in p.stderr,
          p.stderr)
    check(time.time() - t0 < 3, "an apply with a dead dataplane hung")
    st = lab.status()
    check(st["generation"] == 1 and lab.active() == img_a, f"a refused apply changed: {st}")


# ------------------------------------------------------------ eBPF

class Net:
    """gateway and device namespaces joined by a veth pair."""

    def __init__(self):
        self.gw, self.dev = f"gwct-{ID}-gw", f"gwct-{ID}-dev"
        self.port = f"gwc{ID % 100000}"
        self.pins = f"/sys/fs/bpf/gw-test-ctl-{ID}"
        self.made = []
        self.gw_ip, self.dev_ip = "10.79.0.1", "10.79.0.2"

    def sh(self, *cmd, check_rc=True):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        if check_rc and p.returncode:
            raise Fail(f"{' '.join(cmd)}: {p.stderr}")
        return p

    def setup(self):
        if os.geteuid() != 0:
            raise Skip("needs root")
        for ns in (self.gw, self.dev):
            if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode:
                raise Skip("cannot make network namespaces")
            self.made.append(ns)
        self.sh("ip", "-n", self.gw, "link", "add", self.port, "type", "veth", "peer", "name",
                "d0", "netns", self.dev)
        self.sh("ip", "-n", self.gw, "addr", "add", self.gw_ip + "/24", "dev", self.port)
        self.sh("ip", "-n", self.dev, "addr", "add", self.dev_ip + "/24", "dev", "d0")
        for ns, dev in ((self.gw, self.port), (self.dev, "d0"), (self.gw, "lo"), (self.dev, "lo")):
            self.sh("ip", "-n", ns, "link", "set", dev, "up")
        p = subprocess.run([GWBPF_TOOL, "-", "xdp-pass", "lo"], capture_output=True)
        if p.returncode == SKIP:
            raise Skip("BPF not permitted")

    def in_gw(self):
        # Keeps this mount namespace: /sys/fs/bpf and the pins stay visible.
        return ["nsenter", f"--net=/run/netns/{self.gw}"]

    def ping(self):
        return subprocess.run(["ip", "netns", "exec", self.dev, "ping", "-c", "1", "-W", "1",
                               self.gw_ip], capture_output=True).returncode == 0

    def close(self):
        if os.path.isdir(self.pins):
            subprocess.run(self.in_gw() + [GWBPF_TOOL, self.pins, "detach", self.port],
                           capture_output=True)
            if subprocess.run([GWBPF_TOOL, self.pins, "unpin"], capture_output=True).returncode:
                shutil.rmtree(self.pins, ignore_errors=True)
        for ns in self.made:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def ebpf_lab(lab):
    net = Net()
    lab.extra.append(net)
    net.setup()
    conf_add(lab, f"ebpf_ports = {net.port}\nbpf_pin_root = {net.pins}\n")
    lab.prefix = net.in_gw()
    return net


POLICY_OPEN = "default allow\ndefault new allow\n"
POLICY_SHUT = """list gateway prefixes { 10.79.0.1 }
rule no_gateway block any to list gateway
rule no_gateway_new block new to list gateway
default allow
default new allow
"""


def commit_epochs(text):
    return [line for line in text.splitlines() if "event=ebpf_commit" in line]


def case_ebpf(lab):
    net = ebpf_lab(lab)
    lab.start()
    st = lab.status()
    check(engine(st, "ebpf")["state"] == "ok", f"{st}")
    check(net.ping(), "no ping before any policy")
    lab.gwctl("policy", "apply", lab.file("shut.gw", POLICY_SHUT))
    check(not net.ping(), "ping passes a policy that blocks it")
    # The blocked flow's event reached gwd's flow collector.

    def blocked_flow():
        r = raw(lab.sock, ['{"v":1,"id":1,"cmd":"flows"}'])[0]
        return [f for f in r.get("flows", []) if f["engine"] == "ebpf"
                and f["dst"] == net.gw_ip and f["verdict"] == "block" and f["generation"] == 1]
    wait_for(blocked_flow, "the eBPF flow event in gwd's flows", timeout=3)
    lab.gwctl("policy", "apply", lab.file("open.gw", POLICY_OPEN))
    check(net.ping(), "ping blocked by a policy that allows it")
    lab.gwctl("policy", "apply", lab.file("shut.gw", POLICY_SHUT))
    check(not net.ping(), "ping passes a policy that blocks it (3)")
    lab.gwctl("policy", "apply", lab.file("bad.gw", gwd_test.POLICY_BAD), expect=1)
    check(not net.ping(), "a broken policy changed the eBPF maps")
    check(engine(lab.status(), "ebpf") == {"name": "ebpf", "generation": 3, "state": "ok"},
          f"{lab.status()}")
    commits = commit_epochs(lab.logtext())
    check(len(commits) == 3, f"commits: {commits}")
    epoch = commits[-1].split("epoch=")[1]
    lab.kill(signal.SIGKILL)
    check(not net.ping(), "enforcement stopped with gwd")
    lab.start()
    log = lab.logtext()
    check(f"event=ebpf_adopt gen=3 epoch={epoch}" in log, f"no adoption: {log}")
    check(len(commit_epochs(log)) == 3, "a restarted gwd staged again")
    check(engine(lab.status(), "ebpf") == {"name": "ebpf", "generation": 3, "state": "ok"},
          f"{lab.status()}")
    check(not net.ping(), "the adopted policy is not live")
    lab.gwctl("policy", "apply", lab.file("open.gw", POLICY_OPEN))
    check(net.ping(), "after adoption, a new policy does not reach the maps")


# ------------------------------------------------------------ schedules

def case_schedule(lab):
    net = ebpf_lab(lab)
    dp = Dataplane(lab, 1)
    lab.extra.append(dp)
    dp.start()
    conf_add(lab, f"dataplane = {dp.sock}\n")
    now = datetime.datetime.now(datetime.timezone.utc)
    # The window opens at the next minute, or the one after when that is
    # too close to set up before it.
    start = (now + datetime.timedelta(minutes=1 if now.second < 50 else 2)).replace(
        second=0, microsecond=0)
    end = start + datetime.timedelta(minutes=30)
    policy = f"""timezone "UTC"
schedule soon mon-sun {start:%H:%M}-{end:%H:%M}
list gateway prefixes {{ 10.79.0.1 }}
rule shut_soon block any to list gateway during soon
rule shut_soon_new block new to list gateway during soon
default allow
default new allow
"""
    lab.start()
    lab.gwctl("policy", "apply", lab.file("soon.gw", policy))
    st = lab.status()
    check(st["active_rules"] == {"active": 0, "rules": 2}, f"before the window: {st}")
    check(net.ping(), "blocked before the window opens")
    h0 = dp_health(dp.sock)
    check(not h0["flags"] & PINNED, f"{h0}")
    left = (start - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    check(left > 1, "too slow to set up before the boundary")
    time.sleep(left + 0.2)
    wait_for(lambda: "event=schedule gen=1 active=2 rules=2" in lab.logtext(),
             "the boundary's push", timeout=5)
    check(lab.status()["active_rules"] == {"active": 2, "rules": 2}, "status mask")
    h1 = dp_health(dp.sock)
    check(h1["flags"] & PINNED and h1["generation"] == h0["generation"] + 1,
          f"dataplane after the boundary: {h0} -> {h1}")
    check(not net.ping(), "ping passes after the window opened")
    check("schedule_push_failed" not in lab.logtext(), "a push failed")


def main():
    fn = globals().get("case_" + CASE)
    if not fn:
        print(f"unknown case {CASE}")
        return 2
    for exe in (DATAPLANE, GWBPF_TOOL):
        if CASE != "dpdk" and not os.access(exe, os.X_OK):
            print(f"SKIP: {exe} is not built")
            return SKIP
    lab = Lab()
    lab.extra = []
    lab.prefix = []
    start = lab.start

    def start_in_prefix():
        if not lab.prefix:
            return start()
        real = gwd_test.GWD
        # Lab.start runs GWD; run it through nsenter instead.
        gwd_test.GWD = None
        try:
            lab.proc = subprocess.Popen(lab.prefix + [real, "-c", lab.conf], stderr=lab.log)
            for _ in range(3000):  # up to 60 s: the eBPF verifier runs at start
                if lab.proc.poll() is not None:
                    raise Fail(f"gwd exited with {lab.proc.returncode}: {lab.logtext()}")
                if os.path.exists(lab.sock):
                    try:
                        s = socket.socket(socket.AF_UNIX)
                        s.connect(lab.sock)
                        s.close()
                        return
                    except OSError:
                        pass
                time.sleep(0.02)
            raise Fail("gwd did not open its socket")
        finally:
            gwd_test.GWD = real

    lab.start = start_in_prefix
    t0 = time.time()
    try:
        fn(lab)
        lab.kill()
    except Skip as e:
        print(f"SKIP {CASE}: {e}")
        return SKIP
    except Fail as e:
        print(f"FAIL {CASE}: {e}")
        print("--- gwd log\n" + lab.logtext())
        return 1
    finally:
        lab.close()
        for x in reversed(lab.extra):
            x.close()
    print(f"ok {CASE} ({time.time() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
