#!/usr/bin/env bash
# CPU time per stored result at a fixed load: the A/B measure of BENCHMARKS.md.
# Runs the ceiling scenario at RATE probes/s (RATE monitors at 1 s), waits for
# the steady state, then reads /proc over SECONDS: the CPU time the whole
# machine and each of upwatch, PostgreSQL, Redis and the target spent, divided
# by the results stored meanwhile, in microseconds per result.
#
# Usage: scripts/cpu-per-result.sh [RATE] [SECONDS]     (defaults: 10000, 20)
# Needs what scripts/profile.sh needs, except perf and inferno.
set -euo pipefail

rate=${1:-10000}
seconds=${2:-20}
out="bench-results/cpu-$(date +%s)"
mkdir -p "$out"
window=$((seconds + 60))
# shellcheck source=scripts/steady-load.sh
source "$(dirname "$0")/steady-load.sh"

ticks=$(getconf CLK_TCK)
# Busy ticks of the whole machine: everything but idle and iowait.
machine() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# User + system ticks of the processes with these pids.
processes() {
    local total=0 pid
    for pid in "$@"; do
        # Fields after the command name, which may hold spaces: utime and stime are 14 and 15.
        local stat
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        read -r -a fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}
upwatch() { processes "$pid"; }
postgres() { mapfile -t pids < <(pgrep -x postgres); processes "${pids[@]}"; }
redis() { mapfile -t pids < <(pgrep -x redis-server); processes "${pids[@]}"; }
target() { mapfile -t pids < <(pgrep -f "upwatch-bench target"); processes "${pids[@]}"; }

parts=(machine upwatch postgres redis target)
declare -A start
for part in "${parts[@]}"; do start[$part]=$($part); done
stored_before=$(count)
sleep "$seconds"
stored=$(($(count) - stored_before))
{
    echo "rate $rate/s, $seconds s, $stored results stored ($((stored / seconds))/s)"
    echo "µs of CPU per stored result:"
    for part in "${parts[@]}"; do
        used=$(($($part) - start[$part]))
        awk -v part="$part" -v used="$used" -v ticks="$ticks" -v n="$stored" \
            'BEGIN { printf "  %-9s %6.1f\n", part, used / ticks * 1e6 / n }'
    done
} | tee "$out/cpu.txt"
kill "$bench" 2>/dev/null || true
wait "$bench" 2>/dev/null || true
trap - EXIT
