#!/bin/bash
# Measures the emulated offload NIC (tests/kmod/fonic) against the software
# flowtable in the same VM run, with `flags offload` (the chip forwards),
# without (the software flowtable forwards) and with no flowtable at all (the
# router's full forward path):
#  - bounded TCP transfers client -> server and server -> client (flowgen);
#    under TCG these are bound by the endpoints' own TCP work;
#  - a blast of 1000-byte UDP frames from pktgen on the client's port into an
#    established, offloaded flow, counted and dropped at the server's
#    ingress: frames per second delivered, the per-packet cost of the path.
# Knobs: FONIC_RATE_SIZE (32M), FONIC_TCP_ROUNDS (1), FONIC_PPS_FRAMES
# (100000), FONIC_PPS_ROUNDS (2).  Prints the rates; fails only when a
# transfer fails or when the chip did not carry the offloaded runs (or
# carried the others).  A measurement by hand, not in the CI suite: without
# pktgen it measures nothing of what it is for and skips as a whole (77).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kmod_lib.sh"

SIZE=${FONIC_RATE_SIZE:-32M}
BYTES=$(numfmt --from=iec "$SIZE")
TCP_ROUNDS=${FONIC_TCP_ROUNDS:-1}
ROUNDS=${FONIC_PPS_ROUNDS:-2}
FRAMES=${FONIC_PPS_FRAMES:-100000}

require_root
require_tools ip nft conntrack ping numfmt bc
fonic_load capacity=64
fonic_topology_up
modprobe pktgen 2>/dev/null
nsc test -w /proc/net/pktgen/pgctrl || skip "no pktgen (modprobe pktgen, /proc/net/pktgen/pgctrl)"

# transfer FROM_NS TO_NS TO_ADDR PORT: a SIZE transfer; SECS is how long it took.
transfer() {
	local from=$1 to=$2 addr=$3 port=$4 t0 t1
	ip netns exec "$to" "$FLOWGEN" server -a "$addr" -p "$port" -t 300 >"$TMP/srv$port" 2>&1 &
	local spid=$!
	wait_for 10 grep -q listening "$TMP/srv$port" || fail "server $port did not start"
	t0=$(date +%s.%N)
	ip netns exec "$from" "$FLOWGEN" client -a "$addr" -p "$port" -S 60000 -s "$SIZE" -t 300 \
		>"$TMP/cli$port" 2>&1 || fail "transfer $port failed: $(cat "$TMP/cli$port")"
	t1=$(date +%s.%N)
	wait "$spid" || fail "server $port failed: $(cat "$TMP/srv$port")"
	grep -q "received $BYTES bytes" "$TMP/srv$port" ||
		fail "server $port did not get $BYTES bytes: $(cat "$TMP/srv$port")"
	SECS=$(echo "$t1 - $t0" | bc)
}

rate() { echo "scale=1; $BYTES / $1 / 1000000" | bc; }
hits() { echo $(( $(fonic_dev_counter "$NS_R" lan0 rx_hw_hits) + $(fonic_dev_counter "$NS_R" wan0 rx_hw_hits) )); }
mean() { tr ' ' '\n' | grep . | awk '{ s += $1 } END { if (NR) printf "%.1f\n", s / NR }'; }

# set_mode offload|software|none
set_mode() {
	case $1 in
	offload) load_offload_ruleset "lan0, wan0" 5 1000000000 offload ;;
	software) load_offload_ruleset "lan0, wan0" 5 1000000000 software ;;
	none) nsr nft delete table inet flowoffload_static 2>/dev/null || true ;;
	esac
}

# expect_chip MODE WHAT PACKETS MIN: the chip carried the offload runs only.
expect_chip() {
	case $1 in
	offload) check "$2: the chip forwarded it ($3 packets)" test "$3" -ge "$4" ;;
	*) check "$2: the chip forwarded nothing" test "$3" = 0 ;;
	esac
}

info "---- TCP, $SIZE per transfer, $TCP_ROUNDS rounds"
port=5600
declare -A tcp
for round in $(seq "$TCP_ROUNDS"); do
	# Interleaved, so that load from elsewhere on the host hits every mode.
	for mode in offload software none; do
		set_mode $mode
		for way in up down; do
			port=$((port + 1))
			h0=$(hits)
			if [ $way = up ]; then
				transfer "$NS_C" "$NS_S" $S4 $port
			else
				transfer "$NS_S" "$NS_C" $C4 $port
			fi
			h=$(( $(hits) - h0 ))
			r=$(rate "$SECS")
			info "round $round, $mode, $way: $SIZE in $SECS s = $r MB/s; chip forwarded $h packets"
			tcp[$mode-$way]="${tcp[$mode-$way]:-} $r"
			expect_chip $mode "TCP $mode $way" "$h" $((BYTES / 1448 * 9 / 10))
		done
	done
done
results=
for k in offload-up software-up none-up offload-down software-down none-down; do
	results="$results$k=$(mean <<<"${tcp[$k]}") "
	info "TCP $k:${tcp[$k]} MB/s"
done
echo "RATE TCP (mean MB/s of $TCP_ROUNDS, $SIZE; up = client->server, down = server->client): $results"

info "---- pktgen, $FRAMES frames of 1000 bytes per run, $ROUNDS rounds"
nss nft -f - <<EOF || fail "cannot load the sink"
table netdev sink {
	chain in {
		type filter hook ingress device eth0 priority -500; policy accept;
	}
}
EOF
pg() { nsc sh -c "echo '$2' >/proc/net/pktgen/$1" || fail "pktgen: $1 <- $2 refused"; }
lanmac=$(nsr cat /sys/class/net/lan0/address)
port=5700
declare -A pps
for round in $(seq "$ROUNDS"); do
	for mode in offload software none; do
		set_mode $mode
		port=$((port + 1))
		sport=$((7000 + port))
		# A few echoed datagrams establish the flow and get it offloaded.
		nss "$FLOWGEN" server -u -e -i 1s -a $S4 -p $port -t 60 >"$TMP/us$port" 2>&1 &
		spid=$!
		wait_for 10 grep -q listening "$TMP/us$port" || fail "UDP server $port did not start"
		nsc "$FLOWGEN" client -u -R -a $S4 -p $port -P $sport -s 16k -t 60 >"$TMP/uc$port" 2>&1 ||
			fail "UDP flow $port failed: $(cat "$TMP/uc$port")"
		wait "$spid"
		nss nft add rule netdev sink in udp dport $port counter drop comment "\"sink-$port\""
		pg kpktgend_0 rem_device_all
		pg kpktgend_0 "add_device eth0"
		for c in "count $FRAMES" "pkt_size 1000" "delay 0" "clone_skb 0" "dst $S4" \
			"src_min $C4" "src_max $C4" "udp_src_min $sport" "udp_src_max $sport" \
			"udp_dst_min $port" "udp_dst_max $port" "dst_mac $lanmac"; do
			pg eth0 "$c"
		done
		h0=$(hits)
		t0=$(date +%s.%N)
		nsc sh -c 'echo start >/proc/net/pktgen/pgctrl'
		t1=$(date +%s.%N)
		got=$(ns_nft_counter "$NS_S" netdev sink in "sink-$port")
		h=$(( $(hits) - h0 ))
		check "pktgen $mode: the sink counted 1..$FRAMES of the frames ($got)" \
			test "$got" -ge 1 -a "$got" -le "$FRAMES"
		r=$(echo "$got / ($t1 - $t0)" | bc)
		info "round $round, $mode: $got of $FRAMES frames delivered in $(echo "$t1 - $t0" | bc) s = $r frames/s; chip forwarded $h"
		pps[$mode]="${pps[$mode]:-} $r"
		expect_chip $mode "pktgen $mode" "$h" "$FRAMES"
	done
done
results=
for k in offload software none; do
	results="$results$k=$(mean <<<"${pps[$k]}") "
	info "pktgen $k:${pps[$k]} frames/s"
done
echo "RATE pktgen (mean frames/s of $ROUNDS, 1000-byte UDP frames delivered): $results"
echo "PASS: rates measured"
