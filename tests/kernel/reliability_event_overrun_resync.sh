#!/bin/bash
# Proves a conntrack event storm that overruns the agent's event socket costs
# it nothing for good: the receive buffer grows (capped), one delayed resync
# reconciles, elephants started during the storm are offloaded at packet N,
# the agent's table ends equal to the kernel's (TCP/UDP), and events of
# protocols it never offloads (ICMP) are dropped in the kernel.
. "$(dirname "$0")/lib.sh"

N=12
M=1000
FLOWS=${FLOWOFFLOAD_STORM_FLOWS:-20000}
SINK_PORT=9000
ELEPHANTS="ipv4:7001 ipv4:7002 ipv6:7003"
RESYNC_S=3

require_root
require_tools ip nft conntrack ping jq
[ -x "$STORM" ] || skip "flowstorm not built at $STORM (run make)"

# The conntrack table's size is global (writable only in the initial
# namespace): raise it for the storm and put it back afterwards.
modprobe -q nf_conntrack 2>/dev/null
CT_MAX_WAS=$(sysctl -n net.netfilter.nf_conntrack_max 2>/dev/null) ||
	skip "no nf_conntrack_max (conntrack not loaded?)"
restore_sysctls() {
	sysctl -qw net.netfilter.nf_conntrack_max="$CT_MAX_WAS" 2>/dev/null
}
at_exit restore_sysctls
[ "$CT_MAX_WAS" -ge $((FLOWS * 2)) ] || sysctl -qw net.netfilter.nf_conntrack_max=$((FLOWS * 2)) ||
	skip "cannot raise nf_conntrack_max"

topology_up
# The storm's conntracks must stay for the comparison (unreplied UDP lives
# 30 s by default): no entry may expire between the two listings.
nsr sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600 ||
	fail "cannot set the router's UDP conntrack timeout"
# An idle elephant leaves the flowtable after nf_flowtable_tcp_timeout (30 s)
# and a slow machine can keep one waiting that long between its stages: the
# offloads under test must not depend on that.  The sysctl appears once the
# flowtable module is loaded (the agent's table loads it).
#
# An elephant's slow-path packets are told apart by the conntrack's
# IPS_OFFLOAD bit (0x4000) as the probe at filter + 20 sees it: without it,
# the packets before the flow entered the flowtable (packets 1..N-1, plus at
# most one reply that raced packet N); with it, packet N itself (the rule at
# filter + 10 has just added the flow) and the packets that had already
# passed the flowtable's ingress hook when the entry appeared (in flight).
# The first part is the offload decision and is exact; the second is the
# machine's: runs here show 1 (packet N alone), and one CI run under the
# 20,000-flow storm on two emulated CPUs had 17 slow-path packets in all
# with N=12 (before this split was measured; the old bound, N+3 in all,
# failed it).
SLIP_MAX=8
long_flowtable_timeout() {
	nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=600 2>/dev/null && return
	info "no nf_flowtable_tcp_timeout on this kernel: an elephant idle 30 s leaves the flowtable, and its readmission costs a slow-path packet"
	SLIP_MAX=$((SLIP_MAX + 1))
}

nsr nft -f - <<EOF || fail "cannot load the probe table"
table inet probe {
	chain forward {
		type filter hook forward priority filter + 20; policy accept;
		meta l4proto tcp ct original proto-dst 7001 counter comment "slow-7001"
		meta l4proto tcp ct original proto-dst 7002 counter comment "slow-7002"
		meta l4proto tcp ct original proto-dst 7003 counter comment "slow-7003"
		meta l4proto tcp ct original proto-dst 7001 ct status & 0x4000 == 0x4000 counter comment "slip-7001"
		meta l4proto tcp ct original proto-dst 7002 ct status & 0x4000 == 0x4000 counter comment "slip-7002"
		meta l4proto tcp ct original proto-dst 7003 ct status & 0x4000 == 0x4000 counter comment "slip-7003"
	}
}
EOF
slow() { nft_counter inet probe forward "slow-$1"; }
slip() { nft_counter inet probe forward "slip-$1"; }

# The smallest event buffer the config allows (64k; the kernel doubles it).
agent_config "$TMP/agent.conf" "event-buffer = 64k" "resync-interval = ${RESYNC_S}s" \
	"[offload]" "window-from = $N" "window-until = $M"
agent_start "$TMP/agent.conf"
long_flowtable_timeout
# With 20k flows a resync dump keeps the agent busy for a while here: a
# request that times out meanwhile is asked again.
actl() {
	local i
	for i in 1 2 3 4 5; do
		agentctl "$@" 2>/dev/null && return 0
		sleep 0.5
	done
	agentctl "$@"
}
stats() { actl stats --json; }
S0=$(stats)
RCVBUF0=$(jq .events.rcvbuf <<<"$S0")
info "event socket receive buffer at start: $RCVBUF0 bytes; kernel filter: $(jq .events.kernel_filter <<<"$S0")"
check "the event buffer is the configured 64k (doubled by the kernel)" test "$RCVBUF0" -eq 131072
check "the protocol filter is attached to the event socket" test "$(jq .events.kernel_filter <<<"$S0")" = true
check "the running agent keeps CAP_NET_ADMIN only ($(grep CapEff /proc/$AGENT_PID/status))" \
	grep -q "^CapEff:[[:space:]]*0000000000001000$" /proc/$AGENT_PID/status

info "---- storm: $FLOWS new UDP flows as fast as flowstorm can, 3 elephants started during it"
nss "$STORM" --sink -u -a $S4 -p $SINK_PORT -T 400 >"$TMP/sink" 2>&1 &
wait_for 10 grep -q listening "$TMP/sink" || fail "the storm's sink did not start"
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	if [ "$fam" = ipv6 ]; then addr=$S6; else addr=$S4; fi
	nss "$FLOWGEN" server -a "$addr" -p "$port" -t 400 >"$TMP/srv$port" 2>&1 &
	wait_for 10 grep -q listening "$TMP/srv$port" || fail "server $port did not start"
done
storm_start=$(date +%s%N)
nsc "$STORM" -u -a $S4 -p $SINK_PORT -n "$FLOWS" -r 0 -T 300 >"$TMP/storm" 2>&1 &
storm_pid=$!
sleep 1
# The agent reads events at whatever speed this machine gives it, and may
# keep up with a storm the generator can make here.  Stopping it for two
# seconds in the middle makes the overrun certain on any machine: the
# kernel then queues events until the (grown) buffer is full.
kill -STOP "$AGENT_PID"
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	if [ "$fam" = ipv6 ]; then addr=$S6; else addr=$S4; fi
	mkfifo "$TMP/ctl$port"
	nsc "$FLOWGEN" client -a "$addr" -p "$port" -s 2M -s 128k -w -t 400 <"$TMP/ctl$port" >"$TMP/cli$port" 2>&1 &
	exec {fd}>"$TMP/ctl$port"
	eval "ctl_$port=$fd"
done
sleep 2
kill -CONT "$AGENT_PID"
wait "$storm_pid" || fail "flowstorm failed: $(cat "$TMP/storm")"
storm_end=$(date +%s%N)
info "$(cat "$TMP/storm")"
rate=$(sed -n 's/.* rate=\([0-9]*\)\/s.*/\1/p' "$TMP/storm")
made=$(sed -n 's/.* flows=\([0-9]*\) .*/\1/p' "$TMP/storm")
check "flowstorm created the $FLOWS flows ($made, $rate flows/s)" test "$made" -eq "$FLOWS"

info "---- convergence: the agent's count against the kernel's"
# ICMP entries (the topology's pings) are not the agent's to track.
icmp=$(nsr conntrack -L -p icmp 2>/dev/null | wc -l)
icmp6=$(nsr conntrack -L -p icmpv6 2>/dev/null | wc -l)
conv=
for _ in $(seq 120); do
	kernel=$(( $(nsr conntrack -C) - icmp - icmp6 ))
	tracked=$(actl status --json | jq .flows_tracked)
	if [ "$tracked" -eq "$kernel" ]; then
		conv=$(( ($(date +%s%N) - storm_end) / 1000000 ))
		break
	fi
	sleep 0.5
done
info "after the storm: agent tracks $tracked flows, the kernel holds $kernel TCP/UDP conntracks"
check "the agent's count met the kernel's ${conv:-never} ms after the storm ended" test -n "$conv"
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	wait_for 240 grep -q "stage 1 done" "$TMP/cli$port" || fail "elephant $port did not send its 2 MiB"
done

S1=$(stats)
info "events: $(jq -c .events <<<"$S1")"
info "resync: $(jq -c .resync <<<"$S1")"
check "overruns were seen ($(jq .events.overruns <<<"$S1"))" test "$(jq .events.overruns <<<"$S1")" -gt 0
check "the event buffer grew ($RCVBUF0 -> $(jq .events.rcvbuf <<<"$S1") bytes, $(jq .events.rcvbuf_grows <<<"$S1") doublings)" \
	test "$(jq .events.rcvbuf <<<"$S1")" -gt "$RCVBUF0"
check "and stayed within 8 times the configured size" test "$(jq .events.rcvbuf <<<"$S1")" -le $((8 * RCVBUF0))
check "resyncs after overruns ran ($(jq .resync.after_overrun <<<"$S1"))" \
	test "$(jq .resync.after_overrun <<<"$S1")" -gt 0
check "no resync failed ($(jq .resync.errors <<<"$S1"))" test "$(jq .resync.errors <<<"$S1")" -eq 0

# One listing of 20k flows takes seconds to build and parse here: take a
# snapshot, retried while the agent is busy with a resync dump.
snapshot() {
	local i
	for i in $(seq 10); do
		agentctl flows --json >"$1" 2>/dev/null && jq -e 'length > 0' "$1" >/dev/null && return 0
		sleep 1
	done
	return 1
}
state_of() { jq -r --argjson d "$2" '[.[] | select(.proto == "tcp" and .dport == $d)][0].state // "none"' "$1"; }

info "---- elephants started during the storm"
# Their next packets too: an elephant idle since the storm may have timed
# out of the flowtable (nf_flowtable_tcp_timeout) and must come back.
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	eval "fd=\$ctl_$port"
	echo go >&"$fd"
done
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	wait_for 240 grep -q "stage 2 done" "$TMP/cli$port" || fail "elephant $port did not send its second stage"
done
sleep 1	# status dumps see them offloaded
snapshot "$TMP/flows.json" || fail "the agent did not list its flows"
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	check "elephant $fam:$port is offloaded (agent: $(state_of "$TMP/flows.json" "$port"))" \
		test "$(state_of "$TMP/flows.json" "$port")" = offloaded
	total=$(slow "$port")
	after=$(slip "$port")
	before=$((total - after))
	check "elephant $port entered the flowtable at packet $N: $before slow-path packets before it (N-1 to N)" \
		test "$before" -ge $((N - 1)) -a "$before" -le $N
	check "elephant $port: $after slow-path packets once in it (packet N and in-flight ones, 1 to $SLIP_MAX)" \
		test "$after" -ge 1 -a "$after" -le $SLIP_MAX
	check "conntrack shows elephant $port [OFFLOAD]" grep -q OFFLOAD <<<"$(ct_line tcp "$port" "$fam")"
done

info "---- the agent's table equals the kernel's, entry by entry"
sleep $((RESYNC_S + 1))	# one more resync interval
snapshot "$TMP/flows.json" || fail "the agent did not list its flows"
jq -r '.[] | select(.proto == "tcp" or .proto == "udp") |
	"\(.proto) \(.src) \(.sport) \(.dst) \(.dport)"' "$TMP/flows.json" | sort >"$TMP/agent.set"
nsr conntrack -L -o extended 2>/dev/null | awk '
	$3 == "tcp" || $3 == "udp" {
		s = d = sp = dp = ""
		for (i = 4; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "src" && s == "") s = kv[2]
			else if (kv[1] == "dst" && d == "") d = kv[2]
			else if (kv[1] == "sport" && sp == "") sp = kv[2]
			else if (kv[1] == "dport" && dp == "") dp = kv[2]
		}
		print $3, s, sp, d, dp
	}' | sort >"$TMP/kernel.set"
info "agent: $(wc -l <"$TMP/agent.set") flows; kernel: $(wc -l <"$TMP/kernel.set") TCP/UDP conntracks"
if ! cmp -s "$TMP/agent.set" "$TMP/kernel.set"; then
	diff "$TMP/agent.set" "$TMP/kernel.set" | head -20
	fail "the agent's flows differ from the kernel's conntrack table"
fi
pass "the agent's flows are exactly the kernel's TCP/UDP conntracks ($(wc -l <"$TMP/kernel.set"))"
# A datagram the router's backlog dropped under the storm made no conntrack:
# the kernel's table is the reference, not what flowstorm sent.
storm_cts=$(grep -c " $SINK_PORT\$" "$TMP/kernel.set")
check "most of the storm reached the router's conntrack ($storm_cts of $FLOWS)" \
	test "$storm_cts" -ge $((FLOWS * 9 / 10))

info "---- the kernel drops events the agent never needs"
E0=$(stats | jq .events.new)
for i in $(seq 20); do
	nsc ping -c1 -W2 -q $S4 >/dev/null || fail "ping $i failed"
done
nsc "$STORM" -u -a $S4 -p $SINK_PORT -S 40000-40019 -n 20 -T 60 >/dev/null || fail "flowstorm -n 20 failed"
sleep 1
E1=$(stats | jq .events.new)
icmp_now=$(nsr conntrack -L -p icmp 2>/dev/null | wc -l)
info "20 pings (ICMP conntracks now: $icmp_now) and 20 UDP flows: the agent read $((E1 - E0)) NEW events"
check "none of the ICMP events reached the agent, every UDP one did" test $((E1 - E0)) -eq 20

for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	eval "fd=\$ctl_$port"
	echo go >&"$fd"
	exec {fd}>&-
done
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
info "storm: $made flows at $rate flows/s ($storm_cts conntracks); overruns $(jq .events.overruns <<<"$S1"); buffer $RCVBUF0 -> $(jq .events.rcvbuf <<<"$S1"); converged ${conv} ms after the storm; $(( (storm_end - storm_start) / 1000000 )) ms storm"
echo "PASS: an overrun storm ends with the agent's table equal to the kernel's and every elephant offloaded"
