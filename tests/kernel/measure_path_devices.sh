#!/bin/bash
# A measurement, not in `make check` (about 135 s in the VM): for each path
# of paths_lib.sh, a static flowtable on the upper (route's) device, the
# lower device (where the kernel's forward path ends), or both, and a held
# IPv4 and IPv6 TCP flow: slow-path packets (original/reply) up to the end
# of a 256 KiB stage, and more in a further 512 KiB.  The README's "Paths"
# facts come from it:  tests/kernel/run tests/kernel/measure_path_devices.sh
# FLOWOFFLOAD_TOPOS="plain vlan,bridge plain" picks topologies (LAN WAN).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/paths_lib.sh"
require_root
require_tools ip nft conntrack ping ethtool
N=5
PORT=7000

ruleset() {	# DEVS
	nsr nft delete table inet x 2>/dev/null
	nsr nft -f - <<NFT || { echo "# refused: $1"; return 1; }
table inet x {
	flowtable ft { hook ingress priority filter; devices = { $1 }; counter; }
	chain forward {
		type filter hook forward priority filter; policy accept;
		meta l4proto { tcp, udp } ct packets >= $N flow add @ft
		tcp dport 7000-7999 ct direction original counter comment "orig"
		tcp sport 7000-7999 ct direction reply counter comment "reply"
	}
}
NFT
}
tcp_flow() {	# FAM PORT: slow-path counts after stage 1, and the stage 2 increase
	local addr=$S4 o r o2 r2 fd
	[ "$1" = ipv6 ] && addr=$S6
	nss "$FLOWGEN" server -a $addr -p "$2" -t 30 >/dev/null 2>&1 &
	sleep 0.3
	mkfifo "$TMP/ctl$2"
	nsc "$FLOWGEN" client -a $addr -p "$2" -s 256k -s 512k -w -t 30 <"$TMP/ctl$2" >"$TMP/cli$2" 2>&1 &
	exec {fd}>"$TMP/ctl$2"
	wait_for 30 grep -q "stage 1 done" "$TMP/cli$2" || echo -n "(no stage 1) "
	o=$(nft_counter inet x forward orig); r=$(nft_counter inet x forward reply)
	echo go >&$fd
	wait_for 30 grep -q "stage 2 done" "$TMP/cli$2" || echo -n "(no stage 2) "
	o2=$(nft_counter inet x forward orig); r2=$(nft_counter inet x forward reply)
	echo -n "s1 $o/$r s2 +$((o2 - o))/+$((r2 - r)) $(nsr conntrack -L -f "$1" -p tcp --dport "$2" 2>/dev/null | grep -o 'packets=[0-9]*.*OFFLOAD' | tr '\n' ' ')"
	echo go >&$fd
	exec {fd}>&-
}
try() {	# TOPO LABEL DEVS
	ruleset "$3" || return
	local a b
	PORT=$((PORT + 1)); a=$(tcp_flow ipv4 $PORT)
	ruleset "$3"
	PORT=$((PORT + 1)); b=$(tcp_flow ipv6 $PORT)
	echo "RESULT $1 | $2 {$3} | v4 orig/reply slow: $a | v6: $b"
}
IFS=, read -ra topos <<<"${FLOWOFFLOAD_TOPOS:-plain pppoe,plain pppoe-vlan,plain qinq,plain vlan,bridge plain,bridge0 plain}"
for topo in "${topos[@]}"; do
	set -- $topo
	lan=$1 wan=$2
	BR_VLAN_FILTERING=0
	[ "$lan" = bridge ] && BR_VLAN_FILTERING=1
	[ "$lan" = bridge0 ] && lan=bridge
	t0=$(date +%s)
	paths_up "$lan" "$wan"
	name="$topo vf=$BR_VLAN_FILTERING"
	if [ "$lan" = bridge ]; then
		try "$name" upper "br-lan, $WAN_L3"
		try "$name" lower "lan0, $WAN_L3"
		try "$name" both "br-lan, lan0, $WAN_L3"
	else
		try "$name" upper "lan0, $WAN_L3"
		try "$name" lower "lan0, wan0"
		try "$name" both "lan0, $WAN_L3, wan0"
		[ "$wan" = pppoe-vlan ] && try "$name" middle "lan0, wan0.7"
	fi
	[ "$wan" = pppoe ] && nsr cat /proc/net/pppoe
	paths_down
	echo "# $name: $(( $(date +%s) - t0 )) s"
done
exit 0
