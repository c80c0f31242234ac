#!/usr/bin/env bash
# The classifier live on veth, in three network namespaces:
#
#   gwt-PID-dev  d0 10.77.0.2 (MAC 02:00:00:00:00:01, the household's "phone")
#        |
#   gwt-PID-gw   lan0 10.77.0.1: XDP gw_classify (native) + TC gw_egress;
#                ip_forward; nft masquerade out wan0 203.0.113.1
#        |
#   gwt-PID-inet i0 203.0.113.2, .3, .4: one python3 http.server on each,
#                and a trickle (4 KB every 50 ms) on 203.0.113.2:8081
#
# With no policy everything passes.  Then: web (allow) to .2 works, walled
# (block) to .3 times out and drops exactly what was sent, refused (reject)
# to .4 fails at once with a RST, per-rule counters match the packets sent,
# and a new generation cuts a download that is under way.
#
# Usage: netns_live.sh GWBPF_TOOL.  Root only; exits 77 where namespaces or
# BPF are not permitted.  Everything made here is removed on any exit.
set -euo pipefail

TOOL=$1
ID=$$
DEV=gwt-$ID-dev GW=gwt-$ID-gw INET=gwt-$ID-inet
PINS=/sys/fs/bpf/gw-test-$ID
WORK=$(mktemp -d)
PIDS=()
NETNS_MADE=()
PY=/usr/bin/python3

skip() { echo "skipped: $*"; exit 77; }
die() { echo "FAIL: $*"; exit 1; }

cleanup() {
    local p ns
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [[ -d $PINS ]]; then
        in_gw "$TOOL" "$PINS" detach lan0 >/dev/null 2>&1 || true
        "$TOOL" "$PINS" unpin >/dev/null 2>&1 || rm -rf "$PINS"
    fi
    if [[ " ${NETNS_MADE[*]} " == *" $GW "* ]]; then
        ip netns exec "$GW" nft delete table ip "gwt_$ID" 2>/dev/null || true
    fi
    for ns in "${NETNS_MADE[@]}"; do
        ip netns delete "$ns" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# In the gateway's network namespace, keeping this mount namespace: `ip
# netns exec` would mount a fresh /sys and hide /sys/fs/bpf and the pins.
in_gw() { nsenter --net="/run/netns/$GW" "$@"; }
# Not for what runs in the background: $! must be the PID of the program
# itself (ip netns exec execs it), not of a subshell.
in_dev() { ip netns exec "$DEV" "$@"; }
in_inet() { ip netns exec "$INET" "$@"; }

[[ $EUID -eq 0 ]] || skip "needs root"
for c in ip tc nft nsenter curl ping "$PY"; do
    command -v "$c" >/dev/null || skip "$c is not installed"
done

for ns in "$DEV" "$GW" "$INET"; do
    ip netns add "$ns" 2>/dev/null || skip "cannot make network namespaces"
    NETNS_MADE+=("$ns")
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done

ip -n "$DEV" link add d0 address 02:00:00:00:00:01 type veth peer name lan0 netns "$GW"
ip -n "$GW" link add wan0 type veth peer name i0 netns "$INET"
ip -n "$DEV" addr add 10.77.0.2/24 dev d0
ip -n "$GW" addr add 10.77.0.1/24 dev lan0
ip -n "$GW" addr add 203.0.113.1/24 dev wan0
for a in 2 3 4; do ip -n "$INET" addr add "203.0.113.$a/24" dev i0; done
ip -n "$DEV" link set d0 up
ip -n "$GW" link set lan0 up
ip -n "$GW" link set wan0 up
ip -n "$INET" link set i0 up
ip -n "$DEV" route add default via 10.77.0.1
ip netns exec "$GW" sysctl -qw net.ipv4.ip_forward=1
# What XDP_TX sends back on lan0 (the reject's RST) reaches d0 only when d0
# runs an XDP program of its own (GRO on was not enough here).
rc=0
in_dev "$TOOL" - xdp-pass d0 || rc=$?
((rc != 77)) || skip "BPF is not permitted"
((rc == 0)) || die "xdp-pass d0"
ip netns exec "$GW" nft -f - <<EOF
table ip gwt_$ID {
    chain post {
        type nat hook postrouting priority srcnat;
        oifname "wan0" masquerade
    }
}
EOF

# The internet: a small page, served on every address.
echo "hello from the internet" >"$WORK/small"
for a in 2 3 4; do
    ip netns exec "$INET" "$PY" -m http.server --bind "203.0.113.$a" --directory "$WORK" 8080 \
        >"$WORK/http-$a.log" 2>&1 &
    PIDS+=($!)
done
# The trickle: an open connection that carries data all the time.  The
# sender, not the receiver, sets the pace, so nothing piles up in the
# device's socket buffer and what the device gets is what crossed lan0.
cat >"$WORK/trickle.py" <<'EOF'
import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(4096 * 1200))
        self.end_headers()
        for _ in range(1200):
            try:
                self.wfile.write(b"x" * 4096)
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.05)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("203.0.113.2", 8081), H).serve_forever()
EOF
ip netns exec "$INET" "$PY" "$WORK/trickle.py" >"$WORK/trickle.log" 2>&1 &
PIDS+=($!)
for a in 2 3 4; do
    for _ in $(seq 50); do
        in_inet curl -s -o /dev/null "http://203.0.113.$a:8080/small" && break
        sleep 0.1
    done
done

fetch() { in_dev curl -s --max-time "$2" -o "$WORK/out" "http://$1:8080/small"; }

# stat NAME: the rule's packets, or "counter NAME" value, now.
stat_rule() { in_gw "$TOOL" "$PINS" stats "$POLICY" | awk -v n="$1" '$1 == "rule" && $2 == n { print $3 }'; }
stat_counter() { in_gw "$TOOL" "$PINS" stats "$POLICY" | awk -v n="$1" '$1 == "counter" && $2 == n { print $3 }'; }

# --------------------------------------------------------------- attach
rc=0
in_gw "$TOOL" "$PINS" attach lan0 || rc=$?
((rc != 77)) || skip "BPF is not permitted"
((rc == 0)) || die "attach lan0"

ip -n "$GW" link show lan0 | grep -q "xdp " || die "no native XDP program on lan0"

# No policy yet: every destination answers, the one to be walled too.
fetch 203.0.113.3 5 || die "no policy: 203.0.113.3 should answer"
echo "ok: no policy, 203.0.113.3 answers"

POLICY=$WORK/home.gw
cat >"$POLICY" <<'EOF'
device phone mac 02:00:00:00:00:01
rule web allow device phone to 203.0.113.2/32
rule walled block device phone to 203.0.113.3/32
rule refused reject device phone to 203.0.113.4/32
default block
EOF
in_gw "$TOOL" "$PINS" apply "$POLICY" 10.77.0.1 >/dev/null || die "apply"

# --------------------------------------------------------------- allow
fetch 203.0.113.2 5 || die "allowed: curl to 203.0.113.2 failed"
grep -q "hello from the internet" "$WORK/out" || die "allowed: wrong content"
echo "ok: web (allow) to 203.0.113.2 fetched the page"

# --------------------------------------------------------------- block
t0=$(date +%s%N)
rc=0
fetch 203.0.113.3 2 || rc=$?
((rc == 28)) || die "blocked: curl to 203.0.113.3 should time out (exit 28), got $rc"
echo "ok: walled (block) to 203.0.113.3 timed out after $((($(date +%s%N) - t0) / 1000000)) ms"

# Exactly N datagrams: the rule and the drop counter rise by N, nothing arrives.
N=7
before=$(stat_rule walled)
drops=$(stat_counter drop)
ip netns exec "$INET" "$PY" - "$WORK/udp.ready" "$WORK/udp.got" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("203.0.113.3", 9999))
open(sys.argv[1], "w").close()
s.settimeout(3)
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
except socket.timeout:
    pass
open(sys.argv[2], "w").write(str(n))
EOF
UDP_PID=$!
PIDS+=("$UDP_PID")
for _ in $(seq 50); do [[ -e $WORK/udp.ready ]] && break; sleep 0.1; done
in_dev "$PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range('"$N"'):
    s.sendto(b"x" * 100, ("203.0.113.3", 9999))'
wait "$UDP_PID" || true
after=$(stat_rule walled)
((after - before == N)) || die "walled counted $((after - before)) packets, $N were sent"
(($(stat_counter drop) - drops == N)) || die "drop counter rose by $(($(stat_counter drop) - drops)), not $N"
[[ $(cat "$WORK/udp.got") == 0 ]] || die "$(cat "$WORK/udp.got") blocked datagrams arrived"
echo "ok: walled counted $N of $N datagrams, drop +$N, none arrived"

# --------------------------------------------------------------- reject
rejects=$(stat_counter reject)
before=$(stat_rule refused)
t0=$(date +%s%N)
rc=0
in_dev curl -s --max-time 5 -o /dev/null "http://203.0.113.4:8080/small" 2>"$WORK/err" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
((rc == 7)) || die "rejected: curl should be refused (exit 7), got $rc"
((ms < 1000)) || die "rejected: refusal took $ms ms"
(($(stat_rule refused) - before == 1)) || die "refused should count the one SYN"
(($(stat_counter reject) - rejects == 1)) || die "reject counter should rise by 1"
echo "ok: refused (reject) answered the SYN with a RST: connection refused in $ms ms"

# --------------------------------------------------------------- counters
before=$(stat_rule web)
in_dev ping -q -c 5 -i 0.2 -W 2 203.0.113.2 >/dev/null || die "ping 203.0.113.2"
(($(stat_rule web) - before == 5)) || die "web counted $(($(stat_rule web) - before)) pings, 5 were sent"
echo "ok: web counted the 5 echo requests"

# --------------------------------------------------------------- swap
# The trickle under way; a new generation blocks its destination, and the
# bytes stop at once (what was in flight is a few KB).  Uncut, 80 KB a
# second go on coming.
ip netns exec "$DEV" curl -s --speed-limit 1 --speed-time 3 --max-time 60 \
    -o "$WORK/dl" "http://203.0.113.2:8081/" &
DL_PID=$!
PIDS+=("$DL_PID")
for _ in $(seq 100); do
    (($(stat -c %s "$WORK/dl" 2>/dev/null || echo 0) > 40000)) && break
    sleep 0.1
done
(($(stat -c %s "$WORK/dl") > 40000)) || die "the download did not start"
reclass=$(($(stat_counter flow_reclass) + $(stat_counter egress_reclass)))
egress_drops=$(stat_counter egress_drop)
sed -i 's/^rule web allow/rule web block/' "$POLICY"
in_gw "$TOOL" "$PINS" apply "$POLICY" 10.77.0.1 >/dev/null || die "apply (second generation)"
s0=$(stat -c %s "$WORK/dl")
sleep 1
s1=$(stat -c %s "$WORK/dl")
sleep 2
s2=$(stat -c %s "$WORK/dl")
((s1 == s2)) || die "the download went on after the swap ($s0 -> $s1 -> $s2 bytes)"
((s1 - s0 <= 65536)) || die "$((s1 - s0)) bytes arrived after the swap"
rc=0
wait "$DL_PID" || rc=$?
((rc == 28)) || die "the cut download should end in curl's stall timeout (28), got $rc"
(($(stat_counter flow_reclass) + $(stat_counter egress_reclass) > reclass)) ||
    die "no flow was classified again (ingress or egress)"
(($(stat_counter egress_drop) > egress_drops)) || die "nothing was dropped on egress"
echo "ok: the new generation cut the download at $s2 bytes ($((s1 - s0)) after the swap)"
fetch 203.0.113.2 2 && die "203.0.113.2 still answers after the swap"
echo "ok: a new connection to 203.0.113.2 is blocked too"

# --------------------------------------------------------------- detach
in_gw "$TOOL" "$PINS" detach lan0 || die "detach lan0"
ip -n "$GW" link show lan0 | grep -q "xdp" && die "an XDP program is left on lan0"
in_gw tc filter show dev lan0 egress | grep -q . && die "a TC filter is left on lan0"
fetch 203.0.113.2 5 || die "detached: 203.0.113.2 should answer again"
echo "ok: detached; 203.0.113.2 answers again"
"$TOOL" "$PINS" unpin || die "unpin"
[[ ! -e $PINS ]] || die "pins left at $PINS"
echo "ok: all done"
