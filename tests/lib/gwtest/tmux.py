# SPDX-License-Identifier: MIT
"""A terminal a test can type into and read: a detached tmux session of
its own (a PID-tagged name on a tmux server of its own, a socket in the
test's folder), for full-screen programs such as gwtop.

    t = Tmux(folder, ["gwtop", "--socket", sock], cols=80, rows=24, env=...)
    t.wait_text("sarah-laptop")      # the screen, once it shows that
    t.keys("/", "thermo", "Enter")   # tmux key names: Enter, Escape, F5, Down
    t.resize(100, 30)
    t.screen()                       # the text on the screen now
    t.close()                        # the session and its server, by PID

Nothing here touches the user's tmux: the server has its own socket (-S),
and it is killed by its PID when the test ends.
"""
import os
import shlex
import subprocess
import time

from . import Fail, wait_for


_made = [0]


class Tmux:
    def __init__(self, folder, argv, cols=80, rows=24, env=None, term="xterm-256color"):
        _made[0] += 1
        tag = "%d-%d" % (os.getpid(), _made[0])
        self.sock = os.path.join(folder, "tmux-%s.sock" % tag)
        self.name = "gwt" + tag
        self.cols, self.rows = cols, rows
        self.env = dict(env or os.environ, TERM=term)
        # One shell command for tmux to run; -x/-y fix the size while no
        # client is attached.  The program's exit status goes to a file:
        # remain-on-exit keeps the pane, so the last screen can be read.
        self.status_file = os.path.join(folder, "tmux-%s.status" % tag)
        cmd = "%s; echo $? > %s" % (" ".join(shlex.quote(a) for a in argv),
                                    shlex.quote(self.status_file))
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", self.name, "-x", str(cols),
                   "-y", str(rows), cmd)
        self._tmux("set-option", "-t", self.name, "remain-on-exit", "on")
        # The server's PID: close() stops it (and the program with it).
        self.pid = int(self._tmux("display-message", "-p", "-t", self.name, "#{pid}").strip())

    def _tmux(self, *args):
        r = subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True,
                           env=self.env, timeout=20)
        if r.returncode != 0:
            raise Fail("tmux %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
        return r.stdout

    def screen(self, escapes=False):
        """The screen's text now, one string, lines joined by '\\n';
        escapes: with the attributes and colours as escape sequences."""
        return self._tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.name)

    def keys(self, *keys):
        """Types each key: a tmux key name (Enter, Escape, Up, F6, C-c) or
        literal text (sent with -l, so 'q' is the letter)."""
        names = {"Enter", "Escape", "Up", "Down", "Left", "Right", "Home", "End", "PPage",
                 "NPage", "BSpace", "Tab", "Space"}
        for k in keys:
            if k in names or (k.startswith("F") and k[1:].isdigit()) or k.startswith("C-"):
                self._tmux("send-keys", "-t", self.name, k)
            else:
                self._tmux("send-keys", "-t", self.name, "-l", k)
            time.sleep(0.05)

    def resize(self, cols, rows):
        self._tmux("resize-window", "-t", self.name, "-x", str(cols), "-y", str(rows))
        self.cols, self.rows = cols, rows

    def wait_text(self, what, timeout=15.0, absent=False):
        """The screen once `what` (a string, or a function of the screen
        returning true) shows (or, absent=True, no longer shows); Fail with
        the last screen otherwise."""
        last = [""]

        def seen():
            s = last[0] = self.screen()
            ok = what(s) if callable(what) else what in s
            return (not ok) if absent else ok
        try:
            wait_for("%s %r on the screen" % ("no" if absent else "", what), seen,
                     timeout=timeout, step=0.2)
        except Fail as e:
            raise Fail("%s; the screen:\n%s" % (e, last[0]))
        return last[0]

    def program_pid(self):
        """The PID of the program (the pane's shell's child), or None once
        it ended."""
        shell = int(self._tmux("display-message", "-p", "-t", self.name,
                               "#{pane_pid}").strip())
        try:
            with open("/proc/%d/task/%d/children" % (shell, shell)) as f:
                kids = f.read().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def exit_status(self):
        """The program's exit status once it ended, else None."""
        try:
            with open(self.status_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def close(self):
        """The session's server, stopped by its PID, and its socket."""
        if self.pid:
            try:
                os.kill(self.pid, 15)
            except ProcessLookupError:
                pass
            self.pid = None
        for p in (self.sock, self.status_file):
            try:
                os.unlink(p)
            except OSError:
                pass
