#!/usr/bin/env bash
# mem-on-off-test.sh: the kernel's memory-hotplug selftest, written for hotplugd.
#
# The phases of tools/testing/selftests/memory-hotplug/mem-on-off-test.sh
# (kernel-notes §6.2), with plain `echo WORD > memoryN/state` writes, against a
# memory directory and a debugfs root: the real ones by default, or the sysfs
# projection's (`hotplugctl mount DIR --debugfs DIR`). Unlike the kernel's, the
# error-injection phases count too: with an errno injected for
# MEM_GOING_ONLINE / MEM_GOING_OFFLINE every write must fail and every block
# must keep its state.
#
# usage: mem-on-off-test.sh [-m MEMORY_DIR] [-d DEBUGFS_DIR] [-e ERRNO] [-r PERCENT] [-s SEED]
#   -m  memory directory (default /sys/devices/system/memory)
#   -d  debugfs root with notifier-error-inject/memory (default /sys/kernel/debug)
#   -e  errno to inject, -4095..-1 (default -12)
#   -r  share of hotpluggable blocks to offline, 0..100 (default 10)
#   -s  seed for the random choice of phase 4 (default: unseeded)
# exit status: 0 passed, 1 failed, 4 skipped (as kselftest's ksft_skip)

set -u

MEM=/sys/devices/system/memory
DEBUGFS=/sys/kernel/debug
ERROR=-12
RATIO=10
KSFT_SKIP=4
retval=0
writes=0
refused=0

usage() {
	sed -n '/^# usage:/,/^# exit status/s/^# \{0,1\}//p' "$0"
}

while getopts m:d:e:r:s:h opt; do
	case $opt in
	m) MEM=$OPTARG ;;
	d) DEBUGFS=$OPTARG ;;
	e) ERROR=$OPTARG ;;
	r) RATIO=$OPTARG ;;
	s) RANDOM=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 1 ;;
	esac
done

if ! [[ $ERROR =~ ^-[0-9]+$ ]] || ((ERROR < -4095 || ERROR >= 0)); then
	echo "error code must be -4095 <= errno < 0" >&2
	exit 1
fi
if ! [[ $RATIO =~ ^[0-9]+$ ]] || ((RATIO > 100)); then
	echo "ratio must be 0..100" >&2
	exit 1
fi

skip() {
	echo "SKIP: $*"
	exit $KSFT_SKIP
}

[ "$(id -u)" = 0 ] || skip "must be run as root"
[ -r "$MEM/block_size_bytes" ] || skip "no memory hotplug interface at $MEM"
ls "$MEM" | grep -q '^memory[0-9]' || skip "no memory blocks in $MEM"

# Memory blocks in version order (memory2 before memory10), as lsmem lists them.
blocks() {
	ls "$MEM" | grep '^memory[0-9][0-9]*$' | sort -V
}

# Hotpluggable blocks in a state: `removable` has a 1 and `state` contains the
# word (so "offline" also matches going-offline, as in the kernel's script).
hotpluggable() {
	local block
	for block in $(blocks); do
		grep -q 1 "$MEM/$block/removable" && grep -q "$1" "$MEM/$block/state" && echo "$block"
	done
}

# write_state BLOCK WORD: one write(2); on failure WRITE_ERROR holds the error text.
write_state() {
	writes=$((writes + 1))
	WRITE_ERROR=$({ echo "$2" >"$MEM/$1/state"; } 2>&1) && return 0
	WRITE_ERROR=${WRITE_ERROR##*: }
	return 1
}

state_is() {
	[ "$(cat "$MEM/$1/state")" = "$2" ]
}

expect_success() { # BLOCK WORD RESULTING-STATE
	if ! write_state "$1" "$2"; then
		echo "FAIL: echo $2 > $1/state: $WRITE_ERROR"
		retval=1
	elif ! state_is "$1" "$3"; then
		echo "FAIL: $1 reads $(cat "$MEM/$1/state") after echo $2, expected $3"
		retval=1
	fi
}

expect_failure() { # BLOCK WORD UNCHANGED-STATE
	if write_state "$1" "$2"; then
		echo "FAIL: echo $2 > $1/state succeeded despite the injected error"
		retval=1
	else
		refused=$((refused + 1))
		echo "refused as expected: echo $2 > $1/state: $WRITE_ERROR"
	fi
	if ! state_is "$1" "$3"; then
		echo "FAIL: $1 reads $(cat "$MEM/$1/state") after a refused $2, expected $3"
		retval=1
	fi
}

online_all_offline() {
	local block
	for block in $(hotpluggable offline); do
		expect_success "$block" online online
	done
}

[ -n "$(hotpluggable '')" ] || skip "no hotpluggable memory blocks (removable 1)"

echo "phase 1: online every hotpluggable offline block"
online_all_offline

echo "phase 2: offline $RATIO% of the hotpluggable online blocks"
online=($(hotpluggable online))
target=$(((${#online[@]} * RATIO + 99) / 100))
done_count=0
for block in "${online[@]}"; do
	((done_count >= target)) && break
	if write_state "$block" offline && state_is "$block" offline; then
		done_count=$((done_count + 1))
	fi
done
if ((done_count < target)); then
	echo "FAIL: unable to offline some memory blocks ($done_count of $target), device busy?"
	retval=1
fi

echo "phase 3: online them again"
online_all_offline

INJECT=$DEBUGFS/notifier-error-inject/memory/actions
if [ ! -d "$INJECT" ]; then
	echo "SKIP error injection: no $INJECT"
	exit $retval
fi

inject() { # ACTION ERRNO
	if ! echo "$2" >"$INJECT/$1/error"; then
		echo "FAIL: cannot set $1 to $2"
		exit 1
	fi
}
reset_injection() {
	echo 0 >"$INJECT/MEM_GOING_ONLINE/error" 2>/dev/null
	echo 0 >"$INJECT/MEM_GOING_OFFLINE/error" 2>/dev/null
}
trap reset_injection EXIT

echo "phase 4: offline about $RATIO% of the online blocks (MEM_GOING_OFFLINE error 0)"
inject MEM_GOING_OFFLINE 0
for block in $(hotpluggable online); do
	((RANDOM % 100 < RATIO)) && expect_success "$block" offline offline
done
if [ -z "$(hotpluggable offline)" ]; then
	first=$(hotpluggable online | head -n 1)
	[ -n "$first" ] && expect_success "$first" offline offline
fi

echo "phase 5: MEM_GOING_ONLINE error $ERROR: every online must fail"
inject MEM_GOING_ONLINE "$ERROR"
[ "$(cat "$INJECT/MEM_GOING_ONLINE/error")" = "$ERROR" ] || {
	echo "FAIL: MEM_GOING_ONLINE/error reads $(cat "$INJECT/MEM_GOING_ONLINE/error")"
	retval=1
}
for block in $(hotpluggable offline); do
	expect_failure "$block" online offline
done

echo "phase 6: MEM_GOING_ONLINE error 0: online them all"
inject MEM_GOING_ONLINE 0
online_all_offline

echo "phase 7: MEM_GOING_OFFLINE error $ERROR: every offline must fail"
inject MEM_GOING_OFFLINE "$ERROR"
for block in $(hotpluggable online); do
	expect_failure "$block" offline online
done

inject MEM_GOING_OFFLINE 0
echo "mem-on-off-test: $writes state writes, $refused refused by the injected error, result $retval"
exit $retval
