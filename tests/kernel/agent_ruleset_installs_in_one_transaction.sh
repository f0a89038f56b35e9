#!/bin/bash
# Proves nft_ruleset replaces the agent's tables in one transaction: a refused
# install changes nothing, other tables are never touched, render == install
# (skip sets and readmit rules included), and the skip sets keep flows off
# the fast path.
. "$(dirname "$0")/lib.sh"

RT=$FLOWOFFLOAD_BUILDDIR/tests/tools/ruleset_tool

require_root
require_tools ip nft conntrack
[ -x "$RT" ] || skip "ruleset_tool not built at $RT (run make)"

# client -- lan0 [router] wan0 -- server: the last part sends traffic.
topology_up

rt() { nsr "$RT" "$@"; }
present() { rt present "$@" >/dev/null; }
# A listing with the counters zeroed, so installs at different times compare.
listing() { nsr nft list table inet "$1" | sed -E 's/packets [0-9]+ bytes [0-9]+/packets 0 bytes 0/g'; }
# The rules' bytecode as the kernel holds it (handles differ between loads).
bytecode() { nsr nft --debug=netlink list table inet "$1" | sed -E 's/^(inet [a-z_]+ [a-z]+)( [0-9]+)+$/\1/'; }
tables() { nsr nft list tables | sort | tr '\n' ' '; }
ruleset() { nsr nft list ruleset | sed -E 's/packets [0-9]+ bytes [0-9]+/packets 0 bytes 0/g'; }
has_table() { nsr nft list table inet "$1" >/dev/null 2>&1; }

# A user's own firewall, with a flowtable of its own on the same devices.
nsr nft -f - <<'EOF' || fail "cannot load the user's table"
table inet userfw {
	set blocked {
		type ipv4_addr
		elements = { 198.18.9.9 }
	}
	flowtable userft {
		hook ingress priority filter + 5
		devices = { lan0, wan0 }
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr @blocked counter drop comment "user-drop"
		meta l4proto tcp flow add @userft comment "user-offload"
	}
}
EOF
USERFW=$(listing userfw)

info "---- probe: veth has no hardware offload"
out=$(rt probe lan0)
rc=$?
info "probe: $out (exit $rc)"
check "probe on veth says EOPNOTSUPP (exit 3)" test "$rc" -eq 3
check "probe reports 'Operation not supported'" grep -q "Operation not supported" <<<"$out"
check "the probe's transaction was aborted (no table flowoffload_probe)" lacks flowoffload_probe "$(tables)"

info "---- install, software tier (the plain packet window 5-1000)"
rt install --sw lan0,wan0 --from 5 --min-avgpkt 0 || fail "install refused"
L=$(listing flowoffload)
while IFS= read -r line; do info "$line"; done <<<"$L"
check "present says present" present --sw lan0,wan0
check "flowtable ft on lan0 and wan0, with counter" \
	grep -q "devices = { lan0, wan0 }" <<<"$L"
check "flowtable has the counter flag" grep -qx $'\t\tcounter' <<<"$L"
check "software flowtable has no offload flag" lacks "flags offload" "$L"
check "forward chain at filter + 10, policy accept" \
	grep -q "type filter hook forward priority filter + 10; policy accept;" <<<"$L"
# The window gate: packets before 5 leave the chain at once, so the rules
# after it carry no lower bound of their own (and no counter: it is free).
check "one window gate: packets before 5 return, no counter" \
	test "$(grep -c 'ct packets < 5 return comment "window-gate"' <<<"$L")" -eq 1
# Software tier: any flow whose mark is not HW (0x08000000) or SKIP
# (0x0c000000), admitted or not: no wait for the agent's mark write.
check "one TCP rule: not HW/SKIP, window to 1000 behind the gate, ACK only, flow add" \
	test "$(grep -c 'ct mark & 0x08000000 == 0x00000000 ct packets <= 1000 tcp flags ack / fin,syn,rst,ack counter packets 0 bytes 0 flow add @ft ct mark set ct mark | 0x04000000 comment "offload-tcp"' <<<"$L")" -eq 1
check "one UDP rule" \
	test "$(grep -c 'ct mark & 0x08000000 == 0x00000000 ct packets <= 1000 meta l4proto udp counter packets 0 bytes 0 flow add @ft ct mark set ct mark | 0x04000000 comment "offload-udp"' <<<"$L")" -eq 1
# Flows the rule offloaded once (mark SW) go back after an eviction (a flush,
# a firewall reload, an idle timeout), past the window's end too.
check "one TCP readmit rule: mark SW, from packet 5 (the gate) with no upper bound, ACK only" \
	test "$(grep -c 'ct mark & 0x0c000000 == 0x04000000 tcp flags ack / fin,syn,rst,ack counter packets 0 bytes 0 flow add @ft comment "readmit-tcp"' <<<"$L")" -eq 1
check "one UDP readmit rule" \
	test "$(grep -c 'ct mark & 0x0c000000 == 0x04000000 meta l4proto udp counter packets 0 bytes 0 flow add @ft comment "readmit-udp"' <<<"$L")" -eq 1
# Hardware-tier flows (mark HW) that come back to the slow path past the
# window's end go to the software flowtable and take the software value.
check "two hw-return rules: mark HW, past packet 1000, software value, flow add" \
	test "$(grep -c 'ct mark & 0x0c000000 == 0x08000000 ct packets > 1000 .*counter packets 0 bytes 0 ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment "hw-return-' <<<"$L")" -eq 2
# [classes] learn (the default): a mice-class rule per family and protocol
# on its set of learned mice ports, empty at install, before any flow add.
check "four mice-class rules on the window: family, protocol, server port in the family's set, return" \
	test "$(grep -cE 'ct packets <= 1000 meta nfproto ipv[46] meta l4proto (tcp|udp) ct original proto-dst @mice_(tcp|udp)[46] counter packets 0 bytes 0 return comment "mice-class"' <<<"$L")" -eq 4
check "the mice sets are declared, empty" \
	test "$(grep -cE '^'$'\t''set mice_(tcp|udp)[46] [{]' <<<"$L") $(grep -c 'elements' <<<"$L")" = "4 0"
check "the gate comes first, then the mice-class rules, the window rules, the readmit rules, the hw-return rules last" \
	test "$(grep -o 'comment "[a-z]*-' <<<"$L" | uniq | tr '\n' ' ')" = 'comment "window- comment "mice- comment "offload- comment "readmit- comment "hw- '
check "no skip sets or rules when none are configured" lacks "skip" "$L"
check "no hardware table without hardware devices" lacks flowoffload_hw "$(tables)"
check "the user's table is untouched by install" test "$(listing userfw)" = "$USERFW"

info "---- the defaults: window 16-1000; the size test (min-avgpkt) is the hardware tier's"
rt install --sw lan0,wan0 || fail "install with the defaults refused"
L3=$(listing flowoffload)
while IFS= read -r line; do info "$line"; done <<<"$L3"
check "the window starts at packet 16: the gate, and both software window rules end at 1000" \
	test "$(grep -c 'ct packets < 16 return comment "window-gate"' <<<"$L3")" -eq 1 \
	-a "$(grep -c 'ct packets <= 1000 .*comment "offload-' <<<"$L3")" -eq 2
check "the software tier has no avgpkt test" lacks "avgpkt" "$L3"
check "and no small-packet rules" lacks "offload-small" "$L3"

info "---- install again: replaced, not added to"
rt install --sw lan0,wan0 --from 3 --until 50 --min-avgpkt 0 || fail "second install refused"
L2=$(listing flowoffload)
check "still one table inet flowoffload" test "$(tables | grep -o 'table inet flowoffload ' | wc -l)" -eq 1
check "still one gate, two window, two readmit and two hw-return rules, all with the new bounds (the four mice-class rules' window too)" \
	test "$(grep -c 'ct packets < 3 return comment "window-gate"' <<<"$L2")" -eq 1 \
	-a "$(grep 'ct packets <= 50 ' <<<"$L2" | grep -c 'comment "offload-')" -eq 2 \
	-a "$(grep 'ct packets <= 50 ' <<<"$L2" | grep -c 'comment "mice-class"')" -eq 4 \
	-a "$(grep -c 'comment "readmit-' <<<"$L2")" -eq 2 \
	-a "$(grep -c 'ct packets > 50 ' <<<"$L2")" -eq 2 -a "$(grep -c 'flow add' <<<"$L2")" -eq 6
check "the old window is gone" lacks "ct packets < 5 " "$L2"
check "... its upper end too" lacks "ct packets <= 1000" "$L2"
check "still one flowtable" test "$(grep -c 'flowtable ft' <<<"$L2")" -eq 1

info "---- refused installs change nothing"
BEFORE=$(ruleset)
grep -q "ct packets < 3 return" <<<"$BEFORE" || fail "the ruleset before the refused installs is not ours: $BEFORE"
err=$(rt install --sw lan0,nosuch0 --from 9 --until 99 2>&1)
rc=$?
info "missing device: $err"
check "install with a missing device fails" test "$rc" -ne 0
check "the error names the flowtable" grep -q "flowtable inet flowoffload ft: No such file or directory" <<<"$err"
check "the error names the missing device" grep -q '"nosuch0"' <<<"$err"
check "the ruleset is exactly as before" test "$(ruleset)" = "$BEFORE"

# The software half of this batch is valid and differs from what is
# installed: only atomicity keeps it out.
err=$(rt install --sw lan0,wan0 --hw wan0 --from 9 --until 99 2>&1)
rc=$?
info "hardware tier on veth: $err"
check "install with a hardware tier on veth fails" test "$rc" -ne 0
check "the error names the hardware flowtable and EOPNOTSUPP" \
	grep -q "flowtable inet flowoffload_hw ft: Operation not supported" <<<"$err"
check "the ruleset is exactly as before (software tier not replaced either)" \
	test "$(ruleset)" = "$BEFORE"
check "present still says present" present --sw lan0,wan0

info "---- a stale hardware table is removed by a software-only install"
nsr nft -f - <<'EOF' || fail "cannot create a stale hardware table"
table inet flowoffload_hw {
	chain forward {
		type filter hook forward priority filter + 10; policy accept;
	}
}
EOF
rt install --sw lan0,wan0 || fail "install over a stale hardware table refused"
check "the stale table inet flowoffload_hw is gone" lacks flowoffload_hw "$(tables)"

info "---- install with skip sets and udp-require-reply"
rt install --sw lan0,wan0 --skip-ports 53,5060-5061 --skip-prefixes 198.18.5.0/24,2001:db8:5::/48 \
	--udp-require-reply yes || fail "install with skip sets refused"
L=$(listing flowoffload)
while IFS= read -r line; do info "$line"; done <<<"$L"
# set_elements NAME: the elements line of that set in $L.
set_elements() { grep -A3 "set $1 {" <<<"$L" | grep -o "elements = .*"; }
check "set skip_ports with 53 and 5060-5061" \
	test "$(set_elements skip_ports)" = "elements = { 53, 5060-5061 }"
check "set skip4 with 198.18.5.0/24" test "$(set_elements skip4)" = "elements = { 198.18.5.0/24 }"
check "set skip6 with 2001:db8:5::/48" test "$(set_elements skip6)" = "elements = { 2001:db8:5::/48 }"
check "sets are interval sets (the three skip sets, the four mice sets)" test "$(grep -c 'flags interval' <<<"$L")" -eq 7
check "skip-port rules for TCP and UDP, on the original destination port" \
	test "$(grep -c 'meta l4proto [a-z]* ct original proto-dst @skip_ports counter packets 0 bytes 0 return comment "skip-port"' <<<"$L")" -eq 2
check "four skip-prefix rules per family" \
	test "$(grep -cE 'ct (original|reply) ip [sd]addr @skip4 counter packets 0 bytes 0 return comment "skip-prefix"' <<<"$L")" -eq 4 \
	-a "$(grep -cE 'ct (original|reply) ip6 [sd]addr @skip6 counter packets 0 bytes 0 return comment "skip-prefix"' <<<"$L")" -eq 4
check "the skip rules come before the window gate, the gate before the offload rules" \
	test "$(grep -E 'comment "(skip|window|offload)-' <<<"$L" | sed -E 's/.*comment "([a-z]+)-.*/\1/' | uniq | tr '\n' ' ')" = "skip window offload "
check "the UDP rule requires a reply" \
	grep -q 'meta l4proto udp ct status & seen-reply == seen-reply counter packets 0 bytes 0 flow add @ft ct mark set ct mark | 0x04000000 comment "offload-udp"' <<<"$L"

info "---- render == install"
# Each variant is a set of install/render options; bytecode is compared
# too, so an encoding nft would not produce (say, `ct packets` compared in
# host byte order) cannot hide behind an identical-looking listing.  The
# bytecode listing holds the sets' elements too: the skip variants cover
# a leading interval end (ports from 1), an interval open to the largest
# key (65535, ::/0, 0.0.0.0/0 which also starts at 0), overlapping and
# adjacent entries merged, single keys, and a range that is not a prefix.
for variant in "" "--proto tcp --ack-only no --mask 0xf0 --from 3 --until 50" "--proto udp --mask 0x300" \
	"--from 12 --min-avgpkt 400 --small-from 48" "--proto udp --min-avgpkt 300" "--events-window" \
	"--skip-ports 53,5060-5061 --skip-prefixes 198.18.5.0/24,2001:db8:5::/48 --udp-require-reply yes" \
	"--proto tcp --skip-ports 1-1024,1000-2000,2001,65535 --skip-prefixes 0.0.0.0/0,::/0,2001:db8::1" \
	"--proto udp --skip-prefixes 10.0.0.0/8,11.0.0.0/8,198.18.5.7,198.18.6.0/24,198.18.7.0/31" \
	"--skip-ports 8080 --skip-prefixes 2001:db8:5::/48,2001:db8:6::/48,2001:db8:7::/48,fe80::/10"; do
	# shellcheck disable=SC2086 # options are words
	rt install --sw lan0,wan0 $variant || fail "install ($variant) refused"
	A=$(listing flowoffload)
	AB=$(bytecode flowoffload)
	grep -q "flow_offload flowtable ft" <<<"$AB" ||
		fail "no bytecode in the listing: nft --debug=netlink changed? $AB"
	case $variant in *--skip-*)
		grep -q "element .*\[end\]" <<<"$AB" ||
			fail "no set elements in the bytecode listing: nft --debug=netlink changed? $AB" ;;
	esac
	rt remove || fail "remove refused"
	# shellcheck disable=SC2086
	rt render --sw lan0,wan0 $variant >"$TMP/render.nft" || fail "render ($variant) failed"
	nsr nft -f "$TMP/render.nft" || fail "nft -f refused the rendered ruleset ($variant)"
	B=$(listing flowoffload)
	BB=$(bytecode flowoffload)
	if [ "$A" != "$B" ] || [ "$AB" != "$BB" ]; then
		# Files, not <(...): the test VM has no /dev/fd.
		printf '%s\n' "$A" "$AB" >"$TMP/installed.txt"
		printf '%s\n' "$B" "$BB" >"$TMP/rendered.txt"
		diff "$TMP/installed.txt" "$TMP/rendered.txt"
		fail "render and install differ (${variant:-defaults})"
	fi
	pass "render == install, listing and bytecode (${variant:-defaults})"
done
# Loading the render twice is a replace, like install.
nsr nft -f "$TMP/render.nft" || fail "nft -f refused the rendered ruleset a second time"
check "the render loaded twice gives the same listing" test "$(listing flowoffload)" = "$B"

info "---- remove"
check "remove succeeds" rt remove
check "our tables are gone" lacks flowoffload "$(tables | sed 's/userfw//')"
present --sw lan0,wan0
check "present says absent (exit 1)" test $? -eq 1
check "remove with nothing installed succeeds" rt remove
check "the user's table is untouched by install and remove" test "$(listing userfw)" = "$USERFW"

info "---- the skip sets at work"
# The user's flowtable would take the TCP flows first (its chain runs at
# priority filter, ours at filter + 10).
nsr nft delete table inet userfw || fail "cannot delete the user's table"
rt install --sw lan0,wan0 --skip-ports 6801,7000-7010 --skip-prefixes "$S6/128" --udp-require-reply yes ||
	fail "install with skip sets refused"
# counter_sum COMMENT: the packets of all our rules carrying that comment.
counter_sum() {
	nsr nft list chain inet flowoffload forward |
		awk -v c="comment \"$1\"" '
			index($0, c) { for (i = 1; i < NF; i++) if ($i == "packets") s += $(i + 1) }
			END { print s + 0 }'
}
# start_held PORT ADDR [FLOWGEN CLIENT OPTIONS]: a flow that sends its data,
# then stays open until a line arrives on $TMP/ctlPORT.
start_held() {
	local port=$1 addr=$2
	shift 2
	nss "$FLOWGEN" server -a "$addr" -p "$port" -t 60 >"$TMP/srv$port" 2>&1 &
	wait_for 10 grep -q listening "$TMP/srv$port" || fail "server $port did not start"
	mkfifo "$TMP/ctl$port"
	nsc "$FLOWGEN" client -a "$addr" -p "$port" "$@" -w -t 60 <"$TMP/ctl$port" >"$TMP/cli$port" 2>&1 &
}
start_held 6800 $S4 -s 2M
exec 7>"$TMP/ctl6800"
start_held 6801 $S4 -s 2M
exec 8>"$TMP/ctl6801"
start_held 6802 $S6 -s 2M
exec 9>"$TMP/ctl6802"
for port in 6800 6801 6802; do
	wait_for 60 grep -q "stage 1 done" "$TMP/cli$port" || fail "flow $port did not send its 2 MiB"
done
check "TCP 6800 (no skip) is [OFFLOAD]" grep -q OFFLOAD <<<"$(ct_line tcp 6800)"
check "TCP 6801 (skip port) is not [OFFLOAD]" lacks OFFLOAD "$(ct_line tcp 6801)"
check "TCP 6802 to $S6 (skip prefix) is not [OFFLOAD]" lacks OFFLOAD "$(ct_line tcp 6802 ipv6)"
# Once, or twice when a packet in flight on another CPU slipped through.
adds=$(nft_counter inet flowoffload forward offload-tcp)
check "flow add matched for 6800 only ($adds)" test "$adds" -ge 1 -a "$adds" -le 2
# Every packet of a skipped flow returns from our chain, in both directions.
check "skip-port returned 6801's packets ($(counter_sum skip-port))" test "$(counter_sum skip-port)" -gt 1000
check "skip-prefix returned 6802's packets ($(counter_sum skip-prefix))" \
	test "$(counter_sum skip-prefix)" -gt 1000
echo done >&7
echo done >&8
echo done >&9
exec 7>&- 8>&- 9>&-

# UDP with udp-require-reply: a one-way stream never qualifies, an echoed one
# does; a UDP flow stays [OFFLOAD] until the flowtable's idle timeout.
nss "$FLOWGEN" server -u -a $S4 -p 6900 -i 5 -t 30 >"$TMP/srv6900" 2>&1 &
nss "$FLOWGEN" server -u -e -a $S4 -p 6901 -i 5 -t 30 >"$TMP/srv6901" 2>&1 &
wait_for 10 grep -q listening "$TMP/srv6900" || fail "server 6900 did not start"
wait_for 10 grep -q listening "$TMP/srv6901" || fail "server 6901 did not start"
# 30 datagrams: all the echoes fit the client's receive buffer.
nsc "$FLOWGEN" client -u -a $S4 -p 6900 -s 42k -t 30 >"$TMP/cli6900" 2>&1 ||
	fail "UDP client 6900 failed: $(cat "$TMP/cli6900")"
nsc "$FLOWGEN" client -u -R -a $S4 -p 6901 -s 42k -t 30 >"$TMP/cli6901" 2>&1 ||
	fail "UDP client 6901 failed: $(cat "$TMP/cli6901")"
check "one-way UDP 6900 is not [OFFLOAD]" lacks OFFLOAD "$(ct_line udp 6900)"
check "echoed UDP 6901 is [OFFLOAD]" grep -q OFFLOAD <<<"$(ct_line udp 6901)"
adds=$(nft_counter inet flowoffload forward offload-udp)
# The echoed flow's burst meets the rule more than once before its entry
# takes over (seen 1 to 11 times under TCG); every one of the 30 one-way
# 6900 datagrams past packet 5 would match it if the reply test failed.
check "flow add matched for 6901, not for the one-way 6900 ($adds)" test "$adds" -ge 1 -a "$adds" -lt 25
rt remove || fail "remove refused"
echo "PASS: one transaction per install; refused installs change nothing; render == install; skip sets work"
