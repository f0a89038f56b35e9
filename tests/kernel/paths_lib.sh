# paths_lib.sh: router topologies of home and ISP routers for the path tests:
# the WAN as a VLAN, QinQ, PPPoE (pppoe-server and pppd) or PPPoE over a
# VLAN, the LAN as a bridge with ports; one at a time, torn down between.
# shellcheck shell=bash

# The PPPoE session's ends: the server (the ISP's concentrator and the far
# end of the flows) and the router's ppp0.
PPP_S4=$S4 PPP_R4=$R4W

# wan_up KIND: the router's WAN toward the server namespace; sets WAN_L3
# (the router's WAN device with the addresses) and S_L3 (the server's).
# KIND: plain, vlan, qinq, pppoe, pppoe-vlan.
wan_up() {
	local kind=$1
	ip -n "$NS_S" link add eth0 type veth peer name wan0 netns "$NS_R" || fail "cannot create wan0"
	nss ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1
	nsr ethtool -K wan0 gro off >/dev/null 2>&1
	nss ip link set eth0 up
	nsr ip link set wan0 up
	case $kind in
	plain) WAN_L3=wan0 S_L3=eth0 ;;
	vlan)
		nsr ip link add link wan0 name wan0.100 type vlan id 100 || fail "cannot create wan0.100"
		nss ip link add link eth0 name eth0.100 type vlan id 100
		WAN_L3=wan0.100 S_L3=eth0.100 ;;
	qinq)
		nsr ip link add link wan0 name wan0.100 type vlan proto 802.1ad id 100 || fail "cannot create wan0.100 (802.1ad)"
		nsr ip link set wan0.100 up
		nsr ip link add link wan0.100 name wan0.100.200 type vlan id 200 || fail "cannot create wan0.100.200"
		nss ip link add link eth0 name eth0.100 type vlan proto 802.1ad id 100
		nss ip link set eth0.100 up
		nss ip link add link eth0.100 name eth0.100.200 type vlan id 200
		WAN_L3=wan0.100.200 S_L3=eth0.100.200 ;;
	pppoe) pppoe_up wan0 eth0; return ;;
	pppoe-vlan)
		nsr ip link add link wan0 name wan0.7 type vlan id 7 || fail "cannot create wan0.7"
		nss ip link add link eth0 name eth0.7 type vlan id 7
		nsr ip link set wan0.7 up
		nss ip link set eth0.7 up
		pppoe_up wan0.7 eth0.7; return ;;
	*) fail "wan_up: unknown kind $kind" ;;
	esac
	nsr ip link set "$WAN_L3" up
	nss ip link set "$S_L3" up
	nsr ip addr add "$R4W"/24 dev "$WAN_L3"
	nsr ip addr add "$R6W"/64 dev "$WAN_L3" nodad
	nss ip addr add "$S4"/24 dev "$S_L3"
	nss ip addr add "$S6"/64 dev "$S_L3" nodad
	nss ip route add default via "$R4W"
	nss ip -6 route add default via "$R6W"
}

# pppoe_files: options for both pppd, no /etc/ppp edits: /etc/ppp/options
# is read first, and its `auth` is overridden by `noauth` here.  Debian's
# pppoe-server (3.15) is built without kernel mode (no -k): the server side
# runs user-mode PPPoE (pppd over a pty to the pppoe program); the router's
# pppd uses the kernel's PPPoE (plugin rp-pppoe.so), as routers do.
pppoe_files() {
	[ -f "$TMP/ppp-common" ] && return 0
	cat >"$TMP/ppp-common" <<-EOF
	noauth
	novj
	noccp
	nodeflate
	nobsdcomp
	noipdefault
	+ipv6
	lcp-echo-interval 1
	lcp-echo-failure 3
	ip-up-script /bin/true
	ip-down-script /bin/true
	EOF
}

# pppoe_up RDEV SDEV: pppoe-server (kernel mode) on the server's SDEV, pppd
# in the router on RDEV; waits for ppp0 with its addresses.
pppoe_up() {
	local rdev=$1 sdev=$2
	modprobe -q pppoe 2>/dev/null
	[ -c /dev/ppp ] || skip "no /dev/ppp (modprobe ppp_generic)"
	pppoe_files
	WAN_L3=ppp0 S_L3=ppp0 PPP_RDEV=$rdev
	nss pppoe-server -I "$sdev" -L "$PPP_S4" -R "$PPP_R4" -N 1 -O "$TMP/ppp-common" \
		-X "$TMP/pppoe-server.pid" || fail "pppoe-server did not start"
	ppp_connect
}

# ppp_connect: (re)start the router's pppd; waits for ppp0 up with both
# families' addresses and routes.
ppp_connect() {
	# Not through nsr: a backgrounded function is a subshell, and the pid
	# must be pppd's own for ppp_disconnect's signal to reach it.
	ip netns exec "$NS_R" pppd file "$TMP/ppp-common" plugin rp-pppoe.so "nic-$PPP_RDEV" \
		unit 0 nodetach >>"$TMP/pppd.log" 2>&1 &
	PPPD_PID=$!
	wait_for 20 sh -c "ip -n $NS_R -4 addr show dev ppp0 2>/dev/null | grep -q 'inet '" ||
		fail "ppp0 did not come up: $(tail -5 "$TMP/pppd.log")"
	wait_for 20 sh -c "ip -n $NS_S -4 addr show dev ppp0 2>/dev/null | grep -q 'inet '" ||
		fail "the server's ppp0 did not come up"
	# One session, so one address in the pool: a reconnect gets the same.
	ip -n "$NS_R" -4 addr show dev ppp0 | grep -q "inet $PPP_R4 " ||
		fail "ppp0 got another address: $(ip -n "$NS_R" -4 addr show dev ppp0 | grep inet)"
	nsr ip route replace default dev ppp0
	nss ip route replace 198.18.0.0/16 dev ppp0
	nsr ip -6 addr add "$R6W"/64 dev ppp0 nodad
	nss ip -6 addr add "$S6"/64 dev ppp0 nodad
	nsr ip -6 route replace default dev ppp0
	nss ip -6 route replace 2001:db8::/48 dev ppp0
}

# ppp_disconnect: kill the router's pppd, wait for ppp0 to go.
ppp_disconnect() {
	kill "$PPPD_PID" 2>/dev/null
	wait "$PPPD_PID" 2>/dev/null
	wait_for 10 sh -c "! ip -n $NS_R link show ppp0 >/dev/null 2>&1" || fail "ppp0 did not go"
	# The server notices the session's end by its PADT.
	wait_for 10 sh -c "! ip -n $NS_S link show ppp0 >/dev/null 2>&1" || fail "the server kept its ppp0"
}

# lan_up KIND: the client's LAN: plain (lan0) or bridge (br-lan with port
# lan0 and a second port lan1), vlan_filtering per BR_VLAN_FILTERING.
lan_up() {
	local kind=$1
	ip -n "$NS_C" link add eth0 type veth peer name lan0 netns "$NS_R" || fail "cannot create lan0"
	nsc ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1
	nsr ethtool -K lan0 gro off >/dev/null 2>&1
	nsc ip link set eth0 up
	nsr ip link set lan0 up
	LAN_L3=lan0
	if [ "$kind" = bridge ]; then
		nsr ip link add br-lan type bridge vlan_filtering "${BR_VLAN_FILTERING:-0}" || fail "cannot create br-lan"
		nsr ip link set lan0 master br-lan
		nsr ip link add lan1 type dummy
		nsr ip link set lan1 master br-lan
		nsr ip link set lan1 up
		nsr ip link set br-lan up
		LAN_L3=br-lan
	fi
	nsr ip addr add "$R4L"/24 dev "$LAN_L3"
	nsr ip addr add "$R6L"/64 dev "$LAN_L3" nodad
	nsc ip addr add "$C4"/24 dev eth0
	nsc ip addr add "$C6"/64 dev eth0 nodad
	nsc ip route add default via "$R4L"
	nsc ip -6 route add default via "$R6L"
}

# paths_up LAN WAN: namespaces, both sides, forwarding, reachability.
paths_up() {
	local ns
	for ns in "$NS_C" "$NS_R" "$NS_S"; do
		ip netns add "$ns" || fail "cannot create network namespace $ns"
		ip -n "$ns" link set lo up
		# No duplicate address detection on the devices made below: a
		# link-local address finishing DAD a second or two after its
		# device came up changes the IPv6 routes under a running flow,
		# and the fast path tears a flow down when its cached route no
		# longer checks (nf_flow_offload_dst_check), which is the
		# kernel's business, not the offload moment's.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.all.accept_dad=0
	done
	nsr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	nsr sysctl -qw net.netfilter.nf_conntrack_acct=1 2>/dev/null || true
	lan_up "$1"
	wan_up "$2"
	wait_for 15 nsc ping -c1 -W1 -q "$S4" >/dev/null || fail "no IPv4 path client -> server ($1/$2)"
	wait_for 15 nsc ping -6 -c1 -W1 -q "$S6" >/dev/null || fail "no IPv6 path client -> server ($1/$2)"
	ipv6_settled || fail "IPv6 addresses still tentative after 5 s ($1/$2)"
}

# ipv6_settled: no tentative IPv6 address left in the three namespaces
# (waits up to 5 s; devices made later, like ppp0, inherit accept_dad=0).
ipv6_settled() {
	wait_for 5 sh -c "! { ip -n $NS_C -6 addr show tentative; ip -n $NS_R -6 addr show tentative; ip -n $NS_S -6 addr show tentative; } | grep -q inet6"
}

paths_down() {
	netns_down
	rm -f "$TMP/pppoe-server.pid"
}
