#!/bin/bash
# Proves the agent resolves the devices of the paths home and ISP routers
# have, and that flows through them take the fast path: a VLAN WAN, QinQ
# (802.1ad + 802.1Q), a LAN bridge with ports (VLAN filtering off and on),
# PPPoE (pppoe-server and pppd, the router's side in the kernel) and PPPoE
# over a VLAN.  Per topology, with the logical devices named (as fw4 lists
# them) or auto: the flowtable holds exactly the logical devices plus the
# devices the kernel's forward path ends on; an IPv4 and an IPv6 TCP flow
# are offloaded at packet N (at least N slow-path packets, and at most N-1
# of them leave the agent's chain before the flow add), the agent reports
# them offloaded and 256 KiB more take 0 slow-path packets.
# PPPoE: pppd killed and restarted (a new ppp0, new ifindex): the lower
# device stays hooked meanwhile, the new ppp0 is back in the flowtable, new
# flows are offloaded at N again (reported offloaded only while 0 more
# packets take the slow path).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/paths_lib.sh"

N=8
M=1000

require_root
require_tools ip nft conntrack ping jq ethtool pppd pppoe-server pppoe
modprobe -q pppoe 2>/dev/null
[ -c /dev/ppp ] || skip "no /dev/ppp (ppp_generic)"

PORT=7500
ft_devs() {
	nsr nft list flowtable inet flowoffload ft 2>/dev/null |
		sed -n 's/.*devices = { \(.*\) }.*/\1/p' | tr -d ',' | tr ' ' '\n' | sort | xargs
}
sorted() { tr ' ' '\n' <<<"$1" | sort | xargs; }

probe_table() {
	nsr nft -f - <<-NFT || fail "cannot load the probe table"
	table inet probe {
		chain forward {
			type filter hook forward priority filter + 20; policy accept;
			meta l4proto tcp ct original proto-dst 7500-7599 counter comment "slow"
		}
	}
	NFT
}
# slow PORT: the slow-path packets of that flow (both directions): one rule
# per port is added on first use.  The probe chain runs after the agent's
# (filter + 10); unoffloaded PORT: those of them that left the agent's chain
# before the flow was in the flowtable (IPS_OFFLOAD, 0x4000, still clear).
slow() {
	if ! nsr nft list chain inet probe forward | grep -q "comment \"slow-$1\""; then
		nsr nft add rule inet probe forward meta l4proto tcp ct original proto-dst "$1" \
			counter comment "\"slow-$1\""
		nsr nft add rule inet probe forward meta l4proto tcp ct original proto-dst "$1" \
			ct status '&' 0x4000 == 0 counter comment "\"unoffloaded-$1\""
	fi
	nft_counter inet probe forward "slow-$1"
}
unoffloaded() { nft_counter inet probe forward "unoffloaded-$1"; }

# flow_start FAM: a held TCP flow client -> server (stages of 256 KiB, one
# per line written to its fd); sets FPORT.  Its slow-path rule exists
# before its first packet.
flow_start() {
	local fam=$1 addr=$S4 fd
	[ "$fam" = ipv6 ] && addr=$S6
	PORT=$((PORT + 1))
	FPORT=$PORT
	slow "$FPORT" >/dev/null
	nss "$FLOWGEN" server -a "$addr" -p "$FPORT" -t 90 >"$TMP/srv$FPORT" 2>&1 &
	wait_for 10 grep -q listening "$TMP/srv$FPORT" || fail "server $FPORT did not start"
	mkfifo "$TMP/ctl$FPORT"
	nsc "$FLOWGEN" client -a "$addr" -p "$FPORT" -s 256k -s 256k -s 256k -s 256k -w -t 90 \
		<"$TMP/ctl$FPORT" >"$TMP/cli$FPORT" 2>&1 &
	exec {fd}>"$TMP/ctl$FPORT"
	eval "ctl_$FPORT=$fd"
	eval "stage_$FPORT=1"
}
# flow_stage PORT: wait for the current stage, then start the next one.
flow_wait() {
	local s
	eval "s=\$stage_$1"
	wait_for 60 grep -q "stage $s done" "$TMP/cli$1" ||
		fail "flow $1: no stage $s: $(tail -2 "$TMP/cli$1")"
}
flow_next() {
	local fd s
	eval "fd=\$ctl_$1 s=\$stage_$1"
	echo go >&"$fd"
	eval "stage_$1=$((s + 1))"
	flow_wait "$1"
}
flow_end() {
	local fd
	eval "fd=\$ctl_$1"
	# Stages 3 and 4, and the line before the close: exactly what the
	# client reads (one more could meet a closed pipe).
	echo go >&"$fd"; echo go >&"$fd"; echo go >&"$fd"
	exec {fd}>&-
}
fam_of() { if [ "$1" = ipv6 ]; then echo ipv6; else echo ipv4; fi; }

# offloaded_at_n TOPO FAM: a new flow of that family is offloaded at N,
# reported so, and stays on the fast path for 256 KiB more.
#
# "At N", exactly, in two halves that hold whatever the CPUs do:
# - not early: conntrack counted N packets before the rule could add the
#   flow, and each of them takes the slow path, so >= N reach the probe;
# - not late: `ct packets` is read when the rule runs, and a packet reads
#   at least its own position, so at most N-1 packets can leave the
#   agent's chain reading less than N; every later one finds the flow
#   added (by itself or another).  A rule that waited for N+1 lets packet
#   N through un-offloaded: N.
# The rest are packets that passed the flowtable's ingress hook before the
# add and so finish on the slow path with IPS_OFFLOAD set: packet N itself
# and whatever was in flight on the other CPU meanwhile.  Through PPPoE
# there can be several: a frame's receive is queued twice (wan0, then
# ppp0's netif_rx), so the adding packet is late to the forward chain and
# the other direction keeps moving; under the VM's emulation 6 have been
# seen (packets 9-14 of a flow).  Bounded loosely (16, a TCP initial window
# and its ACKs) and printed; that none follow is the 256 KiB check.
offloaded_at_n() {
	local topo=$1 fam=$2 p s u before
	flow_start "$fam"
	p=$FPORT
	flow_wait "$p"
	sleep 0.5	# two status dumps
	s=$(slow "$p")
	u=$(unoffloaded "$p")
	if [ "$s" -lt $N ] || [ "$u" -gt $((N - 1)) ] || [ $((s - u)) -gt 16 ]; then
		# What the kernel did with it: which rules took the flow (a
		# readmit means its first entry was torn down), and the agent.
		info "flow $p off the window: its conntrack entry: $(ct_line tcp "$p" "$fam")"
		nsr nft list chain inet flowoffload forward | grep counter | sed 's/^[[:space:]]*/#   rule: /'
		grep -F -e ":$p " -e "port $p" -e "$p:" "$TMP/agent.log" | tail -5 | sed 's/^/#   agent: /'
		tail -5 "$TMP/agent.log" | sed 's/^/#   agent log: /'
	fi
	check "$topo $fam: flow $p offloaded at packet N = $N: $s slow-path packets (>= N), $u before the add (<= N-1), $((s - u)) at and after it (<= 16)" \
		test "$s" -ge $N -a "$u" -le $((N - 1)) -a $((s - u)) -le 16
	check "$topo $fam: conntrack shows flow $p [OFFLOAD]" grep -q OFFLOAD <<<"$(ct_line tcp "$p" "$fam")"
	check "$topo $fam: the agent reports flow $p offloaded ($(agent_flow_field tcp "$p" state))" \
		test "$(agent_flow_field tcp "$p" state)" = offloaded
	before=$(slow "$p")
	flow_next "$p"
	check "$topo $fam: 256 KiB more through the fast path ($(( $(slow "$p") - before )) more slow-path packets)" \
		test "$(slow "$p")" -eq "$before"
	TABLE="$TABLE$topo $fam: slow-path packets $s, $u before the add (N = $N)\n"
}

# topology LAN WAN DEVICES EXPECTED [BR_VLAN_FILTERING]: bring it up, start
# the agent with [devices] devices = DEVICES, check the flowtable holds
# EXPECTED, and offload an IPv4 and an IPv6 flow.
topology() {
	local lan=$1 wan=$2 devs=$3 want=$4 name
	# shellcheck disable=SC2034 # read by lan_up (paths_lib.sh)
	BR_VLAN_FILTERING=${5:-0}
	name="$wan/$lan${5:+ vlan_filtering=$5}"
	info "---- $name: devices = $devs"
	paths_up "$lan" "$wan"
	probe_table
	cat >"$TMP/agent.conf" <<-EOF
	[devices]
	devices = $devs
	[agent]
	socket = $AGENT_SOCK
	status-interval = 200ms
	[offload]
	window-from = $N
	window-until = $M
	EOF
	nsr "$AGENT" --dry-run -c "$TMP/agent.conf" >/dev/null 2>"$TMP/dry.err" ||
		fail "$name: --dry-run failed: $(cat "$TMP/dry.err")"
	sed 's/^/#   dry-run: /' "$TMP/dry.err"
	: >"$TMP/agent.log"
	agent_start "$TMP/agent.conf"
	check "$name: the flowtable holds { $(ft_devs) }, expected { $(sorted "$want") }" \
		wait_for 5 sh -c "[ \"\$(ip netns exec $NS_R nft list flowtable inet flowoffload ft 2>/dev/null | sed -n 's/.*devices = { \(.*\) }.*/\1/p' | tr -d ',' | tr ' ' '\n' | sort | xargs)\" = \"$(sorted "$want")\" ]"
	TABLE="$TABLE$name: devices = $devs -> { $(ft_devs) }\n"
	offloaded_at_n "$name" ipv4
	offloaded_at_n "$name" ipv6
}
topology_done() {
	agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
	paths_down
}

TABLE=
T_ALL=$(date +%s)

topology plain vlan "lan0 wan0.100" "lan0 wan0 wan0.100"
topology_done
topology plain qinq "lan0 wan0.100.200" "lan0 wan0 wan0.100.200"
check "qinq: the agent logged the path" \
	grep -q "wan0.100.200 -> VLAN 200 on wan0.100 -> VLAN 100 (802.1ad) on wan0: hooks wan0 too" "$TMP/agent.log"
topology_done
topology bridge plain "br-lan wan0" "br-lan lan0 lan1 wan0" 0
topology_done
topology bridge plain "br-lan wan0" "br-lan lan0 lan1 wan0" 1
topology_done
topology plain pppoe-vlan "auto" "lan0 ppp0 wan0 wan0.7"
check "pppoe-vlan: --dry-run says why" \
	grep -q "ppp0 -> PPPoE on wan0.7 -> VLAN 7 on wan0: hooks wan0 too" "$TMP/dry.err"
topology_done

topology plain pppoe "lan0 ppp0" "lan0 ppp0 wan0"
info "---- PPPoE reconnect: pppd killed, started again (new ppp0)"
flow_start ipv4
OLD=$FPORT
flow_wait "$OLD"
sleep 0.5
check "a flow over the first ppp0 is reported offloaded" test "$(agent_flow_field tcp "$OLD" state)" = offloaded
IF1=$(nsr cat /sys/class/net/ppp0/ifindex)
ppp_disconnect
# Measured, not asserted: the old flow's entry hooks wan0 (the forward
# path), so the kernel's cleanup of the deleted ppp0 leaves it; it stays
# [OFFLOAD] until idle (no packet can use it: the session is gone, and
# its cached route fails the fast path's check on the next packet).
sleep 1
info "the flow through the old ppp0, 1 s after pppd was killed: agent $(agent_flow_field tcp "$OLD" state); conntrack: $(ct_line tcp "$OLD" | grep -o 'OFFLOAD' || echo 'not [OFFLOAD]')"
sleep 1		# the agent's recompute (at most 500 ms after the first event)
check "ppp0 gone: its lower device wan0 stays hooked ({ $(ft_devs) })" test "$(ft_devs)" = "lan0 wan0"
check "the agent said why" grep -q "ppp0 is gone (re-created on reconnect): keeping its lower device wan0" "$TMP/agent.log"
ppp_connect
IF2=$(nsr cat /sys/class/net/ppp0/ifindex)
check "the new ppp0 has a new ifindex ($IF1 -> $IF2)" test "$IF1" != "$IF2"
check "the new ppp0 is back in the flowtable" \
	wait_for 3 sh -c "ip netns exec $NS_R nft list flowtable inet flowoffload ft | grep devices | grep -q ppp0"
info "after the reconnect: { $(ft_devs) }"
wait_for 10 nsc ping -c1 -W1 -q "$S4" >/dev/null || fail "no IPv4 path after the reconnect"
wait_for 10 nsc ping -6 -c1 -W1 -q "$S6" >/dev/null || fail "no IPv6 path after the reconnect"
# The old flow's session is gone (its server resets it): no more stages.
eval "exec {ctl_$OLD}>&-"
offloaded_at_n "pppoe after reconnect" ipv4
offloaded_at_n "pppoe after reconnect" ipv6
st=$(agentctl stats --json)
check "no device update failed" test "$(jq .devices.failures <<<"$st")" -eq 0
topology_done

info "results:"
printf "%b" "$TABLE" | sed 's/^/#   /'
echo "PASS: VLAN, QinQ, bridge and PPPoE (over VLAN) paths resolved and offloaded at N in $(( $(date +%s) - T_ALL )) s"
