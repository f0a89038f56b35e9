#!/bin/bash
# Proves flows that run before the agent starts are picked up from its
# startup dump (offloaded when still inside the window, never past M), and
# that a restarted agent keeps the installed ruleset and the offloaded flows.
. "$(dirname "$0")/lib.sh"

N=12
M=1000
require_root
require_tools ip nft conntrack ping jq
topology_up

# Conntrack with accounting before any flow, as on a router with a firewall.
nsr nft -f - <<EOF || fail "cannot load the probe table"
table inet probe {
	chain forward {
		type filter hook forward priority filter + 20; policy accept;
		meta l4proto tcp ct original proto-dst 6701 ct packets > 0 counter comment "slow-6701"
		meta l4proto tcp ct original proto-dst 6702 ct packets > 0 counter comment "slow-6702"
	}
}
EOF
slow() { nft_counter inet probe forward "slow-$1"; }

start_held() {
	local port=$1
	shift
	nss "$FLOWGEN" server -a $S4 -p "$port" -t 240 >"$TMP/srv$port" 2>&1 &
	wait_for 10 grep -q listening "$TMP/srv$port" || fail "server $port did not start"
	mkfifo "$TMP/ctl$port"
	nsc "$FLOWGEN" client -a $S4 -p "$port" "$@" -w -t 240 <"$TMP/ctl$port" >"$TMP/cli$port" 2>&1 &
}
stage_done() {
	wait_for 180 grep -q "stage $2 done" "$TMP/cli$1" || fail "flow $1 stage $2 did not finish"
}

info "---- before the agent: flow 6701 is young, flow 6702 is past packet M"
start_held 6701 -s 100 -s 3M
exec 7>"$TMP/ctl6701"
start_held 6702 -s 2M -s 2M
exec 8>"$TMP/ctl6702"
stage_done 6701 1
stage_done 6702 1
ct=$(ct_line tcp 6702)
pk=$(( $(ct_field "$ct" packets 1) + $(ct_field "$ct" packets 2) ))
check "flow 6702 is past packet M before the agent starts ($pk)" test "$pk" -gt $M

agent_config "$TMP/agent.conf" "[offload]" "window-from = $N" "window-until = $M"
agent_start "$TMP/agent.conf"
check "the startup dump found flow 6701 ($(agent_flow_field tcp 6701 state))" \
	test "$(agent_flow_field tcp 6701 state)" = admitted
check "the startup dump found flow 6702 ($(agent_flow_field tcp 6702 state))" \
	test "$(agent_flow_field tcp 6702 state)" = admitted

echo go >&7
echo go >&8
stage_done 6701 2
stage_done 6702 2
sleep 1
check "the young flow was offloaded once it reached packet $N ($(agent_flow_field tcp 6701 state))" \
	test "$(agent_flow_field tcp 6701 state)" = offloaded
check "the young flow's slow path stayed within N+3 ($(slow 6701))" test "$(slow 6701)" -le $((N + 3))
check "the flow past M was never offloaded ($(agent_flow_field tcp 6702 state))" \
	test "$(agent_flow_field tcp 6702 state)" = admitted
check "conntrack agrees: 6702 never [OFFLOAD]" lacks OFFLOAD "$(ct_line tcp 6702)"

info "---- kill -9 and restart: admissions live on the conntracks"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
nsr nft list table inet flowoffload >/dev/null || fail "the ruleset should survive a crash"
rm -f "$AGENT_SOCK"
agent_start "$TMP/agent.conf"
stats=$(agentctl stats --json)
check "the restarted agent read the offloaded flow's mark (set by the rule at packet N) ($(jq .admission.adopted <<<"$stats"))" \
	test "$(jq .admission.adopted <<<"$stats")" -ge 1
check "and wrote no marks ($(jq .admission.marks_written <<<"$stats"))" \
	test "$(jq .admission.marks_written <<<"$stats")" -eq 0
sleep 1
check "the offloaded flow is still offloaded after the restart ($(agent_flow_field tcp 6701 state))" \
	test "$(agent_flow_field tcp 6701 state)" = offloaded
exec 7>&- 8>&-
agent_stop || fail "flowoffloadd exited non-zero"
echo "PASS: running flows picked up at start and kept across a restart"
