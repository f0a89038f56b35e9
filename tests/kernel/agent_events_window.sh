#!/bin/bash
# Proves [agent] events = window: the ruleset gives every new conntrack an
# empty event mask, so flows that never reach packet N cost the kernel no
# ctnetlink event at all (not even for other listeners); a flow that reaches
# the window is reported once (UPDATE, the mark the offload rule sets) and
# once more when it ends (DESTROY), and the agent tracks it as before.
. "$(dirname "$0")/lib.sh"

N=12
SHORT=300
ELEPHANTS="ipv4:6401 ipv4:6402 ipv6:6403"

require_root
require_tools ip nft conntrack ping jq timeout
STORM=$FLOWOFFLOAD_BUILDDIR/tests/tools/flowstorm
[ -x "$STORM" ] || skip "flowstorm not built at $STORM (run make)"
topology_up

agent_config "$TMP/agent.conf" "[offload]" "window-from = $N" \
	"[hardware]" "mode = off" "[agent]" "events = window"
agent_start "$TMP/agent.conf"
nsr nft list chain inet flowoffload events | grep -q 'ct event set 0x0' ||
	fail "no events chain with the quiet mask: $(nsr nft list table inet flowoffload)"
nsr sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 ||
	fail "cannot shorten TIME_WAIT"
ev() { agentctl stats --json | jq ".events.$1"; }

# A second listener, all groups: what the kernel builds for anyone.
ip netns exec "$NS_R" timeout 120 conntrack -E -o id >"$TMP/ct.events" 2>/dev/null &
watch=$!
sleep 0.5

info "---- $SHORT short UDP flows and 20 TCP mice: no event at all"
nss "$FLOWGEN" server -u -a $S4 -p 6400 -i 3 -t 60 >/dev/null 2>&1 &
nsc "$STORM" -u -a $S4 -p 6400 -n $SHORT -S 40000-40999 -T 60 ||
	fail "flowstorm failed"
run_tcp_mice 6410 20
sleep 2
created=$(nsr conntrack -L 2>/dev/null | grep -cE 'dport=(6400|6410) ')
info "conntracks of the short flows still in the table: $created"
check "the agent heard no event (new $(ev new), update $(ev update), destroy $(ev destroy))" \
	test "$(ev new) $(ev update) $(ev destroy)" = "0 0 0"
check "neither did conntrack -E ($(grep -cE 'dport=(6400|6410) ' "$TMP/ct.events") lines)" \
	test "$(grep -cE 'dport=(6400|6410) ' "$TMP/ct.events")" = 0
check "the quiet rule saw every new conntrack (counter $(nft_counter inet flowoffload events events-quiet))" \
	test "$(nft_counter inet flowoffload events events-quiet)" -ge $((SHORT + 20))

info "---- elephants: one UPDATE at packet $N, offloaded, tracked"
for e in $ELEPHANTS; do
	IFS=: read -r fam port <<<"$e"
	start_held_elephant "$fam" "$port" 1M 120
done
for e in $ELEPHANTS; do
	port=${e#*:}
	wait_for 60 grep -q "stage 1 done" "$TMP/cli$port" || fail "elephant $port made no progress"
done
offloaded() { test "$(agentctl flows --json | jq '[.[] | select(.state == "offloaded")] | length')" = 3; }
check "the agent tracks the 3 elephants as offloaded" wait_for 10 offloaded
check "exactly one UPDATE per elephant ($(ev update)), still no NEW ($(ev new))" \
	test "$(ev update) $(ev new)" = "3 0"
for e in $ELEPHANTS; do
	port=${e#*:}
	check "elephant $e is [OFFLOAD]" sh -c "ip netns exec $NS_R conntrack -L 2>/dev/null | grep 'dport=$port ' | grep -q OFFLOAD"
done

info "---- they end: one DESTROY each"
for e in $ELEPHANTS; do
	port=${e#*:}
	eval "fd=\$ctl_$port"
	echo go >&"$fd"
	exec {fd}>&-
	eval "wait \$cpid_$port" || fail "elephant $port failed: $(cat "$TMP/cli$port")"
done
destroyed() { test "$(ev destroy)" = 3; }
check "three DESTROY events (TIME_WAIT 1 s)" wait_for 20 destroyed
check "the agent no longer tracks them" test "$(agentctl status --json | jq .flows_tracked)" -le 0
kill "$watch" 2>/dev/null
wait "$watch" 2>/dev/null
info "conntrack -E saw $(wc -l <"$TMP/ct.events") events in all"
agent_stop || fail "flowoffloadd exited with an error: $(tail -n 5 "$TMP/agent.log")"
echo "PASS: events = window: no event for flows that never reach packet N, one UPDATE and one DESTROY for those that do"
