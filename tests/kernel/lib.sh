# lib.sh: shared helpers for kernel tests: a client/router/server namespace
# topology, bounded waits, nft counter reads and the skip/fail conventions.
# shellcheck shell=bash

set -u

FLOWOFFLOAD_SRCDIR=${FLOWOFFLOAD_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
FLOWOFFLOAD_BUILDDIR=${FLOWOFFLOAD_BUILDDIR:-$FLOWOFFLOAD_SRCDIR}
# The traffic generators (flowgen, flowstorm, mixgen) may come from another
# build than the agent: check-hardening runs its sanitizer-built agent with
# the normal build's generators (200 ASan clients do not fit the VM).
FLOWOFFLOAD_TOOLSDIR=${FLOWOFFLOAD_TOOLSDIR:-$FLOWOFFLOAD_BUILDDIR}
FLOWGEN=$FLOWOFFLOAD_TOOLSDIR/tests/tools/flowgen
STORM=$FLOWOFFLOAD_TOOLSDIR/tests/tools/flowstorm
STATIC_NFT=$FLOWOFFLOAD_SRCDIR/nft-scripts/flowoffload-static.nft

# Names unique to this run, so parallel or leftover runs never collide.
TAG=fo$$
NS_C=${TAG}c
NS_R=${TAG}r
NS_S=${TAG}s
TMP=$(mktemp -d "/tmp/${TAG}.XXXXXX")

# Addresses: documentation/benchmark ranges only (RFC 2544, RFC 3849).
C4=198.18.0.2  R4L=198.18.0.1  R4W=198.18.1.1  S4=198.18.1.2
C6=2001:db8:0::2  R6L=2001:db8:0::1  R6W=2001:db8:1::1  S6=2001:db8:1::2

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "ok - $*"; }
info() { echo "# $*"; }

# check DESCRIPTION COMMAND...: run an assertion, print it, fail on false.
# A counter that was read but did not exist fails it too (see nft_counter).
check() {
	local what=$1
	shift
	if "$@"; then
		missing_counters_fail "$what"
		pass "$what"
	else
		missing_counters_fail "$what"
		fail "$what"
	fi
}

nsr() { ip netns exec "$NS_R" "$@"; }
nsc() { ip netns exec "$NS_C" "$@"; }
nss() { ip netns exec "$NS_S" "$@"; }

require_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

require_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "missing tool: $t"
	done
	[ -x "$FLOWGEN" ] || skip "flowgen not built at $FLOWGEN (run make)"
}

# netns_down: kill whatever runs in the test's namespaces, delete them.
netns_down() {
	local ns pid
	for ns in "$NS_C" "$NS_R" "$NS_S"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# A probe that matches nothing must not pass a bound: nft_counter records a
# rule it could not find here, and the test fails at its next check or exit.
MISSING_COUNTERS=$TMP/missing-counters
missing_counters_fail() {
	[ -s "$MISSING_COUNTERS" ] || return 0
	echo "FAIL: ${1:+$1: }a counter the test reads does not exist:"
	sed 's/^/#   /' "$MISSING_COUNTERS"
	rm -f "$MISSING_COUNTERS"
	exit 1
}

# A test that ends with exit 0 after reading a counter that did not exist
# (a $(( )) over "missing" can still pass) is turned into a failure.
# at_exit FUNCTION: run FUNCTION (restore a sysctl, ...) before the teardown.
AT_EXIT=()
at_exit() { AT_EXIT+=("$1"); }
cleanup() {
	local rc=$1 f
	for f in "${AT_EXIT[@]}"; do
		"$f"
	done
	if [ "$rc" = 0 ] && [ -s "$MISSING_COUNTERS" ]; then
		echo "FAIL: a counter the test read does not exist:"
		sed 's/^/#   /' "$MISSING_COUNTERS"
		rc=1
	fi
	netns_down
	rm -rf "$TMP"
	exit "$rc"
}
trap 'cleanup $?' EXIT

# veth_links: the topology's two links as veth pairs.  Segmentation offloads
# are off on the endpoints so conntrack counts wire-sized packets (a veth
# hands whole 64 KiB GSO skbs across otherwise).
veth_links() {
	ip -n "$NS_C" link add eth0 type veth peer name lan0 netns "$NS_R"
	ip -n "$NS_S" link add eth0 type veth peer name wan0 netns "$NS_R"
	if command -v ethtool >/dev/null; then
		nsc ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1
		nss ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1
		nsr ethtool -K lan0 gro off >/dev/null 2>&1
		nsr ethtool -K wan0 gro off >/dev/null 2>&1
	fi
}

# topology_up [LINKS]: client -- lan0 [router] wan0 -- server, IPv4 and IPv6
# routed through the router.  LINKS is the function that creates the two
# links (client eth0 -- router lan0, server eth0 -- router wan0): veth_links
# by default, fonic_links (kmod_lib.sh) for the emulated offload NIC.
topology_up() {
	local links=${1:-veth_links} ns
	ip netns add "$NS_C" && ip netns add "$NS_R" && ip netns add "$NS_S" ||
		fail "cannot create network namespaces"
	"$links"
	nsc ip addr add $C4/24 dev eth0
	nsc ip addr add $C6/64 dev eth0 nodad
	nss ip addr add $S4/24 dev eth0
	nss ip addr add $S6/64 dev eth0 nodad
	nsr ip addr add $R4L/24 dev lan0
	nsr ip addr add $R6L/64 dev lan0 nodad
	nsr ip addr add $R4W/24 dev wan0
	nsr ip addr add $R6W/64 dev wan0 nodad
	for ns in "$NS_C" "$NS_R" "$NS_S"; do
		ip -n "$ns" link set lo up
	done
	nsc ip link set eth0 up
	nss ip link set eth0 up
	nsr ip link set lan0 up
	nsr ip link set wan0 up
	nsc ip route add default via $R4L
	nsc ip -6 route add default via $R6L
	nss ip route add default via $R4W
	nss ip -6 route add default via $R6W
	nsr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	nsr sysctl -qw net.netfilter.nf_conntrack_acct=1 2>/dev/null || true
	wait_for 10 nsc ping -c1 -W1 -q $S4 >/dev/null ||
		fail "no IPv4 path client -> server through the router ($links)"
	wait_for 10 nsc ping -6 -c1 -W1 -q $S6 >/dev/null ||
		fail "no IPv6 path client -> server through the router ($links)"
}

# wait_for SECONDS COMMAND...: poll a condition, bounded in time.
wait_for() {
	local limit=$(( $(date +%s) + $1 ))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$limit" ] || return 1
		sleep 0.2
	done
}

# load_static_ruleset DEVICES N M: the shipped static ruleset, with its three
# settings replaced the way an operator edits them.
load_static_ruleset() {
	local devs=$1 n=$2 m=$3 f=$TMP/static.nft
	sed -e "s/^define FLOW_DEVICES = .*/define FLOW_DEVICES = { $devs }/" \
	    -e "s/^define OFFLOAD_FROM_PACKET = .*/define OFFLOAD_FROM_PACKET = $n/" \
	    -e "s/^define OFFLOAD_UNTIL_PACKET = .*/define OFFLOAD_UNTIL_PACKET = $m/" \
	    "$STATIC_NFT" >"$f"
	grep -q "^define FLOW_DEVICES = { $devs }$" "$f" &&
		grep -q "^define OFFLOAD_FROM_PACKET = $n$" "$f" &&
		grep -q "^define OFFLOAD_UNTIL_PACKET = $m$" "$f" ||
		fail "the static ruleset's define lines changed; update lib.sh"
	nsr nft -f "$f" || fail "router refused the static ruleset"
}

# ns_nft_counter NS FAMILY TABLE CHAIN COMMENT [packets|bytes]: the counter
# of the rule carrying that comment, in namespace NS.  A rule or counter that
# does not exist prints "missing" (so arithmetic and test(1) on it fail) and
# is recorded: the test fails at its next check or at exit (see check()).
ns_nft_counter() {
	local what=${6:-packets} v
	v=$(ip netns exec "$1" nft list chain "$2" "$3" "$4" 2>/dev/null |
		awk -v c="comment \"$5\"" -v w="$what" '
			index($0, c) {
				for (i = 1; i + 4 <= NF; i++)
					if ($i == "counter" && $(i + 1) == "packets") {
						print (w == "bytes" ? $(i + 4) : $(i + 2))
						exit
					}
			}')
	if [ -z "$v" ]; then
		echo "no counter on a rule with comment \"$5\" in chain $2 $3 $4 (namespace $1)" >>"$MISSING_COUNTERS"
		v=missing
	fi
	echo "$v"
}

# nft_counter FAMILY TABLE CHAIN COMMENT [packets|bytes]: ns_nft_counter in
# the router.
nft_counter() { ns_nft_counter "$NS_R" "$@"; }

# ct_line PROTO PORT: the router's conntrack entry of the flow to that port.
ct_line() {
	nsr conntrack -L -p "$1" --dport "$2" -f "${3:-ipv4}" 2>/dev/null | head -n1
}

# ct_field LINE KEY N: the Nth value of KEY= in a conntrack line (1 = original).
ct_field() {
	echo "$1" | tr ' ' '\n' | grep "^$2=" | sed -n "${3:-1}p" | cut -d= -f2
}

# lacks PATTERN TEXT: true when TEXT does not contain PATTERN.  An empty TEXT
# is no evidence (a conntrack entry or listing that was not found): false.
lacks() {
	if [ -z "$2" ]; then
		echo "# lacks: nothing to look for \"$1\" in (the entry or listing is empty)"
		return 1
	fi
	! grep -q -- "$1" <<<"$2"
}

# ---- the agent --------------------------------------------------------------
AGENT=$FLOWOFFLOAD_BUILDDIR/flowoffloadd
AGENTCTL=$FLOWOFFLOAD_BUILDDIR/flowoffloadctl
AGENT_SOCK=$TMP/flowoffload.sock
AGENT_PID=

# agent_config FILE [EXTRA INI LINES...]: a config for the demo topology;
# extra lines are appended (later sections may repeat none of the keys).
agent_config() {
	local f=$1
	shift
	{
		echo "[devices]"
		echo "devices = lan0 wan0"
		echo "[agent]"
		echo "socket = $AGENT_SOCK"
		echo "status-interval = 200ms"
		printf '%s\n' "$@"
	} >"$f"
}

# agent_start CONFIG: run flowoffloadd in the router, wait for its socket.
agent_start() {
	[ -x "$AGENT" ] || skip "flowoffloadd not built at $AGENT"
	# Not through nsr: a backgrounded function is a subshell, and the pid
	# must be the agent's own (ip netns exec execs it) for signals to reach it.
	# shellcheck disable=SC2086 # AGENT_ARGS: extra words (-v) for a test
	ip netns exec "$NS_R" "$AGENT" -f ${AGENT_ARGS:-} -c "$1" >>"$TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	if ! wait_for 20 test -S "$AGENT_SOCK"; then
		cat "$TMP/agent.log"
		fail "flowoffloadd did not start"
	fi
	wait_for 10 agentctl status >/dev/null || fail "flowoffloadd does not answer"
}

agentctl() { nsr "$AGENTCTL" -s "$AGENT_SOCK" "$@"; }

# probe_slow_tcp PORT: table inet probe, after the agent's chains (filter +
# 20), counts every forwarded TCP packet of a flow to PORT that the fast
# path did not take: nft_counter inet probe forward slow.
probe_slow_tcp() {
	nsr nft -f - <<EOF || fail "cannot load the probe table"
table inet probe {
	chain forward {
		type filter hook forward priority filter + 20; policy accept;
		meta l4proto tcp ct original proto-dst $1 counter comment "slow"
	}
}
EOF
}

# run_tcp_mice PORT COUNT: COUNT short TCP request/response connections (1
# KiB each, fewer than a dozen packets) to the server at S4:PORT, one after
# the other; returns when the server has served them all.
run_tcp_mice() {
	local port=$1 n=$2 srv i
	nss "$FLOWGEN" server -a $S4 -p "$port" -n "$n" -t 240 >"$TMP/srvmice$port" 2>&1 &
	srv=$!
	wait_for 10 grep -q listening "$TMP/srvmice$port" || fail "mice server $port did not start"
	for i in $(seq "$n"); do
		nsc "$FLOWGEN" client -a $S4 -p "$port" -s 1k -t 30 >/dev/null 2>&1 || fail "mouse $i failed"
	done
	wait $srv || fail "mice server $port failed"
}

# start_held_elephant FAM PORT SIZE TIMEOUT: a TCP server on PORT and a
# client that sends SIZE, prints "stage 1 done" to $TMP/cliPORT and waits
# for a line on the fd in $ctl_PORT (its pid in $cpid_PORT) before closing.
start_held_elephant() {
	local fam=$1 port=$2 size=$3 t=$4 addr fd
	if [ "$fam" = ipv6 ]; then addr=$S6; else addr=$S4; fi
	nss "$FLOWGEN" server -a "$addr" -p "$port" -t "$t" >"$TMP/srv$port" 2>&1 &
	wait_for 10 grep -q listening "$TMP/srv$port" || fail "server $port did not start"
	mkfifo "$TMP/ctl$port"
	nsc "$FLOWGEN" client -a "$addr" -p "$port" -s "$size" -w -t "$t" <"$TMP/ctl$port" >"$TMP/cli$port" 2>&1 &
	eval "cpid_$port=\$!"
	exec {fd}>"$TMP/ctl$port"
	eval "ctl_$port=$fd"
}

# agent_stop: SIGTERM, bounded wait; its exit code is returned.
agent_stop() {
	local rc=0
	[ -n "$AGENT_PID" ] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null
	wait_for 10 sh -c "! kill -0 $AGENT_PID 2>/dev/null" || kill -9 "$AGENT_PID"
	wait "$AGENT_PID" || rc=$?
	AGENT_PID=
	return $rc
}

# agent_flow_field PROTO DPORT FIELD: a field of the agent's record of the
# flow to that server port (flowoffloadctl flows --json).
agent_flow_field() {
	agentctl flows --json | jq -r --arg p "$1" --argjson d "$2" --arg f "$3" \
		'[.[] | select(.proto == $p and .dport == $d)][0][$f] // "none"'
}

# client_addresses COUNT: the client namespace looks like COUNT LAN hosts:
# its new TCP and UDP connections leave from 198.18.0.100.. and
# 2001:db8:0:100::2.. (each in its own /64, as distinct IPv6 hosts are), in
# turn (SNAT with numgen in the client namespace, so the router's
# conntrack, and the agent, see COUNT distinct clients).  The router
# reaches them on lan0.  The IPv6 ones are deprecated (preferred_lft 0):
# otherwise source address selection may pick one of them, as equal to
# C6 in prefix length toward the server (seen: every IPv6 flow of the mix
# from one of them, one client to the agent).
client_addresses() {
	local n=$1 i map4='' map6=''
	for i in $(seq 0 $((n - 1))); do
		nsc ip addr add 198.18.0.$((100 + i))/32 dev eth0 || fail "cannot add client address $i"
		nsc ip addr add 2001:db8:0:$((100 + i))::2/128 dev eth0 nodad preferred_lft 0 ||
			fail "cannot add client address $i (IPv6)"
		map4="$map4${map4:+, }$i : 198.18.0.$((100 + i))"
		map6="$map6${map6:+, }$i : 2001:db8:0:$((100 + i))::2"
	done
	nsr ip -6 route add 2001:db8:0:100::/56 dev lan0 || fail "no route to the client addresses"
	nsc nft -f - <<NFT || fail "cannot load the client's SNAT table"
table ip fo_clients {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		meta l4proto { tcp, udp } snat to numgen inc mod $n map { $map4 }
	}
}
table ip6 fo_clients {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		meta l4proto { tcp, udp } snat to numgen inc mod $n map { $map6 }
	}
}
NFT
}
