#!/bin/bash
# Proves the emulated offload NIC (tests/kmod/fonic) behaves like a real one
# when it cannot take a flow: with capacity 4 and 8 elephants at most 4 go
# [HW_OFFLOAD] at any sample, the others stay in the software flowtable
# ([OFFLOAD]) and still forward correctly, the refusals are counted
# (replace_enospc) and freed slots are taken by new flows; injected failures
# (fail_nth, fail_for_ms) keep a flow in software until the kernel's retry,
# and delayed insertions (delay_ms) make [HW_OFFLOAD] appear late.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kmod_lib.sh"

CAP=4
FLOWS=8

require_root
require_tools ip nft conntrack ping bc
fonic_load capacity=$CAP
fonic_topology_up
load_offload_ruleset "lan0, wan0" 5 1000000

ct_port() { nsr conntrack -L -p tcp --dport "$1" 2>/dev/null; }
hw_count() { ct_port "$1" | grep -c 'HW_OFFLOAD' || true; }
sw_count() { ct_port "$1" | grep 'OFFLOAD' | grep -vc 'HW_OFFLOAD' || true; }
is_hw() { hw_count "$1" | grep -qx 1; }
is_sw() { sw_count "$1" | grep -qx 1; }

# client PORT STAGES...: a flowgen client pausing after each stage; fd
# CTL_<PORT> releases it.
start_client() {
	local port=$1 s sargs=
	shift
	for s in "$@"; do sargs="$sargs -s $s"; done
	mkfifo "$TMP/ctl$port"
	# shellcheck disable=SC2086
	nsc "$FLOWGEN" client -a $S4 -p "$port" $sargs -w -t 200 \
		<"$TMP/ctl$port" >"$TMP/cli$port" 2>&1 &
	eval "CPID_$port=\$!"
}

info "---- capacity $CAP, $FLOWS concurrent elephants"
nss "$FLOWGEN" server -a $S4 -p 5501 -n $FLOWS -t 200 >"$TMP/srv5501" 2>&1 &
srv=$!
wait_for 10 grep -q listening "$TMP/srv5501" || fail "server did not start"
# Sample the number of [HW_OFFLOAD] flows and the chip's flows in use.
( while :; do
	echo "$(hw_count 5501) $(fonic_counter flows_in_use)" >>"$TMP/samples"
	sleep 0.2
done ) &
sampler=$!
mkfifo "$TMP/ctl5501"
pids=
for i in $(seq $FLOWS); do
	nsc "$FLOWGEN" client -a $S4 -p 5501 -s 512k -s 2M -w -t 200 \
		<"$TMP/ctl5501" >"$TMP/cli5501.$i" 2>&1 &
	pids="$pids $!"
done
exec 3>"$TMP/ctl5501"
all_paused() { test "$(cat "$TMP"/cli5501.* | grep -c 'stage 1 done')" = $FLOWS; }
wait_for 150 all_paused || fail "the clients did not finish stage 1: $(cat "$TMP"/cli5501.*)"
sleep 1
info "conntrack after stage 1:"
ct_port 5501 | sed 's/^/#   /'
check "exactly $CAP of $FLOWS flows are [HW_OFFLOAD] ($(hw_count 5501))" test "$(hw_count 5501)" = $CAP
check "the other $((FLOWS - CAP)) stay in the software flowtable [OFFLOAD] ($(sw_count 5501))" \
	test "$(sw_count 5501)" = $((FLOWS - CAP))
check "the chip holds $CAP flows, $((2 * CAP)) entries" \
	test "$(fonic_counter flows_in_use)" = $CAP -a "$(fonic_counter entries_in_use)" = $((2 * CAP))
check "the chip counted the refusals (replace_enospc $(fonic_counter replace_enospc) >= $((FLOWS - CAP)))" \
	test "$(fonic_counter replace_enospc)" -ge $((FLOWS - CAP))
check "a refused flow's reply entry is refused with it (replace_sibling_failed $(fonic_counter replace_sibling_failed))" \
	test "$(fonic_counter replace_sibling_failed)" -ge $((FLOWS - CAP))
enospc1=$(fonic_counter replace_enospc)
# Two more samples: one of them taken wholly in this steady state.
n=$(wc -l <"$TMP/samples")
wait_for 30 sh -c "[ \$(wc -l <'$TMP/samples') -ge $((n + 2)) ]" || fail "the sampler stopped"
exec 3>&-	# EOF releases every client, for both of its pauses
for p in $pids; do
	wait "$p" || fail "a client failed: $(cat "$TMP"/cli5501.*)"
done
wait "$srv" || fail "the server failed: $(cat "$TMP/srv5501")"
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
check "every flow delivered all its bytes (hardware or software)" \
	test "$(grep -c 'received 2621440 bytes' "$TMP/srv5501")" = $FLOWS
maxhw=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$TMP/samples")
maxchip=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$TMP/samples")
info "$(wc -l <"$TMP/samples") samples: at most $maxhw [HW_OFFLOAD], at most $maxchip flows in the chip; max_flows_in_use $(fonic_counter max_flows_in_use)"
# The lower ends: stage 1's steady state (seconds long) had $CAP.
check "the samples saw the chip full and never past it: at most $maxhw = $CAP flows [HW_OFFLOAD], $maxchip in the chip" \
	test "$maxhw" = $CAP -a "$maxchip" = $CAP
check "the chip never held more than $CAP flows, and held $CAP (max_flows_in_use $(fonic_counter max_flows_in_use))" \
	test "$(fonic_counter max_flows_in_use)" = $CAP
info "the kernel retried the refused flows $(( $(fonic_counter replace_enospc) - enospc1 )) times while they ran in software"
check "the chip is empty once the flows closed" wait_for 15 sh -c "grep -qx 'flows_in_use 0' $FONIC_DBG/counters"

info "---- a freed slot is taken by a new flow"
nss "$FLOWGEN" server -a $S4 -p 5502 -t 120 >"$TMP/srv5502" 2>&1 &
srv=$!
wait_for 10 grep -q listening "$TMP/srv5502" || fail "server did not start"
start_client 5502 512k 256k
exec 3>"$TMP/ctl5502"
wait_for 60 grep -q "stage 1 done" "$TMP/cli5502" || fail "no progress: $(cat "$TMP/cli5502")"
check "the new flow goes [HW_OFFLOAD]" wait_for 15 is_hw 5502
echo go >&3; echo go >&3; exec 3>&-
wait "$CPID_5502" && wait "$srv" || fail "transfer 5502 failed"

info "---- fail_nth: the next insertion fails, the kernel retries later"
echo 1 >"$FONIC_DBG/fail_nth"
inj0=$(fonic_counter replace_fail_injected)
nss "$FLOWGEN" server -a $S4 -p 5503 -t 120 >"$TMP/srv5503" 2>&1 &
srv=$!
wait_for 10 grep -q listening "$TMP/srv5503" || fail "server did not start"
start_client 5503 64k 2M 64k
exec 3>"$TMP/ctl5503"
wait_for 60 grep -q "stage 1 done" "$TMP/cli5503" || fail "no progress: $(cat "$TMP/cli5503")"
sleep 0.5
check "fail_nth: the insertion failed (replace_fail_injected +1)" \
	test $(( $(fonic_counter replace_fail_injected) - inj0 )) = 1
check "fail_nth: the flow stays in the software flowtable ([OFFLOAD], not HW)" is_sw 5503
check "fail_nth: the chip holds no entry of it" test "$(fonic_count_entries dport=5503)" = 0
check "fail_nth: disarmed after firing" grep -qx 0 "$FONIC_DBG/fail_nth"
# The software path refreshes the flow with a new REPLACE about once a second.
sleep 1.5
echo go >&3
wait_for 60 grep -q "stage 2 done" "$TMP/cli5503" || fail "no progress: $(cat "$TMP/cli5503")"
check "fail_nth: the kernel's retry put the flow in the chip ([HW_OFFLOAD])" wait_for 15 is_hw 5503
check "fail_nth: the chip holds its entry now" test "$(fonic_count_entries dport=5503 dir=original)" = 1
check "fail_nth: the retry was not refused (replace_fail_injected still +1)" \
	test $(( $(fonic_counter replace_fail_injected) - inj0 )) = 1
echo go >&3; exec 3>&-
wait "$CPID_5503" && wait "$srv" || fail "transfer 5503 failed"
grep -q "received 2228224 bytes" "$TMP/srv5503" || fail "5503: bytes lost: $(cat "$TMP/srv5503")"

info "---- fail_for_ms: insertions fail for 3 s"
inj0=$(fonic_counter replace_fail_injected)
echo 3000 >"$FONIC_DBG/fail_for_ms"
nss "$FLOWGEN" server -a $S4 -p 5504 -t 120 >"$TMP/srv5504" 2>&1 &
srv=$!
wait_for 10 grep -q listening "$TMP/srv5504" || fail "server did not start"
start_client 5504 64k 2M 64k
exec 3>"$TMP/ctl5504"
wait_for 60 grep -q "stage 1 done" "$TMP/cli5504" || fail "no progress: $(cat "$TMP/cli5504")"
check "fail_for_ms: the insertion failed" test $(( $(fonic_counter replace_fail_injected) - inj0 )) -ge 1
check "fail_for_ms: the flow stays in software" is_sw 5504
wait_for 10 grep -qx 0 "$FONIC_DBG/fail_for_ms" || fail "fail_for_ms did not run out"
echo go >&3
wait_for 60 grep -q "stage 2 done" "$TMP/cli5504" || fail "no progress: $(cat "$TMP/cli5504")"
check "fail_for_ms: after the window the retry succeeds ([HW_OFFLOAD])" wait_for 15 is_hw 5504
echo go >&3; exec 3>&-
wait "$CPID_5504" && wait "$srv" || fail "transfer 5504 failed"

info "---- delay_ms: insertions take 4 s"
echo 4000 >"$FONIC_DBG/delay_ms"
nss "$FLOWGEN" server -a $S4 -p 5505 -t 120 >"$TMP/srv5505" 2>&1 &
srv=$!
wait_for 10 grep -q listening "$TMP/srv5505" || fail "server did not start"
t0=$(date +%s.%N)
start_client 5505 64k 64k
exec 3>"$TMP/ctl5505"
wait_for 60 grep -q "stage 1 done" "$TMP/cli5505" || fail "no progress: $(cat "$TMP/cli5505")"
check "delay_ms: the flow is offloaded in software, not yet in the chip" is_sw 5505
check "delay_ms: the entry appears, late ([HW_OFFLOAD])" wait_for 20 is_hw 5505
elapsed=$(echo "$(date +%s.%N) - $t0" | bc)
info "delay_ms: [HW_OFFLOAD] seen $elapsed s after the flow started"
check "delay_ms: not before the 4 s delay" test "$(echo "$elapsed >= 4" | bc)" = 1
echo 0 >"$FONIC_DBG/delay_ms"
echo go >&3; echo go >&3; exec 3>&-
wait "$CPID_5505" && wait "$srv" || fail "transfer 5505 failed"

info "---- capacity is a runtime parameter too"
echo 0 >/sys/module/fonic/parameters/capacity
enospc0=$(fonic_counter replace_enospc)
nss "$FLOWGEN" server -a $S4 -p 5506 -t 120 >"$TMP/srv5506" 2>&1 &
srv=$!
wait_for 10 grep -q listening "$TMP/srv5506" || fail "server did not start"
start_client 5506 512k
exec 3>"$TMP/ctl5506"
wait_for 60 grep -q "stage 1 done" "$TMP/cli5506" || fail "no progress: $(cat "$TMP/cli5506")"
check "capacity 0: the flow stays in software" is_sw 5506
check "capacity 0: refused for space" test "$(fonic_counter replace_enospc)" -gt "$enospc0"
echo go >&3; exec 3>&-
wait "$CPID_5506" && wait "$srv" || fail "transfer 5506 failed"
echo $CAP >/sys/module/fonic/parameters/capacity

info "chip counters: $(tr '\n' ' ' <"$FONIC_DBG/counters")"
echo "PASS: capacity enforced with silent software fallback; fail_nth, fail_for_ms, delay_ms work"
