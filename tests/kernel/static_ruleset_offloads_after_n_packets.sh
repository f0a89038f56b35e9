#!/bin/bash
# Proves the shipped static ruleset offloads a TCP flow on exactly its Nth
# packet (IPv4 and IPv6): the slow path sees at most N+3 packets, then FIN/RST.
. "$(dirname "$0")/lib.sh"

N=5
M=1000
STAGE=4M
STAGE_BYTES=$((4 * 1024 * 1024))

require_root
require_tools ip nft conntrack ping
topology_up
load_static_ruleset "lan0, wan0" $N $M

# A probe after our chain (filter + 20) sees every packet the slow path
# forwards.  IPS_OFFLOAD (0x4000) is set by `flow add` on the packet that
# matched, so the probe sees on which packet the flow was offloaded.
probe_rules() {
	local p=$1
	cat <<-NFT
	meta l4proto tcp ct original proto-dst $p ct packets $N ct status & 0x4000 == 0x4000 counter comment "at-n-$p"
	meta l4proto tcp ct original proto-dst $p ct packets < $N ct status & 0x4000 == 0x4000 counter comment "before-n-$p"
	meta l4proto tcp ct original proto-dst $p tcp flags & (fin | rst) != 0 counter comment "finrst-$p"
	meta l4proto tcp ct original proto-dst $p counter comment "all-$p"
	NFT
}
nsr nft -f - <<EOF || fail "cannot load the probe table"
table inet probe {
	chain forward {
		type filter hook forward priority filter + 20; policy accept;
		$(probe_rules 5201)
		$(probe_rules 5202)
	}
}
EOF

c() { nft_counter inet probe forward "$1" "${2:-packets}"; }
offload_tcp() { nft_counter inet flowoffload_static forward_offload offload-tcp; }

# run_case FAMILY SERVER_ADDR PORT OFFLOAD_RULE_HITS_BEFORE
run_case() {
	local fam=$1 saddr=$2 port=$3 hits_before=$4 ct all at_n before finrst bytes_o bytes_r slow_bytes
	info "---- $fam: one TCP flow to [$saddr]:$port, $STAGE then hold open"

	nss "$FLOWGEN" server -a "$saddr" -p "$port" -t 180 >"$TMP/srv$port.out" 2>&1 &
	local spid=$!
	wait_for 10 grep -q listening "$TMP/srv$port.out" || fail "server did not start"
	mkfifo "$TMP/ctl$port"
	nsc "$FLOWGEN" client -a "$saddr" -p "$port" -s $STAGE -w -t 180 \
		<"$TMP/ctl$port" >"$TMP/cli$port.out" 2>&1 &
	local cpid=$!
	exec 3>"$TMP/ctl$port"
	wait_for 150 grep -q "stage 1 done" "$TMP/cli$port.out" ||
		fail "$fam: the client did not finish sending $STAGE: $(cat "$TMP/cli$port.out")"

	# The flow is alive and idle: megabytes moved, what did the slow path see?
	ct=$(ct_line tcp "$port" "$fam")
	info "conntrack: $ct"
	all=$(c "all-$port")
	at_n=$(c "at-n-$port")
	before=$(c "before-n-$port")
	slow_bytes=$(c "all-$port" bytes)
	bytes_o=$(ct_field "$ct" bytes 1)
	bytes_r=$(ct_field "$ct" bytes 2)
	info "slow path: $all packets, $slow_bytes bytes; conntrack bytes: $bytes_o original, $bytes_r reply"
	info "fast path: $(( bytes_o + bytes_r - slow_bytes )) bytes"

	check "$fam: conntrack shows the flow [OFFLOAD]" grep -q '\[OFFLOAD\]' <<<"$ct"
	check "$fam: conntrack counted the whole transfer (>= $STAGE_BYTES bytes original)" \
		test "${bytes_o:-0}" -ge $STAGE_BYTES
	# Once, or twice when a packet was already on its way through the
	# forward path on the other CPU as the entry appeared.
	check "$fam: flow add matched once, at most one in-flight slip ($(( $(offload_tcp) - hits_before )))" \
		test $(( $(offload_tcp) - hits_before )) -ge 1 -a $(( $(offload_tcp) - hits_before )) -le 2
	check "$fam: the flow was offloaded on packet $N (probe at-n=$at_n, before-n=$before)" \
		test "$at_n" -eq 1 -a "$before" -eq 0
	check "$fam: the slow path saw at most N+3=$((N + 3)) packets while $STAGE passed ($all)" \
		test "$all" -ge $N -a "$all" -le $((N + 3))
	check "$fam: the slow path carried under 1% of the bytes" \
		test $(( slow_bytes * 100 )) -lt $(( bytes_o + bytes_r ))

	# Close: FIN must leave the fast path and take the slow path.
	echo go >&3
	exec 3>&-
	wait "$cpid" || fail "$fam: client failed: $(cat "$TMP/cli$port.out")"
	wait "$spid" || fail "$fam: server failed: $(cat "$TMP/srv$port.out")"
	grep -q "received $STAGE_BYTES bytes" "$TMP/srv$port.out" ||
		fail "$fam: server did not receive $STAGE_BYTES bytes: $(cat "$TMP/srv$port.out")"
	finrst=$(c "finrst-$port")
	check "$fam: FIN/RST went through the slow path ($finrst packets)" test "$finrst" -ge 1
	check "$fam: the flow left the flowtable after teardown" \
		wait_for 15 sh -c "! ip netns exec $NS_R conntrack -L -p tcp --dport $port -f $fam 2>/dev/null | grep -q OFFLOAD"
	info "after close: slow path saw $(c "all-$port") packets in all"
}

run_case ipv4 $S4 5201 0
run_case ipv6 $S6 5202 "$(offload_tcp)"
echo "PASS: flows offloaded on packet $N, slow path bounded, teardown on the slow path"
