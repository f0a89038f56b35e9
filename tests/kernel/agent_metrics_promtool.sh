#!/bin/bash
# Proves `flowoffloadctl metrics` on a live agent: promtool accepts the
# exposition, the offloaded-flow gauge is the count `flows` shows, and the
# kernel's flowtable work queue is reported where the kernel has it.
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip nft ping jq
command -v promtool >/dev/null || skip "no promtool (apt-get install prometheus)"
topology_up

agent_config "$TMP/agent.conf" "[offload]" "min-avgpkt = 0" "[hardware]" "mode = off"
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
agent_stop || fail "flowoffloadd exited with an error"
