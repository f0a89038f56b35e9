#!/bin/bash
# unit_under_systemd.sh: in a VM booted with systemd as PID 1 (VM_INIT=systemd),
# installs the build tree and drives flowoffload.service: start, reload, crash, stop.
set -u
b=${FLOWOFFLOAD_BUILDDIR:?}
fail() { echo "FAIL: $*"; journalctl -u flowoffload --no-pager 2>/dev/null | tail -30; exit 1; }
ok() { echo "ok - $*"; }
t0=$(date +%s.%N)
since() { printf '%.1f s' "$(echo "$(date +%s.%N) - $t0" | bc)"; }
wait_for() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}
table() { nft list table inet flowoffload >/dev/null 2>&1; }
window_is() { nft list chain inet flowoffload forward 2>/dev/null | grep -q "ct packets $1-1000 "; }

[ "$(cat /proc/1/comm)" = systemd ] || { echo "SKIP: PID 1 is not systemd (VM_INIT=systemd)"; exit 77; }
echo "# systemd up after $(cut -d' ' -f1 /proc/uptime) s of guest uptime"

make -s -C "$b" install DESTDIR=/ >/tmp/install.log 2>&1 || { cat /tmp/install.log; fail "make install"; }
layout=$(make -s -C "$b" print-install-layout)
conf=$(sed -n 3p <<<"$layout")
systemd-sysusers || fail "systemd-sysusers"
getent passwd flowoffload >/dev/null || fail "no flowoffload user"
systemctl daemon-reload || fail "daemon-reload"

# Two forwarding devices for the agent's flowtable.
if ! { ip link add fo0 type veth peer name fo1 && ip link set fo0 up && ip link set fo1 up; }; then
	fail "cannot create the veth pair"
fi
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
sed -i -e 's/^devices = auto$/devices = fo0 fo1/' -e 's/^mode = auto$/mode = off/' "$conf"
ok "installed ($(since)); config $conf"

systemctl start flowoffload || fail "systemctl start"
table || fail "systemctl start returned before the agent's table existed"
ok "systemctl start returned with the table in place ($(since))"
pid=$(systemctl show -p MainPID --value flowoffload)
st=/proc/$pid/status
[ "$(awk '/^Uid:/ { print $2 }' "$st")" = "$(id -u flowoffload)" ] || fail "not running as flowoffload"
[ "$(awk '/^CapEff:/ { print $2 }' "$st")" = 0000000000001000 ] || fail "CapEff $(awk '/^CapEff:/ { print $2 }' "$st")"
ok "pid $pid runs as flowoffload with CAP_NET_ADMIN only, in the sandbox"
status=$(systemctl show -p StatusText --value flowoffload)
grep -q 'flows; offloaded:' <<<"$status" || fail "StatusText: $status"
ok "StatusText: $status"
flowoffloadctl status >/dev/null || fail "flowoffloadctl cannot reach the agent"
ok "flowoffloadctl (root) reaches /run/flowoffload/flowoffload.sock"

window_is 5 || fail "window is not 5-1000"
sed -i 's/^window-from = 5$/window-from = 7/' "$conf"
systemctl reload flowoffload || fail "systemctl reload"
wait_for 10 window_is 7 || fail "the reload did not change the window"
ok "systemctl reload: the window is 7-1000 ($(since))"
echo "window-from = nonsense" >>"$conf"
systemctl reload flowoffload
sleep 1
systemctl is-active -q flowoffload || fail "an invalid reload stopped the unit"
window_is 7 || fail "an invalid reload changed the window"
ok "an invalid config on reload: still active, window still 7"
sed -i '$d' "$conf"

systemctl kill -s KILL flowoffload
wait_for 20 sh -c "[ \"\$(systemctl show -p MainPID --value flowoffload)\" != 0 ] &&
	[ \"\$(systemctl show -p MainPID --value flowoffload)\" != $pid ] &&
	systemctl is-active -q flowoffload" || fail "not restarted after kill -9"
table || fail "no table after the restart"
ok "kill -9: restarted by systemd (pid $(systemctl show -p MainPID --value flowoffload)), table kept ($(since))"

systemctl stop flowoffload || fail "systemctl stop"
table && fail "systemctl stop left the table"
ok "systemctl stop removed the table ($(since))"
echo "PASS: flowoffload.service under systemd"
