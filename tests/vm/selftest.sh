#!/bin/bash
# Smoke test of the VM harness (vm-run, vm-kernel): exit codes, output
# streaming, cwd, environment, writable shares, timeout, nf_flow_table.
#
# Usage: selftest.sh    (as root; exits 77 when vm-run cannot run here)

set -eu

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
vm_run=$here/vm-run
failures=0

pass() { printf 'PASS: %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*"
	failures=$((failures + 1))
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vm-selftest.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

# 1. Exit status passes through (and the harness can run at all).
rc=0
"$vm_run" sh -c 'exit 3' || rc=$?
if [ "$rc" = 77 ]; then
	echo "SKIP: vm-run cannot run here"
	exit 77
fi
if [ "$rc" = 3 ]; then pass "exit status 3 passed through"; else fail "exit status: expected 3, got $rc"; fi

# 2. One boot for: kernel version, cwd, environment, stdout/stderr, and a
# file written to a VM_RUN_WRITABLE directory.
kver=$("$here/vm-kernel" --quiet)
mkdir -p "$tmp/cwd dir" "$tmp/shared"
rc=0
(
	cd "$tmp/cwd dir"
	export FLOWOFFLOAD_SELFTEST_VALUE="a b 'c' \$d \"e\" *"
	export SELFTEST_PASSED_BY_NAME=yes SELFTEST_NOT_PASSED=leak
	export FLOWOFFLOAD_SELFTEST_LEAK=leak
	export VM_RUN_PASS_ENV="SELFTEST_PASSED_BY_NAME FLOWOFFLOAD_SELFTEST_VALUE"
	export VM_RUN_WRITABLE="$tmp/shared"
	# shellcheck disable=SC2016 # expanded in the guest
	"$vm_run" sh -c '
		uname -r >"$1/uname"
		pwd >"$1/pwd"
		printf "%s\n" "$FLOWOFFLOAD_SELFTEST_VALUE" >"$1/value"
		printf "%s|%s|%s|%s|%s\n" "${SELFTEST_PASSED_BY_NAME-}" \
			"${SELFTEST_NOT_PASSED-unset}" "${FLOWOFFLOAD_SELFTEST_LEAK-unset}" "$HOME" "$LANG" >"$1/env"
		echo to-stdout
		echo to-stderr >&2
		' sh "$tmp/shared" >"$tmp/stdout" 2>"$tmp/stderr"
) || rc=$?
if [ "$rc" = 0 ]; then pass "combined run exited 0"; else fail "combined run exited $rc"; fi
guest_kver=$(cat "$tmp/shared/uname" 2>/dev/null || echo '(no file)')
if [ "$guest_kver" = "$kver" ]; then
	pass "guest runs Debian kernel $kver"
else
	fail "guest uname -r: expected $kver, got $guest_kver"
fi
if [ "$guest_kver" = "$(uname -r)" ]; then
	echo "note: the host runs the same kernel version as the guest"
fi
if [ "$(cat "$tmp/shared/pwd" 2>/dev/null)" = "$tmp/cwd dir" ]; then
	pass "cwd preserved (and the writable share works)"
else
	fail "guest cwd: expected '$tmp/cwd dir', got '$(cat "$tmp/shared/pwd" 2>/dev/null)'"
fi
if [ "$(cat "$tmp/shared/value" 2>/dev/null)" = "a b 'c' \$d \"e\" *" ]; then
	pass "a variable named in VM_RUN_PASS_ENV passed with quoting intact"
else
	fail "FLOWOFFLOAD_SELFTEST_VALUE arrived as '$(cat "$tmp/shared/value" 2>/dev/null)'"
fi
if [ "$(cat "$tmp/shared/env" 2>/dev/null)" = "yes|unset|unset|/root|C" ]; then
	pass "VM_RUN_PASS_ENV passes, other variables (FLOWOFFLOAD_* too) do not, HOME/LANG set"
else
	fail "guest environment: got '$(cat "$tmp/shared/env" 2>/dev/null)'"
fi
if [ "$(cat "$tmp/stdout")" = to-stdout ]; then
	pass "stdout streamed"
else
	fail "stdout: got '$(cat "$tmp/stdout")'"
fi
if grep -qx to-stderr "$tmp/stderr"; then
	pass "stderr streamed"
else
	fail "stderr: got '$(cat "$tmp/stderr")'"
fi

# 3. nf_flow_table works in the guest: a flowtable on a veth pair.
rc=0
"$vm_run" bash -c '
	set -e
	modprobe nf_flow_table
	ip link add vmst0 type veth peer name vmst1
	ip link set vmst0 up
	ip link set vmst1 up
	nft -f - <<-EOF
		table inet vmselftest {
			flowtable ft {
				hook ingress priority 0
				devices = { vmst0, vmst1 }
			}
			chain fw {
				type filter hook forward priority 0
				meta l4proto { tcp, udp } flow add @ft
			}
		}
	EOF
	nft list flowtable inet vmselftest ft
	ip netns add vmselftest
	ip netns del vmselftest
	' >"$tmp/nft.out" 2>&1 || rc=$?
if [ "$rc" = 0 ] && grep -q 'vmst0, vmst1' "$tmp/nft.out"; then
	pass "flowtable on a veth pair in the guest (nf_flow_table), ip netns works"
else
	fail "flowtable in the guest (exit $rc):"
	sed 's/^/  /' "$tmp/nft.out"
fi

# 4. Timeout.
rc=0
start=$(date +%s)
VM_TIMEOUT=3 "$vm_run" sleep 600 >/dev/null 2>"$tmp/timeout.err" || rc=$?
elapsed=$(($(date +%s) - start))
if [ "$rc" = 124 ] && [ "$elapsed" -lt 60 ]; then
	pass "VM_TIMEOUT kills the VM (exit 124 after ${elapsed}s)"
else
	fail "timeout: expected 124 soon, got $rc after ${elapsed}s"
	sed 's/^/  /' "$tmp/timeout.err"
fi

if [ "$failures" -gt 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all checks passed"
