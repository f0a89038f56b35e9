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
[ -x "$STORM" ] || skip "flowstorm not built at $STORM (run make)"
topology_up

# [classes] at min-clients 1 and min-flows 5: the mice section's single
# client learns its class from a few flows.
agent_config "$TMP/agent.conf" "[offload]" "window-from = $N" \
	"[hardware]" "mode = off" "[agent]" "events = window" "resync-interval = 2s" \
	"[classes]" "min-clients = 1" "min-flows = 5"
agent_start "$TMP/agent.conf"
nsr nft list chain inet flowoffload events | grep -q 'ct event set 0x0' ||
	fail "no events chain with the quiet mask: $(nsr nft list table inet flowoffload)"
nsr sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 ||
	fail "cannot shorten TIME_WAIT"
ev() { agentctl stats --json | jq ".events.$1"; }

# A second listener, all groups: what the kernel builds for anyone.
ip netns exec "$NS_R" timeout 120 conntrack -E -o id >"$TMP/ct.events" 2>"$TMP/ct.events.err" &
watch=$!
# Positive control: the listener must be seen to hear an event before its
# silence means anything.  An entry created through ctnetlink gets no mask
# from the ruleset (no packet), so its NEW event reaches every listener; an
# ICMP one, which the agent's socket filter keeps away from the agent.
ctl_entry() {
	nsr conntrack "$1" -p icmp -s $C4 -d $S4 --icmp-type 8 --icmp-code 0 --icmp-id 4242 \
		${2:+-t 30} >/dev/null 2>&1
}
heard_control() {
	grep -q 'type=8 code=0 id=4242 ' "$TMP/ct.events" && return 0
	ctl_entry -D
	ctl_entry -I t
	return 1
}
check "conntrack -E hears events (a control entry's NEW event reached it)" wait_for 10 heard_control
ctl_entry -D
events0="$(ev new) $(ev update) $(ev destroy)"

info "---- $SHORT short UDP flows and 20 TCP mice: no event at all"
nss "$FLOWGEN" server -u -a $S4 -p 6400 -i 3 -t 60 >/dev/null 2>&1 &
nsc "$STORM" -u -a $S4 -p 6400 -n $SHORT -S 40000-40999 -T 60 ||
	fail "flowstorm failed"
run_tcp_mice 6410 20
sleep 2
created=$(nsr conntrack -L 2>/dev/null | grep -cE 'dport=(6400|6410) ')
info "conntracks of the short flows still in the table: $created"
check "the agent heard no event (new $(ev new), update $(ev update), destroy $(ev destroy); $events0 before)" \
	test "$(ev new) $(ev update) $(ev destroy)" = "$events0"
check "neither did conntrack -E ($(grep -cE 'dport=(6400|6410) ' "$TMP/ct.events") lines)" \
	test "$(grep -cE 'dport=(6400|6410) ' "$TMP/ct.events")" = 0
check "the quiet rule saw every new conntrack (counter $(nft_counter inet flowoffload events events-quiet))" \
	test "$(nft_counter inet flowoffload events events-quiet)" -ge $((SHORT + 20))
# The periodic resync (every 2 s here) dumps the whole table: the quiet
# conntracks it finds must not become tracked flows that no DESTROY ends.
# Quiet flows bring no news, and an agent whose resyncs found nothing
# spaces them out (16 intervals): a reload starts its cadence afresh.
resyncs() { agentctl stats --json | jq .resync.resyncs; }
r0=$(resyncs)
kill -HUP "$AGENT_PID"
check "a periodic resync ran while the short flows' conntracks were in the table" \
	wait_for 10 sh -c "[ \$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK stats --json | jq .resync.resyncs) -gt $r0 ]"
check "it found them ($(ev quiet_skipped) quiet conntracks, $created in the table before)" \
	test "$(ev quiet_skipped)" -ge "$created" -a "$created" -ge $((SHORT / 2))
check "and tracks none of them ($(agentctl status --json | jq .flows_tracked) flows tracked)" \
	test "$(agentctl status --json | jq .flows_tracked)" -eq 0

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
gone_from_kernel() { ! nsr conntrack -L 2>/dev/null | grep -qE 'dport=(6401|6402|6403) '; }
check "the kernel no longer has their conntracks" wait_for 10 gone_from_kernel
# A dump row read after the flow's DESTROY is older than it and brings
# nothing back (CI once saw a status dump's row revive one elephant, which
# then stayed tracked until the next resync); the 5 s cover the agent's
# reading of the three DESTROY events.
untracked() { test "$(agentctl status --json | jq .flows_tracked)" -eq 0; }
check "the agent no longer tracks them ($(agentctl status --json | jq .flows_tracked) tracked)" wait_for 5 untracked
kill "$watch" 2>/dev/null
wait "$watch" 2>/dev/null
info "conntrack -E saw $(wc -l <"$TMP/ct.events") events in all"
# Positive control at the end: the same listener heard the elephants (their
# UPDATE at packet N and their DESTROY), so it was alive throughout.
for e in $ELEPHANTS; do
	port=${e#*:}
	check "conntrack -E heard elephant $e's UPDATE and DESTROY" \
		test "$(grep "dport=$port " "$TMP/ct.events" | grep -c UPDATE)" -ge 1 -a \
			"$(grep "dport=$port " "$TMP/ct.events" | grep -c DESTROY)" -ge 1
done
info "---- a mice class in the kernel's set: skipped with no UPDATE and no mark"
# Mice of 8 KiB each way: about 20 packets, past packet N and under
# mice-packets (64).  The first batch reaches the window, is offloaded and
# reported (UPDATE, DESTROY): the class is learned from it.
MICE_PORT=6420
mice_batch() {
	local n=$1 i srv
	nss "$FLOWGEN" server -a "$S4" -p $MICE_PORT -n "$n" -t 120 >"$TMP/srvmice" 2>&1 &
	srv=$!
	wait_for 10 grep -q listening "$TMP/srvmice" || fail "mice server did not start"
	for i in $(seq "$n"); do
		nsc "$FLOWGEN" client -a "$S4" -p $MICE_PORT -s 8k -t 30 >/dev/null 2>&1 || fail "mouse $i failed"
	done
	wait $srv || fail "mice server failed"
}
off_tcp() { nft_counter inet flowoffload forward offload-tcp; }
off0=$(off_tcp)
mice_batch 8
check "the first batch reached the window and was offloaded (offload-tcp counted $(( $(off_tcp) - off0 )) packets)" \
	test $(( $(off_tcp) - off0 )) -ge 8
in_set() { nsr nft list set inet flowoffload mice_tcp4 | grep -Eq "(^|[^0-9])$MICE_PORT([^0-9]|\$)"; }
check "the class tcp/$MICE_PORT is learned as mice and in the kernel's set mice_tcp4" wait_for 20 in_set
agentctl classes | sed 's/^/#   /'
st0=$(agentctl stats --json)
off0=$(off_tcp)
mice0=$(nft_counter inet flowoffload forward mice-class)
mice_batch 8
dj() { jq -n --argjson a "$st0" --argjson b "$(agentctl stats --json)" "\$b.$1 - \$a.$1"; }
check "the second batch reached the window: the mice-class rule returned it ($(( $(nft_counter inet flowoffload forward mice-class) - mice0 )) packets)" \
	test $(( $(nft_counter inet flowoffload forward mice-class) - mice0 )) -ge 8
check "none of it was offloaded (offload-tcp counted $(( $(off_tcp) - off0 )) packets)" \
	test $(( $(off_tcp) - off0 )) = 0
learned() { test "$(dj mice_set.learned_untracked)" -ge 8; }
check "its DESTROYs reached the agent, which learned from them ($(dj mice_set.learned_untracked))" wait_for 10 learned
check "no UPDATE ($(dj events.update)) and no mark ($(dj admission.marks_written)) for it" \
	test "$(dj events.update) $(dj admission.marks_written)" = "0 0"
agent_stop || fail "flowoffloadd exited with an error: $(tail -n 5 "$TMP/agent.log")"
echo "PASS: events = window: no event for flows that never reach packet N, one UPDATE and one DESTROY for those that do; a mice class in the set is skipped by the kernel with no UPDATE and no mark, and still learned"
