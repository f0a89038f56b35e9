#!/bin/bash
# Proves the agent offloads through masquerade (IPv4, IPv6) and DNAT, never
# offloads what the user's firewall drops before packet N, and that a flow
# skipped by policy stays visible to a later accounting rule.
. "$(dirname "$0")/lib.sh"

N=5
require_root
require_tools ip nft conntrack ping jq
topology_up

# The user's own firewall: NAT, a drop before packet N, and a rule that
# must keep seeing packets past packet 20 (a stand-in for quotas).
nsr nft -f - <<EOF || fail "cannot load the user's firewall"
table inet userfw {
	chain forward {
		type filter hook forward priority filter; policy accept;
		meta l4proto tcp ct original proto-dst 6400 ct packets > 3 counter drop comment "drop-early"
		meta l4proto tcp ct original proto-dst { 6600, 6601 } ct packets > 20 counter drop comment "late-drop"
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "wan0" meta nfproto ipv4 tcp dport 8080 dnat ip to $C4:6500
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" masquerade
	}
}
EOF
agent_config "$TMP/agent.conf" "[offload]" "window-from = $N" "[skip]" "ports = 6601"
agent_start "$TMP/agent.conf"

rules=
for p in 6300 6301 6400 6500 6600 6601; do
	rules="$rules
		meta l4proto { tcp, udp } ct original proto-dst $p counter comment \"slow-$p\""
done
rules="$rules
		meta l4proto tcp ct original proto-dst 8080 counter comment \"slow-8080\""
nsr nft -f - <<EOF || fail "cannot load the probe table"
table inet probe {
	chain forward {
		type filter hook forward priority filter + 20; policy accept;$rules
	}
}
EOF
slow() { nft_counter inet probe forward "slow-$1"; }

# bulk NS_FROM NS_TO SERVER_ADDR CONNECT_ADDR PORT CONNECT_PORT SIZE TIMEOUT
bulk() {
	local from=$1 to=$2 saddr=$3 caddr=$4 port=$5 cport=$6 size=$7 tmo=$8
	ip netns exec "$to" "$FLOWGEN" server -a "$saddr" -p "$port" -t "$tmo" >"$TMP/srv$port" 2>&1 &
	wait_for 10 grep -q listening "$TMP/srv$port" || fail "server $port did not start"
	ip netns exec "$from" "$FLOWGEN" client -a "$caddr" -p "$cport" -s "$size" -t "$tmo" >"$TMP/cli$port" 2>&1
}

info "---- SNAT (masquerade), IPv4 and IPv6"
bulk "$NS_C" "$NS_S" $S4 $S4 6300 6300 3M 120 || fail "masqueraded v4 transfer failed"
bulk "$NS_C" "$NS_S" $S6 $S6 6301 6301 3M 120 || fail "masqueraded v6 transfer failed"
grep -q "conn $R4W:" "$TMP/srv6300" || fail "the server did not see the masqueraded address: $(cat "$TMP/srv6300")"
# nat_offloaded LABEL PORT FAMILY: the probe after the agent's chain saw the
# flow's first N packets and its teardown and nothing between, while
# conntrack (the flowtable's counter flag keeps it counting) saw the whole
# 3 MiB transfer: the rest took the fast path.
nat_offloaded() {
	local label=$1 port=$2 fam=$3 ct sl pk
	ct=$(ct_line tcp "$port" "$fam")
	sl=$(slow "$port")
	pk=$(( $(ct_field "$ct" packets 1) + $(ct_field "$ct" packets 2) ))
	check "$label flow offloaded at packet $N: slow path $sl of $pk packets (N..N+7, teardown included)" \
		test "$sl" -ge $N -a "$sl" -le $((N + 3 + 4)) -a "$pk" -ge 2000
}
nat_offloaded "masqueraded IPv4" 6300 ipv4
nat_offloaded "masqueraded IPv6" 6301 ipv6

info "---- DNAT: server -> router:8080 -> client:6500"
bulk "$NS_S" "$NS_C" $C4 $R4W 6500 8080 3M 120 || fail "DNAT transfer failed"
grep -q "conn $S4:" "$TMP/srv6500" || fail "the client did not see the server's own address: $(cat "$TMP/srv6500")"
nat_offloaded "DNAT" 8080 ipv4

info "---- the user's firewall drops the flow to port 6400 after packet 3"
adds_before=$(nft_counter inet flowoffload forward offload-tcp)
bulk "$NS_C" "$NS_S" $S4 $S4 6400 6400 1M 8 && fail "the dropped flow completed?"
check "the firewall dropped it ($(nft_counter inet userfw forward drop-early) drops)" \
	test "$(nft_counter inet userfw forward drop-early)" -ge 1
check "the dropped flow never reached the flowtable (agent: $(agent_flow_field tcp 6400 state))" \
	test "$(agent_flow_field tcp 6400 state)" = admitted
check "our chain never saw its packet $N (probe saw $(slow 6400), its first 3 at least)" \
	test "$(slow 6400)" -ge 3 -a "$(slow 6400)" -lt $N
check "flow add never matched for it" \
	test "$(nft_counter inet flowoffload forward offload-tcp)" -eq "$adds_before"
check "conntrack never shows it [OFFLOAD]" lacks OFFLOAD "$(ct_line tcp 6400)"

info "---- offload bypasses later rules: 'ct packets > 20 drop'"
# The data is held open and measured at the router: the drop rule would
# also eat the FIN (teardown returns a flow to the slow path), so the
# connection itself cannot close cleanly.
# held_bytes PORT: original-direction bytes conntrack counted for the flow.
held_bytes() { ct_field "$(ct_line tcp "$1")" bytes 1; }
for port in 6600 6601; do
	nss "$FLOWGEN" server -a $S4 -p $port -t 60 >"$TMP/srv$port" 2>&1 &
	wait_for 10 grep -q listening "$TMP/srv$port" || fail "server $port did not start"
	mkfifo "$TMP/ctl$port"
	nsc "$FLOWGEN" client -a $S4 -p $port -s 2M -w -t 60 <"$TMP/ctl$port" >"$TMP/cli$port" 2>&1 &
done
# Hold both open: the clients wait for a line that never comes.
exec 7>"$TMP/ctl6600" 8>"$TMP/ctl6601"
check "the offloaded flow carried all 2 MiB past the drop rule" \
	wait_for 60 sh -c "[ \$(ip netns exec $NS_R conntrack -L -p tcp --dport 6600 2>/dev/null | tr ' ' '\n' | grep -m1 '^bytes=' | cut -d= -f2) -ge 2097152 ]"
check "conntrack shows it [OFFLOAD]" grep -q OFFLOAD <<<"$(ct_line tcp 6600)"
sleep 5
check "the policy-skipped flow was cut at packet 20 ($(held_bytes 6601) bytes passed)" \
	test "$(held_bytes 6601)" -lt 1048576
check "the drop rule saw the skipped flow ($(nft_counter inet userfw forward late-drop) drops)" \
	test "$(nft_counter inet userfw forward late-drop)" -ge 1
check "the agent says why it skipped 6601 ($(agent_flow_field tcp 6601 reason))" \
	test "$(agent_flow_field tcp 6601 state)/$(agent_flow_field tcp 6601 reason)" = skipped/port
agent_stop || fail "flowoffloadd exited non-zero"
check "the user's table is intact after the agent left" nsr nft list table inet userfw >/dev/null
echo "PASS: NAT flows offloaded; dropped and skipped flows stay on the slow path"
