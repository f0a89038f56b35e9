#!/bin/bash
# The control socket answers about flows from the kernel as it is now, not
# from a status dump that backed off: `flowoffloadctl flows` starts a
# filtered dump and waits for it when the last read is older than
# status-interval or 1 s (`status` starts one, answers at once and says
# how old its data is).  Here status-interval and resync-interval are an
# hour, so only the requests read the kernel: a flow the kernel put in the
# flowtable is unknown to the agent's cached view (stats, which never
# waits) until `flows` asks; then the flow closes, the kernel's
# flowtable lets it go (the FIN tears the entry down; the conntrack stays,
# in TIME_WAIT), the cached view still says offloaded, and `flows` says
# what conntrack says.
. "$(dirname "$0")/lib.sh"

PORT=7700
N=8

require_root
require_tools ip nft conntrack jq
topology_up
cat >"$TMP/agent.conf" <<CONF
[devices]
devices = lan0 wan0
[agent]
socket = $AGENT_SOCK
status-interval = 1h
resync-interval = 1h
[offload]
window-from = $N
CONF
agent_start "$TMP/agent.conf"
probe_slow_tcp $PORT

stat() { agentctl stats --json | jq -r "$1"; }
offloaded_ct() { ct_line tcp $PORT | grep -q OFFLOAD; }

start_held_elephant ipv4 $PORT 1M 60
wait_for 30 grep -q "stage 1 done" "$TMP/cli$PORT" || fail "the flow did not finish its first MiB"
check "conntrack shows the flow [OFFLOAD]" offloaded_ct
check "the kernel's fast path took it: $(nft_counter inet probe forward slow) slow-path packets (N = $N)" \
	test "$(nft_counter inet probe forward slow)" -le $((N + 4))

w0=$(stat .control.waited) d0=$(stat .offload.status_dumps)
check "control: the cached view has not read it (stats: offloaded $(stat .flows.states.offloaded.sw), status dumps $d0)" \
	test "$(stat .flows.states.offloaded.sw)" -eq 0
s=$(agent_flow_field tcp $PORT state)
check "flows says $s after waiting for a read ($(stat .control.waited) waits, was $w0; $(stat .offload.status_dumps) status dumps, was $d0)" \
	test "$s" = offloaded -a "$(stat .control.waited)" -eq $((w0 + 1)) -a "$(stat .offload.status_dumps)" -gt "$d0"
check "the cached view now has it offloaded ($(stat .flows.states.offloaded.sw))" \
	test "$(stat .flows.states.offloaded.sw)" -eq 1
st=$(agentctl status --json)
check "status answered at once ($(stat .control.waited) waits) and says how old its data is ($(jq .flows_read_ms_ago <<<"$st") ms)" \
	test "$(stat .control.waited)" -eq $((w0 + 1)) -a "$(jq .flows_read_ms_ago <<<"$st")" -ge 0

info "---- the flow closes; its FIN takes it out of the flowtable"
eval "echo go >&\$ctl_$PORT"
check "conntrack: still there, no longer [OFFLOAD] ($(ct_line tcp $PORT | awk '{print $4}'))" \
	wait_for 10 sh -c "ip netns exec $NS_R conntrack -L -p tcp --dport $PORT 2>/dev/null | grep -q . && ! ip netns exec $NS_R conntrack -L -p tcp --dport $PORT 2>/dev/null | grep -q OFFLOAD"
check "control: the cached view still says offloaded ($(stat .flows.states.offloaded.sw))" \
	test "$(stat .flows.states.offloaded.sw)" -eq 1
w1=$(stat .control.waited)
s=$(agent_flow_field tcp $PORT state)
check "flows says $s (what conntrack says: $(ct_line tcp $PORT | grep -o 'OFFLOAD' || echo 'not [OFFLOAD]')), after a read ($(stat .control.waited) waits, was $w1)" \
	test "$s" != offloaded -a "$s" != none -a "$(stat .control.waited)" -eq $((w1 + 1))
check "no request waited out its 3 s ($(stat .control.wait_timeouts))" \
	test "$(stat .control.wait_timeouts)" -eq 0
eval "exec {ctl_$PORT}>&-"
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
echo "PASS: status and flows read the kernel before answering when the last read is stale"
