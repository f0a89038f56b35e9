#!/bin/bash
# Proves a burst of route changes that overruns the agent's route
# notification socket costs nothing for good: the kernel's ENOBUFS is
# counted (stats routes.overruns), one resync dumps the table, and the
# [routes] never sets end equal to the table, read back from the kernel,
# with routes added and deleted during the burst; flowoffloadctl status
# counts the table's routes and says when it last changed.  The overrun is
# made certain: the agent's notification buffer is shrunk to 4 KiB
# (FLOWOFFLOAD_TEST_ROUTES_RCVBUF, a test knob) and the agent is stopped
# (SIGSTOP) while 300 IPv4 and 60 IPv6 routes go in and one comes out.
# The sets' updates go in chunks of 64 intervals (FLOWOFFLOAD_TEST_ROUTES_CHUNK,
# a test knob): the burst takes several transactions, and still ends equal.
# Then a /18 over the burst's /28s and back: overlapping deletes and adds,
# still 64 intervals a transaction at most (stats routes.largest_chunk).
# Then the table grows past max-prefixes (400 here) in IPv4 only: the IPv4
# set keeps what it held (never part of a table), counted and logged,
# while the IPv6 set still follows; back under the bound, both match.
. "$(dirname "$0")/lib.sh"

N4=300 N6=60
require_root
require_tools ip nft jq

# shellcheck disable=SC2119 # the default topology
topology_up
# Table 100 selects only; nothing routes through it.
nsr ip route add blackhole 198.19.255.0/24 table 100 || fail "cannot add a route to table 100"
agent_config "$TMP/agent.conf" \
	"[routes]" "never = 100" "settle = 100ms" "resync-interval = 1h" "max-prefixes = 400"
export FLOWOFFLOAD_TEST_ROUTES_RCVBUF=4096 FLOWOFFLOAD_TEST_ROUTES_CHUNK=64
agent_start "$TMP/agent.conf"
unset FLOWOFFLOAD_TEST_ROUTES_RCVBUF FLOWOFFLOAD_TEST_ROUTES_CHUNK
check "the agent took the test knob" grep -q "route notification buffer 4096 bytes" "$TMP/agent.log"
check "... and the chunk knob" grep -q "route set chunks of 64 intervals" "$TMP/agent.log"

rstat() { agentctl stats --json | jq -r ".routes.$1"; }
rstatus() { agentctl status --json | jq -r ".routes.never.$1"; }
# The table's prefixes and the set's elements (IPv4 and IPv6), sorted.
table_prefixes() {
	{
		nsr ip -j -4 route show table 100
		nsr ip -j -6 route show table 100
	} | jq -r '.[].dst' | sort
}
set_prefixes() {
	local f
	for f in 4 6; do
		nsr nft -j list set inet flowoffload routes_never$f |
			jq -r '.nftables[] | select(.set) | .set.elem[]? |
				if type == "object" then "\(.prefix.addr)/\(.prefix.len)" else "\(.)" end'
	done | sort
}
sets_match_table() { test "$(set_prefixes)" = "$(table_prefixes)"; }

# Positive control: one route, followed without an overrun.
check "the set holds table 100's route" wait_for 10 sh -c \
	"ip netns exec $NS_R nft list set inet flowoffload routes_never4 | grep -q 198.19.255.0/24"
check "... and no overrun so far" test "$(rstat overruns)" = 0
check "status: table 100 has 1 IPv4 route, no IPv6 one" \
	test "$(rstatus 'per_table["100"] | "\(.ipv4_routes) \(.ipv6_routes)"')" = "1 0"
check "status: table 100 changed, and not in the future" \
	sh -c "test \"\$($AGENTCTL -s $AGENT_SOCK status --json | jq -r '.routes.never.per_table[\"100\"].last_change_ms_ago')\" -ge 0"
resyncs0=$(rstat resyncs)
updates0=$(rstat set_updates) chunks0=$(rstat set_chunks)
check "... one transaction per set update so far" test "$((chunks0 - updates0))" = 0

# The burst, with the agent stopped: /28s of 198.19.0.0/16 and /64s of
# 2001:db8:100::/48, none adjacent (each its own interval), and the
# control route deleted.
for i in $(seq 0 $((N4 - 1))); do
	echo "route add blackhole 198.19.$((i / 8)).$((i % 8 * 32))/28 table 100"
done >"$TMP/burst"
for i in $(seq 0 $((N6 - 1))); do
	printf 'route add blackhole 2001:db8:100:%x::/64 table 100\n' $((i * 2))
done >>"$TMP/burst"
echo "route del blackhole 198.19.255.0/24 table 100" >>"$TMP/burst"
kill -STOP "$AGENT_PID" || fail "cannot stop the agent"
nsr ip -batch "$TMP/burst" || { kill -CONT "$AGENT_PID"; fail "ip -batch refused the burst"; }
kill -CONT "$AGENT_PID"
check "table 100 holds the burst: $N4 + $N6 routes" \
	test "$(table_prefixes | wc -l)" = $((N4 + N6))
check "the agent counted the overrun (routes.overruns > 0)" wait_for 10 sh -c \
	"test \"\$($AGENTCTL -s $AGENT_SOCK stats --json | jq -r .routes.overruns)\" -gt 0"
check "... and dumped the table again (a resync past the first)" wait_for 10 sh -c \
	"test \"\$($AGENTCTL -s $AGENT_SOCK stats --json | jq -r .routes.resyncs)\" -gt $resyncs0"
check "the sets end equal to table 100 (read back from the kernel)" wait_for 10 sets_match_table
check "... the deleted route left the set" sh -c "! ip netns exec $NS_R nft list set inet flowoffload routes_never4 | grep -q 198.19.255.0"
check "status: table 100 has $N4 IPv4 and $N6 IPv6 routes" \
	test "$(rstatus 'per_table["100"] | "\(.ipv4_routes) \(.ipv6_routes)"')" = "$N4 $N6"
check "status: the sets hold $N4 + $N6 intervals" \
	test "$(rstatus ipv4_intervals) $(rstatus ipv6_intervals)" = "$N4 $N6"
# The burst's $N4 + $N6 intervals and a delete, 64 a chunk: 7 chunks in one
# update, a few fewer past the updates if the agent applied some of the
# notifications it read before the overrun on their own; twice that with
# a hardware tier (32 a table).
updates=$(($(rstat set_updates) - updates0)) chunks=$(($(rstat set_chunks) - chunks0))
check "the burst went in chunks: $chunks transactions for $updates updates (3..20 past them)" \
	test "$((chunks - updates))" -ge 3 -a "$chunks" -le $((updates + 20))
check "no set transaction failed" test "$(rstat failures)" = 0
check "every transaction within the chunk: at most 64 intervals (routes.largest_chunk $(rstat largest_chunk))" \
	test "$(rstat largest_chunk)" -ge 1 -a "$(rstat largest_chunk)" -le 64

# One route over the burst's $N4 /28s (all in 198.19.0.0/18): the set's
# update deletes them and adds the /18, all overlapping; in chunks of 64
# (the never set's cover: 62 deletes a transaction, then the /18) and
# back when the /18 goes.
info "---- 198.19.0.0/18 over the $N4 /28s, then withdrawn"
updates0=$(rstat set_updates) chunks0=$(rstat set_chunks)
set4_is() { test "$(set_prefixes | grep -v : | tr '\n' ' ')" = "$1"; }
nsr ip route add blackhole 198.19.0.0/18 table 100 || fail "cannot add 198.19.0.0/18 to table 100"
check "the IPv4 set holds just 198.19.0.0/18 (read back)" wait_for 10 set4_is "198.19.0.0/18 "
updates=$(($(rstat set_updates) - updates0)) chunks=$(($(rstat set_chunks) - chunks0))
check "... applied in $chunks transactions for $updates updates (5..12 past them)" \
	test "$((chunks - updates))" -ge 5 -a "$((chunks - updates))" -le 12
nsr ip route del blackhole 198.19.0.0/18 table 100 || fail "cannot delete 198.19.0.0/18"
check "withdrawn: the sets equal table 100 again (read back)" wait_for 10 sets_match_table
check "no set transaction failed" test "$(rstat failures)" = 0
check "... and every one within the chunk (routes.largest_chunk $(rstat largest_chunk) <= 64)" \
	test "$(rstat largest_chunk)" -le 64

info "---- past max-prefixes: 150 more IPv4 routes (450 > 400), one more IPv6 route"
over0=$(rstat over_limit)
for i in $(seq 0 149); do
	echo "route add blackhole 198.19.$((64 + i / 8)).$((i % 8 * 32))/28 table 100"
done >"$TMP/more"
echo "route add blackhole 2001:db8:100:fff::/64 table 100" >>"$TMP/more"
nsr ip -batch "$TMP/more" || fail "ip -batch refused the routes past the bound"
check "the IPv6 set still follows (it took 2001:db8:100:fff::/64)" wait_for 10 sh -c \
	"ip netns exec $NS_R nft list set inet flowoffload routes_never6 | grep -q 2001:db8:100:fff::/64"
check "over the bound: counted (routes.over_limit > $over0)" wait_for 10 sh -c \
	"test \"\$($AGENTCTL -s $AGENT_SOCK stats --json | jq -r .routes.over_limit)\" -gt $over0"
# The agent may have applied part of the 150 while the table was still
# within the bound (it follows the table as it hears it): what it keeps is
# what it last applied, which the warning states.
said=$(grep -o 'never: 4[0-9][0-9] IPv4 routes, more than max-prefixes 400; the set keeps its [0-9]* intervals' "$TMP/agent.log" | head -1)
kept=${said##*keeps its }
kept=${kept%% *}
check "... and said: $said" test -n "$kept"
# (files, not <(...): the test VM has no /dev/fd)
in_table() {
	set_prefixes | grep -v : >"$TMP/set4" && table_prefixes | grep -v : >"$TMP/table4" &&
		test -s "$TMP/set4" && test -z "$(comm -23 "$TMP/set4" "$TMP/table4")"
}
kept_ok() {
	local n
	n=$(set_prefixes | grep -vc :)
	[ "$n" = "$kept" ] && [ "$kept" -ge $N4 ] && [ "$kept" -le 400 ]
}
check "the IPv4 set holds the $kept intervals the warning says it kept ($(set_prefixes | grep -vc :) read back; 300..400)" kept_ok
check "... every one of them in table 100" in_table
for i in $(seq 0 99); do
	echo "route del blackhole 198.19.$((64 + i / 8)).$((i % 8 * 32))/28 table 100"
done >"$TMP/fewer"
nsr ip -batch "$TMP/fewer" || fail "ip -batch refused the deletions"
check "back under the bound (350 IPv4 routes): the sets match table 100 again" wait_for 10 sets_match_table
check "... and the agent said so" grep -Eq "never: [0-9]+ IPv4 routes, within max-prefixes again" "$TMP/agent.log"
check "no set transaction failed" test "$(rstat failures)" = 0
info "stats: $(agentctl stats --json | jq -c .routes)"
agent_stop || fail "flowoffloadd exited with an error"
pass "a route notification overrun is counted and the resync makes the sets match the table; past max-prefixes a set keeps what it held"
