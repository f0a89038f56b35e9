#!/bin/bash
# Proves a flow that already passed packet M when the static ruleset is
# loaded is never offloaded, while a new flow in the same setup is.
. "$(dirname "$0")/lib.sh"

N=5
M=300
LATE_PORT=5301
NEW_PORT=5302

require_root
require_tools ip nft conntrack ping
topology_up

# Conntrack and its accounting must be on before the flow starts, or the
# flow's conntrack would only be born (counting from zero) with our ruleset.
nsr nft -f - <<EOF || fail "cannot load the probe table"
table inet probe {
	chain forward {
		type filter hook forward priority filter + 20; policy accept;
		meta l4proto tcp ct original proto-dst $LATE_PORT ct status & 0x4000 == 0x4000 counter comment "offloaded-$LATE_PORT"
		meta l4proto tcp ct original proto-dst $LATE_PORT ct packets > 0 counter comment "all-$LATE_PORT"
		meta l4proto tcp ct original proto-dst $NEW_PORT counter comment "all-$NEW_PORT"
	}
}
EOF
nsr sysctl -qw net.netfilter.nf_conntrack_acct=1 || fail "cannot enable conntrack accounting"
c() { nft_counter inet probe forward "$1"; }

start_flow() {
	local port=$1
	shift
	nss "$FLOWGEN" server -a $S4 -p "$port" -t 180 >"$TMP/srv$port.out" 2>&1 &
	eval "spid$port=\$!"
	wait_for 10 grep -q listening "$TMP/srv$port.out" || fail "server :$port did not start"
	mkfifo "$TMP/ctl$port"
	nsc "$FLOWGEN" client -a $S4 -p "$port" "$@" -w -t 180 \
		<"$TMP/ctl$port" >"$TMP/cli$port.out" 2>&1 &
	eval "cpid$port=\$!"
}

info "---- a flow runs past packet M=$M before the ruleset exists"
start_flow $LATE_PORT -s 1M -s 2M
exec 3>"$TMP/ctl$LATE_PORT"
wait_for 120 grep -q "stage 1 done" "$TMP/cli$LATE_PORT.out" || fail "stage 1 did not finish"
ct=$(ct_line tcp $LATE_PORT)
info "conntrack: $ct"
pk=$(( $(ct_field "$ct" packets 1) + $(ct_field "$ct" packets 2) ))
check "the flow is past packet M before the ruleset loads ($pk > $M)" test "$pk" -gt $M

load_static_ruleset "lan0, wan0" $N $M
before=$(c "all-$LATE_PORT")
echo go >&3
wait_for 120 grep -q "stage 2 done" "$TMP/cli$LATE_PORT.out" || fail "stage 2 did not finish"
ct=$(ct_line tcp $LATE_PORT)
info "conntrack after 2M more with the ruleset loaded: $ct"
after=$(c "all-$LATE_PORT")
check "conntrack never shows the late flow [OFFLOAD]" lacks OFFLOAD "$ct"
check "no packet of the late flow was ever offloaded (probe $(c "offloaded-$LATE_PORT"))" \
	test "$(c "offloaded-$LATE_PORT")" -eq 0
check "the slow path kept seeing the late flow: $((after - before)) packets for 2M" \
	test $((after - before)) -gt 1400
check "the flow add rules never matched" \
	test "$(nft_counter inet flowoffload_static forward_offload offload-tcp)" -eq 0
exec 3>&-
eval "wait \$cpid$LATE_PORT" || fail "late client failed"

info "---- control: a new flow in the same setup is offloaded"
start_flow $NEW_PORT -s 2M
exec 3>"$TMP/ctl$NEW_PORT"
wait_for 120 grep -q "stage 1 done" "$TMP/cli$NEW_PORT.out" || fail "control flow did not finish"
ct=$(ct_line tcp $NEW_PORT)
info "conntrack: $ct"
check "the new flow is [OFFLOAD]" grep -q '\[OFFLOAD\]' <<<"$ct"
check "the new flow's slow path was N..N+3 packets ($(c "all-$NEW_PORT"))" \
	test "$(c "all-$NEW_PORT")" -ge $N -a "$(c "all-$NEW_PORT")" -le $((N + 3))
# Positive control of "the flow add rules never matched" above.
check "the flow add rule matched for it ($(nft_counter inet flowoffload_static forward_offload offload-tcp))" \
	test "$(nft_counter inet flowoffload_static forward_offload offload-tcp)" -ge 1
exec 3>&-
eval "wait \$cpid$NEW_PORT" || fail "control client failed"
echo "PASS: a flow past packet M is never offloaded; a new one is"
