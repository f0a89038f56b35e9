#!/bin/bash
# Proves what the agent's hardware tier does when its flows leave the
# flowtable and come back: two elephants in [HW_OFFLOAD] on the emulated NIC
# (fonic) go idle past the flowtable's timeout, the kernel takes them out of
# the chip and the flowtable, and when they send again the ruleset puts them
# back.  The chip is slowed (delay_ms) so the way back through the
# flowtable's software path takes longer than a status dump; the agent must
# time the driver's confirmation from the re-entry, not from the first
# offload minutes earlier: no failed insertion is counted, no slot leaks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kmod_lib.sh"

CAP=64
N=8
PORT=5701
SPORTS="31001 31002"

require_root
require_tools ip nft conntrack ping jq
fonic_load capacity=$CAP
fonic_topology_up

agent_config "$TMP/agent.conf" \
	"[offload]" "window-from = $N" "window-until = 1000000" \
	"[hardware]" "mode = on" "capacity = $CAP" "watermark = 100" "confirm-timeout = 5s"
AGENT_ARGS=-v agent_start "$TMP/agent.conf"

stat_field() { agentctl stats --json | jq -r "$1"; }
group_field() { agentctl status --json | jq -r ".hardware.$1"; }
ct_port() { nsr conntrack -L -p tcp --orig-port-dst $PORT 2>/dev/null; }
hw_count() { ct_port | grep -c HW_OFFLOAD; }
offload_count() { ct_port | grep -c OFFLOAD; }
hw_is() { test "$(hw_count)" = "$1"; }
none_offloaded() { test "$(offload_count)" = 0; }
agent_states() { agentctl flows --json | jq -r --argjson p $PORT '[.[] | select(.dport == $p) | .state + "/" + .tier] | sort | join(" ")'; }

nss "$FLOWGEN" server -a $S4 -p $PORT -n 2 -t 300 >"$TMP/srv" 2>&1 &
srv=$!
wait_for 10 grep -q listening "$TMP/srv" || fail "server did not start"
declare -A CTL PID
for sp in $SPORTS; do
	mkfifo "$TMP/ctl$sp"
	# 1 MiB, a pause, 8 MiB: the second stage outlasts the chip's delay.
	nsc "$FLOWGEN" client -a $S4 -p $PORT -P "$sp" -s 1M -s 8M -w -t 280 \
		<"$TMP/ctl$sp" >"$TMP/cli$sp" 2>&1 &
	PID[$sp]=$!
	exec {fd}>"$TMP/ctl$sp"
	CTL[$sp]=$fd
done
paused() { for sp in $SPORTS; do grep -q "stage 1 done" "$TMP/cli$sp" || return 1; done; }
wait_for 120 paused || fail "the elephants did not finish stage 1"

info "---- both in hardware"
check "both elephants are [HW_OFFLOAD]" wait_for 20 hw_is 2
check "the agent counts them in use" wait_for 10 sh -c \
	"[ \"\$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK status --json | jq -c '[.hardware.in_use, .hardware.pending]')\" = '[2,0]' ]"
returned0=$(stat_field .flows.returned_to_slow_path)

info "---- idle past the flowtable's timeout: out of the chip and the flowtable"
nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=2 ||
	fail "cannot shorten the flowtable TCP timeout"
check "the kernel took both out of the flowtable" wait_for 30 none_offloaded
check "the chip holds no entry any more" wait_for 10 grep -qx "flows_in_use 0" "$FONIC_DBG/counters"
# Back to the default before they send again: the second stage must not be
# evicted between its packets under emulation.
nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=30 ||
	fail "cannot restore the flowtable TCP timeout"
returned=$(( $(stat_field .flows.returned_to_slow_path) - returned0 ))
check "the agent saw both return to the slow path ($returned)" \
	wait_for 5 sh -c "[ \$(( \$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK stats --json | jq .flows.returned_to_slow_path) - $returned0 )) -ge 2 ]"
info "agent: $(agent_states); hardware in use $(group_field in_use), pending $(group_field pending)"

info "---- they send again: back into the flowtable, slowly into the chip"
# Each direction's insertion sleeps 1 s: 2 s in the flowtable's software
# path before [HW_OFFLOAD] (4 s for the second flow if the kernel's offload
# work runs them one after the other), seen by the 1 s status dumps as
# offloaded but not yet confirmed; within confirm-timeout (5 s) counted
# from the re-entry, long past it counted from the first offload.
echo 1000 >"$FONIC_DBG/delay_ms" || fail "cannot set the chip's insertion delay"
for sp in $SPORTS; do printf 'go\n' >&"${CTL[$sp]}"; done
seen_sw=0
for _ in $(seq 60); do
	states=$(agent_states)
	case " $states " in *" offloaded/hw "*) seen_sw=1 ;; esac
	hw_is 2 && break
	sleep 0.25
done
echo 0 >"$FONIC_DBG/delay_ms"
check "the agent saw them back in the flowtable before the chip confirmed them" test $seen_sw = 1
check "both elephants are [HW_OFFLOAD] again" wait_for 20 hw_is 2
check "the agent counts them in use again" wait_for 10 sh -c \
	"[ \"\$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK status --json | jq -c '[.hardware.in_use, .hardware.pending]')\" = '[2,0]' ]"
failed=$(stat_field .offload.hw_failed_insertions)
late=$(stat_field .offload.hw_late_confirmations)
check "no failed insertion counted: the confirm clock ran from the re-entry ($failed failed, $late late)" \
	test "$failed $late" = "0 0"
check "no insertion failed at the chip (replace_fail_injected $(fonic_counter replace_fail_injected), enospc $(fonic_counter replace_enospc))" \
	test "$(fonic_counter replace_enospc)" = 0
grep -q "driver refused" "$TMP/agent.log" && fail "the agent logged a refusal: $(grep "driver refused" "$TMP/agent.log" | head -2)"

for sp in $SPORTS; do
	printf 'go\n' >&"${CTL[$sp]}"
	wait "${PID[$sp]}" || fail "elephant $sp failed: $(cat "$TMP/cli$sp")"
done
wait "$srv" || fail "the server failed: $(tail -n 3 "$TMP/srv")"
check "both elephants delivered every byte" \
	test "$(grep -c "received $((9 * 1048576)) bytes" "$TMP/srv")" = 2
agent_stop || fail "flowoffloadd exited with an error: $(tail -n 5 "$TMP/agent.log")"
echo "PASS: hardware flows that leave the flowtable come back to the chip, and the agent counts no refusal for the way back"
