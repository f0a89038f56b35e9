#!/bin/bash
# Proves the identity flowoffload.service gives the agent works: a non-root
# user with CAP_NET_ADMIN as its only (ambient) capability and no new
# privileges, its socket in a directory of its own (the unit's
# RuntimeDirectory), installs, reloads and removes its ruleset.
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip nft ping jq setpriv
topology_up

# What systemd does for User= + RuntimeDirectory=: an unprivileged uid
# owning the socket's directory.  65534 stands for the flowoffload user.
chmod 755 "$TMP"
mkdir -m 0755 "$TMP/run" && chown 65534:65534 "$TMP/run"
AGENT_SOCK=$TMP/run/flowoffload.sock
agent_config "$TMP/agent.conf" "[hardware]" "mode = off"
chmod 644 "$TMP/agent.conf"
[ -x "$AGENT" ] || skip "flowoffloadd not built at $AGENT"

# User=, AmbientCapabilities=CAP_NET_ADMIN, CapabilityBoundingSet=CAP_NET_ADMIN,
# NoNewPrivileges=yes, as setpriv spells them.
ip netns exec "$NS_R" setpriv --reuid=65534 --regid=65534 --clear-groups \
	--inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin \
	--bounding-set=-all,+net_admin --no-new-privs \
	"$AGENT" -f -c "$TMP/agent.conf" >>"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
wait_for 20 test -S "$AGENT_SOCK" || { cat "$TMP/agent.log"; fail "flowoffloadd did not start as uid 65534"; }
wait_for 10 agentctl status >/dev/null || fail "flowoffloadd does not answer"

capf() { awk -v k="$1:" '$1 == k { print $2 }' /proc/$AGENT_PID/status; }
check "it runs as uid 65534 ($(awk '/^Uid:/ { print $2 }' /proc/$AGENT_PID/status))" \
	test "$(awk '/^Uid:/ { print $2 }' /proc/$AGENT_PID/status)" = 65534
check "with CAP_NET_ADMIN only ($(capf CapEff))" test "$(capf CapEff)" = 0000000000001000
check "its table is installed" sh -c "ip netns exec $NS_R nft list table inet flowoffload >/dev/null"
check "the socket belongs to it" test "$(stat -c %u "$AGENT_SOCK")" = 65534
check "so does the instance lock" test "$(stat -c %u "$AGENT_SOCK.lock")" = 65534

# Real traffic still reaches it: a flow is tracked and offloaded.
nss "$FLOWGEN" server -a $S4 -p 6901 -n 1 -t 60 >"$TMP/srv" 2>&1 &
wait_for 10 grep -q listening "$TMP/srv" || fail "server did not start"
nsc "$FLOWGEN" client -a $S4 -p 6901 -s 2M -t 60 >/dev/null 2>&1 || fail "the transfer failed"
check "it heard the flow" wait_for 10 sh -c "[ \$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK stats --json | jq .events.new) -ge 1 ]"

printf '[offload]\nwindow-from = 7\n' >>"$TMP/agent.conf"
kill -HUP "$AGENT_PID"
# window_is N: the window gate returns packets before N, the offload rule
# ends at 1000.
window_is() {
	local l
	l=$(nsr nft list chain inet flowoffload forward)
	grep -q "ct packets < $1 return comment \"window-gate\"" <<<"$l" &&
		grep -q "ct packets <= 1000 .*comment \"offload-tcp\"" <<<"$l"
}
check "SIGHUP reloads: the rule's window is now 7-1000" wait_for 20 window_is 7
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
check "SIGTERM removed its table" sh -c "! ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
check "no error in its log" sh -c "! grep -E 'error|cannot' $TMP/agent.log"
