#!/bin/bash
# Proves flowoffloadd keeps request/response mice out of the flowtable in a
# realistic mix (mixgen), with each class on its own server port and all on one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mix_lib.sh"

# The mice of the mix carry 15 or 16 packets (more on a loaded host), 12 or
# 13 before their FIN: a packet-count window alone (N = 5..12) admits every
# one of them, the static ruleset's N = 5 as much as the agent's N = 12.
# What must keep them out is their size: at packet 12 a mouse averages
# 130-430 bytes per packet (most near 280), elephants and medium flows,
# whose full-size segments start at packet 5, 600 and more.
N=12
M=1000
MIN_AVGPKT=400
SMALL_FROM=48
MICE_SHARE_MAX=5	# percent of the admitted flows that may be mice or dns

require_root
require_tools ip nft conntrack ping jq timeout
mix_require

mice_failures=()
for layout in separate one; do
	mix_topology_fresh
	agent_config "$TMP/agent.conf" "[offload]" "window-from = $N" "window-until = $M" \
		"min-avgpkt = $MIN_AVGPKT" "small-packet-window-from = $SMALL_FROM"
	agent_start "$TMP/agent.conf"
	info "agent ($layout): $(agentctl status | grep -E 'window' | tr -s ' ' | tr '\n' ' ')"
	nsr nft list table inet flowoffload >/dev/null || fail "the agent installed no table inet flowoffload"

	mix_run "$layout" "$layout"
	mix_summary "$layout"
	d=$TMP/mix-$layout

	# Payload integrity: every receiver regenerated and compared every byte.
	check "$layout: the client verified every answer ($(sed -n 1p "$d/client.out"))" \
		test "$(mix_get "$layout" client_rc)" = 0 -a "$(mix_get "$layout" errors)" = 0
	check "$layout: the server verified every request and saw every connection end cleanly ($(sed -n '$p' "$d/server.out"))" \
		test "$(mix_get "$layout" server_rc)" = 0
	mix_check_accounting "$layout"
	check "$layout: no forwarded packet was invalid to conntrack ($(mix_get "$layout" ct_invalid))" \
		test "$(mix_get "$layout" ct_invalid)" = 0

	# Elephants: all admitted, each costing the slow path its first N
	# packets and at most a packet or two that were in flight on the slow
	# path when the flow was added, until its close, which always takes the
	# slow path (3-4 packets; more with retransmissions on a loaded host).
	awk -F'\t' '$1 == "elephant"' "$d/flows.tsv" >"$d/elephants.tsv"
	# (From a file: the VM's /dev has no /dev/fd for process substitution.)
	while IFS=$'\t' read -r _ sport _ fam _ pkts slow _ closing; do
		check "$layout: elephant $fam:$sport took $((slow - closing)) of $pkts packets on the slow path before its close, N..N+4 = $N..$((N + 4)) (and $closing in the close)" \
			test $((slow - closing)) -le $((N + 4)) -a $((slow - closing)) -ge "$N"
	done <"$d/elephants.tsv"
	check "$layout: every medium flow was offloaded ($(mix_get "$layout" medium_off)/$(mix_get "$layout" medium_flows))" \
		test "$(mix_get "$layout" medium_off)" = "$(mix_get "$layout" medium_flows)"

	# Mice: of the flows the agent admitted, at most 5% may turn out to be
	# mice or DNS-like exchanges.  Recorded here, reported at the end, so
	# the other layout still runs.
	off=$(mix_get "$layout" off_total)
	short=$(mix_get "$layout" off_short)
	msg="$layout: of $off admitted flows $short are mice or dns ($(mix_get "$layout" mice_off)/$(mix_get "$layout" mice_flows) mice, $(mix_get "$layout" dns_off)/$(mix_get "$layout" dns_flows) dns); at most $MICE_SHARE_MAX% may be"
	if [ "$off" -gt 0 ] && [ $((short * 100)) -le $((off * MICE_SHARE_MAX)) ]; then
		pass "$msg"
	else
		echo "not ok - $msg"
		mice_failures+=("$msg")
	fi

	stats=$(agentctl stats --json)
	info "agent ($layout): $(jq -c '{events, admission}' <<<"$stats")"
	check "$layout: no admission failed" test "$(jq '.admission.errors' <<<"$stats")" -eq 0
	agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
done

info "---- classes alone (min-avgpkt = 0): the mice's service class is learned, then skipped"
mix_topology_fresh
# A class needs flows from min-clients (4) distinct clients: the mix leaves
# from six client addresses in turn, as from a LAN.
CLIENTS=6
client_addresses $CLIENTS
agent_config "$TMP/agent.conf" "[offload]" "window-from = $N" "window-until = $M" \
	"min-avgpkt = 0" "[classes]" "min-flows = 20"
agent_start "$TMP/agent.conf"
# DESTROY events (the final counters) come when the conntrack goes: after
# TIME_WAIT, 120 s by default.  Short here so the test can learn quickly.
nsr sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 \
	net.netfilter.nf_conntrack_udp_timeout=2 net.netfilter.nf_conntrack_udp_timeout_stream=2 ||
	fail "cannot shorten the conntrack timeouts"
mix_run learn separate
check "learning run: payloads intact" test "$(mix_get learn client_rc) $(mix_get learn server_rc)" = "0 0"
# Positive control: with the size gate off and nothing learned, the window
# alone lets the mice in (they carry 15-16 packets, N is 12), so what the
# classes run keeps out below is the classes' doing.
learn_mice=$(mix_get learn mice_off)
check "learning run: the window alone offloads mice ($learn_mice of $(mix_get learn mice_flows), at least a quarter)" \
	test $((learn_mice * 4)) -ge "$(mix_get learn mice_flows)"
mice_class() { agentctl classes --json | jq -e '[.[] | select(.proto == "tcp" and .verdict == "mice")] | length >= 1' >/dev/null; }
check "a TCP class is learned as mice" wait_for 20 mice_class
mice_clients=$(agentctl classes --json | jq '[.[] | select(.proto == "tcp" and .verdict == "mice")][0].clients')
check "from $CLIENTS distinct clients ($mice_clients)" test "$mice_clients" = $CLIENTS
agentctl classes | sed 's/^/#   /'
# Let the learning run's conntracks go: the second run reuses its ports.
wait_for 20 sh -c "test \$(ip netns exec $NS_R conntrack -C) -le 2" ||
	info "conntracks left: $(nsr conntrack -C)"
skips0=$(agentctl stats --json | jq '.decisions.reasons["mice-class"]')
shorts0=$(agentctl stats --json | jq '.decisions.reasons["class-short"]')
mix_run classes separate
mix_summary classes
check "classes run: payloads intact" test "$(mix_get classes client_rc) $(mix_get classes server_rc)" = "0 0"
skips=$(( $(agentctl stats --json | jq '.decisions.reasons["mice-class"]') - skips0 ))
info "classes run: of $(mix_get classes off_total) admitted flows $(mix_get classes off_short) are mice or dns"
mice=$(mix_get classes mice_flows)
mice_off=$(mix_get classes mice_off)
# The skip is a mark the agent writes on the NEW event; it must land before
# the mouse's packet N, which a loaded machine sometimes misses.
check "classes run: the agent skipped at least half the $mice mice as mice-class ($skips skips)" \
	test $((skips * 2)) -ge "$mice"
check "classes run: the kernel offloaded at most a tenth of the mice, against $learn_mice in the learning run ($mice_off)" \
	test $((mice_off * 10)) -le "$mice"
# The DNS-like exchanges end before the window: their class is mice too, but
# it needs no mark, and no hardware slot (reason class-short).
shorts=$(( $(agentctl stats --json | jq '.decisions.reasons["class-short"]') - shorts0 ))
dns=$(mix_get classes dns_flows)
check "classes run: the DNS-like exchanges' class is left to the window ($shorts of $dns class-short)" \
	test "$dns" -gt 0 -a $((shorts * 10)) -ge $((dns * 9))
check "classes run: every elephant and medium flow still offloaded" \
	test "$(mix_get classes elephant_off) $(mix_get classes medium_off)" = "$(mix_get classes elephant_flows) $(mix_get classes medium_flows)"
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"

if [ ${#mice_failures[@]} -gt 0 ]; then
	fail "flowoffloadd admits request/response mice (min-avgpkt = $MIN_AVGPKT, window-from = $N): $(printf '%s; ' "${mice_failures[@]}")"
fi
echo "PASS: elephants offloaded within N+4 slow-path packets, mice kept out (min-avgpkt, both port layouts; learned classes), every payload intact"
