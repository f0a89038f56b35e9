#!/bin/bash
# Proves the kernel facts the device watcher stands on (6.1): a flowtable
# gains and loses a device in place (nft add/delete flowtable ... { devices
# = { x } }) while offloaded flows on its other devices keep their fast
# path; a device deleted from the kernel leaves the flowtable and its
# re-created namesake does not come back by itself.  And one the watcher
# cannot help: any device coming up flushes the IPv4 route cache, which
# tears down IPv4 flowtable entries (their cached route fails dst_check).
. "$(dirname "$0")/lib.sh"

N=5
P4=7301
P6=7302
require_root
require_tools ip nft conntrack ping
topology_up
load_static_ruleset "lan0, wan0" $N 1000
nsr nft -f - <<EOF || fail "cannot load the probe table"
table inet probe {
	chain forward {
		type filter hook forward priority filter + 20; policy accept;
		meta l4proto tcp ct original proto-dst $P4 counter comment "slow-$P4"
		meta l4proto tcp ct original proto-dst $P6 counter comment "slow-$P6"
	}
}
EOF
slow() { nft_counter inet probe forward "slow-$1"; }
ft() { nsr nft list flowtable inet flowoffload_static ft | tr -s '\t\n' '  '; }
ft_devs() { nsr nft list flowtable inet flowoffload_static ft | grep devices; }
ft_add() {
	# The update carries the flowtable's flags: 6.1 takes an update's
	# flags as the flowtable's new ones (a bare `nft add flowtable`
	# clears `counter`, see the end).
	nsr nft add flowtable inet flowoffload_static ft "{ hook ingress priority filter; devices = { $1 }; counter; }"
}
nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=600 || fail "no flowtable timeout sysctl"
# The device to add exists and is up before the elephants start: bringing
# a device up is the route-cache flush measured at the end.
nsr ip link add new0 type veth peer name new1
nsr ip link set new0 up

STAGES="-s 512k -s 512k -s 512k -s 512k -s 512k"
nss "$FLOWGEN" server -a $S4 -p $P4 -t 200 >"$TMP/srv4" 2>&1 &
nss "$FLOWGEN" server -a $S6 -p $P6 -t 200 >"$TMP/srv6" 2>&1 &
wait_for 10 grep -q listening "$TMP/srv4" || fail "server 4 did not start"
wait_for 10 grep -q listening "$TMP/srv6" || fail "server 6 did not start"
mkfifo "$TMP/ctl4" "$TMP/ctl6"
# shellcheck disable=SC2086
nsc "$FLOWGEN" client -a $S4 -p $P4 $STAGES -w -t 200 <"$TMP/ctl4" >"$TMP/cli4" 2>&1 &
# shellcheck disable=SC2086
nsc "$FLOWGEN" client -a $S6 -p $P6 $STAGES -w -t 200 <"$TMP/ctl6" >"$TMP/cli6" 2>&1 &
exec {c4}>"$TMP/ctl4" {c6}>"$TMP/ctl6"
STAGE=1
stage() {
	if [ "$STAGE" -gt 1 ]; then
		echo go >&"$c4"
		echo go >&"$c6"
	fi
	wait_for 60 grep -q "stage $STAGE done" "$TMP/cli4" || fail "v4 stage $STAGE did not finish"
	wait_for 60 grep -q "stage $STAGE done" "$TMP/cli6" || fail "v6 stage $STAGE did not finish"
	STAGE=$((STAGE + 1))
}
stage
check "the IPv4 elephant is [OFFLOAD]" grep -q OFFLOAD <<<"$(ct_line tcp $P4)"
check "the IPv6 elephant is [OFFLOAD]" grep -q OFFLOAD <<<"$(ct_line tcp $P6 ipv6)"
a4=$(slow $P4) a6=$(slow $P6)
info "slow-path packets after stage 1: v4 $a4, v6 $a6"
unmoved() { test "$(slow $P4)" -eq "$a4" -a "$(slow $P6)" -eq "$a6"; }
moved() { echo "v4 +$(( $(slow $P4) - a4 )), v6 +$(( $(slow $P6) - a6 ))"; }

info "---- control: a stage with no change"
stage
check "control: both elephants stay on the fast path ($(moved))" unmoved

info "---- add a device in place"
ft_add new0 || fail "nft add flowtable with one more device was refused"
info "$(ft)"
check "new0 is in the flowtable, lan0 and wan0 stayed" grep -q "lan0, new0, wan0" <<<"$(ft_devs)"
check "the counter flag stayed" grep -q counter <<<"$(ft)"
stage
check "both elephants kept their fast path across the add ($(moved))" unmoved

info "---- remove it in place"
nsr nft delete flowtable inet flowoffload_static ft "{ devices = { new0 }; }" ||
	fail "nft delete flowtable with one device was refused"
check "new0 left the flowtable" lacks new0 "$(ft_devs)"
stage
check "both elephants kept their fast path across the removal ($(moved))" unmoved
check "deleting a device the flowtable lacks fails (ENOENT)" \
	sh -c "! ip netns exec $NS_R nft delete flowtable inet flowoffload_static ft '{ devices = { new0 }; }' 2>/dev/null"

info "---- the kernel drops a deleted device's hook; the re-created one is not hooked"
ft_add new0 || fail "re-adding new0 was refused"
check "new0 is back in the flowtable" grep -q new0 <<<"$(ft_devs)"
nsr ip link del new0
info "after ip link del: $(ft_devs)"
check "the deleted device left the flowtable" lacks new0 "$(ft_devs)"
nsr ip link add new0 type veth peer name new1
sleep 1
info "after re-creating it: $(ft_devs)"
check "its re-created namesake is not hooked by itself" lacks new0 "$(ft_devs)"
check "re-adding it in place works" ft_add new0
check "and it is hooked again" grep -q new0 <<<"$(ft_devs)"
check "adding a device that does not exist fails (ENOENT)" \
	sh -c "! ip netns exec $NS_R nft add flowtable inet flowoffload_static ft '{ hook ingress priority filter; devices = { nosuch0 }; }' 2>/dev/null"
a4=$(slow $P4) a6=$(slow $P6)

info "---- a device coming up, no flowtable change"
nsr ip link set new0 up
stage
info "after ip link set new0 up: $(moved); conntrack v4: $(ct_line tcp $P4)"
check "IPv4: the route-cache flush tore the elephant's entry down (slow path again: $(moved))" \
	test "$(slow $P4)" -gt "$a4"

info "---- an update without flags clears the counter flag"
nsr nft add flowtable inet flowoffload_static ft "{ hook ingress priority filter; devices = { new0 }; }" ||
	fail "nft add flowtable without flags was refused"
info "$(ft)"
check "the flowtable lost its counter flag" lacks counter "$(ft)"
exec {c4}>&- {c6}>&-
echo "PASS: flowtable devices change in place without evicting the other devices' flows; a device coming up evicts IPv4 flows by itself"
