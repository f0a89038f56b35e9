#!/bin/bash
# Proves the systemd notifications: READY=1 comes only once the agent's table
# is in the kernel, SIGHUP brings RELOADING=1 then READY=1 (a refused file
# too), STATUS= counts flows, WATCHDOG=1 follows WATCHDOG_USEC, STOPPING=1.
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip nft ping python3 jq
topology_up

# The manager's end: one line per datagram (newlines shown as '|'); at the
# first READY=1 it looks for the agent's table before it answers anything.
cat >"$TMP/manager.py" <<'PY'
import os, socket, subprocess, sys
path, log, ns = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
ready = False
with open(log, "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg.replace("\n", "|") + "\n")
        if "READY=1" in msg.split("\n") and not ready:
            ready = True
            rc = subprocess.call(["ip", "netns", "exec", ns, "nft", "list", "table",
                                  "inet", "flowoffload"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            out.write("table-at-ready=%s\n" % ("yes" if rc == 0 else "no"))
PY
python3 "$TMP/manager.py" "$TMP/notify" "$TMP/notify.log" "$NS_R" &
mgr=$!
stop_manager() { kill "$mgr" 2>/dev/null; }
at_exit stop_manager
wait_for 20 test -S "$TMP/notify" || fail "the listener did not bind"

agent_config "$TMP/agent.conf" "[hardware]" "mode = off"
NOTIFY_SOCKET=$TMP/notify WATCHDOG_USEC=600000 agent_start "$TMP/agent.conf"
wait_for 10 grep -q '^table-at-ready=' "$TMP/notify.log" || fail "no READY=1: $(cat "$TMP/notify.log")"
check "READY=1 came after the table was installed" grep -q '^table-at-ready=yes$' "$TMP/notify.log"
check "READY=1 carries a STATUS= with the flows" grep -q '^READY=1|STATUS=[0-9]* flows; offloaded: ' "$TMP/notify.log"
check "the watchdog is pinged from the loop (every 200 ms for 600 ms)" \
	wait_for 3 sh -c "[ \$(grep -c '^WATCHDOG=1$' '$TMP/notify.log') -ge 3 ]"

# A valid change: RELOADING=1 (with MONOTONIC_USEC), then READY=1.
agent_config "$TMP/agent.conf" "[offload]" "window-from = 7" "[hardware]" "mode = off"
before=$(wc -l <"$TMP/notify.log")
kill -HUP "$AGENT_PID"
reloaded() { tail -n +$((before + 1)) "$TMP/notify.log" | grep -v '^WATCHDOG=1$' | tr '\n' ' '; }
wait_for 5 sh -c "grep -c '^READY=1' '$TMP/notify.log' | grep -qx 2" || fail "no READY=1 after the reload: $(reloaded)"
check "SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1" \
	grep -qE '^RELOADING=1\|MONOTONIC_USEC=[0-9]+ READY=1\|STATUS=' <<<"$(reloaded)"
check "the new window is in force" [ "$(agentctl status --json | jq .window_from)" = 7 ]

# A refused file: the manager still gets READY=1, the agent keeps running.
echo "window-from = nonsense" >>"$TMP/agent.conf"
before=$(wc -l <"$TMP/notify.log")
kill -HUP "$AGENT_PID"
wait_for 5 sh -c "grep -c '^READY=1' '$TMP/notify.log' | grep -qx 3" || fail "no READY=1 after a refused reload: $(reloaded)"
check "a refused reload also ends in READY=1" grep -qE '^RELOADING=1\|MONOTONIC_USEC=[0-9]+ READY=1' <<<"$(reloaded)"
check "the agent runs on with the old window" [ "$(agentctl status --json | jq .window_from)" = 7 ]

agent_stop || fail "flowoffloadd exited with an error"
check "SIGTERM: STOPPING=1" grep -q '^STOPPING=1$' "$TMP/notify.log"
