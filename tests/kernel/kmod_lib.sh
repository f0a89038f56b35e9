# kmod_lib.sh: helpers of the tests of fonic, the emulated flowtable-offload
# NIC (tests/kmod/): load the module into the running kernel, build the
# client/router/server topology on fonic pairs, read the chip's debugfs.
# Source it after lib.sh.
# shellcheck shell=bash

FONIC_KO=$FLOWOFFLOAD_BUILDDIR/tests/kmod/fonic.ko
FONIC_DBG=/sys/kernel/debug/fonic
# shellcheck disable=SC2034 # used by the tests that source this file
XFER=$FLOWOFFLOAD_SRCDIR/tests/kmod/xfer.py

# fonic_load [PARAM=VALUE...]: a fresh instance of the module (an old one is
# unloaded first, which deletes its devices); skips when it cannot load.
fonic_load() {
	local vermagic
	[ -f "$FONIC_KO" ] || skip "fonic.ko is not built (run tests/kmod/build)"
	command -v insmod >/dev/null 2>&1 || skip "missing tool: insmod"
	vermagic=$(modinfo -F vermagic "$FONIC_KO" 2>/dev/null | cut -d' ' -f1)
	[ "$vermagic" = "$(uname -r)" ] ||
		skip "fonic.ko is built for ${vermagic:-an unknown kernel}, this is $(uname -r)"
	if [ ! -d /sys/kernel/debug/fonic ] && ! mountpoint -q /sys/kernel/debug; then
		mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null ||
			skip "no debugfs"
	fi
	if grep -q '^fonic ' /proc/modules; then
		rmmod fonic || fail "cannot unload the previous fonic module"
	fi
	insmod "$FONIC_KO" "$@" || skip "insmod fonic.ko refused (module loading disabled?)"
	[ -d "$FONIC_DBG" ] || fail "fonic loaded but $FONIC_DBG is missing"
	info "fonic loaded ($*), $(modinfo -F vermagic "$FONIC_KO")"
}

fonic_unload() {
	grep -q '^fonic ' /proc/modules || return 0
	rmmod fonic
}

# fonic_pair NS_A NAME_A NS_B NAME_B: a fonic pair, NAME_A in NS_A and its
# peer NAME_B in NS_B (created as NAME_A + "p", then moved and renamed).
fonic_pair() {
	local tmp=${2}p
	ip -n "$1" link add "$2" type fonic || fail "cannot create the fonic pair $2"
	ip -n "$1" link set "$tmp" netns "$3" name "$4" ||
		fail "cannot move the fonic peer $tmp to $3 as $4"
}

# fonic_links: lib.sh's two links as fonic pairs: lan0 and wan0 are ports of
# the emulated chip, the endpoints' eth0 their peers.
fonic_links() {
	fonic_pair "$NS_R" lan0 "$NS_C" eth0
	fonic_pair "$NS_R" wan0 "$NS_S" eth0
}

# fonic_topology_up: lib.sh's topology (same names and addresses) on fonic.
fonic_topology_up() { topology_up fonic_links; }

# load_offload_ruleset DEVICES N M [offload|software]: the shipped static
# ruleset with `flags offload` added to its flowtable (or not).
load_offload_ruleset() {
	local devs=$1 n=$2 m=$3 mode=${4:-offload} f=$TMP/static-offload.nft
	load_static_ruleset "$devs" "$n" "$m" >/dev/null
	if [ "$mode" = offload ]; then
		awk '{ print } /^[[:space:]]*flowtable ft \{/ { print "\t\tflags offload" }' \
			"$TMP/static.nft" >"$f"
		grep -q "flags offload" "$f" || fail "cannot add flags offload to the static ruleset"
		nsr nft -f "$f" || fail "router refused the static ruleset with flags offload"
	fi
}

# fonic_counter NAME: a counter of the whole chip (debugfs counters).
# A counter the chip does not have prints "missing" and fails the test, as
# nft_counter does.
fonic_counter() {
	local v
	v=$(awk -v k="$1" '$1 == k { print $2; exit }' "$FONIC_DBG/counters" 2>/dev/null)
	if [ -z "$v" ]; then
		echo "no counter $1 in $FONIC_DBG/counters" >>"$MISSING_COUNTERS"
		v=missing
	fi
	echo "$v"
}

# fonic_dev_counter NS DEV FIELD: a field of one port's line in debugfs
# devices, the port named DEV in namespace NS.
fonic_dev_counter() {
	local inum
	inum=$(ip netns exec "$1" stat -L -c %i /proc/self/ns/net)
	awk -v n="name=$2" -v ns="netns=$inum" -v f="$3" '
		{ hit = 0; v = ""
		  for (i = 1; i <= NF; i++) {
			if ($i == n) hit++
			if ($i == ns) hit++
			if (index($i, f "=") == 1) v = substr($i, length(f) + 2)
		  }
		  if (hit == 2) { print v; found = 1; exit } }
		END { if (!found) print -1 }' "$FONIC_DBG/devices"
}

# fonic_entries PATTERN...: the chip's table entries whose line holds every
# PATTERN (whole key=value tokens, e.g. dport=5201 dir=original).
fonic_entries() {
	awk -v pats="$*" '
		BEGIN { n = split(pats, p, " ") }
		{ ok = 1
		  for (j = 1; j <= n; j++) {
			hit = 0
			for (i = 1; i <= NF; i++) if ($i == p[j]) { hit = 1; break }
			if (!hit) { ok = 0; break }
		  }
		  if (ok) print }' "$FONIC_DBG/table"
}

# fonic_sum FIELD PATTERN...: FIELD summed over the matching entries.
fonic_sum() {
	local f=$1
	shift
	fonic_entries "$@" | awk -v f="$f" '
		{ for (i = 1; i <= NF; i++) if (index($i, f "=") == 1) s += substr($i, length(f) + 2) }
		END { print s + 0 }'
}

# fonic_count_entries PATTERN...: how many entries match.
fonic_count_entries() { fonic_entries "$@" | wc -l; }

# ct_hw_count PROTO: conntrack entries of the router marked [HW_OFFLOAD].
ct_hw_count() {
	nsr conntrack -L -p "$1" 2>/dev/null | grep -c 'HW_OFFLOAD' || true
}

# A probe table on the router: a netdev ingress chain on both fonic ports
# (before the flowtable's hook) counts every packet the host stack receives,
# a forward chain every packet the slow path forwards.
# load_probe PORT...
load_probe() {
	local p rules_in="" rules_fw=""
	for p in "$@"; do
		rules_in="$rules_in
		meta l4proto { tcp, udp } th dport $p counter comment \"in-$p\"
		meta l4proto { tcp, udp } th sport $p counter comment \"in-$p-back\""
		rules_fw="$rules_fw
		meta l4proto { tcp, udp } ct original proto-dst $p counter comment \"fw-$p\""
	done
	nsr nft -f - <<EOF || fail "cannot load the probe tables"
table netdev fonicprobe
delete table netdev fonicprobe
table netdev fonicprobe {
	chain in {
		type filter hook ingress devices = { lan0, wan0 } priority -500; policy accept;$rules_in
	}
}
table inet fonicfw
delete table inet fonicfw
table inet fonicfw {
	chain forward {
		type filter hook forward priority filter - 50; policy accept;$rules_fw
	}
}
EOF
}

# stack_seen PORT...: packets of these ports (either direction) the host
# stack received on lan0/wan0 (one nft call for all of them).
stack_seen() {
	nsr nft list chain netdev fonicprobe in | awk -v ports="$*" '
		BEGIN { n = split(ports, p, " "); for (j = 1; j <= n; j++) want["\"in-" p[j] "\""] = want["\"in-" p[j] "-back\""] = 1 }
		{ c = ""
		  for (i = 1; i <= NF; i++) if ($i == "comment") c = $(i + 1)
		  if (!(c in want)) next
		  for (i = 1; i + 2 <= NF; i++) if ($i == "counter" && $(i + 1) == "packets") s += $(i + 2) }
		END { print s + 0 }'
}
# Packets of a port the router's forward chain saw.
forward_seen() { nft_counter inet fonicfw forward "fw-$1"; }

# python3 for xfer.py (the Debian one when there is a choice).
PYTHON=$(command -v /usr/bin/python3 || command -v python3 || true)

require_xfer() {
	[ -n "$PYTHON" ] || skip "python3 is needed for the payload checksums"
}

# payload FILE SIZE: random bytes to transfer.
payload() {
	head -c "$2" /dev/urandom >"$1" || fail "cannot write $1"
}

# fonic_rules_logged [N]: the last N rules the kernel offered the chip, as
# logged with verbose=1 (what nf_flow_table_offload really builds).
fonic_rules_logged() {
	dmesg | grep 'fonic: REPLACE' | tail -n "${1:-4}" | sed 's/^\[[ 0-9.]*\] //'
}
