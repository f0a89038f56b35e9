#!/bin/bash
# Proves the emulated offload NIC (tests/kmod/fonic) carries an elephant in
# "hardware": with the static ruleset plus `flags offload` on the router's
# fonic ports, a TCP flow goes [HW_OFFLOAD], the chip forwards and counts its
# packets while the router's stack (ingress hook, so the software flowtable
# too) and forward chain see none of them, conntrack's counters keep running,
# the payload arrives intact, and FIN, the idle timeout and device down each
# remove the chip's entries.  Each "saw none" rests on a probe shown to
# count the same flow's slow-path packets (handshake, FIN) in this run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kmod_lib.sh"

MIB=1048576

require_root
require_tools ip nft conntrack ping
require_xfer
fonic_load capacity=64 verbose=1
fonic_topology_up
load_offload_ruleset "lan0, wan0" 5 1000000
load_probe 5301 5302 5303
nsr nft list flowtable inet flowoffload_static ft | grep -q "flags offload" ||
	fail "the flowtable is not in offload mode"

# start_xfer PORT SIZE BOUNDARY...: a transfer client -> server of SIZE random
# bytes, pausing at each BOUNDARY; fd 3 releases the pauses.
start_xfer() {
	local port=$1 size=$2 b bargs=
	shift 2
	for b in "$@"; do bargs="$bargs -b $b"; done
	payload "$TMP/payload$port" "$size"
	nss "$PYTHON" "$XFER" recv --listen -a $S4 -p "$port" -t 240 >"$TMP/srv$port" 2>&1 &
	SRV_PID=$!
	wait_for 20 grep -q listening "$TMP/srv$port" || fail "receiver $port did not start"
	mkfifo "$TMP/ctl$port"
	# shellcheck disable=SC2086 # bargs is a list of options
	nsc "$PYTHON" "$XFER" send --connect -a $S4 -p "$port" -f "$TMP/payload$port" \
		$bargs -w -t 240 <"$TMP/ctl$port" >"$TMP/cli$port" 2>&1 &
	CLI_PID=$!
	exec 3>"$TMP/ctl$port"
}

wait_pause() {
	wait_for 120 grep -q "paused at $2" "$TMP/cli$1" ||
		fail "port $1: the sender did not reach byte $2: $(cat "$TMP/cli$1" "$TMP/srv$1")"
}

# finish_xfer PORT: release the last pause, wait for both ends, compare hashes.
finish_xfer() {
	local port=$1 sent got
	echo go >&3
	exec 3>&-
	wait "$CLI_PID" || fail "port $port: sender failed: $(cat "$TMP/cli$port")"
	wait "$SRV_PID" || fail "port $port: receiver failed: $(cat "$TMP/srv$port")"
	sent=$(awk '$1 == "sent" { print $2, $3 }' "$TMP/cli$port")
	got=$(awk '$1 == "received" { print $2, $3 }' "$TMP/srv$port")
	info "port $port: sent $sent, received $got"
	check "port $port: the receiver got every byte, SHA-256 intact" \
		test -n "$sent" -a "$sent" = "$got"
}

hw_offloaded() { grep -q 'HW_OFFLOAD' <<<"$(ct_line tcp "$1")"; }
flow_entries() { echo $(( $(fonic_count_entries "dport=$1") + $(fonic_count_entries "sport=$1") )); }
no_entries() { test "$(flow_entries "$1")" = 0; }
flow_hw_packets() { echo $(( $(fonic_sum packets "dport=$1") + $(fonic_sum packets "sport=$1") )); }

info "---- an elephant: 8 MiB client -> server, inspected at 1 MiB and 7 MiB"
start_xfer 5301 $((8 * MIB)) $MIB $((7 * MIB))
wait_pause 5301 $MIB
check "the flow goes [HW_OFFLOAD]" wait_for 15 hw_offloaded 5301
info "conntrack: $(ct_line tcp 5301)"
info "chip table:"
fonic_entries | sed 's/^/#   /'
check "the chip holds the flow's two entries (original and reply)" \
	test "$(fonic_count_entries dport=5301 dir=original)" = 1 -a \
	"$(fonic_count_entries sport=5301 dir=reply)" = 1
check "the entries rewrite Ethernet addresses and redirect to the other port" \
	test -n "$(fonic_entries dport=5301 dir=original iif=lan0 oif=wan0 | grep eth_src= | grep eth_dst=)" -a \
	-n "$(fonic_entries sport=5301 dir=reply iif=wan0 oif=lan0 | grep eth_src= | grep eth_dst=)"
check "the entries match TCP flags & (FIN|RST) == 0" \
	test -n "$(fonic_entries dport=5301 tcpflags=0x0/0x5)"

stack0=$(stack_seen 5301)
fw0=$(forward_seen 5301)
hw0=$(flow_hw_packets 5301)
hits0=$(fonic_dev_counter "$NS_R" lan0 rx_hw_hits)
acks0=$(fonic_dev_counter "$NS_R" wan0 rx_hw_hits)
rx0=$(nsr cat /sys/class/net/lan0/statistics/rx_packets)
bytes0=$(ct_field "$(ct_line tcp 5301)" bytes 1)
# The probes see this flow when it takes the slow path: its handshake
# (SYN, SYN-ACK, ACK) crossed the router's stack before the offload.
check "control: the stack probe saw the flow's handshake ($stack0 packets >= 3)" test "$stack0" -ge 3
check "control: the forward chain probe saw it too ($fw0 packets >= 3)" test "$fw0" -ge 3
check "the chip's counters start readable (lan0 $hits0, wan0 $acks0, entries $hw0)" \
	test "$hits0" -ge 0 -a "$acks0" -ge 0 -a "$hw0" -ge 0
echo go >&3
wait_pause 5301 $((7 * MIB))
stack1=$(stack_seen 5301)
fw1=$(forward_seen 5301)
rx1=$(nsr cat /sys/class/net/lan0/statistics/rx_packets)
hw1=$(flow_hw_packets 5301)
hits1=$(fonic_dev_counter "$NS_R" lan0 rx_hw_hits)
acks1=$(fonic_dev_counter "$NS_R" wan0 rx_hw_hits)
info "6 MiB later: chip forwarded $((hw1 - hw0)) packets of the flow (lan0 +$((hits1 - hits0)), wan0 +$((acks1 - acks0))); router stack saw $((stack1 - stack0)), forward chain $((fw1 - fw0))"
# 6 MiB in segments of at most 1448 bytes: at least 4345 data packets.
check "the chip forwarded the 6 MiB (>= 4345 data packets on lan0)" \
	test $((hits1 - hits0)) -ge 4345
check "the chip forwarded the ACKs coming back on wan0 (0 < $((acks1 - acks0)) <= the data packets)" \
	test $((acks1 - acks0)) -gt 0 -a $((acks1 - acks0)) -le $((hits1 - hits0))
# The entries are read before the ports' counters: the chip forwarded only
# this flow, so they cannot count more than both ports.
check "the entries counted them ($((hw1 - hw0)): >= 4345, at most what the ports forwarded in all, $((hits1 + acks1)))" \
	test $((hw1 - hw0)) -ge 4345 -a "$hw1" -le $((hits1 + acks1))
check "the router's stack (and so the software flowtable) saw none of them" \
	test "$stack1" = "$stack0"
check "the router's forward chain saw none of them" test "$fw1" = "$fw0"
# A frame the chip forwards never reaches lan0's rx counter; ARP or ND may.
check "the router's netdev counters did not see them either (lan0 rx_packets +$((rx1 - rx0)), at most 20)" \
	test "$rx0" -ge 3 -a $((rx1 - rx0)) -ge 0 -a $((rx1 - rx0)) -le 20
# FLOW_CLS_STATS hands the chip's counters to conntrack (flowtable `counter`).
ct_bytes_at_least() { test "$(ct_field "$(ct_line tcp 5301)" bytes 1)" -ge "$1"; }
check "conntrack's byte counter follows the chip's (>= 7 MiB original)" \
	wait_for 15 ct_bytes_at_least $((7 * MIB))
info "conntrack bytes: ${bytes0} at 1 MiB, $(ct_field "$(ct_line tcp 5301)" bytes 1) now; stats calls $(fonic_counter stats_calls)"
check "the flow is still [HW_OFFLOAD]" hw_offloaded 5301

destroy0=$(fonic_counter destroy)
finish_xfer 5301
check "FIN took the slow path (the router's stack saw it)" test "$(stack_seen 5301)" -gt "$stack1"
check "control: so did lan0's rx counter (+$(( $(nsr cat /sys/class/net/lan0/statistics/rx_packets) - rx1 )))" \
	test "$(nsr cat /sys/class/net/lan0/statistics/rx_packets)" -gt "$rx1"
check "after FIN the chip's entries are gone" wait_for 15 no_entries 5301
check "the kernel destroyed exactly them (destroy +$(($(fonic_counter destroy) - destroy0)) = 2)" \
	test "$destroy0" -ge 0 -a $(($(fonic_counter destroy) - destroy0)) = 2
# lacks fails on an empty listing: the conntrack entry (TIME_WAIT) is there.
ct_not() { lacks "$1" "$(ct_line tcp "$2")"; }
check "conntrack no longer shows the flow offloaded (its entry still there)" \
	wait_for 15 ct_not OFFLOAD 5301

info "---- idle timeout: nf_flowtable_tcp_timeout lowered to 4 s"
# Part of what this test proves: a kernel without the knob fails it.
nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=4 ||
	fail "idle: cannot lower net.netfilter.nf_flowtable_tcp_timeout to 4 s"
check "idle: the timeout reads back as 4 s" \
	test "$(nsr sysctl -n net.netfilter.nf_flowtable_tcp_timeout)" = 4
start_xfer 5302 $((2 * MIB)) $MIB
wait_pause 5302 $MIB
check "idle: the flow goes [HW_OFFLOAD]" wait_for 15 hw_offloaded 5302
check "idle: the chip holds its entries" test "$(flow_entries 5302)" = 2
destroy0=$(fonic_counter destroy)
t0=$(date +%s)
check "idle: the entries go once the flow idles past the timeout" \
	wait_for 30 no_entries 5302
info "idle: entries removed after $(( $(date +%s) - t0 )) s without traffic"
check "idle: the kernel destroyed them (destroy +$(($(fonic_counter destroy) - destroy0)) = 2)" \
	test "$destroy0" -ge 0 -a $(($(fonic_counter destroy) - destroy0)) = 2
# No FIN was sent: the connection is still established, out of the flowtable.
check "idle: conntrack no longer shows [OFFLOAD], the connection still ESTABLISHED" \
	wait_for 10 sh -c "ip netns exec $NS_R conntrack -L -p tcp --dport 5302 2>/dev/null | grep ESTABLISHED | grep -vq OFFLOAD"
finish_xfer 5302
nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=30 ||
	fail "idle: cannot restore the flowtable TCP timeout"

info "---- device down: the router's wan0 goes down under an offloaded flow"
start_xfer 5303 $((3 * MIB)) $MIB
wait_pause 5303 $MIB
check "down: the flow goes [HW_OFFLOAD]" wait_for 15 hw_offloaded 5303
check "down: the chip holds its entries" test "$(flow_entries 5303)" = 2
check "control: one of them enters at wan0 (the reply)" test "$(fonic_count_entries iif=wan0)" = 1
nsr ip link set wan0 down
check "down: the chip's entries are gone" wait_for 15 no_entries 5303
check "down: no entry enters at wan0 any more" test "$(fonic_count_entries iif=wan0)" = 0
nsr ip link set wan0 up
wait_for 10 nsc ping -c1 -W1 -q $S4 >/dev/null || fail "no path after wan0 came back"
finish_xfer 5303
info "chip counters: $(tr '\n' ' ' <"$FONIC_DBG/counters")"
info "rules the kernel offered (verbose=1):"
fonic_rules_logged 20 | sed 's/^/#   /'
echo "PASS: elephant forwarded by the emulated NIC, stack bypassed, payload intact, teardown by FIN, idle and device down"
