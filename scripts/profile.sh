#!/usr/bin/env bash
# Profiles upwatch under a steady load of RATE probes/s (RATE monitors at 1 s):
# how the machine's CPU splits between upwatch, PostgreSQL, Redis and the
# target (perf, system-wide), and a flamegraph of upwatch (perf with DWARF
# call graphs, folded and drawn by inferno: `cargo install inferno`).
#
# Usage: scripts/profile.sh [RATE] [SECONDS]     (defaults: 10000, 10)
# Needs: a release build (`cargo build --release --bins`), perf, psql, and
# PostgreSQL and Redis as for the benchmarks. Writes to bench-results/profile-<time>/.
set -euo pipefail

rate=${1:-10000}
seconds=${2:-10}
out="bench-results/profile-$(date +%s)"
mkdir -p "$out"
window=$((seconds * 2 + 60))  # room for both recordings after steady state
# shellcheck source=scripts/steady-load.sh
source "$(dirname "$0")/steady-load.sh"

echo "recording the machine for $seconds s..."
perf record -a -F 499 -o "$out/machine.data" -- sleep "$seconds" 2>/dev/null
perf report -i "$out/machine.data" --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]' >"$out/machine.txt"

echo "recording upwatch (pid $pid) for $seconds s..."
perf record -F 299 --call-graph dwarf,32768 -p "$pid" -o "$out/upwatch.data" -- sleep "$seconds" 2>/dev/null
perf script -i "$out/upwatch.data" 2>/dev/null | inferno-collapse-perf >"$out/upwatch.folded"
inferno-flamegraph --title "upwatch at $rate probes/s" <"$out/upwatch.folded" >"$out/upwatch.svg"
rm -f "$out/upwatch.data"

wait "$bench" || true
trap - EXIT
echo
echo "CPU of the whole machine by process (100% = both cores):"
head -8 "$out/machine.txt"
echo
grep "monitors at" "$out/ceiling.log" || true
echo "flamegraph: $out/upwatch.svg"
