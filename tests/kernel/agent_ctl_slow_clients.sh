#!/bin/bash
# Proves hostile control-socket clients cannot stall the agent: a slow loris and
# a one-byte-a-second `flows` reader hold on while a storm and an elephant run.
. "$(dirname "$0")/lib.sh"

# 100k tracked flows, as the issue asks: flowstorm makes them in about 20 s
# in the TCG VM (reliability_restart_converges measured 5,000/s), and the
# agent follows in the same time; the whole test stays under 90 s there.
# FLOWOFFLOAD_SLOW_FLOWS lowers it on a slower machine.
FLOWS=${FLOWOFFLOAD_SLOW_FLOWS:-100000}
STORM_FLOWS=${FLOWOFFLOAD_SLOW_STORM:-10000}
N=12
EPORT=6001
# status must answer within this while the clients hold on.  The old
# daemon served a client inside the loop with 2 s per poll: one byte a
# second held it for as long as the loris liked.  Under TCG the command
# alone (ip netns exec, flowoffloadctl) takes 100-300 ms; runs measured a
# worst of 275-955 ms during the storm.
STATUS_MS=2000
RSS_KB=$((10 * 1024))	# the agent's heap and RSS may grow by less than this meanwhile
CTLSLOW=$FLOWOFFLOAD_TOOLSDIR/tests/tools/ctlslow
HOLD=30			# seconds the slow clients hold on

require_root
require_tools ip nft conntrack ping jq setpriv
[ -x "$STORM" ] || skip "flowstorm not built at $STORM (run make)"
[ -x "$CTLSLOW" ] || skip "ctlslow not built at $CTLSLOW (run make)"
getent group nogroup >/dev/null || skip "no group nogroup for the non-root client"
ADM_GID=$(getent group adm | cut -d: -f3)
[ -n "$ADM_GID" ] || skip "no group adm for the admin client"

modprobe -q nf_conntrack 2>/dev/null
CT_MAX_WAS=$(sysctl -n net.netfilter.nf_conntrack_max 2>/dev/null) ||
	skip "no nf_conntrack_max (conntrack not loaded?)"
CT_BUCKETS_WAS=$(sysctl -n net.netfilter.nf_conntrack_buckets)
restore_sysctls() {
	sysctl -qw net.netfilter.nf_conntrack_max="$CT_MAX_WAS" 2>/dev/null
	sysctl -qw net.netfilter.nf_conntrack_buckets="$CT_BUCKETS_WAS" 2>/dev/null
}
at_exit restore_sysctls
want=$(((FLOWS + STORM_FLOWS) * 5 / 4))
[ "$CT_MAX_WAS" -ge $want ] || sysctl -qw net.netfilter.nf_conntrack_max=$want ||
	skip "cannot raise nf_conntrack_max"
[ "$CT_BUCKETS_WAS" -ge 65536 ] || sysctl -qw net.netfilter.nf_conntrack_buckets=65536 ||
	info "cannot raise nf_conntrack_buckets; going on with $CT_BUCKETS_WAS"

topology_up
nsr sysctl -qw net.netfilter.nf_conntrack_udp_timeout=900 ||
	fail "cannot set the router's UDP conntrack timeout"
nss nft -f - <<'EOF' || fail "cannot load the server's sink rule"
table inet sink {
	chain input {
		type filter hook input priority filter; policy accept;
		udp dport 9100-9103 drop
	}
}
EOF

# Under ASan (scripts/check-hardening) freed memory waits in a quarantine of
# 256 MB and counts as RSS: a small one keeps the RSS bound meaningful.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=4"
fi

# The socket for everyone in nogroup (the non-root client), reload for adm.
chmod 755 "$TMP"
agent_config "$TMP/agent.conf" "socket-group = nogroup" "admin-group = adm" \
	"[offload]" "window-from = $N"
agent_start "$TMP/agent.conf"
nsr sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=600 ||
	fail "cannot raise the flowtable idle timeout"
nsr nft -f - <<EOF || fail "cannot load the probe table"
table inet probe {
	chain forward {
		type filter hook forward priority filter + 20; policy accept;
		meta l4proto tcp ct original proto-dst $EPORT counter comment "slow-$EPORT"
	}
}
EOF

live() {
	echo $(( $(nsr conntrack -C) - $(nsr conntrack -L -p icmp 2>/dev/null | wc -l) -
		$(nsr conntrack -L -p icmpv6 2>/dev/null | wc -l) ))
}
tracked() { agentctl status --json | jq .flows_tracked; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$AGENT_PID/status"; }
heap_kb() { agentctl stats --json | jq '.process.heap_bytes / 1024 | floor'; }
ctl_stat() { agentctl stats --json | jq ".control.$1"; }

info "---- non-root clients"
asnobody() { ip netns exec "$NS_R" setpriv --reuid=65534 --regid=65534 "$@"; }
out=$(asnobody --clear-groups "$AGENTCTL" -s "$AGENT_SOCK" status 2>&1)
rc=$?
answered=$(grep -c '^window_from' <<<"$out")
check "uid 65534 (socket group, not admin) gets status (exit $rc)" \
	test "$rc" -eq 0 -a "$answered" -eq 1
out=$(asnobody --clear-groups "$AGENTCTL" -s "$AGENT_SOCK" reload 2>&1)
rc=$?
info "reload as uid 65534: $out (exit $rc)"
check "and a clear refusal for reload, status 1" test "$rc" -eq 1 -a \
	"$out" = "reload: permission denied: uid 65534 is not root nor in the admin group 'adm'; read-only commands (status, stats, flows, classes) need only the socket"
check "counted ($(ctl_stat denied) denied)" test "$(ctl_stat denied)" -eq 1
out=$(asnobody --groups="$ADM_GID" "$AGENTCTL" -s "$AGENT_SOCK" reload 2>&1)
rc=$?
info "reload as uid 65534 in group adm: $out (exit $rc)"
check "a member of admin-group (supplementary) may reload" test "$rc" -eq 0 -a \
	"$out" = "reloaded $TMP/agent.conf"
out=$(asnobody --groups="$ADM_GID" "$AGENTCTL" -s "$AGENT_SOCK" reload 2>&1)
rc=$?
info "again at once: $out (exit $rc)"
check "a second reload within 5 s is refused" test "$rc" -eq 1 -a \
	"$(jq .ruleset.reload_rate_limited <<<"$(agentctl stats --json)")" -eq 1 -a \
	-n "$(grep -o 'limited to one per 5 s' <<<"$out")"

info "---- $FLOWS tracked UDP flows"
t0=$(date +%s)
nsc "$STORM" -u -a $S4 -p 9100-9101 -n "$FLOWS" -r 0 -T 60s >"$TMP/storm0" 2>&1
rc=$?
info "$(cat "$TMP/storm0") ($(($(date +%s) - t0)) s)"
[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || fail "flowstorm failed (exit $rc)"
sleep 1
base=$(live)
check "the router holds most of them ($base of $FLOWS)" test $((base * 100)) -ge $((FLOWS * 95))
check "the agent tracks them all ($(tracked) of $base)" \
	wait_for 60 sh -c "[ \$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK status --json | jq .flows_tracked) -eq $base ]"
rss0=$(rss_kb)
heap0=$(heap_kb)
idle=
for _ in 1 2 3; do
	t=$(date +%s%N)
	agentctl status >/dev/null || fail "status failed"
	idle="$idle $((($(date +%s%N) - t) / 1000000))"
done
info "tracking $base flows after $(($(date +%s) - t0)) s; agent RSS $rss0 KiB"

info "---- slow clients, a storm and an elephant"
nsr "$CTLSLOW" loris "$AGENT_SOCK" $HOLD >"$TMP/loris" 2>&1 &
loris_pid=$!
nsr "$CTLSLOW" reader "$AGENT_SOCK" $HOLD flows --json >"$TMP/reader" 2>&1 &
reader_pid=$!
check "the reader got its answer started" wait_for 10 grep -q "status '0', then '\['" "$TMP/reader"
start_held_elephant ipv4 $EPORT 4M 240
nsc "$STORM" -u -a $S4 -p 9102-9103 -n "$STORM_FLOWS" -r 0 -T 30s >"$TMP/storm1" 2>&1 &
storm_pid=$!
worst=0
all=
for _ in $(seq 10); do
	t=$(date +%s%N)
	agentctl status >/dev/null || fail "status failed while the slow clients hold on"
	ms=$((($(date +%s%N) - t) / 1000000))
	[ "$ms" -gt "$worst" ] && worst=$ms
	all="$all $ms"
	sleep 1
done
info "status latencies (ms):$all; before the slow clients:$idle"
clients=$(ctl_stat max_clients)
check "status answered within $STATUS_MS ms each of 10 times during the storm (worst $worst ms)" \
	test "$worst" -le $STATUS_MS
check "while both slow clients were connected (at most $clients at once)" test "$clients" -ge 3
wait $storm_pid
info "storm: $(cat "$TMP/storm1")"
wait_for 180 grep -q "stage 1 done" "$TMP/cli$EPORT" || fail "elephant did not finish: $(cat "$TMP/cli$EPORT")"
slow=$(nft_counter inet probe forward "slow-$EPORT")
check "the elephant took N..N+4 slow-path packets ($slow, N=$N)" test "$slow" -ge $N -a "$slow" -le $((N + 4))
# Through the state filter: the storm's one-datagram flows never reach N,
# so the answer is a few lines, not 110k (jq on 40 MB is slow under TCG).
estate=$(agentctl flows --json --state offloaded --addr $S4 |
	jq -r --argjson d $EPORT '[.[] | select(.proto == "tcp" and .dport == $d)][0].state // "none"')
check "and is offloaded (agent, flows --state offloaded: $estate)" test "$estate" = offloaded
same() { T=$(tracked); L=$(live); [ "$T" -eq "$L" ]; }
wait_for 60 same
check "after the storm the agent's table equals conntrack ($T vs $L)" test "$T" -eq "$L"
rss1=$(rss_kb)
heap1=$(heap_kb)
# What the agent holds: the 10k flows of the storm (a few MB of flow
# storage) and nothing per slow client.
[ "$heap0" -ge 0 ] || skip "the C library reports no heap in use (no mallinfo2)"
check "the agent's heap in use grew by less than $RSS_KB KiB ($heap0 -> $heap1 KiB)" \
	test $((heap1 - heap0)) -lt $RSS_KB
# RSS also counts what the allocator keeps mapped.  Under ASan that is its
# size-class regions and bookkeeping: measured +7.2..10.5 MB in this test
# on an idle machine while the heap grew as in the normal build (about
# +2 MB), so the RSS bound doubles there; the heap bound above holds alike.
rss_bound=$RSS_KB
[ -n "${ASAN_OPTIONS:-}" ] && rss_bound=$((2 * RSS_KB))
check "the agent's RSS grew by less than $rss_bound KiB ($rss0 -> $rss1 KiB)" test $((rss1 - rss0)) -lt $rss_bound
wait $loris_pid $reader_pid
info "$(tr '\n' ' ' <"$TMP/loris")"
info "$(tr '\n' ' ' <"$TMP/reader")"
st=$(agentctl stats --json)
info "control: $(jq -c .control <<<"$st")"
check "the loris was cut off at each request deadline ($(jq .control.request_timeouts <<<"$st"))" \
	test "$(jq .control.request_timeouts <<<"$st")" -ge $((HOLD / 5))
check "the reader was cut off when it stopped taking its reply ($(jq .control.reply_idle_timeouts <<<"$st"))" \
	test "$(jq .control.reply_idle_timeouts <<<"$st")" -ge 1
check "no event overrun meanwhile ($(jq .events.overruns <<<"$st"))" test "$(jq .events.overruns <<<"$st")" -eq 0
eval "fd=\$ctl_$EPORT"
echo go >&"$fd"
agent_stop || fail "flowoffloadd exited non-zero: $(tail -5 "$TMP/agent.log")"
echo "PASS: $base flows, status within $worst ms, heap +$((heap1 - heap0)) KiB, RSS +$((rss1 - rss0)) KiB under slow clients"
