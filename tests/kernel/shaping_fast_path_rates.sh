#!/bin/bash
# Measures, per path, whether the flowtable's fast path still passes a tbf
# shaper: a bulk TCP flow (iperf3, client -> server, or server -> client for
# ingress shaping) through the router with a tbf of $SHAPE_RATE on one device
# of the path, without a flowtable, with a software flowtable, and with
# `flags offload` on the emulated NIC.  Paths: the WAN device itself (veth),
# a VLAN upper device (flowtable on the lower or the upper device), a bridge
# (flowtable on the port or on the bridge), the hardware tier's device
# (fonic), and ingress shaping through an IFB redirect.  A measurement by
# hand, not in the CI suite (agent_keeps_shaping.sh is the test): prints
# RATE lines; fails only when a transfer fails.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kmod_lib.sh"

SHAPE=${SHAPE_RATE:-20mbit}
SECS=${SHAPE_SECS:-4}
require_root
require_tools ip nft tc iperf3 jq
modprobe ifb numifbs=0 2>/dev/null
modprobe 8021q 2>/dev/null
modprobe sch_tbf 2>/dev/null

# ruleset DEVICES [offload]: a flowtable on DEVICES, TCP added on packet 5,
# a counter of the packets the forward chain still sees.
ruleset() {
	nsr nft delete table inet shp 2>/dev/null
	nsr nft -f - <<EOT || fail "router refused the ruleset on $1"
table inet shp {
	flowtable ft { hook ingress priority filter; devices = { $1 }; ${2:+flags offload;} counter; }
	chain fw {
		type filter hook forward priority filter; policy accept;
		meta l4proto tcp counter comment "slow"
		meta l4proto tcp ct packets > 4 flow add @ft
	}
}
EOT
}
noflowtable() {
	nsr nft delete table inet shp 2>/dev/null
	nsr nft -f - <<EOT
table inet shp {
	chain fw {
		type filter hook forward priority filter; policy accept;
		meta l4proto tcp counter comment "slow"
	}
}
EOT
}

# measure LABEL [-R]: one iperf3 run to the server; prints the rate.
port=5300
measure() {
	local label=$1 rev=${2:-} r slow
	port=$((port + 1))
	nss iperf3 -s -1 -B $SRV -p $port >"$TMP/srv$port" 2>&1 &
	local spid=$!
	wait_for 5 sh -c "ip netns exec $NS_S ss -ltn | grep -q :$port" || fail "iperf3 server did not start"
	# shellcheck disable=SC2086
	nsc timeout 30 iperf3 -c $SRV -p $port -t "$SECS" -O 1 $rev -J >"$TMP/cli$port" 2>&1 ||
		fail "$label: iperf3 failed: $(tail -5 "$TMP/cli$port")"
	wait $spid
	r=$(jq '.end.sum_received.bits_per_second / 1e6 * 10 | floor / 10' "$TMP/cli$port")
	slow=$(ns_nft_counter "$NS_R" inet shp fw slow)
	echo "RATE $label: $r Mbit/s (shaper $SHAPE), forward chain saw $slow packets"
}

topo_reset() {
	netns_down
	TAG=fo$$x$RANDOM
	# shellcheck disable=SC2034 # read by lib.sh
	NS_C=${TAG}c
	NS_R=${TAG}r
	NS_S=${TAG}s
}

# ---- WAN device (veth) --------------------------------------------------------
SRV=$S4
topology_up
nsr tc qdisc add dev wan0 root tbf rate $SHAPE burst 16kb latency 50ms
noflowtable; measure "veth wan0 tbf, no flowtable"
ruleset "lan0, wan0"; measure "veth wan0 tbf, software flowtable"
nsr tc qdisc del dev wan0 root
ruleset "lan0, wan0"; measure "veth, no shaper, software flowtable (TCG ceiling)"
noflowtable; measure "veth, no shaper, no flowtable (TCG ceiling)"

# ---- ingress shaping through IFB on wan0 (download: server -> client) -----------
if ! nsr ip link add ifb0 type ifb || ! nsr ip link set ifb0 up; then
	skip "no ifb"
fi
nsr tc qdisc add dev ifb0 root tbf rate $SHAPE burst 16kb latency 50ms
nsr tc qdisc add dev wan0 handle ffff: ingress
nsr tc filter add dev wan0 parent ffff: matchall action mirred egress redirect dev ifb0
noflowtable; measure "IFB ingress on wan0, no flowtable, download" -R
ruleset "lan0, wan0"; measure "IFB ingress on wan0, software flowtable, download" -R
netns_down

# ---- VLAN upper device ----------------------------------------------------------
vlan_links() {
	veth_links
	nsr ip link set wan0 name wanl
	nss ip link set eth0 name ethl
	nsr ip link set wanl up; nss ip link set ethl up
	nsr ip link add link wanl name wan0 type vlan id 10
	nss ip link add link ethl name eth0 type vlan id 10
}
topo_reset
topology_up vlan_links
nsr tc qdisc add dev wan0 root tbf rate $SHAPE burst 16kb latency 50ms
noflowtable; measure "VLAN upper wan0 tbf, no flowtable"
ruleset "lan0, wanl"; measure "VLAN upper wan0 tbf, software flowtable on the lower"
ruleset "lan0, wan0"; measure "VLAN upper wan0 tbf, software flowtable on the upper"
netns_down

# ---- bridge ---------------------------------------------------------------------
bridge_links() {
	veth_links
	nsr ip link set wan0 name wanp
	nsr ip link add wan0 type bridge
	nsr ip link set wanp master wan0
	nsr ip link set wanp up
}
topo_reset
topology_up bridge_links
nsr tc qdisc add dev wan0 root tbf rate $SHAPE burst 16kb latency 50ms
noflowtable; measure "bridge wan0 tbf, no flowtable"
ruleset "lan0, wanp"; measure "bridge wan0 tbf, software flowtable on the port"
ruleset "lan0, wan0"; measure "bridge wan0 tbf, software flowtable on the bridge"
ruleset "lan0, wan0, wanp"; measure "bridge wan0 tbf, software flowtable on bridge and port"
nsr tc qdisc del dev wan0 root
nsr tc qdisc add dev wanp root tbf rate $SHAPE burst 16kb latency 50ms
ruleset "lan0, wanp"; measure "bridge port wanp tbf, software flowtable on the port"
netns_down

# ---- hardware tier (fonic) ----------------------------------------------------
topo_reset
fonic_load capacity=64
fonic_topology_up
nsr tc qdisc add dev wan0 root tbf rate $SHAPE burst 16kb latency 50ms
noflowtable; measure "fonic wan0 tbf, no flowtable"
ruleset "lan0, wan0"; measure "fonic wan0 tbf, software flowtable"
ruleset "lan0, wan0" offload; measure "fonic wan0 tbf, flags offload"
info "chip table: $(wc -l <"$FONIC_DBG/table") entries"
nsr tc qdisc del dev wan0 root
ruleset "lan0, wan0" offload; measure "fonic, no shaper, flags offload"
netns_down
fonic_unload
