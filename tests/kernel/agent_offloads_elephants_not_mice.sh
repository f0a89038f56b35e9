#!/bin/bash
# Proves flowoffloadd end to end on a traffic mix: elephants (TCP v4/v6, UDP
# streams) offloaded at packet N; TCP mice and DNS-like exchanges never are.
. "$(dirname "$0")/lib.sh"

# The shipped default window.  A mouse here takes 8 packets, 11 when every
# ACK goes alone (the server's delayed ACK fires before its answer under
# emulation, the close takes four segments): 16 leaves it five to spare.
N=16
M=1000
ELEPHANTS="ipv4:6001 ipv4:6002 ipv6:6003"
STREAMS="6201 6202"
MICE_PORT=6100
MICE=20
DNS_PORT=6300
DNS=20
DNS_SPORT_BASE=20000	# below the ephemeral range: no clash with other clients

require_root
require_tools ip nft conntrack ping jq
topology_up

agent_config "$TMP/agent.conf" "[offload]" "window-from = $N" "window-until = $M"
agent_start "$TMP/agent.conf"
# The flows are held idle while the mice run; on a loaded machine that can
# outlast the flowtable's 30 s idle timeout, which would evict them before
# the checks.  (The sysctls exist once the agent's flowtable loaded the module.)
nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=600 net.netfilter.nf_flowtable_udp_timeout=600 ||
	fail "cannot raise the flowtable idle timeouts"
info "agent: $(agentctl status | grep -E 'devices|window' | tr -s ' ' | tr '\n' ' ')"
nsr nft list table inet flowoffload >/dev/null || fail "the agent installed no table inet flowoffload"

# Slow-path probe after the agent's chain (filter + 20), one counter per port.
rules=
for p in 6001 6002 6003 $STREAMS $MICE_PORT $DNS_PORT; do
	rules="$rules
		meta l4proto { tcp, udp } ct original proto-dst $p counter comment \"slow-$p\"
		meta l4proto tcp ct original proto-dst $p tcp flags & (fin | rst) != 0 counter comment \"finrst-$p\""
done
# The same match on the elephants is the positive control of the mice's:
# each elephant passes it at least with its packet N.
rules="$rules
		meta l4proto { tcp, udp } ct original proto-dst { $MICE_PORT, $DNS_PORT } ct packets >= $N counter comment \"short-in-window\"
		meta l4proto { tcp, udp } ct original proto-dst { 6001, 6002, 6003 } ct packets >= $N counter comment \"long-in-window\"
		meta l4proto udp ct original proto-dst { ${STREAMS// /, } } ct packets >= $N counter comment \"streams-in-window\""
nsr nft -f - <<EOF || fail "cannot load the probe table"
table inet probe {
	chain forward {
		type filter hook forward priority filter + 20; policy accept;$rules
	}
}
EOF
slow() { nft_counter inet probe forward "slow-$1"; }

# Elephants and UDP streams: send, then hold the flow open.
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	start_held_elephant "$fam" "$port" 4M 240
done
for port in $STREAMS; do
	nss "$FLOWGEN" server -u -a $S4 -p "$port" -i 30 -t 240 >"$TMP/srv$port" 2>&1 &
	wait_for 10 grep -q listening "$TMP/srv$port" || fail "udp server $port did not start"
	nsc "$FLOWGEN" client -u -a $S4 -p "$port" -s 1M -t 240 >"$TMP/cli$port" 2>&1 &
done

# Mice: short TCP request/response connections, fewer than N packets each.
run_tcp_mice $MICE_PORT $MICE

# DNS-like: one datagram each way, each from its own source port.  (Left to
# the kernel, two of 20 random ports coincide in about one run of 150, and
# the second exchange then rides the first one's conntrack: no NEW event.)
nss "$FLOWGEN" server -u -e -a $S4 -p $DNS_PORT -i 5 -t 240 >"$TMP/srvdns" 2>&1 &
wait_for 10 grep -q listening "$TMP/srvdns" || fail "dns server did not start"
for i in $(seq $DNS); do
	nsc "$FLOWGEN" client -u -R -a $S4 -P $((DNS_SPORT_BASE + i)) -p $DNS_PORT -S 64 -s 64 -t 10 >/dev/null 2>&1 ||
		fail "dns-like exchange $i failed"
done

for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	wait_for 180 grep -q "stage 1 done" "$TMP/cli$port" || fail "elephant $port did not finish: $(cat "$TMP/cli$port")"
done
wait_for 60 sh -c "grep -q 'sent' $TMP/cli6201 && grep -q 'sent' $TMP/cli6202" || fail "udp streams did not finish"
sleep 1	# two status dumps

info "agent flows:"
agentctl flows | sed 's/^/#   /'
# First, while their conntracks live (UDP: 30 s after the last packet).
dns_tracked=$(agentctl flows --json | jq --argjson d $DNS_PORT '[.[] | select(.dport == $d)] | length')
check "the agent tracks every DNS-like exchange ($dns_tracked of $DNS)" test "$dns_tracked" -eq $DNS

# Slow-path bound for the TCP elephants: packet N, plus the packets of the
# flow already past the flowtable's ingress hook when the entry appeared.
# Three elephants and two streams run at once on the VM's two vCPUs: runs
# have shown N, N+2 and N+3; the bound is N+4, the traffic-mix issue's own.
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	check "elephant $fam:$port is offloaded (agent: $(agent_flow_field tcp "$port" state))" \
		test "$(agent_flow_field tcp "$port" state)" = offloaded
	check "elephant $fam:$port took at most N+4=$((N + 4)) slow-path packets ($(slow "$port"))" \
		test "$(slow "$port")" -ge $N -a "$(slow "$port")" -le $((N + 4))
	check "conntrack shows elephant $port [OFFLOAD]" grep -q OFFLOAD <<<"$(ct_line tcp "$port" "$fam")"
done
for port in $STREAMS; do
	check "udp stream $port is offloaded (agent: $(agent_flow_field udp "$port" state))" \
		test "$(agent_flow_field udp "$port" state)" = offloaded
	check "udp stream $port took N..N+3 slow-path packets ($(slow "$port"))" \
		test "$(slow "$port")" -ge $N -a "$(slow "$port")" -le $((N + 3))
	check "conntrack shows udp stream $port [OFFLOAD]" grep -q OFFLOAD <<<"$(ct_line udp "$port")"
done
tcp_adds=$(nft_counter inet flowoffload forward offload-tcp)
udp_adds=$(nft_counter inet flowoffload forward offload-udp)
tcp_late=$(nft_counter inet probe forward long-in-window)
udp_late=$(nft_counter inet probe forward streams-in-window)
ncpu=$(nproc)
# Each match of an offload rule is a packet of the flow that the probe, later
# in the same forward hook, sees at `ct packets` >= N too (the count only
# grows), so no match can come from another flow.  The probe's count per flow
# is its packet N, the slow-path packets past N (in flight when the entry
# appeared), and up to one packet per other CPU: `ct packets` is read when
# the rule runs, not when conntrack counted the packet, so a packet counted
# N-1 on one CPU (an ACK from the server) that reaches the rule after packet
# N was counted on another also sees N.  (CI saw 4 TCP matches for 3
# elephants with exactly N slow-path packets each.)
past_n() { local p t=0; for p; do t=$((t + $(slow "$p") - N)); done; echo $t; }
tcp_past=$(past_n 6001 6002 6003)
udp_past=$(past_n $STREAMS)
check "flow add for TCP matched each elephant, and only elephant packets at N or later ($tcp_adds; the probe saw $tcp_late elephant packets at N or later; mice and DNS-like: $(nft_counter inet probe forward short-in-window))" \
	test "$tcp_adds" -ge 3 -a "$tcp_adds" -le "$tcp_late"
check "the elephants' packets at N or later are packet N, the slow-path packets past N ($tcp_past) and at most one per other CPU ($tcp_late; $ncpu CPUs)" \
	test "$tcp_late" -ge 3 -a "$tcp_late" -le $((tcp_past + 3 * ncpu))
check "flow add for UDP matched each stream, and only stream packets at N or later ($udp_adds; the probe saw $udp_late)" \
	test "$udp_adds" -ge 2 -a "$udp_adds" -le "$udp_late"
check "the streams' packets at N or later are packet N, the slow-path packets past N ($udp_past) and at most one per other CPU ($udp_late; $ncpu CPUs)" \
	test "$udp_late" -ge 2 -a "$udp_late" -le $((udp_past + 2 * ncpu))
check "no packet of a mouse or DNS-like exchange ever reached the window ($(nft_counter inet probe forward short-in-window))" \
	test "$(nft_counter inet probe forward short-in-window)" -eq 0
check "the mice and DNS-like exchanges did cross the router ($(slow $MICE_PORT) and $(slow $DNS_PORT) packets)" \
	test "$(slow $MICE_PORT)" -ge $((MICE * 5)) -a "$(slow $DNS_PORT)" -ge $((DNS * 2))
short_offloaded() { nsr conntrack -L 2>/dev/null | grep -E "dport=($MICE_PORT|$DNS_PORT) " | grep -c OFFLOAD; }
check "conntrack shows no mouse or DNS-like exchange [OFFLOAD] ($(short_offloaded))" \
	test "$(short_offloaded)" -eq 0
mice_offloaded=$(agentctl flows --json | jq --argjson d $MICE_PORT '[.[] | select(.dport == $d and (.state == "offloaded" or .state == "hw-offloaded"))] | length')
check "no mouse is in the flowtable ($mice_offloaded)" test "$mice_offloaded" -eq 0
dns_offloaded=$(agentctl flows --json | jq --argjson d $DNS_PORT '[.[] | select(.dport == $d and .state != "admitted" and .state != "waiting")] | length')
check "no DNS-like exchange is in the flowtable ($dns_offloaded)" test "$dns_offloaded" -eq 0
info "mice: $(slow $MICE_PORT) packets, all on the slow path; dns: $(slow $DNS_PORT)"

# Close the elephants: FIN/RST back through the slow path.
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	eval "fd=\$ctl_$port; cpid=\$cpid_$port"
	echo go >&"$fd"
	exec {fd}>&-
	wait "$cpid" || fail "elephant client $port failed: $(cat "$TMP/cli$port")"
	check "elephant $port's FIN/RST took the slow path ($(nft_counter inet probe forward "finrst-$port"))" \
		test "$(nft_counter inet probe forward "finrst-$port")" -ge 1
done
# The flowtable's garbage collector (about once a second) clears the
# conntrack's OFFLOAD bit after the FIN tore the entry down.
closed_in_kernel() { local l; l=$(ct_line tcp "$1" "$2"); [ -n "$l" ] && lacks OFFLOAD "$l"; }
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	check "conntrack: closed elephant $port is out of the flowtable" wait_for 10 closed_in_kernel "$port" "$fam"
done
check "the agent sees the closed elephants leave the flowtable" wait_for 10 sh -c \
	"[ \$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK flows --json | jq '[.[] | select(.proto == \"tcp\" and .state == \"offloaded\")] | length') -eq 0 ]"

stats=$(agentctl stats --json)
info "agent: $(jq -c '{events, admission, process}' <<<"$stats")"
check "no admission failed" test "$(jq '.admission.errors' <<<"$stats")" -eq 0
check "the agent saw every flow's NEW event" \
	test "$(jq '.events.new' <<<"$stats")" -ge $((3 + 2 + MICE + DNS))
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
check "SIGTERM removed the agent's tables" sh -c "! ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
echo "PASS: elephants offloaded at packet $N, mice and DNS never"
