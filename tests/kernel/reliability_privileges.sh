#!/bin/bash
# Proves flowoffloadd refuses to start without CAP_NET_ADMIN and names it,
# and that once its control socket is open it runs with CAP_NET_ADMIN alone
# (and no new privileges) yet still restores, reloads and removes its
# ruleset: as root by default, and as a dedicated user ([agent] user),
# switched to before it opens any netlink socket, or started as that user
# with an ambient CAP_NET_ADMIN (systemd User= and AmbientCapabilities=).
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip nft conntrack ping jq setpriv
topology_up

# The refusals read the config first: readable by anyone for the non-root run.
chmod 755 "$TMP"
agent_config "$TMP/agent.conf"
chmod 644 "$TMP/agent.conf"
[ -x "$AGENT" ] || skip "flowoffloadd not built at $AGENT"

info "---- refusals"
out=$(ip netns exec "$NS_R" setpriv --reuid=65534 --regid=65534 --clear-groups "$AGENT" -f -c "$TMP/agent.conf" 2>&1)
rc=$?
info "as uid 65534: $out (exit $rc)"
check "a non-root start without the capability is refused" test "$rc" -eq 1
check "naming the missing capability" \
	test "$out" = "flowoffloadd: needs CAP_NET_ADMIN (missing from the effective set)"
out=$(ip netns exec "$NS_R" setpriv --bounding-set=-net_admin "$AGENT" -f -c "$TMP/agent.conf" 2>&1)
rc=$?
info "as root without CAP_NET_ADMIN: $out (exit $rc)"
check "so is root without it" test "$rc" -eq 1 -a \
	"$out" = "flowoffloadd: needs CAP_NET_ADMIN (missing from the effective set)"
check "and neither touched anything" sh -c "! ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
check "nor left a control socket" test ! -e "$AGENT_SOCK"

info "---- the running agent"
agent_start "$TMP/agent.conf"
grep -E '^(Uid|Cap[A-Za-z]+|NoNewPrivs):' /proc/$AGENT_PID/status | sed 's/^/# /'
capf() { awk -v k="$1:" '$1 == k { print $2 }' /proc/$AGENT_PID/status; }
check "CapEff is CAP_NET_ADMIN only ($(capf CapEff))" test "$(capf CapEff)" = 0000000000001000
check "CapPrm too ($(capf CapPrm))" test "$(capf CapPrm)" = 0000000000001000
check "the bounding set too ($(capf CapBnd))" test "$(capf CapBnd)" = 0000000000001000
check "nothing inheritable or ambient" test "$(capf CapInh)" = 0000000000000000 -a "$(capf CapAmb)" = 0000000000000000
check "no new privileges" test "$(capf NoNewPrivs)" = 1
# The default, without [agent] user: the README says why root stays.
check "without [agent] user the uid stays 0 ($(grep '^Uid:' /proc/$AGENT_PID/status | tr -s '\t ' ' '))" \
	test "$(awk '$1 == "Uid:" { print $2 $3 $4 $5 }' /proc/$AGENT_PID/status)" = 0000
check "stats show the same set" test "$(agentctl stats --json | jq .process.capabilities)" -eq 4096

# What it still has to do with CAP_NET_ADMIN alone.
nsr nft delete table inet flowoffload || fail "cannot delete the agent's table"
check "it restores its table" wait_for 10 sh -c "ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
# The reload is proven in the kernel: the new window reaches the ruleset.
# window_is N: the window gate returns packets before N, the offload rule
# ends at 1000.
window_is() {
	local l
	l=$(nsr nft list chain inet flowoffload forward)
	grep -q "ct packets < $1 return comment \"window-gate\"" <<<"$l" &&
		grep -q "ct packets <= 1000 .*comment \"offload-tcp\"" <<<"$l"
}
# The default window (the example config shows it), and the reload's.
W0=$(sed -n 's/^window-from = \([0-9]*\)$/\1/p' "$FLOWOFFLOAD_SRCDIR/flowoffload.conf.example")
[ -n "$W0" ] || fail "no window-from line in flowoffload.conf.example"
W1=$((W0 + 2))
check "the installed window is $W0-1000 before the reload" window_is "$W0"
printf '[offload]\nwindow-from = %s\n' "$W1" >>"$TMP/agent.conf"
kill -HUP "$AGENT_PID"
check "it reloads its config: the kernel's offload rule now has the window $W1-1000" wait_for 20 window_is "$W1"
check "and says so in its log" grep -q "configuration $TMP/agent.conf reloaded" "$TMP/agent.log"
check "it still lists conntrack" agentctl flows
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
check "it removed its table on SIGTERM" sh -c "! ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
check "and its control socket" test ! -e "$AGENT_SOCK"
check "no error in its log" sh -c "! grep -E 'error|cannot' $TMP/agent.log"
mv "$TMP/agent.log" "$TMP/agent-root.log"

# ---- a dedicated user --------------------------------------------------------
# A bare uid and gid: no such user in /etc/passwd, so the test changes no
# file of the machine (in direct mode that is the host's).  The socket
# lives in a directory the user owns, as systemd's RuntimeDirectory= makes
# it, so the agent can remove it at exit; its group is an existing one.
AGENT_UID=64123
CLIENT_UID=64124
SOCK_GROUP=users
SOCK_GID=$(getent group $SOCK_GROUP | cut -d: -f3)
[ -n "$SOCK_GID" ] || skip "no group $SOCK_GROUP for the control socket"
mkdir -m 755 "$TMP/run" "$TMP/run2" && chown $AGENT_UID:$AGENT_UID "$TMP/run" &&
	chown $CLIENT_UID:$CLIENT_UID "$TMP/run2" || fail "cannot make the socket directories"
statf() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ +/, ""); print }' /proc/$AGENT_PID/status; }
ids4() { echo "$1 $1 $1 $1"; }
show_status() { grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]+|NoNewPrivs):' /proc/$AGENT_PID/status | sed 's/^/# /'; }
# sock_owners: the uid that opened each of the agent's sockets (a socket's
# inode belongs to the fsuid of its creator), as "netlink:UID" and "unix:UID"
# lines, from the router namespace's /proc/net tables.
sock_owners() {
	local nl unix fd l ino
	nl=$(nsr awk 'NR > 1 { print $NF }' /proc/net/netlink)
	unix=$(nsr awk 'NR > 1 { print $7 }' /proc/net/unix)
	for fd in /proc/$AGENT_PID/fd/*; do
		l=$(readlink "$fd") || continue
		case $l in socket:*) ;; *) continue ;; esac
		ino=${l#socket:[}
		ino=${ino%]}
		if grep -qx "$ino" <<<"$nl"; then
			echo "netlink:$(stat -L -c %u "$fd")"
		elif grep -qx "$ino" <<<"$unix"; then
			echo "unix:$(stat -L -c %u "$fd")"
		fi
	done
}

info "---- started as root with [agent] user = $AGENT_UID: it switches before the install and the dump"
AGENT_SOCK=$TMP/run/flowoffload.sock
agent_config "$TMP/user.conf" "socket-group = $SOCK_GROUP" "user = $AGENT_UID" "group = $AGENT_UID"
chmod 644 "$TMP/user.conf"
agent_start "$TMP/user.conf"
show_status
check "Uid: real, effective, saved and fs are $AGENT_UID ($(statf Uid))" test "$(statf Uid)" = "$(ids4 $AGENT_UID)"
check "Gid: all $AGENT_UID ($(statf Gid))" test "$(statf Gid)" = "$(ids4 $AGENT_UID)"
check "no supplementary group ('$(statf Groups)')" test -z "$(statf Groups)"
check "CapEff is CAP_NET_ADMIN only ($(statf CapEff))" test "$(statf CapEff)" = 0000000000001000
check "CapPrm too ($(statf CapPrm))" test "$(statf CapPrm)" = 0000000000001000
check "the bounding set too ($(statf CapBnd))" test "$(statf CapBnd)" = 0000000000001000
check "nothing inheritable or ambient" test "$(statf CapInh) $(statf CapAmb)" = "0000000000000000 0000000000000000"
check "no new privileges" test "$(statf NoNewPrivs)" = 1
owners=$(sock_owners | sort | uniq -c | tr -s ' \n' ' ')
info "socket owners: $owners"
check "the control socket was made as root, before the switch (the positive control of the next check)" \
	test "$(sock_owners | grep -c '^unix:0$')" -ge 1
check "every netlink socket (nftables, monitor, conntrack) was opened as uid $AGENT_UID: the ruleset install and the startup dump came after the switch" \
	test "$(sock_owners | grep -c '^netlink:')" -ge 4 -a "$(sock_owners | grep '^netlink:' | grep -vc ":$AGENT_UID$")" = 0
check "its log says the switch came before the startup" \
	test "$(grep -n 'running as uid' "$TMP/agent.log" | cut -d: -f1)" -lt "$(grep -n 'running: ' "$TMP/agent.log" | cut -d: -f1)"
check "as uid $AGENT_UID it installed its table" nsr nft list table inet flowoffload
check "the lock file is the user's" test "$(stat -c %u "$AGENT_SOCK.lock")" = $AGENT_UID
check "the control socket keeps its group $SOCK_GROUP ($(stat -c %G "$AGENT_SOCK"))" \
	test "$(stat -c %g "$AGENT_SOCK")" = "$SOCK_GID"
out=$(nsr setpriv --reuid=$CLIENT_UID --regid=$CLIENT_UID --groups=$SOCK_GID "$AGENTCTL" -s "$AGENT_SOCK" status 2>&1)
rc=$?
check "a member of $SOCK_GROUP (uid $CLIENT_UID) gets its status (exit $rc)" test "$rc" = 0 -a -n "$out"
out=$(nsr setpriv --reuid=$CLIENT_UID --regid=$CLIENT_UID --clear-groups "$AGENTCTL" -s "$AGENT_SOCK" status 2>&1)
rc=$?
info "not a member: $out (exit $rc)"
check "a non-member is refused by the socket's mode" test "$rc" != 0

# An elephant through the router: offloaded under the user's agent.
nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=600 || fail "cannot raise the flowtable idle timeout"
start_held_elephant ipv4 6001 4M 120
wait_for 60 grep -q "stage 1 done" "$TMP/cli6001" || fail "the elephant did not finish: $(cat "$TMP/cli6001")"
sleep 1 # two status dumps
check "the agent ($AGENT_UID) has the elephant offloaded ($(agent_flow_field tcp 6001 state))" \
	test "$(agent_flow_field tcp 6001 state)" = offloaded
check "conntrack shows it [OFFLOAD]" grep -q OFFLOAD <<<"$(ct_line tcp 6001)"
echo go >&"$ctl_6001"

nsr nft delete table inet flowoffload || fail "cannot delete the agent's table"
check "it restores its table as uid $AGENT_UID" wait_for 10 sh -c "ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
check "the installed window is $W0-1000 before the reload" window_is "$W0"
printf '[offload]\nwindow-from = %s\n' "$W1" >>"$TMP/user.conf"
kill -HUP "$AGENT_PID"
check "it reloads its config as uid $AGENT_UID: the kernel's offload rule now has the window $W1-1000" wait_for 20 window_is "$W1"
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
check "it removed its table on SIGTERM" sh -c "! ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
check "and its control socket (in the user's directory)" test ! -e "$AGENT_SOCK"
check "no error in its log" sh -c "! grep -E 'error|cannot' $TMP/agent.log"
mv "$TMP/agent.log" "$TMP/agent-user.log"

info "---- started as uid $AGENT_UID with an ambient CAP_NET_ADMIN (systemd User=, AmbientCapabilities=)"
agent_config "$TMP/amb.conf" "user = $AGENT_UID"
chmod 644 "$TMP/amb.conf"
# Not through nsr: the pid must be the agent's (ip netns exec and setpriv exec it).
ip netns exec "$NS_R" setpriv --reuid=$AGENT_UID --regid=$AGENT_UID --clear-groups \
	--inh-caps=+net_admin --ambient-caps=+net_admin "$AGENT" -f -c "$TMP/amb.conf" >>"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
wait_for 20 test -S "$AGENT_SOCK" || fail "flowoffloadd did not start as uid $AGENT_UID: $(cat "$TMP/agent.log")"
wait_for 10 agentctl status >/dev/null || fail "flowoffloadd does not answer"
show_status
check "Uid: all $AGENT_UID ($(statf Uid))" test "$(statf Uid)" = "$(ids4 $AGENT_UID)"
check "CapEff and CapPrm are CAP_NET_ADMIN only ($(statf CapEff) $(statf CapPrm))" \
	test "$(statf CapEff) $(statf CapPrm)" = "0000000000001000 0000000000001000"
check "the ambient and inheritable sets are cleared ($(statf CapAmb) $(statf CapInh))" \
	test "$(statf CapAmb) $(statf CapInh)" = "0000000000000000 0000000000000000"
check "no new privileges" test "$(statf NoNewPrivs)" = 1
check "it installed its table" nsr nft list table inet flowoffload
nsr nft delete table inet flowoffload || fail "cannot delete the agent's table"
check "and restores it" wait_for 10 sh -c "ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
check "it removed its table on SIGTERM" sh -c "! ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
check "no error in its log" sh -c "! grep -E 'error|cannot' $TMP/agent.log"

info "---- started as another user (uid $CLIENT_UID) with CAP_NET_ADMIN but [agent] user = $AGENT_UID"
AGENT_SOCK=$TMP/run2/flowoffload.sock
agent_config "$TMP/wrong.conf" "user = $AGENT_UID"
chmod 644 "$TMP/wrong.conf"
out=$(ip netns exec "$NS_R" setpriv --reuid=$CLIENT_UID --regid=$CLIENT_UID --clear-groups \
	--inh-caps=+net_admin --ambient-caps=+net_admin "$AGENT" -f -c "$TMP/wrong.conf" 2>&1)
rc=$?
info "$out (exit $rc)"
check "it refuses to run as a user it was not told to be (exit $rc)" test "$rc" = 1
check "and says why: it cannot become $AGENT_UID" grep -q "cannot drop privileges: switching to user $AGENT_UID .*start it as root, or as that user" <<<"$out"
check "and installed nothing" sh -c "! ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
echo "PASS: CAP_NET_ADMIN required and the only capability kept; as a dedicated user, switched to before the install and the startup dump"
