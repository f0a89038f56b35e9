#!/bin/bash
# Proves what the agent's hardware tier does when its flows leave the
# flowtable and come back: two elephants in [HW_OFFLOAD] on the emulated NIC
# (fonic) go idle past the flowtable's timeout, the kernel takes them out of
# the chip and the flowtable, and when they send again the ruleset puts them
# back.  The chip is slowed (delay_ms) so the way back through the
# flowtable's software path takes longer than a status dump; the agent must
# time the driver's confirmation from the re-entry, not from the first
# offload minutes earlier: no failed insertion is counted, no slot leaks.
# Then they go idle once more, now past the window's end, where the
# hardware table's rules stop: the software table's hw-return rules take
# them into the software flowtable on their first packet back and give
# them the software value; the agent follows (tier sw, no slot).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kmod_lib.sh"

CAP=64
# The hardware mark is written at the NEW event and must land before packet
# N, or the software rule takes the flow (hw_mark_too_late): under emulation
# a second elephant starting with the first had its mark 100 ms late, past
# packet 40.  So the elephants start one after the other, and N is 100.
N=100
M=2000
PORT=5701
SPORTS="31001 31002"

require_root
require_tools ip nft conntrack ping jq
fonic_load capacity=$CAP
fonic_topology_up

agent_config "$TMP/agent.conf" \
	"[offload]" "window-from = $N" "window-until = $M" \
	"[hardware]" "mode = on" "capacity = $CAP" "watermark = 100" "confirm-timeout = 5s"
AGENT_ARGS=-v agent_start "$TMP/agent.conf"
# Packets of the elephants the router's stack receives and its forward path
# sees (tests/kernel/kmod_lib.sh).
load_probe $PORT

stat_field() { agentctl stats --json | jq -r "$1"; }
group_field() { agentctl status --json | jq -r ".hardware.$1"; }
ct_port() { nsr conntrack -L -p tcp --orig-port-dst $PORT 2>/dev/null; }
hw_count() { ct_port | grep -c HW_OFFLOAD; }
offload_count() { ct_port | grep -c OFFLOAD; }
hw_is() { test "$(hw_count)" = "$1"; }
# Both conntrack entries listed, neither in a flowtable (an empty listing
# is no evidence).
none_offloaded() { test "$(ct_port | grep -c .)" = 2 -a "$(offload_count)" = 0; }
chip_flows() { fonic_counter flows_in_use; }
evict() {
	check "before: the kernel has both in a flowtable, the chip holds $(chip_flows) of them ($1)" \
		test "$(offload_count)" = 2 -a "$(chip_flows)" = "$(hw_count)"
	nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=2 ||
		fail "cannot shorten the flowtable TCP timeout"
	check "the kernel took both out of the flowtable ($1)" wait_for 30 none_offloaded
	check "the chip holds no entry any more ($1)" wait_for 10 grep -qx "flows_in_use 0" "$FONIC_DBG/counters"
	# Back to the default before they send again: the next stage must
	# not be evicted between its packets under emulation.
	nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=30 ||
		fail "cannot restore the flowtable TCP timeout"
}
stage_done() { for sp in $SPORTS; do grep -q "stage $1 done" "$TMP/cli$sp" || return 1; done; }
agent_states() { agentctl flows --json | jq -r --argjson p $PORT '[.[] | select(.dport == $p) | .state + "/" + .tier] | sort | join(" ")'; }

nss "$FLOWGEN" server -a $S4 -p $PORT -n 2 -t 300 >"$TMP/srv" 2>&1 &
srv=$!
wait_for 10 grep -q listening "$TMP/srv" || fail "server did not start"
declare -A CTL PID
for sp in $SPORTS; do
	mkfifo "$TMP/ctl$sp"
	# 512 KiB (within the window), 8 MiB (back within the window, and
	# past its end), 4 MiB (back past the window's end).
	nsc "$FLOWGEN" client -a $S4 -p $PORT -P "$sp" -s 512k -s 8M -s 4M -w -t 280 \
		<"$TMP/ctl$sp" >"$TMP/cli$sp" 2>&1 &
	PID[$sp]=$!
	exec {fd}>"$TMP/ctl$sp"
	CTL[$sp]=$fd
	wait_for 60 grep -q "stage 1 done" "$TMP/cli$sp" || fail "elephant $sp did not finish stage 1"
done
# Slow-path probe after the agent's chains: every packet of the elephants
# the forward path still sees.
probe_slow_tcp "$PORT"

info "---- both in hardware"
wait_for 20 hw_is 2 || { ct_port | sed 's/^/# ct: /'; agentctl flows | sed 's/^/# agent: /'; tail -5 "$TMP/agent.log" | sed 's/^/# log: /'; }
check "both elephants are [HW_OFFLOAD]" wait_for 20 hw_is 2
t_first=$(date +%s)
check "the chip holds both: flows_in_use $(chip_flows), replace_ok $(fonic_counter replace_ok) = 2 flows x 2 entries" \
	test "$(chip_flows)" = 2 -a "$(fonic_counter replace_ok)" = 4
check "the agent counts them in use" wait_for 10 sh -c \
	"[ \"\$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK status --json | jq -c '[.hardware.in_use, .hardware.pending]')\" = '[2,0]' ]"
returned0=$(stat_field .flows.returned_to_slow_path)

info "---- idle past the flowtable's timeout: out of the chip and the flowtable"
pkts=$(ct_port | grep -o 'packets=[0-9]*' | awk -F= '{ s += $2 } END { print s }')
info "conntrack packets of both (both directions): $pkts, window $N..$M each"
evict "within the window"
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
# A clock run from the first offload must have passed confirm-timeout by
# the time they come back, or a zero count below would prove nothing.
while [ $(( $(date +%s) - t_first )) -le 6 ]; do sleep 0.5; done
# Kernel evidence of the way back: packets the router's stack receives
# (netdev ingress, before the flowtable's hook) minus those its forward
# path sees are the ones the software flowtable carried.
stack0=$(stack_seen $PORT)
fw0=$(forward_seen $PORT)
t_back=$(date +%s)
for sp in $SPORTS; do printf 'go\n' >&"${CTL[$sp]}"; done
seen_sw=0
for _ in $(seq 60); do
	states=$(agent_states)
	echo "$(date +%T.%N) agent: $states" >>"$TMP/back.log"
	case " $states " in *" offloaded/hw "*) seen_sw=1 ;; esac
	hw_is 2 && break
	sleep 0.25
done
echo 0 >"$FONIC_DBG/delay_ms"
[ $seen_sw = 1 ] || sed 's/^/#   /' "$TMP/back.log"
check "both elephants are [HW_OFFLOAD] again" wait_for 20 hw_is 2
info "[HW_OFFLOAD] again $(( $(date +%s) - t_back )) s after they sent again"
swpath=$(( $(stack_seen $PORT) - stack0 - ($(forward_seen $PORT) - fw0) ))
check "the kernel's software flowtable carried them while the chip took its time ($swpath packets past the router's stack, not through its forward path)" \
	test "$stack0" -ge 1 -a "$fw0" -ge 0 -a "$swpath" -gt 0
check "the agent saw them offloaded before the chip confirmed them" test $seen_sw = 1
check "they came back $(( t_back - t_first )) s after the first [HW_OFFLOAD], past confirm-timeout (5 s): a clock from the first offload would count them failed" \
	test $(( t_back - t_first )) -gt 5
check "the agent counts them in use again" wait_for 10 sh -c \
	"[ \"\$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK status --json | jq -c '[.hardware.in_use, .hardware.pending]')\" = '[2,0]' ]"
failed=$(stat_field .offload.hw_failed_insertions)
late=$(stat_field .offload.hw_late_confirmations)
check "no failed insertion counted: the confirm clock ran from the re-entry ($failed failed, $late late)" \
	test "$failed $late" = "0 0"
check "no insertion failed at the chip (replace_fail_injected $(fonic_counter replace_fail_injected), enospc $(fonic_counter replace_enospc))" \
	test "$(fonic_counter replace_fail_injected) $(fonic_counter replace_enospc)" = "0 0"
check "the chip took both again (replace_ok $(fonic_counter replace_ok) = 2 x 4 entries, flows_in_use $(chip_flows))" \
	test "$(fonic_counter replace_ok) $(chip_flows)" = "8 2"
grep -q "driver refused" "$TMP/agent.log" && fail "the agent logged a refusal: $(grep "driver refused" "$TMP/agent.log" | head -2)"

info "---- idle again, now past the window's end; back into the software flowtable"
wait_for 120 stage_done 2 || fail "the elephants did not finish stage 2"
past() { for sp in $SPORTS; do
	[ "$(nsr conntrack -L -p tcp --orig-port-dst $PORT --orig-port-src "$sp" 2>/dev/null |
		grep -o 'packets=[0-9]*' | awk -F= '{ s += $2 } END { print s + 0 }')" -gt $M ] || return 1
done; }
check "both are past packet M=$M ($(ct_port | grep -o 'packets=[0-9]*' | tr '\n' ' '))" past
evict "past the window"
slow0=$(nft_counter inet probe forward slow)
for sp in $SPORTS; do printf 'go\n' >&"${CTL[$sp]}"; done
wait_for 120 stage_done 3 || fail "the elephants did not finish stage 3"
slow=$(( $(nft_counter inet probe forward slow) - slow0 ))
hwret=$(nft_counter inet flowoffload forward hw-return-tcp)
# Its packets passed the probe after it: at most the slow path's.
check "hw-return-tcp took both back ($hwret, at least 2, at most the $slow slow-path packets)" \
	test "$hwret" -ge 2 -a "$hwret" -le "$slow"
# Not [OFFLOAD] at a given instant: one run showed a flow lose the status
# bit a second after its re-add (the hardware flowtable's old entry for the
# same conntrack was still being torn down); its next packets find it by
# its new value (readmit).  What counts: the bytes took the fast path, in
# software, and the chip got no entry.
# The first packet back of each crossed the forward path (the hw-return
# rule took it there): at least 2.
check "4 MiB each past the window, $slow packets on the slow path (2..2 x 4)" \
	test "$slow" -ge 2 -a "$slow" -le 8
check "none of them went to the chip (flows_in_use $(fonic_counter flows_in_use), no [HW_OFFLOAD], replace_ok still 8)" \
	test "$(fonic_counter flows_in_use) $(hw_count) $(fonic_counter replace_ok)" = "0 0 8"
check "their field is the software value now" test "$(ct_port | grep -c 'mark=67108864')" = 2
check "the agent follows: both are software-tier flows now" wait_for 10 sh -c \
	"[ \"\$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK flows --json | jq -r --argjson p $PORT '[.[] | select(.dport == \$p) | .tier] | join(\" \")')\" = 'sw sw' ]"
check "and counts them (hw_returned_to_sw $(stat_field .offload.hw_returned_to_sw))" \
	test "$(stat_field .offload.hw_returned_to_sw)" = 2
check "no hardware slot is held for them" \
	test "$(agentctl status --json | jq -c '[.hardware.in_use, .hardware.pending]')" = '[0,0]'
check "still no failed insertion ($(stat_field .offload.hw_failed_insertions))" \
	test "$(stat_field .offload.hw_failed_insertions)" = 0

for sp in $SPORTS; do
	printf 'go\n' >&"${CTL[$sp]}"
	wait "${PID[$sp]}" || fail "elephant $sp failed: $(cat "$TMP/cli$sp")"
done
wait "$srv" || fail "the server failed: $(tail -n 3 "$TMP/srv")"
check "both elephants delivered every byte" \
	test "$(grep -c "received $((12 * 1048576 + 524288)) bytes" "$TMP/srv")" = 2
agent_stop || fail "flowoffloadd exited with an error: $(tail -n 5 "$TMP/agent.log")"
echo "PASS: hardware flows that leave the flowtable come back: to the chip within the window (no refusal counted), to the software flowtable past it"
