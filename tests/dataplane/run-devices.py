#!/usr/bin/python3
# DEVICE_SET on a running gw-dataplane (two lcores), one TCP flow from a
# MAC the policy does not know replayed forever on the LAN port:
#   - the flow gets the new-device policy (blocked, rule default-new);
#   - refused requests change nothing: a device index the image does not
#     have (-ENODEV), another generation's indexes (-ESTALE), a bad op
#     (-EINVAL, a whole request with one bad entry);
#   - binding the MAC to a declared device the rules allow: the same
#     flow is decided again and forwarded (FLOWS: one flow, allowed, the
#     new generation, rule default);
#   - moving it to a device a rule blocks: blocked by that rule; binding
#     it again to the same device does not renumber;
#   - unbinding it: the new-device policy again;
#   - binding it again, then LOAD_IMAGE: the new image starts without
#     bindings, the flow is blocked again, and the old indexes are stale;
#   - moving a MAC the image knows renumbers too.
#   run-devices.py GW_DATAPLANE GWCTL
# Exit 0 pass, 1 fail, 77 when DPDK cannot run here.
import os
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import check, dataplane, wait_for  # noqa: E402
from gwtest.gwd import compile_policy  # noqa: E402
from gwtest.packets import ip, tcp_frame  # noqa: E402
from gwtest.proc import sanitizer_report  # noqa: E402
from gwtest.proto import (DEVICE_BIND as BIND, DEVICE_SET, DEVICE_UNBIND as UNBIND,  # noqa: E402
                          RULE_DEFAULT, RULE_DEFAULT_NEW, Client, device_body)

LAN_MAC, NEWDEV, HOST_MAC = "02:70:63:61:70:00", "02:00:00:00:00:55", "02:00:00:00:00:0a"
HOST, SERVER = "192.168.1.10", "198.51.100.7"


# Devices by index: host-a 0, tablet 1, kid 2.
POLICY = """device host-a mac 02:00:00:00:00:0a
device tablet mac 02:00:00:00:00:0b
device kid mac 02:00:00:00:00:0c
list blocked prefixes { 198.51.100.7 }
rule kid-blocked block device kid to list blocked
default allow
default new block
"""


def device_set(c, entries, generation=0):
    applied, bindings, gen, image = c.device_set(entries, generation)
    check(applied == len(entries), "applied %d of %d" % (applied, len(entries)))
    return bindings, gen, image


def the_flow(c):
    _, fl = c.flows()
    check(len(fl) == 1 and fl[0]["dst"] == ip(SERVER) and fl[0]["dport"] == 443,
          "one flow wanted: %r" % fl)
    return fl[0]


def forwarding(c):
    f0 = c.stats()["lan.forwarded"]
    wait_for("the flow to be forwarded", lambda: c.stats()["lan.forwarded"] > f0 + 1000)


def blocking(c):
    b0 = c.stats()["lan.drop.policy_block"]
    wait_for("the flow to be blocked", lambda: c.stats()["lan.drop.policy_block"] > b0 + 1000)
    s1 = c.stats()
    wait_for("more blocks",
             lambda: c.stats()["lan.drop.policy_block"] > s1["lan.drop.policy_block"] + 1000)
    check(c.stats()["lan.forwarded"] == s1["lan.forwarded"], "forwarded while blocked")


def refused(c, body, want, words):
    g = c.health()["generation"]
    status, reason, _ = c.call(DEVICE_SET, body)
    check(status == want and words in reason, "want %d '%s': %d %s" % (want, words, status, reason))
    check(c.health()["generation"] == g, "a refused request renumbered")
    print("refused: %d %s" % (status, reason))


def scenario(exe, gwctl, tmp, dps):
    sock = os.path.join(tmp, "control.sock")
    img, image = compile_policy(gwctl, tmp, "devices", POLICY)
    syn = tcp_frame(LAN_MAC, NEWDEV, HOST, SERVER, 40000, 443, 0x02)
    data = [tcp_frame(LAN_MAC, NEWDEV, HOST, SERVER, 40000, 443, 0x18, b"x" * 32) for _ in range(7)]
    wan = [tcp_frame("02:00:00:00:00:99", "02:00:00:00:00:98", "10.9.9.9", "10.9.9.8", 9, 9, 0x10)]
    dps.append(None)
    dp = dps[-1] = dataplane.replay(exe, tmp, dataplane.prefix("devices"), img, [syn] + data,
                                    wan, sock)

    c = Client(sock)
    check(c.health()["generation"] == 1, "generation 1 at start")
    # A MAC the image does not know: the new-device policy.
    blocking(c)
    f = the_flow(c)
    check(f["action"] == 1 and f["rule"] == RULE_DEFAULT_NEW, "new device's flow: %r" % f)

    # Refused whole, nothing changes.
    refused(c, device_body([(NEWDEV, BIND, 1), ("02:00:00:00:00:56", BIND, 3)]), -19,
            "entry 1: device 3, the running image has 3 devices")
    refused(c, device_body([(NEWDEV, BIND, 1)], generation=7), -116,
            "device indexes for generation 7, running 1")
    refused(c, device_body([(NEWDEV, BIND, 1), ("02:00:00:00:00:56", 4, 1)]), -22,
            "entry 1: op 4")
    refused(c, device_body([(NEWDEV, BIND, 1)])[:-1], -22, "takes 20 bytes, not 19")
    blocking(c)

    # Bound to the tablet: the live flow is decided again and passes.
    bindings, gen, image_gen = device_set(c, [(NEWDEV, BIND, 1)], generation=1)
    check(bindings == 1 and gen == 2 and image_gen == 1, "bind reply %d %d %d" % (bindings, gen, image_gen))
    forwarding(c)
    f = the_flow(c)
    check(f["action"] == 0 and f["rule"] == RULE_DEFAULT and f["generation"] == 2,
          "flow bound to the tablet: %r" % f)
    # Moved to the kid, whom a rule blocks from this destination.
    bindings, gen, _ = device_set(c, [(NEWDEV, BIND, 2)])
    check(bindings == 1 and gen == 3, "move reply %d %d" % (bindings, gen))
    blocking(c)
    f = the_flow(c)
    check(f["action"] == 1 and f["rule"] == 0 and f["generation"] == 3, "flow as the kid: %r" % f)
    # The same binding again changes no device: no renumber.
    _, gen, _ = device_set(c, [(NEWDEV, BIND, 2)])
    check(gen == 3, "renumbered for nothing: %d" % gen)
    # Unbound: a new device again.
    bindings, gen, _ = device_set(c, [(NEWDEV, UNBIND, 0)])
    check(bindings == 0 and gen == 4, "unbind reply %d %d" % (bindings, gen))
    wait_for("the flow decided as a new device", lambda: the_flow(c)["rule"] == RULE_DEFAULT_NEW)
    blocking(c)
    # Bound again, then a LOAD_IMAGE: the new image starts without bindings.
    bindings, gen, _ = device_set(c, [(NEWDEV, BIND, 1)])
    check(bindings == 1 and gen == 5, "rebind reply %d %d" % (bindings, gen))
    forwarding(c)
    gen, _ = c.load_image(image)
    check(gen == 6, "load generation %d" % gen)
    blocking(c)
    f = the_flow(c)
    check(f["action"] == 1 and f["rule"] == RULE_DEFAULT_NEW and f["generation"] == 6,
          "flow after LOAD_IMAGE: %r" % f)
    refused(c, device_body([(NEWDEV, BIND, 1)], generation=1), -116, "running 6")
    # A MAC the image knows, moved to another device: renumbers; moving
    # it back (an unbind) too.
    bindings, gen, image_gen = device_set(c, [(HOST_MAC, BIND, 2)], generation=6)
    check(bindings == 1 and gen == 7 and image_gen == 6, "host move %d %d %d" % (bindings, gen, image_gen))
    _, gen, _ = device_set(c, [(HOST_MAC, UNBIND, 0)], generation=6)
    check(gen == 8, "host back %d" % gen)
    blocking(c)
    c.close()

    rc = dp.stop(signal.SIGTERM, 30)
    text = dp.log()
    check(rc == 0, "gw-dataplane exited %d" % rc)
    check(not sanitizer_report(text), "sanitizer report")
    bad = dataplane.check_accounting(dataplane.counters(text))
    check(not bad, "; ".join(bad))


def main():
    exe, gwctl = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="gw-dp-devices-")
    dps = []

    def log():
        if dps and dps[-1]:
            print(dps[-1].log()[-4000:])
    try:
        return gwtest.main(lambda: scenario(exe, gwctl, tmp, dps), "dp-devices", log)
    finally:
        for dp in dps:
            if dp:
                dp.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
