#!/bin/bash
# Proves nft_ruleset replaces the agent's tables in one transaction: a refused
# install changes nothing, other tables are never touched, render == install.
. "$(dirname "$0")/lib.sh"

RT=$FLOWOFFLOAD_BUILDDIR/tests/tools/ruleset_tool

require_root
require_tools ip nft
[ -x "$RT" ] || skip "ruleset_tool not built at $RT (run make)"

# router -- lan0/wan0 veths -- one peer namespace: no traffic is needed,
# only devices the flowtables can hook.
{ ip netns add "$NS_R" && ip netns add "$NS_C"; } || fail "cannot create network namespaces"
ip -n "$NS_C" link add eth0 type veth peer name lan0 netns "$NS_R"
ip -n "$NS_C" link add eth1 type veth peer name wan0 netns "$NS_R"
for d in lan0 wan0; do nsr ip link set "$d" up; done

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

info "---- install, software tier"
rt install --sw lan0,wan0 || fail "install refused"
L=$(listing flowoffload)
while IFS= read -r line; do info "$line"; done <<<"$L"
check "present says present" present --sw lan0,wan0
check "flowtable ft on lan0 and wan0, with counter" \
	grep -q "devices = { lan0, wan0 }" <<<"$L"
check "flowtable has the counter flag" grep -qx $'\t\tcounter' <<<"$L"
check "software flowtable has no offload flag" lacks "flags offload" "$L"
check "forward chain at filter + 10, policy accept" \
	grep -q "type filter hook forward priority filter + 10; policy accept;" <<<"$L"
check "one TCP rule: mark, window 5-1000, ACK only, flow add" \
	test "$(grep -c 'ct mark & 0x0c000000 == 0x04000000 ct packets 5-1000 tcp flags ack / fin,syn,rst,ack counter packets 0 bytes 0 flow add @ft comment "offload-tcp"' <<<"$L")" -eq 1
check "one UDP rule" \
	test "$(grep -c 'ct mark & 0x0c000000 == 0x04000000 ct packets 5-1000 meta l4proto udp counter packets 0 bytes 0 flow add @ft comment "offload-udp"' <<<"$L")" -eq 1
check "no hardware table without hardware devices" lacks flowoffload_hw "$(tables)"
check "the user's table is untouched by install" test "$(listing userfw)" = "$USERFW"

info "---- install again: replaced, not added to"
rt install --sw lan0,wan0 --from 3 --until 50 || fail "second install refused"
L2=$(listing flowoffload)
check "still one table inet flowoffload" test "$(tables | grep -o 'table inet flowoffload ' | wc -l)" -eq 1
check "still two rules, both with the new window" \
	test "$(grep -c 'ct packets 3-50' <<<"$L2")" -eq 2 -a "$(grep -c 'flow add' <<<"$L2")" -eq 2
check "the old window is gone" lacks "ct packets 5-1000" "$L2"
check "still one flowtable" test "$(grep -c 'flowtable ft' <<<"$L2")" -eq 1

info "---- refused installs change nothing"
BEFORE=$(ruleset)
grep -q "ct packets 3-50" <<<"$BEFORE" || fail "the ruleset before the refused installs is not ours: $BEFORE"
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

info "---- render == install"
# Each variant is a set of install/render options; bytecode is compared
# too, so an encoding nft would not produce (say, `ct packets` compared in
# host byte order) cannot hide behind an identical-looking listing.
for variant in "" "--proto tcp --ack-only no --mask 0xf0 --from 3 --until 50" "--proto udp --mask 0x300"; do
	# shellcheck disable=SC2086 # options are words
	rt install --sw lan0,wan0 $variant || fail "install ($variant) refused"
	A=$(listing flowoffload)
	AB=$(bytecode flowoffload)
	grep -q "flow_offload flowtable ft" <<<"$AB" ||
		fail "no bytecode in the listing: nft --debug=netlink changed? $AB"
	rt remove || fail "remove refused"
	# shellcheck disable=SC2086
	rt render --sw lan0,wan0 $variant >"$TMP/render.nft" || fail "render ($variant) failed"
	nsr nft -f "$TMP/render.nft" || fail "nft -f refused the rendered ruleset ($variant)"
	B=$(listing flowoffload)
	BB=$(bytecode flowoffload)
	if [ "$A" != "$B" ] || [ "$AB" != "$BB" ]; then
		diff <(echo "$A"; echo "$AB") <(echo "$B"; echo "$BB")
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
echo "PASS: one transaction per install; refused installs change nothing; render == install"
