#!/bin/bash
# Proves that prefixes BIRD puts into a kernel routing table steer the
# offload tiers, live.  The server namespace speaks BGP (BIRD 2) with the
# router and announces four prefixes; BIRD on the router imports them and a
# `kernel` protocol exports a chosen subset (198.19.1.0/24 and
# 2001:db8:100::/48) into table 100; table 101 holds a static route.  The
# agent follows [routes] prefer-hardware = 100:bird with hw-reserve = 100
# (the hardware tier is for preferred prefixes alone) and never = 101, on
# the emulated offload NIC (fonic).  Checked on kernel state: conntrack's
# [HW_OFFLOAD], the chip's entries, the routes-never rule's counter and the
# set's elements.  Then the peer withdraws 198.19.1.0/24: a flow started 1 s
# later goes to software, the one in hardware stays; announced back, new
# flows take hardware again; BIRD on the router restarts (table 100 flushed
# and refilled) and every admitted flow stays where it was.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kmod_lib.sh"

CAP=64
N=30
P1=198.19.1.1 P2=198.19.2.1 P3=198.19.3.1 P6=2001:db8:100::1

require_root
require_tools ip nft conntrack jq bird birdc
fonic_load capacity=$CAP
fonic_topology_up

# The announced prefixes live on the server; the router's main table
# forwards to them (table 100 only selects, as at the ISP).
for a in $P1 $P2 $P3; do nss ip addr add $a/32 dev lo || fail "cannot add $a"; done
nss ip addr add $P6/128 dev lo || fail "cannot add $P6"
nsr ip route add 198.19.0.0/16 via $S4 || fail "no route to 198.19.0.0/16"
nsr ip -6 route add 2001:db8:100::/40 via $S6 || fail "no route to 2001:db8:100::/40"
nsr ip route add table 101 198.19.3.0/24 via $S4 proto static || fail "no route in table 101"

cat >"$TMP/bird-s.conf" <<EOF
router id $S4;
protocol device {}
protocol static s1 { ipv4; route 198.19.1.0/24 unreachable; }
protocol static s2 { ipv4; route 198.19.2.0/24 unreachable; route 198.19.3.0/24 unreachable; }
protocol static s6 { ipv6; route 2001:db8:100::/48 unreachable; route 2001:db8:200::/48 unreachable; }
protocol bgp r4 { local $S4 as 65002; neighbor $R4W as 65001; connect retry time 1;
	ipv4 { import none; export all; }; }
protocol bgp r6 { local $S6 as 65002; neighbor $R6W as 65001; connect retry time 1;
	ipv6 { import none; export all; }; }
EOF
cat >"$TMP/bird-r.conf" <<EOF
router id $R4W;
protocol device {}
protocol bgp s4 { local $R4W as 65001; neighbor $S4 as 65002; connect retry time 1;
	ipv4 { import all; export none; }; }
protocol bgp s6 { local $R6W as 65001; neighbor $S6 as 65002; connect retry time 1;
	ipv6 { import all; export none; }; }
protocol kernel k4 { kernel table 100; ipv4 { export where net = 198.19.1.0/24; }; }
protocol kernel k6 { kernel table 100; ipv6 { export where net = 2001:db8:100::/48; }; }
EOF
bird_start() { # NS NAME
	ip netns exec "$1" bird -c "$TMP/bird-$2.conf" -s "$TMP/bird-$2.sock" -P "$TMP/bird-$2.pid" ||
		fail "bird ($2) did not start"
}
bird_stop() { # NAME
	local pid
	pid=$(cat "$TMP/bird-$1.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	wait_for 10 sh -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null
	rm -f "$TMP/bird-$1.pid"
}
bird_stop_all() { bird_stop s; bird_stop r; }
at_exit bird_stop_all
birdc_s() { birdc -s "$TMP/bird-s.sock" "$@" >/dev/null; }
t100() { nsr ip route show table 100 2>/dev/null; nsr ip -6 route show table 100 2>/dev/null; }
in_t100() { t100 | grep -q "^$1 .*proto bird"; }
not_in_t100() { ! t100 | grep -q "^$1 "; }

bird_start "$NS_S" s
bird_start "$NS_R" r
check "BGP and the kernel protocol put 198.19.1.0/24 into table 100" wait_for 30 in_t100 198.19.1.0/24
check "... and 2001:db8:100::/48" wait_for 10 in_t100 2001:db8:100::/48
check "... but not the prefixes the export filter rejects (198.19.2.0/24)" \
	not_in_t100 198.19.2.0/24
check "the router learned 198.19.2.0/24 over BGP all the same" \
	sh -c "birdc -s $TMP/bird-r.sock show route 198.19.2.0/24 | grep -q 198.19.2.0/24"

agent_config "$TMP/agent.conf" \
	"[offload]" "window-from = $N" "window-until = 100000" \
	"[hardware]" "mode = on" "capacity = $CAP" "watermark = 100" \
	"[routes]" "prefer-hardware = 100:bird" "never = 101" "hw-reserve = 100" "settle = 200ms"
agent_start "$TMP/agent.conf"

rt() { agentctl status --json | jq -r ".routes.$1"; }
check "the agent follows table 100: 1 IPv4 and 1 IPv6 route" \
	wait_for 10 sh -c "test \"\$($AGENTCTL -s $AGENT_SOCK status --json | jq -r '.routes.prefer_hardware.ipv4_routes, .routes.prefer_hardware.ipv6_routes' | xargs)\" = '1 1'"
never_set() { nsr nft list set inet "$1" routes_never4; }
wait_for 5 sh -c "ip netns exec $NS_R nft list set inet flowoffload routes_never4 | grep -q 198.19.3.0/24" ||
	{ never_set flowoffload; cat "$TMP/agent.log"; agentctl stats --json | jq -c .routes; }
check "the never set holds table 101's route" \
	sh -c "ip netns exec $NS_R nft list set inet flowoffload routes_never4 | grep -q '198.19.3.0/24'"
check "... in the hardware table too" \
	sh -c "ip netns exec $NS_R nft list set inet flowoffload_hw routes_never4 | grep -q '198.19.3.0/24'"
info "status: $(agentctl status --json | jq -c .routes)"

# held ADDR PORT: a TCP flow to ADDR:PORT that sends 1 KiB, waits until the
# agent has decided it (the tier is its mark, written at the NEW event and
# needed before packet N), then sends 2 MiB (past packet N) and waits (its
# fd in CTL[PORT]) before closing.  Without the pause the ASan+UBSan agent
# under emulation once wrote the hardware mark after packet N of a flow
# that sent 2 MiB at once (the software rule took it: a timing fault that
# agent_hw_budget counts as hw_mark_too_late; here the prefixes are tested).
declare -A CTL CLI
decided() { local s; s=$(tier "$1"); s=${s%%/*}; [ -n "$s" ] && [ "$s" != waiting ] && [ "$s" != null ]; }
held() {
	local fd
	nss "$FLOWGEN" server -a "$1" -p "$2" -t 200 >"$TMP/srv$2" 2>&1 &
	wait_for 10 grep -q listening "$TMP/srv$2" || fail "server $1:$2 did not start"
	mkfifo "$TMP/ctl$2"
	nsc "$FLOWGEN" client -a "$1" -p "$2" -s 1k -s 2M -s 256k -w -t 190 <"$TMP/ctl$2" >"$TMP/cli$2" 2>&1 &
	CLI[$2]=$!
	exec {fd}>"$TMP/ctl$2"
	CTL[$2]=$fd
	wait_for 60 grep -q "stage 1 done" "$TMP/cli$2" || fail "flow to $1:$2 did not send its first stage"
	wait_for 10 decided "$2" || fail "the agent did not decide the flow to $1:$2 ($(tier "$2"))"
	echo go >&"$fd"
	wait_for 60 grep -q "stage 2 done" "$TMP/cli$2" || fail "flow to $1:$2 did not send its 2 MiB"
}
ct_of() { nsr conntrack -L -p tcp --orig-port-dst "$1" -f "${2:-ipv4}" 2>/dev/null; }
is_hw() { ct_of "$@" | grep -q HW_OFFLOAD; }
is_sw() { ct_of "$@" | grep -q OFFLOAD && ! ct_of "$@" | grep -q HW_OFFLOAD; }
tier() { agentctl flows --json | jq -r --argjson p "$1" '[.[] | select(.dport == $p)][0] | .state + "/" + .tier'; }

held $P1 5801
held $P2 5802
held $P6 5803
held $P3 5804
check "a flow to a table-100 prefix is in the NIC (HW_OFFLOAD)" wait_for 10 is_hw 5801
check "... and the IPv6 one" wait_for 10 is_hw 5803 ipv6
check "a flow to a prefix BIRD did not export is in the software flowtable" wait_for 10 is_sw 5802
check "a flow to a table-101 (never) prefix is in no flowtable" \
	lacks OFFLOAD "$(ct_of 5804)"
# The four routes-never rules (one per address of the conntrack): the
# original destination's one holds the flow back.  The window gate before
# them (`ct packets < N return`) ends the chain for the flow's packets
# before N, so the lookup never sees them: the counter (the pair "counter
# packets") equals the flow's packets from N on, both directions.
never_hits() {
	nsr nft list chain inet flowoffload forward |
		awk '/comment "routes-never"/ && /original ip daddr/ {
			for (i = 1; i + 2 <= NF; i++)
				if ($i == "counter" && $(i + 1) == "packets") { print $(i + 2); found = 1 } }
			END { if (!found) print "missing" }'
}
never_seen=
never_gated() {
	local l o r h
	l=$(ct_of 5804)
	o=$(ct_field "$l" packets 1) r=$(ct_field "$l" packets 2) h=$(never_hits)
	never_seen="flow 5804: $o + $r packets, routes-never (original ip daddr) counted $h"
	[ -n "$o" ] && [ -n "$r" ] && [ "$((o + r))" -ge "$N" ] && [ "$h" = "$((o + r - N + 1))" ]
}
check "... held back by the routes-never rule (ct original ip daddr @routes_never4)" \
	test "$(never_hits)" -gt 0
wait_for 5 never_gated
info "$never_seen"
check "... which counted exactly the flow's packets from packet $N on (the window gate keeps the earlier ones from the lookup)" \
	never_gated
check "the chip holds exactly the two preferred flows" \
	test "$(fonic_counter flows_in_use)" = 2
tiers_are() { test "$(tier 5801) $(tier 5802)" = "hw-offloaded/hw offloaded/sw"; }
check "the agent agrees: hardware for 5801, software for 5802" wait_for 5 tiers_are

# Withdraw on the peer.  A new flow started 1 s later must go to software.
birdc_s disable s1 || fail "birdc disable s1"
t0=$(date +%s%N)
check "the withdrawal leaves table 100" wait_for 5 not_in_t100 198.19.1.0/24
t1=$(date +%s%N)
info "peer withdrawal to table 100: $(( (t1 - t0) / 1000000 )) ms (BGP and BIRD, not the agent)"
# The agent's part: a flow that starts 1 s after the table changed.
sleep_left=$(( 1000 - ($(date +%s%N) - t1) / 1000000 ))
[ "$sleep_left" -gt 0 ] && sleep "0.$(printf %03d "$sleep_left")"
held $P1 5805
check "a flow to the withdrawn prefix started 1 s later goes to software" wait_for 10 is_sw 5805
check "the flow already in the NIC stays there" is_hw 5801
info "after the withdrawal: $(agentctl status --json | jq -c .routes), sync lag $(agentctl stats --json | jq .routes.sync_lag_ms) ms"

birdc_s enable s1 || fail "birdc enable s1"
check "announced again, 198.19.1.0/24 is back in table 100" wait_for 10 in_t100 198.19.1.0/24
t1=$(date +%s%N)
sleep_left=$(( 1000 - ($(date +%s%N) - t1) / 1000000 ))
[ "$sleep_left" -gt 0 ] && sleep "0.$(printf %03d "$sleep_left")"
held $P1 5806
check "a new flow to it takes the hardware tier again" wait_for 10 is_hw 5806

# BIRD on the router restarts: its kernel protocol flushes table 100 on the
# way down and fills it again once BGP is back.
bird_stop r
check "BIRD's shutdown emptied table 100" wait_for 10 not_in_t100 198.19.1.0/24
check "the agent followed: no preferred route left" \
	wait_for 5 sh -c "test \"\$($AGENTCTL -s $AGENT_SOCK status --json | jq -r .routes.prefer_hardware.ipv4_routes)\" = 0"
bird_start "$NS_R" r
check "restarted, BIRD refills table 100" wait_for 30 in_t100 198.19.1.0/24
check "... and the agent follows" \
	wait_for 5 sh -c "test \"\$($AGENTCTL -s $AGENT_SOCK status --json | jq -r .routes.prefer_hardware.ipv4_routes)\" = 1"
for p in 5801 5806; do
	check "flow $p is still in the NIC" is_hw $p
	check "... and the agent still has it in hardware" test "$(tier $p)" = hw-offloaded/hw
done
check "flow 5802 is still in software" is_sw 5802
check "flow 5803 (IPv6) is still in the NIC" is_hw 5803 ipv6
check "the chip holds the three preferred flows" test "$(fonic_counter flows_in_use)" = 3

# Closed connections are DESTROYed soon after, for the prefix analysis.
nsr sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 ||
	fail "cannot shorten TIME_WAIT"
for p in 5801 5802 5803 5804 5805 5806; do
	echo >&"${CTL[$p]}"
done
for p in 5801 5802 5803 5804 5805 5806; do
	echo >&"${CTL[$p]}"
	wait "${CLI[$p]}" || fail "flow $p did not complete"
done
pfx() { agentctl prefixes --json | jq -r --arg p "$1" "[.[] | select(.prefix == \$p)][0] | $2"; }
pfx_is() { test "$(pfx "$1" "$2")" = "$3"; }
check "flowoffloadctl prefixes: 3 finished flows to 198.19.1.0/24" \
	wait_for 40 pfx_is 198.19.1.0/24 .flows_total 3
check "... two of them in hardware: a hardware share of bytes in 0.5..0.8" \
	sh -c "echo '$(pfx 198.19.1.0/24 .hw_share)' | awk '{ exit !(\$1 > 0.5 && \$1 < 0.8) }'"
check "... 198.19.2.0/24 none in hardware" test "$(pfx 198.19.2.0/24 .hw_share)" = 0
info "prefixes: $(agentctl prefixes | tr '\n' '|')"
info "stats: $(agentctl stats --json | jq -c .routes)"
check "no set transaction failed" test "$(agentctl stats --json | jq .routes.failures)" = 0
agent_stop || fail "flowoffloadd exited with an error"
missing_counters_fail
pass "prefixes from BIRD's table steer the tiers, live"
