#!/bin/bash
# Proves the agent's hardware tier on the emulated offload NIC (fonic,
# capacity 64): with 200 concurrent elephants the agent admits exactly as
# many to the hardware flowtable as the chip holds, the rest run in the
# software flowtable, and the chip never refuses one for space (no silent
# insertion failure); flows that end free their slots for NEW flows while
# the waiting software-tier flows stay where they are; insertions the chip
# refuses (fault injection) are counted by the agent, free their slots, and
# come back as late confirmations after the kernel's retry; NAT and IPv6
# flows admitted to hardware arrive intact (SHA-256).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kmod_lib.sh"

CAP=64
FLOWS=200
PORT=5601
# The agent's hardware mark must land before the flow's packet N, or the
# software rule takes the flow (counted as hw_mark_too_late): 200 flows
# starting at once under emulation need the slack.
N=20
MIB=1048576

require_root
require_tools ip nft conntrack ping jq
require_xfer
fonic_load capacity=$CAP
fonic_topology_up
# Masquerade for the NAT case at the end (port 5620 and 5621 only).
nsr nft -f - <<EOF2 || fail "cannot load the NAT rules"
table inet budgetnat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" tcp dport { 5620, 5621 } masquerade
	}
}
EOF2

agent_config "$TMP/agent.conf" \
	"[offload]" "window-from = $N" \
	"[hardware]" "mode = on" "capacity = $CAP" "watermark = 100" "confirm-timeout = 1s"
AGENT_ARGS=-v agent_start "$TMP/agent.conf"
# Idle elephants must not leave the flowtable while the test looks at them.
nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=600 ||
	fail "cannot raise the flowtable TCP timeout"

stat_field() { agentctl stats --json | jq -r ".offload.$1"; }
budget_taken() { agentctl status --json | jq '.hardware.in_use + .hardware.pending'; }
taken_is() { test "$(budget_taken)" = "$1"; }
taken_at_most() { test "$(agentctl status --json | jq .hardware.in_use)" -le "$1"; }
failed_is() { test "$(stat_field hw_failed_insertions)" = "$1"; }
chip_in_use_is() { grep -qx "flows_in_use $1" "$FONIC_DBG/counters"; }
hw_port() { nsr conntrack -L -p tcp --orig-port-dst "$1" 2>/dev/null | grep -q HW_OFFLOAD; }
group_field() { agentctl status --json | jq -r ".hardware.$1"; }
ct_tcp() { nsr conntrack -L -p tcp 2>/dev/null; }
# Elephants of the main server port by client source port, in [HW_OFFLOAD]
# or in the software flowtable only.
# The first sport= of a line is the original direction's: the client's.
first_sport() { awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^sport=/) { print substr($i, 7); break } }'; }
hw_sports() { ct_tcp | grep "dport=$PORT " | grep HW_OFFLOAD | first_sport | sort -n; }
sw_sports() { ct_tcp | grep "dport=$PORT " | grep OFFLOAD | grep -v HW_OFFLOAD | first_sport | sort -n; }
count() { wc -l | tr -d ' '; }

# start_elephant SPORT: a client that sends 32 KiB, waits, then 64 KiB
# more and closes; its fifo (fd in CTL[SPORT]) releases it.
declare -A CTL PID RELEASED
start_elephant() {
	local sp=$1 fd
	mkfifo "$TMP/ctl$sp"
	nsc "$FLOWGEN" client -a $S4 -p $PORT -P "$sp" -s 32k -s 64k -w -t 400 \
		<"$TMP/ctl$sp" >"$TMP/cli$sp" 2>&1 &
	PID[$sp]=$!
	exec {fd}>"$TMP/ctl$sp"
	CTL[$sp]=$fd
}
release() {
	local sp=$1 fd=${CTL[$1]}
	[ -z "${RELEASED[$sp]:-}" ] || return 0
	RELEASED[$sp]=1
	# One line per pause: clients started later hold this fifo open too,
	# so closing our end is no EOF for the client.
	printf 'go\ngo\n' >&"$fd"
	exec {fd}>&-
}
finish() { wait "${PID[$1]}" || fail "elephant $1 failed: $(cat "$TMP/cli$1")"; }
paused() {
	local n=0 sp
	for sp in "$@"; do grep -q "stage 1 done" "$TMP/cli$sp" && n=$((n + 1)); done
	test $n = $#
}

info "---- capacity $CAP, $FLOWS concurrent elephants"
nss "$FLOWGEN" server -a $S4 -p $PORT -n $((FLOWS + CAP / 4 + 4)) -t 900 >"$TMP/srv" 2>&1 &
srv=$!
wait_for 10 grep -q listening "$TMP/srv" || fail "server did not start"
# Until the router namespace is gone (the test ended, passed or not).
( while ip netns exec "$NS_R" true 2>/dev/null; do
	echo "$(ct_tcp | grep -c HW_OFFLOAD) $(fonic_counter flows_in_use) $(group_field in_use) $(group_field pending)" >>"$TMP/samples"
	sleep 0.3
done ) &
sampler=$!
first=()
for i in $(seq $FLOWS); do
	start_elephant $((30000 + i))
	first+=($((30000 + i)))
done
wait_for 300 paused "${first[@]}" || fail "the elephants did not finish stage 1"
all_offloaded() { test "$(ct_tcp | grep "dport=$PORT " | grep -c OFFLOAD)" = "$1"; }
wait_for 20 all_offloaded $FLOWS ||
	fail "not every elephant is offloaded: $(ct_tcp | grep "dport=$PORT " | grep -vc OFFLOAD) are not"
sleep 1
nhw=$(hw_sports | count)
nsw=$(sw_sports | count)
info "after stage 1: $nhw [HW_OFFLOAD], $nsw in the software flowtable; agent in_use $(group_field in_use) pending $(group_field pending); chip: $(tr '\n' ' ' <"$FONIC_DBG/counters")"
late=$(stat_field hw_mark_too_late)
info "hardware marks that came after the software rule: $late"
# A flow whose mark lost the race runs in software and frees its slot,
# which a flow starting later may take: between CAP - late and CAP.
check "$nhw elephants are [HW_OFFLOAD]: at most $CAP, at least $CAP - $late" \
	test "$nhw" -le $CAP -a "$nhw" -ge $((CAP - late))
check "the other $((FLOWS - nhw)) run in the software flowtable ($nsw)" test "$nsw" = $((FLOWS - nhw))
check "the agent sees $nhw in use, 0 pending" test "$(group_field in_use) $(group_field pending)" = "$nhw 0"
check "the chip refused no insertion for space (replace_enospc $(fonic_counter replace_enospc))" \
	test "$(fonic_counter replace_enospc)" = 0
check "the agent counted no failed insertion" test "$(stat_field hw_failed_insertions)" = 0
admit_hw=$(agentctl stats --json | jq .decisions.admit_hw)
check "every hardware admission is [HW_OFFLOAD] or a late mark ($admit_hw = $nhw + $late)" \
	test "$admit_hw" = $((nhw + late))

info "---- $((CAP / 4)) hardware elephants end; new flows take their slots, waiting ones stay"
hw_sports >"$TMP/hw1"
sw_sports >"$TMP/sw1"
ended=$(head -n $((CAP / 4)) "$TMP/hw1")
for sp in $ended; do release "$sp"; done
for sp in $ended; do finish "$sp"; done
check "the chip freed their entries" wait_for 30 chip_in_use_is $((nhw - CAP / 4))
check "the agent's budget freed $((CAP / 4)) slots" wait_for 10 taken_is $((nhw - CAP / 4))
sleep 1
check "the waiting software-tier elephants were not moved to hardware" \
	test "$(sw_sports | count)" = $((FLOWS - nhw))
second=()
late0=$(stat_field hw_mark_too_late)
for i in $(seq $((CAP / 4))); do
	start_elephant $((31000 + i))
	second+=($((31000 + i)))
done
wait_for 120 paused "${second[@]}" || fail "the new elephants did not finish stage 1"
# Each new elephant is [HW_OFFLOAD], or its mark came after the software
# rule (under emulation the agent sometimes answers a NEW event after the
# flow's packet N): then it runs in software, counted.
new_hw() { hw_sports | awk '$1 > 31000' | count; }
new_placed() { test $(( $(new_hw) + $(stat_field hw_mark_too_late) - late0 )) = $((CAP / 4)); }
if ! wait_for 20 new_placed; then
	ct_tcp | grep 'sport=310' | sed 's/^/#   /'
	agentctl flows | grep ':310' | sed 's/^/#   /'
	agentctl status --json | jq -c .hardware
	agentctl stats --json | jq -c '.decisions, .offload'
	fail "the $((CAP / 4)) new elephants went [HW_OFFLOAD] (or came too late for it)"
fi
late2=$(( $(stat_field hw_mark_too_late) - late0 ))
pass "the $((CAP / 4)) new elephants took the freed slots: $(new_hw) [HW_OFFLOAD], $late2 marked too late"
nhw=$(hw_sports | count)
check "$nhw in hardware, at most $CAP" test "$nhw" -le $CAP
check "still no refusal for space" test "$(fonic_counter replace_enospc)" = 0

info "---- the chip refuses insertions for 6 s: counted, slots freed, late confirmation"
ended=$(hw_sports | head -n 4)
for sp in $ended; do release "$sp"; done
for sp in $ended; do finish "$sp"; done
wait_for 10 taken_is $((nhw - 4)) ||
	fail "the agent did not free 4 slots: $(agentctl status --json | jq -c .hardware)"
inj0=$(fonic_counter replace_fail_injected)
echo 6000 >"$FONIC_DBG/fail_for_ms"
third=()
for i in 1 2 3 4; do
	start_elephant $((32000 + i))
	third+=($((32000 + i)))
done
wait_for 60 paused "${third[@]}" || fail "the fault-injection elephants did not finish stage 1"
# Each is refused by the chip (a failed insertion once confirm-timeout
# passes) or had its mark too late (software, no insertion attempted).
placed3() { test $(( $(stat_field hw_failed_insertions) + $(stat_field hw_mark_too_late) - late0 - late2 )) = 4; }
wait_for 15 placed3 || fail "the 4 flows were neither counted failed nor late: $(agentctl stats --json | jq -c .offload)"
late3=$(( $(stat_field hw_mark_too_late) - late0 - late2 ))
refused=$((4 - late3))
info "of the 4 new flows, $late3 had their mark too late (software)"
check "the chip refused their insertions (injected $(( $(fonic_counter replace_fail_injected) - inj0 )) >= $refused)" \
	test $(( $(fonic_counter replace_fail_injected) - inj0 )) -ge $refused
check "the agent counts $refused failed insertions after confirm-timeout" wait_for 10 failed_is $refused
check "status shows them failed, their slots free (in_use $(group_field in_use), pending $(group_field pending), failed $(group_field failed))" \
	test "$(group_field failed)" = $refused -a "$(group_field pending)" = 0
check "flowoffloadctl flows says hw-refused" \
	test "$(agentctl flows --json | jq '[.[] | select(.reason == "hw-refused")] | length')" = $refused
agentctl status | sed -n '/^DEVICE/,$p' | sed 's/^/#   /'
check "the text status has a device table with the failures" \
	grep -qE "^lan0 +yes +sw,hw +$CAP +[0-9]+ +[0-9]+ +$refused +$refused\$" <<<"$(agentctl status)"
wait_for 15 grep -qx 0 "$FONIC_DBG/fail_for_ms" || fail "fail_for_ms did not run out"
# Traffic makes the kernel offer the flows to the driver again.
for sp in "${third[@]}"; do release "$sp"; done
for sp in "${third[@]}"; do finish "$sp"; done
info "late confirmations: $(stat_field hw_late_confirmations) (the kernel's retry can win before the flows end)"
check "every byte of the refused flows arrived (software path)" \
	test "$(grep -c 'received 98304 bytes' "$TMP/srv")" -ge $((CAP / 4 + 4 + 4))

info "---- NAT and IPv6 admitted to hardware: payload intact"
# xfer_case NAME ADDR PORT: 4 MiB up through the chip, SHA-256 compared.
xfer_case() {
	local name=$1 addr=$2 port=$3 sent got
	payload "$TMP/p$port" $((4 * MIB))
	mkfifo "$TMP/x$port"
	exec 5<>"$TMP/x$port"
	nss "$PYTHON" "$XFER" recv --listen -a "$addr" -p "$port" -t 240 >"$TMP/xs$port" 2>&1 &
	local spid=$!
	wait_for 20 grep -q listening "$TMP/xs$port" || fail "$name: receiver did not start"
	nsc "$PYTHON" "$XFER" send --connect -a "$addr" -p "$port" -f "$TMP/p$port" \
		-b $MIB -w -t 240 <"$TMP/x$port" >"$TMP/xc$port" 2>&1 &
	local cpid=$!
	wait_for 120 grep -q "paused at $MIB" "$TMP/xc$port" || fail "$name: no progress"
	check "$name: admitted to hardware and [HW_OFFLOAD]" wait_for 15 hw_port "$port"
	echo go >&5
	exec 5>&-
	wait "$cpid" || fail "$name: sender failed: $(cat "$TMP/xc$port")"
	wait "$spid" || fail "$name: receiver failed: $(cat "$TMP/xs$port")"
	sent=$(awk '$1 == "sent" { print $2, $3 }' "$TMP/xc$port")
	got=$(awk '$1 == "received" { print $2, $3 }' "$TMP/xs$port")
	check "$name: every byte arrived, SHA-256 intact ($got)" test -n "$sent" -a "$sent" = "$got"
}
# Make room: the rest of the hardware elephants end.
for sp in $(hw_sports); do release "$sp"; done
check "hardware slots free again" wait_for 30 taken_at_most $((CAP - 3))
xfer_case "masquerade v4" $S4 5620
xfer_case "masquerade v6" $S6 5621
xfer_case "routed v6" $S6 5622

# Every remaining elephant finishes (software or hardware), bytes counted.
for sp in "${!CTL[@]}"; do release "$sp"; done
wait "$srv" || fail "the elephant server failed: $(tail -n 3 "$TMP/srv")"
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
check "every elephant delivered all its bytes" \
	test "$(grep -c 'received 98304 bytes' "$TMP/srv")" = $((FLOWS + CAP / 4 + 4))
maxhw=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$TMP/samples")
maxchip=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$TMP/samples")
maxagent=$(stat_field hw_max_in_use)
info "$(wc -l <"$TMP/samples") samples: at most $maxhw [HW_OFFLOAD], chip at most $maxchip flows (max_flows_in_use $(fonic_counter max_flows_in_use)); agent's largest in_use+pending $maxagent; budget accuracy $maxagent/$CAP"
check "at no sample more than $CAP flows were [HW_OFFLOAD]" test "$maxhw" -le $CAP
check "the chip never held more than $CAP flows" test "$(fonic_counter max_flows_in_use)" -le $CAP
check "the agent never counted more than $CAP slots taken" test "$maxagent" -le $CAP
check "no silent insertion failure: refusals for space $(fonic_counter replace_enospc)" \
	test "$(fonic_counter replace_enospc)" = 0
agent_stop || fail "flowoffloadd exited with an error: $(tail -n 5 "$TMP/agent.log")"
echo "PASS: the hardware budget fills the chip to capacity and never past it; failures counted; NAT/IPv6 intact"
