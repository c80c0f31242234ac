#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gwd end to end for `devices`, `flows`, `policy.get` and `gwctl policy
diff`: a real gwd (file engine) on a temporary state dir, driven by the
real gwctl and a raw socket (gwtest.gwd).

    gwd_flows_test.py GWD GWCTL SRCDIR CASE

Flows through a real engine are the lab's tests; here the collector is
empty and the replies are checked for shape, names and refusals.
Exit 0 pass, 1 fail.
"""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import check  # noqa: E402
from gwtest.gwd import POLICY_A, POLICY_B, POLICY_BAD, Gwd, request  # noqa: E402

GWD, GWCTL, SRCDIR, CASE = sys.argv[1:5]
HOME = os.path.join(SRCDIR, "docs", "examples", "home.gw")


def req(lab, cmd, **fields):
    return request(lab.sock, cmd, **fields)


def case_devices(lab):
    lab.start()
    d = json.loads(lab.gwctl("devices", "--json").stdout)
    check(d["devices"] == [] and d["generation"] == 0, f"devices before any apply: {d}")
    lab.gwctl("policy", "apply", HOME)
    d = json.loads(lab.gwctl("devices", "--json").stdout)
    names = [x["name"] for x in d["devices"]]
    check(len(names) == 11 and names[0] == "sarah-laptop" and "leo-tablet" in names, f"{names}")
    byname = {x["name"]: x for x in d["devices"]}
    leo = byname["leo-tablet"]
    check(leo["owner"] == "leo" and leo["groups"] == ["kids"] and not leo["new"]
          and leo["macs"] == ["8c:86:1e:5f:20:b9"], f"{leo}")
    check(leo["totals"]["bytes_out"] == 0 and leo["totals"]["last_seen_ms"] is None
          and leo["totals"]["flows_live"] == 0, f"{leo}")
    check(byname["thermostat"]["owner"] is None, f"{byname['thermostat']}")
    # The table: a header and one aligned row per device.
    out = lab.gwctl("devices").stdout.splitlines()
    # A note after the table when a MAC is random (locally administered).
    rnd = any(m[1] in "26ae" for x in d["devices"] for m in x["macs"])
    check(out[-1].startswith("* a random MAC") == rnd, f"the random note: {out[-1]} {rnd}")
    out = out[:-1] if rnd else out
    check(out[0].split() == ["NAME", "OWNER", "GROUPS", "MAC", "ADDRESS", "HOSTNAME", "LAST",
                             "SEEN", "OUT", "IN", "BLOCKED", "FLOWS"], f"header: {out[0]}")
    check(len(out) == 12, f"{len(out)} lines")
    row = next(line for line in out if line.startswith("leo-tablet "))
    check(row.split()[:4] == ["leo-tablet", "leo", "kids", "8c:86:1e:5f:20:b9"]
          and row[out[0].index("LAST SEEN"):].split()[0] == "never", f"row: {row}")
    col = out[0].index("MAC")
    check(all(line[col - 2:col] == "  " for line in out), "columns not aligned")
    # A new generation shows its own devices.
    lab.gwctl("policy", "apply", lab.file("a.gw", POLICY_A))
    d = json.loads(lab.gwctl("devices", "--json").stdout)
    check([x["name"] for x in d["devices"]] == ["tv"] and d["generation"] == 2, f"{d}")


def case_flows(lab):
    lab.start()
    lab.gwctl("policy", "apply", HOME)
    f = json.loads(lab.gwctl("flows", "--json").stdout)
    check(f["flows"] == [] and f["generation"] == 1, f"{f}")
    f = json.loads(lab.gwctl("flows", "--device", "leo-tablet", "--limit", "5",
                             "--json").stdout)
    check(f["flows"] == [], f"{f}")
    lab.gwctl("flows", "--device", "02:00:00:00:00:99")
    out = lab.gwctl("flows").stdout.splitlines()
    check(out[0].split()[:6] == ["DEVICE", "PROTO", "SOURCE", "DESTINATION", "VERDICT",
                                 "RULE"], f"{out}")
    p = lab.gwctl("flows", "--device", "toaster", expect=1)
    check("'toaster' is neither a device of generation 1" in p.stderr
          and "(bad_argument)" in p.stderr, p.stderr)
    for bad in (["--limit", "0"], ["--limit", "x"], ["--limit", "70000"], ["--device"],
                ["--frobnicate"]):
        lab.gwctl("flows", *bad, expect=2)
    lab.gwctl("devices", "extra", expect=2)


def case_refusals(lab):
    lab.start()
    lab.gwctl("policy", "apply", lab.file("a.gw", POLICY_A))
    cases = [
        ("flows", {"limit": 0}, "bad_argument", "'limit' must be 1..65536"),
        ("flows", {"limit": "10"}, "bad_argument", "'limit' must be an integer"),
        ("flows", {"device": ""}, "bad_argument", "'device' must be"),
        ("flows", {"device": 7}, "bad_argument", "'device' must be a string"),
        ("flows", {"device": "toaster"}, "bad_argument", "'toaster'"),
        ("flows", {"mac": "x"}, "bad_argument", "flows takes no field 'mac'"),
        ("devices", {"verbose": True}, "bad_argument", "devices takes no field 'verbose'"),
        ("policy.get", {"generation": 0}, "bad_argument", "'generation' must be"),
        ("policy.get", {"generation": 99}, "no_such_generation", "no generation 99"),
    ]
    for cmd, fields, code, reason in cases:
        r = req(lab, cmd, **fields)
        check(r["ok"] is False and r["id"] == 1 and r["error"]["code"] == code
              and reason in r["error"]["message"], f"{cmd} {fields}: {r}")
    # policy.get: the record, its text and the exact image the engine runs.
    r = req(lab, "policy.get")
    check(r["ok"] and r["generation"] == 1 and r["current"] is True
          and "rule tv_off" in r["entry"]["text"], f"{r}")
    check(base64.b64decode(r["image"]) == lab.active(), "policy.get's image is not in force")


def case_diff(lab):
    lab.start()
    a = lab.file("a.gw", POLICY_A)
    b = lab.file("b.gw", POLICY_B)
    # Nothing applied yet: nothing to compare with (trouble: 2).
    p = lab.gwctl("policy", "diff", a, expect=2)
    check("no policy was applied yet" in p.stderr, p.stderr)
    lab.gwctl("policy", "apply", a)
    p = lab.gwctl("policy", "diff", a)
    check(p.stdout == "" and p.stderr == "", f"same policy: {p.stdout!r} {p.stderr!r}")
    p = lab.gwctl("policy", "diff", b, expect=1)
    check(p.stdout.splitlines() == [
        "--- generation 1", f"+++ {b}", "~ default", "    action: allow -> block",
        "~ default new", "    action: allow -> block",
        "- rule tv_off", "+ rule tv_on (at 1)"], p.stdout)
    j = json.loads(lab.gwctl("policy", "diff", b, "--json", expect=1).stdout)
    check(j["same"] is False and j["from"] == "generation 1"
          and {(c["kind"], c["name"], c["change"]) for c in j["changes"]}
          == {("default", "default", "changed"), ("default", "default new", "changed"),
              ("rule", "tv_off", "removed"),
              ("rule", "tv_on", "added")}, f"{j}")
    # An added rule, named, with its place.
    c = lab.file("c.gw", POLICY_A.replace("default allow",
                                          "rule no_smtp reject device tv to internet port 25\n"
                                          "default allow"))
    p = lab.gwctl("policy", "diff", c, expect=1)
    check("+ rule no_smtp (at 2)" in p.stdout, p.stdout)
    # A broken file: its errors as `policy check` prints them, exit 2.
    bad = lab.file("bad.gw", POLICY_BAD)
    p = lab.gwctl("policy", "diff", bad, expect=2)
    check(f"{bad}:2:26: error: unknown device 'tvv'" in p.stderr, p.stderr)
    lab.gwctl("policy", "diff", os.path.join(lab.dir, "missing.gw"), expect=2)
    lab.gwctl("policy", "diff", expect=2)
    lab.gwctl("policy", "diff", a, b, c, expect=2)
    # Lists from files: compared as compiled, so home.gw equals itself.
    lab.gwctl("policy", "apply", HOME)
    lab.gwctl("policy", "diff", HOME)
    check(json.loads(lab.gwctl("policy", "diff", HOME, "--json").stdout)["same"] is True,
          "home.gw differs from itself")
    # Diff changes nothing.
    check(lab.status()["generation"] == 2 and len(lab.history()) == 2, "diff applied")


def main():
    fn = globals().get("case_" + CASE)
    if not fn:
        print(f"unknown case {CASE}")
        return 2
    lab = Gwd(GWD, GWCTL)

    def body():
        fn(lab)
        lab.kill()
    try:
        return gwtest.main(body, CASE, lambda: print("--- gwd log\n" + lab.logtext()))
    finally:
        lab.close()


if __name__ == "__main__":
    sys.exit(main())
