#!/bin/sh
# install_purge.sh: run as root on a scratch system (the test VM's overlay
# root): the package installs, enables and starts nothing, and purges cleanly.
set -u
deb=$1
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok - $*"; }

before=$(mktemp)
find /etc /lib/systemd /usr/lib/sysctl.d /usr/lib/modules-load.d -xdev 2>/dev/null | sort >"$before"
dpkg -i "$deb" >/tmp/dpkg-i.log 2>&1 || { cat /tmp/dpkg-i.log; fail "dpkg -i"; }
ok "dpkg -i $(basename "$deb")"
getent passwd flowoffload >/dev/null || fail "no flowoffload user after install"
ok "the flowoffload user exists ($(getent passwd flowoffload))"
[ -f /etc/flowoffload/flowoffload.conf ] || fail "no /etc/flowoffload/flowoffload.conf"
ok "the config is in place"
ls /etc/systemd/system/*.wants/flowoffload.service >/dev/null 2>&1 &&
	fail "the service was enabled"
ok "the service is not enabled"
pgrep -x flowoffloadd >/dev/null && fail "flowoffloadd was started"
ok "nothing was started"
/usr/sbin/flowoffloadd --help >/dev/null || fail "the installed flowoffloadd does not run"
ok "the installed programs run"

dpkg --purge flowoffload >/tmp/dpkg-p.log 2>&1 || { cat /tmp/dpkg-p.log; fail "dpkg --purge"; }
ok "dpkg --purge"
dpkg -s flowoffload >/dev/null 2>&1 && fail "still known to dpkg"
after=$(mktemp)
find /etc /lib/systemd /usr/lib/sysctl.d /usr/lib/modules-load.d -xdev 2>/dev/null | sort >"$after"
# The system user stays, as Debian does for every package's user.
left=$(comm -13 "$before" "$after" | grep -v -e '^/etc/passwd' -e '^/etc/group' -e '^/etc/shadow' -e '^/etc/gshadow' -e '^/etc/.*-$' -e '^/etc/ld.so.cache$')
[ -z "$left" ] || fail "left after purge: $left"
ok "purge left nothing behind in /etc, /lib/systemd, sysctl.d, modules-load.d"
echo "PASS: install and purge"
