#!/bin/bash
# unit_under_systemd.sh: in a VM booted with systemd as PID 1 (VM_INIT=systemd),
# installs the Debian package built from the tree (FLOWOFFLOAD_DEB) and
# drives flowoffload.service: start, reload, crash, stop,
# with an offloaded TCP flow through the guest (client and server namespaces)
# that must stay offloaded across the reload and the restart.
set -u
b=${FLOWOFFLOAD_BUILDDIR:?}
fail() { echo "FAIL: $*"; journalctl -u flowoffload --no-pager 2>/dev/null | tail -30; exit 1; }
# Addresses: the benchmarking range (RFC 2544), in namespaces made here.
C4=198.18.0.2 R4L=198.18.0.1 R4W=198.18.1.1 S4=198.18.1.2 PORT=6901
FLOWGEN=$b/tests/tools/flowgen
# Whatever this test started goes with it: the guest's job (and with it
# the VM) ends only when nothing holds its output any more.
cleanup() {
	local p
	for p in $(jobs -p); do kill "$p" 2>/dev/null; done
	for p in $(ip netns pids foc 2>/dev/null) $(ip netns pids fos 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	ip netns del foc 2>/dev/null
	ip netns del fos 2>/dev/null
	return 0
}
trap cleanup EXIT
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
# window_is N: the window gate returns packets before N, the offload rule
# ends at 1000.
window_is() {
	local l
	l=$(nft list chain inet flowoffload forward 2>/dev/null)
	grep -q "ct packets < $1 return comment \"window-gate\"" <<<"$l" &&
		grep -q "ct packets <= 1000 .*comment \"offload-tcp\"" <<<"$l"
}

[ "$(cat /proc/1/comm)" = systemd ] || { echo "SKIP: PID 1 is not systemd (VM_INIT=systemd)"; exit 77; }
echo "# systemd up after $(cut -d' ' -f1 /proc/uptime) s of guest uptime"

# The Debian package built from the tree (scripts/check-service builds it
# on the host with scripts/build-deb, outside /tmp, which is the guest's
# own tmpfs): dpkg writes to the guest's overlay root.
deb=${FLOWOFFLOAD_DEB:?the .deb to install (scripts/check-service sets it)}
[ -r "$deb" ] || fail "cannot read $deb in the guest"
dpkg -i "$deb" >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i $deb"; }
[ "$(dpkg-query -W -f '${Status}' flowoffload)" = "install ok installed" ] ||
	fail "dpkg does not list flowoffload as installed"
conf=/etc/flowoffload/flowoffload.conf
[ -f "$conf" ] || fail "the package installed no $conf"
getent passwd flowoffload >/dev/null || fail "no flowoffload user"
systemctl is-enabled -q flowoffload 2>/dev/null && fail "the package enabled the service"
systemctl is-active -q flowoffload && fail "the package started the service"
systemctl daemon-reload || fail "daemon-reload"
unit=$(systemctl show -p FragmentPath --value flowoffload)
exe=$(systemctl show -p ExecStart --value flowoffload | grep -o 'path=[^ ;]*')
[ "$unit" = /lib/systemd/system/flowoffload.service ] && [ "$exe" = path=/usr/sbin/flowoffloadd ] ||
	fail "the unit in use is not the package's: $unit, $exe"
dpkg -S /usr/sbin/flowoffloadd >/dev/null || fail "/usr/sbin/flowoffloadd is not the package's"

# The guest routes between a client and a server namespace: fo0 toward
# the client, fo1 toward the server, the agent's two devices.
topology() {
	ip netns add foc && ip netns add fos &&
		ip link add fo0 type veth peer name eth0 netns foc &&
		ip link add fo1 type veth peer name eth0 netns fos &&
		ip addr add $R4L/24 dev fo0 && ip addr add $R4W/24 dev fo1 &&
		ip link set fo0 up && ip link set fo1 up &&
		ip -n foc addr add $C4/24 dev eth0 && ip -n fos addr add $S4/24 dev eth0 &&
		ip -n foc link set eth0 up && ip -n fos link set eth0 up &&
		ip -n foc link set lo up && ip -n fos link set lo up &&
		ip -n foc route add default via $R4L && ip -n fos route add default via $R4W &&
		sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	# Wire-sized packets, as the kernel tests have them (lib.sh).
	ip netns exec foc ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1
	ip netns exec fos ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1
	wait_for 10 ip netns exec foc ping -c1 -W1 -q $S4 >/dev/null
}
topology || fail "cannot build the client -- guest -- server topology"
sed -i -e 's/^devices = auto$/devices = fo0 fo1/' -e 's/^mode = auto$/mode = off/' \
	-e 's/^metrics-listen =$/metrics-listen = 127.0.0.1:9811/' "$conf"
# The window the package ships, and the one the reload step changes it to.
W0=$(sed -n 's/^window-from = \([0-9]*\)$/\1/p' "$conf")
W1=$((W0 + 4))
if ! grep -q '^devices = fo0 fo1$' "$conf" || ! grep -q '^metrics-listen = 127.0.0.1:9811$' "$conf" ||
	[ -z "$W0" ]; then
	fail "the example config's lines changed; update this test"
fi
# The scrape endpoint needs what the unit's sandbox leaves out (README):
# IP sockets, and loopback through IPAddressDeny=any.
mkdir -p /etc/systemd/system/flowoffload.service.d
printf '[Service]\nRestrictAddressFamilies=AF_INET AF_INET6\nIPAddressAllow=localhost\n' \
	>/etc/systemd/system/flowoffload.service.d/metrics.conf
systemctl daemon-reload || fail "daemon-reload"
ok "installed $(basename "$deb") with dpkg -i, not enabled, not started ($(since)); unit $unit, config $conf"

# The flow under test: its conntrack id and [OFFLOAD] mark, read from the
# kernel with no packet in between (a flow evicted from the flowtable
# loses [OFFLOAD] at once and gets it back only on its next packet).
ct() { conntrack -L -p tcp --dport $PORT -o id 2>/dev/null | head -n1; }
ct_id() { ct | grep -o 'id=[0-9]*'; }
offloaded() { ct | grep -q '\[OFFLOAD\]'; }
still_offloaded() { offloaded && [ "$(ct_id)" = "$id" ]; }
# new_generations FILE: transactions flowoffloadd committed, from nft monitor.
new_generations() { grep -c '^# new generation [0-9]* by process [0-9]* (flowoffloadd)' "$1"; }
monitor_start() { nft monitor >"$1" 2>&1 & mon=$!; sleep 0.5; }
monitor_stop() { sleep 0.5; kill "$mon"; wait "$mon" 2>/dev/null; }

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
scrape=$(python3 -c 'import urllib.request as u; r = u.build_opener(u.ProxyHandler({})).open("http://127.0.0.1:9811/metrics", timeout=5); print(r.status); print(r.read().decode())')
if [ "$(head -1 <<<"$scrape")" != 200 ] || ! grep -q '^flowoffload_build_info{' <<<"$scrape"; then
	fail "GET http://127.0.0.1:9811/metrics under the unit with the drop-in: $(head -3 <<<"$scrape")"
fi
ok "metrics-listen serves GET /metrics from inside the sandbox (drop-in: AF_INET, IPAddressAllow=localhost)"

# A TCP elephant held open after its first MiB: offloaded by the agent's rule.
ip netns exec fos "$FLOWGEN" server -a $S4 -p $PORT -t 300 >/tmp/srv.log 2>&1 &
wait_for 10 grep -q listening /tmp/srv.log || fail "flowgen server did not start"
mkfifo /tmp/cli.ctl
ip netns exec foc "$FLOWGEN" client -a $S4 -p $PORT -s 1M -s 1M -s 1M -w -t 300 </tmp/cli.ctl >/tmp/cli.log 2>&1 &
cli=$!
exec {ctl}>/tmp/cli.ctl
wait_for 60 grep -q "stage 1 done" /tmp/cli.log || fail "the elephant did not send its first MiB"
wait_for 10 offloaded || fail "the elephant is not offloaded: $(ct)"
id=$(ct_id)
# Idle from here on until stage 2: keep the flowtable from timing it out
# (30 s by default) while the unit restarts under emulation.
sysctl -qw net.netfilter.nf_flowtable_tcp_timeout=300 ||
	fail "no net.netfilter.nf_flowtable_tcp_timeout"
ok "an elephant is offloaded ($id): $(flowoffloadctl flows --state offloaded | tail -n +2 | head -1)"

# The table's and the flowtable's handles: a replacement changes both.
handle() { nft -a list table inet flowoffload 2>/dev/null | sed -n '1s/.*# handle //p'; }
ft_handle() { nft -a list table inet flowoffload 2>/dev/null | sed -n 's/^[[:space:]]*flowtable ft { # handle //p'; }
window_is "$W0" || fail "window is not $W0-1000"
h0=$(handle)
f0=$(ft_handle)
[ -n "$h0" ] && [ -n "$f0" ] || fail "no table or flowtable handle: $(nft -a list table inet flowoffload)"
sed -i "s/^window-from = $W0\$/window-from = $W1/" "$conf"
monitor_start /tmp/reload.mon
systemctl reload flowoffload || fail "systemctl reload"
wait_for 10 window_is "$W1" || fail "the reload did not change the window"
monitor_stop
n=$(new_generations /tmp/reload.mon)
[ "$n" = 1 ] || { cat /tmp/reload.mon; fail "the reload took $n transactions, not 1"; }
ok "systemctl reload: the window is $W1-1000, in 1 transaction ($(since))"
# Only the chains, sets and rules are replaced: the table and its
# flowtable stay, and the flow in it with them (no packet since stage 1,
# so the conntrack id and [OFFLOAD] are the kernel's word on the entry).
[ "$(handle)" = "$h0" ] && [ "$(ft_handle)" = "$f0" ] ||
	fail "the reload replaced the table or flowtable (table $h0 -> $(handle), flowtable $f0 -> $(ft_handle))"
still_offloaded || fail "the reload evicted the elephant: $(ct)"
ok "the table and flowtable stay (handles $h0, $f0) and the elephant is still offloaded ($id)"
journalctl -u flowoffload --no-pager | grep -q 'ruleset changed in place' ||
	fail "the agent did not say it changed the ruleset in place"
echo >&"$ctl"
wait_for 60 grep -q "stage 2 done" /tmp/cli.log || fail "the elephant's second MiB did not arrive"
still_offloaded || fail "the elephant left the flowtable in its second MiB after the reload: $(ct)"
ok "after the reload and its second MiB the elephant is offloaded ($id)"
echo "window-from = nonsense" >>"$conf"
monitor_start /tmp/bad.mon
systemctl reload flowoffload
sleep 1
monitor_stop
systemctl is-active -q flowoffload || fail "an invalid reload stopped the unit"
window_is "$W1" || fail "an invalid reload changed the window"
n=$(new_generations /tmp/bad.mon)
[ "$n" = 0 ] || fail "an invalid reload committed $n transactions"
journalctl -u flowoffload --no-pager | grep -q 'reload refused, the running configuration stays' ||
	fail "the refused reload was not logged"
ok "an invalid config on reload: refused and logged, still active, window still $W1, 0 transactions"
sed -i '$d' "$conf"
h0=$(handle)

systemctl kill -s KILL flowoffload
wait_for 20 sh -c "[ \"\$(systemctl show -p MainPID --value flowoffload)\" != 0 ] &&
	[ \"\$(systemctl show -p MainPID --value flowoffload)\" != $pid ] &&
	systemctl is-active -q flowoffload" || fail "not restarted after kill -9"
table || fail "no table after the restart"
[ "$(handle)" = "$h0" ] || fail "the restarted agent replaced its table (handle $h0 -> $(handle))"
ok "kill -9: restarted by systemd (pid $(systemctl show -p MainPID --value flowoffload)), table kept (handle $h0) ($(since))"
wait_for 10 sh -c 'systemctl show -p StatusText --value flowoffload | grep -q "offloaded: 1 software"' ||
	fail "the restarted agent does not see the elephant offloaded: $(systemctl show -p StatusText --value flowoffload)"
still_offloaded || fail "the restart evicted the elephant: $(ct)"
echo >&"$ctl"
wait_for 60 grep -q "stage 3 done" /tmp/cli.log || fail "the elephant's third MiB did not arrive"
still_offloaded || fail "the elephant left the flowtable in its third MiB: $(ct)"
ok "the elephant stays offloaded across kill -9 and the restart, and carries its third MiB"

systemctl stop flowoffload || fail "systemctl stop"
table && fail "systemctl stop left the table"
ok "systemctl stop removed the table ($(since))"
# The control of every "still offloaded" above: the flowtable gone, the
# kernel drops the flow's entry and [OFFLOAD] with it.
wait_for 10 sh -c "! conntrack -L -p tcp --dport $PORT 2>/dev/null | grep -q OFFLOAD" ||
	fail "the elephant is still [OFFLOAD] with no flowtable: $(ct)"
ok "with the tables gone the elephant is no longer [OFFLOAD]: the check above can fail"
echo >&"$ctl"
wait "$cli" || fail "the elephant's client failed"
echo "PASS: flowoffload.service under systemd"
