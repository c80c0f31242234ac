#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gwd end to end: a real gwd on a temporary state dir and socket, driven
by the real gwctl (and a raw socket for what gwctl never sends).

    gwd_test.py GWD GWCTL SRCDIR CASE

Each CASE starts its own gwd(s), kills them by PID and removes its folder
(gwtest.gwd.Gwd).  The file engine's active.img is the witness: it must
equal what `gwctl policy compile` makes of the policy that should be in
force.  Exit 0 pass, 1 fail, 77 skip.
"""
import json
import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, check  # noqa: E402
from gwtest.gwd import POLICY_A, POLICY_B, POLICY_BAD, Gwd  # noqa: E402
from gwtest.gwd import api as raw  # noqa: E402

GWD, GWCTL, SRCDIR, CASE = sys.argv[1:5]


def Lab():
    return Gwd(GWD, GWCTL)


# ---------------------------------------------------------------- cases

def case_apply_valid(lab):
    lab.start()
    check(lab.status()["generation"] == 0, "a fresh gwd has no generation")
    home = os.path.join(SRCDIR, "docs", "examples", "home.gw")  # has a list file
    p = lab.gwctl("policy", "apply", home, "-m", "first apply")
    check("generation 1" in p.stdout, f"apply output: {p.stdout}")
    st = lab.status()
    check(st["generation"] == 1 and st["pending"] is None, f"status: {st}")
    check(st["engines"] == [{"name": "file", "generation": 1, "state": "ok"}], f"{st}")
    h = lab.history()
    check(len(h) == 1 and h[0]["generation"] == 1 and h[0]["message"] == "first apply"
          and h[0]["user"] == "root" and h[0]["source"] == home, f"history: {h}")
    check(lab.active() == lab.compiled(home), "the engine does not run home.gw's image")
    entry = json.loads(lab.gwctl("policy", "history", "1", "--json").stdout)["entry"]
    check("list trackers" in entry["text"], "the history's text is not home.gw's")
    check(h[0]["hash"] == st["hash"] and st["hash"].startswith("sha256:"), "hash")
    check("event=apply gen=1" in lab.logtext(), "no apply log line")


def case_apply_broken(lab):
    lab.start()
    a = lab.file("a.gw", POLICY_A)
    bad = lab.file("bad.gw", POLICY_BAD)
    lab.gwctl("policy", "apply", a)
    before = lab.active()
    p = lab.gwctl("policy", "apply", bad, expect=1)
    check(f"{bad}:2:26: error: unknown device 'tvv'" in p.stderr, f"stderr: {p.stderr}")
    check("hint: did you mean 'tv'?" in p.stderr, f"no hint: {p.stderr}")
    # Each diagnostic shows its source line and a caret under its span
    # (gwctl reads the file once for all of them).
    bad2 = lab.file("bad2.gw", POLICY_BAD + "rule tv_two allow device tw to internet\n")
    p = lab.gwctl("policy", "apply", bad2, expect=1)
    for where, excerpt in (
            ("2:26", "    rule tv_off block device tvv to internet\n" + " " * 29 + "^~~\n"),
            ("4:26", "    rule tv_two allow device tw to internet\n" + " " * 29 + "^~\n")):
        check(f"{bad2}:{where}: error: unknown device" in p.stderr and excerpt in p.stderr,
              f"no excerpt {excerpt!r} at {where}: {p.stderr}")
    check(lab.status()["generation"] == 1, "a broken policy changed the generation")
    check(len(lab.history()) == 1, "a broken policy entered the history")
    check(lab.active() == before, "a broken policy reached the engine")
    # A missing file is a failure too, not a usage error.
    lab.gwctl("policy", "apply", os.path.join(lab.dir, "missing.gw"), expect=1)


def case_engine_refuses(lab):
    lab.start()
    a = lab.file("a.gw", POLICY_A)
    b = lab.file("b.gw", POLICY_B)
    lab.gwctl("policy", "apply", a)
    # A folder where the file engine prepares its image: it must refuse
    # (even root cannot rename a file over a folder), and nothing changes.
    os.mkdir(os.path.join(lab.state, "engine-file", "prepared.img"))
    p = lab.gwctl("policy", "apply", b, expect=1)
    check("engine file refused generation 2" in p.stderr and "(engine_refused)" in p.stderr,
          p.stderr)
    st = lab.status()
    check(st["generation"] == 1 and len(lab.history()) == 1, f"{st}")
    check(lab.active() == lab.compiled(a), "a refused generation reached the engine")
    os.rmdir(os.path.join(lab.state, "engine-file", "prepared.img"))
    # The refused number is not burnt into the history; the next apply works.
    lab.gwctl("policy", "apply", b)
    check(lab.status()["generation"] == 2 and lab.active() == lab.compiled(b), "after refusal")


def case_dry_run(lab):
    lab.start()
    a = lab.file("a.gw", POLICY_A)
    b = lab.file("b.gw", POLICY_B)
    p = lab.gwctl("policy", "apply", "--dry-run", a)
    check("would be generation 1" in p.stdout, p.stdout)
    check(lab.status()["generation"] == 0 and lab.history() == [], "dry run applied")
    check(not os.path.exists(os.path.join(lab.state, "engine-file", "active.img")),
          "dry run reached the engine")
    lab.gwctl("policy", "apply", a)
    lab.gwctl("policy", "apply", b, "--dry-run")
    check(lab.status()["generation"] == 1 and len(lab.history()) == 1, "dry run applied")
    check(lab.active() == lab.compiled(a), "dry run changed the engine")
    check(not os.path.exists(os.path.join(lab.state, "engine-file", "prepared.img")),
          "dry run left the engine's prepared state")
    lab.gwctl("policy", "apply", lab.file("bad.gw", POLICY_BAD), "--dry-run", expect=1)


def case_rollback(lab):
    lab.start()
    a = lab.file("a.gw", POLICY_A)
    b = lab.file("b.gw", POLICY_B)
    lab.gwctl("policy", "apply", a, "-m", "A")
    lab.gwctl("policy", "apply", b, "-m", "B")
    check(lab.active() == lab.compiled(b), "B is not in force")
    p = lab.gwctl("policy", "rollback", "1")
    check("restored generation 1 as generation 3" in p.stdout, p.stdout)
    check(lab.active() == lab.compiled(a), "rollback to 1 did not restore A")
    h = lab.history()
    check(len(h) == 3 and h[2]["restores"] == 1 and h[2]["hash"] == h[0]["hash"], f"{h}")
    t1 = json.loads(lab.gwctl("policy", "history", "1", "--json").stdout)["entry"]["text"]
    t3 = json.loads(lab.gwctl("policy", "history", "3", "--json").stdout)["entry"]["text"]
    check(t1 == t3 and "rule tv_off" in t3, "the restored text differs")
    # Without a number: the newest generation before the current one (2).
    lab.gwctl("policy", "rollback")
    check(lab.status()["generation"] == 4 and lab.active() == lab.compiled(b), "rollback")
    p = lab.gwctl("policy", "rollback", "99", expect=1)
    check("no_such_generation" in p.stderr, p.stderr)
    check(lab.status()["generation"] == 4, "a failed rollback changed something")
    lab.gwctl("policy", "rollback", "x", expect=2)


def case_confirm_revert(lab):
    lab.start()
    a = lab.file("a.gw", POLICY_A)
    b = lab.file("b.gw", POLICY_B)
    lab.gwctl("policy", "apply", a)
    p = lab.gwctl("policy", "apply", b, "--confirm", "2s")
    check("confirm within 2s" in p.stdout, p.stdout)
    st = lab.status()
    check(st["generation"] == 2 and st["pending"]["generation"] == 2
          and st["pending"]["previous"] == 1, f"{st}")
    check(lab.active() == lab.compiled(b), "B is not in force while pending")
    # Another apply must wait for the confirm.
    p = lab.gwctl("policy", "apply", a, expect=1)
    check("(pending)" in p.stderr, p.stderr)
    time.sleep(3.5)
    st = lab.status()
    check(st["generation"] == 3 and st["pending"] is None, f"not reverted: {st}")
    check(lab.active() == lab.compiled(a), "the revert did not restore A")
    check(lab.history()[-1]["restores"] == 1, "the revert is not recorded")
    check("event=revert gen=2 to=1" in lab.logtext(), "no revert log line")


def case_confirm_kept(lab):
    lab.start()
    a = lab.file("a.gw", POLICY_A)
    b = lab.file("b.gw", POLICY_B)
    lab.gwctl("policy", "apply", a)
    lab.gwctl("policy", "apply", b, "--confirm", "2")
    p = lab.gwctl("policy", "confirm")
    check("generation 2 confirmed" in p.stdout, p.stdout)
    time.sleep(3)
    st = lab.status()
    check(st["generation"] == 2 and st["pending"] is None, f"{st}")
    check(lab.active() == lab.compiled(b), "a confirmed generation was reverted")
    lab.gwctl("policy", "confirm", expect=1)  # nothing pending any more
    # --confirm with nothing to return to is refused.
    lab2 = Lab()
    try:
        lab2.start()
        p = lab2.gwctl("policy", "apply", a, "--confirm", "5s", expect=1)
        check("earlier generation" in p.stderr, p.stderr)
        lab2.gwctl("policy", "apply", a, "--confirm", "0s", expect=2)
        lab2.gwctl("policy", "apply", a, "--confirm", "25h", expect=2)
    finally:
        lab2.close()


def case_restart_pending(lab):
    a = lab.file("a.gw", POLICY_A)
    b = lab.file("b.gw", POLICY_B)
    # Killed while pending, restarted after the deadline: reverts at start.
    lab.start()
    lab.gwctl("policy", "apply", a)
    lab.gwctl("policy", "apply", b, "--confirm", "2s")
    lab.kill(signal.SIGKILL)
    time.sleep(2.5)
    check(lab.active() == lab.compiled(b), "B left the engine while gwd was dead")
    lab.start()
    st = lab.status()
    check(st["generation"] == 3 and st["pending"] is None, f"no revert at start: {st}")
    check(lab.active() == lab.compiled(a), "the start-up revert did not restore A")
    # Killed while pending, restarted before the deadline: the timer is
    # armed again and fires.
    lab.gwctl("policy", "apply", b, "--confirm", "3s")
    lab.kill(signal.SIGKILL)
    lab.start()
    st = lab.status()
    check(st["generation"] == 4 and st["pending"]["generation"] == 4, f"{st}")
    time.sleep(4)
    st = lab.status()
    check(st["generation"] == 5 and st["pending"] is None, f"no revert after restart: {st}")
    check(lab.active() == lab.compiled(a), "the re-armed revert did not restore A")
    check(lab.logtext().count("event=revert ") == 2, "revert log lines")


def case_api_refusals(lab):
    lab.start()
    mode = stat.S_IMODE(os.stat(lab.sock).st_mode)
    check(mode == 0o660, f"socket mode {oct(mode)}")
    r = raw(lab.sock, [
        "{not json",
        '{"v":1,"id":2,"cmd":"self.destruct"}',
        '{"v":9,"id":3,"cmd":"status"}',
        '{"v":1,"id":4,"cmd":"policy.apply","path":"relative.gw"}',
        '{"v":1,"id":5,"cmd":"status"}',
    ])
    check(r[0]["ok"] is False and r[0]["error"]["code"] == "malformed"
          and r[0]["id"] is None and "not JSON" in r[0]["error"]["message"], f"{r[0]}")
    check(r[1]["id"] == 2 and r[1]["error"]["code"] == "unknown_command"
          and "self.destruct" in r[1]["error"]["message"], f"{r[1]}")
    check(r[2]["error"]["code"] == "version", f"{r[2]}")
    check(r[3]["error"]["code"] == "bad_argument", f"{r[3]}")
    check(r[4]["ok"] is True and r[4]["id"] == 5, "the connection is not usable after errors")
    # A client that shuts down its side after the request still gets the reply.
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(lab.sock)
    s.sendall(b'{"v":1,"id":11,"cmd":"status"}\n')
    s.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    check(json.loads(data)["id"] == 11, f"half-closed client: {data!r}")
    # Policy text over the socket may not name files.
    r = raw(lab.sock, [json.dumps({"v": 1, "id": 6, "cmd": "policy.apply",
                                   "text": 'list x domains file "/etc/passwd"\ndefault allow\n'})])
    check(r[0]["error"]["code"] == "policy_invalid", f"{r[0]}")
    r = raw(lab.sock, [json.dumps({"v": 1, "id": 7, "cmd": "policy.apply",
                                   "text": POLICY_A, "message": "by text"})])
    check(r[0]["ok"] and r[0]["generation"] == 1, f"{r[0]}")
    # Oversized: refused with the limit, then the connection is closed.
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(lab.sock)
    big = b'{"v":1,"id":8,"cmd":"status","pad":"' + b"x" * (5 << 20)
    try:
        s.sendall(big)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    reply = json.loads(data.split(b"\n")[0])
    check(reply["error"]["code"] == "too_long" and "4194304" in reply["error"]["message"],
          f"{reply}")
    check(lab.status()["generation"] == 1, "gwd is not answering after an oversized line")

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        # A part of a case cannot skip on its own; under GW_TEST_STRICT=1
        # (tools/gw test as root) it must run.
        check(not gwtest.strict(), "unauthorised client: needs root and setpriv")
        print("SKIP part: unauthorised client (needs root and setpriv)")
        return
    try:
        subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        "--", GWCTL, "--help"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError):
        check(not gwtest.strict(), f"unauthorised client: nobody cannot run {GWCTL}")
        print(f"SKIP part: unauthorised client: nobody cannot run {GWCTL}")
        return
    # 0660 root:root (or gw): nobody cannot even connect.
    p = lab.gwctl("status", user="nobody", expect=1)
    check("Permission denied" in p.stderr, p.stderr)
    # Opened up: nobody may read but not change.
    os.chmod(lab.sock, 0o666)
    p = lab.gwctl("status", user="nobody")
    check("generation: 1" in p.stdout, p.stdout)
    b = lab.file("b.gw", POLICY_B)
    for args in (["policy", "apply", b], ["policy", "rollback", "1"], ["policy", "confirm"]):
        p = lab.gwctl(*args, user="nobody", expect=1)
        check("(unauthorised)" in p.stderr and "only root or the gw group" in p.stderr,
              p.stderr)
    check(lab.status()["generation"] == 1 and len(lab.history()) == 1,
          "an unauthorised request changed something")


def case_config(lab):
    bad = lab.file("bad.conf", "state_dir = /tmp/x\nsokcet = /tmp/y\npolicy relative\n")
    p = subprocess.run([GWD, "-c", bad], capture_output=True, text=True, timeout=10)
    check(p.returncode == 1, f"gwd with a bad config: exit {p.returncode}")
    check(f"{bad}:2: error: unknown key 'sokcet'" in p.stderr
          and f"{bad}:3: error: expected 'key = value'" in p.stderr, p.stderr)
    p = subprocess.run([GWD, "-c", os.path.join(lab.dir, "none.conf")], capture_output=True,
                       text=True, timeout=10)
    check(p.returncode == 1 and "none.conf" in p.stderr, p.stderr)
    p = subprocess.run([GWD, "-x"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 2, "gwd usage error")
    # policy = FILE is applied at the first start only.
    a = lab.file("a.gw", POLICY_A)
    with open(lab.conf, "a") as f:
        f.write(f"policy = {a}\n")
    lab.start()
    st = lab.status()
    check(st["generation"] == 1 and lab.active() == lab.compiled(a), f"{st}")
    # A second gwd on the same socket refuses to start.
    p = subprocess.run([GWD, "-c", lab.conf], capture_output=True, text=True, timeout=10)
    check(p.returncode == 1 and "another gwd" in p.stderr, p.stderr)
    lab.kill()
    check(not os.path.exists(lab.sock), "gwd left its socket behind")
    lab.start()
    check(lab.status()["generation"] == 1 and len(lab.history()) == 1,
          "the config's policy was applied again")


def case_notify(lab):
    """sd_notify by hand: READY=1 once the generation is pushed; SIGHUP
    re-applies the policy file (RELOADING=1 with MONOTONIC_USEC, then
    READY=1); STOPPING=1 on SIGTERM."""
    a = lab.file("a.gw", POLICY_A)
    with open(lab.conf, "a") as f:
        f.write(f"policy = {a}\n")
    path = os.path.join(lab.dir, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(10)
    try:
        lab.start(env=dict(os.environ, NOTIFY_SOCKET=path))
        check(ns.recv(4096) == b"READY=1", "no READY=1")
        check(lab.status()["generation"] == 1, "the config's policy was not applied")
        with open(a, "w") as f:
            f.write(POLICY_B)
        t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
        os.kill(lab.proc.pid, signal.SIGHUP)
        msg = ns.recv(4096).decode()
        lines = msg.split("\n")
        check(lines[0] == "RELOADING=1" and lines[1].startswith("MONOTONIC_USEC="), msg)
        usec = int(lines[1].split("=")[1])
        check(abs(usec / 1e6 - t0) < 5, f"MONOTONIC_USEC {usec} is not CLOCK_MONOTONIC")
        check(ns.recv(4096) == b"READY=1", "no READY=1 after the reload")
        st = lab.status()
        check(st["generation"] == 2 and lab.active() == lab.compiled(a), f"{st}")
        check("event=reload policy=" in lab.logtext(), "no reload line")
        # A broken file at SIGHUP: logged, the generation stays, READY again.
        with open(a, "w") as f:
            f.write(POLICY_BAD)
        os.kill(lab.proc.pid, signal.SIGHUP)
        check(ns.recv(4096).startswith(b"RELOADING=1"), "no RELOADING=1")
        check(ns.recv(4096) == b"READY=1", "no READY=1 after a failed reload")
        check(lab.status()["generation"] == 2, "a broken reload changed the generation")
        check("event=reload_failed" in lab.logtext(), "no reload_failed line")
        lab.kill()
        check(ns.recv(4096) == b"STOPPING=1", "no STOPPING=1")
    finally:
        ns.close()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Fail(f"no VmRSS for {pid}")


def flood(sock_path, n, stuck_s=1.0):
    """Writes n status requests on a new connection without reading a
    reply, until gwd stops taking them (the socket stays full for stuck_s).
    Returns the connection and how many whole lines went out."""
    data = b"".join(b'{"v":1,"id":%d,"cmd":"status"}\n' % i for i in range(n))
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    s.setblocking(False)
    sent = 0
    while sent < len(data):
        try:
            sent += s.send(data[sent:sent + 65536])
        except BlockingIOError:
            if not select.select([], [s], [], stuck_s)[1]:
                break
    return s, data[:sent].count(b"\n")


def read_replies(s, n, timeout=20):
    """Up to n reply lines from s (fewer if gwd closes it)."""
    s.setblocking(True)
    s.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        try:
            chunk = s.recv(1 << 20)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        out += [json.loads(x) for x in lines]
    return out


def connect_as(sock_path, uid):
    """A connection whose peer credentials (SO_PEERCRED: the effective uid
    at connect) are uid's; the first reply line if gwd refused it."""
    os.seteuid(uid)
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(sock_path)
    finally:
        os.seteuid(0)
    try:
        s.sendall(b'{"v":1,"id":1,"cmd":"status"}\n')
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused: its one line is waiting
    try:
        r = s.makefile("rb").readline()
    except ConnectionResetError:
        r = b""
    return s, (json.loads(r) if r else None)


def refused(r, why):
    """r is a busy refusal that says why."""
    e = (r or {}).get("error") or {}
    return e.get("code") == "busy" and why in e.get("message", "")


def case_api_limits(lab):
    """A client that never reads holds a bounded amount of gwd's memory and
    is closed when it stalls; an idle connection is closed; one user cannot
    take every connection, and root keeps slots of its own."""
    if os.geteuid() != 0:
        raise gwtest.Skip("needs root (peer credentials of other uids)")
    with open(lab.conf, "a") as f:
        f.write("api_max_connections = 8\napi_max_per_user = 3\napi_idle_timeout = 5\n")
    lab.start()
    lab.gwctl("policy", "apply", lab.file("a.gw", POLICY_A))
    # Back-pressure: 200 000 requests (about 40 MB of replies) sent, none read.
    base = rss_kb(lab.proc.pid)
    s, sent = flood(lab.sock, 200000)
    grown = rss_kb(lab.proc.pid) - base
    check(sent < 200000, "gwd read every request of a client that reads no reply")
    check(grown < 24 * 1024, f"gwd grew by {grown} kB for one client that does not read")
    check(lab.status()["generation"] == 1, "gwd does not answer others meanwhile")
    # Every request that went out gets its reply, in order, once read.
    got = read_replies(s, sent)
    s.close()
    check([r["id"] for r in got] == list(range(sent)) and all(r["ok"] for r in got),
          f"{len(got)} replies of {sent}, or out of order")
    check("event=api_paused" in lab.logtext(), "no api_paused line")
    # The same without reading at all: closed once nothing drains for 5 s.
    s, sent = flood(lab.sock, 200000)
    time.sleep(7)
    got = read_replies(s, sent)
    s.close()
    check(len(got) < sent, f"a stalled client was not closed ({len(got)} of {sent})")
    check("event=api_timeout" in lab.logtext() and "reason=stalled" in lab.logtext(),
          "no api_timeout reason=stalled line")
    # Idle: a connection that sends nothing is closed after 5 s.
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(15)
    s.connect(lab.sock)
    t0 = time.monotonic()
    try:
        closed = s.recv(100) == b""
    except (socket.timeout, ConnectionResetError):
        closed = False
    s.close()
    waited = time.monotonic() - t0
    check(closed and 4 <= waited < 10, f"idle connection: closed={closed} after {waited:.1f}s")
    # Connections: 3 a user; of 8, the last 4 only for root.
    os.chmod(lab.sock, 0o666)
    held = []
    try:
        for _ in range(3):
            c, r = connect_as(lab.sock, 65534)
            held.append(c)
            check(r and r["ok"], f"nobody's connection refused: {r}")
        c, r = connect_as(lab.sock, 65534)
        c.close()
        check(refused(r, "uid 65534 has 3"),
              f"a 4th connection of one user: {r}")
        c, r = connect_as(lab.sock, 1)
        held.append(c)
        check(r and r["ok"], f"another user's connection refused: {r}")
        c, r = connect_as(lab.sock, 2)
        c.close()
        check(refused(r, "kept for root"),
              f"a non-root connection in root's slots: {r}")
        for _ in range(4):
            c, r = connect_as(lab.sock, 0)
            held.append(c)
            check(r and r["ok"], f"root's connection refused: {r}")
        c, r = connect_as(lab.sock, 0)
        c.close()
        check(refused(r, "too many"),
              f"a 9th connection: {r}")
        # A user's closed connection frees its slot.
        held.pop(0).close()
        for _ in range(100):
            c, r = connect_as(lab.sock, 65534)
            if r and r.get("ok"):
                break
            c.close()
            time.sleep(0.05)
        held.append(c)
        check(r and r["ok"], f"a freed slot was not given again: {r}")
    finally:
        for c in held:
            c.close()


def children_of(pid):
    """PIDs whose parent is pid (from /proc/*/stat)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat_line = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        if int(stat_line.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(d))
    return out


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def wait_child(lab, timeout=30):
    """The compile child gwd started, as soon as it exists."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        kids = children_of(lab.proc.pid)
        if kids:
            return kids[0]
        time.sleep(0.002)
    raise Fail("gwd started no child process for the compile")


def big_policy(lab, domains=1000000):
    with open(os.path.join(lab.dir, "big.txt"), "w") as f:
        for i in range(domains):
            f.write(f"host{i}.tracker{i % 977}.example\n")
    os.chmod(os.path.join(lab.dir, "big.txt"), 0o644)
    return lab.file("big.gw", 'list big domains file "big.txt"\n'
                    "device tv mac 02:00:00:00:00:09\n"
                    "rule no-trackers block device tv to list big\ndefault allow\n")


def timed_status(lab):
    t0 = time.monotonic()
    st = lab.status()
    return st, time.monotonic() - t0


def case_apply_off_loop(lab):
    """A FIFO as the policy is refused at once; a compile that does not
    end (its process stopped) holds neither the API nor anything else,
    and is stopped at compile_timeout."""
    with open(lab.conf, "a") as f:
        f.write("compile_timeout = 4\n")
    lab.start()
    fifo = os.path.join(lab.dir, "policy.fifo")
    os.mkfifo(fifo)
    t0 = time.monotonic()
    p = lab.gwctl("policy", "apply", fifo, expect=1)
    check(time.monotonic() - t0 < 5 and "not a regular file" in p.stderr,
          f"a FIFO as the policy: {p.stderr}")
    check(lab.status()["generation"] == 0, "a FIFO changed the generation")
    # A compile held stopped: the API answers meanwhile, then the
    # timeout ends it and nothing changes.
    big = big_policy(lab)
    apply = subprocess.Popen([GWCTL, "policy", "apply", big], env=lab.env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        kid = wait_child(lab)
        os.kill(kid, signal.SIGSTOP)
        for _ in range(5):
            st, took = timed_status(lab)
            check(took < 1.0, f"status took {took:.2f}s during a compile")
            check(st["generation"] == 0, f"{st}")
        check(apply.poll() is None, "the apply finished while its compile was stopped")
        out, err = apply.communicate(timeout=30)
    finally:
        if apply.poll() is None:
            apply.kill()
            apply.wait()
    check(apply.returncode == 1 and "(timeout)" in err and "compile_timeout" in err,
          f"a stopped compile: exit {apply.returncode}: {err}")
    check(lab.status()["generation"] == 0 and lab.history() == [], "the timeout applied")
    for _ in range(100):
        if not children_of(lab.proc.pid):
            break
        time.sleep(0.05)
    check(not children_of(lab.proc.pid), "the stopped compile was not killed and reaped")
    # The same compile let run (with the default timeout): it applies.
    lab.kill()
    with open(lab.conf) as f:
        conf = f.read().replace("compile_timeout = 4\n", "")
    with open(lab.conf, "w") as f:
        f.write(conf)
    lab.start()
    apply = subprocess.Popen([GWCTL, "policy", "apply", big], env=lab.env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kid = wait_child(lab)
    os.kill(kid, signal.SIGSTOP)
    st, took = timed_status(lab)
    check(took < 1.0, f"status took {took:.2f}s during a compile")
    os.kill(kid, signal.SIGCONT)
    out, err = apply.communicate(timeout=60)
    check(apply.returncode == 0 and "generation 1" in out, f"{out} {err}")
    check(lab.active() == lab.compiled(big), "the engine does not run big.gw")


def case_apply_client_rights(lab):
    """A member of the api group applies files with their own rights: a
    file they cannot read is refused without a word of it, also as an
    include or a list file; the compile runs as them, without capabilities."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        raise gwtest.Skip("needs root and setpriv")
    with open(lab.conf, "a") as f:
        f.write("api_group = nogroup\n")
    lab.start()
    secret = lab.file("secret.gw", "topsecret-4711 is not a policy\n")
    os.chmod(secret, 0o600)
    secret_list = lab.file("secret.txt", "topsecret-4712.example\n")
    os.chmod(secret_list, 0o600)
    inc = lab.file("inc.gw", 'include "secret.gw"\ndefault allow\n')
    lst = lab.file("lst.gw", 'list l domains file "secret.txt"\n'
                   "rule r block any to list l\ndefault allow\n")
    for path, what in ((secret, "cannot read: Permission denied"),
                       (inc, "cannot include"), (lst, "cannot read list file")):
        p = lab.gwctl("policy", "apply", path, user="nobody", expect=1)
        check(what in p.stderr and "Permission denied" in p.stderr, f"{path}: {p.stderr}")
        check("topsecret" not in p.stderr + p.stdout, f"{path}: the secret was quoted: {p.stderr}")
    check(lab.status()["generation"] == 0, "an unreadable policy was applied")
    check("topsecret" not in lab.logtext(), "the log quotes the secret")
    # Root may read it (and gets its diagnostics).
    p = lab.gwctl("policy", "apply", secret, expect=1)
    check("topsecret-4711" in p.stderr, f"root's apply of the file: {p.stderr}")
    # A readable file applies as nobody, and the compile runs as nobody.
    big = big_policy(lab, 300000)
    apply = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                              "--", GWCTL, "policy", "apply", big], env=lab.env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        kid = wait_child(lab)
        os.kill(kid, signal.SIGSTOP)
        ps = proc_status(kid)
        os.kill(kid, signal.SIGCONT)
    finally:
        out, err = apply.communicate(timeout=60)
    uid = ps["Uid"].split()
    check(uid == ["65534"] * 4 and ps["Gid"].split() == ["65534"] * 4, f"compile as {ps['Uid']}")
    check(ps["Groups"].strip() == "", f"the compile's groups: {ps['Groups']!r}")
    check(int(ps["CapEff"], 16) == 0 and int(ps["CapPrm"], 16) == 0, f"capabilities {ps}")
    check(ps["NoNewPrivs"].strip() == "1", "no_new_privs is not set")
    check(apply.returncode == 0 and "generation 1" in out, f"nobody's apply: {out} {err}")
    check(lab.history()[0]["user"] == "nobody", f"{lab.history()}")


def case_damaged_history(lab):
    """A damaged current generation does not keep gwd from starting: it
    starts degraded (API up, engines untouched, status says why), every
    history image is checked against its recorded hash, and a rollback to
    a readable generation mends it."""
    a = lab.file("a.gw", POLICY_A)
    b = lab.file("b.gw", POLICY_B)
    lab.start()
    lab.gwctl("policy", "apply", a)
    lab.gwctl("policy", "apply", b)
    lab.kill()
    hist = os.path.join(lab.state, "history")
    img1 = os.path.join(hist, "0000000001.img")
    img2 = os.path.join(hist, "0000000002.img")
    active = os.path.join(lab.state, "engine-file", "active.img")
    # Generation 2's image replaced by generation 1's: a valid image, but
    # not the one recorded.  gwd must not run it as generation 2.
    shutil.copy(img1, img2)
    before = os.stat(active).st_mtime_ns
    lab.start()
    st = lab.status()
    check(st["generation"] == 2 and st["hash"] is None and st["degraded"]
          and "generation 2" in st["degraded"] and "hash" in st["degraded"], f"{st}")
    check(os.stat(active).st_mtime_ns == before and lab.active() == lab.compiled(b),
          "a degraded gwd touched the engine")
    p = lab.gwctl("status")
    check("degraded:" in p.stdout, p.stdout)
    check(len(lab.history()) == 2, "the history is not listed")
    p = lab.gwctl("policy", "rollback", "2", expect=1)
    check("(damaged)" in p.stderr, p.stderr)
    # Rollback without a number: the newest readable generation, 1.
    lab.gwctl("policy", "rollback")
    st = lab.status()
    check(st["generation"] == 3 and st["degraded"] is None, f"not mended: {st}")
    check(lab.active() == lab.compiled(a), "the rollback did not restore A")
    check("event=degraded" in lab.logtext() and "event=recovered gen=3" in lab.logtext(),
          "no degraded/recovered lines")
    lab.kill()
    # A cut image (it does not even load) and a damaged state.json: started
    # degraded too, and an apply mends it.
    with open(os.path.join(hist, "0000000003.img"), "r+b") as f:
        f.truncate(100)
    lab.start()
    st = lab.status()
    check(st["degraded"] and "generation 3" in st["degraded"], f"{st}")
    lab.kill()
    with open(os.path.join(lab.state, "state.json"), "w") as f:
        f.write("{not json")
    lab.start()
    st = lab.status()
    check(st["degraded"] and "state.json" in st["degraded"], f"{st}")
    check(lab.active() == lab.compiled(a), "a degraded gwd touched the engine")
    p = lab.gwctl("policy", "apply", b)
    check("generation 4" in p.stdout, p.stdout)
    st = lab.status()
    check(st["generation"] == 4 and st["degraded"] is None, f"{st}")
    check(lab.active() == lab.compiled(b), "the apply did not reach the engine")


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def at_time(when):
    """An environment in which gwd sees the wall clock at `when`
    (libfaketime; its monotonic clock stays the real one)."""
    env = dict(os.environ, LD_PRELOAD=FAKETIME_LIB, FAKETIME=f"@{when}",
               DONT_FAKE_MONOTONIC="1")
    env["ASAN_OPTIONS"] = ":".join(x for x in (os.environ.get("ASAN_OPTIONS"),
                                               "verify_asan_link_order=0") if x)
    return env


def case_confirm_clock(lab):
    """The confirm deadline is time left on the monotonic clock: a wall
    clock that jumps (back to 1970, as on a router without a battery-backed
    clock) neither keeps a change for decades nor reverts it early, also
    across a restart of gwd; a deadline of another boot reverts at start."""
    if not os.path.exists(FAKETIME_LIB):
        raise gwtest.Skip(f"{FAKETIME_LIB} is not installed (libfaketime)")
    a = lab.file("a.gw", POLICY_A)
    b = lab.file("b.gw", POLICY_B)
    lab.start(env=at_time("2030-01-01 00:00:00"))
    lab.gwctl("policy", "apply", a)
    lab.gwctl("policy", "apply", b, "--confirm", "6s")
    t0 = time.monotonic()
    lab.kill(signal.SIGKILL)
    lab.start(env=at_time("1970-01-02 00:00:00"))
    st = lab.status()
    check(st["pending"] and 0 < st["pending"]["seconds_left"] <= 6, f"after the clock went back: {st}")
    while lab.status()["pending"] and time.monotonic() - t0 < 15:
        time.sleep(0.2)
    took = time.monotonic() - t0
    st = lab.status()
    check(st["pending"] is None and st["generation"] == 3 and 5 <= took < 9,
          f"not reverted at its deadline ({took:.1f}s): {st}")
    check(lab.active() == lab.compiled(a), "the revert did not restore A")
    # A clock that jumps forward (NTP sets it) does not revert early.
    lab.gwctl("policy", "apply", b, "--confirm", "30s")
    lab.kill(signal.SIGKILL)
    lab.start(env=at_time("2031-01-01 00:00:00"))
    st = lab.status()
    check(st["pending"] and 20 < st["pending"]["seconds_left"] <= 30, f"after a jump forward: {st}")
    # The deadline of another boot: the change was never confirmed before
    # the system went down, so it goes at start.
    lab.kill(signal.SIGKILL)
    path = os.path.join(lab.state, "state.json")
    with open(path) as f:
        state = json.load(f)
    check(len(state["pending"]["boot_id"]) == 36 and state["pending"]["deadline_monotonic_ms"] > 0,
          f"state.json: {state}")
    state["pending"]["boot_id"] = "00000000-0000-0000-0000-000000000000"
    with open(path, "w") as f:
        json.dump(state, f)
    lab.start()
    st = lab.status()
    check(st["pending"] is None and st["generation"] == 5, f"another boot's deadline: {st}")
    check("before the system restarted" in lab.logtext(), "no revert line for the restart")


def main():
    fn = globals().get("case_" + CASE)
    if not fn:
        print(f"unknown case {CASE}")
        return 2
    lab = Lab()

    def body():
        fn(lab)
        lab.kill()
    try:
        return gwtest.main(body, CASE, lambda: print("--- gwd log\n" + lab.logtext()))
    finally:
        lab.close()


if __name__ == "__main__":
    sys.exit(main())
