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
  schedule_clock  both engines, gwd's wall clock set by libfaketime: a
            restart at night pushes the night's mask at once; a clock in
            1970 makes schedules wait with the restrictive mask; a
            SET_ACTIVE_FOR pin nobody renews comes off in the dataplane.
  schedule  both engines, a rule `during` a window that opens at the next
            minute (UTC, the real clock): before, ping passes and the mask
            has the rule off; at the boundary gwd pushes the mask (log line,
            the dataplane's mask pinned and its generation bumped) and
            ping is blocked.
  schedule_down  the eBPF engine alone, a rule `during` a window that
            opens at the next minute (UTC, the real clock): gwd is killed
            (SIGKILL) before the boundary, and after it ping is blocked all
            the same (the kernel's timeline, ebpf/gw_bpf_abi.h "Schedules"),
            the flow that ping cached before decided again.
Each case removes what it made (namespaces, pins, DPDK runtime folder,
processes by PID).  Exit 0 pass, 1 fail, 77 skip.
"""
import datetime
import json
import os
import subprocess
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import check, proto  # noqa: E402
from gwtest import wait_for  # noqa: E402
from gwtest.dataplane import Dataplane, eal, prefix  # noqa: E402
from gwtest.ebpf import Port  # noqa: E402
from gwtest.gwd import POLICY_BAD, Gwd, image_crc, image_rules, request  # noqa: E402

GWD, GWCTL, SRCDIR, CASE, DATAPLANE, GWBPF_TOOL = sys.argv[1:7]
PINNED = proto.HEALTH_PINNED


def dp_health(sock):
    return proto.health(sock)


def dp_image_info(sock):
    return proto.image_info(sock)


def dataplane(lab, n):
    """gw-dataplane on two net_null ports, --no-huge, a file prefix and a
    control socket of its own; killed and its runtime folder removed when
    the case ends."""
    dp = Dataplane(DATAPLANE, lab.dir, eal(prefix("dp%d" % n), ["net_null0", "net_null1"],
                                           mem=256),
                   ["--lan", "0", "--wan", "1", "--mbufs", "4095", "--no-twins",
                    "--lan-ip", "192.168.1.1/24", "--wan-ip", "203.0.113.2",
                    "--wan-gw-mac", "02:00:00:00:00:fe"],
                   sock=os.path.join(lab.dir, "dp.sock"), name="dp-%d" % n)
    lab.cleanups.append(dp.close)
    return dp


def policy_rules(lab, path):
    """(image bytes, rule count) of a policy, by gwctl policy compile."""
    img = lab.compiled(path)
    return img, image_rules(img)


def conf_add(lab, text):
    with open(lab.conf) as f:
        have = f.read()
    # These gwds run engines without a gateway's interfaces to guard
    # (tests/nft tests the guard); gwd refuses that unless told.
    lab.conf_add(("" if "guard =" in have else "guard = off\n") + text)


def engine(st, name):
    for e in st["engines"]:
        if e["name"] == name:
            return e
    raise gwtest.Fail(f"no engine {name} in {st}")


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
    dp = dataplane(lab, 1)
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
    lab.gwctl("policy", "apply", lab.file("bad.gw", POLICY_BAD), expect=1)
    check(dp_health(dp.sock)["generation"] == h1["generation"], "a broken policy reached it")
    # domains.learn: the name's set, to the dataplane.
    r = request(lab.sock, "domains.learn", name="Tracker.Example.", ttl=300,
                addrs=["203.0.113.7", "2001:db8::7"])
    check(r["ok"] and r["sets"] == ["trackers"] and r["learned"] == 2
          and r["engines"] == [{"name": "dataplane", "ok": True}], f"learn: {r}")
    # More on the same connection, one after the other: each DOMAIN_SET's
    # reply is read before anything else is asked (gwd sends it, tells the
    # other engines, then reads it: control/learn.c).  A reply left unread
    # would be taken for the next request's (EVENTS, every 200 ms): the
    # engine would go degraded, "no answer".
    for name in ("a.tracker.example", "b.tracker.example", "news.example"):
        r = request(lab.sock, "domains.learn", name=name, ttl=300, addrs=["203.0.113.8"])
        check(r["ok"] and r["engines"] == [{"name": "dataplane", "ok": True}], f"learn: {r}")
    time.sleep(1.5)
    check("degraded" not in lab.logtext() and
          engine(lab.status(), "dataplane")["state"] == "ok",
          "the dataplane engine after four learns: %s" % [
              l for l in lab.logtext().splitlines() if "engine_state" in l])
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
    wait_for("degraded state", lambda: engine(lab.status(), "dataplane")["state"].startswith(
        "degraded: no answer from " + dp.sock), timeout=4)
    dp.start()
    t0 = time.time()
    wait_for("the re-push", lambda: dp_health(dp.sock)["nrules"] == rules_a, timeout=4)
    took = time.time() - t0
    check(took < 3.0, f"re-push took {took:.1f} s")
    ii = dp_image_info(dp.sock)
    check(ii and ii["crc"] == image_crc(img_a), f"IMAGE_INFO after re-push {ii}")
    wait_for("ok again", lambda: engine(lab.status(), "dataplane")["state"] == "ok", timeout=3)
    check("event=dataplane_resync" in lab.logtext() and "event=engine_resync engine=dataplane gen=1"
          in lab.logtext(), "no resync log lines")
    print(f"re-push after a dataplane restart: {took:.2f} s")
    # No dataplane at all: degraded, and an apply is refused naming it.
    dp.kill()
    wait_for("degraded state",
             lambda: engine(lab.status(), "dataplane")["state"].startswith("degraded"), timeout=4)
    t0 = time.time()
    p = lab.gwctl("policy", "apply", b, expect=1)
    check("engine dataplane refused generation 2" in p.stderr and "no answer from" in p.stderr,
          p.stderr)
    check(time.time() - t0 < 3, "an apply with a dead dataplane hung")
    st = lab.status()
    check(st["generation"] == 1 and lab.active() == img_a, f"a refused apply changed: {st}")


# ------------------------------------------------------------ eBPF

def ebpf_lab(lab):
    """A kernel port for gwd's eBPF engine (gwtest.ebpf.Port: gateway and
    device namespaces joined by a veth, a pin folder of this test's own);
    gwd runs in the gateway's namespace."""
    net = Port(GWBPF_TOOL)
    lab.cleanups.append(net.close)
    net.setup()
    conf_add(lab, f"ebpf_ports = {net.port}\nbpf_pin_root = {net.pins}\n")
    # GW_EBPF_ATTACH (meson: the _xdp variant): the classifier's hook;
    # else gwd's default, auto: TC ingress on this veth.
    if os.environ.get("GW_EBPF_ATTACH"):
        conf_add(lab, "ebpf_attach = %s\n" % os.environ["GW_EBPF_ATTACH"])
    lab.netns = net.gw
    return net


def ebpf_mode_ok(lab, port):
    """The port at the hook asked for (status ports[].mode)."""
    want = "native" if os.environ.get("GW_EBPF_ATTACH") == "xdp" else "tc"
    modes = {p["name"]: p.get("mode") for p in lab.status()["ports"]}
    check(modes.get(port) == want, f"{port} at {modes.get(port)}, not {want}")


POLICY_OPEN = "default allow\ndefault new allow\n"
POLICY_SHUT = """list gateway prefixes { 10.79.0.1 }
rule no_gateway block any to list gateway
rule no_gateway_new block new to list gateway
default allow
default new allow
"""


def commit_epochs(text):
    return [line for line in text.splitlines() if "event=ebpf_commit" in line]


def flow_sets(pins):
    """gw_flows' sets as the kernel made them (bpftool on the pin)."""
    out = subprocess.run(["bpftool", "-j", "map", "show", "pinned", pins + "/gw_flows"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["max_entries"]


def case_ebpf(lab):
    net = ebpf_lab(lab)
    # A flow table of another size than the default (262 144 flows).
    conf_add(lab, "ebpf_flows = 8192\n")
    lab.start()
    st = lab.status()
    check(engine(st, "ebpf")["state"] == "ok", f"{st}")
    ebpf_mode_ok(lab, net.port)
    check(flow_sets(net.pins) == 8192 // 4, f"gw_flows: {flow_sets(net.pins)} sets")
    check(net.ping(), "no ping before any policy")
    lab.gwctl("policy", "apply", lab.file("shut.gw", POLICY_SHUT))
    check(not net.ping(), "ping passes a policy that blocks it")
    # The blocked flow's event reached gwd's flow collector.

    def blocked_flow():
        r = request(lab.sock, "flows")
        return [f for f in r.get("flows", []) if f["engine"] == "ebpf"
                and f["dst"] == net.gw_ip and f["verdict"] == "block" and f["generation"] == 1]
    wait_for("the eBPF flow event in gwd's flows", blocked_flow, timeout=3)
    lab.gwctl("policy", "apply", lab.file("open.gw", POLICY_OPEN))
    check(net.ping(), "ping blocked by a policy that allows it")
    lab.gwctl("policy", "apply", lab.file("shut.gw", POLICY_SHUT))
    check(not net.ping(), "ping passes a policy that blocks it (3)")
    lab.gwctl("policy", "apply", lab.file("bad.gw", POLICY_BAD), expect=1)
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
    check(flow_sets(net.pins) == 8192 // 4 and "ebpf_flows_pinned" not in log,
          "the pinned flow table changed size")
    lab.gwctl("policy", "apply", lab.file("open.gw", POLICY_OPEN))
    check(net.ping(), "after adoption, a new policy does not reach the maps")


# ------------------------------------------------------------ schedules

def case_schedule(lab):
    net = ebpf_lab(lab)
    dp = dataplane(lab, 1)
    dp.start()
    conf_add(lab, f"dataplane = {dp.sock}\n")
    policy, start = soon_policy(setup_s=10)
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
    wait_for("the boundary's push",
             lambda: "event=schedule gen=1 active=2 rules=2" in lab.logtext(), timeout=5)
    check(lab.status()["active_rules"] == {"active": 2, "rules": 2}, "status mask")
    h1 = dp_health(dp.sock)
    check(h1["flags"] & PINNED and h1["generation"] == h0["generation"] + 1,
          f"dataplane after the boundary: {h0} -> {h1}")
    check(not net.ping(), "ping passes after the window opened")
    check("schedule_push_failed" not in lab.logtext(), "a push failed")


def soon_policy(setup_s=30):
    """A policy whose rules block the gateway's address during a window
    that opens at the next minute (or the one after, when fewer than
    setup_s seconds are left to set up before it), and the window's start."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start = (now + datetime.timedelta(minutes=1 if now.second < 60 - setup_s else 2)).replace(
        second=0, microsecond=0)
    end = start + datetime.timedelta(minutes=30)
    return f"""timezone "UTC"
schedule soon mon-sun {start:%H:%M}-{end:%H:%M}
list gateway prefixes {{ 10.79.0.1 }}
rule shut_soon block any to list gateway during soon
rule shut_soon_new block new to list gateway during soon
default allow
default new allow
""", start


def case_schedule_down(lab):
    net = ebpf_lab(lab)
    policy, start = soon_policy()
    lab.start()
    lab.gwctl("policy", "apply", lab.file("soon.gw", policy))
    st = lab.status()
    check(st["active_rules"] == {"active": 0, "rules": 2}, f"before the window: {st}")
    check("event=ebpf_commit gen=1 timeline=3 " in lab.logtext(), "no timeline at commit")
    check(net.ping(), "blocked before the window opens")
    left = (start - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    check(left > 2, "too slow to set up before the boundary")
    # gwd dies before the boundary; nothing in user space is left to
    # push the window's mask.
    lab.kill(signal.SIGKILL)
    check(net.ping(), "blocked before the window opens, with gwd down")
    left = (start - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    check(left > 0, "the boundary passed before gwd was down")
    time.sleep(left + 0.5)
    check(not net.ping(), "ping passes after the window opened while gwd is down")
    log = lab.logtext()
    check("event=schedule gen=1 active=2" not in log, "gwd pushed the boundary: it was alive")


# ------------------------------------------------------------ clocks

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
POLICY_NIGHT = """timezone "UTC"
schedule night daily 21:00-07:00
list gateway prefixes { 10.79.0.1 }
rule shut_night block any to list gateway during night
rule shut_night_new block new to list gateway during night
default allow
default new allow
"""


def at_time(when):
    """An environment in which gwd sees the wall clock at `when`
    (libfaketime; its monotonic clock stays the real one)."""
    env = dict(os.environ, LD_PRELOAD=FAKETIME_LIB, FAKETIME="@" + when,
               DONT_FAKE_MONOTONIC="1")
    env["ASAN_OPTIONS"] = ":".join(x for x in (os.environ.get("ASAN_OPTIONS"),
                                               "verify_asan_link_order=0") if x)
    return env


def case_schedule_clock(lab):
    """gwd's mask reaches the engines after a restart (the schedule moved
    on while gwd was down), schedules wait with the restrictive mask while
    the clock reads a time before this build, and a mask pinned with a
    lifetime comes off in the dataplane when nobody renews it."""
    if not os.path.exists(FAKETIME_LIB):
        raise gwtest.Skip("%s is not installed (libfaketime)" % FAKETIME_LIB)
    net = ebpf_lab(lab)
    dp = dataplane(lab, 1)
    dp.start()
    conf_add(lab, f"dataplane = {dp.sock}\n")
    # Noon: the night rules are off.
    lab.start(env=at_time("2030-06-03 12:00:00"))
    lab.gwctl("policy", "apply", lab.file("night.gw", POLICY_NIGHT))
    st = lab.status()
    check(st["active_rules"] == {"active": 0, "rules": 2} and st["schedules"] == "running",
          f"at noon: {st}")
    check(net.ping(), "blocked at noon")
    # gwd dies; when it comes back it is night: the engines must get the
    # night's mask at once, not at some later boundary.
    lab.kill(signal.SIGKILL)
    lab.start(env=at_time("2030-06-03 23:00:00"))
    st = lab.status()
    check(st["active_rules"] == {"active": 2, "rules": 2}, f"at night: {st}")
    check(not net.ping(), "ping passes at night after gwd's restart")
    wait_for("the dataplane's mask pinned", lambda: dp_health(dp.sock)["flags"] & PINNED)
    check("event=schedule_pushed engine=ebpf gen=1 active=2" in lab.logtext()
          and "event=schedule_pushed engine=dataplane gen=1 active=2" in lab.logtext(),
          "no push after adopt")
    # A clock in 1970 (no RTC, before NTP): schedules wait, with every
    # scheduled block rule on, even at noon.
    lab.kill(signal.SIGKILL)
    lab.start(env=at_time("1970-01-02 12:00:00"))
    st = lab.status()
    check(st["schedules"].startswith("waiting for a synchronised clock: the clock reads "
                                     "1970-01-02T12:00"), f"{st}")
    check(st["active_rules"] == {"active": 2, "rules": 2}, f"the restrictive mask: {st}")
    check(not net.ping(), "ping passes with the clock unset")
    check("event=clock_unsynchronised" in lab.logtext(), "no clock_unsynchronised line")
    # The dataplane: a pin with a lifetime that nobody renews comes off.
    lab.kill(signal.SIGKILL)
    h0 = dp_health(dp.sock)
    status, reason, _ = proto.call(dp.sock, proto.SET_ACTIVE_FOR,
                                   proto.set_active_for_body(0, h0["nrules"], 2, [0]))
    check(status == 0, f"SET_ACTIVE_FOR: {status} {reason}")
    h1 = dp_health(dp.sock)
    check(h1["flags"] & PINNED, f"{h1}")
    h2 = wait_for("the pin to come off",
                  lambda: (lambda h: h if not h["flags"] & PINNED else None)(dp_health(dp.sock)),
                  timeout=8)
    check(h2["generation"] == h1["generation"] + 1, f"no new generation at expiry: {h1} {h2}")


def main():
    fn = globals().get("case_" + CASE)
    if not fn:
        print(f"unknown case {CASE}")
        return 2
    for exe in (DATAPLANE, GWBPF_TOOL):
        if CASE != "dpdk" and not os.access(exe, os.X_OK):
            return gwtest.cannot_run(f"{exe} is not built")
    lab = Gwd(GWD, GWCTL)
    t0 = time.time()

    def body():
        fn(lab)
        lab.kill()
        print(f"{CASE} took {time.time() - t0:.1f} s")
    try:
        return gwtest.main(body, CASE, lambda: print("--- gwd log\n" + lab.logtext()))
    finally:
        lab.close()


if __name__ == "__main__":
    sys.exit(main())
