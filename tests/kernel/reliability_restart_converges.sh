#!/bin/bash
# Proves an agent killed with SIGKILL under load and started again picks up
# every live conntrack entry from its startup dump and answers with the right
# count within 5 s: no entry missed, none twice.
. "$(dirname "$0")/lib.sh"

# 100k entries; the VM under software emulation makes them at about 5,000
# per second (100k in 19 s on a loaded 2-core host), so creation is bounded
# in time; a machine that cannot make them all fails the test rather than
# proving the claim on fewer.
FLOWS=${FLOWOFFLOAD_RESTART_FLOWS:-100000}
CREATE_S=${FLOWOFFLOAD_RESTART_CREATE_S:-150}
CONVERGE_MS=${FLOWOFFLOAD_RESTART_CONVERGE_MS:-5000}
# Under software emulation (the test VM's TCG) every dump runs some 20-40
# times slower than on hardware, so a fixed bound means nothing there: the
# restarted agent must then read the table no slower than the standard
# tool does in the same run (conntrack -L of the same entries, timed just
# before the restart).  On hardware both bounds hold.
EMULATED=
if grep -q "QEMU TCG CPU" /proc/cpuinfo 2>/dev/null; then
	EMULATED=1
fi
# scripts/check-hardening runs this with the ASan+UBSan agent (it sets
# ASAN_OPTIONS) against the normal build's conntrack tool: every
# instrumented load and store costs the agent alone.  Seen there under TCG:
# 5,257 ms against conntrack -L's 5,558 ms, so equal footing fails on
# noise; the sanitizer run may take twice the reference.  The plain build
# (make check) proves the bound itself; the counts below hold for both.
SLACK=1
SLACK_WHY=
if [ -n "${ASAN_OPTIONS:-}" ]; then
	SLACK=2
	SLACK_WHY=", x2 for the sanitizer-built agent"
fi

require_root
require_tools ip nft conntrack ping jq
[ -x "$STORM" ] || skip "flowstorm not built at $STORM (run make)"

# Table size and hash buckets are global (initial namespace only): raise
# them for the test and put them back afterwards.
modprobe -q nf_conntrack 2>/dev/null
CT_MAX_WAS=$(sysctl -n net.netfilter.nf_conntrack_max 2>/dev/null) ||
	skip "no nf_conntrack_max (conntrack not loaded?)"
CT_BUCKETS_WAS=$(sysctl -n net.netfilter.nf_conntrack_buckets)
restore_sysctls() {
	sysctl -qw net.netfilter.nf_conntrack_max="$CT_MAX_WAS" 2>/dev/null
	sysctl -qw net.netfilter.nf_conntrack_buckets="$CT_BUCKETS_WAS" 2>/dev/null
}
at_exit restore_sysctls
[ "$CT_MAX_WAS" -ge $((FLOWS + FLOWS / 4)) ] ||
	sysctl -qw net.netfilter.nf_conntrack_max=$((FLOWS + FLOWS / 4)) || skip "cannot raise nf_conntrack_max"
[ "$CT_BUCKETS_WAS" -ge 65536 ] || sysctl -qw net.netfilter.nf_conntrack_buckets=65536 ||
	info "cannot raise nf_conntrack_buckets; going on with $CT_BUCKETS_WAS"

topology_up
nsr sysctl -qw net.netfilter.nf_conntrack_udp_timeout=900 ||
	fail "cannot set the router's UDP conntrack timeout"
# The server drops the datagrams quietly (no ICMP unreachable per flow).
nss nft -f - <<'EOF' || fail "cannot load the server's sink rule"
table inet sink {
	chain input {
		type filter hook input priority filter; policy accept;
		udp dport 9100-9101 drop
	}
}
EOF

agent_config "$TMP/agent.conf"
agent_start "$TMP/agent.conf"

info "---- $FLOWS UDP flows (at most ${CREATE_S} s to make them)"
nsc "$STORM" -u -a $S4 -p 9100-9101 -n "$FLOWS" -r 0 -T "${CREATE_S}s" >"$TMP/storm" 2>&1
rc=$?
info "$(cat "$TMP/storm")"
[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || fail "flowstorm failed (exit $rc)"
made=$(sed -n 's/.* flows=\([0-9]*\) .*/\1/p' "$TMP/storm" | tail -1)
check "all $FLOWS flows were made within ${CREATE_S} s (${made:-none})" test "$rc" -eq 0 -a "${made:-0}" -eq "$FLOWS"

# live TCP/UDP conntracks in the router (the topology's pings are ICMP)
live() {
	echo $(( $(nsr conntrack -C) - $(nsr conntrack -L -p icmp 2>/dev/null | wc -l) -
		$(nsr conntrack -L -p icmpv6 2>/dev/null | wc -l) ))
}
sleep 1
before=$(live)
info "the router holds $before live TCP/UDP conntracks"
# A loaded emulated router drops some datagrams from its backlog (seen:
# 98,591 of 100,000): the agent must match what the kernel holds.
check "they are the storm's ($before >= 95% of $made)" test $((before * 100)) -ge $((made * 95))
check "the running agent tracks them ($(agentctl status --json | jq .flows_tracked))" \
	wait_for 60 sh -c "[ \$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK status --json | jq .flows_tracked) -eq $before ]"

# The reference: the standard tool reading the same table.
t0=$(date +%s%N)
ref_n=$(nsr conntrack -L -o id 2>/dev/null | wc -l)
ref_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
info "reference: conntrack -L read $ref_n entries in $ref_ms ms"
handles() { nsr nft -a list table inet flowoffload | grep -E '^\s*(table|flowtable|chain) ' | tr -s ' \t' ' '; }
handles0=$(handles)

info "---- kill -9 and start again"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
nsr nft list table inet flowoffload >/dev/null || fail "the ruleset should survive a crash"
t0=$(date +%s%N)
ip netns exec "$NS_R" "$AGENT" -f -c "$TMP/agent.conf" >>"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
conv=
for _ in $(seq 300); do
	tracked=$(nsr "$AGENTCTL" -s "$AGENT_SOCK" status --json 2>/dev/null | jq .flows_tracked 2>/dev/null)
	if [ -n "$tracked" ]; then
		conv=$(( ($(date +%s%N) - t0) / 1000000 ))
		break
	fi
	kill -0 "$AGENT_PID" 2>/dev/null || fail "the restarted agent died: $(tail -3 "$TMP/agent.log")"
	sleep 0.05
done
after=$(live)
info "restarted agent: first answer after ${conv:-never} ms, tracking $tracked flows; the kernel holds $after"
info "its own account: $(grep -o 'startup dump: .*' "$TMP/agent.log" | tail -1)"
if [ -n "$EMULATED" ]; then
	check "it answers no later than conntrack -L took to read the same table (${conv:-never} ms against $ref_ms ms; software emulation$SLACK_WHY)" \
		test -n "$conv" -a "${conv:-99999}" -le $((ref_ms * SLACK))
else
	check "it answers within $CONVERGE_MS ms (${conv:-never} ms; conntrack -L took $ref_ms ms$SLACK_WHY)" \
		test -n "$conv" -a "${conv:-99999}" -le $((CONVERGE_MS * SLACK)) -a "${conv:-99999}" -le $((ref_ms * SLACK))
fi
check "with every live entry and none twice ($tracked == $after)" test "$tracked" -eq "$after"
st=$(agentctl stats --json)
check "all from its startup dump ($(jq .events.dump_entries <<<"$st") entries)" \
	test "$(jq .events.dump_entries <<<"$st")" -ge "$after"
check "it kept the installed ruleset: the kernel's table, flowtable and chains have the same handles" \
	test -n "$handles0" -a "$(handles)" = "$handles0"
check "and says so ($(jq .ruleset.installs <<<"$st") installs)" \
	test "$(jq .ruleset.installs <<<"$st")" -eq 0
check "and wrote no marks (software tier: the kernel needs none)" \
	test "$(jq .admission.marks_written <<<"$st")" -eq 0
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
info "restart convergence: $after entries in $conv ms"
echo "PASS: a restarted agent picks up $after live entries in $conv ms"
