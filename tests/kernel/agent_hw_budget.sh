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
#
# Every figure of the agent is checked against the kernel's own record:
# which flowtable rule took each flow at its packet N (a probe chain after
# the agent's, per client port), conntrack's [HW_OFFLOAD]/[OFFLOAD] status,
# the chip's table and counters (debugfs), and the conntrack events that
# show every hardware mark the agent wrote -- a mark that landed after the
# software rule had taken the flow shows as the field SW|HW.
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
# The agent's field in the conntrack mark (default mark-mask 0x0c000000).
MARK_HW=$((0x08000000))
MARK_SKIP=$((0x0c000000))
# Late hardware marks allowed in the whole test (220 elephants and the
# NAT/IPv6 cases).  DESIGN measured 0-3 of 200 under emulation; seven runs
# of this test, with a second TCG VM on the same two cores, saw 0 to 6 of
# 200 in stage 1 and at most 8 in all.  Twice that is a slow machine; more
# means the agent answers NEW events too late for the hardware tier (an
# agent that wrote every other hardware mark 150 ms late had 111 of 200).
LATE_MAX=16

require_root
require_tools ip nft conntrack ping jq stdbuf
require_xfer
fonic_load capacity=$CAP
fonic_topology_up
# Masquerade for the NAT cases at the end (ports 5620 and 5621, 5630 and
# 5631 for a second try).
nsr nft -f - <<EOF2 || fail "cannot load the NAT rules"
table inet budgetnat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" tcp dport { 5620, 5621, 5630, 5631 } masquerade
	}
}
EOF2
# Which flowtable rule took each elephant: after the agent's chains
# (filter + 10), packet N (either direction: a reply's ACK can be the one)
# carries the new [OFFLOAD] status (bit 14) and the field as the rule left
# it: HW (the hardware table's rule, which keeps the agent's value) or
# with the SW bit (the software table's rule sets it).  The forward path
# sees no later packet of an offloaded flow.
nsr nft -f - <<EOF2 || fail "cannot load the probe table"
table inet hwprobe {
	set took_hw { type inet_service; flags dynamic; }
	set took_sw { type inet_service; flags dynamic; }
	chain forward {
		type filter hook forward priority filter + 20; policy accept;
		meta l4proto tcp ct original proto-dst $PORT ct status & 0x4000 == 0x4000 ct mark & 0x0c000000 == 0x08000000 add @took_hw { ct original proto-src } counter comment "took-hw"
		meta l4proto tcp ct original proto-dst $PORT ct status & 0x4000 == 0x4000 ct mark & 0x04000000 == 0x04000000 add @took_sw { ct original proto-src } counter comment "took-sw"
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
# Every mark write shows as an UPDATE event with the new mark.
nsr stdbuf -oL conntrack -E -e UPDATE -p tcp -b 8388608 >"$TMP/events" 2>"$TMP/events.err" &
wait_for 10 grep -q "buffer size" "$TMP/events.err" ||
	fail "the conntrack event listener did not start: $(cat "$TMP/events.err")"

stat_field() { agentctl stats --json | jq -r ".offload.$1"; }
budget_taken() { agentctl status --json | jq '.hardware.in_use + .hardware.pending'; }
taken_is() { test "$(budget_taken)" = "$1"; }
taken_at_most() { test "$(agentctl status --json | jq .hardware.in_use)" -le "$1"; }
failed_is() { test "$(stat_field hw_failed_insertions)" = "$1"; }
chip_in_use_is() { grep -qx "flows_in_use $1" "$FONIC_DBG/counters"; }
hw_port() { nsr conntrack -L -p tcp --orig-port-dst "$1" 2>/dev/null | grep -q HW_OFFLOAD; }
group_field() { agentctl status --json | jq -r ".hardware.$1"; }
ct_tcp() { nsr conntrack -L -p tcp 2>/dev/null; }
# Sets of elephants, as sorted lists of client source ports (all five
# digits, so a plain sort is numeric order).
# The first sport= of a line is the original direction's: the client's.
first_sport() { awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^sport=/) { print substr($i, 7); break } }'; }
hw_sports() { ct_tcp | grep "dport=$PORT " | grep HW_OFFLOAD | first_sport | sort; }
sw_sports() { ct_tcp | grep "dport=$PORT " | grep OFFLOAD | grep -v HW_OFFLOAD | first_sport | sort; }
# The chip's original-direction entries of the elephants.
chip_sports() {
	fonic_entries dir=original "dport=$PORT" | tr ' ' '\n' | sed -n 's/^sport=//p' | sort
}
# took hw|sw: the elephants that flowtable rule took at packet N (probe).
took() {
	nsr nft -j list set inet hwprobe "took_$1" |
		jq -r '.nftables[] | select(.set) | (.set.elem // [])[]' | sort
}
# The kernel's record of the agent's hardware marks (events): every flow
# whose field ever read HW or SW|HW, and the late ones: SW|HW, the agent's
# hardware bit on a flow the software rule had marked and offloaded.
marks_seen() {
	grep -E " mark=($1)( |\$)" "$TMP/events" | grep "dport=${2:-$PORT} " | first_sport | sort -u
}
hw_written() { marks_seen "$MARK_HW|$MARK_SKIP"; }
late_kernel() { marks_seen "$MARK_SKIP"; }
# The agent's own list of late marks (debug log, -v).
late_agent() {
	sed -n 's/.*(sport \([0-9]*\)): the software rule offloaded it before our hardware mark landed.*/\1/p' \
		"$TMP/agent.log" | sort -u
}
in_range() { awk -v lo="$1" -v hi="$2" '$1 >= lo && $1 <= hi'; }
n_of() { grep -c . <<<"$1"; }
# both A B, minus A B: the ports of list A that are (not) in list B.
# (No process substitution: the VM has no /dev/fd.)
set_op() {
	awk -v b="$3" -v keep="$1" '
		BEGIN { n = split(b, x, "\n"); for (i = 1; i <= n; i++) if (x[i] != "") inb[x[i]] = 1 }
		$1 != "" && (($1 in inb) == keep)' <<<"$2"
}
both() { set_op 1 "$1" "$2"; }
minus() { set_op 0 "$1" "$2"; }
union() { printf '%s\n%s\n' "$1" "$2" | grep . | sort -u; }
agent_refused() {
	agentctl flows --json | jq -r --argjson p $PORT \
		'.[] | select(.dport == $p and .reason == "hw-refused") | .sport' | sort
}
events_complete() {
	check "the conntrack event listener lost no event" \
		sh -c "! grep -q ENOBUFS '$TMP/events.err'"
}
# stage_kernel LO HI: the kernel's view of the elephants LO..HI into
# THW, TSW (rule that took them), LK (late marks), LA (the agent's late
# ones), HWW (hardware marks written).
stage_kernel() {
	THW=$(took hw | in_range "$1" "$2")
	TSW=$(took sw | in_range "$1" "$2")
	LK=$(late_kernel | in_range "$1" "$2")
	LA=$(late_agent | in_range "$1" "$2")
	HWW=$(hw_written | in_range "$1" "$2")
}
# check_late WHAT: the agent's late marks of the stage are the kernel's,
# each one in the software flowtable.
check_late() {
	events_complete
	info "$1: late hardware marks: kernel $(n_of "$LK") (ports $(head -n 12 <<<"$LK" | tr '\n' ' ')$([ "$(n_of "$LK")" -le 12 ] || echo ...)), agent $(n_of "$LA")"
	check "$1: the flows the agent calls late ($(n_of "$LA")) are the flows whose hardware bit the kernel got after the software rule ($(n_of "$LK"))" \
		test "$LA" = "$LK"
	check "$1: each of them was taken by the software table's rule, none by the hardware one's" \
		test -z "$(minus "$LK" "$TSW")" -a -z "$(both "$LK" "$THW")"
	check "$1: and conntrack shows each in the software flowtable ([OFFLOAD] without HW_OFFLOAD)" \
		test -z "$(minus "$LK" "$(sw_sports)")"
	LATE_ALL=$(late_kernel)
	check "at most $LATE_MAX late hardware marks so far ($(n_of "$LATE_ALL"))" \
		test "$(n_of "$LATE_ALL")" -le $LATE_MAX
}

# start_elephant SPORT: a client that sends 32 KiB, waits, then 64 KiB
# more, waits and closes; its fifo (fd in CTL[SPORT]) releases it, one
# line per pause (step), both at once (release).
declare -A CTL PID LEFT
start_elephant() {
	local sp=$1 fd
	mkfifo "$TMP/ctl$sp"
	nsc "$FLOWGEN" client -a $S4 -p $PORT -P "$sp" -s 32k -s 64k -w -t 400 \
		<"$TMP/ctl$sp" >"$TMP/cli$sp" 2>&1 &
	PID[$sp]=$!
	exec {fd}>"$TMP/ctl$sp"
	CTL[$sp]=$fd
	LEFT[$sp]=2
}
step() {
	local sp=$1 fd=${CTL[$1]}
	[ "${LEFT[$sp]}" -gt 0 ] || return 0
	# Clients started later hold this fifo open too, so closing our end
	# is no EOF for the client: one line per pause.
	printf 'go\n' >&"$fd"
	LEFT[$sp]=$((LEFT[$sp] - 1))
	[ "${LEFT[$sp]}" -gt 0 ] || exec {fd}>&-
}
release() { step "$1"; step "$1"; }
finish() { wait "${PID[$1]}" || fail "elephant $1 failed: $(cat "$TMP/cli$1")"; }
paused() {
	local n=0 sp
	for sp in "${@:2}"; do grep -q "stage $1 done" "$TMP/cli$sp" && n=$((n + 1)); done
	test $n = $(($# - 1))
}

info "---- capacity $CAP, $FLOWS concurrent elephants"
nss "$FLOWGEN" server -a $S4 -p $PORT -n $((FLOWS + CAP / 4 + 4)) -t 900 >"$TMP/srv" 2>&1 &
srv=$!
wait_for 10 grep -q listening "$TMP/srv" || fail "server did not start"
# Until the router namespace is gone (the test ended, passed or not).
( while ip netns exec "$NS_R" true 2>/dev/null; do
	echo "$(ct_tcp | grep -c HW_OFFLOAD) $(fonic_counter flows_in_use) $(group_field in_use) $(group_field pending)" >>"$TMP/samples"
	sleep 0.3
done ) 2>/dev/null &
sampler=$!
first=()
for i in $(seq $FLOWS); do
	start_elephant $((30000 + i))
	first+=($((30000 + i)))
done
wait_for 300 paused 1 "${first[@]}" || fail "the elephants did not finish stage 1"
all_offloaded() { test "$(ct_tcp | grep "dport=$PORT " | grep -c OFFLOAD)" = "$1"; }
wait_for 20 all_offloaded $FLOWS ||
	fail "not every elephant is offloaded: $(ct_tcp | grep "dport=$PORT " | grep -vc OFFLOAD) are not"
sleep 1
hw1=$(hw_sports)
sw1=$(sw_sports)
nhw=$(n_of "$hw1")
nsw=$(n_of "$sw1")
stage_kernel 30001 30200
info "after stage 1: $nhw [HW_OFFLOAD], $nsw in the software flowtable; rules at packet N: hardware $(n_of "$THW"), software $(n_of "$TSW"); agent in_use $(group_field in_use) pending $(group_field pending); chip: $(tr '\n' ' ' <"$FONIC_DBG/counters")"
check "each elephant was taken by exactly one flowtable rule at packet N ($(n_of "$THW") + $(n_of "$TSW"))" \
	test $(( $(n_of "$THW") + $(n_of "$TSW") )) = $FLOWS -a -z "$(both "$THW" "$TSW")"
check "the flows the hardware table's rule took are the [HW_OFFLOAD] ones ($nhw) and the chip's entries" \
	test "$THW" = "$hw1" -a "$(chip_sports)" = "$hw1"
hwrule=$(nft_counter inet flowoffload_hw forward offload-tcp)
check "the hardware table's own rule counted them ($hwrule packets, $nhw..$((2 * nhw)): one per flow, one more if a packet slipped past)" \
	test "$hwrule" -ge "$nhw" -a "$hwrule" -le $((2 * nhw))
check "the flows the software table's rule took are the other $nsw, [OFFLOAD] without HW_OFFLOAD" \
	test "$TSW" = "$sw1" -a $((nhw + nsw)) = $FLOWS
check_late "stage 1"
late=$(n_of "$LK")
check "the agent's count of late marks is the kernel's ($(stat_field hw_mark_too_late) = $late)" \
	test "$(stat_field hw_mark_too_late)" = "$late"
# A flow whose mark lost the race runs in software and frees its slot,
# which a flow starting later may take: between CAP - late and CAP.
check "$nhw elephants are [HW_OFFLOAD]: at most $CAP, at least $CAP - $late" \
	test "$nhw" -le $CAP -a "$nhw" -ge $((CAP - late))
check "the chip holds them: flows_in_use $(fonic_counter flows_in_use) = $nhw" chip_in_use_is "$nhw"
check "the agent sees $nhw in use, 0 pending" test "$(group_field in_use) $(group_field pending)" = "$nhw 0"
admit_hw=$(agentctl stats --json | jq .decisions.admit_hw)
adm=$(agentctl stats --json | jq -c .admission)
# ct_admit reads each ACK without waiting (the kernel queues it inside our
# sendmsg); a missing one would show here.
check "every hardware mark write found its ACK queued when send returned ($adm)" \
	test "$(jq .marks_written <<<"$adm")" -ge "$admit_hw" -a "$(jq .no_ack <<<"$adm")" = 0 -a "$(jq .errors <<<"$adm")" = 0
check "each of the agent's $admit_hw hardware admissions is a hardware mark the kernel got ($(n_of "$HWW")): the $nhw in the chip and the $late late ones" \
	test "$admit_hw" = "$(n_of "$HWW")" -a "$HWW" = "$(union "$THW" "$LK")"
check "the chip refused no insertion for space (replace_enospc $(fonic_counter replace_enospc))" \
	test "$(fonic_counter replace_enospc)" = 0
check "the agent counted no failed insertion" test "$(stat_field hw_failed_insertions)" = 0
# Two more samples: one of them taken wholly in this steady state.
n=$(wc -l <"$TMP/samples")
wait_for 30 sh -c "[ \$(wc -l <'$TMP/samples') -ge $((n + 2)) ]" || fail "the sampler stopped"

info "---- $((CAP / 4)) hardware elephants end; new flows take their slots, waiting ones stay"
ended=$(head -n $((CAP / 4)) <<<"$hw1")
for sp in $ended; do release "$sp"; done
for sp in $ended; do finish "$sp"; done
check "the chip freed their entries" wait_for 30 chip_in_use_is $((nhw - CAP / 4))
check "the agent's budget freed $((CAP / 4)) slots" wait_for 10 taken_is $((nhw - CAP / 4))
sleep 1
check "the waiting software-tier elephants were not moved to hardware (the same $nsw)" \
	test "$(sw_sports)" = "$sw1"
second=()
for i in $(seq $((CAP / 4))); do
	start_elephant $((31000 + i))
	second+=($((31000 + i)))
done
wait_for 120 paused 1 "${second[@]}" || fail "the new elephants did not finish stage 1"
# Each new elephant is [HW_OFFLOAD], or its mark came after the software
# rule (under emulation the agent sometimes answers a NEW event after the
# flow's packet N): then it runs in software.
new_placed() {
	test $(( $(took hw | in_range 31001 31016 | grep -c .) + $(took sw | in_range 31001 31016 | grep -c .) )) = $((CAP / 4))
}
if ! wait_for 20 new_placed; then
	ct_tcp | grep 'sport=310' | sed 's/^/#   /'
	agentctl flows | grep ':310' | sed 's/^/#   /'
	fail "the $((CAP / 4)) new elephants were not all taken by a flowtable rule"
fi
sleep 1
stage_kernel 31001 31016
hw2=$(hw_sports)
new_hw=$(in_range 31001 31016 <<<"$hw2")
check "the $((CAP / 4)) new elephants: the hardware table's rule took $(n_of "$THW"), all [HW_OFFLOAD] in the chip" \
	test "$THW" = "$new_hw" -a -z "$(both "$THW" "$TSW")" -a $(( $(n_of "$THW") + $(n_of "$TSW") )) = $((CAP / 4))
check_late "stage 2"
check "each new elephant the software table took was a late hardware mark: the freed slots were all offered" \
	test "$TSW" = "$LK"
check "none of the waiting elephants went to hardware: conntrack and the rules at packet N agree" \
	test "$(sw_sports | in_range 30001 30200)" = "$sw1" -a -z "$(both "$(took hw)" "$sw1")"
late2=$(n_of "$LK")
check "the agent's count of late marks is the kernel's ($(stat_field hw_mark_too_late) = $((late + late2)))" \
	test "$(stat_field hw_mark_too_late)" = $((late + late2))
pass "the $((CAP / 4)) new elephants took the freed slots: $(n_of "$new_hw") [HW_OFFLOAD], $late2 marked too late"
nhw=$(n_of "$hw2")
check "$nhw in hardware: the $(( $(n_of "$hw1") - CAP / 4 )) left + $(n_of "$new_hw") new, at most $CAP" \
	test "$nhw" = $(( $(n_of "$hw1") - CAP / 4 + $(n_of "$new_hw") )) -a "$nhw" -le $CAP
check "the chip holds exactly them (flows_in_use $(fonic_counter flows_in_use))" \
	test "$(chip_sports)" = "$hw2" -a "$(fonic_counter flows_in_use)" = "$nhw"
check "still no refusal for space" test "$(fonic_counter replace_enospc)" = 0

info "---- the chip refuses every insertion: counted, slots freed, late confirmation"
ended=$(hw_sports | head -n 4)
for sp in $ended; do release "$sp"; done
for sp in $ended; do finish "$sp"; done
wait_for 10 taken_is $((nhw - 4)) ||
	fail "the agent did not free 4 slots: $(agentctl status --json | jq -c .hardware)"
check "the chip freed theirs" wait_for 10 chip_in_use_is $((nhw - 4))
inj0=$(fonic_counter replace_fail_injected)
sib0=$(fonic_counter replace_sibling_failed)
ok0=$(fonic_counter replace_ok)
failed0=$(stat_field hw_failed_insertions)
lateconf0=$(stat_field hw_late_confirmations)
# Armed until the test disarms it: every new-flow insertion fails, the
# kernel's retries too.  One flow at a time, a second apart, so the
# agent's mark is early.
echo 60000 >"$FONIC_DBG/fail_for_ms"
third=()
for i in 1 2 3 4; do
	sleep 1
	start_elephant $((32000 + i))
	third+=($((32000 + i)))
	wait_for 60 paused 1 $((32000 + i)) || fail "fault-injection elephant $((32000 + i)) did not finish stage 1"
done
# Each is in the hardware flowtable without [HW_OFFLOAD] (refused), or
# its mark came late (software, no insertion attempted).
placed3() {
	test $(( $(took hw | in_range 32001 32004 | grep -c .) + $(took sw | in_range 32001 32004 | grep -c .) )) = 4
}
wait_for 15 placed3 || fail "the 4 flows were not all taken by a flowtable rule: $(ct_tcp | grep 'sport=3200' | sed 's/^/#   /')"
stage_kernel 32001 32004
refused=$(minus "$THW" "$(hw_sports)")
nref=$(n_of "$refused")
check_late "stage 3"
check "each of the 4 the software table took was a late hardware mark: the freed slots were all offered" \
	test "$TSW" = "$LK"
check "the kernel: the hardware table took $(n_of "$THW") of the 4, none is [HW_OFFLOAD], none in the chip" \
	test "$refused" = "$THW" -a -z "$(both "$THW" "$(chip_sports)")" -a $((nref + $(n_of "$TSW"))) = 4
# A flow started alone can still meet the agent busy with a status dump of
# the 200 others: 3 of the 20 fault-injection flows of five runs were late
# (at that rate 3 or 4 late of 4 is about 1 % of runs).
check "at least 2 of the 4 reached the chip's refusal (at most 2 late marks)" test "$nref" -ge 2
inj=$(( $(fonic_counter replace_fail_injected) - inj0 ))
sib=$(( $(fonic_counter replace_sibling_failed) - sib0 ))
check "the chip refused them: $inj injected failures (at least one per flow, $nref), the reply entries with them ($sib), no new entry" \
	test "$inj" -ge "$nref" -a "$sib" -ge "$nref" -a "$sib" -le "$inj" -a "$(fonic_counter replace_ok)" = "$ok0"
check "the agent counts exactly these $nref failed insertions after confirm-timeout" \
	wait_for 10 failed_is $((failed0 + nref))
check "flowoffloadctl flows says hw-refused for exactly the flows the chip refused" \
	test "$(agent_refused)" = "$refused"
check "status shows them failed, their slots free (in_use $(group_field in_use) = chip $(fonic_counter flows_in_use), pending $(group_field pending), failed $(group_field failed))" \
	test "$(group_field failed)" = "$nref" -a "$(group_field pending)" = 0 -a \
	"$(group_field in_use)" = "$(fonic_counter flows_in_use)"
agentctl status | sed -n '/^DEVICE/,$p' | sed 's/^/#   /'
check "the text status has a device table with the failures" \
	grep -qE "^lan0 +yes +yes +sw,hw +$CAP +[0-9]+ +[0-9]+ +$nref +$((failed0 + nref))\$" <<<"$(agentctl status)"
echo 0 >"$FONIC_DBG/fail_for_ms"
# Traffic makes the kernel offer the refused flows to the chip again.
for sp in "${third[@]}"; do step "$sp"; done
wait_for 60 paused 2 "${third[@]}" || fail "the fault-injection elephants did not finish stage 2"
retried() { test "$(both "$refused" "$(hw_sports)")" = "$refused"; }
check "the kernel's retry put the $nref refused flows into the chip ([HW_OFFLOAD])" wait_for 15 retried
check "the chip took exactly them (replace_ok +$(( $(fonic_counter replace_ok) - ok0 )) = 2 x $nref entries)" \
	test $(( $(fonic_counter replace_ok) - ok0 )) = $((2 * nref)) -a \
	-z "$(minus "$refused" "$(chip_sports)")"
lateconf() { test $(( $(stat_field hw_late_confirmations) - lateconf0 )) = "$nref"; }
check "the agent counts $nref late confirmations" wait_for 10 lateconf
slots_back() { test "$(group_field in_use) $(group_field failed)" = "$(fonic_counter flows_in_use) 0"; }
check "and holds their slots again, none failed (in_use = the chip's flows_in_use)" wait_for 5 slots_back
for sp in "${third[@]}"; do release "$sp"; done
for sp in "${third[@]}"; do finish "$sp"; done
check "every byte of the refused flows arrived" \
	test "$(grep -c 'received 98304 bytes' "$TMP/srv")" = $((CAP / 4 + 4 + 4))

info "---- NAT and IPv6 admitted to hardware: payload intact"
# xfer_case NAME ADDR PORT [TRY]: 4 MiB up through the chip, SHA-256
# compared.  A flow whose hardware mark the kernel shows late (SW|HW) runs
# in software: that one finishes there, and the case runs once more on
# PORT + 10; the late marks count against LATE_MAX.
XFER_LATE=0
xfer_case() {
	local name=$1 addr=$2 port=$3 try=${4:-1} sent got h0 h1
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
	if ! wait_for 15 hw_port "$port"; then
		nsr conntrack -L -p tcp --orig-port-dst "$port" 2>/dev/null | sed 's/^/#   ct: /'
		agentctl flows | grep ":$port " | sed 's/^/#   agent: /'
		if [ "$try" = 1 ] && [ -n "$(marks_seen "$MARK_SKIP" "$port")" ]; then
			XFER_LATE=$((XFER_LATE + 1))
			info "$name: the agent's hardware mark landed after the software rule (the kernel saw SW|HW); it runs in software"
			echo go >&5
			exec 5>&-
			wait "$cpid" || fail "$name: sender failed: $(cat "$TMP/xc$port")"
			wait "$spid" || fail "$name: receiver failed: $(cat "$TMP/xs$port")"
			check "$name, in software: every byte arrived" \
				test "$(awk '$1 == "received" { print $2 }' "$TMP/xs$port")" = $((4 * MIB))
			xfer_case "$name" "$addr" $((port + 10)) 2
			return
		fi
	fi
	check "$name: admitted to hardware and [HW_OFFLOAD]" hw_port "$port"
	h0=$(fonic_dev_counter "$NS_R" lan0 rx_hw_hits)
	echo go >&5
	exec 5>&-
	wait "$cpid" || fail "$name: sender failed: $(cat "$TMP/xc$port")"
	wait "$spid" || fail "$name: receiver failed: $(cat "$TMP/xs$port")"
	h1=$(fonic_dev_counter "$NS_R" lan0 rx_hw_hits)
	sent=$(awk '$1 == "sent" { print $2, $3 }' "$TMP/xc$port")
	got=$(awk '$1 == "received" { print $2, $3 }' "$TMP/xs$port")
	# 3 MiB in segments of at most 1500 bytes: at least 2097.
	check "$name: the chip forwarded the last 3 MiB (lan0 rx_hw_hits +$((h1 - h0)) >= 2097)" \
		test "$h0" -ge 0 -a $((h1 - h0)) -ge 2097
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
nhw1=$(n_of "$hw1")
maxhw=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$TMP/samples")
maxchip=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$TMP/samples")
maxagent=$(stat_field hw_max_in_use)
info "$(wc -l <"$TMP/samples") samples: at most $maxhw [HW_OFFLOAD], chip at most $maxchip flows (max_flows_in_use $(fonic_counter max_flows_in_use)); agent's largest in_use+pending $maxagent; budget accuracy $maxagent/$CAP"
# The lower ends: stage 1's steady state, $nhw1 flows in the chip.
check "the samples saw $nhw1..$CAP flows [HW_OFFLOAD] at most ($maxhw)" \
	test "$maxhw" -ge "$nhw1" -a "$maxhw" -le $CAP
check "the chip held $nhw1..$CAP flows at most (max_flows_in_use $(fonic_counter max_flows_in_use))" \
	test "$(fonic_counter max_flows_in_use)" -ge "$nhw1" -a "$(fonic_counter max_flows_in_use)" -le $CAP
check "the agent counted $nhw1..$CAP slots taken at most ($maxagent)" \
	test "$maxagent" -ge "$nhw1" -a "$maxagent" -le $CAP
check "no silent insertion failure: refusals for space $(fonic_counter replace_enospc)" \
	test "$(fonic_counter replace_enospc)" = 0
stage_kernel 30001 32004
events_complete
check "the whole test: the agent's late marks are the kernel's ($(n_of "$LA") = $(n_of "$LK")), with the NAT/IPv6 cases' $XFER_LATE at most $LATE_MAX" \
	test "$LA" = "$LK" -a $(( $(n_of "$LK") + XFER_LATE )) -le $LATE_MAX

info "---- control: a chip that is full refuses for space, and it shows"
check "the chip is empty" wait_for 30 chip_in_use_is 0
echo 0 >/sys/module/fonic/parameters/capacity || fail "cannot lower the chip's capacity"
failed0=$(stat_field hw_failed_insertions)
refused_in_hw() { [ "$(ct_field "$1" mark)" = $MARK_HW ] && grep -q OFFLOAD <<<"$1" && lacks HW_OFFLOAD "$1"; }
# The flow must be admitted to hardware: a mark that lands after packet N
# (late under ASan and emulation, counted as hw_mark_too_late) puts it in
# software, and then another flow is tried, three at most.
for P in 5623 5624 5625; do
	late0=$(stat_field hw_mark_too_late)
	start_held_elephant ipv4 $P 64k 120
	wait_for 60 grep -q "stage 1 done" "$TMP/cli$P" || fail "control: no progress: $(cat "$TMP/cli$P")"
	ctl=$(ct_line tcp $P)
	info "control: $ctl"
	fd='' pid=''
	eval "fd=\$ctl_$P pid=\$cpid_$P"
	if [ "$(ct_field "$ctl" mark)" != $MARK_HW ] && [ "$(stat_field hw_mark_too_late)" -gt "$late0" ]; then
		info "control: its hardware mark came after packet N (hw_mark_too_late $(stat_field hw_mark_too_late)); another flow"
		echo go >&"$fd"
		wait "$pid" || fail "control: the client failed: $(cat "$TMP/cli$P")"
		continue
	fi
	break
done
check "control: admitted to hardware, in the hardware flowtable, not [HW_OFFLOAD]" refused_in_hw "$ctl"
check "control: the chip refused it for space (replace_enospc $(fonic_counter replace_enospc))" \
	test "$(fonic_counter replace_enospc)" -ge 1
check "control: the agent counts the failed insertion" wait_for 10 failed_is $((failed0 + 1))
echo go >&"$fd"
wait "$pid" || fail "control: the client failed: $(cat "$TMP/cli$P")"
agent_stop || fail "flowoffloadd exited with an error: $(tail -n 5 "$TMP/agent.log")"
echo "PASS: the hardware budget fills the chip to capacity and never past it; late marks and failures match the kernel's; NAT/IPv6 intact"
