#!/bin/bash
# Proves flowoffloadd refuses to start without CAP_NET_ADMIN and names it,
# and that once its sockets are open it runs with CAP_NET_ADMIN alone (and no
# new privileges) yet still restores, reloads and removes its ruleset.
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
check "stats show the same set" test "$(agentctl stats --json | jq .process.capabilities)" -eq 4096

# What it still has to do with CAP_NET_ADMIN alone.
nsr nft delete table inet flowoffload || fail "cannot delete the agent's table"
check "it restores its table" wait_for 10 sh -c "ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
# The reload is proven in the kernel: the new window reaches the ruleset.
window_is() { nsr nft list chain inet flowoffload forward | grep -q "ct packets $1-1000 .*comment \"offload-tcp\""; }
check "the installed window is 5-1000 before the reload" window_is 5
printf '[offload]\nwindow-from = 7\n' >>"$TMP/agent.conf"
kill -HUP "$AGENT_PID"
check "it reloads its config: the kernel's offload rule now has the window 7-1000" wait_for 20 window_is 7
check "and says so in its log" grep -q "configuration $TMP/agent.conf reloaded" "$TMP/agent.log"
check "it still lists conntrack" agentctl flows
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
check "it removed its table on SIGTERM" sh -c "! ip netns exec $NS_R nft list table inet flowoffload >/dev/null 2>&1"
check "and its control socket" test ! -e "$AGENT_SOCK"
check "no error in its log" sh -c "! grep -E 'error|cannot' $TMP/agent.log"
echo "PASS: CAP_NET_ADMIN required and the only capability kept"
