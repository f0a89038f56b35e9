#!/bin/bash
# Proves the agent's own scrape endpoint ([agent] metrics-listen) with a real
# Prometheus server in the router: it scrapes the agent every second while
# elephants run, and a PromQL query through its HTTP API returns the
# offloaded-flow count that flowoffloadctl and the kernel's conntrack
# ([OFFLOAD]) show; promtool accepts the served text; other paths and
# methods are refused; scrapers that hold every slot neither stall the
# agent nor keep Prometheus out once their deadline passes.
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip nft conntrack jq python3 promtool prometheus
topology_up

LISTEN=127.0.0.1:9811
PROM=127.0.0.1:9090
ELEPHANTS="6811 6812 6813"

# The system's python3, not a shim in front of it (pyenv's costs seconds
# per call under emulation).
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
# http METHOD URL: "STATUS CONTENT-TYPE" on the first line, then the body;
# python3's urllib (curl is not among the packages scripts/setup installs),
# never through a proxy from the environment.
cat >"$TMP/httpget.py" <<'EOF'
import sys, urllib.request, urllib.error
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
req = urllib.request.Request(sys.argv[2], method=sys.argv[1])
try:
    with opener.open(req, timeout=5) as r:
        print(r.status, r.headers.get("Content-Type"))
        sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get("Content-Type"))
EOF
http() { nsr "$PY" "$TMP/httpget.py" "$@"; }

agent_config "$TMP/agent.conf" "metrics-listen = $LISTEN" \
	"[offload]" "min-avgpkt = 0" "[hardware]" "mode = off"
agent_start "$TMP/agent.conf"
check "the agent says where it serves metrics" \
	wait_for 5 grep -q "serving metrics on http://$LISTEN/metrics" "$TMP/agent.log"

info "---- the endpoint (at ${SECONDS} s)"
http GET "http://$LISTEN/metrics" >"$TMP/served" || fail "GET /metrics failed"
check "GET /metrics: 200, the exposition's content type" \
	[ "$(head -1 "$TMP/served")" = "200 text/plain; version=0.0.4; charset=utf-8" ]
sed 1d "$TMP/served" >"$TMP/served.txt"
check "promtool check metrics accepts the served text" \
	sh -c "promtool check metrics <'$TMP/served.txt' >'$TMP/promtool' 2>&1 && ! [ -s '$TMP/promtool' ]"
[ -s "$TMP/promtool" ] && cat "$TMP/promtool"
agentctl metrics >"$TMP/cli.txt" || fail "flowoffloadctl metrics failed"
families() { sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' "$1" | sort; }
check "the same $(families "$TMP/cli.txt" | wc -l) families as flowoffloadctl metrics" \
	[ "$(families "$TMP/served.txt")" = "$(families "$TMP/cli.txt")" ]
check "another path is 404" [ "$(http GET "http://$LISTEN/" | head -1 | cut -d' ' -f1)" = 404 ]
check "POST is 405" [ "$(http POST "http://$LISTEN/metrics" | head -1 | cut -d' ' -f1)" = 405 ]

info "---- Prometheus (at ${SECONDS} s)"
cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: flowoffload
    static_configs:
      - targets: ['$LISTEN']
EOF
promtool check config "$TMP/prometheus.yml" >/dev/null || fail "promtool refuses the Prometheus config"
t0=$(date +%s%N)
ip netns exec "$NS_R" prometheus --config.file="$TMP/prometheus.yml" \
	--storage.tsdb.path="$TMP/tsdb" --web.listen-address=$PROM --log.level=warn \
	>"$TMP/prometheus.log" 2>&1 &
ready() { [ "$(http GET "http://$PROM/-/ready" | head -1 | cut -d' ' -f1)" = 200 ]; }
if ! wait_for 60 ready; then
	cat "$TMP/prometheus.log"
	fail "Prometheus not ready within 60 s"
fi
info "Prometheus ready $(( ($(date +%s%N) - t0) / 1000000 )) ms after its start"

# promql EXPR: the value of the query's first sample, or "none".
promql() {
	nsr "$PY" - "http://$PROM/api/v1/query" "$1" <<'EOF'
import json, sys, urllib.parse, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
url = sys.argv[1] + "?" + urllib.parse.urlencode({"query": sys.argv[2]})
with opener.open(url, timeout=5) as r:
    res = json.load(r)["data"]["result"]
print(res[0]["value"][1] if res else "none")
EOF
}
prom_is() { [ "$(promql "$1")" = "$2" ]; }
check "Prometheus scrapes the agent (up == 1)" wait_for 15 prom_is 'up{job="flowoffload"}' 1

info "---- elephants held open after 2 MiB each (at ${SECONDS} s)"
for port in $ELEPHANTS; do
	start_held_elephant ipv4 "$port" 2M 120
done
for port in $ELEPHANTS; do
	wait_for 60 grep -q "stage 1 done" "$TMP/cli$port" || fail "flow $port did not finish its transfer"
done
cli_offloaded() { agentctl flows --json | jq '[.[] | select(.state == "offloaded" and .tier == "sw")] | length'; }
kernel_offloaded() { nsr conntrack -L -f ipv4 2>/dev/null | grep -c '\[OFFLOAD\]'; }
cli_is() { [ "$(cli_offloaded)" = "$1" ]; }
check "the agent shows the 3 elephants offloaded" wait_for 15 cli_is 3
query='flowoffload_flows{job="flowoffload",state="offloaded",tier="sw"}'
check "Prometheus has scraped the offloaded gauge at 3" wait_for 15 prom_is "$query" 3
prom=$(promql "$query")
cli=$(cli_offloaded)
stats=$(agentctl stats --json | jq '.flows.states.offloaded.sw')
kernel=$(kernel_offloaded)
all_three() { [ "$prom" = 3 ] && [ "$cli" = 3 ] && [ "$stats" = 3 ] && [ "$kernel" = 3 ]; }
check "PromQL ($prom), flows ($cli), stats ($stats) and the kernel's [OFFLOAD] entries ($kernel) agree" \
	all_three
# At least 3 samples, however fast the machine got here.
samples() { promql 'count_over_time(up{job="flowoffload"}[1m])'; }
three_samples() { [ "$(samples)" -ge 3 ] 2>/dev/null; }
wait_for 10 three_samples || fail "Prometheus recorded fewer than 3 scrapes in 10 s: $(samples)"
scrapes=$(samples)
served=$(agentctl stats --json | jq .metrics_http.scrapes)
info "Prometheus took $scrapes samples of up; the agent answered $served scrapes"
answered() { [ "$scrapes" -ge 3 ] && [ "$served" -ge "$scrapes" ]; }
check "Prometheus recorded scrapes ($scrapes), each answered by the agent ($served)" answered

info "---- 8 scrapers that send nothing hold every slot for 7 s (at ${SECONDS} s)"
nsr "$PY" - "$LISTEN" >"$TMP/holders" 2>&1 <<'EOF' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
held = [socket.create_connection((host, int(port)), timeout=5) for _ in range(8)]
print("held", flush=True)
time.sleep(7)
EOF
holders=$!
wait_for 10 grep -q held "$TMP/holders" || fail "the silent scrapers did not connect: $(cat "$TMP/holders")"
sleep 0.5
check "a ninth scraper is told 503 at once" \
	[ "$(http GET "http://$LISTEN/metrics" | head -1 | cut -d' ' -f1)" = 503 ]
t0=$(date +%s%N)
agentctl status >/dev/null || fail "flowoffloadctl status failed while the slots were held"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "the control socket answers meanwhile ($ms ms)" [ "$ms" -lt 2000 ]
check "the elephants stay offloaded meanwhile (kernel: $(kernel_offloaded))" [ "$(kernel_offloaded)" = 3 ]
check "the silent scrapers are closed at the 5 s deadline" \
	wait_for 10 sh -c "[ \$(ip netns exec $NS_R $AGENTCTL -s $AGENT_SOCK stats --json | jq .metrics_http.request_timeouts) -ge 8 ]"
check "Prometheus scrapes again afterwards" wait_for 10 prom_is 'up{job="flowoffload"}' 1
check "and still sees the 3 offloaded elephants" prom_is "$query" 3
check "the refusals are counted ($(agentctl stats --json | jq -c .metrics_http))" \
	[ "$(agentctl stats --json | jq .metrics_http.busy_refused)" -ge 1 ]
wait "$holders"

for port in $ELEPHANTS; do
	eval "echo >&\$ctl_$port"
done
for port in $ELEPHANTS; do
	eval "wait \$cpid_$port" || fail "elephant $port failed"
done
agent_stop || fail "flowoffloadd exited with an error"
