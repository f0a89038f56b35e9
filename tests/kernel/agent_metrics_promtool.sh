#!/bin/bash
# Proves `flowoffloadctl metrics` on a live agent: promtool accepts the
# exposition, the offloaded-flow gauge is the count `flows` shows, and the
# kernel's flowtable work queue is reported where the kernel has it; with
# [agent] metrics-dir the agent writes the same text there, atomically.
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip nft ping jq
command -v promtool >/dev/null || skip "no promtool (apt-get install prometheus)"
topology_up

mkdir "$TMP/textfile"
agent_config "$TMP/agent.conf" "metrics-dir = $TMP/textfile" "metrics-interval = 1s" \
	"[offload]" "min-avgpkt = 0" "[hardware]" "mode = off"
agent_start "$TMP/agent.conf"

# Two elephants held open after 2 MiB each: offloaded, and still there.
for port in 6801 6802; do
	start_held_elephant ipv4 $port 2M 120
done
for port in 6801 6802; do
	wait_for 60 grep -q "stage 1 done" "$TMP/cli$port" || fail "flow $port did not finish its transfer"
done
offloaded() { agentctl flows --json | jq '[.[] | select(.state == "offloaded" and .tier == "sw")] | length'; }
wait_for 10 sh -c "[ \$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK flows --json |
	jq '[.[] | select(.state == \"offloaded\")] | length') -ge 2 ]" ||
	fail "the agent does not show the elephants offloaded: $(agentctl flows)"

agentctl metrics >"$TMP/metrics" || fail "flowoffloadctl metrics failed"
check "promtool check metrics accepts the exposition" \
	sh -c "promtool check metrics <'$TMP/metrics' >'$TMP/promtool' 2>&1 && ! [ -s '$TMP/promtool' ]"
[ -s "$TMP/promtool" ] && cat "$TMP/promtool"
gauge=$(sed -n 's/^flowoffload_flows{state="offloaded",tier="sw"} //p' "$TMP/metrics")
cli=$(offloaded)
check "the offloaded gauge ($gauge) is the count flows shows ($cli)" [ "$gauge" = "$cli" ]
check "the build_info names the version" grep -q '^flowoffload_build_info{version="[0-9.]*"} 1$' "$TMP/metrics"
check "the ruleset install is counted" grep -q '^flowoffload_ruleset_installs_total [1-9]' "$TMP/metrics"
# Only kernels built with CONFIG_NF_FLOW_TABLE_PROCFS have the file (Debian's
# 6.1 has not).
if nsr test -r /proc/net/stat/nf_flowtable; then
	check "the kernel's flowtable work queue is reported" \
		grep -q '^flowoffload_kernel_flowtable_work_queued{op="add"} ' "$TMP/metrics"
else
	check "no work queue family without /proc/net/stat/nf_flowtable" \
		lacks kernel_flowtable_work_queued "$(cat "$TMP/metrics")"
	info "this kernel has no /proc/net/stat/nf_flowtable (CONFIG_NF_FLOW_TABLE_PROCFS)"
fi

info "---- the textfile"
check "the agent wrote $TMP/textfile/flowoffload.prom" test -s "$TMP/textfile/flowoffload.prom"
check "promtool accepts it" sh -c "promtool check metrics <'$TMP/textfile/flowoffload.prom' >'$TMP/promtool2' 2>&1 && ! [ -s '$TMP/promtool2' ]"
check "readable by node_exporter's user (mode $(stat -c %a "$TMP/textfile/flowoffload.prom"))" \
	test "$(stat -c %a "$TMP/textfile/flowoffload.prom")" = 644
file_gauge() { sed -n 's/^flowoffload_flows{state="offloaded",tier="sw"} //p' "$TMP/textfile/flowoffload.prom"; }
file_gauge_is() { [ "$(file_gauge)" = "$1" ]; }
check "its offloaded gauge ($(file_gauge)) is the count flows shows ($cli)" wait_for 3 file_gauge_is "$cli"
# Rewritten every second, never seen half-written: sample it meanwhile.
torn=0
for _ in $(seq 30); do
	tail -c 1 "$TMP/textfile/flowoffload.prom" | od -c | grep -q '\\n' || torn=$((torn + 1))
	sleep 0.1
done
check "30 reads over 3 s all saw a whole file (torn: $torn)" [ $torn = 0 ]
check "no temporary file left behind" [ "$(ls "$TMP/textfile")" = flowoffload.prom ]
agent_stop || fail "flowoffloadd exited with an error"
