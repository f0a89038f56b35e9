#!/bin/bash
# record.sh: re-records the ctnetlink messages of this directory from the
# running kernel, in throw-away network namespaces (root; nft, conntrack, python3).
#
# usage: tests/unit/data/record.sh BUILDDIR/tests/tools/ct_record [OUTDIR]
#
# client (198.18.0.2, 2001:db8::2) -- router (masquerade on wan0, acct on)
# -- server (198.18.1.2, 2001:db8:1::2).  Three flows with fixed ports:
#   TCP/IPv4 40001 -> 5001 (ct mark set 0x1 by the router), 10000 bytes echoed
#   TCP/IPv6 40002 -> 5002 (no mark), 10000 bytes echoed
#   UDP/IPv4 40003 -> 5003 (ct mark set 0x5), 3 datagrams of 100 bytes echoed
# events.bin:    every NEW/UPDATE/DESTROY event from before the first packet
#                to after `conntrack -F` (the DESTROY events carry counters)
# dump.bin:      an AF_UNSPEC dump while both TCP flows are held ESTABLISHED
# dump_mark.bin: the same dump filtered on mark 0x4/0x4 (the UDP flow only)
# conntrack-L.txt: `conntrack -L -o extended,id` at dump time, the
#                independent reference the unit test's expected values
#                were checked against.
set -eu

REC=${1:?usage: record.sh CT_RECORD [OUTDIR]}
OUT=${2:-$(cd "$(dirname "$0")" && pwd)}
REC=$(cd "$(dirname "$REC")" && pwd)/$(basename "$REC")
TAG=ctrec$$
C=${TAG}c R=${TAG}r S=${TAG}s
TMP=$(mktemp -d)

cleanup() {
	local ns pid
	for ns in $C $R $S; do
		for pid in $(ip netns pids $ns 2>/dev/null); do kill $pid 2>/dev/null || true; done
		ip netns del $ns 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add $C && ip netns add $R && ip netns add $S
ip -n $C link add eth0 type veth peer name lan0 netns $R
ip -n $S link add eth0 type veth peer name wan0 netns $R
ip -n $C addr add 198.18.0.2/24 dev eth0
ip -n $C addr add 2001:db8::2/64 dev eth0 nodad
ip -n $R addr add 198.18.0.1/24 dev lan0
ip -n $R addr add 2001:db8::1/64 dev lan0 nodad
ip -n $R addr add 198.18.1.1/24 dev wan0
ip -n $R addr add 2001:db8:1::1/64 dev wan0 nodad
ip -n $S addr add 198.18.1.2/24 dev eth0
ip -n $S addr add 2001:db8:1::2/64 dev eth0 nodad
for ns in $C $R $S; do ip -n $ns link set lo up; done
ip -n $C link set eth0 up; ip -n $S link set eth0 up
ip -n $R link set lan0 up; ip -n $R link set wan0 up
ip -n $C route add default via 198.18.0.1
ip -n $C -6 route add default via 2001:db8::1
ip -n $S route add default via 198.18.1.1
ip -n $S -6 route add default via 2001:db8:1::1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip netns exec $R sysctl -qw net.netfilter.nf_conntrack_acct=1
ip netns exec $R nft -f - <<'EOF'
table inet rec {
	chain forward_mark {
		type filter hook forward priority 0; policy accept;
		tcp dport 5001 ct mark set 0x1
		udp dport 5003 ct mark set 0x5
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" masquerade
	}
}
EOF

cat >"$TMP/server.py" <<'EOF'
import socket, sys, threading
def tcp(fam, addr, port):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(1)
    c, _ = s.accept()
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
def udp(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    for _ in range(3):
        d, a = s.recvfrom(65536); s.sendto(d, a)
ts = [threading.Thread(target=tcp, args=(socket.AF_INET, "198.18.1.2", 5001)),
      threading.Thread(target=tcp, args=(socket.AF_INET6, "2001:db8:1::2", 5002)),
      threading.Thread(target=udp, args=("198.18.1.2", 5003))]
for t in ts: t.start()
print("listening", flush=True)
for t in ts: t.join()
EOF
cat >"$TMP/client.py" <<'EOF'
import os, socket, sys, time
go = sys.argv[1]
def tcp(fam, src, dst, sport, dport):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((src, sport)); s.connect((dst, dport))
    s.sendall(b"x" * 10000)
    got = 0
    while got < 10000: got += len(s.recv(65536))
    return s
a = tcp(socket.AF_INET, "198.18.0.2", "198.18.1.2", 40001, 5001)
b = tcp(socket.AF_INET6, "2001:db8::2", "2001:db8:1::2", 40002, 5002)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("198.18.0.2", 40003))
for _ in range(3):
    u.sendto(b"y" * 100, ("198.18.1.2", 5003)); u.recv(65536)
print("held", flush=True)
while not os.path.exists(go): time.sleep(0.1)
a.close(); b.close()
time.sleep(1)
EOF

ip netns exec $C ping -c1 -W2 -q 198.18.1.2 >/dev/null
ip netns exec $C ping -6 -c1 -W2 -q 2001:db8:1::2 >/dev/null
ip netns exec $R conntrack -F 2>/dev/null

ip netns exec $R "$REC" events -o "$OUT/events.bin" -t 30 >"$TMP/events.log" &
recpid=$!
sleep 0.5
ip netns exec $S python3 "$TMP/server.py" >"$TMP/server.log" &
until grep -q listening "$TMP/server.log" 2>/dev/null; do sleep 0.1; done
ip netns exec $C python3 "$TMP/client.py" "$TMP/go" >"$TMP/client.log" &
clientpid=$!
until grep -q held "$TMP/client.log" 2>/dev/null; do sleep 0.1; done
sleep 1 # delayed ACKs settle, so the counters stop moving

ip netns exec $R "$REC" dump -o "$OUT/dump.bin"
ip netns exec $R "$REC" dump -o "$OUT/dump_mark.bin" -m 0x4/0x4
{
	echo "# conntrack -L -o extended,id at dump time ($(uname -r))"
	ip netns exec $R conntrack -L -o extended,id 2>/dev/null
} >"$OUT/conntrack-L.txt"

touch "$TMP/go"
wait $clientpid
ip netns exec $R conntrack -F 2>/dev/null
sleep 1
kill -TERM $recpid
wait $recpid || true
cat "$TMP/events.log"
echo "recorded on $(uname -r) into $OUT"
