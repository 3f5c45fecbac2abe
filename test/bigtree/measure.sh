#!/usr/bin/env bash
# measure.sh PIECEFS_BIN ORIGIN_DIR [HEAP_PROFILE]
#
# Serves ORIGIN_DIR (written by `go run ./test/bigtree`) with PIECEFS_BIN,
# mounts it twice — first with an empty cache (the manifest is fetched),
# then again on the same cache (the manifest is read from disk) — and
# prints for each mount: seconds until "mounted" is printed, seconds until
# a stat of a file works, the peak RSS (VmHWM) of the mount process then,
# the seconds of `find MNT | wc -l`, and VmHWM and VmRSS after it. With
# HEAP_PROFILE, the first mount serves pprof and its heap profile after
# mounting is saved there. Needs root and /dev/fuse; unmounts and stops
# everything it started.
set -euo pipefail
bin=$(realpath "$1") origin=$(realpath "$2") heap=${3:-}
work=$(mktemp -d)
mnt=$work/mnt cache=$work/cache
mkdir -p "$mnt"
servepid= mountpid= # running children, killed by PID on the way out
cleanup() {
	if mountpoint -q "$mnt"; then umount "$mnt"; fi
	for p in $mountpid $servepid; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status"; }

: >"$work/serve.out"
"$bin" serve --addr 127.0.0.1:0 "$origin" >"$work/serve.out" &
servepid=$!
until grep -q '^serving' "$work/serve.out"; do sleep 0.05; done
url=$(awk '{print $NF}' "$work/serve.out")
first=${FIRST:-d000/d000/f0000} # a file of the bigtree layout

mountonce() { # label [extra flags]
	local label=$1
	shift
	local t0 pid mounted statted hwm found fhwm frss
	t0=$(now)
	"$bin" mount --cache "$cache" "$@" "$url" "$mnt" >"$work/mount.out" 2>"$work/mount.err" &
	pid=$! mountpid=$!
	until grep -q '^mounted' "$work/mount.out"; do
		kill -0 "$pid" || { cat "$work/mount.err"; exit 1; }
		sleep 0.01
	done
	mounted=$(since "$t0")
	until stat "$mnt/$first" >/dev/null 2>&1; do sleep 0.01; done
	statted=$(since "$t0")
	hwm=$(kib VmHWM "$pid")
	if [ -n "$heap" ] && [ "$label" = cold ]; then
		curl -fsS -o "$heap" "http://127.0.0.1:6061/debug/pprof/heap"
	fi
	t0=$(now)
	found=$(find "$mnt" | wc -l)
	local took
	took=$(since "$t0")
	fhwm=$(kib VmHWM "$pid") frss=$(kib VmRSS "$pid")
	umount "$mnt"
	wait "$pid"
	mountpid=
	printf '%-5s mounted %6.2f s  stat %6.2f s  VmHWM %5d MiB | find: %d entries %6.2f s, VmHWM %5d MiB, VmRSS %5d MiB\n' \
		"$label" "$mounted" "$statted" $((hwm / 1024)) "$found" "$took" $((fhwm / 1024)) $((frss / 1024))
}

mountonce cold ${heap:+--debug-addr 127.0.0.1:6061}
mountonce warm
