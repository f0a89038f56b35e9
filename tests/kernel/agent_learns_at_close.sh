#!/bin/bash
# Proves the agent's service classes learn a TCP flow when a dump first
# shows it closed, not only at its DESTROY event, which comes after
# TIME_WAIT (120 s by default): 24 request/response mice make their class
# "mice" within seconds while no DESTROY has come, and the DESTROY events
# that come later do not count them a second time.  The mice come from six
# client addresses (a class needs min-clients = 4 distinct clients); the
# same mice from one client alone leave their class without a verdict.
. "$(dirname "$0")/lib.sh"

N=12
MICE_PORT=6400
NOISY_PORT=6401
MICE=24
CLIENTS=6

require_root
require_tools ip nft conntrack jq
topology_up
client_addresses $CLIENTS

agent_config "$TMP/agent.conf" "[offload]" "window-from = $N" \
	"[agent]" "resync-interval = 2s" \
	"[classes]" "min-flows = 20"
agent_start "$TMP/agent.conf"
tw=$(nsr sysctl -n net.netfilter.nf_conntrack_tcp_timeout_time_wait)
info "conntrack TIME_WAIT timeout: $tw s"
[ "$tw" -ge 60 ] || fail "TIME_WAIT is $tw s here: too short to tell a close from a DESTROY"

stat() { agentctl stats --json | jq -r "$1"; }
class_field() { # FIELD [PORT]
	agentctl classes --json |
		jq -r --argjson p "${2:-$MICE_PORT}" "[.[] | select(.proto == \"tcp\" and .port == \$p)][0].$1 // empty"
}

run_tcp_mice $MICE_PORT $MICE
closed() { test "$(nsr conntrack -L -p tcp --orig-port-dst $MICE_PORT 2>/dev/null | grep -c TIME_WAIT)" = $MICE; }
check "all $MICE mice are in TIME_WAIT at the router" wait_for 10 closed

mice_class() { test "$(class_field verdict)" = mice; }
check "their class is learned as mice before any DESTROY (resync every 2 s)" wait_for 15 mice_class
agentctl classes | sed 's/^/#   /'
check "no DESTROY event has come yet ($(stat .events.destroy))" test "$(stat .events.destroy)" = 0
check "learned at close: $(stat .classes.learned_at_close) of $MICE" test "$(stat .classes.learned_at_close)" = $MICE
check "the class counts each mouse once ($(class_field flows))" test "$(class_field flows)" = $MICE
check "from $CLIENTS distinct clients ($(class_field clients))" test "$(class_field clients)" = $CLIENTS

info "---- their conntracks go (conntrack -D): DESTROY events, no second count"
observed=$(stat .classes.observed)
nsr conntrack -D -p tcp --orig-port-dst $MICE_PORT >/dev/null 2>&1 || fail "conntrack -D failed"
destroyed() { test "$(stat .events.destroy)" -ge $MICE; }
check "the agent got the $MICE DESTROY events" wait_for 10 destroyed
check "the classes observed nothing more ($observed, now $(stat .classes.observed))" \
	test "$(stat .classes.observed)" = "$observed"
check "the class still counts $MICE flows ($(class_field flows))" test "$(class_field flows)" = $MICE

info "---- one noisy client: the same mice from one address teach no verdict"
nsc nft delete table ip fo_clients || fail "cannot remove the client's SNAT"
run_tcp_mice $NOISY_PORT $MICE
noisy_learned() { test "$(class_field flows $NOISY_PORT)" = $MICE; }
check "the agent learned the $MICE mice of the one client" wait_for 15 noisy_learned
agentctl classes | sed 's/^/#   /'
check "from one client ($(class_field clients $NOISY_PORT))" test "$(class_field clients $NOISY_PORT)" = 1
check "and their class has no verdict: $(class_field verdict $NOISY_PORT) (min-clients = 4)" \
	test "$(class_field verdict $NOISY_PORT)" = learning
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
echo "PASS: closed TCP flows teach their class at the close, once; one client alone teaches no verdict"
